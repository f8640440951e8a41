//! `aberta sandbox`'s account holder: the demo bank as the connector and identity provider,
//! consents v3 as the authorization server's consent store, the data APIs behind the
//! resource-server guard, all on the holder's mutual-TLS port; the consent management API on
//! the internal port.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use aberta_auth::AuthServer;
use aberta_auth::config::AuthConfig;
use aberta_consents::{Consents, ConsentsConfig};
use aberta_data::{DataApis, DataConnectors, OperationalLimits, ResourceGuard};
use aberta_demo_bank::DemoBank;
use aberta_ecosystem::sandbox::SandboxJson;
use aberta_ecosystem::tls::MtlsServer;
use aberta_store::{KeyRing, Store};
use poem::Route;
use tokio::net::TcpListener;

use crate::error::HolderError;
use crate::internal::{CONSENTS_PATH, InternalServer};

/// How often expired consents and rows are swept.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// A running sandbox account holder.
pub struct Holder {
    pub auth: Arc<AuthServer>,
    pub consents: Arc<Consents>,
    pub bank: Arc<DemoBank>,
    pub store: Store,
    pub listener: MtlsServer,
    pub internal: InternalServer,
    /// The bearer token of the internal listener's APIs.
    pub internal_token: String,
}

impl Holder {
    pub fn internal_addr(&self) -> SocketAddr {
        self.internal.addr
    }

    pub async fn shutdown(self) {
        self.listener.shutdown().await;
        self.internal.shutdown().await;
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
    let url = database_url
        .map(str::to_owned)
        .unwrap_or_else(|| aberta_auth::sandbox::default_database_url(data_dir));
    let store = Store::connect(&url).await?;
    let keyring = Arc::new(KeyRing::from_env_or_file(&data_dir.join("keyring.json"))?);
    let bank = DemoBank::open(&store, keyring.clone()).await?;
    let consents = Consents::new(
        store.clone(),
        keyring.clone(),
        bank.clone(),
        ConsentsConfig::default(),
    )
    .await?;
    let config = AuthConfig::new(
        aberta_auth::sandbox::brand_configs(contract),
        contract.directory.directory_jwks_url.clone(),
    );
    let auth = AuthServer::new(
        store.clone(),
        config,
        bank.clone(),
        consents.clone(),
        aberta_auth::sandbox::http_client(contract)?,
    )
    .await?;

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
    let apis = data.routes().nest_no_strip(
        ofb_consents_v3::server::BASE_PATH,
        ofb_consents_v3::server::routes(aberta_consents::consents_api(
            consents.clone(),
            auth.clone(),
        )),
    );
    let endpoint = aberta_auth::server::endpoint_with(auth.clone(), apis);
    let tls = aberta_auth::sandbox::tls_config(data_dir)?;
    let listener = MtlsServer::serve(listener, tls, endpoint)?;

    let internal_token = internal_token(data_dir)?;
    let internal = InternalServer::serve(
        internal,
        Route::new().nest(
            CONSENTS_PATH,
            aberta_consents::management_routes(
                consents.clone(),
                auth.clone(),
                internal_token.clone(),
            ),
        ),
    )?;

    tokio::spawn(aberta_auth::sandbox::purge_expired_rows(store.clone()));
    tokio::spawn(sweep_consents(consents.clone()));
    Ok(Holder {
        auth,
        consents,
        bank,
        store,
        listener,
        internal,
        internal_token,
    })
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
