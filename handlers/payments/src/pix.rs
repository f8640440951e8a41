//! Pix payments (payments 4.0.0 `/pix/payments`): what the platform checks before the bank
//! is called, and the payments it keeps.
//!
//! A payment request must match its consent item for item: the same amount, currency,
//! creditor account, local instrument, proxy and QR code, one item per date the consent pays
//! on, each `endToEndId` dated that day (15:00 UTC for a scheduled one). Any attempt consumes
//! the consent; a divergent one is refused with `PAGAMENTO_DIVERGENTE_CONSENTIMENTO`.

use std::sync::Arc;

use aberta_store::{KeyRing, Store};
use chrono::NaiveDate;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::Value;

use crate::entity::payment;
use crate::error::PaymentsError;
use crate::rules::{self, Violation};

pub const PAGAMENTO_DIVERGENTE_CONSENTIMENTO: &str = "PAGAMENTO_DIVERGENTE_CONSENTIMENTO";
pub const CONSENTIMENTO_INVALIDO: &str = "CONSENTIMENTO_INVALIDO";
pub const CONSENTIMENTO_PENDENTE_AUTORIZACAO: &str = "CONSENTIMENTO_PENDENTE_AUTORIZACAO";
pub const PAGAMENTO_NAO_PERMITE_CANCELAMENTO: &str = "PAGAMENTO_NAO_PERMITE_CANCELAMENTO";

/// Statuses after which a payment never changes.
pub const FINAL: [&str; 3] = ["ACSC", "RJCT", "CANC"];

const ANSWER_COLUMN: &str = "payments_pix_payment.answer";

fn divergent(detail: impl Into<String>) -> Violation {
    Violation {
        code: PAGAMENTO_DIVERGENTE_CONSENTIMENTO,
        detail: detail.into(),
    }
}

/// Checks the request's items (`data[]`, as JSON) against the consent's request `data` and
/// the dates it pays on.
pub fn check_against_consent(
    items: &[Value],
    consent: &Value,
    dates: &[NaiveDate],
    scheduled: bool,
) -> Result<(), Violation> {
    if items.len() != dates.len() {
        return Err(divergent(format!(
            "the consent pays {} time(s), the request has {} payment(s)",
            dates.len(),
            items.len()
        )));
    }
    let payment = &consent["payment"];
    let details = &payment["details"];
    for (i, (item, date)) in items.iter().zip(dates).enumerate() {
        let same = |a: &Value, b: &Value| a.is_null() && b.is_null() || a == b;
        if item["payment"]["amount"] != payment["amount"]
            || item["payment"]["currency"] != payment["currency"]
        {
            return Err(divergent(format!(
                "data[{i}].payment differs from the consent"
            )));
        }
        for field in ["localInstrument", "creditorAccount"] {
            if item[field] != details[field] {
                return Err(divergent(format!(
                    "data[{i}].{field} differs from the consent"
                )));
            }
        }
        for field in ["proxy", "qrCode"] {
            if !same(&item[field], &details[field]) {
                return Err(divergent(format!(
                    "data[{i}].{field} differs from the consent"
                )));
            }
        }
        check_end_to_end(
            item["endToEndId"].as_str().unwrap_or_default(),
            *date,
            scheduled,
        )
        .map_err(|detail| Violation {
            code: rules::PARAMETRO_INVALIDO,
            detail: format!("data[{i}].endToEndId {detail}"),
        })?;
    }
    Ok(())
}

/// When to ask the bank again about a payment in `status`: each second while it moves through
/// settlement; every few minutes while held for analysis; for a scheduled one, at the start
/// of its day in Brasília (and at least hourly, in case the bank cancels it).
pub fn next_check(status: &str, answer: &Value, now: i64) -> i64 {
    const HOUR: i64 = 3600;
    match status {
        "PDNG" => now + 300,
        "SCHD" => {
            let day_starts = answer["endToEndId"]
                .as_str()
                .and_then(|id| id.get(9..17))
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y%m%d").ok())
                .and_then(|d| d.and_hms_opt(3, 0, 0))
                .map(|t| t.and_utc().timestamp());
            day_starts.map_or(now + HOUR, |at| at.clamp(now + 1, now + HOUR))
        }
        _ => now + 1,
    }
}

/// `E` + ISPB (8) + `yyyyMMddHHmm` (UTC) + 11 characters: dated the payment day, at 15:00
/// UTC when scheduled. An immediate payment made after 21:00 in Brasília is already the next
/// day in UTC, so its id may carry either.
fn check_end_to_end(id: &str, date: NaiveDate, scheduled: bool) -> Result<(), &'static str> {
    let stamp = id.get(9..21).ok_or("is too short")?;
    let day = NaiveDate::parse_from_str(&stamp[..8], "%Y%m%d").map_err(|_| "has no date")?;
    let next_day = date.succ_opt().unwrap_or(date);
    if day != date && (scheduled || day != next_day) {
        return Err("is not dated the payment day");
    }
    if scheduled && &stamp[8..10] != "15" {
        return Err("of a scheduled payment is set at 15:00 UTC");
    }
    Ok(())
}

/// The payments the platform initiated, with the bank's last answer.
pub struct Payments {
    store: Store,
    keyring: Arc<KeyRing>,
}

impl std::fmt::Debug for Payments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payments").finish_non_exhaustive()
    }
}

/// A payment as kept: ids and status in clear, the bank's answer opened.
#[derive(Clone)]
pub struct KeptPayment {
    pub payment_id: String,
    pub brand: String,
    pub client_id: String,
    pub consent_id: String,
    pub status: String,
    pub answer: Value,
}

impl std::fmt::Debug for KeptPayment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptPayment")
            .field("payment_id", &self.payment_id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Payments {
    pub fn new(store: Store, keyring: Arc<KeyRing>) -> Self {
        Self { store, keyring }
    }

    /// Keeps the bank's answers for new payments through `conn`.
    pub async fn insert<C: ConnectionTrait>(
        &self,
        conn: &C,
        brand: &str,
        client_id: &str,
        consent_id: &str,
        answers: &[Value],
        now: i64,
    ) -> Result<(), PaymentsError> {
        for answer in answers {
            let row = payment::Model {
                payment_id: answer["paymentId"].as_str().unwrap_or_default().to_string(),
                brand: brand.to_string(),
                client_id: client_id.to_string(),
                consent_id: consent_id.to_string(),
                status: answer["status"].as_str().unwrap_or_default().to_string(),
                created_at: now,
                status_updated_at: now,
                next_check_at: now,
                answer: self.keyring.seal(ANSWER_COLUMN, &answer.to_string())?,
            };
            payment::Entity::insert(payment::ActiveModel::from(row))
                .exec_without_returning(conn)
                .await?;
        }
        Ok(())
    }

    pub async fn get(
        &self,
        brand: &str,
        payment_id: &str,
    ) -> Result<Option<KeptPayment>, PaymentsError> {
        let row = payment::Entity::find_by_id(payment_id.to_string())
            .filter(payment::Column::Brand.eq(brand))
            .one(self.store.connection())
            .await?;
        row.map(|r| self.kept(r)).transpose()
    }

    /// The payments not yet final whose next check is due at `now`, most overdue first, at
    /// most `limit`.
    pub async fn due(&self, now: i64, limit: u64) -> Result<Vec<KeptPayment>, PaymentsError> {
        use sea_orm::{QueryOrder, QuerySelect};
        payment::Entity::find()
            .filter(payment::Column::Status.is_not_in(FINAL))
            .filter(payment::Column::NextCheckAt.lte(now))
            .order_by_asc(payment::Column::NextCheckAt)
            .limit(limit)
            .all(self.store.connection())
            .await?
            .into_iter()
            .map(|r| self.kept(r))
            .collect()
    }

    /// Records the bank's newer answer; returns whether the status changed (so a
    /// notification is due), through `conn`. Only a change from the status last seen is
    /// written, so two instances polling the same payment record it once.
    pub async fn update<C: ConnectionTrait>(
        &self,
        conn: &C,
        kept: &KeptPayment,
        answer: &Value,
        now: i64,
    ) -> Result<bool, PaymentsError> {
        let status = answer["status"].as_str().unwrap_or_default();
        if status == kept.status {
            return Ok(false);
        }
        let changed = payment::Entity::update_many()
            .col_expr(payment::Column::Status, Expr::value(status))
            .col_expr(payment::Column::StatusUpdatedAt, Expr::value(now))
            .col_expr(
                payment::Column::Answer,
                Expr::value(self.keyring.seal(ANSWER_COLUMN, &answer.to_string())?),
            )
            .filter(payment::Column::PaymentId.eq(kept.payment_id.as_str()))
            .filter(payment::Column::Status.eq(kept.status.as_str()))
            .exec(conn)
            .await?
            .rows_affected;
        Ok(changed == 1)
    }

    /// Schedules the next check of a payment in `status`, whose answer is `answer`.
    pub async fn checked(
        &self,
        payment_id: &str,
        status: &str,
        answer: &Value,
        now: i64,
    ) -> Result<(), PaymentsError> {
        payment::Entity::update_many()
            .col_expr(
                payment::Column::NextCheckAt,
                Expr::value(next_check(status, answer, now)),
            )
            .filter(payment::Column::PaymentId.eq(payment_id))
            .exec(self.store.connection())
            .await?;
        Ok(())
    }

    fn kept(&self, row: payment::Model) -> Result<KeptPayment, PaymentsError> {
        let answer = serde_json::from_str(&self.keyring.open(ANSWER_COLUMN, &row.answer)?)
            .map_err(|e| PaymentsError::Corrupt(e.to_string()))?;
        Ok(KeptPayment {
            payment_id: row.payment_id,
            brand: row.brand,
            client_id: row.client_id,
            consent_id: row.consent_id,
            status: row.status,
            answer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn consent() -> Value {
        json!({ "payment": { "type": "PIX", "currency": "BRL", "amount": "100.00",
            "details": { "localInstrument": "DICT", "proxy": "a@b.com",
              "creditorAccount": { "ispb": "12345678", "number": "1", "accountType": "CACC" } } } })
    }

    fn item(e2e: &str) -> Value {
        json!({ "endToEndId": e2e, "localInstrument": "DICT", "proxy": "a@b.com",
          "payment": { "amount": "100.00", "currency": "BRL" },
          "creditorAccount": { "ispb": "12345678", "number": "1", "accountType": "CACC" } })
    }

    const E2E: &str = "E9040088820260130153012345678901";

    #[test]
    fn a_moving_payment_is_checked_each_second_a_waiting_one_less_often() {
        const NOW: i64 = 1_800_000_000;
        assert_eq!(next_check("RCVD", &json!({}), NOW), NOW + 1);
        assert_eq!(next_check("PDNG", &json!({}), NOW), NOW + 300);
        // Scheduled far ahead: hourly; scheduled for a day that has begun: at once.
        let far = json!({ "endToEndId": "E9999900420990101150012345678901" });
        assert_eq!(next_check("SCHD", &far, NOW), NOW + 3600);
        let past = json!({ "endToEndId": "E9999900420200101150012345678901" });
        assert_eq!(next_check("SCHD", &past, NOW), NOW + 1);
    }

    #[test]
    fn a_payment_matches_its_consent_item_for_item() {
        let date = day("2026-01-30");
        assert!(check_against_consent(&[item(E2E)], &consent(), &[date], false).is_ok());
        let mut other_amount = item(E2E);
        other_amount["payment"]["amount"] = json!("100.01");
        assert_eq!(
            check_against_consent(&[other_amount], &consent(), &[date], false)
                .unwrap_err()
                .code,
            PAGAMENTO_DIVERGENTE_CONSENTIMENTO
        );
        let mut no_proxy = item(E2E);
        no_proxy.as_object_mut().unwrap().remove("proxy");
        assert!(check_against_consent(&[no_proxy], &consent(), &[date], false).is_err());
        assert_eq!(
            check_against_consent(&[item(E2E), item(E2E)], &consent(), &[date], false)
                .unwrap_err()
                .code,
            PAGAMENTO_DIVERGENTE_CONSENTIMENTO
        );
        // Dated another day; a scheduled one not at 15:00.
        assert_eq!(
            check_against_consent(&[item(E2E)], &consent(), &[day("2026-01-28")], false)
                .unwrap_err()
                .code,
            rules::PARAMETRO_INVALIDO
        );
        // Late in Brasília, already tomorrow in UTC.
        assert!(
            check_against_consent(&[item(E2E)], &consent(), &[day("2026-01-29")], false).is_ok()
        );
        let at_one = "E9040088820260130013012345678901";
        assert!(check_against_consent(&[item(at_one)], &consent(), &[date], true).is_err());
        assert!(check_against_consent(&[item(E2E)], &consent(), &[date], true).is_ok());
    }
}
