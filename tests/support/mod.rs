//! Shared pieces of the system tests: the reference data of a small province, a running stack on a fresh
//! database, and spans recorded in memory so a test can follow a trace across services.

use std::sync::OnceLock;

use onestop_local::{Addresses, Stack};
use onestop_proto::catalogue::v1::*;
use onestop_server::config::ServerArgs;
use onestop_testkit::TestDatabase;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};

/// The province, a commune under it, and their centers.
pub const PROVINCE: &str = "46";
pub const COMMUNE: &str = "19753";
pub const PROVINCIAL_CENTER: &str = "TTPVHCC-46";
pub const COMMUNE_CENTER: &str = "BPMC-19753";

/// Three procedures: fully online, partly online, and without online service.
pub const FULL_PROCEDURE: &str = "1.000948";
pub const PARTIAL_PROCEDURE: &str = "2.001218.000.00.00.H38";
pub const OFFLINE_PROCEDURE: &str = "1.004227";

/// A running system on its own fresh database. Drop order matters: the stack before the database.
pub struct TestSystem {
    pub stack: Stack,
    pub database: TestDatabase,
}

impl TestSystem {
    /// Starts the system, or returns `None` when no database is available locally (see `onestop_testkit`).
    pub async fn start() -> Option<TestSystem> {
        let database = onestop_testkit::database().await?;
        let mut server = ServerArgs::for_database(database.url());
        server.health_check_interval_ms = 200;
        let stack = Stack::start_with(server, Addresses::any_free_port())
            .await
            .expect("starting the stack");
        Some(TestSystem { stack, database })
    }
}

/// Installs, once per test process, a tracing subscriber that records every span in memory.
pub fn recorded_spans() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        onestop_server::telemetry::install(provider, "info").expect("installing telemetry");
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

pub fn units() -> Vec<AdministrativeUnit> {
    vec![
        AdministrativeUnit {
            code: PROVINCE.into(),
            name: "Tỉnh Quảng Trị".into(),
            level: UnitLevel::Province as i32,
            parent_code: String::new(),
            valid_from: "2025-07-01".into(),
            valid_to: String::new(),
        },
        AdministrativeUnit {
            code: COMMUNE.into(),
            name: "Phường Đồng Hới".into(),
            level: UnitLevel::Commune as i32,
            parent_code: PROVINCE.into(),
            valid_from: "2025-07-01".into(),
            valid_to: String::new(),
        },
    ]
}

pub fn centers() -> Vec<Center> {
    vec![
        Center {
            code: PROVINCIAL_CENTER.into(),
            name: "Trung tâm Phục vụ hành chính công tỉnh".into(),
            unit_code: PROVINCE.into(),
        },
        Center {
            code: COMMUNE_CENTER.into(),
            name: "Bộ phận Một cửa phường Đồng Hới".into(),
            unit_code: COMMUNE.into(),
        },
    ]
}

pub fn procedure(code: &str, name: &str, online_level: OnlineLevel) -> Procedure {
    Procedure {
        code: code.into(),
        name: name.into(),
        sector_code: "HOTICH".into(),
        implementing_levels: vec![ImplementingLevel::Commune as i32],
        implementing_agency: "UBND cấp xã".into(),
        processing_time: Some(ProcessingTime {
            value: 3,
            unit: TimeUnit::WorkingDays as i32,
        }),
        has_fees: false,
        online_level: online_level as i32,
        legacy_online_level: 0,
        postal_filing: true,
        postal_return: true,
        ..Default::default()
    }
}

/// A decision announcing the three procedures, in force from 1 January 2026.
pub fn decision() -> PublicationDecision {
    let new = |procedure| DecisionItem {
        action: DecisionAction::New as i32,
        procedure: Some(procedure),
        ..Default::default()
    };
    PublicationDecision {
        number: "125/QĐ-UBND".into(),
        signed_on: "2025-12-20".into(),
        issuer: "Chủ tịch UBND tỉnh".into(),
        effective_from: "2026-01-01".into(),
        items: vec![
            new(procedure(
                FULL_PROCEDURE,
                "Đăng ký khai sinh",
                OnlineLevel::Full,
            )),
            new(procedure(
                PARTIAL_PROCEDURE,
                "Đăng ký kết hôn",
                OnlineLevel::Partial,
            )),
            new(procedure(
                OFFLINE_PROCEDURE,
                "Chứng thực bản sao",
                OnlineLevel::None,
            )),
        ],
    }
}
