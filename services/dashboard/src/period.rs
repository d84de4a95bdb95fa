//! The period a page shows, as its query chooses it: a month, quarter, six or nine months or year, under calendar
//! months or the Decree 09/2019 cut-off (the 15th to the 14th). By default, the reporting month of today.

use chrono::NaiveDate;
use onestop_domain::period::{month_of, CutOff, Period, DECREE_09};
use onestop_proto::aggregation::v1::{CutOffRule, PeriodKind, ReportingPeriod};

use crate::server::Query;

/// The kinds of period: as the query names them, as the chooser labels them, and as the API knows them.
pub const KINDS: [(&str, &str, PeriodKind); 5] = [
    ("month", "Tháng", PeriodKind::Month),
    ("quarter", "Quý", PeriodKind::Quarter),
    ("half", "6 tháng", PeriodKind::SixMonths),
    ("nine", "9 tháng", PeriodKind::NineMonths),
    ("year", "Năm", PeriodKind::Year),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub kind: PeriodKind,
    pub year: i32,
    /// The month (1–12), quarter (1–4) or half (1–2); 0 for nine months and years.
    pub number: u32,
    pub decree_09: bool,
}

impl Choice {
    /// The period `query` names (`kind`, `year`, `number`, `cut`), defaults filled from `today`; or what is wrong.
    pub fn from_query(query: &Query, today: NaiveDate) -> Result<Choice, String> {
        let decree_09 = match query.get("cut").unwrap_or("calendar") {
            "calendar" => false,
            "decree09" => true,
            other => return Err(format!("Quy tắc chốt số liệu không hợp lệ: {other}")),
        };
        let (this_year, this_month) = month_of(today, if decree_09 { DECREE_09 } else { CutOff::Calendar });
        let named = query.get("kind").unwrap_or("month");
        let kind = match KINDS.iter().find(|(name, _, _)| *name == named) {
            Some((_, _, kind)) => *kind,
            None => return Err(format!("Loại kỳ báo cáo không hợp lệ: {named}")),
        };
        let year = match query.get("year") {
            None | Some("") => this_year,
            Some(text) => text.parse::<i32>().ok().filter(|y| (2000..=2100).contains(y)).ok_or_else(|| {
                format!("Năm không hợp lệ: {} (từ 2000 đến 2100)", text.chars().take(12).collect::<String>())
            })?,
        };
        let default_number = match kind {
            PeriodKind::Month => this_month,
            PeriodKind::Quarter => this_month.div_ceil(3),
            PeriodKind::SixMonths => this_month.div_ceil(6),
            _ => 0,
        };
        let largest = match kind {
            PeriodKind::Month => 12,
            PeriodKind::Quarter => 4,
            PeriodKind::SixMonths => 2,
            _ => 0,
        };
        let number = match query.get("number") {
            _ if largest == 0 => 0,
            None | Some("") => default_number,
            Some(text) => text.parse::<u32>().ok().filter(|n| (1..=largest).contains(n)).ok_or_else(|| {
                format!(
                    "Số thứ tự của kỳ không hợp lệ: {} (từ 1 đến {largest})",
                    text.chars().take(12).collect::<String>()
                )
            })?,
        };
        Ok(Choice { kind, year, number, decree_09 })
    }

    pub fn to_wire(self) -> ReportingPeriod {
        ReportingPeriod {
            kind: self.kind as i32,
            year: self.year,
            number: self.number,
            cut_off: if self.decree_09 { CutOffRule::Decree09 } else { CutOffRule::Calendar } as i32,
            month_starts_on: 0,
        }
    }

    /// The cut-off rule its months follow.
    pub fn cut_off(self) -> CutOff {
        if self.decree_09 {
            DECREE_09
        } else {
            CutOff::Calendar
        }
    }

    /// The days it covers.
    pub fn days(self) -> (NaiveDate, NaiveDate) {
        let period = match self.kind {
            PeriodKind::Month => Period::Month { year: self.year, month: self.number },
            PeriodKind::Quarter => Period::Quarter { year: self.year, quarter: self.number },
            PeriodKind::SixMonths => Period::SixMonths { year: self.year, half: self.number },
            PeriodKind::NineMonths => Period::NineMonths { year: self.year },
            _ => Period::Year { year: self.year },
        };
        period.days(self.cut_off()).expect("a checked period")
    }

    /// The period of the same length just before.
    pub fn previous(self) -> Choice {
        let (year, number) = match (self.kind, self.number) {
            (PeriodKind::Month, 1) => (self.year - 1, 12),
            (PeriodKind::Quarter, 1) => (self.year - 1, 4),
            (PeriodKind::SixMonths, 1) => (self.year - 1, 2),
            (PeriodKind::Month | PeriodKind::Quarter | PeriodKind::SixMonths, n) => (self.year, n - 1),
            _ => (self.year - 1, 0),
        };
        Choice { year, number, ..self }
    }

    /// The whole year this period falls in, under the same cut-off.
    pub fn year_of(self) -> Choice {
        Choice { kind: PeriodKind::Year, number: 0, ..self }
    }

    /// "Tháng 11/2026", "Quý IV/2026", … with the cut-off rule when it is Decree 09's.
    pub fn label(self) -> String {
        let name = match self.kind {
            PeriodKind::Month => format!("Tháng {}/{}", self.number, self.year),
            PeriodKind::Quarter => {
                format!("Quý {}/{}", ["I", "II", "III", "IV"][(self.number.clamp(1, 4) - 1) as usize], self.year)
            }
            PeriodKind::SixMonths if self.number == 1 => format!("6 tháng đầu năm {}", self.year),
            PeriodKind::SixMonths => format!("6 tháng cuối năm {}", self.year),
            PeriodKind::NineMonths => format!("9 tháng năm {}", self.year),
            _ => format!("Năm {}", self.year),
        };
        if self.decree_09 {
            format!("{name} (chốt số liệu ngày 14, Nghị định 09/2019)")
        } else {
            name
        }
    }

    /// The query parameters naming this period.
    pub fn query_pairs(self) -> Vec<(&'static str, String)> {
        let kind = KINDS.iter().find(|(_, _, kind)| *kind == self.kind).map_or("year", |(name, _, _)| name);
        let mut pairs = vec![("kind", kind.to_owned()), ("year", self.year.to_string())];
        if self.number > 0 {
            pairs.push(("number", self.number.to_string()));
        }
        pairs.push(("cut", if self.decree_09 { "decree09" } else { "calendar" }.to_owned()));
        pairs
    }

    /// The query naming this period.
    pub fn query(self) -> String {
        self.query_pairs().iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("&")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(query: &str) -> Result<Choice, String> {
        Choice::from_query(&Query::parse(query), "2026-11-30".parse().unwrap())
    }

    #[test]
    fn defaults_to_the_reporting_month_of_today() {
        let month = choice("").unwrap();
        assert_eq!((month.kind, month.year, month.number, month.decree_09), (PeriodKind::Month, 2026, 11, false));
        // Under Decree 09, 30 November is in December's reporting month.
        let decree = choice("cut=decree09").unwrap();
        assert_eq!((decree.year, decree.number), (2026, 12));
        assert_eq!(decree.days().0.to_string(), "2026-11-15");
    }

    #[test]
    fn previous_periods_and_labels() {
        let january = choice("kind=month&year=2026&number=1").unwrap();
        assert_eq!(january.previous().label(), "Tháng 12/2025");
        assert_eq!(choice("kind=quarter&number=4").unwrap().label(), "Quý IV/2026");
        assert_eq!(choice("kind=nine&year=2025").unwrap().previous().label(), "9 tháng năm 2024");
        let q = choice("kind=quarter&year=2026&number=2&cut=decree09").unwrap();
        assert_eq!(Choice::from_query(&Query::parse(&q.query()), "2020-01-01".parse().unwrap()).unwrap(), q);
    }

    #[test]
    fn hostile_choices_are_refused() {
        assert!(choice("year=-5000").is_err());
        assert!(choice("year=4611686018427387904").is_err());
        assert!(choice("kind=month&number=13").is_err());
        assert!(choice("kind=weekly").is_err());
        assert!(choice("cut=%00").is_err());
    }
}
