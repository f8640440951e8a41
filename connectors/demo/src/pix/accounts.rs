//! Which accounts a customer may pay from: their available deposit, savings and prepaid
//! accounts, named as payments 4.0.0 names a debtor account.

use aberta_payments::accounts::{ApprovalRules, PayingAccount};
use aberta_runtime::connector::{ConnectorContext, ConnectorError};
use ofb_payments_v4::models::{DebtorAccount, EnumAccountPaymentsType};
use serde_json::Value;

use super::DEMO_ISPB;
use crate::DemoBank;
use crate::access::AVAILABLE;
use crate::entity::customer;
use crate::error::DemoError;
use crate::seed::section;

/// An account that can pay, with the resource id the ledger debits.
#[derive(Debug, Clone)]
pub(crate) struct Payer {
    pub product_id: String,
    pub paying: PayingAccount,
}

/// The payments account type of an accounts API type.
fn payments_type(account_type: &str) -> Option<EnumAccountPaymentsType> {
    match account_type {
        "CONTA_DEPOSITO_A_VISTA" => Some(EnumAccountPaymentsType::Cacc),
        "CONTA_POUPANCA" => Some(EnumAccountPaymentsType::Svgs),
        "CONTA_PAGAMENTO_PRE_PAGA" => Some(EnumAccountPaymentsType::Tran),
        _ => None,
    }
}

fn product_name(kind: &EnumAccountPaymentsType) -> &'static str {
    match kind {
        EnumAccountPaymentsType::Cacc => "Conta corrente",
        EnumAccountPaymentsType::Svgs => "Poupança",
        EnumAccountPaymentsType::Tran => "Conta de pagamento",
    }
}

/// Does `named` (a debtor account from a consent) designate `ours`? The branch is compared
/// only when the consent gives one (it is optional for prepaid accounts).
pub(crate) fn same_account(named: &DebtorAccount, ours: &DebtorAccount) -> bool {
    named.ispb == ours.ispb
        && named.number == ours.number
        && named.account_type == ours.account_type
        && named
            .issuer
            .as_ref()
            .is_none_or(|i| Some(i) == ours.issuer.as_ref())
}

impl DemoBank {
    /// The holder's accounts that can send a Pix now, in display order (checking first).
    pub(crate) async fn payers(&self, holder: &customer::Model) -> Result<Vec<Payer>, DemoError> {
        let mut payers = Vec::new();
        for row in self
            .storage
            .products(&holder.id, Some("ACCOUNT"), None)
            .await?
        {
            if row.status != AVAILABLE {
                continue;
            }
            let Some(kind) = row.account_type.as_deref().and_then(payments_type) else {
                continue;
            };
            let body = self.storage.product_body(&row)?;
            let field = |name: &str| {
                body.pointer(&format!("/{}/{name}", section::DETAIL))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or(DemoError::MissingSection(section::DETAIL))
            };
            let number = field("number")?;
            let last_four = &number[number.len().saturating_sub(4)..];
            let label = format!("{} final {last_four}", product_name(&kind));
            let account = DebtorAccount {
                ispb: DEMO_ISPB.to_string(),
                issuer: Some(field("branchCode")?),
                number: format!("{number}{}", field("checkDigit")?),
                account_type: kind,
            };
            payers.push(Payer {
                product_id: row.id,
                paying: PayingAccount { account, label },
            });
        }
        Ok(payers)
    }
}

/// Business payments from this amount on (in cents) need a second approver.
pub(crate) const SECOND_APPROVER_FROM_CENTS: i64 = 500_000;

/// The demo bank's approval rules: a business payment of R$ 5 000.00 or more needs two
/// approvers, any other one; an approver is any person who is a customer of the bank (the
/// bank's channel authenticated them; the platform makes sure each approver is another
/// person).
#[async_trait::async_trait]
impl ApprovalRules for DemoBank {
    async fn approvals_needed(
        &self,
        ctx: &ConnectorContext,
        consent: &Value,
    ) -> Result<u32, ConnectorError> {
        let cents = consent["payment"]["amount"]
            .as_str()
            .and_then(super::cents_of)
            .unwrap_or_default();
        Ok(
            if ctx.business.is_some() && cents >= SECOND_APPROVER_FROM_CENTS {
                2
            } else {
                1
            },
        )
    }

    async fn may_approve(
        &self,
        _ctx: &ConnectorContext,
        approver_cpf: &str,
    ) -> Result<bool, ConnectorError> {
        let person = self.storage.customer_by_document(approver_cpf).await?;
        Ok(person.is_some_and(|p| p.kind == "PF"))
    }
}
