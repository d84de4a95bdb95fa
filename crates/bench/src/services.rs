//! The three services as separate processes of this binary (`onestop-bench serve <service>`), as they run in
//! production, so that each one's memory can be read on its own.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use onestop_local::{serving, Addresses};
use onestop_server::auth::{Credentials, Issuer, SystemKeys};
use onestop_server::client;
use onestop_server::{serve, telemetry};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

/// A service this binary can run in its own process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    Catalogue,
    Intake,
    Aggregation,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Catalogue, Service::Intake, Service::Aggregation];

    pub fn name(self) -> &'static str {
        match self {
            Service::Catalogue => "catalogue",
            Service::Intake => "intake",
            Service::Aggregation => "aggregation",
        }
    }
}

/// Until SIGTERM, or until standard input closes: the suite holds the other end, so a service never outlives a
/// suite that was stopped.
async fn until_stopped() {
    use tokio::io::AsyncReadExt;
    let parent_gone = async {
        let mut stdin = tokio::io::stdin();
        let mut buffer = [0u8; 64];
        while matches!(stdin.read(&mut buffer).await, Ok(n) if n > 0) {}
    };
    tokio::select! {
        _ = serve::shutdown_signal() => {}
        _ = parent_gone => {}
    }
}

/// Runs one service, configured from the environment exactly as its own binary is, until stopped.
pub async fn serve_one(service: Service) -> anyhow::Result<()> {
    let program = [format!("onestop-{}", service.name())];
    match service {
        Service::Catalogue => {
            let config = onestop_catalogue::Config::parse_from(program);
            let _telemetry = telemetry::init("onestop-catalogue", &config.server.telemetry)?;
            let listener =
                TcpListener::bind(config.server.listen_addr_or(onestop_catalogue::DEFAULT_LISTEN_ADDR)).await?;
            onestop_catalogue::run(config, listener, until_stopped()).await
        }
        Service::Intake => {
            let config = onestop_intake::Config::parse_from(program);
            let _telemetry = telemetry::init("onestop-intake", &config.server.telemetry)?;
            let listener = TcpListener::bind(config.server.listen_addr_or(onestop_intake::DEFAULT_LISTEN_ADDR)).await?;
            onestop_intake::run(config, listener, until_stopped()).await
        }
        Service::Aggregation => {
            let config = onestop_aggregation::Config::parse_from(program);
            let _telemetry = telemetry::init("onestop-aggregation", &config.server.telemetry)?;
            let listener =
                TcpListener::bind(config.server.listen_addr_or(onestop_aggregation::DEFAULT_LISTEN_ADDR)).await?;
            onestop_aggregation::run(config, listener, until_stopped()).await
        }
    }
}

/// The per-principal rate limit the services run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    /// The services' defaults, as deployed.
    Default,
    /// Out of the way: for a client that is one principal doing the work of a province's software and readers
    /// at once, which the per-principal limiter would only measure itself against.
    OutOfTheWay,
}

/// The system running as three child processes on one database.
pub struct Processes {
    children: Vec<(Service, Child)>,
    addresses: Addresses,
    keys: SystemKeys,
    rate_limit: RateLimit,
    operator: Credentials,
}

/// A free loopback port, released for the child to bind.
fn free_address() -> anyhow::Result<SocketAddr> {
    Ok(SocketAddr::from(([127, 0, 0, 1], onestop_localdb::free_port()?)))
}

impl Processes {
    /// Starts catalogue, intake and aggregation in that order, each waited for until it reports SERVING.
    pub async fn start(database_url: &str, rate_limit: RateLimit) -> anyhow::Result<Processes> {
        Processes::start_only(&Service::ALL, database_url, rate_limit).await
    }

    /// Starts `services` (in the order of [`Service::ALL`]), as [`Processes::start`] does all three.
    pub async fn start_only(
        services: &[Service],
        database_url: &str,
        rate_limit: RateLimit,
    ) -> anyhow::Result<Processes> {
        // The bench holds the issuer key; each service gets only its own key and the public ones.
        let keys = SystemKeys::generate();
        let operator = keys.operator();
        let addresses = Addresses { catalogue: free_address()?, intake: free_address()?, aggregation: free_address()? };
        let mut processes = Processes { children: Vec::new(), addresses, keys, rate_limit, operator };
        for service in Service::ALL.into_iter().filter(|s| services.contains(s)) {
            let address = processes.address(service);
            let mut child = processes.spawn(service, database_url, address)?;
            let serving = wait_until_serving(&mut child, service, address).await;
            processes.children.push((service, child));
            serving?;
        }
        Ok(processes)
    }

    /// Runs `service` as a child process on `database_url`, listening on `listen`, following this system's
    /// catalogue and intake.
    fn spawn(&self, service: Service, database_url: &str, listen: SocketAddr) -> anyhow::Result<Child> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["serve", service.name()])
            .env("DATABASE_URL", database_url)
            .env("LISTEN_ADDR", listen.to_string())
            .envs(self.keys.environment(service.name()).iter().map(|(name, value)| (name, value.expose())))
            .env("CATALOGUE_URL", self.addresses.catalogue_url())
            .env("INTAKE_URL", self.addresses.intake_url())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true);
        if self.rate_limit == RateLimit::OutOfTheWay {
            command.env("RATE_LIMIT_PER_SECOND", "1000000").env("RATE_LIMIT_BURST", "1000000");
        }
        command.spawn().with_context(|| format!("starting {}", service.name()))
    }

    /// A second aggregation on a database of its own, following this system's catalogue and intake from their
    /// first change, as a new replica would; returned once it reports SERVING.
    pub async fn start_aggregation_replica(&self, database_url: &str) -> anyhow::Result<Replica> {
        let address = free_address()?;
        let mut child = self.spawn(Service::Aggregation, database_url, address)?;
        wait_until_serving(&mut child, Service::Aggregation, address).await?;
        Ok(Replica { child })
    }

    fn address(&self, service: Service) -> SocketAddr {
        match service {
            Service::Catalogue => self.addresses.catalogue,
            Service::Intake => self.addresses.intake,
            Service::Aggregation => self.addresses.aggregation,
        }
    }

    /// The key that signs principals' tokens, as the issuer of one-stop software's tokens holds it.
    pub fn issuer(&self) -> &Issuer {
        &self.keys.issuer
    }

    pub fn intake_url(&self) -> String {
        self.addresses.intake_url()
    }

    pub fn catalogue_client(&self) -> client::CatalogueClient {
        self.addresses.catalogue_client(&self.operator)
    }

    pub fn intake_client(&self) -> client::IntakeClient {
        self.addresses.intake_client(&self.operator)
    }

    pub fn aggregation_client(&self) -> client::AggregationClient {
        self.addresses.aggregation_client(&self.operator)
    }

    /// Each service's peak resident memory so far (VmHWM), in bytes.
    pub fn peak_memory(&self) -> anyhow::Result<Vec<(Service, u64)>> {
        self.children
            .iter()
            .map(|(service, child)| {
                let pid = child.id().context("the service has exited")?;
                Ok((*service, peak_resident_bytes(pid)?))
            })
            .collect()
    }

    /// Stops the services (their standard input closes; in-flight calls finish) and waits for them to exit.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        for (_, child) in self.children.iter_mut().rev() {
            drop(child.stdin.take());
        }
        for (service, child) in self.children.iter_mut().rev() {
            wait_until_stopped(child, *service).await?;
        }
        Ok(())
    }
}

/// A second aggregation process, on a database of its own.
pub struct Replica {
    child: Child,
}

impl Replica {
    /// Its peak resident memory so far (VmHWM), in bytes.
    pub fn peak_memory(&self) -> anyhow::Result<u64> {
        peak_resident_bytes(self.child.id().context("the replica has exited")?)
    }

    /// Stops it as [`Processes::stop`] stops the others.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.child.stdin.take());
        wait_until_stopped(&mut self.child, Service::Aggregation).await
    }
}

async fn wait_until_serving(child: &mut Child, service: Service, address: SocketAddr) -> anyhow::Result<()> {
    let limit = Duration::from_secs(60);
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("{} exited while starting ({status}); its error is above", service.name());
        }
        if serving(address).await {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{} did not report SERVING within {limit:?}", service.name());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_until_stopped(child: &mut Child, service: Service) -> anyhow::Result<()> {
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .with_context(|| format!("{} did not stop", service.name()))??;
    anyhow::ensure!(status.success(), "{} ended with {status}", service.name());
    Ok(())
}

/// The `VmHWM` line of `/proc/<pid>/status`: the process's peak resident set.
fn peak_resident_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc (Linux only)")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM in /proc/<pid>/status")?;
    let kib: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse()?;
    Ok(kib * 1024)
}
