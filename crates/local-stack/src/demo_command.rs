//! `onestop-demo`: loads the demonstration province into a system already running elsewhere (the containers of
//! docker-compose.yml), through its services, with an operator's token: what `onestop-local --demo` does for its
//! own in-process system.

use std::path::PathBuf;

use anyhow::{bail, Context};
use onestop_generator::province::{Province, PROVINCE_CODE, PROVINCE_YEAR};
use onestop_server::auth::{client_tls, Credentials, Secret};
use onestop_server::client;
use onestop_server::config::{DatabaseUrl, TlsArgs};

use crate::demo;

#[derive(Debug, Clone, clap::Parser)]
#[command(name = "onestop-demo", about = "Loads the demonstration province into running onestop services.")]
pub struct DemoArgs {
    #[arg(long, env = "CATALOGUE_URL", default_value = "http://127.0.0.1:50051")]
    pub catalogue_url: String,

    #[arg(long, env = "INTAKE_URL", default_value = "http://127.0.0.1:50052")]
    pub intake_url: String,

    /// A token with the publish and push scopes (a national operator's), or `--token-file`.
    #[arg(long, env = "ONESTOP_TOKEN", hide_env_values = true)]
    pub token: Option<Secret>,

    /// A file holding the token, as `onestop-token issue --out` writes it.
    #[arg(long, env = "ONESTOP_TOKEN_FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,

    /// How many days of cases before today to load.
    #[arg(long, env = "DEMO_DAYS", default_value_t = 60)]
    pub days: u32,

    /// The services' database, to stamp each center-day's first push as the simulated software sent it (the
    /// history is pushed all at once); without it, reporting completeness counts every day but the last as late.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,

    #[command(flatten)]
    pub tls: TlsArgs,
}

impl DemoArgs {
    fn credentials(&self) -> anyhow::Result<Credentials> {
        let token = match (&self.token, &self.token_file) {
            (Some(token), _) => token.expose().to_owned(),
            (None, Some(path)) => {
                std::fs::read_to_string(path).with_context(|| format!("reading the token in {}", path.display()))?
            }
            (None, None) => bail!("give a token: --token / ONESTOP_TOKEN or --token-file / ONESTOP_TOKEN_FILE"),
        };
        let credentials = Credentials::token(token.trim());
        Ok(match client_tls(&self.tls)? {
            Some(tls) => credentials.with_tls(tls),
            None => credentials,
        })
    }
}

/// Loads the province's reference data, then its cells and case records of the last `days` days, and stamps the
/// first pushes when the database is given. Returns what to tell the operator.
pub async fn run(args: &DemoArgs) -> anyhow::Result<String> {
    let credentials = args.credentials()?;
    let catalogue = client::catalogue(&args.catalogue_url, None, &credentials)?;
    let intake = client::intake(&args.intake_url, None, &credentials)?;
    let province = Province::new(46, PROVINCE_YEAR);
    demo::load_reference_data(catalogue, &province).await.context("loading the reference data")?;
    let today = onestop_domain::today_in_vietnam(chrono::Utc::now());
    let pushed = demo::push_recent_days(intake, &province, today, args.days).await.context("pushing the cases")?;
    let stamped = match &args.database_url {
        Some(url) => {
            demo::stamp_first_pushes(url.as_str(), &pushed).await?;
            format!(
                "{} of {} center-days first pushed after the next day",
                pushed.late_center_days(),
                pushed.first_pushes.len()
            )
        }
        None => "first pushes not stamped (no DATABASE_URL): every day but the last counts as reported late".into(),
    };
    let (first, last) = (pushed.first_day.unwrap_or(today), pushed.last_day.unwrap_or(today));
    Ok(format!(
        "loaded the demonstration province {PROVINCE_CODE}, {first} to {last}: {} daily cells; {} cases resolved late \
         and {} open; {stamped}; {} late case records left out, for reconciliation to find",
        pushed.cells,
        pushed.resolved_late_records,
        pushed.open_records,
        pushed.withheld_records.len(),
    ))
}
