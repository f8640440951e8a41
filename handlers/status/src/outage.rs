//! An outage as the rest of the crate reads it: its kind, the window it is in effect, and
//! which endpoints it touches.
//!
//! A scheduled outage is in effect from its start to its announced end, or to the moment an
//! operator ends it early; it can never outlast what was announced (work that overruns is a
//! declared or detected outage, and counts as downtime). Ended before it began, it was
//! cancelled. Declared and detected outages run from their start until ended.

use crate::entity::outage;
use crate::error::{Result, StatusError};

/// Where an outage came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutageKind {
    /// Announced ahead within the announcement rules; not counted as downtime.
    Scheduled,
    /// Declared by an operator as it happens; counted as downtime.
    Declared,
    /// Opened by the health checker; counted as downtime.
    Detected,
}

impl OutageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "SCHEDULED",
            Self::Declared => "DECLARED",
            Self::Detected => "DETECTED",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "SCHEDULED" => Some(Self::Scheduled),
            "DECLARED" => Some(Self::Declared),
            "DETECTED" => Some(Self::Detected),
            _ => None,
        }
    }
}

/// Where an outage stands at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Upcoming,
    InProgress,
    Ended,
    Cancelled,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upcoming => "UPCOMING",
            Self::InProgress => "IN_PROGRESS",
            Self::Ended => "ENDED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

/// One entry of the outage register. Times are unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    pub id: String,
    pub kind: OutageKind,
    pub starts_at: i64,
    pub expected_end_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// Only some endpoints are affected (those of `families` and `unavailable_endpoints`).
    pub is_partial: bool,
    pub families: Vec<String>,
    pub unavailable_endpoints: Vec<String>,
    pub explanation: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Outage {
    pub(crate) fn from_row(row: outage::Model) -> Result<Self> {
        let corrupt = |what: &str| StatusError::Corrupt(format!("outage {}: {what}", row.id));
        let kind = OutageKind::parse(&row.kind).ok_or_else(|| corrupt("kind"))?;
        let families: Vec<String> =
            serde_json::from_str(&row.families).map_err(|_| corrupt("families"))?;
        let unavailable_endpoints: Vec<String> = serde_json::from_str(&row.unavailable_endpoints)
            .map_err(|_| corrupt("unavailable endpoints"))?;
        Ok(Self {
            id: row.id,
            kind,
            starts_at: row.starts_at,
            expected_end_at: row.expected_end_at,
            ended_at: row.ended_at,
            is_partial: row.is_partial,
            families,
            unavailable_endpoints,
            explanation: row.explanation,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    pub fn is_scheduled(&self) -> bool {
        self.kind == OutageKind::Scheduled
    }

    /// The window `[start, end)` it is in effect (`end` is `i64::MAX` while open-ended);
    /// `None` when it was cancelled.
    pub fn window(&self) -> Option<(i64, i64)> {
        let ended = self.ended_at.unwrap_or(i64::MAX);
        let end = if self.is_scheduled() {
            ended.min(self.expected_end_at.unwrap_or(self.starts_at))
        } else {
            ended
        };
        (end > self.starts_at).then_some((self.starts_at, end))
    }

    pub fn phase(&self, now: i64) -> Phase {
        match self.window() {
            None => Phase::Cancelled,
            Some((start, _)) if now < start => Phase::Upcoming,
            Some((_, end)) if now < end => Phase::InProgress,
            Some(_) => Phase::Ended,
        }
    }

    pub fn in_effect(&self, now: i64) -> bool {
        self.phase(now) == Phase::InProgress
    }

    /// The part of its window inside `[from, to)`, if any.
    pub fn clipped(&self, from: i64, to: i64) -> Option<(i64, i64)> {
        let (start, end) = self.window()?;
        let (start, end) = (start.max(from), end.min(to));
        (end > start).then_some((start, end))
    }

    /// Whether it makes `endpoint` (a templated path, `/open-banking/accounts/v2/accounts`)
    /// of `family` unavailable.
    pub fn affects(&self, endpoint: &str, family: &str) -> bool {
        !self.is_partial
            || self.families.iter().any(|f| f == family)
            || self
                .unavailable_endpoints
                .iter()
                .any(|u| path_covers(path_of(u), endpoint))
    }

    /// Whether it covers a whole family: named, or every one of `endpoints` covered.
    pub fn covers_family(&self, family: &str, endpoints: &[String]) -> bool {
        !self.is_partial
            || self.families.iter().any(|f| f == family)
            || (!endpoints.is_empty()
                && endpoints.iter().all(|e| {
                    self.unavailable_endpoints
                        .iter()
                        .any(|u| path_covers(path_of(u), path_of(e)))
                }))
    }
}

/// The path of a URL (`https://bank/open-banking/x` gives `/open-banking/x`), or the value
/// itself when it is a path already; the query is dropped.
pub fn path_of(value: &str) -> &str {
    let path = match value.find("://") {
        Some(scheme_end) => {
            let rest = &value[scheme_end + 3..];
            rest.find('/').map_or("/", |slash| &rest[slash..])
        }
        None => value,
    };
    path.split(['?', '#']).next().unwrap_or(path)
}

/// `prefix` is `path` or one of its ancestors, segment-wise.
fn path_covers(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outage(
        kind: OutageKind,
        starts_at: i64,
        expected: Option<i64>,
        ended: Option<i64>,
    ) -> Outage {
        Outage {
            id: "o".into(),
            kind,
            starts_at,
            expected_end_at: expected,
            ended_at: ended,
            is_partial: true,
            families: vec!["accounts".into()],
            unavailable_endpoints: vec!["https://bank.example/open-banking/payments/v4".into()],
            explanation: "x".into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn windows_and_phases() {
        let s = outage(OutageKind::Scheduled, 100, Some(200), None);
        assert_eq!(s.window(), Some((100, 200)));
        assert_eq!(s.phase(99), Phase::Upcoming);
        assert_eq!(s.phase(100), Phase::InProgress);
        assert_eq!(s.phase(200), Phase::Ended);
        // Ended early; ended later than announced is still the announced window.
        assert_eq!(
            outage(OutageKind::Scheduled, 100, Some(200), Some(150)).window(),
            Some((100, 150))
        );
        assert_eq!(
            outage(OutageKind::Scheduled, 100, Some(200), Some(250)).window(),
            Some((100, 200))
        );
        let cancelled = outage(OutageKind::Scheduled, 100, Some(200), Some(50));
        assert_eq!(cancelled.phase(150), Phase::Cancelled);
        assert_eq!(cancelled.clipped(0, 1_000), None);
        let d = outage(OutageKind::Detected, 100, None, None);
        assert_eq!(d.window(), Some((100, i64::MAX)));
        assert_eq!(d.clipped(0, 150), Some((100, 150)));
        assert_eq!(d.phase(10_000), Phase::InProgress);
    }

    #[test]
    fn scope() {
        let o = outage(OutageKind::Declared, 0, None, None);
        assert!(o.affects("/open-banking/accounts/v2/accounts", "accounts"));
        assert!(o.affects("/open-banking/payments/v4/pix/payments", "payments"));
        assert!(o.affects("/open-banking/payments/v4", "payments"));
        assert!(!o.affects("/open-banking/payments/v40/x", "payments"));
        assert!(!o.affects("/open-banking/consents/v3/consents", "consents"));
        assert!(o.covers_family("payments", &["https://h/open-banking/payments/v4".into()]));
        assert!(!o.covers_family("consents", &["/open-banking/consents/v3".into()]));
        assert!(!o.covers_family("consents", &[]));
        let total = Outage {
            is_partial: false,
            ..o
        };
        assert!(total.affects("/anything", "x"));
        assert_eq!(path_of("https://h:8443/a/b?x=1"), "/a/b");
        assert_eq!(path_of("https://h"), "/");
        assert_eq!(path_of("/a/b"), "/a/b");
    }
}
