//! Credentials and limits over real services: who may push and read what, which tokens are refused, calls
//! between services, message sizes, and one principal's flood not starving another.

use onestop_auth::{claims, Claims, Issuer, Role, SCOPE_FOLLOW, SCOPE_PUSH, SCOPE_READ};
use onestop_local::{Addresses, Stack};
use onestop_proto::aggregation::v1::{DayRange, GetIndicatorsRequest};
use onestop_proto::catalogue::v1::{ListSectorsRequest, UpsertUnitsRequest, WatchChangesRequest};
use onestop_proto::intake::v1::{self as intake, DailyCell, Measures, PushCellsRequest};
use onestop_server::auth::Credentials;
use onestop_server::client;
use onestop_server::config::ServerArgs;
use onestop_system_tests::*;
use tonic::Code;

/// The key every service of a test system accepts (it signs the operator's and the services' tokens).
fn stack_issuer(system: &TestSystem) -> Issuer {
    Issuer::parse(system.stack.auth().service_key.as_deref().unwrap()).unwrap()
}

fn cell(center: &str) -> DailyCell {
    DailyCell {
        center_code: center.into(),
        procedure_code: FULL_PROCEDURE.into(),
        day: "2026-03-02".into(),
        measures: Some(Measures { received_online: 2, ..Default::default() }),
        computed_at: None,
    }
}

fn push(center: &str) -> PushCellsRequest {
    PushCellsRequest { sender: "vendor".into(), cells: vec![cell(center)], ..Default::default() }
}

fn software(centers: &[&str]) -> Claims {
    Claims {
        centers: centers.iter().map(|c| c.to_string()).collect(),
        ..claims("vendor-a", Role::Software, &[SCOPE_PUSH, SCOPE_READ], 600)
    }
}

fn province(code: &str) -> Claims {
    Claims { province: Some(code.into()), ..claims(&format!("office-{code}"), Role::Province, &[SCOPE_READ], 600) }
}

fn march() -> Option<DayRange> {
    Some(DayRange { from_day: "2026-03-01".into(), to_day: "2026-03-31".into() })
}

#[tokio::test]
async fn principals_push_and_read_only_what_is_theirs() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let issuer = stack_issuer(&system);
    // Another province beside the fixture's.
    system
        .stack
        .catalogue_client()
        .upsert_units(UpsertUnitsRequest {
            units: vec![onestop_proto::catalogue::v1::AdministrativeUnit {
                code: "47".into(),
                name: "Tỉnh khác".into(),
                level: onestop_proto::catalogue::v1::UnitLevel::Province as i32,
                valid_from: "2025-07-01".into(),
                ..Default::default()
            }],
        })
        .await
        .unwrap();
    let as_principal = |claims: &Claims| Credentials::token(issuer.issue(claims));

    // Software pushes for its own center, not for another.
    let vendor = as_principal(&software(&[COMMUNE_CENTER]));
    let mut intake = client::intake(&system.stack.intake_url(), None, &vendor).unwrap();
    intake.push_cells(push(COMMUNE_CENTER)).await.unwrap();
    let denied = intake.push_cells(push(PROVINCIAL_CENTER)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(denied.message().contains("cells[0].center_code"), "{}", denied.message());
    let cases = intake::PushCasesRequest {
        sender: "vendor".into(),
        cases: vec![intake::CaseRecord { receiving_center_code: PROVINCIAL_CENTER.into(), ..Default::default() }],
        all_or_nothing: true,
    };
    assert_eq!(intake.push_cases(cases).await.unwrap_err().code(), Code::PermissionDenied);
    // Nor may it follow intake's change stream, which is for services.
    let follow = intake.watch_changes(intake::WatchChangesRequest::default()).await.unwrap_err();
    assert_eq!(follow.code(), Code::PermissionDenied);

    // A provincial office reads its province, not another; software reads its center, not the province.
    let read = |credentials: Credentials, unit: &str, center: &str| {
        let mut aggregation = client::aggregation(&system.stack.aggregation_url(), None, &credentials).unwrap();
        let request = GetIndicatorsRequest {
            unit_code: unit.into(),
            center_code: center.into(),
            period: march(),
            indicator_ids: vec!["online_case_share".into()],
            ..Default::default()
        };
        async move { aggregation.get_indicators(request).await.map(|_| ()).map_err(|s| s.code()) }
    };
    assert_eq!(read(as_principal(&province(PROVINCE)), PROVINCE, "").await, Ok(()));
    assert_eq!(read(as_principal(&province(PROVINCE)), COMMUNE, "").await, Ok(()));
    assert_eq!(read(as_principal(&province(PROVINCE)), "", COMMUNE_CENTER).await, Ok(()));
    assert_eq!(read(as_principal(&province("47")), PROVINCE, "").await, Err(Code::PermissionDenied));
    assert_eq!(read(as_principal(&province("47")), "", COMMUNE_CENTER).await, Err(Code::PermissionDenied));
    assert_eq!(read(vendor.clone(), "", COMMUNE_CENTER).await, Ok(()));
    assert_eq!(read(vendor.clone(), PROVINCE, "").await, Err(Code::PermissionDenied));

    // Publishing needs the publish scope.
    let mut catalogue = client::catalogue(&system.stack.catalogue_url(), None, &vendor).unwrap();
    let publish = catalogue.upsert_units(UpsertUnitsRequest { units: vec![] }).await.unwrap_err();
    assert_eq!(publish.code(), Code::PermissionDenied);
    catalogue.list_sectors(ListSectorsRequest {}).await.unwrap();
    system.stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn missing_expired_forged_and_unknown_tokens_are_unauthenticated() {
    let Some(system) = TestSystem::start().await else { return };
    let issuer = stack_issuer(&system);
    let url = system.stack.catalogue_url();
    let call = |credentials: Credentials| {
        let mut catalogue = client::catalogue(&url, None, &credentials).unwrap();
        async move { catalogue.list_sectors(ListSectorsRequest {}).await.map(|_| ()).map_err(|s| s.code()) }
    };
    let reader = claims("reader", Role::National, &[SCOPE_READ], 600);
    assert_eq!(call(Credentials::token(issuer.issue(&reader))).await, Ok(()));
    assert_eq!(call(Credentials::default()).await, Err(Code::Unauthenticated), "no token");
    let expired = Claims { iat: reader.iat - 7200, exp: reader.iat - 3600, ..reader.clone() };
    assert_eq!(call(Credentials::token(issuer.issue(&expired))).await, Err(Code::Unauthenticated));
    let impostor = Issuer::generate(issuer.kid());
    assert_eq!(call(Credentials::token(impostor.issue(&reader))).await, Err(Code::Unauthenticated), "wrong key");
    let unknown = Issuer::generate("someone-else");
    assert_eq!(call(Credentials::token(unknown.issue(&reader))).await, Err(Code::Unauthenticated), "unknown key");
    // A token whose claims were edited after signing.
    let token = issuer.issue(&reader);
    let mut parts: Vec<&str> = token.split('.').collect();
    let national = base64_claims(&Claims { scopes: vec!["read".into(), "publish".into()], ..reader.clone() });
    parts[1] = &national;
    assert_eq!(call(Credentials::token(parts.join("."))).await, Err(Code::Unauthenticated), "forged");
    assert_eq!(call(Credentials::token("not-a-token")).await, Err(Code::Unauthenticated));

    // Between services: a service token signed with an accepted key follows the catalogue; one signed with a
    // key the catalogue does not know is refused.
    let follow = |credentials: Credentials| {
        let mut catalogue = client::catalogue(&url, None, &credentials).unwrap();
        async move {
            catalogue.watch_changes(WatchChangesRequest { after_cursor: 0 }).await.map(|_| ()).map_err(|s| s.code())
        }
    };
    let service = claims("intake", Role::Service, &[SCOPE_READ, SCOPE_FOLLOW], 300);
    assert_eq!(follow(Credentials::token(issuer.issue(&service))).await, Ok(()));
    assert_eq!(follow(Credentials::token(unknown.issue(&service))).await, Err(Code::Unauthenticated));
    system.stack.shutdown().await.unwrap();
}

fn base64_claims(claims: &Claims) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
}

#[tokio::test]
async fn one_principals_flood_does_not_starve_another_and_big_messages_are_refused() {
    let Some(database) = onestop_testkit::database().await else { return };
    let mut server = ServerArgs::for_database(database.url());
    server.auth.rate_limit_per_second = 20.0;
    server.auth.rate_limit_burst = 20.0;
    server.auth.max_message_bytes = 64 * 1024;
    let stack = Stack::start_with(server, Addresses::any_free_port()).await.unwrap();
    let issuer = Issuer::parse(stack.auth().service_key.as_deref().unwrap()).unwrap();
    let token = |sub: &str| Credentials::token(issuer.issue(&claims(sub, Role::National, &[SCOPE_READ], 600)));
    let url = stack.catalogue_url();
    let flooder = client::catalogue(&url, None, &token("flooder")).unwrap();
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let mut client = flooder.clone();
        calls.spawn(async move { client.list_sectors(ListSectorsRequest {}).await.map_err(|s| s.code()) });
    }
    let mut patient = client::catalogue(&url, None, &token("patient")).unwrap();
    let answered = patient.list_sectors(ListSectorsRequest {}).await;
    assert!(answered.is_ok(), "another principal is served during the flood: {answered:?}");
    let (mut served, mut refused) = (0, 0);
    while let Some(outcome) = calls.join_next().await {
        match outcome.unwrap() {
            Ok(_) => served += 1,
            Err(Code::ResourceExhausted) => refused += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(refused > 100 && served >= 20, "served {served}, refused {refused}");

    // A request message over the size limit.
    let mut catalogue = stack.catalogue_client();
    let units: Vec<_> = (0..2000)
        .map(|i| onestop_proto::catalogue::v1::AdministrativeUnit {
            code: format!("{i:05}"),
            name: "x".repeat(40),
            ..Default::default()
        })
        .collect();
    let too_big = catalogue.upsert_units(UpsertUnitsRequest { units }).await.unwrap_err();
    assert_eq!(too_big.code(), Code::ResourceExhausted, "{}", too_big.message());
    stack.shutdown().await.unwrap();
    drop(database);
}
