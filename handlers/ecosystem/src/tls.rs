//! The mutual-TLS listener: our own accept loop (tokio-rustls + hyper-util) that requires a
//! client certificate chained to the test CA, puts it into the request extensions as
//! [`ClientCert`], and hands the request to a poem endpoint.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use aberta_runtime::context::ClientCert;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{NoServerSessionStorage, ServerConfig, WebPkiClientVerifier};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;

use crate::error::{EcosystemError, Result};
use crate::pki::thumbprint;

/// How long a connection closed for idleness may take to say goodbye (HTTP/2 GOAWAY) before it
/// is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// What one listener allows each connection, so that slow or silent clients cannot hold
/// connections (and the memory behind them) for ever. [`Default`] suits every listener of the
/// platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a client has to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// How long a client has to send a request's head: from the end of the handshake for the
    /// first request (any protocol), and from the start of the head for HTTP/1 (hyper's own
    /// timer, which also bounds an idle HTTP/1 keep-alive connection).
    pub header_read_timeout: Duration,
    /// How long a connection may stay open with no request in flight after its first one.
    pub idle_timeout: Duration,
    /// How long a client has to send a whole request body, from the request's arrival; the
    /// handler then reads an error (the simulators answer 400) instead of waiting.
    pub body_read_timeout: Duration,
    /// Connections open at once from one client IP address; more are closed on accept.
    pub max_connections_per_address: usize,
    /// Connections open at once on the listener; more are closed on accept.
    pub max_connections: usize,
    /// HTTP/2 streams a client may have open at once on one connection.
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2 keep-alive ping interval; a peer that does not answer within the same time is
    /// dropped.
    pub http2_keep_alive_interval: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            // Generous: behind a gateway or a NAT many clients share one address, and the
            // timeouts above already stop slow ones from holding a connection for long.
            max_connections_per_address: 512,
            max_connections: 4096,
            http2_max_concurrent_streams: 100,
            http2_keep_alive_interval: Duration::from_secs(30),
        }
    }
}

/// Installs aws-lc-rs as the process-wide rustls provider. Call it first thing in `main` (and in
/// tests); a second call is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// aws-lc-rs restricted to the FAPI-BR suites: TLS 1.3, and TLS 1.2 with ECDHE-RSA and
/// AES-GCM only.
pub fn fapi_provider() -> Arc<CryptoProvider> {
    use rustls::crypto::aws_lc_rs::cipher_suite as cs;
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites = vec![
        cs::TLS13_AES_128_GCM_SHA256,
        cs::TLS13_AES_256_GCM_SHA384,
        cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ];
    Arc::new(provider)
}

/// A server configuration that requires a client certificate chained to one of `trust`, with
/// session resumption disabled (FAPI-BR).
pub fn server_config(
    trust: Vec<CertificateDer<'static>>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>> {
    build_server_config(trust, chain, key, true)
}

/// As [`server_config`], but a client may also connect without a certificate (its requests then
/// carry no [`ClientCert`]); a certificate it does present must still chain to one of `trust`.
pub fn server_config_optional_client_cert(
    trust: Vec<CertificateDer<'static>>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>> {
    build_server_config(trust, chain, key, false)
}

fn build_server_config(
    trust: Vec<CertificateDer<'static>>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    require_client_cert: bool,
) -> Result<Arc<ServerConfig>> {
    let provider = fapi_provider();
    let mut roots = RootCertStore::empty();
    for cert in trust {
        roots.add(cert)?;
    }
    let mut verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    if !require_client_cert {
        verifier = verifier.allow_unauthenticated();
    }
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier.build()?)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// A running listener; dropping it does not stop it, [`MtlsServer::shutdown`] does.
#[derive(Debug)]
pub struct MtlsServer {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl MtlsServer {
    /// Binds `addr` and serves `endpoint` over mutual TLS until shut down, with the default
    /// [`ConnectionLimits`].
    pub async fn bind(
        addr: SocketAddr,
        config: Arc<ServerConfig>,
        endpoint: BoxEndpoint<'static>,
    ) -> Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| EcosystemError::io(addr.to_string(), e))?;
        Self::serve(listener, config, endpoint)
    }

    /// Serves `endpoint` over mutual TLS on an already bound listener, with the default
    /// [`ConnectionLimits`].
    pub fn serve(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        endpoint: BoxEndpoint<'static>,
    ) -> Result<Self> {
        Self::serve_with_limits(listener, config, endpoint, ConnectionLimits::default())
    }

    /// As [`MtlsServer::serve`], with the given limits.
    pub fn serve_with_limits(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        endpoint: BoxEndpoint<'static>,
        limits: ConnectionLimits,
    ) -> Result<Self> {
        let local_addr = listener
            .local_addr()
            .map_err(|e| EcosystemError::io("listener", e))?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(
            listener,
            TlsAcceptor::from(config),
            Arc::new(endpoint),
            Arc::new(limits),
            stopped,
        ));
        Ok(Self {
            local_addr,
            stop,
            task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections; connections already open finish on their own.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// The HTTP side of every connection of one listener, built once.
fn http_builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_concurrent_streams)
        .keep_alive_interval(limits.http2_keep_alive_interval)
        .keep_alive_timeout(limits.http2_keep_alive_interval);
    builder
}

/// Open connections, by client address, so that one address cannot take them all.
#[derive(Debug)]
struct Admission {
    max_total: usize,
    max_per_address: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One admitted connection; dropping it frees its place.
struct Slot {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Admission {
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let (total, by_address) = &mut *open;
        let here = by_address.get(&ip).copied().unwrap_or(0);
        if *total >= self.max_total || here >= self.max_per_address {
            return None;
        }
        *total += 1;
        by_address.insert(ip, here + 1);
        Some(Slot {
            admission: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .admission
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (total, by_address) = &mut *open;
        *total = total.saturating_sub(1);
        if let Some(here) = by_address.get_mut(&self.ip) {
            *here -= 1;
            if *here == 0 {
                by_address.remove(&self.ip);
            }
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    endpoint: Arc<BoxEndpoint<'static>>,
    limits: Arc<ConnectionLimits>,
    mut stopped: watch::Receiver<bool>,
) {
    let admission = Arc::new(Admission {
        max_total: limits.max_connections,
        max_per_address: limits.max_connections_per_address,
        open: Mutex::new((0, HashMap::new())),
    });
    let http = Arc::new(http_builder(&limits));
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, remote)) => {
                    // Over a cap the socket is closed at once, before any TLS work.
                    let Some(slot) = admission.admit(remote.ip()) else {
                        tracing::debug!(%remote, "connection refused: too many open");
                        continue;
                    };
                    tokio::spawn(serve_connection(
                        tcp,
                        remote,
                        acceptor.clone(),
                        endpoint.clone(),
                        limits.clone(),
                        http.clone(),
                        slot,
                    ));
                }
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// Requests in flight on one connection, and since when it has had none.
#[derive(Debug, Clone, Copy)]
struct Usage {
    in_flight: usize,
    idle_since: Instant,
    served: bool,
}

/// Marks one request in flight until dropped (with the response body, once it is sent).
struct InFlight(Arc<watch::Sender<Usage>>);

impl InFlight {
    fn start(usage: &Arc<watch::Sender<Usage>>) -> Self {
        usage.send_modify(|u| {
            u.in_flight += 1;
            u.served = true;
        });
        Self(usage.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|u| {
            u.in_flight = u.in_flight.saturating_sub(1);
            if u.in_flight == 0 {
                u.idle_since = Instant::now();
            }
        });
    }
}

/// Resolves once the connection has had no request in flight for too long: the header-read
/// timeout before its first request (a silent client), the idle timeout after.
async fn idle_expired(mut usage: watch::Receiver<Usage>, limits: &ConnectionLimits) {
    // One timer per connection, moved rather than re-created at each request.
    let timer = tokio::time::sleep(limits.header_read_timeout);
    tokio::pin!(timer);
    loop {
        let now = *usage.borrow_and_update();
        if now.in_flight > 0 {
            if usage.changed().await.is_err() {
                return std::future::pending().await;
            }
            continue;
        }
        let allowed = if now.served {
            limits.idle_timeout
        } else {
            limits.header_read_timeout
        };
        timer.as_mut().reset(now.idle_since + allowed);
        tokio::select! {
            _ = timer.as_mut() => return,
            changed = usage.changed() => if changed.is_err() {
                return std::future::pending().await;
            },
        }
    }
}

async fn serve_connection(
    tcp: TcpStream,
    remote: SocketAddr,
    acceptor: TlsAcceptor,
    endpoint: Arc<BoxEndpoint<'static>>,
    limits: Arc<ConnectionLimits>,
    http: Arc<auto::Builder<TokioExecutor>>,
    _slot: Slot,
) {
    let local = match tcp.local_addr() {
        Ok(addr) => addr,
        Err(_) => return,
    };
    let tls = match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(err)) => {
            tracing::info!(%remote, %err, "TLS handshake refused");
            return;
        }
        Err(_) => {
            tracing::info!(%remote, "TLS handshake timed out");
            return;
        }
    };
    let client_cert = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|der| ClientCert {
            der: Arc::from(der.as_ref()),
            thumbprint: thumbprint(der.as_ref()),
            subject: crate::subject::identity(der.as_ref()),
        });
    let (usage, watched) = watch::channel(Usage {
        in_flight: 0,
        idle_since: Instant::now(),
        served: false,
    });
    let usage = Arc::new(usage);
    let body_read_timeout = limits.body_read_timeout;
    let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        let endpoint = endpoint.clone();
        let client_cert = client_cert.clone();
        let in_flight = InFlight::start(&usage);
        async move {
            if let Some(cert) = client_cert {
                req.extensions_mut().insert(cert);
            }
            let mut req = poem::Request::from((
                req,
                LocalAddr(Addr::SocketAddr(local)),
                RemoteAddr(Addr::SocketAddr(remote)),
                Scheme::HTTPS,
            ));
            // A body still to come must arrive in time; an empty one needs no timer.
            let body = BoxBody::from(req.take_body());
            let body = if body.is_end_stream() {
                body
            } else {
                BoxBody::new(DeadlineBody::new(body, body_read_timeout))
            };
            req.set_body(poem::Body::from(body));
            let resp = endpoint.get_response(req).await;
            let resp = hyper::Response::<BoxBody<Bytes, std::io::Error>>::from(resp);
            // The request stays in flight until its response body has been sent.
            Ok::<_, Infallible>(resp.map(|body| {
                BoxBody::new(InFlightBody {
                    inner: body,
                    _in_flight: in_flight,
                })
            }))
        }
    });
    let conn = http.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        _ = idle_expired(watched, &limits) => {
            tracing::debug!(%remote, "closing an idle connection");
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(CLOSE_GRACE, conn.as_mut()).await {
                Ok(ended) => ended,
                Err(_) => Ok(()),
            }
        }
    };
    if let Err(err) = ended {
        tracing::debug!(%remote, %err, "connection ended with an error");
    }
}

/// A request body that fails with `TimedOut` if it has not all arrived by its deadline.
struct DeadlineBody {
    inner: BoxBody<Bytes, std::io::Error>,
    deadline: Instant,
    /// Armed on the first wait, so a body that is already there costs no timer.
    timer: Option<Pin<Box<Sleep>>>,
}

impl DeadlineBody {
    fn new(inner: BoxBody<Bytes, std::io::Error>, allowed: Duration) -> Self {
        Self {
            inner,
            deadline: Instant::now() + allowed,
            timer: None,
        }
    }
}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame),
            Poll::Pending => {
                let deadline = this.deadline;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the request body did not arrive in time",
                    )))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request in flight until it is dropped.
struct InFlightBody {
    inner: BoxBody<Bytes, std::io::Error>,
    _in_flight: InFlight,
}

impl hyper::body::Body for InFlightBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, std::io::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The server configuration of the simulators: the test PKI's server certificate, client
/// certificates verified against its CA bundle.
pub fn sandbox_server_config(pki: &crate::pki::Pki) -> Result<Arc<ServerConfig>> {
    let server = pki.server_cert()?;
    server_config(
        pki.ca_certs()?,
        crate::pki::certs_from_pem_file(&server.cert_path)?,
        crate::pki::key_from_pem_file(&server.key_path)?,
    )
}
