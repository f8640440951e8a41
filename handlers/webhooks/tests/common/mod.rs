//! Shared test setup: both database backends (each test in a database of its own: a SQLite
//! file, or a PostgreSQL schema), the test PKI of `aberta-ecosystem`, and a webhook receiver
//! served over real mutual TLS on loopback that records what it gets.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aberta_ecosystem::pki::{self, Pki, TransportSubject};
use aberta_ecosystem::tls::{self, MtlsServer};
use aberta_runtime::context::ClientCert;
use aberta_webhooks::{Deliverer, DeliveryPolicy, INTERACTION_ID_HEADER};
use chrono::Utc;
use poem::EndpointExt;
use poem::http::StatusCode;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use tokio::net::TcpListener;
use tokio::sync::Notify;

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
            "ABERTA_TEST_DATABASE_URL is not set. The webhook tests run on PostgreSQL too: \
             createdb -h 127.0.0.1 -U postgres aberta_webhooks && export \
             ABERTA_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/aberta_webhooks"
        )
    })
}

/// A database of this test alone with this module migrated: a deliverer claims every due row,
/// so tests running in parallel must not see each other's. `second()` opens another pool on
/// the same database, as a second instance of the platform would.
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
                let schema = format!("webhooks_{}", uuid::Uuid::new_v4().simple());
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
        aberta_webhooks::migrate(&conn).await.unwrap();
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

async fn connect(url: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_string());
    options.max_connections(4).sqlx_logging(false);
    let conn = Database::connect(options).await.unwrap();
    if url.starts_with("sqlite:") {
        conn.execute_unprepared("PRAGMA journal_mode=WAL")
            .await
            .unwrap();
    }
    conn
}

/// The test PKI, made once per test binary: the CAs, the receiver's server certificate and
/// the account holder's transport certificate.
pub struct Certs {
    _dir: tempfile::TempDir,
    pub ca_bundle: PathBuf,
    pub server: Arc<rustls::ServerConfig>,
    pub client_pem: Vec<u8>,
    pub client_thumbprint: String,
}

pub fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        tls::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::open_or_create(dir.path()).unwrap();
        let subject = TransportSubject {
            org_id: "74e929d9-33b6-4d85-8ba7-c146c867a817".into(),
            software_id: "b7c2c3a4-9f0e-4f4e-8a55-0f6a2d1f3c11".into(),
            cnpj: "12345678000195".into(),
            business_category: "Private Organization".into(),
            common_name: "Aberta account holder".into(),
        };
        let holder_dir = dir.path().join("holder");
        std::fs::create_dir_all(&holder_dir).unwrap();
        let transport = pki.issue_transport(&subject, &holder_dir).unwrap();
        let mut client_pem = std::fs::read(&transport.cert_path).unwrap();
        client_pem.extend(std::fs::read(&transport.key_path).unwrap());
        let leaf = pki::certs_from_pem_file(&transport.cert_path).unwrap();
        Certs {
            ca_bundle: pki.ca_bundle_path(),
            server: tls::sandbox_server_config(&pki).unwrap(),
            client_pem,
            client_thumbprint: pki::thumbprint(leaf[0].as_ref()),
            _dir: dir,
        }
    })
}

/// The account holder's client: its transport certificate, the test CA as the only root.
pub fn mtls_client() -> reqwest::Client {
    let certs = certs();
    let ca = std::fs::read(&certs.ca_bundle).unwrap();
    reqwest::Client::builder()
        .tls_backend_rustls()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).unwrap())
        .identity(reqwest::Identity::from_pem(&certs.client_pem).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Small waits, so retries come quickly; a long lease (tests move `now` to expire it).
pub fn policy() -> DeliveryPolicy {
    DeliveryPolicy {
        max_attempts: 5,
        first_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(40),
        lease: Duration::from_secs(60),
        request_timeout: Duration::from_secs(20),
        batch_size: 32,
    }
}

pub fn deliverer(conn: &DatabaseConnection, policy: DeliveryPolicy) -> Deliverer {
    Deliverer::new(conn.clone(), mtls_client(), policy).unwrap()
}

/// Runs `deliverer` with the real clock until nothing is pending. The bound on rounds only
/// keeps a broken build from hanging; it is no timing claim.
pub async fn drain(deliverer: &Deliverer) -> aberta_webhooks::DeliveryReport {
    let mut total = aberta_webhooks::DeliveryReport::default();
    for _ in 0..5_000 {
        let report = deliverer.deliver_due(Utc::now()).await.unwrap();
        total.claimed += report.claimed;
        total.delivered += report.delivered;
        total.retrying += report.retrying;
        total.failed += report.failed;
        total.lease_lost += report.lease_lost;
        if report.claimed == 0 && deliverer.pending_count().await.unwrap() == 0 {
            return total;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("deliveries still pending after 5000 rounds");
}

/// Polls `check` until it holds (bounded, to fail instead of hanging).
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..5_000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("never happened: {what}");
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    pub interaction_id: Option<String>,
    pub body: String,
    /// `x5t#S256` of the client certificate the request came with.
    pub client_thumbprint: Option<String>,
}

/// A webhook receiver over mutual TLS (client certificate required, chained to the test CA):
/// records every request and answers with the status it is set to, or holds one request until
/// released.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    received: Mutex<Vec<Received>>,
    status: AtomicU16,
    hold_next: AtomicBool,
    release: Notify,
}

pub struct Running {
    pub receiver: Receiver,
    server: MtlsServer,
}

impl std::ops::Deref for Running {
    type Target = Receiver;

    fn deref(&self) -> &Receiver {
        &self.receiver
    }
}

impl Running {
    pub async fn stop(self) {
        self.server.shutdown().await;
    }
}

impl Receiver {
    /// A receiver on a free loopback port.
    pub async fn start() -> Running {
        Self::serve(TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    /// A receiver on `port` (one a test saw closed before).
    pub async fn start_on(port: u16) -> Running {
        Self::serve(TcpListener::bind(("127.0.0.1", port)).await.unwrap())
    }

    fn serve(listener: TcpListener) -> Running {
        let state = Arc::new(State {
            status: AtomicU16::new(202),
            ..State::default()
        });
        let receiver = Receiver {
            addr: listener.local_addr().unwrap(),
            state: state.clone(),
        };
        let endpoint = poem::endpoint::make(move |req: poem::Request| {
            let state = state.clone();
            async move { state.answer(req).await }
        });
        let server = MtlsServer::serve(listener, certs().server.clone(), endpoint.boxed()).unwrap();
        Running { receiver, server }
    }

    /// The webhook base a TPP would register: `https://127.0.0.1:<port>/tpp/`.
    pub fn base(&self) -> String {
        format!("https://{}/tpp/", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.state.received.lock().unwrap().len()
    }

    pub fn answer_with(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// The next request is recorded, then held unanswered until [`release`](Self::release).
    pub fn hold_next(&self) {
        self.state.hold_next.store(true, Ordering::SeqCst);
    }

    pub fn release(&self) {
        self.state.release.notify_one();
    }
}

impl State {
    async fn answer(&self, mut req: poem::Request) -> poem::Response {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let interaction_id = header(INTERACTION_ID_HEADER);
        let received = Received {
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
            content_type: header("content-type"),
            interaction_id: interaction_id.clone(),
            client_thumbprint: req
                .extensions()
                .get::<ClientCert>()
                .map(|cert| cert.thumbprint.clone()),
            body: req.take_body().into_string().await.unwrap_or_default(),
        };
        self.received.lock().unwrap().push(received);
        if self.hold_next.swap(false, Ordering::SeqCst) {
            self.release.notified().await;
        }
        let status = StatusCode::from_u16(self.status.load(Ordering::SeqCst)).unwrap();
        let mut response = poem::Response::builder().status(status);
        if let Some(id) = interaction_id {
            response = response.header(INTERACTION_ID_HEADER, id);
        }
        response.finish()
    }
}
