//! People who left: a chat account that was deactivated, turned into a guest or removed from the
//! team ends the access it holds and withdraws the requests it made. Whoever notices it (an
//! event from the platform, or the periodic check) sends the same event with the reason.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::grant::{Effect, Grant, GrantState, Note, Rejection, Step};
use super::identity::Standing;
use super::policy::Policy;

/// Why the requester is no longer someone who may hold access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Departure {
    /// Slack: the account was deactivated (`deleted: true`).
    Deactivated,
    /// Slack: the account became a guest (`is_restricted` or `is_ultra_restricted`).
    BecameGuest,
    /// Teams: removed from the team the bot serves.
    RemovedFromTeam,
    /// The platform no longer knows the account at all.
    Unknown,
    /// The account is now of another organisation (a Slack Connect user, a Teams guest).
    Outsider,
}

impl Departure {
    pub fn as_str(self) -> &'static str {
        match self {
            Departure::Deactivated => "deactivated",
            Departure::BecameGuest => "became_guest",
            Departure::RemovedFromTeam => "removed_from_team",
            Departure::Unknown => "unknown",
            Departure::Outsider => "outsider",
        }
    }

    /// Whether a Slack user with these flags (as `users.info` and `user_change` report them)
    /// has left; `None` for a full member.
    pub fn of_slack_user(deleted: bool, restricted: bool, ultra_restricted: bool) -> Option<Self> {
        if deleted {
            Some(Departure::Deactivated)
        } else if restricted || ultra_restricted {
            Some(Departure::BecameGuest)
        } else {
            None
        }
    }

    /// The departure an identity rule that now refuses the requester stands for (see
    /// `IdentityRefusal::kind`); `None` for rules about the address, which do not mean the
    /// person left.
    pub fn of_identity_rule(rule: &str) -> Option<Self> {
        match rule {
            "identity_deactivated" => Some(Departure::Deactivated),
            "identity_guest" => Some(Departure::BecameGuest),
            "identity_outsider" => Some(Departure::Outsider),
            _ => None,
        }
    }

    /// Whether an account of this standing (as the periodic lookup finds it) has left; a bot
    /// never held access of its own, and is refused at request time.
    pub fn of_standing(standing: Standing) -> Option<Self> {
        match standing {
            Standing::Deactivated => Some(Departure::Deactivated),
            Standing::Guest => Some(Departure::BecameGuest),
            Standing::Outsider => Some(Departure::Outsider),
            Standing::Member | Standing::Bot => None,
        }
    }

    /// Whether this ends access to `role`: a guest keeps a role the policy allows guests
    /// (`allow_guests`).
    pub fn ends_access_to(self, role: &str, policy: &Policy) -> bool {
        self != Departure::BecameGuest || !policy.roles.get(role).is_some_and(|r| r.allow_guests)
    }

    /// Only a guest can still read a direct message; a deactivated or removed account cannot.
    fn can_be_told(self) -> bool {
        self == Departure::BecameGuest
    }
}

impl Grant {
    /// The requester left: an open request is withdrawn, live access is revoked (its binding
    /// removed first), each recorded with `why`.
    pub(super) fn requester_gone(
        &mut self,
        why: Departure,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<Vec<Effect>, Rejection> {
        if !why.ends_access_to(&self.role, policy) {
            return Err(Rejection::NotDue);
        }
        let mut effects = match self.state {
            GrantState::Requested => {
                self.state = GrantState::Cancelled;
                vec![]
            }
            GrantState::Approved | GrantState::Active => {
                self.state = GrantState::Revoked;
                vec![Effect::Unbind]
            }
            state => return Err(Rejection::WrongState { state }),
        };
        self.ended_because = Some(why);
        self.ended_at = Some(now);
        self.remind_at = None;
        let note = why.can_be_told().then_some(Note::RequesterGone);
        let removed = effects.contains(&Effect::Unbind);
        effects.extend(self.ending(Step::RequesterGone, note));
        if removed {
            effects.push(Effect::VerifyRevocation);
        }
        Ok(effects)
    }
}

#[cfg(test)]
mod tests;
