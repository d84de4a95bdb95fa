//! The gRPC surface of aggregation.

use onestop_domain::Violations;
use onestop_proto::aggregation::v1::aggregation_service_server::AggregationService;
use onestop_proto::aggregation::v1::*;
use onestop_server::ServiceResult;
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::rollup::{Rollup, Scope};
use crate::{consumer, definitions};

/// The longest period one request may cover.
const MAX_PERIOD_DAYS: i64 = 3 * 366;

#[derive(Debug, Clone)]
pub struct AggregationApi {
    pool: PgPool,
    rollup: Rollup,
}

impl AggregationApi {
    pub fn new(pool: PgPool, rollup: Rollup) -> Self {
        AggregationApi { pool, rollup }
    }

    async fn indicators(&self, request: GetIndicatorsRequest) -> ServiceResult<GetIndicatorsResponse> {
        let mut v = Violations::new();
        let scope = match (request.unit_code.is_empty(), request.center_code.is_empty()) {
            (false, true) => v.code("unit_code", &request.unit_code).then(|| Scope::Unit(request.unit_code.clone())),
            (true, false) => {
                v.code("center_code", &request.center_code).then(|| Scope::Center(request.center_code.clone()))
            }
            _ => {
                v.add("unit_code", "give either unit_code or center_code");
                None
            }
        };
        let period = request.period.clone().unwrap_or_default();
        let first_day = v.date("period.from_day", &period.from_day);
        let last_day = v.date("period.to_day", &period.to_day);
        if let (Some(first), Some(last)) = (first_day, last_day) {
            if last < first {
                v.add("period.to_day", "is before period.from_day");
            } else if (last - first).num_days() >= MAX_PERIOD_DAYS {
                v.add("period.to_day", format!("a period covers at most {MAX_PERIOD_DAYS} days"));
            }
        }
        let all = definitions::latest(&self.pool).await?;
        for (i, id) in request.indicator_ids.iter().enumerate() {
            if !all.iter().any(|d| &d.id == id) {
                v.add(format!("indicator_ids[{i}]"), format!("no indicator {id:?}"));
            }
        }
        v.into_result()?;
        let (scope, first_day, last_day) =
            (scope.expect("validated"), first_day.expect("validated"), last_day.expect("validated"));

        let centers = self.rollup.centers(&scope, last_day).await?;
        // Read the cursor first: the totals then include at least everything up to it.
        let intake_cursor = consumer::cursor(&self.pool, consumer::INTAKE).await?;
        let totals = self.rollup.totals(&self.pool, &centers, first_day, last_day).await?;
        let indicators = all
            .iter()
            .filter(|d| request.indicator_ids.is_empty() || request.indicator_ids.contains(&d.id))
            .map(|d| d.evaluate(&totals).into())
            .collect();
        Ok(GetIndicatorsResponse { indicators, center_codes: centers, intake_cursor })
    }
}

#[tonic::async_trait]
impl AggregationService for AggregationApi {
    async fn get_indicators(
        &self,
        request: Request<GetIndicatorsRequest>,
    ) -> Result<Response<GetIndicatorsResponse>, Status> {
        Ok(Response::new(self.indicators(request.into_inner()).await?))
    }
}
