//! The PostgreSQL store measured against a real local server (a throwaway one, fsync on):
//! slash-command acknowledgement with it next to sled's and a bare handler's in the same run,
//! and failover: three replicas, grants expiring every 100 ms, the leader killed with SIGKILL
//! in the middle; how late each binding was deleted.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::child::{Bot, WorkDir, free_port, use_postgres, write_files};
use super::load::{bare_handler, open_loop};
use super::scenarios::{Out, deleted_at, request_number, signed, until_deleted, world};
use super::seed::{Outbox, SeedInto, seed};
use super::{BenchOptions, Stats, mib, ms};
use crate::store::postgres::local::{Durability, LocalPostgres};

/// A real server for a measurement, or why there is none.
async fn server() -> anyhow::Result<LocalPostgres> {
    if LocalPostgres::binaries().is_none() {
        anyhow::bail!("no PostgreSQL binaries (initdb, postgres): install Debian's postgresql");
    }
    LocalPostgres::start(Durability::Full).await
}

/// Slash-command acknowledgement, sled and PostgreSQL stores and a bare handler, same rates.
pub async fn acknowledgements(o: &BenchOptions, out: Out<'_>) -> anyhow::Result<()> {
    let postgres = server().await?;
    let url = postgres.new_database().await?;
    let total: usize = o
        .rates
        .iter()
        .map(|r| (f64::from(*r) * o.seconds_per_rate) as usize)
        .sum();
    let on_sled = world("ack-sled", total).await?;
    let on_postgres = world("ack-postgres", total).await?;
    use_postgres(&on_postgres.dir)?;
    let sled_bot = Bot::start(&on_sled.dir, on_sled.port).await?;
    let env = [("DATABASE_URL", url.as_str())];
    let postgres_bot = Bot::start_with(&on_postgres.dir, on_postgres.port, &env, false).await?;
    let bare = bare_handler().await?;
    let http = reqwest::Client::new();
    writeln!(
        out,
        "\n== slash-command acknowledgement by store (open loop; PostgreSQL local, fsync on; the bare handler in the same run)"
    )?;
    let mut offset = 0;
    for &rate in &o.rates {
        let count = (f64::from(rate) * o.seconds_per_rate) as usize;
        let command = |i: usize| request_number(offset + i);
        let bare_run = open_loop(rate, count, |i| {
            signed(&http, format!("{bare}/slack/commands"), command(i))
        })
        .await;
        let sled_run = open_loop(rate, count, |i| {
            signed(&http, sled_bot.url("/slack/commands"), command(i))
        })
        .await;
        let postgres_run = open_loop(rate, count, |i| {
            signed(&http, postgres_bot.url("/slack/commands"), command(i))
        })
        .await;
        let b = bare_run.stats();
        let ratio = |s: &Stats| s.p99.as_secs_f64() / b.p99.as_secs_f64().max(1e-9);
        writeln!(out, "{rate:>5} req/s  bare handler {}", b.shown())?;
        for (store, run) in [("sled", &sled_run), ("postgres", &postgres_run)] {
            let stats = run.stats();
            writeln!(
                out,
                "{rate:>5} req/s  {store:<12} {}  p99 {:.1}× bare, {} failed",
                stats.shown(),
                ratio(&stats),
                run.failed()
            )?;
        }
        offset += count;
    }
    sled_bot.stop().await?;
    postgres_bot.stop().await
}

/// Start-up with `o.stored_grants` active grants in PostgreSQL: from spawning the process to its
/// first healthy answer, and to `/readyz` (the leader's lock taken, the pre-flight done).
pub async fn start_up(o: &BenchOptions, out: Out<'_>) -> anyhow::Result<()> {
    let postgres = server().await?;
    let url = postgres.new_database().await?;
    let count = o.stored_grants;
    let w = world("start-up-postgres", 0).await?;
    use_postgres(&w.dir)?;
    let now = Utc::now();
    let seeding = Instant::now();
    let expiry = |_| now + chrono::Duration::hours(8);
    seed(
        SeedInto::Postgres(&url),
        &w.kube,
        count,
        now,
        expiry,
        Outbox::Empty,
    )
    .await?;
    let seeded_in = seeding.elapsed();
    let env = [("DATABASE_URL", url.as_str())];
    let bot = Bot::start_with(&w.dir, w.port, &env, false).await?;
    let healthy = Instant::now();
    bot.wait_until_ready().await?;
    let ready_in = bot.started_in + healthy.elapsed();
    let (rss, peak) = bot.memory()?;
    writeln!(out, "\n== start-up with PostgreSQL (local, fsync on)")?;
    writeln!(
        out,
        "{count} active grants (seeded in {}): healthy after {}, ready after {}, RSS {} once ready, peak RSS {}",
        ms(seeded_in),
        ms(bot.started_in),
        ms(ready_in),
        mib(rss),
        mib(peak)
    )?;
    bot.stop().await
}

/// Three replicas; `count` grants expiring 100 ms apart from 10 s on; the leader killed 15 s in.
pub async fn failover(o: &BenchOptions, out: Out<'_>) -> anyhow::Result<()> {
    const REPLICAS: usize = 3;
    let count = (o.expiring_grants / 30).clamp(100, 600);
    let postgres = server().await?;
    let url = postgres.new_database().await?;
    let w = world("failover", count).await?;
    let first = Utc::now() + chrono::Duration::seconds(10);
    let expiry = |n: usize| first + chrono::Duration::milliseconds(100 * n as i64);
    let expiries = seed(
        SeedInto::Postgres(&url),
        &w.kube,
        count,
        Utc::now(),
        expiry,
        Outbox::Empty,
    )
    .await?;
    let mut workdirs = Vec::new();
    let mut bots = Vec::new();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("RUST_LOG", "warn,prod_access::jobs=info"),
    ];
    for n in 0..REPLICAS {
        let dir = WorkDir::new(&format!("failover-{n}"))?;
        let port = free_port()?;
        write_files(&dir, port, &w.slack, &w.kube)?;
        use_postgres(&dir)?;
        bots.push(Some(Bot::start_with(&dir, port, &env, false).await?));
        workdirs.push(dir);
    }
    let dirs: Vec<PathBuf> = workdirs.iter().map(|d| d.0.clone()).collect();
    let leader = leader(&dirs).await?;
    let kill_at = first + chrono::Duration::seconds(5);
    tokio::time::sleep((kill_at - Utc::now()).to_std().unwrap_or_default()).await;
    let killed = Utc::now();
    if let Some(bot) = bots[leader].take() {
        bot.kill9().await;
    }
    until_deleted(&w.kube, count, Duration::from_secs(120)).await;
    let deleted = deleted_at(&w.kube);
    let lag = |(name, expires_at): &(String, chrono::DateTime<Utc>)| {
        let at: chrono::DateTime<Utc> = (*deleted.get(name)?).into();
        (at - *expires_at).to_std().ok()
    };
    let lags: Vec<Duration> = expiries.iter().filter_map(lag).collect();
    let across: Vec<Duration> = expiries
        .iter()
        .filter(|(_, at)| *at >= killed && *at < killed + chrono::Duration::seconds(5))
        .filter_map(lag)
        .collect();
    writeln!(
        out,
        "\n== failover: {REPLICAS} replicas on PostgreSQL, {count} grants expiring 100 ms apart, the leader SIGKILLed 5 s in"
    )?;
    writeln!(
        out,
        "every grant: scheduled expiry → DELETE {}",
        Stats::of(lags).shown()
    )?;
    writeln!(
        out,
        "expiring in the 5 s after the kill: {}; {} of {count} never deleted",
        Stats::of(across).shown(),
        count - deleted.len().min(count)
    )?;
    for bot in bots.into_iter().flatten() {
        bot.stop().await?;
    }
    Ok(())
}

/// The replica whose log says it leads (waits up to 10 s).
async fn leader(dirs: &[PathBuf]) -> anyhow::Result<usize> {
    for _ in 0..200 {
        let leading = dirs.iter().position(|dir| {
            std::fs::read_to_string(dir.join("bot.log"))
                .is_ok_and(|log| log.contains("this replica leads"))
        });
        if let Some(n) = leading {
            return Ok(n);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("no replica took the lead within 10 s")
}
