//! Load runs against the account holder, in one process: the sandbox's directory simulator and
//! the assembled account holder (authorization server, consents, data APIs over the demo bank)
//! on loopback over real mutual TLS, a TPP registered through DCR, then keep-alive mTLS
//! connections driving the token, PAR/portal and introspection endpoints, and the data APIs
//! with every check on beside a bare handler behind the same TLS. The machine's PS256 sign and
//! verify rates are measured by the same run so every figure can be read against the crypto
//! limit.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aberta_ecosystem::keys::{self, KeyPurpose, Ps256Key};
use aberta_ecosystem::pki::Pki;
use aberta_ecosystem::registry::{Registry, SoftwareSpec};
use aberta_ecosystem::sandbox::{self, Ports, SandboxJson};
use aberta_ecosystem::tls::MtlsServer;
use aberta_holder::sandbox::Holder;
use anyhow::{Context, Result, anyhow, bail, ensure};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::Digest;
use tokio::net::TcpListener;

mod capture;
mod cpu;
mod payments;
mod report;

use capture::{capture_cost, reports_on_tmpfs};

pub use cpu::CpuUse;
pub use report::{CaptureCost, CpuCost, CryptoRates, Report, ScenarioResult};

/// The capture comparison's scenarios.
pub const CAPTURE_ON: &str = "GET accounts (every check), call capture on";
pub const CAPTURE_OFF: &str = "GET accounts (every check), call capture off";

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const LOA2: &str = "urn:brasil:openbanking:loa2";
/// HTTP requests in one PAR -> authorize -> login -> approve -> token flow.
pub const FLOW_REQUESTS: usize = 5;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Concurrent keep-alive connections (one worker per connection).
    pub connections: usize,
    /// Timed window of each scenario.
    pub duration: Duration,
    /// Untimed run before each scenario that opens the connections, warms the caches and
    /// estimates the rate (to size the pool of pre-signed JWTs).
    pub warmup: Duration,
    /// How long each PS256 rate (sign, verify) is measured.
    pub crypto_duration: Duration,
    /// PostgreSQL (or any `Store::connect` URL); SQLite in a temporary directory when `None`.
    pub database_url: Option<String>,
    /// Rounds of the capture comparison (the accounts read with call capture on, then off,
    /// each on a fresh holder).
    pub capture_rounds: usize,
    /// Run the capture comparison alone (and the PS256 rates).
    pub only_capture: bool,
    /// The capture comparison's offered load in requests per second (an open loop); a closed
    /// loop on every connection when `None`.
    pub capture_rate: Option<f64>,
}

impl Options {
    /// The defaults of `cargo xtask bench`.
    pub fn standard() -> Self {
        Self {
            connections: 64,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(1),
            crypto_duration: Duration::from_secs(2),
            database_url: None,
            capture_rounds: 2,
            only_capture: false,
            capture_rate: None,
        }
    }

    /// `--quick`: 2 s per scenario on 8 connections.
    pub fn quick() -> Self {
        Self {
            connections: 8,
            duration: Duration::from_secs(2),
            warmup: Duration::from_millis(500),
            ..Self::standard()
        }
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

// ---------------------------------------------------------------------------------------------
// PS256 rates

/// Signs (or verifies) on every core at once for `duration`; returns operations per second.
fn parallel_rate(duration: Duration, op: impl Fn() -> Result<()> + Sync) -> Result<f64> {
    let started = Instant::now();
    let counts: Vec<Result<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..cores())
            .map(|_| {
                scope.spawn(|| {
                    let mut done = 0u64;
                    while started.elapsed() < duration {
                        op()?;
                        done += 1;
                    }
                    Ok(done)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a thread panicked")))
            })
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut total = 0;
    for count in counts {
        total += count?;
    }
    Ok(total as f64 / elapsed)
}

/// The machine's PS256 sign and verify rates on all cores, with a fresh RSA-2048 key like the
/// server's and a client assertion as the payload.
pub fn measure_crypto(duration: Duration) -> Result<CryptoRates> {
    let key = Ps256Key::from_jwk(&keys::generate(KeyPurpose::Signing)?)?;
    let claims = || {
        object(json!({
            "iss": "client", "sub": "client", "aud": "https://127.0.0.1:8443",
            "jti": uuid::Uuid::new_v4().to_string(), "iat": now(), "exp": now() + 60,
        }))
    };
    let sign = parallel_rate(duration, || {
        key.sign_jwt(claims())?;
        Ok(())
    })?;
    let token = key.sign_jwt(claims())?;
    let verify = parallel_rate(duration, || {
        key.verify_jwt(&token)?;
        Ok(())
    })?;
    Ok(CryptoRates {
        threads: cores(),
        sign_per_s: sign,
        verify_per_s: verify,
    })
}

/// Signs `count` items on every core; `make` builds item `i`.
fn presign<T: Send>(count: usize, make: impl Fn(usize) -> Result<T> + Sync) -> Result<Vec<T>> {
    let threads = cores().min(count.max(1));
    let chunk = count.div_ceil(threads);
    let parts: Vec<Result<Vec<T>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let make = &make;
                scope.spawn(move || {
                    (t * chunk..((t + 1) * chunk).min(count))
                        .map(make)
                        .collect::<Result<Vec<T>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a thread panicked")))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(count);
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The sandbox

/// The directory simulator and the account holder, running in this process.
pub struct Sandbox {
    dir: tempfile::TempDir,
    pub contract: SandboxJson,
    directory: MtlsServer,
    /// The PCM simulator the holder reports its calls to, on threads of its own.
    pcm: aberta_ecosystem::pcm_sim::OwnThreadServer,
    /// Where the simulator keeps its reports (tmpfs when the machine has one).
    _pcm_reports: Option<tempfile::TempDir>,
    holder: Holder,
    /// A bare poem handler behind the holder's TLS configuration.
    bare: MtlsServer,
    bare_url: String,
    pub backend: String,
}

impl Sandbox {
    /// Prepares a data directory (test PKI, registry) and starts both servers on free
    /// loopback ports.
    pub async fn start(database_url: Option<&str>) -> Result<Self> {
        Self::start_with(database_url, true).await
    }

    /// [`start`](Self::start); `capture` off starts the holder without recording calls for
    /// the PCM, to measure what recording costs.
    pub async fn start_with(database_url: Option<&str>, capture: bool) -> Result<Self> {
        aberta_ecosystem::tls::install_crypto_provider();
        let dir = tempfile::tempdir()?;
        let holder_listener = TcpListener::bind("127.0.0.1:0").await?;
        let directory_listener = TcpListener::bind("127.0.0.1:0").await?;
        let pcm_listener = TcpListener::bind("127.0.0.1:0").await?;
        let ports = Ports {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            holder: holder_listener.local_addr()?.port(),
            directory: directory_listener.local_addr()?.port(),
            pcm: pcm_listener.local_addr()?.port(),
        };
        let data = dir.path().to_path_buf();
        let contract = tokio::task::spawn_blocking(move || sandbox::prepare(&data, &ports))
            .await?
            .context("preparing the sandbox data directory")?;
        let directory = aberta_ecosystem::directory::serve(
            dir.path(),
            directory_listener,
            &contract.directory.base_url,
        )
        .context("starting the directory simulator")?;
        let pcm_reports = reports_on_tmpfs(dir.path())?;
        let pcm = aberta_ecosystem::pcm_sim::serve_on_own_thread(
            dir.path(),
            pcm_listener,
            &contract.pcm.base_url,
        )
        .context("starting the PCM simulator")?;
        let internal_listener = TcpListener::bind("127.0.0.1:0").await?;
        let holder = aberta_holder::sandbox::start_with(
            dir.path(),
            &contract,
            holder_listener,
            internal_listener,
            database_url,
            aberta_holder::sandbox::HolderOptions {
                capture,
                ..Default::default()
            },
        )
        .await
        .context("starting the account holder")?;
        let bare_listener = TcpListener::bind("127.0.0.1:0").await?;
        let bare_port = bare_listener.local_addr()?.port();
        let mut bare_url = url::Url::parse(&contract.issuer)?;
        bare_url
            .set_port(Some(bare_port))
            .map_err(|_| anyhow!("the issuer URL takes no port"))?;
        let bare_url = format!("{}bare", bare_url);
        let bare = MtlsServer::serve(
            bare_listener,
            aberta_auth::sandbox::tls_config(dir.path())?,
            poem::EndpointExt::boxed(poem::Route::new().at("/bare", poem::get(bare_handler))),
        )
        .context("starting the bare handler")?;
        let backend = backend_name(database_url);
        Ok(Self {
            dir,
            contract,
            directory,
            pcm,
            _pcm_reports: pcm_reports,
            holder,
            bare,
            bare_url,
            backend,
        })
    }

    pub async fn shutdown(self) {
        self.holder.shutdown().await;
        self.bare.shutdown().await;
        self.directory.shutdown().await;
        self.pcm.shutdown().await;
    }

    /// A new software statement of the sandbox TPP with its keys.
    fn new_tpp(&self) -> Result<Tpp> {
        let pki = Pki::open_or_create(self.dir.path())?;
        let registry = Registry::new(self.dir.path());
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let software = registry.create_software(
            &pki,
            &self.contract.tpp.org_id,
            &SoftwareSpec {
                software_id: None,
                client_name: format!("Bench TPP {tag}"),
                description: None,
                roles: vec!["DADOS".into(), "PAGTO".into()],
                redirect_uris: vec![format!("https://tpp-{tag}.localhost/callback")],
                webhook_uris: vec![format!("https://tpp-{tag}.localhost/webhook")],
                origin_uris: vec![],
            },
        )?;
        let files = registry.key_files(&self.contract.tpp.org_id, &software.software_id)?;
        let mut identity = std::fs::read(&files.transport_cert)?;
        identity.extend(std::fs::read(&files.transport_key)?);
        let user = self
            .contract
            .users
            .first()
            .context("the sandbox has no test user")?;
        Ok(Tpp {
            org_id: self.contract.tpp.org_id.clone(),
            software_id: software.software_id.clone(),
            redirect_uri: software
                .redirect_uris
                .first()
                .cloned()
                .context("no redirect URI")?,
            webhook_uris: software.webhook_uris,
            ca: std::fs::read(&self.contract.ca_bundle)?,
            identity,
            signer: Ps256Key::from_jwk(&keys::load(&files.signing_jwk)?)?,
            issuer: self.contract.issuer.clone(),
            jwks_uri: format!(
                "{}/{}/{}/application.jwks",
                self.contract.directory.keystore_url,
                self.contract.tpp.org_id,
                software.software_id
            ),
            client_id: String::new(),
            user: (user.cpf.clone(), user.password.clone()),
        })
    }

    /// Registers a new TPP through DCR with a fresh software statement from the directory.
    pub async fn register_tpp(&self) -> Result<Tpp> {
        let mut tpp = self.new_tpp()?;
        let http = tpp.client()?;
        let resp = http
            .post(&self.contract.directory.token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&scope=directory%3Asoftware")
            .send()
            .await?;
        ensure!(resp.status() == 200, "directory token: {}", resp.status());
        let body: Value = resp.json().await?;
        let token = body["access_token"]
            .as_str()
            .context("directory token without access_token")?;
        let url = self
            .contract
            .directory
            .ssa_url_template
            .replace("{org_id}", &tpp.org_id)
            .replace("{software_id}", &tpp.software_id);
        let resp = http.get(url).bearer_auth(token).send().await?;
        ensure!(resp.status() == 200, "SSA: {}", resp.status());
        let ssa = resp.text().await?;
        let resp = http
            .post(format!("{}/register", tpp.issuer))
            .json(&json!({
                "software_statement": ssa,
                "redirect_uris": [tpp.redirect_uri],
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
            }))
            .send()
            .await?;
        let status = resp.status();
        let body = resp.text().await?;
        ensure!(status == 201, "DCR answered {status}: {body}");
        let body: Value = serde_json::from_str(&body)?;
        tpp.client_id = body["client_id"]
            .as_str()
            .context("DCR answer without client_id")?
            .to_string();
        Ok(tpp)
    }
}

/// The bare handler: what poem and TLS cost without any check, for the data scenarios' ratio.
#[poem::handler]
fn bare_handler() -> poem::web::Json<Value> {
    poem::web::Json(json!({ "data": [], "links": { "self": "bare" }, "meta": {} }))
}

/// A database URL without its password.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// A registered TPP: its transport identity, signing key and client_id.
pub struct Tpp {
    org_id: String,
    software_id: String,
    redirect_uri: String,
    webhook_uris: Vec<String>,
    ca: Vec<u8>,
    identity: Vec<u8>,
    signer: Ps256Key,
    issuer: String,
    jwks_uri: String,
    client_id: String,
    user: (String, String),
}

impl Tpp {
    /// A client presenting the TPP's transport certificate; it follows no redirect and, used
    /// by one worker at a time, keeps one keep-alive connection.
    fn client(&self) -> Result<reqwest::Client> {
        Ok(reqwest::Client::builder()
            .tls_backend_rustls()
            .tls_certs_only(reqwest::Certificate::from_pem_bundle(&self.ca)?)
            .identity(reqwest::Identity::from_pem(&self.identity)?)
            .redirect(reqwest::redirect::Policy::none())
            // The portal binds its session to the browser with a cookie.
            .cookie_store(true)
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(30))
            .build()?)
    }

    fn sign(&self, claims: Value) -> Result<String> {
        Ok(self.signer.sign_jwt(object(claims))?)
    }

    /// A client assertion with a unique `jti`.
    fn assertion(&self) -> Result<String> {
        self.sign(json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.issuer,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now(),
            "exp": now() + 600,
        }))
    }

    fn with_assertion(&self, mut form: Vec<(&str, String)>) -> Result<String> {
        form.push(("client_assertion_type", JWT_BEARER.to_string()));
        form.push(("client_assertion", self.assertion()?));
        Ok(serde_urlencoded::to_string(form)?)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

// ---------------------------------------------------------------------------------------------
// The load runner

/// What one worker saw.
#[derive(Default)]
struct WorkerLog {
    latencies: Vec<Duration>,
    failures: usize,
    /// When and what went wrong first.
    first_error: Option<(Instant, String)>,
    exhausted: bool,
}

/// The raw outcome of one run.
struct Run {
    latencies: Vec<Duration>,
    failures: usize,
    first_error: Option<String>,
    elapsed: Duration,
    exhausted: bool,
}

/// One worker per client (connection) takes pre-built jobs until `duration` is over or the
/// pool is empty; every job's duration is recorded. With a `pace` (requests per second in
/// all), each worker starts its jobs on a fixed schedule instead of back to back (an open
/// loop; a worker that falls behind its schedule sends at once).
async fn drive<J, F, Fut>(
    clients: &[reqwest::Client],
    jobs: Vec<J>,
    duration: Duration,
    pace: Option<f64>,
    f: F,
) -> Run
where
    J: Send + Sync + 'static,
    F: Fn(reqwest::Client, Arc<Vec<J>>, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let workers = clients.len() as f64;
    let period = pace
        .filter(|rate| *rate > 0.0)
        .map(|rate| Duration::from_secs_f64(workers / rate));
    let mut handles = Vec::new();
    for (k, client) in clients.iter().enumerate() {
        let (client, jobs, next, f) = (client.clone(), jobs.clone(), next.clone(), f.clone());
        // The workers' schedules are spread evenly over one period.
        let mut due = period.map(|p| started + p.mul_f64(k as f64 / workers));
        handles.push(tokio::spawn(async move {
            let mut log = WorkerLog::default();
            loop {
                if let (Some(at), Some(period)) = (due.as_mut(), period) {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(*at)).await;
                    *at += period;
                }
                if Instant::now() >= deadline {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs.len() {
                    log.exhausted = true;
                    break;
                }
                let t = Instant::now();
                match f(client.clone(), jobs.clone(), i).await {
                    Ok(()) => log.latencies.push(t.elapsed()),
                    Err(err) => {
                        log.failures += 1;
                        log.first_error
                            .get_or_insert_with(|| (Instant::now(), format!("{err:#}")));
                    }
                }
            }
            (log, Instant::now())
        }));
    }
    let mut first: Option<(Instant, String)> = None;
    let mut run = Run {
        latencies: Vec::new(),
        failures: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        exhausted: false,
    };
    for handle in handles {
        match handle.await {
            Ok((log, ended)) => {
                run.latencies.extend(log.latencies);
                run.failures += log.failures;
                if let Some((at, err)) = log.first_error
                    && first.as_ref().is_none_or(|(earliest, _)| at < *earliest)
                {
                    first = Some((at, err));
                }
                run.exhausted |= log.exhausted;
                run.elapsed = run.elapsed.max(ended - started);
            }
            Err(err) => {
                run.failures += 1;
                first.get_or_insert_with(|| (Instant::now(), format!("worker: {err}")));
            }
        }
    }
    run.first_error = first.map(|(_, err)| err);
    run
}

/// A scenario: how to pre-sign one job and how to run it.
trait Scenario: Send + Sync + 'static {
    type Job: Send + Sync + 'static;
    fn name(&self) -> &'static str;
    /// What the server does per job, for the report.
    const SERVER_SIGNS: u32;
    const SERVER_VERIFIES: u32;
    const HTTP_REQUESTS: usize;
    fn job(&self, tpp: &Tpp) -> Result<Self::Job>;
    fn run(
        self: Arc<Self>,
        client: reqwest::Client,
        jobs: Arc<Vec<Self::Job>>,
        i: usize,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Sends a form and checks the status; returns the response.
async fn post_form(
    client: &reqwest::Client,
    url: &str,
    body: String,
    want: u16,
) -> Result<reqwest::Response> {
    let resp = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await?;
    expect(resp, want, url).await
}

async fn expect(resp: reqwest::Response, want: u16, what: &str) -> Result<reqwest::Response> {
    if resp.status().as_u16() == want {
        return Ok(resp);
    }
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    bail!(
        "{what}: HTTP {status} (wanted {want}): {}",
        body.chars().take(300).collect::<String>()
    )
}

fn location(resp: &reqwest::Response) -> Result<String> {
    Ok(resp
        .headers()
        .get("location")
        .context("a redirect without location")?
        .to_str()?
        .to_string())
}

struct ClientCredentials {
    token_url: String,
}

impl Scenario for ClientCredentials {
    type Job = String;
    fn name(&self) -> &'static str {
        "client_credentials (private_key_jwt)"
    }
    const SERVER_SIGNS: u32 = 0;
    const SERVER_VERIFIES: u32 = 1;
    const HTTP_REQUESTS: usize = 1;

    fn job(&self, tpp: &Tpp) -> Result<String> {
        tpp.with_assertion(vec![
            ("grant_type", "client_credentials".into()),
            ("scope", "consents".into()),
        ])
    }

    async fn run(
        self: Arc<Self>,
        client: reqwest::Client,
        jobs: Arc<Vec<String>>,
        i: usize,
    ) -> Result<()> {
        let resp = post_form(&client, &self.token_url, jobs[i].clone(), 200).await?;
        let body = resp.bytes().await?;
        ensure!(
            contains(&body, b"\"access_token\""),
            "token response without access_token"
        );
        Ok(())
    }
}

struct Introspection {
    url: String,
    token: String,
}

impl Scenario for Introspection {
    type Job = String;
    fn name(&self) -> &'static str {
        "introspection (valid token)"
    }
    const SERVER_SIGNS: u32 = 0;
    const SERVER_VERIFIES: u32 = 1;
    const HTTP_REQUESTS: usize = 1;

    fn job(&self, tpp: &Tpp) -> Result<String> {
        tpp.with_assertion(vec![("token", self.token.clone())])
    }

    async fn run(
        self: Arc<Self>,
        client: reqwest::Client,
        jobs: Arc<Vec<String>>,
        i: usize,
    ) -> Result<()> {
        let resp = post_form(&client, &self.url, jobs[i].clone(), 200).await?;
        let body = resp.bytes().await?;
        ensure!(
            contains(&body, b"\"active\":true"),
            "the token is not active"
        );
        Ok(())
    }
}

/// A GET of a data API with the customer's token and a fresh interaction id.
async fn get_data(client: &reqwest::Client, url: &str, token: &str) -> Result<()> {
    let resp = client
        .get(url)
        .bearer_auth(token)
        .header(
            "x-fapi-interaction-id",
            uuid::Uuid::new_v4().hyphenated().to_string(),
        )
        .send()
        .await?;
    let resp = expect(resp, 200, url).await?;
    let body = resp.bytes().await?;
    ensure!(
        contains(&body, b"\"data\""),
        "{url}: an answer without data"
    );
    Ok(())
}

/// A GET with the customer's token: a data read with every check (token, certificate binding,
/// consent, permissions, resource), or the bare handler for comparison.
struct DataRead {
    name: &'static str,
    url: String,
    token: String,
}

impl Scenario for DataRead {
    type Job = ();
    const SERVER_SIGNS: u32 = 0;
    const SERVER_VERIFIES: u32 = 0;
    const HTTP_REQUESTS: usize = 1;

    fn name(&self) -> &'static str {
        self.name
    }

    fn job(&self, _: &Tpp) -> Result<()> {
        Ok(())
    }

    async fn run(
        self: Arc<Self>,
        client: reqwest::Client,
        _: Arc<Vec<()>>,
        _: usize,
    ) -> Result<()> {
        get_data(&client, &self.url, &self.token).await
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The pre-signed parts of one authorization: the PAR body (request object and client
/// assertion), the PKCE verifier and the token request's client assertion.
struct FlowJob {
    par: String,
    verifier: String,
    token_assertion: String,
}

struct AuthorizationFlow {
    issuer: String,
    client_id: String,
    redirect_uri: String,
    user: (String, String),
}

impl Scenario for AuthorizationFlow {
    type Job = FlowJob;
    fn name(&self) -> &'static str {
        "PAR -> authorize -> login -> approve -> token"
    }
    /// The front-channel id_token and the token endpoint's id_token.
    const SERVER_SIGNS: u32 = 2;
    /// Two client assertions and the request object.
    const SERVER_VERIFIES: u32 = 3;
    const HTTP_REQUESTS: usize = FLOW_REQUESTS;

    fn job(&self, tpp: &Tpp) -> Result<FlowJob> {
        self.job_with_scope(tpp, "openid accounts")
    }

    async fn run(
        self: Arc<Self>,
        client: reqwest::Client,
        jobs: Arc<Vec<FlowJob>>,
        i: usize,
    ) -> Result<()> {
        self.authorise(&client, &jobs[i]).await.map(drop)
    }
}

impl AuthorizationFlow {
    fn job_with_scope(&self, tpp: &Tpp, scope: &str) -> Result<FlowJob> {
        let verifier = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let request = tpp.sign(json!({
            "iss": tpp.client_id,
            "aud": tpp.issuer,
            "client_id": tpp.client_id,
            "response_type": "code id_token",
            "redirect_uri": tpp.redirect_uri,
            "scope": scope,
            "state": uuid::Uuid::new_v4().to_string(),
            "nonce": uuid::Uuid::new_v4().to_string(),
            "code_challenge": b64(&sha2::Sha256::digest(verifier.as_bytes())),
            "code_challenge_method": "S256",
            "claims": { "id_token": { "acr": { "essential": true, "values": [LOA2] } } },
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now(),
            "nbf": now(),
            "exp": now() + 1800,
        }))?;
        Ok(FlowJob {
            par: tpp.with_assertion(vec![
                ("request", request),
                ("client_id", tpp.client_id.clone()),
            ])?,
            verifier,
            token_assertion: tpp.assertion()?,
        })
    }

    /// One flow; returns the access token.
    async fn authorise(&self, client: &reqwest::Client, job: &FlowJob) -> Result<String> {
        self.authorise_with(client, job, false).await
    }

    /// One flow; with `pick_account`, the consent page is read and its first account chosen
    /// (a payment consent that names no debtor account). Returns the access token.
    async fn authorise_with(
        &self,
        client: &reqwest::Client,
        job: &FlowJob,
        pick_account: bool,
    ) -> Result<String> {
        let base = &self.issuer;
        let resp = post_form(client, &format!("{base}/par"), job.par.clone(), 201).await?;
        let par: Value = resp.json().await?;
        let request_uri = par["request_uri"]
            .as_str()
            .context("PAR without request_uri")?;
        let resp = client
            .get(format!("{base}/authorize"))
            .query(&[
                ("client_id", self.client_id.as_str()),
                ("request_uri", request_uri),
            ])
            .send()
            .await?;
        let resp = expect(resp, 303, "/authorize").await?;
        let login = location(&resp)?;
        let session = login
            .split_once("session=")
            .map(|(_, s)| s.to_string())
            .context("the login redirect has no session")?;
        let form = serde_urlencoded::to_string([
            ("session", session.as_str()),
            ("username", self.user.0.as_str()),
            ("password", self.user.1.as_str()),
        ])?;
        let resp = post_form(client, &format!("{base}/portal/login"), form, 303).await?;
        let mut fields = vec![("session", session.clone()), ("approve", "1".to_string())];
        if pick_account {
            let page = client
                .get(format!("{base}{}", location(&resp)?))
                .send()
                .await?;
            let html = expect(page, 200, "consent page").await?.text().await?;
            let account = html
                .split("<option value=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .context("the consent page offers no account")?;
            fields.push(("account", account.to_string()));
        }
        let form = serde_urlencoded::to_string(&fields)?;
        let resp = post_form(client, &format!("{base}/portal/consent"), form, 303).await?;
        let target = location(&resp)?;
        let fragment = target
            .strip_prefix(self.redirect_uri.as_str())
            .and_then(|rest| rest.strip_prefix('#'))
            .with_context(|| format!("approval redirected to {target}"))?;
        let code = serde_urlencoded::from_str::<Vec<(String, String)>>(fragment)?
            .into_iter()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v)
            .with_context(|| format!("no code in {target}"))?;
        let form = serde_urlencoded::to_string([
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code_verifier", job.verifier.as_str()),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", job.token_assertion.as_str()),
        ])?;
        let resp = post_form(client, &format!("{base}/token"), form, 200).await?;
        let body: Value = resp.json().await?;
        ensure!(
            body.get("id_token").is_some(),
            "code exchange without id_token"
        );
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .context("code exchange without access_token")
    }
}

/// Progress lines go to stderr so stdout holds only the report.
fn progress(quiet: bool, message: &str) {
    if !quiet {
        eprintln!("[bench] {message}");
    }
}

/// Warms up (which also sizes the pool), pre-signs the pool, then runs the timed window.
async fn scenario<S: Scenario>(
    s: Arc<S>,
    tpp: &Arc<Tpp>,
    clients: &[reqwest::Client],
    opts: &Options,
    quiet: bool,
) -> Result<ScenarioResult> {
    let sign = |count: usize| {
        let (s, tpp) = (s.clone(), tpp.clone());
        async move { tokio::task::spawn_blocking(move || presign(count, |_| s.job(&tpp))).await? }
    };
    let runner = {
        let s = s.clone();
        move |client, jobs, i| S::run(s.clone(), client, jobs, i)
    };
    // The warm-up stops early when its pool runs out; its rate is all we need from it.
    let per_second = if S::HTTP_REQUESTS > 1 { 300.0 } else { 3000.0 };
    let warm_pool = clients.len() * 4 + (per_second * opts.warmup.as_secs_f64()) as usize;
    progress(quiet, &format!("{}: warming up", s.name()));
    let warm = drive(
        clients,
        sign(warm_pool).await?,
        opts.warmup,
        None,
        runner.clone(),
    )
    .await;
    if warm.failures > 0 {
        bail!(
            "{}: {} of the warm-up requests failed; first error: {}",
            s.name(),
            warm.failures,
            warm.first_error.unwrap_or_default()
        );
    }
    // The warm-up's own rate includes its slow start (handshakes, cold caches); with every
    // connection busy, connections / median latency is the steady rate (Little's law).
    let mut warm_latencies = warm.latencies;
    warm_latencies.sort_unstable();
    let median = report::percentile(&warm_latencies, 0.5).as_secs_f64();
    let observed = warm_latencies.len() as f64 / warm.elapsed.as_secs_f64().max(1e-3);
    let steady = if median > 0.0 {
        clients.len() as f64 / median
    } else {
        observed
    };
    let rate = observed.max(steady);
    // Signing the pool costs the load generator as much time as the window or more, so the
    // margin is small; a pool that runs out ends the window early (and the report says so).
    let pool = (rate * opts.duration.as_secs_f64() * 1.2).ceil() as usize + clients.len() * 4;
    progress(
        quiet,
        &format!(
            "{}: warm-up ran {rate:.0}/s; pre-signing {pool} jobs",
            s.name()
        ),
    );
    let signing = Instant::now();
    let jobs = sign(pool).await?;
    let presign_time = signing.elapsed();
    progress(quiet, &format!("{}: timed run", s.name()));
    let run = drive(clients, jobs, opts.duration, None, runner).await;
    let mut latencies = run.latencies;
    latencies.sort_unstable();
    Ok(ScenarioResult {
        name: s.name(),
        connections: clients.len(),
        http_requests: S::HTTP_REQUESTS,
        server_signs: S::SERVER_SIGNS,
        server_verifies: S::SERVER_VERIFIES,
        ok: latencies.len(),
        p50: report::percentile(&latencies, 0.50),
        p99: report::percentile(&latencies, 0.99),
        failures: run.failures,
        first_error: run.first_error,
        elapsed: run.elapsed,
        exhausted: run.exhausted,
        presigned: pool,
        presign_time,
        offered: None,
        cpu: None,
    })
}

/// A client_credentials token of `tpp` for `scope`, and the HTTP version it came over.
async fn client_token(
    tpp: &Tpp,
    client: &reqwest::Client,
    scope: &str,
) -> Result<(String, String)> {
    let resp = post_form(
        client,
        &tpp.url("/token"),
        tpp.with_assertion(vec![
            ("grant_type", "client_credentials".into()),
            ("scope", scope.to_string()),
        ])?,
        200,
    )
    .await?;
    let protocol = format!("{:?}", resp.version());
    let body: Value = resp.json().await?;
    let token = body["access_token"]
        .as_str()
        .context("no access_token")?
        .to_string();
    Ok((token, protocol))
}

/// Creates a consent for every account permission through consents v3, authorises it through
/// the portal as the first test user, and returns the access token and an account id.
async fn data_access(tpp: &Tpp, client: &reqwest::Client) -> Result<(String, String)> {
    let (cc, _) = client_token(tpp, client, "consents").await?;
    let cc = cc.as_str();
    let expires = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let resp = client
        .post(tpp.url("/open-banking/consents/v3/consents"))
        .bearer_auth(cc)
        .header("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())
        .json(&json!({ "data": {
            "loggedUser": { "document": { "identification": tpp.user.0, "rel": "CPF" } },
            "permissions": ["ACCOUNTS_READ", "ACCOUNTS_BALANCES_READ",
                "ACCOUNTS_TRANSACTIONS_READ", "ACCOUNTS_OVERDRAFT_LIMITS_READ", "RESOURCES_READ"],
            "expirationDateTime": expires,
        }}))
        .send()
        .await?;
    let resp = expect(resp, 201, "POST consents").await?;
    let body: Value = resp.json().await?;
    let consent_id = body["data"]["consentId"]
        .as_str()
        .context("a consent without consentId")?
        .to_string();
    let flow = Arc::new(AuthorizationFlow {
        issuer: tpp.issuer.clone(),
        client_id: tpp.client_id.clone(),
        redirect_uri: tpp.redirect_uri.clone(),
        user: tpp.user.clone(),
    });
    let job = flow.job_with_scope(
        tpp,
        &format!("openid accounts resources consent:{consent_id}"),
    )?;
    let token = flow.authorise(client, &job).await?;
    let resp = client
        .get(tpp.url("/open-banking/accounts/v2/accounts"))
        .bearer_auth(&token)
        .header("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())
        .send()
        .await?;
    let resp = expect(resp, 200, "GET accounts").await?;
    let body: Value = resp.json().await?;
    let account_id = body["data"][0]["accountId"]
        .as_str()
        .context("the consent has no account")?
        .to_string();
    Ok((token, account_id))
}

fn backend_name(database_url: Option<&str>) -> String {
    match database_url {
        Some(url) => format!("PostgreSQL ({})", redact(url)),
        None => "SQLite (file in a temporary directory)".to_string(),
    }
}

/// Runs everything: the crypto rates, the sandbox, DCR and the three scenarios. `quiet`
/// silences the progress lines.
pub async fn run(opts: &Options, quiet: bool) -> Result<Report> {
    ensure!(opts.connections > 0, "at least one connection is needed");
    progress(quiet, "measuring PS256 sign and verify rates");
    let crypto = {
        let duration = opts.crypto_duration;
        tokio::task::spawn_blocking(move || measure_crypto(duration)).await??
    };
    if opts.only_capture {
        let (scenarios, protocol) = capture_cost(opts, quiet).await?;
        return Ok(Report {
            backend: backend_name(opts.database_url.as_deref()),
            protocol,
            crypto,
            scenarios,
            duration: opts.duration,
        });
    }
    progress(
        quiet,
        "starting the directory simulator and the authorization server",
    );
    let sandbox = Sandbox::start(opts.database_url.as_deref()).await?;
    let tpp = Arc::new(sandbox.register_tpp().await?);
    progress(
        quiet,
        &format!("registered client {} through DCR", tpp.client_id),
    );
    let clients = (0..opts.connections)
        .map(|_| tpp.client())
        .collect::<Result<Vec<_>>>()?;

    let mut scenarios = Vec::new();
    let cc = Arc::new(ClientCredentials {
        token_url: tpp.url("/token"),
    });
    scenarios.push(scenario(cc, &tpp, &clients, opts, quiet).await?);

    let flow = Arc::new(AuthorizationFlow {
        issuer: tpp.issuer.clone(),
        client_id: tpp.client_id.clone(),
        redirect_uri: tpp.redirect_uri.clone(),
        user: tpp.user.clone(),
    });
    scenarios.push(scenario(flow, &tpp, &clients, opts, quiet).await?);

    // A valid token to introspect: a client_credentials token of this client.
    let (token, protocol) = client_token(&tpp, &clients[0], "consents").await?;
    let introspection = Arc::new(Introspection {
        url: tpp.url("/introspect"),
        token,
    });
    scenarios.push(scenario(introspection, &tpp, &clients, opts, quiet).await?);

    progress(quiet, "creating and authorising a data-sharing consent");
    let (token, account_id) = data_access(&tpp, &clients[0]).await?;
    let accounts_url = tpp.url("/open-banking/accounts/v2/accounts");
    let transactions_url = format!("{accounts_url}/{account_id}/transactions?page-size=25");
    let reads = [
        ("GET accounts (every check)", accounts_url),
        (
            "GET transactions, page of 25 (every check)",
            transactions_url,
        ),
        (
            "bare poem handler, same TLS (no checks)",
            sandbox.bare_url.clone(),
        ),
    ];
    for (name, url) in reads {
        let read = Arc::new(DataRead {
            name,
            url,
            token: token.clone(),
        });
        scenarios.push(scenario(read, &tpp, &clients, opts, quiet).await?);
    }

    progress(quiet, "payments: signed consents and Pix payments");
    scenarios.extend(payments::scenarios(&tpp, &clients, opts, quiet).await?);

    let backend = sandbox.backend.clone();
    drop(clients);
    sandbox.shutdown().await;

    scenarios.extend(capture_cost(opts, quiet).await?.0);
    Ok(Report {
        backend,
        protocol,
        crypto,
        scenarios,
        duration: opts.duration,
    })
}
