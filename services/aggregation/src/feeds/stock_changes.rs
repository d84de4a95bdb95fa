//! How each center's carried pending stock changes from day to day, kept as cells change.
//!
//! A (center, procedure) pair holds the stock of its latest cell until its next, so the stock of a center on a day
//! is the sum of its pairs' latest cells on or before it. Kept instead as changes: on each day with a cell, the
//! pair's new stock less its previous cell's, summed per center and day (`center_stock_change`), per month
//! (`center_month_stock_change`) and per year (`center_year_stock_change`). A stock on any day then reads a
//! center's years, at most eleven months and at most the days of one month, however many pairs and days lie
//! behind it.
//!
//! A batch's effect is the difference between the pairs' changes after it and before it, over the days from the
//! earliest the batch touches in each pair: the cells are read back from `cell` before and after its upsert, so
//! the changes always agree with the copy (which keeps the newest value of a cell by change id, not by arrival).
//! Most batches only add later days to each pair; `cell_pair` keeps each pair's latest cell, so those read nothing
//! from `cell`.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, NaiveDate};
use onestop_domain::Measure;

use super::numbering::BatchNumbers;
use crate::sectors::SectorRows;

type Pair = (String, String);

/// The pending stock of one cell: (in time, overdue).
type Stock = (i64, i64);

/// Where `measure` sits in the arrays the feed carries.
fn slot(measure: Measure) -> usize {
    Measure::ALL.iter().position(|m| *m == measure).expect("a measure")
}

/// The stock of a cell from its measures, in [`Measure::ALL`]'s order.
pub fn stock_of(measures: &[i64; 11]) -> Stock {
    (measures[slot(Measure::PendingInTime)], measures[slot(Measure::PendingOverdue)])
}

/// A pair as the batch finds it: the stock before its earliest touched day, and its cells from that day on.
struct Window {
    from: NaiveDate,
    previous: Stock,
    cells: BTreeMap<NaiveDate, Stock>,
}

impl Window {
    /// The change of the pair's carried stock on each of its cell days in the window.
    fn changes(&self) -> impl Iterator<Item = (NaiveDate, Stock)> + '_ {
        let mut previous = self.previous;
        self.cells.iter().map(move |(day, stock)| {
            let change = (stock.0 - previous.0, stock.1 - previous.1);
            previous = *stock;
            (*day, change)
        })
    }
}

/// The pairs a batch touches, as they were before it.
pub struct Before {
    /// Pairs whose touched days all come after their latest cell: what the batch adds is known without a read.
    appended: HashMap<Pair, Window>,
    /// The other pairs, read from `cell` over the days from the earliest touched.
    rewritten: HashMap<Pair, Window>,
}

impl Before {
    /// The pairs to which the batch only adds days after their latest cell, so none of its cells is stored yet.
    pub fn appended_pairs(&self) -> HashSet<(&str, &str)> {
        self.appended.keys().map(|(center, procedure)| (center.as_str(), procedure.as_str())).collect()
    }
}

/// The earliest day the batch touches in each pair; `touched` holds every (center, day, procedure) it changes.
fn earliest_days<'a>(touched: impl Iterator<Item = &'a (String, NaiveDate, String)>) -> HashMap<Pair, NaiveDate> {
    let mut earliest: HashMap<Pair, NaiveDate> = HashMap::new();
    for (center, day, procedure) in touched {
        let entry = earliest.entry((center.clone(), procedure.clone())).or_insert(*day);
        *entry = (*entry).min(*day);
    }
    earliest
}

/// Reads the pairs of `touched` before the batch changes the copy of the cells.
pub async fn before<'a>(
    tx: &mut sqlx::PgConnection,
    touched: impl Iterator<Item = &'a (String, NaiveDate, String)>,
    numbers: &BatchNumbers,
) -> Result<Before, sqlx::Error> {
    let earliest = earliest_days(touched);
    let pairs: Vec<&Pair> = earliest.keys().collect();
    let (centers, procedures): (Vec<i32>, Vec<i32>) = pairs.iter().map(|(c, p)| numbers.pair(c, p)).unzip();
    let latest: Vec<(i64, Option<NaiveDate>, i64, i64)> = sqlx::query_as(
        "SELECT t.i, p.last_day, p.last_in_time::bigint, p.last_overdue::bigint
         FROM UNNEST($1::int[], $2::int[]) WITH ORDINALITY AS t(center_number, procedure_number, i)
         JOIN cell_pair p ON p.center_number = t.center_number AND p.procedure_number = t.procedure_number",
    )
    .bind(&centers)
    .bind(&procedures)
    .fetch_all(&mut *tx)
    .await?;
    let latest: HashMap<Pair, (Option<NaiveDate>, Stock)> = latest
        .into_iter()
        .map(|(i, day, in_time, overdue)| (pairs[i as usize - 1].clone(), (day, (in_time, overdue))))
        .collect();
    let mut before = Before { appended: HashMap::new(), rewritten: HashMap::new() };
    let mut to_read = Vec::new();
    for (pair, from) in earliest {
        match latest.get(&pair) {
            // A pair's first cells, or only days after its latest cell.
            None | Some((None, _)) => {
                before.appended.insert(pair, Window { from, previous: (0, 0), cells: BTreeMap::new() });
            }
            Some((Some(last), stock)) if *last < from => {
                before.appended.insert(pair, Window { from, previous: *stock, cells: BTreeMap::new() });
            }
            Some(_) => to_read.push((pair, from)),
        }
    }
    before.rewritten = read_windows(tx, &to_read, true).await?;
    Ok(before)
}

/// The windows of `pairs` as `cell` holds them now: with `previous`, also the stock of the cell before each
/// window (which a batch never changes, all its days of the pair being in the window).
async fn read_windows(
    tx: &mut sqlx::PgConnection,
    pairs: &[(Pair, NaiveDate)],
    previous: bool,
) -> Result<HashMap<Pair, Window>, sqlx::Error> {
    let mut windows: HashMap<Pair, Window> = pairs
        .iter()
        .map(|(pair, from)| (pair.clone(), Window { from: *from, previous: (0, 0), cells: BTreeMap::new() }))
        .collect();
    if pairs.is_empty() {
        return Ok(windows);
    }
    let centers: Vec<&str> = pairs.iter().map(|((c, _), _)| c.as_str()).collect();
    let procedures: Vec<&str> = pairs.iter().map(|((_, p), _)| p.as_str()).collect();
    let froms: Vec<NaiveDate> = pairs.iter().map(|(_, from)| *from).collect();
    let rows: Vec<(String, String, bool, NaiveDate, i64, i64)> = sqlx::query_as(
        "SELECT t.center_code, t.procedure_code, s.previous, s.day, s.pending_in_time, s.pending_overdue
         FROM UNNEST($1::text[], $2::text[], $3::date[]) AS t(center_code, procedure_code, from_day)
         CROSS JOIN LATERAL (
             (SELECT true AS previous, c.day, c.pending_in_time, c.pending_overdue FROM cell c
              WHERE $4 AND c.center_code = t.center_code AND c.procedure_code = t.procedure_code
                AND c.day < t.from_day
              ORDER BY c.day DESC LIMIT 1)
             UNION ALL
             (SELECT false, c.day, c.pending_in_time, c.pending_overdue FROM cell c
              WHERE c.center_code = t.center_code AND c.procedure_code = t.procedure_code AND c.day >= t.from_day)
         ) AS s",
    )
    .bind(&centers)
    .bind(&procedures)
    .bind(&froms)
    .bind(previous)
    .fetch_all(&mut *tx)
    .await?;
    for (center, procedure, is_previous, day, in_time, overdue) in rows {
        let window = windows.get_mut(&(center, procedure)).expect("a pair asked for");
        if is_previous {
            window.previous = (in_time, overdue);
        } else {
            window.cells.insert(day, (in_time, overdue));
        }
    }
    Ok(windows)
}

/// After the batch's upsert of `cell`: records how the batch changed each center's carried stock, and each
/// pair's latest cell. `appended` holds, for the pairs that only gained later days, the stock of each new cell.
pub async fn record(
    tx: &mut sqlx::PgConnection,
    before: Before,
    appended: &BTreeMap<(String, NaiveDate, String), Stock>,
    sector_of: &HashMap<String, String>,
    by_sector: &mut SectorRows,
    numbers: &BatchNumbers,
) -> Result<(), sqlx::Error> {
    let Before { appended: appended_before, rewritten: rewritten_before } = before;
    let mut after: HashMap<Pair, Window> = HashMap::new();
    for ((center, day, procedure), stock) in appended {
        let pair = (center.clone(), procedure.clone());
        if let Some(window) = appended_before.get(&pair) {
            let entry = after.entry(pair).or_insert_with(|| Window {
                from: window.from,
                previous: window.previous,
                cells: BTreeMap::new(),
            });
            entry.cells.insert(*day, *stock);
        }
    }
    let to_read: Vec<(Pair, NaiveDate)> = rewritten_before.iter().map(|(pair, w)| (pair.clone(), w.from)).collect();
    for (pair, mut window) in read_windows(tx, &to_read, false).await? {
        window.previous = rewritten_before[&pair].previous;
        after.insert(pair, window);
    }

    // (center, day) → change of the center's stock that day, after less before; and the same per center,
    // procedure's latest sector and half-month into `by_sector` (see `crate::sectors`), which the caller writes.
    let mut changes: BTreeMap<(String, NaiveDate), Stock> = BTreeMap::new();
    let mut add = |(center, procedure): &Pair, day: NaiveDate, change: Stock, sign: i64| {
        let entry = changes.entry((center.clone(), day)).or_default();
        entry.0 += sign * change.0;
        entry.1 += sign * change.1;
        let sector = sector_of.get(procedure).cloned().unwrap_or_default();
        let entry =
            &mut by_sector.entry((center.clone(), sector, crate::sectors::half_month_of(day))).or_default().stock;
        entry.0 += sign * change.0;
        entry.1 += sign * change.1;
    };
    for (pair, window) in appended_before.iter().chain(&rewritten_before) {
        for (day, change) in window.changes() {
            add(pair, day, change, -1);
        }
    }
    for (pair, window) in &after {
        for (day, change) in window.changes() {
            add(pair, day, change, 1);
        }
    }
    changes.retain(|_, change| *change != (0, 0));
    store_changes(tx, &changes).await?;
    store_latest(tx, &after, numbers).await
}

async fn store_changes(
    tx: &mut sqlx::PgConnection,
    changes: &BTreeMap<(String, NaiveDate), Stock>,
) -> Result<(), sqlx::Error> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut by_month: BTreeMap<(&str, NaiveDate), Stock> = BTreeMap::new();
    let mut by_year: BTreeMap<(&str, NaiveDate), Stock> = BTreeMap::new();
    for ((center, day), change) in changes {
        let month = day.with_day(1).expect("day 1 exists");
        let year = month.with_month(1).expect("month 1 exists");
        for (rows, key) in [(&mut by_month, month), (&mut by_year, year)] {
            let entry = rows.entry((center.as_str(), key)).or_default();
            entry.0 += change.0;
            entry.1 += change.1;
        }
    }
    for (table, key, rows) in [
        ("center_stock_change", "day", changes.iter().map(|((c, d), s)| (c.as_str(), *d, *s)).collect::<Vec<_>>()),
        ("center_month_stock_change", "month", by_month.iter().map(|((c, m), s)| (*c, *m, *s)).collect()),
        ("center_year_stock_change", "year", by_year.iter().map(|((c, y), s)| (*c, *y, *s)).collect()),
    ] {
        sqlx::query(&format!(
            "INSERT INTO {table} AS r (center_code, {key}, in_time, overdue)
             SELECT * FROM UNNEST($1::text[], $2::date[], $3::bigint[], $4::bigint[])
             ON CONFLICT (center_code, {key}) DO UPDATE
             SET in_time = r.in_time + EXCLUDED.in_time, overdue = r.overdue + EXCLUDED.overdue"
        ))
        .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.2 .0).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.2 .1).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Each touched pair's latest cell, as the windows after the batch end.
async fn store_latest(
    tx: &mut sqlx::PgConnection,
    after: &HashMap<Pair, Window>,
    numbers: &BatchNumbers,
) -> Result<(), sqlx::Error> {
    let mut rows: Vec<(i32, i32, NaiveDate, Stock)> = after
        .iter()
        .filter_map(|((c, p), w)| {
            let (center, procedure) = numbers.pair(c, p);
            w.cells.last_key_value().map(|(day, stock)| (center, procedure, *day, *stock))
        })
        .collect();
    rows.sort_unstable_by_key(|r| (r.0, r.1));
    sqlx::query(
        "INSERT INTO cell_pair AS p (center_number, procedure_number, last_day, last_in_time, last_overdue)
         SELECT * FROM UNNEST($1::int[], $2::int[], $3::date[], $4::bigint[], $5::bigint[])
         ON CONFLICT (center_number, procedure_number) DO UPDATE
         SET last_day = EXCLUDED.last_day, last_in_time = EXCLUDED.last_in_time, last_overdue = EXCLUDED.last_overdue
         WHERE p.last_day IS NULL OR p.last_day <= EXCLUDED.last_day",
    )
    .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.2).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.3 .0).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.3 .1).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_window_changes_by_the_difference_from_the_cell_before() {
        let window = Window {
            from: d("2026-03-02"),
            previous: (5, 1),
            cells: BTreeMap::from([(d("2026-03-02"), (7, 1)), (d("2026-03-05"), (2, 0))]),
        };
        let changes: Vec<_> = window.changes().collect();
        assert_eq!(changes, [(d("2026-03-02"), (2, 0)), (d("2026-03-05"), (-5, -1))]);
    }
}
