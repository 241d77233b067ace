//! What metrics cost: slash-command acknowledgement of two bots on sled, one with metrics on and
//! scraped every second (more often than Prometheus would), one with `PROD_ACCESS_METRICS=off`,
//! at the same rates in the same run.

use std::time::Duration;

use super::child::Bot;
use super::load::open_loop;
use super::scenarios::{Out, request_number, signed, world};
use super::{BenchOptions, Stats};

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
