//! Indicators as data: a numerator and a denominator, each a sum of terms over [`Facts`].
//!
//! Provinces define on-time and online shares differently, and definitions change over time, so an indicator
//! is a named, versioned formula rather than code. A ratio is always computed from the summed numerator and
//! denominator of everything it covers, never as an average of ratios.

use std::fmt;
use std::str::FromStr;

use crate::facts::Facts;
use crate::measures::{add, Measure, SumOverflow};

/// A counter that is not a cell measure: from the catalogue, the case records or the pushes themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fact {
    Procedures,
    ProceduresOnline,
    ProceduresFullOnline,
    ProceduresOnlineWithOnlineCases,
    LateCases,
    LateCasesWithNotice,
    NoticedCases,
    NoticedCasesInTime,
    CenterDaysExpected,
    CenterDaysReportedOnTime,
}

impl Fact {
    pub const ALL: [Fact; 10] = [
        Fact::Procedures,
        Fact::ProceduresOnline,
        Fact::ProceduresFullOnline,
        Fact::ProceduresOnlineWithOnlineCases,
        Fact::LateCases,
        Fact::LateCasesWithNotice,
        Fact::NoticedCases,
        Fact::NoticedCasesInTime,
        Fact::CenterDaysExpected,
        Fact::CenterDaysReportedOnTime,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Fact::Procedures => "procedures",
            Fact::ProceduresOnline => "procedures_online",
            Fact::ProceduresFullOnline => "procedures_full_online",
            Fact::ProceduresOnlineWithOnlineCases => "procedures_online_with_online_cases",
            Fact::LateCases => "late_cases",
            Fact::LateCasesWithNotice => "late_cases_with_notice",
            Fact::NoticedCases => "noticed_cases",
            Fact::NoticedCasesInTime => "noticed_cases_in_time",
            Fact::CenterDaysExpected => "center_days_expected",
            Fact::CenterDaysReportedOnTime => "center_days_reported_on_time",
        }
    }

    fn value(self, facts: &Facts) -> u64 {
        let (c, k, r) = (&facts.catalogue, &facts.cases, &facts.reporting);
        match self {
            Fact::Procedures => c.procedures,
            Fact::ProceduresOnline => c.online,
            Fact::ProceduresFullOnline => c.full_online,
            Fact::ProceduresOnlineWithOnlineCases => c.online_with_online_cases,
            Fact::LateCases => k.late,
            Fact::LateCasesWithNotice => k.late_with_notice,
            Fact::NoticedCases => k.noticed,
            Fact::NoticedCasesInTime => k.noticed_in_time,
            Fact::CenterDaysExpected => r.expected,
            Fact::CenterDaysReportedOnTime => r.on_time,
        }
    }
}

/// One term of a sum: a measure over the period, the pending stock carried over from the period before, either
/// restricted to the procedures that were FULL online on the cell's day (`full_online.` prefix), or a [`Fact`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Term {
    Measure(Measure),
    CarriedOver,
    FullOnline(Measure),
    FullOnlineCarriedOver,
    Fact(Fact),
}

const FULL_ONLINE_PREFIX: &str = "full_online.";

impl Term {
    pub fn value(self, facts: &Facts) -> u64 {
        match self {
            Term::Measure(m) => facts.cells.measures.get(m),
            Term::CarriedOver => facts.cells.carried_over,
            Term::FullOnline(m) => facts.full_online_cells.measures.get(m),
            Term::FullOnlineCarriedOver => facts.full_online_cells.carried_over,
            Term::Fact(f) => f.value(facts),
        }
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Measure(m) => m.fmt(f),
            Term::CarriedOver => f.write_str("carried_over"),
            Term::FullOnline(m) => write!(f, "{FULL_ONLINE_PREFIX}{m}"),
            Term::FullOnlineCarriedOver => write!(f, "{FULL_ONLINE_PREFIX}carried_over"),
            Term::Fact(fact) => f.write_str(fact.name()),
        }
    }
}

impl FromStr for Term {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix(FULL_ONLINE_PREFIX) {
            return match rest {
                "carried_over" => Ok(Term::FullOnlineCarriedOver),
                other => other.parse().map(Term::FullOnline),
            };
        }
        if s == "carried_over" {
            return Ok(Term::CarriedOver);
        }
        if let Some(fact) = Fact::ALL.into_iter().find(|f| f.name() == s) {
            return Ok(Term::Fact(fact));
        }
        s.parse().map(Term::Measure).map_err(|_| {
            format!("unknown term {s:?}: a measure, carried_over, full_online.<measure>, or one of {}", {
                Fact::ALL.map(Fact::name).join(", ")
            })
        })
    }
}

/// Which sources a set of formulas reads beyond the cells of every procedure, so an answer computes only those.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub full_online_cells: bool,
    /// The pending stocks of FULL online procedures alone (a stock or the carried-over of `full_online.`).
    pub full_online_stocks: bool,
    pub catalogue: bool,
    pub online_cases: bool,
    pub cases: bool,
    pub reporting: bool,
}

impl Needs {
    fn add(&mut self, term: Term) {
        match term {
            Term::Measure(_) | Term::CarriedOver => {}
            Term::FullOnline(measure) => {
                self.full_online_cells = true;
                self.full_online_stocks |= measure.is_stock();
            }
            Term::FullOnlineCarriedOver => {
                self.full_online_cells = true;
                self.full_online_stocks = true;
            }
            Term::Fact(Fact::ProceduresOnlineWithOnlineCases) => {
                self.catalogue = true;
                self.online_cases = true;
            }
            Term::Fact(Fact::Procedures | Fact::ProceduresOnline | Fact::ProceduresFullOnline) => self.catalogue = true,
            Term::Fact(Fact::LateCases | Fact::LateCasesWithNotice | Fact::NoticedCases | Fact::NoticedCasesInTime) => {
                self.cases = true
            }
            Term::Fact(Fact::CenterDaysExpected | Fact::CenterDaysReportedOnTime) => self.reporting = true,
        }
    }

    pub fn of<'a>(definitions: impl IntoIterator<Item = &'a IndicatorDefinition>) -> Needs {
        let mut needs = Needs::default();
        for d in definitions {
            for term in d.formula.numerator.0.iter().chain(&d.formula.denominator.0) {
                needs.add(*term);
            }
        }
        needs
    }
}

/// A sum of terms, written `a + b + c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sum(pub Vec<Term>);

impl Sum {
    pub fn value(&self, facts: &Facts) -> Result<u64, SumOverflow> {
        self.0.iter().try_fold(0u64, |sum, t| add(sum, t.value(facts)))
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

/// A named, versioned indicator definition, with the target and points of a 766-style score when set.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorDefinition {
    pub id: String,
    pub version: u32,
    pub formula: Formula,
    /// The value to reach (a fraction, 0 < target ≤ 1).
    pub target: Option<f64>,
    /// The points the indicator is worth in a score (Decision 766: P).
    pub max_points: Option<f64>,
}

impl IndicatorDefinition {
    pub fn new(id: &str, version: u32, formula: Formula) -> Self {
        IndicatorDefinition { id: id.to_owned(), version, formula, target: None, max_points: None }
    }

    pub fn evaluate(&self, facts: &Facts) -> IndicatorResult {
        let (numerator, denominator) =
            match (self.formula.numerator.value(facts), self.formula.denominator.value(facts)) {
                (Ok(numerator), Ok(denominator)) => (numerator, denominator),
                (Err(overflow), _) | (_, Err(overflow)) => {
                    return IndicatorResult::unavailable(self, &overflow.to_string())
                }
            };
        let mut result = IndicatorResult::new(&self.id, self.version, numerator, denominator);
        result.target = self.target;
        result.score = match (result.value, self.max_points) {
            (Some(value), Some(points)) => Some(score(value, self.target, points)),
            _ => None,
        };
        result
    }
}

/// Decision 766's rule: with a target T and P points, P × min(1, R / T); without a target, P × R.
pub fn score(value: f64, target: Option<f64>, points: f64) -> f64 {
    match target {
        Some(t) if t > 0.0 => points * (value / t).min(1.0),
        _ => points * value,
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
    pub target: Option<f64>,
    /// Absent without points, or without a value: no points when the denominator is 0.
    pub score: Option<f64>,
    /// Why it could not be computed (for example a year without a working-day calendar).
    pub unavailable: Option<String>,
}

impl IndicatorResult {
    pub fn new(indicator_id: &str, definition_version: u32, numerator: u64, denominator: u64) -> Self {
        let value = (denominator != 0).then(|| numerator as f64 / denominator as f64);
        IndicatorResult {
            indicator_id: indicator_id.to_owned(),
            definition_version,
            numerator,
            denominator,
            value,
            target: None,
            score: None,
            unavailable: None,
        }
    }

    /// A result that could not be computed, and why: no numerator, denominator or value.
    pub fn unavailable(definition: &IndicatorDefinition, reason: &str) -> Self {
        IndicatorResult {
            target: definition.target,
            unavailable: Some(reason.to_owned()),
            ..IndicatorResult::new(&definition.id, definition.version, 0, 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measures::{Measures, PeriodTotals};

    #[test]
    fn formula_parses_and_evaluates_from_sums() {
        let formula =
            Formula::parse("resolved_early + resolved_on_time", "resolved_early+resolved_on_time + resolved_late")
                .unwrap();
        let def = IndicatorDefinition::new("on_time", 1, formula);
        let facts: Facts = PeriodTotals {
            measures: Measures::default()
                .with(Measure::ResolvedEarly, 3)
                .with(Measure::ResolvedOnTime, 5)
                .with(Measure::ResolvedLate, 2),
            carried_over: 0,
        }
        .into();
        let result = def.evaluate(&facts);
        assert_eq!((result.numerator, result.denominator), (8, 10));
        assert_eq!(result.value, Some(0.8));
        assert_eq!(result.score, None, "no points, no score");
    }

    #[test]
    fn scores_follow_decision_766() {
        assert!((score(0.4, Some(0.5), 12.0) - 9.6).abs() < 1e-9);
        assert!((score(0.8, Some(0.5), 12.0) - 12.0).abs() < 1e-9, "capped at the points");
        assert!((score(0.97, None, 20.0) - 19.4).abs() < 1e-9);
        let mut def = IndicatorDefinition::new("x", 1, Formula::parse("received_online", "resolved_late").unwrap());
        def.max_points = Some(20.0);
        assert_eq!(def.evaluate(&Facts::default()).score, None, "no points when the denominator is 0");
    }

    #[test]
    fn terms_name_facts_and_full_online_measures() {
        let formula = Formula::parse(
            "full_online.received_online",
            "full_online.received_direct + full_online.received_online + late_cases",
        )
        .unwrap();
        assert_eq!(
            formula.denominator.to_string(),
            "full_online.received_direct + full_online.received_online + late_cases"
        );
        let needs = Needs::of([&IndicatorDefinition::new("x", 1, formula)]);
        assert!(needs.full_online_cells && needs.cases && !needs.catalogue && !needs.reporting);
        let mut facts = Facts::default();
        facts.full_online_cells.measures.set(Measure::ReceivedOnline, 4);
        facts.cells.measures.set(Measure::ReceivedOnline, 9);
        facts.cases.late = 2;
        let def =
            IndicatorDefinition::new("x", 1, Formula::parse("full_online.received_online", "late_cases").unwrap());
        assert_eq!(def.evaluate(&facts).numerator, 4);
        assert!(Formula::parse("full_online.late_cases", "procedures").is_err());
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
