//! The current status, worked out from the outages in effect.
//!
//! The common 2.0.1 spec orders concurrent conditions as OK, UNAVAILABLE, PARTIAL_FAILURE,
//! SCHEDULED_OUTAGE and we read that list as precedence after OK: an unscheduled total
//! outage (UNAVAILABLE) outranks an unscheduled partial one (PARTIAL_FAILURE), which
//! outranks a scheduled window in effect (SCHEDULED_OUTAGE). One status entry is answered,
//! for the condition that governs; `unavailableEndpoints` gathers every outage in effect.

use crate::outage::Outage;

/// The spec's status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Ok,
    Unavailable,
    PartialFailure,
    ScheduledOutage,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Unavailable => "UNAVAILABLE",
            Self::PartialFailure => "PARTIAL_FAILURE",
            Self::ScheduledOutage => "SCHEDULED_OUTAGE",
        }
    }

    pub const ALL: [Condition; 4] = [
        Self::Ok,
        Self::Unavailable,
        Self::PartialFailure,
        Self::ScheduledOutage,
    ];
}

/// What the status API says, and what it may assume.
#[derive(Debug, Clone)]
pub struct StatusSettings {
    /// The explanation when all is well.
    pub ok_explanation: String,
    /// How long an unscheduled outage with no estimate is expected to last (the spec wants
    /// an `expectedResolutionTime` whenever the code is not OK).
    pub resolution_estimate: i64,
}

impl Default for StatusSettings {
    fn default() -> Self {
        Self {
            ok_explanation: "Todas as APIs estão funcionando normalmente".into(),
            resolution_estimate: 3_600,
        }
    }
}

/// The status at some instant. Times are unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentStatus {
    pub condition: Condition,
    pub explanation: String,
    /// Set for UNAVAILABLE and PARTIAL_FAILURE.
    pub detection_time: Option<i64>,
    /// Set whenever the condition is not OK.
    pub expected_resolution_time: Option<i64>,
    pub update_time: i64,
    pub unavailable_endpoints: Vec<String>,
}

/// The status at `now` given every outage (those not in effect are ignored); `last_update`
/// is when the register or the health checker last wrote.
pub fn current(
    outages: &[Outage],
    now: i64,
    last_update: Option<i64>,
    settings: &StatusSettings,
) -> CurrentStatus {
    let in_effect: Vec<&Outage> = outages.iter().filter(|o| o.in_effect(now)).collect();
    let pick = |scheduled: bool, partial: bool| -> Vec<&Outage> {
        in_effect
            .iter()
            .copied()
            .filter(|o| o.is_scheduled() == scheduled && (scheduled || o.is_partial == partial))
            .collect()
    };
    let (condition, governing) = [
        (Condition::Unavailable, pick(false, false)),
        (Condition::PartialFailure, pick(false, true)),
        (Condition::ScheduledOutage, pick(true, false)),
    ]
    .into_iter()
    .find(|(_, outages)| !outages.is_empty())
    .unwrap_or((Condition::Ok, Vec::new()));

    let mut unavailable: Vec<String> = in_effect
        .iter()
        .flat_map(|o| o.unavailable_endpoints.iter().cloned())
        .collect();
    unavailable.sort();
    unavailable.dedup();
    unavailable.truncate(1_000);

    let update_time = last_update.unwrap_or(now).min(now);
    if condition == Condition::Ok {
        return CurrentStatus {
            condition,
            explanation: settings.ok_explanation.clone(),
            detection_time: None,
            expected_resolution_time: None,
            update_time,
            unavailable_endpoints: unavailable,
        };
    }
    let mut explanations: Vec<&str> = governing.iter().map(|o| o.explanation.as_str()).collect();
    explanations.dedup();
    let resolution = governing
        .iter()
        .map(|o| expected_end(o, now, settings.resolution_estimate))
        .max();
    let detection = governing.iter().map(|o| o.starts_at).min();
    CurrentStatus {
        condition,
        explanation: truncate(explanations.join(" / "), 2_000),
        detection_time: detection.filter(|_| condition != Condition::ScheduledOutage),
        expected_resolution_time: resolution,
        update_time,
        unavailable_endpoints: unavailable,
    }
}

/// The announced end of a scheduled outage; for another, the operator's estimate or the
/// default one, never in the past.
fn expected_end(outage: &Outage, now: i64, estimate: i64) -> i64 {
    if outage.is_scheduled() {
        return outage.window().map_or(now, |(_, end)| end);
    }
    let end = outage
        .expected_end_at
        .unwrap_or(outage.starts_at + estimate);
    if end > now { end } else { now + estimate }
}

fn truncate(mut text: String, max_chars: usize) -> String {
    if let Some((at, _)) = text.char_indices().nth(max_chars) {
        text.truncate(at);
        let trimmed = text.trim_end().len();
        text.truncate(trimmed);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outage::OutageKind;

    fn outage(kind: OutageKind, start: i64, partial: bool, text: &str) -> Outage {
        Outage {
            id: text.into(),
            kind,
            starts_at: start,
            expected_end_at: (kind == OutageKind::Scheduled).then_some(start + 1_000),
            ended_at: None,
            is_partial: partial,
            families: Vec::new(),
            unavailable_endpoints: vec![format!("/{text}")],
            explanation: text.into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn precedence() {
        use OutageKind::*;
        let settings = StatusSettings::default();
        let scheduled = outage(Scheduled, 100, false, "window");
        let partial = outage(Detected, 150, true, "partial");
        let total = outage(Declared, 200, false, "total");
        let all = vec![scheduled.clone(), partial.clone(), total.clone()];

        let s = current(&all, 50, Some(10), &settings);
        assert_eq!(s.condition, Condition::Ok);
        assert_eq!(s.update_time, 10);
        assert_eq!(s.expected_resolution_time, None);

        let s = current(&all, 120, None, &settings);
        assert_eq!(s.condition, Condition::ScheduledOutage);
        assert_eq!(s.detection_time, None);
        assert_eq!(s.expected_resolution_time, Some(1_100));
        assert_eq!(s.update_time, 120);

        let s = current(&all, 160, None, &settings);
        assert_eq!(s.condition, Condition::PartialFailure);
        assert_eq!(s.explanation, "partial");
        assert_eq!(s.detection_time, Some(150));
        assert_eq!(s.expected_resolution_time, Some(150 + 3_600));
        assert_eq!(s.unavailable_endpoints, vec!["/partial", "/window"]);

        let s = current(&all, 5_000, None, &settings);
        assert_eq!(s.condition, Condition::Unavailable);
        assert_eq!(s.detection_time, Some(200));
        // The estimate has passed: an hour from now.
        assert_eq!(s.expected_resolution_time, Some(5_000 + 3_600));
        assert_eq!(s.unavailable_endpoints, vec!["/partial", "/total"]);
    }

    #[test]
    fn long_explanations_are_cut() {
        let text = format!("{} ", "é".repeat(2_100));
        assert_eq!(truncate(text, 2_000).chars().count(), 2_000);
        assert_eq!(truncate("a  b".into(), 2), "a");
    }
}
