//! The Prometheus endpoint of the internal listener, in the text exposition format (0.0.4),
//! written by hand.
//!
//! * Request counts and latencies per endpoint family come from in-process counters that
//!   [`RequestMetrics::middleware`] updates on the public listener; they are per instance, as
//!   Prometheus expects (it sums instances itself).
//! * Everything else is a [`Gauges`] registered with the [`Exporter`]: the outbox depth, the
//!   PCM backlog and the current status are provided here; other parts add their own.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use crate::health::Family;
use crate::outage::path_of;
use crate::register::OutageRegister;
use crate::status::{self, Condition, StatusSettings};

/// The media type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Latency buckets, in seconds; 1.5, 2 and 4 are the p95 budgets of §4.
pub const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 4.0, 10.0,
];

/// The type line of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

impl MetricKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// A page of the text format being written: each family once, its `# HELP` and `# TYPE`
/// first, names and labels checked, label values escaped.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
    families: HashSet<String>,
    current: Option<String>,
}

impl Exposition {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the family `name`; `false` (and nothing written, its samples dropped) when the
    /// name is not a valid metric name or the family was written already.
    pub fn family(&mut self, name: &str, kind: MetricKind, help: &str) -> bool {
        if !is_metric_name(name) || !self.families.insert(name.to_string()) {
            tracing::warn!(metric = name, "metric family refused: bad or repeated name");
            self.current = None;
            return false;
        }
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
        self.current = Some(name.to_string());
        true
    }

    /// A sample of the family last started; `name` is the family's or, for a histogram, one
    /// of its `_bucket`, `_sum` and `_count` series.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let Some(family) = &self.current else {
            return;
        };
        let belongs = name == family
            || ["_bucket", "_sum", "_count", "_total"]
                .iter()
                .any(|suffix| name.strip_suffix(suffix) == Some(family.as_str()));
        if !belongs || labels.iter().any(|(label, _)| !is_label_name(label)) {
            tracing::warn!(metric = name, "metric sample refused: not of its family");
            return;
        }
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let value = value
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.out, "{label}=\"{value}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }

    /// A family of one gauge sample.
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        if self.family(name, MetricKind::Gauge, help) {
            self.sample(name, &[], value);
        }
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{value}")
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// Something that contributes gauges to every scrape. It should stay cheap (one indexed
/// query at most) and, when it cannot read its value, log and write nothing.
#[async_trait]
pub trait Gauges: Send + Sync + 'static {
    async fn render(&self, out: &mut Exposition);
}

/// Counters of one family: answers per status class, and the latency histogram.
#[derive(Debug, Default)]
struct FamilyStats {
    by_class: [AtomicU64; 5],
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// Requests seen on the public listener, per endpoint family.
#[derive(Debug)]
pub struct RequestMetrics {
    /// Family name, the paths it covers, its counters; the last one is `other`.
    families: Vec<(String, Vec<String>, FamilyStats)>,
}

impl RequestMetrics {
    /// Counters for `families`, a request belonging to the family whose endpoint path is its
    /// longest prefix; anything else counts as `other`.
    pub fn new(families: &[Family]) -> Arc<Self> {
        let mut list: Vec<(String, Vec<String>, FamilyStats)> = families
            .iter()
            .map(|f| {
                let paths = f
                    .endpoints
                    .iter()
                    .map(|e| path_of(e).trim_end_matches('/').to_string())
                    .collect();
                (f.name.clone(), paths, FamilyStats::default())
            })
            .collect();
        list.push(("other".into(), Vec::new(), FamilyStats::default()));
        Arc::new(Self { families: list })
    }

    /// The index of the family `path` belongs to.
    fn family_of(&self, path: &str) -> usize {
        let mut best: Option<(usize, usize)> = None;
        for (i, (_, paths, _)) in self.families.iter().enumerate() {
            for prefix in paths {
                let covers = path == prefix
                    || path
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with('/'));
                if covers && best.is_none_or(|(_, len)| prefix.len() > len) {
                    best = Some((i, prefix.len()));
                }
            }
        }
        best.map_or(self.families.len() - 1, |(i, _)| i)
    }

    /// Counts one answered request of the family of `path`.
    pub fn observe(&self, path: &str, status: u16, elapsed: Duration) {
        let stats = &self.families[self.family_of(path)].2;
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        stats.by_class[class].fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        if let Some(bucket) = BUCKETS.iter().position(|le| seconds <= *le) {
            stats.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        stats.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        stats.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The middleware that counts every request through it.
    pub fn middleware(self: &Arc<Self>) -> CountRequests {
        CountRequests {
            metrics: self.clone(),
        }
    }

    fn render(&self, out: &mut Exposition) {
        const REQUESTS: &str = "aberta_http_requests_total";
        const DURATION: &str = "aberta_http_request_duration_seconds";
        if out.family(
            REQUESTS,
            MetricKind::Counter,
            "Requests answered on the public listener, by endpoint family and status class.",
        ) {
            for (family, _, stats) in &self.families {
                for (i, counter) in stats.by_class.iter().enumerate() {
                    let class = format!("{}xx", i + 1);
                    let value = counter.load(Ordering::Relaxed) as f64;
                    out.sample(REQUESTS, &[("family", family), ("code", &class)], value);
                }
            }
        }
        if out.family(
            DURATION,
            MetricKind::Histogram,
            "Time to answer on the public listener, by endpoint family.",
        ) {
            let bucket = format!("{DURATION}_bucket");
            for (family, _, stats) in &self.families {
                let mut cumulative = 0u64;
                for (le, counter) in BUCKETS.iter().zip(&stats.buckets) {
                    cumulative += counter.load(Ordering::Relaxed);
                    let le = number(*le);
                    out.sample(
                        &bucket,
                        &[("family", family), ("le", &le)],
                        cumulative as f64,
                    );
                }
                let count = stats.count.load(Ordering::Relaxed);
                out.sample(&bucket, &[("family", family), ("le", "+Inf")], count as f64);
                let sum = stats.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
                out.sample(&format!("{DURATION}_sum"), &[("family", family)], sum);
                out.sample(
                    &format!("{DURATION}_count"),
                    &[("family", family)],
                    count as f64,
                );
            }
        }
    }
}

/// See [`RequestMetrics::middleware`].
pub struct CountRequests {
    metrics: Arc<RequestMetrics>,
}

impl<E: Endpoint> Middleware<E> for CountRequests {
    type Output = CountRequestsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CountRequestsEndpoint {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

pub struct CountRequestsEndpoint<E> {
    inner: E,
    metrics: Arc<RequestMetrics>,
}

impl<E: Endpoint> Endpoint for CountRequestsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let path = req.uri().path().to_string();
        let started = Instant::now();
        let result = self.inner.call(req).await.map(IntoResponse::into_response);
        let status = match &result {
            Ok(response) => response.status(),
            Err(err) => err.status(),
        };
        self.metrics
            .observe(&path, status.as_u16(), started.elapsed());
        result
    }
}

/// What a scrape returns: the request counters and every registered [`Gauges`].
#[derive(Default)]
pub struct Exporter {
    requests: Option<Arc<RequestMetrics>>,
    gauges: RwLock<Vec<Arc<dyn Gauges>>>,
}

impl Exporter {
    pub fn new(requests: Option<Arc<RequestMetrics>>) -> Arc<Self> {
        Arc::new(Self {
            requests,
            gauges: RwLock::new(Vec::new()),
        })
    }

    /// Adds gauges to every later scrape.
    pub fn register(&self, gauges: Arc<dyn Gauges>) {
        self.gauges
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(gauges);
    }

    /// The page a scrape gets.
    pub async fn render(&self) -> String {
        let mut out = Exposition::new();
        if let Some(requests) = &self.requests {
            requests.render(&mut out);
        }
        let gauges: Vec<Arc<dyn Gauges>> = self
            .gauges
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        for g in gauges {
            g.render(&mut out).await;
        }
        out.finish()
    }
}

/// `GET /metrics` over `exporter`; with a token, scrapes must send it as a bearer token.
pub fn prometheus_route(exporter: Arc<Exporter>, token: Option<String>) -> poem::Route {
    let endpoint = poem::endpoint::make(move |req: Request| {
        let exporter = exporter.clone();
        let token = token.clone();
        async move {
            if let Some(token) = token.as_deref()
                && !bearer_is(&req, token)
            {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            exporter
                .render()
                .await
                .with_content_type(CONTENT_TYPE)
                .into_response()
        }
    });
    poem::Route::new().at("/metrics", poem::get(endpoint))
}

fn bearer_is(req: &Request, token: &str) -> bool {
    let Some(presented) = req
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
    else {
        return false;
    };
    aberta_store::same_secret(presented, token)
}

/// One `COUNT(*)` as a gauge.
async fn count(db: &DatabaseConnection, sql: &str) -> Option<i64> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await;
    match row {
        Ok(Some(row)) => row.try_get::<i64>("", "n").ok(),
        Ok(None) => Some(0),
        Err(err) => {
            tracing::warn!(%err, "reading a gauge");
            None
        }
    }
}

/// Events written to the outbox and not yet published.
pub struct OutboxDepth {
    db: DatabaseConnection,
}

impl OutboxDepth {
    pub fn new(db: DatabaseConnection) -> Arc<Self> {
        Arc::new(Self { db })
    }
}

#[async_trait]
impl Gauges for OutboxDepth {
    async fn render(&self, out: &mut Exposition) {
        let sql =
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM event_outbox WHERE published_at IS NULL";
        if let Some(n) = count(&self.db, sql).await {
            out.gauge(
                "aberta_outbox_pending_events",
                "Events in the outbox not yet published.",
                n as f64,
            );
        }
    }
}

/// Recorded calls the PCM has not accepted yet.
pub struct PcmBacklog {
    db: DatabaseConnection,
}

impl PcmBacklog {
    pub fn new(db: DatabaseConnection) -> Arc<Self> {
        Arc::new(Self { db })
    }
}

#[async_trait]
impl Gauges for PcmBacklog {
    async fn render(&self, out: &mut Exposition) {
        let sql = "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM api_call WHERE reported_at IS NULL";
        if let Some(n) = count(&self.db, sql).await {
            out.gauge(
                "aberta_pcm_unreported_calls",
                "Recorded calls not yet accepted by the PCM.",
                n as f64,
            );
        }
    }
}

/// The current status (1 on its code, 0 on the others) and the outages in effect.
pub struct StatusGauges {
    register: Arc<OutageRegister>,
    settings: StatusSettings,
}

impl StatusGauges {
    pub fn new(register: Arc<OutageRegister>, settings: StatusSettings) -> Arc<Self> {
        Arc::new(Self { register, settings })
    }
}

#[async_trait]
impl Gauges for StatusGauges {
    async fn render(&self, out: &mut Exposition) {
        let now = self.register.now();
        let outages = match self.register.in_effect(now).await {
            Ok(outages) => outages,
            Err(err) => {
                tracing::warn!(%err, "reading the status for a scrape");
                return;
            }
        };
        let current = status::current(&outages, now, None, &self.settings);
        const STATUS: &str = "aberta_status_condition";
        if out.family(
            STATUS,
            MetricKind::Gauge,
            "The discovery status: 1 on the current code.",
        ) {
            for condition in Condition::ALL {
                let value = if condition == current.condition {
                    1.0
                } else {
                    0.0
                };
                out.sample(STATUS, &[("code", condition.as_str())], value);
            }
        }
        out.gauge(
            "aberta_outages_in_effect",
            "Outages in effect, scheduled or not.",
            outages.len() as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_escapes_and_refuses() {
        let mut out = Exposition::new();
        assert!(out.family("a_b", MetricKind::Gauge, "line\nbreak \\ here"));
        out.sample("a_b", &[("x", "q\"u\\o\nte")], 1.5);
        out.sample("other", &[], 1.0);
        out.sample("a_b", &[("bad-label", "v")], 1.0);
        assert!(!out.family("a_b", MetricKind::Gauge, "again"));
        out.sample("a_b", &[], 2.0);
        assert!(!out.family("9bad", MetricKind::Gauge, "x"));
        out.gauge("c", "c", f64::INFINITY);
        assert_eq!(
            out.finish(),
            "# HELP a_b line\\nbreak \\\\ here\n# TYPE a_b gauge\n\
             a_b{x=\"q\\\"u\\\\o\\nte\"} 1.5\n# HELP c c\n# TYPE c gauge\nc +Inf\n"
        );
    }

    #[test]
    fn families_by_longest_prefix() {
        let metrics = RequestMetrics::new(&[
            Family::new(
                "accounts",
                vec!["https://h/open-banking/accounts/v2".into()],
            ),
            Family::new("payments", vec!["/open-banking/payments/v4/".into()]),
            Family::new("pix", vec!["/open-banking/payments/v4/pix".into()]),
        ]);
        assert_eq!(metrics.family_of("/open-banking/accounts/v2/accounts"), 0);
        assert_eq!(metrics.family_of("/open-banking/payments/v4/consents"), 1);
        assert_eq!(
            metrics.family_of("/open-banking/payments/v4/pix/payments"),
            2
        );
        assert_eq!(metrics.family_of("/open-banking/accounts/v20"), 3);
        assert_eq!(metrics.family_of("/token"), 3);
    }
}
