//! What the bot's commands and operator endpoints print (`audit verify`, `sweep`,
//! `store migrate`, `policy check`, `/readyz`), worded by `templates/cli/operator.txt`.
//!
//! Configuration and policy problems, and the errors that stop a command, are not here: they are
//! diagnostics named by their key path, kept beside the check that finds them (README, "Where
//! the words are").

use std::sync::LazyLock;

use minijinja::{Environment, Value, context};

use super::TemplateError;

const NAME: &str = "cli/operator";
const SOURCE: &str = include_str!("../../templates/cli/operator.txt");

static WORDS: LazyLock<Result<Environment<'static>, TemplateError>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.add_template(NAME, SOURCE).map_err(|e| TemplateError {
        name: NAME,
        detail: e.to_string(),
    })?;
    Ok(env)
});

/// The sentence `line` of `templates/cli/operator.txt`, with `values` in it.
pub fn operator_says(line: &str, values: Value) -> Result<String, TemplateError> {
    let fail = |detail: String| TemplateError { name: NAME, detail };
    let env = WORDS.as_ref().map_err(|e| fail(e.detail.clone()))?;
    let text = env
        .get_template(NAME)
        .and_then(|t| t.render(context! { line, ..values }))
        .map_err(|e| fail(format!("{e:#}")))?;
    if text.is_empty() {
        return Err(fail(format!("no line `{line}`")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_worded_with_its_values() {
        let says = |line, values| operator_says(line, values).unwrap();
        assert_eq!(
            says(
                "audit_intact",
                context! { entries => 3, seq => 3, hash => "ab12" }
            ),
            "audit log intact: 3 entries; last entry 3 has hash ab12"
        );
        assert_eq!(
            says(
                "audit_broken",
                context! { seq => 2, why => "its hash does not match" }
            ),
            "audit log BROKEN at entry 2: its hash does not match"
        );
        let role_binding = context! {
            namespace => "payments", name => "pa-g1", grant => "g1", expired => "2026-11-23T09:00:00Z"
        };
        let cluster_binding = context! { name => "pa-g2", expired => "2026-11-23T10:00:00Z" };
        assert_eq!(
            says(
                "sweep_deleted",
                context! { cluster => "eu", b => role_binding }
            ),
            "cluster eu: deleted RoleBinding payments/pa-g1 (grant g1, expired 2026-11-23T09:00:00Z)"
        );
        assert_eq!(
            says(
                "sweep_cannot_delete",
                context! { cluster => "eu", b => cluster_binding, error => "403" }
            ),
            "cluster eu: cannot delete ClusterRoleBinding pa-g2 (grant ?, expired 2026-11-23T10:00:00Z): 403"
        );
        assert_eq!(
            says(
                "sweep_cannot_list",
                context! { cluster => "eu", error => "timeout" }
            ),
            "cluster eu: cannot list the bindings: timeout"
        );
        assert_eq!(
            says(
                "sweep_total",
                context! { deleted => 1, already_gone => 2, failed => 0 }
            ),
            "swept: 1 deleted, 2 already gone, 0 failed"
        );
        assert_eq!(
            says("sweep_failed", context! { failed => 2 }),
            "2 failures while sweeping"
        );
        let copied = context! { grants => 1, activity => 2, audit_entries => 3, cursors => 4 };
        assert_eq!(
            says(
                "migrated",
                context! { head => context! { seq => 3, hash => "ab" }, ..copied.clone() }
            ),
            "copied 1 grants, 2 activity records, 3 audit entries and 4 cursors; the audit chain's head is entry 3 with hash ab in both"
        );
        assert!(says("migrated", copied).ends_with("head is empty in both"));
        assert_eq!(
            says("file_ok", context! { file => "policy.yaml" }),
            "policy.yaml: ok"
        );
        assert_eq!(says("ready", context! {}), "ok");
        assert_eq!(
            says("not_checked", context! {}),
            "the permission check has not run yet"
        );
        assert_eq!(
            says(
                "missing_permission",
                context! { permission => "create rolebindings" }
            ),
            "missing permission: create rolebindings"
        );
        assert_eq!(
            says(
                "missing_permission",
                context! { cluster => "us", permission => "create rolebindings" }
            ),
            "missing permission in cluster us: create rolebindings"
        );
    }

    #[test]
    fn an_unknown_line_is_an_error_not_an_empty_answer() {
        let error = operator_says("no_such_line", context! {}).unwrap_err();
        assert!(
            error.to_string().contains("no line `no_such_line`"),
            "{error}"
        );
    }
}
