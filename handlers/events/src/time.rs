//! Timestamps as subscribers read them.

use chrono::{DateTime, SecondsFormat, Utc};

/// Unix milliseconds as RFC 3339 in UTC with milliseconds (`2026-01-02T03:04:05.678Z`).
pub fn rfc3339(unix_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(unix_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}
