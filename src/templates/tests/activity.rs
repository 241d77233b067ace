//! Session activity replies, summaries and the status activity part, in Slack and Teams, for
//! every grant state; names taken from the cluster are escaped like any user text.

use super::slack::{grants, valid};
use super::teams::{activity as teams_activity, teams, teams_grants};
use crate::domain::activity::{
    Cleanup, EndReport, Handled, Item, KubeRequest, SessionActivity, Stage,
};
use crate::templates::*;

/// Activity with a notable action on a pod whose name tries to mention everyone.
pub(super) fn busy() -> SessionActivity {
    let mut activity = SessionActivity::new("abc123");
    let request =
        |id: &str, verb: &str, resource: &str, sub: Option<&str>, name: &str| KubeRequest {
            audit_id: id.into(),
            stage: Stage::ResponseComplete,
            at: super::slack::t0(),
            verb: verb.into(),
            resource: Some(resource.into()),
            subresource: sub.map(String::from),
            namespace: Some("payments".into()),
            name: Some(name.into()),
            code: Some(200),
            uri: "/api/v1/namespaces/payments/pods".into(),
            after_end: false,
            impersonating: None,
        };
    activity.record(&request("1", "create", "pods", Some("exec"), "<!channel>"));
    activity.record(&request(
        "2",
        "create",
        "pods",
        Some("exec"),
        "[x](https://evil.example)",
    ));
    for i in 0..30 {
        activity.record(&request(&format!("g{i}"), "get", "pods", None, "api"));
    }
    activity
}

#[test]
fn activity_replies_and_status_are_valid_slack_messages_in_every_state() {
    let templates = Templates::new().unwrap();
    let activity = busy();
    for (name, grant) in grants() {
        for summary in [false, true] {
            let json = valid(
                name,
                &templates
                    .activity(&grant, &activity.total.lines(12), summary)
                    .unwrap(),
            );
            assert!(json.contains("30 get pods"), "{name}: {json}");
        }
        let status = valid(
            name,
            &templates
                .status_with_activity(&grant, Some(&activity))
                .unwrap(),
        );
        assert!(
            status.contains("Kubernetes activity: 32 requests"),
            "{name}: {status}"
        );
        assert!(
            status.contains("Latest notable actions (2 in all)"),
            "{name}: {status}"
        );
    }
}

#[test]
fn activity_replies_and_status_are_valid_teams_activities_in_every_state() {
    let templates = teams();
    let activity = busy();
    for (name, grant) in teams_grants() {
        let id = Some(grant.id.as_str());
        for summary in [false, true] {
            let message = templates
                .activity(&grant, &activity.total.lines(12), summary)
                .unwrap();
            let json = teams_activity(name, &message, id);
            assert!(json.contains("30 get pods"), "{name}: {json}");
        }
        let status = templates
            .status_with_activity(&grant, Some(&activity))
            .unwrap();
        let json = teams_activity(name, &status, id);
        assert!(json.contains("Kubernetes activity:"), "{name}: {json}");
    }
}

#[test]
fn a_long_list_ends_with_how_many_more_requests_there_were() {
    let templates = Templates::new().unwrap();
    let (_, grant) = grants().remove(0);
    let mut activity = SessionActivity::new(&grant.id);
    for verb in ["get", "list", "watch"] {
        for resource in ["pods", "services", "configmaps", "events", "endpoints"] {
            activity.record(&KubeRequest {
                audit_id: format!("{verb}{resource}"),
                stage: Stage::ResponseComplete,
                at: super::slack::t0(),
                verb: verb.into(),
                resource: Some(resource.into()),
                subresource: None,
                namespace: Some("payments".into()),
                name: None,
                code: Some(200),
                uri: String::new(),
                after_end: false,
                impersonating: None,
            });
        }
    }
    let json = valid(
        "long",
        &templates
            .activity(&grant, &activity.unposted.lines(12), false)
            .unwrap(),
    );
    assert!(json.contains(": 15 requests: "), "{json}");
    assert!(json.contains(" and 3 more."), "{json}");
}

#[test]
fn long_object_names_keep_a_reply_within_slacks_section_limit() {
    let templates = Templates::new().unwrap();
    let (_, grant) = grants().remove(0);
    let mut activity = SessionActivity::new(&grant.id);
    for i in 0..40 {
        activity.record(&KubeRequest {
            audit_id: i.to_string(),
            stage: Stage::ResponseComplete,
            at: super::slack::t0(),
            verb: "delete".into(),
            resource: Some("configmaps".into()),
            subresource: None,
            namespace: Some("payments".into()),
            name: Some(format!("{i}-{}", "x".repeat(250))),
            code: Some(200),
            uri: String::new(),
            after_end: false,
            impersonating: None,
        });
    }
    let message = templates
        .activity(&grant, &activity.total.lines(12), true)
        .unwrap();
    valid("long names", &message);
    let section = message.0["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(section.chars().count() <= 3000, "{}", section.len());
}

/// alice's exec into payments/api-7f9c, container `app`, begun and never seen to end.
fn exec_left_open() -> SessionActivity {
    let mut activity = SessionActivity::new("abc123");
    activity.record(&KubeRequest {
        audit_id: "e1".into(),
        stage: Stage::ResponseStarted,
        at: super::slack::t0(),
        verb: "create".into(),
        resource: Some("pods".into()),
        subresource: Some("exec".into()),
        namespace: Some("payments".into()),
        name: Some("api-7f9c".into()),
        code: Some(101),
        uri: "/api/v1/namespaces/payments/pods/api-7f9c/exec?command=sh&container=app".into(),
        after_end: false,
        impersonating: None,
    });
    activity
}

#[test]
fn the_summary_names_each_stream_still_open_and_how_to_end_it_on_both_platforms() {
    let activity = exec_left_open();
    let report = EndReport::unchecked(&activity);
    let open = &report.streams;
    let lines = activity.total.lines(12);
    let (_, grant) = grants().into_iter().find(|(n, _)| *n == "expired").unwrap();
    let says = [
        "Still open",
        "exec into payments/api-7f9c (container app) since",
        "kubectl delete pod api-7f9c -n payments",
    ];
    let slack = Templates::new().unwrap();
    let json = valid("expired", &slack.summary(&grant, &lines, &report).unwrap());
    let teams_json = teams_activity(
        "expired",
        &teams().summary(&grant, &lines, &report).unwrap(),
        Some("abc123"),
    );
    for text in [&json, &teams_json] {
        for phrase in says {
            assert!(text.contains(phrase), "{phrase:?} in {text}");
        }
    }
    let record = slack.summary_record(&activity.total, &report).unwrap();
    assert_eq!(
        record,
        "1 Kubernetes request: 1 exec into payments/api-7f9c; still open after the access \
         ended: exec into payments/api-7f9c (container app) since 2026-11-23T09:00:00Z: end it \
         with `kubectl delete pod api-7f9c -n payments`"
    );
    assert_eq!(
        slack.still_open_record(open).unwrap(),
        "exec into payments/api-7f9c (container app) since 2026-11-23T09:00:00Z: end it with \
         `kubectl delete pod api-7f9c -n payments`"
    );
    let without = slack
        .summary(&grant, &lines, &EndReport::default())
        .unwrap()
        .0
        .to_string();
    assert!(!without.contains("Still open"), "{without}");
}

/// alice made a ServiceAccount, a token for it and a binding for it during her grant.
fn left_behind() -> SessionActivity {
    let mut activity = SessionActivity::new("abc123");
    for (id, verb, resource, sub, name) in [
        ("l1", "create", "serviceaccounts", None, "deployer"),
        ("l2", "create", "serviceaccounts", Some("token"), "deployer"),
        ("l3", "create", "rolebindings", None, "deployer-<!channel>"),
    ] {
        activity.record(&KubeRequest {
            audit_id: id.into(),
            stage: Stage::ResponseComplete,
            at: super::slack::t0(),
            verb: verb.into(),
            resource: Some(resource.into()),
            subresource: sub.map(String::from),
            namespace: Some("payments".into()),
            name: Some(name.into()),
            code: Some(201),
            uri: String::new(),
            after_end: false,
            impersonating: None,
        });
    }
    activity
}

#[test]
fn the_summary_lists_what_was_left_behind_by_risk_on_both_platforms_and_in_the_log() {
    let activity = left_behind();
    let lines = activity.total.lines(12);
    let (_, grant) = grants().into_iter().find(|(n, _)| *n == "expired").unwrap();
    let slack = Templates::new().unwrap();
    let report = EndReport::unchecked(&activity);
    let left = &report.leftovers;
    let json = valid("expired", &slack.summary(&grant, &lines, &report).unwrap());
    let teams_json = teams_activity(
        "expired",
        &teams().summary(&grant, &lines, &report).unwrap(),
        Some("abc123"),
    );
    for text in [&json, &teams_json] {
        for phrase in [
            "Left behind",
            "high risk: token for ServiceAccount payments/deployer (create serviceaccounts/token)",
            "medium risk: ServiceAccount payments/deployer (create serviceaccounts)",
        ] {
            assert!(text.contains(phrase), "{phrase:?} in {text}");
        }
    }
    assert_eq!(
        slack.leftovers_record(left).unwrap(),
        "high risk: token for ServiceAccount payments/deployer (create serviceaccounts/token), \
         binding payments/deployer-<!channel> (create rolebindings); medium risk: \
         ServiceAccount payments/deployer (create serviceaccounts)"
    );
}

/// alice's exec still open and what she left behind, as the summary reported it: the exec's
/// pod may be restarted, the token's ServiceAccount deleted, and bob marked the binding
/// reviewed.
fn report_with_cleanups() -> EndReport {
    let mut report = EndReport::unchecked(&left_behind());
    report.streams = EndReport::unchecked(&exec_left_open()).streams;
    report.streams[0].restartable = true;
    report.leftovers[0].exists = Some(true);
    report.leftovers[2].deletable = true;
    report.leftovers[1].exists = Some(false);
    report.leftovers[1].handled = Some(Handled {
        by: "UBOB".into(),
        at: super::slack::t0(),
        how: Cleanup::Reviewed,
        pending: false,
    });
    report
}

#[test]
fn the_summary_gives_approvers_a_button_per_item_and_shows_who_handled_each_on_slack() {
    let (_, grant) = grants().into_iter().find(|(n, _)| *n == "expired").unwrap();
    let report = report_with_cleanups();
    let message = Templates::new()
        .unwrap()
        .summary(&grant, &left_behind().total.lines(12), &report)
        .unwrap();
    valid("cleanups", &message);
    let buttons: Vec<(String, String)> = (message.0["blocks"].as_array().unwrap().iter())
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().unwrap().clone())
        .map(|e| (e["action_id"].to_string(), e["value"].to_string()))
        .collect();
    let button = |action: &str, item: &str| (format!("\"{action}\""), format!("\"abc123 {item}\""));
    assert_eq!(
        buttons,
        [
            button("restart_pod", "s0"),
            button("mark_reviewed", "l0"),
            button("mark_reviewed", "l2"),
            button("delete_leftover", "l2"),
        ],
        "{}",
        message.0
    );
    let json = message.0.to_string();
    for phrase in [
        "exec into payments/api-7f9c (container app)",
        "binding payments/deployer-&lt;!channel&gt; (create rolebindings, gone)",
        "marked reviewed by <@UBOB>",
        "token for ServiceAccount payments/deployer (create serviceaccounts/token, still there)",
    ] {
        assert!(json.contains(phrase), "{phrase:?} in {json}");
    }
}

#[test]
fn the_summary_gives_approvers_an_action_per_item_on_teams() {
    let (_, grant) = teams_grants()
        .into_iter()
        .find(|(n, _)| *n == "expired")
        .unwrap();
    let report = report_with_cleanups();
    let message = teams()
        .summary(&grant, &left_behind().total.lines(12), &report)
        .unwrap();
    let json = teams_activity("cleanups", &message, Some("abc123"));
    for phrase in [
        r#""verb":"restart_pod""#,
        r#""data":{"grant":"abc123","item":"s0"}"#,
        r#""verb":"mark_reviewed""#,
        r#""data":{"grant":"abc123","item":"l2"}"#,
        r#""verb":"delete_leftover""#,
        "marked reviewed by UBOB",
    ] {
        assert!(json.contains(phrase), "{phrase:?} in {json}");
    }
    assert_eq!(json.matches(r#""verb":"delete_leftover""#).count(), 1);
}

#[test]
fn every_cleanup_is_recorded_in_words() {
    let templates = Templates::new().unwrap();
    let report = report_with_cleanups();
    let handled = |how| Handled {
        by: "UBOB".into(),
        at: super::slack::t0(),
        how,
        pending: false,
    };
    let stream = Item::Stream(report.streams[0].clone());
    let leftover = Item::Leftover(report.leftovers[2].clone());
    assert_eq!(
        templates
            .cleanup_record(&stream, &handled(Cleanup::Restarted))
            .unwrap(),
        "restarted (deleted) pod payments/api-7f9c, ending the exec into payments/api-7f9c \
         (container app) since 2026-11-23T09:00:00Z"
    );
    assert_eq!(
        templates
            .cleanup_record(&leftover, &handled(Cleanup::Deleted))
            .unwrap(),
        "deleted ServiceAccount payments/deployer (create serviceaccounts)"
    );
    assert_eq!(
        templates
            .cleanup_record(&leftover, &handled(Cleanup::Reviewed))
            .unwrap(),
        "marked reviewed: ServiceAccount payments/deployer (create serviceaccounts)"
    );
}
