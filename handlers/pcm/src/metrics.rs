//! Counters of capture and reporting, rendered in the Prometheus text format. Counters are
//! per instance (atomics); the backlog and refused gauges are read from the database when
//! rendered, so every instance shows the same figures.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::DatabaseConnection;

use crate::Result;

/// The metrics of this crate. Share one `Arc<PcmMetrics>` between the capture layer, its
/// writer and the reporter.
#[derive(Debug, Default)]
pub struct PcmMetrics {
    captured: AtomicU64,
    dropped: AtomicU64,
    written: AtomicU64,
    write_failures: AtomicU64,
    reported: AtomicU64,
    repaired: AtomicU64,
    refused: AtomicU64,
    report_failures: AtomicU64,
    deadline_alerts: AtomicU64,
    at_risk: AtomicU64,
    missed: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Calls handed to the writer.
    pub captured: u64,
    /// Calls lost: the writer's queue was full, or a batch could not be written.
    pub dropped: u64,
    /// Rows inserted.
    pub written: u64,
    /// Failed batch inserts (each retried).
    pub write_failures: u64,
    /// Reports the PCM accepted.
    pub reported: u64,
    /// Reports the PCM refused that were fixed and sent again.
    pub repaired: u64,
    /// Reports given up on (refused by the PCM, or not reportable), kept visible.
    pub refused: u64,
    /// Submissions that failed and were scheduled again (PCM down, 5xx, timeouts).
    pub report_failures: u64,
    /// Deadline checks that found reports at risk or late.
    pub deadline_alerts: u64,
    /// At the last deadline check: yesterday's calls still unreported after the warning hour.
    pub at_risk: u64,
    /// At the last deadline check: calls whose 08:00 D+1 deadline has passed unreported.
    pub missed: u64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl PcmMetrics {
    pub(crate) fn captured(&self) {
        add(&self.captured, 1);
    }
    pub(crate) fn dropped(&self, n: u64) {
        add(&self.dropped, n);
    }
    pub(crate) fn written(&self, n: u64) {
        add(&self.written, n);
    }
    pub(crate) fn write_failed(&self) {
        add(&self.write_failures, 1);
    }
    pub(crate) fn reported(&self, n: u64) {
        add(&self.reported, n);
    }
    pub(crate) fn repaired(&self, n: u64) {
        add(&self.repaired, n);
    }
    pub(crate) fn refused(&self, n: u64) {
        add(&self.refused, n);
    }
    pub(crate) fn report_failed(&self) {
        add(&self.report_failures, 1);
    }
    pub(crate) fn deadline(&self, at_risk: u64, missed: u64) {
        self.at_risk.store(at_risk, Ordering::Relaxed);
        self.missed.store(missed, Ordering::Relaxed);
        if at_risk > 0 || missed > 0 {
            add(&self.deadline_alerts, 1);
        }
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            captured: get(&self.captured),
            dropped: get(&self.dropped),
            written: get(&self.written),
            write_failures: get(&self.write_failures),
            reported: get(&self.reported),
            repaired: get(&self.repaired),
            refused: get(&self.refused),
            report_failures: get(&self.report_failures),
            deadline_alerts: get(&self.deadline_alerts),
            at_risk: get(&self.at_risk),
            missed: get(&self.missed),
        }
    }

    /// Appends every metric to `out` in the Prometheus text format, with the backlog and
    /// refused gauges read from `db`.
    pub async fn render(&self, db: &DatabaseConnection, out: &mut String) -> Result<()> {
        let backlog = crate::outbox::backlog(db).await?;
        let refused = crate::outbox::refused_count(db).await?;
        self.render_counters(out);
        gauge(
            out,
            "aberta_pcm_backlog",
            "Recorded calls not yet accepted by the PCM (refused ones excluded).",
            backlog,
        );
        gauge(
            out,
            "aberta_pcm_refused",
            "Recorded calls given up on, kept for inspection.",
            refused,
        );
        Ok(())
    }

    /// The per-instance counters and the last deadline check, without the database gauges.
    pub fn render_counters(&self, out: &mut String) {
        let s = self.snapshot();
        let counters = [
            (
                "aberta_pcm_calls_captured_total",
                "Regulated calls captured.",
                s.captured,
            ),
            (
                "aberta_pcm_calls_dropped_total",
                "Captured calls lost before reaching the database.",
                s.dropped,
            ),
            (
                "aberta_pcm_calls_written_total",
                "Captured calls written to the database.",
                s.written,
            ),
            (
                "aberta_pcm_write_failures_total",
                "Failed batch inserts of captured calls.",
                s.write_failures,
            ),
            (
                "aberta_pcm_reports_accepted_total",
                "Reports accepted by the PCM.",
                s.reported,
            ),
            (
                "aberta_pcm_reports_repaired_total",
                "Reports refused by the PCM, fixed and sent again.",
                s.repaired,
            ),
            (
                "aberta_pcm_reports_refused_total",
                "Reports given up on.",
                s.refused,
            ),
            (
                "aberta_pcm_report_failures_total",
                "Report submissions that failed and will be retried.",
                s.report_failures,
            ),
            (
                "aberta_pcm_deadline_alerts_total",
                "Deadline checks that found reports at risk or late.",
                s.deadline_alerts,
            ),
        ];
        for (name, help, value) in counters {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
            );
        }
        gauge(
            out,
            "aberta_pcm_reports_at_risk",
            "Yesterday's calls still unreported after the warning hour (08:00 D+1 deadline).",
            s.at_risk,
        );
        gauge(
            out,
            "aberta_pcm_reports_late",
            "Calls unreported past their 08:00 D+1 deadline.",
            s.missed,
        );
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = write!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_as_prometheus_text() {
        let m = PcmMetrics::default();
        m.captured();
        m.captured();
        m.dropped(1);
        m.deadline(3, 0);
        let mut out = String::new();
        m.render_counters(&mut out);
        assert!(out.contains("# TYPE aberta_pcm_calls_captured_total counter\n"));
        assert!(out.contains("\naberta_pcm_calls_captured_total 2\n"));
        assert!(out.contains("\naberta_pcm_calls_dropped_total 1\n"));
        assert!(out.contains("\naberta_pcm_reports_at_risk 3\n"));
        assert!(out.contains("\naberta_pcm_deadline_alerts_total 1\n"));
        for line in out.lines() {
            assert!(
                line.starts_with("# HELP ")
                    || line.starts_with("# TYPE ")
                    || line.split(' ').count() == 2,
                "{line}"
            );
        }
    }
}
