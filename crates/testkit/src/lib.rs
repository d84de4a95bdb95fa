//! Test support against a real PostgreSQL:
//!
//! - [`database`] gives each test a fresh, empty database, dropped when the test ends. It is created on the
//!   server of `DATABASE_URL`, or, when that is not set, on a throwaway cluster started from the local
//!   PostgreSQL binaries for this test process. With neither, tests skip, except under `CI`, where they fail.
//! - [`RunningService`] runs one service on a free port until the test stops it.
//! - [`CuttableLink`] sits between a service and its database so a test can make the database unreachable.
//! - [`browser::Browser`] drives headless Chromium through ChromeDriver, and [`http`] makes plain HTTP requests.

pub mod browser;
pub mod fixtures;
pub mod http;
mod link;
mod service;
mod url;

pub use link::CuttableLink;
pub use service::{RunningService, Shutdown};
pub use url::DatabaseUrl;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use onestop_localdb::{Durability, Lifetime, LocalCluster};
use sqlx::{Connection, PgConnection};

/// A database of its own for one test; dropped (with any connections still open) when this is dropped.
pub struct TestDatabase {
    url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// The URL of this test's database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot block on itself: use a runtime of our own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut admin).await?;
                anyhow::Ok(())
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test database {}: {error:#}", self.name);
        }
    }
}

/// A fresh database for one test, or `None` (the test should return) when no PostgreSQL is available locally.
///
/// # Panics
/// When no PostgreSQL is available and `CI` is set: there, a skipped test would hide a broken setup.
pub async fn database() -> Option<TestDatabase> {
    let admin_url = match admin_url() {
        Ok(url) => url,
        Err(reason) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but no database is available: {reason}")
        }
        Err(reason) => {
            eprintln!("skipping: no database available ({reason})");
            return None;
        }
    };
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let name = format!("onestop_test_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let mut admin = PgConnection::connect(&admin_url).await.expect("connecting to the test server");
    sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut admin).await.expect("creating a test database");
    let url = DatabaseUrl::parse(&admin_url).expect("admin URL").with_database(&name).to_string();
    Some(TestDatabase { url, admin_url, name })
}

/// The URL of a database on which test databases can be created.
fn admin_url() -> Result<String, String> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return Ok(url);
    }
    static CLUSTER_URL: OnceLock<Result<String, String>> = OnceLock::new();
    CLUSTER_URL.get_or_init(start_throwaway_cluster).clone()
}

/// Starts this process's throwaway cluster on a thread that lives as long as the process, so that the server
/// (which dies with the thread that started it) goes away with the process however the process ends.
fn start_throwaway_cluster() -> Result<String, String> {
    remove_clusters_of_dead_processes();
    let dir = std::env::temp_dir().join(format!("onestop-test-{}", std::process::id()));
    let (sender, receiver) = mpsc::channel();
    std::thread::Builder::new()
        .name("onestop-test-postgres".into())
        .spawn(move || match LocalCluster::start(&dir, Lifetime::DiesWithParentThread, Durability::Throwaway) {
            Ok(cluster) => {
                let _ = sender.send(Ok(cluster.url("postgres")));
                loop {
                    std::thread::park();
                }
            }
            Err(error) => {
                let _ = sender.send(Err(format!("{error:#}")));
            }
        })
        .map_err(|e| e.to_string())?;
    receiver.recv().map_err(|e| e.to_string())?
}

fn remove_clusters_of_dead_processes() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("onestop-test-")) else {
            continue;
        };
        if !std::path::Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
