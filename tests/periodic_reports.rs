//! The reporting cycle over real services: a commune, a department and the province submit their reports for a
//! period; each is frozen at one cursor with its files; late pushes show as differences and corrections; the
//! province returns and approves its units' reports, the nation the province's; deadlines say who is late; the
//! nation gets every province's reports and their units' status in one call and one file.

use std::io::Read;

use onestop_auth::{claims, Claims, Role, SCOPE_READ, SCOPE_REPORT};
use onestop_proto::aggregation::v1::*;
use onestop_proto::catalogue::v1::{
    DecisionAction, DecisionItem, ImplementingLevel, OnlineLevel, PublicationDecision, PublishDecisionRequest,
    SetCenterProceduresRequest,
};
use onestop_proto::intake::v1::{DailyCell, Measures, PushCellsRequest};
use onestop_server::auth::Credentials;
use onestop_server::client::{self, AggregationClient};
use onestop_system_tests::*;
use sha2::{Digest, Sha256};
use tonic::Code;

const DEPARTMENT: &str = "STP-46";
const DEPARTMENT_PROCEDURE: &str = "3.000001";

/// October under Decree 09/2019: 15 September to 14 October 2026.
fn october() -> ReportingPeriod {
    ReportingPeriod {
        kind: PeriodKind::Month as i32,
        year: 2026,
        number: 10,
        cut_off: CutOffRule::Decree09 as i32,
        month_starts_on: 0,
    }
}

fn cell(center: &str, procedure: &str, day: &str, on_time: i64, late: i64) -> DailyCell {
    DailyCell {
        center_code: center.into(),
        procedure_code: procedure.into(),
        day: day.into(),
        measures: Some(Measures {
            received_online: on_time + late,
            resolved_on_time: on_time,
            resolved_late: late,
            ..Default::default()
        }),
        computed_at: None,
    }
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

struct Principals {
    commune: AggregationClient,
    other_commune: AggregationClient,
    department: AggregationClient,
    province: AggregationClient,
    nation: AggregationClient,
}

fn principals(system: &TestSystem) -> Principals {
    let issuer = system.stack.keys().issuer.clone();
    let url = system.stack.aggregation_url();
    let client = |claims: Claims| client::aggregation(&url, None, &Credentials::token(issuer.issue(&claims))).unwrap();
    let scopes = [SCOPE_READ, SCOPE_REPORT];
    let unit =
        |code: &str| Claims { unit: Some(code.into()), ..claims(&format!("ubnd-{code}"), Role::Unit, &scopes, 600) };
    Principals {
        commune: client(unit(COMMUNE)),
        other_commune: client(unit("19754")),
        department: client(Claims { agency: Some(DEPARTMENT.into()), ..claims("stp-46", Role::Agency, &scopes, 600) }),
        province: client(Claims {
            province: Some(PROVINCE.into()),
            ..claims("office-46", Role::Province, &scopes, 600)
        }),
        nation: client(claims("ministry", Role::National, &scopes, 600)),
    }
}

fn submit(unit_code: &str, agency_code: &str, cursor: &str) -> SubmitReportRequest {
    SubmitReportRequest {
        unit_code: unit_code.into(),
        agency_code: agency_code.into(),
        reporting_period: Some(october()),
        min_intake_cursor: cursor.into(),
        ..Default::default()
    }
}

fn review(report: &ReportVersion, decision: ReviewDecision, reason: &str) -> ReviewReportRequest {
    ReviewReportRequest {
        report_id: report.report_id,
        version: report.version,
        decision: decision as i32,
        reason: reason.into(),
    }
}

/// A department procedure, received at the provincial center.
async fn department_procedure(system: &TestSystem) {
    let mut catalogue = system.stack.catalogue_client();
    let mut p = procedure(DEPARTMENT_PROCEDURE, "Cấp phiếu lý lịch tư pháp", OnlineLevel::Full);
    p.implementing_levels = vec![ImplementingLevel::Province as i32];
    p.implementing_agency_code = DEPARTMENT.into();
    p.sector_code = "CHUNGTHUC".into();
    let decision = PublicationDecision {
        number: "90/QĐ-UBND".into(),
        signed_on: "2025-12-01".into(),
        issuer: "Chủ tịch UBND tỉnh".into(),
        effective_from: "2026-01-01".into(),
        items: vec![DecisionItem { action: DecisionAction::New as i32, procedure: Some(p), ..Default::default() }],
        ..Default::default()
    };
    catalogue.publish_decision(PublishDecisionRequest { decision: Some(decision) }).await.unwrap();
    catalogue
        .set_center_procedures(SetCenterProceduresRequest {
            center_code: PROVINCIAL_CENTER.into(),
            effective_from: "2026-01-01".into(),
            procedure_codes: vec![FULL_PROCEDURE.into(), DEPARTMENT_PROCEDURE.into()],
            source: "Quyết định 127/QĐ-UBND".into(),
        })
        .await
        .unwrap();
}

async fn push(system: &TestSystem, sender: &str, cells: Vec<DailyCell>) -> String {
    let request = PushCellsRequest { sender: sender.into(), cells, ..Default::default() };
    system.stack.intake_client().push_cells(request).await.unwrap().into_inner().cursor
}

async fn export(mut aggregation: AggregationClient, unit_code: &str) -> (String, Vec<u8>) {
    let request = ExportReportsRequest { unit_code: unit_code.into(), reporting_period: Some(october()) };
    let mut stream = aggregation.export_reports(request).await.unwrap().into_inner();
    let (mut name, mut bytes) = (String::new(), Vec::new());
    while let Some(piece) = stream.message().await.unwrap() {
        if name.is_empty() {
            name = piece.file_name;
        }
        bytes.extend(piece.chunk);
    }
    (name, bytes)
}

fn zip_entry(zip: &[u8], name: &str) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut file = archive.by_name(name).unwrap_or_else(|_| panic!("no {name} in the ZIP"));
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    bytes
}

#[tokio::test]
async fn reports_are_frozen_reviewed_compared_and_sent_up() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    department_procedure(&system).await;
    let Principals { mut commune, mut other_commune, mut department, mut province, mut nation } = principals(&system);

    // The province gives its communes a year to report October; its departments keep the default (the 16th).
    let a_year_for = |reporter: ReporterKind| SetReportDeadlinesRequest {
        province_code: PROVINCE.into(),
        deadlines: vec![ReportDeadline {
            period_kind: PeriodKind::Month as i32,
            reporter_kind: reporter as i32,
            days_after_period_end: 366,
        }],
    };
    let deadlines =
        province.set_report_deadlines(a_year_for(ReporterKind::Locality)).await.unwrap().into_inner().deadlines;
    let days_for = |kind: ReporterKind| {
        deadlines
            .iter()
            .find(|d| d.period_kind == PeriodKind::Month as i32 && d.reporter_kind == kind as i32)
            .unwrap()
            .days_after_period_end
    };
    assert_eq!((days_for(ReporterKind::Locality), days_for(ReporterKind::Agency)), (366, 2));
    assert_eq!(days_for(ReporterKind::Province), 6, "Decree 09/2019's default for provinces: the 20th");
    let refused = province.set_report_deadlines(a_year_for(ReporterKind::Province)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "a province does not set its own deadline");

    // Before anyone reports, the province sees who has not.
    let list =
        ListReportsRequest { unit_code: PROVINCE.into(), reporting_period: Some(october()), ..Default::default() };
    let before = province.list_reports(list.clone()).await.unwrap().into_inner();
    let codes: Vec<(&str, i32, bool)> =
        before.reporters.iter().map(|r| (r.reporter_code.as_str(), r.status, r.late)).collect();
    let not_submitted = ReportStatus::NotSubmitted as i32;
    assert_eq!(codes, [(COMMUNE, not_submitted, false), (DEPARTMENT, not_submitted, true)]);
    assert_eq!(before.reporters[0].due_day, "2027-10-15");
    assert_eq!(before.reporters[1].due_day, "2026-10-16");
    assert_eq!(before.own.as_ref().unwrap().due_day, "2026-10-20");
    assert_eq!(before.days.unwrap().from_day, "2026-09-15");

    // October's cells: the commune's center, and the department's procedure at the provincial center.
    let cursor = push(
        &system,
        "egov-46",
        vec![
            cell(COMMUNE_CENTER, FULL_PROCEDURE, "2026-10-01", 9, 1),
            cell(PROVINCIAL_CENTER, DEPARTMENT_PROCEDURE, "2026-10-02", 4, 0),
            cell(PROVINCIAL_CENTER, FULL_PROCEDURE, "2026-10-02", 6, 0),
        ],
    )
    .await;

    // The commune submits: its figures at one cursor, with both files.
    let submitted = commune.submit_report(submit(COMMUNE, "", &cursor)).await.unwrap().into_inner().report.unwrap();
    assert_eq!((submitted.version, submitted.status), (1, ReportStatus::Submitted as i32));
    assert_eq!((submitted.reporter_kind, submitted.reporter_code.as_str()), (ReporterKind::Locality as i32, COMMUNE));
    assert_eq!(submitted.submitted_by, format!("ubnd-{COMMUNE}"));
    assert!(!submitted.late);
    assert_eq!(submitted.completeness_through_day, "2026-10-14");
    assert_eq!(submitted.late_cases_as_of_day, onestop_domain::today_in_vietnam(chrono::Utc::now()).to_string());
    let freshness = submitted.freshness.clone().unwrap();
    assert_eq!(freshness.intake_cursor, cursor);
    let form = submitted.form06.clone().unwrap();
    assert_eq!(form.total.as_ref().unwrap().columns[0], 10, "the commune's ten cases only");
    // Exactly the live answers at that cursor.
    let live_form = commune
        .get_form06(GetForm06Request {
            unit_code: COMMUNE.into(),
            reporting_period: Some(october()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(live_form, form);
    let live_indicators = commune
        .get_indicators(GetIndicatorsRequest {
            unit_code: COMMUNE.into(),
            reporting_period: Some(october()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(Some(live_indicators), submitted.indicators);
    // A commune reads its own unit, not its province; a department what it implements, not its unit.
    let indicators = |unit: &str, agency: &str| GetIndicatorsRequest {
        unit_code: unit.into(),
        agency_code: agency.into(),
        reporting_period: Some(october()),
        ..Default::default()
    };
    assert_eq!(commune.get_indicators(indicators(PROVINCE, "")).await.unwrap_err().code(), Code::PermissionDenied);
    department.get_indicators(indicators("", DEPARTMENT)).await.unwrap();
    assert_eq!(department.get_indicators(indicators(PROVINCE, "")).await.unwrap_err().code(), Code::PermissionDenied);
    let form_of = |agency: &str| GetForm06Request {
        agency_code: agency.into(),
        reporting_period: Some(october()),
        ..Default::default()
    };
    let own_form = department.get_form06(form_of(DEPARTMENT)).await.unwrap().into_inner();
    assert_eq!(own_form.total.unwrap().columns[0], 4, "only the department's procedure");
    assert_eq!(department.get_form06(form_of("UBND-19753")).await.unwrap_err().code(), Code::PermissionDenied);

    // Files as submitted, byte for byte, with their hashes.
    let get = GetReportRequest { report_id: submitted.report_id, version: 1, include_file_contents: true };
    let stored = commune.get_report(get).await.unwrap().into_inner().report.unwrap();
    let (csv, xlsx) = (stored.csv.clone().unwrap(), stored.xlsx.clone().unwrap());
    assert_eq!(sha256(&csv.content), csv.sha256);
    assert_eq!(sha256(&xlsx.content), xlsx.sha256);
    assert_eq!(csv.sha256, submitted.csv.as_ref().unwrap().sha256);
    assert!(submitted.csv.as_ref().unwrap().content.is_empty(), "bytes only when asked for");
    assert!(String::from_utf8_lossy(&csv.content).contains("Hộ tịch"));
    assert!(xlsx.content.starts_with(b"PK"));

    // Only the commune submits its own, once, and only for a period that has ended.
    let denied = other_commune.submit_report(submit(COMMUNE, "", "")).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(denied.message().contains("unit_code"), "{}", denied.message());
    let again = commune.submit_report(submit(COMMUNE, "", "")).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{}", again.message());
    let this_month = ReportingPeriod { kind: PeriodKind::Year as i32, year: 2099, ..october() };
    let early = SubmitReportRequest { reporting_period: Some(this_month), ..submit(COMMUNE, "", "") };
    assert_eq!(commune.submit_report(early).await.unwrap_err().code(), Code::FailedPrecondition);
    let unread = other_commune.get_report(get).await.unwrap_err();
    assert_eq!(unread.code(), Code::PermissionDenied);

    // A correction and a late day arrive after submission.
    let correction = push(
        &system,
        "egov-46-fix",
        vec![
            cell(COMMUNE_CENTER, FULL_PROCEDURE, "2026-10-01", 7, 3),
            cell(COMMUNE_CENTER, PARTIAL_PROCEDURE, "2026-10-05", 2, 0),
        ],
    )
    .await;
    let after = commune
        .get_indicators(GetIndicatorsRequest {
            unit_code: COMMUNE.into(),
            reporting_period: Some(october()),
            min_intake_cursor: correction.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.freshness.unwrap().intake_cursor, correction);

    // The report still reads as submitted, files and all.
    let still = commune.get_report(get).await.unwrap().into_inner().report.unwrap();
    assert!(still == stored, "the report changed under later pushes");

    // The comparison shows what moved, row by column, and the pushes behind it.
    let compared = province
        .compare_report(CompareReportRequest { report_id: submitted.report_id, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(compared.current.unwrap().intake_cursor, correction);
    let total: Vec<(u32, u64, u64)> =
        compared.form06.iter().filter(|d| d.level.is_empty()).map(|d| (d.column, d.submitted, d.current)).collect();
    // Received 10 → 12 (col 3, 4), resolved 10 → 12 (col 7), on time 9 → 9 (7 + 2), late 1 → 3 (col 10).
    assert_eq!(total, [(3, 10, 12), (4, 10, 12), (7, 10, 12), (10, 1, 3)]);
    assert!(compared.form06.iter().any(|d| d.sector_code == "HOTICH" && d.column == 10 && d.current == 3));
    let on_time = compared.indicators.iter().find(|d| d.indicator_id == "on_time_rate_form06").unwrap();
    assert_eq!((on_time.submitted_numerator, on_time.current_numerator), (9, 9));
    assert_eq!((on_time.submitted_denominator, on_time.current_denominator), (10, 12));
    assert_eq!(compared.corrections_total, 2);
    let fix = &compared.corrections[0];
    assert_eq!(
        (fix.center_code.as_str(), fix.day.as_str(), fix.sender.as_str()),
        (COMMUNE_CENTER, "2026-10-01", "egov-46-fix")
    );
    assert!(fix.changed_at.is_some() && !fix.cursor.is_empty());
    let moved: Vec<(&str, u64, u64)> = fix.changes.iter().map(|c| (c.measure.as_str(), c.before, c.after)).collect();
    assert_eq!(moved, [("resolved_on_time", 9, 7), ("resolved_late", 1, 3)]);
    assert_eq!(compared.corrections[1].changes[0].before, 0, "a day first pushed after submission");

    // Review: only the province, only the version awaiting review, a reason to return it.
    let own_review = commune.review_report(review(&submitted, ReviewDecision::Approve, "")).await.unwrap_err();
    assert_eq!(own_review.code(), Code::PermissionDenied);
    let nation_review = nation.review_report(review(&submitted, ReviewDecision::Approve, "")).await.unwrap_err();
    assert_eq!(nation_review.code(), Code::PermissionDenied, "the nation reviews provinces");
    let no_reason = province.review_report(review(&submitted, ReviewDecision::Return, "")).await.unwrap_err();
    assert_eq!(no_reason.code(), Code::InvalidArgument);
    assert!(no_reason.message().contains("reason"));
    let returned = province
        .review_report(review(&submitted, ReviewDecision::Return, "Số liệu ngày 01/10 đã được đính chính"))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert_eq!((returned.status, returned.reviewed_by.as_str()), (ReportStatus::Returned as i32, "office-46"));
    let twice = province.review_report(review(&submitted, ReviewDecision::Approve, "")).await.unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);
    let listed = province.list_reports(list.clone()).await.unwrap().into_inner();
    let commune_status = listed.reporters.iter().find(|r| r.reporter_code == COMMUNE).unwrap();
    assert_eq!(commune_status.status, ReportStatus::Returned as i32);
    assert_eq!(commune_status.return_reason, "Số liệu ngày 01/10 đã được đính chính");

    // Submitted again: version 2 carries the corrections, version 1 is kept as it was.
    let second = commune.submit_report(submit(COMMUNE, "", &correction)).await.unwrap().into_inner().report.unwrap();
    assert_eq!((second.version, second.report_id), (2, submitted.report_id));
    assert_eq!(second.form06.as_ref().unwrap().total.as_ref().unwrap().columns[0], 12);
    let first = commune.get_report(get).await.unwrap().into_inner().report.unwrap();
    assert_eq!(first.status, ReportStatus::Returned as i32);
    // Its review aside, version 1 is what was stored at submission, byte for byte.
    let unreviewed = ReportVersion {
        status: stored.status,
        reviewed_by: String::new(),
        reviewed_at: None,
        return_reason: String::new(),
        ..first
    };
    assert!(unreviewed == stored, "version 1 changed after it was returned");
    let history = commune
        .get_report(GetReportRequest { report_id: submitted.report_id, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .history;
    let statuses: Vec<(u32, i32)> = history.iter().map(|v| (v.version, v.status)).collect();
    assert_eq!(statuses, [(1, ReportStatus::Returned as i32), (2, ReportStatus::Submitted as i32)]);
    assert_eq!(history[0].return_reason, "Số liệu ngày 01/10 đã được đính chính");
    let unchanged = commune
        .compare_report(CompareReportRequest { report_id: submitted.report_id, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(unchanged.form06.is_empty() && unchanged.indicators.is_empty(), "{unchanged:?}");
    assert_eq!(unchanged.corrections_total, 0);
    province.review_report(review(&second, ReviewDecision::Approve, "")).await.unwrap();
    let closed = commune.submit_report(submit(COMMUNE, "", "")).await.unwrap_err();
    assert_eq!(closed.code(), Code::FailedPrecondition, "an approved report is final");

    // The department reports only what it implements, after its due day.
    let by_department =
        department.submit_report(submit("", DEPARTMENT, "")).await.unwrap().into_inner().report.unwrap();
    assert_eq!(by_department.reporter_kind, ReporterKind::Agency as i32);
    assert_eq!(by_department.form06.as_ref().unwrap().total.as_ref().unwrap().columns[0], 4);
    assert!(by_department.late);
    assert_eq!(by_department.due_day, "2026-10-16");
    let not_its_own = department.submit_report(submit(COMMUNE, "", "")).await.unwrap_err();
    assert_eq!(not_its_own.code(), Code::PermissionDenied);

    // The province's own report carries its units' status as they stood.
    let provincial = province.submit_report(submit(PROVINCE, "", "")).await.unwrap().into_inner().report.unwrap();
    assert_eq!(provincial.reporter_kind, ReporterKind::Province as i32);
    assert_eq!(provincial.form06.as_ref().unwrap().total.as_ref().unwrap().columns[0], 22);
    let units: Vec<(&str, i32)> = provincial.units.iter().map(|u| (u.reporter_code.as_str(), u.status)).collect();
    assert_eq!(units, [(COMMUNE, ReportStatus::Approved as i32), (DEPARTMENT, ReportStatus::Submitted as i32)]);
    let self_review = province.review_report(review(&provincial, ReviewDecision::Approve, "")).await.unwrap_err();
    assert_eq!(self_review.code(), Code::PermissionDenied);

    // The nation gets every province's report and status in one call, and approves it.
    let national = nation
        .list_reports(ListReportsRequest {
            unit_code: "VN".into(),
            reporting_period: Some(october()),
            include_figures: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(national.own.is_none());
    let provinces: Vec<(&str, i32)> = national.reporters.iter().map(|r| (r.reporter_code.as_str(), r.status)).collect();
    assert_eq!(provinces, [(PROVINCE, ReportStatus::Submitted as i32)]);
    assert_eq!(national.reports.len(), 1);
    assert_eq!(national.reports[0].units.len(), 2);
    assert_eq!(national.reports[0].form06, provincial.form06);
    let denied = province
        .list_reports(ListReportsRequest {
            unit_code: "VN".into(),
            reporting_period: Some(october()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    nation.review_report(review(&provincial, ReviewDecision::Approve, "")).await.unwrap();

    // The province's list now: the department still awaits review, the commune is approved.
    let now = province.list_reports(list).await.unwrap().into_inner();
    assert_eq!(now.own.unwrap().status, ReportStatus::Approved as i32);
    let statuses: Vec<(&str, i32, bool)> =
        now.reporters.iter().map(|r| (r.reporter_code.as_str(), r.status, r.late)).collect();
    assert_eq!(
        statuses,
        [(COMMUNE, ReportStatus::Approved as i32, false), (DEPARTMENT, ReportStatus::Submitted as i32, true)]
    );

    // Sent up as one file: the status table and each report's own files, byte for byte.
    let (name, zip) = export(nation.clone(), "VN").await;
    assert!(name.ends_with(".zip"), "{name}");
    let table = String::from_utf8(zip_entry(&zip, "trang-thai.csv")).unwrap();
    assert!(table.contains(PROVINCE) && table.contains("Đã duyệt"), "{table}");
    let province_csv = provincial.csv.as_ref().unwrap();
    let inside = zip_entry(&zip, &format!("{PROVINCE}/v1/{}", province_csv.file_name));
    assert_eq!(sha256(&inside), province_csv.sha256);
    let (_, units_zip) = export(province.clone(), PROVINCE).await;
    let commune_xlsx = second.xlsx.as_ref().unwrap();
    let inside = zip_entry(&units_zip, &format!("{COMMUNE}/v2/{}", commune_xlsx.file_name));
    assert_eq!(sha256(&inside), commune_xlsx.sha256);
    system.stack.shutdown().await.unwrap();
}

/// A report submitted while pushes keep arriving loses none of them: every change after its cursor is either in
/// its figures or among its corrections, so submitted + corrections = the figures now, measure by measure.
#[tokio::test(flavor = "multi_thread")]
async fn pushes_during_a_submission_are_in_the_figures_or_among_the_corrections() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let Principals { mut commune, .. } = principals(&system);
    push(&system, "egov-46", vec![cell(COMMUNE_CENTER, FULL_PROCEDURE, "2026-09-20", 1, 0)]).await;
    // Forty pushes, each correcting up to ten days before and adding one, while the commune submits.
    let pusher = {
        let mut intake = system.stack.intake_client();
        tokio::spawn(async move {
            let mut cursor = String::new();
            for round in 1..=40i64 {
                let cells = (0..=round.min(10))
                    .map(|d| cell(COMMUNE_CENTER, FULL_PROCEDURE, &format!("2026-09-{:02}", 20 + d % 11), round, d % 3))
                    .collect();
                let request = PushCellsRequest { sender: format!("egov-{round}"), cells, ..Default::default() };
                cursor = intake.push_cells(request).await.unwrap().into_inner().cursor;
            }
            cursor
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let submitted = commune.submit_report(submit(COMMUNE, "", "")).await.unwrap().into_inner().report.unwrap();
    let last = pusher.await.unwrap();
    let now = commune
        .get_form06(GetForm06Request {
            unit_code: COMMUNE.into(),
            reporting_period: Some(october()),
            min_intake_cursor: last,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let compared = commune
        .compare_report(CompareReportRequest { report_id: submitted.report_id, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(compared.corrections_total > 0, "the submission ran while pushes arrived");
    assert_eq!(compared.corrections_total as usize, compared.corrections.len());
    let moved = |measure: &str| -> i64 {
        compared
            .corrections
            .iter()
            .flat_map(|c| &c.changes)
            .filter(|m| m.measure == measure)
            .map(|m| m.after as i64 - m.before as i64)
            .sum()
    };
    let total = |form: &GetForm06Response, column: usize| form.total.as_ref().unwrap().columns[column] as i64;
    let before = submitted.form06.as_ref().unwrap();
    // Columns 4 (received online), 9 (on time) and 10 (late).
    for (column, measure) in [(1, "received_online"), (6, "resolved_on_time"), (7, "resolved_late")] {
        assert_eq!(total(before, column) + moved(measure), total(&now, column), "{measure}");
    }
    system.stack.shutdown().await.unwrap();
}
