//! Generated servers at work: the golden fixtures mounted with an implementation and driven
//! over poem's HTTP stack. Bad input never reaches the implementation and gets the OFB error
//! body with the code and pointer of the first broken rule; signed bodies are verified on the
//! way in and signed on the way out.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aberta_runtime::error_body::Rejection;
use aberta_runtime::gate::{AuthHook, Authenticate};
use aberta_runtime::payload::{Json, JsonUtf8, Jwt};
use aberta_runtime::reexport::async_trait;
use aberta_runtime::{RequestContext, Verified};
use poem::EndpointExt;
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
    /// The credential the last call carried from the authentication hook.
    verified: Mutex<Option<String>>,
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
        ctx: RequestContext,
        request: widgets::WidgetsPostWidgetsRequest,
    ) -> widgets::WidgetsPostWidgetsResponse {
        self.calls.fetch_add(1, Ordering::SeqCst);
        *self.verified.lock().unwrap() = ctx.verified::<String>().cloned();
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

    async fn widgets_put_widgets_widget_id(
        &self,
        _: RequestContext,
        _: widgets::WidgetsPutWidgetsWidgetIdRequest,
    ) -> widgets::WidgetsPutWidgetsWidgetIdResponse {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let replaced = json!({
            "data": {"widgetId": "w-1", "createdAt": "2026-01-01T00:00:00Z"},
            "links": {"self": "https://x/widgets/w-1"},
            "meta": {"totalRecords": 1, "totalPages": 1, "requestDateTime": "2026-01-01T00:00:00Z"}
        });
        widgets::WidgetsPutWidgetsWidgetIdResponse::Ok(JsonUtf8(
            serde_json::from_value(replaced).unwrap(),
        ))
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

#[tokio::test]
async fn an_explicit_null_is_refused_unless_the_spec_allows_it() {
    let api = Arc::new(Widgets::default());
    let client = TestClient::new(widgets::routes(api.clone()));
    // `deliverOn` may be absent but is not nullable.
    let mut null_date = valid_widget();
    null_date["data"]["deliverOn"] = Value::Null;
    let (status, answer) = post(&client, null_date).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["errors"][0]["code"], "PARAMETRO_INVALIDO");
    let detail = answer["errors"][0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("'/data/deliverOn'"), "{answer}");
    assert_eq!(api.calls.load(Ordering::SeqCst), 0);
    // `note` is `nullable: true`; absent stays fine too.
    let mut null_note = valid_widget();
    null_note["data"]["note"] = Value::Null;
    let (status, answer) = post(&client, null_note).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let mut absent = valid_widget();
    absent["data"].as_object_mut().unwrap().remove("deliverOn");
    let (status, answer) = post(&client, absent).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

#[tokio::test]
async fn a_422_whose_codes_exclude_validation_answers_400() {
    let api = Arc::new(Widgets::default());
    let client = TestClient::new(widgets::routes(api.clone()));
    let put = |body: String| {
        client
            .put("/open-banking/widgets/v1/widgets/w-1")
            .content_type("application/json")
            .body(body)
            .send()
    };
    let mut missing = valid_widget();
    missing["data"].as_object_mut().unwrap().remove("owner");
    let mut wrong = valid_widget();
    wrong["data"]["owner"] = json!("x");
    for (body, code) in [
        (missing.to_string(), "PARAMETRO_NAO_INFORMADO"),
        (wrong.to_string(), "PARAMETRO_INVALIDO"),
        ("not json".to_string(), "PARAMETRO_INVALIDO"),
        (json!({"data": "x"}).to_string(), "PARAMETRO_INVALIDO"),
    ] {
        let response = put(body.clone()).await;
        assert_eq!(response.0.status(), StatusCode::BAD_REQUEST, "{body}");
        let answer: Value = response.0.into_body().into_json().await.unwrap();
        assert_eq!(answer["errors"][0]["code"], code, "{answer}");
    }
    put(valid_widget().to_string()).await.assert_status_is_ok();
    assert_eq!(api.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_wrong_method_answers_405_with_allow_and_the_ofb_body() {
    let api = Arc::new(Widgets::default());
    let client = TestClient::new(widgets::routes(api.clone()));
    let response = client
        .patch("/open-banking/widgets/v1/widgets")
        .header(
            "x-fapi-interaction-id",
            "d78fc4e5-37ca-4da3-adf2-9bd4c1a6c2d9",
        )
        .send()
        .await;
    response.assert_status(StatusCode::METHOD_NOT_ALLOWED);
    response.assert_header("allow", "GET, POST");
    response.assert_header("x-v", "1.0.0");
    response.assert_header(
        "x-fapi-interaction-id",
        "d78fc4e5-37ca-4da3-adf2-9bd4c1a6c2d9",
    );
    response.assert_content_type("application/json; charset=utf-8");
    let body: Value = response.0.into_body().into_json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "METODO_NAO_PERMITIDO", "{body}");
    assert!(body["meta"]["requestDateTime"].is_string(), "{body}");

    let response = client
        .post("/open-banking/widgets/v1/widgets/w-1")
        .send()
        .await;
    response.assert_status(StatusCode::METHOD_NOT_ALLOWED);
    response.assert_header("allow", "PUT, DELETE");
    assert!(response.0.headers().get("x-fapi-interaction-id").is_some());
    // An unknown path keeps its 404; HEAD is served where GET is.
    client
        .get("/open-banking/widgets/v1/gadgets")
        .send()
        .await
        .assert_status(StatusCode::NOT_FOUND);
    client
        .head("/open-banking/widgets/v1/widgets")
        .header("x-fapi-interaction-id", "a")
        .send()
        .await
        .assert_status_is_ok();
    assert_eq!(api.calls.load(Ordering::SeqCst), 1);
}

/// Lets `Bearer good` in, carrying it on as the verified credential.
struct TokenHook;

#[async_trait]
impl Authenticate for TokenHook {
    async fn authenticate(&self, req: &poem::Request) -> Result<Verified, Rejection> {
        match req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
        {
            Some("Bearer good") => Ok(Verified::new("good".to_string())),
            _ => Err(Rejection::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "Não autorizado",
                "no valid token",
            )),
        }
    }
}

#[tokio::test]
async fn secured_operations_authenticate_before_reading_anything() {
    let api = Arc::new(Widgets::default());
    let client = TestClient::new(widgets::routes(api.clone()).data(AuthHook::new(TokenHook)));
    // No token, no x-fapi-interaction-id, no body: 401, not 400.
    let response = client.post("/open-banking/widgets/v1/widgets").send().await;
    response.assert_status(StatusCode::UNAUTHORIZED);
    response.assert_header("x-v", "1.0.0");
    assert!(response.0.headers().get("x-fapi-interaction-id").is_some());
    let body: Value = response.0.into_body().into_json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED", "{body}");
    // A bad token with a bad body: still 401.
    let response = client
        .put("/open-banking/widgets/v1/widgets/w-1")
        .header("Authorization", "Bearer bad")
        .content_type("application/json")
        .body("{")
        .send()
        .await;
    response.assert_status(StatusCode::UNAUTHORIZED);
    // A good token without x-fapi-interaction-id: the header check answers, 400.
    let response = client
        .post("/open-banking/widgets/v1/widgets")
        .header("Authorization", "Bearer good")
        .content_type("application/json")
        .body(valid_widget().to_string())
        .send()
        .await;
    response.assert_status(StatusCode::BAD_REQUEST);
    let body: Value = response.0.into_body().into_json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "PARAMETRO_NAO_INFORMADO");
    assert_eq!(api.calls.load(Ordering::SeqCst), 0);
    // All good: the handler sees what the hook verified.
    let (status, answer) = post_with(&client, "Bearer good", valid_widget()).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(api.verified.lock().unwrap().as_deref(), Some("good"));
    // An operation without security is not asked for a token.
    client
        .get("/open-banking/widgets/v1/widgets")
        .header("x-fapi-interaction-id", "a")
        .send()
        .await
        .assert_status_is_ok();
    assert_eq!(api.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn without_a_hook_the_handler_decides() {
    let api = Arc::new(Widgets::default());
    let client = TestClient::new(widgets::routes(api.clone()));
    let (status, answer) = post_with(&client, "Bearer anything", valid_widget()).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(*api.verified.lock().unwrap(), None);
}

async fn post_with<E: poem::Endpoint>(
    client: &TestClient<E>,
    authorization: &str,
    body: Value,
) -> (StatusCode, Value) {
    let response = client
        .post("/open-banking/widgets/v1/widgets")
        .header("Authorization", authorization)
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
