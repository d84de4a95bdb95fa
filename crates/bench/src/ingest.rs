//! Ingest throughput: the same generated cells pushed through intake's bulk stream, through small unary
//! batches, and copied into a plain table with COPY.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use onestop_generator::province::{Province, Size, PROVINCE_YEAR};
use onestop_local::{Addresses, Stack};
use onestop_proto::intake::v1::{DailyCell, PushCellsRequest, PushCellsStreamRequest};
use sqlx::{Connection, PgConnection};
use tokio_stream::StreamExt;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Multiplies the province's communes (and so its cells): 1 is the province-year of DOMAIN §9.
    #[arg(long, default_value_t = 1)]
    scale: usize,
    /// Days of the province-year to push (365 is about 1.5 million cells).
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Cells per message of the bulk stream.
    #[arg(long, default_value_t = 5000)]
    stream_batch: usize,
    /// Cells per call in the small-batch run.
    #[arg(long, default_value_t = 100)]
    small_batch: usize,
    /// Calls in flight at once in the small-batch run.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Days pushed in the small-batch run.
    #[arg(long, default_value_t = 30)]
    small_batch_days: u32,
}

fn rate(cells: usize, took: Duration) -> String {
    format!("{cells:>9} cells in {:>7.2} s = {:>8.0} cells/s", took.as_secs_f64(), cells as f64 / took.as_secs_f64())
}

/// A fresh database and the system on it, with the province loaded and intake's copy of the catalogue current.
pub async fn system(province: &Province) -> anyhow::Result<(onestop_testkit::TestDatabase, Stack)> {
    let db = onestop_testkit::database().await.ok_or_else(|| anyhow::anyhow!("no database"))?;
    let stack = Stack::start(db.url(), Addresses::any_free_port()).await?;
    onestop_local::demo::load_reference_data(stack.catalogue_client(), province).await?;
    // Intake follows the catalogue's change stream; give it a moment to apply the province.
    tokio::time::sleep(Duration::from_secs(3)).await;
    Ok((db, stack))
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let size = Size { communes: PROVINCE_YEAR.communes * args.scale, ..PROVINCE_YEAR };
    let province = Province::new(46, size);
    let first: NaiveDate = "2025-01-01".parse()?;
    let generated = Instant::now();
    let cells: Vec<DailyCell> = province.activity(first, args.days).flat_map(|d| d.cells).collect();
    println!(
        "generated {} cells of {} days for {} centers in {:.1} s",
        cells.len(),
        args.days,
        province.centers.len(),
        generated.elapsed().as_secs_f64()
    );

    // 1. Bulk stream into a fresh system.
    let (db, stack) = system(&province).await?;
    let mut intake = stack.intake_client();
    let batches: Vec<PushCellsStreamRequest> = cells
        .chunks(args.stream_batch)
        .map(|chunk| PushCellsStreamRequest {
            batch: Some(PushCellsRequest { sender: "bench".into(), cells: chunk.to_vec(), ..Default::default() }),
        })
        .collect();
    let started = Instant::now();
    let mut answers = intake.push_cells_stream(tokio_stream::iter(batches)).await?.into_inner();
    let (mut accepted, mut rejected) = (0u64, 0u64);
    while let Some(answer) = answers.next().await {
        let answer = answer?.batch.unwrap_or_default();
        accepted += u64::from(answer.accepted);
        rejected += u64::from(answer.rejected);
    }
    let stream_time = started.elapsed();
    anyhow::ensure!(rejected == 0, "{rejected} cells rejected");
    anyhow::ensure!(accepted as usize == cells.len(), "{accepted} of {} accepted", cells.len());

    // 2. COPY of the same rows into a plain table on the same server.
    let mut conn = PgConnection::connect(db.url()).await?;
    sqlx::query(
        "CREATE TABLE copy_baseline (center_code text, procedure_code text, day date, received_direct bigint,
         received_online bigint, received_postal bigint, resolved_early bigint, resolved_on_time bigint,
         resolved_late bigint, withdrawn_or_returned bigint, results_returned_by_post bigint,
         apology_notices_issued bigint, pending_in_time bigint, pending_overdue bigint,
         PRIMARY KEY (center_code, day, procedure_code))",
    )
    .execute(&mut conn)
    .await?;
    let mut text = String::with_capacity(cells.len() * 80);
    for c in &cells {
        let m = c.measures.unwrap_or_default();
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            c.center_code,
            c.procedure_code,
            c.day,
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
            m.pending_overdue
        ));
    }
    let started = Instant::now();
    let mut copy = conn.copy_in_raw("COPY copy_baseline FROM STDIN").await?;
    copy.send(text.as_bytes()).await?;
    copy.finish().await?;
    let copy_time = started.elapsed();
    stack.shutdown().await?;
    drop(db);

    // 3. Small unary batches, several in flight, into another fresh system.
    let (db, stack) = system(&province).await?;
    let small: Vec<DailyCell> = province.activity(first, args.small_batch_days).flat_map(|d| d.cells).collect();
    let chunks: Vec<Vec<DailyCell>> = small.chunks(args.small_batch).map(<[DailyCell]>::to_vec).collect();
    let intake = stack.intake_client();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let per_worker = chunks.len().div_ceil(args.concurrency);
    for work in chunks.chunks(per_worker.max(1)).map(<[Vec<DailyCell>]>::to_vec) {
        let mut client = intake.clone();
        tasks.spawn(async move {
            let mut accepted = 0u64;
            for cells in work {
                let answer =
                    client.push_cells(PushCellsRequest { sender: "bench".into(), cells, ..Default::default() });
                accepted += u64::from(answer.await?.get_ref().accepted);
            }
            anyhow::Ok(accepted)
        });
    }
    let mut small_accepted = 0;
    while let Some(done) = tasks.join_next().await {
        small_accepted += done??;
    }
    let small_time = started.elapsed();
    anyhow::ensure!(small_accepted as usize == small.len(), "{small_accepted} of {} accepted", small.len());
    stack.shutdown().await?;
    drop(db);

    println!("PushCellsStream, {} cells per message:     {}", args.stream_batch, rate(cells.len(), stream_time));
    println!(
        "PushCells, {} cells per call, {} in flight: {}",
        args.small_batch,
        args.concurrency,
        rate(small.len(), small_time)
    );
    println!("PostgreSQL COPY, same rows, plain table:   {}", rate(cells.len(), copy_time));
    Ok(())
}
