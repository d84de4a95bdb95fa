use clap::Parser;
use onestop_dashboard::{run, Config, DEFAULT_LISTEN_ADDR};
use onestop_server::{serve, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let _telemetry = telemetry::init("onestop-dashboard", &Default::default())?;
    let listener = tokio::net::TcpListener::bind(config.listen_addr.unwrap_or(DEFAULT_LISTEN_ADDR)).await?;
    println!("dashboard: http://{}/", listener.local_addr()?);
    run(config, listener, serve::shutdown_signal()).await
}
