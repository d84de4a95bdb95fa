//! `onestop-demo`: loads the demonstration province into running services (see [`onestop_local::demo_command`]).

use clap::Parser;
use onestop_local::demo_command::{run, DemoArgs};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let summary = run(&DemoArgs::parse()).await?;
    println!("{summary}");
    Ok(())
}
