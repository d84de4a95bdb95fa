//! Reading a province-year: its indicators by commune as aggregation answers them from its roll-ups, the same
//! question as a plain SQL GROUP BY over intake's raw cells, and how soon a pushed cell becomes visible.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use onestop_generator::province::PROVINCE_CODE;
use onestop_proto::aggregation::v1::{Breakdown, DayRange, GetIndicatorsRequest};
use onestop_proto::intake::v1::{DailyCell, Measures, PushCellsRequest};
use onestop_server::client::{AggregationClient, IntakeClient};

use crate::timing::{repeat, Timings};

/// The indicators that are sums of cell measures.
pub const CELL_INDICATORS: [&str; 7] = [
    "online_case_share",
    "full_online_case_share",
    "postal_filing_share",
    "postal_return_share",
    "on_time_rate_form06",
    "on_time_rate_766",
    "late_rate_gia_lai",
];

/// The sums a plain query of the indicators' question selects from intake's cells `c` over `[$1, $2]`: the
/// period's flows, the stocks of its last day and the stock carried over (from `$1 - 1`).
macro_rules! plain_sql_sums {
    () => {
        "sum(c.received_online) FILTER (WHERE c.day >= $1),
         sum(c.received_direct + c.received_online + c.received_postal) FILTER (WHERE c.day >= $1),
         sum(c.received_postal) FILTER (WHERE c.day >= $1),
         sum(c.results_returned_by_post) FILTER (WHERE c.day >= $1),
         sum(c.resolved_early + c.resolved_on_time) FILTER (WHERE c.day >= $1),
         sum(c.resolved_early + c.resolved_on_time + c.resolved_late) FILTER (WHERE c.day >= $1),
         sum(c.resolved_late) FILTER (WHERE c.day >= $1),
         sum(c.pending_in_time) FILTER (WHERE c.day = $2),
         sum(c.pending_overdue) FILTER (WHERE c.day = $2),
         sum(c.pending_in_time + c.pending_overdue) FILTER (WHERE c.day = $1::date - 1)"
    };
}
pub(crate) use plain_sql_sums;

/// The same question in plain SQL over intake's cells, per commune, for the province's centers (`$3`: other
/// provinces may share the database).
const PLAIN_SQL: &str = concat!(
    "SELECT ce.unit_code, ",
    plain_sql_sums!(),
    " FROM intake.daily_cell c JOIN catalogue.center ce ON ce.code = c.center_code
      WHERE c.day BETWEEN $1::date - 1 AND $2 AND c.center_code = ANY($3)
      GROUP BY ce.unit_code"
);

/// `unit` over `first..=last`, by child unit.
pub fn by_child_unit(unit: &str, first: NaiveDate, last: NaiveDate) -> GetIndicatorsRequest {
    GetIndicatorsRequest {
        unit_code: unit.into(),
        period: Some(DayRange { from_day: first.to_string(), to_day: last.to_string() }),
        breakdown: Breakdown::ChildUnit as i32,
        ..Default::default()
    }
}

/// The province over `first..=last`, by commune.
fn by_commune(first: NaiveDate, last: NaiveDate) -> GetIndicatorsRequest {
    by_child_unit(PROVINCE_CODE, first, last)
}

/// Waits until aggregation's answer for `unit` over `first..=last` counts `received` cases, asking every `poll`
/// for at most `within`.
pub async fn wait_until_visible(
    aggregation: &mut AggregationClient,
    (unit, first, last): (&str, NaiveDate, NaiveDate),
    received: u64,
    within: Duration,
    poll: Duration,
) -> anyhow::Result<()> {
    let request = GetIndicatorsRequest {
        indicator_ids: vec!["online_case_share".into()],
        breakdown: Breakdown::Unspecified as i32,
        ..by_child_unit(unit, first, last)
    };
    let deadline = Instant::now() + within;
    loop {
        let answer = aggregation.get_indicators(request.clone()).await?.into_inner();
        if answer.indicators[0].denominator == received {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "aggregation did not catch up within {within:?}");
        tokio::time::sleep(poll).await;
    }
}

/// Latencies of the province-year by commune.
pub struct IndicatorTimings {
    pub communes: usize,
    pub cell_indicators: Timings,
    pub all_indicators: Timings,
    pub plain_sql: Timings,
}

pub async fn indicators(
    aggregation: &AggregationClient,
    database_url: &str,
    first: NaiveDate,
    last: NaiveDate,
    repetitions: usize,
) -> anyhow::Result<IndicatorTimings> {
    let cell_only =
        GetIndicatorsRequest { indicator_ids: CELL_INDICATORS.map(String::from).to_vec(), ..by_commune(first, last) };
    let (cell_indicators, answer) = repeat(repetitions, || {
        let (mut client, request) = (aggregation.clone(), cell_only.clone());
        async move { Ok(client.get_indicators(request).await?.into_inner()) }
    })
    .await?;
    let communes = answer.groups.len() - 1;
    let (all_indicators, all) = repeat(repetitions, || {
        let mut client = aggregation.clone();
        async move { Ok(client.get_indicators(by_commune(first, last)).await?.into_inner()) }
    })
    .await?;
    anyhow::ensure!(all.indicators.len() >= 13, "only {} indicators answered", all.indicators.len());
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(database_url).await?;
    let centers = &answer.center_codes;
    let (plain_sql, units) = repeat(repetitions, || {
        let pool = pool.clone();
        async move { plain_sql_by_commune(&pool, first, last, centers).await }
    })
    .await?;
    anyhow::ensure!(units == communes + 1, "plain SQL found {units} units, aggregation {communes} communes + 1");
    Ok(IndicatorTimings { communes, cell_indicators, all_indicators, plain_sql })
}

/// The plain query of the indicators' question over `[first, last]` for `centers`, by commune: the baseline.
pub async fn plain_sql_by_commune(
    pool: &sqlx::PgPool,
    first: NaiveDate,
    last: NaiveDate,
    centers: &[String],
) -> anyhow::Result<usize> {
    let rows: Vec<sqlx::postgres::PgRow> =
        sqlx::query(PLAIN_SQL).bind(first).bind(last).bind(centers).fetch_all(pool).await?;
    Ok(rows.len())
}

/// Push-to-visible: `pushes` times, one cell of `probe_cells` changed and pushed, then its center's day read
/// until the answer shows the change.
pub async fn freshness(
    intake: IntakeClient,
    aggregation: AggregationClient,
    probe_cells: &[DailyCell],
    pushes: usize,
) -> anyhow::Result<Timings> {
    Ok(freshness_while(intake, aggregation, probe_cells, pushes, || true).await?.visible)
}

/// How long probes took: until visible, and of that until intake answered the push.
pub struct Probes {
    pub visible: Timings,
    pub pushed: Timings,
}

/// [`freshness`], pushing no more once `go_on` says stop (at least one push is timed).
pub async fn freshness_while(
    mut intake: IntakeClient,
    mut aggregation: AggregationClient,
    probe_cells: &[DailyCell],
    pushes: usize,
    go_on: impl Fn() -> bool,
) -> anyhow::Result<Probes> {
    let probe = probe_cells.first().ok_or_else(|| anyhow::anyhow!("no cell to probe"))?.clone();
    let base = probe.measures.unwrap_or_default();
    let day = Some(DayRange { from_day: probe.day.clone(), to_day: probe.day.clone() });
    let request = GetIndicatorsRequest {
        center_code: probe.center_code.clone(),
        period: day,
        indicator_ids: vec!["online_case_share".into()],
        ..Default::default()
    };
    let others: u64 = probe_cells[1..].iter().map(|c| c.measures.map_or(0, |m| m.received_online as u64)).sum();
    let (mut latencies, mut pushed) = (Vec::with_capacity(pushes), Vec::with_capacity(pushes));
    for i in 1..=pushes {
        let online = base.received_online + i as i64;
        let cell = DailyCell { measures: Some(Measures { received_online: online, ..base }), ..probe.clone() };
        let started = Instant::now();
        intake.push_cells(PushCellsRequest { sender: "bench".into(), cells: vec![cell], ..Default::default() }).await?;
        pushed.push(started.elapsed());
        loop {
            let answer = aggregation.get_indicators(request.clone()).await?.into_inner();
            if answer.indicators[0].numerator == others + online as u64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        latencies.push(started.elapsed());
        if !go_on() {
            break;
        }
    }
    Ok(Probes { visible: Timings::new(latencies), pushed: Timings::new(pushed) })
}
