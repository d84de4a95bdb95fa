//! What hostile input and unlucky timing cannot do: counts beyond the bound are refused, a change aggregation
//! cannot apply is set aside while the others flow, a push asks the catalogue at most once, two concurrent
//! pushes of one new case create it once, and the change stream reads a page by its index however long the
//! history.

use std::time::Duration;

use onestop_domain::measures::MAX_COUNT;
use onestop_proto::aggregation::v1::*;
use onestop_proto::intake::v1::*;
use onestop_system_tests::*;
use opentelemetry::trace::TraceId;

fn all_measures(value: i64) -> Measures {
    Measures {
        received_direct: value,
        received_online: value,
        received_postal: value,
        resolved_early: value,
        resolved_on_time: value,
        resolved_late: value,
        withdrawn_or_returned: value,
        results_returned_by_post: value,
        apology_notices_issued: value,
        pending_in_time: value,
        pending_overdue: value,
    }
}

fn cell(center: &str, procedure: &str, day: &str, measures: Measures) -> DailyCell {
    DailyCell {
        center_code: center.into(),
        procedure_code: procedure.into(),
        day: day.into(),
        measures: Some(measures),
        computed_at: None,
    }
}

fn day(offset: i64) -> String {
    (chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Duration::days(offset)).to_string()
}

/// Waits until aggregation answers the indicators of `center` over 2026 with `online` cases received online.
async fn received_online(system: &TestSystem, center: &str, online: u64) -> GetIndicatorsResponse {
    let mut aggregation = system.stack.aggregation_client();
    eventually(|| {
        let mut aggregation = aggregation.clone();
        async move {
            let answer = aggregation
                .get_indicators(GetIndicatorsRequest {
                    center_code: center.into(),
                    period: Some(DayRange { from_day: "2026-01-01".into(), to_day: "2026-06-30".into() }),
                    indicator_ids: vec!["online_case_share".into()],
                    ..Default::default()
                })
                .await
                .ok()?
                .into_inner();
            (answer.indicators[0].numerator == online).then_some(answer)
        }
    })
    .await;
    aggregation
        .get_indicators(GetIndicatorsRequest {
            center_code: center.into(),
            period: Some(DayRange { from_day: "2026-01-01".into(), to_day: "2026-06-30".into() }),
            indicator_ids: vec!["online_case_share".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn the_largest_counts_for_half_a_year_add_up_exactly_and_larger_ones_are_refused() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut intake = system.stack.intake_client();

    // A count above the bound is refused by name, and nothing of the cell is stored.
    let refused = intake
        .push_cells(PushCellsRequest {
            sender: "egov-46".into(),
            cells: vec![cell(
                COMMUNE_CENTER,
                FULL_PROCEDURE,
                "2026-03-02",
                Measures { received_online: 1 << 62, pending_overdue: MAX_COUNT as i64 + 1, ..Default::default() },
            )],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(refused.rejected, 1);
    let fields: Vec<&str> = refused.results[0].problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["cells[0].measures.received_online", "cells[0].measures.pending_overdue"]);

    // The largest allowed counts, every measure, every procedure, every day of six months, at one center.
    let days = 181;
    let cells: Vec<DailyCell> = (0..days)
        .flat_map(|d| {
            [FULL_PROCEDURE, PARTIAL_PROCEDURE, OFFLINE_PROCEDURE]
                .map(|p| cell(COMMUNE_CENTER, p, &day(d), all_measures(MAX_COUNT as i64)))
        })
        .collect();
    let pushed = intake
        .push_cells(PushCellsRequest { sender: "egov-46".into(), cells, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pushed.accepted as i64, days * 3, "{:?}", pushed.results.iter().find(|r| r.outcome != 1));

    // Then an ordinary push elsewhere: it shows, and so do the largest sums, exactly.
    intake
        .push_cells(PushCellsRequest {
            sender: "egov-46".into(),
            cells: vec![cell(
                PROVINCIAL_CENTER,
                FULL_PROCEDURE,
                "2026-03-02",
                Measures { received_online: 7, received_direct: 3, ..Default::default() },
            )],
            ..Default::default()
        })
        .await
        .unwrap();
    let ordinary = received_online(&system, PROVINCIAL_CENTER, 7).await;
    assert_eq!(ordinary.indicators[0].denominator, 10);
    let largest = received_online(&system, COMMUNE_CENTER, MAX_COUNT * 3 * days as u64).await;
    assert_eq!(largest.indicators[0].denominator, MAX_COUNT * 9 * days as u64);
    assert_eq!(largest.indicators[0].value, Some(1.0 / 3.0));

    // Form 06 over the same months sums every column exactly too.
    let form = system
        .stack
        .aggregation_client()
        .get_form06(GetForm06Request {
            center_code: COMMUNE_CENTER.into(),
            period: Some(DayRange { from_day: "2026-01-01".into(), to_day: "2026-06-30".into() }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let total = form.total.unwrap();
    assert_eq!(total.columns[1], MAX_COUNT * 3 * days as u64, "column 4, received online");
}

#[tokio::test]
async fn a_change_aggregation_cannot_apply_is_set_aside_and_the_others_flow() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    // Two cells of 2^62 on one center-day, as stored before intake bounded counts: written straight into
    // intake's change log, which aggregation follows.
    let db = sqlx::PgPool::connect(system.database.url()).await.unwrap();
    for procedure in [FULL_PROCEDURE, PARTIAL_PROCEDURE] {
        sqlx::query(
            "INSERT INTO intake.daily_cell_change (center_code, procedure_code, day, new_measures, sender)
             VALUES ($1, $2, '2026-03-02', ARRAY[4611686018427387904, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 'legacy')",
        )
        .bind(COMMUNE_CENTER)
        .bind(procedure)
        .execute(&db)
        .await
        .unwrap();
    }
    // And a case change intake itself cannot read back.
    sqlx::query("INSERT INTO intake.case_change (case_code, stored) VALUES ('HS-BAD', '\\x00ff')")
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("SELECT pg_notify('intake_changes', '')").execute(&db).await.unwrap();

    // An ordinary push after them shows at once.
    system
        .stack
        .intake_client()
        .push_cells(PushCellsRequest {
            sender: "egov-46".into(),
            cells: vec![cell(
                PROVINCIAL_CENTER,
                FULL_PROCEDURE,
                "2026-03-02",
                Measures { received_online: 5, ..Default::default() },
            )],
            ..Default::default()
        })
        .await
        .unwrap();
    received_online(&system, PROVINCIAL_CENTER, 5).await;

    // The two poisoned changes are set aside, each with why, for operators to see.
    let mut aggregation = system.stack.aggregation_client();
    let set_aside =
        aggregation.list_set_aside_changes(ListSetAsideChangesRequest::default()).await.unwrap().into_inner();
    let mut summaries: Vec<&str> = set_aside.changes.iter().map(|c| c.summary.as_str()).collect();
    summaries.sort();
    assert_eq!(
        summaries,
        [
            format!("cell {COMMUNE_CENTER} {FULL_PROCEDURE} 2026-03-02"),
            format!("cell {COMMUNE_CENTER} {PARTIAL_PROCEDURE} 2026-03-02"),
            "empty change".to_string(),
        ]
    );
    assert!(set_aside.changes.iter().all(|c| c.source == "intake"));
    let reasons: Vec<&str> = set_aside.changes.iter().map(|c| c.reason.as_str()).collect();
    assert_eq!(reasons.iter().filter(|r| r.contains("received_direct")).count(), 2, "{reasons:?}");
    assert_eq!(reasons.iter().filter(|r| r.contains("nothing aggregation can read")).count(), 1, "{reasons:?}");
    // And the commune's figures hold none of them.
    let commune = received_online(&system, COMMUNE_CENTER, 0).await;
    assert_eq!(commune.indicators[0].denominator, 0);

    // A change the catalogue cannot read back from its own log is set aside too, and the catalogue's later
    // changes still reach aggregation: a center made after it is answered for.
    sqlx::query("INSERT INTO catalogue.change_log (change) VALUES ('\\x00ff')").execute(&db).await.unwrap();
    let later = onestop_proto::catalogue::v1::Center {
        code: "BPMC-LATER".into(),
        name: "Bộ phận Một cửa mới".into(),
        unit_code: COMMUNE.into(),
        kind: onestop_proto::catalogue::v1::CenterKind::Local as i32,
        parent_center_code: String::new(),
    };
    system
        .stack
        .catalogue_client()
        .upsert_centers(onestop_proto::catalogue::v1::UpsertCentersRequest { centers: vec![later] })
        .await
        .unwrap();
    received_online(&system, "BPMC-LATER", 0).await;
    let set_aside =
        aggregation.list_set_aside_changes(ListSetAsideChangesRequest::default()).await.unwrap().into_inner();
    let from_catalogue: Vec<&str> =
        set_aside.changes.iter().filter(|c| c.source == "catalogue").map(|c| c.summary.as_str()).collect();
    assert_eq!(from_catalogue, ["empty change"]);
}

/// The catalogue RPCs recorded in one trace.
fn catalogue_calls(trace: TraceId) -> Vec<String> {
    spans_of_trace(trace)
        .into_iter()
        .map(|s| s.name.to_string())
        .filter(|n| n.starts_with("onestop.catalogue.v1.CatalogueService/"))
        .collect()
}

#[tokio::test]
async fn a_push_naming_ten_thousand_unknown_center_days_asks_the_catalogue_once() {
    recorded_spans();
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut intake = system.stack.intake_client();
    // 10,000 days of one center and procedure, most before the procedure existed: 10,000 (center, day) pairs
    // the copy of the catalogue has never been asked about.
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let cells: Vec<DailyCell> = (0..10_000)
        .map(|d| {
            let day = (today - chrono::Duration::days(d)).to_string();
            cell(COMMUNE_CENTER, FULL_PROCEDURE, &day, Measures { received_direct: 1, ..Default::default() })
        })
        .collect();
    let traced_push = |trace: &str| {
        let mut request = tonic::Request::new(PushCellsRequest {
            sender: "egov-46".into(),
            cells: cells.clone(),
            ..Default::default()
        });
        request.metadata_mut().insert("traceparent", format!("00-{trace}-00f067aa0ba902b7-01").parse().unwrap());
        request
    };
    let first_trace = "0af7651916cd43dd8448eb211c80319c";
    let answer = intake.push_cells(traced_push(first_trace)).await.unwrap().into_inner();
    let in_force = (today - chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()).num_days() as u32 + 1;
    assert_eq!((answer.accepted, answer.rejected), (in_force, 10_000 - in_force));
    tokio::time::sleep(Duration::from_millis(300)).await; // spans end once their answers are sent
    assert_eq!(
        catalogue_calls(TraceId::from_hex(first_trace).unwrap()),
        ["onestop.catalogue.v1.CatalogueService/CheckReferences"]
    );

    // The same push again: one call again (the catalogue's newest change, so the push is judged against the
    // catalogue as it stands), and no reference is asked of it: the copy knows them all.
    let second_trace = "1af7651916cd43dd8448eb211c80319d";
    let again = intake.push_cells(traced_push(second_trace)).await.unwrap().into_inner();
    assert_eq!((again.unchanged, again.rejected), (in_force, 10_000 - in_force));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        catalogue_calls(TraceId::from_hex(second_trace).unwrap()),
        ["onestop.catalogue.v1.CatalogueService/CheckReferences"]
    );
}

fn case(code: &str) -> CaseRecord {
    CaseRecord {
        case_code: code.into(),
        procedure_code: FULL_PROCEDURE.into(),
        receiving_center_code: COMMUNE_CENTER.into(),
        resolving_agency_code: "UBND-19753".into(),
        filing_channel: Channel::Online as i32,
        return_channel: Channel::Direct as i32,
        received_at: Some(prost_types::Timestamp { seconds: 1_772_409_600, nanos: 0 }), // 2026-03-02
        due_date: "2026-03-05".into(),
        status: CaseStatus::InProgress as i32,
        ..Default::default()
    }
}

#[tokio::test]
async fn two_concurrent_pushes_of_one_new_case_create_it_once() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    for round in 0..20 {
        let code = format!("HS-{round}");
        let push = |code: String| {
            let mut intake = system.stack.intake_client();
            async move {
                intake
                    .push_cases(PushCasesRequest {
                        sender: "egov-46".into(),
                        cases: vec![case(&code)],
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner()
            }
        };
        let (a, b) = tokio::join!(push(code.clone()), push(code));
        let mut outcomes = [a.results[0].outcome, b.results[0].outcome];
        outcomes.sort();
        assert_eq!(outcomes, [CaseUpsertOutcome::Created as i32, CaseUpsertOutcome::Unchanged as i32], "round {round}");
    }
    // One change per case reached the stream.
    let db = sqlx::PgPool::connect(system.database.url()).await.unwrap();
    let changes: i64 = sqlx::query_scalar("SELECT count(*) FROM intake.case_change").fetch_one(&db).await.unwrap();
    assert_eq!(changes, 20);
}

#[tokio::test]
async fn reading_the_change_stream_from_an_old_cursor_uses_its_index() {
    let Some(system) = TestSystem::start().await else { return };
    let db = sqlx::PgPool::connect(system.database.url()).await.unwrap();
    // A long history: 200,000 cell changes and as many case changes, over 20,000 transactions.
    sqlx::query(
        "INSERT INTO intake.daily_cell_change (center_code, procedure_code, day, new_measures, sender, xid)
         SELECT 'C-' || (i % 100), '1.000948', DATE '2026-01-01' + (i % 300),
                ARRAY[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 'history', (1000 + i / 10)::text::xid8
         FROM generate_series(1, 200000) AS i",
    )
    .execute(&db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO intake.case_change (case_code, stored, xid)
         SELECT 'HS-' || i, ''::bytea, (1000 + i / 10)::text::xid8 FROM generate_series(1, 200000) AS i",
    )
    .execute(&db)
    .await
    .unwrap();
    sqlx::query("ANALYZE intake.daily_cell_change").execute(&db).await.unwrap();
    sqlx::query("ANALYZE intake.case_change").execute(&db).await.unwrap();
    // As intake reads a page: in a transaction that prefers the indexes' order to a sort.
    let mut connection = db.begin().await.unwrap();
    sqlx::query("SET LOCAL search_path TO intake").execute(&mut *connection).await.unwrap();
    sqlx::query(onestop_intake::changes::READ_IN_INDEX_ORDER).execute(&mut *connection).await.unwrap();
    // The cell changes are partitioned by year: each partition's (xid, id) index, merged in order.
    for (query, index) in [
        (onestop_intake::changes::CELL_CHANGES_AFTER, "_xid_id_idx on daily_cell_change_y2026"),
        (onestop_intake::changes::CASE_CHANGES_AFTER, "case_change_stream"),
    ] {
        for after_xid in ["1000", "11000", "20999"] {
            let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {query}"))
                .bind(after_xid)
                .bind(5_i64)
                .bind(2000_i64)
                .fetch_all(&mut *connection)
                .await
                .unwrap();
            let plan = plan.join("\n");
            assert!(plan.contains("Index Scan using") && plan.contains(index), "{plan}");
            // A Sort node, not the Sort Key of the merge.
            let sorts = plan.lines().any(|line| {
                let node = line.trim_start().trim_start_matches("->").trim_start();
                node.starts_with("Sort  (") || node.starts_with("Incremental Sort")
            });
            assert!(!sorts, "a page must not sort the history:\n{plan}");
        }
    }
}

/// Cell and case changes committing one after the other while the stream is read page after page: every one is
/// read exactly once. (Each page reads cells and cases in one snapshot; read in two, a cell change committing
/// between them could be passed over for good by a later case change.)
#[tokio::test(flavor = "multi_thread")]
async fn changes_committing_while_pages_are_read_are_each_read_once() {
    let Some(system) = TestSystem::start().await else { return };
    let db = sqlx::PgPool::connect(system.database.url()).await.unwrap();
    let options: sqlx::postgres::PgConnectOptions = system.database.url().parse().unwrap();
    let intake_db = sqlx::PgPool::connect_with(options.options([("search_path", "intake")])).await.unwrap();
    const PAIRS: usize = 1_000;
    let writer = tokio::spawn(async move {
        for i in 0..PAIRS {
            sqlx::query(
                "INSERT INTO intake.daily_cell_change (center_code, procedure_code, day, new_measures, sender)
                 VALUES ('C-1', '1.000948', DATE '2026-01-01' + $1::int % 300, ARRAY[1,0,0,0,0,0,0,0,0,0,0], 'w')",
            )
            .bind(i as i32)
            .execute(&db)
            .await
            .unwrap();
            sqlx::query("INSERT INTO intake.case_change (case_code, stored) VALUES ($1, ''::bytea)")
                .bind(format!("HS-{i}"))
                .execute(&db)
                .await
                .unwrap();
        }
    });
    let (mut cursor, mut cells, mut cases) = (onestop_intake::changes::Cursor::BEFORE_ANY, 0usize, 0usize);
    let mut seen = std::collections::HashSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while cells + cases < 2 * PAIRS && std::time::Instant::now() < deadline {
        let page = onestop_intake::changes::read_after(&intake_db, cursor, 50).await.unwrap();
        for (at, change) in &page {
            assert!(seen.insert(change.cursor.clone()), "{} read twice", change.cursor);
            match change.change {
                Some(watch_changes_response::Change::Cell(_)) => cells += 1,
                _ => cases += 1,
            }
            cursor = *at;
        }
    }
    writer.await.unwrap();
    assert_eq!((cells, cases), (PAIRS, PAIRS), "every change read, none passed over");
}
