//! The stream of every accepted change, cells and cases, for aggregation to keep its roll-ups current.
//!
//! Changes are ordered by (transaction id, kind, row id), and a reader only takes changes of transactions older
//! than every transaction still running (`pg_snapshot_xmin`): those are final, so nothing can later appear
//! before a change already delivered, and a consumer that keeps the cursor of what it applied resumes with
//! nothing lost and nothing repeated. The order is that of transactions, not of commits; a cell change carries
//! its old and new values, so applying differences gives the right totals in any order.

use std::pin::Pin;
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use onestop_proto::intake::v1::watch_changes_response::Change;
use onestop_proto::intake::v1::{CellChange, StoredCase, WatchChangesResponse};
use onestop_server::notify::Notifier;
use onestop_server::serve::StopSignal;
use onestop_server::ServiceResult;
use prost::Message;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;

use crate::cells;
use crate::pace::FollowerPace;
use onestop_proto::convert::timestamp_to_wire as to_wire;

/// The channel pushes notify when they commit.
pub const CHANNEL: &str = "intake_changes";
const BATCH: i64 = 2000;
/// Changes read but not yet taken by a follower, at most.
const FOLLOWER_BUFFER: usize = 16;
/// Changes of a transaction become deliverable once every older transaction has ended, which a notification
/// does not announce; so a stream with nothing to send looks again this often.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

const CELL: i16 = 0;
const CASE: i16 = 1;

/// A position in the stream: (transaction id, kind, row id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cursor {
    xid: i64,
    kind: i16,
    id: i64,
}

impl Cursor {
    /// Before every change: what the empty cursor means.
    pub const BEFORE_ANY: Cursor = Cursor { xid: -1, kind: 0, id: 0 };

    pub fn parse(text: &str) -> Result<Cursor, String> {
        if text.is_empty() {
            return Ok(Cursor::BEFORE_ANY);
        }
        let invalid = || "is not a cursor from this stream".to_string();
        let mut parts = text.split('.').map(|p| p.parse::<i64>().map_err(|_| invalid()));
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Ok(xid)), Some(Ok(kind @ 0..=1)), Some(Ok(id)), None) => Ok(Cursor { xid, kind: kind as i16, id }),
            _ => Err(invalid()),
        }
    }
}

impl std::fmt::Display for Cursor {
    /// The empty text before any change, as a client passes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if *self == Cursor::BEFORE_ANY {
            return Ok(());
        }
        write!(f, "{}.{}.{}", self.xid, self.kind, self.id)
    }
}

pub type ChangeStream = Pin<Box<dyn Stream<Item = Result<WatchChangesResponse, tonic::Status>> + Send>>;

/// Every change after `after`, then new ones as they become final, until the caller goes away. The follower is
/// known to `pace` while it follows: at the head each time a read finds every final change, until a push
/// commits more.
pub fn watch(
    pool: PgPool,
    notifier: &Notifier,
    pace: &FollowerPace,
    mut stop: StopSignal,
    after: Cursor,
) -> ChangeStream {
    // Little between the read and the follower, so that a follower that has taken every change is about to
    // have applied them (see `pace`).
    let (sender, receiver) = mpsc::channel(FOLLOWER_BUFFER);
    let mut waiter = notifier.waiter();
    let follower = pace.follower();
    tokio::spawn(async move {
        let mut cursor = after;
        loop {
            waiter.mark_seen();
            let read = follower.reading();
            let changes = match read_after(&pool, cursor, BATCH).await {
                Ok(changes) => changes,
                Err(error) => {
                    let _ = sender.send(Err(tonic::Status::from(error))).await;
                    return;
                }
            };
            let full = changes.len() as i64 == BATCH;
            for (position, change) in changes {
                cursor = position;
                if sender.send(Ok(change)).await.is_err() {
                    return;
                }
            }
            if full {
                continue;
            }
            // At the head once the follower has taken what the read found, not when it was read: the changes
            // in hand are what the follower has yet to apply.
            follower.at_head(read);
            // Everything read has been taken: the follower waits at the head for the next commit.
            tokio::select! {
                _ = waiter.wait(POLL_INTERVAL) => {}
                _ = sender.closed() => return,
                _ = stop.stopped() => {
                    let _ = sender.send(Err(tonic::Status::unavailable("intake is shutting down; resume later"))).await;
                    return;
                }
            }
        }
    });
    Box::pin(ReceiverStream::new(receiver))
}

#[derive(sqlx::FromRow)]
struct CellRow {
    xid: i64,
    id: i64,
    center_code: String,
    procedure_code: String,
    day: NaiveDate,
    old_measures: Option<Vec<i64>>,
    /// Not logged for a first value (see [`FIRST_VALUES`]).
    new_measures: Option<Vec<i64>>,
    sender: Option<String>,
    changed_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct CaseRow {
    xid: i64,
    id: i64,
    stored: Vec<u8>,
    changed_at: DateTime<Utc>,
}

/// Final cell changes after a cursor ($1 its transaction id, $2 the row id within it), at most $3. The condition
/// is a row comparison, which PostgreSQL reads as a range of the (xid, id) index: a page costs the same however
/// long the history.
///
/// The order is by the table's own columns (`c.xid`): ordered by the output column of the same name, a bigint
/// made from it, PostgreSQL would sort every row after the cursor for each page.
pub const CELL_CHANGES_AFTER: &str = "
    SELECT c.xid::text::bigint AS xid, c.id, c.center_code, c.procedure_code, c.day, c.old_measures,
           c.new_measures, c.sender, c.changed_at
    FROM daily_cell_change c
    WHERE (c.xid, c.id) > ($1::text::xid8, $2) AND c.xid < pg_snapshot_xmin(pg_current_snapshot())
    ORDER BY c.xid, c.id LIMIT $3";

/// What the first values among a page's cell changes wrote (`$1` their ids, `$2`–`$4` their keys), by position
/// in the arrays: a first value is logged by its key alone. The value is the cell's own unless a correction
/// followed, whose old value it then is. A later correction always has a larger id (it waited for the first
/// value's row lock), and the page reads in one snapshot, so the cell and its corrections agree with each other.
pub static FIRST_VALUES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT k.position::int4 AS position, coalesce(n.old_measures, ARRAY[{measures}]) AS measures,
                coalesce(n.old_sender, d.sender) AS sender, d.first_pushed_at
         FROM UNNEST($1::bigint[], $2::text[], $3::date[], $4::text[]) WITH ORDINALITY
              AS k(id, center_code, day, procedure_code, position)
         JOIN daily_cell d USING (center_code, day, procedure_code)
         LEFT JOIN LATERAL (
             SELECT n.old_measures, n.old_sender FROM daily_cell_change n
             WHERE n.center_code = k.center_code AND n.day = k.day AND n.procedure_code = k.procedure_code
               AND n.old_measures IS NOT NULL AND n.id > k.id
             ORDER BY n.id LIMIT 1
         ) AS n ON true",
        measures = cells::MEASURE_COLUMNS
    )
});

/// Set in the transaction that reads a page: the cell changes are partitioned by year, and PostgreSQL, which
/// cannot estimate how many rows follow a cursor in each partition, may otherwise plan to sort every change after
/// the cursor rather than merge the partitions' (xid, id) indexes in order; a page would then cost the length of
/// the history after it.
pub const READ_IN_INDEX_ORDER: &str = "SET LOCAL enable_sort = off";

/// Final case changes after a cursor, as [`CELL_CHANGES_AFTER`].
pub const CASE_CHANGES_AFTER: &str = "
    SELECT c.xid::text::bigint AS xid, c.id, c.stored, c.changed_at
    FROM case_change c
    WHERE (c.xid, c.id) > ($1::text::xid8, $2) AND c.xid < pg_snapshot_xmin(pg_current_snapshot())
    ORDER BY c.xid, c.id LIMIT $3";

/// The newest change the caller can see (its own transaction's included), or the empty cursor before any. Every
/// change a push made or relied on is at or before it, so a reader that includes it includes the push.
pub async fn head(db: &mut sqlx::PgConnection) -> ServiceResult<Cursor> {
    let newest =
        |table: &str| format!("SELECT c.xid::text::bigint, c.id FROM {table} c ORDER BY c.xid DESC, c.id DESC LIMIT 1");
    let cell: Option<(i64, i64)> = sqlx::query_as(&newest("daily_cell_change")).fetch_optional(&mut *db).await?;
    let case: Option<(i64, i64)> = sqlx::query_as(&newest("case_change")).fetch_optional(&mut *db).await?;
    let cell = cell.map(|(xid, id)| Cursor { xid, kind: CELL, id });
    let case = case.map(|(xid, id)| Cursor { xid, kind: CASE, id });
    Ok(cell.max(case).unwrap_or(Cursor::BEFORE_ANY))
}

/// Final changes after `after`, at most `limit`, in cursor order.
pub async fn read_after(
    pool: &PgPool,
    after: Cursor,
    limit: i64,
) -> ServiceResult<Vec<(Cursor, WatchChangesResponse)>> {
    // Rows of the cursor's own transaction sort by kind, then id.
    let after_in_xid = |kind: i16| {
        if after.kind == kind {
            after.id
        } else if after.kind < kind {
            0
        } else {
            i64::MAX
        }
    };
    // Both reads in one snapshot, so both stop at the same horizon (its oldest running transaction). Read in two
    // snapshots, a cell change committing between them would be held back by the first while a later case
    // change passed the second: the page would end after the case, and the cell change would never be sent.
    let mut tx = pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
    sqlx::query(READ_IN_INDEX_ORDER).execute(&mut *tx).await?;
    let mut cells: Vec<CellRow> = sqlx::query_as(CELL_CHANGES_AFTER)
        .bind(after.xid.max(0).to_string())
        .bind(if after.xid < 0 { -1 } else { after_in_xid(CELL) })
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
    fill_first_values(&mut tx, &mut cells).await?;
    let cases: Vec<CaseRow> = sqlx::query_as(CASE_CHANGES_AFTER)
        .bind(after.xid.max(0).to_string())
        .bind(if after.xid < 0 { -1 } else { after_in_xid(CASE) })
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;

    let mut out: Vec<(Cursor, WatchChangesResponse)> = Vec::with_capacity(cells.len() + cases.len());
    for row in cells {
        let cursor = Cursor { xid: row.xid, kind: CELL, id: row.id };
        let (Some(new_measures), Some(sender), Some(changed_at)) = (row.new_measures, row.sender, row.changed_at)
        else {
            // A first value whose cell is gone (written around intake): it must not stop the stream either.
            tracing::error!(id = row.id, "a cell change in the log has no cell to read its value from; sent empty");
            out.push((cursor, response_at(cursor, Utc::now())));
            continue;
        };
        let change = CellChange {
            center_code: row.center_code,
            procedure_code: row.procedure_code,
            day: row.day.to_string(),
            old_measures: row.old_measures.map(|m| (&cells::measures_of(&m)).into()),
            new_measures: Some((&cells::measures_of(&new_measures)).into()),
            sender,
        };
        out.push((cursor, response(cursor, changed_at, Change::Cell(change))));
    }
    for row in cases {
        let cursor = Cursor { xid: row.xid, kind: CASE, id: row.id };
        match StoredCase::decode(row.stored.as_slice()) {
            Ok(stored) => out.push((cursor, response(cursor, row.changed_at, Change::CaseRecord(stored)))),
            // A row intake cannot read (written around it) must not stop the stream for everyone after it:
            // it goes out empty, and the follower sets it aside.
            Err(error) => {
                tracing::error!(id = row.id, %error, "a case change in the log is not decodable; sent empty");
                out.push((cursor, WatchChangesResponse { change: None, ..response_at(cursor, row.changed_at) }));
            }
        }
    }
    out.sort_by_key(|(cursor, _)| *cursor);
    out.truncate(limit as usize);
    Ok(out)
}

/// Reads what the first values in `rows` wrote, in the page's snapshot (see [`FIRST_VALUES`]).
async fn fill_first_values(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, rows: &mut [CellRow]) -> ServiceResult<()> {
    let firsts: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].new_measures.is_none()).collect();
    if firsts.is_empty() {
        return Ok(());
    }
    let values: Vec<(i32, Vec<i64>, String, DateTime<Utc>)> = sqlx::query_as(&FIRST_VALUES)
        .bind(firsts.iter().map(|&i| rows[i].id).collect::<Vec<_>>())
        .bind(firsts.iter().map(|&i| rows[i].center_code.as_str()).collect::<Vec<_>>())
        .bind(firsts.iter().map(|&i| rows[i].day).collect::<Vec<_>>())
        .bind(firsts.iter().map(|&i| rows[i].procedure_code.as_str()).collect::<Vec<_>>())
        .fetch_all(&mut **tx)
        .await?;
    for (position, measures, sender, first_pushed_at) in values {
        let row = &mut rows[firsts[position as usize - 1]];
        row.new_measures = Some(measures);
        row.sender = Some(sender);
        row.changed_at = Some(first_pushed_at);
    }
    Ok(())
}

fn response_at(cursor: Cursor, changed_at: DateTime<Utc>) -> WatchChangesResponse {
    WatchChangesResponse { cursor: cursor.to_string(), changed_at: Some(to_wire(changed_at)), change: None }
}

fn response(cursor: Cursor, changed_at: DateTime<Utc>, change: Change) -> WatchChangesResponse {
    WatchChangesResponse { cursor: cursor.to_string(), changed_at: Some(to_wire(changed_at)), change: Some(change) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_order() {
        let c = Cursor { xid: 7450, kind: 1, id: 12 };
        assert_eq!(Cursor::parse(&c.to_string()), Ok(c));
        assert!(Cursor::parse("").unwrap() < Cursor { xid: 0, kind: 0, id: 0 });
        assert!(Cursor::parse("1.2.3").is_err());
        assert!(Cursor { xid: 5, kind: 1, id: 1 } < Cursor { xid: 6, kind: 0, id: 0 });
    }
}
