//! Shared set-up for the ecosystem tests: a seeded temp data directory, the directory and the
//! PCM simulator served over real mutual TLS on free loopback ports, and reqwest clients.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use aberta_ecosystem::sandbox::{self, Ports, SandboxJson};
use aberta_ecosystem::tls::{MtlsServer, install_crypto_provider};
use aberta_ecosystem::{directory, pcm_sim};
use serde_json::Value;
use tokio::net::TcpListener;

pub struct Eco {
    pub dir: tempfile::TempDir,
    pub contract: SandboxJson,
    pub directory: MtlsServer,
    pub pcm: Option<MtlsServer>,
}

impl Eco {
    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(&self.contract.admin_token_file)
            .unwrap()
            .trim()
            .to_string()
    }

    /// Stops the PCM simulator and starts a new one over the same data directory.
    pub async fn restart_pcm(&mut self) {
        if let Some(pcm) = self.pcm.take() {
            pcm.shutdown().await;
        }
        let addr: std::net::SocketAddr = self
            .contract
            .pcm
            .base_url
            .trim_start_matches("https://")
            .parse()
            .unwrap();
        let listener = TcpListener::bind(addr).await.unwrap();
        self.pcm =
            Some(pcm_sim::serve(self.dir.path(), listener, &self.contract.pcm.base_url).unwrap());
    }
}

pub async fn start() -> Eco {
    install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let directory_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pcm_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ports = Ports {
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        holder: 1,
        directory: directory_listener.local_addr().unwrap().port(),
        pcm: pcm_listener.local_addr().unwrap().port(),
    };
    let data = dir.path().to_path_buf();
    let contract = tokio::task::spawn_blocking(move || sandbox::prepare(&data, &ports).unwrap())
        .await
        .unwrap();
    let directory =
        directory::serve(dir.path(), directory_listener, &contract.directory.base_url).unwrap();
    let pcm = pcm_sim::serve(dir.path(), pcm_listener, &contract.pcm.base_url).unwrap();
    Eco {
        dir,
        contract,
        directory,
        pcm: Some(pcm),
    }
}

fn builder(contract: &SandboxJson) -> reqwest::ClientBuilder {
    let ca = std::fs::read(&contract.ca_bundle).unwrap();
    reqwest::Client::builder()
        .tls_backend_rustls()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).unwrap())
}

/// A client presenting `cert` (PEM chain) and `key`.
pub fn client_with(contract: &SandboxJson, cert: &Path, key: &Path) -> reqwest::Client {
    let mut pem = std::fs::read(cert).unwrap();
    pem.extend(std::fs::read(key).unwrap());
    builder(contract)
        .identity(reqwest::Identity::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

/// The seeded TPP's client.
pub fn tpp_client(contract: &SandboxJson) -> reqwest::Client {
    client_with(
        contract,
        &contract.tpp.transport_cert,
        &contract.tpp.transport_key,
    )
}

/// The demo bank's client.
pub fn holder_client(contract: &SandboxJson) -> reqwest::Client {
    client_with(
        contract,
        &contract.holder.transport_cert,
        &contract.holder.transport_key,
    )
}

/// A client that trusts the CA but has no certificate of its own.
pub fn anonymous_client(contract: &SandboxJson) -> reqwest::Client {
    builder(contract).build().unwrap()
}

/// Client credentials at `token_url`; panics unless 200.
pub async fn token(client: &reqwest::Client, token_url: &str, scope: &str) -> String {
    let resp = client
        .post(token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&scope={}",
            scope.replace(':', "%3A")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "token request failed");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    body["access_token"].as_str().unwrap().to_string()
}

pub fn ssa_url(contract: &SandboxJson, org: &str, software: &str) -> String {
    contract
        .directory
        .ssa_url_template
        .replace("{org_id}", org)
        .replace("{software_id}", software)
}
