//! The corrections behind a submitted report's differences from the current figures.
//!
//! Once a report is submitted, its centers and days are covered (`report_coverage`). The intake feed keeps every
//! change it applies to a covered cell (`report_correction`), with when intake stored it, who pushed it and the
//! measures before and after; a comparison lists those after the version's freshness cursor. Cells no report
//! covers are not kept twice: the check is one indexed read per batch, which finds nothing in a bulk load of
//! current days.

use chrono::{DateTime, NaiveDate, Utc};
use onestop_domain::Measure;
use onestop_proto::aggregation::v1::{CellCorrection, MeasureChange};
use onestop_proto::convert::timestamp_to_wire;

/// One cell change of a batch the intake feed applies.
pub struct AppliedCellChange<'a> {
    pub center: &'a str,
    pub day: NaiveDate,
    pub procedure: &'a str,
    pub cursor: &'a str,
    pub changed_at: Option<DateTime<Utc>>,
    pub sender: &'a str,
    pub old: [i64; 11],
    pub new: [i64; 11],
}

/// `{1,2,…}`: measures as an array literal, for binding a batch of arrays as text.
fn literal(measures: &[i64; 11]) -> String {
    format!("{{{}}}", measures.map(|m| m.to_string()).join(","))
}

/// Keeps the changes of `batch` to cells a submitted report covers; part of the transaction that applies them.
pub async fn keep(tx: &mut sqlx::PgConnection, batch: &[AppliedCellChange<'_>]) -> Result<(), sqlx::Error> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut centers: Vec<&str> = batch.iter().map(|c| c.center).collect();
    centers.sort_unstable();
    centers.dedup();
    let covered: Vec<(String, NaiveDate, NaiveDate)> =
        sqlx::query_as("SELECT center_code, first_day, last_day FROM report_coverage WHERE center_code = ANY($1)")
            .bind(&centers)
            .fetch_all(&mut *tx)
            .await?;
    if covered.is_empty() {
        return Ok(());
    }
    let kept: Vec<&AppliedCellChange> = batch
        .iter()
        .filter(|c| covered.iter().any(|(center, first, last)| center == c.center && *first <= c.day && c.day <= *last))
        .collect();
    if kept.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO report_correction
             (center_code, day, procedure_code, position, cursor, changed_at, sender, old_measures, new_measures)
         SELECT center, day, procedure, string_to_array(cursor, '.')::bigint[], cursor, changed_at, sender,
                old::bigint[], new::bigint[]
         FROM UNNEST($1::text[], $2::date[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[],
                     $8::text[]) AS u (center, day, procedure, cursor, changed_at, sender, old, new)
         ON CONFLICT DO NOTHING",
    )
    .bind(kept.iter().map(|c| c.center).collect::<Vec<_>>())
    .bind(kept.iter().map(|c| c.day).collect::<Vec<_>>())
    .bind(kept.iter().map(|c| c.procedure).collect::<Vec<_>>())
    .bind(kept.iter().map(|c| c.cursor).collect::<Vec<_>>())
    .bind(kept.iter().map(|c| c.changed_at).collect::<Vec<_>>())
    .bind(kept.iter().map(|c| c.sender).collect::<Vec<_>>())
    .bind(kept.iter().map(|c| literal(&c.old)).collect::<Vec<_>>())
    .bind(kept.iter().map(|c| literal(&c.new)).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// What a comparison lists: the centers and days of a report, the cursor position of its version, and the agency
/// whose procedures alone count (an agency's report).
pub struct Covered<'a> {
    pub centers: &'a [String],
    pub days: (NaiveDate, NaiveDate),
    pub after: &'a [i64],
    pub only_agency: Option<&'a str>,
}

#[derive(sqlx::FromRow)]
struct Row {
    center_code: String,
    procedure_code: String,
    day: NaiveDate,
    cursor: String,
    changed_at: Option<DateTime<Utc>>,
    sender: String,
    old_measures: Vec<i64>,
    new_measures: Vec<i64>,
    total: i64,
}

/// The corrections applied after `covered.after` to its cells, oldest first, at most `limit`, and how many there
/// are in all.
pub async fn list(
    db: &mut sqlx::PgConnection,
    covered: &Covered<'_>,
    limit: u32,
) -> Result<(Vec<CellCorrection>, u64), sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT c.center_code, c.procedure_code, c.day, c.cursor, c.changed_at, c.sender, c.old_measures,
                c.new_measures, count(*) OVER () AS total
         FROM report_correction c
         WHERE c.center_code = ANY($1) AND c.day BETWEEN $2 AND $3 AND c.position > $4
           AND ($5::text IS NULL OR EXISTS (
               SELECT 1 FROM procedure_version v
               WHERE v.code = c.procedure_code AND v.implementing_agency_code = $5
                 AND v.valid_from <= c.day AND (v.valid_to IS NULL OR c.day < v.valid_to)))
         ORDER BY c.position, c.center_code, c.day, c.procedure_code
         LIMIT $6",
    )
    .bind(covered.centers)
    .bind(covered.days.0)
    .bind(covered.days.1)
    .bind(covered.after)
    .bind(covered.only_agency)
    .bind(i64::from(limit))
    .fetch_all(&mut *db)
    .await?;
    let total = rows.first().map_or(0, |r| r.total as u64);
    let corrections = rows
        .into_iter()
        .map(|r| CellCorrection {
            changes: Measure::ALL
                .iter()
                .zip(r.old_measures.iter().zip(&r.new_measures))
                .filter(|(_, (old, new))| old != new)
                .map(|(measure, (old, new))| MeasureChange {
                    measure: measure.name().to_owned(),
                    before: (*old).max(0) as u64,
                    after: (*new).max(0) as u64,
                })
                .collect(),
            center_code: r.center_code,
            procedure_code: r.procedure_code,
            day: r.day.to_string(),
            changed_at: r.changed_at.map(timestamp_to_wire),
            sender: r.sender,
            cursor: r.cursor,
        })
        .collect();
    Ok((corrections, total))
}
