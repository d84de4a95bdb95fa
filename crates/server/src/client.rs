//! Clients of the onestop services. Every call carries the caller's trace context and its credentials.

use std::time::Duration;

use onestop_proto::aggregation::v1::aggregation_service_client::AggregationServiceClient;
use onestop_proto::catalogue::v1::catalogue_service_client::CatalogueServiceClient;
use onestop_proto::intake::v1::intake_service_client::IntakeServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::auth::{Credentials, AGGREGATION, CATALOGUE, INTAKE};
use crate::telemetry::inject_current_context;

/// Adds the trace context and the `authorization` header to every outgoing call.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    credentials: Credentials,
}

impl tonic::service::Interceptor for Outgoing {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        inject_current_context(request.metadata_mut());
        if let Some(header) = self.credentials.header() {
            let value = header.parse().map_err(|_| tonic::Status::internal("a token that is not ASCII"))?;
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}

pub type TracedChannel = InterceptedService<Channel, Outgoing>;
pub type CatalogueClient = CatalogueServiceClient<TracedChannel>;
pub type IntakeClient = IntakeServiceClient<TracedChannel>;
pub type AggregationClient = AggregationServiceClient<TracedChannel>;

/// Bytes a stream may send its follower ahead of what the follower has read: a few hundred changes.
const FOLLOWER_WINDOW: u32 = 64 * 1024;

/// A channel that connects on first use, so a service starts even while the one it calls is still starting.
/// `request_timeout` bounds each call; `None` is for following change streams, which never end by themselves.
/// A service's `credentials` must be addressed to the service called ([`Credentials::addressed_to`]).
pub fn lazy_channel(
    url: &str,
    request_timeout: Option<Duration>,
    credentials: &Credentials,
) -> anyhow::Result<TracedChannel> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())?.connect_timeout(Duration::from_secs(5)).tcp_nodelay(true);
    match request_timeout {
        Some(timeout) => endpoint = endpoint.timeout(timeout),
        // A follower of a stream takes what it has room for, so that a stream's server sees how far behind its
        // follower is: with HTTP/2's usual windows of megabytes, tens of thousands of changes would wait in
        // transit where intake could not see them (see intake's `pace`).
        None => {
            endpoint =
                endpoint.initial_stream_window_size(FOLLOWER_WINDOW).initial_connection_window_size(FOLLOWER_WINDOW)
        }
    }
    if let (true, Some(tls)) = (url.starts_with("https://"), &credentials.tls) {
        endpoint = endpoint.tls_config(tls.clone())?;
    }
    Ok(InterceptedService::new(endpoint.connect_lazy(), Outgoing { credentials: credentials.clone() }))
}

pub fn catalogue(
    url: &str,
    request_timeout: Option<Duration>,
    credentials: &Credentials,
) -> anyhow::Result<CatalogueClient> {
    Ok(CatalogueServiceClient::new(lazy_channel(url, request_timeout, &credentials.addressed_to(CATALOGUE))?))
}

pub fn intake(url: &str, request_timeout: Option<Duration>, credentials: &Credentials) -> anyhow::Result<IntakeClient> {
    Ok(IntakeServiceClient::new(lazy_channel(url, request_timeout, &credentials.addressed_to(INTAKE))?))
}

pub fn aggregation(
    url: &str,
    request_timeout: Option<Duration>,
    credentials: &Credentials,
) -> anyhow::Result<AggregationClient> {
    Ok(AggregationServiceClient::new(lazy_channel(url, request_timeout, &credentials.addressed_to(AGGREGATION))?))
}
