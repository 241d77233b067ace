//! Checking a policy: every problem that would make it unsafe or unusable, with the key path it
//! is at, so `policy check` can point at the line.

use super::break_glass::BreakGlassRule;
use super::command::RESERVED_WORDS;
use super::on_call::OnCallRule;
use super::policy::{ApproverRef, Policy, Problem, RolePolicy, RoleScope, is_dns_label};

impl Policy {
    /// Every problem that would make the policy unsafe or unusable, with where it is.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.roles.is_empty() {
            problems.push(Problem::at(&["roles"], "at least one role is needed"));
        }
        problems.extend(self.never_namespaces.problems());
        problems.extend(
            not_approvers(&self.approvers).map(|message| Problem::at(&["approvers"], message)),
        );
        problems.extend(self.incidents.problems());
        for (name, role) in &self.roles {
            problems.extend(self.role_problems(&RoleAt(name), role));
        }
        if self.requests.review_timeout.is_zero() {
            problems.push(Problem::at(
                &["requests", "review_timeout"],
                "must be longer than zero",
            ));
        }
        problems
    }

    /// The problems of one role, in the order its settings are documented.
    fn role_problems(&self, at: &RoleAt, role: &RolePolicy) -> Vec<Problem> {
        let mut problems = name_problems(at);
        problems.extend(self.scope_problems(at, role));
        problems.extend(duration_problems(at, role));
        problems.extend(ticket_problems(at, role));
        problems.extend(approval_count_problems(at, role));
        if let Some(rule) = &role.break_glass {
            problems.extend(self.break_glass_problems(at, role, rule));
        }
        if let Some(rule) = &role.on_call {
            problems.extend(on_call_problems(at, rule));
        }
        problems.extend(self.approver_problems(at, role));
        problems
    }

    /// What the role binds, and where: a ClusterRole, and namespaces only when namespaced.
    fn scope_problems(&self, at: &RoleAt, role: &RolePolicy) -> Vec<Problem> {
        let mut problems = Vec::new();
        if role.cluster_role.trim().is_empty() {
            problems.push(at.problem(&["cluster_role"], "must name a ClusterRole"));
        }
        match (role.scope, role.namespaces.is_empty()) {
            (RoleScope::Namespaced, true) => {
                problems.push(at.problem(&["namespaces"], "at least one namespace is needed"))
            }
            (RoleScope::Cluster, false) => problems.push(at.problem(
                &["namespaces"],
                "a cluster-scoped role applies to the whole cluster; remove its namespaces",
            )),
            _ => {}
        }
        for ns in &role.namespaces {
            if !is_dns_label(&ns.replace(['*', '?'], "x")) {
                problems.push(at.problem(
                    &["namespaces"],
                    format!(
                        "`{ns}` is not a valid namespace name or pattern (RFC 1123 label; `*` and `?` as wildcards)"
                    ),
                ));
            }
            if self.never_namespaces.named_by(ns).is_some() {
                problems.push(at.problem(
                    &["namespaces"],
                    format!(
                        "`{ns}` names a namespace no grant may reach (never_namespaces, which \
                         always holds kube-system); remove it"
                    ),
                ));
            }
        }
        problems
    }

    /// A break-glass role: a cap within the role's, named requesters, and incident channels
    /// that can be told apart from channels merely named like one.
    fn break_glass_problems(
        &self,
        at: &RoleAt,
        role: &RolePolicy,
        rule: &BreakGlassRule,
    ) -> Vec<Problem> {
        let mut problems = Vec::new();
        if rule.max_duration.is_zero() || rule.max_duration > role.max_duration {
            problems.push(at.problem(&["break_glass", "max_duration"], at_most_max(role)));
        }
        problems.extend(
            not_approvers(&rule.requesters)
                .map(|message| at.problem(&["break_glass", "requesters"], message)),
        );
        let incidents = &self.incidents;
        if rule.requesters.is_empty() && !incidents.is_empty() {
            problems.push(at.problem(
                &["break_glass"],
                "name who may break glass in break_glass.requesters: anyone in an \
                 incident channel (a guest, anyone who named a channel like one) could \
                 otherwise approve their own access",
            ));
        }
        if incidents.channels.is_empty()
            && incidents.created_by.is_empty()
            && !incidents.name_patterns.is_empty()
            && incidents.reference_pattern.is_none()
        {
            problems.push(at.problem(
                &["break_glass"],
                "in channels matched only by name, break-glass needs a reference matching \
                 incidents.reference_pattern, and none is set (or list channels by ID, or \
                 the incident tool in incidents.created_by)",
            ));
        }
        if incidents.is_empty() {
            problems.push(at.problem(
                &["break_glass"],
                "a break-glass role is only allowed in incident channels, and \
                 `incidents` names none",
            ));
        }
        problems
    }

    /// The role's approvers: valid references, some at all, and (where they can be counted)
    /// enough of them for the approvals it needs.
    fn approver_problems(&self, at: &RoleAt, role: &RolePolicy) -> Vec<Problem> {
        let mut problems: Vec<Problem> = not_approvers(&role.approvers)
            .map(|message| at.problem(&["approvers"], message))
            .collect();
        let approvers = self.approvers_for(at.0);
        // A group or an email may stand for any number of people; only a list of user IDs
        // can be counted here.
        let countable = approvers
            .iter()
            .all(|a| matches!(ApproverRef::parse(a), ApproverRef::User(_)));
        if approvers.is_empty() {
            problems.push(at.problem(
                &["approvers"],
                "no approvers (set approvers at the top or on the role)",
            ));
        } else if countable {
            let mut counts = vec![(&["approvals"][..], role.approvals)];
            if let Some(needed) = role.extensions.approvals {
                counts.push((&["extensions", "approvals"][..], needed));
            }
            for (keys, needed) in counts {
                if (approvers.len() as u64) < u64::from(needed) {
                    problems.push(at.problem(
                        keys,
                        format!(
                            "needs {needed} approvals but only {} approvers are listed",
                            approvers.len()
                        ),
                    ));
                }
            }
        }
        problems
    }
}

/// Where a role's problems are: key paths under `roles.<name>`.
struct RoleAt<'a>(&'a str);

impl RoleAt<'_> {
    fn problem(&self, keys: &[&str], message: impl Into<String>) -> Problem {
        let mut path = vec!["roles", self.0];
        path.extend_from_slice(keys);
        Problem::at(&path, message)
    }
}

/// A role's name is typed in commands: a DNS label, and not one of the subcommands.
fn name_problems(at: &RoleAt) -> Vec<Problem> {
    let name = at.0;
    let mut problems = Vec::new();
    if !is_dns_label(name) {
        problems.push(at.problem(&[], "a role name must be lowercase letters, digits and '-'"));
    }
    if RESERVED_WORDS.contains(&name) {
        problems.push(at.problem(
            &[],
            format!("`{name}` is a subcommand and cannot be a role name"),
        ));
    }
    problems
}

fn duration_problems(at: &RoleAt, role: &RolePolicy) -> Vec<Problem> {
    let mut problems = Vec::new();
    if role.max_duration.is_zero() {
        problems.push(at.problem(&["max_duration"], "must be longer than zero"));
    }
    if let Some(default) = role.default_duration
        && (default.is_zero() || default > role.max_duration)
    {
        problems.push(at.problem(&["default_duration"], at_most_max(role)));
    }
    problems
}

fn ticket_problems(at: &RoleAt, role: &RolePolicy) -> Option<Problem> {
    let pattern = role.reason.ticket.as_ref()?;
    let error = regex::Regex::new(pattern).err()?;
    Some(at.problem(
        &["reason", "ticket"],
        format!("not a regular expression: {error}"),
    ))
}

/// A role (and its extensions) that needs no approval at all would be granted unasked.
fn approval_count_problems(at: &RoleAt, role: &RolePolicy) -> Vec<Problem> {
    let mut problems = Vec::new();
    if role.approvals == 0 {
        problems.push(at.problem(&["approvals"], "at least one approval is needed"));
    }
    if role.extensions.approvals == Some(0) {
        problems.push(at.problem(
            &["extensions", "approvals"],
            "at least one approval is needed",
        ));
    }
    problems
}

fn on_call_problems(at: &RoleAt, rule: &OnCallRule) -> Vec<Problem> {
    let mut problems = Vec::new();
    if rule.is_empty() {
        problems.push(at.problem(
            &["on_call"],
            "names no schedule (or escalation policy) to look up",
        ));
    }
    if let OnCallRule::Pagerduty {
        max_escalation_level: 0,
        ..
    } = rule
    {
        problems.push(at.problem(
            &["on_call", "max_escalation_level"],
            "escalation levels start at 1",
        ));
    }
    problems
}

fn at_most_max(role: &RolePolicy) -> String {
    format!(
        "must be longer than zero and at most max_duration ({})",
        humantime::format_duration(role.max_duration)
    )
}

/// What is wrong with each of `refs` that names no user, user group or email.
fn not_approvers(refs: &[String]) -> impl Iterator<Item = String> + '_ {
    refs.iter().filter_map(|r| match ApproverRef::parse(r) {
        ApproverRef::Invalid(text) => Some(not_an_approver(text)),
        _ => None,
    })
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
