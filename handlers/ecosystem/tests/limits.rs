//! The listener's connection limits, on loopback with a throwaway PKI: slow and silent clients
//! are disconnected, the per-address and total caps refuse extra connections, and a normal
//! client is served meanwhile. Every wait is bounded; the bounds only catch "never closed".

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aberta_ecosystem::pki::{self, Pki, TransportSubject};
use aberta_ecosystem::tls::{self, ConnectionLimits, MtlsServer};
use poem::http::StatusCode;
use poem::{EndpointExt, Response, Route, get, handler, post};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The bound within which a connection that should be closed must be: far above the 1 s
/// timeouts configured, it only tells a closed connection from one held for ever.
const CLOSED_WITHIN: Duration = Duration::from_secs(15);

#[handler]
fn hello() -> &'static str {
    "ok"
}

/// Reads the whole body: 200 when it arrived, 400 when reading it failed.
#[handler]
async fn echo(body: poem::Body) -> Response {
    match body.into_bytes().await {
        Ok(_) => Response::builder().status(StatusCode::OK).finish(),
        Err(_) => Response::builder().status(StatusCode::BAD_REQUEST).finish(),
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    server: MtlsServer,
    connector: TlsConnector,
    /// PEM of the client's certificate chain and key, for reqwest.
    identity_pem: Vec<u8>,
    ca_pem: Vec<u8>,
}

async fn setup(limits: ConnectionLimits) -> Setup {
    tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let (config, client, ca_pem, ca) = tokio::task::spawn_blocking(move || {
        let pki = Pki::open_or_create(&data).unwrap();
        let config = tls::sandbox_server_config(&pki).unwrap();
        let client = pki
            .issue_transport(
                &TransportSubject {
                    org_id: "org".into(),
                    software_id: "software".into(),
                    cnpj: "12345678000190".into(),
                    business_category: "Private Organization".into(),
                    common_name: "Limits test client".into(),
                },
                &data,
            )
            .unwrap();
        let ca_pem = std::fs::read(pki.ca_bundle_path()).unwrap();
        let ca = pki.ca_certs().unwrap();
        (config, client, ca_pem, ca)
    })
    .await
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = Route::new()
        .at("/", get(hello))
        .at("/echo", post(echo))
        .boxed();
    let server = MtlsServer::serve_with_limits(listener, config, endpoint, limits).unwrap();
    let connector = connector(ca, &client.cert_path, &client.key_path);
    let mut identity_pem = std::fs::read(&client.cert_path).unwrap();
    identity_pem.extend(std::fs::read(&client.key_path).unwrap());
    Setup {
        _dir: dir,
        server,
        connector,
        identity_pem,
        ca_pem,
    }
}

fn connector(
    ca: Vec<rustls::pki_types::CertificateDer<'static>>,
    cert: &Path,
    key: &Path,
) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in ca {
        roots.add(cert).unwrap();
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            pki::certs_from_pem_file(cert).unwrap(),
            pki::key_from_pem_file(key).unwrap(),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

impl Setup {
    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// A finished TLS handshake, or the error that ended it.
    async fn connect(&self) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr()).await?;
        let name = ServerName::try_from("localhost").unwrap();
        tokio::time::timeout(CLOSED_WITHIN, self.connector.connect(name, tcp))
            .await
            .map_err(|_| std::io::Error::other("handshake did not finish"))?
    }

    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_backend_rustls()
            .tls_certs_only(reqwest::Certificate::from_pem_bundle(&self.ca_pem).unwrap())
            .identity(reqwest::Identity::from_pem(&self.identity_pem).unwrap())
            .timeout(CLOSED_WITHIN)
            .build()
            .unwrap()
    }

    async fn get_ok(&self) -> bool {
        let url = format!("https://localhost:{}/", self.addr().port());
        match self.client().get(url).send().await {
            Ok(resp) => resp.status() == 200 && resp.text().await.unwrap_or_default() == "ok",
            Err(_) => false,
        }
    }
}

/// True once the server has closed `conn` (EOF or an error), reading for at most `within`.
async fn closed_within(conn: &mut TlsStream<TcpStream>, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                // Whatever the server says before closing (an error response) is skipped.
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(within, read).await.is_ok()
}

/// One HTTP/1.1 request on `conn`; true when a 200 comes back.
async fn request_ok(conn: &mut TlsStream<TcpStream>) -> bool {
    let sent = conn
        .write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await;
    if sent.is_err() {
        return false;
    }
    let mut buf = [0u8; 1024];
    match tokio::time::timeout(CLOSED_WITHIN, conn.read(&mut buf)).await {
        Ok(Ok(n)) => buf[..n].starts_with(b"HTTP/1.1 200"),
        _ => false,
    }
}

fn long_limits() -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        body_read_timeout: Duration::from_secs(60),
        ..ConnectionLimits::default()
    }
}

#[tokio::test]
async fn a_slowloris_client_is_disconnected_after_the_header_read_timeout() {
    let setup = setup(ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        ..long_limits()
    })
    .await;
    let mut conn = setup.connect().await.unwrap();
    let head = b"GET / HTTP/1.1\r\nhost: localhost\r\nx-slow: ".to_vec();
    // One header byte every 200 ms, never finishing the head; at most CLOSED_WITHIN long.
    let step = Duration::from_millis(200);
    let mut closed = false;
    for i in 0..(CLOSED_WITHIN.as_millis() / step.as_millis()) as usize {
        let byte = head.get(i).copied().unwrap_or(b'a');
        if conn.write_all(&[byte]).await.is_err() || closed_within(&mut conn, step).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "a client trickling its header must be disconnected");
}

#[tokio::test]
async fn a_silent_connection_after_the_handshake_is_closed() {
    let setup = setup(ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        ..long_limits()
    })
    .await;
    let mut conn = setup.connect().await.unwrap();
    assert!(
        closed_within(&mut conn, CLOSED_WITHIN).await,
        "a connection that never sends a request must be closed"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    // Only the idle timeout is short: the header-read timer (which would also end an idle
    // HTTP/1 connection) is out of the way.
    let setup = setup(ConnectionLimits {
        idle_timeout: Duration::from_secs(1),
        ..long_limits()
    })
    .await;
    let mut conn = setup.connect().await.unwrap();
    assert!(request_ok(&mut conn).await, "the first request is served");
    assert!(
        closed_within(&mut conn, CLOSED_WITHIN).await,
        "an idle keep-alive connection must be closed"
    );
}

#[tokio::test]
async fn a_request_body_that_never_arrives_is_answered_not_waited_for() {
    let setup = setup(ConnectionLimits {
        body_read_timeout: Duration::from_secs(1),
        ..long_limits()
    })
    .await;
    let mut conn = setup.connect().await.unwrap();
    // Ten bytes announced, one sent.
    conn.write_all(b"POST /echo HTTP/1.1\r\nhost: localhost\r\ncontent-length: 10\r\n\r\nx")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(CLOSED_WITHIN, conn.read(&mut buf)).await;
    let answer = match read {
        Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        other => panic!("no answer to a stalled body: {other:?}"),
    };
    assert!(answer.starts_with("HTTP/1.1 400"), "got {answer}");
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_refused_until_one_closes() {
    let setup = setup(ConnectionLimits {
        max_connections_per_address: 3,
        ..long_limits()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(setup.connect().await.unwrap());
    }
    // The fourth is closed before its handshake completes.
    let refused = setup.connect().await;
    assert!(refused.is_err(), "a fourth connection must be refused");
    assert!(
        !setup.get_ok().await,
        "no request gets through over the cap"
    );
    // Once one closes, the same address is served again (the server notices the close on its
    // own time: retried, at most 50 times).
    drop(held.pop());
    let mut served = false;
    for _ in 0..50 {
        if setup.get_ok().await {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "a normal client must be served once below the cap");
    // The held ones still work.
    assert!(request_ok(&mut held[0]).await);
}

#[tokio::test]
async fn connections_over_the_total_cap_are_refused() {
    let setup = setup(ConnectionLimits {
        max_connections: 2,
        ..long_limits()
    })
    .await;
    let _a = setup.connect().await.unwrap();
    let _b = setup.connect().await.unwrap();
    assert!(
        setup.connect().await.is_err(),
        "a third connection must be refused"
    );
}

#[tokio::test]
async fn a_normal_request_is_served_while_slow_clients_hold_connections() {
    let setup = setup(long_limits()).await;
    // Twenty clients that started a head and stopped, and two that never said anything.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut conn = setup.connect().await.unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\nho").await.unwrap();
        slow.push(conn);
    }
    for _ in 0..2 {
        slow.push(setup.connect().await.unwrap());
    }
    assert!(setup.get_ok().await, "a normal client must be served");
    drop(slow);
}
