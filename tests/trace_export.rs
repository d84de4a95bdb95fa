//! Traces reach a real OTLP/gRPC receiver with production settings: a service whose log level is `warn` still
//! exports the span of every RPC. Telemetry is installed the way the binaries install it, once per process,
//! so this file is a test binary of its own.

use std::sync::{Arc, Mutex};

use onestop_proto::catalogue::v1::ListSectorsRequest;
use onestop_server::auth::Credentials;
use onestop_server::config::{ServerArgs, TelemetryArgs};
use onestop_server::{client, telemetry};
use onestop_testkit::RunningService;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tonic::transport::server::TcpIncoming;

/// An OTLP trace receiver keeping every export request it is sent.
#[derive(Clone, Default)]
struct Receiver {
    exports: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.exports.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

/// A received span: the service that sent it, its name and its kind.
#[derive(Debug, PartialEq)]
struct ReceivedSpan {
    service: String,
    name: String,
    kind: SpanKind,
}

impl Receiver {
    /// Serves on a free loopback port; returns the endpoint to export to.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding a free port");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let server = tonic::transport::Server::builder().add_service(TraceServiceServer::new(self.clone()));
        tokio::spawn(server.serve_with_incoming(TcpIncoming::from(listener)));
        endpoint
    }

    fn spans(&self) -> Vec<ReceivedSpan> {
        let exports = self.exports.lock().unwrap();
        let mut spans = Vec::new();
        for resource_spans in exports.iter().flat_map(|export| &export.resource_spans) {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|attribute| attribute.key == "service.name")
                .and_then(|attribute| attribute.value.as_ref()?.value.as_ref())
                .map(|value| match value {
                    Value::StringValue(name) => name.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for span in resource_spans.scope_spans.iter().flat_map(|scope| &scope.spans) {
                let kind = SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified);
                spans.push(ReceivedSpan { service: service.clone(), name: span.name.clone(), kind });
            }
        }
        spans
    }
}

// Several threads: the exporter's channel runs on this runtime while dropping the guard blocks one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_spans_reach_the_otlp_receiver_when_the_log_level_is_warn() {
    let Some(database) = onestop_testkit::database().await else { return };
    let receiver = Receiver::default();
    let endpoint = receiver.start().await;
    let settings =
        TelemetryArgs { log_filter: "warn".into(), otlp_endpoint: Some(endpoint), ..TelemetryArgs::default() };
    let guard = telemetry::init("onestop-catalogue", &settings).expect("installing telemetry");

    let keys = onestop_server::auth::SystemKeys::generate();
    let mut server = ServerArgs::for_database(database.url());
    keys.install(onestop_server::auth::CATALOGUE, &mut server.auth);
    let operator = Credentials::token(keys.operator_token().expose());
    let catalogue = RunningService::spawn(|listener, shutdown| {
        onestop_catalogue::run(onestop_catalogue::Config { server }, listener, shutdown)
    })
    .await;
    let mut client = client::catalogue(&catalogue.url(), None, &operator).unwrap();
    client.list_sectors(ListSectorsRequest {}).await.expect("listing sectors");

    // Stopping the service ends every RPC's span; dropping the guard exports the spans not yet sent.
    catalogue.stop().await.expect("a clean shutdown");
    tokio::task::spawn_blocking(move || drop(guard)).await.unwrap();

    let expected = ReceivedSpan {
        service: "onestop-catalogue".into(),
        name: "onestop.catalogue.v1.CatalogueService/ListSectors".into(),
        kind: SpanKind::Server,
    };
    let spans = receiver.spans();
    assert!(spans.contains(&expected), "{spans:#?}");
}
