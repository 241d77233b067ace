//! Several replicas of the real `prod-access` binary on one real PostgreSQL (a throwaway server;
//! skipped, loudly, where none can run): any replica answers, the one that leads revokes, and
//! when the leader is killed another takes over and revokes on time.

use crate::support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prod_access::store::postgres::local::LocalPostgres;
use support::child_bot::Endpoint;
use support::crash_drill::*;
use support::replicas::*;
use support::socket_mode::*;
use support::*;

/// alice asks replica `asked` for `text`; bob approves on replica `approved_on`; returns the
/// grant id once its binding exists.
async fn granted(
    replicas: &Replicas,
    kube: &FakeKube,
    slack: &FakeSlack,
    (asked, approved_on): (usize, usize),
    text: &str,
) -> String {
    let reply = replicas
        .bot(asked)
        .endpoint
        .slash(ALICE, text)
        .await
        .expect("answered");
    assert!(reply.contains("was sent for approval"), "{reply}");
    let grant = reply.split('`').nth(1).unwrap().to_string();
    slack
        .next_matching("the approval message", |c| {
            c.method == "chat.postMessage"
                && button_value(&c.params, "approve").as_deref() == Some(grant.as_str())
        })
        .await;
    assert!(
        replicas
            .bot(approved_on)
            .endpoint
            .click(BOB, "approve", &grant)
            .await
    );
    let asked_at = Instant::now();
    while kube.grant_binding("payments", &grant).is_none() {
        assert!(
            asked_at.elapsed() < Duration::from_secs(10),
            "{grant} was never bound; logs:\n{}",
            replicas.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    grant
}

/// Waits until `grant`'s binding is gone; how long after `expires` that was.
async fn removed_after(
    kube: &FakeKube,
    grant: &str,
    expires: Instant,
    logs: impl Fn() -> String,
) -> Duration {
    loop {
        if kube.grant_binding("payments", grant).is_none() {
            return expires.elapsed();
        }
        assert!(
            expires.elapsed() < FAILOVER_GRACE * 3,
            "{grant} still bound long after its expiry; logs:\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_replica_answers_the_leader_revokes_and_the_lead_moves_when_the_leader_is_killed() {
    let _alone = support::child_bot::one_at_a_time().await;
    let Some(postgres) = LocalPostgres::for_tests().await else {
        return;
    };
    let database_url = postgres.new_database().await.unwrap();
    let (slack, kube) = fakes().await;
    let mut replicas = Replicas::start(database_url.clone(), &slack, &kube).await;
    let leader = replicas.leader().await;
    let others: Vec<usize> = (0..REPLICAS).filter(|&n| n != leader).collect();

    // Asked of one follower, approved on the other: the leader, told by the store, revokes.
    let first = granted(
        &replicas,
        &kube,
        &slack,
        (others[0], others[1]),
        "edit payments 3s replicas",
    )
    .await;
    let expires = Instant::now() + Duration::from_secs(3);
    tokio::time::sleep_until(expires.into()).await;
    let lag = removed_after(&kube, &first, expires, || replicas.logs()).await;
    assert!(
        lag < FAILOVER_GRACE,
        "revoked {lag:?} late with the leader up"
    );

    // A grant active when the leader dies is revoked by the next leader, on time.
    let second = granted(
        &replicas,
        &kube,
        &slack,
        (others[0], leader),
        "edit payments 4s failover",
    )
    .await;
    let expires = Instant::now() + Duration::from_secs(4);
    replicas.bots[leader].take().unwrap().kill9();
    let lag = removed_after(&kube, &second, expires, || replicas.logs()).await;
    assert!(
        lag < FAILOVER_GRACE,
        "revoked {lag:?} after its expiry across the failover; logs:\n{}",
        replicas.logs()
    );
    eprintln!("revocation lag across the failover: {lag:?}");
    let next_leader = replicas.leader().await;
    assert_ne!(next_leader, leader);

    // The killed replica comes back as a follower; the chain holds every step of both grants.
    replicas.restart(leader).await;
    assert_eq!(
        replicas.leader().await,
        next_leader,
        "the lead stays where it is"
    );
    for replica in replicas.bots.iter_mut().flatten() {
        replica.terminate().await;
    }
    audit_verifies(&replicas.dirs[0].join("config.yaml"), &database_url);
    for grant in [&first, &second] {
        let expired = slack
            .channel_texts(AUDIT)
            .iter()
            .filter(|t| t.contains(grant.as_str()) && t.contains("expired and was removed"))
            .count();
        assert_eq!(expired, 1, "{grant}: one expiry post");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_away_people_are_told_to_try_again_and_nothing_is_lost() {
    let _alone = support::child_bot::one_at_a_time().await;
    let Some(mut postgres) = LocalPostgres::for_tests().await else {
        return;
    };
    let database_url = postgres.new_database().await.unwrap();
    let (slack, kube) = fakes().await;
    let mut replicas = Replicas::start(database_url.clone(), &slack, &kube).await;
    replicas.leader().await;
    // Bound just before the database goes, expiring while it is away.
    let grant = granted(&replicas, &kube, &slack, (0, 1), "edit payments 3s outage").await;
    let expires = Instant::now() + Duration::from_secs(3);

    postgres.stop_for_now();
    let asked = Instant::now();
    let reply = replicas
        .bot(2)
        .endpoint
        .slash(ALICE, "edit payments 1h in the outage")
        .await;
    let reply = reply.expect("answered");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "within Slack's 3 seconds"
    );
    assert!(reply.contains("try again"), "{reply}");
    tokio::time::sleep_until((expires + Duration::from_secs(1)).into()).await;
    assert!(
        kube.grant_binding("payments", &grant).is_some(),
        "no replica ends a grant it cannot record as ended (the sweeper would)"
    );

    postgres.start_again().await.unwrap();
    let back = Instant::now();
    let lag = removed_after(&kube, &grant, back, || replicas.logs()).await;
    eprintln!("revoked {lag:?} after the database came back");
    let answered = loop {
        let reply = replicas
            .bot(2)
            .endpoint
            .slash(ALICE, "edit payments 1h after it")
            .await;
        match reply {
            Some(reply) if reply.contains("was sent for approval") => break reply,
            other => assert!(
                back.elapsed() < Duration::from_secs(15),
                "requests never worked again: {other:?}; logs:\n{}",
                replicas.logs()
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(answered.contains("was sent for approval"));

    // Announced once the claim a run cut off by the outage could not give up has lapsed.
    let expired = || {
        slack
            .channel_texts(AUDIT)
            .iter()
            .filter(|t| t.contains(grant.as_str()) && t.contains("expired and was removed"))
            .count()
    };
    let back = Instant::now();
    while expired() == 0 {
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "the expiry was never announced; logs:\n{}",
            replicas.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for replica in replicas.bots.iter_mut().flatten() {
        replica.terminate().await;
    }
    audit_verifies(&replicas.dirs[0].join("config.yaml"), &database_url);
    assert_eq!(expired(), 1, "one expiry post");
}

/// The crash drill with replicas: three on one PostgreSQL, a random one (leader or not) killed
/// every 0.5–2 s and restarted at once, while requests and approvals go to random replicas.
/// At the end every grant has ended, no binding outlived its expiry by more than 5 s or
/// belonged to an unapproved grant, none is left, and the audit chain verifies with each grant's
/// steps in it exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_replica_killed_again_and_again_loses_nothing_and_leaves_no_access_behind() {
    let _alone = support::child_bot::one_at_a_time().await;
    let Some(postgres) = LocalPostgres::for_tests().await else {
        return;
    };
    let database_url = postgres.new_database().await.unwrap();
    let (slack, kube) = drill_fakes().await;
    // Slow enough writes that kills land inside binding creation and revocation too.
    kube.on_path(
        "/apis/rbac.authorization.k8s.io/v1/namespaces/",
        KubeFault::None,
        Duration::from_millis(60),
    );
    let replicas = Replicas::start(database_url.clone(), &slack, &kube).await;
    let bots: Vec<Endpoint> = (0..REPLICAS)
        .map(|n| replicas.bot(n).endpoint.clone())
        .collect();
    let dirs = replicas.dirs.clone();
    let logs = move || {
        (0..REPLICAS)
            .map(|n| {
                let log = std::fs::read_to_string(dirs[n].join("bot.log")).unwrap_or_default();
                format!("--- replica {n}\n{log}")
            })
            .collect::<String>()
    };
    let approved = Arc::new(Mutex::new(BTreeSet::new()));
    let (watcher, violations) =
        watch_bindings(kube.clone(), Arc::clone(&approved), Duration::from_secs(5));
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let mut rng = fastrand::Rng::with_seed(seed);

    let stop = Arc::new(AtomicBool::new(false));
    let killer = {
        let stop = Arc::clone(&stop);
        let mut rng = fastrand::Rng::with_seed(seed + 1);
        let mut replicas = replicas;
        tokio::spawn(async move {
            let mut kills = 0;
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(rng.u64(500..2000))).await;
                let victim = rng.usize(0..REPLICAS);
                replicas.bots[victim].take().unwrap().kill9();
                kills += 1;
                replicas.restart(victim).await;
            }
            (kills, replicas)
        })
    };

    // Grants of 3–8 s, one every 0–400 ms, each asked of and approved on a random replica.
    let grants = 16;
    let (acknowledged, unanswered) =
        request_and_approve(&bots, &slack, &approved, grants, &mut rng).await;
    let mut reclicks =
        until_every_grant_ended(&slack, &bots, &acknowledged, &approved, &logs).await;
    stop.store(true, Ordering::SeqCst);
    let (kills, mut replicas) = killer.await.unwrap();
    reclicks += until_every_grant_ended(&slack, &bots, &acknowledged, &approved, &logs).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    watcher.abort();

    let posts = approval_posts(&slack);
    eprintln!(
        "replica drill (seed {seed}): {grants} requests ({} acknowledged, {unanswered} \
         unanswered), {} grants, {kills} kills, {reclicks} approvals clicked again, {} binding \
         creates; violations: {:?}",
        acknowledged.len(),
        posts.len(),
        kube.calls_of("POST").len(),
        violations.lock().unwrap()
    );
    assert_nothing_lost_or_left(&kube, kills, &violations, &acknowledged, &posts);
    for replica in replicas.bots.iter_mut().flatten() {
        replica.terminate().await;
    }
    let store = prod_access::store::PostgresStore::connect(&database_url)
        .await
        .unwrap();
    audit_log_holds_each_step_exactly_once(&store, &posts).await;
}

/// Socket Mode with several replicas: each holds its own connections to Slack (slack-morphism
/// opens two), Slack spreads envelopes over all of them, and whichever replica an envelope
/// reaches handles it, once. When a replica dies its connections close and the envelopes go to
/// the connections left; the leader revokes every grant once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_socket_mode_every_replica_takes_its_share_of_envelopes_and_each_is_handled_once() {
    let _alone = support::child_bot::one_at_a_time().await;
    let Some(postgres) = LocalPostgres::for_tests().await else {
        return;
    };
    let database_url = postgres.new_database().await.unwrap();
    let (slack, kube) = fakes().await;
    let mut replicas = Replicas::start_in(database_url.clone(), &slack, &kube, true).await;
    until_connections(&slack, 2 * REPLICAS).await;

    // Two envelopes a grant, sent in turn over every connection: each replica takes some of
    // the commands and some of the clicks.
    let mut grants = Vec::new();
    for n in 0..2 * REPLICAS {
        grants.push(
            granted_over_sockets(&slack, &kube, &format!("edit payments 5s socket {n}")).await,
        );
    }
    replicas.bots[0].take().unwrap().kill9();
    until_connections(&slack, 2 * (REPLICAS - 1)).await;
    for n in 0..REPLICAS {
        grants.push(
            granted_over_sockets(&slack, &kube, &format!("edit payments 5s after {n}")).await,
        );
    }

    let started = Instant::now();
    while grants
        .iter()
        .any(|g| kube.grant_binding("payments", g).is_some())
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not every grant was revoked; logs:\n{}",
            replicas.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let created = kube
        .calls_of("POST")
        .iter()
        .filter(|c| c.path.ends_with("/rolebindings"))
        .count();
    assert_eq!(
        created,
        grants.len(),
        "each binding created once: {:#?}\nlogs:\n{}",
        kube.calls(),
        replicas.logs()
    );
    for replica in replicas.bots.iter_mut().flatten() {
        replica.terminate().await;
    }
    audit_verifies(&replicas.dirs[1].join("config.yaml"), &database_url);
    let audit = slack.channel_texts(AUDIT);
    for grant in &grants {
        let said = |phrase: &str| {
            audit
                .iter()
                .filter(|t| t.contains(grant.as_str()) && t.contains(phrase))
                .count()
        };
        assert_eq!(said("requested"), 1, "{grant}: one request");
        assert_eq!(said("Access granted"), 1, "{grant}: one grant");
        assert_eq!(said("expired and was removed"), 1, "{grant}: one expiry");
    }
}
