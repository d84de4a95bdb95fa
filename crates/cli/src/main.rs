//! `onestop`: the command line of onestop, for provincial offices, integrators of one-stop software and analysts.
//!
//!     onestop push-cells examples/cells.csv
//!     onestop indicators --unit 46 --period quarter:2026:1 --cut-off decree09 --breakdown child-unit
//!     onestop rank --unit 46 --period month:2026:3 --indicator on_time_rate_form06
//!     onestop late list --unit 46 --list pending-overdue
//!     onestop form06 --unit 46 --from 2026-01-01 --to 2026-03-31 --out bieu-06.xlsx
//!
//! Every command takes the services' URLs and a token (`ONESTOP_TOKEN`, or `--token-file`, such as the local
//! run's `.onestop/operator-token`). docs/cli.md describes each command.

mod args;
mod commands;
mod input;
mod output;
mod progress;
mod scope;

use std::process::ExitCode;

/// A service that did not answer exits with its own code, so a script can tell "not running" from "refused".
const UNREACHABLE: u8 = 3;

#[tokio::main]
async fn main() -> ExitCode {
    match commands::run(args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped reading (`| head`) has what it wanted.
        Err(error) if broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("onestop: {error:#}");
            match error.downcast_ref::<commands::Unreachable>() {
                Some(_) => ExitCode::from(UNREACHABLE),
                None => ExitCode::from(2),
            }
        }
    }
}

fn broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}
