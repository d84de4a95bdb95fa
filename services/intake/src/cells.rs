//! Daily cells: validated against the catalogue, stored as snapshots, every change audited.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use onestop_domain::{Measure, Measures, Violations};
use onestop_proto::intake::v1::{CellOutcome, DailyCell};
use onestop_server::{paging, ServiceError, ServiceResult};
use sqlx::{PgPool, Postgres, Transaction};

use crate::references::References;

/// Most cells in one push.
pub const MAX_CELLS_PER_PUSH: usize = 10_000;

/// A cell that passed validation.
#[derive(Debug, Clone)]
pub struct ValidCell {
    pub center_code: String,
    pub procedure_code: String,
    pub day: NaiveDate,
    pub measures: Measures,
    pub computed_at: Option<DateTime<Utc>>,
}

/// Checks every cell's own fields, then asks the catalogue about the centers and procedures they name.
/// Any violation rejects the whole batch, naming each wrong field.
pub async fn validate(
    references: &References,
    sender: &str,
    cells: &[DailyCell],
    today: NaiveDate,
) -> ServiceResult<Vec<ValidCell>> {
    let mut v = Violations::new();
    v.text("sender", sender, 200);
    if cells.is_empty() {
        v.add("cells", "at least one cell is required");
    }
    if cells.len() > MAX_CELLS_PER_PUSH {
        v.add("cells", format!("at most {MAX_CELLS_PER_PUSH} cells per push"));
    }
    let mut valid = Vec::with_capacity(cells.len());
    let mut keys = HashSet::new();
    for (i, cell) in cells.iter().enumerate() {
        let field = |name: &str| format!("cells[{i}].{name}");
        let center_ok = v.code(&field("center_code"), &cell.center_code);
        let procedure_ok = v.code(&field("procedure_code"), &cell.procedure_code);
        let day = v.date(&field("day"), &cell.day);
        if let Some(day) = day {
            if day > today {
                v.add(field("day"), format!("{day} is in the future (today is {today} in Vietnam)"));
            }
        }
        let Some(measures) = &cell.measures else {
            v.add(field("measures"), "is required");
            continue;
        };
        let measures = Measures::from(measures);
        for measure in Measure::ALL {
            if i64::try_from(measures.get(measure)).is_err() {
                v.add(field(&format!("measures.{measure}")), "is too large");
            }
        }
        let computed_at = cell.computed_at.and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32));
        if let (true, true, Some(day)) = (center_ok, procedure_ok, day) {
            if !keys.insert((cell.center_code.as_str(), cell.procedure_code.as_str(), day)) {
                v.add(field("day"), "the same center, procedure and day appear more than once in the push");
            }
            valid.push(ValidCell {
                center_code: cell.center_code.clone(),
                procedure_code: cell.procedure_code.clone(),
                day,
                measures,
                computed_at,
            });
        }
    }
    v.into_result()?;

    let centers: BTreeSet<String> = valid.iter().map(|c| c.center_code.clone()).collect();
    let mut procedures: BTreeMap<NaiveDate, BTreeSet<String>> = BTreeMap::new();
    for cell in &valid {
        procedures.entry(cell.day).or_default().insert(cell.procedure_code.clone());
    }
    let known = references.lookup(centers, procedures).await?;
    let mut v = Violations::new();
    for (i, cell) in valid.iter().enumerate() {
        if !known.has_center(&cell.center_code) {
            v.add(format!("cells[{i}].center_code"), format!("center {} not found in the catalogue", cell.center_code));
        }
        if !known.has_procedure(cell.day, &cell.procedure_code) {
            v.add(
                format!("cells[{i}].procedure_code"),
                format!("procedure {} is not in the catalogue on {}", cell.procedure_code, cell.day),
            );
        }
    }
    v.into_result()?;
    Ok(valid)
}

fn to_row(measures: &Measures) -> Vec<i64> {
    // Validation bounded every measure to i64.
    measures.values().iter().map(|v| *v as i64).collect()
}

/// Stores the cells in one transaction: a cell equal to the stored one is unchanged, any other is written and
/// its change recorded with the old and new values.
pub async fn store(pool: &PgPool, sender: &str, cells: &[ValidCell]) -> ServiceResult<Vec<CellOutcome>> {
    // Writing in key order makes concurrent pushes lock rows in the same order, so they wait rather than deadlock.
    let mut order: Vec<usize> = (0..cells.len()).collect();
    order.sort_by(|&a, &b| {
        let key = |c: &ValidCell| (c.center_code.clone(), c.day, c.procedure_code.clone());
        key(&cells[a]).cmp(&key(&cells[b]))
    });
    let mut tx = pool.begin().await?;
    let mut outcomes = vec![CellOutcome::Unspecified; cells.len()];
    for index in order {
        outcomes[index] = store_one(&mut tx, sender, &cells[index]).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

const MEASURE_COLUMNS: &str = "received_direct, received_online, received_postal, resolved_early, \
     resolved_on_time, resolved_late, withdrawn_or_returned, results_returned_by_post, apology_notices_issued, \
     pending_in_time, pending_overdue";

async fn store_one(tx: &mut Transaction<'_, Postgres>, sender: &str, cell: &ValidCell) -> ServiceResult<CellOutcome> {
    let new = to_row(&cell.measures);
    // Insert when absent; a concurrent first push of the same cell makes this a no-op and the row is then
    // locked and compared below like any stored cell.
    let inserted = sqlx::query(&format!(
        "INSERT INTO daily_cell (center_code, procedure_code, day, {MEASURE_COLUMNS}, computed_at, sender)
         SELECT $1, $2, $3, m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9], m[10], m[11], $5, $6
         FROM (SELECT $4::bigint[] AS m) AS given
         ON CONFLICT (center_code, day, procedure_code) DO NOTHING"
    ))
    .bind(&cell.center_code)
    .bind(&cell.procedure_code)
    .bind(cell.day)
    .bind(&new)
    .bind(cell.computed_at)
    .bind(sender)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        record_change(tx, sender, cell, None, &new).await?;
        return Ok(CellOutcome::Accepted);
    }

    let old: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT ARRAY[{MEASURE_COLUMNS}] FROM daily_cell
         WHERE center_code = $1 AND day = $2 AND procedure_code = $3 FOR UPDATE"
    ))
    .bind(&cell.center_code)
    .bind(cell.day)
    .bind(&cell.procedure_code)
    .fetch_one(&mut **tx)
    .await?;
    if old == new {
        return Ok(CellOutcome::Unchanged);
    }
    sqlx::query(
        "UPDATE daily_cell SET
             received_direct = m[1], received_online = m[2], received_postal = m[3], resolved_early = m[4],
             resolved_on_time = m[5], resolved_late = m[6], withdrawn_or_returned = m[7],
             results_returned_by_post = m[8], apology_notices_issued = m[9], pending_in_time = m[10],
             pending_overdue = m[11], computed_at = $5, sender = $6, updated_at = now()
         FROM (SELECT $4::bigint[] AS m) AS given
         WHERE center_code = $1 AND day = $2 AND procedure_code = $3",
    )
    .bind(&cell.center_code)
    .bind(cell.day)
    .bind(&cell.procedure_code)
    .bind(&new)
    .bind(cell.computed_at)
    .bind(sender)
    .execute(&mut **tx)
    .await?;
    record_change(tx, sender, cell, Some(&old), &new).await?;
    Ok(CellOutcome::Accepted)
}

async fn record_change(
    tx: &mut Transaction<'_, Postgres>,
    sender: &str,
    cell: &ValidCell,
    old: Option<&[i64]>,
    new: &[i64],
) -> ServiceResult<()> {
    sqlx::query(
        "INSERT INTO daily_cell_change (center_code, procedure_code, day, old_measures, new_measures, sender)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&cell.center_code)
    .bind(&cell.procedure_code)
    .bind(cell.day)
    .bind(old)
    .bind(new)
    .bind(sender)
    .execute(&mut **tx)
    .await?;
    Ok(())
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
        let day = day.parse().map_err(|_| "is not a token from a previous response".to_string())?;
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

/// One page of the cells of `centers` over `[from, to]`, ordered by center, day and procedure, after `after`.
/// Returns the cells and the key to continue from, if there may be more.
pub async fn list(
    pool: &PgPool,
    centers: &[String],
    from: NaiveDate,
    to: NaiveDate,
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
    .fetch_all(pool)
    .await?;
    let next = (rows.len() == page_size).then(|| {
        let last = rows.last().expect("a full page is not empty");
        PageKey { center_code: last.center_code.clone(), day: last.day, procedure_code: last.procedure_code.clone() }
    });
    let cells = rows.into_iter().map(to_cell).collect::<Result<_, _>>()?;
    Ok((cells, next))
}

fn to_cell(row: CellRow) -> ServiceResult<DailyCell> {
    let values: [u64; 11] = row
        .measures
        .iter()
        .map(|v| u64::try_from(*v).unwrap_or(0))
        .collect::<Vec<_>>()
        .try_into()
        .map_err(|_| ServiceError::Internal(anyhow::anyhow!("a stored cell does not have 11 measures")))?;
    Ok(DailyCell {
        center_code: row.center_code,
        procedure_code: row.procedure_code,
        day: row.day.to_string(),
        measures: Some((&Measures::from_values(values)).into()),
        computed_at: row
            .computed_at
            .map(|t| prost_types::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_any_code() {
        let key = PageKey {
            center_code: "C/1 x".into(),
            day: NaiveDate::from_ymd_opt(2026, 1, 31).unwrap(),
            procedure_code: "2.001218.000.00.00.H38".into(),
        };
        assert_eq!(PageKey::from_token(&key.to_token()).unwrap(), key);
        assert!(PageKey::from_token("zz").is_err());
        assert!(PageKey::from_token("616263").is_err());
    }
}
