//! The read-only questions that prove access ended: whether a subject (a user and its groups)
//! may still do something (a SubjectAccessReview), and which bindings name it.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef, Subject};
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::{Api, Client};

use super::ClusterError;
use super::kube::bounded;
use crate::domain::identity::Identity;
use crate::domain::permissions::Permission;
use crate::domain::revocation::{Answer, NamedBinding};

/// Whether `subject` may do `permission`, as the cluster's authorizers answer for that user and
/// those groups.
pub(super) async fn subject_may(
    client: &Client,
    subject: &Identity,
    permission: &Permission,
) -> Result<Answer, ClusterError> {
    let review = SubjectAccessReview {
        metadata: ObjectMeta::default(),
        spec: SubjectAccessReviewSpec {
            user: Some(subject.user.clone()),
            groups: (!subject.groups.is_empty()).then(|| subject.groups.clone()),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(permission.verb.to_string()),
                group: Some(permission.group.to_string()),
                resource: Some(permission.resource.to_string()),
                subresource: permission.subresource.map(String::from),
                namespace: permission.namespace.clone(),
                name: permission.name.clone(),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        status: None,
    };
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let answered = bounded(api.create(&PostParams::default(), &review)).await?;
    let status = answered.status.unwrap_or_default();
    // An authorizer that failed is not a "no": the end would be called verified unasked.
    if let Some(error) = status.evaluation_error.filter(|e| !e.is_empty()) {
        return Err(ClusterError::Unavailable(format!(
            "the review could not be evaluated: {error}"
        )));
    }
    Ok(Answer {
        allowed: status.allowed,
        reason: status.reason.unwrap_or_default(),
    })
}

/// Every RoleBinding (in every namespace) and ClusterRoleBinding that names the subject's user
/// or one of its groups.
pub(super) async fn bindings_naming(
    client: &Client,
    subject: &Identity,
) -> Result<Vec<NamedBinding>, ClusterError> {
    let params = ListParams::default();
    let role_bindings: Api<RoleBinding> = Api::all(client.clone());
    let cluster_bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    let mut named = Vec::new();
    for binding in bounded(role_bindings.list(&params)).await?.items {
        let subjects = binding.subjects.as_deref().unwrap_or_default();
        named.extend(naming(
            subject,
            &binding.metadata,
            &binding.role_ref,
            subjects,
        ));
    }
    for binding in bounded(cluster_bindings.list(&params)).await?.items {
        let subjects = binding.subjects.as_deref().unwrap_or_default();
        named.extend(naming(
            subject,
            &binding.metadata,
            &binding.role_ref,
            subjects,
        ));
    }
    Ok(named)
}

/// The binding, once for each of its subjects that is the user or one of its groups.
fn naming(
    subject: &Identity,
    metadata: &ObjectMeta,
    role_ref: &RoleRef,
    subjects: &[Subject],
) -> Vec<NamedBinding> {
    let names = |s: &&Subject| match s.kind.as_str() {
        "User" => s.name == subject.user,
        "Group" => subject.groups.contains(&s.name),
        _ => false,
    };
    subjects
        .iter()
        .filter(names)
        .map(|s| NamedBinding {
            namespace: metadata.namespace.clone(),
            name: metadata.name.clone().unwrap_or_default(),
            role_kind: role_ref.kind.clone(),
            role: role_ref.name.clone(),
            subject_kind: s.kind.clone(),
            subject: s.name.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(kind: &str, name: &str) -> Subject {
        Subject {
            kind: kind.into(),
            name: name.into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            namespace: None,
        }
    }

    #[test]
    fn a_binding_names_the_user_or_one_of_its_groups_once_for_each() {
        let alice = Identity {
            user: "alice@example.com".into(),
            groups: vec!["payments-oncall".into()],
            service_account: None,
        };
        let metadata = ObjectMeta {
            namespace: Some("payments".into()),
            name: Some("oncall".into()),
            ..ObjectMeta::default()
        };
        let role_ref = RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "edit".into(),
        };
        let subjects = [
            subject("User", "alice@example.com"),
            subject("User", "bob@example.com"),
            subject("Group", "payments-oncall"),
            subject("Group", "everyone-else"),
        ];
        let named = naming(&alice, &metadata, &role_ref, &subjects);
        let said: Vec<(&str, &str)> = named
            .iter()
            .map(|b| (b.subject_kind.as_str(), b.subject.as_str()))
            .collect();
        assert_eq!(
            said,
            [("User", "alice@example.com"), ("Group", "payments-oncall")]
        );
        assert!(named.iter().all(|b| b.role == "edit" && b.name == "oncall"));
        let bob_only = [subject("User", "bob@example.com")];
        assert!(naming(&alice, &metadata, &role_ref, &bob_only).is_empty());
    }
}
