//! Roll-ups by sector, for form 06: flows and carried-stock changes per center, sector and half-month
//! (`center_sector_half_month`: the 1st to the 14th, the 15th to the month's end), so that whole calendar months
//! and the months of Decree 09/2019 (the 15th to the 14th) are both made of whole rows.
//!
//! A procedure counts under its *latest* sector (its newest version's; '' when the copy has no version of it), so
//! that a cell's row never depends on the day: the intake feed adds to it, and the catalogue feed moves a
//! procedure's rows when a decision changes its latest sector ([`move_procedures`]). Form 06 groups by the sector
//! of each cell's day (and of each stock's day), so [`form06_rows`] corrects, from their own cells and stocks, the
//! few procedures whose sector on some day of the period differs from their latest: an older version's, or none.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};
use onestop_domain::{Measure, Measures, PeriodTotals};
use onestop_server::ServiceResult;
use sqlx::PgConnection;

use crate::measure_sql;

/// A row's key: (center, sector, the half-month's first day).
pub type SectorMonth = (String, String, NaiveDate);

/// The first day of the half-month of `day`: the 1st, or the 15th.
pub fn half_month_of(day: NaiveDate) -> NaiveDate {
    day.with_day(if day.day() >= 15 { 15 } else { 1 }).expect("the 1st and the 15th exist")
}

/// The SQL of [`half_month_of`] for the column `day`.
const HALF_MONTH_OF_DAY: &str =
    "(date_trunc('month', c.day) + CASE WHEN extract(day FROM c.day) >= 15 THEN interval '14 days' ELSE interval '0 days' END)::date";

/// What a batch changes in one row: the eleven measures' sums, and the carried stock (in time, overdue).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SectorChange {
    pub flows: [i64; 11],
    pub stock: (i64, i64),
}

/// (center, sector, half-month) → its change.
pub type SectorRows = BTreeMap<SectorMonth, SectorChange>;

/// The latest sector of each of `procedures` by aggregation's copy ('' when it has no version).
pub async fn latest_sectors(
    db: &mut PgConnection,
    procedures: &[&str],
) -> Result<HashMap<String, String>, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT ON (code) code, sector_code FROM procedure_version WHERE code = ANY($1)
         ORDER BY code, valid_from DESC",
    )
    .bind(procedures)
    .fetch_all(&mut *db)
    .await?;
    let mut sectors: HashMap<String, String> = rows.into_iter().collect();
    for procedure in procedures {
        sectors.entry((*procedure).to_owned()).or_default();
    }
    Ok(sectors)
}

/// Adds `rows` to the roll-up, in one statement.
pub async fn add(db: &mut PgConnection, rows: &SectorRows) -> Result<(), sqlx::Error> {
    let rows: Vec<(&SectorMonth, &SectorChange)> =
        rows.iter().filter(|(_, c)| **c != SectorChange::default()).collect();
    if rows.is_empty() {
        return Ok(());
    }
    let (columns, updates) = (&*measure_sql::COLUMNS, &*measure_sql::ADD_EXCLUDED);
    let text = format!(
        "INSERT INTO center_sector_half_month AS r
             (center_code, sector_code, half_month, {columns}, stock_in_time_change, stock_overdue_change)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::date[], {arrays}, $15::bigint[], $16::bigint[])
         ON CONFLICT (center_code, half_month, sector_code) DO UPDATE SET {updates},
             stock_in_time_change = r.stock_in_time_change + EXCLUDED.stock_in_time_change,
             stock_overdue_change = r.stock_overdue_change + EXCLUDED.stock_overdue_change",
        arrays = measure_sql::array_parameters(4, "bigint"),
    );
    let mut query = sqlx::query(&text)
        .bind(rows.iter().map(|(k, _)| k.0.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|(k, _)| k.1.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|(k, _)| k.2).collect::<Vec<_>>());
    for slot in 0..11 {
        query = query.bind(rows.iter().map(|(_, c)| c.flows[slot]).collect::<Vec<i64>>());
    }
    query
        .bind(rows.iter().map(|(_, c)| c.stock.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, c)| c.stock.1).collect::<Vec<_>>())
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// Moves every row of each procedure from its old latest sector to its new one: `moves` holds (procedure, old,
/// new). Its cells are summed again from `cell`, and its pairs' stock changes recomputed from them, once under
/// the old sector (taken away) and once under the new (added).
pub async fn move_procedures(db: &mut PgConnection, moves: &[(String, String, String)]) -> Result<(), sqlx::Error> {
    if moves.is_empty() {
        return Ok(());
    }
    let codes: Vec<&str> = moves.iter().map(|m| m.0.as_str()).collect();
    let olds: Vec<&str> = moves.iter().map(|m| m.1.as_str()).collect();
    let news: Vec<&str> = moves.iter().map(|m| m.2.as_str()).collect();
    let (columns, updates) = (&*measure_sql::COLUMNS, &*measure_sql::ADD_EXCLUDED);
    let signed_sums =
        Measure::ALL.iter().map(|m| format!("s.sign * sum(c.{})", m.name())).collect::<Vec<_>>().join(", ");
    let sides =
        "SELECT code, old AS sector, -1 AS sign FROM UNNEST($1::text[], $2::text[], $3::text[]) AS m(code, old, new)
                 UNION ALL
                 SELECT code, new, 1 FROM UNNEST($1::text[], $2::text[], $3::text[]) AS m(code, old, new)";
    let zeros = Measure::ALL.iter().map(|_| "0").collect::<Vec<_>>().join(", ");
    let upsert = format!(
        "INSERT INTO center_sector_half_month AS r
             (center_code, sector_code, half_month, {columns}, stock_in_time_change, stock_overdue_change)"
    );
    let on_conflict = format!(
        "ON CONFLICT (center_code, half_month, sector_code) DO UPDATE SET {updates},
             stock_in_time_change = r.stock_in_time_change + EXCLUDED.stock_in_time_change,
             stock_overdue_change = r.stock_overdue_change + EXCLUDED.stock_overdue_change"
    );
    sqlx::query(&format!(
        "{upsert}
         SELECT c.center_code, s.sector, {HALF_MONTH_OF_DAY}, {signed_sums}, 0, 0
         FROM ({sides}) AS s JOIN cell c ON c.procedure_code = s.code
         GROUP BY c.center_code, s.sector, 3, s.sign
         {on_conflict}"
    ))
    .bind(&codes)
    .bind(&olds)
    .bind(&news)
    .execute(&mut *db)
    .await?;
    sqlx::query(&format!(
        "{upsert}
         SELECT c.center_code, s.sector, {HALF_MONTH_OF_DAY}, {zeros},
                s.sign * sum(c.pending_in_time - c.previous_in_time), s.sign * sum(c.pending_overdue - c.previous_overdue)
         FROM ({sides}) AS s
         JOIN (SELECT center_code, procedure_code, day, pending_in_time, pending_overdue,
                      coalesce(lag(pending_in_time) OVER pair, 0) AS previous_in_time,
                      coalesce(lag(pending_overdue) OVER pair, 0) AS previous_overdue
               FROM cell WHERE procedure_code = ANY($1)
               WINDOW pair AS (PARTITION BY center_code, procedure_code ORDER BY day)) AS c ON c.procedure_code = s.code
         GROUP BY c.center_code, s.sector, 3, s.sign
         {on_conflict}"
    ))
    .bind(&codes)
    .bind(&olds)
    .bind(&news)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// Whether `[first, last]` is made of whole half-months, which the roll-ups answer: calendar months, and the
/// months of Decree 09/2019.
pub fn whole_half_months(first: NaiveDate, last: NaiveDate) -> bool {
    let starts_half = |day: NaiveDate| day.day() == 1 || day.day() == 15;
    first <= last && starts_half(first) && last.succ_opt().is_some_and(starts_half)
}

/// A (center, sector) row of form 06 before it is placed in its level: the period's totals.
pub type CenterSectorTotals = HashMap<(String, String), PeriodTotals>;

/// Form 06's facts per (center, sector) over `[first, last]`, whole half-months: flows summed per half-month,
/// stocks at the end of `last` and of the day before `first` from the stock changes, each corrected for the
/// procedures whose sector on a day of the period (or on a stock's day) is not their latest. Every (center,
/// sector) that has something to say is present, as in the cell-by-cell computation: a cell with a non-zero
/// measure in `[first - 1, last]`, or a non-zero stock on either day.
pub async fn form06_rows(
    db: &mut PgConnection,
    centers: &[String],
    first: NaiveDate,
    last: NaiveDate,
) -> ServiceResult<CenterSectorTotals> {
    let before = first.pred_opt().expect("a day before a period of 1900 on");
    let mut rows: CenterSectorTotals = HashMap::new();
    let mut present: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();

    // Flows, by latest sector.
    let flows: Vec<(String, String, Vec<i64>)> = sqlx::query_as(&format!(
        "SELECT center_code, sector_code, {sums} FROM center_sector_half_month
         WHERE center_code = ANY($1) AND half_month BETWEEN $2 AND $3 GROUP BY 1, 2",
        sums = *measure_sql::SUMS_ARRAY
    ))
    .bind(centers)
    .bind(first)
    .bind(last)
    .fetch_all(&mut *db)
    .await?;
    let mut flow_sums: HashMap<(String, String), [i64; 11]> = HashMap::new();
    for (center, sector, values) in flows {
        let sums = flow_sums.entry((center, sector)).or_insert([0; 11]);
        for (sum, v) in sums.iter_mut().zip(values) {
            *sum += v;
        }
    }
    // The procedures whose sector on some day of `[first - 1, last]` is not their latest: a version overlapping
    // those days has another sector, or some of the days have no version (before the first overlapping one, in a
    // gap, after the last ends, or none overlaps at all).
    let shifted: Vec<(String, String)> = sqlx::query_as(
        "WITH v AS (
             SELECT code, sector_code, valid_from, valid_to,
                    first_value(sector_code) OVER (PARTITION BY code ORDER BY valid_from DESC) AS latest,
                    lead(valid_from) OVER (PARTITION BY code ORDER BY valid_from) AS next_from,
                    valid_from <= $2 AND (valid_to IS NULL OR valid_to > $1) AS overlapping
             FROM procedure_version)
         SELECT code, max(latest) FROM v GROUP BY code
         HAVING NOT bool_or(overlapping)
             OR bool_or(overlapping AND sector_code <> latest)
             OR min(valid_from) FILTER (WHERE overlapping) > $1
             OR bool_or(overlapping AND valid_to IS NOT NULL AND valid_to <= $2
                        AND (next_from IS NULL OR next_from > valid_to))",
    )
    .bind(before)
    .bind(last)
    .fetch_all(&mut *db)
    .await?;
    let latest_of: HashMap<&str, &str> = shifted.iter().map(|(c, s)| (c.as_str(), s.as_str())).collect();
    let shifted_codes: Vec<&str> = shifted.iter().map(|(c, _)| c.as_str()).collect();
    if !shifted_codes.is_empty() {
        // Their cells of the period: taken from their latest sector, put under the sector of their day.
        let cells: Vec<(String, String, String, Vec<i64>)> = sqlx::query_as(&format!(
            "SELECT c.center_code, c.procedure_code, coalesce(v.sector_code, ''), {array}
             FROM cell c
             LEFT JOIN procedure_version v ON v.code = c.procedure_code AND v.valid_from <= c.day
                                          AND (v.valid_to IS NULL OR c.day < v.valid_to)
             WHERE c.center_code = ANY($1) AND c.procedure_code = ANY($2) AND c.day BETWEEN $3 AND $4",
            array = *measure_sql::ARRAY
        ))
        .bind(centers)
        .bind(&shifted_codes)
        .bind(first)
        .bind(last)
        .fetch_all(&mut *db)
        .await?;
        for (center, procedure, sector, values) in cells {
            let latest = latest_of[procedure.as_str()].to_owned();
            if latest == sector {
                continue;
            }
            let from = flow_sums.entry((center.clone(), latest)).or_insert([0; 11]);
            for (sum, v) in from.iter_mut().zip(&values) {
                *sum -= v;
            }
            let to = flow_sums.entry((center, sector)).or_insert([0; 11]);
            for (sum, v) in to.iter_mut().zip(&values) {
                *sum += v;
            }
        }
    }
    for (key, sums) in &flow_sums {
        if sums.iter().any(|v| *v != 0) {
            present.insert(key.clone());
        }
        let mut measures = [0u64; 11];
        for (slot, (m, v)) in measures.iter_mut().zip(Measure::ALL.iter().zip(sums)) {
            // Stocks come from the stock changes below; a half-month's sum of daily stocks means nothing here.
            *slot = if m.is_stock() { 0 } else { (*v).max(0) as u64 };
        }
        rows.entry(key.clone()).or_default().measures = Measures::from_values(measures);
    }

    // The day before: a cell with a non-zero measure on it makes its row present, as a period's edge does.
    let edge: Vec<(String, String)> = sqlx::query_as(&format!(
        "SELECT DISTINCT c.center_code, coalesce(v.sector_code, '') FROM cell c
         LEFT JOIN procedure_version v ON v.code = c.procedure_code AND v.valid_from <= c.day
                                      AND (v.valid_to IS NULL OR c.day < v.valid_to)
         WHERE c.center_code = ANY($1) AND c.day = $2 AND ({total}) > 0",
        total = *measure_sql::TOTAL
    ))
    .bind(centers)
    .bind(before)
    .fetch_all(&mut *db)
    .await?;
    for key in edge {
        rows.entry(key.clone()).or_default();
        present.insert(key);
    }

    // Stocks at the end of the day before and of the last day (each the end of a half-month): the half-months'
    // changes up to each, by latest sector,
    // then the shifted procedures' pairs moved to the sector of that day.
    for (day, is_last) in [(before, false), (last, true)] {
        let stocks: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT center_code, sector_code, sum(stock_in_time_change)::bigint, sum(stock_overdue_change)::bigint
             FROM center_sector_half_month WHERE center_code = ANY($1) AND half_month <= $2 GROUP BY 1, 2",
        )
        .bind(centers)
        .bind(day)
        .fetch_all(&mut *db)
        .await?;
        let mut by_key: HashMap<(String, String), (i64, i64)> =
            stocks.into_iter().map(|(c, s, i, o)| ((c, s), (i, o))).collect();
        if !shifted_codes.is_empty() {
            let pairs = crate::totals::stocks_on(db, centers, Some(&shifted_codes), &[day]).await?;
            for s in pairs {
                let latest = latest_of[s.procedure_code.as_str()].to_owned();
                if latest == s.sector_code {
                    continue;
                }
                let from = by_key.entry((s.center_code.clone(), latest)).or_default();
                from.0 -= s.pending_in_time;
                from.1 -= s.pending_overdue;
                let to = by_key.entry((s.center_code, s.sector_code)).or_default();
                to.0 += s.pending_in_time;
                to.1 += s.pending_overdue;
            }
        }
        for (key, (in_time, overdue)) in by_key {
            if (in_time, overdue) == (0, 0) {
                continue;
            }
            present.insert(key.clone());
            let totals = rows.entry(key).or_default();
            let (in_time, overdue) = (in_time.max(0) as u64, overdue.max(0) as u64);
            if is_last {
                totals.measures.set(Measure::PendingInTime, in_time);
                totals.measures.set(Measure::PendingOverdue, overdue);
            } else {
                totals.carried_over = in_time + overdue;
            }
        }
    }
    rows.retain(|key, _| present.contains(key));
    Ok(rows)
}
