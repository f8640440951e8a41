//! Shared test setup: both database backends (each test in a database of its own: a SQLite
//! file, or a PostgreSQL schema), a manual clock, recorded calls written straight into
//! `api_call`, and HTTP calls through poem's test client.

#![allow(dead_code)]

use std::sync::Arc;

use aberta_pcm::entity::api_call;
use aberta_status::{ManualClock, OutageRegister};
use poem::test::TestClient;
use sea_orm::{
    ActiveValue, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, EntityTrait,
};
use serde_json::Value;

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
            "ABERTA_TEST_DATABASE_URL is not set. The status tests run on PostgreSQL too: \
             createdb -h 127.0.0.1 -U postgres aberta_status && export \
             ABERTA_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/aberta_status"
        )
    })
}

/// A database of this test alone, with the store's tables (the outbox), the recorded calls
/// and this crate's tables migrated. `second()` opens another pool on the same database, as a
/// second instance of the platform would.
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
                let schema = format!("status_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(&base)
                    .await
                    .unwrap_or_else(|err| panic!("PostgreSQL at {base} is unreachable: {err}"));
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
        aberta_store::migrate::run(&conn).await.unwrap();
        aberta_status::migrate(&conn).await.unwrap();
        // Twice: migrations must be idempotent.
        aberta_status::migrate(&conn).await.unwrap();
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

    /// A register on this database driven by `clock`.
    pub fn register(&self, clock: &Arc<ManualClock>) -> Arc<OutageRegister> {
        Arc::new(OutageRegister::new(self.conn.clone(), clock.clone()))
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
    let conn = Database::connect(options)
        .await
        .unwrap_or_else(|err| panic!("cannot open the test database: {err}"));
    if url.starts_with("sqlite:") {
        conn.execute_unprepared("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;")
            .await
            .unwrap();
    }
    conn
}

/// Unix seconds of an RFC 3339 instant.
pub fn at(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp()
}

/// One recorded call.
#[derive(Debug, Clone)]
pub struct Call {
    pub brand: &'static str,
    pub endpoint: &'static str,
    pub family: &'static str,
    pub received_at_ms: i64,
    pub status: i32,
    pub processing_ms: i32,
    pub reported: bool,
}

pub fn call(
    brand: &'static str,
    endpoint: &'static str,
    family: &'static str,
    received_at_ms: i64,
    status: i32,
    processing_ms: i32,
) -> Call {
    Call {
        brand,
        endpoint,
        family,
        received_at_ms,
        status,
        processing_ms,
        reported: false,
    }
}

/// Writes `calls` into `api_call`, as the capture would.
pub async fn record(db: &DatabaseConnection, calls: &[Call]) {
    for chunk in calls.chunks(500) {
        let rows = chunk.iter().map(|c| api_call::ActiveModel {
            id: ActiveValue::NotSet,
            brand: ActiveValue::Set(c.brand.to_string()),
            interaction_id: ActiveValue::Set(uuid::Uuid::new_v4().to_string()),
            endpoint: ActiveValue::Set(c.endpoint.to_string()),
            method: ActiveValue::Set("GET".to_string()),
            family: ActiveValue::Set(c.family.to_string()),
            status_code: ActiveValue::Set(c.status),
            received_at: ActiveValue::Set(c.received_at_ms),
            processing_ms: ActiveValue::Set(c.processing_ms),
            client_org_id: ActiveValue::Set(None),
            client_ssid: ActiveValue::Set(None),
            server_org_id: ActiveValue::Set("74e929d9-33b6-4d85-8ba7-c146c867a817".to_string()),
            additional_info: ActiveValue::Set("{}".to_string()),
            reported_at: ActiveValue::Set(c.reported.then_some(c.received_at_ms + 1)),
            report_attempts: ActiveValue::Set(0),
            next_attempt_at: ActiveValue::Set(0),
            report_error: ActiveValue::Set(None),
            lease_owner: ActiveValue::Set(None),
            lease_until: ActiveValue::Set(None),
        });
        api_call::Entity::insert_many(rows).exec(db).await.unwrap();
    }
}

/// GET `path` on `host`; the status and the body's bytes.
pub async fn get<E: poem::Endpoint>(
    client: &TestClient<E>,
    host: &str,
    path: &str,
) -> (u16, Vec<u8>) {
    let response = client.get(path).header("host", host).send().await;
    let status = response.0.status().as_u16();
    let bytes = response.0.into_body().into_bytes().await.unwrap().to_vec();
    (status, bytes)
}

pub fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|err| panic!("not JSON ({err}): {}", String::from_utf8_lossy(bytes)))
}

/// Polls `check` until it holds (bounded, to fail instead of hanging).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..3_000 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}
