//! The whole onestop system in one process: catalogue, intake and aggregation, each on its own port and its
//! own schema of one database, talking to each other over gRPC as they would across machines. The local run
//! command and the system tests both start it.

pub mod dashboard;
pub mod demo;
pub mod demo_command;
pub mod probe;
pub mod run;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use onestop_server::auth::{client_tls, Credentials, SystemKeys, AGGREGATION, CATALOGUE, INTAKE};
use onestop_server::client;
use onestop_server::config::ServerArgs;
use onestop_server::serve::Listeners;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::ClientTlsConfig;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// Where each service should listen.
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    pub catalogue: SocketAddr,
    pub intake: SocketAddr,
    pub aggregation: SocketAddr,
}

impl Addresses {
    /// Every service on a free loopback port.
    pub fn any_free_port() -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Addresses { catalogue: any, intake: any, aggregation: any }
    }

    /// The services' own default ports.
    pub fn defaults() -> Self {
        Addresses {
            catalogue: onestop_catalogue::DEFAULT_LISTEN_ADDR,
            intake: onestop_intake::DEFAULT_LISTEN_ADDR,
            aggregation: onestop_aggregation::DEFAULT_LISTEN_ADDR,
        }
    }

    pub fn catalogue_url(&self) -> String {
        url(self.catalogue)
    }

    pub fn intake_url(&self) -> String {
        url(self.intake)
    }

    pub fn aggregation_url(&self) -> String {
        url(self.aggregation)
    }

    /// Clients of each service, calling with `credentials`.
    pub fn catalogue_client(&self, credentials: &Credentials) -> client::CatalogueClient {
        client::catalogue(&self.catalogue_url(), None, credentials).expect("a valid URL")
    }

    pub fn intake_client(&self, credentials: &Credentials) -> client::IntakeClient {
        client::intake(&self.intake_url(), None, credentials).expect("a valid URL")
    }

    pub fn aggregation_client(&self, credentials: &Credentials) -> client::AggregationClient {
        client::aggregation(&self.aggregation_url(), None, credentials).expect("a valid URL")
    }
}

/// A running system. [`Stack::shutdown`] stops it gracefully.
pub struct Stack {
    /// Where each service actually listens.
    pub addresses: Addresses,
    /// Where each service serves its metrics (`http://ADDR/metrics`).
    pub metrics: Addresses,
    stop: watch::Sender<usize>,
    services: Vec<(&'static str, JoinHandle<anyhow::Result<()>>)>,
    /// A national operator's credentials, signed with the issuer key.
    operator: Credentials,
    keys: SystemKeys,
    /// How the stack reaches its services when they speak only TLS.
    tls: Option<ClientTlsConfig>,
}

impl Stack {
    /// Starts the three services on `database_url` and waits until each reports SERVING.
    pub async fn start(database_url: &str, addresses: Addresses) -> anyhow::Result<Stack> {
        let server = ServerArgs::for_database(database_url);
        Self::start_with(server, addresses).await
    }

    /// Like [`Stack::start`], with the server settings given, and fresh keys.
    pub async fn start_with(server: ServerArgs, addresses: Addresses) -> anyhow::Result<Stack> {
        Self::start_with_keys(server, SystemKeys::generate(), addresses).await
    }

    /// Like [`Stack::start_with`], with the keys given, and each service's metrics on a free loopback port.
    pub async fn start_with_keys(server: ServerArgs, keys: SystemKeys, addresses: Addresses) -> anyhow::Result<Stack> {
        Self::start_placed(server, keys, addresses, Addresses::any_free_port()).await
    }

    /// Like [`Stack::start_with`], with the keys given, and each service's metrics served at `metrics`. Each service
    /// gets its own private key (if it calls others) and the public keys; the issuer key stays with the stack, which
    /// signs the operator's token with it.
    ///
    /// Given a certificate (`TLS_CERT`), the services speak only TLS and are reached at `https://localhost:PORT`,
    /// by each other and by the stack's clients, so the certificate must name `localhost` and `TLS_CA` is needed.
    /// Metrics are plain HTTP either way.
    pub async fn start_placed(
        server: ServerArgs,
        keys: SystemKeys,
        addresses: Addresses,
        metrics: Addresses,
    ) -> anyhow::Result<Stack> {
        let tls = match (&server.tls.tls_cert, client_tls(&server.tls)?) {
            (None, _) => None,
            (Some(_), Some(tls)) => Some(tls),
            (Some(cert), None) => bail!("TLS_CERT {}: give TLS_CA as well, to reach the services", cert.display()),
        };
        let bind = |addr: SocketAddr, name: &str| {
            let name = name.to_owned();
            async move { TcpListener::bind(addr).await.with_context(|| format!("{name}: binding {addr}")) }
        };
        let catalogue_listener = bind(addresses.catalogue, "catalogue").await?;
        let intake_listener = bind(addresses.intake, "intake").await?;
        let aggregation_listener = bind(addresses.aggregation, "aggregation").await?;
        let bound = Addresses {
            catalogue: catalogue_listener.local_addr()?,
            intake: intake_listener.local_addr()?,
            aggregation: aggregation_listener.local_addr()?,
        };
        let catalogue_metrics = bind(metrics.catalogue, "catalogue metrics").await?;
        let intake_metrics = bind(metrics.intake, "intake metrics").await?;
        let aggregation_metrics = bind(metrics.aggregation, "aggregation metrics").await?;
        let metrics = Addresses {
            catalogue: catalogue_metrics.local_addr()?,
            intake: intake_metrics.local_addr()?,
            aggregation: aggregation_metrics.local_addr()?,
        };
        let listeners = |grpc, metrics| Listeners { grpc, metrics: Some(metrics) };
        // Followers stop before what they follow (see `Stack::shutdown`): a service stops once this many are told.
        let (stop, stopped) = watch::channel(0usize);
        let shutdown = move |turn: usize| {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|told| *told >= turn).await;
            }
        };

        let operator = match &tls {
            Some(tls) => keys.operator().with_tls(tls.clone()),
            None => keys.operator(),
        };
        let url = |addr: SocketAddr| service_url(addr, tls.is_some());
        let settings = |service: &str| {
            let mut settings = server.clone();
            keys.install(service, &mut settings.auth);
            settings
        };
        let catalogue = onestop_catalogue::Config { server: settings(CATALOGUE) };
        let intake = onestop_intake::Config { server: settings(INTAKE), catalogue_url: url(bound.catalogue) };
        let aggregation = onestop_aggregation::Config {
            server: settings(AGGREGATION),
            catalogue_url: url(bound.catalogue),
            intake_url: url(bound.intake),
            read_database_url: None,
        };
        let services = vec![
            (
                "catalogue",
                tokio::spawn(onestop_catalogue::run(
                    catalogue,
                    listeners(catalogue_listener, catalogue_metrics),
                    shutdown(3),
                )),
            ),
            (
                "intake",
                tokio::spawn(onestop_intake::run(intake, listeners(intake_listener, intake_metrics), shutdown(2))),
            ),
            (
                "aggregation",
                tokio::spawn(onestop_aggregation::run(
                    aggregation,
                    listeners(aggregation_listener, aggregation_metrics),
                    shutdown(1),
                )),
            ),
        ];
        let stack = Stack { addresses: bound, metrics, stop, services, operator, keys, tls };
        stack.wait_until_serving(Duration::from_secs(60)).await?;
        Ok(stack)
    }

    /// A national operator's credentials (every scope), for the local run, demos and tests.
    pub fn operator(&self) -> &Credentials {
        &self.operator
    }

    /// The system's keys: the issuer key, to sign principals' tokens as a test needs them, and the services' own
    /// ([`SystemKeys::install`] gives another service its part, so that it joins the system).
    pub fn keys(&self) -> &SystemKeys {
        &self.keys
    }

    /// Whether the services speak only TLS, and how to reach them then.
    pub fn client_tls(&self) -> Option<&ClientTlsConfig> {
        self.tls.as_ref()
    }

    /// Clients of each service acting as the operator.
    pub fn catalogue_client(&self) -> client::CatalogueClient {
        client::catalogue(&self.catalogue_url(), None, &self.operator).expect("a valid URL")
    }

    pub fn intake_client(&self) -> client::IntakeClient {
        client::intake(&self.intake_url(), None, &self.operator).expect("a valid URL")
    }

    pub fn aggregation_client(&self) -> client::AggregationClient {
        client::aggregation(&self.aggregation_url(), None, &self.operator).expect("a valid URL")
    }

    pub fn catalogue_url(&self) -> String {
        service_url(self.addresses.catalogue, self.tls.is_some())
    }

    pub fn intake_url(&self) -> String {
        service_url(self.addresses.intake, self.tls.is_some())
    }

    pub fn aggregation_url(&self) -> String {
        service_url(self.addresses.aggregation, self.tls.is_some())
    }

    async fn wait_until_serving(&self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        for ((name, task), addr) in
            self.services.iter().zip([self.addresses.catalogue, self.addresses.intake, self.addresses.aggregation])
        {
            loop {
                if task.is_finished() {
                    bail!("{name} stopped while starting; its error is in the log");
                }
                if serving_at(&service_url(addr, self.tls.is_some()), self.tls.as_ref()).await {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("{name} did not report SERVING within {limit:?}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    /// Stops the services one after the other, followers first (aggregation, intake, then the catalogue), so that
    /// none sees the stream it follows end under it; each stops accepting calls and lets in-flight calls finish.
    /// Returns the first service error, if any.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let mut first_error = None;
        for (turn, (name, task)) in self.services.into_iter().rev().enumerate() {
            let _ = self.stop.send(turn + 1);
            let outcome = task.await.with_context(|| format!("{name} panicked")).and_then(|r| r.context(name));
            if let Err(error) = outcome {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// A service's URL: over TLS by the name its certificate carries, `localhost`.
fn service_url(addr: SocketAddr, tls: bool) -> String {
    if tls {
        format!("https://localhost:{}", addr.port())
    } else {
        url(addr)
    }
}

/// Whether the server at `addr` reports SERVING as a whole.
pub async fn serving(addr: SocketAddr) -> bool {
    serving_at(&url(addr), None).await
}

/// Whether the server at `url`, reached with `tls` if given, reports SERVING as a whole.
async fn serving_at(url: &str, tls: Option<&ClientTlsConfig>) -> bool {
    let Ok(mut endpoint) = tonic::transport::Endpoint::from_shared(url.to_owned()) else {
        return false;
    };
    if let Some(tls) = tls {
        let Ok(with_tls) = endpoint.tls_config(tls.clone()) else { return false };
        endpoint = with_tls;
    }
    let mut client = HealthClient::new(endpoint.connect_lazy());
    let status = client.check(HealthCheckRequest { service: String::new() }).await;
    matches!(status, Ok(response) if response.get_ref().status == ServingStatus::Serving as i32)
}
