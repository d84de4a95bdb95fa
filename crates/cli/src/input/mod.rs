//! Reading cells, cases and reference data from CSV, every problem located as `file:row:column`.

pub mod reference;

use std::path::Path;

use onestop_proto::intake::v1::{
    ApologyNotice, CaseRecord, CaseStatus, Channel, DailyCell, DelayReasonCategory, Measures, NoticeDelivery,
};

/// A problem in an input file, located.
#[derive(Debug)]
pub struct Located {
    pub file: String,
    /// 1-based line, the header being line 1.
    pub row: usize,
    pub column: String,
    pub reason: String,
}

impl std::fmt::Display for Located {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.row, self.column, self.reason)
    }
}

/// A file's header and its rows, each with its line number.
type Table = (Vec<String>, Vec<(usize, Vec<String>)>);

/// The rows of `path` with their line numbers. Its columns must be among `known`: a misspelt column would
/// otherwise be read as empty, dropping what it holds without a word.
fn rows(path: &Path, known: &[&str]) -> Result<Table, Located> {
    let file = path.display().to_string();
    let located = |row: usize, reason: String| Located { file: file.clone(), row, column: String::new(), reason };
    let mut reader =
        csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(path).map_err(|e| located(0, e.to_string()))?;
    let headers: Vec<String> =
        reader.headers().map_err(|e| located(1, e.to_string()))?.iter().map(String::from).collect();
    for (i, h) in headers.iter().enumerate() {
        // A spreadsheet's byte-order mark may precede the first column's name.
        if !known.contains(&h.trim_start_matches('\u{feff}')) {
            return Err(Located {
                file: file.clone(),
                row: 1,
                column: h.clone(),
                reason: format!("unknown column (number {}); the columns are {}", i + 1, known.join(", ")),
            });
        }
    }
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| located(i + 2, e.to_string()))?;
        out.push((i + 2, record.iter().map(String::from).collect()));
    }
    Ok((headers, out))
}

/// Each row of `path` read by `read`, with its line number.
fn records<T>(
    path: &Path,
    known: &[&str],
    read: impl Fn(&Row) -> Result<T, Located>,
) -> Result<Vec<(usize, T)>, Located> {
    let file = path.display().to_string();
    let (headers, rows) = rows(path, known)?;
    rows.iter()
        .map(|(line, values)| {
            let row = Row { file: &file, line: *line, headers: &headers, values, known };
            read(&row).map(|t| (*line, t))
        })
        .collect()
}

struct Row<'a> {
    file: &'a str,
    line: usize,
    headers: &'a [String],
    values: &'a [String],
    /// The columns a file of this kind may have, which help lists: reading any other is a mistake here.
    known: &'a [&'a str],
}

impl Row<'_> {
    fn get(&self, column: &str) -> &str {
        debug_assert!(self.known.contains(&column), "{column} is read but not among the columns help lists");
        self.headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == column)
            .and_then(|i| self.values.get(i))
            .map_or("", String::as_str)
    }

    fn fail(&self, column: &str, reason: impl Into<String>) -> Located {
        Located { file: self.file.to_owned(), row: self.line, column: column.to_owned(), reason: reason.into() }
    }

    fn count(&self, column: &str) -> Result<i64, Located> {
        match self.get(column) {
            "" => Ok(0),
            text => text.parse().map_err(|_| self.fail(column, format!("{text:?} is not a whole number"))),
        }
    }

    fn required(&self, column: &str) -> Result<String, Located> {
        match self.get(column) {
            "" => Err(self.fail(column, "is required")),
            text => Ok(text.to_owned()),
        }
    }
}

/// The measure columns of a cells file, by name.
pub const MEASURES: [&str; 11] = [
    "received_direct",
    "received_online",
    "received_postal",
    "resolved_early",
    "resolved_on_time",
    "resolved_late",
    "withdrawn_or_returned",
    "results_returned_by_post",
    "apology_notices_issued",
    "pending_in_time",
    "pending_overdue",
];

/// Every column of a cells file: its keys, then the measures.
pub const CELL_COLUMNS: [&str; 14] = [
    "center_code",
    "procedure_code",
    "day",
    MEASURES[0],
    MEASURES[1],
    MEASURES[2],
    MEASURES[3],
    MEASURES[4],
    MEASURES[5],
    MEASURES[6],
    MEASURES[7],
    MEASURES[8],
    MEASURES[9],
    MEASURES[10],
];

/// Cells from a CSV with `center_code,procedure_code,day` and any of the measure columns (missing ones are 0),
/// each with its line number.
pub fn cells(path: &Path) -> Result<Vec<(usize, DailyCell)>, Located> {
    let file = path.display().to_string();
    let (headers, rows) = rows(path, &CELL_COLUMNS)?;
    let mut out = Vec::with_capacity(rows.len());
    for (line, values) in &rows {
        let row = Row { file: &file, line: *line, headers: &headers, values, known: &CELL_COLUMNS };
        let mut m = Measures::default();
        let slots = [
            &mut m.received_direct,
            &mut m.received_online,
            &mut m.received_postal,
            &mut m.resolved_early,
            &mut m.resolved_on_time,
            &mut m.resolved_late,
            &mut m.withdrawn_or_returned,
            &mut m.results_returned_by_post,
            &mut m.apology_notices_issued,
            &mut m.pending_in_time,
            &mut m.pending_overdue,
        ];
        for (slot, name) in slots.into_iter().zip(MEASURES) {
            *slot = row.count(name)?;
        }
        let cell = DailyCell {
            center_code: row.required("center_code")?,
            procedure_code: row.required("procedure_code")?,
            day: row.required("day")?,
            measures: Some(m),
            computed_at: None,
        };
        out.push((*line, cell));
    }
    Ok(out)
}

fn enum_value<T: Copy>(row: &Row, column: &str, choices: &[(&str, T)]) -> Result<Option<T>, Located> {
    let text = row.get(column).to_ascii_uppercase();
    if text.is_empty() {
        return Ok(None);
    }
    choices.iter().find(|(name, _)| *name == text).map(|(_, v)| Some(*v)).ok_or_else(|| {
        row.fail(column, format!("{text:?}: one of {}", choices.iter().map(|c| c.0).collect::<Vec<_>>().join(", ")))
    })
}

fn timestamp(row: &Row, column: &str) -> Result<Option<prost_types::Timestamp>, Located> {
    match row.get(column) {
        "" => Ok(None),
        text => chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| Some(prost_types::Timestamp { seconds: t.timestamp(), nanos: 0 }))
            .map_err(|_| row.fail(column, format!("{text:?} is not an RFC 3339 time (2026-03-02T09:00:00+07:00)"))),
    }
}

/// Every column of a cases file: the case, then its apology notice.
pub const CASE_COLUMNS: [&str; 17] = [
    "case_code",
    "procedure_code",
    "receiving_center_code",
    "resolving_agency_code",
    "filing_channel",
    "return_channel",
    "received_at",
    "due_date",
    "resolved_at",
    "status",
    "notice_number",
    "notice_agency_code",
    "notice_issued_on",
    "notice_reason",
    "notice_reason_category",
    "notice_new_due_date",
    "notice_delivery",
];

/// Case records from a CSV: one row per case, with at most one apology notice in the `notice_*` columns.
pub fn cases(path: &Path) -> Result<Vec<(usize, CaseRecord)>, Located> {
    let file = path.display().to_string();
    let (headers, rows) = rows(path, &CASE_COLUMNS)?;
    let channels = [("DIRECT", Channel::Direct), ("ONLINE", Channel::Online), ("POSTAL", Channel::Postal)];
    let statuses = [
        ("IN_PROGRESS", CaseStatus::InProgress),
        ("RESOLVED", CaseStatus::Resolved),
        ("RETURNED", CaseStatus::Returned),
        ("WITHDRAWN", CaseStatus::Withdrawn),
        ("REJECTED", CaseStatus::Rejected),
    ];
    let reasons = [
        ("AGENCY_PROCESSING", DelayReasonCategory::AgencyProcessing),
        ("INTERAGENCY_COORDINATION", DelayReasonCategory::InteragencyCoordination),
        ("SUPPLEMENT_REQUIRED", DelayReasonCategory::SupplementRequired),
        ("FORCE_MAJEURE", DelayReasonCategory::ForceMajeure),
        ("CAUSED_BY_APPLICANT", DelayReasonCategory::CausedByApplicant),
        ("OTHER", DelayReasonCategory::Other),
    ];
    let deliveries = [
        ("AT_CENTER", NoticeDelivery::AtCenter),
        ("ELECTRONIC", NoticeDelivery::Electronic),
        ("POSTAL", NoticeDelivery::Postal),
    ];
    let mut out = Vec::with_capacity(rows.len());
    for (line, values) in &rows {
        let row = Row { file: &file, line: *line, headers: &headers, values, known: &CASE_COLUMNS };
        let mut case = CaseRecord {
            case_code: row.required("case_code")?,
            procedure_code: row.required("procedure_code")?,
            receiving_center_code: row.required("receiving_center_code")?,
            resolving_agency_code: row.required("resolving_agency_code")?,
            filing_channel: enum_value(&row, "filing_channel", &channels)?.map_or(0, |c| c as i32),
            return_channel: enum_value(&row, "return_channel", &channels)?.map_or(0, |c| c as i32),
            received_at: timestamp(&row, "received_at")?,
            due_date: row.required("due_date")?,
            resolved_at: timestamp(&row, "resolved_at")?,
            status: enum_value(&row, "status", &statuses)?.map_or(0, |s| s as i32),
            ..Default::default()
        };
        if !row.get("notice_number").is_empty() {
            case.apology_notices.push(ApologyNotice {
                notice_number: row.get("notice_number").to_owned(),
                issuing_agency_code: row.required("notice_agency_code")?,
                issued_on: row.required("notice_issued_on")?,
                reason: row.required("notice_reason")?,
                reason_category: enum_value(&row, "notice_reason_category", &reasons)?.map_or(0, |r| r as i32),
                original_due_date: case.due_date.clone(),
                new_due_date: row.required("notice_new_due_date")?,
                delivery: enum_value(&row, "notice_delivery", &deliveries)?.map_or(0, |d| d as i32),
            });
        }
        out.push((*line, case));
    }
    Ok(out)
}
