//! Posting the apiserver's audit batches (`prod_access::fakes::kube::audit_events`) to the
//! bot's `/k8s/audit` with the webhook kubeconfig's bearer token.

use super::Harness;
pub use prod_access::fakes::kube::audit_events::{KubeCall, event_list, kube_call};

/// What the tests' webhook kubeconfig presents (`PROD_ACCESS_K8S_AUDIT_TOKEN`).
pub const K8S_AUDIT_TOKEN: &str = "k8s-audit-token-for-tests-0123456789abcdef";
/// The `us` cluster's own token, in the two-cluster configuration (`eu` has the one above).
pub const K8S_AUDIT_TOKEN_US: &str = "k8s-audit-token-of-the-us-cluster-0123456789";

impl Harness {
    /// Posts `body` to `/k8s/audit` (`query` appended as is) with `token` as bearer token.
    pub async fn post_audit_raw(
        &self,
        query: &str,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (u16, String) {
        let mut request = reqwest::Client::new()
            .post(self.bot.url(&format!("/k8s/audit{query}")))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// Posts the events of `calls` as one batch to `/k8s/audit{cluster}` with `token`.
    pub async fn post_audit(
        &self,
        cluster: &str,
        token: &str,
        calls: &[KubeCall],
    ) -> (u16, String) {
        let items = calls.iter().flat_map(KubeCall::events).collect();
        let body = serde_json::to_vec(&event_list(items)).unwrap();
        self.post_audit_raw(cluster, Some(token), body).await
    }
}
