//! Time as the regulation counts it: days are Brasília calendar days (UTC-3, no daylight
//! saving since 2019), instants are written as the specs write them (UTC, whole seconds, `Z`),
//! and planned durations as ISO 8601 (`PT2H30M`).

use chrono::{DateTime, NaiveDateTime, Utc};

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// Brasília's offset from UTC, in seconds.
pub const BRASILIA_OFFSET: i64 = -3 * 3_600;

/// The start (unix seconds) of the Brasília day that contains `t`.
pub fn day_start(t: i64) -> i64 {
    let local = t + BRASILIA_OFFSET;
    local.div_euclid(DAY) * DAY - BRASILIA_OFFSET
}

/// The Brasília calendar date of `t`, `2026-05-21`.
pub fn brasilia_date(t: i64) -> String {
    local(t).format("%Y-%m-%d").to_string()
}

/// The Brasília calendar month of `t`, `2026-05`.
pub fn brasilia_month(t: i64) -> String {
    local(t).format("%Y-%m").to_string()
}

fn local(t: i64) -> NaiveDateTime {
    DateTime::<Utc>::from_timestamp(t + BRASILIA_OFFSET, 0)
        .unwrap_or_default()
        .naive_utc()
}

/// `2021-05-21T08:30:00Z`.
pub fn format(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// An RFC 3339 instant (any offset) as unix seconds; `None` when it names no real instant.
pub fn parse(value: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(value.trim())
        .ok()
        .map(|t| t.timestamp())
}

/// A non-negative number of seconds as an ISO 8601 duration: `PT2H30M`, `PT45S`, `PT0S`.
pub fn iso_duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (hours, minutes, secs) = (seconds / 3_600, seconds % 3_600 / 60, seconds % 60);
    let mut text = String::from("PT");
    if hours > 0 {
        text.push_str(&format!("{hours}H"));
    }
    if minutes > 0 {
        text.push_str(&format!("{minutes}M"));
    }
    if secs > 0 || seconds == 0 {
        text.push_str(&format!("{secs}S"));
    }
    text
}

/// A rate in `[0, 1]` as the admin spec writes it (`^\d{1}\.\d{6}$`), rounded down so a day
/// with any downtime never reads as `1.000000`.
pub fn rate(up: i64, period: i64) -> String {
    let micros = if period <= 0 {
        1_000_000
    } else {
        let up = up.clamp(0, period);
        ((i128::from(up) * 1_000_000) / i128::from(period)) as i64
    };
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brasilia_days_start_at_three_utc() {
        // 2026-05-21T02:59:59Z is still 2026-05-20 in Brasília.
        let t = parse("2026-05-21T02:59:59Z").unwrap();
        assert_eq!(format(day_start(t)), "2026-05-20T03:00:00Z");
        assert_eq!(brasilia_date(t), "2026-05-20");
        let t = parse("2026-05-21T03:00:00Z").unwrap();
        assert_eq!(format(day_start(t)), "2026-05-21T03:00:00Z");
        assert_eq!(
            brasilia_month(parse("2026-06-01T02:00:00Z").unwrap()),
            "2026-05"
        );
    }

    #[test]
    fn formats() {
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            parse("2026-05-21T05:30:00-03:00"),
            parse("2026-05-21T08:30:00Z")
        );
        assert_eq!(parse("2026-02-30T00:00:00Z"), None);
        assert_eq!(iso_duration(9_000), "PT2H30M");
        assert_eq!(iso_duration(3_601), "PT1H1S");
        assert_eq!(iso_duration(0), "PT0S");
        assert_eq!(rate(86_400, 86_400), "1.000000");
        assert_eq!(rate(86_399, 86_400), "0.999988");
        assert_eq!(rate(0, 86_400), "0.000000");
        assert_eq!(rate(5, 0), "1.000000");
    }
}
