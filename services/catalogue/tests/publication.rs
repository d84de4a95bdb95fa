//! Publication over gRPC against a fresh database: a realistic catalogue of 2,000+ procedures over 30 sectors
//! and several decisions checked against an independent model as of many dates; version history; filtered
//! lists and counts; decisions from CSV and XLSX files.

mod common;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use common::{fields, start, Client};
use onestop_generator::catalogue::{province_catalogue, GeneratedCatalogue};
use onestop_proto::catalogue::v1::*;
use tonic::Code;

async fn publish_generated(client: &mut Client, catalogue: &GeneratedCatalogue) {
    client.upsert_sectors(UpsertSectorsRequest { sectors: catalogue.sectors.clone() }).await.unwrap();
    for decision in &catalogue.decisions {
        let published = client.publish_decision(PublishDecisionRequest { decision: Some(decision.clone()) }).await;
        assert!(published.unwrap().get_ref().applied, "{}", decision.number);
    }
}

async fn catalogue_on(client: &mut Client, day: &str, filter: ListProceduresRequest) -> Vec<Procedure> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = ListProceduresRequest { as_of: day.into(), page_size: 700, page_token, ..filter.clone() };
        let page = client.list_procedures(request).await.unwrap().into_inner();
        out.extend(page.procedures);
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

/// The fields a decision states, without those the catalogue adds on reads.
fn stated(p: &Procedure) -> Procedure {
    Procedure { decision_number: String::new(), valid_from: String::new(), ..p.clone() }
}

#[tokio::test]
async fn a_realistic_catalogue_answers_as_of_any_date() {
    let Some(db) = onestop_testkit::database().await else { return };
    let (service, mut client) = start(db.url()).await;
    let catalogue = province_catalogue(2026, 2000);
    publish_generated(&mut client, &catalogue).await;

    for day in ["2024-12-31", "2025-01-01", "2025-03-31", "2025-04-01", "2025-06-30", "2025-07-01", "2026-06-30"] {
        let expected = catalogue.in_force(day.parse().unwrap());
        let got: BTreeMap<String, Procedure> = catalogue_on(&mut client, day, ListProceduresRequest::default())
            .await
            .into_iter()
            .map(|p| (p.code.clone(), p))
            .collect();
        assert_eq!(got.len(), expected.len(), "{day}");
        for (code, procedure) in &expected {
            assert_eq!(stated(&got[code]), *procedure, "{code} on {day}");
        }

        // Filters agree with the model too.
        let full = catalogue_on(
            &mut client,
            day,
            ListProceduresRequest { online_level: OnlineLevel::Full as i32, ..Default::default() },
        )
        .await;
        let expected_full = expected.values().filter(|p| p.online_level == OnlineLevel::Full as i32).count();
        assert_eq!(full.len(), expected_full, "fully online on {day}");
        let commune_sector = catalogue_on(
            &mut client,
            day,
            ListProceduresRequest {
                level: ImplementingLevel::Commune as i32,
                sector_code: "LV07".into(),
                ..Default::default()
            },
        )
        .await;
        let expected_commune_sector = expected
            .values()
            .filter(|p| p.sector_code == "LV07" && p.implementing_levels.contains(&(ImplementingLevel::Commune as i32)))
            .count();
        assert_eq!(commune_sector.len(), expected_commune_sector, "commune procedures of LV07 on {day}");

        // Counts by level, sector and online level sum to the model's.
        let counts = client.count_procedures(CountProceduresRequest { as_of: day.into(), ..Default::default() });
        let counts = counts.await.unwrap().into_inner().counts;
        let mut expected_counts: BTreeMap<(i32, String, i32), u32> = BTreeMap::new();
        for p in expected.values() {
            for level in &p.implementing_levels {
                *expected_counts.entry((*level, p.sector_code.clone(), p.online_level)).or_default() += 1;
            }
        }
        let got_counts: BTreeMap<(i32, String, i32), u32> =
            counts.into_iter().map(|c| ((c.level, c.sector_code, c.online_level), c.procedures)).collect();
        assert_eq!(got_counts, expected_counts, "counts on {day}");
    }

    // Publishing every decision again changes nothing.
    for decision in &catalogue.decisions {
        let again = client.publish_decision(PublishDecisionRequest { decision: Some(decision.clone()) }).await;
        assert!(!again.unwrap().get_ref().applied);
    }
    service.stop().await.unwrap();
}

#[tokio::test]
async fn history_shows_each_version_and_the_decision_that_made_it() {
    let Some(db) = onestop_testkit::database().await else { return };
    let (service, mut client) = start(db.url()).await;
    let catalogue = province_catalogue(7, 400);
    publish_generated(&mut client, &catalogue).await;

    let amended = catalogue.decisions[1]
        .items
        .iter()
        .find(|i| i.action == DecisionAction::Amended as i32)
        .and_then(|i| i.procedure.clone())
        .unwrap();
    let history =
        client.get_procedure_history(GetProcedureHistoryRequest { code: amended.code.clone() }).await.unwrap();
    let versions = &history.get_ref().versions;
    assert!(versions.len() >= 2);
    assert_eq!(versions[0].action, DecisionAction::New as i32);
    assert_eq!(versions[0].valid_to, "2025-04-01");
    assert_eq!(versions[0].procedure.as_ref().unwrap().decision_number, "100/QĐ-UBND");
    assert_eq!(versions[1].action, DecisionAction::Amended as i32);
    assert_eq!(versions[1].decision_issuer, "Chủ tịch Ủy ban nhân dân tỉnh");
    assert_eq!(stated(versions[1].procedure.as_ref().unwrap()), amended);

    let replaced = catalogue.decisions[2].items.iter().find(|i| i.action == DecisionAction::Replaced as i32).unwrap();
    let old = client
        .get_procedure_history(GetProcedureHistoryRequest { code: replaced.replaces_code.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(old.replaced_by_codes, [replaced.procedure.as_ref().unwrap().code.clone()]);
    assert_eq!(old.versions.last().unwrap().valid_to, "2025-07-01");

    let decision =
        client.get_decision(GetDecisionRequest { number: "300/QĐ-UBND".into(), ..Default::default() }).await.unwrap();
    assert_eq!(decision.get_ref().decision.as_ref(), Some(&catalogue.decisions[2]));
    let missing = client.get_procedure_history(GetProcedureHistoryRequest { code: "9.999999".into() }).await;
    assert_eq!(missing.unwrap_err().code(), Code::NotFound);
    service.stop().await.unwrap();
}

/// The columns of a decision file, as documented.
const FILE_HEADER: [&str; 16] = onestop_catalogue::decision_file::COLUMNS;

fn file_rows(bad_online_level_in_row: Option<usize>) -> Vec<[String; 15]> {
    (0..50)
        .map(|i| {
            let row_number = i + 2;
            let online = if Some(row_number) == bad_online_level_in_row { "FULLY" } else { "toàn trình" };
            [
                "NEW",
                &format!("1.{:06}", 500 + i),
                &format!("Thủ tục {i}"),
                "HOTICH",
                "PROVINCE;COMMUNE",
                "Sở Tư pháp",
                "5",
                "ngày làm việc",
                "x",
                online,
                "4",
                "yes",
                "no",
                "",
                if i == 0 { "ONLINE=2 WORKING_DAYS" } else { "" },
            ]
            .map(str::to_owned)
        })
        .collect()
}

fn to_csv(rows: &[[String; 15]]) -> Vec<u8> {
    let mut out = FILE_HEADER.join(",") + "\n";
    for row in rows {
        out += &(row.join(",") + "\n");
    }
    out.into_bytes()
}

/// A workbook as a spreadsheet user makes it: codes in text cells, numbers in number cells.
fn to_xlsx(rows: &[[String; 15]]) -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (c, heading) in FILE_HEADER.iter().enumerate() {
        sheet.write_string(0, c as u16, *heading).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, value) in row.iter().enumerate() {
            let is_code = matches!(FILE_HEADER[c], "code" | "replaces_code" | "sector_code");
            match value.parse::<f64>().ok().filter(|_| !is_code) {
                Some(number) => sheet.write_number(r as u32 + 1, c as u16, number).unwrap(),
                None => sheet.write_string(r as u32 + 1, c as u16, value).unwrap(),
            };
        }
    }
    workbook.save_to_buffer().unwrap()
}

fn header(number: &str) -> PublicationDecision {
    PublicationDecision {
        issuing_unit_code: Default::default(),
        number: number.into(),
        signed_on: "2026-02-01".into(),
        issuer: "Chủ tịch UBND tỉnh".into(),
        effective_from: "2026-02-15".into(),
        items: vec![],
    }
}

#[tokio::test]
async fn decisions_publish_from_csv_and_xlsx_files_or_not_at_all() {
    let Some(db) = onestop_testkit::database().await else { return };
    let (service, mut client) = start(db.url()).await;
    let day = "2026-02-15";
    let count_on = |client: &mut Client| {
        let mut client = client.clone();
        async move { catalogue_on(&mut client, day, ListProceduresRequest::default()).await.len() }
    };

    for (format, encode) in [(FileFormat::Csv, to_csv as fn(&[[String; 15]]) -> Vec<u8>), (FileFormat::Xlsx, to_xlsx)] {
        let bad = PublishDecisionFileRequest {
            decision: Some(header("10/QĐ-UBND")),
            format: format as i32,
            content: encode(&file_rows(Some(38))),
        };
        let error = client.publish_decision_file(bad).await.unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument, "{format:?}");
        assert_eq!(fields(&error), ["rows[38].online_level"], "{format:?}");
        assert_eq!(count_on(&mut client).await, 0, "{format:?}: nothing applied when a row is wrong");
    }

    // A code typed into a number cell has lost digits: refused, with the row named.
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (c, heading) in ["action", "code"].iter().enumerate() {
        sheet.write_string(0, c as u16, *heading).unwrap();
    }
    sheet.write_string(1, 0, "ABOLISHED").unwrap();
    sheet.write_number(1, 1, 1.0005).unwrap();
    let numeric_code = PublishDecisionFileRequest {
        decision: Some(header("11/QĐ-UBND")),
        format: FileFormat::Xlsx as i32,
        content: workbook.save_to_buffer().unwrap(),
    };
    let error = client.publish_decision_file(numeric_code).await.unwrap_err();
    assert_eq!(fields(&error), ["rows[2].code"]);
    assert!(error.message().contains("format the column as text"), "{}", error.message());

    let good = PublishDecisionFileRequest {
        decision: Some(header("10/QĐ-UBND")),
        format: FileFormat::Xlsx as i32,
        content: to_xlsx(&file_rows(None)),
    };
    let published = client.publish_decision_file(good.clone()).await.unwrap().into_inner();
    assert_eq!((published.applied, published.items), (true, 50));
    assert!(!client.publish_decision_file(good).await.unwrap().get_ref().applied, "the same file again is a no-op");
    let procedures = catalogue_on(&mut client, day, ListProceduresRequest::default()).await;
    assert_eq!(procedures.len(), 50);
    let first = &procedures[0];
    assert_eq!(first.online_level, OnlineLevel::Full as i32);
    assert_eq!(first.legacy_online_level, 4);
    assert_eq!(first.implementing_levels, [ImplementingLevel::Province as i32, ImplementingLevel::Commune as i32]);
    assert!(first.has_fees && first.postal_filing && !first.postal_return);
    assert_eq!(first.channel_processing_times[0].channel, FilingChannel::Online as i32);

    // A later CSV decision that abolishes one, amends one and names an unknown one is refused as a whole,
    // each conflicting row named.
    let csv = "action,code,name,sector_code,implementing_levels,implementing_agency,processing_time_value,\
processing_time_unit,online_level\n\
ABOLISHED,1.000500,,,,,,,\n\
AMENDED,1.000501,Thủ tục mới,HOTICH,PROVINCE,Sở Tư pháp,3,WORKING_DAYS,PARTIAL\n\
ABOLISHED,1.999999,,,,,,,\n";
    let request = |content: &str| PublishDecisionFileRequest {
        decision: Some(PublicationDecision { effective_from: "2026-06-01".into(), ..header("20/QĐ-UBND") }),
        format: FileFormat::Csv as i32,
        content: content.as_bytes().to_vec(),
    };
    let error = client.publish_decision_file(request(csv)).await.unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert_eq!(fields(&error), ["rows[4].code"], "{}", error.message());
    let fixed = csv.replace("ABOLISHED,1.999999,,,,,,,\n", "");
    assert!(client.publish_decision_file(request(&fixed)).await.unwrap().get_ref().applied);
    let june = catalogue_on(&mut client, "2026-06-01", ListProceduresRequest::default()).await;
    assert_eq!(june.len(), 49);
    assert_eq!(june.iter().find(|p| p.code == "1.000501").unwrap().online_level, OnlineLevel::Partial as i32);

    // A header naming no items' columns, and a file that is not a workbook, are named too.
    let error = client.publish_decision_file(request("name,sector\nx,y\n")).await.unwrap_err();
    assert_eq!(fields(&error), ["content.columns.action", "content.columns.code"]);
    let not_xlsx = PublishDecisionFileRequest { format: FileFormat::Xlsx as i32, ..request("action,code\n") };
    assert_eq!(fields(&client.publish_decision_file(not_xlsx).await.unwrap_err()), ["content"]);
    service.stop().await.unwrap();
}

#[tokio::test]
async fn a_replaced_procedure_ends_and_its_replacement_begins_on_the_same_day() {
    let Some(db) = onestop_testkit::database().await else { return };
    let (service, mut client) = start(db.url()).await;
    let catalogue = province_catalogue(11, 200);
    publish_generated(&mut client, &catalogue).await;
    let item = catalogue.decisions[2].items.iter().find(|i| i.action == DecisionAction::Replaced as i32).unwrap();
    let new_code = item.procedure.as_ref().unwrap().code.clone();
    let codes = vec![item.replaces_code.clone(), new_code.clone()];
    let on = |day: &str| GetProceduresRequest { codes: codes.clone(), as_of: day.into() };
    let before = client.get_procedures(on("2025-06-30")).await.unwrap().into_inner();
    assert_eq!(before.missing_codes, std::slice::from_ref(&new_code));
    let after = client.get_procedures(on("2025-07-01")).await.unwrap().into_inner();
    assert_eq!(after.missing_codes, std::slice::from_ref(&item.replaces_code));
    let day: NaiveDate = "2025-07-01".parse().unwrap();
    assert!(catalogue.in_force(day).contains_key(&new_code));
    service.stop().await.unwrap();
}

#[tokio::test]
async fn a_procedure_published_with_only_a_legacy_level_gets_its_current_level_and_keeps_both() {
    let Some(db) = onestop_testkit::database().await else { return };
    let (_service, mut client) = start(db.url()).await;
    client
        .upsert_sectors(UpsertSectorsRequest {
            sectors: vec![Sector { code: "HOTICH".into(), name: "Hộ tịch".into() }],
        })
        .await
        .unwrap();
    let legacy = |code: &str, level: u32| DecisionItem {
        action: DecisionAction::New as i32,
        procedure: Some(Procedure {
            code: code.into(),
            name: format!("Thủ tục {code}"),
            sector_code: "HOTICH".into(),
            implementing_levels: vec![ImplementingLevel::Commune as i32],
            implementing_agency: "UBND cấp xã".into(),
            processing_time: Some(ProcessingTime { value: 3, unit: TimeUnit::WorkingDays as i32 }),
            online_level: OnlineLevel::Unspecified as i32,
            legacy_online_level: level,
            ..Default::default()
        }),
        replaces_code: String::new(),
    };
    let decision = PublicationDecision {
        issuing_unit_code: Default::default(),
        number: "7/QĐ-UBND".into(),
        signed_on: "2025-12-01".into(),
        issuer: "Chủ tịch UBND tỉnh".into(),
        effective_from: "2026-01-01".into(),
        items: vec![legacy("1.000001", 4), legacy("1.000002", 3), legacy("1.000003", 2), legacy("1.000004", 1)],
    };
    client.publish_decision(PublishDecisionRequest { decision: Some(decision.clone()) }).await.unwrap();
    // The same decision again is the same decision.
    let again = client.publish_decision(PublishDecisionRequest { decision: Some(decision) }).await.unwrap();
    assert!(!again.get_ref().applied);

    let all = catalogue_on(&mut client, "2026-03-02", ListProceduresRequest::default()).await;
    let levels: Vec<(String, i32, u32)> =
        all.iter().map(|p| (p.code.clone(), p.online_level, p.legacy_online_level)).collect();
    assert_eq!(
        levels,
        [
            ("1.000001".to_string(), OnlineLevel::Full as i32, 4),
            ("1.000002".to_string(), OnlineLevel::Partial as i32, 3),
            ("1.000003".to_string(), OnlineLevel::None as i32, 2),
            ("1.000004".to_string(), OnlineLevel::None as i32, 1),
        ]
    );
    // Asked by either level.
    let full = ListProceduresRequest { online_level: OnlineLevel::Full as i32, ..Default::default() };
    let by_current: Vec<String> =
        catalogue_on(&mut client, "2026-03-02", full).await.into_iter().map(|p| p.code).collect();
    assert_eq!(by_current, ["1.000001"]);
    let legacy_three = ListProceduresRequest { legacy_online_level: 3, ..Default::default() };
    let by_legacy: Vec<String> =
        catalogue_on(&mut client, "2026-03-02", legacy_three).await.into_iter().map(|p| p.code).collect();
    assert_eq!(by_legacy, ["1.000002"]);
    let refused = client
        .list_procedures(ListProceduresRequest {
            as_of: "2026-03-02".into(),
            legacy_online_level: 5,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("legacy_online_level"));
}
