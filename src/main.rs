use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use prod_access::clock::SystemClock;
use prod_access::cluster::KubeCluster;
use prod_access::config::{Config, Secrets};
use prod_access::server::Server;

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
    /// Work with the access policy.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Check a configuration file and its policy; exits non-zero with every problem found.
    Check { file: PathBuf },
}

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sled=warn,hyper=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Commands::Serve { config } => serve(config),
        Commands::Policy {
            command: PolicyCommand::Check { file },
        } => Config::load(&file).map(|_| println!("{}: ok", file.display())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config_path: PathBuf) -> anyhow::Result<()> {
    let config = Config::load(&config_path)?;
    let secrets = Secrets::from_env()?;
    tokio::runtime::Runtime::new()?.block_on(async move {
        let cluster = Arc::new(KubeCluster::from_environment().await?);
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let server =
            Server::start(&config, &secrets, cluster, Arc::new(SystemClock), listener).await?;
        server.run_until_signalled().await
    })
}
