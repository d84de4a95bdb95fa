//! A generated province loaded into a running system, so that a newcomer sees real numbers at once, and the
//! benchmarks have a realistic province to work on.

use chrono::{Datelike, Duration, NaiveDate};
use onestop_generator::province::Province;
use onestop_proto::catalogue::v1::*;
use onestop_proto::intake::v1::{PushCasesRequest, PushCellsRequest, PushCellsStreamRequest};
use onestop_server::client::{CatalogueClient, IntakeClient};
use tokio_stream::StreamExt;

/// Loads the province's units, sectors, centers, agencies, decisions, center lists and working-day calendars.
pub async fn load_reference_data(mut catalogue: CatalogueClient, province: &Province) -> anyhow::Result<()> {
    catalogue.upsert_units(UpsertUnitsRequest { units: province.units.clone() }).await?;
    catalogue.upsert_sectors(UpsertSectorsRequest { sectors: province.catalogue.sectors.clone() }).await?;
    catalogue.upsert_centers(UpsertCentersRequest { centers: province.centers.clone() }).await?;
    catalogue.upsert_agencies(UpsertAgenciesRequest { agencies: province.agencies.clone() }).await?;
    for decision in &province.catalogue.decisions {
        catalogue.publish_decision(PublishDecisionRequest { decision: Some(decision.clone()) }).await?;
    }
    // One call per center: a large province's lists outrun the operator's rate limit, so wait when told to.
    for list in &province.center_lists {
        let mut refused = 0;
        loop {
            match catalogue.set_center_procedures(list.clone()).await {
                Err(status) if status.code() == tonic::Code::ResourceExhausted && refused < 100 => {
                    refused += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                outcome => {
                    outcome?;
                    break;
                }
            };
        }
    }
    let years = onestop_generator::calendar::YEARS;
    let calendar = onestop_generator::calendar::to_csv(years);
    catalogue.load_calendar_csv(LoadCalendarCsvRequest { content: calendar.into_bytes() }).await?;
    Ok(())
}

/// Pushes the province's cells and late cases of the `days` days before `today`, through intake's bulk stream.
/// Returns the number of cells and cases pushed.
pub async fn push_recent_days(
    mut intake: IntakeClient,
    province: &Province,
    today: NaiveDate,
    days: u32,
) -> anyhow::Result<(usize, usize)> {
    let first = today - Duration::days(i64::from(days));
    let first = first.max(NaiveDate::from_ymd_opt(first.year().max(2025), 1, 1).expect("a valid date"));
    let mut cells = Vec::new();
    let mut cases = Vec::new();
    for day in province.activity(first, (today - first).num_days() as u32) {
        cells.extend(day.cells);
        cases.extend(day.late_cases);
    }
    let batches: Vec<PushCellsStreamRequest> = cells
        .chunks(5000)
        .map(|chunk| PushCellsStreamRequest {
            batch: Some(PushCellsRequest { sender: "demo".into(), cells: chunk.to_vec(), ..Default::default() }),
        })
        .collect();
    let mut answers = intake.push_cells_stream(tokio_stream::iter(batches)).await?.into_inner();
    while let Some(answer) = answers.next().await {
        answer?;
    }
    for chunk in cases.chunks(1000) {
        intake
            .push_cases(PushCasesRequest { sender: "demo".into(), cases: chunk.to_vec(), all_or_nothing: false })
            .await?;
    }
    Ok((cells.len(), cases.len()))
}
