//! Reconciliation that points at the day: for each center, the days on which the late counts of the cells and
//! of the case records disagree, with the case records behind the records' side.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use onestop_proto::aggregation::v1::DayReconciliation;
use onestop_server::ServiceResult;
use sqlx::PgConnection;

use crate::totals::center_stocks_on;

/// Most case codes listed for one side of one day; the counts are always whole.
const MAX_CODES_PER_DAY: usize = 1_000;

/// What both sources say of one center on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    resolved_late_in_cells: i64,
    pending_overdue_in_cells: i64,
    resolved_late_in_records: i64,
    pending_overdue_in_records: i64,
}

impl Counts {
    fn agree(&self) -> bool {
        self.resolved_late_in_cells == self.resolved_late_in_records
            && self.pending_overdue_in_cells == self.pending_overdue_in_records
    }
}

#[derive(sqlx::FromRow)]
struct CaseDays {
    case_code: String,
    center_code: String,
    received_on: NaiveDate,
    due_date: NaiveDate,
    resolved_on: Option<NaiveDate>,
    late: bool,
}

impl CaseDays {
    fn resolved_late_on(&self, day: NaiveDate) -> bool {
        self.late && self.resolved_on == Some(day)
    }

    /// Open and past its due date at the end of `day`.
    fn overdue_at_end_of(&self, day: NaiveDate) -> bool {
        self.received_on <= day && self.due_date < day && self.resolved_on.is_none_or(|resolved| resolved > day)
    }
}

/// For each center of `centers`, the days of `[first, last]` on which its cells and its case records disagree.
pub async fn disagreeing_days(
    db: &mut PgConnection,
    centers: &[String],
    first: NaiveDate,
    last: NaiveDate,
) -> ServiceResult<HashMap<String, Vec<DayReconciliation>>> {
    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    let mut counts: HashMap<(String, NaiveDate), Counts> = HashMap::new();

    // The cells' side: resolved late per day, and the overdue stock at each day's end, swept day by day from
    // the stock carried into the period, each pair's stock changing where it has a cell.
    let late: Vec<(String, NaiveDate, i64)> = sqlx::query_as(
        "SELECT center_code, day, resolved_late FROM center_day
         WHERE center_code = ANY($1) AND day BETWEEN $2 AND $3 AND resolved_late <> 0",
    )
    .bind(centers)
    .bind(first)
    .bind(last)
    .fetch_all(&mut *db)
    .await?;
    for (center, day, resolved_late) in late {
        counts.entry((center, day)).or_default().resolved_late_in_cells = resolved_late;
    }
    // The overdue stock at each day's end, per center: the stock carried into the period, plus each day's change
    // of the center's carried stock (`center_stock_change`), so a day costs a row per center, not per procedure.
    let mut overdue_now: HashMap<String, i64> = HashMap::new();
    if let Some(before) = first.pred_opt() {
        for s in center_stocks_on(db, centers, &[before]).await? {
            overdue_now.insert(s.center_code, s.pending_overdue);
        }
    }
    let changes: Vec<(String, NaiveDate, i64)> = sqlx::query_as(
        "SELECT center_code, day, overdue FROM center_stock_change
         WHERE center_code = ANY($1) AND day BETWEEN $2 AND $3 AND overdue <> 0",
    )
    .bind(centers)
    .bind(first)
    .bind(last)
    .fetch_all(&mut *db)
    .await?;
    let mut by_day: BTreeMap<NaiveDate, Vec<(String, i64)>> = BTreeMap::new();
    for (center, day, overdue) in changes {
        by_day.entry(day).or_default().push((center, overdue));
    }
    for day in &days {
        for (center, change) in by_day.remove(day).unwrap_or_default() {
            *overdue_now.entry(center).or_default() += change;
        }
        for (center, overdue) in &overdue_now {
            if *overdue != 0 {
                counts.entry((center.clone(), *day)).or_default().pending_overdue_in_cells = *overdue;
            }
        }
    }

    // The records' side.
    let cases: Vec<CaseDays> = sqlx::query_as(
        "SELECT case_code, center_code, received_on, due_date, resolved_on, late FROM case_record
         WHERE center_code = ANY($1) AND received_on <= $3 AND (resolved_on IS NULL OR resolved_on >= $2)
         ORDER BY case_code",
    )
    .bind(centers)
    .bind(first)
    .bind(last)
    .fetch_all(&mut *db)
    .await?;
    for case in &cases {
        for day in &days {
            let (late, overdue) = (case.resolved_late_on(*day), case.overdue_at_end_of(*day));
            if late || overdue {
                let c = counts.entry((case.center_code.clone(), *day)).or_default();
                c.resolved_late_in_records += i64::from(late);
                c.pending_overdue_in_records += i64::from(overdue);
            }
        }
    }

    let mut out: HashMap<String, Vec<DayReconciliation>> = HashMap::new();
    let mut disagreeing: Vec<(&(String, NaiveDate), &Counts)> = counts.iter().filter(|(_, c)| !c.agree()).collect();
    disagreeing.sort_by_key(|((center, day), _)| (center.clone(), *day));
    for ((center, day), c) in disagreeing {
        let of_center = cases.iter().filter(|case| case.center_code == *center);
        let codes = |keep: &dyn Fn(&CaseDays) -> bool| {
            of_center
                .clone()
                .filter(|case| keep(case))
                .take(MAX_CODES_PER_DAY)
                .map(|case| case.case_code.clone())
                .collect()
        };
        out.entry(center.clone()).or_default().push(DayReconciliation {
            day: day.to_string(),
            resolved_late_in_cells: c.resolved_late_in_cells as u64,
            resolved_late_in_records: c.resolved_late_in_records as u64,
            pending_overdue_in_cells: c.pending_overdue_in_cells as u64,
            pending_overdue_in_records: c.pending_overdue_in_records as u64,
            resolved_late_case_codes: codes(&|case| case.resolved_late_on(*day)),
            pending_overdue_case_codes: codes(&|case| case.overdue_at_end_of(*day)),
        });
    }
    Ok(out)
}
