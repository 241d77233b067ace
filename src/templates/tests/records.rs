//! The audit log's `detail` of each kind of lifecycle entry, as `templates/records/` words it:
//! the words the log has always stored (the hash chain covers them), to the character.

use crate::domain::audit::AuditKind;
use crate::domain::audit_detail::Particulars;
use crate::domain::departure::Departure;
use crate::domain::failure::Failure;
use crate::domain::grant::GrantState;
use crate::domain::lifecycle::tests::{active, apply, extend};
use crate::domain::on_call::{OnCallCheck, OnCallFailure, OnCallPlace, OnCallProvider};
use crate::domain::reconcile::{Drift, ObservedBinding};
use crate::domain::retry::{Alert, AlertKind};
use crate::domain::revocation::{NamedBinding, StillAllowed, Verification};
use crate::domain::testing::{minutes, pagerduty_schedule, t0};
use crate::templates::*;

fn worded(particulars: Particulars) -> String {
    Templates::new()
        .unwrap()
        .detail_record(&particulars)
        .unwrap()
}

fn failure_said(failure: Failure) -> String {
    worded(Particulars::Failure { failure })
}

#[test]
fn an_extension_says_its_length_in_seconds() {
    assert_eq!(
        worded(Particulars::Extension { by_secs: 3600 }),
        "extension by 3600s"
    );
}

#[test]
fn every_failure_is_said_in_the_words_the_log_has_always_stored() {
    let cases = [
        (
            Failure::NoSubjectRecorded,
            "the request was made before prod-access recorded whom to bind; request it again",
        ),
        (
            Failure::UnknownCluster {
                cluster: "eu".into(),
            },
            "cluster `eu` is not in the configuration",
        ),
        (
            Failure::NoKubeconfigSettings {
                cluster: "eu".into(),
            },
            "cluster `eu` has no kubeconfig settings (clusters.eu.kubeconfig or kubernetes.kubeconfig)",
        ),
        (Failure::from("forbidden"), "forbidden"),
        (
            Failure::GaveUp {
                error: "503 Service Unavailable".into(),
                attempts: 6,
                waited_secs: 150,
            },
            "503 Service Unavailable (after 6 attempts over 2m 30s)",
        ),
        (
            Failure::Said("forbidden: no bind permission <&>".into()),
            "forbidden: no bind permission <&>",
        ),
    ];
    for (failure, words) in cases {
        assert_eq!(failure_said(failure), words);
    }
}

#[test]
fn every_departure_says_why_the_requester_no_longer_holds_access() {
    let cases = [
        (
            Departure::Deactivated,
            "the requester's chat account was deactivated",
        ),
        (
            Departure::BecameGuest,
            "the requester's chat account became a guest account",
        ),
        (
            Departure::RemovedFromTeam,
            "the requester was removed from the team the bot serves",
        ),
        (
            Departure::Unknown,
            "the chat platform no longer knows the requester",
        ),
        (
            Departure::Outsider,
            "the requester's chat account is now of another organisation",
        ),
    ];
    for (why, words) in cases {
        assert_eq!(worded(Particulars::Departure { why }), words);
    }
}

#[test]
fn a_break_glass_use_says_it_needs_a_review() {
    assert_eq!(
        worded(Particulars::BreakGlass),
        "approved by the requester under the break-glass rule; needs a post-incident review"
    );
}

#[test]
fn bindings_found_gone_say_how_late_the_bot_was_and_that_the_sweeper_removes_them() {
    assert_eq!(
        worded(Particulars::FoundRemoved { late_by_secs: 3900 }),
        "its bindings were already gone when prod-access came to remove them, 1h 5m after the \
         expiry: the sweeper removes expired bindings while prod-access is away"
    );
}

fn team_binding() -> NamedBinding {
    NamedBinding {
        namespace: Some("payments".into()),
        name: "oncall".into(),
        role_kind: "ClusterRole".into(),
        role: "edit".into(),
        subject_kind: "Group".into(),
        subject: "payments-oncall".into(),
    }
}

fn exec_in_payments() -> StillAllowed {
    StillAllowed {
        verb: "create".into(),
        resource: "pods/exec".into(),
        group: String::new(),
        namespace: Some("payments".into()),
    }
}

#[test]
fn a_revocation_says_it_was_verified_or_what_is_still_allowed_and_through_what() {
    let said = |verification| worded(Particulars::Revocation { verification });
    assert_eq!(
        said(Verification::NoLongerAllowed {
            probes: 9,
            standing: 0,
        }),
        "verified: no longer allowed (9 checks)"
    );
    assert_eq!(
        said(Verification::NoLongerAllowed {
            probes: 9,
            standing: 4
        }),
        "verified: no longer allowed (9 checks; 4 of them allowed before the grant too, by \
         standing access, and still)"
    );
    let cluster_wide = StillAllowed {
        namespace: None,
        ..exec_in_payments()
    };
    assert_eq!(
        said(Verification::StillAllowed {
            standing: 0,
            allowed: vec![exec_in_payments(), cluster_wide],
            bindings: vec![team_binding()],
            unlisted: None,
        }),
        "still allowed: create pods/exec in payments; create pods/exec cluster-wide, through \
         RoleBinding payments/oncall (ClusterRole edit, Group payments-oncall)"
    );
    assert_eq!(
        said(Verification::StillAllowed {
            standing: 0,
            allowed: vec![exec_in_payments()],
            bindings: vec![],
            unlisted: None,
        }),
        "still allowed: create pods/exec in payments; no binding names the user or its groups, \
         so the access comes from elsewhere (a group the bot does not know of, or another \
         authorizer)"
    );
    assert_eq!(
        said(Verification::StillAllowed {
            standing: 0,
            allowed: vec![exec_in_payments()],
            bindings: vec![],
            unlisted: Some("forbidden".into()),
        }),
        "still allowed: create pods/exec in payments; the bindings that give it could not be \
         listed: forbidden"
    );
    let failure = Failure::GaveUp {
        error: "503".into(),
        attempts: 6,
        waited_secs: 300,
    };
    assert_eq!(
        said(Verification::Unverified { failure }),
        "not verified: 503 (after 6 attempts over 5m)"
    );
}

fn on_call(check: Option<OnCallCheck>) -> String {
    worded(Particulars::OnCall { check })
}

#[test]
fn an_on_call_answer_says_where_the_requester_is_on_call_or_why_there_is_none() {
    let pagerduty = OnCallProvider::Pagerduty;
    let cases = [
        (
            pagerduty_schedule("PSCHED", "Primary"),
            "PagerDuty schedule Primary (PSCHED)",
        ),
        (
            OnCallPlace::Schedule {
                provider: pagerduty,
                id: "PSCHED".into(),
                name: None,
            },
            "PagerDuty schedule PSCHED",
        ),
        (
            OnCallPlace::EscalationPolicy {
                provider: pagerduty,
                id: "PESC".into(),
                name: Some("Payments".into()),
                level: 2,
            },
            "PagerDuty escalation policy Payments (PESC) (level 2)",
        ),
        (
            OnCallPlace::Schedule {
                provider: OnCallProvider::Opsgenie,
                id: "Orders On-Call".into(),
                name: None,
            },
            "Opsgenie schedule Orders On-Call",
        ),
        (
            OnCallPlace::Provider {
                provider: pagerduty,
            },
            "PagerDuty",
        ),
        // Stored before places had a kind: worded as then, byte for byte.
        (
            OnCallPlace::Said("PagerDuty schedule Primary (PSCHED)".into()),
            "PagerDuty schedule Primary (PSCHED)",
        ),
    ];
    for (via, place) in cases {
        assert_eq!(
            on_call(Some(OnCallCheck::OnCall { via })),
            format!("approved by policy: the requester is on call in {place}")
        );
    }
    assert_eq!(on_call(Some(OnCallCheck::NotOnCall)), "");
    assert_eq!(on_call(None), "");
}

#[test]
fn every_failed_on_call_lookup_says_why_and_that_the_request_waits() {
    let provider = || "PagerDuty".to_string();
    let cases = [
        (
            OnCallFailure::TooSlow { budget_secs: 10 },
            "the lookup took longer than 10s",
        ),
        (
            OnCallFailure::NoProfile {
                error: "user_not_found".into(),
            },
            "cannot look up the requester's profile: user_not_found",
        ),
        (
            OnCallFailure::EmailNotConfirmed,
            "the requester's email address is not confirmed",
        ),
        (
            OnCallFailure::EmailUntrusted {
                rule: "identity_domain".into(),
            },
            "the requester's email address cannot be trusted (identity_domain)",
        ),
        (
            OnCallFailure::ProviderNotConfigured {
                provider: provider(),
            },
            "PagerDuty is not configured",
        ),
        (
            OnCallFailure::ProviderUnavailable {
                provider: provider(),
                detail: "HTTP 503".into(),
            },
            "PagerDuty did not answer: HTTP 503",
        ),
        (
            OnCallFailure::ProviderRefused {
                provider: provider(),
                status: 401,
            },
            "PagerDuty refused the lookup: HTTP 401",
        ),
        (
            OnCallFailure::Said("an older answer".into()),
            "an older answer",
        ),
    ];
    for (why, words) in cases {
        assert_eq!(
            on_call(Some(OnCallCheck::Unavailable { why })),
            format!("the on-call lookup failed ({words}); the request waits for approvers")
        );
    }
}

#[test]
fn an_alert_says_the_effect_its_failures_since_when_and_the_last_error() {
    for kind in [AlertKind::Failing, AlertKind::Recovered] {
        let alert = Alert {
            kind,
            effect: "unbind".into(),
            failures: 3,
            since: t0(),
            error: "503 Service Unavailable".into(),
        };
        assert_eq!(
            worded(Particulars::of_alert(&alert)),
            "unbind failed 3 times since 2026-11-23T09:00:00+00:00: 503 Service Unavailable"
        );
    }
}

fn repaired(repair: Repair) -> String {
    Templates::new().unwrap().drift_record(&repair).unwrap()
}

fn deleted(namespace: Option<&str>, drift: Drift) -> String {
    repaired(Repair::Delete {
        binding: ObservedBinding {
            namespace: namespace.map(str::to_string),
            name: "prod-access-abc123".into(),
            grant_id: Some("abc123".into()),
            expires_at: None,
        },
        drift,
    })
}

#[test]
fn a_repair_says_which_binding_it_deleted_and_why_or_that_it_bound_again() {
    assert_eq!(
        deleted(Some("payments"), Drift::Expired),
        "deleted RoleBinding payments/prod-access-abc123: expired"
    );
    assert_eq!(
        deleted(None, Drift::GrantEnded(GrantState::Revoked)),
        "deleted ClusterRoleBinding prod-access-abc123: grant_ended"
    );
    assert_eq!(
        deleted(None, Drift::UnknownGrant),
        "deleted ClusterRoleBinding prod-access-abc123: unknown_grant"
    );
    assert_eq!(
        repaired(Repair::Rebind {
            grant_id: "abc123".into()
        }),
        "created the missing binding of an active grant again"
    );
}

#[test]
fn a_journal_is_worded_before_it_is_stored_and_keeps_no_particulars() {
    let mut asked = apply(&active(), extend("UALICE", 60), t0() + minutes(30)).unwrap();
    let entry = |g: &Grant| g.journal.last().cloned().unwrap();
    assert_eq!(entry(&asked).kind, AuditKind::ExtensionRequested);
    assert!(entry(&asked).unworded());
    let t = Templates::new().unwrap();
    t.word_journal(&mut asked.journal);
    let worded = entry(&asked);
    assert_eq!(worded.detail.as_deref(), Some("extension by 3600s"));
    assert_eq!(worded.particulars, None);
    assert!(asked.journal.iter().all(|e| !e.unworded()));
    // Worded once: the words of an entry never change.
    t.word_journal(&mut asked.journal);
    assert_eq!(entry(&asked), worded);
}
