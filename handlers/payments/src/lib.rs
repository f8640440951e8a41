//! Foundations of payments 4.0.0 that every payment endpoint stands on: signed
//! `application/jwt` message bodies ([`signed`]: PS256 checks against the sending
//! organisation's directory keys, a database-backed `jti` ledger, response signing) and the
//! `x-idempotency-key` contract ([`idempotency`]: one database row per key, claimed in the
//! same transaction as the payment it protects). The endpoints themselves live elsewhere.

pub mod accounts;
pub mod api;
pub mod approvals;
pub mod codec;
pub mod consents;
mod entity;
mod error;
pub mod idempotency;
mod keystore;
pub mod notify;
pub mod pix;
pub mod portal;
pub mod qr;
pub mod retry;
pub mod rules;
pub mod signed;

pub use error::PaymentsError;
pub use keystore::DirectoryKeys;

/// The tables of this module, for tests that read raw rows.
pub const IDEMPOTENCY_TABLE: &str = "payments_idempotency";
pub const JTI_TABLE: &str = "payments_jti";

/// How long a `jti` and an idempotency key are remembered: 24 hours.
pub const RETENTION_SECONDS: i64 = 86_400;

/// Creates (or brings up to date) this module's tables. Safe to run from several instances at
/// once: [`aberta_store::migrate::begin`] serialises migrations.
pub async fn migrate(db: &sea_orm::DatabaseConnection) -> Result<(), PaymentsError> {
    let m = aberta_store::migrate::begin(db, "payments").await?;
    if m.current() < 1 {
        m.create_table(entity::idempotency::Entity).await?;
        m.create_table(entity::jti::Entity).await?;
        m.create_index(
            "idx_payments_idempotency_created",
            entity::idempotency::Entity,
            &["created_at"],
            false,
        )
        .await?;
        m.create_index(
            "idx_payments_jti_seen",
            entity::jti::Entity,
            &["seen_at"],
            false,
        )
        .await?;
    }
    if m.current() < 2 {
        m.create_table(entity::consent::Entity).await?;
        m.create_index(
            "idx_payments_consent_status_expiry",
            entity::consent::Entity,
            &["status", "expires_at"],
            false,
        )
        .await?;
        m.create_table(entity::payment::Entity).await?;
        m.create_index(
            "idx_payments_payment_consent",
            entity::payment::Entity,
            &["consent_id"],
            false,
        )
        .await?;
        m.create_index(
            "idx_payments_payment_status",
            entity::payment::Entity,
            &["status"],
            false,
        )
        .await?;
    }
    if m.current() < 3 {
        m.create_table(entity::pending::Entity).await?;
        m.create_index(
            "idx_payments_pending_created",
            entity::pending::Entity,
            &["created_at"],
            false,
        )
        .await?;
    }
    if (2..4).contains(&m.current()) {
        // Payments tables made before the sweeper kept its own schedule.
        use sea_orm::ConnectionTrait;
        m.txn()
            .execute_unprepared(
                "ALTER TABLE payments_pix_payment ADD COLUMN next_check_at BIGINT NOT NULL DEFAULT 0",
            )
            .await?;
    }
    if m.current() < 4 {
        m.create_index(
            "idx_payments_payment_next_check",
            entity::payment::Entity,
            &["status", "next_check_at"],
            false,
        )
        .await?;
    }
    if (2..5).contains(&m.current()) {
        // Consents stored before multiple approvals (PARTIALLY_ACCEPTED) were kept.
        use sea_orm::ConnectionTrait;
        m.txn()
            .execute_unprepared(
                "ALTER TABLE payments_consent ADD COLUMN approvals_needed INTEGER NOT NULL DEFAULT 1",
            )
            .await?;
        m.txn()
            .execute_unprepared("ALTER TABLE payments_consent ADD COLUMN approvers TEXT")
            .await?;
    }
    if (3..6).contains(&m.current()) {
        // Pending requests written before they named their instance.
        use sea_orm::ConnectionTrait;
        for column in ["owner_name", "owner_run"] {
            m.txn()
                .execute_unprepared(&format!(
                    "ALTER TABLE payments_pending_request ADD COLUMN {column} TEXT"
                ))
                .await?;
        }
    }
    m.finish(6).await?;
    Ok(())
}
