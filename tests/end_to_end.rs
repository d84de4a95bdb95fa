//! The one path through all three services, over gRPC on real ports against a fresh database:
//! catalogue publishes a decision → intake accepts daily cells, checking them with catalogue → aggregation
//! answers indicators for a unit, reading intake and catalogue over gRPC.

use onestop_proto::aggregation::v1::{DayRange, GetIndicatorsRequest, IndicatorResult};
use onestop_proto::catalogue::v1::{
    PublishDecisionRequest, UpsertCentersRequest, UpsertSectorsRequest, UpsertUnitsRequest,
};
use onestop_proto::intake::v1::{DailyCell, ListCellsRequest, Measures, PushCellsRequest};
use onestop_system_tests::*;
use opentelemetry::trace::TraceId;
use tonic::Code;
use tonic_types::StatusExt;

fn cell(center: &str, procedure: &str, day: &str, seed: i64) -> DailyCell {
    DailyCell {
        center_code: center.into(),
        procedure_code: procedure.into(),
        day: day.into(),
        measures: Some(Measures {
            received_direct: 10 + seed,
            received_online: 3 + seed,
            received_postal: seed % 3,
            resolved_early: 4 + seed,
            resolved_on_time: 6,
            resolved_late: seed % 2,
            withdrawn_or_returned: 1,
            results_returned_by_post: seed % 4,
            apology_notices_issued: seed % 2,
            pending_in_time: 20 + seed,
            pending_overdue: seed % 5,
        }),
        computed_at: None,
    }
}

/// The cells one-stop software pushes: two centers, three procedures, the last day before March and three
/// days in it.
fn pushed_cells() -> Vec<DailyCell> {
    let mut cells = Vec::new();
    let mut seed = 0;
    for day in ["2026-02-28", "2026-03-02", "2026-03-03", "2026-03-31"] {
        for center in [COMMUNE_CENTER, PROVINCIAL_CENTER] {
            for procedure in [FULL_PROCEDURE, PARTIAL_PROCEDURE, OFFLINE_PROCEDURE] {
                seed += 1;
                cells.push(cell(center, procedure, day, seed));
            }
        }
    }
    cells
}

/// Sums, over the cells of `centers` in March 2026, the numerator and denominator of an indicator.
fn brute_force(cells: &[DailyCell], centers: &[&str], measure: impl Fn(&Measures) -> (i64, i64)) -> (u64, u64) {
    cells
        .iter()
        .filter(|c| centers.contains(&c.center_code.as_str()) && c.day.starts_with("2026-03"))
        .map(|c| measure(c.measures.as_ref().unwrap()))
        .fold((0, 0), |(n, d), (cn, cd)| (n + cn as u64, d + cd as u64))
}

fn indicator<'a>(results: &'a [IndicatorResult], id: &str) -> &'a IndicatorResult {
    results.iter().find(|r| r.indicator_id == id).unwrap_or_else(|| panic!("no indicator {id}"))
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test]
async fn publish_push_and_read_indicators_across_the_three_services() {
    recorded_spans();
    let Some(system) = TestSystem::start().await else {
        return;
    };
    let stack = &system.stack;
    let mut catalogue = stack.catalogue_client();
    let mut intake = stack.intake_client();
    let mut aggregation = stack.aggregation_client();

    // Catalogue: reference data and a decision with one FULL, one PARTIAL and one offline procedure.
    catalogue.upsert_units(UpsertUnitsRequest { units: units() }).await.unwrap();
    catalogue.upsert_sectors(UpsertSectorsRequest { sectors: sectors() }).await.unwrap();
    catalogue.upsert_centers(UpsertCentersRequest { centers: centers() }).await.unwrap();
    let published = catalogue.publish_decision(PublishDecisionRequest { decision: Some(decision()) }).await.unwrap();
    assert!(published.get_ref().applied);
    for center in [COMMUNE_CENTER, PROVINCIAL_CENTER] {
        catalogue.set_center_procedures(center_procedures(center)).await.unwrap();
    }

    // Intake: the cells are accepted.
    let cells = pushed_cells();
    let push = PushCellsRequest { sender: "egov-46".into(), cells: cells.clone(), ..Default::default() };
    let first = intake.push_cells(push).await.unwrap().into_inner();
    assert_eq!((first.accepted, first.unchanged), (cells.len() as u32, 0));

    // An unknown procedure rejects the batch, naming the cell and the code; nothing of it is stored.
    let mut bad = cells[..2].to_vec();
    bad[1].procedure_code = "9.999999".into();
    bad[0].measures.as_mut().unwrap().received_online += 100;
    // Intake checks against its copy of the catalogue; a code the copy does not know is confirmed with the
    // catalogue itself, and the trace of the push shows that call.
    let mut all_or_nothing = tonic::Request::new(PushCellsRequest {
        sender: "egov-46".into(),
        cells: bad.clone(),
        all_or_nothing: true,
        ..Default::default()
    });
    all_or_nothing.metadata_mut().insert("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01").parse().unwrap());
    let rejected = intake.push_cells(all_or_nothing).await.unwrap_err();
    assert_eq!(rejected.code(), Code::InvalidArgument);
    assert!(rejected.message().contains("cells[1].procedure_code"), "{}", rejected.message());
    assert!(rejected.message().contains("9.999999"), "{}", rejected.message());
    let violations = rejected.get_error_details().bad_request().unwrap().field_violations.clone();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].field, "cells[1].procedure_code");

    // Re-sending the same cells changes nothing.
    let again = intake
        .push_cells(PushCellsRequest { sender: "egov-46".into(), cells: cells.clone(), ..Default::default() })
        .await
        .unwrap();
    assert_eq!((again.get_ref().accepted, again.get_ref().unchanged), (0, cells.len() as u32));
    let stored = intake
        .list_cells(ListCellsRequest {
            center_codes: vec![COMMUNE_CENTER.into(), PROVINCIAL_CENTER.into()],
            from_day: "2026-01-01".into(),
            to_day: "2026-12-31".into(),
            page_size: 5,
            page_token: String::new(),
            procedure_codes: vec![],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.cells.len(), 5);
    let first_stored = cells
        .iter()
        .find(|c| {
            c.center_code == stored.cells[0].center_code
                && c.day == stored.cells[0].day
                && c.procedure_code == stored.cells[0].procedure_code
        })
        .unwrap();
    assert_eq!(stored.cells[0].measures, first_stored.measures, "the rejected push left the stored cell as it was");

    // Aggregation: form-06 on-time rate and online case share for the province in March, from sums.
    let march = DayRange { from_day: "2026-03-01".into(), to_day: "2026-03-31".into() };
    // Aggregation keeps its roll-ups from intake's change stream: wait until it has applied the pushes.
    let both = [COMMUNE_CENTER, PROVINCIAL_CENTER];
    let all_received = brute_force(&cells, &both, |m| (0, m.received_direct + m.received_online + m.received_postal)).1;
    let request =
        GetIndicatorsRequest { unit_code: PROVINCE.into(), period: Some(march.clone()), ..Default::default() };
    let answer = eventually(|| {
        let (mut aggregation, request) = (aggregation.clone(), request.clone());
        async move {
            let answer = aggregation.get_indicators(request).await.unwrap().into_inner();
            (indicator(&answer.indicators, "online_case_share").denominator == all_received).then_some(answer)
        }
    })
    .await;
    let freshness = answer.freshness.clone().unwrap();
    assert!(!freshness.intake_cursor.is_empty(), "the answer says how fresh it is");
    assert!(freshness.catalogue_cursor > 0, "and up to which catalogue change");
    let on_time = indicator(&answer.indicators, "on_time_rate_form06");
    let expected = brute_force(&cells, &both, |m| {
        (m.resolved_early + m.resolved_on_time, m.resolved_early + m.resolved_on_time + m.resolved_late)
    });
    assert_eq!((on_time.numerator, on_time.denominator), expected);
    assert_eq!(on_time.value, Some(expected.0 as f64 / expected.1 as f64));
    assert_eq!(on_time.definition_version, 1);
    let online = indicator(&answer.indicators, "online_case_share");
    let expected =
        brute_force(&cells, &both, |m| (m.received_online, m.received_direct + m.received_online + m.received_postal));
    assert_eq!((online.numerator, online.denominator), expected);

    // The commune alone covers only its own center.
    let commune = aggregation
        .get_indicators(GetIndicatorsRequest {
            unit_code: COMMUNE.into(),
            period: Some(march.clone()),
            indicator_ids: vec!["online_case_share".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(commune.center_codes, [COMMUNE_CENTER]);
    let expected = brute_force(&cells, &[COMMUNE_CENTER], |m| {
        (m.received_online, m.received_direct + m.received_online + m.received_postal)
    });
    let online = indicator(&commune.indicators, "online_case_share");
    assert_eq!((online.numerator, online.denominator), expected);

    // A period with no cells has no value rather than zero.
    let empty = aggregation
        .get_indicators(GetIndicatorsRequest {
            center_code: COMMUNE_CENTER.into(),
            period: Some(DayRange { from_day: "2026-05-01".into(), to_day: "2026-05-31".into() }),
            indicator_ids: vec!["on_time_rate_form06".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(empty.indicators[0].denominator, 0);
    assert_eq!(empty.indicators[0].value, None);

    // One trace shows the push in intake and the catalogue lookup it made.
    let trace_id = TraceId::from_hex(TRACE_ID).unwrap();
    let mut names = Vec::new();
    for _ in 0..50 {
        names = spans_of_trace(trace_id).into_iter().map(|s| s.name.to_string()).collect::<Vec<_>>();
        if names.iter().any(|n| n.starts_with("onestop.intake.v1.IntakeService/PushCells"))
            && names.iter().any(|n| n.starts_with("onestop.catalogue.v1.CatalogueService/CheckReferences"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(names.contains(&"onestop.intake.v1.IntakeService/PushCells".to_string()), "{names:?}");
    assert!(names.contains(&"onestop.catalogue.v1.CatalogueService/CheckReferences".to_string()), "{names:?}");

    let TestSystem { stack, database } = system;
    stack.shutdown().await.unwrap();
    drop(database);
}

#[tokio::test]
async fn bad_requests_name_the_field() {
    recorded_spans();
    let Some(system) = TestSystem::start().await else {
        return;
    };
    let stack = &system.stack;
    let mut aggregation = stack.aggregation_client();
    let mut intake = stack.intake_client();

    let error = aggregation
        .get_indicators(GetIndicatorsRequest {
            unit_code: PROVINCE.into(),
            period: Some(DayRange { from_day: "2026-03-31".into(), to_day: "2026-03-01".into() }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(error.message().contains("period.to_day"), "{}", error.message());

    let error = aggregation
        .get_indicators(GetIndicatorsRequest {
            unit_code: "no-such-unit".into(),
            period: Some(DayRange { from_day: "2026-03-01".into(), to_day: "2026-03-31".into() }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    assert!(error.message().contains("unit_code"), "{}", error.message());

    let mut future = cell(COMMUNE_CENTER, FULL_PROCEDURE, "2999-01-01", 1);
    future.measures = None;
    let error = intake
        .push_cells(PushCellsRequest {
            sender: "egov-46".into(),
            cells: vec![future],
            all_or_nothing: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    let fields: Vec<String> =
        error.get_error_details().bad_request().unwrap().field_violations.iter().map(|v| v.field.clone()).collect();
    // Every problem at once: the catalogue of this empty system has no such center either.
    assert_eq!(fields, ["cells[0].day", "cells[0].measures", "cells[0].center_code"]);

    system.stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_push_asks_the_catalogue_only_for_its_newest_change() {
    recorded_spans();
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut intake = system.stack.intake_client();
    let cells = pushed_cells();

    // A push of 24 cells makes one call to the catalogue, for its newest change, whatever the copy knew; the
    // copy, once it has applied that change, answers every reference.
    for attempt in 0..5u32 {
        let trace = format!("{:032x}", 0xabc0_0000 + attempt);
        let mut push = tonic::Request::new(PushCellsRequest {
            sender: "egov-46".into(),
            cells: cells.clone(),
            ..Default::default()
        });
        push.metadata_mut().insert("traceparent", format!("00-{trace}-00f067aa0ba902b7-01").parse().unwrap());
        let answer = intake.push_cells(push).await.unwrap().into_inner();
        assert_eq!(answer.rejected, 0);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let spans = spans_of_trace(TraceId::from_hex(&trace).unwrap());
        assert!(spans.iter().any(|s| s.name.starts_with("onestop.intake.v1.IntakeService/PushCells")));
        let catalogue_calls: Vec<String> =
            spans.iter().map(|s| s.name.to_string()).filter(|name| name.starts_with("onestop.catalogue.v1.")).collect();
        assert_eq!(catalogue_calls, ["onestop.catalogue.v1.CatalogueService/CheckReferences"], "attempt {attempt}");
    }
    system.stack.shutdown().await.unwrap();
}
