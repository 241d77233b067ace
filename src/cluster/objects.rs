//! Any object a grant's end can leave in place, named by its API group, version and resource:
//! whether it still exists, and deleting it when an approver asks.

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};

use super::ClusterError;
use super::kube::{bounded, delete_if_present};
use crate::domain::activity::ObjectRef;

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

/// Whether the object exists, from its metadata alone: the apiserver answers a
/// PartialObjectMetadata, so a Secret's data never crosses the wire.
pub(super) async fn exists(client: &Client, object: &ObjectRef) -> Result<bool, ClusterError> {
    let name = named(object)?;
    let found = bounded(api_for(client, object).get_metadata_opt(name)).await?;
    Ok(found.is_some())
}

/// Deletes the object; `false` when it was already gone. An object the apiserver only marks for
/// deletion (finalizers, a pod's grace period) counts as deleted: nothing more is asked of it.
pub(super) async fn delete(client: &Client, object: &ObjectRef) -> Result<bool, ClusterError> {
    let name = named(object)?;
    delete_if_present(api_for(client, object), name).await
}

#[cfg(test)]
mod tests;
