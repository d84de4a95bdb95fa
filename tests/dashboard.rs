//! The provincial office's dashboard over the real services. Over plain HTTP: sign-in with a province's token
//! (an HttpOnly, SameSite session cookie), the figures of its pages against GetIndicators' for the same period,
//! another province refused, wrong, expired and software credentials, session expiry and sign-out, form 06's
//! downloads. In headless Chromium: the same figures as rendered, a case pushed overdue appearing on the open
//! late-case page within two seconds without a reload, the form 06 download opening as XLSX, keyboard use,
//! labelled charts and tables, and phone width.

use std::io::Cursor;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use calamine::{Reader, Xlsx};
use chrono::{Datelike, Days, TimeZone, Utc};
use onestop_auth::{claims, Role, SCOPE_READ};
use onestop_dashboard::format::count;
use onestop_dashboard::pages::{fraction_text, value_text};
use onestop_local::dashboard::{office_token, Dashboard};
use onestop_proto::aggregation::v1::*;
use onestop_proto::catalogue::v1::{AdministrativeUnit, LoadCalendarCsvRequest, UnitLevel, UpsertUnitsRequest};
use onestop_proto::intake::v1::{CaseRecord, CaseStatus, Channel, PushCasesRequest, PushCellsRequest};
use onestop_server::auth::Credentials;
use onestop_server::client;
use onestop_system_tests::model::random_cells;
use onestop_system_tests::*;
use onestop_testkit::browser::Browser;
use onestop_testkit::http;
use serde_json::json;

const OTHER_PROVINCE: &str = "47";
/// The pages' period: March 2026, in the query the dashboard's period chooser writes.
const MARCH: &str = "kind=month&year=2026&number=3&cut=calendar";

struct Setup {
    system: TestSystem,
    dashboard: Dashboard,
}

impl Setup {
    /// The fixture province with a month of cells, a second province, and the dashboard beside them.
    async fn start() -> Option<Setup> {
        let system = TestSystem::start_with_province().await?;
        let mut catalogue = system.stack.catalogue_client();
        let other = AdministrativeUnit {
            code: OTHER_PROVINCE.into(),
            name: "Tỉnh khác".into(),
            level: UnitLevel::Province as i32,
            valid_from: "2025-07-01".into(),
            ..Default::default()
        };
        catalogue.upsert_units(UpsertUnitsRequest { units: vec![other] }).await.unwrap();
        // Today's calendar too, so that open cases are judged on today's working days.
        let year = onestop_domain::today_in_vietnam(Utc::now()).year();
        let calendar = onestop_generator::calendar::to_csv([year - 1, year, year + 1]);
        catalogue.load_calendar_csv(LoadCalendarCsvRequest { content: calendar.into_bytes() }).await.unwrap();
        let cells = random_cells(
            16,
            &[COMMUNE_CENTER, PROVINCIAL_CENTER],
            &[FULL_PROCEDURE, PARTIAL_PROCEDURE, OFFLINE_PROCEDURE],
            "2026-03-01",
            31,
        );
        let pushed = system
            .stack
            .intake_client()
            .push_cells(PushCellsRequest { sender: "egov".into(), cells, ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        // Wait until aggregation has the cells.
        let mut aggregation = system.stack.aggregation_client();
        let request = GetIndicatorsRequest {
            unit_code: PROVINCE.into(),
            reporting_period: Some(march()),
            min_intake_cursor: pushed.cursor,
            ..Default::default()
        };
        aggregation.get_indicators(request).await.unwrap();
        let dashboard = Dashboard::start(&system.stack, SocketAddr::from(([127, 0, 0, 1], 0)), None).await.unwrap();
        Some(Setup { system, dashboard })
    }

    fn office_token(&self) -> String {
        office_token(&self.system.stack, PROVINCE, 1)
    }

    /// Signs in with `token` over plain HTTP, returning the `Cookie` header to send.
    async fn sign_in(&self, token: &str) -> String {
        let answer = http::get(self.dashboard.addr, &format!("/sign-in?token={token}"), &[]).await.unwrap();
        assert_eq!(answer.status, 303, "{}", answer.text());
        assert_eq!(answer.header("location"), Some("/"));
        let cookie = answer.header("set-cookie").expect("a session cookie").to_owned();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        cookie.split(';').next().unwrap().to_owned()
    }

    async fn get(&self, path: &str, cookie: &str) -> http::Answer {
        http::get(self.dashboard.addr, path, &[("cookie", cookie)]).await.unwrap()
    }

    /// Aggregation, called as the province's office.
    fn office_aggregation(&self) -> client::AggregationClient {
        let credentials = Credentials::token(self.office_token());
        client::aggregation(&self.system.stack.aggregation_url(), None, &credentials).unwrap()
    }

    /// GetIndicators for March as the province's office.
    async fn indicators(&self, breakdown: Breakdown) -> GetIndicatorsResponse {
        let mut aggregation = self.office_aggregation();
        let request = GetIndicatorsRequest {
            unit_code: PROVINCE.into(),
            reporting_period: Some(march()),
            breakdown: breakdown as i32,
            ..Default::default()
        };
        aggregation.get_indicators(request).await.unwrap().into_inner()
    }
}

fn march() -> ReportingPeriod {
    ReportingPeriod {
        kind: PeriodKind::Month as i32,
        year: 2026,
        number: 3,
        cut_off: CutOffRule::Calendar as i32,
        month_starts_on: 0,
    }
}

/// The text of the table row `<tr data-indicator="id">` of `html`.
fn indicator_row<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("<tr data-indicator=\"{id}\">")).unwrap_or_else(|| panic!("no row for {id}"));
    let end = html[start..].find("</tr>").unwrap() + start;
    &html[start..end]
}

/// What a refusal page must never show.
fn assert_plain(page: &str) {
    for leak in ["panicked", "Status {", "RUST_BACKTRACE", "tonic", "at src/"] {
        assert!(!page.contains(leak), "{leak} on a page: {page}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_office_reads_its_province_and_only_its_province() {
    let Some(setup) = Setup::start().await else { return };
    let cookie = setup.sign_in(&setup.office_token()).await;

    // The headline indicators: every one of GetIndicators', with its value, numerator and denominator.
    let page = setup.get(&format!("/?{MARCH}"), &cookie).await;
    assert_eq!(page.status, 200);
    let html = page.text();
    let answer = setup.indicators(Breakdown::Unspecified).await;
    assert_eq!(answer.indicators.len(), 13);
    for r in &answer.indicators {
        let row = indicator_row(&html, &r.indicator_id);
        assert!(row.contains(&value_text(r)) && row.contains(&fraction_text(r)), "{}: {row}", r.indicator_id);
    }
    let on_time = answer.indicators.iter().find(|r| r.indicator_id == "on_time_rate_form06").unwrap();
    let printed = format!("{:.2} %", on_time.value.unwrap() * 100.0).replace('.', ",");
    assert!(indicator_row(&html, "on_time_rate_form06").contains(&printed), "{printed}");
    assert!(html.contains(&answer.freshness.unwrap().intake_cursor), "the figures say how fresh they are");
    assert!(html.contains("Tỉnh Quảng Trị"), "the unit by its name");

    // By commune: the commune and the provincial center, each with GetIndicators' figures.
    let html = setup.get(&format!("/units?{MARCH}&sort=online_case_share&dir=asc"), &cookie).await.text();
    let by_unit = setup.indicators(Breakdown::ChildUnit).await;
    for group in &by_unit.groups {
        let start = html.find(&format!("<tr data-unit=\"{}\">", group.key)).expect("a row per unit");
        let row = &html[start..start + html[start..].find("</tr>").unwrap()];
        let online = group.indicators.iter().find(|r| r.indicator_id == "online_case_share").unwrap();
        assert!(row.contains(&value_text(online)), "{row}");
    }
    assert!(html.contains("Trung tâm cấp tỉnh"), "the province's own center is shown as such");
    assert!(html.contains("aria-sort=\"ascending\""));

    // Every other page answers for the province.
    for path in ["/trends", "/late", "/late/live", "/reporting", "/reconciliation", "/form06", "/reports"] {
        let answer = setup.get(&format!("{path}?{MARCH}"), &cookie).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text());
        assert!(answer.header("content-security-policy").is_some());
    }

    // Form 06 on screen: 13 column headings, and the total row of GetForm06.
    let html = setup.get(&format!("/form06?{MARCH}"), &cookie).await.text();
    let request =
        GetForm06Request { unit_code: PROVINCE.into(), reporting_period: Some(march()), ..Default::default() };
    let form = setup.office_aggregation().get_form06(request).await.unwrap().into_inner();
    let head = &html[html.find("<thead>").unwrap()..html.find("</thead>").unwrap()];
    assert_eq!(head.matches("<th scope=\"col\">").count(), 13, "{head}");
    let total = &html[html.find("<tr class=\"total\">").unwrap()..];
    let total = &total[..total.find("</tr>").unwrap()];
    let printed: Vec<String> = form.total.unwrap().columns.iter().map(|v| format!("<td>{}</td>", count(*v))).collect();
    assert!(total.contains(&printed.concat()), "{total}");

    // Form 06's files.
    let xlsx = setup.get(&format!("/form06.xlsx?{MARCH}"), &cookie).await;
    assert_eq!(xlsx.status, 200);
    assert!(xlsx.header("content-disposition").unwrap().starts_with("attachment"));
    let workbook = Xlsx::new(Cursor::new(xlsx.body)).expect("an XLSX file");
    assert!(!workbook.sheet_names().is_empty());
    let csv = setup.get(&format!("/form06.csv?{MARCH}"), &cookie).await;
    assert_eq!((csv.status, csv.header("content-type")), (200, Some("text/csv; charset=utf-8")));

    // Periodic reports: the commune has submitted March, the department has not; the commune's file comes as it
    // was submitted, and every report in one ZIP.
    let commune = onestop_auth::Claims {
        unit: Some(COMMUNE.into()),
        ..claims("ubnd-19753", Role::Unit, &[SCOPE_READ, onestop_auth::SCOPE_REPORT], 600)
    };
    let commune = Credentials::token(setup.system.stack.keys().issuer.issue(&commune));
    let mut as_commune = client::aggregation(&setup.system.stack.aggregation_url(), None, &commune).unwrap();
    let submit =
        SubmitReportRequest { unit_code: COMMUNE.into(), reporting_period: Some(march()), ..Default::default() };
    let submitted = as_commune.submit_report(submit).await.unwrap().into_inner().report.unwrap();
    let html = setup.get(&format!("/reports?{MARCH}"), &cookie).await.text();
    let row = |code: &str| {
        let start = html.find(&format!("<tr data-reporter=\"{code}\">")).unwrap_or_else(|| panic!("no row {code}"));
        html[start..start + html[start..].find("</tr>").unwrap()].to_owned()
    };
    assert!(row(COMMUNE).contains("Đã gửi, chờ duyệt"), "{}", row(COMMUNE));
    assert!(row("STP-46").contains("Chưa gửi") && row("STP-46").contains("Muộn"), "{}", row("STP-46"));
    let link = row(COMMUNE);
    let link = link.split("href=\"").skip(1).map(|l| &l[..l.find('"').unwrap()]).find(|l| l.contains("format=xlsx"));
    let link = link.expect("the XLSX link").replace("&amp;", "&");
    let xlsx = setup.get(&link, &cookie).await;
    assert_eq!(xlsx.status, 200, "{link}");
    let digest: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&xlsx.body).iter().map(|b| format!("{b:02x}")).collect()
    };
    assert_eq!(digest, submitted.xlsx.unwrap().sha256, "the file as submitted");
    let zip = setup.get(&format!("/reports.zip?{MARCH}"), &cookie).await;
    assert_eq!((zip.status, zip.header("content-type")), (200, Some("application/zip")));
    assert!(zip.body.starts_with(b"PK"));
    // Read-only, the office sees no review form, and a review it posts anyway is refused.
    assert!(!row(COMMUNE).contains("/reports/review"), "{}", row(COMMUNE));
    let form = |decision: &str, reason: &str| {
        format!(
            "kind=month&year=2026&number=3&cut=calendar&unit={PROVINCE}&report={}&version=1&decision={decision}&reason={reason}",
            submitted.report_id
        )
        .into_bytes()
    };
    let post = |cookie: &str, body: Vec<u8>| {
        let headers = [("cookie", cookie.to_owned()), ("content-type", "application/x-www-form-urlencoded".into())];
        async move {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            http::request(setup.dashboard.addr, "POST", "/reports/review", &headers, body).await.unwrap()
        }
    };
    assert_eq!(post(&cookie, form("approve", "")).await.status, 403);
    // With the report scope it returns the report from the page, a reason required.
    let reviewer = onestop_auth::Claims {
        province: Some(PROVINCE.into()),
        ..claims("office-46", Role::Province, &[SCOPE_READ, onestop_auth::SCOPE_REPORT], 3600)
    };
    let reviewer = setup.sign_in(&setup.system.stack.keys().issuer.issue(&reviewer)).await;
    let html = setup.get(&format!("/reports?{MARCH}"), &reviewer).await.text();
    assert!(html.contains("action=\"/reports/review\""), "the review form");
    assert_eq!(post(&reviewer, form("return", "")).await.status, 400, "a return needs a reason");
    let returned = post(&reviewer, form("return", "Thi%E1%BA%BFu+s%E1%BB%91+li%E1%BB%87u")).await;
    assert_eq!(returned.status, 303);
    assert!(returned.header("location").unwrap().starts_with("/reports?"));
    let html = setup.get(&format!("/reports?{MARCH}"), &reviewer).await.text();
    let start = html.find(&format!("<tr data-reporter=\"{COMMUNE}\">")).unwrap();
    let row = &html[start..start + html[start..].find("</tr>").unwrap()];
    assert!(row.contains("Bị trả lại") && row.contains("Thiếu số liệu"), "{row}");
    // The report as submitted, against a correction pushed since.
    let fix = onestop_proto::intake::v1::DailyCell {
        center_code: COMMUNE_CENTER.into(),
        procedure_code: FULL_PROCEDURE.into(),
        day: "2026-03-10".into(),
        measures: Some(onestop_proto::intake::v1::Measures { received_online: 1_000, ..Default::default() }),
        computed_at: None,
    };
    let pushed = setup
        .system
        .stack
        .intake_client()
        .push_cells(PushCellsRequest { sender: "egov-fix".into(), cells: vec![fix], ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let visible = GetIndicatorsRequest {
        unit_code: PROVINCE.into(),
        reporting_period: Some(march()),
        min_intake_cursor: pushed.cursor,
        ..Default::default()
    };
    setup.office_aggregation().get_indicators(visible).await.unwrap();
    let view = setup.get(&format!("/reports/view?{MARCH}&report={}", submitted.report_id), &reviewer).await;
    assert_eq!(view.status, 200, "{}", view.text());
    let html = view.text();
    assert!(html.contains("Khác biệt giữa số liệu đã gửi và hiện nay"), "the differences");
    assert!(html.contains("egov-fix") && html.contains("Tiếp nhận trực tuyến"), "the correction behind them");
    assert!(html.contains(&submitted.csv.as_ref().unwrap().sha256), "the files' hashes");

    let elsewhere = http::request(
        setup.dashboard.addr,
        "POST",
        "/reports/review",
        &[("cookie", &reviewer), ("origin", "http://evil.example"), ("host", "127.0.0.1")],
        form("approve", ""),
    )
    .await
    .unwrap();
    assert_eq!(elsewhere.status, 403, "a form from another site");

    // Another province: refused with a plain page.
    let refused = setup.get(&format!("/?{MARCH}&unit={OTHER_PROVINCE}"), &cookie).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(refused.text().contains("Không có quyền xem"));
    assert_plain(&refused.text());

    // Signing out ends the session.
    let out = http::request(setup.dashboard.addr, "POST", "/sign-out", &[("cookie", &cookie)], vec![]).await.unwrap();
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    let after = setup.get("/", &cookie).await;
    assert_eq!((after.status, after.header("location")), (303, Some("/sign-in")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_national_reader_sees_the_nation_by_province() {
    let Some(setup) = Setup::start().await else { return };
    let national = setup.system.stack.keys().operator_token();
    let cookie = setup.sign_in(national.expose()).await;
    let overview = setup.get(&format!("/?{MARCH}"), &cookie).await;
    assert_eq!(overview.status, 200, "{}", overview.text());
    assert!(overview.text().contains("Cả nước"));
    let units = setup.get(&format!("/units?{MARCH}"), &cookie).await.text();
    assert!(units.contains(&format!("<tr data-unit=\"{PROVINCE}\">")), "the provinces are the nation's units");
    // And any province on asking for it.
    assert_eq!(setup.get(&format!("/?{MARCH}&unit={OTHER_PROVINCE}"), &cookie).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_expired_and_software_credentials_get_a_plain_page() {
    let Some(setup) = Setup::start().await else { return };
    let addr = setup.dashboard.addr;
    let issuer = &setup.system.stack.keys().issuer;
    let sign_in = |token: String| async move {
        let body = format!("token={token}").into_bytes();
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        http::request(addr, "POST", "/sign-in", &headers, body).await.unwrap()
    };

    let garbage = sign_in("not-a-token%00<script>".into()).await;
    assert_eq!(garbage.status, 401);
    assert!(garbage.text().contains("không hợp lệ") && !garbage.text().contains("<script>"));
    assert_plain(&garbage.text());

    let now = onestop_auth::now();
    let mut expired = claims("office-46", Role::Province, &[SCOPE_READ], 3600);
    (expired.province, expired.iat, expired.exp) = (Some(PROVINCE.into()), now - 7200, now - 3600);
    let answer = sign_in(issuer.issue(&expired)).await;
    assert_eq!(answer.status, 401);
    assert!(answer.text().contains("hết hạn"), "{}", answer.text());

    let software = claims("vendor", Role::Software, &[SCOPE_READ], 3600);
    let answer = sign_in(issuer.issue(&software)).await;
    assert_eq!(answer.status, 401);
    assert!(answer.text().contains("phần mềm"), "{}", answer.text());

    let too_long = http::request(addr, "POST", "/sign-in", &[], vec![b'a'; 20 << 10]).await.unwrap();
    assert_eq!(too_long.status, 413);
    // Ten megabytes: refused at the limit (the connection may close before the client has sent it all).
    if let Ok(answer) = http::request(addr, "POST", "/sign-in", &[], vec![b'a'; 10 << 20]).await {
        assert_eq!(answer.status, 413);
    }
    assert_eq!(http::get(addr, "/healthz", &[]).await.unwrap().status, 200);

    // A session ends with its token.
    let mut brief = claims("office-46", Role::Province, &[SCOPE_READ], 2);
    brief.province = Some(PROVINCE.into());
    let cookie = setup.sign_in(&issuer.issue(&brief)).await;
    assert_eq!(setup.get(&format!("/?{MARCH}"), &cookie).await.status, 200);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let expired = setup.get(&format!("/?{MARCH}"), &cookie).await;
    assert_eq!(expired.status, 401);
    assert!(expired.text().contains("hết hạn"), "{}", expired.text());

    // Hostile choices of period and unit are refused by name, not crashed on.
    let cookie = setup.sign_in(&setup.office_token()).await;
    for (query, expected) in [("year=-5000", "Năm"), ("kind=month&number=99", "Số thứ tự"), ("unit=%00", "đơn vị")]
    {
        let answer = setup.get(&format!("/?{query}"), &cookie).await;
        assert_eq!(answer.status, 400, "{query}");
        assert!(answer.text().contains(expected), "{query}: {}", answer.text());
    }
}

/// Starts the browser, or says why not: skipped locally without Chromium, a failure under CI.
async fn browser(width: u32, height: u32) -> Option<Browser> {
    match Browser::start(width, height).await.expect("starting the browser") {
        Some(browser) => Some(browser),
        None if std::env::var_os("CI").is_some() => {
            panic!("CI needs chromium and chromium-driver (.ci/run installs them)")
        }
        None => {
            eprintln!("skipped: chromium and chromium-driver are not installed");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn in_a_real_browser() {
    let Some(setup) = Setup::start().await else { return };
    let Some(browser) = browser(1366, 768).await else { return };
    let base = format!("http://{}", setup.dashboard.addr);
    let token = setup.office_token();

    browser.goto(&setup.dashboard.sign_in_link(&token)).await.unwrap();
    assert_eq!(browser.current_url().await.unwrap(), format!("{base}/"), "signed in and sent to the overview");
    let cookie = browser.cookie("onestop_session").await.unwrap().expect("the session cookie");
    assert_eq!(cookie["httpOnly"], json!(true));
    assert_eq!(cookie["sameSite"], json!("Lax"));

    // The figures as rendered equal GetIndicators'.
    browser.goto(&format!("{base}/?{MARCH}")).await.unwrap();
    let answer = setup.indicators(Breakdown::Unspecified).await;
    for r in &answer.indicators {
        let css = format!("tr[data-indicator=\"{}\"]", r.indicator_id);
        let value = browser.text(&format!("{css} td.value")).await.unwrap().unwrap();
        let fraction = browser.text(&format!("{css} td.fraction")).await.unwrap().unwrap();
        assert_eq!((value, fraction), (value_text(r), fraction_text(r)), "{}", r.indicator_id);
    }

    // Another province's page is refused.
    browser.goto(&format!("{base}/?{MARCH}&unit={OTHER_PROVINCE}")).await.unwrap();
    assert_eq!(browser.text("h1").await.unwrap().as_deref(), Some("Không có quyền xem"));

    // A case pushed overdue appears on the open late-case page within two seconds, without a reload.
    browser.goto(&format!("{base}/late?{MARCH}")).await.unwrap();
    browser.execute("window.stillTheSamePage = 42;", json!([])).await.unwrap();
    let today = onestop_domain::today_in_vietnam(Utc::now());
    let at = |day: chrono::NaiveDate| {
        let utc = Utc.from_utc_datetime(&day.and_hms_opt(2, 0, 0).unwrap());
        prost_types::Timestamp { seconds: utc.timestamp(), nanos: 0 }
    };
    let overdue = CaseRecord {
        case_code: "HS-QUA-HAN-MOI".into(),
        procedure_code: FULL_PROCEDURE.into(),
        receiving_center_code: COMMUNE_CENTER.into(),
        resolving_agency_code: "UBND-19753".into(),
        filing_channel: Channel::Online as i32,
        return_channel: Channel::Direct as i32,
        received_at: Some(at(today - Days::new(30))),
        due_date: (today - Days::new(10)).to_string(),
        status: CaseStatus::InProgress as i32,
        ..Default::default()
    };
    let mut intake = setup.system.stack.intake_client();
    intake
        .push_cases(PushCasesRequest { sender: "egov".into(), cases: vec![overdue], all_or_nothing: true })
        .await
        .unwrap();
    let pushed = Instant::now();
    loop {
        let live = browser.text("#live").await.unwrap().unwrap_or_default();
        if live.contains("HS-QUA-HAN-MOI") {
            break;
        }
        assert!(pushed.elapsed() < Duration::from_secs(2), "the pushed case did not appear within 2 s: {live}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let same = browser.execute("return window.stillTheSamePage;", json!([])).await.unwrap();
    assert_eq!(same, json!(42), "the page was not reloaded");
    assert!(browser.text("#overdue-title").await.unwrap().unwrap().contains("Đang quá hạn"));

    // The form 06 link downloads an XLSX file.
    browser.goto(&format!("{base}/form06?{MARCH}")).await.unwrap();
    let href = browser
        .execute("return document.querySelector('a[href*=\"form06.xlsx\"]').getAttribute('href');", json!([]))
        .await
        .unwrap();
    let session = format!("onestop_session={}", cookie["value"].as_str().unwrap());
    let file = setup.get(href.as_str().unwrap(), &session).await;
    assert_eq!(file.header("content-type"), Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"));
    Xlsx::new(Cursor::new(file.body)).expect("the download opens as XLSX");

    // By keyboard alone: the skip link first, then the navigation and the period chooser.
    browser.goto(&format!("{base}/?{MARCH}")).await.unwrap();
    let mut reached = Vec::new();
    for _ in 0..30 {
        browser.press("\u{E004}").await.unwrap();
        let focused = browser
            .execute(
                "const e = document.activeElement; return (e.getAttribute('href') || '') + '|' + e.innerText;",
                json!([]),
            )
            .await
            .unwrap();
        reached.push(focused.as_str().unwrap_or_default().to_owned());
    }
    assert!(reached[0].starts_with("#main|"), "{reached:?}");
    assert!(reached.iter().any(|r| r.starts_with("/units?")), "{reached:?}");
    assert!(reached.iter().any(|r| r == "|Xem"), "{reached:?}");

    // Charts and tables are labelled.
    browser.goto(&format!("{base}/trends?{MARCH}")).await.unwrap();
    let unlabelled = browser
        .execute(
            "return Array.from(document.querySelectorAll('svg.chart')).filter(s => !s.querySelector('title') || \
             !s.getAttribute('aria-labelledby')).length + Array.from(document.querySelectorAll('table')).filter(t => \
             !t.caption).length;",
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(unlabelled, json!(0));
    assert_eq!(
        browser.execute("return document.querySelectorAll('svg.chart').length;", json!([])).await.unwrap(),
        json!(4)
    );

    // At phone width no page is wider than the screen: wide tables scroll inside their frame.
    browser.set_window(390, 844).await.unwrap();
    for path in ["/", "/units", "/trends", "/late", "/reporting", "/reconciliation", "/form06", "/reports"] {
        browser.goto(&format!("{base}{path}?{MARCH}")).await.unwrap();
        let overflow = browser
            .execute("return document.documentElement.scrollWidth - window.innerWidth;", json!([]))
            .await
            .unwrap();
        assert!(overflow.as_i64().unwrap() <= 1, "{path} is {overflow} px wider than a phone");
    }
    browser.quit().await.unwrap();
}
