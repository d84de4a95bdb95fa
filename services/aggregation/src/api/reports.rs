//! The reporting cycle: SubmitReport, ReviewReport, GetReport, CompareReport, ListReports, ExportReports and
//! SetReportDeadlines. What is stored, and how, is in [`crate::reports`].
//!
//! Rights follow the principals: a commune (`unit`), a department (`agency`) and a province submit their own
//! reports; the province approves or returns its communes' and departments', the nation the provinces'. A report
//! is read by its reporter and its reviewers.
//!
//! Reports are read from the primary, where they are written, so that one is found the moment its submission
//! returns; a comparison's current figures come from the reading pool like every other answer.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Utc};
use onestop_domain::Violations;
use onestop_proto::aggregation::v1::*;
use onestop_server::auth::{Principal, Role};
use onestop_server::{ServiceError, ServiceResult};
use prost::Message;

use super::indicators::Question;
use super::{period, AggregationApi, AtLeast, Call, ResponseStream};
use crate::export;
use crate::feeds;
use crate::reports::deadlines::{self, Deadlines};
use crate::reports::{self, bundle, compare, corrections, PeriodKey, ReportRow, StoredFile, VersionRow};
use crate::scope::{self, Target, NATION};

const MAX_NOTE_CHARS: usize = 2_000;
const MAX_REASON_CHARS: usize = 2_000;
/// Corrections a comparison lists when not told, and at most.
const DEFAULT_CORRECTIONS: u32 = 1_000;
const MAX_CORRECTIONS: u32 = 10_000;
/// Most deadlines one call sets: every period kind for every reporter kind, with room to spare.
const MAX_DEADLINES: usize = 100;

/// Who reports, as the copy of the catalogue knows them.
struct Reporter {
    kind: ReporterKind,
    code: String,
    name: String,
    /// The province whose office reviews it (for a province, its own code: the nation reviews it).
    province: String,
    /// Whose centers its figures count, and only what this agency implements or resolves for an agency.
    target: Target,
    only_agency: Option<String>,
}

async fn reporter(db: &mut sqlx::PgConnection, unit_code: &str, agency_code: &str) -> ServiceResult<Reporter> {
    if !agency_code.is_empty() {
        let agency: Option<(String, String)> = sqlx::query_as("SELECT name, unit_code FROM agency WHERE code = $1")
            .bind(agency_code)
            .fetch_optional(&mut *db)
            .await?;
        let (name, unit) =
            agency.ok_or_else(|| ServiceError::not_found("agency_code", format!("agency {agency_code}")))?;
        let province = scope::province_of(db, &unit).await?.ok_or_else(|| {
            ServiceError::precondition("agency_code", format!("the unit of agency {agency_code} is in no province"))
        })?;
        return Ok(Reporter {
            kind: ReporterKind::Agency,
            code: agency_code.to_owned(),
            name,
            province,
            target: Target::Unit(unit),
            only_agency: Some(agency_code.to_owned()),
        });
    }
    let unit: Option<(String, i16)> =
        sqlx::query_as("SELECT name, level FROM unit WHERE code = $1").bind(unit_code).fetch_optional(&mut *db).await?;
    let (name, level) = unit.ok_or_else(|| ServiceError::not_found("unit_code", format!("unit {unit_code}")))?;
    let province = scope::province_of(db, unit_code)
        .await?
        .ok_or_else(|| ServiceError::precondition("unit_code", format!("unit {unit_code} is in no province")))?;
    Ok(Reporter {
        kind: if level == 1 { ReporterKind::Province } else { ReporterKind::Locality },
        code: unit_code.to_owned(),
        name,
        province,
        target: Target::Unit(unit_code.to_owned()),
        only_agency: None,
    })
}

/// A principal submits only its own report.
fn may_submit(principal: &Principal, kind: ReporterKind, code: &str) -> bool {
    let own = |claim: &Option<String>| claim.as_deref() == Some(code);
    match (principal.role, kind) {
        (Role::Unit, ReporterKind::Locality) => own(&principal.unit),
        (Role::Agency, ReporterKind::Agency) => own(&principal.agency),
        (Role::Province, ReporterKind::Province) => own(&principal.province),
        _ => false,
    }
}

/// The province reviews its communes' and departments' reports, the nation the provinces'.
fn may_review(principal: &Principal, report: &ReportRow) -> bool {
    match (principal.role, report.kind()) {
        (Role::National, ReporterKind::Province) => true,
        (Role::Province, ReporterKind::Locality | ReporterKind::Agency) => {
            principal.province.as_deref() == Some(report.province_code.as_str())
        }
        _ => false,
    }
}

/// A report is read by its reporter and those who review it or its province's.
fn may_read(principal: &Principal, report: &ReportRow) -> bool {
    let own = |claim: &Option<String>| claim.as_deref() == Some(report.reporter_code.as_str());
    match principal.role {
        Role::National | Role::Service => true,
        Role::Province => principal.province.as_deref() == Some(report.province_code.as_str()),
        Role::Unit => report.kind() == ReporterKind::Locality && own(&principal.unit),
        Role::Agency => report.kind() == ReporterKind::Agency && own(&principal.agency),
        Role::Software => false,
    }
}

/// The reporting period of a request, checked: its days and cut-off.
fn reporting_period(
    v: &mut Violations,
    period: Option<&ReportingPeriod>,
) -> Option<(ReportingPeriod, (NaiveDate, NaiveDate, onestop_domain::period::CutOff))> {
    let Some(period) = period else {
        v.add("reporting_period", "is required");
        return None;
    };
    period::resolve(v, None, Some(period)).map(|days| (*period, days))
}

/// A version with its figures and its files (their bytes when `with_content`).
async fn with_files(
    db: &mut sqlx::PgConnection,
    report: &ReportRow,
    version: &VersionRow,
    due: NaiveDate,
    first_submitted_at: chrono::DateTime<Utc>,
    with_content: bool,
) -> ServiceResult<ReportVersion> {
    let mut answer = reports::version_message(report, version, true, due, first_submitted_at)
        .map_err(|e| ServiceError::Internal(e.into()))?;
    for (format, file) in reports::files(&mut *db, report.id, version.version, with_content).await? {
        match format.as_str() {
            "csv" => answer.csv = Some(file),
            _ => answer.xlsx = Some(file),
        }
    }
    Ok(answer)
}

fn file_name(report: &ReportRow, version: i32, extension: &str) -> String {
    format!("bieu-06-{}-{}-{}-v{version}.{extension}", report.reporter_code, report.first_day, report.last_day)
}

/// Where every reporter under a province (or every province, under the nation) stands for a period.
struct Standing {
    /// The province's own report; none for the nation.
    own: Option<ReporterStatus>,
    reporters: Vec<ReporterStatus>,
    /// The latest version of each submitted report, by (kind, code).
    latest: BTreeMap<(i32, String), (ReportRow, VersionRow, chrono::DateTime<Utc>)>,
}

/// Those expected to report: a province's communes (districts before 7/2025) on the period's last day, its
/// departments and itself; or, for the nation, every province then.
async fn expected_reporters(
    db: &mut sqlx::PgConnection,
    province: Option<&str>,
    last_day: NaiveDate,
) -> ServiceResult<Vec<(ReporterKind, String, String)>> {
    let exists_then = "valid_from <= $1 AND (valid_to IS NULL OR $1 < valid_to)";
    let Some(province) = province else {
        let provinces: Vec<(String, String)> = sqlx::query_as(&format!(
            "SELECT code, name FROM unit WHERE parent_code IS NULL AND level = 1 AND {exists_then}"
        ))
        .bind(last_day)
        .fetch_all(&mut *db)
        .await?;
        return Ok(provinces.into_iter().map(|(code, name)| (ReporterKind::Province, code, name)).collect());
    };
    let units: Vec<(String, String)> =
        sqlx::query_as(&format!("SELECT code, name FROM unit WHERE parent_code = $2 AND {exists_then}"))
            .bind(last_day)
            .bind(province)
            .fetch_all(&mut *db)
            .await?;
    let agencies: Vec<(String, String)> =
        sqlx::query_as("SELECT code, name FROM agency WHERE unit_code = $1").bind(province).fetch_all(&mut *db).await?;
    let name: Option<String> =
        sqlx::query_scalar("SELECT name FROM unit WHERE code = $1").bind(province).fetch_optional(&mut *db).await?;
    let mut expected: Vec<(ReporterKind, String, String)> =
        units.into_iter().map(|(code, name)| (ReporterKind::Locality, code, name)).collect();
    expected.extend(agencies.into_iter().map(|(code, name)| (ReporterKind::Agency, code, name)));
    expected.push((ReporterKind::Province, province.to_owned(), name.unwrap_or_default()));
    Ok(expected)
}

async fn standing(
    db: &mut sqlx::PgConnection,
    province: Option<&str>,
    key: PeriodKey,
    last_day: NaiveDate,
    today: NaiveDate,
) -> ServiceResult<Standing> {
    let mut expected = expected_reporters(&mut *db, province, last_day).await?;
    let deadlines = Deadlines::load(&mut *db).await?;
    let latest: BTreeMap<(i32, String), _> = reports::latest_of(&mut *db, province, key)
        .await?
        .into_iter()
        .map(|(report, version, first)| {
            ((i32::from(report.reporter_kind), report.reporter_code.clone()), (report, version, first))
        })
        .collect();
    // A reporter that submitted but is no longer expected (a unit merged since) is listed too.
    for ((kind, code), (report, _, _)) in &latest {
        if !expected.iter().any(|(k, c, _)| *k as i32 == *kind && c == code) {
            expected.push((report.kind(), code.clone(), report.reporter_name.clone()));
        }
    }
    let mut own = None;
    let mut reporters = Vec::new();
    for (kind, code, name) in expected {
        let reviewer_province = province.unwrap_or(&code);
        let due = deadlines.due_day(reviewer_province, key.period_kind(), kind, last_day);
        let mut status = ReporterStatus {
            reporter_kind: kind as i32,
            reporter_code: code.clone(),
            reporter_name: name,
            status: ReportStatus::NotSubmitted as i32,
            due_day: due.to_string(),
            late: today > due,
            ..Default::default()
        };
        if let Some((report, version, first)) = latest.get(&(kind as i32, code.clone())) {
            status.status = i32::from(version.status);
            status.report_id = report.id as u64;
            status.version = version.version as u32;
            status.first_submitted_at = Some(onestop_proto::convert::timestamp_to_wire(*first));
            status.last_submitted_at = Some(onestop_proto::convert::timestamp_to_wire(version.submitted_at));
            status.late = reports::submitted_late(*first, due);
            status.return_reason = version.return_reason.clone();
        }
        if province.is_some() && kind == ReporterKind::Province {
            own = Some(status);
        } else {
            reporters.push(status);
        }
    }
    let submitted = |s: &ReporterStatus| s.status != ReportStatus::NotSubmitted as i32;
    reporters.sort_by(|a, b| {
        (submitted(a), a.reporter_kind, &a.reporter_code).cmp(&(submitted(b), b.reporter_kind, &b.reporter_code))
    });
    Ok(Standing { own, reporters, latest })
}

impl AggregationApi {
    pub(super) async fn submit_report(
        &self,
        call: &Call,
        request: SubmitReportRequest,
    ) -> ServiceResult<SubmitReportResponse> {
        let mut v = Violations::new();
        match (request.unit_code.is_empty(), request.agency_code.is_empty()) {
            (false, true) => {
                v.code("unit_code", &request.unit_code);
            }
            (true, false) => {
                v.code("agency_code", &request.agency_code);
            }
            _ => v.add("unit_code", "give either unit_code or agency_code"),
        }
        let period = reporting_period(&mut v, request.reporting_period.as_ref());
        if !request.note.is_empty() {
            v.multiline_text("note", &request.note, MAX_NOTE_CHARS);
        }
        v.into_result()?;
        let (period, (first_day, last_day, cut_off)) = period.expect("validated");
        let today = (self.clock)();
        if last_day >= today {
            return Err(ServiceError::precondition(
                "reporting_period",
                format!("runs to {last_day}: a period is reported once it has ended"),
            ));
        }
        if !request.min_intake_cursor.is_empty() || request.min_catalogue_cursor > 0 {
            // Read-your-writes: wait until the figures include the changes named, then compute them below.
            let at_least = AtLeast { intake: &request.min_intake_cursor, catalogue: request.min_catalogue_cursor };
            let (snapshot, _) = self.snapshot(call.deadline, at_least).await?;
            snapshot.rollback().await?;
        }

        // The feeds wait while the figures are computed and stored: they are those at one cursor of each
        // stream, and every change applied afterwards finds the report's coverage and is kept as a correction.
        let mut tx = self.pool.begin().await?;
        feeds::hold_back(&mut tx).await?;
        let reporter = reporter(&mut tx, &request.unit_code, &request.agency_code).await?;
        if !may_submit(&call.principal, reporter.kind, &reporter.code) {
            let field = if reporter.only_agency.is_some() { "agency_code" } else { "unit_code" };
            return Err(ServiceError::PermissionDenied(format!(
                "{field}: {} may not submit the report of {}",
                call.principal.subject, reporter.code
            )));
        }
        let applied = feeds::applied_cursors(&mut *tx).await?;
        let scope = self.scopes.resolve(&mut tx, &reporter.target, applied.catalogue).await?;
        let key = PeriodKey::of(&period);
        let new = ReportRow {
            id: 0,
            reporter_kind: reporter.kind as i16,
            reporter_code: reporter.code.clone(),
            reporter_name: reporter.name.clone(),
            province_code: reporter.province.clone(),
            period_kind: key.kind,
            year: key.year,
            number: key.number,
            cut_off: key.cut_off,
            month_starts_on: key.month_starts_on,
            first_day,
            last_day,
        };
        let report = reports::report_for_update(&mut tx, &new).await?;
        let versions = reports::versions(&mut tx, report.id).await?;
        if let Some(latest) = versions.last() {
            let why = match latest.status() {
                ReportStatus::Submitted => Some("is awaiting review"),
                ReportStatus::Approved => Some("was approved"),
                _ => None,
            };
            if let Some(why) = why {
                return Err(ServiceError::precondition(
                    "reporting_period",
                    format!(
                        "report {} version {} {why}: only a returned report is submitted again",
                        report.id, latest.version
                    ),
                ));
            }
        }
        let version = versions.len() as i32 + 1;

        let freshness = Freshness {
            intake_cursor: applied.intake.clone(),
            catalogue_cursor: applied.catalogue,
            intake_applied_at: applied.intake_applied_at.map(onestop_proto::convert::timestamp_to_wire),
            catalogue_applied_at: applied.catalogue_applied_at.map(onestop_proto::convert::timestamp_to_wire),
        };
        let only_agency = reporter.only_agency.as_deref();
        let mut form06 = self.form06_in(&mut tx, &scope, only_agency, (first_day, last_day), 0).await?;
        form06.freshness = Some(freshness.clone());
        let question = Question {
            target: &reporter.target,
            only_agency: reporter.only_agency.clone(),
            days: (first_day, last_day, cut_off),
            breakdown: Breakdown::Unspecified,
            indicator_ids: &[],
        };
        let mut indicators = self.indicators_in(&mut tx, &scope, question).await?;
        indicators.freshness = Some(freshness.clone());
        let units = match reporter.kind {
            ReporterKind::Province => {
                standing(&mut tx, Some(&reporter.province), key, last_day, today).await?.reporters
            }
            _ => Vec::new(),
        };
        let files = vec![
            StoredFile {
                format: "csv",
                file_name: file_name(&report, version, "csv"),
                content_type: "text/csv; charset=utf-8",
                content: export::form06_csv(&form06),
            },
            StoredFile {
                format: "xlsx",
                file_name: file_name(&report, version, "xlsx"),
                content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                content: export::form06_xlsx(&form06).map_err(|e| ServiceError::Internal(e.into()))?,
            },
        ];
        let figures = ReportVersion {
            freshness: Some(freshness),
            form06: Some(form06),
            indicators: Some(indicators),
            late_cases_as_of_day: today.to_string(),
            completeness_through_day: last_day.to_string(),
            units,
            ..Default::default()
        };
        let row = VersionRow {
            report_id: report.id,
            version,
            status: ReportStatus::Submitted as i16,
            submitted_by: call.principal.subject.clone(),
            submitted_at: Utc::now(),
            reviewed_by: String::new(),
            reviewed_at: None,
            return_reason: String::new(),
            note: request.note,
            intake_position: feeds::position(&applied.intake).unwrap_or_default(),
            figures: figures.encode_to_vec(),
        };
        reports::insert_version(&mut tx, &row, &files).await?;
        reports::cover(&mut tx, &report, &scope.center_codes()).await?;
        let answer = self.version_answer(&mut tx, &report, &row, versions.first().unwrap_or(&row), false).await?;
        tx.commit().await?;
        Ok(SubmitReportResponse { report: Some(answer) })
    }

    /// A version with its figures, files (their bytes when `with_content`), due day and lateness.
    async fn version_answer(
        &self,
        db: &mut sqlx::PgConnection,
        report: &ReportRow,
        version: &VersionRow,
        first: &VersionRow,
        with_content: bool,
    ) -> ServiceResult<ReportVersion> {
        let due = Deadlines::load(&mut *db).await?.due_day_of(report);
        with_files(db, report, version, due, first.submitted_at, with_content).await
    }

    pub(super) async fn review_report(
        &self,
        call: &Call,
        request: ReviewReportRequest,
    ) -> ServiceResult<ReviewReportResponse> {
        let mut v = Violations::new();
        if request.report_id == 0 || request.report_id > i64::MAX as u64 {
            v.add("report_id", "is required");
        }
        if request.version == 0 || request.version > i32::MAX as u32 {
            v.add("version", "is required");
        }
        let decision = v.known::<ReviewDecision>("decision", request.decision);
        match decision {
            Some(ReviewDecision::Unspecified) => v.add("decision", "must be APPROVE or RETURN"),
            Some(ReviewDecision::Return) => {
                v.multiline_text("reason", &request.reason, MAX_REASON_CHARS);
            }
            _ if !request.reason.is_empty() => {
                v.multiline_text("reason", &request.reason, MAX_REASON_CHARS);
            }
            _ => {}
        }
        v.into_result()?;
        let decision = decision.expect("validated");
        let mut tx = self.pool.begin().await?;
        let report = reports::report(&mut tx, request.report_id as i64, true)
            .await?
            .ok_or_else(|| ServiceError::not_found("report_id", format!("report {}", request.report_id)))?;
        if !may_review(&call.principal, &report) {
            return Err(ServiceError::PermissionDenied(format!(
                "report_id: {} may not review the report of {}",
                call.principal.subject, report.reporter_code
            )));
        }
        let versions = reports::versions(&mut tx, report.id).await?;
        let latest = versions.last().expect("a report is stored with its first version");
        if latest.version as u32 != request.version {
            return Err(ServiceError::precondition(
                "version",
                format!("version {} is the latest of report {}", latest.version, report.id),
            ));
        }
        if latest.status() != ReportStatus::Submitted {
            return Err(ServiceError::precondition(
                "version",
                format!("version {} is {}, not awaiting review", latest.version, latest.status().as_str_name()),
            ));
        }
        let status = match decision {
            ReviewDecision::Return => ReportStatus::Returned,
            _ => ReportStatus::Approved,
        };
        let reviewed: VersionRow = sqlx::query_as(
            "UPDATE report_version SET status = $3, reviewed_by = $4, reviewed_at = now(), return_reason = $5
             WHERE report_id = $1 AND version = $2
             RETURNING report_id, version, status, submitted_by, submitted_at, reviewed_by, reviewed_at,
                       return_reason, note, intake_position, figures",
        )
        .bind(report.id)
        .bind(latest.version)
        .bind(status as i16)
        .bind(&call.principal.subject)
        .bind(&request.reason)
        .fetch_one(&mut *tx)
        .await?;
        let answer = self.version_answer(&mut tx, &report, &reviewed, &versions[0], false).await?;
        tx.commit().await?;
        Ok(ReviewReportResponse { report: Some(answer) })
    }

    /// The report `report_id` and its versions, from a read-only snapshot, for a principal that may read it.
    async fn readable_report(
        &self,
        db: &mut sqlx::PgConnection,
        principal: &Principal,
        report_id: u64,
    ) -> ServiceResult<(ReportRow, Vec<VersionRow>)> {
        if report_id == 0 || report_id > i64::MAX as u64 {
            return Err(ServiceError::invalid("report_id", "is required"));
        }
        let report = reports::report(&mut *db, report_id as i64, false)
            .await?
            .ok_or_else(|| ServiceError::not_found("report_id", format!("report {report_id}")))?;
        if !may_read(principal, &report) {
            return Err(ServiceError::PermissionDenied(format!(
                "report_id: {} may not read the report of {}",
                principal.subject, report.reporter_code
            )));
        }
        let versions = reports::versions(&mut *db, report.id).await?;
        Ok((report, versions))
    }

    fn chosen(versions: &[VersionRow], version: u32) -> ServiceResult<&VersionRow> {
        match version {
            0 => versions.last(),
            n => versions.iter().find(|v| v.version as u32 == n),
        }
        .ok_or_else(|| ServiceError::not_found("version", format!("version {version}")))
    }

    pub(super) async fn get_report(&self, call: &Call, request: GetReportRequest) -> ServiceResult<GetReportResponse> {
        let mut snapshot = self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
        let (report, versions) = self.readable_report(&mut snapshot, &call.principal, request.report_id).await?;
        let version = Self::chosen(&versions, request.version)?;
        let due = Deadlines::load(&mut snapshot).await?.due_day_of(&report);
        let first_submitted_at = versions[0].submitted_at;
        let answer =
            with_files(&mut snapshot, &report, version, due, first_submitted_at, request.include_file_contents).await?;
        let history = versions
            .iter()
            .map(|v| reports::version_message(&report, v, false, due, first_submitted_at))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ServiceError::Internal(e.into()))?;
        snapshot.commit().await?;
        Ok(GetReportResponse { report: Some(answer), history })
    }

    pub(super) async fn compare_report(
        &self,
        call: &Call,
        request: CompareReportRequest,
    ) -> ServiceResult<CompareReportResponse> {
        if request.max_corrections > MAX_CORRECTIONS {
            return Err(ServiceError::invalid("max_corrections", format!("at most {MAX_CORRECTIONS}")));
        }
        let limit = if request.max_corrections == 0 { DEFAULT_CORRECTIONS } else { request.max_corrections };
        // The report first, then the current figures in a snapshot of their own (never two connections at once).
        let mut db = self.pool.acquire().await?;
        let (report, versions) = self.readable_report(&mut db, &call.principal, request.report_id).await?;
        let version = Self::chosen(&versions, request.version)?.clone();
        let submitted = self.version_answer(&mut db, &report, &version, &versions[0], false).await?;
        drop(db);
        let (target, only_agency) = match report.kind() {
            ReporterKind::Agency => (
                Target::Unit(super::agency_unit(&self.pool, &report.reporter_code).await?),
                Some(report.reporter_code.clone()),
            ),
            _ => (Target::Unit(report.reporter_code.clone()), None),
        };
        // Now is at least the report's own cursor (a streaming replica may be behind the primary it was stored on).
        let frozen = submitted.freshness.clone().unwrap_or_default();
        let at_least = AtLeast { intake: &frozen.intake_cursor, catalogue: frozen.catalogue_cursor };
        let (mut snapshot, current, scope) =
            self.scoped_snapshot_for(call, &target, only_agency.as_deref(), at_least).await?;
        let days = (report.first_day, report.last_day);
        let form06 = self.form06_in(&mut snapshot, &scope, only_agency.as_deref(), days, 0).await?;
        let cut_off = period::resolve(&mut Violations::new(), None, Some(&report.key().wire()))
            .map(|(_, _, cut_off)| cut_off)
            .unwrap_or(onestop_domain::period::CutOff::Calendar);
        let question = Question {
            target: &target,
            only_agency: only_agency.clone(),
            days: (report.first_day, report.last_day, cut_off),
            breakdown: Breakdown::Unspecified,
            indicator_ids: &[],
        };
        let indicators = self.indicators_in(&mut snapshot, &scope, question).await?;
        let covered = corrections::Covered {
            centers: &scope.center_codes(),
            days,
            after: &version.intake_position,
            only_agency: only_agency.as_deref(),
        };
        let (corrections, corrections_total) = corrections::list(&mut snapshot, &covered, limit).await?;
        snapshot.commit().await?;
        let frozen_form = submitted.form06.clone().unwrap_or_default();
        let frozen_indicators = submitted.indicators.as_ref().map(|i| i.indicators.as_slice()).unwrap_or_default();
        Ok(CompareReportResponse {
            form06: compare::form06(&frozen_form, &form06),
            indicators: compare::indicators(frozen_indicators, &indicators.indicators),
            report: Some(submitted),
            current: Some(current),
            corrections,
            corrections_total,
        })
    }

    /// Checks a list or export request and who asks: a province's office its own, the nation any.
    fn list_question(
        call: &Call,
        unit_code: &str,
        period: Option<&ReportingPeriod>,
    ) -> ServiceResult<(Option<String>, PeriodKey, (NaiveDate, NaiveDate))> {
        let mut v = Violations::new();
        v.code("unit_code", unit_code);
        let period = reporting_period(&mut v, period);
        v.into_result()?;
        let (period, (first_day, last_day, _)) = period.expect("validated");
        let province = (unit_code != NATION).then(|| unit_code.to_owned());
        let allowed = match (call.principal.role, &province) {
            (Role::National | Role::Service, _) => true,
            (Role::Province, Some(province)) => call.principal.province.as_ref() == Some(province),
            _ => false,
        };
        if !allowed {
            return Err(ServiceError::PermissionDenied(format!(
                "unit_code: {} may not list the reports to {unit_code}",
                call.principal.subject
            )));
        }
        Ok((province, PeriodKey::of(&period), (first_day, last_day)))
    }

    async fn checked_province(db: &mut sqlx::PgConnection, province: Option<&str>) -> ServiceResult<()> {
        let Some(province) = province else { return Ok(()) };
        let level: Option<i16> = sqlx::query_scalar("SELECT level FROM unit WHERE code = $1")
            .bind(province)
            .fetch_optional(&mut *db)
            .await?;
        match level {
            None => Err(ServiceError::not_found("unit_code", format!("unit {province}"))),
            Some(1) => Ok(()),
            Some(_) => Err(ServiceError::invalid("unit_code", "must be a province or VN")),
        }
    }

    pub(super) async fn list_reports(
        &self,
        call: &Call,
        request: ListReportsRequest,
    ) -> ServiceResult<ListReportsResponse> {
        let (province, key, (first_day, last_day)) =
            Self::list_question(call, &request.unit_code, request.reporting_period.as_ref())?;
        let mut snapshot = self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
        Self::checked_province(&mut snapshot, province.as_deref()).await?;
        let today = (self.clock)();
        let standing = standing(&mut snapshot, province.as_deref(), key, last_day, today).await?;
        let mut reports = Vec::new();
        if request.include_figures {
            let deadlines = Deadlines::load(&mut snapshot).await?;
            for (report, version, first) in standing.latest.values() {
                let due = deadlines.due_day_of(report);
                reports.push(with_files(&mut snapshot, report, version, due, *first, false).await?);
            }
        }
        snapshot.commit().await?;
        Ok(ListReportsResponse {
            own: standing.own,
            reporters: standing.reporters,
            reports,
            days: Some(DayRange { from_day: first_day.to_string(), to_day: last_day.to_string() }),
        })
    }

    pub(super) async fn export_reports(
        &self,
        call: &Call,
        request: ExportReportsRequest,
    ) -> ServiceResult<ResponseStream<ExportReportsResponse>> {
        let (province, key, (_, last_day)) =
            Self::list_question(call, &request.unit_code, request.reporting_period.as_ref())?;
        let mut snapshot = self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
        Self::checked_province(&mut snapshot, province.as_deref()).await?;
        let standing = standing(&mut snapshot, province.as_deref(), key, last_day, (self.clock)()).await?;
        let mut entries = Vec::new();
        for status in standing.own.into_iter().chain(standing.reporters) {
            let files = match status.version {
                0 => Vec::new(),
                version => reports::files(&mut snapshot, status.report_id as i64, version as i32, true)
                    .await?
                    .into_iter()
                    .map(|(_, file)| file)
                    .collect(),
            };
            entries.push(bundle::Entry { status, files });
        }
        snapshot.commit().await?;
        let bytes = bundle::zip(&entries).map_err(|e| ServiceError::Internal(e.into()))?;
        let period = key.wire();
        let file_name = format!("bao-cao-{}-{}-{}-{}.zip", request.unit_code, period.year, period.kind, period.number);
        let chunks: Vec<Result<ExportReportsResponse, tonic::Status>> = bytes
            .chunks(export::CHUNK_BYTES)
            .enumerate()
            .map(|(i, chunk)| {
                Ok(ExportReportsResponse {
                    file_name: if i == 0 { file_name.clone() } else { String::new() },
                    content_type: if i == 0 { "application/zip".to_owned() } else { String::new() },
                    chunk: chunk.to_vec(),
                })
            })
            .collect();
        Ok(Box::pin(tokio_stream::iter(chunks)))
    }

    pub(super) async fn set_report_deadlines(
        &self,
        call: &Call,
        request: SetReportDeadlinesRequest,
    ) -> ServiceResult<SetReportDeadlinesResponse> {
        let mut v = Violations::new();
        if !request.province_code.is_empty() {
            v.code("province_code", &request.province_code);
        }
        if request.deadlines.is_empty() {
            v.add("deadlines", "give at least one");
        }
        if v.at_most("deadlines", request.deadlines.len(), MAX_DEADLINES) {
            for (i, d) in request.deadlines.iter().enumerate() {
                let field = format!("deadlines[{i}].period_kind");
                if let Some(PeriodKind::Unspecified) = v.known::<PeriodKind>(&field, d.period_kind) {
                    v.add(field, "is required");
                }
                match v.known::<ReporterKind>(&format!("deadlines[{i}].reporter_kind"), d.reporter_kind) {
                    Some(ReporterKind::Unspecified) => v.add(format!("deadlines[{i}].reporter_kind"), "is required"),
                    Some(ReporterKind::Province) if call.principal.role != Role::National => v.add(
                        format!("deadlines[{i}].reporter_kind"),
                        "the nation sets when provinces' reports are due",
                    ),
                    _ => {}
                }
                if d.days_after_period_end > deadlines::MAX_DAYS_AFTER_END {
                    v.add(
                        format!("deadlines[{i}].days_after_period_end"),
                        format!("at most {}", deadlines::MAX_DAYS_AFTER_END),
                    );
                }
            }
        }
        v.into_result()?;
        let allowed = match call.principal.role {
            Role::National => true,
            Role::Province => {
                !request.province_code.is_empty() && call.principal.province.as_ref() == Some(&request.province_code)
            }
            _ => false,
        };
        if !allowed {
            return Err(ServiceError::PermissionDenied(format!(
                "province_code: {} may not set these deadlines",
                call.principal.subject
            )));
        }
        let mut tx = self.pool.begin().await?;
        Self::checked_province(&mut tx, (!request.province_code.is_empty()).then_some(&*request.province_code))
            .await
            .map_err(|e| match e {
            ServiceError::NotFound { what, .. } => ServiceError::not_found("province_code", what),
            ServiceError::InvalidArgument(_) => ServiceError::invalid("province_code", "must be a province"),
            other => other,
        })?;
        deadlines::set(&mut tx, &request.province_code, &request.deadlines).await?;
        let in_force = Deadlines::load(&mut tx).await?.in_force(&request.province_code);
        tx.commit().await?;
        Ok(SetReportDeadlinesResponse { deadlines: in_force })
    }
}
