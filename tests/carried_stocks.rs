//! Pending stocks carry forward: the same history pushed every day by one center, only on days with activity by
//! another, and by a third in shuffled pieces with wrong values corrected later gives the same answers, for any
//! period and breakdown, form 06 and reconciliation included; and every breakdown's whole equals the plain
//! answer's (center stocks read from their changes, procedure stocks from each pair's cells).

use onestop_proto::aggregation::v1::*;
use onestop_proto::catalogue::v1::{Center, CenterKind, SetCenterProceduresRequest, UpsertCentersRequest};
use onestop_proto::intake::v1::{DailyCell, Measures, PushCellsRequest};
use onestop_system_tests::*;

const DENSE: &str = "BPMC-DENSE";
const SPARSE: &str = "BPMC-SPARSE";
const SHUFFLED: &str = "BPMC-SHUFFLED";

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn first_day() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap()
}

const DAYS: i64 = 116;

/// One procedure's history: on days with activity cases arrive, are resolved or fall overdue; on the others
/// nothing happens. Each day's cell, and whether anything happened that day.
fn history(procedure: &str, random: &mut Lcg) -> Vec<(DailyCell, bool)> {
    let (mut in_time, mut overdue) = (0i64, 0i64);
    (0..DAYS)
        .map(|d| {
            let day = (first_day() + chrono::Duration::days(d)).to_string();
            let active = random.next(10) < 4;
            let mut m = Measures::default();
            if active {
                let online = random.next(4) as i64;
                let direct = random.next(4) as i64;
                let resolved_on_time = random.next(in_time as u64 + 1) as i64;
                let resolved_late = random.next(overdue as u64 + 1) as i64;
                let falling_overdue = random.next((in_time - resolved_on_time) as u64 + 1) as i64;
                in_time += online + direct - resolved_on_time - falling_overdue;
                overdue += falling_overdue - resolved_late;
                m = Measures {
                    received_online: online,
                    received_direct: direct,
                    resolved_on_time,
                    resolved_late,
                    ..Default::default()
                };
            }
            m.pending_in_time = in_time;
            m.pending_overdue = overdue;
            let cell = DailyCell {
                center_code: String::new(),
                procedure_code: procedure.into(),
                day,
                measures: Some(m),
                computed_at: None,
            };
            (cell, active)
        })
        .collect()
}

/// Each group's key with each indicator's (id, numerator, denominator).
type AnswerKey = Vec<(String, Vec<(String, u64, u64)>)>;

fn answer_key(answer: &GetIndicatorsResponse) -> AnswerKey {
    answer
        .groups
        .iter()
        .map(|g| {
            let results = g
                .indicators
                .iter()
                // Reporting completeness differs by design: one center reported every day, the other did not.
                .filter(|r| !r.indicator_id.contains("report"))
                .map(|r| (r.indicator_id.clone(), r.numerator, r.denominator))
                .collect();
            (g.key.clone(), results)
        })
        .collect()
}

#[tokio::test]
async fn the_same_history_pushed_densely_and_sparsely_gives_the_same_answers() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut catalogue = system.stack.catalogue_client();
    let centers = [DENSE, SPARSE, SHUFFLED].map(|code| Center {
        code: code.into(),
        name: format!("Bộ phận Một cửa {code}"),
        unit_code: COMMUNE.into(),
        kind: CenterKind::Local as i32,
        parent_center_code: String::new(),
    });
    catalogue.upsert_centers(UpsertCentersRequest { centers: centers.to_vec() }).await.unwrap();
    for code in [DENSE, SPARSE, SHUFFLED] {
        let list = SetCenterProceduresRequest { center_code: code.into(), ..center_procedures(COMMUNE_CENTER) };
        catalogue.set_center_procedures(list).await.unwrap();
    }

    let mut random = Lcg(20_261_130);
    let mut dense = Vec::new();
    let mut sparse = Vec::new();
    for procedure in [FULL_PROCEDURE, PARTIAL_PROCEDURE, OFFLINE_PROCEDURE] {
        for (cell, active) in history(procedure, &mut random) {
            dense.push(DailyCell { center_code: DENSE.into(), ..cell.clone() });
            if active {
                sparse.push(DailyCell { center_code: SPARSE.into(), ..cell });
            }
        }
    }
    assert!(sparse.len() * 2 < dense.len(), "the sparse history leaves most days out");
    // The dense history again, out of order and in pieces; a third of it first with wrong stocks, corrected by the
    // later pieces, so the stock changes are rewritten for days before a pair's latest.
    let mut shuffled: Vec<DailyCell> =
        dense.iter().map(|c| DailyCell { center_code: SHUFFLED.into(), ..c.clone() }).collect();
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, random.next(i as u64 + 1) as usize);
    }
    let wrong: Vec<DailyCell> = shuffled
        .iter()
        .step_by(3)
        .map(|c| {
            let mut m = c.measures.unwrap();
            m.pending_in_time = m.pending_in_time * 2 + 3;
            m.pending_overdue += 1;
            DailyCell { measures: Some(m), ..c.clone() }
        })
        .collect();
    let mut pushes = vec![dense, sparse];
    pushes.extend(wrong.chunks(40).map(<[DailyCell]>::to_vec));
    pushes.extend(shuffled.chunks(25).map(<[DailyCell]>::to_vec));
    let mut intake = system.stack.intake_client();
    let mut cursor = String::new();
    for cells in pushes {
        let pushed = intake
            .push_cells(PushCellsRequest { sender: "egov-46".into(), cells, ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(pushed.rejected, 0, "{:?}", pushed.results.iter().find(|r| !r.problems.is_empty()));
        cursor = pushed.cursor;
    }

    let mut aggregation = system.stack.aggregation_client();
    let mut periods = vec![(0, DAYS - 1), (0, 0), (DAYS - 1, DAYS + 20), (30, 30)];
    for _ in 0..10 {
        let a = random.next(DAYS as u64 + 15) as i64;
        let b = random.next(DAYS as u64 + 15) as i64;
        periods.push((a.min(b), a.max(b)));
    }
    let day = |offset: i64| (first_day() + chrono::Duration::days(offset)).to_string();
    let mut overdue_days_compared = 0;
    for (first, last) in periods {
        let period = Some(DayRange { from_day: day(first), to_day: day(last) });
        let mut wholes = Vec::new();
        for breakdown in [Breakdown::Unspecified, Breakdown::Month, Breakdown::Sector, Breakdown::Procedure] {
            let ask = |center: &str| GetIndicatorsRequest {
                center_code: center.into(),
                period: period.clone(),
                breakdown: breakdown as i32,
                min_intake_cursor: cursor.clone(),
                ..Default::default()
            };
            let dense = aggregation.get_indicators(ask(DENSE)).await.unwrap().into_inner();
            let sparse = aggregation.get_indicators(ask(SPARSE)).await.unwrap().into_inner();
            let shuffled = aggregation.get_indicators(ask(SHUFFLED)).await.unwrap().into_inner();
            assert_eq!(answer_key(&dense), answer_key(&sparse), "{first}..{last} by {breakdown:?}");
            assert_eq!(answer_key(&dense), answer_key(&shuffled), "shuffled, {first}..{last} by {breakdown:?}");
            let whole: Vec<(String, u64, u64)> = dense
                .indicators
                .iter()
                .filter(|r| !r.indicator_id.contains("report"))
                .map(|r| (r.indicator_id.clone(), r.numerator, r.denominator))
                .collect();
            wholes.push(whole);
        }
        assert!(wholes.windows(2).all(|w| w[0] == w[1]), "every breakdown's whole alike, {first}..{last}: {wholes:?}");
        let form = |center: &str| GetForm06Request {
            center_code: center.into(),
            period: period.clone(),
            min_intake_cursor: cursor.clone(),
            ..Default::default()
        };
        let dense = aggregation.get_form06(form(DENSE)).await.unwrap().into_inner();
        let sparse = aggregation.get_form06(form(SPARSE)).await.unwrap().into_inner();
        assert_eq!(dense.total, sparse.total, "form 06 total, {first}..{last}");
        assert_eq!(dense.sections, sparse.sections, "form 06 rows, {first}..{last}");

        let reconcile = |center: &str| ReconcileLateCountsRequest {
            center_code: center.into(),
            period: period.clone(),
            min_intake_cursor: cursor.clone(),
            ..Default::default()
        };
        let dense = aggregation.reconcile_late_counts(reconcile(DENSE)).await.unwrap().into_inner();
        let sparse = aggregation.reconcile_late_counts(reconcile(SPARSE)).await.unwrap().into_inner();
        let overdue =
            |r: &ReconcileLateCountsResponse| r.centers.iter().map(|c| c.pending_overdue_in_cells).sum::<u64>();
        assert_eq!(overdue(&dense), overdue(&sparse), "overdue at the end of {first}..{last}");

        // Day by day too: the overdue stock at each day's end, carried forward over the days without cells.
        let by_day = |center: &str| ReconcileLateCountsRequest { by_day: true, ..reconcile(center) };
        let dense = aggregation.reconcile_late_counts(by_day(DENSE)).await.unwrap().into_inner();
        let sparse = aggregation.reconcile_late_counts(by_day(SPARSE)).await.unwrap().into_inner();
        let overdue_by_day = |r: &ReconcileLateCountsResponse| {
            r.centers[0].days.iter().map(|d| (d.day.clone(), d.pending_overdue_in_cells)).collect::<Vec<_>>()
        };
        assert_eq!(overdue_by_day(&dense), overdue_by_day(&sparse), "overdue by day, {first}..{last}");
        overdue_days_compared += overdue_by_day(&dense).iter().filter(|(_, overdue)| *overdue > 0).count();
    }
    // No case record backs the cells' overdue stock, so every day it is not zero disagrees and is listed.
    assert!(overdue_days_compared > 0, "the periods had overdue days to compare");
}
