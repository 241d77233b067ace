//! The metrics as text: what each recording moves, and nothing about a person.

use super::*;
use crate::domain::audit::AuditKind;
use crate::domain::testing::t0;

fn line_of<'a>(text: &'a str, start: &str) -> Option<&'a str> {
    text.lines().find(|l| l.starts_with(start))
}

fn granted() -> AuditEvent {
    let grant = crate::domain::grant::Grant::test()
        .id("g1")
        .reason("INC-1 alice's secret reason")
        .requested();
    AuditEvent::about(&grant, AuditKind::Granted, Some("UALICE"), t0())
}

#[test]
fn audit_entries_are_counted_by_kind_role_and_cluster_and_nothing_personal() {
    let metrics = Metrics::new();
    metrics.written(&[granted(), granted()]);
    let text = metrics.encode(Format::OpenMetrics);
    let line = line_of(&text, "prod_access_audit_events_total{").unwrap();
    assert!(line.contains("kind=\"granted\""), "{line}");
    assert!(line.contains("role=\"edit\""), "{line}");
    assert!(line.contains("cluster=\"default\""), "{line}");
    assert!(line.ends_with(" 2"), "{line}");
    for personal in ["g1", "UALICE", "secret", "INC-1"] {
        assert!(!text.contains(personal), "{personal} in:\n{text}");
    }
}

#[test]
fn durations_land_in_their_histograms_in_seconds() {
    let metrics = Metrics::new();
    metrics.revoked("edit", "default", chrono::Duration::milliseconds(120));
    metrics.decided("edit", "default", chrono::Duration::minutes(3));
    let text = metrics.encode(Format::OpenMetrics);
    let sum = line_of(&text, "prod_access_revocation_lag_seconds_sum{").unwrap();
    assert!(sum.ends_with(" 0.12"), "{sum}");
    let within = text
        .lines()
        .find(|l| {
            l.starts_with("prod_access_revocation_lag_seconds_bucket{")
                && l.contains("le=\"0.125\"")
        })
        .unwrap();
    assert!(within.ends_with(" 1"), "{within}");
    let decided = line_of(&text, "prod_access_decision_seconds_sum{").unwrap();
    assert!(decided.ends_with(" 180.0"), "{decided}");
}

#[test]
fn the_build_is_named_and_the_text_ends_as_openmetrics_requires() {
    let text = Metrics::new().encode(Format::OpenMetrics);
    assert!(text.contains("prod_access_build_info{version=\""), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn prometheus_asks_for_openmetrics_and_everything_else_gets_the_classic_text() {
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    assert_eq!(Format::accepted(Some(prometheus)), Format::OpenMetrics);
    assert_eq!(Format::accepted(Some("*/*")), Format::PrometheusText);
    assert_eq!(Format::accepted(None), Format::PrometheusText);
    let metrics = Metrics::new();
    metrics.written(&[granted()]);
    let classic = metrics.encode(Format::PrometheusText);
    assert!(
        classic.contains("# TYPE prod_access_audit_events_total counter"),
        "{classic}"
    );
    assert!(!classic.contains("# EOF"), "{classic}");
}

#[test]
fn metrics_switched_off_record_nothing() {
    let metrics = Metrics::off();
    assert!(!metrics.is_on());
    metrics.written(&[granted()]);
    metrics.revoked("edit", "default", chrono::Duration::seconds(1));
    let text = metrics.encode(Format::PrometheusText);
    assert!(!text.contains("prod_access_audit_events_total{"), "{text}");
    assert!(
        !text.contains("prod_access_revocation_lag_seconds_bucket{"),
        "{text}"
    );
}
