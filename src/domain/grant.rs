//! The grant state machine: `(Grant, Event, now) -> (Grant, effects) | Rejection`.
//!
//! Effects are appended to the grant's outbox, which is persisted with the new state before any
//! of them is carried out; a crash between the two is repaired by running the outbox again, so
//! every effect must be idempotent.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};

use super::policy::{GrantTerms, Policy};

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub by: String,
    pub at: DateTime<Utc>,
}

/// Where the approval message lives, so later steps edit it in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub channel: String,
    pub ts: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    /// Bumped on every persisted change; the store compares it before swapping.
    pub version: u64,
    pub state: GrantState,
    pub requester: String,
    /// The channel the command was typed in, for ephemeral replies.
    pub requested_in: String,
    pub role: String,
    pub cluster_role: String,
    pub namespace: String,
    pub duration_secs: u64,
    pub reason: String,
    pub required_approvals: u32,
    pub requested_at: DateTime<Utc>,
    #[serde(default)]
    pub approvals: Vec<Decision>,
    pub denial: Option<Decision>,
    /// The Kubernetes subject bound, once known.
    pub subject: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub failure: Option<String>,
    pub approval_message: Option<MessageRef>,
    /// Effects decided but not yet carried out, oldest first.
    #[serde(default)]
    pub outbox: Vec<Effect>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    ApprovalMessagePosted { message: MessageRef },
    Approve { approver: String },
    Deny { approver: String },
    Bound { subject: String },
    BindFailed { reason: String },
    Expire,
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
    /// Delete the binding; a binding that is already gone counts as done.
    Unbind,
    Audit {
        step: AuditStep,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditStep {
    Requested,
    ApprovalRecorded,
    Activated,
    Denied,
    Expired,
    Failed,
}

impl AuditStep {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditStep::Requested => "requested",
            AuditStep::ApprovalRecorded => "approval_recorded",
            AuditStep::Activated => "activated",
            AuditStep::Denied => "denied",
            AuditStep::Expired => "expired",
            AuditStep::Failed => "failed",
        }
    }
}

/// Why an event was not applied; the grant is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    NotAnApprover,
    SelfApproval,
    AlreadyApprovedBy,
    /// The grant is no longer waiting for this kind of event.
    WrongState {
        state: GrantState,
    },
    NotDue {
        expires_at: DateTime<Utc>,
    },
}

impl Rejection {
    /// A stable key the templates use to explain the refusal.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::NotAnApprover => "not_an_approver",
            Rejection::SelfApproval => "self_approval",
            Rejection::AlreadyApprovedBy => "already_approved",
            Rejection::WrongState { .. } => "wrong_state",
            Rejection::NotDue { .. } => "not_due",
        }
    }
}

pub struct NewRequest<'a> {
    pub id: String,
    pub requester: &'a str,
    pub requested_in: &'a str,
    pub reason: &'a str,
    pub terms: GrantTerms,
}

impl Grant {
    /// A request the policy accepted; the approval message and audit post are its first effects.
    pub fn request(new: NewRequest<'_>, now: DateTime<Utc>) -> Grant {
        Grant {
            id: new.id,
            version: 1,
            state: GrantState::Requested,
            requester: new.requester.to_string(),
            requested_in: new.requested_in.to_string(),
            role: new.terms.role,
            cluster_role: new.terms.cluster_role,
            namespace: new.terms.namespace,
            duration_secs: new.terms.duration.as_secs(),
            reason: new.reason.to_string(),
            required_approvals: new.terms.required_approvals,
            requested_at: now,
            approvals: Vec::new(),
            denial: None,
            subject: None,
            expires_at: None,
            ended_at: None,
            failure: None,
            approval_message: None,
            outbox: vec![
                Effect::PostApprovalMessage,
                Effect::Audit {
                    step: AuditStep::Requested,
                },
            ],
        }
    }

    /// Applies `event`; the returned grant carries the new effects at the end of its outbox.
    pub fn apply(
        &self,
        event: &Event,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<Grant, Rejection> {
        let mut next = self.clone();
        next.version += 1;
        let effects = match (self.state, event) {
            (_, Event::ApprovalMessagePosted { message }) => {
                next.approval_message = Some(message.clone());
                // A decision taken before the message existed must still show on it.
                if self.state == GrantState::Requested && self.approvals.is_empty() {
                    vec![]
                } else {
                    vec![Effect::UpdateApprovalMessage]
                }
            }
            (GrantState::Requested, Event::Approve { approver }) => {
                self.check_approver(approver, policy)?;
                next.approvals.push(Decision {
                    by: approver.clone(),
                    at: now,
                });
                if next.approvals.len() as u64 >= u64::from(self.required_approvals) {
                    next.state = GrantState::Approved;
                    next.expires_at = Some(now + self.duration());
                    vec![Effect::Bind]
                } else {
                    vec![
                        Effect::UpdateApprovalMessage,
                        Effect::Audit {
                            step: AuditStep::ApprovalRecorded,
                        },
                    ]
                }
            }
            (GrantState::Requested, Event::Deny { approver }) => {
                self.check_approver(approver, policy)?;
                next.state = GrantState::Denied;
                next.denial = Some(Decision {
                    by: approver.clone(),
                    at: now,
                });
                next.ended_at = Some(now);
                vec![
                    Effect::UpdateApprovalMessage,
                    Effect::Audit {
                        step: AuditStep::Denied,
                    },
                ]
            }
            (GrantState::Approved, Event::Bound { subject }) => {
                next.state = GrantState::Active;
                next.subject = Some(subject.clone());
                vec![
                    Effect::UpdateApprovalMessage,
                    Effect::Audit {
                        step: AuditStep::Activated,
                    },
                ]
            }
            (GrantState::Approved, Event::BindFailed { reason }) => {
                next.state = GrantState::Failed;
                next.failure = Some(reason.clone());
                next.ended_at = Some(now);
                // Report first: the clean-up may have to wait for the cluster, the people must not.
                // A partial create must still not outlive the failure.
                vec![
                    Effect::UpdateApprovalMessage,
                    Effect::Audit {
                        step: AuditStep::Failed,
                    },
                    Effect::Unbind,
                ]
            }
            (GrantState::Active, Event::Expire) => {
                let expires_at = self.expires_at.unwrap_or(now);
                if now < expires_at {
                    return Err(Rejection::NotDue { expires_at });
                }
                next.state = GrantState::Expired;
                next.ended_at = Some(now);
                vec![
                    Effect::Unbind,
                    Effect::UpdateApprovalMessage,
                    Effect::Audit {
                        step: AuditStep::Expired,
                    },
                ]
            }
            (state, _) => return Err(Rejection::WrongState { state }),
        };
        next.outbox.extend(effects);
        Ok(next)
    }

    fn check_approver(&self, approver: &str, policy: &Policy) -> Result<(), Rejection> {
        if approver == self.requester {
            return Err(Rejection::SelfApproval);
        }
        if !policy.may_approve(&self.role, approver) {
            return Err(Rejection::NotAnApprover);
        }
        if self.approvals.iter().any(|a| a.by == approver) {
            return Err(Rejection::AlreadyApprovedBy);
        }
        Ok(())
    }

    pub fn duration(&self) -> ChronoDuration {
        ChronoDuration::seconds(i64::try_from(self.duration_secs).unwrap_or(i64::MAX / 1000))
    }

    /// The deterministic name of this grant's binding objects.
    pub fn binding_name(&self) -> String {
        format!("prod-access-{}", self.id)
    }

    /// Marks the oldest outbox effect as carried out.
    pub fn complete_first_effect(&self) -> Grant {
        let mut next = self.clone();
        next.version += 1;
        if !next.outbox.is_empty() {
            next.outbox.remove(0);
        }
        next
    }
}

#[cfg(test)]
#[path = "grant_tests.rs"]
mod tests;
