//! Aggregation's stored indicator definitions against a fresh PostgreSQL database: variants are data, each a
//! new version, and malformed ones are refused naming the field.

use onestop_aggregation::{definitions, MIGRATOR, SCHEMA};
use onestop_domain::{Facts, Measure, Measures, PeriodTotals};
use onestop_proto::aggregation::v1::{
    DefineIndicatorRequest, DisplayUnit, IndicatorDefinition, ListIndicatorDefinitionsRequest,
};
use onestop_server::config::ServerArgs;
use onestop_server::db;

/// A national operator, who defines the nation's indicators.
fn national() -> onestop_server::auth::Principal {
    onestop_server::auth::Principal {
        subject: "operator".into(),
        role: onestop_server::auth::Role::National,
        centers: Default::default(),
        province: None,
        unit: None,
        agency: None,
        scopes: Default::default(),
    }
}

#[tokio::test]
async fn definitions_are_data_and_the_latest_version_wins() {
    let Some(database) = onestop_testkit::database().await else {
        return;
    };
    let pool =
        db::connect_and_migrate(&ServerArgs::for_database(database.url()), SCHEMA, &MIGRATOR, db::Plans::PerCall)
            .await
            .unwrap();

    let seeded = definitions::latest(&pool, &definitions::Scopes::Nation).await.unwrap();
    let ids: Vec<&str> = seeded.definitions.iter().map(|d| d.id.as_str()).collect();
    for id in [
        "online_case_share",
        "full_online_case_share",
        "postal_filing_share",
        "postal_return_share",
        "on_time_rate_form06",
        "on_time_rate_766",
        "late_rate_gia_lai",
        "procedures_offered_online",
        "procedures_offered_fully_online",
        "procedures_with_online_cases",
        "apology_coverage",
        "apology_timeliness",
        "reporting_completeness",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
        // Every seeded indicator reads as an office names it, in Vietnamese and in English, as a per cent.
        let presentation = &seeded.presentations[id];
        assert!(!presentation.label_vi.is_empty() && !presentation.label_en.is_empty(), "{id}: {presentation:?}");
        assert_eq!(presentation.display_unit, DisplayUnit::Percent, "{id}");
        assert_eq!(presentation.lower_is_better, id == "late_rate_gia_lai", "{id}");
    }

    // A province counts withdrawn cases as resolved: a new version of the form-06 rate, without code.
    let variant = IndicatorDefinition {
        id: "on_time_rate_form06".into(),
        numerator: "resolved_early + resolved_on_time".into(),
        denominator: "resolved_early+resolved_on_time + resolved_late + withdrawn_or_returned".into(),
        description: "variant counting withdrawn cases".into(),
        target: Some(0.95),
        max_points: Some(10.0),
        ..Default::default()
    };
    let stored = definitions::define(&pool, &national(), DefineIndicatorRequest { definition: Some(variant.clone()) })
        .await
        .unwrap();
    assert!(stored.created);
    assert_eq!(stored.definition.as_ref().unwrap().version, 2);
    assert_eq!(
        stored.definition.unwrap().denominator,
        "resolved_early + resolved_on_time + resolved_late + withdrawn_or_returned",
        "stored in canonical form"
    );
    let again =
        definitions::define(&pool, &national(), DefineIndicatorRequest { definition: Some(variant) }).await.unwrap();
    assert!(!again.created, "the same definition again stores nothing");
    assert_eq!(again.definition.unwrap().version, 2);

    let latest = definitions::latest(&pool, &definitions::Scopes::Nation).await.unwrap();
    let form06 = latest.definitions.iter().find(|d| d.id == "on_time_rate_form06").unwrap();
    let facts: Facts = PeriodTotals {
        measures: Measures::default()
            .with(Measure::ResolvedEarly, 2)
            .with(Measure::ResolvedOnTime, 6)
            .with(Measure::ResolvedLate, 1)
            .with(Measure::WithdrawnOrReturned, 1),
        carried_over: 0,
    }
    .into();
    let result = form06.evaluate(&facts);
    assert_eq!((result.definition_version, result.numerator, result.denominator), (2, 8, 10));
    assert_eq!(result.target, Some(0.95));
    let score = result.score.unwrap();
    assert!((score - 10.0 * (0.8 / 0.95)).abs() < 1e-9, "766 rule: P × min(1, R / T), got {score}");

    let all =
        definitions::list(&pool, &national(), ListIndicatorDefinitionsRequest { all_versions: true }).await.unwrap();
    let versions: Vec<u32> =
        all.definitions.iter().filter(|d| d.id == "on_time_rate_form06").map(|d| d.version).collect();
    assert_eq!(versions, [1, 2], "every version is kept");

    let bad = IndicatorDefinition {
        id: "broken".into(),
        numerator: "received_online".into(),
        denominator: "received_everything".into(),
        description: "x".into(),
        target: Some(1.5),
        ..Default::default()
    };
    let error =
        definitions::define(&pool, &national(), DefineIndicatorRequest { definition: Some(bad) }).await.unwrap_err();
    let status = tonic::Status::from(error);
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("definition.denominator"), "{}", status.message());
    assert!(status.message().contains("definition.target"), "{}", status.message());
    assert!(
        definitions::latest(&pool, &definitions::Scopes::Nation)
            .await
            .unwrap()
            .definitions
            .iter()
            .all(|d| d.id != "broken"),
        "nothing stored from a refused definition"
    );
}
