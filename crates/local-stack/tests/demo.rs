//! The demonstration as a province would judge it, loaded into a fresh database as the run command loads it: the
//! calendar of every year it touches, cases overdue and due soon today, reporting completeness as provinces
//! report it, a handful of centers whose late case records disagree with their counts, and due dates on working
//! days.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use chrono::{Datelike, NaiveDate, Weekday};
use onestop_generator::province::{Province, Size, PROVINCE_CODE};
use onestop_local::{demo, Addresses, Stack};
use onestop_proto::aggregation::v1::*;
use onestop_proto::catalogue::v1::{CalendarDayKind, GetCalendarYearRequest};
use onestop_server::client::AggregationClient;
use tokio_stream::StreamExt;

/// A month of a province smaller than the run command's (21 centers, 300 procedures), so the test stays short;
/// the loader is the same.
const DAYS: u32 = 30;
const SIZE: Size = Size { communes: 20, procedures: 300, active_per_commune_day: 11, active_per_provincial_day: 40 };

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap_or_else(|_| panic!("a day: {text:?}"))
}

/// Every case of `list` for the province, all pages.
async fn late_cases(
    aggregation: &mut AggregationClient,
    list: LateCaseList,
    period: Option<DayRange>,
    cursor: &str,
) -> Vec<MonitoredCase> {
    let mut cases = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = aggregation
            .list_late_cases(ListLateCasesRequest {
                unit_code: PROVINCE_CODE.into(),
                list: list as i32,
                due_within_working_days: if list == LateCaseList::DueSoon { 3 } else { 0 },
                period: period.clone(),
                page_size: 500,
                page_token,
                min_intake_cursor: cursor.into(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{list:?}: {e}"))
            .into_inner();
        cases.extend(page.cases);
        if page.next_page_token.is_empty() {
            return cases;
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demonstration_looks_like_a_province_today() {
    let Some(db) = onestop_testkit::database().await else { return };
    let stack = Stack::start(db.url(), Addresses::any_free_port()).await.unwrap();
    let province = Province::new(46, SIZE);
    let today = onestop_domain::today_in_vietnam(chrono::Utc::now());
    let pushed = demo::load(&stack, db.url(), &province, today, DAYS).await.unwrap();
    let (first, yesterday) = (today - chrono::Days::new(DAYS.into()), today.pred_opt().unwrap());
    assert_eq!((pushed.first_day, pushed.last_day), (Some(first), Some(yesterday)));
    let cursor = pushed.intake_cursor.as_str();
    let last_month = DayRange { from_day: first.to_string(), to_day: yesterday.to_string() };

    // The calendar of every year the month and the next three working days touch, with Tết and make-up days
    // where the notices have them.
    let mut catalogue = stack.catalogue_client();
    let mut days_off = HashSet::new();
    let mut worked_saturdays = HashSet::new();
    for year in first.year()..=(today + chrono::Days::new(10)).year() {
        let calendar = catalogue.get_calendar_year(GetCalendarYearRequest { year }).await.unwrap().into_inner();
        assert!((240..=255).contains(&calendar.working_days), "{year}: {} working days", calendar.working_days);
        assert!(calendar.exceptions.iter().any(|e| e.name.contains("Tết Nguyên đán")), "{year}: no Tết");
        for exception in calendar.exceptions {
            match CalendarDayKind::try_from(exception.kind) {
                Ok(CalendarDayKind::Holiday) => days_off.insert(day(&exception.day)),
                Ok(CalendarDayKind::MakeupWorkingDay) => worked_saturdays.insert(day(&exception.day)),
                other => panic!("{other:?}"),
            };
        }
    }
    let is_working = |d: NaiveDate| {
        worked_saturdays.contains(&d) || !(matches!(d.weekday(), Weekday::Sat | Weekday::Sun) || days_off.contains(&d))
    };

    // As of today, cases are overdue and others due within three working days, and the watch says so at once.
    let mut aggregation = stack.aggregation_client();
    let overdue = late_cases(&mut aggregation, LateCaseList::PendingOverdue, None, cursor).await;
    let due_soon = late_cases(&mut aggregation, LateCaseList::DueSoon, None, cursor).await;
    assert!(!overdue.is_empty() && !due_soon.is_empty(), "{} overdue, {} due soon", overdue.len(), due_soon.len());
    assert!(overdue.iter().all(|c| day(&c.due_date) < today));
    assert!(due_soon.iter().all(|c| (0..=3).contains(&c.working_days_left)));
    let request = WatchLateCasesRequest {
        unit_code: PROVINCE_CODE.into(),
        due_within_working_days: 3,
        min_intake_cursor: cursor.into(),
        ..Default::default()
    };
    let mut watch = aggregation.watch_late_cases(request).await.unwrap().into_inner();
    let first_event = tokio::time::timeout(Duration::from_secs(10), watch.next()).await;
    assert!(matches!(first_event, Ok(Some(Ok(_)))), "the watch shows a case at once: {first_event:?}");
    drop(watch);

    // Every due date, the first and the current one, is a working day; every record pushed is there.
    let resolved_late =
        late_cases(&mut aggregation, LateCaseList::ResolvedLate, Some(last_month.clone()), cursor).await;
    let all: Vec<&MonitoredCase> = overdue.iter().chain(&due_soon).chain(&resolved_late).collect();
    assert_eq!(all.len(), pushed.resolved_late_records + pushed.open_records);
    for case in &all {
        assert!(is_working(day(&case.due_date)), "{} due {}", case.case_code, case.due_date);
        assert!(is_working(day(&case.current_due_date)), "{} now due {}", case.case_code, case.current_due_date);
    }

    // Reporting completeness over the last month, as provinces report it: most center-days on time, not all.
    let indicators = aggregation
        .get_indicators(GetIndicatorsRequest {
            unit_code: PROVINCE_CODE.into(),
            period: Some(last_month.clone()),
            indicator_ids: vec!["reporting_completeness".into()],
            min_intake_cursor: cursor.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let completeness = &indicators.indicators[0];
    assert_eq!(completeness.unavailable, "");
    let value = completeness.value.expect("a value");
    assert!((0.80..1.0).contains(&value), "completeness {value} ({completeness:?})");
    assert!(pushed.late_center_days() > 0);

    // Reconciliation: the centers whose software left a record out disagree, and only they.
    let reconciled = aggregation
        .reconcile_late_counts(ReconcileLateCountsRequest {
            unit_code: PROVINCE_CODE.into(),
            period: Some(last_month),
            min_intake_cursor: cursor.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let disagreeing: BTreeSet<&str> =
        reconciled.centers.iter().filter(|c| !c.agrees).map(|c| c.center_code.as_str()).collect();
    let withheld: BTreeSet<&str> = pushed.withheld_records.iter().map(|(center, _)| center.as_str()).collect();
    assert_eq!(disagreeing, withheld);
    assert!(
        (2..=reconciled.centers.len() / 4).contains(&disagreeing.len()),
        "{} of {} centers disagree",
        disagreeing.len(),
        reconciled.centers.len()
    );

    stack.shutdown().await.unwrap();
}
