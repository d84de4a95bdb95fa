//! An independent model of what aggregation answers: sums over the raw cells, written as plainly as possible.

use onestop_proto::intake::v1::{DailyCell, Measures};

/// The totals of the cells `keep` selects over `[first, last]` (ISO dates): flows summed over the days; stocks
/// carried forward, so each center and procedure holds the stock of its latest cell on or before a day: the stock
/// at `last`, and the pending stock carried over from the day before `first`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub flows: Measures,
    pub carried_over: i64,
}

fn day_before(day: &str) -> String {
    let d: chrono::NaiveDate = day.parse().unwrap();
    d.pred_opt().unwrap().to_string()
}

/// Each (center, procedure)'s latest kept cell on or before `day`.
fn latest_on_or_before<'a>(cells: &[&'a DailyCell], day: &str) -> Vec<&'a DailyCell> {
    let mut latest: std::collections::BTreeMap<(&str, &str), &DailyCell> = std::collections::BTreeMap::new();
    for cell in cells.iter().filter(|c| c.day.as_str() <= day) {
        let key = (cell.center_code.as_str(), cell.procedure_code.as_str());
        if latest.get(&key).is_none_or(|seen| seen.day < cell.day) {
            latest.insert(key, cell);
        }
    }
    latest.into_values().collect()
}

pub fn totals(cells: &[DailyCell], first: &str, last: &str, keep: impl Fn(&DailyCell) -> bool) -> Totals {
    let kept: Vec<&DailyCell> = cells.iter().filter(|c| keep(c)).collect();
    let mut t = Totals::default();
    for cell in latest_on_or_before(&kept, &day_before(first)) {
        let m = cell.measures.unwrap();
        t.carried_over += m.pending_in_time + m.pending_overdue;
    }
    for cell in latest_on_or_before(&kept, last) {
        let m = cell.measures.unwrap();
        t.flows.pending_in_time += m.pending_in_time;
        t.flows.pending_overdue += m.pending_overdue;
    }
    for cell in kept.iter().filter(|c| (first..=last).contains(&c.day.as_str())) {
        let m = cell.measures.unwrap();
        let f = &mut t.flows;
        f.received_direct += m.received_direct;
        f.received_online += m.received_online;
        f.received_postal += m.received_postal;
        f.resolved_early += m.resolved_early;
        f.resolved_on_time += m.resolved_on_time;
        f.resolved_late += m.resolved_late;
        f.withdrawn_or_returned += m.withdrawn_or_returned;
        f.results_returned_by_post += m.results_returned_by_post;
        f.apology_notices_issued += m.apology_notices_issued;
    }
    t
}

impl Totals {
    pub fn received(&self) -> i64 {
        self.flows.received_direct + self.flows.received_online + self.flows.received_postal
    }

    pub fn resolved(&self) -> i64 {
        self.flows.resolved_early + self.flows.resolved_on_time + self.flows.resolved_late
    }

    /// (numerator, denominator) of the seeded indicators that are sums of cell measures.
    pub fn indicator(&self, id: &str) -> Option<(u64, u64)> {
        let f = &self.flows;
        let pending = f.pending_in_time + f.pending_overdue;
        let pair = match id {
            "online_case_share" => (f.received_online, self.received()),
            "postal_filing_share" => (f.received_postal, self.received()),
            "postal_return_share" => (f.results_returned_by_post, self.resolved()),
            "on_time_rate_form06" => (f.resolved_early + f.resolved_on_time, self.resolved()),
            "on_time_rate_766" => {
                (f.resolved_early + f.resolved_on_time + f.pending_in_time, self.resolved() + pending)
            }
            "late_rate_gia_lai" => (f.resolved_late + f.pending_overdue, self.received() + self.carried_over),
            _ => return None,
        };
        Some((pair.0 as u64, pair.1 as u64))
    }

    /// Form 06 columns 3 to 13.
    pub fn form06_columns(&self) -> Vec<u64> {
        let f = &self.flows;
        let c = [
            self.received() + self.carried_over,
            f.received_online,
            f.received_direct + f.received_postal,
            self.carried_over,
            self.resolved(),
            f.resolved_early,
            f.resolved_on_time,
            f.resolved_late,
            f.pending_in_time + f.pending_overdue,
            f.pending_in_time,
            f.pending_overdue,
        ];
        c.iter().map(|v| *v as u64).collect()
    }
}

/// Random cells for `centers` × `procedures` over `days` consecutive days from `first`, most but not all present.
pub fn random_cells(seed: u64, centers: &[&str], procedures: &[&str], first: &str, days: i64) -> Vec<DailyCell> {
    let mut rng = onestop_generator::rng::Rng::new(seed);
    let first: chrono::NaiveDate = first.parse().unwrap();
    let mut out = Vec::new();
    for d in 0..days {
        let day = (first + chrono::Duration::days(d)).to_string();
        for center in centers {
            for procedure in procedures {
                if rng.chance(0.2) {
                    continue;
                }
                let mut n = |max: u64| rng.below(max + 1) as i64;
                out.push(DailyCell {
                    center_code: center.to_string(),
                    procedure_code: procedure.to_string(),
                    day: day.clone(),
                    measures: Some(Measures {
                        received_direct: n(9),
                        received_online: n(6),
                        received_postal: n(2),
                        resolved_early: n(5),
                        resolved_on_time: n(6),
                        resolved_late: n(1),
                        withdrawn_or_returned: n(1),
                        results_returned_by_post: n(2),
                        apology_notices_issued: n(1),
                        pending_in_time: n(30),
                        pending_overdue: n(2),
                    }),
                    computed_at: None,
                });
            }
        }
    }
    out
}
