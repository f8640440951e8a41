//! Shared test setup: both database backends, a manual clock, and a resources connector that
//! answers from a fixed list.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aberta_consents::{Consents, ConsentsConfig, ManualClock, NewConsent};
use aberta_runtime::connector::{ConnectorContext, ConnectorError, Page};
use aberta_store::{KeyRing, Store};
use async_trait::async_trait;
use ofb_resources_v3::connector::{ResourcesConnector, ResourcesGetResourcesInput};
use ofb_resources_v3::models::ResponseResourceListData;

pub const T0: i64 = 1_800_000_000;
pub const CPF: &str = "76109277673";
pub const OTHER_CPF: &str = "11144477735";
pub const CNPJ: &str = "50685362000135";
pub const BRAND: &str = "demo";

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
            "ABERTA_TEST_DATABASE_URL is not set. The consents storage tests run on PostgreSQL \
             too: createdb -h 127.0.0.1 -U postgres aberta_consents && export \
             ABERTA_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/aberta_consents"
        )
    })
}

/// The customer's products at the fake bank, by CPF.
pub struct FakeResources {
    pub items: Vec<(&'static str, &'static str, &'static str)>,
    pub calls: AtomicUsize,
    pub page_size_seen: AtomicUsize,
}

impl FakeResources {
    pub fn standard() -> Self {
        Self {
            items: vec![
                ("acc-1", "ACCOUNT", "AVAILABLE"),
                ("acc-2", "ACCOUNT", "AVAILABLE"),
                ("card-1", "CREDIT_CARD_ACCOUNT", "AVAILABLE"),
                ("loan-1", "LOAN", "TEMPORARILY_UNAVAILABLE"),
                ("fund-1", "FUND", "AVAILABLE"),
            ],
            calls: AtomicUsize::new(0),
            page_size_seen: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl ResourcesConnector for FakeResources {
    async fn resources_get_resources(
        &self,
        ctx: &ConnectorContext,
        input: ResourcesGetResourcesInput,
    ) -> Result<Page<ResponseResourceListData>, ConnectorError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.page_size_seen
            .store(input.page.page_size as usize, Ordering::SeqCst);
        if ctx.customer.as_ref().map(|c| c.as_str()) != Some(CPF) {
            return Ok(Page {
                items: vec![],
                total_records: 0,
            });
        }
        let items: Vec<ResponseResourceListData> = self
            .items
            .iter()
            .map(|(id, ty, status)| {
                serde_json::from_value(serde_json::json!({
                    "resourceId": id, "type": ty, "status": status
                }))
                .unwrap()
            })
            .collect();
        let total = items.len() as u64;
        Ok(Page {
            items: if input.page.page == 1 { items } else { vec![] },
            total_records: total,
        })
    }
}

pub struct Env {
    pub consents: Arc<Consents>,
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub resources: Arc<FakeResources>,
    _dir: tempfile::TempDir,
}

pub async fn env(backend: Backend) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = match backend {
        Backend::Sqlite => Store::sqlite_file(&dir.path().join("aberta.db"))
            .await
            .unwrap(),
        Backend::Postgres => Store::connect(&postgres_url()).await.unwrap(),
    };
    let clock = Arc::new(ManualClock::new(T0));
    let resources = Arc::new(FakeResources::standard());
    let config = ConsentsConfig {
        clock: clock.clone(),
        ..ConsentsConfig::default()
    };
    let consents = Consents::new(
        store.clone(),
        Arc::new(KeyRing::generate().unwrap()),
        resources.clone(),
        config,
    )
    .await
    .unwrap();
    Env {
        consents,
        store,
        clock,
        resources,
        _dir: dir,
    }
}

pub fn personal(permissions: &[&str], expires_at: Option<i64>) -> NewConsent {
    NewConsent {
        client_id: format!("client-{}", uuid::Uuid::new_v4()),
        logged_user_cpf: CPF.to_string(),
        logged_user_rel: "CPF".to_string(),
        business_cnpj: None,
        business_rel: None,
        permissions: permissions.iter().map(|p| p.to_string()).collect(),
        expires_at,
        is_linked: None,
    }
}

pub fn user(cpf: &str) -> aberta_auth::identity::EndUser {
    aberta_auth::identity::EndUser {
        subject: format!("user-{cpf}"),
        cpf: cpf.to_string(),
        cnpjs: vec![],
        name: "Test User".to_string(),
        acr: "urn:brasil:openbanking:loa2".to_string(),
    }
}

/// The outbox event types recorded for one consent, in order.
pub async fn events(store: &Store, consent_id: &str) -> Vec<String> {
    aberta_store::outbox::events(store.connection(), "consents")
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.aggregate_id == consent_id)
        .map(|e| e.event_type)
        .collect()
}
