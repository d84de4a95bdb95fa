//! Late cases: open cases overdue now and due within N working days (updated live, without a reload), and the
//! period's cases late without a notice, with a notice sent after the deadline, or rescheduled more than once;
//! each with its procedure, center and agency by name and its notices' contents.

use onestop_proto::aggregation::v1::{
    CountLateCasesRequest, DayRange, Delivery, LateCaseList, ListLateCasesRequest, MonitoredCase, OfficeApologyNotice,
};

use super::{scrolling_table, Ctx, PageError, PageResult};
use crate::format::{count, date, escape};
use crate::layout;
use crate::server::html;

/// Cases listed per list; the counts are always whole.
const PAGE: u32 = 50;
const DEFAULT_DUE_WITHIN: u32 = 3;

fn due_within(ctx: &Ctx) -> Result<u32, PageError> {
    match ctx.query.get("within") {
        None | Some("") => Ok(DEFAULT_DUE_WITHIN),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=30).contains(n))
            .ok_or_else(|| PageError::BadRequest("Số ngày làm việc sắp đến hạn phải từ 1 đến 30.".into())),
    }
}

fn period_days(ctx: &Ctx) -> DayRange {
    let (first, last) = ctx.period.days();
    DayRange { from_day: first.to_string(), to_day: last.to_string() }
}

async fn list(
    ctx: &Ctx<'_>,
    list: LateCaseList,
    within: u32,
    period: Option<DayRange>,
) -> Result<Vec<MonitoredCase>, PageError> {
    let request = ListLateCasesRequest {
        unit_code: ctx.unit.clone(),
        list: list as i32,
        due_within_working_days: within,
        period,
        page_size: PAGE,
        ..Default::default()
    };
    Ok(ctx.app.backend.aggregation().list_late_cases(ctx.call(request)).await?.into_inner().cases)
}

/// The lists that change as pushes arrive: overdue now, and due soon.
async fn live_lists(ctx: &Ctx<'_>, within: u32) -> Result<String, PageError> {
    let (overdue, soon) = tokio::join!(
        list(ctx, LateCaseList::PendingOverdue, within, None),
        list(ctx, LateCaseList::DueSoon, within, None)
    );
    let (overdue, soon) = (overdue?, soon?);
    Ok(format!(
        "{}{}",
        cases_table("overdue", "Đang quá hạn", &overdue, true),
        cases_table("due-soon", &format!("Sắp đến hạn trong {within} ngày làm việc"), &soon, true),
    ))
}

pub async fn live(ctx: &Ctx<'_>) -> PageResult {
    let within = due_within(ctx)?;
    Ok(html(hyper::StatusCode::OK, live_lists(ctx, within).await?))
}

pub async fn page(ctx: &mut Ctx<'_>) -> PageResult {
    let within = due_within(ctx)?;
    ctx.extra_query = vec![("within".into(), within.to_string())];
    let ctx = &*ctx;
    let counts_request = CountLateCasesRequest {
        unit_code: ctx.unit.clone(),
        due_within_working_days: within,
        period: Some(period_days(ctx)),
        ..Default::default()
    };
    let mut aggregation = ctx.app.backend.aggregation();
    let (counts, live, without_notice, notice_late, rescheduled) = tokio::join!(
        aggregation.count_late_cases(ctx.call(counts_request)),
        live_lists(ctx, within),
        list(ctx, LateCaseList::LateWithoutNotice, within, Some(period_days(ctx))),
        list(ctx, LateCaseList::NoticeAfterDeadline, within, Some(period_days(ctx))),
        list(ctx, LateCaseList::RescheduledMoreThanOnce, within, Some(period_days(ctx))),
    );
    let counts = counts?.into_inner();
    let total = counts.total.unwrap_or_default();
    let cards = [
        ("Đang quá hạn", total.pending_overdue),
        ("Sắp đến hạn", total.due_soon),
        ("Trễ hạn trong kỳ", total.resolved_late),
        ("Trễ hạn chưa có văn bản xin lỗi", total.late_without_notice),
        ("Xin lỗi sau thời hạn", total.notice_after_deadline),
        ("Gia hạn quá một lần", total.rescheduled_more_than_once),
    ]
    .iter()
    .map(|(label, n)| {
        format!("<div class=\"card\"><div class=\"card-value\">{}</div><div>{label}</div></div>", count(*n))
    })
    .collect::<String>();
    let live_src = ctx.link_with("/late/live", &[]);
    let body = format!(
        "<form class=\"inline\" method=\"get\" action=\"/late\"><input type=\"hidden\" name=\"unit\" value=\"{unit}\">\
         {period_inputs}<label>Sắp đến hạn trong <input name=\"within\" type=\"number\" min=\"1\" max=\"30\" value=\"{within}\"> \
         ngày làm việc</label> <button type=\"submit\">Áp dụng</button></form>\
         <div class=\"cards\">{cards}</div>\
         <section id=\"live\" data-live-src=\"{live_src}\" aria-live=\"polite\" aria-label=\"Hồ sơ đang mở, cập nhật tự động\">{live}</section>\
         <p class=\"muted\">Hai danh sách trên tự cập nhật mỗi giây khi có số liệu mới, không cần tải lại trang.</p>\
         <h2>Trong kỳ {period}</h2>{without}{late_notice}{rescheduled}",
        unit = escape(&ctx.unit),
        period_inputs = period_inputs(ctx),
        live_src = escape(&live_src),
        live = live?,
        period = escape(&ctx.period.label()),
        without = cases_table("without-notice", "Trễ hạn chưa có văn bản xin lỗi", &without_notice?, false),
        late_notice = cases_table("notice-late", "Văn bản xin lỗi gửi sau thời hạn", &notice_late?, false),
        rescheduled = cases_table("rescheduled", "Gia hạn quá một lần", &rescheduled?, false),
    );
    Ok(html(hyper::StatusCode::OK, layout::page(ctx, "/late", "Hồ sơ trễ hạn", &body, counts.freshness.as_ref())))
}

fn period_inputs(ctx: &Ctx) -> String {
    ctx.period
        .query_pairs()
        .iter()
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(value)))
        .collect()
}

fn cases_table(id: &str, title: &str, cases: &[MonitoredCase], open: bool) -> String {
    let head = format!(
        "<tr><th scope=\"col\">Mã hồ sơ</th><th scope=\"col\">Thủ tục</th><th scope=\"col\">Nơi tiếp nhận</th>\
         <th scope=\"col\">Cơ quan giải quyết</th><th scope=\"col\">Ngày nhận</th><th scope=\"col\">Hạn giải quyết</th>\
         <th scope=\"col\">Hạn mới</th><th scope=\"col\">{}</th><th scope=\"col\">Văn bản xin lỗi</th></tr>",
        if open { "Còn (ngày làm việc)" } else { "Ngày trả kết quả" }
    );
    let rows: String = cases
        .iter()
        .map(|c| {
            let name_or_code = |name: &str, code: &str| {
                if name.is_empty() {
                    escape(code)
                } else {
                    format!("{} <span class=\"muted\">({})</span>", escape(name), escape(code))
                }
            };
            let last = if open {
                c.working_days_left.to_string()
            } else if c.resolved_on.is_empty() {
                "đang giải quyết".into()
            } else {
                date(&c.resolved_on)
            };
            format!(
                "<tr data-case=\"{code}\"><th scope=\"row\">{code}</th><td>{procedure}</td><td>{center}</td><td>{agency}</td>\
                 <td>{received}</td><td>{due}</td><td>{new_due}</td><td>{last}</td><td>{notices}</td></tr>",
                code = escape(&c.case_code),
                procedure = name_or_code(&c.procedure_name, &c.procedure_code),
                center = name_or_code(&c.center_name, &c.center_code),
                agency = name_or_code(&c.resolving_agency_name, &c.resolving_agency_code),
                received = date(&c.received_on),
                due = date(&c.due_date),
                new_due = if c.current_due_date == c.due_date { "—".into() } else { date(&c.current_due_date) },
                notices = notices(&c.apology_notices),
            )
        })
        .collect();
    let empty = if cases.is_empty() { "<p class=\"muted\">Không có hồ sơ nào.</p>" } else { "" };
    // A full page lists the first cases only; the cards above give every list's whole count.
    let shown = if cases.len() as u32 >= PAGE {
        format!("{} hồ sơ đầu tiên; tổng số ở ô phía trên", cases.len())
    } else {
        format!("{} hồ sơ", cases.len())
    };
    format!(
        "<h3 id=\"{id}-title\">{} <span class=\"count\" data-list=\"{id}\">({shown})</span></h3>{empty}{}",
        escape(title),
        if cases.is_empty() { String::new() } else { scrolling_table(title, &head, &rows, &format!("cases {id}")) }
    )
}

fn notices(notices: &[OfficeApologyNotice]) -> String {
    if notices.is_empty() {
        return "<span class=\"worse\">Chưa có</span>".into();
    }
    notices
        .iter()
        .map(|n| {
            let delivery = match Delivery::try_from(n.delivery) {
                Ok(Delivery::AtCenter) => "trao tại bộ phận một cửa",
                Ok(Delivery::Electronic) => "gửi điện tử",
                Ok(Delivery::Postal) => "gửi qua bưu chính",
                _ => "chưa rõ cách gửi",
            };
            let mut findings = Vec::new();
            if n.issued_after_deadline {
                findings.push("gửi sau thời hạn");
            }
            if n.new_due_date_not_later {
                findings.push("hạn mới không muộn hơn hạn cũ");
            }
            let findings = if findings.is_empty() {
                String::new()
            } else {
                format!(" <strong class=\"worse\">{}</strong>", findings.join("; "))
            };
            format!(
                "<div class=\"notice\">Số {number}, {agency}, ngày {issued}: {reason}. Hạn {original} → {new}; {delivery}.{findings}</div>",
                number = escape(&n.notice_number),
                agency = escape(if n.issuing_agency_name.is_empty() { &n.issuing_agency_code } else { &n.issuing_agency_name }),
                issued = date(&n.issued_on),
                reason = escape(&n.reason),
                original = date(&n.original_due_date),
                new = date(&n.new_due_date),
            )
        })
        .collect()
}
