//! One-stop centers and the units they belong to.

use chrono::NaiveDate;
use onestop_domain::Violations;
use onestop_proto::catalogue::v1::Center;
use onestop_server::{ServiceError, ServiceResult};
use sqlx::PgPool;
use std::collections::HashSet;

#[derive(sqlx::FromRow)]
struct CenterRow {
    code: String,
    name: String,
    unit_code: String,
}

impl From<CenterRow> for Center {
    fn from(row: CenterRow) -> Self {
        Center {
            code: row.code,
            name: row.name,
            unit_code: row.unit_code,
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
    for (i, c) in centers.iter().enumerate() {
        if v.code(&format!("centers[{i}].code"), &c.code) && !seen.insert(c.code.as_str()) {
            v.add(
                format!("centers[{i}].code"),
                format!("{} appears more than once in the request", c.code),
            );
        }
        v.text(&format!("centers[{i}].name"), &c.name, 200);
        v.code(&format!("centers[{i}].unit_code"), &c.unit_code);
    }
    v.into_result()?;

    let mut tx = pool.begin().await?;
    let unit_codes: Vec<&str> = centers.iter().map(|c| c.unit_code.as_str()).collect();
    let known: HashSet<String> = sqlx::query_scalar("SELECT code FROM unit WHERE code = ANY($1)")
        .bind(&unit_codes)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    let mut v = Violations::new();
    for (i, c) in centers.iter().enumerate() {
        if !known.contains(&c.unit_code) {
            v.add(
                format!("centers[{i}].unit_code"),
                format!("unit {} not found", c.unit_code),
            );
        }
    }
    v.into_result()?;

    let changed = sqlx::query(
        "INSERT INTO center (code, name, unit_code)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[])
         ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, unit_code = EXCLUDED.unit_code
         WHERE (center.name, center.unit_code) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.unit_code)",
    )
    .bind(centers.iter().map(|c| c.code.as_str()).collect::<Vec<_>>())
    .bind(centers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>())
    .bind(&unit_codes)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    // Bounded by the request size, which the message size limit keeps far below u32::MAX.
    Ok(changed as u32)
}

/// Centers with the given codes.
pub async fn by_codes(pool: &PgPool, codes: &[String]) -> ServiceResult<Vec<Center>> {
    let rows: Vec<CenterRow> = sqlx::query_as(
        "SELECT code, name, unit_code FROM center WHERE code = ANY($1) ORDER BY code",
    )
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
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM unit WHERE code = $1)")
        .bind(unit_code)
        .fetch_one(pool)
        .await?;
    if !exists {
        return Err(ServiceError::not_found(
            "unit_code",
            format!("unit {unit_code}"),
        ));
    }
    let rows: Vec<CenterRow> = sqlx::query_as(
        "WITH RECURSIVE scope (code) AS (
             SELECT code FROM unit WHERE code = $1
             UNION
             SELECT u.code FROM unit u JOIN scope s ON u.parent_code = s.code
             WHERE $2 AND u.valid_from <= $3 AND (u.valid_to IS NULL OR u.valid_to > $3)
         )
         SELECT c.code, c.name, c.unit_code FROM center c JOIN scope s ON c.unit_code = s.code
         ORDER BY c.code",
    )
    .bind(unit_code)
    .bind(include_descendants)
    .bind(as_of)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Center::from).collect())
}
