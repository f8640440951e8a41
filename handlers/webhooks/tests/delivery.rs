//! Webhook delivery end to end, each on SQLite and PostgreSQL, to a real receiver over mutual
//! TLS: what goes on the wire, retries after a receiver that is down or failing, giving up,
//! transactions, two deliverers on one database, and leases that expire.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aberta_webhooks::{
    DeliveryPolicy, DeliveryStatus, Notification, consent_url, deliveries, enqueue, failed_count,
    payment_url, pending_count,
};
use chrono::{DateTime, Utc};
use common::*;
use sea_orm::TransactionTrait;
use serde_json::{Value, json};

const BRAND: &str = "demo";
const CLIENT: &str = "client-1";

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

fn notification(target: url::Url) -> Notification {
    Notification::new(BRAND, CLIENT, target, Utc::now())
}

/// The spec's `RequestBodyWebhook.data.timestamp` pattern (UTC, seconds, `Z`), by hand.
fn spec_timestamp(value: &str) -> bool {
    value.len() == 20
        && value.ends_with('Z')
        && chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%SZ").is_ok()
}

#[tokio::test]
async fn notifications_are_what_the_webhook_spec_describes() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let receiver = Receiver::start().await;
        let consent = "urn:bancoex:C1DD33123";
        let payment = "a1b2c3d4-0000-4000-8000-000000000001";
        let txn = db.conn.begin().await.unwrap();
        enqueue(
            &txn,
            Notification::new(
                BRAND,
                CLIENT,
                consent_url(&receiver.base(), consent).unwrap(),
                at("2026-05-21T05:30:00.750-03:00"),
            ),
        )
        .await
        .unwrap();
        enqueue(
            &txn,
            Notification::new(
                BRAND,
                CLIENT,
                payment_url(&receiver.base(), payment).unwrap(),
                at("2026-05-21T08:31:02Z"),
            ),
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();

        let deliverer = deliverer(&db.conn, policy());
        let report = deliverer.deliver_due(Utc::now()).await.unwrap();
        assert_eq!((report.claimed, report.delivered), (2, 2), "{backend:?}");

        let mut received = receiver.received();
        received.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(received.len(), 2);
        let expected = [
            (
                format!("/tpp/open-banking/webhook/v1/payments/v4/consents/{consent}"),
                "2026-05-21T08:30:00Z",
            ),
            (
                format!("/tpp/open-banking/webhook/v1/payments/v4/pix/payments/{payment}"),
                "2026-05-21T08:31:02Z",
            ),
        ];
        let mut ids = HashSet::new();
        for (request, (path, timestamp)) in received.iter().zip(expected) {
            assert_eq!(request.method, "POST");
            assert_eq!(request.path, path);
            assert_eq!(request.content_type.as_deref(), Some("application/json"));
            let body: Value = serde_json::from_str(&request.body).unwrap();
            assert_eq!(body, json!({ "data": { "timestamp": timestamp } }));
            assert!(spec_timestamp(body["data"]["timestamp"].as_str().unwrap()));
            let id = request.interaction_id.as_deref().unwrap();
            let uuid = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(uuid.get_version(), Some(uuid::Version::Random), "{id}");
            assert!(ids.insert(id.to_string()), "one interaction id per attempt");
            assert_eq!(
                request.client_thumbprint.as_deref(),
                Some(certs().client_thumbprint.as_str()),
                "sent with the account holder's transport certificate"
            );
        }

        let rows = deliveries(&db.conn, BRAND).await.unwrap();
        assert!(
            rows.iter()
                .all(|row| row.status == DeliveryStatus::Delivered
                    && row.attempts == 1
                    && row.delivered_at.is_some()
                    && row.lease_until.is_none()
                    && row.last_error.is_none())
        );
        let sent_ids: HashSet<_> = rows
            .iter()
            .map(|row| row.last_interaction_id.clone().unwrap())
            .collect();
        assert_eq!(sent_ids, ids, "the row records the interaction id it sent");

        // Another 2xx than 202 still counts as received.
        receiver.answer_with(200);
        enqueue(
            &db.conn,
            notification(consent_url(&receiver.base(), "urn:bancoex:OTHER").unwrap()),
        )
        .await
        .unwrap();
        let report = deliverer.deliver_due(Utc::now()).await.unwrap();
        assert_eq!(report.delivered, 1);
        assert_eq!(pending_count(&db.conn).await.unwrap(), 0);
        receiver.stop().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_the_notification_once_it_is_up() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let base = format!("https://127.0.0.1:{port}/tpp");
        enqueue(&db.conn, notification(payment_url(&base, "pay-1").unwrap()))
            .await
            .unwrap();

        let deliverer = deliverer(&db.conn, policy());
        let now = Utc::now();
        let report = deliverer.deliver_due(now).await.unwrap();
        assert_eq!((report.claimed, report.retrying), (1, 1), "{backend:?}");
        let row = &deliveries(&db.conn, BRAND).await.unwrap()[0];
        assert_eq!(row.status, DeliveryStatus::Pending);
        assert_eq!(row.attempts, 1);
        assert!(row.last_error.as_deref().unwrap().starts_with("connect"));
        assert!(row.next_attempt_at > now, "backed off");
        assert!(row.lease_until.is_none());
        // Not due again at the same instant.
        assert_eq!(deliverer.deliver_due(now).await.unwrap().claimed, 0);

        // Another refused attempt or two while still down, then the receiver comes up.
        let again = row.next_attempt_at;
        let report = deliverer.deliver_due(again).await.unwrap();
        assert_eq!(report.retrying, 1);
        let row = &deliveries(&db.conn, BRAND).await.unwrap()[0];
        assert_eq!(row.attempts, 2);
        assert!(row.next_attempt_at > again);

        let receiver = Receiver::start_on(port).await;
        let total = drain(&deliverer).await;
        assert_eq!(total.delivered, 1);
        assert_eq!(receiver.count(), 1);
        let row = &deliveries(&db.conn, BRAND).await.unwrap()[0];
        assert_eq!(row.status, DeliveryStatus::Delivered);
        assert_eq!(row.attempts, 3);
        receiver.stop().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_a_fresh_interaction_id() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let receiver = Receiver::start().await;
        receiver.answer_with(500);
        enqueue(
            &db.conn,
            notification(consent_url(&receiver.base(), "urn:bancoex:C1").unwrap()),
        )
        .await
        .unwrap();
        let deliverer = deliverer(&db.conn, policy());
        let now = Utc::now();
        let report = deliverer.deliver_due(now).await.unwrap();
        assert_eq!(report.retrying, 1, "{backend:?}");
        let row = &deliveries(&db.conn, BRAND).await.unwrap()[0];
        assert_eq!(row.last_error.as_deref(), Some("HTTP 500"));
        assert!(row.next_attempt_at > now);

        receiver.answer_with(202);
        let total = drain(&deliverer).await;
        assert_eq!(total.delivered, 1);
        let received = receiver.received();
        assert_eq!(received.len(), 2);
        assert_eq!(received[0].path, received[1].path);
        assert_eq!(received[0].body, received[1].body, "the same event");
        assert_ne!(
            received[0].interaction_id, received[1].interaction_id,
            "each attempt has its own interaction id"
        );
        let row = &deliveries(&db.conn, BRAND).await.unwrap()[0];
        assert_eq!(
            (row.status, row.attempts, row.last_error.as_deref()),
            (DeliveryStatus::Delivered, 2, None)
        );
        assert_eq!(row.last_interaction_id, received[1].interaction_id);
        receiver.stop().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn after_max_attempts_a_notification_is_failed_and_kept() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let receiver = Receiver::start().await;
        receiver.answer_with(503);
        enqueue(
            &db.conn,
            notification(payment_url(&receiver.base(), "pay-9").unwrap()),
        )
        .await
        .unwrap();
        let deliverer = deliverer(
            &db.conn,
            DeliveryPolicy {
                max_attempts: 3,
                ..policy()
            },
        );
        let total = drain(&deliverer).await;
        assert_eq!(
            (total.retrying, total.failed, total.delivered),
            (2, 1, 0),
            "{backend:?}"
        );
        assert_eq!(receiver.count(), 3);
        let ids: HashSet<_> = receiver
            .received()
            .into_iter()
            .map(|r| r.interaction_id.unwrap())
            .collect();
        assert_eq!(ids.len(), 3);
        assert_eq!(failed_count(&db.conn).await.unwrap(), 1);
        assert_eq!(deliverer.failed_count().await.unwrap(), 1);
        assert_eq!(pending_count(&db.conn).await.unwrap(), 0);
        let row = &deliveries(&db.conn, BRAND).await.unwrap()[0];
        assert_eq!(
            (row.status, row.attempts, row.last_error.as_deref()),
            (DeliveryStatus::Failed, 3, Some("HTTP 503"))
        );
        // Never tried again, however late.
        receiver.answer_with(202);
        let later = Utc::now() + chrono::Duration::days(1);
        assert_eq!(deliverer.deliver_due(later).await.unwrap().claimed, 0);
        assert_eq!(receiver.count(), 3);
        receiver.stop().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn a_rolled_back_enqueue_never_goes_out() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let receiver = Receiver::start().await;
        let txn = db.conn.begin().await.unwrap();
        enqueue(
            &txn,
            notification(consent_url(&receiver.base(), "urn:bancoex:ROLLED-BACK").unwrap()),
        )
        .await
        .unwrap();
        txn.rollback().await.unwrap();
        let txn = db.conn.begin().await.unwrap();
        enqueue(
            &txn,
            notification(consent_url(&receiver.base(), "urn:bancoex:COMMITTED").unwrap()),
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();

        let deliverer = deliverer(&db.conn, policy());
        let total = drain(&deliverer).await;
        assert_eq!(total.claimed, 1, "{backend:?}");
        let paths: Vec<_> = receiver.received().into_iter().map(|r| r.path).collect();
        assert_eq!(paths.len(), 1);
        assert!(paths[0].ends_with("/consents/urn:bancoex:COMMITTED"));
        assert_eq!(deliveries(&db.conn, BRAND).await.unwrap().len(), 1);
        receiver.stop().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn two_deliverers_on_one_database_deliver_each_notification_once() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let receiver = Receiver::start().await;
        let rows = 60;
        for n in 0..rows {
            enqueue(
                &db.conn,
                notification(payment_url(&receiver.base(), &format!("pay-{n}")).unwrap()),
            )
            .await
            .unwrap();
        }
        let small_batches = DeliveryPolicy {
            batch_size: 7,
            ..policy()
        };
        let first = deliverer(&db.conn, small_batches.clone());
        let second = deliverer(&db.second().await, small_batches);
        let (a, b) = tokio::join!(
            tokio::spawn(async move { drain(&first).await }),
            tokio::spawn(async move { drain(&second).await }),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.delivered + b.delivered, rows, "{backend:?}: {a:?} {b:?}");
        assert_eq!(a.claimed + b.claimed, rows, "no row claimed twice");
        assert_eq!(a.lease_lost + b.lease_lost, 0);

        let mut per_path: HashMap<String, usize> = HashMap::new();
        for request in receiver.received() {
            *per_path.entry(request.path).or_default() += 1;
        }
        assert_eq!(per_path.len(), rows);
        assert!(per_path.values().all(|&n| n == 1), "{per_path:?}");
        receiver.stop().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn the_lease_of_a_crashed_instance_expires_and_the_row_is_claimed_again() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let receiver = Receiver::start().await;
        enqueue(
            &db.conn,
            notification(consent_url(&receiver.base(), "urn:bancoex:CRASH").unwrap()),
        )
        .await
        .unwrap();
        let policy = policy();
        let now = Utc::now();

        // The first instance claims the row and dies while its request is in flight.
        receiver.hold_next();
        let crashing = deliverer(&db.conn, policy.clone());
        let run = tokio::spawn(async move { crashing.deliver_due(now).await });
        eventually("the first attempt reaches the receiver", || {
            receiver.count() == 1
        })
        .await;
        run.abort();
        assert!(run.await.unwrap_err().is_cancelled());
        receiver.release();

        let row = &deliveries(&db.conn, BRAND).await.unwrap()[0];
        assert_eq!(row.status, DeliveryStatus::Pending, "{backend:?}");
        assert_eq!(row.attempts, 0, "the crashed attempt recorded nothing");
        assert!(row.lease_until.is_some());

        // Another instance: nothing to do while the lease lives, the row once it expired.
        let survivor = deliverer(&db.second().await, policy.clone());
        assert_eq!(survivor.deliver_due(now).await.unwrap().claimed, 0);
        let just_before = now + chrono::Duration::from_std(policy.lease).unwrap()
            - chrono::Duration::milliseconds(1);
        assert_eq!(survivor.deliver_due(just_before).await.unwrap().claimed, 0);
        let expired = now + chrono::Duration::from_std(policy.lease).unwrap();
        let report = survivor.deliver_due(expired).await.unwrap();
        assert_eq!((report.claimed, report.delivered), (1, 1));

        let received = receiver.received();
        assert_eq!(received.len(), 2);
        assert_ne!(received[0].interaction_id, received[1].interaction_id);
        let row = &deliveries(&db.conn, BRAND).await.unwrap()[0];
        assert_eq!((row.status, row.attempts), (DeliveryStatus::Delivered, 1));
        receiver.stop().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn a_late_outcome_after_the_lease_passed_on_is_discarded() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let receiver = Receiver::start().await;
        enqueue(
            &db.conn,
            notification(consent_url(&receiver.base(), "urn:bancoex:SLOW").unwrap()),
        )
        .await
        .unwrap();
        let policy = policy();
        let now = Utc::now();

        // A slow instance: its request outlives its lease (the receiver holds it).
        receiver.hold_next();
        receiver.answer_with(500);
        let slow = deliverer(&db.conn, policy.clone());
        let run = tokio::spawn(async move { slow.deliver_due(now).await });
        eventually("the slow attempt reaches the receiver", || {
            receiver.count() == 1
        })
        .await;

        // Meanwhile the lease expires and another instance delivers.
        let expired = now + chrono::Duration::from_std(policy.lease).unwrap();
        let other = deliverer(&db.second().await, policy);
        let report = other.deliver_due(expired).await.unwrap();
        assert_eq!(
            report.delivered, 0,
            "{backend:?}: the receiver still says 500"
        );
        assert_eq!(report.retrying, 1);
        receiver.answer_with(202);
        let report = other
            .deliver_due(expired + chrono::Duration::seconds(1))
            .await
            .unwrap();
        assert_eq!(report.delivered, 1);

        // The slow instance's outcome comes last and changes nothing.
        receiver.release();
        let report = run.await.unwrap().unwrap();
        assert_eq!((report.claimed, report.lease_lost), (1, 1));
        let row = &deliveries(&db.conn, BRAND).await.unwrap()[0];
        assert_eq!((row.status, row.attempts), (DeliveryStatus::Delivered, 2));
        assert_eq!(
            row.last_interaction_id,
            receiver.received()[2].interaction_id
        );
        receiver.stop().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn a_spawned_deliverer_delivers_in_the_background_and_stops() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let receiver = Receiver::start().await;
        let (task, shutdown) = deliverer(&db.conn, policy()).spawn(Duration::from_millis(10));
        enqueue(
            &db.conn,
            notification(payment_url(&receiver.base(), "pay-bg").unwrap()),
        )
        .await
        .unwrap();
        eventually("the worker delivers", || receiver.count() == 1).await;
        shutdown.shutdown();
        task.await.unwrap();
        assert_eq!(pending_count(&db.conn).await.unwrap(), 0, "{backend:?}");
        receiver.stop().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn enqueue_refuses_a_target_that_is_not_https() {
    let db = Db::new(Backend::Sqlite).await;
    let target = url::Url::parse("http://127.0.0.1:1/hook").unwrap();
    assert!(enqueue(&db.conn, notification(target)).await.is_err());
    assert_eq!(pending_count(&db.conn).await.unwrap(), 0);
}
