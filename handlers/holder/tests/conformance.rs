//! Every answer of every operation the holder serves, errors included, against the official
//! documents (with their overlays, as the generator reads them). The operations come from the
//! documents; each gets its valid request and the malformed ones independent clients send:
//! no or a garbage token, a missing or invalid x-fapi-interaction-id, a body that is not JSON
//! (or not a JWS), `{}`, a wrong-typed field, out-of-range pages, ids that do not exist, and a
//! method the path does not have. Each answer must have a status the operation declares (never
//! 5xx), a body that validates against the schema the document gives for that status and
//! content type (the JWS payload for `application/jwt`), and an x-fapi-interaction-id where the
//! operation has one. All violations are collected and reported at once. SQLite and PostgreSQL.

#[path = "../../auth/tests/common/mod.rs"]
mod common;
#[path = "conformance/validator.rs"]
mod validator;
mod world;

use std::collections::{BTreeMap, BTreeSet};

use aberta_codegen::Workspace;
use aberta_codegen::manifest::Manifest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Backend, Env, Tpp};
use serde_json::{Value, json};
use validator::Validator;
use world::{PF_PERMISSIONS, World, client_token};

/// The documents of the APIs the holder serves: (api, major version, base path it is served
/// under).
fn served_apis() -> Vec<(&'static str, u64, &'static str)> {
    vec![
        ("consents", 3, ofb_consents_v3::server::BASE_PATH),
        ("resources", 3, ofb_resources_v3::server::BASE_PATH),
        ("customers", 2, ofb_customers_v2::server::BASE_PATH),
        ("accounts", 2, ofb_accounts_v2::server::BASE_PATH),
        ("credit-cards", 2, ofb_credit_cards_v2::server::BASE_PATH),
        ("loans", 2, ofb_loans_v2::server::BASE_PATH),
        ("financings", 2, ofb_financings_v2::server::BASE_PATH),
        (
            "invoice-financings",
            2,
            ofb_invoice_financings_v2::server::BASE_PATH,
        ),
        (
            "unarranged-accounts-overdraft",
            2,
            ofb_unarranged_accounts_overdraft_v2::server::BASE_PATH,
        ),
        ("payments", 4, ofb_payments_v4::server::BASE_PATH),
        ("admin", 2, ofb_admin_v2::server::BASE_PATH),
        ("common", 2, ofb_common_v2::server::BASE_PATH),
        // DCR is served at the issuer's root.
        ("dcr", 2, ""),
    ]
}

/// Operations of those documents the holder does not serve ("api METHOD /path"). Each must
/// exist in its document; every other operation must be served (some answer other than
/// 404/405).
const NOT_SERVED: &[&str] = &[];

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// One official document, as the generator reads it.
struct Api {
    name: &'static str,
    version: String,
    base: &'static str,
    doc: Value,
}

fn documents() -> Vec<Api> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let ws = Workspace::new(root.canonicalize().unwrap_or(root));
    let specs = ws
        .specs_dir()
        .expect("the official documents (see README: cargo xtask specs fetch)");
    let manifest = Manifest::load(&ws.manifest()).expect("specs/manifest.toml");
    served_apis()
        .into_iter()
        .map(|(name, major, base)| {
            // The generator builds each major from its highest listed version.
            let entry = manifest
                .specs
                .iter()
                .filter(|e| e.api == name && e.major() == major)
                .max_by_key(|e| {
                    e.version
                        .split('.')
                        .map(|p| p.parse::<u64>().unwrap_or(0))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_else(|| panic!("{name} v{major} is not in the manifest"));
            let file = specs.join(entry.relative_path());
            let overlay = ws.overlays().join(entry.relative_path());
            let overlay = overlay.is_file().then_some(overlay);
            let doc = aberta_codegen::load::load(&file, overlay.as_deref())
                .unwrap_or_else(|e| panic!("{e}"));
            Api {
                name,
                version: entry.version.clone(),
                base,
                doc: doc.value,
            }
        })
        .collect()
}

/// One operation of a document.
struct Op<'a> {
    api: &'a Api,
    method: &'static str,
    path: String,
    op: &'a Value,
    /// Path-level and operation-level parameters, references followed.
    params: Vec<&'a Value>,
}

impl Op<'_> {
    fn label(&self) -> String {
        format!(
            "{} {} {}",
            self.api.name,
            self.method.to_uppercase(),
            self.path
        )
    }

    fn param(&self, location: &str, name: &str) -> Option<&Value> {
        self.params.iter().copied().find(|p| {
            p["in"] == location
                && p["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }

    fn has_body(&self) -> bool {
        self.op.get("requestBody").is_some()
    }

    fn body_media(&self) -> Option<(String, &Value)> {
        let body = resolve(&self.api.doc, self.op.get("requestBody")?);
        let (media, content) = body.get("content")?.as_object()?.iter().next()?;
        Some((media.clone(), content.get("schema")?))
    }

    /// The security scheme the operation asks for first (none: a public operation).
    fn scheme(&self) -> Option<&Value> {
        let security = self
            .op
            .get("security")
            .or_else(|| self.api.doc.get("security"))?;
        let first = security.as_array()?.first()?.as_object()?;
        let name = first.keys().next()?;
        self.api
            .doc
            .pointer(&format!("/components/securitySchemes/{name}"))
    }
}

fn resolve<'a>(root: &'a Value, value: &'a Value) -> &'a Value {
    let mut current = value;
    for _ in 0..16 {
        match current
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| root.pointer(p))
        {
            Some(next) => current = next,
            None => break,
        }
    }
    current
}

fn operations(apis: &[Api]) -> Vec<Op<'_>> {
    let mut out = Vec::new();
    for api in apis {
        let Some(paths) = api.doc["paths"].as_object() else {
            continue;
        };
        for (path, item) in paths {
            let shared: Vec<&Value> = item["parameters"]
                .as_array()
                .map(|ps| ps.iter().map(|p| resolve(&api.doc, p)).collect())
                .unwrap_or_default();
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let mut params = shared.clone();
                if let Some(own) = op["parameters"].as_array() {
                    for p in own.iter().map(|p| resolve(&api.doc, p)) {
                        params.retain(|q| !(q["name"] == p["name"] && q["in"] == p["in"]));
                        params.push(p);
                    }
                }
                out.push(Op {
                    api,
                    method,
                    path: path.clone(),
                    op,
                    params,
                });
            }
        }
    }
    out
}

/// What the TPPs hold for the walk: tokens, and the ids of real resources.
struct Fixtures {
    data_tpp: Tpp,
    pay_tpp: Tpp,
    dcr_tpp: Tpp,
    consents_token: String,
    data_token: String,
    payments_token: String,
    /// Authorises a payment consent not consumed yet (the walk's POST /pix/payments).
    pix_token: String,
    pix_consent: String,
    /// (api, path parameter) -> a real id.
    ids: BTreeMap<(&'static str, &'static str), String>,
}

/// One request of the walk.
struct Call {
    method: reqwest::Method,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<(String, Vec<u8>)>,
}

/// A broken rule in one answer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Problem {
    op: String,
    variant: String,
    status: u16,
    pointer: String,
    rule: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.pointer.is_empty() {
            String::new()
        } else {
            format!("{} ", self.pointer)
        };
        write!(
            f,
            "{} [{}] -> {}: {at}{}",
            self.op, self.variant, self.status, self.rule
        )
    }
}

fn interaction_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn today() -> chrono::NaiveDate {
    (chrono::Utc::now() - chrono::Duration::hours(3)).date_naive()
}

const CNPJ_INITIATOR: &str = "22333444000105";

const DATA_SCOPES: &str = "accounts credit-cards-accounts customers loans financings invoice-financings unarranged-accounts-overdraft resources";

fn expiry(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn data_consent_body(cpf: &str) -> Value {
    json!({ "data": {
        "loggedUser": { "document": { "identification": cpf, "rel": "CPF" } },
        "permissions": PF_PERMISSIONS,
        "expirationDateTime": expiry(90),
    }})
}

fn creditor_account() -> Value {
    json!({ "ispb": "12345678", "issuer": "1774", "number": "1234567890", "accountType": "CACC" })
}

fn payment_consent_data(cpf: &str) -> Value {
    json!({
        "loggedUser": { "document": { "identification": cpf, "rel": "CPF" } },
        "creditor": { "personType": "PESSOA_NATURAL", "cpfCnpj": "12345678901", "name": "Marco Antonio de Brito" },
        "payment": {
            "type": "PIX",
            "date": today().to_string(),
            "currency": "BRL",
            "amount": "1.00",
            "details": {
                "localInstrument": "DICT",
                "proxy": "cliente-a00001@pix.bcb.gov.br",
                "creditorAccount": creditor_account(),
            },
        },
    })
}

fn payment_data(consent_id: &str) -> Value {
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M");
    let tail = &uuid::Uuid::new_v4().simple().to_string()[..11];
    json!([{
        "endToEndId": format!("E99999004{stamp}{tail}"),
        "localInstrument": "DICT",
        "payment": { "amount": "1.00", "currency": "BRL" },
        "creditorAccount": creditor_account(),
        "proxy": "cliente-a00001@pix.bcb.gov.br",
        "cnpjInitiator": CNPJ_INITIATOR,
        "consentId": consent_id,
    }])
}

fn cancellation(cpf: &str) -> Value {
    json!({ "status": "CANC",
        "cancellation": { "cancelledBy": { "document": { "identification": cpf, "rel": "CPF" } } } })
}

/// A signed request body for `path`, as `tpp`'s organisation: the JWT claims around `payload`.
fn signed(tpp: &Tpp, issuer: &str, path: &str, payload: Value) -> String {
    let mut claims = json!({
        "aud": format!("{issuer}{path}"),
        "iss": tpp.org_id,
        "iat": common::now(),
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    if let (Some(claims), Value::Object(payload)) = (claims.as_object_mut(), payload) {
        claims.extend(payload);
    }
    tpp.sign(claims)
}

/// Sends `call` as `tpp`: (status, headers, body bytes).
async fn send(
    env: &Env,
    tpp: &Tpp,
    call: &Call,
) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), reqwest::Error> {
    let mut request = tpp.http.request(
        call.method.clone(),
        format!("{}{}", env.issuer(), call.path),
    );
    if !call.query.is_empty() {
        request = request.query(&call.query);
    }
    for (name, value) in &call.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if let Some((media, body)) = &call.body {
        request = request
            .header("content-type", media.as_str())
            .body(body.clone());
    }
    let resp = request.send().await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    Ok((status, headers, resp.bytes().await?.to_vec()))
}

/// A request the setup makes and needs to succeed; the JSON body (or JWS payload).
async fn must(env: &Env, tpp: &Tpp, call: Call, want: u16) -> Value {
    let (status, headers, body) = send(env, tpp, &call)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", call.path));
    let text = String::from_utf8_lossy(&body).to_string();
    assert_eq!(status, want, "setup {} {}: {text}", call.method, call.path);
    let jwt = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/jwt"));
    if jwt {
        jws_payload(&text).unwrap_or_else(|e| panic!("{}: {e}", call.path))
    } else {
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

fn jws_payload(jws: &str) -> Result<Value, String> {
    let parts: Vec<&str> = jws.trim().split('.').collect();
    if parts.len() != 3 {
        return Err(format!("not a compact JWS ({} parts)", parts.len()));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(parts[1])
        .map_err(|e| format!("JWS payload is not base64url: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("JWS payload is not JSON: {e}"))
}

fn get_call(path: String, token: &str) -> Call {
    Call {
        method: reqwest::Method::GET,
        path,
        query: vec![],
        headers: vec![
            ("authorization".into(), format!("Bearer {token}")),
            ("x-fapi-interaction-id".into(), interaction_id()),
        ],
        body: None,
    }
}

fn post_json(path: &str, token: &str, body: &Value) -> Call {
    Call {
        method: reqwest::Method::POST,
        path: path.into(),
        query: vec![],
        headers: vec![
            ("authorization".into(), format!("Bearer {token}")),
            ("x-fapi-interaction-id".into(), interaction_id()),
        ],
        body: Some(("application/json".into(), body.to_string().into_bytes())),
    }
}

fn post_jwt(path: &str, token: &str, jws: String) -> Call {
    Call {
        method: reqwest::Method::POST,
        path: path.into(),
        query: vec![],
        headers: vec![
            ("authorization".into(), format!("Bearer {token}")),
            ("x-fapi-interaction-id".into(), interaction_id()),
            ("x-idempotency-key".into(), interaction_id()),
            ("accept".into(), "application/jwt".into()),
        ],
        body: Some(("application/jwt".into(), jws.into_bytes())),
    }
}

async fn authorise(env: &Env, tpp: &Tpp, consent_id: &str, scope: &str) -> String {
    let verifier = common::verifier();
    let (status, par) = tpp
        .par(tpp.request_claims(&format!("openid {scope} consent:{consent_id}"), &verifier))
        .await;
    assert_eq!(status, 201, "PAR: {par}");
    let (cpf, password) = env.user();
    let fragment = common::authorize_as_user(
        env,
        tpp,
        par["request_uri"].as_str().unwrap(),
        (&cpf, &password),
        true,
    )
    .await;
    let (status, tokens) = common::exchange(tpp, &fragment["code"], &verifier).await;
    assert_eq!(status, 200, "code exchange: {tokens}");
    tokens["access_token"].as_str().unwrap().to_string()
}

async fn registered(env: &Env, roles: &[&str]) -> Tpp {
    let mut tpp = env.new_tpp(roles);
    env.register(&mut tpp).await;
    tpp
}

/// The first `field` of a list's `data`.
fn first_id(list: &Value, field: &str) -> Option<String> {
    list["data"][0][field].as_str().map(str::to_owned)
}

async fn fixtures(world: &World) -> Fixtures {
    let env = &world.env;
    let issuer = env.issuer().to_string();
    let (cpf, _) = env.user();
    let data_tpp = registered(env, &["DADOS"]).await;
    let pay_tpp = registered(env, &["PAGTO"]).await;
    let dcr_tpp = registered(env, &["DADOS"]).await;
    let consents_token = client_token(&data_tpp, "consents").await;
    let payments_token = client_token(&pay_tpp, "payments").await;
    let mut ids = BTreeMap::new();

    // A data consent with every PF permission, authorised.
    let consents = format!("{}/consents", ofb_consents_v3::server::BASE_PATH);
    let created = must(
        env,
        &data_tpp,
        post_json(&consents, &consents_token, &data_consent_body(&cpf)),
        201,
    )
    .await;
    let data_consent = created["data"]["consentId"].as_str().unwrap().to_string();
    let data_token = authorise(env, &data_tpp, &data_consent, DATA_SCOPES).await;
    ids.insert(("consents", "consentId"), data_consent);

    // The products behind it.
    let list = |path: &str| get_call(path.to_string(), &data_token);
    let accounts = must(
        env,
        &data_tpp,
        list("/open-banking/accounts/v2/accounts"),
        200,
    )
    .await;
    if let Some(id) = first_id(&accounts, "accountId") {
        ids.insert(("accounts", "accountId"), id);
    }
    let cards_base = ofb_credit_cards_v2::server::BASE_PATH;
    let cards = must(env, &data_tpp, list(&format!("{cards_base}/accounts")), 200).await;
    if let Some(card) = first_id(&cards, "creditCardAccountId") {
        let bills = must(
            env,
            &data_tpp,
            list(&format!("{cards_base}/accounts/{card}/bills")),
            200,
        )
        .await;
        if let Some(bill) = first_id(&bills, "billId") {
            ids.insert(("credit-cards", "billId"), bill);
        }
        ids.insert(("credit-cards", "creditCardAccountId"), card);
    }
    for (api, base) in [
        ("loans", ofb_loans_v2::server::BASE_PATH),
        ("financings", ofb_financings_v2::server::BASE_PATH),
        (
            "invoice-financings",
            ofb_invoice_financings_v2::server::BASE_PATH,
        ),
        (
            "unarranged-accounts-overdraft",
            ofb_unarranged_accounts_overdraft_v2::server::BASE_PATH,
        ),
    ] {
        let contracts = must(env, &data_tpp, list(&format!("{base}/contracts")), 200).await;
        if let Some(id) = first_id(&contracts, "contractId") {
            ids.insert((api, "contractId"), id);
        }
    }

    // A payment consent, authorised and paid: the ids of the payment reads.
    let pay = ofb_payments_v4::server::BASE_PATH;
    let consents_path = format!("{pay}/consents");
    let new_payment_consent = async || {
        let jws = signed(
            &pay_tpp,
            &issuer,
            &consents_path,
            json!({ "data": payment_consent_data(&cpf) }),
        );
        let created = must(
            env,
            &pay_tpp,
            post_jwt(&consents_path, &payments_token, jws),
            201,
        )
        .await;
        created["data"]["consentId"].as_str().unwrap().to_string()
    };
    let paid_consent = new_payment_consent().await;
    let paid_token = authorise(env, &pay_tpp, &paid_consent, "payments").await;
    let pix_path = format!("{pay}/pix/payments");
    let jws = signed(
        &pay_tpp,
        &issuer,
        &pix_path,
        json!({ "data": payment_data(&paid_consent) }),
    );
    let paid = must(env, &pay_tpp, post_jwt(&pix_path, &paid_token, jws), 201).await;
    let payment_id = paid["data"][0]["paymentId"].as_str().unwrap().to_string();
    ids.insert(("payments", "consentId"), paid_consent);
    ids.insert(("payments", "paymentId"), payment_id);
    // Another, authorised and left for the walk's POST /pix/payments.
    let pix_consent = new_payment_consent().await;
    let pix_token = authorise(env, &pay_tpp, &pix_consent, "payments").await;

    ids.insert(("dcr", "clientId"), dcr_tpp.client_id().to_string());
    ids.insert(("dcr", "client_id"), dcr_tpp.client_id().to_string());
    Fixtures {
        data_tpp,
        pay_tpp,
        dcr_tpp,
        consents_token,
        data_token,
        payments_token,
        pix_token,
        pix_consent,
        ids,
    }
}

/// Who sends an operation's requests, with which token and which ids.
struct Actor<'a> {
    tpp: &'a Tpp,
    token: Option<String>,
    ids: BTreeMap<&'static str, String>,
}

/// What an operation's requests address instead of the shared fixtures: a resource of its own
/// for a DELETE (gone after the valid request), the new software a registration is for.
enum Throwaway {
    None,
    Consent(String),
    Client(Box<Tpp>),
}

async fn throwaway(world: &World, fx: &Fixtures, op: &Op<'_>) -> Throwaway {
    if op.api.name == "dcr" && op.method == "post" {
        // A registration is made with the client certificate of the software its statement
        // names: a new software, not registered yet.
        return Throwaway::Client(Box::new(world.env.new_tpp(&["DADOS"])));
    }
    if op.method != "delete" {
        return Throwaway::None;
    }
    match op.api.name {
        "consents" => {
            let (cpf, _) = world.env.user();
            let path = format!("{}/consents", ofb_consents_v3::server::BASE_PATH);
            let created = must(
                &world.env,
                &fx.data_tpp,
                post_json(&path, &fx.consents_token, &data_consent_body(&cpf)),
                201,
            )
            .await;
            Throwaway::Consent(created["data"]["consentId"].as_str().unwrap().to_string())
        }
        "dcr" => Throwaway::Client(Box::new(registered(&world.env, &["DADOS"]).await)),
        _ => Throwaway::None,
    }
}

fn actor<'a>(fx: &'a Fixtures, op: &Op<'_>, spare: &'a Throwaway) -> Actor<'a> {
    let api = op.api.name;
    let mut ids: BTreeMap<&'static str, String> = fx
        .ids
        .iter()
        .filter(|((a, _), _)| *a == api)
        .map(|((_, p), id)| (*p, id.clone()))
        .collect();
    let scheme = op.scheme();
    let flows = scheme.and_then(|s| s.get("flows"));
    let client_credentials = flows.is_some_and(|f| f.get("clientCredentials").is_some());
    let kind = scheme.and_then(|s| s["type"].as_str()).unwrap_or_default();
    let (tpp, token) = match api {
        "payments" => {
            let token = if client_credentials {
                fx.payments_token.clone()
            } else {
                fx.pix_token.clone()
            };
            (&fx.pay_tpp, Some(token))
        }
        "dcr" => match spare {
            Throwaway::Client(tpp) => {
                if let Some(id) = &tpp.client_id {
                    ids.insert("clientId", id.clone());
                    ids.insert("client_id", id.clone());
                }
                (&**tpp, tpp.rat.clone())
            }
            // Registration is authorised by the software statement in the body.
            _ if client_credentials => (&fx.dcr_tpp, None),
            _ => (&fx.dcr_tpp, fx.dcr_tpp.rat.clone()),
        },
        _ if scheme.is_none() => (&fx.data_tpp, None),
        "consents" if client_credentials => (&fx.data_tpp, Some(fx.consents_token.clone())),
        _ if kind == "oauth2" || kind == "openIdConnect" => {
            (&fx.data_tpp, Some(fx.data_token.clone()))
        }
        _ => (&fx.data_tpp, None),
    };
    if let Throwaway::Consent(id) = spare {
        ids.insert("consentId", id.clone());
    }
    if api == "payments" && op.path == "/pix/payments" {
        ids.insert("consentId", fx.pix_consent.clone());
    }
    Actor { tpp, token, ids }
}

/// The valid body of an operation (the JWS payload for `application/jwt`).
async fn valid_body(world: &World, op: &Op<'_>, actor: &Actor<'_>) -> Option<Value> {
    let (cpf, _) = world.env.user();
    let id = |name: &str| actor.ids.get(name).cloned().unwrap_or_default();
    let body = match (op.api.name, op.method, op.path.as_str()) {
        ("consents", "post", "/consents") => data_consent_body(&cpf),
        ("consents", "post", "/consents/{consentId}/extends") => json!({ "data": {
            "expirationDateTime": expiry(300),
            "loggedUser": { "document": { "identification": cpf, "rel": "CPF" } },
        }}),
        ("payments", "post", "/consents") => json!({ "data": payment_consent_data(&cpf) }),
        ("payments", "post", "/pix/payments") => json!({ "data": payment_data(&id("consentId")) }),
        ("payments", "patch", _) => json!({ "data": cancellation(&cpf) }),
        ("dcr", "post" | "put", _) => {
            // A fresh software statement of the client the request is about.
            let ssa = world.env.ssa(actor.tpp).await;
            common::registration_body(&ssa, actor.tpp)
        }
        _ => return None,
    };
    Some(body)
}

/// The valid body with its first required leaf (down the required properties it has) given a
/// value of another type.
fn wrong_typed(doc: &Value, schema: &Value, body: &Value) -> Option<Value> {
    let mut body = body.clone();
    let mut pointer = String::new();
    let mut schema = resolve(doc, schema);
    loop {
        let here = body.pointer(&pointer)?;
        let object = object_schema(doc, schema);
        // Into the first item of an array, down to a leaf.
        if let (Some(items), Some(item_schema)) = (here.as_array(), schema.get("items"))
            && !items.is_empty()
        {
            pointer = format!("{pointer}/0");
            schema = resolve(doc, item_schema);
            continue;
        }
        let next = here.as_object().and_then(|map| {
            let object = object?;
            object["required"]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .find(|name| map.contains_key(*name))
                .map(|name| (name.to_string(), resolve(doc, &object["properties"][name])))
        });
        match next {
            Some((name, child)) => {
                pointer = format!("{pointer}/{name}");
                schema = child;
            }
            None => break,
        }
    }
    let target = body.pointer_mut(&pointer)?;
    let replacement = match target {
        Value::String(_) => json!(12345),
        Value::Number(_) => json!("not-a-number"),
        Value::Bool(_) => json!("yes"),
        Value::Array(_) | Value::Object(_) => json!("not-a-structure"),
        Value::Null => json!(0),
    };
    *target = replacement;
    Some(body)
}

/// The schema (or its first `allOf` branch) that lists properties.
fn object_schema<'a>(doc: &'a Value, schema: &'a Value) -> Option<&'a Value> {
    let schema = resolve(doc, schema);
    if schema.get("properties").is_some() {
        return Some(schema);
    }
    schema["allOf"]
        .as_array()?
        .iter()
        .find_map(|branch| object_schema(doc, branch))
}

/// An id no resource has, matching the parameter's pattern when one fits.
fn unknown_id(param: Option<&Value>) -> String {
    let uuid = uuid::Uuid::new_v4();
    let candidates = [format!("urn:aberta:{uuid}"), uuid.to_string()];
    let pattern = param
        .and_then(|p| p["schema"]["pattern"].as_str())
        .and_then(|p| regress::Regex::new(p).ok());
    match pattern {
        Some(re) => candidates
            .iter()
            .find(|c| re.find(c).is_some())
            .cloned()
            .unwrap_or_else(|| candidates[1].clone()),
        None => candidates[1].clone(),
    }
}

/// A value for a required parameter the walk does not vary.
fn default_value(param: &Value) -> String {
    let name = param["name"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match name.as_str() {
        "x-fapi-auth-date" => chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string(),
        "x-fapi-customer-ip-address" => "203.0.113.7".into(),
        "x-customer-user-agent" => "Mozilla/5.0 (conformance)".into(),
        _ => param
            .get("example")
            .or_else(|| param["schema"].get("example"))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default(),
    }
}

/// The valid request of an operation, with `ids` in its path.
fn base_call(op: &Op<'_>, actor: &Actor<'_>, ids: &BTreeMap<&'static str, String>) -> Call {
    let mut path = op.path.clone();
    for param in op.params.iter().filter(|p| p["in"] == "path") {
        let name = param["name"].as_str().unwrap_or_default();
        let value = ids
            .get(name)
            .cloned()
            .unwrap_or_else(|| format!("no-fixture-for-{name}"));
        path = path.replace(&format!("{{{name}}}"), &value);
    }
    let mut headers = vec![("x-fapi-interaction-id".to_string(), interaction_id())];
    if let Some(token) = &actor.token {
        headers.push(("authorization".into(), format!("Bearer {token}")));
    }
    let mut query = Vec::new();
    for param in &op.params {
        let name = param["name"].as_str().unwrap_or_default();
        let lower = name.to_ascii_lowercase();
        if matches!(lower.as_str(), "authorization" | "x-fapi-interaction-id") {
            continue;
        }
        match param["in"].as_str() {
            Some("header") if lower == "x-idempotency-key" => {
                headers.push((lower, interaction_id()));
            }
            Some("header") if param["required"] == true => {
                headers.push((lower, default_value(param)));
            }
            Some("query") if param["required"] == true => {
                let value = ids
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| default_value(param));
                query.push((name.to_string(), value));
            }
            _ => {}
        }
    }
    // Ask for what the operation answers on success.
    let accept = success_media(op).unwrap_or_else(|| "application/json".into());
    headers.push(("accept".into(), accept));
    Call {
        method: method(op.method),
        path: format!("{}{path}", op.api.base),
        query,
        headers,
        body: None,
    }
}

fn method(name: &str) -> reqwest::Method {
    reqwest::Method::from_bytes(name.to_ascii_uppercase().as_bytes())
        .unwrap_or(reqwest::Method::GET)
}

fn success_media(op: &Op<'_>) -> Option<String> {
    let responses = op.op["responses"].as_object()?;
    responses
        .iter()
        .filter(|(status, _)| status.starts_with('2'))
        .find_map(|(_, r)| {
            let r = resolve(&op.api.doc, r);
            r["content"].as_object()?.keys().next().map(|m| essence(m))
        })
}

fn essence(media: &str) -> String {
    media
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn set_header(call: &mut Call, name: &str, value: Option<String>) {
    call.headers.retain(|(n, _)| n != name);
    if let Some(value) = value {
        call.headers.push((name.to_string(), value));
    }
}

fn set_query(call: &mut Call, name: &str, value: &str) {
    call.query.retain(|(n, _)| n != name);
    call.query.push((name.to_string(), value.to_string()));
}

/// The requests of one operation: (variant, request), the valid one last (a DELETE removes
/// what the others address).
async fn variants(world: &World, op: &Op<'_>, actor: &Actor<'_>) -> Vec<(String, Call)> {
    let issuer = world.env.issuer();
    let body = valid_body(world, op, actor).await;
    let media = op.body_media();
    let encode = |call: &Call, payload: &Value| -> (String, Vec<u8>) {
        match &media {
            Some((m, _)) if essence(m) == "application/jwt" => {
                let jws = signed(actor.tpp, issuer, &call.path, payload.clone());
                (m.clone(), jws.into_bytes())
            }
            Some((m, _)) => (m.clone(), payload.to_string().into_bytes()),
            None => ("application/json".into(), payload.to_string().into_bytes()),
        }
    };
    let valid = || {
        let mut call = base_call(op, actor, &actor.ids);
        if let Some(body) = &body {
            call.body = Some(encode(&call, body));
        }
        call
    };
    let mut out = Vec::new();
    if op.scheme().is_some() {
        // Without a token the valid request is already the one without Authorization.
        if actor.token.is_some() {
            let mut call = valid();
            set_header(&mut call, "authorization", None);
            out.push(("no-authorization".into(), call));
        }
        let mut call = valid();
        set_header(
            &mut call,
            "authorization",
            Some("Bearer not-a-token".into()),
        );
        out.push(("garbage-token".into(), call));
    }
    if op.param("header", "x-fapi-interaction-id").is_some() {
        let mut call = valid();
        set_header(&mut call, "x-fapi-interaction-id", None);
        out.push(("no-interaction-id".into(), call));
        let mut call = valid();
        set_header(
            &mut call,
            "x-fapi-interaction-id",
            Some("not-a-uuid".into()),
        );
        out.push(("bad-interaction-id".into(), call));
    }
    if op.has_body() {
        let media_type = media
            .as_ref()
            .map(|(m, _)| m.clone())
            .unwrap_or_else(|| "application/json".into());
        let mut call = valid();
        call.body = Some((media_type.clone(), b"{not json".to_vec()));
        out.push(("non-json-body".into(), call));
        let mut call = valid();
        call.body = Some(encode(&call, &json!({})));
        out.push(("empty-object-body".into(), call));
        if let (Some(body), Some((_, schema))) = (&body, &media)
            && let Some(wrong) = wrong_typed(&op.api.doc, schema, body)
        {
            let mut call = valid();
            call.body = Some(encode(&call, &wrong));
            out.push(("wrong-typed-field".into(), call));
        }
    }
    if op.param("query", "page").is_some() {
        for (variant, value) in [("page=0", "0"), ("page=9999", "9999")] {
            let mut call = valid();
            set_query(&mut call, "page", value);
            out.push((variant.into(), call));
        }
    }
    if op.param("query", "page-size").is_some() {
        for (variant, value) in [("page-size=1001", "1001"), ("page-size=abc", "abc")] {
            let mut call = valid();
            set_query(&mut call, "page-size", value);
            out.push((variant.into(), call));
        }
    }
    let path_params: Vec<&Value> = op
        .params
        .iter()
        .copied()
        .filter(|p| p["in"] == "path")
        .collect();
    if !path_params.is_empty() {
        let mut unknown = actor.ids.clone();
        let mut malformed = actor.ids.clone();
        for param in &path_params {
            let name = param["name"].as_str().unwrap_or_default();
            if let Some((key, _)) = actor.ids.get_key_value(name) {
                unknown.insert(*key, unknown_id(Some(param)));
                malformed.insert(*key, "%20no%20such%20id%20".into());
            }
        }
        for (variant, ids) in [("unknown-id", unknown), ("malformed-id", malformed)] {
            let mut call = base_call(op, actor, &ids);
            if let Some(body) = &body {
                call.body = Some(encode(&call, body));
            }
            out.push((variant.into(), call));
        }
    }
    out.push(("valid".into(), valid()));
    out
}

/// Checks one answer against the operation's declaration.
fn check_answer(
    op: &Op<'_>,
    variant: &str,
    call: &Call,
    (status, headers, body): &(u16, reqwest::header::HeaderMap, Vec<u8>),
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut fail = |pointer: &str, rule: String| {
        problems.push(Problem {
            op: op.label(),
            variant: variant.to_string(),
            status: *status,
            pointer: pointer.to_string(),
            rule,
        })
    };
    let doc = &op.api.doc;
    let text = String::from_utf8_lossy(body);
    if *status >= 500 {
        fail("", format!("a 5xx answer: {}", clip(&text)));
    }
    if variant == "wrong-method" && *status != 405 {
        fail("", "a method the path does not have must answer 405".into());
    }
    let responses = &op.op["responses"];
    let declared = responses
        .get(status.to_string())
        .or_else(|| responses.get("default"));
    let Some(response) = declared else {
        let known: Vec<&String> = responses
            .as_object()
            .map(|r| r.keys().collect())
            .unwrap_or_default();
        fail(
            "",
            format!("status not declared (declared: {known:?}): {}", clip(&text)),
        );
        return problems;
    };
    let response = resolve(doc, response);
    let validator = Validator::new(doc);

    // Headers: the interaction id wherever the operation has one, echoed when valid.
    let answered_id = headers
        .get("x-fapi-interaction-id")
        .and_then(|v| v.to_str().ok());
    let has_id = op.param("header", "x-fapi-interaction-id").is_some()
        || response.pointer("/headers/x-fapi-interaction-id").is_some();
    if has_id {
        let sent = call
            .headers
            .iter()
            .find(|(n, _)| n == "x-fapi-interaction-id")
            .map(|(_, v)| v.as_str())
            .filter(|v| uuid::Uuid::parse_str(v).is_ok());
        match (answered_id, sent) {
            (None, _) => fail("", "no x-fapi-interaction-id in the answer".into()),
            (Some(got), Some(sent)) if got != sent => fail(
                "",
                format!("x-fapi-interaction-id {got} does not echo the request's {sent}"),
            ),
            (Some(got), None) if uuid::Uuid::parse_str(got).is_err() => fail(
                "",
                format!("x-fapi-interaction-id {got:?} is not a generated UUID"),
            ),
            _ => {}
        }
    }
    if let Some(declared) = response["headers"].as_object() {
        for (name, header) in declared {
            let header = resolve(doc, header);
            let Some(value) = headers.get(name.as_str()).and_then(|v| v.to_str().ok()) else {
                if header["required"] == true {
                    fail("", format!("required header {name} is missing"));
                }
                continue;
            };
            if let Some(schema) = header.get("schema") {
                for v in validator.validate(schema, &json!(value)) {
                    fail(&format!("header {name}{}", v.pointer), v.rule);
                }
            }
        }
    }

    // Body.
    let content = response["content"].as_object().filter(|c| !c.is_empty());
    let Some(content) = content else {
        if !body.is_empty() {
            fail(
                "",
                format!("a body where the document declares none: {}", clip(&text)),
            );
        }
        return problems;
    };
    if body.is_empty() {
        fail(
            "",
            format!(
                "an empty body where the document declares {:?}",
                content.keys().collect::<Vec<_>>()
            ),
        );
        return problems;
    }
    let answered_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some((media, declared_media)) = content
        .iter()
        .find(|(m, _)| essence(m) == essence(answered_type))
    else {
        fail(
            "",
            format!(
                "content type {answered_type:?} not declared (declared: {:?}): {}",
                content.keys().collect::<Vec<_>>(),
                clip(&text)
            ),
        );
        return problems;
    };
    let parsed = if essence(media) == "application/jwt" {
        jws_payload(&text)
    } else {
        serde_json::from_str::<Value>(&text).map_err(|e| format!("not JSON: {e}"))
    };
    let value = match parsed {
        Ok(v) => v,
        Err(e) => {
            fail("", format!("{e}: {}", clip(&text)));
            return problems;
        }
    };
    let Some(schema) = declared_media.get("schema") else {
        return problems;
    };
    let value = on_a_public_host(&value);
    for v in validator.validate(schema, &value) {
        fail(&v.pointer, v.rule);
    }
    problems
}

/// The body as a production host would have written it. Some documents pattern `links` after
/// a DNS name with a top-level domain, which the sandbox on loopback lacks: the sandbox's own
/// origin (and only it) is swapped for a public one before the body meets the patterns.
fn on_a_public_host(value: &Value) -> Value {
    fn swap(value: &mut Value, in_links: bool) {
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    swap(child, in_links || key == "links");
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| swap(i, in_links)),
            Value::String(url) if in_links => {
                for origin in ["https://127.0.0.1:", "https://localhost:"] {
                    if let Some(rest) = url.strip_prefix(origin)
                        && let Some((_, path)) = rest.split_once('/')
                    {
                        *url = format!("https://api.banco.com.br/{path}");
                    }
                }
            }
            _ => {}
        }
    }
    let mut value = value.clone();
    swap(&mut value, false);
    value
}

fn clip(text: &str) -> String {
    let shown: String = text.chars().take(200).collect();
    if shown.len() < text.len() {
        format!("{shown}…")
    } else {
        shown
    }
}

/// A method the path item does not have.
fn missing_method(item: &Value) -> Option<&'static str> {
    ["put", "patch", "delete", "post", "get"]
        .into_iter()
        .find(|m| item.get(*m).is_none())
}

async fn walk(backend: Backend) {
    let apis = documents();
    let ops = operations(&apis);
    let labels: BTreeSet<String> = ops.iter().map(Op::label).collect();
    for skipped in NOT_SERVED {
        assert!(
            labels.contains(*skipped),
            "{skipped} is listed as not served but no document has it"
        );
    }
    for api in &apis {
        println!("{} {} under {:?}", api.name, api.version, api.base);
    }
    let world = world::start(backend).await;
    let fx = fixtures(&world).await;
    let mut problems: Vec<Problem> = Vec::new();
    let mut unserved = Vec::new();
    let mut sent = 0;
    let mut wrong_method_done = BTreeSet::new();
    for op in ops
        .iter()
        .filter(|op| !NOT_SERVED.contains(&op.label().as_str()))
    {
        let spare = throwaway(&world, &fx, op).await;
        let actor = actor(&fx, op, &spare);
        let mut calls = variants(&world, op, &actor).await;
        // One request per path with a method it does not have, checked against this operation's
        // 405.
        let item = &op.api.doc["paths"][&op.path];
        if wrong_method_done.insert((op.api.name, op.path.clone()))
            && let Some(other) = missing_method(item)
        {
            let mut call = base_call(op, &actor, &actor.ids);
            call.method = method(other);
            if matches!(other, "post" | "put" | "patch") {
                call.body = Some(("application/json".into(), b"{}".to_vec()));
            }
            calls.insert(0, ("wrong-method".into(), call));
        }
        let mut served = false;
        for (variant, call) in &calls {
            let answer = match send(&world.env, actor.tpp, call).await {
                Ok(answer) => answer,
                Err(e) => {
                    problems.push(Problem {
                        op: op.label(),
                        variant: variant.clone(),
                        status: 0,
                        pointer: String::new(),
                        rule: format!("no answer: {e}"),
                    });
                    continue;
                }
            };
            sent += 1;
            if variant != "wrong-method" && !matches!(answer.0, 404 | 405) {
                served = true;
            }
            // A method the path lacks belongs to no operation: its answer is checked against
            // an operation of the path that declares 405 (DCR declares it on DELETE only).
            let judge = if variant == "wrong-method" {
                ops.iter()
                    .find(|o| {
                        o.api.name == op.api.name
                            && o.path == op.path
                            && o.op["responses"].get("405").is_some()
                    })
                    .unwrap_or(op)
            } else {
                op
            };
            problems.extend(check_answer(judge, variant, call, &answer));
            // Every answer, for looking into a failure.
            if std::env::var_os("CONFORMANCE_TRACE").is_some() {
                let body = String::from_utf8_lossy(&answer.2);
                println!("{} [{variant}] -> {} {}", op.label(), answer.0, clip(&body));
            }
        }
        if !served {
            unserved.push(op.label());
        }
    }
    world.holder.shutdown().await;
    println!("{sent} requests over {} operations", ops.len());
    problems.sort();
    problems.dedup();
    let mut report = String::new();
    if !unserved.is_empty() {
        report.push_str(&format!(
            "operations answered only 404/405 (not served; list them in NOT_SERVED if meant): {unserved:#?}\n"
        ));
    }
    for p in &problems {
        report.push_str(&format!("{p}\n"));
    }
    assert!(
        report.is_empty(),
        "{} violations of the official documents over {sent} requests:\n{report}",
        problems.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_conforms_on_sqlite() {
    walk(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_conforms_on_postgres() {
    common::postgres_url();
    walk(Backend::Postgres).await;
}
