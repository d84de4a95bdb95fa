//! The agency view: catalogue and case indicators asked for, and broken down by, the agency that implements a
//! procedure or resolves a case; a center's catalogue counts follow its own list; the catalogue counts by center
//! and by agency.

use onestop_proto::aggregation::v1::*;
use onestop_proto::catalogue::v1::{
    CountProceduresRequest, DecisionAction, DecisionItem, ImplementingLevel, OnlineLevel, PublicationDecision,
    PublishDecisionRequest, SetCenterProceduresRequest,
};
use onestop_proto::intake::v1::{CaseRecord, CaseStatus, Channel, PushCasesRequest};
use onestop_system_tests::*;

const DEPARTMENT: &str = "STP-46";
const COMMITTEE: &str = "UBND-19753";

fn implemented_by(code: String, agency: &str, level: ImplementingLevel, online: OnlineLevel) -> DecisionItem {
    let mut p = procedure(&code, &format!("Thủ tục {code}"), online);
    p.implementing_levels = vec![level as i32];
    p.implementing_agency_code = agency.into();
    DecisionItem { action: DecisionAction::New as i32, procedure: Some(p), replaces_code: String::new() }
}

fn result<'a>(results: &'a [IndicatorResult], id: &str) -> &'a IndicatorResult {
    results.iter().find(|r| r.indicator_id == id).unwrap_or_else(|| panic!("no {id}"))
}

#[tokio::test]
async fn an_agency_answers_for_the_procedures_it_implements_and_the_cases_it_resolves() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut catalogue = system.stack.catalogue_client();
    // A provincial department implementing 89 procedures, 10 of them online; the commune's committee 5, 2 online.
    let mut items: Vec<DecisionItem> = (0..89)
        .map(|i| {
            let online = if i < 10 { OnlineLevel::Partial } else { OnlineLevel::None };
            implemented_by(format!("3.{i:06}"), DEPARTMENT, ImplementingLevel::Province, online)
        })
        .collect();
    items.extend((0..5).map(|i| {
        let online = if i < 2 { OnlineLevel::Full } else { OnlineLevel::None };
        implemented_by(format!("4.{i:06}"), COMMITTEE, ImplementingLevel::Commune, online)
    }));
    let published = catalogue
        .publish_decision(PublishDecisionRequest {
            decision: Some(PublicationDecision {
                number: "89/QĐ-UBND".into(),
                signed_on: "2025-12-01".into(),
                issuer: "Chủ tịch UBND tỉnh".into(),
                effective_from: "2026-01-01".into(),
                items,
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    // The commune's center receives the committee's five procedures and three of the department's online ones.
    let mut list: Vec<String> = (0..5).map(|i| format!("4.{i:06}")).collect();
    list.extend((0..3).map(|i| format!("3.{i:06}")));
    let listed = catalogue
        .set_center_procedures(SetCenterProceduresRequest {
            center_code: COMMUNE_CENTER.into(),
            effective_from: "2026-06-01".into(),
            procedure_codes: list,
            source: "126/QĐ-UBND".into(),
        })
        .await
        .unwrap()
        .into_inner();

    // Cases: the department resolves two late, one with a notice; the committee one late, without.
    let case = |code: &str, agency: &str| CaseRecord {
        case_code: code.into(),
        procedure_code: FULL_PROCEDURE.into(),
        receiving_center_code: COMMUNE_CENTER.into(),
        resolving_agency_code: agency.into(),
        filing_channel: Channel::Online as i32,
        received_at: Some(prost_types::Timestamp { seconds: 1_781_049_600, nanos: 0 }), // 10 June 2026
        due_date: "2026-06-15".into(),
        resolved_at: Some(prost_types::Timestamp { seconds: 1_781_740_800, nanos: 0 }), // 18 June 2026
        status: CaseStatus::Resolved as i32,
        ..Default::default()
    };
    let mut noticed = case("HS-STP-1", DEPARTMENT);
    noticed.apology_notices.push(onestop_proto::intake::v1::ApologyNotice {
        notice_number: "1/TB".into(),
        issuing_agency_code: DEPARTMENT.into(),
        issued_on: "2026-06-11".into(),
        reason: "Chậm do phối hợp".into(),
        reason_category: onestop_proto::intake::v1::DelayReasonCategory::InteragencyCoordination as i32,
        original_due_date: "2026-06-15".into(),
        new_due_date: "2026-06-22".into(),
        delivery: onestop_proto::intake::v1::NoticeDelivery::Electronic as i32,
    });
    let cases = vec![noticed, case("HS-STP-2", DEPARTMENT), case("HS-UB-1", COMMITTEE)];
    let pushed = system
        .stack
        .intake_client()
        .push_cases(PushCasesRequest { sender: "egov-46".into(), cases, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pushed.created, 3, "{:?}", pushed.results);

    let mut aggregation = system.stack.aggregation_client();
    let june = Some(DayRange { from_day: "2026-06-01".into(), to_day: "2026-06-30".into() });
    let ask = |request: GetIndicatorsRequest| GetIndicatorsRequest {
        period: june.clone(),
        min_intake_cursor: pushed.cursor.clone(),
        min_catalogue_cursor: listed.cursor.max(published.cursor),
        ..request
    };

    // The department, asked for by its code: 10 of its 89 procedures online, 11.24 %.
    let department = aggregation
        .get_indicators(ask(GetIndicatorsRequest { agency_code: DEPARTMENT.into(), ..Default::default() }))
        .await
        .unwrap()
        .into_inner();
    let online = result(&department.indicators, "procedures_offered_online");
    assert_eq!((online.numerator, online.denominator), (10, 89));
    assert_eq!(format!("{:.2}", online.value.unwrap() * 100.0), "11.24");
    let apology = result(&department.indicators, "apology_coverage");
    assert_eq!((apology.numerator, apology.denominator), (1, 2), "the cases the department resolves");

    // The province by agency: each agency's own procedures and cases.
    let by_agency = aggregation
        .get_indicators(ask(GetIndicatorsRequest {
            unit_code: PROVINCE.into(),
            breakdown: Breakdown::Agency as i32,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let group = |key: &str| by_agency.groups.iter().find(|g| g.key == key).unwrap_or_else(|| panic!("no {key}"));
    let pair = |key: &str, id: &str| {
        let r = result(&group(key).indicators, id);
        (r.numerator, r.denominator)
    };
    assert_eq!(pair(DEPARTMENT, "procedures_offered_online"), (10, 89));
    assert_eq!(pair(COMMITTEE, "procedures_offered_online"), (2, 5));
    assert_eq!(pair(DEPARTMENT, "apology_coverage"), (1, 2));
    assert_eq!(pair(COMMITTEE, "apology_coverage"), (0, 1));
    assert!(!group(DEPARTMENT).name.is_empty(), "agencies carry their names");

    // A center counts the procedures on its list: 8, of which 5 online (2 of the committee's, 3 of the
    // department's), whatever their level.
    let center = aggregation
        .get_indicators(ask(GetIndicatorsRequest { center_code: COMMUNE_CENTER.into(), ..Default::default() }))
        .await
        .unwrap()
        .into_inner();
    let online = result(&center.indicators, "procedures_offered_online");
    assert_eq!((online.numerator, online.denominator), (5, 8));

    // The catalogue counts by center and by agency.
    let count = |request: CountProceduresRequest| {
        let mut catalogue = catalogue.clone();
        async move {
            let counts = catalogue.count_procedures(request).await.unwrap().into_inner().counts;
            let all: u32 = counts.iter().map(|c| c.procedures).sum();
            let online: u32 =
                counts.iter().filter(|c| c.online_level != OnlineLevel::None as i32).map(|c| c.procedures).sum();
            (online, all)
        }
    };
    let as_of = "2026-06-15".to_string();
    let by_department = CountProceduresRequest {
        as_of: as_of.clone(),
        implementing_agency_code: DEPARTMENT.into(),
        ..Default::default()
    };
    assert_eq!(count(by_department).await, (10, 89));
    let by_center = CountProceduresRequest { as_of, center_code: COMMUNE_CENTER.into(), ..Default::default() };
    assert_eq!(count(by_center).await, (5, 8));
}
