//! Checking a policy: every problem that would make it unsafe or unusable, with the key path it
//! is at, so `policy check` can point at the line.

use super::command::RESERVED_WORDS;
use super::policy::{ApproverRef, Policy, Problem, RoleScope, is_dns_label};

impl Policy {
    /// Every problem that would make the policy unsafe or unusable, with where it is.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.roles.is_empty() {
            problems.push(Problem::at(&["roles"], "at least one role is needed"));
        }
        problems.extend(self.never_namespaces.problems());
        for approver in &self.approvers {
            if let ApproverRef::Invalid(text) = ApproverRef::parse(approver) {
                problems.push(Problem::at(&["approvers"], not_an_approver(text)));
            }
        }
        problems.extend(self.incidents.problems());
        for (name, role) in &self.roles {
            let at = |field: &'static str| vec!["roles", name.as_str(), field];
            let mut push =
                |path: Vec<&str>, message: String| problems.push(Problem::at(&path, message));
            if !is_dns_label(name) {
                push(
                    vec!["roles", name],
                    "a role name must be lowercase letters, digits and '-'".into(),
                );
            }
            if RESERVED_WORDS.contains(&name.as_str()) {
                push(
                    vec!["roles", name],
                    format!("`{name}` is a subcommand and cannot be a role name"),
                );
            }
            if role.cluster_role.trim().is_empty() {
                push(at("cluster_role"), "must name a ClusterRole".into());
            }
            match (role.scope, role.namespaces.is_empty()) {
                (RoleScope::Namespaced, true) => {
                    push(at("namespaces"), "at least one namespace is needed".into())
                }
                (RoleScope::Cluster, false) => push(
                    at("namespaces"),
                    "a cluster-scoped role applies to the whole cluster; remove its namespaces"
                        .into(),
                ),
                _ => {}
            }
            for ns in &role.namespaces {
                if !is_dns_label(&ns.replace(['*', '?'], "x")) {
                    push(
                        at("namespaces"),
                        format!(
                            "`{ns}` is not a valid namespace name or pattern (RFC 1123 label; `*` and `?` as wildcards)"
                        ),
                    );
                }
                if self.never_namespaces.named_by(ns).is_some() {
                    push(
                        at("namespaces"),
                        format!(
                            "`{ns}` names a namespace no grant may reach (never_namespaces, which \
                             always holds kube-system); remove it"
                        ),
                    );
                }
            }
            if role.max_duration.is_zero() {
                push(at("max_duration"), "must be longer than zero".into());
            }
            if let Some(default) = role.default_duration
                && (default.is_zero() || default > role.max_duration)
            {
                push(
                    at("default_duration"),
                    format!(
                        "must be longer than zero and at most max_duration ({})",
                        humantime::format_duration(role.max_duration)
                    ),
                );
            }
            if let Some(pattern) = &role.reason.ticket
                && let Err(e) = regex::Regex::new(pattern)
            {
                push(
                    vec!["roles", name, "reason", "ticket"],
                    format!("not a regular expression: {e}"),
                );
            }
            if role.approvals == 0 {
                push(at("approvals"), "at least one approval is needed".into());
            }
            if role.extensions.approvals == Some(0) {
                push(
                    vec!["roles", name, "extensions", "approvals"],
                    "at least one approval is needed".into(),
                );
            }
            if let Some(rule) = &role.break_glass {
                let path = vec!["roles", name.as_str(), "break_glass", "max_duration"];
                if rule.max_duration.is_zero() || rule.max_duration > role.max_duration {
                    push(
                        path,
                        format!(
                            "must be longer than zero and at most max_duration ({})",
                            humantime::format_duration(role.max_duration)
                        ),
                    );
                }
                for requester in &rule.requesters {
                    if let ApproverRef::Invalid(text) = ApproverRef::parse(requester) {
                        push(
                            vec!["roles", name, "break_glass", "requesters"],
                            not_an_approver(text),
                        );
                    }
                }
                if rule.requesters.is_empty() && !self.incidents.is_empty() {
                    push(
                        vec!["roles", name, "break_glass"],
                        "name who may break glass in break_glass.requesters: anyone in an \
                         incident channel (a guest, anyone who named a channel like one) could \
                         otherwise approve their own access"
                            .into(),
                    );
                }
                let incidents = &self.incidents;
                if incidents.channels.is_empty()
                    && incidents.created_by.is_empty()
                    && !incidents.name_patterns.is_empty()
                    && incidents.reference_pattern.is_none()
                {
                    push(
                        vec!["roles", name, "break_glass"],
                        "in channels matched only by name, break-glass needs a reference matching \
                         incidents.reference_pattern, and none is set (or list channels by ID, or \
                         the incident tool in incidents.created_by)"
                            .into(),
                    );
                }
                if self.incidents.is_empty() {
                    push(
                        vec!["roles", name, "break_glass"],
                        "a break-glass role is only allowed in incident channels, and \
                         `incidents` names none"
                            .into(),
                    );
                }
            }
            if let Some(rule) = &role.on_call {
                if rule.is_empty() {
                    push(
                        vec!["roles", name, "on_call"],
                        "names no schedule (or escalation policy) to look up".into(),
                    );
                }
                if let crate::domain::on_call::OnCallRule::Pagerduty {
                    max_escalation_level: 0,
                    ..
                } = rule
                {
                    push(
                        vec!["roles", name, "on_call", "max_escalation_level"],
                        "escalation levels start at 1".into(),
                    );
                }
            }
            for approver in &role.approvers {
                if let ApproverRef::Invalid(text) = ApproverRef::parse(approver) {
                    push(at("approvers"), not_an_approver(text));
                }
            }
            let approvers = self.approvers_for(name);
            // A group or an email may stand for any number of people; only a list of user IDs
            // can be counted here.
            let countable = approvers
                .iter()
                .all(|a| matches!(ApproverRef::parse(a), ApproverRef::User(_)));
            if approvers.is_empty() {
                push(
                    at("approvers"),
                    "no approvers (set approvers at the top or on the role)".into(),
                );
            } else if countable {
                let mut counts = vec![(at("approvals"), role.approvals)];
                if let Some(needed) = role.extensions.approvals {
                    counts.push((vec!["roles", name, "extensions", "approvals"], needed));
                }
                for (path, needed) in counts {
                    if (approvers.len() as u64) < u64::from(needed) {
                        push(
                            path,
                            format!(
                                "needs {needed} approvals but only {} approvers are listed",
                                approvers.len()
                            ),
                        );
                    }
                }
            }
        }
        if self.requests.review_timeout.is_zero() {
            problems.push(Problem::at(
                &["requests", "review_timeout"],
                "must be longer than zero",
            ));
        }
        problems
    }
}

impl super::incident::IncidentChannels {
    fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (key, entries) in [
            ("channels", &self.channels),
            ("name_patterns", &self.name_patterns),
            ("created_by", &self.created_by),
        ] {
            if entries.iter().any(|e| e.trim().is_empty()) {
                problems.push(Problem::at(
                    &["incidents", key],
                    "an empty entry would name no channel; remove it",
                ));
            }
        }
        for creator in &self.created_by {
            if !matches!(ApproverRef::parse(creator), ApproverRef::User(_)) {
                problems.push(Problem::at(
                    &["incidents", "created_by"],
                    format!("`{creator}` is not a Slack user ID (U…/W…): name the incident tool's bot user"),
                ));
            }
        }
        if let Some(pattern) = &self.reference_pattern
            && let Err(e) = regex::Regex::new(pattern)
        {
            problems.push(Problem::at(
                &["incidents", "reference_pattern"],
                format!("not a regular expression: {e}"),
            ));
        }
        problems
    }
}

fn not_an_approver(text: &str) -> String {
    format!("`{text}` is not a Slack user ID (U…/W…), user group ID (S…) or email")
}

#[cfg(test)]
mod incident_tests;
