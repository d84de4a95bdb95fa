//! Everything an indicator can be computed from, over one scope (units, centers) and one period.
//!
//! Most indicators are sums of cell measures; DOMAIN §7 also has indicators over the catalogue (procedures
//! offered online as of a date), over case records (apology coverage and timeliness) and over the pushes
//! themselves (reporting completeness). Each is a counter here, so every indicator stays "a sum over a sum".

use crate::measures::PeriodTotals;

/// Counts of the procedure catalogue as of the period's last day, for the scope's level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatalogueCounts {
    /// Procedures in force.
    pub procedures: u64,
    /// Of those, with an online service (FULL or PARTIAL).
    pub online: u64,
    /// Of those, FULL (toàn trình).
    pub full_online: u64,
    /// Procedures offered online that had at least one case received online in the period.
    pub online_with_online_cases: u64,
}

/// Counts from the case records whose original due date falls in the period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaseCounts {
    /// Cases resolved late or still open past their due date.
    pub late: u64,
    /// Late cases with at least one apology notice.
    pub late_with_notice: u64,
    /// Cases with an apology notice.
    pub noticed: u64,
    /// Cases whose notice was issued no later than one working day before the original due date.
    pub noticed_in_time: u64,
}

/// Whether each center reported each working day of the period on time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportingCounts {
    /// (center, working day) pairs of the period.
    pub expected: u64,
    /// Of those, pushed by the deadline.
    pub on_time: u64,
}

/// The facts of one scope and period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// The cells of every procedure.
    pub cells: PeriodTotals,
    /// The cells of procedures that were FULL online on the cell's day.
    pub full_online_cells: PeriodTotals,
    pub catalogue: CatalogueCounts,
    pub cases: CaseCounts,
    pub reporting: ReportingCounts,
}

impl From<PeriodTotals> for Facts {
    fn from(cells: PeriodTotals) -> Self {
        Facts { cells, ..Default::default() }
    }
}
