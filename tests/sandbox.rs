//! `aberta sandbox` as a real process: it starts from an empty data directory, writes
//! `sandbox.json`, serves the directory and the PCM over mutual TLS, and a second start reuses
//! the same keys; `aberta sandbox add-tpp` mints another TPP.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `aberta sandbox`, killed on drop.
struct Sandbox {
    child: Child,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the sandbox and reads its output until it says it is ready. A process that exits
/// before that fails the test.
fn start(data: &Path, ports: [u16; 3]) -> (Sandbox, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aberta"))
        .args(["sandbox", "--data-dir"])
        .arg(data)
        .args(["--port", &ports[0].to_string()])
        .args(["--directory-port", &ports[1].to_string()])
        .args(["--pcm-port", &ports[2].to_string()])
        .args(["--internal-port", &free_port().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let sandbox = Sandbox { child };
    let mut printed = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if line.starts_with("Ready.") {
            return (sandbox, printed);
        }
    }
    panic!("the sandbox stopped before it was ready:\n{printed}");
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn path_of(value: &Value) -> PathBuf {
    let path = PathBuf::from(value.as_str().unwrap());
    assert!(path.is_absolute(), "{} is not absolute", path.display());
    assert!(path.exists(), "{} does not exist", path.display());
    path
}

fn client(contract: &Value, cert: &Value, key: &Value) -> reqwest::Client {
    let ca = std::fs::read(path_of(&contract["ca_bundle"])).unwrap();
    let mut pem = std::fs::read(path_of(cert)).unwrap();
    pem.extend(std::fs::read(path_of(key)).unwrap());
    reqwest::Client::builder()
        .tls_backend_rustls()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).unwrap())
        .identity(reqwest::Identity::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn sandbox_starts_empty_writes_the_contract_and_reuses_its_keys() {
    aberta_ecosystem_provider();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let ports = [free_port(), free_port(), free_port()];

    let (sandbox, printed) = start(&data, ports);
    assert!(
        printed.contains(&format!("https://127.0.0.1:{}", ports[1])),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("account holder https://127.0.0.1:{}", ports[0])),
        "{printed}"
    );
    let contract = read_json(&data.join("sandbox.json"));

    let holder = format!("https://127.0.0.1:{}", ports[0]);
    assert_eq!(contract["issuer"], holder.as_str());
    assert_eq!(contract["api_base_url"], holder.as_str());
    assert_eq!(
        contract["discovery_url"],
        format!("{holder}/.well-known/openid-configuration").as_str()
    );
    for key in [
        "participants_url",
        "token_url",
        "ssa_url_template",
        "directory_jwks_url",
        "keystore_url",
    ] {
        assert!(
            contract["directory"][key]
                .as_str()
                .is_some_and(|u| u.starts_with("https://")),
            "{key}"
        );
    }
    assert!(contract["pcm"]["base_url"].as_str().is_some());
    let tpp = &contract["tpp"];
    for key in [
        "transport_cert",
        "transport_key",
        "signing_jwk",
        "encryption_jwk",
    ] {
        path_of(&tpp[key]);
    }
    assert!(tpp["org_id"].is_string() && tpp["software_id"].is_string());
    assert!(!tpp["redirect_uris"].as_array().unwrap().is_empty());
    assert!(!tpp["webhook_uris"].as_array().unwrap().is_empty());
    assert!(contract["holder"]["org_id"].is_string() && contract["holder"]["brand"].is_string());
    let users = contract["users"].as_array().unwrap();
    assert!(users.len() >= 2);
    assert!(
        users.iter().any(|u| u["kind"] == "PJ"),
        "a user who represents a business"
    );
    for user in users {
        assert!(user["kind"] == "PF" || user["kind"] == "PJ", "{user}");
        assert_eq!(user["cpf"].as_str().unwrap().len(), 11);
        assert!(user["password"].is_string() && user["name"].is_string());
    }

    // It really serves: the TPP gets a directory token and its own SSA.
    let http = client(&contract, &tpp["transport_cert"], &tpp["transport_key"]);
    let resp = http
        .post(contract["directory"]["token_url"].as_str().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=directory%3Asoftware")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let token: Value = resp.json().await.unwrap();
    let ssa_url = contract["directory"]["ssa_url_template"]
        .as_str()
        .unwrap()
        .replace("{org_id}", tpp["org_id"].as_str().unwrap())
        .replace("{software_id}", tpp["software_id"].as_str().unwrap());
    let resp = http
        .get(ssa_url)
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let pcm = http
        .post(contract["pcm"]["token_url"].as_str().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(pcm.status(), 200);

    let key_files: Vec<PathBuf> = [
        "transport_cert",
        "transport_key",
        "signing_jwk",
        "encryption_jwk",
    ]
    .iter()
    .map(|k| path_of(&tpp[*k]))
    .chain([path_of(&contract["ca_bundle"])])
    .collect();
    let before: Vec<Vec<u8>> = key_files
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    drop(sandbox);

    let (_again, _) = start(&data, ports);
    let second = read_json(&data.join("sandbox.json"));
    assert_eq!(
        second, contract,
        "the contract is the same on the second start"
    );
    let after: Vec<Vec<u8>> = key_files
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    assert_eq!(
        before, after,
        "the second start reuses the same keys and certificates"
    );
}

#[tokio::test]
async fn add_tpp_mints_another_tpp_with_its_own_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_aberta"))
        .args([
            "sandbox",
            "add-tpp",
            "--name",
            "Segunda Fintech",
            "--data-dir",
        ])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let first: Value = serde_json::from_slice(&output.stdout).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_aberta"))
        .args(["sandbox", "add-tpp", "--data-dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    let second: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_ne!(first["org_id"], second["org_id"]);
    assert_ne!(
        std::fs::read(path_of(&first["transport_cert"])).unwrap(),
        std::fs::read(path_of(&second["transport_cert"])).unwrap()
    );
}

#[test]
fn bad_arguments_fail_with_a_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_aberta"))
        .args(["keys", "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .args(["--org", "no-such-org", "--software", "x"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown organisation"));
}

fn aberta_ecosystem_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
