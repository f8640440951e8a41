//! credit-cards 2.3.1: card accounts, closed bills, transactions and limits.

use aberta_runtime::connector::{ConnectorContext, ConnectorError, Page};
use ofb_credit_cards_v2::connector::*;
use ofb_credit_cards_v2::models::{
    CreditCardAccountsBillsData, CreditCardAccountsBillsTransactions, CreditCardAccountsData,
    CreditCardAccountsLimitsData, CreditCardAccountsTransaction,
    CreditCardsAccountsIdentificationData,
};
use serde::de::DeserializeOwned;

use crate::DemoBank;
use crate::access::{decode, decode_page, section};
use crate::seed::section as s;
use crate::storage::EntryQuery;

const KIND: &str = "CREDIT_CARD_ACCOUNT";

/// The filters every card-transaction listing carries.
struct TransactionFilter<'a> {
    card_id: &'a str,
    bill_id: Option<&'a str>,
    days: Option<(i32, i32)>,
    kind: Option<&'a str>,
    mcc: Option<f64>,
    page: aberta_runtime::connector::PageRequest,
}

impl DemoBank {
    async fn card_transactions<T: DeserializeOwned>(
        &self,
        ctx: &ConnectorContext,
        filter: TransactionFilter<'_>,
    ) -> Result<Page<T>, ConnectorError> {
        self.owned_product(ctx, KIND, filter.card_id).await?;
        if let Some(bill_id) = filter.bill_id {
            self.card_bill_exists(filter.card_id, bill_id).await?;
        }
        // An MCC with a fraction matches nothing.
        let mcc = match filter.mcc {
            Some(m) if m.fract() != 0.0 => {
                return Ok(Page {
                    items: vec![],
                    total_records: 0,
                });
            }
            Some(m) => Some(m as i64),
            None => None,
        };
        let (items, total) = self
            .storage
            .entries(EntryQuery {
                product_id: filter.card_id,
                section: s::TRANSACTIONS,
                parent_id: filter.bill_id,
                days: filter.days,
                tag: filter.kind,
                mcc,
                page: filter.page,
            })
            .await?;
        decode_page(items, total)
    }

    /// `NotFound` unless `bill_id` is a bill of this card.
    async fn card_bill_exists(&self, card_id: &str, bill_id: &str) -> Result<(), ConnectorError> {
        let (bills, _) = self
            .storage
            .entries(EntryQuery {
                product_id: card_id,
                section: s::BILLS,
                parent_id: None,
                days: None,
                tag: None,
                mcc: None,
                page: aberta_runtime::connector::PageRequest {
                    page: 1,
                    page_size: 1000,
                },
            })
            .await?;
        if bills.iter().any(|b| b["billId"] == bill_id) {
            Ok(())
        } else {
            Err(ConnectorError::NotFound)
        }
    }
}

#[async_trait::async_trait]
impl CreditCardsConnector for DemoBank {
    async fn credit_cards_get_accounts(
        &self,
        ctx: &ConnectorContext,
        input: CreditCardsGetAccountsInput,
    ) -> Result<Page<CreditCardAccountsData>, ConnectorError> {
        let (items, total) = self.product_list(ctx, KIND, None, input.page).await?;
        decode_page(items, total)
    }

    async fn credit_cards_get_accounts_credit_card_account_id(
        &self,
        ctx: &ConnectorContext,
        input: CreditCardsGetAccountsCreditCardAccountIdInput,
    ) -> Result<CreditCardsAccountsIdentificationData, ConnectorError> {
        let body = self
            .owned_product(ctx, KIND, &input.credit_card_account_id.0)
            .await?;
        decode(section(&body, s::DETAIL)?)
    }

    async fn credit_cards_get_accounts_credit_card_account_id_bills(
        &self,
        ctx: &ConnectorContext,
        input: CreditCardsGetAccountsCreditCardAccountIdBillsInput,
    ) -> Result<Page<CreditCardAccountsBillsData>, ConnectorError> {
        let card_id = input.credit_card_account_id.0.as_str();
        self.owned_product(ctx, KIND, card_id).await?;
        // Due-date filters have no default: without them, every closed bill.
        let days = super::window(
            input.from_due_date.as_ref().map(|d| d.0.as_str()),
            input.to_due_date.as_ref().map(|d| d.0.as_str()),
            false,
        )?;
        let (items, total) = self
            .storage
            .entries(EntryQuery {
                product_id: card_id,
                section: s::BILLS,
                parent_id: None,
                days,
                tag: None,
                mcc: None,
                page: input.page,
            })
            .await?;
        decode_page(items, total)
    }

    async fn credit_cards_get_accounts_credit_card_account_id_bills_bill_id_transactions(
        &self,
        ctx: &ConnectorContext,
        input: CreditCardsGetAccountsCreditCardAccountIdBillsBillIdTransactionsInput,
    ) -> Result<Page<CreditCardAccountsBillsTransactions>, ConnectorError> {
        let days = super::window(
            input.from_transaction_date.as_ref().map(|d| d.0.as_str()),
            input.to_transaction_date.as_ref().map(|d| d.0.as_str()),
            false,
        )?;
        self.card_transactions(
            ctx,
            TransactionFilter {
                card_id: &input.credit_card_account_id.0,
                bill_id: Some(&input.bill_id.0),
                days,
                kind: input.transaction_type.as_ref().map(|t| t.0.as_str()),
                mcc: input.payee_mcc.as_ref().map(|m| m.0),
                page: input.page,
            },
        )
        .await
    }

    async fn credit_cards_get_accounts_credit_card_account_id_limits(
        &self,
        ctx: &ConnectorContext,
        input: CreditCardsGetAccountsCreditCardAccountIdLimitsInput,
    ) -> Result<Vec<CreditCardAccountsLimitsData>, ConnectorError> {
        let body = self
            .owned_product(ctx, KIND, &input.credit_card_account_id.0)
            .await?;
        decode(section(&body, s::LIMITS)?)
    }

    async fn credit_cards_get_accounts_credit_card_account_id_transactions(
        &self,
        ctx: &ConnectorContext,
        input: CreditCardsGetAccountsCreditCardAccountIdTransactionsInput,
    ) -> Result<Page<CreditCardAccountsTransaction>, ConnectorError> {
        let days = super::window(
            input.from_transaction_date.as_ref().map(|d| d.0.as_str()),
            input.to_transaction_date.as_ref().map(|d| d.0.as_str()),
            true,
        )?;
        self.card_transactions(
            ctx,
            TransactionFilter {
                card_id: &input.credit_card_account_id.0,
                bill_id: None,
                days,
                kind: input.transaction_type.as_ref().map(|t| t.0.as_str()),
                mcc: input.payee_mcc.as_ref().map(|m| m.0),
                page: input.page,
            },
        )
        .await
    }

    async fn credit_cards_get_accounts_credit_card_account_id_transactions_current(
        &self,
        ctx: &ConnectorContext,
        input: CreditCardsGetAccountsCreditCardAccountIdTransactionsCurrentInput,
    ) -> Result<Page<CreditCardAccountsTransaction>, ConnectorError> {
        let days = super::current_window(
            input.from_transaction_date.as_ref().map(|d| d.0.as_str()),
            input.to_transaction_date.as_ref().map(|d| d.0.as_str()),
        )?;
        self.card_transactions(
            ctx,
            TransactionFilter {
                card_id: &input.credit_card_account_id.0,
                bill_id: None,
                days,
                kind: input.transaction_type.as_ref().map(|t| t.0.as_str()),
                mcc: input.payee_mcc.as_ref().map(|m| m.0),
                page: input.page,
            },
        )
        .await
    }
}
