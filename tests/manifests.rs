//! The files a platform engineer applies must say what the bot needs, and nothing more.

use std::collections::BTreeSet;

use prod_access::config::Config;
use prod_access::domain::permissions;
use serde_json::Value;

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Every object of the kustomize base as `kubectl kustomize deploy/` renders it, or, where kubectl
/// is not installed, as the files its kustomization lists say it.
fn deploy_objects() -> Vec<Value> {
    match std::process::Command::new("kubectl")
        .args(["kustomize", "deploy/"])
        .output()
    {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8(out.stdout).unwrap();
            serde_saphyr::from_multiple::<Value>(&text).unwrap()
        }
        Ok(out) => panic!(
            "kubectl kustomize deploy/ failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => deploy_source_objects(),
    }
}

fn deploy_source_objects() -> Vec<Value> {
    let kustomization = yaml("deploy/base/kustomization.yaml");
    strings(&kustomization["resources"])
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(format!("deploy/base/{file}")).unwrap();
            serde_saphyr::from_multiple::<Value>(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
        })
        .collect()
}

fn object<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in deploy/"))
}

fn deployed_config() -> Config {
    Config::parse(&std::fs::read_to_string("deploy/base/config.yaml").unwrap()).unwrap()
}

/// What both Slack app manifests must give the bot: the command, interactivity, the Home tab
/// and its event, the account changes that end access, and every scope a Web API call of the
/// bot needs.
fn the_bot_gets_what_it_uses(manifest: &Value) {
    assert_eq!(
        manifest["features"]["slash_commands"][0]["command"],
        "/prod-access"
    );
    assert_eq!(manifest["settings"]["interactivity"]["is_enabled"], true);
    assert_eq!(manifest["features"]["app_home"]["home_tab_enabled"], true);
    let events = strings(&manifest["settings"]["event_subscriptions"]["bot_events"]);
    assert_eq!(events, ["app_home_opened", "user_change"]);
    let scopes = strings(&manifest["oauth_config"]["scopes"]["bot"]);
    for needed in [
        "commands",
        "chat:write",
        "users:read",
        "users:read.email",
        "usergroups:read",
        "files:write",
        "im:write",
        "channels:read",
        "groups:read",
    ] {
        assert!(scopes.iter().any(|s| s == needed), "missing scope {needed}");
    }
}

#[test]
fn the_default_slack_app_manifest_runs_in_socket_mode_without_urls() {
    let manifest = yaml("app-manifest.yaml");
    the_bot_gets_what_it_uses(&manifest);
    assert_eq!(manifest["settings"]["socket_mode_enabled"], true);
    let text = std::fs::read_to_string("app-manifest.yaml").unwrap();
    assert!(!text.contains("url:"), "Socket Mode needs no Request URL");
}

#[test]
fn the_http_slack_app_manifest_points_every_request_url_at_the_bot() {
    let manifest = yaml("app-manifest.http.yaml");
    the_bot_gets_what_it_uses(&manifest);
    assert_eq!(manifest["settings"]["socket_mode_enabled"], false);
    let url = |v: &Value| v.as_str().unwrap().to_string();
    assert!(url(&manifest["features"]["slash_commands"][0]["url"]).ends_with("/slack/commands"));
    assert!(
        url(&manifest["settings"]["interactivity"]["request_url"]).ends_with("/slack/interactions")
    );
    assert!(
        url(&manifest["settings"]["event_subscriptions"]["request_url"]).ends_with("/slack/events")
    );
}

#[test]
fn the_kustomization_lists_every_manifest_in_deploy() {
    let listed: BTreeSet<String> = strings(&yaml("deploy/base/kustomization.yaml")["resources"])
        .into_iter()
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir("deploy/base")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".yaml") && f != "kustomization.yaml" && f != "config.yaml")
        .collect();
    assert_eq!(listed, on_disk);
    let kinds: BTreeSet<String> = deploy_source_objects()
        .iter()
        .map(|o| o["kind"].as_str().unwrap().to_string())
        .collect();
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "PersistentVolumeClaim",
        "Service",
        "NetworkPolicy",
    ] {
        assert!(kinds.contains(kind), "no {kind}");
    }
}

#[test]
fn the_deployed_config_is_valid() {
    let config = deployed_config();
    assert!(config.problems().is_empty(), "{:?}", config.problems());
}

#[test]
fn the_bots_cluster_role_grants_exactly_what_the_bot_checks_for() {
    let objects = deploy_objects();
    let role = object(&objects, "ClusterRole");
    let mut granted = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        let groups = strings(&rule["apiGroups"]);
        let names = strings(&rule["resourceNames"]);
        assert!(!groups.iter().any(|g| g == "*"), "no wildcard API groups");
        for resource in strings(&rule["resources"]) {
            assert_ne!(resource, "*", "no wildcard resources");
            for verb in strings(&rule["verbs"]) {
                assert_ne!(verb, "*", "no wildcard verbs");
                for group in &groups {
                    if names.is_empty() {
                        granted.insert((verb.clone(), group.clone(), resource.clone(), None));
                    }
                    for name in &names {
                        granted.insert((
                            verb.clone(),
                            group.clone(),
                            resource.clone(),
                            Some(name.clone()),
                        ));
                    }
                }
            }
        }
    }
    let needed: BTreeSet<_> = permissions::required(&deployed_config().policy)
        .into_iter()
        .map(|p| {
            (
                p.verb.to_string(),
                p.group.to_string(),
                p.resource.to_string(),
                p.name,
            )
        })
        .collect();
    assert_eq!(
        granted, needed,
        "granted (left) must equal what the pre-flight checks (right)"
    );

    let binding = object(&objects, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["kind"], "ServiceAccount");
    assert_eq!(
        binding["subjects"][0]["name"],
        object(&objects, "ServiceAccount")["metadata"]["name"]
    );
}

#[test]
fn the_deployment_runs_one_locked_down_replica_with_its_store_on_the_volume() {
    let objects = deploy_objects();
    let deployment = object(&objects, "Deployment");
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 1, "the store has one writer");
    assert_eq!(spec["strategy"]["type"], "Recreate");
    let pod = &spec["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let store_mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "store")
        .unwrap();
    let prod_access::config::StoreLocation::Sled(store_path) = deployed_config().store else {
        panic!("deploy/ runs the embedded store");
    };
    assert_eq!(
        store_mount["mountPath"].as_str().unwrap(),
        store_path.to_str().unwrap(),
        "the store lives on the persistent volume"
    );
    let env_from = container["envFrom"][0]["secretRef"]["name"]
        .as_str()
        .unwrap();
    assert_eq!(
        env_from, "prod-access-slack",
        "secrets are referenced, not included"
    );
    assert!(
        !objects.iter().any(|o| o["kind"] == "Secret"),
        "no secret is shipped"
    );
}

#[test]
fn the_rendered_base_puts_everything_in_its_namespace_and_mounts_the_generated_config() {
    if std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("kubectl not found: the rendered base is not checked here (CI has it)");
        return;
    }
    let objects = deploy_objects();
    for object in &objects {
        let kind = object["kind"].as_str().unwrap();
        if !["Namespace", "ClusterRole", "ClusterRoleBinding"].contains(&kind) {
            assert_eq!(object["metadata"]["namespace"], "prod-access", "{kind}");
        }
    }
    let config_map = object(&objects, "ConfigMap");
    let name = config_map["metadata"]["name"].as_str().unwrap();
    let deployment = object(&objects, "Deployment");
    let volumes = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap();
    assert!(
        volumes.iter().any(|v| v["configMap"]["name"] == name),
        "the Deployment mounts the ConfigMap kustomize generated ({name})"
    );
    let config = config_map["data"]["config.yaml"].as_str().unwrap();
    assert!(Config::parse(config).unwrap().problems().is_empty());
}

#[test]
fn the_teams_app_package_names_the_bot_and_only_commands_it_knows() {
    let text = std::fs::read_to_string("deploy/teams-app/manifest.json").unwrap();
    let manifest: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(manifest["bots"][0]["botId"], manifest["id"]);
    assert_eq!(
        strings(&manifest["bots"][0]["scopes"]),
        ["personal", "team"]
    );
    for command in manifest["bots"][0]["commandLists"][0]["commands"]
        .as_array()
        .unwrap()
    {
        let title = command["title"].as_str().unwrap();
        let typed = format!("{title} abc123def456 1h");
        let parsed = prod_access::domain::command::parse(&typed);
        assert!(
            matches!(parsed, Ok(ref c) if !matches!(c, prod_access::domain::command::Command::Request(_))),
            "`{title}` is not a subcommand: {parsed:?}"
        );
    }
    for (icon, size) in [("color", 192u32), ("outline", 32)] {
        let file = manifest["icons"][icon].as_str().unwrap();
        let png = std::fs::read(format!("deploy/teams-app/{file}")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert_eq!((width, height), (size, size), "{file}");
    }
}

#[test]
fn the_apiserver_audit_policy_sends_what_session_activity_counts_and_no_secret_values() {
    let policy = yaml("deploy/apiserver/audit-policy.yaml");
    assert_eq!(policy["apiVersion"], "audit.k8s.io/v1");
    assert_eq!(policy["kind"], "Policy");
    assert_eq!(strings(&policy["omitStages"]), ["RequestReceived"]);
    let rules = policy["rules"].as_array().unwrap();
    let rule_for = |resource: &str, verb: &str| {
        rules
            .iter()
            .find(|r| {
                let resources = r["resources"].as_array();
                let verbs = strings(&r["verbs"]);
                let user_rule = r.get("users").is_some() || r.get("userGroups").is_some();
                let url_rule = r.get("nonResourceURLs").is_some();
                !user_rule
                    && !url_rule
                    && (verbs.is_empty() || verbs.iter().any(|v| v == verb))
                    && resources.is_none_or(|rs| {
                        rs.iter()
                            .any(|g| strings(&g["resources"]).iter().any(|r| r == resource))
                    })
            })
            .map(|r| r["level"].as_str().unwrap().to_string())
    };
    assert_eq!(rule_for("pods/exec", "create").as_deref(), Some("Request"));
    assert_eq!(
        rule_for("pods/portforward", "create").as_deref(),
        Some("Request")
    );
    assert_eq!(rule_for("secrets", "get").as_deref(), Some("Request"));
    // A secret's value is in the body of its writes: never logged.
    assert_eq!(rule_for("secrets", "update").as_deref(), Some("Metadata"));
    assert_eq!(
        rule_for("deployments", "delete").as_deref(),
        Some("Metadata")
    );
    let last = rules.last().unwrap();
    assert_eq!(last["level"], "Metadata");
    assert!(
        last.get("resources").is_none(),
        "the last rule catches everything"
    );
}

#[test]
fn the_audit_webhook_kubeconfig_points_at_the_bot_with_its_token() {
    let config = yaml("deploy/apiserver/audit-webhook-kubeconfig.yaml");
    assert_eq!(config["kind"], "Config");
    let server = config["clusters"][0]["cluster"]["server"].as_str().unwrap();
    assert!(
        server.starts_with("https://") && server.ends_with("/k8s/audit"),
        "{server}"
    );
    let token = config["users"][0]["user"]["token"].as_str().unwrap();
    assert!(
        token.contains(prod_access::config::K8S_AUDIT_TOKEN_VAR),
        "{token}"
    );
    assert_eq!(config["current-context"], config["contexts"][0]["name"]);
    assert_eq!(
        config["contexts"][0]["context"]["user"],
        config["users"][0]["name"]
    );
}

/// The (group, resource, verb) triples the first ClusterRole in `path` grants.
fn cluster_role_rules(path: &str) -> BTreeSet<(String, String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let role: Value = text
        .split("\n---\n")
        .map(|doc| serde_saphyr::from_str::<Value>(doc).unwrap())
        .find(|doc| doc["kind"] == "ClusterRole")
        .unwrap_or_else(|| panic!("no ClusterRole in {path}"));
    let mut granted = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    granted.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    granted
}

#[test]
fn the_optional_cleanup_rights_cover_what_the_bot_asks_and_never_secrets() {
    use prod_access::domain::activity::leftover_resources;
    let read = cluster_role_rules("deploy/cleanup/read-leftovers.yaml");
    for (resource, group) in leftover_resources() {
        let granted = read.contains(&(group.into(), resource.into(), "get".into()));
        assert_eq!(granted, resource != "secrets", "get {resource}");
    }
    assert_eq!(read.len(), leftover_resources().count() - 1, "{read:?}");
    let delete = cluster_role_rules("deploy/cleanup/cleanup.yaml");
    assert!(delete.contains(&("".into(), "pods".into(), "delete".into())));
    let cluster_wide = [
        "clusterrolebindings",
        "clusterroles",
        "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations",
        "certificatesigningrequests",
    ];
    for (group, resource, verb) in &delete {
        assert_eq!(verb, "delete");
        assert!(resource != "secrets" && !cluster_wide.contains(&resource.as_str()));
        let known =
            leftover_resources().any(|(r, g)| (r, g) == (resource.as_str(), group.as_str()));
        assert!(known, "{group}/{resource} is no leftover");
    }
}
