//! The `onestop` binary against a running system: pushes from CSV (with located errors), indicators as CSV,
//! form 06 as XLSX, and key generation.

use std::path::Path;
use std::process::Output;

use onestop_local::{Addresses, Stack};
use onestop_proto::catalogue::v1::*;
use onestop_server::config::ServerArgs;
use onestop_testkit::fixtures::*;

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
    let server = ServerArgs::for_database(database.url());
    let token = server.operator_token();
    let stack = Stack::start_with(server, Addresses::any_free_port()).await.unwrap();
    let mut catalogue = stack.catalogue_client();
    catalogue.upsert_units(UpsertUnitsRequest { units: units() }).await.unwrap();
    catalogue.upsert_sectors(UpsertSectorsRequest { sectors: sectors() }).await.unwrap();
    catalogue.upsert_centers(UpsertCentersRequest { centers: centers() }).await.unwrap();
    catalogue.publish_decision(PublishDecisionRequest { decision: Some(decision()) }).await.unwrap();
    catalogue.set_center_procedures(center_procedures(COMMUNE_CENTER)).await.unwrap();

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

    let keys = onestop(&stack, &token, &["token", "keygen", "--kid", "2026-11"]).await;
    assert!(text(&keys.stdout).contains("public key (AUTH_PUBLIC_KEYS):"));
    let denied = onestop(&stack, "not-a-token", &["indicators", "--unit", PROVINCE, "--period", "year:2026"]).await;
    assert!(text(&denied.stderr).contains("malformed"), "{}", text(&denied.stderr));

    stack.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
