//! The provincial office's dashboard: web pages in Vietnamese over the indicators, late cases, reporting and
//! form 06, served over HTTP. It reads through aggregation's gRPC API with the signed-in office's own token, like
//! any client, so every page shows only what that principal may read; it keeps no data but the sessions.
//!
//! - [`server`]: HTTP, routing and the headers every answer carries;
//! - [`session`]: sign-in with a token, the session cookie, expiry and sign-out;
//! - [`backend`]: the aggregation client, called with the session's token;
//! - [`period`]: the period a page shows, as chosen in its query;
//! - [`pages`]: one module per page;
//! - [`layout`], [`chart`] and [`format`]: the page frame, the charts, and numbers and dates as read in Vietnam.

pub mod backend;
pub mod chart;
pub mod format;
pub mod layout;
pub mod pages;
pub mod period;
pub mod server;
pub mod session;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use onestop_auth::Verifier;

/// Where the dashboard listens unless told otherwise.
pub const DEFAULT_LISTEN_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

#[derive(Debug, Clone, clap::Parser)]
#[command(name = "onestop-dashboard", about = "Serves the provincial office's dashboard over HTTP.")]
pub struct Config {
    /// Where to serve the pages (default 127.0.0.1:8080).
    #[arg(long, env = "LISTEN_ADDR")]
    pub listen_addr: Option<SocketAddr>,

    /// URL of the aggregation service.
    #[arg(long, env = "AGGREGATION_URL", default_value = "http://127.0.0.1:50053")]
    pub aggregation_url: String,

    /// The issuers' public keys (`kid=<base64>`, separated by commas), the same the services trust: a sign-in
    /// token must verify against one of them.
    #[arg(long, env = "AUTH_PUBLIC_KEYS")]
    pub auth_public_keys: String,

    /// Certificate authorities trusted when aggregation is at an `https://` URL.
    #[arg(long, env = "TLS_CA")]
    pub tls_ca: Option<PathBuf>,

    /// How long a session lasts at most; never longer than the token it was opened with.
    #[arg(long, env = "SESSION_HOURS", default_value_t = 12)]
    pub session_hours: u32,

    /// Mark the session cookie `Secure`: set it when the dashboard is reached over HTTPS (behind a proxy).
    #[arg(long, env = "SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// How long a page waits for aggregation before it answers that the figures are unavailable.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
}

impl Config {
    /// Settings for the local run and tests: aggregation at `aggregation_url`, tokens verified with `public_keys`.
    pub fn new(aggregation_url: impl Into<String>, public_keys: impl Into<String>) -> Config {
        Config {
            listen_addr: None,
            aggregation_url: aggregation_url.into(),
            auth_public_keys: public_keys.into(),
            tls_ca: None,
            session_hours: 12,
            secure_cookies: false,
            request_timeout_ms: 10_000,
        }
    }
}

/// Serves the dashboard on `listener` until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let verifier = Verifier::parse(&config.auth_public_keys).map_err(|e| anyhow::anyhow!("AUTH_PUBLIC_KEYS: {e}"))?;
    anyhow::ensure!(config.session_hours > 0, "SESSION_HOURS must be at least 1");
    let backend = backend::Backend::connect(
        &config.aggregation_url,
        config.tls_ca.as_deref(),
        Duration::from_millis(config.request_timeout_ms),
    )?;
    let sessions = session::Sessions::new(verifier, i64::from(config.session_hours) * 3600);
    let app = Arc::new(server::App {
        backend,
        sessions,
        secure_cookies: config.secure_cookies,
        unit_names: Default::default(),
    });
    tracing::info!(addr = %listener.local_addr()?, "dashboard serving");
    server::serve(listener, app, shutdown).await;
    Ok(())
}
