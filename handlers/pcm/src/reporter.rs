//! The PCM reporter: drains the `api_call` outbox to `POST /report-api/v1/private/report`
//! through the generated pcm 1.0.2 client, in claimed batches of up to 5,000.
//!
//! Per run: claim a batch ([`crate::outbox`]), build each report ([`crate::report`]), refuse
//! what cannot be reported, send the rest, and record every row's outcome:
//!
//! * 200, or 207 with the item accepted: reported;
//! * 207 with the item discarded: repaired and sent once more when the fault is one that can
//!   be normalised, otherwise refused with the PCM's message (kept visible, never retried);
//! * 413: the batch is split in halves until it fits;
//! * 401: the token is renewed and the batch sent once more;
//! * anything else (5xx, 429, timeouts, connection errors, an answer that cannot be read):
//!   the rows are scheduled again after an exponential, capped, jittered backoff.
//!
//! Reporting is at least once: a report is marked only after the PCM's answer, so an instance
//! that dies between the PCM accepting a batch and the mark (or, on SQLite, a lease that runs
//! out while a request is still in flight) lets the batch be sent again. The lease is checked
//! to outlast two requests (a batch and its repairs) so that the second case needs a hung
//! database. On PostgreSQL the claim is a transaction's row locks instead, open while the PCM
//! answers (at most two requests, each within `request_timeout`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aberta_store::KeyRing;
use chrono::{DateTime, NaiveTime, Utc};
use ofb_pcm_v1::client::Error as ClientError;
use ofb_pcm_v1::client::types::AddReportsBodyItem;
use ofb_pcm_v1::models::{ReportStatus, ServerReportRequest};
use sea_orm::DatabaseConnection;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::deadline::{self, DeadlineStatus};
use crate::metrics::PcmMetrics;
use crate::outbox::{self, Outcome};
use crate::report::{self, Unreportable};
use crate::token::TokenCache;
use crate::{PcmError, Result};

/// The PCM's limit on reports per call.
pub const MAX_BATCH: usize = 5000;

/// Where and how to report.
#[derive(Clone)]
pub struct PcmConfig {
    /// The PCM's base URL (`https://api.pcm.openfinancebrasil.org.br`).
    pub base_url: String,
    /// The PCM's token endpoint.
    pub token_url: String,
    /// PEM: the institution's transport certificate (chain), then its private key.
    pub identity_pem: Vec<u8>,
    /// PEM: the CA certificates the PCM's server certificate is checked against.
    pub roots_pem: Vec<u8>,
    /// The institution's organisation id: only calls with this `serverOrgId` are sent.
    pub org_id: String,
    /// The software statement id, sent as `client_id` when set.
    pub client_id: Option<String>,
    /// The scope asked for, when set.
    pub scope: Option<String>,
    /// Reports per call, 1 to 5,000.
    pub batch_size: usize,
    /// The pause between runs that found less than a full batch.
    pub interval: Duration,
    /// How long a claim holds its rows; must outlast two requests.
    pub lease: Duration,
    /// The whole of one request to the PCM.
    pub request_timeout: Duration,
    /// The wait after the first failure (before jitter); doubles with each failure.
    pub first_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// From this time of D+1 (Brasília), unreported calls of D are at risk.
    pub deadline_warning: NaiveTime,
    /// How often the deadline is checked.
    pub deadline_check_every: Duration,
}

impl std::fmt::Debug for PcmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcmConfig")
            .field("base_url", &self.base_url)
            .field("token_url", &self.token_url)
            .field("org_id", &self.org_id)
            .field("batch_size", &self.batch_size)
            .field("interval", &self.interval)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl PcmConfig {
    /// The defaults: batches of 5,000 every 5 s, a 2-minute lease, 30 s requests, backoff from
    /// 5 s to 10 min, the deadline warning from 06:00, checked every 5 minutes.
    pub fn new(
        base_url: &str,
        token_url: &str,
        identity_pem: Vec<u8>,
        roots_pem: Vec<u8>,
        org_id: &str,
    ) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            token_url: token_url.to_string(),
            identity_pem,
            roots_pem,
            org_id: org_id.to_string(),
            client_id: None,
            scope: None,
            batch_size: MAX_BATCH,
            interval: Duration::from_secs(5),
            lease: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
            first_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(600),
            deadline_warning: NaiveTime::from_hms_opt(6, 0, 0).unwrap_or(NaiveTime::MIN),
            deadline_check_every: Duration::from_secs(300),
        }
    }

    fn check(&self) -> Result<()> {
        let refuse = |why: &str| Err(PcmError::Config(why.to_string()));
        if !(1..=MAX_BATCH).contains(&self.batch_size) {
            return refuse("batch_size must be 1 to 5000");
        }
        if self.request_timeout.is_zero() {
            return refuse("request_timeout must not be zero");
        }
        if self.lease <= self.request_timeout * 2 {
            return refuse("lease must outlast two requests");
        }
        if self.first_backoff < Duration::from_millis(1) {
            return refuse("first_backoff must be at least 1 ms");
        }
        if self.max_backoff < self.first_backoff {
            return refuse("max_backoff must not be shorter than first_backoff");
        }
        if self.interval.is_zero() || self.deadline_check_every.is_zero() {
            return refuse("interval and deadline_check_every must not be zero");
        }
        Ok(())
    }

    /// The wait after `attempts` failures, `random` choosing the jitter: between half and all
    /// of `first_backoff * 2^(attempts-1)`, capped at `max_backoff`.
    fn backoff(&self, attempts: u32, random: u64) -> Duration {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let doublings = attempts.saturating_sub(1).min(63);
        let full = ms(self.first_backoff)
            .saturating_mul(1u64 << doublings)
            .min(ms(self.max_backoff))
            .max(1);
        let half = full / 2;
        Duration::from_millis(half + random % (full - half + 1))
    }
}

/// What one [`Reporter::report_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Rows claimed.
    pub claimed: usize,
    /// Accepted by the PCM (repaired ones included).
    pub reported: usize,
    /// Accepted after a repair.
    pub repaired: usize,
    /// Given up on.
    pub refused: usize,
    /// Scheduled again.
    pub retrying: usize,
    /// Outcomes not recorded because the lease had passed to another instance.
    pub lease_lost: usize,
}

struct Item {
    id: i64,
    report: ServerReportRequest,
}

enum Verdict {
    Accepted,
    Discarded(String),
    Failed(String),
}

enum Posted {
    Results(Vec<ofb_pcm_v1::models::ReportResponse>),
    TooLarge,
    Failed(String),
}

/// The outcomes of one run, before they are written.
#[derive(Default)]
struct Ledger {
    accepted: Vec<i64>,
    repaired: usize,
    refused: Vec<(i64, String)>,
    failed: Vec<(i64, String)>,
}

/// Sends the outbox to the PCM. Cheap to clone; every instance of the platform may run one
/// on the same database.
#[derive(Clone)]
pub struct Reporter {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    config: PcmConfig,
    keyring: Arc<KeyRing>,
    metrics: Arc<PcmMetrics>,
    tokens: TokenCache,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Reporter {
    /// A reporter for `config.org_id`'s calls in `db` (this crate migrated); client
    /// addresses are opened with `keyring`.
    pub fn new(
        db: DatabaseConnection,
        config: PcmConfig,
        keyring: Arc<KeyRing>,
        metrics: Arc<PcmMetrics>,
    ) -> Result<Self> {
        config.check()?;
        let config_err = |what: &str, e: reqwest::Error| PcmError::Config(format!("{what}: {e}"));
        let identity = reqwest::Identity::from_pem(&config.identity_pem)
            .map_err(|e| config_err("client identity", e))?;
        let roots = reqwest::Certificate::from_pem_bundle(&config.roots_pem)
            .map_err(|e| config_err("CA roots", e))?;
        let timeout = config.request_timeout;
        let builder = Box::new(move || {
            reqwest::Client::builder()
                .tls_backend_rustls()
                .tls_certs_only(roots.clone())
                .identity(identity.clone())
                .redirect(reqwest::redirect::Policy::none())
                .timeout(timeout)
        });
        let tokens = TokenCache::new(
            config.token_url.clone(),
            config.base_url.clone(),
            config.client_id.as_deref(),
            config.scope.as_deref(),
            builder,
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                config,
                keyring,
                metrics,
                tokens,
            }),
        })
    }

    pub fn config(&self) -> &PcmConfig {
        &self.inner.config
    }

    /// Claims one batch due at `now`, sends it, and records the outcomes. Call again while
    /// `claimed` equals the batch size to drain a backlog.
    pub async fn report_due(&self, now: DateTime<Utc>) -> Result<RunReport> {
        let inner = &*self.inner;
        let now_ms = now.timestamp_millis();
        let claim = outbox::claim(
            &inner.db,
            &inner.config.org_id,
            now_ms,
            inner.config.lease,
            inner.config.batch_size as u64,
        )
        .await?;
        let rows = &claim.rows;
        if rows.is_empty() {
            claim.release().await?;
            return Ok(RunReport::default());
        }
        let attempts: HashMap<i64, i32> = rows.iter().map(|r| (r.id, r.report_attempts)).collect();
        let mut ledger = Ledger::default();
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            match report::server_report(row, &inner.keyring) {
                Ok(report) => items.push(Item { id: row.id, report }),
                Err(Unreportable(why)) => ledger.refused.push((row.id, why)),
            }
        }
        let mut repairs = Vec::new();
        for (item, verdict) in self.submit(items).await {
            match verdict {
                Verdict::Accepted => ledger.accepted.push(item.id),
                Verdict::Failed(why) => ledger.failed.push((item.id, why)),
                Verdict::Discarded(message) => {
                    let message = report::redacted(&item.report, message);
                    match report::repair(&item.report, &message) {
                        Some(report) => repairs.push(Item {
                            id: item.id,
                            report,
                        }),
                        None => ledger.refused.push((item.id, message)),
                    }
                }
            }
        }
        for (item, verdict) in self.submit(repairs).await {
            match verdict {
                Verdict::Accepted => {
                    ledger.accepted.push(item.id);
                    ledger.repaired += 1;
                }
                Verdict::Failed(why) => ledger.failed.push((item.id, why)),
                Verdict::Discarded(message) => ledger
                    .refused
                    .push((item.id, report::redacted(&item.report, message))),
            }
        }
        let claimed = rows.len();
        let mut run = self.record(&claim, ledger, &attempts, now_ms).await?;
        claim.release().await?;
        run.claimed = claimed;
        Ok(run)
    }

    /// Checks the deadline at `now` (see [`crate::deadline`]).
    pub async fn check_deadline(&self, now: DateTime<Utc>) -> Result<DeadlineStatus> {
        let inner = &*self.inner;
        deadline::check(
            &inner.db,
            &inner.metrics,
            now,
            inner.config.deadline_warning,
        )
        .await
    }

    /// Runs [`report_due`](Self::report_due) every `interval` (at once again after a full
    /// batch) and the deadline check every `deadline_check_every`, until the handle stops it.
    pub fn spawn(self) -> ReporterHandle {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let config = &self.inner.config;
            let mut next_check = tokio::time::Instant::now();
            loop {
                if *stopped.borrow() {
                    break;
                }
                let full = match self.report_due(Utc::now()).await {
                    Ok(run) => run.claimed >= config.batch_size,
                    Err(err) => {
                        tracing::warn!(%err, "PCM report run failed");
                        false
                    }
                };
                if tokio::time::Instant::now() >= next_check {
                    if let Err(err) = self.check_deadline(Utc::now()).await {
                        tracing::warn!(%err, "PCM deadline check failed");
                    }
                    next_check = tokio::time::Instant::now() + config.deadline_check_every;
                }
                if full {
                    continue;
                }
                tokio::select! {
                    () = until_stopped(&mut stopped) => break,
                    () = tokio::time::sleep(config.interval) => {}
                }
            }
            tracing::info!("PCM reporter stopped");
        });
        ReporterHandle { stop, task }
    }

    /// Sends `items`, splitting batches the PCM finds too large; one verdict per item.
    async fn submit(&self, items: Vec<Item>) -> Vec<(Item, Verdict)> {
        let mut out = Vec::with_capacity(items.len());
        let mut chunks = vec![items];
        while let Some(mut chunk) = chunks.pop() {
            if chunk.is_empty() {
                continue;
            }
            match self.post(&chunk).await {
                Posted::Results(results) if results.len() == chunk.len() => {
                    for (item, result) in chunk.into_iter().zip(results) {
                        let verdict = match result.status {
                            ReportStatus::Discarded => Verdict::Discarded(
                                result.message.unwrap_or_else(|| "discarded".into()),
                            ),
                            _ => Verdict::Accepted,
                        };
                        out.push((item, verdict));
                    }
                }
                Posted::Results(results) => {
                    let why = format!(
                        "the PCM answered {} results for {} reports",
                        results.len(),
                        chunk.len()
                    );
                    tracing::error!("{why}");
                    out.extend(chunk.into_iter().map(|i| (i, Verdict::Failed(why.clone()))));
                }
                Posted::TooLarge if chunk.len() > 1 => {
                    let second = chunk.split_off(chunk.len() / 2);
                    chunks.push(second);
                    chunks.push(chunk);
                }
                Posted::TooLarge => out.extend(chunk.into_iter().map(|i| {
                    (
                        i,
                        Verdict::Discarded("the report alone exceeds the PCM's size limit".into()),
                    )
                })),
                Posted::Failed(why) => {
                    out.extend(chunk.into_iter().map(|i| (i, Verdict::Failed(why.clone()))))
                }
            }
        }
        out
    }

    /// One POST of `chunk`; a refused token is renewed and the POST made once more.
    async fn post(&self, chunk: &[Item]) -> Posted {
        let body: Vec<AddReportsBodyItem> = chunk
            .iter()
            .map(|item| AddReportsBodyItem::ServerReportRequest(item.report.clone()))
            .collect();
        for attempt in 0..2 {
            let authorised = match self.inner.tokens.client().await {
                Ok(authorised) => authorised,
                Err(err) => return Posted::Failed(err.to_string()),
            };
            match authorised.client.add_reports(&body).await {
                Ok(answer) => return Posted::Results(answer.into_inner()),
                Err(err) => match err.status().map(|s| s.as_u16()) {
                    Some(401) if attempt == 0 => {
                        tracing::info!("the PCM refused its token; renewing it");
                        self.inner.tokens.forget().await;
                    }
                    Some(413) => return Posted::TooLarge,
                    _ => return Posted::Failed(failure(&err)),
                },
            }
        }
        Posted::Failed("the PCM refused a fresh token".into())
    }

    /// Writes a run's outcomes.
    async fn record(
        &self,
        claim: &outbox::Claim,
        ledger: Ledger,
        attempts: &HashMap<i64, i32>,
        now_ms: i64,
    ) -> Result<RunReport> {
        let inner = &*self.inner;
        let db = &inner.db;
        let mut run = RunReport::default();
        let mut recorded = 0usize;
        let mut expected = 0usize;

        expected += ledger.accepted.len();
        let done = claim
            .record(db, &ledger.accepted, Outcome::Reported { at: now_ms })
            .await?;
        recorded += done as usize;
        run.reported = done as usize;
        run.repaired = ledger.repaired;
        inner.metrics.reported(done);
        inner.metrics.repaired(ledger.repaired as u64);

        for (reason, ids) in grouped(ledger.refused) {
            expected += ids.len();
            let done = claim
                .record(db, &ids, Outcome::Refused { reason: &reason })
                .await?;
            recorded += done as usize;
            run.refused += done as usize;
            inner.metrics.refused(done);
            tracing::warn!(reports = done, %reason, "PCM reports refused; kept for inspection");
        }

        for (reason, ids) in grouped(ledger.failed) {
            expected += ids.len();
            let most = ids
                .iter()
                .filter_map(|id| attempts.get(id))
                .copied()
                .max()
                .unwrap_or(0);
            let wait = inner.config.backoff(
                most.saturating_add(1).unsigned_abs(),
                uuid::Uuid::new_v4().as_u64_pair().0,
            );
            let at = now_ms.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
            let done = claim
                .record(
                    db,
                    &ids,
                    Outcome::RetryAt {
                        at,
                        reason: &reason,
                    },
                )
                .await?;
            recorded += done as usize;
            run.retrying += done as usize;
            inner.metrics.report_failed();
            tracing::warn!(
                reports = done,
                %reason,
                retry_in_ms = wait.as_millis() as u64,
                "PCM reporting failed; will retry"
            );
        }

        run.lease_lost = expected - recorded;
        if run.lease_lost > 0 {
            tracing::warn!(
                reports = run.lease_lost,
                "PCM lease lost before the outcome was recorded"
            );
        }
        if run.reported > 0 {
            tracing::info!(
                reports = run.reported,
                repaired = run.repaired,
                "reports accepted by the PCM"
            );
        }
        Ok(run)
    }
}

/// Ids grouped by reason, so each reason costs one UPDATE.
fn grouped(items: Vec<(i64, String)>) -> HashMap<String, Vec<i64>> {
    let mut out: HashMap<String, Vec<i64>> = HashMap::new();
    for (id, reason) in items {
        out.entry(reason).or_default().push(id);
    }
    out
}

/// A failed submission in a few words: the status, or the transport error's kind and causes.
fn failure(err: &ClientError<()>) -> String {
    if let Some(status) = err.status() {
        return format!("PCM answered HTTP {}", status.as_u16());
    }
    let kind = match err {
        ClientError::CommunicationError(e) if e.is_timeout() => "timeout",
        ClientError::CommunicationError(e) if e.is_connect() => "connect",
        ClientError::CommunicationError(_) => "request",
        ClientError::InvalidResponsePayload(..) => "unreadable answer",
        ClientError::ResponseBodyError(_) => "answer cut short",
        _ => "client",
    };
    let mut text = kind.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    let mut end = text.len().min(300);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

/// Resolves once a stop is asked for; never, once the handle is dropped unused.
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

/// Stops a reporter started by [`Reporter::spawn`]. Dropping it leaves the reporter running.
#[derive(Debug)]
pub struct ReporterHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ReporterHandle {
    /// Lets the run in progress finish, then stops.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Stops at once, as a crash would: rows it holds are leased until the lease runs out.
    pub fn abort(self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PcmConfig {
        let mut c = PcmConfig::new("https://pcm", "https://pcm/token", vec![], vec![], "org");
        c.first_backoff = Duration::from_millis(100);
        c.max_backoff = Duration::from_millis(1000);
        c
    }

    #[test]
    fn backoff_doubles_within_its_jitter_up_to_the_cap() {
        let c = config();
        for (attempts, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (60, 1000),
        ] {
            let low = c.backoff(attempts, 0);
            assert_eq!(low, Duration::from_millis(full / 2), "attempt {attempts}");
            for random in [1, 77, u64::MAX] {
                let wait = c.backoff(attempts, random);
                assert!(wait >= low && wait <= Duration::from_millis(full));
            }
        }
    }

    #[test]
    fn impossible_configurations_are_refused() {
        assert!(config().check().is_ok());
        let broken = [
            PcmConfig {
                batch_size: 5001,
                ..config()
            },
            PcmConfig {
                batch_size: 0,
                ..config()
            },
            PcmConfig {
                lease: Duration::from_secs(60),
                ..config()
            },
            PcmConfig {
                max_backoff: Duration::from_millis(10),
                ..config()
            },
        ];
        for c in broken {
            assert!(matches!(c.check(), Err(PcmError::Config(_))), "{c:?}");
        }
    }

    #[test]
    fn the_debug_form_never_shows_the_key() {
        let mut c = config();
        c.identity_pem = b"-----BEGIN PRIVATE KEY-----secret".to_vec();
        assert!(!format!("{c:?}").contains("secret"));
    }
}
