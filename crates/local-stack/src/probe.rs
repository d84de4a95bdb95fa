//! `onestop-health`: asks a service's gRPC health (`grpc.health.v1`) whether it is SERVING, for container
//! healthchecks, where no other gRPC client is at hand. It reads the service's own settings (`LISTEN_ADDR`, the
//! `TLS_*` files), so a healthcheck in the service's container needs no argument.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context};
use onestop_server::auth::client_tls;
use onestop_server::config::TlsArgs;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "onestop-health",
    about = "Exits 0 if the onestop service at LISTEN_ADDR reports SERVING over grpc.health.v1, 1 if not."
)]
pub struct ProbeArgs {
    /// Where the service listens: its own LISTEN_ADDR. An unspecified address (0.0.0.0, [::]) is asked on loopback.
    #[arg(long, env = "LISTEN_ADDR")]
    pub addr: SocketAddr,

    /// The gRPC service to ask about (`onestop.intake.v1.IntakeService`, …); the server as a whole when empty.
    #[arg(long, default_value = "")]
    pub service: String,

    /// How long to wait for the answer, in milliseconds.
    #[arg(long, default_value_t = 3_000)]
    pub timeout_ms: u64,

    /// The name the service's certificate carries, when it speaks TLS (TLS_CERT set; TLS_CA is then needed).
    #[arg(long, default_value = "localhost")]
    pub tls_name: String,

    #[command(flatten)]
    pub tls: TlsArgs,
}

impl ProbeArgs {
    /// The address to dial: the service's own, or loopback for an unspecified one.
    fn target(&self) -> SocketAddr {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.addr.port())
    }
}

/// What the service says of itself, or why it could not be asked.
pub async fn check(args: &ProbeArgs) -> anyhow::Result<ServingStatus> {
    let target = args.target();
    let timeout = Duration::from_millis(args.timeout_ms);
    let endpoint = match &args.tls.tls_cert {
        None => tonic::transport::Endpoint::from_shared(format!("http://{target}"))?,
        Some(_) => {
            let Some(tls) = client_tls(&args.tls)? else {
                bail!("TLS_CERT is set, so the service speaks TLS: give TLS_CA to trust it");
            };
            tonic::transport::Endpoint::from_shared(format!("https://{target}"))?
                .tls_config(tls.domain_name(args.tls_name.clone()))?
        }
    };
    let channel = endpoint
        .connect_timeout(timeout)
        .timeout(timeout)
        .connect()
        .await
        .with_context(|| format!("connecting to {target}"))?;
    let request = HealthCheckRequest { service: args.service.clone() };
    let answer = HealthClient::new(channel).check(request).await.with_context(|| format!("asking {target}"))?;
    Ok(ServingStatus::try_from(answer.into_inner().status).unwrap_or(ServingStatus::Unknown))
}
