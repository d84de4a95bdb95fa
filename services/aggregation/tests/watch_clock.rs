//! The late-case watch judges open cases on each day as it comes: a case enters "due soon" when its due date is
//! within N working days, "overdue" the day after it, and is emitted once per state.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::NaiveDate;
use onestop_aggregation::api::AggregationApi;
use onestop_aggregation::{feeds, MIGRATOR, SCHEMA};
use onestop_proto::aggregation::v1::LateCaseEventKind;
use onestop_server::config::ServerArgs;
use onestop_server::notify::Notifier;
use onestop_server::{client, db, serve};

/// Days after 2 March 2026 (a Monday) that the test's clock shows.
static DAYS_AFTER_START: AtomicI64 = AtomicI64::new(0);

fn test_clock() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).unwrap() + chrono::Days::new(DAYS_AFTER_START.load(Ordering::SeqCst) as u64)
}

#[tokio::test]
async fn cases_enter_due_soon_then_overdue_as_days_pass() {
    let Some(database) = onestop_testkit::database().await else { return };
    let pool =
        db::connect_and_migrate(&ServerArgs::for_database(database.url()), SCHEMA, &MIGRATOR, db::Plans::PerCall)
            .await
            .unwrap();
    // A 2026 calendar with one holiday, and one open case due on Tuesday 10 March.
    sqlx::query("INSERT INTO calendar_year (year) VALUES (2026)").execute(&pool).await.unwrap();
    sqlx::query("INSERT INTO calendar_exception (day, kind) VALUES ('2026-03-09', 1)").execute(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO case_record (case_code, procedure_code, center_code, resolving_agency_code, received_on,
             due_date, current_due_date, resolved_on, open, late, reschedules, notices, late_without_notice,
             notice_after_deadline, notice_assessed, missed_new_due_date, rescheduled_more_than_once)
         VALUES ('HS-1', '1.000948', 'BPMC-1', 'UBND-1', '2026-03-02', '2026-03-10', '2026-03-10', NULL, true,
                 false, 0, 0, false, false, true, false, false)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let applied = Notifier::start(&pool, feeds::CASES_APPLIED).await.unwrap();
    let catalogue = client::catalogue("http://127.0.0.1:9", None, &Default::default()).unwrap(); // never called here
    let api =
        AggregationApi::new(pool.clone(), catalogue, applied.clone(), applied, serve::Stopping::default().signal())
            .with_clock(test_clock);
    let centers = vec!["BPMC-1".to_string()];
    let mut emitted = HashMap::new();
    let mut sweep_on = async |days: u64| {
        DAYS_AFTER_START.store(days as i64, Ordering::SeqCst);
        let events = api.sweep(&centers, 2, &mut emitted).await.unwrap();
        events
            .into_iter()
            .map(|e| (e.case.unwrap().case_code, LateCaseEventKind::try_from(e.kind).unwrap(), e.as_of_day))
            .collect::<Vec<_>>()
    };
    let due_soon = |day: &str| vec![("HS-1".to_string(), LateCaseEventKind::DueSoon, day.to_string())];
    let overdue = |day: &str| vec![("HS-1".to_string(), LateCaseEventKind::Overdue, day.to_string())];

    // Monday 2 March: six working days ahead, nothing to say.
    assert_eq!(sweep_on(0).await, []);
    // Thursday 5 March: Friday, then Monday 9 is a holiday, so Tuesday 10 is two working days ahead.
    assert_eq!(sweep_on(3).await, due_soon("2026-03-05"));
    assert_eq!(sweep_on(4).await, [], "already said");
    // The due date itself is not overdue yet; the day after is.
    assert_eq!(sweep_on(8).await, []);
    assert_eq!(sweep_on(9).await, overdue("2026-03-11"));
    assert_eq!(sweep_on(10).await, []);

    // Resolved: gone from the watch; reopened with a later date, it is news again.
    sqlx::query("UPDATE case_record SET open = false").execute(&pool).await.unwrap();
    assert_eq!(sweep_on(10).await, []);
    sqlx::query("UPDATE case_record SET open = true, due_date = '2026-03-13'").execute(&pool).await.unwrap();
    assert_eq!(sweep_on(10).await, due_soon("2026-03-12"));
}

#[tokio::test]
async fn watches_of_one_scope_share_one_poller_which_stops_with_the_last() {
    let Some(database) = onestop_testkit::database().await else { return };
    let pool =
        db::connect_and_migrate(&ServerArgs::for_database(database.url()), SCHEMA, &MIGRATOR, db::Plans::PerCall)
            .await
            .unwrap();
    let applied = Notifier::start(&pool, feeds::CASES_APPLIED).await.unwrap();
    let catalogue = client::catalogue("http://127.0.0.1:9", None, &Default::default()).unwrap(); // never called here
    let api =
        AggregationApi::new(pool.clone(), catalogue, applied.clone(), applied, serve::Stopping::default().signal());
    let hub = onestop_aggregation::api::watch_hub::WatchHub::default();
    let centers = vec!["BPMC-1".to_string()];

    let mut offices: Vec<_> = (0..5).map(|_| hub.subscribe(&api, ("unit 46".into(), 3), centers.clone())).collect();
    assert_eq!(hub.pollers(), 1, "five watches of one scope, one poller");
    let other = hub.subscribe(&api, ("unit 46".into(), 5), centers.clone());
    assert_eq!(hub.pollers(), 2, "another horizon is another scope");

    // Every watch sees the poller's sweeps.
    for office in &mut offices {
        office.wait_for(Option::is_some).await.unwrap();
    }
    drop(offices);
    drop(other);
    for _ in 0..100 {
        if hub.pollers() == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("pollers outlived their watches: {}", hub.pollers());
}
