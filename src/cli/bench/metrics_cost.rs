//! What metrics cost: slash-command acknowledgement of two bots on sled, one with metrics on and
//! scraped every second (more often than Prometheus would), one with `PROD_ACCESS_METRICS=off`,
//! at the same rates in the same run; and how long a scrape takes with many open grants.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;

use super::child::Bot;
use super::load::open_loop;
use super::scenarios::{Out, request_number, signed, world};
use super::seed::{Outbox, SeedInto, seed};
use super::{BenchOptions, Stats, ms};

/// Scrapes timed at each store size, after the first.
const SCRAPES: usize = 30;

pub async fn acknowledgements(o: &BenchOptions, out: Out<'_>) -> anyhow::Result<()> {
    let total: usize = o
        .rates
        .iter()
        .map(|r| (f64::from(*r) * o.seconds_per_rate) as usize)
        .sum();
    let with = world("ack-metrics-on", total).await?;
    let without = world("ack-metrics-off", total).await?;
    let on = Bot::start(&with.dir, with.port).await?;
    let off = Bot::start_with(
        &without.dir,
        without.port,
        &[("PROD_ACCESS_METRICS", "off")],
        false,
    )
    .await?;
    let http = reqwest::Client::new();
    let scrape_url = on.url("/metrics");
    let scraper = {
        let http = http.clone();
        tokio::spawn(async move {
            loop {
                let _ = http.get(&scrape_url).send().await.map(|r| r.bytes());
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    writeln!(
        out,
        "\n== what metrics cost: slash-command acknowledgement, metrics on (scraped every second) and off, sled, same run"
    )?;
    let mut offset = 0;
    for &rate in &o.rates {
        let count = (f64::from(rate) * o.seconds_per_rate) as usize;
        let command = |i: usize| request_number(offset + i);
        let off_run = open_loop(rate, count, |i| {
            signed(&http, off.url("/slack/commands"), command(i))
        })
        .await;
        let on_run = open_loop(rate, count, |i| {
            signed(&http, on.url("/slack/commands"), command(i))
        })
        .await;
        let (without, with) = (off_run.stats(), on_run.stats());
        let ratio = |s: &Stats| s.p99.as_secs_f64() / without.p99.as_secs_f64().max(1e-9);
        writeln!(
            out,
            "{rate:>5} req/s  metrics off {}  {} failed",
            without.shown(),
            off_run.failed()
        )?;
        writeln!(
            out,
            "{rate:>5} req/s  metrics on  {}  p99 {:.2}× off, {} failed",
            with.shown(),
            ratio(&with),
            on_run.failed()
        )?;
        offset += count;
    }
    scraper.abort();
    on.stop().await?;
    off.stop().await
}

/// How long `GET /metrics` takes with many open grants: each scrape reads the grant gauges from
/// the store, and the first also walks the whole audit chain (later ones only its new entries).
pub async fn scrape(o: &BenchOptions, out: Out<'_>) -> anyhow::Result<()> {
    writeln!(
        out,
        "\n== a scrape of /metrics by open grants in the store (sled; {SCRAPES} scrapes after the first)"
    )?;
    let mut sizes = vec![0, 1_000, 10_000, o.stored_grants];
    sizes.sort();
    sizes.dedup();
    for count in sizes {
        let w = world("scrape", 0).await?;
        let now = Utc::now();
        let expiry = |_| now + chrono::Duration::hours(8);
        seed(
            SeedInto::Sled(&w.dir.store()),
            &w.kube,
            count,
            now,
            expiry,
            Outbox::Empty,
        )
        .await
        .context("seeding the store")?;
        let bot = Bot::start(&w.dir, w.port).await?;
        bot.wait_until_ready().await?;
        let http = reqwest::Client::new();
        let url = bot.url("/metrics");
        let timed = || async {
            let started = Instant::now();
            let answer = http.get(&url).send().await?.error_for_status()?;
            answer.bytes().await?;
            anyhow::Ok(started.elapsed())
        };
        let first = timed().await?;
        let mut samples = Vec::with_capacity(SCRAPES);
        for _ in 0..SCRAPES {
            samples.push(timed().await?);
        }
        writeln!(
            out,
            "{count:>7} open grants: first scrape {:>8} (walks the audit chain), then {}",
            ms(first),
            Stats::of(samples).shown()
        )?;
        bot.stop().await?;
    }
    Ok(())
}
