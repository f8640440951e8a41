//! The data-sharing journey as a TPP makes it, over mutual TLS against the assembled account
//! holder (authorization server, consents v3, data APIs, demo bank): DCR, a consent, its
//! authorisation through the portal's forms, every data API with pagination, then the negative
//! paths the certification modules check. Runs on SQLite and PostgreSQL.

#[path = "../../auth/tests/common/mod.rs"]
mod common;
mod world;

use aberta_data::OperationalLimits;
use common::{Backend, Tpp};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, OnceLock};
use world::{PF_PERMISSIONS, World, client_token};

/// Everything every test in this binary logs, at debug level, for the personal-data check.
fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        // As the binary logs (JSON lines), but unmasked: the check below is on what the code
        // writes, not on what the mask catches.
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_ansi(false)
            .json()
            .with_current_span(true)
            .with_writer(move || Captured(sink.clone()))
            .init();
        buffer
    })
}

struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const CONSENTS: &str = "/open-banking/consents/v3/consents";
const RESOURCES: &str = "/open-banking/resources/v3/resources";
const ACCOUNTS: &str = "/open-banking/accounts/v2/accounts";

/// Only registration data: no product the data APIs serve.
const CUSTOMER_ONLY: &[&str] = &[
    "RESOURCES_READ",
    "CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ",
    "CUSTOMERS_PERSONAL_ADITTIONALINFO_READ",
];

async fn start(backend: Backend) -> World {
    start_with_limits(backend, OperationalLimits::disabled()).await
}

/// [`start`], the holder on a database of its own.
async fn start_alone(backend: Backend) -> World {
    captured_logs();
    world::start_alone(backend).await
}

async fn start_with_limits(backend: Backend, limits: OperationalLimits) -> World {
    captured_logs();
    world::start_with_limits(backend, limits).await
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

/// The company the fourth demo user represents.
const COMPANY: &str = "45678901000175";
/// The PF data groups with the business customer data in place of the personal.
fn business_permissions() -> Vec<&'static str> {
    PF_PERMISSIONS
        .iter()
        .map(|p| match *p {
            "CUSTOMERS_PERSONAL_IDENTIFICATIONS_READ" => "CUSTOMERS_BUSINESS_IDENTIFICATIONS_READ",
            "CUSTOMERS_PERSONAL_ADITTIONALINFO_READ" => "CUSTOMERS_BUSINESS_ADITTIONALINFO_READ",
            other => other,
        })
        .collect()
}

/// Every data scope the journey's tokens ask for.
const DATA_SCOPES: &str = "accounts credit-cards-accounts customers loans financings invoice-financings unarranged-accounts-overdraft resources";

fn business_body(cpf: &str, cnpj: &str, permissions: &[&str]) -> Value {
    let mut body = consent_body(cpf, permissions);
    body["data"]["businessEntity"] =
        json!({ "document": { "identification": cnpj, "rel": "CNPJ" } });
    body
}

async fn create_consent(world: &World, tpp: &Tpp, permissions: &[&str]) -> String {
    let (cpf, _) = world.env.user();
    create_consent_for(world, tpp, consent_body(&cpf, permissions)).await
}

async fn create_consent_for(world: &World, tpp: &Tpp, body: Value) -> String {
    let token = client_token(tpp, "consents").await;
    let answer = call(
        tpp,
        reqwest::Method::POST,
        &format!("{}{CONSENTS}", world.env.issuer()),
        &token,
        Some(&body),
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
    let (cpf, password) = world.env.user();
    authorise_as(world, tpp, consent_id, scope, (&cpf, &password)).await
}

/// Authorises `consent_id` as `user` (CPF, password) through the portal.
async fn authorise_as(
    world: &World,
    tpp: &Tpp,
    consent_id: &str,
    scope: &str,
    (cpf, password): (&str, &str),
) -> (String, String) {
    let verifier = common::verifier();
    let (status, par) = tpp
        .par(tpp.request_claims(&format!("openid {scope} consent:{consent_id}"), &verifier))
        .await;
    assert_eq!(status, 201, "PAR: {par}");
    let fragment = common::authorize_as_user(
        &world.env,
        tpp,
        par["request_uri"].as_str().unwrap(),
        (cpf, password),
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

/// The body as a production host would have written it. Some specs pattern `links` after a
/// DNS name with a top-level domain, which a sandbox on a loopback address has not: every link
/// must start with the sandbox's own origin, and that origin alone is swapped for a public one
/// before the body meets the spec's patterns.
fn as_on_a_public_host(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(links) = body.get_mut("links").and_then(Value::as_object_mut) {
        for link in links.values_mut() {
            let Some(url) = link.as_str() else { continue };
            let rest = url
                .strip_prefix("https://")
                .and_then(|u| u.split_once('/'))
                .map(|(host, path)| (host.to_string(), path.to_string()));
            let (host, path) = rest.unwrap_or_else(|| panic!("link not absolute https: {url}"));
            assert!(
                host.starts_with("127.0.0.1:") || host.starts_with("localhost:"),
                "link on a foreign host: {url}"
            );
            *link = json!(format!("https://api.banco.com.br/{path}"));
        }
    }
    body
}

/// Parses a body into the generated model and checks it against the spec's constraints.
fn valid<T: serde::de::DeserializeOwned + aberta_runtime::Validate>(what: &str, body: &Value) {
    let parsed: T = serde_json::from_value(as_on_a_public_host(body))
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

/// Today as the data APIs count it (Brasília, UTC-3), and the first day of a year back.
fn last_year() -> (chrono::NaiveDate, chrono::NaiveDate) {
    let today = (chrono::Utc::now() - chrono::Duration::hours(3)).date_naive();
    (today - chrono::Duration::days(360), today)
}

/// GET that must answer 200 with a body that is the spec's `T`; returns the body.
async fn read<T>(tpp: &Tpp, base: &str, path: &str, token: &str) -> Value
where
    T: serde::de::DeserializeOwned + aberta_runtime::Validate,
{
    let answer = get(tpp, base, path, token).await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    valid::<T>(path, &answer.body);
    answer.body
}

/// The ids a list's `data[]` carries under `field`.
fn ids(list: &Value, field: &str) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap().to_string())
        .collect()
}

/// Reads every endpoint of one credit-operation API (loans, financings, invoice financings,
/// unarranged overdraft) for each contract its list gives, each body against its model.
macro_rules! crawl_contracts {
    ($tpp:expr, $base:expr, $token:expr, $prefix:literal, $api:ident, $list:ident, $one:ident, $warranties:ident, $instalments:ident, $payments:ident) => {{
        use $api::models as m;
        let list = read::<m::$list>($tpp, $base, concat!($prefix, "/contracts"), $token).await;
        let contracts = ids(&list, "contractId");
        for id in &contracts {
            let one = format!("{}/contracts/{id}", $prefix);
            read::<m::$one>($tpp, $base, &one, $token).await;
            read::<m::$warranties>($tpp, $base, &format!("{one}/warranties"), $token).await;
            read::<m::$instalments>($tpp, $base, &format!("{one}/scheduled-instalments"), $token)
                .await;
            read::<m::$payments>($tpp, $base, &format!("{one}/payments"), $token).await;
        }
        1 + 4 * contracts.len()
    }};
}

/// Walks every data API the consent reaches from its lists down to each product's last
/// sub-resource, checking every body against the generated model of the official schema.
/// Returns how many bodies were checked.
async fn crawl(tpp: &Tpp, base: &str, token: &str, personal: bool) -> usize {
    let (from, today) = last_year();
    let mut checked = 0;

    let customers = if personal { "personal" } else { "business" };
    for part in ["identifications", "qualifications", "financial-relations"] {
        let path = format!("/open-banking/customers/v2/{customers}/{part}");
        use ofb_customers_v2::models as m;
        match (personal, part) {
            (true, "identifications") => {
                read::<m::ResponsePersonalCustomersIdentification>(tpp, base, &path, token).await
            }
            (true, "qualifications") => {
                read::<m::ResponsePersonalCustomersQualification>(tpp, base, &path, token).await
            }
            (true, _) => {
                read::<m::ResponsePersonalCustomersFinancialRelation>(tpp, base, &path, token).await
            }
            (false, "identifications") => {
                read::<m::ResponseBusinessCustomersIdentification>(tpp, base, &path, token).await
            }
            (false, "qualifications") => {
                read::<m::ResponseBusinessCustomersQualification>(tpp, base, &path, token).await
            }
            (false, _) => {
                read::<m::ResponseBusinessCustomersFinancialRelation>(tpp, base, &path, token).await
            }
        };
        checked += 1;
    }

    {
        use ofb_accounts_v2::models as m;
        let list = read::<m::ResponseAccountList>(tpp, base, ACCOUNTS, token).await;
        let accounts = ids(&list, "accountId");
        assert!(!accounts.is_empty(), "the demo seeds accounts");
        for id in &accounts {
            let one = format!("{ACCOUNTS}/{id}");
            read::<m::ResponseAccountIdentification>(tpp, base, &one, token).await;
            read::<m::ResponseAccountBalances>(tpp, base, &format!("{one}/balances"), token).await;
            read::<m::ResponseAccountOverdraftLimits>(
                tpp,
                base,
                &format!("{one}/overdraft-limits"),
                token,
            )
            .await;
            read::<m::ResponseAccountTransactions>(
                tpp,
                base,
                &format!(
                    "{one}/transactions?fromBookingDate={from}&toBookingDate={today}&page-size=1000"
                ),
                token,
            )
            .await;
            read::<m::ResponseAccountTransactions>(
                tpp,
                base,
                &format!("{one}/transactions-current"),
                token,
            )
            .await;
        }
        checked += 1 + 5 * accounts.len();
    }

    {
        use ofb_credit_cards_v2::models as m;
        const CARDS: &str = "/open-banking/credit-cards-accounts/v2/accounts";
        let list = read::<m::ResponseCreditCardAccountsList>(tpp, base, CARDS, token).await;
        let cards = ids(&list, "creditCardAccountId");
        checked += 1;
        for id in &cards {
            let one = format!("{CARDS}/{id}");
            read::<m::ResponseCreditCardAccountsIdentification>(tpp, base, &one, token).await;
            read::<m::ResponseCreditCardAccountsLimits>(tpp, base, &format!("{one}/limits"), token)
                .await;
            read::<m::ResponseCreditCardAccountsTransactions>(
                tpp,
                base,
                &format!(
                    "{one}/transactions?fromTransactionDate={from}&toTransactionDate={today}&page-size=1000"
                ),
                token,
            )
            .await;
            read::<m::ResponseCreditCardAccountsTransactions>(
                tpp,
                base,
                &format!("{one}/transactions-current"),
                token,
            )
            .await;
            let bills = read::<m::ResponseCreditCardAccountsBills>(
                tpp,
                base,
                &format!("{one}/bills?fromDueDate={from}&toDueDate={today}"),
                token,
            )
            .await;
            let bill_ids = ids(&bills, "billId");
            for bill in &bill_ids {
                read::<m::ResponseCreditCardAccountsTransactions>(
                    tpp,
                    base,
                    &format!("{one}/bills/{bill}/transactions"),
                    token,
                )
                .await;
            }
            checked += 5 + bill_ids.len();
        }
    }

    checked += crawl_contracts!(
        tpp,
        base,
        token,
        "/open-banking/loans/v2",
        ofb_loans_v2,
        ResponseLoansContractList,
        ResponseLoansContract,
        ResponseLoansWarranties,
        ResponseLoansInstalments,
        ResponseLoansPayments
    );
    checked += crawl_contracts!(
        tpp,
        base,
        token,
        "/open-banking/financings/v2",
        ofb_financings_v2,
        ResponseFinancingsContractList,
        ResponseFinancingsContract,
        ResponseFinancingsWarranties,
        ResponseFinancingsInstalments,
        ResponseFinancingsPayments
    );
    checked += crawl_contracts!(
        tpp,
        base,
        token,
        "/open-banking/invoice-financings/v2",
        ofb_invoice_financings_v2,
        ResponseInvoiceFinancingsContractList,
        ResponseInvoiceFinancingsContract,
        ResponseInvoiceFinancingsWarranties,
        ResponseInvoiceFinancingsInstalments,
        ResponseInvoiceFinancingsPayments
    );
    checked += crawl_contracts!(
        tpp,
        base,
        token,
        "/open-banking/unarranged-accounts-overdraft/v2",
        ofb_unarranged_accounts_overdraft_v2,
        ResponseUnarrangedAccountOverdraftContractList,
        ResponseUnarrangedAccountOverdraftContract,
        ResponseUnarrangedAccountOverdraftWarranties,
        ResponseUnarrangedAccountOverdraftInstalments,
        ResponseUnarrangedAccountOverdraftPayments
    );
    checked
}

/// An error answer: the status, the spec's error body, and the code wanted.
fn refused(what: &str, answer: &Answer, status: u16, code: Option<&str>) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    valid::<aberta_runtime::shared::ResponseError>(what, &answer.body);
    if let Some(code) = code {
        assert_eq!(answer.error_codes(), [code], "{what}");
    }
}

/// Resources, polling while the bank is still assembling the list (`202 Accepted`).
async fn poll_resources(tpp: &Tpp, base: &str, token: &str) -> Answer {
    for _ in 0..20 {
        let answer = get(tpp, base, RESOURCES, token).await;
        if answer.status != 202 {
            return answer;
        }
        assert_eq!(answer.header("x-v"), "3.1.0");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("resources still 202 after 5 s");
}

async fn journey(backend: Backend) {
    let world = start_alone(backend).await;
    let base = world.env.issuer().to_string();
    let tpp = ready_tpp(&world).await;
    let consent_id = create_consent(&world, &tpp, PF_PERMISSIONS).await;
    let consents_token = client_token(&tpp, "consents").await;
    let (token, refresh) = authorise(&world, &tpp, &consent_id, DATA_SCOPES).await;

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
    // Renewals: a page-size under 25 is read as 25, as the parameter's description says.
    let renewals = get(
        &tpp,
        &base,
        &format!("{CONSENTS}/{consent_id}/extensions?page-size=10"),
        &consents_token,
    )
    .await;
    assert_eq!(renewals.status, 200, "{}", renewals.body);
    valid::<ofb_consents_v3::models::ResponseConsentReadExtensions>("renewals", &renewals.body);
    assert!(
        renewals.body["links"]["self"]
            .as_str()
            .unwrap()
            .contains("page-size=25"),
        "{}",
        renewals.body["links"]
    );

    // Resources: the linked ones, with the unavailable one marked.
    let resources = poll_resources(&tpp, &base, &token).await;
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
    assert!(
        next.as_deref().unwrap().contains("pagination-key="),
        "the next page is a re-call: {}",
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

    // Every other endpoint, each body against the spec's model.
    let checked = crawl(&tpp, &base, &token, true).await;
    assert!(checked > 40, "only {checked} bodies checked");

    // Negative paths.
    let big = get(&tpp, &base, &format!("{ACCOUNTS}?page-size=1001"), &token).await;
    refused("page-size 1001", &big, 422, None);
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
    refused("missing interaction id", &no_id, 400, None);
    assert!(
        uuid::Uuid::parse_str(no_id.header("x-fapi-interaction-id")).is_ok(),
        "one is made up for the answer"
    );
    if let Some((kind, id)) = unavailable {
        let path = match kind.as_str() {
            "ACCOUNT" => format!("{ACCOUNTS}/{id}"),
            "CREDIT_CARD_ACCOUNT" => {
                format!("/open-banking/credit-cards-accounts/v2/accounts/{id}")
            }
            "LOAN" => format!("/open-banking/loans/v2/contracts/{id}"),
            other => panic!("unexpected unavailable type {other}"),
        };
        let answer = get(&tpp, &base, &path, &token).await;
        refused("unavailable resource", &answer, 403, None);
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
    refused("another client's consent", &foreign, 403, None);
    // Nor use its token (bound to the first client's certificate).
    let stolen = get(&other, &base, ACCOUNTS, &token).await;
    refused("token on another certificate", &stolen, 401, None);

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
    refused("after revocation", &after, 401, None);
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
    valid::<ofb_consents_v3::models::ResponseErrorUnprocessableEntityDelete>(
        "delete twice",
        &again.body,
    );
    assert_eq!(again.error_codes(), ["CONSENTIMENTO_EM_STATUS_REJEITADO"]);

    // A customer-data-only consent: resources is empty, accounts is forbidden.
    let narrow = create_consent(&world, &tpp, CUSTOMER_ONLY).await;
    let (narrow_token, _) = authorise(&world, &tpp, &narrow, "accounts customers resources").await;
    let empty = poll_resources(&tpp, &base, &narrow_token).await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(empty.body["data"], json!([]));
    let forbidden = get(&tpp, &base, ACCOUNTS, &narrow_token).await;
    refused("wrong permissions", &forbidden, 403, None);

    // A business consent, authorised by the company's representative: the business customer
    // APIs and the company's products, every body checked.
    let business = ready_tpp(&world).await;
    let company = world.env.contract.users[3].clone();
    let consent_id = create_consent_for(
        &world,
        &business,
        business_body(&company.cpf, COMPANY, &business_permissions()),
    )
    .await;
    let (business_token, _) = authorise_as(
        &world,
        &business,
        &consent_id,
        DATA_SCOPES,
        (&company.cpf, &company.password),
    )
    .await;
    let listed = poll_resources(&business, &base, &business_token).await;
    valid::<ofb_resources_v3::models::ResponseResourceList>("business resources", &listed.body);
    let checked = crawl(&business, &base, &business_token, false).await;
    assert!(checked > 10, "only {checked} business bodies checked");
    let personal = get(
        &business,
        &base,
        "/open-banking/customers/v2/personal/identifications",
        &business_token,
    )
    .await;
    refused("personal data on a business consent", &personal, 403, None);
    // Identifications need a record on every page (`minItems: 1`): past the last, a 422.
    let past = get(
        &business,
        &base,
        "/open-banking/customers/v2/business/identifications?page=2",
        &business_token,
    )
    .await;
    refused(
        "a page past the last",
        &past,
        422,
        Some("PARAMETRO_INVALIDO"),
    );

    let store = world.holder.store.clone();
    world.holder.shutdown().await;
    // At rest, after the run: no customer's data in clear.
    world::assert_nothing_in_clear(&world.env, &store, &world::seeded_personal_data()).await;
}

/// A consent that reaches its end date: the next data call is 401, the consent reads
/// REJECTED by the ASPSP with `CONSENT_MAX_DATE_REACHED`, and revoking it is a 422.
async fn expired_consent(backend: Backend) {
    let world = start(backend).await;
    let base = world.env.issuer().to_string();
    let tpp = ready_tpp(&world).await;
    let (cpf, password) = world.env.user();
    const LIFETIME_S: i64 = 8;
    let end = chrono::Utc::now() + chrono::Duration::seconds(LIFETIME_S);
    let mut body = consent_body(&cpf, PF_PERMISSIONS);
    body["data"]["expirationDateTime"] = json!(end.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    let consent_id = create_consent_for(&world, &tpp, body).await;
    let (token, refresh) = authorise_as(
        &world,
        &tpp,
        &consent_id,
        "accounts resources",
        (&cpf, &password),
    )
    .await;
    let before = get(&tpp, &base, ACCOUNTS, &token).await;
    assert_eq!(before.status, 200, "before the end date: {}", before.body);

    let wait = (end - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + std::time::Duration::from_secs(2)).await;

    let after = get(&tpp, &base, ACCOUNTS, &token).await;
    refused("after the end date", &after, 401, None);
    let consents_token = client_token(&tpp, "consents").await;
    let read = get(
        &tpp,
        &base,
        &format!("{CONSENTS}/{consent_id}"),
        &consents_token,
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.body);
    valid::<ofb_consents_v3::models::ResponseConsentRead>("expired consent", &read.body);
    assert_eq!(read.body["data"]["status"], "REJECTED");
    assert_eq!(read.body["data"]["rejection"]["rejectedBy"], "ASPSP");
    assert_eq!(
        read.body["data"]["rejection"]["reason"]["code"],
        "CONSENT_MAX_DATE_REACHED"
    );
    let (status, body) = tpp
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(status, 400, "refresh after the end date: {body}");
    let delete = call(
        &tpp,
        reqwest::Method::DELETE,
        &format!("{base}{CONSENTS}/{consent_id}"),
        &consents_token,
        None,
        &[("x-fapi-interaction-id", interaction_id())],
    )
    .await;
    assert_eq!(delete.status, 422, "{}", delete.body);
    assert_eq!(delete.error_codes(), ["CONSENTIMENTO_EM_STATUS_REJEITADO"]);

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_consent_on_sqlite() {
    expired_consent(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_consent_on_postgres() {
    common::postgres_url();
    expired_consent(Backend::Postgres).await;
}

/// With a monthly limit of two calls on transactions: paging through a list with the
/// `pagination-key` its links carry is free, a third fresh call is 423, a made-up key buys
/// nothing, and the issued key still pages.
async fn operational_limits(backend: Backend) {
    let limits =
        OperationalLimits::disabled().with_endpoint("accountsGetAccountsAccountIdTransactions", 2);
    let world = start_with_limits(backend, limits).await;
    let base = world.env.issuer().to_string();
    let tpp = ready_tpp(&world).await;
    let consent_id = create_consent(&world, &tpp, PF_PERMISSIONS).await;
    let (token, _) = authorise(&world, &tpp, &consent_id, "accounts").await;
    let accounts = get(&tpp, &base, ACCOUNTS, &token).await;
    let account_id = accounts.body["data"][0]["accountId"]
        .as_str()
        .unwrap()
        .to_string();
    let (from, today) = last_year();
    let fresh = format!(
        "{ACCOUNTS}/{account_id}/transactions?fromBookingDate={from}&toBookingDate={today}&page-size=5"
    );

    let first = get(&tpp, &base, &fresh, &token).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let next = first.body["links"]["next"].as_str().unwrap().to_string();
    let key = next
        .split("pagination-key=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .expect("the next link carries a pagination-key")
        .to_string();
    // Three re-calls: none counted.
    let mut url = next.clone();
    for _ in 0..3 {
        let page = get(&tpp, &base, url.strip_prefix(&base).unwrap(), &token).await;
        assert_eq!(page.status, 200, "re-call: {}", page.body);
        url = page.body["links"]["next"].as_str().unwrap().to_string();
    }
    let second = get(&tpp, &base, &fresh, &token).await;
    assert_eq!(second.status, 200, "second counted call: {}", second.body);
    let third = get(&tpp, &base, &fresh, &token).await;
    refused("over the limit", &third, 423, None);
    let forged = get(
        &tpp,
        &base,
        &format!("{fresh}&pagination-key=ffffffff.AAAAAAAAAAAAAAAAAAAAAA"),
        &token,
    )
    .await;
    refused("a made-up key", &forged, 423, None);
    let recall = get(
        &tpp,
        &base,
        &format!("{fresh}&pagination-key={key}"),
        &token,
    )
    .await;
    assert_eq!(recall.status, 200, "the issued key: {}", recall.body);

    world.holder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operational_limits_on_sqlite() {
    operational_limits(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operational_limits_on_postgres() {
    common::postgres_url();
    operational_limits(Backend::Postgres).await;
}

/// A journey at debug level leaves no CPF, CNPJ, name, account number or token in the logs.
async fn logs_stay_clean(backend: Backend) {
    let world = start(backend).await;
    let base = world.env.issuer().to_string();
    let tpp = ready_tpp(&world).await;
    let consent_id = create_consent(&world, &tpp, PF_PERMISSIONS).await;
    let (token, refresh) = authorise(&world, &tpp, &consent_id, DATA_SCOPES).await;
    let accounts = get(&tpp, &base, ACCOUNTS, &token).await;
    let account_id = accounts.body["data"][0]["accountId"]
        .as_str()
        .unwrap()
        .to_string();
    let account_number = accounts.body["data"][0]["number"]
        .as_str()
        .unwrap()
        .to_string();
    get(
        &tpp,
        &base,
        &format!("{ACCOUNTS}/{account_id}/transactions"),
        &token,
    )
    .await;
    let me = get(
        &tpp,
        &base,
        "/open-banking/customers/v2/personal/identifications",
        &token,
    )
    .await;
    let name = me.body["data"][0]["civilName"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = tpp
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(status, 200);
    let consents_token = client_token(&tpp, "consents").await;
    let revoked = call(
        &tpp,
        reqwest::Method::DELETE,
        &format!("{base}{CONSENTS}/{consent_id}"),
        &consents_token,
        None,
        &[("x-fapi-interaction-id", interaction_id())],
    )
    .await;
    assert_eq!(revoked.status, 204);
    world.holder.shutdown().await;

    let logs = String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned();
    assert!(
        logs.lines().count() > 20 && logs.contains(&consent_id),
        "the journey was logged: {} lines",
        logs.lines().count()
    );
    // One JSON object a line; a request's lines carry its interaction id.
    let mut in_a_request = 0;
    for line in logs.lines() {
        let event: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        if event["span"]["x_fapi_interaction_id"].is_string() {
            in_a_request += 1;
        }
    }
    assert!(
        in_a_request > 10,
        "only {in_a_request} lines inside a request span"
    );
    let mut secrets: Vec<(String, String)> = world
        .env
        .contract
        .users
        .iter()
        .flat_map(|u| {
            [
                ("a CPF".to_string(), u.cpf.clone()),
                ("a password".to_string(), u.password.clone()),
                ("a name".to_string(), u.name.clone()),
            ]
        })
        .collect();
    for cnpj in [COMPANY, "34567890000130"] {
        secrets.push(("a CNPJ".into(), cnpj.into()));
    }
    secrets.push(("the customer's name".into(), name));
    secrets.push(("an account number".into(), account_number));
    secrets.push(("the access token".into(), token));
    secrets.push(("the refresh token".into(), refresh));
    secrets.push(("a client token".into(), consents_token));
    for (what, secret) in secrets {
        if let Some(line) = logs.lines().find(|line| line.contains(&secret)) {
            panic!("{what} reached the logs: {line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_stay_clean_on_sqlite() {
    logs_stay_clean(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_stay_clean_on_postgres() {
    common::postgres_url();
    logs_stay_clean(Backend::Postgres).await;
}
