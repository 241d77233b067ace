//! The real `prod-access` binary as a child process against the fakes, on the real clock:
//! SIGKILL at random points of a workload of many grants, and SIGTERM with work in flight.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::child_bot::{Bot, free_port};
use support::crash_drill::*;
use support::socket_mode::*;
use support::*;

fn write_files(dir: &Path, port: u16, slack: &FakeSlack, kube: &FakeKube) {
    let store = format!("store_path: {}", dir.join("store").display());
    write_drill_config(dir, port, &store, slack, kube);
}

/// `CRASH_GRANTS`, or `default`.
fn drill_size(default: usize) -> usize {
    std::env::var("CRASH_GRANTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_nothing_and_leaves_no_access_behind() {
    let _alone = support::child_bot::one_at_a_time().await;
    crash_drill(12).await;
}

/// The long drill: `CRASH_GRANTS=500 cargo test --test processes process:: -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long; run on purpose with CRASH_GRANTS"]
async fn sigkill_drill_with_many_grants() {
    let _alone = support::child_bot::one_at_a_time().await;
    crash_drill(drill_size(100)).await;
}

/// Requests `grants` grants while the bot is SIGKILLed every 0.2–1.2 s and restarted, then checks
/// that no grant was lost or duplicated, no binding outlived its expiry by more than 5 s or
/// belonged to an unapproved grant, and every step reached the audit channel.
async fn crash_drill(grants: usize) {
    let (slack, kube) = drill_fakes().await;
    // Slow enough writes that kills land inside binding creation and revocation too.
    kube.on_path(
        "/apis/rbac.authorization.k8s.io/v1/namespaces/",
        KubeFault::None,
        Duration::from_millis(60),
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    write_files(dir.path(), port, &slack, &kube);
    let first = Bot::start(dir.path(), port).await;
    let bot = first.endpoint.clone();
    let approved = Arc::new(Mutex::new(BTreeSet::new()));
    let (watcher, violations) =
        watch_bindings(kube.clone(), Arc::clone(&approved), Duration::from_secs(5));

    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mut rng = fastrand::Rng::with_seed(seed);

    // The killer: SIGKILL after a random 0.2–1.2 s, restart at once, until told to stop.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = {
        let (stop, dir) = (Arc::clone(&stop), dir.path().to_path_buf());
        let mut rng = fastrand::Rng::with_seed(seed + 1);
        let mut running = first;
        tokio::spawn(async move {
            let mut kills = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(rng.u64(200..1200))).await;
                running.kill9();
                kills += 1;
                running = Bot::start(&dir, port).await;
            }
            (kills, running)
        })
    };

    // Acknowledged requests must never be lost.
    let (acknowledged, unanswered) = request_and_approve(
        std::slice::from_ref(&bot),
        &slack,
        &approved,
        grants,
        &mut rng,
    )
    .await;

    let log_path = dir.path().join("bot.log");
    let logs = || std::fs::read_to_string(&log_path).unwrap_or_default();
    // The kills go on over expiries and revocations until every grant has ended; then the
    // drill stops killing and checks once more that nothing is left.
    let mut reclicks = until_every_grant_ended(
        &slack,
        std::slice::from_ref(&bot),
        &acknowledged,
        &approved,
        &logs,
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (kills, mut last) = killer.await.unwrap();
    reclicks += until_every_grant_ended(
        &slack,
        std::slice::from_ref(&bot),
        &acknowledged,
        &approved,
        &logs,
    )
    .await;
    // Past every expiry + the grace: the watcher has seen everything it could.
    tokio::time::sleep(Duration::from_millis(200)).await;
    watcher.abort();

    let posts = approval_posts(&slack);
    let audit = slack.channel_texts(AUDIT);
    let count = |grant: &str, phrase: &str| {
        audit
            .iter()
            .filter(|t| t.contains(grant) && t.contains(phrase))
            .count()
    };
    let mut duplicate_posts = 0;
    let mut duplicate_audit = 0;
    for grant in posts.keys() {
        for phrase in ["requested", "Access granted", "expired and was removed"] {
            let n = count(grant, phrase);
            assert!(
                n >= 1,
                "{grant}: no audit post saying {phrase:?}: {audit:#?}"
            );
            duplicate_audit += n - 1;
        }
        duplicate_posts += posts[grant] - 1;
    }
    eprintln!(
        "crash drill (seed {seed}): {grants} requests ({} acknowledged, {unanswered} unanswered), \
         {} grants created, {kills} SIGKILLs, {reclicks} approvals clicked again, \
         {} bindings created; duplicates from kills: {duplicate_posts} approval messages, \
         {duplicate_audit} audit posts; violations: {:?}",
        acknowledged.len(),
        posts.len(),
        kube.calls_of("POST").len(),
        violations.lock().unwrap()
    );
    assert_nothing_lost_or_left(&kube, kills, &violations, &acknowledged, &posts);
    assert!(
        posts.len() <= grants,
        "more grants than requests: {posts:?}"
    );
    // A message is at most posted again once per kill (a kill between the post and its record).
    assert!(duplicate_posts + duplicate_audit <= kills, "{audit:#?}");
    last.kill9();
    let store = prod_access::store::SledStore::open(&dir.path().join("store")).unwrap();
    audit_log_holds_each_step_exactly_once(&store, &posts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_accepting_finishes_what_is_in_flight_and_loses_nothing() {
    let _alone = support::child_bot::one_at_a_time().await;
    let (slack, kube) = drill_fakes().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    write_files(dir.path(), port, &slack, &kube);
    let mut bot = Bot::start(dir.path(), port).await;

    let reply = bot
        .endpoint
        .slash(ALICE, "edit payments 30m stuck queue")
        .await
        .unwrap();
    let grant = grant_in(&reply).unwrap();
    slack
        .next_matching("approval message", |c| {
            button_value(&c.params, "approve").as_deref() == Some(grant.as_str())
        })
        .await;
    // Creating the binding takes 1.5 s; SIGTERM arrives while it is under way.
    kube.on_path(
        "/apis/rbac.authorization.k8s.io/v1/namespaces/payments/rolebindings",
        KubeFault::None,
        Duration::from_millis(1500),
    );
    assert!(bot.endpoint.click(BOB, "approve", &grant).await);
    kube.wait_until("the create is under way", |k| {
        !k.calls_of("POST").is_empty()
    })
    .await;
    let started = Instant::now();
    let status = bot.terminate().await;
    assert!(status.success(), "exit: {status:?}; log:\n{}", bot.log());
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "it did not wait for the binding in flight"
    );
    assert!(
        bot.endpoint
            .post("/slack/commands", command_body(ALICE, "help"))
            .await
            .is_err(),
        "nothing listens after shutdown"
    );
    assert!(kube.grant_binding("payments", &grant).is_some());
    let audit = slack.channel_texts(AUDIT);
    assert!(
        audit
            .iter()
            .any(|t| t.contains("Access granted") && t.contains(&grant)),
        "the activation was announced before exit: {audit:#?}"
    );

    // After a restart the grant is active, exactly once, with nothing left to redo.
    let calls_before = kube.calls().len();
    let bot = Bot::start(dir.path(), port).await;
    let status = bot
        .endpoint
        .slash(ALICE, &format!("status {grant}"))
        .await
        .unwrap();
    assert!(status.contains("State: *active*"), "{status}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        kube.calls_of("POST").len(),
        1,
        "nothing was bound twice: {:?}",
        &kube.calls()[calls_before..]
    );
    assert!(bot.log().contains("shutting down"));
    drop(bot);
}

/// `PROD_ACCESS_LOG_FORMAT=json`: every line the bot logs is a JSON object, and what a click
/// sets off (the decision, the binding) is logged in that click's request span, so one
/// `request_id` follows it from arrival to binding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_follow_a_click_by_its_request_id_to_the_binding_it_creates() {
    let _alone = support::child_bot::one_at_a_time().await;
    let (slack, kube) = drill_fakes().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    write_files(dir.path(), port, &slack, &kube);
    let mut bot = Bot::start_with(dir.path(), port, &[("PROD_ACCESS_LOG_FORMAT", "json")]).await;
    let reply = bot
        .endpoint
        .slash(ALICE, "edit payments 1h json logs")
        .await
        .unwrap();
    let grant = reply.split('`').nth(1).unwrap().to_string();
    slack.next_call("chat.postMessage").await;
    // The command's own run (its posts) is over before the click: what the click sets off is
    // then carried out by the click's run, in its span.
    until_quiet(|| slack.call_count()).await;
    assert!(bot.endpoint.click(BOB, "approve", &grant).await);
    kube.wait_until("the grant is bound", |k| {
        k.grant_binding("payments", &grant).is_some()
    })
    .await;
    bot.terminate().await;

    let log = bot.log();
    let lines = json_lines(&log);
    let created = lines
        .iter()
        .find(|l| l["message"] == "binding created" && l["grant"] == grant.as_str())
        .unwrap_or_else(|| panic!("no binding created line:\n{log}"));
    let request = created["spans"]
        .as_array()
        .and_then(|spans| spans.iter().find(|s| s["name"] == "request"))
        .unwrap_or_else(|| panic!("not in a request span: {created}"));
    assert_eq!(request["path"], "/slack/interactions", "{created}");
    let id = request["request_id"].as_str().unwrap();
    assert_eq!(id.len(), 32, "{created}");
    let requested = lines
        .iter()
        .find(|l| l["message"] == "access requested")
        .unwrap_or_else(|| panic!("no access requested line:\n{log}"));
    let command_id = requested["spans"][0]["request_id"].as_str().unwrap();
    assert_ne!(command_id, id, "each request has an id of its own");

    // The stable fields: each attempt at an effect, each audit entry, each answer.
    let bind = lines
        .iter()
        .find(|l| l["message"] == "effect attempted" && l["event"] == "bind")
        .unwrap_or_else(|| panic!("no bind attempt line:\n{log}"));
    assert_eq!(bind["grant"], grant.as_str(), "{bind}");
    assert_eq!(bind["role"], "edit", "{bind}");
    assert_eq!(bind["cluster"], "default", "{bind}");
    assert_eq!(bind["outcome"], "done", "{bind}");
    assert!(bind["duration_ms"].is_u64(), "{bind}");
    assert_eq!(bind["spans"][0]["request_id"], id, "{bind}");
    let granted = lines
        .iter()
        .find(|l| l["message"] == "audit entry written" && l["event"] == "granted")
        .unwrap_or_else(|| panic!("no granted entry line:\n{log}"));
    assert_eq!(granted["grant"], grant.as_str(), "{granted}");
    let answered = lines
        .iter()
        .find(|l| l["message"] == "answered" && l["spans"][0]["request_id"] == id)
        .unwrap_or_else(|| panic!("no answer line for the click:\n{log}"));
    assert_eq!(answered["status"], 200, "{answered}");
    assert!(answered["duration_ms"].is_u64(), "{answered}");
}

/// Socket Mode envelopes come over no HTTP request: each gets a `request` span and id of its own,
/// which follows a click to the binding it creates as an HTTP request's does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_socket_mode_json_logs_follow_a_click_envelope_to_its_binding() {
    let _alone = support::child_bot::one_at_a_time().await;
    let (slack, kube) = drill_fakes().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    write_files(dir.path(), port, &slack, &kube);
    let env = [
        ("PROD_ACCESS_LOG_FORMAT", "json"),
        ("SLACK_APP_TOKEN", prod_access::fakes::slack::APP_TOKEN),
    ];
    let mut bot = Bot::start_with(dir.path(), port, &env).await;
    until_connections(&slack, 2).await;
    let command = command_payload(ALICE, "edit payments 1h socket logs");
    let ack = slack.socket.send("slash_commands", command, true).await;
    let reply = ack["payload"]["text"].as_str().unwrap_or_default();
    let grant = reply.split('`').nth(1).unwrap().to_string();
    slack.next_call("chat.postMessage").await;
    // As over HTTP: the command's own run is over before the click, so the click's run carries
    // out what the click sets off.
    until_quiet(|| slack.call_count()).await;
    let click = interaction_payload(BOB, "approve", &grant);
    slack.socket.send("interactive", click, false).await;
    kube.wait_until("the grant is bound", |k| {
        k.grant_binding("payments", &grant).is_some()
    })
    .await;
    bot.terminate().await;

    let log = bot.log();
    let lines = json_lines(&log);
    let envelope_of = |message: &str| {
        let line = lines
            .iter()
            .find(|l| l["message"] == message && l["grant"] == grant.as_str())
            .unwrap_or_else(|| panic!("no {message:?} line:\n{log}"));
        let span = line["spans"]
            .as_array()
            .and_then(|spans| spans.iter().find(|s| s["name"] == "request"))
            .unwrap_or_else(|| panic!("not in a request span: {line}"));
        (span["envelope"].clone(), span["request_id"].clone())
    };
    let (envelope, click_id) = envelope_of("binding created");
    assert_eq!(envelope, "interaction");
    assert_eq!(click_id.as_str().map(str::len), Some(32));
    let (envelope, command_id) = envelope_of("access requested");
    assert_eq!(envelope, "command");
    assert_ne!(command_id, click_id, "each envelope has an id of its own");
}

/// Every line of a JSON log, parsed; a line that is not JSON fails the test.
fn json_lines(log: &str) -> Vec<serde_json::Value> {
    log.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect()
}
