//! A request for a namespace no grant may reach is answered with why, on both platforms and in
//! Slack's request form.

use crate::templates::*;

fn policy() -> Policy {
    serde_saphyr::from_str(
        "approvers: [UBOB]\nroles: {edit: {cluster_role: edit, namespaces: ['*'], max_duration: 4h}}",
    )
    .unwrap()
}

fn refusal() -> RequestRefusal {
    RequestRefusal::NamespaceNeverGranted {
        role: "edit".into(),
        namespace: "kube-system".into(),
    }
}

#[test]
fn slack_says_the_namespace_is_never_granted() {
    let templates = Templates::for_platform(Platform::Slack).unwrap();
    let message = templates.policy_refused(&refusal(), &policy()).unwrap();
    assert!(
        message.text().contains(
            "`kube-system` is never granted, by any role: the platform team keeps it out of \
             reach of prod-access. Nothing was requested."
        ),
        "{}",
        message.text()
    );
}

#[test]
fn teams_says_the_namespace_is_never_granted() {
    let templates = Templates::for_platform(Platform::Teams).unwrap();
    let message = templates.policy_refused(&refusal(), &policy()).unwrap();
    let card = message.0.to_string();
    assert!(
        card.contains(
            "**kube-system** is never granted, by any role: the platform team keeps it out of \
             reach of prod-access. Nothing was requested."
        ),
        "{card}"
    );
}

#[test]
fn the_request_form_marks_the_namespace_field() {
    let templates = Templates::for_platform(Platform::Slack).unwrap();
    let (block, text) = templates
        .form_error(&FormProblem::Policy(refusal()))
        .unwrap();
    assert_eq!(
        (block.as_str(), text.as_str()),
        ("namespace", "kube-system is never granted, by any role")
    );
}
