//! Reports sent up as one: a ZIP of a status table (`trang-thai.csv`) and every submitted report's own files,
//! byte for byte as submitted, under `<reporter code>/v<version>/`.

use std::io::Write;

use onestop_proto::aggregation::v1::{ReportFile, ReportStatus, ReporterKind, ReporterStatus};

/// One reporter's line of the status table, and its latest version's files when it submitted.
pub struct Entry {
    pub status: ReporterStatus,
    pub files: Vec<ReportFile>,
}

fn status_label(status: i32) -> &'static str {
    match ReportStatus::try_from(status) {
        Ok(ReportStatus::Submitted) => "Đã gửi, chờ duyệt",
        Ok(ReportStatus::Approved) => "Đã duyệt",
        Ok(ReportStatus::Returned) => "Bị trả lại",
        _ => "Chưa gửi",
    }
}

fn kind_label(kind: i32) -> &'static str {
    match ReporterKind::try_from(kind) {
        Ok(ReporterKind::Province) => "Tỉnh",
        Ok(ReporterKind::Agency) => "Sở, ban, ngành",
        _ => "Xã, phường",
    }
}

fn printed(timestamp: Option<&prost_types::Timestamp>) -> String {
    timestamp
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The status table as CSV (UTF-8 with a byte-order mark, as form 06's files), one line per reporter with the
/// SHA-256 of each file the ZIP holds for it.
pub fn status_csv(entries: &[Entry]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    let heading = [
        "Mã đơn vị",
        "Tên đơn vị",
        "Loại",
        "Trạng thái",
        "Phiên bản",
        "Gửi lần đầu",
        "Gửi gần nhất",
        "Hạn gửi",
        "Gửi muộn",
        "Lý do trả lại",
        "Tệp",
        "SHA-256",
    ];
    writer.write_record(heading).expect("writing to memory");
    for entry in entries {
        let s = &entry.status;
        let files: Vec<&ReportFile> = entry.files.iter().collect();
        let names = files.iter().map(|f| f.file_name.as_str()).collect::<Vec<_>>().join(" ");
        let hashes = files.iter().map(|f| f.sha256.as_str()).collect::<Vec<_>>().join(" ");
        let version = if s.version == 0 { String::new() } else { s.version.to_string() };
        writer
            .write_record([
                s.reporter_code.as_str(),
                s.reporter_name.as_str(),
                kind_label(s.reporter_kind),
                status_label(s.status),
                version.as_str(),
                printed(s.first_submitted_at.as_ref()).as_str(),
                printed(s.last_submitted_at.as_ref()).as_str(),
                s.due_day.as_str(),
                if s.late { "Có" } else { "" },
                s.return_reason.as_str(),
                names.as_str(),
                hashes.as_str(),
            ])
            .expect("writing to memory");
    }
    writer.into_inner().expect("writing to memory")
}

/// The ZIP of the status table and every file.
pub fn zip(entries: &[Entry]) -> Result<Vec<u8>, zip::result::ZipError> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("trang-thai.csv", options)?;
    zip.write_all(&status_csv(entries))?;
    for entry in entries {
        for file in &entry.files {
            let s = &entry.status;
            zip.start_file(format!("{}/v{}/{}", s.reporter_code, s.version, file.file_name), options)?;
            zip.write_all(&file.content)?;
        }
    }
    Ok(zip.finish()?.into_inner())
}
