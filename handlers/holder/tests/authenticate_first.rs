//! The regulated APIs as mounted by the holder answer what the specs and the certification
//! suites expect before any handler runs: a call without a valid token is 401 whatever else
//! it lacks, a token does not excuse a missing `x-fapi-interaction-id` (400), a wrong method
//! is 405 with `Allow` and the OFB body, and a consent body that breaks the schema answers the
//! 400 the spec gives it (its 422 lists business codes only). Runs on SQLite and PostgreSQL.

#[path = "../../auth/tests/common/mod.rs"]
mod common;
mod world;

use aberta_runtime::gate::Operation;
use common::{Backend, Tpp};
use serde_json::{Value, json};
use world::{World, client_token};

const CONSENTS: &str = "/open-banking/consents/v3/consents";

/// Every API the holder serves whose operations demand a token.
fn protected_apis() -> Vec<(&'static str, &'static [Operation])> {
    vec![
        (
            ofb_consents_v3::server::BASE_PATH,
            ofb_consents_v3::server::OPERATIONS,
        ),
        (
            ofb_resources_v3::server::BASE_PATH,
            ofb_resources_v3::server::OPERATIONS,
        ),
        (
            ofb_customers_v2::server::BASE_PATH,
            ofb_customers_v2::server::OPERATIONS,
        ),
        (
            ofb_accounts_v2::server::BASE_PATH,
            ofb_accounts_v2::server::OPERATIONS,
        ),
        (
            ofb_credit_cards_v2::server::BASE_PATH,
            ofb_credit_cards_v2::server::OPERATIONS,
        ),
        (
            ofb_loans_v2::server::BASE_PATH,
            ofb_loans_v2::server::OPERATIONS,
        ),
        (
            ofb_financings_v2::server::BASE_PATH,
            ofb_financings_v2::server::OPERATIONS,
        ),
        (
            ofb_invoice_financings_v2::server::BASE_PATH,
            ofb_invoice_financings_v2::server::OPERATIONS,
        ),
        (
            ofb_unarranged_accounts_overdraft_v2::server::BASE_PATH,
            ofb_unarranged_accounts_overdraft_v2::server::OPERATIONS,
        ),
        (
            ofb_payments_v4::server::BASE_PATH,
            ofb_payments_v4::server::OPERATIONS,
        ),
    ]
}

/// `/accounts/{accountId}` with a made-up id of the right form.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|seg| match seg {
            "{consentId}" => "urn:bank:id-1",
            _ if seg.starts_with('{') => "id-1",
            _ => seg,
        })
        .collect::<Vec<_>>()
        .join("/")
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn code(&self) -> &str {
        self.body["errors"][0]["code"].as_str().unwrap_or_default()
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let resp = request.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

async fn ready_tpp(world: &World) -> Tpp {
    let mut tpp = world.env.new_tpp(&["DADOS", "PAGTO"]);
    world.env.register(&mut tpp).await;
    tpp
}

async fn token_before_headers(backend: Backend) {
    let world = world::start(backend).await;
    let tpp = ready_tpp(&world).await;
    // Active and bound to the certificate: what the token layer checks before parameters.
    let token = client_token(&tpp, "consents").await;
    let mut checked = 0;
    for (base, operations) in protected_apis() {
        for op in operations.iter().filter(|op| op.secured) {
            let url = format!("{}{base}{}", world.env.issuer(), concrete(op.path));
            let method = reqwest::Method::from_bytes(op.method.as_bytes()).unwrap();
            let what = format!("{} {base}{}", op.method, op.path);

            // No token, no other header, no body.
            let answer = send(tpp.http.request(method.clone(), &url)).await;
            assert_eq!(answer.status, 401, "{what}: {}", answer.body);
            assert_eq!(answer.code(), "UNAUTHORIZED", "{what}: {}", answer.body);
            assert!(!answer.header("x-v").is_empty(), "{what}: x-v");
            assert!(
                !answer.header("x-fapi-interaction-id").is_empty(),
                "{what}: x-fapi-interaction-id"
            );

            // A token that is not active: still 401.
            let answer = send(
                tpp.http
                    .request(method.clone(), &url)
                    .bearer_auth("not-a-token"),
            )
            .await;
            assert_eq!(answer.status, 401, "{what}: {}", answer.body);

            // A valid token without x-fapi-interaction-id: the header check answers.
            let answer = send(tpp.http.request(method, &url).bearer_auth(&token)).await;
            assert_eq!(answer.status, 400, "{what}: {}", answer.body);
            assert_eq!(
                answer.code(),
                "PARAMETRO_NAO_INFORMADO",
                "{what}: {}",
                answer.body
            );
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} operations checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_before_headers_on_sqlite() {
    token_before_headers(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_before_headers_on_postgres() {
    common::postgres_url();
    token_before_headers(Backend::Postgres).await;
}

fn consent_body(cpf: &str) -> Value {
    let expires = (chrono::Utc::now() + chrono::Duration::days(90))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    json!({
        "data": {
            "loggedUser": { "document": { "identification": cpf, "rel": "CPF" } },
            "permissions": [
                "RESOURCES_READ",
                "CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ",
                "CUSTOMERS_PERSONAL_ADITTIONALINFO_READ",
            ],
            "expirationDateTime": expires,
        }
    })
}

async fn consent_errors(backend: Backend) {
    let world = world::start(backend).await;
    let tpp = ready_tpp(&world).await;
    let token = client_token(&tpp, "consents").await;
    let url = format!("{}{CONSENTS}", world.env.issuer());
    let (cpf, _) = world.env.user();
    let post = |body: String| {
        tpp.http
            .post(&url)
            .bearer_auth(&token)
            .header("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())
            .header("content-type", "application/json")
            .body(body)
    };

    let mut null_expiry = consent_body(&cpf);
    null_expiry["data"]["expirationDateTime"] = Value::Null;
    let mut no_user = consent_body(&cpf);
    no_user["data"]
        .as_object_mut()
        .unwrap()
        .remove("loggedUser");
    let cases = [
        (
            null_expiry.to_string(),
            "PARAMETRO_INVALIDO",
            "expirationDateTime",
        ),
        (no_user.to_string(), "PARAMETRO_NAO_INFORMADO", "loggedUser"),
        ("{\"data\":".to_string(), "PARAMETRO_INVALIDO", ""),
    ];
    for (body, code, field) in cases {
        let answer = send(post(body.clone())).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert_eq!(answer.code(), code, "{body}: {}", answer.body);
        let detail = answer.body["errors"][0]["detail"]
            .as_str()
            .unwrap_or_default();
        assert!(detail.contains(field), "{body}: {}", answer.body);
        assert_eq!(answer.header("x-v"), "3.3.1");
    }
    // The same body with the field absent is fine (the default expiry applies).
    let mut absent = consent_body(&cpf);
    absent["data"]
        .as_object_mut()
        .unwrap()
        .remove("expirationDateTime");
    let answer = send(post(absent.to_string())).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let consent_id = answer.body["data"]["consentId"]
        .as_str()
        .unwrap()
        .to_string();

    // Extending with a body that omits loggedUser: 400 too.
    let answer = send(
        tpp.http
            .post(format!("{url}/{consent_id}/extends"))
            .bearer_auth(&token)
            .header("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())
            .header("x-customer-user-agent", "test")
            .header("x-fapi-customer-ip-address", "10.0.0.1")
            .json(&json!({ "data": { "expirationDateTime": "2099-01-01T00:00:00Z" } })),
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.code(), "PARAMETRO_NAO_INFORMADO", "{}", answer.body);

    // A method the path does not serve.
    let id = uuid::Uuid::new_v4().to_string();
    let answer = send(
        tpp.http
            .put(&url)
            .bearer_auth(&token)
            .header("x-fapi-interaction-id", &id),
    )
    .await;
    assert_eq!(answer.status, 405, "{}", answer.body);
    assert_eq!(answer.header("allow"), "POST");
    assert_eq!(answer.header("x-v"), "3.3.1");
    assert_eq!(answer.header("x-fapi-interaction-id"), id);
    assert!(
        answer
            .header("content-type")
            .starts_with("application/json"),
        "{:?}",
        answer.headers
    );
    assert_eq!(answer.code(), "METODO_NAO_PERMITIDO", "{}", answer.body);
    let answer = send(
        tpp.http
            .patch(format!("{url}/{consent_id}"))
            .bearer_auth(&token)
            .header("x-fapi-interaction-id", &id),
    )
    .await;
    assert_eq!(answer.status, 405, "{}", answer.body);
    assert_eq!(answer.header("allow"), "GET, DELETE");
    // The accounts errors carry the paged meta their schema requires.
    let answer = send(tpp.http.post(format!(
        "{}/open-banking/accounts/v2/accounts",
        world.env.issuer()
    )))
    .await;
    assert_eq!(answer.status, 405, "{}", answer.body);
    assert_eq!(answer.header("allow"), "GET");
    assert_eq!(answer.body["meta"]["totalRecords"], 1, "{}", answer.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_errors_on_sqlite() {
    consent_errors(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_errors_on_postgres() {
    common::postgres_url();
    consent_errors(Backend::Postgres).await;
}
