//! The `prod-access` command line: `serve`, and `demo`, `bench`, `policy` and `audit` beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use kube::config::KubeConfigOptions;
use minijinja::context;
use prod_access::cli::audit as audit_cli;
use prod_access::clock::SystemClock;
use prod_access::cluster::admission;
use prod_access::cluster::{Cluster, KubeCluster};
use prod_access::config::{Config, KubeconfigSettings, Secrets, check_file, schema};
use prod_access::domain::grant::DEFAULT_CLUSTER;
use prod_access::server::Server;
use prod_access::templates::operator_says;

/// Temporary, approved, audited access to production Kubernetes, driven from Slack.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Serve Slack's webhooks and revoke access when it expires.
    Serve {
        #[arg(long, env = "PROD_ACCESS_CONFIG", default_value = "config.yaml")]
        config: PathBuf,
    },
    /// Play the whole lifecycle (request, approval, binding, expiry, revocation, audit) against
    /// a simulated Slack workspace and Kubernetes API on 127.0.0.1: no Slack app, no cluster.
    Demo {
        /// How many times faster than real time the demo's clock runs.
        #[arg(long, default_value_t = prod_access::cli::demo::DEFAULT_SPEED)]
        speed: f64,
    },
    /// Measure this binary: acknowledgement latency, click → binding, revocation lag, catch-up,
    /// start-up and memory, audit webhook throughput (runs `serve` in child processes against fakes on 127.0.0.1). Build
    /// with --release first; BENCHMARKS.md has the figures.
    Bench {
        /// Request rates for the acknowledgement runs, per second.
        #[arg(long, value_delimiter = ',', default_values_t = [50, 200, 1000])]
        rates: Vec<u32>,
        /// Seconds each rate is held.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Grants expiring within a minute (and, for catch-up, already expired).
        #[arg(long, default_value_t = 10_000)]
        expiring: usize,
        /// Active grants in the store for the start-up and the largest scrape measurement.
        #[arg(long, default_value_t = 100_000)]
        stored: usize,
        /// Only these measurements: ack, revocation, revocation-chat-hanging, catch-up, start-up,
        /// audit-webhook, ack-metrics, scrape; on a real local PostgreSQL: ack-postgres,
        /// failover, start-up-postgres.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Delete every prod-access binding whose expiry has passed, on every configured cluster,
    /// and exit: the safety net that needs neither the bot nor its store (deploy/base/sweeper.yaml
    /// runs it every minute). Exits non-zero when a cluster could not be swept.
    Sweep {
        #[arg(long, env = "PROD_ACCESS_CONFIG", default_value = "config.yaml")]
        config: PathBuf,
    },
    /// Move the store: `store migrate --from <sled dir> --to <postgres url>`.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Work with the access policy.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Check or export the tamper-evident audit log. An embedded (sled) store must not be in
    /// use: run it on a stopped bot's store or a copy of it; PostgreSQL can be read at any time.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(clap::Args)]
struct StoreArgs {
    /// The configuration file whose `store_path` (or `store: { postgres: … }`) holds the log.
    #[arg(
        long,
        env = "PROD_ACCESS_CONFIG",
        default_value = "config.yaml",
        global = true
    )]
    config: PathBuf,
    /// The store directory itself, instead of reading it from the configuration.
    #[arg(long, global = true)]
    store: Option<PathBuf>,
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy an embedded (sled) store into an empty PostgreSQL database, in one transaction:
    /// grants, session activity, the audit log entry by entry and the SIEM cursor. Stop the bot
    /// first. The chain's head is checked to be the same after.
    Migrate {
        /// The sled store's directory (`store_path`).
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL URL, password included (better given as DATABASE_URL than on the
        /// command line, where other users of the machine can see it).
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        to: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain; names the first edited, removed or reordered entry and exits
    /// non-zero if there is one.
    Verify,
    /// Write entries as JSON lines, exactly as stored (with their hashes).
    Export {
        /// Entries at or after this time: RFC 3339, a date (UTC midnight) or a duration ago (24h).
        #[arg(long)]
        since: Option<String>,
        /// Entries before this time, written the same ways.
        #[arg(long)]
        until: Option<String>,
        /// Only the entries of this grant.
        #[arg(long)]
        grant: Option<String>,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Check a configuration file or a policy file; prints every problem as file:line:column
    /// and exits non-zero.
    Check { file: PathBuf },
    /// Print the ValidatingAdmissionPolicy (and its binding) that lets the bot's ServiceAccount
    /// write only the bindings this configuration can make; apply it with kubectl.
    RenderAdmission {
        #[arg(long, env = "PROD_ACCESS_CONFIG", default_value = "config.yaml")]
        config: PathBuf,
        /// The namespace of the bot's ServiceAccount.
        #[arg(long, default_value = "prod-access")]
        namespace: String,
        /// The bot's ServiceAccount.
        #[arg(long, default_value = "prod-access")]
        service_account: String,
    },
    /// Print the JSON Schema of the configuration file, for editors.
    Schema {
        /// The schema of a standalone policy file instead.
        #[arg(long)]
        policy: bool,
    },
}

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    init_logging(&cli.command);
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr: stdout is for what a command prints (`audit export` writes JSON lines).
fn init_logging(command: &Commands) {
    // The demo's transcript is the point; its server's logs would drown it.
    let default_filter = match command {
        Commands::Demo { .. } | Commands::Bench { .. } => "warn,sled=warn",
        _ => "info,sled=warn,hyper=warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match std::env::var(LOG_FORMAT_VAR).as_deref() {
        // One JSON object a line, the event's fields at the top level and the spans it runs in
        // (the HTTP request with its `request_id`) in `spans`, for log pipelines.
        Ok("json") => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .init(),
        _ => logs.init(),
    }
}

/// `json` for JSON lines; anything else (or unset) for text.
const LOG_FORMAT_VAR: &str = "PROD_ACCESS_LOG_FORMAT";

fn run(command: Commands) -> anyhow::Result<()> {
    match command {
        Commands::Serve { config } => serve(config),
        Commands::Bench {
            rates,
            seconds,
            expiring,
            stored,
            only,
        } => {
            let options = prod_access::cli::bench::BenchOptions {
                rates,
                seconds_per_rate: seconds,
                expiring_grants: expiring,
                stored_grants: stored,
                only,
            };
            tokio::runtime::Runtime::new()?.block_on(prod_access::cli::bench::run(
                &options,
                &mut std::io::stdout(),
            ))
        }
        Commands::Demo { speed } => tokio::runtime::Runtime::new()?
            .block_on(prod_access::cli::demo::run(speed, &mut std::io::stdout())),
        Commands::Policy { command } => policy(command),
        Commands::Audit { command, store } => audit(command, store),
        Commands::Sweep { config } => sweep(config),
        Commands::Store {
            command: StoreCommand::Migrate { from, to },
        } => migrate_store(&from, &to),
    }
}

fn migrate_store(from: &std::path::Path, to: &str) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(async move {
        let source = audit_cli::open_sled(from)?;
        let target = prod_access::store::PostgresStore::connect(to).await?;
        let copied = prod_access::store::migrate::migrate(&source, &target).await?;
        let head = copied
            .head
            .as_ref()
            .map(|head| context! { seq => head.seq, hash => &head.hash });
        let copied = context! {
            grants => copied.grants,
            activity => copied.activity,
            audit_entries => copied.audit_entries,
            cursors => copied.cursors,
            head,
        };
        println!("{}", operator_says("migrated", copied)?);
        Ok(())
    })
}

fn sweep(config_path: PathBuf) -> anyhow::Result<()> {
    let config = Config::load(&config_path)?;
    tokio::runtime::Runtime::new()?.block_on(async move {
        let clusters = connect_clusters(&config).await?;
        let now = chrono::Utc::now();
        let swept =
            prod_access::cli::sweep::sweep(&clusters, now, &mut std::io::stdout().lock()).await?;
        if swept.failures > 0 {
            let failed = context! { failed => swept.failures };
            anyhow::bail!(operator_says("sweep_failed", failed)?);
        }
        Ok(())
    })
}

fn policy(command: PolicyCommand) -> anyhow::Result<()> {
    match command {
        PolicyCommand::Check { file } => {
            check_file(&file)?;
            let file = file.display().to_string();
            println!("{}", operator_says("file_ok", context! { file })?);
        }
        PolicyCommand::RenderAdmission {
            config,
            namespace,
            service_account,
        } => render_admission(&config, namespace, service_account)?,
        PolicyCommand::Schema { policy } => {
            println!("{}", serde_json::to_string_pretty(&schema(policy))?)
        }
    }
    Ok(())
}

/// One Kubernetes client per configured cluster (by kubeconfig context), or the default one
/// (kubeconfig's current context, or in-cluster).
async fn connect_clusters(config: &Config) -> anyhow::Result<BTreeMap<String, Arc<dyn Cluster>>> {
    let account_namespace = |settings: Option<&KubeconfigSettings>| {
        settings
            .or(config.kubernetes.kubeconfig.as_ref())
            .map(|k| k.namespace.clone())
    };
    let mut clusters: BTreeMap<String, Arc<dyn Cluster>> = BTreeMap::new();
    if config.clusters.is_empty() {
        let mut cluster = KubeCluster::from_environment().await?;
        if let Some(namespace) = account_namespace(None) {
            cluster = cluster.with_service_account_namespace(&namespace);
        }
        clusters.insert(DEFAULT_CLUSTER.to_string(), Arc::new(cluster));
        return Ok(clusters);
    }
    for (name, settings) in &config.clusters {
        let client_config = if settings.in_cluster {
            kube::Config::incluster()
                .map_err(|e| anyhow::anyhow!("cluster `{name}`: not running in a cluster: {e}"))?
        } else {
            let options = KubeConfigOptions {
                context: settings.context.clone(),
                ..KubeConfigOptions::default()
            };
            kube::Config::from_kubeconfig(&options).await.map_err(|e| {
                anyhow::anyhow!("cluster `{name}`: cannot read its kubeconfig context: {e}")
            })?
        };
        let client = prod_access::cluster::client_for(client_config)
            .map_err(|e| anyhow::anyhow!("cluster `{name}`: {e}"))?;
        let mut cluster = KubeCluster::new(client);
        if let Some(namespace) = account_namespace(settings.kubeconfig.as_ref()) {
            cluster = cluster.with_service_account_namespace(&namespace);
        }
        clusters.insert(name.clone(), Arc::new(cluster));
    }
    Ok(clusters)
}

fn render_admission(config: &Path, namespace: String, name: String) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    let bot = admission::BotAccount { namespace, name };
    print!("{}", admission::render_yaml(&config, &bot)?);
    Ok(())
}

fn audit(command: AuditCommand, args: StoreArgs) -> anyhow::Result<()> {
    let location = match args.store {
        Some(path) => prod_access::config::StoreLocation::Sled(path),
        None => Config::load(&args.config)?.store,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let store = audit_cli::open_store(&location).await?;
        match command {
            AuditCommand::Verify => {
                println!("{}", audit_cli::verify(&*store).await?);
            }
            AuditCommand::Export {
                since,
                until,
                grant,
            } => {
                let now = chrono::Utc::now();
                let time =
                    |t: Option<String>| t.map(|t| audit_cli::parse_time(&t, now)).transpose();
                let filter = audit_cli::ExportFilter {
                    since: time(since)?,
                    until: time(until)?,
                    grant,
                };
                audit_cli::export(&*store, &filter, &mut std::io::stdout().lock()).await?;
            }
        }
        Ok(())
    })
}

fn serve(config_path: PathBuf) -> anyhow::Result<()> {
    let config = Config::load(&config_path)?;
    let secrets = Secrets::from_env(config.platform())?;
    tokio::runtime::Runtime::new()?.block_on(async move {
        let clusters = connect_clusters(&config).await?;
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let server =
            Server::start(&config, &secrets, clusters, Arc::new(SystemClock), listener).await?;
        server.run_until_signalled().await
    })
}
