//! The measurements, each against a fresh bot, fake Slack and fake Kubernetes API.

use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use chrono::Utc;

use super::child::{APPROVER, BOT_TOKEN, Bot, SIGNING_SECRET, WorkDir, free_port, write_files};
use super::load::{bare_handler, open_loop};
use super::seed::{Outbox, SeedInto, seed};
use super::{BenchOptions, Stats, mib, ms};
use crate::fakes::kube::FakeKube;
use crate::fakes::slack::FakeSlack;
use crate::fakes::slack::requests::{command_fields, form, interaction_payload_in, sign};

pub(super) type Out<'a> = &'a mut (dyn Write + Send);

pub(super) struct World {
    /// Serves the bot for as long as the run lasts.
    pub(super) slack: FakeSlack,
    pub(super) kube: FakeKube,
    pub(super) dir: WorkDir,
    pub(super) port: u16,
}

pub(super) async fn world(name: &str, users: usize) -> anyhow::Result<World> {
    let slack = FakeSlack::start(BOT_TOKEN).await;
    slack.add_user(APPROVER, "bob", Some("bob@example.com"));
    for n in 0..users {
        let email = format!("user{n}@example.com");
        slack.add_user(&format!("U0R{n}"), "someone", Some(&email));
    }
    slack.bot_member_of(&["C0APPROVALS", "C0AUDIT", "C0DEV"]);
    let kube = FakeKube::start(&["payments", "prod-access"]).await;
    let dir = WorkDir::new(name)?;
    let port = free_port()?;
    write_files(&dir, port, &slack, &kube)?;
    Ok(World {
        slack,
        kube,
        dir,
        port,
    })
}

pub(super) fn signed(http: &reqwest::Client, url: String, body: String) -> reqwest::RequestBuilder {
    let ts = Utc::now().timestamp();
    http.post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", sign(SIGNING_SECRET, ts, &body))
        .body(body)
}

/// The body of the benchmark's `n`-th slash command: a request from a person of its own, so no
/// rate limit is reached.
pub(super) fn request_number(n: usize) -> String {
    let user = format!("U0R{n}");
    form(&command_fields(
        &user,
        "C0DEV",
        "edit payments 1h INC-1 benchmark",
    ))
}

pub(super) fn grant_in(reply: &str) -> Option<String> {
    Some(
        reply
            .split("Request `")
            .nth(1)?
            .split('`')
            .next()?
            .to_string(),
    )
}

/// Command and click acknowledgement latency at each rate, next to a bare handler; and click →
/// RoleBinding created.
pub async fn acknowledgements(o: &BenchOptions, out: Out<'_>) -> anyhow::Result<()> {
    let total: usize = o
        .rates
        .iter()
        .map(|r| (f64::from(*r) * o.seconds_per_rate) as usize)
        .sum();
    let w = world("ack", total).await?;
    let bot = Bot::start(&w.dir, w.port).await?;
    let bare = bare_handler().await?;
    let http = reqwest::Client::new();
    writeln!(
        out,
        "\n== acknowledgement latency (open loop, signed requests; the bare handler in the same run)"
    )?;
    let mut offset = 0;
    for &rate in &o.rates {
        let count = (f64::from(rate) * o.seconds_per_rate) as usize;
        let command = |i: usize| request_number(offset + i);
        let baseline = open_loop(rate, count, |i| {
            signed(&http, format!("{bare}/slack/commands"), command(i))
        })
        .await;
        let commands = open_loop(rate, count, |i| {
            signed(&http, bot.url("/slack/commands"), command(i))
        })
        .await;
        let grants: Vec<String> = commands
            .answers
            .iter()
            .filter_map(|a| grant_in(&a.as_ref()?.1))
            .collect();
        let clicks = open_loop(rate, grants.len(), |i| {
            let payload = interaction_payload_in(APPROVER, "C0APPROVALS", "approve", &grants[i]);
            let body = form(&[("payload", &payload.to_string())]);
            signed(&http, bot.url("/slack/interactions"), body)
        })
        .await;
        let (b, c, k) = (baseline.stats(), commands.stats(), clicks.stats());
        let ratio = |s: &Stats| s.p99.as_secs_f64() / b.p99.as_secs_f64().max(1e-9);
        writeln!(out, "{rate:>5} req/s  bare handler  {}", b.shown())?;
        writeln!(
            out,
            "{rate:>5} req/s  slash command {}  p99 {:.1}× bare, {} failed",
            c.shown(),
            ratio(&c),
            commands.failed()
        )?;
        writeln!(
            out,
            "{rate:>5} req/s  button click  {}  p99 {:.1}× bare, {} failed",
            k.shown(),
            ratio(&k),
            clicks.failed()
        )?;
        // Click → the RoleBinding's POST at the fake API.
        let names: Vec<String> = grants.iter().map(|g| format!("prod-access-{g}")).collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline
            && names
                .iter()
                .any(|n| w.kube.created_at("payments", n).is_none())
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let lags: Vec<Duration> = names
            .iter()
            .zip(&clicks.due)
            .filter_map(|(name, clicked)| {
                let created = w.kube.created_at("payments", name)?;
                created.duration_since(*clicked).ok()
            })
            .collect();
        writeln!(
            out,
            "{rate:>5} req/s  click → RoleBinding POST {}",
            Stats::of(lags).shown()
        )?;
        offset += count;
    }
    bot.stop().await
}

/// When the fake API received the DELETE of each binding, by name.
pub(super) fn deleted_at(kube: &FakeKube) -> std::collections::HashMap<String, SystemTime> {
    let mut deleted = std::collections::HashMap::new();
    for call in kube.calls_of("DELETE") {
        if let Some(name) = call.path.rsplit('/').next() {
            deleted.entry(name.to_string()).or_insert(call.at);
        }
    }
    deleted
}

/// Waits until every binding in `names` was deleted, or `limit` passes.
pub(super) async fn until_deleted(kube: &FakeKube, count: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && deleted_at(kube).len() < count {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Many grants expiring within the same minute: scheduled expiry → DELETE received.
pub async fn revocation_lag(o: &BenchOptions, out: Out<'_>) -> anyhow::Result<()> {
    let count = o.expiring_grants;
    // The requesters exist: the periodic check for people who left must find them.
    let w = world("revocation", count).await?;
    let expiries = seed_expiring_within_a_minute(&w, count, Outbox::Empty).await?;
    let title = format!("{count} grants expiring within one minute");
    measure_revocation(&w, &expiries, &title, out)
        .await?
        .stop()
        .await
}

/// As `revocation_lag`, with a tenth of the grants, each with its extension request still to be
/// posted, and a Slack that holds every call open unanswered: what chat does must not delay
/// any DELETE.
pub async fn revocation_lag_with_chat_hanging(
    o: &BenchOptions,
    out: Out<'_>,
) -> anyhow::Result<()> {
    let count = o.expiring_grants.div_ceil(10);
    let w = world("revocation-chat-hanging", count).await?;
    let expiries = seed_expiring_within_a_minute(&w, count, Outbox::ExtensionToPost).await?;
    w.slack.hang();
    let title = format!(
        "{count} grants expiring within one minute, each with chat work held open by a hanging Slack"
    );
    let bot = measure_revocation(&w, &expiries, &title, out).await?;
    writeln!(
        out,
        "Slack calls held open unanswered when the last DELETE was in: {}",
        w.slack.held("chat.postMessage") + w.slack.held("chat.update")
    )?;
    // Slack answers again, so the bot's calls in flight end and it stops at once.
    w.slack.stop_hanging();
    bot.stop().await
}

/// Seeds `count` grants expiring within the minute that starts 30s from now; their bindings
/// and expiries.
async fn seed_expiring_within_a_minute(
    w: &World,
    count: usize,
    outbox: Outbox,
) -> anyhow::Result<Vec<(String, chrono::DateTime<Utc>)>> {
    let first = Utc::now() + chrono::Duration::seconds(30);
    let expiry = |n| spread_over_a_minute(first, n, count);
    seed(
        SeedInto::Sled(&w.dir.store()),
        &w.kube,
        count,
        Utc::now(),
        expiry,
        outbox,
    )
    .await
}

/// Grant `n` of `count` expires `n/count` of a minute after `first`.
pub(super) fn spread_over_a_minute(
    first: chrono::DateTime<Utc>,
    n: usize,
    count: usize,
) -> chrono::DateTime<Utc> {
    let spread = chrono::Duration::seconds(60);
    first + spread * i32::try_from(n).unwrap_or(i32::MAX) / i32::try_from(count.max(1)).unwrap_or(1)
}

/// Starts the bot on `w`'s seeded store and reports how long after its expiry each binding in
/// `expiries` was deleted; returns the bot, still running.
async fn measure_revocation(
    w: &World,
    expiries: &[(String, chrono::DateTime<Utc>)],
    title: &str,
    out: Out<'_>,
) -> anyhow::Result<Bot> {
    let count = expiries.len();
    let bot = Bot::start(&w.dir, w.port).await?;
    until_deleted(&w.kube, count, Duration::from_secs(150)).await;
    let deleted = deleted_at(&w.kube);
    let mut early = 0;
    let lags: Vec<Duration> = expiries
        .iter()
        .filter_map(|(name, expires_at)| {
            let at: chrono::DateTime<Utc> = (*deleted.get(name)?).into();
            match (at - *expires_at).to_std() {
                Ok(lag) => Some(lag),
                Err(_) => {
                    early += 1;
                    None
                }
            }
        })
        .collect();
    writeln!(out, "\n== revocation lag: {title}")?;
    writeln!(
        out,
        "scheduled expiry → DELETE received: {}; {} never deleted, {early} deleted early",
        Stats::of(lags).shown(),
        count - deleted.len().min(count)
    )?;
    Ok(bot)
}

/// Downtime: the bot starts on a store whose grants all expired an hour ago.
pub async fn catch_up(o: &BenchOptions, out: Out<'_>) -> anyhow::Result<()> {
    let count = o.expiring_grants;
    let w = world("catch-up", 0).await?;
    let now = Utc::now();
    seed(
        SeedInto::Sled(&w.dir.store()),
        &w.kube,
        count,
        now - chrono::Duration::hours(2),
        |_| now - chrono::Duration::hours(1),
        Outbox::Empty,
    )
    .await?;
    let spawned = SystemTime::now();
    let bot = Bot::start(&w.dir, w.port).await?;
    until_deleted(&w.kube, count, Duration::from_secs(300)).await;
    let deleted = deleted_at(&w.kube);
    let last = deleted.values().max().copied().unwrap_or(spawned);
    writeln!(
        out,
        "\n== catch-up after downtime: {count} grants already expired"
    )?;
    writeln!(
        out,
        "start → last DELETE: {} ({} of {count} deleted; healthy after {})",
        ms(last.duration_since(spawned).unwrap_or_default()),
        deleted.len(),
        ms(bot.started_in)
    )?;
    bot.stop().await
}

/// Start-up time and memory with a large store, and idle memory with an empty one.
pub async fn start_up(o: &BenchOptions, out: Out<'_>) -> anyhow::Result<()> {
    let idle = {
        let w = world("idle", 0).await?;
        let bot = Bot::start(&w.dir, w.port).await?;
        bot.wait_until_ready().await?;
        let (rss, _) = bot.memory()?;
        bot.stop().await?;
        rss
    };
    let count = o.stored_grants;
    let w = world("start-up", 0).await?;
    let now = Utc::now();
    let seeding = Instant::now();
    seed(
        SeedInto::Sled(&w.dir.store()),
        &w.kube,
        count,
        now,
        |_| now + chrono::Duration::hours(8),
        Outbox::Empty,
    )
    .await
    .context("seeding the store")?;
    let seeded_in = seeding.elapsed();
    let bot = Bot::start(&w.dir, w.port).await?;
    bot.wait_until_ready().await?;
    // VmHWM is the peak since the process started, so one reading after start-up covers it.
    let (rss, peak) = bot.memory()?;
    writeln!(out, "\n== start-up and memory")?;
    writeln!(out, "idle, empty store: RSS {}", mib(idle))?;
    writeln!(
        out,
        "{count} active grants (seeded in {}): healthy after {}, RSS {} once ready, peak RSS {}",
        ms(seeded_in),
        ms(bot.started_in),
        mib(rss),
        mib(peak)
    )?;
    bot.stop().await
}
