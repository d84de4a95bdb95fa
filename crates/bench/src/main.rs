//! `onestop-bench`: measures the running system on a generated province, each figure beside the plain
//! PostgreSQL operation it should be compared with, in the same run.
//!
//!     cargo run --release -p onestop-bench -- ingest --days 365
//!     cargo run --release -p onestop-bench -- indicators --days 365
//!
//! Uses `DATABASE_URL` when set (fresh databases are created on that server), else a throwaway cluster from the
//! local PostgreSQL binaries.

mod indicators;
mod ingest;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "onestop-bench", about = "Benchmarks onestop on a generated province.")]
enum Command {
    /// Cells per second pushed over gRPC (bulk stream and small batches) against PostgreSQL COPY of the same rows.
    Ingest(ingest::Args),
    /// Latency of a province-year's indicators by commune against a plain SQL GROUP BY over the raw cells, and
    /// push-to-visible freshness.
    Indicators(indicators::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Command::parse() {
        Command::Ingest(args) => ingest::run(args).await,
        Command::Indicators(args) => indicators::run(args).await,
    }
}
