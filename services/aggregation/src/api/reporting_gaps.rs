//! Who has not reported: each center's working days of a period, once their deadline has passed, split into
//! reported on time, reported late and never reported. The same rule as the reporting-completeness indicator: a
//! working day is on time when first pushed by the end of the next day in Vietnam.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use onestop_domain::Violations;
use onestop_proto::aggregation::v1::*;
use onestop_proto::convert::timestamp_to_wire;
use onestop_server::ServiceResult;

use super::{period, target, AggregationApi, AtLeast, Call};
use crate::totals::{deadline, load_calendar};

impl AggregationApi {
    pub(super) async fn reporting_gaps(
        &self,
        call: &Call,
        request: GetReportingGapsRequest,
    ) -> ServiceResult<GetReportingGapsResponse> {
        let mut v = Violations::new();
        let target = target(&mut v, &request.unit_code, &request.center_code);
        let period = period::resolve(&mut v, request.period.as_ref(), request.reporting_period.as_ref());
        v.into_result()?;
        let (target, (first, last, _)) = (target.expect("validated"), period.expect("validated"));
        let at_least = AtLeast { intake: &request.min_intake_cursor, catalogue: request.min_catalogue_cursor };
        let (mut snapshot, freshness, scope) = self.scoped_snapshot(call, &target, at_least).await?;
        let days = Some(DayRange { from_day: first.to_string(), to_day: last.to_string() });

        // Only days whose deadline has passed can be missing or late.
        let now = Utc::now();
        let calendar = load_calendar(&mut snapshot, first, last).await?;
        let mut due_days = Vec::new();
        for day in first.iter_days().take_while(|d| *d <= last && deadline(*d) <= now) {
            match calendar.is_working_day(day) {
                Ok(true) => due_days.push(day),
                Ok(false) => {}
                Err(missing) => {
                    snapshot.commit().await?;
                    let unavailable = format!("no working-day calendar for {}", missing.0);
                    return Ok(GetReportingGapsResponse {
                        centers: vec![],
                        days,
                        freshness: Some(freshness),
                        unavailable,
                    });
                }
            }
        }
        let centers = scope.center_codes();
        let reports: Vec<(String, NaiveDate, DateTime<Utc>)> = sqlx::query_as(
            "SELECT center_code, day, first_pushed_at FROM center_day_report
             WHERE center_code = ANY($1) AND day BETWEEN $2 AND $3",
        )
        .bind(&centers)
        .bind(first)
        .bind(last)
        .fetch_all(&mut *snapshot)
        .await?;
        snapshot.commit().await?;

        let first_pushed: HashMap<(&str, NaiveDate), DateTime<Utc>> =
            reports.iter().map(|(center, day, at)| ((center.as_str(), *day), *at)).collect();
        let names: HashMap<&str, &str> = scope.centers.iter().map(|c| (c.code.as_str(), c.name.as_str())).collect();
        let mut out: Vec<CenterReporting> = centers
            .iter()
            .map(|center| {
                let mut reporting = CenterReporting {
                    center_code: center.clone(),
                    center_name: names.get(center.as_str()).copied().unwrap_or_default().to_owned(),
                    expected_days: due_days.len() as u32,
                    ..Default::default()
                };
                for day in &due_days {
                    match first_pushed.get(&(center.as_str(), *day)) {
                        None => reporting.missing_days.push(day.to_string()),
                        Some(at) if *at <= deadline(*day) => reporting.on_time_days += 1,
                        Some(at) => reporting
                            .late_days
                            .push(LateReport { day: day.to_string(), first_pushed_at: Some(timestamp_to_wire(*at)) }),
                    }
                }
                reporting
            })
            .collect();
        out.sort_by(|a, b| {
            (b.missing_days.len(), b.late_days.len())
                .cmp(&(a.missing_days.len(), a.late_days.len()))
                .then_with(|| a.center_code.cmp(&b.center_code))
        });
        Ok(GetReportingGapsResponse { centers: out, days, freshness: Some(freshness), unavailable: String::new() })
    }
}
