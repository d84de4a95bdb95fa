//! Aggregation, as the dashboard reaches it: one channel for every session, each call carrying the signed-in
//! office's own token, so that aggregation decides what the office may read.

use std::path::Path;
use std::time::Duration;

use onestop_server::auth::Credentials;
use onestop_server::client::{self, AggregationClient};
use tonic::metadata::MetadataValue;

#[derive(Clone)]
pub struct Backend {
    aggregation: AggregationClient,
}

impl Backend {
    /// A lazy channel to aggregation at `url`: the dashboard starts even while aggregation is still starting.
    pub fn connect(url: &str, tls_ca: Option<&Path>, timeout: Duration) -> anyhow::Result<Backend> {
        let mut credentials = Credentials::default();
        if let Some(ca) = tls_ca {
            let pem = std::fs::read(ca).map_err(|e| anyhow::anyhow!("TLS_CA {}: {e}", ca.display()))?;
            let tls =
                tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(pem));
            credentials = credentials.with_tls(tls);
        }
        Ok(Backend { aggregation: client::aggregation(url, Some(timeout), &credentials)? })
    }

    pub fn aggregation(&self) -> AggregationClient {
        self.aggregation.clone()
    }
}

/// `message` as a call made with `token`.
pub fn call<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    // A token that verified at sign-in is base64url and dots: always a valid header value.
    if let Ok(value) = MetadataValue::try_from(format!("Bearer {token}")) {
        request.metadata_mut().insert("authorization", value);
    }
    request
}
