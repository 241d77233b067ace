//! Session activity: what a grant's subject did in the cluster, from the apiserver's audit
//! events. Counting each request once, deciding which actions matter enough to keep one by one
//! with what they did, and the lines ("2 exec into payments/api-7f9c, 14 get pods", worded by
//! the templates) posted about them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::audit::{AuditEvent, AuditKind};

mod cleanup;
mod leftovers;
mod objects;
mod streams;
pub use cleanup::{
    Cleanup, CleanupRefusal, CleanupStep, EndReport, Handled, Item, ReportedLeftover,
    ReportedStream, may_clean_up, still_open,
};
pub use leftovers::{Leftover, LeftoverKind, RULES, Risk};
pub use objects::{ObjectRef, Observed, leftover_resources};
pub use streams::OpenStream;

/// The audit stages a request goes through (`audit.k8s.io/v1` `Stage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    RequestReceived,
    /// Sent only for long-running requests (exec, attach, port-forward, watch) once the response
    /// headers are out: the session has begun.
    ResponseStarted,
    ResponseComplete,
    Panic,
}

impl Stage {
    pub fn parse(stage: &str) -> Option<Stage> {
        Some(match stage {
            "RequestReceived" => Stage::RequestReceived,
            "ResponseStarted" => Stage::ResponseStarted,
            "ResponseComplete" => Stage::ResponseComplete,
            "Panic" => Stage::Panic,
            _ => return None,
        })
    }
}

/// One audit event of a request, reduced to what activity needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeRequest {
    pub audit_id: String,
    pub stage: Stage,
    pub at: DateTime<Utc>,
    pub verb: String,
    pub resource: Option<String>,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// The response's HTTP status, when the stage has one.
    pub code: Option<u16>,
    /// The request path, for requests that are not about a resource (`/version`, `/healthz`).
    pub uri: String,
    /// Made after the grant ended, and still allowed by the grant's own binding (its removal
    /// had not reached the apiserver yet).
    pub after_end: bool,
    /// The grant's subject made it impersonating this user.
    pub impersonating: Option<String>,
}

/// Actions kept one by one, not only counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notable {
    Exec,
    Attach,
    PortForward,
    ReadSecret,
    Delete,
    /// A patch or update of a workload (deployments, pods, jobs…).
    WorkloadChange,
    /// Any request the apiserver refused with 403: the subject tried beyond what it may do.
    Forbidden,
    /// Allowed by the grant's binding after the grant ended.
    AfterEnd,
    /// Made impersonating another user.
    Impersonation,
}

const WORKLOADS: &[&str] = &[
    "deployments",
    "statefulsets",
    "daemonsets",
    "replicasets",
    "replicationcontrollers",
    "jobs",
    "cronjobs",
    "pods",
];

impl KubeRequest {
    /// What the request did: `get pods`, `create pods/exec`, `get /version`, `get /apis/apps`.
    pub fn action(&self) -> String {
        match (&self.resource, &self.subresource) {
            (Some(resource), Some(sub)) => format!("{} {resource}/{sub}", self.verb),
            (Some(resource), None) => format!("{} {resource}", self.verb),
            (None, _) => format!("{} {}", self.verb, path_bucket(&self.uri)),
        }
    }

    /// Why it is kept individually, if it is.
    pub fn notable(&self) -> Option<Notable> {
        if self.after_end {
            return Some(Notable::AfterEnd);
        }
        if self.code == Some(403) {
            return Some(Notable::Forbidden);
        }
        let by_kind = self.notable_kind();
        match (by_kind, &self.impersonating) {
            (None, Some(_)) => Some(Notable::Impersonation),
            (kind, _) => kind,
        }
    }

    fn notable_kind(&self) -> Option<Notable> {
        let resource = self.resource.as_deref()?;
        match (resource, self.subresource.as_deref(), self.verb.as_str()) {
            ("pods", Some("exec"), _) => Some(Notable::Exec),
            ("pods", Some("attach"), _) => Some(Notable::Attach),
            ("pods", Some("portforward"), _) => Some(Notable::PortForward),
            ("secrets", None, "get" | "list" | "watch") => Some(Notable::ReadSecret),
            (_, None, "delete" | "deletecollection") => Some(Notable::Delete),
            (r, _, "patch" | "update") if WORKLOADS.contains(&r) => Some(Notable::WorkloadChange),
            _ => None,
        }
    }

    /// What it did, as a notable action of kind `kind`: the particulars the templates word.
    pub fn deed(&self, kind: Notable) -> Deed {
        Deed::Done(Act {
            kind,
            verb: self.verb.clone(),
            resource: self.resource.clone(),
            subresource: self.subresource.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            path: self.resource.is_none().then(|| path_bucket(&self.uri)),
            impersonating: self.impersonating.clone(),
        })
    }
}

/// A path's first two segments (`/apis/metrics.k8s.io`, `/version`): discovery and
/// non-resource URLs are many, and each would otherwise be its own count.
fn path_bucket(uri: &str) -> String {
    let path = uri.split('?').next().unwrap_or(uri);
    let kept: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).take(2).collect();
    format!("/{}", kept.join("/"))
}

/// A notable action's particulars, which the templates word (`templates/deeds.jinja`: "exec
/// into payments/api-7f9c", "refused (403): get secrets db in billing").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Act {
    pub kind: Notable,
    pub verb: String,
    pub resource: Option<String>,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// For a request about no resource: the path it is counted under (`/version`).
    pub path: Option<String>,
    /// The user the grant's subject impersonated.
    pub impersonating: Option<String>,
}

/// What a notable action did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Deed {
    Done(Act),
    /// Kept before actions had particulars: the words said then.
    Said(String),
}

/// One notable action, as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotableAction {
    pub at: DateTime<Utc>,
    pub kind: Notable,
    /// What it did (kept as `what` before actions had particulars).
    #[serde(alias = "what")]
    pub deed: Deed,
    pub code: Option<u16>,
    /// The action it is counted under in `Tally::by_action` (`create pods/exec`).
    pub counted_as: String,
    pub audit_id: String,
}

/// Requests counted over some span.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub requests: u64,
    /// Every request, by action (`get pods`).
    pub by_action: BTreeMap<String, u64>,
    /// The notable ones, oldest first, up to `MAX_NOTABLE`.
    pub notable: Vec<NotableAction>,
    /// Notable actions counted but no longer kept one by one.
    pub notable_dropped: u64,
}

/// Notable actions kept per grant (and per reply); more are counted only.
pub const MAX_NOTABLE: usize = 500;
/// Kinds of request counted apart; the rest are counted together under `OTHER_ACTIONS`.
pub const MAX_ACTIONS: usize = 200;
/// The key the kinds past `MAX_ACTIONS` are counted under (stored: kept as it was).
const OTHER_ACTIONS: &str = "other requests";
/// Long-running requests remembered as begun, so their completion is not counted again.
const MAX_OPEN_STREAMS: usize = 256;

impl Tally {
    fn add(&mut self, request: &KubeRequest, notable: Option<&NotableAction>) {
        self.requests += 1;
        let mut action = request.action();
        if self.by_action.len() >= MAX_ACTIONS && !self.by_action.contains_key(&action) {
            action = OTHER_ACTIONS.into();
        }
        *self.by_action.entry(action).or_default() += 1;
        if let Some(action) = notable {
            if self.notable.len() < MAX_NOTABLE {
                self.notable.push(action.clone());
            } else {
                self.notable_dropped += 1;
            }
        }
    }

    /// Takes away what `posted` held: activity that arrived after it was read stays.
    fn subtract(&mut self, posted: &Tally) {
        self.requests = self.requests.saturating_sub(posted.requests);
        for (action, count) in &posted.by_action {
            if let Some(left) = self.by_action.get_mut(action) {
                *left = left.saturating_sub(*count);
                if *left == 0 {
                    self.by_action.remove(action);
                }
            }
        }
        let kept = posted.notable.len().min(self.notable.len());
        self.notable.drain(..kept);
        self.notable_dropped = self.notable_dropped.saturating_sub(posted.notable_dropped);
    }

    pub fn is_empty(&self) -> bool {
        self.requests == 0
    }

    /// What a post says: notable actions grouped by what they did (first seen first), then
    /// the other requests by count, most first; `limit` items at most.
    pub fn lines(&self, limit: usize) -> ActivityLines {
        let mut notable: Vec<(&Deed, u64)> = Vec::new();
        let mut notable_by_action: BTreeMap<&str, u64> = BTreeMap::new();
        for action in &self.notable {
            match notable.iter_mut().find(|(deed, _)| **deed == action.deed) {
                Some((_, count)) => *count += 1,
                None => notable.push((&action.deed, 1)),
            }
            *notable_by_action.entry(&action.counted_as).or_default() += 1;
        }
        let mut routine: Vec<(&str, u64)> = self
            .by_action
            .iter()
            .filter_map(|(action, count)| {
                let left =
                    count.saturating_sub(*notable_by_action.get(action.as_str()).unwrap_or(&0));
                (left > 0).then_some((action.as_str(), left))
            })
            .collect();
        routine.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let mut items: Vec<ActivityItem> = notable
            .into_iter()
            .map(|(deed, count)| ActivityItem {
                count,
                deed: Some(deed.clone()),
                action: None,
            })
            .chain(routine.into_iter().map(|(action, count)| ActivityItem {
                count,
                deed: None,
                action: (action != OTHER_ACTIONS).then(|| action.to_string()),
            }))
            .collect();
        let shown: u64 = items.iter().take(limit).map(|i| i.count).sum();
        items.truncate(limit);
        ActivityLines {
            requests: self.requests,
            items,
            more: self.requests.saturating_sub(shown),
        }
    }
}

/// A post's content: `items` as "2 exec into payments/api-7f9c", and `more` requests not listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityLines {
    pub requests: u64,
    pub items: Vec<ActivityItem>,
    pub more: u64,
}

/// Requests counted together: notable ones that did the same `deed`, or other ones by their
/// `action` (`get pods`); neither for the kinds past `MAX_ACTIONS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityItem {
    pub count: u64,
    pub deed: Option<Deed>,
    pub action: Option<String>,
}

/// A grant's recorded activity: the whole grant, and what is not posted yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionActivity {
    pub grant: String,
    pub total: Tally,
    /// Since the last thread reply.
    pub unposted: Tally,
    pub first_at: Option<DateTime<Utc>>,
    pub last_at: Option<DateTime<Utc>>,
    /// When the last thread reply about it was posted.
    pub last_reply_at: Option<DateTime<Utc>>,
    /// The final summary has been posted: nothing more is said of it.
    pub summarised: bool,
    /// Long-running requests counted when they began and not yet seen to complete.
    #[serde(default, deserialize_with = "streams::stored")]
    open_streams: Vec<OpenStream>,
    /// What the subject created or changed that can carry access beyond the grant, highest
    /// risk first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leftovers: Vec<Leftover>,
    /// What the end did not end, as the summary reported it, and what approvers did about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_report: Option<EndReport>,
}

/// At most one thread reply a minute per grant.
pub const REPLY_INTERVAL: chrono::Duration = chrono::Duration::minutes(1);

impl SessionActivity {
    pub fn new(grant: &str) -> SessionActivity {
        SessionActivity {
            grant: grant.to_string(),
            total: Tally::default(),
            unposted: Tally::default(),
            first_at: None,
            last_at: None,
            last_reply_at: None,
            summarised: false,
            open_streams: Vec::new(),
            leftovers: Vec::new(),
            end_report: None,
        }
    }

    /// Counts `request` once whatever stages the apiserver sends of it: a long-running one when
    /// its response starts (so an open exec shows while it is open), any other when it
    /// completes. The notable action it is, if it is one and was counted now.
    pub fn record(&mut self, request: &KubeRequest) -> Option<NotableAction> {
        match request.stage {
            Stage::RequestReceived => return None,
            Stage::ResponseStarted => {
                if self.open_streams.iter().any(|s| s.is_for(request)) {
                    return None;
                }
                if self.open_streams.len() >= MAX_OPEN_STREAMS {
                    // Watches go first: opening many must not hide an exec still open.
                    let oldest = self.open_streams.iter().position(|s| !s.into_pod());
                    self.open_streams.remove(oldest.unwrap_or(0));
                }
                self.open_streams.push(OpenStream::of(request));
            }
            Stage::ResponseComplete | Stage::Panic => {
                if let Some(i) = self.open_streams.iter().position(|s| s.is_for(request)) {
                    self.open_streams.remove(i);
                    return None;
                }
            }
        }
        let notable = request.notable().map(|kind| NotableAction {
            at: request.at,
            kind,
            deed: request.deed(kind),
            code: request.code,
            counted_as: request.action(),
            audit_id: request.audit_id.clone(),
        });
        if let Some(leftover) = Leftover::of(request) {
            leftovers::keep(&mut self.leftovers, leftover);
        }
        self.total.add(request, notable.as_ref());
        self.unposted.add(request, notable.as_ref());
        self.first_at = Some(self.first_at.map_or(request.at, |t| t.min(request.at)));
        self.last_at = Some(self.last_at.map_or(request.at, |t| t.max(request.at)));
        notable
    }

    /// Long-running requests begun and not yet seen to complete.
    pub fn open_stream_count(&self) -> usize {
        self.open_streams.len()
    }

    /// Execs, attaches and port-forwards into pods begun and not yet seen to complete: after
    /// the access ended, these are still open (deleting the binding does not cut them).
    pub fn open_into_pods(&self) -> Vec<&OpenStream> {
        self.open_streams.iter().filter(|s| s.into_pod()).collect()
    }

    /// When the unposted activity may be posted: at once if no reply went out in the last
    /// minute; `None` when there is nothing to post.
    pub fn reply_due(&self) -> Option<DateTime<Utc>> {
        if self.unposted.is_empty() || self.summarised {
            return None;
        }
        Some(match self.last_reply_at {
            Some(at) => at + REPLY_INTERVAL,
            None => DateTime::<Utc>::MIN_UTC,
        })
    }

    /// Records that a reply holding `posted` went out at `at`.
    pub fn replied(&mut self, posted: &Tally, at: DateTime<Utc>) {
        self.unposted.subtract(posted);
        self.last_reply_at = Some(at);
    }

    /// Records that the final summary went out, reporting `report`: what was unposted is in
    /// it. A report recorded before (by another run) stands.
    pub fn summary_posted(&mut self, at: DateTime<Utc>, report: EndReport) {
        self.unposted = Tally::default();
        self.last_reply_at = Some(at);
        if !self.summarised {
            self.end_report = Some(report);
        }
        self.summarised = true;
    }
}

/// The audit-log entry of a notable action, about the grant `base` describes; `detail` says
/// it (see `Templates::notable_record`).
pub fn notable_event(base: &AuditEvent, action: &NotableAction, detail: String) -> AuditEvent {
    AuditEvent {
        at: action.at,
        kind: AuditKind::SessionActivity,
        actor: None,
        grant_version: None,
        detail: Some(detail),
        ..base.clone()
    }
}

/// The audit-log entry, made with the summary, of what the grant's end did not end: `kind`
/// `Leftovers` or `StreamsStillOpen`, `detail` listing them.
pub fn end_report_event(
    base: &AuditEvent,
    kind: AuditKind,
    detail: String,
    at: DateTime<Utc>,
) -> AuditEvent {
    AuditEvent {
        kind,
        ..summary_event(base, detail, at)
    }
}

/// The audit-log entry of a grant's final activity summary; `detail` says it (see
/// `Templates::summary_record`).
pub fn summary_event(base: &AuditEvent, detail: String, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        at,
        kind: AuditKind::SessionSummary,
        actor: None,
        grant_version: None,
        detail: Some(detail),
        ..base.clone()
    }
}

#[cfg(test)]
pub(crate) mod tests;
