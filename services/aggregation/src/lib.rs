//! The aggregation service: indicators, form 06 and late-case monitoring over units and periods, from roll-ups
//! it keeps of intake's change stream and a copy it keeps of the catalogue's.
//!
//! - [`api`]: the gRPC surface;
//! - [`case_record`]: the case records monitoring reads;
//! - [`feeds`]: the two change streams, applied exactly once;
//! - [`scope`]: whose cells an answer covers (units, merges, centers);
//! - [`totals`]: the facts of a scope and period, whole and by group;
//! - [`sectors`]: the roll-ups by sector that form 06 of whole months reads;
//! - [`definitions`]: the versioned indicator definitions this service stores;
//! - [`forms`]: the versioned definitions of the official forms (title, headings, signatures);
//! - [`export`]: form 06 as CSV and XLSX;
//! - [`measure_sql`]: the measure columns as the roll-up queries spell them.

pub mod api;
pub mod apology_notices;
pub mod case_record;
pub mod definitions;
pub mod export;
pub mod feeds;
pub mod forms;
pub mod measure_sql;
pub mod names;
pub mod reports;
pub mod scope;
pub mod sectors;
pub mod totals;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use onestop_auth::{SCOPE_DEFINE, SCOPE_READ, SCOPE_REPORT};
use onestop_proto::aggregation::v1::aggregation_service_server::AggregationServiceServer;
use onestop_server::auth::{Credentials, Needs};
use onestop_server::config::{DatabaseUrl, ServerArgs};
use onestop_server::metrics::StreamLag;
use onestop_server::notify::Notifier;
use onestop_server::{client, db, serve};
use sqlx::migrate::Migrator;
use tonic::server::NamedService;

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

    /// PostgreSQL URL of a streaming replica of DATABASE_URL's database, to serve the reading RPCs from. Writes,
    /// the feeds and the definitions stay on the primary; an answer asked for a cursor waits until the replica
    /// has replayed it. Unset, everything is served from the primary.
    #[arg(long, env = "READ_DATABASE_URL", hide_env_values = true)]
    pub read_database_url: Option<DatabaseUrl>,
}

/// What each method needs of its caller: defining indicators and forms is for offices that may, the rest reads.
fn policy(method: &str) -> Needs {
    match method {
        "DefineIndicator" | "DefineForm" => Needs::Scope(SCOPE_DEFINE),
        "SubmitReport" | "ReviewReport" | "SetReportDeadlines" => Needs::Scope(SCOPE_REPORT),
        _ => Needs::Scope(SCOPE_READ),
    }
}

/// The policy, and the methods whose calls are long-lived streams.
const METHODS: serve::Methods = serve::Methods { policy, long_lived: &["WatchLateCases"] };

/// Applies the migrations, then serves on `listeners` until `shutdown` completes.
pub async fn run(
    config: Config,
    listeners: impl Into<serve::Listeners>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let pool = db::connect_and_migrate(&config.server, SCHEMA, &MIGRATOR, db::Plans::PerCall).await?;
    let shared = serve::Shared::new(pool.clone());
    let stopping = shared.stopping.clone();
    let credentials = Credentials::of("aggregation", &config.server)?;
    let changes = client::catalogue(&config.catalogue_url, None, &credentials)?;
    let catalogue = client::catalogue(&config.catalogue_url, Some(config.server.request_timeout()), &credentials)?;
    let lag = StreamLag::new(&shared.metrics, feeds::CATALOGUE);
    tokio::spawn(feeds::catalogue::follow(pool.clone(), changes, catalogue.clone(), lag, stopping.signal()));
    let intake = client::intake(&config.intake_url, None, &credentials)?;
    let lag = StreamLag::new(&shared.metrics, feeds::INTAKE);
    tokio::spawn(feeds::intake::follow(pool.clone(), intake, lag, stopping.signal()));
    let applied = Notifier::start(&pool, feeds::CASES_APPLIED).await?;
    let progress = Notifier::start(&pool, feeds::APPLIED).await?;
    let mut api = api::AggregationApi::new(pool.clone(), catalogue, applied, progress, stopping.signal())
        .with_request_timeout(config.server.request_timeout());
    if let Some(url) = &config.read_database_url {
        api = api.with_reads(db::connect_reads(&config.server, url, SCHEMA, db::Plans::PerCall).await?);
    }
    let server = AggregationServiceServer::new(api).max_decoding_message_size(config.server.auth.max_message_bytes);
    serve::serve(&config.server, listeners.into(), server, METHODS, shared, shutdown).await
}
