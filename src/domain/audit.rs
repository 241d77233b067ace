//! The tamper-evident audit log: what each lifecycle event records, how entries are chained
//! (`hash = sha256(prev_hash ‖ canonical JSON of the entry without its hashes)`), and how a chain
//! is verified. Verification works on the JSON as stored, never on a re-serialised struct, so
//! fields added in later versions never break the hashes of older entries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::audit_detail::Particulars;
use super::failure::Failure;
use super::grant::{Event, Grant, Scope, Step};
use super::incident::incident_reference;
use super::on_call::OnCallCheck;
use super::revocation::Verification;

pub use super::audit_chain::*;

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
    /// A notable Kubernetes request made with the grant (exec, reading a secret, a delete, a
    /// 403…), as the apiserver's audit webhook reported it.
    SessionActivity,
    /// Everything the grant's subject did in the cluster, when the grant ended.
    SessionSummary,
    /// The requester left (deactivated, turned guest, removed from the team): their access
    /// ended or their request was withdrawn; `detail` says which.
    RequesterGone,
    /// The kubeconfig file of a token-issuing grant could not be made.
    KubeconfigFailed,
    /// The expired grant's bindings were already gone when the bot, late, came to remove them:
    /// what the sweeper removed while the bot was away.
    FoundRemoved,
    /// Once the bindings were gone, the cluster said the subject can no longer do what the role
    /// allowed: access really ended.
    RevocationVerified,
    /// Once the bindings were gone, the subject could still do some of what the role allowed,
    /// through other bindings (`detail` names what, and through which).
    AccessNotEnded,
    /// Whether access ended could not be checked with the cluster.
    RevocationUnverified,
    /// What the grant's subject created or changed that can carry access beyond the grant
    /// (`detail` lists it by risk), recorded with the session summary.
    Leftovers,
    /// Streams into pods (exec, attach, port-forward) still open after the access ended
    /// (`detail` names them), recorded with the session summary.
    StreamsStillOpen,
    /// An approver looked at a leftover and marked it reviewed (`detail` names it).
    LeftoverReviewed,
    /// An approver had the bot delete a leftover (`detail` names it).
    LeftoverDeleted,
    /// An approver had the bot delete the pod a stream was still open into (`detail` names it).
    PodRestarted,
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
            AuditKind::SessionActivity => "session_activity",
            AuditKind::SessionSummary => "session_summary",
            AuditKind::RequesterGone => "requester_gone",
            AuditKind::KubeconfigFailed => "kubeconfig_failed",
            AuditKind::FoundRemoved => "found_removed",
            AuditKind::RevocationVerified => "revocation_verified",
            AuditKind::AccessNotEnded => "access_not_ended",
            AuditKind::RevocationUnverified => "revocation_unverified",
            AuditKind::Leftovers => "leftovers",
            AuditKind::StreamsStillOpen => "streams_still_open",
            AuditKind::LeftoverReviewed => "leftover_reviewed",
            AuditKind::LeftoverDeleted => "leftover_deleted",
            AuditKind::PodRestarted => "pod_restarted",
        }
    }

    /// Whether an entry of this kind always has a `detail`; the others have one when the grant
    /// holds what it would say (an extension, a failure, why the requester left).
    fn always_detailed(self) -> bool {
        matches!(
            self,
            AuditKind::KubernetesFailing
                | AuditKind::KubernetesRecovered
                | AuditKind::DriftRepaired
                | AuditKind::BreakGlass
                | AuditKind::ApprovedByPolicy
                | AuditKind::OnCallUnavailable
                | AuditKind::SessionActivity
                | AuditKind::SessionSummary
                | AuditKind::FoundRemoved
                | AuditKind::RevocationVerified
                | AuditKind::AccessNotEnded
                | AuditKind::RevocationUnverified
                | AuditKind::Leftovers
                | AuditKind::StreamsStillOpen
                | AuditKind::LeftoverReviewed
                | AuditKind::LeftoverDeleted
                | AuditKind::PodRestarted
        )
    }

    /// The kind of entry a cleanup is recorded as.
    pub fn of_cleanup(how: crate::domain::activity::Cleanup) -> AuditKind {
        use crate::domain::activity::Cleanup;
        match how {
            Cleanup::Reviewed => AuditKind::LeftoverReviewed,
            Cleanup::Deleted => AuditKind::LeftoverDeleted,
            Cleanup::Restarted => AuditKind::PodRestarted,
        }
    }

    /// The kind of entry a revocation's verdict is recorded as, so the log, the digest and the
    /// metrics tell an ended access from one that was not, without reading `detail`.
    fn of_verdict(verification: &Verification) -> AuditKind {
        match verification {
            Verification::NoLongerAllowed { .. } => AuditKind::RevocationVerified,
            Verification::StillAllowed { .. } => AuditKind::AccessNotEnded,
            Verification::Unverified { .. } => AuditKind::RevocationUnverified,
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
            Step::RequesterGone => AuditKind::RequesterGone,
            Step::RevocationVerified => AuditKind::RevocationVerified,
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
    /// The Kubernetes user the grant binds, as its approvers were shown it, and its groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// What else there is to say: a failure's reason, an extension's length, a repair; worded
    /// from `particulars` by the application before the entry is stored.
    pub detail: Option<String>,
    /// What `detail` is to say, until the application words it (and drops these): it travels
    /// with the grant's journal, never into the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub particulars: Option<Particulars>,
}

impl AuditEvent {
    /// An event about `grant` as it is after the transition.
    pub fn about(grant: &Grant, kind: AuditKind, actor: Option<&str>, now: DateTime<Utc>) -> Self {
        let extension = grant.extension.as_ref();
        let (approvers, particulars) = match kind {
            AuditKind::ExtensionRequested
            | AuditKind::ExtensionApproval
            | AuditKind::Extended
            | AuditKind::ExtensionDenied => (
                extension
                    .map(|x| x.approvals.iter().map(|a| a.by.clone()).collect())
                    .unwrap_or_default(),
                extension.map(|x| Particulars::Extension { by_secs: x.by_secs }),
            ),
            AuditKind::Failed => (approvers_of(grant), failure(grant.failure.as_ref())),
            AuditKind::KubeconfigFailed => (
                approvers_of(grant),
                failure(grant.kubeconfig_failure.as_ref()),
            ),
            AuditKind::RequesterGone => (
                approvers_of(grant),
                grant
                    .ended_because
                    .map(|why| Particulars::Departure { why }),
            ),
            AuditKind::BreakGlass => (approvers_of(grant), Some(Particulars::BreakGlass)),
            AuditKind::FoundRemoved => (
                approvers_of(grant),
                Some(Particulars::FoundRemoved {
                    late_by_secs: grant.expiry_handled_late_by().unwrap_or_default(),
                }),
            ),
            AuditKind::RevocationVerified
            | AuditKind::AccessNotEnded
            | AuditKind::RevocationUnverified => (
                approvers_of(grant),
                grant
                    .revocation
                    .clone()
                    .map(|verification| Particulars::Revocation { verification }),
            ),
            AuditKind::ApprovedByPolicy | AuditKind::OnCallUnavailable => (
                approvers_of(grant),
                Some(Particulars::OnCall {
                    check: grant.on_call.clone(),
                }),
            ),
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
            subject: grant.subject.clone(),
            groups: grant.groups.clone(),
            expires_at: grant.expires_at,
            detail: None,
            particulars,
        }
    }

    /// Whether the entry still waits for its `detail` to be worded (and must not be stored):
    /// it has particulars to word, or is of a kind that always says something.
    pub fn unworded(&self) -> bool {
        self.detail.is_none() && (self.particulars.is_some() || self.kind.always_detailed())
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
            subject: None,
            groups: Vec::new(),
            expires_at: None,
            detail: Some(detail),
            particulars: None,
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
            } if grant.state == super::grant::GrantState::Approved => {
                Some(AuditKind::ApprovedByPolicy)
            }
            Event::OnCallChecked {
                check: OnCallCheck::Unavailable { .. },
            } => Some(AuditKind::OnCallUnavailable),
            Event::KubeconfigFailed { .. } => Some(AuditKind::KubeconfigFailed),
            Event::FoundRemoved => Some(AuditKind::FoundRemoved),
            _ => None,
        };
        if let Event::RevocationVerified { verification } = event {
            let verdict = AuditKind::of_verdict(verification);
            for kind in kinds
                .iter_mut()
                .filter(|k| **k == AuditKind::RevocationVerified)
            {
                *kind = verdict;
            }
        }
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

fn failure(failure: Option<&Failure>) -> Option<Particulars> {
    failure.map(|failure| Particulars::Failure {
        failure: failure.clone(),
    })
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
            | Event::RequesterGone { .. }
            | Event::KubeconfigFailed { .. }
            | Event::FoundRemoved
            | Event::RevocationVerified { .. }
            | Event::Tick => None,
        }
    }
}

#[cfg(test)]
mod tests;
