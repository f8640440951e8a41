//! Reading sequenced events: by topic from an offset (the embedded sink), or across topics
//! (external sinks). Only rows the sequencer has numbered are returned, in `seq` order.

use aberta_store::entity::outbox;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::{EventsError, Result};

/// The most events one read returns.
pub const MAX_READ: u64 = 1_000;

/// An outbox event as subscribers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The commit-order position: read on from here.
    pub seq: i64,
    /// The outbox row id: stable from the moment the event was written.
    pub id: i64,
    pub brand: String,
    pub topic: String,
    pub aggregate_id: String,
    pub event_type: String,
    pub payload: serde_json::Value,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl TryFrom<outbox::Model> for Event {
    type Error = EventsError;

    fn try_from(row: outbox::Model) -> Result<Self> {
        let seq = row
            .seq
            .ok_or_else(|| EventsError::Corrupt(format!("outbox row {} has no seq", row.id)))?;
        let payload = serde_json::from_str(&row.payload)
            .map_err(|err| EventsError::Corrupt(format!("outbox row {} payload: {err}", row.id)))?;
        Ok(Self {
            seq,
            id: row.id,
            brand: row.brand,
            topic: row.topic,
            aggregate_id: row.aggregate_id,
            event_type: row.event_type,
            payload,
            created_at: row.created_at,
        })
    }
}

/// The events of `topic` after `after_seq`, at most `limit` (capped at [`MAX_READ`]).
pub async fn read<C: ConnectionTrait>(
    db: &C,
    topic: &str,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<Event>> {
    let rows = outbox::Entity::find()
        .filter(outbox::Column::Topic.eq(topic))
        .filter(outbox::Column::Seq.gt(after_seq))
        .order_by_asc(outbox::Column::Seq)
        .limit(limit.clamp(1, MAX_READ))
        .all(db)
        .await?;
    rows.into_iter().map(Event::try_from).collect()
}

/// The events of every topic after `after_seq`, at most `limit` (capped at [`MAX_READ`]).
pub async fn read_all<C: ConnectionTrait>(
    db: &C,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<Event>> {
    let rows = outbox::Entity::find()
        .filter(outbox::Column::Seq.gt(after_seq))
        .order_by_asc(outbox::Column::Seq)
        .limit(limit.clamp(1, MAX_READ))
        .all(db)
        .await?;
    rows.into_iter().map(Event::try_from).collect()
}
