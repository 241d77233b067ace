//! deploy/monitoring: the alerts and the dashboard ask only for metrics the bot exports, by the
//! names it exports them under, and the ServiceMonitor scrapes the Service's port. (The alerts'
//! own behaviour is tested by promtool: deploy/monitoring/tests.yaml, run by
//! deploy/monitoring/check in CI.)

use std::collections::BTreeSet;

use prod_access::domain::audit::{AuditEvent, AuditKind};
use prod_access::metrics::{Format, Metrics, StoreReading};
use serde_json::Value;

fn yaml(path: &str) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every series name a scrape can hold: each family's name, and a histogram's `_bucket`,
/// `_sum` and `_count`.
fn exported() -> BTreeSet<String> {
    // A family shows in a scrape once it has a sample: give each one.
    let metrics = Metrics::new();
    let now = chrono::Utc::now();
    metrics.written(&[AuditEvent::standalone(
        AuditKind::DriftRepaired,
        String::new(),
        now,
    )]);
    let second = chrono::Duration::seconds(1);
    metrics.decided("edit", "default", second);
    metrics.bound("edit", "default", second);
    metrics.revoked("edit", "default", second);
    metrics.effect_failed("unbind");
    metrics.chat_failed("refused");
    metrics.effect_given_up("bind");
    let took = std::time::Duration::from_millis(5);
    metrics.kubernetes_call("default", "bind", "ok", took);
    metrics.chat_call("post", "ok", took);
    metrics.store_call("get", "ok", took);
    metrics.read_store(&StoreReading {
        open: [(("active", "edit".to_string(), "default".to_string()), 1)].into(),
        webhook_backlog: Some((0, 0)),
        ..StoreReading::default()
    });
    let text = metrics.encode(Format::PrometheusText);
    let mut names = BTreeSet::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut words = line.split_whitespace();
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        names.insert(name.to_string());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

/// The `prod_access_*` and `process_*` names an expression uses.
fn used(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("prod_access_") || w.starts_with("process_"))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_alert_and_every_panel_asks_for_a_metric_the_bot_exports() {
    let exported = exported();
    for name in [
        "prod_access_audit_events_total",
        "process_cpu_seconds_total",
    ] {
        assert!(exported.contains(name), "{name} in {exported:?}");
    }
    let rule = yaml("deploy/monitoring/prometheusrule.yaml");
    let mut exprs: Vec<String> = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["expr"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(exprs.len(), 8, "the eight alerts of README's Monitoring");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string("deploy/monitoring/dashboard.json").unwrap())
            .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    for expr in &exprs {
        for name in used(expr) {
            assert!(
                exported.contains(&name),
                "{name} (in `{expr}`) is not exported"
            );
        }
    }
}

#[test]
fn the_service_monitor_scrapes_the_services_named_port() {
    let monitor = yaml("deploy/monitoring/servicemonitor.yaml");
    let service = yaml("deploy/base/service.yaml");
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["path"], "/metrics");
    assert_eq!(endpoint["port"], service["spec"]["ports"][0]["name"]);
    assert_eq!(
        monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"], "prod-access",
        "the label deploy/base/kustomization.yaml puts on the Service"
    );
}
