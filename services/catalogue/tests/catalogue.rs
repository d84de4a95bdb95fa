//! The catalogue service on its own, over gRPC, against a fresh PostgreSQL database.

use std::time::{Duration, Instant};

mod common;

use common::start;
use onestop_proto::catalogue::v1::*;
use onestop_testkit::fixtures::*;
use onestop_testkit::{CuttableLink, DatabaseUrl};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

async fn procedures_on(
    client: &mut onestop_server::client::CatalogueClient,
    day: &str,
    codes: &[&str],
) -> GetProceduresResponse {
    client
        .get_procedures(GetProceduresRequest {
            codes: codes.iter().map(|c| c.to_string()).collect(),
            as_of: day.into(),
        })
        .await
        .expect("get_procedures")
        .into_inner()
}

fn item(action: DecisionAction, procedure: Procedure, replaces_code: &str) -> DecisionItem {
    DecisionItem { action: action as i32, procedure: Some(procedure), replaces_code: replaces_code.into() }
}

fn later_decision(number: &str, effective_from: &str, items: Vec<DecisionItem>) -> PublicationDecision {
    PublicationDecision {
        number: number.into(),
        signed_on: effective_from.into(),
        issuer: "Chủ tịch UBND tỉnh".into(),
        effective_from: effective_from.into(),
        items,
        issuing_unit_code: String::new(),
    }
}

#[tokio::test]
async fn decisions_version_the_catalogue_by_date() {
    let Some(db) = onestop_testkit::database().await else {
        return;
    };
    let (service, mut client) = start(db.url()).await;

    let first = client.publish_decision(PublishDecisionRequest { decision: Some(decision()) }).await.unwrap();
    assert!(first.get_ref().applied);

    // The same decision again is a no-op; the same number with other content is refused.
    let again = client.publish_decision(PublishDecisionRequest { decision: Some(decision()) }).await.unwrap();
    assert!(!again.get_ref().applied);
    let mut altered = decision();
    altered.issuer = "Someone else".into();
    let conflict = client.publish_decision(PublishDecisionRequest { decision: Some(altered) }).await.unwrap_err();
    assert_eq!(conflict.code(), Code::AlreadyExists);
    assert!(conflict.message().contains("decision.number"), "{}", conflict.message());

    // From 1 July the partial procedure becomes fully online, the offline one is abolished, and the full one is
    // replaced by a new code.
    let mut amended = procedure(PARTIAL_PROCEDURE, "Đăng ký kết hôn", OnlineLevel::Full);
    amended.postal_return = false;
    let replacement = procedure("1.000948.H38", "Đăng ký khai sinh (liên thông)", OnlineLevel::Full);
    let july = later_decision(
        "900/QĐ-UBND",
        "2026-07-01",
        vec![
            item(DecisionAction::Amended, amended, ""),
            item(DecisionAction::Abolished, Procedure { code: OFFLINE_PROCEDURE.into(), ..Default::default() }, ""),
            item(DecisionAction::Replaced, replacement, FULL_PROCEDURE),
        ],
    );
    client.publish_decision(PublishDecisionRequest { decision: Some(july) }).await.unwrap();

    let all = [FULL_PROCEDURE, PARTIAL_PROCEDURE, OFFLINE_PROCEDURE, "1.000948.H38"];
    let june = procedures_on(&mut client, "2026-06-30", &all).await;
    assert_eq!(june.missing_codes, ["1.000948.H38"]);
    let partial = june.procedures.iter().find(|p| p.code == PARTIAL_PROCEDURE).unwrap();
    assert_eq!(partial.online_level, OnlineLevel::Partial as i32);
    assert_eq!(partial.decision_number, "125/QĐ-UBND");

    let july = procedures_on(&mut client, "2026-07-01", &all).await;
    assert_eq!(july.missing_codes, [FULL_PROCEDURE, OFFLINE_PROCEDURE]);
    let partial = july.procedures.iter().find(|p| p.code == PARTIAL_PROCEDURE).unwrap();
    assert_eq!(partial.online_level, OnlineLevel::Full as i32);
    assert!(!partial.postal_return);
    assert_eq!((partial.decision_number.as_str(), partial.valid_from.as_str()), ("900/QĐ-UBND", "2026-07-01"));

    // Before the first decision nothing was in force.
    let before = procedures_on(&mut client, "2025-12-31", &all).await;
    assert!(before.procedures.is_empty());

    service.stop().await.unwrap();
}

#[tokio::test]
async fn a_decision_with_one_bad_item_changes_nothing() {
    let Some(db) = onestop_testkit::database().await else {
        return;
    };
    let (service, mut client) = start(db.url()).await;
    client.publish_decision(PublishDecisionRequest { decision: Some(decision()) }).await.unwrap();

    // A good NEW item followed by an AMENDED item for a procedure that does not exist.
    let bad = later_decision(
        "901/QĐ-UBND",
        "2026-08-01",
        vec![
            item(DecisionAction::New, procedure("2.000001", "Cấp giấy phép", OnlineLevel::Partial), ""),
            item(DecisionAction::Amended, procedure("2.999999", "Không có", OnlineLevel::Full), ""),
        ],
    );
    let error = client.publish_decision(PublishDecisionRequest { decision: Some(bad.clone()) }).await.unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert!(error.message().contains("decision.items[1].procedure.code"), "{}", error.message());
    let after = procedures_on(&mut client, "2026-08-01", &["2.000001"]).await;
    assert_eq!(after.missing_codes, ["2.000001"], "the good item was not applied alone");

    // Nor was the decision recorded: once fixed, it publishes under the same number.
    let mut fixed = bad;
    fixed.items.pop();
    let applied = client.publish_decision(PublishDecisionRequest { decision: Some(fixed) }).await.unwrap();
    assert!(applied.get_ref().applied);

    // A decision reaching back before a procedure's latest version is refused.
    let stale = later_decision(
        "902/QĐ-UBND",
        "2025-06-01",
        vec![item(DecisionAction::Amended, procedure(FULL_PROCEDURE, "x", OnlineLevel::Full), "")],
    );
    let error = client.publish_decision(PublishDecisionRequest { decision: Some(stale) }).await.unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);

    // Malformed items are named one by one.
    let mut malformed = procedure("", "", OnlineLevel::Unspecified);
    malformed.processing_time = None;
    let error = client
        .publish_decision(PublishDecisionRequest {
            decision: Some(later_decision("", "2026-13-01", vec![item(DecisionAction::New, malformed, "")])),
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    for field in [
        "decision.number",
        "decision.effective_from",
        "decision.items[0].procedure.code",
        "decision.items[0].procedure.name",
        "decision.items[0].procedure.processing_time",
        "decision.items[0].procedure.online_level",
    ] {
        assert!(error.message().contains(field), "{field} not named in {}", error.message());
    }
    service.stop().await.unwrap();
}

#[tokio::test]
async fn units_and_centers_as_of_a_date() {
    let Some(db) = onestop_testkit::database().await else {
        return;
    };
    let (service, mut client) = start(db.url()).await;

    let stored = client.upsert_units(UpsertUnitsRequest { units: units() }).await.unwrap();
    assert_eq!(stored.get_ref().changed, 2);
    let again = client.upsert_units(UpsertUnitsRequest { units: units() }).await.unwrap();
    assert_eq!(again.get_ref().changed, 0, "loading the same units again changes nothing");

    // A district that ended on 1 July 2025 and its center.
    let district = AdministrativeUnit {
        code: "450".into(),
        name: "Huyện cũ".into(),
        level: UnitLevel::District as i32,
        parent_code: PROVINCE.into(),
        valid_from: "2008-01-01".into(),
        valid_to: "2025-07-01".into(),
        predecessor_codes: vec![],
    };
    client.upsert_units(UpsertUnitsRequest { units: vec![district] }).await.unwrap();
    let mut all_centers = centers();
    all_centers.push(Center {
        code: "BPMC-450".into(),
        name: "Bộ phận Một cửa huyện".into(),
        unit_code: "450".into(),
        kind: CenterKind::Local as i32,
        parent_center_code: String::new(),
    });
    client.upsert_centers(UpsertCentersRequest { centers: all_centers }).await.unwrap();

    let codes = |response: ListCentersResponse| response.centers.into_iter().map(|c| c.code).collect::<Vec<_>>();
    let of_province = |as_of: &str| ListCentersRequest {
        unit_code: PROVINCE.into(),
        include_descendants: true,
        as_of: as_of.into(),
        ..Default::default()
    };
    let now = codes(client.list_centers(of_province("2026-01-01")).await.unwrap().into_inner());
    assert_eq!(now, ["BPMC-19753", "TTPVHCC-46"]);
    let then = codes(client.list_centers(of_province("2025-06-30")).await.unwrap().into_inner());
    assert_eq!(then, ["BPMC-450", "TTPVHCC-46"]);

    let orphan = AdministrativeUnit { parent_code: "99".into(), code: "99001".into(), ..units()[1].clone() };
    let error = client.upsert_units(UpsertUnitsRequest { units: vec![orphan] }).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(error.message().contains("units[0].parent_code"), "{}", error.message());

    let error = client
        .list_centers(ListCentersRequest { unit_code: "77".into(), as_of: "2026-01-01".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    service.stop().await.unwrap();
}

async fn health(addr: std::net::SocketAddr) -> Option<i32> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).ok()?.connect().await.ok()?;
    let response = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await.ok()?;
    Some(response.get_ref().status)
}

async fn wait_for_health(addr: std::net::SocketAddr, wanted: ServingStatus) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = health(addr).await;
        if status == Some(wanted as i32) {
            return;
        }
        assert!(Instant::now() < deadline, "health stayed {status:?}, wanted {wanted:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn health_follows_the_database() {
    let Some(db) = onestop_testkit::database().await else {
        return;
    };
    let url = DatabaseUrl::parse(db.url()).unwrap();
    let target = tokio::net::lookup_host((url.host.as_str(), url.port)).await.unwrap().next().unwrap();
    let link = CuttableLink::to(target).await.unwrap();
    let via_link = url.with_address("127.0.0.1", link.addr().port()).to_string();
    let (service, _client) = start(&via_link).await;

    wait_for_health(service.addr, ServingStatus::Serving).await;
    link.cut();
    wait_for_health(service.addr, ServingStatus::NotServing).await;
    link.restore();
    wait_for_health(service.addr, ServingStatus::Serving).await;
    service.stop().await.unwrap();
}
