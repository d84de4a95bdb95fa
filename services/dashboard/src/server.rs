//! HTTP: the accept loop, routing, and what every answer carries (security headers, the server's own time in
//! `Server-Timing`). Pages run in a task of their own, so that a failing page answers with a plain error page
//! instead of dropping the connection.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::backend::Backend;
use crate::pages;
use crate::session::{self, Lookup, Sessions};

/// What every request shares.
pub struct App {
    pub backend: Backend,
    pub sessions: Sessions,
    pub secure_cookies: bool,
    /// Units' names as answers gave them, so that every page can name its unit (names are public).
    pub unit_names: UnitNames,
}

/// Unit code → name, learnt from answers.
#[derive(Default)]
pub struct UnitNames(std::sync::Mutex<std::collections::HashMap<String, String>>);

/// Most names remembered: more units than the country has.
const MAX_UNIT_NAMES: usize = 100_000;

impl UnitNames {
    pub fn remember(&self, code: &str, name: &str) {
        if code.is_empty() || name.is_empty() {
            return;
        }
        let mut names = self.0.lock().expect("names lock");
        if names.len() < MAX_UNIT_NAMES || names.contains_key(code) {
            names.insert(code.to_owned(), name.to_owned());
        }
    }

    pub fn get(&self, code: &str) -> Option<String> {
        self.0.lock().expect("names lock").get(code).cloned()
    }
}

pub type Answer = Response<Full<Bytes>>;

/// Largest form body accepted (a sign-in token is under 2 KiB).
const MAX_FORM_BYTES: usize = 16 * 1024;

/// Scripts and styles come only from the dashboard itself; nothing is framed, nothing leaves for elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' \
     data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = include_str!("../static/app.css");
const SCRIPT: &str = include_str!("../static/app.js");

/// A parsed query string or form body.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(text: &str) -> Query {
        Query(form_urlencoded::parse(text.as_bytes()).into_owned().collect())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Serves `app` on `listener` until `shutdown`; open connections are closed with it.
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()> + Send) {
    let (stop, stopped) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "dashboard: accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (app, mut stopped) = (app.clone(), stopped.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(answer(app, request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = stopped.wait_for(|stop| *stop) => {}
            }
        });
    }
    let _ = stop.send(true);
}

/// Answers one request, in a task of its own.
async fn answer(app: Arc<App>, request: Request<Incoming>) -> Answer {
    let started = Instant::now();
    let mut response = match tokio::spawn(route(app, request)).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "dashboard: a page failed");
            html(StatusCode::INTERNAL_SERVER_ERROR, pages::plain_error("Trang gặp lỗi; vui lòng thử lại."))
        }
    };
    let headers = response.headers_mut();
    headers.insert("content-security-policy", HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let server_time = format!("app;dur={:.1}", started.elapsed().as_secs_f64() * 1000.0);
    if let Ok(value) = HeaderValue::from_str(&server_time) {
        headers.insert("server-timing", value);
    }
    response
}

async fn route(app: Arc<App>, request: Request<Incoming>) -> Answer {
    let (parts, body) = request.into_parts();
    let query = Query::parse(parts.uri.query().unwrap_or(""));
    let now = onestop_auth::now();
    match (&parts.method, parts.uri.path()) {
        (&Method::GET, "/static/app.css") => asset("text/css; charset=utf-8", STYLE),
        (&Method::GET, "/static/app.js") => asset("text/javascript; charset=utf-8", SCRIPT),
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/sign-in") => match query.get("token") {
            Some(token) => sign_in(&app, token, now),
            None => html(StatusCode::OK, pages::sign_in_page(None)),
        },
        (&Method::POST, "/sign-in") => match Limited::new(body, MAX_FORM_BYTES).collect().await {
            Ok(collected) => {
                let form = Query::parse(&String::from_utf8_lossy(&collected.to_bytes()));
                sign_in(&app, form.get("token").unwrap_or(""), now)
            }
            Err(_) => html(StatusCode::PAYLOAD_TOO_LARGE, pages::sign_in_page(Some("Mã đăng nhập quá dài."))),
        },
        (&Method::POST, "/sign-out") => {
            if let Some(id) = session::session_id(&parts.headers) {
                app.sessions.sign_out(&id);
            }
            let mut response = redirect("/sign-in");
            set_cookie(&mut response, &session::clear_cookie(app.secure_cookies));
            response
        }
        (method, path) => {
            let live = path.ends_with("/live");
            let session = match session::session_id(&parts.headers).map(|id| app.sessions.lookup(&id, now)) {
                Some(Lookup::Valid(session)) => session,
                Some(Lookup::Expired) => {
                    let mut response = html(
                        StatusCode::UNAUTHORIZED,
                        pages::sign_in_page(Some("Phiên làm việc đã hết hạn. Vui lòng đăng nhập lại.")),
                    );
                    set_cookie(&mut response, &session::clear_cookie(app.secure_cookies));
                    return response;
                }
                _ if live => return text(StatusCode::UNAUTHORIZED, "signed out\n"),
                _ => return redirect("/sign-in"),
            };
            match *method {
                Method::GET => pages::dispatch(&app, &session, path, query).await,
                Method::POST if from_elsewhere(&parts.headers) => {
                    text(StatusCode::FORBIDDEN, "a form of another site\n")
                }
                Method::POST => match Limited::new(body, MAX_FORM_BYTES).collect().await {
                    Ok(collected) => {
                        let form = Query::parse(&String::from_utf8_lossy(&collected.to_bytes()));
                        pages::dispatch_form(&app, &session, path, form).await
                    }
                    Err(_) => text(StatusCode::PAYLOAD_TOO_LARGE, "form too large\n"),
                },
                _ => text(StatusCode::METHOD_NOT_ALLOWED, "GET or POST only\n"),
            }
        }
    }
}

/// Whether a form was sent from a page of another origin. The session cookie is `SameSite=Lax`, so a browser
/// does not send it with another site's POST anyway; this refuses one that names its origin, too.
fn from_elsewhere(headers: &hyper::HeaderMap) -> bool {
    let (Some(origin), Some(host)) = (headers.get(header::ORIGIN), headers.get(header::HOST)) else {
        return false;
    };
    let origin = origin.to_str().unwrap_or("");
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    origin_host != host.to_str().unwrap_or("")
}

fn sign_in(app: &App, token: &str, now: i64) -> Answer {
    match app.sessions.sign_in(token, now) {
        Ok((id, session)) => {
            let mut response = redirect("/");
            set_cookie(&mut response, &session::set_cookie(&id, session.expires_at - now, app.secure_cookies));
            response
        }
        Err(refusal) => html(StatusCode::UNAUTHORIZED, pages::sign_in_page(Some(refusal.message()))),
    }
}

fn set_cookie(response: &mut Answer, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
}

pub fn html(status: StatusCode, body: String) -> Answer {
    respond(status, "text/html; charset=utf-8", Bytes::from(body))
}

pub fn text(status: StatusCode, body: &'static str) -> Answer {
    respond(status, "text/plain; charset=utf-8", Bytes::from_static(body.as_bytes()))
}

/// A file to download as `file_name`.
pub fn download(content_type: &str, file_name: &str, bytes: Vec<u8>) -> Answer {
    let mut response = respond(StatusCode::OK, content_type, Bytes::from(bytes));
    // The name comes from aggregation; only safe characters go into the header.
    let safe: String =
        file_name.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).take(120).collect();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Answer {
    let mut response = respond(StatusCode::OK, content_type, Bytes::from_static(body.as_bytes()));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    response
}

fn respond(status: StatusCode, content_type: &str, body: Bytes) -> Answer {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

pub fn redirect(location: &'static str) -> Answer {
    redirect_to(location)
}

/// A redirect to a path of the dashboard's own, built from an answer's parameters.
pub fn redirect_to(location: &str) -> Answer {
    let mut response = respond(StatusCode::SEE_OTHER, "text/plain; charset=utf-8", Bytes::new());
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
