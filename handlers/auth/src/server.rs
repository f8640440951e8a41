//! Serving the authorization server: the routes, and the TLS front door. Client certificates
//! are requested on every connection and verified against the trust anchors when presented;
//! they are optional at the TLS layer only so that browsers reach the portal, and every FAPI
//! endpoint (PAR, token, userinfo, introspection, revocation, registration) refuses a request
//! without one.

use std::sync::Arc;

use aberta_ecosystem::tls::{MtlsServer, fapi_provider};
use poem::endpoint::BoxEndpoint;
use poem::{EndpointExt, Route, get, post};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{NoServerSessionStorage, ServerConfig, WebPkiClientVerifier};
use tokio::net::TcpListener;

use crate::error::AuthError;
use crate::state::AuthServer;

/// Every route of the authorization server, including the consent portal and DCR.
pub fn endpoint(server: Arc<AuthServer>) -> BoxEndpoint<'static> {
    endpoint_with(server, Route::new())
}

/// The authorization server's routes added to `apis`, the regulated APIs served on the same
/// listener; every request gets its interaction id and tracing span.
pub fn endpoint_with(server: Arc<AuthServer>, apis: Route) -> BoxEndpoint<'static> {
    let dcr = ofb_dcr_v2::server::routes(Arc::new(crate::dcr::Registration::new(server.clone())))
        .around(crate::dcr_guard::around);
    apis.at(
        "/.well-known/openid-configuration",
        get(crate::discovery::discovery),
    )
    .at("/jwks", get(crate::discovery::jwks))
    .at("/par", post(crate::par::push))
    .at("/authorize", get(crate::authorize::authorize))
    .at("/token", post(crate::token::token))
    .at(
        "/userinfo",
        get(crate::userinfo::userinfo).post(crate::userinfo::userinfo),
    )
    .at("/introspect", post(crate::introspect::introspect))
    .at("/revoke", post(crate::introspect::revoke))
    .at(
        "/portal/login",
        get(crate::portal::login_page).post(crate::portal::login),
    )
    .at(
        "/portal/consent",
        get(crate::portal::consent_page).post(crate::portal::decide),
    )
    .nest("/", dcr)
    .data(server)
    .around(crate::interaction::around)
    .boxed()
}

/// The interaction-id middleware of the authorization server, for other listeners.
pub async fn interaction_span<E: poem::Endpoint>(
    next: E,
    req: poem::Request,
) -> poem::Result<poem::Response> {
    crate::interaction::around(next, req).await
}

/// TLS for the account holder: FAPI suites, no resumption, client certificates verified
/// against `trust` when presented.
pub fn tls_config(
    trust: Vec<CertificateDer<'static>>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, AuthError> {
    let provider = fapi_provider();
    let mut roots = RootCertStore::empty();
    for cert in trust {
        roots
            .add(cert)
            .map_err(|e| AuthError::Config(format!("trust anchor: {e}")))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| AuthError::Config(format!("client verifier: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| AuthError::Config(format!("TLS versions: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| AuthError::Config(format!("server certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// Serves `server` on `listener` with `tls` through the ecosystem's accept loop.
pub fn serve(
    server: Arc<AuthServer>,
    listener: TcpListener,
    tls: Arc<ServerConfig>,
) -> Result<MtlsServer, AuthError> {
    Ok(MtlsServer::serve(listener, tls, endpoint(server))?)
}
