//! What a provincial office reads, over real services: names beside every code (indicator groups, rankings,
//! late-case lists and counts, reconciliation), indicator labels in Vietnamese and English with their display
//! unit, rankings where lower is better, and each late case's apology notices, inside its province only.

use chrono::{NaiveDate, TimeZone, Utc};
use onestop_auth::{claims, Claims, Role, SCOPE_READ};
use onestop_proto::aggregation::v1::*;
use onestop_proto::catalogue::v1::{
    AdministrativeUnit, Center, CenterKind, UnitLevel, UpsertCentersRequest, UpsertUnitsRequest,
};
use onestop_proto::intake::v1::{
    ApologyNotice, CaseRecord, CaseStatus, Channel, DailyCell, DelayReasonCategory, Measures, NoticeDelivery,
    PushCasesRequest, PushCellsRequest,
};
use onestop_server::auth::Credentials;
use onestop_server::client;
use onestop_system_tests::*;
use tonic::Code;

const SECOND_COMMUNE: &str = "19754";
const SECOND_CENTER: &str = "BPMC-19754";

fn at(day: &str) -> prost_types::Timestamp {
    // 09:00 in Vietnam.
    let day: NaiveDate = day.parse().unwrap();
    let utc = Utc.from_utc_datetime(&day.and_hms_opt(2, 0, 0).unwrap());
    prost_types::Timestamp { seconds: utc.timestamp(), nanos: 0 }
}

fn late_case() -> CaseRecord {
    let notice = |number: &str, issued: &str, original: &str, new: &str, delivery: NoticeDelivery| ApologyNotice {
        notice_number: number.into(),
        issuing_agency_code: "UBND-19753".into(),
        issued_on: issued.into(),
        reason: "Chờ ý kiến của Sở Tư pháp".into(),
        reason_category: DelayReasonCategory::InteragencyCoordination as i32,
        original_due_date: original.into(),
        new_due_date: new.into(),
        delivery: delivery as i32,
    };
    CaseRecord {
        case_code: "HS-XIN-LOI".into(),
        procedure_code: FULL_PROCEDURE.into(),
        receiving_center_code: COMMUNE_CENTER.into(),
        resolving_agency_code: "UBND-19753".into(),
        filing_channel: Channel::Online as i32,
        return_channel: Channel::Postal as i32,
        received_at: Some(at("2026-03-02")),
        // Due Thursday 5 March: the first notice is due by Wednesday 4 March and is; the second apologises on
        // Friday 13 March for missing Thursday 12 March, a day late.
        due_date: "2026-03-05".into(),
        resolved_at: Some(at("2026-03-16")),
        status: CaseStatus::Resolved as i32,
        apology_notices: vec![
            notice("15/TB-UBND", "2026-03-04", "2026-03-05", "2026-03-12", NoticeDelivery::Electronic),
            notice("18/TB-UBND", "2026-03-13", "2026-03-12", "2026-03-16", NoticeDelivery::Postal),
        ],
        ..Default::default()
    }
}

fn cell(center: &str, on_time: i64, late: i64) -> DailyCell {
    DailyCell {
        center_code: center.into(),
        procedure_code: FULL_PROCEDURE.into(),
        day: "2026-03-10".into(),
        measures: Some(Measures {
            received_online: on_time + late,
            resolved_on_time: on_time,
            resolved_late: late,
            ..Default::default()
        }),
        computed_at: None,
    }
}

fn march() -> Option<DayRange> {
    Some(DayRange { from_day: "2026-03-01".into(), to_day: "2026-03-31".into() })
}

fn office(code: &str) -> Claims {
    Claims { province: Some(code.into()), ..claims(&format!("office-{code}"), Role::Province, &[SCOPE_READ], 600) }
}

#[tokio::test]
async fn the_office_reads_names_labels_rankings_and_apology_notices() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut catalogue = system.stack.catalogue_client();
    let commune = AdministrativeUnit {
        code: SECOND_COMMUNE.into(),
        name: "Phường Bắc Lý".into(),
        level: UnitLevel::Commune as i32,
        parent_code: PROVINCE.into(),
        valid_from: "2025-07-01".into(),
        ..Default::default()
    };
    let other_province = AdministrativeUnit {
        code: "47".into(),
        name: "Tỉnh khác".into(),
        level: UnitLevel::Province as i32,
        valid_from: "2025-07-01".into(),
        ..Default::default()
    };
    catalogue.upsert_units(UpsertUnitsRequest { units: vec![commune, other_province] }).await.unwrap();
    let center = Center {
        code: SECOND_CENTER.into(),
        name: "Bộ phận Một cửa phường Bắc Lý".into(),
        unit_code: SECOND_COMMUNE.into(),
        kind: CenterKind::Local as i32,
        parent_center_code: String::new(),
    };
    catalogue.upsert_centers(UpsertCentersRequest { centers: vec![center] }).await.unwrap();
    catalogue.set_center_procedures(center_procedures(SECOND_CENTER)).await.unwrap();

    // Đồng Hới resolves 9 of 10 on time, Bắc Lý 5 of 10.
    let mut intake = system.stack.intake_client();
    let cells = vec![cell(COMMUNE_CENTER, 9, 1), cell(SECOND_CENTER, 5, 5)];
    intake.push_cells(PushCellsRequest { sender: "egov".into(), cells, ..Default::default() }).await.unwrap();
    let cases = PushCasesRequest { sender: "egov".into(), cases: vec![late_case()], all_or_nothing: true };
    // The later write's cursor covers the cells too.
    let cursor = intake.push_cases(cases).await.unwrap().into_inner().cursor;

    let issuer = system.stack.keys().issuer.clone();
    let as_office = |province: &str| Credentials::token(issuer.issue(&office(province)));
    let mut aggregation = client::aggregation(&system.stack.aggregation_url(), None, &as_office(PROVINCE)).unwrap();

    // Indicators carry their labels and display unit, groups their names.
    let answer = aggregation
        .get_indicators(GetIndicatorsRequest {
            unit_code: PROVINCE.into(),
            period: march(),
            breakdown: Breakdown::Center as i32,
            min_intake_cursor: cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let on_time = answer.indicators.iter().find(|r| r.indicator_id == "on_time_rate_form06").unwrap();
    assert_eq!(on_time.label_vi, "Tỷ lệ hồ sơ giải quyết trước và đúng hạn (Mẫu 06)");
    assert_eq!(on_time.label_en, "Cases resolved early or on time (form 06)");
    assert_eq!(on_time.display_unit, DisplayUnit::Percent as i32);
    assert!(!on_time.lower_is_better);
    for result in &answer.indicators {
        assert!(!result.label_vi.is_empty() && !result.label_en.is_empty(), "{} has no labels", result.indicator_id);
    }
    let names: Vec<(&str, &str)> = answer.groups.iter().map(|g| (g.key.as_str(), g.name.as_str())).collect();
    assert!(names.contains(&(SECOND_CENTER, "Bộ phận Một cửa phường Bắc Lý")), "{names:?}");

    // Rankings name the units; where lower is better, the lowest value ranks first.
    let rank = |indicator: &str| {
        let mut aggregation = aggregation.clone();
        let request = RankUnitsRequest {
            unit_code: PROVINCE.into(),
            period: march(),
            indicator_id: indicator.into(),
            min_intake_cursor: cursor.clone(),
            ..Default::default()
        };
        async move { aggregation.rank_units(request).await.unwrap().into_inner().units }
    };
    let by_on_time = rank("on_time_rate_form06").await;
    let order = |units: &[RankedUnit]| units.iter().map(|u| (u.rank, u.unit_name.clone())).collect::<Vec<_>>();
    assert_eq!(order(&by_on_time), [(1, "Phường Đồng Hới".to_owned()), (2, "Phường Bắc Lý".to_owned())]);
    let by_late_rate = rank("late_rate_gia_lai").await;
    assert!(by_late_rate[0].result.as_ref().unwrap().lower_is_better);
    assert_eq!(order(&by_late_rate), [(1, "Phường Đồng Hới".to_owned()), (2, "Phường Bắc Lý".to_owned())]);

    // The late case, named, with both notices and what was found in each.
    let listed = aggregation
        .list_late_cases(ListLateCasesRequest {
            unit_code: PROVINCE.into(),
            list: LateCaseList::ResolvedLate as i32,
            period: march(),
            min_intake_cursor: cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert_eq!(listed.len(), 1);
    let case = &listed[0];
    assert_eq!(case.procedure_name, "Đăng ký khai sinh");
    assert_eq!(case.center_name, "Bộ phận Một cửa phường Đồng Hới");
    assert_eq!(case.resolving_agency_name, "UBND phường Đồng Hới");
    let notices = &case.apology_notices;
    assert_eq!(notices.len(), 2);
    let first = &notices[0];
    assert_eq!(
        (first.notice_number.as_str(), first.issued_on.as_str(), first.new_due_date.as_str()),
        ("15/TB-UBND", "2026-03-04", "2026-03-12")
    );
    assert_eq!(first.reason, "Chờ ý kiến của Sở Tư pháp");
    assert_eq!(first.reason_category, DelayReason::InteragencyCoordination as i32);
    assert_eq!(first.delivery, Delivery::Electronic as i32);
    assert_eq!(first.issuing_agency_name, "UBND phường Đồng Hới");
    assert!(!first.issued_after_deadline && !first.new_due_date_not_later && first.not_assessed.is_empty());
    let second = &notices[1];
    assert_eq!((second.notice_number.as_str(), second.delivery), ("18/TB-UBND", Delivery::Postal as i32));
    assert!(second.issued_after_deadline, "issued the day after the date it apologises for");
    assert!(case.notice_after_deadline);

    // Counts and reconciliation name their units and centers.
    let counts = aggregation
        .count_late_cases(CountLateCasesRequest {
            unit_code: PROVINCE.into(),
            period: march(),
            min_intake_cursor: cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(counts.total.as_ref().unwrap().name, "Tỉnh Quảng Trị");
    let unit_names: Vec<(&str, &str)> = counts.units.iter().map(|u| (u.key.as_str(), u.name.as_str())).collect();
    assert!(unit_names.contains(&(COMMUNE, "Phường Đồng Hới")), "{unit_names:?}");
    assert!(unit_names.contains(&(SECOND_COMMUNE, "Phường Bắc Lý")), "{unit_names:?}");
    let reconciled = aggregation
        .reconcile_late_counts(ReconcileLateCountsRequest {
            unit_code: PROVINCE.into(),
            period: march(),
            min_intake_cursor: cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    for center in &reconciled.centers {
        assert!(!center.center_name.is_empty(), "{} has no name", center.center_code);
    }

    // Another province's office reads none of it.
    let mut outsider = client::aggregation(&system.stack.aggregation_url(), None, &as_office("47")).unwrap();
    let denied = outsider
        .list_late_cases(ListLateCasesRequest {
            unit_code: PROVINCE.into(),
            list: LateCaseList::ResolvedLate as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    system.stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_definition_carries_its_labels_display_unit_and_direction() {
    let Some(system) = TestSystem::start().await else { return };
    let mut aggregation = system.stack.aggregation_client();
    let definition = IndicatorDefinition {
        id: "late_cases_count".into(),
        numerator: "resolved_late + pending_overdue".into(),
        denominator: "received_direct + received_online + received_postal".into(),
        description: "Late cases, as a number".into(),
        label_vi: "Số hồ sơ trễ hạn".into(),
        label_en: "Late cases".into(),
        display_unit: DisplayUnit::Count as i32,
        lower_is_better: true,
        ..Default::default()
    };
    let request = DefineIndicatorRequest { definition: Some(definition.clone()) };
    let stored = aggregation.define_indicator(request).await.unwrap().into_inner();
    let stored = stored.definition.unwrap();
    assert_eq!((stored.label_vi.as_str(), stored.display_unit), ("Số hồ sơ trễ hạn", DisplayUnit::Count as i32));
    assert!(stored.lower_is_better);

    // A relabelling is a new version; the same labels again are not.
    let relabelled = IndicatorDefinition { label_en: "Cases late".into(), ..definition.clone() };
    let again = aggregation.define_indicator(DefineIndicatorRequest { definition: Some(relabelled.clone()) });
    assert_eq!(again.await.unwrap().into_inner().definition.unwrap().version, 2);
    let same = aggregation.define_indicator(DefineIndicatorRequest { definition: Some(relabelled) });
    assert!(!same.await.unwrap().into_inner().created);

    // Bad labels, an unknown display unit, and points on a lower-is-better indicator are refused, naming the field.
    for (bad, field) in [
        (IndicatorDefinition { label_vi: "Số\0hồ sơ".into(), ..definition.clone() }, "definition.label_vi"),
        (IndicatorDefinition { label_en: "x".repeat(301), ..definition.clone() }, "definition.label_en"),
        (IndicatorDefinition { display_unit: 99, ..definition.clone() }, "definition.display_unit"),
        (IndicatorDefinition { max_points: Some(10.0), ..definition.clone() }, "definition.max_points"),
    ] {
        let refused = aggregation.define_indicator(DefineIndicatorRequest { definition: Some(bad) }).await;
        let status = refused.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(status.message().contains(field), "{field}: {}", status.message());
    }
    system.stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn notices_of_records_applied_before_notices_were_kept_are_filled_in() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut intake = system.stack.intake_client();
    let cases = PushCasesRequest { sender: "egov".into(), cases: vec![late_case()], all_or_nothing: true };
    let cursor = intake.push_cases(cases).await.unwrap().into_inner().cursor;
    let request = ListLateCasesRequest {
        unit_code: PROVINCE.into(),
        list: LateCaseList::ResolvedLate as i32,
        period: march(),
        min_intake_cursor: cursor,
        ..Default::default()
    };
    let listed = system.stack.aggregation_client().list_late_cases(request.clone()).await.unwrap().into_inner();
    assert_eq!(listed.cases[0].apology_notices.len(), 2);

    // As an earlier version left it: the record counts two notices, none is stored.
    let db = sqlx::PgPool::connect(system.database.url()).await.unwrap();
    sqlx::query("DELETE FROM aggregation.apology_notice").execute(&db).await.unwrap();
    let listed = system.stack.aggregation_client().list_late_cases(request.clone()).await.unwrap().into_inner();
    assert!(listed.cases[0].apology_notices.is_empty());

    // On its next connection to intake, aggregation asks intake for them.
    let system = system.restart().await;
    let notices = eventually(|| {
        let mut aggregation = system.stack.aggregation_client();
        let request = request.clone();
        async move {
            let case = aggregation.list_late_cases(request).await.ok()?.into_inner().cases.pop()?;
            (case.apology_notices.len() == 2).then_some(case.apology_notices)
        }
    })
    .await;
    assert_eq!(notices[1].notice_number, "18/TB-UBND");
    assert!(notices[1].issued_after_deadline);
    system.stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn who_has_not_reported_lists_each_centers_missing_and_late_days() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    // The commune's center reports two days of March, today: long after their deadlines. The provincial
    // center reports nothing.
    let cells: Vec<DailyCell> = ["2026-03-02", "2026-03-03"]
        .iter()
        .map(|day| DailyCell { day: (*day).into(), ..cell(COMMUNE_CENTER, 3, 0) })
        .collect();
    let mut intake = system.stack.intake_client();
    let cursor = intake
        .push_cells(PushCellsRequest { sender: "egov".into(), cells, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .cursor;
    let request = GetReportingGapsRequest {
        unit_code: PROVINCE.into(),
        period: march(),
        min_intake_cursor: cursor.clone(),
        ..Default::default()
    };
    let gaps = system.stack.aggregation_client().get_reporting_gaps(request.clone()).await.unwrap().into_inner();
    assert_eq!(gaps.freshness.unwrap().intake_cursor, cursor);
    assert!(gaps.unavailable.is_empty());
    let codes: Vec<&str> = gaps.centers.iter().map(|c| c.center_code.as_str()).collect();
    assert_eq!(codes, [PROVINCIAL_CENTER, COMMUNE_CENTER], "most days missing first");
    let (provincial, commune) = (&gaps.centers[0], &gaps.centers[1]);
    // March 2026 has 22 working days under the calendar (no holiday falls in it).
    assert_eq!((provincial.expected_days, commune.expected_days), (22, 22));
    assert_eq!(provincial.missing_days.len(), 22);
    assert_eq!(provincial.missing_days[0], "2026-03-02");
    assert!(!commune.center_name.is_empty());
    let late: Vec<&str> = commune.late_days.iter().map(|l| l.day.as_str()).collect();
    assert_eq!(late, ["2026-03-02", "2026-03-03"]);
    assert!(commune.late_days.iter().all(|l| l.first_pushed_at.is_some()));
    assert_eq!((commune.on_time_days, commune.missing_days.len()), (0, 20));
    assert!(!commune.missing_days.contains(&"2026-03-07".to_string()), "a Saturday is not a working day");

    // A province reads its own, not another's.
    let mut office = claims("office-46", Role::Province, &[SCOPE_READ], 600);
    office.province = Some("47".into());
    let other = Credentials::token(system.stack.keys().issuer.issue(&office));
    let mut aggregation = client::aggregation(&system.stack.aggregation_url(), None, &other).unwrap();
    let refused = aggregation.get_reporting_gaps(request).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    system.stack.shutdown().await.unwrap();
}
