//! What a grant's transitions announce: the step the audit channel and the approval thread tell,
//! and the note the requester is sent. The templates word each by its key (`as_str`).

use serde::{Deserialize, Serialize};

/// A lifecycle step as the audit channel and the thread tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Requested,
    ApprovalRecorded,
    Activated,
    Denied,
    Expired,
    Failed,
    Cancelled,
    TimedOut,
    Revoked,
    ExtensionRequested,
    ExtensionApprovalRecorded,
    Extended,
    ExtensionDenied,
    /// The requester approved their own request of a break-glass role.
    BreakGlass,
    /// An approver reviewed a break-glass use.
    Reviewed,
    /// The requester left (deactivated, turned guest, removed): access ended, request withdrawn.
    RequesterGone,
    /// The cluster was asked, once the bindings were gone, whether the subject can still do
    /// what the role allowed (`Grant::revocation` holds the verdict).
    RevocationVerified,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Requested => "requested",
            Step::ApprovalRecorded => "approval_recorded",
            Step::Activated => "activated",
            Step::Denied => "denied",
            Step::Expired => "expired",
            Step::Failed => "failed",
            Step::Cancelled => "cancelled",
            Step::TimedOut => "timed_out",
            Step::Revoked => "revoked",
            Step::ExtensionRequested => "extension_requested",
            Step::ExtensionApprovalRecorded => "extension_approval_recorded",
            Step::Extended => "extended",
            Step::ExtensionDenied => "extension_denied",
            Step::BreakGlass => "break_glass",
            Step::Reviewed => "reviewed",
            Step::RequesterGone => "requester_gone",
            Step::RevocationVerified => "revocation_verified",
        }
    }
}

/// What the requester is told by direct message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Note {
    Approved,
    Denied,
    TimedOut,
    Expired,
    Revoked,
    Failed,
    /// Expiry is near; carries Extend and Drop now buttons.
    Reminder,
    Extended,
    ExtensionDenied,
    /// Goes with the kubeconfig file.
    Kubeconfig,
    /// The requester's account became a guest account: their access ended.
    RequesterGone,
    /// The kubeconfig file could not be made.
    KubeconfigFailed,
}

impl Note {
    pub fn as_str(self) -> &'static str {
        match self {
            Note::Approved => "approved",
            Note::Denied => "denied",
            Note::TimedOut => "timed_out",
            Note::Expired => "expired",
            Note::Revoked => "revoked",
            Note::Failed => "failed",
            Note::Reminder => "reminder",
            Note::Extended => "extended",
            Note::ExtensionDenied => "extension_denied",
            Note::Kubeconfig => "kubeconfig",
            Note::RequesterGone => "requester_gone",
            Note::KubeconfigFailed => "kubeconfig_failed",
        }
    }
}
