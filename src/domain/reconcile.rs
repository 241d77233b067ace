//! The reconciler's decision: compare what the cluster holds with what the grants say, and name
//! every repair. The cluster's labels and annotations are enough to remove expired access even
//! when the store has lost the grant.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::grant::{Effect, Event, Grant, GrantState};

/// How long past its expiry a live grant's binding may stand before the reconciler removes it
/// itself: the scheduler normally does it within a second.
pub const EXPIRY_GRACE: chrono::Duration = chrono::Duration::seconds(30);

/// A binding labelled `app.kubernetes.io/managed-by=prod-access`, as listed from the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedBinding {
    /// `None` for a ClusterRoleBinding.
    pub namespace: Option<String>,
    pub name: String,
    /// The `prod-access/grant` label.
    pub grant_id: Option<String>,
    /// The `prod-access/expires-at` annotation, if it parses.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why a binding must go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drift {
    /// Its `expires-at` annotation has passed.
    Expired,
    /// No grant in the store has its id (or it has none).
    UnknownGrant,
    /// Its grant has ended.
    GrantEnded(GrantState),
    /// Its grant is active, but the binding is not the one the grant created.
    NotTheGrantsBinding,
}

impl Drift {
    pub fn as_str(self) -> &'static str {
        match self {
            Drift::Expired => "expired",
            Drift::UnknownGrant => "unknown_grant",
            Drift::GrantEnded(_) => "grant_ended",
            Drift::NotTheGrantsBinding => "not_the_grants_binding",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    Delete {
        binding: ObservedBinding,
        drift: Drift,
    },
    /// An active grant's binding is missing: create it again.
    Rebind { grant_id: String },
}

/// The bindings whose `prod-access/expires-at` annotation has passed at `now`: what the sweeper
/// deletes, knowing nothing but the cluster. A binding without a readable expiry is left alone
/// (the reconciler, which knows the grants, deals with it).
pub fn overdue(observed: &[ObservedBinding], now: DateTime<Utc>) -> Vec<&ObservedBinding> {
    observed
        .iter()
        .filter(|b| b.expires_at.is_some_and(|at| at <= now))
        .collect()
}

/// The repairs that bring the cluster in line with the grants. `grants` must hold the stored grant
/// of every id the observed bindings name (when the store has it) and every active grant.
pub fn reconcile(
    observed: &[ObservedBinding],
    grants: &HashMap<String, Grant>,
    now: DateTime<Utc>,
) -> Vec<Repair> {
    let mut repairs = Vec::new();
    let mut present = HashSet::new();
    for binding in observed {
        let grant = binding.grant_id.as_ref().and_then(|id| grants.get(id));
        let expired_by =
            |grace: chrono::Duration| binding.expires_at.is_some_and(|at| now >= at + grace);
        let drift = match grant {
            None if expired_by(chrono::Duration::zero()) => Some(Drift::Expired),
            None => Some(Drift::UnknownGrant),
            // An ended grant still removing its own binding is left to finish, unless overdue.
            Some(g)
                if g.state.is_final()
                    && g.outbox.contains(&Effect::Unbind)
                    && g.ended_at.is_some_and(|at| now < at + EXPIRY_GRACE) =>
            {
                None
            }
            Some(g) if g.state.is_final() => Some(Drift::GrantEnded(g.state)),
            // A live grant's own expiry removes its binding; step in only if that is overdue.
            Some(_) if expired_by(EXPIRY_GRACE) => Some(Drift::Expired),
            Some(g)
                if g.state == GrantState::Active
                    && !g
                        .bindings()
                        .contains(&(binding.namespace.clone(), binding.name.clone())) =>
            {
                Some(Drift::NotTheGrantsBinding)
            }
            // Requested or Approved: the binding may be mid-creation; Active: it is the grant's.
            Some(_) => None,
        };
        match drift {
            Some(drift) => repairs.push(Repair::Delete {
                binding: binding.clone(),
                drift,
            }),
            None => {
                present.insert((binding.namespace.clone(), binding.name.clone()));
            }
        }
    }
    let mut missing: Vec<&Grant> = grants
        .values()
        .filter(|g| g.state == GrantState::Active)
        .filter(|g| g.expires_at.is_some_and(|at| now < at))
        .filter(|g| g.bindings().iter().any(|b| !present.contains(b)))
        .collect();
    missing.sort_by(|a, b| a.id.cmp(&b.id));
    repairs.extend(missing.into_iter().map(|g| Repair::Rebind {
        grant_id: g.id.clone(),
    }));
    repairs
}

/// What the bot records when removing an ended grant's access found none of its bindings: the
/// sweeper's work, when the bot came to the expiry late (it was down, or no replica led, when it
/// fell due), which is when the sweeper steps in. After an expiry handled on time, bindings found
/// gone are the bot's own earlier attempt cut short by a crash, and nothing is recorded.
pub fn found_removed(grant: &Grant, already_gone: bool) -> Option<Event> {
    let late = grant.expiry_handled_late_by()?;
    (already_gone && late >= EXPIRY_GRACE.num_seconds().unsigned_abs())
        .then_some(Event::FoundRemoved)
}

#[cfg(test)]
mod tests;
