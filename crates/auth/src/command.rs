//! The token commands shared by `onestop-token` and `onestop token`: make a signing key, issue a token.

use clap::{Subcommand, ValueEnum};

use crate::{claims, Claims, Issuer, Role, Secret, AUDIENCE_ONESTOP, MAX_PRINCIPAL_DAYS};

/// The roles tokens are issued for by hand. Services mint their own tokens, per call, with their own keys.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Software,
    Province,
    National,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Prints a new private key (keep it secret) and its public key.
    Keygen {
        /// The key's id, carried in every token it signs, so keys can be rotated.
        #[arg(long)]
        kid: String,
        /// Make the key of this service (its SERVICE_KEY), trusted only for its own calls; without it, an
        /// issuer key, for `issue`.
        #[arg(long)]
        service: Option<String>,
    },
    /// Prints a token signed with an issuer's private key.
    Issue {
        /// File holding the private key as `kid=<base64>` (or give it with --key / ONESTOP_SIGNING_KEY).
        #[arg(long, conflicts_with = "key")]
        key_file: Option<std::path::PathBuf>,
        #[arg(long, env = "ONESTOP_SIGNING_KEY", hide_env_values = true)]
        key: Option<Secret>,
        /// Who the token is for: a vendor system, an office.
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
        /// How long the token is valid, at most 400 days (services refuse longer-lived tokens).
        #[arg(long, default_value_t = 30)]
        days: i64,
        /// The service the token is for: `onestop` (every service), or `catalogue`, `intake` or `aggregation`.
        #[arg(long, default_value = AUDIENCE_ONESTOP)]
        audience: String,
    },
}

/// Runs `command`, returning what to print.
pub fn run(command: TokenCommand) -> Result<String, String> {
    match command {
        TokenCommand::Keygen { kid, service } => {
            let key = Issuer::generate(&kid);
            let (private_goes, public_goes, public) = match &service {
                Some(service) => (
                    format!("{service}'s SERVICE_KEY, nowhere else"),
                    "an entry of SERVICE_PUBLIC_KEYS",
                    key.service_public_text(service),
                ),
                None => ("issue --key-file; never give it to a service".into(), "AUTH_PUBLIC_KEYS", key.public_text()),
            };
            Ok(format!(
                "private key ({private_goes}): {}\npublic key ({public_goes}): {public}",
                key.private_text().expose()
            ))
        }
        TokenCommand::Issue { key_file, key, sub, role, centers, province, scopes, days, audience } => {
            let text = match (key_file, key) {
                (Some(path), _) => std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?,
                (None, Some(key)) => key.expose().to_owned(),
                (None, None) => return Err("give --key-file or --key".into()),
            };
            let issuer = Issuer::parse(&text)?;
            let role = match role {
                RoleArg::Software => Role::Software,
                RoleArg::Province => Role::Province,
                RoleArg::National => Role::National,
            };
            if role == Role::Software && centers.is_empty() {
                return Err("software pushes for centers: give --center".into());
            }
            if role == Role::Province && province.is_none() {
                return Err("a provincial office needs --province".into());
            }
            if !(1..=MAX_PRINCIPAL_DAYS).contains(&days) {
                return Err(format!(
                    "--days {days}: from 1 to {MAX_PRINCIPAL_DAYS}; services refuse longer-lived tokens"
                ));
            }
            let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let claims = Claims { centers, province, aud: audience, ..claims(&sub, role, &scopes, days * 86_400) };
            Ok(issuer.issue(&claims))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{now, Verifier};

    fn issue(key: &Issuer, days: i64, audience: &str) -> Result<String, String> {
        run(TokenCommand::Issue {
            key_file: None,
            key: Some(key.private_text()),
            sub: "vendor-a".into(),
            role: RoleArg::National,
            centers: vec![],
            province: None,
            scopes: vec!["read".into()],
            days,
            audience: audience.into(),
        })
    }

    #[test]
    fn issued_tokens_are_for_their_audience_and_live_at_most_the_longest_lifetime() {
        let key = Issuer::generate("k1");
        let verifier = Verifier::parse(&key.public_text()).unwrap();
        let everywhere = issue(&key, MAX_PRINCIPAL_DAYS, AUDIENCE_ONESTOP).unwrap();
        assert!(verifier.verify(&everywhere, "catalogue", now()).is_ok());
        assert!(verifier.verify(&everywhere, "aggregation", now()).is_ok());
        let aggregation_only = issue(&key, 1, "aggregation").unwrap();
        assert!(verifier.verify(&aggregation_only, "aggregation", now()).is_ok());
        assert!(verifier.verify(&aggregation_only, "catalogue", now()).is_err());
        assert!(issue(&key, MAX_PRINCIPAL_DAYS + 1, AUDIENCE_ONESTOP).unwrap_err().contains("--days"));
        assert!(issue(&key, 0, AUDIENCE_ONESTOP).is_err());
    }

    #[test]
    fn keygen_names_where_each_half_goes() {
        let issuer = run(TokenCommand::Keygen { kid: "2026-11".into(), service: None }).unwrap();
        assert!(issuer.contains("AUTH_PUBLIC_KEYS") && issuer.contains("never give it to a service"), "{issuer}");
        let intake =
            run(TokenCommand::Keygen { kid: "intake-2026-11".into(), service: Some("intake".into()) }).unwrap();
        assert!(intake.contains("SERVICE_PUBLIC_KEYS") && intake.contains("intake:intake-2026-11="), "{intake}");
        let private = intake.lines().next().unwrap().rsplit(' ').next().unwrap();
        assert!(Issuer::parse(private).is_ok(), "{intake}");
    }
}
