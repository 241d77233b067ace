//! One contract for every backend: each test here runs against sled and against a real
//! PostgreSQL (a throwaway server, see `postgres::local`; skipped, loudly, where none can run,
//! unless `PROD_ACCESS_REQUIRE_POSTGRES` is set). "Replicas" are several stores on the same data:
//! several connection pools for PostgreSQL; the one store for sled, which one process owns.

mod activity;
mod audit;
mod grants;
mod seen;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OnceCell};

use crate::domain::grant::Grant;
use crate::domain::policy::Policy;
use crate::domain::testing::policy_from;
use crate::store::postgres::local::LocalPostgres;
use crate::store::{PostgresStore, SledStore, Store};

/// A backend's data, and stores opened on it.
pub(super) enum Fixture {
    Sled {
        dir: tempfile::TempDir,
        /// sled allows one open store per directory: every replica shares it.
        open: Mutex<Option<Arc<SledStore>>>,
    },
    Postgres {
        url: String,
    },
}

/// One server for the whole test binary, each test with a database of its own; it stops when
/// the binary exits (see `LocalPostgres`).
static SERVER: OnceCell<Option<LocalPostgres>> = OnceCell::const_new();

impl Fixture {
    pub(super) fn sled() -> Fixture {
        Fixture::Sled {
            dir: tempfile::tempdir().unwrap(),
            open: Mutex::new(None),
        }
    }

    /// `None` where no PostgreSQL can run here.
    pub(super) async fn postgres() -> Option<Fixture> {
        let server = SERVER
            .get_or_init(LocalPostgres::for_tests)
            .await
            .as_ref()?;
        let url = server.new_database().await.unwrap();
        Some(Fixture::Postgres { url })
    }

    /// A store on the fixture's data: another replica's view of it.
    pub(super) async fn replica(&self) -> Arc<dyn Store> {
        match self {
            Fixture::Sled { dir, open } => {
                let mut open = open.lock().await;
                let store = match open.as_ref() {
                    Some(store) => store.clone(),
                    None => Arc::new(SledStore::open(dir.path()).unwrap()),
                };
                *open = Some(store.clone());
                store
            }
            Fixture::Postgres { url } => Arc::new(PostgresStore::connect(url).await.unwrap()),
        }
    }

    /// Stores `grants` at once, as the benchmarks seed a store (each backend's `insert_all`).
    pub(super) async fn insert_all(&self, grants: &[Grant]) {
        match self {
            Fixture::Sled { open, .. } => {
                // Opens the store unless a replica has.
                drop(self.replica().await);
                let sled = open.lock().await.clone().expect("opened just now");
                sled.insert_all(grants).await.unwrap();
            }
            Fixture::Postgres { url } => {
                let store = PostgresStore::connect(url).await.unwrap();
                store.insert_all(grants).await.unwrap();
            }
        }
    }

    /// Closes `store` (the only handle the test still has) and opens the data again: what the
    /// new store holds is what was durable.
    pub(super) async fn reopen(&self, store: Arc<dyn Store>) -> Arc<dyn Store> {
        drop(store);
        if let Fixture::Sled { open, .. } = self {
            open.lock().await.take();
        }
        self.replica().await
    }
}

/// Makes, for each contract test `name(fixture)`, the tests `name::sled` and `name::postgres`.
macro_rules! on_every_backend {
    ($($test:ident),+ $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sled() {
                super::$test($crate::store::contract::Fixture::sled()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(fixture) = $crate::store::contract::Fixture::postgres().await {
                    super::$test(fixture).await;
                }
            }
        }
    )+};
}
use on_every_backend;

pub(super) fn policy() -> Policy {
    policy_from(
        "approvers: [UBOB, UCAROL]\nrequests: {review_timeout: 3h}\nroles: {edit: {cluster_role: edit, namespaces: [payments], max_duration: 4h}}",
    )
}

/// alice's request for edit on payments for 1h, at t0.
pub(super) fn grant(id: &str) -> Grant {
    Grant::test()
        .policy(policy())
        .id(id)
        .reason("r")
        .duration(Duration::from_secs(3600))
        .requested()
}
