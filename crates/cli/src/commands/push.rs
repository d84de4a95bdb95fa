//! Pushing cells and cases from CSV: every refusal and warning located by file and row.

use std::path::Path;

use anyhow::bail;
use onestop_proto::intake::v1::{
    CaseFindings, CellOutcome, DailyCell, PushCasesRequest, PushCellsRequest, PushCellsStreamRequest,
};
use tokio_stream::StreamExt;

use super::{Service, Services};
use crate::input;
use crate::progress::Progress;

pub async fn cells(services: &Services<'_>, file: &Path, sender: &str, batch: usize) -> anyhow::Result<()> {
    let cells = input::cells(file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let total = cells.len();
    let messages: Vec<PushCellsStreamRequest> = cells
        .chunks(batch.max(1))
        .map(|chunk| PushCellsStreamRequest {
            batch: Some(PushCellsRequest {
                sender: sender.to_owned(),
                cells: chunk.iter().map(|(_, c)| c.clone()).collect(),
                ..Default::default()
            }),
        })
        .collect();
    let failed = services.failed(Service::Intake);
    let mut intake = services.intake()?;
    let mut answers = intake.push_cells_stream(tokio_stream::iter(messages)).await.map_err(&failed)?.into_inner();
    let (mut done, mut accepted, mut rejected, mut warned) = (0usize, 0u64, 0u64, 0usize);
    let mut cursor = String::new();
    let progress = Progress::new(total, "cells");
    while let Some(answer) = answers.next().await {
        let answer = answer.map_err(&failed)?.batch.unwrap_or_default();
        for result in &answer.results {
            let (line, cell) = &cells[done + result.index as usize];
            let at = format!("{}:{line}", file.display());
            if result.outcome == CellOutcome::Rejected as i32 {
                for problem in &result.problems {
                    eprintln!("{at}: {}: {}", problem.field, problem.reason);
                }
            }
            for warning in &result.warnings {
                eprintln!("{at}: warning: {}: {}: {}", cell_keys(cell), warning.field, warning.reason);
            }
            warned += usize::from(!result.warnings.is_empty());
        }
        done += answer.results.len();
        if !answer.cursor.is_empty() {
            cursor.clone_from(&answer.cursor);
        }
        accepted += u64::from(answer.accepted);
        rejected += u64::from(answer.rejected);
        progress.show(done);
    }
    progress.finish(done);
    println!(
        "{accepted} accepted, {} unchanged or stale, {rejected} rejected; {warned} with warnings",
        done as u64 - accepted - rejected
    );
    print_cursor(&cursor);
    if rejected > 0 {
        bail!("{rejected} cells rejected");
    }
    Ok(())
}

/// The cursor of the push's last change, for a read that must include it (`--after-cursor`).
fn print_cursor(cursor: &str) {
    if !cursor.is_empty() {
        println!("cursor {cursor} (to read these: --after-cursor {cursor})");
    }
}

/// A cell as its sender knows it: center, procedure and day.
fn cell_keys(cell: &DailyCell) -> String {
    format!("{} {} {}", cell.center_code, cell.procedure_code, cell.day)
}

pub async fn cases(services: &Services<'_>, file: &Path, sender: &str) -> anyhow::Result<()> {
    let cases = input::cases(file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let failed = services.failed(Service::Intake);
    let mut intake = services.intake()?;
    let (mut created, mut updated, mut unchanged, mut rejected, mut flagged) = (0, 0, 0, 0, 0);
    let (progress, mut done) = (Progress::new(cases.len(), "cases"), 0);
    let mut cursor = String::new();
    for chunk in cases.chunks(1000) {
        let request = PushCasesRequest {
            sender: sender.to_owned(),
            cases: chunk.iter().map(|(_, c)| c.clone()).collect(),
            all_or_nothing: false,
        };
        let answer = intake.push_cases(request).await.map_err(&failed)?.into_inner();
        if !answer.cursor.is_empty() {
            cursor.clone_from(&answer.cursor);
        }
        for result in &answer.results {
            let (line, case) = &chunk[result.index as usize];
            let at = format!("{}:{line}", file.display());
            for problem in &result.problems {
                eprintln!("{at}: {}: {}", problem.field, problem.reason);
            }
            let findings = result.findings.as_ref().map(findings).unwrap_or_default();
            for finding in &findings {
                eprintln!("{at}: warning: case {}: {finding}", case.case_code);
            }
            flagged += u32::from(!findings.is_empty());
        }
        (created, updated, unchanged, rejected) = (
            created + answer.created,
            updated + answer.updated,
            unchanged + answer.unchanged,
            rejected + answer.rejected,
        );
        done += chunk.len();
        progress.show(done);
    }
    progress.finish(done);
    println!(
        "{created} created, {updated} updated, {unchanged} unchanged, {rejected} rejected; {flagged} with findings"
    );
    print_cursor(&cursor);
    if rejected > 0 {
        bail!("{rejected} cases rejected");
    }
    Ok(())
}

/// What intake found wrong in a stored case, in words: none stops the case, each is something to look into.
fn findings(found: &CaseFindings) -> Vec<String> {
    let flags = [
        (found.late_without_notice, "late without an apology notice"),
        (found.notice_after_deadline, "an apology notice issued later than one working day before the due date"),
        (found.new_due_date_not_later, "a new due date not after the one it replaces"),
        (found.missed_new_due_date, "late against the new due date too"),
        (found.rescheduled_more_than_once, "the due date moved more than once"),
    ];
    let mut out: Vec<String> = flags.iter().filter(|(set, _)| *set).map(|(_, what)| (*what).to_owned()).collect();
    out.extend(found.not_assessed.iter().map(|why| format!("not assessed: {why}")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_told_in_words() {
        let found = CaseFindings {
            notice_after_deadline: true,
            not_assessed: vec!["no working-day calendar for 2031".into()],
            ..Default::default()
        };
        assert_eq!(
            findings(&found),
            [
                "an apology notice issued later than one working day before the due date",
                "not assessed: no working-day calendar for 2031"
            ]
        );
        assert!(findings(&CaseFindings::default()).is_empty());
    }
}
