//! Sums the cells of a scope (a unit with the units under it, or one center) over a period.
//!
//! Centers come from the catalogue as of the last day of the period; their day totals from the roll-up this
//! service keeps from intake's change stream ([`crate::consumer`]).

use chrono::NaiveDate;
use onestop_domain::{Measure, PeriodTotals};
use onestop_proto::catalogue::v1::ListCentersRequest;
use onestop_server::client::CatalogueClient;
use onestop_server::{ServiceError, ServiceResult};
use sqlx::PgPool;
use tonic::Code;

/// Whose cells to sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Unit(String),
    Center(String),
}

#[derive(Debug, Clone)]
pub struct Rollup {
    catalogue: CatalogueClient,
}

impl Rollup {
    pub fn new(catalogue: CatalogueClient) -> Self {
        Rollup { catalogue }
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

    /// The totals of `centers` over `[first_day, last_day]`, from the roll-up kept from intake's changes.
    pub async fn totals(
        &self,
        pool: &PgPool,
        centers: &[String],
        first_day: NaiveDate,
        last_day: NaiveDate,
    ) -> ServiceResult<PeriodTotals> {
        let day_before = first_day.pred_opt().unwrap_or(first_day);
        let row: Vec<Option<i64>> = sqlx::query_scalar(
            "SELECT unnest(ARRAY[
                 sum(received_direct) FILTER (WHERE day >= $2), sum(received_online) FILTER (WHERE day >= $2),
                 sum(received_postal) FILTER (WHERE day >= $2), sum(resolved_early) FILTER (WHERE day >= $2),
                 sum(resolved_on_time) FILTER (WHERE day >= $2), sum(resolved_late) FILTER (WHERE day >= $2),
                 sum(withdrawn_or_returned) FILTER (WHERE day >= $2),
                 sum(results_returned_by_post) FILTER (WHERE day >= $2),
                 sum(apology_notices_issued) FILTER (WHERE day >= $2),
                 sum(pending_in_time) FILTER (WHERE day = $3), sum(pending_overdue) FILTER (WHERE day = $3),
                 sum(pending_in_time + pending_overdue) FILTER (WHERE day = $4)]::bigint[])
             FROM center_day WHERE center_code = ANY($1) AND day BETWEEN $4 AND $3",
        )
        .bind(centers)
        .bind(first_day)
        .bind(last_day)
        .bind(day_before)
        .fetch_all(pool)
        .await?;
        let value = |i: usize| row.get(i).copied().flatten().unwrap_or(0).max(0) as u64;
        let mut totals = PeriodTotals::default();
        for (i, measure) in Measure::ALL.into_iter().enumerate() {
            totals.measures.set(measure, value(i));
        }
        totals.carried_over = value(11);
        Ok(totals)
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
