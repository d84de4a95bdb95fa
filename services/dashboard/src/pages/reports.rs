//! Periodic reports for the period on screen: who has submitted, who has not, who is late or was returned, each
//! submitted report's files as they were submitted, and every report in one ZIP (docs/reports.md).

use super::{scrolling_table, streamed_file, Ctx, PageError, PageResult};
use crate::format::{count, date, escape, timestamp};
use crate::layout;
use crate::server::{download as file, html, redirect_to};
use onestop_auth::{Role, SCOPE_REPORT};
use onestop_proto::aggregation::v1::{
    ExportReportsRequest, GetReportRequest, ListReportsRequest, ReportStatus, ReporterKind, ReporterStatus,
    ReviewDecision, ReviewReportRequest,
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
        "<tr data-reporter=\"{code}\"><th scope=\"row\">{name} <span class=\"muted\">({code})</span></th><td>{kind}</td>\
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

/// One submitted file of one version, byte for byte as it was submitted.
pub async fn download(ctx: &Ctx<'_>) -> PageResult {
    let number = |name: &str| ctx.query.get(name).and_then(|v| v.parse::<u64>().ok()).filter(|n| *n > 0);
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
    let number = |name: &str| ctx.query.get(name).and_then(|v| v.parse::<u64>().ok()).filter(|n| *n > 0);
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
