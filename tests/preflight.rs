//! Before it is ready, the bot proves it may do what its policy needs in the cluster.

use crate::support;

use chrono::Duration;
use support::*;

async fn readyz(h: &Harness) -> (u16, String) {
    let response = reqwest::get(h.url("/readyz")).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// `/readyz` once the start-up pre-flight has answered (it runs in the background; up to 10 s).
async fn readyz_after_preflight(h: &Harness) -> (u16, String) {
    for _ in 0..500 {
        let answer = readyz(h).await;
        if !answer.1.contains("has not run yet") {
            return answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the pre-flight never ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_permission_the_bot_is_ready() {
    let h = Harness::start().await;
    assert_eq!(readyz_after_preflight(&h).await, (200, "ok\n".into()));
    let asked: Vec<String> = h
        .kube
        .access_reviews()
        .iter()
        .map(|r| {
            let a = &r["spec"]["resourceAttributes"];
            format!(
                "{} {} {}",
                a["verb"].as_str().unwrap(),
                a["resource"].as_str().unwrap(),
                a["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    for expected in [
        "create rolebindings ",
        "delete rolebindings ",
        "patch rolebindings ",
        "bind clusterroles admin",
        "bind clusterroles edit",
        "bind clusterroles view",
    ] {
        assert!(
            asked.iter().any(|a| a.trim_end() == expected.trim_end()),
            "{expected} not asked: {asked:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_makes_readyz_say_which_and_recovery_is_noticed() {
    let mut h = Harness::start().await;
    h.kube.deny_permission("bind", "clusterroles", "admin");
    h.kube.deny_permission("delete", "rolebindings", "");
    h.restart().await;
    let (status, body) = readyz_after_preflight(&h).await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        "missing permission: delete rolebindings.rbac.authorization.k8s.io\n\
         missing permission: bind clusterroles.rbac.authorization.k8s.io \"admin\"\n"
    );
    assert_eq!(
        reqwest::get(h.url("/healthz")).await.unwrap().status(),
        200,
        "alive, not ready"
    );

    // The permissions are granted while it runs; the next reconcile pass notices.
    h.kube.allow_everything();
    h.clock.advance(Duration::seconds(61));
    // As every wait in these tests: up to 10 s, so a loaded CI machine is not a failure.
    for _ in 0..500 {
        if readyz(&h).await.0 == 200 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("still not ready: {:?}", readyz(&h).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_is_not_ready() {
    let mut h = Harness::start().await;
    h.kube.set_failing(true);
    h.restart().await;
    let (status, body) = readyz_after_preflight(&h).await;
    assert_eq!(status, 503);
    assert!(
        body.contains("missing permission: create rolebindings"),
        "{body}"
    );
}
