//! `onestop-local`: runs the whole system on this machine.
//!
//! With `DATABASE_URL` set it uses that database; otherwise it keeps a PostgreSQL cluster of its own in
//! `--data-dir` (created on first run from the local PostgreSQL binaries), so a restart keeps the data. Every
//! service setting (`RATE_LIMIT_PER_SECOND`, `REQUEST_TIMEOUT_MS`, `TLS_CERT`, …) is taken as the services take it.

use clap::Parser;
use onestop_generator::province::{Province, PROVINCE_YEAR};
use onestop_local::dashboard::{office_token, Dashboard};
use onestop_local::run::{local_keys, write_secret, RunArgs};
use onestop_local::{demo, Stack};
use onestop_localdb::{Durability, Lifetime, LocalCluster};
use onestop_server::{serve, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = RunArgs::parse();
    let _telemetry = telemetry::init("onestop-local", &args.server.telemetry)?;

    let mut cluster = None;
    let database_url = match args.server.database_url.as_str() {
        "" => {
            let data_dir = std::path::absolute(args.data_dir.join("pgdata"))?;
            let started = tokio::task::spawn_blocking(move || -> anyhow::Result<(LocalCluster, String)> {
                let local = LocalCluster::start(&data_dir, Lifetime::UntilStopped, Durability::Durable)?;
                onestop_localdb::ensure_database(&local, "onestop")?;
                let url = local.url("onestop");
                Ok((local, url))
            })
            .await??;
            println!("database: {} (data in {})", started.1, args.data_dir.join("pgdata").display());
            cluster = Some(started.0);
            started.1
        }
        url => url.to_owned(),
    };

    let server = args.services(&database_url)?;
    // The issuer key stays with this command: the services get only their own keys and the public ones.
    let keys = local_keys(&args.data_dir)?;
    let token = keys.operator_token();
    write_secret(&args.data_dir.join("operator-token"), &token)?;
    let stack = Stack::start_placed(server, keys, args.addresses(), args.metrics_addresses()).await?;
    println!("catalogue:   {}", stack.catalogue_url());
    println!("intake:      {}", stack.intake_url());
    println!("aggregation: {}", stack.aggregation_url());
    let metrics = stack.metrics;
    println!(
        "metrics at http://{}/metrics (catalogue), http://{}/metrics (intake), http://{}/metrics (aggregation)",
        metrics.catalogue, metrics.intake, metrics.aggregation
    );
    if let Some(days) = args.demo {
        let province = Province::new(46, PROVINCE_YEAR);
        println!("loading the demonstration province {}...", onestop_generator::province::PROVINCE_CODE);
        let today = onestop_domain::today_in_vietnam(chrono::Utc::now());
        let pushed = demo::load(&stack, &database_url, &province, today, days).await?;
        let (first, last) = (pushed.first_day.unwrap_or(today), pushed.last_day.unwrap_or(today));
        println!(
            "loaded {first} to {last}: {} daily cells; {} cases resolved late and {} open (overdue, or due within \
             3 working days)",
            pushed.cells, pushed.resolved_late_records, pushed.open_records,
        );
        println!(
            "{} of {} center-days first pushed after the next day (as the simulated software pushed them); {} late \
             case records left out, for reconciliation to find",
            pushed.late_center_days(),
            pushed.first_pushes.len(),
            pushed.withheld_records.len(),
        );
    }
    println!("operator token (every scope, 24 h; also in {}):", args.data_dir.join("operator-token").display());
    println!("{}", token.expose());
    println!(
        "issue other tokens with: onestop token issue --key-file {} ...",
        args.data_dir.join("issuer-key").display()
    );
    let dashboard = Dashboard::start(&stack, args.dashboard_addr, args.server.tls.tls_ca.clone()).await?;
    println!("dashboard:   {}", dashboard.url());
    println!("  sign in as the nation (the operator): {}", dashboard.sign_in_link(token.expose()));
    if args.demo.is_some() {
        let province = onestop_generator::province::PROVINCE_CODE;
        let office = office_token(&stack, province, 24);
        println!("  sign in as province {province}'s office (24 h): {}", dashboard.sign_in_link(&office));
    }
    println!("ready; Ctrl-C stops");

    serve::shutdown_signal().await;
    let dashboard_outcome = dashboard.shutdown().await;
    let outcome = stack.shutdown().await.and(dashboard_outcome);
    drop(cluster);
    outcome
}
