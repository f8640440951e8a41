//! The account holder of `aberta sandbox`: the sandbox's brands, its test users, the
//! database-backed consent store, key sets fetched with the holder's transport certificate,
//! served on the holder's port over the mutual-TLS accept loop.

use std::path::Path;
use std::sync::Arc;

use aberta_ecosystem::pki::{self, Pki};
use aberta_ecosystem::sandbox::SandboxJson;
use aberta_ecosystem::tls::MtlsServer;
use aberta_store::Store;
use tokio::net::TcpListener;

use crate::config::{AuthConfig, BrandConfig};
use crate::consent::DbConsents;
use crate::error::AuthError;
use crate::identity::StaticUsers;
use crate::state::AuthServer;

/// A running sandbox account holder.
pub struct SandboxHolder {
    pub server: Arc<AuthServer>,
    pub consents: Arc<DbConsents>,
    pub listener: MtlsServer,
}

/// The default database: a SQLite file in the data directory.
pub fn default_database_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("aberta.db").display())
}

/// The sandbox's brands with their looks.
pub fn brand_configs(contract: &SandboxJson) -> Vec<BrandConfig> {
    let look = [
        (
            "Banco Aberta Demo",
            "#0b3d91",
            "#00a36c",
            "Bem-vindo ao Banco Aberta",
        ),
        (
            "Aberta Digital",
            "#5b1a8c",
            "#ff7a00",
            "Bem-vindo ao Aberta Digital",
        ),
    ];
    let mut brands: Vec<(String, String)> = contract
        .brands
        .iter()
        .map(|b| (b.brand.clone(), b.issuer.clone()))
        .collect();
    if brands.is_empty() {
        brands.push((contract.holder.brand.clone(), contract.issuer.clone()));
    }
    brands
        .into_iter()
        .enumerate()
        .map(|(i, (id, issuer))| {
            let (name, primary, accent, welcome) = look[i % look.len()];
            BrandConfig {
                logo_url: format!(
                    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='32' height='32'%3E%3Ccircle cx='16' cy='16' r='14' fill='{}'/%3E%3C/svg%3E",
                    accent.replace('#', "%23")
                ),
                id,
                issuer,
                display_name: name.to_string(),
                primary_colour: primary.to_string(),
                accent_colour: accent.to_string(),
                welcome_text: welcome.to_string(),
            }
        })
        .collect()
}

/// A client presenting the holder's transport certificate, trusting the sandbox CA.
pub fn http_client(contract: &SandboxJson) -> Result<reqwest::Client, AuthError> {
    let read =
        |p: &Path| std::fs::read(p).map_err(|e| AuthError::Config(format!("{}: {e}", p.display())));
    let ca = read(&contract.ca_bundle)?;
    let mut identity = read(&contract.holder.transport_cert)?;
    identity.extend(read(&contract.holder.transport_key)?);
    let config_err = |e: reqwest::Error| AuthError::Config(format!("HTTP client: {e}"));
    reqwest::Client::builder()
        .tls_backend_rustls()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).map_err(config_err)?)
        .identity(reqwest::Identity::from_pem(&identity).map_err(config_err)?)
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(config_err)
}

/// Deletes expired PAR requests, sessions, codes, grants and revocations every few minutes.
pub async fn purge_expired_rows(store: Store) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(300));
    loop {
        every.tick().await;
        match store.purge_expired(crate::time::now()).await {
            Ok(0) => {}
            Ok(purged) => tracing::debug!(purged, "expired rows purged"),
            Err(err) => tracing::warn!(%err, "purging expired rows failed"),
        }
    }
}

/// The holder's TLS: the sandbox server certificate, client certificates of the test PKI.
pub fn tls_config(data_dir: &Path) -> Result<Arc<rustls::ServerConfig>, AuthError> {
    let pki = Pki::open_or_create(data_dir)?;
    let cert = pki.server_cert()?;
    crate::server::tls_config(
        pki.ca_certs()?,
        pki::certs_from_pem_file(&cert.cert_path)?,
        pki::key_from_pem_file(&cert.key_path)?,
    )
}

/// Starts the account holder for a prepared sandbox data directory.
pub async fn start(
    data_dir: &Path,
    contract: &SandboxJson,
    listener: TcpListener,
    database_url: Option<&str>,
) -> Result<SandboxHolder, AuthError> {
    let url = database_url
        .map(str::to_owned)
        .unwrap_or_else(|| default_database_url(data_dir));
    let store = Store::connect(&url).await?;
    let users = StaticUsers::new(
        contract
            .users
            .iter()
            .map(|u| (u.cpf.clone(), u.password.clone(), u.name.clone()))
            .collect(),
    );
    let consents = Arc::new(DbConsents::new(store.clone()));
    let keyring = aberta_store::KeyRing::from_env_or_file(&data_dir.join("keyring.json"))?;
    let config = AuthConfig::new(
        brand_configs(contract),
        contract.directory.directory_jwks_url.clone(),
    )
    .with_keyring(Arc::new(keyring));
    let server = AuthServer::new(
        store,
        config,
        Arc::new(users),
        consents.clone(),
        http_client(contract)?,
    )
    .await?;
    let tls = tls_config(data_dir)?;
    let listener = crate::server::serve(server.clone(), listener, tls)?;
    tokio::spawn(purge_expired_rows(server.store().clone()));
    Ok(SandboxHolder {
        server,
        consents,
        listener,
    })
}
