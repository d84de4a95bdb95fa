//! Field validation that says which field is wrong and why.
//!
//! Field paths follow the request message, for example `cells[3].procedure_code`, so a sender can find the
//! value to fix.

use chrono::{Datelike, NaiveDate};

/// One rejected field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub reason: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldViolation { field: field.into(), reason: reason.into() }
    }
}

impl std::fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Collects the violations of one request, so that all of them are reported at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldViolation::new(field, reason));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was rejected.
    pub fn into_result(self) -> Result<(), Vec<FieldViolation>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }

    /// Parses a required ISO 8601 date, recording a violation when it is missing or malformed.
    pub fn date(&mut self, field: &str, value: &str) -> Option<NaiveDate> {
        match parse_date(value) {
            Ok(date) => Some(date),
            Err(reason) => {
                self.add(field, reason);
                None
            }
        }
    }

    /// Parses an optional ISO 8601 date: empty means absent.
    pub fn optional_date(&mut self, field: &str, value: &str) -> Option<NaiveDate> {
        if value.is_empty() {
            None
        } else {
            self.date(field, value)
        }
    }

    /// Checks that the year of a date or a moment is one onestop accepts ([`YEARS`]).
    pub fn year(&mut self, field: &str, year: i32) -> bool {
        match check_year(year) {
            Ok(()) => true,
            Err(reason) => {
                self.add(field, reason);
                false
            }
        }
    }

    /// Checks a code: required, at most 64 characters, no whitespace or control characters. Codes are opaque
    /// strings (national codes, statistics codes), so nothing else is assumed of them.
    pub fn code(&mut self, field: &str, value: &str) -> bool {
        match check_code(value) {
            Ok(()) => true,
            Err(reason) => {
                self.add(field, reason);
                false
            }
        }
    }

    /// Checks a procedure's national code, loosely: a code as [`Violations::code`] that starts with a digit and
    /// holds only letters, digits, `.`, `-` and `_` (`1.000948`, `2.001218.000.00.00.H38`).
    pub fn procedure_code(&mut self, field: &str, value: &str) -> bool {
        if !self.code(field, value) {
            return false;
        }
        let well_formed = value.starts_with(|c: char| c.is_ascii_digit())
            && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !well_formed {
            self.add(field, format!("{value:?} is not a procedure code such as 1.000948 or 2.001218.000.00.00.H38"));
        }
        well_formed
    }

    /// Checks that a list holds at most `max` items: every list in a request is bounded.
    pub fn at_most(&mut self, field: &str, len: usize, max: usize) -> bool {
        if len > max {
            self.add(field, format!("holds {len} items; at most {max} are accepted"));
            false
        } else {
            true
        }
    }

    /// The value of an enum field, or `None` with a violation when the number is none of the enum's: an unknown
    /// value is refused, never read as UNSPECIFIED ("none" or "all").
    pub fn known<E: TryFrom<i32>>(&mut self, field: &str, value: i32) -> Option<E> {
        match E::try_from(value) {
            Ok(known) => Some(known),
            Err(_) => {
                self.add(field, format!("{value} is not one of the field's values"));
                None
            }
        }
    }

    /// Checks a required free-text field: one line, no control characters (a NUL cannot even be stored).
    pub fn text(&mut self, field: &str, value: &str, max_chars: usize) -> bool {
        self.checked_text(field, value, max_chars, false)
    }

    /// Checks a required free-text field that may span lines (a reason, a description): tabs and line breaks
    /// are allowed, other control characters are not.
    pub fn multiline_text(&mut self, field: &str, value: &str, max_chars: usize) -> bool {
        self.checked_text(field, value, max_chars, true)
    }

    /// Checks an optional free-text field: empty, or as [`Violations::text`].
    pub fn optional_text(&mut self, field: &str, value: &str, max_chars: usize) -> bool {
        value.is_empty() || self.checked_text(field, value, max_chars, false)
    }

    fn checked_text(&mut self, field: &str, value: &str, max_chars: usize, multiline: bool) -> bool {
        if value.trim().is_empty() {
            self.add(field, "is required");
            false
        } else if value.chars().count() > max_chars {
            self.add(field, format!("is longer than {max_chars} characters"));
            false
        } else if let Some(c) = value.chars().find(|c| is_forbidden(*c, multiline)) {
            self.add(field, format!("contains the control character U+{:04X}", u32::from(c)));
            false
        } else {
            true
        }
    }
}

/// Control characters never belong in text onestop keeps; line breaks and tabs only where text may span lines.
fn is_forbidden(c: char, multiline: bool) -> bool {
    c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'))
}

/// The years a date in onestop may fall in. Records of one-stop centers begin long after 1900 and no deadline
/// runs past 2200; anything outside is a mistake (or an attack), and PostgreSQL could not hold some of it.
pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=2200;

/// Parses an ISO 8601 date (`2025-07-01`) in the years onestop accepts ([`YEARS`]).
pub fn parse_date(value: &str) -> Result<NaiveDate, String> {
    if value.is_empty() {
        return Err("is required (an ISO 8601 date such as 2025-07-01)".into());
    }
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| format!("{value:?} is not an ISO 8601 date such as 2025-07-01"))?;
    check_year(date.year()).map(|()| date)
}

/// Checks that a year is one onestop accepts ([`YEARS`]).
pub fn check_year(year: i32) -> Result<(), String> {
    if YEARS.contains(&year) {
        Ok(())
    } else {
        Err(format!("the year {year} is outside {}–{}", YEARS.start(), YEARS.end()))
    }
}

pub fn check_code(value: &str) -> Result<(), String> {
    if value.is_empty() {
        Err("is required".into())
    } else if value.chars().count() > 64 {
        Err("is longer than 64 characters".into())
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err(format!("{value:?} contains whitespace or control characters"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_name_the_field() {
        let mut v = Violations::new();
        assert!(v.date("period.from_day", "2025-13-01").is_none());
        assert!(v.date("period.to_day", "2025-12-31").is_some());
        let errors = v.into_result().unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "period.from_day");
    }

    #[test]
    fn dates_stay_within_sane_years() {
        assert!(parse_date("-5000-01-01").is_err());
        assert!(parse_date("+262143-12-31").is_err());
        assert!(parse_date("1899-12-31").unwrap_err().contains("1899"));
        assert!(parse_date("1900-01-01").is_ok());
        assert!(parse_date("2200-12-31").is_ok());
        assert!(parse_date("2201-01-01").is_err());
        let mut v = Violations::new();
        assert!(v.year("a", 2200) && !v.year("b", -5000) && !v.year("c", 1 << 30));
        let fields: Vec<String> = v.into_result().unwrap_err().into_iter().map(|f| f.field).collect();
        assert_eq!(fields, ["b", "c"]);
    }

    #[test]
    fn text_refuses_control_characters() {
        let mut v = Violations::new();
        assert!(!v.text("a", "Hộ tịch\0", 100));
        assert!(!v.text("b", "line\nbreak", 100));
        assert!(v.multiline_text("c", "line\nbreak\tand tab", 100));
        assert!(!v.multiline_text("d", "bell\u{7}", 100));
        assert!(v.text("e", "Ủy ban nhân dân xã Đồng Hới", 100));
        assert!(v.optional_text("f", "", 10));
        assert!(!v.optional_text("g", "\u{1b}[31m", 10));
        let fields: Vec<String> = v.into_result().unwrap_err().into_iter().map(|f| f.field).collect();
        assert_eq!(fields, ["a", "b", "d", "g"]);
    }

    #[test]
    fn codes_are_opaque_but_sane() {
        assert!(check_code("2.001218.000.00.00.H38").is_ok());
        assert!(check_code("").is_err());
        assert!(check_code("1.000 948").is_err());
        let mut v = Violations::new();
        assert!(v.procedure_code("a", "2.001218.000.00.00.H38"));
        assert!(!v.procedure_code("b", "TTHC-1"));
        assert!(!v.procedure_code("c", "1.0009/48"));
        assert_eq!(v.into_result().unwrap_err().len(), 2);
    }
}
