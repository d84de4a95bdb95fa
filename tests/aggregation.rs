//! Aggregation's roll-ups, kept from intake's change stream: exact against a brute-force sum, and neither lost
//! nor double-counted across a restart of the whole system.

use std::time::Duration;

use onestop_proto::aggregation::v1::aggregation_service_client::AggregationServiceClient;
use onestop_proto::aggregation::v1::{DayRange, GetIndicatorsRequest, IndicatorResult};
use onestop_proto::intake::v1::intake_service_client::IntakeServiceClient;
use onestop_proto::intake::v1::{DailyCell, Measures, PushCellsRequest};
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

async fn indicators(system: &TestSystem) -> Vec<IndicatorResult> {
    let mut aggregation = AggregationServiceClient::connect(system.stack.aggregation_url()).await.unwrap();
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
    let read = |results: &[IndicatorResult]| {
        let pair = |id: &str| {
            let r = results.iter().find(|r| r.indicator_id == id).unwrap();
            (r.numerator, r.denominator)
        };
        (pair("on_time_rate_form06"), pair("late_rate_gia_lai"))
    };
    let mut last = None;
    for _ in 0..200 {
        let now = read(&indicators(system).await);
        if now == wanted {
            tokio::time::sleep(Duration::from_millis(600)).await;
            assert_eq!(read(&indicators(system).await), wanted, "and stays there");
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
    let mut intake = IntakeServiceClient::connect(system.stack.intake_url()).await.unwrap();
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
    let mut intake = IntakeServiceClient::connect(system.stack.intake_url()).await.unwrap();
    intake
        .push_cells(PushCellsRequest { sender: "s".into(), cells: corrected.clone(), ..Default::default() })
        .await
        .unwrap();
    settles_at(&system, expected(&corrected)).await;
    let system = system.restart().await;
    settles_at(&system, expected(&corrected)).await;
    system.stack.shutdown().await.unwrap();
}
