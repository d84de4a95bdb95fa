//! The catalogue as of a date: which version of each procedure was in force, its history, filtered lists and
//! counts by online level.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use onestop_domain::Violations;
use onestop_proto::catalogue::v1::*;
use onestop_server::{paging, ServiceError, ServiceResult};
use sqlx::{PgPool, Postgres, Transaction};

const DEFAULT_PAGE_SIZE: u32 = 500;
const MAX_PAGE_SIZE: u32 = 5000;

/// The columns of a procedure version, in the order [`ProcedureRow`] reads them (`p` is `procedure_version`).
const COLUMNS: &str = "p.code, p.valid_from, p.valid_to, p.decision_number, p.action, p.replaces_code, p.name, \
     p.sector_code, p.implementing_levels, p.implementing_agency, p.processing_time_value, p.processing_time_unit, \
     p.has_fees, p.online_level, p.legacy_online_level, p.postal_filing, p.postal_return, p.implementing_agency_code";

/// In force on $1.
const IN_FORCE: &str = "p.valid_from <= $1 AND (p.valid_to IS NULL OR p.valid_to > $1)";

#[derive(sqlx::FromRow)]
struct ProcedureRow {
    code: String,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
    decision_number: String,
    action: i16,
    replaces_code: Option<String>,
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
    implementing_agency_code: String,
}

impl ProcedureRow {
    fn procedure(&self) -> Procedure {
        Procedure {
            code: self.code.clone(),
            name: self.name.clone(),
            sector_code: self.sector_code.clone(),
            implementing_levels: self.implementing_levels.iter().map(|l| i32::from(*l)).collect(),
            implementing_agency: self.implementing_agency.clone(),
            implementing_agency_code: self.implementing_agency_code.clone(),
            processing_time: Some(ProcessingTime {
                value: self.processing_time_value.unsigned_abs(),
                unit: i32::from(self.processing_time_unit),
            }),
            has_fees: self.has_fees,
            online_level: i32::from(self.online_level),
            legacy_online_level: self.legacy_online_level.unsigned_abs().into(),
            postal_filing: self.postal_filing,
            postal_return: self.postal_return,
            decision_number: self.decision_number.clone(),
            valid_from: self.valid_from.to_string(),
            channel_processing_times: vec![],
        }
    }
}

/// Fills in the per-channel processing times of `procedures` (most have none).
async fn attach_channel_times(pool: &PgPool, procedures: &mut [Procedure]) -> ServiceResult<()> {
    let codes: Vec<&str> = procedures.iter().map(|p| p.code.as_str()).collect();
    let rows: Vec<(String, NaiveDate, i16, i32, i16)> = sqlx::query_as(
        "SELECT code, valid_from, channel, value, unit FROM procedure_channel_time WHERE code = ANY($1)
         ORDER BY code, valid_from, channel",
    )
    .bind(&codes)
    .fetch_all(pool)
    .await?;
    let mut by_version: HashMap<(String, String), Vec<ChannelProcessingTime>> = HashMap::new();
    for (code, valid_from, channel, value, unit) in rows {
        by_version.entry((code, valid_from.to_string())).or_default().push(ChannelProcessingTime {
            channel: i32::from(channel),
            processing_time: Some(ProcessingTime { value: value.unsigned_abs(), unit: i32::from(unit) }),
        });
    }
    for procedure in procedures {
        if let Some(times) = by_version.remove(&(procedure.code.clone(), procedure.valid_from.clone())) {
            procedure.channel_processing_times = times;
        }
    }
    Ok(())
}

/// The codes among `codes` in force on `day`, read inside a write transaction.
pub async fn codes_in_force(
    tx: &mut Transaction<'_, Postgres>,
    codes: &[String],
    day: NaiveDate,
) -> ServiceResult<HashSet<String>> {
    let found: Vec<String> =
        sqlx::query_scalar(&format!("SELECT p.code FROM procedure_version p WHERE {IN_FORCE} AND p.code = ANY($2)"))
            .bind(day)
            .bind(codes)
            .fetch_all(&mut **tx)
            .await?;
    Ok(found.into_iter().collect())
}

/// The versions of `codes` in force on `as_of`, ordered by code.
pub async fn as_of(pool: &PgPool, codes: &[String], as_of: NaiveDate) -> ServiceResult<Vec<Procedure>> {
    let rows: Vec<ProcedureRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM procedure_version p WHERE {IN_FORCE} AND p.code = ANY($2) ORDER BY p.code"
    ))
    .bind(as_of)
    .bind(codes)
    .fetch_all(pool)
    .await?;
    let mut procedures: Vec<Procedure> = rows.iter().map(ProcedureRow::procedure).collect();
    attach_channel_times(pool, &mut procedures).await?;
    Ok(procedures)
}

/// Every version of a procedure, oldest first, with its decision; and the procedures that replaced it.
pub async fn history(pool: &PgPool, code: &str) -> ServiceResult<GetProcedureHistoryResponse> {
    let mut v = Violations::new();
    v.code("code", code);
    v.into_result()?;
    #[derive(sqlx::FromRow)]
    struct VersionRow {
        #[sqlx(flatten)]
        version: ProcedureRow,
        signed_on: NaiveDate,
        issuer: String,
    }
    let rows: Vec<VersionRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, d.signed_on, d.issuer FROM procedure_version p
         JOIN decision d ON d.issuing_unit_code = p.decision_issuing_unit_code AND d.number = p.decision_number
         WHERE p.code = $1 ORDER BY p.valid_from"
    ))
    .bind(code)
    .fetch_all(pool)
    .await?;
    if rows.is_empty() {
        return Err(ServiceError::not_found("code", format!("procedure {code}")));
    }
    let mut procedures: Vec<Procedure> = rows.iter().map(|r| r.version.procedure()).collect();
    attach_channel_times(pool, &mut procedures).await?;
    let replaced_by_codes: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT code FROM procedure_version WHERE replaces_code = $1 ORDER BY code")
            .bind(code)
            .fetch_all(pool)
            .await?;
    let versions = rows
        .into_iter()
        .zip(procedures)
        .map(|(row, procedure)| ProcedureVersion {
            procedure: Some(procedure),
            valid_to: row.version.valid_to.map(|d| d.to_string()).unwrap_or_default(),
            action: i32::from(row.version.action),
            replaces_code: row.version.replaces_code.unwrap_or_default(),
            decision_signed_on: row.signed_on.to_string(),
            decision_issuer: row.issuer,
        })
        .collect();
    Ok(GetProcedureHistoryResponse { versions, replaced_by_codes })
}

fn level_filter(v: &mut Violations, field: &str, level: i32) -> i16 {
    match ImplementingLevel::try_from(level) {
        Ok(level) => level as i16,
        Err(_) => {
            v.add(field, "is not an implementing level");
            0
        }
    }
}

/// The catalogue as of a date, filtered and paged by code.
pub async fn list(pool: &PgPool, request: &ListProceduresRequest) -> ServiceResult<ListProceduresResponse> {
    let mut v = Violations::new();
    let as_of = v.date("as_of", &request.as_of);
    let level = level_filter(&mut v, "level", request.level);
    if !request.sector_code.is_empty() {
        v.code("sector_code", &request.sector_code);
    }
    if !request.center_code.is_empty() {
        v.code("center_code", &request.center_code);
    }
    let online_level = match OnlineLevel::try_from(request.online_level) {
        Ok(level) => level as i16,
        Err(_) => {
            v.add("online_level", "is not an online level");
            0
        }
    };
    let legacy_online_level = i16::try_from(request.legacy_online_level).unwrap_or(i16::MAX);
    if legacy_online_level > 4 {
        v.add("legacy_online_level", "must be 1 to 4, or 0 for any");
    }
    if !request.implementing_agency_code.is_empty() {
        v.code("implementing_agency_code", &request.implementing_agency_code);
    }
    let (page_size, after) =
        paging::code_page(&mut v, request.page_size, &request.page_token, (DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE));
    v.into_result()?;
    let as_of = as_of.expect("validated");
    if !request.center_code.is_empty() {
        crate::centers::ensure_center(pool, &request.center_code).await?;
    }
    let rows: Vec<ProcedureRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM procedure_version p
         WHERE {IN_FORCE}
           AND ($2 = 0 OR $2 = ANY(p.implementing_levels))
           AND ($3 = '' OR p.sector_code = $3)
           AND ($4 = 0 OR p.online_level = $4)
           AND ($8 = 0 OR p.legacy_online_level = $8)
           AND ($9 = '' OR p.implementing_agency_code = $9)
           AND ($5 = '' OR p.code IN (
                 SELECT unnest(l.procedure_codes) FROM center_procedure_list l
                 WHERE l.center_code = $5 AND l.valid_from <= $1 AND (l.valid_to IS NULL OR l.valid_to > $1)))
           AND p.code > $6
         ORDER BY p.code LIMIT $7"
    ))
    .bind(as_of)
    .bind(level)
    .bind(&request.sector_code)
    .bind(online_level)
    .bind(&request.center_code)
    .bind(&after)
    .bind(i64::from(page_size))
    .bind(legacy_online_level)
    .bind(&request.implementing_agency_code)
    .fetch_all(pool)
    .await?;
    let next_page_token =
        if rows.len() == page_size as usize { rows.last().map(|r| paging::encode(&[&r.code])) } else { None };
    let mut procedures: Vec<Procedure> = rows.iter().map(ProcedureRow::procedure).collect();
    attach_channel_times(pool, &mut procedures).await?;
    Ok(ListProceduresResponse { procedures, next_page_token: next_page_token.unwrap_or_default() })
}

/// Procedures in force on a date, counted by implementing level, sector and online level. A procedure
/// implemented at two levels counts once at each.
pub async fn count(pool: &PgPool, request: &CountProceduresRequest) -> ServiceResult<CountProceduresResponse> {
    let mut v = Violations::new();
    let as_of = v.date("as_of", &request.as_of);
    let level = level_filter(&mut v, "level", request.level);
    if !request.sector_code.is_empty() {
        v.code("sector_code", &request.sector_code);
    }
    if !request.center_code.is_empty() {
        v.code("center_code", &request.center_code);
    }
    if !request.implementing_agency_code.is_empty() {
        v.code("implementing_agency_code", &request.implementing_agency_code);
    }
    v.into_result()?;
    let as_of = as_of.expect("validated");
    if !request.center_code.is_empty() {
        crate::centers::ensure_center(pool, &request.center_code).await?;
    }
    let rows: Vec<(i16, String, i16, i64)> = sqlx::query_as(&format!(
        "SELECT l.level, p.sector_code, p.online_level, count(*)
         FROM procedure_version p CROSS JOIN LATERAL unnest(p.implementing_levels) AS l(level)
         WHERE {IN_FORCE} AND ($2 = 0 OR l.level = $2) AND ($3 = '' OR p.sector_code = $3)
           AND ($4 = '' OR p.code IN (
                 SELECT unnest(c.procedure_codes) FROM center_procedure_list c
                 WHERE c.center_code = $4 AND c.valid_from <= $1 AND (c.valid_to IS NULL OR c.valid_to > $1)))
           AND ($5 = '' OR p.implementing_agency_code = $5)
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ))
    .bind(as_of)
    .bind(level)
    .bind(&request.sector_code)
    .bind(&request.center_code)
    .bind(&request.implementing_agency_code)
    .fetch_all(pool)
    .await?;
    Ok(CountProceduresResponse {
        counts: rows
            .into_iter()
            .map(|(level, sector_code, online_level, n)| ProcedureCount {
                level: i32::from(level),
                sector_code,
                online_level: i32::from(online_level),
                procedures: n as u32,
            })
            .collect(),
    })
}
