//! The `onestop` binary against a running system: pushes from CSV (with located errors, warnings and progress),
//! indicators as a table, CSV, JSON and XLSX, rankings, late cases listed, counted, reconciled and watched, form 06
//! as XLSX, decisions and reference data from files, the example files of the README, help for every argument,
//! a service that is not running told in one sentence, and key generation.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use onestop_local::{Addresses, Stack};
use onestop_proto::catalogue::v1::*;
use onestop_server::auth::SystemKeys;
use onestop_server::config::ServerArgs;
use onestop_testkit::fixtures::*;
use tokio::io::AsyncBufReadExt;

/// Runs the binary without blocking the runtime the services run on.
async fn onestop(stack: &Stack, token: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_onestop"))
        .args(args)
        .env("CATALOGUE_URL", stack.catalogue_url())
        .env("INTAKE_URL", stack.intake_url())
        .env("AGGREGATION_URL", stack.aggregation_url())
        .env("ONESTOP_TOKEN", token)
        .output()
        .await
        .expect("running onestop")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn push_read_and_export_from_the_command_line() {
    let Some(database) = onestop_testkit::database().await else { return };
    let keys = SystemKeys::generate();
    let token = keys.operator_token().expose().to_owned();
    let stack = Stack::start_with_keys(ServerArgs::for_database(database.url()), keys, Addresses::any_free_port())
        .await
        .unwrap();
    let mut catalogue = stack.catalogue_client();
    catalogue.upsert_units(UpsertUnitsRequest { units: units() }).await.unwrap();
    catalogue.upsert_sectors(UpsertSectorsRequest { sectors: sectors() }).await.unwrap();
    catalogue.upsert_centers(UpsertCentersRequest { centers: centers() }).await.unwrap();
    catalogue.publish_decision(PublishDecisionRequest { decision: Some(decision()) }).await.unwrap();
    catalogue.set_center_procedures(center_procedures(COMMUNE_CENTER)).await.unwrap();
    // Working days, for the watch of late cases.
    let calendar = onestop_generator::calendar::to_csv(onestop_generator::calendar::YEARS);
    catalogue.load_calendar_csv(LoadCalendarCsvRequest { content: calendar.into_bytes() }).await.unwrap();

    let dir = std::env::temp_dir().join(format!("onestop-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, content: &str| {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    };
    let good = file(
        "cells.csv",
        &format!(
            "center_code,procedure_code,day,received_direct,received_online,resolved_on_time,pending_in_time\n\
             {COMMUNE_CENTER},{FULL_PROCEDURE},2026-03-02,4,6,3,7\n\
             {COMMUNE_CENTER},{PARTIAL_PROCEDURE},2026-03-02,2,0,1,1\n\
             {COMMUNE_CENTER},{FULL_PROCEDURE},2026-03-03,1,1,2,7\n"
        ),
    );
    // Intake follows the catalogue; give its copy a moment, then push.
    let mut pushed = onestop(&stack, &token, &["push-cells", &good]).await;
    for _ in 0..50 {
        if pushed.status.success() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        pushed = onestop(&stack, &token, &["push-cells", &good]).await;
    }
    assert!(pushed.status.success(), "{}", text(&pushed.stderr));
    assert!(text(&pushed.stdout).contains("accepted"), "{}", text(&pushed.stdout));

    let bad = file(
        "bad.csv",
        &format!("center_code,procedure_code,day,received_online\n{COMMUNE_CENTER},{FULL_PROCEDURE},2026-03-04,many\n"),
    );
    let refused = onestop(&stack, &token, &["push-cells", &bad]).await;
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains(&format!("{bad}:2:received_online")), "{}", text(&refused.stderr));
    let unknown = file(
        "unknown.csv",
        &format!("center_code,procedure_code,day,received_online\nNOWHERE,{FULL_PROCEDURE},2026-03-04,1\n"),
    );
    let rejected = onestop(&stack, &token, &["push-cells", &unknown]).await;
    assert!(!rejected.status.success());
    assert!(
        text(&rejected.stderr).contains(&format!("{unknown}:2: cells[0].center_code")),
        "{}",
        text(&rejected.stderr)
    );

    // Indicators as CSV, once aggregation has applied the pushes.
    let args = [
        "indicators",
        "--unit",
        PROVINCE,
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-31",
        "--indicator",
        "online_case_share",
        "--format",
        "csv",
    ];
    let mut csv = String::new();
    for _ in 0..100 {
        csv = text(&onestop(&stack, &token, &args).await.stdout);
        if csv.contains("(all),online_case_share,1,7,14,0.5000") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(csv.contains("(all),online_case_share,1,7,14,0.5000"), "{csv}");

    let out = dir.join("bieu-06.xlsx");
    let exported = onestop(
        &stack,
        &token,
        &["form06", "--unit", PROVINCE, "--period", "month:2026:3", "--out", &out.display().to_string()],
    )
    .await;
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    assert!(std::fs::read(&out).unwrap().starts_with(b"PK"), "an XLSX (zip) file");

    // A decision from a CSV file, then a case record on its procedure from another.
    let decision = file(
        "decision.csv",
        "action,code,name,sector_code,implementing_levels,implementing_agency,processing_time_value,\
         processing_time_unit,online_level\n\
         NEW,1.001999,Cấp bản sao trích lục,HOTICH,COMMUNE,UBND cấp xã,2,WORKING_DAYS,FULL\n",
    );
    let published = onestop(
        &stack,
        &token,
        &[
            "publish-decision",
            &decision,
            "--number",
            "150/QĐ-UBND",
            "--signed-on",
            "2026-02-01",
            "--issuer",
            "Chủ tịch UBND tỉnh",
            "--effective-from",
            "2026-02-15",
        ],
    )
    .await;
    assert!(published.status.success(), "{}", text(&published.stderr));
    assert!(text(&published.stdout).contains("1 items; applied"), "{}", text(&published.stdout));
    let cases = file(
        "cases.csv",
        &format!(
            "case_code,procedure_code,receiving_center_code,resolving_agency_code,filing_channel,return_channel,\
             received_at,due_date,resolved_at,status\n\
             HS-CLI-1,{FULL_PROCEDURE},{COMMUNE_CENTER},UBND-19753,ONLINE,DIRECT,2026-03-02T09:00:00+07:00,\
             2026-03-05,2026-03-09T10:00:00+07:00,RESOLVED\n\
             HS-CLI-2,{FULL_PROCEDURE},{COMMUNE_CENTER},UBND-19753,BY_PIGEON,DIRECT,2026-03-02T09:00:00+07:00,\
             2026-03-05,,IN_PROGRESS\n"
        ),
    );
    let refused_case = onestop(&stack, &token, &["push-cases", &cases]).await;
    assert!(!refused_case.status.success());
    assert!(
        text(&refused_case.stderr).contains(&format!("{cases}:3:filing_channel")),
        "{}",
        text(&refused_case.stderr)
    );
    std::fs::write(&cases, std::fs::read_to_string(&cases).unwrap().replace("BY_PIGEON", "POSTAL")).unwrap();
    catalogue.upsert_agencies(UpsertAgenciesRequest { agencies: agencies() }).await.unwrap();
    let mut pushed_cases = onestop(&stack, &token, &["push-cases", &cases]).await;
    for _ in 0..50 {
        if pushed_cases.status.success() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        pushed_cases = onestop(&stack, &token, &["push-cases", &cases]).await;
    }
    assert!(
        text(&pushed_cases.stdout).contains("2 created"),
        "{}{}",
        text(&pushed_cases.stdout),
        text(&pushed_cases.stderr)
    );

    assert!(text(&pushed_cases.stderr).contains("100% 2/2 cases"), "{}", text(&pushed_cases.stderr));

    // HS-CLI-2 is still open past its due date: the watch reports it overdue at once.
    let mut watch = tokio::process::Command::new(env!("CARGO_BIN_EXE_onestop"))
        .args(["watch-late", "--center", COMMUNE_CENTER, "--within", "3"])
        .env("AGGREGATION_URL", stack.aggregation_url())
        .env("ONESTOP_TOKEN", &token)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(watch.stdout.take().unwrap()).lines();
    let overdue = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("HS-CLI-2") {
                return line;
            }
        }
        String::from("the watch ended")
    })
    .await
    .expect("HS-CLI-2 reported within 30 s");
    assert!(overdue.contains("OVERDUE") && overdue.contains("due 2026-03-05"), "{overdue}");
    watch.kill().await.unwrap();

    let keys = onestop(&stack, &token, &["token", "keygen", "--kid", "2026-11"]).await;
    assert!(text(&keys.stdout).contains("public key (AUTH_PUBLIC_KEYS):"));
    // A token issued with the system's issuer key is accepted; one meant to outlive the longest lifetime is
    // never issued.
    let issuer = dir.join("issuer-key").display().to_string();
    std::fs::write(&issuer, stack.keys().issuer.private_text().expose()).unwrap();
    let issue = |days: &'static str| {
        let reader = ["--sub", "reader", "--role", "national", "--scope", "read", "--days", days];
        [&["token", "issue", "--key-file", issuer.as_str()][..], &reader[..]].concat()
    };
    let reader = text(&onestop(&stack, "", &issue("400")).await.stdout).trim().to_owned();
    let read = onestop(&stack, &reader, &["indicators", "--unit", PROVINCE, "--period", "year:2026"]).await;
    assert!(read.status.success(), "{}", text(&read.stderr));
    let too_long = onestop(&stack, "", &issue("401")).await;
    assert!(!too_long.status.success() && text(&too_long.stderr).contains("--days"), "{}", text(&too_long.stderr));
    let denied = onestop(&stack, "not-a-token", &["indicators", "--unit", PROVINCE, "--period", "year:2026"]).await;
    assert!(text(&denied.stderr).contains("malformed"), "{}", text(&denied.stderr));

    stack.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}

/// The example files the README and docs/cli.md use.
fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name).display().to_string()
}

/// Runs `args` until its standard output holds `wanted` (aggregation applies pushes from intake's stream a moment
/// after they are acknowledged), up to 20 s; returns the last output.
async fn eventually(stack: &Stack, token: &str, args: &[&str], wanted: &str) -> Output {
    let mut output = onestop(stack, token, args).await;
    for _ in 0..200 {
        if text(&output.stdout).contains(wanted) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        output = onestop(stack, token, args).await;
    }
    output
}

fn succeeded(output: &Output) -> String {
    assert!(output.status.success(), "stdout:\n{}\nstderr:\n{}", text(&output.stdout), text(&output.stderr));
    text(&output.stdout)
}

/// Every example file loads, publishes or pushes through the command line on an empty system, in the README's
/// order; then a provincial office reads them: indicators by label and as a workbook, a ranking, the late lists
/// with their notices, the counts and the reconciliation.
#[tokio::test]
async fn the_example_files_load_and_a_province_reads_them() {
    let Some(database) = onestop_testkit::database().await else { return };
    let keys = SystemKeys::generate();
    let token = keys.operator_token().expose().to_owned();
    let stack = Stack::start_with_keys(ServerArgs::for_database(database.url()), keys, Addresses::any_free_port())
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("onestop-cli-examples-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: Vec<String>| {
        let (stack, token) = (&stack, &token);
        async move { onestop(stack, token, &args.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };
    let load = |kind: &str, file: &str| run(vec!["load".into(), kind.into(), example(file)]);

    assert!(succeeded(&load("units", "units.csv").await).contains("3 units; 3 changed"));
    assert!(succeeded(&load("sectors", "sectors.csv").await).contains("2 sectors"));
    assert!(succeeded(&load("agencies", "agencies.csv").await).contains("3 agencies"));
    assert!(succeeded(&load("centers", "centers.csv").await).contains("3 centers"));
    let publish = |file: &str, number: &str, signed_on: &str, effective_from: &str| {
        run([
            "publish-decision",
            &example(file),
            "--number",
            number,
            "--signed-on",
            signed_on,
            "--issuer",
            "Chủ tịch UBND tỉnh Ví Dụ",
            "--effective-from",
            effective_from,
            "--province",
            "99",
        ]
        .map(String::from)
        .to_vec())
    };
    let published = publish("decision-901.csv", "901/QĐ-UBND-VD", "2025-12-20", "2026-01-01").await;
    assert!(succeeded(&published).contains("3 items; applied"));
    let published = publish("decision-902.xlsx", "902/QĐ-UBND-VD", "2026-01-20", "2026-02-01").await;
    assert!(succeeded(&published).contains("2 items; applied"));
    assert!(succeeded(&load("center-procedures", "center-procedures.csv").await).contains("4 lists; 4 changed"));
    assert!(succeeded(&load("calendar", "calendar-2026.csv").await).contains("years 2026; 1 changed"));
    // The example's 2026 is the demonstration's: loading the generated years over it changes every year but 2026.
    let generated = onestop_generator::calendar::to_csv(onestop_generator::calendar::YEARS);
    let answer = stack
        .catalogue_client()
        .load_calendar_csv(LoadCalendarCsvRequest { content: generated.into_bytes() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.changed_years as usize, onestop_generator::calendar::YEARS.count() - 1);

    let cells = run(vec!["push-cells".into(), example("cells.csv")]).await;
    assert!(succeeded(&cells).contains("13 accepted, 0 unchanged or stale, 0 rejected; 0 with warnings"));
    let cases = run(vec!["push-cases".into(), example("cases.csv")]).await;
    let said = succeeded(&cases);
    assert!(said.contains("5 created, 0 updated, 0 unchanged, 0 rejected"), "{said}");
    // Reads given the push's cursor include the cases, however far behind aggregation was.
    let cursor = said.lines().find_map(|l| l.strip_prefix("cursor ")).and_then(|l| l.split(' ').next());
    let cursor = cursor.unwrap_or_else(|| panic!("the push prints its cursor: {said}")).to_owned();
    // Findings are warnings, located: VD-0004 was resolved late with no apology notice.
    let warnings = text(&cases.stderr);
    let at = format!("{}:5: warning: case VD-0004: late without an apology notice", example("cases.csv"));
    assert!(warnings.contains(&at), "{warnings}");

    // Indicators by their Vietnamese labels, as percentages, once aggregation has applied the pushes.
    let march = ["--from", "2026-03-01", "--to", "2026-03-31"];
    let indicators = |extra: &[&str]| {
        let mut args = vec!["indicators", "--unit", "99"];
        args.extend(march);
        args.extend(["--indicator", "online_case_share", "--indicator", "on_time_rate_form06"]);
        args.extend(extra);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let args = indicators(&["--breakdown", "child-unit"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let table = succeeded(&eventually(&stack, &token, &args, "33.3%").await);
    let line = |table: &str, starts: &str| {
        table.lines().find(|l| l.starts_with(starts)).map(str::to_owned).unwrap_or_else(|| panic!("{starts}: {table}"))
    };
    let all = line(&table, "(all)                    Tỷ lệ hồ sơ tiếp nhận trực tuyến");
    assert!(all.contains("60.0%          3            5"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("99001  Phường Ví Dụ Một") && l.contains("66.7%")), "{table}");
    assert!(table.lines().any(|l| l.contains("Xã Ví Dụ Hai") && l.contains("Mẫu 06") && l.contains("0.0%")), "{table}");

    // CSV and JSON keep their ids and fractions.
    let csv = succeeded(&run(indicators(&["--format", "csv"])).await);
    assert!(csv.starts_with("group,indicator,version,numerator,denominator,value,score,group_name,label_vi"), "{csv}");
    assert!(csv.contains("(all),online_case_share,1,3,5,0.6000,"), "{csv}");
    let json: serde_json::Value =
        serde_json::from_str(&succeeded(&run(indicators(&["--format", "json"])).await)).unwrap();
    let online = json.as_array().unwrap().iter().find(|r| r["indicator"] == "online_case_share").unwrap();
    assert_eq!((online["numerator"].as_u64(), online["display_unit"].as_str()), (Some(3), Some("percent")));

    // A count shows as its numerator: a province's own indicator, displayed as a count.
    let definition = onestop_proto::aggregation::v1::IndicatorDefinition {
        id: "online_cases".into(),
        numerator: "received_online".into(),
        denominator: "received_direct + received_online + received_postal".into(),
        description: "Cases received online".into(),
        label_vi: "Số hồ sơ tiếp nhận trực tuyến".into(),
        display_unit: onestop_proto::aggregation::v1::DisplayUnit::Count as i32,
        ..Default::default()
    };
    let request = onestop_proto::aggregation::v1::DefineIndicatorRequest { definition: Some(definition) };
    stack.aggregation_client().define_indicator(request).await.unwrap();

    // The office's workbook: a row per unit, a column per indicator headed by its label.
    let xlsx = dir.join("chi-tieu.xlsx").display().to_string();
    let mut args = indicators(&["--indicator", "online_cases", "--breakdown", "child-unit", "--format", "xlsx"]);
    args.extend(["--out".to_owned(), xlsx.clone()]);
    succeeded(&run(args).await);
    let rows = sheet_rows(&xlsx);
    assert_eq!(
        rows[0],
        [
            "key",
            "name",
            "Tỷ lệ hồ sơ tiếp nhận trực tuyến",
            "Tỷ lệ hồ sơ giải quyết trước và đúng hạn (Mẫu 06)",
            "Số hồ sơ tiếp nhận trực tuyến"
        ]
    );
    let commune = rows.iter().find(|r| r[0] == "99001").expect("a row for 99001");
    assert_eq!(commune[1..], ["Phường Ví Dụ Một", "0.6666666666666666", "0.5", "2"]);
    let without_out = run(indicators(&["--format", "xlsx"])).await;
    assert!(!without_out.status.success() && text(&without_out.stderr).contains("--out"));

    // The communes ranked by the online share, with their names.
    let rank =
        ["rank", "--unit", "99", "--from", "2026-03-01", "--to", "2026-03-31", "--indicator", "online_case_share"];
    let ranking = succeeded(&onestop(&stack, &token, &rank).await);
    assert!(ranking.starts_with("Tỷ lệ hồ sơ tiếp nhận trực tuyến (online_case_share), 2026-03-01 to 2026-03-31\n"));
    let first = line(&ranking, "   1");
    assert!(first.contains("99001") && first.contains("Phường Ví Dụ Một") && first.contains("66.7%"), "{ranking}");
    let second = line(&ranking, "   2");
    assert!(
        second.contains("Xã Ví Dụ Hai") && second.contains("50.0%") && second.contains("     1            2"),
        "{ranking}"
    );
    let ranking_csv = succeeded(&onestop(&stack, &token, &[&rank[..], &["--format", "csv"]].concat()).await);
    assert!(ranking_csv.contains("1,99001,Phường Ví Dụ Một,online_case_share,0.6667,2,3,"), "{ranking_csv}");

    // Late cases, every page (one case a page here), each notice under its case.
    let late = |list: &str, extra: &[&str]| {
        let mut args = vec!["late", "list", "--unit", "99", "--list", list, "--as-of", "2026-03-31"];
        args.extend(["--after-cursor", cursor.as_str()]);
        args.extend(extra);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let resolved_late = succeeded(&run(late("resolved-late", &["--page-size", "1"])).await);
    let lines: Vec<&str> = resolved_late.lines().collect();
    assert_eq!(lines.len(), 4, "a header, two cases and one notice:\n{resolved_late}");
    assert!(lines[1].starts_with("VD-0002  Đăng ký kết hôn (ví dụ)"), "{resolved_late}");
    assert!(lines[1].contains("Bộ phận Một cửa phường Ví Dụ Một") && lines[1].contains("UBND phường Ví Dụ Một"));
    assert!(lines[1].contains("2026-03-09  2026-03-13   2026-03-12"), "{resolved_late}");
    assert_eq!(
        lines[2],
        "    notice 01/TB-VD by UBND phường Ví Dụ Một on 2026-03-06: due 2026-03-09 → 2026-03-13; \
         INTERAGENCY_COORDINATION: Cần xác minh thông tin cư trú với Công an xã; delivered AT_CENTER"
    );
    assert!(lines[3].starts_with("VD-0004"), "{resolved_late}");
    let json: serde_json::Value =
        serde_json::from_str(&succeeded(&run(late("resolved-late", &["--format", "json"])).await)).unwrap();
    let notice = &json[0]["apology_notices"][0];
    assert_eq!(notice["issuing_agency_name"], "UBND phường Ví Dụ Một");
    assert_eq!(
        (notice["new_due_date"].as_str(), notice["issued_after_deadline"].as_bool()),
        (Some("2026-03-13"), Some(false))
    );
    let overdue = succeeded(&run(late("pending-overdue", &[])).await);
    assert!(line(&overdue, "VD-0003").contains("Cấp bản sao trích lục hộ tịch (ví dụ)"), "{overdue}");
    let due_soon = run(vec!["late", "list", "--center", "BPMC-99002", "--list", "due-soon", "--as-of", "2026-03-26"]
        .into_iter()
        .map(String::from)
        .collect())
    .await;
    let due_soon = succeeded(&due_soon);
    let fields: Vec<String> = line(&due_soon, "VD-0005").split_whitespace().map(String::from).collect();
    assert_eq!(fields[fields.len() - 2..], ["2", "0"], "two working days left, no notice:\n{due_soon}");

    // The lists' sizes per commune, with names.
    let counts = succeeded(&onestop(&stack, &token, &["late", "count", "--unit", "99", "--as-of", "2026-03-31"]).await);
    assert!(counts.lines().next().unwrap().contains("pending overdue"), "{counts}");
    assert!(line(&counts, "(all)").contains("Tỉnh Ví Dụ"), "{counts}");
    assert!(line(&counts, "99001").contains("Phường Ví Dụ Một"), "{counts}");
    assert!(line(&counts, "99002").contains("Xã Ví Dụ Hai"), "{counts}");

    // The cells agree with the case records, center by center.
    let reconcile = ["late", "reconcile", "--unit", "99", "--from", "2026-03-01", "--to", "2026-03-31", "--by-day"];
    let reconciled = succeeded(&onestop(&stack, &token, &reconcile).await);
    let center = line(&reconciled, "BPMC-99001");
    assert!(center.contains("Bộ phận Một cửa phường Ví Dụ Một") && center.ends_with("yes"), "{reconciled}");
    assert!(reconciled.lines().skip(1).all(|l| l.ends_with("yes")), "no disagreement, no day listed:\n{reconciled}");

    stack.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The first sheet of a workbook, every cell as text.
fn sheet_rows(path: &str) -> Vec<Vec<String>> {
    use calamine::Reader;
    let mut workbook = calamine::open_workbook_auto(path).unwrap();
    let range = workbook.worksheet_range_at(0).unwrap().unwrap();
    range.rows().map(|row| row.iter().map(|c| c.to_string()).collect()).collect()
}

/// Pushed cells that break the pending-stock identity are stored, and each warning is printed with the cell's
/// row and keys, then counted.
#[tokio::test]
async fn warnings_of_a_push_are_printed_with_the_cell() {
    let Some(database) = onestop_testkit::database().await else { return };
    let keys = SystemKeys::generate();
    let token = keys.operator_token().expose().to_owned();
    let stack = Stack::start_with_keys(ServerArgs::for_database(database.url()), keys, Addresses::any_free_port())
        .await
        .unwrap();
    let mut catalogue = stack.catalogue_client();
    catalogue.upsert_units(UpsertUnitsRequest { units: units() }).await.unwrap();
    catalogue.upsert_sectors(UpsertSectorsRequest { sectors: sectors() }).await.unwrap();
    catalogue.upsert_centers(UpsertCentersRequest { centers: centers() }).await.unwrap();
    catalogue.publish_decision(PublishDecisionRequest { decision: Some(decision()) }).await.unwrap();
    catalogue.set_center_procedures(center_procedures(COMMUNE_CENTER)).await.unwrap();

    let file = std::env::temp_dir().join(format!("onestop-cli-warnings-{}.csv", std::process::id()));
    // 5 pending, 2 received, 1 resolved: 6 pending the next day, not 9.
    std::fs::write(
        &file,
        format!(
            "center_code,procedure_code,day,received_direct,resolved_on_time,pending_in_time\n\
             {COMMUNE_CENTER},{FULL_PROCEDURE},2026-03-02,5,0,5\n\
             {COMMUNE_CENTER},{FULL_PROCEDURE},2026-03-03,2,1,9\n"
        ),
    )
    .unwrap();
    let file = file.display().to_string();
    let pushed = onestop(&stack, &token, &["push-cells", &file]).await;
    assert!(succeeded(&pushed).contains("2 accepted, 0 unchanged or stale, 0 rejected; 1 with warnings"));
    let warning = text(&pushed.stderr);
    let expected = format!("{file}:3: warning: {COMMUNE_CENTER} {FULL_PROCEDURE} 2026-03-03: cells[1].measures: ");
    assert!(warning.contains(&expected) && warning.contains("gives 6"), "{warning}");

    stack.shutdown().await.unwrap();
    let _ = std::fs::remove_file(&file);
}

/// `onestop CMD -h` for every command and subcommand: each argument has a line of help, and the push commands list
/// the columns of their files.
#[tokio::test]
async fn every_command_explains_every_argument() {
    async fn help(path: &[String], long: bool) -> String {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_onestop"))
            .args(path)
            .arg(if long { "--help" } else { "-h" })
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "{path:?}: {}", text(&output.stderr));
        text(&output.stdout)
    }
    /// The names listed under `Commands:`, but `help`.
    fn subcommands(help: &str) -> Vec<String> {
        let section = help.split("Commands:\n").nth(1).unwrap_or("");
        let listed = section.lines().take_while(|l| l.starts_with("  "));
        listed.filter_map(|l| l.split_whitespace().next()).filter(|n| *n != "help").map(String::from).collect()
    }
    /// The arguments of the `Arguments:`, `Options:` and `Connection:` sections with nothing said of them: clap
    /// puts the help on the argument's line or on the next one, indented further, and adds `[default: …]` and
    /// the like, which say nothing of what the argument is for.
    fn without_help(help: &str) -> Vec<String> {
        fn says_something(text: &str) -> bool {
            let mut depth = 0;
            text.chars().any(|c| {
                depth += match c {
                    '[' => 1,
                    ']' => -1,
                    _ => 0,
                };
                depth == 0 && !c.is_whitespace() && c != ']'
            })
        }
        let lines: Vec<&str> = help.lines().collect();
        let mut missing = Vec::new();
        let mut in_arguments = false;
        for (i, line) in lines.iter().enumerate() {
            if !line.starts_with(' ') {
                in_arguments = matches!(*line, "Arguments:" | "Options:" | "Connection:");
                continue;
            }
            let spec = line.trim_start();
            let is_argument = line.len() - spec.len() <= 6 && (spec.starts_with('-') || spec.starts_with('<'));
            if !in_arguments || !is_argument {
                continue;
            }
            let same_line = spec.split_once("  ").is_some_and(|(_, help)| says_something(help));
            let next_line = lines.get(i + 1).is_some_and(|next| {
                let said = next.trim_start();
                next.len() - said.len() > 6 && says_something(said)
            });
            if !same_line && !next_line {
                missing.push(spec.to_owned());
            }
        }
        missing
    }

    let mut queue: Vec<Vec<String>> = vec![vec![]];
    let mut seen = 0;
    while let Some(path) = queue.pop() {
        let short = help(&path, false).await;
        assert!(without_help(&short).is_empty(), "onestop {path:?}: {:?}\n{short}", without_help(&short));
        for sub in subcommands(&short) {
            queue.push([path.clone(), vec![sub]].concat());
        }
        seen += 1;
    }
    assert!(seen >= 15, "only {seen} commands");

    // The columns listed are those of the example files (each column the commands read is in the list, which a
    // unit test checks against what input.rs reads).
    for (command, file) in [("push-cells", "cells.csv"), ("push-cases", "cases.csv")] {
        let long = help(&[command.to_owned()], true).await;
        let listed: Vec<&str> =
            long.split("Columns").nth(1).unwrap().lines().filter_map(|l| l.strip_prefix("  ")).collect();
        let header = std::fs::read_to_string(example(file)).unwrap();
        for column in header.lines().next().unwrap().split(',') {
            assert!(listed.contains(&column), "{command} --help does not list {column}:\n{long}");
        }
    }
}

/// A service that is not running is one sentence naming it, its address and how to start it, with an exit code
/// of its own.
#[tokio::test]
async fn a_service_that_is_not_running_is_named_in_one_sentence() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{closed}");
    let run = |args: Vec<&str>| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_onestop"))
            .args(args)
            .env("CATALOGUE_URL", &url)
            .env("INTAKE_URL", &url)
            .env("AGGREGATION_URL", &url)
            .env("ONESTOP_TOKEN", "any")
            .output()
    };
    let cells = example("cells.csv");
    for (args, service) in [
        (vec!["indicators", "--unit", "46", "--period", "year:2026"], "aggregation"),
        (vec!["late", "list", "--unit", "46", "--list", "pending-overdue"], "aggregation"),
        (vec!["push-cells", &cells], "intake"),
        (vec!["load", "units", &example("units.csv")], "catalogue"),
    ] {
        let output = run(args.clone()).await.unwrap();
        let said = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {said}");
        assert_eq!(
            said,
            format!(
                "onestop: cannot reach {service} at {url} — is it running? (start it with `cargo run -p onestop-local`)\n"
            ),
            "{args:?}"
        );
    }
}

/// A commune submits its March report, the province lists who has reported and returns it, the commune submits
/// again, a comparison finds nothing moved, and the province's reports come as one ZIP.
#[tokio::test]
async fn periodic_reports_from_the_command_line() {
    let Some(database) = onestop_testkit::database().await else { return };
    let keys = SystemKeys::generate();
    let token_of = |claims: onestop_auth::Claims| keys.issuer.issue(&claims);
    let scopes = [onestop_auth::SCOPE_READ, onestop_auth::SCOPE_REPORT];
    let commune = token_of(onestop_auth::Claims {
        unit: Some(COMMUNE.into()),
        ..onestop_auth::claims("ubnd-19753", onestop_auth::Role::Unit, &scopes, 600)
    });
    let office = token_of(onestop_auth::Claims {
        province: Some(PROVINCE.into()),
        ..onestop_auth::claims("office-46", onestop_auth::Role::Province, &scopes, 600)
    });
    let stack = Stack::start_with_keys(ServerArgs::for_database(database.url()), keys, Addresses::any_free_port())
        .await
        .unwrap();
    let mut catalogue = stack.catalogue_client();
    catalogue.upsert_units(UpsertUnitsRequest { units: units() }).await.unwrap();
    let cursor =
        catalogue.upsert_centers(UpsertCentersRequest { centers: centers() }).await.unwrap().into_inner().cursor;
    // The command line names no cursor: wait until aggregation's copy of the catalogue holds the units.
    let knows_units = onestop_proto::aggregation::v1::GetIndicatorsRequest {
        unit_code: COMMUNE.into(),
        period: Some(onestop_proto::aggregation::v1::DayRange {
            from_day: "2026-03-01".into(),
            to_day: "2026-03-31".into(),
        }),
        min_catalogue_cursor: cursor,
        ..Default::default()
    };
    stack.aggregation_client().get_indicators(knows_units).await.unwrap();
    let march = ["--period", "month:2026:3"];

    let submitted =
        succeeded(&onestop(&stack, &commune, &[&["reports", "submit", "--unit", COMMUNE][..], &march].concat()).await);
    assert!(submitted.starts_with("report 1 version 1 of locality 19753: submitted"), "{submitted}");
    assert!(submitted.contains("sha256 ") && submitted.contains("due 2026-04-02, submitted late"), "{submitted}");
    let listed =
        succeeded(&onestop(&stack, &office, &[&["reports", "list", "--unit", PROVINCE][..], &march].concat()).await);
    let commune_line = listed.lines().find(|l| l.starts_with(COMMUNE)).unwrap_or_else(|| panic!("{listed}"));
    assert!(commune_line.contains("submitted") && commune_line.contains("late"), "{listed}");
    assert!(listed.lines().any(|l| l.starts_with(PROVINCE) && l.contains("not submitted")), "{listed}");

    let returned = succeeded(
        &onestop(
            &stack,
            &office,
            &["reports", "review", "--report", "1", "--version", "1", "--return", "Thiếu ngày 31/3"],
        )
        .await,
    );
    assert!(returned.contains("returned (Thiếu ngày 31/3)"), "{returned}");
    let again =
        succeeded(&onestop(&stack, &commune, &[&["reports", "submit", "--unit", COMMUNE][..], &march].concat()).await);
    assert!(again.starts_with("report 1 version 2"), "{again}");
    let compared = succeeded(&onestop(&stack, &office, &["reports", "compare", "--report", "1"]).await);
    assert!(
        compared.contains("no figure changed since submission") && compared.contains("0 corrections"),
        "{compared}"
    );

    let zip = std::env::temp_dir().join(format!("onestop-cli-reports-{}.zip", std::process::id()));
    let zip_name = zip.display().to_string();
    succeeded(
        &onestop(
            &stack,
            &office,
            &[&["reports", "export", "--unit", PROVINCE, "--out", &zip_name][..], &march].concat(),
        )
        .await,
    );
    assert!(std::fs::read(&zip).unwrap().starts_with(b"PK"));
    let _ = std::fs::remove_file(&zip);
    let refused = onestop(&stack, &office, &[&["reports", "submit", "--unit", COMMUNE][..], &march].concat()).await;
    assert!(text(&refused.stderr).contains("PermissionDenied"), "{}", text(&refused.stderr));
    stack.shutdown().await.unwrap();
}
