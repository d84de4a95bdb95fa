//! Form 06 (Biểu 06/VPCP/KSTT, Circular 01/2020/TT-VPCP): the 13 columns of one row from period totals, and the
//! identities a row must satisfy.

use crate::measures::{add, Measure, PeriodTotals, SumOverflow};

/// The Vietnamese column headings as printed on the form, columns 1 to 13.
pub const HEADINGS: [&str; 13] = [
    "STT",
    "Lĩnh vực, công việc giải quyết theo cấp",
    "Số hồ sơ nhận giải quyết - Tổng số",
    "Số hồ sơ nhận giải quyết - Trong kỳ - Trực tuyến",
    "Số hồ sơ nhận giải quyết - Trong kỳ - Trực tiếp, dịch vụ bưu chính",
    "Số hồ sơ nhận giải quyết - Từ kỳ trước",
    "Số hồ sơ đã giải quyết - Tổng số",
    "Số hồ sơ đã giải quyết - Trước hạn",
    "Số hồ sơ đã giải quyết - Đúng hạn",
    "Số hồ sơ đã giải quyết - Quá hạn",
    "Số hồ sơ đang giải quyết - Tổng số",
    "Số hồ sơ đang giải quyết - Trong hạn",
    "Số hồ sơ đang giải quyết - Quá hạn",
];

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
}
