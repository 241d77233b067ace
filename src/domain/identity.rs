//! Who a chat user is in Kubernetes, and whether they may be anyone there at all: an explicit
//! table first, else their email with a prefix — but only for members of the workspace (not
//! bots, guests or deactivated accounts) whose address is confirmed and on an allowed domain.

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

impl Identity {
    /// A Kubernetes user alone, with no groups.
    pub fn user(name: &str) -> Identity {
        Identity {
            user: name.to_string(),
            groups: Vec::new(),
            service_account: None,
        }
    }
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

/// What the chat platform says about a person, as far as who they are matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub email: Option<String>,
    /// Whether the platform has confirmed the person owns `email` (Slack's `is_email_confirmed`;
    /// Teams only knows addresses of its directory, which are verified).
    pub email_confirmed: bool,
    pub standing: Standing,
}

/// What kind of account a person has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Member,
    /// A single- or multi-channel guest of the Slack workspace.
    Guest,
    /// Someone of another organisation: a Slack Connect user, a Teams guest (B2B, anonymous) or
    /// member of another tenant. Never given access, whatever a role allows.
    Outsider,
    Bot,
    Deactivated,
}

/// How the Kubernetes user name is spelled. Kubernetes compares user names byte for byte, so
/// this must match how the cluster's OIDC provider spells the username claim.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectCase {
    /// The address exactly as the chat platform has it.
    #[default]
    AsIs,
    /// The address in lower case.
    Lower,
}

/// `identity:` in the configuration: who may become a Kubernetes user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityPolicy {
    /// The email domains whose addresses may be bound, e.g. `example.com` (exact, not its
    /// subdomains). Required: an address on any other domain is refused.
    #[serde(default)]
    pub allowed_email_domains: Vec<String>,
    /// How the user name is spelled (`as_is` or `lower`).
    #[serde(default)]
    pub subject_case: SubjectCase,
    /// Allow `+`-tagged addresses (`alice+prod@example.com`), refused unless set.
    #[serde(default)]
    pub allow_plus_addresses: bool,
    /// Refuse addresses the chat platform has not confirmed (default true).
    #[serde(default = "yes")]
    pub require_confirmed_email: bool,
}

fn yes() -> bool {
    true
}

impl Default for IdentityPolicy {
    fn default() -> Self {
        IdentityPolicy {
            allowed_email_domains: Vec::new(),
            subject_case: SubjectCase::default(),
            allow_plus_addresses: false,
            require_confirmed_email: true,
        }
    }
}

/// Why a person cannot be given a Kubernetes identity; the requester is told which rule applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityRefusal {
    Deactivated,
    Bot,
    /// Guests may only request roles with `allow_guests: true`.
    Guest,
    Outsider,
    /// Neither the table nor an email address says who they are.
    NoEmail,
    EmailUnconfirmed,
    EmailDomain {
        domain: String,
        allowed: Vec<String>,
    },
    PlusAddress,
    /// The chat platform could not say who they are now (unreachable, timed out).
    ProfileUnavailable,
}

impl IdentityRefusal {
    /// A stable key the templates use to explain the refusal.
    pub fn kind(&self) -> &'static str {
        match self {
            IdentityRefusal::Deactivated => "identity_deactivated",
            IdentityRefusal::Bot => "identity_bot",
            IdentityRefusal::Guest => "identity_guest",
            IdentityRefusal::Outsider => "identity_outsider",
            IdentityRefusal::NoEmail => "identity_no_email",
            IdentityRefusal::EmailUnconfirmed => "identity_email_unconfirmed",
            IdentityRefusal::EmailDomain { .. } => "identity_email_domain",
            IdentityRefusal::PlusAddress => "identity_plus_address",
            IdentityRefusal::ProfileUnavailable => "identity_profile_unavailable",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityRules<'a> {
    pub subject_prefix: &'a str,
    pub group_prefix: &'a str,
    pub table: Option<&'a BTreeMap<String, MappedIdentity>>,
    pub policy: IdentityPolicy,
}

impl IdentityRules<'_> {
    /// The identity of chat user `user`, given what the platform says of them now, or which
    /// rule refuses them. `guests_allowed`: the role asked for admits guests.
    pub fn resolve(
        &self,
        user: &str,
        profile: &Profile,
        guests_allowed: bool,
    ) -> Result<Identity, IdentityRefusal> {
        match profile.standing {
            Standing::Deactivated => return Err(IdentityRefusal::Deactivated),
            Standing::Bot => return Err(IdentityRefusal::Bot),
            Standing::Outsider => return Err(IdentityRefusal::Outsider),
            Standing::Guest if !guests_allowed => return Err(IdentityRefusal::Guest),
            Standing::Guest | Standing::Member => {}
        }
        if let Some(mapped) = self.table.and_then(|t| t.get(user)) {
            return Ok(Identity {
                service_account: None,
                user: mapped.user.clone(),
                groups: mapped
                    .groups
                    .iter()
                    .map(|g| format!("{}{g}", self.group_prefix))
                    .collect(),
            });
        }
        let email = self.checked_email(profile)?;
        let email = match self.policy.subject_case {
            SubjectCase::AsIs => email.to_string(),
            SubjectCase::Lower => email.to_lowercase(),
        };
        Ok(Identity {
            user: format!("{}{email}", self.subject_prefix),
            groups: Vec::new(),
            service_account: None,
        })
    }

    /// The profile's address, if every rule on addresses admits it.
    pub fn checked_email<'p>(&self, profile: &'p Profile) -> Result<&'p str, IdentityRefusal> {
        let email = profile
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .ok_or(IdentityRefusal::NoEmail)?;
        let (local, domain) = email
            .rsplit_once('@')
            .filter(|(local, domain)| {
                !local.is_empty()
                    && !domain.is_empty()
                    && !local.contains('@')
                    && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            })
            .ok_or(IdentityRefusal::NoEmail)?;
        if self.policy.require_confirmed_email && !profile.email_confirmed {
            return Err(IdentityRefusal::EmailUnconfirmed);
        }
        let allowed = &self.policy.allowed_email_domains;
        if !allowed
            .iter()
            .any(|a| a.trim().eq_ignore_ascii_case(domain))
        {
            return Err(IdentityRefusal::EmailDomain {
                domain: domain.to_lowercase(),
                allowed: allowed.clone(),
            });
        }
        if local.contains('+') && !self.policy.allow_plus_addresses {
            return Err(IdentityRefusal::PlusAddress);
        }
        Ok(email)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "U0ALICE";

    fn member(email: &str) -> Profile {
        Profile {
            email: Some(email.to_string()),
            email_confirmed: true,
            standing: Standing::Member,
        }
    }

    fn rules(policy: IdentityPolicy) -> IdentityRules<'static> {
        IdentityRules {
            subject_prefix: "oidc:",
            group_prefix: "oidc:",
            table: None,
            policy,
        }
    }

    fn example_com() -> IdentityPolicy {
        IdentityPolicy {
            allowed_email_domains: vec!["example.com".into()],
            ..IdentityPolicy::default()
        }
    }

    fn user_of(result: Result<Identity, IdentityRefusal>) -> Result<String, IdentityRefusal> {
        result.map(|identity| identity.user)
    }

    #[test]
    fn the_table_comes_first_and_prefixes_only_groups() {
        let table = BTreeMap::from([(
            ALICE.to_string(),
            MappedIdentity {
                user: "alice".into(),
                groups: vec!["payments-oncall".into()],
            },
        )]);
        let rules = IdentityRules {
            table: Some(&table),
            ..rules(example_com())
        };
        // The table needs no address at all, nor one on an allowed domain.
        let no_email = Profile {
            email: None,
            ..member("")
        };
        assert_eq!(
            rules.resolve(ALICE, &no_email, false),
            Ok(Identity {
                user: "alice".into(),
                groups: vec!["oidc:payments-oncall".into()],
                service_account: None,
            })
        );
        assert_eq!(
            user_of(rules.resolve(ALICE, &member("alice@elsewhere.org"), false)),
            Ok("alice".into())
        );
    }

    #[test]
    fn members_are_their_confirmed_email_on_an_allowed_domain_with_the_prefix() {
        let rules = rules(example_com());
        assert_eq!(
            rules.resolve("U0BOB", &member("bob@example.com"), false),
            Ok(Identity {
                user: "oidc:bob@example.com".into(),
                groups: vec![],
                service_account: None,
            })
        );
        // Domains compare without case; the address is kept as the platform spells it.
        assert_eq!(
            user_of(rules.resolve("U0BOB", &member("Bob@Example.COM"), false)),
            Ok("oidc:Bob@Example.COM".into())
        );
    }

    #[test]
    fn the_case_rule_lowers_the_whole_address_when_asked() {
        let rules = rules(IdentityPolicy {
            subject_case: SubjectCase::Lower,
            ..example_com()
        });
        assert_eq!(
            user_of(rules.resolve("U0BOB", &member("Bob@Example.COM"), false)),
            Ok("oidc:bob@example.com".into())
        );
    }

    #[test]
    fn bots_outsiders_and_deactivated_accounts_are_never_anyone_even_in_the_table() {
        let table = BTreeMap::from([(
            ALICE.to_string(),
            MappedIdentity {
                user: "alice".into(),
                groups: vec![],
            },
        )]);
        let rules = IdentityRules {
            table: Some(&table),
            ..rules(example_com())
        };
        for (standing, refusal) in [
            (Standing::Bot, IdentityRefusal::Bot),
            (Standing::Deactivated, IdentityRefusal::Deactivated),
            (Standing::Outsider, IdentityRefusal::Outsider),
        ] {
            let profile = Profile {
                standing,
                ..member("alice@example.com")
            };
            assert_eq!(rules.resolve(ALICE, &profile, true), Err(refusal.clone()));
            assert_eq!(rules.resolve("U0OTHER", &profile, true), Err(refusal));
        }
    }

    #[test]
    fn guests_only_for_roles_that_allow_them() {
        let rules = rules(example_com());
        let guest = Profile {
            standing: Standing::Guest,
            ..member("guest@example.com")
        };
        assert_eq!(
            rules.resolve("U0G", &guest, false),
            Err(IdentityRefusal::Guest)
        );
        assert_eq!(
            user_of(rules.resolve("U0G", &guest, true)),
            Ok("oidc:guest@example.com".into())
        );
    }

    #[test]
    fn addresses_must_be_confirmed_unless_the_rule_is_off() {
        let unconfirmed = Profile {
            email_confirmed: false,
            ..member("bob@example.com")
        };
        assert_eq!(
            rules(example_com()).resolve("U0BOB", &unconfirmed, false),
            Err(IdentityRefusal::EmailUnconfirmed)
        );
        let lenient = rules(IdentityPolicy {
            require_confirmed_email: false,
            ..example_com()
        });
        assert!(lenient.resolve("U0BOB", &unconfirmed, false).is_ok());
    }

    #[test]
    fn foreign_domains_and_subdomains_are_refused() {
        let rules = rules(example_com());
        for (email, domain) in [
            ("mallory@gmail.com", "gmail.com"),
            ("mallory@eng.example.com", "eng.example.com"),
            ("mallory@example.com.evil.io", "example.com.evil.io"),
        ] {
            assert_eq!(
                rules.resolve("U0M", &member(email), false),
                Err(IdentityRefusal::EmailDomain {
                    domain: domain.into(),
                    allowed: vec!["example.com".into()],
                }),
                "{email}"
            );
        }
        // With no domain listed, nobody is bound by email.
        assert!(matches!(
            super::IdentityRules {
                policy: IdentityPolicy::default(),
                ..rules
            }
            .resolve("U0BOB", &member("bob@example.com"), false),
            Err(IdentityRefusal::EmailDomain { .. })
        ));
    }

    #[test]
    fn plus_tagged_addresses_are_refused_unless_allowed() {
        let tagged = member("Alice.Admin+prod@Example.COM");
        assert_eq!(
            rules(example_com()).resolve(ALICE, &tagged, false),
            Err(IdentityRefusal::PlusAddress)
        );
        let allowing = rules(IdentityPolicy {
            allow_plus_addresses: true,
            ..example_com()
        });
        assert_eq!(
            user_of(allowing.resolve(ALICE, &tagged, false)),
            Ok("oidc:Alice.Admin+prod@Example.COM".into())
        );
    }

    #[test]
    fn missing_or_malformed_addresses_say_who_they_are_not() {
        let rules = rules(example_com());
        for email in [
            None,
            Some(""),
            Some("  "),
            Some("no-at-sign"),
            Some("@example.com"),
            Some("a b@example.com"),
            Some("a@b@example.com"),
        ] {
            let profile = Profile {
                email: email.map(str::to_string),
                ..member("")
            };
            assert_eq!(
                rules.resolve("U0X", &profile, false),
                Err(IdentityRefusal::NoEmail),
                "{email:?}"
            );
        }
    }
}
