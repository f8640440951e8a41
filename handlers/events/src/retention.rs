//! Retention of the outbox: delivered events are deleted once they are older than the
//! retention period, so the table does not grow for ever. An event still undelivered (no
//! `published_at`) is never deleted, and neither is the newest numbered one: the sequencer
//! numbers new rows from the highest `seq` in the table, so keeping it keeps every reader's
//! offset valid.

use aberta_store::entity::outbox::{Column, Entity};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};

use crate::Result;

/// Deletes up to `limit` events delivered before `before` (unix ms), oldest first; returns
/// how many. Call again while it returns `limit` to purge a long backlog in short statements.
pub async fn purge_delivered<C: ConnectionTrait>(db: &C, before: i64, limit: u64) -> Result<u64> {
    let newest: Option<Option<i64>> = Entity::find()
        .select_only()
        .column_as(Column::Seq.max(), "newest")
        .into_tuple()
        .one(db)
        .await?;
    let Some(newest) = newest.flatten() else {
        return Ok(0);
    };
    let old = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::PublishedAt.lt(before))
        .filter(Column::Seq.lt(newest))
        .order_by_asc(Column::Seq)
        .limit(limit)
        .into_query();
    Ok(Entity::delete_many()
        .filter(Column::Id.in_subquery(old))
        .exec(db)
        .await?
        .rows_affected)
}
