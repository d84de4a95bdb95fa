//! Tracing for every service: log lines on stdout, one span per RPC, and OpenTelemetry traces exported over
//! OTLP when an endpoint is configured.
//!
//! The W3C trace context travels in gRPC metadata: servers continue the caller's trace ([`rpc_span`]), and
//! clients pass on the trace of the span they are called in ([`TraceContextInjector`]), so one trace shows a
//! push from intake into catalogue.

use anyhow::Context as _;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{global, Context};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tonic::codegen::http;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::TelemetryArgs;

/// Keeps the tracer provider alive; dropping it flushes the spans not yet exported.
#[must_use = "dropping the guard shuts telemetry down"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("telemetry shutdown: {error}");
        }
    }
}

/// Installs the global subscriber of a service binary. Spans get trace ids (and propagate) even when nothing is
/// exported, so traces stay whole across services whichever of them export.
pub fn init(service_name: &'static str, args: &TelemetryArgs) -> anyhow::Result<TelemetryGuard> {
    let mut builder =
        SdkTracerProvider::builder().with_resource(Resource::builder().with_service_name(service_name).build());
    if let Some(endpoint) = &args.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .context("building the OTLP span exporter")?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    install(provider.clone(), &args.log_filter)?;
    Ok(TelemetryGuard { provider })
}

/// Installs `provider` behind the global tracing subscriber, with log lines filtered by `log_filter`.
/// Tests use it with an in-memory exporter.
pub fn install(provider: SdkTracerProvider, log_filter: &str) -> anyhow::Result<()> {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let tracer = provider.tracer("onestop");
    global::set_tracer_provider(provider);
    let filter = EnvFilter::try_new(log_filter).with_context(|| format!("log filter {log_filter:?}"))?;
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer())
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init()
        .context("installing the tracing subscriber")
}

/// The span of one incoming RPC, continuing the caller's trace when its request carries one.
pub fn rpc_span(request: &http::Request<()>) -> tracing::Span {
    let path = request.uri().path();
    let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
    let span = tracing::info_span!(
        "rpc",
        otel.name = %path.trim_start_matches('/'),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
    );
    let parent = global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(request.headers())));
    // Fails only when no OpenTelemetry layer is installed, in which case there is no trace to continue.
    let _ = span.set_parent(parent);
    span
}

/// Writes the current span's trace context into gRPC metadata.
pub fn inject_current_context(metadata: &mut MetadataMap) {
    let context: Context = tracing::Span::current().context();
    global::get_text_map_propagator(|p| p.inject_context(&context, &mut MetadataInjector(metadata)));
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (MetadataKey::from_bytes(key.as_bytes()), MetadataValue::try_from(value)) {
            self.0.insert(key, value);
        }
    }
}
