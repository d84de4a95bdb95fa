//! Under load, with the default settings: 64 one-stop systems pushing at once are all served (none waits out the
//! connection pool), health stays SERVING throughout, and long-lived streams are capped per principal without
//! stopping anyone else.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use onestop_auth::{claims, Role, SCOPE_FOLLOW, SCOPE_PUSH, SCOPE_READ};
use onestop_proto::catalogue::v1::{Center, CenterKind, SetCenterProceduresRequest, UpsertCentersRequest};
use onestop_proto::intake::v1::*;
use onestop_server::auth::Credentials;
use onestop_system_tests::*;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const PUSHERS: usize = 64;
const PUSHES_EACH: usize = 8;
const CELLS_PER_PUSH: usize = 100;

fn center_code(i: usize) -> String {
    format!("BPMC-LOAD-{i:02}")
}

/// A push of 100 cells of `center`: its three procedures over 34 days, starting `first_day` days into 2026.
fn push_of(center: &str, first_day: usize) -> PushCellsRequest {
    let procedures = [FULL_PROCEDURE, PARTIAL_PROCEDURE, OFFLINE_PROCEDURE];
    let cells = (0..CELLS_PER_PUSH)
        .map(|i| {
            let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
                + chrono::Duration::days((first_day + i / 3) as i64);
            DailyCell {
                center_code: center.into(),
                procedure_code: procedures[i % 3].into(),
                day: day.to_string(),
                measures: Some(Measures { received_online: 2, received_direct: 1, ..Default::default() }),
                computed_at: None,
            }
        })
        .collect();
    PushCellsRequest { sender: format!("vendor-{center}"), cells, ..Default::default() }
}

// On worker threads like a service's own runtime (two, as the reference machine has cores): on the test's default
// single thread, the three services, 64 pushers and the health probes all share one thread, and one batch that
// aggregation applies in an unoptimised build (summing a few thousand changes into its roll-ups and stock changes)
// held it for over a second, which the 1 s health checks counted as NOT_SERVING.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_systems_pushing_at_once_are_all_served_and_health_stays_serving() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut catalogue = system.stack.catalogue_client();
    let centers: Vec<Center> = (0..PUSHERS)
        .map(|i| Center {
            code: center_code(i),
            name: format!("Bộ phận Một cửa {i}"),
            unit_code: COMMUNE.into(),
            kind: CenterKind::Local as i32,
            parent_center_code: String::new(),
        })
        .collect();
    catalogue.upsert_centers(UpsertCentersRequest { centers }).await.unwrap();
    for i in 0..PUSHERS {
        let list = SetCenterProceduresRequest { center_code: center_code(i), ..center_procedures(COMMUNE_CENTER) };
        catalogue.set_center_procedures(list).await.unwrap();
    }

    // Health of every service, asked every 50 ms while the pushes run.
    let running = Arc::new(AtomicBool::new(true));
    let not_serving = Arc::new(AtomicUsize::new(0));
    let checks = Arc::new(AtomicUsize::new(0));
    let mut watchers = Vec::new();
    for url in [system.stack.intake_url(), system.stack.catalogue_url(), system.stack.aggregation_url()] {
        let (running, not_serving, checks) = (running.clone(), not_serving.clone(), checks.clone());
        let channel = tonic::transport::Endpoint::from_shared(url).unwrap().connect_lazy();
        watchers.push(tokio::spawn(async move {
            let mut health = HealthClient::new(channel);
            while running.load(Ordering::Relaxed) {
                let mut request = tonic::Request::new(HealthCheckRequest { service: String::new() });
                request.set_timeout(Duration::from_secs(1));
                let serving = matches!(
                    health.check(request).await,
                    Ok(answer) if answer.get_ref().status == ServingStatus::Serving as i32
                );
                checks.fetch_add(1, Ordering::Relaxed);
                if !serving {
                    not_serving.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }

    // 64 systems, each with its own credential for its own center, pushing 100 cells at a time.
    let issuer = system.stack.keys().issuer.clone();
    let mut pushers = Vec::new();
    for i in 0..PUSHERS {
        let token = issuer.issue(&onestop_auth::Claims {
            centers: vec![center_code(i)],
            ..claims(&format!("vendor-{i}"), Role::Software, &[SCOPE_PUSH], 600)
        });
        let mut intake = onestop_server::client::intake(&system.stack.intake_url(), None, &Credentials::token(token))
            .expect("a valid URL");
        pushers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for p in 0..PUSHES_EACH {
                match intake.push_cells(push_of(&center_code(i), p * 34)).await {
                    Ok(answer) => assert_eq!(answer.get_ref().accepted as usize, CELLS_PER_PUSH),
                    Err(status) => failures.push(status.code()),
                }
            }
            failures
        }));
    }
    let mut failures = Vec::new();
    for pusher in pushers {
        failures.extend(pusher.await.unwrap());
    }
    running.store(false, Ordering::Relaxed);
    for watcher in watchers {
        watcher.await.unwrap();
    }
    assert_eq!(failures, Vec::<Code>::new(), "every push is served");
    assert!(checks.load(Ordering::Relaxed) > 10, "health was asked throughout");
    assert_eq!(not_serving.load(Ordering::Relaxed), 0, "health never left SERVING");
}

#[tokio::test]
async fn one_principal_past_its_stream_cap_is_refused_while_another_is_served() {
    let Some(system) = TestSystem::start().await else { return };
    let issuer = system.stack.keys().issuer.clone();
    let follower = |name: &str| {
        let token = issuer.issue(&claims(name, Role::National, &[SCOPE_FOLLOW, SCOPE_READ], 600));
        onestop_server::client::intake(&system.stack.intake_url(), None, &Credentials::token(token))
            .expect("a valid URL")
    };
    let mut greedy = follower("greedy");
    let cap = onestop_server::config::ServerArgs::for_database("").max_streams_per_principal;
    let mut open = Vec::new();
    for _ in 0..cap {
        open.push(greedy.watch_changes(WatchChangesRequest::default()).await.unwrap().into_inner());
    }
    let refused = greedy.watch_changes(WatchChangesRequest::default()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("greedy"), "{}", refused.message());

    // Someone else is served meanwhile.
    let mut modest = follower("modest");
    modest.watch_changes(WatchChangesRequest::default()).await.unwrap();

    // Closing one stream makes room for another.
    drop(open.pop());
    let reopened = eventually(|| {
        let mut greedy = greedy.clone();
        async move { greedy.watch_changes(WatchChangesRequest::default()).await.ok() }
    })
    .await;
    drop(reopened);
}

#[tokio::test]
async fn a_service_calling_for_its_callers_is_not_held_to_one_principals_rate() {
    // A low limit: each principal 20 calls at once, then one a second.
    let Some(system) = TestSystem::start_with_province_configured(|server| {
        server.auth.rate_limit_per_second = 1.0;
        server.auth.rate_limit_burst = 20.0;
    })
    .await
    else {
        return;
    };
    // Forty systems push once each: every push makes intake call the catalogue, forty calls as intake.
    let issuer = system.stack.keys().issuer.clone();
    let mut pushes = Vec::new();
    for i in 0..40 {
        let token = issuer.issue(&onestop_auth::Claims {
            centers: vec![COMMUNE_CENTER.into()],
            ..claims(&format!("vendor-{i}"), Role::Software, &[SCOPE_PUSH], 600)
        });
        let mut intake = onestop_server::client::intake(&system.stack.intake_url(), None, &Credentials::token(token))
            .expect("a valid URL");
        let day = (chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap() + chrono::Duration::days(i)).to_string();
        let cell = DailyCell {
            center_code: COMMUNE_CENTER.into(),
            procedure_code: FULL_PROCEDURE.into(),
            day,
            measures: Some(Measures { received_online: 1, ..Default::default() }),
            computed_at: None,
        };
        pushes.push(tokio::spawn(async move {
            intake
                .push_cells(PushCellsRequest { sender: format!("vendor-{i}"), cells: vec![cell], ..Default::default() })
                .await
                .map(|answer| answer.into_inner().accepted)
                .map_err(|status| status.code())
        }));
    }
    for push in pushes {
        assert_eq!(push.await.unwrap(), Ok(1));
    }
}
