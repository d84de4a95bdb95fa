//! Credentials and limits over real services: who may push and read what, which tokens are refused, which keys
//! may sign what, calls between services, message sizes, and one principal's flood not starving another.

use onestop_auth::{
    claims, Claims, Issuer, Role, MAX_PRINCIPAL_LIFETIME, MAX_SERVICE_LIFETIME, SCOPE_PUBLISH, SCOPE_PUSH, SCOPE_READ,
    SERVICE_SCOPES, SERVICE_TOKEN_LIFETIME,
};
use onestop_local::{Addresses, Stack};
use onestop_proto::aggregation::v1::{DayRange, GetIndicatorsRequest, ListIndicatorDefinitionsRequest};
use onestop_proto::catalogue::v1::{ListSectorsRequest, UpsertUnitsRequest, WatchChangesRequest};
use onestop_proto::intake::v1::{self as intake, DailyCell, Measures, PushCellsRequest};
use onestop_server::auth::{Credentials, AGGREGATION, CATALOGUE, INTAKE, OPERATOR_SCOPES};
use onestop_server::client;
use onestop_server::config::ServerArgs;
use onestop_system_tests::*;
use tonic::Code;

/// The key that signs principals' tokens in a test system; it is the test's, no service holds it.
fn stack_issuer(system: &TestSystem) -> Issuer {
    system.stack.keys().issuer.clone()
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

    // Between services: intake's calls, signed with its own key, follow the catalogue; the same calls signed
    // with a key the catalogue does not know are refused.
    let follow = |credentials: Credentials| {
        let mut catalogue = client::catalogue(&url, None, &credentials).unwrap();
        async move {
            catalogue.watch_changes(WatchChangesRequest { after_cursor: 0 }).await.map(|_| ()).map_err(|s| s.code())
        }
    };
    assert_eq!(follow(Credentials::service(INTAKE, &system.stack.keys().intake)).await, Ok(()));
    assert_eq!(follow(Credentials::service(INTAKE, &Issuer::generate(INTAKE))).await, Err(Code::Unauthenticated));
    system.stack.shutdown().await.unwrap();
}

/// A call of service `sub` to the catalogue, as its client makes it, but with `scopes`.
fn service_call(sub: &str, scopes: &[&str]) -> Claims {
    Claims { aud: CATALOGUE.into(), ..claims(sub, Role::Service, scopes, SERVICE_TOKEN_LIFETIME) }
}

/// The code and message of a refused call.
type Refusal = (Code, String);

fn refusal(status: tonic::Status) -> Refusal {
    (status.code(), status.message().to_owned())
}

/// Asserts that `outcome` is UNAUTHENTICATED for the reason `why`.
#[track_caller]
fn unauthenticated(outcome: Result<(), Refusal>, why: &str) {
    match outcome {
        Err((Code::Unauthenticated, message)) if message.contains(why) => {}
        other => panic!("expected UNAUTHENTICATED because {why:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_services_key_signs_only_that_services_own_calls() {
    let Some(system) = TestSystem::start().await else { return };
    let keys = system.stack.keys().clone();
    let url = system.stack.catalogue_url();
    let signed = |key: &Issuer, claims: &Claims| Credentials::token(key.issue(claims));
    let read = |credentials: Credentials| {
        let mut catalogue = client::catalogue(&url, None, &credentials).unwrap();
        async move { catalogue.list_sectors(ListSectorsRequest {}).await.map(|_| ()).map_err(refusal) }
    };
    let follow = |credentials: Credentials| {
        let mut catalogue = client::catalogue(&url, None, &credentials).unwrap();
        async move { catalogue.watch_changes(WatchChangesRequest { after_cursor: 0 }).await.map(|_| ()).map_err(refusal) }
    };
    let publish = |credentials: Credentials| {
        let mut catalogue = client::catalogue(&url, None, &credentials).unwrap();
        async move { catalogue.upsert_units(UpsertUnitsRequest { units: vec![] }).await.map(|_| ()).map_err(refusal) }
    };

    // Intake's own calls: reading and following the catalogue.
    assert_eq!(read(Credentials::service(INTAKE, &keys.intake)).await, Ok(()));
    assert_eq!(follow(signed(&keys.intake, &service_call(INTAKE, &SERVICE_SCOPES))).await, Ok(()));

    // Intake's key sits in intake's process, so it must not make a national operator or a provincial office.
    let national = Claims { aud: CATALOGUE.into(), ..claims(INTAKE, Role::National, &OPERATOR_SCOPES, 300) };
    unauthenticated(read(signed(&keys.intake, &national)).await, "signs only intake's own calls");
    unauthenticated(publish(signed(&keys.intake, &national)).await, "signs only intake's own calls");
    let province = Claims { role: Role::Province, province: Some(PROVINCE.into()), ..national.clone() };
    unauthenticated(read(signed(&keys.intake, &province)).await, "signs only intake's own calls");
    // Nor speak for another service, nor grant itself more than reading and following.
    unauthenticated(
        follow(signed(&keys.intake, &service_call(AGGREGATION, &SERVICE_SCOPES))).await,
        "signs only intake's own calls",
    );
    let publisher = service_call(INTAKE, &[SCOPE_READ, SCOPE_PUBLISH]);
    unauthenticated(publish(signed(&keys.intake, &publisher)).await, "only scopes");
    unauthenticated(read(signed(&keys.intake, &publisher)).await, "only scopes");
    let pusher = service_call(INTAKE, &[SCOPE_PUSH]);
    unauthenticated(read(signed(&keys.intake, &pusher)).await, "only scopes");

    // A service's token is for the one service it calls, and lives minutes.
    let for_aggregation = Claims { aud: AGGREGATION.into(), ..service_call(INTAKE, &SERVICE_SCOPES) };
    unauthenticated(follow(signed(&keys.intake, &for_aggregation)).await, "not for catalogue");
    let for_everyone = Claims { aud: "onestop".into(), ..service_call(INTAKE, &SERVICE_SCOPES) };
    unauthenticated(follow(signed(&keys.intake, &for_everyone)).await, "not for catalogue");
    let call = service_call(INTAKE, &SERVICE_SCOPES);
    let lingering = Claims { exp: call.iat + MAX_SERVICE_LIFETIME + 60, ..call };
    unauthenticated(follow(signed(&keys.intake, &lingering)).await, "longer than");

    // The issuer signs principals only: a service is whoever holds that service's key, not whoever the issuer says.
    unauthenticated(follow(signed(&keys.issuer, &service_call(INTAKE, &SERVICE_SCOPES))).await, "service's key");
    system.stack.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_principals_token_is_for_onestop_or_the_service_it_names_and_lives_at_most_400_days() {
    let Some(system) = TestSystem::start().await else { return };
    let issuer = stack_issuer(&system);
    let as_reader = |claims: &Claims| Credentials::token(issuer.issue(claims));
    let read_catalogue = |credentials: Credentials| {
        let mut catalogue = client::catalogue(&system.stack.catalogue_url(), None, &credentials).unwrap();
        async move { catalogue.list_sectors(ListSectorsRequest {}).await.map(|_| ()).map_err(refusal) }
    };
    let read_aggregation = |credentials: Credentials| {
        let mut aggregation = client::aggregation(&system.stack.aggregation_url(), None, &credentials).unwrap();
        let request = ListIndicatorDefinitionsRequest::default();
        async move { aggregation.list_indicator_definitions(request).await.map(|_| ()).map_err(refusal) }
    };
    let reader = claims("reader", Role::National, &[SCOPE_READ], 600);
    assert_eq!(read_catalogue(as_reader(&reader)).await, Ok(()), "for every service");
    assert_eq!(read_aggregation(as_reader(&reader)).await, Ok(()), "for every service");

    // A token for aggregation alone: served there, refused at the catalogue.
    let aggregation_only = Claims { aud: AGGREGATION.into(), ..reader.clone() };
    assert_eq!(read_aggregation(as_reader(&aggregation_only)).await, Ok(()));
    unauthenticated(read_catalogue(as_reader(&aggregation_only)).await, "not for catalogue");
    // A token that names no audience (as tokens did before audiences) is for no one.
    let nobody = Claims { aud: String::new(), ..reader.clone() };
    unauthenticated(read_catalogue(as_reader(&nobody)).await, "not for catalogue");

    // Lifetimes: the longest `onestop-token issue --days` allows is accepted; a second more is not.
    let longest = claims("reader", Role::National, &[SCOPE_READ], MAX_PRINCIPAL_LIFETIME);
    assert_eq!(read_catalogue(as_reader(&longest)).await, Ok(()));
    let longer = Claims { exp: longest.exp + 1, ..longest };
    unauthenticated(read_catalogue(as_reader(&longer)).await, "longer than");
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
    let issuer = stack.keys().issuer.clone();
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
