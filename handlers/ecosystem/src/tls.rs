//! The mutual-TLS listener: our own accept loop (tokio-rustls + hyper-util) that requires a
//! client certificate chained to the test CA, puts it into the request extensions as
//! [`ClientCert`], and hands the request to a poem endpoint.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aberta_runtime::context::ClientCert;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
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
use tokio_rustls::TlsAcceptor;

use crate::error::{EcosystemError, Result};
use crate::pki::thumbprint;

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
    let provider = fapi_provider();
    let mut roots = RootCertStore::empty();
    for cert in trust {
        roots.add(cert)?;
    }
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
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
    /// Binds `addr` and serves `endpoint` over mutual TLS until shut down.
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

    /// Serves `endpoint` over mutual TLS on an already bound listener.
    pub fn serve(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        endpoint: BoxEndpoint<'static>,
    ) -> Result<Self> {
        let local_addr = listener
            .local_addr()
            .map_err(|e| EcosystemError::io("listener", e))?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(
            listener,
            TlsAcceptor::from(config),
            Arc::new(endpoint),
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

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    endpoint: Arc<BoxEndpoint<'static>>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, remote)) => {
                    tokio::spawn(serve_connection(tcp, remote, acceptor.clone(), endpoint.clone()));
                }
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

async fn serve_connection(
    tcp: TcpStream,
    remote: SocketAddr,
    acceptor: TlsAcceptor,
    endpoint: Arc<BoxEndpoint<'static>>,
) {
    let local = match tcp.local_addr() {
        Ok(addr) => addr,
        Err(_) => return,
    };
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
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
    let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        let endpoint = endpoint.clone();
        let client_cert = client_cert.clone();
        async move {
            if let Some(cert) = client_cert {
                req.extensions_mut().insert(cert);
            }
            let req = poem::Request::from((
                req,
                LocalAddr(Addr::SocketAddr(local)),
                RemoteAddr(Addr::SocketAddr(remote)),
                Scheme::HTTPS,
            ));
            let resp = endpoint.get_response(req).await;
            Ok::<_, Infallible>(hyper::Response::<BoxBody<Bytes, std::io::Error>>::from(
                resp,
            ))
        }
    });
    if let Err(err) = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), service)
        .await
    {
        tracing::debug!(%remote, %err, "connection ended with an error");
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
