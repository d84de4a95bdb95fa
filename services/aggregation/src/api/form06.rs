//! GetForm06 and ExportForm06: the official periodic report, rows by sector grouped by the level of the
//! receiving center's unit, each row checked against the form's identities, printed by the version of the form's
//! definition in force for the period (or the one asked for), which the answer names.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use onestop_domain::form06::Form06Counts;
use onestop_domain::measures::add;
use onestop_domain::{Needs, PeriodTotals, Violations};
use onestop_proto::aggregation::v1::*;
use onestop_server::{ServiceError, ServiceResult};

use chrono::NaiveDate;

use super::{named, period, AggregationApi, AtLeast, Call, ResponseStream};
use crate::scope::{level_name, Scope, Target};
use crate::totals::{Computation, Group, Split};
use crate::{export, forms, sectors};

/// How the form labels each level's rows.
fn level_label(level: i16) -> &'static str {
    match level {
        1 => "Cấp tỉnh",
        2 => "Cấp huyện",
        _ => "Cấp xã",
    }
}

fn row(number: u32, label: &str, sector_code: &str, counts: &Form06Counts) -> Form06Row {
    Form06Row {
        number,
        label: label.to_owned(),
        sector_code: sector_code.to_owned(),
        columns: counts.columns().to_vec(),
        withdrawn_or_returned: counts.withdrawn_or_returned,
        broken_identities: counts.broken_identities(),
    }
}

impl AggregationApi {
    pub(super) async fn form06(&self, call: &Call, request: GetForm06Request) -> ServiceResult<GetForm06Response> {
        let mut v = Violations::new();
        let named = named(&mut v, &request.unit_code, &request.center_code, &request.agency_code);
        let period = period::resolve(&mut v, request.period.as_ref(), request.reporting_period.as_ref());
        v.into_result()?;
        let (target, only_agency) = named.expect("validated").resolve(&self.pool).await?;
        let (first_day, last_day, _) = period.expect("validated");
        let (mut snapshot, freshness, scope) = self
            .scoped_snapshot_for(
                call,
                &target,
                only_agency.as_deref(),
                AtLeast { intake: &request.min_intake_cursor, catalogue: request.min_catalogue_cursor },
            )
            .await?;
        let report = self
            .form06_in(&mut snapshot, &scope, only_agency.as_deref(), (first_day, last_day), request.form_version)
            .await?;
        snapshot.commit().await?;
        Ok(GetForm06Response { freshness: Some(freshness), ..report })
    }

    /// Form 06 of `scope` (only what `only_agency` implements, when given) over `days`, read in `snapshot`; the
    /// answer's freshness is left to the caller.
    pub(super) async fn form06_in(
        &self,
        snapshot: &mut sqlx::PgConnection,
        scope: &Scope,
        only_agency: Option<&str>,
        (first_day, last_day): (NaiveDate, NaiveDate),
        form_version: u32,
    ) -> ServiceResult<GetForm06Response> {
        let level_of = scope.center_levels();
        let names: HashMap<String, String> =
            sqlx::query_as("SELECT code, name FROM sector").fetch_all(&mut *snapshot).await?.into_iter().collect();
        // Whole half-months (calendar months, the months of Decree 09/2019) read the roll-ups by sector; any
        // other days, or an agency's share, every cell.
        let (rows, total) = if only_agency.is_none() && sectors::whole_half_months(first_day, last_day) {
            let by_center = sectors::form06_rows(&mut *snapshot, &scope.center_codes(), first_day, last_day).await?;
            let mut rows: BTreeMap<(i16, String), PeriodTotals> = BTreeMap::new();
            let mut total = Form06Counts::default();
            for ((center, sector), totals) in by_center {
                let row = rows.entry((level_of[&center], sector)).or_default();
                row.measures.add(&totals.measures)?;
                row.carried_over = add(row.carried_over, totals.carried_over)?;
                total.add(&Form06Counts::from_totals(&totals)?)?;
            }
            (rows.into_iter().collect::<Vec<_>>(), total)
        } else {
            self.form06_from_cells(&mut *snapshot, scope, only_agency, level_of, first_day, last_day).await?
        };
        let form = forms::for_report(&mut *snapshot, forms::FORM_06, last_day, form_version).await?;

        // Sections in level order, each with its rows and their sum.
        let mut sections: Vec<(i16, Vec<Form06Row>, Form06Counts)> = Vec::new();
        for ((level, sector), totals) in &rows {
            if sections.last().is_none_or(|(l, _, _)| l != level) {
                sections.push((*level, vec![], Form06Counts::default()));
            }
            let (_, rows, sum) = sections.last_mut().expect("just pushed");
            let label = match names.get(sector) {
                Some(name) => name.clone(),
                None if sector.is_empty() => "Chưa xác định lĩnh vực".to_owned(),
                None => sector.clone(),
            };
            let counts = Form06Counts::from_totals(totals)?;
            sum.add(&counts)?;
            rows.push(row(rows.len() as u32 + 1, &label, sector, &counts));
        }
        let sections = sections
            .into_iter()
            .map(|(level, rows, sum)| Form06Section {
                level: level_name(level).to_owned(),
                subtotal: Some(row(0, level_label(level), "", &sum)),
                rows,
            })
            .collect();
        let (reporting_unit_code, reporting_unit_name) = match (&scope.target, only_agency) {
            (_, Some(agency)) => {
                let name: Option<String> = sqlx::query_scalar("SELECT name FROM agency WHERE code = $1")
                    .bind(agency)
                    .fetch_optional(&mut *snapshot)
                    .await?;
                (agency.to_owned(), name.unwrap_or_default())
            }
            (Target::Unit(code), None) => (code.clone(), scope.unit.name.clone()),
            (Target::Center(code), None) => (code.clone(), scope.centers[0].name.clone()),
        };
        Ok(GetForm06Response {
            reporting_unit_code,
            reporting_unit_name,
            days: Some(DayRange { from_day: first_day.to_string(), to_day: last_day.to_string() }),
            headings: form.columns.iter().map(|c| c.headings.join(" - ")).collect(),
            sections,
            total: Some(row(0, "Tổng cộng", "", &total)),
            freshness: None,
            form: Some(form),
        })
    }

    /// Form 06's rows computed from every cell of the period and every (center, procedure)'s stock: for periods
    /// that are not whole half-months. Returns the rows in (level, sector) order and the total.
    async fn form06_from_cells(
        &self,
        snapshot: &mut sqlx::PgConnection,
        scope: &Scope,
        only_agency: Option<&str>,
        level_of: HashMap<String, i16>,
        first_day: chrono::NaiveDate,
        last_day: chrono::NaiveDate,
    ) -> ServiceResult<(Vec<((i16, String), PeriodTotals)>, Form06Counts)> {
        // The (level, sector) rows that have cells (of the agency's procedures), in level then sector order.
        let present: Vec<(String, String)> = sqlx::query_as(&format!(
            "WITH {present}
             SELECT DISTINCT c.center_code, coalesce(v.sector_code, '') FROM present c
             LEFT JOIN procedure_version v ON v.code = c.procedure_code AND v.valid_from <= c.day
                                          AND (v.valid_to IS NULL OR c.day < v.valid_to)
             WHERE $4::text IS NULL OR v.implementing_agency_code = $4",
            present = *crate::totals::PRESENT
        ))
        .bind(scope.center_codes())
        .bind(first_day)
        .bind(last_day)
        .bind(only_agency)
        .fetch_all(&mut *snapshot)
        .await?;
        let keys: BTreeSet<(i16, String)> =
            present.into_iter().map(|(center, sector)| (level_of[&center], sector)).collect();
        let whole = Group::whole(first_day, last_day, scope.unit.level);
        let mut groups = vec![whole.clone()];
        groups.extend(keys.iter().map(|(level, sector)| Group {
            key: sector.clone(),
            level: *level,
            sector: Some(sector.clone()),
            ..whole.clone()
        }));
        let index = keys.iter().cloned().enumerate().map(|(i, k)| (k, i + 1)).collect();
        let computation = Computation {
            only_agency: only_agency.map(str::to_owned),
            scope,
            groups,
            split: Split::LevelSector { level_of, index },
            needs: Needs::default(),
            today: (self.clock)(),
        };
        let (facts, _) = computation.run(snapshot).await?;
        let total = Form06Counts::from_totals(&facts[0].cells)?;
        Ok((keys.into_iter().zip(facts[1..].iter().map(|f| f.cells)).collect(), total))
    }

    pub(super) async fn export_form06_file(
        &self,
        call: &Call,
        request: ExportForm06Request,
    ) -> ServiceResult<ResponseStream<ExportForm06Response>> {
        let format = FileFormat::try_from(request.format).unwrap_or(FileFormat::Unspecified);
        if format == FileFormat::Unspecified {
            return Err(ServiceError::invalid("format", "must be CSV or XLSX"));
        }
        let report = self.form06(call, request.report.unwrap_or_default()).await?;
        let (bytes, extension, content_type) = match format {
            FileFormat::Csv => (export::form06_csv(&report), "csv", "text/csv; charset=utf-8"),
            _ => (
                export::form06_xlsx(&report).map_err(|e| ServiceError::Internal(e.into()))?,
                "xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
        };
        let form_version = report.form.as_ref().map_or(0, |f| f.version);
        let days = report.days.unwrap_or_default();
        let file_name = format!("bieu-06-{}-{}-{}.{extension}", report.reporting_unit_code, days.from_day, days.to_day);
        let chunks: Vec<Result<ExportForm06Response, tonic::Status>> = bytes
            .chunks(export::CHUNK_BYTES)
            .enumerate()
            .map(|(i, chunk)| {
                Ok(ExportForm06Response {
                    file_name: if i == 0 { file_name.clone() } else { String::new() },
                    content_type: if i == 0 { content_type.to_owned() } else { String::new() },
                    chunk: chunk.to_vec(),
                    form_version: if i == 0 { form_version } else { 0 },
                })
            })
            .collect();
        Ok(Box::pin(tokio_stream::iter(chunks)))
    }
}
