//! The catalogue service: administrative units, one-stop centers, and the procedure catalogue, which changes
//! only through publication decisions and is versioned by date.
//!
//! - [`api`]: the gRPC surface, which validates and delegates;
//! - [`units`], [`sectors`], [`agencies`], [`centers`]: reference data, and the procedures each center receives;
//! - [`calendar`]: the working-day calendar and working-day arithmetic;
//! - [`publication`], [`decision_file`]: applying a publication decision atomically, from a request or a file;
//! - [`procedures`]: the catalogue as of a date, its history, lists and counts;
//! - [`tenancy`]: what a province's token may change (its own province) and what needs a national one;
//! - [`references`]: which of many references exist, in one call, for services checking what they are sent;
//! - [`changes`]: the ordered log of every change, streamed to the other services;
//! - [`files`], [`locate`]: reading CSV/XLSX tables and naming the row, column or field an error is about.

pub mod agencies;
pub mod api;
pub mod calendar;
pub mod centers;
pub mod changes;
pub mod decision_file;
pub mod files;
pub mod locate;
pub mod procedures;
pub mod publication;
pub mod references;
pub mod sectors;
pub mod tenancy;
pub mod units;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use onestop_auth::{SCOPE_FOLLOW, SCOPE_PUBLISH, SCOPE_READ};
use onestop_proto::catalogue::v1::catalogue_service_server::CatalogueServiceServer;
use onestop_server::auth::Needs;
use onestop_server::config::ServerArgs;
use onestop_server::{db, serve};
use sqlx::migrate::Migrator;
use tonic::server::NamedService;

/// The PostgreSQL schema this service owns.
pub const SCHEMA: &str = "catalogue";

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Where the service listens unless told otherwise.
pub const DEFAULT_LISTEN_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 50051);

/// The full gRPC name of the service, as health reports it.
pub const SERVICE_NAME: &str = <CatalogueServiceServer<api::CatalogueApi> as NamedService>::NAME;

#[derive(Debug, Clone, clap::Parser)]
#[command(name = "onestop-catalogue", about = "Serves the onestop catalogue over gRPC.")]
pub struct Config {
    #[command(flatten)]
    pub server: ServerArgs,
}

/// What each method needs of its caller: writes publish, the change stream is for services, the rest reads.
fn policy(method: &str) -> Needs {
    match method {
        "WatchChanges" => Needs::Scope(SCOPE_FOLLOW),
        m if m.starts_with("Upsert") || m.starts_with("Load") || m.starts_with("Set") || m.starts_with("Publish") => {
            Needs::Scope(SCOPE_PUBLISH)
        }
        _ => Needs::Scope(SCOPE_READ),
    }
}

/// The policy, and the methods whose calls are long-lived streams.
const METHODS: serve::Methods = serve::Methods { policy, long_lived: &["WatchChanges"] };

/// Applies the migrations, then serves on `listeners` until `shutdown` completes.
pub async fn run(
    config: Config,
    listeners: impl Into<serve::Listeners>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let pool = db::connect_and_migrate(&config.server, SCHEMA, &MIGRATOR, db::Plans::Cached).await?;
    let notifier = onestop_server::notify::Notifier::start(&pool, changes::CHANNEL).await?;
    let shared = serve::Shared::new(pool.clone());
    let api = api::CatalogueApi::new(pool, notifier, shared.stopping.signal());
    let server = CatalogueServiceServer::new(api).max_decoding_message_size(config.server.auth.max_message_bytes);
    serve::serve(&config.server, listeners.into(), server, METHODS, shared, shutdown).await
}
