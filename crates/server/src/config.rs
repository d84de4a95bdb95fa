//! Flags shared by every service. Each flag can also be set by the environment variable named beside it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::{AuthArgs, Issuer, Role, OPERATOR_SCOPES};

/// Where a service listens, where its database is, and how it protects itself.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Address the gRPC server listens on (each service has its own default port).
    #[arg(long, env = "LISTEN_ADDR")]
    pub listen_addr: Option<SocketAddr>,

    /// PostgreSQL connection URL. The service keeps its tables in its own schema of this database.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,

    /// Most connections the service opens to PostgreSQL.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    pub database_max_connections: u32,

    /// Longest time one RPC may take, in milliseconds, before it is answered DEADLINE_EXCEEDED.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,

    /// Most RPCs served at once; more wait their turn.
    #[arg(long, env = "CONCURRENCY_LIMIT", default_value_t = 256)]
    pub concurrency_limit: usize,

    /// How often, in milliseconds, health checks that the database answers.
    #[arg(long, env = "HEALTH_CHECK_INTERVAL_MS", default_value_t = 1_000)]
    pub health_check_interval_ms: u64,

    #[command(flatten)]
    pub telemetry: TelemetryArgs,

    #[command(flatten)]
    pub auth: AuthArgs,

    #[command(flatten)]
    pub tls: TlsArgs,
}

/// TLS on the server, and on the calls this service makes to others. Files are PEM.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// Certificate chain the server presents; with `--tls-key`, the server speaks only TLS. With `--tls-ca`,
    /// the service also presents it when calling another service (mutual TLS).
    #[arg(long, env = "TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    #[arg(long, env = "TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Certificate authorities whose client certificates the server requires (mutual TLS).
    #[arg(long, env = "TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// Certificate authorities trusted when calling other services at `https://` URLs.
    #[arg(long, env = "TLS_CA")]
    pub tls_ca: Option<PathBuf>,
}

impl ServerArgs {
    /// Settings for tests and in-process stacks: everything default but the database, and a fresh signing key
    /// that every service given these settings accepts and signs its own calls with.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        ServerArgs {
            listen_addr: None,
            database_url: database_url.into(),
            database_max_connections: 10,
            request_timeout_ms: 30_000,
            concurrency_limit: 256,
            health_check_interval_ms: 1_000,
            telemetry: TelemetryArgs::default(),
            auth: AuthArgs::with_issuer(&Issuer::generate("local")),
            tls: TlsArgs::default(),
        }
    }

    /// A token of a national operator (every scope) for a day, signed with this service's own key: for the
    /// local run, demos and tests.
    pub fn operator_token(&self) -> String {
        let key = self.auth.service_key.as_deref().expect("settings with a service key");
        let issuer = Issuer::parse(key).expect("a valid service key");
        issuer.issue(&onestop_auth::claims("operator", Role::National, &OPERATOR_SCOPES, 86_400))
    }

    /// The address to listen on: the configured one, or the service's default.
    pub fn listen_addr_or(&self, default: SocketAddr) -> SocketAddr {
        self.listen_addr.unwrap_or(default)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn health_check_interval(&self) -> Duration {
        Duration::from_millis(self.health_check_interval_ms)
    }
}

/// Logging and trace export.
#[derive(Debug, Clone, clap::Args)]
pub struct TelemetryArgs {
    /// Which log lines to print, as a tracing filter ("info", "onestop=debug,sqlx=warn"). It does not decide
    /// which spans are exported: `--trace-filter` does.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,

    /// How log lines are written: `text` for people, `json` (one object a line) for log shippers.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Which spans are exported over OTLP, as a tracing filter; "info" keeps every RPC's span.
    #[arg(long, env = "OTEL_TRACES_FILTER", default_value = "info")]
    pub trace_filter: String,

    /// OTLP/gRPC endpoint of an OpenTelemetry collector; traces are exported only when set.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
}

/// The same settings as the flags' defaults.
impl Default for TelemetryArgs {
    fn default() -> Self {
        TelemetryArgs {
            log_filter: "info".into(),
            log_format: LogFormat::Text,
            trace_filter: "info".into(),
            otlp_endpoint: None,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}
