//! Schema migrations, run at start inside one transaction (serialised on PostgreSQL by an
//! advisory lock so several instances starting together do not race).

use sea_orm::sea_query::{Index, Query};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityName, EntityTrait, Schema,
    Statement, TransactionTrait,
};

use crate::entity::{client, code, consent, grant, par, revocation, secret, session};
use crate::error::Result;

/// The schema version this build writes; bump it with each new migration step.
pub const SCHEMA_VERSION: i64 = 1;

/// Brings the schema to [`SCHEMA_VERSION`].
pub async fn run(db: &DatabaseConnection) -> Result<()> {
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    if backend == DatabaseBackend::Postgres {
        txn.execute_raw(Statement::from_string(
            backend,
            "SELECT pg_advisory_xact_lock(707404)",
        ))
        .await?;
    }
    txn.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS aberta_schema_version (version BIGINT NOT NULL PRIMARY KEY)",
    )
    .await?;
    let current = txn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT MAX(version) AS v FROM aberta_schema_version",
        ))
        .await?
        .and_then(|row| row.try_get::<Option<i64>>("", "v").ok().flatten())
        .unwrap_or(0);
    if current < 1 {
        version_1(&txn, backend).await?;
        txn.execute(
            Query::insert()
                .into_table("aberta_schema_version")
                .columns(["version"])
                .values_panic([SCHEMA_VERSION.into()]),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

async fn version_1<C: ConnectionTrait>(db: &C, backend: DatabaseBackend) -> Result<()> {
    let schema = Schema::new(backend);
    create(db, &schema, client::Entity).await?;
    create(db, &schema, par::Entity).await?;
    create(db, &schema, session::Entity).await?;
    create(db, &schema, code::Entity).await?;
    create(db, &schema, grant::Entity).await?;
    create(db, &schema, revocation::Entity).await?;
    create(db, &schema, secret::Entity).await?;
    create(db, &schema, consent::Entity).await?;
    for (name, table, column) in [
        (
            "idx_auth_grant_consent",
            grant::Entity.table_name(),
            "consent_id",
        ),
        (
            "idx_auth_par_expiry",
            par::Entity.table_name(),
            "expires_at",
        ),
        (
            "idx_auth_code_expiry",
            code::Entity.table_name(),
            "expires_at",
        ),
        (
            "idx_auth_grant_expiry",
            grant::Entity.table_name(),
            "expires_at",
        ),
    ] {
        db.execute(
            Index::create()
                .if_not_exists()
                .name(name)
                .table(table.to_string())
                .col(column.to_string()),
        )
        .await?;
    }
    Ok(())
}

async fn create<C: ConnectionTrait, E: EntityTrait>(
    db: &C,
    schema: &Schema,
    entity: E,
) -> Result<()> {
    let mut stmt = schema.create_table_from_entity(entity);
    stmt.if_not_exists();
    db.execute(&stmt).await?;
    Ok(())
}
