//! Loading and checking the configuration file: the examples load, every problem is named.

use super::*;
use crate::domain::policy::Problem;
use crate::domain::testing::{assert_problem_containing, assert_problem_starting};

const EXAMPLE: &str = include_str!("../../config.example.yaml");

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn check_error(path: &Path) -> String {
    match check_file(path) {
        Ok(_) => panic!("{} should have problems", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_shipped_example_is_valid() {
    let config = Config::parse(EXAMPLE).unwrap();
    assert_eq!(config.problems(), Vec::<Problem>::new());
    match &config.chat {
        ChatSettings::Slack(slack) => assert_eq!(slack.api_url, DEFAULT_SLACK_API_URL),
        other => panic!("{other:?}"),
    }
    assert!(config.policy.roles.contains_key("edit"));
}

#[test]
fn unknown_keys_are_errors_not_silently_ignored() {
    let text = EXAMPLE.replace("audit_channel:", "audit_chanel:");
    let error = Config::parse(&text).unwrap_err();
    assert!(error.contains("audit_chanel"), "{error}");
}

#[test]
fn bad_durations_say_how_to_write_them_and_where() {
    let text = EXAMPLE.replace("max_duration: 4h", "max_duration: forever");
    let error = Config::parse(&text).unwrap_err();
    assert!(error.contains("write e.g. 30m, 2h, 1d"), "{error}");
    assert!(error.contains("line "), "{error}");
}

#[test]
fn problems_are_reported_at_their_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let text = EXAMPLE.replace("      approvals: 2", "      approvals: 3");
    let path = write(dir.path(), "config.yaml", &text);
    let error = check_error(&path);
    let line = text
        .lines()
        .position(|l| l.contains("approvals: 3"))
        .unwrap()
        + 1;
    let expected = format!(
        "{}:{line}:18: policy.roles.admin.approvals: needs 3 approvals but only 2 approvers are listed",
        path.display()
    );
    assert_eq!(error, expected);
}

#[test]
fn every_problem_is_listed_not_just_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let text = EXAMPLE
        .replace("approvals: 2", "approvals: 3")
        .replace("cluster_role: view", "cluster_role: \" \"")
        .replace(
            "api_url: https://slack.com/api",
            "api_url: http://slack.example.com/api",
        );
    let error = check_error(&write(dir.path(), "config.yaml", &text));
    assert_eq!(error.lines().count(), 3, "{error}");
    assert!(
        error.contains("policy.roles.view.cluster_role: must name a ClusterRole"),
        "{error}"
    );
    assert!(
        error.contains("slack.api_url: `http://slack.example.com/api` is plain HTTP"),
        "{error}"
    );
}

#[test]
fn the_policy_may_live_in_its_own_file_and_is_checked_there() {
    let dir = tempfile::tempdir().unwrap();
    let policy_start = EXAMPLE.find("policy:").unwrap();
    let policy_text: String = EXAMPLE[policy_start..]
        .lines()
        .skip(1)
        .map(|l| l.strip_prefix("  ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let config_text = format!("{}policy_file: policy.yaml\n", &EXAMPLE[..policy_start]);
    write(dir.path(), "policy.yaml", &policy_text);
    let config_path = write(dir.path(), "config.yaml", &config_text);
    let config = Config::load(&config_path).unwrap();
    assert!(config.policy.roles.contains_key("admin"));

    let broken = policy_text.replace("approvals: 2", "approvals: 5");
    let policy_path = write(dir.path(), "policy.yaml", &broken);
    let error = check_error(&config_path);
    assert!(
        error.starts_with(&format!("{}:", policy_path.display())),
        "the error points into the policy file: {error}"
    );
    assert!(
        error.contains(": roles.admin.approvals: needs 5"),
        "{error}"
    );
    // The policy file alone can be checked too.
    let error = check_error(&policy_path);
    assert!(
        error.contains(": roles.admin.approvals: needs 5"),
        "{error}"
    );
}

#[test]
fn policy_and_policy_file_are_exclusive() {
    let text = format!("{EXAMPLE}policy_file: other.yaml\n");
    assert!(
        Config::parse(&text)
            .unwrap_err()
            .contains("either `policy` or `policy_file`")
    );
    let start = EXAMPLE.find("policy:").unwrap();
    assert!(
        Config::parse(&EXAMPLE[..start])
            .unwrap_err()
            .contains("missing `policy`")
    );
}

#[test]
fn the_store_is_a_directory_or_a_postgres_url_from_the_environment_never_both() {
    let without_path: String = EXAMPLE
        .lines()
        .filter(|l| !l.starts_with("store_path:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(matches!(
        Config::parse(EXAMPLE).unwrap().store,
        StoreLocation::Sled(_)
    ));
    let postgres = format!("{without_path}store: {{ postgres: {{}} }}\n");
    assert_eq!(
        Config::parse(&postgres).unwrap().store,
        StoreLocation::Postgres {
            url_env: "DATABASE_URL".into()
        }
    );
    let named = format!("{without_path}store: {{ postgres: {{ url_env: PA_DB }} }}\n");
    assert_eq!(
        Config::parse(&named).unwrap().store,
        StoreLocation::Postgres {
            url_env: "PA_DB".into()
        }
    );
    let both = format!("{EXAMPLE}store: {{ postgres: {{}} }}\n");
    assert!(Config::parse(&both).unwrap_err().contains("not both"));
    assert!(
        Config::parse(&without_path)
            .unwrap_err()
            .contains("missing `store_path`")
    );
    let url_in_file = format!("{without_path}store: {{ postgres: {{ url: postgres://x }} }}\n");
    assert!(
        Config::parse(&url_in_file).is_err(),
        "the URL (and its password) is never read from the file"
    );
}

#[test]
fn the_schema_describes_the_configuration_and_the_policy() {
    let text = schema(false).to_string();
    for key in [
        "store_path",
        "approvals_channel",
        "policy_file",
        "max_duration",
        "ticket",
    ] {
        assert!(text.contains(key), "{key} missing from the schema");
    }
    let policy = schema(true);
    assert!(policy["properties"]["roles"].is_object(), "{policy}");
}

#[test]
fn plain_http_is_only_allowed_to_loopback() {
    assert!(check_api_url("https://slack.com/api").is_ok());
    assert!(check_api_url("http://127.0.0.1:9999/api").is_ok());
    assert!(check_api_url("http://localhost:9999/api").is_ok());
    assert!(check_api_url("http://[::1]:9999/api").is_ok());
    assert!(check_api_url("http://10.0.0.5/api").is_err());
    assert!(check_api_url("ftp://slack.com/api").is_err());
    assert!(check_api_url("not a url").is_err());
}

#[test]
fn secrets_never_print() {
    let secrets = Secrets {
        slack_bot_token: Some("xoxb-secret".into()),
        slack_signing_secret: Some("shh".into()),
        slack_app_token: Some("xapp-hidden".into()),
        audit_webhook_secret: Some("hush".into()),
        teams_app_password: Some("teams-hidden".into()),
        pagerduty_token: Some("pd-hidden".into()),
        opsgenie_api_key: Some("genie-hidden".into()),
        k8s_audit_token: Some("k8s-audit-hidden".into()),
        k8s_audit_cluster_tokens: [(
            "PROD_ACCESS_K8S_AUDIT_TOKEN_US".to_string(),
            "k8s-us-hidden".to_string(),
        )]
        .into(),
    };
    let printed = format!("{secrets:?}");
    assert!(
        !printed.contains("xoxb")
            && !printed.contains("shh")
            && !printed.contains("hush")
            && !printed.contains("pd-hidden")
            && !printed.contains("genie-hidden")
            && !printed.contains("k8s-audit-hidden")
            && !printed.contains("k8s-us-hidden")
            && !printed.contains("xapp")
            && !printed.contains("teams-hidden")
    );
}

const TEAMS_EXAMPLE: &str = include_str!("../../config.teams.example.yaml");

#[test]
fn the_shipped_teams_example_is_valid() {
    let config = Config::parse(TEAMS_EXAMPLE).unwrap();
    assert_eq!(config.problems(), Vec::<Problem>::new());
    assert_eq!(config.platform(), crate::chat::Platform::Teams);
    assert_eq!(
        config.chat.approvals_channel(),
        "19:approvals0000000000000000000@thread.tacv2"
    );
    match &config.chat {
        ChatSettings::Teams(teams) => {
            assert_eq!(teams.service_url, chat::DEFAULT_TEAMS_SERVICE_URL)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn one_platform_per_deployment() {
    let slack_part = EXAMPLE
        .split("\n# Who may become")
        .next()
        .unwrap()
        .split("slack:")
        .nth(1)
        .unwrap();
    let both = TEAMS_EXAMPLE.replace("teams:", &format!("slack:{slack_part}teams:"));
    let error = Config::parse(&both).unwrap_err();
    assert!(error.contains("either `slack` or `teams`"), "{error}");
    let neither = EXAMPLE.replace("slack:", "slackk:");
    assert!(Config::parse(&neither).is_err());
}

#[test]
fn in_teams_approvers_are_emails_and_no_role_sends_a_kubeconfig() {
    let text = TEAMS_EXAMPLE
        .replace(
            "[bob.smith@example.com, carol.jones@example.com]",
            "[U0BOBSMITH, S0SRE]",
        )
        .replace(
            "      approvals: 2",
            "      approvals: 2\n      kubeconfig: true",
        );
    let config = Config::parse(&text).unwrap();
    let problems: Vec<String> = config
        .problems()
        .iter()
        .map(|p| format!("{}: {}", p.path.join("."), p.message))
        .collect();
    assert_problem_starting(&problems, "policy.approvers: `U0BOBSMITH` is not an email");
    assert_problem_containing(&problems, "`S0SRE` is not an email");
    assert_problem_starting(
        &problems,
        "policy.roles.admin.kubeconfig: Teams cannot deliver",
    );
}

#[test]
fn teams_settings_must_be_filled_and_urls_safe() {
    let text = TEAMS_EXAMPLE
        .replace("00000000-0000-0000-0000-000000000000", "\"\"")
        .replace(
            "https://smba.trafficmanager.net/teams/",
            "http://smba.example.com/",
        );
    let config = Config::parse(&text).unwrap();
    let paths: Vec<String> = config.problems().iter().map(|p| p.path.join(".")).collect();
    assert!(paths.contains(&"teams.app_id".to_string()), "{paths:?}");
    assert!(
        paths.contains(&"teams.service_url".to_string()),
        "{paths:?}"
    );
}

#[test]
fn a_bad_reconcile_schedule_is_a_located_problem() {
    let dir = tempfile::tempdir().unwrap();
    let text = EXAMPLE.replace(
        "  subject_prefix: \"oidc:\"",
        "  subject_prefix: \"oidc:\"\n  reconcile_schedule: every minute",
    );
    let error = check_error(&write(dir.path(), "config.yaml", &text));
    assert!(
        error.contains("kubernetes.reconcile_schedule: `every minute` is not a cron schedule"),
        "{error}"
    );
    let ok = EXAMPLE.replace(
        "  subject_prefix: \"oidc:\"",
        "  subject_prefix: \"oidc:\"\n  reconcile_schedule: \"*/30 * * * * *\"",
    );
    assert!(Config::parse(&ok).unwrap().problems().is_empty());
}

#[test]
fn clusters_come_from_contexts_or_the_pod_and_roles_must_name_configured_ones() {
    let text = format!(
        "{EXAMPLE}clusters:\n  eu: {{ context: prod-eu }}\n  home: {{ in_cluster: true }}\n"
    );
    let config = Config::parse(&text).unwrap();
    assert_eq!(config.cluster_names(), vec!["eu", "home"]);
    assert!(config.problems().is_empty(), "{:?}", config.problems());

    let mut config = config;
    config.policy.roles.get_mut("edit").unwrap().clusters = vec!["us".into()];
    config.clusters.get_mut("eu").unwrap().in_cluster = true;
    let problems: Vec<String> = config.problems().iter().map(|p| p.to_string()).collect();
    assert_problem_containing(
        &problems,
        "policy.roles.edit.clusters: `us` is not a configured cluster",
    );
    assert_problem_containing(
        &problems,
        "clusters.eu: give either `context` or `in_cluster",
    );
    assert_problem_containing(&problems, "only one cluster can be the one the bot runs in");
}

#[test]
fn the_audit_digest_runs_daily_by_default_and_can_be_turned_off_or_rescheduled() {
    let config = Config::parse(EXAMPLE).unwrap();
    assert_eq!(config.audit.digest_schedule, "0 0 9 * * *");
    assert!(config.audit.webhook.is_none());
    let off = format!("{EXAMPLE}audit:\n  digest_schedule: \"off\"\n");
    assert!(Config::parse(&off).unwrap().problems().is_empty());
    assert_eq!(crate::config::schedule::parse_digest("off"), Ok(None));

    let dir = tempfile::tempdir().unwrap();
    let bad = format!("{EXAMPLE}audit:\n  digest_schedule: daily\n");
    let error = check_error(&write(dir.path(), "config.yaml", &bad));
    assert!(
        error.contains("audit.digest_schedule: `daily` is not a cron schedule"),
        "{error}"
    );
    let line = EXAMPLE.lines().count() + 2;
    assert!(
        error.contains(&format!("config.yaml:{line}:")),
        "located: {error}"
    );
}

#[test]
fn the_audit_webhook_must_be_https_unless_it_is_on_this_machine() {
    let with = |url: &str| format!("{EXAMPLE}audit:\n  webhook:\n    url: {url}\n");
    let https = Config::parse(&with("https://siem.example.com/hook")).unwrap();
    assert!(https.problems().is_empty());
    assert_eq!(
        https.audit.webhook.unwrap().url,
        "https://siem.example.com/hook"
    );
    assert!(
        Config::parse(&with("http://127.0.0.1:9000/hook"))
            .unwrap()
            .problems()
            .is_empty()
    );
    let problems = Config::parse(&with("http://siem.internal/hook"))
        .unwrap()
        .problems();
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].to_string().contains("audit.webhook.url"),
        "{}",
        problems[0]
    );
    assert!(
        Config::parse(&format!(
            "{EXAMPLE}audit:\n  webhook: {{ url: x, secret: y }}\n"
        ))
        .is_err(),
        "the secret never goes in the file"
    );
}

#[test]
fn policy_check_requires_the_allowed_email_domains() {
    let dir = tempfile::tempdir().unwrap();
    let without = EXAMPLE.replace("  allowed_email_domains: [example.com]\n", "");
    let error = check_error(&write(dir.path(), "config.yaml", &without));
    assert!(
        error.contains("identity.allowed_email_domains: list the email domains"),
        "{error}"
    );
    let not_a_domain = EXAMPLE.replace("[example.com]", "[\"alice@example.com\"]");
    let error = check_error(&write(dir.path(), "config.yaml", &not_a_domain));
    assert!(error.contains("is not a domain"), "{error}");
}
