//! `onestop-bench`: measures the whole system on a generated province, each figure beside the plain PostgreSQL
//! operation it should be compared with, in the same run, at several sizes.
//!
//!     cargo run --release -p onestop-bench -- suite
//!     cargo run --release -p onestop-bench -- pushers
//!
//! Uses `DATABASE_URL` when set (a fresh database is created on that server for each size), else a throwaway
//! cluster from the local PostgreSQL binaries. The services run as child processes of this binary.

mod catch_up;
mod dashboard;
mod load;
mod national;
mod pushers;
mod queries;
mod services;
mod suite;
mod timing;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "onestop-bench", about = "Benchmarks onestop on a generated province.")]
enum Command {
    /// Every figure of docs/BENCHMARKS.md at 1x, 4x and 16x the province-year: ingest over gRPC against COPY,
    /// indicators against a plain SQL GROUP BY, push-to-visible freshness, peak memory of each service, storage,
    /// and a new aggregation replica catching up from the first change (at 1x).
    Suite(suite::Args),
    /// Concurrent pushers at the services' default settings, each its own principal pushing unary batches of
    /// 100 new cells for its own center, against as many PostgreSQL connections inserting the same rows.
    Pushers(pushers::Args),
    /// Times the province-year's indicators by commune on a database a suite kept (`--keep-databases`), with
    /// the services started afresh on it: to compare a change to the answer path without loading again.
    Indicators {
        /// The kept database.
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 30)]
        repetitions: usize,
        /// Also the nation's year by province (a database the national scenario kept).
        #[arg(long)]
        nation: bool,
    },
    /// The dashboard's pages for the demonstration province: server time per page against the plain SQL query of
    /// the same month, and optionally screenshots for docs/.
    Dashboard(dashboard::Args),
    /// Runs one service from the environment, as its own binary would (the suite starts these).
    #[command(hide = true)]
    Serve {
        #[arg(value_enum)]
        service: services::Service,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Command::parse() {
        Command::Suite(args) => suite::run(args).await,
        Command::Pushers(args) => pushers::run(args).await,
        Command::Dashboard(args) => dashboard::run(args).await,
        Command::Indicators { database_url, repetitions, nation } => {
            suite::indicators_only(&database_url, repetitions, nation).await
        }
        Command::Serve { service } => services::serve_one(service).await,
    }
}
