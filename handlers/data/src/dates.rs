//! Date filters of the transaction and bill reads: both ends or neither, in order, within the
//! window each endpoint allows (accounts 2.4.2 and credit-cards 2.3.1 parameter
//! descriptions: "today" when absent; transactions-current within D-6).

use chrono::{Months, NaiveDate, Utc};

use crate::refusal::Refusal;

/// Today in Brazil (UTC-3, no daylight saving since 2019), the calendar the specs' dates use.
pub fn today() -> NaiveDate {
    (Utc::now() - chrono::Duration::hours(3)).date_naive()
}

/// How far a date filter may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Twelve months back and twelve ahead (transactions).
    Year,
    /// Seven days including today (D-6) back, twelve months ahead (transactions-current).
    Week,
    /// Any dates in order (bills' due dates).
    Any,
}

/// The checked period: both ends, defaulting to today when neither is sent.
pub fn period(
    from: Option<&str>,
    to: Option<&str>,
    names: (&str, &str),
    window: Window,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate), Refusal> {
    let parse = |value: &str, name: &str| {
        NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map_err(|_| Refusal::invalid(format!("{name} is not a date")))
    };
    let (from, to) = match (from, to) {
        (None, None) => (today, today),
        (Some(from), Some(to)) => (parse(from, names.0)?, parse(to, names.1)?),
        (Some(_), None) => {
            return Err(Refusal::missing(format!(
                "{} is required with {}",
                names.1, names.0
            )));
        }
        (None, Some(_)) => {
            return Err(Refusal::missing(format!(
                "{} is required with {}",
                names.0, names.1
            )));
        }
    };
    if from > to {
        return Err(Refusal::invalid(format!(
            "{} is after {}",
            names.0, names.1
        )));
    }
    let ahead = today.checked_add_months(Months::new(12)).unwrap_or(today);
    let earliest = match window {
        Window::Any => return Ok((from, to)),
        Window::Year => today.checked_sub_months(Months::new(12)).unwrap_or(today),
        Window::Week => today - chrono::Duration::days(6),
    };
    if from < earliest || to > ahead {
        return Err(Refusal::invalid(format!(
            "the period must lie between {earliest} and {ahead}"
        )));
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: (&str, &str) = ("fromBookingDate", "toBookingDate");

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn current_transactions_stay_within_seven_days() {
        let today = day("2024-05-20");
        assert_eq!(
            period(None, None, NAMES, Window::Week, today).unwrap(),
            (today, today)
        );
        assert!(
            period(
                Some("2024-05-14"),
                Some("2024-05-20"),
                NAMES,
                Window::Week,
                today
            )
            .is_ok()
        );
        let refused = period(
            Some("2024-05-13"),
            Some("2024-05-20"),
            NAMES,
            Window::Week,
            today,
        )
        .unwrap_err();
        assert_eq!(refused.status, 422);
    }

    #[test]
    fn ends_come_together_and_in_order() {
        let today = day("2024-05-20");
        let one = period(Some("2024-05-01"), None, NAMES, Window::Year, today).unwrap_err();
        assert_eq!(
            (one.status, one.code.as_ref()),
            (422, "PARAMETRO_NAO_INFORMADO")
        );
        let reversed = period(
            Some("2024-05-10"),
            Some("2024-05-01"),
            NAMES,
            Window::Year,
            today,
        )
        .unwrap_err();
        assert_eq!(reversed.status, 422);
        assert!(
            period(
                Some("2023-05-20"),
                Some("2024-05-20"),
                NAMES,
                Window::Year,
                today
            )
            .is_ok()
        );
        assert!(
            period(
                Some("2023-05-19"),
                Some("2024-05-20"),
                NAMES,
                Window::Year,
                today
            )
            .is_err()
        );
        assert!(
            period(
                Some("2020-01-01"),
                Some("2030-01-01"),
                NAMES,
                Window::Any,
                today
            )
            .is_ok()
        );
    }
}
