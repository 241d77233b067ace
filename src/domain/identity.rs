//! Who a chat user is in Kubernetes: an explicit table first, else their email with a prefix.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The subjects a grant binds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub user: String,
    #[serde(default)]
    pub groups: Vec<String>,
    /// The namespace of the grant's ServiceAccount, also bound, when the grant issues a token.
    #[serde(default)]
    pub service_account: Option<String>,
}

/// One row of the explicit table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MappedIdentity {
    /// The Kubernetes user name, used as it is (no prefix).
    pub user: String,
    /// Kubernetes groups bound as well, each with `group_prefix` in front.
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityRules<'a> {
    pub subject_prefix: &'a str,
    pub group_prefix: &'a str,
    pub table: Option<&'a BTreeMap<String, MappedIdentity>>,
}

impl IdentityRules<'_> {
    /// Whether `user` is in the table, so no email lookup is needed.
    pub fn is_mapped(&self, user: &str) -> bool {
        self.table.is_some_and(|t| t.contains_key(user))
    }

    /// The identity of chat user `user`, whose profile email is `email`; `None` if neither the
    /// table nor an email says who they are.
    pub fn resolve(&self, user: &str, email: Option<&str>) -> Option<Identity> {
        if let Some(mapped) = self.table.and_then(|t| t.get(user)) {
            return Some(Identity {
                service_account: None,
                user: mapped.user.clone(),
                groups: mapped
                    .groups
                    .iter()
                    .map(|g| format!("{}{g}", self.group_prefix))
                    .collect(),
            });
        }
        let email = email.filter(|e| !e.trim().is_empty())?;
        Some(Identity {
            user: format!("{}{email}", self.subject_prefix),
            groups: Vec::new(),
            service_account: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> BTreeMap<String, MappedIdentity> {
        BTreeMap::from([(
            "U0ALICE".to_string(),
            MappedIdentity {
                user: "alice".into(),
                groups: vec!["payments-oncall".into()],
            },
        )])
    }

    #[test]
    fn the_table_comes_first_and_prefixes_only_groups() {
        let table = table();
        let rules = IdentityRules {
            subject_prefix: "oidc:",
            group_prefix: "oidc:",
            table: Some(&table),
        };
        assert!(rules.is_mapped("U0ALICE"));
        assert_eq!(
            rules.resolve("U0ALICE", Some("alice@example.com")),
            Some(Identity {
                user: "alice".into(),
                groups: vec!["oidc:payments-oncall".into()],
                service_account: None,
            })
        );
    }

    #[test]
    fn others_are_their_email_with_the_prefix() {
        let rules = IdentityRules {
            subject_prefix: "oidc:",
            ..IdentityRules::default()
        };
        assert_eq!(
            rules.resolve("U0BOB", Some("bob@example.com")),
            Some(Identity {
                user: "oidc:bob@example.com".into(),
                groups: vec![],
                service_account: None,
            })
        );
        assert_eq!(rules.resolve("U0BOB", None), None);
        assert_eq!(rules.resolve("U0BOB", Some("  ")), None);
    }
}
