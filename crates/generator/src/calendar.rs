//! Working-day calendars shaped like the official ones: New Year, Tết (five days from the eve), the Hùng Kings'
//! day, 30 April, 1 May and National Day (2 September and the day before), with a day off in lieu on the next
//! weekday when a holiday falls on a weekend. For tests and demonstrations; production loads the government's
//! notice for each year.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// Lunar New Year's day, 2024–2030.
const TET: [(i32, u32, u32); 7] =
    [(2024, 2, 10), (2025, 1, 29), (2026, 2, 17), (2027, 2, 6), (2028, 1, 26), (2029, 2, 13), (2030, 2, 3)];
/// The Hùng Kings' commemoration (10th day of the 3rd lunar month), 2024–2030.
const HUNG_KINGS: [(i32, u32, u32); 7] =
    [(2024, 4, 18), (2025, 4, 7), (2026, 4, 26), (2027, 4, 16), (2028, 4, 4), (2029, 4, 23), (2030, 4, 12)];

pub const YEARS: std::ops::RangeInclusive<i32> = 2024..=2030;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The holidays of `year` (2024–2030) as (day, name), weekdays only, in date order.
pub fn holidays(year: i32) -> Vec<(NaiveDate, String)> {
    assert!(YEARS.contains(&year), "the generator knows the lunar dates of {YEARS:?} only");
    let lookup = |table: &[(i32, u32, u32)]| {
        let (_, m, d) = table.iter().find(|(y, _, _)| *y == year).expect("year in table");
        day(year, *m, *d)
    };
    let tet = lookup(&TET);
    let mut named: Vec<(NaiveDate, String)> = vec![(day(year, 1, 1), "Tết Dương lịch".into())];
    for offset in -1..=3 {
        named.push((tet + Duration::days(offset), "Tết Nguyên đán".into()));
    }
    named.push((lookup(&HUNG_KINGS), "Giỗ Tổ Hùng Vương".into()));
    named.push((day(year, 4, 30), "Ngày Giải phóng miền Nam".into()));
    named.push((day(year, 5, 1), "Ngày Quốc tế Lao động".into()));
    named.push((day(year, 9, 1), "Quốc khánh".into()));
    named.push((day(year, 9, 2), "Quốc khánh".into()));

    let mut taken: Vec<NaiveDate> = named.iter().map(|(d, _)| *d).collect();
    let mut out = Vec::new();
    for (d, name) in named {
        if !is_weekend(d) {
            out.push((d, name));
            continue;
        }
        // A holiday on a weekend gives the next free weekday off.
        let mut lieu = d;
        while is_weekend(lieu) || taken.contains(&lieu) {
            lieu += Duration::days(1);
        }
        taken.push(lieu);
        out.push((lieu, format!("Nghỉ bù {name}")));
    }
    out.sort();
    out.dedup_by_key(|(d, _)| *d);
    out
}

/// The calendar CSV file (`day,kind,name`) of the given years.
pub fn to_csv(years: impl IntoIterator<Item = i32>) -> String {
    let mut out = String::from("day,kind,name\n");
    for year in years {
        for (d, name) in holidays(year) {
            out.push_str(&format!("{d},holiday,{name}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holidays_fall_on_weekdays_once() {
        for year in YEARS {
            let days = holidays(year);
            assert!(days.iter().all(|(d, _)| !is_weekend(*d) && d.year() == year));
            assert!(days.len() >= 9, "{year}: {days:?}");
        }
    }
}
