//! Two writers of one cell can commit in the other order than intake's stream delivers them (it follows
//! transaction order): the cell keeps the value written last, while the day totals add up either way.

use onestop_aggregation::feeds::intake::apply;
use onestop_aggregation::{MIGRATOR, SCHEMA};
use onestop_proto::intake::v1::watch_changes_response::Change;
use onestop_proto::intake::v1::{CellChange, Measures, WatchChangesResponse};
use onestop_server::config::ServerArgs;
use onestop_server::db;

fn change(cursor: &str, old: Option<i64>, new: i64) -> WatchChangesResponse {
    let measures = |online| Measures { received_online: online, pending_in_time: online, ..Default::default() };
    WatchChangesResponse {
        cursor: cursor.into(),
        changed_at: None,
        change: Some(Change::Cell(CellChange {
            center_code: "BPMC-1".into(),
            procedure_code: "1.000948".into(),
            day: "2026-03-02".into(),
            old_measures: old.map(measures),
            new_measures: Some(measures(new)),
            sender: "egov".into(),
        })),
    }
}

#[tokio::test]
async fn a_cell_keeps_the_value_committed_last_whatever_the_streams_order() {
    let Some(database) = onestop_testkit::database().await else { return };
    let pool =
        db::connect_and_migrate(&ServerArgs::for_database(database.url()), SCHEMA, &MIGRATOR, db::Plans::PerCall)
            .await
            .unwrap();
    // 5 is stored first (change 1). Transaction 12 writes 7 over it and commits (change 2); transaction 11,
    // which began earlier, waited for the cell and then wrote 9 over the 7 (change 3): 9 is the value.
    apply(&pool, &[change("10.0.1", None, 5)]).await.unwrap();
    apply(&pool, &[change("11.0.3", Some(7), 9)]).await.unwrap();
    apply(&pool, &[change("12.0.2", Some(5), 7)]).await.unwrap();
    let (cell, day): (i64, i64) = sqlx::query_as(
        "SELECT c.received_online, d.received_online FROM aggregation.cell c
         JOIN aggregation.center_day d USING (center_code, day)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((cell, day), (9, 9));
}
