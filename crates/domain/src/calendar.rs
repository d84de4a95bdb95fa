//! The working-day calendar: weekends are days off, except official make-up working days; public holidays
//! (and days off swapped from elsewhere) are days off on weekdays. Each year's exceptions are published by the
//! government, so a computation that crosses a year whose calendar is not loaded fails rather than guesses.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, NaiveDate, Weekday};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayKind {
    /// A day off on what would be a working day.
    Holiday,
    /// A weekend day that is worked.
    MakeupWorkingDay,
}

/// The calendar year a computation needed and did not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the working-day calendar of {0} is not loaded")]
pub struct MissingYear(pub i32);

/// The exceptions of every loaded year.
#[derive(Debug, Clone, Default)]
pub struct WorkingCalendar {
    years: BTreeSet<i32>,
    exceptions: HashMap<NaiveDate, DayKind>,
}

/// The longest span, in days, a single computation may walk.
pub const MAX_SPAN_DAYS: i64 = 3660;

impl WorkingCalendar {
    /// A calendar of the given years and their exceptions.
    pub fn new(
        years: impl IntoIterator<Item = i32>,
        exceptions: impl IntoIterator<Item = (NaiveDate, DayKind)>,
    ) -> Self {
        WorkingCalendar { years: years.into_iter().collect(), exceptions: exceptions.into_iter().collect() }
    }

    pub fn has_year(&self, year: i32) -> bool {
        self.years.contains(&year)
    }

    pub fn is_working_day(&self, day: NaiveDate) -> Result<bool, MissingYear> {
        if !self.has_year(day.year()) {
            return Err(MissingYear(day.year()));
        }
        Ok(match self.exceptions.get(&day) {
            Some(DayKind::Holiday) => false,
            Some(DayKind::MakeupWorkingDay) => true,
            None => !is_weekend(day),
        })
    }

    /// The day `n` working days after `day` (before it when `n` is negative); `day` itself is not counted.
    pub fn add_working_days(&self, day: NaiveDate, n: i32) -> Result<NaiveDate, MissingYear> {
        let step = if n >= 0 { 1 } else { -1 };
        let mut remaining = n.unsigned_abs();
        let mut current = day;
        while remaining > 0 {
            current += chrono::Duration::days(step);
            if self.is_working_day(current)? {
                remaining -= 1;
            }
        }
        Ok(current)
    }

    /// The working days after `from` up to and including `to`. When `to` is before `from`, minus the working days
    /// from `to` up to (not including) `from`. Either way `count_working_days(d, add_working_days(d, n)) == n`.
    pub fn count_working_days(&self, from: NaiveDate, to: NaiveDate) -> Result<i32, MissingYear> {
        let (first, last, sign) =
            if to >= from { (from.succ_opt(), Some(to), 1) } else { (Some(to), from.pred_opt(), -1) };
        let (Some(mut day), Some(last)) = (first, last) else { return Ok(0) };
        let mut count = 0;
        while day <= last {
            if self.is_working_day(day)? {
                count += 1;
            }
            day = day.succ_opt().expect("dates far from the end of time");
        }
        Ok(sign * count)
    }

    /// Working days in a loaded year.
    pub fn working_days_in_year(&self, year: i32) -> Result<u32, MissingYear> {
        let first = NaiveDate::from_ymd_opt(year, 1, 1).ok_or(MissingYear(year))?;
        let mut count = 0;
        let mut day = first;
        while day.year() == year {
            if self.is_working_day(day)? {
                count += 1;
            }
            day = day.succ_opt().expect("dates far from the end of time");
        }
        Ok(count)
    }
}

pub fn is_weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Checks one year's exceptions: each day inside the year, at most once, and a make-up working day only on a
/// weekend. Returns the violations as (index, reason).
pub fn check_year(year: i32, exceptions: &[(NaiveDate, DayKind)]) -> Vec<(usize, String)> {
    let mut problems = Vec::new();
    let mut seen = BTreeMap::new();
    for (i, (day, kind)) in exceptions.iter().enumerate() {
        if day.year() != year {
            problems.push((i, format!("{day} is not in {year}")));
        } else if let Some(first) = seen.insert(*day, i) {
            problems.push((i, format!("{day} is listed twice (also at {first})")));
        } else if *kind == DayKind::MakeupWorkingDay && !is_weekend(*day) {
            problems.push((i, format!("{day} is a weekday; only a weekend day can be a make-up working day")));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// 2026 around Reunification Day: Thursday 30 April and Friday 1 May are holidays.
    fn calendar() -> WorkingCalendar {
        WorkingCalendar::new(
            [2026],
            [
                (d(2026, 4, 30), DayKind::Holiday),
                (d(2026, 5, 1), DayKind::Holiday),
                (d(2026, 5, 9), DayKind::MakeupWorkingDay),
            ],
        )
    }

    #[test]
    fn holidays_and_weekends_are_skipped() {
        let cal = calendar();
        // Wednesday 29 April + 1 working day: Thu and Fri are holidays, the weekend is off → Monday 4 May.
        assert_eq!(cal.add_working_days(d(2026, 4, 29), 1).unwrap(), d(2026, 5, 4));
        assert_eq!(cal.add_working_days(d(2026, 5, 4), -1).unwrap(), d(2026, 4, 29));
        // The make-up Saturday counts.
        assert_eq!(cal.add_working_days(d(2026, 5, 8), 1).unwrap(), d(2026, 5, 9));
        assert_eq!(cal.count_working_days(d(2026, 4, 29), d(2026, 5, 9)).unwrap(), 6);
        assert_eq!(cal.count_working_days(d(2026, 5, 9), d(2026, 4, 29)).unwrap(), -6);
        assert_eq!(cal.count_working_days(d(2026, 5, 4), d(2026, 5, 4)).unwrap(), 0);
    }

    #[test]
    fn adding_then_counting_gives_back_n() {
        let cal = calendar();
        for n in [-40, -3, 0, 1, 7, 55] {
            let day = cal.add_working_days(d(2026, 5, 2), n).unwrap();
            assert_eq!(cal.count_working_days(d(2026, 5, 2), day).unwrap(), n);
        }
    }

    #[test]
    fn a_missing_year_is_an_error_not_a_guess() {
        let cal = calendar();
        assert_eq!(cal.add_working_days(d(2026, 12, 30), 5), Err(MissingYear(2027)));
        assert_eq!(cal.working_days_in_year(2026).unwrap(), 261 - 2 + 1);
    }

    #[test]
    fn year_checks_name_each_bad_day() {
        let problems = check_year(
            2026,
            &[
                (d(2026, 5, 5), DayKind::MakeupWorkingDay),
                (d(2025, 1, 1), DayKind::Holiday),
                (d(2026, 5, 1), DayKind::Holiday),
                (d(2026, 5, 1), DayKind::Holiday),
            ],
        );
        assert_eq!(problems.iter().map(|p| p.0).collect::<Vec<_>>(), [0, 1, 3]);
    }
}
