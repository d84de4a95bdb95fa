//! Reference data over gRPC against a fresh database: the country's units with the 2025 merger loaded from CSV,
//! unit queries as of a date, agencies, centers and branches, center procedure lists, and the calendar.

mod common;

use common::{fields, start, Client};
use onestop_generator::units::{self, VIETNAM};
use onestop_proto::catalogue::v1::*;
use onestop_testkit::fixtures::*;
use tonic::Code;

async fn all_units(client: &mut Client, as_of: &str, level: UnitLevel, parent_code: &str) -> Vec<AdministrativeUnit> {
    let mut units = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_units(ListUnitsRequest {
                as_of: as_of.into(),
                level: level as i32,
                parent_code: parent_code.into(),
                page_size: 2000,
                page_token,
            })
            .await
            .unwrap()
            .into_inner();
        units.extend(page.units);
        if page.next_page_token.is_empty() {
            return units;
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test]
async fn the_country_loads_from_csv_with_its_history() {
    let Some(db) = onestop_testkit::database().await else { return };
    let (service, mut client) = start(db.url()).await;
    let rows = units::country(42, VIETNAM);
    let csv = units::to_csv(&rows);

    let loaded = client.load_units_csv(LoadUnitsCsvRequest { content: csv.clone().into() }).await.unwrap().into_inner();
    assert_eq!((loaded.rows as usize, loaded.changed as usize), (rows.len(), rows.len()));
    let again = client.load_units_csv(LoadUnitsCsvRequest { content: csv.into() }).await.unwrap().into_inner();
    assert_eq!(again.changed, 0, "loading the same file again changes nothing");

    // 34 provinces and 3,321 communes now; 63 provinces, districts and 10,035 communes before the merger.
    assert_eq!(all_units(&mut client, "2026-01-01", UnitLevel::Province, "").await.len(), 34);
    assert_eq!(all_units(&mut client, "2026-01-01", UnitLevel::Commune, "").await.len(), 3_321);
    assert!(all_units(&mut client, "2026-01-01", UnitLevel::District, "").await.is_empty());
    assert_eq!(all_units(&mut client, "2025-06-30", UnitLevel::Province, "").await.len(), 63);
    assert_eq!(all_units(&mut client, "2025-06-30", UnitLevel::Commune, "").await.len(), 10_035);

    // Children of a province: its new communes now, its districts before.
    let expected_children = rows.iter().filter(|r| r.parent_code == "01" && r.valid_to.is_empty()).count();
    let children = all_units(&mut client, "2026-01-01", UnitLevel::Unspecified, "01").await;
    assert_eq!(children.len(), expected_children);
    assert!(children.iter().all(|u| u.level == UnitLevel::Commune as i32));
    let old_children = all_units(&mut client, "2025-06-30", UnitLevel::Unspecified, "01").await;
    assert!(old_children.iter().all(|u| u.level == UnitLevel::District as i32));

    // An old commune's ancestors run through its district; its successor is a new commune under a province.
    let old = rows.iter().find(|r| r.level == "commune" && !r.valid_to.is_empty()).unwrap();
    let chain = client
        .get_unit_ancestors(GetUnitAncestorsRequest { code: old.code.clone(), as_of: "2025-06-30".into() })
        .await
        .unwrap()
        .into_inner()
        .units;
    let levels: Vec<i32> = chain.iter().map(|u| u.level).collect();
    assert_eq!(levels, [UnitLevel::Commune as i32, UnitLevel::District as i32, UnitLevel::Province as i32]);
    let gone = client
        .get_unit_ancestors(GetUnitAncestorsRequest { code: old.code.clone(), as_of: "2026-01-01".into() })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);

    let successor = rows.iter().find(|r| r.predecessor_codes.contains(&old.code)).unwrap();
    let successions = client
        .get_unit_successors(GetUnitSuccessorsRequest { code: old.code.clone() })
        .await
        .unwrap()
        .into_inner()
        .successions;
    assert_eq!(successions.len(), 1);
    assert_eq!(successions[0].successor.as_ref().unwrap().code, successor.code);
    assert_eq!(successions[0].effective_from, "2025-07-01");
    assert_eq!(successions[0].successor.as_ref().unwrap().predecessor_codes, successor.predecessor_codes);

    // A merged province's successor continues under its old code.
    let merged = client.get_unit_successors(GetUnitSuccessorsRequest { code: "40".into() }).await.unwrap().into_inner();
    assert_eq!(merged.successions[0].successor.as_ref().unwrap().valid_to, "");
    service.stop().await.unwrap();
}

#[tokio::test]
async fn bad_unit_files_name_row_and_column_and_load_nothing() {
    let Some(db) = onestop_testkit::database().await else { return };
    let (service, mut client) = start(db.url()).await;
    let csv = "code,name,level,parent_code,valid_from,valid_to,predecessor_codes\n\
               46,Tỉnh,province,,2008-01-01,,\n\
               19753,Xã A,hamlet,46,2025-07-01,,\n\
               19754,Xã B,commune,46,2025-13-01,,\n\
               19755,Xã C,commune,46,2025-07-01,,99999\n";
    let error = client.load_units_csv(LoadUnitsCsvRequest { content: csv.into() }).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert_eq!(fields(&error), ["rows[3].level"]);

    let csv = csv.replace("hamlet", "commune");
    let error = client.load_units_csv(LoadUnitsCsvRequest { content: csv.clone().into() }).await.unwrap_err();
    assert_eq!(fields(&error), ["rows[4].valid_from"]);
    let csv = csv.replace("2025-13-01", "2025-07-01");
    let error = client.load_units_csv(LoadUnitsCsvRequest { content: csv.into() }).await.unwrap_err();
    assert_eq!(fields(&error), ["rows[5].predecessor_codes[0]"]);
    assert!(error.message().contains("99999 not found"), "{}", error.message());

    let nothing = client
        .list_units(ListUnitsRequest { as_of: "2026-01-01".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(nothing.units.is_empty(), "no row of a rejected file is stored");
    service.stop().await.unwrap();
}

#[tokio::test]
async fn agencies_centers_branches_and_what_each_center_receives() {
    let Some(db) = onestop_testkit::database().await else { return };
    let (service, mut client) = start(db.url()).await;
    client.upsert_units(UpsertUnitsRequest { units: units() }).await.unwrap();
    client.upsert_centers(UpsertCentersRequest { centers: centers() }).await.unwrap();
    client.publish_decision(PublishDecisionRequest { decision: Some(decision()) }).await.unwrap();

    let agencies = agencies();
    assert_eq!(
        client.upsert_agencies(UpsertAgenciesRequest { agencies: agencies.clone() }).await.unwrap().get_ref().changed,
        2
    );
    assert_eq!(client.upsert_agencies(UpsertAgenciesRequest { agencies }).await.unwrap().get_ref().changed, 0);
    let of_commune =
        client.list_agencies(ListAgenciesRequest { unit_code: COMMUNE.into() }).await.unwrap().into_inner();
    assert_eq!(of_commune.agencies.len(), 1);

    // A branch needs an existing parent center.
    let branch = |parent: &str| Center {
        code: "TTPVHCC-46-CN1".into(),
        name: "Chi nhánh".into(),
        unit_code: PROVINCE.into(),
        kind: CenterKind::Branch as i32,
        parent_center_code: parent.into(),
    };
    let error = client.upsert_centers(UpsertCentersRequest { centers: vec![branch("nowhere")] }).await.unwrap_err();
    assert_eq!(fields(&error), ["centers[0].parent_center_code"]);
    client.upsert_centers(UpsertCentersRequest { centers: vec![branch(PROVINCIAL_CENTER)] }).await.unwrap();
    let listed = client
        .list_centers(ListCentersRequest { center_codes: vec!["TTPVHCC-46-CN1".into()], ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.centers[0].parent_center_code, PROVINCIAL_CENTER);

    // The commune center receives two procedures from March, then all three from July.
    let set = |day: &str, codes: &[&str]| SetCenterProceduresRequest {
        center_code: COMMUNE_CENTER.into(),
        effective_from: day.into(),
        procedure_codes: codes.iter().map(|c| c.to_string()).collect(),
        source: "QĐ 130/QĐ-UBND".into(),
    };
    assert!(
        client
            .set_center_procedures(set("2026-03-01", &[FULL_PROCEDURE, PARTIAL_PROCEDURE]))
            .await
            .unwrap()
            .get_ref()
            .applied
    );
    assert!(
        !client
            .set_center_procedures(set("2026-03-01", &[PARTIAL_PROCEDURE, FULL_PROCEDURE]))
            .await
            .unwrap()
            .get_ref()
            .applied
    );
    client
        .set_center_procedures(set("2026-07-01", &[FULL_PROCEDURE, PARTIAL_PROCEDURE, OFFLINE_PROCEDURE]))
        .await
        .unwrap();
    let on = |day: &str| ListCenterProceduresRequest { center_code: COMMUNE_CENTER.into(), as_of: day.into() };
    assert!(client.list_center_procedures(on("2026-02-28")).await.unwrap().into_inner().procedure_codes.is_empty());
    assert_eq!(client.list_center_procedures(on("2026-06-30")).await.unwrap().into_inner().procedure_codes.len(), 2);
    assert_eq!(client.list_center_procedures(on("2026-07-01")).await.unwrap().into_inner().procedure_codes.len(), 3);
    let stale = client.set_center_procedures(set("2026-05-01", &[FULL_PROCEDURE])).await.unwrap_err();
    assert_eq!(stale.code(), Code::FailedPrecondition);
    let unknown = client.set_center_procedures(set("2026-08-01", &["9.999999"])).await.unwrap_err();
    assert_eq!(fields(&unknown), ["procedure_codes[0]"]);

    // The catalogue filtered by center follows the list in force.
    let by_center = client
        .list_procedures(ListProceduresRequest {
            as_of: "2026-06-30".into(),
            center_code: COMMUNE_CENTER.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let codes: Vec<&str> = by_center.procedures.iter().map(|p| p.code.as_str()).collect();
    assert_eq!(codes, [FULL_PROCEDURE, PARTIAL_PROCEDURE]);
    service.stop().await.unwrap();
}

#[tokio::test]
async fn the_working_day_calendar() {
    let Some(db) = onestop_testkit::database().await else { return };
    let (service, mut client) = start(db.url()).await;
    let csv = onestop_generator::calendar::to_csv([2025, 2026]);
    let loaded = client.load_calendar_csv(LoadCalendarCsvRequest { content: csv.clone().into() }).await.unwrap();
    assert_eq!((loaded.get_ref().years.clone(), loaded.get_ref().changed_years), (vec![2025, 2026], 2));
    let again = client.load_calendar_csv(LoadCalendarCsvRequest { content: csv.into() }).await.unwrap();
    assert_eq!(again.get_ref().changed_years, 0);

    // Wednesday 29 April 2026 + 1 working day: 30 April and 1 May are off, then the weekend → Monday 4 May.
    let add = |from: &str, n: i32| AddWorkingDaysRequest { from_day: from.into(), working_days: n };
    assert_eq!(client.add_working_days(add("2026-04-29", 1)).await.unwrap().into_inner().day, "2026-05-04");
    assert_eq!(client.add_working_days(add("2026-05-04", -1)).await.unwrap().into_inner().day, "2026-04-29");
    let count = |from: &str, to: &str| CountWorkingDaysRequest { from_day: from.into(), to_day: to.into() };
    assert_eq!(
        client.count_working_days(count("2026-04-29", "2026-05-04")).await.unwrap().into_inner().working_days,
        1
    );

    // A make-up Saturday, set for the year through the API, counts as a working day.
    let mut year = client.get_calendar_year(GetCalendarYearRequest { year: 2026 }).await.unwrap().into_inner();
    let before = year.working_days;
    year.exceptions.push(CalendarException {
        day: "2026-05-09".into(),
        kind: CalendarDayKind::MakeupWorkingDay as i32,
        name: "Làm bù".into(),
    });
    client.set_calendar_year(SetCalendarYearRequest { year: 2026, exceptions: year.exceptions }).await.unwrap();
    let after = client.get_calendar_year(GetCalendarYearRequest { year: 2026 }).await.unwrap().into_inner();
    assert_eq!(after.working_days, before + 1);
    assert_eq!(client.add_working_days(add("2026-05-08", 1)).await.unwrap().into_inner().day, "2026-05-09");

    // A year without a calendar is refused, not guessed.
    let error = client.add_working_days(add("2026-12-30", 5)).await.unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert!(error.message().contains("2027"), "{}", error.message());

    // Bad exceptions are named.
    let bad = SetCalendarYearRequest {
        year: 2027,
        exceptions: vec![CalendarException {
            day: "2027-05-05".into(),
            kind: CalendarDayKind::MakeupWorkingDay as i32,
            name: "x".into(),
        }],
    };
    let error = client.set_calendar_year(bad).await.unwrap_err();
    assert_eq!(fields(&error), ["exceptions[0].day"]);
    let csv = "day,kind,name\n2027-01-01,holiday,Tết\n2027-02-30,holiday,x\n2027-03-01,vacation,y\n";
    let error = client.load_calendar_csv(LoadCalendarCsvRequest { content: csv.into() }).await.unwrap_err();
    assert_eq!(fields(&error), ["rows[3].day", "rows[4].kind"]);
    service.stop().await.unwrap();
}
