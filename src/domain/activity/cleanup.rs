//! What the end of a grant did not end, as reported when it ended, and what approvers did about
//! each item since: a leftover marked reviewed or deleted, the pod a stream was still open into
//! restarted. The report is fixed when the summary is posted (requests the apiserver reports
//! later change the activity, not what was reported), so every button on the summary names an
//! item that stays there.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Leftover, OpenStream, SessionActivity};
use crate::domain::grant::Grant;
use crate::domain::policy::Policy;

/// What an approver can do about an item of the end report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cleanup {
    /// Looked at a leftover and found it is fine (or dealt with it themselves).
    Reviewed,
    /// Had the bot delete a leftover.
    Deleted,
    /// Had the bot delete the pod a stream was still open into, which ends the stream.
    Restarted,
}

impl Cleanup {
    pub fn as_str(self) -> &'static str {
        match self {
            Cleanup::Reviewed => "reviewed",
            Cleanup::Deleted => "deleted",
            Cleanup::Restarted => "restarted",
        }
    }
}

/// Who did what about an item, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handled {
    pub by: String,
    pub at: DateTime<Utc>,
    pub how: Cleanup,
}

/// A leftover as reported at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedLeftover {
    #[serde(flatten)]
    pub leftover: Leftover,
    /// Whether it still existed when the end was reported; `None` when that could not be asked
    /// (no name, or the bot may not read it).
    pub exists: Option<bool>,
    /// Whether approvers are offered to have the bot delete it: the policy lets them for the
    /// role, and the bot was allowed to when the end was reported.
    pub deletable: bool,
    pub handled: Option<Handled>,
}

/// A stream into a pod still open at the end, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedStream {
    #[serde(flatten)]
    pub stream: OpenStream,
    /// Whether approvers are offered to have the bot restart its pod: the policy lets them for
    /// the role, and the bot was allowed to delete pods there when the end was reported.
    pub restartable: bool,
    pub handled: Option<Handled>,
}

/// What the grant's end did not end, fixed when the summary was posted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndReport {
    pub streams: Vec<ReportedStream>,
    pub leftovers: Vec<ReportedLeftover>,
}

/// An item of the report, found by the audit ID of the request that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Stream(ReportedStream),
    Leftover(ReportedLeftover),
}

/// Why a cleanup click changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanupRefusal {
    /// The requester cannot clear what their own access left.
    OwnGrant,
    NotAnApprover,
    /// No summary yet, or nothing of that name in it.
    NoSuchItem,
    AlreadyHandled(Handled),
    /// The button is not offered for this item (policy or the bot's rights).
    NotOffered,
}

impl CleanupRefusal {
    pub fn kind(&self) -> &'static str {
        match self {
            CleanupRefusal::OwnGrant => "cleanup_own_grant",
            CleanupRefusal::NotAnApprover => "cleanup_not_an_approver",
            CleanupRefusal::NoSuchItem => "cleanup_no_such_item",
            CleanupRefusal::AlreadyHandled(_) => "cleanup_already_handled",
            CleanupRefusal::NotOffered => "cleanup_not_offered",
        }
    }
}

/// Whether `by` may act on what `grant`'s end left: its role's approvers may, its requester not
/// (as for a break-glass review); `policy` has the role's groups and emails looked up.
pub fn may_clean_up(grant: &Grant, by: &str, policy: &Policy) -> Result<(), CleanupRefusal> {
    if by == grant.requester {
        return Err(CleanupRefusal::OwnGrant);
    }
    if !policy.may_approve(&grant.role, by) {
        return Err(CleanupRefusal::NotAnApprover);
    }
    Ok(())
}

impl EndReport {
    /// The report of `record` when the cluster cannot be asked: whether each leftover exists
    /// unknown, no cleanup offered.
    pub fn unchecked(record: &SessionActivity) -> EndReport {
        EndReport {
            streams: (record.open_into_pods().into_iter())
                .map(|stream| ReportedStream {
                    stream: stream.clone(),
                    restartable: false,
                    handled: None,
                })
                .collect(),
            leftovers: (record.leftovers.iter())
                .map(|leftover| ReportedLeftover {
                    leftover: leftover.clone(),
                    exists: None,
                    deletable: false,
                    handled: None,
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty() && self.leftovers.is_empty()
    }

    /// Items nobody has acted on yet.
    pub fn open_items(&self) -> usize {
        let streams = self.streams.iter().filter(|s| s.handled.is_none()).count();
        let left = self.leftovers.iter().filter(|l| l.handled.is_none());
        streams + left.count()
    }

    /// The item `how` would act on, if it is there, not acted on yet, and offered for `how`.
    pub fn target(&self, item: &str, how: Cleanup) -> Result<Item, CleanupRefusal> {
        let found = match how {
            Cleanup::Restarted => self
                .streams
                .iter()
                .find(|s| s.stream.audit_id == item)
                .map(|s| (Item::Stream(s.clone()), s.handled.as_ref(), s.restartable)),
            Cleanup::Reviewed | Cleanup::Deleted => self
                .leftovers
                .iter()
                .find(|l| l.leftover.audit_id == item)
                .map(|l| {
                    let offered = how == Cleanup::Reviewed || l.deletable;
                    (Item::Leftover(l.clone()), l.handled.as_ref(), offered)
                }),
        };
        let (found, handled, offered) = found.ok_or(CleanupRefusal::NoSuchItem)?;
        if let Some(handled) = handled {
            return Err(CleanupRefusal::AlreadyHandled(handled.clone()));
        }
        if !offered {
            return Err(CleanupRefusal::NotOffered);
        }
        Ok(found)
    }

    /// Records that `handled` was done to `item`; the same checks as `target`.
    pub fn record(&mut self, item: &str, handled: Handled) -> Result<Item, CleanupRefusal> {
        let found = self.target(item, handled.how)?;
        let slot = match handled.how {
            Cleanup::Restarted => self
                .streams
                .iter_mut()
                .find(|s| s.stream.audit_id == item)
                .map(|s| &mut s.handled),
            Cleanup::Reviewed | Cleanup::Deleted => self
                .leftovers
                .iter_mut()
                .find(|l| l.leftover.audit_id == item)
                .map(|l| &mut l.handled),
        };
        if let Some(slot) = slot {
            *slot = Some(handled);
        }
        Ok(found)
    }
}

impl SessionActivity {
    /// Records a cleanup in the end report; refused when there is no report yet.
    pub fn record_cleanup(&mut self, item: &str, handled: Handled) -> Result<Item, CleanupRefusal> {
        match self.end_report.as_mut() {
            Some(report) => report.record(item, handled),
            None => Err(CleanupRefusal::NoSuchItem),
        }
    }
}

#[cfg(test)]
mod tests;
