//! Schema migrations, run at start inside one transaction (serialised on PostgreSQL by an
//! advisory lock so several instances starting together do not race). The authorization
//! server's tables and the outbox are this crate's; every other module migrates its own
//! tables through [`begin`], with its own version number.

use sea_orm::sea_query::{Index, Query};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, EntityName,
    EntityTrait, Schema, Statement, TransactionTrait,
};

use crate::entity::{
    assertion, client, code, consent, grant, outbox, par, revocation, secret, session,
};
use crate::error::Result;

/// The schema version this build writes; bump it with each new migration step.
pub const SCHEMA_VERSION: i64 = 4;

/// Brings the schema to [`SCHEMA_VERSION`].
pub async fn run(db: &DatabaseConnection) -> Result<()> {
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    lock(&txn, backend).await?;
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
    }
    if current < 2 {
        let schema = Schema::new(backend);
        create(&txn, &schema, outbox::Entity).await?;
        index(
            &txn,
            "idx_event_outbox_topic",
            outbox::Entity,
            &["topic", "id"],
            false,
        )
        .await?;
    }
    if current < 3 {
        version_3(&txn, current).await?;
    }
    if current < 4 {
        // Client assertions already presented (replay refusal), purged by expiry.
        let schema = Schema::new(backend);
        create(&txn, &schema, assertion::Entity).await?;
        index(
            &txn,
            "idx_auth_assertion_jti_expiry",
            assertion::Entity,
            &["expires_at"],
            false,
        )
        .await?;
    }
    if current < SCHEMA_VERSION {
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

/// Every migration takes the same transaction-scoped lock on PostgreSQL; SQLite serialises
/// writers by itself.
async fn lock(txn: &DatabaseTransaction, backend: DatabaseBackend) -> Result<()> {
    if backend == DatabaseBackend::Postgres {
        txn.execute_raw(Statement::from_string(
            backend,
            "SELECT pg_advisory_xact_lock(707404)",
        ))
        .await?;
    }
    Ok(())
}

/// A module's migration in progress: check [`current`](Migration::current), create what is
/// missing, then [`finish`](Migration::finish) with the new version. Dropped unfinished, it
/// rolls back.
pub struct Migration {
    txn: DatabaseTransaction,
    schema: Schema,
    module: &'static str,
    current: i64,
}

/// Starts migrating `module`'s tables, under the migration lock.
pub async fn begin(db: &DatabaseConnection, module: &'static str) -> Result<Migration> {
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    lock(&txn, backend).await?;
    txn.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS aberta_module_version \
         (module VARCHAR(64) NOT NULL PRIMARY KEY, version BIGINT NOT NULL)",
    )
    .await?;
    let current = txn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                DatabaseBackend::Postgres => {
                    "SELECT version AS v FROM aberta_module_version WHERE module = $1"
                }
                _ => "SELECT version AS v FROM aberta_module_version WHERE module = ?",
            },
            [module.into()],
        ))
        .await?
        .and_then(|row| row.try_get::<i64>("", "v").ok())
        .unwrap_or(0);
    Ok(Migration {
        txn,
        schema: Schema::new(backend),
        module,
        current,
    })
}

impl Migration {
    /// The version the database is at (0 for a module never migrated).
    pub fn current(&self) -> i64 {
        self.current
    }

    /// The migration's transaction, for statements beyond tables and indexes.
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// Creates `entity`'s table unless it exists.
    pub async fn create_table<E: EntityTrait>(&self, entity: E) -> Result<()> {
        create(&self.txn, &self.schema, entity).await
    }

    /// Creates an index on `entity`'s table unless it exists.
    pub async fn create_index<E: EntityTrait>(
        &self,
        name: &str,
        entity: E,
        columns: &[&str],
        unique: bool,
    ) -> Result<()> {
        index(&self.txn, name, entity, columns, unique).await
    }

    /// Records `version` and commits.
    pub async fn finish(self, version: i64) -> Result<()> {
        if version > self.current {
            let backend = self.txn.get_database_backend();
            let sql = match (backend, self.current) {
                (DatabaseBackend::Postgres, 0) => {
                    "INSERT INTO aberta_module_version (version, module) VALUES ($1, $2)"
                }
                (DatabaseBackend::Postgres, _) => {
                    "UPDATE aberta_module_version SET version = $1 WHERE module = $2"
                }
                (_, 0) => "INSERT INTO aberta_module_version (version, module) VALUES (?, ?)",
                _ => "UPDATE aberta_module_version SET version = ? WHERE module = ?",
            };
            self.txn
                .execute_raw(Statement::from_sql_and_values(
                    backend,
                    sql,
                    [version.into(), self.module.into()],
                ))
                .await?;
        }
        self.txn.commit().await?;
        Ok(())
    }
}

async fn index<C: ConnectionTrait, E: EntityTrait>(
    db: &C,
    name: &str,
    entity: E,
    columns: &[&str],
    unique: bool,
) -> Result<()> {
    let mut stmt = Index::create();
    stmt.if_not_exists()
        .name(name)
        .table(entity.table_name().to_string());
    for column in columns {
        stmt.col(column.to_string());
    }
    if unique {
        stmt.unique();
    }
    db.execute(&stmt).await?;
    Ok(())
}

/// The outbox's commit-order position. A table made by version 2 lacks the column; one made
/// just now (from the entity) has it. The partial indexes keep the searches for unsequenced
/// and undelivered rows cheap however long the outbox grows.
async fn version_3<C: ConnectionTrait>(db: &C, current: i64) -> Result<()> {
    if current == 2 {
        db.execute_unprepared("ALTER TABLE event_outbox ADD COLUMN seq BIGINT")
            .await?;
    }
    index(db, "idx_event_outbox_seq", outbox::Entity, &["seq"], true).await?;
    index(
        db,
        "idx_event_outbox_topic_seq",
        outbox::Entity,
        &["topic", "seq"],
        false,
    )
    .await?;
    db.execute_unprepared(
        "CREATE INDEX IF NOT EXISTS idx_event_outbox_unsequenced ON event_outbox (id) \
         WHERE seq IS NULL",
    )
    .await?;
    db.execute_unprepared(
        "CREATE INDEX IF NOT EXISTS idx_event_outbox_unpublished ON event_outbox (id) \
         WHERE published_at IS NULL",
    )
    .await?;
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
