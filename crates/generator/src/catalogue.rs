//! A province's procedure catalogue, published over several decisions, and an independent model of what is in
//! force on any day, to check the catalogue service against.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use onestop_proto::catalogue::v1::*;

use crate::rng::Rng;

const SECTOR_NAMES: [&str; 30] = [
    "Hộ tịch",
    "Chứng thực",
    "Đất đai",
    "Xây dựng",
    "Giáo dục và Đào tạo",
    "Y tế",
    "Lao động",
    "Tư pháp",
    "Công thương",
    "Nông nghiệp",
    "Tài nguyên nước",
    "Môi trường",
    "Giao thông vận tải",
    "Kế hoạch và Đầu tư",
    "Tài chính",
    "Nội vụ",
    "Văn hóa",
    "Thể thao",
    "Du lịch",
    "Thông tin và Truyền thông",
    "Khoa học và Công nghệ",
    "Dân tộc",
    "Tôn giáo",
    "Thi đua khen thưởng",
    "Bảo trợ xã hội",
    "Người có công",
    "Quốc tịch",
    "Lý lịch tư pháp",
    "Nuôi con nuôi",
    "Thủy lợi",
];

/// The generated catalogue: sectors, and decisions in effective order.
#[derive(Debug, Clone)]
pub struct GeneratedCatalogue {
    pub sectors: Vec<Sector>,
    pub decisions: Vec<PublicationDecision>,
}

/// Effective days of the generated decisions.
pub const DECISION_DAYS: [&str; 4] = ["2025-01-01", "2025-04-01", "2025-07-01", "2026-01-01"];

impl GeneratedCatalogue {
    /// What the decisions say is in force on `day`, by code, applying them in order without the service.
    pub fn in_force(&self, day: NaiveDate) -> BTreeMap<String, Procedure> {
        let mut catalogue = BTreeMap::new();
        for decision in &self.decisions {
            let effective: NaiveDate = decision.effective_from.parse().expect("generated dates parse");
            if effective > day {
                break;
            }
            apply(&mut catalogue, decision);
        }
        catalogue
    }

    /// The first decision: every procedure of the province, NEW.
    pub fn first_decision(&self) -> &PublicationDecision {
        &self.decisions[0]
    }
}

fn apply(catalogue: &mut BTreeMap<String, Procedure>, decision: &PublicationDecision) {
    for item in &decision.items {
        let procedure = item.procedure.clone().expect("generated items have a procedure");
        match DecisionAction::try_from(item.action) {
            Ok(DecisionAction::Abolished) => {
                catalogue.remove(&procedure.code);
            }
            Ok(DecisionAction::Replaced) => {
                catalogue.remove(&item.replaces_code);
                catalogue.insert(procedure.code.clone(), procedure);
            }
            _ => {
                catalogue.insert(procedure.code.clone(), procedure);
            }
        }
    }
}

pub fn sectors() -> Vec<Sector> {
    SECTOR_NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| Sector { code: format!("LV{:02}", i + 1), name: (*name).to_owned() })
        .collect()
}

struct Maker {
    rng: Rng,
    next_serial: u32,
}

impl Maker {
    fn online_level(&mut self) -> OnlineLevel {
        match self.rng.below(100) {
            0..=44 => OnlineLevel::Full,
            45..=79 => OnlineLevel::Partial,
            _ => OnlineLevel::None,
        }
    }

    fn procedure(&mut self) -> Procedure {
        self.next_serial += 1;
        let serial = self.next_serial;
        let (code, levels) = match self.rng.below(100) {
            0..=69 => (format!("1.{serial:06}"), vec![ImplementingLevel::Province]),
            70..=94 => (format!("2.{serial:06}.000.00.00.H38"), vec![ImplementingLevel::Commune]),
            _ => (format!("1.{serial:06}"), vec![ImplementingLevel::Province, ImplementingLevel::Commune]),
        };
        let mut p = Procedure {
            code,
            name: format!("Thủ tục hành chính số {serial}"),
            sector_code: format!("LV{:02}", self.rng.between(1, 30)),
            implementing_levels: levels.into_iter().map(|l| l as i32).collect(),
            implementing_agency: "Sở, ban, ngành cấp tỉnh".into(),
            processing_time: Some(ProcessingTime {
                value: self.rng.between(1, 30) as u32,
                unit: TimeUnit::WorkingDays as i32,
            }),
            has_fees: self.rng.chance(0.5),
            online_level: self.online_level() as i32,
            legacy_online_level: 0,
            postal_filing: self.rng.chance(0.8),
            postal_return: self.rng.chance(0.8),
            ..Default::default()
        };
        if self.rng.chance(0.05) {
            p.channel_processing_times.push(ChannelProcessingTime {
                channel: FilingChannel::Online as i32,
                processing_time: Some(ProcessingTime { value: 1, unit: TimeUnit::WorkingDays as i32 }),
            });
        }
        p
    }

    /// An amendment: a new online level, processing time and name.
    fn amend(&mut self, p: &Procedure) -> Procedure {
        let mut amended = p.clone();
        amended.online_level = self.online_level() as i32;
        amended.processing_time =
            Some(ProcessingTime { value: self.rng.between(1, 20) as u32, unit: TimeUnit::WorkingDays as i32 });
        amended.name = format!("{} (sửa đổi)", p.name.trim_end_matches(" (sửa đổi)"));
        amended
    }
}

/// A province's catalogue: `procedures` NEW in the first decision, then three decisions of amendments,
/// replacements, abolitions and additions.
pub fn province_catalogue(seed: u64, procedures: usize) -> GeneratedCatalogue {
    let mut maker = Maker { rng: Rng::new(seed), next_serial: 0 };
    let mut in_force: BTreeMap<String, Procedure> = BTreeMap::new();
    let mut decisions = Vec::new();
    let new_item =
        |p: Procedure| DecisionItem { action: DecisionAction::New as i32, procedure: Some(p), ..Default::default() };

    // (new, amended, replaced, abolished) per decision after the first, scaled to the catalogue's size.
    let scale = |n: usize| n * procedures / 2000;
    let plan =
        [(scale(60), scale(150), 0, scale(50)), (0, scale(100), scale(100), 0), (scale(120), scale(200), 0, scale(80))];

    for (index, day) in DECISION_DAYS.iter().enumerate() {
        let mut items = Vec::new();
        if index == 0 {
            items.extend((0..procedures).map(|_| new_item(maker.procedure())));
        } else {
            let (new, amended, replaced, abolished) = plan[index - 1];
            let mut codes: Vec<String> = in_force.keys().cloned().collect();
            // Take distinct codes for the changes of this decision.
            let mut take = |n: usize, rng: &mut Rng| -> Vec<String> {
                (0..n.min(codes.len())).map(|_| codes.swap_remove(rng.below(codes.len() as u64) as usize)).collect()
            };
            for code in take(amended, &mut maker.rng) {
                let amended = maker.amend(&in_force[&code]);
                items.push(DecisionItem {
                    action: DecisionAction::Amended as i32,
                    procedure: Some(amended),
                    ..Default::default()
                });
            }
            for code in take(replaced, &mut maker.rng) {
                let mut replacement = maker.procedure();
                replacement.sector_code = in_force[&code].sector_code.clone();
                items.push(DecisionItem {
                    action: DecisionAction::Replaced as i32,
                    procedure: Some(replacement),
                    replaces_code: code,
                });
            }
            for code in take(abolished, &mut maker.rng) {
                items.push(DecisionItem {
                    action: DecisionAction::Abolished as i32,
                    procedure: Some(Procedure { code, ..Default::default() }),
                    ..Default::default()
                });
            }
            items.extend((0..new).map(|_| new_item(maker.procedure())));
        }
        let decision = PublicationDecision {
            number: format!("{}/QĐ-UBND", 100 * (index + 1)),
            signed_on: (*day).to_owned(),
            issuer: "Chủ tịch Ủy ban nhân dân tỉnh".into(),
            effective_from: (*day).to_owned(),
            items,
            ..Default::default()
        };
        apply(&mut in_force, &decision);
        decisions.push(decision);
    }
    GeneratedCatalogue { sectors: sectors(), decisions }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_changes_over_the_decisions() {
        let catalogue = province_catalogue(1, 2000);
        assert_eq!(catalogue.first_decision().items.len(), 2000);
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(catalogue.in_force(day("2024-12-31")).len(), 0);
        assert_eq!(catalogue.in_force(day("2025-01-01")).len(), 2000);
        assert_eq!(catalogue.in_force(day("2025-04-01")).len(), 2000 + 60 - 50);
        assert_eq!(catalogue.in_force(day("2026-01-01")).len(), 2000 + 60 - 50 + 120 - 80);
        let sectors: std::collections::BTreeSet<_> =
            catalogue.in_force(day("2025-01-01")).values().map(|p| p.sector_code.clone()).collect();
        assert_eq!(sectors.len(), 30);
    }
}
