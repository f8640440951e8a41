//! Time: the injectable [`Clock`] and the date-time format of consents 3.3.1 (RFC 3339, UTC,
//! whole seconds, `Z`).

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, NaiveDateTime, Utc};

/// Where "now" comes from; tests drive a [`ManualClock`].
pub trait Clock: Send + Sync + 'static {
    /// Unix seconds.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        Utc::now().timestamp()
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now: i64) -> Self {
        Self(AtomicI64::new(now))
    }

    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// `2021-05-21T08:30:00Z`.
pub fn format(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Parses a spec date-time (the generated model already checked its pattern); `None` when it
/// does not name a real instant.
pub fn parse(value: &str) -> Option<i64> {
    if let Ok(t) = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%SZ") {
        return Some(t.and_utc().timestamp());
    }
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(format(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse("2300-01-01T00:00:00Z"), Some(10_413_792_000));
        assert_eq!(parse(&format(1_700_000_000)), Some(1_700_000_000));
        assert_eq!(parse("2021-02-30T00:00:00Z"), None);
        assert_eq!(parse("2021-5-1T08:30:00Z"), Some(1_619_857_800));
    }
}
