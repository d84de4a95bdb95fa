//! The run command's settings. Beside its own (where it keeps its data, where each service listens, the demo), it
//! takes every setting the services take, as the same flags and environment variables with the same defaults
//! ([`ServerArgs`], flattened whole), so what runs locally is what runs deployed. Four settings differ because
//! the run command decides them itself: each service's address (`--catalogue-addr`, …) and metrics address
//! (`--catalogue-metrics-addr`, …), the database (its own cluster unless `DATABASE_URL` is given), and the keys
//! (its own, in the data directory).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Parser;
use onestop_server::auth::{Issuer, Secret, SystemKeys, AGGREGATION, INTAKE};
use onestop_server::config::ServerArgs;

use crate::Addresses;

#[derive(Debug, Parser)]
#[command(name = "onestop-local", about = "Runs catalogue, intake and aggregation together on one database.")]
#[command(mut_arg("listen_addr", |arg| arg.hide(true)))]
#[command(mut_arg("metrics_addr", |arg| arg.hide(true)))]
#[command(mut_arg("service_key", |arg| arg.hide(true)))]
#[command(mut_arg("database_url", |arg| arg
    .required(false)
    .default_value("")
    .hide_default_value(true)
    .help("PostgreSQL URL; when not set, the run keeps a cluster of its own in --data-dir")))]
#[command(mut_arg("auth_public_keys", |arg| arg
    .required(false)
    .default_value("")
    .hide_default_value(true)
    .help("Issuer public keys accepted besides the run's own, as `kid=<base64>` separated by commas")))]
pub struct RunArgs {
    /// Directory of the run's PostgreSQL cluster (when DATABASE_URL is not set), keys and operator token.
    #[arg(long, env = "ONESTOP_DATA_DIR", default_value = ".onestop")]
    pub data_dir: PathBuf,

    #[arg(long, env = "CATALOGUE_ADDR", default_value_t = Addresses::defaults().catalogue)]
    pub catalogue_addr: SocketAddr,

    #[arg(long, env = "INTAKE_ADDR", default_value_t = Addresses::defaults().intake)]
    pub intake_addr: SocketAddr,

    #[arg(long, env = "AGGREGATION_ADDR", default_value_t = Addresses::defaults().aggregation)]
    pub aggregation_addr: SocketAddr,

    /// Where the dashboard serves its pages.
    #[arg(long, env = "DASHBOARD_ADDR", default_value_t = crate::dashboard::DEFAULT_ADDR)]
    pub dashboard_addr: SocketAddr,

    /// Where the catalogue serves its Prometheus metrics (`/metrics`); a free loopback port when not set.
    #[arg(long, env = "CATALOGUE_METRICS_ADDR")]
    pub catalogue_metrics_addr: Option<SocketAddr>,

    #[arg(long, env = "INTAKE_METRICS_ADDR")]
    pub intake_metrics_addr: Option<SocketAddr>,

    #[arg(long, env = "AGGREGATION_METRICS_ADDR")]
    pub aggregation_metrics_addr: Option<SocketAddr>,

    /// Load a generated demonstration province (151 centers, ~2,000 procedures) with its last N days of cases.
    #[arg(long, value_name = "DAYS", num_args = 0..=1, default_missing_value = "60")]
    pub demo: Option<u32>,

    /// Every service's settings: limits, timeouts, pool, TLS, telemetry, as each service takes them.
    #[command(flatten)]
    pub server: ServerArgs,
}

impl RunArgs {
    /// Where each service listens.
    pub fn addresses(&self) -> Addresses {
        Addresses { catalogue: self.catalogue_addr, intake: self.intake_addr, aggregation: self.aggregation_addr }
    }

    /// Where each service serves its metrics.
    pub fn metrics_addresses(&self) -> Addresses {
        let any = Addresses::any_free_port();
        Addresses {
            catalogue: self.catalogue_metrics_addr.unwrap_or(any.catalogue),
            intake: self.intake_metrics_addr.unwrap_or(any.intake),
            aggregation: self.aggregation_metrics_addr.unwrap_or(any.aggregation),
        }
    }

    /// The settings each service of the run starts from, on `database_url` (the stack adds each one's keys).
    /// Settings that name one service are refused rather than silently ignored.
    pub fn services(&self, database_url: &str) -> anyhow::Result<ServerArgs> {
        if let Some(addr) = self.server.listen_addr {
            bail!("LISTEN_ADDR {addr}: the run command places each service with --catalogue-addr, --intake-addr and --aggregation-addr");
        }
        if let Some(addr) = self.server.metrics_addr {
            bail!("METRICS_ADDR {addr}: the run command places each service's metrics with --catalogue-metrics-addr, --intake-metrics-addr and --aggregation-metrics-addr");
        }
        if self.server.auth.service_key.is_some() {
            bail!("SERVICE_KEY: the run command gives each service its own key, kept in {}", self.data_dir.display());
        }
        let mut server = self.server.clone();
        server.database_url = onestop_server::config::DatabaseUrl::new(database_url);
        Ok(server)
    }
}

/// The run's keys, kept in `data_dir` so that its tokens stay valid across restarts: `issuer-key`, which only the
/// run command (for the operator's token) and `onestop token issue --key-file` use, and one key per calling
/// service, `intake-key` and `aggregation-key`, each given to that service alone.
pub fn local_keys(data_dir: &Path) -> anyhow::Result<SystemKeys> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    Ok(SystemKeys {
        issuer: local_key(data_dir, "issuer")?,
        intake: local_key(data_dir, INTAKE)?,
        aggregation: local_key(data_dir, AGGREGATION)?,
    })
}

/// The key `data_dir/<name>-key`, made on first use.
fn local_key(data_dir: &Path, name: &str) -> anyhow::Result<Issuer> {
    let path = data_dir.join(format!("{name}-key"));
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Issuer::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    let key = Issuer::generate(&format!("local-{name}"));
    write_secret(&path, &key.private_text())?;
    Ok(key)
}

/// Writes `secret` to `path`, readable by this user only.
pub fn write_secret(path: &Path, secret: &Secret) -> anyhow::Result<()> {
    std::fs::write(path, secret.expose()).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
