//! The real bot as the harnesses run it: its server on 127.0.0.1 over the fake clusters, which
//! can be stopped and started again on the same store.

use std::sync::Arc;

use prod_access::clock::ManualClock;
use prod_access::cluster::{Cluster, KubeCluster};
use prod_access::config::{Config, Secrets};
use prod_access::server::Server;

use super::FakeKube;

/// The bot's view of a fake cluster: the real Kubernetes client pointed at it.
pub fn cluster_of(kube: &FakeKube) -> Arc<dyn Cluster> {
    Arc::new(KubeCluster::new(kube.client()))
}

/// Starts the bot's server on a free port of 127.0.0.1.
pub async fn start_bot(
    config: &Config,
    secrets: &Secrets,
    clusters: std::collections::BTreeMap<String, Arc<dyn Cluster>>,
    clock: Arc<ManualClock>,
) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Server::start(config, secrets, clusters, clock, listener)
        .await
        .unwrap()
}

/// Stops the bot if it runs (the fakes and the clock keep their state).
pub async fn stop_bot(server: &mut Option<Server>) {
    if let Some(server) = server.take() {
        server.stop().await.unwrap();
    }
}
