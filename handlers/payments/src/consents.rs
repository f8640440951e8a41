//! Payment consents (payments 4.0.0 `/consents`): storage and lifecycle.
//!
//! AWAITING_AUTHORISATION for at most 5 minutes after creation, then AUTHORISED (the customer
//! approved at the portal) for at most 60 minutes, then CONSUMED by the first payment attempt;
//! REJECTED with the spec's reason when the customer declines (`REJEITADO_USUARIO`) or a
//! window closes (`TEMPO_EXPIRADO_AUTORIZACAO`, `TEMPO_EXPIRADO_CONSUMO`). When the bank
//! needs more than one approver for the debtor account, the portal's approval leads to
//! PARTIALLY_ACCEPTED, and the other approvers' (through the bank's channels,
//! [`PaymentConsents::approve`]) to AUTHORISED; the bank's deadline for them closes it with
//! `TEMPO_EXPIRADO_AUTORIZACAO`. Expiry is applied
//! whenever a consent is read, and by [`PaymentConsents::sweep_expired`], so every instance
//! sees the same state. Each transition writes an event to the outbox in its transaction.

use std::sync::Arc;

use aberta_store::outbox::{self, NewEvent};
use aberta_store::{KeyRing, Store};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::entity::consent;
use crate::error::PaymentsError;
use crate::notify::Notifier;

pub const AWAITING_AUTHORISATION: &str = "AWAITING_AUTHORISATION";
pub const PARTIALLY_ACCEPTED: &str = "PARTIALLY_ACCEPTED";
pub const AUTHORISED: &str = "AUTHORISED";
pub const CONSUMED: &str = "CONSUMED";
pub const REJECTED: &str = "REJECTED";

/// Rejection reasons (`rejectionReason.code`).
pub mod reason {
    pub const REJEITADO_USUARIO: &str = "REJEITADO_USUARIO";
    pub const TEMPO_EXPIRADO_AUTORIZACAO: &str = "TEMPO_EXPIRADO_AUTORIZACAO";
    pub const TEMPO_EXPIRADO_CONSUMO: &str = "TEMPO_EXPIRADO_CONSUMO";
    pub const CONTAS_ORIGEM_DESTINO_IGUAIS: &str = "CONTAS_ORIGEM_DESTINO_IGUAIS";
}

/// Sealed-column names (the key ring binds each value to its column).
const REQUEST_COLUMN: &str = "payments_consent.request";
const DEBTOR_COLUMN: &str = "payments_consent.chosen_debtor_account";

/// The outbox topic of payment-consent events.
pub const TOPIC: &str = "payment-consents";

/// How long each status may last.
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    /// From creation to authorisation: 5 minutes.
    pub authorise_within: i64,
    /// From authorisation to the first payment: 60 minutes.
    pub consume_within: i64,
}

impl Default for Windows {
    fn default() -> Self {
        Self {
            authorise_within: 300,
            consume_within: 3600,
        }
    }
}

/// A payment consent as the API and the portal read it.
#[derive(Clone, PartialEq)]
pub struct PaymentConsent {
    pub consent_id: String,
    pub brand: String,
    pub client_id: String,
    pub status: String,
    pub created_at: i64,
    pub status_updated_at: i64,
    pub expires_at: i64,
    pub rejection: Option<(String, String)>,
    /// The request's `data`, as received.
    pub request: Value,
    /// The debtor account: the consent's own, or the one chosen at authorisation.
    pub debtor_account: Option<Value>,
}

impl std::fmt::Debug for PaymentConsent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentConsent")
            .field("consent_id", &self.consent_id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl PaymentConsent {
    /// `loggedUser.document.identification`.
    pub fn logged_user_cpf(&self) -> &str {
        self.request["loggedUser"]["document"]["identification"]
            .as_str()
            .unwrap_or_default()
    }

    /// `businessEntity.document.identification`.
    pub fn business_cnpj(&self) -> Option<&str> {
        self.request["businessEntity"]["document"]["identification"].as_str()
    }
}

/// Who approved at the portal, and what the bank asks before the consent is AUTHORISED.
#[derive(Debug, Clone, Copy)]
pub struct Approval<'a> {
    pub approver_cpf: &'a str,
    /// How many different people must approve; 1 for most accounts.
    pub needed: u32,
    /// When the approvals must be complete (unix seconds), if more than one is needed.
    pub deadline: i64,
}

/// What one more approver found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approved {
    /// That was the last approval needed: the consent is AUTHORISED.
    Authorised,
    /// Recorded; this many more are needed.
    Waiting(u32),
    /// This person had already approved it.
    AlreadyApproved,
    /// The consent is not waiting for approvals (it is `.0`).
    NotFrom(String),
    NotFound,
}

/// What a transition the caller asks for found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Done,
    /// The consent was not in the status the transition starts from (now `.0`).
    NotFrom(String),
    NotFound,
}

pub struct PaymentConsents {
    store: Store,
    keyring: Arc<KeyRing>,
    windows: Windows,
    notifier: Arc<Notifier>,
}

impl std::fmt::Debug for PaymentConsents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentConsents")
            .field("windows", &self.windows)
            .finish_non_exhaustive()
    }
}

/// Formats unix seconds as the spec's date-time (UTC, `Z`).
pub fn date_time(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn new_consent_id(brand: &str) -> String {
    format!("urn:{brand}:pix-{}", uuid::Uuid::new_v4())
}

/// Whether `consent_id` names a payment consent (its form, [`new_consent_id`]).
pub fn is_payment_consent(consent_id: &str) -> bool {
    consent_id
        .rsplit(':')
        .next()
        .is_some_and(|tail| tail.starts_with("pix-"))
}

impl PaymentConsents {
    pub async fn new(
        store: Store,
        keyring: Arc<KeyRing>,
        windows: Windows,
        notifier: Arc<Notifier>,
    ) -> Result<Arc<Self>, PaymentsError> {
        crate::migrate(store.connection()).await?;
        Ok(Arc::new(Self {
            store,
            keyring,
            windows,
            notifier,
        }))
    }

    fn db(&self) -> &DatabaseConnection {
        self.store.connection()
    }

    pub fn windows(&self) -> Windows {
        self.windows
    }

    /// Stores a new consent awaiting authorisation, through `conn` (the transaction that
    /// also claims the idempotency key).
    pub async fn create<C: ConnectionTrait>(
        &self,
        conn: &C,
        brand: &str,
        client_id: &str,
        request: &Value,
        now: i64,
    ) -> Result<PaymentConsent, PaymentsError> {
        let consent_id = new_consent_id(brand);
        let row = consent::Model {
            consent_id: consent_id.clone(),
            brand: brand.to_string(),
            client_id: client_id.to_string(),
            status: AWAITING_AUTHORISATION.to_string(),
            created_at: now,
            status_updated_at: now,
            expires_at: now + self.windows.authorise_within,
            rejection_code: None,
            rejection_detail: None,
            request: self.keyring.seal(REQUEST_COLUMN, &request.to_string())?,
            chosen_debtor_account: None,
            approvals_needed: 1,
            approvers: None,
        };
        consent::Entity::insert(consent::ActiveModel::from(row.clone()))
            .exec_without_returning(conn)
            .await?;
        event(conn, &row, "payment-consent.created", now).await?;
        tracing::info!(consent_id, client_id, "payment consent created");
        self.record(row)
    }

    /// The consent, with a due expiry applied first.
    pub async fn get(
        &self,
        brand: &str,
        consent_id: &str,
        now: i64,
    ) -> Result<Option<PaymentConsent>, PaymentsError> {
        let Some(row) = self.row(brand, consent_id).await? else {
            return Ok(None);
        };
        let row = self.settle(row, now).await?;
        Ok(Some(self.record(row)?))
    }

    async fn row(
        &self,
        brand: &str,
        consent_id: &str,
    ) -> Result<Option<consent::Model>, PaymentsError> {
        Ok(consent::Entity::find_by_id(consent_id.to_string())
            .filter(consent::Column::Brand.eq(brand))
            .one(self.db())
            .await?)
    }

    /// Rejects a consent whose window has closed at `now`; returns the current row.
    async fn settle(&self, row: consent::Model, now: i64) -> Result<consent::Model, PaymentsError> {
        let Some(reason) = expiry_reason(&row, now) else {
            return Ok(row);
        };
        self.reject_from(&row.brand, &row.consent_id, &row.status, reason, now)
            .await?;
        Ok(self.row(&row.brand, &row.consent_id).await?.unwrap_or(row))
    }

    /// Rejects every consent whose window has closed; returns how many.
    pub async fn sweep_expired(&self, now: i64) -> Result<u64, PaymentsError> {
        let due = consent::Entity::find()
            .filter(consent::Column::Status.is_in([
                AWAITING_AUTHORISATION,
                PARTIALLY_ACCEPTED,
                AUTHORISED,
            ]))
            .filter(consent::Column::ExpiresAt.lte(now))
            .all(self.db())
            .await?;
        let mut changed = 0;
        for row in due {
            if let Some(reason) = expiry_reason(&row, now)
                && self
                    .reject_from(&row.brand, &row.consent_id, &row.status, reason, now)
                    .await?
                    == Transition::Done
            {
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// `from` -> REJECTED with `reason`, if the consent is still in `from`.
    pub async fn reject_from(
        &self,
        brand: &str,
        consent_id: &str,
        from: &str,
        reason: &str,
        now: i64,
    ) -> Result<Transition, PaymentsError> {
        let txn = sea_orm::TransactionTrait::begin(self.db()).await?;
        let outcome = self
            .transition(
                &txn,
                brand,
                consent_id,
                from,
                Change {
                    status: REJECTED,
                    expires_at: None,
                    rejection: Some((reason, rejection_detail(reason))),
                    ..Change::default()
                },
                now,
            )
            .await?;
        txn.commit().await?;
        Ok(outcome)
    }

    /// AWAITING_AUTHORISATION -> AUTHORISED, with the debtor account the customer chose when
    /// the consent named none; -> PARTIALLY_ACCEPTED instead when the bank needs more
    /// approvers than the one at the portal.
    pub async fn authorise(
        &self,
        brand: &str,
        consent_id: &str,
        chosen_debtor_account: Option<&Value>,
        approval: Approval<'_>,
        now: i64,
    ) -> Result<Transition, PaymentsError> {
        let sealed = chosen_debtor_account
            .map(|a| self.keyring.seal(DEBTOR_COLUMN, &a.to_string()))
            .transpose()?;
        let approvers = approvers_json(&[self.keyring.blind_index(approval.approver_cpf)]);
        let needed = i32::try_from(approval.needed.max(1)).unwrap_or(i32::MAX);
        let (status, expires_at) = if needed > 1 {
            (PARTIALLY_ACCEPTED, approval.deadline)
        } else {
            (AUTHORISED, now + self.windows.consume_within)
        };
        let txn = sea_orm::TransactionTrait::begin(self.db()).await?;
        let outcome = self
            .transition(
                &txn,
                brand,
                consent_id,
                AWAITING_AUTHORISATION,
                Change {
                    status,
                    expires_at: Some(expires_at),
                    chosen_debtor_account: sealed,
                    approvers: Some((needed, approvers)),
                    ..Change::default()
                },
                now,
            )
            .await?;
        txn.commit().await?;
        Ok(outcome)
    }

    /// One more approver of a PARTIALLY_ACCEPTED consent (the bank's channel vouches for who
    /// they are): the last one needed makes it AUTHORISED, with 60 minutes to consume it.
    /// Concurrent approvals are compared-and-set on the approver list.
    pub async fn approve(
        &self,
        brand: &str,
        consent_id: &str,
        approver_cpf: &str,
        now: i64,
    ) -> Result<Approved, PaymentsError> {
        let me = self.keyring.blind_index(approver_cpf);
        for _ in 0..8 {
            let Some(row) = self.row(brand, consent_id).await? else {
                return Ok(Approved::NotFound);
            };
            let row = self.settle(row, now).await?;
            if row.status != PARTIALLY_ACCEPTED {
                return Ok(Approved::NotFrom(row.status));
            }
            let mut approvers: Vec<String> = row
                .approvers
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| PaymentsError::Corrupt(format!("consent approvers: {e}")))?
                .unwrap_or_default();
            if approvers.contains(&me) {
                return Ok(Approved::AlreadyApproved);
            }
            approvers.push(me.clone());
            let got = u32::try_from(approvers.len()).unwrap_or(u32::MAX);
            let needed = u32::try_from(row.approvals_needed).unwrap_or(1);
            let done = got >= needed;
            let txn = sea_orm::TransactionTrait::begin(self.db()).await?;
            let outcome = self
                .transition(
                    &txn,
                    brand,
                    consent_id,
                    PARTIALLY_ACCEPTED,
                    Change {
                        status: if done { AUTHORISED } else { PARTIALLY_ACCEPTED },
                        expires_at: done.then_some(now + self.windows.consume_within),
                        approvers: Some((row.approvals_needed, approvers_json(&approvers))),
                        approvers_were: Some(row.approvers.clone()),
                        ..Change::default()
                    },
                    now,
                )
                .await?;
            txn.commit().await?;
            match outcome {
                Transition::Done if done => return Ok(Approved::Authorised),
                Transition::Done => return Ok(Approved::Waiting(needed - got)),
                Transition::NotFound => return Ok(Approved::NotFound),
                // Another approval landed first: read again.
                Transition::NotFrom(_) => continue,
            }
        }
        Err(PaymentsError::Corrupt(
            "the consent's approvals kept changing".into(),
        ))
    }

    /// AUTHORISED -> CONSUMED through `conn`: the transaction of the payment attempt.
    pub async fn consume<C: ConnectionTrait>(
        &self,
        conn: &C,
        brand: &str,
        consent_id: &str,
        now: i64,
    ) -> Result<Transition, PaymentsError> {
        self.transition(
            conn,
            brand,
            consent_id,
            AUTHORISED,
            Change {
                status: CONSUMED,
                ..Change::default()
            },
            now,
        )
        .await
    }

    /// One conditional update (`WHERE status = from`), so two instances never both move a
    /// consent, and its event in the same transaction.
    async fn transition<C: ConnectionTrait>(
        &self,
        conn: &C,
        brand: &str,
        consent_id: &str,
        from: &str,
        change: Change<'_>,
        now: i64,
    ) -> Result<Transition, PaymentsError> {
        let mut update = consent::Entity::update_many()
            .col_expr(consent::Column::Status, Expr::value(change.status))
            .col_expr(consent::Column::StatusUpdatedAt, Expr::value(now))
            .filter(consent::Column::ConsentId.eq(consent_id))
            .filter(consent::Column::Brand.eq(brand))
            .filter(consent::Column::Status.eq(from));
        if let Some(at) = change.expires_at {
            update = update.col_expr(consent::Column::ExpiresAt, Expr::value(at));
        }
        if let Some((code, detail)) = change.rejection {
            update = update
                .col_expr(consent::Column::RejectionCode, Expr::value(code))
                .col_expr(consent::Column::RejectionDetail, Expr::value(detail));
        }
        if let Some(sealed) = change.chosen_debtor_account {
            update = update.col_expr(consent::Column::ChosenDebtorAccount, Expr::value(sealed));
        }
        if let Some((needed, approvers)) = change.approvers {
            update = update
                .col_expr(consent::Column::ApprovalsNeeded, Expr::value(needed))
                .col_expr(consent::Column::Approvers, Expr::value(approvers));
        }
        if let Some(were) = change.approvers_were {
            update = update.filter(match were {
                Some(list) => consent::Column::Approvers.eq(list),
                None => consent::Column::Approvers.is_null(),
            });
        }
        let changed = update.exec(conn).await?.rows_affected;
        if changed == 0 {
            let current = consent::Entity::find_by_id(consent_id.to_string())
                .filter(consent::Column::Brand.eq(brand))
                .one(conn)
                .await?;
            return Ok(match current {
                Some(row) => Transition::NotFrom(row.status),
                None => Transition::NotFound,
            });
        }
        let row = consent::Entity::find_by_id(consent_id.to_string())
            .one(conn)
            .await?
            .ok_or_else(|| PaymentsError::Corrupt("consent vanished in its transaction".into()))?;
        let kind = match change.status {
            AUTHORISED => "payment-consent.authorised",
            PARTIALLY_ACCEPTED if from == PARTIALLY_ACCEPTED => "payment-consent.approved",
            PARTIALLY_ACCEPTED => "payment-consent.partially-accepted",
            CONSUMED => "payment-consent.consumed",
            _ => "payment-consent.rejected",
        };
        event(conn, &row, kind, now).await?;
        // AUTHORISED is notified only when it follows PARTIALLY_ACCEPTED: otherwise the
        // initiator learns it from the redirect.
        if change.status != AUTHORISED || from == PARTIALLY_ACCEPTED {
            self.notifier
                .consent_changed(conn, brand, &row.client_id, consent_id, change.status, now)
                .await?;
        }
        tracing::info!(
            consent_id,
            from,
            to = change.status,
            "payment consent changed"
        );
        Ok(Transition::Done)
    }

    fn record(&self, row: consent::Model) -> Result<PaymentConsent, PaymentsError> {
        let request: Value =
            serde_json::from_str(&self.keyring.open(REQUEST_COLUMN, &row.request)?)
                .map_err(|e| PaymentsError::Corrupt(e.to_string()))?;
        let chosen = row
            .chosen_debtor_account
            .as_deref()
            .map(|s| self.keyring.open(DEBTOR_COLUMN, s))
            .transpose()?
            .map(|s| serde_json::from_str::<Value>(&s))
            .transpose()
            .map_err(|e| PaymentsError::Corrupt(e.to_string()))?;
        if !request.is_object() {
            return Err(PaymentsError::Corrupt(
                "a stored consent request is not an object".into(),
            ));
        }
        let debtor_account = request.get("debtorAccount").cloned().or(chosen);
        Ok(PaymentConsent {
            consent_id: row.consent_id,
            brand: row.brand,
            client_id: row.client_id,
            status: row.status,
            created_at: row.created_at,
            status_updated_at: row.status_updated_at,
            expires_at: row.expires_at,
            rejection: row.rejection_code.zip(row.rejection_detail),
            request,
            debtor_account,
        })
    }
}

#[derive(Default)]
struct Change<'a> {
    status: &'a str,
    expires_at: Option<i64>,
    rejection: Option<(&'a str, &'a str)>,
    chosen_debtor_account: Option<String>,
    /// How many approvals are needed, and the approver list (JSON) to store.
    approvers: Option<(i32, String)>,
    /// Compare-and-set: the approver list the row must still hold.
    approvers_were: Option<Option<String>>,
}

fn approvers_json(hashes: &[String]) -> String {
    serde_json::to_string(hashes).unwrap_or_else(|_| "[]".into())
}

fn expiry_reason(row: &consent::Model, now: i64) -> Option<&'static str> {
    if now < row.expires_at {
        return None;
    }
    match row.status.as_str() {
        AWAITING_AUTHORISATION | PARTIALLY_ACCEPTED => Some(reason::TEMPO_EXPIRADO_AUTORIZACAO),
        AUTHORISED => Some(reason::TEMPO_EXPIRADO_CONSUMO),
        _ => None,
    }
}

fn rejection_detail(reason: &str) -> &'static str {
    match reason {
        reason::REJEITADO_USUARIO => "O usuário rejeitou a autorização do consentimento",
        reason::TEMPO_EXPIRADO_AUTORIZACAO => {
            "Consentimento expirou antes que o usuário pudesse confirmá-lo"
        }
        reason::TEMPO_EXPIRADO_CONSUMO => "O usuário não confirmou o pagamento a tempo",
        reason::CONTAS_ORIGEM_DESTINO_IGUAIS => "As contas de origem e destino são iguais",
        crate::qr::QRCODE_INVALIDO => "O QR Code informado é inválido",
        crate::qr::VALOR_INVALIDO => "O valor do QR Code diverge do valor do consentimento",
        _ => "Consentimento rejeitado",
    }
}

async fn event<C: ConnectionTrait>(
    conn: &C,
    row: &consent::Model,
    kind: &str,
    now: i64,
) -> Result<(), PaymentsError> {
    outbox::append(
        conn,
        NewEvent {
            brand: &row.brand,
            topic: TOPIC,
            aggregate_id: &row.consent_id,
            event_type: kind,
            payload: json!({
                "consentId": row.consent_id,
                "clientId": row.client_id,
                "status": row.status,
                "rejectionReason": row.rejection_code,
            }),
        },
        now * 1000,
    )
    .await?;
    Ok(())
}

/// The consent as the spec's `ResponsePaymentConsent.data`.
pub fn response_data(consent: &PaymentConsent) -> Value {
    let mut data = consent.request.clone();
    // `record` refuses a stored request that is not an object.
    let Some(object) = data.as_object_mut() else {
        return data;
    };
    object.insert("consentId".into(), json!(consent.consent_id));
    object.insert(
        "creationDateTime".into(),
        json!(date_time(consent.created_at)),
    );
    object.insert(
        "expirationDateTime".into(),
        json!(date_time(consent.expires_at)),
    );
    object.insert(
        "statusUpdateDateTime".into(),
        json!(date_time(consent.status_updated_at)),
    );
    object.insert("status".into(), json!(consent.status));
    match &consent.debtor_account {
        Some(account) => object.insert("debtorAccount".into(), account.clone()),
        None => object.remove("debtorAccount"),
    };
    if let Some((code, detail)) = &consent.rejection {
        object.insert(
            "rejectionReason".into(),
            json!({ "code": code, "detail": detail }),
        );
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_consent_ids_say_what_they_are() {
        let id = new_consent_id("aberta-demo");
        assert!(is_payment_consent(&id), "{id}");
        assert!(!is_payment_consent("urn:aberta-demo:3f1c"));
    }

    fn row(status: &str, expires_at: i64) -> consent::Model {
        consent::Model {
            consent_id: "c".into(),
            brand: "b".into(),
            client_id: "x".into(),
            status: status.into(),
            created_at: 0,
            status_updated_at: 0,
            expires_at,
            rejection_code: None,
            rejection_detail: None,
            request: String::new(),
            chosen_debtor_account: None,
            approvals_needed: 1,
            approvers: None,
        }
    }

    #[test]
    fn each_window_closes_with_its_own_reason() {
        assert_eq!(expiry_reason(&row(AWAITING_AUTHORISATION, 300), 299), None);
        assert_eq!(
            expiry_reason(&row(AWAITING_AUTHORISATION, 300), 300),
            Some(reason::TEMPO_EXPIRADO_AUTORIZACAO)
        );
        assert_eq!(
            expiry_reason(&row(AUTHORISED, 3600), 4000),
            Some(reason::TEMPO_EXPIRADO_CONSUMO)
        );
        assert_eq!(expiry_reason(&row(CONSUMED, 0), 4000), None);
        assert_eq!(
            expiry_reason(&row(PARTIALLY_ACCEPTED, 900), 900),
            Some(reason::TEMPO_EXPIRADO_AUTORIZACAO)
        );
        assert_eq!(expiry_reason(&row(REJECTED, 0), 4000), None);
    }
}
