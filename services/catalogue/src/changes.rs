//! The change log and its stream.
//!
//! Every write transaction of the catalogue starts with [`begin_write`], which takes one advisory lock, and
//! appends what it changed with [`append`]. Writers therefore commit one at a time, in cursor order, so a reader
//! that has seen cursor N has seen every change before it. Catalogue writes are rare (decisions, reference
//! data), so serialising them costs nothing that matters.

use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use onestop_proto::catalogue::v1::watch_changes_response::Change;
use onestop_proto::catalogue::v1::WatchChangesResponse;
use onestop_proto::convert::timestamp_to_wire;
use onestop_server::notify::{self, Notifier};
use onestop_server::serve::StopSignal;
use onestop_server::ServiceResult;
use prost::Message;
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;

/// The channel writers notify when a change commits.
pub const CHANNEL: &str = "catalogue_changes";
/// Rows read from the log per query while catching up.
const BATCH: i64 = 1000;
/// Re-read the log this often even without a notification, in case one was lost while reconnecting.
const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The cursor of the newest committed change; 0 before any. Writers commit in cursor order, so every change up
/// to it is committed too.
pub async fn head(db: impl sqlx::PgExecutor<'_>) -> ServiceResult<u64> {
    let cursor: i64 = sqlx::query_scalar("SELECT coalesce(max(cursor), 0) FROM change_log").fetch_one(db).await?;
    Ok(cursor as u64)
}

/// Begins a write transaction holding the catalogue's write lock.
pub async fn begin_write(pool: &PgPool) -> ServiceResult<Transaction<'static, Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('catalogue.write'))").execute(&mut *tx).await?;
    Ok(tx)
}

/// Records one change in the transaction; watchers are told when it commits.
pub async fn append(tx: &mut Transaction<'_, Postgres>, change: Change) -> ServiceResult<()> {
    let bytes = WatchChangesResponse { change: Some(change), ..Default::default() }.encode_to_vec();
    sqlx::query("INSERT INTO change_log (change) VALUES ($1)").bind(bytes).execute(&mut **tx).await?;
    notify::notify_on_commit(tx, CHANNEL).await?;
    Ok(())
}

pub type ChangeStream = Pin<Box<dyn Stream<Item = Result<WatchChangesResponse, tonic::Status>> + Send>>;

#[derive(sqlx::FromRow)]
struct LogRow {
    cursor: i64,
    committed_at: DateTime<Utc>,
    change: Vec<u8>,
}

/// Every change after `after_cursor`, then new ones as they commit, until the caller goes away.
pub fn watch(pool: PgPool, notifier: &Notifier, mut stop: StopSignal, after_cursor: u64) -> ChangeStream {
    let (sender, receiver) = mpsc::channel(256);
    let mut commits = notifier.waiter();
    tokio::spawn(async move {
        let mut cursor = i64::try_from(after_cursor).unwrap_or(i64::MAX);
        loop {
            // Mark what we have seen before reading, so a commit during the read wakes the wait below.
            commits.mark_seen();
            let rows = match read_after(&pool, cursor).await {
                Ok(rows) => rows,
                Err(error) => {
                    let _ = sender.send(Err(tonic::Status::from(error))).await;
                    return;
                }
            };
            let full = rows.len() as i64 == BATCH;
            for row in rows {
                cursor = row.cursor;
                if sender.send(Ok(decode(row))).await.is_err() {
                    return; // the caller went away
                }
            }
            if full {
                continue;
            }
            tokio::select! {
                _ = commits.wait(POLL_INTERVAL) => {}
                _ = sender.closed() => return,
                _ = stop.stopped() => {
                    let _ = sender.send(Err(tonic::Status::unavailable("the catalogue is shutting down; resume later"))).await;
                    return;
                }
            }
        }
    });
    Box::pin(ReceiverStream::new(receiver))
}

async fn read_after(pool: &PgPool, cursor: i64) -> ServiceResult<Vec<LogRow>> {
    Ok(sqlx::query_as("SELECT cursor, committed_at, change FROM change_log WHERE cursor > $1 ORDER BY cursor LIMIT $2")
        .bind(cursor)
        .bind(BATCH)
        .fetch_all(pool)
        .await?)
}

/// A change of the log as it is streamed. One the catalogue cannot read back (written around it) goes out empty
/// rather than stopping the stream for everyone after it; followers set it aside.
fn decode(row: LogRow) -> WatchChangesResponse {
    let mut change = WatchChangesResponse::decode(row.change.as_slice()).unwrap_or_else(|error| {
        tracing::error!(cursor = row.cursor, %error, "a change in the log is not decodable; sent empty");
        WatchChangesResponse::default()
    });
    change.cursor = row.cursor as u64;
    change.committed_at = Some(timestamp_to_wire(row.committed_at));
    change
}
