//! Long-running requests a grant's subject opened. Kubernetes does not cut an exec, attach or
//! port-forward when the binding that allowed it is deleted, so the ones still open when the
//! access ends are named (pod, container, since when) in the session summary, with how to end
//! them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::{KubeRequest, Notable};

/// A long-running request whose response started and whose completion has not been seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenStream {
    pub audit_id: String,
    /// `exec`, `attach` or `port_forward`; `None` for other long-running requests (watches),
    /// remembered only so their completion is not counted again.
    #[serde(default)]
    pub kind: Option<Notable>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub pod: Option<String>,
    /// The container asked for (`?container=` of the request), when it was named.
    #[serde(default)]
    pub container: Option<String>,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
}

impl OpenStream {
    pub(super) fn of(request: &KubeRequest) -> OpenStream {
        let kind = match (request.resource.as_deref(), request.subresource.as_deref()) {
            (Some("pods"), Some("exec")) => Some(Notable::Exec),
            (Some("pods"), Some("attach")) => Some(Notable::Attach),
            (Some("pods"), Some("portforward")) => Some(Notable::PortForward),
            _ => None,
        };
        OpenStream {
            audit_id: request.audit_id.clone(),
            kind,
            namespace: request.namespace.clone(),
            pod: kind.and(request.name.clone()),
            container: kind.and_then(|_| container_of(&request.uri)),
            started_at: Some(request.at),
        }
    }

    /// Whether `request` is another stage of this one. The audit ID alone would do for requests
    /// the apiserver names, but a client may set its own (`Audit-ID`), and one request's
    /// completion must not close another person's exec into another pod.
    pub(super) fn is_for(&self, request: &KubeRequest) -> bool {
        if self.audit_id != request.audit_id {
            return false;
        }
        // Stored before streams were described: its audit ID is all there is to go by.
        if self.started_at.is_none() {
            return true;
        }
        let same = OpenStream::of(request);
        (same.kind, same.namespace.as_ref(), same.pod.as_ref())
            == (self.kind, self.namespace.as_ref(), self.pod.as_ref())
    }

    /// Whether a person holds it open into a pod (not a watch).
    pub fn into_pod(&self) -> bool {
        matches!(
            self.kind,
            Some(Notable::Exec | Notable::Attach | Notable::PortForward)
        )
    }
}

/// The `container` query parameter of a request URI.
fn container_of(uri: &str) -> Option<String> {
    let (_, query) = uri.split_once('?')?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "container")
        .map(|(_, value)| value.into_owned())
}

/// Open streams as stored: before they were described, each was its audit ID alone.
pub(super) fn stored<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<OpenStream>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Described(OpenStream),
        Id(String),
    }
    let stored = Vec::<Stored>::deserialize(d)?;
    Ok(stored
        .into_iter()
        .map(|s| match s {
            Stored::Described(stream) => stream,
            Stored::Id(audit_id) => OpenStream {
                audit_id,
                kind: None,
                namespace: None,
                pod: None,
                container: None,
                started_at: None,
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::activity::Stage;
    use crate::domain::testing::t0;

    fn exec() -> KubeRequest {
        KubeRequest {
            audit_id: "a1".into(),
            stage: Stage::ResponseStarted,
            at: t0(),
            verb: "create".into(),
            resource: Some("pods".into()),
            subresource: Some("exec".into()),
            namespace: Some("payments".into()),
            name: Some("api-7f9c".into()),
            code: Some(101),
            uri: "/api/v1/namespaces/payments/pods/api-7f9c/exec?command=sh&container=app&stdin=true&tty=true".into(),
            after_end: false,
            impersonating: None,
        }
    }

    #[test]
    fn an_exec_is_described_by_its_pod_container_and_start() {
        let stream = OpenStream::of(&exec());
        assert_eq!(stream.kind, Some(Notable::Exec));
        assert_eq!(stream.namespace.as_deref(), Some("payments"));
        assert_eq!(stream.pod.as_deref(), Some("api-7f9c"));
        assert_eq!(stream.container.as_deref(), Some("app"));
        assert_eq!(stream.started_at, Some(t0()));
        assert!(stream.into_pod());
    }

    #[test]
    fn another_request_under_the_same_audit_id_does_not_close_an_exec() {
        use crate::domain::activity::SessionActivity;
        let mut record = SessionActivity::new("g1");
        record.record(&exec());
        // A client may choose its own Audit-ID: a request into another pod under the same one
        // completes, and the shell into api-7f9c is still open.
        let other = KubeRequest {
            stage: Stage::ResponseComplete,
            name: Some("worker-1".into()),
            ..exec()
        };
        record.record(&other);
        assert_eq!(record.open_into_pods().len(), 1);
        let done = KubeRequest {
            stage: Stage::ResponseComplete,
            ..exec()
        };
        record.record(&done);
        assert!(record.open_into_pods().is_empty());
    }

    #[test]
    fn a_watch_is_remembered_but_is_not_a_stream_into_a_pod() {
        let watch = KubeRequest {
            verb: "watch".into(),
            subresource: None,
            name: None,
            uri: "/api/v1/namespaces/payments/pods?watch=true".into(),
            ..exec()
        };
        let stream = OpenStream::of(&watch);
        assert_eq!(stream.kind, None);
        assert_eq!((stream.pod, stream.container), (None, None));
        assert!(!OpenStream::of(&watch).into_pod());
    }

    #[test]
    fn many_watches_cannot_push_out_an_exec_still_open() {
        let mut activity = crate::domain::activity::SessionActivity::new("g1");
        activity.record(&exec());
        for n in 0..300 {
            let watch = KubeRequest {
                audit_id: format!("w{n}"),
                verb: "watch".into(),
                subresource: None,
                name: None,
                ..exec()
            };
            activity.record(&watch);
        }
        let open = activity.open_into_pods();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].pod.as_deref(), Some("api-7f9c"));
    }

    #[test]
    fn streams_stored_as_audit_ids_alone_still_load() {
        #[derive(Deserialize)]
        struct Record {
            #[serde(deserialize_with = "stored")]
            open: Vec<OpenStream>,
        }
        let json = serde_json::json!({ "open": ["a1", OpenStream::of(&exec())] });
        let record: Record = serde_json::from_value(json).unwrap();
        assert_eq!(record.open[0].audit_id, "a1");
        assert!(!record.open[0].into_pod());
        assert_eq!(record.open[1], OpenStream::of(&exec()));
    }
}
