//! The probes asked after a grant ends, and the verdict on the cluster's answers.

use super::*;
use crate::domain::grant::Scope;
use crate::domain::testing::{minutes, t0};

fn shown(probes: &[Probe]) -> Vec<String> {
    probes
        .iter()
        .map(|p| match p.subresource {
            Some(sub) => format!("{} {}/{sub}", p.verb, p.resource),
            None => format!("{} {}", p.verb, p.resource),
        })
        .collect()
}

#[test]
fn each_role_is_asked_what_it_allowed_and_an_unknown_role_what_view_does() {
    let view = shown(&probes("view"));
    assert_eq!(
        view,
        ["get pods", "list pods", "get pods/log", "list deployments"]
    );
    let edit = shown(&probes("edit"));
    for asked in ["get pods", "create pods/exec", "delete pods", "get secrets"] {
        assert!(edit.contains(&asked.to_string()), "{asked} in {edit:?}");
    }
    assert!(!edit.contains(&"create rolebindings".to_string()));
    assert!(shown(&probes("admin")).contains(&"create rolebindings".to_string()));
    assert_eq!(shown(&probes("our-own-role")), view);
}

#[test]
fn a_namespaced_grant_is_asked_in_each_namespace_and_a_cluster_grant_once_cluster_wide() {
    let mut grant = Grant::test().active_until(t0() + minutes(60));
    grant.scope = Scope::Namespaces {
        names: vec!["payments".into(), "orders".into()],
    };
    let asked = questions(&grant);
    let per_namespace = probes("edit").len();
    assert_eq!(asked.len(), 2 * per_namespace);
    assert!(
        asked[..per_namespace]
            .iter()
            .all(|q| q.namespace.as_deref() == Some("payments"))
    );
    assert!(
        asked[per_namespace..]
            .iter()
            .all(|q| q.namespace.as_deref() == Some("orders"))
    );
    grant.scope = Scope::Cluster;
    let asked = questions(&grant);
    assert_eq!(asked.len(), per_namespace);
    assert!(asked.iter().all(|q| q.namespace.is_none()));
}

#[test]
fn an_answer_through_the_grants_own_binding_is_the_apiservers_cache_not_access_kept() {
    let own = "prod-access-abc123";
    let answer = |allowed, reason: &str| Answer {
        allowed,
        reason: reason.into(),
    };
    let cached = answer(
        true,
        "RBAC: allowed by RoleBinding \"prod-access-abc123/payments\" of ClusterRole \"edit\" to User \"oidc:alice@example.com\"",
    );
    assert!(cached.through_own_binding(own));
    let cluster_wide = answer(
        true,
        "RBAC: allowed by ClusterRoleBinding \"prod-access-abc123\" of ClusterRole \"view\" to User \"a\"",
    );
    assert!(cluster_wide.through_own_binding(own));
    let team = answer(
        true,
        "RBAC: allowed by RoleBinding \"oncall/payments\" of ClusterRole \"edit\" to Group \"payments-oncall\"",
    );
    assert!(!team.through_own_binding(own));
    let longer_name = answer(
        true,
        "RBAC: allowed by RoleBinding \"prod-access-abc1234/payments\" of ClusterRole \"edit\" to User \"a\"",
    );
    assert!(!longer_name.through_own_binding(own));
    assert!(!answer(false, "").through_own_binding(own));
}

fn team_binding(name: &str) -> NamedBinding {
    NamedBinding {
        namespace: Some("payments".into()),
        name: name.into(),
        role_kind: "ClusterRole".into(),
        role: "edit".into(),
        subject_kind: "Group".into(),
        subject: "payments-oncall".into(),
    }
}

#[test]
fn nothing_allowed_any_more_is_a_verified_revocation() {
    let grant = Grant::test().active_until(t0() + minutes(60));
    let answers: Vec<(Permission, bool)> =
        questions(&grant).into_iter().map(|q| (q, false)).collect();
    let verdict = Verification::of(&answers, None, Ok(vec![]), &grant.binding_name());
    assert_eq!(
        verdict,
        Verification::NoLongerAllowed {
            probes: answers.len(),
            standing: 0,
        }
    );
    assert!(verdict.verified());
}

#[test]
fn what_is_still_allowed_is_named_with_the_bindings_that_name_the_subject_but_not_its_own() {
    let grant = Grant::test().active_until(t0() + minutes(60));
    let answers: Vec<(Permission, bool)> = questions(&grant)
        .into_iter()
        .map(|q| {
            let get_pods = q.verb == "get" && q.resource == "pods" && q.subresource.is_none();
            let still = get_pods || q.subresource == Some("exec");
            (q, still)
        })
        .collect();
    let own = team_binding(&grant.binding_name());
    let bindings = vec![team_binding("oncall"), own, team_binding("oncall")];
    let verdict = Verification::of(&answers, None, Ok(bindings), &grant.binding_name());
    let Verification::StillAllowed {
        standing: 0,
        allowed,
        bindings,
        unlisted: None,
    } = &verdict
    else {
        panic!("{verdict:?}");
    };
    let said: Vec<String> = allowed
        .iter()
        .map(|a| format!("{} {} in {:?}", a.verb, a.resource, a.namespace))
        .collect();
    assert_eq!(
        said,
        [
            "get pods in Some(\"payments\")",
            "create pods/exec in Some(\"payments\")"
        ]
    );
    assert_eq!(bindings, &[team_binding("oncall")]);
    assert!(!verdict.verified());
}

#[test]
fn what_was_allowed_before_the_grant_is_standing_access_not_access_the_grant_left() {
    let grant = Grant::test().active_until(t0() + minutes(60));
    let asked = questions(&grant);
    let reads = |q: &Permission| q.verb == "get" || q.verb == "list";
    let before: Vec<StillAllowed> = asked
        .iter()
        .filter(|q| reads(q))
        .map(StillAllowed::of)
        .collect();
    let reads_only: Vec<(Permission, bool)> = asked.iter().map(|q| (q.clone(), reads(q))).collect();
    assert!(
        !allowed_beyond(&reads_only, Some(&before)),
        "nothing to name bindings for"
    );
    assert!(allowed_beyond(&reads_only, None));
    let verdict = Verification::of(&reads_only, Some(&before), Ok(vec![]), "own");
    assert_eq!(
        verdict,
        Verification::NoLongerAllowed {
            probes: asked.len(),
            standing: before.len(),
        }
    );
    let all: Vec<(Permission, bool)> = asked.iter().map(|q| (q.clone(), true)).collect();
    let Verification::StillAllowed {
        allowed, standing, ..
    } = Verification::of(&all, Some(&before), Ok(vec![]), "own")
    else {
        panic!("still allowed");
    };
    assert_eq!(standing, before.len());
    assert!(allowed.iter().all(|a| !before.contains(a)), "{allowed:?}");
    assert_eq!(allowed.len(), asked.len() - before.len());
}

#[test]
fn bindings_that_could_not_be_listed_are_said_so_rather_than_taken_for_none() {
    let grant = Grant::test().active_until(t0() + minutes(60));
    let answers: Vec<(Permission, bool)> =
        questions(&grant).into_iter().map(|q| (q, true)).collect();
    let refused = Err("clusterrolebindings is forbidden".to_string());
    let verdict = Verification::of(&answers, None, refused, &grant.binding_name());
    let Verification::StillAllowed {
        bindings, unlisted, ..
    } = &verdict
    else {
        panic!("{verdict:?}");
    };
    assert!(bindings.is_empty());
    assert_eq!(
        unlisted.as_deref(),
        Some("clusterrolebindings is forbidden")
    );
}

#[test]
fn a_verdict_is_stored_in_a_form_later_versions_still_read() {
    let verdict = Verification::StillAllowed {
        standing: 0,
        allowed: vec![StillAllowed {
            verb: "create".into(),
            resource: "pods/exec".into(),
            group: String::new(),
            namespace: Some("payments".into()),
        }],
        bindings: vec![team_binding("oncall")],
        unlisted: None,
    };
    let json = serde_json::to_value(&verdict).unwrap();
    assert_eq!(json["verdict"], "still_allowed");
    assert_eq!(json["bindings"][0]["subject"], "payments-oncall");
    let back: Verification = serde_json::from_value(json).unwrap();
    assert_eq!(back, verdict);
}

mod lifecycle {
    use crate::domain::audit::AuditKind;
    use crate::domain::grant::{Effect, Event, GrantState, Step};
    use crate::domain::lifecycle::tests::{active, apply, in_state, quiet};
    use crate::domain::testing::{minutes, revoke, t0};

    use super::*;

    fn verified(verification: Verification) -> Event {
        Event::RevocationVerified { verification }
    }

    #[test]
    fn every_end_of_live_access_is_verified_last_after_the_binding_is_removed() {
        let expired = apply(&active(), Event::Tick, t0() + minutes(200)).unwrap();
        let revoked = apply(&active(), revoke("UBOB"), t0() + minutes(30)).unwrap();
        for ended in [expired, revoked] {
            assert_eq!(ended.outbox.first(), Some(&Effect::Unbind));
            assert_eq!(ended.outbox.last(), Some(&Effect::VerifyRevocation));
        }
        let failed = in_state(GrantState::Failed);
        assert!(!failed.outbox.contains(&Effect::VerifyRevocation));
    }

    #[test]
    fn each_verdict_is_kept_on_the_grant_told_and_recorded_as_its_own_kind() {
        let mut ended = in_state(GrantState::Expired);
        ended.journal.clear();
        let at = t0() + minutes(201);
        let verdicts = [
            (
                Verification::NoLongerAllowed {
                    probes: 9,
                    standing: 0,
                },
                AuditKind::RevocationVerified,
            ),
            (
                Verification::StillAllowed {
                    standing: 0,
                    allowed: vec![],
                    bindings: vec![],
                    unlisted: None,
                },
                AuditKind::AccessNotEnded,
            ),
            (
                Verification::Unverified {
                    failure: "forbidden".into(),
                },
                AuditKind::RevocationUnverified,
            ),
        ];
        for (verification, kind) in verdicts {
            let after = apply(&ended, verified(verification.clone()), at).unwrap();
            assert_eq!(after.revocation, Some(verification.clone()));
            assert_eq!(
                after.outbox,
                [
                    Effect::Audit {
                        step: Step::RevocationVerified
                    },
                    Effect::ThreadReply {
                        step: Step::RevocationVerified
                    }
                ]
            );
            let kinds: Vec<AuditKind> = after.journal.iter().map(|e| e.kind).collect();
            assert_eq!(kinds, [kind], "{verification:?}");
            let particulars = after.journal[0].particulars.clone();
            assert_eq!(
                particulars,
                Some(crate::domain::audit_detail::Particulars::Revocation { verification })
            );
        }
    }

    #[test]
    fn live_access_cannot_be_called_verified() {
        let verdict = verified(Verification::NoLongerAllowed {
            probes: 1,
            standing: 0,
        });
        assert!(apply(&quiet(active()), verdict, t0() + minutes(10)).is_err());
    }
}
