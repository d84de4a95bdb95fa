//! One-stop centers, the units they belong to, and the published lists of procedures each receives.

use std::collections::{BTreeSet, HashSet};

use chrono::NaiveDate;
use onestop_domain::Violations;
use onestop_proto::catalogue::v1::watch_changes_response::Change;
use onestop_proto::catalogue::v1::*;
use onestop_server::{ServiceError, ServiceResult};
use sqlx::PgPool;

use crate::{changes, procedures};

/// Most centers one request may upsert: the whole country has about 3,400.
const MAX_CENTERS_PER_REQUEST: usize = 20_000;
/// Most procedures on one center's list: a provincial center receives about 2,000, the national catalogue
/// holds about 6,000.
const MAX_PROCEDURES_PER_CENTER: usize = 20_000;

#[derive(sqlx::FromRow)]
struct CenterRow {
    code: String,
    name: String,
    unit_code: String,
    kind: i16,
    parent_center_code: Option<String>,
}

impl From<CenterRow> for Center {
    fn from(row: CenterRow) -> Self {
        Center {
            code: row.code,
            name: row.name,
            unit_code: row.unit_code,
            kind: i32::from(row.kind),
            parent_center_code: row.parent_center_code.unwrap_or_default(),
        }
    }
}

/// Creates or updates centers in one transaction; returns how many were created or changed.
pub async fn upsert(pool: &PgPool, centers: &[Center]) -> ServiceResult<u32> {
    let mut v = Violations::new();
    let mut seen = HashSet::new();
    if centers.is_empty() {
        v.add("centers", "at least one center is required");
    }
    if !v.at_most("centers", centers.len(), MAX_CENTERS_PER_REQUEST) {
        return Err(v.into_result().unwrap_err().into());
    }
    for (i, c) in centers.iter().enumerate() {
        let field = |name: &str| format!("centers[{i}].{name}");
        if v.code(&field("code"), &c.code) && !seen.insert(c.code.as_str()) {
            v.add(field("code"), format!("{} appears more than once", c.code));
        }
        v.text(&field("name"), &c.name, 300);
        v.code(&field("unit_code"), &c.unit_code);
        match (CenterKind::try_from(c.kind), c.parent_center_code.is_empty()) {
            (Err(_) | Ok(CenterKind::Unspecified), _) => v.add(field("kind"), "must be PROVINCIAL, LOCAL or BRANCH"),
            (Ok(CenterKind::Branch), true) => v.add(field("parent_center_code"), "is required for a branch"),
            (Ok(CenterKind::Branch), false) => {
                if v.code(&field("parent_center_code"), &c.parent_center_code) && c.parent_center_code == c.code {
                    v.add(field("parent_center_code"), "a branch cannot belong to itself");
                }
            }
            (Ok(_), false) => v.add(field("parent_center_code"), "is only for a branch"),
            (Ok(_), true) => {}
        }
    }
    v.into_result()?;

    let mut tx = changes::begin_write(pool).await?;
    let unit_codes: Vec<&str> = centers.iter().map(|c| c.unit_code.as_str()).collect();
    let known_units: HashSet<String> = sqlx::query_scalar("SELECT code FROM unit WHERE code = ANY($1)")
        .bind(&unit_codes)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    let parents: Vec<&str> = centers.iter().map(|c| c.parent_center_code.as_str()).filter(|p| !p.is_empty()).collect();
    let known_parents: HashSet<String> = sqlx::query_scalar("SELECT code FROM center WHERE code = ANY($1)")
        .bind(&parents)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    let mut v = Violations::new();
    for (i, c) in centers.iter().enumerate() {
        if !known_units.contains(&c.unit_code) {
            v.add(format!("centers[{i}].unit_code"), format!("unit {} not found", c.unit_code));
        }
        let parent = &c.parent_center_code;
        if !parent.is_empty() && !known_parents.contains(parent) && !seen.contains(parent.as_str()) {
            v.add(format!("centers[{i}].parent_center_code"), format!("center {parent} not found"));
        }
    }
    v.into_result()?;

    let changed: Vec<String> = sqlx::query_scalar(
        "INSERT INTO center (code, name, unit_code, kind, parent_center_code)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int2[], $5::text[])
         ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, unit_code = EXCLUDED.unit_code,
             kind = EXCLUDED.kind, parent_center_code = EXCLUDED.parent_center_code
         WHERE (center.name, center.unit_code, center.kind, center.parent_center_code)
               IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.unit_code, EXCLUDED.kind, EXCLUDED.parent_center_code)
         RETURNING code",
    )
    .bind(centers.iter().map(|c| c.code.as_str()).collect::<Vec<_>>())
    .bind(centers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>())
    .bind(&unit_codes)
    .bind(centers.iter().map(|c| c.kind as i16).collect::<Vec<_>>())
    .bind(
        centers
            .iter()
            .map(|c| (!c.parent_center_code.is_empty()).then_some(c.parent_center_code.as_str()))
            .collect::<Vec<_>>(),
    )
    .fetch_all(&mut *tx)
    .await?;
    for center in centers.iter().filter(|c| changed.contains(&c.code)) {
        changes::append(&mut tx, Change::Center(center.clone())).await?;
    }
    tx.commit().await?;
    Ok(changed.len() as u32)
}

const CENTER_COLUMNS: &str = "c.code, c.name, c.unit_code, c.kind, c.parent_center_code";

/// Centers with the given codes.
pub async fn by_codes(pool: &PgPool, codes: &[String]) -> ServiceResult<Vec<Center>> {
    let rows: Vec<CenterRow> =
        sqlx::query_as(&format!("SELECT {CENTER_COLUMNS} FROM center c WHERE c.code = ANY($1) ORDER BY c.code"))
            .bind(codes)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(Center::from).collect())
}

/// Centers attached to `unit_code`, and with `include_descendants` to the units under it on `as_of`.
pub async fn of_unit(
    pool: &PgPool,
    unit_code: &str,
    include_descendants: bool,
    as_of: NaiveDate,
) -> ServiceResult<Vec<Center>> {
    crate::units::ensure_unit(pool, "unit_code", unit_code).await?;
    let rows: Vec<CenterRow> = sqlx::query_as(&format!(
        "WITH RECURSIVE scope (code) AS (
             SELECT code FROM unit WHERE code = $1
             UNION
             SELECT u.code FROM unit u JOIN scope s ON u.parent_code = s.code
             WHERE $2 AND u.valid_from <= $3 AND (u.valid_to IS NULL OR u.valid_to > $3)
         )
         SELECT {CENTER_COLUMNS} FROM center c JOIN scope s ON c.unit_code = s.code
         ORDER BY c.code"
    ))
    .bind(unit_code)
    .bind(include_descendants)
    .bind(as_of)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Center::from).collect())
}

pub async fn ensure_center(pool: &PgPool, code: &str) -> ServiceResult<()> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM center WHERE code = $1)").bind(code).fetch_one(pool).await?;
    if exists {
        Ok(())
    } else {
        Err(ServiceError::not_found("center_code", format!("center {code}")))
    }
}

/// Publishes the list of procedures a center receives from `effective_from` on. Returns false when the same list
/// was already in force from that day.
pub async fn set_procedures(pool: &PgPool, request: &SetCenterProceduresRequest) -> ServiceResult<bool> {
    let mut v = Violations::new();
    v.code("center_code", &request.center_code);
    let day = v.date("effective_from", &request.effective_from);
    v.text("source", &request.source, 300);
    if !v.at_most("procedure_codes", request.procedure_codes.len(), MAX_PROCEDURES_PER_CENTER) {
        return Err(v.into_result().unwrap_err().into());
    }
    let mut codes = BTreeSet::new();
    for (i, code) in request.procedure_codes.iter().enumerate() {
        if v.code(&format!("procedure_codes[{i}]"), code) && !codes.insert(code.clone()) {
            v.add(format!("procedure_codes[{i}]"), format!("{code} is listed twice"));
        }
    }
    v.into_result()?;
    let day = day.expect("validated");
    ensure_center(pool, &request.center_code).await?;
    let codes: Vec<String> = codes.into_iter().collect();

    let mut tx = changes::begin_write(pool).await?;
    let in_force = procedures::codes_in_force(&mut tx, &codes, day).await?;
    let mut v = Violations::new();
    for (i, code) in request.procedure_codes.iter().enumerate() {
        if !in_force.contains(code) {
            v.add(format!("procedure_codes[{i}]"), format!("procedure {code} is not in the catalogue on {day}"));
        }
    }
    v.into_result()?;

    let open: Option<(NaiveDate, Vec<String>, String)> = sqlx::query_as(
        "SELECT valid_from, procedure_codes, source FROM center_procedure_list
         WHERE center_code = $1 AND valid_to IS NULL FOR UPDATE",
    )
    .bind(&request.center_code)
    .fetch_optional(&mut *tx)
    .await?;
    match open {
        Some((from, stored, source)) if from == day && stored == codes && source == request.source => return Ok(false),
        Some((from, _, _)) if from > day => {
            return Err(ServiceError::precondition(
                "effective_from",
                format!("the center's list in force from {from} is later; lists are published in date order"),
            ))
        }
        Some((from, _, _)) if from == day => {
            sqlx::query("DELETE FROM center_procedure_list WHERE center_code = $1 AND valid_from = $2")
                .bind(&request.center_code)
                .bind(day)
                .execute(&mut *tx)
                .await?;
        }
        Some(_) => {
            sqlx::query("UPDATE center_procedure_list SET valid_to = $2 WHERE center_code = $1 AND valid_to IS NULL")
                .bind(&request.center_code)
                .bind(day)
                .execute(&mut *tx)
                .await?;
        }
        None => {}
    }
    sqlx::query(
        "INSERT INTO center_procedure_list (center_code, valid_from, procedure_codes, source) VALUES ($1, $2, $3, $4)",
    )
    .bind(&request.center_code)
    .bind(day)
    .bind(&codes)
    .bind(&request.source)
    .execute(&mut *tx)
    .await?;
    let normalized = SetCenterProceduresRequest { procedure_codes: codes, ..request.clone() };
    changes::append(&mut tx, Change::CenterProcedures(normalized)).await?;
    tx.commit().await?;
    Ok(true)
}

/// The procedures a center receives on `as_of` (none before its first list).
pub async fn procedures_on(pool: &PgPool, request: &ListCenterProceduresRequest) -> ServiceResult<Vec<String>> {
    let mut v = Violations::new();
    v.code("center_code", &request.center_code);
    let as_of = v.date("as_of", &request.as_of);
    v.into_result()?;
    ensure_center(pool, &request.center_code).await?;
    let codes: Option<Vec<String>> = sqlx::query_scalar(
        "SELECT procedure_codes FROM center_procedure_list
         WHERE center_code = $1 AND valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2)",
    )
    .bind(&request.center_code)
    .bind(as_of.expect("validated"))
    .fetch_optional(pool)
    .await?;
    Ok(codes.unwrap_or_default())
}
