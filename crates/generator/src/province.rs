//! One province as its one-stop software would report it: a provincial center and 150 commune centers, the
//! ~2,000 procedures of the generated catalogue, and a year of daily cells with on-time rates of 96–99% and
//! online shares of 15–40%, plus the records of late cases with their apology notices (some of them late,
//! missing, or rescheduled twice).
//!
//! Cells are made day by day from a simulation of each (center, procedure) chain, so the pending-stock
//! identity holds and a cell is pushed whenever anything happened or cases are still open, as real software
//! does. The same seed always gives the same province.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use onestop_proto::catalogue::v1::*;
use onestop_proto::intake::v1 as intake;

use crate::catalogue::{province_catalogue, GeneratedCatalogue};
use crate::rng::Rng;

pub const PROVINCE_CODE: &str = "46";
pub const PROVINCIAL_CENTER: &str = "TTPVHCC-46";

/// The size of a generated province.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub communes: usize,
    pub procedures: usize,
    /// Procedures with activity at a commune center on a working day, on average.
    pub active_per_commune_day: usize,
    /// Procedures with activity at the provincial center on a working day, on average.
    pub active_per_provincial_day: usize,
}

/// About 1.5 million non-zero cells a year (DOMAIN §9).
pub const PROVINCE_YEAR: Size =
    Size { communes: 150, procedures: 2000, active_per_commune_day: 11, active_per_provincial_day: 160 };

/// The reference data of the province, for the catalogue.
pub struct Province {
    pub seed: u64,
    pub size: Size,
    pub units: Vec<AdministrativeUnit>,
    pub centers: Vec<Center>,
    pub agencies: Vec<Agency>,
    pub catalogue: GeneratedCatalogue,
    /// What each center receives, from the catalogue's first day.
    pub center_lists: Vec<SetCenterProceduresRequest>,
}

pub fn commune_code(i: usize) -> String {
    format!("{:05}", 20_000 + i)
}

pub fn commune_center(i: usize) -> String {
    format!("BPMC-{}", commune_code(i))
}

impl Province {
    pub fn new(seed: u64, size: Size) -> Province {
        let catalogue = province_catalogue(seed, size.procedures);
        let mut units = vec![AdministrativeUnit {
            code: PROVINCE_CODE.into(),
            name: "Tỉnh mẫu".into(),
            level: UnitLevel::Province as i32,
            valid_from: "2008-01-01".into(),
            ..Default::default()
        }];
        let mut centers = vec![Center {
            code: PROVINCIAL_CENTER.into(),
            name: "Trung tâm Phục vụ hành chính công tỉnh".into(),
            unit_code: PROVINCE_CODE.into(),
            kind: CenterKind::Provincial as i32,
            parent_center_code: String::new(),
        }];
        let mut agencies = vec![Agency {
            code: "SO-46".into(),
            name: "Sở, ban, ngành tỉnh".into(),
            unit_code: PROVINCE_CODE.into(),
            kind: AgencyKind::ProvincialDepartment as i32,
        }];
        for i in 0..size.communes {
            units.push(AdministrativeUnit {
                code: commune_code(i),
                name: format!("Xã {}", i + 1),
                level: UnitLevel::Commune as i32,
                parent_code: PROVINCE_CODE.into(),
                valid_from: "2025-07-01".into(),
                ..Default::default()
            });
            centers.push(Center {
                code: commune_center(i),
                name: format!("Bộ phận Một cửa xã {}", i + 1),
                unit_code: commune_code(i),
                kind: CenterKind::Local as i32,
                parent_center_code: String::new(),
            });
            agencies.push(Agency {
                code: format!("UBND-{}", commune_code(i)),
                name: format!("UBND xã {}", i + 1),
                unit_code: commune_code(i),
                kind: AgencyKind::PeoplesCommittee as i32,
            });
        }
        let first_day = &catalogue.decisions[0].effective_from;
        let day: NaiveDate = first_day.parse().expect("generated date");
        let in_force = catalogue.in_force(day);
        let level_codes = |level: ImplementingLevel| -> Vec<String> {
            in_force
                .values()
                .filter(|p| p.implementing_levels.contains(&(level as i32)))
                .map(|p| p.code.clone())
                .collect()
        };
        let mut center_lists = vec![SetCenterProceduresRequest {
            center_code: PROVINCIAL_CENTER.into(),
            effective_from: first_day.clone(),
            procedure_codes: level_codes(ImplementingLevel::Province),
            source: "Quyết định danh mục TTHC tiếp nhận tại Trung tâm".into(),
        }];
        let commune_list = level_codes(ImplementingLevel::Commune);
        for i in 0..size.communes {
            center_lists.push(SetCenterProceduresRequest {
                center_code: commune_center(i),
                effective_from: first_day.clone(),
                procedure_codes: commune_list.clone(),
                source: "Quyết định danh mục TTHC cấp xã".into(),
            });
        }
        Province { seed, size, units, centers, agencies, catalogue, center_lists }
    }

    /// The daily cells and late case records of `days` days from `first_day`, one day at a time.
    pub fn activity(&self, first_day: NaiveDate, days: u32) -> Activity<'_> {
        let last_decision = self.catalogue.decisions.last().expect("decisions").effective_from.parse().expect("date");
        // Received procedures still in force through the year: abolished ones stop being offered.
        let in_force = self.catalogue.in_force(last_decision);
        let lists: Vec<(String, Vec<String>)> = self
            .center_lists
            .iter()
            .map(|l| {
                let kept = l.procedure_codes.iter().filter(|c| in_force.contains_key(*c)).cloned().collect();
                (l.center_code.clone(), kept)
            })
            .collect();
        let online_share = (0..lists.len())
            .map(|i| 0.15 + 0.25 * (Rng::new(self.seed ^ i as u64).below(1000) as f64 / 1000.0))
            .collect();
        Activity {
            province: self,
            rng: Rng::new(self.seed.wrapping_mul(31).wrapping_add(7)),
            day: first_day,
            remaining: days,
            lists,
            online_share,
            open: BTreeMap::new(),
            case_serial: 0,
        }
    }
}

/// Open cases of one (center, procedure) chain at the end of a day.
#[derive(Debug, Clone, Copy, Default)]
struct Stock {
    in_time: i64,
    overdue: i64,
}

/// A generator of days of activity.
pub struct Activity<'a> {
    province: &'a Province,
    rng: Rng,
    day: NaiveDate,
    remaining: u32,
    lists: Vec<(String, Vec<String>)>,
    online_share: Vec<f64>,
    open: BTreeMap<(usize, usize), Stock>,
    case_serial: u64,
}

/// One day of a province.
pub struct Day {
    pub day: NaiveDate,
    pub cells: Vec<intake::DailyCell>,
    pub late_cases: Vec<intake::CaseRecord>,
}

impl Iterator for Activity<'_> {
    type Item = Day;

    fn next(&mut self) -> Option<Day> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let day = self.day;
        self.day += Duration::days(1);
        let weekend_factor = match day.weekday() {
            Weekday::Sat => 0.3,
            Weekday::Sun => 0.0,
            _ => 1.0,
        };
        let mut cells = Vec::new();
        let mut late_cases = Vec::new();
        for center in 0..self.lists.len() {
            let list_len = self.lists[center].1.len();
            if list_len == 0 {
                continue;
            }
            let mean = if center == 0 {
                self.province.size.active_per_provincial_day
            } else {
                self.province.size.active_per_commune_day
            } as f64
                * weekend_factor;
            // Today's chains: those with cases still open, and the procedures that receive new cases today.
            let mut chains: Vec<usize> = self.open.range((center, 0)..(center + 1, 0)).map(|((_, p), _)| *p).collect();
            let active_count = (mean * (0.7 + 0.6 * self.rng.below(1000) as f64 / 1000.0)) as usize;
            let mut active: Vec<usize> =
                (0..active_count.min(list_len)).map(|_| self.rng.below(list_len as u64) as usize).collect();
            active.sort_unstable();
            active.dedup();
            chains.extend(&active);
            chains.sort_unstable();
            chains.dedup();
            for procedure in chains {
                let stock = self.open.get(&(center, procedure)).copied().unwrap_or_default();
                let arrivals = if active.binary_search(&procedure).is_ok() { self.rng.between(1, 4) as i64 } else { 0 };
                let online = (0..arrivals).filter(|_| self.rng.chance(self.online_share[center])).count() as i64;
                let postal = if arrivals > online && self.rng.chance(0.05) { 1 } else { 0 };
                let direct = arrivals - online - postal;
                // Resolve part of what was open; a few cases go late (on-time rate 96–99%).
                let open_total = stock.in_time + stock.overdue;
                let resolvable = if weekend_factor > 0.0 { open_total } else { 0 };
                let resolved = (resolvable as f64 * 0.5).ceil() as i64;
                let late = if resolved > 0 && self.rng.chance(0.025) { 1.min(resolved) } else { 0 };
                let late = late.max(stock.overdue.min(resolved));
                let withdrawn = if resolved - late > 1 && self.rng.chance(0.01) { 1 } else { 0 };
                let in_time_resolved = resolved - late - withdrawn;
                let early = in_time_resolved / 2;
                let on_time = in_time_resolved - early;
                let overdue_after =
                    (stock.overdue - late).max(0) + if self.rng.chance(0.003) { 1.min(stock.in_time) } else { 0 };
                let pending_total = open_total + arrivals - resolved;
                let in_time_after = (pending_total - overdue_after).max(0);
                let overdue_after = pending_total - in_time_after;
                let apologies = late.min(if self.rng.chance(0.85) { late } else { 0 });
                let measures = intake::Measures {
                    received_direct: direct,
                    received_online: online,
                    received_postal: postal,
                    resolved_early: early,
                    resolved_on_time: on_time,
                    resolved_late: late,
                    withdrawn_or_returned: withdrawn,
                    results_returned_by_post: if resolved > 0 && self.rng.chance(0.1) { 1 } else { 0 },
                    apology_notices_issued: apologies,
                    pending_in_time: in_time_after,
                    pending_overdue: overdue_after,
                };
                if pending_total > 0 {
                    self.open.insert((center, procedure), Stock { in_time: in_time_after, overdue: overdue_after });
                } else {
                    self.open.remove(&(center, procedure));
                }
                let any = arrivals + resolved + pending_total > 0;
                if !any {
                    continue;
                }
                let center_code = self.lists[center].0.clone();
                let procedure_code = self.lists[center].1[procedure].clone();
                for _ in 0..late {
                    late_cases.push(self.late_case(day, &center_code, &procedure_code, apologies > 0));
                }
                cells.push(intake::DailyCell {
                    center_code,
                    procedure_code,
                    day: day.to_string(),
                    measures: Some(measures),
                    computed_at: None,
                });
            }
        }
        Some(Day { day, cells, late_cases })
    }
}

impl Activity<'_> {
    /// A case resolved late on `resolved_on`, with an apology notice unless `with_notice` is false; some notices
    /// come too late, and some cases are rescheduled twice.
    fn late_case(
        &mut self,
        resolved_on: NaiveDate,
        center: &str,
        procedure: &str,
        with_notice: bool,
    ) -> intake::CaseRecord {
        self.case_serial += 1;
        let due = resolved_on - Duration::days(self.rng.between(1, 5) as i64);
        let received = due - Duration::days(self.rng.between(3, 15) as i64);
        let at = |d: NaiveDate, hour: u32| prost_types::Timestamp {
            seconds: d.and_hms_opt(hour, 0, 0).expect("valid time").and_utc().timestamp() - 7 * 3600,
            nanos: 0,
        };
        let agency = if center == PROVINCIAL_CENTER { "SO-46".to_owned() } else { format!("UBND-{}", &center[5..]) };
        let new_due = resolved_on + Duration::days(self.rng.between(0, 3) as i64);
        let mut record = intake::CaseRecord {
            case_code: format!("{}-{:08}", self.province.seed, self.case_serial),
            procedure_code: procedure.to_owned(),
            receiving_center_code: center.to_owned(),
            resolving_agency_code: agency.clone(),
            filing_channel: if self.rng.chance(0.3) { intake::Channel::Online } else { intake::Channel::Direct } as i32,
            return_channel: intake::Channel::Direct as i32,
            received_at: Some(at(received, 9)),
            due_date: due.to_string(),
            resolved_at: Some(at(resolved_on, 15)),
            status: intake::CaseStatus::Resolved as i32,
            ..Default::default()
        };
        if with_notice {
            // Most notices come two days ahead; one in ten on the due date itself (too late).
            let issued = if self.rng.chance(0.1) { due } else { due - Duration::days(2) };
            record.apology_notices.push(intake::ApologyNotice {
                notice_number: format!("{}/PXL", self.case_serial),
                issuing_agency_code: agency,
                issued_on: issued.to_string(),
                reason: "Cần phối hợp liên ngành".into(),
                reason_category: intake::DelayReasonCategory::InteragencyCoordination as i32,
                original_due_date: due.to_string(),
                new_due_date: new_due.to_string(),
                delivery: intake::NoticeDelivery::Electronic as i32,
            });
            record.due_date_changes.push(intake::DueDateChange {
                previous_due_date: due.to_string(),
                new_due_date: new_due.to_string(),
                reason: "Phiếu xin lỗi và hẹn lại".into(),
                changed_on: issued.to_string(),
            });
            if self.rng.chance(0.05) {
                record.due_date_changes.push(intake::DueDateChange {
                    previous_due_date: new_due.to_string(),
                    new_due_date: (new_due + Duration::days(2)).to_string(),
                    reason: "Hẹn lại lần hai".into(),
                    changed_on: new_due.to_string(),
                });
            }
        }
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(days: &[Day]) -> (i64, i64, i64, i64) {
        let mut t = (0, 0, 0, 0);
        for d in days {
            for c in &d.cells {
                let m = c.measures.as_ref().unwrap();
                t.0 += m.received_online;
                t.1 += m.received_direct + m.received_online + m.received_postal;
                t.2 += m.resolved_early + m.resolved_on_time;
                t.3 += m.resolved_early + m.resolved_on_time + m.resolved_late;
            }
        }
        t
    }

    #[test]
    fn a_small_province_looks_like_a_real_one() {
        let size = Size { communes: 10, procedures: 300, active_per_commune_day: 20, active_per_provincial_day: 60 };
        let province = Province::new(3, size);
        let first: NaiveDate = "2025-01-01".parse().unwrap();
        let days: Vec<Day> = province.activity(first, 120).collect();
        let (online, received, on_time, resolved) = totals(&days);
        let online_share = online as f64 / received as f64;
        let on_time_rate = on_time as f64 / resolved as f64;
        assert!((0.15..=0.40).contains(&online_share), "online share {online_share}");
        assert!((0.96..=0.99).contains(&on_time_rate), "on-time rate {on_time_rate}");
        assert!(days.iter().any(|d| !d.late_cases.is_empty()));

        // The pending-stock identity holds along every chain.
        let mut previous: BTreeMap<(String, String), (NaiveDate, i64)> = BTreeMap::new();
        for d in &days {
            for c in &d.cells {
                let m = c.measures.as_ref().unwrap();
                let key = (c.center_code.clone(), c.procedure_code.clone());
                let before = match previous.get(&key) {
                    Some((day, pending)) if *day + Duration::days(1) == d.day => *pending,
                    _ => 0,
                };
                let received = m.received_direct + m.received_online + m.received_postal;
                let resolved = m.resolved_early + m.resolved_on_time + m.resolved_late;
                let pending = m.pending_in_time + m.pending_overdue;
                assert_eq!(pending, before + received - resolved - m.withdrawn_or_returned, "{key:?} {}", d.day);
                previous.insert(key, (d.day, pending));
            }
        }
        let again: Vec<usize> = province.activity(first, 120).map(|d| d.cells.len()).collect();
        assert_eq!(again, days.iter().map(|d| d.cells.len()).collect::<Vec<_>>(), "deterministic");
    }
}
