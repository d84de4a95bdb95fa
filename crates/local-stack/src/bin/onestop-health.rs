//! `onestop-health`: a container healthcheck for a onestop service (see [`onestop_local::probe`]).

use clap::Parser;
use onestop_local::probe::{check, ProbeArgs};
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = ProbeArgs::parse();
    match check(&args).await {
        Ok(ServingStatus::Serving) => {
            println!("SERVING");
            std::process::ExitCode::SUCCESS
        }
        Ok(status) => {
            println!("{}", status.as_str_name());
            std::process::ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("onestop-health: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
