//! Loading a generated province into a running system's catalogue.

use onestop_generator::province::Province;
use onestop_proto::catalogue::v1::catalogue_service_client::CatalogueServiceClient;
use onestop_proto::catalogue::v1::*;

/// Loads the province's units, sectors, centers, agencies, decisions, center lists and calendars.
pub async fn load(catalogue_url: String, province: &Province) -> anyhow::Result<()> {
    let mut catalogue = CatalogueServiceClient::connect(catalogue_url).await?;
    catalogue.upsert_units(UpsertUnitsRequest { units: province.units.clone() }).await?;
    catalogue.upsert_sectors(UpsertSectorsRequest { sectors: province.catalogue.sectors.clone() }).await?;
    catalogue.upsert_centers(UpsertCentersRequest { centers: province.centers.clone() }).await?;
    catalogue.upsert_agencies(UpsertAgenciesRequest { agencies: province.agencies.clone() }).await?;
    for decision in &province.catalogue.decisions {
        catalogue.publish_decision(PublishDecisionRequest { decision: Some(decision.clone()) }).await?;
    }
    for list in &province.center_lists {
        catalogue.set_center_procedures(list.clone()).await?;
    }
    let calendar = onestop_generator::calendar::to_csv(2024..=2027);
    catalogue.load_calendar_csv(LoadCalendarCsvRequest { content: calendar.into_bytes() }).await?;
    Ok(())
}
