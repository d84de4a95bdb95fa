//! What a server admits once a caller's credential has passed the gate: nothing while its database is
//! unreachable (and a unary call under way when it is found so ends then), unary calls up to the concurrency
//! limit (the rest wait their turn), and long-lived streams up to a cap per server and per principal, each
//! counted for its whole life rather than until its first answer.
//!
//! It also rewrites the few statuses tonic itself produces for a caller's bad request, so that a caller is never
//! told INTERNAL for its own mistake: an undecodable message is INVALID_ARGUMENT and a message over the size
//! limit RESOURCE_EXHAUSTED, whether the status travels in the headers (a refused unary call) or in the trailers
//! (a stream that met a bad message half-way).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tonic::codegen::http::{self, HeaderMap, HeaderValue};
use tonic::server::NamedService;
use tonic::{Code, Status};

use crate::auth::Principal;
use crate::config::ServerArgs;

/// Whether the service's database answers, as its health watcher last saw it.
#[derive(Debug, Clone)]
pub struct DatabaseState(Arc<watch::Sender<bool>>);

impl Default for DatabaseState {
    /// Reachable: a service starts only once its migrations have run.
    fn default() -> Self {
        DatabaseState(Arc::new(watch::Sender::new(true)))
    }
}

impl DatabaseState {
    pub fn set(&self, reachable: bool) {
        self.0.send_if_modified(|current| std::mem::replace(current, reachable) != reachable);
    }

    pub fn is_reachable(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes once the database is found unreachable (at once if it is now).
    pub async fn unreachable(&self) {
        // The sender lives as long as `self`, so waiting cannot fail.
        let _ = self.0.subscribe().wait_for(|reachable| !reachable).await;
    }
}

/// The limits of one server.
#[derive(Debug)]
pub struct Limits {
    calls: Arc<Semaphore>,
    streams: Arc<Semaphore>,
    max_streams: usize,
    max_streams_per_principal: usize,
    /// Streams open per principal; a principal with none open has no entry, so the map stays as small as the
    /// number of principals streaming right now.
    open_streams: Mutex<HashMap<String, usize>>,
    /// The methods whose calls are long-lived streams.
    long_lived: &'static [&'static str],
    database: DatabaseState,
}

impl Limits {
    pub fn new(args: &ServerArgs, long_lived: &'static [&'static str], database: DatabaseState) -> Arc<Limits> {
        Arc::new(Limits {
            calls: Arc::new(Semaphore::new(args.concurrency_limit.max(1))),
            streams: Arc::new(Semaphore::new(args.max_streams.max(1))),
            max_streams: args.max_streams.max(1),
            max_streams_per_principal: args.max_streams_per_principal.max(1),
            open_streams: Mutex::default(),
            long_lived,
            database,
        })
    }

    /// Opens a stream for `subject`, or says which cap it is over.
    fn open_stream(self: &Arc<Self>, subject: &str) -> Result<Permit, Status> {
        let Ok(server) = self.streams.clone().try_acquire_owned() else {
            return Err(Status::resource_exhausted(format!(
                "this server has {} long-lived streams open, its limit; retry later",
                self.max_streams
            )));
        };
        let mut open = self.open_streams.lock().expect("the stream count's lock is never poisoned");
        let count = open.entry(subject.to_owned()).or_default();
        if *count >= self.max_streams_per_principal {
            return Err(Status::resource_exhausted(format!(
                "{subject} has {} long-lived streams open, its limit; close one first",
                self.max_streams_per_principal
            )));
        }
        *count += 1;
        Ok(Permit::Stream { _server: server, subject: subject.to_owned(), limits: self.clone() })
    }

    fn close_stream(&self, subject: &str) {
        let mut open = self.open_streams.lock().expect("the stream count's lock is never poisoned");
        if let Some(count) = open.get_mut(subject) {
            *count -= 1;
            if *count == 0 {
                open.remove(subject);
            }
        }
    }

    /// Streams open for `subject` right now.
    pub fn streams_of(&self, subject: &str) -> usize {
        self.open_streams.lock().expect("the stream count's lock is never poisoned").get(subject).copied().unwrap_or(0)
    }
}

/// A place under a limit, held until the answer's body has been sent in full.
#[derive(Debug)]
enum Permit {
    Call(#[allow(dead_code)] OwnedSemaphorePermit),
    Stream { _server: OwnedSemaphorePermit, subject: String, limits: Arc<Limits> },
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Permit::Stream { subject, limits, .. } = self {
            limits.close_stream(subject);
        }
    }
}

/// A service behind [`Limits`]; it sits behind the credential gate, so every call carries its principal.
#[derive(Debug, Clone)]
pub struct Admitted<S> {
    inner: S,
    limits: Arc<Limits>,
}

impl<S> Admitted<S> {
    pub fn new(inner: S, limits: Arc<Limits>) -> Self {
        Admitted { inner, limits }
    }
}

impl<S: NamedService> NamedService for Admitted<S> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for Admitted<S>
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

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // The clone that was made ready serves this call; the fresh clone stays for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let limits = self.limits.clone();
        let method = request.uri().path().rsplit('/').next().unwrap_or_default();
        let long_lived = limits.long_lived.contains(&method);
        let subject = request.extensions().get::<Principal>().map(|p| p.subject.clone()).unwrap_or_default();
        Box::pin(async move {
            if !limits.database.is_reachable() {
                return Ok(database_unreachable().into_http());
            }
            let permit = if long_lived {
                match limits.open_stream(&subject) {
                    Ok(permit) => permit,
                    Err(status) => return Ok(status.into_http()),
                }
            } else {
                Permit::Call(limits.calls.clone().acquire_owned().await.expect("the semaphore is never closed"))
            };
            // A call admitted just before the database went away would otherwise wait out the pool's acquire
            // timeout, past its caller's deadline, to be told the same. Ending it is safe: a handler is already
            // dropped wherever it is when its caller goes away.
            let answered = if long_lived {
                inner.call(request).await
            } else {
                tokio::select! {
                    answered = inner.call(request) => answered,
                    () = limits.database.unreachable() => return Ok(database_unreachable().into_http()),
                }
            };
            let mut response = answered?;
            rewrite_status(response.headers_mut());
            Ok(response.map(|body| tonic::body::Body::new(Held { body, _permit: permit })))
        })
    }
}

fn database_unreachable() -> Status {
    Status::unavailable("the database is unreachable; retry later")
}

/// An answer's body, holding its place under the limits until it has been sent (or the caller went away).
struct Held {
    body: tonic::body::Body,
    _permit: Permit,
}

impl tonic::codegen::Body for Held {
    type Data = tonic::codegen::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(mut frame))) = polled {
            if let Some(trailers) = frame.trailers_mut() {
                rewrite_status(trailers);
            }
            return Poll::Ready(Some(Ok(frame)));
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// What tonic says of a request it could not read, as it says it (the message's start).
const UNREADABLE_REQUEST: [&str; 3] =
    ["failed to decode Protobuf message", "protocol error: received message", "Unexpected EOF decoding stream"];

/// Rewrites tonic's own answers to bad requests: OUT_OF_RANGE (a message over the size limit; no handler answers
/// OUT_OF_RANGE) becomes RESOURCE_EXHAUSTED, as every other limit; INTERNAL for a message that could not be
/// decoded becomes INVALID_ARGUMENT.
pub fn rewrite_status(headers: &mut HeaderMap) {
    let Some(code) = headers.get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i32>().ok())
    else {
        return;
    };
    let rewritten = match Code::from(code) {
        Code::OutOfRange => Code::ResourceExhausted,
        Code::Internal if unreadable_request(headers) => Code::InvalidArgument,
        _ => return,
    };
    headers.insert("grpc-status", HeaderValue::from(rewritten as i32));
}

fn unreadable_request(headers: &HeaderMap) -> bool {
    let Some(message) = headers.get("grpc-message").and_then(|v| v.to_str().ok()) else { return false };
    // grpc-message is percent-encoded; the prefixes compared have no characters that encoding would change
    // but spaces.
    let message = message.replace("%20", " ");
    UNREADABLE_REQUEST.iter().any(|prefix| message.starts_with(prefix))
}

/// The status a handler should pass on when reading the next message of a request stream failed: the same
/// rewrite as [`rewrite_status`], for handlers that answer in their own words.
pub fn incoming_error(status: Status) -> Status {
    match status.code() {
        Code::OutOfRange => Status::resource_exhausted(status.message().to_owned()),
        Code::Internal if UNREADABLE_REQUEST.iter().any(|p| status.message().starts_with(p)) => {
            Status::invalid_argument(format!("a message of the stream is not readable: {}", status.message()))
        }
        _ => status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(code: Code, message: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("grpc-status", HeaderValue::from(code as i32));
        h.insert("grpc-message", HeaderValue::from_str(message).unwrap());
        h
    }

    #[test]
    fn a_callers_bad_message_is_never_internal() {
        let mut h = headers(Code::Internal, "failed%20to%20decode%20Protobuf%20message:%20invalid%20wire%20type");
        rewrite_status(&mut h);
        assert_eq!(h["grpc-status"], "3");
        let mut h = headers(Code::OutOfRange, "Error,%20decoded%20message%20length%20too%20large");
        rewrite_status(&mut h);
        assert_eq!(h["grpc-status"], "8");
        let mut h = headers(Code::Internal, "internal%20error");
        rewrite_status(&mut h);
        assert_eq!(h["grpc-status"], "13", "our own failures stay INTERNAL");
    }

    #[tokio::test]
    async fn calls_under_way_learn_when_the_database_is_found_unreachable() {
        let database = DatabaseState::default();
        let waiting = tokio::spawn({
            let database = database.clone();
            async move { database.unreachable().await }
        });
        database.set(true);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "still reachable");
        database.set(false);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await.unwrap().unwrap();
        assert!(!database.is_reachable());
        database.unreachable().await; // at once while it stays so
    }

    #[test]
    fn streams_are_counted_per_principal_and_forgotten_when_closed() {
        let mut args = ServerArgs::for_database("postgres://unused");
        args.max_streams = 3;
        args.max_streams_per_principal = 2;
        let limits = Limits::new(&args, &[], DatabaseState::default());
        let a1 = limits.open_stream("a").unwrap();
        let _a2 = limits.open_stream("a").unwrap();
        assert_eq!(limits.open_stream("a").unwrap_err().code(), Code::ResourceExhausted);
        let b1 = limits.open_stream("b").unwrap();
        assert_eq!(limits.open_stream("c").unwrap_err().code(), Code::ResourceExhausted, "the server's cap");
        drop(a1);
        drop(b1);
        assert_eq!(limits.streams_of("a"), 1);
        assert_eq!(limits.streams_of("b"), 0);
        assert!(!limits.open_streams.lock().unwrap().contains_key("b"), "a principal with no stream is forgotten");
        let _c = limits.open_stream("c").unwrap();
    }
}
