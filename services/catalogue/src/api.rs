//! The gRPC surface of the catalogue: each RPC validates its request and delegates to its module.

use onestop_domain::Violations;
use onestop_proto::catalogue::v1::catalogue_service_server::CatalogueService;
use onestop_proto::catalogue::v1::*;
use onestop_server::{ServiceError, ServiceResult};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::{centers, procedures, publication, units};

/// Most codes one lookup may ask for.
const MAX_CODES_PER_LOOKUP: usize = 10_000;

#[derive(Debug, Clone)]
pub struct CatalogueApi {
    pool: PgPool,
}

impl CatalogueApi {
    pub fn new(pool: PgPool) -> Self {
        CatalogueApi { pool }
    }
}

fn respond<T>(result: ServiceResult<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

fn check_codes(v: &mut Violations, field: &str, codes: &[String]) {
    if codes.len() > MAX_CODES_PER_LOOKUP {
        v.add(
            field,
            format!("at most {MAX_CODES_PER_LOOKUP} codes per request"),
        );
    }
    for (i, code) in codes.iter().enumerate() {
        v.code(&format!("{field}[{i}]"), code);
    }
}

#[tonic::async_trait]
impl CatalogueService for CatalogueApi {
    async fn upsert_units(
        &self,
        request: Request<UpsertUnitsRequest>,
    ) -> Result<Response<UpsertUnitsResponse>, Status> {
        let request = request.into_inner();
        respond(
            units::upsert(&self.pool, &request.units)
                .await
                .map(|changed| UpsertUnitsResponse { changed }),
        )
    }

    async fn upsert_centers(
        &self,
        request: Request<UpsertCentersRequest>,
    ) -> Result<Response<UpsertCentersResponse>, Status> {
        let request = request.into_inner();
        respond(
            centers::upsert(&self.pool, &request.centers)
                .await
                .map(|changed| UpsertCentersResponse { changed }),
        )
    }

    async fn publish_decision(
        &self,
        request: Request<PublishDecisionRequest>,
    ) -> Result<Response<PublishDecisionResponse>, Status> {
        let request = request.into_inner();
        let outcome = publication::publish(&self.pool, request.decision.as_ref()).await;
        respond(outcome.map(|o| PublishDecisionResponse {
            applied: o == publication::Outcome::Applied,
        }))
    }

    async fn get_procedures(
        &self,
        request: Request<GetProceduresRequest>,
    ) -> Result<Response<GetProceduresResponse>, Status> {
        let request = request.into_inner();
        let result = async {
            let mut v = Violations::new();
            check_codes(&mut v, "codes", &request.codes);
            let as_of = v.date("as_of", &request.as_of);
            v.into_result()?;
            let found =
                procedures::as_of(&self.pool, &request.codes, as_of.expect("validated")).await?;
            let missing_codes = request
                .codes
                .iter()
                .filter(|code| !found.iter().any(|p| &p.code == *code))
                .cloned()
                .collect();
            Ok(GetProceduresResponse {
                procedures: found,
                missing_codes,
            })
        }
        .await;
        respond(result)
    }

    async fn list_centers(
        &self,
        request: Request<ListCentersRequest>,
    ) -> Result<Response<ListCentersResponse>, Status> {
        let request = request.into_inner();
        let result = async {
            let mut v = Violations::new();
            let centers = match (
                request.center_codes.is_empty(),
                request.unit_code.is_empty(),
            ) {
                (false, true) => {
                    check_codes(&mut v, "center_codes", &request.center_codes);
                    v.into_result()?;
                    centers::by_codes(&self.pool, &request.center_codes).await?
                }
                (true, false) => {
                    v.code("unit_code", &request.unit_code);
                    let as_of = v.date("as_of", &request.as_of);
                    v.into_result()?;
                    let as_of = as_of.expect("validated");
                    centers::of_unit(
                        &self.pool,
                        &request.unit_code,
                        request.include_descendants,
                        as_of,
                    )
                    .await?
                }
                _ => {
                    return Err(ServiceError::invalid(
                        "unit_code",
                        "give either center_codes or unit_code",
                    ))
                }
            };
            Ok(ListCentersResponse { centers })
        }
        .await;
        respond(result)
    }
}
