//! Shared test setup: both database backends (each test in a database of its own: a SQLite
//! file, or a PostgreSQL schema, because the sequencer and the publisher see the whole
//! outbox), helpers to write events, and the NATS server of this machine.

#![allow(dead_code)]

use std::time::Duration;

use aberta_store::Store;
use aberta_store::outbox::{self, NewEvent};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, TransactionTrait};

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
            "ABERTA_TEST_DATABASE_URL is not set. The events tests run on PostgreSQL too: \
             createdb -h 127.0.0.1 -U postgres aberta_events && export \
             ABERTA_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/aberta_events"
        )
    })
}

/// The NATS server with JetStream these tests publish to (`ABERTA_TEST_NATS_URL`, by default
/// the one on this machine). Required: the tests fail, never skip, without it.
pub fn nats_url() -> String {
    std::env::var("ABERTA_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A database of this test alone with the store and this module migrated. `second()` opens
/// another pool on the same database, as a second instance of the platform would.
pub struct Db {
    pub store: Store,
    pub backend: Backend,
    url: String,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    pub async fn new(backend: Backend) -> Self {
        let (url, schema, dir) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("aberta.db").display()
                );
                (url, None, Some(dir))
            }
            Backend::Postgres => {
                let base = postgres_url();
                let schema = format!("events_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(&base).await.unwrap_or_else(|err| {
                    panic!("PostgreSQL at ABERTA_TEST_DATABASE_URL is unreachable: {err}")
                });
                admin
                    .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                    .await
                    .unwrap();
                admin.close().await.unwrap();
                let separator = if base.contains('?') { '&' } else { '?' };
                (
                    format!("{base}{separator}options[search_path]={schema}"),
                    Some(schema),
                    None,
                )
            }
        };
        let store = Store::connect(&url).await.unwrap();
        aberta_events::migrate(store.connection()).await.unwrap();
        Self {
            store,
            backend,
            url,
            schema,
            _dir: dir,
        }
    }

    pub fn conn(&self) -> &DatabaseConnection {
        self.store.connection()
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn second(&self) -> Store {
        Store::connect(&self.url).await.unwrap()
    }

    /// Drops the PostgreSQL schema (the SQLite file goes with its directory).
    pub async fn finish(self) {
        if let Some(schema) = self.schema {
            self.store.connection().clone().close().await.unwrap();
            let admin = Database::connect(&postgres_url()).await.unwrap();
            admin
                .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
                .await
                .unwrap();
            admin.close().await.unwrap();
        }
    }
}

/// Writes one event in a transaction of its own.
pub async fn write(
    db: &DatabaseConnection,
    topic: &str,
    aggregate_id: &str,
    event_type: &str,
    payload: serde_json::Value,
) {
    let txn = db.begin().await.unwrap();
    append(&txn, topic, aggregate_id, event_type, payload).await;
    txn.commit().await.unwrap();
}

/// Appends one event through `db` (a transaction the caller commits).
pub async fn append<C: ConnectionTrait>(
    db: &C,
    topic: &str,
    aggregate_id: &str,
    event_type: &str,
    payload: serde_json::Value,
) {
    outbox::append(
        db,
        NewEvent {
            brand: "demo",
            topic,
            aggregate_id,
            event_type,
            payload,
        },
        1_800_000_000_000,
    )
    .await
    .unwrap();
}

/// Outbox rows no sink has delivered yet (`published_at IS NULL`).
pub async fn undelivered(db: &DatabaseConnection) -> i64 {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let n = aberta_store::entity::outbox::Entity::find()
        .filter(aberta_store::entity::outbox::Column::PublishedAt.is_null())
        .count(db)
        .await
        .unwrap();
    i64::try_from(n).unwrap()
}

/// Polls `check` until it holds (bounded, to fail instead of hanging). The bound is no timing
/// claim: it only keeps a broken build from hanging.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..6_000 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}
