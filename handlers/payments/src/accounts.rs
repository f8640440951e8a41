//! Which of a customer's accounts a Pix payment may debit. The consent portal offers these
//! when a payment consent names no debtor account, and a named one must be among them. The
//! bank answers through [`PaymentAccounts`]; the demo bank is the worked example.

use aberta_runtime::connector::{ConnectorContext, ConnectorError};
use ofb_payments_v4::models::DebtorAccount;

/// An account the customer may debit, with what the portal shows of it.
#[derive(Debug, Clone, PartialEq)]
pub struct PayingAccount {
    /// The account as payments 4.0.0 names it (`ispb`, `issuer`, `number`, `accountType`).
    pub account: DebtorAccount,
    /// A short label for the consent screen (product name and the last digits), never the
    /// full number.
    pub label: String,
}

/// The bank's answer to "which accounts may this customer pay from".
#[async_trait::async_trait]
pub trait PaymentAccounts: Send + Sync + 'static {
    /// The accounts of the customer `ctx` names (the business for a business consent) that
    /// can send a Pix payment now. Empty when there are none.
    async fn paying_accounts(
        &self,
        ctx: &ConnectorContext,
    ) -> Result<Vec<PayingAccount>, ConnectorError>;
}
