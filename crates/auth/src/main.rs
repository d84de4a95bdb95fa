//! `onestop-token`: makes signing keys and issues tokens.
//!
//!     onestop-token keygen --kid 2026-11
//!     onestop-token issue --key-file service-key --role software --sub vendor-a --center BPMC-19753 --scope push
//!
//! Give the public key to every service (`AUTH_PUBLIC_KEYS`, comma-separated to accept several during a
//! rotation) and keep the private key where tokens are issued (and, for a service, in `SERVICE_KEY`).

use clap::Parser;
use onestop_auth::command::{run, TokenCommand};

#[derive(Debug, Parser)]
#[command(name = "onestop-token", about = "Makes Ed25519 signing keys and issues onestop tokens.")]
struct Args {
    #[command(subcommand)]
    command: TokenCommand,
}

fn main() -> std::process::ExitCode {
    match run(Args::parse().command) {
        Ok(output) => {
            println!("{output}");
            std::process::ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("onestop-token: {message}");
            std::process::ExitCode::from(2)
        }
    }
}
