//! The working-day calendar: storage of each year's exceptions, and the working-day arithmetic intake and
//! aggregation use for due dates and for the "one working day before the due date" apology rule.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use onestop_domain::calendar::{self, DayKind, WorkingCalendar, MAX_SPAN_DAYS};
use onestop_domain::Violations;
use onestop_proto::catalogue::v1::watch_changes_response::Change;
use onestop_proto::catalogue::v1::*;
use onestop_server::{ServiceError, ServiceResult};
use sqlx::{PgPool, Postgres, Transaction};

use crate::changes;
use crate::files::{cell_field, Table};

const YEARS: std::ops::RangeInclusive<i32> = 1990..=2200;
/// Most exceptions one year may have: each of its days at most once.
const MAX_EXCEPTIONS_PER_YEAR: usize = 366;

fn kind_of(kind: i32) -> Option<DayKind> {
    match CalendarDayKind::try_from(kind) {
        Ok(CalendarDayKind::Holiday) => Some(DayKind::Holiday),
        Ok(CalendarDayKind::MakeupWorkingDay) => Some(DayKind::MakeupWorkingDay),
        _ => None,
    }
}

fn wire_kind(kind: DayKind) -> CalendarDayKind {
    match kind {
        DayKind::Holiday => CalendarDayKind::Holiday,
        DayKind::MakeupWorkingDay => CalendarDayKind::MakeupWorkingDay,
    }
}

/// A year's exceptions, checked; errors are named through `field(index, name)`.
fn validate_year(
    v: &mut Violations,
    year: i32,
    exceptions: &[CalendarException],
    field: &dyn Fn(usize, &str) -> String,
) -> Vec<(NaiveDate, DayKind, String)> {
    let mut days = Vec::new();
    for (i, e) in exceptions.iter().enumerate() {
        let day = v.date(&field(i, "day"), &e.day);
        let kind = kind_of(e.kind);
        if kind.is_none() {
            v.add(field(i, "kind"), "must be HOLIDAY or MAKEUP_WORKING_DAY");
        }
        v.text(&field(i, "name"), &e.name, 200);
        if let (Some(day), Some(kind)) = (day, kind) {
            days.push((i, day, kind, e.name.clone()));
        }
    }
    let checked: Vec<(NaiveDate, DayKind)> = days.iter().map(|(_, d, k, _)| (*d, *k)).collect();
    for (position, reason) in calendar::check_year(year, &checked) {
        v.add(field(days[position].0, "day"), reason);
    }
    days.into_iter().map(|(_, d, k, n)| (d, k, n)).collect()
}

/// Replaces the exceptions of `year`; returns whether anything changed.
async fn apply_year(
    tx: &mut Transaction<'_, Postgres>,
    year: i32,
    mut days: Vec<(NaiveDate, DayKind, String)>,
) -> ServiceResult<bool> {
    days.sort_by_key(|d| d.0);
    let (first, next) = year_bounds(year);
    let stored: Vec<(NaiveDate, i16, String)> =
        sqlx::query_as("SELECT day, kind, name FROM calendar_exception WHERE day >= $1 AND day < $2 ORDER BY day")
            .bind(first)
            .bind(next)
            .fetch_all(&mut **tx)
            .await?;
    let loaded: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM calendar_year WHERE year = $1)")
        .bind(year)
        .fetch_one(&mut **tx)
        .await?;
    let wanted: Vec<(NaiveDate, i16, String)> =
        days.iter().map(|(d, k, n)| (*d, wire_kind(*k) as i16, n.clone())).collect();
    if loaded && stored == wanted {
        return Ok(false);
    }
    sqlx::query("DELETE FROM calendar_exception WHERE day >= $1 AND day < $2")
        .bind(first)
        .bind(next)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO calendar_exception (day, kind, name) SELECT * FROM UNNEST($1::date[], $2::int2[], $3::text[])",
    )
    .bind(wanted.iter().map(|w| w.0).collect::<Vec<_>>())
    .bind(wanted.iter().map(|w| w.1).collect::<Vec<_>>())
    .bind(wanted.iter().map(|w| w.2.as_str()).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    sqlx::query("INSERT INTO calendar_year (year) VALUES ($1) ON CONFLICT (year) DO UPDATE SET updated_at = now()")
        .bind(year)
        .execute(&mut **tx)
        .await?;
    let exceptions = wanted
        .into_iter()
        .map(|(day, kind, name)| CalendarException { day: day.to_string(), kind: i32::from(kind), name })
        .collect();
    changes::append(tx, Change::CalendarYear(SetCalendarYearRequest { year, exceptions })).await?;
    Ok(true)
}

fn year_bounds(year: i32) -> (NaiveDate, NaiveDate) {
    (
        NaiveDate::from_ymd_opt(year, 1, 1).expect("year in range"),
        NaiveDate::from_ymd_opt(year + 1, 1, 1).expect("year in range"),
    )
}

pub async fn set_year(pool: &PgPool, request: &SetCalendarYearRequest) -> ServiceResult<bool> {
    let mut v = Violations::new();
    if !YEARS.contains(&request.year) {
        v.add("year", format!("must be between {} and {}", YEARS.start(), YEARS.end()));
        return Err(v.into_result().unwrap_err().into());
    }
    if !v.at_most("exceptions", request.exceptions.len(), MAX_EXCEPTIONS_PER_YEAR) {
        return Err(v.into_result().unwrap_err().into());
    }
    let days = validate_year(&mut v, request.year, &request.exceptions, &|i, name| format!("exceptions[{i}].{name}"));
    v.into_result()?;
    let mut tx = changes::begin_write(pool).await?;
    let changed = apply_year(&mut tx, request.year, days).await?;
    tx.commit().await?;
    Ok(changed)
}

/// Loads a CSV of exceptions (`day,kind,name`); every year that appears in it is replaced, all in one transaction.
pub async fn load_csv(pool: &PgPool, content: Vec<u8>) -> ServiceResult<(Vec<i32>, u32)> {
    let table = crate::files::off_the_runtime(move || Table::read(FileFormat::Csv, &content)).await?;
    table.require(&["day", "kind", "name"])?;
    let mut v = Violations::new();
    let mut by_year: BTreeMap<i32, (Vec<CalendarException>, Vec<usize>)> = BTreeMap::new();
    for row in &table.rows {
        let day = v.date(&cell_field(row.number, "day"), table.get(row, "day"));
        let kind = match table.get(row, "kind").to_lowercase().as_str() {
            "holiday" | "nghỉ" | "nghi" => CalendarDayKind::Holiday,
            "makeup_working_day" | "makeup" | "làm bù" | "lam bu" => CalendarDayKind::MakeupWorkingDay,
            other => {
                v.add(cell_field(row.number, "kind"), format!("{other:?} is not holiday or makeup_working_day"));
                CalendarDayKind::Unspecified
            }
        };
        if let (Some(day), false) = (day, kind == CalendarDayKind::Unspecified) {
            let entry = by_year.entry(day.year()).or_default();
            entry.0.push(CalendarException {
                day: day.to_string(),
                kind: kind as i32,
                name: table.get(row, "name").to_owned(),
            });
            entry.1.push(row.number);
        }
    }
    let mut checked = Vec::new();
    for (year, (exceptions, rows)) in &by_year {
        if !YEARS.contains(year) {
            v.add(cell_field(rows[0], "day"), format!("year {year} is out of range"));
            continue;
        }
        let days = validate_year(&mut v, *year, exceptions, &|i, name| cell_field(rows[i], name));
        checked.push((*year, days));
    }
    v.into_result()?;
    if checked.is_empty() {
        return Err(ServiceError::invalid("content", "the file has no calendar rows"));
    }
    let mut tx = changes::begin_write(pool).await?;
    let mut changed = 0;
    for (year, days) in checked {
        changed += u32::from(apply_year(&mut tx, year, days).await?);
    }
    tx.commit().await?;
    Ok((by_year.into_keys().collect(), changed))
}

/// The loaded calendar years from `first` to `last`.
pub async fn load(pool: &PgPool, first: i32, last: i32) -> ServiceResult<WorkingCalendar> {
    let years: Vec<i32> = sqlx::query_scalar("SELECT year FROM calendar_year WHERE year BETWEEN $1 AND $2")
        .bind(first)
        .bind(last)
        .fetch_all(pool)
        .await?;
    let (start, _) = year_bounds(first.max(*YEARS.start()));
    let (_, end) = year_bounds(last.min(*YEARS.end()));
    let rows: Vec<(NaiveDate, i16)> =
        sqlx::query_as("SELECT day, kind FROM calendar_exception WHERE day >= $1 AND day < $2")
            .bind(start)
            .bind(end)
            .fetch_all(pool)
            .await?;
    let exceptions = rows.into_iter().filter_map(|(day, kind)| kind_of(i32::from(kind)).map(|k| (day, k)));
    Ok(WorkingCalendar::new(years, exceptions))
}

pub async fn get_year(pool: &PgPool, year: i32) -> ServiceResult<GetCalendarYearResponse> {
    if !YEARS.contains(&year) {
        return Err(ServiceError::invalid("year", format!("must be between {} and {}", YEARS.start(), YEARS.end())));
    }
    let calendar = load(pool, year, year).await?;
    if !calendar.has_year(year) {
        return Err(ServiceError::not_found("year", format!("the calendar of {year}")));
    }
    let (first, next) = year_bounds(year);
    let rows: Vec<(NaiveDate, i16, String)> =
        sqlx::query_as("SELECT day, kind, name FROM calendar_exception WHERE day >= $1 AND day < $2 ORDER BY day")
            .bind(first)
            .bind(next)
            .fetch_all(pool)
            .await?;
    Ok(GetCalendarYearResponse {
        exceptions: rows
            .into_iter()
            .map(|(day, kind, name)| CalendarException { day: day.to_string(), kind: i32::from(kind), name })
            .collect(),
        working_days: calendar.working_days_in_year(year).map_err(|e| ServiceError::Internal(e.into()))?,
    })
}

fn missing_year(field: &str, error: calendar::MissingYear) -> ServiceError {
    ServiceError::precondition(field, error.to_string())
}

pub async fn add_working_days(pool: &PgPool, request: &AddWorkingDaysRequest) -> ServiceResult<String> {
    let mut v = Violations::new();
    let from = v.date("from_day", &request.from_day);
    // Roughly 250 working days a year: this bound keeps a walk within the span any calendar could cover.
    if i64::from(request.working_days).abs() * 7 / 5 > MAX_SPAN_DAYS {
        v.add("working_days", format!("must be within ±{}", MAX_SPAN_DAYS * 5 / 7));
    }
    v.into_result()?;
    let from = from.expect("validated");
    let years = (MAX_SPAN_DAYS / 365 + 1) as i32;
    let calendar = load(pool, from.year() - years, from.year() + years).await?;
    let day = calendar.add_working_days(from, request.working_days).map_err(|e| missing_year("from_day", e))?;
    Ok(day.to_string())
}

pub async fn count_working_days(pool: &PgPool, request: &CountWorkingDaysRequest) -> ServiceResult<i32> {
    let mut v = Violations::new();
    let from = v.date("from_day", &request.from_day);
    let to = v.date("to_day", &request.to_day);
    if let (Some(from), Some(to)) = (from, to) {
        if (to - from).num_days().abs() > MAX_SPAN_DAYS {
            v.add("to_day", format!("must be within {MAX_SPAN_DAYS} days of from_day"));
        }
    }
    v.into_result()?;
    let (from, to) = (from.expect("validated"), to.expect("validated"));
    let calendar = load(pool, from.year().min(to.year()), from.year().max(to.year())).await?;
    calendar.count_working_days(from, to).map_err(|e| missing_year("to_day", e))
}
