//! Writing to the events outbox inside the caller's transaction.

use sea_orm::{ActiveModelTrait, ActiveValue, ConnectionTrait, EntityTrait, QueryOrder};

use crate::entity::outbox;
use crate::error::Result;

/// A business event to record.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub brand: &'a str,
    pub topic: &'a str,
    pub aggregate_id: &'a str,
    pub event_type: &'a str,
    pub payload: serde_json::Value,
}

/// Appends `event` through `db`: pass the transaction that makes the change.
pub async fn append<C: ConnectionTrait>(db: &C, event: NewEvent<'_>, now_ms: i64) -> Result<()> {
    outbox::ActiveModel {
        id: ActiveValue::NotSet,
        brand: ActiveValue::Set(event.brand.to_string()),
        topic: ActiveValue::Set(event.topic.to_string()),
        aggregate_id: ActiveValue::Set(event.aggregate_id.to_string()),
        event_type: ActiveValue::Set(event.event_type.to_string()),
        payload: ActiveValue::Set(event.payload.to_string()),
        created_at: ActiveValue::Set(now_ms),
        published_at: ActiveValue::Set(None),
        seq: ActiveValue::Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Every event of a topic in insertion (`id`) order, sequenced or not (tests and checks;
/// subscribers read in `seq` order through aberta-events).
pub async fn events<C: ConnectionTrait>(db: &C, topic: &str) -> Result<Vec<outbox::Model>> {
    use sea_orm::{ColumnTrait, QueryFilter};
    Ok(outbox::Entity::find()
        .filter(outbox::Column::Topic.eq(topic))
        .order_by_asc(outbox::Column::Id)
        .all(db)
        .await?)
}
