//! client_credentials issuance through the real token endpoint (private_key_jwt PS256 verify,
//! client lookup, certificate check, MAC-signed token), in process and without TLS, on the
//! embedded SQLite store; plus minting alone and introspection. Run with
//! `cargo bench -p aberta-auth --bench token`.

use std::sync::Arc;

use aberta_auth::consent::DbConsents;
use aberta_auth::identity::StaticUsers;
use aberta_auth::{AuthConfig, AuthServer, BrandConfig};
use aberta_ecosystem::keys::{self, Ps256Key};
use aberta_ecosystem::pki;
use aberta_ecosystem::registry::Registry;
use aberta_ecosystem::sandbox::{self, Ports};
use aberta_runtime::context::ClientCert;
use aberta_store::Store;
use aberta_store::entity::client;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use poem::{Endpoint, Request, Route, get};
use serde_json::json;

struct Setup {
    endpoint: poem::endpoint::BoxEndpoint<'static>,
    server: Arc<AuthServer>,
    cert: ClientCert,
    signer: Ps256Key,
    client_id: String,
    issuer: String,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    aberta_ecosystem::tls::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::from_base("127.0.0.1".parse().unwrap(), 1);
    let contract = sandbox::prepare(dir.path(), &ports).unwrap();
    let files = Registry::new(dir.path())
        .key_files(&contract.tpp.org_id, &contract.tpp.software_id)
        .unwrap();
    let signing = keys::load(&files.signing_jwk).unwrap();
    let signer = Ps256Key::from_jwk(&signing).unwrap();
    // The client's key set, served over plain HTTP on loopback.
    let jwks = keys::jwk_set(vec![signer.public_jwk().clone()]).to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_uri = format!("http://{}/jwks", listener.local_addr().unwrap());
    let app = Route::new().at(
        "/jwks",
        get(poem::endpoint::make_sync(move |_| jwks.clone())),
    );
    tokio::spawn(async move {
        let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
        let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
    });

    let issuer = "https://127.0.0.1:8443".to_string();
    let store = Store::sqlite_file(&dir.path().join("bench.db"))
        .await
        .unwrap();
    let brand = BrandConfig {
        id: "bench".into(),
        issuer: issuer.clone(),
        display_name: "Bench".into(),
        logo_url: String::new(),
        primary_colour: "#000".into(),
        accent_colour: "#fff".into(),
        welcome_text: String::new(),
    };
    let server = AuthServer::new(
        store.clone(),
        AuthConfig::new(vec![brand], "http://127.0.0.1:1/unused"),
        Arc::new(StaticUsers::new(vec![])),
        Arc::new(DbConsents::new(store.clone())),
        reqwest::Client::new(),
    )
    .await
    .unwrap();
    let client_id = "bench-client".to_string();
    store
        .insert_client(client::Model {
            client_id: client_id.clone(),
            brand: "bench".into(),
            ssa_key: "bench/x".into(),
            software_id: contract.tpp.software_id.clone(),
            org_id: contract.tpp.org_id.clone(),
            jwks_uri,
            scope: "openid consents payments".into(),
            metadata: json!({ "redirect_uris": [] }).to_string(),
            rat_hash: String::new(),
            created_at: 0,
            updated_at: 0,
        })
        .await
        .unwrap();
    let der = pki::certs_from_pem_file(&files.transport_cert).unwrap()[0].clone();
    let cert = ClientCert {
        thumbprint: pki::thumbprint(der.as_ref()),
        subject: aberta_ecosystem::subject::identity(der.as_ref()),
        der: Arc::from(der.as_ref()),
    };
    Setup {
        endpoint: aberta_auth::server::endpoint(server.clone()),
        server,
        cert,
        signer,
        client_id,
        issuer,
        _dir: dir,
    }
}

/// A token request with a fresh client assertion (a `jti` is accepted once).
fn token_request(s: &Setup) -> Request {
    let now = chrono::Utc::now().timestamp();
    let assertion = s
        .signer
        .sign_jwt(
            json!({
                "iss": s.client_id, "sub": s.client_id, "aud": s.issuer,
                "jti": uuid::Uuid::new_v4().to_string(), "iat": now, "exp": now + 300,
            })
            .as_object()
            .unwrap()
            .clone(),
        )
        .unwrap();
    let form = serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        ("scope", "consents"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
    ])
    .unwrap();
    let mut req = Request::builder()
        .method(poem::http::Method::POST)
        .uri(format!("{}/token", s.issuer).parse().unwrap())
        .header("host", "127.0.0.1:8443")
        .content_type("application/x-www-form-urlencoded")
        .body(form);
    req.extensions_mut().insert(s.cert.clone());
    req
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let setup = runtime.block_on(setup());
    // Warm the key cache and check the request succeeds.
    let resp = runtime
        .block_on(setup.endpoint.call(token_request(&setup)))
        .unwrap();
    assert_eq!(resp.status(), 200, "the benchmarked request must succeed");
    let body = runtime.block_on(resp.into_body().into_string()).unwrap();
    let token: serde_json::Value = serde_json::from_str(&body).unwrap();
    let access = token["access_token"].as_str().unwrap().to_string();

    c.bench_function(
        "client_credentials (private_key_jwt PS256, in process)",
        |b| {
            // Signing the assertion is the client's work: done outside the measurement.
            let endpoint = &setup.endpoint;
            b.to_async(&runtime).iter_batched(
                || token_request(&setup),
                |req| async move {
                    let resp = endpoint.call(req).await.unwrap();
                    assert_eq!(resp.status(), 200);
                },
                BatchSize::SmallInput,
            )
        },
    );
    c.bench_function(
        "introspect self-contained token (MAC + revocation lookup)",
        |b| {
            b.to_async(&runtime).iter(|| async {
                let info = setup
                    .server
                    .introspect_token("bench", &access)
                    .await
                    .unwrap();
                assert!(info.is_some());
            })
        },
    );
}

criterion_group!(token, benches);
criterion_main!(token);
