//! What notable Kubernetes requests did, as `templates/deeds.jinja` words it: in the audit log
//! (plain text), and in the activity posts of both platforms.

use minijinja::context;
use minijinja::value::{Serde, Value};

use super::teams::teams;
use crate::domain::activity::tests::{
    late_and_impersonating_cases, named, notable_cases, refused_cases, request, t0,
};
use crate::domain::activity::{
    ActivityItem, Deed, EndReport, Notable, NotableAction, SessionActivity, notable_event,
    summary_event,
};
use crate::domain::audit::{AuditEvent, AuditKind};
use crate::templates::*;

/// The words of one template expression over the deeds macros, as the audit log has them.
fn say(expression: &str, ctx: Value) -> String {
    let source = format!("{{% import \"deeds\" as d %}}{{{{ {expression} }}}}");
    let t = Templates::new().unwrap();
    t.records.render_str(&source, ctx).unwrap()
}

fn said(deed: &Deed) -> String {
    say(
        "d.deed(deed)",
        context! { deed => Value::from(Serde(deed)) },
    )
}

fn said_item(item: &ActivityItem) -> String {
    say(
        "d.item(item)",
        context! { item => Value::from(Serde(item)) },
    )
}

/// Every notable request of the domain's tests with the words it is said in.
fn phrased() -> Vec<(Deed, &'static str)> {
    let notable = notable_cases()
        .into_iter()
        .map(|(r, kind, phrase)| (r.deed(kind.unwrap()), phrase));
    let refused = refused_cases()
        .into_iter()
        .map(|(r, phrase)| (r.deed(Notable::Forbidden), phrase));
    let late = late_and_impersonating_cases()
        .into_iter()
        .map(|(r, kind, phrase)| (r.deed(kind), phrase));
    notable.chain(refused).chain(late).collect()
}

#[test]
fn notable_actions_are_phrased() {
    for (deed, phrase) in phrased() {
        assert_eq!(said(&deed), phrase, "{deed:?}");
    }
}

#[test]
fn both_platforms_post_the_deeds_in_the_same_words() {
    let grant = super::slack::grants().remove(2).1;
    let mut activity = SessionActivity::new(&grant.id);
    for (i, (deed, _)) in phrased().into_iter().enumerate() {
        activity.total.notable.push(NotableAction {
            at: t0(),
            kind: Notable::Exec,
            deed,
            code: None,
            counted_as: format!("action {i}"),
            audit_id: i.to_string(),
        });
    }
    let lines = activity.total.lines(usize::MAX);
    for t in [Templates::new().unwrap(), teams()] {
        let post = t.activity(&grant, &lines, true).unwrap().0.to_string();
        let status = t.status_with_activity(&grant, Some(&activity)).unwrap();
        let status = status.0.to_string();
        for (_, phrase) in phrased() {
            assert!(post.contains(phrase), "{:?} {phrase}: {post}", t.platform());
            assert!(
                status.contains(phrase),
                "{:?} {phrase}: {status}",
                t.platform()
            );
        }
    }
}

#[test]
fn an_action_kept_before_deeds_had_particulars_is_said_in_its_words() {
    let stored = r#"{"at":"2026-11-23T09:00:00Z","kind":"exec","what":"exec into payments/api",
        "code":101,"counted_as":"create pods/exec","audit_id":"a1"}"#;
    let action: NotableAction = serde_json::from_str(stored).unwrap();
    assert_eq!(action.deed, Deed::Said("exec into payments/api".into()));
    let t = Templates::new().unwrap();
    assert_eq!(
        t.notable_record(&action).unwrap(),
        "exec into payments/api (HTTP 101, audit ID a1)"
    );
}

#[test]
fn lines_list_notable_actions_first_then_the_busiest_routine_requests() {
    let mut activity = SessionActivity::new("g1");
    for i in 0..2 {
        let exec = named(
            request(&format!("e{i}"), "create", "pods/exec", Some("payments")),
            "api-7f9c",
        );
        activity.record(&exec);
    }
    for i in 0..14 {
        activity.record(&request(&format!("g{i}"), "get", "pods", Some("payments")));
    }
    for i in 0..3 {
        activity.record(&request(
            &format!("l{i}"),
            "list",
            "deployments",
            Some("payments"),
        ));
    }
    activity.record(&named(
        request("d", "delete", "deployments", Some("payments")),
        "worker",
    ));
    let lines = activity.unposted.lines(10);
    let said: Vec<String> = lines
        .items
        .iter()
        .map(|i| format!("{} {}", i.count, said_item(i)))
        .collect();
    assert_eq!(
        said,
        [
            "2 exec into payments/api-7f9c",
            "1 delete deployments/worker in payments",
            "14 get pods",
            "3 list deployments",
        ]
    );
    assert_eq!(lines.requests, 20);
    assert_eq!(lines.more, 0);
    let short = activity.unposted.lines(2);
    assert_eq!(short.items.len(), 2);
    assert_eq!(short.more, 17);
}

#[test]
fn audit_events_carry_the_action_and_its_audit_id() {
    let base = AuditEvent::standalone(AuditKind::Granted, String::new(), t0());
    let mut activity = SessionActivity::new("g1");
    let action = activity
        .record(&named(
            request("abc", "create", "pods/exec", Some("payments")),
            "api",
        ))
        .unwrap();
    let t = Templates::new().unwrap();
    let event = notable_event(&base, &action, t.notable_record(&action).unwrap());
    assert_eq!(event.kind, AuditKind::SessionActivity);
    assert_eq!(
        event.detail.as_deref(),
        Some("exec into payments/api (HTTP 200, audit ID abc)")
    );
    activity.record(&request("b", "get", "pods", None));
    let summary = summary_event(
        &base,
        t.summary_record(&activity.total, &EndReport::default())
            .unwrap(),
        t0(),
    );
    assert_eq!(summary.kind, AuditKind::SessionSummary);
    assert_eq!(
        summary.detail.as_deref(),
        Some("2 Kubernetes requests: 1 exec into payments/api, 1 get pods")
    );
}
