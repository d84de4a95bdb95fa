//! The aggregation service: indicators over units and periods, computed from intake's cells and catalogue's
//! reference data, both read over gRPC.
//!
//! - [`api`]: the gRPC surface;
//! - [`definitions`]: the versioned indicator definitions this service stores;
//! - [`consumer`]: the roll-ups, kept from intake's change stream exactly once;
//! - [`rollup`]: the totals of a scope and period, from the roll-ups.

pub mod api;
pub mod consumer;
pub mod definitions;
pub mod rollup;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use onestop_proto::aggregation::v1::aggregation_service_server::AggregationServiceServer;
use onestop_server::config::ServerArgs;
use onestop_server::{client, db, serve};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic::service::Routes;

/// The PostgreSQL schema this service owns.
pub const SCHEMA: &str = "aggregation";

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Where the service listens unless told otherwise.
pub const DEFAULT_LISTEN_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 50053);

/// The full gRPC name of the service, as health reports it.
pub const SERVICE_NAME: &str = <AggregationServiceServer<api::AggregationApi> as NamedService>::NAME;

#[derive(Debug, Clone, clap::Parser)]
#[command(name = "onestop-aggregation", about = "Serves onestop indicators over gRPC.")]
pub struct Config {
    #[command(flatten)]
    pub server: ServerArgs,

    /// URL of the catalogue service.
    #[arg(long, env = "CATALOGUE_URL", default_value = "http://127.0.0.1:50051")]
    pub catalogue_url: String,

    /// URL of the intake service.
    #[arg(long, env = "INTAKE_URL", default_value = "http://127.0.0.1:50052")]
    pub intake_url: String,
}

/// Applies the migrations, then serves on `listener` until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let pool = db::connect_and_migrate(&config.server, SCHEMA, &MIGRATOR).await?;
    let timeout = config.server.request_timeout();
    let rollup = rollup::Rollup::new(client::catalogue(&config.catalogue_url, Some(timeout))?);
    let stopping = serve::Stopping::default();
    let intake = client::intake(&config.intake_url, None)?;
    tokio::spawn(consumer::follow_intake(pool.clone(), intake, stopping.signal()));
    let routes = Routes::new(AggregationServiceServer::new(api::AggregationApi::new(pool.clone(), rollup)));
    serve::serve(&config.server, listener, SERVICE_NAME, routes, pool, shutdown, stopping).await
}
