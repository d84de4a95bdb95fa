//! Provinces as tenants: each publishes its own decisions (two "125/QĐ-UBND" coexist), changes only its own units,
//! centers, lists and procedures, and keeps its own variants of the indicators; the national catalogue and
//! definitions need a national token; another province's attempt is PERMISSION_DENIED.

use onestop_auth::{claims, Claims, Role, SCOPE_DEFINE, SCOPE_PUBLISH, SCOPE_READ};
use onestop_proto::aggregation::v1::*;
use onestop_proto::catalogue::v1::*;
use onestop_server::auth::Credentials;
use onestop_server::client::{AggregationClient, CatalogueClient};
use onestop_system_tests::*;
use tonic::Code;

const OTHER_PROVINCE: &str = "47";
const OTHER_COMMUNE: &str = "20001";
const OTHER_CENTER: &str = "BPMC-20001";

struct Office {
    catalogue: CatalogueClient,
    aggregation: AggregationClient,
}

fn office(system: &TestSystem, province: &str) -> Office {
    let token = system.stack.keys().issuer.issue(&Claims {
        province: Some(province.into()),
        ..claims(&format!("vp-ubnd-{province}"), Role::Province, &[SCOPE_READ, SCOPE_PUBLISH, SCOPE_DEFINE], 600)
    });
    let credentials = Credentials::token(token);
    Office {
        catalogue: onestop_server::client::catalogue(&system.stack.catalogue_url(), None, &credentials).unwrap(),
        aggregation: onestop_server::client::aggregation(&system.stack.aggregation_url(), None, &credentials).unwrap(),
    }
}

fn decision(issuing_unit_code: &str, items: Vec<DecisionItem>) -> PublicationDecision {
    PublicationDecision {
        number: "125/QĐ-UBND".into(),
        signed_on: "2025-12-20".into(),
        issuer: "Chủ tịch UBND tỉnh".into(),
        effective_from: "2026-01-01".into(),
        items,
        issuing_unit_code: issuing_unit_code.into(),
    }
}

fn new_item(code: &str) -> DecisionItem {
    DecisionItem {
        action: DecisionAction::New as i32,
        procedure: Some(procedure(code, &format!("Thủ tục {code}"), OnlineLevel::Full)),
        replaces_code: String::new(),
    }
}

fn abolish(code: &str) -> DecisionItem {
    DecisionItem {
        action: DecisionAction::Abolished as i32,
        procedure: Some(procedure(code, "", OnlineLevel::Full)),
        replaces_code: String::new(),
    }
}

fn denied<T: std::fmt::Debug>(answer: Result<T, tonic::Status>, what: &str) -> tonic::Status {
    let status = answer.expect_err(what);
    assert_eq!(status.code(), Code::PermissionDenied, "{what}: {status:?}");
    status
}

#[tokio::test]
async fn provinces_publish_change_and_define_only_their_own() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    // A second province, with a commune and its center, made by the nation.
    let mut national = system.stack.catalogue_client();
    let units = vec![
        AdministrativeUnit {
            code: OTHER_PROVINCE.into(),
            name: "Tỉnh Khác".into(),
            level: UnitLevel::Province as i32,
            valid_from: "2025-07-01".into(),
            ..Default::default()
        },
        AdministrativeUnit {
            code: OTHER_COMMUNE.into(),
            name: "Xã Khác".into(),
            level: UnitLevel::Commune as i32,
            parent_code: OTHER_PROVINCE.into(),
            valid_from: "2025-07-01".into(),
            ..Default::default()
        },
    ];
    national.upsert_units(UpsertUnitsRequest { units }).await.unwrap();
    let mut ours = office(&system, PROVINCE);
    let mut theirs = office(&system, OTHER_PROVINCE);

    // A province makes its own center; not one under another province's commune.
    let center = |code: &str, unit: &str| Center {
        code: code.into(),
        name: format!("Bộ phận Một cửa {code}"),
        unit_code: unit.into(),
        kind: CenterKind::Local as i32,
        parent_center_code: String::new(),
    };
    theirs
        .catalogue
        .upsert_centers(UpsertCentersRequest { centers: vec![center(OTHER_CENTER, OTHER_COMMUNE)] })
        .await
        .unwrap();
    let intrusion = theirs.catalogue.upsert_centers(UpsertCentersRequest { centers: vec![center("BPMC-X", COMMUNE)] });
    let status = denied(intrusion.await, "a center under another province's commune");
    assert!(status.message().contains("centers[0].unit_code"), "{}", status.message());
    let unit_elsewhere = AdministrativeUnit {
        code: "19999".into(),
        name: "Xã Lạ".into(),
        level: UnitLevel::Commune as i32,
        parent_code: PROVINCE.into(),
        valid_from: "2025-07-01".into(),
        ..Default::default()
    };
    denied(theirs.catalogue.upsert_units(UpsertUnitsRequest { units: vec![unit_elsewhere] }).await, "a unit in 46");
    denied(
        theirs.catalogue.set_center_procedures(center_procedures(COMMUNE_CENTER)).await,
        "another province's center list",
    );
    let sector = Sector { code: "XD".into(), name: "Xây dựng".into() };
    denied(theirs.catalogue.upsert_sectors(UpsertSectorsRequest { sectors: vec![sector] }).await, "sectors");

    // Two provinces' "125/QĐ-UBND" coexist, each with its own procedures.
    let ours_125 = decision(PROVINCE, vec![new_item("2.000001.000.00.00.H46")]);
    let theirs_125 = decision(OTHER_PROVINCE, vec![new_item("2.000001.000.00.00.H47")]);
    let published = ours.catalogue.publish_decision(PublishDecisionRequest { decision: Some(ours_125.clone()) });
    assert!(published.await.unwrap().get_ref().applied);
    let published = theirs.catalogue.publish_decision(PublishDecisionRequest { decision: Some(theirs_125.clone()) });
    let published = published.await.unwrap().into_inner();
    assert!(published.applied);
    for (issuer, expected) in [(PROVINCE, &ours_125), (OTHER_PROVINCE, &theirs_125)] {
        let stored = national
            .get_decision(GetDecisionRequest { number: "125/QĐ-UBND".into(), issuing_unit_code: issuer.into() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stored.decision.as_ref(), Some(expected), "{issuer}'s decision");
    }

    // Each province's catalogue is the nation's and its own: a commune of 46 counts the three national
    // procedures and 46's, not 47's (3 of 4 online, where every province's together would give 4 of 5).
    let offered_online = |office: &mut Office, unit: &str| {
        let mut aggregation = office.aggregation.clone();
        let request = GetIndicatorsRequest {
            unit_code: unit.into(),
            period: Some(DayRange { from_day: "2026-03-01".into(), to_day: "2026-03-31".into() }),
            indicator_ids: vec!["procedures_offered_online".into()],
            min_catalogue_cursor: published.cursor,
            ..Default::default()
        };
        async move {
            let result = aggregation.get_indicators(request).await.unwrap().into_inner().indicators.remove(0);
            (result.numerator, result.denominator)
        }
    };
    assert_eq!(offered_online(&mut ours, COMMUNE).await, (3, 4), "46's commune");
    assert_eq!(offered_online(&mut theirs, OTHER_COMMUNE).await, (3, 4), "47's commune");

    // The nation, by province, for a national reader: each province as it answers for itself, with its own
    // catalogue; a province may not read the nation.
    let mut operator =
        Office { catalogue: system.stack.catalogue_client(), aggregation: system.stack.aggregation_client() };
    let nation = GetIndicatorsRequest {
        unit_code: "VN".into(),
        period: Some(DayRange { from_day: "2026-03-01".into(), to_day: "2026-03-31".into() }),
        indicator_ids: vec!["procedures_offered_online".into()],
        breakdown: Breakdown::ChildUnit as i32,
        min_catalogue_cursor: published.cursor,
        ..Default::default()
    };
    let by_province = operator.aggregation.get_indicators(nation.clone()).await.unwrap().into_inner();
    let group = |code: &str| {
        let group = by_province.groups.iter().find(|g| g.key == code).unwrap_or_else(|| panic!("no group {code}"));
        (group.indicators[0].numerator, group.indicators[0].denominator)
    };
    assert_eq!(group(PROVINCE), offered_online(&mut ours, PROVINCE).await, "46 in the nation's answer");
    assert_eq!(group(OTHER_PROVINCE), offered_online(&mut theirs, OTHER_PROVINCE).await, "47 in the nation's answer");
    assert_eq!(by_province.groups.iter().find(|g| g.key == OTHER_PROVINCE).unwrap().name, "Tỉnh Khác");
    assert!(by_province.center_codes.contains(&OTHER_CENTER.to_string()), "{:?}", by_province.center_codes);
    assert!(by_province.center_codes.contains(&COMMUNE_CENTER.to_string()), "{:?}", by_province.center_codes);
    denied(ours.aggregation.get_indicators(nation).await, "the nation, for a province");

    // Nobody publishes in another's name, or changes what another published.
    let forged = decision(PROVINCE, vec![new_item("2.000002.000.00.00.H46")]);
    denied(
        theirs.catalogue.publish_decision(PublishDecisionRequest { decision: Some(forged) }).await,
        "a decision in another province's name",
    );
    let national_decision =
        PublicationDecision { number: "9/QĐ-BNV".into(), ..decision("", vec![new_item("1.999999")]) };
    denied(
        ours.catalogue.publish_decision(PublishDecisionRequest { decision: Some(national_decision) }).await,
        "a national decision by a province",
    );
    let take_over = PublicationDecision {
        number: "126/QĐ-UBND".into(),
        effective_from: "2026-06-01".into(),
        ..decision(OTHER_PROVINCE, vec![abolish("2.000001.000.00.00.H46")])
    };
    let status = denied(
        theirs.catalogue.publish_decision(PublishDecisionRequest { decision: Some(take_over) }).await,
        "abolishing another province's procedure",
    );
    assert!(status.message().contains("province 46"), "{}", status.message());
    let national_procedure = PublicationDecision {
        number: "127/QĐ-UBND".into(),
        effective_from: "2026-06-01".into(),
        ..decision(PROVINCE, vec![abolish(FULL_PROCEDURE)])
    };
    denied(
        ours.catalogue.publish_decision(PublishDecisionRequest { decision: Some(national_procedure) }).await,
        "abolishing a national procedure",
    );

    // A province's own variant of an indicator answers for it alone.
    let variant = IndicatorDefinition {
        id: "online_case_share".into(),
        numerator: "received_online".into(),
        denominator: "received_direct + received_online + received_postal".into(),
        description: "Tỷ lệ hồ sơ trực tuyến (chỉ tiêu của tỉnh)".into(),
        target: Some(0.77),
        scope_unit_code: PROVINCE.into(),
        ..Default::default()
    };
    let defined =
        ours.aggregation.define_indicator(DefineIndicatorRequest { definition: Some(variant.clone()) }).await.unwrap();
    assert!(defined.get_ref().created);
    denied(
        theirs.aggregation.define_indicator(DefineIndicatorRequest { definition: Some(variant.clone()) }).await,
        "another province's variant",
    );
    let national_variant = IndicatorDefinition { scope_unit_code: String::new(), ..variant };
    denied(
        ours.aggregation.define_indicator(DefineIndicatorRequest { definition: Some(national_variant) }).await,
        "the nation's definition",
    );
    let target_for = |office: &mut Office, unit: &str| {
        let mut aggregation = office.aggregation.clone();
        let unit = unit.to_owned();
        async move {
            let answer = aggregation
                .get_indicators(GetIndicatorsRequest {
                    unit_code: unit,
                    period: Some(DayRange { from_day: "2026-03-01".into(), to_day: "2026-03-31".into() }),
                    indicator_ids: vec!["online_case_share".into()],
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            answer.indicators[0].target
        }
    };
    assert_eq!(target_for(&mut ours, PROVINCE).await, Some(0.77), "46 answers with its own variant");
    assert_eq!(target_for(&mut ours, COMMUNE).await, Some(0.77), "and so do its communes");
    assert_ne!(target_for(&mut theirs, OTHER_PROVINCE).await, Some(0.77), "47 answers with the nation's");
    let scopes_seen = |office: &mut Office| {
        let mut aggregation = office.aggregation.clone();
        async move {
            let listed = aggregation
                .list_indicator_definitions(ListIndicatorDefinitionsRequest::default())
                .await
                .unwrap()
                .into_inner();
            let mut scopes: Vec<String> = listed
                .definitions
                .into_iter()
                .filter(|d| d.id == "online_case_share")
                .map(|d| d.scope_unit_code)
                .collect();
            scopes.sort();
            scopes
        }
    };
    assert_eq!(scopes_seen(&mut ours).await, ["46"], "a province sees its variant in place of the nation's");
    assert_eq!(scopes_seen(&mut theirs).await, [""], "and another province the nation's only");
    assert_eq!(scopes_seen(&mut operator).await, ["", "46"], "a national reader sees both");
}
