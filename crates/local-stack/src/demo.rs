//! A generated province loaded into a running system, so that a newcomer sees real numbers at once, and the
//! benchmarks have a realistic province to work on.
//!
//! The demonstration is meant to look like a province's own figures as of today: its calendar has the public
//! holidays and make-up days, cases are open (some overdue, some due within three working days), nearly every
//! center-day was reported on time, and the late case records agree with the counts except at a few centers.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use onestop_generator::calendar;
use onestop_generator::province::Province;
use onestop_generator::rng::Rng;
use onestop_proto::catalogue::v1::*;
use onestop_proto::intake::v1::{CaseRecord, CaseStatus, PushCasesRequest, PushCellsRequest, PushCellsStreamRequest};
use onestop_server::client::{CatalogueClient, IntakeClient};
use tokio_stream::StreamExt;

use crate::Stack;

/// How many centers' software leaves out the record of one case resolved late (and one more center's, that of an
/// overdue case): the disagreements reconciliation is there to find.
const CENTERS_MISSING_A_RESOLVED_RECORD: usize = 3;

/// Loads the province's units, sectors, centers, agencies, decisions, center lists and working-day calendars.
pub async fn load_reference_data(mut catalogue: CatalogueClient, province: &Province) -> anyhow::Result<()> {
    catalogue.upsert_units(UpsertUnitsRequest { units: province.units.clone() }).await?;
    catalogue.upsert_sectors(UpsertSectorsRequest { sectors: province.catalogue.sectors.clone() }).await?;
    catalogue.upsert_centers(UpsertCentersRequest { centers: province.centers.clone() }).await?;
    catalogue.upsert_agencies(UpsertAgenciesRequest { agencies: province.agencies.clone() }).await?;
    for decision in &province.catalogue.decisions {
        catalogue.publish_decision(PublishDecisionRequest { decision: Some(decision.clone()) }).await?;
    }
    // One call per center: a large province's lists outrun the operator's rate limit, so wait when told to.
    for list in &province.center_lists {
        let mut refused = 0;
        loop {
            match catalogue.set_center_procedures(list.clone()).await {
                Err(status) if status.code() == tonic::Code::ResourceExhausted && refused < 100 => {
                    refused += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                outcome => {
                    outcome?;
                    break;
                }
            };
        }
    }
    let calendar = calendar::to_csv(calendar::YEARS);
    catalogue.load_calendar_csv(LoadCalendarCsvRequest { content: calendar.into_bytes() }).await?;
    Ok(())
}

/// What [`push_recent_days`] pushed.
#[derive(Debug, Default)]
pub struct Pushed {
    /// The first and last day pushed.
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
    pub cells: usize,
    /// Records of cases resolved late.
    pub resolved_late_records: usize,
    /// Records of open cases: overdue, or due within three working days.
    pub open_records: usize,
    /// Records left out on purpose, as (center, case code).
    pub withheld_records: Vec<(String, String)>,
    /// When the simulated software first pushed each (center, day), for the days whose reporting deadline has
    /// passed; the days after are on time as pushed.
    pub first_pushes: Vec<(String, NaiveDate, DateTime<Utc>)>,
    /// Intake's cursor once everything was pushed: a read passing it sees the whole demonstration.
    pub intake_cursor: String,
}

impl Pushed {
    /// The center-days stamped as first pushed after their deadline.
    pub fn late_center_days(&self) -> usize {
        self.first_pushes.iter().filter(|(_, day, at)| *at >= reporting_deadline(*day)).count()
    }
}

/// Pushes the province's cells of the `days` days before `today`, through intake's bulk stream, and its case
/// records: those resolved late, and those still open today, but for a few left out on purpose.
pub async fn push_recent_days(
    mut intake: IntakeClient,
    province: &Province,
    today: NaiveDate,
    days: u32,
) -> anyhow::Result<Pushed> {
    if !calendar::YEARS.contains(&today.year()) {
        bail!("the demonstration knows the working-day calendars of {:?} only, not {today}", calendar::YEARS);
    }
    let first = today - Duration::days(i64::from(days));
    // The generated catalogue is in force from 2025.
    let first = first.max(NaiveDate::from_ymd_opt(2025, 1, 1).expect("a valid date"));
    let mut pushed = Pushed::default();
    let mut cells = Vec::new();
    let mut resolved_late = Vec::new();
    let mut activity = province.activity(first, (today - first).num_days() as u32);
    for day in activity.by_ref() {
        pushed.first_day.get_or_insert(day.day);
        pushed.last_day = Some(day.day);
        cells.extend(day.cells);
        resolved_late.extend(day.late_cases);
    }
    let open = activity.open_cases();

    let batches: Vec<PushCellsStreamRequest> = cells
        .chunks(5000)
        .map(|chunk| PushCellsStreamRequest {
            batch: Some(PushCellsRequest { sender: "demo".into(), cells: chunk.to_vec(), ..Default::default() }),
        })
        .collect();
    let mut answers = intake.push_cells_stream(tokio_stream::iter(batches)).await?.into_inner();
    while let Some(answer) = answers.next().await {
        let batch = answer?.batch.unwrap_or_default();
        pushed.intake_cursor = batch.cursor.clone();
        if let Some(problem) = batch.results.iter().flat_map(|r| &r.problems).next() {
            bail!("intake refused a demonstration cell: {}: {}", problem.field, problem.reason);
        }
    }
    pushed.cells = cells.len();

    pushed.withheld_records = withheld(&resolved_late, &open, today);
    let withheld: BTreeSet<&str> = pushed.withheld_records.iter().map(|(_, code)| code.as_str()).collect();
    let kept = |records: Vec<CaseRecord>| -> Vec<CaseRecord> {
        records.into_iter().filter(|r| !withheld.contains(r.case_code.as_str())).collect()
    };
    let (resolved_late, open) = (kept(resolved_late), kept(open));
    pushed.resolved_late_records = resolved_late.len();
    pushed.open_records = open.len();
    let cases: Vec<CaseRecord> = resolved_late.into_iter().chain(open).collect();
    for chunk in cases.chunks(1000) {
        let answer = intake
            .push_cases(PushCasesRequest { sender: "demo".into(), cases: chunk.to_vec(), all_or_nothing: false })
            .await?
            .into_inner();
        pushed.intake_cursor = answer.cursor.clone();
        if let Some(problem) = answer.results.iter().flat_map(|r| &r.problems).next() {
            bail!("intake refused a demonstration case record: {}: {}", problem.field, problem.reason);
        }
    }

    let center_days: BTreeSet<(String, NaiveDate)> =
        cells.iter().map(|c| (c.center_code.clone(), c.day.parse().expect("generated day"))).collect();
    pushed.first_pushes = first_pushes(province.seed, &center_days, Utc::now());
    Ok(pushed)
}

/// The records to leave out: the latest record resolved late at a few centers spread over the province, and one
/// overdue case at another, so that reconciliation finds a handful of disagreements in the last month.
fn withheld(resolved_late: &[CaseRecord], open: &[CaseRecord], today: NaiveDate) -> Vec<(String, String)> {
    let mut latest: BTreeMap<&str, &CaseRecord> = BTreeMap::new();
    for record in resolved_late {
        latest.insert(&record.receiving_center_code, record); // in the order resolved: the last one stays
    }
    let centers: Vec<&str> = latest.keys().copied().collect();
    let mut out: Vec<(String, String)> = (1..=CENTERS_MISSING_A_RESOLVED_RECORD)
        .filter_map(|k| centers.get(k * centers.len() / (CENTERS_MISSING_A_RESOLVED_RECORD + 1)))
        .map(|center| (center.to_string(), latest[center].case_code.clone()))
        .collect();
    let overdue = open.iter().find(|r| {
        r.status == CaseStatus::InProgress as i32
            && r.due_date.parse::<NaiveDate>().is_ok_and(|due| due < today)
            && !out.iter().any(|(center, _)| *center == r.receiving_center_code)
    });
    if let Some(record) = overdue {
        out.push((record.receiving_center_code.clone(), record.case_code.clone()));
    }
    out
}

/// The end of the day after `day` in Vietnam: a center-day first pushed before it is on time (aggregation's
/// policy for reporting completeness).
fn reporting_deadline(day: NaiveDate) -> DateTime<Utc> {
    vietnam_time(day + Duration::days(2), 0, 0)
}

fn vietnam_time(day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    let local = day.and_time(NaiveTime::from_hms_opt(hour, minute, 0).expect("a valid time"));
    (local - Duration::hours(7)).and_utc()
}

/// When the simulated software first pushed each center-day whose deadline has passed by `now`: most the same
/// evening or the next morning, and, at a rate of its own for each center (0–8 %, 4 % on average), two to four
/// days later.
fn first_pushes(
    seed: u64,
    center_days: &BTreeSet<(String, NaiveDate)>,
    now: DateTime<Utc>,
) -> Vec<(String, NaiveDate, DateTime<Utc>)> {
    let mut rng = Rng::new(seed ^ 0xF1A5_7B05);
    let mut late_rate: BTreeMap<&str, f64> = BTreeMap::new();
    let mut out = Vec::new();
    for (center, day) in center_days {
        if reporting_deadline(*day) > now {
            continue;
        }
        let rate = *late_rate.entry(center).or_insert_with(|| 0.08 * rng.below(1001) as f64 / 1000.0);
        let minute = rng.below(60) as u32;
        let at = if rng.chance(rate) {
            vietnam_time(*day + Duration::days(rng.between(2, 4) as i64), rng.between(8, 16) as u32, minute).min(now)
        } else if rng.chance(0.7) {
            vietnam_time(*day, rng.between(16, 23) as u32, minute)
        } else {
            vietnam_time(*day + Duration::days(1), rng.between(7, 11) as u32, minute)
        };
        out.push((center.clone(), *day, at));
    }
    out
}

/// Records when each center-day was first pushed as the simulated software pushed it. The history was pushed
/// just now, so intake stamped every day with this moment, late for all but the last day or two; reporting
/// completeness reads these times, in intake's and aggregation's `center_day_report` and aggregation's
/// `center_month_report` (aggregation keeps the earlier time of its own and ours, and the union of the days on
/// time, so it does not matter which comes first). Intake's change log keeps the true
/// times.
pub async fn stamp_first_pushes(database_url: &str, pushed: &Pushed) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(database_url).await.context("connecting to stamp first pushes")?;
    let centers: Vec<&str> = pushed.first_pushes.iter().map(|(c, _, _)| c.as_str()).collect();
    let days: Vec<NaiveDate> = pushed.first_pushes.iter().map(|(_, d, _)| *d).collect();
    let times: Vec<DateTime<Utc>> = pushed.first_pushes.iter().map(|(_, _, t)| *t).collect();
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE intake.center_day_report r SET first_pushed_at = s.at
         FROM UNNEST($1::text[], $2::date[], $3::timestamptz[]) AS s(center_code, day, at)
         WHERE r.center_code = s.center_code AND r.day = s.day AND r.first_pushed_at > s.at",
    )
    .bind(&centers)
    .bind(&days)
    .bind(&times)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO aggregation.center_day_report (center_code, day, first_pushed_at)
         SELECT * FROM UNNEST($1::text[], $2::date[], $3::timestamptz[])
         ON CONFLICT (center_code, day)
         DO UPDATE SET first_pushed_at = least(center_day_report.first_pushed_at, EXCLUDED.first_pushed_at)",
    )
    .bind(&centers)
    .bind(&days)
    .bind(&times)
    .execute(&mut *tx)
    .await?;
    // And the days first pushed by their deadline (the end of the next day in Vietnam), a bitmap per month.
    sqlx::query(
        "INSERT INTO aggregation.center_month_report AS r (center_code, month, on_time_days)
         SELECT center_code, date_trunc('month', day)::date, bit_or(1 << (extract(day FROM day)::integer - 1))
         FROM UNNEST($1::text[], $2::date[], $3::timestamptz[]) AS s(center_code, day, at)
         WHERE at < ((day + 2)::timestamp - interval '7 hours') AT TIME ZONE 'UTC'
         GROUP BY 1, 2
         ON CONFLICT (center_code, month) DO UPDATE SET on_time_days = r.on_time_days | EXCLUDED.on_time_days",
    )
    .bind(&centers)
    .bind(&days)
    .bind(&times)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Loads the province into `stack` (on `database_url`) with its last `days` days before `today`: reference data,
/// cells, case records, and the simulated first-push times.
pub async fn load(
    stack: &Stack,
    database_url: &str,
    province: &Province,
    today: NaiveDate,
    days: u32,
) -> anyhow::Result<Pushed> {
    load_reference_data(stack.catalogue_client(), province).await?;
    let pushed = push_recent_days(stack.intake_client(), province, today, days).await?;
    stamp_first_pushes(database_url, &pushed).await?;
    Ok(pushed)
}
