//! Status and outages (common 2.0.1) as the register changes, on SQLite and PostgreSQL: every
//! response parses and validates as the generated model, and says what the register holds at
//! request time.

mod common;

use std::sync::Arc;

use aberta_status::{
    ManualClock, NewDeclared, NewScheduled, OutageRegister, StatusSettings, discovery_api, time,
};
use common::*;
use ofb_common_v2::models::{ResponseDiscoveryOutageList, ResponseDiscoveryStatusList};
use poem::test::TestClient;
use serde_json::{Value, json};

const HOST: &str = "bank.example";
const STATUS: &str = "/open-banking/discovery/v2/status";
const OUTAGES: &str = "/open-banking/discovery/v2/outages";

async fn status<E: poem::Endpoint>(client: &TestClient<E>) -> Value {
    let (code, bytes) = get(client, HOST, STATUS).await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&bytes));
    aberta_runtime::parse_json::<ResponseDiscoveryStatusList>(&bytes)
        .unwrap_or_else(|v| panic!("not a valid ResponseDiscoveryStatusList: {v}"));
    let body = json(&bytes);
    assert_eq!(body["meta"], json!({ "totalRecords": 1, "totalPages": 1 }));
    assert_eq!(body["data"]["status"].as_array().unwrap().len(), 1);
    body["data"]["status"][0].clone()
}

async fn outages<E: poem::Endpoint>(client: &TestClient<E>, query: &str) -> Value {
    let (code, bytes) = get(client, HOST, &format!("{OUTAGES}{query}")).await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&bytes));
    aberta_runtime::parse_json::<ResponseDiscoveryOutageList>(&bytes)
        .unwrap_or_else(|v| panic!("not a valid ResponseDiscoveryOutageList: {v}"));
    json(&bytes)
}

fn scheduled(start: i64, end: i64, families: &[&str], text: &str) -> NewScheduled {
    NewScheduled {
        starts_at: start,
        ends_at: end,
        explanation: text.into(),
        families: families.iter().map(|f| f.to_string()).collect(),
        unavailable_endpoints: vec![],
    }
}

fn declared(families: &[&str], endpoints: &[&str], text: &str) -> NewDeclared {
    NewDeclared {
        starts_at: None,
        expected_end_at: None,
        explanation: text.into(),
        families: families.iter().map(|f| f.to_string()).collect(),
        unavailable_endpoints: endpoints.iter().map(|e| e.to_string()).collect(),
    }
}

#[tokio::test]
async fn status_and_outages_follow_the_register() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let t = at("2026-05-01T12:00:00Z");
        let clock = Arc::new(ManualClock::new(t));
        let register: Arc<OutageRegister> = db.register(&clock);
        let client = TestClient::new(ofb_common_v2::server::routes(discovery_api(
            register.clone(),
            StatusSettings::default(),
        )));

        // Nothing registered.
        let s = status(&client).await;
        assert_eq!(
            s,
            json!({
                "code": "OK",
                "explanation": "Todas as APIs estão funcionando normalmente",
                "updateTime": "2026-05-01T12:00:00Z"
            }),
            "{backend:?}"
        );
        let body = outages(&client, "").await;
        assert_eq!(body["data"], json!([]));
        assert_eq!(body["meta"], json!({ "totalRecords": 0, "totalPages": 0 }));
        assert_eq!(
            body["links"],
            json!({ "self": format!("https://{HOST}{OUTAGES}?page=1&page-size=25") })
        );

        // Two windows announced: 02:00–04:30 Brasília on 05-09 (total) and 01:00–02:00 on
        // 06-10 (accounts only).
        let too_long = register
            .schedule(scheduled(
                at("2026-05-09T04:00:00Z"),
                at("2026-05-09T08:00:00Z"),
                &[],
                "Longa",
            ))
            .await
            .unwrap();
        assert_eq!(too_long, Err(aberta_status::Refusal::TooLong));
        let may = register
            .schedule(scheduled(
                at("2026-05-09T05:00:00Z"),
                at("2026-05-09T07:00:00Z"),
                &[],
                "Atualização do API Gateway",
            ))
            .await
            .unwrap()
            .unwrap();
        clock.set(t + 3_600);
        register
            .schedule(scheduled(
                at("2026-06-10T04:00:00Z"),
                at("2026-06-10T05:00:00Z"),
                &["accounts"],
                "Manutenção de contas",
            ))
            .await
            .unwrap()
            .unwrap();
        let body = outages(&client, "").await;
        assert_eq!(
            body["data"],
            json!([
                { "outageTime": "2026-05-09T05:00:00Z", "duration": "PT2H", "isPartial": false, "explanation": "Atualização do API Gateway" },
                { "outageTime": "2026-06-10T04:00:00Z", "duration": "PT1H", "isPartial": true, "explanation": "Manutenção de contas" }
            ]),
            "{backend:?}"
        );
        // One per page.
        let body = outages(&client, "?page=2&page-size=1").await;
        assert_eq!(body["data"][0]["outageTime"], "2026-06-10T04:00:00Z");
        assert_eq!(body["meta"], json!({ "totalRecords": 2, "totalPages": 2 }));
        let link = |p: u32| format!("https://{HOST}{OUTAGES}?page={p}&page-size=1");
        assert_eq!(
            body["links"],
            json!({ "self": link(2), "first": link(1), "prev": link(1) })
        );
        // The announcement wrote to the register: that is the last update.
        assert_eq!(status(&client).await["updateTime"], "2026-05-01T13:00:00Z");

        // Inside the May window.
        clock.set(at("2026-05-09T05:30:00Z"));
        let s = status(&client).await;
        assert_eq!(
            s,
            json!({
                "code": "SCHEDULED_OUTAGE",
                "explanation": "Atualização do API Gateway",
                "expectedResolutionTime": "2026-05-09T07:00:00Z",
                "updateTime": "2026-05-01T13:00:00Z"
            }),
            "{backend:?}"
        );

        // A partial failure outranks the window.
        clock.set(at("2026-05-09T05:40:00Z"));
        let partial = register
            .declare(declared(
                &["payments"],
                &["https://bank.example/open-banking/payments/v4"],
                "Pagamentos fora do ar",
            ))
            .await
            .unwrap()
            .unwrap();
        let s = status(&client).await;
        assert_eq!(
            s,
            json!({
                "code": "PARTIAL_FAILURE",
                "explanation": "Pagamentos fora do ar",
                "detectionTime": "2026-05-09T05:40:00Z",
                "expectedResolutionTime": "2026-05-09T06:40:00Z",
                "updateTime": "2026-05-09T05:40:00Z",
                "unavailableEndpoints": ["https://bank.example/open-banking/payments/v4"]
            }),
            "{backend:?}"
        );

        // A total one outranks both; its estimate is the operator's.
        clock.set(at("2026-05-09T05:50:00Z"));
        let total = register
            .declare(NewDeclared {
                expected_end_at: Some(at("2026-05-09T08:00:00Z")),
                ..declared(&[], &[], "Falha geral no data center")
            })
            .await
            .unwrap()
            .unwrap();
        let s = status(&client).await;
        assert_eq!(s["code"], "UNAVAILABLE");
        assert_eq!(s["explanation"], "Falha geral no data center");
        assert_eq!(s["detectionTime"], "2026-05-09T05:50:00Z");
        assert_eq!(s["expectedResolutionTime"], "2026-05-09T08:00:00Z");
        assert_eq!(
            s["unavailableEndpoints"],
            json!(["https://bank.example/open-banking/payments/v4"])
        );

        // Both end: the window again, then nothing.
        clock.set(at("2026-05-09T06:00:00Z"));
        register.end(&total.id).await.unwrap().unwrap();
        register.end(&partial.id).await.unwrap().unwrap();
        assert_eq!(status(&client).await["code"], "SCHEDULED_OUTAGE");
        // The window is announced until it is over.
        assert_eq!(outages(&client, "").await["meta"]["totalRecords"], 2);
        clock.set(at("2026-05-09T07:00:00Z"));
        let s = status(&client).await;
        assert_eq!(s["code"], "OK");
        assert_eq!(s["updateTime"], "2026-05-09T06:00:00Z");
        let body = outages(&client, "").await;
        assert_eq!(body["meta"]["totalRecords"], 1);
        assert_eq!(body["data"][0]["outageTime"], "2026-06-10T04:00:00Z");

        // A cancelled window is no longer announced.
        clock.set(at("2026-06-01T12:00:00Z"));
        let june = register.announced(register.now()).await.unwrap();
        register.end(&june[0].id).await.unwrap().unwrap();
        assert_eq!(outages(&client, "").await["data"], json!([]));
        assert_ne!(may.id, june[0].id);

        // Outside the spec's bounds, refused by the generated routes.
        for query in ["?page-size=0", "?page-size=1001", "?page=abc"] {
            let (code, bytes) = get(&client, HOST, &format!("{STATUS}{query}")).await;
            assert_eq!(code, 400, "{query}: {}", String::from_utf8_lossy(&bytes));
        }
        // A page past the only status entry.
        let (_, bytes) = get(&client, HOST, &format!("{STATUS}?page=2")).await;
        let body = json(&bytes);
        assert_eq!(body["data"]["status"], json!([]));
        assert_eq!(
            body["links"]["prev"],
            format!("https://{HOST}{STATUS}?page=1&page-size=25")
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn a_long_outage_keeps_an_estimate_ahead() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let t = at("2026-05-01T12:00:00Z");
        let clock = Arc::new(ManualClock::new(t));
        let register = db.register(&clock);
        let settings = StatusSettings {
            resolution_estimate: 600,
            ..StatusSettings::default()
        };
        let client = TestClient::new(ofb_common_v2::server::routes(discovery_api(
            register.clone(),
            settings,
        )));
        register
            .declare(declared(&[], &[], "Falha"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            status(&client).await["expectedResolutionTime"],
            time::format(t + 600)
        );
        // The estimate passed: ten minutes from now.
        clock.set(t + 5_000);
        assert_eq!(
            status(&client).await["expectedResolutionTime"],
            time::format(t + 5_600)
        );
        db.finish().await;
    }
}
