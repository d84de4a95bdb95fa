//! The catalogue's change stream: every change, in commit order, resumable from a cursor, and live.

mod common;

use std::time::Duration;

use common::{start, Client};
use onestop_proto::catalogue::v1::watch_changes_response::Change;
use onestop_proto::catalogue::v1::*;
use onestop_testkit::fixtures::*;
use tokio_stream::StreamExt;

async fn read(client: &mut Client, after_cursor: u64, count: usize) -> Vec<WatchChangesResponse> {
    let mut stream = client.watch_changes(WatchChangesRequest { after_cursor }).await.unwrap().into_inner();
    let mut out = Vec::new();
    while out.len() < count {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
        out.push(next.expect("a change within 10 s").expect("the stream is open").expect("a change"));
    }
    out
}

fn kind(change: &WatchChangesResponse) -> &'static str {
    match change.change {
        Some(Change::Unit(_)) => "unit",
        Some(Change::Sector(_)) => "sector",
        Some(Change::Agency(_)) => "agency",
        Some(Change::Center(_)) => "center",
        Some(Change::Decision(_)) => "decision",
        Some(Change::CenterProcedures(_)) => "center_procedures",
        Some(Change::CalendarYear(_)) => "calendar_year",
        None => "none",
    }
}

#[tokio::test]
async fn every_change_in_order_resumable_and_live() {
    let Some(db) = onestop_testkit::database().await else { return };
    let (service, mut client) = start(db.url()).await; // loads two sectors
    client.upsert_units(UpsertUnitsRequest { units: units() }).await.unwrap();
    client.upsert_centers(UpsertCentersRequest { centers: centers() }).await.unwrap();
    client.publish_decision(PublishDecisionRequest { decision: Some(decision()) }).await.unwrap();
    // Writes that change nothing record nothing.
    client.upsert_units(UpsertUnitsRequest { units: units() }).await.unwrap();
    client.publish_decision(PublishDecisionRequest { decision: Some(decision()) }).await.unwrap();

    let all = read(&mut client, 0, 7).await;
    let kinds: Vec<&str> = all.iter().map(kind).collect();
    assert_eq!(kinds, ["sector", "sector", "unit", "unit", "center", "center", "decision"]);
    assert!(all.windows(2).all(|w| w[0].cursor < w[1].cursor), "cursors increase");
    match &all[6].change {
        Some(Change::Decision(d)) => assert_eq!(d, &decision()),
        other => panic!("expected the decision, got {other:?}"),
    }

    // Resuming after the fourth change gives the fifth onwards.
    let resumed = read(&mut client, all[3].cursor, 3).await;
    assert_eq!(
        resumed.iter().map(|c| c.cursor).collect::<Vec<_>>(),
        all[4..].iter().map(|c| c.cursor).collect::<Vec<_>>()
    );

    // A watcher at the end sees the next change when it commits.
    let mut watcher = client.clone();
    let last = all[6].cursor;
    let live = tokio::spawn(async move { read(&mut watcher, last, 1).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    client
        .set_center_procedures(SetCenterProceduresRequest {
            center_code: COMMUNE_CENTER.into(),
            effective_from: "2026-03-01".into(),
            procedure_codes: vec![FULL_PROCEDURE.into()],
            source: "QĐ 130".into(),
        })
        .await
        .unwrap();
    let seen = live.await.unwrap();
    assert_eq!(kind(&seen[0]), "center_procedures");
    assert!(seen[0].cursor > last);
    service.stop().await.unwrap();
}

#[tokio::test]
async fn concurrent_writers_never_make_a_watcher_skip_a_change() {
    let Some(db) = onestop_testkit::database().await else { return };
    let (service, client) = start(db.url()).await;
    let mut watcher = client.clone();
    let writers = 12;
    // Each writer adds sectors one request at a time; a watcher started first must see all of them in order.
    let watch = tokio::spawn(async move { read(&mut watcher, 2, writers * 5).await });
    let mut tasks = Vec::new();
    for w in 0..writers {
        let mut client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..5 {
                let sector = Sector { code: format!("S{w}-{i}"), name: format!("Sector {w}-{i}") };
                client.upsert_sectors(UpsertSectorsRequest { sectors: vec![sector] }).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let seen = watch.await.unwrap();
    let cursors: Vec<u64> = seen.iter().map(|c| c.cursor).collect();
    let expected: Vec<u64> = (3..3 + (writers * 5) as u64).collect();
    assert_eq!(cursors, expected, "no cursor skipped, none repeated");
    service.stop().await.unwrap();
}
