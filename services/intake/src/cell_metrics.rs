//! What pushes did to cells, as metrics: `onestop_intake_cells_total` by outcome,
//! `onestop_intake_cell_rejections_total` by the kind of field a rejected cell was refused for, and how often and
//! how long bulk streams waited for the change stream's followers (`onestop_intake_bulk_waits_total`,
//! `onestop_intake_bulk_wait_milliseconds_total`).

use onestop_proto::intake::v1::{CellOutcome, FieldProblem, PushCellsResponse};
use onestop_server::metrics::{Counter, CounterVec, Registry};

use crate::push::DUPLICATE;

/// Outcomes as labelled, in the order of [`CellOutcome`]'s values.
const OUTCOMES: [(CellOutcome, &str); 4] = [
    (CellOutcome::Accepted, "accepted"),
    (CellOutcome::Unchanged, "unchanged"),
    (CellOutcome::Stale, "stale"),
    (CellOutcome::Rejected, "rejected"),
];

/// Why a cell was rejected, by the field its problem names: a small fixed set, never the field's own text.
pub const REASONS: [&str; 7] = ["center", "procedure", "day", "measures", "computed_at", "duplicate", "other"];

#[derive(Debug, Clone)]
pub struct CellMetrics {
    outcomes: CounterVec,
    rejections: CounterVec,
    bulk_waits: Counter,
    bulk_wait_milliseconds: Counter,
}

impl Default for CellMetrics {
    /// Counted nowhere anyone reads: for an intake built without a registry.
    fn default() -> Self {
        CellMetrics::new(&Registry::default())
    }
}

impl CellMetrics {
    pub fn new(registry: &Registry) -> CellMetrics {
        let outcomes = registry.counter(
            "onestop_intake_cells_total",
            "Cells of answered pushes, by outcome (accepted, unchanged, stale, rejected); replays are not counted.",
            &["outcome"],
        );
        let rejections = registry.counter(
            "onestop_intake_cell_rejections_total",
            "Rejected cells by what was wrong (a cell wrong in several ways counts once for each kind).",
            &["reason"],
        );
        // Every series from the start, so a dashboard shows a zero rather than nothing.
        for (_, outcome) in OUTCOMES {
            outcomes.with(&[outcome]);
        }
        for reason in REASONS {
            rejections.with(&[reason]);
        }
        let bulk_waits = registry
            .counter(
                "onestop_intake_bulk_waits_total",
                "Bulk stream messages that waited for the change stream's followers to keep up before being stored.",
                &[],
            )
            .with(&[]);
        let bulk_wait_milliseconds = registry
            .counter(
                "onestop_intake_bulk_wait_milliseconds_total",
                "Time bulk stream messages waited for the change stream's followers, in all.",
                &[],
            )
            .with(&[]);
        CellMetrics { outcomes, rejections, bulk_waits, bulk_wait_milliseconds }
    }

    /// Counts a bulk message's wait for the followers (see `pace`); a message that did not wait counts nothing.
    pub fn record_bulk_wait(&self, waited: std::time::Duration) {
        let milliseconds = waited.as_millis() as u64;
        if milliseconds > 0 {
            self.bulk_waits.inc();
            self.bulk_wait_milliseconds.add(milliseconds);
        }
    }

    /// Counts the cells of an answered push; a replayed answer stored nothing and counts nothing.
    pub fn record(&self, answer: &PushCellsResponse) {
        if answer.replayed {
            return;
        }
        for (outcome, label) in OUTCOMES {
            let count = answer.results.iter().filter(|r| r.outcome == outcome as i32).count();
            self.outcomes.with(&[label]).add(count as u64);
        }
        for result in answer.results.iter().filter(|r| r.outcome == CellOutcome::Rejected as i32) {
            let mut reasons: Vec<&str> = result.problems.iter().map(reason).collect();
            reasons.sort_unstable();
            reasons.dedup();
            for reason in reasons {
                self.rejections.with(&[reason]).inc();
            }
        }
    }
}

/// The kind of a problem, from the field it names (`cells[3].measures.received_online` is `measures`).
pub fn reason(problem: &FieldProblem) -> &'static str {
    let field = problem.field.rsplit_once("].").map_or(problem.field.as_str(), |(_, field)| field);
    match field.split('.').next().unwrap_or_default() {
        "center_code" => "center",
        "procedure_code" => "procedure",
        "day" if problem.reason.starts_with(DUPLICATE) => "duplicate",
        "day" => "day",
        "measures" => "measures",
        "computed_at" => "computed_at",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(field: &str, reason: &str) -> FieldProblem {
        FieldProblem { field: field.into(), reason: reason.into() }
    }

    #[test]
    fn a_problem_is_known_by_the_kind_of_its_field() {
        assert_eq!(reason(&problem("cells[0].center_code", "center X not found")), "center");
        assert_eq!(reason(&problem("cells[12].procedure_code", "is not in force")), "procedure");
        assert_eq!(reason(&problem("cells[1].measures.received_online", "over 1000000000")), "measures");
        assert_eq!(reason(&problem("cells[1].measures", "is required")), "measures");
        assert_eq!(reason(&problem("cells[2].day", "2099-01-01 is in the future")), "day");
        assert_eq!(reason(&problem("cells[3].day", &format!("{DUPLICATE} cells[1]"))), "duplicate");
        assert_eq!(reason(&problem("cells[4].computed_at", "is not a valid time")), "computed_at");
        assert_eq!(reason(&problem("cells[5].something_new", "?")), "other");
        for kind in REASONS {
            assert!(!kind.contains('['), "a reason is never a field's own text");
        }
    }
}
