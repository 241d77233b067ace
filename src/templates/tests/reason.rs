//! Failures and on-call lookups without an answer are stored as kinds with their particulars:
//! each platform's templates word them, old grants' words still show, and Teams never says
//! "Slack".

use super::escaping::every_message;
use super::slack::{grants, valid};
use super::teams::{activity, teams, teams_grants};
use crate::domain::failure::Failure;
use crate::domain::grant::{Note, Step};
use crate::domain::on_call::{OnCallCheck, OnCallFailure};
use crate::templates::views::escape;
use crate::templates::*;

/// Each platform's templates with its grants in every state.
fn platforms() -> [(Templates, Vec<(&'static str, Grant)>); 2] {
    [
        (Templates::new().unwrap(), grants()),
        (teams(), teams_grants()),
    ]
}

fn named(grants: &[(&str, Grant)], name: &str) -> Grant {
    grants.iter().find(|(n, _)| *n == name).unwrap().1.clone()
}

/// `message` checked as its platform takes it (its buttons about `grant`); its JSON.
fn checked(t: &Templates, name: &str, message: &Message, grant: Option<&Grant>) -> String {
    match t.platform() {
        Platform::Slack => valid(name, message),
        Platform::Teams => activity(name, message, grant.map(|g| g.id.as_str())),
    }
}

/// `words` with `{}` filled in by `particular` as the platform escapes user text, as the JSON of
/// a message holds it.
fn said(p: Platform, words: &str, particular: &str) -> String {
    let text = words.replace("{}", &escape(p, particular));
    let json = serde_json::to_string(&text).unwrap();
    json.trim_matches('"').to_string()
}

/// Every kind of failure, with the words each platform says it in.
fn failures(p: Platform) -> Vec<(Failure, String)> {
    let cluster = |cluster: &str| cluster.to_string();
    vec![
        (
            Failure::NoSubjectRecorded,
            said(
                p,
                "the request was made before prod-access recorded whom to bind; request it again",
                "",
            ),
        ),
        (
            Failure::UnknownCluster {
                cluster: cluster("eu"),
            },
            said(p, "cluster `eu` is not in the configuration", ""),
        ),
        (
            Failure::NoKubeconfigSettings {
                cluster: cluster("eu"),
            },
            said(
                p,
                "cluster `eu` has no kubeconfig settings (clusters.eu.kubeconfig or kubernetes.kubeconfig)",
                "",
            ),
        ),
        (
            Failure::Refused {
                error: "forbidden: no_bind".into(),
            },
            said(p, "{}", "forbidden: no_bind"),
        ),
        (
            Failure::GaveUp {
                error: "503 Service_Unavailable".into(),
                attempts: 6,
                waited_secs: 150,
            },
            said(
                p,
                "{} (after 6 attempts over 2m 30s)",
                "503 Service_Unavailable",
            ),
        ),
        (
            Failure::Said("an_older reason".into()),
            said(p, "{}", "an_older reason"),
        ),
    ]
}

/// Every kind of on-call lookup failure, with the words each platform says it in.
fn on_call_failures(p: Platform) -> Vec<(OnCallFailure, String)> {
    let provider = || "PagerDuty".to_string();
    vec![
        (
            OnCallFailure::TooSlow { budget_secs: 10 },
            said(p, "the lookup took longer than 10s", ""),
        ),
        (
            OnCallFailure::NoProfile {
                error: "user_not_found".into(),
            },
            said(
                p,
                "cannot look up the requester's profile: {}",
                "user_not_found",
            ),
        ),
        (
            OnCallFailure::EmailNotConfirmed,
            said(p, "the requester's email address is not confirmed", ""),
        ),
        (
            OnCallFailure::EmailUntrusted {
                rule: "identity_email_domain".into(),
            },
            said(
                p,
                "the requester's email address cannot be trusted ({})",
                "identity_email_domain",
            ),
        ),
        (
            OnCallFailure::ProviderNotConfigured {
                provider: provider(),
            },
            said(p, "PagerDuty is not configured", ""),
        ),
        (
            OnCallFailure::ProviderUnavailable {
                provider: provider(),
                detail: "HTTP 503".into(),
            },
            said(p, "PagerDuty did not answer: HTTP 503", ""),
        ),
        (
            OnCallFailure::ProviderRefused {
                provider: provider(),
                status: 401,
            },
            said(p, "PagerDuty refused the lookup: HTTP 401", ""),
        ),
        (
            OnCallFailure::Said("an_older answer".into()),
            said(p, "{}", "an_older answer"),
        ),
    ]
}

/// Asserts that each of `messages` about `grant` is valid on `t`'s platform and says `words`.
fn says(t: &Templates, grant: &Grant, messages: &[Rendered], words: &str) {
    for message in messages {
        let message = message.as_ref().unwrap();
        let json = checked(t, "message", message, Some(grant));
        assert!(json.contains(words), "{words}: {json}");
    }
}

type Rendered = Result<Message, TemplateError>;

#[test]
fn every_failure_is_worded_to_the_requester_the_approvers_and_the_audit_channel() {
    for (t, grants) in platforms() {
        for (failure, words) in failures(t.platform()) {
            let mut failed = named(&grants, "failed");
            failed.failure = Some(failure.clone());
            let told = [
                t.note(&failed, Note::Failed, None),
                t.step(&failed, Step::Failed, false),
                t.approval_message(&failed),
            ];
            says(&t, &failed, &told, &words);
            let mut active = named(&grants, "active");
            active.kubeconfig_failure = Some(failure);
            let told = [t.note(&active, Note::KubeconfigFailed, None)];
            let kubeconfig = format!("kubeconfig file could not be made: {words}");
            says(&t, &active, &told, &kubeconfig);
        }
    }
}

#[test]
fn every_on_call_failure_is_worded_on_the_request() {
    for (t, grants) in platforms() {
        for (why, words) in on_call_failures(t.platform()) {
            let mut requested = named(&grants, "requested");
            requested.on_call = Some(OnCallCheck::Unavailable { why });
            let told = [t.approval_message(&requested)];
            let note = format!("The on-call check failed ({words}), so this needs an approver");
            says(&t, &requested, &told, &note);
        }
    }
}

#[test]
fn help_gives_an_example_with_the_first_role_and_its_first_namespace() {
    for (t, _) in platforms() {
        let policy: Policy = serde_saphyr::from_str(
            "approvers: [UBOB]\nroles: { edit: { cluster_role: edit, namespaces: [payments], max_duration: 4h } }",
        )
        .unwrap();
        let json = checked(&t, "help", &t.help(&policy).unwrap(), None);
        assert!(
            json.contains("prod-access edit payments 1h INC-123 investigating"),
            "{json}"
        );
    }
}

#[test]
fn the_last_resort_is_one_line_of_text_from_the_templates() {
    let message = last_resort();
    assert_eq!(
        message.text(),
        "Something went wrong on our side; nothing was changed. Please try again."
    );
    assert_eq!(last_resort_text(), message.text());
}

#[test]
fn no_teams_message_says_slack() {
    let t = teams();
    let mut messages = every_message(&t);
    for (_, g) in teams_grants() {
        for (failure, _) in failures(Platform::Teams) {
            let mut failed = g.clone();
            failed.failure = Some(failure.clone());
            failed.kubeconfig_failure = Some(failure);
            for note in [Note::Failed, Note::KubeconfigFailed] {
                messages.push(("note".into(), t.note(&failed, note, None).unwrap()));
            }
            messages.push(("approval".into(), t.approval_message(&failed).unwrap()));
        }
        for (why, _) in on_call_failures(Platform::Teams) {
            let mut checked = g.clone();
            checked.on_call = Some(OnCallCheck::Unavailable { why });
            messages.push(("approval".into(), t.approval_message(&checked).unwrap()));
        }
    }
    messages.push(("unidentified".into(), t.unidentified_sender().unwrap()));
    for (name, message) in messages {
        let json = message.0.to_string();
        assert!(!json.contains("Slack"), "{name}: {json}");
    }
}
