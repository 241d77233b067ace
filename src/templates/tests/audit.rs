//! The audit channel's templates: lifecycle posts with their link, and the daily digest.

use super::slack::{grants, t0, valid};
use crate::templates::*;

#[test]
fn audit_posts_link_to_the_approval_message_and_thread_replies_do_not() {
    let templates = Templates::new().unwrap();
    let mut grant = grants().remove(0).1;
    let link = "https://acme.slack.com/archives/C0APPROVALS/p1700000000000101";
    grant.approval_message = Some(crate::domain::grant::MessageRef {
        channel: "C0APPROVALS".into(),
        ts: "1700000000.000101".into(),
        permalink: Some(link.into()),
    });
    let audit = templates.step(&grant, Step::Requested, false).unwrap();
    assert!(
        audit.text().contains(&format!("<{link}|View the request>")),
        "{}",
        audit.text()
    );
    let reply = templates.step(&grant, Step::Requested, true).unwrap();
    assert!(!reply.text().contains(link), "{}", reply.text());
    grant.approval_message = None;
    let unlinked = templates.step(&grant, Step::Requested, false).unwrap();
    assert!(!unlinked.text().contains("View the request"));
}

fn digest_of(
    requests: usize,
    chain: crate::domain::digest::ChainState,
) -> crate::domain::digest::Digest {
    use crate::domain::digest::{ActiveGrant, Digest, RequestedGrant};
    let grant = |n: usize| RequestedGrant {
        id: format!("g{n}"),
        requester: "UALICE".into(),
        role: "edit".into(),
        scope: crate::domain::grant::Scope::namespace("payments"),
        cluster: "default".into(),
        reason: "<!channel> INC-1 ".repeat(20),
        incident: Some("INC-1".into()),
        outcome: "expired",
    };
    Digest {
        since: t0(),
        until: t0() + chrono::Duration::days(1),
        counts: [("requested", requests), ("granted", 1)]
            .into_iter()
            .collect(),
        requested: (0..requests).map(grant).collect(),
        active: vec![ActiveGrant {
            id: "g9".into(),
            requester: "UDANA".into(),
            role: "view".into(),
            scope: crate::domain::grant::Scope::Cluster,
            cluster: "eu".into(),
            approvers: vec!["UBOB".into()],
            expires_at: Some(t0() + chrono::Duration::hours(25)),
        }],
        unreviewed: vec![],
        unproven: vec![],
        chain,
    }
}

#[test]
fn the_digest_lists_the_day_and_anchors_the_chain_head() {
    use crate::domain::digest::ChainState;
    let templates = Templates::new().unwrap();
    let intact = ChainState::Intact {
        entries: 42,
        seq: 42,
        hash: "9f86d081884c7d65".into(),
    };
    let message = templates.digest(&digest_of(3, intact)).unwrap();
    let json = valid("digest", &message);
    assert!(
        message.text().contains("3 requested, 1 granted, 0 denied"),
        "{}",
        message.text()
    );
    assert!(
        message
            .text()
            .contains("Audit log intact: 42 entries; entry 42 has hash `9f86d081884c7d65`")
    );
    assert!(
        json.contains("• `g0` <@UALICE> *edit* in `payments`: expired (INC-1)"),
        "{json}"
    );
    assert!(
        json.contains("• `g9` <@UDANA> *view* across the whole cluster on `eu` until <!date^"),
        "{json}"
    );
    assert!(json.contains("approved by <@UBOB>"), "{json}");

    let many = templates
        .digest(&digest_of(
            40,
            ChainState::Broken {
                seq: 7,
                problem: "entry 7 was changed".into(),
            },
        ))
        .unwrap();
    let json = valid("digest with many requests", &many);
    assert!(json.contains("… and 25 more"), "{json}");
    assert!(
        many.text()
            .contains(":rotating_light: Audit log BROKEN at entry 7: entry 7 was changed")
    );

    let quiet = crate::domain::digest::Digest {
        requested: vec![],
        active: vec![],
        counts: Default::default(),
        ..digest_of(
            0,
            ChainState::Unknown {
                problem: "disk".into(),
            },
        )
    };
    let json = valid("quiet digest", &templates.digest(&quiet).unwrap());
    assert!(json.contains("None in this period."), "{json}");
    assert!(
        json.contains("Nobody holds access through prod-access."),
        "{json}"
    );
    assert!(json.contains("could not be checked: disk"), "{json}");
}
