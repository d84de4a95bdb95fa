//! The settings the services take reach them however the system is run: the run command takes every one of them
//! (same flags, same environment variables, same defaults); `deploy.rs` checks docker-compose.yml.

use std::collections::BTreeSet;

use clap::{CommandFactory, Parser};
use onestop_local::run::{local_keys, RunArgs};
use onestop_local::Stack;
use onestop_proto::catalogue::v1::ListSectorsRequest;
use onestop_server::auth::Issuer;
use onestop_server::config::ServerArgs;

/// The services' shared settings, as a command.
fn services_command() -> clap::Command {
    <ServerArgs as clap::Args>::augment_args(clap::Command::new("service"))
}

#[test]
fn the_run_command_takes_every_service_setting_under_the_same_name_and_default() {
    let run = RunArgs::command();
    let mut compared = 0;
    for setting in services_command().get_arguments() {
        let id = setting.get_id().as_str();
        let ours = run.get_arguments().find(|a| a.get_id() == id).unwrap_or_else(|| panic!("no {id}"));
        assert_eq!(ours.get_long(), setting.get_long(), "{id}");
        assert_eq!(ours.get_env(), setting.get_env(), "{id}");
        // The run command starts its own database and makes its own keys when these are not given.
        if !["database_url", "auth_public_keys"].contains(&id) {
            assert_eq!(ours.get_default_values(), setting.get_default_values(), "{id}");
        }
        compared += 1;
    }
    assert!(compared >= 15, "only {compared} settings compared");
}

#[test]
fn settings_naming_one_service_are_refused_rather_than_ignored() {
    let parse = |args: &[&str]| RunArgs::try_parse_from(["onestop-local"].iter().chain(args)).unwrap();
    assert!(parse(&[]).services("postgres://h/db").is_ok());
    let listen = parse(&["--listen-addr", "127.0.0.1:50051"]).services("postgres://h/db").unwrap_err();
    assert!(listen.to_string().contains("--catalogue-addr"), "{listen}");
    let metrics = parse(&["--metrics-addr", "127.0.0.1:9091"]).services("postgres://h/db").unwrap_err();
    assert!(metrics.to_string().contains("--catalogue-metrics-addr"), "{metrics}");
    let key = Issuer::generate("k").private_text();
    let own_key = parse(&["--service-key", key.expose()]).services("postgres://h/db").unwrap_err();
    assert!(own_key.to_string().contains("its own key"), "{own_key}");
}

#[test]
fn the_run_keeps_its_keys_and_gives_no_service_the_issuers() {
    let dir = std::env::temp_dir().join(format!("onestop-run-keys-{}", std::process::id()));
    let keys = local_keys(&dir).unwrap();
    let again = local_keys(&dir).unwrap();
    assert_eq!(again.issuer.public_text(), keys.issuer.public_text(), "kept across restarts");
    assert_eq!(again.intake.public_text(), keys.intake.public_text());
    let kids = BTreeSet::from([keys.issuer.kid(), keys.intake.kid(), keys.aggregation.kid()]);
    assert_eq!(kids.len(), 3, "one key per job: {kids:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for name in ["issuer-key", "intake-key", "aggregation-key"] {
            let mode = std::fs::metadata(dir.join(name)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{name} is readable by others: {mode:o}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A limit given to the run command holds at the services it starts.
#[tokio::test]
async fn a_setting_given_to_the_run_command_reaches_its_services() {
    let Some(database) = onestop_testkit::database().await else { return };
    let args = [
        "onestop-local",
        "--rate-limit-per-second",
        "0.1",
        "--rate-limit-burst",
        "2",
        "--catalogue-addr",
        "127.0.0.1:0",
        "--intake-addr",
        "127.0.0.1:0",
        "--aggregation-addr",
        "127.0.0.1:0",
    ];
    let run = RunArgs::try_parse_from(args).unwrap();
    let settings = run.services(database.url()).unwrap();
    assert_eq!(settings.auth.rate_limit_per_second, 0.1);
    let stack = Stack::start_with(settings, run.addresses()).await.unwrap();
    let mut catalogue = stack.catalogue_client();
    for _ in 0..2 {
        catalogue.list_sectors(ListSectorsRequest {}).await.expect("within the burst");
    }
    let over = catalogue.list_sectors(ListSectorsRequest {}).await.unwrap_err();
    assert_eq!(over.code(), tonic::Code::ResourceExhausted, "{}", over.message());
    stack.shutdown().await.unwrap();
    drop(database);
}

#[test]
fn cargo_run_of_the_package_runs_the_run_command() {
    // The README's `cargo run -p onestop-local`: with several binaries, cargo needs to be told which.
    let manifest = include_str!("../Cargo.toml");
    assert!(manifest.lines().any(|line| line.trim() == r#"default-run = "onestop-local""#), "{manifest}");
}
