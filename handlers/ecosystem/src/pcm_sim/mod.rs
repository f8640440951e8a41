//! The PCM (Plataforma de Coleta de Métricas) simulator: client credentials over mTLS, the
//! generated pcm 1.0.2 routes (with a per-item 207 handler in front of the private report
//! batch), durable storage of accepted reports, and an admin switch that makes the whole
//! service answer 503 for a window.

mod api;
mod reports;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Duration, Utc};
use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler, post};
use serde::Deserialize;
use serde_json::json;

use crate::error::Result;
use crate::http_error;
use crate::keys::{self, KeyPurpose, Ps256Key};
use crate::registry::Registry;
use crate::tls::{ConnectionLimits, MtlsServer};
use crate::token::TokenService;
use tokio::net::TcpListener;

pub use reports::{MAX_BYTES, MAX_ITEMS};
pub use store::ReportStore;

/// The scope of PCM access tokens.
pub const PCM_SCOPE: &str = "report";
const TOKEN_TTL_SECS: i64 = 900;

pub struct PcmSim {
    store: ReportStore,
    tokens: TokenService,
    admin_token: String,
}

impl std::fmt::Debug for PcmSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcmSim").finish_non_exhaustive()
    }
}

impl PcmSim {
    /// Opens the simulator over `data_dir`; `base_url` is its own address (the token issuer).
    pub fn open(data_dir: &Path, base_url: &str) -> Result<Self> {
        let key = keys::load_or_create(&signing_key_path(data_dir), KeyPurpose::Signing)?;
        let tokens = TokenService::new(
            Arc::new(Ps256Key::from_jwk(&key)?),
            base_url.trim_end_matches('/').to_string(),
            PCM_SCOPE,
            TOKEN_TTL_SECS,
            Registry::new(data_dir),
        );
        Ok(Self {
            store: ReportStore::new(data_dir),
            tokens,
            admin_token: crate::admin::load_or_create_admin_token(data_dir)?,
        })
    }

    pub fn store(&self) -> &ReportStore {
        &self.store
    }

    /// Every PCM route; during an outage everything but `/admin` answers 503.
    pub fn endpoint(self: Arc<Self>) -> BoxEndpoint<'static> {
        let generated = ofb_pcm_v1::server::routes(Arc::new(api::PcmService::new(self.clone())));
        let sim = self.clone();
        Route::new()
            .at("/token", post(token))
            .at("/report-api/v1/private/report", post(reports::add_reports))
            .at("/admin/outage", post(set_outage).delete(clear_outage))
            .at("/admin/reports", get(list_reports))
            .nest("/", generated)
            .data(self)
            .catch_error(|_: poem::error::NotFoundError| async {
                http_error::pcm(StatusCode::NOT_FOUND, "no such resource")
            })
            .around(move |ep, req| {
                let sim = sim.clone();
                async move {
                    if !req.uri().path().starts_with("/admin/") {
                        match sim.store.outage() {
                            Ok(Some(outage)) => {
                                let mut resp = http_error::pcm(
                                    StatusCode::SERVICE_UNAVAILABLE,
                                    "the PCM is unavailable (simulated outage)",
                                );
                                let secs = (outage.until - Utc::now()).num_seconds().max(1);
                                if let Ok(v) = poem::http::HeaderValue::from_str(&secs.to_string())
                                {
                                    resp.headers_mut()
                                        .insert(poem::http::header::RETRY_AFTER, v);
                                }
                                return Ok(resp);
                            }
                            Ok(None) => {}
                            Err(err) => {
                                tracing::error!(%err, "outage state unreadable");
                                return Ok(http_error::internal());
                            }
                        }
                    }
                    Ok(ep.call(req).await?.into_response())
                }
            })
            .boxed()
    }
}

/// Opens the PCM simulator over `data_dir` and serves it over mutual TLS on `listener`, with
/// the default connection limits.
pub fn serve(data_dir: &Path, listener: TcpListener, base_url: &str) -> Result<MtlsServer> {
    serve_with_limits(data_dir, listener, base_url, ConnectionLimits::default())
}

/// As [`serve`], with the given connection limits.
pub fn serve_with_limits(
    data_dir: &Path,
    listener: TcpListener,
    base_url: &str,
    limits: ConnectionLimits,
) -> Result<MtlsServer> {
    let pki = crate::pki::Pki::open_or_create(data_dir)?;
    let sim = Arc::new(PcmSim::open(data_dir, base_url)?);
    let config = crate::tls::sandbox_server_config(&pki)?;
    MtlsServer::serve_with_limits(listener, config, sim.endpoint(), limits)
}

/// The simulator served by a runtime of its own (one worker; its threads, blocking ones too,
/// named [`OWN_THREADS`]): it stands for a PCM on another machine, so parsing and answering a
/// batch of 5,000 never holds up the workers of the process it shares, and its CPU time can be
/// told apart by thread name.
pub struct OwnThreadServer {
    server: Option<MtlsServer>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// The name of [`OwnThreadServer`]'s threads.
pub const OWN_THREADS: &str = "pcm-sim";

/// [`serve`] on a runtime of its own; `listener` may come from any runtime.
pub fn serve_on_own_thread(
    data_dir: &Path,
    listener: TcpListener,
    base_url: &str,
) -> Result<OwnThreadServer> {
    let io = |e: std::io::Error| crate::EcosystemError::io(data_dir, e);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(OWN_THREADS)
        .enable_all()
        .build()
        .map_err(io)?;
    let server = {
        let _inside = runtime.enter();
        let listener = TcpListener::from_std(listener.into_std().map_err(io)?).map_err(io)?;
        serve(data_dir, listener, base_url)?
    };
    Ok(OwnThreadServer {
        server: Some(server),
        runtime: Some(runtime),
    })
}

impl OwnThreadServer {
    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

impl Drop for OwnThreadServer {
    /// Without waiting: it is dropped inside another runtime.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

pub fn signing_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("pcm").join("token-signing.jwk.json")
}

#[handler]
async fn token(req: &Request, body: poem::Body, Data(sim): Data<&Arc<PcmSim>>) -> Response {
    match body.into_bytes_limit(64 * 1024).await {
        Ok(bytes) => sim.tokens.token(req, &bytes),
        Err(_) => http_error::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body could not be read",
        ),
    }
}

/// `POST /admin/outage` body.
#[derive(Debug, Deserialize)]
struct OutageRequest {
    /// Length of the window from now.
    seconds: i64,
}

#[handler]
async fn set_outage(req: &Request, body: poem::Body, Data(sim): Data<&Arc<PcmSim>>) -> Response {
    if let Err(resp) = crate::admin::check_admin(req.headers(), &sim.admin_token) {
        return resp;
    }
    let parsed = match body.into_bytes_limit(4096).await {
        Ok(bytes) => serde_json::from_slice::<OutageRequest>(&bytes).ok(),
        Err(_) => None,
    };
    let Some(OutageRequest { seconds }) = parsed.filter(|o| o.seconds > 0 && o.seconds <= 86_400)
    else {
        return http_error::pcm(StatusCode::BAD_REQUEST, "expected {\"seconds\": 1..86400}");
    };
    let until = Utc::now() + Duration::seconds(seconds);
    match sim.store.set_outage(until) {
        Ok(()) => {
            tracing::info!(%until, "PCM outage window set");
            http_error::json(StatusCode::OK, &json!({ "until": until }))
        }
        Err(_) => http_error::internal(),
    }
}

#[handler]
async fn clear_outage(req: &Request, Data(sim): Data<&Arc<PcmSim>>) -> Response {
    if let Err(resp) = crate::admin::check_admin(req.headers(), &sim.admin_token) {
        return resp;
    }
    match sim.store.clear_outage() {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(_) => http_error::internal(),
    }
}

#[handler]
async fn list_reports(req: &Request, Data(sim): Data<&Arc<PcmSim>>) -> Response {
    if let Err(resp) = crate::admin::check_admin(req.headers(), &sim.admin_token) {
        return resp;
    }
    match sim.store.all() {
        Ok(all) => http_error::json(StatusCode::OK, &json!(all)),
        Err(_) => http_error::internal(),
    }
}
