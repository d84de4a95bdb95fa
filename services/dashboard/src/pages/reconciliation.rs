//! Late counts in the daily cells against the late case records, per center, disagreeing centers first, with the
//! days on which they disagree and the case records behind the records' side.

use onestop_proto::aggregation::v1::ReconcileLateCountsRequest;

use super::{scrolling_table, Ctx, PageResult};
use crate::format::{count, date, escape};
use crate::layout;
use crate::server::html;

/// Days shown per disagreeing center.
const MAX_DAYS_SHOWN: usize = 10;

pub async fn page(ctx: &Ctx<'_>) -> PageResult {
    let request = ReconcileLateCountsRequest {
        unit_code: ctx.unit.clone(),
        reporting_period: Some(ctx.period.to_wire()),
        by_day: true,
        ..Default::default()
    };
    let answer = ctx.app.backend.aggregation().reconcile_late_counts(ctx.call(request)).await?.into_inner();
    let disagreeing = answer.centers.iter().filter(|c| !c.agrees).count();
    let mut rows = String::new();
    for c in &answer.centers {
        let days: String = c
            .days
            .iter()
            .take(MAX_DAYS_SHOWN)
            .map(|d| {
                let codes: Vec<&str> = d
                    .resolved_late_case_codes
                    .iter()
                    .chain(&d.pending_overdue_case_codes)
                    .map(String::as_str)
                    .take(10)
                    .collect();
                format!(
                    "<li>{}: trễ hạn {} / {} hồ sơ; quá hạn {} / {} hồ sơ{}</li>",
                    date(&d.day),
                    count(d.resolved_late_in_cells),
                    count(d.resolved_late_in_records),
                    count(d.pending_overdue_in_cells),
                    count(d.pending_overdue_in_records),
                    if codes.is_empty() { String::new() } else { format!(" ({})", escape(&codes.join(", "))) }
                )
            })
            .collect();
        let days = if days.is_empty() { String::new() } else { format!("<ul class=\"days\">{days}</ul>") };
        rows += &format!(
            "<tr data-center=\"{code}\" class=\"{class}\"><th scope=\"row\">{name} <span class=\"muted\">({code})</span>{days}</th>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{verdict}</td></tr>",
            count(c.resolved_late_in_cells),
            count(c.resolved_late_in_records),
            count(c.pending_overdue_in_cells),
            count(c.pending_overdue_in_records),
            code = escape(&c.center_code),
            name = escape(if c.center_name.is_empty() { &c.center_code } else { &c.center_name }),
            class = if c.agrees { "" } else { "disagrees" },
            verdict = if c.agrees { "Khớp" } else { "<strong class=\"worse\">Lệch</strong>" },
        );
    }
    let head = "<tr><th scope=\"col\">Trung tâm (ngày lệch: số liệu ngày / hồ sơ)</th>\
                <th scope=\"col\">Trễ hạn theo số liệu ngày</th><th scope=\"col\">Trễ hạn theo hồ sơ</th>\
                <th scope=\"col\">Quá hạn cuối kỳ theo số liệu ngày</th><th scope=\"col\">Quá hạn cuối kỳ theo hồ sơ</th>\
                <th scope=\"col\">Kết quả</th></tr>";
    let body = format!(
        "<p>So sánh số hồ sơ giải quyết trễ hạn và đang quá hạn trong số liệu hằng ngày với hồ sơ trễ hạn được gửi \
         lên: <strong>{disagreeing}</strong> trong {} trung tâm lệch.</p>{}",
        answer.centers.len(),
        scrolling_table("Đối soát số hồ sơ trễ hạn", head, &rows, "reconciliation")
    );
    Ok(html(
        hyper::StatusCode::OK,
        layout::page(ctx, "/reconciliation", "Đối soát hồ sơ trễ hạn", &body, answer.freshness.as_ref()),
    ))
}
