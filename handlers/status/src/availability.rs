//! Availability from the outage register.
//!
//! Downtime is the time an unscheduled outage (declared or detected) was in effect; the time
//! a scheduled outage was in effect is reported apart and not counted, as §4 says of
//! announced windows. An unscheduled outage overlapping a scheduled window counts only
//! outside it. The uptime rate of a period is `1 - downtime / period`, where the period of
//! today is the part that has elapsed.
//!
//! Two scopes: *general* (the platform: any unscheduled outage, total or partial, is
//! downtime — "all services up at once"; only total scheduled windows are taken out of it)
//! and *endpoint* (only outages that affect that endpoint).

use crate::outage::Outage;
use crate::time;

/// Daily target of §4: 95%.
pub const DAILY_TARGET_PERCENT: i64 = 95;
/// Rolling target of §4: 99.5% over 90 days, in tenths of a percent.
pub const ROLLING_TARGET_PERMILLE: i64 = 995;
/// The rolling window, in days.
pub const ROLLING_DAYS: i64 = 90;

/// Whose availability.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    General,
    Endpoint { path: &'a str, family: &'a str },
}

/// Seconds of a period, split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Downtime {
    /// Unscheduled: counted against availability.
    pub unscheduled: i64,
    /// Inside scheduled windows: not counted.
    pub scheduled: i64,
}

/// The downtime of `scope` over `[from, min(to, now))`.
pub fn downtime(outages: &[Outage], from: i64, to: i64, now: i64, scope: Scope<'_>) -> Downtime {
    let to = to.min(now);
    if to <= from {
        return Downtime::default();
    }
    let mut unscheduled = Vec::new();
    let mut scheduled = Vec::new();
    let mut excused = Vec::new();
    for outage in outages {
        let affects = match scope {
            Scope::General => true,
            Scope::Endpoint { path, family } => outage.affects(path, family),
        };
        let Some(span) = outage.clipped(from, to).filter(|_| affects) else {
            continue;
        };
        if !outage.is_scheduled() {
            unscheduled.push(span);
            continue;
        }
        scheduled.push(span);
        if matches!(scope, Scope::Endpoint { .. }) || !outage.is_partial {
            excused.push(span);
        }
    }
    let unscheduled = merge(unscheduled);
    let excused = merge(excused);
    Downtime {
        unscheduled: length(&unscheduled) - overlap(&unscheduled, &excused),
        scheduled: length(&merge(scheduled)),
    }
}

/// Sorted, disjoint spans covering the same time.
fn merge(mut spans: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    spans.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

fn length(spans: &[(i64, i64)]) -> i64 {
    spans.iter().map(|(s, e)| e - s).sum()
}

/// Time common to two merged span lists.
fn overlap(a: &[(i64, i64)], b: &[(i64, i64)]) -> i64 {
    let (mut i, mut j, mut total) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        let start = a[i].0.max(b[j].0);
        let end = a[i].1.min(b[j].1);
        total += (end - start).max(0);
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    total
}

/// One Brasília day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayAvailability {
    /// `2026-05-21`.
    pub date: String,
    /// Seconds counted: 86 400, or what has elapsed of today.
    pub period: i64,
    pub downtime: Downtime,
    /// `0.958333`.
    pub uptime_rate: String,
    pub meets_target: bool,
}

/// The rolling 90 days ending now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollingAvailability {
    pub from: i64,
    pub to: i64,
    pub downtime: Downtime,
    pub uptime_rate: String,
    pub meets_target: bool,
}

/// Daily figures (today first) and the rolling window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityReport {
    pub days: Vec<DayAvailability>,
    pub rolling: RollingAvailability,
}

/// The general availability of the last `days` Brasília days (today first, so far) and of
/// the 90 days ending `now`, from `outages` covering that time.
pub fn report(outages: &[Outage], now: i64, days: u32) -> AvailabilityReport {
    let today = time::day_start(now);
    let days = (0..i64::from(days))
        .map(|back| {
            let start = today - back * time::DAY;
            let period = (start + time::DAY).min(now) - start;
            let downtime = downtime(outages, start, start + time::DAY, now, Scope::General);
            let up = period - downtime.unscheduled;
            DayAvailability {
                date: time::brasilia_date(start),
                period,
                downtime,
                uptime_rate: time::rate(up, period),
                meets_target: up * 100 >= DAILY_TARGET_PERCENT * period,
            }
        })
        .collect();
    let from = now - ROLLING_DAYS * time::DAY;
    let downtime = downtime(outages, from, now, now, Scope::General);
    let period = now - from;
    let up = period - downtime.unscheduled;
    AvailabilityReport {
        days,
        rolling: RollingAvailability {
            from,
            to: now,
            downtime,
            uptime_rate: time::rate(up, period),
            meets_target: up * 1_000 >= ROLLING_TARGET_PERMILLE * period,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outage::OutageKind;

    fn outage(kind: OutageKind, start: i64, end: i64, families: &[&str]) -> Outage {
        Outage {
            id: format!("{start}"),
            kind,
            starts_at: start,
            expected_end_at: (kind == OutageKind::Scheduled).then_some(end),
            ended_at: Some(end),
            is_partial: !families.is_empty(),
            families: families.iter().map(|f| f.to_string()).collect(),
            unavailable_endpoints: Vec::new(),
            explanation: "x".into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn spans() {
        assert_eq!(
            merge(vec![(5, 8), (1, 3), (2, 4), (8, 9)]),
            vec![(1, 4), (5, 9)]
        );
        assert_eq!(overlap(&[(0, 10), (20, 30)], &[(5, 25)]), 10);
        assert_eq!(overlap(&[(0, 10)], &[]), 0);
    }

    #[test]
    fn scheduled_windows_excuse_unscheduled_time() {
        use OutageKind::*;
        let outages = vec![
            outage(Detected, 100, 200, &[]),
            outage(Declared, 150, 300, &["accounts"]),
            outage(Scheduled, 250, 400, &[]),
            outage(Scheduled, 500, 600, &["payments"]),
            outage(Detected, 550, 650, &["payments"]),
        ];
        // General: [100, 300) minus [250, 400) plus [550, 650) (a partial window excuses
        // nothing platform-wide).
        assert_eq!(
            downtime(&outages, 0, 1_000, 1_000, Scope::General),
            Downtime {
                unscheduled: 150 + 100,
                scheduled: 150 + 100
            }
        );
        let payments = Scope::Endpoint {
            path: "/p",
            family: "payments",
        };
        // Payments: [100, 200) and, outside its window [500, 600), [600, 650).
        assert_eq!(
            downtime(&outages, 0, 1_000, 1_000, payments),
            Downtime {
                unscheduled: 100 + 50,
                scheduled: 150 + 100
            }
        );
        let accounts = Scope::Endpoint {
            path: "/a",
            family: "accounts",
        };
        assert_eq!(
            downtime(&outages, 0, 1_000, 1_000, accounts),
            Downtime {
                unscheduled: 150,
                scheduled: 150
            }
        );
        // Clipped at now and at the period.
        assert_eq!(
            downtime(&outages, 120, 1_000, 180, Scope::General).unscheduled,
            60
        );
    }

    #[test]
    fn daily_and_rolling_targets() {
        let now = time::parse("2026-05-21T15:00:00Z").unwrap();
        let today = time::day_start(now);
        let yesterday = today - time::DAY;
        // 4 320 s (5%) yesterday: just meets 95%. 30 s today.
        let outages = vec![
            outage(OutageKind::Detected, yesterday + 10, yesterday + 4_330, &[]),
            outage(OutageKind::Detected, today + 60, today + 90, &[]),
        ];
        let report = report(&outages, now, 3);
        assert_eq!(report.days.len(), 3);
        assert_eq!(report.days[0].date, "2026-05-21");
        assert_eq!(report.days[0].period, 12 * 3_600);
        assert_eq!(report.days[0].downtime.unscheduled, 30);
        assert_eq!(report.days[0].uptime_rate, "0.999305");
        assert_eq!(report.days[1].uptime_rate, "0.950000");
        assert!(report.days[1].meets_target);
        assert_eq!(report.days[2].uptime_rate, "1.000000");
        // 4 350 s over 90 days: 0.999440, meets 99.5%.
        assert_eq!(report.rolling.downtime.unscheduled, 4_350);
        assert_eq!(report.rolling.uptime_rate, "0.999440");
        assert!(report.rolling.meets_target);
    }
}
