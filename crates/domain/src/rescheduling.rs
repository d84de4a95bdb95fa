//! How many times a case's due date moved, however the moves are told: as due-date changes, as apology notices
//! each stating a new date, or both. A move is the due date becoming a new date; the same move stated twice (a
//! change and a notice naming one new date) counts once, and a "move" to the date already due is none.

use std::collections::BTreeSet;

use chrono::NaiveDate;

/// One statement that a case's due date moved: when it was made (a change's day, a notice's issue) and to what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Move {
    pub made_on: NaiveDate,
    pub new_due_date: NaiveDate,
}

/// The moves of a case's due date, counted once each, and the date it is due now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rescheduling {
    /// Distinct new dates the case was moved to.
    pub moves: usize,
    /// The new date of the latest move (by when it was made; of two made on one day, the later date), or the due
    /// date given at reception when it never moved.
    pub current_due_date: NaiveDate,
}

impl Rescheduling {
    /// Policy (Decree 61/2018 art. 19 and DOMAIN §4): a due date may be moved at most once.
    pub fn more_than_once(&self) -> bool {
        self.moves > 1
    }
}

/// The rescheduling of a case due on `due_date` at reception, from every move stated.
pub fn rescheduling(due_date: NaiveDate, stated: impl IntoIterator<Item = Move>) -> Rescheduling {
    let mut moves: Vec<Move> = stated.into_iter().filter(|m| m.new_due_date != due_date).collect();
    moves.sort();
    let distinct: BTreeSet<NaiveDate> = moves.iter().map(|m| m.new_due_date).collect();
    Rescheduling { moves: distinct.len(), current_due_date: moves.last().map_or(due_date, |m| m.new_due_date) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn moved(made_on: &str, to: &str) -> Move {
        Move { made_on: d(made_on), new_due_date: d(to) }
    }

    #[test]
    fn a_move_told_twice_counts_once() {
        // A due-date change and the notice about it, naming the same new date.
        let r = rescheduling(d("2026-03-10"), [moved("2026-03-08", "2026-03-20"), moved("2026-03-09", "2026-03-20")]);
        assert_eq!(r, Rescheduling { moves: 1, current_due_date: d("2026-03-20") });
        assert!(!r.more_than_once());
    }

    #[test]
    fn two_moves_however_told_count_twice() {
        let as_changes = [moved("2026-03-08", "2026-03-20"), moved("2026-03-18", "2026-03-30")];
        let as_notices = as_changes;
        let mixed =
            [moved("2026-03-08", "2026-03-20"), moved("2026-03-18", "2026-03-30"), moved("2026-03-19", "2026-03-30")];
        for moves in [as_changes.to_vec(), as_notices.to_vec(), mixed.to_vec()] {
            let r = rescheduling(d("2026-03-10"), moves);
            assert_eq!(r, Rescheduling { moves: 2, current_due_date: d("2026-03-30") });
            assert!(r.more_than_once());
        }
    }

    #[test]
    fn the_current_date_is_the_latest_moves_even_if_earlier() {
        let r = rescheduling(d("2026-03-10"), [moved("2026-03-08", "2026-03-20"), moved("2026-03-12", "2026-03-15")]);
        assert_eq!(r.current_due_date, d("2026-03-15"));
        let never = rescheduling(d("2026-03-10"), [moved("2026-03-08", "2026-03-10")]);
        assert_eq!(never, Rescheduling { moves: 0, current_due_date: d("2026-03-10") });
    }
}
