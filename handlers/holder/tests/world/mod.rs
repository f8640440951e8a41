//! The assembled account holder for a test: a prepared sandbox (test PKI, directory, a
//! registered TPP) and the holder serving it, on SQLite or PostgreSQL.
#![allow(dead_code)] // each test binary uses a part of it

use aberta_data::OperationalLimits;
use aberta_holder::sandbox::{Holder, HolderOptions};
use tokio::net::TcpListener;

use crate::common::{self, Backend, Env, Tpp};

pub struct World {
    pub env: Env,
    pub holder: Holder,
}

impl std::ops::Deref for World {
    type Target = Env;

    fn deref(&self) -> &Env {
        &self.env
    }
}

pub async fn start(backend: Backend) -> World {
    start_with_limits(backend, OperationalLimits::disabled()).await
}

pub async fn start_with_limits(backend: Backend, limits: OperationalLimits) -> World {
    let (env, listener) = common::prepare(backend).await;
    let holder = holder_on(&env, backend, listener, limits).await;
    World { env, holder }
}

/// A world whose holder has a database of its own (on PostgreSQL a fresh schema), for tests
/// that look at everything it stored.
pub async fn start_alone(backend: Backend) -> World {
    let (env, listener) = common::prepare(backend).await;
    let url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(own_schema().await),
    };
    let holder = holder_at(&env, url, listener, HolderOptions::default()).await;
    World { env, holder }
}

/// A world whose holder runs with `options`.
pub async fn start_with_options(backend: Backend, options: HolderOptions) -> World {
    let (env, listener) = common::prepare(backend).await;
    let holder = holder_at(&env, common::database_url(backend), listener, options).await;
    World { env, holder }
}

/// A fresh schema in the test database; its URL.
async fn own_schema() -> String {
    use sea_orm::ConnectionTrait;
    let base = common::postgres_url();
    let schema = format!("alone_{}", uuid::Uuid::new_v4().simple());
    let admin = aberta_store::Store::connect(&base).await.unwrap();
    admin
        .connection()
        .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options[search_path]={schema}")
}

/// A holder on `env`'s data directory and database, serving on `listener` (a restart binds
/// the port the first one had).
pub async fn holder_on(
    env: &Env,
    backend: Backend,
    listener: TcpListener,
    limits: OperationalLimits,
) -> Holder {
    let options = HolderOptions {
        limits,
        ..HolderOptions::default()
    };
    holder_at(env, common::database_url(backend), listener, options).await
}

async fn holder_at(
    env: &Env,
    url: Option<String>,
    listener: TcpListener,
    options: HolderOptions,
) -> Holder {
    let internal = TcpListener::bind("127.0.0.1:0").await.unwrap();
    aberta_holder::sandbox::start_with(
        env.dir.path(),
        &env.contract,
        listener,
        internal,
        url.as_deref(),
        options,
    )
    .await
    .unwrap()
}

/// A client_credentials token of `tpp` for `scope`.
pub async fn client_token(tpp: &Tpp, scope: &str) -> String {
    let (status, body) = tpp
        .token(&[("grant_type", "client_credentials"), ("scope", scope)])
        .await;
    assert_eq!(status, 200, "client_credentials: {body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// The seeded personal data that must never be stored in clear: every person's CPF and
/// name, every business's CNPJ and names, every account number.
pub fn seeded_personal_data() -> Vec<String> {
    use aberta_demo_bank::seed;
    let mut needles = Vec::new();
    for person in seed::PEOPLE {
        needles.push(person.cpf.to_string());
        needles.push(person.name.to_string());
    }
    for business in seed::BUSINESSES {
        needles.push(business.cnpj.to_string());
        needles.push(business.company_name.to_string());
        needles.push(business.trade_name.to_string());
    }
    for product in seed::bank().products {
        if let Some(number) = product
            .body
            .pointer("/detail/number")
            .and_then(|n| n.as_str())
        {
            needles.push(number.to_string());
        }
    }
    needles
}

/// Fails when any of `needles` is stored in clear by the holder whose database `store` is: in
/// the SQLite files of the data directory (database and journal, byte for byte), or in any
/// row of any table of its PostgreSQL schema (each row cast to text).
pub async fn assert_nothing_in_clear(env: &Env, store: &aberta_store::Store, needles: &[String]) {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
    let mut dumps: Vec<(String, Vec<u8>)> = Vec::new();
    match store.connection().get_database_backend() {
        DatabaseBackend::Sqlite => {
            for entry in std::fs::read_dir(env.dir.path()).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                if name.starts_with("aberta.db") {
                    dumps.push((name, std::fs::read(&path).unwrap()));
                }
            }
            assert!(!dumps.is_empty(), "no SQLite file to dump");
        }
        _ => {
            let db = store.connection();
            let tables = db
                .query_all_raw(Statement::from_string(
                    db.get_database_backend(),
                    "SELECT table_name::text AS t FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
                ))
                .await
                .unwrap();
            assert!(!tables.is_empty(), "no PostgreSQL table to dump");
            for table in tables {
                let table: String = table.try_get("", "t").unwrap();
                let rows = db
                    .query_all_raw(Statement::from_string(
                        db.get_database_backend(),
                        format!("SELECT CAST(t.* AS TEXT) AS r FROM \"{table}\" t"),
                    ))
                    .await
                    .unwrap();
                let mut text = Vec::new();
                for row in rows {
                    let row: String = row.try_get("", "r").unwrap();
                    text.extend_from_slice(row.as_bytes());
                    text.push(b'\n');
                }
                dumps.push((table, text));
            }
        }
    }
    let mut found = Vec::new();
    for (name, bytes) in &dumps {
        for needle in needles {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(format!("{needle:?} in {name}"));
            }
        }
    }
    assert!(found.is_empty(), "stored in clear: {found:#?}");
}

/// Every permission of the PF data groups this installation offers.
pub const PF_PERMISSIONS: &[&str] = &[
    "RESOURCES_READ",
    "CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ",
    "CUSTOMERS_PERSONAL_ADITTIONALINFO_READ",
    "ACCOUNTS_READ",
    "ACCOUNTS_BALANCES_READ",
    "ACCOUNTS_TRANSACTIONS_READ",
    "ACCOUNTS_OVERDRAFT_LIMITS_READ",
    "CREDIT_CARDS_ACCOUNTS_READ",
    "CREDIT_CARDS_ACCOUNTS_BILLS_READ",
    "CREDIT_CARDS_ACCOUNTS_BILLS_TRANSACTIONS_READ",
    "CREDIT_CARDS_ACCOUNTS_LIMITS_READ",
    "CREDIT_CARDS_ACCOUNTS_TRANSACTIONS_READ",
    "LOANS_READ",
    "LOANS_WARRANTIES_READ",
    "LOANS_SCHEDULED_INSTALMENTS_READ",
    "LOANS_PAYMENTS_READ",
    "FINANCINGS_READ",
    "FINANCINGS_WARRANTIES_READ",
    "FINANCINGS_SCHEDULED_INSTALMENTS_READ",
    "FINANCINGS_PAYMENTS_READ",
    "UNARRANGED_ACCOUNTS_OVERDRAFT_READ",
    "UNARRANGED_ACCOUNTS_OVERDRAFT_WARRANTIES_READ",
    "UNARRANGED_ACCOUNTS_OVERDRAFT_SCHEDULED_INSTALMENTS_READ",
    "UNARRANGED_ACCOUNTS_OVERDRAFT_PAYMENTS_READ",
    "INVOICE_FINANCINGS_READ",
    "INVOICE_FINANCINGS_WARRANTIES_READ",
    "INVOICE_FINANCINGS_SCHEDULED_INSTALMENTS_READ",
    "INVOICE_FINANCINGS_PAYMENTS_READ",
];
