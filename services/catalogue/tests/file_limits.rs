//! Hostile files over gRPC against a fresh database: a workbook claiming the last cell of a sheet, zip bombs
//! (honest, squeezed and lying about their size), and CSV files beyond the limits are refused with the field
//! named, quickly, and the catalogue goes on serving.

mod common;

use std::io::{Cursor, Read};
use std::time::{Duration, Instant};

use common::{fields, start, Client};
use flate2::{Compress, Compression, Crc, FlushCompress};
use onestop_proto::catalogue::v1::*;
use tonic::{Code, Status};

/// The columns of a decision file, as documented.
const FILE_HEADER: [&str; 16] = onestop_catalogue::decision_file::COLUMNS;

/// A refused file must be answered well within this, never by a hang.
const PROMPTLY: Duration = Duration::from_secs(20);

fn decision(number: &str) -> PublicationDecision {
    PublicationDecision {
        number: number.into(),
        signed_on: "2026-02-01".into(),
        issuer: "Chủ tịch UBND tỉnh".into(),
        effective_from: "2026-02-15".into(),
        items: vec![],
        issuing_unit_code: String::new(),
    }
}

/// A decision workbook with one item, as a spreadsheet program writes it, and `extra` text cells (0-based).
fn decision_workbook(extra: &[(u32, u16, &str)]) -> Vec<u8> {
    let item = [
        "NEW",
        "1.000948",
        "Đăng ký khai sinh",
        "HOTICH",
        "COMMUNE",
        "UBND cấp xã",
        "3",
        "WORKING_DAYS",
        "no",
        "FULL",
        "",
        "yes",
        "yes",
        "",
        "",
    ];
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (column, (heading, value)) in FILE_HEADER.iter().zip(item).enumerate() {
        sheet.write_string(0, column as u16, *heading).unwrap();
        sheet.write_string(1, column as u16, value).unwrap();
    }
    for &(row, column, text) in extra {
        sheet.write_string(row, column, text).unwrap();
    }
    workbook.save_to_buffer().unwrap()
}

/// Publishes `content` as decision `number`'s file, timing the answer.
async fn publish(client: &mut Client, number: &str, format: FileFormat, content: Vec<u8>) -> Result<u32, Status> {
    let request = PublishDecisionFileRequest { decision: Some(decision(number)), format: format as i32, content };
    let started = Instant::now();
    let answer = client.publish_decision_file(request).await;
    assert!(started.elapsed() < PROMPTLY, "{number} took {:?}", started.elapsed());
    answer.map(|response| response.into_inner().items)
}

/// Asserts that `answer` is a refusal with `code` whose message starts with `prefix`.
fn assert_refused<T: std::fmt::Debug>(answer: Result<T, Status>, code: Code, prefix: &str) {
    let status = answer.expect_err("the file is refused");
    assert_eq!(status.code(), code, "{}", status.message());
    assert!(status.message().starts_with(prefix), "{:?} does not start with {prefix:?}", status.message());
}

/// The catalogue still answers: a normal decision file publishes.
async fn assert_still_serving(client: &mut Client, number: &str) {
    assert_eq!(publish(client, number, FileFormat::Xlsx, decision_workbook(&[])).await.unwrap(), 1);
    let procedures = client
        .get_procedures(GetProceduresRequest { codes: vec!["1.000948".into()], as_of: "2026-02-15".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(procedures.procedures.len(), 1);
}

#[tokio::test]
async fn a_workbook_claiming_the_last_cell_of_a_sheet_is_refused_and_the_catalogue_keeps_serving() {
    let Some(db) = onestop_testkit::database().await else { return };
    let (service, mut client) = start(db.url()).await;

    // A few KB that a reader building the sheet as a dense range would turn into 17 billion cells.
    let far = decision_workbook(&[(1_048_575, 16_383, "far")]);
    assert!(far.len() < 16 * 1024, "{} bytes", far.len());
    let answer = publish(&mut client, "1/QĐ-UBND", FileFormat::Xlsx, far).await;
    assert_refused(answer, Code::ResourceExhausted, "content: the first sheet declares cells up to XFD1048576");

    // Within the rows but past the columns.
    let wide = decision_workbook(&[(1, 200, "wide")]);
    let answer = publish(&mut client, "1/QĐ-UBND", FileFormat::Xlsx, wide).await;
    assert_refused(answer, Code::ResourceExhausted, "content: the first sheet declares cells up to GS2");

    assert_still_serving(&mut client, "1/QĐ-UBND").await;
    service.stop().await.unwrap();
}

/// One entry of a zip built by hand, so that it can state any size it likes, as a file made to fool readers does.
struct Entry {
    name: String,
    /// 0 stored, 8 deflated.
    method: u16,
    data: Vec<u8>,
    crc: u32,
    declared_size: u32,
}

/// A zip archive of `entries`: local headers and data, the central directory, its end record.
fn zip_archive(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut directory = Vec::new();
    for entry in entries {
        let offset = out.len() as u32;
        // From "version needed" to the name's length, the local header and the directory say the same.
        let mut common = Vec::new();
        common.extend(20u16.to_le_bytes()); // version needed to extract
        common.extend(0u16.to_le_bytes()); // flags
        common.extend(entry.method.to_le_bytes());
        common.extend(0u32.to_le_bytes()); // modification time and date
        common.extend(entry.crc.to_le_bytes());
        common.extend((entry.data.len() as u32).to_le_bytes());
        common.extend(entry.declared_size.to_le_bytes());
        common.extend((entry.name.len() as u16).to_le_bytes());

        out.extend(0x0403_4b50u32.to_le_bytes());
        out.extend(&common);
        out.extend(0u16.to_le_bytes()); // extra field length
        out.extend(entry.name.as_bytes());
        out.extend(&entry.data);

        directory.extend(0x0201_4b50u32.to_le_bytes());
        directory.extend(20u16.to_le_bytes()); // version made by
        directory.extend(&common);
        directory.extend([0u8; 8]); // extra and comment lengths, first disk, internal attributes
        directory.extend(0u32.to_le_bytes()); // external attributes
        directory.extend(offset.to_le_bytes());
        directory.extend(entry.name.as_bytes());
    }
    let directory_offset = out.len() as u32;
    out.extend(&directory);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]); // disk numbers
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((directory.len() as u32).to_le_bytes());
    out.extend(directory_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes()); // comment length
    out
}

/// Raw deflate of `data` ending on a full flush: byte-aligned, referring to nothing before it, so that copies of
/// it can follow one another in one stream.
fn deflate_block(data: &[u8]) -> Vec<u8> {
    let mut compress = Compress::new(Compression::best(), false);
    let mut out = Vec::with_capacity(data.len() / 100 + 1024);
    compress.compress_vec(data, &mut out, FlushCompress::Full).unwrap();
    assert_eq!(compress.total_in(), data.len() as u64, "the output had room for all of it");
    out
}

/// A sheet whose one cell holds `mib` MiB of `x`, deflated by repeating one compressed MiB: what it inflates to,
/// its CRC, and the deflate stream (about a thousandth of that).
fn bomb_sheet(mib: u32) -> (u64, u32, Vec<u8>) {
    let prefix = br#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>"#;
    let chunk = vec![b'x'; 1 << 20];
    let compressed_chunk = deflate_block(&chunk);
    let mut stream = deflate_block(prefix);
    let mut crc = Crc::new();
    crc.update(prefix);
    let mut chunk_crc = Crc::new();
    chunk_crc.update(&chunk);
    for _ in 0..mib {
        stream.extend(&compressed_chunk);
        crc.combine(&chunk_crc);
    }
    let mut end = Compress::new(Compression::best(), false);
    let mut last_block = Vec::with_capacity(64);
    end.compress_vec(&[], &mut last_block, FlushCompress::Finish).unwrap();
    stream.extend(last_block);
    (crc.amount() as u64, crc.sum(), stream)
}

/// A valid decision workbook whose first sheet is replaced by a bomb inflating to `mib` MiB and declaring
/// `declared_size` bytes (its true size when `None`).
fn bomb_workbook(mib: u32, declared_size: Option<u32>) -> Vec<u8> {
    let (inflated, crc, stream) = bomb_sheet(mib);
    let mut entries = Vec::new();
    let mut source = zip::ZipArchive::new(Cursor::new(decision_workbook(&[]))).unwrap();
    for index in 0..source.len() {
        let mut file = source.by_index(index).unwrap();
        let name = file.name().unwrap().into_owned();
        if name == "xl/worksheets/sheet1.xml" {
            let declared_size = declared_size.unwrap_or(inflated as u32);
            entries.push(Entry { name, method: 8, data: stream.clone(), crc, declared_size });
        } else {
            let mut data = Vec::new();
            file.read_to_end(&mut data).unwrap();
            let (crc, declared_size) = (file.crc32(), data.len() as u32);
            entries.push(Entry { name, method: 0, data, crc, declared_size });
        }
    }
    zip_archive(&entries)
}

#[test]
fn the_bomb_is_real() {
    // What the service refuses must be what it seems: a stream that really inflates to the XML and the `x`s.
    let (inflated, _, stream) = bomb_sheet(300);
    assert!(stream.len() < 400 * 1024, "{} bytes", stream.len());
    assert!(inflated > 300 << 20);
    let mut start = Vec::new();
    flate2::read::DeflateDecoder::new(stream.as_slice()).take(3 << 20).read_to_end(&mut start).unwrap();
    assert_eq!(start.len(), 3 << 20);
    assert!(start.ends_with(&[b'x'; 1024]));
    assert!(String::from_utf8_lossy(&start[..200]).contains("<sheetData>"));
}

#[tokio::test]
async fn zip_bombs_are_refused_without_being_inflated_and_the_catalogue_keeps_serving() {
    let Some(db) = onestop_testkit::database().await else { return };
    let (service, mut client) = start(db.url()).await;

    // 300 MiB of sheet in a few hundred KB, saying so.
    let honest = bomb_workbook(300, None);
    assert!(honest.len() < 512 * 1024, "{} bytes", honest.len());
    let answer = publish(&mut client, "2/QĐ-UBND", FileFormat::Xlsx, honest).await;
    assert_refused(answer, Code::ResourceExhausted, "content: the workbook expands to more than 64 MiB");

    // Under the total, but compressed as only a bomb is.
    let squeezed = bomb_workbook(60, None);
    let answer = publish(&mut client, "2/QĐ-UBND", FileFormat::Xlsx, squeezed).await;
    assert_refused(
        answer,
        Code::InvalidArgument,
        "content: the workbook's entry xl/worksheets/sheet1.xml is compressed",
    );

    // 300 MiB declaring 100 KB: found out after 100 KB of inflating.
    let lying = bomb_workbook(300, Some(100_000));
    let status = publish(&mut client, "2/QĐ-UBND", FileFormat::Xlsx, lying).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
    assert_eq!(fields(&status), ["content"]);
    assert!(status.message().contains("xl/worksheets/sheet1.xml"), "{}", status.message());

    assert_still_serving(&mut client, "2/QĐ-UBND").await;
    service.stop().await.unwrap();
}

#[tokio::test]
async fn csv_files_beyond_the_limits_are_refused_and_the_catalogue_keeps_serving() {
    let Some(db) = onestop_testkit::database().await else { return };
    let (service, mut client) = start(db.url()).await;

    let too_many_rows = "code,name,level,valid_from\n".to_owned() + &"01,Hà Nội,province,2008-01-01\n".repeat(100_000);
    let answer = client.load_units_csv(LoadUnitsCsvRequest { content: too_many_rows.into() }).await;
    assert_refused(answer, Code::ResourceExhausted, "content: the file has more than 100000 rows");

    let long_name = format!("day,kind,name\n2026-01-01,holiday,{}\n", "Tết ".repeat(10_000));
    let answer = client.load_calendar_csv(LoadCalendarCsvRequest { content: long_name.into() }).await;
    assert_refused(answer, Code::ResourceExhausted, "rows[2]: the cell in column C is longer than 32767 characters");

    let wide = (FILE_HEADER.join(",") + &",extra".repeat(200) + "\n").into_bytes();
    let answer = publish(&mut client, "3/QĐ-UBND", FileFormat::Csv, wide).await;
    assert_refused(answer, Code::ResourceExhausted, "rows[1]: has more than 200 columns");

    // The whole country's units, with their history, pass with room to spare.
    let units = onestop_generator::units::country(42, onestop_generator::units::VIETNAM);
    let csv = onestop_generator::units::to_csv(&units);
    let loaded = client.load_units_csv(LoadUnitsCsvRequest { content: csv.into() }).await.unwrap().into_inner();
    assert_eq!(loaded.rows as usize, units.len());
    service.stop().await.unwrap();
}
