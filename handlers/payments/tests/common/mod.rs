//! Shared test setup: both database backends, real PS256 keys, and a directory keystore served
//! over real HTTP on loopback (poem), whose key sets a test can change and whose fetches it
//! can count.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aberta_store::Store;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::{Jwk, JwkSet};
use josekit::jws::{JwsSigner, PS256};
use poem::http::StatusCode;
use serde_json::{Value, json};

pub const T0: i64 = 1_800_000_000;
pub const ORG: &str = "0f8a9c1e-5b2d-4c3a-9e7f-1a2b3c4d5e6f";
pub const OUR_ORG: &str = "74e929d9-33b6-4d85-8ba7-c146c867a817";
pub const ENDPOINT: &str = "https://127.0.0.1:8443/open-banking/payments/v4/pix/payments";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Both backends; PostgreSQL comes from `ABERTA_TEST_DATABASE_URL` and is required.
pub fn backends() -> [Backend; 2] {
    postgres_url();
    [Backend::Sqlite, Backend::Postgres]
}

pub fn postgres_url() -> String {
    std::env::var("ABERTA_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "ABERTA_TEST_DATABASE_URL is not set. The payments tests run on PostgreSQL too: \
             createdb -h 127.0.0.1 -U postgres aberta_payments && export \
             ABERTA_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/aberta_payments"
        )
    })
}

/// A database with this module migrated; `second()` opens another handle on the same
/// database, as a second server instance would.
pub struct Db {
    pub store: Store,
    pub backend: Backend,
    path: Option<std::path::PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    pub async fn new(backend: Backend) -> Self {
        let (store, path, dir) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("aberta.db");
                (
                    Store::sqlite_file(&path).await.unwrap(),
                    Some(path),
                    Some(dir),
                )
            }
            Backend::Postgres => (Store::connect(&postgres_url()).await.unwrap(), None, None),
        };
        aberta_payments::migrate(store.connection()).await.unwrap();
        Self {
            store,
            backend,
            path,
            _dir: dir,
        }
    }

    pub async fn second(&self) -> Store {
        match &self.path {
            Some(path) => Store::sqlite_file(path).await.unwrap(),
            None => Store::connect(&postgres_url()).await.unwrap(),
        }
    }
}

/// A name no other test uses (tests share the PostgreSQL database).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// An RSA 2048 signing key of an organisation, with its kid.
pub struct OrgKey {
    pub kid: String,
    pub private: Jwk,
    pub public: Jwk,
}

impl OrgKey {
    pub fn generate(kid: &str) -> Self {
        let mut private = Jwk::generate_rsa_key(2048).unwrap();
        private.set_key_id(kid);
        private.set_key_use("sig");
        private.set_algorithm("PS256");
        let mut public = private.to_public_key().unwrap();
        public.set_key_id(kid);
        public.set_algorithm("PS256");
        Self {
            kid: kid.to_string(),
            private,
            public,
        }
    }

    pub fn signer(&self) -> Box<dyn JwsSigner> {
        Box::new(PS256.signer_from_jwk(&self.private).unwrap())
    }

    /// A PS256 message with the usual header (`alg`, `kid`, `typ: JWT`).
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": "PS256", "kid": self.kid, "typ": "JWT" });
        raw_jws(
            self.signer().as_ref(),
            &header,
            claims.to_string().as_bytes(),
        )
    }
}

/// A compact JWS with exactly `header` (nothing added), signed by `signer` whatever the
/// header says.
pub fn raw_jws(signer: &dyn JwsSigner, header: &Value, payload: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A well-formed request claim set for `ENDPOINT` from `ORG`.
pub fn request_claims(jti: &str, iat: i64) -> Value {
    json!({
        "aud": ENDPOINT,
        "iss": ORG,
        "iat": iat,
        "jti": jti,
        "data": { "endToEndId": "E9040088820210128000800123873170", "payment": { "amount": "100.00", "currency": "BRL" } }
    })
}

/// The directory keystore, served over HTTP on 127.0.0.1.
#[derive(Clone)]
pub struct Keystore {
    pub base: String,
    sets: Arc<Mutex<HashMap<String, String>>>,
    fetches: Arc<AtomicUsize>,
    status: Arc<AtomicU16>,
}

impl Keystore {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let keystore = Self {
            base,
            sets: Arc::default(),
            fetches: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
        };
        let state = keystore.clone();
        let endpoint = poem::endpoint::make(move |req: poem::Request| {
            let state = state.clone();
            async move { state.answer(req.uri().path()) }
        });
        tokio::spawn(async move {
            let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
            let _ = poem::Server::new_with_acceptor(acceptor)
                .run(endpoint)
                .await;
        });
        keystore
    }

    fn answer(&self, path: &str) -> poem::Response {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let status = self.status.load(Ordering::SeqCst);
        if status != 200 {
            return poem::Response::builder()
                .status(StatusCode::from_u16(status).unwrap())
                .finish();
        }
        match self.sets.lock().unwrap().get(path) {
            Some(body) => poem::Response::builder()
                .content_type("application/json")
                .body(body.clone()),
            None => poem::Response::builder()
                .status(StatusCode::NOT_FOUND)
                .finish(),
        }
    }

    /// Publishes `keys` as `org`'s `application.jwks`.
    pub fn publish(&self, org: &str, keys: &[&Jwk]) {
        let mut set = JwkSet::new();
        for key in keys {
            set.push_key((*key).clone());
        }
        self.sets
            .lock()
            .unwrap()
            .insert(format!("/{org}/application.jwks"), set.to_string());
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Makes every answer `status` (200 restores the key sets).
    pub fn fail_with(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}
