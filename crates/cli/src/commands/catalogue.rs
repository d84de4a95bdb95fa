//! Writing to the catalogue: decisions from their item files, and reference data from CSV.

use std::path::Path;

use anyhow::{bail, Context};
use onestop_proto::catalogue::v1::{
    self as catalogue, LoadCalendarCsvRequest, LoadUnitsCsvRequest, PublicationDecision, PublishDecisionFileRequest,
    UpsertAgenciesRequest, UpsertCentersRequest, UpsertSectorsRequest,
};

use super::{Service, Services};
use crate::args::LoadKind;
use crate::input::{reference, Located};

/// What a decision says of itself; its items are in the file.
pub struct Decision<'a> {
    pub number: &'a str,
    pub signed_on: &'a str,
    pub issuer: &'a str,
    pub effective_from: &'a str,
    pub province: &'a str,
}

pub async fn publish_decision(services: &Services<'_>, file: &Path, decision: Decision<'_>) -> anyhow::Result<()> {
    let content = std::fs::read(file).with_context(|| file.display().to_string())?;
    let format = match file.extension().and_then(|e| e.to_str()) {
        Some("xlsx") => catalogue::FileFormat::Xlsx,
        Some("csv") => catalogue::FileFormat::Csv,
        _ => bail!("{}: a .csv or .xlsx file", file.display()),
    };
    let decision = PublicationDecision {
        number: decision.number.to_owned(),
        signed_on: decision.signed_on.to_owned(),
        issuer: decision.issuer.to_owned(),
        effective_from: decision.effective_from.to_owned(),
        items: vec![],
        issuing_unit_code: decision.province.to_owned(),
    };
    let request = PublishDecisionFileRequest { decision: Some(decision), format: format as i32, content };
    let answer = services
        .catalogue()?
        .publish_decision_file(request)
        .await
        .map_err(|status| in_file(services, file, status))?
        .into_inner();
    println!("{} items; {}", answer.items, if answer.applied { "applied" } else { "already published" });
    Ok(())
}

/// A refusal of a file's content names the file; any other failure is told as any call's.
fn in_file(services: &Services, file: &Path, status: tonic::Status) -> anyhow::Error {
    match status.code() {
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition | tonic::Code::AlreadyExists => {
            anyhow::anyhow!("{}: {}", file.display(), status.message())
        }
        _ => services.failed(Service::Catalogue)(status),
    }
}

pub async fn load(services: &Services<'_>, kind: LoadKind, file: &Path) -> anyhow::Result<()> {
    let located = |e: Located| anyhow::anyhow!("{e}");
    let in_file = |status| in_file(services, file, status);
    let mut catalogue = services.catalogue()?;
    let said = match kind {
        LoadKind::Units => {
            let content = std::fs::read(file).with_context(|| file.display().to_string())?;
            let answer = catalogue.load_units_csv(LoadUnitsCsvRequest { content }).await.map_err(in_file)?;
            let answer = answer.into_inner();
            format!("{} units; {} changed", answer.rows, answer.changed)
        }
        LoadKind::Calendar => {
            let content = std::fs::read(file).with_context(|| file.display().to_string())?;
            let answer = catalogue.load_calendar_csv(LoadCalendarCsvRequest { content }).await.map_err(in_file)?;
            let answer = answer.into_inner();
            let years: Vec<String> = answer.years.iter().map(i32::to_string).collect();
            format!("years {}; {} changed", years.join(", "), answer.changed_years)
        }
        LoadKind::Sectors => {
            let sectors = reference::sectors(file).map_err(located)?;
            let count = sectors.len();
            let answer = catalogue.upsert_sectors(UpsertSectorsRequest { sectors }).await.map_err(in_file)?;
            format!("{count} sectors; {} changed", answer.into_inner().changed)
        }
        LoadKind::Agencies => {
            let agencies = reference::agencies(file).map_err(located)?;
            let count = agencies.len();
            let answer = catalogue.upsert_agencies(UpsertAgenciesRequest { agencies }).await.map_err(in_file)?;
            format!("{count} agencies; {} changed", answer.into_inner().changed)
        }
        LoadKind::Centers => {
            let centers = reference::centers(file).map_err(located)?;
            let count = centers.len();
            let answer = catalogue.upsert_centers(UpsertCentersRequest { centers }).await.map_err(in_file)?;
            format!("{count} centers; {} changed", answer.into_inner().changed)
        }
        LoadKind::CenterProcedures => {
            let lists = reference::center_procedures(file).map_err(located)?;
            let mut applied = 0;
            for list in &lists {
                let answer = catalogue.set_center_procedures(list.clone()).await.map_err(|status| {
                    let at = format!("{} from {}", list.center_code, list.effective_from);
                    in_file(status).context(at)
                })?;
                applied += usize::from(answer.into_inner().applied);
            }
            format!("{} lists; {applied} changed", lists.len())
        }
    };
    println!("{said}");
    Ok(())
}
