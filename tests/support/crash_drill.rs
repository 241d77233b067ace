//! What the crash drills share (tests/process.rs: one bot killed again and again;
//! tests/replicas.rs: a random replica of three): the workload's fakes, a watch on the cluster
//! for access outliving its expiry, waiting until every grant has ended, and the audit log's
//! check that each step is in it exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use prod_access::store::AuditLog;

use super::child_bot::Endpoint;
use super::*;

/// Writes the drills' configuration (one role, the rate limit out of the way) and kubeconfig in
/// `dir`: the bot listens on `port` and keeps its state as `store` says (a `store_path: …` or a
/// `store: …` line).
pub fn write_drill_config(
    dir: &std::path::Path,
    port: u16,
    store: &str,
    slack: &FakeSlack,
    kube: &FakeKube,
) {
    let listen = format!("127.0.0.1:{port}");
    let basics = slack_basics(&listen, std::path::Path::new("-"), slack.api_url())
        .replace("store_path: -\n", &format!("{store}\n"));
    let config = format!(
        r#"{basics}
kubernetes:
  subject_prefix: "oidc:"
policy:
  approvers: [{BOB}, {CAROL}]
  requests:
    rate_limit: {{ requests: 1000, per: 1h }}
  roles:
    edit:
      cluster_role: edit
      namespaces: [payments, orders]
      max_duration: 1h
"#
    );
    std::fs::write(dir.join("config.yaml"), config).unwrap();
    super::child_bot::write_kubeconfig(dir, kube);
}

/// The fake Slack with the drill's five people, and the fake cluster.
pub async fn drill_fakes() -> (FakeSlack, FakeKube) {
    init();
    let slack = FakeSlack::start(BOT_TOKEN).await;
    for (id, name) in [
        (ALICE, "alice"),
        (BOB, "bob"),
        (CAROL, "carol"),
        (DANA, "dana"),
        (ERIN, "erin"),
    ] {
        slack.add_user(id, name, Some(&format!("{name}@example.com")));
    }
    slack.bot_member_of(&[APPROVALS, AUDIT, DEV_CHANNEL]);
    let kube = FakeKube::start(&["payments", "orders"]).await;
    (slack, kube)
}

/// The grant id in a request's confirmation ("Request `abc123` for …").
pub fn grant_in(reply: &str) -> Option<String> {
    reply
        .contains("was sent for approval")
        .then(|| reply.split('`').nth(1).map(str::to_string))
        .flatten()
}

/// Every grant id with an approval message in the fake Slack, by the reason it carries, and how
/// many approval messages each got.
pub fn approval_posts(slack: &FakeSlack) -> BTreeMap<String, usize> {
    let mut posts = BTreeMap::new();
    for call in slack.calls("chat.postMessage") {
        if call.response["ok"] == true
            && let Some(grant) = button_value(&call.params, "approve")
        {
            *posts.entry(grant).or_default() += 1;
        }
    }
    posts
}

/// Watches the fake apiserver while the workload runs: a binding that outlives its expiry by
/// more than `grace`, or that belongs to a grant nobody approved, is a violation.
pub fn watch_bindings(
    kube: FakeKube,
    approved: Arc<Mutex<BTreeSet<String>>>,
    grace: Duration,
) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Vec<String>>>) {
    let violations = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&violations);
    let watcher = tokio::spawn(async move {
        loop {
            for binding in kube.all_bindings() {
                let meta = &binding["metadata"];
                let grant = meta["labels"]["prod-access/grant"].as_str().unwrap_or("");
                let expires: Option<DateTime<Utc>> = meta["annotations"]["prod-access/expires-at"]
                    .as_str()
                    .and_then(|s| s.parse().ok());
                let late = expires
                    .is_some_and(|at| Utc::now() > at + chrono::Duration::from_std(grace).unwrap());
                let mut found = Vec::new();
                if late {
                    found.push(format!(
                        "{grant}: binding still there after its expiry + {grace:?}"
                    ));
                }
                if !approved.lock().unwrap().contains(grant) {
                    found.push(format!("{grant}: bound but never approved"));
                }
                let mut all = seen.lock().unwrap();
                for violation in found {
                    if !all.contains(&violation) {
                        all.push(violation);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    (watcher, violations)
}

/// Waits (at most 60 s) until every grant with an approval message has expired and been removed
/// and every acknowledged request has its message. A click answered just before a kill can be
/// lost with it (Slack has had its 200); people click again when nothing happens, and so does
/// this. Returns how many approvals it clicked again.
pub async fn until_every_grant_ended(
    slack: &FakeSlack,
    bots: &[Endpoint],
    acknowledged: &BTreeMap<String, &str>,
    approved: &Mutex<BTreeSet<String>>,
    logs: impl Fn() -> String,
) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut reclicks = 0;
    loop {
        let posts = approval_posts(slack);
        let audit = slack.channel_texts(AUDIT);
        let ended = |grant: &str| {
            audit
                .iter()
                .any(|t| t.contains(grant) && t.contains("expired and was removed"))
        };
        let waiting: Vec<&String> = posts.keys().filter(|g| !ended(g)).collect();
        if waiting.is_empty() && acknowledged.keys().all(|g| posts.contains_key(g)) {
            return reclicks;
        }
        assert!(
            Instant::now() < deadline,
            "not every grant ended: {waiting:?}; logs:\n{}",
            logs()
        );
        for grant in waiting {
            approved.lock().unwrap().insert(grant.clone());
            // Whichever bot answers (one may be down, being restarted).
            for bot in bots {
                let Some(status) = bot.slash(BOB, &format!("status {grant}")).await else {
                    continue;
                };
                if status.contains("State: *requested*") {
                    bot.click(BOB, "approve", grant).await;
                    reclicks += 1;
                }
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The audit log, unlike chat posts, is exactly once: each entry is written in the same
/// transaction as its state change, so no kill can lose or repeat one; and the chain holds.
pub async fn audit_log_holds_each_step_exactly_once(
    store: &dyn AuditLog,
    grants: &BTreeMap<String, usize>,
) {
    let verified = prod_access::audit::walk_chain(store).await.unwrap();
    let verified = verified.unwrap_or_else(|b| panic!("the audit chain broke: {b}"));
    let mut steps: BTreeMap<(String, String), usize> = BTreeMap::new();
    for entry in store.entries_after(0, usize::MAX).await.unwrap() {
        let grant = entry.json["grant"].as_str().unwrap_or("").to_string();
        let kind = entry.json["kind"].as_str().unwrap().to_string();
        *steps.entry((grant, kind)).or_default() += 1;
    }
    for grant in grants.keys() {
        for kind in ["requested", "approval", "granted", "expired"] {
            assert_eq!(
                steps.get(&(grant.clone(), kind.to_string())),
                Some(&1),
                "{grant}: `{kind}` must be in the audit log exactly once: {steps:#?}"
            );
        }
    }
    eprintln!(
        "audit log after the drill: {} entries, chain intact",
        verified.entries
    );
}

/// The drills' workload: `grants` requests, each from one of four people for a 3–8 s grant, one
/// every 0–400 ms, each sent to a bot `rng` picks from `bots`; after each, whatever has an
/// approval message is approved by bob (as people would on seeing it) through a bot picked the
/// same way. The acknowledged grants, by requester, and how many requests went unanswered.
pub async fn request_and_approve(
    bots: &[Endpoint],
    slack: &FakeSlack,
    approved: &Mutex<BTreeSet<String>>,
    grants: usize,
    rng: &mut fastrand::Rng,
) -> (BTreeMap<String, &'static str>, usize) {
    let users = [ALICE, DANA, ERIN, CAROL];
    let (mut acknowledged, mut unanswered) = (BTreeMap::new(), 0);
    for n in 0..grants {
        let user = users[n % users.len()];
        let text = format!("edit payments {}s crash drill {n}", rng.u64(3..9));
        let bot = &bots[rng.usize(0..bots.len())];
        match bot.slash(user, &text).await.as_deref().and_then(grant_in) {
            Some(grant) => {
                acknowledged.insert(grant, user);
            }
            None => unanswered += 1,
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(0..400))).await;
        for grant in approval_posts(slack).keys() {
            if approved.lock().unwrap().insert(grant.clone()) {
                let bot = &bots[rng.usize(0..bots.len())];
                bot.click(BOB, "approve", grant).await;
            }
        }
    }
    (acknowledged, unanswered)
}

/// What every drill must end with: it killed at least three times, no access outlived its
/// expiry or belonged to an unapproved grant, none is left, and no acknowledged grant was lost.
pub fn assert_nothing_lost_or_left(
    kube: &FakeKube,
    kills: usize,
    violations: &Mutex<Vec<String>>,
    acknowledged: &BTreeMap<String, &str>,
    posts: &BTreeMap<String, usize>,
) {
    assert!(kills >= 3, "the drill must actually kill");
    let violations = violations.lock().unwrap();
    assert!(violations.is_empty(), "{violations:#?}");
    assert_eq!(kube.binding_count(), 0, "access was left behind");
    for grant in acknowledged.keys() {
        assert!(
            posts.contains_key(grant),
            "acknowledged grant {grant} was lost"
        );
    }
}
