//! The end report's cleanups: who may act, on what, in which steps, and once.

use super::*;
use crate::domain::activity::tests::{named, request};
use crate::domain::activity::{Leftover, Stage};
use crate::domain::testing::{example_policy, t0};

fn leftover(id: &str) -> ReportedLeftover {
    let made = named(
        request(id, "create", "clusterrolebindings", None),
        "backdoor",
    );
    ReportedLeftover {
        leftover: Leftover::of(&made).unwrap(),
        exists: Some(true),
        deletable: false,
        uid: None,
        handled: None,
    }
}

fn exec_still_open(id: &str) -> SessionActivity {
    let mut record = SessionActivity::new("g1");
    let mut exec = named(
        request(id, "create", "pods/exec", Some("payments")),
        "api-7f9c",
    );
    exec.stage = Stage::ResponseStarted;
    record.record(&exec);
    record
}

/// The shell (`s0`) and the binding (`l0`).
fn report() -> EndReport {
    let record = exec_still_open("exec-1");
    EndReport {
        streams: EndReport::unchecked(&record).streams,
        leftovers: vec![leftover("crb-1")],
    }
}

fn by(user: &str, how: Cleanup) -> Handled {
    Handled {
        by: user.into(),
        at: t0(),
        how,
        pending: false,
    }
}

fn claim(user: &str, how: Cleanup) -> CleanupStep {
    CleanupStep::Claim(by(user, how))
}

fn claim_pending(user: &str, how: Cleanup) -> CleanupStep {
    CleanupStep::Claim(Handled {
        pending: true,
        ..by(user, how)
    })
}

#[test]
fn a_leftover_is_marked_reviewed_once_and_then_names_who_did_it() {
    let mut report = report();
    assert_eq!(report.open_items(), 2);
    let done = report.step("l0", &claim("U_BOB", Cleanup::Reviewed));
    assert!(matches!(done, Ok(Item::Leftover(_))));
    assert_eq!(report.open_items(), 1);
    assert_eq!(
        report.step("l0", &claim("U_CAROL", Cleanup::Reviewed)),
        Err(CleanupRefusal::AlreadyHandled(by(
            "U_BOB",
            Cleanup::Reviewed
        )))
    );
}

#[test]
fn delete_and_restart_are_claimed_first_and_refused_unless_offered() {
    let mut report = report();
    assert_eq!(
        report.target("l0", Cleanup::Deleted),
        Err(CleanupRefusal::NotOffered)
    );
    assert_eq!(
        report.target("s0", Cleanup::Restarted),
        Err(CleanupRefusal::NotOffered)
    );
    report.leftovers[0].deletable = true;
    report.streams[0].restartable = true;
    assert!(
        report
            .step("l0", &claim_pending("U_BOB", Cleanup::Deleted))
            .is_ok()
    );
    assert!(
        report
            .step("s0", &claim_pending("U_BOB", Cleanup::Restarted))
            .is_ok()
    );
    assert_eq!(report.open_items(), 2, "claimed, not done yet");
    assert!(
        report
            .step("l0", &CleanupStep::Finish(Cleanup::Deleted))
            .is_ok()
    );
    assert!(
        report
            .step("s0", &CleanupStep::Finish(Cleanup::Restarted))
            .is_ok()
    );
    assert_eq!(report.open_items(), 0);
}

#[test]
fn an_item_is_found_only_by_its_key_and_what_it_is() {
    let report = report();
    // A stream is restarted, not reviewed; a leftover is not restarted.
    assert_eq!(
        report.target("s0", Cleanup::Reviewed),
        Err(CleanupRefusal::NoSuchItem)
    );
    assert_eq!(
        report.target("l0", Cleanup::Restarted),
        Err(CleanupRefusal::NoSuchItem)
    );
    // Keys are the bot's own: an audit ID names nothing, nor does a key past the end.
    for key in ["crb-1", "l1", "l", "", "l-1", "x0"] {
        assert_eq!(
            report.target(key, Cleanup::Reviewed),
            Err(CleanupRefusal::NoSuchItem),
            "{key}"
        );
    }
}

#[test]
fn a_claim_left_pending_by_a_run_that_stopped_is_taken_over_by_the_next_click_for_it() {
    let mut report = report();
    report.leftovers[0].deletable = true;
    report
        .step("l0", &claim_pending("U_BOB", Cleanup::Deleted))
        .unwrap();
    // bob's run stopped after the claim. A review meanwhile may not; carol's Delete takes over.
    let pending = Handled {
        pending: true,
        ..by("U_BOB", Cleanup::Deleted)
    };
    assert_eq!(
        report.step("l0", &claim("U_CAROL", Cleanup::Reviewed)),
        Err(CleanupRefusal::AlreadyHandled(pending))
    );
    assert!(
        report
            .step("l0", &claim_pending("U_CAROL", Cleanup::Deleted))
            .is_ok()
    );
    report
        .step("l0", &CleanupStep::Finish(Cleanup::Deleted))
        .unwrap();
    assert_eq!(
        report.leftovers[0].handled,
        Some(by("U_CAROL", Cleanup::Deleted))
    );
    // A release applies only to a pending claim.
    assert!(
        report
            .step("l0", &CleanupStep::Release(Cleanup::Deleted))
            .is_err()
    );
}

#[test]
fn a_released_claim_opens_the_item_again() {
    let mut report = report();
    report.streams[0].restartable = true;
    report
        .step("s0", &claim_pending("U_BOB", Cleanup::Restarted))
        .unwrap();
    report
        .step("s0", &CleanupStep::Release(Cleanup::Restarted))
        .unwrap();
    assert_eq!(report.streams[0].handled, None);
    assert!(report.target("s0", Cleanup::Restarted).is_ok());
}

#[test]
fn before_the_summary_there_is_nothing_to_clean_up() {
    let mut record = exec_still_open("exec-1");
    assert_eq!(
        record.clean_up("s0", &claim_pending("U_BOB", Cleanup::Restarted)),
        Err(CleanupRefusal::NoSuchItem)
    );
    record.summary_posted(t0(), report());
    record.end_report.as_mut().unwrap().streams[0].restartable = true;
    assert!(
        record
            .clean_up("s0", &claim_pending("U_BOB", Cleanup::Restarted))
            .is_ok()
    );
}

#[test]
fn the_first_report_stands_when_the_summary_is_recorded_again() {
    let mut record = exec_still_open("exec-1");
    record.summary_posted(t0(), report());
    record.summary_posted(t0(), EndReport::default());
    assert_eq!(record.end_report, Some(report()));
}

#[test]
fn only_an_approver_other_than_the_requester_may_clean_up() {
    let policy = example_policy();
    let grant = Grant::test().requested();
    let approver = policy.approvers_for("edit")[0].clone();
    assert_eq!(may_clean_up(&grant, &approver, &policy), Ok(()));
    assert_eq!(
        may_clean_up(&grant, "UALICE", &policy),
        Err(CleanupRefusal::OwnGrant)
    );
    assert_eq!(
        may_clean_up(&grant, "U_MALLORY", &policy),
        Err(CleanupRefusal::NotAnApprover)
    );
}

#[test]
fn only_what_the_subject_created_may_be_deleted_and_never_a_token_or_secret() {
    let made = |verb: &str, resource: &str| {
        let request = named(request("1", verb, resource, Some("payments")), "x");
        Leftover::of(&request).unwrap()
    };
    assert!(made("create", "deployments").deletable().is_some());
    assert!(made("create", "rolebindings").deletable().is_some());
    // Changed only: it was there before the grant, and may be production's own.
    assert!(made("patch", "deployments").deletable().is_none());
    assert!(made("update", "rolebindings").deletable().is_none());
    assert!(made("create", "secrets").deletable().is_none());
    assert!(
        made("create", "serviceaccounts/token")
            .deletable()
            .is_none()
    );
}

#[test]
fn a_report_as_stored_reads_back_the_same() {
    let mut report = report();
    report.leftovers[0].handled = Some(by("U_BOB", Cleanup::Reviewed));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["leftovers"][0]["kind"], "binding", "flattened");
    assert_eq!(json["leftovers"][0]["handled"]["how"], "reviewed");
    assert!(json["leftovers"][0]["handled"].get("pending").is_none());
    assert_eq!(serde_json::from_value::<EndReport>(json).unwrap(), report);
}
