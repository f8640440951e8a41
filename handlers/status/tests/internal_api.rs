//! The operators' API over HTTP, on SQLite and PostgreSQL: the bearer token, announcing
//! scheduled outages within the rules of §4 (and the refusals when not), cancelling, declaring
//! and updating unscheduled outages, listing, the availability figures and the probe states.

mod common;

use std::sync::Arc;

use aberta_status::{ManualClock, internal_routes};
use common::*;
use poem::test::TestClient;
use serde_json::{Value, json};

const TOKEN: &str = "operators-secret";

struct Api<E: poem::Endpoint> {
    client: TestClient<E>,
}

impl<E: poem::Endpoint> Api<E> {
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut request = match method {
            "GET" => self.client.get(path),
            "POST" => self.client.post(path),
            "PATCH" => self.client.patch(path),
            other => panic!("{other}"),
        };
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request.body_json(&body);
        }
        let response = request.send().await;
        let status = response.0.status().as_u16();
        let bytes = response.0.into_body().into_bytes().await.unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        (status, value)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None, Some(TOKEN)).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(body), Some(TOKEN)).await
    }

    async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("PATCH", path, Some(body), Some(TOKEN)).await
    }
}

fn window(start: &str, end: &str) -> Value {
    json!({ "start_date_time": start, "end_date_time": end, "explanation": "Atualização do API Gateway" })
}

#[tokio::test]
async fn operators_manage_outages() {
    for backend in backends() {
        let db = Db::new(backend).await;
        let clock = Arc::new(ManualClock::new(at("2026-05-01T12:00:00Z")));
        let register = db.register(&clock);
        let api = Api {
            client: TestClient::new(internal_routes(register.clone(), TOKEN.into())),
        };

        // The token.
        assert_eq!(api.call("GET", "/outages", None, None).await.0, 401);
        assert_eq!(
            api.call("GET", "/outages", None, Some("wrong")).await.0,
            401
        );
        assert_eq!(api.get("/outages").await, (200, json!([])));
        assert_eq!(api.get("/openapi.json").await.0, 200);

        // The rules of §4.
        let refusals = [
            (
                window("2026-05-07T05:00:00Z", "2026-05-07T06:00:00Z"),
                "at least a week ahead",
            ),
            (
                window("2026-05-09T04:00:00Z", "2026-05-09T07:30:00Z"),
                "at most three hours",
            ),
            (
                window("2026-05-09T02:00:00Z", "2026-05-09T04:30:00Z"),
                "between 01:00 and 07:00",
            ),
            (
                window("2026-05-09T10:00:00Z", "2026-05-09T11:00:00Z"),
                "between 01:00 and 07:00",
            ),
            (
                window("2026-05-09T06:00:00Z", "2026-05-09T05:00:00Z"),
                "after the start",
            ),
            (window("2026-05-09", "2026-05-09T05:00:00Z"), "RFC 3339"),
            (
                json!({ "start_date_time": "2026-05-09T05:00:00Z", "end_date_time": "2026-05-09T06:00:00Z", "explanation": "  " }),
                "explanation",
            ),
        ];
        for (body, says) in refusals {
            let (status, problem) = api.post("/outages/scheduled", body.clone()).await;
            assert_eq!(status, 422, "{backend:?} {body}");
            let message = problem["message"].as_str().unwrap();
            assert!(message.contains(says), "{message}");
        }

        // 02:00–04:00 Brasília on 05-09, payments only.
        let (status, may) = api
            .post(
                "/outages/scheduled",
                json!({
                    "start_date_time": "2026-05-08T23:00:00-06:00",
                    "end_date_time": "2026-05-09T07:00:00Z",
                    "explanation": " Atualização do API Gateway ",
                    "families": ["payments"],
                }),
            )
            .await;
        assert_eq!(status, 201, "{may}");
        assert_eq!(may["kind"], "SCHEDULED");
        assert_eq!(may["phase"], "UPCOMING");
        assert_eq!(may["start_date_time"], "2026-05-09T05:00:00Z");
        assert_eq!(may["expected_end_date_time"], "2026-05-09T07:00:00Z");
        assert_eq!(may["is_partial"], true);
        assert_eq!(may["explanation"], "Atualização do API Gateway");
        let may_id = may["id"].as_str().unwrap().to_string();

        // One per month: May is taken; June is not.
        let (status, problem) = api
            .post(
                "/outages/scheduled",
                window("2026-05-20T05:00:00Z", "2026-05-20T06:00:00Z"),
            )
            .await;
        assert_eq!(status, 409, "{problem}");
        assert!(problem["message"].as_str().unwrap().contains("this month"));
        let (status, _) = api
            .post(
                "/outages/scheduled",
                window("2026-06-02T05:00:00Z", "2026-06-02T06:00:00Z"),
            )
            .await;
        assert_eq!(status, 201);

        // Cancelling frees May.
        let (status, cancelled) = api.post(&format!("/outages/{may_id}/end"), json!({})).await;
        assert_eq!((status, &cancelled["phase"]), (200, &json!("CANCELLED")));
        assert_eq!(
            api.post(&format!("/outages/{may_id}/end"), json!({}))
                .await
                .0,
            409
        );
        let (status, _) = api
            .post(
                "/outages/scheduled",
                window("2026-05-20T05:00:00Z", "2026-05-20T06:00:00Z"),
            )
            .await;
        assert_eq!(status, 201);
        // A scheduled outage keeps its window.
        assert_eq!(
            api.patch(&format!("/outages/{may_id}"), json!({ "explanation": "x" }))
                .await
                .0,
            409
        );

        // An unscheduled outage, declared ten minutes late; then its estimate and text.
        clock.set(at("2026-05-02T12:00:00Z"));
        let (status, declared) = api
            .post(
                "/outages/unscheduled",
                json!({
                    "start_date_time": "2026-05-02T11:50:00Z",
                    "explanation": "Falha no banco de dados",
                    "unavailable_endpoints": ["https://bank.example/open-banking/accounts/v2"],
                }),
            )
            .await;
        assert_eq!(status, 201, "{declared}");
        assert_eq!(declared["kind"], "DECLARED");
        assert_eq!(declared["phase"], "IN_PROGRESS");
        let id = declared["id"].as_str().unwrap().to_string();
        let (status, changed) = api
            .patch(
                &format!("/outages/{id}"),
                json!({ "explanation": "Falha no banco de dados principal", "expected_end_date_time": "2026-05-02T13:00:00Z" }),
            )
            .await;
        assert_eq!(status, 200, "{changed}");
        assert_eq!(changed["explanation"], "Falha no banco de dados principal");
        assert_eq!(changed["expected_end_date_time"], "2026-05-02T13:00:00Z");
        assert_eq!(changed["update_date_time"], "2026-05-02T12:00:00Z");
        assert_eq!(
            api.patch(&format!("/outages/{id}"), json!({ "explanation": "" }))
                .await
                .0,
            422
        );
        assert_eq!(
            api.post(
                "/outages/unscheduled",
                json!({ "start_date_time": "2026-05-02T12:10:00Z", "explanation": "futuro" })
            )
            .await
            .0,
            422
        );

        // It ends at 12:30: 40 minutes down.
        clock.set(at("2026-05-02T12:30:00Z"));
        let (status, ended) = api.post(&format!("/outages/{id}/end"), json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(ended["phase"], "ENDED");
        assert_eq!(ended["end_date_time"], "2026-05-02T12:30:00Z");
        assert_eq!(
            api.patch(&format!("/outages/{id}"), json!({ "explanation": "x" }))
                .await
                .0,
            409
        );
        assert_eq!(api.post("/outages/no-such-id/end", json!({})).await.0, 404);
        assert_eq!(api.get("/outages/no-such-id").await.0, 404);
        assert_eq!(api.get(&format!("/outages/{id}")).await.1["id"], id);

        // Listed latest start first.
        let (status, list) = api.get("/outages").await;
        assert_eq!(status, 200);
        let starts: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["start_date_time"].as_str().unwrap())
            .collect();
        assert_eq!(
            starts,
            [
                "2026-06-02T05:00:00Z",
                "2026-05-20T05:00:00Z",
                "2026-05-09T05:00:00Z",
                "2026-05-02T11:50:00Z"
            ],
            "{backend:?}"
        );
        assert_eq!(api.get("/outages?since=yesterday").await.0, 422);

        // 2 400 s of the 2026-05-02 Brasília day so far (03:00Z to 12:30Z, 34 200 s):
        // 31 800 / 34 200 = 0.929824, under 95%; over 90 days, fine.
        let (status, availability) = api.get("/availability?days=2").await;
        assert_eq!(status, 200);
        assert_eq!(availability["daily_target"], "0.950000");
        assert_eq!(availability["rolling_target"], "0.995000");
        assert_eq!(
            availability["days"],
            json!([
                {
                    "date": "2026-05-02",
                    "period_seconds": 34_200,
                    "downtime": { "downtime_seconds": 2_400, "scheduled_seconds": 0 },
                    "uptime_rate": "0.929824",
                    "meets_target": false
                },
                {
                    "date": "2026-05-01",
                    "period_seconds": 86_400,
                    "downtime": { "downtime_seconds": 0, "scheduled_seconds": 0 },
                    "uptime_rate": "1.000000",
                    "meets_target": true
                }
            ]),
            "{backend:?}"
        );
        // 7 773 600 / 7 776 000 = 0.999691.
        assert_eq!(
            availability["rolling"]["downtime"]["downtime_seconds"],
            2_400
        );
        assert_eq!(availability["rolling"]["uptime_rate"], "0.999691");
        assert_eq!(availability["rolling"]["meets_target"], true);
        assert_eq!(
            availability["rolling"]["to_date_time"],
            "2026-05-02T12:30:00Z"
        );

        assert_eq!(api.get("/probes").await, (200, json!([])));
        db.finish().await;
    }
}
