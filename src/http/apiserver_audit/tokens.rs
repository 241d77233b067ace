//! Which bearer token each cluster's apiserver presents to `POST /k8s/audit/<cluster>`. Each
//! cluster has its own, so whoever holds one cluster's token (its apiserver, or whoever reads
//! its webhook kubeconfig) cannot report activity as another cluster.

use std::collections::BTreeMap;

use subtle::ConstantTimeEq;

use crate::config::{K8S_AUDIT_TOKEN_MIN_LEN, K8S_AUDIT_TOKEN_VAR};

/// Tokens by cluster name; empty when session activity is off.
#[derive(Clone, Default)]
pub struct AuditWebhookTokens(BTreeMap<String, String>);

/// The environment variable holding `cluster`'s token: `PROD_ACCESS_K8S_AUDIT_TOKEN_<CLUSTER>`,
/// upper-cased, with `-` and `.` as `_`.
pub fn token_var(cluster: &str) -> String {
    let suffix: String = cluster
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    format!("{K8S_AUDIT_TOKEN_VAR}_{suffix}")
}

impl AuditWebhookTokens {
    /// Each cluster's token from the environment's `single` token (a one-cluster configuration
    /// only) and `per_cluster` tokens (by variable name), or why they do not fit `clusters`.
    pub fn resolve(
        clusters: &[String],
        single: Option<&str>,
        per_cluster: &BTreeMap<String, String>,
    ) -> Result<AuditWebhookTokens, String> {
        let var_of: BTreeMap<String, &String> =
            clusters.iter().map(|c| (token_var(c), c)).collect();
        // `eu-west` and `eu.west` would share one variable, and so one token.
        if var_of.len() < clusters.len() {
            return Err(format!(
                "two clusters' names give the same token variable ({}): rename one",
                clusters
                    .iter()
                    .map(|c| token_var(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(unknown) = per_cluster.keys().find(|var| !var_of.contains_key(*var)) {
            let expected: Vec<&str> = var_of.keys().map(String::as_str).collect();
            return Err(format!(
                "{unknown} names no configured cluster (the clusters' variables are: {})",
                expected.join(", ")
            ));
        }
        let mut tokens: BTreeMap<String, String> = per_cluster
            .iter()
            .map(|(var, token)| (var_of[var].clone(), token.trim().to_string()))
            .collect();
        if let Some(single) = single {
            let [only] = clusters else {
                return Err(format!(
                    "{K8S_AUDIT_TOKEN_VAR} serves a one-cluster configuration only: with several clusters give each apiserver its own token ({})",
                    var_of.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            };
            if tokens.contains_key(only) {
                return Err(format!(
                    "both {K8S_AUDIT_TOKEN_VAR} and {} are set: set one",
                    token_var(only)
                ));
            }
            tokens.insert(only.clone(), single.trim().to_string());
        }
        check_strength(&tokens, single.is_some())?;
        Ok(AuditWebhookTokens(tokens))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The clusters that report their activity.
    pub fn clusters(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The cluster whose token `given` is; every token is compared in constant time.
    pub fn cluster_holding(&self, given: &str) -> Option<&str> {
        let mut holder = None;
        for (cluster, token) in &self.0 {
            if bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
                holder = Some(cluster.as_str());
            }
        }
        holder
    }
}

/// Long enough to guess at no rate, and one per cluster: a token shared by two clusters would
/// let either report as the other.
fn check_strength(tokens: &BTreeMap<String, String>, single: bool) -> Result<(), String> {
    for (cluster, token) in tokens {
        if token.len() < K8S_AUDIT_TOKEN_MIN_LEN {
            let var = if single {
                K8S_AUDIT_TOKEN_VAR.to_string()
            } else {
                token_var(cluster)
            };
            return Err(format!(
                "{var} must be at least {K8S_AUDIT_TOKEN_MIN_LEN} characters (e.g. `openssl rand -hex 32`)"
            ));
        }
    }
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (cluster, token) in tokens {
        if let Some(other) = seen.insert(token, cluster) {
            return Err(format!(
                "{} and {} hold the same token: each cluster needs its own",
                token_var(other),
                token_var(cluster)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EU: &str = "eu-token-0123456789abcdef0123456789";
    const US: &str = "us-token-0123456789abcdef0123456789";

    fn names(clusters: &[&str]) -> Vec<String> {
        clusters.iter().map(|c| c.to_string()).collect()
    }

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(var, token)| (var.to_string(), token.to_string()))
            .collect()
    }

    #[test]
    fn a_clusters_variable_is_its_name_upper_cased_with_underscores() {
        assert_eq!(
            token_var("us-east.1"),
            "PROD_ACCESS_K8S_AUDIT_TOKEN_US_EAST_1"
        );
    }

    #[test]
    fn each_token_names_the_one_cluster_it_belongs_to() {
        let per_cluster = vars(&[
            ("PROD_ACCESS_K8S_AUDIT_TOKEN_EU", EU),
            ("PROD_ACCESS_K8S_AUDIT_TOKEN_US", US),
        ]);
        let tokens =
            AuditWebhookTokens::resolve(&names(&["eu", "us"]), None, &per_cluster).unwrap();
        assert_eq!(tokens.cluster_holding(US), Some("us"));
        assert_eq!(tokens.cluster_holding(EU), Some("eu"));
        assert_eq!(tokens.cluster_holding("eu-token"), None);
    }

    #[test]
    fn the_single_token_serves_a_one_cluster_configuration_only() {
        let none = BTreeMap::new();
        let one = AuditWebhookTokens::resolve(&names(&["default"]), Some(EU), &none).unwrap();
        assert_eq!(one.cluster_holding(EU), Some("default"));
        let several = AuditWebhookTokens::resolve(&names(&["eu", "us"]), Some(EU), &none);
        let why = several.err().unwrap();
        assert!(
            why.contains("PROD_ACCESS_K8S_AUDIT_TOKEN_EU, PROD_ACCESS_K8S_AUDIT_TOKEN_US"),
            "{why}"
        );
    }

    #[test]
    fn unknown_short_shared_or_doubled_tokens_are_refused() {
        let clusters = names(&["eu", "us"]);
        let refused = |single: Option<&str>, pairs: &[(&str, &str)]| {
            AuditWebhookTokens::resolve(&clusters, single, &vars(pairs))
                .err()
                .unwrap()
        };
        let why = refused(None, &[("PROD_ACCESS_K8S_AUDIT_TOKEN_ASIA", EU)]);
        assert!(
            why.starts_with("PROD_ACCESS_K8S_AUDIT_TOKEN_ASIA names no configured cluster"),
            "{why}"
        );
        let why = refused(None, &[("PROD_ACCESS_K8S_AUDIT_TOKEN_US", "short")]);
        assert!(
            why.starts_with("PROD_ACCESS_K8S_AUDIT_TOKEN_US must be at least 32"),
            "{why}"
        );
        let why = refused(
            None,
            &[
                ("PROD_ACCESS_K8S_AUDIT_TOKEN_EU", EU),
                ("PROD_ACCESS_K8S_AUDIT_TOKEN_US", EU),
            ],
        );
        assert!(
            why.ends_with("hold the same token: each cluster needs its own"),
            "{why}"
        );
        let why = AuditWebhookTokens::resolve(
            &names(&["eu"]),
            Some(US),
            &vars(&[("PROD_ACCESS_K8S_AUDIT_TOKEN_EU", EU)]),
        )
        .err()
        .unwrap();
        assert!(why.contains("set one"), "{why}");
    }
}
