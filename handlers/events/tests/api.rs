//! The embedded sink over HTTP, mounted as the composition root mounts it: bearer token,
//! paging from an offset, the envelope of each event, refusals.

mod common;

use aberta_events::{EVENTS_PATH, internal_routes, sequence_pending};
use common::{Db, backends, write};
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::{Value, json};

const TOKEN: &str = "internal-test-token";

#[tokio::test]
async fn a_topic_is_read_from_an_offset_over_http() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let conn = db.conn();
        for n in 0..5 {
            let aggregate = if n % 2 == 0 { "urn:a" } else { "urn:b" };
            write(
                conn,
                "consents",
                aggregate,
                "consent.status",
                json!({"n": n}),
            )
            .await;
        }
        write(conn, "payments", "p1", "payment.status-changed", json!({})).await;
        // Written but not yet sequenced: invisible until the sequencer runs.
        let app = poem::Route::new().nest(EVENTS_PATH, internal_routes(conn.clone(), TOKEN.into()));
        let client = TestClient::new(app);
        let path = format!("{EVENTS_PATH}/consents");

        let page: Value = client
            .get(&path)
            .header("authorization", format!("Bearer {TOKEN}"))
            .send()
            .await
            .json()
            .await
            .value()
            .deserialize();
        assert_eq!(page, json!({"events": [], "next": 0}), "{backend:?}");

        sequence_pending(conn).await.unwrap();
        let first = client
            .get(&path)
            .header("authorization", format!("Bearer {TOKEN}"))
            .query("after", &0)
            .query("limit", &2)
            .send()
            .await;
        first.assert_status_is_ok();
        let first: Value = first.json().await.value().deserialize();
        let events = first["events"].as_array().unwrap();
        assert_eq!(events.len(), 2, "{backend:?}");
        let e = &events[0];
        assert_eq!(e["seq"], 1);
        assert_eq!(e["brand"], "demo");
        assert_eq!(e["topic"], "consents");
        assert_eq!(e["aggregateId"], "urn:a");
        assert_eq!(e["type"], "consent.status");
        assert_eq!(e["time"], "2027-01-15T08:00:00.000Z");
        assert_eq!(e["data"], json!({"n": 0}));
        assert!(e["id"].as_i64().unwrap() > 0);
        assert_eq!(first["next"], events[1]["seq"]);

        let rest: Value = client
            .get(&path)
            .header("authorization", format!("Bearer {TOKEN}"))
            .query("after", &first["next"].as_i64().unwrap())
            .send()
            .await
            .json()
            .await
            .value()
            .deserialize();
        let ns: Vec<i64> = rest["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["data"]["n"].as_i64().unwrap())
            .collect();
        assert_eq!(ns, vec![2, 3, 4], "{backend:?}");
        let end: Value = client
            .get(&path)
            .header("authorization", format!("Bearer {TOKEN}"))
            .query("after", &rest["next"].as_i64().unwrap())
            .send()
            .await
            .json()
            .await
            .value()
            .deserialize();
        assert_eq!(end["events"], json!([]));
        assert_eq!(
            end["next"], rest["next"],
            "{backend:?}: next moves only forward"
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn refusals() {
    let db = Db::new(common::Backend::Sqlite).await;
    let app = poem::Route::new().nest(
        EVENTS_PATH,
        internal_routes(db.conn().clone(), TOKEN.into()),
    );
    let client = TestClient::new(app);
    let path = format!("{EVENTS_PATH}/consents");

    client
        .get(&path)
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    client
        .get(&path)
        .header("authorization", "Bearer not-the-token")
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    for (after, limit) in [(-1, 10), (0, 0), (0, 1001)] {
        client
            .get(&path)
            .header("authorization", format!("Bearer {TOKEN}"))
            .query("after", &after)
            .query("limit", &limit)
            .send()
            .await
            .assert_status(StatusCode::BAD_REQUEST);
    }
    client
        .get(format!("{EVENTS_PATH}/Not.A.Topic"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .send()
        .await
        .assert_status(StatusCode::BAD_REQUEST);

    // An empty configured token admits nobody.
    let closed = TestClient::new(poem::Route::new().nest(
        EVENTS_PATH,
        internal_routes(db.conn().clone(), String::new()),
    ));
    closed
        .get(&path)
        .header("authorization", "Bearer ")
        .send()
        .await
        .assert_status(StatusCode::UNAUTHORIZED);

    let spec = client
        .get(format!("{EVENTS_PATH}/openapi.json"))
        .send()
        .await;
    spec.assert_status_is_ok();
    let spec: Value = spec.json().await.value().deserialize();
    assert!(spec["paths"]["/{topic}"]["get"].is_object(), "{spec}");
    db.finish().await;
}

/// Mounted as the composition root mounts it: beside the consent management routes, which
/// are nested at `/internal/v1` itself.
#[tokio::test]
async fn mounts_beside_the_consent_management_routes() {
    let db = Db::new(common::Backend::Sqlite).await;
    write(db.conn(), "consents", "urn:a", "consent.created", json!({})).await;
    sequence_pending(db.conn()).await.unwrap();
    let consents = poem::Route::new().at(
        "/consents",
        poem::endpoint::make_sync(|_| "consent management"),
    );
    let app = poem::Route::new().nest("/internal/v1", consents).nest(
        EVENTS_PATH,
        internal_routes(db.conn().clone(), TOKEN.into()),
    );
    let client = TestClient::new(app);
    let page = client
        .get(format!("{EVENTS_PATH}/consents"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .send()
        .await;
    page.assert_status_is_ok();
    let page: Value = page.json().await.value().deserialize();
    assert_eq!(page["next"], 1);
    let other = client.get("/internal/v1/consents").send().await;
    other.assert_status_is_ok();
    other.assert_text("consent management").await;
    db.finish().await;
}
