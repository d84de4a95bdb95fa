//! Sums the cells of a scope (a unit with the units under it, or one center) over a period.
//!
//! Centers come from the catalogue as of the last day of the period; cells come from intake, page by page,
//! from the day before the period (for the stock carried over) to its last day.

use chrono::NaiveDate;
use onestop_domain::measures::DayPosition;
use onestop_domain::{Measures, PeriodTotals};
use onestop_proto::catalogue::v1::ListCentersRequest;
use onestop_proto::convert::measures_from_wire;
use onestop_proto::intake::v1::ListCellsRequest;
use onestop_server::client::{CatalogueClient, IntakeClient};
use onestop_server::{ServiceError, ServiceResult};
use tonic::Code;

/// Cells read from intake per page.
const PAGE_SIZE: u32 = 10_000;

/// Whose cells to sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Unit(String),
    Center(String),
}

#[derive(Debug, Clone)]
pub struct Rollup {
    catalogue: CatalogueClient,
    intake: IntakeClient,
}

impl Rollup {
    pub fn new(catalogue: CatalogueClient, intake: IntakeClient) -> Self {
        Rollup { catalogue, intake }
    }

    /// The centers of `scope` on `as_of`.
    pub async fn centers(&self, scope: &Scope, as_of: NaiveDate) -> ServiceResult<Vec<String>> {
        let request = match scope {
            Scope::Unit(code) => ListCentersRequest {
                unit_code: code.clone(),
                include_descendants: true,
                as_of: as_of.to_string(),
                ..Default::default()
            },
            Scope::Center(code) => ListCentersRequest { center_codes: vec![code.clone()], ..Default::default() },
        };
        let response = self.catalogue.clone().list_centers(request).await.map_err(|status| match status.code() {
            Code::NotFound => ServiceError::not_found("unit_code", status.message()),
            _ => upstream_error("catalogue", status),
        })?;
        let centers: Vec<String> = response.into_inner().centers.into_iter().map(|c| c.code).collect();
        if let (Scope::Center(code), true) = (scope, centers.is_empty()) {
            return Err(ServiceError::not_found("center_code", format!("center {code}")));
        }
        Ok(centers)
    }

    /// The totals of `centers` over `[first_day, last_day]`.
    pub async fn totals(
        &self,
        centers: Vec<String>,
        first_day: NaiveDate,
        last_day: NaiveDate,
    ) -> ServiceResult<PeriodTotals> {
        let mut totals = PeriodTotals::default();
        if centers.is_empty() {
            return Ok(totals);
        }
        let day_before = first_day.pred_opt().unwrap_or(first_day);
        let mut intake = self.intake.clone();
        let mut page_token = String::new();
        loop {
            let request = ListCellsRequest {
                center_codes: centers.clone(),
                from_day: day_before.to_string(),
                to_day: last_day.to_string(),
                page_size: PAGE_SIZE,
                page_token,
                procedure_codes: vec![],
            };
            let page = intake.list_cells(request).await.map_err(|s| upstream_error("intake", s))?.into_inner();
            for cell in &page.cells {
                let day: NaiveDate = cell
                    .day
                    .parse()
                    .map_err(|_| ServiceError::Internal(anyhow::anyhow!("intake sent day {:?}", cell.day)))?;
                let measures = match cell.measures.as_ref().map(measures_from_wire) {
                    Some(Ok(measures)) => measures,
                    None => Measures::default(),
                    Some(Err(_)) => {
                        return Err(ServiceError::Internal(anyhow::anyhow!("intake sent negative counts")));
                    }
                };
                totals.add_cell(DayPosition::of(day, first_day, last_day), &measures);
            }
            if page.next_page_token.is_empty() {
                return Ok(totals);
            }
            page_token = page.next_page_token;
        }
    }
}

fn upstream_error(service: &str, status: tonic::Status) -> ServiceError {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::ResourceExhausted => {
            ServiceError::Unavailable(format!("{service}: {}", status.message()))
        }
        _ => ServiceError::Internal(anyhow::anyhow!("{service} answered {status:?}")),
    }
}
