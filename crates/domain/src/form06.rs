//! Form 06 (Biểu 06/VPCP/KSTT, Circular 01/2020/TT-VPCP): the 13 columns of one row from period totals, the
//! identities a row must satisfy, and how a definition's headings are laid out as the printed table head. The
//! headings themselves are data (a versioned form definition), so a new circular relabels them without code.

use crate::measures::{add, Measure, PeriodTotals, SumOverflow};

/// The form's columns: (1) the row's number, (2) the sector or level, (3) to (13) the counts of
/// [`Form06Counts::columns`]. A definition of the form may relabel them, never reorder them.
pub const COLUMN_COUNT: usize = 13;

/// The deepest stack of headings a column may have: a group, a subgroup ("Trong kỳ"), the column's own.
pub const MAX_HEADING_LEVELS: usize = 3;

/// One cell of the table head: its text, and the rows and columns it spans (counted from 0 within the head).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadingCell {
    pub text: String,
    pub first_row: usize,
    pub last_row: usize,
    pub first_column: usize,
    pub last_column: usize,
}

/// The table head as printed: as many rows as the deepest column has headings, and its cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadingLayout {
    pub rows: usize,
    pub cells: Vec<HeadingCell>,
}

/// Lays out the table head from each column's headings, outermost first. Neighbouring columns that share their
/// leading headings are grouped under one cell ("Số hồ sơ nhận giải quyết" over its four columns); a column's
/// last heading reaches down to the head's last row ("STT", "Tổng số"). Fails, naming the column, when a column
/// has no heading, more than [`MAX_HEADING_LEVELS`], or when a heading over several columns is also the last of
/// one of them (it could not both group them and sit above that column alone).
pub fn heading_layout(columns: &[Vec<String>]) -> Result<HeadingLayout, (usize, String)> {
    for (i, headings) in columns.iter().enumerate() {
        if headings.is_empty() || headings.len() > MAX_HEADING_LEVELS {
            return Err((i, format!("needs 1 to {MAX_HEADING_LEVELS} headings, outermost first")));
        }
    }
    let rows = columns.iter().map(Vec::len).max().unwrap_or(0);
    let mut cells = Vec::new();
    for row in 0..rows {
        let mut first = 0;
        while first < columns.len() {
            if columns[first].len() <= row {
                // Covered by this column's last heading, reaching down.
                first += 1;
                continue;
            }
            let prefix = &columns[first][..=row];
            let mut last = first;
            while columns.get(last + 1).is_some_and(|next| next.len() > row && next[..=row] == *prefix) {
                last += 1;
            }
            let ends_here = |c: usize| columns[c].len() == row + 1;
            if last > first {
                if let Some(c) = (first..=last).find(|c| ends_here(*c)) {
                    let heading = &columns[c][row];
                    return Err((
                        c,
                        format!(
                            "{heading:?} groups columns {} to {}, so it cannot also be this column's last heading",
                            first + 1,
                            last + 1
                        ),
                    ));
                }
            }
            cells.push(HeadingCell {
                text: columns[first][row].clone(),
                first_row: row,
                last_row: if ends_here(first) { rows - 1 } else { row },
                first_column: first,
                last_column: last,
            });
            first = last + 1;
        }
    }
    Ok(HeadingLayout { rows, cells })
}

/// The counts of one row (columns 3 to 13), and the cases closed without a result that complete the balance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Form06Counts {
    pub received_total: u64,
    pub received_online: u64,
    pub received_direct_or_postal: u64,
    pub carried_over: u64,
    pub resolved_total: u64,
    pub resolved_early: u64,
    pub resolved_on_time: u64,
    pub resolved_late: u64,
    pub pending_total: u64,
    pub pending_in_time: u64,
    pub pending_overdue: u64,
    /// Returned, withdrawn or rejected: not a column, but part of the balance 3 = 7 + 11 + this.
    pub withdrawn_or_returned: u64,
}

impl Form06Counts {
    pub fn from_totals(t: &PeriodTotals) -> Result<Self, SumOverflow> {
        let m = &t.measures;
        let received_online = m.get(Measure::ReceivedOnline);
        let received_direct_or_postal = add(m.get(Measure::ReceivedDirect), m.get(Measure::ReceivedPostal))?;
        let (early, on_time, late) =
            (m.get(Measure::ResolvedEarly), m.get(Measure::ResolvedOnTime), m.get(Measure::ResolvedLate));
        let (in_time, overdue) = (m.get(Measure::PendingInTime), m.get(Measure::PendingOverdue));
        Ok(Form06Counts {
            received_total: add(add(received_online, received_direct_or_postal)?, t.carried_over)?,
            received_online,
            received_direct_or_postal,
            carried_over: t.carried_over,
            resolved_total: add(add(early, on_time)?, late)?,
            resolved_early: early,
            resolved_on_time: on_time,
            resolved_late: late,
            pending_total: add(in_time, overdue)?,
            pending_in_time: in_time,
            pending_overdue: overdue,
            withdrawn_or_returned: m.get(Measure::WithdrawnOrReturned),
        })
    }

    /// Adds another row's counts: subtotals and totals are sums of rows.
    pub fn add(&mut self, other: &Form06Counts) -> Result<(), SumOverflow> {
        let Form06Counts {
            received_total,
            received_online,
            received_direct_or_postal,
            carried_over,
            resolved_total,
            resolved_early,
            resolved_on_time,
            resolved_late,
            pending_total,
            pending_in_time,
            pending_overdue,
            withdrawn_or_returned,
        } = *other;
        self.received_total = add(self.received_total, received_total)?;
        self.received_online = add(self.received_online, received_online)?;
        self.received_direct_or_postal = add(self.received_direct_or_postal, received_direct_or_postal)?;
        self.carried_over = add(self.carried_over, carried_over)?;
        self.resolved_total = add(self.resolved_total, resolved_total)?;
        self.resolved_early = add(self.resolved_early, resolved_early)?;
        self.resolved_on_time = add(self.resolved_on_time, resolved_on_time)?;
        self.resolved_late = add(self.resolved_late, resolved_late)?;
        self.pending_total = add(self.pending_total, pending_total)?;
        self.pending_in_time = add(self.pending_in_time, pending_in_time)?;
        self.pending_overdue = add(self.pending_overdue, pending_overdue)?;
        self.withdrawn_or_returned = add(self.withdrawn_or_returned, withdrawn_or_returned)?;
        Ok(())
    }

    /// Columns 3 to 13 in order.
    pub fn columns(&self) -> [u64; 11] {
        [
            self.received_total,
            self.received_online,
            self.received_direct_or_postal,
            self.carried_over,
            self.resolved_total,
            self.resolved_early,
            self.resolved_on_time,
            self.resolved_late,
            self.pending_total,
            self.pending_in_time,
            self.pending_overdue,
        ]
    }

    /// The identities of the form that do not hold, each as the equation that fails. 3 = 4+5+6, 7 = 8+9+10 and
    /// 11 = 12+13 hold by construction; 3 = 7 + 11 + withdrawn holds only when the pushed stock chains are
    /// consistent, so its failure is a data-quality finding, not an error.
    pub fn broken_identities(&self) -> Vec<String> {
        let mut broken = Vec::new();
        // In 128 bits: the sums of a row that breaks an identity may exceed 64 bits.
        let mut check = |name: &str, left: u64, right: u128| {
            if u128::from(left) != right {
                broken.push(format!("{name}: {left} ≠ {right}"));
            }
        };
        check(
            "(3) = (4) + (5) + (6)",
            self.received_total,
            u128::from(self.received_online)
                + u128::from(self.received_direct_or_postal)
                + u128::from(self.carried_over),
        );
        check(
            "(7) = (8) + (9) + (10)",
            self.resolved_total,
            u128::from(self.resolved_early) + u128::from(self.resolved_on_time) + u128::from(self.resolved_late),
        );
        check(
            "(11) = (12) + (13)",
            self.pending_total,
            u128::from(self.pending_in_time) + u128::from(self.pending_overdue),
        );
        check(
            "(3) = (7) + (11) + returned or withdrawn",
            self.received_total,
            u128::from(self.resolved_total) + u128::from(self.pending_total) + u128::from(self.withdrawn_or_returned),
        );
        broken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measures::Measures;

    #[test]
    fn a_consistent_period_balances() {
        // 10 carried over, 30 received (12 online), 28 resolved, 1 withdrawn → 11 pending.
        let totals = PeriodTotals {
            measures: Measures::default()
                .with(Measure::ReceivedOnline, 12)
                .with(Measure::ReceivedDirect, 15)
                .with(Measure::ReceivedPostal, 3)
                .with(Measure::ResolvedEarly, 10)
                .with(Measure::ResolvedOnTime, 16)
                .with(Measure::ResolvedLate, 2)
                .with(Measure::WithdrawnOrReturned, 1)
                .with(Measure::PendingInTime, 10)
                .with(Measure::PendingOverdue, 1),
            carried_over: 10,
        };
        let row = Form06Counts::from_totals(&totals).unwrap();
        assert_eq!(row.columns(), [40, 12, 18, 10, 28, 10, 16, 2, 11, 10, 1]);
        assert!(row.broken_identities().is_empty());

        let mut inconsistent = totals;
        inconsistent.carried_over = 12;
        let broken = Form06Counts::from_totals(&inconsistent).unwrap().broken_identities();
        assert_eq!(broken, ["(3) = (7) + (11) + returned or withdrawn: 42 ≠ 40"]);
    }

    fn headings(columns: &[&[&str]]) -> Vec<Vec<String>> {
        columns.iter().map(|c| c.iter().map(|h| h.to_string()).collect()).collect()
    }

    #[test]
    fn headings_group_neighbours_and_reach_down() {
        let received = "Số hồ sơ nhận giải quyết";
        let layout = heading_layout(&headings(&[
            &["STT"],
            &["Lĩnh vực"],
            &[received, "Tổng số"],
            &[received, "Trong kỳ", "Trực tuyến"],
            &[received, "Trong kỳ", "Trực tiếp, dịch vụ bưu chính"],
            &[received, "Từ kỳ trước"],
            &["Số hồ sơ đang giải quyết", "Tổng số"],
        ]))
        .unwrap();
        assert_eq!(layout.rows, 3);
        let spans: Vec<(&str, usize, usize, usize, usize)> = layout
            .cells
            .iter()
            .map(|c| (c.text.as_str(), c.first_row, c.last_row, c.first_column, c.last_column))
            .collect();
        assert_eq!(
            spans,
            [
                ("STT", 0, 2, 0, 0),
                ("Lĩnh vực", 0, 2, 1, 1),
                (received, 0, 0, 2, 5),
                ("Số hồ sơ đang giải quyết", 0, 0, 6, 6),
                ("Tổng số", 1, 2, 2, 2),
                ("Trong kỳ", 1, 1, 3, 4),
                ("Từ kỳ trước", 1, 2, 5, 5),
                ("Tổng số", 1, 2, 6, 6),
                ("Trực tuyến", 2, 2, 3, 3),
                ("Trực tiếp, dịch vụ bưu chính", 2, 2, 4, 4),
            ]
        );
    }

    #[test]
    fn a_heading_cannot_both_group_columns_and_end_one() {
        let (column, reason) = heading_layout(&headings(&[&["STT"], &["Tổng"], &["Tổng", "Trong hạn"]])).unwrap_err();
        assert_eq!(column, 1);
        assert!(reason.contains("groups columns 2 to 3"), "{reason}");
        assert_eq!(heading_layout(&headings(&[&["A"], &[]])).unwrap_err().0, 1);
        assert_eq!(heading_layout(&headings(&[&["A", "B", "C", "D"]])).unwrap_err().0, 0);
    }
}
