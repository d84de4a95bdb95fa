//! Loading a generated province: its reference data through the catalogue, its cells through intake's bulk
//! stream (generated on another thread while they are pushed, so no size needs them all in memory), and the
//! same rows through PostgreSQL COPY into a plain table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use onestop_generator::province::{commune_center, Province};
use onestop_proto::intake::v1::{DailyCell, PushCellsRequest, PushCellsStreamRequest};
use onestop_server::client::IntakeClient;
use sqlx::{Connection, PgConnection};
use tokio_stream::StreamExt;

use crate::services::Processes;

/// Cells per message of the bulk stream.
pub const STREAM_BATCH: usize = 5000;

/// What was generated and pushed.
#[derive(Debug, Default)]
pub struct Pushed {
    pub cells: u64,
    /// Cases received over the whole period, every channel: what aggregation must show once it has caught up.
    pub received: u64,
    /// The cells of the last day at the first commune's center, to be changed by the freshness probe.
    pub probe_cells: Vec<DailyCell>,
}

/// The probe center: the first commune's.
pub fn probe_center() -> String {
    commune_center(0)
}

/// Loads the province's reference data, then waits until intake's copy of the catalogue knows the last center
/// (a cell of it is accepted), so that no pushed cell is refused for a center not yet seen.
pub async fn reference_data(system: &Processes, province: &Province, first: NaiveDate) -> anyhow::Result<()> {
    onestop_local::demo::load_reference_data(system.catalogue_client(), province).await?;
    wait_until_intake_knows(system, province, first).await
}

async fn wait_until_intake_knows(system: &Processes, province: &Province, first: NaiveDate) -> anyhow::Result<()> {
    let last_center = province.centers.last().expect("centers").code.clone();
    let probe = province
        .activity(first, 7)
        .flat_map(|d| d.cells)
        .find(|c| c.center_code == last_center)
        .ok_or_else(|| anyhow::anyhow!("no cell for {last_center} in the first week"))?;
    let mut intake = system.intake_client();
    let deadline = Instant::now() + Duration::from_secs(1200);
    loop {
        let request = PushCellsRequest { sender: "bench".into(), cells: vec![probe.clone()], ..Default::default() };
        if intake.push_cells(request).await?.into_inner().accepted == 1 {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "intake did not learn center {last_center} within 20 minutes");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Loads another province beside the first, without a catalogue of its own: its units, centers and agencies,
/// and its centers' lists of the first province's procedures (already published). Waits, as
/// [`reference_data`] does, until intake accepts a cell of its last center.
pub async fn other_province(system: &Processes, province: &Province, first: NaiveDate) -> anyhow::Result<()> {
    use onestop_proto::catalogue::v1::{UpsertAgenciesRequest, UpsertCentersRequest, UpsertUnitsRequest};
    let mut catalogue = system.catalogue_client();
    catalogue.upsert_units(UpsertUnitsRequest { units: province.units.clone() }).await?;
    catalogue.upsert_centers(UpsertCentersRequest { centers: province.centers.clone() }).await?;
    catalogue.upsert_agencies(UpsertAgenciesRequest { agencies: province.agencies.clone() }).await?;
    for list in &province.center_lists {
        catalogue.set_center_procedures(list.clone()).await?;
    }
    wait_until_intake_knows(system, province, first).await
}

/// Pushes `days` days from `first` through one bulk stream while another thread generates them. Returns what was
/// pushed and how long the push took (from the first message to the last answer).
pub async fn push_cells(
    mut intake: IntakeClient,
    province: Arc<Province>,
    first: NaiveDate,
    days: u32,
) -> anyhow::Result<(Pushed, Duration)> {
    let (batches, receiver) = tokio::sync::mpsc::channel::<PushCellsStreamRequest>(8);
    let last = first + chrono::Days::new(u64::from(days) - 1);
    let generator = tokio::task::spawn_blocking(move || {
        let mut pushed = Pushed::default();
        let probe_center = probe_center();
        let mut pending: Vec<DailyCell> = Vec::with_capacity(STREAM_BATCH);
        for day in province.activity(first, days) {
            for cell in day.cells {
                pushed.cells += 1;
                pushed.received += cell
                    .measures
                    .map_or(0, |m| (m.received_direct + m.received_online + m.received_postal).max(0) as u64);
                if day.day == last && cell.center_code == probe_center {
                    pushed.probe_cells.push(cell.clone());
                }
                pending.push(cell);
                if pending.len() == STREAM_BATCH {
                    let cells = std::mem::replace(&mut pending, Vec::with_capacity(STREAM_BATCH));
                    if batches.blocking_send(batch(cells)).is_err() {
                        return pushed; // the push ended early; its error is reported there
                    }
                }
            }
        }
        if !pending.is_empty() {
            let _ = batches.blocking_send(batch(pending));
        }
        pushed
    });
    let started = Instant::now();
    let mut answers =
        intake.push_cells_stream(tokio_stream::wrappers::ReceiverStream::new(receiver)).await?.into_inner();
    let (mut stored, mut rejected) = (0u64, 0u64);
    while let Some(answer) = answers.next().await {
        let answer = answer?.batch.unwrap_or_default();
        // The reference-data probe already stored one of these cells: it comes back unchanged.
        stored += u64::from(answer.accepted + answer.unchanged);
        rejected += u64::from(answer.rejected);
    }
    let took = started.elapsed();
    let pushed = generator.await?;
    anyhow::ensure!(rejected == 0, "{rejected} cells rejected");
    anyhow::ensure!(stored == pushed.cells, "{stored} of {} cells stored", pushed.cells);
    Ok((pushed, took))
}

fn batch(cells: Vec<DailyCell>) -> PushCellsStreamRequest {
    PushCellsStreamRequest { batch: Some(PushCellsRequest { sender: "bench".into(), cells, ..Default::default() }) }
}

/// How fast the generator alone produces the cells (so that its share of a push can be judged): cells and time.
pub fn generate_only(province: &Province, first: NaiveDate, days: u32) -> (u64, Duration) {
    let started = Instant::now();
    let cells = province.activity(first, days).map(|d| d.cells.len() as u64).sum();
    (cells, started.elapsed())
}

/// The plain table [`copy_baseline`] copies into, in the database's default schema.
pub const BASELINE_TABLE: &str = "copy_baseline";

/// The same rows copied with COPY into a plain table with the same key, on the same server. The text is rendered
/// first, one buffer per day, so only the copy is timed. Returns the rows copied and the time.
pub async fn copy_baseline(
    database_url: &str,
    province: &Province,
    first: NaiveDate,
    days: u32,
) -> anyhow::Result<(u64, Duration)> {
    let mut rows = 0u64;
    let mut text: Vec<Vec<u8>> = Vec::with_capacity(days as usize);
    for day in province.activity(first, days) {
        let mut buffer = Vec::with_capacity(day.cells.len() * 80);
        for c in &day.cells {
            use std::io::Write;
            let m = c.measures.unwrap_or_default();
            writeln!(
                buffer,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                c.center_code,
                c.procedure_code,
                c.day,
                m.received_direct,
                m.received_online,
                m.received_postal,
                m.resolved_early,
                m.resolved_on_time,
                m.resolved_late,
                m.withdrawn_or_returned,
                m.results_returned_by_post,
                m.apology_notices_issued,
                m.pending_in_time,
                m.pending_overdue
            )?;
        }
        rows += day.cells.len() as u64;
        text.push(buffer);
    }
    let mut conn = PgConnection::connect(database_url).await?;
    sqlx::query(&format!(
        "CREATE TABLE {BASELINE_TABLE} (center_code text, procedure_code text, day date, received_direct bigint,
         received_online bigint, received_postal bigint, resolved_early bigint, resolved_on_time bigint,
         resolved_late bigint, withdrawn_or_returned bigint, results_returned_by_post bigint,
         apology_notices_issued bigint, pending_in_time bigint, pending_overdue bigint,
         PRIMARY KEY (center_code, day, procedure_code))"
    ))
    .execute(&mut conn)
    .await?;
    let started = Instant::now();
    let mut copy = conn.copy_in_raw(&format!("COPY {BASELINE_TABLE} FROM STDIN")).await?;
    for buffer in &text {
        copy.send(buffer.as_slice()).await?;
    }
    let copied = copy.finish().await?;
    let took = started.elapsed();
    anyhow::ensure!(copied == rows, "COPY stored {copied} of {rows} rows");
    Ok((rows, took))
}

/// What autovacuum would have done during the load, on a server where it is off (as on the reference machine):
/// aggregation's roll-ups, rewritten by every batch, vacuumed; every table analyzed.
pub async fn vacuum_as_autovacuum_would(database_url: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(database_url).await?;
    let autovacuum: String = sqlx::query_scalar("SHOW autovacuum").fetch_one(&mut conn).await?;
    if autovacuum == "on" {
        return Ok(());
    }
    let rollups: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables
         WHERE schemaname = 'aggregation' AND relname NOT LIKE 'cell%'",
    )
    .fetch_all(&mut conn)
    .await?;
    sqlx::query(&format!("VACUUM (ANALYZE) {}", rollups.join(", "))).execute(&mut conn).await?;
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    Ok(())
}
