//! Shared pieces of the system tests: the reference data of a small province, a running stack on a fresh
//! database, and spans recorded in memory so a test can follow a trace across services.

pub mod model;

use std::sync::OnceLock;

use onestop_local::{Addresses, Stack};
use onestop_proto::catalogue::v1::*;
use onestop_server::config::{ServerArgs, TelemetryArgs};
pub use onestop_testkit::fixtures::*;
use onestop_testkit::TestDatabase;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};

/// A running system on its own fresh database. Drop order matters: the stack before the database.
pub struct TestSystem {
    pub stack: Stack,
    pub database: TestDatabase,
}

impl TestSystem {
    /// Starts the system, or returns `None` when no database is available locally (see `onestop_testkit`).
    pub async fn start() -> Option<TestSystem> {
        Self::start_configured(|_| {}).await
    }

    /// Starts the system with settings of the test's own, on top of the defaults.
    pub async fn start_configured(configure: impl FnOnce(&mut ServerArgs)) -> Option<TestSystem> {
        let database = onestop_testkit::database().await?;
        let mut server = ServerArgs::for_database(database.url());
        server.health_check_interval_ms = 200;
        configure(&mut server);
        let stack = Stack::start_with(server, Addresses::any_free_port()).await.expect("starting the stack");
        Some(TestSystem { stack, database })
    }
}

impl TestSystem {
    /// Stops every service gracefully and starts them again on the same database, on new ports.
    pub async fn restart(self) -> TestSystem {
        let TestSystem { stack, database } = self;
        stack.shutdown().await.expect("a clean shutdown");
        let mut server = ServerArgs::for_database(database.url());
        server.health_check_interval_ms = 200;
        let stack = Stack::start_with(server, Addresses::any_free_port()).await.expect("restarting the stack");
        TestSystem { stack, database }
    }

    /// Starts the system with the fixture province loaded: units, sectors, centers and what they receive,
    /// agencies, the decision of three procedures, and the 2025–2026 calendars.
    pub async fn start_with_province() -> Option<TestSystem> {
        Self::start_with_province_configured(|_| {}).await
    }

    /// [`TestSystem::start_with_province`] with settings of the test's own.
    pub async fn start_with_province_configured(configure: impl FnOnce(&mut ServerArgs)) -> Option<TestSystem> {
        let system = TestSystem::start_configured(configure).await?;
        let mut catalogue = system.stack.catalogue_client();
        catalogue.upsert_units(UpsertUnitsRequest { units: units() }).await.unwrap();
        catalogue.upsert_sectors(UpsertSectorsRequest { sectors: sectors() }).await.unwrap();
        catalogue.upsert_centers(UpsertCentersRequest { centers: centers() }).await.unwrap();
        catalogue.upsert_agencies(UpsertAgenciesRequest { agencies: agencies() }).await.unwrap();
        catalogue.publish_decision(PublishDecisionRequest { decision: Some(decision()) }).await.unwrap();
        for center in [COMMUNE_CENTER, PROVINCIAL_CENTER] {
            catalogue.set_center_procedures(center_procedures(center)).await.unwrap();
        }
        let calendar = onestop_generator::calendar::to_csv([2025, 2026]);
        catalogue.load_calendar_csv(LoadCalendarCsvRequest { content: calendar.into_bytes() }).await.unwrap();
        Some(system)
    }
}

/// Installs, once per test process, a tracing subscriber that records every span in memory.
pub fn recorded_spans() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
        onestop_server::telemetry::install(provider, &TelemetryArgs::default()).expect("installing telemetry");
        exporter
    })
}

/// The finished spans of one trace.
pub fn spans_of_trace(trace_id: opentelemetry::trace::TraceId) -> Vec<SpanData> {
    recorded_spans()
        .get_finished_spans()
        .expect("reading recorded spans")
        .into_iter()
        .filter(|span| span.span_context.trace_id() == trace_id)
        .collect()
}

/// Polls `probe` until it returns something, for at most about twenty seconds.
pub async fn eventually<T, F, Fut>(mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..400 {
        if let Some(found) = probe().await {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("not reached within twenty seconds")
}
