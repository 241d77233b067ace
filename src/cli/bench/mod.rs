//! `prod-access bench`: measured, not hoped. Runs this binary's `serve` in a child process
//! against the fake Slack and Kubernetes API on loopback and prints what it measured: command
//! and click acknowledgement latency next to a bare axum handler, click → RoleBinding, revocation
//! lag with many grants expiring at once (and again with Slack hanging), catch-up after downtime, start-up time and memory with
//! a large store, the binary's size, and on a real PostgreSQL: acknowledgement by store and
//! revocation lag across a leader's failover. Build with `--release` for figures worth comparing.

mod apiserver_audit;
mod child;
mod load;
mod metrics_cost;
mod postgres;
mod review_latency;
mod scenarios;
mod seed;

use std::time::Duration;

/// What `bench` measures, and how much of it.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Request rates for the acknowledgement runs, per second.
    pub rates: Vec<u32>,
    /// How long each rate is held.
    pub seconds_per_rate: f64,
    /// Grants expiring within one minute (revocation lag), and already expired (catch-up).
    pub expiring_grants: usize,
    /// Active grants in the store for the start-up measurement.
    pub stored_grants: usize,
    /// Run only these measurements (`SCENARIOS` names them); all when empty.
    pub only: Vec<String>,
}

/// The measurements, by the names `--only` takes.
pub const SCENARIOS: &[&str] = &[
    "ack",
    "revocation",
    "revocation-chat-hanging",
    "catch-up",
    "start-up",
    "audit-webhook",
    "ack-postgres",
    "failover",
    "start-up-postgres",
    "ack-metrics",
    "scrape",
    "review-latency",
];

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            rates: vec![50, 200, 1000],
            seconds_per_rate: 5.0,
            expiring_grants: 10_000,
            stored_grants: 100_000,
            only: Vec::new(),
        }
    }
}

/// Latencies, summarised.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Stats {
    pub fn of(mut samples: Vec<Duration>) -> Stats {
        samples.sort();
        let at = |q: f64| {
            let index = ((samples.len() as f64 * q).ceil() as usize).saturating_sub(1);
            samples.get(index).copied().unwrap_or_default()
        };
        Stats {
            count: samples.len(),
            p50: at(0.50),
            p99: at(0.99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }

    fn shown(&self) -> String {
        format!(
            "p50 {:>8} p99 {:>8} max {:>8} (n={})",
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.count
        )
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1000.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Runs every measurement and writes the report to `out` as it goes.
pub async fn run(
    options: &BenchOptions,
    out: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    writeln!(out, "prod-access bench: {}", exe.display())?;
    writeln!(out, "{}", machine())?;
    writeln!(
        out,
        "binary size: {}",
        mib(std::fs::metadata(&exe).map(|m| m.len()).unwrap_or(0))
    )?;
    if let Some(unknown) = options
        .only
        .iter()
        .find(|s| !SCENARIOS.contains(&s.as_str()))
    {
        anyhow::bail!(
            "no measurement `{unknown}`; there are: {}",
            SCENARIOS.join(", ")
        );
    }
    let runs = |name: &str| options.only.is_empty() || options.only.iter().any(|s| s == name);
    if runs("ack") {
        scenarios::acknowledgements(options, out).await?;
    }
    if runs("revocation") {
        scenarios::revocation_lag(options, out).await?;
    }
    if runs("revocation-chat-hanging") {
        scenarios::revocation_lag_with_chat_hanging(options, out).await?;
    }
    if runs("catch-up") {
        scenarios::catch_up(options, out).await?;
    }
    if runs("start-up") {
        scenarios::start_up(options, out).await?;
    }
    if runs("ack-metrics") {
        metrics_cost::acknowledgements(options, out).await?;
    }
    if runs("scrape") {
        metrics_cost::scrape(options, out).await?;
    }
    if runs("review-latency") {
        review_latency::click_to_binding(options, out).await?;
    }
    if runs("audit-webhook") {
        apiserver_audit::throughput(options.seconds_per_rate, out).await?;
    }
    // A real PostgreSQL is needed: where there is none, these say so and are left out.
    if runs("ack-postgres")
        && let Err(e) = postgres::acknowledgements(options, out).await
    {
        writeln!(out, "\n== ack-postgres: not measured: {e:#}")?;
    }
    if runs("failover")
        && let Err(e) = postgres::failover(options, out).await
    {
        writeln!(out, "\n== failover: not measured: {e:#}")?;
    }
    if runs("start-up-postgres")
        && let Err(e) = postgres::start_up(options, out).await
    {
        writeln!(out, "\n== start-up-postgres: not measured: {e:#}")?;
    }
    Ok(())
}

/// Cores and memory of this machine, from `/proc` (Linux).
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or("unknown".to_string(), |kib| mib(kib * 1024));
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            let line = c.lines().find(|l| l.starts_with("model name"))?;
            Some(line.split(':').nth(1)?.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("machine: {cores} cores ({cpu}), {memory} memory")
}

#[cfg(test)]
mod tests {
    use super::Stats;
    use std::time::Duration;

    #[test]
    fn percentiles_are_the_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let stats = Stats::of(samples);
        assert_eq!(stats.p50, Duration::from_millis(50));
        assert_eq!(stats.p99, Duration::from_millis(99));
        assert_eq!(stats.max, Duration::from_millis(100));
        assert_eq!(Stats::of(vec![]).count, 0);
    }
}
