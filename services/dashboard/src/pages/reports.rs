//! Periodic reports for the period on screen: who has submitted, who has not, who is late or was returned, each
//! submitted report's files as they were submitted, and every report in one ZIP (docs/reports.md).

use super::{scrolling_table, streamed_file, Ctx, PageError, PageResult};
use crate::format::{count, date, escape, timestamp};
use crate::layout;
use crate::server::{download as file, html, redirect_to};
use onestop_auth::{Role, SCOPE_REPORT};
use onestop_proto::aggregation::v1::{
    CompareReportRequest, ExportReportsRequest, GetReportRequest, ListReportsRequest, ReportStatus, ReporterKind,
    ReporterStatus, ReviewDecision, ReviewReportRequest,
};
use tonic::Code;

fn status_text(status: i32) -> (&'static str, &'static str) {
    match ReportStatus::try_from(status) {
        Ok(ReportStatus::Submitted) => ("Đã gửi, chờ duyệt", ""),
        Ok(ReportStatus::Approved) => ("Đã duyệt", "better"),
        Ok(ReportStatus::Returned) => ("Bị trả lại", "worse"),
        _ => ("Chưa gửi", "worse"),
    }
}

fn kind_text(kind: i32) -> &'static str {
    match ReporterKind::try_from(kind) {
        Ok(ReporterKind::Province) => "Tỉnh",
        Ok(ReporterKind::Agency) => "Sở, ban, ngành",
        _ => "Xã, phường",
    }
}

/// Longest reason for returning a report the form takes (aggregation's own limit).
const MAX_REASON_CHARS: usize = 2_000;

/// Whether the session reviews `r`'s report now: it awaits review, and the session is its province's office (for a
/// commune or department) or a national reader (for a province), with the `report` scope.
fn reviews(ctx: &Ctx, r: &ReporterStatus) -> bool {
    let principal = &ctx.session.principal;
    let reviewer = match principal.role {
        Role::Province => r.reporter_kind != ReporterKind::Province as i32,
        Role::National => r.reporter_kind == ReporterKind::Province as i32,
        _ => false,
    };
    reviewer && principal.has_scope(SCOPE_REPORT) && r.status == ReportStatus::Submitted as i32
}

/// Approve, or return with a reason: a form that posts the period and unit on screen with the version reviewed.
fn review_form(ctx: &Ctx, r: &ReporterStatus) -> String {
    let hidden: String = ctx
        .period
        .query_pairs()
        .into_iter()
        .chain([("unit", ctx.unit.clone()), ("report", r.report_id.to_string()), ("version", r.version.to_string())])
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(&value)))
        .collect();
    format!(
        "<form method=\"post\" action=\"/reports/review\" class=\"review\">{hidden}\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Duyệt</button>\
         <label>Lý do trả lại <input name=\"reason\" maxlength=\"{MAX_REASON_CHARS}\"></label>\
         <button type=\"submit\" name=\"decision\" value=\"return\">Trả lại</button></form>"
    )
}

fn row(ctx: &Ctx, r: &ReporterStatus) -> String {
    let (status, class) = status_text(r.status);
    let review = if reviews(ctx, r) { review_form(ctx, r) } else { String::new() };
    let view = if r.version == 0 {
        String::new()
    } else {
        let link = ctx.link_with("/reports/view", &[("report", &r.report_id.to_string())]);
        format!("<br><a href=\"{}\">Xem báo cáo và cập nhật sau khi gửi</a>", escape(&link))
    };
    let files = if r.version == 0 {
        "—".to_owned()
    } else {
        let link = |format: &str| {
            escape(&ctx.link_with(
                "/reports/file",
                &[("report", &r.report_id.to_string()), ("version", &r.version.to_string()), ("format", format)],
            ))
        };
        format!("<a href=\"{}\" download>XLSX</a> · <a href=\"{}\" download>CSV</a>", link("xlsx"), link("csv"))
    };
    let submitted = r.first_submitted_at.as_ref().map(timestamp).unwrap_or_else(|| "—".into());
    format!(
        "<tr data-reporter=\"{code}\"><th scope=\"row\">{name} <span class=\"muted\">({code})</span>{view}</th><td>{kind}</td>\
         <td class=\"{class}\">{status}</td><td>{version}</td><td>{submitted}</td><td>{due}</td>\
         <td class=\"{late_class}\">{late}</td><td>{reason}</td><td>{files}</td><td>{review}</td></tr>",
        code = escape(&r.reporter_code),
        name = escape(if r.reporter_name.is_empty() { &r.reporter_code } else { &r.reporter_name }),
        kind = kind_text(r.reporter_kind),
        version = if r.version == 0 { "—".to_owned() } else { r.version.to_string() },
        due = date(&r.due_day),
        late_class = if r.late { "worse" } else { "" },
        late = if r.late { "Muộn" } else { "" },
        reason = escape(&r.return_reason),
    )
}

pub async fn page(ctx: &Ctx<'_>) -> PageResult {
    let request = ListReportsRequest {
        unit_code: ctx.unit.clone(),
        reporting_period: Some(ctx.period.to_wire()),
        include_figures: false,
    };
    let answer = ctx.app.backend.aggregation().list_reports(ctx.call(request)).await?.into_inner();
    let submitted = |r: &&ReporterStatus| r.status != ReportStatus::NotSubmitted as i32;
    let returned = |r: &&ReporterStatus| r.status == ReportStatus::Returned as i32;
    let reporters = &answer.reporters;
    let summary = format!(
        "<p>Đã gửi: <strong>{}</strong> / {} đơn vị; chưa gửi: <strong>{}</strong>; gửi muộn hoặc quá hạn chưa gửi: \
         <strong>{}</strong>; bị trả lại: <strong>{}</strong>. Hạn gửi tính từ ngày cuối kỳ theo cấu hình của tỉnh \
         (mặc định theo Nghị định 09/2019/NĐ-CP: xã và sở, ngành ngày 16, tỉnh ngày 20).</p>",
        count(reporters.iter().filter(submitted).count() as u64),
        count(reporters.len() as u64),
        count(reporters.iter().filter(|r| !submitted(r)).count() as u64),
        count(reporters.iter().filter(|r| r.late).count() as u64),
        count(reporters.iter().filter(returned).count() as u64),
    );
    let own = answer
        .own
        .as_ref()
        .map(|own| {
            let (status, class) = status_text(own.status);
            format!(
                "<p>Báo cáo của tỉnh: <strong class=\"{class}\">{status}</strong>, hạn gửi {}.</p>",
                date(&own.due_day)
            )
        })
        .unwrap_or_default();
    let head = "<tr><th scope=\"col\">Đơn vị</th><th scope=\"col\">Loại</th><th scope=\"col\">Trạng thái</th>\
                <th scope=\"col\">Phiên bản</th><th scope=\"col\">Gửi lần đầu</th><th scope=\"col\">Hạn gửi</th>\
                <th scope=\"col\">Muộn</th><th scope=\"col\">Lý do trả lại</th><th scope=\"col\">Tệp đã gửi</th>\
                <th scope=\"col\">Duyệt</th></tr>";
    let rows: String = answer.own.iter().chain(reporters).map(|r| row(ctx, r)).collect();
    let body = format!(
        "{own}{summary}<p class=\"downloads\"><a class=\"button\" href=\"{zip}\" download>Tải tất cả báo cáo (ZIP)</a></p>{table}",
        zip = escape(&ctx.link("/reports.zip")),
        table = scrolling_table("Báo cáo định kỳ theo đơn vị", head, &rows, "reports"),
    );
    Ok(html(hyper::StatusCode::OK, layout::page(ctx, "/reports", "Báo cáo định kỳ", &body, None)))
}

/// The query's number `name`, when it is one above zero (a report's id, a version).
fn positive(ctx: &Ctx, name: &str) -> Option<u64> {
    ctx.query.get(name).and_then(|v| v.parse::<u64>().ok()).filter(|n| *n > 0)
}

/// One submitted file of one version, byte for byte as it was submitted.
pub async fn download(ctx: &Ctx<'_>) -> PageResult {
    let number = |name: &str| positive(ctx, name);
    let (Some(report_id), Some(version)) = (number("report"), number("version")) else {
        return Err(PageError::BadRequest("Thiếu mã báo cáo hoặc phiên bản.".into()));
    };
    let Ok(version) = u32::try_from(version) else {
        return Err(PageError::BadRequest("Phiên bản không hợp lệ.".into()));
    };
    let request = GetReportRequest { report_id, version, include_file_contents: true };
    let report = ctx.app.backend.aggregation().get_report(ctx.call(request)).await?.into_inner().report;
    let report = report.ok_or_else(|| PageError::NotFound("Không tìm thấy báo cáo.".into()))?;
    let stored = match ctx.query.get("format") {
        Some("csv") => report.csv,
        Some("xlsx") => report.xlsx,
        _ => return Err(PageError::BadRequest("Định dạng tệp phải là csv hoặc xlsx.".into())),
    };
    let stored = stored.ok_or_else(|| PageError::NotFound("Báo cáo không có tệp này.".into()))?;
    Ok(file(&stored.content_type, &stored.file_name, stored.content))
}

/// Every report under the unit for the period, as one ZIP.
pub async fn download_all(ctx: &Ctx<'_>) -> PageResult {
    let request = ExportReportsRequest { unit_code: ctx.unit.clone(), reporting_period: Some(ctx.period.to_wire()) };
    let stream = ctx.app.backend.aggregation().export_reports(ctx.call(request)).await?.into_inner();
    streamed_file(stream, |piece| (piece.file_name, piece.content_type, piece.chunk)).await
}

/// Approves or returns a report from the page's form, then shows the page again.
pub async fn review(ctx: &Ctx<'_>) -> PageResult {
    let number = |name: &str| positive(ctx, name);
    let (Some(report_id), Some(version)) = (number("report"), number("version").and_then(|v| u32::try_from(v).ok()))
    else {
        return Err(PageError::BadRequest("Thiếu mã báo cáo hoặc phiên bản.".into()));
    };
    let reason = ctx.query.get("reason").unwrap_or("").trim().to_owned();
    let decision = match ctx.query.get("decision") {
        Some("approve") => ReviewDecision::Approve,
        Some("return") if reason.is_empty() => {
            return Err(PageError::BadRequest("Trả lại báo cáo cần ghi lý do.".into()));
        }
        Some("return") => ReviewDecision::Return,
        _ => return Err(PageError::BadRequest("Chọn duyệt hoặc trả lại.".into())),
    };
    let request = ReviewReportRequest { report_id, version, decision: decision as i32, reason };
    match ctx.app.backend.aggregation().review_report(ctx.call(request)).await {
        Ok(_) => Ok(redirect_to(&ctx.link("/reports"))),
        Err(status) if status.code() == Code::PermissionDenied => Err(PageError::Refused(
            "Tài khoản đang đăng nhập không được duyệt báo cáo này (cần quyền duyệt của cấp trên trực tiếp).".into(),
        )),
        Err(status) => Err(status.into()),
    }
}

/// A measure of the daily cells as the office reads it.
fn measure_label(measure: &str) -> &str {
    match measure {
        "received_direct" => "Tiếp nhận trực tiếp",
        "received_online" => "Tiếp nhận trực tuyến",
        "received_postal" => "Tiếp nhận qua bưu chính",
        "resolved_early" => "Giải quyết trước hạn",
        "resolved_on_time" => "Giải quyết đúng hạn",
        "resolved_late" => "Giải quyết quá hạn",
        "withdrawn_or_returned" => "Rút hoặc trả lại hồ sơ",
        "results_returned_by_post" => "Trả kết quả qua bưu chính",
        "apology_notices_issued" => "Văn bản xin lỗi",
        "pending_in_time" => "Đang giải quyết trong hạn",
        "pending_overdue" => "Đang giải quyết quá hạn",
        other => other,
    }
}

/// One report's version as submitted, and what changed since: form 06 cells and indicators that moved, and the
/// pushes behind them.
pub async fn view(ctx: &Ctx<'_>) -> PageResult {
    let number = |name: &str| positive(ctx, name);
    let Some(report_id) = number("report") else {
        return Err(PageError::BadRequest("Thiếu mã báo cáo.".into()));
    };
    let version = number("version").and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
    let mut aggregation = ctx.app.backend.aggregation();
    let request = GetReportRequest { report_id, version, include_file_contents: false };
    let answer = aggregation.get_report(ctx.call(request)).await?.into_inner();
    let report = answer.report.ok_or_else(|| PageError::NotFound("Không tìm thấy báo cáo.".into()))?;
    let request = CompareReportRequest { report_id, version: report.version, max_corrections: 200 };
    let compared = aggregation.compare_report(ctx.call(request)).await?.into_inner();

    let (status, class) = status_text(report.status);
    let submitted_at = report.submitted_at.as_ref().map(timestamp).unwrap_or_default();
    let mut head = format!(
        "<p><strong>{name}</strong> ({code}, {kind}) · phiên bản {version} · <span class=\"{class}\">{status}</span> · \
         gửi lúc {submitted_at} bởi {by} · hạn gửi {due}{late}</p>",
        name = escape(&report.reporter_name),
        code = escape(&report.reporter_code),
        kind = kind_text(report.reporter_kind),
        version = report.version,
        by = escape(&report.submitted_by),
        due = date(&report.due_day),
        late = if report.late { " · <span class=\"worse\">gửi muộn</span>" } else { "" },
    );
    if !report.return_reason.is_empty() {
        head += &format!("<p>Lý do trả lại: {}</p>", escape(&report.return_reason));
    }
    head += &format!(
        "<p>Số liệu hồ sơ trễ hạn tính đến ngày {}; tỷ lệ báo cáo đúng hạn tính đến ngày {}.</p>",
        date(&report.late_cases_as_of_day),
        date(&report.completeness_through_day)
    );
    let versions: Vec<String> = answer
        .history
        .iter()
        .map(|v| {
            let link = ctx
                .link_with("/reports/view", &[("report", &report_id.to_string()), ("version", &v.version.to_string())]);
            format!("<a href=\"{}\">phiên bản {}</a> ({})", escape(&link), v.version, status_text(v.status).0)
        })
        .collect();
    head += &format!("<p>Các phiên bản: {}</p>", versions.join(" · "));

    let labels: std::collections::HashMap<&str, &str> = report
        .indicators
        .iter()
        .flat_map(|i| &i.indicators)
        .map(|r| (r.indicator_id.as_str(), super::label(r)))
        .collect();
    let mut rows = String::new();
    for d in &compared.form06 {
        let label = if d.level.is_empty() { "Tổng cộng" } else { d.label.as_str() };
        rows += &format!(
            "<tr><th scope=\"row\">{}</th><td>({})</td><td>{}</td><td>{}</td></tr>",
            escape(label),
            d.column,
            count(d.submitted),
            count(d.current)
        );
    }
    for d in &compared.indicators {
        rows += &format!(
            "<tr><th scope=\"row\">{}</th><td>chỉ số</td><td>{} / {}</td><td>{} / {}</td></tr>",
            escape(labels.get(d.indicator_id.as_str()).copied().unwrap_or(&d.indicator_id)),
            count(d.submitted_numerator),
            count(d.submitted_denominator),
            count(d.current_numerator),
            count(d.current_denominator)
        );
    }
    let differences = if rows.is_empty() {
        "<p class=\"better\">Số liệu hiện nay không khác số liệu đã gửi.</p>".to_owned()
    } else {
        let head = "<tr><th scope=\"col\">Dòng của Biểu 06 / chỉ số</th><th scope=\"col\">Cột</th>\
                    <th scope=\"col\">Đã gửi</th><th scope=\"col\">Hiện nay</th></tr>";
        scrolling_table("Khác biệt giữa số liệu đã gửi và hiện nay", head, &rows, "differences")
    };
    let mut rows = String::new();
    for c in &compared.corrections {
        let changes: Vec<String> = c
            .changes
            .iter()
            .map(|m| format!("{}: {} → {}", measure_label(&m.measure), count(m.before), count(m.after)))
            .collect();
        rows += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            date(&c.day),
            escape(&c.center_code),
            escape(&c.procedure_code),
            escape(&c.sender),
            c.changed_at.as_ref().map(timestamp).unwrap_or_default(),
            escape(&changes.join("; "))
        );
    }
    let corrections = format!(
        "<p>{} lần cập nhật số liệu sau khi gửi{}.</p>{}",
        count(compared.corrections_total),
        if compared.corrections_total > compared.corrections.len() as u64 {
            format!(", hiển thị {} lần đầu", compared.corrections.len())
        } else {
            String::new()
        },
        if rows.is_empty() {
            String::new()
        } else {
            let head = "<tr><th scope=\"col\">Ngày</th><th scope=\"col\">Trung tâm</th><th scope=\"col\">Thủ tục</th>\
                        <th scope=\"col\">Hệ thống gửi</th><th scope=\"col\">Lúc</th><th scope=\"col\">Thay đổi</th></tr>";
            scrolling_table("Các lần cập nhật sau khi gửi", head, &rows, "corrections")
        }
    );
    let files = [&report.xlsx, &report.csv]
        .into_iter()
        .flatten()
        .map(|f| {
            let format = if f.file_name.ends_with(".csv") { "csv" } else { "xlsx" };
            let link = ctx.link_with(
                "/reports/file",
                &[("report", &report_id.to_string()), ("version", &report.version.to_string()), ("format", format)],
            );
            format!(
                "<a class=\"button\" href=\"{}\" download>{}</a> <span class=\"muted\">SHA-256 {}</span>",
                escape(&link),
                escape(&f.file_name),
                escape(&f.sha256)
            )
        })
        .collect::<Vec<_>>()
        .join("<br>");
    let body = format!(
        "{head}<p class=\"downloads\">{files}</p><h2>Khác biệt so với số liệu hiện nay</h2>{differences}\
         <h2>Cập nhật sau khi gửi</h2>{corrections}"
    );
    Ok(html(
        hyper::StatusCode::OK,
        layout::page(ctx, "/reports", "Báo cáo định kỳ đã gửi", &body, report.freshness.as_ref()),
    ))
}
