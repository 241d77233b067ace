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
    /// Claimed, and the cluster not yet told (or not yet known to have done it): recorded
    /// before the bot deletes anything, so a crash in between leaves a claim the next click on
    /// the item takes over, never a deletion nobody recorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

/// One step of a cleanup, each its own write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanupStep {
    /// Claims the item (or takes over a claim left pending by a run that stopped): `handled` is
    /// pending when the cluster is still to act, and final for Mark reviewed.
    Claim(Handled),
    /// The cluster did it: the claim becomes final.
    Finish(Cleanup),
    /// The cluster would not: the item is open again.
    Release(Cleanup),
}

/// Whether an item with this record of what was done still waits for an approver: nothing
/// done, or only claimed (the cluster not yet known to have done it).
pub fn still_open(handled: &Option<Handled>) -> bool {
    handled.as_ref().is_none_or(|h| h.pending)
}

/// A leftover as reported at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedLeftover {
    #[serde(flatten)]
    pub leftover: Leftover,
    /// Whether it still existed when the end was reported; `None` when that could not be asked
    /// (no name, or the bot may not read it).
    pub exists: Option<bool>,
    /// Whether approvers are offered to have the bot delete it: the subject created it, the
    /// policy lets them for the role, and the bot was allowed to when the end was reported.
    pub deletable: bool,
    /// The uid it had when the end was reported: a delete removes that object or nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    pub handled: Option<Handled>,
}

/// A stream into a pod still open at the end, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedStream {
    #[serde(flatten)]
    pub stream: OpenStream,
    /// Whether approvers are offered to have the bot restart its pod: the policy lets them for
    /// the role, a controller owns the pod (so it is made again), and the bot was allowed to
    /// delete pods there when the end was reported.
    pub restartable: bool,
    /// The pod's uid when the end was reported: a restart deletes that pod or nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
    pub handled: Option<Handled>,
}

/// What the grant's end did not end, fixed when the summary was posted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndReport {
    pub streams: Vec<ReportedStream>,
    pub leftovers: Vec<ReportedLeftover>,
}

/// An item of the report, found by its key: `s<n>` for the n-th stream, `l<n>` for the n-th
/// leftover (the report never changes order). Keys are the bot's own: an audit ID is the
/// client's to choose, and two items could share one.
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
                    pod_uid: None,
                    handled: None,
                })
                .collect(),
            leftovers: (record.leftovers.iter())
                .map(|leftover| ReportedLeftover {
                    leftover: leftover.clone(),
                    exists: None,
                    deletable: false,
                    uid: None,
                    handled: None,
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty() && self.leftovers.is_empty()
    }

    /// Items nobody has acted on yet (a claim still pending counts as not acted on).
    pub fn open_items(&self) -> usize {
        let streams = self.streams.iter().filter(|s| still_open(&s.handled));
        let leftovers = self.leftovers.iter().filter(|l| still_open(&l.handled));
        streams.count() + leftovers.count()
    }

    /// The item `how` would act on, if it is there, not acted on yet (or only claimed by a run
    /// that stopped, for the same action), and offered for `how`.
    pub fn target(&self, key: &str, how: Cleanup) -> Result<Item, CleanupRefusal> {
        let (item, handled, offered) = self.find(key, how)?;
        match handled {
            Some(handled) if !(handled.pending && handled.how == how) => {
                Err(CleanupRefusal::AlreadyHandled(handled.clone()))
            }
            _ if !offered => Err(CleanupRefusal::NotOffered),
            _ => Ok(item),
        }
    }

    /// Takes one step of a cleanup of `key`.
    pub fn step(&mut self, key: &str, step: &CleanupStep) -> Result<Item, CleanupRefusal> {
        let how = match step {
            CleanupStep::Claim(handled) => handled.how,
            CleanupStep::Finish(how) | CleanupStep::Release(how) => *how,
        };
        let item = match step {
            CleanupStep::Claim(_) => self.target(key, how)?,
            CleanupStep::Finish(_) | CleanupStep::Release(_) => {
                let (item, handled, _) = self.find(key, how)?;
                match handled {
                    Some(h) if h.pending && h.how == how => item,
                    Some(h) => return Err(CleanupRefusal::AlreadyHandled(h.clone())),
                    None => return Err(CleanupRefusal::NoSuchItem),
                }
            }
        };
        let Some(slot) = self.slot(key) else {
            return Err(CleanupRefusal::NoSuchItem);
        };
        match step {
            CleanupStep::Claim(handled) => *slot = Some(handled.clone()),
            CleanupStep::Finish(_) => {
                if let Some(h) = slot.as_mut() {
                    h.pending = false;
                }
            }
            CleanupStep::Release(_) => *slot = None,
        }
        Ok(item)
    }

    /// The item `key` names, for `how` (a stream is restarted; a leftover reviewed or
    /// deleted), with what was done about it and whether `how` is offered for it.
    fn find(
        &self,
        key: &str,
        how: Cleanup,
    ) -> Result<(Item, Option<&Handled>, bool), CleanupRefusal> {
        let found = match (parse_key(key), how) {
            (Some(('s', i)), Cleanup::Restarted) => self
                .streams
                .get(i)
                .map(|s| (Item::Stream(s.clone()), s.handled.as_ref(), s.restartable)),
            (Some(('l', i)), Cleanup::Reviewed | Cleanup::Deleted) => {
                self.leftovers.get(i).map(|l| {
                    let offered = how == Cleanup::Reviewed || l.deletable;
                    (Item::Leftover(l.clone()), l.handled.as_ref(), offered)
                })
            }
            _ => None,
        };
        found.ok_or(CleanupRefusal::NoSuchItem)
    }

    fn slot(&mut self, key: &str) -> Option<&mut Option<Handled>> {
        match parse_key(key)? {
            ('s', i) => self.streams.get_mut(i).map(|s| &mut s.handled),
            ('l', i) => self.leftovers.get_mut(i).map(|l| &mut l.handled),
            _ => None,
        }
    }
}

/// `s3` → ('s', 3).
fn parse_key(key: &str) -> Option<(char, usize)> {
    let mut chars = key.chars();
    let list = chars.next()?;
    Some((list, chars.as_str().parse().ok()?))
}

impl SessionActivity {
    /// Takes a step of a cleanup in the end report; refused when there is no report yet.
    pub fn clean_up(&mut self, key: &str, step: &CleanupStep) -> Result<Item, CleanupRefusal> {
        match self.end_report.as_mut() {
            Some(report) => report.step(key, step),
            None => Err(CleanupRefusal::NoSuchItem),
        }
    }
}

#[cfg(test)]
mod tests;
