//! Deterministic, realistic data for tests, benchmarks and demonstrations: the same seed always gives the
//! same data.
//!
//! - [`units`]: a country of provinces, districts and communes before the 1 July 2025 reorganisation, and the
//!   34 provinces and 3,321 communes after it, with the merges between them, as the units CSV file;
//! - [`catalogue`]: sectors and a province's procedures published over several decisions (new, amended,
//!   replaced, abolished), with an independent model of what is in force on any day;
//! - [`province`]: a province's centers and a year of daily cells and late case records;
//! - [`calendar`]: working-day calendars with public holidays and make-up days.

pub mod calendar;
pub mod catalogue;
pub mod province;
pub mod rng;
pub mod units;
