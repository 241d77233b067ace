//! After the end, told on Slack and Teams: the session summary says whether each object the
//! grant left behind still exists, and approvers act on what the end did not end. One marks a
//! leftover reviewed, one has the bot delete another or restart the pod a shell is still open
//! into; each is recorded with who did it, and the requester cannot clear their own.

use crate::support;

use chrono::{DateTime, Duration, Utc};
use prod_access::clock::Clock;
use prod_access::domain::activity::ObjectRef;
use serde_json::json;
use support::driver::*;
use support::session_activity::*;

/// alice's grant of edit, during which she opens a shell into payments/api-7f9c and leaves it
/// open, and creates a ServiceAccount with a token and a binding for it; the ServiceAccount is
/// still there at the end, the binding is gone. Returns the grant once its summary is out.
pub(crate) async fn a_grant_that_left_things_behind<D: Driver>(d: &D) -> String {
    left_things_behind(d, true).await
}

/// As `a_grant_that_left_things_behind`, the shell's pod owned by a ReplicaSet or bare.
async fn left_things_behind<D: Driver>(d: &D, pod_owned: bool) -> String {
    let grant = d.approved_grant("edit payments 1h INC-9 queue fix").await;
    let at = d.clock().now() + Duration::minutes(5);
    d.move_clock_to(at);
    // The shell's pod, as its ReplicaSet made it: restarted, it is made again.
    let pod = ObjectRef::of("pods", Some("payments"), "api-7f9c").unwrap();
    let owner = json!({ "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-5d4b",
        "uid": "rs-1", "controller": true, "blockOwnerDeletion": true });
    let owners = if pod_owned { vec![owner] } else { Vec::new() };
    let metadata = json!({ "metadata": { "ownerReferences": owners } });
    d.kube().put_object_with(&pod, metadata);
    let account = ObjectRef::of("serviceaccounts", Some("payments"), "deployer").unwrap();
    d.kube().put_object(&account);
    shell_left_open(d, at).await;
    d.send_audit(&[
        by_alice("create", "serviceaccounts", at).named("deployer"),
        by_alice("create", "serviceaccounts/token", at).named("deployer"),
        by_alice("create", "rolebindings", at).named("deployer-edit"),
    ])
    .await;
    d.move_clock_to(at + Duration::hours(1));
    d.audit_says(&grant, "expired and was removed").await;
    d.move_clock_to(at + Duration::hours(2));
    d.reply_says(&grant, "Session summary").await;
    // Posted in the audit channel once the summary is recorded: only then can it be acted on.
    d.audit_says(&grant, "Left behind").await;
    grant
}

/// alice's exec into payments/api-7f9c: its response started, it never completed.
async fn shell_left_open<D: Driver>(d: &D, at: DateTime<Utc>) {
    let exec = by_alice("create", "pods/exec", at).named("api-7f9c");
    let mut started = exec.clone();
    started.code = 101;
    d.send_audit_events(vec![
        exec.event("RequestReceived"),
        started.event("ResponseStarted"),
    ])
    .await;
}

/// The item of `action` on the summary whose audit ID `d.cleanup_buttons` gives, found by the
/// order the summary lists them: the shell, then the token, the binding, the ServiceAccount.
fn item<D: Driver>(d: &D, grant: &str, action: &str, nth: usize) -> String {
    let buttons = d.cleanup_buttons(grant);
    let of_action: Vec<&(String, String)> = buttons.iter().filter(|(a, _)| a == action).collect();
    of_action
        .get(nth)
        .unwrap_or_else(|| panic!("no {nth}th {action} button: {buttons:?}"))
        .1
        .clone()
}

async fn approvers_restart_the_pod_of_a_shell_still_open_and_it_is_recorded<D: Driver>(mut d: D) {
    let grant = a_grant_that_left_things_behind(&d).await;
    let (summary, _) = d.summary(&grant).unwrap();
    assert!(summary.contains("exec into payments/api-7f9c"), "{summary}");
    let shell = item(&d, &grant, "restart_pod", 0);
    // alice cannot end what her own access left; mallory approves nothing.
    let own = d
        .refused_cleanup(Alice, "restart_pod", &grant, &shell)
        .await;
    assert!(own.contains("your own access"), "{own}");
    let outsider = d
        .refused_cleanup(Mallory, "restart_pod", &grant, &shell)
        .await;
    assert!(outsider.contains("Only an approver"), "{outsider}");
    let pod = ObjectRef::of("pods", Some("payments"), "api-7f9c").unwrap();
    assert!(d.kube().object_exists(&pod), "nothing done on a refusal");

    let after = d.cleans_up(Bob, "restart_pod", &grant, &shell).await;
    assert!(!d.kube().object_exists(&pod), "the pod is deleted");
    // That pod and no other of its name, its dependents in the background.
    let (path, options) = d.kube().deletions().pop().expect("a delete");
    assert_eq!(path, pod.path());
    assert_eq!(options["propagationPolicy"], "Background", "{options}");
    assert!(options["preconditions"]["uid"].is_string(), "{options}");
    assert!(after.contains("pod restarted by"), "{after}");
    let again = d
        .refused_cleanup(Carol, "restart_pod", &grant, &shell)
        .await;
    assert!(again.contains("already restarted"), "{again}");
    let status = d.status_text(&grant).await;
    assert!(status.contains("of 4 still to be reviewed"), "{status}");
    d.settle().await;
    let log = d.stopped_audit_log().await;
    let restarted: Vec<_> = log
        .iter()
        .filter(|e| e.event.kind.as_str() == "pod_restarted")
        .collect();
    assert_eq!(restarted.len(), 1, "recorded once");
    let entry = &restarted[0].event;
    assert_eq!(
        entry.actor.as_ref().map(|a| a.user.as_str()),
        Some(d.recorded_as(Bob).as_str())
    );
    let detail = entry.detail.as_deref().unwrap_or_default();
    assert!(
        detail.starts_with("restarted (deleted) pod payments/api-7f9c, ending the exec"),
        "{detail}"
    );
}

async fn leftovers_say_whether_they_still_exist_and_approvers_review_or_delete_each<D: Driver>(
    mut d: D,
) {
    let grant = a_grant_that_left_things_behind(&d).await;
    let (summary, _) = d.summary(&grant).unwrap();
    for phrase in [
        "token for ServiceAccount payments/deployer (create serviceaccounts/token, still there)",
        "binding payments/deployer-edit (create rolebindings, gone)",
        "ServiceAccount payments/deployer (create serviceaccounts, still there)",
    ] {
        assert!(summary.contains(phrase), "{phrase}: {summary}");
    }
    // Delete is offered for what still exists and is not a token: the ServiceAccount only.
    let deletable: Vec<String> = (d.cleanup_buttons(&grant).into_iter())
        .filter(|(action, _)| action == "delete_leftover")
        .map(|(_, item)| item)
        .collect();
    assert_eq!(deletable.len(), 1, "{:?}", d.cleanup_buttons(&grant));
    let token = item(&d, &grant, "mark_reviewed", 0);
    let reviewed = d.cleans_up(Carol, "mark_reviewed", &grant, &token).await;
    assert!(reviewed.contains("marked reviewed by"), "{reviewed}");
    let account = ObjectRef::of("serviceaccounts", Some("payments"), "deployer").unwrap();
    let deleted = d
        .cleans_up(Bob, "delete_leftover", &grant, &deletable[0])
        .await;
    assert!(deleted.contains("deleted by"), "{deleted}");
    assert!(!d.kube().object_exists(&account));
    d.settle().await;
    let log = d.stopped_audit_log().await;
    let kinds: Vec<&str> = log.iter().map(|e| e.event.kind.as_str()).collect();
    assert!(kinds.contains(&"leftover_reviewed"), "{kinds:?}");
    let deletion = log
        .iter()
        .find(|e| e.event.kind.as_str() == "leftover_deleted")
        .expect("a leftover_deleted entry");
    assert_eq!(
        deletion.event.detail.as_deref(),
        Some("deleted ServiceAccount payments/deployer (create serviceaccounts, still there)")
    );
    let leftovers = log
        .iter()
        .find(|e| e.event.kind.as_str() == "leftovers")
        .unwrap();
    let listed = leftovers.event.detail.as_deref().unwrap_or_default();
    assert!(
        listed.contains("deployer-edit (create rolebindings, gone)"),
        "{listed}"
    );
}

async fn without_the_rights_the_bot_offers_no_restart_and_says_how_to_end_it<D: Driver>(d: D) {
    // The bot was not given `delete pods`: the summary gives the command instead.
    d.kube().deny_permission("delete", "pods", "");
    let grant = a_grant_that_left_things_behind(&d).await;
    let buttons = d.cleanup_buttons(&grant);
    assert!(
        !buttons.iter().any(|(a, _)| a == "restart_pod"),
        "{buttons:?}"
    );
    let (summary, _) = d.summary(&grant).unwrap();
    assert!(
        summary.contains("kubectl delete pod api-7f9c -n payments"),
        "{summary}"
    );
    let shell = d
        .refused_cleanup(Bob, "restart_pod", &grant, "no-such-item")
        .await;
    assert!(shell.contains("no such item"), "{shell}");
}

async fn a_shell_into_a_pod_no_controller_owns_is_not_offered_a_restart<D: Driver>(d: D) {
    // Deleting a bare pod would not restart it: it would be gone for good.
    let grant = left_things_behind(&d, false).await;
    let buttons = d.cleanup_buttons(&grant);
    assert!(
        !buttons.iter().any(|(a, _)| a == "restart_pod"),
        "{buttons:?}"
    );
    let (summary, _) = d.summary(&grant).unwrap();
    assert!(
        summary.contains("kubectl delete pod api-7f9c -n payments"),
        "{summary}"
    );
}

crate::on_both_platforms!(
    a_shell_into_a_pod_no_controller_owns_is_not_offered_a_restart,
    approvers_restart_the_pod_of_a_shell_still_open_and_it_is_recorded,
    leftovers_say_whether_they_still_exist_and_approvers_review_or_delete_each,
    without_the_rights_the_bot_offers_no_restart_and_says_how_to_end_it,
);

mod a_break_glass_review_shows_what_the_end_left_and_what_approvers_did_about_it {
    use super::a_break_glass_review_shows_what_the_end_left_and_what_approvers_did_about_it as story;
    use crate::support::{Harness, TeamsHarness};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slack() {
        story(Harness::start_for_incidents().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn teams() {
        story(TeamsHarness::start().await).await;
    }
}

async fn a_break_glass_review_shows_what_the_end_left_and_what_approvers_did_about_it<D: Driver>(
    d: D,
) {
    d.asks_in(
        Alice,
        Channel::Incident,
        "emergency payments 30m INC-9 database down",
    )
    .await;
    let grant = d.next_request().await;
    d.clicks(Alice, "approve", &grant).await;
    d.audit_says(&grant, "Access granted").await;
    let at = d.clock().now() + Duration::minutes(5);
    d.move_clock_to(at);
    d.send_audit(&[by_alice("create", "serviceaccounts", at).named("fixer")])
        .await;
    d.move_clock_to(at + Duration::minutes(30));
    d.audit_says(&grant, "Post-incident review").await;
    d.move_clock_to(at + Duration::hours(1));
    d.reply_says(&grant, "Session summary").await;
    // Posted in the audit channel once the summary is recorded: only then can it be acted on.
    d.audit_says(&grant, "Left behind").await;
    let review = d.review_shows(&grant, "What the end did not end").await;
    assert!(
        review.contains("ServiceAccount payments/fixer (create serviceaccounts, gone)")
            && review.contains("1 of 1 still to be handled"),
        "{review}"
    );
    let left = item(&d, &grant, "mark_reviewed", 0);
    d.cleans_up(Bob, "mark_reviewed", &grant, &left).await;
    d.review_shows(&grant, "Approvers handled all 1").await;
    // The next digest still asks for the break-glass review, but no longer lists the
    // ServiceAccount among the ends not proven: an approver handled it.
    d.clock().advance(Duration::days(1));
    let digest = d.audit_says(&grant, "Access digest").await;
    assert!(digest.contains("Break-glass uses not reviewed"), "{digest}");
    assert!(!digest.contains("not proven ended"), "{digest}");
}
