//! `onestop-token`: makes signing keys and issues tokens.
//!
//!     onestop-token keygen --kid 2026-11
//!     onestop-token keygen --kid intake-2026-11 --service intake
//!     onestop-token env > .env          # every key of a system, for docker compose
//!     onestop-token issue --key-file issuer-key --role software --sub vendor-a --center BPMC-19753 --scope push
//!
//! An issuer key's public half goes to every service (`AUTH_PUBLIC_KEYS`, comma-separated to accept several
//! during a rotation); its private half stays where tokens are issued, never in a service. A service's key
//! (`--service`) goes to that service alone (`SERVICE_KEY`), its public half to every service
//! (`SERVICE_PUBLIC_KEYS`, as `service:kid=<base64>`).

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
