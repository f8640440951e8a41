//! The commit-order sequence on both backends: a row that commits late is read late, never
//! skipped; concurrent writers and two sequencers lose nothing and keep per-aggregate order;
//! an outbox made before the `seq` column gains it.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aberta_events::{Event, read, sequence_pending};
use common::{Backend, Db, append, backends, eventually, undelivered, write};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde_json::json;

const TOPIC: &str = "consents";

async fn read_ids(db: &DatabaseConnection, after: i64) -> Vec<Event> {
    read(db, TOPIC, after, 1_000).await.unwrap()
}

#[tokio::test]
async fn a_lower_id_committing_last_is_read_last_not_skipped() {
    let db = Db::new(Backend::Postgres).await;
    let conn = db.conn();

    // Two business transactions in flight; the first to insert commits last.
    let early = conn.begin().await.unwrap();
    append(
        &early,
        TOPIC,
        "urn:a",
        "consent.created",
        json!({"n": "early"}),
    )
    .await;
    let late = conn.begin().await.unwrap();
    append(
        &late,
        TOPIC,
        "urn:b",
        "consent.created",
        json!({"n": "late"}),
    )
    .await;
    late.commit().await.unwrap();

    assert_eq!(sequence_pending(conn).await.unwrap(), 1);
    let first = read_ids(conn, 0).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].payload["n"], "late");
    let cursor = first[0].seq;

    // An `id > last id` reader would now be past the uncommitted row for good.
    early.commit().await.unwrap();
    let rows = aberta_store::outbox::events(conn, TOPIC).await.unwrap();
    assert!(rows[0].id < rows[1].id, "the early row has the lower id");

    assert_eq!(sequence_pending(conn).await.unwrap(), 1);
    let second = read_ids(conn, cursor).await;
    assert_eq!(
        second.len(),
        1,
        "the late-committing row must not be skipped"
    );
    assert_eq!(second[0].payload["n"], "early");
    assert!(second[0].seq > cursor);
    assert!(second[0].id < first[0].id);
    assert!(read_ids(conn, second[0].seq).await.is_empty());
    db.finish().await;
}

/// SQLite runs one writer at a time, so ids follow commits there; what must still hold is
/// that an uncommitted row is neither numbered nor read, and is once it commits.
#[tokio::test]
async fn an_uncommitted_row_is_not_sequenced_until_it_commits() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let conn = db.conn();
        let other = db.second().await;
        let open = conn.begin().await.unwrap();
        append(&open, TOPIC, "urn:a", "consent.created", json!({"n": 1})).await;

        assert_eq!(
            sequence_pending(other.connection()).await.unwrap(),
            0,
            "{backend:?}: numbered an uncommitted row"
        );
        assert!(read_ids(other.connection(), 0).await.is_empty());

        open.commit().await.unwrap();
        assert_eq!(sequence_pending(other.connection()).await.unwrap(), 1);
        let got = read_ids(conn, 0).await;
        assert_eq!(got.len(), 1, "{backend:?}");
        assert_eq!(got[0].seq, 1, "{backend:?}");
        // Numbering alone leaves delivery to the external sink.
        assert_eq!(undelivered(conn).await, 1, "{backend:?}");
        db.finish().await;
    }
}

/// Writers on two pools commit in random interleavings while two sequencers run and a reader
/// follows the topic by offset: the reader gets every event once, each aggregate in order.
#[tokio::test]
async fn concurrent_writers_and_sequencers_lose_nothing_and_keep_aggregate_order() {
    const WRITERS: usize = 6;
    const EACH: usize = 40;
    for backend in backends() {
        let db = Db::new(backend).await;
        let second = db.second().await;
        let pools = [db.conn().clone(), second.connection().clone()];

        let stop = Arc::new(AtomicBool::new(false));
        let mut sequencers = Vec::new();
        for pool in pools.clone() {
            let stop = stop.clone();
            sequencers.push(tokio::spawn(async move {
                let mut rounds = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    sequence_pending(&pool).await.unwrap();
                    rounds += 1;
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
                rounds
            }));
        }

        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let pool = pools[w % 2].clone();
            writers.push(tokio::spawn(async move {
                for n in 0..EACH {
                    let txn = pool.begin().await.unwrap();
                    append(
                        &txn,
                        TOPIC,
                        &format!("urn:agg:{w}"),
                        "consent.status",
                        json!({"writer": w, "n": n}),
                    )
                    .await;
                    // Hold the transaction open for a varying moment so commits interleave
                    // out of id order (on PostgreSQL; SQLite queues the writers).
                    tokio::time::sleep(Duration::from_micros(((w * 7 + n * 13) % 5) as u64 * 400))
                        .await;
                    txn.commit().await.unwrap();
                }
            }));
        }

        let reader_pool = pools[1].clone();
        let reader = tokio::spawn(async move {
            let mut cursor = 0;
            let mut got = Vec::new();
            for _ in 0..20_000 {
                let page = read(&reader_pool, TOPIC, cursor, 7).await.unwrap();
                if let Some(last) = page.last() {
                    cursor = last.seq;
                }
                got.extend(page);
                if got.len() >= WRITERS * EACH {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            got
        });

        for writer in writers {
            writer.await.unwrap();
        }
        let got = reader.await.unwrap();
        stop.store(true, Ordering::SeqCst);
        for sequencer in sequencers {
            sequencer.await.unwrap();
        }

        assert_eq!(got.len(), WRITERS * EACH, "{backend:?}: events missing");
        let late = got.windows(2).filter(|w| w[0].id > w[1].id).count();
        eprintln!("{backend:?}: {late} events committed after a higher id");
        let ids: HashSet<i64> = got.iter().map(|e| e.id).collect();
        assert_eq!(ids.len(), got.len(), "{backend:?}: an event read twice");
        let seqs: Vec<i64> = got.iter().map(|e| e.seq).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{backend:?}: seq not increasing"
        );
        assert_eq!(
            seqs.last().copied(),
            Some((WRITERS * EACH) as i64),
            "{backend:?}: seq has gaps"
        );
        let mut per_aggregate: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for e in &got {
            per_aggregate
                .entry(e.aggregate_id.clone())
                .or_default()
                .push(e.payload["n"].as_i64().unwrap());
        }
        assert_eq!(per_aggregate.len(), WRITERS);
        for (aggregate, ns) in per_aggregate {
            assert_eq!(
                ns,
                (0..EACH as i64).collect::<Vec<_>>(),
                "{backend:?}: {aggregate} out of order"
            );
        }
        db.finish().await;
    }
}

#[tokio::test]
async fn read_pages_by_topic_from_an_offset() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let conn = db.conn();
        for n in 0..5 {
            write(conn, TOPIC, "urn:a", "consent.status", json!({"n": n})).await;
            write(
                conn,
                "payments",
                "p1",
                "payment.status-changed",
                json!({"n": n}),
            )
            .await;
        }
        assert_eq!(sequence_pending(conn).await.unwrap(), 10);
        let page = read(conn, TOPIC, 0, 3).await.unwrap();
        assert_eq!(page.len(), 3, "{backend:?}");
        assert!(page.iter().all(|e| e.topic == TOPIC));
        let rest = read(conn, TOPIC, page[2].seq, 100).await.unwrap();
        let ns: Vec<i64> = page
            .iter()
            .chain(&rest)
            .map(|e| e.payload["n"].as_i64().unwrap())
            .collect();
        assert_eq!(ns, vec![0, 1, 2, 3, 4], "{backend:?}");
        assert_eq!(
            aberta_events::read_all(conn, 0, 100).await.unwrap().len(),
            10
        );
        db.finish().await;
    }
}

/// A database whose outbox predates the `seq` column (schema version 2) gains it on start,
/// and its old rows are numbered like new ones.
#[tokio::test]
async fn an_outbox_from_schema_version_2_gains_the_seq_column() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let conn = db.conn();
        for index in [
            "idx_event_outbox_seq",
            "idx_event_outbox_topic_seq",
            "idx_event_outbox_unsequenced",
        ] {
            conn.execute_unprepared(&format!("DROP INDEX {index}"))
                .await
                .unwrap();
        }
        conn.execute_unprepared("ALTER TABLE event_outbox DROP COLUMN seq")
            .await
            .unwrap();
        conn.execute_unprepared("UPDATE aberta_schema_version SET version = 2 WHERE version >= 3")
            .await
            .unwrap();
        conn.execute_unprepared(
            "INSERT INTO event_outbox (brand, topic, aggregate_id, event_type, payload, \
             created_at) VALUES ('demo', 'consents', 'urn:old', 'consent.created', '{}', 1)",
        )
        .await
        .unwrap();

        let again = db.second().await;
        assert_eq!(sequence_pending(again.connection()).await.unwrap(), 1);
        write(
            again.connection(),
            TOPIC,
            "urn:new",
            "consent.created",
            json!({}),
        )
        .await;
        assert_eq!(sequence_pending(again.connection()).await.unwrap(), 1);
        let got = read(again.connection(), TOPIC, 0, 10).await.unwrap();
        let aggregates: Vec<&str> = got.iter().map(|e| e.aggregate_id.as_str()).collect();
        assert_eq!(aggregates, ["urn:old", "urn:new"], "{backend:?}");
        db.finish().await;
    }
}

#[tokio::test]
async fn technical_events_go_to_their_topic() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let conn = db.conn();
        aberta_events::technical(
            conn,
            "demo",
            "http.5xx",
            json!({"status": 502, "operation": "GET /accounts"}),
        )
        .await
        .unwrap();
        sequence_pending(conn).await.unwrap();
        let got = read(conn, aberta_events::TECHNICAL_TOPIC, 0, 10)
            .await
            .unwrap();
        assert_eq!(got.len(), 1, "{backend:?}");
        assert_eq!(got[0].event_type, "technical.http.5xx");
        assert_eq!(got[0].aggregate_id, "http.5xx");
        assert_eq!(got[0].payload["status"], 502);
        db.finish().await;
    }
}

#[tokio::test]
async fn the_spawned_sequencer_numbers_new_events() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let tasks = aberta_events::spawn(db.conn().clone(), None).unwrap();
        assert!(tasks.publisher.is_none());
        write(db.conn(), TOPIC, "urn:a", "consent.created", json!({})).await;
        let conn = db.conn().clone();
        eventually("the sequencer numbered the event", || {
            let conn = conn.clone();
            async move { read(&conn, TOPIC, 0, 10).await.unwrap().len() == 1 }
        })
        .await;
        tasks.abort();
        // No external sink: the embedded one delivers what is numbered.
        assert_eq!(undelivered(&conn).await, 0, "{backend:?}");
        db.finish().await;
    }
}
