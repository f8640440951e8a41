//! Shared test setup: both database backends (each test in a database of its own: a SQLite
//! file, or a PostgreSQL schema), the PCM simulator of `aberta-ecosystem` over real mutual
//! TLS with a seeded sandbox PKI, and a small poem application of fake regulated routes
//! wrapped in the capture layer, called in process.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use aberta_ecosystem::pcm_sim::{self, ReportStore, store::StoredReport};
use aberta_ecosystem::sandbox::{self, Ports, SandboxJson};
use aberta_ecosystem::tls::{MtlsServer, install_crypto_provider};
use aberta_pcm::{
    CallFacts, Capture, CaptureConfig, CaptureSink, CaptureWriter, EndpointMatcher, PcmConfig,
    PcmMetrics, PersonType, Reporter, WriterConfig, facts,
};
use aberta_runtime::context::{CertSubject, ClientCert};
use aberta_store::KeyRing;
use poem::http::{Method, StatusCode};
use poem::web::{LocalAddr, RemoteAddr};
use poem::{
    Addr, Endpoint, EndpointExt, IntoResponse, Request, RequestParts, Response, Route, get,
    handler, post,
};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use tokio::net::TcpListener;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Both backends; PostgreSQL comes from `ABERTA_TEST_DATABASE_URL` and is required.
pub fn backends() -> [Backend; 2] {
    postgres_url();
    [Backend::Sqlite, Backend::Postgres]
}

pub fn postgres_url() -> String {
    std::env::var("ABERTA_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "ABERTA_TEST_DATABASE_URL is not set. The PCM tests run on PostgreSQL too: \
             createdb -h 127.0.0.1 -U postgres aberta_pcm && export \
             ABERTA_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/aberta_pcm"
        )
    })
}

/// A database of this test alone with this crate migrated: a reporter claims every due row,
/// so tests running in parallel must not see each other's. `second()` opens another pool on
/// the same database, as a restarted or second instance would.
pub struct Db {
    pub conn: DatabaseConnection,
    pub backend: Backend,
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    pub async fn new(backend: Backend) -> Self {
        let (url, dir) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("aberta.db").display()
                );
                (url, Some(dir))
            }
            Backend::Postgres => {
                let base = postgres_url();
                let schema = format!("pcm_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(&base).await.unwrap();
                admin
                    .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                    .await
                    .unwrap();
                admin.close().await.unwrap();
                let separator = if base.contains('?') { '&' } else { '?' };
                (
                    format!("{base}{separator}options[search_path]={schema}"),
                    None,
                )
            }
        };
        let conn = connect(&url).await;
        aberta_pcm::migrate(&conn).await.unwrap();
        Self {
            conn,
            backend,
            url,
            _dir: dir,
        }
    }

    pub async fn second(&self) -> DatabaseConnection {
        connect(&self.url).await
    }

    /// Drops the PostgreSQL schema (the SQLite file goes with its directory).
    pub async fn finish(self) {
        if self.backend == Backend::Postgres {
            let schema = self.url.rsplit('=').next().unwrap().to_string();
            self.conn.close().await.unwrap();
            let admin = Database::connect(&postgres_url()).await.unwrap();
            admin
                .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
                .await
                .unwrap();
            admin.close().await.unwrap();
        }
    }
}

pub async fn connect(url: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_string());
    options.max_connections(4).sqlx_logging(false);
    let conn = Database::connect(options).await.unwrap();
    if url.starts_with("sqlite:") {
        conn.execute_unprepared("PRAGMA journal_mode=WAL")
            .await
            .unwrap();
        conn.execute_unprepared("PRAGMA busy_timeout=5000")
            .await
            .unwrap();
    }
    conn
}

/// A seeded sandbox data directory with the PCM simulator served over mutual TLS.
pub struct Pcm {
    pub dir: tempfile::TempDir,
    pub contract: SandboxJson,
    pub server: MtlsServer,
}

impl Pcm {
    pub async fn start() -> Self {
        install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ports = Ports {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            holder: 1,
            directory: 2,
            pcm: listener.local_addr().unwrap().port(),
        };
        let data = dir.path().to_path_buf();
        let contract =
            tokio::task::spawn_blocking(move || sandbox::prepare(&data, &ports).unwrap())
                .await
                .unwrap();
        let server = pcm_sim::serve(dir.path(), listener, &contract.pcm.base_url).unwrap();
        Self {
            dir,
            contract,
            server,
        }
    }

    fn store(&self) -> ReportStore {
        ReportStore::new(self.dir.path())
    }

    /// Every report the simulator accepted.
    pub fn stored(&self) -> Vec<StoredReport> {
        self.store().all().unwrap()
    }

    /// The simulator answers 503 to everything for `seconds` from now.
    pub fn outage(&self, seconds: i64) {
        self.store()
            .set_outage(chrono::Utc::now() + chrono::Duration::seconds(seconds))
            .unwrap();
    }

    pub fn end_outage(&self) {
        self.store().clear_outage().unwrap();
    }

    /// The account holder's organisation: the reports' `serverOrgId`.
    pub fn holder_org(&self) -> &str {
        &self.contract.holder.org_id
    }

    /// The TPP's organisation: the reports' `clientOrgId`.
    pub fn tpp_org(&self) -> &str {
        &self.contract.tpp.org_id
    }

    /// A reporter configuration with the holder's transport certificate and quick retries.
    pub fn config(&self) -> PcmConfig {
        let mut identity = std::fs::read(&self.contract.holder.transport_cert).unwrap();
        identity.extend(std::fs::read(&self.contract.holder.transport_key).unwrap());
        let roots = std::fs::read(&self.contract.ca_bundle).unwrap();
        let mut config = PcmConfig::new(
            &self.contract.pcm.base_url,
            &self.contract.pcm.token_url,
            identity,
            roots,
            self.holder_org(),
        );
        config.scope = Some(pcm_sim::PCM_SCOPE.to_string());
        config.client_id = Some(self.contract.holder.software_id.clone());
        config.interval = Duration::from_millis(50);
        config.request_timeout = Duration::from_secs(3);
        config.lease = Duration::from_secs(8);
        config.first_backoff = Duration::from_millis(100);
        config.max_backoff = Duration::from_millis(800);
        config
    }
}

pub fn keyring() -> Arc<KeyRing> {
    Arc::new(KeyRing::generate().unwrap())
}

/// A writer that writes small batches quickly.
pub fn writer(
    conn: &DatabaseConnection,
    keyring: &Arc<KeyRing>,
    metrics: &Arc<PcmMetrics>,
) -> CaptureWriter {
    CaptureWriter::spawn(
        conn.clone(),
        keyring.clone(),
        metrics.clone(),
        WriterConfig {
            max_batch: 64,
            flush_every: Duration::from_millis(20),
            ..WriterConfig::default()
        },
    )
}

pub fn reporter(
    conn: &DatabaseConnection,
    config: PcmConfig,
    keyring: &Arc<KeyRing>,
    metrics: &Arc<PcmMetrics>,
) -> Reporter {
    Reporter::new(conn.clone(), config, keyring.clone(), metrics.clone()).unwrap()
}

// ---- the fake regulated application ----

#[handler]
fn account() -> Response {
    json(StatusCode::OK, r#"{"data":{}}"#)
}

#[handler]
fn unauthorised_token() -> Response {
    json(
        StatusCode::UNAUTHORIZED,
        r#"{"error":"invalid_client","error_description":"no"}"#,
    )
}

#[handler]
fn missing_bills() -> Response {
    json(
        StatusCode::NOT_FOUND,
        r#"{"errors":[{"code":"NAO_ENCONTRADO","title":"t","detail":"d"}],"meta":{}}"#,
    )
}

/// Creating a consent: the handler notes what only it knows.
#[handler]
fn create_consent() -> Response {
    facts::note(|f| {
        f.consent_id = Some("urn:aberta:created-1".into());
        f.status = Some("AWAITING_AUTHORISATION".into());
        f.person_type = Some(PersonType::Pf);
    });
    json(StatusCode::CREATED, r#"{"data":{}}"#)
}

/// Reading a consent: the handler attaches the facts to its response.
#[handler]
fn read_consent() -> Response {
    let mut resp = json(StatusCode::OK, r#"{"data":{}}"#);
    resp.extensions_mut().insert(CallFacts {
        status: Some("AUTHORISED".into()),
        ..CallFacts::default()
    });
    resp
}

#[handler]
fn portal() -> &'static str {
    "a page"
}

fn json(status: StatusCode, body: &'static str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body)
}

/// Echoes a valid request interaction id or mints one, as the platform's middleware does.
async fn interaction<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let id = req
        .headers()
        .get("x-fapi-interaction-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| aberta_runtime::fapi_headers::is_interaction_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut resp = next.call(req).await?.into_response();
    resp.headers_mut()
        .insert("x-fapi-interaction-id", id.parse().unwrap());
    Ok(resp)
}

/// The fake application, wrapped in the capture layer.
pub fn app(sink: CaptureSink, server_org: &str) -> poem::endpoint::BoxEndpoint<'static> {
    Route::new()
        .at("/open-banking/accounts/v2/accounts", get(account))
        .at(
            "/open-banking/accounts/v2/accounts/:accountId",
            get(account),
        )
        .at(
            "/open-banking/credit-cards-accounts/v2/accounts/:creditCardAccountId/bills",
            get(missing_bills),
        )
        .at("/open-banking/consents/v3/consents", post(create_consent))
        .at(
            "/open-banking/consents/v3/consents/:consentId",
            get(read_consent),
        )
        .at("/token", post(unauthorised_token))
        .at("/portal/login", get(portal))
        .around(interaction)
        .with(Capture::new(
            Arc::new(EndpointMatcher::regulated()),
            sink,
            CaptureConfig::single("demo", server_org),
        ))
        .boxed()
}

/// The address calls come from.
pub const CLIENT_IP: &str = "203.0.113.7";

/// A request from `client_org` (its certificate's organisation), from [`CLIENT_IP`].
pub fn request(method: Method, path: &str, client_org: &str) -> Request {
    let (parts, ()) = poem::http::Request::builder()
        .method(method)
        .uri(path)
        .body(())
        .unwrap()
        .into_parts();
    let remote: SocketAddr = format!("{CLIENT_IP}:50000").parse().unwrap();
    let mut parts = RequestParts::from((
        parts,
        LocalAddr(Addr::SocketAddr("127.0.0.1:8443".parse().unwrap())),
        RemoteAddr(Addr::SocketAddr(remote)),
        poem::http::uri::Scheme::HTTPS,
    ));
    parts.extensions.insert(ClientCert {
        der: Arc::from(&b"not a real certificate"[..]),
        thumbprint: "thumbprint".into(),
        subject: Some(CertSubject {
            software_id: "software-1".into(),
            org_id: client_org.to_string(),
        }),
    });
    Request::from_parts(parts, poem::Body::empty())
}

/// Calls `app` and returns the status and the answered interaction id.
pub async fn call(
    app: &poem::endpoint::BoxEndpoint<'static>,
    method: Method,
    path: &str,
    client_org: &str,
) -> (StatusCode, String) {
    let resp = app.get_response(request(method, path, client_org)).await;
    let id = resp
        .headers()
        .get("x-fapi-interaction-id")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (resp.status(), id)
}

/// `n` calls spread over the reportable fake routes (all in the pcm 1.0.2 list); returns the
/// interaction ids answered.
pub async fn reportable_calls(
    app: &poem::endpoint::BoxEndpoint<'static>,
    n: usize,
    client_org: &str,
) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let (method, path) = match i % 4 {
            0 => (
                Method::GET,
                format!("/open-banking/accounts/v2/accounts/acc-{i}"),
            ),
            1 => (
                Method::GET,
                "/open-banking/accounts/v2/accounts".to_string(),
            ),
            2 => (
                Method::GET,
                format!("/open-banking/credit-cards-accounts/v2/accounts/cc-{i}/bills"),
            ),
            _ => (Method::POST, "/token".to_string()),
        };
        let (_, id) = call(app, method, &path, client_org).await;
        ids.push(id);
    }
    ids
}

/// Polls `check` until it holds; the bound only keeps a broken build from hanging.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..1_200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}
