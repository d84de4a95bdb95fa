//! The measures of a daily cell and their roll-up over a period.
//!
//! A cell is (receiving center, procedure, calendar day). Flows count what happened that day and add up over
//! days; the two pending measures are stocks at the end of the day and do not add up over days.

use std::fmt;
use std::str::FromStr;

/// One measure of a daily cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Measure {
    ReceivedDirect,
    ReceivedOnline,
    ReceivedPostal,
    ResolvedEarly,
    ResolvedOnTime,
    ResolvedLate,
    WithdrawnOrReturned,
    ResultsReturnedByPost,
    ApologyNoticesIssued,
    PendingInTime,
    PendingOverdue,
}

impl Measure {
    /// Every measure, in storage order.
    pub const ALL: [Measure; 11] = [
        Measure::ReceivedDirect,
        Measure::ReceivedOnline,
        Measure::ReceivedPostal,
        Measure::ResolvedEarly,
        Measure::ResolvedOnTime,
        Measure::ResolvedLate,
        Measure::WithdrawnOrReturned,
        Measure::ResultsReturnedByPost,
        Measure::ApologyNoticesIssued,
        Measure::PendingInTime,
        Measure::PendingOverdue,
    ];

    /// The snake_case name used in protos, storage and formulas.
    pub const fn name(self) -> &'static str {
        match self {
            Measure::ReceivedDirect => "received_direct",
            Measure::ReceivedOnline => "received_online",
            Measure::ReceivedPostal => "received_postal",
            Measure::ResolvedEarly => "resolved_early",
            Measure::ResolvedOnTime => "resolved_on_time",
            Measure::ResolvedLate => "resolved_late",
            Measure::WithdrawnOrReturned => "withdrawn_or_returned",
            Measure::ResultsReturnedByPost => "results_returned_by_post",
            Measure::ApologyNoticesIssued => "apology_notices_issued",
            Measure::PendingInTime => "pending_in_time",
            Measure::PendingOverdue => "pending_overdue",
        }
    }

    /// Stocks are open cases at the end of a day; everything else is a flow.
    pub const fn is_stock(self) -> bool {
        matches!(self, Measure::PendingInTime | Measure::PendingOverdue)
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Measure {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Measure::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| format!("unknown measure {s:?}"))
    }
}

/// The largest count a cell's measure may hold: a billion cases of one procedure at one center on one day, ten
/// times Vietnam's population. Intake refuses larger ones, so that sums stay exact: every roll-up row (a center's
/// day, at most one cell per procedure) and every per-center sum over a period fits PostgreSQL's `bigint`, and
/// an answer's sum fits the 64 bits it is answered in until it covers more than 18 billion cells at this count.
/// An answer whose sum would not fit says so ([`SumOverflow`]); no sum ever wraps or saturates.
pub const MAX_COUNT: u64 = 1_000_000_000;

/// A sum too large for the 64 bits an answer carries it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a sum exceeds 2^64 − 1; ask for a smaller scope or period")]
pub struct SumOverflow;

/// `a + b`, or [`SumOverflow`].
pub fn add(a: u64, b: u64) -> Result<u64, SumOverflow> {
    a.checked_add(b).ok_or(SumOverflow)
}

/// The values of the eleven measures of one cell, or of a sum of cells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Measures([u64; 11]);

impl Measures {
    pub fn from_values(values: [u64; 11]) -> Self {
        Measures(values)
    }

    pub fn values(&self) -> [u64; 11] {
        self.0
    }

    pub fn get(&self, measure: Measure) -> u64 {
        self.0[measure.index()]
    }

    pub fn set(&mut self, measure: Measure, value: u64) {
        self.0[measure.index()] = value;
    }

    pub fn with(mut self, measure: Measure, value: u64) -> Self {
        self.set(measure, value);
        self
    }

    /// Adds every measure of `other`.
    pub fn add(&mut self, other: &Measures) -> Result<(), SumOverflow> {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine = add(*mine, theirs)?;
        }
        Ok(())
    }

    /// The three received measures of one cell (each at most [`MAX_COUNT`], so the sum cannot overflow).
    pub fn received(&self) -> u64 {
        self.get(Measure::ReceivedDirect) + self.get(Measure::ReceivedOnline) + self.get(Measure::ReceivedPostal)
    }

    /// The three resolved measures of one cell.
    pub fn resolved(&self) -> u64 {
        self.get(Measure::ResolvedEarly) + self.get(Measure::ResolvedOnTime) + self.get(Measure::ResolvedLate)
    }

    /// The two pending measures of one cell.
    pub fn pending(&self) -> u64 {
        self.get(Measure::PendingInTime) + self.get(Measure::PendingOverdue)
    }
}

/// The totals of a set of cells over a period `[first_day, last_day]`.
///
/// Cells are pushed only when non-zero, so a missing cell means zero for every measure, stocks included. Hence:
/// - flows are the sum over the cells of the period;
/// - stocks at the end are the stocks of the cells on the last day;
/// - the stock carried over from the previous period is the pending stock of the cells on the day before the
///   first day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeriodTotals {
    /// Flows summed over the period; stock measures summed over the cells of the last day.
    pub measures: Measures,
    /// Pending cases (in time + overdue) at the end of the day before the period.
    pub carried_over: u64,
}

impl PeriodTotals {
    /// Adds one cell (or a sum of cells of one position). `position` says where its day lies relative to the
    /// period.
    pub fn add_cell(&mut self, position: DayPosition, cell: &Measures) -> Result<(), SumOverflow> {
        match position {
            DayPosition::BeforePeriod => {
                let pending = add(cell.get(Measure::PendingInTime), cell.get(Measure::PendingOverdue))?;
                self.carried_over = add(self.carried_over, pending)?;
            }
            DayPosition::InPeriod { is_last_day } => {
                for measure in Measure::ALL {
                    if !measure.is_stock() || is_last_day {
                        self.measures.set(measure, add(self.measures.get(measure), cell.get(measure))?);
                    }
                }
            }
            DayPosition::Outside => {}
        }
        Ok(())
    }
}

/// Where a cell's day lies relative to a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayPosition {
    /// The day before the first day: its stock is carried over.
    BeforePeriod,
    InPeriod {
        is_last_day: bool,
    },
    Outside,
}

impl DayPosition {
    pub fn of(day: chrono::NaiveDate, first_day: chrono::NaiveDate, last_day: chrono::NaiveDate) -> Self {
        if day >= first_day && day <= last_day {
            DayPosition::InPeriod { is_last_day: day == last_day }
        } else if first_day.pred_opt() == Some(day) {
            DayPosition::BeforePeriod
        } else {
            DayPosition::Outside
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    #[test]
    fn names_round_trip() {
        for m in Measure::ALL {
            assert_eq!(m.name().parse::<Measure>().unwrap(), m);
        }
        assert!("received".parse::<Measure>().is_err());
    }

    #[test]
    fn flows_add_up_and_stocks_come_from_the_last_day() {
        let cell = |online, pending| {
            Measures::default().with(Measure::ReceivedOnline, online).with(Measure::PendingInTime, pending)
        };
        let mut totals = PeriodTotals::default();
        for (d, online, pending) in [(9, 7, 100), (10, 1, 5), (11, 2, 6), (12, 3, 7), (13, 50, 50)] {
            totals.add_cell(DayPosition::of(day(d), day(10), day(12)), &cell(online, pending)).unwrap();
        }
        assert_eq!(totals.measures.get(Measure::ReceivedOnline), 6);
        assert_eq!(totals.measures.get(Measure::PendingInTime), 7);
        assert_eq!(totals.carried_over, 100);
    }

    #[test]
    fn sums_too_large_for_an_answer_are_refused_not_saturated() {
        let huge = Measures::default().with(Measure::ReceivedOnline, u64::MAX - 1);
        let mut totals = PeriodTotals::default();
        totals.add_cell(DayPosition::InPeriod { is_last_day: false }, &huge).unwrap();
        let one = Measures::default().with(Measure::ReceivedOnline, 1);
        totals.add_cell(DayPosition::InPeriod { is_last_day: false }, &one).unwrap();
        assert_eq!(totals.measures.get(Measure::ReceivedOnline), u64::MAX);
        assert_eq!(totals.add_cell(DayPosition::InPeriod { is_last_day: false }, &one), Err(SumOverflow));
    }
}
