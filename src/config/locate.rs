//! Where in a configuration or policy file a problem's key path is written, found by parsing the
//! same text again and keeping only the positions of its values.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

/// Where a key path's value is written: the same file parsed again, keeping only positions.
pub(super) fn locate(text: &str, path: &[String]) -> Option<(usize, usize)> {
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let (policy, rest) = match path.as_slice() {
        ["slack", key] => {
            let spans: ConfigSpans = serde_saphyr::from_str(text).ok()?;
            let slack = spans.slack?;
            let value = match *key {
                "api_url" => slack.value.api_url.as_ref(),
                "approvals_channel" => slack.value.approvals_channel.as_ref(),
                "audit_channel" => slack.value.audit_channel.as_ref(),
                _ => None,
            };
            return Some(value.map_or_else(|| position(&slack), position));
        }
        ["teams", key] => {
            let spans: ConfigSpans = serde_saphyr::from_str(text).ok()?;
            let teams = spans.teams?;
            return Some(
                teams
                    .value
                    .get(*key)
                    .map_or_else(|| position(&teams), position),
            );
        }
        ["audit", key, ..] => {
            let spans: ConfigSpans = serde_saphyr::from_str(text).ok()?;
            let audit = spans.audit?;
            let value = match *key {
                "digest_schedule" => audit.value.digest_schedule.as_ref(),
                "webhook" => audit.value.webhook.as_ref(),
                _ => None,
            };
            return Some(value.map_or_else(|| position(&audit), position));
        }
        ["policy", rest @ ..] => {
            let spans: ConfigSpans = serde_saphyr::from_str(text).ok()?;
            (spans.policy?.value, rest)
        }
        rest => (serde_saphyr::from_str::<PolicySpans>(text).ok()?, rest),
    };
    match rest {
        ["roles", name, field @ ..] => {
            let role = policy.roles?.value.remove(*name)?;
            let found = match field {
                ["extensions", key] => role.value.extensions.as_ref().and_then(|x| match *key {
                    "allowed" => x.value.allowed.as_ref(),
                    "approvals" => x.value.approvals.as_ref(),
                    _ => None,
                }),
                ["reason", key] => role.value.reason.as_ref().and_then(|r| match *key {
                    "required" => r.value.required.as_ref(),
                    "ticket" => r.value.ticket.as_ref(),
                    _ => None,
                }),
                [key] => role.value.field(key),
                _ => None,
            };
            Some(found.map_or_else(|| position(&role), position))
        }
        ["requests", key] => {
            let requests = policy.requests?;
            let found = match *key {
                "review_timeout" => requests.value.review_timeout.as_ref(),
                "reminder_before" => requests.value.reminder_before.as_ref(),
                _ => None,
            };
            Some(found.map_or_else(|| position(&requests), position))
        }
        ["approvers"] => policy.approvers.as_ref().map(position),
        ["roles"] => policy.roles.as_ref().map(position),
        _ => None,
    }
}

fn position<T>(spanned: &Spanned<T>) -> (usize, usize) {
    (
        spanned.referenced.line() as usize,
        spanned.referenced.column() as usize,
    )
}

type At = Option<Spanned<IgnoredAny>>;

/// Positions of the values a problem can be about. (Not `flatten`: it would lose the positions.)
#[derive(Deserialize)]
struct ConfigSpans {
    #[serde(default)]
    slack: Option<Spanned<SlackSpans>>,
    #[serde(default)]
    teams: Option<Spanned<BTreeMap<String, Spanned<IgnoredAny>>>>,
    #[serde(default)]
    policy: Option<Spanned<PolicySpans>>,
    #[serde(default)]
    audit: Option<Spanned<AuditSpans>>,
}

#[derive(Deserialize)]
struct AuditSpans {
    #[serde(default)]
    digest_schedule: At,
    #[serde(default)]
    webhook: At,
}

#[derive(Deserialize)]
struct SlackSpans {
    #[serde(default)]
    api_url: At,
    #[serde(default)]
    approvals_channel: At,
    #[serde(default)]
    audit_channel: At,
}

#[derive(Deserialize)]
struct PolicySpans {
    #[serde(default)]
    approvers: At,
    #[serde(default)]
    requests: Option<Spanned<RequestSpans>>,
    #[serde(default)]
    roles: Option<Spanned<BTreeMap<String, Spanned<RoleSpans>>>>,
}

#[derive(Deserialize)]
struct RequestSpans {
    #[serde(default)]
    review_timeout: At,
    #[serde(default)]
    reminder_before: At,
}

#[derive(Deserialize)]
struct RoleSpans {
    #[serde(default)]
    cluster_role: At,
    #[serde(default)]
    namespaces: At,
    #[serde(default)]
    max_duration: At,
    #[serde(default)]
    default_duration: At,
    #[serde(default)]
    approvers: At,
    #[serde(default)]
    approvals: At,
    #[serde(default)]
    reason: Option<Spanned<ReasonSpans>>,
    #[serde(default)]
    extensions: Option<Spanned<ExtensionSpans>>,
}

#[derive(Deserialize)]
struct ExtensionSpans {
    #[serde(default)]
    allowed: At,
    #[serde(default)]
    approvals: At,
}

#[derive(Deserialize)]
struct ReasonSpans {
    #[serde(default)]
    required: At,
    #[serde(default)]
    ticket: At,
}

impl RoleSpans {
    fn field(&self, key: &str) -> Option<&Spanned<IgnoredAny>> {
        match key {
            "cluster_role" => self.cluster_role.as_ref(),
            "namespaces" => self.namespaces.as_ref(),
            "max_duration" => self.max_duration.as_ref(),
            "default_duration" => self.default_duration.as_ref(),
            "approvers" => self.approvers.as_ref(),
            "approvals" => self.approvals.as_ref(),
            _ => None,
        }
    }
}
