//! The sequencer: gives committed outbox rows their commit-order position `seq`.
//!
//! Why. An outbox row's `id` is taken when it is inserted, but the row becomes visible only
//! when its transaction commits; on PostgreSQL a row with a lower `id` can commit after one with
//! a higher `id`, so a reader remembering "the last `id` I saw" would pass it by for good.
//! `seq` is given after commit instead: the sequencer sees only committed rows, numbers those
//! still without a `seq` in `id` order, continuing from the highest `seq` so far, and commits.
//! A row that commits late is simply numbered later, so "after the last `seq` I saw" never
//! skips anything. Events of one aggregate keep their order because the business transactions
//! of one aggregate are serialised by its row.
//!
//! One at a time. Numbering is one statement inside a transaction that first takes a
//! transaction-scoped advisory lock on PostgreSQL (another instance waits for it, then finds
//! its rows numbered); SQLite runs one writer at a time by itself. Before any of that, a plain
//! read checks whether anything waits, so idle rounds take no lock at all.

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement, TransactionTrait, Value,
};

use crate::Result;

/// Rows numbered by one statement; a longer backlog takes several rounds.
pub const SEQUENCE_BATCH: u64 = 5_000;

/// The advisory lock of the sequencer: this key and the schema's name (two deployments in two
/// schemas of one database do not wait for each other).
const SEQUENCER_LOCK: i32 = 707_405;

/// Numbers every committed row without a `seq` (in rounds of [`SEQUENCE_BATCH`]); returns how
/// many it numbered. When it returns, every row committed before the call has its `seq` (if
/// another instance is numbering, this waits for it and numbers what is left). Leaves
/// `published_at` to the external sink that delivers the rows.
pub async fn sequence_pending(db: &DatabaseConnection) -> Result<u64> {
    sequence(db, None).await
}

/// [`sequence_pending`] for a platform with no external sink: the embedded sink serves a row
/// as soon as it is numbered, so numbering also marks it delivered (`published_at`).
pub async fn sequence_and_mark_delivered(db: &DatabaseConnection) -> Result<u64> {
    sequence(db, Some(crate::time::now_ms())).await
}

async fn sequence(db: &DatabaseConnection, delivered_at: Option<i64>) -> Result<u64> {
    let mut total = 0;
    loop {
        let numbered = sequence_round(db, SEQUENCE_BATCH, delivered_at).await?;
        total += numbered;
        if numbered < SEQUENCE_BATCH {
            return Ok(total);
        }
    }
}

/// One round: numbers up to `limit` rows, and stamps `published_at` with `delivered_at` when
/// given.
async fn sequence_round(
    db: &DatabaseConnection,
    limit: u64,
    delivered_at: Option<i64>,
) -> Result<u64> {
    let backend = db.get_database_backend();
    if !anything_waits(db, backend).await? {
        return Ok(0);
    }
    let txn = db.begin().await?;
    if backend == DatabaseBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))",
            [SEQUENCER_LOCK.into()],
        ))
        .await?;
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let numbered = txn
        .execute_raw(Statement::from_sql_and_values(
            backend,
            number_statement(backend),
            [Value::from(limit), Value::from(delivered_at)],
        ))
        .await?
        .rows_affected();
    txn.commit().await?;
    if numbered > 0 {
        tracing::debug!(numbered, "outbox events sequenced");
    }
    Ok(numbered)
}

async fn anything_waits(db: &DatabaseConnection, backend: DatabaseBackend) -> Result<bool> {
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT id FROM event_outbox WHERE seq IS NULL LIMIT 1",
        ))
        .await?;
    Ok(row.is_some())
}

/// Numbers the first `limit` unsequenced committed rows in `id` order as max(seq)+1, +2, …
/// and sets `published_at` to the second parameter unless it is NULL. One statement, so it
/// sees one snapshot and is atomic on both backends.
fn number_statement(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => {
            "WITH next AS ( \
               SELECT id, (SELECT COALESCE(MAX(seq), 0) FROM event_outbox) \
                          + ROW_NUMBER() OVER (ORDER BY id) AS n \
               FROM event_outbox WHERE seq IS NULL ORDER BY id LIMIT $1) \
             UPDATE event_outbox SET seq = next.n, published_at = COALESCE($2, published_at) \
             FROM next WHERE event_outbox.id = next.id"
        }
        _ => {
            "WITH next AS ( \
               SELECT id, (SELECT COALESCE(MAX(seq), 0) FROM event_outbox) \
                          + ROW_NUMBER() OVER (ORDER BY id) AS n \
               FROM event_outbox WHERE seq IS NULL ORDER BY id LIMIT ?) \
             UPDATE event_outbox SET seq = next.n, published_at = COALESCE(?, published_at) \
             FROM next WHERE event_outbox.id = next.id"
        }
    }
}
