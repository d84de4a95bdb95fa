//! The frame of every page: the skip link, the navigation, the period chooser, the page's own content and how
//! fresh its figures are.

use onestop_proto::aggregation::v1::Freshness;

use crate::format::{escape, timestamp};
use crate::pages::Ctx;
use crate::period::KINDS;

/// The pages, in the order of the navigation: path, and its name.
pub const NAVIGATION: [(&str, &str); 8] = [
    ("/", "Tổng quan"),
    ("/units", "Theo đơn vị"),
    ("/trends", "Diễn biến theo tháng"),
    ("/late", "Hồ sơ trễ hạn"),
    ("/reporting", "Tình hình báo cáo"),
    ("/reconciliation", "Đối soát"),
    ("/form06", "Biểu 06"),
    ("/reports", "Báo cáo định kỳ"),
];

/// A whole page of `ctx`'s session at `path`.
pub fn page(ctx: &Ctx, path: &str, title: &str, body: &str, freshness: Option<&Freshness>) -> String {
    let who = if ctx.session.home_unit == crate::session::NATION {
        "Cơ quan trung ương (cả nước)".to_owned()
    } else {
        format!("Văn phòng tỉnh, mã đơn vị {}", ctx.session.home_unit)
    };
    let mut nav = String::new();
    for (href, name) in NAVIGATION {
        let current = if href == path { " aria-current=\"page\"" } else { "" };
        nav += &format!("<li><a href=\"{}\"{current}>{name}</a></li>", escape(&ctx.link(href)));
    }
    let freshness = freshness.map(freshness_note).unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · {unit} · onestop</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head>\
         <body><a class=\"skip\" href=\"#main\">Bỏ qua, đến nội dung chính</a>\
         <header class=\"top\"><div class=\"brand\">onestop · Bộ phận Một cửa</div>\
         <div class=\"who\">{who_html} <form method=\"post\" action=\"/sign-out\"><button type=\"submit\">Đăng xuất</button>\
         </form></div>\
         <nav aria-label=\"Các trang\"><ul>{nav}</ul></nav></header>\
         <main id=\"main\" tabindex=\"-1\"><h1>{title}</h1>\
         <p class=\"scope\">Đơn vị: <strong>{unit}</strong> · Kỳ: <strong>{period}</strong></p>{chooser}{body}{freshness}</main>\
         <script src=\"/static/app.js\" defer></script></body></html>",
        title = escape(title),
        unit = escape(&ctx.unit_label()),
        who_html = escape(&who),
        period = escape(&ctx.period.label()),
        chooser = chooser(ctx, path),
    )
}

/// A page without a session: sign-in and errors.
pub fn plain(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · onestop</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head>\
         <body><header class=\"top\"><div class=\"brand\">onestop · Bộ phận Một cửa</div></header>\
         <main id=\"main\" class=\"narrow\"><h1>{title}</h1>{body}</main></body></html>",
        title = escape(title),
    )
}

/// The period chooser: a plain GET form, so it works by keyboard and without scripts.
fn chooser(ctx: &Ctx, path: &str) -> String {
    let p = ctx.period;
    let option = |value: &str, label: &str, selected: bool| {
        format!("<option value=\"{value}\"{}>{label}</option>", if selected { " selected" } else { "" })
    };
    let kinds = KINDS.iter().map(|(value, label, kind)| option(value, label, p.kind == *kind)).collect::<String>();
    let cuts = option("calendar", "Theo tháng dương lịch", !p.decree_09)
        + &option("decree09", "Chốt ngày 14 (Nghị định 09/2019)", p.decree_09);
    let number = if p.number > 0 { p.number.to_string() } else { String::new() };
    let extra: String = ctx
        .extra_query
        .iter()
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(name), escape(value)))
        .collect();
    format!(
        "<form class=\"chooser\" method=\"get\" action=\"{path}\" aria-label=\"Chọn kỳ báo cáo\">\
         <input type=\"hidden\" name=\"unit\" value=\"{unit}\">{extra}\
         <label>Loại kỳ <select name=\"kind\">{kinds}</select></label>\
         <label>Tháng / quý / nửa năm số <input name=\"number\" type=\"number\" min=\"1\" max=\"12\" value=\"{number}\"></label>\
         <label>Năm <input name=\"year\" type=\"number\" min=\"2000\" max=\"2100\" value=\"{year}\"></label>\
         <label>Quy tắc chốt số liệu <select name=\"cut\">{cuts}</select></label>\
         <button type=\"submit\">Xem</button></form>",
        unit = escape(&ctx.unit),
        year = p.year,
    )
}

/// Up to which change the figures are current, and when that change reached them.
pub fn freshness_note(f: &Freshness) -> String {
    let intake = match (&f.intake_cursor[..], &f.intake_applied_at) {
        ("", _) => "chưa có số liệu tiếp nhận nào".to_owned(),
        (cursor, Some(at)) => {
            format!("số liệu tiếp nhận đến thay đổi <code>{}</code>, nhận lúc {}", escape(cursor), timestamp(at))
        }
        (cursor, None) => format!("số liệu tiếp nhận đến thay đổi <code>{}</code>", escape(cursor)),
    };
    let catalogue = match &f.catalogue_applied_at {
        Some(at) => format!("danh mục đến thay đổi <code>{}</code>, nhận lúc {}", f.catalogue_cursor, timestamp(at)),
        None => format!("danh mục đến thay đổi <code>{}</code>", f.catalogue_cursor),
    };
    format!(
        "<p class=\"freshness\" data-intake-cursor=\"{}\">Độ mới: {intake}; {catalogue}.</p>",
        escape(&f.intake_cursor)
    )
}
