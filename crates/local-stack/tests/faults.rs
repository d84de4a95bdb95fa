//! Faults the system must come through: the run command killed with SIGKILL in the middle of a bulk push and
//! started again on the same database, and its PostgreSQL cluster stopped and started again under pushes.
//! Across both, what intake acknowledged stays stored, no batch is stored in part, re-sending is harmless, calls
//! during an outage end UNAVAILABLE without waiting out their deadline, and aggregation's totals end equal to
//! intake's cells, every change applied exactly once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use onestop_local::{Addresses, Stack};
use onestop_localdb::{Durability, Lifetime, LocalCluster, StopMode};
use onestop_proto::aggregation::v1::{DayRange, GetIndicatorsRequest};
use onestop_proto::catalogue::v1::*;
use onestop_proto::intake::v1::*;
use onestop_server::auth::Credentials;
use onestop_server::client::{self, AggregationClient, CatalogueClient, IntakeClient};
use onestop_server::config::ServerArgs;
use onestop_testkit::fixtures::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// A cell's identity: center, procedure, day.
type Key = (String, String, String);

/// Every (center, procedure) pair of the fixture province.
const PAIRS: [(&str, &str); 6] = [
    (COMMUNE_CENTER, FULL_PROCEDURE),
    (COMMUNE_CENTER, PARTIAL_PROCEDURE),
    (COMMUNE_CENTER, OFFLINE_PROCEDURE),
    (PROVINCIAL_CENTER, FULL_PROCEDURE),
    (PROVINCIAL_CENTER, PARTIAL_PROCEDURE),
    (PROVINCIAL_CENTER, OFFLINE_PROCEDURE),
];

/// The indicators compared between aggregation and intake's cells: each a plain sum of flow measures.
const INDICATORS: [&str; 3] = ["online_case_share", "on_time_rate_form06", "postal_return_share"];

/// Every day cells may be pushed for: 2026 (the fixture's procedures are in force from its first day, and its
/// calendar covers it) up to yesterday in Vietnam, since a day in the future is refused.
fn push_days() -> Vec<String> {
    let first = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let yesterday = onestop_domain::today_in_vietnam(chrono::Utc::now()) - chrono::Duration::days(1);
    let last = yesterday.min(chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap());
    assert!(last - first >= chrono::Duration::days(200), "too few days of 2026 are in the past to push");
    first.iter_days().take_while(|day| *day <= last).map(|day| day.to_string()).collect()
}

/// Measures told apart by `mark`: `received_direct` is `mark` itself, so a stored cell shows which push it
/// came from.
fn marked_measures(mark: u64) -> Measures {
    let mark = mark as i64;
    Measures {
        received_direct: mark,
        received_online: mark % 4 + 1,
        received_postal: mark % 2,
        resolved_early: 1,
        resolved_on_time: mark % 3 + 1,
        resolved_late: mark % 2,
        results_returned_by_post: 1,
        ..Default::default()
    }
}

fn cell(center: &str, procedure: &str, day: &str, measures: Measures) -> DailyCell {
    DailyCell {
        center_code: center.into(),
        procedure_code: procedure.into(),
        day: day.into(),
        measures: Some(measures),
        computed_at: None,
    }
}

fn key_of(cell: &DailyCell) -> Key {
    (cell.center_code.clone(), cell.procedure_code.clone(), cell.day.clone())
}

fn push_of(cells: Vec<DailyCell>) -> PushCellsRequest {
    PushCellsRequest { sender: "egov-46".into(), cells, ..Default::default() }
}

/// Loads the fixture province through the catalogue: units, sectors, centers, agencies, the decision of three
/// procedures, what each center receives, and the 2025–2026 calendars.
async fn load_province(catalogue: &mut CatalogueClient) {
    catalogue.upsert_units(UpsertUnitsRequest { units: units() }).await.unwrap();
    catalogue.upsert_sectors(UpsertSectorsRequest { sectors: sectors() }).await.unwrap();
    catalogue.upsert_centers(UpsertCentersRequest { centers: centers() }).await.unwrap();
    catalogue.upsert_agencies(UpsertAgenciesRequest { agencies: agencies() }).await.unwrap();
    catalogue.publish_decision(PublishDecisionRequest { decision: Some(decision()) }).await.unwrap();
    for center in [COMMUNE_CENTER, PROVINCIAL_CENTER] {
        catalogue.set_center_procedures(center_procedures(center)).await.unwrap();
    }
    let calendar = onestop_generator::calendar::to_csv([2025, 2026]);
    catalogue.load_calendar_csv(LoadCalendarCsvRequest { content: calendar.into_bytes() }).await.unwrap();
}

/// Every cell intake holds for the fixture's centers over `days`.
async fn stored_cells(intake: &mut IntakeClient, days: &[String]) -> BTreeMap<Key, Measures> {
    let mut stored = BTreeMap::new();
    let mut page_token = String::new();
    loop {
        let page = intake
            .list_cells(ListCellsRequest {
                center_codes: vec![COMMUNE_CENTER.into(), PROVINCIAL_CENTER.into()],
                procedure_codes: vec![],
                from_day: days[0].clone(),
                to_day: days[days.len() - 1].clone(),
                page_size: 10_000,
                page_token,
                ..Default::default()
            })
            .await
            .expect("listing stored cells")
            .into_inner();
        for cell in page.cells {
            let measures = cell.measures.expect("a stored cell has measures");
            stored.insert(key_of(&cell), measures);
        }
        if page.next_page_token.is_empty() {
            return stored;
        }
        page_token = page.next_page_token;
    }
}

/// Numerator and denominator of each compared indicator.
type Totals = BTreeMap<String, (u64, u64)>;

/// The compared indicators summed over `cells` as their definitions say.
fn totals_of(cells: &BTreeMap<Key, Measures>) -> Totals {
    let sum = |of: fn(&Measures) -> i64| cells.values().map(|m| of(m) as u64).sum::<u64>();
    let received = sum(|m| m.received_direct + m.received_online + m.received_postal);
    let resolved = sum(|m| m.resolved_early + m.resolved_on_time + m.resolved_late);
    BTreeMap::from([
        ("online_case_share".to_owned(), (sum(|m| m.received_online), received)),
        ("on_time_rate_form06".to_owned(), (sum(|m| m.resolved_early + m.resolved_on_time), resolved)),
        ("postal_return_share".to_owned(), (sum(|m| m.results_returned_by_post), resolved)),
    ])
}

/// Aggregation's answer for the province over `days`.
async fn aggregation_totals(aggregation: &mut AggregationClient, days: &[String]) -> Result<Totals, tonic::Status> {
    let answer = aggregation
        .get_indicators(GetIndicatorsRequest {
            unit_code: PROVINCE.into(),
            period: Some(DayRange { from_day: days[0].clone(), to_day: days[days.len() - 1].clone() }),
            indicator_ids: INDICATORS.iter().map(|id| id.to_string()).collect(),
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(answer.indicators.into_iter().map(|i| (i.indicator_id, (i.numerator, i.denominator))).collect())
}

/// Waits until aggregation's totals for the province equal those of intake's `cells`. Its roll-ups follow
/// intake's change stream, so they may lag, but a change applied twice or never would leave them off for good.
async fn assert_aggregation_converges(aggregation: &mut AggregationClient, cells: &BTreeMap<Key, Measures>) {
    let days: Vec<String> = {
        let mut days: Vec<String> = cells.keys().map(|(_, _, day)| day.clone()).collect();
        days.sort();
        days.dedup();
        days
    };
    let expected = totals_of(cells);
    let limit = Duration::from_secs(60);
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < limit {
        match aggregation_totals(aggregation, &days).await {
            Ok(totals) if totals == expected => return,
            seen => last = Some(seen),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("aggregation's totals did not come to intake's within {limit:?}: expected {expected:?}, last {last:?}");
}

/// Polls `probe` every 50 ms until it holds, failing with `what` after `limit`; returns how long it took.
async fn wait_for<F, Fut>(what: &str, limit: Duration, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if probe().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let dir = std::env::temp_dir().join(format!("onestop-faults-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ----- The run command killed mid-stream -----

/// Cells per batch: two days of every (center, procedure) pair.
const DAYS_PER_BATCH: usize = 2;
const CELLS_PER_BATCH: usize = DAYS_PER_BATCH * PAIRS.len();

/// Each kill: how many acknowledgements to receive first, then how long to wait, to land at different points
/// of the batch being stored.
const KILLS: [(usize, Duration); 3] =
    [(1, Duration::ZERO), (20, Duration::from_millis(3)), (41, Duration::from_millis(12))];

/// The batches a bulk push sends, in order, each of its own days and told apart by its own mark.
fn bulk_batches(days: &[String]) -> Vec<PushCellsRequest> {
    days.chunks_exact(DAYS_PER_BATCH)
        .enumerate()
        .map(|(index, batch_days)| {
            let measures = marked_measures(index as u64 + 1);
            let cells = batch_days
                .iter()
                .flat_map(|day| PAIRS.iter().map(move |(center, procedure)| (center, procedure, day)))
                .map(|(center, procedure, day)| cell(center, procedure, day, measures))
                .collect();
            push_of(cells)
        })
        .collect()
}

/// The run command, `onestop-local`, as a process of its own on a given database.
struct RunCommand {
    process: tokio::process::Child,
    catalogue_url: String,
    intake_url: String,
    aggregation_url: String,
    operator: Credentials,
}

impl RunCommand {
    /// Starts the run command on `database_url`, keeping its keys and token in `data_dir`, every service on a
    /// free port, and waits until it says it is ready. Its log goes to `data_dir/run-<start>.log`.
    async fn start(database_url: &str, data_dir: &Path, start: usize) -> RunCommand {
        let log_path = data_dir.join(format!("run-{start}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut process = tokio::process::Command::new(env!("CARGO_BIN_EXE_onestop-local"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--catalogue-addr", "127.0.0.1:0", "--intake-addr", "127.0.0.1:0"])
            .args(["--aggregation-addr", "127.0.0.1:0", "--health-check-interval-ms", "200"])
            .env("DATABASE_URL", database_url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("starting onestop-local");
        let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
        let mut urls = BTreeMap::new();
        let ready = tokio::time::timeout(Duration::from_secs(90), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.starts_with("ready;") {
                    return true;
                }
                if let Some((service, url)) = line.split_once(':').filter(|(_, rest)| rest.contains("http://")) {
                    urls.insert(service.to_owned(), url.trim().to_owned());
                }
            }
            false
        })
        .await;
        if ready != Ok(true) {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("onestop-local did not get ready ({ready:?}); its log:\n{log}");
        }
        let token = std::fs::read_to_string(data_dir.join("operator-token")).expect("the operator token");
        RunCommand {
            process,
            catalogue_url: urls.remove("catalogue").expect("the catalogue's URL"),
            intake_url: urls.remove("intake").expect("intake's URL"),
            aggregation_url: urls.remove("aggregation").expect("aggregation's URL"),
            operator: Credentials::token(token.trim()),
        }
    }

    fn catalogue(&self) -> CatalogueClient {
        client::catalogue(&self.catalogue_url, None, &self.operator).unwrap()
    }

    fn intake(&self) -> IntakeClient {
        client::intake(&self.intake_url, None, &self.operator).unwrap()
    }

    fn aggregation(&self) -> AggregationClient {
        client::aggregation(&self.aggregation_url, None, &self.operator).unwrap()
    }

    /// SIGKILL: no shutdown, no last word to the database or to clients.
    async fn kill(mut self) {
        self.process.kill().await.expect("killing onestop-local");
    }
}

/// Each round pushes its own share of the batches over one stream without waiting for answers, kills the run
/// command after some acknowledgements, starts it again on the same database, and holds intake's cells to the
/// PushCellsStream contract before re-sending every unacknowledged batch.
#[tokio::test]
async fn a_bulk_push_survives_sigkill_of_the_run_command_and_a_restart() {
    let Some(database) = onestop_testkit::database().await else { return };
    let data_dir = TempDir::new("sigkill");
    let days = push_days();
    let batches = bulk_batches(&days);
    let per_round = batches.len() / KILLS.len();
    let sent_cells = |batches: &[PushCellsRequest]| -> BTreeMap<Key, Measures> {
        batches.iter().flat_map(|b| &b.cells).map(|c| (key_of(c), c.measures.unwrap())).collect()
    };

    let mut run = RunCommand::start(database.url(), data_dir.path(), 0).await;
    load_province(&mut run.catalogue()).await;
    for (round, (acks_before_kill, then)) in KILLS.into_iter().enumerate() {
        let first = round * per_round;
        let round_batches = &batches[first..first + per_round];
        let outgoing: Vec<PushCellsStreamRequest> =
            round_batches.iter().map(|b| PushCellsStreamRequest { batch: Some(b.clone()) }).collect();
        let mut answers = run.intake().push_cells_stream(tokio_stream::iter(outgoing)).await.unwrap().into_inner();
        for _ in 0..acks_before_kill {
            let ack = answers.message().await.unwrap().expect("an acknowledgement");
            assert_eq!(ack.batch.unwrap().accepted, CELLS_PER_BATCH as u32);
        }
        tokio::time::sleep(then).await;
        run.kill().await;
        // Answers already on their way before the kill are acknowledgements too.
        let mut acknowledged = acks_before_kill;
        let drain = Duration::from_secs(10);
        while let Ok(Some(ack)) = tokio::time::timeout(drain, answers.message()).await.expect("the cut stream ends") {
            assert_eq!(ack.batch.unwrap().accepted, CELLS_PER_BATCH as u32);
            acknowledged += 1;
        }
        assert!(acknowledged < per_round, "round {round}: every batch was answered before the kill");

        run = RunCommand::start(database.url(), data_dir.path(), round + 1).await;
        let mut intake = run.intake();
        let stored = stored_cells(&mut intake, &days).await;
        let sent = sent_cells(&batches[..first + per_round]);
        for (key, measures) in &stored {
            let sent = sent.get(key).unwrap_or_else(|| panic!("round {round}: {key:?} is stored but was never sent"));
            assert_eq!(measures, sent, "round {round}: {key:?} is stored with other measures than sent");
        }
        for earlier in &batches[..first] {
            assert!(earlier.cells.iter().all(|c| stored.contains_key(&key_of(c))), "an earlier round's cell is lost");
        }
        let mut stored_whole = Vec::new();
        for (index, batch) in round_batches.iter().enumerate() {
            let kept = batch.cells.iter().filter(|c| stored.contains_key(&key_of(c))).count();
            assert!(
                kept == 0 || kept == CELLS_PER_BATCH,
                "round {round}: batch {index} is stored in part, {kept} of {CELLS_PER_BATCH} cells"
            );
            assert!(index >= acknowledged || kept == CELLS_PER_BATCH, "round {round}: acknowledged batch {index} lost");
            stored_whole.push(kept == CELLS_PER_BATCH);
        }
        let in_doubt_stored = stored_whole[acknowledged..].iter().filter(|s| **s).count();
        eprintln!(
            "round {round}: killed after {acknowledged} of {per_round} acknowledgements; {in_doubt_stored} more \
             batches stored whole, the others not at all"
        );

        // Re-sending every unacknowledged batch: the stored ones come back UNCHANGED, the others ACCEPTED.
        let resent: Vec<PushCellsStreamRequest> =
            round_batches[acknowledged..].iter().map(|b| PushCellsStreamRequest { batch: Some(b.clone()) }).collect();
        let mut answers = intake.push_cells_stream(tokio_stream::iter(resent)).await.unwrap().into_inner();
        let mut index = acknowledged;
        while let Some(ack) = answers.message().await.expect("re-sent batches are answered") {
            let expected = if stored_whole[index] { CellOutcome::Unchanged } else { CellOutcome::Accepted };
            let answer = ack.batch.unwrap();
            assert_eq!(answer.results.len(), CELLS_PER_BATCH);
            for result in &answer.results {
                assert_eq!(result.outcome, expected as i32, "round {round}: re-sent batch {index}: {result:?}");
            }
            index += 1;
        }
        assert_eq!(index, per_round, "every re-sent batch is answered");
        let stored = stored_cells(&mut intake, &days).await;
        assert_eq!(stored, sent, "round {round}: after re-sending, intake holds exactly what was sent");
        assert_aggregation_converges(&mut run.aggregation(), &stored).await;
    }
    run.kill().await;
    drop(database);
}

// ----- The database stopped and started again under pushes -----

const PUSHERS: usize = 3;
/// Each call's deadline, enforced by the client: a call that reaches it has hung.
const CALL_DEADLINE: Duration = Duration::from_secs(5);
/// How long health may take to follow the database, either way.
const HEALTH_LIMIT: Duration = Duration::from_secs(5);

/// One push call as a pusher saw it.
#[derive(Debug)]
struct Attempt {
    pusher: usize,
    started: Instant,
    took: Duration,
    /// Whether an earlier attempt of the same push failed.
    retry: bool,
    outcome: Result<(), tonic::Status>,
}

/// What every pusher did, and the measures intake acknowledged for each cell, latest last.
#[derive(Default)]
struct PushLog {
    attempts: Vec<Attempt>,
    acknowledged: BTreeMap<Key, Measures>,
}

impl PushLog {
    fn count(&self, pusher: usize, since: Instant, succeeded: bool) -> usize {
        self.attempts
            .iter()
            .filter(|a| a.pusher == pusher && a.started >= since && a.outcome.is_ok() == succeeded)
            .count()
    }
}

/// Pushes one batch after another of its own two (center, procedure) pairs, a day at a time and round the
/// year again as corrections, each push marked with its own number. A failed push is retried until answered, as
/// one-stop software does, so every push ends acknowledged; `stop` is looked at only between pushes.
async fn pusher(
    pusher: usize,
    mut intake: IntakeClient,
    days: Vec<String>,
    log: Arc<Mutex<PushLog>>,
    stop: Arc<AtomicBool>,
) {
    let pairs = &PAIRS[pusher * 2..pusher * 2 + 2];
    for number in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let day = &days[number % days.len()];
        let measures = marked_measures((number * PUSHERS + pusher + 1) as u64);
        let cells: Vec<DailyCell> = pairs.iter().map(|(c, p)| cell(c, p, day, measures)).collect();
        let mut retry = false;
        loop {
            let started = Instant::now();
            let answer = intake.push_cells(push_of(cells.clone())).await;
            let took = started.elapsed();
            let outcome = match answer {
                // UNCHANGED only when an attempt that failed had stored the cells after all.
                Ok(answer) if answered_as_expected(&answer.get_ref().results, retry) => Ok(()),
                Ok(answer) => Err(tonic::Status::internal(format!("unexpected answer: {:?}", answer.get_ref()))),
                Err(status) => Err(status),
            };
            let code = outcome.as_ref().err().map(tonic::Status::code);
            {
                let mut record = log.lock().unwrap();
                if code.is_none() {
                    for cell in &cells {
                        record.acknowledged.insert(key_of(cell), measures);
                    }
                }
                record.attempts.push(Attempt { pusher, started, took, retry, outcome });
            }
            match code {
                None => break,
                Some(Code::Unavailable) => retry = true,
                // Recorded, and failed by the checks of the log.
                Some(_) => return,
            }
            // A client's pause before retrying, so that an outage is not a busy loop.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Whether every cell of a push was stored: ACCEPTED, or UNCHANGED on a retry.
fn answered_as_expected(results: &[CellResult], retry: bool) -> bool {
    let stored = |r: &CellResult| {
        r.outcome == CellOutcome::Accepted as i32 || (retry && r.outcome == CellOutcome::Unchanged as i32)
    };
    !results.is_empty() && results.iter().all(stored)
}

/// Every failed call ended UNAVAILABLE before its deadline: none hung, none was INTERNAL.
fn assert_failures_were_prompt_and_unavailable(log: &Mutex<PushLog>) {
    // Formatted under the lock and asserted after it, so that a failure does not poison the senders' lock.
    let bad: Vec<String> = log
        .lock()
        .unwrap()
        .attempts
        .iter()
        .filter(|a| matches!(&a.outcome, Err(status) if status.code() != Code::Unavailable || a.took >= CALL_DEADLINE))
        .map(|a| format!("{a:?}"))
        .collect();
    assert!(bad.is_empty(), "calls that did not end UNAVAILABLE within their deadline: {bad:#?}");
}

/// A server's health as a whole, or `None` when it does not answer.
async fn health(addr: SocketAddr) -> Option<ServingStatus> {
    let endpoint =
        tonic::transport::Endpoint::from_shared(format!("http://{addr}")).ok()?.timeout(Duration::from_secs(1));
    let mut client = HealthClient::new(endpoint.connect_lazy());
    let answer = client.check(HealthCheckRequest { service: String::new() }).await.ok()?;
    ServingStatus::try_from(answer.into_inner().status).ok()
}

/// Waits until every service reports `wanted`.
async fn wait_for_health(addresses: &Addresses, wanted: ServingStatus) {
    let services = [addresses.catalogue, addresses.intake, addresses.aggregation];
    wait_for(&format!("every service reports {wanted:?}"), HEALTH_LIMIT * 3, || async move {
        for addr in services {
            if health(addr).await != Some(wanted) {
                return false;
            }
        }
        true
    })
    .await;
}

/// Calls of each service made while the database is away end UNAVAILABLE at once.
async fn assert_calls_are_refused_promptly(stack: &Stack, days: &[String]) {
    let operator = stack.operator();
    let mut intake = client::intake(&stack.intake_url(), Some(CALL_DEADLINE), operator).unwrap();
    let mut catalogue = client::catalogue(&stack.catalogue_url(), Some(CALL_DEADLINE), operator).unwrap();
    let mut aggregation = client::aggregation(&stack.aggregation_url(), Some(CALL_DEADLINE), operator).unwrap();
    let check = |what: &str, started: Instant, outcome: Result<(), tonic::Status>| {
        let took = started.elapsed();
        let status = outcome.err().unwrap_or_else(|| panic!("{what} succeeded without a database"));
        assert_eq!(status.code(), Code::Unavailable, "{what}: {status:?}");
        assert!(took < Duration::from_secs(2), "{what} took {took:?} to be refused");
    };
    let started = Instant::now();
    let push =
        intake.push_cells(push_of(vec![cell(COMMUNE_CENTER, FULL_PROCEDURE, &days[0], marked_measures(1))])).await;
    check("PushCells", started, push.map(drop));
    let started = Instant::now();
    check("ListCells", started, stored_cells_once(&mut intake, days).await);
    let started = Instant::now();
    check("ListSectors", started, catalogue.list_sectors(ListSectorsRequest {}).await.map(drop));
    let started = Instant::now();
    check("GetIndicators", started, aggregation_totals(&mut aggregation, days).await.map(drop));
}

/// One page of intake's cells, for a call whose failure is expected.
async fn stored_cells_once(intake: &mut IntakeClient, days: &[String]) -> Result<(), tonic::Status> {
    let request = ListCellsRequest {
        center_codes: vec![COMMUNE_CENTER.into()],
        from_day: days[0].clone(),
        to_day: days[days.len() - 1].clone(),
        ..Default::default()
    };
    intake.list_cells(request).await.map(drop)
}

/// Three senders push without pause while the cluster is stopped, fast and then immediately (a crash), and
/// started again each time: health follows the database, calls end UNAVAILABLE within their deadline, pushes
/// succeed again once it is back, and in the end intake holds exactly what it acknowledged and aggregation's
/// totals equal intake's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_come_through_the_database_stopping_and_starting_again() {
    if onestop_localdb::find_bin_dir().is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI is set but there are no PostgreSQL binaries to start a cluster");
        eprintln!("skipping: no PostgreSQL binaries to start a cluster of the test's own");
        return;
    }
    let dir = TempDir::new("outage");
    // Started on this thread, which the test keeps until its end, so the server dies with the test whatever
    // happens (the runtime's own threads may come and go).
    let mut cluster =
        LocalCluster::start(&dir.path().join("pgdata"), Lifetime::DiesWithParentThread, Durability::Throwaway).unwrap();
    onestop_localdb::ensure_database(&cluster, "onestop").unwrap();
    let mut server = ServerArgs::for_database(cluster.url("onestop"));
    server.health_check_interval_ms = 200;
    let stack = Stack::start_with(server, Addresses::any_free_port()).await.unwrap();
    load_province(&mut stack.catalogue_client()).await;
    let days = push_days();

    let log = Arc::new(Mutex::new(PushLog::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let pushers: Vec<_> = (0..PUSHERS)
        .map(|p| {
            let intake = client::intake(&stack.intake_url(), Some(CALL_DEADLINE), stack.operator()).unwrap();
            tokio::spawn(pusher(p, intake, days.clone(), log.clone(), stop.clone()))
        })
        .collect();
    let every_pusher = |since: Instant, succeeded: bool, at_least: usize| {
        let log = log.clone();
        move || {
            let log = log.clone();
            async move {
                // A sender that met something else than UNAVAILABLE has stopped: say so rather than wait for it.
                assert_failures_were_prompt_and_unavailable(&log);
                let log = log.lock().unwrap();
                (0..PUSHERS).all(|p| log.count(p, since, succeeded) >= at_least)
            }
        }
    };
    let started = Instant::now();
    wait_for("every sender pushes", Duration::from_secs(30), every_pusher(started, true, 5)).await;

    for mode in [StopMode::Fast, StopMode::Immediate] {
        cluster.stop_with(mode);
        let stopped = Instant::now();
        wait_for_health(&stack.addresses, ServingStatus::NotServing).await;
        let not_serving = stopped.elapsed();
        assert!(not_serving < HEALTH_LIMIT, "{mode:?}: NOT_SERVING only after {not_serving:?}");
        let noticed = Instant::now();
        wait_for("every sender fails during the outage", Duration::from_secs(20), every_pusher(noticed, false, 2))
            .await;
        assert_calls_are_refused_promptly(&stack, &days).await;
        assert_failures_were_prompt_and_unavailable(&log);

        cluster.restart().unwrap();
        let restarted = Instant::now();
        wait_for_health(&stack.addresses, ServingStatus::Serving).await;
        let serving = restarted.elapsed();
        assert!(serving < HEALTH_LIMIT, "{mode:?}: SERVING again only after {serving:?}");
        wait_for("every sender pushes again", Duration::from_secs(30), every_pusher(restarted, true, 5)).await;
        eprintln!(
            "{mode:?} stop: NOT_SERVING after {not_serving:?}, down {:?}, SERVING {serving:?} after the restart",
            restarted - stopped
        );
    }

    stop.store(true, Ordering::SeqCst);
    for pusher in pushers {
        tokio::time::timeout(Duration::from_secs(30), pusher).await.expect("a sender finishes its push").unwrap();
    }
    assert_failures_were_prompt_and_unavailable(&log);
    let log = Arc::try_unwrap(log).ok().unwrap().into_inner().unwrap();
    let failed = log.attempts.iter().filter(|a| a.outcome.is_err()).count();
    let answered_on_retry = log.attempts.iter().filter(|a| a.retry && a.outcome.is_ok()).count();
    eprintln!("{} push calls: {failed} refused, {answered_on_retry} answered on a retry", log.attempts.len());

    let stored = stored_cells(&mut stack.intake_client(), &days).await;
    assert_eq!(stored, log.acknowledged, "intake holds exactly the last acknowledged measures of every cell");
    assert_aggregation_converges(&mut stack.aggregation_client(), &stored).await;
    stack.shutdown().await.unwrap();
    drop(cluster);
}
