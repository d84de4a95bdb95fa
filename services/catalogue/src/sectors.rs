//! Sectors (lĩnh vực) that procedures and report rows are grouped by.

use std::collections::HashSet;

use onestop_domain::Violations;
use onestop_proto::catalogue::v1::watch_changes_response::Change;
use onestop_proto::catalogue::v1::Sector;
use onestop_server::ServiceResult;
use sqlx::PgPool;

use crate::changes;

/// Most sectors one request may upsert: the national list has a few hundred.
const MAX_SECTORS_PER_REQUEST: usize = 10_000;

pub async fn upsert(pool: &PgPool, sectors: &[Sector]) -> ServiceResult<u32> {
    let mut v = Violations::new();
    let mut seen = HashSet::new();
    if sectors.is_empty() {
        v.add("sectors", "at least one sector is required");
    }
    if !v.at_most("sectors", sectors.len(), MAX_SECTORS_PER_REQUEST) {
        return Err(v.into_result().unwrap_err().into());
    }
    for (i, s) in sectors.iter().enumerate() {
        if v.code(&format!("sectors[{i}].code"), &s.code) && !seen.insert(s.code.as_str()) {
            v.add(format!("sectors[{i}].code"), format!("{} appears more than once", s.code));
        }
        v.text(&format!("sectors[{i}].name"), &s.name, 300);
    }
    v.into_result()?;
    let mut tx = changes::begin_write(pool).await?;
    let changed: Vec<String> = sqlx::query_scalar(
        "INSERT INTO sector (code, name) SELECT * FROM UNNEST($1::text[], $2::text[])
         ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name WHERE sector.name IS DISTINCT FROM EXCLUDED.name
         RETURNING code",
    )
    .bind(sectors.iter().map(|s| s.code.as_str()).collect::<Vec<_>>())
    .bind(sectors.iter().map(|s| s.name.as_str()).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    for sector in sectors.iter().filter(|s| changed.contains(&s.code)) {
        changes::append(&mut tx, Change::Sector(sector.clone())).await?;
    }
    tx.commit().await?;
    Ok(changed.len() as u32)
}

pub async fn list(pool: &PgPool) -> ServiceResult<Vec<Sector>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT code, name FROM sector ORDER BY code").fetch_all(pool).await?;
    Ok(rows.into_iter().map(|(code, name)| Sector { code, name }).collect())
}
