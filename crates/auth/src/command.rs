//! The token commands shared by `onestop-token` and `onestop token`: make a signing key, make every key of a
//! system at once (for docker compose), issue a token.

use clap::{Subcommand, ValueEnum};

use crate::{claims, Claims, Issuer, Role, Secret, AUDIENCE_ONESTOP, MAX_PRINCIPAL_DAYS};

/// The roles tokens are issued for by hand. Services mint their own tokens, per call, with their own keys.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Software,
    Province,
    National,
    /// A locality's people's committee (a commune): give --unit.
    Unit,
    /// A provincial department or agency: give --agency.
    Agency,
}

// Parsed once per run: the size of the largest variant costs nothing worth boxing it for.
#[allow(clippy::large_enum_variant)]
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
    /// Prints fresh keys for a whole system as an environment file, for docker compose.
    ///
    /// The issuer's private key (ONESTOP_ISSUER_KEY, for issuing tokens, never for a service), the public keys every
    /// service trusts, and intake's and aggregation's own private keys: `docker compose run --rm -T keys > .env`.
    Env,
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
        /// For a locality: its unit code.
        #[arg(long)]
        unit: Option<String>,
        /// For a department or agency: its agency code.
        #[arg(long)]
        agency: Option<String>,
        /// push, read, publish, define, follow or report (repeat for several).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// How long the token is valid, at most 400 days (services refuse longer-lived tokens).
        #[arg(long, default_value_t = 30)]
        days: i64,
        /// The service the token is for: `onestop` (every service), or `catalogue`, `intake` or `aggregation`.
        #[arg(long, default_value = AUDIENCE_ONESTOP)]
        audience: String,
        /// Also write the token to this file, readable by its owner only.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// The dashboard's address (such as http://127.0.0.1:8080): also print the link that signs an office in
        /// with the token.
        #[arg(long)]
        dashboard: Option<String>,
    },
}

/// The variables `env` writes, each with what it holds.
pub const ENV_VARIABLES: [(&str, &str); 5] = [
    ("ONESTOP_ISSUER_KEY", "the issuer's private key: signs people's tokens; for `onestop-token issue` only"),
    ("AUTH_PUBLIC_KEYS", "the issuer's public key, trusted by every service"),
    ("SERVICE_PUBLIC_KEYS", "intake's and aggregation's public keys, each trusted for that service's calls"),
    ("INTAKE_SERVICE_KEY", "intake's own private key (its SERVICE_KEY), for intake alone"),
    ("AGGREGATION_SERVICE_KEY", "aggregation's own private key (its SERVICE_KEY), for aggregation alone"),
];

/// Fresh keys of a system as an environment file, with ids naming each key's job and the day it was made.
fn environment_file(today: &str) -> String {
    let key = |job: &str| Issuer::generate(&format!("{job}-{today}"));
    let (issuer, intake, aggregation) = (key("issuer"), key("intake"), key("aggregation"));
    let values = [
        issuer.private_text().expose().to_owned(),
        issuer.public_text(),
        format!("{},{}", intake.service_public_text("intake"), aggregation.service_public_text("aggregation")),
        intake.private_text().expose().to_owned(),
        aggregation.private_text().expose().to_owned(),
    ];
    let mut out = format!(
        "# The keys of a onestop system, made by `onestop-token env` on {today}. Keep this file private: it holds\n\
         # private keys. docker compose reads it and gives each container only the variables named for it.\n"
    );
    for ((name, holds), value) in ENV_VARIABLES.iter().zip(values) {
        // Quoted: base64 has '=', '+' and '/', and compose takes a single-quoted value as it is.
        out += &format!("# {holds}\n{name}='{value}'\n");
    }
    out
}

/// Today's date as `YYYYMMDD`, in UTC, from the system clock.
fn today() -> String {
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm), to keep chrono out of this crate.
    let days = crate::now().div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}")
}

/// Writes `text` to `path`, readable by its owner only.
fn write_private(path: &std::path::Path, text: &str) -> Result<(), String> {
    let failed = |e: std::io::Error| format!("{}: {e}", path.display());
    std::fs::write(path, text).map_err(failed)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(failed)?;
    }
    Ok(())
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
        TokenCommand::Env => Ok(environment_file(&today()).trim_end().to_owned()),
        TokenCommand::Issue {
            key_file,
            key,
            sub,
            role,
            centers,
            province,
            unit,
            agency,
            scopes,
            days,
            audience,
            out,
            dashboard,
        } => {
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
                RoleArg::Unit => Role::Unit,
                RoleArg::Agency => Role::Agency,
            };
            if role == Role::Software && centers.is_empty() {
                return Err("software pushes for centers: give --center".into());
            }
            if role == Role::Province && province.is_none() {
                return Err("a provincial office needs --province".into());
            }
            if role == Role::Unit && unit.is_none() {
                return Err("a locality needs --unit".into());
            }
            if role == Role::Agency && agency.is_none() {
                return Err("a department or agency needs --agency".into());
            }
            if !(1..=MAX_PRINCIPAL_DAYS).contains(&days) {
                return Err(format!(
                    "--days {days}: from 1 to {MAX_PRINCIPAL_DAYS}; services refuse longer-lived tokens"
                ));
            }
            let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let claims =
                Claims { centers, province, unit, agency, aud: audience, ..claims(&sub, role, &scopes, days * 86_400) };
            let token = issuer.issue(&claims);
            if let Some(path) = out {
                write_private(&path, &token)?;
            }
            match dashboard {
                Some(url) => Ok(format!("{token}\nsign-in link: {}/sign-in?token={token}", url.trim_end_matches('/'))),
                None => Ok(token),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

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
            unit: None,
            agency: None,
            scopes: vec!["read".into()],
            days,
            audience: audience.into(),
            out: None,
            dashboard: None,
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
    fn the_environment_file_holds_a_working_key_for_each_job() {
        let file = run(TokenCommand::Env).unwrap();
        let value = |name: &str| {
            let line = file.lines().find(|l| l.starts_with(&format!("{name}="))).unwrap_or_else(|| panic!("{file}"));
            line.split_once('=').unwrap().1.trim_matches('\'').to_owned()
        };
        let issuer = Issuer::parse(&value("ONESTOP_ISSUER_KEY")).unwrap();
        assert_eq!(value("AUTH_PUBLIC_KEYS"), issuer.public_text());
        assert!(issuer.kid().starts_with("issuer-2"), "{}", issuer.kid());
        let verifier =
            Verifier::parse(&value("AUTH_PUBLIC_KEYS")).unwrap().trust_services(&value("SERVICE_PUBLIC_KEYS"));
        let verifier = verifier.unwrap();
        let intake = Issuer::parse(&value("INTAKE_SERVICE_KEY")).unwrap();
        let aggregation = Issuer::parse(&value("AGGREGATION_SERVICE_KEY")).unwrap();
        assert!(value("SERVICE_PUBLIC_KEYS").contains(&intake.service_public_text("intake")));
        assert!(value("SERVICE_PUBLIC_KEYS").contains(&aggregation.service_public_text("aggregation")));
        // The issuer's tokens are accepted; a service's key cannot make a principal's token.
        let token = issuer.issue(&claims("operator", Role::National, &["read"], 60));
        assert!(verifier.verify(&token, "catalogue", now()).is_ok());
        let forged = intake.issue(&claims("operator", Role::National, &["read"], 60));
        assert!(verifier.verify(&forged, "catalogue", now()).is_err());
        let kids = BTreeSet::from([issuer.kid(), intake.kid(), aggregation.kid()]);
        assert_eq!(kids.len(), 3, "one key per job");
        for (name, _) in ENV_VARIABLES {
            assert_eq!(file.lines().filter(|l| l.starts_with(&format!("{name}="))).count(), 1, "{name}");
        }
    }

    #[test]
    fn today_is_a_calendar_date() {
        let date = today();
        assert_eq!(date.len(), 8, "{date}");
        let (year, month, day): (u32, u32, u32) =
            (date[..4].parse().unwrap(), date[4..6].parse().unwrap(), date[6..].parse().unwrap());
        assert!((2024..2200).contains(&year) && (1..=12).contains(&month) && (1..=31).contains(&day), "{date}");
    }

    #[test]
    fn an_issued_token_can_be_written_for_its_owner_only() {
        let key = Issuer::generate("k1");
        let path = std::env::temp_dir().join(format!("onestop-token-{}", std::process::id()));
        let token = run(TokenCommand::Issue {
            key_file: None,
            key: Some(key.private_text()),
            sub: "operator".into(),
            role: RoleArg::National,
            centers: vec![],
            province: None,
            unit: None,
            agency: None,
            scopes: vec!["read".into()],
            days: 1,
            audience: AUDIENCE_ONESTOP.into(),
            out: Some(path.clone()),
            dashboard: None,
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), token);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o077, 0);
        }
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn an_office_token_comes_with_its_dashboard_sign_in_link() {
        let key = Issuer::generate("k1");
        let printed = run(TokenCommand::Issue {
            key_file: None,
            key: Some(key.private_text()),
            sub: "office-46".into(),
            role: RoleArg::Province,
            centers: vec![],
            province: Some("46".into()),
            unit: None,
            agency: None,
            scopes: vec!["read".into()],
            days: 1,
            audience: AUDIENCE_ONESTOP.into(),
            out: None,
            dashboard: Some("http://127.0.0.1:8080/".into()),
        })
        .unwrap();
        let (token, link) = printed.split_once('\n').unwrap();
        assert_eq!(link, format!("sign-in link: http://127.0.0.1:8080/sign-in?token={token}"));
        let principal = Verifier::parse(&key.public_text()).unwrap().verify(token, AUDIENCE_ONESTOP, now()).unwrap();
        assert_eq!(principal.province.as_deref(), Some("46"));
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
