//! The two change streams aggregation follows, each applied exactly once.
//!
//! - [`intake`]: cells into the roll-ups, case records into the monitoring copy;
//! - [`catalogue`]: units, centers, sectors, procedure versions and the calendar into aggregation's copy, and
//!   the full-online roll-up recomputed where a decision changes a procedure's online level.
//!
//! Each batch is applied in one transaction together with the cursor of its last change, so a restart or a cut
//! stream resumes exactly after what was applied. A change that cannot be applied because of what it holds (a
//! value PostgreSQL cannot store, a date that does not parse) is found by halving the batch, set aside in
//! `set_aside_change` with its reason (operators list them with `ListSetAsideChanges`), and skipped, so one bad
//! change never stops the others; a database that is away only delays the batch. Both feeds take one transaction-level advisory lock: a cell
//! and the decision that classifies its procedure are never applied concurrently, so neither misses the other.

pub mod catalogue;
pub mod intake;
pub mod month_sets;
pub mod notice_backfill;
pub mod numbering;
pub mod stock_changes;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use onestop_server::serve::StopSignal;
use prost::Message;
use sqlx::PgPool;

/// The `stream_cursor.source` of each feed.
pub const INTAKE: &str = "intake";
pub const CATALOGUE: &str = "catalogue";

/// The channel notified when case records were applied, for late-case watches.
pub const CASES_APPLIED: &str = "aggregation_cases_applied";

/// The channel notified whenever either feed applied changes, for reads waiting to include them.
pub const APPLIED: &str = "aggregation_applied";

/// The advisory lock both feeds hold while they write roll-ups.
const ROLLUP_LOCK: i64 = 0x0a66_7265_6761_7465;

/// The cursor of the last change applied from `source`, empty before any.
pub async fn cursor(db: impl sqlx::PgExecutor<'_>, source: &str) -> Result<String, sqlx::Error> {
    let stored: Option<String> = sqlx::query_scalar("SELECT cursor FROM stream_cursor WHERE source = $1")
        .bind(source)
        .fetch_optional(db)
        .await?;
    Ok(stored.unwrap_or_default())
}

/// How far intake's stream and the catalogue's have been applied, in one statement: (intake's cursor, the
/// catalogue's), each empty or 0 before the first change.
pub async fn applied_cursors(db: impl sqlx::PgExecutor<'_>) -> Result<AppliedCursors, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        intake: Option<String>,
        intake_applied_at: Option<DateTime<Utc>>,
        catalogue: Option<String>,
        catalogue_applied_at: Option<DateTime<Utc>>,
    }
    let row: Row = sqlx::query_as(
        "SELECT i.cursor AS intake, i.applied_at AS intake_applied_at,
                c.cursor AS catalogue, c.applied_at AS catalogue_applied_at
         FROM (SELECT 1) AS one
         LEFT JOIN stream_cursor i ON i.source = $1
         LEFT JOIN stream_cursor c ON c.source = $2",
    )
    .bind(INTAKE)
    .bind(CATALOGUE)
    .fetch_one(db)
    .await?;
    Ok(AppliedCursors {
        intake: row.intake.unwrap_or_default(),
        intake_applied_at: row.intake_applied_at,
        catalogue: row.catalogue.and_then(|c| c.parse().ok()).unwrap_or(0),
        catalogue_applied_at: row.catalogue_applied_at,
    })
}

/// How far each stream has been applied, and when its last applied change was.
#[derive(Debug, Clone, Default)]
pub struct AppliedCursors {
    pub intake: String,
    pub intake_applied_at: Option<DateTime<Utc>>,
    pub catalogue: u64,
    pub catalogue_applied_at: Option<DateTime<Utc>>,
}

/// Records that `source` has been applied up to `cursor`; part of the transaction that applied it.
async fn advance(tx: &mut sqlx::PgConnection, source: &str, cursor: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stream_cursor (source, cursor) VALUES ($1, $2)
         ON CONFLICT (source) DO UPDATE SET cursor = EXCLUDED.cursor, applied_at = now()",
    )
    .bind(source)
    .bind(cursor)
    .execute(&mut *tx)
    .await?;
    onestop_server::notify::notify_on_commit(tx, APPLIED).await
}

async fn lock_rollups(tx: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(ROLLUP_LOCK).execute(&mut *tx).await?;
    Ok(())
}

/// Holds both feeds back until the end of `tx` (after letting the batch in progress finish): what `tx` reads
/// next is the figures at one cursor of each stream, and every change applied after it commits sees what it
/// wrote. A report's submission holds them while it computes and stores its figures.
pub async fn hold_back(tx: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock_shared($1)").bind(ROLLUP_LOCK).execute(&mut *tx).await?;
    Ok(())
}

/// Runs `follow_once` until `stop`, resuming after any failure.
pub async fn keep_following<F, Fut>(name: &'static str, mut stop: StopSignal, follow_once: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    loop {
        tokio::select! {
            outcome = follow_once() => {
                if let Err(error) = outcome {
                    tracing::warn!(error = format!("{error:#}"), stream = name, "change stream interrupted; resuming");
                }
            }
            _ = stop.stopped() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.stopped() => return,
        }
    }
}

/// The earliest of the source times given, as the lag metrics take it.
fn oldest(times: impl Iterator<Item = Option<prost_types::Timestamp>>) -> Option<std::time::SystemTime> {
    times.flatten().filter_map(|t| std::time::SystemTime::try_from(t).ok()).min()
}

/// Reads up to `max` items from `stream`: waits for the first, then takes what arrives within `linger`.
async fn next_batch<T, S>(stream: &mut S, max: usize, linger: Duration) -> Option<Result<Vec<T>, tonic::Status>>
where
    S: tokio_stream::Stream<Item = Result<T, tonic::Status>> + Unpin,
{
    use tokio_stream::StreamExt;
    let first = match stream.next().await? {
        Ok(first) => first,
        Err(status) => return Some(Err(status)),
    };
    let mut batch = vec![first];
    while batch.len() < max {
        match tokio::time::timeout(linger, stream.next()).await {
            Ok(Some(Ok(next))) => batch.push(next),
            Ok(Some(Err(status))) => return Some(Err(status)),
            Ok(None) | Err(_) => break,
        }
    }
    Some(Ok(batch))
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One change stream aggregation follows.
pub trait Feed {
    type Change: prost::Message + Sync;
    /// Its `stream_cursor.source`.
    const SOURCE: &'static str;

    fn cursor(change: &Self::Change) -> String;

    /// A line an operator can read: what the change is about.
    fn summary(change: &Self::Change) -> String;

    /// Applies a batch and records its last cursor, in one transaction, skipping what is already applied.
    fn apply<'a>(pool: &'a PgPool, batch: &'a [Self::Change]) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// Where a cursor lies in its stream: both streams' cursors are dot-separated integers ordered as tuples.
pub fn position(cursor: &str) -> Option<Vec<i64>> {
    if cursor.is_empty() {
        return Some(vec![]);
    }
    cursor.split('.').map(|part| part.parse().ok()).collect()
}

/// Whether a failure to apply is the change's own fault, so retrying it can never succeed: PostgreSQL refused a
/// value (SQLSTATE classes 22, data exception, and 23, integrity), or the change could not be read at all.
/// Anything else (a lost connection, a conflict with another transaction) is retried.
fn is_the_changes_fault(error: &anyhow::Error) -> bool {
    match error.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Database(db)) => db.code().is_some_and(|c| c.starts_with("22") || c.starts_with("23")),
        Some(_) => false,
        None => true,
    }
}

/// Applies `batch`; a change it cannot apply is set aside and the others are applied.
pub fn apply_or_set_aside<'a, F: Feed>(pool: &'a PgPool, batch: &'a [F::Change]) -> BoxFuture<'a, anyhow::Result<()>> {
    Box::pin(async move {
        let error = match F::apply(pool, batch).await {
            Ok(()) => return Ok(()),
            Err(error) if !is_the_changes_fault(&error) => return Err(error),
            Err(error) => error,
        };
        match batch {
            [] => Ok(()),
            [change] => set_aside::<F>(pool, change, &error).await,
            _ => {
                let (first, second) = batch.split_at(batch.len() / 2);
                apply_or_set_aside::<F>(pool, first).await?;
                apply_or_set_aside::<F>(pool, second).await
            }
        }
    })
}

/// Records `change` as set aside with `error`, and the stream as applied past it, in one transaction.
async fn set_aside<F: Feed>(pool: &PgPool, change: &F::Change, error: &anyhow::Error) -> anyhow::Result<()> {
    let cursor_text = F::cursor(change);
    let reason = format!("{error:#}");
    let mut tx = pool.begin().await?;
    lock_rollups(&mut tx).await?;
    let applied = cursor(&mut *tx, F::SOURCE).await?;
    if position(&cursor_text) <= position(&applied) {
        return Ok(());
    }
    tracing::error!(source = F::SOURCE, cursor = %cursor_text, %reason, "a change cannot be applied: set aside");
    sqlx::query(
        "INSERT INTO set_aside_change (source, cursor, summary, change, reason) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (source, cursor) DO NOTHING",
    )
    .bind(F::SOURCE)
    .bind(&cursor_text)
    .bind(F::summary(change))
    .bind(change.encode_to_vec())
    .bind(&reason)
    .execute(&mut *tx)
    .await?;
    advance(&mut tx, F::SOURCE, &cursor_text).await?;
    tx.commit().await?;
    Ok(())
}
