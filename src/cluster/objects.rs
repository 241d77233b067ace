//! Any object a grant's end can leave in place, named by its API group, version and resource:
//! whether it still exists, and deleting it when an approver asks.

use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Preconditions, PropagationPolicy,
};
use kube::{Api, Client};

use super::ClusterError;
use super::kube::{bounded, delete_with};
use crate::domain::activity::{ObjectRef, Observed};

/// The object's resource, for any resource the API serves. The URL is built from the group,
/// version and plural alone; no call here sends or reads a kind, so none is looked up.
fn api_for(client: &Client, object: &ObjectRef) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(&object.group, &object.version, "");
    let resource = ApiResource::from_gvk_with_plural(&gvk, &object.resource);
    match &object.namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

/// kube refuses an empty name before sending anything, which `bounded` would call a transient
/// failure and the caller would retry for ever.
fn named(object: &ObjectRef) -> Result<&str, ClusterError> {
    match object.name.as_str() {
        "" => Err(ClusterError::Refused(format!(
            "{} names no object",
            object.path()
        ))),
        name => Ok(name),
    }
}

/// The object as it is, from its metadata alone: the apiserver answers a PartialObjectMetadata,
/// so a Secret's data never crosses the wire.
pub(super) async fn observe(
    client: &Client,
    object: &ObjectRef,
) -> Result<Option<Observed>, ClusterError> {
    let name = named(object)?;
    let found = bounded(api_for(client, object).get_metadata_opt(name)).await?;
    Ok(found.map(|found| {
        let owners = found.metadata.owner_references.unwrap_or_default();
        Observed {
            uid: found.metadata.uid,
            controlled: owners.iter().any(|o| o.controller == Some(true)),
        }
    }))
}

/// Deletes the object, and its dependents in the background (a Job's or a ReplicationController's
/// pods would otherwise be left running); with the uid it was seen with, only that object.
/// `false` when it was already gone, or is another object of that name now. An object the
/// apiserver only marks for deletion (finalizers, a pod's grace period) counts as deleted.
pub(super) async fn delete(client: &Client, object: &ObjectRef) -> Result<bool, ClusterError> {
    let name = named(object)?;
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        preconditions: object.uid.as_ref().map(|uid| Preconditions {
            uid: Some(uid.clone()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    delete_with(api_for(client, object), name, &params).await
}

#[cfg(test)]
mod tests;
