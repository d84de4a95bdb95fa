//! The rules of onestop that need neither a network nor a database.
//!
//! - [`calendar`]: working days, holidays and make-up days.
//! - [`measures`]: the eleven measures of a daily cell (DOMAIN §5) and how they add up over a period.
//! - [`period`]: reporting periods under the cut-off rules (calendar, 15th → 14th, ...).
//! - [`form06`]: the 13 columns of the official periodic report and its identities.
//! - [`rescheduling`]: how many times a case's due date moved, however the moves are told.
//! - [`facts`]: everything an indicator is computed from over one scope and period.
//! - [`indicator`]: indicator formulas as sums of terms, and their results with numerator and denominator.
//! - [`validate`]: field-level validation that names the field it rejects.

pub mod calendar;
pub mod facts;
pub mod form06;
pub mod indicator;
pub mod measures;
pub mod period;
pub mod rescheduling;
pub mod validate;

pub use facts::Facts;
pub use indicator::{Fact, Formula, IndicatorDefinition, IndicatorResult, Needs, Term};
pub use measures::{Measure, Measures, PeriodTotals};
pub use validate::{FieldViolation, Violations};

/// Today's date in Vietnam (UTC+7 all year), the calendar every day in onestop is counted in.
pub fn today_in_vietnam(now: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
    (now + chrono::Duration::hours(7)).date_naive()
}
