//! The two change streams aggregation follows, each applied exactly once.
//!
//! - [`intake`]: cells into the roll-ups, case records into the monitoring copy;
//! - [`catalogue`]: units, centers, sectors, procedure versions and the calendar into aggregation's copy, and
//!   the full-online roll-up recomputed where a decision changes a procedure's online level.
//!
//! Each batch is applied in one transaction together with the cursor of its last change, so a restart or a cut
//! stream resumes exactly after what was applied. Both feeds take one transaction-level advisory lock: a cell
//! and the decision that classifies its procedure are never applied concurrently, so neither misses the other.

pub mod catalogue;
pub mod intake;

use std::future::Future;
use std::time::Duration;

use onestop_server::serve::StopSignal;

/// The `stream_cursor.source` of each feed.
pub const INTAKE: &str = "intake";
pub const CATALOGUE: &str = "catalogue";

/// The channel notified when case records were applied, for late-case watches.
pub const CASES_APPLIED: &str = "aggregation_cases_applied";

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
    Ok(())
}

async fn lock_rollups(tx: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(ROLLUP_LOCK).execute(&mut *tx).await?;
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
