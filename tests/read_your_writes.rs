//! Right answers at every moment: a read given the cursor a write answered with includes that write, and a push
//! made the moment a decision was answered is judged by that decision.

use std::time::{Duration, Instant};

use onestop_proto::aggregation::v1::*;
use onestop_proto::catalogue::v1::{
    Center, CenterKind, DecisionAction, DecisionItem, OnlineLevel, PublicationDecision, PublishDecisionRequest,
    SetCenterProceduresRequest, UpsertCentersRequest,
};
use onestop_proto::intake::v1::*;
use onestop_system_tests::*;
use tonic::Code;

fn cell(center: &str, procedure: &str, day: &str, received_online: i64) -> DailyCell {
    DailyCell {
        center_code: center.into(),
        procedure_code: procedure.into(),
        day: day.into(),
        measures: Some(Measures { received_online, received_direct: 1, ..Default::default() }),
        computed_at: None,
    }
}

fn push_of(cells: Vec<DailyCell>) -> PushCellsRequest {
    PushCellsRequest { sender: "egov-46".into(), cells, ..Default::default() }
}

fn march() -> Option<DayRange> {
    Some(DayRange { from_day: "2026-03-01".into(), to_day: "2026-03-31".into() })
}

#[tokio::test]
async fn a_read_given_a_writes_cursor_includes_that_write_every_time() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut intake = system.stack.intake_client();
    let mut aggregation = system.stack.aggregation_client();
    for round in 1..=40 {
        let pushed = intake
            .push_cells(push_of(vec![cell(COMMUNE_CENTER, FULL_PROCEDURE, "2026-03-02", round)]))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(pushed.accepted, 1);
        assert!(!pushed.cursor.is_empty());
        // No sleeping, no polling: the read waits for the push itself.
        let read = aggregation
            .get_indicators(GetIndicatorsRequest {
                center_code: COMMUNE_CENTER.into(),
                period: march(),
                indicator_ids: vec!["online_case_share".into()],
                min_intake_cursor: pushed.cursor.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(read.indicators[0].numerator, round as u64, "round {round}");
        let freshness = read.freshness.unwrap();
        assert!(!freshness.intake_cursor.is_empty());
        // Intake's own reads take the cursor too.
        let listed = intake
            .list_cells(ListCellsRequest {
                center_codes: vec![COMMUNE_CENTER.into()],
                from_day: "2026-03-02".into(),
                to_day: "2026-03-02".into(),
                min_intake_cursor: pushed.cursor,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.cells[0].measures.unwrap().received_online, round);
    }

    // A case pushed shows in the late-case lists read with its cursor.
    let cases = intake
        .push_cases(PushCasesRequest {
            sender: "egov-46".into(),
            cases: vec![CaseRecord {
                case_code: "HS-RYW".into(),
                procedure_code: FULL_PROCEDURE.into(),
                receiving_center_code: COMMUNE_CENTER.into(),
                resolving_agency_code: "UBND-19753".into(),
                filing_channel: Channel::Online as i32,
                received_at: Some(prost_types::Timestamp { seconds: 1_772_409_600, nanos: 0 }),
                due_date: "2026-03-05".into(),
                status: CaseStatus::InProgress as i32,
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let overdue = aggregation
        .list_late_cases(ListLateCasesRequest {
            center_code: COMMUNE_CENTER.into(),
            list: LateCaseList::PendingOverdue as i32,
            min_intake_cursor: cases.cursor,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(overdue.cases.iter().map(|c| c.case_code.as_str()).collect::<Vec<_>>(), ["HS-RYW"]);

    // A catalogue write's cursor: a center made a moment ago is answered for at once.
    let made = system
        .stack
        .catalogue_client()
        .upsert_centers(UpsertCentersRequest {
            centers: vec![Center {
                code: "BPMC-RYW".into(),
                name: "Bộ phận Một cửa mới".into(),
                unit_code: COMMUNE.into(),
                kind: CenterKind::Local as i32,
                parent_center_code: String::new(),
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(made.cursor > 0);
    let answer = aggregation
        .get_indicators(GetIndicatorsRequest {
            center_code: "BPMC-RYW".into(),
            period: march(),
            min_catalogue_cursor: made.cursor,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(answer.freshness.unwrap().catalogue_cursor >= made.cursor);
}

#[tokio::test]
async fn a_read_waits_for_a_change_only_until_its_deadline_then_names_it() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut aggregation = system.stack.aggregation_client();
    let mut request = tonic::Request::new(GetIndicatorsRequest {
        center_code: COMMUNE_CENTER.into(),
        period: march(),
        min_intake_cursor: "999999999.0.1".into(),
        ..Default::default()
    });
    request.set_timeout(Duration::from_millis(800));
    let started = Instant::now();
    let refused = aggregation.get_indicators(request).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("min_intake_cursor"), "{}", refused.message());
    assert!(refused.message().contains("999999999.0.1"), "{}", refused.message());
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());

    let malformed = aggregation
        .get_indicators(GetIndicatorsRequest {
            center_code: COMMUNE_CENTER.into(),
            period: march(),
            min_intake_cursor: "yesterday".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(malformed.code(), Code::InvalidArgument);
    assert!(malformed.message().contains("min_intake_cursor"));

    let mut intake = system.stack.intake_client();
    let mut request = tonic::Request::new(ListCellsRequest {
        center_codes: vec![COMMUNE_CENTER.into()],
        from_day: "2026-03-01".into(),
        to_day: "2026-03-31".into(),
        min_catalogue_cursor: 1 << 40,
        ..Default::default()
    });
    request.set_timeout(Duration::from_millis(800));
    let refused = intake.list_cells(request).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("min_catalogue_cursor"), "{}", refused.message());
}

/// A procedure of the commune's sector, new from 2026.
fn new_procedure(code: &str) -> DecisionItem {
    DecisionItem {
        action: DecisionAction::New as i32,
        procedure: Some(procedure(code, &format!("Thủ tục {code}"), OnlineLevel::Full)),
        replaces_code: String::new(),
    }
}

#[tokio::test]
async fn a_push_the_moment_a_decision_is_answered_honours_it_two_hundred_times_in_two_hundred() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut catalogue = system.stack.catalogue_client();
    let codes: Vec<String> = (1..=200).map(|i| format!("9.{i:06}")).collect();
    catalogue
        .publish_decision(PublishDecisionRequest {
            decision: Some(PublicationDecision {
                number: "200/QĐ-UBND".into(),
                signed_on: "2025-12-01".into(),
                issuer: "Chủ tịch UBND tỉnh".into(),
                effective_from: "2026-01-01".into(),
                items: codes.iter().map(|c| new_procedure(c)).collect(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let mut list = center_procedures(COMMUNE_CENTER);
    list.procedure_codes.extend(codes.iter().cloned());
    catalogue.set_center_procedures(SetCenterProceduresRequest { ..list }).await.unwrap();

    let mut intake = system.stack.intake_client();
    // Before its abolition, a procedure is received.
    let before = intake.push_cells(push_of(vec![cell(COMMUNE_CENTER, &codes[0], "2026-05-04", 1)])).await.unwrap();
    assert_eq!(before.get_ref().accepted, 1);

    let mut accepted = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        let number = format!("{}/QĐ-UBND", 1000 + i);
        catalogue
            .publish_decision(PublishDecisionRequest {
                decision: Some(PublicationDecision {
                    number: number.clone(),
                    signed_on: "2026-05-20".into(),
                    issuer: "Chủ tịch UBND tỉnh".into(),
                    effective_from: "2026-06-01".into(),
                    items: vec![DecisionItem {
                        action: DecisionAction::Abolished as i32,
                        procedure: Some(procedure(code, "", OnlineLevel::Full)),
                        replaces_code: String::new(),
                    }],
                    ..Default::default()
                }),
            })
            .await
            .unwrap();
        // At once: no waiting between the decision's answer and the push.
        let answer =
            intake.push_cells(push_of(vec![cell(COMMUNE_CENTER, code, "2026-07-01", 1)])).await.unwrap().into_inner();
        if answer.accepted != 0 {
            accepted.push(code.clone());
            continue;
        }
        let problem = &answer.results[0].problems[0];
        assert_eq!(problem.field, "cells[0].procedure_code");
        assert!(problem.reason.contains(&number), "the refusal names the decision: {}", problem.reason);
        assert!(problem.reason.contains("2026-06-01"), "{}", problem.reason);
    }
    assert_eq!(accepted, Vec::<String>::new(), "pushes accepted after the decision abolishing their procedure");
}

#[tokio::test]
async fn a_refused_cell_or_case_lists_every_problem_at_once() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut intake = system.stack.intake_client();
    let answer = intake
        .push_cells(push_of(vec![cell("BPMC-NOWHERE", FULL_PROCEDURE, "2099-01-01", 1)]))
        .await
        .unwrap()
        .into_inner();
    let mut fields: Vec<&str> = answer.results[0].problems.iter().map(|p| p.field.as_str()).collect();
    fields.sort();
    assert_eq!(fields, ["cells[0].center_code", "cells[0].day"], "{:?}", answer.results[0].problems);

    let case = CaseRecord {
        case_code: "HS-MANY".into(),
        procedure_code: "9.999999".into(),
        receiving_center_code: "BPMC-NOWHERE".into(),
        resolving_agency_code: "NOBODY".into(),
        filing_channel: Channel::Online as i32,
        received_at: Some(prost_types::Timestamp { seconds: 1_772_409_600, nanos: 0 }),
        due_date: "2026-03-01".into(),
        status: CaseStatus::InProgress as i32,
        ..Default::default()
    };
    let answer = intake
        .push_cases(PushCasesRequest { sender: "egov-46".into(), cases: vec![case], ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let mut fields: Vec<&str> = answer.results[0].problems.iter().map(|p| p.field.as_str()).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "cases[0].due_date",
            "cases[0].procedure_code",
            "cases[0].receiving_center_code",
            "cases[0].resolving_agency_code"
        ],
        "{:?}",
        answer.results[0].problems
    );
}
