//! TLS to PostgreSQL with `sslmode=verify-full`: the store connects to a server whose
//! certificate the given CA signed for the host it dials, and refuses any other.

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

use super::*;
use crate::store::postgres::local::{Durability, LocalPostgres};

/// A CA: its certificate (PEM), and what signs with it.
fn certificate_authority() -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let certificate = params.self_signed(&key).unwrap();
    (certificate.pem(), Issuer::new(params, key))
}

/// A server certificate for `names`, signed by `ca`: (certificate, key), PEM.
fn server_certificate(names: &[&str], ca: &Issuer<'_, KeyPair>) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let certificate = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, ca)
        .unwrap();
    (certificate.pem(), key.serialize_pem())
}

/// A TLS server certified for `names` by a new CA; the server, and a file with the CA.
async fn tls_server(names: &[&str]) -> Option<(LocalPostgres, tempfile::NamedTempFile)> {
    if !LocalPostgres::available_for_tests() {
        return None;
    }
    let (ca_pem, ca) = certificate_authority();
    let (certificate, key) = server_certificate(names, &ca);
    let server = LocalPostgres::start_with_tls(Durability::None, &certificate, &key)
        .await
        .unwrap();
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), ca_pem).unwrap();
    Some((server, ca_file))
}

fn verify_full(server: &LocalPostgres, host: &str, ca: &std::path::Path) -> String {
    format!(
        "postgres://prod_access@{host}:{}/postgres?sslmode=verify-full&sslrootcert={}",
        server.port(),
        ca.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_connects_over_tls_to_a_server_the_ca_certified_for_its_name() {
    let Some((server, ca)) = tls_server(&["localhost"]).await else {
        return;
    };
    let store = PostgresStore::connect(&verify_full(&server, "localhost", ca.path()))
        .await
        .unwrap();
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert!(encrypted, "the connection is TLS");
    assert_eq!(store.next_deadline().await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_refuses_another_cas_certificate_and_another_name() {
    let Some((server, ca)) = tls_server(&["localhost"]).await else {
        return;
    };
    let (other_ca_pem, _) = certificate_authority();
    let other_ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(other_ca.path(), other_ca_pem).unwrap();
    let refused = PostgresStore::connect(&verify_full(&server, "localhost", other_ca.path())).await;
    assert!(refused.is_err(), "a certificate our CA did not sign");

    let (elsewhere, elsewhere_ca) = tls_server(&["db.example.com"]).await.unwrap();
    let refused =
        PostgresStore::connect(&verify_full(&elsewhere, "localhost", elsewhere_ca.path())).await;
    assert!(refused.is_err(), "a certificate for another name");
    drop(ca);
}
