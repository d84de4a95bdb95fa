//! The gRPC surface of intake.

use onestop_domain::{today_in_vietnam, Violations};
use onestop_proto::intake::v1::intake_service_server::IntakeService;
use onestop_proto::intake::v1::*;
use onestop_server::{paging, ServiceResult};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::cells::{self, PageKey};
use crate::references::References;

const DEFAULT_PAGE_SIZE: u32 = 1_000;
const MAX_PAGE_SIZE: u32 = 10_000;

#[derive(Debug, Clone)]
pub struct IntakeApi {
    pool: PgPool,
    references: References,
}

impl IntakeApi {
    pub fn new(pool: PgPool, references: References) -> Self {
        IntakeApi { pool, references }
    }

    async fn push(&self, request: PushCellsRequest) -> ServiceResult<PushCellsResponse> {
        let today = today_in_vietnam(chrono::Utc::now());
        let valid = cells::validate(&self.references, &request.sender, &request.cells, today).await?;
        let outcomes = cells::store(&self.pool, &request.sender, &valid).await?;
        let count = |o: CellOutcome| outcomes.iter().filter(|x| **x == o).count() as u32;
        Ok(PushCellsResponse {
            accepted: count(CellOutcome::Accepted),
            unchanged: count(CellOutcome::Unchanged),
            results: outcomes
                .iter()
                .enumerate()
                .map(|(index, outcome)| CellResult { index: index as u32, outcome: *outcome as i32 })
                .collect(),
        })
    }

    async fn list(&self, request: ListCellsRequest) -> ServiceResult<ListCellsResponse> {
        let mut v = Violations::new();
        if request.center_codes.is_empty() {
            v.add("center_codes", "at least one center is required");
        }
        for (i, code) in request.center_codes.iter().enumerate() {
            v.code(&format!("center_codes[{i}]"), code);
        }
        let from = v.date("from_day", &request.from_day);
        let to = v.date("to_day", &request.to_day);
        if let (Some(from), Some(to)) = (from, to) {
            if to < from {
                v.add("to_day", "is before from_day");
            }
        }
        let page_size = paging::page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
            .map_err(|reason| v.add("page_size", reason))
            .unwrap_or(DEFAULT_PAGE_SIZE);
        let after = if request.page_token.is_empty() {
            None
        } else {
            PageKey::from_token(&request.page_token).map_err(|reason| v.add("page_token", reason)).ok()
        };
        v.into_result()?;
        let (from, to) = (from.expect("validated"), to.expect("validated"));
        let (cells, next) = cells::list(&self.pool, &request.center_codes, from, to, after, page_size as usize).await?;
        Ok(ListCellsResponse { cells, next_page_token: next.map(|k| k.to_token()).unwrap_or_default() })
    }
}

#[tonic::async_trait]
impl IntakeService for IntakeApi {
    async fn push_cells(&self, request: Request<PushCellsRequest>) -> Result<Response<PushCellsResponse>, Status> {
        Ok(Response::new(self.push(request.into_inner()).await?))
    }

    async fn list_cells(&self, request: Request<ListCellsRequest>) -> Result<Response<ListCellsResponse>, Status> {
        Ok(Response::new(self.list(request.into_inner()).await?))
    }
}
