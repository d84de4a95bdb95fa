//! `onestop-token`: makes signing keys and issues tokens.
//!
//!     onestop-token keygen --kid 2026-11
//!     onestop-token issue --key-file service-key --role software --sub vendor-a --center BPMC-19753 --scope push
//!
//! Give the public key to every service (`AUTH_PUBLIC_KEYS`, comma-separated to accept several during a
//! rotation) and keep the private key where tokens are issued (and, for a service, in `SERVICE_KEY`).

use clap::{Parser, Subcommand, ValueEnum};
use onestop_auth::{claims, Claims, Issuer, Role};

#[derive(Debug, Parser)]
#[command(name = "onestop-token", about = "Makes Ed25519 signing keys and issues onestop tokens.")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    Software,
    Province,
    National,
    Service,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints a new private key (keep it secret) and its public key.
    Keygen {
        /// The key's id, carried in every token it signs, so keys can be rotated.
        #[arg(long)]
        kid: String,
    },
    /// Prints a token signed with a private key.
    Issue {
        /// File holding the private key as `kid=<base64>` (or give it with --key / ONESTOP_SIGNING_KEY).
        #[arg(long, conflicts_with = "key")]
        key_file: Option<std::path::PathBuf>,
        #[arg(long, env = "ONESTOP_SIGNING_KEY", hide_env_values = true)]
        key: Option<String>,
        /// Who the token is for: a vendor system, an office, a service.
        #[arg(long)]
        sub: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// For software: a center it pushes for (repeat for several).
        #[arg(long = "center")]
        centers: Vec<String>,
        /// For a provincial office: its province's unit code.
        #[arg(long)]
        province: Option<String>,
        /// push, read, publish, define or follow (repeat for several).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// How long the token is valid.
        #[arg(long, default_value_t = 30)]
        days: i64,
    },
}

fn main() -> std::process::ExitCode {
    match run(Args::parse().command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("onestop-token: {message}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Keygen { kid } => {
            let issuer = Issuer::generate(&kid);
            println!("private key (SERVICE_KEY, --key-file): {}", issuer.private_text());
            println!("public key (AUTH_PUBLIC_KEYS):        {}", issuer.public_text());
        }
        Command::Issue { key_file, key, sub, role, centers, province, scopes, days } => {
            let text = match (key_file, key) {
                (Some(path), _) => std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?,
                (None, Some(key)) => key,
                (None, None) => return Err("give --key-file or --key".into()),
            };
            let issuer = Issuer::parse(&text)?;
            let role = match role {
                RoleArg::Software => Role::Software,
                RoleArg::Province => Role::Province,
                RoleArg::National => Role::National,
                RoleArg::Service => Role::Service,
            };
            if role == Role::Software && centers.is_empty() {
                return Err("software pushes for centers: give --center".into());
            }
            if role == Role::Province && province.is_none() {
                return Err("a provincial office needs --province".into());
            }
            let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let claims = Claims { centers, province, ..claims(&sub, role, &scopes, days * 86_400) };
            println!("{}", issuer.issue(&claims));
        }
    }
    Ok(())
}
