//! The rules an operator's request must meet, and the refusals when it does not.
//!
//! Announcing a scheduled outage (requirements §4, the SLA rules the status/outages APIs came
//! with): it is announced at least a week ahead, lasts at most three hours, falls inside the
//! 01:00–07:00 Brasília window of one night, and there is one per calendar month (Brasília).
//! An outage that meets them is not counted as downtime; anything else the bank needs to do
//! is declared as an unscheduled outage, which counts.

use crate::time;

/// The announcement rules; [`Default`] is what §4 says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulingRules {
    /// How far ahead of its start an outage must be announced, in seconds.
    pub notice: i64,
    /// The longest window, in seconds.
    pub max_duration: i64,
    /// The window opens this many seconds into the Brasília day...
    pub window_opens: i64,
    /// ...and closes this many seconds into it.
    pub window_closes: i64,
}

impl Default for SchedulingRules {
    fn default() -> Self {
        Self {
            notice: 7 * time::DAY,
            max_duration: 3 * 3_600,
            window_opens: 3_600,
            window_closes: 7 * 3_600,
        }
    }
}

impl SchedulingRules {
    /// Checks a window `[start, end)` announced at `now`. The one-per-month rule is the
    /// register's (a unique key), not checked here.
    pub fn check(&self, now: i64, start: i64, end: i64) -> Result<(), Refusal> {
        if end <= start {
            return Err(Refusal::EmptyWindow);
        }
        if start - now < self.notice {
            return Err(Refusal::TooLate);
        }
        if end - start > self.max_duration {
            return Err(Refusal::TooLong);
        }
        let day = time::day_start(start);
        let inside = time::day_start(end - 1) == day
            && start - day >= self.window_opens
            && end - day <= self.window_closes;
        if !inside {
            return Err(Refusal::OutsideWindow);
        }
        Ok(())
    }
}

/// Why an operator's request was refused; every variant is answered with a 4xx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The end is not after the start.
    EmptyWindow,
    /// Announced less than the notice ahead.
    TooLate,
    /// Longer than the longest window.
    TooLong,
    /// Not inside the night window.
    OutsideWindow,
    /// The month already has a scheduled outage.
    MonthTaken,
    /// No outage with this id.
    NotFound,
    /// It has already ended or was cancelled.
    AlreadyOver,
    /// A scheduled outage keeps its announced window (cancel it and announce another).
    Scheduled,
    /// A field that cannot be used as given.
    Invalid(&'static str),
}

impl Refusal {
    /// A sentence for the operator.
    pub fn message(&self) -> String {
        match self {
            Self::EmptyWindow => "the end must be after the start".into(),
            Self::TooLate => "a scheduled outage must be announced at least a week ahead".into(),
            Self::TooLong => "a scheduled outage lasts at most three hours".into(),
            Self::OutsideWindow => {
                "a scheduled outage must fall between 01:00 and 07:00 (Brasília) of one night"
                    .into()
            }
            Self::MonthTaken => "this month already has a scheduled outage".into(),
            Self::NotFound => "no outage with this id".into(),
            Self::AlreadyOver => "the outage has already ended or was cancelled".into(),
            Self::Scheduled => {
                "a scheduled outage keeps its announced window: cancel it and announce another"
                    .into()
            }
            Self::Invalid(what) => (*what).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_of_section_4() {
        let rules = SchedulingRules::default();
        let now = time::parse("2026-05-01T12:00:00Z").unwrap();
        let at = |s: &str| time::parse(s).unwrap();
        // 02:00–04:00 Brasília, eight days ahead.
        let (start, end) = (at("2026-05-09T05:00:00Z"), at("2026-05-09T07:00:00Z"));
        assert_eq!(rules.check(now, start, end), Ok(()));
        // The whole window, exactly.
        assert_eq!(
            rules.check(now, at("2026-05-09T04:00:00Z"), at("2026-05-09T07:00:00Z")),
            Ok(())
        );
        assert_eq!(rules.check(now, end, start), Err(Refusal::EmptyWindow));
        assert_eq!(
            rules.check(now, at("2026-05-07T05:00:00Z"), at("2026-05-07T06:00:00Z")),
            Err(Refusal::TooLate)
        );
        assert_eq!(
            rules.check(now, at("2026-05-09T04:00:00Z"), at("2026-05-09T07:00:01Z")),
            Err(Refusal::TooLong)
        );
        // 00:30–02:30 Brasília starts before the window opens.
        assert_eq!(
            rules.check(now, at("2026-05-09T03:30:00Z"), at("2026-05-09T05:30:00Z")),
            Err(Refusal::OutsideWindow)
        );
        // 06:30–07:30 Brasília ends after it closes.
        assert_eq!(
            rules.check(now, at("2026-05-09T09:30:00Z"), at("2026-05-09T10:30:00Z")),
            Err(Refusal::OutsideWindow)
        );
    }
}
