//! The operational-limit counter on both databases: atomic increments, give-backs, and keys
//! that do not mix.

use aberta_data::limits::{self, CallKey, OperationalLimits};

fn postgres_url() -> String {
    std::env::var("ABERTA_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "ABERTA_TEST_DATABASE_URL is not set. The data tests run on PostgreSQL too: \
             createdb -h 127.0.0.1 -U postgres aberta_data && export \
             ABERTA_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/aberta_data"
        )
    })
}

fn key(consent: &str, resource: &str) -> CallKey {
    CallKey {
        brand: "brand".to_string(),
        client_id: "client-1".to_string(),
        consent_id: consent.to_string(),
        endpoint: "accountsGetAccountsAccountIdBalances",
        resource_id: resource.to_string(),
        month: limits::current_month(),
    }
}

async fn exercise(store: &aberta_store::Store) {
    let db = store.connection();
    limits::migrate(db).await.unwrap();
    // Twice: the migration is idempotent.
    limits::migrate(db).await.unwrap();
    let consent = format!("urn:test:{}", uuid::Uuid::new_v4());
    let a = key(&consent, "acc-1");
    let b = key(&consent, "acc-2");

    // Concurrent increments all count.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let db = db.clone();
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            limits::increment(&db, &a).await.unwrap()
        }));
    }
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=20).collect::<Vec<i64>>());
    assert_eq!(limits::count(db, &a).await.unwrap(), 20);

    limits::decrement(db, &a).await.unwrap();
    assert_eq!(limits::count(db, &a).await.unwrap(), 19);

    // Another resource is another counter; give-backs never go below zero.
    assert_eq!(limits::count(db, &b).await.unwrap(), 0);
    limits::decrement(db, &b).await.unwrap();
    assert_eq!(limits::increment(db, &b).await.unwrap(), 1);
}

#[tokio::test]
async fn counter_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = aberta_store::Store::sqlite_file(&dir.path().join("data.db"))
        .await
        .unwrap();
    exercise(&store).await;
}

#[tokio::test]
async fn counter_on_postgres() {
    let store = aberta_store::Store::connect(&postgres_url()).await.unwrap();
    exercise(&store).await;
}

#[test]
fn limits_are_off_by_default_and_never_on_resources() {
    let off = OperationalLimits::disabled();
    assert!(!off.is_enabled());
    assert_eq!(off.limit_for(&aberta_data::endpoints::ACCOUNTS), None);

    let on =
        OperationalLimits::monthly(240).with_endpoint("accountsGetAccountsAccountIdBalances", 420);
    assert!(on.is_enabled());
    assert_eq!(on.limit_for(&aberta_data::endpoints::ACCOUNTS), Some(240));
    assert_eq!(
        on.limit_for(&aberta_data::endpoints::ACCOUNT_BALANCES),
        Some(420)
    );
    assert_eq!(on.limit_for(&aberta_data::endpoints::RESOURCES), None);
}
