//! When reports are due: days after a period's last day, per kind of period and kind of reporter. The nation's
//! defaults (those of Decree 09/2019/ND-CP's 15th-to-14th periods: communes and departments by the 16th,
//! provinces by the 20th) hold unless a province set its own for its communes and departments.

use std::collections::HashMap;

use chrono::NaiveDate;
use onestop_proto::aggregation::v1::{PeriodKind, ReportDeadline, ReporterKind};

/// The province code under which the nation's defaults are stored.
pub const NATION_DEFAULTS: &str = "";

/// Longest a report may be due after its period: a year.
pub const MAX_DAYS_AFTER_END: u32 = 366;

/// Every deadline stored: the nation's defaults and the provinces' own.
pub struct Deadlines {
    /// (province code, period kind, reporter kind) → days after the period's last day.
    days: HashMap<(String, i16, i16), u32>,
}

impl Deadlines {
    pub async fn load(db: &mut sqlx::PgConnection) -> Result<Deadlines, sqlx::Error> {
        let rows: Vec<(String, i16, i16, i32)> = sqlx::query_as(
            "SELECT province_code, period_kind, reporter_kind, days_after_period_end FROM report_deadline",
        )
        .fetch_all(&mut *db)
        .await?;
        let days =
            rows.into_iter().map(|(p, kind, reporter, days)| ((p, kind, reporter), days.max(0) as u32)).collect();
        Ok(Deadlines { days })
    }

    /// Days after the period a report is due: the province's own deadline, else the nation's, else 0.
    fn days(&self, province: &str, kind: PeriodKind, reporter: ReporterKind) -> u32 {
        let at = |p: &str| self.days.get(&(p.to_owned(), kind as i16, reporter as i16)).copied();
        at(province).or_else(|| at(NATION_DEFAULTS)).unwrap_or(0)
    }

    /// The day a report of `reporter` in `province` for a period of `kind` ending on `last_day` is due.
    pub fn due_day(&self, province: &str, kind: PeriodKind, reporter: ReporterKind, last_day: NaiveDate) -> NaiveDate {
        last_day + chrono::Days::new(u64::from(self.days(province, kind, reporter)))
    }

    /// The day `report` is due: its reviewer's province's deadline for its kinds of period and reporter.
    pub fn due_day_of(&self, report: &super::ReportRow) -> NaiveDate {
        self.due_day(&report.province_code, report.key().period_kind(), report.kind(), report.last_day)
    }

    /// Every deadline in force for `province` (the nation's defaults for [`NATION_DEFAULTS`]).
    pub fn in_force(&self, province: &str) -> Vec<ReportDeadline> {
        let mut deadlines = Vec::new();
        for kind in
            [PeriodKind::Month, PeriodKind::Quarter, PeriodKind::SixMonths, PeriodKind::NineMonths, PeriodKind::Year]
        {
            for reporter in [ReporterKind::Province, ReporterKind::Locality, ReporterKind::Agency] {
                deadlines.push(ReportDeadline {
                    period_kind: kind as i32,
                    reporter_kind: reporter as i32,
                    days_after_period_end: self.days(province, kind, reporter),
                });
            }
        }
        deadlines
    }
}

/// Stores `deadlines` for `province` (or the nation's defaults), replacing those of the same kinds.
pub async fn set(tx: &mut sqlx::PgConnection, province: &str, deadlines: &[ReportDeadline]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO report_deadline (province_code, period_kind, reporter_kind, days_after_period_end)
         SELECT $1, * FROM UNNEST($2::smallint[], $3::smallint[], $4::int[])
         ON CONFLICT (province_code, period_kind, reporter_kind)
         DO UPDATE SET days_after_period_end = EXCLUDED.days_after_period_end",
    )
    .bind(province)
    .bind(deadlines.iter().map(|d| d.period_kind as i16).collect::<Vec<_>>())
    .bind(deadlines.iter().map(|d| d.reporter_kind as i16).collect::<Vec<_>>())
    .bind(deadlines.iter().map(|d| d.days_after_period_end as i32).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provinces_own_deadline_replaces_the_nations() {
        let days = HashMap::from([
            ((NATION_DEFAULTS.to_owned(), PeriodKind::Month as i16, ReporterKind::Locality as i16), 2),
            ((NATION_DEFAULTS.to_owned(), PeriodKind::Month as i16, ReporterKind::Province as i16), 6),
            (("46".to_owned(), PeriodKind::Month as i16, ReporterKind::Locality as i16), 5),
        ]);
        let deadlines = Deadlines { days };
        let october_14 = NaiveDate::from_ymd_opt(2026, 10, 14).unwrap();
        let due = |province, reporter| deadlines.due_day(province, PeriodKind::Month, reporter, october_14).to_string();
        assert_eq!(due("47", ReporterKind::Locality), "2026-10-16");
        assert_eq!(due("46", ReporterKind::Locality), "2026-10-19");
        assert_eq!(due("46", ReporterKind::Province), "2026-10-20");
        // A kind without any deadline is due the period's last day.
        assert_eq!(deadlines.due_day("46", PeriodKind::Year, ReporterKind::Agency, october_14), october_14);
        assert_eq!(deadlines.in_force("46").len(), 15);
    }
}
