//! `onestop`: the command line of onestop, for integrators of one-stop software and analysts.
//!
//!     onestop push-cells counts.csv
//!     onestop indicators --unit 46 --period quarter:2026:1 --cut-off decree09 --breakdown child-unit --format csv
//!     onestop form06 --unit 46 --from 2026-01-01 --to 2026-03-31 --out bieu-06.xlsx
//!
//! Every command takes the services' URLs and a token (`ONESTOP_TOKEN`, or `--token-file`, such as the local
//! run's `.onestop/operator-token`).

mod commands;
mod input;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "onestop", about = "Pushes to and reads from onestop.")]
pub struct Args {
    #[arg(long, env = "CATALOGUE_URL", default_value = "http://127.0.0.1:50051", global = true)]
    pub catalogue_url: String,
    #[arg(long, env = "INTAKE_URL", default_value = "http://127.0.0.1:50052", global = true)]
    pub intake_url: String,
    #[arg(long, env = "AGGREGATION_URL", default_value = "http://127.0.0.1:50053", global = true)]
    pub aggregation_url: String,
    /// The bearer token to call with.
    #[arg(long, env = "ONESTOP_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<onestop_auth::Secret>,
    /// A file holding the token.
    #[arg(long, global = true, default_value = ".onestop/operator-token")]
    pub token_file: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

/// A unit or a center, and a period: a day range or a reporting period.
#[derive(Debug, Clone, clap::Args)]
pub struct Scope {
    #[arg(long, conflicts_with = "center")]
    pub unit: Option<String>,
    #[arg(long)]
    pub center: Option<String>,
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// month:YEAR:M, quarter:YEAR:Q, half:YEAR:H, nine-months:YEAR or year:YEAR.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub period: Option<String>,
    #[arg(long, value_enum, default_value_t = CutOff::Calendar)]
    pub cut_off: CutOff,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CutOff {
    Calendar,
    Decree09,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BreakdownArg {
    ChildUnit,
    Center,
    Month,
    Sector,
    Procedure,
    Level,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pushes daily cells from a CSV (center_code, procedure_code, day and measure columns) over the bulk stream.
    PushCells {
        file: PathBuf,
        #[arg(long, default_value = "onestop-cli")]
        sender: String,
        /// Cells per stream message.
        #[arg(long, default_value_t = 5000)]
        batch: usize,
    },
    /// Pushes case records from a CSV (one row per case, at most one apology notice in notice_* columns).
    PushCases {
        file: PathBuf,
        #[arg(long, default_value = "onestop-cli")]
        sender: String,
    },
    /// Publishes a decision whose items are in a CSV or XLSX file (see docs/catalogue-files.md).
    PublishDecision {
        file: PathBuf,
        #[arg(long)]
        number: String,
        #[arg(long)]
        signed_on: String,
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        effective_from: String,
        /// The province (its unit code) whose decision this is; without it, a national decision.
        #[arg(long, default_value = "")]
        province: String,
    },
    /// Indicators of a unit or center over a period.
    Indicators {
        #[command(flatten)]
        scope: Scope,
        #[arg(long, value_enum)]
        breakdown: Option<BreakdownArg>,
        /// Only these indicators (repeat); all when absent.
        #[arg(long = "indicator")]
        indicators: Vec<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Form 06 of a unit or center over a period, written as XLSX or CSV (by the file's extension).
    Form06 {
        #[command(flatten)]
        scope: Scope,
        #[arg(long)]
        out: PathBuf,
    },
    /// Prints open cases as they become overdue or come within N working days of their due date.
    WatchLate {
        #[arg(long, conflicts_with = "center")]
        unit: Option<String>,
        #[arg(long)]
        center: Option<String>,
        #[arg(long, default_value_t = 3)]
        within: u32,
    },
    /// Makes signing keys and issues tokens.
    Token {
        #[command(subcommand)]
        command: onestop_auth::command::TokenCommand,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match commands::run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("onestop: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}
