//! Measures the NATS sink's publish rate: writes N events to an outbox, then times the
//! publisher (default policy) from start until its cursor has passed them all.
//!
//! ```sh
//! cargo run --release -p aberta-events --example publish_rate -- 20000
//! ABERTA_DATABASE_URL=postgres://… cargo run --release -p aberta-events --example publish_rate
//! ```
//!
//! `ABERTA_NATS_URL` names the server (default `nats://127.0.0.1:4222`). The stream is made
//! for the run and deleted after it.

use std::time::{Duration, Instant};

use aberta_events::{NatsSink, PublisherPolicy, sequence_pending, sink, spawn_with};
use aberta_store::Store;
use aberta_store::entity::outbox;
use aberta_store::outbox::{NewEvent, append};
use sea_orm::{EntityTrait, QueryOrder, TransactionTrait};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let total: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(20_000);
    let dir = tempfile::tempdir()?;
    let url = std::env::var("ABERTA_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", dir.path().join("rate.db").display()));
    let store = Store::connect(&url).await?;
    let db = store.connection().clone();
    aberta_events::migrate(&db).await?;

    for chunk in 0..total.div_ceil(500) {
        let txn = db.begin().await?;
        for i in chunk * 500..((chunk + 1) * 500).min(total) {
            append(
                &txn,
                NewEvent {
                    brand: "demo",
                    topic: "payments",
                    aggregate_id: &format!("p{}", i % 64),
                    event_type: "payment.status-changed",
                    payload: serde_json::json!({"paymentId": format!("p{}", i % 64), "n": i}),
                },
                now_ms(),
            )
            .await?;
        }
        txn.commit().await?;
    }
    sequence_pending(&db).await?;
    let last = outbox::Entity::find()
        .order_by_desc(outbox::Column::Seq)
        .one(&db)
        .await?
        .and_then(|row| row.seq)
        .unwrap_or(0);

    let run = uuid::Uuid::new_v4().simple().to_string();
    let nats = NatsSink {
        url: std::env::var("ABERTA_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into()),
        stream: format!("ABERTA_RATE_{run}"),
        subject_prefix: format!("abertarate.{run}"),
    };
    let started = Instant::now();
    let tasks = spawn_with(
        db.clone(),
        Some(nats.clone()),
        PublisherPolicy::default(),
        Duration::from_millis(200),
    )?;
    loop {
        let cursor = sink::status(&db, &nats.sink_name())
            .await?
            .map_or(0, |row| row.cursor);
        if cursor >= last {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    tasks.abort();
    println!(
        "{total} events in {:.2} s: {:.0} events/s ({})",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );
    let js = async_nats::jetstream::new(async_nats::connect(&nats.url).await?);
    js.delete_stream(&nats.stream).await?;
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
