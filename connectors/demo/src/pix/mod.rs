//! Pix payments at the demo bank: the rules that decide how a payment moves, written so every
//! payments 4.0.0 status can be produced on purpose.
//!
//! A payment is created `RCVD`, or `SCHD` when its `endToEndId` is a scheduling one (hour
//! `15` UTC, as the spec demands of scheduled payments, on a date after today in Brasília).
//! From then on it moves one step each [`PixRules::step`]:
//!
//! | from | to | when |
//! | --- | --- | --- |
//! | `RCVD` | `RJCT` `VALOR_ACIMA_LIMITE` | the amount is above [`PixRules::limit_cents`] |
//! | `RCVD` | `PDNG` (held for analysis, until cancelled) | the amount is in [`PixRules::pending_cents`] |
//! | `RCVD` | `RJCT` `PAGAMENTO_RECUSADO_SPI` | the amount is in [`PixRules::spi_refused_cents`] |
//! | `RCVD` | `RJCT` `FALHA_AGENDAMENTO_PAGAMENTOS` | the amount is in [`PixRules::unschedulable_cents`] (scheduled payments of such an amount are created `RCVD`, not `SCHD`: the bank could not schedule the request's payments, so all of them fail) |
//! | `RCVD` | `ACCP` | otherwise |
//! | `ACCP` | `ACPD` | always |
//! | `ACPD` | `ACSC`, the account debited | the available balance covers the amount |
//! | `ACPD` | `RJCT` `SALDO_INSUFICIENTE`, nothing debited | it does not |
//! | `SCHD` | as from `RCVD` | at 00:00 in Brasília of the scheduled date |
//!
//! A payment whose amount is in [`PixRules::invalid_charge_cents`] is refused at once (422
//! `COBRANCA_INVALIDA`: an expired or paid charge). `PDNG` and `SCHD` payments may be
//! cancelled (`CANC`). The debit is one conditional UPDATE
//! (`available >= amount`) in the same transaction as the `ACPD -> ACSC` compare-and-set, so
//! a payment is debited at most once and a balance never goes negative, however many callers
//! advance payments at the same time. Statuses advance lazily whenever a payment is read, and
//! in bulk through [`DemoBank::settle_due`](crate::DemoBank::settle_due).

pub(crate) mod accounts;
pub(crate) mod ledger;

use std::ops::RangeInclusive;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// The demo bank's ISPB (eight digits) in every `debtorAccount` it answers. It belongs to no
/// real institution.
pub const DEMO_ISPB: &str = "99999004";

/// How the demo bank settles Pix payments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixRules {
    /// Time between two automatic transitions (`RCVD -> ACCP -> ACPD -> ACSC`).
    pub step: Duration,
    /// The largest amount one payment may carry, in cents; above it the payment ends `RJCT`
    /// with `VALOR_ACIMA_LIMITE`.
    pub limit_cents: i64,
    /// Amounts (in cents) held in `PDNG` for analysis.
    pub pending_cents: RangeInclusive<i64>,
    /// Amounts (in cents) the SPI refuses: `RJCT` with `PAGAMENTO_RECUSADO_SPI`.
    pub spi_refused_cents: RangeInclusive<i64>,
    /// Amounts (in cents) of a charge that is no longer payable: refused at once with
    /// `COBRANCA_INVALIDA`.
    pub invalid_charge_cents: RangeInclusive<i64>,
    /// Amounts (in cents) of scheduled payments the bank fails to schedule: created `RCVD`
    /// instead of `SCHD`, then `RJCT` with `FALHA_AGENDAMENTO_PAGAMENTOS`.
    pub unschedulable_cents: RangeInclusive<i64>,
}

impl Default for PixRules {
    /// Half a second a step (`ACSC` 1.5 s after creation), a limit of R$ 10 000.00 per
    /// payment; amounts from R$ 1 234.00 to R$ 1 234.99 held for analysis, R$ 1 235.xx
    /// refused by the SPI, R$ 1 236.xx an invalid charge, R$ 1 237.xx unschedulable.
    fn default() -> Self {
        Self {
            step: Duration::from_millis(500),
            limit_cents: 1_000_000,
            pending_cents: 123_400..=123_499,
            spi_refused_cents: 123_500..=123_599,
            invalid_charge_cents: 123_600..=123_699,
            unschedulable_cents: 123_700..=123_799,
        }
    }
}

/// The statuses, as payments 4.0.0 writes them.
pub(crate) mod status {
    pub const RCVD: &str = "RCVD";
    pub const ACCP: &str = "ACCP";
    pub const ACPD: &str = "ACPD";
    pub const ACSC: &str = "ACSC";
    pub const RJCT: &str = "RJCT";
    pub const PDNG: &str = "PDNG";
    pub const SCHD: &str = "SCHD";
    pub const CANC: &str = "CANC";
}

/// Rejection reasons the bank produces, with the detail it gives.
pub(crate) mod reason {
    pub const INSUFFICIENT_FUNDS: &str = "SALDO_INSUFICIENTE";
    pub const ABOVE_LIMIT: &str = "VALOR_ACIMA_LIMITE";
    pub const SPI_REFUSED: &str = "PAGAMENTO_RECUSADO_SPI";
    pub const INVALID_CHARGE: &str = "COBRANCA_INVALIDA";
    pub const SCHEDULING_FAILED: &str = "FALHA_AGENDAMENTO_PAGAMENTOS";

    pub fn detail(code: &str) -> &'static str {
        match code {
            INSUFFICIENT_FUNDS => "Saldo insuficiente na conta de débito.",
            ABOVE_LIMIT => "Valor acima do limite por transação da detentora.",
            SPI_REFUSED => "Pagamento recusado no SPI.",
            INVALID_CHARGE => "Cobrança vencida, expirada ou já paga.",
            SCHEDULING_FAILED => "Não foi possível agendar todos os pagamentos da requisição.",
            _ => "Pagamento rejeitado pela detentora.",
        }
    }
}

/// What the next automatic transition does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Move to `status`, with the next transition due one step later (or never).
    To {
        status: &'static str,
        rejection: Option<&'static str>,
        then: bool,
    },
    /// `ACPD -> ACSC` with the debit, or `RJCT SALDO_INSUFICIENTE` without it.
    Settle,
}

impl PixRules {
    /// The transition due for a payment in `status` of `amount_cents`; `None` when nothing
    /// happens on its own.
    pub(crate) fn next(&self, status: &str, amount_cents: i64) -> Option<Step> {
        let to = |status, rejection, then| Step::To {
            status,
            rejection,
            then,
        };
        match status {
            status::RCVD | status::SCHD if amount_cents > self.limit_cents => {
                Some(to(status::RJCT, Some(reason::ABOVE_LIMIT), false))
            }
            status::RCVD | status::SCHD if self.pending_cents.contains(&amount_cents) => {
                Some(to(status::PDNG, None, false))
            }
            status::RCVD | status::SCHD if self.spi_refused_cents.contains(&amount_cents) => {
                Some(to(status::RJCT, Some(reason::SPI_REFUSED), false))
            }
            status::RCVD if self.unschedulable_cents.contains(&amount_cents) => {
                Some(to(status::RJCT, Some(reason::SCHEDULING_FAILED), false))
            }
            status::RCVD | status::SCHD => Some(to(status::ACCP, None, true)),
            status::ACCP => Some(to(status::ACPD, None, true)),
            status::ACPD => Some(Step::Settle),
            _ => None,
        }
    }

    pub(crate) fn step_ms(&self) -> i64 {
        i64::try_from(self.step.as_millis()).unwrap_or(i64::MAX)
    }
}

/// Whether a status allows cancelling, and the cancellation reason it gives.
pub(crate) fn cancellation_reason(status: &str) -> Option<&'static str> {
    match status {
        status::PDNG => Some("CANCELADO_PENDENCIA"),
        status::SCHD => Some("CANCELADO_AGENDAMENTO"),
        _ => None,
    }
}

/// `"1234.56"` in cents; `None` for anything but the spec's amount shape.
pub(crate) fn cents_of(amount: &str) -> Option<i64> {
    let (units, cents) = amount.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(units) || units.len() > 16 || cents.len() != 2 || !digits(cents) {
        return None;
    }
    units
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents.parse().ok()?)
}

/// The scheduled date of a payment whose `endToEndId` is a scheduling one: hour `15` UTC on a
/// date after `today` (Brasília). An immediate payment's `endToEndId` carries its submission
/// time, at most twelve hours ahead, which is never 15 UTC on a later Brasília date.
pub(crate) fn scheduled_date(end_to_end_id: &str, today: NaiveDate) -> Option<NaiveDate> {
    let stamp = end_to_end_id.get(9..21)?;
    let at = NaiveDateTime::parse_from_str(stamp, "%Y%m%d%H%M").ok()?;
    (stamp.get(8..10) == Some("15") && at.date() > today).then(|| at.date())
}

/// 00:00 in Brasília (UTC-3) of `date`, in Unix milliseconds: when a scheduled payment is
/// due.
pub(crate) fn start_of_day_ms(date: NaiveDate) -> i64 {
    let midnight = date.and_hms_opt(3, 0, 0).unwrap_or_default();
    Utc.from_utc_datetime(&midnight).timestamp_millis()
}

/// The spec's date-time: UTC, seconds, `Z`.
pub(crate) fn date_time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rejection_reason_has_its_amount() {
        let rules = PixRules::default();
        let ends = |status, cents| match rules.next(status, cents) {
            Some(Step::To {
                status, rejection, ..
            }) => (status, rejection),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            ends(status::RCVD, 123_550),
            (status::RJCT, Some(reason::SPI_REFUSED))
        );
        assert_eq!(
            ends(status::RCVD, 123_701),
            (status::RJCT, Some(reason::SCHEDULING_FAILED))
        );
        assert_eq!(ends(status::RCVD, 123_450), (status::PDNG, None));
        assert_eq!(
            ends(status::RCVD, 1_000_001),
            (status::RJCT, Some(reason::ABOVE_LIMIT))
        );
        assert_eq!(ends(status::RCVD, 100), (status::ACCP, None));
    }

    #[test]
    fn amounts_parse_to_cents() {
        assert_eq!(cents_of("1234.56"), Some(123_456));
        assert_eq!(cents_of("0.05"), Some(5));
        assert_eq!(cents_of("1234.5"), None);
        assert_eq!(cents_of("-1.00"), None);
        assert_eq!(cents_of(".10"), None);
    }

    #[test]
    fn only_scheduling_end_to_end_ids_schedule() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        let e2e = |stamp: &str| format!("E99999004{stamp}abcdefghijk");
        assert_eq!(
            scheduled_date(&e2e("202603151500"), today),
            NaiveDate::from_ymd_opt(2026, 3, 15)
        );
        // Immediate, submitted at 23:30 in Brasília (02:30 UTC the next day).
        assert_eq!(scheduled_date(&e2e("202603110230"), today), None);
        assert_eq!(scheduled_date(&e2e("202603101500"), today), None);
        assert_eq!(scheduled_date("short", today), None);
    }

    #[test]
    fn rules_produce_every_status() {
        let rules = PixRules::default();
        let status_after = |status, cents| match rules.next(status, cents) {
            Some(Step::To { status, .. }) => status,
            Some(Step::Settle) => "settle",
            None => "none",
        };
        assert_eq!(status_after(status::RCVD, 100), status::ACCP);
        assert_eq!(status_after(status::RCVD, 1_000_001), status::RJCT);
        assert_eq!(status_after(status::SCHD, 123_456), status::PDNG);
        assert_eq!(status_after(status::ACCP, 100), status::ACPD);
        assert_eq!(status_after(status::ACPD, 100), "settle");
        assert_eq!(status_after(status::PDNG, 100), "none");
        assert_eq!(cancellation_reason(status::ACSC), None);
    }
}
