//! The headline indicators of the period: values as percentages with numerator and denominator beside them,
//! targets, Decision 766 points, and the change from the period before.

use std::collections::HashMap;

use onestop_proto::aggregation::v1::{GetIndicatorsRequest, IndicatorResult};

use super::{fraction_text, label, scrolling_table, value_text, Ctx, PageResult};
use crate::format::{decimal, escape, percent, points_change};
use crate::layout;
use crate::server::html;

pub fn request(ctx: &Ctx, period: crate::period::Choice) -> GetIndicatorsRequest {
    GetIndicatorsRequest { unit_code: ctx.unit.clone(), reporting_period: Some(period.to_wire()), ..Default::default() }
}

pub async fn page(ctx: &Ctx<'_>) -> PageResult {
    let mut aggregation = ctx.app.backend.aggregation();
    let mut before = ctx.app.backend.aggregation();
    let (now, previous) = tokio::join!(
        aggregation.get_indicators(ctx.call(request(ctx, ctx.period))),
        before.get_indicators(ctx.call(request(ctx, ctx.period.previous()))),
    );
    let now = now?.into_inner();
    ctx.app.unit_names.remember(&ctx.unit, &now.unit_name);
    // The period before may lack a calendar or any data: the change is then not shown.
    let previous: HashMap<String, IndicatorResult> = previous
        .map(|r| r.into_inner().indicators.into_iter().map(|i| (i.indicator_id.clone(), i)).collect())
        .unwrap_or_default();

    let head = "<tr><th scope=\"col\">Chỉ tiêu</th><th scope=\"col\">Giá trị</th><th scope=\"col\">Tử số / mẫu số</th>\
                <th scope=\"col\">Mục tiêu</th><th scope=\"col\">Điểm (QĐ 766)</th>\
                <th scope=\"col\">So với kỳ trước</th></tr>";
    let mut rows = String::new();
    for r in &now.indicators {
        let target = r.target.map(percent).unwrap_or_else(|| "—".into());
        let score = r.score.map(|s| decimal(s, 2)).unwrap_or_else(|| "—".into());
        let change = match (r.value, previous.get(&r.indicator_id).and_then(|p| p.value)) {
            (Some(v), Some(p)) => {
                let better = if r.lower_is_better { v < p } else { v > p };
                let class = if v == p {
                    "same"
                } else if better {
                    "better"
                } else {
                    "worse"
                };
                format!(
                    "<span class=\"{class}\">{}</span> <span class=\"muted\">(kỳ trước {})</span>",
                    points_change(v - p),
                    percent(p)
                )
            }
            _ => "—".into(),
        };
        let why = if r.unavailable.is_empty() {
            String::new()
        } else {
            format!("<div class=\"muted\">{}</div>", escape(&r.unavailable))
        };
        rows += &format!(
            "<tr data-indicator=\"{id}\"><th scope=\"row\">{label}{why}</th>\
             <td class=\"value\" title=\"{fraction}\">{value}</td><td class=\"fraction\">{fraction}</td>\
             <td>{target}</td><td>{score}</td><td>{change}</td></tr>",
            id = escape(&r.indicator_id),
            label = escape(label(r)),
            fraction = fraction_text(r),
            value = value_text(r),
        );
    }
    let days =
        now.days.as_ref().map(|d| format!("{} – {}", crate::format::date(&d.from_day), crate::format::date(&d.to_day)));
    let body = format!(
        "<p class=\"muted\">Từ ngày {}; {} trung tâm, bộ phận một cửa. Tỷ lệ tính từ tổng tử số và tổng mẫu số.</p>{}",
        days.unwrap_or_default(),
        now.center_codes.len(),
        scrolling_table("Các chỉ tiêu của kỳ", head, &rows, "indicators"),
    );
    Ok(html(hyper::StatusCode::OK, layout::page(ctx, "/", "Tổng quan các chỉ tiêu", &body, now.freshness.as_ref())))
}
