//! Checks that pushed cells name centers and procedures the catalogue knows, asking it over gRPC: one call for
//! the centers of a batch and one per distinct day for its procedures, never one per cell.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::NaiveDate;
use onestop_proto::catalogue::v1::{GetProceduresRequest, ListCentersRequest};
use onestop_server::client::CatalogueClient;
use onestop_server::{ServiceError, ServiceResult};
use tonic::Code;

#[derive(Debug, Clone)]
pub struct References {
    catalogue: CatalogueClient,
}

/// The centers known to the catalogue, and the procedures in force on each day, among those asked about.
#[derive(Debug, Default)]
pub struct Known {
    pub centers: HashSet<String>,
    pub procedures_by_day: BTreeMap<NaiveDate, HashSet<String>>,
}

impl Known {
    pub fn has_center(&self, code: &str) -> bool {
        self.centers.contains(code)
    }

    pub fn has_procedure(&self, day: NaiveDate, code: &str) -> bool {
        self.procedures_by_day.get(&day).is_some_and(|codes| codes.contains(code))
    }
}

impl References {
    pub fn new(catalogue: CatalogueClient) -> Self {
        References { catalogue }
    }

    /// Looks up `centers`, and `procedures` on each of their days.
    pub async fn lookup(
        &self,
        centers: BTreeSet<String>,
        procedures: BTreeMap<NaiveDate, BTreeSet<String>>,
    ) -> ServiceResult<Known> {
        let mut catalogue = self.catalogue.clone();
        let mut known = Known::default();
        let response = catalogue
            .list_centers(ListCentersRequest { center_codes: centers.into_iter().collect(), ..Default::default() })
            .await
            .map_err(catalogue_error)?;
        known.centers = response.into_inner().centers.into_iter().map(|c| c.code).collect();
        for (day, codes) in procedures {
            let response = catalogue
                .get_procedures(GetProceduresRequest { codes: codes.into_iter().collect(), as_of: day.to_string() })
                .await
                .map_err(catalogue_error)?;
            let found = response.into_inner().procedures.into_iter().map(|p| p.code).collect();
            known.procedures_by_day.insert(day, found);
        }
        Ok(known)
    }
}

/// The catalogue's failure is ours to report as unavailable: the sender did nothing wrong and may retry.
fn catalogue_error(status: tonic::Status) -> ServiceError {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::ResourceExhausted => {
            ServiceError::Unavailable(format!("catalogue: {}", status.message()))
        }
        _ => ServiceError::Internal(anyhow::anyhow!("catalogue answered {status:?}")),
    }
}
