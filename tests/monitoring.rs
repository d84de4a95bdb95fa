//! Late-case monitoring over real services: the lists judged on the day asked, counts per unit, the watch that
//! emits cases as they become overdue or due soon, apology indicators, and reconciliation with the cells.

use chrono::{Datelike, Days, NaiveDate, TimeZone, Utc};
use onestop_proto::aggregation::v1::*;
use onestop_proto::catalogue::v1::LoadCalendarCsvRequest;
use onestop_proto::intake::v1::{
    ApologyNotice, CaseRecord, CaseStatus, Channel, DailyCell, DelayReasonCategory, DueDateChange, Measures,
    NoticeDelivery, PushCasesRequest, PushCellsRequest,
};
use onestop_system_tests::*;

fn at(day: NaiveDate) -> prost_types::Timestamp {
    // 09:00 in Vietnam.
    let utc = Utc.from_utc_datetime(&day.and_hms_opt(2, 0, 0).unwrap());
    prost_types::Timestamp { seconds: utc.timestamp(), nanos: 0 }
}

fn case(code: &str, received: NaiveDate, due: NaiveDate, resolved: Option<NaiveDate>) -> CaseRecord {
    CaseRecord {
        case_code: code.into(),
        procedure_code: FULL_PROCEDURE.into(),
        receiving_center_code: COMMUNE_CENTER.into(),
        resolving_agency_code: "UBND-19753".into(),
        filing_channel: Channel::Online as i32,
        return_channel: Channel::Direct as i32,
        received_at: Some(at(received)),
        due_date: due.to_string(),
        resolved_at: resolved.map(at),
        status: if resolved.is_some() { CaseStatus::Resolved } else { CaseStatus::InProgress } as i32,
        ..Default::default()
    }
}

fn notice(issued: &str, original: &str, new: &str) -> ApologyNotice {
    ApologyNotice {
        notice_number: "01/PXL".into(),
        issuing_agency_code: "UBND-19753".into(),
        issued_on: issued.into(),
        reason: "Cần xác minh thêm".into(),
        reason_category: DelayReasonCategory::InteragencyCoordination as i32,
        original_due_date: original.into(),
        new_due_date: new.into(),
        delivery: NoticeDelivery::AtCenter as i32,
    }
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn change(previous: &str, new: &str) -> DueDateChange {
    DueDateChange {
        previous_due_date: previous.into(),
        new_due_date: new.into(),
        reason: "Bổ sung".into(),
        changed_on: previous.into(),
    }
}

async fn next(watch: &mut tonic::Streaming<WatchLateCasesResponse>) -> (String, LateCaseEventKind) {
    let event =
        tokio::time::timeout(std::time::Duration::from_secs(20), watch.message()).await.unwrap().unwrap().unwrap();
    (event.case.unwrap().case_code, LateCaseEventKind::try_from(event.kind).unwrap())
}

fn codes(cases: &[MonitoredCase]) -> Vec<&str> {
    cases.iter().map(|c| c.case_code.as_str()).collect()
}

#[tokio::test]
async fn late_cases_are_listed_counted_watched_and_reconciled() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let today = onestop_domain::today_in_vietnam(Utc::now());
    // The calendar of the years around today, so open cases can be judged in working days.
    let mut catalogue = system.stack.catalogue_client();
    let years = [today.year() - 1, today.year(), today.year() + 1];
    let calendar = onestop_generator::calendar::to_csv(years.into_iter().filter(|y| *y >= 2024));
    catalogue.load_calendar_csv(LoadCalendarCsvRequest { content: calendar.into_bytes() }).await.unwrap();

    let recent = (today - Days::new(10)).max(d("2026-01-02"));
    let overdue = case("HS-OVERDUE", recent, today - Days::new(2), None);
    let soon = case("HS-SOON", recent, today + Days::new(1), None);
    let late = case("HS-LATE", d("2026-03-02"), d("2026-03-05"), Some(d("2026-03-09")));
    let mut late_notice = case("HS-LATE-NOTICE", d("2026-03-02"), d("2026-03-05"), Some(d("2026-03-09")));
    late_notice.apology_notices.push(notice("2026-03-05", "2026-03-05", "2026-03-10"));
    let mut twice = case("HS-TWICE", d("2026-03-02"), d("2026-03-05"), Some(d("2026-03-20")));
    twice.apology_notices.push(notice("2026-03-03", "2026-03-05", "2026-03-10"));
    twice.due_date_changes = vec![change("2026-03-05", "2026-03-10"), change("2026-03-10", "2026-03-12")];
    let early = case("HS-EARLY", d("2026-03-02"), d("2026-03-05"), Some(d("2026-03-04")));
    let mut intake = system.stack.intake_client();
    let cases = vec![overdue, soon, late, late_notice, twice, early];
    intake.push_cases(PushCasesRequest { sender: "egov".into(), cases, all_or_nothing: true }).await.unwrap();

    let aggregation = system.stack.aggregation_client();
    let list = |list: LateCaseList, period: Option<DayRange>| {
        let mut aggregation = aggregation.clone();
        async move {
            let request = ListLateCasesRequest {
                unit_code: PROVINCE.into(),
                list: list as i32,
                due_within_working_days: 5,
                period,
                ..Default::default()
            };
            aggregation.list_late_cases(request).await.unwrap().into_inner().cases
        }
    };
    // Wait until the records reached aggregation.
    eventually(|| async { (list(LateCaseList::ResolvedLate, None).await.len() == 3).then_some(()) }).await;

    assert_eq!(codes(&list(LateCaseList::PendingOverdue, None).await), ["HS-OVERDUE"]);
    let due_soon = list(LateCaseList::DueSoon, None).await;
    assert_eq!(codes(&due_soon), ["HS-SOON"]);
    assert!((0..=1).contains(&due_soon[0].working_days_left), "{}", due_soon[0].working_days_left);
    let march = Some(DayRange { from_day: "2026-03-01".into(), to_day: "2026-03-31".into() });
    assert_eq!(
        codes(&list(LateCaseList::ResolvedLate, march.clone()).await),
        ["HS-LATE", "HS-LATE-NOTICE", "HS-TWICE"]
    );
    assert_eq!(codes(&list(LateCaseList::LateWithoutNotice, None).await), ["HS-LATE", "HS-OVERDUE"]);
    assert_eq!(codes(&list(LateCaseList::NoticeAfterDeadline, None).await), ["HS-LATE-NOTICE"]);
    assert_eq!(codes(&list(LateCaseList::MissedNewDueDate, None).await), ["HS-TWICE"]);
    assert_eq!(codes(&list(LateCaseList::RescheduledMoreThanOnce, None).await), ["HS-TWICE"]);

    // Pages of one follow each other to the end.
    let mut aggregation_client = aggregation.clone();
    let (mut seen, mut token) = (Vec::new(), String::new());
    loop {
        let page = aggregation_client
            .list_late_cases(ListLateCasesRequest {
                center_code: COMMUNE_CENTER.into(),
                list: LateCaseList::ResolvedLate as i32,
                page_size: 1,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.cases.into_iter().map(|c| c.case_code));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["HS-LATE", "HS-LATE-NOTICE", "HS-TWICE"]);

    // Counts per unit: the commune holds them all.
    let counts = aggregation_client
        .count_late_cases(CountLateCasesRequest {
            unit_code: PROVINCE.into(),
            due_within_working_days: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let total = counts.total.unwrap();
    assert_eq!(
        (
            total.pending_overdue,
            total.due_soon,
            total.resolved_late,
            total.late_without_notice,
            total.notice_after_deadline,
            total.missed_new_due_date,
            total.rescheduled_more_than_once
        ),
        (1, 1, 3, 2, 1, 1, 1)
    );
    assert_eq!(counts.units.len(), 1);
    assert_eq!((counts.units[0].key.as_str(), counts.units[0].resolved_late), (COMMUNE, 3));

    // Apology coverage and timeliness over the cases due in March.
    let indicators = aggregation_client
        .get_indicators(GetIndicatorsRequest {
            center_code: COMMUNE_CENTER.into(),
            period: march.clone(),
            indicator_ids: vec!["apology_coverage".into(), "apology_timeliness".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let pair = |id: &str| {
        let r = indicators.indicators.iter().find(|r| r.indicator_id == id).unwrap();
        (r.numerator, r.denominator)
    };
    assert_eq!(pair("apology_coverage"), (2, 3), "HS-LATE has no notice");
    assert_eq!(pair("apology_timeliness"), (1, 2), "HS-LATE-NOTICE's came on the due date itself");
    // Every breakdown shares the same cases out among its groups.
    for breakdown in [Breakdown::Center, Breakdown::Month, Breakdown::Sector, Breakdown::Procedure, Breakdown::Level] {
        let answer = aggregation_client
            .get_indicators(GetIndicatorsRequest {
                center_code: COMMUNE_CENTER.into(),
                period: march.clone(),
                indicator_ids: vec!["apology_coverage".into()],
                breakdown: breakdown as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let shared = answer
            .groups
            .iter()
            .flat_map(|g| &g.indicators)
            .fold((0, 0), |(n, d), r| (n + r.numerator, d + r.denominator));
        assert_eq!(shared, (2, 3), "apology coverage by {breakdown:?}");
    }

    // The watch: what is already overdue or due soon, then each case as it becomes so.
    let mut watch = aggregation_client
        .watch_late_cases(WatchLateCasesRequest {
            unit_code: PROVINCE.into(),
            due_within_working_days: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first_two = [next(&mut watch).await, next(&mut watch).await];
    assert_eq!(
        first_two,
        [("HS-OVERDUE".to_string(), LateCaseEventKind::Overdue), ("HS-SOON".to_string(), LateCaseEventKind::DueSoon)]
    );
    let new_case = case("HS-NEW", recent, today, None);
    intake
        .push_cases(PushCasesRequest { sender: "egov".into(), cases: vec![new_case], all_or_nothing: true })
        .await
        .unwrap();
    assert_eq!(next(&mut watch).await, ("HS-NEW".to_string(), LateCaseEventKind::DueSoon));
    // Rescheduled past the window, then back within it: emitted again only when its state changes.
    let mut moved = case("HS-NEW", recent, today - Days::new(1), None);
    moved.apology_notices.clear();
    intake
        .push_cases(PushCasesRequest { sender: "egov".into(), cases: vec![moved], all_or_nothing: true })
        .await
        .unwrap();
    assert_eq!(next(&mut watch).await, ("HS-NEW".to_string(), LateCaseEventKind::Overdue));

    // Reconciliation: the commune's cells count the three late resolutions of March; the province's center
    // reports one late case with no record.
    let cell = |center: &str, day: &str, late: i64| DailyCell {
        center_code: center.into(),
        procedure_code: FULL_PROCEDURE.into(),
        day: day.into(),
        measures: Some(Measures { received_direct: 3, resolved_late: late, ..Default::default() }),
        computed_at: None,
    };
    let cells = vec![
        cell(COMMUNE_CENTER, "2026-03-09", 2),
        cell(COMMUNE_CENTER, "2026-03-20", 1),
        cell(PROVINCIAL_CENTER, "2026-03-11", 1),
    ];
    intake
        .push_cells(PushCellsRequest { sender: "s".into(), cells, all_or_nothing: true, ..Default::default() })
        .await
        .unwrap();
    let reconciled = eventually(|| {
        let mut aggregation = aggregation.clone();
        let request =
            ReconcileLateCountsRequest { unit_code: PROVINCE.into(), period: march.clone(), ..Default::default() };
        async move {
            let answer = aggregation.reconcile_late_counts(request).await.unwrap().into_inner();
            let cells: u64 = answer.centers.iter().map(|c| c.resolved_late_in_cells).sum();
            (cells == 4).then_some(answer)
        }
    })
    .await;
    let rows: Vec<(&str, u64, u64, bool)> = reconciled
        .centers
        .iter()
        .map(|c| (c.center_code.as_str(), c.resolved_late_in_cells, c.resolved_late_in_records, c.agrees))
        .collect();
    assert_eq!(rows, [(PROVINCIAL_CENTER, 1, 0, false), (COMMUNE_CENTER, 3, 3, true)], "disagreements first");

    // By day: the days the two sides disagree on, with the case records behind the records' side.
    let by_day = aggregation
        .clone()
        .reconcile_late_counts(ReconcileLateCountsRequest {
            unit_code: PROVINCE.into(),
            period: march.clone(),
            by_day: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let days_of = |center: &str| by_day.centers.iter().find(|c| c.center_code == center).unwrap().days.clone();
    let provincial = days_of(PROVINCIAL_CENTER);
    assert_eq!(provincial.len(), 1, "{provincial:?}");
    assert_eq!(
        (provincial[0].day.as_str(), provincial[0].resolved_late_in_cells, provincial[0].resolved_late_in_records),
        ("2026-03-11", 1, 0)
    );
    assert!(provincial[0].resolved_late_case_codes.is_empty());
    // The commune agrees on late resolutions each day, but its cells carry no overdue stock while three cases
    // were open past their due date from 6 March.
    let commune = days_of(COMMUNE_CENTER);
    let sixth = commune.iter().find(|d| d.day == "2026-03-06").expect("6 March disagrees");
    assert_eq!((sixth.pending_overdue_in_cells, sixth.pending_overdue_in_records), (0, 3));
    assert_eq!(sixth.pending_overdue_case_codes, ["HS-LATE", "HS-LATE-NOTICE", "HS-TWICE"]);
    let ninth = commune.iter().find(|d| d.day == "2026-03-09").expect("9 March disagrees");
    assert_eq!((ninth.resolved_late_in_cells, ninth.resolved_late_in_records), (2, 2));
    assert_eq!(ninth.resolved_late_case_codes, ["HS-LATE", "HS-LATE-NOTICE"]);
    assert_eq!(ninth.pending_overdue_case_codes, ["HS-TWICE"]);
    assert!(commune.iter().all(|d| d.day.as_str() >= "2026-03-06" && d.day.as_str() <= "2026-03-19"), "{commune:?}");

    let bad = aggregation_client
        .list_late_cases(ListLateCasesRequest {
            unit_code: PROVINCE.into(),
            list: LateCaseList::DueSoon as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("due_within_working_days"), "{}", bad.message());
    system.stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn reschedules_are_counted_once_however_they_are_told() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let change = |on: &str, from: &str, to: &str| DueDateChange {
        previous_due_date: from.into(),
        new_due_date: to.into(),
        reason: "Bổ sung hồ sơ".into(),
        changed_on: on.into(),
    };
    let notice = |number: &str, on: &str, from: &str, to: &str| ApologyNotice {
        notice_number: number.into(),
        issuing_agency_code: "UBND-19753".into(),
        issued_on: on.into(),
        reason: "Chậm do phối hợp".into(),
        reason_category: DelayReasonCategory::InteragencyCoordination as i32,
        original_due_date: from.into(),
        new_due_date: to.into(),
        delivery: NoticeDelivery::Electronic as i32,
    };
    let case = |code: &str, changes: Vec<DueDateChange>, notices: Vec<ApologyNotice>| CaseRecord {
        case_code: code.into(),
        procedure_code: FULL_PROCEDURE.into(),
        receiving_center_code: COMMUNE_CENTER.into(),
        resolving_agency_code: "UBND-19753".into(),
        filing_channel: Channel::Online as i32,
        received_at: Some(prost_types::Timestamp { seconds: 1_772_409_600, nanos: 0 }), // 2 March 2026
        due_date: "2026-03-10".into(),
        due_date_changes: changes,
        apology_notices: notices,
        status: CaseStatus::InProgress as i32,
        ..Default::default()
    };
    // (case, rescheduled more than once, reschedules, current due date)
    let expected = [
        ("HS-TWO-CHANGES", true, 2, "2026-03-30"),
        ("HS-TWO-NOTICES", true, 2, "2026-03-30"),
        ("HS-CHANGE-AND-ITS-NOTICE", false, 1, "2026-03-20"),
        ("HS-CHANGE-THEN-NOTICE", true, 2, "2026-03-30"),
    ];
    let cases = vec![
        case(
            "HS-TWO-CHANGES",
            vec![change("2026-03-06", "2026-03-10", "2026-03-20"), change("2026-03-18", "2026-03-20", "2026-03-30")],
            vec![],
        ),
        case(
            "HS-TWO-NOTICES",
            vec![],
            vec![
                notice("1/TB", "2026-03-06", "2026-03-10", "2026-03-20"),
                notice("2/TB", "2026-03-18", "2026-03-20", "2026-03-30"),
            ],
        ),
        case(
            "HS-CHANGE-AND-ITS-NOTICE",
            vec![change("2026-03-06", "2026-03-10", "2026-03-20")],
            vec![notice("3/TB", "2026-03-06", "2026-03-10", "2026-03-20")],
        ),
        case(
            "HS-CHANGE-THEN-NOTICE",
            vec![change("2026-03-06", "2026-03-10", "2026-03-20")],
            vec![notice("4/TB", "2026-03-18", "2026-03-20", "2026-03-30")],
        ),
    ];
    let pushed = system
        .stack
        .intake_client()
        .push_cases(PushCasesRequest { sender: "egov-46".into(), cases, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    for (result, (code, more_than_once, _, _)) in pushed.results.iter().zip(expected) {
        assert_eq!(result.findings.as_ref().unwrap().rescheduled_more_than_once, more_than_once, "{code}");
    }
    let mut aggregation = system.stack.aggregation_client();
    let listed = aggregation
        .list_late_cases(ListLateCasesRequest {
            center_code: COMMUNE_CENTER.into(),
            list: LateCaseList::RescheduledMoreThanOnce as i32,
            min_intake_cursor: pushed.cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut on_list: Vec<&str> = listed.cases.iter().map(|c| c.case_code.as_str()).collect();
    on_list.sort();
    assert_eq!(on_list, ["HS-CHANGE-THEN-NOTICE", "HS-TWO-CHANGES", "HS-TWO-NOTICES"]);
    // The monitor's count and current due date agree for every case, on the list or not.
    let all = aggregation
        .list_late_cases(ListLateCasesRequest {
            center_code: COMMUNE_CENTER.into(),
            list: LateCaseList::PendingOverdue as i32,
            as_of_day: "2026-04-30".into(),
            min_intake_cursor: pushed.cursor,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    for (code, _, reschedules, current) in expected {
        let case = all.cases.iter().find(|c| c.case_code == code).unwrap_or_else(|| panic!("{code} not listed"));
        assert_eq!((case.reschedules, case.current_due_date.as_str()), (reschedules, current), "{code}");
    }
}
