//! Each service's Prometheus metrics, scraped over HTTP as Prometheus would: calls by method and status code with
//! their latencies, intake's cells by outcome and why cells were rejected, the change streams' lag, and the pool.

use std::time::Duration;

use onestop_proto::aggregation::v1::{DayRange, GetIndicatorsRequest};
use onestop_proto::catalogue::v1::CheckReferencesRequest;
use onestop_proto::intake::v1::*;
use onestop_server::auth::Credentials;
use onestop_server::client::{self, TracedChannel};
use onestop_system_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::{Code, Status};

const INTAKE: &str = "onestop.intake.v1.IntakeService";

/// One scrape of a service's `/metrics`.
struct Scrape {
    status_line: String,
    content_type: String,
    body: String,
}

impl Scrape {
    async fn of(addr: std::net::SocketAddr, path: &str) -> Scrape {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("the metrics port accepts");
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).await.unwrap();
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        let content_type = head
            .lines()
            .find_map(|l| l.strip_prefix("content-type: ").or_else(|| l.strip_prefix("Content-Type: ")))
            .unwrap_or_default();
        Scrape {
            status_line: head.lines().next().unwrap_or_default().to_owned(),
            content_type: content_type.to_owned(),
            body: body.to_owned(),
        }
    }

    /// The value of one series, written exactly as the exposition writes it (`name{a="x",b="y"}`).
    fn value(&self, series: &str) -> Option<f64> {
        self.body.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    fn expect(&self, series: &str) -> f64 {
        self.value(series).unwrap_or_else(|| panic!("no {series} in\n{}", self.body))
    }

    fn has_series_starting(&self, prefix: &str) -> bool {
        self.body.lines().any(|line| line.starts_with(prefix))
    }
}

fn cell(center: &str, procedure: &str, day: &str, received: i64) -> DailyCell {
    DailyCell {
        center_code: center.into(),
        procedure_code: procedure.into(),
        day: day.into(),
        measures: Some(Measures { received_direct: received, pending_in_time: received, ..Default::default() }),
        computed_at: None,
    }
}

/// Four good cells, and five each wrong in one way: an unknown center, a procedure not in the catalogue, a day in
/// the future, a negative count, and a repeat of the first cell.
fn mixed_push() -> PushCellsRequest {
    let mut cells: Vec<DailyCell> =
        (2..6).map(|d| cell(COMMUNE_CENTER, FULL_PROCEDURE, &format!("2026-03-0{d}"), d)).collect();
    cells.push(cell("BPMC-NOWHERE", FULL_PROCEDURE, "2026-03-02", 1));
    cells.push(cell(COMMUNE_CENTER, "9.999999", "2026-03-02", 1));
    cells.push(cell(COMMUNE_CENTER, FULL_PROCEDURE, "2099-01-01", 1));
    cells.push(cell(COMMUNE_CENTER, FULL_PROCEDURE, "2026-03-07", -1));
    cells.push(cell(COMMUNE_CENTER, FULL_PROCEDURE, "2026-03-02", 2));
    PushCellsRequest { sender: "egov-46".into(), cells, ..Default::default() }
}

/// A codec of empty messages, to call methods no generated client has.
#[derive(Debug, Clone, Copy, Default)]
struct EmptyCodec;

impl Encoder for EmptyCodec {
    type Item = ();
    type Error = Status;

    fn encode(&mut self, _: (), _: &mut EncodeBuf<'_>) -> Result<(), Status> {
        Ok(())
    }
}

impl Decoder for EmptyCodec {
    type Item = ();
    type Error = Status;

    fn decode(&mut self, _: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        Ok(Some(()))
    }
}

impl Codec for EmptyCodec {
    type Encode = ();
    type Decode = ();
    type Encoder = EmptyCodec;
    type Decoder = EmptyCodec;

    fn encoder(&mut self) -> EmptyCodec {
        EmptyCodec
    }

    fn decoder(&mut self) -> EmptyCodec {
        EmptyCodec
    }
}

async fn call_path(channel: TracedChannel, path: &'static str) -> Status {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let answered = grpc.unary(tonic::Request::new(()), PathAndQuery::from_static(path), EmptyCodec).await;
    answered.expect_err("no such method")
}

/// Scrapes until `holds` says yes, for what the services record just after answering (a feed's counter, a lag
/// gauge); the last scrape either way.
async fn scrape_until(addr: std::net::SocketAddr, holds: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let scrape = Scrape::of(addr, "/metrics").await;
        if holds(&scrape) || tokio::time::Instant::now() > deadline {
            return scrape;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn each_service_serves_its_calls_cells_streams_and_pool_as_prometheus_metrics() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let stack = &system.stack;
    let mut intake = stack.intake_client();

    let first = intake.push_cells(mixed_push()).await.unwrap().into_inner();
    assert_eq!((first.accepted, first.rejected), (4, 5), "{first:?}");
    let again = intake.push_cells(mixed_push()).await.unwrap().into_inner();
    assert_eq!((again.unchanged, again.rejected), (4, 5), "{again:?}");
    // Two more through the bulk stream, which counts its cells as the unary push does.
    let batch = PushCellsRequest {
        sender: "egov-46".into(),
        cells: vec![
            cell(PROVINCIAL_CENTER, FULL_PROCEDURE, "2026-03-02", 7),
            cell(PROVINCIAL_CENTER, FULL_PROCEDURE, "2026-03-03", 8),
        ],
        ..Default::default()
    };
    let request = tokio_stream::iter([PushCellsStreamRequest { batch: Some(batch) }]);
    let mut answers = intake.push_cells_stream(request).await.unwrap().into_inner();
    let mut cursor = String::new();
    while let Some(answer) = answers.message().await.unwrap() {
        cursor = answer.batch.unwrap().cursor;
    }
    // A replayed answer stored nothing and counts nothing.
    let keyed = PushCellsRequest { idempotency_key: "k-1".into(), ..mixed_push() };
    intake.push_cells(keyed.clone()).await.unwrap();
    assert!(intake.push_cells(keyed).await.unwrap().into_inner().replayed);

    // Refused calls are counted with their codes: no credential, and methods the server does not have.
    let anonymous = client::intake(&stack.intake_url(), None, &Credentials::default()).unwrap();
    let refused = anonymous.clone().list_cells(ListCellsRequest::default()).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let channel = client::lazy_channel(&stack.intake_url(), None, &stack.operator().addressed_to("intake")).unwrap();
    assert_eq!(
        call_path(channel.clone(), "/onestop.intake.v1.IntakeService/NoSuchMethod").await.code(),
        Code::Unimplemented
    );
    assert_eq!(call_path(channel, "/made.up.Service/Anything").await.code(), Code::Unimplemented);

    // Aggregation answers once it has applied the pushes and every catalogue change.
    let catalogue_head =
        stack.catalogue_client().check_references(CheckReferencesRequest::default()).await.unwrap().into_inner().cursor;
    let mut aggregation = stack.aggregation_client();
    aggregation
        .get_indicators(GetIndicatorsRequest {
            unit_code: PROVINCE.into(),
            period: Some(DayRange { from_day: "2026-03-01".into(), to_day: "2026-03-31".into() }),
            min_intake_cursor: cursor,
            min_catalogue_cursor: catalogue_head,
            ..Default::default()
        })
        .await
        .unwrap();

    let scrape = Scrape::of(stack.metrics.intake, "/metrics").await;
    assert_eq!(scrape.status_line, "HTTP/1.1 200 OK");
    assert!(scrape.content_type.starts_with("text/plain; version=0.0.4"), "{}", scrape.content_type);

    // Accepted: the first push's four and the stream's two; the keyed push repeats the first push's cells.
    let cells = |outcome: &str| scrape.expect(&format!("onestop_intake_cells_total{{outcome=\"{outcome}\"}}"));
    assert_eq!(cells("accepted"), 6.0);
    assert_eq!(cells("unchanged"), 8.0, "the second push and the keyed one; the replay counts nothing");
    assert_eq!(cells("rejected"), 15.0);
    assert_eq!(cells("stale"), 0.0);
    let rejected =
        |reason: &str| scrape.expect(&format!("onestop_intake_cell_rejections_total{{reason=\"{reason}\"}}"));
    for reason in ["center", "procedure", "day", "measures", "duplicate"] {
        assert_eq!(rejected(reason), 3.0, "{reason}");
    }
    assert_eq!(rejected("other"), 0.0);
    // Bulk waits are counted from the start (how many, here, depends on how fast aggregation followed).
    let waits = scrape.expect("onestop_intake_bulk_waits_total");
    let waited = scrape.expect("onestop_intake_bulk_wait_milliseconds_total");
    assert!(waits >= 0.0 && (waits == 0.0) == (waited == 0.0), "{waits} waits, {waited} ms");

    // Calls by method and code, with a latency histogram for unary calls.
    let calls = |method: &str, code: &str| {
        scrape.value(&format!("onestop_rpc_calls_total{{service=\"{INTAKE}\",method=\"{method}\",code=\"{code}\"}}"))
    };
    assert_eq!(calls("PushCells", "OK"), Some(4.0));
    assert_eq!(calls("PushCellsStream", "OK"), Some(1.0));
    assert_eq!(calls("ListCells", "UNAUTHENTICATED"), Some(1.0));
    let push_latency =
        format!("onestop_rpc_duration_seconds_bucket{{service=\"{INTAKE}\",method=\"PushCells\",code=\"OK\"");
    assert_eq!(scrape.expect(&format!("{push_latency},le=\"+Inf\"}}")), 4.0);
    assert!(scrape.value(&format!("{push_latency},le=\"30\"}}")).is_some(), "every bucket is written");
    assert!(
        !scrape.has_series_starting(&format!(
            "onestop_rpc_duration_seconds_count{{service=\"{INTAKE}\",method=\"PushCellsStream\""
        )),
        "a stream's life is not a latency"
    );
    // What the server does not serve is counted without the caller's own words as labels.
    assert_eq!(
        scrape.value("onestop_rpc_calls_total{service=\"other\",method=\"other\",code=\"UNIMPLEMENTED\"}"),
        Some(2.0)
    );
    assert!(!scrape.body.contains("NoSuchMethod") && !scrape.body.contains("made.up"), "{}", scrape.body);
    // Health is labelled as health, apart from the service's own calls.
    assert!(
        scrape.expect("onestop_rpc_calls_total{service=\"grpc.health.v1.Health\",method=\"Check\",code=\"OK\"}") >= 1.0
    );
    assert_eq!(scrape.value(&format!("onestop_rpc_in_flight{{service=\"{INTAKE}\",method=\"PushCells\"}}")), Some(0.0));

    // Every service: its pool and its database.
    for (name, addr) in [
        ("catalogue", stack.metrics.catalogue),
        ("intake", stack.metrics.intake),
        ("aggregation", stack.metrics.aggregation),
    ] {
        let scrape = Scrape::of(addr, "/metrics").await;
        let size = scrape.expect("onestop_db_pool_size");
        let (idle, in_use) = (scrape.expect("onestop_db_pool_idle"), scrape.expect("onestop_db_pool_in_use"));
        assert!(size >= 1.0, "{name}: {size}");
        assert_eq!(idle + in_use, size, "{name}");
        assert_eq!(scrape.expect("onestop_db_pool_max"), 16.0, "{name}");
        assert_eq!(scrape.expect("onestop_database_reachable"), 1.0, "{name}");
        assert!(scrape.has_series_starting("onestop_rpc_calls_total{"), "{name}");
    }

    // Intake's copy of the catalogue: every push waited for it to apply the catalogue's newest change.
    let copy = Scrape::of(stack.metrics.intake, "/metrics").await;
    let catalogue_changes = copy.expect("onestop_stream_applied_total{stream=\"catalogue\"}");
    assert!(catalogue_changes >= 10.0, "the province's reference data: {catalogue_changes}");
    assert_eq!(copy.expect("onestop_stream_changes_behind{stream=\"catalogue\"}"), 0.0);
    assert_eq!(copy.expect("onestop_stream_connected{stream=\"catalogue\"}"), 1.0);
    // Aggregation's two feeds: intake's changes all applied (six accepted cells), and the same catalogue changes.
    let feeds = scrape_until(stack.metrics.aggregation, |s| {
        s.value("onestop_stream_applied_total{stream=\"intake\"}") == Some(6.0)
            && s.value("onestop_stream_applied_total{stream=\"catalogue\"}") == Some(catalogue_changes)
    })
    .await;
    assert_eq!(feeds.expect("onestop_stream_applied_total{stream=\"intake\"}"), 6.0);
    assert_eq!(feeds.expect("onestop_stream_applied_total{stream=\"catalogue\"}"), catalogue_changes);
    for stream in ["intake", "catalogue"] {
        assert_eq!(feeds.expect(&format!("onestop_stream_changes_behind{{stream=\"{stream}\"}}")), 0.0, "{stream}");
        assert_eq!(feeds.expect(&format!("onestop_stream_seconds_behind{{stream=\"{stream}\"}}")), 0.0, "{stream}");
        assert_eq!(feeds.expect(&format!("onestop_stream_connected{{stream=\"{stream}\"}}")), 1.0, "{stream}");
    }

    let elsewhere = Scrape::of(stack.metrics.catalogue, "/").await;
    assert!(elsewhere.status_line.starts_with("HTTP/1.1 404"), "{}", elsewhere.status_line);
}
