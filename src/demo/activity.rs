//! The demo's apiserver audit webhook: what alice's kubectl calls look like in the cluster's
//! audit log (`audit.k8s.io/v1` events, as an apiserver sends them in a batch), among the
//! control plane's own requests.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// The token the demo's apiserver presents (`PROD_ACCESS_K8S_AUDIT_TOKEN`).
pub const TOKEN: &str = "demo-k8s-audit-token-0123456789abcdef";

/// One kind of request: verb, resource, subresource, object name.
type Call<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>);

/// What alice does with her access, and how many times.
const ALICES_SESSION: &[(Call<'static>, usize)] = &[
    (("list", "pods", None, None), 3),
    (("get", "pods", None, Some("payments-worker-7f9c")), 4),
    (
        ("get", "pods", Some("log"), Some("payments-worker-7f9c")),
        2,
    ),
    (
        ("create", "pods", Some("exec"), Some("payments-worker-7f9c")),
        1,
    ),
    (("delete", "pods", None, Some("payments-worker-7f9c")), 1),
];

fn event(n: usize, user: &str, call: Call<'_>, at: DateTime<Utc>) -> Value {
    let (verb, resource, subresource, name) = call;
    let micro = at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let mut uri = format!("/api/v1/namespaces/payments/{resource}");
    let mut object = json!({ "resource": resource, "namespace": "payments", "apiVersion": "v1" });
    if let Some(name) = name {
        uri += &format!("/{name}");
        object["name"] = json!(name);
    }
    if let Some(sub) = subresource {
        uri += &format!("/{sub}");
        object["subresource"] = json!(sub);
    }
    // An exec is long-running: the apiserver reports it when its stream starts.
    let (stage, code) = if subresource == Some("exec") {
        ("ResponseStarted", 101)
    } else {
        ("ResponseComplete", 200)
    };
    json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": format!("d3m0a0d1-7c1e-4b6a-9f00-{n:012x}"),
        "stage": stage,
        "requestURI": uri,
        "verb": verb,
        "user": { "username": user, "groups": ["system:authenticated"] },
        "sourceIPs": ["10.20.3.17"],
        "userAgent": "kubectl/v1.33.2 (linux/amd64) kubernetes/a57b6f7",
        "objectRef": object,
        "responseStatus": { "metadata": {}, "code": code },
        "requestReceivedTimestamp": micro,
        "stageTimestamp": micro,
        "annotations": { "authorization.k8s.io/decision": "allow" }
    })
}

/// One batch: alice's session (as `subject`) among the controllers' requests.
pub fn batch(subject: &str, at: DateTime<Utc>) -> Value {
    let mut items = Vec::new();
    for (call, times) in ALICES_SESSION {
        for _ in 0..*times {
            items.push(event(items.len(), subject, *call, at));
            let controller = "system:serviceaccount:kube-system:replicaset-controller";
            items.push(event(
                items.len(),
                controller,
                (
                    "update",
                    "replicasets",
                    Some("status"),
                    Some("payments-worker"),
                ),
                at,
            ));
        }
    }
    json!({ "kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items })
}
