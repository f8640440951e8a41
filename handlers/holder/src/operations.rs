//! The regulatory operations around the APIs, wired for the account holder: status and outages
//! and admin metrics on the public listener; the outage register, the event topics and the
//! Prometheus page on the internal one; the health checker and the event delivery in the
//! background. Everything they keep is in the database, so every instance answers alike.

use std::sync::Arc;
use std::time::Duration;

use aberta_auth::AuthServer;
use aberta_ecosystem::sandbox::SandboxJson;
use aberta_events::NatsSink;
use aberta_pcm::{
    BrandIdentity, Capture, CaptureConfig, CaptureWriter, PcmConfig, PcmMetrics, Reporter,
    ReporterHandle, WriterConfig,
};
use aberta_status::{
    Exporter, Family, HealthChecker, HealthPolicy, OutageRegister, OutboxDepth, PcmBacklog, Probe,
    RequestMetrics, StatusGauges, StatusSettings, SystemClock,
};
use aberta_store::{KeyRing, Store};
use async_trait::async_trait;
use poem::Route;
use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;

use crate::error::HolderError;

/// Where the internal listener serves the outage register, and the Prometheus page.
pub const STATUS_PATH: &str = "/internal/v1/status";
pub const METRICS_PATH: &str = "/metrics";

/// The regulated API families the holder serves: the name (as the recorded calls spell it),
/// its base path, and a path under it the health checker asks for without a token (an answer
/// below 500 means the family is up).
const FAMILIES: [(&str, &str, &str); 10] = [
    (
        "consents",
        ofb_consents_v3::server::BASE_PATH,
        "/consents/urn:probe",
    ),
    (
        "resources",
        ofb_resources_v3::server::BASE_PATH,
        "/resources",
    ),
    (
        "customers",
        ofb_customers_v2::server::BASE_PATH,
        "/personal/identifications",
    ),
    ("accounts", ofb_accounts_v2::server::BASE_PATH, "/accounts"),
    (
        "credit-cards",
        ofb_credit_cards_v2::server::BASE_PATH,
        "/accounts",
    ),
    ("loans", ofb_loans_v2::server::BASE_PATH, "/contracts"),
    (
        "financings",
        ofb_financings_v2::server::BASE_PATH,
        "/contracts",
    ),
    (
        "invoice-financings",
        ofb_invoice_financings_v2::server::BASE_PATH,
        "/contracts",
    ),
    (
        "unarranged-accounts-overdraft",
        ofb_unarranged_accounts_overdraft_v2::server::BASE_PATH,
        "/contracts",
    ),
    (
        "payments",
        ofb_payments_v4::server::BASE_PATH,
        "/consents/urn:probe",
    ),
];

/// The event sink the environment configures: NATS JetStream when `ABERTA_NATS_URL` is set
/// (stream `ABERTA_NATS_STREAM`, default `ABERTA_EVENTS`; subjects under
/// `ABERTA_NATS_SUBJECT_PREFIX`, default `aberta`), else only the embedded topics.
pub fn nats_from_env() -> Option<NatsSink> {
    let url = std::env::var("ABERTA_NATS_URL").ok()?;
    Some(NatsSink {
        url,
        stream: std::env::var("ABERTA_NATS_STREAM").unwrap_or_else(|_| "ABERTA_EVENTS".into()),
        subject_prefix: std::env::var("ABERTA_NATS_SUBJECT_PREFIX")
            .unwrap_or_else(|_| "aberta".into()),
    })
}

/// How long the outbox keeps delivered events and the recorded calls the PCM accepted.
/// Undelivered events and unreported or refused calls are kept whatever their age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Delivered events: a subscriber of the embedded topics must read within this.
    pub events: Duration,
    /// Reported calls: the admin metrics read the current day and the 7 before it.
    pub reported_calls: Duration,
    /// How often the purge runs.
    pub every: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        Self {
            events: Duration::from_secs(7 * DAY),
            reported_calls: Duration::from_secs(35 * DAY),
            every: Duration::from_secs(3600),
        }
    }
}

/// Rows per DELETE of the purge, so no statement holds its locks for long.
const PURGE_ROUND: u64 = 10_000;

/// Purges what `retention` lets go, in rounds of [`PURGE_ROUND`] rows; returns the events
/// and calls deleted. Every instance may run it: the rounds delete disjoint or no rows.
pub async fn purge(
    db: &DatabaseConnection,
    retention: Retention,
    now_ms: i64,
) -> Result<(u64, u64), HolderError> {
    let cut =
        |keep: Duration| now_ms.saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX));
    let mut events = 0;
    loop {
        let round = aberta_events::purge_delivered(db, cut(retention.events), PURGE_ROUND).await?;
        events += round;
        if round < PURGE_ROUND {
            break;
        }
    }
    let mut calls = 0;
    loop {
        let round =
            aberta_pcm::purge_reported(db, cut(retention.reported_calls), PURGE_ROUND).await?;
        calls += round;
        if round < PURGE_ROUND {
            break;
        }
    }
    Ok((events, calls))
}

/// The operations of one holder process.
pub struct Operations {
    pub register: Arc<OutageRegister>,
    pub requests: Arc<RequestMetrics>,
    pub exporter: Arc<Exporter>,
    families: Vec<Family>,
    db: DatabaseConnection,
}

impl Operations {
    /// Migrates the tables (events, status, recorded calls) and builds the register and
    /// counters; `issuer` is the public base URL the status API names endpoints under.
    pub async fn open(store: &Store, issuer: &str) -> Result<Self, HolderError> {
        let db = store.connection().clone();
        aberta_events::migrate(&db).await?;
        aberta_status::migrate(&db).await?;
        let register = Arc::new(OutageRegister::new(db.clone(), Arc::new(SystemClock)));
        let families: Vec<Family> = FAMILIES
            .iter()
            .map(|(name, base, _)| Family::new(*name, vec![format!("{issuer}{base}")]))
            .collect();
        let requests = RequestMetrics::new(&families);
        let exporter = Exporter::new(Some(requests.clone()));
        exporter.register(OutboxDepth::new(db.clone()));
        exporter.register(PcmBacklog::new(db.clone()));
        exporter.register(StatusGauges::new(
            register.clone(),
            StatusSettings::default(),
        ));
        Ok(Self {
            register,
            requests,
            exporter,
            families,
            db,
        })
    }

    /// `apis` with the status/outages and admin metrics APIs added.
    pub fn public_routes(&self, apis: Route, auth: Arc<AuthServer>) -> Route {
        let brand_of: aberta_status::BrandOf = Arc::new(move |ctx| auth.brand_id(ctx));
        apis.nest_no_strip(
            ofb_common_v2::server::BASE_PATH,
            ofb_common_v2::server::routes(aberta_status::discovery_api(
                self.register.clone(),
                StatusSettings::default(),
            )),
        )
        .nest_no_strip(
            ofb_admin_v2::server::BASE_PATH,
            ofb_admin_v2::server::routes(aberta_status::admin_api(
                self.register.clone(),
                Some(brand_of),
            )),
        )
    }

    /// `internal` with the event topics, the outage register and the Prometheus page.
    pub fn internal_routes(&self, internal: Route, token: &str) -> Route {
        internal
            .nest(
                aberta_events::EVENTS_PATH,
                aberta_events::internal_routes(self.db.clone(), token.to_string()),
            )
            .nest(
                STATUS_PATH,
                aberta_status::internal_routes(self.register.clone(), token.to_string()),
            )
            .nest_no_strip(
                METRICS_PATH,
                aberta_status::prometheus_route(self.exporter.clone(), Some(token.to_string())),
            )
    }

    /// The background work: numbering (and, with `nats`, publishing) events, probing the
    /// families through `http` at `issuer`, and purging what `retention` lets go.
    pub fn spawn(
        &self,
        nats: Option<NatsSink>,
        http: reqwest::Client,
        issuer: &str,
        retention: Retention,
    ) -> Result<Vec<JoinHandle<()>>, HolderError> {
        let mut tasks = aberta_events::spawn(self.db.clone(), nats)?.into_handles();
        let db = self.db.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let now = chrono::Utc::now().timestamp_millis();
                match purge(&db, retention, now).await {
                    Ok((0, 0)) => {}
                    Ok((events, calls)) => tracing::info!(events, calls, "retention purge"),
                    Err(err) => tracing::warn!(%err, "retention purge failed"),
                }
                tokio::time::sleep(retention.every.max(Duration::from_secs(1))).await;
            }
        }));
        let probe = Arc::new(HttpProbe {
            http,
            issuer: issuer.to_string(),
        });
        let (checker, _stop) = HealthChecker::new(
            self.register.clone(),
            probe,
            self.families.clone(),
            HealthPolicy::default(),
        )?
        .spawn();
        tasks.push(checker);
        Ok(tasks)
    }
}

/// The name of the writer's and the reporter's thread (a benchmark reads its CPU time by it).
pub const REPORTING_THREADS: &str = "pcm-report";

/// Recording every regulated call, and reporting the recorded calls to the PCM.
pub struct CallReporting {
    pub capture: Capture,
    writer: CaptureWriter,
    reporter: ReporterHandle,
    /// The writer's and the reporter's own thread: a batch's burst of work (5,000 reports to
    /// build, send and record) never holds up a worker that serves requests.
    _threads: OwnRuntime,
}

/// A runtime of one worker thread, shut down without waiting when dropped (it is dropped
/// inside the main one).
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl CallReporting {
    /// The writer and the reporter of the sandbox's holder: every brand answers as the holder
    /// organisation, and reports go to the sandbox's PCM (client credentials with the holder's
    /// transport certificate).
    pub fn start(
        store: &Store,
        keyring: Arc<KeyRing>,
        contract: &SandboxJson,
    ) -> Result<Self, HolderError> {
        let db = store.connection().clone();
        let org_id = &contract.holder.org_id;
        let metrics = Arc::new(PcmMetrics::default());
        let threads = OwnRuntime(Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name(REPORTING_THREADS)
                .enable_all()
                .build()?,
        ));
        let inside = threads.0.as_ref().map(|r| r.enter());
        let writer = CaptureWriter::spawn(
            db.clone(),
            keyring.clone(),
            metrics.clone(),
            WriterConfig::default(),
        );
        let identity = |brand: &str| BrandIdentity {
            brand: brand.to_string(),
            server_org_id: org_id.clone(),
        };
        let config = CaptureConfig {
            default_brand: identity(&contract.holder.brand),
            brands: contract
                .brands
                .iter()
                .map(|b| {
                    let host = b.issuer.trim_start_matches("https://").to_string();
                    (host, identity(&b.brand))
                })
                .collect(),
            trust_forwarded_for: false,
        };
        let capture = Capture::layer(writer.sink(), config);
        let mut identity_pem = std::fs::read(&contract.holder.transport_cert)?;
        identity_pem.extend(std::fs::read(&contract.holder.transport_key)?);
        let pcm = PcmConfig::new(
            &contract.pcm.base_url,
            &contract.pcm.token_url,
            identity_pem,
            std::fs::read(&contract.ca_bundle)?,
            org_id,
        );
        let reporter = Reporter::new(db, pcm, keyring, metrics)?.spawn();
        drop(inside);
        Ok(Self {
            capture,
            writer,
            reporter,
            _threads: threads,
        })
    }

    /// Writes what was captured and stops reporting (what is not reported yet stays in the
    /// database for the next start).
    pub async fn shutdown(self) {
        self.writer.shutdown().await;
        self.reporter.shutdown().await;
    }
}

/// Asks each family a question without a token over the public listener: any answer below
/// 500 (a 401, normally) means the family's routes, its handlers and the process are up.
struct HttpProbe {
    http: reqwest::Client,
    issuer: String,
}

#[async_trait]
impl Probe for HttpProbe {
    async fn check(&self, family: &str) -> Result<(), String> {
        let (_, base, path) = FAMILIES
            .iter()
            .find(|(name, _, _)| *name == family)
            .ok_or_else(|| format!("no probe for {family}"))?;
        let answer = self
            .http
            .get(format!("{}{base}{path}", self.issuer))
            .header("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| format!("{family}: {e}"))?;
        if answer.status().is_server_error() {
            return Err(format!("{family} answered {}", answer.status()));
        }
        Ok(())
    }
}

/// Every answer of 500 or above (a failure of ours, or of the bank behind a connector, which
/// answers 500 or 504) becomes a `technical.http.5xx` event on the `technical` topic: the
/// templated endpoint, the status and the interaction id, never the concrete path. Written by
/// a task of its own, so the answer never waits for it.
#[derive(Clone)]
pub struct ServerErrors {
    shared: Arc<ServerErrorsShared>,
}

struct ServerErrorsShared {
    db: DatabaseConnection,
    matcher: aberta_pcm::EndpointMatcher,
    /// `host[:port]` of each brand's issuer, and the brand; the first is the default.
    brands: Vec<(String, String)>,
}

impl ServerErrors {
    pub fn new(db: DatabaseConnection, brands: Vec<(String, String)>) -> Self {
        Self {
            shared: Arc::new(ServerErrorsShared {
                db,
                matcher: aberta_pcm::EndpointMatcher::regulated(),
                brands,
            }),
        }
    }
}

impl<E: poem::Endpoint> poem::Middleware<E> for ServerErrors {
    type Output = ServerErrorsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ServerErrorsEndpoint {
            inner,
            shared: self.shared.clone(),
        }
    }
}

pub struct ServerErrorsEndpoint<E> {
    inner: E,
    shared: Arc<ServerErrorsShared>,
}

impl<E: poem::Endpoint> poem::Endpoint for ServerErrorsEndpoint<E> {
    type Output = poem::Response;

    async fn call(&self, req: poem::Request) -> poem::Result<Self::Output> {
        use poem::IntoResponse;
        let path = req.uri().path().to_string();
        let host = req
            .headers()
            .get(poem::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or_default()
            .to_ascii_lowercase();
        let response = match self.inner.call(req).await {
            Ok(output) => output.into_response(),
            Err(err) => err.into_response(),
        };
        let status = response.status().as_u16();
        if status >= 500 {
            let shared = self.shared.clone();
            let endpoint = shared
                .matcher
                .find(&path)
                .map(|m| m.endpoint.template.to_string())
                .unwrap_or_else(|| "unknown".into());
            let interaction_id = response
                .headers()
                .get(aberta_runtime::fapi_headers::INTERACTION_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let brand = shared
                .brands
                .iter()
                .find(|(h, _)| *h == host)
                .or(shared.brands.first())
                .map(|(_, b)| b.clone())
                .unwrap_or_default();
            tokio::spawn(async move {
                let detail = serde_json::json!({
                    "endpoint": endpoint,
                    "status": status,
                    "interactionId": interaction_id,
                });
                if let Err(err) =
                    aberta_events::technical(&shared.db, &brand, "http.5xx", detail).await
                {
                    tracing::warn!(%err, "recording a technical event failed");
                }
            });
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use poem::{EndpointExt, handler, http::StatusCode};

    use super::*;

    #[handler]
    fn fails() -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    #[handler]
    fn works() -> &'static str {
        "ok"
    }

    #[tokio::test]
    async fn a_5xx_answer_is_a_technical_event_and_a_2xx_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::sqlite_file(&dir.path().join("t.db")).await.unwrap();
        let db = store.connection().clone();
        aberta_events::migrate(&db).await.unwrap();
        let app = poem::Route::new()
            .at("/open-banking/accounts/v2/accounts/:id", poem::get(fails))
            .at("/open-banking/accounts/v2/accounts", poem::get(works))
            .with(ServerErrors::new(
                db.clone(),
                vec![("bank.example".into(), "demo".into())],
            ));
        let client = poem::test::TestClient::new(app);
        client
            .get("/open-banking/accounts/v2/accounts")
            .send()
            .await
            .assert_status_is_ok();
        client
            .get("/open-banking/accounts/v2/accounts/secret-id-123")
            .send()
            .await
            .assert_status(StatusCode::INTERNAL_SERVER_ERROR);
        let mut events = Vec::new();
        for _ in 0..50 {
            events = aberta_store::outbox::events(&db, "technical")
                .await
                .unwrap();
            if !events.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].event_type, "technical.http.5xx");
        assert_eq!(events[0].brand, "demo");
        assert!(
            events[0]
                .payload
                .contains("/open-banking/accounts/v2/accounts/{accountId}"),
            "{}",
            events[0].payload
        );
        assert!(!events[0].payload.contains("secret-id-123"));
    }
}
