//! `onestop-local`: runs the whole system on this machine.
//!
//! With `DATABASE_URL` set it uses that database; otherwise it keeps a PostgreSQL cluster of its own in
//! `--data-dir` (created on first run from the local PostgreSQL binaries), so a restart keeps the data.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use onestop_local::{Addresses, Stack};
use onestop_localdb::{Lifetime, LocalCluster};
use onestop_server::config::TelemetryArgs;
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
    let stack = Stack::start(&database_url, addresses).await?;
    println!("catalogue:   {}", stack.catalogue_url());
    println!("intake:      {}", stack.intake_url());
    println!("aggregation: {}", stack.aggregation_url());
    println!("ready; Ctrl-C stops");

    serve::shutdown_signal().await;
    let outcome = stack.shutdown().await;
    drop(cluster);
    outcome
}
