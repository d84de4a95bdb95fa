//! The pages. Each reads what it shows from aggregation with the session's token, so that aggregation decides what
//! the office may see; a refusal becomes a plain page saying so, never a stack trace.

mod form06;
mod late;
mod overview;
mod reconciliation;
mod reporting;
mod reports;
mod trends;
mod units;

use chrono::NaiveDate;
use hyper::StatusCode;
use onestop_proto::aggregation::v1::{DisplayUnit, IndicatorResult};
use tonic::Code;

use crate::format::{count, escape, percent};
use crate::layout;
use crate::period::Choice;
use crate::server::{html, Answer, App, Query};
use crate::session::{Session, NATION};

/// What a page knows of its request.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub session: &'a Session,
    pub query: Query,
    pub period: Choice,
    /// The unit shown: the session's own unless the query names one under it.
    pub unit: String,
    /// The page's own query parameters, kept when the period changes.
    pub extra_query: Vec<(String, String)>,
    pub today: NaiveDate,
}

impl Ctx<'_> {
    /// `message` as a call made with the session's token.
    pub fn call<T>(&self, message: T) -> tonic::Request<T> {
        crate::backend::call(&self.session.token, message)
    }

    /// `path` for the same unit and period.
    pub fn link(&self, path: &str) -> String {
        format!("{path}?{}&unit={}", self.period.query(), encode(&self.unit))
    }

    /// `path` for the same unit, period and the page's own parameters, with `extra` added.
    pub fn link_with(&self, path: &str, extra: &[(&str, &str)]) -> String {
        let mut link = self.link(path);
        let own = self.extra_query.iter().filter(|(name, _)| !extra.iter().any(|(n, _)| n == name));
        for (name, value) in own.map(|(n, v)| (n.as_str(), v.as_str())).chain(extra.iter().copied()) {
            link += &format!("&{}={}", encode(name), encode(value));
        }
        link
    }

    pub fn unit_label(&self) -> String {
        match (self.unit == NATION, self.app.unit_names.get(&self.unit)) {
            (true, _) => "Cả nước".to_owned(),
            (false, Some(name)) => format!("{name} ({})", self.unit),
            (false, None) => format!("mã {}", self.unit),
        }
    }

    pub fn is_nation(&self) -> bool {
        self.unit == NATION
    }
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    BadRequest(String),
    Refused(String),
    NotFound(String),
    SignInAgain,
    Unavailable(String),
}

impl From<tonic::Status> for PageError {
    fn from(status: tonic::Status) -> PageError {
        let detail = status.message().chars().take(300).collect::<String>();
        match status.code() {
            Code::PermissionDenied => {
                PageError::Refused("Tài khoản đang đăng nhập không được xem số liệu của đơn vị này.".into())
            }
            Code::Unauthenticated => PageError::SignInAgain,
            Code::NotFound => {
                PageError::NotFound(format!("Không tìm thấy đơn vị hoặc số liệu được yêu cầu ({detail})."))
            }
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
                PageError::BadRequest(format!("Yêu cầu chưa hợp lệ: {detail}"))
            }
            _ => PageError::Unavailable(
                "Hệ thống tổng hợp tạm thời chưa trả lời được; vui lòng tải lại trang sau ít phút.".into(),
            ),
        }
    }
}

impl PageError {
    fn answer(self) -> Answer {
        let (status, title, message) = match self {
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Yêu cầu không hợp lệ", m),
            PageError::Refused(m) => (StatusCode::FORBIDDEN, "Không có quyền xem", m),
            PageError::NotFound(m) => (StatusCode::NOT_FOUND, "Không tìm thấy", m),
            PageError::SignInAgain => (
                StatusCode::UNAUTHORIZED,
                "Cần đăng nhập lại",
                "Mã đăng nhập của phiên này không còn được chấp nhận.".into(),
            ),
            PageError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, "Tạm thời chưa có số liệu", m),
        };
        let body = format!(
            "<p class=\"error\" role=\"alert\">{}</p><p><a href=\"/\">Về trang tổng quan</a> · \
             <a href=\"/sign-in\">Đăng nhập bằng mã khác</a></p>",
            escape(&message)
        );
        html(status, layout::plain(title, &body))
    }
}

pub type PageResult = Result<Answer, PageError>;

/// Routes a signed-in form: its period and unit ride in hidden fields, as the page that sent it had them.
pub async fn dispatch_form(app: &App, session: &Session, path: &str, form: Query) -> Answer {
    let ctx = match context(app, session, form) {
        Ok(ctx) => ctx,
        Err(error) => return error.answer(),
    };
    let result = match path {
        "/reports/review" => reports::review(&ctx).await,
        _ => Err(PageError::NotFound("Không có trang này.".into())),
    };
    result.unwrap_or_else(PageError::answer)
}

/// The period and unit a request asks for.
fn context<'a>(app: &'a App, session: &'a Session, query: Query) -> Result<Ctx<'a>, PageError> {
    let today = onestop_domain::today_in_vietnam(chrono::Utc::now());
    let period = Choice::from_query(&query, today).map_err(PageError::BadRequest)?;
    let unit = match query.get("unit") {
        None | Some("") => session.home_unit.clone(),
        Some(code)
            if code.len() <= 32
                && code.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')) =>
        {
            code.to_owned()
        }
        Some(_) => return Err(PageError::BadRequest("Mã đơn vị không hợp lệ.".into())),
    };
    Ok(Ctx { app, session, query, period, unit, extra_query: Vec::new(), today })
}

/// Routes a signed-in request.
pub async fn dispatch(app: &App, session: &Session, path: &str, query: Query) -> Answer {
    let mut ctx = match context(app, session, query) {
        Ok(ctx) => ctx,
        Err(error) => return error.answer(),
    };
    let result = match path {
        "/" => overview::page(&ctx).await,
        "/units" => units::page(&mut ctx).await,
        "/trends" => trends::page(&ctx).await,
        "/late" => late::page(&mut ctx).await,
        "/late/live" => late::live(&ctx).await,
        "/reporting" => reporting::page(&ctx).await,
        "/reconciliation" => reconciliation::page(&ctx).await,
        "/form06" => form06::page(&ctx).await,
        "/form06.xlsx" => form06::download(&ctx, onestop_proto::aggregation::v1::FileFormat::Xlsx).await,
        "/form06.csv" => form06::download(&ctx, onestop_proto::aggregation::v1::FileFormat::Csv).await,
        "/reports" => reports::page(&ctx).await,
        "/reports/file" => reports::download(&ctx).await,
        "/reports/view" => reports::view(&ctx).await,
        "/reports.zip" => reports::download_all(&ctx).await,
        _ => Err(PageError::NotFound("Không có trang này.".into())),
    };
    result.unwrap_or_else(PageError::answer)
}

/// The sign-in page, with why the last attempt was refused.
pub fn sign_in_page(refused: Option<&str>) -> String {
    let refused = refused.map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m))).unwrap_or_default();
    let body = format!(
        "{refused}<p>Đăng nhập bằng mã được cấp cho văn phòng (lệnh <code>onestop token issue --role province …</code> \
         in ra mã và đường dẫn đăng nhập).</p>\
         <form method=\"post\" action=\"/sign-in\" class=\"sign-in\"><label for=\"token\">Mã đăng nhập</label>\
         <textarea id=\"token\" name=\"token\" rows=\"4\" required autocomplete=\"off\" spellcheck=\"false\"></textarea>\
         <button type=\"submit\">Đăng nhập</button></form>"
    );
    layout::plain("Đăng nhập", &body)
}

/// A page for a failure with nothing more to say.
pub fn plain_error(message: &str) -> String {
    layout::plain(
        "Lỗi",
        &format!(
            "<p class=\"error\" role=\"alert\">{}</p><p><a href=\"/\">Về trang tổng quan</a></p>",
            escape(message)
        ),
    )
}

/// An indicator's value as the office reads it: a percentage, a count, or a dash with why.
pub fn value_text(r: &IndicatorResult) -> String {
    if !r.unavailable.is_empty() {
        return "—".to_owned();
    }
    match (DisplayUnit::try_from(r.display_unit), r.value) {
        (Ok(DisplayUnit::Count), _) => count(r.numerator),
        (_, Some(value)) => percent(value),
        (_, None) => "—".to_owned(),
    }
}

/// "numerator / denominator".
pub fn fraction_text(r: &IndicatorResult) -> String {
    format!("{} / {}", count(r.numerator), count(r.denominator))
}

/// The indicator's label, Vietnamese first.
pub fn label(r: &IndicatorResult) -> &str {
    if r.label_vi.is_empty() {
        &r.indicator_id
    } else {
        &r.label_vi
    }
}

/// The largest file passed on (form 06 of a province is tens of kilobytes, its reports for a period under a
/// megabyte).
const MAX_FILE_BYTES: usize = 64 << 20;

/// A file aggregation streams in pieces, as a download: `parts` gives each piece's file name and content type
/// (set on the first) and its bytes.
pub async fn streamed_file<T, S>(mut stream: S, parts: impl Fn(T) -> (String, String, Vec<u8>)) -> PageResult
where
    S: tokio_stream::Stream<Item = Result<T, tonic::Status>> + Unpin,
{
    use tokio_stream::StreamExt;
    let (mut name, mut content_type, mut bytes) = (String::new(), String::new(), Vec::new());
    while let Some(piece) = stream.next().await {
        let (piece_name, piece_type, chunk) = parts(piece?);
        if name.is_empty() {
            (name, content_type) = (piece_name, piece_type);
        }
        if bytes.len() + chunk.len() > MAX_FILE_BYTES {
            return Err(PageError::Unavailable("Tệp quá lớn để tải qua trang này.".into()));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(crate::server::download(&content_type, &name, bytes))
}

/// A table that scrolls sideways on a narrow screen, reachable by keyboard.
pub fn scrolling_table(caption: &str, head: &str, rows: &str, class: &str) -> String {
    format!(
        "<div class=\"table-wrap\" role=\"region\" aria-label=\"{caption_attr}\" tabindex=\"0\">\
         <table class=\"{class}\"><caption>{caption}</caption><thead>{head}</thead><tbody>{rows}</tbody></table></div>",
        caption_attr = escape(caption),
        caption = escape(caption),
    )
}
