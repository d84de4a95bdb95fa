//! Applies intake's changes: cells into `procedure_cell` (the per-procedure copy, keyed by numbers), the day, month
//! and year roll-ups (`center_day`, `center_month`, `center_year` and their FULL online twins), the carried
//! stocks' changes ([`super::stock_changes`]), the procedures with online cases and the days reported
//! ([`super::month_sets`]); case records into `case_record`.
//!
//! A cell change carries its old and new values. The day roll-ups add the difference (new − old), so they come
//! out exact whatever order two writers of one cell committed in; `procedure_cell` keeps the newest value.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use onestop_domain::Measure;
use onestop_proto::convert::{measures_from_wire, timestamp_from_wire};
use onestop_proto::intake::v1::watch_changes_response::Change;
use onestop_proto::intake::v1::{Measures, WatchChangesRequest, WatchChangesResponse};
use onestop_server::client::IntakeClient;
use onestop_server::copy_in::{copy_in, BinaryRows};
use onestop_server::metrics::StreamLag;
use onestop_server::serve::StopSignal;
use sqlx::PgPool;

use super::numbering::BatchNumbers;
use super::{advance, apply_or_set_aside, cursor, keep_following, lock_rollups, next_batch, position, Feed, INTAKE};
use super::{month_sets, stock_changes};
use crate::apology_notices;
use crate::case_record::{self, CaseRow};
use crate::reports::corrections::{self, AppliedCellChange};
use crate::{measure_sql, sectors};

/// Most changes applied in one transaction.
const BATCH: usize = 2000;
/// How long a batch waits for more changes before it is applied.
const LINGER: Duration = Duration::from_millis(20);

/// Follows intake's changes until `stop`, reconnecting after any failure, telling `lag` how far behind it is.
pub async fn follow(pool: PgPool, intake: IntakeClient, lag: StreamLag, stop: StopSignal) {
    keep_following("intake", stop, || follow_once(&pool, intake.clone(), &lag)).await
}

async fn follow_once(pool: &PgPool, mut intake: IntakeClient, lag: &StreamLag) -> anyhow::Result<()> {
    // Cheap when nothing is missing, so it is looked at on every connection.
    match super::notice_backfill::fill_missing(pool, &mut intake).await {
        Ok(0) => {}
        Ok(cases) => {
            tracing::info!(cases, "stored the apology notices of case records applied before notices were kept")
        }
        Err(error) => tracing::warn!(%error, "could not yet fill in the apology notices of earlier case records"),
    }
    let after_cursor = cursor(pool, INTAKE).await?;
    let mut stream = intake.watch_changes(WatchChangesRequest { after_cursor }).await?.into_inner();
    let _connected = lag.connection();
    while let Some(batch) = next_batch(&mut stream, BATCH, LINGER).await {
        let batch = batch?;
        // Intake's cursors are positions, not counts: what is in hand is all this side can tell of its lag.
        lag.received(batch.len(), super::oldest(batch.iter().map(|c| c.changed_at)));
        apply_or_set_aside::<IntakeFeed>(pool, &batch).await?;
        lag.applied(None);
    }
    Ok(())
}

/// Intake's change stream, as [`super::Feed`] applies it.
pub struct IntakeFeed;

impl Feed for IntakeFeed {
    type Change = WatchChangesResponse;
    const SOURCE: &'static str = INTAKE;

    fn cursor(change: &WatchChangesResponse) -> String {
        change.cursor.clone()
    }

    fn summary(change: &WatchChangesResponse) -> String {
        match &change.change {
            Some(Change::Cell(c)) => format!("cell {} {} {}", c.center_code, c.procedure_code, c.day),
            Some(Change::CaseRecord(c)) => {
                format!("case {}", c.record.as_ref().map(|r| r.case_code.as_str()).unwrap_or_default())
            }
            None => "empty change".into(),
        }
    }

    fn apply<'a>(
        pool: &'a PgPool,
        batch: &'a [WatchChangesResponse],
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>> {
        Box::pin(apply(pool, batch))
    }
}

/// A change's measures as signed values (absent: all zero), or why they are not counts.
fn signed(measures: Option<&Measures>) -> anyhow::Result<[i64; 11]> {
    let mut out = [0i64; 11];
    if let Some(m) = measures {
        let m = measures_from_wire(m).map_err(|wrong| {
            let named: Vec<String> = wrong.into_iter().map(|(m, reason)| format!("{m} {reason}")).collect();
            anyhow::anyhow!("measures that are not counts: {}", named.join("; "))
        })?;
        for (slot, measure) in out.iter_mut().zip(Measure::ALL) {
            *slot = m.get(measure) as i64;
        }
    }
    Ok(out)
}

type CellKey = (String, NaiveDate, String);

/// A cell's value, with the id of the change that wrote it.
type ChangedValue = (i64, [i64; 11]);

/// The position of received_online among the measures.
const ONLINE: usize = 1;

/// What one batch does to the cells.
#[derive(Default)]
struct CellChanges {
    /// Summed difference per cell.
    deltas: BTreeMap<CellKey, [i64; 11]>,
    /// The newest value per cell, with the id of the change it came from.
    latest: BTreeMap<CellKey, ChangedValue>,
    /// The first push seen per (center, day).
    first_pushed: BTreeMap<(String, NaiveDate), DateTime<Utc>>,
    /// Change in the number of cells with an online case, per (center, month, procedure): where it is not zero,
    /// whether the month has one may have changed.
    online_days: BTreeMap<(String, NaiveDate, String), i32>,
}

/// Applies a batch of changes and records its last cursor, in one transaction. Changes at or before the stored
/// cursor are skipped, so two replicas following the same stream never apply a change twice.
pub async fn apply(pool: &PgPool, batch: &[WatchChangesResponse]) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    lock_rollups(&mut tx).await?;
    let applied = cursor(&mut *tx, INTAKE).await?;
    let applied = position(&applied).ok_or_else(|| anyhow::anyhow!("stored intake cursor {applied:?} is malformed"))?;
    let mut fresh = Vec::with_capacity(batch.len());
    for change in batch {
        let at = position(&change.cursor).ok_or_else(|| anyhow::anyhow!("intake cursor {:?}", change.cursor))?;
        if at > applied {
            fresh.push(change);
        }
    }
    let Some(last) = fresh.last() else { return Ok(()) };
    let last = last.cursor.clone();
    let mut cells = CellChanges::default();
    let mut cases: BTreeMap<String, CaseRow> = BTreeMap::new();
    let mut notices: BTreeMap<String, Vec<apology_notices::NoticeRow>> = BTreeMap::new();
    let mut applied_cells = Vec::new();
    for change in fresh {
        match &change.change {
            Some(Change::Cell(cell)) => {
                let key = (cell.center_code.clone(), cell.day.parse()?, cell.procedure_code.clone());
                let (old, new) = (signed(cell.old_measures.as_ref())?, signed(cell.new_measures.as_ref())?);
                let delta = cells.deltas.entry(key.clone()).or_default();
                for i in 0..11 {
                    delta[i] += new[i] - old[i];
                }
                let online = |m: &[i64; 11]| i32::from(m[ONLINE] > 0);
                let month = key.1.with_day(1).expect("day 1 exists");
                *cells.online_days.entry((key.0.clone(), month, key.2.clone())).or_default() +=
                    online(&new) - online(&old);
                // The newest value is the highest change id's: ids follow commit order for one cell, while the
                // stream follows transaction order, which two writers of one cell can commit in reverse.
                let change_id = position(&change.cursor).and_then(|p| p.last().copied()).unwrap_or(0);
                let latest = cells.latest.entry(key.clone()).or_insert((change_id, new));
                if change_id >= latest.0 {
                    *latest = (change_id, new);
                }
                let changed_at = change.changed_at.and_then(timestamp_from_wire);
                applied_cells.push(AppliedCellChange {
                    center: &cell.center_code,
                    day: key.1,
                    procedure: &cell.procedure_code,
                    cursor: &change.cursor,
                    changed_at,
                    sender: &cell.sender,
                    old,
                    new,
                });
                if let Some(at) = changed_at {
                    let first = cells.first_pushed.entry((key.0, key.1)).or_insert(at);
                    *first = (*first).min(at);
                }
            }
            Some(Change::CaseRecord(stored)) => {
                if let Some(row) = CaseRow::of(stored) {
                    notices.insert(row.case_code.clone(), apology_notices::of(stored));
                    cases.insert(row.case_code.clone(), row);
                }
            }
            None => anyhow::bail!("change {} carries nothing aggregation can read", change.cursor),
        }
    }
    store_cells(&mut tx, &cells).await?;
    corrections::keep(&mut tx, &applied_cells).await?;
    if !cases.is_empty() {
        let codes: Vec<String> = cases.keys().cloned().collect();
        case_record::store(&mut tx, cases.into_values().collect()).await?;
        apology_notices::replace(&mut tx, &codes, &notices.into_values().flatten().collect::<Vec<_>>()).await?;
        onestop_server::notify::notify_on_commit(&mut tx, super::CASES_APPLIED).await?;
    }
    advance(&mut tx, INTAKE, &last).await?;
    tx.commit().await?;
    Ok(())
}

/// Measures summed per (center, day), or per (center, month) keyed by the month's first day.
type RollupRows<'a> = BTreeMap<(&'a str, NaiveDate), [i64; 11]>;

/// Adds `rows` to a day (or month) roll-up. The batch is summed in the service, so PostgreSQL upserts one row per
/// center and day or month, its measures bound as arrays of numbers.
async fn add_to_rollup(tx: &mut sqlx::PgConnection, table: &str, rows: &RollupRows<'_>) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let (columns, updates) = (&*measure_sql::COLUMNS, &*measure_sql::ADD_EXCLUDED);
    let text = format!(
        "INSERT INTO {table} AS r (center_code, day, {columns})
         SELECT * FROM UNNEST($1::text[], $2::date[], {arrays})
         ON CONFLICT (center_code, day) DO UPDATE SET {updates}",
        arrays = measure_sql::array_parameters(3, "bigint"),
    );
    let mut query = sqlx::query(&text)
        .bind(rows.keys().map(|k| k.0).collect::<Vec<_>>())
        .bind(rows.keys().map(|k| k.1).collect::<Vec<_>>());
    for slot in 0..11 {
        query = query.bind(rows.values().map(|m| m[slot]).collect::<Vec<i64>>());
    }
    query.execute(&mut *tx).await?;
    Ok(())
}

/// Adds `delta` to the row of `key` in `rows`.
fn add_into<'a>(rows: &mut RollupRows<'a>, key: (&'a str, NaiveDate), delta: &[i64; 11]) {
    let sums = rows.entry(key).or_insert([0; 11]);
    for (sum, d) in sums.iter_mut().zip(delta) {
        *sum += d;
    }
}

/// What the roll-ups need of `procedures`' versions in aggregation's copy, read in one statement.
struct VersionFacts {
    /// The days from which, and before which, each is FULL online.
    full_online: HashMap<String, Vec<(NaiveDate, Option<NaiveDate>)>>,
    /// Its latest sector (its newest version's), which the roll-ups by sector count it under.
    latest_sector: HashMap<String, String>,
}

async fn version_facts(tx: &mut sqlx::PgConnection, procedures: &[&str]) -> Result<VersionFacts, sqlx::Error> {
    let rows: Vec<(String, NaiveDate, Option<NaiveDate>, i16, String)> = sqlx::query_as(
        "SELECT code, valid_from, valid_to, online_level, sector_code FROM procedure_version
         WHERE code = ANY($1) ORDER BY code, valid_from",
    )
    .bind(procedures)
    .fetch_all(&mut *tx)
    .await?;
    let mut facts = VersionFacts { full_online: HashMap::new(), latest_sector: HashMap::new() };
    for (code, from, to, online_level, sector) in rows {
        if online_level == 3 {
            facts.full_online.entry(code.clone()).or_default().push((from, to));
        }
        // In order of `valid_from`: the last one written is the newest.
        facts.latest_sector.insert(code, sector);
    }
    Ok(facts)
}

/// Stores the newest value of each cell of the batch in the per-procedure copy (`procedure_cell`, keyed by
/// numbers), unless the copy holds a newer one. The cells of pairs the batch only appends to are new, and are
/// copied in (`COPY`) without looking for a row to update (as every bulk load's are).
async fn store_procedure_cells(
    tx: &mut sqlx::PgConnection,
    cells: &CellChanges,
    numbers: &BatchNumbers,
    before: &stock_changes::Before,
) -> Result<(), sqlx::Error> {
    let appended = before.appended_pairs();
    let (mut new, mut others): (Vec<_>, Vec<_>) = cells
        .latest
        .iter()
        .map(|((center, day, procedure), latest)| {
            let (center_number, procedure_number) = numbers.pair(center, procedure);
            let only_appends = appended.contains(&(center.as_str(), procedure.as_str()));
            (only_appends, (center_number, procedure_number, *day, latest))
        })
        .partition(|(only_appends, _)| *only_appends);
    new.sort_unstable_by_key(|(_, r)| (r.0, r.1, r.2));
    others.sort_unstable_by_key(|(_, r)| (r.0, r.1, r.2));
    if !new.is_empty() {
        let mut copied = BinaryRows::new(15, new.len());
        for (_, (center_number, procedure_number, day, (change_id, measures))) in &new {
            copied.row().int(*center_number).int(*procedure_number).date(*day).bigint(*change_id);
            for value in measures {
                // A measure is at most MAX_COUNT (10^9), which 32 bits hold.
                copied.int(*value as i32);
            }
        }
        let statement = format!(
            "COPY procedure_cell (center_number, procedure_number, day, change_id, {})
             FROM STDIN (FORMAT binary)",
            *measure_sql::COLUMNS
        );
        copy_in(&mut *tx, &statement, copied).await?;
    }
    if others.is_empty() {
        return Ok(());
    }
    let (columns, updates) = (&*measure_sql::COLUMNS, &*measure_sql::SET_EXCLUDED);
    let upsert = format!(
        "INSERT INTO procedure_cell AS c (center_number, procedure_number, day, change_id, {columns})
         SELECT * FROM UNNEST($1::int[], $2::int[], $3::date[], $4::bigint[], {arrays})
         ON CONFLICT (center_number, procedure_number, day) DO UPDATE SET {updates}, change_id = EXCLUDED.change_id
         WHERE c.change_id <= EXCLUDED.change_id",
        arrays = measure_sql::array_parameters(5, "int"),
    );
    let mut query = sqlx::query(&upsert)
        .bind(others.iter().map(|(_, r)| r.0).collect::<Vec<_>>())
        .bind(others.iter().map(|(_, r)| r.1).collect::<Vec<_>>())
        .bind(others.iter().map(|(_, r)| r.2).collect::<Vec<_>>())
        .bind(others.iter().map(|(_, r)| r.3 .0).collect::<Vec<_>>());
    for slot in 0..11 {
        query = query.bind(others.iter().map(|(_, r)| r.3 .1[slot] as i32).collect::<Vec<i32>>());
    }
    query.execute(&mut *tx).await?;
    Ok(())
}

/// Whether each of `months` ((center, month, procedure)) still has a cell with an online case in the copy. Most
/// batches (every bulk load's) take no online case away, and ask nothing.
async fn online_left(
    tx: &mut sqlx::PgConnection,
    months: &[&(String, NaiveDate, String)],
    numbers: &BatchNumbers,
) -> Result<Vec<bool>, sqlx::Error> {
    if months.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT FROM procedure_cell c
                        WHERE c.center_number = k.center_number AND c.procedure_number = k.procedure_number
                          AND c.day >= k.month AND c.day < (k.month + interval '1 month')::date
                          AND c.received_online > 0)
         FROM UNNEST($1::int[], $2::int[], $3::date[]) WITH ORDINALITY AS k(center_number, procedure_number, month, i)
         ORDER BY k.i",
    )
    .bind(months.iter().map(|k| numbers.centers[&k.0]).collect::<Vec<_>>())
    .bind(months.iter().map(|k| numbers.procedures[&k.2]).collect::<Vec<_>>())
    .bind(months.iter().map(|k| k.1).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await
}

async fn store_cells(tx: &mut sqlx::PgConnection, cells: &CellChanges) -> Result<(), sqlx::Error> {
    if cells.deltas.is_empty() {
        return Ok(());
    }
    let mut centers: Vec<&str> = cells.deltas.keys().map(|k| k.0.as_str()).collect();
    centers.dedup();
    let procedures: Vec<&str> = cells.deltas.keys().map(|k| k.2.as_str()).collect();
    // The roll-ups by day, month and year, of every procedure and of those FULL online on the cell's day (a
    // procedure the copy does not know yet is counted when its decision arrives: the catalogue feed recomputes
    // the days it covers).
    let mut distinct_procedures = procedures.clone();
    distinct_procedures.sort_unstable();
    distinct_procedures.dedup();
    let VersionFacts { full_online, latest_sector: sector_of } = version_facts(&mut *tx, &distinct_procedures).await?;
    let mut by_sector = sectors::SectorRows::new();
    let [mut by_day, mut by_month, mut by_year, mut full_by_day, mut full_by_month, mut full_by_year] =
        std::array::from_fn(|_| RollupRows::new());
    for ((center, day, procedure), delta) in &cells.deltas {
        let month = day.with_day(1).expect("day 1 exists");
        let year = month.with_month(1).expect("month 1 exists");
        add_into(&mut by_day, (center, *day), delta);
        add_into(&mut by_month, (center, month), delta);
        add_into(&mut by_year, (center, year), delta);
        let sector = sector_of.get(procedure.as_str()).cloned().unwrap_or_default();
        let sums = &mut by_sector.entry((center.clone(), sector, sectors::half_month_of(*day))).or_default().flows;
        for (sum, d) in sums.iter_mut().zip(delta) {
            *sum += d;
        }
        let is_full_online = full_online
            .get(procedure)
            .is_some_and(|periods| periods.iter().any(|(from, to)| from <= day && to.is_none_or(|to| *day < to)));
        if is_full_online {
            add_into(&mut full_by_day, (center, *day), delta);
            add_into(&mut full_by_month, (center, month), delta);
            add_into(&mut full_by_year, (center, year), delta);
        }
    }
    for (table, rows) in [
        ("center_day", &by_day),
        ("center_month", &by_month),
        ("center_year", &by_year),
        ("center_day_full_online", &full_by_day),
        ("center_month_full_online", &full_by_month),
        ("center_year_full_online", &full_by_year),
    ] {
        add_to_rollup(&mut *tx, table, rows).await?;
    }
    let numbers = BatchNumbers::of(&mut *tx, &centers, &distinct_procedures).await?;
    let before = stock_changes::before(&mut *tx, cells.latest.keys(), &numbers).await?;
    store_procedure_cells(&mut *tx, cells, &numbers, &before).await?;
    // A month's procedures with online cases, where the batch changed how many of a procedure's cells have one:
    // more than before, the month has one; fewer, the copy is asked whether one is left.
    let fewer: Vec<&(String, NaiveDate, String)> =
        cells.online_days.iter().filter(|(_, delta)| **delta < 0).map(|(key, _)| key).collect();
    let any_left = online_left(&mut *tx, &fewer, &numbers).await?;
    let more = cells.online_days.iter().filter(|(_, delta)| **delta > 0).map(|(key, _)| (key.clone(), true));
    let changed: Vec<_> = fewer.into_iter().cloned().zip(any_left).chain(more).collect();
    month_sets::record_online(&mut *tx, &changed).await?;
    let stocks = cells.latest.iter().map(|(key, (_, m))| (key.clone(), stock_changes::stock_of(m))).collect();
    stock_changes::record(&mut *tx, before, &stocks, &sector_of, &mut by_sector, &numbers).await?;
    sectors::add(&mut *tx, &by_sector).await?;
    sqlx::query(
        "INSERT INTO center_day_report (center_code, day, first_pushed_at)
         SELECT * FROM UNNEST($1::text[], $2::date[], $3::timestamptz[])
         ON CONFLICT (center_code, day) DO UPDATE
         SET first_pushed_at = least(center_day_report.first_pushed_at, EXCLUDED.first_pushed_at)",
    )
    .bind(cells.first_pushed.keys().map(|k| k.0.as_str()).collect::<Vec<_>>())
    .bind(cells.first_pushed.keys().map(|k| k.1).collect::<Vec<_>>())
    .bind(cells.first_pushed.values().copied().collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    month_sets::record_reported(&mut *tx, &cells.first_pushed).await?;
    Ok(())
}
