//! What a case record says about the rules of Decree 61/2018 art. 19 and DOMAIN §4, computed without I/O:
//! outcome against the original due date, repeated rescheduling, notices issued too late, new dates that are
//! not later, late cases without a notice, and new dates missed too.

use chrono::NaiveDate;
use onestop_domain::calendar::WorkingCalendar;
use onestop_domain::rescheduling::{rescheduling, Move, Rescheduling};
use onestop_proto::intake::v1::{CaseFindings, CaseOutcome, CaseStatus};

/// The dates of a case that the rules look at.
#[derive(Debug, Clone, Default)]
pub struct CaseDates {
    pub status: Option<CaseStatus>,
    pub due_date: NaiveDate,
    pub resolved_on: Option<NaiveDate>,
    /// (previous, new, changed on) of each due-date change, in order.
    pub due_date_changes: Vec<(NaiveDate, NaiveDate, NaiveDate)>,
    /// (issued on, original due date, new due date) of each apology notice.
    pub notices: Vec<(NaiveDate, NaiveDate, NaiveDate)>,
}

impl CaseDates {
    /// Every move of the due date, as changes and notices state them, counted once each.
    pub fn rescheduling(&self) -> Rescheduling {
        let changes = self.due_date_changes.iter().map(|&(_, new, on)| Move { made_on: on, new_due_date: new });
        let notices = self.notices.iter().map(|&(issued, _, new)| Move { made_on: issued, new_due_date: new });
        rescheduling(self.due_date, changes.chain(notices))
    }
}

/// The findings on `case` as of `today`, with `calendar` for the working-day rule.
pub fn findings(case: &CaseDates, today: NaiveDate, calendar: &WorkingCalendar) -> CaseFindings {
    let mut f = CaseFindings::default();
    let against = |day: NaiveDate, due: NaiveDate| match day.cmp(&due) {
        std::cmp::Ordering::Less => CaseOutcome::Early,
        std::cmp::Ordering::Equal => CaseOutcome::OnTime,
        std::cmp::Ordering::Greater => CaseOutcome::Late,
    };
    let outcome = match (case.status, case.resolved_on) {
        (Some(CaseStatus::Resolved), Some(resolved)) => against(resolved, case.due_date),
        (Some(CaseStatus::InProgress), _) if today > case.due_date => CaseOutcome::Overdue,
        (Some(CaseStatus::InProgress), _) => CaseOutcome::InTime,
        _ => CaseOutcome::ClosedWithoutResult,
    };
    f.outcome = outcome as i32;

    // Policy: the return date may be rescheduled at most once, however the moves are told.
    f.rescheduled_more_than_once = case.rescheduling().more_than_once();
    f.new_due_date_not_later = case.due_date_changes.iter().any(|(previous, new, _)| new <= previous)
        || case.notices.iter().any(|(_, original, new)| new <= original);
    f.late_without_notice = matches!(outcome, CaseOutcome::Late | CaseOutcome::Overdue) && case.notices.is_empty();

    // A notice is due no later than one working day before the original due date.
    for (issued, original, _) in &case.notices {
        match calendar.add_working_days(*original, -1) {
            Ok(deadline) => f.notice_after_deadline |= *issued > deadline,
            Err(missing) => f.not_assessed.push(format!("notice_after_deadline: {missing}")),
        }
    }
    f.not_assessed.dedup();

    let rescheduling = case.rescheduling();
    if rescheduling.moves > 0 {
        let new_date = rescheduling.current_due_date;
        f.missed_new_due_date = match (case.status, case.resolved_on) {
            (Some(CaseStatus::Resolved), Some(resolved)) => resolved > new_date,
            (Some(CaseStatus::InProgress), _) => today > new_date,
            _ => false,
        };
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use onestop_domain::calendar::DayKind;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn calendar() -> WorkingCalendar {
        WorkingCalendar::new([2026], [(d("2026-04-30"), DayKind::Holiday), (d("2026-05-01"), DayKind::Holiday)])
    }

    #[test]
    fn outcome_counts_against_the_original_due_date() {
        let mut case = CaseDates {
            status: Some(CaseStatus::Resolved),
            due_date: d("2026-03-10"),
            resolved_on: Some(d("2026-03-12")),
            due_date_changes: vec![(d("2026-03-10"), d("2026-03-15"), d("2026-03-08"))],
            notices: vec![(d("2026-03-09"), d("2026-03-10"), d("2026-03-15"))],
        };
        let f = findings(&case, d("2026-06-01"), &calendar());
        assert_eq!(f.outcome, CaseOutcome::Late as i32);
        assert!(!f.late_without_notice && !f.missed_new_due_date && !f.rescheduled_more_than_once);
        assert!(!f.notice_after_deadline, "issued on the working day before the due date");

        case.resolved_on = Some(d("2026-03-16"));
        case.notices.clear();
        let f = findings(&case, d("2026-06-01"), &calendar());
        assert!(f.late_without_notice && f.missed_new_due_date);
    }

    #[test]
    fn a_notice_must_come_a_working_day_before_the_due_date() {
        // Due Monday 4 May 2026: the working day before is Wednesday 29 April (30 April, 1 May off).
        let case = |issued: &str| CaseDates {
            status: Some(CaseStatus::InProgress),
            due_date: d("2026-05-04"),
            notices: vec![(d(issued), d("2026-05-04"), d("2026-05-11"))],
            ..Default::default()
        };
        assert!(!findings(&case("2026-04-29"), d("2026-05-02"), &calendar()).notice_after_deadline);
        assert!(findings(&case("2026-05-01"), d("2026-05-02"), &calendar()).notice_after_deadline);
    }

    #[test]
    fn repeated_or_earlier_reschedules_and_missing_calendars_are_flagged() {
        let case = CaseDates {
            status: Some(CaseStatus::InProgress),
            due_date: d("2026-03-10"),
            due_date_changes: vec![
                (d("2026-03-10"), d("2026-03-20"), d("2026-03-08")),
                (d("2026-03-20"), d("2026-03-18"), d("2026-03-12")),
            ],
            notices: vec![(d("2027-01-05"), d("2027-01-06"), d("2027-01-20"))],
            ..Default::default()
        };
        let f = findings(&case, d("2026-03-15"), &calendar());
        assert!(f.rescheduled_more_than_once && f.new_due_date_not_later);
        assert_eq!(f.outcome, CaseOutcome::Overdue as i32);
        assert_eq!(f.not_assessed, ["notice_after_deadline: the working-day calendar of 2027 is not loaded"]);
    }
}
