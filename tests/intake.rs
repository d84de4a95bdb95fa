//! Intake over gRPC with the catalogue beside it: answers per cell, idempotency, warnings, the bulk stream and
//! what survives when it is cut, retries after a lost answer, concurrent senders, case records, completeness,
//! history, and the change stream.

use std::collections::HashMap;
use std::time::Duration;

use onestop_proto::catalogue::v1::SetCenterProceduresRequest;
use onestop_proto::intake::v1::*;
use onestop_system_tests::*;
use onestop_testkit::CuttableLink;
use prost::Message;
use tokio_stream::StreamExt;
use tonic::Code;

type Intake = onestop_server::client::IntakeClient;

async fn intake(system: &TestSystem) -> Intake {
    system.stack.intake_client()
}

fn measures(received: i64, resolved: i64, pending: i64) -> Measures {
    Measures { received_direct: received, resolved_on_time: resolved, pending_in_time: pending, ..Default::default() }
}

fn cell(center: &str, procedure: &str, day: &str, m: Measures) -> DailyCell {
    DailyCell {
        center_code: center.into(),
        procedure_code: procedure.into(),
        day: day.into(),
        measures: Some(m),
        computed_at: None,
    }
}

/// Cells of both centers and the three procedures over `days` days from 2 February 2026.
fn many_cells(days: u32, seed: i64) -> Vec<DailyCell> {
    let mut out = Vec::new();
    for d in 0..days {
        let day = (chrono::NaiveDate::from_ymd_opt(2026, 2, 2).unwrap() + chrono::Duration::days(d.into())).to_string();
        for center in [COMMUNE_CENTER, PROVINCIAL_CENTER] {
            for procedure in [FULL_PROCEDURE, PARTIAL_PROCEDURE, OFFLINE_PROCEDURE] {
                out.push(cell(center, procedure, &day, measures(seed + i64::from(d % 7), 2, 0)));
            }
        }
    }
    out
}

fn push(cells: Vec<DailyCell>) -> PushCellsRequest {
    PushCellsRequest { sender: "egov-46".into(), cells, ..Default::default() }
}

async fn stored(intake: &mut Intake, from: &str, to: &str) -> Vec<DailyCell> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = intake
            .list_cells(ListCellsRequest {
                center_codes: vec![COMMUNE_CENTER.into(), PROVINCIAL_CENTER.into()],
                from_day: from.into(),
                to_day: to.into(),
                page_size: 1000,
                page_token,
                procedure_codes: vec![],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(page.cells);
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

fn fields(result: &CellResult) -> Vec<&str> {
    result.problems.iter().map(|p| p.field.as_str()).collect()
}

#[tokio::test]
async fn each_cell_gets_its_own_answer() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut intake = intake(&system).await;
    let mut catalogue = system.stack.catalogue_client();
    // From June the commune center receives only the fully online procedure.
    catalogue
        .set_center_procedures(SetCenterProceduresRequest {
            center_code: COMMUNE_CENTER.into(),
            effective_from: "2026-06-01".into(),
            procedure_codes: vec![FULL_PROCEDURE.into()],
            source: "QĐ 200".into(),
        })
        .await
        .unwrap();

    // Intake follows the catalogue's changes a moment behind: wait until its copy knows the June list.
    for attempt in 0.. {
        let probe = cell(COMMUNE_CENTER, PARTIAL_PROCEDURE, "2026-06-04", measures(1, 0, 1));
        let answer = intake.push_cells(push(vec![probe])).await.unwrap().into_inner();
        if answer.rejected == 1 {
            break;
        }
        assert!(attempt < 100, "intake never learned the June list");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let good = cell(COMMUNE_CENTER, FULL_PROCEDURE, "2026-06-02", measures(5, 2, 3));
    let cells = vec![
        good.clone(),
        cell("NO-SUCH-CENTER", FULL_PROCEDURE, "2026-06-02", measures(1, 0, 1)),
        cell(COMMUNE_CENTER, FULL_PROCEDURE, "2025-12-31", measures(1, 0, 1)),
        cell(COMMUNE_CENTER, PARTIAL_PROCEDURE, "2026-06-02", measures(1, 0, 1)),
        cell(COMMUNE_CENTER, OFFLINE_PROCEDURE, "2026-05-02", measures(-1, 0, 1)),
        cell(COMMUNE_CENTER, OFFLINE_PROCEDURE, "2999-01-01", measures(1, 0, 1)),
        good.clone(),
    ];
    let answer = intake.push_cells(push(cells.clone())).await.unwrap().into_inner();
    let outcomes: Vec<i32> = answer.results.iter().map(|r| r.outcome).collect();
    let accepted = CellOutcome::Accepted as i32;
    let rejected = CellOutcome::Rejected as i32;
    assert_eq!(outcomes, [accepted, rejected, rejected, rejected, rejected, rejected, rejected]);
    assert_eq!(fields(&answer.results[1]), ["cells[1].center_code"]);
    assert_eq!(fields(&answer.results[2]), ["cells[2].procedure_code"], "not yet in the catalogue");
    assert!(answer.results[3].problems[0].reason.contains("does not receive"), "{:?}", answer.results[3]);
    assert_eq!(fields(&answer.results[4]), ["cells[4].measures.received_direct"]);
    assert_eq!(fields(&answer.results[5]), ["cells[5].day"]);
    assert!(answer.results[6].problems[0].reason.contains("cells[0]"), "a duplicate names the first");
    assert_eq!((answer.accepted, answer.rejected), (1, 6));

    // All or nothing: the same batch stores nothing more and answers INVALID_ARGUMENT naming every bad cell.
    let mut strict = push(cells[1..].to_vec());
    strict.cells.insert(0, cell(COMMUNE_CENTER, FULL_PROCEDURE, "2026-06-03", measures(1, 0, 4)));
    strict.all_or_nothing = true;
    let error = intake.push_cells(strict).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    let message = error.message();
    assert!(message.contains("cells[1].center_code") && message.contains("cells[4].measures.received_direct"));
    assert_eq!(stored(&mut intake, "2026-06-03", "2026-06-03").await.len(), 0);

    // A re-send is a no-op.
    let again = intake.push_cells(push(vec![good])).await.unwrap().into_inner();
    assert_eq!(again.unchanged, 1);
    system.stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_answer() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut intake = intake(&system).await;
    let mut request = push(many_cells(3, 1));
    request.idempotency_key = "batch-2026-02-02".into();
    let first = intake.push_cells(request.clone()).await.unwrap().into_inner();
    assert_eq!((first.accepted, first.replayed), (18, false));
    let replay = intake.push_cells(request.clone()).await.unwrap().into_inner();
    assert!(replay.replayed);
    assert_eq!(replay.results, first.results, "the first answer, not 'unchanged'");

    request.cells[0].measures.as_mut().unwrap().received_online = 99;
    let error = intake.push_cells(request).await.unwrap_err();
    assert_eq!(error.code(), Code::AlreadyExists);
    assert!(error.message().contains("idempotency_key"), "{}", error.message());
    let history = intake
        .get_cell_history(GetCellHistoryRequest {
            center_code: COMMUNE_CENTER.into(),
            procedure_code: FULL_PROCEDURE.into(),
            day: "2026-02-02".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(history.versions.len(), 1, "nothing stored twice, nothing changed by the refused push");
    system.stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn corrections_are_audited_and_breaks_of_the_stock_identity_are_warnings() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut intake = intake(&system).await;
    let day1 = cell(COMMUNE_CENTER, FULL_PROCEDURE, "2026-03-02", measures(10, 0, 10));
    // 10 pending + 5 received − 3 resolved = 12, not 15.
    let day2 = cell(COMMUNE_CENTER, FULL_PROCEDURE, "2026-03-03", measures(5, 3, 15));
    let answer = intake.push_cells(push(vec![day1, day2.clone()])).await.unwrap().into_inner();
    assert!(answer.results[0].warnings.is_empty());
    assert_eq!(answer.results[1].outcome, CellOutcome::Accepted as i32, "a warning, not a rejection");
    assert_eq!(answer.results[1].warnings[0].field, "cells[1].measures");

    // The correction, pushed alone, is checked against the stored day before.
    let corrected = cell(COMMUNE_CENTER, FULL_PROCEDURE, "2026-03-03", measures(5, 3, 12));
    let mut request = push(vec![corrected]);
    request.sender = "egov-46-fix".into();
    let answer = intake.push_cells(request).await.unwrap().into_inner();
    assert!(answer.results[0].warnings.is_empty());
    let history = intake
        .get_cell_history(GetCellHistoryRequest {
            center_code: COMMUNE_CENTER.into(),
            procedure_code: FULL_PROCEDURE.into(),
            day: "2026-03-03".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(history.versions.len(), 2);
    assert_eq!(history.versions[1].old_measures.as_ref().unwrap().pending_in_time, 15);
    assert_eq!(history.versions[1].new_measures.as_ref().unwrap().pending_in_time, 12);
    assert_eq!(history.versions[1].sender, "egov-46-fix");

    let completeness = intake
        .get_reporting_completeness(GetReportingCompletenessRequest {
            center_codes: vec![COMMUNE_CENTER.into(), PROVINCIAL_CENTER.into()],
            from_day: "2026-03-01".into(),
            to_day: "2026-03-31".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let days: Vec<(&str, u32)> = completeness.reports.iter().map(|r| (r.day.as_str(), r.cells)).collect();
    assert_eq!(days, [("2026-03-02", 1), ("2026-03-03", 1)]);
    let report = &completeness.reports[1];
    assert!(report.last_changed_at.unwrap().seconds >= report.first_pushed_at.unwrap().seconds);
    system.stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_cut_bulk_stream_keeps_exactly_the_acknowledged_batches() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let link = CuttableLink::to(system.stack.addresses.intake).await.unwrap();
    let mut through_link =
        onestop_server::client::intake(&format!("http://{}", link.addr()), None, system.stack.operator()).unwrap();
    let all = many_cells(20, 3); // 120 cells: four batches of 30
    let batches: Vec<PushCellsRequest> = all.chunks(30).map(|c| push(c.to_vec())).collect();

    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let outgoing = tokio_stream::wrappers::ReceiverStream::new(receiver);
    let mut answers = through_link.push_cells_stream(outgoing).await.unwrap().into_inner();
    for batch in &batches[..2] {
        sender.send(PushCellsStreamRequest { batch: Some(batch.clone()) }).await.unwrap();
        let ack = answers.next().await.unwrap().unwrap();
        assert_eq!(ack.batch.unwrap().accepted, 30);
    }
    // The third batch is cut half-way through its bytes.
    let third = PushCellsStreamRequest { batch: Some(batches[2].clone()) };
    link.cut_after_request_bytes(third.encoded_len() as u64 / 2);
    sender.send(third).await.unwrap();
    let after_cut = tokio::time::timeout(Duration::from_secs(10), answers.next()).await.expect("the stream ends");
    assert!(!matches!(after_cut, Some(Ok(_))), "no acknowledgement after the cut");

    let mut direct = intake(&system).await;
    let kept = stored(&mut direct, "2026-01-01", "2026-12-31").await;
    let expected: Vec<(String, String, String)> = batches[..2]
        .iter()
        .flat_map(|b| b.cells.iter().map(|c| (c.center_code.clone(), c.day.clone(), c.procedure_code.clone())))
        .collect();
    let mut kept_keys: Vec<_> =
        kept.iter().map(|c| (c.center_code.clone(), c.day.clone(), c.procedure_code.clone())).collect();
    let mut expected_sorted = expected.clone();
    kept_keys.sort();
    expected_sorted.sort();
    assert_eq!(kept_keys, expected_sorted, "the acknowledged batches and nothing else");

    // Resuming after the last acknowledgement stores the rest.
    let rest: Vec<PushCellsStreamRequest> =
        batches[2..].iter().map(|b| PushCellsStreamRequest { batch: Some(b.clone()) }).collect();
    let mut answers = direct.push_cells_stream(tokio_stream::iter(rest)).await.unwrap().into_inner();
    let mut accepted = 0;
    while let Some(ack) = answers.next().await {
        accepted += ack.unwrap().batch.unwrap().accepted;
    }
    assert_eq!(accepted, 60);
    assert_eq!(stored(&mut direct, "2026-01-01", "2026-12-31").await.len(), 120);
    system.stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_retry_after_a_lost_answer_counts_nothing_twice() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let link = CuttableLink::to(system.stack.addresses.intake).await.unwrap();
    let mut through_link =
        onestop_server::client::intake(&format!("http://{}", link.addr()), None, system.stack.operator()).unwrap();
    let mut request = push(many_cells(5, 2));
    request.idempotency_key = "lost-answer".into();

    // The push arrives and is stored, but its answer is lost on the way back.
    link.drop_responses(true);
    let mut call = tonic::Request::new(request.clone());
    call.set_timeout(Duration::from_secs(2));
    let lost = through_link.push_cells(call).await.unwrap_err();
    assert!(matches!(lost.code(), Code::DeadlineExceeded | Code::Cancelled | Code::Unavailable), "{lost:?}");
    link.cut();

    // The sender retries on a new connection: the first answer comes back, and nothing is counted twice.
    let mut direct = intake(&system).await;
    let retry = direct.push_cells(request.clone()).await.unwrap().into_inner();
    assert!(retry.replayed);
    assert_eq!(retry.accepted, 30);
    // A retry without a key is just as safe: the cells are snapshots.
    request.idempotency_key.clear();
    let plain = direct.push_cells(request).await.unwrap().into_inner();
    assert_eq!(plain.unchanged, 30);
    let history = direct
        .get_cell_history(GetCellHistoryRequest {
            center_code: PROVINCIAL_CENTER.into(),
            procedure_code: OFFLINE_PROCEDURE.into(),
            day: "2026-02-04".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(history.versions.len(), 1);
    system.stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn two_senders_pushing_the_same_cells_at_once() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let cells = many_cells(40, 5); // 240 cells
    let mut reversed = cells.clone();
    reversed.reverse();
    let (mut a, mut b) = (intake(&system).await, intake(&system).await);
    let (first, second) = tokio::join!(a.push_cells(push(cells.clone())), b.push_cells(push(reversed)));
    let (first, second) = (first.unwrap().into_inner(), second.unwrap().into_inner());
    assert_eq!(first.accepted + second.accepted, 240, "each cell stored by exactly one of them");
    assert_eq!(first.unchanged + second.unchanged, 240);
    let kept = stored(&mut a, "2026-01-01", "2026-12-31").await;
    assert_eq!(kept.len(), 240);
    system.stack.shutdown().await.unwrap();
}

fn case(code: &str, status: CaseStatus, resolved_at: Option<i64>) -> CaseRecord {
    // Received 2 March 2026, 09:00 in Vietnam (02:00 UTC), due 5 March.
    let received = 1_772_416_800;
    CaseRecord {
        case_code: code.into(),
        procedure_code: FULL_PROCEDURE.into(),
        receiving_center_code: COMMUNE_CENTER.into(),
        resolving_agency_code: "UBND-19753".into(),
        filing_channel: Channel::Online as i32,
        return_channel: Channel::Postal as i32,
        received_at: Some(prost_types::Timestamp { seconds: received, nanos: 0 }),
        due_date: "2026-03-05".into(),
        resolved_at: resolved_at.map(|days| prost_types::Timestamp { seconds: received + days * 86_400, nanos: 0 }),
        status: status as i32,
        ..Default::default()
    }
}

fn notice(issued_on: &str) -> ApologyNotice {
    ApologyNotice {
        notice_number: "01/PXL".into(),
        issuing_agency_code: "UBND-19753".into(),
        issued_on: issued_on.into(),
        reason: "Cần xác minh thêm".into(),
        reason_category: DelayReasonCategory::InteragencyCoordination as i32,
        original_due_date: "2026-03-05".into(),
        new_due_date: "2026-03-10".into(),
        delivery: NoticeDelivery::Electronic as i32,
    }
}

#[tokio::test]
async fn case_records_are_upserted_with_their_findings() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut intake = intake(&system).await;
    let mut late_with_timely_notice = case("HS-1", CaseStatus::Resolved, Some(5));
    late_with_timely_notice.apology_notices.push(notice("2026-03-04"));
    late_with_timely_notice.due_date_changes.push(DueDateChange {
        previous_due_date: "2026-03-05".into(),
        new_due_date: "2026-03-10".into(),
        reason: "Phiếu xin lỗi".into(),
        changed_on: "2026-03-04".into(),
    });
    let mut late_notice = case("HS-2", CaseStatus::Resolved, Some(5));
    late_notice.apology_notices.push(notice("2026-03-05"));
    let late_without_notice = case("HS-3", CaseStatus::Resolved, Some(4));
    let early = case("HS-4", CaseStatus::Resolved, Some(1));
    let mut unknown_agency = case("HS-5", CaseStatus::InProgress, None);
    unknown_agency.resolving_agency_code = "NOWHERE".into();
    let mut malformed = case("HS-6", CaseStatus::InProgress, Some(1));
    malformed.due_date = "2026-02-01".into();

    let request = PushCasesRequest {
        sender: "egov-46".into(),
        cases: vec![
            late_with_timely_notice.clone(),
            late_notice,
            late_without_notice,
            early,
            unknown_agency,
            malformed,
        ],
        all_or_nothing: false,
    };
    let answer = intake.push_cases(request.clone()).await.unwrap().into_inner();
    assert_eq!((answer.created, answer.rejected), (4, 2));
    let findings = |i: usize| answer.results[i].findings.clone().unwrap();
    assert_eq!(findings(0).outcome, CaseOutcome::Late as i32);
    assert!(!findings(0).notice_after_deadline && !findings(0).late_without_notice && !findings(0).missed_new_due_date);
    assert!(findings(1).notice_after_deadline, "issued on the due date itself");
    assert!(findings(2).late_without_notice);
    assert_eq!(findings(3).outcome, CaseOutcome::Early as i32);
    assert_eq!(answer.results[4].problems[0].field, "cases[4].resolving_agency_code");
    let malformed_fields: Vec<&str> = answer.results[5].problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(malformed_fields, ["cases[5].due_date", "cases[5].resolved_at"]);

    let again = intake.push_cases(PushCasesRequest { cases: request.cases[..4].to_vec(), ..request.clone() }).await;
    assert_eq!(again.unwrap().into_inner().unchanged, 4, "the same content is a no-op");
    let mut rescheduled_twice = late_with_timely_notice;
    rescheduled_twice.due_date_changes.push(DueDateChange {
        previous_due_date: "2026-03-10".into(),
        new_due_date: "2026-03-12".into(),
        reason: "Lần hai".into(),
        changed_on: "2026-03-09".into(),
    });
    let update = intake
        .push_cases(PushCasesRequest { cases: vec![rescheduled_twice], ..request.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(update.updated, 1);
    assert!(update.results[0].findings.as_ref().unwrap().rescheduled_more_than_once);

    let listed = intake
        .list_cases(ListCasesRequest {
            center_codes: vec![COMMUNE_CENTER.into()],
            received_from: "2026-03-01".into(),
            received_to: "2026-03-31".into(),
            page_size: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.cases.len(), 3);
    assert!(!listed.next_page_token.is_empty());
    assert!(listed.cases[0].findings.as_ref().unwrap().rescheduled_more_than_once);
    system.stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_change_stream_lets_a_consumer_apply_each_change_exactly_once() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut intake = intake(&system).await;
    let first = many_cells(10, 1);
    intake.push_cells(push(first.clone())).await.unwrap();
    let mut corrected = many_cells(4, 9); // corrects the first four days
    corrected.extend(many_cells(12, 1).split_off(60)); // and adds days 11-12
    intake.push_cells(push(corrected)).await.unwrap();
    intake
        .push_cases(PushCasesRequest {
            sender: "s".into(),
            cases: vec![case("HS-9", CaseStatus::InProgress, None)],
            all_or_nothing: false,
        })
        .await
        .unwrap();

    // A consumer reads part of the stream, remembers its cursor, and resumes from it on a new stream.
    let mut totals: HashMap<(String, String, String), i64> = HashMap::new();
    let apply = |change: &WatchChangesResponse, totals: &mut HashMap<(String, String, String), i64>| {
        if let Some(watch_changes_response::Change::Cell(cell)) = &change.change {
            let old = cell.old_measures.as_ref().map_or(0, |m| m.received_direct);
            let delta = cell.new_measures.as_ref().unwrap().received_direct - old;
            *totals.entry((cell.center_code.clone(), cell.day.clone(), cell.procedure_code.clone())).or_default() +=
                delta;
        }
    };
    let expected_changes = 60 + 24 + 12 + 1;
    let mut cursor = String::new();
    let mut seen = 0;
    for take in [40, expected_changes - 40] {
        let mut stream =
            intake.watch_changes(WatchChangesRequest { after_cursor: cursor.clone() }).await.unwrap().into_inner();
        for _ in 0..take {
            let change = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
            apply(&change, &mut totals);
            cursor = change.cursor.clone();
            seen += 1;
        }
    }
    assert_eq!(seen, expected_changes);
    let stored_cells = stored(&mut intake, "2026-01-01", "2026-12-31").await;
    assert_eq!(totals.len(), stored_cells.len());
    for c in stored_cells {
        let key = (c.center_code.clone(), c.day.clone(), c.procedure_code.clone());
        assert_eq!(totals[&key], c.measures.unwrap().received_direct, "{key:?}");
    }
    // Nothing more is pending.
    let mut stream = intake.watch_changes(WatchChangesRequest { after_cursor: cursor }).await.unwrap().into_inner();
    assert!(tokio::time::timeout(Duration::from_millis(700), stream.next()).await.is_err());
    let bad = intake.watch_changes(WatchChangesRequest { after_cursor: "x".into() }).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    system.stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_old_year_of_cells_is_detached_and_archived_while_pushes_go_on() {
    use sqlx::Connection;
    let Some(system) = TestSystem::start_with_province().await else { return };
    // A procedure in force in 2025 too, so that year has cells.
    let old_procedure = "1.999001";
    let decision = onestop_proto::catalogue::v1::PublicationDecision {
        number: "1/QĐ-UBND".into(),
        signed_on: "2024-12-20".into(),
        effective_from: "2025-01-01".into(),
        items: vec![onestop_proto::catalogue::v1::DecisionItem {
            action: onestop_proto::catalogue::v1::DecisionAction::New as i32,
            procedure: Some(procedure(
                old_procedure,
                "Thủ tục đã có từ 2025",
                onestop_proto::catalogue::v1::OnlineLevel::Full,
            )),
            ..Default::default()
        }],
        ..decision()
    };
    let mut catalogue = system.stack.catalogue_client();
    let request = onestop_proto::catalogue::v1::PublishDecisionRequest { decision: Some(decision) };
    catalogue.publish_decision(request).await.unwrap();
    // A center receiving it since 2025.
    let center = "BPMC-ARCHIVE";
    let centers = vec![onestop_proto::catalogue::v1::Center {
        code: center.into(),
        name: "Bộ phận Một cửa lưu trữ".into(),
        unit_code: COMMUNE.into(),
        kind: onestop_proto::catalogue::v1::CenterKind::Local as i32,
        parent_center_code: String::new(),
    }];
    catalogue.upsert_centers(onestop_proto::catalogue::v1::UpsertCentersRequest { centers }).await.unwrap();
    let list = SetCenterProceduresRequest {
        center_code: center.into(),
        effective_from: "2025-01-01".into(),
        procedure_codes: vec![old_procedure.into()],
        ..center_procedures(center)
    };
    catalogue.set_center_procedures(list).await.unwrap();
    let mut intake = system.stack.intake_client();
    let mut push = async |cells: Vec<DailyCell>| {
        let request = PushCellsRequest { sender: "s".into(), cells, ..Default::default() };
        let pushed = intake.push_cells(request).await.unwrap().into_inner();
        assert_eq!(pushed.rejected, 0, "{:?}", pushed.results.iter().find(|r| !r.problems.is_empty()));
        (pushed.cursor, pushed.accepted as usize)
    };
    let old_year = model::random_cells(1, &[center], &[old_procedure], "2025-12-01", 10);
    let this_year = model::random_cells(2, &[center], &[old_procedure], "2026-01-05", 10);
    push(old_year.clone()).await;
    push(this_year.clone()).await;

    // Each year's cells and changes are in the year's partitions.
    let mut db = sqlx::PgConnection::connect(system.database.url()).await.unwrap();
    let count = async |db: &mut sqlx::PgConnection, table: &str| -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(db).await.unwrap()
    };
    assert_eq!(count(&mut db, "intake.daily_cell_y2025").await, old_year.len() as i64);
    assert_eq!(count(&mut db, "intake.daily_cell_y2026").await, this_year.len() as i64);
    assert_eq!(count(&mut db, "intake.daily_cell_change_y2025").await, old_year.len() as i64);
    let url = system.database.url().to_owned();
    let expected = this_year.len() as i64;
    eventually(|| {
        let url = url.clone();
        async move {
            let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
            let copied: i64 = sqlx::query_scalar("SELECT count(*) FROM aggregation.procedure_cell_y2026")
                .fetch_one(&mut db)
                .await
                .unwrap();
            (copied == expected).then_some(())
        }
    })
    .await;

    // docs/operations.md: detach the year concurrently, keep it aside (here, as it stands), pushes go on.
    for statement in [
        "ALTER TABLE intake.daily_cell_change DETACH PARTITION intake.daily_cell_change_y2025 CONCURRENTLY",
        "ALTER TABLE intake.daily_cell DETACH PARTITION intake.daily_cell_y2025 CONCURRENTLY",
    ] {
        sqlx::raw_sql(statement).execute(&mut db).await.unwrap();
    }
    assert_eq!(count(&mut db, "intake.daily_cell").await, this_year.len() as i64);
    assert_eq!(count(&mut db, "intake.daily_cell_y2025").await, old_year.len() as i64, "archived whole");
    // A push for the archived year is refused, naming the cell and why; nothing of it is stored.
    let mixed: Vec<DailyCell> = [this_year[0].clone(), old_year[0].clone()]
        .into_iter()
        .map(|cell| DailyCell { measures: Some(Measures { received_direct: 77, ..cell.measures.unwrap() }), ..cell })
        .collect();
    let refused = (system.stack.intake_client())
        .push_cells(PushCellsRequest { sender: "s".into(), cells: mixed, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("cells[1].day") && refused.message().contains("archived"), "{refused:?}");
    assert!(!refused.message().contains("cells[0]"), "{refused:?}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM intake.daily_cell WHERE received_direct = 77")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(stored, 0, "the push is stored whole or not at all");
    let corrected: Vec<DailyCell> = model::random_cells(3, &[center], &[old_procedure], "2026-01-05", 10);
    let (cursor, corrections) = push(corrected).await;
    assert!(corrections > 0);
    let mut changes =
        intake.watch_changes(WatchChangesRequest { after_cursor: String::new() }).await.unwrap().into_inner();
    let mut seen = 0;
    while let Some(batch) = changes.next().await {
        let change = batch.unwrap();
        seen += 1;
        assert!(change.change.is_some(), "change {} came with its value", change.cursor);
        if change.cursor == cursor {
            break;
        }
    }
    assert_eq!(seen, this_year.len() + corrections, "the stream holds this year's changes and their corrections only");
    system.stack.shutdown().await.unwrap();
}
