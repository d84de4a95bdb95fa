//! The service's PostgreSQL pool. Each service keeps its tables in a schema of its own, named after it, and
//! applies its own migrations there; no service reads another's tables.

use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use crate::config::{DatabaseUrl, ServerArgs};

/// How long a starting service waits for its database to come up.
const STARTUP_WAIT: Duration = Duration::from_secs(60);

/// How PostgreSQL plans a service's prepared statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plans {
    /// PostgreSQL's default: after five runs a statement may keep one generic plan. Right for short statements
    /// run often.
    Cached,
    /// A plan for each call's own parameters. Right for reports over arrays of centers and ranges of days, where a
    /// generic plan cannot see how many rows a parameter selects (measured on a province-year: a generic plan read
    /// every cell of the year where the call's own plan read nine days, 900 ms against 115 ms).
    PerCall,
}

/// Opens a pool whose connections use `schema`, creating the schema and applying `migrator` first.
pub async fn connect_and_migrate(
    args: &ServerArgs,
    schema: &str,
    migrator: &Migrator,
    plans: Plans,
) -> anyhow::Result<PgPool> {
    let options = connect_options(args, &args.database_url, schema, plans).context("DATABASE_URL")?;
    let pool = connect_with_retry(args, options, schema).await?;
    create_schema(&pool, schema).await?;
    // The migrator holds an advisory lock while it runs, so replicas starting together apply each migration once.
    migrator.run(&pool).await.with_context(|| format!("applying the {schema} migrations"))?;
    Ok(pool)
}

/// Opens a pool on a read-only copy of the database (a streaming replica of the primary), whose connections use
/// `schema` as the primary's do. Nothing is created or migrated there: the primary's schema arrives by replication.
pub async fn connect_reads(args: &ServerArgs, url: &DatabaseUrl, schema: &str, plans: Plans) -> anyhow::Result<PgPool> {
    let options = connect_options(args, url, schema, plans).context("the read database URL")?;
    connect_with_retry(args, options, schema).await
}

fn connect_options(
    args: &ServerArgs,
    url: &DatabaseUrl,
    schema: &str,
    plans: Plans,
) -> anyhow::Result<PgConnectOptions> {
    let statement_timeout = args.database_statement_timeout_ms.to_string();
    // Notices such as "schema already exists, skipping" on every start say nothing anyone needs to read.
    let mut settings = vec![
        ("search_path", schema),
        ("statement_timeout", statement_timeout.as_str()),
        ("client_min_messages", "warning"),
        // A request is one backend on one core: the services answer from indexes and roll-ups, where starting
        // parallel workers costs more than the reading (5 to 10 ms of a province-year's answer), and under load
        // the other cores serve other requests.
        ("max_parallel_workers_per_gather", "0"),
        // Nor JIT compilation: on a national database the planner's estimates for an answer's reads pass the JIT
        // threshold, and compiling took 150 ms of queries that run in 2.
        ("jit", "off"),
    ];
    if plans == Plans::PerCall {
        settings.push(("plan_cache_mode", "force_custom_plan"));
    }
    Ok(PgConnectOptions::from_str(url).context("is not a PostgreSQL URL")?.options(settings).application_name(schema))
}

/// Connects, retrying while the database is starting (as it is when a whole system comes up at once).
async fn connect_with_retry(args: &ServerArgs, options: PgConnectOptions, schema: &str) -> anyhow::Result<PgPool> {
    let deadline = Instant::now() + STARTUP_WAIT;
    loop {
        let attempt = PgPoolOptions::new()
            .max_connections(args.database_max_connections)
            .acquire_timeout(args.database_acquire_timeout())
            .connect_with(options.clone())
            .await;
        match attempt {
            Ok(pool) => return Ok(pool),
            Err(error @ (sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut)) if Instant::now() < deadline => {
                tracing::warn!(%error, schema, "database not reachable yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => return Err(error).with_context(|| format!("connecting to the database for schema {schema}")),
        }
    }
}

async fn create_schema(pool: &PgPool, schema: &str) -> anyhow::Result<()> {
    // The schema name is one of our own constants, never input, so quoting it is enough.
    let created = sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")).execute(pool).await;
    match created {
        Ok(_) => Ok(()),
        // Two replicas creating it at once: one wins, which is all we need.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() || e.code().as_deref() == Some("42P06") => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating schema {schema}")),
    }
}

/// Checks that the database answers, on a connection of its own: a probe that waited for a pooled connection
/// would report a busy service as a dead database.
pub struct Probe {
    options: PgConnectOptions,
    connection: Option<PgConnection>,
}

impl Probe {
    pub fn new(pool: &PgPool) -> Probe {
        Probe { options: (*pool.connect_options()).clone(), connection: None }
    }

    /// Whether the database answers a trivial query within `timeout`, reconnecting when needed.
    pub async fn is_reachable(&mut self, timeout: Duration) -> bool {
        let answered = tokio::time::timeout(timeout, async {
            if self.connection.is_none() {
                self.connection = Some(PgConnection::connect_with(&self.options).await?);
            }
            let connection = self.connection.as_mut().expect("connected above");
            sqlx::query("SELECT 1").execute(connection).await.map(|_| ())
        })
        .await;
        let reachable = matches!(answered, Ok(Ok(())));
        if !reachable {
            // A connection that failed or timed out may be half-way through a query: start afresh next time.
            self.connection = None;
        }
        reachable
    }
}
