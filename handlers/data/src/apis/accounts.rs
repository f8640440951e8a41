//! accounts 2.4.2: accounts the consent shares, their identification, balances, limits and
//! transactions.

use std::sync::Arc;

use aberta_runtime::RequestContext;
use aberta_runtime::payload::Json;
use async_trait::async_trait;
use ofb_accounts_v2::connector::*;
use ofb_accounts_v2::models::*;
use ofb_accounts_v2::params::{FromBookingDate, ToBookingDate};
use ofb_accounts_v2::server::*;

use super::{answer, fetch_all, refuse};
use crate::dates::{self, Window};
use crate::endpoints::{self as ep, resource_type::ACCOUNT};
use crate::guard::ResourceGuard;
use crate::pagination::{self, FromLinks, LinkBase};

pub struct AccountsService {
    guard: Arc<ResourceGuard>,
    bank: Arc<dyn AccountsConnector>,
}

impl AccountsService {
    pub fn new(guard: Arc<ResourceGuard>, bank: Arc<dyn AccountsConnector>) -> Self {
        Self { guard, bank }
    }

    fn single_links(&self, ctx: &RequestContext, path: &str) -> Links {
        let self_ = LinkBase {
            base_path: BASE_PATH,
            path,
            query: &[],
        }
        .self_link(ctx);
        Links {
            self_,
            first: None,
            prev: None,
            next: None,
            last: None,
        }
    }
}

/// The checked booking period, sent to the bank with both ends filled in.
fn booking_period(
    from: &Option<FromBookingDate>,
    to: &Option<ToBookingDate>,
    window: Window,
) -> Result<(FromBookingDate, ToBookingDate), crate::refusal::Refusal> {
    let (from, to) = dates::period(
        from.as_ref().map(|d| d.0.as_str()),
        to.as_ref().map(|d| d.0.as_str()),
        ("fromBookingDate", "toBookingDate"),
        window,
        dates::today(),
    )?;
    Ok((
        FromBookingDate(from.format("%Y-%m-%d").to_string()),
        ToBookingDate(to.format("%Y-%m-%d").to_string()),
    ))
}

#[async_trait]
impl AccountsApi for AccountsService {
    async fn accounts_get_accounts(
        &self,
        ctx: RequestContext,
        request: AccountsGetAccountsRequest,
    ) -> AccountsGetAccountsResponse {
        let page = refuse!(pagination::page_request(
            request.page.map(|p| p.0),
            request.page_size.map(|p| p.0)
        ));
        let recall = request.pagination_key.as_ref().map(|k| k.0.as_str());
        let access = refuse!(self.guard.check(&ctx, &ep::ACCOUNTS, None, recall).await);
        let account_type = request.account_type.clone();
        let outcome = fetch_all(|page| {
            self.bank.accounts_get_accounts(
                &access.connector,
                AccountsGetAccountsInput {
                    account_type: account_type.clone(),
                    pagination_key: None,
                    page,
                },
            )
        })
        .await;
        let mut items = refuse!(answer(&self.guard, &access, outcome).await);
        items.retain(|a| access.consent.is_available(ACCOUNT, &a.account_id));
        let total = items.len() as u64;
        let query = [
            ("accountType", request.account_type.map(|t| t.0)),
            ("pagination-key", access.pagination_key.clone()),
        ];
        let links = LinkBase {
            base_path: BASE_PATH,
            path: "/accounts",
            query: &query,
        }
        .links(&ctx, page, total);
        AccountsGetAccountsResponse::Ok(
            Json(ResponseAccountList {
                data: pagination::slice(items, page),
                links,
                meta: pagination::meta(total, page.page_size),
            }),
            None,
        )
    }

    async fn accounts_get_accounts_account_id(
        &self,
        ctx: RequestContext,
        request: AccountsGetAccountsAccountIdRequest,
    ) -> AccountsGetAccountsAccountIdResponse {
        let id = request.account_id;
        let access = refuse!(
            self.guard
                .check(&ctx, &ep::ACCOUNT, Some(&id.0), None)
                .await
        );
        let path = format!("/accounts/{}", id.0);
        let outcome = self
            .bank
            .accounts_get_accounts_account_id(
                &access.connector,
                AccountsGetAccountsAccountIdInput { account_id: id },
            )
            .await;
        let data = refuse!(answer(&self.guard, &access, outcome).await);
        AccountsGetAccountsAccountIdResponse::Ok(
            Json(ResponseAccountIdentification {
                data,
                links: self.single_links(&ctx, &path),
                meta: pagination::meta_one(),
            }),
            None,
        )
    }

    async fn accounts_get_accounts_account_id_balances(
        &self,
        ctx: RequestContext,
        request: AccountsGetAccountsAccountIdBalancesRequest,
    ) -> AccountsGetAccountsAccountIdBalancesResponse {
        let id = request.account_id;
        let access = refuse!(
            self.guard
                .check(&ctx, &ep::ACCOUNT_BALANCES, Some(&id.0), None)
                .await
        );
        let path = format!("/accounts/{}/balances", id.0);
        let outcome = self
            .bank
            .accounts_get_accounts_account_id_balances(
                &access.connector,
                AccountsGetAccountsAccountIdBalancesInput { account_id: id },
            )
            .await;
        let data = refuse!(answer(&self.guard, &access, outcome).await);
        AccountsGetAccountsAccountIdBalancesResponse::Ok(
            Json(ResponseAccountBalances {
                data,
                links: self.single_links(&ctx, &path),
                meta: pagination::meta_one(),
            }),
            None,
        )
    }

    async fn accounts_get_accounts_account_id_transactions(
        &self,
        ctx: RequestContext,
        request: AccountsGetAccountsAccountIdTransactionsRequest,
    ) -> AccountsGetAccountsAccountIdTransactionsResponse {
        let page = refuse!(pagination::page_request(
            request.page.map(|p| p.0),
            request.page_size.map(|p| p.0)
        ));
        let (from, to) = refuse!(booking_period(
            &request.from_booking_date,
            &request.to_booking_date,
            Window::Year
        ));
        let id = request.account_id;
        let recall = request.pagination_key.as_ref().map(|k| k.0.as_str());
        let access = refuse!(
            self.guard
                .check(&ctx, &ep::ACCOUNT_TRANSACTIONS, Some(&id.0), recall)
                .await
        );
        let path = format!("/accounts/{}/transactions", id.0);
        let query = [
            ("fromBookingDate", request.from_booking_date.map(|d| d.0)),
            ("toBookingDate", request.to_booking_date.map(|d| d.0)),
            (
                "creditDebitIndicator",
                request.credit_debit_indicator.as_ref().map(|c| c.0.clone()),
            ),
            ("pagination-key", access.pagination_key.clone()),
        ];
        let outcome = self
            .bank
            .accounts_get_accounts_account_id_transactions(
                &access.connector,
                AccountsGetAccountsAccountIdTransactionsInput {
                    account_id: id,
                    from_booking_date: Some(from),
                    to_booking_date: Some(to),
                    credit_debit_indicator: request.credit_debit_indicator,
                    pagination_key: request.pagination_key,
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
        AccountsGetAccountsAccountIdTransactionsResponse::Ok(
            Json(ResponseAccountTransactions {
                data: got.items,
                links: TransactionsLinks::from_links(links),
                meta: pagination::meta_single(),
            }),
            None,
        )
    }

    async fn accounts_get_accounts_account_id_transactions_current(
        &self,
        ctx: RequestContext,
        request: AccountsGetAccountsAccountIdTransactionsCurrentRequest,
    ) -> AccountsGetAccountsAccountIdTransactionsCurrentResponse {
        let page = refuse!(pagination::page_request(
            request.page.map(|p| p.0),
            request.page_size.map(|p| p.0)
        ));
        let (from, to) = refuse!(booking_period(
            &request.from_booking_date,
            &request.to_booking_date,
            Window::Week
        ));
        let id = request.account_id;
        let recall = request.pagination_key.as_ref().map(|k| k.0.as_str());
        let access = refuse!(
            self.guard
                .check(&ctx, &ep::ACCOUNT_TRANSACTIONS_CURRENT, Some(&id.0), recall)
                .await
        );
        let path = format!("/accounts/{}/transactions-current", id.0);
        let query = [
            ("fromBookingDate", request.from_booking_date.map(|d| d.0)),
            ("toBookingDate", request.to_booking_date.map(|d| d.0)),
            (
                "creditDebitIndicator",
                request.credit_debit_indicator.as_ref().map(|c| c.0.clone()),
            ),
            ("pagination-key", access.pagination_key.clone()),
        ];
        let outcome = self
            .bank
            .accounts_get_accounts_account_id_transactions_current(
                &access.connector,
                AccountsGetAccountsAccountIdTransactionsCurrentInput {
                    account_id: id,
                    from_booking_date: Some(from),
                    to_booking_date: Some(to),
                    credit_debit_indicator: request.credit_debit_indicator,
                    pagination_key: request.pagination_key,
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
        AccountsGetAccountsAccountIdTransactionsCurrentResponse::Ok(
            Json(ResponseAccountTransactions {
                data: got.items,
                links: TransactionsLinks::from_links(links),
                meta: pagination::meta_single(),
            }),
            None,
        )
    }

    async fn accounts_get_accounts_account_id_overdraft_limits(
        &self,
        ctx: RequestContext,
        request: AccountsGetAccountsAccountIdOverdraftLimitsRequest,
    ) -> AccountsGetAccountsAccountIdOverdraftLimitsResponse {
        let id = request.account_id;
        let access = refuse!(
            self.guard
                .check(&ctx, &ep::ACCOUNT_OVERDRAFT_LIMITS, Some(&id.0), None)
                .await
        );
        let path = format!("/accounts/{}/overdraft-limits", id.0);
        let outcome = self
            .bank
            .accounts_get_accounts_account_id_overdraft_limits(
                &access.connector,
                AccountsGetAccountsAccountIdOverdraftLimitsInput { account_id: id },
            )
            .await;
        let data = refuse!(answer(&self.guard, &access, outcome).await);
        AccountsGetAccountsAccountIdOverdraftLimitsResponse::Ok(
            Json(ResponseAccountOverdraftLimits {
                data,
                links: self.single_links(&ctx, &path),
                meta: pagination::meta_one(),
            }),
            None,
        )
    }
}
