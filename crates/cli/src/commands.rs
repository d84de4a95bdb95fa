//! What each command does.

use std::io::Write;

use anyhow::{bail, Context};
use onestop_proto::aggregation::v1::{
    Breakdown, CutOffRule, DayRange, ExportForm06Request, FileFormat, GetForm06Request, GetIndicatorsRequest,
    IndicatorResult, LateCaseEventKind, PeriodKind, ReportingPeriod, WatchLateCasesRequest,
};
use onestop_proto::catalogue::v1::{self as catalogue, PublicationDecision, PublishDecisionFileRequest};
use onestop_proto::intake::v1::{CellOutcome, PushCasesRequest, PushCellsRequest, PushCellsStreamRequest};
use onestop_server::auth::Credentials;
use onestop_server::client;
use tokio_stream::StreamExt;

use crate::{input, Args, BreakdownArg, Command, CutOff, Format, Scope};

fn credentials(args: &Args) -> anyhow::Result<Credentials> {
    let token = match &args.token {
        Some(token) => token.expose().to_owned(),
        None => std::fs::read_to_string(&args.token_file)
            .with_context(|| format!("no token: set ONESTOP_TOKEN or --token-file ({})", args.token_file.display()))?,
    };
    Ok(Credentials::token(token.trim()))
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if let Command::Token { command } = args.command {
        println!("{}", onestop_auth::command::run(command).map_err(anyhow::Error::msg)?);
        return Ok(());
    }
    let credentials = credentials(&args)?;
    match args.command {
        Command::PushCells { file, sender, batch } => {
            let cells = input::cells(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
            let total = cells.len();
            let lines: Vec<usize> = cells.iter().map(|(line, _)| *line).collect();
            let messages: Vec<PushCellsStreamRequest> = cells
                .chunks(batch.max(1))
                .map(|chunk| PushCellsStreamRequest {
                    batch: Some(PushCellsRequest {
                        sender: sender.clone(),
                        cells: chunk.iter().map(|(_, c)| c.clone()).collect(),
                        ..Default::default()
                    }),
                })
                .collect();
            let mut intake = client::intake(&args.intake_url, None, &credentials)?;
            let mut answers = intake.push_cells_stream(tokio_stream::iter(messages)).await?.into_inner();
            let (mut done, mut accepted, mut rejected) = (0usize, 0u64, 0u64);
            let progress = Progress::new(total, "cells");
            while let Some(answer) = answers.next().await {
                let answer = answer?.batch.unwrap_or_default();
                for result in &answer.results {
                    if result.outcome == CellOutcome::Rejected as i32 {
                        let line = lines[done + result.index as usize];
                        for problem in &result.problems {
                            eprintln!("{}:{line}: {}: {}", file.display(), problem.field, problem.reason);
                        }
                    }
                }
                done += answer.results.len();
                accepted += u64::from(answer.accepted);
                rejected += u64::from(answer.rejected);
                progress.show(done);
            }
            progress.finish(done);
            println!(
                "{accepted} accepted, {} unchanged or stale, {rejected} rejected",
                done as u64 - accepted - rejected
            );
            if rejected > 0 {
                bail!("{rejected} cells rejected");
            }
        }
        Command::PushCases { file, sender } => {
            let cases = input::cases(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut intake = client::intake(&args.intake_url, None, &credentials)?;
            let (mut created, mut updated, mut rejected) = (0, 0, 0);
            let (progress, mut done) = (Progress::new(cases.len(), "cases"), 0);
            for chunk in cases.chunks(1000) {
                let request = PushCasesRequest {
                    sender: sender.clone(),
                    cases: chunk.iter().map(|(_, c)| c.clone()).collect(),
                    all_or_nothing: false,
                };
                let answer = intake.push_cases(request).await?.into_inner();
                for result in &answer.results {
                    let line = chunk[result.index as usize].0;
                    for problem in &result.problems {
                        eprintln!("{}:{line}: {}: {}", file.display(), problem.field, problem.reason);
                    }
                }
                (created, updated, rejected) =
                    (created + answer.created, updated + answer.updated, rejected + answer.rejected);
                done += chunk.len();
                progress.show(done);
            }
            progress.finish(done);
            println!("{created} created, {updated} updated, {rejected} rejected");
            if rejected > 0 {
                bail!("{rejected} cases rejected");
            }
        }
        Command::PublishDecision { file, number, signed_on, issuer, effective_from, province } => {
            let content = std::fs::read(&file).with_context(|| file.display().to_string())?;
            let format = match file.extension().and_then(|e| e.to_str()) {
                Some("xlsx") => catalogue::FileFormat::Xlsx,
                Some("csv") => catalogue::FileFormat::Csv,
                _ => bail!("{}: a .csv or .xlsx file", file.display()),
            };
            let decision = PublicationDecision {
                number,
                signed_on,
                issuer,
                effective_from,
                items: vec![],
                issuing_unit_code: province,
            };
            let request = PublishDecisionFileRequest { decision: Some(decision), format: format as i32, content };
            let mut catalogue = client::catalogue(&args.catalogue_url, None, &credentials)?;
            let answer = catalogue
                .publish_decision_file(request)
                .await
                .map_err(|s| anyhow::anyhow!("{}: {}", file.display(), s.message()))?
                .into_inner();
            println!("{} items; {}", answer.items, if answer.applied { "applied" } else { "already published" });
        }
        Command::Indicators { scope, breakdown, indicators, format } => {
            let (unit_code, center_code, period, reporting_period) = scope_fields(&scope)?;
            let request = GetIndicatorsRequest {
                unit_code,
                center_code,
                period,
                reporting_period,
                indicator_ids: indicators,
                breakdown: breakdown.map_or(Breakdown::Unspecified, breakdown_of) as i32,
                ..Default::default()
            };
            let mut aggregation = client::aggregation(&args.aggregation_url, None, &credentials)?;
            let answer = aggregation.get_indicators(request).await?.into_inner();
            let mut rows: Vec<(String, IndicatorResult)> =
                answer.indicators.into_iter().map(|r| (String::from("(all)"), r)).collect();
            for group in answer.groups {
                rows.extend(group.indicators.into_iter().map(|r| (group.key.clone(), r)));
            }
            print_indicators(&rows, format)?;
        }
        Command::Form06 { scope, out } => {
            let (unit_code, center_code, period, reporting_period) = scope_fields(&scope)?;
            let format = match out.extension().and_then(|e| e.to_str()) {
                Some("xlsx") => FileFormat::Xlsx,
                Some("csv") => FileFormat::Csv,
                _ => bail!("{}: name a .xlsx or .csv file", out.display()),
            };
            let report = GetForm06Request { unit_code, center_code, period, reporting_period, ..Default::default() };
            let request = ExportForm06Request { report: Some(report), format: format as i32 };
            let mut aggregation = client::aggregation(&args.aggregation_url, None, &credentials)?;
            let mut stream = aggregation.export_form06(request).await?.into_inner();
            let mut bytes = Vec::new();
            while let Some(piece) = stream.next().await {
                bytes.extend(piece?.chunk);
            }
            std::fs::write(&out, &bytes).with_context(|| out.display().to_string())?;
            println!("{} ({} bytes)", out.display(), bytes.len());
        }
        Command::WatchLate { unit, center, within } => {
            let request = WatchLateCasesRequest {
                unit_code: unit.unwrap_or_default(),
                center_code: center.unwrap_or_default(),
                due_within_working_days: within,
                ..Default::default()
            };
            let mut aggregation = client::aggregation(&args.aggregation_url, None, &credentials)?;
            let mut stream = aggregation.watch_late_cases(request).await?.into_inner();
            while let Some(event) = stream.next().await {
                let event = event?;
                let kind = match event.kind() {
                    LateCaseEventKind::Overdue => "OVERDUE",
                    _ => "DUE SOON",
                };
                let case = event.case.unwrap_or_default();
                println!(
                    "{} {kind:9} {} center {} procedure {} due {} ({} working days)",
                    event.as_of_day,
                    case.case_code,
                    case.center_code,
                    case.procedure_code,
                    case.due_date,
                    case.working_days_left
                );
            }
        }
        Command::Token { .. } => unreachable!("handled above"),
    }
    Ok(())
}

/// A progress bar on stderr: `[#######.......]  45% 6,750/15,000 cells, 2,250/s`. Drawn only when stderr is a
/// terminal; a log or a pipe gets one summary line at the end instead.
struct Progress {
    total: usize,
    what: &'static str,
    started: std::time::Instant,
    terminal: bool,
}

impl Progress {
    const WIDTH: usize = 30;

    fn new(total: usize, what: &'static str) -> Progress {
        use std::io::IsTerminal;
        Progress { total, what, started: std::time::Instant::now(), terminal: std::io::stderr().is_terminal() }
    }

    fn line(&self, done: usize) -> String {
        let fraction = if self.total == 0 { 1.0 } else { done as f64 / self.total as f64 };
        let filled = ((fraction * Self::WIDTH as f64).round() as usize).min(Self::WIDTH);
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        format!(
            "[{}{}] {:>3.0}% {done}/{} {}, {rate:.0}/s",
            "#".repeat(filled),
            ".".repeat(Self::WIDTH - filled),
            fraction * 100.0,
            self.total,
            self.what
        )
    }

    fn show(&self, done: usize) {
        if self.terminal {
            let _ = write!(std::io::stderr(), "\r{}", self.line(done));
        }
    }

    fn finish(&self, done: usize) {
        if self.terminal {
            eprintln!();
        } else {
            eprintln!("{}", self.line(done));
        }
    }
}

type ScopeFields = (String, String, Option<DayRange>, Option<ReportingPeriod>);

fn scope_fields(scope: &Scope) -> anyhow::Result<ScopeFields> {
    let unit = scope.unit.clone().unwrap_or_default();
    let center = scope.center.clone().unwrap_or_default();
    if unit.is_empty() == center.is_empty() {
        bail!("give --unit or --center");
    }
    let cut_off = match scope.cut_off {
        CutOff::Calendar => CutOffRule::Calendar,
        CutOff::Decree09 => CutOffRule::Decree09,
    } as i32;
    match (&scope.from, &scope.to, &scope.period) {
        (Some(from), Some(to), None) => {
            Ok((unit, center, Some(DayRange { from_day: from.clone(), to_day: to.clone() }), None))
        }
        (None, None, Some(period)) => {
            let parts: Vec<&str> = period.split(':').collect();
            let number = |i: usize| parts.get(i).and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
            let kind = match parts[0] {
                "month" => PeriodKind::Month,
                "quarter" => PeriodKind::Quarter,
                "half" => PeriodKind::SixMonths,
                "nine-months" => PeriodKind::NineMonths,
                "year" => PeriodKind::Year,
                other => bail!("--period {other:?}: month, quarter, half, nine-months or year"),
            };
            let year = parts.get(1).and_then(|y| y.parse().ok()).context("--period: KIND:YEAR[:NUMBER]")?;
            let reporting = ReportingPeriod { kind: kind as i32, year, number: number(2), cut_off, month_starts_on: 0 };
            Ok((unit, center, None, Some(reporting)))
        }
        _ => bail!("give --from and --to, or --period"),
    }
}

fn breakdown_of(b: BreakdownArg) -> Breakdown {
    match b {
        BreakdownArg::ChildUnit => Breakdown::ChildUnit,
        BreakdownArg::Center => Breakdown::Center,
        BreakdownArg::Month => Breakdown::Month,
        BreakdownArg::Sector => Breakdown::Sector,
        BreakdownArg::Procedure => Breakdown::Procedure,
        BreakdownArg::Level => Breakdown::Level,
    }
}

fn print_indicators(rows: &[(String, IndicatorResult)], format: Format) -> anyhow::Result<()> {
    let value = |r: &IndicatorResult| r.value.map(|v| format!("{v:.4}")).unwrap_or_default();
    match format {
        Format::Json => {
            let items: Vec<serde_json::Value> = rows
                .iter()
                .map(|(key, r)| {
                    serde_json::json!({
                        "group": key, "indicator": r.indicator_id, "version": r.definition_version,
                        "numerator": r.numerator, "denominator": r.denominator, "value": r.value,
                        "target": r.target, "score": r.score,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&items)?);
        }
        Format::Csv => {
            let mut out = csv::Writer::from_writer(std::io::stdout());
            out.write_record(["group", "indicator", "version", "numerator", "denominator", "value", "score"])?;
            for (key, r) in rows {
                let score = r.score.map(|s| format!("{s:.2}")).unwrap_or_default();
                out.write_record([
                    key.as_str(),
                    &r.indicator_id,
                    &r.definition_version.to_string(),
                    &r.numerator.to_string(),
                    &r.denominator.to_string(),
                    &value(r),
                    &score,
                ])?;
            }
            out.flush()?;
        }
        Format::Table => {
            println!("{:<12} {:<36} {:>12} {:>12} {:>8}", "group", "indicator", "numerator", "denominator", "value");
            for (key, r) in rows {
                println!(
                    "{:<12} {:<36} {:>12} {:>12} {:>8}",
                    key,
                    format!("{} v{}", r.indicator_id, r.definition_version),
                    r.numerator,
                    r.denominator,
                    value(r)
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Progress;

    #[test]
    fn the_progress_bar_fills_with_the_share_done() {
        let progress = Progress { terminal: false, ..Progress::new(200, "cells") };
        let line = progress.line(50);
        assert!(line.starts_with(&format!("[{}{}]  25% 50/200 cells, ", "#".repeat(8), ".".repeat(22))), "{line}");
        assert!(progress.line(200).starts_with(&format!("[{}] 100%", "#".repeat(30))));
        assert!(Progress::new(0, "cases").line(0).contains("100% 0/0 cases"));
    }
}
