//! The catalogue as of a date: which version of each procedure was in force.

use chrono::NaiveDate;
use onestop_proto::catalogue::v1::{Procedure, ProcessingTime};
use onestop_server::ServiceResult;
use sqlx::PgPool;

/// The columns of a procedure version, in the order [`ProcedureRow`] reads them.
pub const COLUMNS: &str =
    "code, valid_from, decision_number, name, sector_code, implementing_levels, \
     implementing_agency, processing_time_value, processing_time_unit, has_fees, online_level, \
     legacy_online_level, postal_filing, postal_return";

#[derive(sqlx::FromRow)]
pub struct ProcedureRow {
    code: String,
    valid_from: NaiveDate,
    decision_number: String,
    name: String,
    sector_code: String,
    implementing_levels: Vec<i16>,
    implementing_agency: String,
    processing_time_value: i32,
    processing_time_unit: i16,
    has_fees: bool,
    online_level: i16,
    legacy_online_level: i16,
    postal_filing: bool,
    postal_return: bool,
}

impl From<ProcedureRow> for Procedure {
    fn from(row: ProcedureRow) -> Self {
        Procedure {
            code: row.code,
            name: row.name,
            sector_code: row.sector_code,
            implementing_levels: row.implementing_levels.into_iter().map(i32::from).collect(),
            implementing_agency: row.implementing_agency,
            processing_time: Some(ProcessingTime {
                value: row.processing_time_value.unsigned_abs(),
                unit: i32::from(row.processing_time_unit),
            }),
            has_fees: row.has_fees,
            online_level: i32::from(row.online_level),
            legacy_online_level: row.legacy_online_level.unsigned_abs().into(),
            postal_filing: row.postal_filing,
            postal_return: row.postal_return,
            decision_number: row.decision_number,
            valid_from: row.valid_from.to_string(),
        }
    }
}

/// The versions of `codes` in force on `as_of`, ordered by code.
pub async fn as_of(
    pool: &PgPool,
    codes: &[String],
    as_of: NaiveDate,
) -> ServiceResult<Vec<Procedure>> {
    let rows: Vec<ProcedureRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM procedure_version
         WHERE code = ANY($1) AND valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2)
         ORDER BY code"
    ))
    .bind(codes)
    .bind(as_of)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Procedure::from).collect())
}
