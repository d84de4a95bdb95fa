//! The whole country: 34 provinces with 3,321 communes between them and their centers, a year of cells at the
//! generator's density pushed province after province through the bulk stream; then the nation's year by
//! province, against a plain SQL GROUP BY over the raw cells, and one province's year by commune with the others
//! present.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use onestop_generator::province::{Province, Size, PROVINCE_CODE, PROVINCE_YEAR};
use onestop_proto::aggregation::v1::GetIndicatorsResponse;
use onestop_server::client::AggregationClient;

use crate::load;
use crate::queries::{self, IndicatorTimings};
use crate::services::{Processes, RateLimit};
use crate::timing::{repeat, Timings};

/// The nation's unit code in aggregation's answers.
const NATION: &str = "VN";

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Provinces of the national scenario (run with --national).
    #[arg(long, default_value_t = 34)]
    national_provinces: usize,
    /// Communes shared out between them.
    #[arg(long, default_value_t = 3321)]
    national_communes: usize,
}

/// The figures of the national scenario.
pub struct National {
    pub provinces: usize,
    pub centers: usize,
    pub cells: u64,
    pub pushed: Duration,
    /// From the first push until aggregation's national answer counts every case.
    pub visible: Duration,
    pub by_province: Timings,
    pub plain_sql: Timings,
    /// Province 46's year by commune, the other provinces present.
    pub one_province: IndicatorTimings,
    /// Bytes on disk of intake's and aggregation's schemas.
    pub intake_bytes: u64,
    pub aggregation_bytes: u64,
}

/// The nation's question in plain SQL over intake's cells: per province (a commune's parent), the year's flows,
/// the last day's stocks and the stock carried over.
const PLAIN_SQL: &str = concat!(
    "SELECT coalesce(u.parent_code, u.code), ",
    queries::plain_sql_sums!(),
    " FROM intake.daily_cell c
      JOIN catalogue.center ce ON ce.code = c.center_code
      JOIN catalogue.unit u ON u.code = ce.unit_code
      WHERE c.day BETWEEN $1::date - 1 AND $2
      GROUP BY 1"
);

/// The provinces: 46 first (it publishes the catalogue the others receive), then 01, 02, …; communes shared out
/// as evenly as they go, each province's numbered after the one before's.
fn provinces(args: &Args, seed: u64) -> Vec<Arc<Province>> {
    let mut codes = vec![PROVINCE_CODE.to_owned()];
    codes.extend((1..).map(|n| format!("{n:02}")).filter(|c| c != PROVINCE_CODE).take(args.national_provinces - 1));
    let mut first_commune = 0;
    codes
        .iter()
        .enumerate()
        .map(|(k, code)| {
            let communes = args.national_communes / args.national_provinces
                + usize::from(k < args.national_communes % args.national_provinces);
            let province = Province::numbered(code, first_commune, seed, Size { communes, ..PROVINCE_YEAR });
            first_commune += communes;
            Arc::new(province)
        })
        .collect()
}

/// Loads the national scenario into a fresh database and measures it.
pub async fn measure(
    args: &Args,
    first: NaiveDate,
    days: u32,
    repetitions: usize,
) -> anyhow::Result<(National, onestop_testkit::TestDatabase)> {
    anyhow::ensure!(args.national_provinces >= 1, "--national-provinces must be at least 1");
    let last = first + chrono::Days::new(u64::from(days) - 1);
    let provinces = provinces(args, 46);
    let centers: usize = provinces.iter().map(|p| p.centers.len()).sum();
    println!("== national: {} provinces, {centers} centers, {days} days", provinces.len());
    let db = onestop_testkit::database().await.ok_or_else(|| anyhow::anyhow!("no database"))?;
    let system = Processes::start(db.url(), RateLimit::OutOfTheWay).await?;
    load::reference_data(&system, &provinces[0], first).await?;
    for province in &provinces[1..] {
        load::other_province(&system, province, first).await?;
    }
    let started = Instant::now();
    let (mut cells, mut received) = (0u64, 0u64);
    for province in &provinces {
        let (pushed, took) = load::push_cells(system.intake_client(), province.clone(), first, days).await?;
        cells += pushed.cells;
        received += pushed.received;
        println!("province {}: {} cells in {:.1} s", province.code, pushed.cells, took.as_secs_f64());
    }
    let pushed = started.elapsed();
    println!("pushed {cells} cells in {:.1} s", pushed.as_secs_f64());
    let mut aggregation = system.aggregation_client();
    let (four_hours, poll) = (Duration::from_secs(4 * 3600), Duration::from_secs(1));
    queries::wait_until_visible(&mut aggregation, (NATION, first, last), received, four_hours, poll).await?;
    let visible = started.elapsed();
    println!("aggregation had applied every change {:.1} s after the first push", visible.as_secs_f64());

    load::vacuum_as_autovacuum_would(db.url()).await?;
    let (by_province, answer) = time_nation_by_province(&aggregation, first, last, repetitions).await?;
    anyhow::ensure!(answer.indicators.len() >= 13, "only {} indicators answered", answer.indicators.len());
    // The provinces, and the nation's own centers (none).
    anyhow::ensure!(
        answer.groups.len() == provinces.len() + 1,
        "{} groups for {} provinces",
        answer.groups.len(),
        provinces.len()
    );
    println!("nation by province (all indicators): {}", by_province.summary(0.95));
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(db.url()).await?;
    // A scan of every cell: a few runs say enough.
    let (plain_sql, units) = repeat(repetitions.min(3), || {
        let pool = pool.clone();
        async move {
            let rows: Vec<sqlx::postgres::PgRow> =
                sqlx::query(PLAIN_SQL).bind(first).bind(last).fetch_all(&pool).await?;
            Ok(rows.len())
        }
    })
    .await?;
    anyhow::ensure!(units == provinces.len(), "plain SQL found {units} provinces");
    println!("plain SQL by province: {}", plain_sql.summary(0.95));
    let one_province = queries::indicators(&aggregation, db.url(), first, last, repetitions).await?;
    let (intake_bytes, aggregation_bytes) = (
        crate::suite::schema_bytes(db.url(), "intake").await?,
        crate::suite::schema_bytes(db.url(), "aggregation").await?,
    );
    system.stop().await?;
    let national = National {
        provinces: provinces.len(),
        centers,
        cells,
        pushed,
        visible,
        by_province,
        plain_sql,
        one_province,
        intake_bytes,
        aggregation_bytes,
    };
    Ok((national, db))
}

/// The nation's year by province, all indicators, `repetitions` times: the timings and the last answer.
pub async fn time_nation_by_province(
    aggregation: &AggregationClient,
    first: NaiveDate,
    last: NaiveDate,
    repetitions: usize,
) -> anyhow::Result<(Timings, GetIndicatorsResponse)> {
    repeat(repetitions, || {
        let mut client = aggregation.clone();
        async move { Ok(client.get_indicators(queries::by_child_unit(NATION, first, last)).await?.into_inner()) }
    })
    .await
}

impl National {
    pub fn print(&self) {
        let per_second = |n: u64, d: Duration| n as f64 / d.as_secs_f64();
        let q = &self.one_province;
        println!("national: {} provinces, {} centers, {} cells:", self.provinces, self.centers, self.cells);
        println!(
            "  PushCellsStream       {:>10} cells/s",
            crate::suite::thousands(per_second(self.cells, self.pushed))
        );
        println!("  all applied after     {:>10.1} s", self.visible.as_secs_f64());
        println!("  nation by province    {}", self.by_province.summary(0.95));
        println!("  … plain SQL           {}", self.plain_sql.summary(0.95));
        println!("  province 46 by commune, 7 cell indicators {}", q.cell_indicators.summary(0.95));
        println!("  province 46 by commune, all indicators    {}", q.all_indicators.summary(0.95));
        println!("  province 46 by commune, plain SQL         {}", q.plain_sql.summary(0.95));
        let per_cell = |bytes: u64| bytes as f64 / self.cells.max(1) as f64;
        println!(
            "  bytes per cell        intake {:.0}, aggregation {:.0}",
            per_cell(self.intake_bytes),
            per_cell(self.aggregation_bytes)
        );
    }

    pub fn as_json(&self) -> serde_json::Value {
        let q = &self.one_province;
        serde_json::json!({
            "scale": "national",
            "provinces": self.provinces,
            "centers": self.centers,
            "cells": self.cells,
            "ingest_cells_per_s": self.cells as f64 / self.pushed.as_secs_f64(),
            "ingest_all_applied_s": self.visible.as_secs_f64(),
            "national_by_province_p50_ms": self.by_province.ms(0.5),
            "national_by_province_p95_ms": self.by_province.ms(0.95),
            "national_plain_sql_p50_ms": self.plain_sql.ms(0.5),
            "cell_indicators_p95_ms": q.cell_indicators.ms(0.95),
            "all_indicators_p95_ms": q.all_indicators.ms(0.95),
            "plain_sql_p50_ms": q.plain_sql.ms(0.5),
            "intake_bytes": self.intake_bytes,
            "aggregation_bytes": self.aggregation_bytes,
        })
    }
}
