//! The indicator definitions stored by this service, latest version of each.

use onestop_domain::{Formula, IndicatorDefinition};
use onestop_server::{ServiceError, ServiceResult};
use sqlx::PgPool;

#[derive(sqlx::FromRow)]
struct DefinitionRow {
    id: String,
    version: i32,
    numerator: String,
    denominator: String,
}

/// The latest version of every indicator, ordered by id.
pub async fn latest(pool: &PgPool) -> ServiceResult<Vec<IndicatorDefinition>> {
    let rows: Vec<DefinitionRow> = sqlx::query_as(
        "SELECT DISTINCT ON (id) id, version, numerator, denominator
         FROM indicator_definition ORDER BY id, version DESC",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            let formula = Formula::parse(&row.numerator, &row.denominator).map_err(|reason| {
                ServiceError::Internal(anyhow::anyhow!("stored indicator {} is malformed: {reason}", row.id))
            })?;
            Ok(IndicatorDefinition { id: row.id, version: row.version.unsigned_abs(), formula })
        })
        .collect()
}
