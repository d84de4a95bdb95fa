//! Form 06 as files, printed from the report and the form definition it names (title, form number, circular,
//! headings and signatures are data). CSV (UTF-8 with a byte-order mark, so spreadsheet programs read the
//! Vietnamese headings) stays plain: the title lines, one heading per column, the column numbers, each level's
//! subtotal and sector rows, and the total. XLSX is laid out as the printed form: form number and circular,
//! title, reporting unit and period, the merged table head, the column numbers, bold subtotals and total, the
//! signature blocks, on A4 landscape fitted to the page's width.

use chrono::NaiveDate;
use onestop_domain::form06::{heading_layout, HeadingLayout};
use onestop_proto::aggregation::v1::{Form06Row, FormDefinition, GetForm06Response};
use rust_xlsxwriter::{ColNum, Format, FormatAlign, FormatBorder, RowNum, Workbook, Worksheet, XlsxError};

/// The size of each streamed piece of a file.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// The line the head of the unit dates, filled in by hand when signing.
const DATE_LINE: &str = "…, ngày … tháng … năm …";
const RECEIVING_UNIT: &str = "Đơn vị nhận báo cáo: ……";

/// dd/mm/yyyy, as dates are printed on the form.
fn printed(day: &str) -> String {
    day.parse::<NaiveDate>().map(|d| d.format("%d/%m/%Y").to_string()).unwrap_or_else(|_| day.to_owned())
}

const ROMAN: [&str; 3] = ["I", "II", "III"];

fn period_line(report: &GetForm06Response) -> String {
    let days = report.days.clone().unwrap_or_default();
    format!("Kỳ báo cáo: từ ngày {} đến ngày {}", printed(&days.from_day), printed(&days.to_day))
}

/// The rows of the table in print order, each with its number ("I" for a level, "1" for a sector, empty for the
/// total) and whether it is a sum (printed bold).
fn table_rows(report: &GetForm06Response) -> Vec<(String, &Form06Row, bool)> {
    let mut rows = Vec::new();
    for (i, section) in report.sections.iter().enumerate() {
        if let Some(subtotal) = &section.subtotal {
            rows.push((ROMAN.get(i).copied().unwrap_or("").to_owned(), subtotal, true));
        }
        rows.extend(section.rows.iter().map(|r| (r.number.to_string(), r, false)));
    }
    if let Some(total) = &report.total {
        rows.push((String::new(), total, true));
    }
    rows
}

fn form_of(report: &GetForm06Response) -> FormDefinition {
    report.form.clone().unwrap_or_default()
}

pub fn form06_csv(report: &GetForm06Response) -> Vec<u8> {
    let form = form_of(report);
    let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(b"\xEF\xBB\xBF".to_vec());
    let mut line = |fields: Vec<String>| writer.write_record(&fields).expect("writing to memory");
    line(vec![form.form_number.clone(), format!("Ban hành kèm theo {}", form.circular)]);
    line(vec![form.title.clone()]);
    line(vec![format!("Đơn vị báo cáo: {}", report.reporting_unit_name)]);
    line(vec![period_line(report)]);
    line(vec![format!("Đơn vị tính: {}", form.unit_of_count)]);
    line(report.headings.clone());
    line((1..=report.headings.len()).map(|n| format!("({n})")).collect());
    for (number, row, _) in table_rows(report) {
        let mut fields = vec![number, row.label.clone()];
        fields.extend(row.columns.iter().map(u64::to_string));
        line(fields);
    }
    writer.into_inner().expect("writing to memory")
}

/// The row the table head starts on: below the form number, title, unit, period and unit of count.
const HEAD_TOP: RowNum = 5;
/// Columns 1 and 2 (number and label) are text; the rest are counts.
const TEXT_COLUMNS: usize = 2;
/// Points of one printed line of 11-point text.
const LINE_HEIGHT: f64 = 15.0;

/// The formats of the printed form, all in the typeface of Vietnamese official documents.
struct Formats {
    form_number: Format,
    circular: Format,
    title: Format,
    plain: Format,
    right_note: Format,
    heading: Format,
    column_number: Format,
    number: Format,
    label: Format,
    count: Format,
    sum_number: Format,
    sum_label: Format,
    sum_count: Format,
    date_line: Format,
    signature: Format,
    signature_note: Format,
}

impl Formats {
    fn new() -> Self {
        let text = || Format::new().set_font_name("Times New Roman").set_font_size(11).set_text_wrap();
        let centered = || text().set_align(FormatAlign::Center).set_align(FormatAlign::VerticalCenter);
        let boxed = |f: Format| f.set_border(FormatBorder::Thin).set_align(FormatAlign::VerticalCenter);
        let count = || boxed(text()).set_num_format("#,##0");
        Formats {
            form_number: text().set_bold(),
            circular: text().set_italic(),
            title: centered().set_bold().set_font_size(13),
            plain: text(),
            right_note: text().set_italic().set_align(FormatAlign::Right),
            heading: boxed(centered().set_bold()),
            column_number: boxed(centered().set_italic()),
            number: boxed(centered()),
            label: boxed(text()),
            count: count(),
            sum_number: boxed(centered().set_bold()),
            sum_label: boxed(text().set_bold()),
            sum_count: count().set_bold(),
            date_line: centered().set_italic(),
            signature: centered().set_bold(),
            signature_note: centered().set_italic(),
        }
    }
}

/// Writes `text` over `rows` and `columns` (first and last of each), merged when that is more than one cell.
fn across(
    sheet: &mut Worksheet,
    rows: (RowNum, RowNum),
    columns: (ColNum, ColNum),
    text: &str,
    format: &Format,
) -> Result<(), XlsxError> {
    if rows.0 == rows.1 && columns.0 == columns.1 {
        sheet.write_string_with_format(rows.0, columns.0, text, format)?;
    } else {
        sheet.merge_range(rows.0, columns.0, rows.1, columns.1, text, format)?;
    }
    Ok(())
}

/// Characters a column is wide: the number and the label fit their text; a count column fits its largest count
/// with thousands separators, and no less than its heading's longest word.
fn column_widths(form: &FormDefinition, rows: &[(String, &Form06Row, bool)]) -> Vec<f64> {
    let longest_label = rows.iter().map(|(_, r, _)| r.label.chars().count()).max().unwrap_or(0);
    (0..form.columns.len())
        .map(|c| match c {
            0 => 6.0,
            1 => (longest_label as f64 + 2.0).clamp(32.0, 48.0),
            _ => {
                let largest = rows.iter().filter_map(|(_, r, _)| r.columns.get(c - TEXT_COLUMNS)).max();
                let digits = largest.map_or(1, |n| n.to_string().len());
                let shown = digits + (digits - 1) / 3;
                let word = form.columns[c]
                    .headings
                    .iter()
                    .flat_map(|h| h.split_whitespace())
                    .map(|w| w.chars().count())
                    .max()
                    .unwrap_or(0);
                (shown.max(word) as f64 + 3.0).max(11.0)
            }
        })
        .collect()
}

/// Lines `text` takes in a cell `width` characters wide (a little under, for the padding).
fn lines_of(text: &str, width: f64) -> f64 {
    (text.chars().count() as f64 / (width - 1.5).max(1.0)).ceil().max(1.0)
}

pub fn form06_xlsx(report: &GetForm06Response) -> Result<Vec<u8>, XlsxError> {
    let form = form_of(report);
    let headings: Vec<Vec<String>> = form.columns.iter().map(|c| c.headings.clone()).collect();
    let HeadingLayout { rows: head_rows, cells: head } = heading_layout(&headings)
        .map_err(|(column, reason)| XlsxError::ParameterError(format!("form column {}: {reason}", column + 1)))?;
    let formats = Formats::new();
    let rows = table_rows(report);
    let widths = column_widths(&form, &rows);
    let last_column = (form.columns.len().max(TEXT_COLUMNS + 1) - 1) as ColNum;
    // Three blocks across the page, as printed: form number and signer on the left, the title in the middle, the
    // reporting unit and the head of the unit on the right.
    let left = (0, 1);
    let right = (last_column.saturating_sub(3).max(3), last_column);
    let middle = (2, right.0 - 1);
    let width_of = |(first, last): (ColNum, ColNum)| widths[first as usize..=last as usize].iter().sum::<f64>();

    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Biểu 06")?;
    for (c, width) in widths.iter().enumerate() {
        sheet.set_column_width(c as ColNum, *width)?;
    }

    // The header: form number and circular, title, reporting and receiving unit, period, unit of count.
    let unit_line = format!("Đơn vị báo cáo: {}", report.reporting_unit_name);
    let circular_line = format!("Ban hành kèm theo {}", form.circular);
    across(sheet, (0, 0), left, &form.form_number, &formats.form_number)?;
    across(sheet, (1, 1), left, &circular_line, &formats.circular)?;
    across(sheet, (0, 1), middle, &form.title, &formats.title)?;
    across(sheet, (2, 2), middle, &period_line(report), &formats.date_line)?;
    across(sheet, (0, 0), right, &unit_line, &formats.plain)?;
    across(sheet, (1, 1), right, RECEIVING_UNIT, &formats.plain)?;
    across(sheet, (3, 3), right, &format!("Đơn vị tính: {}", form.unit_of_count), &formats.right_note)?;
    for row in 0..2 {
        let needed = [
            lines_of(&unit_line, width_of(right)),
            lines_of(&circular_line, width_of(left)),
            lines_of(&form.title, width_of(middle)) * 1.2 / 2.0,
        ];
        sheet.set_row_height(row, LINE_HEIGHT * needed.into_iter().fold(1.0, f64::max))?;
    }

    // The table head: each heading over the columns it groups, reaching down when it is a column's last.
    for cell in &head {
        let rows = (HEAD_TOP + cell.first_row as RowNum, HEAD_TOP + cell.last_row as RowNum);
        let columns = (cell.first_column as ColNum, cell.last_column as ColNum);
        across(sheet, rows, columns, &cell.text, &formats.heading)?;
    }
    // Each head row as tall as its wordiest heading needs, a heading over several rows sharing its lines among
    // them (spreadsheet programs do not fit merged cells themselves).
    let mut head_heights = vec![LINE_HEIGHT; head_rows];
    for cell in &head {
        let lines = lines_of(&cell.text, width_of((cell.first_column as ColNum, cell.last_column as ColNum)));
        let spanned = (cell.last_row - cell.first_row + 1) as f64;
        for height in &mut head_heights[cell.first_row..=cell.last_row] {
            *height = height.max(LINE_HEIGHT * lines / spanned + 4.0);
        }
    }
    for (row, height) in head_heights.into_iter().enumerate() {
        sheet.set_row_height(HEAD_TOP + row as RowNum, height)?;
    }
    let numbers_row = HEAD_TOP + head_rows as RowNum;
    for c in 0..form.columns.len() {
        sheet.write_string_with_format(numbers_row, c as ColNum, format!("({})", c + 1), &formats.column_number)?;
    }

    // The rows: each level's subtotal (bold) before its sectors, then the total (bold).
    let mut r = numbers_row + 1;
    for (number, row, is_sum) in &rows {
        let (number_format, label_format, count_format) = if *is_sum {
            (&formats.sum_number, &formats.sum_label, &formats.sum_count)
        } else {
            (&formats.number, &formats.label, &formats.count)
        };
        sheet.write_string_with_format(r, 0, number, number_format)?;
        sheet.write_string_with_format(r, 1, &row.label, label_format)?;
        for (c, value) in row.columns.iter().enumerate() {
            sheet.write_number_with_format(r, (c + TEXT_COLUMNS) as ColNum, *value as f64, count_format)?;
        }
        r += 1;
    }

    // The signatures under the table: the date line over the last (the head of the unit), blocks left to right.
    let signatures_top = r + 1;
    let blocks: Vec<(ColNum, ColNum)> = match form.signatures.len() {
        1 => vec![right],
        2 => vec![left, right],
        _ => vec![left, middle, right],
    };
    across(sheet, (signatures_top, signatures_top), right, DATE_LINE, &formats.date_line)?;
    for (signature, block) in form.signatures.iter().zip(blocks) {
        across(sheet, (signatures_top + 1, signatures_top + 1), block, &signature.title, &formats.signature)?;
        if !signature.note.is_empty() {
            across(sheet, (signatures_top + 2, signatures_top + 2), block, &signature.note, &formats.signature_note)?;
        }
    }

    // A4 landscape, as wide as the page and as many pages long as it takes, the head repeated on each page.
    sheet.set_paper_size(9);
    sheet.set_landscape();
    sheet.set_print_fit_to_pages(1, 0);
    sheet.set_print_center_horizontally(true);
    sheet.set_margins(0.4, 0.4, 0.6, 0.6, 0.3, 0.3);
    sheet.set_repeat_rows(HEAD_TOP, numbers_row)?;
    sheet.set_footer("&CTrang &P/&N");
    sheet.set_freeze_panes(numbers_row + 1, 0)?;
    workbook.save_to_buffer()
}
