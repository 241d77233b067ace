//! Records the git commit the binary is built from, for the `prod_access_build_info` metric:
//! `PROD_ACCESS_GIT_COMMIT` when the build sets it (a Docker build has no `.git`), else what
//! `git rev-parse` says, else `unknown`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PROD_ACCESS_GIT_COMMIT");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let commit = std::env::var("PROD_ACCESS_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=PROD_ACCESS_GIT_COMMIT={commit}");
}
