//! Periodic reports: what a commune, a department or a province submitted for a reporting period, kept exactly
//! as submitted, version after version, with their review.
//!
//! A report is one reporter's for one period (`report`); each submission is a new version (`report_version`)
//! holding its figures as a protobuf [`ReportVersion`] and its files byte for byte (`report_file`). The API that
//! computes, checks rights and reviews is in [`crate::api::reports`].

pub mod bundle;
pub mod compare;
pub mod corrections;
pub mod deadlines;

use chrono::{DateTime, NaiveDate, Utc};
use onestop_domain::today_in_vietnam;
use onestop_proto::aggregation::v1::*;
use onestop_proto::convert::timestamp_to_wire;
use prost::Message;
use sha2::{Digest, Sha256};

/// A reporting period in the one form reports are keyed by: the number only for the kinds that have one, the
/// day months start on only under a custom cut-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodKey {
    pub kind: i16,
    pub year: i32,
    pub number: i32,
    pub cut_off: i16,
    pub month_starts_on: i32,
}

impl PeriodKey {
    /// The key of a period already checked valid.
    pub fn of(period: &ReportingPeriod) -> PeriodKey {
        let numbered = matches!(
            PeriodKind::try_from(period.kind),
            Ok(PeriodKind::Month | PeriodKind::Quarter | PeriodKind::SixMonths)
        );
        let custom = period.cut_off == CutOffRule::Custom as i32;
        PeriodKey {
            kind: period.kind as i16,
            year: period.year,
            number: if numbered { period.number as i32 } else { 0 },
            cut_off: period.cut_off as i16,
            month_starts_on: if custom { period.month_starts_on as i32 } else { 0 },
        }
    }

    pub fn wire(&self) -> ReportingPeriod {
        ReportingPeriod {
            kind: i32::from(self.kind),
            year: self.year,
            number: self.number as u32,
            cut_off: i32::from(self.cut_off),
            month_starts_on: self.month_starts_on as u32,
        }
    }

    pub fn period_kind(&self) -> PeriodKind {
        PeriodKind::try_from(i32::from(self.kind)).unwrap_or_default()
    }
}

/// A report: whose, for which period, reviewed by which province (its own code for a province's report, which
/// the nation reviews).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReportRow {
    pub id: i64,
    pub reporter_kind: i16,
    pub reporter_code: String,
    pub reporter_name: String,
    pub province_code: String,
    pub period_kind: i16,
    pub year: i32,
    pub number: i32,
    pub cut_off: i16,
    pub month_starts_on: i32,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
}

const REPORT_COLUMNS: &str = "id, reporter_kind, reporter_code, reporter_name, province_code, period_kind, year, \
                              number, cut_off, month_starts_on, first_day, last_day";

impl ReportRow {
    pub fn kind(&self) -> ReporterKind {
        ReporterKind::try_from(i32::from(self.reporter_kind)).unwrap_or_default()
    }

    pub fn key(&self) -> PeriodKey {
        PeriodKey {
            kind: self.period_kind,
            year: self.year,
            number: self.number,
            cut_off: self.cut_off,
            month_starts_on: self.month_starts_on,
        }
    }
}

/// One version's review and frozen figures.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    pub report_id: i64,
    pub version: i32,
    pub status: i16,
    pub submitted_by: String,
    pub submitted_at: DateTime<Utc>,
    pub reviewed_by: String,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub return_reason: String,
    pub note: String,
    pub intake_position: Vec<i64>,
    pub figures: Vec<u8>,
}

const VERSION_COLUMNS: &str = "report_id, version, status, submitted_by, submitted_at, reviewed_by, reviewed_at, \
                               return_reason, note, intake_position, figures";

impl VersionRow {
    pub fn status(&self) -> ReportStatus {
        ReportStatus::try_from(i32::from(self.status)).unwrap_or_default()
    }
}

/// The report of `reporter_kind`/`reporter_code` for `key`, created if it has none yet, locked until the end of
/// `tx` so that two submissions of one report take turns.
pub async fn report_for_update(tx: &mut sqlx::PgConnection, new: &ReportRow) -> Result<ReportRow, sqlx::Error> {
    sqlx::query(
        "INSERT INTO report (reporter_kind, reporter_code, reporter_name, province_code, period_kind, year, number,
                             cut_off, month_starts_on, first_day, last_day)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (reporter_kind, reporter_code, period_kind, year, number, cut_off, month_starts_on) DO NOTHING",
    )
    .bind(new.reporter_kind)
    .bind(&new.reporter_code)
    .bind(&new.reporter_name)
    .bind(&new.province_code)
    .bind(new.period_kind)
    .bind(new.year)
    .bind(new.number)
    .bind(new.cut_off)
    .bind(new.month_starts_on)
    .bind(new.first_day)
    .bind(new.last_day)
    .execute(&mut *tx)
    .await?;
    sqlx::query_as(&format!(
        "SELECT {REPORT_COLUMNS} FROM report
         WHERE reporter_kind = $1 AND reporter_code = $2 AND period_kind = $3 AND year = $4 AND number = $5
           AND cut_off = $6 AND month_starts_on = $7
         FOR UPDATE"
    ))
    .bind(new.reporter_kind)
    .bind(&new.reporter_code)
    .bind(new.period_kind)
    .bind(new.year)
    .bind(new.number)
    .bind(new.cut_off)
    .bind(new.month_starts_on)
    .fetch_one(&mut *tx)
    .await
}

/// Report `id`, locked until the end of the transaction when `for_update` (a review).
pub async fn report(db: &mut sqlx::PgConnection, id: i64, for_update: bool) -> Result<Option<ReportRow>, sqlx::Error> {
    let lock = if for_update { "FOR UPDATE" } else { "" };
    sqlx::query_as(&format!("SELECT {REPORT_COLUMNS} FROM report WHERE id = $1 {lock}"))
        .bind(id)
        .fetch_optional(&mut *db)
        .await
}

/// Every version of a report, oldest first.
pub async fn versions(db: &mut sqlx::PgConnection, report_id: i64) -> Result<Vec<VersionRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {VERSION_COLUMNS} FROM report_version WHERE report_id = $1 ORDER BY version"))
        .bind(report_id)
        .fetch_all(&mut *db)
        .await
}

/// A file as stored: its name, type, bytes and their SHA-256.
pub struct StoredFile {
    pub format: &'static str,
    pub file_name: String,
    pub content_type: &'static str,
    pub content: Vec<u8>,
}

impl StoredFile {
    pub fn sha256(&self) -> String {
        Sha256::digest(&self.content).iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Stores a new version with its figures and files.
pub async fn insert_version(
    tx: &mut sqlx::PgConnection,
    version: &VersionRow,
    files: &[StoredFile],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO report_version (report_id, version, status, submitted_by, submitted_at, note, intake_position,
                                     figures)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(version.report_id)
    .bind(version.version)
    .bind(version.status)
    .bind(&version.submitted_by)
    .bind(version.submitted_at)
    .bind(&version.note)
    .bind(&version.intake_position)
    .bind(&version.figures)
    .execute(&mut *tx)
    .await?;
    for file in files {
        sqlx::query(
            "INSERT INTO report_file (report_id, version, format, file_name, content_type, content, sha256)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(version.report_id)
        .bind(version.version)
        .bind(file.format)
        .bind(&file.file_name)
        .bind(file.content_type)
        .bind(&file.content)
        .bind(file.sha256())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Records that a report covers `centers` over its days, so that the intake feed keeps later changes to them.
pub async fn cover(tx: &mut sqlx::PgConnection, report: &ReportRow, centers: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO report_coverage (center_code, report_id, first_day, last_day)
         SELECT center, $2, $3, $4 FROM UNNEST($1::text[]) AS center
         ON CONFLICT DO NOTHING",
    )
    .bind(centers)
    .bind(report.id)
    .bind(report.first_day)
    .bind(report.last_day)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The files of a version, with their bytes when `with_content`.
pub async fn files(
    db: &mut sqlx::PgConnection,
    report_id: i64,
    version: i32,
    with_content: bool,
) -> Result<Vec<(String, ReportFile)>, sqlx::Error> {
    let rows: Vec<(String, String, String, Vec<u8>, String, i64)> = sqlx::query_as(
        "SELECT format, file_name, content_type, CASE WHEN $3 THEN content ELSE ''::bytea END, sha256,
                octet_length(content)::bigint
         FROM report_file WHERE report_id = $1 AND version = $2",
    )
    .bind(report_id)
    .bind(version)
    .bind(with_content)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(format, file_name, content_type, content, sha256, size)| {
            (format, ReportFile { file_name, content_type, content, sha256, size: size.max(0) as u64 })
        })
        .collect())
}

/// Whether a version was first submitted after its due day (in Vietnam's calendar).
pub fn submitted_late(first_submitted_at: DateTime<Utc>, due_day: NaiveDate) -> bool {
    today_in_vietnam(first_submitted_at) > due_day
}

/// A version as the API answers it: its review from the row, its figures as frozen (without them when
/// `with_figures` is false, as history lists them), its due day and lateness.
pub fn version_message(
    report: &ReportRow,
    version: &VersionRow,
    with_figures: bool,
    due_day: NaiveDate,
    first_submitted_at: DateTime<Utc>,
) -> Result<ReportVersion, prost::DecodeError> {
    let frozen = if with_figures { ReportVersion::decode(version.figures.as_slice())? } else { Default::default() };
    Ok(ReportVersion {
        report_id: report.id as u64,
        version: version.version as u32,
        reporter_kind: i32::from(report.reporter_kind),
        reporter_code: report.reporter_code.clone(),
        reporter_name: report.reporter_name.clone(),
        reporting_period: Some(report.key().wire()),
        days: Some(DayRange { from_day: report.first_day.to_string(), to_day: report.last_day.to_string() }),
        status: i32::from(version.status),
        submitted_by: version.submitted_by.clone(),
        submitted_at: Some(timestamp_to_wire(version.submitted_at)),
        reviewed_by: version.reviewed_by.clone(),
        reviewed_at: version.reviewed_at.map(timestamp_to_wire),
        return_reason: version.return_reason.clone(),
        note: version.note.clone(),
        due_day: due_day.to_string(),
        late: submitted_late(first_submitted_at, due_day),
        ..frozen
    })
}

/// Each report to `province` (its communes', departments' and its own), or with no province every province's own
/// report, for a period: the report, its latest version and when its first version was submitted.
pub async fn latest_of(
    db: &mut sqlx::PgConnection,
    province: Option<&str>,
    key: PeriodKey,
) -> Result<Vec<(ReportRow, VersionRow, DateTime<Utc>)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        report: ReportRow,
        #[sqlx(flatten)]
        version: VersionRow,
        first_submitted_at: DateTime<Utc>,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT r.id, r.reporter_kind, r.reporter_code, r.reporter_name, r.province_code, r.period_kind, r.year,
                r.number, r.cut_off, r.month_starts_on, r.first_day, r.last_day,
                l.report_id, l.version, l.status, l.submitted_by, l.submitted_at, l.reviewed_by, l.reviewed_at,
                l.return_reason, l.note, l.intake_position, l.figures, f.submitted_at AS first_submitted_at
         FROM report r
         JOIN LATERAL (SELECT {VERSION_COLUMNS} FROM report_version v WHERE v.report_id = r.id
                       ORDER BY v.version DESC LIMIT 1) l ON true
         JOIN report_version f ON f.report_id = r.id AND f.version = 1
         WHERE ($1::text IS NULL AND r.reporter_kind = $7 OR r.province_code = $1)
           AND r.period_kind = $2 AND r.year = $3 AND r.number = $4 AND r.cut_off = $5 AND r.month_starts_on = $6
         ORDER BY r.reporter_kind, r.reporter_code"
    ))
    .bind(province)
    .bind(key.kind)
    .bind(key.year)
    .bind(key.number)
    .bind(key.cut_off)
    .bind(key.month_starts_on)
    .bind(ReporterKind::Province as i16)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.report, r.version, r.first_submitted_at)).collect())
}
