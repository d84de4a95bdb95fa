//! Indicators as data: a numerator and a denominator, each a sum of terms over [`PeriodTotals`].
//!
//! Provinces define on-time and online shares differently, and definitions change over time, so an indicator
//! is a named, versioned formula rather than code. A ratio is always computed from the summed numerator and
//! denominator of everything it covers, never as an average of ratios.

use std::fmt;
use std::str::FromStr;

use crate::measures::{Measure, PeriodTotals};

/// One term of a sum: a measure over the period, or the pending stock carried over from the period before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Term {
    Measure(Measure),
    CarriedOver,
}

impl Term {
    pub fn value(self, totals: &PeriodTotals) -> u64 {
        match self {
            Term::Measure(m) => totals.measures.get(m),
            Term::CarriedOver => totals.carried_over,
        }
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Measure(m) => m.fmt(f),
            Term::CarriedOver => f.write_str("carried_over"),
        }
    }
}

impl FromStr for Term {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "carried_over" => Ok(Term::CarriedOver),
            other => other.parse().map(Term::Measure),
        }
    }
}

/// A sum of terms, written `a + b + c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sum(pub Vec<Term>);

impl Sum {
    pub fn value(&self, totals: &PeriodTotals) -> u64 {
        self.0.iter().map(|t| t.value(totals)).fold(0u64, u64::saturating_add)
    }
}

impl FromStr for Sum {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let terms = s.split('+').map(str::parse).collect::<Result<Vec<Term>, _>>()?;
        Ok(Sum(terms))
    }
}

impl fmt::Display for Sum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, term) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" + ")?;
            }
            term.fmt(f)?;
        }
        Ok(())
    }
}

/// numerator / denominator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formula {
    pub numerator: Sum,
    pub denominator: Sum,
}

impl Formula {
    pub fn parse(numerator: &str, denominator: &str) -> Result<Self, String> {
        Ok(Formula { numerator: numerator.parse()?, denominator: denominator.parse()? })
    }
}

/// A named, versioned indicator definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorDefinition {
    pub id: String,
    pub version: u32,
    pub formula: Formula,
}

impl IndicatorDefinition {
    pub fn evaluate(&self, totals: &PeriodTotals) -> IndicatorResult {
        IndicatorResult::new(
            &self.id,
            self.version,
            self.formula.numerator.value(totals),
            self.formula.denominator.value(totals),
        )
    }
}

/// An indicator's value over a scope, with what it was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorResult {
    pub indicator_id: String,
    pub definition_version: u32,
    pub numerator: u64,
    pub denominator: u64,
    /// Absent when the denominator is zero: "no value", not 0.
    pub value: Option<f64>,
}

impl IndicatorResult {
    pub fn new(indicator_id: &str, definition_version: u32, numerator: u64, denominator: u64) -> Self {
        let value = (denominator != 0).then(|| numerator as f64 / denominator as f64);
        IndicatorResult { indicator_id: indicator_id.to_owned(), definition_version, numerator, denominator, value }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measures::Measures;

    #[test]
    fn formula_parses_and_evaluates_from_sums() {
        let formula =
            Formula::parse("resolved_early + resolved_on_time", "resolved_early+resolved_on_time + resolved_late")
                .unwrap();
        let def = IndicatorDefinition { id: "on_time".into(), version: 1, formula };
        let totals = PeriodTotals {
            measures: Measures::default()
                .with(Measure::ResolvedEarly, 3)
                .with(Measure::ResolvedOnTime, 5)
                .with(Measure::ResolvedLate, 2),
            carried_over: 0,
        };
        let result = def.evaluate(&totals);
        assert_eq!((result.numerator, result.denominator), (8, 10));
        assert_eq!(result.value, Some(0.8));
    }

    #[test]
    fn zero_denominator_has_no_value() {
        let result = IndicatorResult::new("x", 1, 0, 0);
        assert_eq!(result.value, None);
    }

    #[test]
    fn unknown_terms_are_rejected() {
        assert!(Formula::parse("received_online", "received_everything").is_err());
        assert_eq!(
            "received_online + carried_over".parse::<Sum>().unwrap().to_string(),
            "received_online + carried_over"
        );
    }
}
