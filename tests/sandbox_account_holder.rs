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
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aberta"));
    cmd.args(["sandbox", "--data-dir"])
        .arg(data)
        .args(["--port", &port.to_string()])
        .args(["--directory-port", &free_port().to_string()])
        .args(["--pcm-port", &free_port().to_string()])
        .args(["--internal-port", &free_port().to_string()])
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
