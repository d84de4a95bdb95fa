//! What each command does, one module per family of commands.

mod catalogue;
mod form06;
mod indicators;
mod late;
mod push;
mod rank;
mod reports;

use anyhow::Context;
use onestop_server::auth::Credentials;
use onestop_server::client::{self, AggregationClient, CatalogueClient, IntakeClient};

use crate::args::{Args, Command};

pub async fn run(args: Args) -> anyhow::Result<()> {
    if let Command::Token { command } = args.command {
        println!("{}", onestop_auth::command::run(command).map_err(anyhow::Error::msg)?);
        return Ok(());
    }
    let services = Services { credentials: credentials(&args)?, args: &args };
    match &args.command {
        Command::PushCells { file, sender, batch } => push::cells(&services, file, sender, *batch).await,
        Command::PushCases { file, sender } => push::cases(&services, file, sender).await,
        Command::PublishDecision { file, number, signed_on, issuer, effective_from, province } => {
            let decision = catalogue::Decision { number, signed_on, issuer, effective_from, province };
            catalogue::publish_decision(&services, file, decision).await
        }
        Command::Load { kind, file } => catalogue::load(&services, *kind, file).await,
        Command::Indicators { scope, breakdown, indicators, output } => {
            indicators::run(&services, scope, *breakdown, indicators, output).await
        }
        Command::Rank { unit, period, indicator, output } => {
            rank::run(&services, unit, period, indicator, output).await
        }
        Command::Form06 { scope, out } => form06::run(&services, scope, out).await,
        Command::Late { command } => late::run(&services, command).await,
        Command::WatchLate { place, within } => late::watch(&services, place, *within).await,
        Command::Reports { command } => reports::run(&services, command).await,
        Command::Token { .. } => unreachable!("handled above"),
    }
}

fn credentials(args: &Args) -> anyhow::Result<Credentials> {
    let token = match &args.token {
        Some(token) => token.expose().to_owned(),
        None => std::fs::read_to_string(&args.token_file)
            .with_context(|| format!("no token: set ONESTOP_TOKEN or --token-file ({})", args.token_file.display()))?,
    };
    Ok(Credentials::token(token.trim()))
}

/// The three services, as the command line was told to reach them.
pub struct Services<'a> {
    args: &'a Args,
    credentials: Credentials,
}

#[derive(Debug, Clone, Copy)]
pub enum Service {
    Catalogue,
    Intake,
    Aggregation,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Catalogue => "catalogue",
            Service::Intake => "intake",
            Service::Aggregation => "aggregation",
        }
    }
}

impl Services<'_> {
    pub fn catalogue(&self) -> anyhow::Result<CatalogueClient> {
        client::catalogue(&self.args.catalogue_url, None, &self.credentials)
    }

    pub fn intake(&self) -> anyhow::Result<IntakeClient> {
        client::intake(&self.args.intake_url, None, &self.credentials)
    }

    /// The intake cursor reads wait for (`--after-cursor`), empty for none.
    pub fn after_cursor(&self) -> String {
        self.args.after_cursor.clone()
    }

    pub fn aggregation(&self) -> anyhow::Result<AggregationClient> {
        client::aggregation(&self.args.aggregation_url, None, &self.credentials)
    }

    fn url(&self, service: Service) -> &str {
        match service {
            Service::Catalogue => &self.args.catalogue_url,
            Service::Intake => &self.args.intake_url,
            Service::Aggregation => &self.args.aggregation_url,
        }
    }

    /// Turns a failed call into a sentence: a service that cannot be reached is said so, with how to start
    /// it, rather than with the transport's chain of errors.
    pub fn failed(&self, service: Service) -> impl Fn(tonic::Status) -> anyhow::Error + '_ {
        move |status| {
            // A status the client made up itself carries the transport error it came from; one the service
            // sent does not.
            if status.code() == tonic::Code::Unavailable && std::error::Error::source(&status).is_some() {
                anyhow::Error::new(Unreachable { service: service.name(), url: self.url(service).to_owned() })
            } else {
                anyhow::anyhow!("{} answered {:?}: {}", service.name(), status.code(), status.message())
            }
        }
    }
}

/// A service that did not answer at all.
#[derive(Debug)]
pub struct Unreachable {
    service: &'static str,
    url: String,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot reach {} at {} — is it running? (start it with `cargo run -p onestop-local`)",
            self.service, self.url
        )
    }
}

impl std::error::Error for Unreachable {}
