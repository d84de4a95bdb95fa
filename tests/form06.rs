//! Form 06 as printed, over real services: the XLSX export read back (title, merged two-level head, column
//! numbers, bold subtotals and total, column widths, A4 landscape fitted to the page's width, signatures), and
//! the form's definition as data: a new version, defined over gRPC, prints the next export and is named by it.

use std::io::Read;

use calamine::{DataType, Reader};
use onestop_auth::{claims, Claims, Role, SCOPE_DEFINE, SCOPE_READ};
use onestop_proto::aggregation::v1::*;
use onestop_proto::intake::v1::PushCellsRequest;
use onestop_server::auth::Credentials;
use onestop_system_tests::model::{random_cells, totals};
use onestop_system_tests::*;
use tonic::Code;

type Aggregation = onestop_server::client::AggregationClient;

const SHEET: &str = "Biểu 06";
const TITLE_V1: &str = "TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH TẠI CƠ QUAN, ĐƠN VỊ TRỰC TIẾP GIẢI QUYẾT TTHC";
/// The table head's first row, below the form number, title, units, period and unit of count.
const HEAD_TOP: u32 = 5;

fn march() -> Option<DayRange> {
    Some(DayRange { from_day: "2026-03-01".into(), to_day: "2026-03-31".into() })
}

fn report(period: Option<DayRange>) -> GetForm06Request {
    GetForm06Request { unit_code: PROVINCE.into(), period, ..Default::default() }
}

/// The file ExportForm06 streams, and the form version its first message names.
async fn export(aggregation: &Aggregation, report: GetForm06Request, format: FileFormat) -> (Vec<u8>, u32) {
    let request = ExportForm06Request { report: Some(report), format: format as i32 };
    let mut stream = aggregation.clone().export_form06(request).await.unwrap().into_inner();
    let (mut bytes, mut version) = (Vec::new(), None);
    while let Some(piece) = stream.message().await.unwrap() {
        version.get_or_insert(piece.form_version);
        bytes.extend(piece.chunk);
    }
    (bytes, version.unwrap_or(0))
}

/// A workbook read back: its cells and merged ranges through calamine, its styles and page setup as XML.
struct Printed {
    cells: calamine::Range<calamine::Data>,
    merged: Vec<((u32, u32), (u32, u32))>,
    sheet_xml: String,
    styles_xml: String,
}

impl Printed {
    fn read(xlsx: &[u8]) -> Printed {
        let mut workbook: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).unwrap();
        let cells = workbook.worksheet_range(SHEET).unwrap();
        let merged = workbook.merge_cells_by_sheet_name(SHEET).unwrap().into_iter().map(|d| (d.start, d.end)).collect();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).unwrap();
        let mut part = |name: &str| {
            let mut text = String::new();
            zip.by_name(name).unwrap().read_to_string(&mut text).unwrap();
            text
        };
        Printed { cells, merged, sheet_xml: part("xl/worksheets/sheet1.xml"), styles_xml: part("xl/styles.xml") }
    }

    fn text(&self, row: u32, column: u32) -> String {
        self.cells.get_value((row, column)).map(|v| v.to_string()).unwrap_or_default()
    }

    /// The row whose column 2 reads `label`.
    fn row_labelled(&self, label: &str) -> u32 {
        (0..self.cells.height() as u32).find(|r| self.text(*r, 1) == label).unwrap_or_else(|| panic!("no {label}"))
    }

    /// Where `text` is printed.
    fn find(&self, text: &str) -> (u32, u32) {
        self.cells
            .used_cells()
            .find(|(_, _, v)| v.get_string() == Some(text))
            .map(|(r, c, _)| (r as u32, c as u32))
            .unwrap_or_else(|| panic!("{text:?} is not printed"))
    }

    fn merged_over(&self, from: (u32, u32), to: (u32, u32)) -> bool {
        self.merged.contains(&(from, to))
    }

    /// Whether the cell's style sets a bold font: its `s` index into cellXfs, the xf's fontId into fonts.
    fn is_bold(&self, row: u32, column: u32) -> bool {
        let reference = format!("<c r=\"{}{}\"", (b'A' + column as u8) as char, row + 1);
        let cell = &self.sheet_xml[self.sheet_xml.find(&reference).unwrap_or_else(|| panic!("no {reference}"))..];
        let style: usize = attribute(&cell[..cell.find('>').unwrap()], "s").map_or(0, |s| s.parse().unwrap());
        let xfs = section(&self.styles_xml, "cellXfs");
        let xf = format!(" {}", xfs.split("<xf ").nth(style + 1).unwrap());
        let font: usize = attribute(&xf, "fontId").unwrap().parse().unwrap();
        let fonts = section(&self.styles_xml, "fonts");
        fonts.split("<font>").nth(font + 1).unwrap().split("</font>").next().unwrap().contains("<b/>")
    }

    /// Each column's width as the sheet sets it (1-based columns; a <col> may cover several).
    fn column_width(&self, column: u32) -> Option<f64> {
        self.sheet_xml.split("<col ").skip(1).find_map(|col| {
            let col = &format!(" {}", &col[..col.find("/>").unwrap()]);
            let (min, max): (u32, u32) = (attribute(col, "min")?.parse().ok()?, attribute(col, "max")?.parse().ok()?);
            let custom = attribute(col, "customWidth") == Some("1");
            ((min..=max).contains(&column) && custom).then(|| attribute(col, "width")?.parse().ok()).flatten()
        })
    }

    fn element(&self, name: &str) -> &str {
        let start = self.sheet_xml.find(&format!("<{name} ")).unwrap_or_else(|| panic!("no <{name}>"));
        let rest = &self.sheet_xml[start..];
        &rest[..rest.find('>').unwrap()]
    }
}

fn attribute<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    let start = element.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(&element[start..start + element[start..].find('"')?])
}

fn section<'a>(xml: &'a str, name: &str) -> &'a str {
    let start = xml.find(&format!("<{name}")).unwrap_or_else(|| panic!("no <{name}>"));
    &xml[start..start + xml[start..].find(&format!("</{name}>")).unwrap()]
}

#[tokio::test]
async fn the_xlsx_export_looks_like_the_printed_form() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let cells = random_cells(
        8,
        &[COMMUNE_CENTER, PROVINCIAL_CENTER],
        &[FULL_PROCEDURE, PARTIAL_PROCEDURE, OFFLINE_PROCEDURE],
        "2026-02-20",
        40,
    );
    let mut intake = system.stack.intake_client();
    let pushed = intake
        .push_cells(PushCellsRequest {
            sender: "s".into(),
            cells: cells.clone(),
            all_or_nothing: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let aggregation = system.stack.aggregation_client();
    let request = GetForm06Request { min_intake_cursor: pushed.cursor.clone(), ..report(march()) };
    let form = aggregation.clone().get_form06(request.clone()).await.unwrap().into_inner();
    let total = form.total.clone().unwrap();
    assert_eq!(total.columns, totals(&cells, "2026-03-01", "2026-03-31", |_| true).form06_columns());
    let definition = form.form.clone().unwrap();
    assert_eq!((definition.form.as_str(), definition.version), ("06", 1), "the seeded Circular 01/2020 form");

    let (xlsx, version) = export(&aggregation, request, FileFormat::Xlsx).await;
    assert_eq!(version, 1, "the file names the form version it follows");
    let printed = Printed::read(&xlsx);

    // The form number and circular, the title, the reporting unit and the period.
    assert_eq!(printed.text(0, 0), "Biểu số 06/VPCP/KSTT");
    assert_eq!(printed.text(1, 0), "Ban hành kèm theo Thông tư số 01/2020/TT-VPCP");
    assert_eq!(printed.text(0, 2), TITLE_V1);
    assert!(printed.merged_over((0, 2), (1, 8)), "the title spans the middle of the page: {:?}", printed.merged);
    assert!(printed.is_bold(0, 2));
    assert_eq!(printed.text(0, 9), "Đơn vị báo cáo: Tỉnh Quảng Trị");
    assert_eq!(printed.text(2, 2), "Kỳ báo cáo: từ ngày 01/03/2026 đến ngày 31/03/2026");
    assert_eq!(printed.text(3, 9), "Đơn vị tính: Số hồ sơ TTHC");

    // The head: three groups over their columns, "Trong kỳ" over its two, the rest reaching down.
    let head = HEAD_TOP;
    for (from, to, text) in [
        ((head, 0), (head + 2, 0), "STT"),
        ((head, 1), (head + 2, 1), "Lĩnh vực, công việc giải quyết theo cấp"),
        ((head, 2), (head, 5), "Số hồ sơ nhận giải quyết"),
        ((head, 6), (head, 9), "Số hồ sơ đã giải quyết"),
        ((head, 10), (head, 12), "Số hồ sơ đang giải quyết"),
        ((head + 1, 2), (head + 2, 2), "Tổng số"),
        ((head + 1, 3), (head + 1, 4), "Trong kỳ"),
        ((head + 1, 5), (head + 2, 5), "Từ kỳ trước"),
        ((head + 1, 9), (head + 2, 9), "Quá hạn"),
        ((head + 1, 12), (head + 2, 12), "Quá hạn"),
    ] {
        assert!(printed.merged_over(from, to), "{text} over {from:?}..{to:?}: {:?}", printed.merged);
        assert_eq!(printed.text(from.0, from.1), text);
        assert!(printed.is_bold(from.0, from.1), "{text} is a bold heading");
    }
    assert_eq!(printed.text(head + 2, 3), "Trực tuyến");
    assert_eq!(printed.text(head + 2, 4), "Trực tiếp, dịch vụ bưu chính");

    // The column numbers, then each level's subtotal (bold) before its sector rows, and the total (bold).
    let numbers: Vec<String> = (0..13).map(|c| printed.text(head + 3, c)).collect();
    assert_eq!(numbers, (1..=13).map(|n| format!("({n})")).collect::<Vec<_>>());
    let provincial = printed.row_labelled("Cấp tỉnh");
    assert_eq!(provincial, head + 4, "the first level right under the column numbers");
    assert_eq!(printed.text(provincial, 0), "I");
    assert!(printed.is_bold(provincial, 1) && printed.is_bold(provincial, 2), "a level's subtotal is bold");
    assert_eq!(printed.text(provincial + 1, 0), "1");
    assert!(!printed.is_bold(provincial + 1, 1) && !printed.is_bold(provincial + 1, 2), "a sector row is not");
    assert_eq!(printed.text(printed.row_labelled("Cấp xã"), 0), "II");
    let total_row = printed.row_labelled("Tổng cộng");
    assert!(printed.is_bold(total_row, 1) && printed.is_bold(total_row, 12), "the total is bold");
    let printed_total: Vec<u64> =
        (2..13).map(|c| printed.cells.get_value((total_row, c)).unwrap().as_f64().unwrap() as u64).collect();
    assert_eq!(printed_total, total.columns);

    // Every column has a width, and a count column is wide enough for its largest count with separators.
    for column in 1..=13u32 {
        let width = printed
            .column_width(column)
            .unwrap_or_else(|| panic!("column {column} has no width: {}", section(&printed.sheet_xml, "cols")));
        if column >= 3 {
            let digits = total.columns[column as usize - 3].to_string().len();
            assert!(width >= (digits + (digits - 1) / 3) as f64 + 1.0, "column {column}: {width}");
        }
    }
    assert!(printed.column_width(2).unwrap() >= 30.0, "the labels are readable");

    // A4 landscape, fitted to the page's width, as many pages long as it takes.
    let page_setup = printed.element("pageSetup");
    assert_eq!(attribute(page_setup, "orientation"), Some("landscape"), "{page_setup}");
    assert_eq!(attribute(page_setup, "paperSize"), Some("9"), "A4: {page_setup}");
    assert_eq!(attribute(page_setup, "fitToHeight"), Some("0"), "{page_setup}");
    assert_eq!(attribute(page_setup, "fitToWidth"), None, "one page wide is the default: {page_setup}");
    assert_eq!(attribute(printed.element("pageSetUpPr"), "fitToPage"), Some("1"));

    // The signature block under the table: the date line over the head of the unit.
    let (date_row, date_column) = printed.find("…, ngày … tháng … năm …");
    assert!(date_row > total_row);
    let (signer_row, signer_column) = printed.find("NGƯỜI LẬP BIỂU");
    let (chief_row, chief_column) = printed.find("THỦ TRƯỞNG ĐƠN VỊ");
    assert_eq!((signer_row, chief_row), (date_row + 1, date_row + 1));
    assert!(signer_column < chief_column && chief_column == date_column, "the preparer left, the head right");
    assert!(printed.is_bold(chief_row, chief_column));
    assert_eq!(printed.text(chief_row + 1, chief_column), "(Ký tên, đóng dấu)");
    assert_eq!(printed.text(signer_row + 1, signer_column), "(Ký, ghi rõ họ tên)");

    // The CSV stays plain: the title lines, one heading per column, the numbers, the rows.
    let (csv, version) = export(&aggregation, report(march()), FileFormat::Csv).await;
    assert_eq!(version, 1);
    let text = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines[0], "Biểu số 06/VPCP/KSTT,Ban hành kèm theo Thông tư số 01/2020/TT-VPCP");
    assert_eq!(lines[1], format!("\"{TITLE_V1}\""), "quoted: the title holds a comma");
    system.stack.shutdown().await.unwrap();
}

/// Columns 1 to 13 under headings a later circular might print: the same meaning, other words.
fn relabelled_columns() -> Vec<FormColumn> {
    let received = "Số hồ sơ tiếp nhận";
    let column = |headings: &[&str]| FormColumn { headings: headings.iter().map(|h| h.to_string()).collect() };
    let mut columns = vec![
        column(&["Số TT"]),
        column(&["Lĩnh vực giải quyết theo cấp"]),
        column(&[received, "Tổng số"]),
        column(&[received, "Mới tiếp nhận", "Trực tuyến"]),
        column(&[received, "Mới tiếp nhận", "Trực tiếp, bưu chính công ích"]),
        column(&[received, "Kỳ trước chuyển sang"]),
    ];
    for group in ["Số hồ sơ đã giải quyết", "Số hồ sơ đang giải quyết"] {
        let subs: &[&str] = if group.contains("đã") {
            &["Tổng số", "Trước hạn", "Đúng hạn", "Quá hạn"]
        } else {
            &["Tổng số", "Trong hạn", "Quá hạn"]
        };
        columns.extend(subs.iter().map(|sub| column(&[group, sub])));
    }
    columns
}

fn new_circular() -> FormDefinition {
    FormDefinition {
        form: "06".into(),
        version: 0,
        form_number: "Biểu số 06/VPCP/KSTT".into(),
        circular: "Thông tư số 99/2026/TT-VPCP".into(),
        title: "TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT TTHC TẠI CƠ QUAN, ĐƠN VỊ (MẪU MỚI)".into(),
        unit_of_count: "Hồ sơ".into(),
        valid_from: "2026-01-01".into(),
        columns: relabelled_columns(),
        signatures: ["NGƯỜI LẬP BIỂU", "NGƯỜI KIỂM TRA", "THỦ TRƯỞNG ĐƠN VỊ"]
            .into_iter()
            .map(|title| FormSignature { title: title.into(), note: "(Ký, ghi rõ họ tên)".into() })
            .collect(),
    }
}

#[tokio::test]
async fn a_new_form_version_prints_the_next_export_and_is_named_by_it() {
    let Some(system) = TestSystem::start_with_province().await else { return };
    let mut aggregation = system.stack.aggregation_client();
    let listed = aggregation.list_form_definitions(ListFormDefinitionsRequest::default()).await.unwrap().into_inner();
    let versions: Vec<(&str, u32, &str)> =
        listed.definitions.iter().map(|d| (d.form.as_str(), d.version, d.valid_from.as_str())).collect();
    assert_eq!(versions, [("06", 1, "2020-12-05")]);
    assert_eq!(listed.definitions[0].columns.len(), 13);

    // A new circular, defined over gRPC: version 2; the same again stores nothing.
    let define = |definition: FormDefinition| DefineFormRequest { definition: Some(definition) };
    let defined = aggregation.define_form(define(new_circular())).await.unwrap().into_inner();
    assert!(defined.created);
    assert_eq!(defined.definition.as_ref().unwrap().version, 2);
    let again = aggregation.define_form(define(new_circular())).await.unwrap().into_inner();
    assert_eq!((again.created, again.definition.unwrap().version), (false, 2));

    // The next export follows it and says so.
    let (xlsx, version) = export(&aggregation, report(march()), FileFormat::Xlsx).await;
    assert_eq!(version, 2);
    let printed = Printed::read(&xlsx);
    assert_eq!(printed.text(0, 2), new_circular().title);
    assert_eq!(printed.text(1, 0), "Ban hành kèm theo Thông tư số 99/2026/TT-VPCP");
    assert_eq!(printed.text(HEAD_TOP, 0), "Số TT");
    assert_eq!(printed.text(HEAD_TOP, 2), "Số hồ sơ tiếp nhận");
    assert!(printed.merged_over((HEAD_TOP, 2), (HEAD_TOP, 5)));
    assert_eq!(printed.text(HEAD_TOP + 1, 3), "Mới tiếp nhận");
    assert!(printed.merged_over((HEAD_TOP + 1, 3), (HEAD_TOP + 1, 4)));
    assert_eq!(printed.text(3, 9), "Đơn vị tính: Hồ sơ");
    let (signature_row, _) = printed.find("NGƯỜI KIỂM TRA");
    assert_eq!(printed.find("THỦ TRƯỞNG ĐƠN VỊ").0, signature_row, "three signatures abreast");
    let answer = aggregation.get_form06(report(march())).await.unwrap().into_inner();
    assert_eq!(answer.form.as_ref().unwrap().version, 2);
    assert_eq!(answer.headings[4], "Số hồ sơ tiếp nhận - Mới tiếp nhận - Trực tiếp, bưu chính công ích");
    let (csv, version) = export(&aggregation, report(march()), FileFormat::Csv).await;
    assert_eq!(version, 2);
    assert!(String::from_utf8(csv).unwrap().contains("Số TT,Lĩnh vực giải quyết theo cấp,"));

    // A period before the new version keeps the form in force then; a version may also be asked for.
    let december = Some(DayRange { from_day: "2025-12-01".into(), to_day: "2025-12-31".into() });
    let old = aggregation.get_form06(report(december)).await.unwrap().into_inner();
    assert_eq!((old.form.as_ref().unwrap().version, old.headings[0].as_str()), (1, "STT"));
    let asked = aggregation.get_form06(GetForm06Request { form_version: 1, ..report(march()) }).await.unwrap();
    assert_eq!(asked.into_inner().form.unwrap().title, TITLE_V1);
    let missing = aggregation.get_form06(GetForm06Request { form_version: 9, ..report(march()) }).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert!(missing.message().contains("form_version"), "{}", missing.message());

    // Definitions that cannot be printed as the form are refused, naming the field.
    let mut short = new_circular();
    short.columns.pop();
    let mut ambiguous = new_circular();
    ambiguous.columns[2].headings = vec!["Số hồ sơ tiếp nhận".into()];
    let mut no_title = new_circular();
    no_title.title = "\u{0}".into();
    for (definition, field) in [
        (short, "definition.columns"),
        (ambiguous, "definition.columns[2].headings"),
        (no_title, "definition.title"),
        (FormDefinition { form: "07".into(), ..new_circular() }, "definition.form"),
        (FormDefinition { valid_from: "-5000-01-01".into(), ..new_circular() }, "definition.valid_from"),
    ] {
        let refused = aggregation.define_form(define(definition)).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{field}: {}", refused.message());
        assert!(refused.message().contains(field), "{field}: {}", refused.message());
    }

    // Forms are national: a province's office, even one that defines its own indicators, may not.
    let token = system.stack.keys().issuer.issue(&Claims {
        province: Some(PROVINCE.into()),
        ..claims("vp-ubnd-46", Role::Province, &[SCOPE_READ, SCOPE_DEFINE], 600)
    });
    let mut office =
        onestop_server::client::aggregation(&system.stack.aggregation_url(), None, &Credentials::token(token)).unwrap();
    let refused = office.define_form(define(new_circular())).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{}", refused.message());
    let listed = office.list_form_definitions(ListFormDefinitionsRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.definitions.len(), 2, "every reader sees the forms");
    system.stack.shutdown().await.unwrap();
}

/// Form 06 of whole half-months (calendar months, Decree 09's months) comes from the roll-ups by sector; of any
/// other days, from every cell. With all the cells inside March, March and the days from 28 February to 1 April
/// have the same form, and so have Decree 09's April and 15 March to 15 April, so each computation checks the
/// other: here after a procedure moved to another sector in mid-March (its rows move with
/// its latest sector, its days before the move stay in the old one) and another was abolished (its stock after
/// that belongs to no sector), and again after corrections pushed once both decisions were known.
#[tokio::test]
async fn whole_half_months_from_the_sector_roll_ups_equal_the_form_from_every_cell() {
    use onestop_proto::catalogue::v1::{
        DecisionAction, DecisionItem, OnlineLevel, Procedure, PublicationDecision, PublishDecisionRequest,
    };
    let Some(system) = TestSystem::start_with_province().await else { return };
    let procedures = [FULL_PROCEDURE, PARTIAL_PROCEDURE, OFFLINE_PROCEDURE];
    let cells = random_cells(60, &[COMMUNE_CENTER, PROVINCIAL_CENTER], &procedures, "2026-03-02", 28);
    let mut intake = system.stack.intake_client();
    let push = PushCellsRequest { sender: "egov".into(), cells: cells.clone(), ..Default::default() };
    let intake_cursor = intake.push_cells(push).await.unwrap().into_inner().cursor;

    let mut catalogue = system.stack.catalogue_client();
    let decision = |number: &str, effective: &str, item: DecisionItem| PublicationDecision {
        number: number.into(),
        signed_on: "2026-03-01".into(),
        issuer: "Chủ tịch UBND tỉnh".into(),
        effective_from: effective.into(),
        items: vec![item],
        ..Default::default()
    };
    let moved = Procedure {
        sector_code: "CHUNGTHUC".into(),
        ..procedure(FULL_PROCEDURE, "Đăng ký khai sinh", OnlineLevel::Full)
    };
    let amend = DecisionItem { action: DecisionAction::Amended as i32, procedure: Some(moved), ..Default::default() };
    catalogue
        .publish_decision(PublishDecisionRequest { decision: Some(decision("130/QĐ-UBND", "2026-03-15", amend)) })
        .await
        .unwrap();
    let abolished = procedure(OFFLINE_PROCEDURE, "Chứng thực bản sao", OnlineLevel::None);
    let abolish =
        DecisionItem { action: DecisionAction::Abolished as i32, procedure: Some(abolished), ..Default::default() };
    let catalogue_cursor = catalogue
        .publish_decision(PublishDecisionRequest { decision: Some(decision("131/QĐ-UBND", "2026-03-20", abolish)) })
        .await
        .unwrap()
        .into_inner()
        .cursor;

    let mut aggregation = system.stack.aggregation_client();
    // Each form of whole half-months, and the same from every cell: March (calendar) against 28 February to
    // 1 April, and April under Decree 09/2019 (15 March to 14 April) against 15 March to 15 April.
    let both_ways = |intake_cursor: String| {
        let mut aggregation = aggregation.clone();
        async move {
            let month = |number: u32, cut_off: CutOffRule| GetForm06Request {
                unit_code: PROVINCE.into(),
                reporting_period: Some(ReportingPeriod {
                    kind: PeriodKind::Month as i32,
                    year: 2026,
                    number,
                    cut_off: cut_off as i32,
                    month_starts_on: 0,
                }),
                min_intake_cursor: intake_cursor.clone(),
                min_catalogue_cursor: catalogue_cursor,
                ..Default::default()
            };
            let days = |from: &str, to: &str| GetForm06Request {
                reporting_period: None,
                period: Some(DayRange { from_day: from.into(), to_day: to.into() }),
                ..month(3, CutOffRule::Calendar)
            };
            let mut pairs = Vec::new();
            for (whole, days) in [
                (month(3, CutOffRule::Calendar), days("2026-02-28", "2026-04-01")),
                (month(4, CutOffRule::Decree09), days("2026-03-15", "2026-04-15")),
            ] {
                let whole = aggregation.get_form06(whole).await.unwrap().into_inner();
                let days = aggregation.get_form06(days).await.unwrap().into_inner();
                pairs.push((whole, days));
            }
            pairs
        }
    };
    let pairs = both_ways(intake_cursor).await;
    for (whole, days) in &pairs {
        assert_eq!(whole.total, days.total);
        assert_eq!(whole.sections, days.sections);
        assert!(whole.total.as_ref().unwrap().columns.iter().any(|v| *v > 0));
    }
    let (whole, _) = &pairs[0];
    let sectors: Vec<&str> =
        whole.sections.iter().flat_map(|s| s.rows.iter().map(|r| r.sector_code.as_str())).collect();
    for sector in ["HOTICH", "CHUNGTHUC", ""] {
        assert!(sectors.contains(&sector), "a row of sector {sector:?}: {sectors:?}");
    }
    let (decree, _) = &pairs[1];
    assert_eq!(decree.days.as_ref().unwrap().from_day, "2026-03-15");
    assert!(decree.total.as_ref().unwrap().columns[3] > 0, "stock carried over from 14 March");

    // Corrections after both decisions: the moved procedure's cells now count under its new latest sector.
    let corrected: Vec<_> = cells
        .iter()
        .filter(|c| c.procedure_code != OFFLINE_PROCEDURE && c.day.as_str() >= "2026-03-10")
        .map(|c| {
            let mut c = c.clone();
            let m = c.measures.as_mut().unwrap();
            m.received_online += 3;
            m.pending_in_time += 2;
            c
        })
        .collect();
    let push = PushCellsRequest { sender: "egov".into(), cells: corrected, ..Default::default() };
    let intake_cursor = intake.push_cells(push).await.unwrap().into_inner().cursor;
    let after = both_ways(intake_cursor).await;
    for (whole, days) in &after {
        assert_eq!(whole.total, days.total);
        assert_eq!(whole.sections, days.sections);
    }
    assert_ne!(after[0].0.total, pairs[0].0.total, "the corrections changed the form");
    aggregation.get_form06(report(march())).await.unwrap();
}
