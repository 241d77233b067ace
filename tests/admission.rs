//! Defence in depth: the ValidatingAdmissionPolicy `policy render-admission` prints lets the
//! bot's ServiceAccount write only the bindings the bot makes. Its CEL is evaluated here, with
//! a real CEL interpreter, against admission requests carrying what the bot really sent to the
//! (fake) apiserver, and against bindings the bot would never make.

use crate::support;

use cel::{Context, Program, Value as Cel};
use prod_access::cluster::admission::{BotAccount, render_yaml};
use prod_access::config::Config;
use serde_json::{Value, json};
use support::*;

/// The policy's CEL, compiled: what selects a request, and what each validation requires.
struct AdmissionPolicy {
    match_conditions: Vec<Program>,
    /// Each validation's message and expression.
    validations: Vec<(String, Program)>,
}

impl AdmissionPolicy {
    fn rendered_for(config: &Config) -> AdmissionPolicy {
        AdmissionPolicy::parse(&render_yaml(config, &BotAccount::default()).unwrap())
    }

    fn parse(yaml: &str) -> AdmissionPolicy {
        let documents: Vec<Value> = serde_saphyr::from_multiple(yaml).unwrap();
        let policy = &documents[0];
        assert_eq!(policy["kind"], "ValidatingAdmissionPolicy");
        assert_eq!(documents[1]["kind"], "ValidatingAdmissionPolicyBinding");
        assert_eq!(
            documents[1]["spec"]["policyName"],
            policy["metadata"]["name"]
        );
        assert_eq!(documents[1]["spec"]["validationActions"], json!(["Deny"]));
        let compile = |expression: &Value| {
            let source = expression.as_str().unwrap();
            Program::compile(source).unwrap_or_else(|e| panic!("{source}: {e:?}"))
        };
        let spec = &policy["spec"];
        AdmissionPolicy {
            match_conditions: spec["matchConditions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| compile(&c["expression"]))
                .collect(),
            validations: spec["validations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| {
                    (
                        v["message"].as_str().unwrap().to_string(),
                        compile(&v["expression"]),
                    )
                })
                .collect(),
        }
    }

    /// Whether the policy applies to `request` at all.
    fn selects(&self, request: &Value) -> bool {
        let context = context(request, &Value::Null);
        self.match_conditions
            .iter()
            .all(|c| c.execute(&context) == Ok(Cel::Bool(true)))
    }

    /// The messages of the validations `object` fails (an evaluation error fails too, as
    /// `failurePolicy: Fail` makes it).
    fn refusals(&self, request: &Value, object: &Value) -> Vec<String> {
        let context = context(request, object);
        self.validations
            .iter()
            .filter_map(|(message, program)| match program.execute(&context) {
                Ok(Cel::Bool(true)) => None,
                Ok(Cel::Bool(false)) => Some(message.clone()),
                other => Some(format!("{message} (evaluation: {other:?})")),
            })
            .collect()
    }

    fn admits_from_the_bot(&self, object: &Value) -> bool {
        let request = bot_request(object);
        assert!(self.selects(&request));
        self.refusals(&request, object).is_empty()
    }

    /// The one message of the validation `object` fails.
    fn refusal_of(&self, object: &Value) -> String {
        let refusals = self.refusals(&bot_request(object), object);
        assert_eq!(
            refusals.len(),
            1,
            "exactly one validation fails: {refusals:?}"
        );
        refusals[0].clone()
    }
}

fn context(request: &Value, object: &Value) -> Context<'static, 'static> {
    let mut context = Context::default();
    context.add_variable("request", request.clone()).unwrap();
    context.add_variable("object", object.clone()).unwrap();
    context.add_variable("oldObject", Value::Null).unwrap();
    context
}

const BOT: &str = "system:serviceaccount:prod-access:prod-access";

/// The AdmissionRequest the apiserver evaluates when the bot creates `object`.
fn request_from(username: &str, object: &Value) -> Value {
    let kind = object["kind"].as_str().unwrap();
    let resource = match kind {
        "ClusterRoleBinding" => "clusterrolebindings",
        _ => "rolebindings",
    };
    json!({
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": { "group": "rbac.authorization.k8s.io", "version": "v1", "kind": kind },
        "resource": { "group": "rbac.authorization.k8s.io", "version": "v1", "resource": resource },
        "name": object["metadata"]["name"],
        "namespace": object["metadata"]["namespace"].as_str().unwrap_or(""),
        "operation": "CREATE",
        "userInfo": {
            "username": username,
            "groups": ["system:serviceaccounts", "system:serviceaccounts:prod-access", "system:authenticated"],
        },
        "dryRun": false,
    })
}

fn bot_request(object: &Value) -> Value {
    request_from(BOT, object)
}

async fn approved(h: &Harness, requester: &str, text: &str) -> String {
    let grant = h.request(requester, text).await;
    h.next_audit().await; // requested
    h.click(BOB, "approve", &grant).await;
    h.next_audit().await; // granted
    format!("prod-access-{grant}")
}

/// Bindings as the bot made them in the fake apiserver: a User by email with the prefix, a
/// user and group from the identity table, a grant's token ServiceAccount, and a
/// ClusterRoleBinding; with the configuration they were made under.
async fn the_bots_bindings() -> (Config, Vec<Value>) {
    let h = Harness::start().await;
    let edit = approved(&h, ALICE, "edit payments 1h INC-1 stuck queue").await;
    let mapped = approved(&h, DANA, "edit orders 1h INC-2 replay orders").await;
    let with_token = approved(&h, ALICE, "view payments 1h INC-3 read logs").await;
    let cluster_wide = approved(&h, ALICE, "nodes cluster 30m INC-4 node pressure").await;
    let bindings = vec![
        h.kube.binding("payments", &edit).expect("edit binding"),
        h.kube.binding("orders", &mapped).expect("dana's binding"),
        h.kube
            .binding("payments", &with_token)
            .expect("view binding"),
        h.kube
            .cluster_binding(&cluster_wide)
            .expect("nodes binding"),
    ];
    (h.bot.config.clone(), bindings)
}

fn subjects(binding: &Value) -> Vec<(String, String)> {
    binding["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap().into(),
                s["name"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn the_shipped_admission_policy_is_what_render_admission_prints_for_the_shipped_configuration() {
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_prod-access"))
        .args([
            "policy",
            "render-admission",
            "--config",
            "deploy/base/config.yaml",
        ])
        .output()
        .unwrap();
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    let shipped = std::fs::read_to_string("deploy/base/admission-policy.yaml").unwrap();
    assert_eq!(
        String::from_utf8(printed.stdout).unwrap(),
        shipped,
        "render deploy/base/admission-policy.yaml again from deploy/base/config.yaml"
    );
    let kustomization = std::fs::read_to_string("deploy/base/kustomization.yaml").unwrap();
    assert!(kustomization.contains("  - admission-policy.yaml\n"));
    AdmissionPolicy::parse(&shipped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bots_own_bindings_pass_every_validation() {
    let (config, bindings) = the_bots_bindings().await;
    let policy = AdmissionPolicy::rendered_for(&config);
    let kinds: Vec<Vec<(String, String)>> = bindings.iter().map(subjects).collect();
    assert_eq!(kinds[0], [("User".into(), "oidc:alice@example.com".into())]);
    assert_eq!(
        kinds[1],
        [
            ("User".into(), "dana".into()),
            ("Group".into(), "oidc:orders-oncall".into())
        ]
    );
    assert_eq!(kinds[2][1].0, "ServiceAccount", "the grant's token account");
    assert_eq!(bindings[3]["kind"], "ClusterRoleBinding");
    for binding in &bindings {
        let request = bot_request(binding);
        assert_eq!(
            policy.refusals(&request, binding),
            Vec::<String>::new(),
            "{binding:#}"
        );
        let mut updated = request.clone();
        updated["operation"] = json!("UPDATE");
        assert_eq!(policy.refusals(&updated, binding), Vec::<String>::new());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_the_bot_would_never_make_is_refused() {
    let (config, bindings) = the_bots_bindings().await;
    let policy = AdmissionPolicy::rendered_for(&config);
    let edit = &bindings[0];
    let changed = |change: &dyn Fn(&mut Value)| {
        let mut binding = edit.clone();
        change(&mut binding);
        binding
    };
    let subject = |kind: &str, name: &str| json!({ "apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name });
    let subjects_rule = "prod-access may only bind User subjects with its subject prefix or from \
                         its identity table, that table's groups, and each grant's own ServiceAccount";
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "a Group subject",
            changed(&|b| b["subjects"] = json!([subject("Group", "system:masters")])),
            subjects_rule,
        ),
        (
            "a Group added beside the requester",
            changed(&|b| {
                b["subjects"]
                    .as_array_mut()
                    .unwrap()
                    .push(subject("Group", "oidc:admins"))
            }),
            subjects_rule,
        ),
        (
            "a prefixed user on a domain identity does not allow",
            changed(&|b| b["subjects"][0]["name"] = json!("oidc:mallory@gmail.com")),
            subjects_rule,
        ),
        (
            "a prefixed user on a look-alike domain",
            changed(&|b| b["subjects"][0]["name"] = json!("oidc:mallory@example.com.evil.io")),
            subjects_rule,
        ),
        (
            "a user without the prefix",
            changed(&|b| b["subjects"][0]["name"] = json!("mallory@gmail.com")),
            subjects_rule,
        ),
        (
            "a user with another prefix",
            changed(&|b| b["subjects"][0]["name"] = json!("corp:alice@example.com")),
            subjects_rule,
        ),
        (
            "another ServiceAccount",
            changed(
                &|b| b["subjects"] = json!([{ "kind": "ServiceAccount", "name": "default", "namespace": "prod-access" }]),
            ),
            subjects_rule,
        ),
        (
            "no subjects",
            changed(&|b| b["subjects"] = json!([])),
            subjects_rule,
        ),
        (
            "a ClusterRole the policy does not name",
            changed(&|b| b["roleRef"]["name"] = json!("cluster-admin")),
            "prod-access may only bind the ClusterRoles its policy names, each with the binding \
             kind of its role's scope",
        ),
        (
            "a namespaced Role",
            changed(&|b| b["roleRef"]["kind"] = json!("Role")),
            "prod-access may only bind the ClusterRoles its policy names, each with the binding \
             kind of its role's scope",
        ),
        (
            "kube-system",
            changed(&|b| b["metadata"]["namespace"] = json!("kube-system")),
            "prod-access may never bind in kube-system or the policy's never_namespaces",
        ),
        (
            "no managed-by label",
            changed(&|b| {
                b["metadata"]["labels"]
                    .as_object_mut()
                    .unwrap()
                    .remove("app.kubernetes.io/managed-by");
            }),
            "prod-access may only write bindings labelled app.kubernetes.io/managed-by=prod-access",
        ),
        (
            "a name that is not its grant's",
            changed(&|b| b["metadata"]["name"] = json!("cluster-admins")),
            "prod-access may only write bindings named prod-access-<grant id> after their \
             prod-access/grant label",
        ),
    ];
    assert!(policy.admits_from_the_bot(edit));
    for (what, binding, message) in cases {
        assert_eq!(policy.refusal_of(&binding), message, "{what}: {binding:#}");
    }

    let mut no_labels = edit.clone();
    no_labels["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("labels");
    assert_eq!(
        policy.refusals(&bot_request(&no_labels), &no_labels).len(),
        2,
        "label and name"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_cluster_role_is_bound_only_with_its_roles_binding_kind() {
    let (config, bindings) = the_bots_bindings().await;
    let policy = AdmissionPolicy::rendered_for(&config);
    let cluster_role_rule = "prod-access may only bind the ClusterRoles its policy names, each \
                             with the binding kind of its role's scope";
    // `edit` is a namespaced role: never cluster-wide.
    let mut edit_everywhere = bindings[3].clone();
    edit_everywhere["roleRef"]["name"] = json!("edit");
    assert_eq!(policy.refusal_of(&edit_everywhere), cluster_role_rule);
    // `node-reader` is the cluster-scoped role's: never in a namespace.
    let mut nodes_in_payments = bindings[0].clone();
    nodes_in_payments["roleRef"]["name"] = json!("node-reader");
    assert_eq!(policy.refusal_of(&nodes_in_payments), cluster_role_rule);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_applies_to_the_bots_service_account_alone() {
    let (config, bindings) = the_bots_bindings().await;
    let policy = AdmissionPolicy::rendered_for(&config);
    assert!(policy.selects(&bot_request(&bindings[0])));
    for someone_else in [
        "system:serviceaccount:prod-access:default",
        "system:serviceaccount:kube-system:clusterrole-aggregation-controller",
        "oidc:alice@example.com",
    ] {
        assert!(
            !policy.selects(&request_from(someone_else, &bindings[0])),
            "{someone_else}"
        );
    }
}

fn config_with(kubernetes: &str, policy: &str) -> Config {
    let yaml = format!(
        "store_path: /tmp/unused\nslack: {{approvals_channel: C0A, audit_channel: C0B}}\n\
         identity: {{allowed_email_domains: [example.com]}}\n\
         kubernetes: {kubernetes}\npolicy: {policy}\n"
    );
    let config = Config::parse(&yaml).unwrap();
    assert_eq!(config.problems(), vec![]);
    config
}

fn binding_of(kind: &str, namespace: Option<&str>, role: &str, subjects: Value) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {
            "name": "prod-access-g1",
            "namespace": namespace,
            "labels": { "app.kubernetes.io/managed-by": "prod-access", "prod-access/grant": "g1" },
        },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role },
        "subjects": subjects,
    })
}

#[test]
fn names_from_the_configuration_are_matched_exactly_however_they_are_spelled() {
    let config = config_with(
        r#"{subject_prefix: "it's\\oidc:"}"#,
        r#"{approvers: [UBOB], never_namespaces: [vault], roles: {odd: {cluster_role: "o'neil\\role", namespaces: ['*'], max_duration: 1h}}}"#,
    );
    let policy = AdmissionPolicy::rendered_for(&config);
    let user = |name: &str| json!([{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name }]);
    let fine = binding_of(
        "RoleBinding",
        Some("payments"),
        "o'neil\\role",
        user("it's\\oidc:a@example.com"),
    );
    assert!(policy.admits_from_the_bot(&fine));
    let other_role = binding_of(
        "RoleBinding",
        Some("payments"),
        "o'neil",
        user("it's\\oidc:a@example.com"),
    );
    assert!(!policy.admits_from_the_bot(&other_role));
    let other_prefix = binding_of(
        "RoleBinding",
        Some("payments"),
        "o'neil\\role",
        user("it's"),
    );
    assert!(!policy.admits_from_the_bot(&other_prefix));
    for never in ["kube-system", "vault"] {
        let there = binding_of(
            "RoleBinding",
            Some(never),
            "o'neil\\role",
            user("it's\\oidc:a@example.com"),
        );
        assert!(!policy.admits_from_the_bot(&there), "{never}");
    }
}

#[test]
fn without_token_roles_or_cluster_roles_no_service_account_or_cluster_binding_passes() {
    let config = config_with(
        r#"{subject_prefix: "oidc:"}"#,
        "{approvers: [UBOB], roles: {edit: {cluster_role: edit, namespaces: [payments], max_duration: 1h}}}",
    );
    let policy = AdmissionPolicy::rendered_for(&config);
    let account =
        json!([{ "kind": "ServiceAccount", "name": "prod-access-g1", "namespace": "prod-access" }]);
    let with_account = binding_of("RoleBinding", Some("payments"), "edit", account);
    assert!(!policy.admits_from_the_bot(&with_account));
    let user = json!([{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "oidc:a@example.com" }]);
    assert!(policy.admits_from_the_bot(&binding_of(
        "RoleBinding",
        Some("payments"),
        "edit",
        user.clone()
    )));
    assert!(!policy.admits_from_the_bot(&binding_of("ClusterRoleBinding", None, "edit", user)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_for_kube_system_is_refused_before_the_cluster_is_asked() {
    let h = Harness::start_with_roles(
        "    anywhere:\n      cluster_role: view\n      namespaces: [\"*\"]\n      max_duration: 1h\n",
    )
    .await;
    let (status, reply) = h
        .slash(ALICE, "anywhere kube-system 1h INC-5 look at coredns")
        .await;
    assert_eq!(status, 200);
    assert_eq!(reply["response_type"], "ephemeral");
    let text = reply["text"].as_str().unwrap();
    assert!(
        text.contains("`kube-system` is never granted, by any role"),
        "{text}"
    );
    assert_eq!(h.slack.call_count(), 0, "nothing posted");
    assert!(h.kube.calls().is_empty(), "no Kubernetes call");
    h.request(ALICE, "anywhere payments 1h INC-5 the same role elsewhere")
        .await;
}
