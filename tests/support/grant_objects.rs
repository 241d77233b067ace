//! A grant's own objects in the fake Kubernetes API, found by the name the bot gives them
//! (`prod-access-<grant id>`), and waits for the bindings to come or go.

use serde_json::{Value, json};

use super::FakeKube;

// Used in tests on one task, never as trait objects, so no `Send` bound is needed.
#[allow(async_fn_in_trait)]
pub trait GrantObjects {
    /// Waits until the cluster holds no binding any more.
    async fn until_unbound(&self);
    /// Waits until the cluster holds exactly one binding.
    async fn until_bound(&self);
    /// The RoleBinding of `grant` in `namespace`.
    fn grant_binding(&self, namespace: &str, grant: &str) -> Option<Value>;
    /// The token ServiceAccount of `grant` (in the bot's own namespace).
    fn grant_account(&self, grant: &str) -> Option<Value>;
}

impl GrantObjects for FakeKube {
    async fn until_unbound(&self) {
        self.wait_until("every binding is gone", |k| k.binding_count() == 0)
            .await;
    }

    async fn until_bound(&self) {
        self.wait_until("one binding", |k| k.binding_count() == 1)
            .await;
    }

    fn grant_binding(&self, namespace: &str, grant: &str) -> Option<Value> {
        self.binding(namespace, &format!("prod-access-{grant}"))
    }

    fn grant_account(&self, grant: &str) -> Option<Value> {
        self.service_account("prod-access", &format!("prod-access-{grant}"))
    }
}

/// A RoleBinding in payments as the bot makes them, for `grant`, expiring at `expires_at`.
pub fn managed_binding(name: &str, grant: &str, expires_at: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": name, "namespace": "payments", "resourceVersion": "1",
            "labels": { "app.kubernetes.io/managed-by": "prod-access", "prod-access/grant": grant },
            "annotations": { "prod-access/expires-at": expires_at }
        },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin" },
        "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "oidc:mallory@example.com" }]
    })
}
