//! Aggregation's stored indicator definitions against a fresh PostgreSQL database.

use onestop_aggregation::{definitions, MIGRATOR, SCHEMA};
use onestop_domain::{Measure, Measures, PeriodTotals};
use onestop_server::config::ServerArgs;
use onestop_server::db;

#[tokio::test]
async fn definitions_are_data_and_the_latest_version_wins() {
    let Some(database) = onestop_testkit::database().await else {
        return;
    };
    let pool = db::connect_and_migrate(&ServerArgs::for_database(database.url()), SCHEMA, &MIGRATOR).await.unwrap();

    let seeded = definitions::latest(&pool).await.unwrap();
    let ids: Vec<&str> = seeded.iter().map(|d| d.id.as_str()).collect();
    for id in ["online_case_share", "on_time_rate_form06", "on_time_rate_766", "late_rate_gia_lai"] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }

    // A province counts withdrawn cases as resolved: a new version of the form-06 rate, without code.
    sqlx::query(
        "INSERT INTO indicator_definition (id, version, numerator, denominator, description) VALUES
         ('on_time_rate_form06', 2, 'resolved_early + resolved_on_time',
          'resolved_early + resolved_on_time + resolved_late + withdrawn_or_returned', 'variant')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let latest = definitions::latest(&pool).await.unwrap();
    let form06 = latest.iter().find(|d| d.id == "on_time_rate_form06").unwrap();
    let totals = PeriodTotals {
        measures: Measures::default()
            .with(Measure::ResolvedEarly, 2)
            .with(Measure::ResolvedOnTime, 6)
            .with(Measure::ResolvedLate, 1)
            .with(Measure::WithdrawnOrReturned, 1),
        carried_over: 0,
    };
    let result = form06.evaluate(&totals);
    assert_eq!((result.definition_version, result.numerator, result.denominator), (2, 8, 10));
}
