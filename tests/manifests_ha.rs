//! deploy/ha: three replicas on PostgreSQL, as `kubectl kustomize deploy/ha` renders it (or,
//! where kubectl is missing, as its files say): no volume, the database URL from a Secret, one
//! replica per node, a disruption budget, a way out to PostgreSQL, the same configuration but
//! for the store.

use prod_access::config::{Config, StoreLocation};
use serde_json::Value;

fn file(path: &str) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The rendered overlay, or `None` where kubectl is not installed.
fn rendered() -> Option<Vec<Value>> {
    let out = std::process::Command::new("kubectl")
        .args(["kustomize", "deploy/ha"])
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "kubectl kustomize deploy/ha failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_saphyr::from_multiple(&String::from_utf8(out.stdout).unwrap()).unwrap())
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

#[test]
fn the_ha_configuration_is_the_base_one_on_the_postgres_store() {
    let base = Config::parse(&std::fs::read_to_string("deploy/base/config.yaml").unwrap()).unwrap();
    let ha = Config::parse(&std::fs::read_to_string("deploy/ha/config.yaml").unwrap()).unwrap();
    assert_eq!(
        ha.store,
        StoreLocation::Postgres {
            url_env: "DATABASE_URL".into()
        }
    );
    assert_eq!(ha.policy, base.policy);
    // Line for line, but for the store.
    let without_store = |path: &str| -> Vec<String> {
        let text = std::fs::read_to_string(path).unwrap();
        let kept = text
            .lines()
            .filter(|l| !l.starts_with("store") && !l.starts_with("# The shared PostgreSQL store"));
        kept.map(String::from).collect()
    };
    assert_eq!(
        without_store("deploy/ha/config.yaml"),
        without_store("deploy/base/config.yaml")
    );
    let budget = file("deploy/ha/pdb.yaml");
    assert_eq!(budget["spec"]["minAvailable"], 2);
}

#[test]
fn the_overlay_renders_three_replicas_on_the_database_with_no_volume() {
    let Some(objects) = rendered() else {
        eprintln!("SKIPPED: kubectl is not installed; the ha files are checked on their own");
        return;
    };
    assert!(
        of_kind(&objects, "PersistentVolumeClaim").is_empty(),
        "no volume"
    );
    let deployment = of_kind(&objects, "Deployment")[0];
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 3);
    assert_eq!(spec["strategy"]["type"], "RollingUpdate");
    let pod = &spec["template"]["spec"];
    let container = &pod["containers"][0];
    let url = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "DATABASE_URL")
        .expect("DATABASE_URL is set");
    assert_eq!(
        url["valueFrom"]["secretKeyRef"]["name"],
        "prod-access-database"
    );
    assert!(
        url.get("value").is_none(),
        "the URL is never in the manifest"
    );
    let mounts: Vec<&str> = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert_eq!(mounts, ["/etc/prod-access"], "the configuration only");
    let volumes = pod["volumes"].as_array().unwrap();
    assert!(
        volumes
            .iter()
            .all(|v| v.get("persistentVolumeClaim").is_none())
    );
    let anti =
        &pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");

    let labels = &spec["selector"]["matchLabels"];
    let budget = of_kind(&objects, "PodDisruptionBudget")[0];
    assert_eq!(&budget["spec"]["selector"]["matchLabels"], labels);
    let policy = of_kind(&objects, "NetworkPolicy")[0];
    let ports: Vec<i64> = policy["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| rule["ports"].as_array().unwrap().iter())
        .filter_map(|p| p["port"].as_i64())
        .collect();
    assert!(ports.contains(&5432), "out to PostgreSQL: {ports:?}");

    let config_map = of_kind(&objects, "ConfigMap")[0];
    let config = Config::parse(config_map["data"]["config.yaml"].as_str().unwrap()).unwrap();
    assert!(matches!(config.store, StoreLocation::Postgres { .. }));
    assert_eq!(of_kind(&objects, "CronJob").len(), 1, "the sweeper too");
}
