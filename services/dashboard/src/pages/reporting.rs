//! Who has not reported: each center's working days of the period whose deadline has passed, reported on time,
//! late (with when they arrived) or not at all (the missing days).

use onestop_proto::aggregation::v1::GetReportingGapsRequest;

use super::{scrolling_table, Ctx, PageResult};
use crate::format::{count, date, escape, percent, timestamp};
use crate::layout;
use crate::server::html;

/// Days listed per center; the counts are always whole.
const MAX_DAYS_LISTED: usize = 31;

pub async fn page(ctx: &Ctx<'_>) -> PageResult {
    let request = GetReportingGapsRequest {
        unit_code: ctx.unit.clone(),
        reporting_period: Some(ctx.period.to_wire()),
        ..Default::default()
    };
    let answer = ctx.app.backend.aggregation().get_reporting_gaps(ctx.call(request)).await?.into_inner();
    let (mut expected, mut on_time, mut missing_centers) = (0u64, 0u64, 0usize);
    let mut rows = String::new();
    for c in &answer.centers {
        expected += u64::from(c.expected_days);
        on_time += u64::from(c.on_time_days);
        missing_centers += usize::from(!c.missing_days.is_empty());
        let share = if c.expected_days == 0 {
            "—".into()
        } else {
            percent(f64::from(c.on_time_days) / f64::from(c.expected_days))
        };
        let list = |days: Vec<String>| {
            let more = days.len().saturating_sub(MAX_DAYS_LISTED);
            let mut text: Vec<String> = days.into_iter().take(MAX_DAYS_LISTED).collect();
            if more > 0 {
                text.push(format!("và {more} ngày khác"));
            }
            if text.is_empty() {
                "—".to_owned()
            } else {
                text.join(", ")
            }
        };
        let missing = list(c.missing_days.iter().map(|d| date(d)).collect());
        let late = list(
            c.late_days
                .iter()
                .map(|l| match &l.first_pushed_at {
                    Some(at) => format!("{} (nhận {})", date(&l.day), timestamp(at)),
                    None => date(&l.day),
                })
                .collect(),
        );
        rows += &format!(
            "<tr data-center=\"{code}\"><th scope=\"row\">{name} <span class=\"muted\">({code})</span></th>\
             <td>{expected}</td><td>{on_time}</td><td>{share}</td><td class=\"{missing_class}\">{missing_count}</td>\
             <td>{missing}</td><td>{late}</td></tr>",
            code = escape(&c.center_code),
            name = escape(if c.center_name.is_empty() { &c.center_code } else { &c.center_name }),
            expected = c.expected_days,
            on_time = c.on_time_days,
            missing_class = if c.missing_days.is_empty() { "" } else { "worse" },
            missing_count = c.missing_days.len(),
            missing = escape(&missing),
            late = escape(&late),
        );
    }
    let head =
        "<tr><th scope=\"col\">Trung tâm / bộ phận một cửa</th><th scope=\"col\">Ngày làm việc phải báo cáo</th>\
                <th scope=\"col\">Báo cáo đúng hạn</th><th scope=\"col\">Tỷ lệ đúng hạn</th>\
                <th scope=\"col\">Số ngày chưa báo cáo</th><th scope=\"col\">Các ngày chưa báo cáo</th>\
                <th scope=\"col\">Các ngày báo cáo muộn</th></tr>";
    let summary = if !answer.unavailable.is_empty() {
        format!("<p class=\"error\">Chưa tính được: {}</p>", escape(&answer.unavailable))
    } else {
        let share = if expected == 0 { "—".into() } else { percent(on_time as f64 / expected as f64) };
        format!(
            "<p>Một ngày làm việc được tính là báo cáo đúng hạn khi số liệu của ngày đó đến trước hết ngày hôm sau \
             (giờ Việt Nam). Toàn đơn vị: {} / {} ngày đúng hạn ({share}); <strong>{missing_centers}</strong> trong \
             {} trung tâm còn ngày chưa báo cáo.</p>",
            count(on_time),
            count(expected),
            answer.centers.len()
        )
    };
    let body = summary + &scrolling_table("Tình hình báo cáo theo trung tâm", head, &rows, "reporting");
    Ok(html(
        hyper::StatusCode::OK,
        layout::page(ctx, "/reporting", "Tình hình báo cáo", &body, answer.freshness.as_ref()),
    ))
}
