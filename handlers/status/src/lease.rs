//! Taking and renewing a named lease with conditional writes: the holder renews it, anyone
//! may take it once lapsed, and a race is settled by the row's primary key.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    QueryFilter, SqlErr,
};

use crate::entity::lease;
use crate::error::Result;

/// Holds `name` for `owner` until `until` when it is free, lapsed at `now`, or already
/// `owner`'s; `false` when another instance holds it.
pub async fn acquire<C: ConnectionTrait>(
    db: &C,
    name: &str,
    owner: &str,
    now: i64,
    until: i64,
) -> Result<bool> {
    let renewed = lease::Entity::update_many()
        .col_expr(lease::Column::Owner, Expr::value(owner))
        .col_expr(lease::Column::Until, Expr::value(until))
        .filter(lease::Column::Name.eq(name))
        .filter(
            Condition::any()
                .add(lease::Column::Owner.eq(owner))
                .add(lease::Column::Until.lte(now)),
        )
        .exec(db)
        .await?;
    if renewed.rows_affected == 1 {
        return Ok(true);
    }
    let row = lease::ActiveModel {
        name: ActiveValue::Set(name.to_string()),
        owner: ActiveValue::Set(owner.to_string()),
        until: ActiveValue::Set(until),
    };
    match row.insert(db).await {
        Ok(_) => Ok(true),
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Ok(false)
        }
        Err(err) => Err(err.into()),
    }
}

/// Gives `name` up if `owner` holds it, so another instance need not wait for it to lapse.
pub async fn release<C: ConnectionTrait>(db: &C, name: &str, owner: &str) -> Result<()> {
    lease::Entity::delete_many()
        .filter(lease::Column::Name.eq(name))
        .filter(lease::Column::Owner.eq(owner))
        .exec(db)
        .await?;
    Ok(())
}
