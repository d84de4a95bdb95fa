//! The `onestop` binary against a running system: pushes from CSV (with located errors and progress), indicators
//! as CSV, form 06 as XLSX, a decision from CSV, late cases watched, and key generation.

use std::path::Path;
use std::process::Output;

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
