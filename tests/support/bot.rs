//! The real bot as the harnesses run it: its configuration and store folder, and its server on
//! 127.0.0.1 over the fake clusters while it runs, stopped and started again on the same store.

use std::collections::BTreeMap;
use std::path::Path;
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

pub struct RunningBot {
    pub config: Config,
    server: Option<Server>,
    _store: tempfile::TempDir,
}

impl RunningBot {
    /// The bot configured by `yaml` (which must hold no problems), its store in `store`; not
    /// started yet.
    pub fn new(yaml: &str, store: tempfile::TempDir) -> RunningBot {
        let config = Config::parse(yaml).unwrap();
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        RunningBot {
            config,
            server: None,
            _store: store,
        }
    }

    /// Starts the bot's server on a free port of 127.0.0.1.
    pub async fn start(
        &mut self,
        secrets: &Secrets,
        clusters: BTreeMap<String, Arc<dyn Cluster>>,
        clock: Arc<ManualClock>,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Server::start(&self.config, secrets, clusters, clock, listener);
        self.server = Some(server.await.unwrap());
    }

    /// Stops the bot if it runs (the fakes and the clock keep their state).
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.as_ref().unwrap().addr())
    }

    /// `path` on the address `/metrics` is served apart on (`metrics_listen`).
    pub fn metrics_url(&self, path: &str) -> String {
        let server = self.server.as_ref().unwrap();
        let addr = server.metrics_addr().expect("metrics_listen is set");
        format!("http://{addr}{path}")
    }

    /// The bot's store directory (open it only while the bot is stopped).
    pub fn store_path(&self) -> &Path {
        match &self.config.store {
            prod_access::config::StoreLocation::Sled(path) => path,
            other => panic!("the harness's store is not in a directory: {other:?}"),
        }
    }
}
