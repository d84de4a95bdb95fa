//! What a command asks about: a unit or a center, and a period.

use anyhow::{bail, Context};
use onestop_proto::aggregation::v1::{CutOffRule, DayRange, PeriodKind, ReportingPeriod};

use crate::args::{CutOff, Period, Place, Scope};

/// A unit's or a center's code, exactly one of them non-empty.
pub struct Target {
    pub unit_code: String,
    pub center_code: String,
}

impl Place {
    pub fn target(&self) -> anyhow::Result<Target> {
        let unit_code = self.unit.clone().unwrap_or_default();
        let center_code = self.center.clone().unwrap_or_default();
        if unit_code.is_empty() == center_code.is_empty() {
            bail!("give --unit or --center");
        }
        Ok(Target { unit_code, center_code })
    }
}

/// A period as the services take it: a day range or a reporting period.
pub struct Days {
    pub range: Option<DayRange>,
    pub reporting: Option<ReportingPeriod>,
}

impl Period {
    pub fn days(&self) -> anyhow::Result<Days> {
        let cut_off = match self.cut_off {
            CutOff::Calendar => CutOffRule::Calendar,
            CutOff::Decree09 => CutOffRule::Decree09,
        } as i32;
        match (&self.from, &self.to, &self.period) {
            (Some(from), Some(to), None) => {
                Ok(Days { range: Some(DayRange { from_day: from.clone(), to_day: to.clone() }), reporting: None })
            }
            (None, None, Some(period)) => {
                let parts: Vec<&str> = period.split(':').collect();
                let kind = match parts[0] {
                    "month" => PeriodKind::Month,
                    "quarter" => PeriodKind::Quarter,
                    "half" => PeriodKind::SixMonths,
                    "nine-months" => PeriodKind::NineMonths,
                    "year" => PeriodKind::Year,
                    other => bail!("--period {other:?}: month, quarter, half, nine-months or year"),
                };
                let year = parts.get(1).and_then(|y| y.parse().ok()).context("--period: KIND:YEAR[:NUMBER]")?;
                let number = parts.get(2).and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
                let reporting = ReportingPeriod { kind: kind as i32, year, number, cut_off, month_starts_on: 0 };
                Ok(Days { range: None, reporting: Some(reporting) })
            }
            _ => bail!("give --from and --to, or --period"),
        }
    }
}

impl Scope {
    pub fn target(&self) -> anyhow::Result<Target> {
        Place { unit: self.unit.clone(), center: self.center.clone() }.target()
    }
}

/// A range of days from optional --from and --to (clap makes them come together).
pub fn optional_range(from: &Option<String>, to: &Option<String>) -> Option<DayRange> {
    match (from, to) {
        (Some(from), Some(to)) => Some(DayRange { from_day: from.clone(), to_day: to.clone() }),
        _ => None,
    }
}
