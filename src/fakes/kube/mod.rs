//! A fake Kubernetes API server on 127.0.0.1 for RoleBindings and ClusterRoleBindings, with the
//! apiserver's JSON: `resourceVersion`, `Status` errors with 404/409/422 semantics, label
//! selectors, and the validation a real apiserver applies; it answers SubjectAccessReviews by
//! RBAC over the roles and bindings it holds. Any other object (a pod, a Secret, a CronJob…) can
//! be put in place, read in full or as its metadata alone, and deleted. It can be switched to
//! fail or to answer slowly.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::get;

mod accounts;
pub mod audit_events;
mod bindings;
mod objects;
pub mod rbac;
mod review;
mod roles;
mod status;
mod subject_review;

use axum::Router;
use bindings as b;
use serde_json::{Value, json};
use status::{internal_error, status};

pub(super) const GROUP: &str = "rbac.authorization.k8s.io";
const BASE: &str = "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings";

#[derive(Debug, Clone)]
pub struct KubeCall {
    pub method: String,
    pub path: String,
    /// When the call arrived.
    pub at: std::time::SystemTime,
    /// A GET whose Accept header asked for the object's metadata alone (PartialObjectMetadata).
    pub metadata_only: bool,
}

/// How the fake misbehaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KubeFault {
    #[default]
    None,
    /// 500 InternalError before doing anything.
    FailBefore,
    /// Does the write, then answers 500: the client cannot know it worked.
    FailAfter,
    /// 503 ServiceUnavailable before doing anything, as from an overloaded apiserver.
    Unavailable,
    /// Answers only after the client has given up waiting (see `CLIENT_TIMEOUT`).
    Stall,
    /// 403 Forbidden before doing anything, as RBAC answers a verb the bot lacks.
    Forbidden,
}

/// How long the fake's clients wait for an answer; a `Stall` outlasts it.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);
const STALL: Duration = Duration::from_millis(1500);

/// A share of calls failing at random, each with one of the faults above; seeded, so a failing
/// run can be replayed.
struct Flaky {
    percent: u32,
    rng: fastrand::Rng,
}

impl Flaky {
    fn draw(&mut self) -> KubeFault {
        if self.rng.u32(0..100) >= self.percent {
            return KubeFault::None;
        }
        match self.rng.u32(0..4) {
            0 => KubeFault::FailBefore,
            1 => KubeFault::FailAfter,
            2 => KubeFault::Unavailable,
            _ => KubeFault::Stall,
        }
    }
}

#[derive(Default)]
struct Inner {
    namespaces: BTreeSet<String>,
    bindings: BTreeMap<(String, String), Value>,
    /// When each binding was created through the API.
    created_at: BTreeMap<(String, String), std::time::SystemTime>,
    calls: Vec<KubeCall>,
    fault: KubeFault,
    /// HTTP methods answered 403 Forbidden, as for a service account lacking the verb.
    forbidden: BTreeSet<String>,
    /// Permissions SelfSubjectAccessReview answers `allowed: false` for: (verb, resource, name).
    denied: BTreeSet<(String, String, String)>,
    /// Access reviews asked, apart from `calls` (they change nothing).
    reviews: Vec<Value>,
    /// SubjectAccessReviews asked, apart from `calls` too.
    subject_reviews: Vec<Value>,
    /// Roles by (namespace, name).
    roles: BTreeMap<(String, String), Value>,
    /// ClusterRoles by name; the default user-facing ones from the start.
    cluster_roles: BTreeMap<String, Value>,
    /// Faults and latency for calls whose path starts with a prefix (checked before the global
    /// switches): (prefix, fault, latency).
    by_path: Vec<(String, KubeFault, Duration)>,
    /// ServiceAccounts by (namespace, name).
    accounts: BTreeMap<(String, String), Value>,
    /// Objects of every resource the maps above do not hold, by API path.
    objects: BTreeMap<String, Value>,
    /// Tokens issued: (namespace, ServiceAccount, expirationSeconds, token).
    tokens: Vec<(String, String, i64, String)>,
    flaky: Option<Flaky>,
    /// DeleteOptions of the deletes of objects kept apart: (path, options).
    deletions: Vec<(String, Value)>,
    /// Faults the flaky mode injected, by kind.
    injected: BTreeMap<String, usize>,
}

#[derive(Clone)]
pub struct FakeKube {
    url: String,
    inner: Arc<Mutex<Inner>>,
    resource_version: Arc<AtomicU64>,
}

impl FakeKube {
    pub async fn start(namespaces: &[&str]) -> FakeKube {
        let inner = Arc::new(Mutex::new(Inner {
            namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            cluster_roles: roles::default_cluster_roles(),
            ..Inner::default()
        }));
        let fake = FakeKube {
            url: String::new(),
            inner,
            resource_version: Arc::new(AtomicU64::new(1000)),
        };
        let crb = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";
        let router = objects::routes(Router::new())
            .route(
                "/apis/rbac.authorization.k8s.io/v1/rolebindings",
                get(b::list_all_namespaces),
            )
            .route(BASE, get(b::list_in_namespace).post(b::create_in_namespace))
            .route(&format!("{BASE}/{{name}}"), b::named_routes())
            .route(crb, get(b::list_cluster_wide).post(b::create_cluster_wide))
            .route(&format!("{crb}/{{name}}"), b::named_routes())
            .route(
                "/api/v1/namespaces/{namespace}/serviceaccounts",
                axum::routing::post(accounts::create),
            )
            .route(
                "/api/v1/namespaces/{namespace}/serviceaccounts/{name}",
                get(accounts::read).delete(accounts::delete),
            )
            .route(
                "/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                axum::routing::post(accounts::token),
            )
            .route(
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                axum::routing::post(review::access_review),
            )
            .route(
                subject_review::PATH,
                axum::routing::post(subject_review::subject_access_review),
            )
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        FakeKube {
            url: format!("http://{addr}"),
            ..fake
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A kube client talking plain HTTP to this fake.
    pub fn client(&self) -> kube::Client {
        let mut config = kube::Config::new(self.url.parse().unwrap());
        config.read_timeout = Some(CLIENT_TIMEOUT);
        crate::cluster::client_for(config).unwrap()
    }

    /// While on, every request gets 500 InternalError.
    pub fn set_failing(&self, failing: bool) {
        self.set_fault(if failing {
            KubeFault::FailBefore
        } else {
            KubeFault::None
        });
    }

    /// SelfSubjectAccessReview answers `allowed: false` for this verb on this resource (and, for
    /// `bind`, this ClusterRole name; empty for any).
    pub fn deny_permission(&self, verb: &str, resource: &str, name: &str) {
        self.lock()
            .denied
            .insert((verb.into(), resource.into(), name.into()));
    }

    pub fn allow_everything(&self) {
        self.lock().denied.clear();
    }

    pub fn access_reviews(&self) -> Vec<Value> {
        self.lock().reviews.clone()
    }

    /// Answers every request with this HTTP method 403, like RBAC without the verb.
    pub fn forbid(&self, method: &str) {
        self.lock().forbidden.insert(method.to_string());
    }

    /// Calls whose path starts with `prefix` get `fault` and wait `latency` first; other calls
    /// are not affected.
    pub fn on_path(&self, prefix: &str, fault: KubeFault, latency: Duration) {
        self.lock()
            .by_path
            .push((prefix.to_string(), fault, latency));
    }

    pub fn set_fault(&self, fault: KubeFault) {
        self.lock().fault = fault;
    }

    /// From now on `percent` of the calls (not matched by `on_path`) fail at random with 500
    /// before or after the write, 503, or an answer that comes too late; 0 turns this off.
    pub fn set_flaky(&self, percent: u32, seed: u64) {
        self.lock().flaky = (percent > 0).then(|| Flaky {
            percent,
            rng: fastrand::Rng::with_seed(seed),
        });
    }

    /// How many faults of each kind the flaky mode injected.
    pub fn injected_faults(&self) -> BTreeMap<String, usize> {
        self.lock().injected.clone()
    }

    /// The answer a write gets under `FailAfter`, once it is done.
    /// The answer to a write that was done: under `FailAfter` (as it was when the call came
    /// in), an error instead.
    fn after_write(fault: KubeFault, response: Response) -> Response {
        if fault == KubeFault::FailAfter {
            return internal_error();
        }
        response
    }

    pub fn binding(&self, namespace: &str, name: &str) -> Option<Value> {
        self.lock()
            .bindings
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Every binding there is now, namespaced and cluster-wide.
    pub fn all_bindings(&self) -> Vec<Value> {
        self.lock().bindings.values().cloned().collect()
    }

    pub fn binding_count(&self) -> usize {
        self.lock().bindings.len()
    }

    /// The namespace is gone; creating bindings in it answers 404, as for a namespace that
    /// does not exist.
    pub fn remove_namespace(&self, namespace: &str) {
        self.lock().namespaces.remove(namespace);
    }

    pub fn service_account(&self, namespace: &str, name: &str) -> Option<Value> {
        self.lock()
            .accounts
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Every token issued: (namespace, ServiceAccount, expirationSeconds, token).
    pub fn tokens(&self) -> Vec<(String, String, i64, String)> {
        self.lock().tokens.clone()
    }

    /// The ClusterRoleBinding called `name`, if any.
    pub fn cluster_binding(&self, name: &str) -> Option<Value> {
        self.binding("", name)
    }

    /// Deletes an object as if someone else had (no call is recorded).
    pub fn lock_remove(&self, namespace: &str, name: &str) {
        self.lock()
            .bindings
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// Puts an object in place as if someone else had created it.
    pub fn insert_binding(&self, namespace: &str, name: &str, mut object: Value) {
        // Every stored object has what the apiserver gives it.
        if object["metadata"]["uid"].is_null() {
            object["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
        }
        object["metadata"]["resourceVersion"] = json!(self.next_version());
        self.lock()
            .bindings
            .insert((namespace.to_string(), name.to_string()), object);
    }

    pub fn calls(&self) -> Vec<KubeCall> {
        self.lock().calls.clone()
    }

    pub fn calls_of(&self, method: &str) -> Vec<KubeCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// Waits until `test` holds for the fake's bindings; panics after 10 seconds.
    pub async fn wait_until(&self, what: &str, test: impl Fn(&FakeKube) -> bool) {
        for _ in 0..1000 {
            if test(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting until {what}; calls: {:?}", self.calls());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// Records the call and applies the switches as they are at this moment; returns the fault
    /// mode the rest of the call must follow, so flipping a switch never changes a call in flight.
    async fn enter(&self, method: Method, path: String) -> Result<KubeFault, Response> {
        self.enter_recording(method, path, false).await
    }

    /// As `enter`, for a GET of one object; answers whether it asked for the metadata alone.
    async fn enter_read(&self, path: String, headers: &HeaderMap) -> Result<bool, Response> {
        let metadata_only = objects::asks_for_metadata(headers);
        self.enter_recording(Method::GET, path, metadata_only)
            .await?;
        Ok(metadata_only)
    }

    async fn enter_recording(
        &self,
        method: Method,
        path: String,
        metadata_only: bool,
    ) -> Result<KubeFault, Response> {
        let ((fault, latency), forbidden) = {
            let mut inner = self.lock();
            inner.calls.push(KubeCall {
                method: method.to_string(),
                path: path.clone(),
                at: std::time::SystemTime::now(),
                metadata_only,
            });
            let forbidden = inner.forbidden.contains(method.as_str());
            (inner.switches_for(&path), forbidden)
        };
        if forbidden {
            return Err(status::forbidden(&method, &path));
        }
        follow_switches(fault, latency, &method, &path).await
    }

    /// As `enter`, for a call that changes nothing (an access review): not recorded in `calls`,
    /// whose tests count the bot's reads and writes, and not refused by `forbid`, which stands
    /// for the bot lacking a verb on RoleBindings.
    async fn enter_unrecorded(&self, method: Method, path: &str) -> Result<KubeFault, Response> {
        let (fault, latency) = self.lock().switches_for(path);
        follow_switches(fault, latency, &method, path).await
    }

    /// When the binding `namespace`/`name` was created through the API.
    pub fn created_at(&self, namespace: &str, name: &str) -> Option<std::time::SystemTime> {
        let key = (namespace.to_string(), name.to_string());
        self.lock().created_at.get(&key).copied()
    }

    /// Puts a RoleBinding in `namespace` as if it had been created through the API (benchmarks
    /// start from many).
    pub fn seed_binding(&self, namespace: &str, mut object: Value) {
        let name = status::name_of(&object);
        object["apiVersion"] = json!(format!("{GROUP}/v1"));
        object["kind"] = json!("RoleBinding");
        object["metadata"]["namespace"] = json!(namespace);
        object["metadata"]["resourceVersion"] = json!(self.next_version());
        self.lock()
            .bindings
            .insert((namespace.to_string(), name), object);
    }

    fn next_version(&self) -> String {
        self.resource_version
            .fetch_add(1, Ordering::SeqCst)
            .to_string()
    }
}

impl Inner {
    /// The fault and latency a call to `path` gets now: its path's, else the global switch, else
    /// a flaky draw.
    fn switches_for(&mut self, path: &str) -> (KubeFault, Duration) {
        let special = self
            .by_path
            .iter()
            .find(|(prefix, _, _)| path.starts_with(prefix.as_str()))
            .map(|(_, fault, latency)| (*fault, *latency));
        let (mut fault, mut latency) = special.unwrap_or((self.fault, Duration::ZERO));
        if special.is_none()
            && fault == KubeFault::None
            && let Some(flaky) = self.flaky.as_mut()
        {
            fault = flaky.draw();
            if fault != KubeFault::None {
                *self.injected.entry(format!("{fault:?}")).or_default() += 1;
            }
        }
        if fault == KubeFault::Stall {
            latency = latency.max(STALL);
        }
        (fault, latency)
    }
}

/// Waits `latency`, then answers as `fault` says; a fault that lets the call go on is returned.
async fn follow_switches(
    fault: KubeFault,
    latency: Duration,
    method: &Method,
    path: &str,
) -> Result<KubeFault, Response> {
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        KubeFault::FailBefore => Err(internal_error()),
        KubeFault::Unavailable => Err(status::service_unavailable()),
        KubeFault::Forbidden => Err(status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!(
                "forbidden: User \"system:serviceaccount:prod-access:prod-access\" cannot {} {path}",
                method.as_str().to_lowercase()
            ),
            json!({}),
        )),
        _ => Ok(fault),
    }
}
