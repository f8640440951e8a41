//! The health checker: every round it probes each regulated endpoint family through a
//! caller-supplied [`Probe`], counts consecutive failures per family in the database, and
//! keeps one detected outage in the register that matches the families failing — opened
//! after [`HealthPolicy::failures_to_open`] failures in a row (partial when some families
//! fail, total when all do), reshaped when the set changes, closed on success.
//!
//! Families inside a scheduled window in effect are not probed: their failure is announced.
//! With several instances, one holds a lease and probes; the others stand by and take over
//! when it lapses, continuing the stored counts. Opening is guarded by a unique key as well,
//! so two detected outages can never be open at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, QueryFilter};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::entity::probe;
use crate::error::{Result, StatusError};
use crate::lease;
use crate::register::{NewDetected, OutageRegister};

/// The lease's name.
const LEASE: &str = "health-checker";

/// Checks one endpoint family end to end; the composition root supplies one that calls the
/// real listener. The error is for operators (kept on the probe row, never published).
#[async_trait]
pub trait Probe: Send + Sync + 'static {
    async fn check(&self, family: &str) -> Result<(), String>;
}

/// A regulated endpoint family to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// As in `api_call.family`: `accounts`, `payments`, `consents`, ...
    pub name: String,
    /// What a failure makes unavailable, as the status API should list it (base URLs such as
    /// `https://bank.example/open-banking/accounts/v2`).
    pub endpoints: Vec<String>,
}

impl Family {
    pub fn new(name: impl Into<String>, endpoints: Vec<String>) -> Self {
        Self {
            name: name.into(),
            endpoints,
        }
    }
}

/// How the checker runs.
#[derive(Debug, Clone)]
pub struct HealthPolicy {
    /// Between rounds (the legacy SLA polled status every 30 s).
    pub interval: Duration,
    /// Consecutive failures of a family before it counts as down.
    pub failures_to_open: u32,
    /// A probe slower than this failed.
    pub probe_timeout: Duration,
    /// How long a round's lease lasts; must outlast a round.
    pub lease: Duration,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            failures_to_open: 3,
            probe_timeout: Duration::from_secs(5),
            lease: Duration::from_secs(90),
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// This instance held the lease and probed.
    pub leader: bool,
    /// Families probed (those in a scheduled window are skipped).
    pub probed: Vec<String>,
    /// Families counted as down after this round.
    pub failing: Vec<String>,
    /// The detected outage opened, if any.
    pub opened: Option<String>,
    /// The detected outage closed, if any.
    pub closed: Option<String>,
}

/// The checker; cheap to clone.
#[derive(Clone)]
pub struct HealthChecker {
    inner: Arc<Inner>,
}

struct Inner {
    register: Arc<OutageRegister>,
    probe: Arc<dyn Probe>,
    families: Vec<Family>,
    policy: HealthPolicy,
    owner: String,
}

impl HealthChecker {
    pub fn new(
        register: Arc<OutageRegister>,
        probe: Arc<dyn Probe>,
        families: Vec<Family>,
        policy: HealthPolicy,
    ) -> Result<Self> {
        if families.is_empty() {
            return Err(StatusError::Config(
                "the health checker needs a family to probe",
            ));
        }
        if policy.interval.is_zero() || policy.failures_to_open == 0 {
            return Err(StatusError::Config(
                "the interval and failures_to_open must be positive",
            ));
        }
        if policy.lease <= policy.probe_timeout * 2 || policy.lease.as_secs() < 2 {
            return Err(StatusError::Config(
                "the lease must outlast a round: more than twice the probe timeout",
            ));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                register,
                probe,
                families,
                policy,
                owner: uuid::Uuid::new_v4().to_string(),
            }),
        })
    }

    /// One round at the register's now: probe, count, reconcile the detected outage.
    pub async fn run_round(&self) -> Result<RoundReport> {
        let inner = &self.inner;
        let db = inner.register.connection();
        let now = inner.register.now();
        let lease_secs = i64::try_from(inner.policy.lease.as_secs()).unwrap_or(i64::MAX / 2);
        if !lease::acquire(db, LEASE, &inner.owner, now, now + lease_secs).await? {
            return Ok(RoundReport::default());
        }
        let scheduled: Vec<_> = inner
            .register
            .in_effect(now)
            .await?
            .into_iter()
            .filter(|o| o.is_scheduled())
            .collect();
        let to_probe: Vec<&Family> = inner
            .families
            .iter()
            .filter(|f| {
                !scheduled
                    .iter()
                    .any(|o| o.covers_family(&f.name, &f.endpoints))
            })
            .collect();
        let results = self.probe_all(&to_probe).await;
        let rows = self.record(now, &results).await?;

        let threshold = i32::try_from(inner.policy.failures_to_open).unwrap_or(i32::MAX);
        let failing: Vec<&Family> = to_probe
            .iter()
            .copied()
            .filter(|f| {
                rows.get(&f.name)
                    .is_some_and(|row| row.consecutive_failures >= threshold)
            })
            .collect();
        let mut report = RoundReport {
            leader: true,
            probed: to_probe.iter().map(|f| f.name.clone()).collect(),
            failing: failing.iter().map(|f| f.name.clone()).collect(),
            ..RoundReport::default()
        };
        self.reconcile(now, &failing, &rows, &mut report).await?;
        Ok(report)
    }

    /// Probes `families` at once, each within the timeout.
    async fn probe_all(&self, families: &[&Family]) -> Vec<(String, Result<(), String>)> {
        let mut set = JoinSet::new();
        for family in families {
            let probe = self.inner.probe.clone();
            let name = family.name.clone();
            let timeout = self.inner.policy.probe_timeout;
            set.spawn(async move {
                let outcome = match tokio::time::timeout(timeout, probe.check(&name)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
                };
                (name, outcome)
            });
        }
        let mut results = Vec::with_capacity(families.len());
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(result) => results.push(result),
                Err(err) => tracing::warn!(%err, "a health probe panicked"),
            }
        }
        results
    }

    /// Stores each family's new count; returns every watched family's row.
    async fn record(
        &self,
        now: i64,
        results: &[(String, Result<(), String>)],
    ) -> Result<HashMap<String, probe::Model>> {
        let db = self.inner.register.connection();
        let names: Vec<String> = self.inner.families.iter().map(|f| f.name.clone()).collect();
        let mut rows: HashMap<String, probe::Model> = probe::Entity::find()
            .filter(probe::Column::Family.is_in(names))
            .all(db)
            .await?
            .into_iter()
            .map(|row| (row.family.clone(), row))
            .collect();
        for (family, outcome) in results {
            let previous = rows.get(family);
            let row = match outcome {
                Ok(()) => probe::Model {
                    family: family.clone(),
                    consecutive_failures: 0,
                    failing_since: None,
                    checked_at: now,
                    last_error: None,
                },
                Err(error) => {
                    tracing::warn!(family = %family, error = %error, "health probe failed");
                    probe::Model {
                        family: family.clone(),
                        consecutive_failures: previous
                            .map_or(0, |p| p.consecutive_failures)
                            .saturating_add(1),
                        failing_since: Some(previous.and_then(|p| p.failing_since).unwrap_or(now)),
                        checked_at: now,
                        last_error: Some(error.chars().take(500).collect()),
                    }
                }
            };
            probe::Entity::insert(probe::ActiveModel {
                family: ActiveValue::Set(row.family.clone()),
                consecutive_failures: ActiveValue::Set(row.consecutive_failures),
                failing_since: ActiveValue::Set(row.failing_since),
                checked_at: ActiveValue::Set(row.checked_at),
                last_error: ActiveValue::Set(row.last_error.clone()),
            })
            .on_conflict(
                OnConflict::column(probe::Column::Family)
                    .update_columns([
                        probe::Column::ConsecutiveFailures,
                        probe::Column::FailingSince,
                        probe::Column::CheckedAt,
                        probe::Column::LastError,
                    ])
                    .to_owned(),
            )
            .exec(db)
            .await?;
            rows.insert(family.clone(), row);
        }
        Ok(rows)
    }

    /// Makes the open detected outage match `failing`: none when nothing fails, else one
    /// over exactly those families (a change of set closes the old one and opens another at
    /// the same instant, so each outage keeps one scope for its whole life).
    async fn reconcile(
        &self,
        now: i64,
        failing: &[&Family],
        rows: &HashMap<String, probe::Model>,
        report: &mut RoundReport,
    ) -> Result<()> {
        let register = &self.inner.register;
        let open = register.open_detected().await?;
        let mut names: Vec<String> = failing.iter().map(|f| f.name.clone()).collect();
        names.sort();
        if let Some(open) = &open {
            if open.families == names && !names.is_empty() {
                return Ok(());
            }
            if register.close_detected(&open.id, now).await? {
                tracing::info!(outage = %open.id, "detected outage closed");
                report.closed = Some(open.id.clone());
            }
        }
        if names.is_empty() {
            return Ok(());
        }
        let starts_at = if open.is_some() {
            now
        } else {
            failing
                .iter()
                .filter_map(|f| rows.get(&f.name).and_then(|r| r.failing_since))
                .min()
                .unwrap_or(now)
        };
        let is_partial = failing.len() < self.inner.families.len();
        let mut endpoints: Vec<String> = failing
            .iter()
            .flat_map(|f| f.endpoints.iter().cloned())
            .collect();
        endpoints.sort();
        endpoints.dedup();
        let explanation = if is_partial {
            format!(
                "Indisponibilidade detectada pelo monitoramento: {}",
                names.join(", ")
            )
        } else {
            "Indisponibilidade detectada pelo monitoramento em todas as APIs".to_string()
        };
        let opened = register
            .open_detected_outage(NewDetected {
                starts_at,
                is_partial,
                families: names,
                unavailable_endpoints: endpoints,
                explanation,
            })
            .await?;
        if let Some(outage) = opened {
            tracing::warn!(outage = %outage.id, partial = is_partial, "detected outage opened");
            report.opened = Some(outage.id);
        }
        Ok(())
    }

    /// Runs a round every [`HealthPolicy::interval`] until [`Shutdown::shutdown`]; a round in
    /// progress finishes first, and the lease is given up on the way out.
    pub fn spawn(self) -> (JoinHandle<()>, Shutdown) {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                if *stopped.borrow() {
                    break;
                }
                if let Err(err) = self.run_round().await {
                    tracing::warn!(%err, "health check round failed");
                }
                tokio::select! {
                    () = until_stopped(&mut stopped) => break,
                    () = tokio::time::sleep(self.inner.policy.interval) => {}
                }
            }
            let db = self.inner.register.connection();
            if let Err(err) = lease::release(db, LEASE, &self.inner.owner).await {
                tracing::warn!(%err, "giving up the health checker lease");
            }
            tracing::info!("health checker stopped");
        });
        (task, Shutdown { stop })
    }
}

/// Stops a checker started by [`HealthChecker::spawn`].
#[derive(Debug)]
pub struct Shutdown {
    stop: watch::Sender<bool>,
}

impl Shutdown {
    /// Asks the checker to stop after its current round; await its `JoinHandle` to know it
    /// has.
    pub fn shutdown(self) {
        let _ = self.stop.send(true);
    }
}

/// Resolves once a stop is asked for; never, once the [`Shutdown`] is dropped unused.
async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    loop {
        if *stopped.borrow_and_update() {
            return;
        }
        if stopped.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// What the checker last saw of one family, for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeState {
    pub family: String,
    pub consecutive_failures: i32,
    pub failing_since: Option<i64>,
    pub checked_at: i64,
    pub last_error: Option<String>,
}

/// Every family's last probe, by name.
pub async fn probe_states(register: &OutageRegister) -> Result<Vec<ProbeState>> {
    use sea_orm::QueryOrder;
    Ok(probe::Entity::find()
        .order_by_asc(probe::Column::Family)
        .all(register.connection())
        .await?
        .into_iter()
        .map(|row| ProbeState {
            family: row.family,
            consecutive_failures: row.consecutive_failures,
            failing_since: row.failing_since,
            checked_at: row.checked_at,
            last_error: row.last_error,
        })
        .collect())
}
