//! Clients of the other onestop services. Every call carries the caller's trace context.

use std::time::Duration;

use onestop_proto::catalogue::v1::catalogue_service_client::CatalogueServiceClient;
use onestop_proto::intake::v1::intake_service_client::IntakeServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::telemetry::TraceContextInjector;

pub type TracedChannel = InterceptedService<Channel, TraceContextInjector>;
pub type CatalogueClient = CatalogueServiceClient<TracedChannel>;
pub type IntakeClient = IntakeServiceClient<TracedChannel>;

/// A channel that connects on first use, so a service starts even while the one it calls is still starting.
/// `request_timeout` bounds each call; `None` is for following change streams, which never end by themselves.
pub fn lazy_channel(url: &str, request_timeout: Option<Duration>) -> anyhow::Result<TracedChannel> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())?.connect_timeout(Duration::from_secs(5)).tcp_nodelay(true);
    if let Some(timeout) = request_timeout {
        endpoint = endpoint.timeout(timeout);
    }
    Ok(InterceptedService::new(endpoint.connect_lazy(), TraceContextInjector))
}

pub fn catalogue(url: &str, request_timeout: Option<Duration>) -> anyhow::Result<CatalogueClient> {
    Ok(CatalogueServiceClient::new(lazy_channel(url, request_timeout)?))
}

pub fn intake(url: &str, request_timeout: Option<Duration>) -> anyhow::Result<IntakeClient> {
    Ok(IntakeServiceClient::new(lazy_channel(url, request_timeout)?))
}
