//! Why an event was not applied to a grant.

use super::grant::GrantState;

/// Why an event was not applied; the grant is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    NotAnApprover,
    SelfApproval,
    AlreadyApprovedBy,
    /// Only the requester may do this.
    NotTheRequester,
    /// Only the requester or an approver of the role may revoke.
    NotAllowedToRevoke,
    /// The grant is no longer waiting for this kind of event.
    WrongState {
        state: GrantState,
    },
    NotDue,
    ExtensionPending,
    NoExtensionPending,
    /// The role's policy does not allow extensions.
    ExtensionsNotAllowed,
    /// The extension would take the grant past the role's maximum.
    ExtensionTooLong {
        max_secs: u64,
        left_secs: u64,
    },
    /// A self-approved break-glass grant would be longer than the role's break-glass cap.
    BreakGlassTooLong {
        max_secs: u64,
    },
    /// A break-glass self-approval outside an incident channel.
    BreakGlassOutsideIncident,
    /// The requester is not among the role's break-glass requesters.
    NotABreakGlassRequester,
    /// The requester cannot review their own break-glass use.
    SelfReview,
    /// Nothing waits for review: no break-glass use, or already reviewed.
    NothingToReview,
}

impl Rejection {
    /// A stable key the templates use to explain the refusal.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::NotAnApprover => "not_an_approver",
            Rejection::SelfApproval => "self_approval",
            Rejection::AlreadyApprovedBy => "already_approved",
            Rejection::NotTheRequester => "not_the_requester",
            Rejection::NotAllowedToRevoke => "not_allowed_to_revoke",
            Rejection::WrongState { .. } => "wrong_state",
            Rejection::NotDue => "not_due",
            Rejection::ExtensionPending => "extension_pending",
            Rejection::NoExtensionPending => "no_extension_pending",
            Rejection::ExtensionsNotAllowed => "extensions_not_allowed",
            Rejection::ExtensionTooLong { .. } => "extension_too_long",
            Rejection::BreakGlassTooLong { .. } => "break_glass_too_long",
            Rejection::BreakGlassOutsideIncident => "break_glass_outside_incident",
            Rejection::NotABreakGlassRequester => "not_a_break_glass_requester",
            Rejection::SelfReview => "self_review",
            Rejection::NothingToReview => "nothing_to_review",
        }
    }
}
