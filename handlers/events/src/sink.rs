//! A sink's row in `events_sink`: its cursor, its origin, and the lease that lets one instance
//! at a time deliver to it. Taking or keeping the lease is one conditional UPDATE (free, or
//! already ours, or expired), so of two instances racing exactly one wins; moving the cursor
//! re-checks that the lease is still ours, so an instance that lost it (it stalled past the
//! lease) cannot move the cursor of the one that took over.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entity::{self, Column, Entity};
use crate::{EventsError, Result};

/// What the lease holder knows about its sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub cursor: i64,
    pub origin: String,
    /// Unix milliseconds.
    pub lease_until: i64,
}

/// Creates the sink's row unless it exists.
pub async fn ensure<C: ConnectionTrait>(db: &C, name: &str, now_ms: i64) -> Result<()> {
    Entity::insert(entity::ActiveModel {
        name: ActiveValue::Set(name.to_string()),
        cursor: ActiveValue::Set(0),
        origin: ActiveValue::Set(uuid::Uuid::new_v4().simple().to_string()),
        holder: ActiveValue::Set(None),
        lease_until: ActiveValue::Set(None),
        updated_at: ActiveValue::Set(now_ms),
    })
    .on_conflict_do_nothing_on([Column::Name])
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Takes or renews the lease for `holder` until `now_ms + lease_ms`; `None` while another
/// instance holds it.
pub async fn acquire<C: ConnectionTrait>(
    db: &C,
    name: &str,
    holder: &str,
    now_ms: i64,
    lease_ms: i64,
) -> Result<Option<Held>> {
    let until = now_ms.saturating_add(lease_ms);
    let taken = Entity::update_many()
        .col_expr(Column::Holder, Expr::value(holder))
        .col_expr(Column::LeaseUntil, Expr::value(until))
        .filter(Column::Name.eq(name))
        .filter(
            Condition::any()
                .add(Column::Holder.eq(holder))
                .add(Column::Holder.is_null())
                .add(Column::LeaseUntil.is_null())
                .add(Column::LeaseUntil.lt(now_ms)),
        )
        .exec(db)
        .await?;
    if taken.rows_affected != 1 {
        return Ok(None);
    }
    let row = Entity::find_by_id(name.to_string())
        .one(db)
        .await?
        .ok_or_else(|| EventsError::Corrupt(format!("sink {name} vanished")))?;
    Ok(Some(Held {
        cursor: row.cursor,
        origin: row.origin,
        lease_until: until,
    }))
}

/// Moves the cursor forward to `seq` if `holder` still holds the lease; `false` when it does
/// not (another instance took over: stop delivering).
pub async fn advance<C: ConnectionTrait>(
    db: &C,
    name: &str,
    holder: &str,
    seq: i64,
    now_ms: i64,
) -> Result<bool> {
    let moved = Entity::update_many()
        .col_expr(Column::Cursor, Expr::value(seq))
        .col_expr(Column::UpdatedAt, Expr::value(now_ms))
        .filter(Column::Name.eq(name))
        .filter(Column::Holder.eq(holder))
        .filter(Column::LeaseUntil.gte(now_ms))
        .filter(Column::Cursor.lte(seq))
        .exec(db)
        .await?;
    Ok(moved.rows_affected == 1)
}

/// Gives the lease up (a clean stop), so another instance need not wait for it to expire.
pub async fn release<C: ConnectionTrait>(db: &C, name: &str, holder: &str) -> Result<()> {
    Entity::update_many()
        .col_expr(Column::Holder, Expr::value(Option::<String>::None))
        .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None))
        .filter(Column::Name.eq(name))
        .filter(Column::Holder.eq(holder))
        .exec(db)
        .await?;
    Ok(())
}

/// The sink's row, for operations and tests.
pub async fn status<C: ConnectionTrait>(db: &C, name: &str) -> Result<Option<entity::Model>> {
    Ok(Entity::find_by_id(name.to_string()).one(db).await?)
}
