//! `aberta sandbox` serves the account holder's authorization server on `--port`: every brand
//! listed in `sandbox.json` answers discovery at its own issuer host, and the consent portal is
//! reachable without a client certificate. Runs on the default SQLite file and on PostgreSQL
//! (`ABERTA_TEST_DATABASE_URL`, required).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_sandbox(data: &Path, port: u16, database_url: Option<&str>) -> Running {
    run_sandbox_with(data, port, database_url, &[])
}

fn run_sandbox_with(data: &Path, port: u16, database_url: Option<&str>, extra: &[&str]) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aberta"));
    cmd.args(["sandbox", "--data-dir"])
        .arg(data)
        .args(["--port", &port.to_string()])
        .args(["--directory-port", &free_port().to_string()])
        .args(["--pcm-port", &free_port().to_string()])
        .args(["--internal-port", &free_port().to_string()])
        .args(extra)
        .env_remove("ABERTA_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let mut printed = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if line.starts_with("Ready.") {
            assert!(printed.contains("account holder"), "{printed}");
            return running;
        }
    }
    panic!("the sandbox stopped before it was ready:\n{printed}");
}

fn http(contract: &Value, with_cert: bool) -> reqwest::Client {
    let read = |v: &Value| std::fs::read(v.as_str().unwrap()).unwrap();
    let mut builder = reqwest::Client::builder()
        .tls_backend_rustls()
        .tls_certs_only(
            reqwest::Certificate::from_pem_bundle(&read(&contract["ca_bundle"])).unwrap(),
        )
        .redirect(reqwest::redirect::Policy::none());
    if with_cert {
        let mut pem = read(&contract["tpp"]["transport_cert"]);
        pem.extend(read(&contract["tpp"]["transport_key"]));
        builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    builder.build().unwrap()
}

async fn serves_every_brand(database_url: Option<&str>) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_port();
    let _sandbox = run_sandbox(&data, port, database_url);
    let contract: Value =
        serde_json::from_slice(&std::fs::read(data.join("sandbox.json")).unwrap()).unwrap();
    let brands = contract["brands"].as_array().unwrap();
    assert_eq!(brands.len(), 2);
    assert_eq!(brands[0]["issuer"], contract["issuer"]);
    assert_eq!(brands[0]["brand"], contract["holder"]["brand"]);
    let tpp = http(&contract, true);
    for brand in brands {
        let doc: Value = tpp
            .get(brand["discovery_url"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], brand["issuer"]);
        assert_eq!(
            doc["pushed_authorization_request_endpoint"],
            format!("{}/par", brand["issuer"].as_str().unwrap()).as_str()
        );
    }
    // A browser (no client certificate) reaches the portal; an unknown request_uri gets the
    // brand's error page.
    let resp = http(&contract, false)
        .get(format!(
            "{}/authorize?client_id=x&request_uri=urn:x",
            contract["issuer"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("Banco Aberta Demo"));
}

#[tokio::test]
async fn sandbox_serves_the_account_holder_on_sqlite() {
    serves_every_brand(None).await;
}

#[tokio::test]
async fn sandbox_serves_the_account_holder_on_postgres() {
    let url = std::env::var("ABERTA_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!("ABERTA_TEST_DATABASE_URL is not set; e.g. createdb -h 127.0.0.1 -U postgres aberta_test && export ABERTA_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/aberta_test")
    });
    serves_every_brand(Some(&url)).await;
}

/// The listener's limits come from the command line: a connection that never starts its TLS
/// handshake is closed after `--handshake-timeout`, and the holder goes on serving. (The
/// mechanisms themselves are tested in the ecosystem crate; this checks the wiring.)
#[tokio::test]
async fn a_silent_connection_is_closed_by_the_configured_timeout() {
    use tokio::io::AsyncReadExt;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_port();
    let _sandbox = run_sandbox_with(
        &data,
        port,
        None,
        &[
            "--handshake-timeout",
            "1",
            "--max-connections-per-address",
            "16",
        ],
    );
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    // Bounded only so a listener that never closes fails the test instead of hanging it.
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), silent.read(&mut buf))
        .await
        .expect("the silent connection was held open");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let contract: Value =
        serde_json::from_slice(&std::fs::read(data.join("sandbox.json")).unwrap()).unwrap();
    let resp = http(&contract, true)
        .get(contract["discovery_url"].as_str().unwrap_or_default())
        .send()
        .await;
    let status = match resp {
        Ok(resp) => resp.status().as_u16(),
        Err(err) => panic!("{err}"),
    };
    assert_eq!(status, 200);
}
