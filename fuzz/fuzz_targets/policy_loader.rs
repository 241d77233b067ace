//! Arbitrary text as a configuration or policy file: loading never panics, `policy check` reports
//! exactly what `problems()` finds, and every decision the loaded policy makes stays within it.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use prod_access::config::{CheckedFile, Config, ConfigFile, check_file};
use prod_access::domain::command::{Command, RequestArgs, parse};
use prod_access::domain::grant::Scope;
use prod_access::domain::policy::{
    MAX_NAMESPACES, MAX_REASON_CHARS, Policy, RoleScope, is_dns_label,
};

fuzz_target!(|text: &str| {
    // A `policy_file` makes loading read that path; the fuzzer must not make it read /dev/zero or
    // a pipe. The policy file's own format is the `Policy` the inline form already covers.
    if let Ok(file) = serde_saphyr::from_str::<ConfigFile>(text)
        && file.policy_file.is_some()
    {
        return;
    }
    let parsed = Config::parse(text);
    if let Ok(config) = &parsed {
        let problems = config.problems();
        check_decisions(&config.policy, &config.cluster_names(), request_in(text));
        // `policy check` and `serve` load through `check_file`; it must agree with `problems()`.
        match check_file(&scratch_file(text)) {
            Ok(CheckedFile::Config(_)) => {
                assert!(problems.is_empty(), "check_file missed {problems:?}")
            }
            Ok(CheckedFile::Policy(_)) => panic!("a configuration was taken for a policy file"),
            Err(report) => {
                let report = report.to_string();
                assert!(
                    !problems.is_empty(),
                    "check_file refused a sound configuration: {report}"
                );
                for problem in &problems {
                    assert!(
                        report.contains(&problem.to_string()),
                        "{problem} missing from {report}"
                    );
                }
            }
        }
    } else if let Ok(CheckedFile::Policy(policy)) = check_file(&scratch_file(text)) {
        assert!(
            policy.problems().is_empty(),
            "a policy file with problems was accepted"
        );
        check_decisions(&policy, &["default".to_string()], request_in(text));
    }
});

/// One file per fuzzing process, rewritten for each input.
fn scratch_file(text: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        // Per process, as libFuzzer's -jobs runs several at once.
        let dir = std::env::temp_dir()
            .join("prod-access-fuzz")
            .join(std::process::id().to_string());
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    });
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).expect("the scratch file is writable");
    path
}

/// The request the input carries in its last line, a YAML comment such as
/// `# edit payments 2h INC-1 stuck`, so the fuzzer varies requests and policies together.
fn request_in(text: &str) -> Option<RequestArgs> {
    let line = text.lines().last()?.trim_start().strip_prefix('#')?;
    match parse(line) {
        Ok(Command::Request(args)) => Some(args),
        _ => None,
    }
}

/// Whatever the policy grants must be within what it says; requests just past a role's limits
/// are refused.
fn check_decisions(policy: &Policy, clusters: &[String], request: Option<RequestArgs>) {
    if let Some(args) = request {
        check_terms(policy, clusters, &args);
    }
    // A handful of roles is enough to meet every rule; all of them would make big inputs slow.
    for (name, role) in policy.roles.iter().take(8) {
        let namespace = match role.scope {
            RoleScope::Cluster => "cluster".to_string(),
            RoleScope::Namespaced => role
                .namespaces
                .first()
                .map_or("payments".into(), |n| n.replace(['*', '?'], "x")),
        };
        let fitting = RequestArgs {
            role: name.clone(),
            namespace,
            duration: None,
            reason: "INC-1 CHG-2 fixing stuck queue".into(),
        };
        check_terms(policy, clusters, &fitting);
        let too_long = RequestArgs {
            duration: role.max_duration.checked_add(Duration::from_nanos(1)),
            ..fitting.clone()
        };
        if too_long.duration.is_some() {
            assert!(
                policy.evaluate(&too_long, clusters).is_err(),
                "{too_long:?} was granted"
            );
        }
        let rambling = RequestArgs {
            reason: "x".repeat(MAX_REASON_CHARS + 1),
            ..fitting.clone()
        };
        assert!(
            policy.evaluate(&rambling, clusters).is_err(),
            "{rambling:?} was granted"
        );
        let unknown = RequestArgs {
            role: format!("{name}-unknown"),
            ..fitting
        };
        if !policy.roles.contains_key(&unknown.role) {
            assert!(
                policy.evaluate(&unknown, clusters).is_err(),
                "{unknown:?} was granted"
            );
        }
    }
}

fn check_terms(policy: &Policy, clusters: &[String], args: &RequestArgs) {
    let Ok(terms) = policy.evaluate(args, clusters) else {
        return;
    };
    let context = format!("{args:?} granted {terms:?}");
    let role = &policy.roles[&args.role];
    assert_eq!(terms.role, args.role, "{context}");
    assert_eq!(terms.cluster_role, role.cluster_role, "{context}");
    assert_eq!(terms.required_approvals, role.approvals, "{context}");
    assert_eq!(terms.kubeconfig, role.kubeconfig, "{context}");
    assert!(terms.duration <= role.max_duration, "{context}");
    let asked = args.duration.unwrap_or(role.default_duration());
    assert_eq!(terms.duration, asked, "{context}");
    assert!(args.reason.chars().count() <= MAX_REASON_CHARS, "{context}");
    assert!(
        !role.reason.required || !args.reason.trim().is_empty(),
        "{context}"
    );
    assert!(clusters.contains(&terms.cluster), "{context}");
    assert!(
        role.clusters.is_empty() || role.clusters.contains(&terms.cluster),
        "{context}"
    );
    match (&terms.scope, role.scope) {
        (Scope::Cluster, RoleScope::Cluster) => {}
        (Scope::Namespaces { names }, RoleScope::Namespaced) => {
            assert!((1..=MAX_NAMESPACES).contains(&names.len()), "{context}");
            for ns in names {
                assert!(is_dns_label(ns) && role.allows_namespace(ns), "{context}");
            }
        }
        _ => panic!("the scope is not the role's: {context}"),
    }
}
