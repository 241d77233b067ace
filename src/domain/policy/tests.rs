//! The policy: evaluating a request against roles, scopes, durations and approvers.

use super::*;
// Also named from here by the templates' tests.
pub(crate) use crate::domain::testing::example_policy as example;
use crate::domain::testing::{assert_problem_starting, policy_from};

/// Evaluation in a setup with the one default cluster.
trait EvaluateDefault {
    fn evaluate_default(&self, args: &RequestArgs) -> Result<GrantTerms, RequestRefusal>;
}

impl EvaluateDefault for Policy {
    fn evaluate_default(&self, args: &RequestArgs) -> Result<GrantTerms, RequestRefusal> {
        self.evaluate(args, &[crate::domain::grant::DEFAULT_CLUSTER.to_string()])
    }
}

fn args(role: &str, ns: &str, secs: Option<u64>, reason: &str) -> RequestArgs {
    RequestArgs {
        role: role.into(),
        namespace: ns.into(),
        duration: secs.map(Duration::from_secs),
        reason: reason.into(),
    }
}

fn ask(role: &str, ns: &str, secs: u64) -> Result<GrantTerms, RequestRefusal> {
    example().evaluate_default(&args(role, ns, Some(secs), "r"))
}

#[test]
fn defaults_fill_in_what_the_file_leaves_out() {
    let policy = example();
    assert_eq!(policy.requests.review_timeout, Duration::from_secs(3600));
    let edit = &policy.roles["edit"];
    assert_eq!(edit.approvals, 1);
    assert!(edit.reason.required);
    assert_eq!(edit.approvals_channel, None);
    let minimal =
        policy_from("roles: {x: {cluster_role: view, namespaces: [a], max_duration: 20m}}");
    assert_eq!(minimal.requests, RequestRules::default());
    assert_eq!(
        minimal.roles["x"].default_duration(),
        Duration::from_secs(1200)
    );
}

#[test]
fn an_allowed_request_gets_the_roles_terms() {
    let terms = ask("edit", "payments", 7200).unwrap();
    assert_eq!(terms.cluster_role, "edit");
    assert_eq!(terms.scope, Scope::namespace("payments"));
    assert_eq!(terms.duration, Duration::from_secs(7200));
    assert_eq!(terms.required_approvals, 1);
}

#[test]
fn the_maximum_itself_is_allowed() {
    assert!(ask("edit", "orders", 4 * 3600).is_ok());
}

#[test]
fn a_missing_duration_is_the_roles_default() {
    let policy = example();
    let debug = policy
        .evaluate_default(&args("debug", "team-a", None, "INC-1"))
        .unwrap();
    assert_eq!(debug.duration, Duration::from_secs(1800));
    let edit = policy
        .evaluate_default(&args("edit", "payments", None, "r"))
        .unwrap();
    assert_eq!(
        edit.duration,
        Duration::from_secs(3600),
        "1h when no default is set"
    );
}

#[test]
fn namespace_patterns_match_whole_names_only() {
    assert!(
        example()
            .evaluate_default(&args("debug", "team-payments", None, "INC-7"))
            .is_ok()
    );
    for ns in ["team", "payments", "xteam-a", "Team-a"] {
        assert!(
            matches!(
                example().evaluate_default(&args("debug", ns, None, "INC-7")),
                Err(RequestRefusal::NamespaceNotAllowed { .. })
            ),
            "{ns}"
        );
    }
}

#[test]
fn an_unknown_role_lists_the_roles() {
    assert_eq!(
        ask("root", "payments", 60),
        Err(RequestRefusal::UnknownRole {
            role: "root".into(),
            allowed: vec![
                "admin".into(),
                "debug".into(),
                "edit".into(),
                "nodes".into(),
                "peek".into()
            ],
        })
    );
}

#[test]
fn a_namespace_outside_the_role_lists_the_namespaces() {
    assert_eq!(
        ask("admin", "orders", 60),
        Err(RequestRefusal::NamespaceNotAllowed {
            role: "admin".into(),
            namespace: "orders".into(),
            allowed: vec!["payments".into()],
        })
    );
}

#[test]
fn a_duration_over_the_max_names_the_max() {
    assert_eq!(
        ask("admin", "payments", 3601),
        Err(RequestRefusal::TooLong {
            role: "admin".into(),
            requested: Duration::from_secs(3601),
            max: Duration::from_secs(3600),
        })
    );
}

#[test]
fn reasons_and_tickets_are_enforced_per_role() {
    let policy = example();
    assert_eq!(
        policy.evaluate_default(&args("edit", "payments", None, "  ")),
        Err(RequestRefusal::ReasonRequired {
            role: "edit".into()
        })
    );
    assert!(
        policy
            .evaluate_default(&args("peek", "payments", None, ""))
            .is_ok()
    );
    assert_eq!(
        policy.evaluate_default(&args(
            "peek",
            "payments",
            None,
            &"&".repeat(MAX_REASON_CHARS + 1)
        )),
        Err(RequestRefusal::ReasonTooLong {
            max_chars: MAX_REASON_CHARS
        })
    );
    assert_eq!(
        policy.evaluate_default(&args("debug", "team-a", None, "looking around")),
        Err(RequestRefusal::TicketRequired {
            role: "debug".into(),
            pattern: "(INC|CHG)-[0-9]+".into()
        })
    );
    assert!(
        policy
            .evaluate_default(&args("debug", "team-a", None, "for CHG-881 rollout"))
            .is_ok()
    );
}

#[test]
fn role_approvers_override_the_default_approvers() {
    let policy = example();
    assert!(policy.may_approve("edit", "UBOB"));
    assert!(!policy.may_approve("admin", "UBOB"));
    assert!(policy.may_approve("admin", "USRE1"));
    assert!(!policy.may_approve("gone", "UBOB"));
}

#[test]
fn the_example_has_no_problems() {
    assert_eq!(example().problems(), Vec::<Problem>::new());
}

#[test]
fn unsafe_policies_are_reported() {
    let mut policy = example();
    policy.approvers.clear();
    let edit = policy.roles.get_mut("edit").unwrap();
    edit.namespaces.push("Bad_NS".into());
    edit.approvals = 0;
    edit.default_duration = Some(Duration::from_secs(5 * 3600));
    edit.reason.ticket = Some("(unclosed".into());
    let admin = policy.roles.get_mut("admin").unwrap();
    admin.approvals = 3;
    let list = policy.roles["admin"].clone();
    policy.roles.insert("list".into(), list);
    let problems: Vec<String> = policy.problems().iter().map(|p| p.to_string()).collect();
    for expected in [
        "roles.edit.namespaces: `Bad_NS`",
        "roles.edit.approvals: at least one",
        "roles.edit.approvers: no approvers",
        "roles.admin.approvals: needs 3 approvals but only 2",
        "roles.edit.default_duration",
        "roles.edit.reason.ticket: not a regular expression",
        "roles.list: `list` is a subcommand",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{expected}: {problems:#?}"
        );
    }
}

#[test]
fn dns_labels() {
    assert!(is_dns_label("payments-2"));
    for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
        assert!(!is_dns_label(bad), "{bad}");
    }
}

proptest::proptest! {
    /// Whatever is typed, an accepted request never exceeds what the policy allows.
    #[test]
    fn accepted_requests_stay_within_the_policy(
        role in "(edit|admin|debug|peek|nodes|root)",
        namespace in "(payments|orders|team-[a-z]{1,3}|kube-system|cluster|[a-z]{1,8})(,(payments|orders|kube-system))?",
        minutes in proptest::option::of(1u64..2_000),
        reason in "((INC|CHG)-[0-9]{1,3} )?[a-z ]{0,10}",
    ) {
        let policy = example();
        let request = args(&role, &namespace, minutes.map(|m| m * 60), &reason);
        if let Ok(terms) = policy.evaluate_default(&request) {
            let rule = &policy.roles[&role];
            match &terms.scope {
                Scope::Cluster => proptest::prop_assert_eq!(rule.scope, RoleScope::Cluster),
                Scope::Namespaces { names } => {
                    proptest::prop_assert_eq!(rule.scope, RoleScope::Namespaced);
                    proptest::prop_assert!(!names.is_empty());
                    proptest::prop_assert!(names.iter().all(|n| rule.allows_namespace(n)));
                }
            }
            proptest::prop_assert!(terms.duration <= rule.max_duration);
            proptest::prop_assert!(!terms.duration.is_zero());
            proptest::prop_assert_eq!(&terms.cluster_role, &rule.cluster_role);
            proptest::prop_assert_eq!(terms.required_approvals, rule.approvals);
        }
    }
}

#[test]
fn approver_references_are_told_apart() {
    assert_eq!(ApproverRef::parse("U0BOB"), ApproverRef::User("U0BOB"));
    assert_eq!(ApproverRef::parse("W012ABC"), ApproverRef::User("W012ABC"));
    assert_eq!(ApproverRef::parse("S0SRE"), ApproverRef::Group("S0SRE"));
    assert_eq!(
        ApproverRef::parse("sre@example.com"),
        ApproverRef::Email("sre@example.com")
    );
    for bad in ["bob", "@sre", "u0bob", "S", ""] {
        assert!(
            matches!(ApproverRef::parse(bad), ApproverRef::Invalid(_)),
            "{bad}"
        );
    }
}

#[test]
fn groups_and_emails_expand_to_users_and_fail_closed() {
    let mut policy = example();
    policy.approvers = vec!["UBOB".into(), "S0ONCALL".into()];
    policy.roles.get_mut("admin").unwrap().approvers = vec!["lead@example.com".into()];
    assert_eq!(policy.unresolved_approvers("edit"), vec!["S0ONCALL"]);
    assert_eq!(
        policy.unresolved_approvers("admin"),
        vec!["lead@example.com"]
    );

    let found = std::collections::HashMap::from([
        (
            "S0ONCALL".to_string(),
            vec!["UDAVE".to_string(), "UBOB".to_string()],
        ),
        ("lead@example.com".to_string(), vec!["ULEAD".to_string()]),
    ]);
    let resolved = policy.resolved(&found);
    assert!(resolved.may_approve("edit", "UDAVE"));
    assert!(resolved.may_approve("edit", "UBOB"));
    assert!(resolved.may_approve("admin", "ULEAD"));
    assert!(
        !resolved.may_approve("admin", "UBOB"),
        "role approvers still override"
    );

    let nothing_found = policy.resolved(&std::collections::HashMap::new());
    assert!(!nothing_found.may_approve("edit", "UDAVE"));
    assert!(nothing_found.may_approve("edit", "UBOB"));
    assert!(
        !nothing_found.may_approve("admin", "UBOB"),
        "an unresolved role list is not the default"
    );
    assert!(!nothing_found.may_approve("admin", "-"));
}

#[test]
fn in_teams_people_are_their_email_and_approve_once_it_is_resolved() {
    let mut policy = example();
    policy.approvers = vec!["Lead@Example.com".into()];
    let found = std::collections::HashMap::from([(
        "Lead@Example.com".to_string(),
        vec!["lead@example.com".to_string()],
    )]);
    let resolved = policy.resolved(&found);
    assert!(resolved.may_approve("edit", "lead@example.com"));
    assert!(!resolved.may_approve("edit", "other@example.com"));
    assert!(
        !policy
            .resolved(&std::collections::HashMap::new())
            .may_approve("edit", "lead@example.com"),
        "an email nobody resolved stands for nobody"
    );
}

#[test]
fn malformed_approver_references_are_problems() {
    let mut policy = example();
    policy.approvers.push("bob".into());
    let problems = policy.problems();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].dotted_path(), "approvers");
    assert!(problems[0].message.contains("`bob` is not a Slack user ID"));
}

#[test]
fn approver_counts_are_checked_only_where_they_can_be_counted() {
    let mut policy = example();
    let admin = policy.roles.get_mut("admin").unwrap();
    admin.approvers = vec!["S0SRE".into()];
    assert!(
        policy.problems().is_empty(),
        "a group may hold two approvers: {:?}",
        policy.problems()
    );
    let admin = policy.roles.get_mut("admin").unwrap();
    admin.approvers = vec!["USRE1".into(), "USRE2".into()];
    admin.extensions.approvals = Some(3);
    let problems: Vec<String> = policy.problems().iter().map(|p| p.to_string()).collect();
    assert_eq!(
        problems,
        vec!["roles.admin.extensions.approvals: needs 3 approvals but only 2 approvers are listed"]
    );
}

#[test]
fn a_request_may_name_several_namespaces_all_of_which_must_be_allowed() {
    let policy = example();
    let terms = policy
        .evaluate_default(&args("edit", "orders,payments,orders", None, "r"))
        .unwrap();
    assert_eq!(
        terms.scope,
        Scope::Namespaces {
            names: vec!["orders".into(), "payments".into()]
        }
    );
    assert!(matches!(
        policy.evaluate_default(&args("edit", "payments,kube-system", None, "r")),
        Err(RequestRefusal::NamespaceNotAllowed { .. })
    ));
    assert!(matches!(
        policy.evaluate_default(&args("edit", ",", None, "r")),
        Err(RequestRefusal::NamespaceNotAllowed { .. })
    ));
    let many = ["team-a"; MAX_NAMESPACES + 1]
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{n}{i}"))
        .collect::<Vec<_>>()
        .join(",");
    assert!(
        policy
            .evaluate_default(&args("debug", &many, None, "INC-1"))
            .is_err()
    );
}

#[test]
fn a_cluster_scoped_role_is_asked_for_with_the_word_cluster() {
    let policy = example();
    let terms = policy
        .evaluate_default(&args("nodes", "cluster", None, "r"))
        .unwrap();
    assert_eq!(terms.scope, Scope::Cluster);
    assert_eq!(
        policy.evaluate_default(&args("nodes", "payments", None, "r")),
        Err(RequestRefusal::NamespaceNotAllowed {
            role: "nodes".into(),
            namespace: "payments".into(),
            allowed: vec!["cluster".into()],
        })
    );
    assert!(matches!(
        policy.evaluate_default(&args("edit", "cluster", None, "r")),
        Err(RequestRefusal::NamespaceNotAllowed { .. })
    ));
}

#[test]
fn scope_and_namespaces_must_agree() {
    let mut policy = example();
    policy
        .roles
        .get_mut("nodes")
        .unwrap()
        .namespaces
        .push("payments".into());
    policy.roles.get_mut("edit").unwrap().namespaces.clear();
    let problems: Vec<String> = policy.problems().iter().map(|p| p.to_string()).collect();
    assert_problem_starting(&problems, "roles.nodes.namespaces: a cluster-scoped role");
    assert_problem_starting(&problems, "roles.edit.namespaces: at least one");
}

#[test]
fn a_request_names_its_cluster_when_the_role_fits_several() {
    let mut policy = example();
    let clusters = vec!["eu".to_string(), "us".to_string()];
    let asked = |ns: &str| RequestArgs {
        role: "edit".into(),
        namespace: ns.into(),
        duration: None,
        reason: "r".into(),
    };
    assert_eq!(
        policy
            .evaluate(&asked("payments@eu"), &clusters)
            .unwrap()
            .cluster,
        "eu"
    );
    assert_eq!(
        policy.evaluate(&asked("payments"), &clusters),
        Err(RequestRefusal::ClusterNotChosen {
            role: "edit".into(),
            asked: None,
            allowed: clusters.clone(),
        })
    );
    policy.roles.get_mut("edit").unwrap().clusters = vec!["us".into()];
    assert_eq!(
        policy
            .evaluate(&asked("payments"), &clusters)
            .unwrap()
            .cluster,
        "us"
    );
    assert!(matches!(
        policy.evaluate(&asked("payments@eu"), &clusters),
        Err(RequestRefusal::ClusterNotChosen { asked: Some(_), .. })
    ));
}
