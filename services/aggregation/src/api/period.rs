//! The days a request covers: a day range, or a reporting period under a cut-off rule.

use chrono::NaiveDate;
use onestop_domain::period::{self, CutOff, Period, DECREE_09};
use onestop_domain::Violations;
use onestop_proto::aggregation::v1::*;

/// The longest period one request may cover.
const MAX_PERIOD_DAYS: i64 = 3 * 366;

/// The days a request covers, and the cut-off rule its months follow.
pub fn resolve(
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
            if !v.year("reporting_period.year", r.year) {
                return None;
            }
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

/// The reporting months of `[first, last]` as (key "2026-03", first day, last day), clipped to it.
pub fn months(first: NaiveDate, last: NaiveDate, cut_off: CutOff) -> Vec<(String, NaiveDate, NaiveDate)> {
    let mut groups = Vec::new();
    let mut day = first;
    while day <= last {
        let (year, month) = period::month_of(day, cut_off);
        let (_, month_last) = Period::Month { year, month }.days(cut_off).expect("a valid month");
        let group_last = month_last.min(last);
        groups.push((format!("{year}-{month:02}"), day, group_last));
        day = group_last.succ_opt().expect("dates far from the end of time");
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_tile_a_range_under_the_cut_off() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let groups = months(d("2026-02-20"), d("2026-04-14"), DECREE_09);
        let spans: Vec<(String, String, String)> =
            groups.iter().map(|(key, first, last)| (key.clone(), first.to_string(), last.to_string())).collect();
        assert_eq!(
            spans,
            [
                ("2026-03".to_string(), "2026-02-20".to_string(), "2026-03-14".to_string()),
                ("2026-04".to_string(), "2026-03-15".to_string(), "2026-04-14".to_string()),
            ]
        );
    }
}
