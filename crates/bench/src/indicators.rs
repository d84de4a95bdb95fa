//! Reading indicators: a province-year broken down by commune, as aggregation answers it from its roll-ups and as
//! a plain SQL GROUP BY over intake's raw cells answers the same question; and how soon a push is visible.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use onestop_generator::province::{Province, Size, PROVINCE_CODE, PROVINCE_YEAR};
use onestop_proto::aggregation::v1::{Breakdown, DayRange, GetIndicatorsRequest};
use onestop_proto::intake::v1::{DailyCell, Measures, PushCellsRequest, PushCellsStreamRequest};
use tokio_stream::StreamExt;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Multiplies the province's communes (and so its cells): 1 is the province-year of DOMAIN §9.
    #[arg(long, default_value_t = 1)]
    scale: usize,
    /// Days of the province-year to load (365 is about 1.5 million cells).
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Timed repetitions of each query.
    #[arg(long, default_value_t = 30)]
    repetitions: usize,
    /// Pushes timed until visible.
    #[arg(long, default_value_t = 200)]
    freshness_pushes: usize,
}

/// The indicators that are sums of cell measures.
const CELL_INDICATORS: [&str; 7] = [
    "online_case_share",
    "full_online_case_share",
    "postal_filing_share",
    "postal_return_share",
    "on_time_rate_form06",
    "on_time_rate_766",
    "late_rate_gia_lai",
];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(mut times: Vec<Duration>, p_high: f64) -> String {
    times.sort();
    format!(
        "p50 {:>8.1} ms  p{} {:>8.1} ms  ({} runs)",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        (p_high * 100.0).round(),
        percentile(&times, p_high).as_secs_f64() * 1e3,
        times.len()
    )
}

async fn time<F, Fut, T>(repetitions: usize, mut run: F) -> anyhow::Result<(Vec<Duration>, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut last = run().await?; // warm-up
    run().await?;
    let mut times = Vec::with_capacity(repetitions);
    for _ in 0..repetitions {
        let started = Instant::now();
        last = run().await?;
        times.push(started.elapsed());
    }
    Ok((times, last))
}

/// The same question in plain SQL over intake's cells: per commune, the year's flows, the stocks of its last day
/// and the stock carried over.
const PLAIN_SQL: &str = "
    SELECT ce.unit_code,
           sum(c.received_online) FILTER (WHERE c.day >= $1),
           sum(c.received_direct + c.received_online + c.received_postal) FILTER (WHERE c.day >= $1),
           sum(c.received_postal) FILTER (WHERE c.day >= $1),
           sum(c.results_returned_by_post) FILTER (WHERE c.day >= $1),
           sum(c.resolved_early + c.resolved_on_time) FILTER (WHERE c.day >= $1),
           sum(c.resolved_early + c.resolved_on_time + c.resolved_late) FILTER (WHERE c.day >= $1),
           sum(c.resolved_late) FILTER (WHERE c.day >= $1),
           sum(c.pending_in_time) FILTER (WHERE c.day = $2),
           sum(c.pending_overdue) FILTER (WHERE c.day = $2),
           sum(c.pending_in_time + c.pending_overdue) FILTER (WHERE c.day = $1::date - 1)
    FROM intake.daily_cell c JOIN catalogue.center ce ON ce.code = c.center_code
    WHERE c.day BETWEEN $1::date - 1 AND $2
    GROUP BY ce.unit_code";

pub async fn run(args: Args) -> anyhow::Result<()> {
    let size = Size { communes: PROVINCE_YEAR.communes * args.scale, ..PROVINCE_YEAR };
    let province = Province::new(46, size);
    let first: NaiveDate = "2025-01-01".parse()?;
    let last = first + chrono::Days::new(u64::from(args.days) - 1);
    let cells: Vec<DailyCell> = province.activity(first, args.days).flat_map(|d| d.cells).collect();
    let received: i64 =
        cells.iter().map(|c| c.measures.map_or(0, |m| m.received_direct + m.received_online + m.received_postal)).sum();
    println!("{} cells of {} days for {} centers", cells.len(), args.days, province.centers.len());

    let (db, stack) = crate::ingest::system(&province).await?;
    let mut intake = stack.intake_client();
    let mut aggregation = stack.aggregation_client();
    let batches: Vec<PushCellsStreamRequest> = cells
        .chunks(5000)
        .map(|chunk| PushCellsStreamRequest {
            batch: Some(PushCellsRequest { sender: "bench".into(), cells: chunk.to_vec(), ..Default::default() }),
        })
        .collect();
    let started = Instant::now();
    let mut answers = intake.push_cells_stream(tokio_stream::iter(batches)).await?.into_inner();
    while let Some(answer) = answers.next().await {
        anyhow::ensure!(answer?.batch.unwrap_or_default().rejected == 0, "cells rejected");
    }
    let pushed = started.elapsed();
    let year = || GetIndicatorsRequest {
        unit_code: PROVINCE_CODE.into(),
        period: Some(DayRange { from_day: first.to_string(), to_day: last.to_string() }),
        breakdown: Breakdown::ChildUnit as i32,
        ..Default::default()
    };
    loop {
        let request = GetIndicatorsRequest { indicator_ids: vec!["online_case_share".into()], ..year() };
        let answer = aggregation.get_indicators(request).await?.into_inner();
        if answer.indicators[0].denominator == received as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let applied = started.elapsed();
    println!(
        "pushed in {:.1} s; aggregation had applied every change {:.1} s after the first push",
        pushed.as_secs_f64(),
        applied.as_secs_f64()
    );

    let cell_only = GetIndicatorsRequest { indicator_ids: CELL_INDICATORS.map(String::from).to_vec(), ..year() };
    let (cell_times, answer) = time(args.repetitions, || {
        let (mut client, request) = (aggregation.clone(), cell_only.clone());
        async move { Ok(client.get_indicators(request).await?.into_inner()) }
    })
    .await?;
    let communes = answer.groups.len() - 1;
    let (all_times, all_answer) = time(args.repetitions, || {
        let (mut client, request) = (aggregation.clone(), year());
        async move { Ok(client.get_indicators(request).await?.into_inner()) }
    })
    .await?;
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(db.url()).await?;
    let (sql_times, rows) = time(args.repetitions, || {
        let pool = pool.clone();
        async move {
            let rows: Vec<sqlx::postgres::PgRow> =
                sqlx::query(PLAIN_SQL).bind(first).bind(last).fetch_all(&pool).await?;
            Ok(rows.len())
        }
    })
    .await?;
    anyhow::ensure!(rows == communes + 1, "plain SQL found {rows} units, aggregation {communes} communes + 1");

    // Push-to-visible: one cell changed, then read until the answer shows it.
    let center = onestop_generator::province::commune_center(0);
    let probe = cells.iter().find(|c| c.center_code == center && c.day == last.to_string()).expect("a cell").clone();
    let mut latencies = Vec::with_capacity(args.freshness_pushes);
    let base = probe.measures.unwrap_or_default();
    let day = Some(DayRange { from_day: last.to_string(), to_day: last.to_string() });
    let center_day_online = GetIndicatorsRequest {
        center_code: center.clone(),
        period: day,
        indicator_ids: vec!["online_case_share".into()],
        ..Default::default()
    };
    let other_online: u64 = cells
        .iter()
        .filter(|c| c.center_code == center && c.day == last.to_string() && c.procedure_code != probe.procedure_code)
        .map(|c| c.measures.map_or(0, |m| m.received_online as u64))
        .sum();
    for i in 1..=args.freshness_pushes {
        let online = base.received_online + i as i64;
        let cell = DailyCell { measures: Some(Measures { received_online: online, ..base }), ..probe.clone() };
        let started = Instant::now();
        intake.push_cells(PushCellsRequest { sender: "bench".into(), cells: vec![cell], ..Default::default() }).await?;
        loop {
            let answer = aggregation.get_indicators(center_day_online.clone()).await?.into_inner();
            if answer.indicators[0].numerator == other_online + online as u64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        latencies.push(started.elapsed());
    }
    stack.shutdown().await?;
    drop(db);

    println!("province-year by commune ({communes} communes + the province's own center):");
    println!("  GetIndicators, {} cell indicators:   {}", CELL_INDICATORS.len(), summary(cell_times, 0.95));
    println!("  GetIndicators, all {} indicators:    {}", all_answer.indicators.len(), summary(all_times, 0.95));
    println!("  plain SQL GROUP BY over raw cells:    {}", summary(sql_times, 0.95));
    println!("push-to-visible (push one cell, read until shown): {}", summary(latencies, 0.99));
    Ok(())
}
