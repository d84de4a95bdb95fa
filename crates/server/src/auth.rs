//! Every RPC but health and reflection needs a credential: a bearer token verified against the configured public
//! keys (no database round trip), then a coarse per-method policy, then a per-principal rate limit. Handlers
//! find the [`Principal`] in the request's extensions for finer checks (which centers, which province).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

pub use onestop_auth::{Issuer, Principal, Role, Verifier};
use onestop_auth::{SCOPE_DEFINE, SCOPE_FOLLOW, SCOPE_PUBLISH, SCOPE_PUSH, SCOPE_READ};
use tonic::codegen::http;
use tonic::server::NamedService;
use tonic::Status;

/// Credentials and limits, each also set by its environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// Public keys whose tokens are accepted, as `kid=<base64>` separated by commas (`onestop-token keygen`
    /// prints them). Several keys let keys rotate.
    #[arg(long, env = "AUTH_PUBLIC_KEYS")]
    pub auth_public_keys: String,

    /// This service's private key (`kid=<base64>`), to sign the tokens it sends when calling another service.
    #[arg(long, env = "SERVICE_KEY")]
    pub service_key: Option<String>,

    /// Calls each principal may make per second, on average.
    #[arg(long, env = "RATE_LIMIT_PER_SECOND", default_value_t = 200.0)]
    pub rate_limit_per_second: f64,

    /// Calls a principal may make at once above the average.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 400.0)]
    pub rate_limit_burst: f64,

    /// Largest request message accepted, in bytes.
    #[arg(long, env = "MAX_MESSAGE_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_message_bytes: usize,
}

impl AuthArgs {
    /// Settings signed by `issuer`, which is also the service's own key.
    pub fn with_issuer(issuer: &Issuer) -> Self {
        AuthArgs {
            auth_public_keys: issuer.public_text(),
            service_key: Some(issuer.private_text()),
            rate_limit_per_second: 200.0,
            rate_limit_burst: 400.0,
            max_message_bytes: 16 * 1024 * 1024,
        }
    }
}

/// What a method needs of its caller before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Any of these scopes.
    Scope(&'static str),
    /// The `push` scope, as software or a national operator.
    Push,
}

/// Per service: what each method needs. Unlisted methods need `read`.
pub type Policy = fn(method: &str) -> Needs;

fn needs_allows(needs: Needs, principal: &Principal) -> bool {
    match needs {
        Needs::Scope(scope) => principal.has_scope(scope),
        Needs::Push => principal.has_scope(SCOPE_PUSH) && matches!(principal.role, Role::Software | Role::National),
    }
}

/// A token bucket per principal.
#[derive(Debug)]
struct Limiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    fn admit(&self, subject: &str) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("the limiter's lock is never poisoned");
        let (tokens, at) = buckets.entry(subject.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Checks each call: credential, method policy, rate.
#[derive(Debug)]
pub struct Gate {
    verifier: Verifier,
    policy: Policy,
    limiter: Limiter,
}

impl Gate {
    pub fn new(args: &AuthArgs, policy: Policy) -> anyhow::Result<Arc<Gate>> {
        let verifier = Verifier::parse(&args.auth_public_keys).map_err(|e| anyhow::anyhow!("AUTH_PUBLIC_KEYS: {e}"))?;
        anyhow::ensure!(
            args.rate_limit_per_second > 0.0 && args.rate_limit_burst >= 1.0,
            "rate limits must be positive"
        );
        let limiter =
            Limiter { rate: args.rate_limit_per_second, burst: args.rate_limit_burst, buckets: Mutex::default() };
        Ok(Arc::new(Gate { verifier, policy, limiter }))
    }

    /// The principal of a call to `path` with `headers`, or the status that refuses it.
    pub fn admit(&self, path: &str, headers: &http::HeaderMap) -> Result<Principal, Status> {
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated(onestop_auth::AuthError::Missing.to_string()))?;
        let principal = self
            .verifier
            .verify(token.trim(), onestop_auth::now())
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        let method = path.rsplit('/').next().unwrap_or_default();
        let needs = (self.policy)(method);
        if !needs_allows(needs, &principal) {
            return Err(Status::permission_denied(format!(
                "{method} needs {}; {} has scopes {:?}",
                match needs {
                    Needs::Scope(scope) => format!("scope {scope}"),
                    Needs::Push => "scope push as software or a national operator".into(),
                },
                principal.subject,
                principal.scopes
            )));
        }
        if !self.limiter.admit(&principal.subject) {
            return Err(Status::resource_exhausted(format!(
                "{} is over its rate limit; retry later",
                principal.subject
            )));
        }
        Ok(principal)
    }
}

/// A service behind a [`Gate`]: refused calls never reach it; admitted ones carry their [`Principal`].
#[derive(Debug, Clone)]
pub struct Guarded<S> {
    inner: S,
    gate: Arc<Gate>,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, gate: Arc<Gate>) -> Self {
        Guarded { inner, gate }
    }
}

impl<S: NamedService> NamedService for Guarded<S> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for Guarded<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        match self.gate.admit(request.uri().path(), request.headers()) {
            Ok(principal) => {
                request.extensions_mut().insert(principal);
                let call = self.inner.call(request);
                Box::pin(async move {
                    let mut response = call.await?;
                    too_large_is_resource_exhausted(&mut response);
                    Ok(response)
                })
            }
            Err(status) => Box::pin(async move { Ok(status.into_http()) }),
        }
    }
}

/// A request message over the size limit is refused by tonic as OUT_OF_RANGE; onestop answers every limit
/// with RESOURCE_EXHAUSTED (no handler answers OUT_OF_RANGE). Covers answers whose status is in the headers,
/// as a refused unary request's is.
fn too_large_is_resource_exhausted(response: &mut http::Response<tonic::body::Body>) {
    let out_of_range = (tonic::Code::OutOfRange as i32).to_string();
    if response.headers().get("grpc-status").is_some_and(|v| v.as_bytes() == out_of_range.as_bytes()) {
        let exhausted = (tonic::Code::ResourceExhausted as i32).to_string();
        response.headers_mut().insert("grpc-status", exhausted.parse().expect("digits are a valid header"));
    }
}

/// The caller of an admitted request.
pub fn principal<T>(request: &tonic::Request<T>) -> Result<&Principal, Status> {
    request.extensions().get::<Principal>().ok_or_else(|| Status::unauthenticated("no principal on the request"))
}

/// How a caller proves itself: the tokens it sends (a service's signed with its own key, short-lived, minted per
/// call), and for `https://` URLs the TLS settings (trusted authorities, and its certificate for mutual TLS).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    source: Option<Arc<(Issuer, onestop_auth::Claims)>>,
    fixed: Option<String>,
    pub tls: Option<tonic::transport::ClientTlsConfig>,
}

impl Credentials {
    /// Tokens for service `name`, signed with `key` (`kid=<base64>`).
    pub fn service(name: &str, key: &str) -> anyhow::Result<Credentials> {
        let issuer = Issuer::parse(key).map_err(|e| anyhow::anyhow!("SERVICE_KEY: {e}"))?;
        let claims = onestop_auth::claims(name, Role::Service, &[SCOPE_READ, SCOPE_FOLLOW], 300);
        Ok(Credentials { source: Some(Arc::new((issuer, claims))), fixed: None, tls: None })
    }

    /// From a service's settings: its own tokens when it has a key, and its TLS settings.
    pub fn of(name: &str, args: &crate::config::ServerArgs) -> anyhow::Result<Credentials> {
        let mut credentials = match &args.auth.service_key {
            Some(key) => Credentials::service(name, key)?,
            None => Credentials::default(),
        };
        if let Some(ca) = &args.tls.tls_ca {
            let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()));
            let mut tls = tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(read(ca)?));
            if let (Some(cert), Some(key)) = (&args.tls.tls_cert, &args.tls.tls_key) {
                tls = tls.identity(tonic::transport::Identity::from_pem(read(cert)?, read(key)?));
            }
            credentials.tls = Some(tls);
        }
        Ok(credentials)
    }

    /// The same, over TLS with `tls` for `https://` URLs.
    pub fn with_tls(mut self, tls: tonic::transport::ClientTlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Always the same token (a person's or a tool's).
    pub fn token(token: impl Into<String>) -> Credentials {
        Credentials { source: None, fixed: Some(token.into()), tls: None }
    }

    /// The value of the `authorization` header for the next call, if any.
    pub fn header(&self) -> Option<String> {
        if let Some(token) = &self.fixed {
            return Some(format!("Bearer {token}"));
        }
        let (issuer, template) = self.source.as_deref()?;
        let iat = onestop_auth::now();
        let claims = onestop_auth::Claims { iat, exp: iat + 300, ..template.clone() };
        Some(format!("Bearer {}", issuer.issue(&claims)))
    }
}

/// Scopes a national operator holds: everything (for the local run, demos and tests).
pub const OPERATOR_SCOPES: [&str; 5] = [SCOPE_READ, SCOPE_PUBLISH, SCOPE_DEFINE, SCOPE_PUSH, SCOPE_FOLLOW];
