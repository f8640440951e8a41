//! `aberta sandbox`'s account holder: the demo bank as the connector and identity provider,
//! consents v3 as the authorization server's consent store, the data APIs behind the
//! resource-server guard, all on the holder's mutual-TLS port; the consent management API on
//! the internal port.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use aberta_auth::AuthServer;
use aberta_auth::config::AuthConfig;
use aberta_consents::{Consents, ConsentsConfig};
use aberta_data::{DataApis, DataConnectors, OperationalLimits, ResourceGuard};
use aberta_demo_bank::{DEMO_ISPB, DemoBank};
use aberta_ecosystem::registry::Registry;
use aberta_ecosystem::sandbox::SandboxJson;
use aberta_ecosystem::tls::{ConnectionLimits, MtlsServer};
use aberta_payments::accounts::AccountsApiDiscovery;
use aberta_payments::api::PaymentsService;
use aberta_payments::approvals::approval_routes;
use aberta_payments::codec::{PaymentsCodec, SigningIdentity};
use aberta_payments::consents::{PaymentConsents, Windows};
use aberta_payments::notify::Notifier;
use aberta_payments::pix::Payments;
use aberta_payments::portal::{PaymentConsentPortal, RoutedConsents};
use aberta_payments::signed::JtiLedger;
use aberta_runtime::gate::{AuthHook, Authenticate};
use aberta_store::{KeyRing, Store};
use aberta_webhooks::{Deliverer, DeliveryPolicy};
use poem::{EndpointExt, Route};
use tokio::net::TcpListener;

use crate::error::HolderError;
use crate::internal::{CONSENTS_PATH, InternalServer};
use crate::operations::{CallReporting, Operations, Retention, ServerErrors};
use aberta_events::NatsSink;

/// How often expired consents and rows are swept.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// How often payments are moved along (statuses polled, windows closed).
const PAYMENT_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// How often due webhook notifications are sent.
const WEBHOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// How long fetched directory key sets are reused.
const KEYSTORE_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// A running sandbox account holder.
pub struct Holder {
    pub auth: Arc<AuthServer>,
    pub consents: Arc<Consents>,
    pub payment_consents: Arc<PaymentConsents>,
    pub payments: Arc<PaymentsService>,
    pub bank: Arc<DemoBank>,
    pub store: Store,
    pub listener: MtlsServer,
    pub internal: InternalServer,
    /// The bearer token of the internal listener's APIs.
    pub internal_token: String,
    /// The background work (sweepers, webhook delivery), stopped with the holder.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Call capture and PCM reporting, unless turned off.
    reporting: Option<CallReporting>,
}

impl Holder {
    pub fn internal_addr(&self) -> SocketAddr {
        self.internal.addr
    }

    pub async fn shutdown(self) {
        self.listener.shutdown().await;
        self.internal.shutdown().await;
        for task in self.tasks {
            task.abort();
        }
        if let Some(reporting) = self.reporting {
            reporting.shutdown().await;
        }
    }
}

/// The internal listener's token, made on first start and kept in the data directory.
fn internal_token(data_dir: &Path) -> Result<String, HolderError> {
    let path = data_dir.join("internal-token");
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => Ok(token.trim().to_string()),
        _ => {
            let token = format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            );
            std::fs::write(&path, &token)?;
            Ok(token)
        }
    }
}

/// Starts the account holder for a prepared sandbox data directory: `listener` is the
/// mutual-TLS port, `internal` the plain internal one.
pub async fn start(
    data_dir: &Path,
    contract: &SandboxJson,
    listener: TcpListener,
    internal: TcpListener,
    database_url: Option<&str>,
) -> Result<Holder, HolderError> {
    start_with_limits(
        data_dir,
        contract,
        listener,
        internal,
        database_url,
        OperationalLimits::disabled(),
    )
    .await
}

/// [`start`], with operational limits on the data APIs.
pub async fn start_with_limits(
    data_dir: &Path,
    contract: &SandboxJson,
    listener: TcpListener,
    internal: TcpListener,
    database_url: Option<&str>,
    limits: OperationalLimits,
) -> Result<Holder, HolderError> {
    let options = HolderOptions {
        limits,
        ..HolderOptions::default()
    };
    start_with(
        data_dir,
        contract,
        listener,
        internal,
        database_url,
        options,
    )
    .await
}

/// What a holder runs with beyond its data directory and database.
#[derive(Debug, Clone)]
pub struct HolderOptions {
    /// Operational limits on the data APIs (none by default).
    pub limits: OperationalLimits,
    /// Publish events to NATS JetStream as well as keeping the embedded topics.
    pub nats: Option<NatsSink>,
    /// Record every regulated call and report it to the PCM. On by default; the benchmark
    /// turns it off to measure what it costs.
    pub capture: bool,
    /// How long delivered events and reported calls are kept.
    pub retention: Retention,
    /// Timeouts and connection caps of the public listener.
    pub connections: ConnectionLimits,
}

impl Default for HolderOptions {
    fn default() -> Self {
        Self {
            limits: OperationalLimits::disabled(),
            nats: None,
            capture: true,
            retention: Retention::default(),
            connections: ConnectionLimits::default(),
        }
    }
}

/// [`start`], with `options`.
pub async fn start_with(
    data_dir: &Path,
    contract: &SandboxJson,
    listener: TcpListener,
    internal: TcpListener,
    database_url: Option<&str>,
    options: HolderOptions,
) -> Result<Holder, HolderError> {
    let limits = options.limits;
    let url = database_url
        .map(str::to_owned)
        .unwrap_or_else(|| aberta_auth::sandbox::default_database_url(data_dir));
    let store = Store::connect(&url).await?;
    let issuer = contract
        .brands
        .first()
        .map(|b| b.issuer.clone())
        .unwrap_or_default();
    let operations = Operations::open(&store, &issuer).await?;
    let keyring = Arc::new(KeyRing::from_env_or_file(&data_dir.join("keyring.json"))?);
    let bank = DemoBank::open(&store, keyring.clone()).await?;
    let consents = Consents::new(
        store.clone(),
        keyring.clone(),
        bank.clone(),
        ConsentsConfig::default(),
    )
    .await?;
    let notifier = Arc::new(Notifier::new(store.clone()).await?);
    let payment_consents = PaymentConsents::new(
        store.clone(),
        keyring.clone(),
        Windows::default(),
        notifier.clone(),
    )
    .await?;
    let config = AuthConfig::new(
        aberta_auth::sandbox::brand_configs(contract),
        contract.directory.directory_jwks_url.clone(),
    )
    .with_keyring(keyring.clone());
    let every_consent = Arc::new(RoutedConsents {
        data: consents.clone(),
        payments: Arc::new(PaymentConsentPortal::new(
            payment_consents.clone(),
            Arc::new(AccountsApiDiscovery::new(bank.clone(), DEMO_ISPB)),
            bank.clone(),
        )),
    });
    let http = aberta_auth::sandbox::http_client(contract)?;
    let auth = AuthServer::new(
        store.clone(),
        config,
        bank.clone(),
        every_consent,
        http.clone(),
    )
    .await?;
    let payments = Arc::new(
        PaymentsService::new(
            auth.clone(),
            store.clone(),
            keyring.clone(),
            payment_consents.clone(),
            Arc::new(Payments::new(store.clone(), keyring.clone())),
            bank.clone(),
            notifier,
        )
        .on_listener(listener.local_addr().ok()),
    );
    let http_for_webhooks = http.clone();
    let http_for_probes = http.clone();
    let codec = payments_codec(data_dir, contract, &auth, &store, http).await?;

    let guard = Arc::new(
        ResourceGuard::new(
            auth.clone(),
            consents.clone(),
            limits,
            &store,
            keyring.clone(),
        )
        .await?,
    );
    let data = DataApis::new(guard, demo_connectors(&bank));
    let apis = data
        .routes()
        .nest_no_strip(
            ofb_consents_v3::server::BASE_PATH,
            ofb_consents_v3::server::routes(aberta_consents::consents_api(
                consents.clone(),
                auth.clone(),
            )),
        )
        .nest_no_strip(
            ofb_payments_v4::server::BASE_PATH,
            aberta_payments::retry::routes(payments.clone(), codec),
        );
    let apis = operations.public_routes(apis, auth.clone());
    // Every regulated API lives under /open-banking: their secured operations check the token
    // before their headers and bodies (401 first), and hand the verified token on. DCR, outside
    // it, authenticates its own way.
    let apis = Route::new().nest_no_strip(
        "/open-banking",
        apis.data(AuthHook(auth.clone() as Arc<dyn Authenticate>)),
    );
    let reporting = if options.capture {
        Some(CallReporting::start(&store, keyring.clone(), contract)?)
    } else {
        None
    };
    let brand_hosts = contract
        .brands
        .iter()
        .map(|b| {
            let host = b.issuer.trim_start_matches("https://").to_ascii_lowercase();
            (host, b.brand.clone())
        })
        .collect();
    let mut endpoint = aberta_auth::server::endpoint_with(auth.clone(), apis)
        .with(ServerErrors::new(store.connection().clone(), brand_hosts))
        .with(operations.requests.middleware())
        .boxed();
    if let Some(reporting) = &reporting {
        endpoint = endpoint.with(reporting.capture.clone()).boxed();
    }
    let tls = aberta_auth::sandbox::tls_config(data_dir)?;
    // What a previous run of this instance left mid-way is finished before serving.
    payments.recover_at_start().await;
    let listener = MtlsServer::serve_with_limits(listener, tls, endpoint, options.connections)?;

    let internal_token = internal_token(data_dir)?;
    let internal = InternalServer::serve(
        internal,
        operations
            .internal_routes(Route::new(), &internal_token)
            .nest(
                format!("{CONSENTS_PATH}/payment-consents"),
                approval_routes(
                    payment_consents.clone(),
                    bank.clone(),
                    internal_token.clone(),
                ),
            )
            .nest(
                CONSENTS_PATH,
                aberta_consents::management_routes(
                    consents.clone(),
                    auth.clone(),
                    internal_token.clone(),
                ),
            ),
    )?;

    let mut tasks = vec![
        tokio::spawn(aberta_auth::sandbox::purge_expired_rows(store.clone())),
        tokio::spawn(sweep_consents(consents.clone())),
    ];
    let (webhooks, _keep_running) = Deliverer::new(
        store.connection().clone(),
        http_for_webhooks,
        DeliveryPolicy {
            first_backoff: std::time::Duration::from_secs(1),
            max_backoff: std::time::Duration::from_secs(300),
            ..DeliveryPolicy::default()
        },
    )?
    .spawn(WEBHOOK_EVERY);
    tasks.push(tokio::spawn(sweep_payments(
        payment_consents.clone(),
        payments.clone(),
        bank.clone(),
    )));
    tasks.push(webhooks);
    tasks.extend(operations.spawn(options.nats, http_for_probes, &issuer, options.retention)?);
    Ok(Holder {
        auth,
        consents,
        payment_consents,
        payments,
        bank,
        store,
        listener,
        internal,
        internal_token,
        tasks,
        reporting,
    })
}

/// Signed payment messages: verified against the directory keystore, signed with the
/// holder organisation's key (every brand of the sandbox signs as that organisation).
async fn payments_codec(
    data_dir: &Path,
    contract: &SandboxJson,
    auth: &Arc<AuthServer>,
    store: &Store,
    http: reqwest::Client,
) -> Result<Arc<PaymentsCodec>, HolderError> {
    let org_id = &contract.holder.org_id;
    let jwk = Registry::new(data_dir).organisation_signing_key(org_id)?;
    let mut identities = HashMap::new();
    for brand in &contract.brands {
        identities.insert(
            brand.brand.clone(),
            SigningIdentity::from_jwk(org_id, &jwk)?,
        );
    }
    Ok(Arc::new(PaymentsCodec::new(
        auth.clone(),
        http,
        &contract.directory.keystore_url,
        KEYSTORE_TTL,
        JtiLedger::open(store).await?,
        identities,
    )))
}

/// The demo bank behind every data API.
fn demo_connectors(bank: &Arc<DemoBank>) -> DataConnectors {
    DataConnectors {
        resources: bank.clone(),
        customers: bank.clone(),
        accounts: bank.clone(),
        credit_cards: bank.clone(),
        loans: bank.clone(),
        financings: bank.clone(),
        invoice_financings: bank.clone(),
        unarranged: bank.clone(),
    }
}

/// Moves payments along: settles what the demo bank has due, records the status changes
/// (and their notifications), and rejects payment consents whose window closed.
async fn sweep_payments(
    consents: Arc<PaymentConsents>,
    payments: Arc<PaymentsService>,
    bank: Arc<DemoBank>,
) {
    let mut every = tokio::time::interval(PAYMENT_SWEEP_EVERY);
    loop {
        every.tick().await;
        let now = chrono::Utc::now().timestamp();
        if let Err(err) = bank.settle_due(chrono::Utc::now()).await {
            tracing::warn!(%err, "demo bank settlement failed");
        }
        if let Err(err) = payments.recover_interrupted(now).await {
            tracing::warn!(%err, "finishing interrupted payment requests failed");
        }
        if let Err(err) = payments.poll_open_payments().await {
            tracing::warn!(%err, "polling open payments failed");
        }
        if let Err(err) = consents.sweep_expired(now).await {
            tracing::warn!(%err, "sweeping payment consents failed");
        }
    }
}

/// Rejects consents whose authorisation window or expiry date has passed, so that they
/// change state (and their events go out) even when nobody reads them.
async fn sweep_consents(consents: Arc<Consents>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    loop {
        every.tick().await;
        match consents.sweep_expired(consents.now()).await {
            Ok(0) => {}
            Ok(swept) => tracing::info!(swept, "expired consents rejected"),
            Err(err) => tracing::warn!(%err, "sweeping expired consents failed"),
        }
    }
}
