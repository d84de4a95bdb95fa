//! A new aggregation replica catching up: a second aggregation process on a fresh database of its own follows
//! the same catalogue and intake from their first change, until its intake cursor equals the primary's. Its
//! progress is sampled all along, so that the rate over the first and the last quarter of the history can be
//! compared: a page of the change stream should cost the same however far into the history it lies.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::services::Processes;

/// How often the replica's cursor is read.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// How a replica caught up with a history of `changes` cell changes.
pub struct CatchUp {
    pub changes: u64,
    /// From starting the replica's process to its reporting SERVING (its migrations).
    pub started: Duration,
    /// From starting the replica's process to its intake cursor equal to the primary's.
    pub caught_up: Duration,
    /// Changes per second over each quarter of the history, in stream order.
    pub quarter_rates: [f64; 4],
    pub peak_memory: u64,
}

impl CatchUp {
    /// Changes per second over the whole catch-up, its start included.
    pub fn rate(&self) -> f64 {
        self.changes as f64 / self.caught_up.as_secs_f64()
    }
}

/// The intake cursor aggregation has applied up to, in the database at `pool`; empty before any change.
pub async fn applied_intake_cursor(pool: &PgPool) -> anyhow::Result<String> {
    let cursor: Option<String> =
        sqlx::query_scalar("SELECT cursor FROM aggregation.stream_cursor WHERE source = 'intake'")
            .fetch_optional(pool)
            .await?;
    Ok(cursor.unwrap_or_default())
}

/// The cursor of intake's newest cell change (intake's stream cursor: transaction id, kind 0 for cells, row id),
/// empty before any.
pub async fn newest_intake_change(pool: &PgPool) -> anyhow::Result<String> {
    let newest: Option<String> = sqlx::query_scalar(
        "SELECT xid::text || '.0.' || id FROM intake.daily_cell_change ORDER BY xid DESC, id DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    Ok(newest.unwrap_or_default())
}

/// Waits until aggregation has applied every cell change intake holds (nothing else is being pushed).
pub async fn wait_until_applied(pool: &PgPool) -> anyhow::Result<()> {
    let newest = newest_intake_change(pool).await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    while applied_intake_cursor(pool).await? != newest {
        anyhow::ensure!(Instant::now() < deadline, "aggregation did not apply intake's changes within 10 minutes");
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    Ok(())
}

/// The row id of a cell change's cursor (`xid.kind.id`): changes pushed one transaction after another are
/// numbered in stream order, so it counts the changes up to the cursor.
fn change_number(cursor: &str) -> anyhow::Result<u64> {
    if cursor.is_empty() {
        return Ok(0);
    }
    let id = cursor.rsplit('.').next().unwrap_or_default();
    id.parse().map_err(|_| anyhow::anyhow!("{cursor:?} is not an intake cursor"))
}

/// Starts a replica of aggregation on a fresh database and measures its catch-up with the primary of `system`,
/// whose database is at `database_url`, once that primary has applied every change.
pub async fn measure(system: &Processes, database_url: &str) -> anyhow::Result<CatchUp> {
    let primary = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(database_url).await?;
    wait_until_applied(&primary).await?;
    let target = applied_intake_cursor(&primary).await?;
    let changes: i64 = sqlx::query_scalar("SELECT count(*) FROM intake.daily_cell_change").fetch_one(&primary).await?;
    let changes = changes as u64;
    // Progress is read from the cursor's row id; should the ids have gaps, they are scaled to the changes.
    let last_number = change_number(&target)?.max(1);
    let applied = |cursor: &str| -> anyhow::Result<u64> { Ok(change_number(cursor)? * changes / last_number) };

    let db = onestop_testkit::database().await.ok_or_else(|| anyhow::anyhow!("no database"))?;
    let begun = Instant::now();
    let replica = system.start_aggregation_replica(db.url()).await?;
    let started = begun.elapsed();
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(db.url()).await?;
    let deadline = begun + Duration::from_secs(3600);
    let mut progress = vec![(started, 0u64)];
    loop {
        let cursor = applied_intake_cursor(&pool).await?;
        progress.push((begun.elapsed(), applied(&cursor)?));
        if cursor == target {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the replica did not catch up within an hour");
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    let caught_up = begun.elapsed();
    let peak_memory = replica.peak_memory()?;
    replica.stop().await?;
    let cells = "SELECT count(*) FROM aggregation.procedure_cell";
    let replica_cells: i64 = sqlx::query_scalar(cells).fetch_one(&pool).await?;
    let primary_cells: i64 = sqlx::query_scalar(cells).fetch_one(&primary).await?;
    anyhow::ensure!(
        replica_cells == primary_cells,
        "the replica holds {replica_cells} cells, the primary {primary_cells}"
    );
    pool.close().await;
    drop(db);
    Ok(CatchUp { changes, started, caught_up, quarter_rates: quarter_rates(&progress), peak_memory })
}

/// Changes per second over each quarter of the history, from samples of (time, changes applied): each quarter
/// from the time the first of its changes was applied to the time the last was, interpolating between samples.
fn quarter_rates(progress: &[(Duration, u64)]) -> [f64; 4] {
    let total = progress.last().map_or(0, |&(_, n)| n);
    // The time `n` changes had been applied; the first quarter starts when the first change was.
    let reached = |n: u64| -> f64 {
        let after = progress.iter().position(|&(_, applied)| applied >= n.max(1)).unwrap_or(progress.len() - 1);
        if after == 0 {
            return progress[0].0.as_secs_f64();
        }
        let ((t0, n0), (t1, n1)) = (progress[after - 1], progress[after]);
        let share = (n.saturating_sub(n0)) as f64 / (n1 - n0) as f64;
        t0.as_secs_f64() + share * (t1 - t0).as_secs_f64()
    };
    let bounds: Vec<u64> = (0..=4).map(|q| total * q / 4).collect();
    std::array::from_fn(|q| (bounds[q + 1] - bounds[q]) as f64 / (reached(bounds[q + 1]) - reached(bounds[q])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_catch_up_has_equal_quarters() {
        // Nothing for 2 s, then 1,000 changes a second.
        let progress: Vec<(Duration, u64)> =
            (0..=10).map(|s| (Duration::from_secs(s), s.saturating_sub(2) * 1000)).collect();
        let rates = quarter_rates(&progress);
        for rate in rates {
            assert!((rate - 1000.0).abs() < 1.0, "{rates:?}");
        }
    }

    #[test]
    fn a_slowing_catch_up_shows_in_its_last_quarter() {
        // 4,000 changes a second for 3 s (12,000), then 1,000 a second for 4 s (16,000): the last quarter is
        // 4,000 changes at 1,000 a second.
        let mut progress = vec![(Duration::ZERO, 0)];
        progress.extend((1..=3).map(|s| (Duration::from_secs(s), s * 4000)));
        progress.extend((1..=4).map(|s| (Duration::from_secs(3 + s), 12_000 + s * 1000)));
        let rates = quarter_rates(&progress);
        assert!((rates[0] - 4000.0).abs() < 1.0, "{rates:?}");
        assert!((rates[3] - 1000.0).abs() < 1.0, "{rates:?}");
    }

    #[test]
    fn a_cursor_numbers_its_change() {
        assert_eq!(change_number("7531.0.1488824").unwrap(), 1_488_824);
        assert_eq!(change_number("").unwrap(), 0);
        assert!(change_number("x").is_err());
    }
}
