//! Flags shared by every service. Each flag can also be set by the environment variable named beside it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::AuthArgs;

/// The default concurrency limit, and the pool sized for it: with a push taking about 20 ms of database time,
/// 64 calls over 16 connections wait about 80 ms for a connection at worst, far below the acquire timeout.
pub const DEFAULT_CONCURRENCY_LIMIT: usize = 64;
pub const DEFAULT_DATABASE_MAX_CONNECTIONS: u32 = 16;
pub const DEFAULT_DATABASE_ACQUIRE_TIMEOUT_MS: u64 = 10_000;

/// Where a service listens, where its database is, and how it protects itself.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Address the gRPC server listens on (each service has its own default port).
    #[arg(long, env = "LISTEN_ADDR")]
    pub listen_addr: Option<SocketAddr>,

    /// Address to serve Prometheus metrics on, over HTTP at `/metrics`; no metrics port when unset.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// PostgreSQL connection URL. The service keeps its tables in its own schema of this database.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: DatabaseUrl,

    /// Most connections the service opens to PostgreSQL. A request holds at most one at a time, so the
    /// concurrency limit's calls share them: each waits for about (limit / connections) statements at worst.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = DEFAULT_DATABASE_MAX_CONNECTIONS)]
    pub database_max_connections: u32,

    /// Longest time, in milliseconds, a request waits for a pooled connection before it is answered
    /// UNAVAILABLE. The default lets every call the concurrency limit admits wait its turn behind the others.
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT_MS", default_value_t = DEFAULT_DATABASE_ACQUIRE_TIMEOUT_MS)]
    pub database_acquire_timeout_ms: u64,

    /// Longest time, in milliseconds, PostgreSQL runs one statement before cancelling it (answered
    /// DEADLINE_EXCEEDED); 0 for no limit.
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT_MS", default_value_t = 0)]
    pub database_statement_timeout_ms: u64,

    /// Longest time one RPC may take, in milliseconds, before it is answered DEADLINE_EXCEEDED.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,

    /// Most unary RPCs served at once; more wait their turn. Health checks and long-lived streams are not
    /// counted here (streams have limits of their own), so health never waits behind requests.
    #[arg(long, env = "CONCURRENCY_LIMIT", default_value_t = DEFAULT_CONCURRENCY_LIMIT)]
    pub concurrency_limit: usize,

    /// Most long-lived streams (change streams, bulk pushes, late-case watches) open at once on this server.
    #[arg(long, env = "MAX_STREAMS", default_value_t = 256)]
    pub max_streams: usize,

    /// Most long-lived streams one principal may hold open at once.
    #[arg(long, env = "MAX_STREAMS_PER_PRINCIPAL", default_value_t = 16)]
    pub max_streams_per_principal: usize,

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

/// A PostgreSQL URL. It may carry a password, so it prints with the password redacted.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> DatabaseUrl {
        DatabaseUrl(url.into())
    }

    /// The URL itself, password and all, for connecting.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL with its password, if any, as `[redacted]`: in the user part and in a `password=` parameter.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return "[redacted]".into() };
        let authority_end = url[scheme_end..].find(['/', '?']).map_or(url.len(), |i| scheme_end + i);
        let mut redacted = url[..scheme_end].to_owned();
        match url[scheme_end..authority_end].rsplit_once('@') {
            Some((user_info, host)) => match user_info.split_once(':') {
                Some((user, _password)) => redacted += &format!("{user}:[redacted]@{host}"),
                None => redacted += &url[scheme_end..authority_end],
            },
            None => redacted += &url[scheme_end..authority_end],
        }
        let rest = &url[authority_end..];
        let (path, query) = rest.split_once('?').map_or((rest, None), |(path, query)| (path, Some(query)));
        redacted += path;
        if let Some(query) = query {
            let parameters: Vec<&str> = query
                .split('&')
                .map(|parameter| if parameter.starts_with("password=") { "password=[redacted]" } else { parameter })
                .collect();
            redacted += &format!("?{}", parameters.join("&"));
        }
        redacted
    }
}

impl std::ops::Deref for DatabaseUrl {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    fn from_str(url: &str) -> Result<DatabaseUrl, Self::Err> {
        Ok(DatabaseUrl::new(url))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
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
    /// Settings for tests and in-process stacks: everything default but the database, and no key
    /// ([`crate::auth::SystemKeys::install`] gives a service its keys).
    pub fn for_database(database_url: impl Into<String>) -> Self {
        ServerArgs {
            listen_addr: None,
            metrics_addr: None,
            database_url: DatabaseUrl::new(database_url),
            database_max_connections: DEFAULT_DATABASE_MAX_CONNECTIONS,
            database_acquire_timeout_ms: DEFAULT_DATABASE_ACQUIRE_TIMEOUT_MS,
            database_statement_timeout_ms: 0,
            request_timeout_ms: 30_000,
            concurrency_limit: DEFAULT_CONCURRENCY_LIMIT,
            max_streams: 256,
            max_streams_per_principal: 16,
            health_check_interval_ms: 1_000,
            telemetry: TelemetryArgs::default(),
            auth: AuthArgs::default(),
            tls: TlsArgs::default(),
        }
    }

    /// The address to listen on: the configured one, or the service's default.
    pub fn listen_addr_or(&self, default: SocketAddr) -> SocketAddr {
        self.listen_addr.unwrap_or(default)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn database_acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.database_acquire_timeout_ms)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{SystemKeys, INTAKE};

    #[test]
    fn settings_print_without_their_secrets() {
        let keys = SystemKeys::generate();
        let mut server = ServerArgs::for_database("postgres://onestop:hunter2@db:5432/onestop?sslmode=require");
        keys.install(INTAKE, &mut server.auth);
        let key = server.auth.service_key.as_ref().expect("intake's own key").expose().to_owned();
        let seed = key.split_once('=').unwrap().1;
        let printed = format!("{server:?} {server:#?}");
        assert!(!printed.contains(seed), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("postgres://onestop:[redacted]@db:5432/onestop?sslmode=require"), "{printed}");
        // What is not secret still shows, so the settings stay worth printing.
        assert!(printed.contains(&keys.issuer.public_text()), "{printed}");
    }

    #[test]
    fn database_urls_print_their_passwords_redacted() {
        let printed = |url: &str| DatabaseUrl::new(url).to_string();
        assert_eq!(
            printed("postgres://postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
        assert_eq!(printed("postgres://u:p@h/db"), "postgres://u:[redacted]@h/db");
        assert_eq!(printed("postgres://u:p@ss@h"), "postgres://u:[redacted]@h");
        assert_eq!(printed("postgres://h/db?user=u&password=p"), "postgres://h/db?user=u&password=[redacted]");
        assert_eq!(printed("not a url p"), "[redacted]");
        assert_eq!(&*DatabaseUrl::new("postgres://u:p@h/db"), "postgres://u:p@h/db");
    }
}
