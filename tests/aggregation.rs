//! Aggregation's roll-ups, kept from intake's change stream: exact against a brute-force sum, and neither lost
//! nor double-counted across a restart of the whole system.

use std::time::Duration;

use onestop_proto::aggregation::v1::{DayRange, GetIndicatorsRequest, IndicatorResult};
use onestop_proto::intake::v1::{DailyCell, Measures, PushCellsRequest};
use onestop_server::client::AggregationClient;
use onestop_system_tests::*;

fn cells(seed: i64) -> Vec<DailyCell> {
    let mut out = Vec::new();
    for d in 0..20i64 {
        let day = (chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap() + chrono::Duration::days(d)).to_string();
        for (c, center) in [COMMUNE_CENTER, PROVINCIAL_CENTER].into_iter().enumerate() {
            for (p, procedure) in [FULL_PROCEDURE, PARTIAL_PROCEDURE, OFFLINE_PROCEDURE].into_iter().enumerate() {
                let k = seed + d + 3 * c as i64 + p as i64;
                out.push(DailyCell {
                    center_code: center.into(),
                    procedure_code: procedure.into(),
                    day: day.clone(),
                    measures: Some(Measures {
                        received_direct: k % 5,
                        received_online: k % 3,
                        resolved_early: k % 4,
                        resolved_on_time: k % 6,
                        resolved_late: k % 2,
                        pending_in_time: k % 7,
                        pending_overdue: k % 2,
                        ..Default::default()
                    }),
                    computed_at: None,
                });
            }
        }
    }
    out
}

/// The on-time rate (form 06) and the late rate (with the stock carried over) of March 5–15, summed directly.
fn expected(cells: &[DailyCell]) -> ((u64, u64), (u64, u64)) {
    let (mut on_time, mut resolved, mut late, mut received, mut carried) = (0, 0, 0, 0, 0);
    for c in cells {
        let m = c.measures.unwrap();
        let day = c.day.as_str();
        if ("2026-03-05".."2026-03-16").contains(&day) {
            on_time += m.resolved_early + m.resolved_on_time;
            resolved += m.resolved_early + m.resolved_on_time + m.resolved_late;
            late += m.resolved_late;
            received += m.received_direct + m.received_online + m.received_postal;
        }
        if day == "2026-03-15" {
            late += m.pending_overdue;
        }
        if day == "2026-03-04" {
            carried += m.pending_in_time + m.pending_overdue;
        }
    }
    ((on_time as u64, resolved as u64), (late as u64, (received + carried) as u64))
}

async fn indicators(mut aggregation: AggregationClient) -> Vec<IndicatorResult> {
    let request = GetIndicatorsRequest {
        unit_code: PROVINCE.into(),
        period: Some(DayRange { from_day: "2026-03-05".into(), to_day: "2026-03-15".into() }),
        indicator_ids: vec!["late_rate_gia_lai".into(), "on_time_rate_form06".into()],
        ..Default::default()
    };
    aggregation.get_indicators(request).await.unwrap().into_inner().indicators
}

/// Waits until the indicators equal `wanted`, then keeps checking for a moment that they stay there.
async fn settles_at(system: &TestSystem, wanted: ((u64, u64), (u64, u64))) {
    settles_at_client(system.stack.aggregation_client(), wanted).await
}

async fn settles_at_client(aggregation: AggregationClient, wanted: ((u64, u64), (u64, u64))) {
    let read = |results: &[IndicatorResult]| {
        let pair = |id: &str| {
            let r = results.iter().find(|r| r.indicator_id == id).unwrap();
            (r.numerator, r.denominator)
        };
        (pair("on_time_rate_form06"), pair("late_rate_gia_lai"))
    };
    let mut last = None;
    for _ in 0..200 {
        let now = read(&indicators(aggregation.clone()).await);
        if now == wanted {
            tokio::time::sleep(Duration::from_millis(600)).await;
            assert_eq!(read(&indicators(aggregation.clone()).await), wanted, "and stays there");
            return;
        }
        last = Some(now);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("indicators stayed at {last:?}, wanted {wanted:?}");
}

#[tokio::test]
async fn roll_ups_survive_restarts_exactly() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut intake = system.stack.intake_client();
    let first = cells(0);
    intake
        .push_cells(PushCellsRequest { sender: "s".into(), cells: first.clone(), ..Default::default() })
        .await
        .unwrap();
    settles_at(&system, expected(&first)).await;

    // A restart resumes after the last applied change: nothing is counted again.
    let system = system.restart().await;
    settles_at(&system, expected(&first)).await;

    // Corrections after the restart replace the old values in the roll-up.
    let corrected = cells(5);
    let mut intake = system.stack.intake_client();
    intake
        .push_cells(PushCellsRequest { sender: "s".into(), cells: corrected.clone(), ..Default::default() })
        .await
        .unwrap();
    settles_at(&system, expected(&corrected)).await;
    let system = system.restart().await;
    settles_at(&system, expected(&corrected)).await;
    system.stack.shutdown().await.unwrap();
}

/// Numerator and denominator of the online case share of `center` over `[first, last]`, summed directly.
fn online_share(cells: &[DailyCell], center: &str, first: &str, last: &str) -> (u64, u64) {
    let (mut online, mut all) = (0, 0);
    for c in cells.iter().filter(|c| c.center_code == center && (first..=last).contains(&c.day.as_str())) {
        let m = c.measures.unwrap();
        online += m.received_online;
        all += m.received_direct + m.received_online + m.received_postal;
    }
    (online as u64, all as u64)
}

fn pair(results: &[IndicatorResult], id: &str) -> (u64, u64) {
    let r = results.iter().find(|r| r.indicator_id == id).unwrap();
    (r.numerator, r.denominator)
}

#[tokio::test]
async fn reporting_periods_breakdowns_and_rankings() {
    use onestop_proto::aggregation::v1::{Breakdown, CutOffRule, PeriodKind, RankUnitsRequest, ReportingPeriod};
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut intake = system.stack.intake_client();
    let pushed = cells(2);
    intake
        .push_cells(PushCellsRequest { sender: "s".into(), cells: pushed.clone(), ..Default::default() })
        .await
        .unwrap();
    settles_at(&system, expected(&pushed)).await;
    let mut aggregation = system.stack.aggregation_client();

    // March under Decree 09 runs 15 February to 14 March.
    let march = ReportingPeriod {
        kind: PeriodKind::Month as i32,
        year: 2026,
        number: 3,
        cut_off: CutOffRule::Decree09 as i32,
        month_starts_on: 0,
    };
    let by_child = aggregation
        .get_indicators(GetIndicatorsRequest {
            unit_code: PROVINCE.into(),
            reporting_period: Some(march),
            breakdown: Breakdown::ChildUnit as i32,
            indicator_ids: vec!["online_case_share".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let days = by_child.days.clone().unwrap();
    assert_eq!((days.from_day.as_str(), days.to_day.as_str()), ("2026-02-15", "2026-03-14"));
    let keys: Vec<&str> = by_child.groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, [COMMUNE, PROVINCE], "the commune, then the province's own centers");
    assert_eq!(
        pair(&by_child.groups[0].indicators, "online_case_share"),
        online_share(&pushed, COMMUNE_CENTER, "2026-02-15", "2026-03-14")
    );
    assert_eq!(
        pair(&by_child.groups[1].indicators, "online_case_share"),
        online_share(&pushed, PROVINCIAL_CENTER, "2026-02-15", "2026-03-14")
    );
    let sum = |i: usize| pair(&by_child.groups[i].indicators, "online_case_share");
    assert_eq!(pair(&by_child.indicators, "online_case_share"), (sum(0).0 + sum(1).0, sum(0).1 + sum(1).1));

    // Quarter I by month: December 15 – March 14, three reporting months.
    let quarter = ReportingPeriod { kind: PeriodKind::Quarter as i32, number: 1, ..march };
    let by_month = aggregation
        .get_indicators(GetIndicatorsRequest {
            center_code: COMMUNE_CENTER.into(),
            reporting_period: Some(quarter),
            breakdown: Breakdown::Month as i32,
            indicator_ids: vec!["online_case_share".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let months: Vec<&str> = by_month.groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(months, ["2026-01", "2026-02", "2026-03"]);
    assert_eq!(pair(&by_month.groups[1].indicators, "online_case_share"), (0, 0), "no cells before March");
    assert_eq!(
        pair(&by_month.groups[2].indicators, "online_case_share"),
        online_share(&pushed, COMMUNE_CENTER, "2026-02-15", "2026-03-14")
    );

    let ranking = aggregation
        .rank_units(RankUnitsRequest {
            unit_code: PROVINCE.into(),
            reporting_period: Some(march),
            indicator_id: "on_time_rate_form06".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ranking.units.len(), 1);
    assert_eq!((ranking.units[0].rank, ranking.units[0].unit_code.as_str()), (1, COMMUNE));

    let bad = GetIndicatorsRequest {
        unit_code: PROVINCE.into(),
        reporting_period: Some(ReportingPeriod { number: 5, ..quarter }),
        ..Default::default()
    };
    let error = aggregation.get_indicators(bad).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert!(error.message().contains("reporting_period"), "{}", error.message());
    system.stack.shutdown().await.unwrap();
}

/// Two aggregation replicas on one database of their own follow intake and the catalogue through links that are
/// cut while cells are pushed: each change is applied once, none is lost.
#[tokio::test]
async fn cut_streams_and_a_second_replica_neither_lose_nor_double_count() {
    use onestop_server::config::ServerArgs;
    use onestop_testkit::{CuttableLink, RunningService};
    let Some(system) = TestSystem::start_with_province().await else { return };
    let replica_db = onestop_testkit::database().await.expect("a second database beside the first");
    let intake_link = CuttableLink::to(system.stack.addresses.intake).await.unwrap();
    let catalogue_link = CuttableLink::to(system.stack.addresses.catalogue).await.unwrap();
    let mut server = ServerArgs::for_database(replica_db.url());
    system.stack.keys().install(onestop_server::auth::AGGREGATION, &mut server.auth);
    let config = onestop_aggregation::Config {
        server,
        catalogue_url: format!("http://{}", catalogue_link.addr()),
        intake_url: format!("http://{}", intake_link.addr()),
        read_database_url: None,
    };
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let config = config.clone();
        replicas.push(
            RunningService::spawn(|listener, shutdown| onestop_aggregation::run(config, listener, shutdown)).await,
        );
    }

    let mut intake = system.stack.intake_client();
    let first = cells(0);
    let corrected = cells(7);
    for (i, chunk) in first.chunks(40).chain(corrected.chunks(40)).enumerate() {
        if i % 3 == 1 {
            intake_link.cut();
            catalogue_link.cut();
        }
        intake
            .push_cells(PushCellsRequest { sender: "s".into(), cells: chunk.to_vec(), ..Default::default() })
            .await
            .unwrap();
        if i % 3 == 2 {
            intake_link.restore();
            catalogue_link.restore();
        }
    }
    intake_link.restore();
    catalogue_link.restore();
    // Every cell was corrected after its first value: only the corrections count.
    for replica in &replicas {
        let client = onestop_server::client::aggregation(&replica.url(), None, system.stack.operator()).unwrap();
        settles_at_client(client, expected(&corrected)).await;
    }
    for replica in replicas {
        replica.stop().await.unwrap();
    }
    system.stack.shutdown().await.unwrap();
}

/// A year's flows are read from the year roll-ups, the rest of a period from its months and days: a province's
/// answers over whole years, years with months and days at either edge, and no whole year, equal the sums over
/// every pushed cell (its corrections included), and every breakdown's whole equals the answer by procedure,
/// which sums the per-procedure copy instead. Again after a decision makes a procedure FULL online from mid-year,
/// which recomputes the FULL online days, months and years after it.
#[tokio::test]
async fn years_months_and_days_of_a_period_add_up_to_every_cell() {
    use onestop_proto::aggregation::v1::{Breakdown, GetIndicatorsResponse};
    use onestop_proto::catalogue::v1::{
        Center, CenterKind, DecisionAction, DecisionItem, OnlineLevel, PublicationDecision, PublishDecisionRequest,
        SetCenterProceduresRequest, UpsertCentersRequest,
    };
    use onestop_system_tests::model::{random_cells, totals};
    let Some(system) = TestSystem::start_with_province().await else { return };
    // Procedures in force since before 2025, so a whole calendar year of cells lies before today.
    let procedures = ["1.900001", "1.900002", "1.900003"];
    let levels = [OnlineLevel::Full, OnlineLevel::Partial, OnlineLevel::None];
    let mut catalogue = system.stack.catalogue_client();
    let decision =
        |number: &str, effective: &str, action: DecisionAction, levels: &[(usize, OnlineLevel)]| PublicationDecision {
            number: number.into(),
            signed_on: "2024-11-20".into(),
            issuer: "Chủ tịch UBND tỉnh".into(),
            effective_from: effective.into(),
            items: levels
                .iter()
                .map(|(p, level)| DecisionItem {
                    action: action as i32,
                    procedure: Some(procedure(procedures[*p], &format!("Thủ tục {}", procedures[*p]), *level)),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
    let announced = decision("150/QĐ-UBND", "2024-12-01", DecisionAction::New, &[0, 1, 2].map(|p| (p, levels[p])));
    let request = PublishDecisionRequest { decision: Some(announced) };
    catalogue.publish_decision(request).await.unwrap();
    // Two centers of their own (the fixture's receive lists from 2026), one in the commune, one in the province.
    let centers = [("BPMC-YEARS", COMMUNE, CenterKind::Local), ("TTPVHCC-YEARS", PROVINCE, CenterKind::Provincial)];
    let centers = centers.map(|(code, unit, kind)| Center {
        code: code.into(),
        name: format!("Bộ phận Một cửa {code}"),
        unit_code: unit.into(),
        kind: kind as i32,
        parent_center_code: String::new(),
    });
    catalogue.upsert_centers(UpsertCentersRequest { centers: centers.to_vec() }).await.unwrap();
    let centers = centers.map(|c| c.code);
    let mut catalogue_cursor = 0;
    for center in &centers {
        let list = SetCenterProceduresRequest {
            center_code: center.clone(),
            effective_from: "2024-12-01".into(),
            procedure_codes: procedures.map(String::from).to_vec(),
            source: "Quyết định 151/QĐ-UBND".into(),
        };
        catalogue_cursor = catalogue.set_center_procedures(list).await.unwrap().into_inner().cursor;
    }
    let first_pushed = random_cells(2026, &centers.each_ref().map(String::as_str), &procedures, "2025-01-01", 365);
    // Every seventh cell corrected by a later push.
    let corrections: Vec<DailyCell> = first_pushed
        .iter()
        .step_by(7)
        .map(|c| {
            let mut m = c.measures.unwrap();
            m.received_online += 5;
            m.resolved_late += 1;
            m.pending_in_time = m.pending_in_time * 2 + 1;
            DailyCell { measures: Some(m), ..c.clone() }
        })
        .collect();
    let mut cells = first_pushed.clone();
    for (cell, corrected) in cells.iter_mut().step_by(7).zip(&corrections) {
        *cell = corrected.clone();
    }
    let mut intake = system.stack.intake_client();
    let mut intake_cursor = String::new();
    for push in [first_pushed, corrections] {
        let request = PushCellsRequest { sender: "egov-46".into(), cells: push, ..Default::default() };
        let pushed = intake.push_cells(request).await.unwrap().into_inner();
        assert_eq!(pushed.rejected, 0, "{:?}", pushed.results.iter().find(|r| !r.problems.is_empty()));
        intake_cursor = pushed.cursor;
    }

    let periods = [
        ("2025-01-01", "2025-12-31"), // a whole year
        ("2024-12-25", "2026-01-20"), // a year, with days before and after it
        ("2025-01-01", "2026-01-31"), // a year and a month
        ("2025-02-14", "2026-01-31"), // months and days, no whole year
        ("2025-12-31", "2025-12-31"), // one day
    ];
    let aggregation = system.stack.aggregation_client();
    let check = |catalogue_cursor: u64| {
        let mut aggregation = aggregation.clone();
        let (cells, intake_cursor, commune_center) = (&cells, intake_cursor.clone(), centers[0].clone());
        async move {
            let (mut full_online_in_the_year, mut offered_fully_online) = (None, None);
            for (first, last) in periods {
                let ask = |breakdown: Breakdown| GetIndicatorsRequest {
                    unit_code: PROVINCE.into(),
                    period: Some(DayRange { from_day: first.into(), to_day: last.into() }),
                    breakdown: breakdown as i32,
                    min_intake_cursor: intake_cursor.clone(),
                    min_catalogue_cursor: catalogue_cursor,
                    ..Default::default()
                };
                let whole = |answer: &GetIndicatorsResponse| -> Vec<(String, u64, u64)> {
                    answer
                        .indicators
                        .iter()
                        .filter(|r| !r.indicator_id.contains("report"))
                        .map(|r| (r.indicator_id.clone(), r.numerator, r.denominator))
                        .collect()
                };
                let plain = aggregation.get_indicators(ask(Breakdown::Unspecified)).await.unwrap().into_inner();
                let model = totals(cells, first, last, |_| true);
                for result in &plain.indicators {
                    if let Some(expected) = model.indicator(&result.indicator_id) {
                        let got = (result.numerator, result.denominator);
                        assert_eq!(got, expected, "{} over {first}..{last}", result.indicator_id);
                    }
                }
                for breakdown in [Breakdown::ChildUnit, Breakdown::Month, Breakdown::Procedure] {
                    let answer = aggregation.get_indicators(ask(breakdown)).await.unwrap().into_inner();
                    assert_eq!(whole(&answer), whole(&plain), "{first}..{last} by {breakdown:?}");
                }
                // The commune's center offers the procedures: its procedures with online cases, read from yearly
                // sets for a whole year, equal those of its months.
                let of_center = |breakdown: Breakdown| GetIndicatorsRequest {
                    unit_code: String::new(),
                    center_code: commune_center.clone(),
                    ..ask(breakdown)
                };
                let center = aggregation.get_indicators(of_center(Breakdown::Unspecified)).await.unwrap().into_inner();
                let by_month = aggregation.get_indicators(of_center(Breakdown::Month)).await.unwrap().into_inner();
                assert_eq!(whole(&by_month), whole(&center), "the commune's center over {first}..{last} by month");
                if (first, last) == periods[0] {
                    let share = plain.indicators.iter().find(|r| r.indicator_id == "full_online_case_share");
                    full_online_in_the_year = share.map(|r| r.numerator);
                    let with_online_cases =
                        center.indicators.iter().find(|r| r.indicator_id == "procedures_with_online_cases").unwrap();
                    assert_eq!((with_online_cases.numerator, with_online_cases.denominator), (2, 2));
                    let fully_online =
                        center.indicators.iter().find(|r| r.indicator_id == "procedures_offered_fully_online").unwrap();
                    offered_fully_online = Some(fully_online.numerator);
                }
            }
            (full_online_in_the_year.expect("the full-online share is seeded"), offered_fully_online.expect("asked"))
        }
    };
    let (before, offered_before) = check(catalogue_cursor).await;
    assert_eq!(offered_before, 1, "one of the center's three procedures is FULL online");
    // Centers and procedures are numbered once each, whatever the batches: the numbers stay dense (a set of
    // procedures is a bitmap as long as its highest number).
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(system.database.url()).await.unwrap();
    for (table, first) in [("aggregation.procedure_number", 0), ("aggregation.center_number", 1)] {
        let (count, highest): (i64, i32) =
            sqlx::query_as(&format!("SELECT count(*), max(number) FROM {table}")).fetch_one(&mut db).await.unwrap();
        assert_eq!(i64::from(highest) - first + 1, count, "{table} numbers each code once");
    }

    // The partly online procedure becomes FULL online from 1 June 2025, after its cells were applied.
    let amended = decision("201/QĐ-UBND", "2025-06-01", DecisionAction::Amended, &[(1, OnlineLevel::Full)]);
    let request = PublishDecisionRequest { decision: Some(amended) };
    let catalogue_cursor = catalogue.publish_decision(request).await.unwrap().into_inner().cursor;
    let (after, offered_after) = check(catalogue_cursor).await;
    assert!(after > before, "the year counts the newly FULL online procedure's days: {before} then {after}");
    assert_eq!(offered_after, 2, "the catalogue's counts follow the copy of the catalogue as it moves on");

    // Corrections that leave a procedure no online case in March take it out of March's procedures with online
    // cases, and not out of the year's.
    let commune_center = centers[0].as_str();
    let with_online_cases = |cells: &[DailyCell], first: &str, last: &str| {
        procedures[..2]
            .iter()
            .filter(|p| {
                totals(cells, first, last, |c| c.center_code == commune_center && c.procedure_code == **p)
                    .flows
                    .received_online
                    > 0
            })
            .count() as u64
    };
    let cleared: Vec<DailyCell> = cells
        .iter()
        .filter(|c| {
            c.center_code == commune_center && c.procedure_code == procedures[1] && c.day.starts_with("2025-03")
        })
        .map(|c| DailyCell { measures: Some(Measures { received_online: 0, ..c.measures.unwrap() }), ..c.clone() })
        .collect();
    let march_before = with_online_cases(&cells, "2025-03-01", "2025-03-31");
    for cell in &mut cells {
        if let Some(corrected) = cleared.iter().find(|c| c.day == cell.day && c.procedure_code == cell.procedure_code) {
            if cell.center_code == commune_center {
                *cell = corrected.clone();
            }
        }
    }
    assert_eq!((march_before, with_online_cases(&cells, "2025-03-01", "2025-03-31")), (2, 1), "the model's March");
    let request = PushCellsRequest { sender: "egov-46".into(), cells: cleared, ..Default::default() };
    let intake_cursor = intake.push_cells(request).await.unwrap().into_inner().cursor;
    for (first, last) in [("2025-03-01", "2025-03-31"), ("2025-01-01", "2025-12-31"), ("2025-03-10", "2025-04-30")] {
        let request = GetIndicatorsRequest {
            center_code: commune_center.into(),
            period: Some(DayRange { from_day: first.into(), to_day: last.into() }),
            indicator_ids: vec!["procedures_with_online_cases".into()],
            min_intake_cursor: intake_cursor.clone(),
            ..Default::default()
        };
        let answer = aggregation.clone().get_indicators(request).await.unwrap().into_inner();
        let got = pair(&answer.indicators, "procedures_with_online_cases");
        assert_eq!(got, (with_online_cases(&cells, first, last), 2), "{first}..{last} after March's corrections");
    }
}
