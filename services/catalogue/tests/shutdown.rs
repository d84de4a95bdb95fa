//! The catalogue binary, stopped by a signal while a call is in flight, finishes that call before it exits.

use std::time::{Duration, Instant};

use onestop_proto::catalogue::v1::{PublishDecisionRequest, UpsertSectorsRequest};
use onestop_testkit::fixtures::{decision, sectors};
use sqlx::{Connection, PgConnection};
use tokio::process::Command;

async fn in_flight_call_survives(signal: &str) {
    let Some(db) = onestop_testkit::database().await else {
        return;
    };
    let port = onestop_localdb::free_port().unwrap();
    let keys = onestop_server::auth::SystemKeys::generate();
    let operator = keys.operator();
    let mut service = Command::new(env!("CARGO_BIN_EXE_onestop-catalogue"))
        .env("DATABASE_URL", db.url())
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .envs(keys.environment(onestop_server::auth::CATALOGUE).iter().map(|(name, value)| (name, value.expose())))
        .kill_on_drop(true)
        .spawn()
        .expect("starting onestop-catalogue");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut client = loop {
        if onestop_local_probe(&url).await {
            break onestop_server::client::catalogue(&url, None, &operator).unwrap();
        }
        assert!(Instant::now() < deadline, "onestop-catalogue did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    client.upsert_sectors(UpsertSectorsRequest { sectors: sectors() }).await.unwrap();

    // Hold the lock every catalogue write takes, so the call below stays in flight until we let it go.
    let mut blocker = PgConnection::connect(db.url()).await.unwrap();
    let mut hold = blocker.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('catalogue.write'))").execute(&mut *hold).await.unwrap();
    let call =
        tokio::spawn(
            async move { client.publish_decision(PublishDecisionRequest { decision: Some(decision()) }).await },
        );
    tokio::time::sleep(Duration::from_millis(500)).await;

    let pid = service.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args([signal, &pid]).status().unwrap().success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(service.try_wait().unwrap().is_none(), "the service must wait for the call in flight");
    assert!(!call.is_finished());

    hold.rollback().await.unwrap();
    let answer = call.await.unwrap().expect("the in-flight call is answered");
    assert!(answer.get_ref().applied);
    let status = tokio::time::timeout(Duration::from_secs(10), service.wait()).await.unwrap().unwrap();
    assert!(status.success(), "exited with {status}");
}

#[tokio::test]
async fn sigterm_finishes_in_flight_calls() {
    in_flight_call_survives("-TERM").await;
}

#[tokio::test]
async fn sigint_finishes_in_flight_calls() {
    in_flight_call_survives("-INT").await;
}

/// Whether something accepts gRPC connections at `url` yet.
async fn onestop_local_probe(url: &str) -> bool {
    tonic::transport::Endpoint::from_shared(url.to_owned()).unwrap().connect().await.is_ok()
}
