//! Concurrent pushers: N one-stop systems at once, each its own principal (a software token for its own center),
//! each making a bounded number of unary `PushCells` calls of 100 cells not yet stored, against the services'
//! default settings; then, on the same server, N PostgreSQL connections doing the same work in plain SQL: one
//! transaction per 100 rows, `INSERT … ON CONFLICT DO NOTHING` into a plain table with the same key.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use onestop_auth::{claims, Claims, Role, SCOPE_PUSH};
use onestop_generator::province::{commune_center, Province, PROVINCE_YEAR};
use onestop_proto::intake::v1::{DailyCell, PushCellsRequest};
use onestop_server::auth::Credentials;
use sqlx::{Connection, PgConnection};
use tokio::sync::Barrier;

use crate::catch_up;
use crate::load;
use crate::services::{Processes, RateLimit};
use crate::suite::thousands;
use crate::timing::Timings;

/// Cells in each call, and rows in each baseline transaction.
pub const CELLS_PER_CALL: usize = 100;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Numbers of pushers at once, one run each; every run's pushers push for centers of their own.
    #[arg(long, value_delimiter = ',', default_value = "8,64")]
    pushers: Vec<usize>,
    /// Calls each pusher makes, of 100 new cells each.
    #[arg(long, default_value_t = 30)]
    calls: usize,
}

/// What one side (gRPC or plain SQL) of one run did.
pub struct Side {
    /// Calls (transactions) that succeeded, and their latencies.
    pub latencies: Timings,
    /// Cells (rows) stored.
    pub stored: u64,
    /// From the moment every pusher was ready to the last answer.
    pub took: Duration,
}

impl Side {
    pub fn calls_per_second(&self) -> f64 {
        self.latencies.runs() as f64 / self.took.as_secs_f64()
    }

    pub fn cells_per_second(&self) -> f64 {
        self.stored as f64 / self.took.as_secs_f64()
    }
}

/// The calls answered with one code other than OK.
#[derive(Debug, Default)]
pub struct Failures {
    /// How long each took to be answered.
    pub latencies: Vec<Duration>,
    /// The message of the first, as an example.
    pub message: String,
}

/// A gRPC code as the protocol spells it (`UNAVAILABLE`, `DEADLINE_EXCEEDED`).
fn code_name(code: tonic::Code) -> String {
    let mut name = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// The figures of one number of pushers.
pub struct PusherFigures {
    pub pushers: usize,
    pub calls: usize,
    pub grpc: Side,
    /// Calls answered with another code than OK, by code.
    pub failures: BTreeMap<String, Failures>,
    /// Cells of successful calls that came back other than ACCEPTED.
    pub not_accepted: u64,
    pub plain_sql: Side,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let figures = measure(&args).await?;
    print_table(&figures);
    Ok(())
}

/// Each run of `args`, on a fresh database with the 1x province's reference data and services of their own.
pub async fn measure(args: &Args) -> anyhow::Result<Vec<PusherFigures>> {
    anyhow::ensure!(args.calls > 0, "--calls must be at least 1");
    let first: NaiveDate = "2025-01-01".parse()?;
    let province = Province::new(46, PROVINCE_YEAR);
    let needed: usize = args.pushers.iter().sum();
    anyhow::ensure!(
        needed <= province.size.communes,
        "the runs need {needed} centers of their own; the province has {} communes",
        province.size.communes
    );
    // Each run's pushers push for the next communes' centers, so every cell pushed is new.
    let mut runs = Vec::new();
    let mut next = 0;
    for &pushers in &args.pushers {
        runs.push((next..next + pushers).map(commune_center).collect::<Vec<_>>());
        next += pushers;
    }
    let cells = cells_of(&province, first, runs.iter().flatten(), args.calls * CELLS_PER_CALL)?;

    let db = onestop_testkit::database().await.ok_or_else(|| anyhow::anyhow!("no database"))?;
    let system = Processes::start(db.url(), RateLimit::Default).await?;
    load::reference_data(&system, &province, first).await?;
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(db.url()).await?;
    let mut figures = Vec::new();
    for centers in &runs {
        // Each run starts with the system at rest: the previous run's changes applied.
        catch_up::wait_until_applied(&pool).await?;
        let batches: Vec<Vec<Vec<DailyCell>>> = centers.iter().map(|c| calls_of(&cells[c])).collect();
        let (grpc, failures, not_accepted) = push(&system, centers, &batches).await?;
        println!("{} pushers: {} cells/s over gRPC", centers.len(), thousands(grpc.cells_per_second()));
        for (code, failed) in &failures {
            let median = Timings::new(failed.latencies.clone()).ms(0.5);
            let count = failed.latencies.len();
            println!("  {count} calls {code}, answered in {median:.1} ms (p50), such as: {}", failed.message);
        }
        figures.push(PusherFigures {
            pushers: centers.len(),
            calls: args.calls,
            grpc,
            failures,
            not_accepted,
            plain_sql: Side { latencies: Timings::default(), stored: 0, took: Duration::ZERO },
        });
    }
    catch_up::wait_until_applied(&pool).await?;
    pool.close().await;
    // The baseline runs with the services stopped: their pools would otherwise hold connections that 64 more
    // may not fit beside (PostgreSQL's default max_connections is 100), and PostgreSQL has the machine alone.
    system.stop().await?;
    for (figures, centers) in figures.iter_mut().zip(&runs) {
        let batches: Vec<Vec<Vec<DailyCell>>> = centers.iter().map(|c| calls_of(&cells[c])).collect();
        figures.plain_sql = plain_sql(db.url(), &batches).await?;
        let rate = thousands(figures.plain_sql.cells_per_second());
        println!("{} connections: {rate} rows/s in plain SQL", centers.len());
    }
    drop(db);
    Ok(figures)
}

/// The first `wanted` cells of each of `centers` from `first` on, in day order.
fn cells_of<'a>(
    province: &Province,
    first: NaiveDate,
    centers: impl Iterator<Item = &'a String>,
    wanted: usize,
) -> anyhow::Result<HashMap<String, Vec<DailyCell>>> {
    let mut cells: HashMap<String, Vec<DailyCell>> = centers.map(|c| (c.clone(), Vec::new())).collect();
    for day in province.activity(first, 365) {
        for cell in day.cells {
            if let Some(of_center) = cells.get_mut(&cell.center_code) {
                if of_center.len() < wanted {
                    of_center.push(cell);
                }
            }
        }
        if cells.values().all(|c| c.len() == wanted) {
            return Ok(cells);
        }
    }
    let short = cells.iter().find(|(_, c)| c.len() < wanted).map(|(center, c)| (center.clone(), c.len()));
    let (center, had) = short.expect("some center is short");
    anyhow::bail!("{center} has {had} cells in the year, fewer than the {wanted} its pusher needs")
}

fn calls_of(cells: &[DailyCell]) -> Vec<Vec<DailyCell>> {
    cells.chunks(CELLS_PER_CALL).map(<[DailyCell]>::to_vec).collect()
}

/// One pusher per center, each with its own token and connection, all starting at once; each makes its calls
/// one after another, going on after a failure. Returns the gRPC side (successful calls), the failures by code
/// and the cells not accepted.
async fn push(
    system: &Processes,
    centers: &[String],
    batches: &[Vec<Vec<DailyCell>>],
) -> anyhow::Result<(Side, BTreeMap<String, Failures>, u64)> {
    let ready = Arc::new(Barrier::new(centers.len() + 1));
    let mut pushers = Vec::new();
    for (center, calls) in centers.iter().zip(batches) {
        let token = system.issuer().issue(&Claims {
            centers: vec![center.clone()],
            ..claims(&format!("vendor-{center}"), Role::Software, &[SCOPE_PUSH], 3600)
        });
        let mut intake = onestop_server::client::intake(&system.intake_url(), None, &Credentials::token(token))?;
        let (ready, calls, sender) = (ready.clone(), calls.clone(), format!("vendor-{center}"));
        pushers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(calls.len());
            let (mut failures, mut accepted, mut not_accepted) = (Vec::new(), 0u64, 0u64);
            ready.wait().await;
            for cells in calls {
                let request = PushCellsRequest { sender: sender.clone(), cells, ..Default::default() };
                let count = request.cells.len() as u64;
                let started = Instant::now();
                match intake.push_cells(request).await {
                    Ok(answer) => {
                        latencies.push(started.elapsed());
                        accepted += u64::from(answer.get_ref().accepted);
                        not_accepted += count - u64::from(answer.get_ref().accepted);
                    }
                    Err(status) => failures.push((status, started.elapsed())),
                }
            }
            (latencies, failures, accepted, not_accepted)
        }));
    }
    ready.wait().await;
    let started = Instant::now();
    let (mut latencies, mut failures, mut stored, mut not_accepted) =
        (Vec::new(), BTreeMap::<String, Failures>::new(), 0, 0);
    for pusher in pushers {
        let (times, codes, accepted, refused) = pusher.await?;
        latencies.extend(times);
        for (status, took) in codes {
            let failed = failures.entry(code_name(status.code())).or_default();
            if failed.latencies.is_empty() {
                failed.message = status.message().to_owned();
            }
            failed.latencies.push(took);
        }
        stored += accepted;
        not_accepted += refused;
    }
    let took = started.elapsed();
    Ok((Side { latencies: Timings::new(latencies), stored, took }, failures, not_accepted))
}

/// One transaction of 100 rows, as column arrays.
struct Rows {
    text: [Vec<String>; 2],
    day: Vec<NaiveDate>,
    measures: [Vec<i64>; 11],
}

fn rows_of(cells: &[DailyCell]) -> anyhow::Result<Rows> {
    let mut rows = Rows { text: Default::default(), day: Vec::new(), measures: Default::default() };
    for cell in cells {
        let m = cell.measures.unwrap_or_default();
        rows.text[0].push(cell.center_code.clone());
        rows.text[1].push(cell.procedure_code.clone());
        rows.day.push(cell.day.parse()?);
        let values = [
            m.received_direct,
            m.received_online,
            m.received_postal,
            m.resolved_early,
            m.resolved_on_time,
            m.resolved_late,
            m.withdrawn_or_returned,
            m.results_returned_by_post,
            m.apology_notices_issued,
            m.pending_in_time,
            m.pending_overdue,
        ];
        for (column, value) in rows.measures.iter_mut().zip(values) {
            column.push(value);
        }
    }
    Ok(rows)
}

const BASELINE_INSERT: &str = "
    INSERT INTO pushers_baseline
    SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
                         $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[],
                         $14::bigint[])
    ON CONFLICT DO NOTHING";

/// The same calls as plain SQL: one connection per pusher, opened beforehand, each call one transaction of an
/// `INSERT … ON CONFLICT DO NOTHING` into a fresh plain table with the same key.
async fn plain_sql(database_url: &str, batches: &[Vec<Vec<DailyCell>>]) -> anyhow::Result<Side> {
    let mut setup = PgConnection::connect(database_url).await?;
    sqlx::query("DROP TABLE IF EXISTS pushers_baseline").execute(&mut setup).await?;
    sqlx::query(
        "CREATE TABLE pushers_baseline (center_code text, procedure_code text, day date, received_direct bigint,
         received_online bigint, received_postal bigint, resolved_early bigint, resolved_on_time bigint,
         resolved_late bigint, withdrawn_or_returned bigint, results_returned_by_post bigint,
         apology_notices_issued bigint, pending_in_time bigint, pending_overdue bigint,
         PRIMARY KEY (center_code, day, procedure_code))",
    )
    .execute(&mut setup)
    .await?;
    let ready = Arc::new(Barrier::new(batches.len() + 1));
    let mut writers = Vec::new();
    for calls in batches {
        let transactions = calls.iter().map(|cells| rows_of(cells)).collect::<anyhow::Result<Vec<_>>>()?;
        let mut conn = PgConnection::connect(database_url).await?;
        let ready = ready.clone();
        writers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(transactions.len());
            let mut stored = 0u64;
            ready.wait().await;
            for rows in transactions {
                let started = Instant::now();
                let mut tx = conn.begin().await?;
                let mut insert = sqlx::query(BASELINE_INSERT).bind(&rows.text[0]).bind(&rows.text[1]).bind(&rows.day);
                for column in &rows.measures {
                    insert = insert.bind(column);
                }
                stored += insert.execute(&mut *tx).await?.rows_affected();
                tx.commit().await?;
                latencies.push(started.elapsed());
            }
            anyhow::Ok((latencies, stored))
        }));
    }
    ready.wait().await;
    let started = Instant::now();
    let (mut latencies, mut stored) = (Vec::new(), 0);
    for writer in writers {
        let (times, rows) = writer.await??;
        latencies.extend(times);
        stored += rows;
    }
    let took = started.elapsed();
    sqlx::query("DROP TABLE pushers_baseline").execute(&mut setup).await?;
    Ok(Side { latencies: Timings::new(latencies), stored, took })
}

/// The figures as a Markdown table, for docs/BENCHMARKS.md.
pub fn print_table(all: &[PusherFigures]) {
    println!(
        "\n| pushers | calls | `PushCells` calls/s | cells/s | p50 / p99 ms | non-OK answers | plain SQL transactions/s \
         | rows/s | p50 / p99 ms | gRPC / plain SQL |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for f in all {
        let failures = if f.failures.is_empty() {
            "none".to_string()
        } else {
            let counts = f.failures.iter().map(|(code, failed)| format!("{} {code}", failed.latencies.len()));
            counts.collect::<Vec<_>>().join(", ")
        };
        println!(
            "| {} | {} × {} | {} | {} | {:.1} / {:.1} | {failures} | {} | {} | {:.1} / {:.1} | {:.1} % |",
            f.pushers,
            f.pushers,
            f.calls,
            thousands(f.grpc.calls_per_second()),
            thousands(f.grpc.cells_per_second()),
            f.grpc.latencies.ms(0.5),
            f.grpc.latencies.ms(0.99),
            thousands(f.plain_sql.calls_per_second()),
            thousands(f.plain_sql.cells_per_second()),
            f.plain_sql.latencies.ms(0.5),
            f.plain_sql.latencies.ms(0.99),
            100.0 * f.grpc.cells_per_second() / f.plain_sql.cells_per_second(),
        );
        if f.not_accepted > 0 {
            println!("  ({} cells of successful calls were not ACCEPTED)", f.not_accepted);
        }
    }
}
