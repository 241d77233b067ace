//! `Cluster` over the Kubernetes API: one RoleBinding (or ClusterRoleBinding) per grant, named
//! and labelled so that every call is idempotent.

use std::collections::BTreeMap;

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef, Subject};
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};

use crate::domain::activity::{ObjectRef, Observed};
use crate::domain::grant::{Grant, Scope};
use crate::domain::identity::Identity;
use crate::domain::permissions::Permission;
use crate::domain::reconcile::ObservedBinding;
use crate::domain::revocation::{Answer, NamedBinding};

use super::{
    APPROVERS_ANNOTATION, BREAK_GLASS_ANNOTATION, Cluster, ClusterError,
    DEFAULT_SERVICE_ACCOUNT_NAMESPACE, EXPIRES_AT_ANNOTATION, GRANT_LABEL, MANAGED_BY_LABEL,
    MANAGED_BY_VALUE, ON_CALL_ANNOTATION, RBAC_GROUP, REASON_ANNOTATION, REQUESTER_ANNOTATION,
    ROLE_ANNOTATION, Unbound,
};

/// No Kubernetes call may hold up a grant (or the expiry of others) for longer than this.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// A client for `config` as the bot needs it. The client's own retrying of 429/503/504 is off:
/// it would wait inside the call, holding the grant's lock for up to `CALL_TIMEOUT` and hiding
/// the failure, where the outbox retries with a backoff that is stored and survives a restart.
pub fn client_for(mut config: kube::Config) -> anyhow::Result<Client> {
    config.default_retry = false;
    Client::try_from(config).map_err(|e| anyhow::anyhow!("cannot build a Kubernetes client: {e}"))
}

/// The call's own result, or `Unavailable` if it took too long.
async fn timed<T>(
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<Result<T, kube::Error>, ClusterError> {
    tokio::time::timeout(CALL_TIMEOUT, call).await.map_err(|_| {
        ClusterError::Unavailable(format!("no answer within {}s", CALL_TIMEOUT.as_secs()))
    })
}

pub(super) async fn bounded<T>(
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, ClusterError> {
    timed(call).await?.map_err(classify)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub struct KubeCluster {
    client: Client,
    /// Where token-issuing grants keep their ServiceAccounts.
    service_account_namespace: String,
}

impl KubeCluster {
    pub fn new(client: Client) -> Self {
        KubeCluster {
            client,
            service_account_namespace: DEFAULT_SERVICE_ACCOUNT_NAMESPACE.to_string(),
        }
    }

    pub fn with_service_account_namespace(self, namespace: &str) -> Self {
        KubeCluster {
            service_account_namespace: namespace.to_string(),
            ..self
        }
    }

    fn service_accounts(&self) -> Api<ServiceAccount> {
        Api::namespaced(self.client.clone(), &self.service_account_namespace)
    }

    /// Uses the kubeconfig (`KUBECONFIG`, `~/.kube/config`) or the in-cluster service account.
    pub async fn from_environment() -> anyhow::Result<Self> {
        let config = kube::Config::infer().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot configure the Kubernetes client (kubeconfig or in-cluster): {e}"
            )
        })?;
        Ok(KubeCluster::new(client_for(config)?))
    }

    fn bindings(&self, namespace: &str) -> Api<RoleBinding> {
        Api::namespaced(self.client.clone(), namespace)
    }
}

/// The labels and annotations every binding of a grant carries. Only label-safe values go in
/// labels; people and free text go in annotations.
fn binding_metadata(grant: &Grant, namespace: Option<&str>) -> ObjectMeta {
    let labels = BTreeMap::from([
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
        (GRANT_LABEL.to_string(), grant.id.clone()),
    ]);
    let mut annotations = BTreeMap::from([
        (REQUESTER_ANNOTATION.to_string(), grant.requester.clone()),
        (
            APPROVERS_ANNOTATION.to_string(),
            grant
                .approvals
                .iter()
                .map(|a| a.by.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
        (REASON_ANNOTATION.to_string(), grant.reason.clone()),
        (ROLE_ANNOTATION.to_string(), grant.role.clone()),
    ]);
    if let Some(expires_at) = grant.expires_at {
        annotations.insert(EXPIRES_AT_ANNOTATION.to_string(), rfc3339(expires_at));
    }
    if let (Some(crate::domain::on_call::OnCallCheck::OnCall { via }), true) =
        (&grant.on_call, grant.approvals.is_empty())
    {
        annotations.insert(ON_CALL_ANNOTATION.to_string(), via.key());
    }
    if grant.break_glass.is_some() {
        annotations.insert(BREAK_GLASS_ANNOTATION.to_string(), "true".to_string());
    }
    ObjectMeta {
        name: Some(grant.binding_name()),
        namespace: namespace.map(String::from),
        labels: Some(labels),
        annotations: Some(annotations),
        ..ObjectMeta::default()
    }
}

fn cluster_role_ref(grant: &Grant) -> RoleRef {
    RoleRef {
        api_group: RBAC_GROUP.to_string(),
        kind: "ClusterRole".to_string(),
        name: grant.cluster_role.clone(),
    }
}

/// The RoleBinding a namespaced grant implies in `namespace`.
pub fn role_binding(grant: &Grant, identity: &Identity, namespace: &str) -> RoleBinding {
    RoleBinding {
        metadata: binding_metadata(grant, Some(namespace)),
        role_ref: cluster_role_ref(grant),
        subjects: Some(subjects(identity, &grant.binding_name())),
    }
}

/// The ClusterRoleBinding a cluster-wide grant implies.
pub fn cluster_role_binding(grant: &Grant, identity: &Identity) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: binding_metadata(grant, None),
        role_ref: cluster_role_ref(grant),
        subjects: Some(subjects(identity, &grant.binding_name())),
    }
}

/// The `User`, then each `Group` (both need the RBAC API group), then the grant's
/// ServiceAccount when it issues a token (core group, with its namespace).
fn subjects(identity: &Identity, binding_name: &str) -> Vec<Subject> {
    let subject = |kind: &str, name: &str| Subject {
        api_group: Some(RBAC_GROUP.to_string()),
        kind: kind.to_string(),
        name: name.to_string(),
        namespace: None,
    };
    std::iter::once(subject("User", &identity.user))
        .chain(identity.groups.iter().map(|g| subject("Group", g)))
        .chain(identity.service_account.iter().map(|namespace| Subject {
            api_group: Some(String::new()),
            kind: "ServiceAccount".to_string(),
            name: binding_name.to_string(),
            namespace: Some(namespace.clone()),
        }))
        .collect()
}

fn classify(e: kube::Error) -> ClusterError {
    match &e {
        kube::Error::Api(status) if status.code == 429 || status.code >= 500 => {
            ClusterError::Unavailable(status.message.clone())
        }
        kube::Error::Api(status) => ClusterError::Refused(format!(
            "{} ({} {})",
            status.message, status.code, status.reason
        )),
        _ => ClusterError::Unavailable(e.to_string()),
    }
}

/// What the binding kinds share, so one piece of code creates, adopts, patches and deletes both.
trait Binding:
    kube::Resource<DynamicType = ()>
    + Clone
    + std::fmt::Debug
    + serde::Serialize
    + serde::de::DeserializeOwned
    + Send
    + Sync
    + 'static
{
    fn role_ref(&self) -> &RoleRef;
}

impl Binding for RoleBinding {
    fn role_ref(&self) -> &RoleRef {
        &self.role_ref
    }
}

impl Binding for ClusterRoleBinding {
    fn role_ref(&self) -> &RoleRef {
        &self.role_ref
    }
}

/// Creates `wanted`; an existing object of the same grant is adopted, and the expiry it was
/// created with is returned.
async fn create_or_adopt<K: Binding>(
    api: Api<K>,
    wanted: &K,
    grant: &Grant,
) -> Result<Option<DateTime<Utc>>, ClusterError> {
    let name = grant.binding_name();
    match timed(api.create(&PostParams::default(), wanted)).await? {
        Ok(_) => Ok(None),
        Err(kube::Error::Api(status)) if status.is_already_exists() => {
            let existing = bounded(api.get(&name)).await?;
            let metadata = existing.meta();
            let owner = metadata.labels.as_ref().and_then(|l| l.get(GRANT_LABEL));
            if owner != Some(&grant.id) || existing.role_ref() != wanted.role_ref() {
                return Err(ClusterError::Refused(format!(
                    "{} {name} exists and does not belong to this grant",
                    K::kind(&())
                )));
            }
            Ok(metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(EXPIRES_AT_ANNOTATION))
                .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
                .map(|at| at.with_timezone(&Utc)))
        }
        Err(e) => Err(classify(e)),
    }
}

/// Deletes `name`; `false` when it was already gone.
async fn delete_if_present<K>(api: Api<K>, name: &str) -> Result<bool, ClusterError>
where
    K: Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    delete_with(api, name, &DeleteParams::default()).await
}

/// Deletes `name` as `params` say; `false` when it was already gone, or (with a uid
/// precondition) another object has its name now.
pub(super) async fn delete_with<K>(
    api: Api<K>,
    name: &str,
    params: &DeleteParams,
) -> Result<bool, ClusterError>
where
    K: Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let stale = |code: u16| code == 409 && params.preconditions.is_some();
    match timed(api.delete(name, params)).await? {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.is_not_found() || stale(status.code) => Ok(false),
        Err(e) => Err(classify(e)),
    }
}

async fn patch_expiry<K: Binding>(
    api: Api<K>,
    name: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), ClusterError> {
    let patch = serde_json::json!({
        "metadata": { "annotations": { EXPIRES_AT_ANNOTATION: rfc3339(expires_at) } }
    });
    let params = PatchParams::default();
    match timed(api.patch(name, &params, &Patch::Merge(&patch))).await? {
        Ok(_) => Ok(()),
        // Gone already: nothing left to move; the reconciler and the store agree on that.
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(e) => Err(classify(e)),
    }
}

impl KubeCluster {
    fn cluster_bindings(&self) -> Api<ClusterRoleBinding> {
        Api::all(self.client.clone())
    }

    /// The grant's ServiceAccount, labelled like its bindings; an existing one of the same
    /// grant is kept.
    async fn ensure_service_account(&self, grant: &Grant) -> Result<(), ClusterError> {
        let account = ServiceAccount {
            metadata: binding_metadata(grant, Some(&self.service_account_namespace)),
            ..ServiceAccount::default()
        };
        let api = self.service_accounts();
        match timed(api.create(&PostParams::default(), &account)).await? {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.is_already_exists() => {
                let existing = bounded(api.get(&grant.binding_name())).await?;
                let owner = existing
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(GRANT_LABEL));
                if owner == Some(&grant.id) {
                    Ok(())
                } else {
                    Err(ClusterError::Refused(format!(
                        "ServiceAccount {}/{} exists and does not belong to this grant",
                        self.service_account_namespace,
                        grant.binding_name()
                    )))
                }
            }
            Err(e) => Err(classify(e)),
        }
    }
}

#[async_trait]
impl Cluster for KubeCluster {
    async fn bind(
        &self,
        grant: &Grant,
        identity: &Identity,
        expires_at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, ClusterError> {
        let with_expiry = Grant {
            expires_at: Some(expires_at),
            ..grant.clone()
        };
        let mut identity = identity.clone();
        if grant.kubeconfig {
            self.ensure_service_account(&with_expiry).await?;
            identity.service_account = Some(self.service_account_namespace.clone());
        }
        let identity = &identity;
        // Every binding is made (or adopted) in turn; a failure leaves the ones made so far for
        // the grant's Unbind, which removes them all.
        let mut recorded = None;
        match &grant.scope {
            Scope::Namespaces { names } => {
                for namespace in names {
                    let wanted = role_binding(&with_expiry, identity, namespace);
                    let adopted = create_or_adopt(self.bindings(namespace), &wanted, grant).await?;
                    recorded = recorded.or(adopted);
                }
            }
            Scope::Cluster => {
                let wanted = cluster_role_binding(&with_expiry, identity);
                recorded = create_or_adopt(self.cluster_bindings(), &wanted, grant).await?;
            }
        }
        Ok(recorded.unwrap_or(expires_at))
    }

    async fn update_expiry(&self, grant: &Grant) -> Result<(), ClusterError> {
        let Some(expires_at) = grant.expires_at else {
            return Ok(());
        };
        let name = grant.binding_name();
        match &grant.scope {
            Scope::Namespaces { names } => {
                for namespace in names {
                    patch_expiry(self.bindings(namespace), &name, expires_at).await?;
                }
                Ok(())
            }
            Scope::Cluster => patch_expiry(self.cluster_bindings(), &name, expires_at).await,
        }
    }

    async fn unbind(&self, grant: &Grant) -> Result<Unbound, ClusterError> {
        let name = grant.binding_name();
        if grant.kubeconfig {
            // Deleting the ServiceAccount invalidates every token issued for it at once.
            delete_if_present(self.service_accounts(), &name).await?;
        }
        let mut deleted = false;
        match &grant.scope {
            Scope::Namespaces { names } => {
                for namespace in names {
                    deleted |= delete_if_present(self.bindings(namespace), &name).await?;
                }
            }
            Scope::Cluster => deleted = delete_if_present(self.cluster_bindings(), &name).await?,
        }
        Ok(if deleted {
            Unbound::Deleted
        } else {
            Unbound::AlreadyGone
        })
    }

    async fn list_managed(
        &self,
        include_cluster_bindings: bool,
    ) -> Result<Vec<ObservedBinding>, ClusterError> {
        let selector = format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}");
        let params = ListParams::default().labels(&selector);
        let api: Api<RoleBinding> = Api::all(self.client.clone());
        let mut found: Vec<ObservedBinding> = bounded(api.list(&params))
            .await?
            .items
            .iter()
            .filter_map(|b| observed(b.meta()))
            .collect();
        if include_cluster_bindings {
            let cluster = bounded(self.cluster_bindings().list(&params)).await?;
            found.extend(cluster.items.iter().filter_map(|b| observed(b.meta())));
        }
        Ok(found)
    }

    async fn delete_binding(&self, binding: &ObservedBinding) -> Result<bool, ClusterError> {
        match &binding.namespace {
            Some(namespace) => delete_if_present(self.bindings(namespace), &binding.name).await,
            None => delete_if_present(self.cluster_bindings(), &binding.name).await,
        }
    }

    async fn issue_token(&self, grant: &Grant, seconds: i64) -> Result<String, ClusterError> {
        let request = TokenRequest {
            metadata: ObjectMeta::default(),
            spec: TokenRequestSpec {
                audiences: Vec::new(),
                expiration_seconds: Some(seconds),
                bound_object_ref: None,
            },
            status: None,
        };
        let api = self.service_accounts();
        let name = grant.binding_name();
        let answered =
            bounded(api.create_token_request(&name, &PostParams::default(), &request)).await?;
        answered
            .status
            .map(|s| s.token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ClusterError::Refused("the TokenRequest returned no token".into()))
    }

    async fn may(&self, permission: &Permission) -> Result<bool, ClusterError> {
        let review = SelfSubjectAccessReview {
            metadata: ObjectMeta::default(),
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(permission.verb.to_string()),
                    group: Some(permission.group.to_string()),
                    resource: Some(permission.resource.to_string()),
                    name: permission.name.clone(),
                    namespace: permission.namespace.clone(),
                    subresource: permission.subresource.map(String::from),
                    ..ResourceAttributes::default()
                }),
                non_resource_attributes: None,
            },
            status: None,
        };
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        let answered = bounded(api.create(&PostParams::default(), &review)).await?;
        Ok(answered.status.is_some_and(|s| s.allowed))
    }

    async fn subject_may(
        &self,
        subject: &Identity,
        permission: &Permission,
    ) -> Result<Answer, ClusterError> {
        super::proof::subject_may(&self.client, subject, permission).await
    }

    async fn bindings_naming(&self, subject: &Identity) -> Result<Vec<NamedBinding>, ClusterError> {
        super::proof::bindings_naming(&self.client, subject).await
    }

    async fn observe(&self, object: &ObjectRef) -> Result<Option<Observed>, ClusterError> {
        super::objects::observe(&self.client, object).await
    }

    async fn delete_object(&self, object: &ObjectRef) -> Result<bool, ClusterError> {
        super::objects::delete(&self.client, object).await
    }
}

/// What the reconciler needs to know of a listed binding (`namespace` is `None` for a
/// ClusterRoleBinding).
fn observed(metadata: &ObjectMeta) -> Option<ObservedBinding> {
    Some(ObservedBinding {
        namespace: metadata.namespace.clone(),
        name: metadata.name.clone()?,
        grant_id: metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(GRANT_LABEL))
            .cloned(),
        expires_at: metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(EXPIRES_AT_ANNOTATION))
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&Utc)),
    })
}
