//! A grant's own objects in the fake Kubernetes API, found by the name the bot gives them
//! (`prod-access-<grant id>`).

use serde_json::Value;

use super::FakeKube;

pub trait GrantObjects {
    /// The RoleBinding of `grant` in `namespace`.
    fn grant_binding(&self, namespace: &str, grant: &str) -> Option<Value>;
    /// The token ServiceAccount of `grant` (in the bot's own namespace).
    fn grant_account(&self, grant: &str) -> Option<Value>;
}

impl GrantObjects for FakeKube {
    fn grant_binding(&self, namespace: &str, grant: &str) -> Option<Value> {
        self.binding(namespace, &format!("prod-access-{grant}"))
    }

    fn grant_account(&self, grant: &str) -> Option<Value> {
        self.service_account("prod-access", &format!("prod-access-{grant}"))
    }
}
