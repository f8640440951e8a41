//! Payment consents as the authorization server's consent store: what the consent screen
//! shows (the payment, and the accounts to pay from when the consent names none), and what
//! approving or declining does.

use std::sync::Arc;

use aberta_auth::AuthError;
use aberta_auth::consent::{
    AWAITING_AUTHORISATION, ConsentStore, ConsentView, PaymentSummary, Refusal, check_user,
};
use aberta_auth::identity::{EndUser, UserAccount};
use aberta_runtime::connector::ConnectorContext;
use aberta_runtime::shared::{Cnpj, Cpf};
use async_trait::async_trait;
use serde_json::Value;

use crate::accounts::{ApprovalRules, PayingAccount, PaymentAccounts};
use crate::consents::{self, Approval, PaymentConsent, PaymentConsents, Transition, reason};
use crate::{qr, rules};

pub struct PaymentConsentPortal {
    consents: Arc<PaymentConsents>,
    accounts: Arc<dyn PaymentAccounts>,
    approvals: Arc<dyn ApprovalRules>,
}

/// The customer (and business) a consent acts for, as the bank's connectors take it.
pub(crate) fn customer_context(consent: &PaymentConsent) -> ConnectorContext {
    ConnectorContext {
        brand: consent.brand.clone(),
        customer: Cpf::try_from(consent.logged_user_cpf().to_string()).ok(),
        business: consent
            .business_cnpj()
            .and_then(|c| Cnpj::try_from(c.to_string()).ok()),
        consent_id: None,
        consent: None,
        interaction_id: uuid::Uuid::new_v4().to_string(),
        deadline: None,
    }
}

fn bank_failed(what: &str, err: impl std::fmt::Display) -> AuthError {
    AuthError::Fetch {
        url: what.into(),
        reason: err.to_string(),
    }
}

/// When every approval of a consent needing several must be in (unix seconds): the end of
/// the day in Brasília for an immediate payment, the end of the day before the first
/// settlement for a scheduled one.
pub fn approval_deadline(consent: &PaymentConsent, now: i64) -> i64 {
    let today = crate::api::today_in_brasilia(now);
    let first = consent.request["payment"]
        .get("schedule")
        .and_then(|s| rules::schedule_dates(s, today).ok())
        .and_then(|dates| dates.first().copied());
    let last_day = match first {
        Some(date) => date.pred_opt().unwrap_or(date),
        None => today,
    };
    // 00:00 in Brasília of the next day is 03:00 UTC.
    let next_midnight = (last_day + chrono::Days::new(1))
        .and_hms_opt(3, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .timestamp();
    next_midnight - 1
}

impl PaymentConsentPortal {
    pub fn new(
        consents: Arc<PaymentConsents>,
        accounts: Arc<dyn PaymentAccounts>,
        approvals: Arc<dyn ApprovalRules>,
    ) -> Self {
        Self {
            consents,
            accounts,
            approvals,
        }
    }

    async fn paying_accounts(
        &self,
        consent: &PaymentConsent,
    ) -> Result<Vec<PayingAccount>, AuthError> {
        self.accounts
            .paying_accounts(&customer_context(consent))
            .await
            .map_err(|e| bank_failed("paying accounts", e))
    }

    /// How many approvals the bank asks for, `debtor` being the account to debit.
    async fn approvals_needed(
        &self,
        consent: &PaymentConsent,
        debtor: Option<&Value>,
    ) -> Result<u32, AuthError> {
        let mut data = consent.request.clone();
        if let (Some(object), Some(debtor)) = (data.as_object_mut(), debtor) {
            object.insert("debtorAccount".into(), debtor.clone());
        }
        self.approvals
            .approvals_needed(&customer_context(consent), &data)
            .await
            .map_err(|e| bank_failed("approval rules", e))
    }
}

fn fetch_failed(err: crate::PaymentsError) -> AuthError {
    AuthError::Fetch {
        url: "payment consents".into(),
        reason: err.to_string(),
    }
}

/// The option value that names an account on the form: stable and free of personal data
/// beyond what the account itself is.
fn option_id(account: &Value) -> String {
    ["ispb", "issuer", "number", "accountType"]
        .iter()
        .map(|k| account[*k].as_str().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(":")
}

/// The last four characters, for the screen.
fn tail(text: &str) -> &str {
    &text[text.len().saturating_sub(4)..]
}

fn summary_lines(consent: &PaymentConsent) -> Vec<(String, String)> {
    let payment = &consent.request["payment"];
    let creditor = &consent.request["creditor"];
    let mut lines = vec![
        (
            "Valor".to_string(),
            format!(
                "{} {}",
                payment["currency"].as_str().unwrap_or("BRL"),
                payment["amount"].as_str().unwrap_or_default()
            ),
        ),
        (
            "Recebedor".to_string(),
            creditor["name"].as_str().unwrap_or_default().to_string(),
        ),
        (
            "Conta do recebedor".to_string(),
            format!(
                "final {}",
                tail(
                    payment["details"]["creditorAccount"]["number"]
                        .as_str()
                        .unwrap_or_default()
                )
            ),
        ),
    ];
    match (payment.get("date"), payment.get("schedule")) {
        (Some(date), _) => lines.push((
            "Data".to_string(),
            date.as_str().unwrap_or_default().to_string(),
        )),
        (None, Some(schedule)) => lines.push(("Agendamento".to_string(), schedule.to_string())),
        _ => {}
    }
    lines.push((
        "Forma".to_string(),
        format!(
            "Pix {}",
            payment["details"]["localInstrument"]
                .as_str()
                .unwrap_or_default()
        ),
    ));
    if let Some(account) = &consent.debtor_account {
        lines.push((
            "Conta de origem".to_string(),
            format!(
                "final {}",
                tail(account["number"].as_str().unwrap_or_default())
            ),
        ));
    }
    lines
}

#[async_trait]
impl ConsentStore for PaymentConsentPortal {
    async fn consent(
        &self,
        brand: &str,
        consent_id: &str,
    ) -> Result<Option<ConsentView>, AuthError> {
        let now = chrono::Utc::now().timestamp();
        let Some(consent) = self
            .consents
            .get(brand, consent_id, now)
            .await
            .map_err(fetch_failed)?
        else {
            return Ok(None);
        };
        let accounts =
            if consent.debtor_account.is_none() && consent.status == AWAITING_AUTHORISATION {
                self.paying_accounts(&consent)
                    .await?
                    .into_iter()
                    .map(|a| UserAccount {
                        id: option_id(&serde_json::to_value(&a.account).unwrap_or_default()),
                        label: a.label,
                    })
                    .collect()
            } else {
                Vec::new()
            };
        Ok(Some(ConsentView {
            consent_id: consent.consent_id.clone(),
            client_id: consent.client_id.clone(),
            status: consent.status.clone(),
            logged_user_cpf: consent.logged_user_cpf().to_string(),
            business_cnpj: consent.business_cnpj().map(str::to_owned),
            permissions: Vec::new(),
            expires_at: consent.expires_at,
            payment: Some(PaymentSummary {
                lines: summary_lines(&consent),
                accounts,
            }),
        }))
    }

    async fn authorise(
        &self,
        brand: &str,
        consent_id: &str,
        user: &EndUser,
        accounts: &[String],
    ) -> Result<Result<(), Refusal>, AuthError> {
        let now = chrono::Utc::now().timestamp();
        let Some(view) = self.consent(brand, consent_id).await? else {
            return Ok(Err(Refusal::NotAwaiting));
        };
        if let Err(refusal) = check_user(&view, user) {
            return Ok(Err(refusal));
        }
        let consent = self
            .consents
            .get(brand, consent_id, now)
            .await
            .map_err(fetch_failed)?
            .ok_or(AuthError::Fetch {
                url: "payment consents".into(),
                reason: "the consent vanished".into(),
            })?;
        let payable = self.paying_accounts(&consent).await?;
        let debtor = match &consent.debtor_account {
            Some(named) => {
                let id = option_id(named);
                if !payable
                    .iter()
                    .any(|a| option_id(&serde_json::to_value(&a.account).unwrap_or_default()) == id)
                {
                    tracing::info!(consent_id, "the named debtor account cannot pay");
                }
                None
            }
            None => {
                let Some(chosen) = accounts.first() else {
                    return Ok(Err(Refusal::NotAwaiting));
                };
                let found = payable.into_iter().find(|a| {
                    option_id(&serde_json::to_value(&a.account).unwrap_or_default()) == *chosen
                });
                let Some(found) = found else {
                    return Ok(Err(Refusal::NotAwaiting));
                };
                Some(serde_json::to_value(&found.account).unwrap_or_default())
            }
        };
        let creditor = &consent.request["payment"]["details"]["creditorAccount"];
        let debtor_id = debtor
            .as_ref()
            .or(consent.debtor_account.as_ref())
            .map(option_id);
        if debtor_id.is_some_and(|d| d == option_id(creditor)) {
            self.consents
                .reject_from(
                    brand,
                    consent_id,
                    AWAITING_AUTHORISATION,
                    reason::CONTAS_ORIGEM_DESTINO_IGUAIS,
                    now,
                )
                .await
                .map_err(fetch_failed)?;
            return Ok(Err(Refusal::NotAwaiting));
        }
        // A QR code is checked as far as it can be without a DICT: the consent is rejected
        // with the spec's reason when it is damaged, names another key or another amount.
        let payment = &consent.request["payment"];
        let details = &payment["details"];
        let instrument = details["localInstrument"].as_str().unwrap_or_default();
        if matches!(instrument, "QRES" | "QRDN")
            && let Err(reason) = qr::check(
                details["qrCode"].as_str().unwrap_or_default(),
                details["proxy"].as_str(),
                payment["amount"].as_str().unwrap_or_default(),
                instrument == "QRES",
            )
        {
            self.consents
                .reject_from(brand, consent_id, AWAITING_AUTHORISATION, reason, now)
                .await
                .map_err(fetch_failed)?;
            return Ok(Err(Refusal::NotAwaiting));
        }
        let needed = self
            .approvals_needed(
                &consent,
                debtor.as_ref().or(consent.debtor_account.as_ref()),
            )
            .await?;
        let approval = Approval {
            approver_cpf: consent.logged_user_cpf(),
            needed,
            deadline: approval_deadline(&consent, now),
        };
        match self
            .consents
            .authorise(brand, consent_id, debtor.as_ref(), approval, now)
            .await
            .map_err(fetch_failed)?
        {
            Transition::Done => Ok(Ok(())),
            _ => Ok(Err(Refusal::NotAwaiting)),
        }
    }

    async fn reject(&self, brand: &str, consent_id: &str) -> Result<(), AuthError> {
        let now = chrono::Utc::now().timestamp();
        self.consents
            .reject_from(
                brand,
                consent_id,
                consents::AWAITING_AUTHORISATION,
                reason::REJEITADO_USUARIO,
                now,
            )
            .await
            .map_err(fetch_failed)?;
        Ok(())
    }
}

/// The authorization server's consent store over both kinds: payment consents by their id's
/// form ([`consents::is_payment_consent`]), data-sharing consents otherwise.
pub struct RoutedConsents {
    pub data: Arc<dyn ConsentStore>,
    pub payments: Arc<dyn ConsentStore>,
}

impl RoutedConsents {
    fn pick(&self, consent_id: &str) -> &dyn ConsentStore {
        if consents::is_payment_consent(consent_id) {
            self.payments.as_ref()
        } else {
            self.data.as_ref()
        }
    }
}

#[async_trait]
impl ConsentStore for RoutedConsents {
    async fn consent(
        &self,
        brand: &str,
        consent_id: &str,
    ) -> Result<Option<ConsentView>, AuthError> {
        self.pick(consent_id).consent(brand, consent_id).await
    }

    async fn authorise(
        &self,
        brand: &str,
        consent_id: &str,
        user: &EndUser,
        accounts: &[String],
    ) -> Result<Result<(), Refusal>, AuthError> {
        self.pick(consent_id)
            .authorise(brand, consent_id, user, accounts)
            .await
    }

    async fn reject(&self, brand: &str, consent_id: &str) -> Result<(), AuthError> {
        self.pick(consent_id).reject(brand, consent_id).await
    }
}
