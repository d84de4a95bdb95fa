//! Daily cells: checked cell by cell, stored as snapshots in a few set-based statements per batch, every
//! accepted change recorded with its old and new values.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use onestop_domain::{FieldViolation, Measure, Measures, Violations};
use onestop_proto::convert::measures_from_wire;
use onestop_proto::intake::v1::{CellVersion, CenterDayReport, DailyCell};
use onestop_server::copy_in::{copy_in, BinaryRows};
use onestop_server::{paging, ServiceError, ServiceResult};
use sqlx::{PgPool, Postgres, Transaction};

use crate::catalogue_view::{Known, Wanted};
use onestop_proto::convert::{timestamp_from_wire as from_wire, timestamp_to_wire as to_wire};

/// Most cells in one push.
pub const MAX_CELLS_PER_PUSH: usize = 10_000;

/// The key of a cell.
pub type CellKey = (String, NaiveDate, String);

/// A cell whose own fields are well formed.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidCell {
    pub center_code: String,
    pub procedure_code: String,
    pub day: NaiveDate,
    pub measures: Measures,
    pub computed_at: Option<DateTime<Utc>>,
}

impl ValidCell {
    pub fn key(&self) -> CellKey {
        (self.center_code.clone(), self.day, self.procedure_code.clone())
    }
}

/// Checks one cell's own fields; `today` is the date in Vietnam.
pub fn check_fields(index: usize, cell: &DailyCell, today: NaiveDate) -> Result<ValidCell, Vec<FieldViolation>> {
    let mut v = Violations::new();
    let field = |name: &str| format!("cells[{index}].{name}");
    v.code(&field("center_code"), &cell.center_code);
    v.procedure_code(&field("procedure_code"), &cell.procedure_code);
    let day = v.date(&field("day"), &cell.day);
    if let Some(day) = day.filter(|d| *d > today) {
        v.add(field("day"), format!("{day} is in the future (today is {today} in Vietnam)"));
    }
    let measures = match &cell.measures {
        None => {
            v.add(field("measures"), "is required");
            None
        }
        Some(wire) => match measures_from_wire(wire) {
            Ok(measures) => Some(measures),
            Err(wrong) => {
                for (measure, reason) in wrong {
                    v.add(field(&format!("measures.{measure}")), reason);
                }
                None
            }
        },
    };
    let computed_at = match cell.computed_at.map(from_wire) {
        Some(None) => {
            v.add(field("computed_at"), "is not a valid time");
            None
        }
        Some(Some(t)) => Some(t).filter(|t| v.year(&field("computed_at"), t.year())),
        None => None,
    };
    v.into_result()?;
    Ok(ValidCell {
        center_code: cell.center_code.clone(),
        procedure_code: cell.procedure_code.clone(),
        day: day.expect("checked"),
        measures: measures.expect("checked"),
        computed_at,
    })
}

/// What a cell names in the catalogue, as far as its fields are well formed enough to name it: checked even when
/// other fields are wrong, so that a refusal lists every problem at once.
#[derive(Debug, Clone, Default)]
pub struct References {
    pub center: Option<String>,
    pub procedure: Option<String>,
    pub day: Option<NaiveDate>,
}

impl References {
    pub fn of(cell: &DailyCell) -> References {
        let code = |value: &str| onestop_domain::validate::check_code(value).is_ok().then(|| value.to_owned());
        References {
            center: code(&cell.center_code),
            procedure: code(&cell.procedure_code),
            day: onestop_domain::validate::parse_date(&cell.day).ok(),
        }
    }
}

/// What to ask the catalogue about the cells naming `references`.
pub fn wanted(references: &[References]) -> Wanted {
    let mut wanted = Wanted::default();
    for r in references {
        if let Some(center) = &r.center {
            wanted.centers.insert(center.clone());
        }
        if let (Some(procedure), Some(day)) = (&r.procedure, r.day) {
            wanted.procedures.insert((procedure.clone(), day));
            if let Some(center) = &r.center {
                wanted.received.insert((center.clone(), procedure.clone(), day));
            }
        }
    }
    wanted
}

/// Every way a cell's references are wrong: an unknown center, a procedure not in force on the day (naming the
/// decision that ended it, when one did), or a procedure the center does not receive that day.
pub fn check_references(index: usize, cell: &References, known: &Known) -> Vec<FieldViolation> {
    let field = |name: &str| format!("cells[{index}].{name}");
    let mut wrong = Vec::new();
    let center_known = match &cell.center {
        Some(center) if !known.center(center) => {
            wrong.push(FieldViolation::new(field("center_code"), format!("center {center} not found")));
            false
        }
        Some(_) => true,
        None => false,
    };
    let (Some(procedure), Some(day)) = (&cell.procedure, cell.day) else { return wrong };
    if !known.procedure(procedure, day) {
        let reason = match known.ended(procedure, day) {
            Some((ended, decision)) => {
                format!("procedure {procedure} is not in force on {day}: decision {decision} ended it on {ended}")
            }
            None => format!("procedure {procedure} is not in the catalogue on {day}"),
        };
        wrong.push(FieldViolation::new(field("procedure_code"), reason));
    } else if let (true, Some(center)) = (center_known, &cell.center) {
        if !known.received(center, procedure, day) {
            wrong.push(FieldViolation::new(
                field("procedure_code"),
                format!("center {center} does not receive procedure {procedure} on {day}"),
            ));
        }
    }
    wrong
}

/// What is stored of a push's cells and of the days before them, read before the push's transaction: each such
/// cell's pending stock. It gives the pending-stock warnings, and tells which of the push's cells are new, so that
/// those are inserted without first being looked for (every cell of a bulk load is).
#[derive(Debug, Default)]
pub struct StoredAround {
    pending: HashMap<CellKey, u64>,
}

impl StoredAround {
    /// Reads what is stored of `cells` and of their days before. A push that covers a good part of the (center,
    /// day) rectangle it spans (a bulk load's days of every center, weekends and all; a center's week) reads the
    /// rectangle with one range of the key per center, at most about five times the (center, day)s it names; any
    /// other reads its keys one by one.
    pub async fn read(pool: &PgPool, cells: &[(usize, ValidCell)]) -> ServiceResult<StoredAround> {
        let (Some(first), Some(last)) =
            (cells.iter().map(|(_, c)| c.day).min(), cells.iter().map(|(_, c)| c.day).max())
        else {
            return Ok(StoredAround::default());
        };
        let from = first.pred_opt().unwrap_or(first);
        let centers: HashSet<&str> = cells.iter().map(|(_, c)| c.center_code.as_str()).collect();
        let center_days: HashSet<(&str, NaiveDate)> =
            cells.iter().map(|(_, c)| (c.center_code.as_str(), c.day)).collect();
        let rectangle = centers.len() as i64 * ((last - from).num_days() + 1);
        let dense = rectangle <= 4 * center_days.len() as i64 + centers.len() as i64;
        let rows: Vec<(String, NaiveDate, String, i64)> = if dense {
            sqlx::query_as(
                "SELECT center_code, day, procedure_code, pending_in_time + pending_overdue FROM daily_cell
                     WHERE center_code = ANY($1) AND day BETWEEN $2 AND $3",
            )
            .bind(centers.into_iter().collect::<Vec<_>>())
            .bind(from)
            .bind(last)
            .fetch_all(pool)
            .await?
        } else {
            let in_push: HashSet<CellKey> = cells.iter().map(|(_, c)| c.key()).collect();
            let before = cells
                .iter()
                .filter_map(|(_, c)| c.day.pred_opt().map(|d| (c.center_code.clone(), d, c.procedure_code.clone())));
            let keys: Vec<CellKey> = before.filter(|k| !in_push.contains(k)).chain(in_push.iter().cloned()).collect();
            sqlx::query_as(
                "SELECT c.center_code, c.day, c.procedure_code, c.pending_in_time + c.pending_overdue
                     FROM daily_cell c
                     JOIN UNNEST($1::text[], $2::date[], $3::text[]) AS k(center_code, day, procedure_code)
                       USING (center_code, day, procedure_code)",
            )
            .bind(keys.iter().map(|k| k.0.as_str()).collect::<Vec<_>>())
            .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
            .bind(keys.iter().map(|k| k.2.as_str()).collect::<Vec<_>>())
            .fetch_all(pool)
            .await?
        };
        Ok(StoredAround { pending: rows.into_iter().map(|(c, d, p, n)| ((c, d, p), n.max(0) as u64)).collect() })
    }

    /// Whether the cell was stored when read.
    pub fn holds(&self, key: &CellKey) -> bool {
        self.pending.contains_key(key)
    }

    /// Warnings for cells whose pending stock does not follow from the day before:
    /// pending(d) = pending(d−1) + received(d) − resolved(d) − withdrawn_or_returned(d). The day before is taken
    /// from the same push when it is there, else from what is stored; a cell with no known day before is not
    /// checked.
    pub fn pending_warnings(&self, cells: &[(usize, ValidCell)]) -> HashMap<usize, FieldViolation> {
        let in_push: HashMap<CellKey, u64> = cells.iter().map(|(_, c)| (c.key(), c.measures.pending())).collect();
        let mut warnings = HashMap::new();
        for (index, cell) in cells {
            let Some(before) = cell.day.pred_opt() else { continue };
            let key = (cell.center_code.clone(), before, cell.procedure_code.clone());
            let Some(previous) = in_push.get(&key).or(self.pending.get(&key)) else { continue };
            let m = &cell.measures;
            let expected = *previous as i128 + m.received() as i128
                - m.resolved() as i128
                - m.get(Measure::WithdrawnOrReturned) as i128;
            if expected != m.pending() as i128 {
                warnings.insert(
                    *index,
                    FieldViolation::new(
                        format!("cells[{index}].measures"),
                        format!(
                            "pending at the end of {} is {}, but the day before's {previous} + received {} − \
                             resolved {} − withdrawn or returned {} gives {expected}",
                            cell.day,
                            m.pending(),
                            m.received(),
                            m.resolved(),
                            m.get(Measure::WithdrawnOrReturned)
                        ),
                    ),
                );
            }
        }
        warnings
    }
}

/// What storing did to one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Accepted,
    Unchanged,
    Stale,
}

/// The measures of `rows`, as eleven columns (one array per measure, in storage order), to bind as `bigint[]`
/// parameters: PostgreSQL reads them as numbers, with no text to parse.
fn measure_columns<'a>(rows: impl Iterator<Item = &'a Measures> + Clone) -> Vec<Vec<i64>> {
    (0..11).map(|slot| rows.clone().map(|m| m.values()[slot] as i64).collect()).collect()
}

/// `$first::bigint[], …`: eleven array parameters from `$first` on.
fn measure_parameters(first: usize) -> String {
    (first..first + 11).map(|i| format!("${i}::bigint[]")).collect::<Vec<_>>().join(", ")
}

/// `m1, …, m11`: the names the eleven unnested measure columns get.
fn measure_names(prefix: &str) -> String {
    (1..=11).map(|i| format!("{prefix}{i}")).collect::<Vec<_>>().join(", ")
}

/// The measure columns of `daily_cell`, in storage order.
pub(crate) const MEASURE_COLUMNS: &str = "received_direct, received_online, received_postal, resolved_early, \
     resolved_on_time, resolved_late, withdrawn_or_returned, results_returned_by_post, apology_notices_issued, \
     pending_in_time, pending_overdue";

#[derive(sqlx::FromRow)]
struct StoredRow {
    center_code: String,
    day: NaiveDate,
    procedure_code: String,
    measures: Vec<i64>,
    computed_at: Option<DateTime<Utc>>,
    sender: String,
}

/// The value a correction replaces, as its change-log row keeps it.
struct Replaced {
    measures: Measures,
    sender: String,
    computed_at: Option<DateTime<Utc>>,
}

pub fn measures_of(values: &[i64]) -> Measures {
    let mut out = [0u64; 11];
    for (slot, v) in out.iter_mut().zip(values) {
        *slot = (*v).max(0) as u64;
    }
    Measures::from_values(out)
}

/// Locks the stored cells among `keys`, in key order so that concurrent pushes wait rather than deadlock.
async fn lock_existing(tx: &mut Transaction<'_, Postgres>, keys: &[&CellKey]) -> ServiceResult<Vec<StoredRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT c.center_code, c.day, c.procedure_code, ARRAY[{MEASURE_COLUMNS}] AS measures, c.computed_at,
                c.sender
         FROM daily_cell c JOIN UNNEST($1::text[], $2::date[], $3::text[]) AS k(center_code, day, procedure_code)
           USING (center_code, day, procedure_code)
         ORDER BY c.center_code, c.day, c.procedure_code
         FOR UPDATE OF c"
    ))
    .bind(keys.iter().map(|k| k.0.as_str()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.2.as_str()).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?)
}

/// Stores `cells` (distinct keys, already checked) in the transaction: a new cell is inserted, an equal one left
/// alone, one computed earlier than the stored value kept out, any other replaces the stored value. Every
/// insert and replacement is logged: an insert by the cell's key alone (the cell holds its value), a replacement
/// with the value it replaced and the one it wrote. `stored` (read before the transaction) says which cells to
/// look for and which to insert straight away; a cell it is wrong about is found on the second round.
pub async fn store(
    tx: &mut Transaction<'_, Postgres>,
    sender: &str,
    cells: &[ValidCell],
    stored: &StoredAround,
) -> ServiceResult<Vec<Stored>> {
    let mut order: Vec<usize> = (0..cells.len()).collect();
    order.sort_by_key(|&i| cells[i].key());
    let keys: Vec<CellKey> = cells.iter().map(ValidCell::key).collect();
    let position: HashMap<&CellKey, usize> = keys.iter().enumerate().map(|(i, k)| (k, i)).collect();

    let mut outcomes: Vec<Option<Stored>> = vec![None; cells.len()];
    let mut changes: Vec<(usize, Option<Replaced>)> = Vec::new(); // (cell, the value it replaced)
    let mut updates: Vec<usize> = Vec::new();
    let mut touches: Vec<usize> = Vec::new(); // equal values, newer computed_at

    // Cells stored when read are locked and compared; the others are inserted. A cell another push inserts
    // meanwhile is not inserted, and is locked and compared on the second round; cells are never deleted, so
    // every cell believed stored is found.
    let (mut to_lock, mut to_insert): (Vec<usize>, Vec<usize>) =
        order.into_iter().partition(|&i| stored.holds(&keys[i]));
    for _round in 0..2 {
        let mut not_found = Vec::new();
        if !to_lock.is_empty() {
            let lock_keys: Vec<&CellKey> = to_lock.iter().map(|&i| &keys[i]).collect();
            for row in lock_existing(tx, &lock_keys).await? {
                let i = position[&(row.center_code, row.day, row.procedure_code)];
                let stored =
                    Replaced { measures: measures_of(&row.measures), sender: row.sender, computed_at: row.computed_at };
                outcomes[i] = Some(match compare(&cells[i], stored) {
                    Comparison::Stale => Stored::Stale,
                    Comparison::Unchanged { computed_later } => {
                        if computed_later {
                            touches.push(i);
                        }
                        Stored::Unchanged
                    }
                    Comparison::Replaces(old) => {
                        updates.push(i);
                        changes.push((i, Some(old)));
                        Stored::Accepted
                    }
                });
            }
            not_found = to_lock.into_iter().filter(|&i| outcomes[i].is_none()).collect();
        }
        let mut not_inserted = Vec::new();
        if !to_insert.is_empty() {
            for key in insert_new(tx, sender, cells, &to_insert).await? {
                let i = position[&key];
                outcomes[i] = Some(Stored::Accepted);
                changes.push((i, None));
            }
            not_inserted = to_insert.into_iter().filter(|&i| outcomes[i].is_none()).collect();
        }
        (to_lock, to_insert) = (not_inserted, not_found);
        if to_lock.is_empty() && to_insert.is_empty() {
            break;
        }
    }
    if outcomes.iter().any(Option::is_none) {
        return Err(ServiceError::Unavailable("a concurrent push kept changing the same cells; retry".into()));
    }

    if !updates.is_empty() || !touches.is_empty() {
        // A touch (the same value computed later) keeps the sender of the value: the change log names it.
        let rows: Vec<usize> = updates.iter().chain(&touches).copied().collect();
        let text = format!(
            "UPDATE daily_cell c SET
                 received_direct = u.m1, received_online = u.m2, received_postal = u.m3,
                 resolved_early = u.m4, resolved_on_time = u.m5, resolved_late = u.m6,
                 withdrawn_or_returned = u.m7, results_returned_by_post = u.m8,
                 apology_notices_issued = u.m9, pending_in_time = u.m10, pending_overdue = u.m11,
                 computed_at = u.computed_at, sender = CASE WHEN u.changed THEN $5 ELSE c.sender END,
                 updated_at = now()
             FROM UNNEST($1::text[], $2::date[], $3::text[], $4::timestamptz[], $6::bool[], {parameters})
                  AS u(center_code, day, procedure_code, computed_at, changed, {names})
             WHERE c.center_code = u.center_code AND c.day = u.day AND c.procedure_code = u.procedure_code",
            names = measure_names("m"),
            parameters = measure_parameters(7),
        );
        let mut update = sqlx::query(&text)
            .bind(rows.iter().map(|&i| cells[i].center_code.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|&i| cells[i].day).collect::<Vec<_>>())
            .bind(rows.iter().map(|&i| cells[i].procedure_code.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|&i| cells[i].computed_at).collect::<Vec<_>>())
            .bind(sender)
            .bind((0..rows.len()).map(|n| n < updates.len()).collect::<Vec<_>>());
        for column in measure_columns(rows.iter().map(|&i| &cells[i].measures)) {
            update = update.bind(column);
        }
        update.execute(&mut **tx).await?;
    }

    if !changes.is_empty() {
        changes.sort_by_key(|(i, _)| keys[*i].clone());
        log_changes(tx, sender, cells, &changes).await?;
        let mut days: Vec<(&str, NaiveDate)> =
            changes.iter().map(|(i, _)| (cells[*i].center_code.as_str(), cells[*i].day)).collect();
        days.sort();
        days.dedup();
        sqlx::query(
            "INSERT INTO center_day_report (center_code, day) SELECT * FROM UNNEST($1::text[], $2::date[])
             ON CONFLICT (center_code, day) DO UPDATE SET last_changed_at = now()",
        )
        .bind(days.iter().map(|d| d.0).collect::<Vec<_>>())
        .bind(days.iter().map(|d| d.1).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
        onestop_server::notify::notify_on_commit(tx, crate::changes::CHANNEL).await?;
    }
    Ok(outcomes.into_iter().map(|o| o.expect("every cell decided")).collect())
}

/// What a pushed cell does to the stored one.
enum Comparison {
    /// The stored value was computed later: the cell is kept out.
    Stale,
    /// The same value, perhaps computed later (which moves the stored computation time on).
    Unchanged { computed_later: bool },
    /// A different value, which replaces the stored one.
    Replaces(Replaced),
}

fn compare(cell: &ValidCell, stored: Replaced) -> Comparison {
    if matches!((cell.computed_at, stored.computed_at), (Some(mine), Some(theirs)) if mine < theirs) {
        Comparison::Stale
    } else if stored.measures == cell.measures {
        Comparison::Unchanged { computed_later: cell.computed_at.is_some() && cell.computed_at > stored.computed_at }
    } else {
        Comparison::Replaces(stored)
    }
}

/// Inserts the cells `rows` of `cells` unless stored meanwhile; returns the keys it inserted. They are copied in
/// (`COPY`, which stores a bulk message's cells in about half the time of an `INSERT`), under a savepoint: when
/// another push stored one of them meanwhile, the copy fails as a whole, and they are inserted by a statement that
/// skips the cells stored.
async fn insert_new(
    tx: &mut Transaction<'_, Postgres>,
    sender: &str,
    cells: &[ValidCell],
    rows: &[usize],
) -> ServiceResult<Vec<CellKey>> {
    sqlx::query("SAVEPOINT insert_new").execute(&mut **tx).await?;
    match copy_new(tx, sender, cells, rows).await {
        Ok(_) => {
            sqlx::query("RELEASE SAVEPOINT insert_new").execute(&mut **tx).await?;
            return Ok(rows.iter().map(|&i| cells[i].key()).collect());
        }
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            sqlx::query("ROLLBACK TO SAVEPOINT insert_new").execute(&mut **tx).await?;
        }
        Err(other) => return Err(other.into()),
    }
    let text = format!(
        "INSERT INTO daily_cell (center_code, procedure_code, day, {MEASURE_COLUMNS}, computed_at, sender)
         SELECT center_code, procedure_code, day, {names}, computed_at, $5
         FROM UNNEST($1::text[], $2::text[], $3::date[], $4::timestamptz[], {parameters})
              AS t(center_code, procedure_code, day, computed_at, {names})
         ON CONFLICT (center_code, day, procedure_code) DO NOTHING
         RETURNING center_code, day, procedure_code",
        names = measure_names("m"),
        parameters = measure_parameters(6),
    );
    let mut insert = sqlx::query_as(&text)
        .bind(rows.iter().map(|&i| cells[i].center_code.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|&i| cells[i].procedure_code.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|&i| cells[i].day).collect::<Vec<_>>())
        .bind(rows.iter().map(|&i| cells[i].computed_at).collect::<Vec<_>>())
        .bind(sender);
    for column in measure_columns(rows.iter().map(|&i| &cells[i].measures)) {
        insert = insert.bind(column);
    }
    Ok(insert.fetch_all(&mut **tx).await?)
}

/// Copies the cells `rows` of `cells` into `daily_cell`: all of them, or none if one is stored already.
async fn copy_new(
    tx: &mut Transaction<'_, Postgres>,
    sender: &str,
    cells: &[ValidCell],
    rows: &[usize],
) -> Result<u64, sqlx::Error> {
    let mut copied = BinaryRows::new(16, rows.len());
    for &i in rows {
        let cell = &cells[i];
        copied.row().text(&cell.center_code).text(&cell.procedure_code).date(cell.day);
        for value in cell.measures.values() {
            copied.bigint(value as i64);
        }
        copied.timestamptz(cell.computed_at).text(sender);
    }
    let statement = format!(
        "COPY daily_cell (center_code, procedure_code, day, {MEASURE_COLUMNS}, computed_at, sender)
         FROM STDIN (FORMAT binary)"
    );
    copy_in(tx, &statement, copied).await
}

/// Logs `changes`, in their order (ids follow it, and so does the stream within a push): first values by their key
/// alone, corrections with what they replaced. The keys are bound for every change, the values for the
/// corrections only, each change naming its correction by position (0 for none).
async fn log_changes(
    tx: &mut Transaction<'_, Postgres>,
    sender: &str,
    cells: &[ValidCell],
    changes: &[(usize, Option<Replaced>)],
) -> ServiceResult<()> {
    if changes.iter().all(|(_, old)| old.is_none()) {
        // Only first values (a bulk message): copied in, keys alone, in order.
        let mut copied = BinaryRows::new(4, changes.len());
        for (i, _) in changes {
            let cell = &cells[*i];
            copied.row().text(&cell.center_code).text(&cell.procedure_code).date(cell.day).null();
        }
        let statement =
            "COPY daily_cell_change (center_code, procedure_code, day, changed_at) FROM STDIN (FORMAT binary)";
        copy_in(tx, statement, copied).await?;
        return Ok(());
    }
    let corrections: Vec<(usize, &Replaced)> =
        changes.iter().filter_map(|(i, old)| old.as_ref().map(|old| (*i, old))).collect();
    let mut numbered = 0;
    let correction_of: Vec<i32> = changes
        .iter()
        .map(|(_, old)| match old {
            Some(_) => {
                numbered += 1;
                numbered
            }
            None => 0,
        })
        .collect();
    let text = format!(
        "INSERT INTO daily_cell_change (center_code, procedure_code, day, old_measures, new_measures, sender,
                                        changed_at, computed_at, old_sender, old_computed_at)
         SELECT k.center_code, k.procedure_code, k.day, c.olds, c.news, c.sender, c.changed_at, c.computed_at,
                c.old_sender, c.old_computed_at
         FROM UNNEST($1::text[], $2::text[], $3::date[], $4::int4[]) WITH ORDINALITY
              AS k(center_code, procedure_code, day, correction, position)
         LEFT JOIN (
             SELECT position, ARRAY[{olds}] AS olds, ARRAY[{news}] AS news, $5::text AS sender,
                    now() AS changed_at, computed_at, old_sender, old_computed_at
             FROM UNNEST($6::timestamptz[], $7::text[], $8::timestamptz[], {old_parameters}, {new_parameters})
                  WITH ORDINALITY AS t(computed_at, old_sender, old_computed_at, {olds}, {news}, position)
         ) AS c ON c.position = k.correction
         ORDER BY k.position",
        olds = measure_names("o"),
        news = measure_names("n"),
        old_parameters = measure_parameters(9),
        new_parameters = measure_parameters(20),
    );
    let mut insert = sqlx::query(&text)
        .bind(changes.iter().map(|(i, _)| cells[*i].center_code.as_str()).collect::<Vec<_>>())
        .bind(changes.iter().map(|(i, _)| cells[*i].procedure_code.as_str()).collect::<Vec<_>>())
        .bind(changes.iter().map(|(i, _)| cells[*i].day).collect::<Vec<_>>())
        .bind(correction_of)
        .bind(sender)
        .bind(corrections.iter().map(|(i, _)| cells[*i].computed_at).collect::<Vec<_>>())
        .bind(corrections.iter().map(|(_, old)| old.sender.as_str()).collect::<Vec<_>>())
        .bind(corrections.iter().map(|(_, old)| old.computed_at).collect::<Vec<_>>());
    for column in measure_columns(corrections.iter().map(|(_, old)| &old.measures)) {
        insert = insert.bind(column);
    }
    for column in measure_columns(corrections.iter().map(|(i, _)| &cells[*i].measures)) {
        insert = insert.bind(column);
    }
    insert.execute(&mut **tx).await?;
    Ok(())
}

/// Whether storing failed because PostgreSQL found no partition for a row: a day of a year archived out of
/// intake (docs/operations.md).
pub fn is_missing_partition(error: &ServiceError) -> bool {
    matches!(error, ServiceError::Database(sqlx::Error::Database(e))
        if e.code().as_deref() == Some("23514") && e.message().starts_with("no partition of relation"))
}

/// Why a push with cells on `days` ((cell index, day)) could not be stored: the cells whose day no partition of
/// the cells or of their change log holds, each named, since its year was archived.
pub async fn archived_days(pool: &PgPool, days: &[(usize, NaiveDate)]) -> ServiceError {
    // A partition's bounds as PostgreSQL writes them: FOR VALUES FROM ('2024-01-01') TO ('2025-01-01'), with
    // MINVALUE and MAXVALUE for open ends.
    let archived: Result<Vec<(i32, NaiveDate)>, sqlx::Error> = sqlx::query_as(
        r"WITH bound AS (
              SELECT i.inhparent AS parent,
                     substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \(''([0-9-]+)''\)')::date AS low,
                     substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([0-9-]+)''\)')::date AS high
              FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent IN ('daily_cell'::regclass, 'daily_cell_change'::regclass))
          SELECT k.cell, k.day FROM UNNEST($1::int4[], $2::date[]) AS k(cell, day)
          CROSS JOIN (VALUES ('daily_cell'::regclass), ('daily_cell_change'::regclass)) AS t(parent)
          WHERE NOT EXISTS (SELECT 1 FROM bound b WHERE b.parent = t.parent
                                AND (b.low IS NULL OR k.day >= b.low) AND (b.high IS NULL OR k.day < b.high))
          GROUP BY k.cell, k.day ORDER BY k.cell",
    )
    .bind(days.iter().map(|(i, _)| *i as i32).collect::<Vec<_>>())
    .bind(days.iter().map(|(_, day)| *day).collect::<Vec<_>>())
    .fetch_all(pool)
    .await;
    let reason = |day: NaiveDate| {
        format!(
            "{day}: the year {} is archived (intake holds no partition for it); it must be restored to be corrected",
            day.year()
        )
    };
    match archived {
        Ok(archived) if !archived.is_empty() => ServiceError::FailedPrecondition(
            archived.into_iter().map(|(i, day)| FieldViolation::new(format!("cells[{i}].day"), reason(day))).collect(),
        ),
        _ => ServiceError::precondition("cells", "a day of the push is in a year archived out of intake"),
    }
}

/// Where a page of [`list`] starts: after this (center, day, procedure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageKey {
    pub center_code: String,
    pub day: NaiveDate,
    pub procedure_code: String,
}

impl PageKey {
    pub fn to_token(&self) -> String {
        paging::encode(&[&self.center_code, &self.day.to_string(), &self.procedure_code])
    }

    pub fn from_token(token: &str) -> Result<Self, String> {
        let [center_code, day, procedure_code]: [String; 3] =
            paging::decode(token, 3)?.try_into().expect("decode returns the parts asked for");
        let day = onestop_domain::validate::parse_date(&day)
            .map_err(|_| "is not a token from a previous response".to_string())?;
        Ok(PageKey { center_code, day, procedure_code })
    }
}

#[derive(sqlx::FromRow)]
struct CellRow {
    center_code: String,
    procedure_code: String,
    day: NaiveDate,
    measures: Vec<i64>,
    computed_at: Option<DateTime<Utc>>,
}

/// One page of the cells of `centers` (and `procedures`, when given) over `[from, to]`, ordered by center, day
/// and procedure, after `after`. Returns the cells and the key to continue from, if there may be more.
pub async fn list(
    pool: &PgPool,
    centers: &[String],
    procedures: &[String],
    (from, to): (NaiveDate, NaiveDate),
    after: Option<PageKey>,
    page_size: usize,
) -> ServiceResult<(Vec<DailyCell>, Option<PageKey>)> {
    // No code is empty, so the empty center sorts before every stored cell.
    let after = after.unwrap_or(PageKey {
        center_code: String::new(),
        day: NaiveDate::from_ymd_opt(1, 1, 1).expect("a valid date"),
        procedure_code: String::new(),
    });
    let rows: Vec<CellRow> = sqlx::query_as(&format!(
        "SELECT center_code, procedure_code, day, ARRAY[{MEASURE_COLUMNS}] AS measures, computed_at
         FROM daily_cell
         WHERE center_code = ANY($1) AND day BETWEEN $2 AND $3
           AND (cardinality($8::text[]) = 0 OR procedure_code = ANY($8))
           AND (center_code, day, procedure_code) > ($4, $5, $6)
         ORDER BY center_code, day, procedure_code
         LIMIT $7"
    ))
    .bind(centers)
    .bind(from)
    .bind(to)
    .bind(&after.center_code)
    .bind(after.day)
    .bind(&after.procedure_code)
    .bind(page_size as i64)
    .bind(procedures)
    .fetch_all(pool)
    .await?;
    let next = (rows.len() == page_size).then(|| {
        let last = rows.last().expect("a full page is not empty");
        PageKey { center_code: last.center_code.clone(), day: last.day, procedure_code: last.procedure_code.clone() }
    });
    let cells = rows
        .into_iter()
        .map(|row| DailyCell {
            measures: Some((&measures_of(&row.measures)).into()),
            center_code: row.center_code,
            procedure_code: row.procedure_code,
            day: row.day.to_string(),
            computed_at: row.computed_at.map(to_wire),
        })
        .collect();
    Ok((cells, next))
}

/// Every accepted value of one cell, oldest first: its first value, then each correction. The first value is
/// the cell's own, or, once corrected, what the first correction replaced. A version's `computed_at` is the
/// newest computation time it was pushed with (an equal value computed later moves it on, as it moves the cell's).
pub async fn history(pool: &PgPool, key: &CellKey) -> ServiceResult<Vec<CellVersion>> {
    #[derive(sqlx::FromRow)]
    struct Correction {
        old_measures: Vec<i64>,
        new_measures: Vec<i64>,
        sender: String,
        changed_at: DateTime<Utc>,
        old_sender: String,
        old_computed_at: Option<DateTime<Utc>>,
    }
    let mut tx = pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
    #[allow(clippy::type_complexity)]
    let cell: Option<(Vec<i64>, String, DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(&format!(
        "SELECT ARRAY[{MEASURE_COLUMNS}], sender, first_pushed_at, computed_at FROM daily_cell
         WHERE center_code = $1 AND day = $2 AND procedure_code = $3"
    ))
    .bind(&key.0)
    .bind(key.1)
    .bind(&key.2)
    .fetch_optional(&mut *tx)
    .await?;
    let corrections: Vec<Correction> = sqlx::query_as(
        "SELECT old_measures, new_measures, sender, changed_at, coalesce(old_sender, '') AS old_sender,
                old_computed_at
         FROM daily_cell_change
         WHERE center_code = $1 AND day = $2 AND procedure_code = $3 AND old_measures IS NOT NULL ORDER BY id",
    )
    .bind(&key.0)
    .bind(key.1)
    .bind(&key.2)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let Some((measures, sender, first_pushed_at, computed_at)) = cell else { return Ok(Vec::new()) };
    // Version i is what correction i replaced (the last, the cell itself): its value, sender and computation
    // time as they stood then, so a version's time is the newest one it was pushed with (a re-send of the same
    // value computed later moves it on).
    let replaced = |i: usize| {
        corrections.get(i).map_or((measures.clone(), sender.clone(), computed_at), |c| {
            (c.old_measures.clone(), c.old_sender.clone(), c.old_computed_at)
        })
    };
    let mut versions = Vec::with_capacity(corrections.len() + 1);
    let (first, first_sender, first_computed_at) = replaced(0);
    versions.push(CellVersion {
        old_measures: None,
        new_measures: Some((&measures_of(&first)).into()),
        sender: first_sender,
        changed_at: Some(to_wire(first_pushed_at)),
        computed_at: first_computed_at.map(to_wire),
    });
    for (i, c) in corrections.iter().enumerate() {
        let (_, _, confirmed_at) = replaced(i + 1);
        versions.push(CellVersion {
            old_measures: Some((&measures_of(&c.old_measures)).into()),
            new_measures: Some((&measures_of(&c.new_measures)).into()),
            sender: c.sender.clone(),
            changed_at: Some(to_wire(c.changed_at)),
            computed_at: confirmed_at.map(to_wire),
        });
    }
    Ok(versions)
}

/// When each (center, day) of `centers` over `[from, to]` was first pushed and last changed, with its cells.
pub async fn completeness(
    pool: &PgPool,
    centers: &[String],
    from: NaiveDate,
    to: NaiveDate,
) -> ServiceResult<Vec<CenterDayReport>> {
    #[derive(sqlx::FromRow)]
    struct ReportRow {
        center_code: String,
        day: NaiveDate,
        first_pushed_at: DateTime<Utc>,
        last_changed_at: DateTime<Utc>,
        cells: i64,
    }
    let rows: Vec<ReportRow> = sqlx::query_as(
        "SELECT r.center_code, r.day, r.first_pushed_at, r.last_changed_at,
                (SELECT count(*) FROM daily_cell c WHERE c.center_code = r.center_code AND c.day = r.day) AS cells
         FROM center_day_report r
         WHERE r.center_code = ANY($1) AND r.day BETWEEN $2 AND $3
         ORDER BY r.center_code, r.day",
    )
    .bind(centers)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| CenterDayReport {
            center_code: r.center_code,
            day: r.day.to_string(),
            first_pushed_at: Some(to_wire(r.first_pushed_at)),
            last_changed_at: Some(to_wire(r.last_changed_at)),
            cells: r.cells as u32,
        })
        .collect())
}
