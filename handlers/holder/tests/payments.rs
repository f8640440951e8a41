//! Payments 4.0.0 as a payment initiator makes them, over mutual TLS against the assembled
//! account holder: DCR with a webhook base, a signed payment consent, its authorisation at the
//! portal (the customer picks the account to pay from), a signed Pix payment, polling to ACSC,
//! and the webhooks the initiator's own mTLS listener receives; then the refusals the
//! certification modules check. Runs on SQLite and PostgreSQL.

#[path = "../../auth/tests/common/mod.rs"]
mod common;
mod world;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aberta_data::OperationalLimits;
use aberta_ecosystem::pki::Pki;
use aberta_ecosystem::tls::{self, MtlsServer};
use common::{Backend, Env, Tpp};
use josekit::jwk::JwkSet;
use josekit::jws::PS256;
use poem::{EndpointExt, IntoEndpoint};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use world::{World, start};

const BASE: &str = "/open-banking/payments/v4";

/// What the initiator's webhook listener received: (path, interaction id).
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// The initiator's webhook listener: mutual TLS from the sandbox PKI, 202 to every POST.
async fn webhook_listener(env: &Env) -> (MtlsServer, String, Received) {
    let pki = Pki::open_or_create(env.dir.path()).unwrap();
    let config = tls::sandbox_server_config(&pki).unwrap();
    let received: Received = Arc::default();
    let log = received.clone();
    let endpoint = poem::endpoint::make(move |req: poem::Request| {
        let log = log.clone();
        async move {
            let id = req
                .headers()
                .get("x-webhook-interaction-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            log.lock().unwrap().push((req.uri().path().to_string(), id));
            poem::http::StatusCode::ACCEPTED
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = MtlsServer::serve(
        listener,
        config,
        endpoint.into_endpoint().map_to_response().boxed(),
    )
    .unwrap();
    (server, format!("https://127.0.0.1:{port}/tpp"), received)
}

async fn ready_tpp(env: &Env, webhook_base: &str) -> Tpp {
    let tag = &uuid::Uuid::new_v4().to_string()[..8];
    let mut tpp = env.new_tpp_full(
        &["PAGTO"],
        vec![format!("https://tpp-{tag}.localhost/callback")],
        vec![webhook_base.to_string()],
    );
    env.register(&mut tpp).await;
    tpp
}

async fn client_token(tpp: &Tpp) -> String {
    world::client_token(tpp, "payments").await
}

/// A signed request body for `path`, as the initiator's organisation.
fn signed(tpp: &Tpp, issuer: &str, path: &str, data: Value) -> String {
    tpp.sign(json!({
        "aud": format!("{issuer}{path}"),
        "iss": tpp.org_id,
        "iat": common::now(),
        "jti": uuid::Uuid::new_v4().to_string(),
        "data": data,
    }))
}

struct Answer {
    status: u16,
    content_type: String,
    /// The JSON body, or the verified claims of a JWT body.
    body: Value,
    /// The `Retry-After` header.
    retry_after: Option<String>,
}

/// Sends a signed (`application/jwt`) or plain request and reads the answer, verifying a
/// signed answer against the holder organisation's keys in the directory keystore.
async fn send(
    env: &Env,
    tpp: &Tpp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<String>,
    idempotency_key: Option<&str>,
) -> Answer {
    try_send(env, tpp, method, path, token, body, idempotency_key)
        .await
        .unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// [`send`], with a failed connection as an error (the holder may be down).
async fn try_send(
    env: &Env,
    tpp: &Tpp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<String>,
    idempotency_key: Option<&str>,
) -> Result<Answer, reqwest::Error> {
    let url = format!("{}{path}", env.issuer());
    let mut request = tpp
        .http
        .request(method, &url)
        .bearer_auth(token)
        .header("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())
        .header("accept", "application/jwt");
    if let Some(key) = idempotency_key {
        request = request.header("x-idempotency-key", key);
    }
    if let Some(body) = body {
        request = request.header("content-type", "application/jwt").body(body);
    }
    let resp = request.send().await?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = resp.text().await?;
    let body = if content_type.starts_with("application/jwt") {
        verify_answer(env, tpp, &text).await
    } else if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
    };
    Ok(Answer {
        status,
        content_type,
        body,
        retry_after,
    })
}

/// Checks a signed answer as the certification suite does: PS256 with a kid the holder's
/// organisation publishes, `iss` the holder organisation, `aud` ours, a UUID `jti`, a recent
/// `iat`.
async fn verify_answer(env: &Env, tpp: &Tpp, jwt: &str) -> Value {
    let contract = &env.contract;
    let url = format!(
        "{}/{}/application.jwks",
        contract.directory.keystore_url, contract.holder.org_id
    );
    let set: Value = tpp
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let set = JwkSet::from_bytes(set.to_string().as_bytes()).unwrap();
    let header = josekit::jwt::decode_header(jwt).unwrap();
    assert_eq!(header.claim("alg"), Some(&json!("PS256")));
    assert_eq!(header.claim("typ"), Some(&json!("JWT")));
    let kid = header.claim("kid").and_then(Value::as_str).unwrap();
    let jwk = set
        .get(kid)
        .into_iter()
        .next()
        .expect("the kid is published");
    let verifier = PS256.verifier_from_jwk(jwk).unwrap();
    let (payload, _) = josekit::jwt::decode_with_verifier(jwt, &verifier).unwrap();
    let claims = Value::Object(payload.claims_set().clone());
    assert_eq!(claims["iss"], json!(contract.holder.org_id));
    assert_eq!(claims["aud"], json!(tpp.org_id));
    uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).unwrap();
    let iat = claims["iat"].as_i64().unwrap();
    assert!((common::now() - iat).abs() <= 300, "iat {iat}");
    claims
}

fn today() -> chrono::NaiveDate {
    (chrono::Utc::now() - chrono::Duration::hours(3)).date_naive()
}

/// The creditor account: another institution's.
fn creditor_account() -> Value {
    json!({ "ispb": "12345678", "issuer": "1774", "number": "1234567890", "accountType": "CACC" })
}

fn consent_data(cpf: &str, amount: &str) -> Value {
    json!({
        "loggedUser": { "document": { "identification": cpf, "rel": "CPF" } },
        "creditor": { "personType": "PESSOA_NATURAL", "cpfCnpj": "12345678901", "name": "Marco Antonio de Brito" },
        "payment": {
            "type": "PIX",
            "date": today().to_string(),
            "currency": "BRL",
            "amount": amount,
            "details": {
                "localInstrument": "DICT",
                "proxy": "cliente-a00001@pix.bcb.gov.br",
                "creditorAccount": creditor_account(),
            },
        },
    })
}

fn end_to_end_id() -> String {
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M");
    let tail: String = uuid::Uuid::new_v4().simple().to_string()[..11].to_string();
    format!("E99999004{stamp}{tail}")
}

fn payment_data(consent_id: &str, amount: &str, cnpj_initiator: &str) -> Value {
    json!([{
        "endToEndId": end_to_end_id(),
        "localInstrument": "DICT",
        "payment": { "amount": amount, "currency": "BRL" },
        "creditorAccount": creditor_account(),
        "proxy": "cliente-a00001@pix.bcb.gov.br",
        "cnpjInitiator": cnpj_initiator,
        "consentId": consent_id,
    }])
}

async fn create_consent(env: &Env, tpp: &Tpp, token: &str, amount: &str) -> String {
    let (cpf, _) = env.user();
    create_consent_of(env, tpp, token, consent_data(&cpf, amount)).await
}

/// Posts a consent request's `data`, signed.
async fn post_consent(env: &Env, tpp: &Tpp, token: &str, data: Value) -> Answer {
    let path = format!("{BASE}/consents");
    send(
        env,
        tpp,
        reqwest::Method::POST,
        &path,
        token,
        Some(signed(tpp, env.issuer(), &path, data)),
        Some(&uuid::Uuid::new_v4().to_string()),
    )
    .await
}

/// Posts a consent request's `data`, signed; the new consent's id.
async fn create_consent_of(env: &Env, tpp: &Tpp, token: &str, data: Value) -> String {
    let answer = post_consent(env, tpp, token, data).await;
    assert_eq!(answer.status, 201, "consent: {}", answer.body);
    assert!(answer.content_type.starts_with("application/jwt"));
    assert_eq!(answer.body["data"]["status"], "AWAITING_AUTHORISATION");
    answer.body["data"]["consentId"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Authorises a payment consent at the portal; the access token.
async fn authorise(env: &Env, tpp: &Tpp, consent_id: &str) -> String {
    let verifier = common::verifier();
    let (status, par) = tpp
        .par(tpp.request_claims(&format!("openid payments consent:{consent_id}"), &verifier))
        .await;
    assert_eq!(status, 201, "PAR: {par}");
    let (cpf, password) = env.user();
    // The screen shows the payment and offers the accounts to pay from.
    let fragment = common::authorize_seeing(
        env,
        tpp,
        par["request_uri"].as_str().unwrap(),
        (&cpf, &password),
        true,
        &[
            "Autorizar pagamento",
            "BRL ",
            "Marco Antonio de Brito",
            "final 7890",
            "Conta de origem",
            "99999004:",
        ],
    )
    .await;
    let (status, tokens) = common::exchange(tpp, &fragment["code"], &verifier).await;
    assert_eq!(status, 200, "code exchange: {tokens}");
    tokens["access_token"].as_str().unwrap().to_string()
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never happened: {what}");
}

const CNPJ_INITIATOR: &str = "22333444000105";

async fn journey(backend: Backend) {
    let world = world::start_alone(backend).await;
    let (webhooks, webhook_base, received) = webhook_listener(&world.env).await;
    let tpp = ready_tpp(&world, &webhook_base).await;
    let token = client_token(&tpp).await;

    // The consent, signed, answered signed, and read back.
    let consent_id = create_consent(&world, &tpp, &token, "100.00").await;
    let read = send(
        &world,
        &tpp,
        reqwest::Method::GET,
        &format!("{BASE}/consents/{consent_id}"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["data"]["status"], "AWAITING_AUTHORISATION");

    // Authorised at the portal, with the account the customer picked.
    let access = authorise(&world, &tpp, &consent_id).await;
    let read = send(
        &world,
        &tpp,
        reqwest::Method::GET,
        &format!("{BASE}/consents/{consent_id}"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(read.body["data"]["status"], "AUTHORISED", "{}", read.body);
    assert_eq!(read.body["data"]["debtorAccount"]["ispb"], "99999004");

    // A client_credentials token cannot pay.
    let path = format!("{BASE}/pix/payments");
    let data = payment_data(&consent_id, "100.00", CNPJ_INITIATOR);
    let wrong_token = send(
        &world,
        &tpp,
        reqwest::Method::POST,
        &path,
        &token,
        Some(signed(&tpp, world.issuer(), &path, data.clone())),
        Some("key-wrong-token"),
    )
    .await;
    assert_eq!(wrong_token.status, 401, "{}", wrong_token.body);

    // A body signed by another key: 400 BAD_SIGNATURE.
    let forger = world.new_tpp(&["PAGTO"]);
    let forged = forger.sign(json!({
        "aud": format!("{}{path}", world.issuer()),
        "iss": tpp.org_id,
        "iat": common::now(),
        "jti": uuid::Uuid::new_v4().to_string(),
        "data": data,
    }));
    let bad = send(
        &world,
        &tpp,
        reqwest::Method::POST,
        &path,
        &access,
        Some(forged),
        Some("key-forged"),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.body["errors"][0]["code"], "BAD_SIGNATURE");

    // The payment, then the same key and body again: the same payment, not another.
    let body = signed(&tpp, world.issuer(), &path, data.clone());
    let created = send(
        &world,
        &tpp,
        reqwest::Method::POST,
        &path,
        &access,
        Some(body.clone()),
        Some("key-1"),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let payment_id = created.body["data"][0]["paymentId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(created.body["data"][0]["status"], "RCVD");
    // The very same message again: its jti is spent.
    let replayed_jti = send(
        &world,
        &tpp,
        reqwest::Method::POST,
        &path,
        &access,
        Some(body),
        Some("key-1"),
    )
    .await;
    assert_eq!(replayed_jti.status, 403, "{}", replayed_jti.body);
    assert_eq!(replayed_jti.body["errors"][0]["code"], "INVALID_CLIENT");
    // Re-signed, same key and data: the first answer.
    let again = send(
        &world,
        &tpp,
        reqwest::Method::POST,
        &path,
        &access,
        Some(signed(&tpp, world.issuer(), &path, data.clone())),
        Some("key-1"),
    )
    .await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.body["data"][0]["paymentId"], json!(payment_id));
    // Same key, other data: 422 ERRO_IDEMPOTENCIA.
    let other = payment_data(&consent_id, "100.01", CNPJ_INITIATOR);
    let mismatch = send(
        &world,
        &tpp,
        reqwest::Method::POST,
        &path,
        &access,
        Some(signed(&tpp, world.issuer(), &path, other)),
        Some("key-1"),
    )
    .await;
    assert_eq!(mismatch.status, 422, "{}", mismatch.body);
    assert_eq!(mismatch.body["errors"][0]["code"], "ERRO_IDEMPOTENCIA");
    // A new key on the consumed consent: 422 CONSENTIMENTO_INVALIDO.
    let consumed = send(
        &world,
        &tpp,
        reqwest::Method::POST,
        &path,
        &access,
        Some(signed(&tpp, world.issuer(), &path, data)),
        Some("key-2"),
    )
    .await;
    assert_eq!(consumed.status, 422, "{}", consumed.body);
    assert_eq!(consumed.body["errors"][0]["code"], "CONSENTIMENTO_INVALIDO");

    // Polling to ACSC.
    let get_path = format!("{BASE}/pix/payments/{payment_id}");
    eventually("the payment settles", async || {
        let read = send(
            &world,
            &tpp,
            reqwest::Method::GET,
            &get_path,
            &token,
            None,
            None,
        )
        .await;
        assert_eq!(read.status, 200, "{}", read.body);
        read.body["data"]["status"] == "ACSC"
    })
    .await;

    // The webhooks: the consent consumed, the payment settled.
    let consent_hook = format!("/tpp/open-banking/webhook/v1/payments/v4/consents/{consent_id}");
    let payment_hook =
        format!("/tpp/open-banking/webhook/v1/payments/v4/pix/payments/{payment_id}");
    eventually("both webhooks arrive", async || {
        let got = received.lock().unwrap();
        got.iter().any(|(p, _)| *p == consent_hook) && got.iter().any(|(p, _)| *p == payment_hook)
    })
    .await;
    for (_, id) in received.lock().unwrap().iter() {
        uuid::Uuid::parse_str(id).expect("x-webhook-interaction-id is a UUID");
    }

    webhooks.shutdown().await;
    let store = world.holder.store.clone();
    world.holder.shutdown().await;
    // At rest, after the run: no customer's or creditor's data in clear.
    let mut needles = world::seeded_personal_data();
    needles.extend([
        "Marco Antonio de Brito".to_string(),
        "1234567890".to_string(),
    ]);
    world::assert_nothing_in_clear(&world.env, &store, &needles).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_journey_on_sqlite() {
    journey(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_journey_on_postgres() {
    common::postgres_url();
    journey(Backend::Postgres).await;
}

/// A static Pix BR Code for `key` and `amount`, with its CRC.
fn brcode(key: &str, amount: &str) -> String {
    let gui = format!("0014BR.GOV.BCB.PIX01{:02}{key}", key.len());
    let body = String::from("000201010211")
        + &format!("26{:02}{gui}", gui.len())
        + "52040000530398654"
        + &format!("{:02}{amount}", amount.len())
        + "5802BR5922MARCO ANTONIO DE BRITO6008BRASILIA6304";
    format!("{body}{:04X}", aberta_payments::qr::crc16(body.as_bytes()))
}

/// A consent whose `payment` is changed by `edit`; the answer.
async fn try_consent(env: &Env, tpp: &Tpp, token: &str, edit: impl Fn(&mut Value)) -> Answer {
    let (cpf, _) = env.user();
    let mut data = consent_data(&cpf, "10.00");
    edit(&mut data["payment"]);
    post_consent(env, tpp, token, data).await
}

async fn pay(env: &Env, tpp: &Tpp, access: &str, data: Value) -> Answer {
    let path = format!("{BASE}/pix/payments");
    send(
        env,
        tpp,
        reqwest::Method::POST,
        &path,
        access,
        Some(signed(tpp, env.issuer(), &path, data)),
        Some(&uuid::Uuid::new_v4().to_string()),
    )
    .await
}

async fn consent_status(env: &Env, tpp: &Tpp, token: &str, consent_id: &str) -> Value {
    let read = send(
        env,
        tpp,
        reqwest::Method::GET,
        &format!("{BASE}/consents/{consent_id}"),
        token,
        None,
        None,
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.body);
    read.body["data"].clone()
}

fn code_of(answer: &Answer) -> &str {
    answer.body["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
}

/// The refusals of the certification modules (requirements §3.7), by module.
async fn refusals(backend: Backend) {
    let world = start(backend).await;
    let tpp = ready_tpp(&world, "https://127.0.0.1:9/unused").await;
    let token = client_token(&tpp).await;
    let tomorrow = today() + chrono::Duration::days(1);

    // payments_api_pixscheduling-dates-unhappy: today, past D+730, or no date at all.
    for (what, edit) in [
        (
            "scheduled today",
            json!({ "single": { "date": today().to_string() } }),
        ),
        (
            "scheduled past D+730",
            json!({ "single": { "date": (today() + chrono::Duration::days(731)).to_string() } }),
        ),
    ] {
        let answer = try_consent(&world, &tpp, &token, |p| {
            p.as_object_mut().unwrap().remove("date");
            p["schedule"] = edit.clone();
        })
        .await;
        assert_eq!(answer.status, 422, "{what}: {}", answer.body);
        assert_eq!(code_of(&answer), "DATA_PAGAMENTO_INVALIDA", "{what}");
    }
    let no_date = try_consent(&world, &tpp, &token, |p| {
        p.as_object_mut().unwrap().remove("date");
    })
    .await;
    assert_eq!(no_date.status, 422, "{}", no_date.body);
    assert_eq!(code_of(&no_date), "PARAMETRO_NAO_INFORMADO");
    // payments_api_dict / manu-fail: details that do not fit the local instrument.
    let manu_with_proxy = try_consent(&world, &tpp, &token, |p| {
        p["details"]["localInstrument"] = json!("MANU");
    })
    .await;
    assert_eq!(code_of(&manu_with_proxy), "DETALHE_PAGAMENTO_INVALIDO");
    // JSON where a JWT is due.
    let plain = tpp
        .http
        .post(format!("{}{BASE}/consents", world.issuer()))
        .bearer_auth(&token)
        .header("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())
        .header("x-idempotency-key", "plain-json")
        .json(&json!({ "data": consent_data(&world.user().0, "10.00") }))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 415, "JSON body");
    // An oversized body is refused unread.
    let huge = tpp
        .http
        .post(format!("{}{BASE}/consents", world.issuer()))
        .bearer_auth(&token)
        .header("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())
        .header("x-idempotency-key", "huge")
        .header("content-type", "application/jwt")
        .body("a".repeat(600 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 400, "oversized body");
    let body: Value = huge.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "PARAMETRO_INVALIDO");

    // payments_api_consents_rejection-reason: the customer declines at the portal.
    let consent_id = create_consent(&world, &tpp, &token, "10.00").await;
    let verifier = common::verifier();
    let (_, par) = tpp
        .par(tpp.request_claims(&format!("openid payments consent:{consent_id}"), &verifier))
        .await;
    let (cpf, password) = world.user();
    let fragment = common::authorize_as_user(
        &world.env,
        &tpp,
        par["request_uri"].as_str().unwrap(),
        (&cpf, &password),
        false,
    )
    .await;
    assert_eq!(fragment["error"], "access_denied");
    let data = consent_status(&world, &tpp, &token, &consent_id).await;
    assert_eq!(data["status"], "REJECTED");
    assert_eq!(data["rejectionReason"]["code"], "REJEITADO_USUARIO");

    // payments_api_qres-wrong-amount and qres-mismatched-proxy: the customer approves, the
    // consent is rejected with the QR code's reason.
    for (code_amount, code_key, reason) in [
        ("10.01", "cliente-a00001@pix.bcb.gov.br", "VALOR_INVALIDO"),
        ("10.00", "outra-chave@pix.bcb.gov.br", "QRCODE_INVALIDO"),
    ] {
        let answer = try_consent(&world, &tpp, &token, |p| {
            p["details"]["localInstrument"] = json!("QRES");
            p["details"]["qrCode"] = json!(brcode(code_key, code_amount));
        })
        .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        let consent_id = answer.body["data"]["consentId"]
            .as_str()
            .unwrap()
            .to_string();
        let verifier = common::verifier();
        let (_, par) = tpp
            .par(tpp.request_claims(&format!("openid payments consent:{consent_id}"), &verifier))
            .await;
        let fragment = common::authorize_as_user(
            &world.env,
            &tpp,
            par["request_uri"].as_str().unwrap(),
            (&cpf, &password),
            true,
        )
        .await;
        assert_eq!(fragment["error"], "access_denied", "{reason}");
        let data = consent_status(&world, &tpp, &token, &consent_id).await;
        assert_eq!(data["status"], "REJECTED");
        assert_eq!(data["rejectionReason"]["code"], reason);
    }

    // payments_api_negative: a payment that differs from its consent, which it consumes.
    let consent_id = create_consent(&world, &tpp, &token, "10.00").await;
    let access = authorise(&world, &tpp, &consent_id).await;
    let divergent = pay(
        &world,
        &tpp,
        &access,
        payment_data(&consent_id, "10.01", CNPJ_INITIATOR),
    )
    .await;
    assert_eq!(divergent.status, 422, "{}", divergent.body);
    assert_eq!(code_of(&divergent), "PAGAMENTO_DIVERGENTE_CONSENTIMENTO");
    let data = consent_status(&world, &tpp, &token, &consent_id).await;
    assert_eq!(data["status"], "CONSUMED");

    // payments_api_e2eid: an endToEndId not dated the payment day.
    let consent_id = create_consent(&world, &tpp, &token, "10.00").await;
    let access = authorise(&world, &tpp, &consent_id).await;
    let mut data = payment_data(&consent_id, "10.00", CNPJ_INITIATOR);
    data[0]["endToEndId"] = json!("E9999900420200101120012345678901");
    let e2e = pay(&world, &tpp, &access, data).await;
    assert_eq!(e2e.status, 422, "{}", e2e.body);
    assert_eq!(code_of(&e2e), "PARAMETRO_INVALIDO");

    // payments_api_pixscheduling-patch: a scheduled payment (SCHD) cancelled by the
    // initiator (CANC), and cancelling it again refused.
    let (cpf, _) = world.user();
    let mut scheduled = consent_data(&cpf, "10.00");
    scheduled["payment"].as_object_mut().unwrap().remove("date");
    scheduled["payment"]["schedule"] = json!({ "single": { "date": tomorrow.to_string() } });
    let consent_id = create_consent_of(&world, &tpp, &token, scheduled).await;
    let access = authorise(&world, &tpp, &consent_id).await;
    let mut data = payment_data(&consent_id, "10.00", CNPJ_INITIATOR);
    let tail = &uuid::Uuid::new_v4().simple().to_string()[..11];
    data[0]["endToEndId"] = json!(format!("E99999004{}1500{tail}", tomorrow.format("%Y%m%d")));
    let paid = pay(&world, &tpp, &access, data).await;
    assert_eq!(paid.status, 201, "{}", paid.body);
    assert_eq!(paid.body["data"][0]["status"], "SCHD");
    let payment_id = paid.body["data"][0]["paymentId"]
        .as_str()
        .unwrap()
        .to_string();
    let patch_path = format!("{BASE}/pix/payments/{payment_id}");
    let cancel = json!({ "status": "CANC",
        "cancellation": { "cancelledBy": { "document": { "identification": cpf, "rel": "CPF" } } } });
    let cancelled = send(
        &world,
        &tpp,
        reqwest::Method::PATCH,
        &patch_path,
        &token,
        Some(signed(&tpp, world.issuer(), &patch_path, cancel.clone())),
        None,
    )
    .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.body["data"]["status"], "CANC");
    let again = send(
        &world,
        &tpp,
        reqwest::Method::PATCH,
        &patch_path,
        &token,
        Some(signed(&tpp, world.issuer(), &patch_path, cancel)),
        None,
    )
    .await;
    assert_eq!(again.status, 422, "{}", again.body);
    assert_eq!(code_of(&again), "PAGAMENTO_NAO_PERMITE_CANCELAMENTO");

    world.holder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certification_refusals_on_sqlite() {
    refusals(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certification_refusals_on_postgres() {
    common::postgres_url();
    refusals(Backend::Postgres).await;
}

/// Concurrent initiators repeating each payment under one idempotency key (each copy signed
/// afresh): exactly one payment per key, and every repeat that is answered names it.
async fn storm(backend: Backend) {
    const KEYS: usize = 4;
    const COPIES: usize = 6;
    let world = Arc::new(start(backend).await);
    let tpp = Arc::new(ready_tpp(&world, "https://127.0.0.1:9/unused").await);
    let token = client_token(&tpp).await;
    let mut tasks = Vec::new();
    for k in 0..KEYS {
        let consent_id = create_consent(&world, &tpp, &token, "1.00").await;
        let access = authorise(&world, &tpp, &consent_id).await;
        let data = payment_data(&consent_id, "1.00", CNPJ_INITIATOR);
        let key = format!("storm-{k}-{}", uuid::Uuid::new_v4().simple());
        for _ in 0..COPIES {
            let (world, tpp, access, data, key) = (
                world.clone(),
                tpp.clone(),
                access.clone(),
                data.clone(),
                key.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let path = format!("{BASE}/pix/payments");
                let answer = send(
                    &world,
                    &tpp,
                    reqwest::Method::POST,
                    &path,
                    &access,
                    Some(signed(&tpp, world.issuer(), &path, data)),
                    Some(&key),
                )
                .await;
                (
                    key,
                    answer.status,
                    answer.body["data"][0]["paymentId"].clone(),
                )
            }));
        }
    }
    let mut by_key: std::collections::HashMap<String, Vec<(u16, Value)>> = Default::default();
    for task in tasks {
        let (key, status, id) = task.await.unwrap();
        by_key.entry(key).or_default().push((status, id));
    }
    let mut payments = std::collections::HashSet::new();
    for (key, answers) in &by_key {
        let created: Vec<&Value> = answers
            .iter()
            .filter(|(s, _)| *s == 201)
            .map(|(_, id)| id)
            .collect();
        assert!(
            !created.is_empty(),
            "{key}: no copy was answered 201: {answers:?}"
        );
        assert!(
            created.iter().all(|id| *id == created[0]),
            "{key}: different payments for one key: {answers:?}"
        );
        assert!(
            answers.iter().all(|(s, _)| *s == 201 || *s == 429),
            "{key}: a copy was neither the payment nor told to wait: {answers:?}"
        );
        payments.insert(created[0].clone());
    }
    assert_eq!(payments.len(), KEYS);
    // And the bank saw exactly one payment per consent.
    use sea_orm::{ConnectionTrait, Statement};
    let db = world.holder.store.connection();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT COUNT(*) AS n FROM payments_pix_payment WHERE payment_id IN ({})",
                payments
                    .iter()
                    .map(|p| format!("'{}'", p.as_str().unwrap()))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), KEYS as i64);
    let consents: std::collections::HashSet<String> = by_key.keys().cloned().collect();
    assert_eq!(consents.len(), KEYS);
    Arc::try_unwrap(world)
        .ok()
        .expect("every task ended")
        .holder
        .shutdown()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_storm_on_sqlite() {
    storm(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_storm_on_postgres() {
    common::postgres_url();
    storm(Backend::Postgres).await;
}

/// The holder stops right after accepting a payment and a new one starts on the same data
/// directory and database: the payment still settles, once, and its webhook still arrives.
async fn restart(backend: Backend) {
    let World { env, holder } = start(backend).await;
    let (webhooks, webhook_base, received) = webhook_listener(&env).await;
    let world = World { env, holder };
    let tpp = ready_tpp(&world, &webhook_base).await;
    let token = client_token(&tpp).await;
    let consent_id = create_consent(&world, &tpp, &token, "2.00").await;
    let access = authorise(&world, &tpp, &consent_id).await;
    let paid = pay(
        &world,
        &tpp,
        &access,
        payment_data(&consent_id, "2.00", CNPJ_INITIATOR),
    )
    .await;
    assert_eq!(paid.status, 201, "{}", paid.body);
    let payment_id = paid.body["data"][0]["paymentId"]
        .as_str()
        .unwrap()
        .to_string();

    // Down before the payment settles; up again on the same port, directory and database.
    let World { env, holder } = world;
    holder.shutdown().await;
    let authority = env.issuer().trim_start_matches("https://").to_string();
    let listener = TcpListener::bind(authority.replace("localhost", "127.0.0.1"))
        .await
        .unwrap();
    let holder = world::holder_on(&env, backend, listener, OperationalLimits::disabled()).await;
    let world = World { env, holder };

    let get_path = format!("{BASE}/pix/payments/{payment_id}");
    eventually("the payment settles after the restart", async || {
        let read = send(
            &world,
            &tpp,
            reqwest::Method::GET,
            &get_path,
            &token,
            None,
            None,
        )
        .await;
        assert_eq!(read.status, 200, "{}", read.body);
        read.body["data"]["status"] == "ACSC"
    })
    .await;
    let payment_hook =
        format!("/tpp/open-banking/webhook/v1/payments/v4/pix/payments/{payment_id}");
    eventually("the payment's webhook arrives", async || {
        received
            .lock()
            .unwrap()
            .iter()
            .any(|(p, _)| *p == payment_hook)
    })
    .await;
    use sea_orm::{ConnectionTrait, Statement};
    let db = world.holder.store.connection();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT COUNT(*) AS n FROM payments_pix_payment WHERE consent_id = '{consent_id}'"
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.try_get::<i64>("", "n").unwrap(),
        1,
        "one payment, not two"
    );
    webhooks.shutdown().await;
    world.holder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_the_payment_on_sqlite() {
    restart(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_the_payment_on_postgres() {
    common::postgres_url();
    restart(Backend::Postgres).await;
}

/// What an instance leaves when it stops while the bank is being called: the key claimed, the
/// consent consumed, the request kept. The recovery sends it again and answers the claim; the
/// initiator's retry then gets the payment, once.
async fn interrupted(backend: Backend) {
    use aberta_payments::idempotency::{self, BodyHash, Claim, IdempotencyKey};
    use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

    let world = start(backend).await;
    let tpp = ready_tpp(&world, "https://127.0.0.1:9/unused").await;
    let token = client_token(&tpp).await;
    let consent_id = create_consent(&world, &tpp, &token, "3.00").await;
    let access = authorise(&world, &tpp, &consent_id).await;
    let items = payment_data(&consent_id, "3.00", CNPJ_INITIATOR);
    let typed: Vec<ofb_payments_v4::models::CreatePixPaymentData> =
        serde_json::from_value(items.clone()).unwrap();
    let typed = serde_json::to_value(&typed).unwrap();
    let brand = world.contract.holder.brand.clone();
    let client_id = tpp.client_id().to_string();
    let key = IdempotencyKey::parse(Some("interrupted-1")).unwrap();
    let hash = BodyHash::of_message("POST /pix/payments", Some(&typed));
    let now = common::now();
    let db = world.holder.store.connection();
    let txn = db.begin().await.unwrap();
    let Claim::Fresh(ticket) = idempotency::claim(&txn, &brand, &client_id, &key, &hash, now)
        .await
        .unwrap()
    else {
        panic!("a fresh key")
    };
    let ticket = ticket.detach();
    world
        .holder
        .payment_consents
        .consume(&txn, &brand, &consent_id, now)
        .await
        .unwrap();
    let ring =
        aberta_store::KeyRing::from_env_or_file(&world.dir.path().join("keyring.json")).unwrap();
    let sealed = ring
        .seal("payments_pending_request.items", &typed.to_string())
        .unwrap();
    let backend_kind = db.get_database_backend();
    let sql = match backend_kind {
        sea_orm::DatabaseBackend::Postgres => {
            "INSERT INTO payments_pending_request (brand, client_id, idempotency_key, request_hash, \
             consent_id, items, self_link, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        }
        _ => {
            "INSERT INTO payments_pending_request (brand, client_id, idempotency_key, request_hash, \
             consent_id, items, self_link, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        }
    };
    txn.execute_raw(Statement::from_sql_and_values(
        backend_kind,
        sql,
        [
            brand.clone().into(),
            client_id.clone().into(),
            ticket.key().into(),
            ticket.request_hash().into(),
            consent_id.clone().into(),
            sealed.into(),
            format!("{}{BASE}/pix/payments", world.issuer()).into(),
            now.into(),
        ],
    ))
    .await
    .unwrap();
    txn.commit().await.unwrap();

    // The initiator retries: the request is still in flight.
    let path = format!("{BASE}/pix/payments");
    let retry = async || {
        let body = signed(&tpp, world.issuer(), &path, items.clone());
        send(
            &world,
            &tpp,
            reqwest::Method::POST,
            &path,
            &access,
            Some(body),
            Some("interrupted-1"),
        )
        .await
    };
    let waiting = retry().await;
    assert_eq!(waiting.status, 429, "{}", waiting.body);

    // Not yet stale: nothing happens; stale: finished, once.
    assert_eq!(
        world
            .holder
            .payments
            .recover_interrupted(now)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        world
            .holder
            .payments
            .recover_interrupted(now + 60)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        world
            .holder
            .payments
            .recover_interrupted(now + 60)
            .await
            .unwrap(),
        0
    );
    let answered = retry().await;
    assert_eq!(answered.status, 201, "{}", answered.body);
    let payment_id = answered.body["data"][0]["paymentId"]
        .as_str()
        .unwrap()
        .to_string();
    let row = db
        .query_one_raw(Statement::from_string(
            backend_kind,
            format!(
                "SELECT COUNT(*) AS n FROM payments_pix_payment WHERE consent_id = '{consent_id}'"
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1);
    let get_path = format!("{BASE}/pix/payments/{payment_id}");
    eventually("the recovered payment settles", async || {
        let read = send(
            &world,
            &tpp,
            reqwest::Method::GET,
            &get_path,
            &token,
            None,
            None,
        )
        .await;
        read.body["data"]["status"] == "ACSC"
    })
    .await;
    world.holder.shutdown().await;
}

/// Leaves what an instance named `owner` (name, run) leaves while the bank is being called
/// for a payment request: the key claimed, the consent consumed, the request kept.
async fn leave_in_flight(
    world: &World,
    tpp: &Tpp,
    consent_id: &str,
    items: &Value,
    key: &str,
    owner: (&str, &str),
) {
    use aberta_payments::idempotency::{self, BodyHash, Claim, IdempotencyKey};
    use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

    let typed: Vec<ofb_payments_v4::models::CreatePixPaymentData> =
        serde_json::from_value(items.clone()).unwrap();
    let typed = serde_json::to_value(&typed).unwrap();
    let brand = world.contract.holder.brand.clone();
    let key = IdempotencyKey::parse(Some(key)).unwrap();
    let hash = BodyHash::of_message("POST /pix/payments", Some(&typed));
    let now = common::now();
    let db = world.holder.store.connection();
    let txn = db.begin().await.unwrap();
    let Claim::Fresh(ticket) = idempotency::claim(&txn, &brand, tpp.client_id(), &key, &hash, now)
        .await
        .unwrap()
    else {
        panic!("a fresh key")
    };
    let ticket = ticket.detach();
    world
        .holder
        .payment_consents
        .consume(&txn, &brand, consent_id, now)
        .await
        .unwrap();
    let ring =
        aberta_store::KeyRing::from_env_or_file(&world.dir.path().join("keyring.json")).unwrap();
    let sealed = ring
        .seal("payments_pending_request.items", &typed.to_string())
        .unwrap();
    let backend = db.get_database_backend();
    let mut sql = "INSERT INTO payments_pending_request (brand, client_id, idempotency_key, \
                   request_hash, consent_id, items, self_link, created_at, owner_name, \
                   owner_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        .to_string();
    if backend == sea_orm::DatabaseBackend::Postgres {
        for n in 1..=10 {
            sql = sql.replacen('?', &format!("${n}"), 1);
        }
    }
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [
            brand.into(),
            tpp.client_id().into(),
            ticket.key().into(),
            ticket.request_hash().into(),
            consent_id.into(),
            sealed.into(),
            format!("{}{BASE}/pix/payments", world.issuer()).into(),
            now.into(),
            owner.0.into(),
            owner.1.into(),
        ],
    ))
    .await
    .unwrap();
    txn.commit().await.unwrap();
}

/// A retry of a request still in flight is told when to come back (`Retry-After`); a holder
/// that stops mid-way through it and starts again finishes it before taking requests, not
/// after the 30-second delay an instance gives another's requests.
async fn recovered_at_restart(backend: Backend) {
    let world = start(backend).await;
    let tpp = ready_tpp(&world, "https://127.0.0.1:9/unused").await;
    let token = client_token(&tpp).await;
    let consent_id = create_consent(&world, &tpp, &token, "4.00").await;
    let access = authorise(&world, &tpp, &consent_id).await;
    let items = payment_data(&consent_id, "4.00", CNPJ_INITIATOR);
    let key = format!("restart-{}", uuid::Uuid::new_v4().simple());
    let (name, run) = world.holder.payments.instance();
    let (name, run) = (name.to_string(), run.to_string());
    leave_in_flight(&world, &tpp, &consent_id, &items, &key, (&name, &run)).await;

    let path = format!("{BASE}/pix/payments");
    let retry = async |world: &World| {
        let body = signed(&tpp, world.issuer(), &path, items.clone());
        send(
            world,
            &tpp,
            reqwest::Method::POST,
            &path,
            &access,
            Some(body),
            Some(&key),
        )
        .await
    };
    let waiting = retry(&world).await;
    assert_eq!(waiting.status, 429, "{}", waiting.body);
    let seconds: u64 = waiting
        .retry_after
        .as_deref()
        .expect("a 429 with Retry-After")
        .parse()
        .expect("Retry-After in whole seconds");
    assert!(seconds >= 1, "{seconds}");

    // The holder stops with the request as it was, and starts again on the same address,
    // directory and database: a new run of the same instance.
    let World { env, holder } = world;
    holder.shutdown().await;
    let authority = env.issuer().trim_start_matches("https://").to_string();
    let listener = TcpListener::bind(authority.replace("localhost", "127.0.0.1"))
        .await
        .unwrap();
    let holder = world::holder_on(&env, backend, listener, OperationalLimits::disabled()).await;
    let world = World { env, holder };
    assert_eq!(world.holder.payments.instance().0, name);
    assert_ne!(world.holder.payments.instance().1, run);

    // Finished by the first recovery round, which ran before the holder took requests.
    assert_eq!(
        rows_of(&world, backend, "payments_pending_request", &consent_id).await,
        0
    );
    assert_eq!(
        rows_of(&world, backend, "payments_pix_payment", &consent_id).await,
        1
    );
    let answered = retry(&world).await;
    assert_eq!(answered.status, 201, "{}", answered.body);
    assert_eq!(answered.body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        rows_of(&world, backend, "demo_pix_payment", &consent_id).await,
        1
    );
    world.holder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_holder_finishes_its_interrupted_payment_at_once_on_sqlite() {
    recovered_at_restart(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_holder_finishes_its_interrupted_payment_at_once_on_postgres() {
    common::postgres_url();
    recovered_at_restart(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_payment_is_finished_once_on_sqlite() {
    interrupted(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_payment_is_finished_once_on_postgres() {
    common::postgres_url();
    interrupted(Backend::Postgres).await;
}

/// payments_api_recurring-payments (daily): a consent for three daily payments, the three
/// paid in one request (each `endToEndId` at 15:00 UTC on its day, all SCHD), then all
/// cancelled through the consent (PATCH /pix/payments/consents/{consentId}).
async fn recurring(backend: Backend) {
    let world = start(backend).await;
    let tpp = ready_tpp(&world, "https://127.0.0.1:9/unused").await;
    let token = client_token(&tpp).await;
    let (cpf, _) = world.user();
    let start_day = today() + chrono::Duration::days(1);
    let mut data = consent_data(&cpf, "5.00");
    data["payment"].as_object_mut().unwrap().remove("date");
    data["payment"]["schedule"] =
        json!({ "daily": { "startDate": start_day.to_string(), "quantity": 3 } });
    let consent_id = create_consent_of(&world, &tpp, &token, data).await;
    let access = authorise(&world, &tpp, &consent_id).await;

    let item = |day: chrono::NaiveDate| {
        let mut one = payment_data(&consent_id, "5.00", CNPJ_INITIATOR)[0].clone();
        let tail = &uuid::Uuid::new_v4().simple().to_string()[..11];
        one["endToEndId"] = json!(format!("E99999004{}1500{tail}", day.format("%Y%m%d")));
        one
    };
    let days: Vec<_> = (0..3)
        .map(|i| start_day + chrono::Duration::days(i))
        .collect();
    let paid = pay(
        &world,
        &tpp,
        &access,
        Value::Array(days.iter().map(|d| item(*d)).collect()),
    )
    .await;
    assert_eq!(paid.status, 201, "{}", paid.body);
    let payments = paid.body["data"].as_array().unwrap();
    assert_eq!(payments.len(), 3);
    assert!(
        payments.iter().all(|p| p["status"] == "SCHD"),
        "{}",
        paid.body
    );

    let patch_path = format!("{BASE}/pix/payments/consents/{consent_id}");
    let cancel_by = |cpf: &str| {
        json!({ "status": "CANC",
            "cancellation": { "cancelledBy": { "document": { "identification": cpf, "rel": "CPF" } } } })
    };
    let patch = async |data: Value| {
        send(
            &world,
            &tpp,
            reqwest::Method::PATCH,
            &patch_path,
            &token,
            Some(signed(&tpp, world.issuer(), &patch_path, data)),
            Some("cancel-recurrence"),
        )
        .await
    };
    let cancelled = patch(cancel_by(&cpf)).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.body["data"].as_array().unwrap().len(), 3);
    // payments_api_idempotency (PATCH): the same key and data answer the same; other data
    // under the key is 422 ERRO_IDEMPOTENCIA.
    let again = patch(cancel_by(&cpf)).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["data"], cancelled.body["data"]);
    let other = patch(cancel_by("52960092087")).await;
    assert_eq!(other.status, 422, "{}", other.body);
    assert_eq!(code_of(&other), "ERRO_IDEMPOTENCIA");
    for payment in payments {
        let id = payment["paymentId"].as_str().unwrap();
        let read = send(
            &world,
            &tpp,
            reqwest::Method::GET,
            &format!("{BASE}/pix/payments/{id}"),
            &token,
            None,
            None,
        )
        .await;
        assert_eq!(read.body["data"]["status"], "CANC", "{}", read.body);
    }
    world.holder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recurring_payments_on_sqlite() {
    recurring(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recurring_payments_on_postgres() {
    common::postgres_url();
    recurring(Backend::Postgres).await;
}

/// The bank's internal approval API: `who` approves (or rejects) `consent_id`.
async fn approval(world: &World, consent_id: &str, action: &str, who: &str) -> (u16, Value) {
    let url = format!(
        "http://{}{}/payment-consents/{consent_id}/{action}",
        world.holder.internal_addr(),
        aberta_holder::internal::CONSENTS_PATH
    );
    let answer = reqwest::Client::new()
        .post(url)
        .bearer_auth(&world.holder.internal_token)
        .json(&json!({ "approver_document": who }))
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// payments_api_multiple-consents-conditional: a business payment that needs two approvers
/// is PARTIALLY_ACCEPTED after the portal; a payment then is refused with
/// CONSENTIMENTO_PENDENTE_AUTORIZACAO without consuming the consent; the second approver
/// (through the bank's channel) makes it AUTHORISED, the initiator is notified, and the
/// payment goes through to ACSC.
async fn multiple_approvers(backend: Backend) {
    let world = start(backend).await;
    let (webhooks, webhook_base, received) = webhook_listener(&world.env).await;
    let tpp = ready_tpp(&world, &webhook_base).await;
    let token = client_token(&tpp).await;
    let (cpf, _) = world.user();
    let mut data = consent_data(&cpf, "6000.00");
    data["businessEntity"] =
        json!({ "document": { "identification": "34567890000130", "rel": "CNPJ" } });
    let consent_id = create_consent_of(&world, &tpp, &token, data).await;
    let access = authorise(&world, &tpp, &consent_id).await;
    let consent = consent_status(&world, &tpp, &token, &consent_id).await;
    assert_eq!(consent["status"], "PARTIALLY_ACCEPTED", "{consent}");

    let early = pay(
        &world,
        &tpp,
        &access,
        payment_data(&consent_id, "6000.00", CNPJ_INITIATOR),
    )
    .await;
    assert_eq!(early.status, 422, "{}", early.body);
    assert_eq!(code_of(&early), "CONSENTIMENTO_PENDENTE_AUTORIZACAO");
    let consent = consent_status(&world, &tpp, &token, &consent_id).await;
    assert_eq!(consent["status"], "PARTIALLY_ACCEPTED", "not consumed");

    // The first approver cannot approve twice; a stranger cannot approve at all.
    let (status, body) = approval(&world, &consent_id, "approvals", &cpf).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = approval(&world, &consent_id, "approvals", "11144477735").await;
    assert_eq!(status, 403);
    let (status, body) = approval(&world, &consent_id, "approvals", "52960092087").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "AUTHORISED");
    assert_eq!(body["approvals_missing"], 0);
    let (status, _) = approval(&world, &consent_id, "approvals", "31845706226").await;
    assert_eq!(status, 409, "no longer waiting");
    let consent = consent_status(&world, &tpp, &token, &consent_id).await;
    assert_eq!(consent["status"], "AUTHORISED");
    let consent_hook = format!("/tpp/open-banking/webhook/v1/payments/v4/consents/{consent_id}");
    eventually("the AUTHORISED webhook arrives", async || {
        received
            .lock()
            .unwrap()
            .iter()
            .any(|(p, _)| *p == consent_hook)
    })
    .await;

    let paid = pay(
        &world,
        &tpp,
        &access,
        payment_data(&consent_id, "6000.00", CNPJ_INITIATOR),
    )
    .await;
    assert_eq!(paid.status, 201, "{}", paid.body);
    let payment_id = paid.body["data"][0]["paymentId"]
        .as_str()
        .unwrap()
        .to_string();
    let get_path = format!("{BASE}/pix/payments/{payment_id}");
    eventually("the payment settles", async || {
        let read = send(
            &world,
            &tpp,
            reqwest::Method::GET,
            &get_path,
            &token,
            None,
            None,
        )
        .await;
        read.body["data"]["status"] == "ACSC"
    })
    .await;

    // An approver may also decline: REJECTED, REJEITADO_USUARIO.
    let mut data = consent_data(&cpf, "7000.00");
    data["businessEntity"] =
        json!({ "document": { "identification": "34567890000130", "rel": "CNPJ" } });
    let declined = create_consent_of(&world, &tpp, &token, data).await;
    authorise(&world, &tpp, &declined).await;
    let (status, body) = approval(&world, &declined, "rejection", "52960092087").await;
    assert_eq!(status, 200, "{body}");
    let consent = consent_status(&world, &tpp, &token, &declined).await;
    assert_eq!(consent["status"], "REJECTED");
    assert_eq!(consent["rejectionReason"]["code"], "REJEITADO_USUARIO");
    webhooks.shutdown().await;
    world.holder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiple_approvers_on_sqlite() {
    multiple_approvers(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiple_approvers_on_postgres() {
    multiple_approvers(Backend::Postgres).await;
}

/// What the bank refuses: an invalid charge at once (422 COBRANCA_INVALIDA, the consent
/// consumed), the SPI later (RJCT PAGAMENTO_RECUSADO_SPI), and a scheduled request it cannot
/// schedule (RJCT FALHA_AGENDAMENTO_PAGAMENTOS).
async fn bank_refusals(backend: Backend) {
    let world = start(backend).await;
    let tpp = ready_tpp(&world, "https://127.0.0.1:9/unused").await;
    let token = client_token(&tpp).await;

    let consent_id = create_consent(&world, &tpp, &token, "1236.00").await;
    let access = authorise(&world, &tpp, &consent_id).await;
    // Bad input first: a malformed amount and an unknown payment id change nothing. (A body
    // that breaks the schema is refused before the handler, where no signer is at hand for
    // the signed 422: it answers 400 in JSON, as the certification's negative modules allow.)
    let malformed = pay(
        &world,
        &tpp,
        &access,
        payment_data(&consent_id, "1236.0", CNPJ_INITIATOR),
    )
    .await;
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    assert_eq!(code_of(&malformed), "PARAMETRO_INVALIDO");
    let consent = consent_status(&world, &tpp, &token, &consent_id).await;
    assert_eq!(consent["status"], "AUTHORISED", "nothing written");
    let unknown = send(
        &world,
        &tpp,
        reqwest::Method::GET,
        &format!("{BASE}/pix/payments/{}", uuid::Uuid::new_v4()),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let refused = pay(
        &world,
        &tpp,
        &access,
        payment_data(&consent_id, "1236.00", CNPJ_INITIATOR),
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(code_of(&refused), "COBRANCA_INVALIDA");
    let consent = consent_status(&world, &tpp, &token, &consent_id).await;
    assert_eq!(consent["status"], "CONSUMED");

    let rejected_with = async |amount: &str, scheduled: bool| {
        let (cpf, _) = world.user();
        let mut data = consent_data(&cpf, amount);
        let mut payment = payment_data("", amount, CNPJ_INITIATOR);
        if scheduled {
            let tomorrow = today() + chrono::Days::new(1);
            data["payment"].as_object_mut().unwrap().remove("date");
            data["payment"]["schedule"] = json!({ "single": { "date": tomorrow.to_string() } });
            let tail = &uuid::Uuid::new_v4().simple().to_string()[..11];
            payment[0]["endToEndId"] =
                json!(format!("E99999004{}1500{tail}", tomorrow.format("%Y%m%d")));
        }
        let consent_id = create_consent_of(&world, &tpp, &token, data).await;
        payment[0]["consentId"] = json!(consent_id);
        let access = authorise(&world, &tpp, &consent_id).await;
        let paid = pay(&world, &tpp, &access, payment).await;
        assert_eq!(paid.status, 201, "{}", paid.body);
        let payment_id = paid.body["data"][0]["paymentId"]
            .as_str()
            .unwrap()
            .to_string();
        let get_path = format!("{BASE}/pix/payments/{payment_id}");
        let mut last = Value::Null;
        eventually("the payment is rejected", async || {
            let read = send(
                &world,
                &tpp,
                reqwest::Method::GET,
                &get_path,
                &token,
                None,
                None,
            )
            .await;
            last = read.body["data"].clone();
            last["status"] == "RJCT"
        })
        .await;
        let consent = consent_status(&world, &tpp, &token, &consent_id).await;
        assert_eq!(consent["status"], "CONSUMED");
        last["rejectionReason"]["code"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        rejected_with("1235.00", false).await,
        "PAGAMENTO_RECUSADO_SPI"
    );
    assert_eq!(
        rejected_with("1237.00", true).await,
        "FALHA_AGENDAMENTO_PAGAMENTOS"
    );
    world.holder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_refusals_on_sqlite() {
    bank_refusals(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_refusals_on_postgres() {
    bank_refusals(Backend::Postgres).await;
}

/// Where the account holder of the crash test runs: set, this test binary serves it (see
/// `child_holder_process`).
const CHILD_HOLDER: &str = "ABERTA_CHILD_HOLDER";

/// Not a test by itself: [`crash`] runs this test binary again with [`CHILD_HOLDER`] set to
/// `{dataDir, port, databaseUrl}`, and this then serves the account holder in that process
/// until it is killed. Without the variable it returns at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_holder_process() {
    let Ok(spec) = std::env::var(CHILD_HOLDER) else {
        return;
    };
    let spec: Value = serde_json::from_str(&spec).unwrap();
    aberta_ecosystem::tls::install_crypto_provider();
    let data_dir = std::path::PathBuf::from(spec["dataDir"].as_str().unwrap());
    let contract: aberta_ecosystem::sandbox::SandboxJson = serde_json::from_slice(
        &std::fs::read(aberta_ecosystem::sandbox::sandbox_json_path(&data_dir)).unwrap(),
    )
    .unwrap();
    let listener = TcpListener::bind(("127.0.0.1", spec["port"].as_u64().unwrap() as u16))
        .await
        .unwrap();
    let internal = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let _holder = aberta_holder::sandbox::start(
        &data_dir,
        &contract,
        listener,
        internal,
        spec["databaseUrl"].as_str(),
    )
    .await
    .unwrap();
    println!("child holder ready");
    std::future::pending::<()>().await;
}

/// The account holder in a process of its own, killed (SIGKILL) when dropped.
struct ChildHolder(std::process::Child);

impl ChildHolder {
    fn start(env: &Env, backend: Backend) -> Self {
        use std::io::BufRead;
        let port = env
            .issuer()
            .rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches('/')
            .parse::<u16>()
            .unwrap();
        let spec = json!({
            "dataDir": env.dir.path(),
            "port": port,
            "databaseUrl": common::database_url(backend),
        });
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_holder_process", "--nocapture"])
            .env(CHILD_HOLDER, spec.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let holder = Self(child);
        for line in std::io::BufReader::new(stdout).lines() {
            if line.unwrap().contains("child holder ready") {
                return holder;
            }
        }
        panic!("the holder process stopped before it was ready");
    }

    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for ChildHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Counts rows of `table` for `consent_id` in the holder's database.
async fn rows_of(env: &Env, backend: Backend, table: &str, consent_id: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let url = common::database_url(backend)
        .unwrap_or_else(|| aberta_auth::sandbox::default_database_url(env.dir.path()));
    let store = aberta_store::Store::connect(&url).await.unwrap();
    let db = store.connection();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table} WHERE consent_id = '{consent_id}'"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// The holder's process is killed (SIGKILL) while a burst of payments is in flight, then
/// started again on the same database: every request, sent again with its idempotency key,
/// ends with exactly one payment, the same one a request already answered had, and the bank
/// made each payment once.
async fn crash(backend: Backend) {
    const PAYMENTS: usize = 12;
    let (env, listener) = common::prepare(backend).await;
    drop(listener);
    let holder = ChildHolder::start(&env, backend);
    let tpp = ready_tpp(&env, "https://127.0.0.1:9/unused").await;
    let token = client_token(&tpp).await;
    let mut requests = Vec::new();
    for _ in 0..PAYMENTS {
        let consent_id = create_consent(&env, &tpp, &token, "3.00").await;
        let access = authorise(&env, &tpp, &consent_id).await;
        let data = payment_data(&consent_id, "3.00", CNPJ_INITIATOR);
        requests.push((consent_id, access, data, uuid::Uuid::new_v4().to_string()));
    }
    let path = format!("{BASE}/pix/payments");
    let post = async |(_, access, data, key): &(String, String, Value, String)| {
        let body = signed(&tpp, env.issuer(), &path, data.clone());
        try_send(
            &env,
            &tpp,
            reqwest::Method::POST,
            &path,
            access,
            Some(body),
            Some(key),
        )
        .await
    };

    // The burst; the process dies as soon as the first answer is in.
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    let first_tx = Mutex::new(Some(first_tx));
    let burst = futures_util::future::join_all(requests.iter().map(|r| async {
        let answer = post(r).await;
        if let Some(tx) = first_tx.lock().unwrap().take() {
            let _ = tx.send(());
        }
        answer
    }));
    let killer = async {
        let _ = first_rx.await;
        holder.kill();
    };
    let (before, ()) = tokio::join!(burst, killer);
    let answered_before: Vec<Option<String>> = before
        .iter()
        .map(|a| match a {
            Ok(a) if a.status == 201 => a.body["data"][0]["paymentId"].as_str().map(str::to_string),
            _ => None,
        })
        .collect();
    assert!(
        answered_before.iter().any(Option::is_some),
        "one answer came before the kill"
    );
    assert!(
        before.iter().any(Result::is_err),
        "the kill cut requests off mid-way"
    );

    let holder = ChildHolder::start(&env, backend);
    for (request, before) in requests.iter().zip(&answered_before) {
        // A request caught mid-way is finished by the restarted holder's first recovery
        // round; a retry meanwhile answers 429.
        let mut answer = None;
        for _ in 0..120 {
            match post(request).await {
                Ok(a) if a.status == 429 => tokio::time::sleep(Duration::from_secs(1)).await,
                Ok(a) => {
                    answer = Some(a);
                    break;
                }
                Err(err) => panic!("the restarted holder: {err}"),
            }
        }
        let answer = answer.expect("the request was finished within two minutes");
        assert_eq!(answer.status, 201, "{}", answer.body);
        let payments = answer.body["data"].as_array().unwrap();
        assert_eq!(payments.len(), 1, "{}", answer.body);
        if let Some(before) = before {
            assert_eq!(payments[0]["paymentId"], json!(before), "the same payment");
        }
        let consent_id = &request.0;
        assert_eq!(
            rows_of(&env, backend, "payments_pix_payment", consent_id).await,
            1
        );
        assert_eq!(
            rows_of(&env, backend, "demo_pix_payment", consent_id).await,
            1
        );
    }
    holder.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holder_process_loses_and_duplicates_no_payment_on_sqlite() {
    crash(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holder_process_loses_and_duplicates_no_payment_on_postgres() {
    crash(Backend::Postgres).await;
}
