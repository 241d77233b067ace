//! The tamper-evident audit log: what each lifecycle event records, how entries are chained
//! (`hash = sha256(prev_hash ‖ canonical JSON of the entry without its hashes)`), and how a chain
//! is verified. Verification works on the JSON as stored, never on a re-serialised struct, so
//! fields added in later versions never break the hashes of older entries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::grant::{Event, Grant, Scope, Step};
use super::incident::incident_reference;
use super::on_call::OnCallCheck;

/// The `prev_hash` of the first entry: 32 zero bytes.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    Requested,
    Approval,
    Denied,
    Granted,
    ExtensionRequested,
    ExtensionApproval,
    Extended,
    ExtensionDenied,
    Revoked,
    Expired,
    Cancelled,
    TimedOut,
    Failed,
    /// A Kubernetes step (removing access, above all) keeps failing and is being retried.
    KubernetesFailing,
    /// It worked after such an alert.
    KubernetesRecovered,
    /// The reconciler found the cluster different from the grants and repaired it.
    DriftRepaired,
    /// The requester approved their own request of a break-glass role.
    BreakGlass,
    /// An approver reviewed a break-glass use after the incident.
    BreakGlassReviewed,
    /// The requester was on call, and the role approves whoever is: no person approved it.
    ApprovedByPolicy,
    /// The on-call lookup failed; the request waits for approvers.
    OnCallUnavailable,
}

impl AuditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Requested => "requested",
            AuditKind::Approval => "approval",
            AuditKind::Denied => "denied",
            AuditKind::Granted => "granted",
            AuditKind::ExtensionRequested => "extension_requested",
            AuditKind::ExtensionApproval => "extension_approval",
            AuditKind::Extended => "extended",
            AuditKind::ExtensionDenied => "extension_denied",
            AuditKind::Revoked => "revoked",
            AuditKind::Expired => "expired",
            AuditKind::Cancelled => "cancelled",
            AuditKind::TimedOut => "timed_out",
            AuditKind::Failed => "failed",
            AuditKind::KubernetesFailing => "kubernetes_failing",
            AuditKind::KubernetesRecovered => "kubernetes_recovered",
            AuditKind::DriftRepaired => "drift_repaired",
            AuditKind::BreakGlass => "break_glass",
            AuditKind::BreakGlassReviewed => "break_glass_reviewed",
            AuditKind::ApprovedByPolicy => "approved_by_policy",
            AuditKind::OnCallUnavailable => "on_call_unavailable",
        }
    }

    fn of_step(step: Step) -> AuditKind {
        match step {
            Step::Requested => AuditKind::Requested,
            Step::ApprovalRecorded => AuditKind::Approval,
            Step::Activated => AuditKind::Granted,
            Step::Denied => AuditKind::Denied,
            Step::Expired => AuditKind::Expired,
            Step::Failed => AuditKind::Failed,
            Step::Cancelled => AuditKind::Cancelled,
            Step::TimedOut => AuditKind::TimedOut,
            Step::Revoked => AuditKind::Revoked,
            Step::ExtensionRequested => AuditKind::ExtensionRequested,
            Step::ExtensionApprovalRecorded => AuditKind::ExtensionApproval,
            Step::Extended => AuditKind::Extended,
            Step::ExtensionDenied => AuditKind::ExtensionDenied,
            Step::BreakGlass => AuditKind::BreakGlass,
            Step::Reviewed => AuditKind::BreakGlassReviewed,
        }
    }
}

/// Who did it: a chat user, with the email on their profile when it could be looked up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user: String,
    pub email: Option<String>,
}

/// One event as the domain decides it; the store gives it its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    pub kind: AuditKind,
    /// `None` when prod-access acted on its own (expiry, timeout, a failure, a repair).
    pub actor: Option<Actor>,
    pub grant: Option<String>,
    /// The version of the grant this event made; the store appends an event once, with the
    /// first write of that version.
    pub grant_version: Option<u64>,
    pub requester: Option<String>,
    pub role: Option<String>,
    pub cluster_role: Option<String>,
    pub scope: Option<Scope>,
    pub cluster: Option<String>,
    pub reason: Option<String>,
    /// The channel the request was typed in.
    pub channel: Option<String>,
    /// A ticket or incident reference found in the reason, e.g. `INC-123`.
    pub incident: Option<String>,
    /// Who has approved so far.
    pub approvers: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// What else there is to say: a failure's reason, an extension's length, a repair.
    pub detail: Option<String>,
}

impl AuditEvent {
    /// An event about `grant` as it is after the transition.
    pub fn about(grant: &Grant, kind: AuditKind, actor: Option<&str>, now: DateTime<Utc>) -> Self {
        let extension = grant.extension.as_ref();
        let (approvers, detail) = match kind {
            AuditKind::ExtensionRequested
            | AuditKind::ExtensionApproval
            | AuditKind::Extended
            | AuditKind::ExtensionDenied => (
                extension
                    .map(|x| x.approvals.iter().map(|a| a.by.clone()).collect())
                    .unwrap_or_default(),
                extension.map(|x| format!("extension by {}s", x.by_secs)),
            ),
            AuditKind::Failed => (approvers_of(grant), grant.failure.clone()),
            AuditKind::BreakGlass => (
                approvers_of(grant),
                Some("approved by the requester under the break-glass rule; needs a post-incident review".into()),
            ),
            AuditKind::ApprovedByPolicy | AuditKind::OnCallUnavailable => {
                let detail = match &grant.on_call {
                    Some(OnCallCheck::OnCall { via }) => {
                        format!("approved by policy: the requester is on call in {via}")
                    }
                    Some(OnCallCheck::Unavailable { why }) => {
                        format!("the on-call lookup failed ({why}); the request waits for approvers")
                    }
                    _ => String::new(),
                };
                (approvers_of(grant), Some(detail))
            }
            _ => (approvers_of(grant), None),
        };
        AuditEvent {
            at: now,
            kind,
            actor: actor.map(|user| Actor {
                user: user.to_string(),
                email: None,
            }),
            grant: Some(grant.id.clone()),
            grant_version: Some(grant.version),
            requester: Some(grant.requester.clone()),
            role: Some(grant.role.clone()),
            cluster_role: Some(grant.cluster_role.clone()),
            scope: Some(grant.scope.clone()),
            cluster: Some(grant.cluster.clone()),
            reason: Some(grant.reason.clone()),
            channel: Some(grant.requested_in.clone()),
            incident: grant
                .incident
                .as_ref()
                .and_then(|i| i.reference.clone())
                .or_else(|| incident_reference(&grant.reason)),
            approvers,
            expires_at: grant.expires_at,
            detail,
        }
    }

    /// An event about no grant (a binding the reconciler found without one).
    pub fn standalone(kind: AuditKind, detail: String, now: DateTime<Utc>) -> Self {
        AuditEvent {
            at: now,
            kind,
            actor: None,
            grant: None,
            grant_version: None,
            requester: None,
            role: None,
            cluster_role: None,
            scope: None,
            cluster: None,
            reason: None,
            channel: None,
            incident: None,
            approvers: Vec::new(),
            expires_at: None,
            detail: Some(detail),
        }
    }

    /// The events a transition caused by `event` records, from the steps it tells the audit
    /// channel about; an approval that completes a request (and so tells nothing yet) is still
    /// recorded as the approver's act.
    pub fn of_transition(
        grant: &Grant,
        event: &Event,
        steps: &[Step],
        now: DateTime<Utc>,
    ) -> Vec<AuditEvent> {
        let mut kinds: Vec<AuditKind> = steps.iter().map(|s| AuditKind::of_step(*s)).collect();
        let implied = match event {
            Event::Approve { .. } => Some(AuditKind::Approval),
            Event::ApproveExtension { .. } => Some(AuditKind::ExtensionApproval),
            Event::OnCallChecked {
                check: OnCallCheck::OnCall { .. },
            } => Some(AuditKind::ApprovedByPolicy),
            Event::OnCallChecked {
                check: OnCallCheck::Unavailable { .. },
            } => Some(AuditKind::OnCallUnavailable),
            _ => None,
        };
        if let Some(kind) = implied
            && !kinds.contains(&kind)
        {
            kinds.insert(0, kind);
        }
        let actor = event.actor();
        kinds
            .into_iter()
            .map(|kind| AuditEvent::about(grant, kind, actor, now))
            .collect()
    }
}

fn approvers_of(grant: &Grant) -> Vec<String> {
    grant.approvals.iter().map(|a| a.by.clone()).collect()
}

impl Event {
    /// The person whose act this is; `None` for what prod-access observes or decides itself.
    pub fn actor(&self) -> Option<&str> {
        match self {
            Event::Approve { approver }
            | Event::Deny { approver }
            | Event::ApproveExtension { approver }
            | Event::DenyExtension { approver } => Some(approver),
            Event::Cancel { by }
            | Event::Revoke { by }
            | Event::RequestExtension { by, .. }
            | Event::Review { by } => Some(by),
            Event::ApprovalMessagePosted { .. }
            | Event::ExtensionMessagePosted { .. }
            | Event::ReviewMessagePosted { .. }
            | Event::OnCallChecked { .. }
            | Event::Bound { .. }
            | Event::BindFailed { .. }
            | Event::Tick => None,
        }
    }
}

/// An event in its place in the chain, as it is stored and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    #[serde(flatten)]
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
}

/// The last entry of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

impl ChainHead {
    pub fn genesis() -> ChainHead {
        ChainHead {
            seq: 0,
            hash: GENESIS_HASH.to_string(),
        }
    }
}

/// The entry that follows `head`.
pub fn chain(head: &ChainHead, event: AuditEvent) -> AuditEntry {
    let seq = head.seq + 1;
    let mut unhashed = serde_json::to_value(&event).unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut unhashed {
        fields.insert("seq".into(), Value::from(seq));
    }
    AuditEntry {
        seq,
        event,
        prev_hash: head.hash.clone(),
        hash: entry_hash(&head.hash, &unhashed),
    }
}

/// `sha256(prev_hash ‖ canonical JSON)`, hex; `prev_hash` as its 32 raw bytes.
fn entry_hash(prev_hash: &str, unhashed: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(hex::decode(prev_hash).unwrap_or_default());
    hasher.update(canonical_json(unhashed).as_bytes());
    hex::encode(hasher.finalize())
}

/// Object keys sorted by their UTF-8 bytes, no whitespace, strings escaped as serde_json does:
/// the same value always gives the same text, whatever order the fields were written in.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&fields[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// An entry as read back from the store: its key and its stored JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntry {
    pub key: u64,
    pub json: Value,
}

/// The first place a chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The entry at `seq` cannot be read as an audit entry.
    Unreadable { seq: u64, why: String },
    /// The entry's content no longer gives its hash: it was edited.
    Edited { seq: u64 },
    /// An entry says it is `found` where `expected` belongs (stored under another key, or out
    /// of order).
    OutOfPlace { expected: u64, found: u64 },
    /// The entries from `seq` on (up to `until`) are missing.
    Missing { seq: u64, until: u64 },
    /// The entry does not follow the one before it: entries were removed, replaced or reordered.
    Unlinked { seq: u64 },
    /// The entries from `seq` on lie past where the store recorded the chain's end.
    BeyondHead { seq: u64 },
    /// The store holds entries (up to `last`) but no record of where the chain ends.
    HeadMissing { last: u64 },
}

impl ChainBreak {
    /// The sequence number of the first entry that does not hold.
    pub fn seq(&self) -> u64 {
        match self {
            ChainBreak::Unreadable { seq, .. }
            | ChainBreak::Edited { seq }
            | ChainBreak::Missing { seq, .. }
            | ChainBreak::Unlinked { seq }
            | ChainBreak::BeyondHead { seq } => *seq,
            ChainBreak::HeadMissing { last } => *last,
            ChainBreak::OutOfPlace { expected, .. } => *expected,
        }
    }
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainBreak::Unreadable { seq, why } => {
                write!(f, "entry {seq} cannot be read as an audit entry: {why}")
            }
            ChainBreak::Edited { seq } => write!(
                f,
                "entry {seq} was changed after it was written (its content no longer gives its hash)"
            ),
            ChainBreak::OutOfPlace { expected, found } => write!(
                f,
                "entry {expected} is missing or out of order: found entry {found} in its place"
            ),
            ChainBreak::Missing { seq, until } if seq == until => {
                write!(f, "entry {seq} is missing")
            }
            ChainBreak::Missing { seq, until } => {
                write!(f, "entries {seq} to {until} are missing")
            }
            ChainBreak::Unlinked { seq } => write!(
                f,
                "entry {seq} does not follow the entry before it (entries were removed, replaced or reordered)"
            ),
            ChainBreak::HeadMissing { last } => write!(
                f,
                "the record of the chain's end is gone (entries up to {last} remain): entries after {last} may have been removed"
            ),
            ChainBreak::BeyondHead { seq } => write!(
                f,
                "entry {seq} and any after it lie past the recorded end of the chain (added afterwards)"
            ),
        }
    }
}

/// What a verified chain holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    pub head: ChainHead,
}

/// Walks the chain from its first entry: every entry in its place, with its own hash, linked to
/// the one before, and the last one where the store's head says the chain ends.
pub fn verify(
    entries: impl IntoIterator<Item = StoredEntry>,
    recorded_head: Option<&ChainHead>,
) -> Result<Verified, ChainBreak> {
    let mut verifier = ChainVerifier::default();
    for entry in entries {
        verifier.push(&entry)?;
    }
    verifier.finish(recorded_head)
}

/// `verify` one entry at a time, for logs read in pages.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    head: Option<ChainHead>,
}

impl ChainVerifier {
    /// Checks the next entry of the chain.
    pub fn push(&mut self, stored: &StoredEntry) -> Result<(), ChainBreak> {
        let head = self.head.get_or_insert_with(ChainHead::genesis);
        let expected = head.seq + 1;
        let Some(seq) = stored.json.get("seq").and_then(Value::as_u64) else {
            return Err(ChainBreak::Unreadable {
                seq: stored.key,
                why: "it has no `seq`".into(),
            });
        };
        if stored.key != expected || seq != expected {
            if stored.key > expected && seq == stored.key {
                return Err(ChainBreak::Missing {
                    seq: expected,
                    until: stored.key - 1,
                });
            }
            return Err(ChainBreak::OutOfPlace {
                expected,
                found: seq,
            });
        }
        let text = |name: &str| stored.json.get(name).and_then(Value::as_str);
        let (Some(prev_hash), Some(hash)) = (text("prev_hash"), text("hash")) else {
            return Err(ChainBreak::Unreadable {
                seq,
                why: "it has no `prev_hash` or `hash`".into(),
            });
        };
        let mut unhashed = stored.json.clone();
        if let Value::Object(fields) = &mut unhashed {
            fields.remove("prev_hash");
            fields.remove("hash");
        }
        if entry_hash(prev_hash, &unhashed) != hash {
            return Err(ChainBreak::Edited { seq });
        }
        if prev_hash != head.hash {
            return Err(ChainBreak::Unlinked { seq });
        }
        *head = ChainHead {
            seq,
            hash: hash.to_string(),
        };
        Ok(())
    }

    /// The last entry checked so far (0 before any).
    pub fn last_seq(&self) -> u64 {
        self.head.as_ref().map_or(0, |h| h.seq)
    }

    /// The chain so far, checked against where the store recorded its end.
    pub fn finish(self, recorded_head: Option<&ChainHead>) -> Result<Verified, ChainBreak> {
        let head = self.head.unwrap_or_else(ChainHead::genesis);
        if let Some(recorded) = recorded_head {
            if recorded.seq > head.seq {
                return Err(ChainBreak::Missing {
                    seq: head.seq + 1,
                    until: recorded.seq,
                });
            }
            if recorded.seq < head.seq {
                return Err(ChainBreak::BeyondHead {
                    seq: recorded.seq + 1,
                });
            }
            if recorded.hash != head.hash {
                return Err(ChainBreak::Unlinked { seq: head.seq });
            }
        }
        Ok(Verified {
            entries: head.seq,
            head,
        })
    }
}

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;
