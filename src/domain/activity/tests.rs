//! Session activity: which Kubernetes requests are a grant's, and which are notable.

use chrono::Duration;

use super::*;
pub(crate) use crate::domain::testing::t0;

pub(crate) fn request(
    id: &str,
    verb: &str,
    resource: &str,
    namespace: Option<&str>,
) -> KubeRequest {
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(s.to_string())),
        None => (resource, None),
    };
    KubeRequest {
        audit_id: id.into(),
        stage: Stage::ResponseComplete,
        at: t0(),
        verb: verb.into(),
        resource: (!resource.is_empty()).then(|| resource.to_string()),
        subresource,
        namespace: namespace.map(String::from),
        name: None,
        code: Some(200),
        uri: "/api/v1/whatever?limit=500".into(),
        after_end: false,
        impersonating: None,
    }
}

pub(crate) fn named(mut r: KubeRequest, name: &str) -> KubeRequest {
    r.name = Some(name.into());
    r
}

#[test]
fn actions_name_the_verb_and_resource_or_the_path() {
    assert_eq!(request("1", "get", "pods", None).action(), "get pods");
    assert_eq!(
        request("1", "create", "pods/exec", Some("payments")).action(),
        "create pods/exec"
    );
    let mut version = request("1", "get", "", None);
    version.uri = "/version?timeout=32s".into();
    assert_eq!(version.action(), "get /version");
}

/// Notable requests, the kind each is, and how the templates say it.
pub(crate) fn notable_cases() -> Vec<(KubeRequest, Option<Notable>, &'static str)> {
    let ns = Some("payments");
    vec![
        (
            named(request("1", "create", "pods/exec", ns), "api-7f9c"),
            Some(Notable::Exec),
            "exec into payments/api-7f9c",
        ),
        (
            named(request("1", "get", "pods/exec", ns), "api-7f9c"),
            Some(Notable::Exec),
            "exec into payments/api-7f9c",
        ),
        (
            named(request("1", "create", "pods/attach", ns), "api"),
            Some(Notable::Attach),
            "attach to payments/api",
        ),
        (
            named(request("1", "create", "pods/portforward", ns), "db-0"),
            Some(Notable::PortForward),
            "port-forward to payments/db-0",
        ),
        (
            named(request("1", "get", "secrets", ns), "stripe"),
            Some(Notable::ReadSecret),
            "get secrets/stripe in payments",
        ),
        (
            request("1", "list", "secrets", ns),
            Some(Notable::ReadSecret),
            "list secrets in payments",
        ),
        (
            named(request("1", "delete", "deployments", ns), "worker"),
            Some(Notable::Delete),
            "delete deployments/worker in payments",
        ),
        (
            request("1", "deletecollection", "pods", ns),
            Some(Notable::Delete),
            "deletecollection pods in payments",
        ),
        (
            named(request("1", "patch", "deployments", ns), "api"),
            Some(Notable::WorkloadChange),
            "patch deployments/api in payments",
        ),
        (
            named(request("1", "update", "statefulsets", ns), "db"),
            Some(Notable::WorkloadChange),
            "update statefulsets/db in payments",
        ),
        (
            named(request("1", "patch", "deployments/scale", ns), "api"),
            Some(Notable::WorkloadChange),
            "patch deployments/api in payments",
        ),
    ]
}

#[test]
fn notable_actions_are_recognised() {
    let ns = Some("payments");
    for (request, kind, _) in notable_cases() {
        assert_eq!(request.notable(), kind, "{request:?}");
    }
    for routine in [
        request("1", "get", "pods", ns),
        request("1", "list", "deployments", ns),
        request("1", "watch", "events", ns),
        request("1", "create", "configmaps", ns),
        request("1", "patch", "configmaps", ns),
        request("1", "get", "pods/log", ns),
        request("1", "create", "secrets", ns),
    ] {
        assert_eq!(routine.notable(), None, "{routine:?}");
    }
}

/// Requests refused with 403 (any is notable), and how the templates say them.
pub(crate) fn refused_cases() -> Vec<(KubeRequest, &'static str)> {
    let mut refused = named(request("1", "get", "secrets", Some("billing")), "db");
    refused.code = Some(403);
    let mut nodes = request("2", "list", "nodes", None);
    nodes.code = Some(403);
    vec![
        (refused, "refused (403): get secrets db in billing"),
        (nodes, "refused (403): list nodes cluster-wide"),
    ]
}

#[test]
fn any_403_is_notable_whatever_the_request() {
    for (refused, _) in refused_cases() {
        assert_eq!(refused.notable(), Some(Notable::Forbidden), "{refused:?}");
    }
}

#[test]
fn a_request_is_counted_once_across_its_stages() {
    let mut activity = SessionActivity::new("g1");
    let mut received = request("a", "get", "pods", Some("payments"));
    received.stage = Stage::RequestReceived;
    assert_eq!(activity.record(&received), None);
    assert_eq!(activity.total.requests, 0);
    activity.record(&request("a", "get", "pods", Some("payments")));
    assert_eq!(activity.total.requests, 1);
}

#[test]
fn an_exec_counts_when_it_starts_and_not_again_when_it_ends() {
    let mut activity = SessionActivity::new("g1");
    let mut started = named(request("x", "create", "pods/exec", Some("payments")), "api");
    started.stage = Stage::ResponseStarted;
    started.code = Some(101);
    let kept = activity.record(&started).expect("notable");
    assert_eq!(kept.kind, Notable::Exec);
    assert_eq!(activity.record(&started), None, "a repeated start");
    let mut ended = started.clone();
    ended.stage = Stage::ResponseComplete;
    assert_eq!(activity.record(&ended), None);
    assert_eq!(activity.total.requests, 1);
    assert_eq!(activity.total.notable.len(), 1);
    // A second exec with its own audit ID counts again.
    let mut again = started.clone();
    again.audit_id = "y".into();
    assert!(activity.record(&again).is_some());
    assert_eq!(activity.total.requests, 2);
}

#[test]
fn a_completion_without_a_start_is_counted() {
    let mut activity = SessionActivity::new("g1");
    let mut panic = request("p", "list", "pods", None);
    panic.stage = Stage::Panic;
    activity.record(&panic);
    assert_eq!(activity.total.requests, 1);
    assert_eq!(activity.first_at, Some(t0()));
}

#[test]
fn a_reply_takes_away_only_what_it_posted() {
    let mut activity = SessionActivity::new("g1");
    activity.record(&request("1", "get", "pods", None));
    activity.record(&named(
        request("2", "get", "secrets", Some("payments")),
        "db",
    ));
    assert_eq!(activity.reply_due(), Some(DateTime::<Utc>::MIN_UTC));
    let posted = activity.unposted.clone();
    // Arrives while the reply is being posted.
    activity.record(&request("3", "get", "pods", None));
    activity.replied(&posted, t0());
    assert_eq!(activity.unposted.requests, 1);
    assert_eq!(activity.unposted.by_action.get("get pods"), Some(&1));
    assert!(activity.unposted.notable.is_empty());
    assert_eq!(activity.total.requests, 3);
    assert_eq!(activity.reply_due(), Some(t0() + Duration::minutes(1)));
}

#[test]
fn nothing_is_due_without_activity_or_after_the_summary() {
    let mut activity = SessionActivity::new("g1");
    assert_eq!(activity.reply_due(), None);
    activity.record(&request("1", "get", "pods", None));
    activity.summary_posted(t0(), EndReport::default());
    assert_eq!(activity.reply_due(), None);
    assert!(activity.summarised);
    assert_eq!(activity.total.requests, 1);
}

#[test]
fn notable_actions_past_the_cap_are_counted_not_kept() {
    let mut activity = SessionActivity::new("g1");
    for i in 0..(MAX_NOTABLE + 5) {
        activity.record(&named(
            request(&i.to_string(), "get", "secrets", Some("p")),
            "s",
        ));
    }
    assert_eq!(activity.total.notable.len(), MAX_NOTABLE);
    assert_eq!(activity.total.notable_dropped, 5);
    assert_eq!(activity.total.requests, (MAX_NOTABLE + 5) as u64);
}

/// A request made after the access ended, and ones impersonating a user, the kind each is
/// and how the templates say it.
pub(crate) fn late_and_impersonating_cases() -> Vec<(KubeRequest, Notable, &'static str)> {
    let mut late = named(request("1", "get", "pods", Some("payments")), "api");
    late.after_end = true;
    let mut as_bob = request("2", "list", "pods", Some("payments"));
    as_bob.impersonating = Some("oidc:bob@example.com".into());
    let mut exec_as_bob = named(request("3", "create", "pods/exec", Some("payments")), "api");
    exec_as_bob.impersonating = Some("oidc:bob@example.com".into());
    vec![
        (
            late,
            Notable::AfterEnd,
            "after the access ended, still allowed: get pods api in payments",
        ),
        (
            as_bob,
            Notable::Impersonation,
            "list pods in payments as oidc:bob@example.com",
        ),
        (
            exec_as_bob,
            Notable::Exec,
            "exec into payments/api as oidc:bob@example.com",
        ),
    ]
}

#[test]
fn after_the_end_and_impersonation_are_notable() {
    for (request, kind, _) in late_and_impersonating_cases() {
        assert_eq!(request.notable(), Some(kind), "{request:?}");
    }
}

#[test]
fn paths_are_counted_by_their_first_two_segments_and_kinds_are_capped() {
    let mut discovery = request("1", "get", "", None);
    discovery.uri = "/apis/metrics.k8s.io/v1beta1?timeout=32s".into();
    assert_eq!(discovery.action(), "get /apis/metrics.k8s.io");
    let mut activity = SessionActivity::new("g1");
    for i in 0..(MAX_ACTIONS + 50) {
        let mut r = request(&i.to_string(), "get", "", None);
        r.uri = format!("/apis/group{i}.example.com/v1");
        activity.record(&r);
    }
    assert_eq!(activity.total.by_action.len(), MAX_ACTIONS + 1);
    assert_eq!(activity.total.by_action.get("other requests"), Some(&50));
}
