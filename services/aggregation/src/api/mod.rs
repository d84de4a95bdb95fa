//! The gRPC surface of aggregation: each RPC in the module of its capability, all reading one snapshot.
//!
//! - [`period`]: the days a request covers;
//! - [`indicators`]: indicators, breakdowns and rankings;
//! - [`form06`]: the official periodic report and its files;
//! - [`monitoring`]: late-case lists, counts, the watch, and reconciliation with the cells;
//! - [`reconciliation`]: the days on which the cells and the case records disagree, and the records behind them;
//! - [`watch_hub`]: one poller for all the late-case watches of one scope;
//! - [`operations`]: the changes aggregation had to set aside, for operators;
//! - [`reports`]: periodic reports submitted, reviewed, compared with the figures now and sent up.

pub mod form06;
pub mod indicators;
pub mod monitoring;
pub mod operations;
pub mod period;
pub mod reconciliation;
pub mod reporting_gaps;
pub mod reports;
pub mod watch_hub;

use std::pin::Pin;
use std::sync::Arc;

use std::time::Duration;

use chrono::NaiveDate;
use onestop_domain::{today_in_vietnam, Violations};
use onestop_proto::aggregation::v1::aggregation_service_server::AggregationService;
use onestop_proto::aggregation::v1::*;
use onestop_proto::catalogue::v1::{GetUnitSuccessorsRequest, ListCentersRequest};
use onestop_proto::convert::timestamp_to_wire as to_wire;
use onestop_server::auth::Principal;
use onestop_server::client::CatalogueClient;
use onestop_server::freshness::not_yet_included;
use onestop_server::notify::Notifier;
use onestop_server::serve::StopSignal;
use onestop_server::{ServiceError, ServiceResult};
use sqlx::{PgPool, Postgres, Transaction};
use tokio::time::Instant;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::scope::{self, Scope, ScopeCache, Target};
use crate::{definitions, feeds, forms};

/// How long a request waits for the catalogue copy to catch up with something just published.
const COPY_WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(25);
const COPY_WAIT_ROUNDS: usize = 200;
/// How often a read waiting for changes looks again without a wake-up (one may come from another replica's
/// feed before this one's listener hears it).
const PROGRESS_POLL: Duration = Duration::from_millis(100);

#[derive(Clone)]
pub struct AggregationApi {
    pool: PgPool,
    /// Where answers read their snapshots: the primary's pool, or a streaming replica's.
    reads: PgPool,
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
    /// Wakes reads waiting for changes to be applied (read-your-writes).
    progress: Notifier,
    /// The server's own limit on a call, which bounds a read's wait when its caller set no deadline.
    request_timeout: Duration,
    /// Scopes resolved for earlier answers, by the catalogue cursor they were resolved at.
    scopes: ScopeCache,
}

/// Who calls, and until when a read may wait for the changes it must include.
pub struct Call {
    pub principal: Principal,
    pub deadline: Instant,
}

/// The changes an answer must include: cursors of intake's and the catalogue's streams (empty or 0 for none).
#[derive(Debug, Clone, Copy, Default)]
pub struct AtLeast<'a> {
    pub intake: &'a str,
    pub catalogue: u64,
}

/// The day in Vietnam now.
pub fn vietnam_today() -> NaiveDate {
    today_in_vietnam(chrono::Utc::now())
}

impl AggregationApi {
    /// `applied` wakes late-case watches when case records were applied; `progress`, reads waiting for any
    /// change to be applied.
    pub fn new(
        pool: PgPool,
        catalogue: CatalogueClient,
        applied: Notifier,
        progress: Notifier,
        stop: StopSignal,
    ) -> Self {
        AggregationApi {
            reads: pool.clone(),
            pool,
            catalogue,
            applied,
            stop,
            clock: vietnam_today,
            watches: Default::default(),
            progress,
            request_timeout: Duration::from_secs(30),
            scopes: ScopeCache::default(),
        }
    }

    /// The server's limit on a call: a read with no deadline of its own waits for changes at most this long.
    pub fn with_request_timeout(mut self, request_timeout: Duration) -> Self {
        self.request_timeout = request_timeout;
        self
    }

    /// The caller of `request` and its deadline.
    fn call<T>(&self, request: &Request<T>) -> Result<Call, Status> {
        let principal = onestop_server::auth::principal(request)?.clone();
        Ok(Call { principal, deadline: onestop_server::freshness::deadline(request, self.request_timeout) })
    }

    /// Answers read their snapshots from `reads`, a pool on a streaming replica of the primary. Its position in
    /// intake's stream is the one the primary had when the replica last replayed, so a read asked for a cursor
    /// waits for the replica exactly as it would for the feed.
    pub fn with_reads(mut self, reads: PgPool) -> Self {
        self.reads = reads;
        self
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
        call: &Call,
        target: &Target,
        at_least: AtLeast<'_>,
    ) -> ServiceResult<(Transaction<'static, Postgres>, Freshness, Arc<Scope>)> {
        self.scoped_snapshot_for(call, target, None, at_least).await
    }

    /// [`AggregationApi::scoped_snapshot`] for an answer that counts only what `only_agency` implements or
    /// resolves, which a department may read of its own.
    async fn scoped_snapshot_for(
        &self,
        call: &Call,
        target: &Target,
        only_agency: Option<&str>,
        at_least: AtLeast<'_>,
    ) -> ServiceResult<(Transaction<'static, Postgres>, Freshness, Arc<Scope>)> {
        let principal = &call.principal;
        let (mut snapshot, freshness) = self.snapshot(call.deadline, at_least).await?;
        match self.scopes.resolve(&mut snapshot, target, freshness.catalogue_cursor).await {
            Ok(scope) => {
                scope::authorize(&mut snapshot, principal, &scope, only_agency).await?;
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
            let (mut snapshot, freshness) = self.snapshot(call.deadline, at_least).await?;
            if let Ok(scope) = self.scopes.resolve(&mut snapshot, target, freshness.catalogue_cursor).await {
                scope::authorize(&mut snapshot, principal, &scope, only_agency).await?;
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
    /// so it includes exactly the changes up to the cursors it reports. One that does not yet include the
    /// changes `at_least` names is let go and taken again once more changes are applied, until `deadline`.
    async fn snapshot(
        &self,
        deadline: Instant,
        at_least: AtLeast<'_>,
    ) -> ServiceResult<(Transaction<'static, Postgres>, Freshness)> {
        let wanted_intake = match at_least.intake {
            "" => None,
            text => Some(
                feeds::position(text)
                    .filter(|p| p.len() == 3)
                    .ok_or_else(|| ServiceError::invalid("min_intake_cursor", "is not a cursor of intake's stream"))?,
            ),
        };
        let mut progress = self.progress.waiter();
        loop {
            progress.mark_seen();
            let mut tx = self.reads.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
            let applied = feeds::applied_cursors(&mut *tx).await?;
            let (intake_cursor, catalogue_cursor) = (applied.intake, applied.catalogue);
            let intake_included =
                wanted_intake.as_ref().is_none_or(|wanted| feeds::position(&intake_cursor).as_ref() >= Some(wanted));
            if intake_included && catalogue_cursor >= at_least.catalogue {
                let freshness = Freshness {
                    intake_cursor,
                    catalogue_cursor,
                    intake_applied_at: applied.intake_applied_at.map(to_wire),
                    catalogue_applied_at: applied.catalogue_applied_at.map(to_wire),
                };
                return Ok((tx, freshness));
            }
            tx.rollback().await?;
            let now = Instant::now();
            if now >= deadline {
                return Err(if intake_included {
                    not_yet_included(
                        "min_catalogue_cursor",
                        "catalogue",
                        &at_least.catalogue.to_string(),
                        &catalogue_cursor.to_string(),
                    )
                } else {
                    not_yet_included("min_intake_cursor", "intake", at_least.intake, &intake_cursor)
                });
            }
            progress.wait((deadline - now).min(PROGRESS_POLL)).await;
        }
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

/// What an answer is asked for: a unit or center, or an agency, whose answer covers the centers of its unit and
/// counts only what it implements or resolves.
enum Named {
    Target(Target),
    Agency(String),
}

/// The unit, center or agency a request names; `agency_code` excludes the other two.
fn named(v: &mut Violations, unit_code: &str, center_code: &str, agency_code: &str) -> Option<Named> {
    if agency_code.is_empty() {
        return target(v, unit_code, center_code).map(Named::Target);
    }
    if !unit_code.is_empty() || !center_code.is_empty() {
        v.add("agency_code", "give one of unit_code, center_code or agency_code");
    }
    v.code("agency_code", agency_code).then(|| Named::Agency(agency_code.to_owned()))
}

/// The unit an agency belongs to: its answers cover that unit's centers.
async fn agency_unit(pool: &PgPool, agency: &str) -> ServiceResult<String> {
    let unit: Option<String> =
        sqlx::query_scalar("SELECT unit_code FROM agency WHERE code = $1").bind(agency).fetch_optional(pool).await?;
    unit.ok_or_else(|| ServiceError::not_found("agency_code", format!("agency {agency}")))
}

impl Named {
    /// The target whose centers the answer covers, and the agency whose share alone counts.
    async fn resolve(self, pool: &PgPool) -> ServiceResult<(Target, Option<String>)> {
        match self {
            Named::Target(target) => Ok((target, None)),
            Named::Agency(agency) => Ok((Target::Unit(agency_unit(pool, &agency).await?), Some(agency))),
        }
    }
}

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl AggregationService for AggregationApi {
    async fn get_indicators(
        &self,
        request: Request<GetIndicatorsRequest>,
    ) -> Result<Response<GetIndicatorsResponse>, Status> {
        Ok(Response::new(self.indicators(&self.call(&request)?, request.into_inner()).await?))
    }

    async fn rank_units(&self, request: Request<RankUnitsRequest>) -> Result<Response<RankUnitsResponse>, Status> {
        Ok(Response::new(self.rank(&self.call(&request)?, request.into_inner()).await?))
    }

    async fn define_indicator(
        &self,
        request: Request<DefineIndicatorRequest>,
    ) -> Result<Response<DefineIndicatorResponse>, Status> {
        let call = self.call(&request)?;
        Ok(Response::new(definitions::define(&self.pool, &call.principal, request.into_inner()).await?))
    }

    async fn list_indicator_definitions(
        &self,
        request: Request<ListIndicatorDefinitionsRequest>,
    ) -> Result<Response<ListIndicatorDefinitionsResponse>, Status> {
        let call = self.call(&request)?;
        Ok(Response::new(definitions::list(&self.pool, &call.principal, request.into_inner()).await?))
    }

    async fn get_form06(&self, request: Request<GetForm06Request>) -> Result<Response<GetForm06Response>, Status> {
        Ok(Response::new(self.form06(&self.call(&request)?, request.into_inner()).await?))
    }

    type ExportForm06Stream = ResponseStream<ExportForm06Response>;

    async fn export_form06(
        &self,
        request: Request<ExportForm06Request>,
    ) -> Result<Response<Self::ExportForm06Stream>, Status> {
        Ok(Response::new(self.export_form06_file(&self.call(&request)?, request.into_inner()).await?))
    }

    async fn define_form(&self, request: Request<DefineFormRequest>) -> Result<Response<DefineFormResponse>, Status> {
        let call = self.call(&request)?;
        Ok(Response::new(forms::define(&self.pool, &call.principal, request.into_inner()).await?))
    }

    async fn list_form_definitions(
        &self,
        request: Request<ListFormDefinitionsRequest>,
    ) -> Result<Response<ListFormDefinitionsResponse>, Status> {
        self.call(&request)?;
        Ok(Response::new(forms::list(&self.pool, request.into_inner()).await?))
    }

    async fn list_late_cases(
        &self,
        request: Request<ListLateCasesRequest>,
    ) -> Result<Response<ListLateCasesResponse>, Status> {
        Ok(Response::new(self.late_cases(&self.call(&request)?, request.into_inner()).await?))
    }

    async fn count_late_cases(
        &self,
        request: Request<CountLateCasesRequest>,
    ) -> Result<Response<CountLateCasesResponse>, Status> {
        Ok(Response::new(self.late_case_counts(&self.call(&request)?, request.into_inner()).await?))
    }

    type WatchLateCasesStream = ResponseStream<WatchLateCasesResponse>;

    async fn watch_late_cases(
        &self,
        request: Request<WatchLateCasesRequest>,
    ) -> Result<Response<Self::WatchLateCasesStream>, Status> {
        Ok(Response::new(self.watch(&self.call(&request)?, request.into_inner()).await?))
    }

    async fn reconcile_late_counts(
        &self,
        request: Request<ReconcileLateCountsRequest>,
    ) -> Result<Response<ReconcileLateCountsResponse>, Status> {
        Ok(Response::new(self.reconcile(&self.call(&request)?, request.into_inner()).await?))
    }

    async fn get_reporting_gaps(
        &self,
        request: Request<GetReportingGapsRequest>,
    ) -> Result<Response<GetReportingGapsResponse>, Status> {
        Ok(Response::new(self.reporting_gaps(&self.call(&request)?, request.into_inner()).await?))
    }

    async fn list_set_aside_changes(
        &self,
        request: Request<ListSetAsideChangesRequest>,
    ) -> Result<Response<ListSetAsideChangesResponse>, Status> {
        Ok(Response::new(self.set_aside_changes(&self.call(&request)?.principal, request.into_inner()).await?))
    }

    async fn submit_report(
        &self,
        request: Request<SubmitReportRequest>,
    ) -> Result<Response<SubmitReportResponse>, Status> {
        Ok(Response::new(self.submit_report(&self.call(&request)?, request.into_inner()).await?))
    }

    async fn review_report(
        &self,
        request: Request<ReviewReportRequest>,
    ) -> Result<Response<ReviewReportResponse>, Status> {
        Ok(Response::new(self.review_report(&self.call(&request)?, request.into_inner()).await?))
    }

    async fn get_report(&self, request: Request<GetReportRequest>) -> Result<Response<GetReportResponse>, Status> {
        Ok(Response::new(self.get_report(&self.call(&request)?, request.into_inner()).await?))
    }

    async fn compare_report(
        &self,
        request: Request<CompareReportRequest>,
    ) -> Result<Response<CompareReportResponse>, Status> {
        Ok(Response::new(self.compare_report(&self.call(&request)?, request.into_inner()).await?))
    }

    async fn list_reports(
        &self,
        request: Request<ListReportsRequest>,
    ) -> Result<Response<ListReportsResponse>, Status> {
        Ok(Response::new(self.list_reports(&self.call(&request)?, request.into_inner()).await?))
    }

    type ExportReportsStream = ResponseStream<ExportReportsResponse>;

    async fn export_reports(
        &self,
        request: Request<ExportReportsRequest>,
    ) -> Result<Response<Self::ExportReportsStream>, Status> {
        Ok(Response::new(self.export_reports(&self.call(&request)?, request.into_inner()).await?))
    }

    async fn set_report_deadlines(
        &self,
        request: Request<SetReportDeadlinesRequest>,
    ) -> Result<Response<SetReportDeadlinesResponse>, Status> {
        Ok(Response::new(self.set_report_deadlines(&self.call(&request)?, request.into_inner()).await?))
    }
}
