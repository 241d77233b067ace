//! What the template tests of both platforms build from: policies naming each platform's
//! people, every lifecycle step and note, and every refusal of a click.

use crate::domain::grant::{Grant, Note, Rejection, Step};
use crate::domain::policy::Policy;

/// A policy of an `edit` role and a `debug` role (a namespace pattern, a ticket), approved by
/// `approvers` (a YAML list of the platform's ids).
pub(super) fn policy(approvers: &str) -> Policy {
    serde_saphyr::from_str(&format!(
        r#"
approvers: {approvers}
roles:
  edit:
    cluster_role: edit
    namespaces: [payments, orders]
    max_duration: 4h
  debug:
    cluster_role: view
    namespaces: ["team-*"]
    max_duration: 2h
    default_duration: 30m
    reason: {{ ticket: "INC-[0-9]+" }}
"#
    ))
    .unwrap()
}

/// A policy whose `edit` role may break glass in the incident `channels` (a YAML list), approved
/// by `approvers`.
pub(super) fn incident_policy(approvers: &str, channels: &str) -> Policy {
    serde_saphyr::from_str(&format!(
        r#"
approvers: {approvers}
incidents: {{ channels: {channels}, name_patterns: ["inc-*"] }}
roles:
  edit:
    cluster_role: edit
    namespaces: [payments]
    max_duration: 4h
    break_glass: {{ max_duration: 1h }}
"#
    ))
    .unwrap()
}

/// Every lifecycle step.
pub(super) const STEPS: [Step; 17] = [
    Step::Requested,
    Step::ApprovalRecorded,
    Step::Activated,
    Step::Denied,
    Step::Expired,
    Step::Failed,
    Step::Cancelled,
    Step::TimedOut,
    Step::Revoked,
    Step::ExtensionRequested,
    Step::ExtensionApprovalRecorded,
    Step::Extended,
    Step::ExtensionDenied,
    Step::BreakGlass,
    Step::Reviewed,
    Step::RequesterGone,
    Step::RevocationVerified,
];

/// Every direct message to a requester.
pub(super) const NOTES: [Note; 12] = [
    Note::Approved,
    Note::Denied,
    Note::TimedOut,
    Note::Expired,
    Note::Revoked,
    Note::Failed,
    Note::Reminder,
    Note::Extended,
    Note::ExtensionDenied,
    Note::Kubeconfig,
    Note::KubeconfigFailed,
    Note::RequesterGone,
];

/// Every refusal of a click on `g`.
pub(super) fn rejections(g: &Grant) -> Vec<Rejection> {
    vec![
        Rejection::NotAnApprover,
        Rejection::SelfApproval,
        Rejection::AlreadyApprovedBy,
        Rejection::NotTheRequester,
        Rejection::NotAllowedToRevoke,
        Rejection::WrongState { state: g.state },
        Rejection::NotDue,
        Rejection::ExtensionPending,
        Rejection::NoExtensionPending,
        Rejection::ExtensionsNotAllowed,
        Rejection::ExtensionTooLong {
            max_secs: 14400,
            left_secs: 60,
        },
        Rejection::BreakGlassTooLong { max_secs: 3600 },
        Rejection::BreakGlassOutsideIncident,
        Rejection::NotABreakGlassRequester,
        Rejection::SelfReview,
        Rejection::NothingToReview,
    ]
}
