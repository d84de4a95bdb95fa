//! Reporting periods and the cut-off rules that decide their days.
//!
//! Under Decree 09/2019/NĐ-CP data is cut off on the 14th: a month runs from the 15th of the month before to the
//! 14th, quarter I from 15 December to 14 March, the year from 15 December to 14 December. Some provinces use
//! calendar months, or the 21st → 20th; the rule is chosen per request (DOMAIN §6).

use chrono::{Datelike, NaiveDate};

/// Which day a reporting month starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutOff {
    /// Calendar months: the 1st to the last day.
    Calendar,
    /// Months start on this day of the month before (2–28): 15 gives the 15th → 14th rule.
    StartsOn(u32),
}

/// The cut-off of Decree 09/2019/NĐ-CP.
pub const DECREE_09: CutOff = CutOff::StartsOn(15);

/// A reporting period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Month {
        year: i32,
        month: u32,
    },
    Quarter {
        year: i32,
        quarter: u32,
    },
    /// The first six months (half 1) or the whole year's second half (half 2).
    SixMonths {
        year: i32,
        half: u32,
    },
    NineMonths {
        year: i32,
    },
    Year {
        year: i32,
    },
    /// Any inclusive range of days; the cut-off rule does not apply.
    Days {
        first: NaiveDate,
        last: NaiveDate,
    },
}

impl Period {
    /// The first and last day (inclusive) of the period under `cut_off`, or why there are none.
    pub fn days(self, cut_off: CutOff) -> Result<(NaiveDate, NaiveDate), String> {
        if let CutOff::StartsOn(day) = cut_off {
            if !(2..=28).contains(&day) {
                return Err(format!("a month may start on day 2 to 28, not {day}"));
            }
        }
        let months = |year: i32, first_month: u32, last_month: u32| -> Result<(NaiveDate, NaiveDate), String> {
            if !(1..=12).contains(&first_month) || !(1..=12).contains(&last_month) {
                return Err("months run 1 to 12".into());
            }
            Ok((month_days(year, first_month, cut_off)?.0, month_days(year, last_month, cut_off)?.1))
        };
        match self {
            Period::Month { year, month } => months(year, month, month),
            Period::Quarter { year, quarter } if (1..=4).contains(&quarter) => {
                months(year, quarter * 3 - 2, quarter * 3)
            }
            Period::Quarter { quarter, .. } => Err(format!("a quarter is 1 to 4, not {quarter}")),
            Period::SixMonths { year, half: 1 } => months(year, 1, 6),
            Period::SixMonths { year, half: 2 } => months(year, 7, 12),
            Period::SixMonths { half, .. } => Err(format!("a half is 1 or 2, not {half}")),
            Period::NineMonths { year } => months(year, 1, 9),
            Period::Year { year } => months(year, 1, 12),
            Period::Days { first, last } if first <= last => Ok((first, last)),
            Period::Days { .. } => Err("the last day is before the first".into()),
        }
    }
}

/// The days of reporting month `month` of `year`.
fn month_days(year: i32, month: u32, cut_off: CutOff) -> Result<(NaiveDate, NaiveDate), String> {
    let date = |y: i32, m: u32, d: u32| NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| format!("no day {y}-{m}-{d}"));
    match cut_off {
        CutOff::Calendar => {
            let first = date(year, month, 1)?;
            let next = if month == 12 { date(year + 1, 1, 1)? } else { date(year, month + 1, 1)? };
            Ok((first, next.pred_opt().expect("a day before the 1st")))
        }
        CutOff::StartsOn(day) => {
            let (prev_year, prev_month) = if month == 1 { (year - 1, 12) } else { (year, month - 1) };
            Ok((date(prev_year, prev_month, day)?, date(year, month, day - 1)?))
        }
    }
}

/// The reporting month that contains `day` under `cut_off`, as (year, month).
pub fn month_of(day: NaiveDate, cut_off: CutOff) -> (i32, u32) {
    match cut_off {
        CutOff::Calendar => (day.year(), day.month()),
        CutOff::StartsOn(start) if day.day() >= start => {
            if day.month() == 12 {
                (day.year() + 1, 1)
            } else {
                (day.year(), day.month() + 1)
            }
        }
        CutOff::StartsOn(_) => (day.year(), day.month()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn decree_09_periods_run_from_the_15th_to_the_14th() {
        assert_eq!(Period::Month { year: 2026, month: 3 }.days(DECREE_09), Ok((d("2026-02-15"), d("2026-03-14"))));
        assert_eq!(Period::Quarter { year: 2026, quarter: 1 }.days(DECREE_09), Ok((d("2025-12-15"), d("2026-03-14"))));
        assert_eq!(Period::Year { year: 2026 }.days(DECREE_09), Ok((d("2025-12-15"), d("2026-12-14"))));
        assert_eq!(Period::SixMonths { year: 2026, half: 1 }.days(DECREE_09), Ok((d("2025-12-15"), d("2026-06-14"))));
        assert_eq!(Period::NineMonths { year: 2026 }.days(DECREE_09), Ok((d("2025-12-15"), d("2026-09-14"))));
        assert_eq!(month_of(d("2026-03-14"), DECREE_09), (2026, 3));
        assert_eq!(month_of(d("2026-03-15"), DECREE_09), (2026, 4));
        assert_eq!(month_of(d("2025-12-20"), DECREE_09), (2026, 1));
    }

    #[test]
    fn calendar_and_other_cut_offs() {
        assert_eq!(
            Period::Month { year: 2024, month: 2 }.days(CutOff::Calendar),
            Ok((d("2024-02-01"), d("2024-02-29")))
        );
        assert_eq!(
            Period::Quarter { year: 2026, quarter: 4 }.days(CutOff::Calendar),
            Ok((d("2026-10-01"), d("2026-12-31")))
        );
        assert_eq!(
            Period::Month { year: 2026, month: 1 }.days(CutOff::StartsOn(21)),
            Ok((d("2025-12-21"), d("2026-01-20")))
        );
        assert!(Period::Quarter { year: 2026, quarter: 5 }.days(CutOff::Calendar).is_err());
        assert!(Period::Month { year: 2026, month: 1 }.days(CutOff::StartsOn(31)).is_err());
        assert!(Period::Days { first: d("2026-01-02"), last: d("2026-01-01") }.days(CutOff::Calendar).is_err());
    }

    #[test]
    fn consecutive_months_tile_the_year() {
        for cut_off in [CutOff::Calendar, DECREE_09, CutOff::StartsOn(21)] {
            let (year_first, year_last) = Period::Year { year: 2026 }.days(cut_off).unwrap();
            let mut expected_first = year_first;
            for month in 1..=12 {
                let (first, last) = Period::Month { year: 2026, month }.days(cut_off).unwrap();
                assert_eq!(first, expected_first, "{cut_off:?} month {month}");
                assert_eq!(month_of(first, cut_off), (2026, month));
                assert_eq!(month_of(last, cut_off), (2026, month));
                expected_first = last.succ_opt().unwrap();
            }
            assert_eq!(expected_first.pred_opt().unwrap(), year_last);
        }
    }
}
