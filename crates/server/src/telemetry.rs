//! Tracing for every service: log lines on stdout (text or JSON), one span per RPC, and OpenTelemetry traces
//! exported over OTLP when an endpoint is configured. Log lines and exported spans have filters of their own,
//! so a quiet log level does not silence traces.
//!
//! The W3C trace context travels in gRPC metadata: servers continue the caller's trace ([`rpc_span`]), and
//! clients pass on the trace of the span they are called in ([`TraceContextInjector`]), so one trace shows a
//! push from intake into catalogue.

use std::io::IsTerminal;

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
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, TelemetryArgs};

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
    install(provider.clone(), args)?;
    Ok(TelemetryGuard { provider })
}

/// Installs `provider` behind the global tracing subscriber, with log lines on stdout and spans filtered as
/// `args` say (its endpoint is not read: the provider has its exporter already). Tests use it with an in-memory
/// exporter.
pub fn install(provider: SdkTracerProvider, args: &TelemetryArgs) -> anyhow::Result<()> {
    // Colours on a terminal only: in a file or a log shipper, escape codes are noise.
    let subscriber = subscriber(&provider, args, std::io::stdout, std::io::stdout().is_terminal())?;
    global::set_text_map_propagator(TraceContextPropagator::new());
    global::set_tracer_provider(provider);
    subscriber.try_init().context("installing the tracing subscriber")
}

/// Log lines written to `log_writer` (text in colour when `colour`) and spans recorded by `provider`, each behind
/// its own filter: a filter on the whole subscriber would drop the spans of every RPC at `RUST_LOG=warn`.
fn subscriber<W>(
    provider: &SdkTracerProvider,
    args: &TelemetryArgs,
    log_writer: W,
    colour: bool,
) -> anyhow::Result<impl Subscriber + Send + Sync + 'static>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let log_filter = filter("log filter", &args.log_filter)?;
    let trace_filter = filter("trace filter", &args.trace_filter)?;
    let log_lines = match args.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_ansi(colour).with_writer(log_writer).boxed(),
        // Fields at the top level of each object, where log shippers index them.
        LogFormat::Json => tracing_subscriber::fmt::layer().json().flatten_event(true).with_writer(log_writer).boxed(),
    };
    let spans = tracing_opentelemetry::layer().with_tracer(provider.tracer("onestop"));
    Ok(tracing_subscriber::registry().with(log_lines.with_filter(log_filter)).with(spans.with_filter(trace_filter)))
}

fn filter(what: &str, directives: &str) -> anyhow::Result<EnvFilter> {
    EnvFilter::try_new(directives).with_context(|| format!("{what} {directives:?}"))
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use opentelemetry_sdk::trace::InMemorySpanExporter;

    use super::*;

    /// Log lines written in memory.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// Runs `body` under the subscriber `args` describe, writing to memory as to a file (no colour); returns the
    /// log lines and the names of exported spans.
    fn run_with(args: &TelemetryArgs, body: impl FnOnce()) -> (String, Vec<String>) {
        run_coloured(args, false, body)
    }

    fn run_coloured(args: &TelemetryArgs, colour: bool, body: impl FnOnce()) -> (String, Vec<String>) {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = subscriber(&provider, args, move || writer.clone(), colour).unwrap();
        tracing::subscriber::with_default(subscriber, body);
        let spans = exporter.get_finished_spans().unwrap().into_iter().map(|span| span.name.into_owned()).collect();
        (lines.text(), spans)
    }

    fn an_rpc() {
        let request =
            http::Request::builder().uri("/onestop.catalogue.v1.CatalogueService/ListUnits").body(()).unwrap();
        let _span = rpc_span(&request).entered();
        tracing::info!("served");
        tracing::warn!("slow");
    }

    #[test]
    fn rpc_spans_are_exported_when_the_log_level_is_warn() {
        let args = TelemetryArgs { log_filter: "warn".into(), ..TelemetryArgs::default() };
        let (lines, spans) = run_with(&args, an_rpc);
        assert_eq!(spans, ["onestop.catalogue.v1.CatalogueService/ListUnits"]);
        assert!(lines.contains("slow"), "{lines}");
        assert!(!lines.contains("served"), "info lines are filtered out at warn: {lines}");
    }

    #[test]
    fn the_trace_filter_decides_which_spans_are_exported() {
        let args = TelemetryArgs { trace_filter: "warn".into(), ..TelemetryArgs::default() };
        let (lines, spans) = run_with(&args, an_rpc);
        assert!(spans.is_empty(), "{spans:?}");
        assert!(lines.contains("served"), "the log filter is still info: {lines}");
    }

    #[test]
    fn log_lines_are_json_objects_when_the_format_is_json() {
        let args = TelemetryArgs { log_format: LogFormat::Json, ..TelemetryArgs::default() };
        let (lines, _) = run_with(&args, || {
            let _span = tracing::info_span!("push", sender = "egov-46").entered();
            tracing::warn!(cells = 3, "stale snapshot");
        });
        let line: serde_json::Value = serde_json::from_str(lines.trim_end()).expect("one JSON object");
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "stale snapshot");
        assert_eq!(line["cells"], 3);
        assert_eq!(line["span"]["name"], "push");
        assert_eq!(line["span"]["sender"], "egov-46");
    }

    #[test]
    fn log_lines_carry_colour_codes_only_for_a_terminal() {
        let args = TelemetryArgs::default();
        let (plain, _) = run_with(&args, an_rpc);
        assert!(plain.contains("WARN") && !plain.contains('\x1b'), "{plain:?}");
        let (coloured, _) = run_coloured(&args, true, an_rpc);
        assert!(coloured.contains('\x1b'), "{coloured:?}");
    }

    #[test]
    fn a_malformed_filter_is_refused_by_name() {
        let args = TelemetryArgs { trace_filter: "onestop=loud".into(), ..TelemetryArgs::default() };
        let provider = SdkTracerProvider::builder().build();
        let error = subscriber(&provider, &args, std::io::sink, false).err().expect("refused");
        assert!(error.to_string().contains("trace filter"), "{error}");
    }
}
