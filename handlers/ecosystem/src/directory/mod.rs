//! The participant directory simulator: participants API (the generated participants 1.0.0
//! routes), mTLS token endpoint, software statement assertions, keystore JWKS and the admin
//! calls that register organisations and software statements.

mod admin;
mod keystore;
mod participants;
mod ssa;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aberta_runtime::context::ClientCert;
use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Endpoint, EndpointExt, Request, Response, Route, get, handler, post};

use crate::error::Result;
use crate::keys::{self, KeyPurpose, Ps256Key};
use crate::pki::Pki;
use crate::registry::Registry;
use crate::tls::{ConnectionLimits, MtlsServer};
use crate::token::TokenService;
use tokio::net::TcpListener;

pub use ssa::SSA_ISSUER;

/// The scope of the directory's access tokens.
pub const DIRECTORY_SCOPE: &str = "directory:software";
/// Directory tokens live 600 s, as the real directory's do.
const TOKEN_TTL_SECS: i64 = 600;

/// The directory's state, shared by its handlers.
pub struct Directory {
    data_dir: PathBuf,
    base_url: String,
    registry: Registry,
    pki: Pki,
    signing: Arc<Ps256Key>,
    tokens: TokenService,
    admin_token: String,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Directory {
    /// Opens the directory over `data_dir`; `base_url` is where it is reached
    /// (e.g. `https://127.0.0.1:8444`), used in SSA claims and keystore URLs.
    pub fn open(data_dir: &Path, base_url: &str) -> Result<Self> {
        let pki = Pki::open_or_create(data_dir)?;
        let key = keys::load_or_create(&signing_key_path(data_dir), KeyPurpose::Signing)?;
        let signing = Arc::new(Ps256Key::from_jwk(&key)?);
        let registry = Registry::new(data_dir);
        let base_url = base_url.trim_end_matches('/').to_string();
        let tokens = TokenService::new(
            signing.clone(),
            base_url.clone(),
            DIRECTORY_SCOPE,
            TOKEN_TTL_SECS,
            registry.clone(),
        );
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            admin_token: crate::admin::load_or_create_admin_token(data_dir)?,
            base_url,
            registry,
            pki,
            signing,
            tokens,
        })
    }

    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The keystore root: `<base>/keystore`.
    pub fn keystore_url(&self) -> String {
        format!("{}/keystore", self.base_url)
    }

    /// The poem endpoint serving every directory route.
    pub fn endpoint(self: Arc<Self>) -> BoxEndpoint<'static> {
        let participants = ofb_participants_v1::server::routes(Arc::new(
            participants::ParticipantsService::new(self.registry.clone()),
        ));
        Route::new()
            .at("/.well-known/openid-configuration", get(discovery))
            .at("/token", post(token))
            .at(
                "/organisations/:org/softwarestatements/:ss/assertion",
                get(ssa::assertion),
            )
            .at("/keystore/*path", get(keystore::jwks))
            .at("/admin/organisations", post(admin::create_organisation))
            .at(
                "/admin/organisations/:org/softwarestatements",
                post(admin::create_software),
            )
            .nest("/", participants)
            .data(self)
            .catch_error(|_: poem::error::NotFoundError| async {
                crate::http_error::not_found("no such resource")
            })
            .around(|ep, req| async move {
                if is_public(req.uri().path()) || req.extensions().get::<ClientCert>().is_some() {
                    return Ok(ep.get_response(req).await);
                }
                Ok(certificate_required(req.uri().path()))
            })
            .boxed()
    }
}

/// What the real directory serves without a client certificate (its public data and keystore
/// hosts, and its discovery document): the participants list, the keystore and discovery.
fn is_public(path: &str) -> bool {
    path == "/participants"
        || path.starts_with("/keystore/")
        || path == "/.well-known/openid-configuration"
}

/// The refusal of a call that the real directory serves over mutual TLS only.
fn certificate_required(path: &str) -> Response {
    const DETAIL: &str = "a client certificate is required";
    if path == "/token" {
        crate::http_error::oauth(StatusCode::UNAUTHORIZED, "invalid_client", DETAIL)
    } else {
        crate::http_error::ofb(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", DETAIL)
    }
}

/// Opens the directory over `data_dir` and serves it on `listener`, with the default
/// connection limits.
pub fn serve(data_dir: &Path, listener: TcpListener, base_url: &str) -> Result<MtlsServer> {
    serve_with_limits(data_dir, listener, base_url, ConnectionLimits::default())
}

/// As [`serve`], with the given connection limits. A client certificate is optional at the
/// handshake (one presented must chain to the test CA), so that the public calls work without
/// one; every other call refuses a request without one.
pub fn serve_with_limits(
    data_dir: &Path,
    listener: TcpListener,
    base_url: &str,
    limits: ConnectionLimits,
) -> Result<MtlsServer> {
    let directory = Arc::new(Directory::open(data_dir, base_url)?);
    let server = directory.pki().server_cert()?;
    let config = crate::tls::server_config_optional_client_cert(
        directory.pki().ca_certs()?,
        crate::pki::certs_from_pem_file(&server.cert_path)?,
        crate::pki::key_from_pem_file(&server.key_path)?,
    )?;
    MtlsServer::serve_with_limits(listener, config, directory.endpoint(), limits)
}

/// The directory's SSA and token signing key.
pub fn signing_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("directory").join("ssa-signing.jwk.json")
}

/// The directory's OpenID discovery document: how a directory client (the OIDF suite's, or a
/// TPP's) finds the token endpoint, its mTLS alias and the keys that sign its tokens and SSAs.
#[handler]
fn discovery(Data(dir): Data<&Arc<Directory>>) -> Response {
    let base = &dir.base_url;
    let body = serde_json::json!({
        "issuer": base,
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{}/openbanking.jwks", dir.keystore_url()),
        "mtls_endpoint_aliases": { "token_endpoint": format!("{base}/token") },
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["tls_client_auth"],
        "tls_client_certificate_bound_access_tokens": true,
        "scopes_supported": [DIRECTORY_SCOPE],
        "response_types_supported": ["token"],
        "id_token_signing_alg_values_supported": ["PS256"],
        "token_endpoint_auth_signing_alg_values_supported": ["PS256"],
        "subject_types_supported": ["public"],
    });
    Response::builder()
        .content_type("application/json")
        .body(body.to_string())
}

#[handler]
async fn token(req: &Request, body: poem::Body, Data(dir): Data<&Arc<Directory>>) -> Response {
    match body.into_bytes_limit(64 * 1024).await {
        Ok(bytes) => dir.tokens.token(req, &bytes),
        Err(_) => crate::http_error::oauth(
            poem::http::StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body could not be read",
        ),
    }
}
