//! Keeps the roll-ups current from intake's change stream.
//!
//! Changes are applied in batches, each batch in one transaction together with the cursor of its last change,
//! so a restart or a cut stream resumes exactly after what was applied: nothing lost, nothing counted twice.

use std::collections::HashMap;
use std::time::Duration;

use onestop_domain::Measure;
use onestop_proto::convert::measures_from_wire;
use onestop_proto::intake::v1::watch_changes_response::Change;
use onestop_proto::intake::v1::{Measures, WatchChangesRequest};
use onestop_server::client::IntakeClient;
use onestop_server::serve::StopSignal;
use sqlx::PgPool;
use tokio_stream::StreamExt;

pub const INTAKE: &str = "intake";
/// Most changes applied in one transaction.
const BATCH: usize = 5000;
/// How long a batch waits for more changes before it is applied.
const LINGER: Duration = Duration::from_millis(20);

/// The cursor of the last intake change applied, empty before any.
pub async fn cursor(pool: impl sqlx::PgExecutor<'_>, source: &str) -> Result<String, sqlx::Error> {
    let stored: Option<String> = sqlx::query_scalar("SELECT cursor FROM stream_cursor WHERE source = $1")
        .bind(source)
        .fetch_optional(pool)
        .await?;
    Ok(stored.unwrap_or_default())
}

/// Follows intake's changes until `stop`, reconnecting after any failure.
pub async fn follow_intake(pool: PgPool, intake: IntakeClient, mut stop: StopSignal) {
    loop {
        tokio::select! {
            outcome = follow_once(&pool, intake.clone()) => {
                if let Err(error) = outcome {
                    tracing::warn!(error = format!("{error:#}"), "intake change stream interrupted; resuming");
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

async fn follow_once(pool: &PgPool, mut intake: IntakeClient) -> anyhow::Result<()> {
    let after_cursor = cursor(pool, INTAKE).await?;
    let mut stream = intake.watch_changes(WatchChangesRequest { after_cursor }).await?.into_inner();
    loop {
        let Some(first) = stream.next().await else { return Ok(()) };
        let mut batch = vec![first?];
        while batch.len() < BATCH {
            match tokio::time::timeout(LINGER, stream.next()).await {
                Ok(Some(next)) => batch.push(next?),
                Ok(None) | Err(_) => break,
            }
        }
        apply(pool, &batch).await?;
    }
}

fn signed(measures: Option<&Measures>) -> [i64; 11] {
    let mut out = [0i64; 11];
    if let Some(Ok(m)) = measures.map(measures_from_wire) {
        for (slot, measure) in out.iter_mut().zip(Measure::ALL) {
            *slot = m.get(measure) as i64;
        }
    }
    out
}

/// Applies a batch of changes and records its last cursor, in one transaction.
async fn apply(pool: &PgPool, batch: &[onestop_proto::intake::v1::WatchChangesResponse]) -> anyhow::Result<()> {
    let mut deltas: HashMap<(String, chrono::NaiveDate), [i64; 11]> = HashMap::new();
    for change in batch {
        if let Some(Change::Cell(cell)) = &change.change {
            let day = cell.day.parse()?;
            let (old, new) = (signed(cell.old_measures.as_ref()), signed(cell.new_measures.as_ref()));
            let total = deltas.entry((cell.center_code.clone(), day)).or_default();
            for i in 0..11 {
                total[i] += new[i] - old[i];
            }
        }
    }
    let mut keys: Vec<&(String, chrono::NaiveDate)> = deltas.keys().collect();
    keys.sort();
    let literal = |d: &[i64; 11]| format!("{{{}}}", d.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO center_day AS c (center_code, day, received_direct, received_online, received_postal,
             resolved_early, resolved_on_time, resolved_late, withdrawn_or_returned, results_returned_by_post,
             apology_notices_issued, pending_in_time, pending_overdue)
         SELECT center_code, day, d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11]
         FROM (SELECT center_code, day, d::bigint[] AS d
               FROM UNNEST($1::text[], $2::date[], $3::text[]) AS t(center_code, day, d)) AS given
         ON CONFLICT (center_code, day) DO UPDATE SET
             received_direct = c.received_direct + EXCLUDED.received_direct,
             received_online = c.received_online + EXCLUDED.received_online,
             received_postal = c.received_postal + EXCLUDED.received_postal,
             resolved_early = c.resolved_early + EXCLUDED.resolved_early,
             resolved_on_time = c.resolved_on_time + EXCLUDED.resolved_on_time,
             resolved_late = c.resolved_late + EXCLUDED.resolved_late,
             withdrawn_or_returned = c.withdrawn_or_returned + EXCLUDED.withdrawn_or_returned,
             results_returned_by_post = c.results_returned_by_post + EXCLUDED.results_returned_by_post,
             apology_notices_issued = c.apology_notices_issued + EXCLUDED.apology_notices_issued,
             pending_in_time = c.pending_in_time + EXCLUDED.pending_in_time,
             pending_overdue = c.pending_overdue + EXCLUDED.pending_overdue",
    )
    .bind(keys.iter().map(|k| k.0.as_str()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| literal(&deltas[*k])).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    let last = &batch.last().expect("a batch is not empty").cursor;
    sqlx::query(
        "INSERT INTO stream_cursor (source, cursor) VALUES ($1, $2)
         ON CONFLICT (source) DO UPDATE SET cursor = EXCLUDED.cursor, applied_at = now()",
    )
    .bind(INTAKE)
    .bind(last)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
