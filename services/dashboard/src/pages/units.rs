//! The period by child unit (communes of a province, provinces of the nation): every indicator in a table sorted
//! by any of them, the unit's own centers shown as such, and the ranking by one indicator.

use onestop_proto::aggregation::v1::{Breakdown, GetIndicatorsRequest, IndicatorGroup, RankUnitsRequest};

use super::{fraction_text, label, scrolling_table, value_text, Ctx, PageError, PageResult};
use crate::format::escape;
use crate::layout;
use crate::server::html;

/// The indicator ranked and sorted by when the query names none.
const DEFAULT_INDICATOR: &str = "on_time_rate_766";

pub async fn page(ctx: &mut Ctx<'_>) -> PageResult {
    let sort = ctx.query.get("sort").unwrap_or(DEFAULT_INDICATOR).to_owned();
    let descending = ctx.query.get("dir") != Some("asc");
    if sort.len() > 64 || !sort.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(PageError::BadRequest("Chỉ tiêu sắp xếp không hợp lệ.".into()));
    }
    ctx.extra_query =
        vec![("sort".into(), sort.clone()), ("dir".into(), if descending { "desc" } else { "asc" }.into())];
    let ctx = &*ctx;
    let mut aggregation = ctx.app.backend.aggregation();
    let mut ranking = ctx.app.backend.aggregation();
    let indicators = GetIndicatorsRequest {
        unit_code: ctx.unit.clone(),
        reporting_period: Some(ctx.period.to_wire()),
        breakdown: Breakdown::ChildUnit as i32,
        ..Default::default()
    };
    let rank = RankUnitsRequest {
        unit_code: ctx.unit.clone(),
        reporting_period: Some(ctx.period.to_wire()),
        indicator_id: sort.clone(),
        ..Default::default()
    };
    let (answer, ranked) =
        tokio::join!(aggregation.get_indicators(ctx.call(indicators)), ranking.rank_units(ctx.call(rank)));
    let answer = answer?.into_inner();
    let ranked = ranked?.into_inner();
    ctx.app.unit_names.remember(&ctx.unit, &answer.unit_name);
    for group in answer.groups.iter().filter(|g| g.key != ctx.unit) {
        ctx.app.unit_names.remember(&group.key, &group.name);
    }

    // Columns: the indicators, in the service's order.
    let columns: Vec<(&str, &str)> = answer.indicators.iter().map(|r| (r.indicator_id.as_str(), label(r))).collect();
    if !columns.iter().any(|(id, _)| *id == sort) {
        return Err(PageError::BadRequest(format!("Không có chỉ tiêu {sort}.")));
    }
    let mut head = String::from("<tr><th scope=\"col\">Đơn vị</th>");
    for (id, name) in &columns {
        let (aria, next, arrow) = match (*id == sort, descending) {
            (true, true) => (" aria-sort=\"descending\"", "asc", " ▼"),
            (true, false) => (" aria-sort=\"ascending\"", "desc", " ▲"),
            (false, _) => ("", "desc", ""),
        };
        let href = ctx.link_with("/units", &[("sort", id), ("dir", next)]);
        head += &format!(
            "<th scope=\"col\"{aria}><a href=\"{}\" title=\"Sắp xếp theo chỉ tiêu này\">{}{arrow}</a></th>",
            escape(&href),
            escape(name)
        );
    }
    head += "</tr>";

    let value_of = |g: &IndicatorGroup| g.indicators.iter().find(|r| r.indicator_id == sort).and_then(|r| r.value);
    let mut groups: Vec<&IndicatorGroup> = answer.groups.iter().collect();
    groups.sort_by(|a, b| {
        // Units without a value go last either way.
        match (value_of(a), value_of(b)) {
            (Some(x), Some(y)) if descending => y.total_cmp(&x),
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then_with(|| a.key.cmp(&b.key))
    });
    let mut rows = String::new();
    for g in groups {
        // The unit's own centers form a group under the unit's own code: the provincial center, for a province.
        let name = if g.key == ctx.unit {
            format!(
                "{} <span class=\"tag\">Trung tâm cấp tỉnh / trực thuộc đơn vị</span>",
                escape(if g.name.is_empty() { "Các trung tâm của chính đơn vị" } else { &g.name })
            )
        } else {
            escape(if g.name.is_empty() { &g.key } else { &g.name })
        };
        rows += &format!("<tr data-unit=\"{}\"><th scope=\"row\">{name}</th>", escape(&g.key));
        for (id, _) in &columns {
            match g.indicators.iter().find(|r| r.indicator_id == *id) {
                Some(r) => {
                    rows += &format!(
                        "<td title=\"{}\" data-indicator=\"{}\">{}</td>",
                        fraction_text(r),
                        escape(id),
                        value_text(r)
                    )
                }
                None => rows += "<td>—</td>",
            }
        }
        rows += "</tr>";
    }

    let sort_label = columns.iter().find(|(id, _)| *id == sort).map(|(_, l)| *l).unwrap_or(&sort);
    let mut ranking_rows = String::new();
    for u in &ranked.units {
        let (value, fraction) = u.result.as_ref().map(|r| (value_text(r), fraction_text(r))).unwrap_or_default();
        ranking_rows += &format!(
            "<tr><td>{}</td><th scope=\"row\">{}</th><td>{value}</td><td class=\"fraction\">{fraction}</td></tr>",
            u.rank,
            escape(if u.unit_name.is_empty() { &u.unit_code } else { &u.unit_name }),
        );
    }
    let ranking_head = "<tr><th scope=\"col\">Hạng</th><th scope=\"col\">Đơn vị</th><th scope=\"col\">Giá trị</th>\
                        <th scope=\"col\">Tử số / mẫu số</th></tr>";
    let children = if ctx.is_nation() { "tỉnh, thành phố" } else { "xã, phường và trung tâm cấp tỉnh" };
    let body = format!(
        "<p class=\"muted\">Mỗi dòng là một {children}; bấm tiêu đề cột để sắp xếp. Di chuột lên giá trị để xem tử số \
         và mẫu số.</p>{}<h2>Xếp hạng theo: {}</h2>{}",
        scrolling_table("Chỉ tiêu theo đơn vị", &head, &rows, "by-unit"),
        escape(sort_label),
        scrolling_table("Xếp hạng", ranking_head, &ranking_rows, "ranking"),
    );
    Ok(html(
        hyper::StatusCode::OK,
        layout::page(ctx, "/units", "Chỉ tiêu theo đơn vị", &body, answer.freshness.as_ref()),
    ))
}
