//! The gRPC surface of the catalogue: each RPC checks what only it knows and delegates to its module.

use onestop_domain::Violations;
use onestop_proto::catalogue::v1::catalogue_service_server::CatalogueService;
use onestop_proto::catalogue::v1::*;
use onestop_server::{ServiceError, ServiceResult};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::changes::{self, ChangeStream};
use crate::locate::Locator;
use crate::publication::{self, Outcome};
use crate::tenancy::{self, Writer};
use crate::{agencies, calendar, centers, decision_file, files, procedures, references, sectors, units};
use onestop_server::auth::principal;
use onestop_server::notify::Notifier;
use onestop_server::serve::StopSignal;

/// Most codes one lookup may ask for.
const MAX_CODES_PER_LOOKUP: usize = 10_000;

#[derive(Debug, Clone)]
pub struct CatalogueApi {
    pool: PgPool,
    notifier: Notifier,
    stop: StopSignal,
}

impl CatalogueApi {
    /// Answers a write with the cursor of the newest change once it committed: its own change, or a later one,
    /// so a client that waits for it elsewhere sees its write (read-your-writes).
    /// On whose behalf the caller of `request` writes: the nation, or its province only.
    fn writer<T>(&self, request: &Request<T>) -> Result<Writer, Status> {
        Ok(Writer::of(principal(request)?)?)
    }

    async fn written<T: WriteAnswer>(&self, result: ServiceResult<T>) -> Result<Response<T>, Status> {
        let mut answer = result?;
        answer.set_cursor(changes::head(&self.pool).await?);
        Ok(Response::new(answer))
    }

    pub fn new(pool: PgPool, notifier: Notifier, stop: StopSignal) -> Self {
        CatalogueApi { pool, notifier, stop }
    }

    async fn get_procedures(&self, request: GetProceduresRequest) -> ServiceResult<GetProceduresResponse> {
        let mut v = Violations::new();
        check_codes(&mut v, "codes", &request.codes);
        let as_of = v.date("as_of", &request.as_of);
        v.into_result()?;
        let found = procedures::as_of(&self.pool, &request.codes, as_of.expect("validated")).await?;
        let present: std::collections::HashSet<&str> = found.iter().map(|p| p.code.as_str()).collect();
        let missing_codes = request.codes.iter().filter(|c| !present.contains(c.as_str())).cloned().collect();
        Ok(GetProceduresResponse { procedures: found, missing_codes })
    }

    async fn list_centers(&self, request: ListCentersRequest) -> ServiceResult<ListCentersResponse> {
        let mut v = Violations::new();
        let centers = match (request.center_codes.is_empty(), request.unit_code.is_empty()) {
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
                centers::of_unit(&self.pool, &request.unit_code, request.include_descendants, as_of).await?
            }
            _ => return Err(ServiceError::invalid("unit_code", "give either center_codes or unit_code")),
        };
        Ok(ListCentersResponse { centers })
    }

    async fn publish_file(
        &self,
        writer: &Writer,
        request: PublishDecisionFileRequest,
    ) -> ServiceResult<PublishDecisionFileResponse> {
        let format = FileFormat::try_from(request.format).unwrap_or(FileFormat::Unspecified);
        let Some(header) = request.decision else {
            return Err(ServiceError::invalid("decision", "is required"));
        };
        if !header.items.is_empty() {
            return Err(ServiceError::invalid("decision.items", "must be empty: the items come from the file"));
        }
        let content = request.content;
        let (items, rows) = files::off_the_runtime(move || decision_file::read(format, &content)).await?;
        let count = items.len() as u32;
        let decision = PublicationDecision { items, ..header };
        let outcome = publication::publish(&self.pool, writer, Some(&decision), &Locator::Rows(&rows)).await?;
        Ok(PublishDecisionFileResponse { applied: outcome == Outcome::Applied, items: count, cursor: 0 })
    }
}

fn check_codes(v: &mut Violations, field: &str, codes: &[String]) {
    if codes.len() > MAX_CODES_PER_LOOKUP {
        v.add(field, format!("at most {MAX_CODES_PER_LOOKUP} codes per request"));
    }
    for (i, code) in codes.iter().enumerate() {
        v.code(&format!("{field}[{i}]"), code);
    }
}

/// A write's answer, which carries the cursor of the catalogue's newest change once the write committed.
trait WriteAnswer {
    fn set_cursor(&mut self, cursor: u64);
}

macro_rules! write_answers {
    ($($answer:ty),* $(,)?) => {
        $(impl WriteAnswer for $answer {
            fn set_cursor(&mut self, cursor: u64) {
                self.cursor = cursor;
            }
        })*
    };
}

write_answers!(
    UpsertUnitsResponse,
    LoadUnitsCsvResponse,
    UpsertSectorsResponse,
    UpsertAgenciesResponse,
    UpsertCentersResponse,
    SetCenterProceduresResponse,
    SetCalendarYearResponse,
    LoadCalendarCsvResponse,
    PublishDecisionResponse,
    PublishDecisionFileResponse,
);

/// Answers a unary RPC from a service result.
fn answer<T>(result: ServiceResult<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl CatalogueService for CatalogueApi {
    async fn upsert_units(
        &self,
        request: Request<UpsertUnitsRequest>,
    ) -> Result<Response<UpsertUnitsResponse>, Status> {
        let writer = self.writer(&request)?;
        let units = request.into_inner().units;
        let changed = async {
            let at = Locator::Request("units");
            let mut db = self.pool.acquire().await?;
            tenancy::request_units_in_province(&mut db, &writer, &units, |i| at.field(i, "code")).await?;
            drop(db);
            units::upsert(&self.pool, &units, &at).await
        };
        self.written(changed.await.map(|changed| UpsertUnitsResponse { changed, cursor: 0 })).await
    }

    async fn load_units_csv(
        &self,
        request: Request<LoadUnitsCsvRequest>,
    ) -> Result<Response<LoadUnitsCsvResponse>, Status> {
        let writer = self.writer(&request)?;
        let loaded = async {
            let (units, rows) = units::read_csv(request.into_inner().content).await?;
            let at = Locator::Rows(&rows);
            let mut db = self.pool.acquire().await?;
            tenancy::request_units_in_province(&mut db, &writer, &units, |i| at.field(i, "code")).await?;
            drop(db);
            let changed = units::upsert(&self.pool, &units, &at).await?;
            Ok((units.len() as u32, changed))
        };
        self.written(loaded.await.map(|(rows, changed)| LoadUnitsCsvResponse { rows, changed, cursor: 0 })).await
    }

    async fn list_units(&self, request: Request<ListUnitsRequest>) -> Result<Response<ListUnitsResponse>, Status> {
        answer(units::list(&self.pool, request.get_ref()).await)
    }

    async fn get_unit_ancestors(
        &self,
        request: Request<GetUnitAncestorsRequest>,
    ) -> Result<Response<GetUnitAncestorsResponse>, Status> {
        answer(units::ancestors(&self.pool, request.get_ref()).await)
    }

    async fn get_unit_successors(
        &self,
        request: Request<GetUnitSuccessorsRequest>,
    ) -> Result<Response<GetUnitSuccessorsResponse>, Status> {
        answer(units::successors(&self.pool, request.get_ref()).await)
    }

    async fn upsert_sectors(
        &self,
        request: Request<UpsertSectorsRequest>,
    ) -> Result<Response<UpsertSectorsResponse>, Status> {
        self.writer(&request)?.national_only("sectors")?;
        let sectors = request.into_inner().sectors;
        self.written(
            sectors::upsert(&self.pool, &sectors).await.map(|changed| UpsertSectorsResponse { changed, cursor: 0 }),
        )
        .await
    }

    async fn list_sectors(&self, _: Request<ListSectorsRequest>) -> Result<Response<ListSectorsResponse>, Status> {
        answer(sectors::list(&self.pool).await.map(|sectors| ListSectorsResponse { sectors }))
    }

    async fn upsert_agencies(
        &self,
        request: Request<UpsertAgenciesRequest>,
    ) -> Result<Response<UpsertAgenciesResponse>, Status> {
        let writer = self.writer(&request)?;
        let agencies = request.into_inner().agencies;
        let units: Vec<(String, String)> = agencies
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("agencies[{i}].unit_code"), a.unit_code.clone()))
            .collect();
        let mut db = self.pool.acquire().await.map_err(ServiceError::from)?;
        tenancy::units_in_province(&mut db, &writer, "an agency", &units).await?;
        drop(db);
        self.written(
            agencies::upsert(&self.pool, &agencies).await.map(|changed| UpsertAgenciesResponse { changed, cursor: 0 }),
        )
        .await
    }

    async fn list_agencies(
        &self,
        request: Request<ListAgenciesRequest>,
    ) -> Result<Response<ListAgenciesResponse>, Status> {
        let unit_code = request.into_inner().unit_code;
        answer(agencies::list(&self.pool, &unit_code).await.map(|agencies| ListAgenciesResponse { agencies }))
    }

    async fn upsert_centers(
        &self,
        request: Request<UpsertCentersRequest>,
    ) -> Result<Response<UpsertCentersResponse>, Status> {
        let writer = self.writer(&request)?;
        let centers = request.into_inner().centers;
        let units: Vec<(String, String)> =
            centers.iter().enumerate().map(|(i, c)| (format!("centers[{i}].unit_code"), c.unit_code.clone())).collect();
        let mut db = self.pool.acquire().await.map_err(ServiceError::from)?;
        tenancy::units_in_province(&mut db, &writer, "a center", &units).await?;
        drop(db);
        self.written(
            centers::upsert(&self.pool, &centers).await.map(|changed| UpsertCentersResponse { changed, cursor: 0 }),
        )
        .await
    }

    async fn list_centers(
        &self,
        request: Request<ListCentersRequest>,
    ) -> Result<Response<ListCentersResponse>, Status> {
        answer(self.list_centers(request.into_inner()).await)
    }

    async fn set_center_procedures(
        &self,
        request: Request<SetCenterProceduresRequest>,
    ) -> Result<Response<SetCenterProceduresResponse>, Status> {
        let writer = self.writer(&request)?;
        let center = request.get_ref().center_code.clone();
        let unit: Option<String> = sqlx::query_scalar("SELECT unit_code FROM center WHERE code = $1")
            .bind(&center)
            .fetch_optional(&self.pool)
            .await
            .map_err(ServiceError::from)?;
        if let Some(unit) = unit {
            let units = [("center_code".to_owned(), unit)];
            let mut db = self.pool.acquire().await.map_err(ServiceError::from)?;
            tenancy::units_in_province(&mut db, &writer, "the list", &units).await?;
        }
        self.written(
            centers::set_procedures(&self.pool, request.get_ref())
                .await
                .map(|applied| SetCenterProceduresResponse { applied, cursor: 0 }),
        )
        .await
    }

    async fn list_center_procedures(
        &self,
        request: Request<ListCenterProceduresRequest>,
    ) -> Result<Response<ListCenterProceduresResponse>, Status> {
        let codes = centers::procedures_on(&self.pool, request.get_ref()).await;
        answer(codes.map(|procedure_codes| ListCenterProceduresResponse { procedure_codes }))
    }

    async fn set_calendar_year(
        &self,
        request: Request<SetCalendarYearRequest>,
    ) -> Result<Response<SetCalendarYearResponse>, Status> {
        self.writer(&request)?.national_only("working-day calendars")?;
        self.written(
            calendar::set_year(&self.pool, request.get_ref())
                .await
                .map(|changed| SetCalendarYearResponse { changed, cursor: 0 }),
        )
        .await
    }

    async fn load_calendar_csv(
        &self,
        request: Request<LoadCalendarCsvRequest>,
    ) -> Result<Response<LoadCalendarCsvResponse>, Status> {
        self.writer(&request)?.national_only("working-day calendars")?;
        let loaded = calendar::load_csv(&self.pool, request.into_inner().content).await;
        self.written(loaded.map(|(years, changed_years)| LoadCalendarCsvResponse { years, changed_years, cursor: 0 }))
            .await
    }

    async fn get_calendar_year(
        &self,
        request: Request<GetCalendarYearRequest>,
    ) -> Result<Response<GetCalendarYearResponse>, Status> {
        answer(calendar::get_year(&self.pool, request.get_ref().year).await)
    }

    async fn add_working_days(
        &self,
        request: Request<AddWorkingDaysRequest>,
    ) -> Result<Response<AddWorkingDaysResponse>, Status> {
        answer(
            calendar::add_working_days(&self.pool, request.get_ref()).await.map(|day| AddWorkingDaysResponse { day }),
        )
    }

    async fn count_working_days(
        &self,
        request: Request<CountWorkingDaysRequest>,
    ) -> Result<Response<CountWorkingDaysResponse>, Status> {
        let count = calendar::count_working_days(&self.pool, request.get_ref()).await;
        answer(count.map(|working_days| CountWorkingDaysResponse { working_days }))
    }

    async fn publish_decision(
        &self,
        request: Request<PublishDecisionRequest>,
    ) -> Result<Response<PublishDecisionResponse>, Status> {
        let writer = self.writer(&request)?;
        let decision = request.into_inner().decision;
        let outcome =
            publication::publish(&self.pool, &writer, decision.as_ref(), &Locator::Request("decision.items")).await;
        self.written(outcome.map(|o| PublishDecisionResponse { applied: o == Outcome::Applied, cursor: 0 })).await
    }

    async fn publish_decision_file(
        &self,
        request: Request<PublishDecisionFileRequest>,
    ) -> Result<Response<PublishDecisionFileResponse>, Status> {
        let writer = self.writer(&request)?;
        self.written(self.publish_file(&writer, request.into_inner()).await).await
    }

    async fn get_decision(
        &self,
        request: Request<GetDecisionRequest>,
    ) -> Result<Response<GetDecisionResponse>, Status> {
        let asked = request.get_ref();
        answer(publication::get(&self.pool, &asked.issuing_unit_code, &asked.number).await)
    }

    async fn get_procedures(
        &self,
        request: Request<GetProceduresRequest>,
    ) -> Result<Response<GetProceduresResponse>, Status> {
        answer(self.get_procedures(request.into_inner()).await)
    }

    async fn check_references(
        &self,
        request: Request<CheckReferencesRequest>,
    ) -> Result<Response<CheckReferencesResponse>, Status> {
        answer(references::check(&self.pool, request.get_ref()).await)
    }

    async fn get_procedure_history(
        &self,
        request: Request<GetProcedureHistoryRequest>,
    ) -> Result<Response<GetProcedureHistoryResponse>, Status> {
        answer(procedures::history(&self.pool, &request.get_ref().code).await)
    }

    async fn list_procedures(
        &self,
        request: Request<ListProceduresRequest>,
    ) -> Result<Response<ListProceduresResponse>, Status> {
        answer(procedures::list(&self.pool, request.get_ref()).await)
    }

    async fn count_procedures(
        &self,
        request: Request<CountProceduresRequest>,
    ) -> Result<Response<CountProceduresResponse>, Status> {
        answer(procedures::count(&self.pool, request.get_ref()).await)
    }

    type WatchChangesStream = ChangeStream;

    async fn watch_changes(&self, request: Request<WatchChangesRequest>) -> Result<Response<ChangeStream>, Status> {
        let after = request.get_ref().after_cursor;
        Ok(Response::new(changes::watch(self.pool.clone(), &self.notifier, self.stop.clone(), after)))
    }
}
