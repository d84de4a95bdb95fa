use clap::Parser;
use onestop_catalogue::{run, Config, DEFAULT_LISTEN_ADDR};
use onestop_server::{serve, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let _telemetry = telemetry::init("onestop-catalogue", &config.server.telemetry)?;
    let listener = tokio::net::TcpListener::bind(config.server.listen_addr_or(DEFAULT_LISTEN_ADDR)).await?;
    run(config, listener, serve::shutdown_signal()).await
}
