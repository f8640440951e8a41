//! Generated clients against generated servers over real HTTP on loopback: typed calls, and
//! signed bodies made and checked by the client's JWS hook (PS256).

use std::sync::Arc;

use aberta_runtime::RequestContext;
use aberta_runtime::client::ClientHooks;
use aberta_runtime::jws::{JwsCodec, JwsError};
use aberta_runtime::payload::Jwt;
use aberta_runtime::reexport::async_trait;
use serde_json::{Value, json};

use ofb_signed_v1::server as signed;

mod support;
use support::Keys;

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

/// Serves the signed fixture on a free loopback port; returns its base URL.
async fn serve(codec: Arc<dyn JwsCodec>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let app = signed::routes(Arc::new(Orders), codec);
    tokio::spawn(poem::Server::new(poem::listener::TcpListener::bind(addr.to_string())).run(app));
    // The server is up once it answers.
    let base = format!("http://{addr}{}", signed::BASE_PATH);
    for _ in 0..100 {
        if reqwest::get(format!("{base}/orders")).await.is_ok() {
            break;
        }
        tokio::task::yield_now().await;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    base
}

#[tokio::test]
async fn the_client_signs_requests_and_checks_signed_answers() {
    let keys = Arc::new(Keys::new());
    let base = serve(keys.clone()).await;
    let client = ofb_signed_v1::client::Client::new(&base, ClientHooks::with_jws(keys.clone()));
    let order: ofb_signed_v1::models::CreateOrder =
        serde_json::from_value(json!({"data": {"amount": "12.34"}})).unwrap();
    let answer = client
        .signed_post_orders(&order)
        .await
        .expect("a signed round trip");
    assert_eq!(answer.status(), 201);
    assert_eq!(answer.into_inner(), order);
}

#[tokio::test]
async fn a_client_without_a_signer_refuses_to_send_a_signed_body() {
    let keys = Arc::new(Keys::new());
    let base = serve(keys).await;
    let client = ofb_signed_v1::client::Client::new(&base, ClientHooks::default());
    let order: ofb_signed_v1::models::CreateOrder =
        serde_json::from_value(json!({"data": {"amount": "12.34"}})).unwrap();
    let err = client
        .signed_post_orders(&order)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("no signer"), "{err}");
}

/// Verifies requests with one key and signs answers with another, as an impostor would.
struct Impostor {
    trusted: Arc<Keys>,
    own: Keys,
}

#[aberta_runtime::reexport::async_trait]
impl JwsCodec for Impostor {
    async fn verify(&self, _: &RequestContext, compact: &str) -> Result<Value, JwsError> {
        self.trusted.verify(compact).map_err(JwsError::BadSignature)
    }

    fn sign(&self, _: &RequestContext, payload: Value) -> Result<String, JwsError> {
        self.own.sign(payload).map_err(JwsError::Signing)
    }
}

#[tokio::test]
async fn an_answer_signed_by_another_key_is_not_read() {
    let keys = Arc::new(Keys::new());
    let base = serve(Arc::new(Impostor {
        trusted: keys.clone(),
        own: Keys::new(),
    }))
    .await;
    let client = ofb_signed_v1::client::Client::new(&base, ClientHooks::with_jws(keys));
    let order: ofb_signed_v1::models::CreateOrder =
        serde_json::from_value(json!({"data": {"amount": "12.34"}})).unwrap();
    let err = client
        .signed_post_orders(&order)
        .await
        .expect_err("an unverifiable answer is an error");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(502), "{err}");
}

#[tokio::test]
async fn a_request_signed_by_an_unknown_key_is_refused() {
    let server_keys = Arc::new(Keys::new());
    let base = serve(server_keys).await;
    // The client signs with its own key, which the server does not know: refused with 400.
    let client =
        ofb_signed_v1::client::Client::new(&base, ClientHooks::with_jws(Arc::new(Keys::new())));
    let order: ofb_signed_v1::models::CreateOrder =
        serde_json::from_value(json!({"data": {"amount": "12.34"}})).unwrap();
    let err = client
        .signed_post_orders(&order)
        .await
        .expect_err("refused");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400), "{err}");
}
