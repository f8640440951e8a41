//! accounts 2.4.2: deposit, savings and prepaid payment accounts.

use aberta_runtime::connector::{ConnectorContext, ConnectorError, Page, PageRequest};
use ofb_accounts_v2::connector::*;
use ofb_accounts_v2::models::{
    AccountBalancesData, AccountData, AccountIdentificationData, AccountOverdraftLimitsData,
    AccountTransactionsData,
};

use crate::DemoBank;
use crate::access::{decode, decode_page, section};
use crate::seed::section as s;
use crate::seed::util::brl;
use crate::storage::EntryQuery;

const KIND: &str = "ACCOUNT";

impl DemoBank {
    async fn account_transactions(
        &self,
        ctx: &ConnectorContext,
        account_id: &str,
        days: Option<(i32, i32)>,
        direction: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<AccountTransactionsData>, ConnectorError> {
        self.owned_product(ctx, KIND, account_id).await?;
        let (items, total) = self
            .storage
            .entries(EntryQuery {
                product_id: account_id,
                section: s::TRANSACTIONS,
                parent_id: None,
                days,
                tag: direction,
                mcc: None,
                page,
            })
            .await?;
        decode_page(items, total)
    }
}

#[async_trait::async_trait]
impl AccountsConnector for DemoBank {
    async fn accounts_get_accounts(
        &self,
        ctx: &ConnectorContext,
        input: AccountsGetAccountsInput,
    ) -> Result<Page<AccountData>, ConnectorError> {
        let account_type = input.account_type.as_ref().map(|t| t.0.as_str());
        let (items, total) = self
            .product_list(ctx, KIND, account_type, input.page)
            .await?;
        decode_page(items, total)
    }

    async fn accounts_get_accounts_account_id(
        &self,
        ctx: &ConnectorContext,
        input: AccountsGetAccountsAccountIdInput,
    ) -> Result<AccountIdentificationData, ConnectorError> {
        let body = self.owned_product(ctx, KIND, &input.account_id.0).await?;
        decode(section(&body, s::DETAIL)?)
    }

    async fn accounts_get_accounts_account_id_balances(
        &self,
        ctx: &ConnectorContext,
        input: AccountsGetAccountsAccountIdBalancesInput,
    ) -> Result<AccountBalancesData, ConnectorError> {
        let body = self.owned_product(ctx, KIND, &input.account_id.0).await?;
        let mut balances = section(&body, s::BALANCES)?;
        // The available amount is the live one Pix settlements debit.
        if let Some(cents) = self.storage.available_cents(&input.account_id.0).await? {
            balances["availableAmount"]["amount"] = brl(cents).into();
        }
        decode(balances)
    }

    async fn accounts_get_accounts_account_id_transactions(
        &self,
        ctx: &ConnectorContext,
        input: AccountsGetAccountsAccountIdTransactionsInput,
    ) -> Result<Page<AccountTransactionsData>, ConnectorError> {
        let days = super::window(
            input.from_booking_date.as_ref().map(|d| d.0.as_str()),
            input.to_booking_date.as_ref().map(|d| d.0.as_str()),
            true,
        )?;
        let direction = input.credit_debit_indicator.as_ref().map(|d| d.0.as_str());
        self.account_transactions(ctx, &input.account_id.0, days, direction, input.page)
            .await
    }

    async fn accounts_get_accounts_account_id_transactions_current(
        &self,
        ctx: &ConnectorContext,
        input: AccountsGetAccountsAccountIdTransactionsCurrentInput,
    ) -> Result<Page<AccountTransactionsData>, ConnectorError> {
        let days = super::current_window(
            input.from_booking_date.as_ref().map(|d| d.0.as_str()),
            input.to_booking_date.as_ref().map(|d| d.0.as_str()),
        )?;
        let direction = input.credit_debit_indicator.as_ref().map(|d| d.0.as_str());
        self.account_transactions(ctx, &input.account_id.0, days, direction, input.page)
            .await
    }

    async fn accounts_get_accounts_account_id_overdraft_limits(
        &self,
        ctx: &ConnectorContext,
        input: AccountsGetAccountsAccountIdOverdraftLimitsInput,
    ) -> Result<AccountOverdraftLimitsData, ConnectorError> {
        let body = self.owned_product(ctx, KIND, &input.account_id.0).await?;
        decode(section(&body, s::OVERDRAFT_LIMITS)?)
    }
}
