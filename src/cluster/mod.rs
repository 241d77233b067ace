//! The Kubernetes port: what the bot asks of a cluster (bind, unbind, list, tokens, access
//! checks), its errors, and the labels and annotations that make every call idempotent and let
//! the cluster alone say which access prod-access granted. `kube` holds the implementation over
//! the Kubernetes API; `admission` renders the admission policy that fences the bot in.

pub mod admission;
mod kube;
mod objects;
mod proof;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::activity::{ObjectRef, Observed};
use crate::domain::grant::Grant;
use crate::domain::identity::Identity;
use crate::domain::permissions::Permission;
use crate::domain::reconcile::ObservedBinding;
use crate::domain::revocation::{Answer, NamedBinding};

pub use self::kube::{KubeCluster, client_for, cluster_role_binding, role_binding};

pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "prod-access";
pub const GRANT_LABEL: &str = "prod-access/grant";
pub const EXPIRES_AT_ANNOTATION: &str = "prod-access/expires-at";
pub const REQUESTER_ANNOTATION: &str = "prod-access/requester";
pub const APPROVERS_ANNOTATION: &str = "prod-access/approvers";
/// Set when nobody approved the grant because its requester was on call: where they were.
pub const ON_CALL_ANNOTATION: &str = "prod-access/approved-on-call";
/// Set on a break-glass grant its requester approved themself.
pub const BREAK_GLASS_ANNOTATION: &str = "prod-access/break-glass";
pub const REASON_ANNOTATION: &str = "prod-access/reason";
pub const ROLE_ANNOTATION: &str = "prod-access/role";
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Where token-issuing grants keep their ServiceAccounts unless the configuration says otherwise.
pub const DEFAULT_SERVICE_ACCOUNT_NAMESPACE: &str = "prod-access";

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The API server refused the request; trying again will not help.
    #[error("the Kubernetes API refused: {0}")]
    Refused(String),
    /// The API server could not be reached or answered with a transient error.
    #[error("the Kubernetes API is unavailable: {0}")]
    Unavailable(String),
}

/// What removing a grant's access found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unbound {
    /// At least one of its bindings was there and is deleted now.
    Deleted,
    /// None of its bindings was there any more: removed by someone else (the sweeper, a
    /// person), or by an earlier attempt of the bot's own that was cut short.
    AlreadyGone,
}

#[async_trait]
pub trait Cluster: Send + Sync {
    /// Creates the grant's binding for `identity`, annotated to expire at `expires_at`, and returns
    /// the expiry in force: for a binding of the same grant that already exists (a replay after a
    /// crash), the one it was created with.
    async fn bind(
        &self,
        grant: &Grant,
        identity: &Identity,
        expires_at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, ClusterError>;
    /// Writes the grant's current expiry onto its binding (after an extension).
    async fn update_expiry(&self, grant: &Grant) -> Result<(), ClusterError>;
    /// Deletes the grant's bindings (and its ServiceAccount); one that is already gone is
    /// success, and the answer says whether any binding was still there.
    async fn unbind(&self, grant: &Grant) -> Result<Unbound, ClusterError>;
    /// Every RoleBinding labelled as managed by prod-access, in every namespace, and the
    /// ClusterRoleBindings too when `include_cluster_bindings` (the policy has cluster roles).
    async fn list_managed(
        &self,
        include_cluster_bindings: bool,
    ) -> Result<Vec<ObservedBinding>, ClusterError>;
    /// Deletes one listed binding; `false` when it was already gone.
    async fn delete_binding(&self, binding: &ObservedBinding) -> Result<bool, ClusterError>;
    /// A token for the grant's ServiceAccount, valid for `seconds`. The caller must not store or
    /// log it.
    async fn issue_token(&self, grant: &Grant, seconds: i64) -> Result<String, ClusterError>;
    /// Whether the bot's own identity may do this, everywhere (a SelfSubjectAccessReview).
    async fn may(&self, permission: &Permission) -> Result<bool, ClusterError>;
    /// Whether `subject` (its user and groups) may do this, and why (a SubjectAccessReview).
    async fn subject_may(
        &self,
        subject: &Identity,
        permission: &Permission,
    ) -> Result<Answer, ClusterError>;
    /// Every RoleBinding and ClusterRoleBinding that names the subject's user or one of its
    /// groups (read-only).
    async fn bindings_naming(&self, subject: &Identity) -> Result<Vec<NamedBinding>, ClusterError>;
    /// The object as it is now, `None` when it is not there (a read-only GET of its metadata
    /// alone, so a Secret's data is never read).
    async fn observe(&self, object: &ObjectRef) -> Result<Option<Observed>, ClusterError>;
    /// Whether the object exists.
    async fn exists(&self, object: &ObjectRef) -> Result<bool, ClusterError> {
        Ok(self.observe(object).await?.is_some())
    }
    /// Deletes the object (its dependents in the background, so a Job's pods go with it); with
    /// a `uid`, only the object of that uid. `false` when it was already gone.
    async fn delete_object(&self, object: &ObjectRef) -> Result<bool, ClusterError>;
}
