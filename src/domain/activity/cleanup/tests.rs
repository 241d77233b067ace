//! The end report's cleanups: who may act, on what, and once.

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
    }
}

#[test]
fn a_leftover_is_marked_reviewed_once_and_then_names_who_did_it() {
    let mut report = report();
    assert_eq!(report.open_items(), 2);
    let done = report.record("crb-1", by("U_BOB", Cleanup::Reviewed));
    assert!(matches!(done, Ok(Item::Leftover(_))));
    assert_eq!(report.open_items(), 1);
    assert_eq!(
        report.record("crb-1", by("U_CAROL", Cleanup::Reviewed)),
        Err(CleanupRefusal::AlreadyHandled(by(
            "U_BOB",
            Cleanup::Reviewed
        )))
    );
}

#[test]
fn delete_and_restart_are_refused_unless_offered() {
    let mut report = report();
    assert_eq!(
        report.target("crb-1", Cleanup::Deleted),
        Err(CleanupRefusal::NotOffered)
    );
    assert_eq!(
        report.target("exec-1", Cleanup::Restarted),
        Err(CleanupRefusal::NotOffered)
    );
    report.leftovers[0].deletable = true;
    report.streams[0].restartable = true;
    assert!(
        report
            .record("crb-1", by("U_BOB", Cleanup::Deleted))
            .is_ok()
    );
    assert!(
        report
            .record("exec-1", by("U_BOB", Cleanup::Restarted))
            .is_ok()
    );
    assert_eq!(report.open_items(), 0);
}

#[test]
fn an_item_is_found_only_by_what_it_is() {
    let report = report();
    // A stream is restarted, not reviewed; a leftover is not restarted.
    assert_eq!(
        report.target("exec-1", Cleanup::Reviewed),
        Err(CleanupRefusal::NoSuchItem)
    );
    assert_eq!(
        report.target("crb-1", Cleanup::Restarted),
        Err(CleanupRefusal::NoSuchItem)
    );
    assert_eq!(
        report.target("nope", Cleanup::Reviewed),
        Err(CleanupRefusal::NoSuchItem)
    );
}

#[test]
fn before_the_summary_there_is_nothing_to_clean_up() {
    let mut record = exec_still_open("exec-1");
    assert_eq!(
        record.record_cleanup("exec-1", by("U_BOB", Cleanup::Restarted)),
        Err(CleanupRefusal::NoSuchItem)
    );
    record.summary_posted(t0(), report());
    record.end_report.as_mut().unwrap().streams[0].restartable = true;
    assert!(
        record
            .record_cleanup("exec-1", by("U_BOB", Cleanup::Restarted))
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
fn a_report_as_stored_reads_back_the_same() {
    let mut report = report();
    report.leftovers[0].handled = Some(by("U_BOB", Cleanup::Reviewed));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["leftovers"][0]["kind"], "binding", "flattened");
    assert_eq!(json["leftovers"][0]["handled"]["how"], "reviewed");
    assert_eq!(serde_json::from_value::<EndReport>(json).unwrap(), report);
}
