//! Sets kept per center and calendar month, as cells change: the procedures with a case received online (a
//! bitmap of procedure numbers, also united per year) and the days first reported on time (a bitmap of days).
//! Indicators then read one row per center and month (or year) for both, however many procedures or days lie
//! behind it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::numbering::{numbers_of, Numbering};

/// Keeps `center_month_online` in step with the cells: `now` holds, for each (center, month, procedure) whose days
/// with online cases may have changed, whether it has any now. A month's bitmap is written only when a bit of it
/// changed, and then the year's set (`center_year_online`) is united again from its months.
pub async fn record_online(
    tx: &mut sqlx::PgConnection,
    now: &[((String, NaiveDate, String), bool)],
) -> Result<(), sqlx::Error> {
    // (center, month) → (procedure, whether it has online cases now).
    let mut flips: BTreeMap<(&str, NaiveDate), Vec<(&str, bool)>> = BTreeMap::new();
    for ((center, month, procedure), has_online_cases) in now {
        flips.entry((center.as_str(), *month)).or_default().push((procedure.as_str(), *has_online_cases));
    }
    if flips.is_empty() {
        return Ok(());
    }
    let codes: BTreeSet<&str> = flips.values().flatten().map(|(code, _)| *code).collect();
    let codes: Vec<&str> = codes.into_iter().collect();
    let number_of = numbers_of(&mut *tx, Numbering::Procedures, &codes).await?;
    let (centers, months): (Vec<&str>, Vec<NaiveDate>) = flips.keys().copied().unzip();
    let stored: Vec<(String, NaiveDate, Vec<u8>)> = sqlx::query_as(
        "SELECT o.center_code, o.month, o.procedures
         FROM UNNEST($1::text[], $2::date[]) AS k(center_code, month)
         JOIN center_month_online o ON o.center_code = k.center_code AND o.month = k.month",
    )
    .bind(&centers)
    .bind(&months)
    .fetch_all(&mut *tx)
    .await?;
    let stored: HashMap<(String, NaiveDate), Vec<u8>> =
        stored.into_iter().map(|(center, month, bits)| ((center, month), bits)).collect();
    let mut bitmaps: HashMap<(String, NaiveDate), Vec<u8>> = HashMap::new();
    for ((center, month), procedures) in &flips {
        let key = ((*center).to_owned(), *month);
        let before = stored.get(&key).cloned().unwrap_or_default();
        let mut bits = before.clone();
        for (code, has_online_cases) in procedures {
            set_procedure(&mut bits, number_of[*code], *has_online_cases);
        }
        if !same_set(&bits, &before) {
            bitmaps.insert(key, bits);
        }
    }
    if bitmaps.is_empty() {
        return Ok(());
    }
    let keys: Vec<&(String, NaiveDate)> = bitmaps.keys().collect();
    sqlx::query(
        "INSERT INTO center_month_online AS o (center_code, month, procedures)
         SELECT * FROM UNNEST($1::text[], $2::date[], $3::bytea[])
         ON CONFLICT (center_code, month) DO UPDATE SET procedures = EXCLUDED.procedures",
    )
    .bind(keys.iter().map(|k| k.0.as_str()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| bitmaps[*k].as_slice()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    unite_years(tx, bitmaps.keys().map(|(center, month)| (center.as_str(), *month))).await
}

/// Whether two bitmaps hold the same procedures (one may have more trailing zero bytes).
fn same_set(a: &[u8], b: &[u8]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    long[..short.len()] == *short && !has_any(&long[short.len()..])
}

fn has_any(bits: &[u8]) -> bool {
    bits.iter().any(|byte| *byte != 0)
}

/// Sets `center_year_online` of the years of `months` (center, month) to the union of their months' sets.
async fn unite_years(
    tx: &mut sqlx::PgConnection,
    months: impl Iterator<Item = (&str, NaiveDate)>,
) -> Result<(), sqlx::Error> {
    let years: BTreeSet<(&str, NaiveDate)> =
        months.map(|(center, month)| (center, month.with_month(1).expect("month 1 exists"))).collect();
    let (centers, years): (Vec<&str>, Vec<NaiveDate>) = years.into_iter().unzip();
    let sets: Vec<(String, NaiveDate, Vec<u8>)> = sqlx::query_as(
        "SELECT k.center_code, k.year, o.procedures
         FROM UNNEST($1::text[], $2::date[]) AS k(center_code, year)
         JOIN center_month_online o ON o.center_code = k.center_code
                                   AND o.month >= k.year AND o.month < k.year + interval '1 year'",
    )
    .bind(&centers)
    .bind(&years)
    .fetch_all(&mut *tx)
    .await?;
    let mut united: BTreeMap<(&str, NaiveDate), Vec<u8>> =
        centers.iter().zip(&years).map(|(center, year)| ((*center, *year), Vec::new())).collect();
    for (center, year, bits) in &sets {
        if let Some(into) = united.get_mut(&(center.as_str(), *year)) {
            union_into(into, bits);
        }
    }
    sqlx::query(
        "INSERT INTO center_year_online AS o (center_code, year, procedures)
         SELECT * FROM UNNEST($1::text[], $2::date[], $3::bytea[])
         ON CONFLICT (center_code, year) DO UPDATE SET procedures = EXCLUDED.procedures",
    )
    .bind(united.keys().map(|k| k.0).collect::<Vec<_>>())
    .bind(united.keys().map(|k| k.1).collect::<Vec<_>>())
    .bind(united.values().map(Vec::as_slice).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks the days of `first_pushed` (each center's day and when it was first pushed) that were first pushed by
/// their deadline. A day's first push only ever moves earlier, so a mark is never taken back.
pub async fn record_reported(
    tx: &mut sqlx::PgConnection,
    first_pushed: &BTreeMap<(String, NaiveDate), DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    let mut marks: BTreeMap<(&str, NaiveDate), i32> = BTreeMap::new();
    for ((center, day), at) in first_pushed {
        if *at < crate::totals::deadline(*day) {
            let month = day.with_day(1).expect("day 1 exists");
            *marks.entry((center.as_str(), month)).or_default() |= day_bit(*day);
        }
    }
    if marks.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO center_month_report AS r (center_code, month, on_time_days)
         SELECT * FROM UNNEST($1::text[], $2::date[], $3::int[])
         ON CONFLICT (center_code, month) DO UPDATE SET on_time_days = r.on_time_days | EXCLUDED.on_time_days",
    )
    .bind(marks.keys().map(|k| k.0).collect::<Vec<_>>())
    .bind(marks.keys().map(|k| k.1).collect::<Vec<_>>())
    .bind(marks.values().copied().collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A day's bit in its month's `on_time_days`.
pub fn day_bit(day: NaiveDate) -> i32 {
    1 << (day.day() - 1)
}

/// Whether procedure number `n` is in a bitmap as `bitmap_of` builds it (set_bit's numbering).
pub fn has_procedure(bits: &[u8], n: i32) -> bool {
    let n = n as usize;
    bits.get(n / 8).is_some_and(|byte| byte & (1 << (n % 8)) != 0)
}

/// Sets or clears procedure number `n` in a bitmap, growing it as needed.
pub fn set_procedure(bits: &mut Vec<u8>, n: i32, present: bool) {
    let n = n as usize;
    if bits.len() <= n / 8 {
        bits.resize(n / 8 + 1, 0);
    }
    if present {
        bits[n / 8] |= 1 << (n % 8);
    } else {
        bits[n / 8] &= !(1 << (n % 8));
    }
}

/// Adds every procedure of `bits` to `into`.
pub fn union_into(into: &mut Vec<u8>, bits: &[u8]) {
    if into.len() < bits.len() {
        into.resize(bits.len(), 0);
    }
    into.iter_mut().zip(bits).for_each(|(i, b)| *i |= b);
}

/// The procedure numbers in a bitmap, in order.
pub fn procedures_in(bits: &[u8]) -> impl Iterator<Item = i32> + '_ {
    bits.iter()
        .enumerate()
        .flat_map(|(byte, b)| (0..8).filter(move |bit| b & (1 << bit) != 0).map(move |bit| (byte * 8 + bit) as i32))
}

/// How many procedures two bitmaps have in common.
pub fn in_both(a: &[u8], b: &[u8]) -> u64 {
    a.iter().zip(b).map(|(x, y)| u64::from((x & y).count_ones())).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_bits_and_procedure_bits_number_from_zero() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(day_bit(d("2026-03-01")), 1);
        assert_eq!(day_bit(d("2026-03-31")), 1 << 30);
        // set_bit(bytea, 9, 1) on two zero bytes gives \x0002.
        assert!(has_procedure(&[0, 2], 9));
        assert!(!has_procedure(&[0, 2], 8));
        assert!(!has_procedure(&[0, 2], 100));
        let mut bits = Vec::new();
        set_procedure(&mut bits, 9, true);
        assert_eq!(bits, [0, 2]);
        set_procedure(&mut bits, 0, true);
        set_procedure(&mut bits, 9, false);
        assert_eq!(bits, [1, 0]);
    }

    #[test]
    fn bitmaps_unite_list_and_intersect() {
        let mut union = vec![0b0000_0101];
        union_into(&mut union, &[0b0000_0110, 0b1000_0000]);
        assert_eq!(union, [0b0000_0111, 0b1000_0000]);
        assert_eq!(procedures_in(&union).collect::<Vec<_>>(), [0, 1, 2, 15]);
        assert_eq!(in_both(&union, &[0b0000_0010]), 1);
        assert_eq!(in_both(&[0b0000_0010], &union), 1);
        assert_eq!(in_both(&union, &[]), 0);
    }
}
