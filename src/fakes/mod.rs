//! Stand-ins on 127.0.0.1 for the services prod-access talks to — Slack's Web API, the Bot
//! Framework (Teams), the Kubernetes API server, PagerDuty and Opsgenie, a SIEM's webhook — as
//! strict as the real ones about what they accept and answering with their real JSON: the
//! integration tests' world, and the one `prod-access demo` plays its story in. They never
//! listen beyond loopback.

pub mod kube;
pub mod on_call;
pub mod siem;
pub mod slack;
pub mod teams;

/// Serves `router` on a free port of 127.0.0.1 in the background; its base URL (`http://…`).
pub async fn serve_on_loopback(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port on 127.0.0.1");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}
