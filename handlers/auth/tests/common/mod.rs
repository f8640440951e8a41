//! A scripted TPP against a real sandbox: the directory simulator and the account holder over
//! real mutual TLS on loopback, with the account holder's database on SQLite or PostgreSQL.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use aberta_auth::consent::{AWAITING_AUTHORISATION, ConsentView};
use aberta_auth::sandbox::SandboxHolder;
use aberta_ecosystem::keys::{self, Ps256Key};
use aberta_ecosystem::pki::Pki;
use aberta_ecosystem::registry::{Registry, SoftwareSpec};
use aberta_ecosystem::sandbox::{self, Ports, SandboxJson};
use aberta_ecosystem::tls::{MtlsServer, install_crypto_provider};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use serde_json::{Map, Value, json};
use sha2::Digest;
use tokio::net::TcpListener;

pub const LOA2: &str = "urn:brasil:openbanking:loa2";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Both backends; PostgreSQL comes from `ABERTA_TEST_DATABASE_URL` and is required.
pub fn backends() -> [Backend; 2] {
    postgres_url();
    [Backend::Sqlite, Backend::Postgres]
}

pub fn postgres_url() -> String {
    std::env::var("ABERTA_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "ABERTA_TEST_DATABASE_URL is not set. The authorization-server tests run on PostgreSQL \
             too: createdb -h 127.0.0.1 -U postgres aberta_test && export \
             ABERTA_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/aberta_test"
        )
    })
}

/// The ecosystem a test runs in: a data directory, its contract and the directory simulator.
/// An account holder joins it on the listener [`prepare`] returns.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub contract: SandboxJson,
    pub directory: MtlsServer,
    pub backend: Backend,
}

/// The ecosystem with the authorization server alone (its consents from `DbConsents`).
pub struct Sandbox {
    pub env: Env,
    pub holder: SandboxHolder,
}

impl std::ops::Deref for Sandbox {
    type Target = Env;

    fn deref(&self) -> &Env {
        &self.env
    }
}

/// The database URL the account holder of `backend` uses (`None`: the SQLite default).
pub fn database_url(backend: Backend) -> Option<String> {
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(postgres_url()),
    }
}

/// A prepared data directory (PKI, registry, seed) made once per test build under the target
/// directory and copied for every test: generating the CAs and certificates is most of a sandbox's start-up
/// cost in a debug build. `prepare` rewrites `sandbox.json` for each test's ports.
fn template() -> std::path::PathBuf {
    // Keyed by the test binary's build time, so a rebuilt test never reuses a stale layout.
    let built = std::env::current_exe()
        .and_then(|exe| exe.metadata())
        .and_then(|meta| meta.modified())
        .ok()
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("aberta-auth-sandbox-{built}"));
    if root.join("sandbox.json").exists() {
        return root;
    }
    let staging =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("staging-{}", uuid::Uuid::new_v4()));
    let ports = Ports::from_base(IpAddr::V4(Ipv4Addr::LOCALHOST), 1);
    sandbox::prepare(&staging, &ports).unwrap();
    // Another test may have won the race; either copy is good.
    if std::fs::rename(&staging, &root).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    root
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Starts the directory and the account holder on free loopback ports.
pub async fn start(backend: Backend) -> Sandbox {
    let (env, holder_listener) = prepare(backend).await;
    let url = database_url(backend);
    let holder = aberta_auth::sandbox::start(
        env.dir.path(),
        &env.contract,
        holder_listener,
        url.as_deref(),
    )
    .await
    .unwrap();
    Sandbox { env, holder }
}

/// A data directory on free loopback ports with the directory running, and the listener the
/// account holder is to serve on.
pub async fn prepare(backend: Backend) -> (Env, TcpListener) {
    install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || copy_dir(&template(), &data))
        .await
        .unwrap();
    let holder_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let directory_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ports = Ports {
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        holder: holder_listener.local_addr().unwrap().port(),
        directory: directory_listener.local_addr().unwrap().port(),
        pcm: 1,
    };
    let data = dir.path().to_path_buf();
    let contract = tokio::task::spawn_blocking(move || sandbox::prepare(&data, &ports).unwrap())
        .await
        .unwrap();
    let directory = aberta_ecosystem::directory::serve(
        dir.path(),
        directory_listener,
        &contract.directory.base_url,
    )
    .unwrap();
    let env = Env {
        dir,
        contract,
        directory,
        backend,
    };
    (env, holder_listener)
}

fn client_builder(contract: &SandboxJson) -> reqwest::ClientBuilder {
    let ca = std::fs::read(&contract.ca_bundle).unwrap();
    reqwest::Client::builder()
        .tls_backend_rustls()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).unwrap())
        .redirect(reqwest::redirect::Policy::none())
}

pub fn client_with(contract: &SandboxJson, cert: &Path, key: &Path) -> reqwest::Client {
    let mut pem = std::fs::read(cert).unwrap();
    pem.extend(std::fs::read(key).unwrap());
    client_builder(contract)
        .identity(reqwest::Identity::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

/// A browser: no client certificate.
/// A browser: no client certificate, and a cookie jar (the portal binds its session to one).
pub fn browser(contract: &SandboxJson) -> reqwest::Client {
    client_builder(contract).cookie_store(true).build().unwrap()
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A software statement of the seeded TPP organisation, with its keys and a client of ours.
pub struct Tpp {
    pub org_id: String,
    pub software_id: String,
    pub redirect_uris: Vec<String>,
    pub webhook_uris: Vec<String>,
    pub http: reqwest::Client,
    pub signer: Arc<Ps256Key>,
    pub enc: Jwk,
    pub issuer: String,
    pub jwks_uri: String,
    pub client_id: Option<String>,
    pub rat: Option<String>,
}

impl Env {
    pub fn issuer(&self) -> &str {
        &self.contract.issuer
    }

    /// A new software statement of the sandbox's TPP with `roles` and two redirect URIs.
    pub fn new_tpp(&self, roles: &[&str]) -> Tpp {
        let tag = &uuid::Uuid::new_v4().to_string()[..8];
        self.new_tpp_with(
            roles,
            vec![
                format!("https://tpp-{tag}.localhost/callback"),
                format!("https://tpp-{tag}.localhost/other-callback"),
            ],
        )
    }

    /// A new software statement with these redirect URIs.
    pub fn new_tpp_with(&self, roles: &[&str], redirect_uris: Vec<String>) -> Tpp {
        let tag = &uuid::Uuid::new_v4().to_string()[..8];
        self.new_tpp_full(
            roles,
            redirect_uris,
            vec![format!("https://tpp-{tag}.localhost/webhook")],
        )
    }

    /// A new software statement with these redirect and webhook URIs.
    pub fn new_tpp_full(
        &self,
        roles: &[&str],
        redirect_uris: Vec<String>,
        webhook_uris: Vec<String>,
    ) -> Tpp {
        let pki = Pki::open_or_create(self.dir.path()).unwrap();
        let registry = Registry::new(self.dir.path());
        let tag = &uuid::Uuid::new_v4().to_string()[..8];
        let software = registry
            .create_software(
                &pki,
                &self.contract.tpp.org_id,
                &SoftwareSpec {
                    software_id: None,
                    client_name: format!("TPP test {tag}"),
                    description: None,
                    roles: roles.iter().map(|r| r.to_string()).collect(),
                    redirect_uris,
                    webhook_uris,
                    origin_uris: vec![],
                },
            )
            .unwrap();
        let files = registry
            .key_files(&self.contract.tpp.org_id, &software.software_id)
            .unwrap();
        Tpp {
            org_id: self.contract.tpp.org_id.clone(),
            software_id: software.software_id.clone(),
            redirect_uris: software.redirect_uris,
            webhook_uris: software.webhook_uris,
            http: client_with(&self.contract, &files.transport_cert, &files.transport_key),
            signer: Arc::new(Ps256Key::from_jwk(&keys::load(&files.signing_jwk).unwrap()).unwrap()),
            enc: keys::load(&files.encryption_jwk).unwrap(),
            issuer: self.contract.issuer.clone(),
            jwks_uri: format!(
                "{}/{}/{}/application.jwks",
                self.contract.directory.keystore_url,
                self.contract.tpp.org_id,
                software.software_id
            ),
            client_id: None,
            rat: None,
        }
    }

    /// A fresh SSA for `tpp` from the directory (token, then assertion).
    pub async fn ssa(&self, tpp: &Tpp) -> String {
        let resp = tpp
            .http
            .post(&self.contract.directory.token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&scope=directory%3Asoftware")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "directory token");
        let body: Value = resp.json().await.unwrap();
        let token = body["access_token"].as_str().unwrap();
        let url = self
            .contract
            .directory
            .ssa_url_template
            .replace("{org_id}", &tpp.org_id)
            .replace("{software_id}", &tpp.software_id);
        let resp = tpp.http.get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(resp.status(), 200, "SSA");
        resp.text().await.unwrap()
    }

    /// Registers `tpp` (DCR) with its first redirect URI; panics unless 201.
    pub async fn register(&self, tpp: &mut Tpp) -> Value {
        let ssa = self.ssa(tpp).await;
        let (status, body) = tpp.post_register(&registration_body(&ssa, tpp)).await;
        assert_eq!(status, 201, "registration: {body}");
        tpp.client_id = Some(body["client_id"].as_str().unwrap().to_string());
        tpp.rat = Some(
            body["registration_access_token"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        body
    }

    pub fn user(&self) -> (String, String) {
        let user = &self.contract.users[0];
        (user.cpf.clone(), user.password.clone())
    }
}

impl Sandbox {
    /// Creates a data-sharing consent for `cpf`, awaiting authorisation, owned by `tpp`.
    pub async fn consent(&self, tpp: &Tpp, cpf: &str) -> String {
        let consent_id = format!("urn:aberta:{}", uuid::Uuid::new_v4());
        self.holder
            .consents
            .create(
                &self.contract.holder.brand,
                &ConsentView {
                    consent_id: consent_id.clone(),
                    client_id: tpp.client_id.clone().unwrap(),
                    status: AWAITING_AUTHORISATION.into(),
                    logged_user_cpf: cpf.into(),
                    business_cnpj: None,
                    permissions: vec![
                        "ACCOUNTS_READ".into(),
                        "ACCOUNTS_BALANCES_READ".into(),
                        "RESOURCES_READ".into(),
                    ],
                    expires_at: now() + 86_400,
                    payment: None,
                },
            )
            .await
            .unwrap();
        consent_id
    }
}

pub fn registration_body(ssa: &str, tpp: &Tpp) -> Value {
    json!({
        "software_statement": ssa,
        "redirect_uris": [tpp.redirect_uris[0]],
        "jwks_uri": tpp.jwks_uri,
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code id_token"],
        "token_endpoint_auth_method": "private_key_jwt",
        "id_token_signed_response_alg": "PS256",
        "id_token_encrypted_response_alg": "RSA-OAEP",
        "id_token_encrypted_response_enc": "A256GCM",
        "request_object_signing_alg": "PS256",
        "tls_client_certificate_bound_access_tokens": true,
        "webhook_uris": tpp.webhook_uris,
    })
}

/// The result of an authorization: the fragment parameters of the redirect.
pub type Fragment = HashMap<String, String>;

impl Tpp {
    pub fn client_id(&self) -> &str {
        self.client_id.as_deref().unwrap()
    }

    pub async fn post_register(&self, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/register", self.issuer))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub fn sign(&self, claims: Value) -> String {
        let Value::Object(map) = claims else {
            panic!("claims must be an object")
        };
        self.signer.sign_jwt(map).unwrap()
    }

    /// A client assertion for `aud`.
    pub fn assertion_for(&self, aud: Value) -> String {
        self.sign(json!({
            "iss": self.client_id(),
            "sub": self.client_id(),
            "aud": aud,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now(),
            "exp": now() + 60,
        }))
    }

    pub fn assertion(&self) -> String {
        self.assertion_for(json!(self.issuer))
    }

    /// Default request-object claims; tests change them.
    pub fn request_claims(&self, scope: &str, verifier: &str) -> Map<String, Value> {
        let challenge = b64(&sha2::Sha256::digest(verifier.as_bytes()));
        let Value::Object(map) = json!({
            "iss": self.client_id(),
            "aud": self.issuer,
            "client_id": self.client_id(),
            "response_type": "code id_token",
            "redirect_uri": self.redirect_uris[0],
            "scope": scope,
            "state": uuid::Uuid::new_v4().to_string(),
            "nonce": uuid::Uuid::new_v4().to_string(),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "claims": { "id_token": { "acr": { "essential": true, "values": [LOA2] } } },
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now(),
            "nbf": now(),
            "exp": now() + 300,
        }) else {
            unreachable!()
        };
        map
    }

    /// POST /par with `form` (client authentication added); returns status and body.
    pub async fn par_form(&self, mut form: Vec<(String, String)>) -> (u16, Value) {
        form.push(("client_id".into(), self.client_id().into()));
        form.push((
            "client_assertion_type".into(),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
        ));
        form.push(("client_assertion".into(), self.assertion()));
        self.post_form("/par", &form).await
    }

    pub async fn par(&self, claims: Map<String, Value>) -> (u16, Value) {
        let request = self.signer.sign_jwt(claims).unwrap();
        self.par_form(vec![("request".into(), request)]).await
    }

    pub async fn post_form(&self, path: &str, form: &[(String, String)]) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A token request with client authentication.
    pub async fn token(&self, params: &[(&str, &str)]) -> (u16, Value) {
        let mut form: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        form.push((
            "client_assertion_type".into(),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
        ));
        form.push(("client_assertion".into(), self.assertion()));
        self.post_form("/token", &form).await
    }

    /// Decrypts and verifies a front-channel id_token; returns its claims.
    pub async fn open_id_token(&self, jwe: &str) -> Map<String, Value> {
        let decrypter = josekit::jwe::RSA_OAEP
            .decrypter_from_jwk(&self.enc)
            .unwrap();
        let (signed, header) = josekit::jwe::deserialize_compact(jwe, &decrypter).unwrap();
        assert_eq!(header.content_encryption(), Some("A256GCM"));
        self.verify_id_token(std::str::from_utf8(&signed).unwrap())
            .await
    }

    /// Verifies a signed id_token with the server's JWKS.
    pub async fn verify_id_token(&self, jws: &str) -> Map<String, Value> {
        let jwks: Value = self
            .http
            .get(format!("{}/jwks", self.issuer))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let set = josekit::jwk::JwkSet::from_bytes(jwks.to_string().as_bytes()).unwrap();
        let jwk = &set.keys()[0];
        let verifier = josekit::jws::PS256.verifier_from_jwk(jwk).unwrap();
        let (payload, header) = josekit::jwt::decode_with_verifier(jws, &verifier).unwrap();
        assert_eq!(header.algorithm(), Some("PS256"));
        assert_eq!(header.key_id(), jwk.key_id());
        payload.claims_set().clone()
    }
}

/// Follows the portal as a user: authorize -> login -> consent -> approve/reject. Returns the
/// final redirect's fragment.
pub async fn authorize_as_user(
    sandbox: &Env,
    tpp: &Tpp,
    request_uri: &str,
    user: (&str, &str),
    approve: bool,
) -> Fragment {
    authorize_seeing(sandbox, tpp, request_uri, user, approve, &[]).await
}

/// [`authorize_as_user`], checking that the consent page shows each of `expected`.
pub async fn authorize_seeing(
    sandbox: &Env,
    tpp: &Tpp,
    request_uri: &str,
    (cpf, password): (&str, &str),
    approve: bool,
    expected: &[&str],
) -> Fragment {
    let browser = browser(&sandbox.contract);
    let base = sandbox.issuer();
    let resp = browser
        .get(format!("{base}/authorize"))
        .query(&[("client_id", tpp.client_id()), ("request_uri", request_uri)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "authorize");
    let login = location(&resp);
    let session = login.split("session=").nth(1).unwrap().to_string();
    let page = browser.get(format!("{base}{login}")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"username\"") && html.contains("name=\"password\""));
    let resp = browser
        .post(format!("{base}/portal/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("session", session.as_str()),
                ("username", cpf),
                ("password", password),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "login");
    let consent = location(&resp);
    let page = browser
        .get(format!("{base}{consent}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"approve\"") && html.contains("name=\"reject\""));
    for shown in expected {
        assert!(
            html.contains(shown),
            "the consent page shows {shown}: {html}"
        );
    }
    // Every offered account stays selected, as the page preselects them.
    let accounts: Vec<&str> = html
        .split("<option value=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    let decision = if approve { "approve" } else { "reject" };
    let mut fields = vec![("session", session.as_str()), (decision, "1")];
    fields.extend(accounts.iter().map(|a| ("account", *a)));
    let resp = browser
        .post(format!("{base}/portal/consent"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&fields).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "decision");
    let target = location(&resp);
    assert!(
        target.starts_with(&tpp.redirect_uris[0]),
        "redirected to {target}"
    );
    let fragment = target.split_once('#').map(|(_, f)| f).unwrap_or_default();
    serde_urlencoded::from_str::<Vec<(String, String)>>(fragment)
        .unwrap()
        .into_iter()
        .collect()
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

pub fn half_hash(value: &str) -> String {
    b64(&sha2::Sha256::digest(value.as_bytes())[..16])
}

/// A sandbox with one registered DADOS + PAGTO TPP.
pub async fn ready(backend: Backend) -> (Sandbox, Tpp) {
    let sandbox = start(backend).await;
    let mut tpp = sandbox.new_tpp(&["DADOS", "PAGTO"]);
    sandbox.register(&mut tpp).await;
    (sandbox, tpp)
}

/// Asserts an OAuth error response.
#[track_caller]
pub fn assert_error((status, body): &(u16, Value), want_status: u16, want_error: &str) {
    assert_eq!(
        (*status, body["error"].as_str().unwrap_or_default()),
        (want_status, want_error),
        "{body}"
    );
}

/// A fresh PKCE verifier.
pub fn verifier() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// PAR, login and approval as the sandbox's first user; returns (code, verifier, fragment).
pub async fn authorised_code(sandbox: &Env, tpp: &Tpp) -> (String, String, Fragment) {
    let verifier = verifier();
    let (status, par) = tpp
        .par(tpp.request_claims("openid accounts", &verifier))
        .await;
    assert_eq!(status, 201, "{par}");
    let (cpf, password) = sandbox.user();
    let fragment = authorize_as_user(
        sandbox,
        tpp,
        par["request_uri"].as_str().unwrap(),
        (&cpf, &password),
        true,
    )
    .await;
    (fragment["code"].clone(), verifier, fragment)
}

/// Exchanges a code.
pub async fn exchange(tpp: &Tpp, code: &str, verifier: &str) -> (u16, Value) {
    tpp.token(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &tpp.redirect_uris[0]),
        ("code_verifier", verifier),
    ])
    .await
}

impl Tpp {
    /// The same software talking to another issuer (another brand).
    pub fn clone_for(&self, issuer: &str) -> Tpp {
        Tpp {
            org_id: self.org_id.clone(),
            software_id: self.software_id.clone(),
            redirect_uris: self.redirect_uris.clone(),
            webhook_uris: self.webhook_uris.clone(),
            http: self.http.clone(),
            signer: self.signer.clone(),
            enc: self.enc.clone(),
            issuer: issuer.to_string(),
            jwks_uri: self.jwks_uri.clone(),
            client_id: None,
            rat: None,
        }
    }
}
