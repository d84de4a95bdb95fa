//! One way to serve a onestop service: gRPC health driven by the database, reflection, a request timeout, a
//! concurrency limit, one span per RPC continuing the caller's trace, metrics, and graceful shutdown.

use std::future::Future;
use std::time::Duration;

use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use tonic::codegen::http;
use tonic::server::NamedService;

use crate::admission::{Admitted, DatabaseState, Limits};
use crate::auth::{Gate, Guarded, Policy};
use crate::config::ServerArgs;
use crate::db::Probe;
use crate::metrics::{Registry, RpcMetricsLayer};
use crate::telemetry;

/// Tells long-lived work (streams, followers of other services) that the service is stopping. Graceful
/// shutdown waits for every call to finish, and a stream never finishes by itself.
#[derive(Debug, Clone)]
pub struct Stopping {
    sender: std::sync::Arc<watch::Sender<bool>>,
}

impl Default for Stopping {
    fn default() -> Self {
        Stopping { sender: std::sync::Arc::new(watch::channel(false).0) }
    }
}

impl Stopping {
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    /// A signal to wait on.
    pub fn signal(&self) -> StopSignal {
        StopSignal(self.sender.subscribe())
    }
}

#[derive(Debug, Clone)]
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    /// Completes once the service is stopping.
    pub async fn stopped(&mut self) {
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }

    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }
}

/// What a service's methods need: the policy its callers' credentials are checked against, and which of its
/// methods are long-lived streams (counted against the stream caps for their whole life, not against the
/// concurrency limit).
#[derive(Debug, Clone, Copy)]
pub struct Methods {
    pub policy: Policy,
    pub long_lived: &'static [&'static str],
}

/// Where a server listens: its gRPC port, and the port of its metrics if one is bound for it already (as the
/// in-process stack binds port 0 and reads which port it got). Without one, metrics are served at
/// `METRICS_ADDR`, if set.
#[derive(Debug)]
pub struct Listeners {
    pub grpc: TcpListener,
    pub metrics: Option<TcpListener>,
}

impl From<TcpListener> for Listeners {
    fn from(grpc: TcpListener) -> Listeners {
        Listeners { grpc, metrics: None }
    }
}

/// What a service shares with its server: its pool (health probes it, metrics watch it), the signal that tells
/// its long-lived work it is stopping, and its metrics.
#[derive(Debug, Clone)]
pub struct Shared {
    pub pool: PgPool,
    pub stopping: Stopping,
    pub metrics: Registry,
}

impl Shared {
    pub fn new(pool: PgPool) -> Shared {
        Shared { pool, stopping: Stopping::default(), metrics: Registry::default() }
    }
}

/// Serves `service` on `listeners` until `shutdown` completes, then triggers `shared.stopping` (so streams end),
/// stops accepting, and lets in-flight calls finish.
///
/// Calls pass the credential gate, then the admission limits (see [`crate::admission`]). Health and reflection
/// stand beside them, outside both: health answers at once however busy the service is. Health reports the
/// service (`S::NAME`, such as `onestop.catalogue.v1.CatalogueService`) and the server as a whole (""): SERVING
/// while the database answers and NOT_SERVING while it does not, when calls are refused UNAVAILABLE at once.
/// Every call, refused or not, is counted and timed in `shared.metrics` (see [`crate::metrics`]).
pub async fn serve<S>(
    args: &ServerArgs,
    listeners: Listeners,
    service: S,
    methods: Methods,
    shared: Shared,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()>
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let service_name = S::NAME;
    let Shared { pool, stopping, metrics } = shared;
    let database = DatabaseState::default();
    let limits = Limits::new(args, methods.long_lived, database.clone());
    let gate = Gate::new(&args.auth, methods.policy)?;
    let routes = Routes::new(Guarded::new(Admitted::new(service, limits), gate));

    let (reporter, health_service) = tonic_health::server::health_reporter();
    let names = [service_name, ""];
    set_status(&reporter, &names, ServingStatus::NotServing).await;
    metrics.watch_pool(&pool);
    let reachable = metrics.gauge("onestop_database_reachable", "1 while the database answers health probes.", &[]);
    let reachable = reachable.with(&[]);
    metrics.before_scrape({
        let database = database.clone();
        move || reachable.set(if database.is_reachable() { 1.0 } else { 0.0 })
    });
    let watcher = tokio::spawn(watch_database(
        Probe::new(&pool),
        database,
        reporter.clone(),
        names,
        args.health_check_interval(),
    ));

    // Reflection in both versions: many clients still in use (grpcurl releases, Postman, grpcio) speak only
    // v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(onestop_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let routes = routes
        .add_service(health_service)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?);

    let metrics_listener = match (listeners.metrics, args.metrics_addr) {
        (Some(bound), _) => Some(bound),
        (None, Some(addr)) => {
            Some(TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("METRICS_ADDR {addr}: {e}"))?)
        }
        (None, None) => None,
    };
    if let Some(listener) = metrics_listener {
        let metrics_addr = listener.local_addr()?;
        tracing::info!(service = service_name, %metrics_addr, "serving metrics at /metrics");
        tokio::spawn(crate::metrics::serve_http(listener, metrics.clone(), stopping.signal()));
    }
    let rpc_metrics = RpcMetricsLayer::new(&metrics, service_name, methods.long_lived);

    let listener = listeners.grpc;
    let local_addr = listener.local_addr()?;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tracing::info!(service = service_name, %local_addr, "serving");
    let stop = async move {
        shutdown.await;
        tracing::info!(service = service_name, "shutting down: finishing in-flight calls");
        stopping.trigger();
        watcher.abort();
        set_status(&reporter, &names, ServingStatus::NotServing).await;
    };
    let mut server = Server::builder();
    if let (Some(cert), Some(key)) = (&args.tls.tls_cert, &args.tls.tls_key) {
        let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(read(cert)?, read(key)?));
        if let Some(ca) = &args.tls.tls_client_ca {
            tls = tls.client_ca_root(Certificate::from_pem(read(ca)?));
        }
        server = server.tls_config(tls)?;
    }
    server
        .timeout(args.request_timeout())
        .trace_fn(telemetry::rpc_span)
        .layer(rpc_metrics)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, stop)
        .await?;
    // Idle connections would otherwise outlive the service and complain when the database stops after it.
    pool.close().await;
    tracing::info!(service = service_name, "stopped");
    Ok(())
}

fn read(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Keeps health and admission in step with the database: NOT_SERVING (and calls refused at once) while it does
/// not answer, SERVING again when it does.
async fn watch_database(
    mut probe: Probe,
    database: DatabaseState,
    reporter: HealthReporter,
    names: [&'static str; 2],
    interval: Duration,
) {
    let mut last = None;
    let mut failed_in_a_row = 0;
    loop {
        // One slow answer on a busy server is not an outage: two failed probes in a row are.
        failed_in_a_row =
            if probe.is_reachable(interval.max(Duration::from_secs(2))).await { 0 } else { failed_in_a_row + 1 };
        let reachable = failed_in_a_row == 0 || (failed_in_a_row < 2 && last == Some(true));
        database.set(reachable);
        if last != Some(reachable) {
            if reachable {
                tracing::info!("database reachable: serving");
            } else {
                tracing::warn!("database unreachable: not serving");
            }
            let status = if reachable { ServingStatus::Serving } else { ServingStatus::NotServing };
            set_status(&reporter, &names, status).await;
            last = Some(reachable);
        }
        tokio::time::sleep(interval).await;
    }
}

async fn set_status(reporter: &HealthReporter, names: &[&'static str; 2], status: ServingStatus) {
    for name in *names {
        reporter.set_service_status(name, status).await;
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
