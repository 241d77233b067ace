//! The configuration every harness starts from: Slack on the fake, the standard roles, and the
//! incident channels.

use super::*;

/// What every Slack configuration of the tests starts with: where the bot listens and keeps
/// its store, the fake Slack and its channels, and whose accounts count.
pub fn slack_basics(listen: &str, store: &std::path::Path, api_url: &str) -> String {
    format!(
        "listen: {listen}\nstore_path: {store}\nslack:\n  api_url: {api_url}\n  approvals_channel: {APPROVALS}\n  audit_channel: {AUDIT}\nidentity:\n  allowed_email_domains: [example.com]\n",
        store = store.display()
    )
}

pub(super) fn config_yaml(api_url: &str, store: &std::path::Path) -> String {
    slack_basics("127.0.0.1:0", store, api_url)
        + &format!(
            r#"
kubernetes:
  subject_prefix: "oidc:"
  group_prefix: "oidc:"
  identities:
    {DANA}: {{ user: dana, groups: [orders-oncall] }}
  kubeconfig:
    server: https://api.prod.example.com:6443
    certificate_authority_data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
policy:
  approvers: [{BOB}, {CAROL}]
  auditors: [erin@example.com]
  incidents:
    channels: [{WAR_ROOM}]
    name_patterns: ["inc-*"]
    created_by: [{INCIDENT_BOT}]
    reference_pattern: "INC-[0-9]+"
  requests:
    review_timeout: 1h
    reminder_before: 10m
  roles:
    admin:
      cluster_role: admin
      namespaces: [payments]
      max_duration: 1h
      approvals: 2
      reason: {{ ticket: "INC-[0-9]+" }}
    debug:
      cluster_role: view
      namespaces: [orders]
      max_duration: 1h
      approvers: [S0ONCALL, dana@example.com]
      approvals_channel: {ONCALL_CHANNEL}
      reason: {{ required: false }}
    edit:
      cluster_role: edit
      namespaces: [payments, orders]
      max_duration: 4h
      cleanup: {{ restart_pods: true, delete_leftovers: true }}
    nodes:
      cluster_role: node-reader
      scope: cluster
      max_duration: 1h
    view:
      cluster_role: view
      namespaces: [payments]
      max_duration: 8h
      extensions: {{ allowed: false }}
      kubeconfig: true
"#
        )
}
