//! The demo's apiserver audit webhook: what alice's kubectl calls look like in the cluster's
//! audit log, among the control plane's own requests.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::activity::ObjectRef;
use crate::fakes::kube::audit_events::{KubeCall, event_list, kube_call};

/// The token the demo's apiserver presents (`PROD_ACCESS_K8S_AUDIT_TOKEN`).
pub const TOKEN: &str = "demo-k8s-audit-token-0123456789abcdef";

const POD: &str = "payments-worker-7f9c";
/// The pod alice keeps a shell open in: the grant's end does not close it.
const SHELL_POD: &str = "payments-api-5d4b";

/// What alice's session leaves in the cluster: the ServiceAccount she makes, and the pod her
/// shell stays open in (so the summary says both are still there).
pub fn objects_left() -> Vec<ObjectRef> {
    [
        ObjectRef::of("serviceaccounts", Some("payments"), "payments-debug"),
        ObjectRef::of("pods", Some("payments"), SHELL_POD),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// One batch: alice's session (as `subject`) among the controllers' requests; and how many
/// requests of hers it holds.
pub fn batch(subject: &str, at: DateTime<Utc>) -> (Value, usize) {
    let alice =
        |verb: &str, resource: &str| kube_call(subject, verb, resource, at).in_ns("payments");
    let mut session: Vec<KubeCall> = Vec::new();
    session.extend((0..3).map(|_| alice("list", "pods")));
    session.extend((0..4).map(|_| alice("get", "pods").named(POD)));
    session.extend((0..2).map(|_| alice("get", "pods/log").named(POD)));
    session.push(alice("create", "pods/exec").named(POD));
    session.push(alice("delete", "pods").named(POD));
    // What outlives the grant: a ServiceAccount and a token for it.
    session.push(alice("create", "serviceaccounts").named("payments-debug"));
    session.push(alice("create", "serviceaccounts/token").named("payments-debug"));
    let controller = "system:serviceaccount:kube-system:replicaset-controller";
    let noise = (0..session.len()).map(|_| {
        kube_call(controller, "update", "replicasets/status", at)
            .in_ns("payments")
            .named("payments-worker")
    });
    // A shell she never leaves: its response started, and no completion ever comes.
    let shell = alice("create", "pods/exec").named(SHELL_POD);
    let mut opened = shell.clone();
    opened.code = 101;
    let requests = session.len() + 1;
    let items = session
        .into_iter()
        .chain(noise)
        .flat_map(|c| c.events())
        .chain([
            shell.event("RequestReceived"),
            opened.event("ResponseStarted"),
        ])
        .collect();
    (event_list(items), requests)
}
