//! Relative dates: the seed stores every date as an offset from today, and answers render
//! real dates at read time, so data seeded months ago still has this week's transactions.
//!
//! A seeded string that is a date token is replaced when rendered:
//! `@D<off>` → `YYYY-MM-DD`, `@T<off>@HH:MM:SS` → `YYYY-MM-DDTHH:MM:SSZ`,
//! `@M<off>@HH:MM:SS` → `YYYY-MM-DDTHH:MM:SS.000Z` (the millisecond form some schemas demand),
//! `@NOW` → the current instant without milliseconds. `<off>` is a signed day count
//! (negative in the past), e.g. `@D-30`, `@D+5`, `@D0`.

use chrono::{Duration, NaiveDate, Utc};
use serde_json::Value;

/// "Today" for the bank: Brasília time (UTC-3, no daylight saving since 2019).
pub fn today() -> NaiveDate {
    (Utc::now() - Duration::hours(3)).date_naive()
}

/// Days from today to `date` (negative in the past).
pub fn offset_of(date: NaiveDate) -> i32 {
    i32::try_from((date - today()).num_days()).unwrap_or(i32::MIN)
}

/// Parses a `YYYY-MM-DD` filter value into an offset from today.
pub fn parse_offset(text: &str) -> Option<i32> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(offset_of)
}

/// A date token for `off` days from today.
pub fn day(off: i32) -> String {
    format!("@D{off:+}")
}

/// A date-time token (no milliseconds).
pub fn at(off: i32, hms: &str) -> String {
    format!("@T{off:+}@{hms}")
}

/// A date-time token with milliseconds.
pub fn at_ms(off: i32, hms: &str) -> String {
    format!("@M{off:+}@{hms}")
}

/// The current instant token.
pub const NOW: &str = "@NOW";

/// Replaces every date token inside `value`, relative to `today`.
pub fn render(value: &mut Value, today: NaiveDate) {
    match value {
        Value::String(text) => {
            if let Some(real) = render_token(text, today) {
                *text = real;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| render(item, today)),
        Value::Object(map) => map.values_mut().for_each(|item| render(item, today)),
        _ => {}
    }
}

fn render_token(text: &str, today: NaiveDate) -> Option<String> {
    if text == NOW {
        return Some(Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
    }
    let rest = text.strip_prefix('@')?;
    let kind = rest.chars().next()?;
    let body = &rest[1..];
    let (off, time) = match body.split_once('@') {
        Some((off, time)) => (off, Some(time)),
        None => (body, None),
    };
    let date = today + Duration::days(off.parse::<i64>().ok()?);
    let date = date.format("%Y-%m-%d");
    match (kind, time) {
        ('D', None) => Some(date.to_string()),
        ('T', Some(time)) => Some(format!("{date}T{time}Z")),
        ('M', Some(time)) => Some(format!("{date}T{time}.000Z")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_render_relative_to_today() {
        let today = NaiveDate::from_ymd_opt(2025, 3, 10).unwrap();
        let mut value = serde_json::json!({
            "a": day(-10), "b": [at(2, "10:00:00")], "c": at_ms(0, "23:59:01"), "d": "@Dx", "e": "plain"
        });
        render(&mut value, today);
        assert_eq!(value["a"], "2025-02-28");
        assert_eq!(value["b"][0], "2025-03-12T10:00:00Z");
        assert_eq!(value["c"], "2025-03-10T23:59:01.000Z");
        assert_eq!(value["d"], "@Dx");
        assert_eq!(value["e"], "plain");
    }
}
