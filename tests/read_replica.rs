//! Reads scale out on PostgreSQL's own streaming replication: an aggregation service given a hot standby's URL
//! answers from it, and an answer asked for a cursor waits until the standby has replayed it.

use std::time::Duration;

use onestop_localdb::{Durability, Lifetime, LocalCluster};
use onestop_proto::aggregation::v1::*;
use onestop_proto::intake::v1::PushCellsRequest;
use onestop_server::client::AggregationClient;
use onestop_server::config::{DatabaseUrl, ServerArgs};
use onestop_system_tests::model::random_cells;
use onestop_system_tests::*;
use onestop_testkit::RunningService;
use sqlx::{Connection, PgConnection};

/// A primary cluster of the test's own (a standby needs its primary's write-ahead log), or `None` to skip.
fn primary_cluster(dir: &std::path::Path) -> Option<LocalCluster> {
    match LocalCluster::start(&dir.join("primary"), Lifetime::DiesWithParentThread, Durability::Throwaway) {
        Ok(cluster) => Some(cluster),
        Err(error) if std::env::var_os("CI").is_some() => panic!("CI is set but no cluster could start: {error:#}"),
        Err(error) => {
            eprintln!("skipping: no PostgreSQL binaries to start a primary and its standby ({error:#})");
            None
        }
    }
}

/// Each indicator's (id, numerator, denominator), and the cursor the answer is fresh to.
async fn ask(
    client: &mut AggregationClient,
    cursor: &str,
    wait: Duration,
) -> Result<(Vec<(String, u64, u64)>, String), tonic::Status> {
    let mut request = tonic::Request::new(GetIndicatorsRequest {
        unit_code: PROVINCE.into(),
        period: Some(DayRange { from_day: "2026-03-01".into(), to_day: "2026-03-31".into() }),
        min_intake_cursor: cursor.into(),
        ..Default::default()
    });
    request.set_timeout(wait);
    let answer = client.get_indicators(request).await?.into_inner();
    let figures = answer.indicators.iter().map(|r| (r.indicator_id.clone(), r.numerator, r.denominator)).collect();
    Ok((figures, answer.freshness.unwrap_or_default().intake_cursor))
}

#[tokio::test]
async fn answers_come_from_a_streaming_replica_and_wait_for_its_replay() {
    let dir = std::env::temp_dir().join(format!("onestop-replica-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let Some(primary) = primary_cluster(&dir) else { return };
    let primary_url = primary.url("postgres");
    let url = primary_url.clone();
    let Some(system) =
        TestSystem::start_with_province_configured(move |server| server.database_url = DatabaseUrl::new(url)).await
    else {
        return;
    };
    let mut intake = system.stack.intake_client();
    let mut push = async |seed| {
        let cells = random_cells(seed, &[COMMUNE_CENTER], &[FULL_PROCEDURE, PARTIAL_PROCEDURE], "2026-03-01", 31);
        let pushed = intake
            .push_cells(PushCellsRequest { sender: "egov-46".into(), cells, ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(pushed.rejected, 0);
        pushed.cursor
    };
    let first_cursor = push(1).await;
    let mut primary_reader = system.stack.aggregation_client();
    let (before, _) = ask(&mut primary_reader, &first_cursor, Duration::from_secs(30)).await.unwrap();

    // A hot standby of the primary, and an aggregation service that reads from it (and writes to the primary).
    let standby = LocalCluster::start_standby_of(
        &primary,
        &dir.join("standby"),
        Lifetime::DiesWithParentThread,
        Durability::Throwaway,
    )
    .expect("a standby from pg_basebackup");
    let mut server = ServerArgs::for_database(&primary_url);
    system.stack.keys().install(onestop_server::auth::AGGREGATION, &mut server.auth);
    let config = onestop_aggregation::Config {
        server,
        catalogue_url: system.stack.catalogue_url(),
        intake_url: system.stack.intake_url(),
        read_database_url: Some(DatabaseUrl::new(standby.url("postgres"))),
    };
    let replica_service =
        RunningService::spawn(|listener, shutdown| onestop_aggregation::run(config, listener, shutdown)).await;
    let mut replica_reader =
        onestop_server::client::aggregation(&replica_service.url(), None, system.stack.operator()).unwrap();
    let (from_standby, _) = ask(&mut replica_reader, &first_cursor, Duration::from_secs(30)).await.unwrap();
    assert_eq!(from_standby, before, "the standby answers as the primary does");

    // The standby stops replaying: the primary moves on, the standby's answers cannot include the new push.
    let mut standby_db = PgConnection::connect(&standby.url("postgres")).await.unwrap();
    sqlx::query("SELECT pg_wal_replay_pause()").execute(&mut standby_db).await.unwrap();
    let second_cursor = push(2).await;
    let (after, fresh_to) = ask(&mut primary_reader, &second_cursor, Duration::from_secs(30)).await.unwrap();
    assert_ne!(after, before, "the second push changes the figures");
    let refused = ask(&mut replica_reader, &second_cursor, Duration::from_millis(800)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("min_intake_cursor"), "{}", refused.message());
    // Without a cursor the standby answers at once, from what it has replayed.
    let (stale, _) = ask(&mut replica_reader, "", Duration::from_secs(5)).await.unwrap();
    assert_eq!(stale, before, "a paused standby still has the first push only");

    // Replaying again, the standby includes the push and answers exactly as the primary did.
    sqlx::query("SELECT pg_wal_replay_resume()").execute(&mut standby_db).await.unwrap();
    let (caught_up, replica_fresh_to) =
        ask(&mut replica_reader, &second_cursor, Duration::from_secs(30)).await.unwrap();
    assert_eq!(caught_up, after);
    assert!(!replica_fresh_to.is_empty() && !fresh_to.is_empty());

    replica_service.stop().await.unwrap();
    drop(standby_db);
    system.stack.shutdown().await.unwrap();
    drop(standby);
    drop(primary);
    let _ = std::fs::remove_dir_all(&dir);
}
