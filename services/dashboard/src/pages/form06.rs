//! Form 06 (Biểu 06/VPCP/KSTT) for the period on screen, as printed, with its XLSX and CSV files for download.

use super::{scrolling_table, streamed_file, Ctx, PageResult};
use crate::format::{count, escape};
use crate::layout;
use crate::server::html;
use onestop_proto::aggregation::v1::{ExportForm06Request, FileFormat, Form06Row, GetForm06Request};

fn request(ctx: &Ctx) -> GetForm06Request {
    GetForm06Request { unit_code: ctx.unit.clone(), reporting_period: Some(ctx.period.to_wire()), ..Default::default() }
}

pub async fn page(ctx: &Ctx<'_>) -> PageResult {
    let form = ctx.app.backend.aggregation().get_form06(ctx.call(request(ctx))).await?.into_inner();
    ctx.app.unit_names.remember(&ctx.unit, &form.reporting_unit_name);
    let definition = form.form.clone().unwrap_or_default();
    // The headings of all 13 columns, (1) and (2) included.
    let mut head = String::from("<tr>");
    for (i, heading) in form.headings.iter().enumerate() {
        head += &format!("<th scope=\"col\">({}) {}</th>", i + 1, escape(heading));
    }
    head += "</tr>";
    let row = |r: &Form06Row, class: &str| {
        let number = if r.number == 0 { String::new() } else { r.number.to_string() };
        let cells: String = r.columns.iter().map(|v| format!("<td>{}</td>", count(*v))).collect();
        let broken = if r.broken_identities.is_empty() {
            String::new()
        } else {
            format!("<div class=\"worse\">Sai đẳng thức: {}</div>", escape(&r.broken_identities.join("; ")))
        };
        format!(
            "<tr class=\"{class}\"><td>{number}</td><th scope=\"row\">{}{broken}</th>{cells}</tr>",
            escape(&r.label)
        )
    };
    let mut rows = String::new();
    if let Some(total) = &form.total {
        rows += &row(total, "total");
    }
    for section in &form.sections {
        if let Some(subtotal) = &section.subtotal {
            rows += &row(subtotal, "subtotal");
        }
        for r in &section.rows {
            rows += &row(r, "");
        }
    }
    let days = form
        .days
        .as_ref()
        .map(|d| format!("{} – {}", crate::format::date(&d.from_day), crate::format::date(&d.to_day)));
    let body = format!(
        "<p class=\"form-head\"><strong>{number}</strong> · Ban hành kèm theo {circular}<br><strong>{title}</strong><br>\
         Đơn vị báo cáo: {unit_name} · Kỳ báo cáo: {days} · Đơn vị tính: {unit_of_count}</p>\
         <p class=\"downloads\"><a class=\"button\" href=\"{xlsx}\" download>Tải về Excel (XLSX)</a> \
         <a class=\"button\" href=\"{csv}\" download>Tải về CSV</a></p>{table}",
        number = escape(&definition.form_number),
        circular = escape(&definition.circular),
        title = escape(&definition.title),
        unit_name = escape(&form.reporting_unit_name),
        days = days.unwrap_or_default(),
        unit_of_count = escape(&definition.unit_of_count),
        xlsx = escape(&ctx.link("/form06.xlsx")),
        csv = escape(&ctx.link("/form06.csv")),
        table = scrolling_table("Biểu 06", &head, &rows, "form06"),
    );
    Ok(html(
        hyper::StatusCode::OK,
        layout::page(ctx, "/form06", "Biểu 06: kết quả giải quyết TTHC", &body, form.freshness.as_ref()),
    ))
}

pub async fn download(ctx: &Ctx<'_>, format: FileFormat) -> PageResult {
    let export = ExportForm06Request { report: Some(request(ctx)), format: format as i32 };
    let stream = ctx.app.backend.aggregation().export_form06(ctx.call(export)).await?.into_inner();
    streamed_file(stream, |piece| (piece.file_name, piece.content_type, piece.chunk)).await
}
