//! The dashboard's pages for the demonstration province: each page's time on the server (its `Server-Timing`,
//! from the request's arrival to the answer's last byte handed to the connection), against the plain SQL
//! GROUP BY over the raw cells of the same month by commune, measured in the same run. Optionally, screenshots
//! of the main pages in a real browser, for docs/.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::{Datelike, Utc};
use onestop_generator::province::{Province, PROVINCE_CODE, PROVINCE_YEAR};
use onestop_local::dashboard::{office_token, Dashboard};
use onestop_local::{demo, Addresses, Stack};
use onestop_proto::aggregation::v1::GetIndicatorsRequest;
use onestop_testkit::browser::Browser;
use onestop_testkit::http;

use crate::timing::{repeat, Timings};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Timed requests of each page.
    #[arg(long, default_value_t = 30)]
    pub repetitions: usize,
    /// Days of the demonstration loaded, up to yesterday.
    #[arg(long, default_value_t = 60)]
    pub days: u32,
    /// Save screenshots of the main pages (1366×768, and the overview at phone width) in this directory.
    #[arg(long)]
    pub screenshots: Option<PathBuf>,
}

/// The pages timed: path, the period's cut-off rule, and what it shows.
const PAGES: [(&str, &str, &str); 12] = [
    ("/", "calendar", "overview: 13 indicators, and the month before"),
    ("/units", "calendar", "by commune: 13 indicators × 151 units, and the ranking"),
    ("/trends", "calendar", "the year by month: 4 indicators"),
    ("/late", "calendar", "late cases: counts, 5 lists"),
    ("/late/live", "calendar", "the live part of late cases, polled each second"),
    ("/reporting", "calendar", "who has not reported: 151 centers"),
    ("/reconciliation", "calendar", "late counts against case records, by day"),
    ("/form06", "calendar", "form 06"),
    ("/form06", "decree09", "form 06, the month of Decree 09/2019 (15th to 14th)"),
    ("/form06.xlsx", "calendar", "form 06 as XLSX"),
    ("/form06.csv", "calendar", "form 06 as CSV"),
    ("/reports", "calendar", "periodic reports: who has submitted, 151 units and departments"),
];

pub async fn run(args: Args) -> anyhow::Result<()> {
    let db = onestop_testkit::database().await.context("no database: set DATABASE_URL")?;
    let stack = Stack::start(db.url(), Addresses::any_free_port()).await?;
    let today = onestop_domain::today_in_vietnam(Utc::now());
    println!("loading the demonstration province ({} days)...", args.days);
    let province = Province::new(46, PROVINCE_YEAR);
    let pushed = demo::load(&stack, db.url(), &province, today, args.days).await?;
    println!("loaded {} cells", pushed.cells);
    crate::load::vacuum_as_autovacuum_would(db.url()).await?;
    let dashboard = Dashboard::start(&stack, SocketAddr::from(([127, 0, 0, 1], 0)), None).await?;
    let token = office_token(&stack, PROVINCE_CODE, 2);
    let signed_in = http::get(dashboard.addr, &format!("/sign-in?token={token}"), &[]).await?;
    let cookie = signed_in.header("set-cookie").context("no session cookie")?.split(';').next().unwrap().to_owned();
    // This month, as the office opens the dashboard in the morning; under Decree 09, the reporting month of today.
    let period = format!("kind=month&year={}&number={}&cut=calendar", today.year(), today.month());
    let (decree_year, decree_month) = onestop_domain::period::month_of(today, onestop_domain::period::DECREE_09);
    let decree_period = format!("kind=month&year={decree_year}&number={decree_month}&cut=decree09");

    println!("\n| page | server p50 ms | server p95 ms | bytes | what it shows |");
    println!("| --- | --- | --- | --- | --- |");
    let mut worst_p95 = 0f64;
    for (path, cut, shows) in PAGES {
        let url = format!("{path}?{}", if cut == "decree09" { &decree_period } else { &period });
        let mut times = Vec::with_capacity(args.repetitions);
        let mut bytes = 0;
        for i in 0..args.repetitions + 2 {
            let answer = http::get(dashboard.addr, &url, &[("cookie", &cookie)]).await?;
            anyhow::ensure!(answer.status == 200, "{url}: {} {}", answer.status, answer.text());
            let server = server_time(&answer).with_context(|| format!("{url}: no Server-Timing"))?;
            bytes = answer.body.len();
            if i >= 2 {
                times.push(server);
            }
        }
        let timings = Timings::new(times);
        worst_p95 = worst_p95.max(timings.ms(0.95));
        println!("| `{path}` ({cut}) | {:.1} | {:.1} | {bytes} | {shows} |", timings.ms(0.5), timings.ms(0.95));
    }

    // The baseline: the month by commune in plain SQL over the raw cells.
    let first = today.with_day(1).expect("day 1");
    let mut aggregation = stack.aggregation_client();
    let request: GetIndicatorsRequest = crate::queries::by_child_unit(PROVINCE_CODE, first, today);
    let centers = aggregation.get_indicators(request).await?.into_inner().center_codes;
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(db.url()).await?;
    let (plain, _) =
        repeat(args.repetitions, || crate::queries::plain_sql_by_commune(&pool, first, today, &centers)).await?;
    println!(
        "\nplain SQL GROUP BY over the month's raw cells by commune (the baseline): p50 {:.1} ms, p95 {:.1} ms",
        plain.ms(0.5),
        plain.ms(0.95)
    );
    println!(
        "slowest page p95 {worst_p95:.1} ms: {:.2}x the plain query's p50 ({} runs per page)",
        worst_p95 / plain.ms(0.5),
        args.repetitions
    );

    if let Some(dir) = &args.screenshots {
        screenshots(&dashboard, &token, &period, dir).await?;
    }
    dashboard.shutdown().await?;
    stack.shutdown().await
}

/// The `app;dur=` of an answer's `Server-Timing`.
fn server_time(answer: &http::Answer) -> Option<Duration> {
    let value = answer.header("server-timing")?;
    let ms: f64 = value.split("dur=").nth(1)?.parse().ok()?;
    Some(Duration::from_secs_f64(ms / 1e3))
}

async fn screenshots(dashboard: &Dashboard, token: &str, period: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let browser = Browser::start(1366, 768).await?.context("screenshots need chromium and chromium-driver")?;
    browser.goto(&dashboard.sign_in_link(token)).await?;
    let base = format!("http://{}", dashboard.addr);
    for (path, name) in [
        ("/", "overview"),
        ("/units", "units"),
        ("/trends", "trends"),
        ("/late", "late-cases"),
        ("/reporting", "reporting"),
        ("/form06", "form06"),
    ] {
        browser.goto(&format!("{base}{path}?{period}")).await?;
        // Let the page settle (fonts) before the picture.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let file = dir.join(format!("dashboard-{name}.png"));
        std::fs::write(&file, browser.screenshot().await?)?;
        println!("screenshot: {}", file.display());
    }
    browser.set_window(390, 844).await?;
    browser.goto(&format!("{base}/?{period}")).await?;
    let file = dir.join("dashboard-phone.png");
    std::fs::write(&file, browser.screenshot().await?)?;
    println!("screenshot: {}", file.display());
    browser.quit().await
}
