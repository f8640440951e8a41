//! Retention on both backends: delivered events past the cut are deleted in bounded rounds;
//! undelivered ones and the newest numbered one stay, so numbering carries on from where it
//! was and a reader's offset stays valid.

mod common;

use aberta_events::{purge_delivered, read, sequence_and_mark_delivered, sequence_pending};
use common::{Db, backends, undelivered, write};
use serde_json::json;

const TOPIC: &str = "consents";

#[tokio::test]
async fn delivered_events_are_purged_and_numbering_carries_on() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let conn = db.conn();
        for n in 0..5 {
            write(
                conn,
                TOPIC,
                &format!("urn:{n}"),
                "consent.created",
                json!({"n": n}),
            )
            .await;
        }
        assert_eq!(sequence_and_mark_delivered(conn).await.unwrap(), 5);
        // Written after the cut and numbered, but not delivered to an external sink.
        write(conn, TOPIC, "urn:5", "consent.created", json!({"n": 5})).await;
        assert_eq!(sequence_pending(conn).await.unwrap(), 1);
        assert_eq!(undelivered(conn).await, 1);

        let far_future = i64::MAX;
        // Bounded rounds: three, then one, then none; the newest delivered one (seq 5) is
        // kept only while it is the newest, and here seq 6 is newer but undelivered.
        assert_eq!(
            purge_delivered(conn, far_future, 3).await.unwrap(),
            3,
            "{backend:?}"
        );
        assert_eq!(
            purge_delivered(conn, far_future, 3).await.unwrap(),
            2,
            "{backend:?}"
        );
        assert_eq!(
            purge_delivered(conn, far_future, 3).await.unwrap(),
            0,
            "{backend:?}"
        );
        let left = read(conn, TOPIC, 0, 100).await.unwrap();
        assert_eq!(left.len(), 1, "{backend:?}: the undelivered event stays");
        assert_eq!(left[0].seq, 6, "{backend:?}");

        // Once delivered it is the newest, and the newest is never deleted.
        assert_eq!(sequence_and_mark_delivered(conn).await.unwrap(), 0);
        mark_all_delivered(&db).await;
        assert_eq!(
            purge_delivered(conn, far_future, 100).await.unwrap(),
            0,
            "{backend:?}"
        );

        // Numbering goes on from the newest, so a reader at offset 6 sees the next one.
        write(conn, TOPIC, "urn:6", "consent.created", json!({"n": 6})).await;
        sequence_and_mark_delivered(conn).await.unwrap();
        let next = read(conn, TOPIC, 6, 100).await.unwrap();
        assert_eq!(next.len(), 1, "{backend:?}");
        assert_eq!(next[0].seq, 7, "{backend:?}");
        assert_eq!(next[0].payload["n"], 6);

        // A cut before the events' delivery deletes nothing.
        assert_eq!(
            purge_delivered(conn, 0, 100).await.unwrap(),
            0,
            "{backend:?}"
        );
        db.finish().await;
    }
}

async fn mark_all_delivered(db: &Db) {
    use sea_orm::ConnectionTrait;
    db.conn()
        .execute_unprepared("UPDATE event_outbox SET published_at = 1 WHERE published_at IS NULL")
        .await
        .unwrap();
}
