//! The gRPC surface of aggregation: each RPC in the module of its capability, all reading one snapshot.
//!
//! - [`period`]: the days a request covers;
//! - [`indicators`]: indicators, breakdowns and rankings;
//! - [`form06`]: the official periodic report and its files;
//! - [`monitoring`]: late-case lists, counts, the watch, and reconciliation with the cells;
//! - [`watch_hub`]: one poller for all the late-case watches of one scope;
//! - [`operations`]: the changes aggregation had to set aside, for operators.

pub mod form06;
pub mod indicators;
pub mod monitoring;
pub mod operations;
pub mod period;
pub mod watch_hub;

use std::pin::Pin;

use chrono::NaiveDate;
use onestop_domain::{today_in_vietnam, Violations};
use onestop_proto::aggregation::v1::aggregation_service_server::AggregationService;
use onestop_proto::aggregation::v1::*;
use onestop_proto::catalogue::v1::{GetUnitSuccessorsRequest, ListCentersRequest};
use onestop_server::auth::Principal;
use onestop_server::client::CatalogueClient;
use onestop_server::notify::Notifier;
use onestop_server::serve::StopSignal;
use onestop_server::{ServiceError, ServiceResult};
use sqlx::{PgPool, Postgres, Transaction};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::scope::{self, Scope, Target};
use crate::{definitions, feeds};

/// How long a request waits for the catalogue copy to catch up with something just published.
const COPY_WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(25);
const COPY_WAIT_ROUNDS: usize = 200;

#[derive(Clone)]
pub struct AggregationApi {
    pool: PgPool,
    /// Asked only when a request names a unit or center the copy does not know yet.
    catalogue: CatalogueClient,
    /// Wakes late-case watches when intake changes were applied.
    applied: Notifier,
    /// Ends late-case watches when the service stops.
    stop: StopSignal,
    /// Today in Vietnam; replaceable so tests can move time.
    clock: fn() -> NaiveDate,
    /// The pollers of the late-case watches, one per watched scope.
    watches: watch_hub::WatchHub,
}

/// The day in Vietnam now.
pub fn vietnam_today() -> NaiveDate {
    today_in_vietnam(chrono::Utc::now())
}

impl AggregationApi {
    pub fn new(pool: PgPool, catalogue: CatalogueClient, applied: Notifier, stop: StopSignal) -> Self {
        AggregationApi { pool, catalogue, applied, stop, clock: vietnam_today, watches: Default::default() }
    }

    pub fn with_clock(mut self, clock: fn() -> NaiveDate) -> Self {
        self.clock = clock;
        self
    }

    /// How many late-case watch pollers run now (one per watched scope).
    pub fn watch_pollers(&self) -> usize {
        self.watches.pollers()
    }

    /// A snapshot (see [`AggregationApi::snapshot`]) and `target` resolved in it. A unit or center the copy does
    /// not know may have been published a moment ago: then the catalogue is asked, and if it knows it, the copy is
    /// waited for (briefly) and a new snapshot taken.
    /// The caller must be allowed to read the target: a provincial office its province, software its centers.
    async fn scoped_snapshot(
        &self,
        principal: &Principal,
        target: &Target,
    ) -> ServiceResult<(Transaction<'static, Postgres>, Freshness, Scope)> {
        let (mut snapshot, freshness) = self.snapshot().await?;
        match Scope::resolve(&mut snapshot, target).await {
            Ok(scope) => {
                scope::authorize(&mut snapshot, principal, &scope).await?;
                return Ok((snapshot, freshness, scope));
            }
            Err(ServiceError::NotFound { field, what }) => {
                snapshot.rollback().await?;
                if !self.catalogue_knows(target).await? {
                    return Err(ServiceError::NotFound { field, what });
                }
            }
            Err(other) => return Err(other),
        }
        for _ in 0..COPY_WAIT_ROUNDS {
            tokio::time::sleep(COPY_WAIT_STEP).await;
            let (mut snapshot, freshness) = self.snapshot().await?;
            if let Ok(scope) = Scope::resolve(&mut snapshot, target).await {
                scope::authorize(&mut snapshot, principal, &scope).await?;
                return Ok((snapshot, freshness, scope));
            }
        }
        Err(ServiceError::Unavailable("published, but not yet in aggregation's copy of the catalogue".into()))
    }

    async fn catalogue_knows(&self, target: &Target) -> ServiceResult<bool> {
        let mut catalogue = self.catalogue.clone();
        match target {
            Target::Unit(code) => {
                match catalogue.get_unit_successors(GetUnitSuccessorsRequest { code: code.clone() }).await {
                    Ok(_) => Ok(true),
                    Err(status) if status.code() == tonic::Code::NotFound => Ok(false),
                    Err(status) => Err(ServiceError::from_upstream("catalogue", status)),
                }
            }
            Target::Center(code) => {
                let request = ListCentersRequest { center_codes: vec![code.clone()], ..Default::default() };
                let answer = catalogue
                    .list_centers(request)
                    .await
                    .map_err(|status| ServiceError::from_upstream("catalogue", status))?;
                Ok(!answer.into_inner().centers.is_empty())
            }
        }
    }

    /// A read-only snapshot, and how fresh it is: every answer reads its cursors and its data in one snapshot,
    /// so it includes exactly the changes up to the cursors it reports.
    async fn snapshot(&self) -> ServiceResult<(Transaction<'static, Postgres>, Freshness)> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(&mut *tx).await?;
        let intake_cursor = feeds::cursor(&mut *tx, feeds::INTAKE).await?;
        let catalogue_cursor = feeds::catalogue::applied_cursor(&mut *tx).await?;
        Ok((tx, Freshness { intake_cursor, catalogue_cursor }))
    }
}

/// The unit or center a request names.
fn target(v: &mut Violations, unit_code: &str, center_code: &str) -> Option<Target> {
    match (unit_code.is_empty(), center_code.is_empty()) {
        (false, true) => v.code("unit_code", unit_code).then(|| Target::Unit(unit_code.to_owned())),
        (true, false) => v.code("center_code", center_code).then(|| Target::Center(center_code.to_owned())),
        _ => {
            v.add("unit_code", "give either unit_code or center_code");
            None
        }
    }
}

/// The authenticated caller of a request (the gate put it there).
fn caller<T>(request: &Request<T>) -> Result<Principal, Status> {
    onestop_server::auth::principal(request).cloned()
}

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl AggregationService for AggregationApi {
    async fn get_indicators(
        &self,
        request: Request<GetIndicatorsRequest>,
    ) -> Result<Response<GetIndicatorsResponse>, Status> {
        Ok(Response::new(self.indicators(&caller(&request)?, request.into_inner()).await?))
    }

    async fn rank_units(&self, request: Request<RankUnitsRequest>) -> Result<Response<RankUnitsResponse>, Status> {
        Ok(Response::new(self.rank(&caller(&request)?, request.into_inner()).await?))
    }

    async fn define_indicator(
        &self,
        request: Request<DefineIndicatorRequest>,
    ) -> Result<Response<DefineIndicatorResponse>, Status> {
        Ok(Response::new(definitions::define(&self.pool, request.into_inner()).await?))
    }

    async fn list_indicator_definitions(
        &self,
        request: Request<ListIndicatorDefinitionsRequest>,
    ) -> Result<Response<ListIndicatorDefinitionsResponse>, Status> {
        Ok(Response::new(definitions::list(&self.pool, request.into_inner()).await?))
    }

    async fn get_form06(&self, request: Request<GetForm06Request>) -> Result<Response<GetForm06Response>, Status> {
        Ok(Response::new(self.form06(&caller(&request)?, request.into_inner()).await?))
    }

    type ExportForm06Stream = ResponseStream<ExportForm06Response>;

    async fn export_form06(
        &self,
        request: Request<ExportForm06Request>,
    ) -> Result<Response<Self::ExportForm06Stream>, Status> {
        Ok(Response::new(self.export_form06_file(&caller(&request)?, request.into_inner()).await?))
    }

    async fn list_late_cases(
        &self,
        request: Request<ListLateCasesRequest>,
    ) -> Result<Response<ListLateCasesResponse>, Status> {
        Ok(Response::new(self.late_cases(&caller(&request)?, request.into_inner()).await?))
    }

    async fn count_late_cases(
        &self,
        request: Request<CountLateCasesRequest>,
    ) -> Result<Response<CountLateCasesResponse>, Status> {
        Ok(Response::new(self.late_case_counts(&caller(&request)?, request.into_inner()).await?))
    }

    type WatchLateCasesStream = ResponseStream<WatchLateCasesResponse>;

    async fn watch_late_cases(
        &self,
        request: Request<WatchLateCasesRequest>,
    ) -> Result<Response<Self::WatchLateCasesStream>, Status> {
        Ok(Response::new(self.watch(&caller(&request)?, request.into_inner()).await?))
    }

    async fn reconcile_late_counts(
        &self,
        request: Request<ReconcileLateCountsRequest>,
    ) -> Result<Response<ReconcileLateCountsResponse>, Status> {
        Ok(Response::new(self.reconcile(&caller(&request)?, request.into_inner()).await?))
    }

    async fn list_set_aside_changes(
        &self,
        request: Request<ListSetAsideChangesRequest>,
    ) -> Result<Response<ListSetAsideChangesResponse>, Status> {
        Ok(Response::new(self.set_aside_changes(&caller(&request)?, request.into_inner()).await?))
    }
}
