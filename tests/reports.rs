//! Aggregation's answers to the provincial office, over real services: breakdowns by sector, procedure and
//! level; catalogue, full-online and case-record indicators; variants, targets and scores; form 06 as an answer
//! and as files; a merged commune's history; and indicators against a brute-force model for random data.

use onestop_proto::aggregation::v1::*;
use onestop_proto::catalogue::v1::{
    AdministrativeUnit, Center, CenterKind, DecisionAction, DecisionItem, ImplementingLevel, OnlineLevel,
    PublicationDecision, PublishDecisionRequest, SetCenterProceduresRequest, UnitLevel, UpsertCentersRequest,
    UpsertUnitsRequest,
};
use onestop_proto::intake::v1::{DailyCell, Measures, PushCellsRequest};
use onestop_system_tests::model::{random_cells, totals, Totals};
use onestop_system_tests::*;

type Aggregation = onestop_server::client::AggregationClient;

/// A fourth procedure, in another sector, fully online, at both levels.
const NOTARY_PROCEDURE: &str = "2.000815";

async fn aggregation(system: &TestSystem) -> Aggregation {
    system.stack.aggregation_client()
}

async fn push(system: &TestSystem, cells: &[DailyCell]) {
    let mut intake = system.stack.intake_client();
    for chunk in cells.chunks(5000) {
        let request =
            PushCellsRequest { sender: "s".into(), cells: chunk.to_vec(), all_or_nothing: true, ..Default::default() };
        intake.push_cells(request).await.unwrap();
    }
}

fn pair(results: &[IndicatorResult], id: &str) -> (u64, u64) {
    let r = results.iter().find(|r| r.indicator_id == id).unwrap_or_else(|| panic!("no {id}"));
    (r.numerator, r.denominator)
}

fn range(from: &str, to: &str) -> Option<DayRange> {
    Some(DayRange { from_day: from.into(), to_day: to.into() })
}

/// Asks until the answer's whole online share and on-time rate equal `expected`'s, then returns it.
async fn settled(aggregation: &Aggregation, request: GetIndicatorsRequest, expected: Totals) -> GetIndicatorsResponse {
    eventually(|| {
        let (mut aggregation, request) = (aggregation.clone(), request.clone());
        async move {
            let answer = aggregation.get_indicators(request).await.unwrap().into_inner();
            let wanted = ["online_case_share", "on_time_rate_766"].map(|id| expected.indicator(id).unwrap());
            let got = ["online_case_share", "on_time_rate_766"].map(|id| pair(&answer.indicators, id));
            (got == wanted).then_some(answer)
        }
    })
    .await
}

/// The fixture province plus a fourth procedure in sector CHUNGTHUC that both centers receive.
async fn province_with_two_sectors() -> Option<TestSystem> {
    let system = TestSystem::start_with_province().await?;
    let mut catalogue = system.stack.catalogue_client();
    let mut notary = procedure(NOTARY_PROCEDURE, "Chứng thực chữ ký", OnlineLevel::Full);
    notary.sector_code = "CHUNGTHUC".into();
    notary.implementing_levels = vec![ImplementingLevel::Province as i32, ImplementingLevel::Commune as i32];
    let decision = PublicationDecision {
        number: "130/QĐ-UBND".into(),
        signed_on: "2025-12-22".into(),
        issuer: "Chủ tịch UBND tỉnh".into(),
        effective_from: "2026-01-01".into(),
        issuing_unit_code: String::new(),
        items: vec![DecisionItem { action: DecisionAction::New as i32, procedure: Some(notary), ..Default::default() }],
    };
    catalogue.publish_decision(PublishDecisionRequest { decision: Some(decision) }).await.unwrap();
    for center in [COMMUNE_CENTER, PROVINCIAL_CENTER] {
        let mut list = center_procedures(center);
        list.procedure_codes.push(NOTARY_PROCEDURE.into());
        catalogue.set_center_procedures(list).await.unwrap();
    }
    Some(system)
}

const PROCEDURES: [&str; 4] = [FULL_PROCEDURE, PARTIAL_PROCEDURE, OFFLINE_PROCEDURE, NOTARY_PROCEDURE];

#[tokio::test]
async fn breakdowns_catalogue_indicators_variants_and_scores() {
    let Some(system) = province_with_two_sectors().await else { return };
    let cells = random_cells(11, &[COMMUNE_CENTER, PROVINCIAL_CENTER], &PROCEDURES, "2026-03-01", 20);
    push(&system, &cells).await;
    let aggregation = aggregation(&system);
    let mut aggregation = aggregation.await;
    let (first, last) = ("2026-03-03", "2026-03-17");
    let all = totals(&cells, first, last, |_| true);
    let request = |breakdown: Breakdown| GetIndicatorsRequest {
        unit_code: PROVINCE.into(),
        period: range(first, last),
        breakdown: breakdown as i32,
        ..Default::default()
    };
    let answer = settled(&aggregation, request(Breakdown::Unspecified), all).await;
    let freshness = answer.freshness.unwrap();
    assert!(!freshness.intake_cursor.is_empty() && freshness.catalogue_cursor > 0, "{freshness:?}");

    // Every cell-measure indicator of the whole, with its definition version.
    for result in &answer.indicators {
        if let Some(expected) = all.indicator(&result.indicator_id) {
            assert_eq!((result.numerator, result.denominator), expected, "{}", result.indicator_id);
            assert!(result.definition_version >= 1);
        }
    }
    // Decision 766 indicator 2.1 is scored out of 20 points, without a target: P × R.
    let on_time_766 = answer.indicators.iter().find(|r| r.indicator_id == "on_time_rate_766").unwrap();
    assert_eq!(on_time_766.definition_version, 2);
    assert!((on_time_766.score.unwrap() - 20.0 * on_time_766.value.unwrap()).abs() < 1e-9);

    // Full-online cases: procedures FULL on the cell's day only.
    let full = totals(&cells, first, last, |c| [FULL_PROCEDURE, NOTARY_PROCEDURE].contains(&c.procedure_code.as_str()));
    assert_eq!(
        pair(&answer.indicators, "full_online_case_share"),
        (full.flows.received_online as u64, full.received() as u64)
    );

    // Catalogue counts at the province's level: only the notary procedure is implemented there, fully online.
    assert_eq!(pair(&answer.indicators, "procedures_offered_online"), (1, 1));
    assert_eq!(pair(&answer.indicators, "procedures_offered_fully_online"), (1, 1));
    let target = answer.indicators.iter().find(|r| r.indicator_id == "procedures_offered_fully_online").unwrap();
    assert_eq!(target.target, Some(0.3), "seed 004's target");
    let commune = aggregation
        .get_indicators(GetIndicatorsRequest {
            unit_code: COMMUNE.into(),
            period: range(first, last),
            indicator_ids: vec!["procedures_offered_online".into(), "procedures_with_online_cases".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pair(&commune.indicators, "procedures_offered_online"), (3, 4), "FULL, PARTIAL and the notary");
    let online_offered = [FULL_PROCEDURE, PARTIAL_PROCEDURE, NOTARY_PROCEDURE];
    let with_online_cases = online_offered
        .iter()
        .filter(|p| {
            totals(&cells, first, last, |c| c.center_code == COMMUNE_CENTER && c.procedure_code == **p)
                .flows
                .received_online
                > 0
        })
        .count() as u64;
    assert_eq!(pair(&commune.indicators, "procedures_with_online_cases"), (with_online_cases, 3));

    // By sector (as of each cell's day), by procedure, by level: each group equals the model of its cells.
    let by_sector = aggregation.get_indicators(request(Breakdown::Sector)).await.unwrap().into_inner();
    let keys: Vec<(&str, &str)> = by_sector.groups.iter().map(|g| (g.key.as_str(), g.name.as_str())).collect();
    assert_eq!(keys, [("CHUNGTHUC", "Chứng thực"), ("HOTICH", "Hộ tịch")]);
    let notary = totals(&cells, first, last, |c| c.procedure_code == NOTARY_PROCEDURE);
    let civil = totals(&cells, first, last, |c| c.procedure_code != NOTARY_PROCEDURE);
    for (group, model) in by_sector.groups.iter().zip([notary, civil]) {
        for id in ["online_case_share", "late_rate_gia_lai", "on_time_rate_766"] {
            assert_eq!(pair(&group.indicators, id), model.indicator(id).unwrap(), "{} {id}", group.key);
        }
    }
    let by_procedure = aggregation.get_indicators(request(Breakdown::Procedure)).await.unwrap().into_inner();
    let mut codes = PROCEDURES.to_vec();
    codes.sort();
    assert_eq!(by_procedure.groups.iter().map(|g| g.key.as_str()).collect::<Vec<_>>(), codes);
    for group in &by_procedure.groups {
        let model = totals(&cells, first, last, |c| c.procedure_code == group.key);
        assert_eq!(pair(&group.indicators, "late_rate_gia_lai"), model.indicator("late_rate_gia_lai").unwrap());
    }
    let by_level = aggregation.get_indicators(request(Breakdown::Level)).await.unwrap().into_inner();
    assert_eq!(by_level.groups.iter().map(|g| g.key.as_str()).collect::<Vec<_>>(), ["PROVINCE", "COMMUNE"]);
    let provincial = totals(&cells, first, last, |c| c.center_code == PROVINCIAL_CENTER);
    assert_eq!(
        pair(&by_level.groups[0].indicators, "online_case_share"),
        provincial.indicator("online_case_share").unwrap()
    );

    // A province's own variant, defined over gRPC, answers at once with its version, target and score.
    let variant = IndicatorDefinition {
        id: "online_or_postal_share".into(),
        numerator: "received_online + received_postal".into(),
        denominator: "received_direct + received_online + received_postal".into(),
        description: "Cases not filed in person".into(),
        target: Some(0.5),
        max_points: Some(10.0),
        ..Default::default()
    };
    let defined =
        aggregation.define_indicator(DefineIndicatorRequest { definition: Some(variant) }).await.unwrap().into_inner();
    assert!(defined.created);
    let answer = aggregation
        .get_indicators(GetIndicatorsRequest {
            indicator_ids: vec!["online_or_postal_share".into()],
            ..request(Breakdown::Unspecified)
        })
        .await
        .unwrap()
        .into_inner();
    let result = &answer.indicators[0];
    let expected = (all.flows.received_online + all.flows.received_postal) as u64;
    assert_eq!((result.numerator, result.denominator, result.definition_version), (expected, all.received() as u64, 1));
    let value = expected as f64 / all.received() as f64;
    assert!((result.score.unwrap() - 10.0 * (value / 0.5).min(1.0)).abs() < 1e-9);
    let refused = aggregation
        .define_indicator(DefineIndicatorRequest {
            definition: Some(IndicatorDefinition { id: "x".into(), numerator: "nothing".into(), ..Default::default() }),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("definition.numerator"), "{}", refused.message());

    // A decision that makes the offline procedure FULL from 10 March re-splits the days it covers.
    let mut catalogue = system.stack.catalogue_client();
    let decision = PublicationDecision {
        number: "140/QĐ-UBND".into(),
        signed_on: "2026-03-09".into(),
        issuer: "Chủ tịch UBND tỉnh".into(),
        effective_from: "2026-03-10".into(),
        issuing_unit_code: String::new(),
        items: vec![DecisionItem {
            action: DecisionAction::Amended as i32,
            procedure: Some(procedure(OFFLINE_PROCEDURE, "Chứng thực bản sao", OnlineLevel::Full)),
            ..Default::default()
        }],
    };
    catalogue.publish_decision(PublishDecisionRequest { decision: Some(decision) }).await.unwrap();
    let now_full = |c: &DailyCell| {
        [FULL_PROCEDURE, NOTARY_PROCEDURE].contains(&c.procedure_code.as_str())
            || (c.procedure_code == OFFLINE_PROCEDURE && c.day.as_str() >= "2026-03-10")
    };
    let full = totals(&cells, first, last, now_full);
    let wanted = (full.flows.received_online as u64, full.received() as u64);
    eventually(|| {
        let mut aggregation = aggregation.clone();
        let request = GetIndicatorsRequest {
            indicator_ids: vec!["full_online_case_share".into()],
            ..request(Breakdown::Unspecified)
        };
        async move {
            let answer = aggregation.get_indicators(request).await.unwrap().into_inner();
            (pair(&answer.indicators, "full_online_case_share") == wanted).then_some(())
        }
    })
    .await;
    system.stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn form06_as_an_answer_and_as_files() {
    let Some(system) = province_with_two_sectors().await else { return };
    let cells = random_cells(5, &[COMMUNE_CENTER, PROVINCIAL_CENTER], &PROCEDURES, "2026-02-25", 40);
    push(&system, &cells).await;
    let mut aggregation = aggregation(&system).await;
    // March under Decree 09: 15 February to 14 March.
    let march = ReportingPeriod {
        kind: PeriodKind::Month as i32,
        year: 2026,
        number: 3,
        cut_off: CutOffRule::Decree09 as i32,
        month_starts_on: 0,
    };
    let (first, last) = ("2026-02-15", "2026-03-14");
    let all = totals(&cells, first, last, |_| true);
    settled(
        &aggregation,
        GetIndicatorsRequest { unit_code: PROVINCE.into(), reporting_period: Some(march), ..Default::default() },
        all,
    )
    .await;
    let report = GetForm06Request { unit_code: PROVINCE.into(), reporting_period: Some(march), ..Default::default() };
    let form = aggregation.get_form06(report.clone()).await.unwrap().into_inner();
    assert_eq!(form.headings.len(), 13);
    assert_eq!(form.headings[3], "Số hồ sơ nhận giải quyết - Trong kỳ - Trực tuyến");
    assert_eq!(form.reporting_unit_name, "Tỉnh Quảng Trị");
    let levels: Vec<&str> = form.sections.iter().map(|s| s.level.as_str()).collect();
    assert_eq!(levels, ["PROVINCE", "COMMUNE"], "provincial rows first, then communes");
    for (section, center) in form.sections.iter().zip([PROVINCIAL_CENTER, COMMUNE_CENTER]) {
        let sectors: Vec<&str> = section.rows.iter().map(|r| r.sector_code.as_str()).collect();
        assert_eq!(sectors, ["CHUNGTHUC", "HOTICH"]);
        assert_eq!(section.rows.iter().map(|r| r.number).collect::<Vec<_>>(), [1, 2]);
        for row in &section.rows {
            let model = totals(&cells, first, last, |c| {
                c.center_code == center && (c.procedure_code == NOTARY_PROCEDURE) == (row.sector_code == "CHUNGTHUC")
            });
            assert_eq!(row.columns, model.form06_columns(), "{center} {}", row.sector_code);
            // The identities: the first three hold by construction; the balance only if the stock chains do.
            let balance = model.received() + model.carried_over
                == model.resolved()
                    + model.flows.pending_in_time
                    + model.flows.pending_overdue
                    + model.flows.withdrawn_or_returned;
            assert_eq!(row.broken_identities.is_empty(), balance, "{:?}", row.broken_identities);
        }
        let subtotal = section.subtotal.as_ref().unwrap();
        let sum: Vec<u64> = (0..11).map(|i| section.rows.iter().map(|r| r.columns[i]).sum()).collect();
        assert_eq!(subtotal.columns, sum);
    }
    let total = form.total.clone().unwrap();
    assert_eq!(total.columns, all.form06_columns());

    // The same report as files, streamed in chunks.
    let download = |format: FileFormat| {
        let (mut aggregation, report) = (aggregation.clone(), report.clone());
        async move {
            let request = ExportForm06Request { report: Some(report), format: format as i32 };
            let mut stream = aggregation.export_form06(request).await.unwrap().into_inner();
            let (mut name, mut bytes) = (String::new(), Vec::new());
            while let Some(piece) = stream.message().await.unwrap() {
                if name.is_empty() {
                    name = piece.file_name;
                }
                bytes.extend(piece.chunk);
            }
            (name, bytes)
        }
    };
    let (name, csv) = download(FileFormat::Csv).await;
    assert_eq!(name, "bieu-06-46-2026-02-15-2026-03-14.csv");
    let text = String::from_utf8(csv).unwrap();
    let text = text.strip_prefix('\u{feff}').expect("a byte-order mark for spreadsheet programs");
    assert!(text.contains("Kỳ báo cáo: từ ngày 15/02/2026 đến ngày 14/03/2026"));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[5].starts_with("STT,\"Lĩnh vực, công việc giải quyết theo cấp\","), "{}", lines[5]);
    let last_line: Vec<u64> = lines.last().unwrap().split(',').skip(2).map(|n| n.parse().unwrap()).collect();
    assert_eq!(last_line, total.columns);

    let (name, xlsx) = download(FileFormat::Xlsx).await;
    assert!(name.ends_with(".xlsx"));
    use calamine::{DataType, Reader};
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).unwrap();
    let sheet = workbook.worksheet_range("Biểu 06").unwrap();
    // The printed layout (merged head, styles, page setup, signatures) is tested in form06.rs.
    let total_row = (0..sheet.height() as u32)
        .find(|r| sheet.get_value((*r, 1)).is_some_and(|v| v.get_string() == Some("Tổng cộng")))
        .expect("a total row");
    let total_cells: Vec<u64> =
        (2..13).map(|c| sheet.get_value((total_row, c)).unwrap().as_f64().unwrap() as u64).collect();
    assert_eq!(total_cells, total.columns);

    let request = ExportForm06Request { report: Some(report), format: FileFormat::Unspecified as i32 };
    let Err(refused) = aggregation.export_form06(request).await else { panic!("no format is refused") };
    assert!(refused.message().contains("format"), "{}", refused.message());
    system.stack.shutdown().await.unwrap();
}

/// Units: two communes merged into a third on 1 April 2026.
const OLD_A: &str = "19750";
const OLD_B: &str = "19751";
const MERGED: &str = "19760";

fn commune(code: &str, from: &str, to: &str, predecessors: &[&str]) -> AdministrativeUnit {
    AdministrativeUnit {
        code: code.into(),
        name: format!("Xã {code}"),
        level: UnitLevel::Commune as i32,
        parent_code: PROVINCE.into(),
        valid_from: from.into(),
        valid_to: to.into(),
        predecessor_codes: predecessors.iter().map(|p| p.to_string()).collect(),
    }
}

fn center_of(unit: &str) -> Center {
    Center {
        code: format!("BPMC-{unit}"),
        name: format!("Bộ phận Một cửa xã {unit}"),
        unit_code: unit.into(),
        kind: CenterKind::Local as i32,
        parent_center_code: String::new(),
    }
}

#[tokio::test]
async fn a_merged_communes_history_rolls_into_its_successor() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut catalogue = system.stack.catalogue_client();
    let units = vec![
        commune(OLD_A, "2025-07-01", "2026-04-01", &[]),
        commune(OLD_B, "2025-07-01", "2026-04-01", &[]),
        commune(MERGED, "2026-04-01", "", &[OLD_A, OLD_B]),
    ];
    catalogue.upsert_units(UpsertUnitsRequest { units }).await.unwrap();
    let centers = vec![center_of(OLD_A), center_of(OLD_B), center_of(MERGED)];
    catalogue.upsert_centers(UpsertCentersRequest { centers }).await.unwrap();
    for (unit, from) in [(OLD_A, "2026-01-01"), (OLD_B, "2026-01-01"), (MERGED, "2026-04-01")] {
        let list = SetCenterProceduresRequest {
            center_code: format!("BPMC-{unit}"),
            effective_from: from.into(),
            procedure_codes: vec![FULL_PROCEDURE.into(), PARTIAL_PROCEDURE.into()],
            source: "Quyết định".into(),
        };
        catalogue.set_center_procedures(list).await.unwrap();
    }
    let (center_a, center_b, center_merged) =
        (format!("BPMC-{OLD_A}"), format!("BPMC-{OLD_B}"), format!("BPMC-{MERGED}"));
    let procedures = [FULL_PROCEDURE, PARTIAL_PROCEDURE];
    let mut cells = random_cells(3, &[&center_a, &center_b], &procedures, "2026-03-20", 12); // to 31 March
    cells.extend(random_cells(4, &[&center_merged, COMMUNE_CENTER], &procedures, "2026-04-01", 10));
    push(&system, &cells).await;
    let mut aggregation = aggregation(&system).await;
    let (first, last) = ("2026-03-25", "2026-04-08");

    // The successor carries its predecessors' history.
    let merged_cells = |c: &DailyCell| [&center_a, &center_b, &center_merged].contains(&&c.center_code);
    let request = GetIndicatorsRequest { unit_code: MERGED.into(), period: range(first, last), ..Default::default() };
    let answer = settled(&aggregation, request, totals(&cells, first, last, merged_cells)).await;
    let mut covered = answer.center_codes.clone();
    covered.sort();
    assert_eq!(covered, [center_a.clone(), center_b.clone(), center_merged.clone()]);
    assert_eq!(
        pair(&answer.indicators, "late_rate_gia_lai"),
        totals(&cells, first, last, merged_cells).indicator("late_rate_gia_lai").unwrap(),
        "the stock carried over from the old communes is the merged commune's"
    );

    // The province's children as of the period's last day: the old communes' cells count in their successor.
    let by_child = aggregation
        .get_indicators(GetIndicatorsRequest {
            unit_code: PROVINCE.into(),
            period: range(first, last),
            breakdown: Breakdown::ChildUnit as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let keys: Vec<&str> = by_child.groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, [COMMUNE, MERGED, PROVINCE]);
    assert_eq!(
        pair(&by_child.groups[1].indicators, "online_case_share"),
        totals(&cells, first, last, merged_cells).indicator("online_case_share").unwrap()
    );
    // Before the merge, an old commune is its own unit.
    let old = aggregation
        .get_indicators(GetIndicatorsRequest {
            unit_code: OLD_A.into(),
            period: range("2026-03-20", "2026-03-31"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(old.center_codes, std::slice::from_ref(&center_a));
    let ranking = aggregation
        .rank_units(RankUnitsRequest {
            unit_code: PROVINCE.into(),
            period: range(first, last),
            indicator_id: "online_case_share".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut ranked: Vec<&str> = ranking.units.iter().map(|u| u.unit_code.as_str()).collect();
    ranked.sort();
    assert_eq!(ranked, [COMMUNE, MERGED]);
    system.stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn indicators_equal_a_brute_force_sum_for_random_data_and_queries() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let procedures = [FULL_PROCEDURE, PARTIAL_PROCEDURE, OFFLINE_PROCEDURE];
    let centers = [COMMUNE_CENTER, PROVINCIAL_CENTER];
    // A first push, then corrections of most cells (some to zero online cases): the model keeps the latest.
    let first_push = random_cells(2026, &centers, &procedures, "2026-01-01", 120);
    let corrections = random_cells(2027, &centers, &procedures, "2026-01-01", 120);
    push(&system, &first_push).await;
    push(&system, &corrections).await;
    let mut latest = std::collections::BTreeMap::new();
    for cell in first_push.into_iter().chain(corrections) {
        latest.insert((cell.center_code.clone(), cell.procedure_code.clone(), cell.day.clone()), cell);
    }
    let cells: Vec<DailyCell> = latest.into_values().collect();
    let mut aggregation = aggregation(&system).await;
    let whole_year = GetIndicatorsRequest {
        unit_code: PROVINCE.into(),
        period: range("2026-01-01", "2026-12-31"),
        ..Default::default()
    };
    settled(&aggregation, whole_year, totals(&cells, "2026-01-01", "2026-12-31", |_| true)).await;

    let mut rng = onestop_generator::rng::Rng::new(7);
    let start: chrono::NaiveDate = "2025-12-25".parse().unwrap();
    let ids = [
        "online_case_share",
        "postal_filing_share",
        "postal_return_share",
        "on_time_rate_form06",
        "on_time_rate_766",
        "late_rate_gia_lai",
    ];
    for query in 0..60 {
        let first = start + chrono::Days::new(rng.below(130));
        let last = first + chrono::Days::new(rng.below(60));
        let (first, last) = (first.to_string(), last.to_string());
        let (unit_code, center_code, in_scope): (&str, &str, Vec<&str>) = match rng.below(3) {
            0 => (PROVINCE, "", centers.to_vec()),
            1 => (COMMUNE, "", vec![COMMUNE_CENTER]),
            _ => ("", PROVINCIAL_CENTER, vec![PROVINCIAL_CENTER]),
        };
        let breakdown = match rng.below(4) {
            0 => Breakdown::Unspecified,
            1 => Breakdown::Center,
            2 => Breakdown::Month,
            _ => Breakdown::Procedure,
        };
        let answer = aggregation
            .get_indicators(GetIndicatorsRequest {
                unit_code: unit_code.into(),
                center_code: center_code.into(),
                period: range(&first, &last),
                breakdown: breakdown as i32,
                indicator_ids: ids.iter().chain(&["procedures_with_online_cases"]).map(|s| s.to_string()).collect(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let check = |results: &[IndicatorResult], model: Totals, what: &str| {
            for id in ids {
                let r = results.iter().find(|r| r.indicator_id == id).unwrap();
                assert_eq!((r.numerator, r.denominator), model.indicator(id).unwrap(), "query {query} {what} {id}");
                assert_eq!(r.value.is_none(), r.denominator == 0);
            }
        };
        let whole = totals(&cells, &first, &last, |c| in_scope.contains(&c.center_code.as_str()));
        check(&answer.indicators, whole, "whole");
        // The fixture procedures are commune procedures, two of them offered online.
        let with_online_cases = [FULL_PROCEDURE, PARTIAL_PROCEDURE]
            .iter()
            .filter(|p| {
                cells.iter().any(|c| {
                    in_scope.contains(&c.center_code.as_str())
                        && c.procedure_code == **p
                        && (first.as_str()..=last.as_str()).contains(&c.day.as_str())
                        && c.measures.unwrap().received_online > 0
                })
            })
            .count() as u64;
        // A unit counts the procedures implemented at its level: the fixture's are commune procedures, none at the
        // province's. A center counts those on its list: the provincial center receives all three.
        let offered = if !center_code.is_empty() || !in_scope.contains(&PROVINCIAL_CENTER) { 2 } else { 0 };
        let online_cases = answer.indicators.iter().find(|r| r.indicator_id == "procedures_with_online_cases").unwrap();
        let expected = if offered == 0 { (0, 0) } else { (with_online_cases, offered) };
        assert_eq!((online_cases.numerator, online_cases.denominator), expected, "query {query} online cases");
        for group in &answer.groups {
            let model = match breakdown {
                Breakdown::Center => totals(&cells, &first, &last, |c| c.center_code == group.key),
                Breakdown::Procedure => totals(&cells, &first, &last, |c| {
                    in_scope.contains(&c.center_code.as_str()) && c.procedure_code == group.key
                }),
                _ => {
                    // Calendar months, clipped to the range.
                    let month_first = format!("{}-01", group.key).max(first.clone());
                    let next: chrono::NaiveDate = format!("{}-01", group.key).parse().unwrap();
                    let month_last = (next + chrono::Months::new(1)).pred_opt().unwrap().to_string().min(last.clone());
                    totals(&cells, &month_first, &month_last, |c| in_scope.contains(&c.center_code.as_str()))
                }
            };
            check(&group.indicators, model, &group.key);
            assert!(group.indicators.iter().any(|r| r.indicator_id == "procedures_with_online_cases"));
        }
    }
    system.stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_procedure_corrected_to_no_online_cases_leaves_the_months_it_had_them_in() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let cell = |procedure: &str, day: &str, online: i64| DailyCell {
        center_code: COMMUNE_CENTER.into(),
        procedure_code: procedure.into(),
        day: day.into(),
        measures: Some(Measures { received_online: online, received_direct: 2, ..Default::default() }),
        computed_at: None,
    };
    let mut intake = system.stack.intake_client();
    let mut aggregation = aggregation(&system).await;
    let mut online_cases = async |cells: Vec<DailyCell>, from: &str, to: &str| {
        let pushed = intake
            .push_cells(PushCellsRequest { sender: "s".into(), cells, ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        let request = GetIndicatorsRequest {
            unit_code: COMMUNE.into(),
            period: range(from, to),
            indicator_ids: vec!["procedures_with_online_cases".into()],
            min_intake_cursor: pushed.cursor,
            ..Default::default()
        };
        pair(
            &aggregation.get_indicators(request).await.unwrap().into_inner().indicators,
            "procedures_with_online_cases",
        )
    };
    // February whole (its month's set) and a range ending mid-March (February's set and March's days).
    let first = vec![cell(FULL_PROCEDURE, "2026-02-10", 2), cell(PARTIAL_PROCEDURE, "2026-02-11", 1)];
    assert_eq!(online_cases(first, "2026-02-01", "2026-02-28").await, (2, 2));
    let corrected = vec![cell(FULL_PROCEDURE, "2026-02-10", 0)];
    assert_eq!(online_cases(corrected, "2026-02-01", "2026-02-28").await, (1, 2));
    let march = vec![cell(FULL_PROCEDURE, "2026-03-03", 1)];
    assert_eq!(online_cases(march, "2026-02-01", "2026-03-15").await, (2, 2));
    let gone = vec![cell(PARTIAL_PROCEDURE, "2026-02-11", 0)];
    assert_eq!(online_cases(gone, "2026-02-01", "2026-02-28").await, (0, 2));
    system.stack.shutdown().await.unwrap();
}
