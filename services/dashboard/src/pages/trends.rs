//! Month by month over the year of the period: online share, full-online share, on-time rate and late cases, each
//! as a chart and as a table of the same figures.

use onestop_proto::aggregation::v1::{Breakdown, GetIndicatorsRequest, IndicatorGroup, IndicatorResult};

use super::{fraction_text, scrolling_table, value_text, Ctx, PageResult};
use crate::chart::Series;
use crate::format::{count, escape};
use crate::layout;
use crate::server::html;

/// The charts: indicator, title, and whether it is drawn as its count of cases (bars) rather than its ratio.
const CHARTS: [(&str, &str, bool); 4] = [
    ("online_case_share", "Tỷ lệ hồ sơ tiếp nhận trực tuyến", false),
    ("full_online_case_share", "Tỷ lệ hồ sơ trực tuyến toàn trình", false),
    ("on_time_rate_form06", "Tỷ lệ hồ sơ giải quyết trước và đúng hạn", false),
    ("late_rate_gia_lai", "Số hồ sơ trễ hạn (giải quyết quá hạn và đang quá hạn)", true),
];

pub async fn page(ctx: &Ctx<'_>) -> PageResult {
    let year = ctx.period.year_of();
    let request = GetIndicatorsRequest {
        unit_code: ctx.unit.clone(),
        reporting_period: Some(year.to_wire()),
        breakdown: Breakdown::Month as i32,
        indicator_ids: CHARTS.iter().map(|(id, _, _)| (*id).to_owned()).collect(),
        ..Default::default()
    };
    let answer = ctx.app.backend.aggregation().get_indicators(ctx.call(request)).await?.into_inner();
    ctx.app.unit_names.remember(&ctx.unit, &answer.unit_name);
    // Reporting months after today's have no figures yet.
    let (year_now, month_now) = onestop_domain::period::month_of(ctx.today, ctx.period.cut_off());
    let this_month = format!("{year_now}-{month_now:02}");
    let months: Vec<&IndicatorGroup> = answer.groups.iter().filter(|g| g.key <= this_month).collect();
    let labels: Vec<String> = months.iter().map(|g| month_label(&g.key)).collect();
    let result = |g: &IndicatorGroup, id: &str| -> Option<IndicatorResult> {
        g.indicators.iter().find(|r| r.indicator_id == id).cloned()
    };

    let mut body = format!(
        "<p class=\"muted\">Các tháng của {} (tháng báo cáo theo quy tắc chốt số liệu đã chọn).</p><div class=\"charts\">",
        escape(&year.label())
    );
    for (n, (id, title, as_count)) in CHARTS.iter().enumerate() {
        let series = Series { id: &format!("chart-{n}"), title, labels: &labels };
        let svg = if *as_count {
            series.bars_of_counts(&months.iter().map(|g| result(g, id).map_or(0, |r| r.numerator)).collect::<Vec<_>>())
        } else {
            series.line_of_ratios(&months.iter().map(|g| result(g, id).and_then(|r| r.value)).collect::<Vec<_>>())
        };
        let mut rows = String::new();
        for (g, label) in months.iter().zip(&labels) {
            let (value, fraction) = match result(g, id) {
                Some(r) if *as_count => (count(r.numerator), fraction_text(&r)),
                Some(r) => (value_text(&r), fraction_text(&r)),
                None => ("—".into(), String::new()),
            };
            rows += &format!(
                "<tr><th scope=\"row\">{label}</th><td>{value}</td><td class=\"fraction\">{fraction}</td></tr>"
            );
        }
        let head =
            "<tr><th scope=\"col\">Tháng</th><th scope=\"col\">Giá trị</th><th scope=\"col\">Tử số / mẫu số</th></tr>";
        body += &format!(
            "<figure class=\"chart-box\" data-indicator=\"{id}\"><figcaption>{}</figcaption>{svg}\
             <details><summary>Bảng số liệu</summary>{}</details></figure>",
            escape(title),
            scrolling_table(title, head, &rows, "chart-table"),
        );
    }
    body += "</div>";
    Ok(html(
        hyper::StatusCode::OK,
        layout::page(ctx, "/trends", "Diễn biến theo tháng", &body, answer.freshness.as_ref()),
    ))
}

/// "2026-03" as "T3" (the year is the page's).
fn month_label(key: &str) -> String {
    match key.split_once('-') {
        Some((_, month)) => format!("T{}", month.trim_start_matches('0')),
        None => key.to_owned(),
    }
}
