//! Each rule of what counts as left behind, one by one, and what does not count.

use super::*;
use crate::domain::activity::Stage;
use crate::domain::testing::t0;

/// alice's request `verb` on `resource` (with `/subresource`), answered `code`.
fn request(verb: &str, resource: &str, code: u16) -> KubeRequest {
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(s.to_string())),
        None => (resource, None),
    };
    KubeRequest {
        audit_id: format!("{verb}-{resource}"),
        stage: Stage::ResponseComplete,
        at: t0(),
        verb: verb.into(),
        resource: Some(resource.into()),
        subresource,
        namespace: Some("payments".into()),
        name: Some("deployer".into()),
        code: Some(code),
        uri: String::new(),
        after_end: false,
        impersonating: None,
    }
}

fn found(verb: &str, resource: &str) -> Option<(LeftoverKind, Risk)> {
    Leftover::of(&request(verb, resource, 201)).map(|l| (l.kind, l.risk))
}

#[test]
fn a_token_for_a_service_account_is_high_risk() {
    assert_eq!(
        found("create", "serviceaccounts/token"),
        Some((LeftoverKind::Token, Risk::High))
    );
}

#[test]
fn a_binding_made_or_changed_is_high_risk() {
    for verb in ["create", "update", "patch"] {
        for resource in ["rolebindings", "clusterrolebindings"] {
            assert_eq!(
                found(verb, resource),
                Some((LeftoverKind::Binding, Risk::High)),
                "{verb} {resource}"
            );
        }
    }
}

#[test]
fn an_admission_webhook_is_high_risk() {
    for resource in [
        "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations",
    ] {
        assert_eq!(
            found("create", resource),
            Some((LeftoverKind::Webhook, Risk::High))
        );
    }
}

#[test]
fn a_certificate_signing_request_or_its_approval_is_high_risk() {
    let csr = Some((LeftoverKind::CertificateSigningRequest, Risk::High));
    assert_eq!(found("create", "certificatesigningrequests"), csr);
    assert_eq!(found("update", "certificatesigningrequests/approval"), csr);
}

#[test]
fn a_service_account_is_medium_risk_and_only_when_created() {
    assert_eq!(
        found("create", "serviceaccounts"),
        Some((LeftoverKind::ServiceAccount, Risk::Medium))
    );
    assert_eq!(found("patch", "serviceaccounts"), None);
}

#[test]
fn a_secret_written_is_medium_risk() {
    assert_eq!(
        found("create", "secrets"),
        Some((LeftoverKind::Secret, Risk::Medium))
    );
    assert_eq!(found("get", "secrets"), None, "reading is session activity");
}

#[test]
fn a_role_written_is_medium_risk() {
    for resource in ["roles", "clusterroles"] {
        assert_eq!(
            found("patch", resource),
            Some((LeftoverKind::Role, Risk::Medium))
        );
    }
}

#[test]
fn a_workload_made_or_changed_is_medium_risk_but_its_subresources_are_not_workloads() {
    for resource in [
        "cronjobs",
        "jobs",
        "deployments",
        "daemonsets",
        "statefulsets",
        "pods",
    ] {
        assert_eq!(
            found("create", resource),
            Some((LeftoverKind::Workload, Risk::Medium)),
            "{resource}"
        );
    }
    assert_eq!(found("patch", "deployments/scale"), None);
    assert_eq!(
        found("create", "pods/exec"),
        None,
        "a stream, not an object"
    );
    assert_eq!(
        found("delete", "deployments"),
        None,
        "deleting leaves nothing"
    );
}

#[test]
fn a_request_the_apiserver_refused_left_nothing() {
    for code in [403, 404, 409, 422, 500] {
        assert!(Leftover::of(&request("create", "rolebindings", code)).is_none());
    }
}

#[test]
fn each_object_is_kept_once_with_its_latest_change_and_high_risk_first() {
    let mut kept = Vec::new();
    let at = |request: KubeRequest, minutes| KubeRequest {
        at: t0() + chrono::Duration::minutes(minutes),
        ..request
    };
    for (verb, resource, minute) in [
        ("create", "serviceaccounts", 1),
        ("create", "deployments", 2),
        ("create", "rolebindings", 3),
        ("patch", "deployments", 4),
    ] {
        let leftover = Leftover::of(&at(request(verb, resource, 200), minute)).unwrap();
        keep(&mut kept, leftover);
    }
    let listed: Vec<(&str, &str)> = kept
        .iter()
        .map(|l| (l.verb.as_str(), l.resource.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("create", "rolebindings"),
            ("create", "serviceaccounts"),
            ("patch", "deployments")
        ]
    );
}

#[test]
fn a_flood_of_workload_changes_cannot_push_out_a_binding_made_after_them() {
    let mut kept = Vec::new();
    for n in 0..MAX_LEFTOVERS + 20 {
        let mut patch = request("patch", "deployments", 200);
        patch.name = Some(format!("worker-{n}"));
        keep(&mut kept, Leftover::of(&patch).unwrap());
    }
    assert_eq!(kept.len(), MAX_LEFTOVERS);
    let binding = Leftover::of(&request("create", "clusterrolebindings", 201)).unwrap();
    keep(&mut kept, binding);
    assert_eq!(kept.len(), MAX_LEFTOVERS);
    assert_eq!(
        kept[0].resource, "clusterrolebindings",
        "kept, and listed first"
    );
}
