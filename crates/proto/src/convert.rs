//! Conversions between wire messages and domain types, written once for every service.

use chrono::{DateTime, Utc};
use onestop_domain::measures::MAX_COUNT;
use onestop_domain::{Measure, Measures};

use crate::aggregation::v1 as aggregation;
use crate::intake::v1 as intake;

/// Whether an enum field holds a known value other than its UNSPECIFIED.
pub fn is_set<E: TryFrom<i32> + PartialEq>(value: i32, unspecified: E) -> bool {
    matches!(E::try_from(value), Ok(e) if e != unspecified)
}

pub fn timestamp_to_wire(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

/// `None` for a timestamp outside chrono's range or with invalid nanoseconds.
pub fn timestamp_from_wire(t: prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

/// Wire measures as domain counts, or each measure that no count can be (negative, or above
/// [`onestop_domain::measures::MAX_COUNT`]) with the reason.
pub fn measures_from_wire(m: &intake::Measures) -> Result<Measures, Vec<(Measure, String)>> {
    let mut out = Measures::default();
    let mut wrong = Vec::new();
    for measure in Measure::ALL {
        let value = *field(m, measure);
        match u64::try_from(value) {
            Err(_) => wrong.push((measure, "is negative; counts are zero or more".to_owned())),
            Ok(value) if value > MAX_COUNT => {
                wrong.push((measure, format!("{value} is above the largest count a cell may hold, {MAX_COUNT}")))
            }
            Ok(value) => out.set(measure, value),
        }
    }
    if wrong.is_empty() {
        Ok(out)
    } else {
        Err(wrong)
    }
}

impl From<&Measures> for intake::Measures {
    /// Counts beyond `i64::MAX` cannot occur (intake stores `bigint`); they saturate rather than wrap.
    fn from(m: &Measures) -> Self {
        let mut out = intake::Measures::default();
        for measure in Measure::ALL {
            *field_mut(&mut out, measure) = i64::try_from(m.get(measure)).unwrap_or(i64::MAX);
        }
        out
    }
}

fn field(m: &intake::Measures, measure: Measure) -> &i64 {
    match measure {
        Measure::ReceivedDirect => &m.received_direct,
        Measure::ReceivedOnline => &m.received_online,
        Measure::ReceivedPostal => &m.received_postal,
        Measure::ResolvedEarly => &m.resolved_early,
        Measure::ResolvedOnTime => &m.resolved_on_time,
        Measure::ResolvedLate => &m.resolved_late,
        Measure::WithdrawnOrReturned => &m.withdrawn_or_returned,
        Measure::ResultsReturnedByPost => &m.results_returned_by_post,
        Measure::ApologyNoticesIssued => &m.apology_notices_issued,
        Measure::PendingInTime => &m.pending_in_time,
        Measure::PendingOverdue => &m.pending_overdue,
    }
}

fn field_mut(m: &mut intake::Measures, measure: Measure) -> &mut i64 {
    match measure {
        Measure::ReceivedDirect => &mut m.received_direct,
        Measure::ReceivedOnline => &mut m.received_online,
        Measure::ReceivedPostal => &mut m.received_postal,
        Measure::ResolvedEarly => &mut m.resolved_early,
        Measure::ResolvedOnTime => &mut m.resolved_on_time,
        Measure::ResolvedLate => &mut m.resolved_late,
        Measure::WithdrawnOrReturned => &mut m.withdrawn_or_returned,
        Measure::ResultsReturnedByPost => &mut m.results_returned_by_post,
        Measure::ApologyNoticesIssued => &mut m.apology_notices_issued,
        Measure::PendingInTime => &mut m.pending_in_time,
        Measure::PendingOverdue => &mut m.pending_overdue,
    }
}

impl From<onestop_domain::IndicatorResult> for aggregation::IndicatorResult {
    fn from(r: onestop_domain::IndicatorResult) -> Self {
        aggregation::IndicatorResult {
            indicator_id: r.indicator_id,
            definition_version: r.definition_version,
            numerator: r.numerator,
            denominator: r.denominator,
            value: r.value,
            target: r.target,
            score: r.score,
            unavailable: r.unavailable.unwrap_or_default(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_round_trip_through_the_wire_type() {
        let mut domain = Measures::default();
        for (i, measure) in Measure::ALL.into_iter().enumerate() {
            domain.set(measure, i as u64 * 7 + 1);
        }
        let wire = intake::Measures::from(&domain);
        assert_eq!(wire.pending_overdue, 10 * 7 + 1);
        assert_eq!(measures_from_wire(&wire), Ok(domain));
    }

    #[test]
    fn impossible_counts_are_named() {
        let wire = intake::Measures { received_online: -1, pending_overdue: 1 << 62, ..Default::default() };
        let wrong: Vec<Measure> = measures_from_wire(&wire).unwrap_err().into_iter().map(|(m, _)| m).collect();
        assert_eq!(wrong, [Measure::ReceivedOnline, Measure::PendingOverdue]);
        let largest = intake::Measures { pending_overdue: MAX_COUNT as i64, ..Default::default() };
        assert!(measures_from_wire(&largest).is_ok());
    }
}
