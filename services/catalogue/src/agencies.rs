//! Agencies that resolve cases (sở, ban, ngành; UBND xã; branches of central agencies), attached to units.

use std::collections::HashSet;

use onestop_domain::Violations;
use onestop_proto::catalogue::v1::watch_changes_response::Change;
use onestop_proto::catalogue::v1::{Agency, AgencyKind};
use onestop_server::ServiceResult;
use sqlx::PgPool;

use crate::changes;

/// Most agencies one request may upsert: the whole country has about 5,000.
const MAX_AGENCIES_PER_REQUEST: usize = 20_000;

pub async fn upsert(pool: &PgPool, agencies: &[Agency]) -> ServiceResult<u32> {
    let mut v = Violations::new();
    let mut seen = HashSet::new();
    if agencies.is_empty() {
        v.add("agencies", "at least one agency is required");
    }
    if !v.at_most("agencies", agencies.len(), MAX_AGENCIES_PER_REQUEST) {
        return Err(v.into_result().unwrap_err().into());
    }
    for (i, a) in agencies.iter().enumerate() {
        let field = |name: &str| format!("agencies[{i}].{name}");
        if v.code(&field("code"), &a.code) && !seen.insert(a.code.as_str()) {
            v.add(field("code"), format!("{} appears more than once", a.code));
        }
        v.text(&field("name"), &a.name, 300);
        v.code(&field("unit_code"), &a.unit_code);
        if matches!(AgencyKind::try_from(a.kind), Err(_) | Ok(AgencyKind::Unspecified)) {
            v.add(field("kind"), "must be PROVINCIAL_DEPARTMENT, PEOPLES_COMMITTEE or CENTRAL_BRANCH");
        }
    }
    v.into_result()?;

    let mut tx = changes::begin_write(pool).await?;
    let unit_codes: Vec<&str> = agencies.iter().map(|a| a.unit_code.as_str()).collect();
    let known: HashSet<String> = sqlx::query_scalar("SELECT code FROM unit WHERE code = ANY($1)")
        .bind(&unit_codes)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    let mut v = Violations::new();
    for (i, a) in agencies.iter().enumerate() {
        if !known.contains(&a.unit_code) {
            v.add(format!("agencies[{i}].unit_code"), format!("unit {} not found", a.unit_code));
        }
    }
    v.into_result()?;
    let changed: Vec<String> = sqlx::query_scalar(
        "INSERT INTO agency (code, name, unit_code, kind) SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int2[])
         ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, unit_code = EXCLUDED.unit_code, kind = EXCLUDED.kind
         WHERE (agency.name, agency.unit_code, agency.kind) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.unit_code, EXCLUDED.kind)
         RETURNING code",
    )
    .bind(agencies.iter().map(|a| a.code.as_str()).collect::<Vec<_>>())
    .bind(agencies.iter().map(|a| a.name.as_str()).collect::<Vec<_>>())
    .bind(&unit_codes)
    .bind(agencies.iter().map(|a| a.kind as i16).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    for agency in agencies.iter().filter(|a| changed.contains(&a.code)) {
        changes::append(&mut tx, Change::Agency(agency.clone())).await?;
    }
    tx.commit().await?;
    Ok(changed.len() as u32)
}

pub async fn list(pool: &PgPool, unit_code: &str) -> ServiceResult<Vec<Agency>> {
    if !unit_code.is_empty() {
        let mut v = Violations::new();
        v.code("unit_code", unit_code);
        v.into_result()?;
    }
    let rows: Vec<(String, String, String, i16)> =
        sqlx::query_as("SELECT code, name, unit_code, kind FROM agency WHERE $1 = '' OR unit_code = $1 ORDER BY code")
            .bind(unit_code)
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(code, name, unit_code, kind)| Agency { code, name, unit_code, kind: i32::from(kind) })
        .collect())
}
