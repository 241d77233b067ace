//! The grant lifecycle in an incident: break-glass, its review and the incident channel.

use std::time::Duration;

use chrono::Duration as ChronoDuration;

use crate::domain::audit::AuditKind;
use crate::domain::audit_detail::Particulars;
use crate::domain::command::RequestArgs;
use crate::domain::grant::{Effect, Event, Grant, GrantState, MessageRef, Note, Rejection, Step};
use crate::domain::incident::{ChannelBasis, IncidentContext};
use crate::domain::lifecycle::tests::bound;
use crate::domain::on_call::{OnCallCheck, OnCallPlace, OnCallProvider};
use crate::domain::policy::{Policy, RequestRefusal};
use crate::domain::testing::{
    approve, cancel, minutes, pagerduty_schedule, policy_from, revoke, t0,
};

const POLICY: &str = r#"
approvers: [UBOB, UCAROL]
incidents: { channels: [CWAR] }
requests: { review_timeout: 1h, reminder_before: 15m }
roles:
  emergency:
    cluster_role: admin
    namespaces: [payments]
    max_duration: 4h
    approvals: 2
    reason: { required: false }
    break_glass: { max_duration: 1h, requesters: [UALICE] }
  oncall:
    cluster_role: edit
    namespaces: [payments]
    max_duration: 2h
    on_call: { pagerduty: { schedules: [PSCHED] } }
  edit:
    cluster_role: edit
    namespaces: [payments]
    max_duration: 4h
"#;

fn policy() -> Policy {
    policy_from(POLICY)
}

const REASON: &str = "INC-7 payments down";

/// alice asks for `role` in payments for `mins`, in the war room (an incident channel) or not.
fn requested(role: &str, mins: u64, in_incident: bool) -> Grant {
    let asked = Grant::test()
        .policy(policy())
        .id("bg1")
        .role(role)
        .duration(Duration::from_secs(mins * 60))
        .reason(REASON);
    if in_incident {
        asked.in_incident("CWAR", war_room(REASON)).requested()
    } else {
        asked.requested()
    }
}

/// The context of a request with `reason` typed in the listed war room.
fn war_room(reason: &str) -> IncidentContext {
    let info = crate::domain::incident::ChannelInfo::default();
    policy()
        .incidents
        .context("CWAR", &info, reason, t0())
        .unwrap()
}

fn apply(
    grant: &Grant,
    event: Event,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Grant, Rejection> {
    grant.apply(&event, at, &policy())
}

fn review(by: &str) -> Event {
    Event::Review { by: by.into() }
}

fn kinds(grant: &Grant) -> Vec<AuditKind> {
    grant.journal.iter().map(|e| e.kind).collect()
}

fn quiet(mut grant: Grant) -> Grant {
    grant.outbox.clear();
    grant.journal.clear();
    grant
}

/// A break-glass grant alice approved herself at 09:01, bound until 10:01.
fn self_approved_and_active() -> Grant {
    let approved = quiet(
        apply(
            &requested("emergency", 60, true),
            approve("UALICE"),
            t0() + minutes(1),
        )
        .unwrap(),
    );
    let bound = Event::Bound {
        subject: "oidc:alice@example.com".into(),
        groups: vec![],
        expires_at: t0() + minutes(61),
        before: None,
    };
    quiet(apply(&approved, bound, t0() + minutes(1)).unwrap())
}

#[test]
fn a_break_glass_request_records_its_cap_and_needs_a_reason_whatever_the_role_says() {
    let grant = requested("emergency", 30, true);
    assert_eq!(grant.break_glass_cap_secs, Some(3600));
    let args = RequestArgs {
        role: "emergency".into(),
        namespace: "payments".into(),
        duration: Some(Duration::from_secs(600)),
        reason: "  ".into(),
    };
    assert_eq!(
        policy().evaluate(&args, &["default".to_string()]),
        Err(RequestRefusal::ReasonRequired {
            role: "emergency".into()
        })
    );
    assert_eq!(requested("edit", 30, true).break_glass_cap_secs, None);
}

#[test]
fn the_requester_breaks_glass_in_an_incident_channel_and_it_is_announced_at_once() {
    let grant = requested("emergency", 60, true);
    let approved = apply(&grant, approve("UALICE"), t0() + minutes(1)).unwrap();
    assert_eq!(
        approved.state,
        GrantState::Approved,
        "one self-approval is enough, of 2"
    );
    assert_eq!(approved.approvals.len(), 1);
    let used = approved.break_glass.as_ref().unwrap();
    assert_eq!(used.at, t0() + minutes(1));
    assert!(used.needs_review() && used.remind_at.is_none());
    let new_effects = &approved.outbox[grant.outbox.len()..];
    assert_eq!(
        new_effects,
        [
            Effect::Audit {
                step: Step::BreakGlass
            },
            Effect::ThreadReply {
                step: Step::BreakGlass
            },
            Effect::Bind
        ],
        "the audit post goes before the binding"
    );
    assert_eq!(
        kinds(&approved)[1..],
        [AuditKind::Approval, AuditKind::BreakGlass]
    );
    let entry = approved.journal.last().unwrap();
    assert_eq!(entry.actor.as_ref().unwrap().user, "UALICE");
    assert_eq!(entry.incident.as_deref(), Some("INC-7"));
}

#[test]
fn self_approval_is_refused_outside_incidents_past_the_cap_and_for_ordinary_roles() {
    let cases = [
        (
            requested("emergency", 60, false),
            Rejection::BreakGlassOutsideIncident,
        ),
        (
            requested("emergency", 90, true),
            Rejection::BreakGlassTooLong { max_secs: 3600 },
        ),
        (requested("edit", 60, true), Rejection::SelfApproval),
    ];
    for (grant, rejection) in cases {
        assert_eq!(apply(&grant, approve("UALICE"), t0()), Err(rejection));
    }
    // Past the cap, approvers still can.
    let long = requested("emergency", 90, true);
    let one = apply(&long, approve("UBOB"), t0()).unwrap();
    let two = apply(&one, approve("UCAROL"), t0()).unwrap();
    assert_eq!(two.state, GrantState::Approved);
    assert!(two.break_glass.is_none() && !two.needs_review());
}

#[test]
fn self_approval_needs_a_shown_incident_and_a_named_requester() {
    // Stored before the channel's basis was recorded: a channel matched only by its name.
    let mut unproven = requested("emergency", 30, true);
    let context = unproven.incident.as_mut().unwrap();
    context.basis = ChannelBasis::NamePattern;
    context.reference_matches_policy = false;
    assert_eq!(
        apply(&unproven, approve("UALICE"), t0()),
        Err(Rejection::BreakGlassOutsideIncident)
    );
    let mut nobody_named = policy();
    let rule = nobody_named.roles.get_mut("emergency").unwrap();
    rule.break_glass.as_mut().unwrap().requesters.clear();
    let grant = requested("emergency", 30, true);
    assert_eq!(
        grant.apply(&approve("UALICE"), t0(), &nobody_named),
        Err(Rejection::NotABreakGlassRequester),
        "an empty list names nobody"
    );
}

#[test]
fn a_self_approved_grant_is_extended_only_within_the_break_glass_cap() {
    let active = self_approved_and_active();
    let ask = |mins: u64| Event::RequestExtension {
        by: "UALICE".into(),
        secs: mins * 60,
    };
    assert_eq!(
        apply(&active, ask(30), t0() + minutes(30)),
        Err(Rejection::ExtensionTooLong {
            max_secs: 3600,
            left_secs: 0
        })
    );
}

#[test]
fn the_end_of_a_break_glass_use_asks_for_its_review_and_keeps_asking_daily() {
    let active = self_approved_and_active();
    let expired = apply(&active, Event::Tick, t0() + minutes(61)).unwrap();
    assert_eq!(expired.state, GrantState::Expired);
    assert!(expired.outbox.contains(&Effect::PostReviewMessage));
    assert!(expired.outbox.contains(&Effect::Notify {
        note: Note::Expired
    }));
    let first_reminder = t0() + minutes(61) + ChronoDuration::hours(24);
    assert_eq!(
        expired.break_glass.as_ref().unwrap().remind_at,
        Some(first_reminder)
    );
    assert_eq!(
        expired.next_deadline(),
        Some(first_reminder),
        "the scheduler keeps it"
    );
    let posted = Event::ReviewMessagePosted {
        message: MessageRef {
            channel: "CAUDIT".into(),
            ts: "1.2".into(),
            permalink: None,
        },
    };
    let waiting = quiet(apply(&expired, posted, t0() + minutes(62)).unwrap());
    assert_eq!(
        apply(&waiting, Event::Tick, first_reminder - minutes(1)),
        Err(Rejection::NotDue)
    );
    let reminded = apply(&waiting, Event::Tick, first_reminder).unwrap();
    assert_eq!(reminded.outbox, [Effect::RemindReview]);
    let second = reminded.break_glass.as_ref().unwrap().remind_at.unwrap();
    assert_eq!(second, first_reminder + ChronoDuration::hours(24));
}

#[test]
fn an_approver_other_than_the_requester_reviews_it_once() {
    let active = self_approved_and_active();
    let revoked = quiet(apply(&active, revoke("UALICE"), t0() + minutes(20)).unwrap());
    assert!(revoked.needs_review());
    let at = t0() + minutes(90);
    assert_eq!(
        apply(&revoked, review("UALICE"), at),
        Err(Rejection::SelfReview)
    );
    assert_eq!(
        apply(&revoked, review("UMALLORY"), at),
        Err(Rejection::NotAnApprover)
    );
    let reviewed = apply(&revoked, review("UBOB"), at).unwrap();
    assert!(!reviewed.needs_review());
    let use_ = reviewed.break_glass.as_ref().unwrap();
    assert_eq!(use_.review.as_ref().unwrap().by, "UBOB");
    assert_eq!(use_.remind_at, None);
    assert_eq!(reviewed.next_deadline(), None, "no more reminders");
    assert_eq!(
        reviewed.outbox,
        [
            Effect::UpdateReviewMessage,
            Effect::Audit {
                step: Step::Reviewed
            }
        ]
    );
    assert_eq!(kinds(&reviewed), [AuditKind::BreakGlassReviewed]);
    assert_eq!(
        apply(&quiet(reviewed), review("UCAROL"), at),
        Err(Rejection::NothingToReview)
    );
    let cancel = cancel("UALICE");
    let ordinary = quiet(apply(&requested("edit", 60, true), cancel, at).unwrap());
    assert_eq!(
        apply(&ordinary, review("UCAROL"), at),
        Err(Rejection::NothingToReview)
    );
}

#[test]
fn an_on_call_request_is_looked_up_before_it_is_posted() {
    let grant = requested("oncall", 60, false);
    assert_eq!(
        grant.outbox,
        [
            Effect::CheckOnCall,
            Effect::PostApprovalMessage,
            Effect::Audit {
                step: Step::Requested
            }
        ]
    );
    assert_eq!(
        requested("edit", 60, false).outbox[0],
        Effect::PostApprovalMessage
    );
}

#[test]
fn whoever_is_on_call_is_approved_by_policy_and_the_log_says_so() {
    let grant = quiet(requested("oncall", 60, false));
    let check = OnCallCheck::OnCall {
        via: pagerduty_schedule("PSCHED", "Primary"),
    };
    let approved = apply(&grant, Event::OnCallChecked { check }, t0()).unwrap();
    assert_eq!(approved.state, GrantState::Approved);
    assert!(approved.approvals.is_empty(), "no person approved it");
    assert_eq!(approved.outbox, [Effect::Bind]);
    assert_eq!(kinds(&approved), [AuditKind::ApprovedByPolicy]);
    let entry = &approved.journal[0];
    assert!(entry.actor.is_none());
    assert_eq!(
        entry.particulars,
        Some(Particulars::OnCall {
            check: Some(OnCallCheck::OnCall {
                via: pagerduty_schedule("PSCHED", "Primary"),
            }),
        })
    );
    let active = apply(&quiet(approved), bound(), t0() + minutes(5)).unwrap();
    assert_eq!(active.state, GrantState::Active);
}

#[test]
fn not_on_call_or_a_failed_lookup_leaves_the_request_to_the_approvers() {
    let grant = quiet(requested("oncall", 60, false));
    let not = apply(
        &grant,
        Event::OnCallChecked {
            check: OnCallCheck::NotOnCall,
        },
        t0(),
    )
    .unwrap();
    assert_eq!(not.state, GrantState::Requested);
    assert!(not.outbox.is_empty() && not.journal.is_empty());
    let failed = OnCallCheck::Unavailable {
        why: crate::domain::on_call::OnCallFailure::ProviderUnavailable {
            provider: "PagerDuty".into(),
            detail: "HTTP 503".into(),
        },
    };
    let unknown = apply(
        &grant,
        Event::OnCallChecked {
            check: failed.clone(),
        },
        t0(),
    )
    .unwrap();
    assert_eq!(unknown.state, GrantState::Requested);
    assert_eq!(kinds(&unknown), [AuditKind::OnCallUnavailable]);
    assert_eq!(
        unknown.journal[0].particulars,
        Some(Particulars::OnCall {
            check: Some(failed),
        })
    );
    let approved = apply(&quiet(unknown), approve("UBOB"), t0()).unwrap();
    assert_eq!(approved.state, GrantState::Approved);
    // A second answer (a replay) changes nothing.
    let again = apply(
        &not,
        Event::OnCallChecked {
            check: OnCallCheck::NotOnCall,
        },
        t0(),
    );
    assert!(matches!(again, Err(Rejection::WrongState { .. })));
}

#[test]
fn an_on_call_answer_for_a_role_that_no_longer_approves_on_call_grants_nothing() {
    let grant = quiet(requested("oncall", 60, false));
    let mut changed = policy();
    changed.roles.get_mut("oncall").unwrap().on_call = None;
    let check = OnCallCheck::OnCall {
        via: OnCallPlace::Provider {
            provider: OnCallProvider::Pagerduty,
        },
    };
    let next = grant
        .apply(&Event::OnCallChecked { check }, t0(), &changed)
        .unwrap();
    assert_eq!(next.state, GrantState::Requested);
    assert!(next.outbox.is_empty());
}

#[test]
fn only_the_named_requesters_may_break_glass_and_groups_are_resolved_first() {
    let grant = requested("emergency", 30, true);
    let mut named = policy();
    let rule = named.roles.get_mut("emergency").unwrap();
    rule.break_glass.as_mut().unwrap().requesters = vec!["S0SRE".into()];
    let unresolved = named.unresolved_approvers("emergency");
    assert!(unresolved.contains(&"S0SRE"), "{unresolved:?}");
    let nobody = named.resolved(&Default::default());
    assert_eq!(
        grant.apply(&approve("UALICE"), t0(), &nobody),
        Err(Rejection::NotABreakGlassRequester),
        "a group that cannot be looked up stands for nobody"
    );
    let sre = std::collections::HashMap::from([("S0SRE".to_string(), vec!["UALICE".to_string()])]);
    let approved = grant
        .apply(&approve("UALICE"), t0(), &named.resolved(&sre))
        .unwrap();
    assert_eq!(approved.state, GrantState::Approved);
}

#[test]
fn a_role_that_became_break_glass_after_the_request_does_not_make_it_self_approvable() {
    let grant = requested("edit", 30, true);
    let mut changed = policy();
    changed.roles.get_mut("edit").unwrap().break_glass = Some(Default::default());
    assert_eq!(
        grant.apply(&approve("UALICE"), t0(), &changed),
        Err(Rejection::SelfApproval)
    );
    // And a cap shortened since the request applies.
    let long = requested("emergency", 50, true);
    let mut shorter = policy();
    let rule = shorter.roles.get_mut("emergency").unwrap();
    rule.break_glass.as_mut().unwrap().max_duration = Duration::from_secs(1800);
    assert_eq!(
        long.apply(&approve("UALICE"), t0(), &shorter),
        Err(Rejection::BreakGlassTooLong { max_secs: 1800 })
    );
}

#[test]
fn a_review_waits_for_the_access_to_end() {
    let active = self_approved_and_active();
    assert_eq!(
        apply(&active, review("UBOB"), t0() + minutes(10)),
        Err(Rejection::WrongState {
            state: GrantState::Active
        })
    );
}
