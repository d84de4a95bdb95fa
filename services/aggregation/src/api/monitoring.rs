//! Late-case monitoring (DOMAIN §8): lists, counts per unit, the watch, and reconciliation of the late counts in
//! the cells with the late case records.
//!
//! Open cases are judged on the day asked (today in Vietnam by default), not on the day intake stored them: a
//! case pushed in time becomes overdue without a new push. Lateness counts against the original due date
//! (policy default, as intake's findings).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::NaiveDate;
use onestop_domain::calendar::WorkingCalendar;
use onestop_domain::Violations;
use onestop_proto::aggregation::v1::*;
use onestop_server::{paging, ServiceError, ServiceResult};

use super::{period, target, watch_hub, AggregationApi, AtLeast, Call, ResponseStream};
use crate::apology_notices;
use crate::case_record::{CaseRow, COLUMNS};
use crate::names::CaseNames;
use crate::scope::Target;
use crate::totals::load_calendar;

const MAX_DUE_WITHIN: u32 = 30;
/// How often a watch looks again without a wake-up (the day can change with no push).
pub(super) const WATCH_POLL: Duration = Duration::from_secs(5);

/// The SQL condition of each list. Parameters: $2 the day asked, $3 the last due date of DUE_SOON, $4/$5 the
/// period (either may be NULL).
fn condition(list: LateCaseList) -> &'static str {
    match list {
        LateCaseList::PendingOverdue => "open AND due_date < $2",
        LateCaseList::DueSoon => "open AND due_date >= $2 AND due_date <= $3",
        LateCaseList::ResolvedLate => "late AND ($4::date IS NULL OR resolved_on BETWEEN $4 AND $5)",
        LateCaseList::LateWithoutNotice => {
            "notices = 0 AND (late OR (open AND due_date < $2)) AND ($4::date IS NULL OR due_date BETWEEN $4 AND $5)"
        }
        LateCaseList::NoticeAfterDeadline => {
            "notice_after_deadline AND ($4::date IS NULL OR due_date BETWEEN $4 AND $5)"
        }
        LateCaseList::MissedNewDueDate => {
            "(missed_new_due_date OR (open AND current_due_date <> due_date AND current_due_date < $2))
             AND ($4::date IS NULL OR due_date BETWEEN $4 AND $5)"
        }
        LateCaseList::RescheduledMoreThanOnce => "reschedules > 1 AND ($4::date IS NULL OR due_date BETWEEN $4 AND $5)",
        LateCaseList::Unspecified => "false",
    }
}

const LISTS: [LateCaseList; 7] = [
    LateCaseList::PendingOverdue,
    LateCaseList::DueSoon,
    LateCaseList::ResolvedLate,
    LateCaseList::LateWithoutNotice,
    LateCaseList::NoticeAfterDeadline,
    LateCaseList::MissedNewDueDate,
    LateCaseList::RescheduledMoreThanOnce,
];

/// `rows` as a monitor sees them on `as_of`, with the names of their codes and their apology notices.
async fn monitored_all(
    db: &mut sqlx::PgConnection,
    rows: &[CaseRow],
    as_of: NaiveDate,
    calendar: &WorkingCalendar,
) -> ServiceResult<Vec<MonitoredCase>> {
    let names = CaseNames::of(db, rows).await?;
    let codes: Vec<String> = rows.iter().map(|r| r.case_code.clone()).collect();
    let mut notices = apology_notices::for_office(db, &codes).await?;
    let name = |names: &HashMap<String, String>, code: &str| names.get(code).cloned().unwrap_or_default();
    Ok(rows
        .iter()
        .map(|row| MonitoredCase {
            procedure_name: name(&names.procedures, &row.procedure_code),
            center_name: name(&names.centers, &row.center_code),
            resolving_agency_name: name(&names.agencies, &row.resolving_agency_code),
            apology_notices: notices.remove(&row.case_code).unwrap_or_default(),
            ..monitored(row, as_of, calendar)
        })
        .collect())
}

fn monitored(row: &CaseRow, as_of: NaiveDate, calendar: &WorkingCalendar) -> MonitoredCase {
    let working_days_left = if row.open {
        match row.due_date.cmp(&as_of) {
            std::cmp::Ordering::Less => -calendar.count_working_days(row.due_date, as_of).unwrap_or(0),
            _ => calendar.count_working_days(as_of, row.due_date).unwrap_or(0),
        }
    } else {
        0
    };
    MonitoredCase {
        case_code: row.case_code.clone(),
        procedure_code: row.procedure_code.clone(),
        center_code: row.center_code.clone(),
        resolving_agency_code: row.resolving_agency_code.clone(),
        received_on: row.received_on.to_string(),
        due_date: row.due_date.to_string(),
        current_due_date: row.current_due_date.to_string(),
        resolved_on: row.resolved_on.map(|d| d.to_string()).unwrap_or_default(),
        reschedules: row.reschedules as u32,
        notices: row.notices as u32,
        late_without_notice: row.notices == 0 && (row.late || (row.open && row.due_date < as_of)),
        notice_after_deadline: row.notice_after_deadline,
        missed_new_due_date: row.missed_new_due_date
            || (row.open && row.current_due_date != row.due_date && row.current_due_date < as_of),
        working_days_left,
        ..Default::default()
    }
}

/// The day asked (default today) and, when `due_within` is given, the last due date it covers.
struct Judgement {
    as_of: NaiveDate,
    due_limit: NaiveDate,
    calendar: WorkingCalendar,
}

async fn judgement(db: &mut sqlx::PgConnection, as_of: NaiveDate, due_within: u32) -> ServiceResult<Judgement> {
    let horizon = as_of + chrono::Days::new(u64::from(due_within) * 3 + 60);
    let calendar = load_calendar(db, as_of, horizon).await?;
    let due_limit = if due_within == 0 {
        as_of
    } else {
        calendar.add_working_days(as_of, due_within as i32).map_err(|missing| {
            ServiceError::precondition("due_within_working_days", format!("no working-day calendar for {}", missing.0))
        })?
    };
    Ok(Judgement { as_of, due_limit, calendar })
}

fn check_due_within(v: &mut Violations, field: &str, value: u32, required: bool) {
    if (required || value != 0) && !(1..=MAX_DUE_WITHIN).contains(&value) {
        v.add(field, format!("must be 1 to {MAX_DUE_WITHIN} working days"));
    }
}

fn as_of_day(v: &mut Violations, given: &str, today: NaiveDate) -> Option<NaiveDate> {
    if given.is_empty() {
        Some(today)
    } else {
        v.date("as_of_day", given)
    }
}

fn optional_range(v: &mut Violations, range: Option<&DayRange>) -> Option<(NaiveDate, NaiveDate)> {
    let range = range?;
    let (first, last) = (v.date("period.from_day", &range.from_day)?, v.date("period.to_day", &range.to_day)?);
    if last < first {
        v.add("period.to_day", "is before period.from_day");
    }
    Some((first, last))
}

impl AggregationApi {
    pub(super) async fn late_cases(
        &self,
        call: &Call,
        request: ListLateCasesRequest,
    ) -> ServiceResult<ListLateCasesResponse> {
        let mut v = Violations::new();
        let target = target(&mut v, &request.unit_code, &request.center_code);
        let list = LateCaseList::try_from(request.list).unwrap_or(LateCaseList::Unspecified);
        if list == LateCaseList::Unspecified {
            v.add("list", "name one of the lists");
        }
        check_due_within(
            &mut v,
            "due_within_working_days",
            request.due_within_working_days,
            list == LateCaseList::DueSoon,
        );
        let as_of = as_of_day(&mut v, &request.as_of_day, (self.clock)());
        let range = optional_range(&mut v, request.period.as_ref());
        if !request.procedure_code.is_empty() {
            v.code("procedure_code", &request.procedure_code);
        }
        if !request.resolving_agency_code.is_empty() {
            v.code("resolving_agency_code", &request.resolving_agency_code);
        }
        let page_size = paging::page_size(request.page_size, 100, 1000).map_err(|e| v.add("page_size", e)).ok();
        let after = if request.page_token.is_empty() {
            Some(String::new())
        } else {
            paging::decode(&request.page_token, 1).map_err(|e| v.add("page_token", e)).ok().map(|mut k| k.remove(0))
        };
        v.into_result()?;
        let (target, as_of, page_size, after) =
            (target.expect("validated"), as_of.expect("validated"), page_size.expect("validated"), after.unwrap());

        let (mut snapshot, freshness, scope) = self
            .scoped_snapshot(
                call,
                &target,
                AtLeast { intake: &request.min_intake_cursor, catalogue: request.min_catalogue_cursor },
            )
            .await?;
        let due_within = if list == LateCaseList::DueSoon { request.due_within_working_days } else { 0 };
        let judged = judgement(&mut snapshot, as_of, due_within).await?;
        let mut rows: Vec<CaseRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM case_record
             WHERE center_code = ANY($1) AND ({})
               AND ($6 = '' OR procedure_code = $6) AND ($7 = '' OR resolving_agency_code = $7)
               AND case_code > $8
             ORDER BY case_code LIMIT $9",
            condition(list)
        ))
        .bind(scope.center_codes())
        .bind(judged.as_of)
        .bind(judged.due_limit)
        .bind(range.map(|r| r.0))
        .bind(range.map(|r| r.1))
        .bind(&request.procedure_code)
        .bind(&request.resolving_agency_code)
        .bind(&after)
        .bind(i64::from(page_size) + 1)
        .fetch_all(&mut *snapshot)
        .await?;
        let next_page_token = if rows.len() > page_size as usize {
            rows.truncate(page_size as usize);
            paging::encode(&[&rows.last().expect("a full page").case_code])
        } else {
            String::new()
        };
        let cases = monitored_all(&mut snapshot, &rows, as_of, &judged.calendar).await?;
        snapshot.commit().await?;
        Ok(ListLateCasesResponse { cases, next_page_token, freshness: Some(freshness) })
    }

    pub(super) async fn late_case_counts(
        &self,
        call: &Call,
        request: CountLateCasesRequest,
    ) -> ServiceResult<CountLateCasesResponse> {
        let mut v = Violations::new();
        let target = target(&mut v, &request.unit_code, &request.center_code);
        check_due_within(&mut v, "due_within_working_days", request.due_within_working_days, false);
        let as_of = as_of_day(&mut v, &request.as_of_day, (self.clock)());
        let range = optional_range(&mut v, request.period.as_ref());
        v.into_result()?;
        let (target, as_of) = (target.expect("validated"), as_of.expect("validated"));
        let due_within = if request.due_within_working_days == 0 { 3 } else { request.due_within_working_days };

        let (mut snapshot, freshness, scope) = self
            .scoped_snapshot(
                call,
                &target,
                AtLeast { intake: &request.min_intake_cursor, catalogue: request.min_catalogue_cursor },
            )
            .await?;
        let judged = judgement(&mut snapshot, as_of, due_within).await?;
        let filters: Vec<String> = LISTS.iter().map(|l| format!("count(*) FILTER (WHERE {})", condition(*l))).collect();
        let rows: Vec<(String, Vec<i64>)> = sqlx::query_as(&format!(
            "SELECT center_code, ARRAY[{}]::bigint[] FROM case_record WHERE center_code = ANY($1)
             GROUP BY center_code",
            filters.join(", ")
        ))
        .bind(scope.center_codes())
        .bind(judged.as_of)
        .bind(judged.due_limit)
        .bind(range.map(|r| r.0))
        .bind(range.map(|r| r.1))
        .fetch_all(&mut *snapshot)
        .await?;
        snapshot.commit().await?;

        let add = |counts: &mut LateCaseCounts, values: &[i64]| {
            let fields = [
                &mut counts.pending_overdue,
                &mut counts.due_soon,
                &mut counts.resolved_late,
                &mut counts.late_without_notice,
                &mut counts.notice_after_deadline,
                &mut counts.missed_new_due_date,
                &mut counts.rescheduled_more_than_once,
            ];
            for (field, value) in fields.into_iter().zip(values) {
                *field += *value as u64;
            }
        };
        let key = match &target {
            Target::Unit(code) | Target::Center(code) => code.clone(),
        };
        // Named as asked: the center's name for a center, else the unit's.
        let name_of_key = match &target {
            Target::Unit(_) => scope.unit.name.clone(),
            Target::Center(_) => scope.centers.first().map(|c| c.name.clone()).unwrap_or_default(),
        };
        let mut total = LateCaseCounts { key: key.clone(), name: name_of_key, ..Default::default() };
        let mut units: BTreeMap<String, LateCaseCounts> = BTreeMap::new();
        let (children, child_of) = match &target {
            Target::Unit(_) => scope.children(as_of),
            Target::Center(_) => Default::default(),
        };
        for (child, name) in &children {
            units
                .insert(child.clone(), LateCaseCounts { key: child.clone(), name: name.clone(), ..Default::default() });
        }
        for (center, values) in &rows {
            add(&mut total, values);
            if let Target::Unit(unit) = &target {
                let key = child_of.get(center).cloned().unwrap_or_else(|| unit.clone());
                let name = scope.units.get(&key).map(|u| u.name.clone()).unwrap_or_default();
                add(
                    units.entry(key.clone()).or_insert_with(|| LateCaseCounts { key, name, ..Default::default() }),
                    values,
                );
            }
        }
        // Children first in code order, then the unit's own centers.
        let own = units.remove(&key);
        let mut units: Vec<LateCaseCounts> = units.into_values().collect();
        units.extend(own);
        Ok(CountLateCasesResponse { total: Some(total), units, freshness: Some(freshness) })
    }

    pub(super) async fn watch(
        &self,
        call: &Call,
        request: WatchLateCasesRequest,
    ) -> ServiceResult<ResponseStream<WatchLateCasesResponse>> {
        let mut v = Violations::new();
        let target = target(&mut v, &request.unit_code, &request.center_code);
        check_due_within(&mut v, "due_within_working_days", request.due_within_working_days, true);
        v.into_result()?;
        let target = target.expect("validated");
        let (snapshot, _, scope) = self
            .scoped_snapshot(
                call,
                &target,
                AtLeast { intake: &request.min_intake_cursor, catalogue: request.min_catalogue_cursor },
            )
            .await?;
        snapshot.commit().await?;
        let centers = scope.center_codes();
        let key = (format!("{target:?}"), request.due_within_working_days);
        let mut sweeps = self.watches.subscribe(self, key, centers);
        let (sender, receiver) = tokio::sync::mpsc::channel(256);
        let mut stop = self.stop.clone();
        tokio::spawn(async move {
            // What each case was last emitted as, so a case is emitted again only when its state changes.
            let mut emitted = HashMap::new();
            loop {
                let sweep = sweeps.borrow_and_update().clone();
                match sweep.as_deref() {
                    None => {}
                    Some(Ok(events)) => {
                        for event in watch_hub::news(events, &mut emitted) {
                            if sender.send(Ok(event)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Some(Err(status)) => {
                        let _ = sender.send(Err(status.clone())).await;
                        return;
                    }
                }
                tokio::select! {
                    changed = sweeps.changed() => if changed.is_err() {
                        let _ = sender.send(Err(tonic::Status::unavailable("aggregation is shutting down"))).await;
                        return;
                    },
                    _ = sender.closed() => return,
                    _ = stop.stopped() => {
                        let _ = sender.send(Err(tonic::Status::unavailable("aggregation is shutting down"))).await;
                        return;
                    }
                }
            }
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver)))
    }

    /// The open cases of `centers` that are overdue or due soon today and were not yet emitted in that state.
    pub async fn sweep(
        &self,
        centers: &[String],
        due_within: u32,
        emitted: &mut HashMap<String, (i32, NaiveDate)>,
    ) -> ServiceResult<Vec<WatchLateCasesResponse>> {
        Ok(watch_hub::news(&self.sweep_all(centers, due_within).await?, emitted))
    }

    /// Every open case of `centers` that is overdue or due soon today, as the event a watch would emit.
    pub async fn sweep_all(&self, centers: &[String], due_within: u32) -> ServiceResult<Vec<WatchLateCasesResponse>> {
        let today = (self.clock)();
        let mut db = self.pool.acquire().await?;
        let judged = judgement(&mut db, today, due_within).await?;
        let rows: Vec<CaseRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM case_record
             WHERE center_code = ANY($1) AND open AND due_date <= $2 ORDER BY due_date, case_code"
        ))
        .bind(centers)
        .bind(judged.due_limit)
        .fetch_all(&mut *db)
        .await?;
        let cases = monitored_all(&mut db, &rows, today, &judged.calendar).await?;
        Ok(rows
            .iter()
            .zip(cases)
            .map(|(row, case)| {
                let kind = if row.due_date < today { LateCaseEventKind::Overdue } else { LateCaseEventKind::DueSoon };
                WatchLateCasesResponse { kind: kind as i32, case: Some(case), as_of_day: today.to_string() }
            })
            .collect())
    }

    pub(super) async fn reconcile(
        &self,
        call: &Call,
        request: ReconcileLateCountsRequest,
    ) -> ServiceResult<ReconcileLateCountsResponse> {
        let mut v = Violations::new();
        let target = target(&mut v, &request.unit_code, &request.center_code);
        let period = period::resolve(&mut v, request.period.as_ref(), request.reporting_period.as_ref());
        v.into_result()?;
        let (target, (first, last, _)) = (target.expect("validated"), period.expect("validated"));

        let (mut snapshot, freshness, scope) = self
            .scoped_snapshot(
                call,
                &target,
                AtLeast { intake: &request.min_intake_cursor, catalogue: request.min_catalogue_cursor },
            )
            .await?;
        let centers = scope.center_codes();
        let late: Vec<(String, i64)> = sqlx::query_as(
            "SELECT center_code, sum(resolved_late)::bigint
             FROM center_day WHERE center_code = ANY($1) AND day BETWEEN $2 AND $3 GROUP BY center_code",
        )
        .bind(&centers)
        .bind(first)
        .bind(last)
        .fetch_all(&mut *snapshot)
        .await?;
        // Overdue at the end of the period: stocks carry forward from each pair's latest cell.
        let mut overdue: HashMap<String, i64> = HashMap::new();
        for stock in crate::totals::center_stocks_on(&mut snapshot, &centers, &[last]).await? {
            *overdue.entry(stock.center_code).or_default() += stock.pending_overdue;
        }
        let mut cells: HashMap<String, (i64, i64)> = HashMap::new();
        for (center, resolved_late) in late {
            cells.entry(center).or_default().0 = resolved_late;
        }
        for (center, pending_overdue) in overdue {
            cells.entry(center).or_default().1 = pending_overdue;
        }
        let records: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT center_code,
                    count(*) FILTER (WHERE late AND resolved_on BETWEEN $2 AND $3),
                    count(*) FILTER (WHERE received_on <= $3 AND due_date < $3
                                       AND (resolved_on IS NULL OR resolved_on > $3))
             FROM case_record WHERE center_code = ANY($1) GROUP BY center_code",
        )
        .bind(&centers)
        .bind(first)
        .bind(last)
        .fetch_all(&mut *snapshot)
        .await?;
        let mut days = if request.by_day {
            super::reconciliation::disagreeing_days(&mut snapshot, &centers, first, last).await?
        } else {
            HashMap::new()
        };
        snapshot.commit().await?;
        let records: HashMap<String, (i64, i64)> = records.into_iter().map(|(c, a, b)| (c, (a, b))).collect();
        let center_names: HashMap<&String, &String> = scope.centers.iter().map(|c| (&c.code, &c.name)).collect();
        let mut out: Vec<LateCountReconciliation> = centers
            .iter()
            .map(|center| {
                let (late_cells, overdue_cells) = cells.get(center).copied().unwrap_or_default();
                let (late_records, overdue_records) = records.get(center).copied().unwrap_or_default();
                LateCountReconciliation {
                    center_code: center.clone(),
                    center_name: center_names.get(center).map(|n| n.to_string()).unwrap_or_default(),
                    resolved_late_in_cells: late_cells as u64,
                    resolved_late_in_records: late_records as u64,
                    pending_overdue_in_cells: overdue_cells as u64,
                    pending_overdue_in_records: overdue_records as u64,
                    agrees: late_cells == late_records && overdue_cells == overdue_records,
                    days: days.remove(center).unwrap_or_default(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.agrees.cmp(&b.agrees).then_with(|| a.center_code.cmp(&b.center_code)));
        Ok(ReconcileLateCountsResponse {
            centers: out,
            days: Some(DayRange { from_day: first.to_string(), to_day: last.to_string() }),
            freshness: Some(freshness),
        })
    }
}
