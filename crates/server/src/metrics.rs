//! Prometheus metrics: a small registry of counters, gauges and histograms, each with a fixed set of labels,
//! written in the text exposition format and served over HTTP (`GET /metrics`) on a port of its own
//! (`METRICS_ADDR`). Each service has a registry of its own, so three services in one process keep theirs apart.
//!
//! What every service exports comes from here: its calls ([`RpcMetricsLayer`]), its database pool
//! ([`Registry::watch_pool`]) and the change streams it follows ([`StreamLag`]). Label values are always from small
//! fixed sets (a service's own methods, status codes, outcomes), never from what a caller sends.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use http_body_util::Full;
use hyper_util::rt::TokioIo;
use prost::Message as _;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tonic::codegen::http::{self, HeaderMap};
use tonic::codegen::Bytes;
use tonic::Code;

use crate::serve::StopSignal;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Latency buckets in seconds, from a cached lookup to a report over a province-year.
pub const LATENCY_BUCKETS: [f64; 14] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The metrics of one service. Cloning shares it.
#[derive(Clone, Default)]
pub struct Registry(Arc<RegistryInner>);

#[derive(Default)]
struct RegistryInner {
    /// By name, so the exposition comes out sorted and a metric asked for twice is the same metric.
    families: Mutex<BTreeMap<&'static str, Arc<dyn Render>>>,
    /// Run before each scrape, to set gauges read from elsewhere (the pool, the streams).
    before_scrape: Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.families.lock().expect("metrics lock").keys().copied().collect();
        f.debug_tuple("Registry").field(&names).finish()
    }
}

impl Registry {
    /// A counter family named `name` with `labels`; the same family if it is registered already.
    pub fn counter(&self, name: &'static str, help: &'static str, labels: &'static [&'static str]) -> CounterVec {
        CounterVec(self.family(name, help, labels, &[]))
    }

    pub fn gauge(&self, name: &'static str, help: &'static str, labels: &'static [&'static str]) -> GaugeVec {
        GaugeVec(self.family(name, help, labels, &[]))
    }

    pub fn histogram(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        buckets: &'static [f64],
    ) -> HistogramVec {
        HistogramVec(self.family(name, help, labels, buckets))
    }

    fn family<C: Cell>(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        buckets: &'static [f64],
    ) -> Arc<Family<C>> {
        let mut families = self.0.families.lock().expect("metrics lock");
        if let Some(existing) = families.get(name) {
            let family = existing.clone().into_any().downcast::<Family<C>>();
            let family = family.unwrap_or_else(|_| panic!("metric {name} is registered as another kind"));
            assert_eq!(family.labels, labels, "metric {name} is registered with other labels");
            return family;
        }
        let family = Arc::new(Family { name, help, labels, buckets, series: Mutex::default() });
        families.insert(name, family.clone());
        family
    }

    /// Runs `refresh` before every scrape, for gauges whose value lives elsewhere.
    pub fn before_scrape(&self, refresh: impl Fn() + Send + Sync + 'static) {
        self.0.before_scrape.lock().expect("metrics lock").push(Box::new(refresh));
    }

    /// Exports the use of `pool`: connections open, idle, in use, and the most it opens.
    pub fn watch_pool(&self, pool: &PgPool) {
        let size = self.gauge("onestop_db_pool_size", "Connections the pool holds open.", &[]).with(&[]);
        let idle = self.gauge("onestop_db_pool_idle", "Open connections no request holds.", &[]).with(&[]);
        let in_use = self.gauge("onestop_db_pool_in_use", "Connections requests hold right now.", &[]).with(&[]);
        let max = self.gauge("onestop_db_pool_max", "Most connections the pool opens.", &[]).with(&[]);
        max.set(f64::from(pool.options().get_max_connections()));
        let pool = pool.clone();
        self.before_scrape(move || {
            let (open, idle_now) = (pool.size(), pool.num_idle() as u32);
            size.set(f64::from(open));
            idle.set(f64::from(idle_now));
            in_use.set(f64::from(open.saturating_sub(idle_now)));
        });
    }

    /// Every metric in the text exposition format. A family with no series yet still says its name and type.
    pub fn render(&self) -> String {
        for refresh in self.0.before_scrape.lock().expect("metrics lock").iter() {
            refresh();
        }
        let families: Vec<Arc<dyn Render>> = self.0.families.lock().expect("metrics lock").values().cloned().collect();
        let mut out = String::new();
        for family in families {
            family.render(&mut out);
        }
        out
    }
}

trait Render: Send + Sync + 'static {
    fn render(&self, out: &mut String);
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

/// One kind of series: a counter, a gauge or a histogram.
trait Cell: Send + Sync + 'static {
    const KIND: &'static str;
    fn new(buckets: &[f64]) -> Self;
    fn write(&self, name: &str, labels: &str, buckets: &[f64], out: &mut String);
}

struct Family<C> {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    buckets: &'static [f64],
    series: Mutex<BTreeMap<Vec<String>, Arc<C>>>,
}

impl<C: Cell> Family<C> {
    fn with(&self, values: &[&str]) -> Arc<C> {
        assert_eq!(values.len(), self.labels.len(), "metric {} takes labels {:?}", self.name, self.labels);
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        let mut series = self.series.lock().expect("metrics lock");
        series.entry(key).or_insert_with(|| Arc::new(C::new(self.buckets))).clone()
    }
}

impl<C: Cell> Render for Family<C> {
    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, C::KIND);
        for (values, cell) in self.series.lock().expect("metrics lock").iter() {
            cell.write(self.name, &label_pairs(self.labels, values), self.buckets, out);
        }
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// `a="x",b="y"`, values escaped as the exposition format wants.
fn label_pairs(names: &[&str], values: &[String]) -> String {
    let escape = |v: &str| v.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n");
    names.iter().zip(values).map(|(n, v)| format!("{n}=\"{}\"", escape(v))).collect::<Vec<_>>().join(",")
}

fn braces(labels: &str) -> String {
    if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    }
}

/// A float as the exposition format writes it.
fn number(value: f64) -> String {
    if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        value.to_string()
    }
}

/// A float held in an atomic, as its bits.
#[derive(Default)]
struct AtomicF64(AtomicU64);

impl AtomicF64 {
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }

    fn add(&self, delta: f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + delta).to_bits()));
    }
}

#[derive(Debug)]
pub struct CounterCell(AtomicU64);

impl Cell for CounterCell {
    const KIND: &'static str = "counter";

    fn new(_: &[f64]) -> Self {
        CounterCell(AtomicU64::new(0))
    }

    fn write(&self, name: &str, labels: &str, _: &[f64], out: &mut String) {
        let _ = writeln!(out, "{name}{} {}", braces(labels), self.0.load(Ordering::Relaxed));
    }
}

pub struct GaugeCell(AtomicF64);

impl Cell for GaugeCell {
    const KIND: &'static str = "gauge";

    fn new(_: &[f64]) -> Self {
        GaugeCell(AtomicF64::default())
    }

    fn write(&self, name: &str, labels: &str, _: &[f64], out: &mut String) {
        let _ = writeln!(out, "{name}{} {}", braces(labels), number(self.0.get()));
    }
}

pub struct HistogramCell {
    /// Observations at or below each bucket's bound (not cumulative; summed when written).
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum: AtomicF64,
}

impl Cell for HistogramCell {
    const KIND: &'static str = "histogram";

    fn new(buckets: &[f64]) -> Self {
        HistogramCell {
            buckets: buckets.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicF64::default(),
        }
    }

    fn write(&self, name: &str, labels: &str, bounds: &[f64], out: &mut String) {
        let separator = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, count) in bounds.iter().zip(&self.buckets) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{separator}le=\"{}\"}} {cumulative}", number(*bound));
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{separator}le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), number(self.sum.get()));
        let _ = writeln!(out, "{name}_count{} {count}", braces(labels));
    }
}

impl<C> std::fmt::Debug for Family<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{:?}", self.name, self.labels)
    }
}

#[derive(Clone, Debug)]
pub struct CounterVec(Arc<Family<CounterCell>>);

impl CounterVec {
    /// The series of these label values, in the order the labels were registered.
    pub fn with(&self, values: &[&str]) -> Counter {
        Counter(self.0.with(values))
    }
}

#[derive(Clone, Debug)]
pub struct Counter(Arc<CounterCell>);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0 .0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0 .0.load(Ordering::Relaxed)
    }
}

#[derive(Clone, Debug)]
pub struct GaugeVec(Arc<Family<GaugeCell>>);

impl GaugeVec {
    pub fn with(&self, values: &[&str]) -> Gauge {
        Gauge(self.0.with(values))
    }
}

#[derive(Clone)]
pub struct Gauge(Arc<GaugeCell>);

impl Gauge {
    pub fn set(&self, value: f64) {
        self.0 .0.set(value);
    }

    pub fn add(&self, delta: f64) {
        self.0 .0.add(delta);
    }

    pub fn get(&self) -> f64 {
        self.0 .0.get()
    }
}

#[derive(Clone, Debug)]
pub struct HistogramVec(Arc<Family<HistogramCell>>);

impl HistogramVec {
    pub fn with(&self, values: &[&str]) -> Histogram {
        Histogram { cell: self.0.with(values), bounds: self.0.buckets }
    }
}

#[derive(Clone)]
pub struct Histogram {
    cell: Arc<HistogramCell>,
    bounds: &'static [f64],
}

impl Histogram {
    pub fn observe(&self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|bound| value <= *bound) {
            self.cell.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.cell.count.fetch_add(1, Ordering::Relaxed);
        self.cell.sum.add(value);
    }
}

/// Serves `registry` at `GET /metrics` on `listener` until `stop`.
pub async fn serve_http(listener: TcpListener, registry: Registry, mut stop: StopSignal) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.stopped() => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors, say: the service goes on, and so does the next scrape.
                tracing::warn!(%error, "metrics: accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (registry, mut stop) = (registry.clone(), stop.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let answer = answer(&registry, &request);
                async move { Ok::<_, Infallible>(answer) }
            });
            let connection = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            // A scraper keeps its connection open between scrapes; a stopping service closes it.
            tokio::select! {
                _ = connection => {}
                _ = stop.stopped() => {}
            }
        });
    }
}

fn answer<B>(registry: &Registry, request: &http::Request<B>) -> http::Response<Full<Bytes>> {
    let response = http::Response::builder();
    let response = match (request.method(), request.uri().path()) {
        (&http::Method::GET, "/metrics") => {
            response.header(http::header::CONTENT_TYPE, CONTENT_TYPE).body(Full::from(registry.render()))
        }
        (_, "/metrics") => response.status(http::StatusCode::METHOD_NOT_ALLOWED).body(Full::from("GET only\n")),
        _ => response.status(http::StatusCode::NOT_FOUND).body(Full::from("metrics are at /metrics\n")),
    };
    response.expect("a response of constant parts")
}

/// The labels a call is counted under: its gRPC service and method, when they are the server's own.
type CallLabels = (&'static str, &'static str);

/// Counts and times every call of a server: `onestop_rpc_calls_total` and `onestop_rpc_duration_seconds` by
/// service, method and status code, and `onestop_rpc_in_flight`. A path the server does not serve is counted as
/// `other`, so a caller cannot make up label values. Long-lived streams are counted but not timed: how long a
/// change stream stays open says nothing of latency.
#[derive(Clone)]
pub struct RpcMetricsLayer(Arc<RpcMetrics>);

struct RpcMetrics {
    calls: CounterVec,
    duration: HistogramVec,
    in_flight: GaugeVec,
    /// Path (`/package.Service/Method`) → labels, for every method the server serves.
    known: HashMap<String, CallLabels>,
    long_lived: Vec<String>,
}

/// The label of what is not the server's own.
const OTHER: &str = "other";

impl RpcMetricsLayer {
    /// For a server of `service` (its full gRPC name), whose methods `long_lived` are long-lived streams; health
    /// and reflection are counted under their own service names.
    pub fn new(registry: &Registry, service: &'static str, long_lived: &[&str]) -> RpcMetricsLayer {
        let mut known = HashMap::new();
        for (name, method) in service_methods(service) {
            known.insert(format!("/{name}/{method}"), (name, method));
        }
        for (name, method) in [
            ("grpc.health.v1.Health", "Check"),
            ("grpc.health.v1.Health", "Watch"),
            ("grpc.reflection.v1.ServerReflection", "ServerReflectionInfo"),
            ("grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo"),
        ] {
            known.insert(format!("/{name}/{method}"), (name, method));
        }
        let mut long_lived: Vec<String> = long_lived.iter().map(|m| format!("/{service}/{m}")).collect();
        long_lived.push("/grpc.health.v1.Health/Watch".into());
        let labels = &["service", "method", "code"];
        RpcMetricsLayer(Arc::new(RpcMetrics {
            calls: registry.counter("onestop_rpc_calls_total", "Calls answered, by method and status code.", labels),
            duration: registry.histogram(
                "onestop_rpc_duration_seconds",
                "Time from a call's arrival to its status, by method and status code (long-lived streams excluded).",
                labels,
                &LATENCY_BUCKETS,
            ),
            in_flight: registry.gauge(
                "onestop_rpc_in_flight",
                "Calls under way, streams included.",
                &["service", "method"],
            ),
            known,
            long_lived,
        }))
    }
}

/// The methods of `service` as the onestop descriptor set declares them, with names that live as long as the
/// process (there are a few dozen, made once per server).
fn service_methods(service: &str) -> Vec<(&'static str, &'static str)> {
    let set = prost_types::FileDescriptorSet::decode(onestop_proto::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set compiled into onestop-proto decodes");
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut methods = Vec::new();
    for file in set.file {
        for declared in &file.service {
            let full_name = format!("{}.{}", file.package(), declared.name());
            if full_name == service {
                let name = leak(full_name);
                methods.extend(declared.method.iter().map(|m| (name, leak(m.name().to_owned()))));
            }
        }
    }
    methods
}

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetricsService { inner, metrics: self.0.clone() }
    }
}

#[derive(Clone)]
pub struct RpcMetricsService<S> {
    inner: S,
    metrics: Arc<RpcMetrics>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, ResBody> tower::Service<http::Request<B>> for RpcMetricsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>> + Send,
    S::Future: Send + 'static,
    S::Error: 'static,
    ResBody: 'static,
{
    type Response = http::Response<Metered<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        let labels = self.metrics.known.get(path).copied().unwrap_or((OTHER, OTHER));
        let timed = !self.metrics.long_lived.iter().any(|m| m == path);
        let call = CallRecord::start(self.metrics.clone(), labels, timed);
        let answered = self.inner.call(request);
        Box::pin(async move {
            let mut call = call;
            let response = answered.await?;
            // A refusal comes trailers-only: its status is in the headers, and the body is empty.
            call.code = grpc_status(response.headers());
            Ok(response.map(|body| Metered { body, call: Some(call) }))
        })
    }
}

/// One call being counted; it is recorded when dropped: with the status its answer gave (in its trailers, or in
/// its headers for a refusal), UNKNOWN if its body ended without one, and CANCELLED if it was dropped unfinished
/// (the caller went away, or the server's timeout cut it, which the caller is told as CANCELLED).
struct CallRecord {
    metrics: Arc<RpcMetrics>,
    labels: CallLabels,
    timed: bool,
    started: Instant,
    code: Option<Code>,
    ended: bool,
}

impl CallRecord {
    fn start(metrics: Arc<RpcMetrics>, labels: CallLabels, timed: bool) -> CallRecord {
        metrics.in_flight.with(&[labels.0, labels.1]).add(1.0);
        CallRecord { metrics, labels, timed, started: Instant::now(), code: None, ended: false }
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        let unfinished = if self.ended { Code::Unknown } else { Code::Cancelled };
        let code = code_name(self.code.unwrap_or(unfinished));
        let (service, method) = self.labels;
        self.metrics.in_flight.with(&[service, method]).add(-1.0);
        self.metrics.calls.with(&[service, method, code]).inc();
        if self.timed {
            self.metrics.duration.with(&[service, method, code]).observe(self.started.elapsed().as_secs_f64());
        }
    }
}

fn grpc_status(headers: &HeaderMap) -> Option<Code> {
    let code = headers.get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
    Some(Code::from(code))
}

/// A status code as gRPC spells it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// An answer's body, recording its call once it ends.
pub struct Metered<B> {
    body: B,
    call: Option<CallRecord>,
}

impl<B> tonic::codegen::Body for Metered<B>
where
    B: tonic::codegen::Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(Some(Ok(frame))) => frame.trailers_ref().and_then(grpc_status).map(Some),
            Poll::Ready(None) => Some(None),
            Poll::Ready(Some(Err(_))) | Poll::Pending => None,
        };
        // The trailers' status, if the body ended with them; recorded as the call is dropped, here.
        if let Some(trailer_code) = ended {
            if let Some(mut call) = self.call.take() {
                call.code = trailer_code.or(call.code);
                call.ended = true;
            }
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

/// How far behind its source one followed change stream is, as `onestop_stream_changes_behind`,
/// `onestop_stream_seconds_behind`, `onestop_stream_connected` and `onestop_stream_applied_total`, labelled with the
/// stream's name.
///
/// Changes behind: for a stream whose cursors count its changes (the catalogue's), the source's newest cursor less
/// the one applied; for one whose cursors are positions that cannot be subtracted (intake's), the changes received
/// and not yet applied, a lower bound. Seconds behind: 0 when nothing is known to be pending; else the age, by the
/// source's clock, of the oldest change received and not yet applied, or, when none is in hand, how long the
/// follower has known its source to be ahead.
#[derive(Clone, Debug)]
pub struct StreamLag {
    state: Arc<Mutex<LagState>>,
    applied_total: Counter,
}

#[derive(Debug, Default)]
struct LagState {
    connected: bool,
    /// The source's newest cursor and the one applied, for streams whose cursors count changes.
    source_head: u64,
    applied: u64,
    /// Changes received and not yet applied, and the source time of the oldest of them.
    in_hand: u64,
    oldest_in_hand: Option<SystemTime>,
    /// When the follower learned that its source was ahead, since it last caught up.
    behind_since: Option<Instant>,
}

impl LagState {
    fn changes_behind(&self) -> u64 {
        self.source_head.saturating_sub(self.applied).max(self.in_hand)
    }

    fn seconds_behind(&self, now: SystemTime) -> f64 {
        if let (true, Some(oldest)) = (self.in_hand > 0, self.oldest_in_hand) {
            return now.duration_since(oldest).unwrap_or_default().as_secs_f64();
        }
        match self.behind_since {
            Some(since) if self.changes_behind() > 0 => since.elapsed().as_secs_f64(),
            _ => 0.0,
        }
    }

    fn note_behind(&mut self) {
        if self.changes_behind() == 0 {
            self.behind_since = None;
        } else if self.behind_since.is_none() {
            self.behind_since = Some(Instant::now());
        }
    }
}

impl StreamLag {
    pub fn new(registry: &Registry, stream: &'static str) -> StreamLag {
        let labels = &["stream"];
        let changes = registry
            .gauge(
                "onestop_stream_changes_behind",
                "Changes the stream's source has that are not applied here.",
                labels,
            )
            .with(&[stream]);
        let seconds = registry
            .gauge(
                "onestop_stream_seconds_behind",
                "Age of the oldest change not yet applied here; 0 when caught up.",
                labels,
            )
            .with(&[stream]);
        let connected = registry
            .gauge(
                "onestop_stream_connected",
                "1 while the stream is open, 0 while it is being re-established.",
                labels,
            )
            .with(&[stream]);
        let applied_total = registry
            .counter(
                "onestop_stream_applied_total",
                "Changes applied from the stream (set-aside ones included).",
                labels,
            )
            .with(&[stream]);
        let state: Arc<Mutex<LagState>> = Arc::default();
        let read = state.clone();
        registry.before_scrape(move || {
            let state = read.lock().expect("stream lag lock");
            changes.set(state.changes_behind() as f64);
            seconds.set(state.seconds_behind(SystemTime::now()));
            connected.set(if state.connected { 1.0 } else { 0.0 });
        });
        StreamLag { state, applied_total }
    }

    fn update(&self, change: impl FnOnce(&mut LagState)) {
        let mut state = self.state.lock().expect("stream lag lock");
        change(&mut state);
        state.note_behind();
    }

    /// The stream opened: connected until the guard is dropped (the stream ended, failed, or was given up).
    pub fn connection(&self) -> Connection {
        self.connected(true);
        Connection(self.clone())
    }

    /// The stream opened (true) or ended (false).
    pub fn connected(&self, connected: bool) {
        self.update(|s| {
            s.connected = connected;
            if !connected {
                // What was in hand is read again once the stream is back.
                s.in_hand = 0;
                s.oldest_in_hand = None;
            }
        });
    }

    /// The source's newest cursor, for a stream whose cursors count its changes.
    pub fn source_head(&self, head: u64) {
        self.update(|s| s.source_head = s.source_head.max(head));
    }

    /// The cursor applied so far (as stored, when the follower starts), for a stream whose cursors count changes.
    pub fn applied_cursor(&self, cursor: u64) {
        self.update(|s| {
            s.applied = cursor;
            s.source_head = s.source_head.max(cursor);
        });
    }

    /// `count` changes received and not yet applied, the oldest written at `oldest` by the source's clock.
    pub fn received(&self, count: usize, oldest: Option<SystemTime>) {
        self.update(|s| {
            if s.in_hand == 0 {
                s.oldest_in_hand = oldest;
            }
            s.in_hand += count as u64;
        });
    }

    /// The changes in hand were applied, up to `cursor` when cursors count changes.
    pub fn applied(&self, cursor: Option<u64>) {
        let count = {
            let mut state = self.state.lock().expect("stream lag lock");
            let count = std::mem::take(&mut state.in_hand);
            state.oldest_in_hand = None;
            if let Some(cursor) = cursor {
                state.applied = state.applied.max(cursor);
                state.source_head = state.source_head.max(cursor);
            }
            state.note_behind();
            count
        };
        self.applied_total.add(count);
    }
}

/// An open stream, as [`StreamLag::connection`] counts it.
#[derive(Debug)]
pub struct Connection(StreamLag);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.connected(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_written_in_the_exposition_format() {
        let registry = Registry::default();
        let calls = registry.counter("test_calls_total", "Calls.", &["method", "code"]);
        calls.with(&["PushCells", "OK"]).add(2);
        calls.with(&["Push\"Cells", "OK"]).inc();
        registry.gauge("test_open", "Open.", &[]).with(&[]).set(3.5);
        let latency = registry.histogram("test_seconds", "Latency.", &["method"], &[0.1, 1.0]);
        for seconds in [0.05, 0.5, 0.5, 7.0] {
            latency.with(&["Get"]).observe(seconds);
        }
        registry.counter("test_unused_total", "Never counted.", &["reason"]);
        let text = registry.render();
        for line in [
            "# TYPE test_calls_total counter",
            "test_calls_total{method=\"PushCells\",code=\"OK\"} 2",
            "test_calls_total{method=\"Push\\\"Cells\",code=\"OK\"} 1",
            "test_open 3.5",
            "# TYPE test_seconds histogram",
            "test_seconds_bucket{method=\"Get\",le=\"0.1\"} 1",
            "test_seconds_bucket{method=\"Get\",le=\"1\"} 3",
            "test_seconds_bucket{method=\"Get\",le=\"+Inf\"} 4",
            "test_seconds_sum{method=\"Get\"} 8.05",
            "test_seconds_count{method=\"Get\"} 4",
            "# TYPE test_unused_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }

    #[test]
    fn a_metric_asked_for_twice_is_one_metric() {
        let registry = Registry::default();
        registry.counter("test_total", "Help.", &["a"]).with(&["x"]).inc();
        registry.counter("test_total", "Help.", &["a"]).with(&["x"]).inc();
        assert!(registry.render().contains("test_total{a=\"x\"} 2"));
    }

    #[test]
    #[should_panic(expected = "another kind")]
    fn a_name_is_one_kind_of_metric() {
        let registry = Registry::default();
        registry.counter("test_total", "Help.", &[]);
        registry.gauge("test_total", "Help.", &[]);
    }

    #[test]
    fn the_services_own_methods_are_known_by_name() {
        let methods = service_methods("onestop.intake.v1.IntakeService");
        assert!(methods.contains(&("onestop.intake.v1.IntakeService", "PushCells")), "{methods:?}");
        assert!(service_methods("no.such.Service").is_empty());
    }

    fn gauge(registry: &Registry, series: &str) -> f64 {
        let text = registry.render();
        let line = text.lines().find(|l| l.starts_with(series)).unwrap_or_else(|| panic!("no {series} in\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    #[test]
    fn a_stream_is_behind_by_what_its_source_has_and_it_has_not_applied() {
        let registry = Registry::default();
        let lag = StreamLag::new(&registry, "catalogue");
        let behind = "onestop_stream_changes_behind{stream=\"catalogue\"}";
        let seconds = "onestop_stream_seconds_behind{stream=\"catalogue\"}";
        lag.connected(true);
        lag.applied_cursor(10);
        lag.source_head(14);
        assert_eq!(gauge(&registry, behind), 4.0);
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        lag.received(3, Some(an_hour_ago));
        let age = gauge(&registry, seconds);
        assert!((3599.0..3700.0).contains(&age), "{age}");
        lag.applied(Some(13));
        assert_eq!(gauge(&registry, behind), 1.0);
        lag.received(1, Some(SystemTime::now()));
        lag.applied(Some(14));
        assert_eq!(gauge(&registry, behind), 0.0);
        assert_eq!(gauge(&registry, seconds), 0.0);
        assert_eq!(gauge(&registry, "onestop_stream_applied_total{stream=\"catalogue\"}"), 4.0);
        assert_eq!(gauge(&registry, "onestop_stream_connected{stream=\"catalogue\"}"), 1.0);
    }

    #[test]
    fn a_stream_without_countable_cursors_is_behind_by_what_it_holds() {
        let registry = Registry::default();
        let lag = StreamLag::new(&registry, "intake");
        lag.received(5000, Some(SystemTime::now() - Duration::from_secs(30)));
        assert_eq!(gauge(&registry, "onestop_stream_changes_behind{stream=\"intake\"}"), 5000.0);
        assert!(gauge(&registry, "onestop_stream_seconds_behind{stream=\"intake\"}") >= 30.0);
        lag.applied(None);
        assert_eq!(gauge(&registry, "onestop_stream_changes_behind{stream=\"intake\"}"), 0.0);
        assert_eq!(gauge(&registry, "onestop_stream_seconds_behind{stream=\"intake\"}"), 0.0);
    }
}
