//! Late cases: a list with every page and each case's apology notices, the lists' sizes per unit, the
//! reconciliation of late counts with the daily cells, and a live watch.

use onestop_proto::aggregation::v1::{
    CountLateCasesRequest, DelayReason, Delivery, LateCaseCounts, LateCaseEventKind, LateCaseList,
    LateCountReconciliation, ListLateCasesRequest, MonitoredCase, OfficeApologyNotice, ReconcileLateCountsRequest,
    WatchLateCasesRequest,
};
use tokio_stream::StreamExt;

use super::{Service, Services};
use crate::args::{Format, LateCommand, LateList, Place};
use crate::output::{Cell, Row, Sheet};
use crate::scope::optional_range;

pub async fn run(services: &Services<'_>, command: &LateCommand) -> anyhow::Result<()> {
    match command {
        LateCommand::List { place, list, within, as_of, from, to, procedure, agency, page_size, output } => {
            let target = place.target()?;
            let mut request = ListLateCasesRequest {
                unit_code: target.unit_code,
                center_code: target.center_code,
                list: list_of(*list) as i32,
                as_of_day: as_of.clone().unwrap_or_default(),
                due_within_working_days: *within,
                period: optional_range(from, to),
                procedure_code: procedure.clone().unwrap_or_default(),
                resolving_agency_code: agency.clone().unwrap_or_default(),
                page_size: *page_size,
                min_intake_cursor: services.after_cursor(),
                ..Default::default()
            };
            let failed = services.failed(Service::Aggregation);
            let mut aggregation = services.aggregation()?;
            let mut cases = Vec::new();
            loop {
                let page = aggregation.list_late_cases(request.clone()).await.map_err(&failed)?.into_inner();
                cases.extend(page.cases);
                if page.next_page_token.is_empty() {
                    break;
                }
                request.page_token = page.next_page_token;
            }
            let sheet = if output.format == Format::Table { cases_table(&cases) } else { cases_sheet(&cases) };
            output.write(&sheet, || serde_json::Value::Array(cases.iter().map(case_json).collect()), "Hồ sơ trễ hạn")
        }
        LateCommand::Count { place, within, as_of, from, to, output } => {
            let target = place.target()?;
            let request = CountLateCasesRequest {
                unit_code: target.unit_code,
                center_code: target.center_code,
                as_of_day: as_of.clone().unwrap_or_default(),
                due_within_working_days: *within,
                period: optional_range(from, to),
                min_intake_cursor: services.after_cursor(),
                ..Default::default()
            };
            let answer = services
                .aggregation()?
                .count_late_cases(request)
                .await
                .map_err(services.failed(Service::Aggregation))?
                .into_inner();
            let total = answer.total.unwrap_or_default();
            let json = || {
                serde_json::json!({
                    "total": counts_json(&total),
                    "units": answer.units.iter().map(counts_json).collect::<Vec<_>>(),
                })
            };
            output.write(&counts_sheet(&total, &answer.units), json, "Số hồ sơ trễ hạn")
        }
        LateCommand::Reconcile { scope, by_day, output } => {
            let target = scope.target()?;
            let days = scope.period.days()?;
            let request = ReconcileLateCountsRequest {
                unit_code: target.unit_code,
                center_code: target.center_code,
                period: days.range,
                reporting_period: days.reporting,
                by_day: *by_day,
                min_intake_cursor: services.after_cursor(),
                ..Default::default()
            };
            let answer = services
                .aggregation()?
                .reconcile_late_counts(request)
                .await
                .map_err(services.failed(Service::Aggregation))?
                .into_inner();
            let json = || serde_json::Value::Array(answer.centers.iter().map(reconciliation_json).collect());
            output.write(&reconciliation_sheet(&answer.centers), json, "Đối chiếu")
        }
    }
}

pub async fn watch(services: &Services<'_>, place: &Place, within: u32) -> anyhow::Result<()> {
    let target = place.target()?;
    let request = WatchLateCasesRequest {
        unit_code: target.unit_code,
        center_code: target.center_code,
        due_within_working_days: within,
        min_intake_cursor: services.after_cursor(),
        ..Default::default()
    };
    let failed = services.failed(Service::Aggregation);
    let mut stream = services.aggregation()?.watch_late_cases(request).await.map_err(&failed)?.into_inner();
    while let Some(event) = stream.next().await {
        let event = event.map_err(&failed)?;
        let kind = match event.kind() {
            LateCaseEventKind::Overdue => "OVERDUE",
            _ => "DUE SOON",
        };
        let case = event.case.unwrap_or_default();
        println!(
            "{} {kind:9} {} center {} procedure {} due {} ({} working days)",
            event.as_of_day,
            case.case_code,
            or_code(&case.center_name, &case.center_code),
            or_code(&case.procedure_name, &case.procedure_code),
            case.due_date,
            case.working_days_left
        );
    }
    Ok(())
}

fn list_of(list: LateList) -> LateCaseList {
    match list {
        LateList::PendingOverdue => LateCaseList::PendingOverdue,
        LateList::DueSoon => LateCaseList::DueSoon,
        LateList::ResolvedLate => LateCaseList::ResolvedLate,
        LateList::LateWithoutNotice => LateCaseList::LateWithoutNotice,
        LateList::NoticeAfterDeadline => LateCaseList::NoticeAfterDeadline,
        LateList::MissedNewDueDate => LateCaseList::MissedNewDueDate,
        LateList::RescheduledMoreThanOnce => LateCaseList::RescheduledMoreThanOnce,
    }
}

/// A name, or the code when the catalogue's copy does not know it.
fn or_code<'a>(name: &'a str, code: &'a str) -> &'a str {
    if name.is_empty() {
        code
    } else {
        name
    }
}

/// An enum's protobuf name without its type's prefix: DELAY_REASON_OTHER is OTHER.
fn short(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_owned()
}

fn reason(n: &OfficeApologyNotice) -> String {
    short(DelayReason::try_from(n.reason_category).unwrap_or_default().as_str_name(), "DELAY_REASON_")
}

fn delivery(n: &OfficeApologyNotice) -> String {
    short(Delivery::try_from(n.delivery).unwrap_or_default().as_str_name(), "DELIVERY_")
}

/// An open case's working days left; nothing for a closed one, which has none.
fn days_left(case: &MonitoredCase) -> Cell {
    if case.resolved_on.is_empty() {
        Cell::Signed(case.working_days_left.into())
    } else {
        Cell::text("")
    }
}

/// One line under its case: the notice, the move it states, why, and what was found in it.
fn notice_line(n: &OfficeApologyNotice) -> String {
    let mut line = format!(
        "notice {} by {} on {}: due {} → {}; {}: {}; delivered {}",
        n.notice_number,
        or_code(&n.issuing_agency_name, &n.issuing_agency_code),
        n.issued_on,
        n.original_due_date,
        n.new_due_date,
        reason(n),
        n.reason,
        delivery(n)
    );
    if n.issued_after_deadline {
        line += " [issued after the deadline]";
    }
    if n.new_due_date_not_later {
        line += " [new due date not later]";
    }
    if !n.not_assessed.is_empty() {
        line += &format!(" [not assessed: {}]", n.not_assessed);
    }
    line
}

fn cases_table(cases: &[MonitoredCase]) -> Sheet {
    let mut sheet = Sheet::new(&[
        "case",
        "procedure",
        "center",
        "agency",
        "due",
        "current due",
        "resolved",
        "days left",
        "notices",
    ]);
    for case in cases {
        sheet.push(Row {
            cells: vec![
                Cell::text(&case.case_code),
                Cell::text(or_code(&case.procedure_name, &case.procedure_code)),
                Cell::text(or_code(&case.center_name, &case.center_code)),
                Cell::text(or_code(&case.resolving_agency_name, &case.resolving_agency_code)),
                Cell::text(&case.due_date),
                Cell::text(&case.current_due_date),
                Cell::text(&case.resolved_on),
                days_left(case),
                Cell::Count(case.notices.into()),
            ],
            details: case.apology_notices.iter().map(notice_line).collect(),
        });
    }
    sheet
}

/// Every field of a case but its notices, which a row cannot hold: CSV and XLSX.
fn cases_sheet(cases: &[MonitoredCase]) -> Sheet {
    let mut sheet = Sheet::new(&[
        "case_code",
        "procedure_code",
        "procedure_name",
        "center_code",
        "center_name",
        "resolving_agency_code",
        "resolving_agency_name",
        "received_on",
        "due_date",
        "current_due_date",
        "resolved_on",
        "working_days_left",
        "reschedules",
        "notices",
        "late_without_notice",
        "notice_after_deadline",
        "missed_new_due_date",
    ]);
    let yes = |b: bool| Cell::text(if b { "yes" } else { "" });
    for case in cases {
        sheet.push(vec![
            Cell::text(&case.case_code),
            Cell::text(&case.procedure_code),
            Cell::text(&case.procedure_name),
            Cell::text(&case.center_code),
            Cell::text(&case.center_name),
            Cell::text(&case.resolving_agency_code),
            Cell::text(&case.resolving_agency_name),
            Cell::text(&case.received_on),
            Cell::text(&case.due_date),
            Cell::text(&case.current_due_date),
            Cell::text(&case.resolved_on),
            days_left(case),
            Cell::Count(case.reschedules.into()),
            Cell::Count(case.notices.into()),
            yes(case.late_without_notice),
            yes(case.notice_after_deadline),
            yes(case.missed_new_due_date),
        ]);
    }
    sheet
}

fn case_json(case: &MonitoredCase) -> serde_json::Value {
    let notices: Vec<serde_json::Value> = case
        .apology_notices
        .iter()
        .map(|n| {
            serde_json::json!({
                "notice_number": n.notice_number, "issuing_agency_code": n.issuing_agency_code,
                "issuing_agency_name": n.issuing_agency_name, "issued_on": n.issued_on, "reason": n.reason,
                "reason_category": reason(n), "original_due_date": n.original_due_date,
                "new_due_date": n.new_due_date, "delivery": delivery(n),
                "issued_after_deadline": n.issued_after_deadline, "new_due_date_not_later": n.new_due_date_not_later,
                "not_assessed": n.not_assessed,
            })
        })
        .collect();
    serde_json::json!({
        "case_code": case.case_code, "procedure_code": case.procedure_code, "procedure_name": case.procedure_name,
        "center_code": case.center_code, "center_name": case.center_name,
        "resolving_agency_code": case.resolving_agency_code, "resolving_agency_name": case.resolving_agency_name,
        "received_on": case.received_on, "due_date": case.due_date, "current_due_date": case.current_due_date,
        "resolved_on": case.resolved_on, "reschedules": case.reschedules, "notices": case.notices,
        "late_without_notice": case.late_without_notice, "notice_after_deadline": case.notice_after_deadline,
        "missed_new_due_date": case.missed_new_due_date, "working_days_left": case.working_days_left,
        "apology_notices": notices,
    })
}

const COUNT_COLUMNS: [&str; 7] = [
    "pending overdue",
    "due soon",
    "resolved late",
    "late without notice",
    "notice after deadline",
    "missed new due date",
    "rescheduled more than once",
];

fn count_values(c: &LateCaseCounts) -> [u64; 7] {
    [
        c.pending_overdue,
        c.due_soon,
        c.resolved_late,
        c.late_without_notice,
        c.notice_after_deadline,
        c.missed_new_due_date,
        c.rescheduled_more_than_once,
    ]
}

/// The total first, under "(all)", then each child unit (and the unit's own centers under its code).
fn counts_sheet(total: &LateCaseCounts, units: &[LateCaseCounts]) -> Sheet {
    let mut headers = vec!["unit", "name"];
    headers.extend(COUNT_COLUMNS);
    let mut sheet = Sheet::new(&headers);
    let row = |key: &str, c: &LateCaseCounts| {
        let mut cells = vec![Cell::text(key), Cell::text(&c.name)];
        cells.extend(count_values(c).into_iter().map(Cell::Count));
        cells
    };
    sheet.push(row("(all)", total));
    for unit in units {
        sheet.push(row(&unit.key, unit));
    }
    sheet
}

fn counts_json(c: &LateCaseCounts) -> serde_json::Value {
    let mut item = serde_json::json!({ "key": c.key, "name": c.name });
    for (column, value) in COUNT_COLUMNS.iter().zip(count_values(c)) {
        item[column.replace(' ', "_")] = value.into();
    }
    item
}

fn reconciliation_sheet(centers: &[LateCountReconciliation]) -> Sheet {
    let mut sheet = Sheet::new(&[
        "center",
        "name",
        "resolved late in cells",
        "in records",
        "pending overdue in cells",
        "in records",
        "agrees",
    ]);
    for c in centers {
        let details = c
            .days
            .iter()
            .map(|d| {
                let codes = |codes: &[String]| {
                    if codes.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", codes.join(", "))
                    }
                };
                format!(
                    "{}: resolved late {} in cells, {} in records{}; pending overdue {} in cells, {} in records{}",
                    d.day,
                    d.resolved_late_in_cells,
                    d.resolved_late_in_records,
                    codes(&d.resolved_late_case_codes),
                    d.pending_overdue_in_cells,
                    d.pending_overdue_in_records,
                    codes(&d.pending_overdue_case_codes)
                )
            })
            .collect();
        sheet.push(Row {
            cells: vec![
                Cell::text(&c.center_code),
                Cell::text(&c.center_name),
                Cell::Count(c.resolved_late_in_cells),
                Cell::Count(c.resolved_late_in_records),
                Cell::Count(c.pending_overdue_in_cells),
                Cell::Count(c.pending_overdue_in_records),
                Cell::text(if c.agrees { "yes" } else { "NO" }),
            ],
            details,
        });
    }
    sheet
}

fn reconciliation_json(c: &LateCountReconciliation) -> serde_json::Value {
    let days: Vec<serde_json::Value> = c
        .days
        .iter()
        .map(|d| {
            serde_json::json!({
                "day": d.day, "resolved_late_in_cells": d.resolved_late_in_cells,
                "resolved_late_in_records": d.resolved_late_in_records,
                "pending_overdue_in_cells": d.pending_overdue_in_cells,
                "pending_overdue_in_records": d.pending_overdue_in_records,
                "resolved_late_case_codes": d.resolved_late_case_codes,
                "pending_overdue_case_codes": d.pending_overdue_case_codes,
            })
        })
        .collect();
    serde_json::json!({
        "center_code": c.center_code, "center_name": c.center_name,
        "resolved_late_in_cells": c.resolved_late_in_cells, "resolved_late_in_records": c.resolved_late_in_records,
        "pending_overdue_in_cells": c.pending_overdue_in_cells,
        "pending_overdue_in_records": c.pending_overdue_in_records, "agrees": c.agrees, "days": days,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_is_printed_under_its_case() {
        let case = MonitoredCase {
            case_code: "VD-0001".into(),
            procedure_code: "1.900001".into(),
            procedure_name: "Đăng ký khai sinh".into(),
            center_code: "BPMC-99001".into(),
            resolved_on: "2026-03-12".into(),
            notices: 1,
            apology_notices: vec![OfficeApologyNotice {
                notice_number: "01/TB-VD".into(),
                issuing_agency_code: "UBND-99001".into(),
                issued_on: "2026-03-04".into(),
                reason: "Cần xác minh thêm".into(),
                reason_category: DelayReason::InteragencyCoordination as i32,
                original_due_date: "2026-03-05".into(),
                new_due_date: "2026-03-12".into(),
                delivery: Delivery::AtCenter as i32,
                ..Default::default()
            }],
            ..Default::default()
        };
        let table = cases_table(&[case]).table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].starts_with("VD-0001  Đăng ký khai sinh  BPMC-99001"), "{table}");
        assert_eq!(
            lines[2],
            "    notice 01/TB-VD by UBND-99001 on 2026-03-04: due 2026-03-05 → 2026-03-12; \
             INTERAGENCY_COORDINATION: Cần xác minh thêm; delivered AT_CENTER"
        );
    }
}
