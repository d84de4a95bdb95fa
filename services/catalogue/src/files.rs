//! Tables uploaded as CSV or XLSX files: a header row naming the columns, then one record per row. Errors name
//! the row (as a spreadsheet numbers it: the header is row 1) and the column.
//!
//! Files come from callers we do not control, so reading one is bounded before anything is allocated for it. A
//! workbook's zip is inspected first (entries, declared and actual inflated sizes, compression ratios), and its
//! first sheet is streamed cell by cell against the limits rather than read into a dense range, which would
//! allocate rows × columns for a single far cell. A file beyond a limit is answered `RESOURCE_EXHAUSTED`, a
//! malformed or lying one `INVALID_ARGUMENT`; both name the field.

use std::fmt::Display;
use std::io::{self, Cursor, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};

use calamine::{DataRef, Reader, Xlsx};
use onestop_domain::{FieldViolation, Violations};
use onestop_proto::catalogue::v1::FileFormat;
use onestop_server::{ServiceError, ServiceResult};
use zip::ZipArchive;

// The limits below are far above the files the catalogue is given: the whole country's units with their history
// (about 14,000 rows of 7 columns), a province's decision (about 2,000 rows of 15), a year's calendar (about 20
// rows). They bound what a hostile file can make the service allocate.

/// Largest file accepted (requests are capped lower still, by the server's message limit).
pub const MAX_FILE_BYTES: usize = 32 * 1024 * 1024;
/// Most rows a table may have, the header included; for a workbook, the last row a cell may be in.
pub const MAX_ROWS: usize = 100_000;
/// Most columns a row may have; for a workbook, the last column a cell may be in (GR).
pub const MAX_COLUMNS: usize = 200;
/// Most cells a table may span, rows × columns counted from A1, since that is what reading it allocates.
pub const MAX_CELLS: usize = 2_000_000;
/// Longest cell, in characters: Excel's own limit. A procedure's name is a few hundred.
pub const MAX_CELL_CHARS: usize = 32_767;
/// Most bytes a workbook may inflate to, all entries together, and most text its first sheet may hold (a shared
/// string repeated in every cell would otherwise be copied into each). The country's units as a workbook inflate
/// to about 3 MB.
pub const MAX_INFLATED_BYTES: u64 = 64 * 1024 * 1024;
/// Most entries a workbook may have: a spreadsheet program writes about ten, and a few more per sheet or picture.
pub const MAX_WORKBOOK_ENTRIES: usize = 1_000;
/// Highest compression ratio of a workbook entry larger than [`RATIO_CHECKED_ABOVE_BYTES`]. Sheet XML compresses
/// about 10 to 1, even when every cell is the same; deflate's ceiling is 1,032 to 1, which only a file made to
/// explode comes near.
pub const MAX_COMPRESSION_RATIO: u64 = 500;
/// Entries up to this size may compress as far as they like: they cannot inflate far.
pub const RATIO_CHECKED_ABOVE_BYTES: u64 = 1024 * 1024;

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

/// Runs `read` (the parsing of an uploaded file) on a blocking thread: a workbook at the limits takes seconds of
/// CPU that the runtime's few workers need for every other call, health checks among them.
pub async fn off_the_runtime<T: Send + 'static>(
    read: impl FnOnce() -> ServiceResult<T> + Send + 'static,
) -> ServiceResult<T> {
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("reading an uploaded file stopped: {e}")))?
}

impl Table {
    /// Reads a table, refusing a file beyond the limits above before it costs more than they allow.
    pub fn read(format: FileFormat, content: &[u8]) -> ServiceResult<Table> {
        if content.len() > MAX_FILE_BYTES {
            return Err(too_large("content", format!("the file is larger than {} MiB", MAX_FILE_BYTES >> 20)));
        }
        let grid = match format {
            FileFormat::Csv => read_csv(content)?,
            FileFormat::Xlsx => read_xlsx(content)?,
            FileFormat::Unspecified => return Err(ServiceError::invalid("format", "must be CSV or XLSX")),
        };
        let mut lines = grid.into_iter();
        let Some((_, header, _)) = lines.next() else {
            return Err(ServiceError::invalid("content", "is empty: the first row must name the columns"));
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

/// A refusal for size: `RESOURCE_EXHAUSTED`, the message naming the field.
fn too_large(field: &str, reason: impl Display) -> ServiceError {
    ServiceError::ResourceExhausted(FieldViolation::new(field, reason.to_string()).to_string())
}

fn read_csv(content: &[u8]) -> ServiceResult<Vec<Line>> {
    let content = content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(content); // spreadsheets add a BOM
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(content);
    let mut grid = Vec::new();
    let mut cells = 0;
    for record in reader.records() {
        let record = record.map_err(|e| {
            let row = e.position().map(|p| p.line()).unwrap_or(0);
            ServiceError::invalid(format!("rows[{row}]"), format!("is not valid CSV: {e}"))
        })?;
        let number = record.position().map(|p| p.line() as usize).unwrap_or(grid.len() + 1);
        if grid.len() == MAX_ROWS {
            return Err(too_large("content", format!("the file has more than {MAX_ROWS} rows")));
        }
        if record.len() > MAX_COLUMNS {
            return Err(too_large(&format!("rows[{number}]"), format!("has more than {MAX_COLUMNS} columns")));
        }
        cells += record.len();
        if cells > MAX_CELLS {
            return Err(too_large("content", format!("the file has more than {MAX_CELLS} cells")));
        }
        if let Some(column) = record.iter().position(is_too_long) {
            let column = column_name(column + 1);
            return Err(too_large(
                &format!("rows[{number}]"),
                format!("the cell in column {column} is longer than {MAX_CELL_CHARS} characters"),
            ));
        }
        grid.push((number, record.iter().map(str::to_owned).collect(), vec![false; record.len()]));
    }
    Ok(grid)
}

/// Whether `text` has more characters than a cell may hold; its length in bytes, never smaller, is looked at first.
fn is_too_long(text: &str) -> bool {
    text.len() > MAX_CELL_CHARS && text.chars().count() > MAX_CELL_CHARS
}

fn not_a_workbook(reason: impl Display) -> ServiceError {
    ServiceError::invalid("content", format!("is not an XLSX workbook: {reason}"))
}

/// Refuses a workbook whose zip would cost too much to inflate: too many entries, more than
/// [`MAX_INFLATED_BYTES`] declared, a compression ratio no spreadsheet has, or an entry that inflates past the size
/// it declares (each is inflated here, with a limit, so a lying size cannot get further).
fn check_workbook_zip(content: &[u8]) -> ServiceResult<()> {
    let mut zip = ZipArchive::new(Cursor::new(content)).map_err(not_a_workbook)?;
    if zip.len() > MAX_WORKBOOK_ENTRIES {
        return Err(too_large("content", format!("the workbook has more than {MAX_WORKBOOK_ENTRIES} entries")));
    }
    let mut declared_total = 0u64;
    for index in 0..zip.len() {
        let entry = zip.by_index_data(index).map_err(not_a_workbook)?;
        let (declared, compressed) = (entry.size(), entry.compressed_size());
        declared_total = declared_total.saturating_add(declared);
        if declared_total > MAX_INFLATED_BYTES {
            let limit = MAX_INFLATED_BYTES >> 20;
            return Err(too_large("content", format!("the workbook expands to more than {limit} MiB")));
        }
        let ratio = declared / compressed.max(1);
        if declared > RATIO_CHECKED_ABOVE_BYTES && ratio > MAX_COMPRESSION_RATIO {
            return Err(ServiceError::invalid(
                "content",
                format!(
                    "the workbook's entry {} is compressed {ratio} to 1; a spreadsheet is never compressed beyond \
                     {MAX_COMPRESSION_RATIO} to 1",
                    entry.name().unwrap_or_default()
                ),
            ));
        }
    }
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index).map_err(not_a_workbook)?;
        let name = entry.name().unwrap_or_default().into_owned();
        let declared = entry.size();
        let inflated = io::copy(&mut (&mut entry).take(declared.saturating_add(1)), &mut io::sink()).map_err(|e| {
            ServiceError::invalid("content", format!("the workbook's entry {name} cannot be inflated: {e}"))
        })?;
        if inflated > declared {
            return Err(ServiceError::invalid(
                "content",
                format!("the workbook's entry {name} inflates past the {declared} bytes it declares"),
            ));
        }
    }
    Ok(())
}

fn read_xlsx(content: &[u8]) -> ServiceResult<Vec<Line>> {
    check_workbook_zip(content)?;
    // calamine is written for files its user chose; a hostile one can make it panic (a reversed dimension
    // overflows a subtraction), which must stay this request's problem.
    catch_unwind(AssertUnwindSafe(|| read_first_sheet(content)))
        .unwrap_or_else(|_| Err(ServiceError::invalid("content", "the first sheet cannot be read")))
}

/// The first sheet's rows, its cells streamed and checked against the limits one by one.
fn read_first_sheet(content: &[u8]) -> ServiceResult<Vec<Line>> {
    let mut workbook = Xlsx::new(Cursor::new(content)).map_err(not_a_workbook)?;
    let first = workbook.sheet_names().into_iter().next();
    let first = first.ok_or_else(|| ServiceError::invalid("content", "the workbook has no sheet"))?;
    let unreadable =
        |e: calamine::XlsxError| ServiceError::invalid("content", format!("the first sheet cannot be read: {e}"));
    let mut reader = workbook.worksheet_cells_reader(&first).map_err(unreadable)?;
    let declared = reader.dimensions();
    check_extent("declares cells up to", declared.end.0 as usize + 1, declared.end.1 as usize + 1)?;

    let mut cells = Vec::new();
    let (mut last_row, mut last_column, mut text_bytes) = (0, 0, 0u64);
    while let Some(cell) = reader.next_cell().map_err(unreadable)? {
        if matches!(cell.get_value(), DataRef::Empty) {
            continue;
        }
        let (row, column) = cell.get_position();
        let (row, column) = (row as usize + 1, column as usize + 1);
        (last_row, last_column) = (last_row.max(row), last_column.max(column));
        check_extent("has cells up to", last_row, last_column)?;
        if cells.len() == MAX_CELLS {
            return Err(too_large("content", format!("the first sheet has more than {MAX_CELLS} cells")));
        }
        let text = cell_text(cell.get_value());
        if is_too_long(&text) {
            let reason = format!("the cell {} is longer than {MAX_CELL_CHARS} characters", cell_name(row, column));
            return Err(too_large(&format!("rows[{row}]"), reason));
        }
        text_bytes += text.len() as u64;
        if text_bytes > MAX_INFLATED_BYTES {
            let limit = MAX_INFLATED_BYTES >> 20;
            return Err(too_large("content", format!("the first sheet holds more than {limit} MiB of text")));
        }
        let numeric = matches!(cell.get_value(), DataRef::Float(_) | DataRef::Int(_));
        cells.push((row, column, text, numeric));
    }

    // Rows from the first one holding a cell, each as wide as the widest, as a spreadsheet shows them.
    let first_row = cells.iter().map(|&(row, ..)| row).min().unwrap_or(1);
    let mut lines: Vec<Line> = (first_row..=last_row)
        .map(|number| (number, vec![String::new(); last_column], vec![false; last_column]))
        .collect();
    for (row, column, text, numeric) in cells {
        let (_, values, numbers) = &mut lines[row - first_row];
        values[column - 1] = text;
        numbers[column - 1] = numeric;
    }
    Ok(lines)
}

/// Refuses a sheet whose cells reach `last_row` and `last_column` (1-based) beyond the limits: reading it would
/// allocate `last_row × last_column` cells.
fn check_extent(claim: &str, last_row: usize, last_column: usize) -> ServiceResult<()> {
    let corner = cell_name(last_row, last_column);
    let exceeded = if last_row > MAX_ROWS {
        format!("at most {MAX_ROWS} rows are read")
    } else if last_column > MAX_COLUMNS {
        format!("at most {MAX_COLUMNS} columns (A to {}) are read", column_name(MAX_COLUMNS))
    } else if last_row * last_column > MAX_CELLS {
        format!("at most {MAX_CELLS} cells (rows × columns from A1) are read")
    } else {
        return Ok(());
    };
    Err(too_large("content", format!("the first sheet {claim} {corner}: {exceeded}")))
}

/// A cell's name as a spreadsheet shows it (`XFD1048576`), from its 1-based row and column.
fn cell_name(row: usize, column: usize) -> String {
    format!("{}{row}", column_name(column))
}

/// A column's letters (`A`, `Z`, `AA`, `XFD`) from its 1-based number.
fn column_name(mut column: usize) -> String {
    let mut letters = Vec::new();
    while column > 0 {
        column -= 1;
        letters.push(b'A' + (column % 26) as u8);
        column /= 26;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ASCII letters")
}

fn cell_text(cell: &DataRef) -> String {
    match cell {
        DataRef::Empty => String::new(),
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        DataRef::Float(f) => f.to_string(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) => d.as_datetime().map(|t| t.date().to_string()).unwrap_or_else(|| d.to_string()),
        DataRef::Error(e) => format!("#{e:?}"),
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use rust_xlsxwriter::Workbook;
    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, ZipWriter};

    use super::*;

    fn refused_for_size(result: ServiceResult<Table>) -> String {
        match result {
            Err(ServiceError::ResourceExhausted(message)) => message,
            other => panic!("expected a refusal for size, got {other:?}"),
        }
    }

    fn refused_as_invalid(result: ServiceResult<Table>) -> String {
        match result {
            Err(ServiceError::InvalidArgument(violations)) => violations[0].to_string(),
            other => panic!("expected an invalid argument, got {other:?}"),
        }
    }

    fn xlsx(content: &[u8]) -> ServiceResult<Table> {
        Table::read(FileFormat::Xlsx, content)
    }

    fn csv(content: &str) -> ServiceResult<Table> {
        Table::read(FileFormat::Csv, content.as_bytes())
    }

    /// A workbook as a spreadsheet program writes it, with a header and the given text cells (0-based).
    fn workbook(cells: &[(u32, u16, &str)]) -> Vec<u8> {
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet();
        sheet.write_string(0, 0, "code").unwrap();
        for &(row, column, text) in cells {
            sheet.write_string(row, column, text).unwrap();
        }
        workbook.save_to_buffer().unwrap()
    }

    /// A valid workbook whose first sheet is replaced by one declaring `dimension` (if any) and holding `cells`
    /// (name, text): what a hand-made file can claim.
    fn workbook_with_sheet(dimension: Option<&str>, cells: &[(&str, &str)]) -> Vec<u8> {
        let mut sheet = String::from(
            r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#,
        );
        if let Some(dimension) = dimension {
            sheet += &format!(r#"<dimension ref="{dimension}"/>"#);
        }
        sheet += "<sheetData>";
        for (name, text) in cells {
            sheet += &format!(r#"<row><c r="{name}" t="inlineStr"><is><t>{text}</t></is></c></row>"#);
        }
        sheet += "</sheetData></worksheet>";

        let original = workbook(&[]);
        let mut source = ZipArchive::new(Cursor::new(original)).unwrap();
        let mut out = ZipWriter::new(Cursor::new(Vec::new()));
        for index in 0..source.len() {
            let entry = source.by_index(index).unwrap();
            if entry.name().unwrap() == "xl/worksheets/sheet1.xml" {
                drop(entry);
                out.start_file("xl/worksheets/sheet1.xml", SimpleFileOptions::default()).unwrap();
                out.write_all(sheet.as_bytes()).unwrap();
            } else {
                out.raw_copy_file(entry).unwrap();
            }
        }
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn real_files_pass_with_a_wide_margin() {
        use onestop_generator::units::{country, to_csv, VIETNAM};
        let units = country(42, VIETNAM);
        let table = csv(&to_csv(&units)).unwrap();
        assert_eq!(table.rows.len(), units.len());

        // A province's decision: 2,000 procedures of 15 columns, names and agencies as long as real ones.
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet();
        for row in 0..=2_000u32 {
            for column in 0..15u16 {
                let text = format!("Thủ tục cấp giấy chứng nhận đăng ký số {row} tại Sở Tư pháp tỉnh, cột {column}");
                sheet.write_string(row, column, text).unwrap();
            }
        }
        let table = xlsx(&workbook.save_to_buffer().unwrap()).unwrap();
        assert_eq!(table.rows.len(), 2_000);
    }

    #[test]
    fn a_workbook_declaring_the_last_cell_is_refused_before_its_cells_are_read() {
        let message = refused_for_size(xlsx(&workbook(&[(1_048_575, 16_383, "far")])));
        assert!(message.starts_with("content: the first sheet declares cells up to XFD1048576"), "{message}");
        assert!(message.contains("at most 100000 rows"), "{message}");
    }

    #[test]
    fn cells_are_checked_whatever_the_dimension_claims() {
        let lying = workbook_with_sheet(Some("A1:B2"), &[("A1", "code"), ("A100001", "far")]);
        let message = refused_for_size(xlsx(&lying));
        assert_eq!(message, "content: the first sheet has cells up to A100001: at most 100000 rows are read");

        let undeclared = workbook_with_sheet(None, &[("A1", "code"), ("GS1", "wide")]);
        let message = refused_for_size(xlsx(&undeclared));
        assert!(message.ends_with("GS1: at most 200 columns (A to GR) are read"), "{message}");

        // Each cell is within the rows and the columns, but together they span more than the cells allowed.
        let spread = workbook_with_sheet(None, &[("U1", "code"), ("A100000", "far")]);
        let message = refused_for_size(xlsx(&spread));
        assert!(message.ends_with("U100000: at most 2000000 cells (rows × columns from A1) are read"), "{message}");

        // The limits themselves are allowed.
        let table = xlsx(&workbook_with_sheet(None, &[("T1", "code"), ("A100000", "far")])).unwrap();
        assert_eq!(table.rows.last().map(|row| row.number), Some(100_000));
        assert!(xlsx(&workbook_with_sheet(Some("A1:GR1"), &[("A1", "code"), ("GR1", "wide")])).is_ok());
    }

    #[test]
    fn a_reversed_dimension_is_answered_not_a_panic() {
        // calamine subtracts the corners (an overflow panic when its arithmetic is checked); the request must
        // get an answer either way.
        let reversed = workbook_with_sheet(Some("B2:A1"), &[("A1", "code"), ("A2", "x")]);
        match xlsx(&reversed) {
            Ok(table) => assert_eq!(table.rows.len(), 1),
            Err(error) => assert_eq!(refused_as_invalid(Err(error)), "content: the first sheet cannot be read"),
        }
    }

    #[test]
    fn text_beyond_the_limits_is_refused() {
        let long = "a".repeat(MAX_CELL_CHARS + 1);
        let message = refused_for_size(xlsx(&workbook_with_sheet(None, &[("A1", "code"), ("B2", &long)])));
        assert_eq!(message, "rows[2]: the cell B2 is longer than 32767 characters");

        // One long shared string in every cell would be copied into each.
        let shared = "x".repeat(30_000);
        let cells: Vec<(u32, u16, &str)> = (1..2_500).map(|row| (row, 0, shared.as_str())).collect();
        let message = refused_for_size(xlsx(&workbook(&cells)));
        assert_eq!(message, "content: the first sheet holds more than 64 MiB of text");
    }

    fn zip_of(entries: impl IntoIterator<Item = (String, Vec<u8>)>) -> Vec<u8> {
        let mut out = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, content) in entries {
            out.start_file(name, SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)).unwrap();
            out.write_all(&content).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn workbooks_that_would_inflate_too_far_are_refused_before_calamine_reads_them() {
        let many = zip_of((0..=MAX_WORKBOOK_ENTRIES).map(|i| (format!("xl/media/image{i}.png"), vec![])));
        assert_eq!(refused_for_size(xlsx(&many)), "content: the workbook has more than 1000 entries");

        // 2 MiB of one byte deflates about 1,000 to 1.
        let squeezed = zip_of([("xl/worksheets/sheet1.xml".to_owned(), vec![b' '; 2 << 20])]);
        let message = refused_as_invalid(xlsx(&squeezed));
        assert!(
            message.starts_with("content: the workbook's entry xl/worksheets/sheet1.xml is compressed"),
            "{message}"
        );
        assert!(message.ends_with("a spreadsheet is never compressed beyond 500 to 1"), "{message}");

        let message = refused_as_invalid(xlsx(b"PK\x03\x04 not really a zip"));
        assert!(message.starts_with("content: is not an XLSX workbook"), "{message}");
    }

    #[test]
    fn csv_files_beyond_the_limits_are_refused() {
        let rows = |count: usize| "code\n".to_owned() + &"1\n".repeat(count - 1);
        assert_eq!(csv(&rows(MAX_ROWS)).unwrap().rows.len(), MAX_ROWS - 1);
        assert_eq!(refused_for_size(csv(&rows(MAX_ROWS + 1))), "content: the file has more than 100000 rows");

        let wide = |columns: usize| vec!["c"; columns].join(",") + "\n";
        assert!(csv(&wide(MAX_COLUMNS)).is_ok());
        assert_eq!(refused_for_size(csv(&wide(MAX_COLUMNS + 1))), "rows[1]: has more than 200 columns");
        let full = wide(MAX_COLUMNS).repeat(MAX_CELLS / MAX_COLUMNS + 1);
        assert_eq!(refused_for_size(csv(&full)), "content: the file has more than 2000000 cells");

        // Characters are counted, not bytes: Vietnamese text takes two or three bytes a letter.
        assert!(csv(&format!("code,name\n1,{}\n", "ệ".repeat(MAX_CELL_CHARS))).is_ok());
        let message = refused_for_size(csv(&format!("code,name\n1,{}\n", "a".repeat(MAX_CELL_CHARS + 1))));
        assert_eq!(message, "rows[2]: the cell in column B is longer than 32767 characters");
    }
}
