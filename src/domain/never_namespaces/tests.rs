//! Namespaces no grant may ever reach (`never_namespaces`, `kube-system` always among them),
//! whatever a role's namespace patterns match.

use std::time::Duration;

use crate::domain::command::RequestArgs;
use crate::domain::grant::DEFAULT_CLUSTER;
use crate::domain::policy::{Policy, RequestRefusal};
use crate::domain::testing::{policy_from as policy, policy_problems as problems};

const ROLE: &str = "cluster_role: view, max_duration: 1h, approvers: [UBOB]";

fn ask(policy: &Policy, namespace: &str) -> Result<(), RequestRefusal> {
    let args = RequestArgs {
        role: "anywhere".into(),
        namespace: namespace.into(),
        duration: Some(Duration::from_secs(600)),
        reason: "INC-1".into(),
    };
    policy
        .evaluate(&args, &[DEFAULT_CLUSTER.to_string()])
        .map(|_| ())
}

fn refusal_kind(result: Result<(), RequestRefusal>) -> Option<&'static str> {
    result.err().map(|refusal| refusal.kind())
}

#[test]
fn kube_system_is_never_granted_even_where_a_roles_pattern_matches_it() {
    let everywhere = policy(&format!(
        "roles: {{anywhere: {{{ROLE}, namespaces: ['*']}}}}"
    ));
    assert_eq!(ask(&everywhere, "payments"), Ok(()));
    assert_eq!(
        refusal_kind(ask(&everywhere, "kube-system")),
        Some("namespace_never_granted")
    );
    assert_eq!(
        refusal_kind(ask(&everywhere, "payments,kube-system")),
        Some("namespace_never_granted"),
        "one never-granted namespace refuses the whole request"
    );
}

#[test]
fn never_namespaces_adds_to_kube_system() {
    let everywhere = policy(&format!(
        "never_namespaces: [vault]\nroles: {{anywhere: {{{ROLE}, namespaces: ['*']}}}}"
    ));
    for namespace in ["vault", "kube-system"] {
        assert_eq!(
            ask(&everywhere, namespace),
            Err(RequestRefusal::NamespaceNeverGranted {
                role: "anywhere".into(),
                namespace: namespace.into(),
            }),
            "{namespace}"
        );
    }
    assert_eq!(ask(&everywhere, "payments"), Ok(()));
}

#[test]
fn never_namespaces_defaults_to_kube_system_alone() {
    let policy = policy(&format!(
        "roles: {{anywhere: {{{ROLE}, namespaces: ['*']}}}}"
    ));
    assert_eq!(policy.never_namespaces.names(), ["kube-system"]);
}

#[test]
fn policy_check_refuses_a_role_that_names_a_never_granted_namespace() {
    for named in ["kube-system", "kube-*", "*-system", "vault"] {
        assert_eq!(
            problems(&format!(
                "never_namespaces: [vault]\nroles: {{anywhere: {{{ROLE}, namespaces: [payments, '{named}']}}}}"
            )),
            [format!(
                "roles.anywhere.namespaces: `{named}` names a namespace no grant may reach \
                 (never_namespaces, which always holds kube-system); remove it"
            )],
            "{named}"
        );
    }
}

#[test]
fn a_pattern_of_wildcards_alone_names_no_namespace_and_is_refused_at_request_time() {
    let everywhere = format!("roles: {{anywhere: {{{ROLE}, namespaces: ['*']}}}}");
    assert_eq!(problems(&everywhere), Vec::<String>::new());
    assert_eq!(
        refusal_kind(ask(&policy(&everywhere), "kube-system")),
        Some("namespace_never_granted")
    );
}

#[test]
fn never_namespaces_must_be_namespace_names() {
    assert_eq!(
        problems(&format!(
            "never_namespaces: [vault, 'Bad_Name', 'team-*']\nroles: {{anywhere: {{{ROLE}, namespaces: [payments]}}}}"
        )),
        [
            "never_namespaces: `Bad_Name` is not a namespace name (RFC 1123 label)",
            "never_namespaces: `team-*` is not a namespace name (RFC 1123 label)",
        ]
    );
}
