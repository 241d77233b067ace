//! Wires configuration, adapters, the HTTP router and the scheduler into one running server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::app::{Adapters, App, Settings};
use crate::audit::siem::WebhookSink;
use crate::chat::Chat;
use crate::clock::SharedClock;
use crate::cluster::Cluster;
use crate::config::StoreLocation;
use crate::config::{ChatSettings, Config, Secrets, WEBHOOK_SECRET_VAR};
use crate::http;
use crate::http::apiserver_audit::tokens::AuditWebhookTokens;
use crate::jobs::leader::Leadership;
use crate::jobs::{self, Jobs};
use crate::slack::client::{SlackApiClient, SlackChat, api_client};
use crate::slack::socket_mode::SocketMode;
use crate::store::{PostgresStore, SledStore, Store};
use crate::teams::auth::BotAuth;
use crate::teams::client::{TeamsChat, TeamsPlace};
use crate::teams::connector::{Connector, Credentials};
use crate::teams::routes::TeamsEndpoint;

/// The chat platform's adapter and what it needs to reach the bot.
enum ChatAdapter {
    Slack {
        client: Arc<SlackApiClient>,
        chat: Arc<SlackChat>,
        /// Set: Socket Mode.
        app_token: Option<String>,
        /// Empty in Socket Mode.
        signing_secret: String,
    },
    Teams(Arc<TeamsEndpoint>),
}

impl ChatAdapter {
    fn connect(config: &Config, secrets: &Secrets, clock: &SharedClock) -> anyhow::Result<Self> {
        match &config.chat {
            ChatSettings::Slack(slack) => {
                let token = secrets
                    .slack_bot_token
                    .as_deref()
                    .context("SLACK_BOT_TOKEN must be set")?;
                let signing_secret = match (&secrets.slack_app_token, &secrets.slack_signing_secret)
                {
                    (Some(_), _) => String::new(),
                    (None, Some(secret)) => secret.clone(),
                    (None, None) => anyhow::bail!(
                        "SLACK_SIGNING_SECRET must be set for HTTP mode (or SLACK_APP_TOKEN for Socket Mode)"
                    ),
                };
                let client = api_client(&slack.api_url)?;
                Ok(ChatAdapter::Slack {
                    chat: Arc::new(SlackChat::new(client.clone(), token)),
                    client,
                    app_token: secrets.slack_app_token.clone(),
                    signing_secret,
                })
            }
            ChatSettings::Teams(teams) => {
                let password = secrets
                    .teams_app_password
                    .clone()
                    .context("TEAMS_APP_PASSWORD must be set")?;
                let connector = Connector::new(
                    Credentials {
                        app_id: teams.app_id.clone(),
                        app_password: password,
                        token_url: teams.token_url(),
                    },
                    Arc::clone(clock),
                )?;
                let chat = TeamsChat::new(
                    connector,
                    TeamsPlace {
                        tenant_id: teams.tenant_id.clone(),
                        service_url: teams.service_url.clone(),
                        directory_conversation: teams.approvals_channel.clone(),
                    },
                );
                Ok(ChatAdapter::Teams(Arc::new(TeamsEndpoint {
                    auth: BotAuth::new(
                        &teams.app_id,
                        &teams.openid_metadata_url,
                        Arc::clone(clock),
                    )?,
                    chat: Arc::new(chat),
                })))
            }
        }
    }

    fn chat(&self) -> Arc<dyn Chat> {
        match self {
            ChatAdapter::Slack { chat, .. } => chat.clone(),
            ChatAdapter::Teams(endpoint) => endpoint.chat.clone(),
        }
    }

    /// How chat reaches the bot: HTTP routes, or Socket Mode when there is a Slack app token
    /// (Slack then reaches the bot over connections it opens, and the HTTP server keeps only
    /// the health checks).
    async fn routes(
        self,
        app: &Arc<App>,
        store: &Arc<dyn Store>,
    ) -> anyhow::Result<(Option<SocketMode>, http::ChatRoutes)> {
        Ok(match self {
            ChatAdapter::Slack {
                client,
                app_token: Some(token),
                ..
            } => (
                Some(SocketMode::start(Arc::clone(app), client, &token).await?),
                http::ChatRoutes::None,
            ),
            ChatAdapter::Slack {
                client,
                signing_secret,
                ..
            } => (
                None,
                http::ChatRoutes::Slack {
                    client,
                    signing_secret,
                    seen: app.metered_seen(store.clone()),
                },
            ),
            ChatAdapter::Teams(endpoint) => (None, http::ChatRoutes::Teams(endpoint)),
        })
    }
}

/// The on-call providers the policy uses; each needs its token in the environment.
fn on_call_providers(
    config: &Config,
    secrets: &Secrets,
) -> anyhow::Result<Arc<dyn crate::on_call::OnCallDirectory>> {
    use crate::domain::on_call::OnCallProvider;
    for provider in config.on_call_providers_used() {
        let (token, var) = match provider {
            OnCallProvider::Pagerduty => (
                &secrets.pagerduty_token,
                crate::on_call::PAGERDUTY_TOKEN_VAR,
            ),
            OnCallProvider::Opsgenie => {
                (&secrets.opsgenie_api_key, crate::on_call::OPSGENIE_KEY_VAR)
            }
        };
        if token.is_none() {
            anyhow::bail!(
                "a role approves whoever is on call in {}: the environment variable {var} must hold its API token",
                provider.name()
            );
        }
    }
    Ok(Arc::new(crate::on_call::OnCallProviders::new(
        &config.on_call,
        secrets.pagerduty_token.as_deref(),
        secrets.opsgenie_api_key.as_deref(),
    )?))
}

/// Each cluster's audit webhook token, when session activity is on; see
/// [`AuditWebhookTokens::resolve`] for what is refused.
fn k8s_audit_tokens(
    secrets: &Secrets,
    clusters: &BTreeMap<String, Arc<dyn Cluster>>,
) -> anyhow::Result<AuditWebhookTokens> {
    let names: Vec<String> = clusters.keys().cloned().collect();
    AuditWebhookTokens::resolve(
        &names,
        secrets.k8s_audit_token.as_deref(),
        &secrets.k8s_audit_cluster_tokens,
    )
    .map_err(anyhow::Error::msg)
}

/// The store the configuration chose, and how its replicas choose the one that leads: sled on
/// disk (its directory created if missing; one process, which leads), or PostgreSQL (its schema
/// brought up to date; an advisory lock).
pub async fn open_store(location: &StoreLocation) -> anyhow::Result<(Arc<dyn Store>, Leadership)> {
    Ok(match location {
        StoreLocation::Sled(path) => {
            std::fs::create_dir_all(path)
                .with_context(|| format!("cannot create the store directory {}", path.display()))?;
            (Arc::new(SledStore::open(path)?), Leadership::Alone)
        }
        StoreLocation::Postgres { url_env } => {
            let url = StoreLocation::postgres_url(url_env)?;
            let store = PostgresStore::connect(&url).await?;
            let options = Box::new((*store.pool().connect_options()).clone());
            (Arc::new(store), Leadership::Postgres(options))
        }
    })
}

/// The outbound audit webhook (SIEM), when configured; it needs its signing secret.
fn siem_sink(
    config: &Config,
    secrets: &Secrets,
    store: &Arc<dyn Store>,
    clock: &SharedClock,
) -> anyhow::Result<Option<WebhookSink>> {
    let Some(webhook) = &config.audit.webhook else {
        return Ok(None);
    };
    let secret = secrets.audit_webhook_secret.as_deref().with_context(|| {
        format!(
            "audit.webhook is set: the environment variable {WEBHOOK_SECRET_VAR} must hold its signing secret"
        )
    })?;
    Ok(Some(WebhookSink::new(
        &webhook.url,
        secret,
        store.clone(),
        Arc::clone(clock),
    )?))
}

/// What the application needs to know of the configuration.
fn app_settings(config: &Config, session_activity: bool) -> Settings {
    Settings {
        audit_webhook: config.audit.webhook.is_some(),
        // On unless `PROD_ACCESS_METRICS=off`: the benchmark's baseline for what they cost.
        metrics: std::env::var("PROD_ACCESS_METRICS").as_deref() != Ok("off"),
        platform: config.platform(),
        approvals_channel: config.chat.approvals_channel().to_string(),
        audit_channel: config.chat.audit_channel().to_string(),
        subject_prefix: config.kubernetes.subject_prefix.clone(),
        group_prefix: config.kubernetes.group_prefix.clone(),
        identities: config.kubernetes.identities.clone(),
        identity: config.identity.clone(),
        kubeconfig: config.kubernetes.kubeconfig.clone(),
        cluster_kubeconfigs: config
            .clusters
            .iter()
            .filter_map(|(name, c)| Some((name.clone(), c.kubeconfig.clone()?)))
            .collect(),
        session_activity,
    }
}

/// Picks up where the last run stopped, before anything new is served.
async fn recover(app: &Arc<App>) -> anyhow::Result<()> {
    if app.session_activity_enabled() {
        // Before anything changes a grant or the webhook is served: a request of an active
        // grant must never find it missing, and an end must find what it ends.
        let indexed = app.index_active_grants().await?;
        info!(grants = indexed, "session activity: active grants indexed");
    }
    // Left-over effects are carried out by the replica that leads (see `jobs::lead`).
    // A slow or unreachable API server must not hold up serving Slack; /readyz says "not run
    // yet" until this answers.
    app.spawn_preflight();
    Ok(())
}

/// Serves `router` on `listener` until the returned sender is used (or dropped).
fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    settings: crate::http::serve::HttpSettings,
) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let (stop_http, stopped) = oneshot::channel();
    let http = tokio::spawn(async move {
        let stopped = async {
            let _ = stopped.await;
        };
        http::serve::serve(listener, router, &settings, stopped).await;
    });
    (stop_http, http)
}

/// Serves `/metrics` on `metrics_listen`, when the configuration gives one.
async fn serve_metrics_apart(
    config: &Config,
    app: &Arc<App>,
) -> anyhow::Result<Option<(SocketAddr, oneshot::Sender<()>, JoinHandle<()>)>> {
    let Some(wanted) = config.metrics_listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(wanted)
        .await
        .with_context(|| format!("metrics_listen {wanted}"))?;
    let addr = listener.local_addr()?;
    let router = http::metrics_router(Arc::clone(app));
    let (stop, task) = serve_http(listener, router, config.http.clone());
    info!(%addr, "metrics served apart");
    Ok(Some((addr, stop, task)))
}

pub struct Server {
    addr: SocketAddr,
    app: Arc<App>,
    stop_http: oneshot::Sender<()>,
    http: JoinHandle<()>,
    /// `metrics_listen`'s server, when `/metrics` is served apart: its address, stop and task.
    metrics: Option<(SocketAddr, oneshot::Sender<()>, JoinHandle<()>)>,
    /// How long stopping waits for requests in flight and the work they started.
    shutdown_grace: std::time::Duration,
    /// Runs the background work while this replica leads; stopped with `stop_jobs`.
    jobs: JoinHandle<()>,
    stop_jobs: CancellationToken,
    /// Keeps what this replica holds in memory in step with the other replicas.
    following: JoinHandle<()>,
    socket_mode: Option<SocketMode>,
}

impl Server {
    /// Opens the store, carries out effects left over from the last run (re-binding, revoking,
    /// posting), starts the expiry scheduler and serves HTTP on `listener`.
    pub async fn start(
        config: &Config,
        secrets: &Secrets,
        clusters: BTreeMap<String, Arc<dyn Cluster>>,
        clock: SharedClock,
        listener: TcpListener,
    ) -> anyhow::Result<Server> {
        let chat = ChatAdapter::connect(config, secrets, &clock)?;
        Jobs::check(config)?;
        let (store, leadership) = open_store(&config.store).await?;
        let siem = siem_sink(config, secrets, &store, &clock)?;
        let k8s_audit_tokens = k8s_audit_tokens(secrets, &clusters)?;
        let adapters = Adapters {
            audit: store.clone(),
            activity: store.clone(),
            store: store.clone(),
            chat: chat.chat(),
            clusters,
            clock: Arc::clone(&clock),
            on_call: on_call_providers(config, secrets)?,
        };
        let settings = app_settings(config, !k8s_audit_tokens.is_empty());
        let app = App::new(adapters, config.policy.clone(), settings)?;
        recover(&app).await?;
        let following = tokio::spawn(Arc::clone(&app).follow_other_replicas());
        let stop_jobs = CancellationToken::new();
        let jobs = tokio::spawn(jobs::lead(
            Arc::clone(&app),
            config.clone(),
            siem,
            leadership,
            app.now(),
            stop_jobs.clone(),
        ));
        let (socket_mode, routes) = chat.routes(&app, &store).await?;
        let metrics_apart = config.metrics_listen.is_some();
        let router = http::router(Arc::clone(&app), routes, k8s_audit_tokens, !metrics_apart);
        let metrics = serve_metrics_apart(config, &app).await?;
        let addr = listener.local_addr()?;
        let (stop_http, http) = serve_http(listener, router, config.http.clone());
        info!(%addr, "prod-access is listening");
        Ok(Server {
            addr,
            app,
            stop_http,
            http,
            metrics,
            shutdown_grace: config.http.shutdown_grace,
            jobs,
            stop_jobs,
            following,
            socket_mode,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/metrics` is served apart (`metrics_listen`), if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(addr, _, _)| *addr)
    }

    /// Stops serving, lets work in progress finish within the grace period (whatever is left
    /// then was persisted first and is resumed at the next start), and releases the store.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + self.shutdown_grace;
        let _ = self.stop_http.send(());
        if let Some((_, stop, task)) = self.metrics.take() {
            let _ = stop.send(());
            let _ = tokio::time::timeout_at(deadline, task).await;
        }
        if tokio::time::timeout_at(deadline, &mut self.http)
            .await
            .is_err()
        {
            warn!(grace = ?self.shutdown_grace, "closed HTTP connections still open after the grace period");
            self.http.abort();
        }
        if let Some(socket_mode) = self.socket_mode {
            socket_mode.stop().await;
        }
        self.stop_jobs.cancel();
        let _ = self.jobs.await;
        self.following.abort();
        let background = self.app.wait_for_background_work();
        if tokio::time::timeout_at(deadline, background).await.is_err() {
            warn!(grace = ?self.shutdown_grace, "stopped with work still under way after the grace period; it is resumed at the next start");
        }
        Ok(())
    }

    /// Serves until the process is told to stop (Ctrl-C or SIGTERM).
    pub async fn run_until_signalled(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        info!("shutting down");
        self.stop().await
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
