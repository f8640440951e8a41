//! Generated servers at work: the golden fixtures mounted with an implementation and driven
//! over poem's HTTP stack. Bad input never reaches the implementation and gets the OFB error
//! body with the code and pointer of the first broken rule; signed bodies are verified on the
//! way in and signed on the way out.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aberta_runtime::RequestContext;
use aberta_runtime::payload::{Json, JsonUtf8, Jwt};
use aberta_runtime::reexport::async_trait;
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::{Value, json};

use ofb_signed_v1::server as signed;
use ofb_widgets_v1::server as widgets;

mod support;
use support::Keys;

/// Counts the calls that reached the implementation.
#[derive(Default)]
struct Widgets {
    calls: AtomicUsize,
}

#[async_trait]
impl widgets::WidgetsApi for Widgets {
    async fn widgets_get_widgets(
        &self,
        _: RequestContext,
        _: widgets::WidgetsGetWidgetsRequest,
    ) -> widgets::WidgetsGetWidgetsResponse {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let list = json!({"data": [], "links": {"self": "https://x/widgets"}, "meta": {"totalRecords": 0, "totalPages": 0, "requestDateTime": "2026-01-01T00:00:00Z"}});
        widgets::WidgetsGetWidgetsResponse::Ok(JsonUtf8(serde_json::from_value(list).unwrap()))
    }

    async fn widgets_post_widgets(
        &self,
        _: RequestContext,
        request: widgets::WidgetsPostWidgetsRequest,
    ) -> widgets::WidgetsPostWidgetsResponse {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let created = json!({
            "data": {"widgetId": request.body.data.name, "createdAt": "2026-01-01T00:00:00Z"},
            "links": {"self": "https://x/widgets/1"},
            "meta": {"totalRecords": 1, "totalPages": 1, "requestDateTime": "2026-01-01T00:00:00Z"}
        });
        widgets::WidgetsPostWidgetsResponse::Created(
            JsonUtf8(serde_json::from_value(created).unwrap()),
            Some("id-1".into()),
        )
    }

    async fn widgets_delete_widgets_widget_id(
        &self,
        _: RequestContext,
        _: widgets::WidgetsDeleteWidgetsWidgetIdRequest,
    ) -> widgets::WidgetsDeleteWidgetsWidgetIdResponse {
        self.calls.fetch_add(1, Ordering::SeqCst);
        widgets::WidgetsDeleteWidgetsWidgetIdResponse::NoContent
    }
}

fn valid_widget() -> Value {
    json!({"data": {"name": "Box", "owner": "12345678901", "kind": "3D", "sizes": [1, 2], "deliverOn": "2026-02-28", "price": "10.00"}})
}

async fn post(client: &TestClient<poem::Route>, body: Value) -> (StatusCode, Value) {
    let response = client
        .post("/open-banking/widgets/v1/widgets")
        .header("Authorization", "Bearer t")
        .header("x-fapi-interaction-id", "abc-1")
        .content_type("application/json")
        .body(body.to_string())
        .send()
        .await;
    let status = response.0.status();
    let body = response
        .0
        .into_body()
        .into_json::<Value>()
        .await
        .unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn valid_requests_reach_the_implementation() {
    let api = Arc::new(Widgets::default());
    let client = TestClient::new(widgets::routes(api.clone()));
    let (status, body) = post(&client, valid_widget()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["widgetId"], "Box");
    let listed = client
        .get("/open-banking/widgets/v1/widgets")
        .header("x-fapi-interaction-id", "abc-2")
        .query("page-size", &25)
        .send()
        .await;
    listed.assert_status_is_ok();
    let deleted = client
        .delete("/open-banking/widgets/v1/widgets/w-1")
        .send()
        .await;
    deleted.assert_status(StatusCode::NO_CONTENT);
    assert_eq!(api.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn bad_bodies_are_refused_with_code_and_pointer() {
    let api = Arc::new(Widgets::default());
    let client = TestClient::new(widgets::routes(api.clone()));
    let mut missing = valid_widget();
    missing["data"].as_object_mut().unwrap().remove("owner");
    let mut bad_cpf = valid_widget();
    bad_cpf["data"]["owner"] = json!("1234567890X");
    let mut bad_enum = valid_widget();
    bad_enum["data"]["kind"] = json!("HUGE");
    let mut too_long = valid_widget();
    too_long["data"]["name"] = json!("x".repeat(21));
    let mut leading_space = valid_widget();
    leading_space["data"]["name"] = json!(" Box");
    let mut no_such_day = valid_widget();
    no_such_day["data"]["deliverOn"] = json!("2026-02-30");
    let mut extra = valid_widget();
    extra["data"]["colour"] = json!("red");
    let mut too_many = valid_widget();
    too_many["data"]["sizes"] = json!([1, 2, 3, 4]);
    let cases = [
        (missing, "PARAMETRO_NAO_INFORMADO", "/data/owner"),
        (bad_cpf, "PARAMETRO_INVALIDO", "/data/owner"),
        (bad_enum, "PARAMETRO_INVALIDO", "/data/kind"),
        (too_long, "PARAMETRO_INVALIDO", "/data/name"),
        (leading_space, "PARAMETRO_INVALIDO", "/data/name"),
        (no_such_day, "PARAMETRO_INVALIDO", "/data/deliverOn"),
        (extra, "PARAMETRO_INVALIDO", "/data/colour"),
        (too_many, "PARAMETRO_INVALIDO", "/data/sizes"),
    ];
    for (body, code, pointer) in cases {
        let (status, answer) = post(&client, body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{pointer}: {answer}"
        );
        assert_eq!(answer["errors"][0]["code"], code, "{answer}");
        let detail = answer["errors"][0]["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(&format!("'{pointer}'")),
            "{pointer}: {answer}"
        );
    }
    assert_eq!(
        api.calls.load(Ordering::SeqCst),
        0,
        "bad input reached the implementation"
    );
}

#[tokio::test]
async fn bad_requests_outside_the_body_get_ofb_errors() {
    let api = Arc::new(Widgets::default());
    let client = TestClient::new(widgets::routes(api.clone()));
    // No x-fapi-interaction-id: 400, not 422.
    let response = client
        .post("/open-banking/widgets/v1/widgets")
        .header("Authorization", "Bearer t")
        .content_type("application/json")
        .body(valid_widget().to_string())
        .send()
        .await;
    response.assert_status(StatusCode::BAD_REQUEST);
    let body: Value = response.0.into_body().into_json().await.unwrap();
    assert_eq!(
        body["errors"][0]["code"], "PARAMETRO_NAO_INFORMADO",
        "{body}"
    );
    // Malformed JSON: 400.
    let response = client
        .post("/open-banking/widgets/v1/widgets")
        .header("Authorization", "Bearer t")
        .header("x-fapi-interaction-id", "a")
        .content_type("application/json")
        .body("{\"data\":")
        .send()
        .await;
    response.assert_status(StatusCode::BAD_REQUEST);
    // A query parameter over its maximum: 400 (this operation declares no 422).
    let response = client
        .get("/open-banking/widgets/v1/widgets")
        .header("x-fapi-interaction-id", "a")
        .query("page-size", &1001)
        .send()
        .await;
    response.assert_status(StatusCode::BAD_REQUEST);
    let body: Value = response.0.into_body().into_json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "PARAMETRO_INVALIDO");
    // The wrong media type.
    let response = client
        .post("/open-banking/widgets/v1/widgets")
        .header("Authorization", "Bearer t")
        .header("x-fapi-interaction-id", "a")
        .content_type("text/plain")
        .body("x")
        .send()
        .await;
    assert_eq!(
        response.0.status(),
        StatusCode::BAD_REQUEST,
        "the 415 of poem maps to this operation's 400 body"
    );
    assert_eq!(api.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn the_served_document_names_every_operation() {
    let doc = widgets::openapi_document();
    assert_eq!(doc["servers"][0]["url"], "/open-banking/widgets/v1");
    assert!(doc["paths"]["/widgets/{widgetId}"]["delete"].is_object());
    assert_eq!(
        doc["paths"]["/widgets"]["post"]["operationId"],
        "widgetsPostWidgets"
    );
}

struct Orders;

#[async_trait]
impl signed::SignedApi for Orders {
    async fn signed_post_orders(
        &self,
        _: RequestContext,
        request: signed::SignedPostOrdersRequest,
    ) -> signed::SignedPostOrdersResponse {
        signed::SignedPostOrdersResponse::Created(Jwt::unsigned(request.body))
    }
}

#[tokio::test]
async fn signed_bodies_are_verified_and_answers_signed() {
    let codec = Arc::new(Keys::new());
    let client = TestClient::new(signed::routes(Arc::new(Orders), codec.clone()));
    let order = json!({"data": {"amount": "100.00"}});

    let response = client
        .post("/open-banking/signed/v1/orders")
        .content_type("application/jwt")
        .body(codec.sign(order.clone()).unwrap())
        .send()
        .await;
    response.assert_status(StatusCode::CREATED);
    response.assert_content_type("application/jwt");
    let answer = response.0.into_body().into_string().await.unwrap();
    let verified = codec.verify(&answer).expect("the answer is signed");
    assert_eq!(verified["data"]["amount"], "100.00");

    // A tampered signature: 400 BAD_SIGNATURE.
    let mut tampered = codec.sign(order.clone()).unwrap();
    // Change the first character of the signature: all six of its bits count (the last
    // character's low bits may be padding a lenient decoder ignores).
    let at = tampered.rfind('.').unwrap() + 1;
    let first = &tampered[at..=at];
    let replacement = if first == "A" { "B" } else { "A" };
    tampered.replace_range(at..=at, replacement);
    let response = client
        .post("/open-banking/signed/v1/orders")
        .content_type("application/jwt")
        .body(tampered)
        .send()
        .await;
    response.assert_status(StatusCode::BAD_REQUEST);
    let body: Value = response.0.into_body().into_json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "BAD_SIGNATURE");

    // JSON where a JWT is due: refused before the handler.
    let response = client
        .post("/open-banking/signed/v1/orders")
        .content_type("application/json")
        .body(order.to_string())
        .send()
        .await;
    assert_eq!(response.0.status(), StatusCode::BAD_REQUEST);

    // A signed payload that breaks the schema: the code and pointer, as for JSON.
    let response = client
        .post("/open-banking/signed/v1/orders")
        .content_type("application/jwt")
        .body(codec.sign(json!({"data": {"amount": "100"}})).unwrap())
        .send()
        .await;
    response.assert_status(StatusCode::BAD_REQUEST);
    let body: Value = response.0.into_body().into_json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "PARAMETRO_INVALIDO");
}

#[allow(dead_code)]
fn payload_types_are_public(_: Json<()>) {}
