//! Operational limits (requirements §1.13, §4): an optional monthly ceiling of successful
//! calls per endpoint, resource, consent and receiving client, answered with 423 beyond it.
//!
//! The counter is keyed by consent, not by CPF, so that no personal data is stored. One
//! atomic upsert admits a call (incrementing first keeps concurrent callers honest); a call
//! that then fails gives its unit back, so the stored count is of successful calls.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};

use crate::endpoints::Endpoint;
use crate::error::DataError;

/// Which endpoints are limited, and how many successful calls a month each allows.
#[derive(Debug, Clone, Default)]
pub struct OperationalLimits {
    default_monthly: Option<u32>,
    per_endpoint: HashMap<&'static str, u32>,
}

impl OperationalLimits {
    /// No limits: the default.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// The same monthly limit for every endpoint that may be limited.
    pub fn monthly(limit: u32) -> Self {
        Self {
            default_monthly: Some(limit),
            per_endpoint: HashMap::new(),
        }
    }

    /// A limit for one endpoint (by `operationId`), overriding the default; unknown ids are
    /// ignored with a warning.
    pub fn with_endpoint(mut self, operation_id: &str, limit: u32) -> Self {
        match crate::endpoints::ALL
            .iter()
            .find(|e| e.operation_id == operation_id)
        {
            Some(e) => {
                self.per_endpoint.insert(e.operation_id, limit);
            }
            None => tracing::warn!(operation_id, "no such endpoint for an operational limit"),
        }
        self
    }

    pub fn is_enabled(&self) -> bool {
        self.default_monthly.is_some() || !self.per_endpoint.is_empty()
    }

    /// The monthly limit of `endpoint`, if any applies.
    pub fn limit_for(&self, endpoint: &Endpoint) -> Option<u32> {
        if !endpoint.limited {
            return None;
        }
        self.per_endpoint
            .get(endpoint.operation_id)
            .copied()
            .or(self.default_monthly)
    }
}

pub mod entity {
    //! `data_call_count`: successful calls per key and month.

    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "data_call_count")]
    pub struct Model {
        /// The other columns joined: one row per counted key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub brand: String,
        pub client_id: String,
        pub consent_id: String,
        pub endpoint: String,
        pub resource_id: String,
        /// `YYYY-MM`, São Paulo time.
        pub month: String,
        pub calls: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates the counter table.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DataError> {
    let m = aberta_store::migrate::begin(db, "data").await?;
    if m.current() < 1 {
        m.create_table(entity::Entity).await?;
        m.create_index(
            "idx_data_call_count_month",
            entity::Entity,
            &["month"],
            false,
        )
        .await?;
    }
    m.finish(1).await?;
    Ok(())
}

/// What one counted call is counted under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallKey {
    pub brand: String,
    pub client_id: String,
    pub consent_id: String,
    pub endpoint: &'static str,
    pub resource_id: String,
    pub month: String,
}

impl CallKey {
    fn id(&self) -> String {
        [
            self.brand.as_str(),
            &self.client_id,
            &self.consent_id,
            self.endpoint,
            &self.resource_id,
            &self.month,
        ]
        .join("\u{1f}")
    }
}

/// The calendar month calls count in.
pub fn current_month() -> String {
    crate::dates::today().format("%Y-%m").to_string()
}

/// Counts one more call under `key` and returns the new count.
pub async fn increment(db: &DatabaseConnection, key: &CallKey) -> Result<i64, DataError> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "INSERT INTO data_call_count \
             (id, brand, client_id, consent_id, endpoint, resource_id, month, calls) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1) \
             ON CONFLICT (id) DO UPDATE SET calls = data_call_count.calls + 1 RETURNING calls"
        }
        _ => {
            "INSERT INTO data_call_count \
             (id, brand, client_id, consent_id, endpoint, resource_id, month, calls) \
             VALUES (?, ?, ?, ?, ?, ?, ?, 1) \
             ON CONFLICT (id) DO UPDATE SET calls = calls + 1 RETURNING calls"
        }
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [
                key.id().into(),
                key.brand.clone().into(),
                key.client_id.clone().into(),
                key.consent_id.clone().into(),
                key.endpoint.into(),
                key.resource_id.clone().into(),
                key.month.clone().into(),
            ],
        ))
        .await?;
    Ok(row
        .and_then(|r| r.try_get::<i64>("", "calls").ok())
        .unwrap_or(1))
}

/// Gives back the unit of a call that did not succeed.
pub async fn decrement(db: &DatabaseConnection, key: &CallKey) -> Result<(), DataError> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "UPDATE data_call_count SET calls = calls - 1 WHERE id = $1 AND calls > 0"
        }
        _ => "UPDATE data_call_count SET calls = calls - 1 WHERE id = ? AND calls > 0",
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [key.id().into()],
    ))
    .await?;
    Ok(())
}

/// The successful calls counted under `key`.
pub async fn count(db: &DatabaseConnection, key: &CallKey) -> Result<i64, DataError> {
    use sea_orm::EntityTrait;
    Ok(entity::Entity::find_by_id(key.id())
        .one(db)
        .await?
        .map(|m| m.calls)
        .unwrap_or(0))
}
