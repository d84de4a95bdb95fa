//! Which of many references exist, answered in one call from one snapshot, with the cursor of the last change
//! the snapshot includes: the batched lookup other services check what they are sent with.

use chrono::{Datelike, NaiveDate};
use onestop_domain::Violations;
use onestop_proto::catalogue::v1::*;
use onestop_server::ServiceResult;
use sqlx::{PgConnection, PgPool};

use crate::changes;

/// Most references of each kind in one request: a whole push of cells names at most 10,000 of each.
pub const MAX_REFERENCES: usize = 100_000;
/// Most calendar years in one request.
pub const MAX_CALENDAR_YEARS: usize = 20;

pub async fn check(pool: &PgPool, request: &CheckReferencesRequest) -> ServiceResult<CheckReferencesResponse> {
    let mut v = Violations::new();
    let too_many = |v: &mut Violations, field: &str, len: usize| {
        if len > MAX_REFERENCES {
            v.add(field, format!("at most {MAX_REFERENCES} references per request"));
        }
    };
    too_many(&mut v, "center_codes", request.center_codes.len());
    too_many(&mut v, "agency_codes", request.agency_codes.len());
    too_many(&mut v, "procedures", request.procedures.len());
    too_many(&mut v, "received", request.received.len());
    if request.calendar_years.len() > MAX_CALENDAR_YEARS {
        v.add("calendar_years", format!("at most {MAX_CALENDAR_YEARS} years per request"));
    }
    if !v.is_empty() {
        // Refuse an oversized request before naming each of its many codes.
        return Err(v.into_result().unwrap_err().into());
    }
    for (i, code) in request.center_codes.iter().enumerate() {
        v.code(&format!("center_codes[{i}]"), code);
    }
    for (i, code) in request.agency_codes.iter().enumerate() {
        v.code(&format!("agency_codes[{i}]"), code);
    }
    for (i, year) in request.calendar_years.iter().enumerate() {
        v.year(&format!("calendar_years[{i}]"), *year);
    }
    let mut procedure_days = Vec::with_capacity(request.procedures.len());
    for (i, p) in request.procedures.iter().enumerate() {
        v.code(&format!("procedures[{i}].procedure_code"), &p.procedure_code);
        procedure_days.push(v.date(&format!("procedures[{i}].day"), &p.day).unwrap_or_default());
    }
    let mut received_days = Vec::with_capacity(request.received.len());
    for (i, r) in request.received.iter().enumerate() {
        v.code(&format!("received[{i}].center_code"), &r.center_code);
        v.code(&format!("received[{i}].procedure_code"), &r.procedure_code);
        received_days.push(v.date(&format!("received[{i}].day"), &r.day).unwrap_or_default());
    }
    v.into_result()?;

    if *request == CheckReferencesRequest::default() {
        // Asked only for the newest change: what every push asks before judging its references.
        return Ok(CheckReferencesResponse { cursor: changes::head(pool).await?, ..Default::default() });
    }
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(&mut *tx).await?;
    let cursor = changes::head(&mut *tx).await?;
    let centers_exist = exist(&mut tx, "center", &request.center_codes).await?;
    let agencies_exist = exist(&mut tx, "agency", &request.agency_codes).await?;
    let procedures_in_force: Vec<bool> = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM procedure_version v
                        WHERE v.code = k.code AND v.valid_from <= k.day AND (v.valid_to IS NULL OR k.day < v.valid_to))
         FROM UNNEST($1::text[], $2::date[]) WITH ORDINALITY AS k(code, day, i) ORDER BY k.i",
    )
    .bind(request.procedures.iter().map(|p| p.procedure_code.as_str()).collect::<Vec<_>>())
    .bind(&procedure_days)
    .fetch_all(&mut *tx)
    .await?;
    let received: Vec<bool> = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM center_procedure_list l
                        WHERE l.center_code = k.center_code AND l.valid_from <= k.day
                          AND (l.valid_to IS NULL OR k.day < l.valid_to) AND k.code = ANY (l.procedure_codes))
         FROM UNNEST($1::text[], $2::text[], $3::date[]) WITH ORDINALITY AS k(center_code, code, day, i) ORDER BY k.i",
    )
    .bind(request.received.iter().map(|r| r.center_code.as_str()).collect::<Vec<_>>())
    .bind(request.received.iter().map(|r| r.procedure_code.as_str()).collect::<Vec<_>>())
    .bind(&received_days)
    .fetch_all(&mut *tx)
    .await?;
    let calendars = calendars(&mut tx, &request.calendar_years).await?;
    tx.commit().await?;
    Ok(CheckReferencesResponse { cursor, centers_exist, agencies_exist, procedures_in_force, received, calendars })
}

/// For each code, whether `table` has a row with it. `table` is one of ours, never input.
async fn exist(db: &mut PgConnection, table: &str, codes: &[String]) -> ServiceResult<Vec<bool>> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM {table} t WHERE t.code = k.code)
         FROM UNNEST($1::text[]) WITH ORDINALITY AS k(code, i) ORDER BY k.i"
    ))
    .bind(codes)
    .fetch_all(db)
    .await?)
}

/// The calendars of the years asked for that have one.
async fn calendars(db: &mut PgConnection, years: &[i32]) -> ServiceResult<Vec<CalendarYearExceptions>> {
    if years.is_empty() {
        return Ok(vec![]);
    }
    let loaded: Vec<i32> = sqlx::query_scalar("SELECT year FROM calendar_year WHERE year = ANY($1) ORDER BY year")
        .bind(years)
        .fetch_all(&mut *db)
        .await?;
    let rows: Vec<(NaiveDate, i16, String)> = sqlx::query_as(
        "SELECT day, kind, name FROM calendar_exception WHERE extract(year FROM day)::int = ANY($1) ORDER BY day",
    )
    .bind(&loaded)
    .fetch_all(&mut *db)
    .await?;
    Ok(loaded
        .into_iter()
        .map(|year| CalendarYearExceptions {
            year,
            exceptions: rows
                .iter()
                .filter(|(day, _, _)| day.year() == year)
                .map(|(day, kind, name)| CalendarException {
                    day: day.to_string(),
                    kind: i32::from(*kind),
                    name: name.clone(),
                })
                .collect(),
        })
        .collect())
}
