//! A grant of access and everything that can happen to it: the data of the state machine whose
//! transitions live in `lifecycle`.
//!
//! Effects are appended to the grant's outbox, which is persisted with the new state before any
//! of them is carried out; a crash between the two is repaired by running the outbox again, so
//! every effect must be idempotent.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};

use super::audit::AuditEvent;
pub use super::failure::Failure;
pub use super::notices::{Note, Step};
use super::retry::{Alert, Retry};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    Requested,
    Approved,
    Active,
    Expired,
    Revoked,
    Denied,
    Cancelled,
    TimedOut,
    Failed,
}

impl GrantState {
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            GrantState::Requested | GrantState::Approved | GrantState::Active
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GrantState::Requested => "requested",
            GrantState::Approved => "approved",
            GrantState::Active => "active",
            GrantState::Expired => "expired",
            GrantState::Revoked => "revoked",
            GrantState::Denied => "denied",
            GrantState::Cancelled => "cancelled",
            GrantState::TimedOut => "timed_out",
            GrantState::Failed => "failed",
        }
    }
}

/// Where a grant applies: some namespaces (one RoleBinding each) or the whole cluster (one
/// ClusterRoleBinding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scope {
    Namespaces { names: Vec<String> },
    Cluster,
}

impl Scope {
    pub fn namespace(name: &str) -> Scope {
        Scope::Namespaces {
            names: vec![name.to_string()],
        }
    }

    /// The namespaces of a namespaced grant; none for a cluster-wide one.
    pub fn namespaces(&self) -> &[String] {
        match self {
            Scope::Namespaces { names } => names,
            Scope::Cluster => &[],
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Scope::Cluster)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub by: String,
    pub at: DateTime<Utc>,
}

/// Where a chat message lives, so later steps edit it in place or reply in its thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub channel: String,
    pub ts: String,
    /// A link to the message, for posts that refer to it (when Slack gave one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permalink: Option<String>,
}

/// What the requester's profile says now, when it no longer gives the stored subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SubjectDrift {
    /// It would now be bound as `subject`.
    Changed { subject: String },
    /// It would now be refused, by the identity rule `rule` (a refusal kind).
    Refused { rule: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtensionState {
    Pending,
    Approved,
    Denied,
}

/// A request to add time to an active grant; it needs approval again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub by_secs: u64,
    pub requested_at: DateTime<Utc>,
    pub state: ExtensionState,
    pub required_approvals: u32,
    #[serde(default)]
    pub approvals: Vec<Decision>,
    /// Approvals that stopped counting: their approver lost the right before the extension was
    /// decided.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lapsed_approvals: Vec<Decision>,
    pub denial: Option<Decision>,
    pub message: Option<MessageRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    /// Bumped on every persisted change; the store compares it before swapping.
    pub version: u64,
    pub state: GrantState,
    pub requester: String,
    /// The channel the command was typed in.
    pub requested_in: String,
    pub role: String,
    pub cluster_role: String,
    /// Where the access applies.
    pub scope: Scope,
    /// A ServiceAccount token is issued and sent as a kubeconfig.
    #[serde(default)]
    pub kubeconfig: bool,
    /// The cluster (a name from the configuration's `clusters`) the access is in.
    #[serde(default = "default_cluster")]
    pub cluster: String,
    /// The whole granted time, including approved extensions.
    pub duration_secs: u64,
    pub reason: String,
    pub required_approvals: u32,
    pub requested_at: DateTime<Utc>,
    /// When an unreviewed request times out.
    pub review_deadline: DateTime<Utc>,
    #[serde(default)]
    pub approvals: Vec<Decision>,
    /// Approvals that stopped counting: their approver lost the right (removed from the role or
    /// its user group) before the request was decided.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lapsed_approvals: Vec<Decision>,
    pub denial: Option<Decision>,
    /// Who revoked or cancelled it, when that ended it.
    pub ended_by: Option<Decision>,
    /// Why it ended when its requester left (deactivated, turned guest, removed from the team).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_because: Option<super::departure::Departure>,
    /// The Kubernetes user to bind, resolved once when the request was made and shown to the
    /// approvers; exactly this is bound. `None` only for requests stored by older versions.
    pub subject: Option<String>,
    /// Kubernetes groups bound as well.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Set when the requester's profile, looked up again at an approval, no longer gives
    /// `subject`; the grant still binds `subject`, and approvers are warned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_drift: Option<SubjectDrift>,
    pub expires_at: Option<DateTime<Utc>>,
    /// When the requester is reminded of the coming expiry; `None` once reminded or too short.
    pub remind_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub failure: Option<Failure>,
    /// Why the kubeconfig file could not be made, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig_failure: Option<Failure>,
    pub approval_message: Option<MessageRef>,
    pub extension: Option<Extension>,
    /// The incident channel the request was typed in (and decided in), and its incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<super::incident::IncidentContext>,
    /// For a break-glass role: the longest the requester may approve themself, as the policy
    /// said when it was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass_cap_secs: Option<u64>,
    /// Set when the requester approved it themself under the role's break-glass rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<super::break_glass::BreakGlassUse>,
    /// What the on-call lookup found, for a role that approves whoever is on call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_call: Option<super::on_call::OnCallCheck>,
    /// Effects decided but not yet carried out, oldest first.
    /// What the subject could already do before the binding: not the grant's to end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standing: Option<Vec<super::revocation::StillAllowed>>,
    /// Whether the cluster confirmed that access ended, once the bindings were gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<super::revocation::Verification>,
    #[serde(default)]
    pub outbox: Vec<Effect>,
    /// The Kubernetes effect at the head of the outbox that failed and waits to be tried again.
    #[serde(default)]
    pub retry: Option<Retry>,
    /// The audit events of the transitions made since this grant was read from the store. The
    /// store appends them to the audit log in the same write as the grant and never keeps them
    /// on it, so an event is in the log exactly when its state change is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub journal: Vec<AuditEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    ApprovalMessagePosted {
        message: MessageRef,
    },
    Approve {
        approver: String,
    },
    Deny {
        approver: String,
    },
    /// The binding exists; the access clock started when it was created.
    Bound {
        subject: String,
        #[serde(default)]
        groups: Vec<String>,
        expires_at: DateTime<Utc>,
        /// What the subject could already do before the binding (its standing access), as
        /// the proof of revocation asks it; `None` when the cluster could not be asked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<Vec<super::revocation::StillAllowed>>,
    },
    BindFailed {
        reason: Failure,
    },
    /// The kubeconfig file of a token-issuing grant could not be made; the binding stands.
    KubeconfigFailed {
        reason: Failure,
    },
    /// Time passed: the review timeout, the reminder or the expiry may be due.
    Tick,
    Cancel {
        by: String,
    },
    Revoke {
        by: String,
    },
    RequestExtension {
        by: String,
        secs: u64,
    },
    ExtensionMessagePosted {
        message: MessageRef,
    },
    ApproveExtension {
        approver: String,
    },
    DenyExtension {
        approver: String,
    },
    /// The on-call lookup of a role that approves whoever is on call has an answer.
    OnCallChecked {
        check: super::on_call::OnCallCheck,
    },
    ReviewMessagePosted {
        message: MessageRef,
    },
    /// An approver has reviewed a break-glass use after the incident.
    Review {
        by: String,
    },
    /// The requester's chat account was deactivated, turned guest or removed from the team.
    RequesterGone {
        why: super::departure::Departure,
    },
    /// Removing the access of a grant whose expiry the bot got to late found its bindings
    /// already gone: the sweeper (or a person) removed them while the bot was away.
    FoundRemoved,
    /// What the cluster said, once the bindings were gone, of what the subject can still do.
    RevocationVerified {
        verification: super::revocation::Verification,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// Post the approval message with its buttons; answered by `ApprovalMessagePosted`.
    PostApprovalMessage,
    /// Re-render the approval message from the grant's current state.
    UpdateApprovalMessage,
    /// Create the binding; answered by `Bound` or `BindFailed`.
    Bind,
    /// Write the new expiry onto the existing binding after an extension.
    UpdateBindingExpiry,
    /// Delete the binding; a binding that is already gone counts as done.
    Unbind,
    /// Request a token for the grant's ServiceAccount, valid until the grant expires, and send it
    /// to the requester as a kubeconfig file. The token is never stored.
    IssueKubeconfig,
    Audit {
        step: Step,
    },
    /// Reply under the approval message, so its thread tells the whole story.
    ThreadReply {
        step: Step,
    },
    /// Direct message to the requester.
    Notify {
        note: Note,
    },
    /// Post the extension request with its buttons; answered by `ExtensionMessagePosted`.
    PostExtensionMessage,
    UpdateExtensionMessage,
    /// Tell the audit channel that a Kubernetes effect keeps failing, or has recovered.
    Alert {
        alert: Alert,
    },
    /// Look up whether the requester is on call; answered by `OnCallChecked`.
    CheckOnCall,
    /// Post the post-incident review request of a break-glass use; answered by
    /// `ReviewMessagePosted`.
    PostReviewMessage,
    UpdateReviewMessage,
    /// Ask again for the overdue review, in the review message's thread.
    RemindReview,
    /// Once the bindings are gone, ask the cluster whether the subject can still do what the
    /// role allowed; answered by `RevocationVerified`.
    VerifyRevocation,
}

pub use super::grant_rejection::Rejection;

impl Grant {
    pub fn duration(&self) -> ChronoDuration {
        secs(self.duration_secs)
    }

    /// The subjects its bindings name, once known.
    pub fn identity(&self) -> Option<super::identity::Identity> {
        Some(super::identity::Identity {
            user: self.subject.clone()?,
            groups: self.groups.clone(),
            service_account: None,
        })
    }

    /// The deterministic name of this grant's binding objects.
    pub fn binding_name(&self) -> String {
        format!("prod-access-{}", self.id)
    }

    /// Every binding this grant creates: (namespace, name), the namespace `None` for the
    /// cluster-wide one.
    pub fn bindings(&self) -> Vec<(Option<String>, String)> {
        match &self.scope {
            Scope::Namespaces { names } => names
                .iter()
                .map(|ns| (Some(ns.clone()), self.binding_name()))
                .collect(),
            Scope::Cluster => vec![(None, self.binding_name())],
        }
    }

    /// For an expired grant, how long after its expiry the bot ended it (whole seconds).
    pub fn expiry_handled_late_by(&self) -> Option<u64> {
        if self.state != GrantState::Expired {
            return None;
        }
        let late = self.ended_at? - self.expires_at?;
        u64::try_from(late.num_seconds()).ok()
    }

    /// The next moment time alone changes this grant: a state deadline, when the scheduler sends
    /// `Tick`, or a retry, when it runs the outbox again.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        let retry = self.retry.as_ref().map(|r| r.next_at);
        match (self.state_deadline(), retry) {
            (Some(state), Some(retry)) => Some(state.min(retry)),
            (state, retry) => state.or(retry),
        }
    }

    /// The next moment time alone moves this grant to another state (or reminds its requester).
    pub fn state_deadline(&self) -> Option<DateTime<Utc>> {
        match self.state {
            GrantState::Requested => Some(self.review_deadline),
            GrantState::Active => match (self.remind_at, self.expires_at) {
                (Some(remind), Some(expiry)) => Some(remind.min(expiry)),
                (_, expiry) => expiry,
            },
            // A finished break-glass use is chased until it is reviewed.
            _ => self
                .break_glass
                .as_ref()
                .filter(|b| b.needs_review())
                .and_then(|b| b.remind_at),
        }
    }

    /// Whether this is a break-glass use that no approver has reviewed yet.
    pub fn needs_review(&self) -> bool {
        self.break_glass.as_ref().is_some_and(|b| b.needs_review())
    }

    /// The extension waiting for approval, if any.
    pub fn pending_extension(&self) -> Option<&Extension> {
        self.extension
            .as_ref()
            .filter(|e| e.state == ExtensionState::Pending)
    }

    /// Marks the outbox effect at `index` as carried out (or given up).
    pub fn complete_effect(&self, index: usize) -> Grant {
        let mut next = self.clone();
        next.version += 1;
        if index < next.outbox.len() {
            let done = next.outbox.remove(index);
            if next.retry.as_ref().is_some_and(|r| r.effect == done) {
                next.retry = None;
            }
        }
        next
    }
}

/// The name of the one cluster of a configuration without `clusters`.
pub const DEFAULT_CLUSTER: &str = "default";

fn default_cluster() -> String {
    DEFAULT_CLUSTER.to_string()
}

pub(crate) fn secs(secs: u64) -> ChronoDuration {
    ChronoDuration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000))
}
