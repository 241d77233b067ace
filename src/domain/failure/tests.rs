//! Failures: their kinds, and reasons stored by older versions as plain text still load.

use super::Failure;

#[test]
fn a_failure_stored_as_words_still_loads_as_them() {
    let old: Failure = serde_json::from_str(r#""forbidden: no bind permission""#).unwrap();
    assert_eq!(old, Failure::Said("forbidden: no bind permission".into()));
    assert_eq!(
        serde_json::to_string(&old).unwrap(),
        r#""forbidden: no bind permission""#
    );
}

#[test]
fn a_failure_with_a_kind_is_stored_with_its_particulars() {
    let gave_up = Failure::GaveUp {
        error: "503 Service Unavailable".into(),
        attempts: 6,
        waited_secs: 150,
    };
    let json = serde_json::to_value(&gave_up).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "kind": "gave_up", "error": "503 Service Unavailable", "attempts": 6, "waited_secs": 150
        })
    );
    assert_eq!(serde_json::from_value::<Failure>(json).unwrap(), gave_up);
    let none: Failure = serde_json::from_str(r#"{"kind":"no_subject_recorded"}"#).unwrap();
    assert_eq!(none, Failure::NoSubjectRecorded);
}
