//! Serving the authorization server: the routes, and the TLS front door. Client certificates
//! are requested on every connection and verified against the trust anchors when presented;
//! they are optional at the TLS layer only so that browsers reach the portal, and every FAPI
//! endpoint (PAR, token, userinfo, introspection, revocation, registration) refuses a request
//! without one.

use std::sync::Arc;

use aberta_ecosystem::tls::{MtlsServer, fapi_provider};
use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::{Endpoint, EndpointExt, IntoResponse, Response, Route, get, post};
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
    const GET: &str = "GET, HEAD";
    const POST: &str = "POST";
    const GET_POST: &str = "GET, HEAD, POST";
    apis.at(
        "/.well-known/openid-configuration",
        allow(GET, get(crate::discovery::discovery)),
    )
    .at("/jwks", allow(GET, get(crate::discovery::jwks)))
    .at("/par", allow(POST, post(crate::par::push)))
    .at("/authorize", allow(GET, get(crate::authorize::authorize)))
    .at("/token", allow(POST, post(crate::token::token)))
    .at(
        "/userinfo",
        allow(
            GET_POST,
            get(crate::userinfo::userinfo).post(crate::userinfo::userinfo),
        ),
    )
    .at(
        "/introspect",
        allow(POST, post(crate::introspect::introspect)),
    )
    .at("/revoke", allow(POST, post(crate::introspect::revoke)))
    .at(
        "/portal/login",
        allow(
            GET_POST,
            get(crate::portal::login_page).post(crate::portal::login),
        ),
    )
    .at(
        "/portal/consent",
        allow(
            GET_POST,
            get(crate::portal::consent_page).post(crate::portal::decide),
        ),
    )
    .nest("/", dcr)
    .data(server)
    .around(crate::interaction::around)
    .boxed()
}

/// `methods` answering a method it lacks with 405, the `Allow` header (RFC 9110 §15.5.6) and
/// an OAuth-style JSON body, instead of poem's bare plain-text 405.
fn allow<E: Endpoint + 'static>(allowed: &'static str, methods: E) -> BoxEndpoint<'static> {
    methods
        .around(move |next, req| async move {
            match next.call(req).await {
                Err(err) if err.status() == StatusCode::METHOD_NOT_ALLOWED => {
                    Ok(method_not_allowed(allowed))
                }
                other => other.map(IntoResponse::into_response),
            }
        })
        .boxed()
}

/// The 405 of a path whose methods are `allowed` (a comma-separated list).
fn method_not_allowed(allowed: &'static str) -> Response {
    let body = serde_json::json!({
        "error": "invalid_request",
        "error_description": format!("method not allowed; this path accepts {allowed}"),
    });
    Response::builder()
        .status(StatusCode::METHOD_NOT_ALLOWED)
        .header("allow", allowed)
        .content_type("application/json")
        .header("cache-control", "no-store")
        .body(body.to_string())
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
