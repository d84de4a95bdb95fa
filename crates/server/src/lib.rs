//! What every onestop service shares, so that each service's own code is only its domain:
//!
//! - [`admission`]: the concurrency limit, stream caps, refusing calls while the database is away, and tonic's
//!   own statuses for bad requests rewritten to the caller's codes;
//! - [`auth`]: credentials on every call, the method policy and per-principal rate limits;
//! - [`config`]: the flags (each also read from an environment variable) common to all services;
//! - [`telemetry`]: tracing with optional OTLP export, and trace context carried across gRPC calls;
//! - [`error`]: the one mapping from service errors to `tonic::Status`;
//! - [`freshness`]: reads that wait, up to their deadline, for the changes their client has seen;
//! - [`paging`]: opaque page tokens for keyset paging;
//! - [`copy_in`]: rows encoded for a binary `COPY`, the fastest way to add many;
//! - [`db`]: a connection pool on the service's own schema, its migrations, and the health watcher;
//! - [`notify`]: waking change streams when a change commits;
//! - [`metrics`]: Prometheus metrics (calls, the pool, followed change streams) and their HTTP endpoint;
//! - [`serve`]: the server builder (health, reflection, timeouts, limits, spans, graceful shutdown);
//! - [`client`]: channels to the other services that carry the trace context.

pub mod admission;
pub mod auth;
pub mod client;
pub mod config;
pub mod copy_in;
pub mod db;
pub mod error;
pub mod freshness;
pub mod metrics;
pub mod notify;
pub mod paging;
pub mod serve;
pub mod telemetry;

pub use error::{ServiceError, ServiceResult};
