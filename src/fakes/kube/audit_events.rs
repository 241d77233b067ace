//! The apiserver's side of the audit webhook: `audit.k8s.io/v1` events shaped as a real
//! apiserver sends them (every field it fills at the `Metadata` level), batched in an
//! `EventList`. The tests, the demo and the benchmark post them to `/k8s/audit`.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One request as the audit log records it.
#[derive(Clone)]
pub struct KubeCall {
    pub user: String,
    pub verb: String,
    /// `pods`, or `pods/exec` for a subresource; empty for a non-resource URL.
    pub resource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub code: u16,
    pub at: DateTime<Utc>,
    pub audit_id: String,
    /// The RoleBinding (`name/namespace`) RBAC allowed it by, as its audit annotation says.
    pub allowed_by: Option<String>,
}

/// `user` did `verb` on `resource` (`pods`, `pods/exec`) at `at`, answered 200.
pub fn kube_call(user: &str, verb: &str, resource: &str, at: DateTime<Utc>) -> KubeCall {
    KubeCall {
        user: user.into(),
        verb: verb.into(),
        resource: resource.into(),
        namespace: None,
        name: None,
        code: 200,
        at,
        audit_id: format!(
            "5c0a6f3e-2b1d-4c7e-9f00-{:012x}",
            NEXT_ID.fetch_add(1, Ordering::Relaxed)
        ),
        allowed_by: None,
    }
}

impl KubeCall {
    pub fn in_ns(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Allowed by the RoleBinding `binding` in the call's namespace.
    pub fn allowed_by(mut self, binding: &str) -> Self {
        let ns = self.namespace.clone().unwrap_or_default();
        self.allowed_by = Some(format!("{binding}/{ns}"));
        self
    }

    pub fn answered(mut self, code: u16) -> Self {
        self.code = code;
        self
    }

    fn request_uri(&self) -> String {
        let (resource, sub) = match self.resource.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (self.resource.as_str(), None),
        };
        if resource.is_empty() {
            return "/version?timeout=32s".into();
        }
        let group = match resource {
            "deployments" | "statefulsets" | "daemonsets" | "replicasets" => "/apis/apps/v1",
            _ => "/api/v1",
        };
        let mut uri = group.to_string();
        if let Some(ns) = &self.namespace {
            uri += &format!("/namespaces/{ns}");
        }
        uri += &format!("/{resource}");
        if let Some(name) = &self.name {
            uri += &format!("/{name}");
        }
        match sub {
            Some("exec") => uri += "/exec?command=sh&container=api&stdin=true&stdout=true&tty=true",
            Some(sub) => uri += &format!("/{sub}"),
            None if self.name.is_none() && self.verb == "list" => uri += "?limit=500",
            None => {}
        }
        uri
    }

    /// The audit event of this request at `stage`.
    pub fn event(&self, stage: &str) -> Value {
        let micro = |at: DateTime<Utc>| at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let mut event = json!({
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": self.audit_id,
            "stage": stage,
            "requestURI": self.request_uri(),
            "verb": self.verb,
            "user": {
                "username": self.user,
                "groups": ["oidc:engineering", "system:authenticated"],
                "extra": { "authentication.kubernetes.io/credential-id": ["JTI=0b8f3c2e-1d2a"] }
            },
            "sourceIPs": ["10.20.3.17"],
            "userAgent": "kubectl/v1.33.2 (linux/amd64) kubernetes/a57b6f7",
            "requestReceivedTimestamp": micro(self.at),
            "stageTimestamp": micro(self.at + chrono::Duration::milliseconds(4)),
        });
        if !self.resource.is_empty() {
            let (resource, sub) = match self.resource.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (self.resource.as_str(), None),
            };
            let mut object = json!({ "resource": resource, "apiVersion": "v1" });
            if let Some(ns) = &self.namespace {
                object["namespace"] = json!(ns);
            }
            if let Some(name) = &self.name {
                object["name"] = json!(name);
            }
            if let Some(sub) = sub {
                object["subresource"] = json!(sub);
            }
            if matches!(
                resource,
                "deployments" | "statefulsets" | "daemonsets" | "replicasets"
            ) {
                object["apiGroup"] = json!("apps");
            }
            event["objectRef"] = object;
        }
        if stage != "RequestReceived" {
            event["responseStatus"] = if self.code == 403 {
                json!({
                    "metadata": {},
                    "status": "Failure",
                    "message": format!("{} is forbidden: User \"{}\" cannot {} resource \"{}\"", self.resource, self.user, self.verb, self.resource),
                    "reason": "Forbidden",
                    "details": { "kind": self.resource },
                    "code": 403
                })
            } else {
                json!({ "metadata": {}, "code": self.code })
            };
            let (decision, reason) = match (&self.allowed_by, self.code) {
                (_, 403) => ("forbid", String::new()),
                (Some(binding), _) => (
                    "allow",
                    format!("RBAC: allowed by RoleBinding \"{binding}\" of ClusterRole \"edit\" to User \"{}\"", self.user),
                ),
                (None, _) => (
                    "allow",
                    "RBAC: allowed by ClusterRoleBinding \"engineering-view\" of ClusterRole \"view\" to Group \"oidc:engineering\"".to_string(),
                ),
            };
            event["annotations"] = json!({
                "authorization.k8s.io/decision": decision,
                "authorization.k8s.io/reason": reason
            });
        }
        event
    }

    /// The events the apiserver sends of it: `RequestReceived` and `ResponseComplete`, and
    /// `ResponseStarted` in between for a long-running request (exec, attach, port-forward).
    pub fn events(&self) -> Vec<Value> {
        let long_running =
            ["pods/exec", "pods/attach", "pods/portforward"].contains(&self.resource.as_str());
        let mut events = vec![self.event("RequestReceived")];
        if long_running {
            let mut started = self.clone();
            started.code = 101;
            events.push(started.event("ResponseStarted"));
            events.push(started.event("ResponseComplete"));
        } else {
            events.push(self.event("ResponseComplete"));
        }
        events
    }
}

/// An `EventList` batch of `items`.
pub fn event_list(items: Vec<Value>) -> Value {
    json!({
        "kind": "EventList",
        "apiVersion": "audit.k8s.io/v1",
        "metadata": {},
        "items": items
    })
}
