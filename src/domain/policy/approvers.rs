//! Who approves a role: Slack user ids, user groups and emails as the policy names them, and the
//! policy with the groups and emails looked up, which every decision uses.

use super::Policy;

impl Policy {
    /// The approvers of a role as the policy stands now; empty for a role the policy no longer has.
    pub fn approvers_for(&self, role: &str) -> &[String] {
        match self.roles.get(role) {
            Some(r) if !r.approvers.is_empty() => &r.approvers,
            Some(_) => &self.approvers,
            None => &[],
        }
    }

    /// Whether `user` may see the details of a grant of `role` they did not request: its
    /// approvers and the policy's auditors, in a policy whose groups and emails were resolved.
    pub fn may_see(&self, role: &str, user: &str) -> bool {
        self.may_approve(role, user)
            || (matches!(
                ApproverRef::parse(user),
                ApproverRef::User(_) | ApproverRef::Email(_)
            ) && self.auditors.iter().any(|a| a == user))
    }

    /// Whether `user` (a Slack user ID, or in Teams the email people are known by) may approve
    /// requests for `role`, in a policy whose groups and emails were resolved to users.
    pub fn may_approve(&self, role: &str, user: &str) -> bool {
        matches!(
            ApproverRef::parse(user),
            ApproverRef::User(_) | ApproverRef::Email(_)
        ) && self.approvers_for(role).iter().any(|a| a == user)
    }

    /// The approver references of `role` that name a user group or an email, which must be
    /// looked up before the role's approvers are known; so are its break-glass requesters and
    /// the policy's auditors.
    pub fn unresolved_approvers(&self, role: &str) -> Vec<&str> {
        let requesters = self
            .roles
            .get(role)
            .and_then(|r| r.break_glass.as_ref())
            .map(|b| b.requesters.as_slice())
            .unwrap_or_default();
        self.approvers_for(role)
            .iter()
            .chain(requesters)
            .chain(&self.auditors)
            .map(String::as_str)
            .filter(|a| ApproverRef::parse(a) != ApproverRef::User(a))
            .collect()
    }

    /// This policy with group and email references replaced by the user IDs they stand for.
    /// A reference missing from `resolved` stands for nobody: lookups fail closed.
    pub fn resolved(&self, resolved: &std::collections::HashMap<String, Vec<String>>) -> Policy {
        let expand = |refs: &[String]| -> Vec<String> {
            let mut users = Vec::new();
            for r in refs {
                match ApproverRef::parse(r) {
                    ApproverRef::User(id) => users.push(id.to_string()),
                    _ => users.extend(resolved.get(r).into_iter().flatten().cloned()),
                }
            }
            users.sort();
            users.dedup();
            users
        };
        let mut policy = self.clone();
        policy.approvers = expand(&self.approvers);
        policy.auditors = expand(&self.auditors);
        for role in policy.roles.values_mut() {
            // An empty list means "the default approvers"; keep it empty rather than expanding it.
            if !role.approvers.is_empty() {
                role.approvers = expand(&role.approvers);
                if role.approvers.is_empty() {
                    // Every reference resolved to nobody: nobody may approve, not the default list.
                    role.approvers.push(NOBODY.to_string());
                }
            }
            if let Some(rule) = role.break_glass.as_mut()
                && !rule.requesters.is_empty()
            {
                rule.requesters = expand(&rule.requesters);
                if rule.requesters.is_empty() {
                    rule.requesters.push(NOBODY.to_string());
                }
            }
        }
        policy
    }
}

/// Stands for "no approver" where an empty list would mean "the default approvers".
const NOBODY: &str = "-";

/// How an approver is named in the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApproverRef<'a> {
    /// A Slack user ID (`U…` or `W…`).
    User(&'a str),
    /// A Slack user group ID (`S…`), expanded with `usergroups.users.list`.
    Group(&'a str),
    /// An email, looked up with `users.lookupByEmail`.
    Email(&'a str),
    Invalid(&'a str),
}

impl<'a> ApproverRef<'a> {
    pub fn parse(text: &'a str) -> ApproverRef<'a> {
        let id_like = text.len() >= 3
            && text
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        match text.as_bytes().first() {
            _ if text.contains('@') && !text.starts_with('@') && !text.ends_with('@') => {
                ApproverRef::Email(text)
            }
            Some(b'U' | b'W') if id_like => ApproverRef::User(text),
            Some(b'S') if id_like => ApproverRef::Group(text),
            _ => ApproverRef::Invalid(text),
        }
    }
}
