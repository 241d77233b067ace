use super::*;
use crate::domain::testing::pagerduty_schedule;

#[test]
fn a_place_is_stored_with_its_kind_and_a_place_stored_as_words_still_loads() {
    let place = pagerduty_schedule("PSCHED", "Primary");
    let stored = serde_json::to_value(OnCallCheck::OnCall { via: place.clone() }).unwrap();
    assert_eq!(
        stored,
        serde_json::json!({
            "outcome": "on_call",
            "via": { "kind": "schedule", "provider": "pagerduty", "id": "PSCHED", "name": "Primary" },
        })
    );
    assert_eq!(
        serde_json::from_value::<OnCallCheck>(stored).unwrap(),
        OnCallCheck::OnCall { via: place }
    );

    let before = r#"{"outcome":"on_call","via":"PagerDuty schedule Primary (PSCHED)"}"#;
    assert_eq!(
        serde_json::from_str::<OnCallCheck>(before).unwrap(),
        OnCallCheck::OnCall {
            via: OnCallPlace::Said("PagerDuty schedule Primary (PSCHED)".into())
        }
    );
}

#[test]
fn a_places_key_names_it_by_ids_which_do_not_change() {
    let policy = OnCallPlace::EscalationPolicy {
        provider: OnCallProvider::Pagerduty,
        id: "PESC".into(),
        name: Some("Payments".into()),
        level: 1,
    };
    let opsgenie = OnCallPlace::Schedule {
        provider: OnCallProvider::Opsgenie,
        id: "Orders On-Call".into(),
        name: None,
    };
    let cases = [
        (
            pagerduty_schedule("PSCHED", "Primary"),
            "pagerduty/schedule/PSCHED",
        ),
        (policy, "pagerduty/escalation_policy/PESC/level/1"),
        (opsgenie, "opsgenie/schedule/Orders On-Call"),
        (
            OnCallPlace::Provider {
                provider: OnCallProvider::Pagerduty,
            },
            "pagerduty",
        ),
        (OnCallPlace::Said("PagerDuty".into()), "PagerDuty"),
    ];
    for (place, key) in cases {
        assert_eq!(place.key(), key);
    }
}
