//! The gRPC surface of aggregation.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use onestop_domain::period::{self, CutOff, Period, DECREE_09};
use onestop_domain::{IndicatorDefinition, PeriodTotals, Violations};
use onestop_proto::aggregation::v1::aggregation_service_server::AggregationService;
use onestop_proto::aggregation::v1::*;
use onestop_server::{ServiceError, ServiceResult};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::rollup::{fold, Group, Rollup, Scope};
use crate::{consumer, definitions};

/// The longest period one request may cover.
const MAX_PERIOD_DAYS: i64 = 3 * 366;

#[derive(Debug, Clone)]
pub struct AggregationApi {
    pool: PgPool,
    rollup: Rollup,
}

/// The days a request covers, and the cut-off rule its months follow.
fn resolve_period(
    v: &mut Violations,
    days: Option<&DayRange>,
    reporting: Option<&ReportingPeriod>,
) -> Option<(NaiveDate, NaiveDate, CutOff)> {
    let (first, last, cut_off) = match (days, reporting) {
        (Some(range), None) => {
            let first = v.date("period.from_day", &range.from_day);
            let last = v.date("period.to_day", &range.to_day);
            (first?, last?, CutOff::Calendar)
        }
        (None, Some(r)) => {
            let cut_off = match CutOffRule::try_from(r.cut_off) {
                Ok(CutOffRule::Calendar) => CutOff::Calendar,
                Ok(CutOffRule::Decree09) => DECREE_09,
                Ok(CutOffRule::Custom) => CutOff::StartsOn(r.month_starts_on),
                _ => {
                    v.add("reporting_period.cut_off", "must be CALENDAR, DECREE_09 or CUSTOM");
                    return None;
                }
            };
            let period = match PeriodKind::try_from(r.kind) {
                Ok(PeriodKind::Month) => Period::Month { year: r.year, month: r.number },
                Ok(PeriodKind::Quarter) => Period::Quarter { year: r.year, quarter: r.number },
                Ok(PeriodKind::SixMonths) => Period::SixMonths { year: r.year, half: r.number },
                Ok(PeriodKind::NineMonths) => Period::NineMonths { year: r.year },
                Ok(PeriodKind::Year) => Period::Year { year: r.year },
                _ => {
                    v.add("reporting_period.kind", "must be MONTH, QUARTER, SIX_MONTHS, NINE_MONTHS or YEAR");
                    return None;
                }
            };
            match period.days(cut_off) {
                Ok((first, last)) => (first, last, cut_off),
                Err(reason) => {
                    v.add("reporting_period", reason);
                    return None;
                }
            }
        }
        _ => {
            v.add("period", "give either period (days) or reporting_period");
            return None;
        }
    };
    if last < first {
        v.add("period.to_day", "is before period.from_day");
        None
    } else if (last - first).num_days() >= MAX_PERIOD_DAYS {
        v.add("period.to_day", format!("a period covers at most {MAX_PERIOD_DAYS} days"));
        None
    } else {
        Some((first, last, cut_off))
    }
}

/// The reporting months of `[first, last]`, clipped to it.
fn months(first: NaiveDate, last: NaiveDate, cut_off: CutOff) -> Vec<Group> {
    let mut groups = Vec::new();
    let mut day = first;
    while day <= last {
        let (year, month) = period::month_of(day, cut_off);
        let (_, month_last) = Period::Month { year, month }.days(cut_off).expect("a valid month");
        let group_last = month_last.min(last);
        groups.push(Group { key: format!("{year}-{month:02}"), first_day: day, last_day: group_last });
        day = group_last.succ_opt().expect("dates far from the end of time");
    }
    groups
}

fn evaluate(definitions: &[IndicatorDefinition], wanted: &[String], totals: &PeriodTotals) -> Vec<IndicatorResult> {
    definitions
        .iter()
        .filter(|d| wanted.is_empty() || wanted.contains(&d.id))
        .map(|d| d.evaluate(totals).into())
        .collect()
}

impl AggregationApi {
    pub fn new(pool: PgPool, rollup: Rollup) -> Self {
        AggregationApi { pool, rollup }
    }

    async fn indicators(&self, request: GetIndicatorsRequest) -> ServiceResult<GetIndicatorsResponse> {
        let mut v = Violations::new();
        let scope = match (request.unit_code.is_empty(), request.center_code.is_empty()) {
            (false, true) => v.code("unit_code", &request.unit_code).then(|| Scope::Unit(request.unit_code.clone())),
            (true, false) => {
                v.code("center_code", &request.center_code).then(|| Scope::Center(request.center_code.clone()))
            }
            _ => {
                v.add("unit_code", "give either unit_code or center_code");
                None
            }
        };
        let period = resolve_period(&mut v, request.period.as_ref(), request.reporting_period.as_ref());
        let breakdown = Breakdown::try_from(request.breakdown).unwrap_or(Breakdown::Unspecified);
        if breakdown == Breakdown::ChildUnit && matches!(scope, Some(Scope::Center(_))) {
            v.add("breakdown", "a center has no child units");
        }
        let all = definitions::latest(&self.pool).await?;
        for (i, id) in request.indicator_ids.iter().enumerate() {
            if !all.iter().any(|d| &d.id == id) {
                v.add(format!("indicator_ids[{i}]"), format!("no indicator {id:?}"));
            }
        }
        v.into_result()?;
        let (scope, (first, last, cut_off)) = (scope.expect("validated"), period.expect("validated"));

        let centers = self.rollup.centers(&scope, last).await?;
        let codes: Vec<String> = centers.iter().map(|c| c.code.clone()).collect();
        // The cursor and the totals from one snapshot: the answer includes exactly the changes up to the cursor.
        let mut snapshot = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(&mut *snapshot).await?;
        let intake_cursor = consumer::cursor(&mut *snapshot, consumer::INTAKE).await?;
        let rows = self.rollup.center_days(&mut *snapshot, &codes, first, last).await?;
        snapshot.commit().await?;
        let whole = Group { key: String::new(), first_day: first, last_day: last };
        let total = fold(&rows, std::slice::from_ref(&whole), |_, _| vec![0]).remove(0);

        let groups = match breakdown {
            Breakdown::Unspecified => vec![],
            Breakdown::Center => {
                let groups: Vec<Group> =
                    codes.iter().map(|c| Group { key: c.clone(), first_day: first, last_day: last }).collect();
                let index: BTreeMap<&str, usize> = codes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
                let totals = fold(&rows, &groups, |center, _| index.get(center).map(|i| vec![*i]).unwrap_or_default());
                groups.into_iter().zip(totals).collect::<Vec<_>>()
            }
            Breakdown::ChildUnit => {
                let Scope::Unit(unit) = &scope else { unreachable!("checked above") };
                let (children, child_of) = self.rollup.children_of(unit, &centers, last).await?;
                let mut keys = children;
                keys.push(unit.clone()); // the unit's own centers
                let groups: Vec<Group> =
                    keys.iter().map(|k| Group { key: k.clone(), first_day: first, last_day: last }).collect();
                let index: BTreeMap<&str, usize> = keys.iter().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
                let totals = fold(&rows, &groups, |center, _| {
                    let key = child_of.get(center).cloned().flatten().unwrap_or_else(|| unit.clone());
                    index.get(key.as_str()).map(|i| vec![*i]).unwrap_or_default()
                });
                groups.into_iter().zip(totals).collect()
            }
            Breakdown::Month => {
                let groups = months(first, last, cut_off);
                let totals = fold(&rows, &groups, |_, day| {
                    (0..groups.len())
                        .filter(|&g| {
                            let before = groups[g].first_day.pred_opt();
                            (groups[g].first_day..=groups[g].last_day).contains(&day) || before == Some(day)
                        })
                        .collect()
                });
                groups.into_iter().zip(totals).collect()
            }
        };
        Ok(GetIndicatorsResponse {
            indicators: evaluate(&all, &request.indicator_ids, &total),
            center_codes: codes,
            intake_cursor,
            days: Some(DayRange { from_day: first.to_string(), to_day: last.to_string() }),
            groups: groups
                .into_iter()
                .map(|(group, totals)| IndicatorGroup {
                    key: group.key,
                    indicators: evaluate(&all, &request.indicator_ids, &totals),
                })
                .collect(),
        })
    }

    async fn rank(&self, request: RankUnitsRequest) -> ServiceResult<RankUnitsResponse> {
        if request.indicator_id.is_empty() {
            return Err(ServiceError::invalid("indicator_id", "is required"));
        }
        let answer = self
            .indicators(GetIndicatorsRequest {
                unit_code: request.unit_code.clone(),
                period: request.period,
                reporting_period: request.reporting_period,
                indicator_ids: vec![request.indicator_id.clone()],
                breakdown: Breakdown::ChildUnit as i32,
                ..Default::default()
            })
            .await?;
        let mut units: Vec<(String, IndicatorResult)> = answer
            .groups
            .into_iter()
            .filter(|g| g.key != request.unit_code)
            .filter_map(|g| g.indicators.into_iter().next().map(|r| (g.key, r)))
            .collect();
        // Best first; no value last; ties by code so the order is stable.
        units.sort_by(|(a_code, a), (b_code, b)| match (a.value, b.value) {
            (Some(x), Some(y)) => y.total_cmp(&x).then_with(|| a_code.cmp(b_code)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a_code.cmp(b_code),
        });
        let mut ranked: Vec<RankedUnit> = Vec::with_capacity(units.len());
        for (i, (unit_code, result)) in units.into_iter().enumerate() {
            let rank = match ranked.last() {
                Some(previous) if previous.result.as_ref().and_then(|r| r.value) == result.value => previous.rank,
                _ => i as u32 + 1,
            };
            ranked.push(RankedUnit { rank, unit_code, result: Some(result) });
        }
        Ok(RankUnitsResponse { units: ranked, days: answer.days, intake_cursor: answer.intake_cursor })
    }
}

#[tonic::async_trait]
impl AggregationService for AggregationApi {
    async fn get_indicators(
        &self,
        request: Request<GetIndicatorsRequest>,
    ) -> Result<Response<GetIndicatorsResponse>, Status> {
        Ok(Response::new(self.indicators(request.into_inner()).await?))
    }

    async fn rank_units(&self, request: Request<RankUnitsRequest>) -> Result<Response<RankUnitsResponse>, Status> {
        Ok(Response::new(self.rank(request.into_inner()).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_tile_a_range_under_the_cut_off() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let groups = months(d("2026-02-20"), d("2026-04-14"), DECREE_09);
        let spans: Vec<(String, String, String)> =
            groups.iter().map(|g| (g.key.clone(), g.first_day.to_string(), g.last_day.to_string())).collect();
        assert_eq!(
            spans,
            [
                ("2026-03".to_string(), "2026-02-20".to_string(), "2026-03-14".to_string()),
                ("2026-04".to_string(), "2026-03-15".to_string(), "2026-04-14".to_string()),
            ]
        );
    }
}
