//! The gRPC surface of intake.

use std::pin::Pin;

use onestop_domain::Violations;
use onestop_proto::intake::v1::intake_service_server::IntakeService;
use onestop_proto::intake::v1::*;
use onestop_server::admission;
use onestop_server::auth::principal;
use onestop_server::notify::Notifier;
use onestop_server::serve::StopSignal;
use onestop_server::{freshness, paging, ServiceError, ServiceResult};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::catalogue_view::CatalogueView;
use crate::cell_metrics::CellMetrics;
use crate::cells::{self, PageKey};
use crate::changes::{self, ChangeStream, Cursor};
use crate::pace::FollowerPace;
use crate::{access, cases, push};

const DEFAULT_PAGE_SIZE: u32 = 1_000;
const MAX_PAGE_SIZE: u32 = 10_000;
/// Most center or procedure codes one read may name: the country has about 3,400 centers and the catalogue
/// about 6,000 procedures.
const MAX_CODES_PER_READ: usize = 10_000;

/// Checks the codes a read names: not too many, and each a code.
pub(crate) fn check_codes(v: &mut Violations, field: &str, codes: &[String]) {
    if v.at_most(field, codes.len(), MAX_CODES_PER_READ) {
        for (i, code) in codes.iter().enumerate() {
            v.code(&format!("{field}[{i}]"), code);
        }
    }
}

#[derive(Debug, Clone)]
pub struct IntakeApi {
    pool: PgPool,
    view: CatalogueView,
    notifier: Notifier,
    stop: StopSignal,
    /// The server's limit on a call, which bounds a read's wait when its caller set no deadline.
    request_timeout: std::time::Duration,
    cells: CellMetrics,
    /// The change stream's followers, whom bulk streams let keep up.
    pace: FollowerPace,
}

impl IntakeApi {
    pub fn new(pool: PgPool, view: CatalogueView, notifier: Notifier, stop: StopSignal) -> Self {
        IntakeApi {
            pool,
            view,
            notifier,
            stop,
            request_timeout: std::time::Duration::from_secs(30),
            cells: CellMetrics::default(),
            pace: FollowerPace::default(),
        }
    }

    /// Counts pushed cells by outcome in `cells`.
    pub fn with_metrics(mut self, cells: CellMetrics) -> Self {
        self.cells = cells;
        self
    }

    /// The server's limit on a call: a read with no deadline of its own waits for changes at most this long.
    pub fn with_request_timeout(mut self, request_timeout: std::time::Duration) -> Self {
        self.request_timeout = request_timeout;
        self
    }

    /// Waits, up to the deadline of `request`, until intake's reads include its change `min_intake` and its copy
    /// of the catalogue the catalogue's change `min_catalogue` (read-your-writes).
    async fn include<T>(&self, request: &Request<T>, min_intake: &str, min_catalogue: u64) -> ServiceResult<()> {
        let deadline = freshness::deadline(request, self.request_timeout);
        if !min_intake.is_empty() {
            let wanted =
                Cursor::parse(min_intake).map_err(|reason| ServiceError::invalid("min_intake_cursor", reason))?;
            loop {
                // A cursor a push answered with is committed, so this is at once true for every real one.
                let head = changes::head(&mut *self.pool.acquire().await?).await?;
                if head >= wanted {
                    break;
                }
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    let head = head.to_string();
                    return Err(freshness::not_yet_included("min_intake_cursor", "intake", min_intake, &head));
                }
                tokio::time::sleep((deadline - now).min(std::time::Duration::from_millis(50))).await;
            }
        }
        if !self.view.wait_for(min_catalogue, deadline).await {
            let applied = self.view.cursor().to_string();
            return Err(freshness::not_yet_included(
                "min_catalogue_cursor",
                "catalogue",
                &min_catalogue.to_string(),
                &applied,
            ));
        }
        Ok(())
    }

    async fn list(&self, request: ListCellsRequest) -> ServiceResult<ListCellsResponse> {
        let mut v = Violations::new();
        if request.center_codes.is_empty() {
            v.add("center_codes", "at least one center is required");
        }
        check_codes(&mut v, "center_codes", &request.center_codes);
        check_codes(&mut v, "procedure_codes", &request.procedure_codes);
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
        let range = (from.expect("validated"), to.expect("validated"));
        let (cells, next) =
            cells::list(&self.pool, &request.center_codes, &request.procedure_codes, range, after, page_size as usize)
                .await?;
        Ok(ListCellsResponse { cells, next_page_token: next.map(|k| k.to_token()).unwrap_or_default() })
    }

    async fn history(&self, request: GetCellHistoryRequest) -> ServiceResult<GetCellHistoryResponse> {
        let mut v = Violations::new();
        v.code("center_code", &request.center_code);
        v.code("procedure_code", &request.procedure_code);
        let day = v.date("day", &request.day);
        v.into_result()?;
        let key = (request.center_code, day.expect("validated"), request.procedure_code);
        Ok(GetCellHistoryResponse { versions: cells::history(&self.pool, &key).await? })
    }

    async fn completeness(
        &self,
        request: GetReportingCompletenessRequest,
    ) -> ServiceResult<GetReportingCompletenessResponse> {
        let mut v = Violations::new();
        if request.center_codes.is_empty() {
            v.add("center_codes", "at least one center is required");
        }
        check_codes(&mut v, "center_codes", &request.center_codes);
        let from = v.date("from_day", &request.from_day);
        let to = v.date("to_day", &request.to_day);
        v.into_result()?;
        let reports =
            cells::completeness(&self.pool, &request.center_codes, from.expect("checked"), to.expect("checked"))
                .await?;
        Ok(GetReportingCompletenessResponse { reports })
    }
}

fn answer<T>(result: ServiceResult<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

type PushStream = Pin<Box<dyn Stream<Item = Result<PushCellsStreamResponse, Status>> + Send>>;

/// Whether a push stored changes for the stream (a value stored again, or answered from its idempotency key,
/// logs none).
fn logged_changes(pushed: &PushCellsResponse) -> bool {
    pushed.accepted > 0 && !pushed.replayed
}

#[tonic::async_trait]
impl IntakeService for IntakeApi {
    async fn push_cells(&self, request: Request<PushCellsRequest>) -> Result<Response<PushCellsResponse>, Status> {
        let centers = request.get_ref().cells.iter().map(|c| c.center_code.as_str());
        access::may_push(principal(&request)?, centers, |i| format!("cells[{i}].center_code"))?;
        let pushed = push::push(&self.pool, &self.view, request.get_ref()).await;
        if let Ok(pushed) = &pushed {
            self.cells.record(pushed);
            if logged_changes(pushed) {
                self.pace.committed();
            }
        }
        answer(pushed)
    }

    type PushCellsStreamStream = PushStream;

    /// Batches are stored one at a time, each answered once it has committed, and the next batch is read only
    /// once that answer has been handed on: the server is never more than the batch it is storing ahead of its
    /// answers. The first failing batch ends the stream with its error; the batches before it are stored.
    async fn push_cells_stream(
        &self,
        request: Request<Streaming<PushCellsStreamRequest>>,
    ) -> Result<Response<PushStream>, Status> {
        let principal = principal(&request)?.clone();
        let mut incoming = request.into_inner();
        let (sender, receiver) = mpsc::channel(1);
        let (pool, view, mut stop, pace) = (self.pool.clone(), self.view.clone(), self.stop.clone(), self.pace.clone());
        let cell_metrics = self.cells.clone();
        tokio::spawn(async move {
            loop {
                // Between batches, a stopping service ends the stream; the client resumes after the last answer.
                let message = tokio::select! {
                    message = incoming.next() => message,
                    _ = stop.stopped() => {
                        let _ = sender.send(Err(Status::unavailable("intake is shutting down; resume later"))).await;
                        return;
                    }
                };
                let Some(message) = message else { return };
                let batch = match message {
                    Err(status) => Err(admission::incoming_error(status)),
                    Ok(PushCellsStreamRequest { batch: None }) => {
                        Err(Status::invalid_argument("batch: is required in every stream message"))
                    }
                    Ok(PushCellsStreamRequest { batch: Some(batch) }) => {
                        let centers = batch.cells.iter().map(|c| c.center_code.as_str());
                        access::may_push(&principal, centers, |i| format!("batch.cells[{i}].center_code"))
                            .map(|()| batch)
                    }
                };
                let outcome = match batch {
                    Err(refused) => Err(refused),
                    Ok(batch) => {
                        // Read what the batch needs while the followers apply the one before, then store it at
                        // the pace they apply it (see `pace`).
                        let stored = match push::prepare(&pool, &view, &batch).await {
                            Ok(push::Prepared::Answered(earlier)) => Ok(earlier),
                            Ok(push::Prepared::ToStore(checked)) => {
                                tokio::select! {
                                    waited = pace.yield_to_followers() => cell_metrics.record_bulk_wait(waited),
                                    _ = stop.stopped() => {
                                        let _ = sender
                                            .send(Err(Status::unavailable("intake is shutting down; resume later")))
                                            .await;
                                        return;
                                    }
                                }
                                push::store(&pool, &batch, checked).await
                            }
                            Err(error) => Err(error),
                        };
                        stored
                            .inspect(|answer| {
                                cell_metrics.record(answer);
                                if logged_changes(answer) {
                                    pace.committed();
                                }
                            })
                            .map(|answer| PushCellsStreamResponse { batch: Some(answer) })
                            .map_err(Status::from)
                    }
                };
                let failed = outcome.is_err();
                if sender.send(outcome).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn list_cells(&self, request: Request<ListCellsRequest>) -> Result<Response<ListCellsResponse>, Status> {
        access::may_read(principal(&request)?, "center_codes", &request.get_ref().center_codes)?;
        let r = request.get_ref();
        self.include(&request, &r.min_intake_cursor, r.min_catalogue_cursor).await?;
        answer(self.list(request.into_inner()).await)
    }

    async fn get_cell_history(
        &self,
        request: Request<GetCellHistoryRequest>,
    ) -> Result<Response<GetCellHistoryResponse>, Status> {
        access::may_read(principal(&request)?, "center_code", std::slice::from_ref(&request.get_ref().center_code))?;
        let r = request.get_ref();
        self.include(&request, &r.min_intake_cursor, r.min_catalogue_cursor).await?;
        answer(self.history(request.into_inner()).await)
    }

    async fn get_reporting_completeness(
        &self,
        request: Request<GetReportingCompletenessRequest>,
    ) -> Result<Response<GetReportingCompletenessResponse>, Status> {
        access::may_read(principal(&request)?, "center_codes", &request.get_ref().center_codes)?;
        let r = request.get_ref();
        self.include(&request, &r.min_intake_cursor, r.min_catalogue_cursor).await?;
        answer(self.completeness(request.into_inner()).await)
    }

    async fn push_cases(&self, request: Request<PushCasesRequest>) -> Result<Response<PushCasesResponse>, Status> {
        let centers = request.get_ref().cases.iter().map(|c| c.receiving_center_code.as_str());
        access::may_push(principal(&request)?, centers, |i| format!("cases[{i}].receiving_center_code"))?;
        let pushed = cases::push(&self.pool, &self.view, request.get_ref()).await;
        if pushed.as_ref().is_ok_and(|pushed| pushed.created + pushed.updated > 0) {
            self.pace.committed();
        }
        answer(pushed)
    }

    async fn list_cases(&self, request: Request<ListCasesRequest>) -> Result<Response<ListCasesResponse>, Status> {
        access::may_read(principal(&request)?, "center_codes", &request.get_ref().center_codes)?;
        let r = request.get_ref();
        self.include(&request, &r.min_intake_cursor, r.min_catalogue_cursor).await?;
        answer(cases::list(&self.pool, request.get_ref()).await)
    }

    type WatchChangesStream = ChangeStream;

    async fn watch_changes(&self, request: Request<WatchChangesRequest>) -> Result<Response<ChangeStream>, Status> {
        let after = Cursor::parse(&request.get_ref().after_cursor)
            .map_err(|reason| Status::invalid_argument(format!("after_cursor: {reason}")))?;
        Ok(Response::new(changes::watch(self.pool.clone(), &self.notifier, &self.pace, self.stop.clone(), after)))
    }
}
