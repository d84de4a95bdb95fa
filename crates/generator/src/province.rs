//! One province as its one-stop software would report it: a provincial center and 150 commune centers, the
//! ~2,000 procedures of the generated catalogue, and a year of daily cells with on-time rates of 96–99% and
//! online shares of 15–40%, plus the records of late cases with their apology notices (some of them late,
//! missing, or rescheduled twice).
//!
//! Cells are made day by day from a simulation of each (center, procedure) chain, so the pending-stock
//! identity holds and a cell is pushed whenever anything happened or cases are still open, as real software
//! does. Days follow the working-day calendar: nothing is received on Sundays and holidays, a little on
//! Saturdays. A case missing its due date (always a working day) is followed until resolved, so the late case
//! records agree with the cells' `resolved_late` and `pending_overdue` on every day; at the end, the cases still
//! overdue and some due within three working days are open records. The same seed always gives the same
//! province.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use onestop_proto::catalogue::v1::*;
use onestop_proto::intake::v1 as intake;

use crate::calendar::WorkingDays;
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
    /// The province's unit code.
    pub code: String,
    pub provincial_center: String,
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
    /// The demonstration province, 46, its communes numbered from 0.
    pub fn new(seed: u64, size: Size) -> Province {
        Province::numbered(PROVINCE_CODE, 0, seed, size)
    }

    /// A province with unit code `code` whose communes are numbered from `first_commune` (so that provinces
    /// generated side by side have distinct communes and centers). Its catalogue is generated as province 46's,
    /// with the same procedure codes: publish one province's decisions only, and the others receive those.
    pub fn numbered(code: &str, first_commune: usize, seed: u64, size: Size) -> Province {
        let provincial_center = format!("TTPVHCC-{code}");
        let mut catalogue = province_catalogue(seed, size.procedures);
        // The province's own decisions: its catalogue, which another province's indicators do not count.
        for decision in &mut catalogue.decisions {
            decision.issuing_unit_code = code.into();
        }
        let mut units = vec![AdministrativeUnit {
            code: code.into(),
            name: if code == PROVINCE_CODE { "Tỉnh mẫu".into() } else { format!("Tỉnh mẫu {code}") },
            level: UnitLevel::Province as i32,
            valid_from: "2008-01-01".into(),
            ..Default::default()
        }];
        let mut centers = vec![Center {
            code: provincial_center.clone(),
            name: "Trung tâm Phục vụ hành chính công tỉnh".into(),
            unit_code: code.into(),
            kind: CenterKind::Provincial as i32,
            parent_center_code: String::new(),
        }];
        let mut agencies = vec![Agency {
            code: format!("SO-{code}"),
            name: "Sở, ban, ngành tỉnh".into(),
            unit_code: code.into(),
            kind: AgencyKind::ProvincialDepartment as i32,
        }];
        let communes = first_commune..first_commune + size.communes;
        for i in communes.clone() {
            units.push(AdministrativeUnit {
                code: commune_code(i),
                name: format!("Xã {}", i + 1),
                level: UnitLevel::Commune as i32,
                parent_code: code.into(),
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
            center_code: provincial_center.clone(),
            effective_from: first_day.clone(),
            procedure_codes: level_codes(ImplementingLevel::Province),
            source: "Quyết định danh mục TTHC tiếp nhận tại Trung tâm".into(),
        }];
        let commune_list = level_codes(ImplementingLevel::Commune);
        for i in communes {
            center_lists.push(SetCenterProceduresRequest {
                center_code: commune_center(i),
                effective_from: first_day.clone(),
                procedure_codes: commune_list.clone(),
                source: "Quyết định danh mục TTHC cấp xã".into(),
            });
        }
        Province { code: code.into(), provincial_center, seed, size, units, centers, agencies, catalogue, center_lists }
    }

    /// The daily cells and late case records of `days` days from `first_day`, one day at a time; then
    /// [`Activity::open_cases`] gives the cases still open at the end.
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
            working_days: WorkingDays::default(),
            day: first_day,
            remaining: days,
            lists,
            online_share,
            open: BTreeMap::new(),
            case_serial: 0,
        }
    }
}

/// The chance that one case of a chain with cases in time is not resolved by its due date, on each day after a
/// working day: with half of the open cases resolved a day, 2–3 % of resolutions come late.
const MISS_CHANCE: f64 = 0.03;
/// The chance that a late case is resolved on a day the center works.
const LATE_RESOLUTION_CHANCE: f64 = 0.5;
/// The share of chains with cases in time that have one due within the next three working days at the end.
const DUE_SOON_SHARE: f64 = 0.1;

/// A case followed one by one: one that missed its due date, until it is resolved, so that its record agrees
/// with the `resolved_late` and `pending_overdue` counts of its cells; or one open and due soon at the end.
#[derive(Debug, Clone)]
struct TrackedCase {
    code: String,
    received: NaiveDate,
    due: NaiveDate,
    online: bool,
    /// The apology notice, if the agency sent one: issued on, new due date, and whether the new date was moved
    /// again on the day it fell.
    notice: Option<(NaiveDate, NaiveDate, bool)>,
}

/// Open cases of one (center, procedure) chain at the end of a day: those in time counted, the overdue ones
/// each known.
#[derive(Debug, Clone, Default)]
struct Stock {
    in_time: i64,
    overdue: Vec<TrackedCase>,
}

/// A generator of days of activity.
pub struct Activity<'a> {
    province: &'a Province,
    rng: Rng,
    working_days: WorkingDays,
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
    /// The records of the cases resolved late that day.
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
        let activity_factor = if self.working_days.is_working(day) {
            1.0
        } else if day.weekday() == Weekday::Sat {
            0.3 // some centers open on Saturday mornings
        } else {
            0.0
        };
        let previous_day = day - Duration::days(1);
        let previous_day_worked = self.working_days.is_working(previous_day);
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
                * activity_factor;
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
                let mut stock = self.open.remove(&(center, procedure)).unwrap_or_default();
                let center_code = self.lists[center].0.clone();
                let procedure_code = self.lists[center].1[procedure].clone();
                // A case due on the previous working day and not resolved then is overdue from today on.
                if previous_day_worked && stock.in_time > 0 && self.rng.chance(MISS_CHANCE) {
                    stock.in_time -= 1;
                    let missed = self.case_due_on(previous_day);
                    stock.overdue.push(missed);
                }
                let arrivals = if active.binary_search(&procedure).is_ok() { self.rng.between(1, 4) as i64 } else { 0 };
                let online = (0..arrivals).filter(|_| self.rng.chance(self.online_share[center])).count() as i64;
                let postal = if arrivals > online && self.rng.chance(0.05) { 1 } else { 0 };
                let direct = arrivals - online - postal;
                // Close half of the cases in time, and each late case by even odds, on days the center works.
                let open = activity_factor > 0.0;
                let closed_in_time = if open { (stock.in_time as f64 * 0.5).ceil() as i64 } else { 0 };
                let withdrawn = if closed_in_time > 1 && self.rng.chance(0.01) { 1 } else { 0 };
                let resolved_in_time = closed_in_time - withdrawn;
                let early = resolved_in_time / 2;
                let on_time = resolved_in_time - early;
                let mut resolved_late = Vec::new();
                if open {
                    let rng = &mut self.rng;
                    stock.overdue.retain(|case| {
                        let resolved = rng.chance(LATE_RESOLUTION_CHANCE);
                        if resolved {
                            resolved_late.push(case.clone());
                        }
                        !resolved
                    });
                }
                stock.in_time += arrivals - closed_in_time;
                let late = resolved_late.len() as i64;
                let measures = intake::Measures {
                    received_direct: direct,
                    received_online: online,
                    received_postal: postal,
                    resolved_early: early,
                    resolved_on_time: on_time,
                    resolved_late: late,
                    withdrawn_or_returned: withdrawn,
                    results_returned_by_post: if resolved_in_time + late > 0 && self.rng.chance(0.1) { 1 } else { 0 },
                    apology_notices_issued: resolved_late.iter().filter(|c| c.notice.is_some()).count() as i64,
                    pending_in_time: stock.in_time,
                    pending_overdue: stock.overdue.len() as i64,
                };
                let pending = stock.in_time + stock.overdue.len() as i64;
                if pending > 0 {
                    self.open.insert((center, procedure), stock);
                }
                if arrivals + closed_in_time + late + pending == 0 {
                    continue;
                }
                for case in &resolved_late {
                    late_cases.push(self.record(case, &center_code, &procedure_code, Some(day)));
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
    /// The records of the cases open at the end of the last day generated: every overdue case, and for one in
    /// ten chains with cases in time, one of them due within the next three working days.
    pub fn open_cases(&mut self) -> Vec<intake::CaseRecord> {
        let last_day = self.day - Duration::days(1);
        let open: Vec<((usize, usize), Stock)> = self.open.iter().map(|(k, s)| (*k, s.clone())).collect();
        let mut records = Vec::new();
        for ((center, procedure), stock) in open {
            let center_code = self.lists[center].0.clone();
            let procedure_code = self.lists[center].1[procedure].clone();
            for case in &stock.overdue {
                records.push(self.record(case, &center_code, &procedure_code, None));
            }
            if stock.in_time > 0 && self.rng.chance(DUE_SOON_SHARE) {
                let due = self.working_days.add(last_day, self.rng.between(1, 3) as i32);
                let mut case = self.case_due_on(due);
                case.received = case.received.min(last_day);
                case.notice = None;
                records.push(self.record(&case, &center_code, &procedure_code, None));
            }
        }
        records
    }

    /// A case due on `due`, received a few working days before; most get an apology notice two working days
    /// ahead, one in ten on the due date itself (too late), and one in twenty is moved twice.
    fn case_due_on(&mut self, due: NaiveDate) -> TrackedCase {
        self.case_serial += 1;
        let received = self.working_days.add(due, -(self.rng.between(3, 15) as i32));
        let notice = self.rng.chance(0.85).then(|| {
            let issued = if self.rng.chance(0.1) { due } else { self.working_days.add(due, -2) };
            let new_due = self.working_days.add(due, self.rng.between(2, 6) as i32);
            (issued, new_due, self.rng.chance(0.05))
        });
        TrackedCase {
            code: format!("{}-{:08}", self.province.seed, self.case_serial),
            received,
            due,
            online: self.rng.chance(0.3),
            notice,
        }
    }

    /// The record of `case` at `center`, resolved on `resolved_on` or still open.
    fn record(
        &self,
        case: &TrackedCase,
        center: &str,
        procedure: &str,
        resolved_on: Option<NaiveDate>,
    ) -> intake::CaseRecord {
        let at = |d: NaiveDate, hour: u32| prost_types::Timestamp {
            seconds: d.and_hms_opt(hour, 0, 0).expect("valid time").and_utc().timestamp() - 7 * 3600,
            nanos: 0,
        };
        let agency = if center == self.province.provincial_center {
            format!("SO-{}", self.province.code)
        } else {
            format!("UBND-{}", &center[5..])
        };
        let status = if resolved_on.is_some() { intake::CaseStatus::Resolved } else { intake::CaseStatus::InProgress };
        let mut record = intake::CaseRecord {
            case_code: case.code.clone(),
            procedure_code: procedure.to_owned(),
            receiving_center_code: center.to_owned(),
            resolving_agency_code: agency.clone(),
            filing_channel: if case.online { intake::Channel::Online } else { intake::Channel::Direct } as i32,
            return_channel: intake::Channel::Direct as i32,
            received_at: Some(at(case.received, 9)),
            due_date: case.due.to_string(),
            resolved_at: resolved_on.map(|d| at(d, 15)),
            status: status as i32,
            ..Default::default()
        };
        if let Some((issued, new_due, moved_again)) = case.notice {
            record.apology_notices.push(intake::ApologyNotice {
                notice_number: format!("{}/PXL", case.code),
                issuing_agency_code: agency,
                issued_on: issued.to_string(),
                reason: "Cần phối hợp liên ngành".into(),
                reason_category: intake::DelayReasonCategory::InteragencyCoordination as i32,
                original_due_date: case.due.to_string(),
                new_due_date: new_due.to_string(),
                delivery: intake::NoticeDelivery::Electronic as i32,
            });
            record.due_date_changes.push(intake::DueDateChange {
                previous_due_date: case.due.to_string(),
                new_due_date: new_due.to_string(),
                reason: "Phiếu xin lỗi và hẹn lại".into(),
                changed_on: issued.to_string(),
            });
            // Moved again on the new date, once that day has come.
            let known_until = resolved_on.unwrap_or(self.day - Duration::days(1));
            if moved_again && new_due <= known_until {
                record.due_date_changes.push(intake::DueDateChange {
                    previous_due_date: new_due.to_string(),
                    new_due_date: self.working_days.add(new_due, 2).to_string(),
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

    #[test]
    fn late_case_records_agree_with_the_cells_every_day_and_due_dates_are_working_days() {
        let size = Size { communes: 10, procedures: 300, active_per_commune_day: 20, active_per_provincial_day: 60 };
        let province = Province::new(5, size);
        let working_days = WorkingDays::default();
        let first: NaiveDate = "2026-01-20".parse().unwrap(); // across Tết 2026
        let mut activity = province.activity(first, 60);
        let days: Vec<Day> = activity.by_ref().collect();
        let open = activity.open_cases();
        let last = days.last().unwrap().day;
        let today = last + Duration::days(1);
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();

        let mut records: Vec<&intake::CaseRecord> = days.iter().flat_map(|d| &d.late_cases).collect();
        records.extend(&open);
        assert!(records.iter().all(|r| working_days.is_working(day(&r.due_date))), "due dates on working days");
        for r in &records {
            for change in &r.due_date_changes {
                assert!(working_days.is_working(day(&change.new_due_date)), "{}", r.case_code);
            }
        }
        let overdue_open = open.iter().filter(|r| day(&r.due_date) < today).count();
        let due_soon = open.iter().filter(|r| (today..=working_days.add(today, 3)).contains(&day(&r.due_date))).count();
        assert!(overdue_open > 0 && due_soon > 0, "overdue {overdue_open}, due soon {due_soon}");
        assert_eq!(overdue_open + due_soon, open.len());
        let received_on_days_off = days
            .iter()
            .filter(|d| d.day.weekday() == Weekday::Sun || (d.day >= day("2026-02-16") && d.day <= day("2026-02-20")))
            .flat_map(|d| &d.cells)
            .filter(|c| c.measures.as_ref().unwrap().received_direct > 0)
            .count();
        assert_eq!(received_on_days_off, 0, "nothing is received on Sundays and during Tết");

        // Per center and day, as reconciliation counts them: resolved late that day, and open past the due date
        // at the day's end (stocks carried from each chain's latest cell).
        let mut stock: BTreeMap<(String, String), i64> = BTreeMap::new();
        for d in &days {
            let mut late_in_cells: BTreeMap<&str, i64> = BTreeMap::new();
            for c in &d.cells {
                let m = c.measures.as_ref().unwrap();
                *late_in_cells.entry(&c.center_code).or_default() += m.resolved_late;
                stock.insert((c.center_code.clone(), c.procedure_code.clone()), m.pending_overdue);
            }
            late_in_cells.retain(|_, n| *n > 0);
            let mut late_in_records: BTreeMap<&str, i64> = BTreeMap::new();
            for r in &d.late_cases {
                assert!(day(&r.due_date) < d.day, "{} resolved late", r.case_code);
                *late_in_records.entry(&r.receiving_center_code).or_default() += 1;
            }
            assert_eq!(late_in_cells, late_in_records, "resolved late on {}", d.day);

            let mut overdue_in_cells: BTreeMap<&str, i64> = BTreeMap::new();
            for ((center, _), overdue) in &stock {
                *overdue_in_cells.entry(center).or_default() += overdue;
            }
            overdue_in_cells.retain(|_, n| *n > 0);
            let mut overdue_in_records: BTreeMap<&str, i64> = BTreeMap::new();
            for r in &records {
                let resolved = days.iter().find(|x| x.late_cases.iter().any(|c| c.case_code == r.case_code));
                let open_at_end = resolved.is_none_or(|x| x.day > d.day);
                if day(&r.due_date) < d.day && open_at_end {
                    *overdue_in_records.entry(&r.receiving_center_code).or_default() += 1;
                }
            }
            assert_eq!(overdue_in_cells, overdue_in_records, "overdue at the end of {}", d.day);
        }
    }
}
