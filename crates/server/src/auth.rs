//! Every RPC but health and reflection needs a credential: a bearer token verified against the configured public
//! keys (no database round trip), then a coarse per-method policy, then a per-principal rate limit. Handlers
//! find the [`Principal`] in the request's extensions for finer checks (which centers, which province).
//!
//! Two kinds of public keys are trusted (see [`onestop_auth`]): issuer keys (`AUTH_PUBLIC_KEYS`) for principals'
//! tokens, and each calling service's own key (`SERVICE_PUBLIC_KEYS`) for that service's calls only. A service
//! holds one private key, its own (`SERVICE_KEY`), and never an issuer's.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

pub use onestop_auth::{Issuer, Principal, Role, Secret, Verifier};
use onestop_auth::{SCOPE_DEFINE, SCOPE_FOLLOW, SCOPE_PUBLISH, SCOPE_PUSH, SCOPE_READ, SCOPE_REPORT, SERVICE_SCOPES};
use tonic::codegen::http;
use tonic::server::NamedService;
use tonic::Status;

/// The services' names: the audience of the tokens that call them, and the subject of the tokens they sign.
pub const CATALOGUE: &str = "catalogue";
pub const INTAKE: &str = "intake";
pub const AGGREGATION: &str = "aggregation";

/// Credentials and limits, each also set by its environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// Issuer public keys, whose tokens are accepted for any principal but a service, as `kid=<base64>` separated
    /// by commas (`onestop-token keygen` prints them). Several keys let keys rotate.
    #[arg(long, env = "AUTH_PUBLIC_KEYS")]
    pub auth_public_keys: String,

    /// The calling services' public keys, as `service:kid=<base64>` separated by commas (`onestop-token keygen
    /// --service NAME` prints them); each is accepted only for that service's own calls (role service, scopes
    /// read and follow, minutes long, addressed to the service called).
    #[arg(long, env = "SERVICE_PUBLIC_KEYS")]
    pub service_public_keys: Option<String>,

    /// This service's own private key (`kid=<base64>`), to sign the tokens it sends when calling another service.
    #[arg(long, env = "SERVICE_KEY", hide_env_values = true)]
    pub service_key: Option<Secret>,

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

impl Default for AuthArgs {
    /// The default limits, and no key: [`SystemKeys::install`] gives a service its keys.
    fn default() -> Self {
        AuthArgs {
            auth_public_keys: String::new(),
            service_public_keys: None,
            service_key: None,
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
///
/// A principal idle long enough for its bucket to fill up again is forgotten: a fresh bucket starts full, so
/// forgetting it changes no answer, and the map holds only principals seen in the last `burst / rate` seconds.
#[derive(Debug)]
struct Limiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<Buckets>,
}

#[derive(Debug, Default)]
struct Buckets {
    /// Tokens left and when they were counted, per principal.
    by_subject: HashMap<String, (f64, Instant)>,
    /// Admissions since the idle were last forgotten.
    since_sweep: usize,
}

/// How many admissions pass between two sweeps of the idle principals.
const SWEEP_EVERY: usize = 1024;

impl Limiter {
    fn new(rate: f64, burst: f64) -> Limiter {
        Limiter { rate, burst, buckets: Mutex::default() }
    }

    fn admit(&self, subject: &str) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("the limiter's lock is never poisoned");
        buckets.since_sweep += 1;
        if buckets.since_sweep >= SWEEP_EVERY {
            buckets.since_sweep = 0;
            buckets.by_subject.retain(|_, (tokens, at)| !self.is_full(*tokens, *at, now));
        }
        let (tokens, at) = buckets.by_subject.entry(subject.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether a bucket left with `tokens` at `at` has filled up by `now`.
    fn is_full(&self, tokens: f64, at: Instant, now: Instant) -> bool {
        tokens + now.duration_since(at).as_secs_f64() * self.rate >= self.burst
    }

    /// Principals remembered now.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.buckets.lock().expect("the limiter's lock is never poisoned").by_subject.len()
    }
}

/// Checks each call: credential (addressed to the service called), method policy, rate.
#[derive(Debug)]
pub struct Gate {
    verifier: Verifier,
    policy: Policy,
    limiter: Limiter,
}

impl Gate {
    pub fn new(args: &AuthArgs, policy: Policy) -> anyhow::Result<Arc<Gate>> {
        let mut verifier =
            Verifier::parse(&args.auth_public_keys).map_err(|e| anyhow::anyhow!("AUTH_PUBLIC_KEYS: {e}"))?;
        if let Some(keys) = &args.service_public_keys {
            verifier = verifier.trust_services(keys).map_err(|e| anyhow::anyhow!("SERVICE_PUBLIC_KEYS: {e}"))?;
        }
        anyhow::ensure!(
            args.rate_limit_per_second > 0.0 && args.rate_limit_burst >= 1.0,
            "rate limits must be positive"
        );
        let limiter = Limiter::new(args.rate_limit_per_second, args.rate_limit_burst);
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
            .verify(token.trim(), audience_of(path), onestop_auth::now())
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
        // A service calls for requests that already passed their own callers' limits (intake asks the catalogue
        // once per push): limiting the service would throttle every caller at once.
        if principal.role != Role::Service && !self.limiter.admit(&principal.subject) {
            return Err(Status::resource_exhausted(format!(
                "{} is over its rate limit; retry later",
                principal.subject
            )));
        }
        Ok(principal)
    }
}

/// The service a call to `path` (`/onestop.catalogue.v1.CatalogueService/ListSectors`) is addressed to: its
/// package's name ("catalogue"). A gate sees only the calls routed to its own service, so this is its own name.
fn audience_of(path: &str) -> &str {
    path.trim_start_matches('/').split(['.', '/']).nth(1).unwrap_or_default()
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
                Box::pin(self.inner.call(request))
            }
            Err(status) => Box::pin(async move { Ok(status.into_http()) }),
        }
    }
}

/// The caller of an admitted request.
pub fn principal<T>(request: &tonic::Request<T>) -> Result<&Principal, Status> {
    request.extensions().get::<Principal>().ok_or_else(|| Status::unauthenticated("no principal on the request"))
}

/// How a caller proves itself: the tokens it sends (a service's signed with its own key, short-lived, minted per
/// call for the service called), and for `https://` URLs the TLS settings (trusted authorities, and its
/// certificate for mutual TLS).
#[derive(Clone, Default)]
pub struct Credentials {
    source: Option<Arc<(Issuer, onestop_auth::Claims)>>,
    fixed: Option<Secret>,
    pub tls: Option<tonic::transport::ClientTlsConfig>,
}

/// Names who the credentials speak for, never a token or a key (a TLS identity's `Debug` prints its private key).
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("service", &self.source.as_ref().map(|source| &source.1.sub))
            .field("token", &self.fixed)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Credentials {
    /// Tokens for service `name`'s calls, signed with its own `key`. Address them with [`Credentials::addressed_to`]
    /// (the clients in [`crate::client`] do).
    pub fn service(name: &str, key: &Issuer) -> Credentials {
        let claims = onestop_auth::claims(name, Role::Service, &SERVICE_SCOPES, onestop_auth::SERVICE_TOKEN_LIFETIME);
        let claims = onestop_auth::Claims { aud: String::new(), ..claims };
        Credentials { source: Some(Arc::new((key.clone(), claims))), fixed: None, tls: None }
    }

    /// From the settings of service `name`, which calls others: its own tokens, and its TLS settings.
    pub fn of(name: &str, args: &crate::config::ServerArgs) -> anyhow::Result<Credentials> {
        let key = args.auth.service_key.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "SERVICE_KEY: {name} signs its calls to other services with a key of its own (onestop-token keygen \
                 --service {name})"
            )
        })?;
        let key = Issuer::parse(key.expose()).map_err(|e| anyhow::anyhow!("SERVICE_KEY: {e}"))?;
        let mut credentials = Credentials::service(name, &key);
        credentials.tls = client_tls(&args.tls)?;
        Ok(credentials)
    }

    /// The same, over TLS with `tls` for `https://` URLs.
    pub fn with_tls(mut self, tls: tonic::transport::ClientTlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Always the same token (a person's or a tool's).
    pub fn token(token: impl Into<String>) -> Credentials {
        Credentials { source: None, fixed: Some(Secret::new(token)), tls: None }
    }

    /// The same, for calls to `service`: a service's own tokens name it as their audience, so that the service
    /// called cannot pass them on to another. A fixed token is sent as it is.
    pub fn addressed_to(&self, service: &str) -> Credentials {
        let mut addressed = self.clone();
        if let Some(source) = &self.source {
            let (key, claims) = source.as_ref();
            let claims = onestop_auth::Claims { aud: service.to_owned(), ..claims.clone() };
            addressed.source = Some(Arc::new((key.clone(), claims)));
        }
        addressed
    }

    /// The value of the `authorization` header for the next call, if any.
    pub fn header(&self) -> Option<String> {
        if let Some(token) = &self.fixed {
            return Some(format!("Bearer {}", token.expose()));
        }
        let (key, template) = self.source.as_deref()?;
        let iat = onestop_auth::now();
        let claims = onestop_auth::Claims { iat, exp: iat + onestop_auth::SERVICE_TOKEN_LIFETIME, ..template.clone() };
        Some(format!("Bearer {}", key.issue(&claims)))
    }
}

/// How a service calls others at `https://` URLs, if `TLS_CA` is given: trusting it, and presenting the service's
/// own certificate (mutual TLS).
pub fn client_tls(args: &crate::config::TlsArgs) -> anyhow::Result<Option<tonic::transport::ClientTlsConfig>> {
    let Some(ca) = &args.tls_ca else { return Ok(None) };
    let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()));
    let mut tls =
        tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(read(ca)?));
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        tls = tls.identity(tonic::transport::Identity::from_pem(read(cert)?, read(key)?));
    }
    Ok(Some(tls))
}

/// Scopes a national operator holds: everything (for the local run, demos and tests).
pub const OPERATOR_SCOPES: [&str; 6] =
    [SCOPE_READ, SCOPE_PUBLISH, SCOPE_DEFINE, SCOPE_PUSH, SCOPE_FOLLOW, SCOPE_REPORT];

/// The keys of one whole system, for the local run, tests and benchmarks: an issuer key, held by whoever issues
/// principals' tokens (the run command, a test) and never given to a service, and a key of its own for each
/// service that calls others. The catalogue calls no one, so it holds no private key at all.
#[derive(Debug, Clone)]
pub struct SystemKeys {
    pub issuer: Issuer,
    pub intake: Issuer,
    pub aggregation: Issuer,
}

impl SystemKeys {
    /// Fresh keys.
    pub fn generate() -> SystemKeys {
        SystemKeys {
            issuer: Issuer::generate("issuer"),
            intake: Issuer::generate(INTAKE),
            aggregation: Issuer::generate(AGGREGATION),
        }
    }

    /// The private key of `service`, if it calls others.
    pub fn service_key(&self, service: &str) -> Option<&Issuer> {
        match service {
            INTAKE => Some(&self.intake),
            AGGREGATION => Some(&self.aggregation),
            _ => None,
        }
    }

    /// `SERVICE_PUBLIC_KEYS`: each calling service's public key, bound to its name.
    pub fn service_public_keys(&self) -> String {
        format!("{},{}", self.intake.service_public_text(INTAKE), self.aggregation.service_public_text(AGGREGATION))
    }

    /// Gives `service` what it needs of these keys: the public keys to trust, besides any `auth` already trusts,
    /// and its own private key, if it calls others.
    pub fn install(&self, service: &str, auth: &mut AuthArgs) {
        let also = |given: &str, ours: String| if given.trim().is_empty() { ours } else { format!("{given},{ours}") };
        auth.auth_public_keys = also(&auth.auth_public_keys, self.issuer.public_text());
        auth.service_public_keys =
            Some(also(auth.service_public_keys.as_deref().unwrap_or_default(), self.service_public_keys()));
        auth.service_key = self.service_key(service).map(Issuer::private_text);
    }

    /// The environment variables that give a service started as a process the same as [`SystemKeys::install`].
    pub fn environment(&self, service: &str) -> Vec<(&'static str, Secret)> {
        let mut variables = vec![
            ("AUTH_PUBLIC_KEYS", Secret::new(self.issuer.public_text())),
            ("SERVICE_PUBLIC_KEYS", Secret::new(self.service_public_keys())),
        ];
        variables.extend(self.service_key(service).map(|key| ("SERVICE_KEY", key.private_text())));
        variables
    }

    /// A national operator's token (every scope, for every service, a day), signed with the issuer key: for the
    /// local run, demos and tests.
    pub fn operator_token(&self) -> Secret {
        Secret::new(self.issuer.issue(&onestop_auth::claims("operator", Role::National, &OPERATOR_SCOPES, 86_400)))
    }

    /// Calls as the national operator of [`SystemKeys::operator_token`].
    pub fn operator(&self) -> Credentials {
        Credentials::token(self.operator_token().expose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_principals_are_forgotten_so_the_limiter_stays_small() {
        // 1,000 calls a second with a burst of 2: a bucket refills within 2 ms of its last call.
        let limiter = Limiter::new(1000.0, 2.0);
        for i in 0..SWEEP_EVERY - 1 {
            assert!(limiter.admit(&format!("one-off-{i}")));
        }
        assert_eq!(limiter.remembered(), SWEEP_EVERY - 1);
        std::thread::sleep(std::time::Duration::from_millis(10));
        // The next call sweeps: the idle ones go, the caller stays.
        assert!(limiter.admit("busy"));
        assert_eq!(limiter.remembered(), 1);
    }

    #[test]
    fn a_call_is_addressed_to_the_service_its_path_names() {
        assert_eq!(audience_of("/onestop.catalogue.v1.CatalogueService/ListSectors"), CATALOGUE);
        assert_eq!(audience_of("/onestop.intake.v1.IntakeService/PushCells"), INTAKE);
        assert_eq!(audience_of("/onestop.aggregation.v1.AggregationService/GetIndicators"), AGGREGATION);
        assert_eq!(audience_of("/health"), "");
    }

    #[test]
    fn a_service_holds_its_own_key_and_only_public_halves_of_the_others() {
        let keys = SystemKeys::generate();
        let secret_of = |key: &Issuer| key.private_text().expose().split_once('=').unwrap().1.to_owned();
        for service in [CATALOGUE, INTAKE, AGGREGATION] {
            let mut auth = AuthArgs::default();
            keys.install(service, &mut auth);
            let own = auth.service_key.as_ref().map(|key| Issuer::parse(key.expose()).unwrap().kid().to_owned());
            assert_eq!(own.as_deref(), keys.service_key(service).map(Issuer::kid), "{service}");
            let everything = format!(
                "{} {} {}",
                auth.auth_public_keys,
                auth.service_public_keys.as_deref().unwrap(),
                auth.service_key.as_ref().map(Secret::expose).unwrap_or_default()
            );
            assert!(!everything.contains(&secret_of(&keys.issuer)), "{service} holds the issuer's key");
            for other in [INTAKE, AGGREGATION].into_iter().filter(|other| *other != service) {
                assert!(
                    !everything.contains(&secret_of(keys.service_key(other).unwrap())),
                    "{service} holds {other}'s"
                );
            }
            // The settings verify what the system signs: principals, and the other services' calls.
            let verifier = Verifier::parse(&auth.auth_public_keys)
                .unwrap()
                .trust_services(auth.service_public_keys.as_deref().unwrap())
                .unwrap();
            let operator = keys.operator_token();
            assert_eq!(verifier.verify(operator.expose(), service, onestop_auth::now()).unwrap().role, Role::National);
            let intake = Credentials::service(INTAKE, &keys.intake).addressed_to(service).header().unwrap();
            let token = intake.strip_prefix("Bearer ").unwrap();
            assert_eq!(verifier.verify(token, service, onestop_auth::now()).unwrap().subject, INTAKE);
        }
    }

    #[test]
    fn credentials_never_print_their_token_or_key() {
        let keys = SystemKeys::generate();
        let operator = keys.operator();
        let token = keys.operator_token();
        assert!(!format!("{operator:?}").contains(token.expose()), "{operator:?}");
        let intake = Credentials::service(INTAKE, &keys.intake).addressed_to(CATALOGUE);
        let seed = keys.intake.private_text().expose().split_once('=').unwrap().1.to_owned();
        assert!(!format!("{intake:?}").contains(&seed), "{intake:?}");
        assert!(format!("{intake:?}").contains(INTAKE), "{intake:?}");
    }
}
