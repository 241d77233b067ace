//! The daily digest: what happened to access in the period (from the audit log), who holds
//! access now (from the grants), and whether the audit chain still holds, with its head, so the
//! channel keeps a record that a later rewrite of the log would contradict.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::activity::{EndReport, still_open};
use super::audit::{AuditEntry, AuditKind, ChainBreak, Verified};
use super::grant::{Grant, GrantState, Scope};

/// One grant requested in the period, with how far it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestedGrant {
    pub id: String,
    pub requester: String,
    pub role: String,
    pub scope: Scope,
    pub cluster: String,
    pub reason: String,
    pub incident: Option<String>,
    /// The last thing the period's log says of it, e.g. `granted` or `expired`.
    pub outcome: &'static str,
}

/// A grant that is active now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveGrant {
    pub id: String,
    pub requester: String,
    pub role: String,
    pub scope: Scope,
    pub cluster: String,
    pub approvers: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A break-glass use still waiting for its post-incident review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreviewedUse {
    pub id: String,
    pub requester: String,
    pub role: String,
    pub scope: Scope,
    pub cluster: String,
    pub incident: Option<String>,
    pub used_at: DateTime<Utc>,
    /// The review request, to click Reviewed on.
    pub review_link: Option<String>,
}

impl UnreviewedUse {
    fn of(grant: &Grant) -> Option<UnreviewedUse> {
        let use_ = grant.break_glass.as_ref().filter(|b| b.needs_review())?;
        Some(UnreviewedUse {
            id: grant.id.clone(),
            requester: grant.requester.clone(),
            role: grant.role.clone(),
            scope: grant.scope.clone(),
            cluster: grant.cluster.clone(),
            incident: grant.incident.as_ref().and_then(|i| i.reference.clone()),
            used_at: use_.at,
            review_link: use_
                .review_message
                .as_ref()
                .and_then(|m| m.permalink.clone()),
        })
    }
}

/// A grant whose access, once its bindings were gone, was not proven ended: the subject could
/// still do some of what the role allowed, the cluster could not be asked, or the subject left
/// behind objects that can carry access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnprovenEnd {
    pub id: String,
    pub requester: String,
    pub role: String,
    pub scope: Scope,
    pub cluster: String,
    /// `access_not_ended`, `revocation_unverified`, `leftovers` or `streams_still_open`.
    pub kind: &'static str,
    /// What the audit entry says: what is still allowed and through which bindings, or why it
    /// could not be checked.
    pub detail: String,
}

impl UnprovenEnd {
    fn of(entry: &AuditEntry) -> Option<UnprovenEnd> {
        let event = &entry.event;
        matches!(
            event.kind,
            AuditKind::AccessNotEnded
                | AuditKind::RevocationUnverified
                | AuditKind::Leftovers
                | AuditKind::StreamsStillOpen
        )
        .then_some(())?;
        Some(UnprovenEnd {
            id: event.grant.clone()?,
            requester: event.requester.clone()?,
            role: event.role.clone()?,
            scope: event.scope.clone()?,
            cluster: event.cluster.clone().unwrap_or_default(),
            kind: event.kind.as_str(),
            detail: event.detail.clone().unwrap_or_default(),
        })
    }
}

impl UnprovenEnd {
    /// Whether approvers have handled every item of this kind in the grant's end report since
    /// (marked reviewed, deleted, restarted): then the digest no longer lists it.
    pub fn settled_by(&self, report: &EndReport) -> bool {
        match self.kind {
            "leftovers" => !report.leftovers.iter().any(|l| still_open(&l.handled)),
            "streams_still_open" => !report.streams.iter().any(|s| still_open(&s.handled)),
            _ => false,
        }
    }
}

/// The chain as the digest reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ChainState {
    Intact {
        entries: u64,
        seq: u64,
        hash: String,
    },
    Broken {
        seq: u64,
        problem: String,
    },
    /// The log could not be read to the end.
    Unknown {
        problem: String,
    },
}

impl ChainState {
    pub fn of(result: Result<Result<Verified, ChainBreak>, String>) -> ChainState {
        match result {
            Ok(Ok(verified)) => ChainState::Intact {
                entries: verified.entries,
                seq: verified.head.seq,
                hash: verified.head.hash,
            },
            Ok(Err(broken)) => ChainState::Broken {
                seq: broken.seq(),
                problem: broken.to_string(),
            },
            Err(problem) => ChainState::Unknown { problem },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Digest {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// How many events of each kind the period had, by kind name.
    pub counts: BTreeMap<&'static str, usize>,
    pub requested: Vec<RequestedGrant>,
    pub active: Vec<ActiveGrant>,
    /// Break-glass uses not reviewed yet, oldest first.
    pub unreviewed: Vec<UnreviewedUse>,
    /// Access that, in the period, was not proven ended once its bindings were gone.
    pub unproven: Vec<UnprovenEnd>,
    pub chain: ChainState,
}

impl Digest {
    /// `entries` are the log's entries from `since` on; `open` the grants not yet finished;
    /// `unreviewed` the break-glass uses waiting for review.
    pub fn of(
        entries: &[AuditEntry],
        open: &[Grant],
        unreviewed: &[Grant],
        chain: ChainState,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Digest {
        let in_period: Vec<&AuditEntry> = entries
            .iter()
            .filter(|e| e.event.at >= since && e.event.at < until)
            .collect();
        let mut counts = BTreeMap::new();
        for entry in &in_period {
            *counts.entry(entry.event.kind.as_str()).or_insert(0) += 1;
        }
        let mut requested: Vec<RequestedGrant> = in_period
            .iter()
            .filter(|e| e.event.kind == AuditKind::Requested)
            .filter_map(|e| {
                let event = &e.event;
                Some(RequestedGrant {
                    id: event.grant.clone()?,
                    requester: event.requester.clone()?,
                    role: event.role.clone()?,
                    scope: event.scope.clone()?,
                    cluster: event.cluster.clone().unwrap_or_default(),
                    reason: event.reason.clone().unwrap_or_default(),
                    incident: event.incident.clone(),
                    outcome: AuditKind::Requested.as_str(),
                })
            })
            .collect();
        for grant in &mut requested {
            if let Some(last) = in_period
                .iter()
                .rev()
                .find(|e| e.event.grant.as_deref() == Some(grant.id.as_str()) && is_outcome(e))
            {
                grant.outcome = last.event.kind.as_str();
            }
        }
        let mut active: Vec<ActiveGrant> = open
            .iter()
            .filter(|g| g.state == GrantState::Active)
            .map(|g| ActiveGrant {
                id: g.id.clone(),
                requester: g.requester.clone(),
                role: g.role.clone(),
                scope: g.scope.clone(),
                cluster: g.cluster.clone(),
                approvers: g.approvals.iter().map(|a| a.by.clone()).collect(),
                expires_at: g.expires_at,
            })
            .collect();
        active.sort_by_key(|g| g.expires_at);
        let mut unreviewed: Vec<UnreviewedUse> =
            unreviewed.iter().filter_map(UnreviewedUse::of).collect();
        unreviewed.sort_by_key(|u| u.used_at);
        let unproven = in_period
            .iter()
            .filter_map(|e| UnprovenEnd::of(e))
            .collect();
        Digest {
            since,
            until,
            counts,
            requested,
            active,
            unreviewed,
            unproven,
            chain,
        }
    }
}

/// Whether an entry moves a grant on (rather than reporting on it).
fn is_outcome(entry: &AuditEntry) -> bool {
    !matches!(
        entry.event.kind,
        AuditKind::KubernetesFailing
            | AuditKind::KubernetesRecovered
            | AuditKind::DriftRepaired
            | AuditKind::FoundRemoved
            | AuditKind::RevocationVerified
            | AuditKind::AccessNotEnded
            | AuditKind::RevocationUnverified
            | AuditKind::Leftovers
            | AuditKind::StreamsStillOpen
            | AuditKind::LeftoverReviewed
            | AuditKind::LeftoverDeleted
            | AuditKind::PodRestarted
            | AuditKind::SessionActivity
            | AuditKind::SessionSummary
    )
}

#[cfg(test)]
mod tests;
