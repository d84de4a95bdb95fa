//! Sums the cells of a scope (a unit with the units under it, or one center) over a period.
//!
//! Centers come from the catalogue as of the last day of the period; their day totals from the roll-up this
//! service keeps from intake's change stream ([`crate::consumer`]).

use chrono::NaiveDate;
use std::collections::{HashMap, HashSet};

use onestop_domain::measures::DayPosition;
use onestop_domain::{Measure, Measures, PeriodTotals};
use onestop_proto::catalogue::v1::{Center, GetUnitAncestorsRequest, ListCentersRequest, ListUnitsRequest};
use onestop_server::client::CatalogueClient;
use onestop_server::{ServiceError, ServiceResult};
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
    pub async fn centers(&self, scope: &Scope, as_of: NaiveDate) -> ServiceResult<Vec<Center>> {
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
            _ => ServiceError::from_upstream("catalogue", status),
        })?;
        let centers = response.into_inner().centers;
        if let (Scope::Center(code), true) = (scope, centers.is_empty()) {
            return Err(ServiceError::not_found("center_code", format!("center {code}")));
        }
        Ok(centers)
    }

    /// The day totals of `centers` from the day before `first_day` to `last_day`, from the roll-up.
    pub async fn center_days(
        &self,
        db: impl sqlx::PgExecutor<'_>,
        centers: &[String],
        first_day: NaiveDate,
        last_day: NaiveDate,
    ) -> ServiceResult<Vec<CenterDay>> {
        let day_before = first_day.pred_opt().unwrap_or(first_day);
        let rows: Vec<(String, NaiveDate, Vec<i64>)> = sqlx::query_as(
            "SELECT center_code, day, ARRAY[received_direct, received_online, received_postal, resolved_early,
                    resolved_on_time, resolved_late, withdrawn_or_returned, results_returned_by_post,
                    apology_notices_issued, pending_in_time, pending_overdue]
             FROM center_day WHERE center_code = ANY($1) AND day BETWEEN $2 AND $3",
        )
        .bind(centers)
        .bind(day_before)
        .bind(last_day)
        .fetch_all(db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(center_code, day, values)| {
                let mut measures = Measures::default();
                for (measure, value) in Measure::ALL.into_iter().zip(values) {
                    measures.set(measure, value.max(0) as u64);
                }
                CenterDay { center_code, day, measures }
            })
            .collect())
    }

    /// The child units of `unit` on `as_of`, and for each of `centers` the child it lies in (`None` for the
    /// unit's own centers).
    pub async fn children_of(
        &self,
        unit: &str,
        centers: &[Center],
        as_of: NaiveDate,
    ) -> ServiceResult<(Vec<String>, HashMap<String, Option<String>>)> {
        let mut catalogue = self.catalogue.clone();
        let mut children = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = ListUnitsRequest {
                as_of: as_of.to_string(),
                parent_code: unit.to_owned(),
                page_size: 10_000,
                page_token,
                ..Default::default()
            };
            let page = catalogue
                .list_units(request)
                .await
                .map_err(|s| ServiceError::from_upstream("catalogue", s))?
                .into_inner();
            children.extend(page.units.into_iter().map(|u| u.code));
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        let child_set: HashSet<&String> = children.iter().collect();
        let mut by_unit: HashMap<String, Option<String>> = HashMap::new();
        let mut of_center = HashMap::new();
        for center in centers {
            let unit_code = &center.unit_code;
            if !by_unit.contains_key(unit_code) {
                let child = if unit_code == unit {
                    None
                } else if child_set.contains(unit_code) {
                    Some(unit_code.clone())
                } else {
                    // Deeper down (a commune under a district): the child is the ancestor just under `unit`.
                    let request = GetUnitAncestorsRequest { code: unit_code.clone(), as_of: as_of.to_string() };
                    let chain = catalogue
                        .get_unit_ancestors(request)
                        .await
                        .map_err(|s| ServiceError::from_upstream("catalogue", s))?;
                    chain.into_inner().units.into_iter().map(|u| u.code).find(|code| child_set.contains(code))
                };
                by_unit.insert(unit_code.clone(), child);
            }
            of_center.insert(center.code.clone(), by_unit[unit_code].clone());
        }
        Ok((children, of_center))
    }
}

/// One center's totals of one day.
#[derive(Debug, Clone)]
pub struct CenterDay {
    pub center_code: String,
    pub day: NaiveDate,
    pub measures: Measures,
}

/// A group of a breakdown: its key and the days it covers.
#[derive(Debug, Clone)]
pub struct Group {
    pub key: String,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
}

/// Folds day totals into groups: `groups_of(center, day)` names the groups a row may count in, and the row counts
/// in each by where its day lies in that group's days (in the period, or the day before it for the stock
/// carried over).
pub fn fold(
    rows: &[CenterDay],
    groups: &[Group],
    groups_of: impl Fn(&str, NaiveDate) -> Vec<usize>,
) -> Vec<PeriodTotals> {
    let mut totals = vec![PeriodTotals::default(); groups.len()];
    for row in rows {
        for g in groups_of(&row.center_code, row.day) {
            let group = &groups[g];
            totals[g].add_cell(DayPosition::of(row.day, group.first_day, group.last_day), &row.measures);
        }
    }
    totals
}
