//! The intake service: daily case counts pushed by one-stop software.
//!
//! - [`api`]: the gRPC surface;
//! - [`cells`]: validating, storing (as snapshots, with an audit of every change) and listing daily cells;
//! - [`references`]: checking centers and procedures against the catalogue, over gRPC.

pub mod api;
pub mod cells;
pub mod references;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use onestop_proto::intake::v1::intake_service_server::IntakeServiceServer;
use onestop_server::config::ServerArgs;
use onestop_server::{client, db, serve};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic::service::Routes;

/// The PostgreSQL schema this service owns.
pub const SCHEMA: &str = "intake";

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Where the service listens unless told otherwise.
pub const DEFAULT_LISTEN_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 50052);

/// The full gRPC name of the service, as health reports it.
pub const SERVICE_NAME: &str = <IntakeServiceServer<api::IntakeApi> as NamedService>::NAME;

#[derive(Debug, Clone, clap::Parser)]
#[command(name = "onestop-intake", about = "Serves onestop intake over gRPC.")]
pub struct Config {
    #[command(flatten)]
    pub server: ServerArgs,

    /// URL of the catalogue service.
    #[arg(long, env = "CATALOGUE_URL", default_value = "http://127.0.0.1:50051")]
    pub catalogue_url: String,
}

/// Applies the migrations, then serves on `listener` until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let pool = db::connect_and_migrate(&config.server, SCHEMA, &MIGRATOR).await?;
    let catalogue = client::catalogue(&config.catalogue_url, config.server.request_timeout())?;
    let api = api::IntakeApi::new(pool.clone(), references::References::new(catalogue));
    let routes = Routes::new(IntakeServiceServer::new(api));
    serve::serve(&config.server, listener, SERVICE_NAME, routes, pool, shutdown).await
}
