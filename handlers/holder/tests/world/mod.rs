//! The assembled account holder for a test: a prepared sandbox (test PKI, directory, a
//! registered TPP) and the holder serving it, on SQLite or PostgreSQL.
#![allow(dead_code)] // each test binary uses a part of it

use aberta_data::OperationalLimits;
use aberta_holder::sandbox::Holder;
use tokio::net::TcpListener;

use crate::common::{self, Backend, Env, Tpp};

pub struct World {
    pub env: Env,
    pub holder: Holder,
}

impl std::ops::Deref for World {
    type Target = Env;

    fn deref(&self) -> &Env {
        &self.env
    }
}

pub async fn start(backend: Backend) -> World {
    start_with_limits(backend, OperationalLimits::disabled()).await
}

pub async fn start_with_limits(backend: Backend, limits: OperationalLimits) -> World {
    let (env, listener) = common::prepare(backend).await;
    let holder = holder_on(&env, backend, listener, limits).await;
    World { env, holder }
}

/// A holder on `env`'s data directory and database, serving on `listener` (a restart binds
/// the port the first one had).
pub async fn holder_on(
    env: &Env,
    backend: Backend,
    listener: TcpListener,
    limits: OperationalLimits,
) -> Holder {
    let internal = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = common::database_url(backend);
    aberta_holder::sandbox::start_with_limits(
        env.dir.path(),
        &env.contract,
        listener,
        internal,
        url.as_deref(),
        limits,
    )
    .await
    .unwrap()
}

/// A client_credentials token of `tpp` for `scope`.
pub async fn client_token(tpp: &Tpp, scope: &str) -> String {
    let (status, body) = tpp
        .token(&[("grant_type", "client_credentials"), ("scope", scope)])
        .await;
    assert_eq!(status, 200, "client_credentials: {body}");
    body["access_token"].as_str().unwrap().to_string()
}
