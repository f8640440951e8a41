//! A payments database made before the sweeper kept its own schedule (module version 3, no
//! `next_check_at`), before multiple approvals (no `approvals_needed`, `approvers`) and before
//! pending requests named their instance (no `owner_name`, `owner_run`) is brought up to date
//! in place, on SQLite and on PostgreSQL.

mod common;

use aberta_store::Store;
use common::{Backend, backends, postgres_url};
use sea_orm::ConnectionTrait;

/// A database of this test alone: a SQLite file, or a PostgreSQL schema (and its name, to
/// drop it after).
async fn scratch(backend: Backend) -> (Store, Option<tempfile::TempDir>, Option<String>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::sqlite_file(&dir.path().join("aberta.db"))
                .await
                .unwrap();
            (store, Some(dir), None)
        }
        Backend::Postgres => {
            let base = postgres_url();
            let schema = format!("payments_{}", uuid::Uuid::new_v4().simple());
            let admin = Store::connect(&base).await.unwrap();
            admin
                .connection()
                .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                .await
                .unwrap();
            let separator = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{separator}options[search_path]={schema}");
            (Store::connect(&url).await.unwrap(), None, Some(schema))
        }
    }
}

#[tokio::test]
async fn a_version_3_database_gets_the_check_schedule_and_approvals() {
    for backend in backends() {
        let (store, _dir, schema) = scratch(backend).await;
        let db = store.connection();
        aberta_payments::migrate(db).await.unwrap();
        // Back to what version 3 made.
        db.execute_unprepared("DROP INDEX idx_payments_payment_next_check")
            .await
            .unwrap();
        db.execute_unprepared("ALTER TABLE payments_pix_payment DROP COLUMN next_check_at")
            .await
            .unwrap();
        for column in ["approvals_needed", "approvers"] {
            db.execute_unprepared(&format!(
                "ALTER TABLE payments_consent DROP COLUMN {column}"
            ))
            .await
            .unwrap();
        }
        for column in ["owner_name", "owner_run"] {
            db.execute_unprepared(&format!(
                "ALTER TABLE payments_pending_request DROP COLUMN {column}"
            ))
            .await
            .unwrap();
        }
        db.execute_unprepared(
            "INSERT INTO payments_pending_request (brand, client_id, idempotency_key, \
             request_hash, consent_id, items, self_link, created_at) \
             VALUES ('b', 'k', 'key', 'h', 'c', 'x', 'l', 0)",
        )
        .await
        .unwrap();
        db.execute_unprepared(
            "INSERT INTO payments_consent (consent_id, brand, client_id, status, created_at, \
             status_updated_at, expires_at, request) VALUES ('c', 'b', 'k', 'AUTHORISED', 0, 0, 0, 'x')",
        )
        .await
        .unwrap();
        db.execute_unprepared(
            "UPDATE aberta_module_version SET version = 3 WHERE module = 'payments'",
        )
        .await
        .unwrap();

        aberta_payments::migrate(db).await.unwrap();
        aberta_payments::migrate(db).await.unwrap();
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(next_check_at) AS n FROM payments_pix_payment".to_string(),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), 0, "{backend:?}");
        let version = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT version AS v FROM aberta_module_version WHERE module = 'payments'"
                    .to_string(),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(version.try_get::<i64>("", "v").unwrap(), 6, "{backend:?}");
        let kept = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT approvals_needed AS n, approvers AS a FROM payments_consent".to_string(),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kept.try_get::<i32>("", "n").unwrap(), 1, "{backend:?}");
        assert_eq!(kept.try_get::<Option<String>>("", "a").unwrap(), None);
        // A request kept before owners were named has none: only the delay recovers it.
        let pending = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT owner_name AS n, owner_run AS r FROM payments_pending_request".to_string(),
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pending.try_get::<Option<String>>("", "n").unwrap(), None);
        assert_eq!(pending.try_get::<Option<String>>("", "r").unwrap(), None);
        if let Some(schema) = schema {
            let admin = Store::connect(&postgres_url()).await.unwrap();
            admin
                .connection()
                .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
                .await
                .unwrap();
        }
    }
}
