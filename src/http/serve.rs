//! Serving the router over HTTP/1.1 with the limits an endpoint open to the network needs: a
//! connection must send each request's head in time (also between keep-alive requests), a body
//! must arrive in time, only so many connections are served at once, and stopping waits for
//! requests in flight but not for connections that send nothing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower::ServiceBuilder;
use tower_http::timeout::RequestBodyDeadlineLayer;
use tracing::{debug, warn};

/// `http:` in the configuration file; every field has a default.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// A connection is closed when a request's head (request line and headers) has not fully
    /// arrived this long after the connection opened or its last response was sent, so it is
    /// also the keep-alive idle timeout (default 10s).
    #[serde(
        default = "default_header_timeout",
        with = "crate::domain::duration_serde::required"
    )]
    #[schemars(with = "String", example = "10s")]
    pub header_timeout: Duration,
    /// A request's body must have fully arrived this long after its head (default 30s).
    #[serde(
        default = "default_body_timeout",
        with = "crate::domain::duration_serde::required"
    )]
    #[schemars(with = "String", example = "30s")]
    pub body_timeout: Duration,
    /// Connections served at once; further ones wait in the listen queue (default 1024).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// On SIGTERM, how long requests in flight and the work they started may take; whatever
    /// is still open then is closed, and work left over is resumed at the next start (default 10s).
    #[serde(
        default = "default_shutdown_grace",
        with = "crate::domain::duration_serde::required"
    )]
    #[schemars(with = "String", example = "10s")]
    pub shutdown_grace: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            header_timeout: default_header_timeout(),
            body_timeout: default_body_timeout(),
            max_connections: default_max_connections(),
            shutdown_grace: default_shutdown_grace(),
        }
    }
}

fn default_header_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_body_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_max_connections() -> usize {
    1024
}

fn default_shutdown_grace() -> Duration {
    Duration::from_secs(10)
}

/// Serves `router` on `listener` until `stop` completes, then stops accepting and waits for
/// every connection to finish its request in flight; idle ones are closed at once. The caller
/// bounds that wait (dropping this future closes whatever is still open).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: &HttpSettings,
    stop: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout);
    let service = ServiceBuilder::new()
        .layer(RequestBodyDeadlineLayer::new(settings.body_timeout))
        .service(router);
    let slots = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        let (stream, slot) = accepted;
        let connection = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(service.clone()),
        );
        let watched = graceful.watch(connection);
        connections.spawn(async move {
            if let Err(e) = watched.await {
                debug!(error = %e, "HTTP connection ended with an error");
            }
            drop(slot);
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The next connection, once fewer than the maximum are open.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> (tokio::net::TcpStream, tokio::sync::OwnedSemaphorePermit) {
    let slot = Arc::clone(slots)
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return (stream, slot),
            Err(e) => {
                // Out of file descriptors, mostly: accepting again at once would spin.
                warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
