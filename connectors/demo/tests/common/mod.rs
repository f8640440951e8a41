//! Shared test setup: a demo bank on SQLite or PostgreSQL, contexts, validation.

#![allow(dead_code)]

use std::sync::Arc;

use aberta_demo_bank::DemoBank;
use aberta_runtime::connector::{ConnectorContext, PageRequest};
use aberta_runtime::{Validate, Validator};
use aberta_store::{KeyRing, Store};

pub const MARIA: &str = "76109277673";
pub const JOAO: &str = "52960092087";
pub const ANA: &str = "31845706226";
pub const CARLOS: &str = "64319057848";
pub const SOUZA_DESIGN: &str = "34567890000130";
pub const LIMA_ALIMENTOS: &str = "45678901000175";

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
            "ABERTA_TEST_DATABASE_URL is not set. The demo bank's tests run on PostgreSQL too: \
             createdb -h 127.0.0.1 -U postgres aberta_test && export \
             ABERTA_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/aberta_test"
        )
    })
}

/// A bank with its own key ring (so its own seed, even in a shared PostgreSQL database).
pub struct Bench {
    pub bank: Arc<DemoBank>,
    pub store: Store,
    pub ring: Arc<KeyRing>,
    _dir: Option<tempfile::TempDir>,
}

pub async fn store(backend: Backend) -> (Store, Option<tempfile::TempDir>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::sqlite_file(&dir.path().join("demo.db"))
                .await
                .unwrap();
            (store, Some(dir))
        }
        Backend::Postgres => (Store::connect(&postgres_url()).await.unwrap(), None),
    }
}

pub async fn bench(backend: Backend) -> Bench {
    bench_with_rules(backend, aberta_demo_bank::PixRules::default()).await
}

/// A bench whose bank settles Pix payments by `rules`.
pub async fn bench_with_rules(backend: Backend, rules: aberta_demo_bank::PixRules) -> Bench {
    let (store, dir) = store(backend).await;
    let ring = Arc::new(KeyRing::generate().unwrap());
    let bank = DemoBank::open_with_rules(&store, ring.clone(), rules)
        .await
        .unwrap();
    Bench {
        bank,
        store,
        ring,
        _dir: dir,
    }
}

pub fn person(cpf: &str) -> ConnectorContext {
    ConnectorContext {
        consent: None,
        brand: "aberta-demo".into(),
        customer: Some(cpf.parse().unwrap()),
        business: None,
        consent_id: Some(format!("urn:aberta:{}", uuid::Uuid::new_v4())),
        interaction_id: uuid::Uuid::new_v4().to_string(),
        deadline: None,
    }
}

pub fn business(cpf: &str, cnpj: &str) -> ConnectorContext {
    ConnectorContext {
        business: Some(cnpj.parse().unwrap()),
        ..person(cpf)
    }
}

/// Every consent context the seed supports: each person, and each business with its
/// representative.
pub fn contexts() -> Vec<(String, ConnectorContext)> {
    vec![
        ("maria".into(), person(MARIA)),
        ("joao".into(), person(JOAO)),
        ("ana".into(), person(ANA)),
        ("carlos".into(), person(CARLOS)),
        ("souza-design".into(), business(MARIA, SOUZA_DESIGN)),
        ("lima-alimentos".into(), business(CARLOS, LIMA_ALIMENTOS)),
    ]
}

pub fn page(page: u32, page_size: u32) -> PageRequest {
    PageRequest { page, page_size }
}

/// Collects `value`'s violations as readable lines prefixed by `what`.
pub fn violations<T: Validate>(what: &str, value: &T) -> Vec<String> {
    let mut v = Validator::new();
    value.validate(&mut v);
    match v.finish() {
        Ok(()) => Vec::new(),
        Err(found) => found
            .0
            .iter()
            .map(|x| format!("{what}: {} at {} ({})", x.code, x.pointer, x.rule))
            .collect(),
    }
}

/// A date `days` from today, as the filters take it.
pub fn date(days: i64) -> String {
    (aberta_demo_bank::dates::today() + chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

pub fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap()
}
