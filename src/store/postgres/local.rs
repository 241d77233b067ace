//! A throwaway PostgreSQL server of our own, for the tests and the benchmarks: Debian's
//! `initdb` and `postgres` binaries on a temporary directory and a free port on 127.0.0.1.
//! PostgreSQL refuses to run as root, so when we are root it runs as the `postgres` user (or
//! `nobody`). It stops with the process that started it, even one killed with SIGKILL (the
//! kernel sends it SIGQUIT, see `prctl(PR_SET_PDEATHSIG)`), and its directory goes with it.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::Connection;

/// Set (to anything) where the PostgreSQL tests must run: CI sets it, so missing binaries fail
/// the run instead of skipping those tests.
pub const REQUIRE_VAR: &str = "PROD_ACCESS_REQUIRE_POSTGRES";

const USER: &str = "prod_access";

/// How much the server keeps its promises: a benchmark measures real commits; tests need none
/// of that (a server that dies takes its throwaway data with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fsync` and synchronous commit, as in production.
    Full,
    /// No `fsync`: faster, for tests.
    None,
}

pub struct LocalPostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    durability: Durability,
    /// Serves TLS with `server.crt` and `server.key` in `dir`.
    tls: bool,
    runs_as: Option<(u32, u32)>,
    server: Option<Running>,
}

/// The running `postgres` process: its pid, and word from the thread that waits for it.
struct Running {
    pid: u32,
    exited: std::sync::Mutex<mpsc::Receiver<()>>,
}

impl Running {
    /// Whether the process has exited, waiting at most `wait` for it.
    fn exited_within(&self, wait: Duration) -> bool {
        let exited = self.exited.lock().unwrap_or_else(|e| e.into_inner());
        exited.recv_timeout(wait).is_ok()
    }
}

impl LocalPostgres {
    /// The folder holding `initdb` and `postgres`: on `PATH`, else the newest
    /// `/usr/lib/postgresql/<version>/bin` (where Debian puts them).
    pub fn binaries() -> Option<PathBuf> {
        let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
        let on_path = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .unwrap_or_default();
        if let Some(dir) = on_path.into_iter().find(|d| has_both(d)) {
            return Some(dir);
        }
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version = e.file_name().to_str()?.parse().ok()?;
                Some((version, e.path().join("bin")))
            })
            .filter(|(_, bin)| has_both(bin))
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    }

    /// A new server for a test; `None`, said loudly, where there is no PostgreSQL to run (unless
    /// `REQUIRE_VAR` is set: then it panics).
    pub async fn for_tests() -> Option<LocalPostgres> {
        if !Self::available_for_tests() {
            return None;
        }
        Some(
            Self::start(Durability::None)
                .await
                .unwrap_or_else(|e| panic!("cannot start a throwaway PostgreSQL: {e:#}")),
        )
    }

    /// Whether a test can start a server here; where it cannot, says so loudly (or panics,
    /// when `REQUIRE_VAR` is set).
    pub fn available_for_tests() -> bool {
        if Self::binaries().is_some() {
            return true;
        }
        assert!(
            std::env::var_os(REQUIRE_VAR).is_none(),
            "{REQUIRE_VAR} is set but no PostgreSQL binaries were found (install Debian's postgresql)"
        );
        eprintln!(
            "SKIPPED: no PostgreSQL binaries (initdb, postgres) on PATH or in /usr/lib/postgresql; \
             install Debian's postgresql to run the PostgreSQL tests"
        );
        false
    }

    /// Makes a new cluster in a temporary directory and starts a server on it.
    pub async fn start(durability: Durability) -> anyhow::Result<LocalPostgres> {
        let bin = Self::binaries().context("no PostgreSQL binaries (initdb, postgres) found")?;
        let runs_as = unprivileged_user()?;
        remove_leftovers();
        let dir = std::env::temp_dir().join(format!(
            "{DIR_PREFIX}{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir)?;
        if let Some((uid, gid)) = runs_as {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
        }
        let mut local = LocalPostgres {
            dir,
            bin,
            port: free_port()?,
            durability,
            tls: false,
            runs_as,
            server: None,
        };
        local.init()?;
        local.run().await?;
        Ok(local)
    }

    /// A new server that also serves TLS with this certificate (PEM, with its chain) and key.
    pub async fn start_with_tls(
        durability: Durability,
        certificate: &str,
        key: &str,
    ) -> anyhow::Result<LocalPostgres> {
        let mut local = Self::start(durability).await?;
        local.stop(libc::SIGINT);
        local.owned_file("server.crt", certificate, 0o644)?;
        local.owned_file("server.key", key, 0o600)?;
        local.tls = true;
        local.run().await?;
        Ok(local)
    }

    /// Writes `name` in the server's directory, readable by the user it runs as.
    fn owned_file(&self, name: &str, text: &str, mode: u32) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.join(name);
        std::fs::write(&path, text)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        if let Some((uid, gid)) = self.runs_as {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
        }
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://prod_access@127.0.0.1:<port>/<database>`: trust authentication, on loopback.
    pub fn url_of(&self, database: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// A new, empty database; its URL.
    pub async fn new_database(&self) -> anyhow::Result<String> {
        let name = format!("t{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&self.url()).await?;
        // The name is ours (a letter and hex digits), not input.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        Ok(self.url_of(&name))
    }

    /// Stops the server (a fast shutdown, as `pg_ctl restart` does) and starts it again on the
    /// same data and port.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop(libc::SIGINT);
        self.run().await
    }

    /// Stops the server (a fast shutdown), keeping its data: the database is away until
    /// `start_again`.
    pub fn stop_for_now(&mut self) {
        self.stop(libc::SIGINT);
    }

    /// Starts the server stopped by `stop_for_now` again, on the same data and port.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        self.run().await
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.runs_as {
            command.uid(uid).gid(gid);
        }
        command.current_dir(&self.dir).stdin(Stdio::null());
        command
    }

    fn log(&self) -> std::fs::File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("postgres.log"))
            .expect("the server's log file")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
    }

    fn init(&self) -> anyhow::Result<()> {
        let status = self
            .command("initdb")
            .args([
                "-D",
                "data",
                "-U",
                USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .arg("--no-sync")
            .stdout(self.log())
            .stderr(self.log())
            .status()?;
        if !status.success() {
            bail!("initdb failed ({status}): {}", self.log_text());
        }
        Ok(())
    }

    /// Starts `postgres` from a thread that lives as long as it does (the parent-death signal
    /// follows the thread that started the process), and waits until it takes connections.
    async fn run(&mut self) -> anyhow::Result<()> {
        let mut command = self.command("postgres");
        command
            .args(["-D", "data", "-p", &self.port.to_string()])
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=200",
            ])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.dir.display()))
            .stdout(self.log())
            .stderr(self.log());
        if self.tls {
            command.args(["-c", "ssl=on"]);
            command.arg("-c").arg(format!(
                "ssl_cert_file={}",
                self.dir.join("server.crt").display()
            ));
            command.arg("-c").arg(format!(
                "ssl_key_file={}",
                self.dir.join("server.key").display()
            ));
        }
        if self.durability == Durability::None {
            command.args(["-c", "fsync=off", "-c", "synchronous_commit=off"]);
            command.args(["-c", "full_page_writes=off"]);
        }
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT);
                Ok(())
            });
        }
        let (started_tx, started) = mpsc::channel();
        let (exited_tx, exited) = mpsc::channel();
        std::thread::spawn(move || match command.spawn() {
            Ok(mut child) => {
                let _ = started_tx.send(Ok(child.id()));
                let _ = child.wait();
                let _ = exited_tx.send(());
            }
            Err(e) => {
                let _ = started_tx.send(Err(e));
            }
        });
        let pid = started.recv()??;
        self.server = Some(Running {
            pid,
            exited: std::sync::Mutex::new(exited),
        });
        self.wait_until_ready().await
    }

    async fn wait_until_ready(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if sqlx::PgConnection::connect(&self.url()).await.is_ok() {
                return Ok(());
            }
            let gone = self
                .server
                .as_ref()
                .is_none_or(|s| s.exited_within(Duration::ZERO));
            if gone || started.elapsed() > Duration::from_secs(30) {
                bail!("PostgreSQL did not start: {}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends `signal` to the server and waits (at most 30 s) until it has exited.
    fn stop(&mut self, signal: libc::c_int) {
        if let Some(server) = self.server.take() {
            // SAFETY: a plain kill(2) of the process we started.
            unsafe {
                libc::kill(server.pid as libc::pid_t, signal);
            }
            server.exited_within(Duration::from_secs(30));
        }
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        self.stop(libc::SIGQUIT);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Who the server runs as: ourselves, unless we are root (PostgreSQL refuses to run as root).
fn unprivileged_user() -> anyhow::Result<Option<(u32, u32)>> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    let user = |name: &str| {
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let (uid, gid) = (fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?);
            (fields.first() == Some(&name)).then_some((uid, gid))
        })
    };
    match user("postgres").or_else(|| user("nobody")) {
        Some(ids) => Ok(Some(ids)),
        None => {
            bail!("running as root, and there is no postgres or nobody user to run PostgreSQL as")
        }
    }
}

/// Each server's directory: this prefix, the pid of the process that started it, a uuid.
const DIR_PREFIX: &str = "prod-access-pg-";

/// Removes the directories of servers whose process is gone (one killed before it could clean
/// up, or a test binary, whose shared server is never dropped).
fn remove_leftovers() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or_default();
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
