//! `x-idempotency-key`: claims, replays, mismatches, expiry and purge, a claim sharing one
//! transaction with the business write, a duplicate waiting for the first request, and a storm
//! of concurrent duplicates; each on SQLite and PostgreSQL.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aberta_payments::idempotency::{self, BodyHash, Claim, IdempotencyKey};
use common::*;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement, TransactionTrait};
use serde_json::json;

const CLIENT: &str = "client-1";
const OPERATION: &str = "POST /pix/payments";
const RESPONSE: &str = r#"{"data":{"paymentId":"pay-1","status":"RCVD"}}"#;

fn hash(amount: &str) -> BodyHash {
    BodyHash::of_message(
        OPERATION,
        Some(&json!({ "payment": { "amount": amount, "currency": "BRL" } })),
    )
}

fn key(value: &str) -> IdempotencyKey {
    IdempotencyKey::try_from(value).unwrap()
}

fn sql(backend: DatabaseBackend, text: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => {
            let mut out = String::new();
            let mut n = 0;
            for c in text.chars() {
                if c == '?' {
                    n += 1;
                    out.push_str(&format!("${n}"));
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => text.to_string(),
    }
}

/// The business table of these tests: one row per payment "created".
async fn create_effects(db: &DatabaseConnection) {
    db.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS payments_test_effect \
         (id VARCHAR(64) NOT NULL PRIMARY KEY, brand VARCHAR(64) NOT NULL)",
    )
    .await
    .unwrap();
}

async fn create_payment<C: ConnectionTrait>(conn: &C, brand: &str) {
    let backend = conn.get_database_backend();
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        sql(
            backend,
            "INSERT INTO payments_test_effect (id, brand) VALUES (?, ?)",
        ),
        [unique("pay").into(), brand.into()],
    ))
    .await
    .unwrap();
}

async fn payments(db: &DatabaseConnection, brand: &str) -> i64 {
    let backend = db.get_database_backend();
    db.query_one_raw(Statement::from_sql_and_values(
        backend,
        sql(
            backend,
            "SELECT COUNT(*) AS n FROM payments_test_effect WHERE brand = ?",
        ),
        [brand.into()],
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get::<i64>("", "n")
    .unwrap()
}

/// The stored row, raw: (request_hash, status, response, created_at).
async fn row(
    db: &DatabaseConnection,
    brand: &str,
    key: &str,
) -> Option<(String, Option<i32>, Option<String>, i64)> {
    let backend = db.get_database_backend();
    let found = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql(
                backend,
                "SELECT request_hash, status, response, created_at FROM payments_idempotency \
                 WHERE brand = ? AND client_id = ? AND idempotency_key = ?",
            ),
            [brand.into(), CLIENT.into(), key.into()],
        ))
        .await
        .unwrap()?;
    Some((
        found.try_get("", "request_hash").unwrap(),
        found.try_get("", "status").unwrap(),
        found.try_get("", "response").unwrap(),
        found.try_get("", "created_at").unwrap(),
    ))
}

/// Claims in a transaction, creates a payment, stores `status`, commits.
async fn first_use(
    db: &DatabaseConnection,
    brand: &str,
    k: &IdempotencyKey,
    h: &BodyHash,
    now: i64,
) {
    let txn = db.begin().await.unwrap();
    let Claim::Fresh(ticket) = idempotency::claim(&txn, brand, CLIENT, k, h, now)
        .await
        .unwrap()
    else {
        panic!("expected a fresh claim");
    };
    create_payment(&txn, brand).await;
    ticket.complete(201, RESPONSE).await.unwrap();
    txn.commit().await.unwrap();
}

#[tokio::test]
async fn a_key_replays_its_answer_and_refuses_another_request_unchanged() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let conn = db.store.connection();
        create_effects(conn).await;
        let brand = unique("brand");
        let k = key("pay-0001");
        first_use(conn, &brand, &k, &hash("100.00"), T0).await;

        // The same request again (a retry, re-signed: same data).
        match idempotency::claim(conn, &brand, CLIENT, &k, &hash("100.00"), T0 + 10)
            .await
            .unwrap()
        {
            Claim::Replay { status, body } => assert_eq!((status, body.as_str()), (201, RESPONSE)),
            other => panic!("{backend:?}: expected a replay, got {other:?}"),
        }
        // Another request under the same key: 422 ERRO_IDEMPOTENCIA, the row untouched.
        let before = row(conn, &brand, "pay-0001").await;
        let txn = conn.begin().await.unwrap();
        let claim = idempotency::claim(&txn, &brand, CLIENT, &k, &hash("999.00"), T0 + 20)
            .await
            .unwrap();
        assert!(matches!(claim, Claim::Mismatch), "{backend:?}: {claim:?}");
        let (status, code, _) = claim.refusal().unwrap();
        assert_eq!((status.as_u16(), code), (422, "ERRO_IDEMPOTENCIA"));
        txn.commit().await.unwrap();
        assert_eq!(row(conn, &brand, "pay-0001").await, before);
        assert_eq!(payments(conn, &brand).await, 1);
        // Another operation with the same key and data is another request too.
        let patch = BodyHash::of_message(
            "PATCH /pix/payments/consents",
            Some(&json!({ "payment": { "amount": "100.00", "currency": "BRL" } })),
        );
        let claim = idempotency::claim(conn, &brand, CLIENT, &k, &patch, T0 + 30)
            .await
            .unwrap();
        assert!(matches!(claim, Claim::Mismatch), "{backend:?}: {claim:?}");
    }
}

#[tokio::test]
async fn a_rolled_back_or_released_claim_leaves_nothing() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let conn = db.store.connection();
        create_effects(conn).await;
        let brand = unique("brand");
        let k = key("pay-0002");
        // Crash between claim and completion: the transaction never commits.
        {
            let txn = conn.begin().await.unwrap();
            let claim = idempotency::claim(&txn, &brand, CLIENT, &k, &hash("1.00"), T0)
                .await
                .unwrap();
            assert!(matches!(claim, Claim::Fresh(_)));
            create_payment(&txn, &brand).await;
            drop(claim);
            drop(txn);
        }
        assert_eq!(row(conn, &brand, "pay-0002").await, None, "{backend:?}");
        assert_eq!(payments(conn, &brand).await, 0);
        // An answer not worth keeping (a consent POST's 422, say): released, key free again.
        let txn = conn.begin().await.unwrap();
        let Claim::Fresh(ticket) = idempotency::claim(&txn, &brand, CLIENT, &k, &hash("1.00"), T0)
            .await
            .unwrap()
        else {
            panic!("{backend:?}: the key should be free after the rollback");
        };
        ticket.release().await.unwrap();
        txn.commit().await.unwrap();
        assert_eq!(row(conn, &brand, "pay-0002").await, None);
        first_use(conn, &brand, &k, &hash("2.00"), T0).await;
        assert_eq!(payments(conn, &brand).await, 1);
    }
}

#[tokio::test]
async fn a_claim_without_an_answer_is_in_flight_to_others() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let conn = db.store.connection();
        let brand = unique("brand");
        let k = key("pay-0003");
        // Claimed outside a transaction: the row is visible while the first request runs.
        let Claim::Fresh(ticket) = idempotency::claim(conn, &brand, CLIENT, &k, &hash("5.00"), T0)
            .await
            .unwrap()
        else {
            panic!("expected a fresh claim");
        };
        let other = db.second().await;
        let claim = idempotency::claim(
            other.connection(),
            &brand,
            CLIENT,
            &k,
            &hash("5.00"),
            T0 + 1,
        )
        .await
        .unwrap();
        // With the moment of the first claim, which the 429's Retry-After is counted from.
        assert!(
            matches!(claim, Claim::InFlight { since: T0 }),
            "{backend:?}: {claim:?}"
        );
        let (status, _, _) = claim.refusal().unwrap();
        assert_eq!(status.as_u16(), 429);
        // A different body is refused as a mismatch even before the first finishes.
        let claim = idempotency::claim(
            other.connection(),
            &brand,
            CLIENT,
            &k,
            &hash("6.00"),
            T0 + 1,
        )
        .await
        .unwrap();
        assert!(matches!(claim, Claim::Mismatch), "{backend:?}: {claim:?}");
        // 422 answers of a payment POST are kept and replayed like 201s.
        ticket.complete(422, r#"{"errors":[]}"#).await.unwrap();
        let claim = idempotency::claim(
            other.connection(),
            &brand,
            CLIENT,
            &k,
            &hash("5.00"),
            T0 + 2,
        )
        .await
        .unwrap();
        assert!(
            matches!(&claim, Claim::Replay { status: 422, .. }),
            "{backend:?}: {claim:?}"
        );
        assert!(claim.refusal().is_none());
    }
}

#[tokio::test]
async fn keys_expire_after_24_hours_and_purge_forgets_them() {
    for backend in backends() {
        // Ten days before the other tests' clock: purge is global and must not take their
        // rows from the shared database.
        const B: i64 = T0 - 10 * 86_400;
        let db = Db::new(backend).await;
        let conn = db.store.connection();
        create_effects(conn).await;
        let brand = unique("brand");
        let k = key("pay-0004");
        first_use(conn, &brand, &k, &hash("7.00"), B).await;
        let claim = idempotency::claim(conn, &brand, CLIENT, &k, &hash("8.00"), B + 86_399)
            .await
            .unwrap();
        assert!(matches!(claim, Claim::Mismatch), "{backend:?}: {claim:?}");
        // 24 hours on, the key starts afresh, for any request.
        first_use(conn, &brand, &k, &hash("8.00"), B + 86_400).await;
        assert_eq!(payments(conn, &brand).await, 2);
        let (stored_hash, status, _, created_at) = row(conn, &brand, "pay-0004").await.unwrap();
        assert_eq!(
            (stored_hash, status, created_at),
            (hash("8.00").to_hex(), Some(201), B + 86_400)
        );
        // Purge removes what is older than 24 hours, only that.
        let old = key("pay-0005");
        first_use(conn, &brand, &old, &hash("9.00"), B).await;
        assert!(idempotency::purge(conn, B + 86_400).await.unwrap() >= 1);
        assert_eq!(row(conn, &brand, "pay-0005").await, None, "{backend:?}");
        assert!(row(conn, &brand, "pay-0004").await.is_some());
    }
}

#[tokio::test]
async fn keys_are_per_brand_and_client_and_shared_by_instances() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let conn = db.store.connection();
        create_effects(conn).await;
        let brand = unique("brand");
        let k = key("same-key");
        first_use(conn, &brand, &k, &hash("1.00"), T0).await;
        let claim = idempotency::claim(conn, &brand, "client-2", &k, &hash("2.00"), T0)
            .await
            .unwrap();
        assert!(
            matches!(claim, Claim::Fresh(_)),
            "{backend:?}: another client"
        );
        drop(claim);
        let other_brand = unique("brand");
        let claim = idempotency::claim(conn, &other_brand, CLIENT, &k, &hash("2.00"), T0)
            .await
            .unwrap();
        assert!(
            matches!(claim, Claim::Fresh(_)),
            "{backend:?}: another brand"
        );
        drop(claim);
        // A second instance replays the first one's answer.
        let second = db.second().await;
        let claim = idempotency::claim(
            second.connection(),
            &brand,
            CLIENT,
            &k,
            &hash("1.00"),
            T0 + 1,
        )
        .await
        .unwrap();
        assert!(
            matches!(claim, Claim::Replay { status: 201, .. }),
            "{backend:?}: {claim:?}"
        );
    }
}

#[tokio::test]
async fn a_duplicate_waits_for_the_first_request_then_replays_or_takes_over() {
    for backend in backends() {
        for first_commits in [true, false] {
            let db = Db::new(backend).await;
            let conn = db.store.connection().clone();
            create_effects(&conn).await;
            let brand = unique("brand");
            let k = key("pay-wait");
            let (claimed_tx, claimed_rx) = tokio::sync::oneshot::channel();
            let first = {
                let (conn, brand, k) = (conn.clone(), brand.clone(), k.clone());
                tokio::spawn(async move {
                    let txn = conn.begin().await.unwrap();
                    let Claim::Fresh(ticket) =
                        idempotency::claim(&txn, &brand, CLIENT, &k, &hash("3.00"), T0)
                            .await
                            .unwrap()
                    else {
                        panic!("the first request must get the key");
                    };
                    create_payment(&txn, &brand).await;
                    claimed_tx.send(()).unwrap();
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    if first_commits {
                        ticket.complete(201, RESPONSE).await.unwrap();
                        txn.commit().await.unwrap();
                    } else {
                        drop(ticket);
                        txn.rollback().await.unwrap();
                    }
                })
            };
            claimed_rx.await.unwrap();
            let second = db.second().await;
            let txn = second.connection().begin().await.unwrap();
            let claim = idempotency::claim(&txn, &brand, CLIENT, &k, &hash("3.00"), T0 + 1)
                .await
                .unwrap();
            match (&claim, first_commits) {
                (Claim::Replay { status: 201, body }, true) => assert_eq!(body, RESPONSE),
                (Claim::Fresh(_), false) => {}
                (other, _) => panic!("{backend:?} first_commits={first_commits}: {other:?}"),
            }
            drop(claim);
            txn.rollback().await.unwrap();
            first.await.unwrap();
            assert_eq!(
                payments(&conn, &brand).await,
                i64::from(first_commits),
                "{backend:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_duplicates_creates_one_payment() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let conn = db.store.connection().clone();
        create_effects(&conn).await;
        let brand = Arc::new(unique("brand"));
        let k = Arc::new(key("storm"));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (conn, brand, k) = (conn.clone(), brand.clone(), k.clone());
            tasks.push(tokio::spawn(async move {
                let txn = conn.begin().await.unwrap();
                let claim = idempotency::claim(&txn, &brand, CLIENT, &k, &hash("10.00"), T0)
                    .await
                    .unwrap();
                let outcome = match claim {
                    Claim::Fresh(ticket) => {
                        create_payment(&txn, &brand).await;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        ticket.complete(201, RESPONSE).await.unwrap();
                        "fresh"
                    }
                    Claim::Replay { status, body } => {
                        assert_eq!((status, body.as_str()), (201, RESPONSE));
                        "replay"
                    }
                    Claim::InFlight { .. } => "in flight",
                    Claim::Mismatch => panic!("same body, no mismatch"),
                };
                txn.commit().await.unwrap();
                outcome
            }));
        }
        let mut outcomes = std::collections::HashMap::<&str, usize>::new();
        for task in tasks {
            *outcomes.entry(task.await.unwrap()).or_default() += 1;
        }
        assert_eq!(outcomes.get("fresh"), Some(&1), "{backend:?}: {outcomes:?}");
        assert_eq!(outcomes.values().sum::<usize>(), 32);
        assert_eq!(payments(&conn, &brand).await, 1, "{backend:?}");
        // A different body arriving after the storm changes nothing.
        let before = row(&conn, &brand, "storm").await;
        let claim = idempotency::claim(&conn, &brand, CLIENT, &k, &hash("11.00"), T0 + 1)
            .await
            .unwrap();
        assert!(matches!(claim, Claim::Mismatch));
        assert_eq!(row(&conn, &brand, "storm").await, before);
        println!("{backend:?}: {outcomes:?}");
    }
}
