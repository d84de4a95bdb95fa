//! Periodic reports (docs/reports.md): submitted, reviewed, listed, compared with the figures now, exported.

use std::path::Path;

use anyhow::Context;
use onestop_proto::aggregation::v1::{
    CompareReportRequest, ExportReportsRequest, ListReportsRequest, ReportStatus, ReportVersion, ReporterKind,
    ReporterStatus, ReportingPeriod, ReviewDecision, ReviewReportRequest, SubmitReportRequest,
};
use tokio_stream::StreamExt;

use super::{Service, Services};
use crate::args::{Period, ReportsCommand};
use crate::output::{write_file, Cell, Sheet};

pub async fn run(services: &Services<'_>, command: &ReportsCommand) -> anyhow::Result<()> {
    let failed = services.failed(Service::Aggregation);
    let mut aggregation = services.aggregation()?;
    match command {
        ReportsCommand::Submit { unit, agency, period, note } => {
            let request = SubmitReportRequest {
                unit_code: unit.clone().unwrap_or_default(),
                agency_code: agency.clone().unwrap_or_default(),
                reporting_period: Some(reporting(period)?),
                min_intake_cursor: services.after_cursor(),
                note: note.clone(),
                ..Default::default()
            };
            let report = aggregation.submit_report(request).await.map_err(&failed)?.into_inner().report;
            print!("{}", summary(&report.unwrap_or_default()));
        }
        ReportsCommand::Review { report, version, approve: _, return_with } => {
            let decision = if return_with.is_some() { ReviewDecision::Return } else { ReviewDecision::Approve };
            let request = ReviewReportRequest {
                report_id: *report,
                version: *version,
                decision: decision as i32,
                reason: return_with.clone().unwrap_or_default(),
            };
            let report = aggregation.review_report(request).await.map_err(&failed)?.into_inner().report;
            print!("{}", summary(&report.unwrap_or_default()));
        }
        ReportsCommand::List { unit, period, output } => {
            let request = ListReportsRequest {
                unit_code: unit.clone(),
                reporting_period: Some(reporting(period)?),
                include_figures: false,
            };
            let answer = aggregation.list_reports(request).await.map_err(&failed)?.into_inner();
            let all: Vec<&ReporterStatus> = answer.own.iter().chain(&answer.reporters).collect();
            output.write(&sheet(&all), || json(&all), "Báo cáo")?;
        }
        ReportsCommand::Compare { report, version } => {
            let request = CompareReportRequest { report_id: *report, version: *version, max_corrections: 0 };
            let answer = aggregation.compare_report(request).await.map_err(&failed)?.into_inner();
            let mut text = String::new();
            if answer.form06.is_empty() && answer.indicators.is_empty() {
                text += "no figure changed since submission\n";
            }
            for d in &answer.form06 {
                let row = match (d.level.as_str(), d.sector_code.as_str()) {
                    ("", _) => "total".to_owned(),
                    (level, "") => format!("{level} subtotal"),
                    (level, sector) => format!("{level} {sector} {}", d.label),
                };
                text += &format!("form 06 {row}, column {}: {} -> {}\n", d.column, d.submitted, d.current);
            }
            for d in &answer.indicators {
                text += &format!(
                    "{}: {}/{} -> {}/{}\n",
                    d.indicator_id,
                    d.submitted_numerator,
                    d.submitted_denominator,
                    d.current_numerator,
                    d.current_denominator
                );
            }
            text += &format!("{} corrections since submission\n", answer.corrections_total);
            for c in &answer.corrections {
                let changes: Vec<String> =
                    c.changes.iter().map(|m| format!("{} {} -> {}", m.measure, m.before, m.after)).collect();
                text += &format!(
                    "  {} {} {} by {} (cursor {}): {}\n",
                    c.day,
                    c.center_code,
                    c.procedure_code,
                    c.sender,
                    c.cursor,
                    changes.join(", ")
                );
            }
            print!("{text}");
        }
        ReportsCommand::Export { unit, period, out } => {
            let request = ExportReportsRequest { unit_code: unit.clone(), reporting_period: Some(reporting(period)?) };
            let mut stream = aggregation.export_reports(request).await.map_err(&failed)?.into_inner();
            let mut bytes = Vec::new();
            while let Some(piece) = stream.next().await {
                bytes.extend(piece.map_err(&failed)?.chunk);
            }
            write_file(Path::new(out), &bytes)?;
        }
    }
    Ok(())
}

/// Reports are for a reporting period, never a range of days.
fn reporting(period: &Period) -> anyhow::Result<ReportingPeriod> {
    period.days()?.reporting.context("a report is for a reporting period: give --period, such as month:2026:10")
}

fn status_name(status: i32) -> &'static str {
    match ReportStatus::try_from(status) {
        Ok(ReportStatus::Submitted) => "submitted",
        Ok(ReportStatus::Approved) => "approved",
        Ok(ReportStatus::Returned) => "returned",
        _ => "not submitted",
    }
}

fn kind_name(kind: i32) -> &'static str {
    match ReporterKind::try_from(kind) {
        Ok(ReporterKind::Province) => "province",
        Ok(ReporterKind::Agency) => "agency",
        _ => "locality",
    }
}

/// A version in a few lines: which, where it stands, when it is due, its files' hashes.
fn summary(r: &ReportVersion) -> String {
    let mut text = format!(
        "report {} version {} of {} {}: {}{}\ndue {}{}\n",
        r.report_id,
        r.version,
        kind_name(r.reporter_kind),
        r.reporter_code,
        status_name(r.status),
        if r.return_reason.is_empty() { String::new() } else { format!(" ({})", r.return_reason) },
        r.due_day,
        if r.late { ", submitted late" } else { "" },
    );
    if let Some(freshness) = &r.freshness {
        text += &format!("figures at intake cursor {}\n", freshness.intake_cursor);
    }
    for file in r.csv.iter().chain(&r.xlsx) {
        text += &format!("{} sha256 {}\n", file.file_name, file.sha256);
    }
    text
}

fn sheet(reporters: &[&ReporterStatus]) -> Sheet {
    let mut sheet = Sheet::new(&["reporter", "name", "kind", "status", "report", "version", "due", "late", "reason"]);
    for r in reporters {
        sheet.push(vec![
            Cell::text(&r.reporter_code),
            Cell::text(&r.reporter_name),
            Cell::text(kind_name(r.reporter_kind)),
            Cell::text(status_name(r.status)),
            Cell::Count(r.report_id),
            Cell::Count(r.version.into()),
            Cell::text(&r.due_day),
            Cell::text(if r.late { "late" } else { "" }),
            Cell::text(&r.return_reason),
        ]);
    }
    sheet
}

fn json(reporters: &[&ReporterStatus]) -> serde_json::Value {
    let items = reporters.iter().map(|r| {
        serde_json::json!({
            "reporter": r.reporter_code, "name": r.reporter_name, "kind": kind_name(r.reporter_kind),
            "status": status_name(r.status), "report": r.report_id, "version": r.version, "due": r.due_day,
            "late": r.late, "reason": r.return_reason,
        })
    });
    serde_json::Value::Array(items.collect())
}
