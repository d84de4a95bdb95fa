//! The apology notices of each case record (Decree 61/2018/ND-CP art. 19), kept beside `case_record` so a
//! provincial office reads them through aggregation: number, issuing agency, issued on, reason, the dates it moves
//! the case between, how it was delivered, and what was found in each.

use std::collections::HashMap;

use chrono::NaiveDate;
use onestop_domain::calendar::WorkingCalendar;
use onestop_proto::aggregation::v1::OfficeApologyNotice;
use onestop_proto::intake::v1::StoredCase;

use crate::totals::load_calendar;
use onestop_server::ServiceResult;

/// One notice of one case, as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct NoticeRow {
    pub case_code: String,
    pub position: i32,
    pub notice_number: String,
    pub issuing_agency_code: String,
    pub issued_on: NaiveDate,
    pub reason: String,
    pub reason_category: i16,
    pub original_due_date: NaiveDate,
    pub new_due_date: NaiveDate,
    pub delivery: i16,
}

const COLUMNS: &str = "case_code, position, notice_number, issuing_agency_code, issued_on, reason, reason_category,
    original_due_date, new_due_date, delivery";

/// The notices of a stored case, in the record's order; a notice whose dates do not parse is left out (intake
/// validates every date, so none is).
pub fn of(stored: &StoredCase) -> Vec<NoticeRow> {
    let Some(record) = stored.record.as_ref() else { return vec![] };
    let day = |s: &str| s.parse::<NaiveDate>().ok();
    record
        .apology_notices
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            Some(NoticeRow {
                case_code: record.case_code.clone(),
                position: i as i32,
                notice_number: n.notice_number.clone(),
                issuing_agency_code: n.issuing_agency_code.clone(),
                issued_on: day(&n.issued_on)?,
                reason: n.reason.clone(),
                reason_category: i16::try_from(n.reason_category).unwrap_or(0),
                original_due_date: day(&n.original_due_date)?,
                new_due_date: day(&n.new_due_date)?,
                delivery: i16::try_from(n.delivery).unwrap_or(0),
            })
        })
        .collect()
}

/// Replaces the notices of `case_codes` with `notices` (a case's record is always pushed whole).
pub async fn replace(
    tx: &mut sqlx::PgConnection,
    case_codes: &[String],
    notices: &[NoticeRow],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM apology_notice WHERE case_code = ANY($1)").bind(case_codes).execute(&mut *tx).await?;
    if notices.is_empty() {
        return Ok(());
    }
    let text = |f: fn(&NoticeRow) -> &String| notices.iter().map(|n| f(n).clone()).collect::<Vec<_>>();
    let date = |f: fn(&NoticeRow) -> NaiveDate| notices.iter().map(f).collect::<Vec<_>>();
    let small = |f: fn(&NoticeRow) -> i16| notices.iter().map(f).collect::<Vec<_>>();
    sqlx::query(&format!(
        "INSERT INTO apology_notice ({COLUMNS})
         SELECT * FROM UNNEST($1::text[], $2::int[], $3::text[], $4::text[], $5::date[], $6::text[], $7::int2[],
             $8::date[], $9::date[], $10::int2[])"
    ))
    .bind(text(|n| &n.case_code))
    .bind(notices.iter().map(|n| n.position).collect::<Vec<_>>())
    .bind(text(|n| &n.notice_number))
    .bind(text(|n| &n.issuing_agency_code))
    .bind(date(|n| n.issued_on))
    .bind(text(|n| &n.reason))
    .bind(small(|n| n.reason_category))
    .bind(date(|n| n.original_due_date))
    .bind(date(|n| n.new_due_date))
    .bind(small(|n| n.delivery))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The notices of `case_codes` as an office reads them, by case code: each with its issuing agency's name and its
/// findings, judged with the working-day calendar of the years the notices fall in.
pub async fn for_office(
    db: &mut sqlx::PgConnection,
    case_codes: &[String],
) -> ServiceResult<HashMap<String, Vec<OfficeApologyNotice>>> {
    let rows: Vec<NoticeRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM apology_notice WHERE case_code = ANY($1) ORDER BY case_code, position"
    ))
    .bind(case_codes)
    .fetch_all(&mut *db)
    .await?;
    let mut by_case: HashMap<String, Vec<OfficeApologyNotice>> = HashMap::new();
    let (Some(first), Some(last)) =
        (rows.iter().map(|n| n.original_due_date).min(), rows.iter().map(|n| n.original_due_date).max())
    else {
        return Ok(by_case);
    };
    let calendar = load_calendar(db, first, last).await?;
    let agencies: Vec<String> = rows.iter().map(|n| n.issuing_agency_code.clone()).collect();
    let agency_names = crate::names::agencies(db, &agencies).await?;
    for row in rows {
        let name = agency_names.get(&row.issuing_agency_code).cloned().unwrap_or_default();
        by_case.entry(row.case_code.clone()).or_default().push(office_view(&row, name, &calendar));
    }
    Ok(by_case)
}

/// One notice with its findings: issued later than one working day before the date it apologises for, and a new
/// date not after that one (the rules intake judges a case by, per notice).
fn office_view(row: &NoticeRow, issuing_agency_name: String, calendar: &WorkingCalendar) -> OfficeApologyNotice {
    let (issued_after_deadline, not_assessed) = match calendar.add_working_days(row.original_due_date, -1) {
        Ok(deadline) => (row.issued_on > deadline, String::new()),
        Err(missing) => (false, format!("issued_after_deadline: {missing}")),
    };
    OfficeApologyNotice {
        notice_number: row.notice_number.clone(),
        issuing_agency_code: row.issuing_agency_code.clone(),
        issuing_agency_name,
        issued_on: row.issued_on.to_string(),
        reason: row.reason.clone(),
        reason_category: i32::from(row.reason_category),
        original_due_date: row.original_due_date.to_string(),
        new_due_date: row.new_due_date.to_string(),
        delivery: i32::from(row.delivery),
        issued_after_deadline,
        new_due_date_not_later: row.new_due_date <= row.original_due_date,
        not_assessed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onestop_domain::calendar::DayKind;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn notice(issued: &str, original: &str, new: &str) -> NoticeRow {
        NoticeRow {
            case_code: "HS-1".into(),
            position: 0,
            notice_number: "12/TB-UBND".into(),
            issuing_agency_code: "UBND-X".into(),
            issued_on: d(issued),
            reason: "Chờ ý kiến cơ quan phối hợp".into(),
            reason_category: 2,
            original_due_date: d(original),
            new_due_date: d(new),
            delivery: 2,
        }
    }

    #[test]
    fn a_notice_is_due_one_working_day_before_the_date_it_apologises_for() {
        // 2026-05-01 is a holiday (Friday): a case due Monday 4 May is noticed by Thursday 30 April.
        let calendar = WorkingCalendar::new([2026], [(d("2026-05-01"), DayKind::Holiday)]);
        let on_time = office_view(&notice("2026-04-30", "2026-05-04", "2026-05-11"), String::new(), &calendar);
        assert!(!on_time.issued_after_deadline && !on_time.new_due_date_not_later && on_time.not_assessed.is_empty());
        let late = office_view(&notice("2026-05-01", "2026-05-04", "2026-05-04"), String::new(), &calendar);
        assert!(late.issued_after_deadline && late.new_due_date_not_later);
        let unassessed = office_view(&notice("2027-05-01", "2027-05-04", "2027-05-11"), String::new(), &calendar);
        assert!(!unassessed.issued_after_deadline);
        assert!(unassessed.not_assessed.contains("2027"), "{}", unassessed.not_assessed);
    }
}
