//! The `api_call` indexes on both backends: a fresh database gets the index of the calls still
//! to report and not the one it replaces; a database at version 1 is upgraded in place; and
//! migrating again changes nothing.

mod common;

use common::{Backend, Db, backends};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

async fn indexes(db: &DatabaseConnection, backend: Backend) -> Vec<String> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name AS n FROM sqlite_master WHERE type = 'index' AND tbl_name = 'api_call'"
        }
        Backend::Postgres => {
            "SELECT indexname::text AS n FROM pg_indexes WHERE tablename = 'api_call' \
             AND schemaname = current_schema()"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    let mut names: Vec<String> = rows
        .iter()
        .map(|row| row.try_get::<String>("", "n").unwrap())
        .filter(|name| name.starts_with("idx_"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn the_pending_index_replaces_the_unreported_one() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let want = vec!["idx_api_call_pending", "idx_api_call_received"];
        assert_eq!(indexes(&db.conn, backend).await, want, "{backend:?}: fresh");

        // Back to version 1 as an older release left it.
        for sql in [
            "DROP INDEX idx_api_call_pending",
            "CREATE INDEX idx_api_call_unreported ON api_call (reported_at, next_attempt_at)",
            "UPDATE aberta_module_version SET version = 1 WHERE module = 'pcm'",
        ] {
            db.conn.execute_unprepared(sql).await.unwrap();
        }
        aberta_pcm::migrate(&db.conn).await.unwrap();
        assert_eq!(
            indexes(&db.conn, backend).await,
            want,
            "{backend:?}: upgraded"
        );
        aberta_pcm::migrate(&db.conn).await.unwrap();
        assert_eq!(indexes(&db.conn, backend).await, want, "{backend:?}: again");
        db.finish().await;
    }
}
