//! Sets kept per center and calendar month, as cells change: the procedures with a case received online (a
//! bitmap of procedure numbers) and the days first reported on time (a bitmap of days). Indicators then read one
//! row per center and month for both, however many procedures or days lie behind it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// Keeps `center_month_online` in step with `center_procedure_month`: `after` holds, for each (center, month,
/// procedure) whose count of days with online cases changed by `delta`, that count after the change. Only the
/// months where some procedure's count went from zero or to zero are summed again.
pub async fn record_online(
    tx: &mut sqlx::PgConnection,
    changed: &[((String, NaiveDate, String), i32, i32)],
) -> Result<(), sqlx::Error> {
    let mut months: BTreeSet<(&str, NaiveDate)> = BTreeSet::new();
    let mut codes: BTreeSet<&str> = BTreeSet::new();
    for ((center, month, procedure), delta, after) in changed {
        let before = after - delta;
        if (before > 0) != (*after > 0) {
            months.insert((center.as_str(), *month));
        }
        codes.insert(procedure.as_str());
    }
    if months.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO procedure_number (code) SELECT * FROM UNNEST($1::text[]) ORDER BY 1 ON CONFLICT DO NOTHING",
    )
    .bind(codes.into_iter().collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    let (centers, months): (Vec<&str>, Vec<NaiveDate>) = months.into_iter().unzip();
    sqlx::query(
        "DELETE FROM center_month_online o USING UNNEST($1::text[], $2::date[]) AS k(center_code, month)
         WHERE o.center_code = k.center_code AND o.month = k.month",
    )
    .bind(&centers)
    .bind(&months)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO center_month_online (center_code, month, procedures)
         SELECT m.center_code, m.month, bitmap_of(n.number)
         FROM UNNEST($1::text[], $2::date[]) AS k(center_code, month)
         JOIN center_procedure_month m ON m.center_code = k.center_code AND m.month = k.month
         JOIN procedure_number n ON n.code = m.procedure_code
         WHERE m.online_days > 0
         GROUP BY 1, 2",
    )
    .bind(&centers)
    .bind(&months)
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
    }
}
