//! The intake service: daily case counts and case records pushed by one-stop software.
//!
//! - [`api`]: the gRPC surface;
//! - [`push`]: one push of cells, from request to answer (idempotency keys, all-or-nothing);
//! - [`cell_metrics`]: what pushes did to cells, counted by outcome and by why cells were rejected;
//! - [`cells`]: checking, storing (snapshots, stale protection, audit) and reading daily cells;
//! - [`cases`], [`findings`]: case records and what the rules say about them;
//! - [`catalogue_view`]: intake's copy of the catalogue, kept current by its change stream;
//! - [`changes`]: the stream of every accepted change, for aggregation;
//! - [`pace`]: bulk streams wait for the stream's live followers to keep up.

pub mod access;
pub mod api;
pub mod cases;
pub mod catalogue_view;
pub mod cell_metrics;
pub mod cells;
pub mod changes;
pub mod findings;
pub mod pace;
pub mod push;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use onestop_auth::{SCOPE_FOLLOW, SCOPE_READ};
use onestop_proto::intake::v1::intake_service_server::IntakeServiceServer;
use onestop_server::auth::{Credentials, Needs};
use onestop_server::config::ServerArgs;
use onestop_server::metrics::StreamLag;
use onestop_server::{client, db, serve};
use sqlx::migrate::Migrator;
use tonic::server::NamedService;

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

/// What each method needs of its caller: pushes are for one-stop software, the change stream for services.
fn policy(method: &str) -> Needs {
    match method {
        "PushCells" | "PushCellsStream" | "PushCases" => Needs::Push,
        "WatchChanges" => Needs::Scope(SCOPE_FOLLOW),
        _ => Needs::Scope(SCOPE_READ),
    }
}

/// The policy, and the methods whose calls are long-lived streams.
const METHODS: serve::Methods = serve::Methods { policy, long_lived: &["PushCellsStream", "WatchChanges"] };

/// How intake's statements are planned: each call for its own parameters. Its reads join arrays of keys to tables
/// that grow from empty (a new year's partition, a fresh system's first load); a plan PostgreSQL kept from when a
/// table was small scans all of it for every call once it is large (measured on a national load: a page of the
/// change stream read 1.3 million cells instead of 2,000 keys, 300 ms a page, until the plan was replaced).
pub const PLANS: db::Plans = db::Plans::PerCall;

/// Applies the migrations, then serves on `listeners` until `shutdown` completes.
pub async fn run(
    config: Config,
    listeners: impl Into<serve::Listeners>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let pool = db::connect_and_migrate(&config.server, SCHEMA, &MIGRATOR, PLANS).await?;
    let credentials = Credentials::of("intake", &config.server)?;
    let lookups = client::catalogue(&config.catalogue_url, Some(config.server.request_timeout()), &credentials)?;
    let changes = client::catalogue(&config.catalogue_url, None, &credentials)?;
    let shared = serve::Shared::new(pool.clone());
    let lag = StreamLag::new(&shared.metrics, "catalogue");
    let view = catalogue_view::CatalogueView::start(lookups, changes, lag, shared.stopping.signal());
    let notifier = onestop_server::notify::Notifier::start(&pool, changes::CHANNEL).await?;
    let api = api::IntakeApi::new(pool, view, notifier, shared.stopping.signal())
        .with_request_timeout(config.server.request_timeout())
        .with_metrics(cell_metrics::CellMetrics::new(&shared.metrics));
    let server = IntakeServiceServer::new(api).max_decoding_message_size(config.server.auth.max_message_bytes);
    serve::serve(&config.server, listeners.into(), server, METHODS, shared, shutdown).await
}
