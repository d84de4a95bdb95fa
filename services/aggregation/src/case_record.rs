//! The case records aggregation keeps for late-case monitoring and the apology indicators: one row per case,
//! from intake's change stream, with what intake found in it.

use chrono::NaiveDate;
use onestop_domain::rescheduling::{rescheduling, Move};
use onestop_domain::today_in_vietnam;
use onestop_proto::convert::timestamp_from_wire;
use onestop_proto::intake::v1::{CaseOutcome, CaseStatus, StoredCase};

/// Every column of `case_record`, in [`CaseRow`]'s order.
pub const COLUMNS: &str = "case_code, procedure_code, center_code, resolving_agency_code, received_on, due_date,
    current_due_date, resolved_on, open, late, reschedules, notices, late_without_notice, notice_after_deadline,
    notice_assessed, missed_new_due_date, rescheduled_more_than_once";

/// A case record as monitoring stores and reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CaseRow {
    pub case_code: String,
    pub procedure_code: String,
    pub center_code: String,
    pub resolving_agency_code: String,
    pub received_on: NaiveDate,
    pub due_date: NaiveDate,
    pub current_due_date: NaiveDate,
    pub resolved_on: Option<NaiveDate>,
    pub open: bool,
    pub late: bool,
    pub reschedules: i32,
    pub notices: i32,
    pub late_without_notice: bool,
    pub notice_after_deadline: bool,
    pub notice_assessed: bool,
    pub missed_new_due_date: bool,
    pub rescheduled_more_than_once: bool,
}

impl CaseRow {
    /// `None` for a record intake could not have stored (intake validates every date).
    pub fn of(stored: &StoredCase) -> Option<CaseRow> {
        let record = stored.record.as_ref()?;
        let findings = stored.findings.clone().unwrap_or_default();
        let day = |s: &str| s.parse::<NaiveDate>().ok();
        let due_date = day(&record.due_date)?;
        let changes = record
            .due_date_changes
            .iter()
            .filter_map(|c| Some(Move { made_on: day(&c.changed_on)?, new_due_date: day(&c.new_due_date)? }));
        let notices = record
            .apology_notices
            .iter()
            .filter_map(|n| Some(Move { made_on: day(&n.issued_on)?, new_due_date: day(&n.new_due_date)? }));
        let moved = rescheduling(due_date, changes.chain(notices));
        let received_on = today_in_vietnam(record.received_at.and_then(timestamp_from_wire)?);
        Some(CaseRow {
            case_code: record.case_code.clone(),
            procedure_code: record.procedure_code.clone(),
            center_code: record.receiving_center_code.clone(),
            resolving_agency_code: record.resolving_agency_code.clone(),
            received_on,
            due_date,
            current_due_date: moved.current_due_date,
            resolved_on: record.resolved_at.and_then(timestamp_from_wire).map(today_in_vietnam),
            open: record.status == CaseStatus::InProgress as i32,
            late: findings.outcome == CaseOutcome::Late as i32,
            reschedules: moved.moves as i32,
            notices: record.apology_notices.len() as i32,
            late_without_notice: findings.late_without_notice,
            notice_after_deadline: findings.notice_after_deadline,
            notice_assessed: !findings.not_assessed.iter().any(|n| n.starts_with("notice_after_deadline")),
            missed_new_due_date: findings.missed_new_due_date,
            rescheduled_more_than_once: findings.rescheduled_more_than_once,
        })
    }
}

/// Upserts `cases` by case code.
pub async fn store(tx: &mut sqlx::PgConnection, cases: Vec<CaseRow>) -> Result<(), sqlx::Error> {
    let col = |f: fn(&CaseRow) -> String| cases.iter().map(f).collect::<Vec<_>>();
    let date = |f: fn(&CaseRow) -> NaiveDate| cases.iter().map(f).collect::<Vec<_>>();
    let flag = |f: fn(&CaseRow) -> bool| cases.iter().map(f).collect::<Vec<_>>();
    let int = |f: fn(&CaseRow) -> i32| cases.iter().map(f).collect::<Vec<_>>();
    sqlx::query(&format!(
        "INSERT INTO case_record ({COLUMNS})
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], $6::date[], $7::date[],
             $8::date[], $9::bool[], $10::bool[], $11::int[], $12::int[], $13::bool[], $14::bool[], $15::bool[],
             $16::bool[], $17::bool[])
         ON CONFLICT (case_code) DO UPDATE SET procedure_code = EXCLUDED.procedure_code,
             center_code = EXCLUDED.center_code, resolving_agency_code = EXCLUDED.resolving_agency_code,
             received_on = EXCLUDED.received_on, due_date = EXCLUDED.due_date,
             current_due_date = EXCLUDED.current_due_date, resolved_on = EXCLUDED.resolved_on,
             open = EXCLUDED.open, late = EXCLUDED.late, reschedules = EXCLUDED.reschedules,
             notices = EXCLUDED.notices, late_without_notice = EXCLUDED.late_without_notice,
             notice_after_deadline = EXCLUDED.notice_after_deadline, notice_assessed = EXCLUDED.notice_assessed,
             missed_new_due_date = EXCLUDED.missed_new_due_date,
             rescheduled_more_than_once = EXCLUDED.rescheduled_more_than_once"
    ))
    .bind(col(|c| c.case_code.clone()))
    .bind(col(|c| c.procedure_code.clone()))
    .bind(col(|c| c.center_code.clone()))
    .bind(col(|c| c.resolving_agency_code.clone()))
    .bind(date(|c| c.received_on))
    .bind(date(|c| c.due_date))
    .bind(date(|c| c.current_due_date))
    .bind(cases.iter().map(|c| c.resolved_on).collect::<Vec<_>>())
    .bind(flag(|c| c.open))
    .bind(flag(|c| c.late))
    .bind(int(|c| c.reschedules))
    .bind(int(|c| c.notices))
    .bind(flag(|c| c.late_without_notice))
    .bind(flag(|c| c.notice_after_deadline))
    .bind(flag(|c| c.notice_assessed))
    .bind(flag(|c| c.missed_new_due_date))
    .bind(flag(|c| c.rescheduled_more_than_once))
    .execute(&mut *tx)
    .await?;
    Ok(())
}
