//! The whole benchmark: for each size of province, a fresh database and the three services as separate
//! processes; the year pushed over gRPC and copied with COPY; indicators against plain SQL; push-to-visible
//! freshness; each service's peak memory and the storage used; then a new aggregation replica catching up with the
//! whole history. Prints one table per figure, sizes side by side.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use onestop_generator::province::{Province, Size, PROVINCE_CODE, PROVINCE_YEAR};

use crate::catch_up::{self, CatchUp};
use crate::load;
use crate::national;
use crate::pushers;
use crate::queries::{self, IndicatorTimings, CELL_INDICATORS};
use crate::services::{Processes, RateLimit, Service};
use crate::timing::Timings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sizes to run, as multiples of the province-year of DOMAIN §9 (its communes, and so its cells).
    /// `--scales` alone runs none (with `--national`, the national scenario only).
    #[arg(long, value_delimiter = ',', default_value = "1,4,16", num_args = 0..)]
    scales: Vec<usize>,
    /// Days loaded, ending on 31 December 2025 (365 is about 1.5 million cells at 1x).
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Timed repetitions of each query at 1x; larger sizes run repetitions / scale, at least 5.
    #[arg(long, default_value_t = 30)]
    repetitions: usize,
    /// Pushes timed until visible, at each size.
    #[arg(long, default_value_t = 100)]
    freshness_pushes: usize,
    /// Sizes at which a new aggregation replica catches up from the first change (each of these sizes runs among
    /// --scales).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    catch_up_scales: Vec<usize>,
    /// Concurrent pushers, measured once when --scales includes 1 (on the 1x province, with services of their
    /// own at the default settings).
    #[command(flatten)]
    pushers: pushers::Args,
    /// Also the national scenario, after the sizes (about half an hour and 40 GB of disk).
    #[arg(long)]
    national: bool,
    #[command(flatten)]
    national_args: national::Args,
    /// Leaves each size's database in place, with its URL printed, to look into its plans afterwards.
    #[arg(long)]
    keep_databases: bool,
    /// Also writes the figures to this file as JSON: `{"sizes": [...]}`, one object per size.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// The figures of one size.
struct Figures {
    scale: usize,
    centers: usize,
    cells: u64,
    generated: Duration,
    pushed: Duration,
    /// The same push into a system of its own without aggregation: intake alone.
    pushed_alone: Duration,
    visible: Duration,
    copied: Duration,
    queries: IndicatorTimings,
    freshness: Timings,
    /// The same, while another province's bulk stream runs.
    freshness_under_load: Timings,
    memory: Vec<(Service, u64)>,
    /// Bytes on disk of each service's schema.
    storage: Vec<(Service, u64)>,
    /// Bytes on disk of the plain table COPY filled, with its primary key.
    plain_table: u64,
    catch_up: Option<CatchUp>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    // The days up to the end of 2025: the province's communes exist from 1 July 2025, so any number of days
    // answers by commune.
    anyhow::ensure!((1..=365).contains(&args.days), "--days must be 1 to 365");
    let last: NaiveDate = "2025-12-31".parse()?;
    let first = last - chrono::Days::new(u64::from(args.days) - 1);
    // Short (under a minute) and independent of the sizes: first, on a system of its own.
    let pushers = if args.scales.contains(&1) { pushers::measure(&args.pushers).await? } else { Vec::new() };
    let mut all = Vec::new();
    for &scale in &args.scales {
        let repetitions = (args.repetitions / scale).max(5);
        let catch_up = args.catch_up_scales.contains(&scale);
        let figures = one_size(scale, first, last, args.days, repetitions, args.freshness_pushes, catch_up).await;
        let (figures, db) = figures?;
        if args.keep_databases {
            println!("kept the {scale}x database: {}", db.url());
            std::mem::forget(db);
        }
        print_size(&figures);
        all.push(figures);
    }
    let national = if args.national {
        let (national, db) = national::measure(&args.national_args, first, args.days, args.repetitions).await?;
        if args.keep_databases {
            println!("kept the national database: {}", db.url());
            std::mem::forget(db);
        }
        national.print();
        Some(national)
    } else {
        None
    };
    print_tables(&all);
    if let Some(path) = &args.json {
        let mut sizes: Vec<serde_json::Value> = all.iter().map(as_json).collect();
        sizes.extend(national.as_ref().map(national::National::as_json));
        let text = serde_json::to_string_pretty(&serde_json::json!({ "sizes": sizes }))?;
        std::fs::write(path, text + "\n").map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        println!("figures written to {}", path.display());
    }
    if !pushers.is_empty() {
        pushers::print_table(&pushers);
    }
    Ok(())
}

/// The indicators of a kept database's province-year (2025), timed with the services started on it.
pub async fn indicators_only(database_url: &str, repetitions: usize, nation: bool) -> anyhow::Result<()> {
    let (first, last): (NaiveDate, NaiveDate) = ("2025-01-01".parse()?, "2025-12-31".parse()?);
    let system = Processes::start(database_url, RateLimit::OutOfTheWay).await?;
    if nation {
        let aggregation = system.aggregation_client();
        let (by_province, _) = national::time_nation_by_province(&aggregation, first, last, repetitions).await?;
        println!("nation by province    {}", by_province.summary(0.95));
    }
    let q = queries::indicators(&system.aggregation_client(), database_url, first, last, repetitions).await?;
    system.stop().await?;
    println!("{} communes:", q.communes);
    println!("  {} cell indicators   {}", CELL_INDICATORS.len(), q.cell_indicators.summary(0.95));
    println!("  all indicators        {}", q.all_indicators.summary(0.95));
    println!("  plain SQL GROUP BY    {}", q.plain_sql.summary(0.95));
    Ok(())
}

async fn one_size(
    scale: usize,
    first: NaiveDate,
    last: NaiveDate,
    days: u32,
    repetitions: usize,
    freshness_pushes: usize,
    catch_up: bool,
) -> anyhow::Result<(Figures, onestop_testkit::TestDatabase)> {
    let province = Arc::new(Province::new(46, Size { communes: PROVINCE_YEAR.communes * scale, ..PROVINCE_YEAR }));
    println!("== {scale}x: {} centers, {days} days", province.centers.len());
    let (generated_cells, generated) = load::generate_only(&province, first, days);
    println!("generated {generated_cells} cells in {:.1} s (generator alone)", generated.as_secs_f64());

    let db = onestop_testkit::database().await.ok_or_else(|| anyhow::anyhow!("no database"))?;
    // The suite is one principal doing the work of a province's software and readers at once.
    let system = Processes::start(db.url(), RateLimit::OutOfTheWay).await?;
    load::reference_data(&system, &province, first).await?;
    let mut aggregation = system.aggregation_client();
    let started = Instant::now();
    let (pushed, push_time) = load::push_cells(system.intake_client(), province.clone(), first, days).await?;
    println!("pushed {} cells in {:.1} s", pushed.cells, push_time.as_secs_f64());
    let (an_hour, poll) = (Duration::from_secs(3600), Duration::from_millis(200));
    queries::wait_until_visible(&mut aggregation, (PROVINCE_CODE, first, last), pushed.received, an_hour, poll).await?;
    let visible = started.elapsed();
    println!("aggregation had applied every change {:.1} s after the first push", visible.as_secs_f64());

    load::vacuum_as_autovacuum_would(db.url()).await?;
    let (copied_rows, copied) = load::copy_baseline(db.url(), &province, first, days).await?;
    anyhow::ensure!(copied_rows == pushed.cells, "COPY had {copied_rows} rows, the push {}", pushed.cells);
    println!("COPY of the same rows: {:.1} s", copied.as_secs_f64());

    let pushed_alone = intake_alone(&province, first, days, pushed.cells).await?;
    println!(
        "intake alone (no aggregation following): {:.1} s = {} cells/s",
        pushed_alone.as_secs_f64(),
        thousands(per_second(pushed.cells, pushed_alone))
    );

    let queries = queries::indicators(&aggregation, db.url(), first, last, repetitions).await?;
    println!("indicators timed ({repetitions} runs each)");
    let freshness =
        queries::freshness(system.intake_client(), aggregation.clone(), &pushed.probe_cells, freshness_pushes).await?;
    let memory = system.peak_memory()?;
    let storage = storage(db.url()).await?;
    let plain_table = plain_table_bytes(db.url()).await?;
    // Last, so that the primary's memory and the timings above are those of the system alone.
    let catch_up = if catch_up {
        let caught_up = catch_up::measure(&system, db.url()).await?;
        println!(
            "a new aggregation replica applied {} changes in {:.1} s",
            caught_up.changes,
            caught_up.caught_up.as_secs_f64()
        );
        Some(caught_up)
    } else {
        None
    };
    // Last: push-to-visible again while a second province (its own communes and centers, the same procedures)
    // pushes its year through the bulk stream at full speed: probes go on while the stream runs (up to
    // --freshness-pushes), and the stream is cut once they are done.
    // The same seed: the same catalogue (which only province 46 publishes) and the same pattern of activity.
    let other = Arc::new(Province::numbered("47", province.size.communes, province.seed, province.size));
    load::other_province(&system, &other, first).await?;
    let bulk = tokio::spawn(load::push_cells(system.intake_client(), other, first, days));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let probes = queries::freshness_while(
        system.intake_client(),
        aggregation.clone(),
        &pushed.probe_cells,
        freshness_pushes,
        || !bulk.is_finished(),
    )
    .await?;
    bulk.abort();
    let freshness_under_load = probes.visible;
    println!("push-to-visible under another province's bulk stream: {}", freshness_under_load.summary(0.99));
    println!("  … of which until intake answered the push: {}", probes.pushed.summary(0.99));
    system.stop().await?;
    let figures = Figures {
        scale,
        centers: province.centers.len(),
        cells: pushed.cells,
        generated,
        pushed: push_time,
        pushed_alone,
        visible,
        copied,
        queries,
        freshness,
        freshness_under_load,
        memory,
        storage,
        plain_table,
        catch_up,
    };
    Ok((figures, db))
}

/// The same year pushed into a fresh database with catalogue and intake only (nothing follows the change
/// stream): intake's own rate, beside the one with aggregation applying as it goes.
async fn intake_alone(province: &Arc<Province>, first: NaiveDate, days: u32, cells: u64) -> anyhow::Result<Duration> {
    let db = onestop_testkit::database().await.ok_or_else(|| anyhow::anyhow!("no database"))?;
    let system =
        Processes::start_only(&[Service::Catalogue, Service::Intake], db.url(), RateLimit::OutOfTheWay).await?;
    load::reference_data(&system, province, first).await?;
    let (pushed, took) = load::push_cells(system.intake_client(), province.clone(), first, days).await?;
    anyhow::ensure!(pushed.cells == cells, "intake alone took {} cells, the system {cells}", pushed.cells);
    system.stop().await?;
    Ok(took)
}

impl Figures {
    /// Bytes on disk of `service`'s schema.
    fn bytes_of(&self, service: Service) -> u64 {
        self.storage.iter().find(|(s, _)| *s == service).map_or(0, |(_, bytes)| *bytes)
    }
}

async fn plain_table_bytes(database_url: &str) -> anyhow::Result<u64> {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(database_url).await?;
    let bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size($1::regclass)")
        .bind(load::BASELINE_TABLE)
        .fetch_one(&mut conn)
        .await?;
    Ok(bytes as u64)
}

/// One size's figures as the object `--json` writes.
fn as_json(f: &Figures) -> serde_json::Value {
    let q = &f.queries;
    serde_json::json!({
        "scale": f.scale,
        "centers": f.centers,
        "communes": q.communes,
        "cells": f.cells,
        "ingest_cells_per_s": per_second(f.cells, f.pushed),
        "ingest_intake_alone_cells_per_s": per_second(f.cells, f.pushed_alone),
        "ingest_all_applied_s": f.visible.as_secs_f64(),
        "copy_cells_per_s": per_second(f.cells, f.copied),
        "cell_indicators_p50_ms": q.cell_indicators.ms(0.5),
        "cell_indicators_p95_ms": q.cell_indicators.ms(0.95),
        "all_indicators_p50_ms": q.all_indicators.ms(0.5),
        "all_indicators_p95_ms": q.all_indicators.ms(0.95),
        "plain_sql_p50_ms": q.plain_sql.ms(0.5),
        "plain_sql_p95_ms": q.plain_sql.ms(0.95),
        "freshness_p50_ms": f.freshness.ms(0.5),
        "freshness_p99_ms": f.freshness.ms(0.99),
        "freshness_under_load_p50_ms": f.freshness_under_load.ms(0.5),
        "freshness_under_load_p99_ms": f.freshness_under_load.ms(0.99),
        "intake_bytes": f.bytes_of(Service::Intake),
        "aggregation_bytes": f.bytes_of(Service::Aggregation),
        "plain_table_bytes": f.plain_table,
        "catch_up_changes_per_s": f.catch_up.as_ref().map(CatchUp::rate),
        // The national scenario's object has it (`--national`).
        "national_by_province_p95_ms": serde_json::Value::Null,
    })
}

async fn storage(database_url: &str) -> anyhow::Result<Vec<(Service, u64)>> {
    let mut sizes = Vec::new();
    for service in Service::ALL {
        sizes.push((service, schema_bytes(database_url, service.name()).await?));
    }
    Ok(sizes)
}

/// Bytes on disk of a schema's tables, with their indexes.
pub async fn schema_bytes(database_url: &str, schema: &str) -> anyhow::Result<u64> {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(database_url).await?;
    let bytes: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')",
    )
    .bind(schema)
    .fetch_one(&mut conn)
    .await?;
    Ok(bytes as u64)
}

fn per_second(count: u64, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64()
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `n` rounded, with thousands separated by commas.
pub fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn print_size(f: &Figures) {
    let q = &f.queries;
    println!("{}x, {} cells, {} centers, {} communes:", f.scale, f.cells, f.centers, q.communes);
    println!("  PushCellsStream       {:>10} cells/s", thousands(per_second(f.cells, f.pushed)));
    println!("  … intake alone        {:>10} cells/s", thousands(per_second(f.cells, f.pushed_alone)));
    println!("  COPY                  {:>10} cells/s", thousands(per_second(f.cells, f.copied)));
    println!("  {} cell indicators   {}", CELL_INDICATORS.len(), q.cell_indicators.summary(0.95));
    println!("  all indicators        {}", q.all_indicators.summary(0.95));
    println!("  plain SQL GROUP BY    {}", q.plain_sql.summary(0.95));
    println!("  push-to-visible       {}", f.freshness.summary(0.99));
    println!("  … under a bulk stream {}", f.freshness_under_load.summary(0.99));
    for ((service, memory), (_, storage)) in f.memory.iter().zip(&f.storage) {
        println!("  {:<12} peak memory {:>8}, storage {:>9}", service.name(), mib(*memory), mib(*storage));
    }
    let per_cell = |bytes: u64| bytes as f64 / f.cells.max(1) as f64;
    println!(
        "  bytes per cell        intake {:.0}, aggregation {:.0}, plain COPY table {:.0} ({})",
        per_cell(f.bytes_of(Service::Intake)),
        per_cell(f.bytes_of(Service::Aggregation)),
        per_cell(f.plain_table),
        mib(f.plain_table)
    );
    if let Some(c) = &f.catch_up {
        let quarters: Vec<String> = c.quarter_rates.iter().map(|&r| thousands(r)).collect();
        println!(
            "  new replica           {:>10} changes/s ({} changes in {:.1} s), quarters {} changes/s",
            thousands(c.rate()),
            c.changes,
            c.caught_up.as_secs_f64(),
            quarters.join(" / ")
        );
    }
}

/// The figures of every size as Markdown tables, for docs/BENCHMARKS.md.
fn print_tables(all: &[Figures]) {
    let ms = |t: &Timings, p: f64| format!("{:.1}", t.ms(p));
    println!(
        "\n| size | centers | cells | generator alone | `PushCellsStream` | all applied by aggregation | `COPY` |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for f in all {
        println!(
            "| {}x | {} | {} | {} cells/s | {:.1} s = {} cells/s | {:.1} s | {:.1} s = {} cells/s |",
            f.scale,
            f.centers,
            thousands(f.cells as f64),
            thousands(per_second(f.cells, f.generated)),
            f.pushed.as_secs_f64(),
            thousands(per_second(f.cells, f.pushed)),
            f.visible.as_secs_f64(),
            f.copied.as_secs_f64(),
            thousands(per_second(f.cells, f.copied)),
        );
    }
    println!(
        "\n| size | runs | {} cell indicators p50 / p95 ms | all indicators p50 / p95 ms | plain SQL p50 / p95 ms | \
         push-to-visible p50 / p99 ms | … under another province's bulk stream |",
        CELL_INDICATORS.len()
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for f in all {
        let q = &f.queries;
        println!(
            "| {}x | {} | {} / {} | {} / {} | {} / {} | {} / {} | {} / {} |",
            f.scale,
            q.cell_indicators.runs(),
            ms(&q.cell_indicators, 0.5),
            ms(&q.cell_indicators, 0.95),
            ms(&q.all_indicators, 0.5),
            ms(&q.all_indicators, 0.95),
            ms(&q.plain_sql, 0.5),
            ms(&q.plain_sql, 0.95),
            ms(&f.freshness, 0.5),
            ms(&f.freshness, 0.99),
            ms(&f.freshness_under_load, 0.5),
            ms(&f.freshness_under_load, 0.99),
        );
    }
    println!("\n| size | peak memory: catalogue | intake | aggregation | storage: catalogue | intake | aggregation |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for f in all {
        let memory: Vec<String> = f.memory.iter().map(|(_, b)| mib(*b)).collect();
        let storage: Vec<String> = f.storage.iter().map(|(_, b)| mib(*b)).collect();
        println!("| {}x | {} | {} |", f.scale, memory.join(" | "), storage.join(" | "));
    }
    print_catch_up_table(all);
}

/// The catch-up of a new replica, against the bulk push of the same run.
fn print_catch_up_table(all: &[Figures]) {
    let caught_up: Vec<(&Figures, &CatchUp)> = all.iter().filter_map(|f| Some((f, f.catch_up.as_ref()?))).collect();
    if caught_up.is_empty() {
        return;
    }
    println!(
        "\n| size | changes | started (migrations) | caught up | replica | `PushCellsStream` | replica / push | \
         quarters of the history, changes/s | last / first quarter | replica peak memory |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (f, c) in caught_up {
        let push_rate = per_second(f.cells, f.pushed);
        let quarters: Vec<String> = c.quarter_rates.iter().map(|&r| thousands(r)).collect();
        println!(
            "| {}x | {} | {:.1} s | {:.1} s | {} cells/s | {} cells/s | {:.2} | {} | {:.2} | {} |",
            f.scale,
            thousands(c.changes as f64),
            c.started.as_secs_f64(),
            c.caught_up.as_secs_f64(),
            thousands(c.rate()),
            thousands(push_rate),
            c.rate() / push_rate,
            quarters.join(" / "),
            c.quarter_rates[3] / c.quarter_rates[0],
            mib(c.peak_memory),
        );
    }
}
