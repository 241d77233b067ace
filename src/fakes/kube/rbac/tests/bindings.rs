//! Which bindings reach a request, whom their subjects name, and what the apiserver says.

use serde_json::json;

use super::*;

#[test]
fn a_role_binding_grants_its_role_in_its_own_namespace_only() {
    let world = World::default()
        .with_role(
            "payments",
            "runner",
            json!([rule(&["create"], &["batch"], &["jobs"])]),
        )
        .with_binding("payments", "runners", ("Role", "runner"), user("alice"));
    let create_job = |ns| asks("alice", &[], "create", "batch", "jobs", ns);
    assert!(world.allows(&create_job("payments")));
    assert!(!world.allows(&create_job("orders")));
    assert!(!world.allows(&create_job("")), "nor cluster-wide");
}

#[test]
fn a_role_binding_finds_its_role_in_its_own_namespace() {
    let world = World::default()
        .with_role("orders", "runner", json!([rule(&["*"], &["*"], &["*"])]))
        .with_binding("payments", "runners", ("Role", "runner"), user("alice"));
    let decision = world.decide(&alice("get", "pods", "payments"));
    assert!(
        !decision.allowed,
        "the Role runner of orders is not that of payments"
    );
    assert_eq!(
        decision.reason,
        "RBAC: role.rbac.authorization.k8s.io \"runner\" not found"
    );
}

#[test]
fn a_role_binding_of_a_cluster_role_grants_its_rules_in_the_binding_namespace_only() {
    let world = alice_in_payments_with(json!([rule(&["get"], &[""], &["pods", "nodes"])]));
    assert!(world.allows(&alice("get", "pods", "payments")));
    assert!(!world.allows(&alice("get", "pods", "orders")));
    assert!(
        !world.allows(&alice("get", "nodes", "")),
        "cluster-scoped resources are out of reach"
    );
}

#[test]
fn a_cluster_role_binding_grants_everywhere_and_on_cluster_scoped_resources() {
    let world = World::default()
        .with_cluster_role("reader", json!([rule(&["get"], &[""], &["pods", "nodes"])]))
        .with_binding("", "readers", ("ClusterRole", "reader"), user("alice"));
    assert!(world.allows(&alice("get", "pods", "payments")));
    assert!(world.allows(&alice("get", "pods", "orders")));
    assert!(world.allows(&alice("get", "nodes", "")));
    let decision = world.decide(&alice("get", "pods", "orders"));
    assert_eq!(
        decision.reason,
        "RBAC: allowed by ClusterRoleBinding \"readers\" of ClusterRole \"reader\" to User \"alice\""
    );
}

#[test]
fn the_reason_names_the_role_binding_as_name_slash_namespace_and_the_subject_that_matched() {
    let world = World::default()
        .with_cluster_role("edit", json!([rule(&["create"], &[""], &["pods/exec"])]))
        .with_binding(
            "payments",
            "oncall",
            ("ClusterRole", "edit"),
            json!([
                { "kind": "User", "apiGroup": GROUP, "name": "bob" },
                { "kind": "Group", "apiGroup": GROUP, "name": "payments-oncall" },
                { "kind": "User", "apiGroup": GROUP, "name": "alice" },
            ]),
        );
    let alice_on_call = asks(
        "alice",
        &["payments-oncall"],
        "create",
        "",
        "pods/exec",
        "payments",
    );
    assert_eq!(
        world.decide(&alice_on_call),
        Decision {
            allowed: true,
            reason: "RBAC: allowed by RoleBinding \"oncall/payments\" of ClusterRole \"edit\" to Group \"payments-oncall\"".into(),
        }
    );
}

#[test]
fn a_group_subject_matches_whoever_is_in_the_group() {
    let world = World::default()
        .with_cluster_role("reader", json!([rule(&["get"], &[""], &["pods"])]))
        .with_binding(
            "payments",
            "team",
            ("ClusterRole", "reader"),
            json!([{ "kind": "Group", "apiGroup": GROUP, "name": "payments-team" }]),
        );
    assert!(world.allows(&asks(
        "carol",
        &["dev", "payments-team"],
        "get",
        "",
        "pods",
        "payments"
    )));
    assert!(!world.allows(&asks("carol", &["dev"], "get", "", "pods", "payments")));
    assert!(
        !world.allows(&asks("payments-team", &[], "get", "", "pods", "payments")),
        "a user named like the group is not in it"
    );
}

#[test]
fn a_service_account_subject_is_its_system_user_in_its_namespace_or_the_binding_one() {
    let world = World::default()
        .with_cluster_role("reader", json!([rule(&["get"], &[""], &["pods"])]))
        .with_binding(
            "payments",
            "bots",
            ("ClusterRole", "reader"),
            json!([
                { "kind": "ServiceAccount", "name": "deployer" },
                { "kind": "ServiceAccount", "name": "ci", "namespace": "tools" },
            ]),
        );
    let get_pods = |who| asks(who, &[], "get", "", "pods", "payments");
    let deployer = world.decide(&get_pods("system:serviceaccount:payments:deployer"));
    assert_eq!(
        deployer.reason,
        "RBAC: allowed by RoleBinding \"bots/payments\" of ClusterRole \"reader\" to ServiceAccount \"deployer/payments\""
    );
    let ci = world.decide(&get_pods("system:serviceaccount:tools:ci"));
    assert_eq!(
        ci.reason,
        "RBAC: allowed by RoleBinding \"bots/payments\" of ClusterRole \"reader\" to ServiceAccount \"ci/tools\""
    );
    assert!(!world.allows(&get_pods("system:serviceaccount:tools:deployer")));
    assert!(!world.allows(&get_pods("deployer")));
}

#[test]
fn a_cluster_role_binding_to_a_service_account_without_namespace_matches_nobody() {
    let world = World::default()
        .with_cluster_role("reader", json!([rule(&["get"], &[""], &["pods"])]))
        .with_binding(
            "",
            "bots",
            ("ClusterRole", "reader"),
            json!([{ "kind": "ServiceAccount", "name": "deployer" }]),
        );
    assert!(!world.allows(&asks(
        "system:serviceaccount::deployer",
        &[],
        "get",
        "",
        "pods",
        "payments"
    )));
    assert!(!world.allows(&asks(
        "system:serviceaccount:payments:deployer",
        &[],
        "get",
        "",
        "pods",
        "payments"
    )));
}

#[test]
fn a_binding_to_a_missing_role_grants_nothing_and_says_so() {
    let world = World::default()
        .with_binding("payments", "team", ("ClusterRole", "gone"), user("alice"))
        .with_binding("", "everyone", ("ClusterRole", "also-gone"), user("alice"));
    assert_eq!(
        world.decide(&alice("get", "pods", "payments")),
        Decision {
            allowed: false,
            reason: "RBAC: [clusterrole.rbac.authorization.k8s.io \"also-gone\" not found, clusterrole.rbac.authorization.k8s.io \"gone\" not found]".into(),
        }
    );
    let other_users = world.decide(&asks("bob", &[], "get", "", "pods", "payments"));
    assert_eq!(
        other_users.reason, "",
        "a binding that does not apply is not resolved"
    );
}

#[test]
fn a_missing_role_does_not_hide_a_binding_that_allows() {
    let world = alice_in_payments_with(json!([rule(&["get"], &[""], &["pods"])])).with_binding(
        "payments",
        "a-first",
        ("Role", "gone"),
        user("alice"),
    );
    let decision = world.decide(&alice("get", "pods", "payments"));
    assert!(decision.allowed);
    assert!(
        decision.reason.contains("RoleBinding \"team/payments\""),
        "{}",
        decision.reason
    );
}

#[test]
fn nothing_allowed_is_denied_without_a_reason() {
    let decision = World::default().decide(&alice("get", "pods", "payments"));
    assert_eq!(
        decision,
        Decision {
            allowed: false,
            reason: String::new()
        }
    );
}

#[test]
fn cluster_role_bindings_are_visited_before_role_bindings() {
    let world = alice_in_payments_with(json!([rule(&["get"], &[""], &["pods"])])).with_binding(
        "",
        "zz-everywhere",
        ("ClusterRole", "team"),
        user("alice"),
    );
    let decision = world.decide(&alice("get", "pods", "payments"));
    assert!(
        decision
            .reason
            .contains("ClusterRoleBinding \"zz-everywhere\""),
        "{}",
        decision.reason
    );
}
