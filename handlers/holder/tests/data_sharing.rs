//! The data-sharing journey as a TPP makes it, over mutual TLS against the assembled account
//! holder (authorization server, consents v3, data APIs, demo bank): DCR, a consent, its
//! authorisation through the portal's forms, every data API with pagination, then the negative
//! paths the certification modules check. Runs on SQLite and PostgreSQL.

#[path = "../../auth/tests/common/mod.rs"]
mod common;

use aberta_holder::sandbox::Holder;
use common::{Backend, Env, Tpp};
use serde_json::{Value, json};
use tokio::net::TcpListener;

const CONSENTS: &str = "/open-banking/consents/v3/consents";
const RESOURCES: &str = "/open-banking/resources/v3/resources";
const ACCOUNTS: &str = "/open-banking/accounts/v2/accounts";

/// Every permission of the PF data groups this installation offers.
const PF_PERMISSIONS: &[&str] = &[
    "RESOURCES_READ",
    "CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ",
    "CUSTOMERS_PERSONAL_ADITTIONALINFO_READ",
    "ACCOUNTS_READ",
    "ACCOUNTS_BALANCES_READ",
    "ACCOUNTS_TRANSACTIONS_READ",
    "ACCOUNTS_OVERDRAFT_LIMITS_READ",
    "CREDIT_CARDS_ACCOUNTS_READ",
    "CREDIT_CARDS_ACCOUNTS_BILLS_READ",
    "CREDIT_CARDS_ACCOUNTS_BILLS_TRANSACTIONS_READ",
    "CREDIT_CARDS_ACCOUNTS_LIMITS_READ",
    "CREDIT_CARDS_ACCOUNTS_TRANSACTIONS_READ",
    "LOANS_READ",
    "LOANS_WARRANTIES_READ",
    "LOANS_SCHEDULED_INSTALMENTS_READ",
    "LOANS_PAYMENTS_READ",
    "FINANCINGS_READ",
    "FINANCINGS_WARRANTIES_READ",
    "FINANCINGS_SCHEDULED_INSTALMENTS_READ",
    "FINANCINGS_PAYMENTS_READ",
    "UNARRANGED_ACCOUNTS_OVERDRAFT_READ",
    "UNARRANGED_ACCOUNTS_OVERDRAFT_WARRANTIES_READ",
    "UNARRANGED_ACCOUNTS_OVERDRAFT_SCHEDULED_INSTALMENTS_READ",
    "UNARRANGED_ACCOUNTS_OVERDRAFT_PAYMENTS_READ",
    "INVOICE_FINANCINGS_READ",
    "INVOICE_FINANCINGS_WARRANTIES_READ",
    "INVOICE_FINANCINGS_SCHEDULED_INSTALMENTS_READ",
    "INVOICE_FINANCINGS_PAYMENTS_READ",
];

/// Only registration data: no product the data APIs serve.
const CUSTOMER_ONLY: &[&str] = &[
    "RESOURCES_READ",
    "CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ",
    "CUSTOMERS_PERSONAL_ADITTIONALINFO_READ",
];

struct World {
    env: Env,
    holder: Holder,
}

async fn start(backend: Backend) -> World {
    let (env, listener) = common::prepare(backend).await;
    let internal = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = common::database_url(backend);
    let holder = aberta_holder::sandbox::start(
        env.dir.path(),
        &env.contract,
        listener,
        internal,
        url.as_deref(),
    )
    .await
    .unwrap();
    World { env, holder }
}

fn interaction_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A response as the tests look at it.
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

    fn error_codes(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["code"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

async fn call(
    tpp: &Tpp,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<&Value>,
    headers: &[(&str, String)],
) -> Answer {
    let mut request = tpp.http.request(method, url).bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let resp = request.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{url}: not JSON: {text}"))
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// GET with a fresh interaction id, checking it is echoed.
async fn get(tpp: &Tpp, base: &str, path: &str, token: &str) -> Answer {
    let id = interaction_id();
    let answer = call(
        tpp,
        reqwest::Method::GET,
        &format!("{base}{path}"),
        token,
        None,
        &[("x-fapi-interaction-id", id.clone())],
    )
    .await;
    assert_eq!(answer.header("x-fapi-interaction-id"), id, "{path}: echo");
    answer
}

async fn client_token(tpp: &Tpp, scope: &str) -> String {
    let (status, body) = tpp
        .token(&[("grant_type", "client_credentials"), ("scope", scope)])
        .await;
    assert_eq!(status, 200, "client_credentials: {body}");
    body["access_token"].as_str().unwrap().to_string()
}

fn consent_body(cpf: &str, permissions: &[&str]) -> Value {
    let expires = (chrono::Utc::now() + chrono::Duration::days(90))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    json!({
        "data": {
            "loggedUser": { "document": { "identification": cpf, "rel": "CPF" } },
            "permissions": permissions,
            "expirationDateTime": expires,
        }
    })
}

async fn create_consent(world: &World, tpp: &Tpp, permissions: &[&str]) -> String {
    let token = client_token(tpp, "consents").await;
    let (cpf, _) = world.env.user();
    let answer = call(
        tpp,
        reqwest::Method::POST,
        &format!("{}{CONSENTS}", world.env.issuer()),
        &token,
        Some(&consent_body(&cpf, permissions)),
        &[("x-fapi-interaction-id", interaction_id())],
    )
    .await;
    assert_eq!(answer.status, 201, "create consent: {}", answer.body);
    assert_eq!(answer.header("x-v"), "3.3.1");
    assert_eq!(answer.body["data"]["status"], "AWAITING_AUTHORISATION");
    answer.body["data"]["consentId"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Authorises `consent_id` through the portal and exchanges the code: (access, refresh).
async fn authorise(world: &World, tpp: &Tpp, consent_id: &str, scope: &str) -> (String, String) {
    let verifier = common::verifier();
    let (status, par) = tpp
        .par(tpp.request_claims(&format!("openid {scope} consent:{consent_id}"), &verifier))
        .await;
    assert_eq!(status, 201, "PAR: {par}");
    let (cpf, password) = world.env.user();
    let fragment = common::authorize_as_user(
        &world.env,
        tpp,
        par["request_uri"].as_str().unwrap(),
        (&cpf, &password),
        true,
    )
    .await;
    let (status, tokens) = common::exchange(tpp, &fragment["code"], &verifier).await;
    assert_eq!(status, 200, "code exchange: {tokens}");
    (
        tokens["access_token"].as_str().unwrap().to_string(),
        tokens["refresh_token"].as_str().unwrap().to_string(),
    )
}

/// Parses a body into the generated model and checks it against the spec's constraints.
fn valid<T: serde::de::DeserializeOwned + aberta_runtime::Validate>(what: &str, body: &Value) {
    let parsed: T = serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("{what}: does not parse as the spec's model: {e}\n{body}"));
    let mut v = aberta_runtime::Validator::new();
    parsed.validate(&mut v);
    let violations = v.finish();
    assert!(
        violations.is_ok(),
        "{what}: breaks the spec: {violations:?}\n{body}"
    );
}

async fn ready_tpp(world: &World) -> Tpp {
    let mut tpp = world.env.new_tpp(&["DADOS"]);
    world.env.register(&mut tpp).await;
    tpp
}

async fn journey(backend: Backend) {
    let world = start(backend).await;
    let base = world.env.issuer().to_string();
    let tpp = ready_tpp(&world).await;
    let consent_id = create_consent(&world, &tpp, PF_PERMISSIONS).await;
    let consents_token = client_token(&tpp, "consents").await;
    let (token, refresh) = authorise(
        &world,
        &tpp,
        &consent_id,
        "accounts credit-cards-accounts customers loans financings invoice-financings unarranged-accounts-overdraft resources",
    )
    .await;

    // The consent is authorised.
    let read = get(
        &tpp,
        &base,
        &format!("{CONSENTS}/{consent_id}"),
        &consents_token,
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["data"]["status"], "AUTHORISED");
    valid::<ofb_consents_v3::models::ResponseConsentRead>("consent", &read.body);

    // Resources: the linked ones, with the unavailable one marked.
    let resources = get(&tpp, &base, RESOURCES, &token).await;
    assert_eq!(resources.status, 200, "{}", resources.body);
    assert_eq!(resources.header("x-v"), "3.1.0");
    valid::<ofb_resources_v3::models::ResponseResourceList>("resources", &resources.body);
    let listed = resources.body["data"].as_array().unwrap().clone();
    assert!(listed.iter().any(|r| r["type"] == "ACCOUNT"));
    let unavailable = listed.iter().find(|r| r["status"] != "AVAILABLE").map(|r| {
        (
            r["type"].as_str().unwrap().to_string(),
            r["resourceId"].as_str().unwrap().to_string(),
        )
    });

    // Accounts, and every page of one account's transactions.
    let accounts = get(&tpp, &base, ACCOUNTS, &token).await;
    assert_eq!(accounts.status, 200, "{}", accounts.body);
    assert_eq!(accounts.header("x-v"), "2.4.2");
    valid::<ofb_accounts_v2::models::ResponseAccountList>("accounts", &accounts.body);
    let account_id = accounts.body["data"][0]["accountId"]
        .as_str()
        .unwrap()
        .to_string();
    for path in ["", "/balances", "/overdraft-limits"] {
        let one = get(
            &tpp,
            &base,
            &format!("{ACCOUNTS}/{account_id}{path}"),
            &token,
        )
        .await;
        assert_eq!(one.status, 200, "{path}: {}", one.body);
    }
    // Without dates the spec means today; ask for the last ten months.
    let today = (chrono::Utc::now() - chrono::Duration::hours(3)).date_naive();
    let from = today - chrono::Duration::days(300);
    let first = get(
        &tpp,
        &base,
        &format!(
            "{ACCOUNTS}/{account_id}/transactions?fromBookingDate={from}&toBookingDate={today}&page-size=10"
        ),
        &token,
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.body);
    valid::<ofb_accounts_v2::models::ResponseAccountTransactions>("transactions", &first.body);
    assert_eq!(first.body["data"].as_array().unwrap().len(), 10);
    let mut seen = 10;
    let mut next = first.body["links"]["next"].as_str().map(str::to_owned);
    assert!(
        next.is_some(),
        "more than 25 transactions, so a next page: {}",
        first.body["links"]
    );
    while let Some(url) = next {
        let path = url
            .strip_prefix(&base)
            .expect("links are absolute, on our host");
        let page = get(&tpp, &base, path, &token).await;
        assert_eq!(page.status, 200, "{}", page.body);
        seen += page.body["data"].as_array().unwrap().len();
        next = page.body["links"]["next"].as_str().map(str::to_owned);
    }
    assert!(seen > 25, "seen {seen} transactions");
    let current = get(
        &tpp,
        &base,
        &format!("{ACCOUNTS}/{account_id}/transactions-current"),
        &token,
    )
    .await;
    assert_eq!(current.status, 200, "{}", current.body);

    // Cards, credit operations and customer data answer too.
    let cards = get(
        &tpp,
        &base,
        "/open-banking/credit-cards-accounts/v2/accounts",
        &token,
    )
    .await;
    assert_eq!(cards.status, 200, "{}", cards.body);
    let loans = get(&tpp, &base, "/open-banking/loans/v2/contracts", &token).await;
    assert_eq!(loans.status, 200, "{}", loans.body);
    let me = get(
        &tpp,
        &base,
        "/open-banking/customers/v2/personal/identifications",
        &token,
    )
    .await;
    assert_eq!(me.status, 200, "{}", me.body);

    // Negative paths.
    let big = get(&tpp, &base, &format!("{ACCOUNTS}?page-size=1001"), &token).await;
    assert_eq!(big.status, 422, "page-size 1001: {}", big.body);
    let ok_max = get(&tpp, &base, &format!("{ACCOUNTS}?page-size=1000"), &token).await;
    assert_eq!(ok_max.status, 200, "page-size 1000: {}", ok_max.body);
    let no_id = call(
        &tpp,
        reqwest::Method::GET,
        &format!("{base}{ACCOUNTS}"),
        &token,
        None,
        &[],
    )
    .await;
    assert_eq!(no_id.status, 400, "missing interaction id: {}", no_id.body);
    if let Some((kind, id)) = unavailable {
        let path = match kind.as_str() {
            "ACCOUNT" => format!("{ACCOUNTS}/{id}"),
            "CREDIT_CARD_ACCOUNT" => {
                format!("/open-banking/credit-cards-accounts/v2/accounts/{id}")
            }
            "LOAN" => format!("/open-banking/loans/v2/contracts/{id}"),
            other => panic!("unexpected unavailable type {other}"),
        };
        let refused = get(&tpp, &base, &path, &token).await;
        assert_eq!(
            refused.status, 403,
            "unavailable resource: {}",
            refused.body
        );
    } else {
        panic!("the demo bank seeds an unavailable resource");
    }
    // Another client cannot read the consent.
    let other = ready_tpp(&world).await;
    let other_token = client_token(&other, "consents").await;
    let foreign = get(
        &other,
        &base,
        &format!("{CONSENTS}/{consent_id}"),
        &other_token,
    )
    .await;
    assert_eq!(
        foreign.status, 403,
        "another client's consent: {}",
        foreign.body
    );
    // Nor use its token (bound to the first client's certificate).
    let stolen = get(&other, &base, ACCOUNTS, &token).await;
    assert_eq!(
        stolen.status, 401,
        "token on another certificate: {}",
        stolen.body
    );

    // The TPP revokes: the next call is 401 and the refresh token is dead.
    let deleted = call(
        &tpp,
        reqwest::Method::DELETE,
        &format!("{base}{CONSENTS}/{consent_id}"),
        &consents_token,
        None,
        &[("x-fapi-interaction-id", interaction_id())],
    )
    .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let after = get(&tpp, &base, ACCOUNTS, &token).await;
    assert_eq!(after.status, 401, "after revocation: {}", after.body);
    let (status, body) = tpp
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(status, 400, "refresh after revocation: {body}");
    assert_eq!(body["error"], "invalid_grant");
    let again = call(
        &tpp,
        reqwest::Method::DELETE,
        &format!("{base}{CONSENTS}/{consent_id}"),
        &consents_token,
        None,
        &[("x-fapi-interaction-id", interaction_id())],
    )
    .await;
    assert_eq!(again.status, 422, "{}", again.body);
    assert_eq!(again.error_codes(), ["CONSENTIMENTO_EM_STATUS_REJEITADO"]);

    // A customer-data-only consent: resources is empty, accounts is forbidden.
    let narrow = create_consent(&world, &tpp, CUSTOMER_ONLY).await;
    let (narrow_token, _) = authorise(&world, &tpp, &narrow, "accounts customers resources").await;
    let empty = get(&tpp, &base, RESOURCES, &narrow_token).await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(empty.body["data"], json!([]));
    let forbidden = get(&tpp, &base, ACCOUNTS, &narrow_token).await;
    assert_eq!(
        forbidden.status, 403,
        "wrong permissions: {}",
        forbidden.body
    );

    world.holder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_sharing_journey_on_sqlite() {
    journey(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_sharing_journey_on_postgres() {
    common::postgres_url();
    journey(Backend::Postgres).await;
}
