//! A battery of hostile inputs against the three running services: control characters in every kind of text,
//! dates outside 1900–2200 in every date field and page token, unknown enum numbers, absurd numbers, oversized
//! lists, messages over the size limit and bodies that are not protobuf at all, on unary calls and inside the
//! bulk stream. Each is refused with INVALID_ARGUMENT (or RESOURCE_EXHAUSTED for size) naming the field, within a
//! deadline, and none of them changes anything stored.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use onestop_proto::aggregation::v1 as agg;
use onestop_proto::catalogue::v1 as cat;
use onestop_proto::intake::v1 as int;
use onestop_server::client::{AggregationClient, CatalogueClient, IntakeClient, TracedChannel};
use onestop_server::paging;
use onestop_system_tests::*;
use prost::bytes::{Buf, BufMut};
use prost::Message;
use sqlx::PgPool;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::{Code, Status};

/// How long any one hostile call may take before it counts as a hang.
const DEADLINE: Duration = Duration::from_secs(10);
/// Above the services' default MAX_MESSAGE_BYTES of 16 MiB.
const OVERSIZED_BYTES: usize = 17 << 20;

type Outcome = Pin<Box<dyn Future<Output = Result<(), Status>> + Send>>;

/// The clients a case calls with: the generated ones, and raw channels for bodies that are not protobuf.
#[derive(Clone)]
struct Clients {
    catalogue: CatalogueClient,
    intake: IntakeClient,
    aggregation: AggregationClient,
    raw_catalogue: TracedChannel,
    raw_intake: TracedChannel,
    raw_aggregation: TracedChannel,
}

/// One hostile input and what it must get.
struct Case {
    name: String,
    method: &'static str,
    call: Box<dyn FnOnce(Clients) -> Outcome>,
    expected: Code,
    /// A text the answer's message must contain: the field at fault.
    mentions: Option<&'static str>,
}

fn case<F, Fut>(
    name: impl Into<String>,
    method: &'static str,
    expected: Code,
    mentions: Option<&'static str>,
    call: F,
) -> Case
where
    F: FnOnce(Clients) -> Fut + 'static,
    Fut: Future<Output = Result<(), Status>> + Send + 'static,
{
    Case { name: name.into(), method, call: Box::new(move |clients| Box::pin(call(clients))), expected, mentions }
}

/// A unary call of a generated client; the request is built only when the case runs.
macro_rules! unary {
    ($name:expr, $service:ident . $method:ident, $request:expr => $code:ident $(, $mentions:expr)?) => {
        case(
            $name,
            concat!(stringify!($service), ".", stringify!($method)),
            Code::$code,
            None $(.or(Some($mentions)))?,
            move |clients: Clients| {
                let mut client = clients.$service.clone();
                async move { client.$method(with_deadline($request)).await.map(drop) }
            },
        )
    };
}

fn with_deadline<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(DEADLINE);
    request
}

/// Sends and receives messages as the bytes given, so a body need not be protobuf at all.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

#[derive(Debug)]
struct RawEncoder;

#[derive(Debug)]
struct RawDecoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut bytes = vec![0; src.remaining()];
        src.copy_to_slice(&mut bytes);
        Ok(Some(bytes))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

async fn raw_unary(channel: TracedChannel, path: &'static str, body: Vec<u8>) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
    grpc.unary(with_deadline(body), PathAndQuery::from_static(path), RawCodec).await.map(drop)
}

/// Sends `messages` on a PushCellsStream as raw bytes and reads every answer; the stream's error, if any.
async fn raw_push_stream(channel: TracedChannel, messages: Vec<Vec<u8>>) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
    let path = PathAndQuery::from_static("/onestop.intake.v1.IntakeService/PushCellsStream");
    let mut answers = grpc.streaming(with_deadline(tokio_stream::iter(messages)), path, RawCodec).await?.into_inner();
    while answers.message().await?.is_some() {}
    Ok(())
}

/// Pushes `batches` on a PushCellsStream and reads every answer; the stream's error, if any.
async fn push_stream(mut intake: IntakeClient, batches: Vec<int::PushCellsStreamRequest>) -> Result<(), Status> {
    let mut answers = intake.push_cells_stream(with_deadline(tokio_stream::iter(batches))).await?.into_inner();
    while answers.message().await?.is_some() {}
    Ok(())
}

// --- Well-formed requests, each case spoiling one field ---

const NUL: &str = "\u{0}";
const BELL: &str = "\u{7}";
const ESCAPE: &str = "\u{1b}[31m";
/// A day the fixture province has data for.
const DAY: &str = "2026-03-02";

fn many_codes(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("C{i}")).collect()
}

fn unit() -> cat::AdministrativeUnit {
    cat::AdministrativeUnit {
        code: "19999".into(),
        name: "Xã Thử".into(),
        level: cat::UnitLevel::Commune as i32,
        parent_code: PROVINCE.into(),
        valid_from: "2025-07-01".into(),
        valid_to: String::new(),
        predecessor_codes: vec![],
    }
}

fn units(unit: cat::AdministrativeUnit) -> cat::UpsertUnitsRequest {
    cat::UpsertUnitsRequest { units: vec![unit] }
}

fn sector() -> cat::Sector {
    cat::Sector { code: "DATDAI".into(), name: "Đất đai".into() }
}

fn agency() -> cat::Agency {
    cat::Agency {
        code: "STNMT-46".into(),
        name: "Sở Tài nguyên và Môi trường".into(),
        unit_code: PROVINCE.into(),
        kind: cat::AgencyKind::ProvincialDepartment as i32,
    }
}

fn center() -> cat::Center {
    cat::Center {
        code: "BPMC-19999".into(),
        name: "Bộ phận Một cửa xã Thử".into(),
        unit_code: COMMUNE.into(),
        kind: cat::CenterKind::Local as i32,
        parent_center_code: String::new(),
    }
}

fn new_procedure() -> cat::Procedure {
    procedure("1.009999", "Thủ tục thử", cat::OnlineLevel::Full)
}

/// A decision of one new procedure, after `spoil` has changed it.
fn decision_with(spoil: impl FnOnce(&mut cat::PublicationDecision)) -> cat::PublishDecisionRequest {
    let mut decision = cat::PublicationDecision {
        number: "999/QĐ-UBND".into(),
        signed_on: "2026-02-01".into(),
        issuer: "Chủ tịch UBND tỉnh".into(),
        effective_from: "2026-03-01".into(),
        issuing_unit_code: String::new(),
        items: vec![cat::DecisionItem {
            action: cat::DecisionAction::New as i32,
            procedure: Some(new_procedure()),
            ..Default::default()
        }],
    };
    spoil(&mut decision);
    cat::PublishDecisionRequest { decision: Some(decision) }
}

/// The first item's procedure of a decision, after `spoil` has changed it.
fn procedure_with(spoil: impl FnOnce(&mut cat::Procedure)) -> cat::PublishDecisionRequest {
    decision_with(|d| spoil(d.items[0].procedure.as_mut().expect("an item with a procedure")))
}

fn calendar(year: i32, exceptions: Vec<cat::CalendarException>) -> cat::SetCalendarYearRequest {
    cat::SetCalendarYearRequest { year, exceptions }
}

fn holiday(day: &str) -> cat::CalendarException {
    cat::CalendarException { day: day.into(), kind: cat::CalendarDayKind::Holiday as i32, name: "Nghỉ".into() }
}

fn check_references() -> cat::CheckReferencesRequest {
    cat::CheckReferencesRequest::default()
}

fn good_cell() -> int::DailyCell {
    int::DailyCell {
        center_code: COMMUNE_CENTER.into(),
        procedure_code: FULL_PROCEDURE.into(),
        day: DAY.into(),
        measures: Some(int::Measures {
            received_direct: 3,
            received_online: 2,
            resolved_on_time: 4,
            pending_in_time: 1,
            ..Default::default()
        }),
        computed_at: None,
    }
}

fn push(cells: Vec<int::DailyCell>) -> int::PushCellsRequest {
    int::PushCellsRequest { sender: "egov-46".into(), cells, ..Default::default() }
}

/// All or nothing, so that one bad cell refuses the push rather than being answered REJECTED.
fn strict_push(cell: int::DailyCell) -> int::PushCellsRequest {
    int::PushCellsRequest { all_or_nothing: true, ..push(vec![cell]) }
}

fn cell_on(day: &str) -> int::PushCellsRequest {
    strict_push(int::DailyCell { day: day.into(), ..good_cell() })
}

fn timestamp(year: i32) -> prost_types::Timestamp {
    let t = chrono::NaiveDate::from_ymd_opt(year, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
    prost_types::Timestamp { seconds: t.timestamp(), nanos: 0 }
}

fn good_case() -> int::CaseRecord {
    int::CaseRecord {
        case_code: "HS-BATTERY-1".into(),
        procedure_code: FULL_PROCEDURE.into(),
        receiving_center_code: COMMUNE_CENTER.into(),
        resolving_agency_code: "UBND-19753".into(),
        filing_channel: int::Channel::Online as i32,
        return_channel: int::Channel::Direct as i32,
        received_at: Some(prost_types::Timestamp { seconds: 1_772_409_600, nanos: 0 }), // 2026-03-02
        due_date: "2026-03-05".into(),
        status: int::CaseStatus::InProgress as i32,
        ..Default::default()
    }
}

fn due_date_change() -> int::DueDateChange {
    int::DueDateChange {
        previous_due_date: "2026-03-05".into(),
        new_due_date: "2026-03-10".into(),
        reason: "Chờ bổ sung hồ sơ".into(),
        changed_on: "2026-03-04".into(),
    }
}

fn notice() -> int::ApologyNotice {
    int::ApologyNotice {
        notice_number: "01/TB-UBND".into(),
        issuing_agency_code: "UBND-19753".into(),
        issued_on: "2026-03-04".into(),
        reason: "Cần xác minh thêm".into(),
        reason_category: int::DelayReasonCategory::AgencyProcessing as i32,
        original_due_date: "2026-03-05".into(),
        new_due_date: "2026-03-10".into(),
        delivery: int::NoticeDelivery::AtCenter as i32,
    }
}

/// A push of one case, after `spoil` has changed it; all or nothing, so a bad case refuses the push.
fn case_with(spoil: impl FnOnce(&mut int::CaseRecord)) -> int::PushCasesRequest {
    let mut record = good_case();
    spoil(&mut record);
    int::PushCasesRequest { sender: "egov-46".into(), cases: vec![record], all_or_nothing: true }
}

fn list_cells() -> int::ListCellsRequest {
    int::ListCellsRequest {
        center_codes: vec![COMMUNE_CENTER.into()],
        from_day: "2026-01-01".into(),
        to_day: "2026-12-31".into(),
        ..Default::default()
    }
}

fn list_cases() -> int::ListCasesRequest {
    int::ListCasesRequest {
        center_codes: vec![COMMUNE_CENTER.into()],
        received_from: "2026-01-01".into(),
        received_to: "2026-12-31".into(),
        ..Default::default()
    }
}

fn march() -> Option<agg::DayRange> {
    Some(agg::DayRange { from_day: "2026-03-01".into(), to_day: "2026-03-31".into() })
}

fn days(from_day: &str, to_day: &str) -> Option<agg::DayRange> {
    Some(agg::DayRange { from_day: from_day.into(), to_day: to_day.into() })
}

fn quarter(year: i32) -> agg::ReportingPeriod {
    agg::ReportingPeriod {
        kind: agg::PeriodKind::Quarter as i32,
        year,
        number: 1,
        cut_off: agg::CutOffRule::Decree09 as i32,
        month_starts_on: 0,
    }
}

fn indicators() -> agg::GetIndicatorsRequest {
    agg::GetIndicatorsRequest { unit_code: PROVINCE.into(), period: march(), ..Default::default() }
}

fn in_quarter(period: agg::ReportingPeriod) -> agg::GetIndicatorsRequest {
    agg::GetIndicatorsRequest { period: None, reporting_period: Some(period), ..indicators() }
}

fn definition() -> agg::IndicatorDefinition {
    agg::IndicatorDefinition {
        id: "battery_share".into(),
        numerator: "received_online".into(),
        denominator: "received_direct + received_online".into(),
        description: "Hồ sơ trực tuyến".into(),
        ..Default::default()
    }
}

fn define(definition: agg::IndicatorDefinition) -> agg::DefineIndicatorRequest {
    agg::DefineIndicatorRequest { definition: Some(definition) }
}

/// A form definition that would be stored but for what a case spoils: 13 columns, one heading each.
fn form_definition() -> agg::FormDefinition {
    agg::FormDefinition {
        form: "06".into(),
        form_number: "Biểu số 06/VPCP/KSTT".into(),
        circular: "Thông tư số 01/2020/TT-VPCP".into(),
        title: "Tình hình giải quyết TTHC".into(),
        unit_of_count: "Số hồ sơ TTHC".into(),
        valid_from: "2026-01-01".into(),
        columns: (1..=13).map(|n| agg::FormColumn { headings: vec![format!("Cột {n}")] }).collect(),
        signatures: vec![agg::FormSignature { title: "THỦ TRƯỞNG ĐƠN VỊ".into(), note: String::new() }],
        ..Default::default()
    }
}

fn define_form(definition: agg::FormDefinition) -> agg::DefineFormRequest {
    agg::DefineFormRequest { definition: Some(definition) }
}

fn form06() -> agg::GetForm06Request {
    agg::GetForm06Request { unit_code: PROVINCE.into(), period: march(), ..Default::default() }
}

fn export(format: i32) -> agg::ExportForm06Request {
    agg::ExportForm06Request { report: Some(form06()), format }
}

fn late_cases() -> agg::ListLateCasesRequest {
    agg::ListLateCasesRequest {
        unit_code: PROVINCE.into(),
        list: agg::LateCaseList::PendingOverdue as i32,
        ..Default::default()
    }
}

fn late_counts() -> agg::CountLateCasesRequest {
    agg::CountLateCasesRequest { unit_code: PROVINCE.into(), ..Default::default() }
}

fn reconcile() -> agg::ReconcileLateCountsRequest {
    agg::ReconcileLateCountsRequest { unit_code: PROVINCE.into(), period: march(), ..Default::default() }
}

fn set_aside_after(token: String) -> agg::ListSetAsideChangesRequest {
    agg::ListSetAsideChangesRequest { page_size: 0, page_token: token }
}

/// Bytes no protobuf decoder reads: a field key whose varint never ends.
const UNTERMINATED_VARINT: &[u8] = &[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
/// Field 1, length-delimited, claiming 100 bytes where 2 follow.
const TRUNCATED_FIELD: &[u8] = &[0x0a, 0x64, 0x41, 0x42];
/// Field 1 with wire type 7, which does not exist.
const UNKNOWN_WIRE_TYPE: &[u8] = &[0x0f, 0x01];
/// Field 1 (a string in every request used) holding bytes that are not UTF-8.
const NOT_UTF8: &[u8] = &[0x0a, 0x02, 0xc3, 0x28];

fn catalogue_cases() -> Vec<Case> {
    use cat::*;
    vec![
        // Administrative units.
        unary!("unit name with NUL", catalogue.upsert_units,
            units(AdministrativeUnit { name: format!("Xã{NUL}Thử"), ..unit() }) => InvalidArgument, "units[0].name"),
        unary!("unit name with an escape sequence", catalogue.upsert_units,
            units(AdministrativeUnit { name: format!("Xã {ESCAPE}Thử"), ..unit() })
                => InvalidArgument, "units[0].name"),
        unary!("unit code with BEL", catalogue.upsert_units,
            units(AdministrativeUnit { code: format!("19{BELL}999"), ..unit() }) => InvalidArgument, "units[0].code"),
        unary!("unit parent code with NUL", catalogue.upsert_units,
            units(AdministrativeUnit { parent_code: format!("46{NUL}"), ..unit() })
                => InvalidArgument, "units[0].parent_code"),
        unary!("unit predecessor with an escape", catalogue.upsert_units,
            units(AdministrativeUnit { predecessor_codes: vec![ESCAPE.into()], ..unit() })
                => InvalidArgument, "units[0].predecessor_codes[0]"),
        unary!("unit valid from -5000", catalogue.upsert_units,
            units(AdministrativeUnit { valid_from: "-5000-01-01".into(), ..unit() })
                => InvalidArgument, "units[0].valid_from"),
        unary!("unit valid from 1899", catalogue.upsert_units,
            units(AdministrativeUnit { valid_from: "1899-12-31".into(), ..unit() })
                => InvalidArgument, "units[0].valid_from"),
        unary!("unit valid to +262143", catalogue.upsert_units,
            units(AdministrativeUnit { valid_to: "+262143-01-01".into(), ..unit() })
                => InvalidArgument, "units[0].valid_to"),
        unary!("unit valid to 2201", catalogue.upsert_units,
            units(AdministrativeUnit { valid_to: "2201-01-01".into(), ..unit() })
                => InvalidArgument, "units[0].valid_to"),
        unary!("unit valid from 30 February", catalogue.upsert_units,
            units(AdministrativeUnit { valid_from: "2026-02-30".into(), ..unit() })
                => InvalidArgument, "units[0].valid_from"),
        unary!("unit valid from empty", catalogue.upsert_units,
            units(AdministrativeUnit { valid_from: String::new(), ..unit() })
                => InvalidArgument, "units[0].valid_from"),
        unary!("unit level 99", catalogue.upsert_units,
            units(AdministrativeUnit { level: 99, ..unit() }) => InvalidArgument, "units[0].level"),
        unary!("unit level -1", catalogue.upsert_units,
            units(AdministrativeUnit { level: -1, ..unit() }) => InvalidArgument, "units[0].level"),
        unary!("20,001 units", catalogue.upsert_units,
            UpsertUnitsRequest {
                units: (0..20_001).map(|i| AdministrativeUnit { code: format!("U{i}"), ..unit() }).collect(),
            } => InvalidArgument, "units"),
        unary!("100,001 predecessors of one unit", catalogue.upsert_units,
            units(AdministrativeUnit { predecessor_codes: many_codes(100_001), ..unit() })
                => InvalidArgument, "units[0].predecessor_codes"),
        unary!("units file with NUL in a name", catalogue.load_units_csv,
            LoadUnitsCsvRequest {
                content: format!("code,name,level,parent_code,valid_from\n19999,Xã{NUL}Thử,commune,46,2025-07-01\n")
                    .into_bytes(),
            } => InvalidArgument, "name"),
        unary!("units file valid from 2201", catalogue.load_units_csv,
            LoadUnitsCsvRequest {
                content: b"code,name,level,parent_code,valid_from\n19999,Xa Thu,commune,46,2201-01-01\n".to_vec(),
            } => InvalidArgument, "valid_from"),
        unary!("units file of 17 MiB", catalogue.load_units_csv,
            LoadUnitsCsvRequest { content: vec![b'a'; OVERSIZED_BYTES] } => ResourceExhausted),
        unary!("list units as of 2201", catalogue.list_units,
            ListUnitsRequest { as_of: "2201-01-01".into(), ..Default::default() } => InvalidArgument, "as_of"),
        unary!("list units of level 99", catalogue.list_units,
            ListUnitsRequest { as_of: DAY.into(), level: 99, ..Default::default() } => InvalidArgument, "level"),
        unary!("list units under a parent with NUL", catalogue.list_units,
            ListUnitsRequest { as_of: DAY.into(), parent_code: format!("4{NUL}6"), ..Default::default() }
                => InvalidArgument, "parent_code"),
        unary!("list units with an unknown page token", catalogue.list_units,
            ListUnitsRequest { as_of: DAY.into(), page_token: "zz".into(), ..Default::default() }
                => InvalidArgument, "page_token"),
        unary!("list units with a forged page token holding BEL", catalogue.list_units,
            ListUnitsRequest { as_of: DAY.into(), page_token: paging::encode(&[&format!("46{BELL}")]),
                ..Default::default() } => InvalidArgument, "page_token"),
        unary!("list units with a page of 4 billion", catalogue.list_units,
            ListUnitsRequest { as_of: DAY.into(), page_size: u32::MAX, ..Default::default() }
                => InvalidArgument, "page_size"),
        unary!("ancestors of a code with NUL", catalogue.get_unit_ancestors,
            GetUnitAncestorsRequest { code: format!("{COMMUNE}{NUL}"), as_of: DAY.into() } => InvalidArgument, "code"),
        unary!("ancestors as of +262143", catalogue.get_unit_ancestors,
            GetUnitAncestorsRequest { code: COMMUNE.into(), as_of: "+262143-01-01".into() }
                => InvalidArgument, "as_of"),
        unary!("successors of a code with an escape", catalogue.get_unit_successors,
            GetUnitSuccessorsRequest { code: ESCAPE.into() } => InvalidArgument, "code"),
        // Sectors, agencies, centers.
        unary!("sector name with NUL", catalogue.upsert_sectors,
            UpsertSectorsRequest { sectors: vec![Sector { name: format!("Đất{NUL}đai"), ..sector() }] }
                => InvalidArgument, "sectors[0].name"),
        unary!("sector code with BEL", catalogue.upsert_sectors,
            UpsertSectorsRequest { sectors: vec![Sector { code: format!("DAT{BELL}"), ..sector() }] }
                => InvalidArgument, "sectors[0].code"),
        unary!("100,001 sectors", catalogue.upsert_sectors,
            UpsertSectorsRequest {
                sectors: many_codes(100_001).into_iter().map(|code| Sector { code, ..sector() }).collect(),
            } => InvalidArgument, "sectors"),
        unary!("agency name with an escape", catalogue.upsert_agencies,
            UpsertAgenciesRequest { agencies: vec![Agency { name: format!("Sở {ESCAPE}"), ..agency() }] }
                => InvalidArgument, "agencies[0].name"),
        unary!("agency kind 99", catalogue.upsert_agencies,
            UpsertAgenciesRequest { agencies: vec![Agency { kind: 99, ..agency() }] }
                => InvalidArgument, "agencies[0].kind"),
        unary!("agency unit code with NUL", catalogue.upsert_agencies,
            UpsertAgenciesRequest { agencies: vec![Agency { unit_code: format!("46{NUL}"), ..agency() }] }
                => InvalidArgument, "agencies[0].unit_code"),
        unary!("100,001 agencies", catalogue.upsert_agencies,
            UpsertAgenciesRequest {
                agencies: many_codes(100_001).into_iter().map(|code| Agency { code, ..agency() }).collect(),
            } => InvalidArgument, "agencies"),
        unary!("agencies of a unit code with NUL", catalogue.list_agencies,
            ListAgenciesRequest { unit_code: format!("46{NUL}") } => InvalidArgument, "unit_code"),
        unary!("center name with NUL", catalogue.upsert_centers,
            UpsertCentersRequest { centers: vec![Center { name: format!("Bộ phận{NUL}"), ..center() }] }
                => InvalidArgument, "centers[0].name"),
        unary!("center kind -1", catalogue.upsert_centers,
            UpsertCentersRequest { centers: vec![Center { kind: -1, ..center() }] }
                => InvalidArgument, "centers[0].kind"),
        unary!("branch of a center code with BEL", catalogue.upsert_centers,
            UpsertCentersRequest {
                centers: vec![Center {
                    kind: CenterKind::Branch as i32,
                    parent_center_code: format!("BPMC{BELL}"),
                    ..center()
                }],
            } => InvalidArgument, "centers[0].parent_center_code"),
        unary!("100,001 centers", catalogue.upsert_centers,
            UpsertCentersRequest {
                centers: many_codes(100_001).into_iter().map(|code| Center { code, ..center() }).collect(),
            } => InvalidArgument, "centers"),
        unary!("centers by a code with NUL", catalogue.list_centers,
            ListCentersRequest { center_codes: vec![NUL.into()], ..Default::default() }
                => InvalidArgument, "center_codes[0]"),
        unary!("centers of a unit as of -5000", catalogue.list_centers,
            ListCentersRequest { unit_code: PROVINCE.into(), as_of: "-5000-01-01".into(), ..Default::default() }
                => InvalidArgument, "as_of"),
        unary!("centers by 100,001 codes", catalogue.list_centers,
            ListCentersRequest { center_codes: many_codes(100_001), ..Default::default() }
                => InvalidArgument, "center_codes"),
        unary!("center procedures with a source holding NUL", catalogue.set_center_procedures,
            SetCenterProceduresRequest { source: format!("QĐ{NUL}126"), ..center_procedures(COMMUNE_CENTER) }
                => InvalidArgument, "source"),
        unary!("center procedures with a source holding BEL", catalogue.set_center_procedures,
            SetCenterProceduresRequest { source: format!("QĐ{BELL}126"), ..center_procedures(COMMUNE_CENTER) }
                => InvalidArgument, "source"),
        unary!("center procedures from 2201", catalogue.set_center_procedures,
            SetCenterProceduresRequest { effective_from: "2201-01-01".into(), ..center_procedures(COMMUNE_CENTER) }
                => InvalidArgument, "effective_from"),
        unary!("center procedures of a center code with an escape", catalogue.set_center_procedures,
            SetCenterProceduresRequest { center_code: ESCAPE.into(), ..center_procedures(COMMUNE_CENTER) }
                => InvalidArgument, "center_code"),
        unary!("100,001 procedures for one center", catalogue.set_center_procedures,
            SetCenterProceduresRequest {
                procedure_codes: many_codes(100_001),
                ..center_procedures(COMMUNE_CENTER)
            } => InvalidArgument, "procedure_codes"),
        unary!("procedures of a center code with NUL", catalogue.list_center_procedures,
            ListCenterProceduresRequest { center_code: format!("BPMC{NUL}"), as_of: DAY.into() }
                => InvalidArgument, "center_code"),
        unary!("procedures of a center as of 1899", catalogue.list_center_procedures,
            ListCenterProceduresRequest { center_code: COMMUNE_CENTER.into(), as_of: "1899-12-31".into() }
                => InvalidArgument, "as_of"),
        // The working-day calendar.
        unary!("calendar of year -5000", catalogue.set_calendar_year,
            calendar(-5000, vec![]) => InvalidArgument, "year"),
        unary!("calendar of year 2^30", catalogue.set_calendar_year,
            calendar(1 << 30, vec![]) => InvalidArgument, "year"),
        unary!("calendar holiday on 30 February", catalogue.set_calendar_year,
            calendar(2027, vec![holiday("2027-02-30")]) => InvalidArgument, "exceptions[0].day"),
        unary!("calendar holiday in 2201", catalogue.set_calendar_year,
            calendar(2027, vec![holiday("2201-01-01")]) => InvalidArgument, "exceptions[0].day"),
        unary!("calendar day kind 99", catalogue.set_calendar_year,
            calendar(2027, vec![CalendarException { kind: 99, ..holiday("2027-01-01") }])
                => InvalidArgument, "exceptions[0].kind"),
        unary!("calendar holiday name with NUL", catalogue.set_calendar_year,
            calendar(2027, vec![CalendarException { name: format!("Tết{NUL}"), ..holiday("2027-01-01") }])
                => InvalidArgument, "exceptions[0].name"),
        unary!("100,001 calendar exceptions", catalogue.set_calendar_year,
            calendar(2027, vec![holiday("2027-01-01"); 100_001]) => InvalidArgument, "exceptions"),
        unary!("calendar file with BEL in a name", catalogue.load_calendar_csv,
            LoadCalendarCsvRequest { content: format!("day,kind,name\n2027-01-01,holiday,Tết{BELL}\n").into_bytes() }
                => InvalidArgument, "name"),
        unary!("calendar file with a day in +262143", catalogue.load_calendar_csv,
            LoadCalendarCsvRequest { content: b"day,kind,name\n+262143-01-01,holiday,Tet\n".to_vec() }
                => InvalidArgument, "day"),
        unary!("calendar of year -5000 read", catalogue.get_calendar_year,
            GetCalendarYearRequest { year: -5000 } => InvalidArgument, "year"),
        unary!("calendar of year 2^30 read", catalogue.get_calendar_year,
            GetCalendarYearRequest { year: 1 << 30 } => InvalidArgument, "year"),
        unary!("working days from -5000", catalogue.add_working_days,
            AddWorkingDaysRequest { from_day: "-5000-01-01".into(), working_days: 3 } => InvalidArgument, "from_day"),
        unary!("i32::MAX working days", catalogue.add_working_days,
            AddWorkingDaysRequest { from_day: DAY.into(), working_days: i32::MAX } => InvalidArgument, "working_days"),
        unary!("i32::MIN working days", catalogue.add_working_days,
            AddWorkingDaysRequest { from_day: DAY.into(), working_days: i32::MIN } => InvalidArgument, "working_days"),
        unary!("working days counted to +262143", catalogue.count_working_days,
            CountWorkingDaysRequest { from_day: DAY.into(), to_day: "+262143-01-01".into() }
                => InvalidArgument, "to_day"),
        unary!("working days counted from an empty day", catalogue.count_working_days,
            CountWorkingDaysRequest { from_day: String::new(), to_day: DAY.into() } => InvalidArgument, "from_day"),
        // Publication decisions.
        unary!("decision number with NUL", catalogue.publish_decision,
            decision_with(|d| d.number = format!("999{NUL}/QĐ")) => InvalidArgument, "decision.number"),
        unary!("decision issuer with BEL", catalogue.publish_decision,
            decision_with(|d| d.issuer = format!("Chủ tịch{BELL}")) => InvalidArgument, "decision.issuer"),
        unary!("decision signed in -5000", catalogue.publish_decision,
            decision_with(|d| d.signed_on = "-5000-01-01".into()) => InvalidArgument, "decision.signed_on"),
        unary!("decision in force from 2201", catalogue.publish_decision,
            decision_with(|d| d.effective_from = "2201-01-01".into()) => InvalidArgument, "decision.effective_from"),
        unary!("decision item action 99", catalogue.publish_decision,
            decision_with(|d| d.items[0].action = 99) => InvalidArgument, "decision.items[0].action"),
        unary!("decision item action -1", catalogue.publish_decision,
            decision_with(|d| d.items[0].action = -1) => InvalidArgument, "decision.items[0].action"),
        unary!("procedure code with NUL", catalogue.publish_decision,
            procedure_with(|p| p.code = format!("1.00{NUL}999"))
                => InvalidArgument, "decision.items[0].procedure.code"),
        unary!("procedure name with an escape", catalogue.publish_decision,
            procedure_with(|p| p.name = format!("Thủ tục {ESCAPE}"))
                => InvalidArgument, "decision.items[0].procedure.name"),
        unary!("procedure agency with NUL", catalogue.publish_decision,
            procedure_with(|p| p.implementing_agency = format!("UBND{NUL}"))
                => InvalidArgument, "decision.items[0].procedure.implementing_agency"),
        unary!("procedure online level 99", catalogue.publish_decision,
            procedure_with(|p| p.online_level = 99) => InvalidArgument, "decision.items[0].procedure.online_level"),
        unary!("procedure implementing level -1", catalogue.publish_decision,
            procedure_with(|p| p.implementing_levels = vec![-1])
                => InvalidArgument, "decision.items[0].procedure.implementing_levels"),
        unary!("procedure of 100,001 implementing levels", catalogue.publish_decision,
            procedure_with(|p| p.implementing_levels = vec![ImplementingLevel::Commune as i32; 100_001])
                => InvalidArgument, "decision.items[0].procedure.implementing_levels"),
        unary!("procedure time unit 99", catalogue.publish_decision,
            procedure_with(|p| p.processing_time = Some(ProcessingTime { value: 3, unit: 99 }))
                => InvalidArgument, "decision.items[0].procedure.processing_time.unit"),
        unary!("procedure time of 4 billion", catalogue.publish_decision,
            procedure_with(|p| {
                p.processing_time = Some(ProcessingTime { value: u32::MAX, unit: TimeUnit::Days as i32 })
            })
                => InvalidArgument, "decision.items[0].procedure.processing_time.value"),
        unary!("procedure legacy online level 4 billion", catalogue.publish_decision,
            procedure_with(|p| p.legacy_online_level = u32::MAX)
                => InvalidArgument, "decision.items[0].procedure.legacy_online_level"),
        unary!("procedure filing channel 99", catalogue.publish_decision,
            procedure_with(|p| p.channel_processing_times = vec![ChannelProcessingTime {
                channel: 99,
                processing_time: Some(ProcessingTime { value: 1, unit: TimeUnit::WorkingDays as i32 }),
            }]) => InvalidArgument, "decision.items[0].procedure.channel_processing_times[0].channel"),
        unary!("procedure of 100,001 channel times", catalogue.publish_decision,
            procedure_with(|p| p.channel_processing_times = vec![ChannelProcessingTime {
                channel: FilingChannel::Online as i32,
                processing_time: Some(ProcessingTime { value: 1, unit: TimeUnit::WorkingDays as i32 }),
            }; 100_001]) => InvalidArgument, "decision.items[0].procedure.channel_processing_times"),
        unary!("decision of 20,001 items", catalogue.publish_decision,
            decision_with(|d| {
                d.items = (0..20_001)
                    .map(|i| DecisionItem {
                        action: DecisionAction::New as i32,
                        procedure: Some(Procedure { code: format!("1.{i:06}"), ..new_procedure() }),
                        ..Default::default()
                    })
                    .collect()
            }) => InvalidArgument, "decision.items"),
        unary!("decision file format 99", catalogue.publish_decision_file,
            PublishDecisionFileRequest {
                decision: decision_with(|d| d.items.clear()).decision,
                format: 99,
                content: b"action,code\nNEW,1.009999\n".to_vec(),
            } => InvalidArgument, "format"),
        unary!("decision file number with BEL", catalogue.publish_decision_file,
            PublishDecisionFileRequest {
                decision: decision_with(|d| { d.items.clear(); d.number = format!("999{BELL}") }).decision,
                format: FileFormat::Csv as i32,
                content: decision_file_row("Thủ tục thử"),
            } => InvalidArgument, "decision.number"),
        unary!("decision file with NUL in a name", catalogue.publish_decision_file,
            PublishDecisionFileRequest {
                decision: decision_with(|d| d.items.clear()).decision,
                format: FileFormat::Csv as i32,
                content: decision_file_row(&format!("Thủ tục{NUL}thử")),
            } => InvalidArgument, "name"),
        unary!("decision numbered with NUL read", catalogue.get_decision,
            GetDecisionRequest { number: format!("125{NUL}/QĐ-UBND"), ..Default::default() } => InvalidArgument, "number"),
        // Procedures.
        unary!("procedures by a code with NUL", catalogue.get_procedures,
            GetProceduresRequest { codes: vec![NUL.into()], as_of: DAY.into() } => InvalidArgument, "codes[0]"),
        unary!("procedures as of 2201", catalogue.get_procedures,
            GetProceduresRequest { codes: vec![FULL_PROCEDURE.into()], as_of: "2201-01-01".into() }
                => InvalidArgument, "as_of"),
        unary!("procedures by 100,001 codes", catalogue.get_procedures,
            GetProceduresRequest { codes: many_codes(100_001), as_of: DAY.into() } => InvalidArgument, "codes"),
        unary!("history of a code with BEL", catalogue.get_procedure_history,
            GetProcedureHistoryRequest { code: format!("1.000948{BELL}") } => InvalidArgument, "code"),
        unary!("procedures of level 99", catalogue.list_procedures,
            ListProceduresRequest { as_of: DAY.into(), level: 99, ..Default::default() } => InvalidArgument, "level"),
        unary!("procedures of online level -1", catalogue.list_procedures,
            ListProceduresRequest { as_of: DAY.into(), online_level: -1, ..Default::default() }
                => InvalidArgument, "online_level"),
        unary!("procedures as of an empty day", catalogue.list_procedures,
            ListProceduresRequest::default() => InvalidArgument, "as_of"),
        unary!("procedures of a sector with NUL", catalogue.list_procedures,
            ListProceduresRequest { as_of: DAY.into(), sector_code: format!("HO{NUL}TICH"), ..Default::default() }
                => InvalidArgument, "sector_code"),
        unary!("procedures after an unknown page token", catalogue.list_procedures,
            ListProceduresRequest { as_of: DAY.into(), page_token: "not a token".into(), ..Default::default() }
                => InvalidArgument, "page_token"),
        unary!("procedures counted for level -1", catalogue.count_procedures,
            CountProceduresRequest { as_of: DAY.into(), level: -1, ..Default::default() } => InvalidArgument, "level"),
        unary!("procedures counted as of 30 February", catalogue.count_procedures,
            CountProceduresRequest { as_of: "2026-02-30".into(), ..Default::default() } => InvalidArgument, "as_of"),
        unary!("procedures counted for a sector with NUL", catalogue.count_procedures,
            CountProceduresRequest { as_of: DAY.into(), sector_code: NUL.into(), ..Default::default() }
                => InvalidArgument, "sector_code"),
        // References.
        unary!("references of calendar year -5000", catalogue.check_references,
            CheckReferencesRequest { calendar_years: vec![-5000], ..check_references() }
                => InvalidArgument, "calendar_years[0]"),
        unary!("references of calendar year 2^30", catalogue.check_references,
            CheckReferencesRequest { calendar_years: vec![1 << 30], ..check_references() }
                => InvalidArgument, "calendar_years[0]"),
        unary!("references of a procedure in 2201", catalogue.check_references,
            CheckReferencesRequest {
                procedures: vec![ProcedureOnDay { procedure_code: FULL_PROCEDURE.into(), day: "2201-01-01".into() }],
                ..check_references()
            } => InvalidArgument, "procedures[0].day"),
        unary!("references of a center code with NUL", catalogue.check_references,
            CheckReferencesRequest { center_codes: vec![NUL.into()], ..check_references() }
                => InvalidArgument, "center_codes[0]"),
        unary!("references of 100,001 centers", catalogue.check_references,
            CheckReferencesRequest { center_codes: many_codes(100_001), ..check_references() }
                => InvalidArgument, "center_codes"),
        // Bodies that are not protobuf.
        case(
            "upsert units body with an unterminated varint",
            "catalogue.UpsertUnits",
            Code::InvalidArgument,
            None,
            |c: Clients| {
                raw_unary(
                    c.raw_catalogue,
                    "/onestop.catalogue.v1.CatalogueService/UpsertUnits",
                    UNTERMINATED_VARINT.to_vec(),
                )
            },
        ),
        case(
            "get decision body with a name that is not UTF-8",
            "catalogue.GetDecision",
            Code::InvalidArgument,
            None,
            |c: Clients| {
                raw_unary(c.raw_catalogue, "/onestop.catalogue.v1.CatalogueService/GetDecision", NOT_UTF8.to_vec())
            },
        ),
    ]
}

/// A decision file of one NEW procedure named `name`.
fn decision_file_row(name: &str) -> Vec<u8> {
    format!(
        "action,code,name,sector_code,implementing_levels,implementing_agency,processing_time_value,\
         processing_time_unit,online_level\nNEW,1.009999,{name},HOTICH,COMMUNE,UBND cấp xã,3,WORKING_DAYS,FULL\n"
    )
    .into_bytes()
}

fn intake_cases() -> Vec<Case> {
    use int::*;
    vec![
        // Pushes of cells.
        unary!("push sender with NUL", intake.push_cells,
            PushCellsRequest { sender: format!("egov{NUL}"), ..push(vec![good_cell()]) } => InvalidArgument, "sender"),
        unary!("push sender with BEL", intake.push_cells,
            PushCellsRequest { sender: format!("egov{BELL}"), ..push(vec![good_cell()]) } => InvalidArgument, "sender"),
        unary!("idempotency key with an escape", intake.push_cells,
            PushCellsRequest { idempotency_key: ESCAPE.into(), ..push(vec![good_cell()]) }
                => InvalidArgument, "idempotency_key"),
        unary!("idempotency key with NUL", intake.push_cells,
            PushCellsRequest { idempotency_key: format!("k{NUL}"), ..push(vec![good_cell()]) }
                => InvalidArgument, "idempotency_key"),
        unary!("cell center code with NUL", intake.push_cells,
            strict_push(DailyCell { center_code: format!("BPMC{NUL}"), ..good_cell() })
                => InvalidArgument, "cells[0].center_code"),
        unary!("cell procedure code with BEL", intake.push_cells,
            strict_push(DailyCell { procedure_code: format!("1.000948{BELL}"), ..good_cell() })
                => InvalidArgument, "cells[0].procedure_code"),
        unary!("cell day -5000", intake.push_cells, cell_on("-5000-01-01") => InvalidArgument, "cells[0].day"),
        unary!("cell day +262143", intake.push_cells, cell_on("+262143-01-01") => InvalidArgument, "cells[0].day"),
        unary!("cell day 1899", intake.push_cells, cell_on("1899-12-31") => InvalidArgument, "cells[0].day"),
        unary!("cell day 2201", intake.push_cells, cell_on("2201-01-01") => InvalidArgument, "cells[0].day"),
        unary!("cell day 30 February", intake.push_cells, cell_on("2026-02-30") => InvalidArgument, "cells[0].day"),
        unary!("cell day empty", intake.push_cells, cell_on("") => InvalidArgument, "cells[0].day"),
        unary!("cell count 2^62", intake.push_cells,
            strict_push(DailyCell {
                measures: Some(Measures { received_online: 1 << 62, ..Default::default() }),
                ..good_cell()
            }) => InvalidArgument, "cells[0].measures.received_online"),
        unary!("cell count negative", intake.push_cells,
            strict_push(DailyCell {
                measures: Some(Measures { received_direct: -1, ..Default::default() }),
                ..good_cell()
            }) => InvalidArgument, "cells[0].measures.received_direct"),
        unary!("cell computed at a negative nanosecond", intake.push_cells,
            strict_push(DailyCell {
                computed_at: Some(prost_types::Timestamp { seconds: 0, nanos: -1 }),
                ..good_cell()
            })
                => InvalidArgument, "cells[0].computed_at"),
        unary!("cell computed in the year 1000", intake.push_cells,
            strict_push(DailyCell { computed_at: Some(timestamp(1000)), ..good_cell() })
                => InvalidArgument, "cells[0].computed_at"),
        unary!("cell day of a million nines", intake.push_cells,
            cell_on(&"9".repeat(1 << 20)) => InvalidArgument, "cells[0].day"),
        unary!("10,001 cells", intake.push_cells,
            push(vec![good_cell(); 10_001]) => InvalidArgument, "cells"),
        unary!("10,000 cells each of 2201, all or nothing", intake.push_cells,
            PushCellsRequest {
                all_or_nothing: true,
                ..push(vec![DailyCell { day: "2201-01-01".into(), ..good_cell() }; 10_000])
            } => InvalidArgument, "cells[0].day"),
        unary!("push of 17 MiB", intake.push_cells,
            PushCellsRequest { sender: "x".repeat(OVERSIZED_BYTES), ..push(vec![good_cell()]) } => ResourceExhausted),
        case("push body with an unterminated varint", "intake.PushCells", Code::InvalidArgument, None, |c: Clients| {
            raw_unary(c.raw_intake, "/onestop.intake.v1.IntakeService/PushCells", UNTERMINATED_VARINT.to_vec())
        }),
        case(
            "push body with a sender that is not UTF-8",
            "intake.PushCells",
            Code::InvalidArgument,
            None,
            |c: Clients| raw_unary(c.raw_intake, "/onestop.intake.v1.IntakeService/PushCells", NOT_UTF8.to_vec()),
        ),
        // The bulk stream.
        case(
            "stream batch with a sender holding NUL",
            "intake.PushCellsStream",
            Code::InvalidArgument,
            Some("sender"),
            |c: Clients| {
                push_stream(
                    c.intake,
                    vec![PushCellsStreamRequest {
                        batch: Some(PushCellsRequest { sender: format!("egov{NUL}"), ..push(vec![good_cell()]) }),
                    }],
                )
            },
        ),
        case(
            "stream message without a batch",
            "intake.PushCellsStream",
            Code::InvalidArgument,
            Some("batch"),
            |c: Clients| push_stream(c.intake, vec![PushCellsStreamRequest { batch: None }]),
        ),
        case(
            "stream batch of 10,001 cells",
            "intake.PushCellsStream",
            Code::InvalidArgument,
            Some("cells"),
            |c: Clients| {
                push_stream(c.intake, vec![PushCellsStreamRequest { batch: Some(push(vec![good_cell(); 10_001])) }])
            },
        ),
        case(
            "stream batch with a cell of 2201",
            "intake.PushCellsStream",
            Code::InvalidArgument,
            Some("cells[0].day"),
            |c: Clients| push_stream(c.intake, vec![PushCellsStreamRequest { batch: Some(cell_on("2201-01-01")) }]),
        ),
        case("stream message of 17 MiB", "intake.PushCellsStream", Code::ResourceExhausted, None, |c: Clients| {
            push_stream(
                c.intake,
                vec![PushCellsStreamRequest {
                    batch: Some(PushCellsRequest { sender: "x".repeat(OVERSIZED_BYTES), ..push(vec![good_cell()]) }),
                }],
            )
        }),
        case(
            "stream message with an unknown wire type after a good batch",
            "intake.PushCellsStream",
            Code::InvalidArgument,
            None,
            |c: Clients| {
                raw_push_stream(
                    c.raw_intake,
                    vec![
                        PushCellsStreamRequest { batch: Some(push(vec![good_cell()])) }.encode_to_vec(),
                        UNKNOWN_WIRE_TYPE.to_vec(),
                    ],
                )
            },
        ),
        case("stream message cut short", "intake.PushCellsStream", Code::InvalidArgument, None, |c: Clients| {
            raw_push_stream(c.raw_intake, vec![TRUNCATED_FIELD.to_vec()])
        }),
        // Reading cells.
        unary!("cells of a center code with NUL", intake.list_cells,
            ListCellsRequest { center_codes: vec![NUL.into()], ..list_cells() } => InvalidArgument, "center_codes[0]"),
        unary!("cells of a procedure code with BEL", intake.list_cells,
            ListCellsRequest { procedure_codes: vec![BELL.into()], ..list_cells() }
                => InvalidArgument, "procedure_codes[0]"),
        unary!("cells from 2201", intake.list_cells,
            ListCellsRequest { from_day: "2201-01-01".into(), to_day: "2201-12-31".into(), ..list_cells() }
                => InvalidArgument, "from_day"),
        unary!("cells to -5000", intake.list_cells,
            ListCellsRequest { to_day: "-5000-01-01".into(), ..list_cells() } => InvalidArgument, "to_day"),
        unary!("cells in pages of 4 billion", intake.list_cells,
            ListCellsRequest { page_size: u32::MAX, ..list_cells() } => InvalidArgument, "page_size"),
        unary!("cells after a forged token of -5000", intake.list_cells,
            ListCellsRequest {
                page_token: paging::encode(&[COMMUNE_CENTER, "-5000-01-01", FULL_PROCEDURE]),
                ..list_cells()
            } => InvalidArgument, "page_token"),
        unary!("cells after a forged token of +262143", intake.list_cells,
            ListCellsRequest {
                page_token: paging::encode(&[COMMUNE_CENTER, "+262143-01-01", FULL_PROCEDURE]),
                ..list_cells()
            } => InvalidArgument, "page_token"),
        unary!("cells after a forged token of 1899", intake.list_cells,
            ListCellsRequest {
                page_token: paging::encode(&[COMMUNE_CENTER, "1899-12-31", FULL_PROCEDURE]),
                ..list_cells()
            } => InvalidArgument, "page_token"),
        unary!("cells after an unknown page token", intake.list_cells,
            ListCellsRequest { page_token: "0".into(), ..list_cells() } => InvalidArgument, "page_token"),
        unary!("cells of 100,001 centers", intake.list_cells,
            ListCellsRequest { center_codes: many_codes(100_001), ..list_cells() } => InvalidArgument, "center_codes"),
        unary!("cells of 100,001 procedures", intake.list_cells,
            ListCellsRequest { procedure_codes: many_codes(100_001), ..list_cells() }
                => InvalidArgument, "procedure_codes"),
        unary!("cell history of 2201", intake.get_cell_history,
            GetCellHistoryRequest {
                center_code: COMMUNE_CENTER.into(),
                procedure_code: FULL_PROCEDURE.into(),
                day: "2201-01-01".into(),
                ..Default::default()
            } => InvalidArgument, "day"),
        unary!("cell history of a center code with NUL", intake.get_cell_history,
            GetCellHistoryRequest { center_code: NUL.into(), procedure_code: FULL_PROCEDURE.into(), day: DAY.into(), ..Default::default() }
                => InvalidArgument, "center_code"),
        unary!("completeness of a center code with NUL", intake.get_reporting_completeness,
            GetReportingCompletenessRequest {
                center_codes: vec![format!("BPMC{NUL}")],
                from_day: "2026-03-01".into(),
                to_day: "2026-03-31".into(),
                ..Default::default()
            } => InvalidArgument, "center_codes[0]"),
        unary!("completeness from -5000", intake.get_reporting_completeness,
            GetReportingCompletenessRequest {
                center_codes: vec![COMMUNE_CENTER.into()],
                from_day: "-5000-01-01".into(),
                to_day: "2026-03-31".into(),
                ..Default::default()
            } => InvalidArgument, "from_day"),
        unary!("completeness of 100,001 centers", intake.get_reporting_completeness,
            GetReportingCompletenessRequest {
                center_codes: many_codes(100_001),
                from_day: "2026-03-01".into(),
                to_day: "2026-03-31".into(),
                ..Default::default()
            } => InvalidArgument, "center_codes"),
        // Case records.
        unary!("cases sender with NUL", intake.push_cases,
            PushCasesRequest { sender: format!("egov{NUL}"), ..case_with(|_| {}) } => InvalidArgument, "sender"),
        unary!("case code with BEL", intake.push_cases,
            case_with(|c| c.case_code = format!("HS{BELL}1")) => InvalidArgument, "cases[0].case_code"),
        unary!("case agency code with NUL", intake.push_cases,
            case_with(|c| c.resolving_agency_code = format!("UBND{NUL}"))
                => InvalidArgument, "cases[0].resolving_agency_code"),
        unary!("case due -5000", intake.push_cases,
            case_with(|c| c.due_date = "-5000-01-01".into()) => InvalidArgument, "cases[0].due_date"),
        unary!("case due 2201", intake.push_cases,
            case_with(|c| c.due_date = "2201-01-01".into()) => InvalidArgument, "cases[0].due_date"),
        unary!("case filing channel 99", intake.push_cases,
            case_with(|c| c.filing_channel = 99) => InvalidArgument, "cases[0].filing_channel"),
        unary!("case return channel -1", intake.push_cases,
            case_with(|c| c.return_channel = -1) => InvalidArgument, "cases[0].return_channel"),
        unary!("case status 99", intake.push_cases,
            case_with(|c| c.status = 99) => InvalidArgument, "cases[0].status"),
        unary!("case received at the end of time", intake.push_cases,
            case_with(|c| c.received_at = Some(prost_types::Timestamp { seconds: i64::MAX, nanos: 0 }))
                => InvalidArgument, "cases[0].received_at"),
        unary!("case received in the year 1000", intake.push_cases,
            case_with(|c| c.received_at = Some(timestamp(1000))) => InvalidArgument, "cases[0].received_at"),
        unary!("case resolved in the year 2500", intake.push_cases,
            case_with(|c| {
                c.status = CaseStatus::Resolved as i32;
                c.resolved_at = Some(timestamp(2500));
            }) => InvalidArgument, "cases[0].resolved_at"),
        unary!("due date change reason with NUL", intake.push_cases,
            case_with(|c| c.due_date_changes = vec![DueDateChange { reason: format!("Chờ{NUL}"), ..due_date_change() }])
                => InvalidArgument, "cases[0].due_date_changes[0].reason"),
        unary!("due date changed on 30 February", intake.push_cases,
            case_with(|c| {
                c.due_date_changes = vec![DueDateChange { changed_on: "2026-02-30".into(), ..due_date_change() }]
            })
                => InvalidArgument, "cases[0].due_date_changes[0].changed_on"),
        unary!("due date changed to +262143", intake.push_cases,
            case_with(|c| c.due_date_changes = vec![DueDateChange {
                new_due_date: "+262143-01-01".into(),
                ..due_date_change()
            }]) => InvalidArgument, "cases[0].due_date_changes[0].new_due_date"),
        unary!("notice number with an escape", intake.push_cases,
            case_with(|c| c.apology_notices = vec![ApologyNotice { notice_number: ESCAPE.into(), ..notice() }])
                => InvalidArgument, "cases[0].apology_notices[0].notice_number"),
        unary!("notice reason with BEL", intake.push_cases,
            case_with(|c| c.apology_notices = vec![ApologyNotice { reason: format!("Chậm{BELL}"), ..notice() }])
                => InvalidArgument, "cases[0].apology_notices[0].reason"),
        unary!("notice reason category 99", intake.push_cases,
            case_with(|c| c.apology_notices = vec![ApologyNotice { reason_category: 99, ..notice() }])
                => InvalidArgument, "cases[0].apology_notices[0].reason_category"),
        unary!("notice delivery -1", intake.push_cases,
            case_with(|c| c.apology_notices = vec![ApologyNotice { delivery: -1, ..notice() }])
                => InvalidArgument, "cases[0].apology_notices[0].delivery"),
        unary!("notice issued in 1899", intake.push_cases,
            case_with(|c| c.apology_notices = vec![ApologyNotice { issued_on: "1899-12-31".into(), ..notice() }])
                => InvalidArgument, "cases[0].apology_notices[0].issued_on"),
        unary!("notice with an empty new due date", intake.push_cases,
            case_with(|c| c.apology_notices = vec![ApologyNotice { new_due_date: String::new(), ..notice() }])
                => InvalidArgument, "cases[0].apology_notices[0].new_due_date"),
        unary!("case of 1900 with a notice, from an agency not in the catalogue", intake.push_cases,
            case_with(|c| {
                c.resolving_agency_code = "NO-SUCH-AGENCY".into();
                c.received_at = Some(timestamp(1900));
                c.due_date = "1900-01-03".into();
                c.apology_notices = vec![ApologyNotice {
                    issued_on: "1900-01-02".into(),
                    original_due_date: "1900-01-03".into(),
                    new_due_date: "1900-01-05".into(),
                    ..notice()
                }];
            }) => InvalidArgument, "cases[0].resolving_agency_code"),
        unary!("1,000 notices on one case", intake.push_cases,
            case_with(|c| c.apology_notices = vec![notice(); 1_000]) => InvalidArgument, "cases[0].apology_notices"),
        unary!("1,000 due date changes on one case", intake.push_cases,
            case_with(|c| c.due_date_changes = vec![due_date_change(); 1_000])
                => InvalidArgument, "cases[0].due_date_changes"),
        unary!("5,001 cases", intake.push_cases,
            PushCasesRequest {
                cases: (0..5_001).map(|i| CaseRecord { case_code: format!("HS-{i}"), ..good_case() }).collect(),
                ..case_with(|_| {})
            } => InvalidArgument, "cases"),
        unary!("cases of a center code with NUL", intake.list_cases,
            ListCasesRequest { center_codes: vec![NUL.into()], ..list_cases() } => InvalidArgument, "center_codes[0]"),
        unary!("cases of a procedure code with BEL", intake.list_cases,
            ListCasesRequest { procedure_codes: vec![BELL.into()], ..list_cases() }
                => InvalidArgument, "procedure_codes[0]"),
        unary!("cases received from 2201", intake.list_cases,
            ListCasesRequest { received_from: "2201-01-01".into(), ..list_cases() }
                => InvalidArgument, "received_from"),
        unary!("cases received to an empty day", intake.list_cases,
            ListCasesRequest { received_to: String::new(), ..list_cases() } => InvalidArgument, "received_to"),
        unary!("cases after a forged token holding an escape", intake.list_cases,
            ListCasesRequest { page_token: paging::encode(&[ESCAPE]), ..list_cases() }
                => InvalidArgument, "page_token"),
        unary!("cases in pages of 4 billion", intake.list_cases,
            ListCasesRequest { page_size: u32::MAX, ..list_cases() } => InvalidArgument, "page_size"),
        unary!("cases of 100,001 centers", intake.list_cases,
            ListCasesRequest { center_codes: many_codes(100_001), ..list_cases() } => InvalidArgument, "center_codes"),
        unary!("changes after a cursor that is not one", intake.watch_changes,
            WatchChangesRequest { after_cursor: "abc".into() } => InvalidArgument, "after_cursor"),
        unary!("changes after a cursor holding NUL", intake.watch_changes,
            WatchChangesRequest { after_cursor: format!("1.{NUL}.2") } => InvalidArgument, "after_cursor"),
        case("list cells body cut short", "intake.ListCells", Code::InvalidArgument, None, |c: Clients| {
            raw_unary(c.raw_intake, "/onestop.intake.v1.IntakeService/ListCells", TRUNCATED_FIELD.to_vec())
        }),
    ]
}

fn aggregation_cases() -> Vec<Case> {
    use agg::*;
    vec![
        // Indicators.
        unary!("indicators of a unit code with NUL", aggregation.get_indicators,
            GetIndicatorsRequest { unit_code: format!("46{NUL}"), ..indicators() } => InvalidArgument, "unit_code"),
        unary!("indicators of a center code with BEL", aggregation.get_indicators,
            GetIndicatorsRequest { unit_code: String::new(), center_code: format!("BPMC{BELL}"), ..indicators() }
                => InvalidArgument, "center_code"),
        unary!("indicators from -5000", aggregation.get_indicators,
            GetIndicatorsRequest { period: days("-5000-01-01", "2026-03-31"), ..indicators() }
                => InvalidArgument, "period.from_day"),
        unary!("indicators to 2201", aggregation.get_indicators,
            GetIndicatorsRequest { period: days("2026-03-01", "2201-01-01"), ..indicators() }
                => InvalidArgument, "period.to_day"),
        unary!("indicators from 30 February", aggregation.get_indicators,
            GetIndicatorsRequest { period: days("2026-02-30", "2026-03-31"), ..indicators() }
                => InvalidArgument, "period.from_day"),
        unary!("indicators of year -5000", aggregation.get_indicators,
            in_quarter(quarter(-5000)) => InvalidArgument, "reporting_period.year"),
        unary!("indicators of year 2^30", aggregation.get_indicators,
            in_quarter(quarter(1 << 30)) => InvalidArgument, "reporting_period.year"),
        unary!("indicators of month 1 of year i32::MIN under Decree 09", aggregation.get_indicators,
            in_quarter(ReportingPeriod { kind: PeriodKind::Month as i32, ..quarter(i32::MIN) })
                => InvalidArgument, "reporting_period.year"),
        unary!("indicators of period kind 99", aggregation.get_indicators,
            in_quarter(ReportingPeriod { kind: 99, ..quarter(2026) }) => InvalidArgument, "reporting_period.kind"),
        unary!("indicators under cut-off rule -1", aggregation.get_indicators,
            in_quarter(ReportingPeriod { cut_off: -1, ..quarter(2026) })
                => InvalidArgument, "reporting_period.cut_off"),
        unary!("indicators of quarter 4 billion", aggregation.get_indicators,
            in_quarter(ReportingPeriod { number: u32::MAX, ..quarter(2026) }) => InvalidArgument, "reporting_period"),
        unary!("indicators of months starting on day 4 billion", aggregation.get_indicators,
            in_quarter(ReportingPeriod {
                cut_off: CutOffRule::Custom as i32,
                month_starts_on: u32::MAX,
                ..quarter(2026)
            }) => InvalidArgument, "reporting_period"),
        unary!("indicators by breakdown 99", aggregation.get_indicators,
            GetIndicatorsRequest { breakdown: 99, ..indicators() } => InvalidArgument, "breakdown"),
        unary!("indicators by breakdown -1", aggregation.get_indicators,
            GetIndicatorsRequest { breakdown: -1, ..indicators() } => InvalidArgument, "breakdown"),
        unary!("indicator id with NUL", aggregation.get_indicators,
            GetIndicatorsRequest { indicator_ids: vec![format!("online_case_share{NUL}")], ..indicators() }
                => InvalidArgument, "indicator_ids[0]"),
        unary!("100,001 indicator ids", aggregation.get_indicators,
            GetIndicatorsRequest { indicator_ids: vec!["online_case_share".into(); 100_001], ..indicators() }
                => InvalidArgument, "indicator_ids"),
        unary!("ranking by an indicator id with NUL", aggregation.rank_units,
            RankUnitsRequest {
                unit_code: PROVINCE.into(),
                period: march(),
                indicator_id: format!("online{NUL}"),
                ..Default::default()
            } => InvalidArgument, "indicator_id"),
        unary!("ranking of year 2^30", aggregation.rank_units,
            RankUnitsRequest {
                unit_code: PROVINCE.into(),
                reporting_period: Some(quarter(1 << 30)),
                indicator_id: "online_case_share".into(),
                ..Default::default()
            } => InvalidArgument, "reporting_period.year"),
        unary!("ranking under a unit code with an escape", aggregation.rank_units,
            RankUnitsRequest {
                unit_code: ESCAPE.into(),
                period: march(),
                indicator_id: "online_case_share".into(),
                ..Default::default()
            } => InvalidArgument, "unit_code"),
        // Definitions.
        unary!("indicator definition id with NUL", aggregation.define_indicator,
            define(IndicatorDefinition { id: format!("share{NUL}"), ..definition() })
                => InvalidArgument, "definition.id"),
        unary!("indicator description with BEL", aggregation.define_indicator,
            define(IndicatorDefinition { description: format!("Tỷ lệ{BELL}"), ..definition() })
                => InvalidArgument, "definition.description"),
        unary!("indicator numerator with NUL", aggregation.define_indicator,
            define(IndicatorDefinition { numerator: format!("received_online{NUL}"), ..definition() })
                => InvalidArgument, "definition.numerator"),
        unary!("indicator numerator of 100,001 terms", aggregation.define_indicator,
            define(IndicatorDefinition { numerator: vec!["received_online"; 100_001].join(" + "), ..definition() })
                => InvalidArgument, "definition.numerator"),
        unary!("indicator target NaN", aggregation.define_indicator,
            define(IndicatorDefinition { target: Some(f64::NAN), ..definition() })
                => InvalidArgument, "definition.target"),
        unary!("indicator points infinite", aggregation.define_indicator,
            define(IndicatorDefinition { max_points: Some(f64::INFINITY), ..definition() })
                => InvalidArgument, "definition.max_points"),
        unary!("indicator definition of 17 MiB", aggregation.define_indicator,
            define(IndicatorDefinition { description: "x".repeat(OVERSIZED_BYTES), ..definition() })
                => ResourceExhausted),
        // Form definitions.
        unary!("form title with NUL", aggregation.define_form,
            define_form(agg::FormDefinition { title: format!("Tình hình{NUL}"), ..form_definition() })
                => InvalidArgument, "definition.title"),
        unary!("form heading with BEL", aggregation.define_form,
            define_form(agg::FormDefinition {
                columns: (1..=13).map(|n| agg::FormColumn { headings: vec![format!("Cột {n}{BELL}")] }).collect(),
                ..form_definition()
            }) => InvalidArgument, "definition.columns[0].headings[0]"),
        unary!("form signature note with an escape", aggregation.define_form,
            define_form(agg::FormDefinition {
                signatures: vec![agg::FormSignature { title: "THỦ TRƯỞNG".into(), note: ESCAPE.into() }],
                ..form_definition()
            }) => InvalidArgument, "definition.signatures[0].note"),
        unary!("form valid from -5000", aggregation.define_form,
            define_form(agg::FormDefinition { valid_from: "-5000-01-01".into(), ..form_definition() })
                => InvalidArgument, "definition.valid_from"),
        unary!("form of 100,000 columns", aggregation.define_form,
            define_form(agg::FormDefinition { columns: vec![agg::FormColumn::default(); 100_000], ..form_definition() })
                => InvalidArgument, "definition.columns"),
        // Form 06.
        unary!("form 06 from -5000", aggregation.get_form06,
            GetForm06Request { period: days("-5000-01-01", "2026-03-31"), ..form06() }
                => InvalidArgument, "period.from_day"),
        unary!("form 06 of year -5000", aggregation.get_form06,
            GetForm06Request { period: None, reporting_period: Some(quarter(-5000)), ..form06() }
                => InvalidArgument, "reporting_period.year"),
        unary!("form 06 of a center code with NUL", aggregation.get_form06,
            GetForm06Request { unit_code: String::new(), center_code: NUL.into(), ..form06() }
                => InvalidArgument, "center_code"),
        unary!("form 06 file format 99", aggregation.export_form06, export(99) => InvalidArgument, "format"),
        unary!("form 06 file format -1", aggregation.export_form06, export(-1) => InvalidArgument, "format"),
        unary!("form 06 file to +262143", aggregation.export_form06,
            ExportForm06Request {
                report: Some(GetForm06Request { period: days("2026-03-01", "+262143-01-01"), ..form06() }),
                format: FileFormat::Csv as i32,
            } => InvalidArgument, "period.to_day"),
        // Late cases.
        unary!("late case list 99", aggregation.list_late_cases,
            ListLateCasesRequest { list: 99, ..late_cases() } => InvalidArgument, "list"),
        unary!("late case list -1", aggregation.list_late_cases,
            ListLateCasesRequest { list: -1, ..late_cases() } => InvalidArgument, "list"),
        unary!("late cases as of 2201", aggregation.list_late_cases,
            ListLateCasesRequest { as_of_day: "2201-01-01".into(), ..late_cases() } => InvalidArgument, "as_of_day"),
        unary!("late cases due within 4 billion working days", aggregation.list_late_cases,
            ListLateCasesRequest {
                list: LateCaseList::DueSoon as i32,
                due_within_working_days: u32::MAX,
                ..late_cases()
            } => InvalidArgument, "due_within_working_days"),
        unary!("late cases from -5000", aggregation.list_late_cases,
            ListLateCasesRequest { period: days("-5000-01-01", "2026-03-31"), ..late_cases() }
                => InvalidArgument, "period.from_day"),
        unary!("late cases of a procedure code with NUL", aggregation.list_late_cases,
            ListLateCasesRequest { procedure_code: format!("1.000948{NUL}"), ..late_cases() }
                => InvalidArgument, "procedure_code"),
        unary!("late cases of an agency code with BEL", aggregation.list_late_cases,
            ListLateCasesRequest { resolving_agency_code: format!("UBND{BELL}"), ..late_cases() }
                => InvalidArgument, "resolving_agency_code"),
        unary!("late cases after a forged token holding NUL", aggregation.list_late_cases,
            ListLateCasesRequest { page_token: paging::encode(&[&format!("HS{NUL}")]), ..late_cases() }
                => InvalidArgument, "page_token"),
        unary!("late cases in pages of 4 billion", aggregation.list_late_cases,
            ListLateCasesRequest { page_size: u32::MAX, ..late_cases() } => InvalidArgument, "page_size"),
        unary!("late counts as of +262143", aggregation.count_late_cases,
            CountLateCasesRequest { as_of_day: "+262143-01-01".into(), ..late_counts() }
                => InvalidArgument, "as_of_day"),
        unary!("late counts due within 4 billion working days", aggregation.count_late_cases,
            CountLateCasesRequest { due_within_working_days: u32::MAX, ..late_counts() }
                => InvalidArgument, "due_within_working_days"),
        unary!("late counts to an empty day", aggregation.count_late_cases,
            CountLateCasesRequest { period: days("2026-03-01", ""), ..late_counts() }
                => InvalidArgument, "period.to_day"),
        unary!("late case watch due within 99 working days", aggregation.watch_late_cases,
            WatchLateCasesRequest { unit_code: PROVINCE.into(), due_within_working_days: 99, ..Default::default() }
                => InvalidArgument, "due_within_working_days"),
        unary!("late case watch of a unit code with NUL", aggregation.watch_late_cases,
            WatchLateCasesRequest { unit_code: NUL.into(), due_within_working_days: 3, ..Default::default() }
                => InvalidArgument, "unit_code"),
        unary!("reconciliation of period kind 99", aggregation.reconcile_late_counts,
            ReconcileLateCountsRequest {
                period: None,
                reporting_period: Some(ReportingPeriod { kind: 99, ..quarter(2026) }),
                ..reconcile()
            } => InvalidArgument, "reporting_period.kind"),
        unary!("reconciliation from 1899", aggregation.reconcile_late_counts,
            ReconcileLateCountsRequest { period: days("1899-12-31", "2026-03-31"), ..reconcile() }
                => InvalidArgument, "period.from_day"),
        unary!("reporting gaps of period kind 99", aggregation.get_reporting_gaps,
            GetReportingGapsRequest {
                unit_code: PROVINCE.into(),
                reporting_period: Some(ReportingPeriod { kind: 99, ..quarter(2026) }),
                ..Default::default()
            } => InvalidArgument, "reporting_period.kind"),
        unary!("reporting gaps of a unit code with NUL", aggregation.get_reporting_gaps,
            GetReportingGapsRequest { unit_code: NUL.into(), period: march(), ..Default::default() }
                => InvalidArgument, "unit_code"),
        // Periodic reports.
        unary!("report of a unit code with NUL", aggregation.submit_report,
            SubmitReportRequest { unit_code: NUL.into(), reporting_period: Some(quarter(2026)), ..Default::default() }
                => InvalidArgument, "unit_code"),
        unary!("report of period kind 99", aggregation.submit_report,
            SubmitReportRequest {
                unit_code: PROVINCE.into(),
                reporting_period: Some(agg::ReportingPeriod { kind: 99, ..quarter(2026) }),
                ..Default::default()
            } => InvalidArgument, "reporting_period.kind"),
        unary!("report of the year -5000", aggregation.submit_report,
            SubmitReportRequest { unit_code: PROVINCE.into(), reporting_period: Some(quarter(-5000)), ..Default::default() }
                => InvalidArgument, "reporting_period.year"),
        unary!("report without a period", aggregation.submit_report,
            SubmitReportRequest { unit_code: PROVINCE.into(), ..Default::default() }
                => InvalidArgument, "reporting_period"),
        unary!("report with a note holding NUL", aggregation.submit_report,
            SubmitReportRequest {
                unit_code: PROVINCE.into(),
                reporting_period: Some(quarter(2026)),
                note: format!("ghi chú{NUL}"),
                ..Default::default()
            } => InvalidArgument, "note"),
        unary!("review of report 2^64-1", aggregation.review_report,
            ReviewReportRequest { report_id: u64::MAX, version: 1, decision: 1, reason: String::new() }
                => InvalidArgument, "report_id"),
        unary!("review with decision 99", aggregation.review_report,
            ReviewReportRequest { report_id: 1, version: 1, decision: 99, reason: String::new() }
                => InvalidArgument, "decision"),
        unary!("review returned with a reason holding BEL", aggregation.review_report,
            ReviewReportRequest { report_id: 1, version: 1, decision: 2, reason: format!("sai{BELL}") }
                => InvalidArgument, "reason"),
        unary!("review returned with a reason of ten megabytes", aggregation.review_report,
            ReviewReportRequest { report_id: 1, version: 1, decision: 2, reason: "x".repeat(10 << 20) }
                => InvalidArgument, "reason"),
        unary!("report 0", aggregation.get_report,
            GetReportRequest::default() => InvalidArgument, "report_id"),
        unary!("report comparison listing 4 billion corrections", aggregation.compare_report,
            CompareReportRequest { report_id: 1, version: 0, max_corrections: u32::MAX }
                => InvalidArgument, "max_corrections"),
        unary!("reports to a unit code with ESC", aggregation.list_reports,
            ListReportsRequest { unit_code: ESCAPE.into(), reporting_period: Some(quarter(2026)), ..Default::default() }
                => InvalidArgument, "unit_code"),
        unary!("reports exported for period kind 99", aggregation.export_reports,
            ExportReportsRequest {
                unit_code: PROVINCE.into(),
                reporting_period: Some(agg::ReportingPeriod { kind: 99, ..quarter(2026) }),
            } => InvalidArgument, "reporting_period.kind"),
        unary!("report deadlines of period kind 99", aggregation.set_report_deadlines,
            SetReportDeadlinesRequest {
                province_code: String::new(),
                deadlines: vec![ReportDeadline { period_kind: 99, reporter_kind: 2, days_after_period_end: 2 }],
            } => InvalidArgument, "deadlines[0].period_kind"),
        unary!("report deadlines 2^32-1 days after the period", aggregation.set_report_deadlines,
            SetReportDeadlinesRequest {
                province_code: String::new(),
                deadlines: vec![ReportDeadline { period_kind: 1, reporter_kind: 2, days_after_period_end: u32::MAX }],
            } => InvalidArgument, "deadlines[0].days_after_period_end"),
        unary!("report deadlines of a province code with NUL", aggregation.set_report_deadlines,
            SetReportDeadlinesRequest {
                province_code: NUL.into(),
                deadlines: vec![ReportDeadline { period_kind: 1, reporter_kind: 2, days_after_period_end: 2 }],
            } => InvalidArgument, "province_code"),
        // Set-aside changes.
        unary!("set-aside changes after a forged token of -5000", aggregation.list_set_aside_changes,
            set_aside_after(paging::encode(&["-5000-01-01T00:00:00Z", "intake", "1.0.1"]))
                => InvalidArgument, "page_token"),
        unary!("set-aside changes after a forged token of +262143", aggregation.list_set_aside_changes,
            set_aside_after(paging::encode(&["+262143-01-01T00:00:00Z", "intake", "1.0.1"]))
                => InvalidArgument, "page_token"),
        unary!("set-aside changes after a forged token of the year 1000", aggregation.list_set_aside_changes,
            set_aside_after(paging::encode(&["1000-01-01T00:00:00Z", "intake", "1.0.1"]))
                => InvalidArgument, "page_token"),
        unary!("set-aside changes after an unknown page token", aggregation.list_set_aside_changes,
            set_aside_after("zz".into()) => InvalidArgument, "page_token"),
        unary!("set-aside changes in pages of 4 billion", aggregation.list_set_aside_changes,
            ListSetAsideChangesRequest { page_size: u32::MAX, page_token: String::new() }
                => InvalidArgument, "page_size"),
        // Bodies that are not protobuf.
        case(
            "indicators body with an unterminated varint",
            "aggregation.GetIndicators",
            Code::InvalidArgument,
            None,
            |c: Clients| {
                raw_unary(
                    c.raw_aggregation,
                    "/onestop.aggregation.v1.AggregationService/GetIndicators",
                    UNTERMINATED_VARINT.to_vec(),
                )
            },
        ),
        case(
            "definition body with an unknown wire type",
            "aggregation.DefineIndicator",
            Code::InvalidArgument,
            None,
            |c: Clients| {
                raw_unary(
                    c.raw_aggregation,
                    "/onestop.aggregation.v1.AggregationService/DefineIndicator",
                    UNKNOWN_WIRE_TYPE.to_vec(),
                )
            },
        ),
    ]
}

/// Each table of the three schemas: its row count and a digest of its rows.
async fn stored_state(db: &PgPool) -> BTreeMap<String, (i64, String)> {
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema::text, table_name::text FROM information_schema.tables
         WHERE table_schema IN ('catalogue', 'intake', 'aggregation') AND table_type = 'BASE TABLE'
         ORDER BY 1, 2",
    )
    .fetch_all(db)
    .await
    .unwrap();
    assert!(tables.len() > 10, "the services' tables: {tables:?}");
    let mut state = BTreeMap::new();
    for (schema, table) in tables {
        let row: (i64, String) = sqlx::query_as(&format!(
            "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '')
             FROM \"{schema}\".\"{table}\" t"
        ))
        .fetch_one(db)
        .await
        .unwrap();
        state.insert(format!("{schema}.{table}"), row);
    }
    state
}

/// The stored state once the services' change feeds have nothing left to apply: the same twice in a row.
async fn settled_state(db: &PgPool) -> BTreeMap<String, (i64, String)> {
    let mut last = stored_state(db).await;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = stored_state(db).await;
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the stored state never settled")
}

/// Columns of `types` in the three schemas, named `name` if given, as (table, column).
async fn columns_of_types(db: &PgPool, types: &[&str], name: Option<&str>) -> Vec<(String, String)> {
    let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
    sqlx::query_as(
        "SELECT format('%I.%I', table_schema, table_name), format('%I', column_name)
         FROM information_schema.columns c
         WHERE table_schema IN ('catalogue', 'intake', 'aggregation') AND (data_type = ANY($1) OR udt_name = ANY($1))
           AND ($2::text IS NULL OR column_name = $2)
           AND EXISTS (SELECT 1 FROM information_schema.tables t WHERE t.table_schema = c.table_schema
                         AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE')",
    )
    .bind(&types)
    .bind(name)
    .fetch_all(db)
    .await
    .unwrap()
}

/// Every stored value a hostile input could have reached is sane: no date, time or year outside 1900–2200, no
/// control character but tabs and line breaks in any text (a NUL cannot even be stored).
async fn assert_stored_values_are_sane(db: &PgPool) {
    let moments = ["date", "timestamp with time zone", "timestamp without time zone"];
    let mut years: Vec<(String, String)> = columns_of_types(db, &moments, None)
        .await
        .into_iter()
        .map(|(table, column)| (table, format!("extract(year FROM {column})")))
        .collect();
    years.extend(columns_of_types(db, &["smallint", "integer", "bigint"], Some("year")).await);
    assert!(years.len() > 10, "the columns holding dates and years: {years:?}");
    for (table, year) in years {
        let outside: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE {year} NOT BETWEEN 1900 AND 2200"))
                .fetch_one(db)
                .await
                .unwrap();
        assert_eq!(outside, 0, "{table}: {year} outside 1900–2200");
    }
    for (table, column) in columns_of_types(db, &["text", "character varying", "_text"], None).await {
        let control: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table}
             WHERE array_to_string(ARRAY[{column}]::text[], ' ') ~ '[\\x01-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]'"
        ))
        .fetch_one(db)
        .await
        .unwrap();
        assert_eq!(control, 0, "{table}.{column} holds a control character");
    }
}

#[tokio::test]
async fn every_hostile_input_is_refused_by_name_and_nothing_of_it_is_stored() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let stack = &system.stack;
    // Something stored in intake too, so that a refused push has something to leave alone.
    stack.intake_client().push_cells(push(vec![good_cell()])).await.unwrap();
    let answer = stack
        .intake_client()
        .push_cases(int::PushCasesRequest { sender: "egov-46".into(), cases: vec![good_case()], all_or_nothing: true })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.created, 1);

    let db = PgPool::connect(system.database.url()).await.unwrap();
    let before = settled_state(&db).await;
    let sectors = stack.catalogue_client().list_sectors(cat::ListSectorsRequest {}).await.unwrap().into_inner();
    let definitions = stack
        .aggregation_client()
        .list_indicator_definitions(agg::ListIndicatorDefinitionsRequest { all_versions: true })
        .await
        .unwrap()
        .into_inner();

    let raw = |url: String| onestop_server::client::lazy_channel(&url, None, stack.operator()).unwrap();
    let clients = Clients {
        catalogue: stack.catalogue_client(),
        intake: stack.intake_client(),
        aggregation: stack.aggregation_client(),
        raw_catalogue: raw(stack.catalogue_url()),
        raw_intake: raw(stack.intake_url()),
        raw_aggregation: raw(stack.aggregation_url()),
    };
    let cases: Vec<Case> = [catalogue_cases(), intake_cases(), aggregation_cases()].into_iter().flatten().collect();
    let total = cases.len();
    let mut failures = Vec::new();
    for case in cases {
        let Case { name, method, call, expected, mentions } = case;
        let outcome = match tokio::time::timeout(DEADLINE, call(clients.clone())).await {
            Err(_) => Err(format!("no answer within {DEADLINE:?}")),
            Ok(Ok(())) => Err("accepted".to_string()),
            Ok(Err(status)) if status.code() != expected => {
                Err(format!("{:?} ({}), expected {expected:?}", status.code(), truncated(status.message())))
            }
            Ok(Err(status)) => match mentions {
                Some(field) if !status.message().contains(field) => {
                    Err(format!("the message does not name {field}: {}", truncated(status.message())))
                }
                _ => Ok(()),
            },
        };
        if let Err(why) = outcome {
            failures.push(format!("{method} — {name}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} hostile inputs were not refused as they should be:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total >= 80, "a battery of {total} cases");

    // Nothing of them was stored: every table as it was, the services saying the same, and every stored value sane.
    let after = settled_state(&db).await;
    let changed: BTreeSet<&String> =
        before.keys().chain(after.keys()).filter(|table| before.get(*table) != after.get(*table)).collect();
    assert!(changed.is_empty(), "tables changed by refused requests: {changed:?}");
    let sectors_after = stack.catalogue_client().list_sectors(cat::ListSectorsRequest {}).await.unwrap().into_inner();
    assert_eq!(sectors_after, sectors);
    let definitions_after = stack
        .aggregation_client()
        .list_indicator_definitions(agg::ListIndicatorDefinitionsRequest { all_versions: true })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(definitions_after, definitions);
    let decision = stack
        .catalogue_client()
        .get_decision(cat::GetDecisionRequest { number: "999/QĐ-UBND".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(decision.code(), Code::NotFound, "no hostile decision was published");
    let cells = stack
        .intake_client()
        .list_cells(int::ListCellsRequest {
            center_codes: vec![COMMUNE_CENTER.into(), PROVINCIAL_CENTER.into()],
            from_day: "1900-01-01".into(),
            to_day: "2200-12-31".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cells.cells, vec![good_cell()]);
    assert_stored_values_are_sane(&db).await;
    system.stack.shutdown().await.unwrap();
}

/// At most a few hundred characters of a message, so that a list of failures stays readable.
fn truncated(message: &str) -> String {
    match message.char_indices().nth(300) {
        Some((end, _)) => format!("{}…", &message[..end]),
        None => message.to_owned(),
    }
}
