//! The files a platform engineer applies by hand must say what the bot needs.

use serde_json::Value;

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_slack_app_manifest_has_the_command_interactivity_and_scopes() {
    let manifest = yaml("app-manifest.yaml");
    let command = &manifest["features"]["slash_commands"][0];
    assert_eq!(command["command"], "/prod-access");
    assert!(
        command["url"]
            .as_str()
            .unwrap()
            .ends_with("/slack/commands")
    );
    let interactivity = &manifest["settings"]["interactivity"];
    assert_eq!(interactivity["is_enabled"], true);
    assert!(
        interactivity["request_url"]
            .as_str()
            .unwrap()
            .ends_with("/slack/interactions")
    );
    let scopes: Vec<&str> = manifest["oauth_config"]["scopes"]["bot"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for needed in [
        "commands",
        "chat:write",
        "users:read",
        "users:read.email",
        "usergroups:read",
        "im:write",
    ] {
        assert!(scopes.contains(&needed), "missing scope {needed}");
    }
}

#[test]
fn the_deployed_config_is_valid_and_the_bot_may_bind_every_role_it_names() {
    let text = std::fs::read_to_string("deploy/kubernetes.yaml").unwrap();
    let documents: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let config_map = documents
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .expect("a ConfigMap");
    let config =
        prod_access::config::Config::parse(config_map["data"]["config.yaml"].as_str().unwrap())
            .unwrap();
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let bot_role = documents
        .iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "prod-access-bot")
        .expect("the bot's ClusterRole");
    let bindable: Vec<&str> = bot_role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verbs"].as_array().unwrap().iter().any(|v| v == "bind"))
        .flat_map(|r| r["resourceNames"].as_array().unwrap())
        .map(|n| n.as_str().unwrap())
        .collect();
    for role in config.policy.roles.values() {
        assert!(
            bindable.contains(&role.cluster_role.as_str()),
            "cannot bind {}",
            role.cluster_role
        );
    }
}
