//! Tables uploaded as CSV or XLSX files: a header row naming the columns, then one record per row. Errors name
//! the row (as a spreadsheet numbers it: the header is row 1) and the column.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use onestop_domain::{FieldViolation, Violations};
use onestop_proto::catalogue::v1::FileFormat;

/// Largest file accepted.
pub const MAX_FILE_BYTES: usize = 32 * 1024 * 1024;

/// A table read from a file.
#[derive(Debug)]
pub struct Table {
    columns: Vec<String>,
    pub rows: Vec<Row>,
}

#[derive(Debug)]
pub struct Row {
    /// The row's number in the file, the header being row 1.
    pub number: usize,
    cells: Vec<String>,
    /// Which cells a spreadsheet stored as numbers.
    numeric: Vec<bool>,
}

/// A row of cells as read, with whether each was stored as a number.
type Line = (usize, Vec<String>, Vec<bool>);

impl Table {
    pub fn read(format: FileFormat, content: &[u8]) -> Result<Table, FieldViolation> {
        if content.len() > MAX_FILE_BYTES {
            return Err(FieldViolation::new("content", format!("is larger than {MAX_FILE_BYTES} bytes")));
        }
        let grid = match format {
            FileFormat::Csv => read_csv(content)?,
            FileFormat::Xlsx => read_xlsx(content)?,
            FileFormat::Unspecified => return Err(FieldViolation::new("format", "must be CSV or XLSX")),
        };
        let mut lines = grid.into_iter();
        let Some((_, header, _)) = lines.next() else {
            return Err(FieldViolation::new("content", "is empty: the first row must name the columns"));
        };
        let columns = header.into_iter().map(|c| c.trim().to_lowercase()).collect();
        let rows = lines
            .filter(|(_, cells, _)| cells.iter().any(|c| !c.trim().is_empty()))
            .map(|(number, cells, numeric)| Row { number, cells, numeric })
            .collect();
        Ok(Table { columns, rows })
    }

    /// Checks that every required column is present.
    pub fn require(&self, required: &[&str]) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        for column in required {
            if !self.columns.iter().any(|c| c == column) {
                v.add(format!("content.columns.{column}"), "this column is missing from the header row");
            }
        }
        v.into_result()
    }

    /// The trimmed value of `column` in `row`; empty when the column is absent or the cell is blank.
    pub fn get<'a>(&self, row: &'a Row, column: &str) -> &'a str {
        self.columns.iter().position(|c| c == column).and_then(|i| row.cells.get(i)).map(|c| c.trim()).unwrap_or("")
    }

    /// A code cell. A spreadsheet that stored a code as a number has already lost its trailing zeros
    /// (`1.000500` becomes `1.0005`), so such a cell is refused rather than guessed at.
    pub fn code<'a>(&self, row: &'a Row, column: &str) -> Result<&'a str, String> {
        let index = self.columns.iter().position(|c| c == column);
        if index.is_some_and(|i| row.numeric.get(i) == Some(&true)) {
            return Err(format!(
                "the cell holds the number {}; format the column as text so codes keep every digit",
                self.get(row, column)
            ));
        }
        Ok(self.get(row, column))
    }
}

/// The field path of a cell, used in errors: `rows[12].online_level`.
pub fn cell_field(row: usize, column: &str) -> String {
    format!("rows[{row}].{column}")
}

fn read_csv(content: &[u8]) -> Result<Vec<Line>, FieldViolation> {
    let content = content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(content); // spreadsheets add a BOM
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(content);
    let mut grid = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let row = e.position().map(|p| p.line()).unwrap_or(0);
            FieldViolation::new(format!("rows[{row}]"), format!("is not valid CSV: {e}"))
        })?;
        let number = record.position().map(|p| p.line() as usize).unwrap_or(grid.len() + 1);
        grid.push((number, record.iter().map(str::to_owned).collect(), vec![false; record.len()]));
    }
    Ok(grid)
}

fn read_xlsx(content: &[u8]) -> Result<Vec<Line>, FieldViolation> {
    let mut workbook = Xlsx::new(Cursor::new(content))
        .map_err(|e| FieldViolation::new("content", format!("is not an XLSX workbook: {e}")))?;
    let sheet = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| FieldViolation::new("content", "the workbook has no sheet"))?
        .map_err(|e| FieldViolation::new("content", format!("the first sheet cannot be read: {e}")))?;
    let first_row = sheet.start().map(|(row, _)| row as usize).unwrap_or(0);
    let first_column = sheet.start().map(|(_, column)| column as usize).unwrap_or(0);
    Ok(sheet
        .rows()
        .enumerate()
        .map(|(i, cells)| {
            let mut values = vec![String::new(); first_column];
            values.extend(cells.iter().map(cell_text));
            let mut numeric = vec![false; first_column];
            numeric.extend(cells.iter().map(|c| matches!(c, Data::Float(_) | Data::Int(_))));
            (first_row + i + 1, values, numeric)
        })
        .collect())
}

fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => d.as_datetime().map(|t| t.date().to_string()).unwrap_or_else(|| d.to_string()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// Parses a yes/no cell: true/false, yes/no, x/blank, 1/0, có/không.
pub fn parse_flag(value: &str) -> Result<bool, String> {
    match value.to_lowercase().as_str() {
        "true" | "yes" | "y" | "x" | "1" | "có" | "co" => Ok(true),
        "false" | "no" | "n" | "" | "0" | "không" | "khong" => Ok(false),
        other => Err(format!("{other:?} is not yes or no")),
    }
}
