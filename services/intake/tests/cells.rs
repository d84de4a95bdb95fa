//! Intake's storage of daily cells against a fresh PostgreSQL database: snapshots, the audit of changes,
//! concurrent pushes of the same cell, and paging.

use chrono::{NaiveDate, TimeZone};
use onestop_domain::{Measure, Measures};
use onestop_intake::cells::{self, PageKey, Stored, ValidCell};
use onestop_intake::changes;
use onestop_intake::{MIGRATOR, SCHEMA};
use onestop_proto::convert::measures_from_wire;
use onestop_proto::intake::v1::watch_changes_response::Change;
use onestop_server::config::ServerArgs;
use onestop_server::db;
use sqlx::PgPool;

async fn pool(url: &str) -> PgPool {
    db::connect_and_migrate(&ServerArgs::for_database(url), SCHEMA, &MIGRATOR, onestop_intake::PLANS)
        .await
        .expect("migrating intake")
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}

fn cell(center: &str, procedure: &str, d: u32, online: u64) -> ValidCell {
    ValidCell {
        center_code: center.into(),
        procedure_code: procedure.into(),
        day: day(d),
        measures: Measures::default().with(Measure::ReceivedOnline, online).with(Measure::PendingInTime, 2),
        computed_at: None,
    }
}

/// Stores `cells` as a push does: what is stored of them read first, then stored in one transaction.
async fn store(pool: &PgPool, sender: &str, cells: &[ValidCell]) -> Vec<Stored> {
    let numbered: Vec<(usize, ValidCell)> = cells.iter().cloned().enumerate().collect();
    let around = cells::StoredAround::read(pool, &numbered).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let stored = cells::store(&mut tx, sender, cells, &around).await.unwrap();
    tx.commit().await.unwrap();
    stored
}

/// The cell changes as intake's change stream sends them: (old value, new value, sender).
async fn changes(pool: &PgPool) -> Vec<(Option<Vec<i64>>, Vec<i64>, String)> {
    let values = |m: &onestop_proto::intake::v1::Measures| {
        measures_from_wire(m).unwrap().values().iter().map(|v| *v as i64).collect::<Vec<_>>()
    };
    // The stream hands over a change once every older transaction has ended, in any database of the server (other
    // tests run beside this one): read until the newest change is in.
    let head = changes::head(&mut pool.acquire().await.unwrap()).await.unwrap();
    let mut page = Vec::new();
    for _ in 0..200 {
        page = changes::read_after(pool, changes::Cursor::BEFORE_ANY, 1_000).await.unwrap();
        if page.last().map_or(changes::Cursor::BEFORE_ANY, |(cursor, _)| *cursor) >= head {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    page.into_iter()
        .map(|(_, response)| match response.change {
            Some(Change::Cell(c)) => {
                (c.old_measures.as_ref().map(values), values(c.new_measures.as_ref().unwrap()), c.sender)
            }
            other => panic!("not a cell change: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn a_cell_is_a_snapshot_and_every_change_is_audited() {
    let Some(db) = onestop_testkit::database().await else {
        return;
    };
    let pool = pool(db.url()).await;
    let first = [cell("C1", "P1", 2, 5), cell("C1", "P2", 2, 7)];

    assert_eq!(store(&pool, "vendor-a", &first).await, [Stored::Accepted; 2]);
    assert_eq!(store(&pool, "vendor-a", &first).await, [Stored::Unchanged; 2]);
    assert_eq!(changes(&pool).await.len(), 2, "a re-send writes no change");

    // A correction and a new cell in one push: the stream has them in key order (P0 before P1).
    let corrected = [cell("C1", "P1", 2, 6), cell("C1", "P0", 2, 1)];
    assert_eq!(store(&pool, "vendor-b", &corrected).await, [Stored::Accepted; 2]);
    let audit = changes(&pool).await;
    assert_eq!(audit.len(), 4);
    let (old, new, sender) = &audit[2];
    assert_eq!((old.is_none(), new[1], sender.as_str()), (true, 1, "vendor-b"), "the new cell, first");
    let (old, new, sender) = &audit[3];
    let old_online = old.as_ref().expect("a correction keeps the old value")[1];
    assert_eq!((old_online, new[1], sender.as_str()), (5, 6, "vendor-b"));
    // A first value is logged by its key alone; once corrected, its value is what the correction replaced.
    let (old, new, sender) = &audit[0];
    assert_eq!((old.is_none(), new[1], sender.as_str()), (true, 5, "vendor-a"), "the first value, streamed");
    let (old, new, sender) = &audit[1];
    assert_eq!((old.is_none(), new[1], sender.as_str()), (true, 7, "vendor-a"), "an uncorrected first value");
    let versions = cells::history(&pool, &("C1".into(), day(2), "P1".into())).await.unwrap();
    let online = |m: &Option<onestop_proto::intake::v1::Measures>| m.as_ref().map(|m| m.received_online);
    let seen: Vec<_> =
        versions.iter().map(|v| (online(&v.old_measures), online(&v.new_measures), v.sender.as_str())).collect();
    assert_eq!(seen, [(None, Some(5), "vendor-a"), (Some(5), Some(6), "vendor-b")], "the cell's history");

    let (listed, _) = cells::list(&pool, &["C1".into()], &[], (day(1), day(31)), None, 10).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[1].measures.as_ref().unwrap().received_online, 6, "the correction replaced the value");
}

#[tokio::test]
async fn concurrent_pushes_of_the_same_cell_store_it_once() {
    let Some(db) = onestop_testkit::database().await else {
        return;
    };
    let pool = pool(db.url()).await;
    let batch: Vec<ValidCell> = (1..=20).map(|d| cell("C1", "P1", d, u64::from(d))).collect();

    let reversed: Vec<ValidCell> = batch.iter().rev().cloned().collect();
    let (a, b) = tokio::join!(store(&pool, "a", &batch), store(&pool, "b", &reversed));
    let b: Vec<Stored> = b.into_iter().rev().collect();
    for (x, y) in a.iter().zip(&b) {
        assert!(
            matches!((x, y), (Stored::Accepted, Stored::Unchanged) | (Stored::Unchanged, Stored::Accepted)),
            "exactly one push stores it: {x:?} {y:?}"
        );
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM daily_cell").fetch_one(&pool).await.unwrap();
    assert_eq!(stored, 20);
    assert_eq!(changes(&pool).await.len(), 20);
}

#[tokio::test]
async fn pages_cover_every_cell_once_in_order() {
    let Some(db) = onestop_testkit::database().await else {
        return;
    };
    let pool = pool(db.url()).await;
    let mut batch = Vec::new();
    for center in ["C1", "C2", "C3"] {
        for d in 1..=5 {
            for procedure in ["P1", "P2"] {
                batch.push(cell(center, procedure, d, 1));
            }
        }
    }
    store(&pool, "a", &batch).await;

    let wanted = ["C1".to_string(), "C3".to_string()];
    let mut seen = Vec::new();
    let mut after: Option<PageKey> = None;
    loop {
        let (page, next) = cells::list(&pool, &wanted, &[], (day(2), day(4)), after, 4).await.unwrap();
        seen.extend(page.into_iter().map(|c| (c.center_code, c.day, c.procedure_code)));
        match next {
            Some(key) => after = Some(PageKey::from_token(&key.to_token()).unwrap()),
            None => break,
        }
    }
    let mut expected = Vec::new();
    for center in ["C1", "C3"] {
        for d in 2..=4 {
            for procedure in ["P1", "P2"] {
                expected.push((center.to_string(), day(d).to_string(), procedure.to_string()));
            }
        }
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn an_older_snapshot_never_replaces_a_newer_one() {
    let Some(db) = onestop_testkit::database().await else { return };
    let pool = pool(db.url()).await;
    let at = |minute: u32| Some(chrono::DateTime::from_timestamp(1_780_000_000 + i64::from(minute) * 60, 0).unwrap());
    let snapshot = |online: u64, minute: u32| ValidCell { computed_at: at(minute), ..cell("C1", "P1", 5, online) };

    assert_eq!(store(&pool, "a", &[snapshot(5, 10)]).await, [Stored::Accepted]);
    assert_eq!(store(&pool, "a", &[snapshot(4, 9)]).await, [Stored::Stale], "computed before the stored one");
    assert_eq!(store(&pool, "a", &[snapshot(5, 12)]).await, [Stored::Unchanged]);
    // The equal snapshot at minute 12 moved the stored time on, so one from minute 11 is stale too.
    assert_eq!(store(&pool, "a", &[snapshot(3, 11)]).await, [Stored::Stale]);
    assert_eq!(store(&pool, "a", &[snapshot(6, 13)]).await, [Stored::Accepted]);
    let (listed, _) = cells::list(&pool, &["C1".into()], &[], (day(5), day(5)), None, 10).await.unwrap();
    assert_eq!(listed[0].measures.as_ref().unwrap().received_online, 6);
    assert_eq!(changes(&pool).await.len(), 2, "stale and unchanged pushes leave no audit");
}

/// A first value is logged by key and read back from the cell, or from the correction that replaced it: a
/// follower adding up each change's difference, read in small pages while corrections commit, ends with every
/// cell's stored value (reading the cell's newest value for a first change would count corrections twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differences_read_while_cells_are_corrected_add_up_to_the_cells() {
    let Some(db) = onestop_testkit::database().await else {
        return;
    };
    let pool = pool(db.url()).await;
    let writer = {
        let pool = pool.clone();
        tokio::spawn(async move {
            // Each round adds a day and corrects every day before it.
            for round in 1..=28u32 {
                let batch: Vec<ValidCell> = (1..=round)
                    .flat_map(|d| ["P1", "P2"].map(|p| cell("C1", p, d, u64::from(round * 100 + d))))
                    .collect();
                store(&pool, "writer", &batch).await;
            }
        })
    };
    let mut totals: std::collections::HashMap<(String, String), i64> = Default::default();
    let mut cursor = changes::Cursor::BEFORE_ANY;
    for _ in 0..5_000 {
        let writer_done = writer.is_finished();
        let page = changes::read_after(&pool, cursor, 7).await.unwrap();
        let read_all = page.is_empty();
        for (at, response) in page {
            cursor = at;
            let Some(Change::Cell(c)) = response.change else { panic!("change {at} came without its value") };
            let online = |m: &Option<onestop_proto::intake::v1::Measures>| m.as_ref().map_or(0, |m| m.received_online);
            *totals.entry((c.day, c.procedure_code)).or_default() += online(&c.new_measures) - online(&c.old_measures);
        }
        if writer_done && read_all && cursor >= changes::head(&mut pool.acquire().await.unwrap()).await.unwrap() {
            break;
        }
        if read_all {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    assert!(writer.is_finished());
    let (listed, _) = cells::list(&pool, &["C1".into()], &[], (day(1), day(31)), None, 100).await.unwrap();
    assert_eq!(listed.len(), 56);
    for stored in listed {
        let key = (stored.day.clone(), stored.procedure_code.clone());
        assert_eq!(totals.get(&key).copied(), Some(stored.measures.unwrap().received_online), "{key:?}");
    }
}

/// A re-send of the same value computed later keeps the value's sender and moves its computation time on; the
/// history shows each version with who pushed it and the newest time it was computed.
#[tokio::test]
async fn a_history_names_who_pushed_each_value_and_when_it_was_last_computed() {
    let Some(db) = onestop_testkit::database().await else {
        return;
    };
    let pool = pool(db.url()).await;
    let at = |hour: u32| Some(chrono::Utc.with_ymd_and_hms(2026, 3, 3, hour, 0, 0).unwrap());
    let computed = |online: u64, hour: u32| ValidCell { computed_at: at(hour), ..cell("C1", "P1", 2, online) };
    assert_eq!(store(&pool, "vendor-a", &[computed(5, 1)]).await, [Stored::Accepted]);
    assert_eq!(store(&pool, "vendor-x", &[computed(5, 2)]).await, [Stored::Unchanged]);
    assert_eq!(store(&pool, "vendor-b", &[computed(6, 3)]).await, [Stored::Accepted]);
    assert_eq!(store(&pool, "vendor-y", &[computed(6, 4)]).await, [Stored::Unchanged]);

    let versions = cells::history(&pool, &("C1".into(), day(2), "P1".into())).await.unwrap();
    let seen: Vec<(i64, &str, Option<chrono::DateTime<chrono::Utc>>)> = versions
        .iter()
        .map(|v| {
            let computed_at = v.computed_at.and_then(onestop_proto::convert::timestamp_from_wire);
            (v.new_measures.as_ref().unwrap().received_online, v.sender.as_str(), computed_at)
        })
        .collect();
    assert_eq!(seen, [(5, "vendor-a", at(2)), (6, "vendor-b", at(4))]);
    let (_, new, sender) = &changes(&pool).await[0];
    assert_eq!((new[1], sender.as_str()), (5, "vendor-a"), "the stream's first value, after the re-send");
}

/// A push spanning few (center, day)s reads what is stored around it as one rectangle; one spread over many days
/// reads its keys. Either way the same cells are found stored, the same days before checked, and a cell believed
/// new but stored meanwhile is compared, not inserted twice.
#[tokio::test]
async fn what_is_stored_around_a_push_is_read_alike_dense_or_sparse() {
    let Some(db) = onestop_testkit::database().await else {
        return;
    };
    let pool = pool(db.url()).await;
    // C1/P1 holds 2 pending at the end of days 1 to 3.
    store(&pool, "a", &[cell("C1", "P1", 1, 0), cell("C1", "P1", 2, 0), cell("C1", "P1", 3, 0)]).await;

    // Day 3 again (stored), day 4 with 5 received and still 2 pending (the day before's 2 + 5 ≠ 2: a warning),
    // C2's day 4 (nothing stored before it: no check).
    let dense = vec![(0, cell("C1", "P1", 3, 0)), (1, cell("C1", "P1", 4, 5)), (2, cell("C2", "P1", 4, 5))];
    // The same, and a cell three weeks later: the rectangle would be mostly empty.
    let mut sparse = dense.clone();
    sparse.push((3, cell("C1", "P2", 25, 0)));
    for push in [&dense, &sparse] {
        let around = cells::StoredAround::read(&pool, push).await.unwrap();
        let stored: Vec<bool> = push.iter().map(|(_, c)| around.holds(&c.key())).collect();
        assert_eq!(stored[..3], [true, false, false], "{} cells", push.len());
        let warnings = around.pending_warnings(push);
        assert_eq!(warnings.keys().copied().collect::<Vec<_>>(), [1], "{} cells: {warnings:?}", push.len());
        assert!(warnings[&1].reason.contains("the day before's 2 + received 5"), "{warnings:?}");
    }

    // Read while C1/P1's day 4 was not yet stored, then stored by another push before this one stores: compared.
    let around = cells::StoredAround::read(&pool, &dense).await.unwrap();
    assert_eq!(store(&pool, "b", &[cell("C1", "P1", 4, 5)]).await, [Stored::Accepted]);
    let cells: Vec<ValidCell> = dense.iter().map(|(_, c)| c.clone()).collect();
    let mut tx = pool.begin().await.unwrap();
    let outcomes = cells::store(&mut tx, "c", &cells, &around).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(outcomes, [Stored::Unchanged, Stored::Unchanged, Stored::Accepted]);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM daily_cell").fetch_one(&pool).await.unwrap();
    assert_eq!(stored, 5);
}

#[tokio::test]
async fn new_cells_copied_in_keep_every_field_as_pushed() {
    let Some(db) = onestop_testkit::database().await else {
        return;
    };
    let pool = pool(db.url()).await;
    let computed_at =
        chrono::Utc.with_ymd_and_hms(2026, 3, 1, 23, 59, 58).unwrap() + chrono::Duration::microseconds(123_456);
    let leap_day = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let before_2000 = NaiveDate::from_ymd_opt(1999, 12, 31).unwrap();
    let mut measures = Measures::default();
    for (n, measure) in Measure::ALL.into_iter().enumerate() {
        measures = measures.with(measure, 1_000_000_000 - n as u64);
    }
    let pushed = [
        ValidCell {
            day: leap_day, measures, computed_at: Some(computed_at), ..cell("TTHC Đà Nẵng", "1.001234", 1, 0)
        },
        ValidCell { day: before_2000, ..cell("C\\1", "P\t2", 1, 3) },
    ];
    let sender = "Phần mềm một cửa \"điện tử\"\n\\";
    assert_eq!(store(&pool, sender, &pushed).await, [Stored::Accepted; 2]);

    type Time = Option<chrono::DateTime<chrono::Utc>>;
    let rows: Vec<(String, String, NaiveDate, Vec<i64>, Time, String)> = sqlx::query_as(
        "SELECT center_code, procedure_code, day,
                    ARRAY[received_direct, received_online, received_postal, resolved_early, resolved_on_time,
                          resolved_late, withdrawn_or_returned, results_returned_by_post, apology_notices_issued,
                          pending_in_time, pending_overdue],
                    computed_at, sender
             FROM daily_cell ORDER BY day DESC",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for (row, cell) in rows.iter().zip(&pushed) {
        let values: Vec<i64> = cell.measures.values().iter().map(|v| *v as i64).collect();
        assert_eq!(
            row,
            &(cell.center_code.clone(), cell.procedure_code.clone(), cell.day, values, cell.computed_at, sender.into())
        );
    }
    assert_eq!(rows.len(), 2);
    // Logged by their keys alone, in key order, streamed with the cells' values and sender.
    type Logged = (String, Option<Vec<i64>>, Option<String>, Time);
    let logged: Vec<Logged> =
        sqlx::query_as("SELECT center_code, new_measures, sender, changed_at FROM daily_cell_change ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(logged, [("C\\1".into(), None, None, None), ("TTHC Đà Nẵng".into(), None, None, None)]);
    let streamed = changes(&pool).await;
    assert_eq!(streamed[1].1[0], 1_000_000_000, "the first value read from the cell");
    assert_eq!(streamed[1].2, sender);
}

/// Full scans of intake's cells so far, as PostgreSQL counts them. `pool` has one connection, which reports what
/// it read when next idle (at most once a second, unless told to at once).
async fn cell_scans(pool: &PgPool) -> i64 {
    sqlx::query("SELECT pg_stat_force_next_flush()").execute(pool).await.unwrap();
    sqlx::query("SELECT pg_stat_clear_snapshot()").execute(pool).await.unwrap();
    sqlx::query_scalar(
        "SELECT coalesce(sum(seq_scan), 0)::bigint FROM pg_stat_user_tables
         WHERE schemaname = current_schema() AND relname LIKE 'daily\\_cell\\_%' AND relname NOT LIKE '%change%'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_page_of_the_stream_finds_its_cells_by_key_after_the_cells_grew_from_nothing() {
    let Some(db) = onestop_testkit::database().await else {
        return;
    };
    // One connection, so that every read below runs on the plans it keeps.
    let args = ServerArgs { database_max_connections: 1, ..ServerArgs::for_database(db.url()) };
    let pool = db::connect_and_migrate(&args, SCHEMA, &MIGRATOR, onestop_intake::PLANS).await.unwrap();
    // The stream read page by page while intake holds a handful of cells, as when a system's first load begins.
    for d in 1..=10 {
        store(&pool, "vendor", &[cell("C1", "P1", d, 1)]).await;
        changes::read_after(&pool, changes::Cursor::BEFORE_ANY, 1_000).await.unwrap();
    }
    let before_load = changes::head(&mut pool.acquire().await.unwrap()).await.unwrap();
    // Then a load: 40,000 cells.
    let load: Vec<ValidCell> = (0..400)
        .flat_map(|c| {
            (11..=30).flat_map(move |d| (0..5).map(move |p| cell(&format!("L{c:03}"), &format!("P{p}"), d, 1)))
        })
        .collect();
    store(&pool, "vendor", &load).await;

    let scans = cell_scans(&pool).await;
    let page = changes::read_after(&pool, before_load, 10).await.unwrap();
    assert_eq!(page.len(), 10);
    assert_eq!(cell_scans(&pool).await, scans, "a page of 10 changes read every cell to find its 10");
}
