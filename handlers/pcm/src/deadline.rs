//! The PCM deadline: reports of day D (Brasília time) must reach the PCM by 08:00 on D+1;
//! five missed-deadline notices make an institution non-compliant (requirements §5.1). A
//! check counts yesterday's calls still unreported once the warning hour has come (at risk),
//! and calls whose deadline has already passed (late), logs a warning or an error, and keeps
//! both figures in the metrics.

use chrono::{DateTime, Duration, FixedOffset, NaiveTime, TimeZone, Utc};
use sea_orm::DatabaseConnection;

use crate::Result;
use crate::metrics::PcmMetrics;

/// The hour of D+1 by which day D must be reported, Brasília time.
pub const DEADLINE_HOUR: u32 = 8;

/// Brasília time: UTC-3 all year (no daylight saving since 2019).
pub fn brasilia() -> FixedOffset {
    FixedOffset::west_opt(3 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"))
}

/// What a check found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeadlineStatus {
    /// Yesterday's calls unreported, between the warning hour and 08:00.
    pub at_risk: u64,
    /// Calls unreported past their 08:00 D+1 deadline.
    pub late: u64,
}

/// The windows (unix ms) a check at `now` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Windows {
    /// Calls received before this are late.
    late_before: i64,
    /// Calls received in this range are at risk (empty outside the warning period).
    at_risk: (i64, i64),
}

fn windows(now: DateTime<Utc>, warn_from: NaiveTime) -> Windows {
    let zone = brasilia();
    let local = now.with_timezone(&zone);
    let midnight = zone
        .from_local_datetime(&local.date_naive().and_time(NaiveTime::MIN))
        .single()
        .map_or(now, |t| t.with_timezone(&Utc));
    let today = midnight.timestamp_millis();
    let yesterday = (midnight - Duration::days(1)).timestamp_millis();
    let deadline = midnight + Duration::hours(i64::from(DEADLINE_HOUR));
    let warning = midnight + (warn_from - NaiveTime::MIN);
    if now >= deadline {
        Windows {
            late_before: today,
            at_risk: (today, today),
        }
    } else if now >= warning {
        Windows {
            late_before: yesterday,
            at_risk: (yesterday, today),
        }
    } else {
        Windows {
            late_before: yesterday,
            at_risk: (yesterday, yesterday),
        }
    }
}

/// Checks the backlog against the deadline at `now`, warning from `warn_from` (Brasília time)
/// on D+1; logs and records the result in `metrics`.
pub async fn check(
    db: &DatabaseConnection,
    metrics: &PcmMetrics,
    now: DateTime<Utc>,
    warn_from: NaiveTime,
) -> Result<DeadlineStatus> {
    let w = windows(now, warn_from);
    let late = crate::outbox::pending_received(db, i64::MIN, w.late_before).await?;
    let at_risk = if w.at_risk.0 < w.at_risk.1 {
        crate::outbox::pending_received(db, w.at_risk.0, w.at_risk.1).await?
    } else {
        0
    };
    if late > 0 {
        tracing::error!(
            late,
            "PCM reports past their 08:00 D+1 deadline are still unsent"
        );
    }
    if at_risk > 0 {
        tracing::warn!(
            at_risk,
            "yesterday's PCM reports are still unsent and due by 08:00 (Brasília)"
        );
    }
    metrics.deadline(at_risk, late);
    Ok(DeadlineStatus { at_risk, late })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn ms(rfc3339: &str) -> i64 {
        at(rfc3339).timestamp_millis()
    }

    const SIX: NaiveTime = NaiveTime::from_hms_opt(6, 0, 0).unwrap();

    #[test]
    fn before_the_warning_hour_only_older_days_are_late() {
        let w = windows(at("2026-03-11T05:59:00-03:00"), SIX);
        assert_eq!(w.late_before, ms("2026-03-10T00:00:00-03:00"));
        assert_eq!(w.at_risk.0, w.at_risk.1, "nothing at risk yet");
    }

    #[test]
    fn between_the_warning_hour_and_eight_yesterday_is_at_risk() {
        let w = windows(at("2026-03-11T06:30:00-03:00"), SIX);
        assert_eq!(w.late_before, ms("2026-03-10T00:00:00-03:00"));
        assert_eq!(
            w.at_risk,
            (
                ms("2026-03-10T00:00:00-03:00"),
                ms("2026-03-11T00:00:00-03:00")
            )
        );
    }

    #[test]
    fn from_eight_yesterday_is_late() {
        let w = windows(at("2026-03-11T08:00:00-03:00"), SIX);
        assert_eq!(w.late_before, ms("2026-03-11T00:00:00-03:00"));
        assert_eq!(w.at_risk.0, w.at_risk.1);
    }

    #[test]
    fn the_day_is_brasilia_s_not_utc_s() {
        // 01:30 UTC on the 11th is 22:30 on the 10th in Brasília: the 9th's deadline has
        // passed, the 10th is still today.
        let w = windows(at("2026-03-11T01:30:00Z"), SIX);
        assert_eq!(w.late_before, ms("2026-03-10T00:00:00-03:00"));
    }
}
