//! The internal listener: plain HTTP for the bank's own channels and operators, never exposed
//! to the ecosystem (bind it to loopback or an internal network). It serves the consent
//! management API under [`CONSENTS_PATH`].

use std::net::SocketAddr;

use poem::listener::{Acceptor, TcpAcceptor};
use poem::{EndpointExt, Route};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Where the consent management API is mounted.
pub const CONSENTS_PATH: &str = "/internal/v1";

/// A running internal listener; [`shutdown`](InternalServer::shutdown) stops it.
pub struct InternalServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl InternalServer {
    /// Serves `routes` on `listener` until shut down.
    pub fn serve(listener: TcpListener, routes: Route) -> std::io::Result<Self> {
        let acceptor = TcpAcceptor::from_tokio(listener)?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| std::io::Error::other("the internal listener has no address"))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let endpoint = routes.around(aberta_auth::server::interaction_span);
        let task = tokio::spawn(async move {
            let server = poem::Server::new_with_acceptor(acceptor);
            if let Err(err) = server
                .run_with_graceful_shutdown(
                    endpoint,
                    async move {
                        let _ = stopped.await;
                    },
                    Some(std::time::Duration::from_secs(5)),
                )
                .await
            {
                tracing::warn!(%err, "internal listener stopped");
            }
        });
        Ok(Self {
            addr,
            stop: Some(stop),
            task,
        })
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}
