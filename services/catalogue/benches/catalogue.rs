//! Catalogue benchmark: publishing a 2,000-item decision, and as-of queries on a published province catalogue.
//!
//!     cargo bench -p onestop-catalogue --bench catalogue
//!
//! Uses `DATABASE_URL` when set (a fresh database per round), else a throwaway cluster from the local
//! PostgreSQL binaries. Prints one line per measurement: p50, p95 and max over the rounds.

use std::time::{Duration, Instant};

use onestop_catalogue::{run, Config};
use onestop_generator::catalogue::province_catalogue;
use onestop_proto::catalogue::v1::*;
use onestop_server::config::ServerArgs;
use onestop_testkit::RunningService;

const PUBLISH_ROUNDS: usize = 5;
const QUERY_ROUNDS: usize = 40;

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what:<58} p50 {:>8.1} ms   p95 {:>8.1} ms   max {:>8.1} ms   (n={})",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(at(1.0)),
        samples.len()
    );
}

async fn time<T, F: std::future::Future<Output = T>>(f: F) -> (T, Duration) {
    let started = Instant::now();
    let out = f.await;
    (out, started.elapsed())
}

#[tokio::main]
async fn main() {
    let catalogue = province_catalogue(2026, 2000);
    let first = catalogue.first_decision().clone();
    println!(
        "catalogue benchmark: {} procedures in the first decision, {} decisions",
        first.items.len(),
        catalogue.decisions.len()
    );

    let mut publish = Vec::new();
    let mut kept = None;
    for round in 0..PUBLISH_ROUNDS {
        let db = onestop_testkit::database().await.expect("a database (set DATABASE_URL or install PostgreSQL)");
        let keys = onestop_server::auth::SystemKeys::generate();
        let mut server = ServerArgs::for_database(db.url());
        keys.install(onestop_server::auth::CATALOGUE, &mut server.auth);
        let operator = keys.operator();
        let service = RunningService::spawn(|listener, shutdown| run(Config { server }, listener, shutdown)).await;
        let client = onestop_server::client::catalogue(&service.url(), None, &operator).unwrap();
        let mut client = client.max_decoding_message_size(256 << 20);
        client.upsert_sectors(UpsertSectorsRequest { sectors: catalogue.sectors.clone() }).await.unwrap();
        let (result, took) =
            time(client.publish_decision(PublishDecisionRequest { decision: Some(first.clone()) })).await;
        assert!(result.unwrap().get_ref().applied);
        publish.push(took);
        if round + 1 == PUBLISH_ROUNDS {
            for decision in &catalogue.decisions[1..] {
                client.publish_decision(PublishDecisionRequest { decision: Some(decision.clone()) }).await.unwrap();
            }
            kept = Some((db, service, client));
        } else {
            service.stop().await.unwrap();
        }
    }
    report("PublishDecision, 2,000 NEW items", publish);

    let (_db, service, mut client) = kept.expect("the last round's catalogue");
    let codes: Vec<String> = first.items.iter().map(|i| i.procedure.as_ref().unwrap().code.clone()).collect();
    let (mut list, mut get, mut count, mut full) = (vec![], vec![], vec![], vec![]);
    for _ in 0..QUERY_ROUNDS {
        let request = ListProceduresRequest { as_of: "2025-06-30".into(), page_size: 5000, ..Default::default() };
        let (answer, took) = time(client.list_procedures(request)).await;
        assert!(answer.unwrap().get_ref().procedures.len() > 1900);
        list.push(took);
        let request = ListProceduresRequest {
            as_of: "2026-06-30".into(),
            online_level: OnlineLevel::Full as i32,
            page_size: 5000,
            ..Default::default()
        };
        let (answer, took) = time(client.list_procedures(request)).await;
        assert!(!answer.unwrap().get_ref().procedures.is_empty());
        full.push(took);
        let request = GetProceduresRequest { codes: codes.clone(), as_of: "2025-06-30".into() };
        let (answer, took) = time(client.get_procedures(request)).await;
        assert!(answer.unwrap().get_ref().procedures.len() > 1800);
        get.push(took);
        let (answer, took) =
            time(client.count_procedures(CountProceduresRequest { as_of: "2025-06-30".into(), ..Default::default() }))
                .await;
        assert!(!answer.unwrap().get_ref().counts.is_empty());
        count.push(took);
    }
    report("ListProcedures as of a date, whole catalogue (~2,010)", list);
    report("ListProcedures as of a date, FULL online only", full);
    report("GetProcedures, 2,000 codes as of a date", get);
    report("CountProcedures by level, sector, online level", count);
    service.stop().await.unwrap();
}
