//! Working-day calendars of 2024–2030 as the government's notices shape them: New Year's Day, Tết (five days
//! from the eve), the Hùng Kings' day, 30 April, 1 May and National Day (2 September and the day before).
//!
//! A holiday on a weekend gives a day off in lieu on the next free weekday, except that a Tết day on a Saturday
//! moves to the free weekday before it, as every notice since 2014 has done (Tết 2024: 8–14 February; 2025:
//! 27–31 January). The swaps the government approved for civil servants, a weekday off worked back on a
//! Saturday, are listed for 2024–2026; later years have none. 24 November (Vietnam Culture Day) is not a day
//! off here. For tests and demonstrations; production loads the government's notice for each year.

use std::collections::HashSet;

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// Lunar New Year's day, 2024–2030.
const TET: [Ymd; 7] =
    [(2024, 2, 10), (2025, 1, 29), (2026, 2, 17), (2027, 2, 6), (2028, 1, 26), (2029, 2, 13), (2030, 2, 3)];
/// The Hùng Kings' commemoration (10th day of the 3rd lunar month), 2024–2030.
const HUNG_KINGS: [Ymd; 7] =
    [(2024, 4, 18), (2025, 4, 7), (2026, 4, 26), (2027, 4, 16), (2028, 4, 4), (2029, 4, 23), (2030, 4, 12)];

/// A year, month and day.
type Ymd = (i32, u32, u32);

/// Approved swaps: (the weekday off, the Saturday worked in its place, the holiday it lengthens).
const SWAPS: [(Ymd, Ymd, &str); 3] = [
    // Official Dispatch 2450/VPCP-KGVX (2024).
    ((2024, 4, 29), (2024, 5, 4), "Ngày Giải phóng miền Nam"),
    ((2025, 5, 2), (2025, 4, 26), "Ngày Giải phóng miền Nam"),
    // Official Dispatch 12729/VPCP-KGVX (25 December 2025).
    ((2026, 1, 2), (2026, 1, 10), "Tết Dương lịch"),
];

pub const YEARS: std::ops::RangeInclusive<i32> = 2024..=2030;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The days off of `year` (2024–2030) as (day, name), weekdays only, in date order: holidays, days off in lieu
/// and the weekdays swapped for a worked Saturday.
pub fn holidays(year: i32) -> Vec<(NaiveDate, String)> {
    assert!(YEARS.contains(&year), "the generator knows the lunar dates of {YEARS:?} only");
    let lookup = |table: &[Ymd]| {
        let (_, m, d) = table.iter().find(|(y, _, _)| *y == year).expect("year in table");
        day(year, *m, *d)
    };
    let tet = lookup(&TET);
    let mut named: Vec<(NaiveDate, String, bool)> = vec![(day(year, 1, 1), "Tết Dương lịch".into(), false)];
    for offset in -1..=3 {
        named.push((tet + Duration::days(offset), "Tết Nguyên đán".into(), true));
    }
    named.push((lookup(&HUNG_KINGS), "Giỗ Tổ Hùng Vương".into(), false));
    named.push((day(year, 4, 30), "Ngày Giải phóng miền Nam".into(), false));
    named.push((day(year, 5, 1), "Ngày Quốc tế Lao động".into(), false));
    named.push((day(year, 9, 1), "Quốc khánh".into(), false));
    named.push((day(year, 9, 2), "Quốc khánh".into(), false));

    let mut taken: Vec<NaiveDate> = named.iter().map(|(d, _, _)| *d).collect();
    let mut out = Vec::new();
    for (d, name, is_tet) in named {
        if !is_weekend(d) {
            out.push((d, name));
            continue;
        }
        // A Tết Saturday takes the free weekday before (Tết stays whole); any other weekend holiday the next.
        let step = if is_tet && d.weekday() == Weekday::Sat { -1 } else { 1 };
        let mut lieu = d;
        while is_weekend(lieu) || taken.contains(&lieu) {
            lieu += Duration::days(step);
        }
        taken.push(lieu);
        out.push((lieu, format!("Nghỉ bù {name}")));
    }
    for (off, _, name) in SWAPS.iter().filter(|(off, _, _)| off.0 == year) {
        out.push((day(off.0, off.1, off.2), format!("Hoán đổi ngày làm việc dịp {name}")));
    }
    out.sort();
    out.dedup_by_key(|(d, _)| *d);
    out
}

/// The Saturdays of `year` worked in place of a weekday off, as (day, name).
pub fn makeup_working_days(year: i32) -> Vec<(NaiveDate, String)> {
    SWAPS
        .iter()
        .filter(|(_, worked, _)| worked.0 == year)
        .map(|(_, worked, name)| (day(worked.0, worked.1, worked.2), format!("Làm bù dịp {name}")))
        .collect()
}

/// The calendar CSV file (`day,kind,name`) of the given years.
pub fn to_csv(years: impl IntoIterator<Item = i32>) -> String {
    let mut out = String::from("day,kind,name\n");
    for year in years {
        for (d, name) in holidays(year) {
            out.push_str(&format!("{d},holiday,{name}\n"));
        }
        for (d, name) in makeup_working_days(year) {
            out.push_str(&format!("{d},makeup_working_day,{name}\n"));
        }
    }
    out
}

/// Working days as these calendars have them, for generating data: outside [`YEARS`], every weekday.
#[derive(Debug, Clone)]
pub struct WorkingDays {
    off: HashSet<NaiveDate>,
    worked: HashSet<NaiveDate>,
}

impl Default for WorkingDays {
    fn default() -> Self {
        WorkingDays {
            off: YEARS.flat_map(holidays).map(|(d, _)| d).collect(),
            worked: YEARS.flat_map(makeup_working_days).map(|(d, _)| d).collect(),
        }
    }
}

impl WorkingDays {
    pub fn is_working(&self, day: NaiveDate) -> bool {
        self.worked.contains(&day) || !(is_weekend(day) || self.off.contains(&day))
    }

    /// The `n`-th working day after `day` (before it when `n` is negative).
    pub fn add(&self, day: NaiveDate, n: i32) -> NaiveDate {
        let step = Duration::days(if n >= 0 { 1 } else { -1 });
        let mut current = day;
        for _ in 0..n.unsigned_abs() {
            current += step;
            while !self.is_working(current) {
                current += step;
            }
        }
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days_off(year: i32, month: u32) -> Vec<u32> {
        holidays(year).iter().filter(|(d, _)| d.month() == month).map(|(d, _)| d.day()).collect()
    }

    #[test]
    fn holidays_fall_on_weekdays_once_and_makeup_days_on_saturdays() {
        for year in YEARS {
            let days = holidays(year);
            assert!(days.iter().all(|(d, _)| !is_weekend(*d) && d.year() == year));
            assert!(days.len() >= 9, "{year}: {days:?}");
            assert!(makeup_working_days(year).iter().all(|(d, _)| d.weekday() == Weekday::Sat));
        }
    }

    #[test]
    fn the_published_years_match_the_notices() {
        assert_eq!(days_off(2024, 2), [8, 9, 12, 13, 14], "Tết Giáp Thìn");
        assert_eq!(days_off(2024, 4), [18, 29, 30], "Giỗ Tổ, and 29 April swapped for 4 May");
        assert_eq!(days_off(2024, 9), [2, 3]);
        assert_eq!(days_off(2025, 1), [1, 27, 28, 29, 30, 31], "Tết Ất Tỵ");
        assert_eq!(days_off(2025, 5), [1, 2], "2 May swapped for 26 April");
        assert_eq!(days_off(2025, 9), [1, 2]);
        assert_eq!(days_off(2026, 1), [1, 2], "2 January swapped for 10 January");
        assert_eq!(days_off(2026, 2), [16, 17, 18, 19, 20], "Tết Bính Ngọ");
        assert_eq!(days_off(2026, 4), [27, 30], "Giỗ Tổ on a Sunday, off the Monday after");
        let worked: Vec<String> =
            [2024, 2025, 2026].into_iter().flat_map(makeup_working_days).map(|(d, _)| d.to_string()).collect();
        assert_eq!(worked, ["2024-05-04", "2025-04-26", "2026-01-10"]);
    }

    #[test]
    fn working_days_skip_holidays_and_count_makeup_saturdays() {
        let days = WorkingDays::default();
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert!(!days.is_working(d("2026-02-16")) && days.is_working(d("2026-01-10")));
        assert_eq!(days.add(d("2026-02-13"), 1), d("2026-02-23"), "Friday before Tết to the Monday after");
        assert_eq!(days.add(d("2026-02-23"), -1), d("2026-02-13"));
        assert_eq!(days.add(d("2026-01-09"), 1), d("2026-01-10"), "a make-up Saturday is worked");
        assert_eq!(days.add(d("2031-01-03"), 1), d("2031-01-06"), "beyond the known years, weekdays");
    }
}
