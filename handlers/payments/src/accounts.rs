//! Which of a customer's accounts a Pix payment may debit, and who must approve it. The
//! consent portal offers the accounts when a payment consent names no debtor account, and a
//! named one must be among them.
//!
//! Discovery goes through the bank's generated accounts connector
//! ([`AccountsConnector::accounts_get_accounts`], the same seam the accounts API reads): a bank
//! implements it once for both. [`ApprovalRules`] is the bank's say on multiple approvers
//! (PARTIALLY_ACCEPTED), which no spec operation carries.

use std::sync::Arc;

use aberta_runtime::connector::{ConnectorContext, ConnectorError, PageRequest};
use ofb_accounts_v2::connector::{AccountsConnector, AccountsGetAccountsInput};
use ofb_accounts_v2::models::{AccountData, EnumAccountType};
use ofb_payments_v4::models::{DebtorAccount, EnumAccountPaymentsType};
use serde_json::Value;

/// An account the customer may debit, with what the portal shows of it.
#[derive(Debug, Clone, PartialEq)]
pub struct PayingAccount {
    /// The account as payments 4.0.0 names it (`ispb`, `issuer`, `number`, `accountType`).
    pub account: DebtorAccount,
    /// A short label for the consent screen (product name and the last digits), never the
    /// full number.
    pub label: String,
}

/// The portal's question: "which accounts may this customer pay from".
#[async_trait::async_trait]
pub trait PaymentAccounts: Send + Sync + 'static {
    /// The accounts of the customer `ctx` names (the business for a business consent) that
    /// can send a Pix payment now. Empty when there are none.
    async fn paying_accounts(
        &self,
        ctx: &ConnectorContext,
    ) -> Result<Vec<PayingAccount>, ConnectorError>;
}

/// The bank's approval rules for payments (alçadas).
#[async_trait::async_trait]
pub trait ApprovalRules: Send + Sync + 'static {
    /// How many different people must approve the payment consent `consent` (its `data` as
    /// the API shows it, the debtor account included) for the customer `ctx` names; 1 when
    /// the one at the portal suffices.
    async fn approvals_needed(
        &self,
        ctx: &ConnectorContext,
        consent: &Value,
    ) -> Result<u32, ConnectorError>;

    /// Whether the person with `approver_cpf` (authenticated by the bank's own channel) may
    /// approve payments for the customer `ctx` names.
    async fn may_approve(
        &self,
        ctx: &ConnectorContext,
        approver_cpf: &str,
    ) -> Result<bool, ConnectorError>;
}

/// One approver for everything: the rules of a bank without multiple approvals.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleApprover;

#[async_trait::async_trait]
impl ApprovalRules for SingleApprover {
    async fn approvals_needed(
        &self,
        _: &ConnectorContext,
        _: &Value,
    ) -> Result<u32, ConnectorError> {
        Ok(1)
    }

    async fn may_approve(&self, _: &ConnectorContext, _: &str) -> Result<bool, ConnectorError> {
        Ok(false)
    }
}

/// [`PaymentAccounts`] through the bank's accounts connector: the customer's deposit, savings
/// and prepaid accounts, named with the institution's ISPB.
pub struct AccountsApiDiscovery {
    accounts: Arc<dyn AccountsConnector>,
    ispb: String,
}

impl AccountsApiDiscovery {
    /// The largest page the accounts API allows; one page covers any real customer.
    const PAGE_SIZE: u32 = 1000;

    pub fn new(accounts: Arc<dyn AccountsConnector>, ispb: impl Into<String>) -> Self {
        Self {
            accounts,
            ispb: ispb.into(),
        }
    }

    fn paying(&self, account: AccountData) -> PayingAccount {
        let (kind, product) = match account.type_ {
            EnumAccountType::ContaDepositoAVista => {
                (EnumAccountPaymentsType::Cacc, "Conta corrente")
            }
            EnumAccountType::ContaPoupanca => (EnumAccountPaymentsType::Svgs, "Poupança"),
            EnumAccountType::ContaPagamentoPrePaga => {
                (EnumAccountPaymentsType::Tran, "Conta de pagamento")
            }
        };
        let number = account.number;
        let label = format!(
            "{product} final {}",
            &number[number.len().saturating_sub(4)..]
        );
        PayingAccount {
            account: DebtorAccount {
                ispb: self.ispb.clone(),
                issuer: account.branch_code,
                number: format!("{number}{}", account.check_digit),
                account_type: kind,
            },
            label,
        }
    }
}

#[async_trait::async_trait]
impl PaymentAccounts for AccountsApiDiscovery {
    async fn paying_accounts(
        &self,
        ctx: &ConnectorContext,
    ) -> Result<Vec<PayingAccount>, ConnectorError> {
        let mut found = Vec::new();
        let mut page = 1;
        loop {
            let batch = self
                .accounts
                .accounts_get_accounts(
                    ctx,
                    AccountsGetAccountsInput {
                        account_type: None,
                        pagination_key: None,
                        page: PageRequest {
                            page,
                            page_size: Self::PAGE_SIZE,
                        },
                    },
                )
                .await?;
            let fetched = u64::try_from(batch.items.len()).unwrap_or(u64::MAX);
            found.extend(batch.items.into_iter().map(|a| self.paying(a)));
            let seen = u64::from(page - 1) * u64::from(Self::PAGE_SIZE) + fetched;
            if fetched == 0 || seen >= batch.total_records {
                return Ok(found);
            }
            page += 1;
        }
    }
}
