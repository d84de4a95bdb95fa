//! A PostgreSQL cluster of our own, started from the local PostgreSQL binaries: for tests when no
//! `DATABASE_URL` is given, and for running the whole system on a fresh machine.
//!
//! PostgreSQL refuses to run as root, so when we are root the cluster runs as the `postgres` system user.
#![allow(unsafe_code)] // one pre_exec hook, see `die_with_parent`

use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The superuser of clusters we create; they trust local connections.
pub const SUPERUSER: &str = "postgres";

/// A running cluster. Dropping it stops the server (a fast shutdown) and waits for it.
pub struct LocalCluster {
    data_dir: PathBuf,
    port: u16,
    server: Child,
    bin: PathBuf,
    owner: Option<(u32, u32)>,
    lifetime: Lifetime,
    durability: Durability,
}

/// How to stop the server, named as `pg_ctl stop -m` names its modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Disconnect clients, roll back their transactions, checkpoint, exit.
    Fast,
    /// Exit at once, as a crash would: the next start recovers from the write-ahead log.
    Immediate,
}

/// Whether commits must survive a crash of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// PostgreSQL's own settings (fsync on): a committed transaction survives a power cut. For data kept.
    Durable,
    /// fsync off, for speed: a crash of the machine (not of PostgreSQL) can lose commits or corrupt the
    /// cluster. For throwaway test clusters.
    Throwaway,
}

/// How the server process should end if we do not stop it ourselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Runs until stopped or until it gets the terminal's signals with us.
    UntilStopped,
    /// Killed by the kernel when the thread that started it ends: for throwaway test clusters, which must not
    /// outlive a test process that exits without dropping them.
    DiesWithParentThread,
}

impl LocalCluster {
    /// Starts a cluster in `data_dir`, creating it with `initdb` when it holds none, on a free port of 127.0.0.1.
    pub fn start(data_dir: &Path, lifetime: Lifetime, durability: Durability) -> anyhow::Result<LocalCluster> {
        let bin = find_bin_dir().context(
            "no PostgreSQL binaries found: install PostgreSQL, set PG_BIN to its bin directory, or set DATABASE_URL",
        )?;
        let owner = cluster_owner()?;
        if !data_dir.join("PG_VERSION").exists() {
            fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::chown(data_dir, Some(uid), Some(gid))?;
            }
            let mut initdb = Command::new(bin.join("initdb"));
            initdb
                .arg("-D")
                .arg(data_dir)
                .args(["-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-instructions"])
                .stdout(Stdio::null());
            run_as(&mut initdb, owner);
            let status = initdb.status().context("running initdb")?;
            if !status.success() {
                bail!("initdb failed for {}", data_dir.display());
            }
        }
        // A server left over from a process that died would hold the directory.
        let stale_pid = data_dir.join("postmaster.pid");
        if stale_pid.exists() {
            let mut stop = Command::new(bin.join("pg_ctl"));
            stop.arg("-D").arg(data_dir).args(["stop", "-m", "fast"]).stdout(Stdio::null()).stderr(Stdio::null());
            run_as(&mut stop, owner);
            let _ = stop.status();
        }

        let port = free_port()?;
        let server = spawn_server(&bin, data_dir, port, owner, lifetime, durability)?;
        let mut cluster =
            LocalCluster { data_dir: data_dir.to_owned(), port, server, bin, owner, lifetime, durability };
        cluster.wait_until_ready()?;
        Ok(cluster)
    }

    /// Starts a streaming replica of `primary` in `data_dir` (which must not exist yet): a base backup taken with
    /// `pg_basebackup -R`, so the new server starts as a hot standby that replays the primary's write-ahead log
    /// and answers read-only queries.
    pub fn start_standby_of(
        primary: &LocalCluster,
        data_dir: &Path,
        lifetime: Lifetime,
        durability: Durability,
    ) -> anyhow::Result<LocalCluster> {
        let parent = data_dir.parent().context("a standby's directory has a parent")?;
        fs::create_dir_all(parent)?;
        let mut backup = Command::new(primary.bin.join("pg_basebackup"));
        backup
            .args(["-h", "127.0.0.1", "-p", &primary.port.to_string(), "-U", SUPERUSER, "-D"])
            .arg(data_dir)
            .args(["-R", "-X", "stream", "-c", "fast"])
            .stdout(Stdio::null());
        run_as(&mut backup, primary.owner);
        if let Some((uid, gid)) = primary.owner {
            std::os::unix::fs::chown(parent, Some(uid), Some(gid))?;
        }
        let status = backup.status().context("running pg_basebackup")?;
        if !status.success() {
            bail!("pg_basebackup of the cluster on port {} failed", primary.port);
        }
        // The primary's own server log came along; the standby writes its own.
        let _ = fs::remove_file(data_dir.join("postmaster.pid"));
        LocalCluster::start(data_dir, lifetime, durability)
    }

    /// Starts the stopped server again, on the same port, so that the URLs handed out before reach it again.
    /// With [`Lifetime::DiesWithParentThread`], it now dies with the thread calling this.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        if let Ok(None) = self.server.try_wait() {
            bail!("postgres is still running in {}", self.data_dir.display());
        }
        self.server = spawn_server(&self.bin, &self.data_dir, self.port, self.owner, self.lifetime, self.durability)?;
        self.wait_until_ready()
    }

    fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.server.try_wait()? {
                bail!("postgres exited with {status}; see {}", self.data_dir.join("server.log").display());
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", SUPERUSER, "-q"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("postgres did not become ready; see {}", self.data_dir.join("server.log").display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server with a fast shutdown and waits for it to exit.
    pub fn stop(&mut self) {
        self.stop_with(StopMode::Fast);
    }

    /// Stops the server in `mode` and waits for it to exit.
    pub fn stop_with(&mut self, mode: StopMode) {
        if let Ok(None) = self.server.try_wait() {
            // The postmaster's signals for pg_ctl's modes: SIGINT for fast, SIGQUIT for immediate.
            let signal = match mode {
                StopMode::Fast => libc::SIGINT,
                StopMode::Immediate => libc::SIGQUIT,
            };
            // SAFETY: kill(2) on the pid of a child we spawned and have not yet reaped.
            unsafe {
                libc::kill(self.server.id() as libc::pid_t, signal);
            }
            let _ = self.server.wait();
        }
    }
}

/// Starts `postgres` on `data_dir` and `port`, logging to `server.log` there.
fn spawn_server(
    bin: &Path,
    data_dir: &Path,
    port: u16,
    owner: Option<(u32, u32)>,
    lifetime: Lifetime,
    durability: Durability,
) -> anyhow::Result<Child> {
    let log = fs::File::create(data_dir.join("server.log")).context("creating the server log")?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(data_dir.join("server.log"), Some(uid), Some(gid))?;
    }
    let mut postgres = Command::new(bin.join("postgres"));
    postgres
        .arg("-D")
        .arg(data_dir)
        .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k", ""])
        .args(["-c", "max_connections=300"])
        .stdout(log.try_clone()?)
        .stderr(log);
    if durability == Durability::Throwaway {
        postgres.args(["-c", "fsync=off"]);
    }
    run_as(&mut postgres, owner);
    if lifetime == Lifetime::DiesWithParentThread {
        die_with_parent(&mut postgres);
    }
    postgres.spawn().context("starting postgres")
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The directory holding `initdb` and `postgres`: `PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`, else
/// `pg_config --bindir`.
pub fn find_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    dir.join("initdb").exists().then_some(dir)
}

/// When we are root, the uid and gid of the `postgres` user the cluster must run as.
fn cluster_owner() -> anyhow::Result<Option<(u32, u32)>> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    let ids = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&"postgres") && fields.len() > 3)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    });
    match ids {
        Some(ids) => Ok(Some(ids)),
        None => bail!("PostgreSQL will not run as root and there is no postgres user to run it as"),
    }
}

fn run_as(command: &mut Command, owner: Option<(u32, u32)>) {
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid).env("HOME", "/tmp");
    }
}

fn die_with_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Runs `createdb` for `database` unless it exists.
pub fn ensure_database(cluster: &LocalCluster, database: &str) -> anyhow::Result<()> {
    let bin = find_bin_dir().context("no PostgreSQL binaries")?;
    let output = Command::new(bin.join("createdb"))
        .args(["-h", "127.0.0.1", "-p", &cluster.port.to_string(), "-U", SUPERUSER, database])
        .output()
        .context("running createdb")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() || stderr.contains("already exists") {
        Ok(())
    } else {
        bail!("createdb {database}: {stderr}")
    }
}
