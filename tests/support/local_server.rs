//! Where the tests' own fake services listen: a free port of 127.0.0.1, for as long as the
//! test runs.

/// Serves `router` on a free port of 127.0.0.1; returns its base URL (`http://127.0.0.1:<port>`).
pub async fn serve_locally(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}
