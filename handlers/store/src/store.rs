//! [`Store`]: the connection and every read and write the authorization server makes. Writes
//! that must happen once (consuming a PAR request or a code) are conditional updates whose
//! affected-row count decides, so they stay correct with several instances.

use std::path::Path;
use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseBackend,
    DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, SqlErr, Statement,
    TransactionTrait, TryInsertResult,
};

use crate::entity::{assertion, client, code, consent, grant, par, revocation, secret, session};
use crate::error::{Result, StoreError};
use crate::outbox::{self, NewEvent};

/// The outbox topic of client registration events.
pub const CLIENTS_TOPIC: &str = "clients";
pub const CLIENT_REGISTERED: &str = "client.registered";
pub const CLIENT_UPDATED: &str = "client.updated";
pub const CLIENT_DELETED: &str = "client.deleted";

/// Records a registration event for `row`. The payload names the client and its software
/// statement only: metadata (contacts, names, URIs) and the access token hash stay out.
async fn client_event<C: ConnectionTrait>(
    db: &C,
    row: &client::Model,
    event_type: &str,
    at_seconds: i64,
) -> Result<()> {
    outbox::append(
        db,
        NewEvent {
            brand: &row.brand,
            topic: CLIENTS_TOPIC,
            aggregate_id: &row.client_id,
            event_type,
            payload: serde_json::json!({
                "clientId": row.client_id,
                "softwareId": row.software_id,
                "orgId": row.org_id,
                "scope": row.scope,
            }),
        },
        at_seconds.saturating_mul(1000),
    )
    .await
}

/// The handle every handler shares; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
}

/// What presenting an authorization code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeOutcome {
    /// First use: the code row, now marked used.
    Fresh(code::Model),
    /// The code was used before: the grant it started (revoke it).
    Reused { grant_id: String },
    /// Unknown, expired or another brand's.
    Unknown,
}

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) and migrates the schema.
    pub async fn connect(url: &str) -> Result<Self> {
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres:")
            || url.starts_with("postgresql:"))
        {
            return Err(StoreError::Url(
                "expected sqlite:// or postgres://".to_string(),
            ));
        }
        let mut options = ConnectOptions::new(url.to_string());
        options
            .max_connections(if url.starts_with("sqlite:") { 4 } else { 16 })
            .connect_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        let db = Database::connect(options).await?;
        if url.starts_with("sqlite:") {
            use sea_orm::ConnectionTrait;
            db.execute_unprepared("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;")
                .await?;
        }
        crate::migrate::run(&db).await?;
        Ok(Self { db })
    }

    /// The embedded default: a SQLite file (created if missing).
    pub async fn sqlite_file(path: &Path) -> Result<Self> {
        Self::connect(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    // ---- secrets -------------------------------------------------------------------------

    /// The secret `<brand>/<name>`, if it exists.
    pub async fn secret(&self, brand: &str, name: &str) -> Result<Option<String>> {
        Ok(secret::Entity::find_by_id(format!("{brand}/{name}"))
            .one(&self.db)
            .await?
            .map(|row| row.value))
    }

    /// The secret `<brand>/<name>`, created with `make` when absent. When two instances race,
    /// the first insert wins and both read it back.
    pub async fn secret_or_create(
        &self,
        brand: &str,
        name: &str,
        make: impl FnOnce() -> String,
        now: i64,
    ) -> Result<String> {
        let key = format!("{brand}/{name}");
        if let Some(row) = secret::Entity::find_by_id(key.clone())
            .one(&self.db)
            .await?
        {
            return Ok(row.value);
        }
        let row = secret::Model {
            name: key.clone(),
            value: make(),
            created_at: now,
        };
        if let Err(err) = row.into_active_model().insert(&self.db).await
            && !is_unique_violation(&err)
        {
            return Err(err.into());
        }
        secret::Entity::find_by_id(key)
            .one(&self.db)
            .await?
            .map(|row| row.value)
            .ok_or(StoreError::Conflict("secret vanished after insert"))
    }

    // ---- clients -------------------------------------------------------------------------

    /// Registers a client; [`StoreError::Conflict`] when the software statement already has one.
    /// Registers a client (DCR) and records `client.registered` in the same transaction.
    pub async fn insert_client(&self, row: client::Model) -> Result<()> {
        let txn = self.db.begin().await?;
        match row.clone().into_active_model().insert(&txn).await {
            Ok(_) => {}
            Err(err) if is_unique_violation(&err) => {
                return Err(StoreError::Conflict(
                    "a client is already registered for this software statement",
                ));
            }
            Err(err) => return Err(err.into()),
        }
        client_event(&txn, &row, CLIENT_REGISTERED, row.created_at).await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn client(&self, brand: &str, client_id: &str) -> Result<Option<client::Model>> {
        Ok(client::Entity::find_by_id(client_id.to_string())
            .filter(client::Column::Brand.eq(brand))
            .one(&self.db)
            .await?)
    }

    /// Replaces a client's metadata (DCM) and records `client.updated` in the same
    /// transaction; `false` (and no event) when it no longer exists.
    pub async fn update_client(&self, row: client::Model) -> Result<bool> {
        let txn = self.db.begin().await?;
        let result = client::Entity::update_many()
            .col_expr(client::Column::JwksUri, Expr::value(row.jwks_uri.clone()))
            .col_expr(client::Column::Scope, Expr::value(row.scope.clone()))
            .col_expr(client::Column::Metadata, Expr::value(row.metadata.clone()))
            .col_expr(client::Column::UpdatedAt, Expr::value(row.updated_at))
            .filter(client::Column::ClientId.eq(row.client_id.clone()))
            .filter(client::Column::Brand.eq(row.brand.clone()))
            .exec(&txn)
            .await?;
        if result.rows_affected != 1 {
            return Ok(false);
        }
        client_event(&txn, &row, CLIENT_UPDATED, row.updated_at).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Deletes a client, revokes every grant it holds and records `client.deleted`, in one
    /// transaction.
    pub async fn delete_client(&self, brand: &str, client_id: &str) -> Result<bool> {
        let txn = self.db.begin().await?;
        let deleted = client::Entity::delete_many()
            .filter(client::Column::ClientId.eq(client_id))
            .filter(client::Column::Brand.eq(brand))
            .exec(&txn)
            .await?;
        grant::Entity::update_many()
            .col_expr(grant::Column::Revoked, Expr::value(true))
            .filter(grant::Column::ClientId.eq(client_id))
            .filter(grant::Column::Brand.eq(brand))
            .exec(&txn)
            .await?;
        if deleted.rows_affected == 1 {
            outbox::append(
                &txn,
                NewEvent {
                    brand,
                    topic: CLIENTS_TOPIC,
                    aggregate_id: client_id,
                    event_type: CLIENT_DELETED,
                    payload: serde_json::json!({ "clientId": client_id }),
                },
                chrono::Utc::now().timestamp_millis(),
            )
            .await?;
        }
        txn.commit().await?;
        Ok(deleted.rows_affected == 1)
    }

    // ---- PAR -----------------------------------------------------------------------------

    pub async fn insert_par(&self, row: par::Model) -> Result<()> {
        row.into_active_model().insert(&self.db).await?;
        Ok(())
    }

    /// A live (unexpired, unconsumed) request of this brand.
    pub async fn par(
        &self,
        brand: &str,
        request_uri: &str,
        now: i64,
    ) -> Result<Option<par::Model>> {
        Ok(par::Entity::find_by_id(request_uri.to_string())
            .filter(par::Column::Brand.eq(brand))
            .filter(par::Column::Consumed.eq(false))
            .filter(par::Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await?)
    }

    /// Marks a request used; `false` if it was already used or expired.
    pub async fn consume_par(&self, brand: &str, request_uri: &str, now: i64) -> Result<bool> {
        let result = par::Entity::update_many()
            .col_expr(par::Column::Consumed, Expr::value(true))
            .filter(par::Column::RequestUri.eq(request_uri))
            .filter(par::Column::Brand.eq(brand))
            .filter(par::Column::Consumed.eq(false))
            .filter(par::Column::ExpiresAt.gt(now))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    // ---- portal sessions -----------------------------------------------------------------

    pub async fn insert_session(&self, row: session::Model) -> Result<()> {
        row.into_active_model().insert(&self.db).await?;
        Ok(())
    }

    pub async fn session(
        &self,
        brand: &str,
        session_id: &str,
        now: i64,
    ) -> Result<Option<session::Model>> {
        Ok(session::Entity::find_by_id(session_id.to_string())
            .filter(session::Column::Brand.eq(brand))
            .filter(session::Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await?)
    }

    pub async fn set_session_user(&self, brand: &str, session_id: &str, user: &str) -> Result<()> {
        session::Entity::update_many()
            .col_expr(session::Column::User, Expr::value(user.to_string()))
            .filter(session::Column::SessionId.eq(session_id))
            .filter(session::Column::Brand.eq(brand))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    pub async fn delete_session(&self, brand: &str, session_id: &str) -> Result<()> {
        session::Entity::delete_many()
            .filter(session::Column::SessionId.eq(session_id))
            .filter(session::Column::Brand.eq(brand))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    // ---- codes and grants ----------------------------------------------------------------

    /// Completes an authorization: consumes the PAR request, stores the grant and its code, and
    /// drops the portal session, all or nothing. `false` when the request was already used.
    pub async fn complete_authorization(
        &self,
        par_uri: &str,
        session_id: &str,
        grant_row: grant::Model,
        code_row: code::Model,
        now: i64,
    ) -> Result<bool> {
        let brand = grant_row.brand.clone();
        let txn = self.db.begin().await?;
        let consumed = par::Entity::update_many()
            .col_expr(par::Column::Consumed, Expr::value(true))
            .filter(par::Column::RequestUri.eq(par_uri))
            .filter(par::Column::Brand.eq(brand.as_str()))
            .filter(par::Column::Consumed.eq(false))
            .filter(par::Column::ExpiresAt.gt(now))
            .exec(&txn)
            .await?;
        if consumed.rows_affected != 1 {
            txn.rollback().await?;
            return Ok(false);
        }
        grant_row.into_active_model().insert(&txn).await?;
        code_row.into_active_model().insert(&txn).await?;
        session::Entity::delete_many()
            .filter(session::Column::SessionId.eq(session_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Presents a code: the first use marks it used and returns it; a second use reports the
    /// grant to revoke.
    pub async fn use_code(&self, brand: &str, code_hash: &str, now: i64) -> Result<CodeOutcome> {
        let Some(row) = code::Entity::find_by_id(code_hash.to_string())
            .filter(code::Column::Brand.eq(brand))
            .one(&self.db)
            .await?
        else {
            return Ok(CodeOutcome::Unknown);
        };
        if row.used {
            return Ok(CodeOutcome::Reused {
                grant_id: row.grant_id,
            });
        }
        if row.expires_at <= now {
            return Ok(CodeOutcome::Unknown);
        }
        let result = code::Entity::update_many()
            .col_expr(code::Column::Used, Expr::value(true))
            .filter(code::Column::CodeHash.eq(code_hash))
            .filter(code::Column::Used.eq(false))
            .exec(&self.db)
            .await?;
        if result.rows_affected != 1 {
            return Ok(CodeOutcome::Reused {
                grant_id: row.grant_id,
            });
        }
        Ok(CodeOutcome::Fresh(code::Model { used: true, ..row }))
    }

    /// Attaches the refresh token (by hash) to a grant when its code is exchanged.
    pub async fn set_refresh(&self, brand: &str, grant_id: &str, refresh_hash: &str) -> Result<()> {
        grant::Entity::update_many()
            .col_expr(
                grant::Column::RefreshHash,
                Expr::value(refresh_hash.to_string()),
            )
            .filter(grant::Column::GrantId.eq(grant_id))
            .filter(grant::Column::Brand.eq(brand))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    pub async fn grant(&self, brand: &str, grant_id: &str) -> Result<Option<grant::Model>> {
        Ok(grant::Entity::find_by_id(grant_id.to_string())
            .filter(grant::Column::Brand.eq(brand))
            .one(&self.db)
            .await?)
    }

    /// The live grant a refresh token belongs to.
    pub async fn grant_by_refresh(
        &self,
        brand: &str,
        refresh_hash: &str,
        now: i64,
    ) -> Result<Option<grant::Model>> {
        Ok(grant::Entity::find()
            .filter(grant::Column::RefreshHash.eq(refresh_hash))
            .filter(grant::Column::Brand.eq(brand))
            .filter(grant::Column::Revoked.eq(false))
            .filter(grant::Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await?)
    }

    pub async fn revoke_grant(&self, brand: &str, grant_id: &str) -> Result<()> {
        grant::Entity::update_many()
            .col_expr(grant::Column::Revoked, Expr::value(true))
            .filter(grant::Column::GrantId.eq(grant_id))
            .filter(grant::Column::Brand.eq(brand))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Revokes every grant linked to a consent (consent revoked, rejected or consumed);
    /// returns how many.
    pub async fn revoke_consent_grants(&self, brand: &str, consent_id: &str) -> Result<u64> {
        let result = grant::Entity::update_many()
            .col_expr(grant::Column::Revoked, Expr::value(true))
            .filter(grant::Column::ConsentId.eq(consent_id))
            .filter(grant::Column::Brand.eq(brand))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }

    // ---- revoked access tokens -----------------------------------------------------------

    pub async fn revoke_token(&self, brand: &str, jti: &str, expires_at: i64) -> Result<()> {
        let row = revocation::Model {
            jti: jti.to_string(),
            brand: brand.to_string(),
            expires_at,
        };
        match row.into_active_model().insert(&self.db).await {
            Ok(_) => Ok(()),
            Err(err) if is_unique_violation(&err) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Whether an access token still stands: its `jti` not revoked and, for a token of a
    /// grant, the grant there and live. One round trip: every protected call asks this.
    pub async fn token_stands(
        &self,
        brand: &str,
        jti: &str,
        grant_id: Option<&str>,
    ) -> Result<bool> {
        let backend = self.db.get_database_backend();
        let sql = match backend {
            DatabaseBackend::Postgres => {
                "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM auth_revocation \
                 WHERE jti = $1 AND brand = $2) THEN 1 ELSE 0 END AS BIGINT) AS jti_revoked, \
                 (SELECT CAST(CASE WHEN revoked THEN 1 ELSE 0 END AS BIGINT) FROM auth_grant \
                 WHERE grant_id = $3 AND brand = $4) AS grant_revoked"
            }
            _ => {
                "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM auth_revocation \
                 WHERE jti = ? AND brand = ?) THEN 1 ELSE 0 END AS BIGINT) AS jti_revoked, \
                 (SELECT CAST(CASE WHEN revoked THEN 1 ELSE 0 END AS BIGINT) FROM auth_grant \
                 WHERE grant_id = ? AND brand = ?) AS grant_revoked"
            }
        };
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [
                    jti.into(),
                    brand.into(),
                    grant_id.unwrap_or_default().into(),
                    brand.into(),
                ],
            ))
            .await?
            .ok_or_else(|| StoreError::Db(sea_orm::DbErr::RecordNotFound("standing".into())))?;
        let jti_revoked: i64 = row.try_get("", "jti_revoked")?;
        let grant_revoked: Option<i64> = row.try_get("", "grant_revoked")?;
        Ok(jti_revoked == 0
            && match grant_id {
                None => true,
                Some(_) => grant_revoked == Some(0),
            })
    }

    pub async fn is_token_revoked(&self, brand: &str, jti: &str) -> Result<bool> {
        Ok(revocation::Entity::find_by_id(jti.to_string())
            .filter(revocation::Column::Brand.eq(brand))
            .one(&self.db)
            .await?
            .is_some())
    }

    // ---- client assertions already presented ---------------------------------------------

    /// Records the `jti` (a digest of it) of `client_id`'s assertion until `expires_at`;
    /// `false` when that client presented it before and it has not expired. The insert
    /// decides (primary key, no read first), so two instances given the same assertion at
    /// once accept it once. Expired rows are deleted first, which keeps the table to the
    /// assertions still alive.
    pub async fn record_assertion(
        &self,
        brand: &str,
        client_id: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool> {
        assertion::Entity::delete_many()
            .filter(assertion::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await?;
        let row = assertion::Model {
            brand: brand.to_string(),
            client_id: client_id.to_string(),
            jti: jti.to_string(),
            expires_at,
        };
        let inserted = assertion::Entity::insert(row.into_active_model())
            .on_conflict_do_nothing()
            .exec_without_returning(&self.db)
            .await?;
        Ok(matches!(inserted, TryInsertResult::Inserted(n) if n > 0))
    }

    // ---- consents (the database-backed consent store) ------------------------------------

    pub async fn upsert_consent(&self, row: consent::Model) -> Result<()> {
        let existing = consent::Entity::find_by_id(row.consent_id.clone())
            .one(&self.db)
            .await?;
        match existing {
            Some(_) => {
                row.into_active_model().reset_all().update(&self.db).await?;
            }
            None => {
                row.into_active_model().insert(&self.db).await?;
            }
        }
        Ok(())
    }

    pub async fn consent(&self, brand: &str, consent_id: &str) -> Result<Option<consent::Model>> {
        Ok(consent::Entity::find_by_id(consent_id.to_string())
            .filter(consent::Column::Brand.eq(brand))
            .one(&self.db)
            .await?)
    }

    /// Moves a consent from `from` to `to`; `false` when it was not in `from`.
    pub async fn transition_consent(
        &self,
        brand: &str,
        consent_id: &str,
        from: &str,
        to: &str,
        accounts: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let mut update = consent::Entity::update_many()
            .col_expr(consent::Column::Status, Expr::value(to.to_string()))
            .col_expr(consent::Column::UpdatedAt, Expr::value(now));
        if let Some(accounts) = accounts {
            update = update.col_expr(consent::Column::Accounts, Expr::value(accounts.to_string()));
        }
        let result = update
            .filter(consent::Column::ConsentId.eq(consent_id))
            .filter(consent::Column::Brand.eq(brand))
            .filter(consent::Column::Status.eq(from))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    // ---- housekeeping --------------------------------------------------------------------

    /// Deletes rows that expired before `now`; returns how many.
    pub async fn purge_expired(&self, now: i64) -> Result<u64> {
        let mut total = 0;
        total += par::Entity::delete_many()
            .filter(par::Column::ExpiresAt.lt(now))
            .exec(&self.db)
            .await?
            .rows_affected;
        total += session::Entity::delete_many()
            .filter(session::Column::ExpiresAt.lt(now))
            .exec(&self.db)
            .await?
            .rows_affected;
        total += code::Entity::delete_many()
            .filter(code::Column::ExpiresAt.lt(now))
            .exec(&self.db)
            .await?
            .rows_affected;
        total += revocation::Entity::delete_many()
            .filter(revocation::Column::ExpiresAt.lt(now))
            .exec(&self.db)
            .await?
            .rows_affected;
        total += grant::Entity::delete_many()
            .filter(grant::Column::ExpiresAt.lt(now))
            .exec(&self.db)
            .await?
            .rows_affected;
        total += assertion::Entity::delete_many()
            .filter(assertion::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await?
            .rows_affected;
        Ok(total)
    }
}

fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
