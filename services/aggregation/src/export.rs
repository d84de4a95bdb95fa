//! Form 06 as files: CSV (UTF-8 with a byte-order mark, so spreadsheet programs read the Vietnamese headings)
//! and XLSX, laid out as the printed form: title, reporting unit, period, unit of count, the 13 headings, the
//! column numbers, then each level with its subtotal and its sector rows, and the total.

use chrono::NaiveDate;
use onestop_proto::aggregation::v1::{Form06Row, GetForm06Response};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

/// The size of each streamed piece of a file.
pub const CHUNK_BYTES: usize = 64 * 1024;

const TITLE: &str = "TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH TẠI CƠ QUAN, ĐƠN VỊ TRỰC TIẾP GIẢI QUYẾT TTHC";
const FORM: &str = "Biểu số 06/VPCP/KSTT";

/// dd/mm/yyyy, as dates are printed on the form.
fn printed(day: &str) -> String {
    day.parse::<NaiveDate>().map(|d| d.format("%d/%m/%Y").to_string()).unwrap_or_else(|_| day.to_owned())
}

const ROMAN: [&str; 3] = ["I", "II", "III"];

/// The lines of the report as cells: text or counts.
enum Cell {
    Text(String),
    Count(u64),
}

fn lines(report: &GetForm06Response) -> Vec<Vec<Cell>> {
    let days = report.days.clone().unwrap_or_default();
    let text = |s: &str| Cell::Text(s.to_owned());
    let mut out = vec![
        vec![text(FORM)],
        vec![text(TITLE)],
        vec![text(&format!("Đơn vị báo cáo: {}", report.reporting_unit_name))],
        vec![text(&format!("Kỳ báo cáo: từ ngày {} đến ngày {}", printed(&days.from_day), printed(&days.to_day)))],
        vec![text("Đơn vị tính: Số hồ sơ TTHC")],
        report.headings.iter().map(|h| text(h)).collect(),
        (1..=13).map(|n| text(&format!("({n})"))).collect(),
    ];
    let counts_line = |number: String, r: &Form06Row| {
        let mut line = vec![Cell::Text(number), Cell::Text(r.label.clone())];
        line.extend(r.columns.iter().map(|c| Cell::Count(*c)));
        line
    };
    for (i, section) in report.sections.iter().enumerate() {
        let subtotal = section.subtotal.clone().unwrap_or_default();
        out.push(counts_line(ROMAN.get(i).copied().unwrap_or("").to_owned(), &subtotal));
        for r in &section.rows {
            out.push(counts_line(r.number.to_string(), r));
        }
    }
    if let Some(total) = &report.total {
        out.push(counts_line(String::new(), total));
    }
    out
}

pub fn form06_csv(report: &GetForm06Response) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(b"\xEF\xBB\xBF".to_vec());
    for line in lines(report) {
        let fields: Vec<String> = line
            .into_iter()
            .map(|c| match c {
                Cell::Text(t) => t,
                Cell::Count(n) => n.to_string(),
            })
            .collect();
        writer.write_record(&fields).expect("writing to memory");
    }
    writer.into_inner().expect("writing to memory")
}

pub fn form06_xlsx(report: &GetForm06Response) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Biểu 06")?;
    let bold = Format::new().set_bold();
    let heading = Format::new().set_bold().set_text_wrap();
    sheet.set_column_width(1, 40)?;
    for (r, line) in lines(report).into_iter().enumerate() {
        let r = r as u32;
        for (c, cell) in line.into_iter().enumerate() {
            let c = c as u16;
            match cell {
                Cell::Text(t) if r == 5 => sheet.write_string_with_format(r, c, t, &heading).map(|_| ())?,
                Cell::Text(t) if r < 2 => sheet.write_string_with_format(r, c, t, &bold).map(|_| ())?,
                Cell::Text(t) => sheet.write_string(r, c, t).map(|_| ())?,
                Cell::Count(n) => sheet.write_number(r, c, n as f64).map(|_| ())?,
            }
        }
    }
    workbook.save_to_buffer()
}
