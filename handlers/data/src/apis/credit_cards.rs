//! credit-cards 2.3.1: post-paid accounts the consent shares, their identification, limits,
//! bills and transactions.

use std::sync::Arc;

use aberta_runtime::RequestContext;
use aberta_runtime::payload::Json;
use async_trait::async_trait;
use ofb_credit_cards_v2::connector::*;
use ofb_credit_cards_v2::models::*;
use ofb_credit_cards_v2::params::{FromTransactionDate, ToTransactionDate};
use ofb_credit_cards_v2::server::*;

use super::{answer, fetch_all, refuse};
use crate::dates::{self, Window};
use crate::endpoints::{self as ep, resource_type::CREDIT_CARD_ACCOUNT};
use crate::guard::ResourceGuard;
use crate::pagination::{self, FromLinks, LinkBase};
use crate::refusal::Refusal;

pub struct CreditCardsService {
    guard: Arc<ResourceGuard>,
    bank: Arc<dyn CreditCardsConnector>,
}

impl CreditCardsService {
    pub fn new(guard: Arc<ResourceGuard>, bank: Arc<dyn CreditCardsConnector>) -> Self {
        Self { guard, bank }
    }
}

const TRANSACTION_DATES: (&str, &str) = ("fromTransactionDate", "toTransactionDate");

/// The checked transaction period, both ends filled in for the bank.
fn transaction_period(
    from: &Option<FromTransactionDate>,
    to: &Option<ToTransactionDate>,
    window: Window,
) -> Result<(FromTransactionDate, ToTransactionDate), Refusal> {
    let (from, to) = dates::period(
        from.as_ref().map(|d| d.0.as_str()),
        to.as_ref().map(|d| d.0.as_str()),
        TRANSACTION_DATES,
        window,
        dates::today(),
    )?;
    Ok((
        FromTransactionDate(from.format("%Y-%m-%d").to_string()),
        ToTransactionDate(to.format("%Y-%m-%d").to_string()),
    ))
}

/// Optional filters checked only for order: absent stays absent.
fn optional_order(
    from: Option<&str>,
    to: Option<&str>,
    names: (&str, &str),
) -> Result<(), Refusal> {
    match (from, to) {
        (None, None) => Ok(()),
        (Some(_), Some(_)) => {
            dates::period(from, to, names, Window::Any, dates::today()).map(|_| ())
        }
        (Some(from), None) => {
            dates::period(Some(from), Some(from), names, Window::Any, dates::today()).map(|_| ())
        }
        (None, Some(to)) => {
            dates::period(Some(to), Some(to), names, Window::Any, dates::today()).map(|_| ())
        }
    }
}

fn transaction_query(
    from: &Option<FromTransactionDate>,
    to: &Option<ToTransactionDate>,
    transaction_type: &Option<ofb_credit_cards_v2::params::TransactionType>,
    payee_mcc: &Option<ofb_credit_cards_v2::params::PayeeMcc>,
    pagination_key: &Option<String>,
) -> [(&'static str, Option<String>); 5] {
    [
        ("fromTransactionDate", from.as_ref().map(|d| d.0.clone())),
        ("toTransactionDate", to.as_ref().map(|d| d.0.clone())),
        (
            "transactionType",
            transaction_type.as_ref().map(|t| t.0.clone()),
        ),
        ("payeeMCC", payee_mcc.as_ref().map(|m| m.0.to_string())),
        ("pagination-key", pagination_key.clone()),
    ]
}

fn single_links(ctx: &RequestContext, path: &str) -> Links {
    Links {
        self_: LinkBase {
            base_path: BASE_PATH,
            path,
            query: &[],
        }
        .self_link(ctx),
        first: None,
        prev: None,
        next: None,
        last: None,
    }
}

#[async_trait]
impl CreditCardsApi for CreditCardsService {
    async fn credit_cards_get_accounts(
        &self,
        ctx: RequestContext,
        request: CreditCardsGetAccountsRequest,
    ) -> CreditCardsGetAccountsResponse {
        let page = refuse!(pagination::page_request(
            request.page.map(|p| p.0),
            request.page_size.map(|p| p.0)
        ));
        let recall = request.pagination_key.as_ref().map(|k| k.0.as_str());
        let access = refuse!(
            self.guard
                .check(&ctx, &ep::CREDIT_CARDS, None, recall)
                .await
        );
        let outcome = fetch_all(|page| {
            self.bank.credit_cards_get_accounts(
                &access.connector,
                CreditCardsGetAccountsInput {
                    pagination_key: None,
                    page,
                },
            )
        })
        .await;
        let mut items = refuse!(answer(&self.guard, &access, outcome).await);
        items.retain(|a| {
            access
                .consent
                .is_available(CREDIT_CARD_ACCOUNT, &a.credit_card_account_id)
        });
        let total = items.len() as u64;
        let query = [("pagination-key", access.pagination_key.clone())];
        let links = LinkBase {
            base_path: BASE_PATH,
            path: "/accounts",
            query: &query,
        }
        .links(&ctx, page, total);
        CreditCardsGetAccountsResponse::Ok(
            Json(ResponseCreditCardAccountsList {
                data: pagination::slice(items, page),
                links: Links::from_links(links),
                meta: pagination::meta(total, page.page_size),
            }),
            None,
        )
    }

    async fn credit_cards_get_accounts_credit_card_account_id(
        &self,
        ctx: RequestContext,
        request: CreditCardsGetAccountsCreditCardAccountIdRequest,
    ) -> CreditCardsGetAccountsCreditCardAccountIdResponse {
        let id = request.credit_card_account_id;
        let access = refuse!(
            self.guard
                .check(&ctx, &ep::CREDIT_CARD, Some(&id.0), None)
                .await
        );
        let path = format!("/accounts/{}", id.0);
        let outcome = self
            .bank
            .credit_cards_get_accounts_credit_card_account_id(
                &access.connector,
                CreditCardsGetAccountsCreditCardAccountIdInput {
                    credit_card_account_id: id,
                },
            )
            .await;
        let data = refuse!(answer(&self.guard, &access, outcome).await);
        CreditCardsGetAccountsCreditCardAccountIdResponse::Ok(
            Json(ResponseCreditCardAccountsIdentification {
                data,
                links: single_links(&ctx, &path),
                meta: pagination::meta_one(),
            }),
            None,
        )
    }

    async fn credit_cards_get_accounts_credit_card_account_id_bills(
        &self,
        ctx: RequestContext,
        request: CreditCardsGetAccountsCreditCardAccountIdBillsRequest,
    ) -> CreditCardsGetAccountsCreditCardAccountIdBillsResponse {
        let page = refuse!(pagination::page_request(
            request.page.map(|p| p.0),
            request.page_size.map(|p| p.0)
        ));
        refuse!(optional_order(
            request.from_due_date.as_ref().map(|d| d.0.as_str()),
            request.to_due_date.as_ref().map(|d| d.0.as_str()),
            ("fromDueDate", "toDueDate"),
        ));
        let id = request.credit_card_account_id;
        let recall = request.pagination_key.as_ref().map(|k| k.0.as_str());
        let access = refuse!(
            self.guard
                .check(&ctx, &ep::CREDIT_CARD_BILLS, Some(&id.0), recall)
                .await
        );
        let path = format!("/accounts/{}/bills", id.0);
        let query = [
            (
                "fromDueDate",
                request.from_due_date.as_ref().map(|d| d.0.clone()),
            ),
            (
                "toDueDate",
                request.to_due_date.as_ref().map(|d| d.0.clone()),
            ),
            ("pagination-key", access.pagination_key.clone()),
        ];
        let outcome = self
            .bank
            .credit_cards_get_accounts_credit_card_account_id_bills(
                &access.connector,
                CreditCardsGetAccountsCreditCardAccountIdBillsInput {
                    credit_card_account_id: id,
                    pagination_key: request.pagination_key,
                    from_due_date: request.from_due_date,
                    to_due_date: request.to_due_date,
                    page,
                },
            )
            .await;
        let got = refuse!(answer(&self.guard, &access, outcome).await);
        let links = LinkBase {
            base_path: BASE_PATH,
            path: &path,
            query: &query,
        }
        .links(&ctx, page, got.total_records);
        CreditCardsGetAccountsCreditCardAccountIdBillsResponse::Ok(
            Json(ResponseCreditCardAccountsBills {
                data: got.items,
                links: Links::from_links(links),
                meta: pagination::meta(got.total_records, page.page_size),
            }),
            None,
        )
    }

    async fn credit_cards_get_accounts_credit_card_account_id_bills_bill_id_transactions(
        &self,
        ctx: RequestContext,
        request: CreditCardsGetAccountsCreditCardAccountIdBillsBillIdTransactionsRequest,
    ) -> CreditCardsGetAccountsCreditCardAccountIdBillsBillIdTransactionsResponse {
        let page = refuse!(pagination::page_request(
            request.page.map(|p| p.0),
            request.page_size.map(|p| p.0)
        ));
        refuse!(optional_order(
            request.from_transaction_date.as_ref().map(|d| d.0.as_str()),
            request.to_transaction_date.as_ref().map(|d| d.0.as_str()),
            TRANSACTION_DATES,
        ));
        let id = request.credit_card_account_id;
        let recall = request.pagination_key.as_ref().map(|k| k.0.as_str());
        let access = refuse!(
            self.guard
                .check(
                    &ctx,
                    &ep::CREDIT_CARD_BILL_TRANSACTIONS,
                    Some(&id.0),
                    recall
                )
                .await
        );
        let path = format!(
            "/accounts/{}/bills/{}/transactions",
            id.0, request.bill_id.0
        );
        let query = transaction_query(
            &request.from_transaction_date,
            &request.to_transaction_date,
            &request.transaction_type,
            &request.payee_mcc,
            &access.pagination_key,
        );
        let outcome = self
            .bank
            .credit_cards_get_accounts_credit_card_account_id_bills_bill_id_transactions(
                &access.connector,
                CreditCardsGetAccountsCreditCardAccountIdBillsBillIdTransactionsInput {
                    credit_card_account_id: id,
                    bill_id: request.bill_id,
                    pagination_key: request.pagination_key,
                    from_transaction_date: request.from_transaction_date,
                    to_transaction_date: request.to_transaction_date,
                    transaction_type: request.transaction_type,
                    payee_mcc: request.payee_mcc,
                    page,
                },
            )
            .await;
        let got = refuse!(answer(&self.guard, &access, outcome).await);
        let links = LinkBase {
            base_path: BASE_PATH,
            path: &path,
            query: &query,
        }
        .links(&ctx, page, got.total_records);
        CreditCardsGetAccountsCreditCardAccountIdBillsBillIdTransactionsResponse::Ok(
            Json(
                CreditCardsGetAccountsCreditCardAccountIdBillsBillIdTransactionsResponse200 {
                    data: got.items,
                    links: Links::from_links(links),
                    meta: pagination::meta(got.total_records, page.page_size),
                },
            ),
            None,
        )
    }

    async fn credit_cards_get_accounts_credit_card_account_id_limits(
        &self,
        ctx: RequestContext,
        request: CreditCardsGetAccountsCreditCardAccountIdLimitsRequest,
    ) -> CreditCardsGetAccountsCreditCardAccountIdLimitsResponse {
        let id = request.credit_card_account_id;
        let access = refuse!(
            self.guard
                .check(&ctx, &ep::CREDIT_CARD_LIMITS, Some(&id.0), None)
                .await
        );
        let path = format!("/accounts/{}/limits", id.0);
        let outcome = self
            .bank
            .credit_cards_get_accounts_credit_card_account_id_limits(
                &access.connector,
                CreditCardsGetAccountsCreditCardAccountIdLimitsInput {
                    credit_card_account_id: id,
                },
            )
            .await;
        let data = refuse!(answer(&self.guard, &access, outcome).await);
        let total = data.len() as u64;
        CreditCardsGetAccountsCreditCardAccountIdLimitsResponse::Ok(
            Json(ResponseCreditCardAccountsLimits {
                data,
                links: single_links(&ctx, &path),
                meta: pagination::meta(total, total.max(1) as u32),
            }),
            None,
        )
    }

    async fn credit_cards_get_accounts_credit_card_account_id_transactions(
        &self,
        ctx: RequestContext,
        request: CreditCardsGetAccountsCreditCardAccountIdTransactionsRequest,
    ) -> CreditCardsGetAccountsCreditCardAccountIdTransactionsResponse {
        let page = refuse!(pagination::page_request(
            request.page.map(|p| p.0),
            request.page_size.map(|p| p.0)
        ));
        let (from, to) = refuse!(transaction_period(
            &request.from_transaction_date,
            &request.to_transaction_date,
            Window::Year
        ));
        let id = request.credit_card_account_id;
        let recall = request.pagination_key.as_ref().map(|k| k.0.as_str());
        let access = refuse!(
            self.guard
                .check(&ctx, &ep::CREDIT_CARD_TRANSACTIONS, Some(&id.0), recall)
                .await
        );
        let path = format!("/accounts/{}/transactions", id.0);
        let query = transaction_query(
            &request.from_transaction_date,
            &request.to_transaction_date,
            &request.transaction_type,
            &request.payee_mcc,
            &access.pagination_key,
        );
        let outcome = self
            .bank
            .credit_cards_get_accounts_credit_card_account_id_transactions(
                &access.connector,
                CreditCardsGetAccountsCreditCardAccountIdTransactionsInput {
                    credit_card_account_id: id,
                    pagination_key: request.pagination_key,
                    from_transaction_date: Some(from),
                    to_transaction_date: Some(to),
                    transaction_type: request.transaction_type,
                    payee_mcc: request.payee_mcc,
                    page,
                },
            )
            .await;
        let got = refuse!(answer(&self.guard, &access, outcome).await);
        let links = LinkBase {
            base_path: BASE_PATH,
            path: &path,
            query: &query,
        }
        .links(&ctx, page, got.total_records);
        CreditCardsGetAccountsCreditCardAccountIdTransactionsResponse::Ok(
            Json(ResponseCreditCardAccountsTransactions {
                data: got.items,
                links: TransactionsLinks::from_links(links),
                meta: pagination::meta_single(),
            }),
            None,
        )
    }

    async fn credit_cards_get_accounts_credit_card_account_id_transactions_current(
        &self,
        ctx: RequestContext,
        request: CreditCardsGetAccountsCreditCardAccountIdTransactionsCurrentRequest,
    ) -> CreditCardsGetAccountsCreditCardAccountIdTransactionsCurrentResponse {
        let page = refuse!(pagination::page_request(
            request.page.map(|p| p.0),
            request.page_size.map(|p| p.0)
        ));
        let (from, to) = refuse!(transaction_period(
            &request.from_transaction_date,
            &request.to_transaction_date,
            Window::Week
        ));
        let id = request.credit_card_account_id;
        let recall = request.pagination_key.as_ref().map(|k| k.0.as_str());
        let access = refuse!(
            self.guard
                .check(
                    &ctx,
                    &ep::CREDIT_CARD_TRANSACTIONS_CURRENT,
                    Some(&id.0),
                    recall
                )
                .await
        );
        let path = format!("/accounts/{}/transactions-current", id.0);
        let query = transaction_query(
            &request.from_transaction_date,
            &request.to_transaction_date,
            &request.transaction_type,
            &request.payee_mcc,
            &access.pagination_key,
        );
        let outcome = self
            .bank
            .credit_cards_get_accounts_credit_card_account_id_transactions_current(
                &access.connector,
                CreditCardsGetAccountsCreditCardAccountIdTransactionsCurrentInput {
                    credit_card_account_id: id,
                    pagination_key: request.pagination_key,
                    from_transaction_date: Some(from),
                    to_transaction_date: Some(to),
                    transaction_type: request.transaction_type,
                    payee_mcc: request.payee_mcc,
                    page,
                },
            )
            .await;
        let got = refuse!(answer(&self.guard, &access, outcome).await);
        let links = LinkBase {
            base_path: BASE_PATH,
            path: &path,
            query: &query,
        }
        .links(&ctx, page, got.total_records);
        CreditCardsGetAccountsCreditCardAccountIdTransactionsCurrentResponse::Ok(
            Json(ResponseCreditCardAccountsTransactions {
                data: got.items,
                links: TransactionsLinks::from_links(links),
                meta: pagination::meta_single(),
            }),
            None,
        )
    }
}
