//! Writing an answer as a table for reading, CSV for computing, JSON, or an XLSX workbook for an office.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};

use crate::args::{Format, Output};

/// One value of a sheet. Kept typed so that each format shows it its own way: a share is "87.5%" in a table,
/// 0.8750 in CSV and a number under a percent format in XLSX.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Count(u64),
    Signed(i64),
    /// A fraction shown as a percentage; `None` when there is none (a zero denominator).
    Percent(Option<f64>),
    /// A number with this many decimals; `None` when there is none.
    Number(Option<f64>, usize),
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Cell {
        Cell::Text(text.into())
    }

    fn for_table(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Count(n) => n.to_string(),
            Cell::Signed(n) => n.to_string(),
            Cell::Percent(p) => p.map(percent).unwrap_or_default(),
            Cell::Number(n, decimals) => n.map(|n| format!("{n:.decimals$}")).unwrap_or_default(),
        }
    }

    fn for_csv(&self) -> String {
        match self {
            Cell::Percent(p) => p.map(|p| format!("{p:.4}")).unwrap_or_default(),
            other => other.for_table(),
        }
    }

    fn right_aligned(&self) -> bool {
        !matches!(self, Cell::Text(_))
    }
}

/// A fraction as a percentage with one decimal: 0.875 is "87.5%".
pub fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// A row of a sheet, with lines printed indented under it in a table (an apology notice under its case, a day
/// under its center) and left out of CSV and XLSX, where JSON carries them.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub cells: Vec<Cell>,
    pub details: Vec<String>,
}

impl From<Vec<Cell>> for Row {
    fn from(cells: Vec<Cell>) -> Row {
        Row { cells, details: vec![] }
    }
}

/// A header and rows: what a table, CSV and XLSX are made of.
#[derive(Debug, Clone, Default)]
pub struct Sheet {
    /// A line above a table saying what it shows, when the rows do not (what a ranking ranks by).
    pub title: Option<String>,
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
}

/// A text cell in a table is cut to this many characters: procedure names run to hundreds.
const TABLE_CELL_CHARS: usize = 72;

impl Sheet {
    pub fn new(headers: &[&str]) -> Sheet {
        Sheet { title: None, headers: headers.iter().map(|h| (*h).to_owned()).collect(), rows: vec![] }
    }

    pub fn push(&mut self, row: impl Into<Row>) {
        self.rows.push(row.into());
    }

    pub fn table(&self) -> String {
        let cut = |text: String| {
            if text.chars().count() > TABLE_CELL_CHARS {
                text.chars().take(TABLE_CELL_CHARS - 1).chain(['…']).collect()
            } else {
                text
            }
        };
        let texts: Vec<Vec<String>> =
            self.rows.iter().map(|r| r.cells.iter().map(|c| cut(c.for_table())).collect()).collect();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &texts {
            for (i, text) in row.iter().enumerate() {
                widths[i] = widths[i].max(text.chars().count());
            }
        }
        let line = |cells: Vec<(String, bool)>| {
            let padded: Vec<String> = cells
                .into_iter()
                .zip(&widths)
                .map(|((text, right), width)| {
                    let pad = " ".repeat(width - text.chars().count());
                    if right {
                        format!("{pad}{text}")
                    } else {
                        format!("{text}{pad}")
                    }
                })
                .collect();
            padded.join("  ").trim_end().to_owned()
        };
        let mut out = self.title.as_ref().map(|t| format!("{t}\n\n")).unwrap_or_default();
        out += &line(self.headers.iter().map(|h| (h.clone(), false)).collect());
        out += "\n";
        for (row, texts) in self.rows.iter().zip(texts) {
            out += &line(texts.into_iter().zip(row.cells.iter().map(Cell::right_aligned)).collect());
            out += "\n";
            for detail in &row.details {
                out += &format!("    {detail}\n");
            }
        }
        out
    }

    pub fn csv(&self) -> anyhow::Result<Vec<u8>> {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(&self.headers)?;
        for row in &self.rows {
            out.write_record(row.cells.iter().map(Cell::for_csv))?;
        }
        Ok(out.into_inner()?)
    }

    /// One sheet, its header bold and frozen, percentages under a percent format.
    pub fn xlsx(&self, name: &str) -> anyhow::Result<Vec<u8>> {
        use rust_xlsxwriter::{Format as Style, Workbook};
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet();
        sheet.set_name(name)?;
        let bold = Style::new().set_bold().set_text_wrap();
        let share = Style::new().set_num_format("0.0%");
        for (c, header) in self.headers.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, header, &bold)?;
            sheet.set_column_width(c as u16, (header.chars().count().clamp(10, 40)) as f64)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        for (r, row) in self.rows.iter().enumerate() {
            let r = r as u32 + 1;
            for (c, cell) in row.cells.iter().enumerate() {
                let c = c as u16;
                match cell {
                    Cell::Text(t) => sheet.write_string(r, c, t).map(|_| ())?,
                    Cell::Count(n) => sheet.write_number(r, c, *n as f64).map(|_| ())?,
                    Cell::Signed(n) => sheet.write_number(r, c, *n as f64).map(|_| ())?,
                    Cell::Percent(Some(p)) => sheet.write_number_with_format(r, c, *p, &share).map(|_| ())?,
                    Cell::Number(Some(n), decimals) => {
                        let style = Style::new().set_num_format(format!("0.{}", "0".repeat(*decimals)));
                        sheet.write_number_with_format(r, c, *n, &style).map(|_| ())?
                    }
                    Cell::Percent(None) | Cell::Number(None, _) => {}
                }
            }
        }
        Ok(workbook.save_to_buffer()?)
    }
}

impl Output {
    /// Writes `sheet` as the format asks (JSON from `json`): to --out, or to standard output.
    pub fn write(
        &self,
        sheet: &Sheet,
        json: impl FnOnce() -> serde_json::Value,
        sheet_name: &str,
    ) -> anyhow::Result<()> {
        self.write_with(sheet, json, |s| s.xlsx(sheet_name))
    }

    /// As [`Output::write`], with a workbook of its own for XLSX.
    pub fn write_with(
        &self,
        sheet: &Sheet,
        json: impl FnOnce() -> serde_json::Value,
        xlsx: impl FnOnce(&Sheet) -> anyhow::Result<Vec<u8>>,
    ) -> anyhow::Result<()> {
        let bytes = match self.format {
            Format::Table => sheet.table().into_bytes(),
            Format::Csv => sheet.csv()?,
            Format::Json => (serde_json::to_string_pretty(&json())? + "\n").into_bytes(),
            Format::Xlsx => {
                if self.out.is_none() {
                    bail!("--format xlsx writes a file: name it with --out FILE.xlsx");
                }
                xlsx(sheet)?
            }
        };
        match &self.out {
            Some(path) => write_file(path, &bytes),
            None => Ok(std::io::stdout().write_all(&bytes)?),
        }
    }
}

/// Writes `bytes` to `path` and says so on standard error, so that standard output stays the answer's.
pub fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| path.display().to_string())?;
    eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet() -> Sheet {
        let mut sheet = Sheet::new(&["unit", "value", "count"]);
        sheet.push(vec![Cell::text("Xã Một"), Cell::Percent(Some(0.875)), Cell::Count(7)]);
        sheet.push(Row {
            cells: vec![Cell::text("Xã Hai"), Cell::Percent(None), Cell::Count(12)],
            details: vec!["a note".into()],
        });
        sheet
    }

    #[test]
    fn a_table_aligns_columns_and_shows_shares_as_percentages() {
        assert_eq!(
            sheet().table(),
            "unit    value  count\n\
             Xã Một  87.5%      7\n\
             Xã Hai            12\n    a note\n"
        );
    }

    #[test]
    fn csv_keeps_shares_as_fractions() {
        assert_eq!(
            String::from_utf8(sheet().csv().unwrap()).unwrap(),
            "unit,value,count\nXã Một,0.8750,7\nXã Hai,,12\n"
        );
    }

    #[test]
    fn long_text_is_cut_in_a_table_only() {
        let mut sheet = Sheet::new(&["name"]);
        sheet.push(vec![Cell::text("x".repeat(80))]);
        assert!(sheet.table().contains(&format!("{}…\n", "x".repeat(71))));
        assert!(String::from_utf8(sheet.csv().unwrap()).unwrap().contains(&"x".repeat(80)));
    }
}
