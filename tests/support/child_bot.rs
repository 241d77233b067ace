//! The real `prod-access` binary run as a child process: the files it is started with in a
//! folder (`config.yaml`, a `kubeconfig` for the fake cluster) and `serve` with the tests'
//! Slack secrets.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::{BOT_TOKEN, FakeKube, SIGNING_SECRET};

/// Writes `dir/kubeconfig`, pointing at `kube` with no credentials.
pub fn write_kubeconfig(dir: &Path, kube: &FakeKube) {
    let kubeconfig = format!(
        r#"apiVersion: v1
kind: Config
clusters: [{{ name: fake, cluster: {{ server: "{}" }} }}]
users: [{{ name: bot, user: {{}} }}]
contexts: [{{ name: fake, context: {{ cluster: fake, user: bot }} }}]
current-context: fake
"#,
        kube.url()
    );
    std::fs::write(dir.join("kubeconfig"), kubeconfig).unwrap();
}

/// `prod-access serve` with `dir/config.yaml` and `dir/kubeconfig`, its output to `log`.
pub fn spawn_serve(dir: &Path, log: std::fs::File) -> Child {
    Command::new(env!("CARGO_BIN_EXE_prod-access"))
        .args(["serve", "--config"])
        .arg(dir.join("config.yaml"))
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .env("RUST_LOG", "prod_access=info")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}
