//! The token commands shared by `onestop-token` and `onestop token`: make a signing key, issue a token.

use clap::{Subcommand, ValueEnum};

use crate::{claims, Claims, Issuer, Role};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Software,
    Province,
    National,
    Service,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
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

/// Runs `command`, returning what to print.
pub fn run(command: TokenCommand) -> Result<String, String> {
    match command {
        TokenCommand::Keygen { kid } => {
            let issuer = Issuer::generate(&kid);
            Ok(format!(
                "private key (SERVICE_KEY, --key-file): {}\npublic key (AUTH_PUBLIC_KEYS):        {}",
                issuer.private_text(),
                issuer.public_text()
            ))
        }
        TokenCommand::Issue { key_file, key, sub, role, centers, province, scopes, days } => {
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
            Ok(issuer.issue(&claims))
        }
    }
}
