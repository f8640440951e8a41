//! The capture layer and its writer on SQLite and PostgreSQL: N calls make N rows with the
//! template (never the concrete path), method, status, interaction id, organisations, the
//! sealed client address and the `additionalInfo` facts; unregulated paths make none.

mod common;

use std::collections::HashMap;

use aberta_pcm::entity::api_call;
use aberta_pcm::{PcmMetrics, SEALED_CLIENT_IP};
use common::*;
use poem::http::{Method, StatusCode};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};

const TPP: &str = "0f8a9c1e-5b2d-4c3a-9e7f-1a2b3c4d5e6f";
const HOLDER: &str = "74e929d9-33b6-4d85-8ba7-c146c867a817";

async fn rows(db: &Db) -> Vec<api_call::Model> {
    api_call::Entity::find()
        .order_by_asc(api_call::Column::Id)
        .all(&db.conn)
        .await
        .unwrap()
}

fn info(row: &api_call::Model) -> Value {
    serde_json::from_str(&row.additional_info).unwrap()
}

#[tokio::test]
async fn every_regulated_call_becomes_one_row_with_its_template_and_facts() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let keyring = keyring();
        let metrics = std::sync::Arc::new(PcmMetrics::default());
        let writer = writer(&db.conn, &keyring, &metrics);
        let app = app(writer.sink(), HOLDER);

        let n = 40;
        let ids = reportable_calls(&app, n, TPP).await;
        let (status, created) = call(
            &app,
            Method::POST,
            "/open-banking/consents/v3/consents",
            TPP,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        let (_, read) = call(
            &app,
            Method::GET,
            "/open-banking/consents/v3/consents/urn%3Aaberta%3Ac-9",
            TPP,
        )
        .await;
        let (status, _) = call(&app, Method::GET, "/portal/login", TPP).await;
        assert_eq!(status, StatusCode::OK, "unregulated paths still answer");
        let (status, _) = call(&app, Method::GET, "/open-banking/accounts/v2/nowhere", TPP).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        writer.sink().flush().await;

        let rows = rows(&db).await;
        assert_eq!(rows.len(), n + 2, "{backend:?}: one row per regulated call");
        let by_id: HashMap<&str, &api_call::Model> = rows
            .iter()
            .map(|r| (r.interaction_id.as_str(), r))
            .collect();
        assert_eq!(
            by_id.len(),
            rows.len(),
            "interaction ids are the answered ones"
        );
        for (i, id) in ids.iter().enumerate() {
            let row = by_id[id.as_str()];
            let (endpoint, method, status, family) = match i % 4 {
                0 => (
                    "/open-banking/accounts/v2/accounts/{accountId}",
                    "GET",
                    200,
                    "accounts",
                ),
                1 => ("/open-banking/accounts/v2/accounts", "GET", 200, "accounts"),
                2 => (
                    "/open-banking/credit-cards-accounts/v2/accounts/{creditCardAccountId}/bills",
                    "GET",
                    404,
                    "credit-cards",
                ),
                _ => ("/token", "POST", 401, "auth"),
            };
            assert_eq!(row.endpoint, endpoint, "{backend:?} call {i}");
            assert_eq!(row.method, method);
            assert_eq!(row.status_code, status);
            assert_eq!(row.family, family);
            assert_eq!(row.brand, "demo");
            assert_eq!(row.client_org_id.as_deref(), Some(TPP));
            assert_eq!(row.client_ssid.as_deref(), Some("software-1"));
            assert_eq!(row.server_org_id, HOLDER);
            assert!(row.reported_at.is_none());
            assert_eq!(row.next_attempt_at, row.received_at, "due at once");
            assert!(row.processing_ms >= 0);
            let info = info(row);
            match status {
                404 => assert_eq!(info["errorCodes"], json!(["NAO_ENCONTRADO"])),
                401 => assert_eq!(info["errorCodes"], json!(["invalid_client"])),
                _ => assert!(info.get("errorCodes").is_none()),
            }
            let sealed = info[SEALED_CLIENT_IP].as_str().unwrap();
            assert!(
                !row.additional_info.contains(CLIENT_IP),
                "the address is sealed"
            );
            assert_eq!(
                keyring.open("api_call.client_ip", sealed).unwrap(),
                CLIENT_IP
            );
        }
        for row in &rows {
            assert!(!row.endpoint.contains("acc-") && !row.endpoint.contains("cc-"));
        }

        let created = info(by_id[created.as_str()]);
        assert_eq!(created["consentId"], "urn:aberta:created-1");
        assert_eq!(created["status"], "AWAITING_AUTHORISATION");
        assert_eq!(created["personType"], "PF");
        let read_row = by_id[read.as_str()];
        assert_eq!(
            read_row.endpoint,
            "/open-banking/consents/v3/consents/{consentId}"
        );
        let read = info(read_row);
        assert_eq!(
            read["consentId"], "urn:aberta:c-9",
            "from the path, decoded"
        );
        assert_eq!(read["status"], "AUTHORISED", "from the response extension");

        let counted = metrics.snapshot();
        assert_eq!(counted.captured, (n + 2) as u64);
        assert_eq!(counted.written, (n + 2) as u64);
        assert_eq!(counted.dropped, 0);
        writer.shutdown().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn shutdown_writes_what_is_queued_and_later_calls_are_only_counted() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let keyring = keyring();
        let metrics = std::sync::Arc::new(PcmMetrics::default());
        let writer = writer(&db.conn, &keyring, &metrics);
        let sink = writer.sink();
        let app = app(sink.clone(), HOLDER);
        reportable_calls(&app, 25, TPP).await;
        writer.shutdown().await;
        assert_eq!(rows(&db).await.len(), 25, "{backend:?}");

        let (status, _) = call(&app, Method::GET, "/open-banking/accounts/v2/accounts", TPP).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "a stopped writer never fails a call"
        );
        assert_eq!(metrics.snapshot().dropped, 1);
        sink.flush().await;
        assert_eq!(rows(&db).await.len(), 25);
        db.finish().await;
    }
}

#[tokio::test]
async fn the_client_address_can_come_from_a_trusted_proxy() {
    let db = Db::new(Backend::Sqlite).await;
    let keyring = keyring();
    let metrics = std::sync::Arc::new(PcmMetrics::default());
    let writer = writer(&db.conn, &keyring, &metrics);
    let mut config = aberta_pcm::CaptureConfig::single("demo", HOLDER);
    config.trust_forwarded_for = true;
    let app = poem::EndpointExt::boxed(poem::EndpointExt::with(
        poem::Route::new().at("/token", poem::post(poem::endpoint::make_sync(|_| "ok"))),
        aberta_pcm::Capture::layer(writer.sink(), config),
    ));
    let mut req = request(Method::POST, "/token", TPP);
    req.headers_mut()
        .insert("x-forwarded-for", "2001:db8::5, 10.0.0.1".parse().unwrap());
    poem::Endpoint::get_response(&app, req).await;
    writer.sink().flush().await;
    let rows = rows(&db).await;
    assert_eq!(rows.len(), 1);
    let sealed = info(&rows[0])[SEALED_CLIENT_IP]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        keyring.open("api_call.client_ip", &sealed).unwrap(),
        "2001:db8::5"
    );
    assert!(
        !rows[0].interaction_id.is_empty(),
        "minted when none was answered"
    );
    writer.shutdown().await;
    db.finish().await;
}

#[tokio::test]
async fn migrating_twice_is_harmless() {
    for backend in backends() {
        let db = Db::new(backend).await;
        aberta_pcm::migrate(&db.conn).await.unwrap();
        aberta_pcm::migrate(&db.second().await).await.unwrap();
        db.finish().await;
    }
}
