//! `onestop-local`: runs the whole system on this machine.
//!
//! With `DATABASE_URL` set it uses that database; otherwise it keeps a PostgreSQL cluster of its own in
//! `--data-dir` (created on first run from the local PostgreSQL binaries), so a restart keeps the data.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use onestop_generator::province::{Province, PROVINCE_YEAR};
use onestop_local::{demo, Addresses, Stack};
use onestop_localdb::{Lifetime, LocalCluster};
use onestop_server::auth::{Issuer, Secret, SystemKeys, AGGREGATION, INTAKE};
use onestop_server::config::{ServerArgs, TelemetryArgs};
use onestop_server::{serve, telemetry};

#[derive(Debug, Parser)]
#[command(name = "onestop-local", about = "Runs catalogue, intake and aggregation together on one database.")]
struct Args {
    /// Directory of the local PostgreSQL cluster, used when DATABASE_URL is not set.
    #[arg(long, env = "ONESTOP_DATA_DIR", default_value = ".onestop")]
    data_dir: PathBuf,

    /// PostgreSQL URL; when set, no local cluster is started.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,

    #[arg(long, env = "CATALOGUE_ADDR", default_value_t = Addresses::defaults().catalogue)]
    catalogue_addr: SocketAddr,

    #[arg(long, env = "INTAKE_ADDR", default_value_t = Addresses::defaults().intake)]
    intake_addr: SocketAddr,

    #[arg(long, env = "AGGREGATION_ADDR", default_value_t = Addresses::defaults().aggregation)]
    aggregation_addr: SocketAddr,

    /// Load a generated demonstration province (151 centers, ~2,000 procedures) with its last N days of cases.
    #[arg(long, value_name = "DAYS", num_args = 0..=1, default_missing_value = "60")]
    demo: Option<u32>,

    #[command(flatten)]
    telemetry: TelemetryArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _telemetry = telemetry::init("onestop-local", &args.telemetry)?;

    let mut cluster = None;
    let database_url = match &args.database_url {
        Some(url) => url.clone(),
        None => {
            let data_dir = std::path::absolute(args.data_dir.join("pgdata"))?;
            let started = tokio::task::spawn_blocking(move || -> anyhow::Result<(LocalCluster, String)> {
                let local = LocalCluster::start(&data_dir, Lifetime::UntilStopped)?;
                onestop_localdb::ensure_database(&local, "onestop")?;
                let url = local.url("onestop");
                Ok((local, url))
            })
            .await??;
            println!("database: {} (data in {})", started.1, args.data_dir.join("pgdata").display());
            cluster = Some(started.0);
            started.1
        }
    };

    let addresses =
        Addresses { catalogue: args.catalogue_addr, intake: args.intake_addr, aggregation: args.aggregation_addr };
    // The issuer key stays with this command: the services get only their own keys and the public ones.
    let keys = local_keys(&args.data_dir)?;
    let token = keys.operator_token();
    write_secret(&args.data_dir.join("operator-token"), &token)?;
    let stack = Stack::start_with_keys(ServerArgs::for_database(&database_url), keys, addresses).await?;
    println!("catalogue:   {}", stack.catalogue_url());
    println!("intake:      {}", stack.intake_url());
    println!("aggregation: {}", stack.aggregation_url());
    if let Some(days) = args.demo {
        let province = Province::new(46, PROVINCE_YEAR);
        println!("loading the demonstration province {}...", onestop_generator::province::PROVINCE_CODE);
        demo::load_reference_data(stack.catalogue_client(), &province).await?;
        // Intake follows the catalogue's changes; the first pushes may otherwise wait on lookups.
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let today = onestop_domain::today_in_vietnam(chrono::Utc::now());
        let (cells, cases) = demo::push_recent_days(stack.intake_client(), &province, today, days).await?;
        println!("loaded {cells} daily cells and {cases} late case records of the last {days} days");
    }
    println!("operator token (every scope, 24 h; also in {}):", args.data_dir.join("operator-token").display());
    println!("{}", token.expose());
    println!(
        "issue other tokens with: onestop token issue --key-file {} ...",
        args.data_dir.join("issuer-key").display()
    );
    println!("ready; Ctrl-C stops");

    serve::shutdown_signal().await;
    let outcome = stack.shutdown().await;
    drop(cluster);
    outcome
}

/// The run's keys, kept in `data_dir` so that its tokens stay valid across restarts: `issuer-key`, which only the
/// run command (for the operator's token) and `onestop token issue --key-file` use, and one key per calling
/// service, `intake-key` and `aggregation-key`, each given to that service alone.
fn local_keys(data_dir: &Path) -> anyhow::Result<SystemKeys> {
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
fn write_secret(path: &Path, secret: &Secret) -> anyhow::Result<()> {
    std::fs::write(path, secret.expose()).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
