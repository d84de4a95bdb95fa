//! Administrative units before and after the 1 July 2025 reorganisation.
//!
//! Before: 63 provinces, about 700 districts, about 10,000 communes. On 1 July 2025 the district tier ends,
//! 29 provinces merge into the 34 that continue (keeping their codes), and the old communes merge, a few at a
//! time, into 3,321 new communes with new codes directly under the provinces.

use crate::rng::Rng;

pub const REORGANISATION: &str = "2025-07-01";
pub const HISTORY_START: &str = "2008-01-01";

/// One row of the units file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRow {
    pub code: String,
    pub name: String,
    pub level: &'static str,
    pub parent_code: String,
    pub valid_from: &'static str,
    pub valid_to: &'static str,
    pub predecessor_codes: Vec<String>,
}

/// The sizes of a generated country.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub old_provinces: usize,
    pub provinces: usize,
    pub old_communes: usize,
    pub communes: usize,
}

/// The real shape: 63 → 34 provinces, about 10,035 → 3,321 communes.
pub const VIETNAM: Shape = Shape { old_provinces: 63, provinces: 34, old_communes: 10_035, communes: 3_321 };

/// Every unit of the country, provinces first, then districts, then communes.
pub fn country(seed: u64, shape: Shape) -> Vec<UnitRow> {
    let mut rng = Rng::new(seed);
    let mut rows = Vec::new();
    let province_code = |i: usize| format!("{:02}", i + 1);
    // Provinces 1..=provinces continue; the others end and merge into one of them.
    for i in 0..shape.old_provinces {
        let continues = i < shape.provinces;
        rows.push(UnitRow {
            code: province_code(i),
            name: format!("Tỉnh {}", i + 1),
            level: "province",
            parent_code: String::new(),
            valid_from: HISTORY_START,
            valid_to: if continues { "" } else { REORGANISATION },
            predecessor_codes: vec![],
        });
    }
    for i in shape.provinces..shape.old_provinces {
        let successor = (i - shape.provinces) % shape.provinces;
        rows[successor].predecessor_codes.push(province_code(i));
    }

    // About eleven districts per old province, and the old communes spread over them.
    let mut districts = Vec::new();
    for p in 0..shape.old_provinces {
        for _ in 0..rng.between(8, 14) {
            let code = format!("{:03}", districts.len() + 1);
            rows.push(UnitRow {
                code: code.clone(),
                name: format!("Huyện {}", districts.len() + 1),
                level: "district",
                parent_code: province_code(p),
                valid_from: HISTORY_START,
                valid_to: REORGANISATION,
                predecessor_codes: vec![],
            });
            districts.push((code, p));
        }
    }
    let mut old_communes_by_province: Vec<Vec<String>> = vec![vec![]; shape.provinces];
    for c in 0..shape.old_communes {
        let (district, old_province) = &districts[c * districts.len() / shape.old_communes];
        let code = format!("{:05}", c + 1);
        rows.push(UnitRow {
            code: code.clone(),
            name: format!("Xã {}", c + 1),
            level: "commune",
            parent_code: district.clone(),
            valid_from: HISTORY_START,
            valid_to: REORGANISATION,
            predecessor_codes: vec![],
        });
        old_communes_by_province[old_province % shape.provinces].push(code);
    }

    // New communes: each province's old communes merge, in runs, into its share of the new ones.
    let mut next_code = shape.old_communes + 1;
    for (p, olds) in old_communes_by_province.iter().enumerate() {
        let share = shape.communes * (p + 1) / shape.provinces - shape.communes * p / shape.provinces;
        for k in 0..share {
            let run = &olds[k * olds.len() / share..(k + 1) * olds.len() / share];
            rows.push(UnitRow {
                code: format!("{next_code:05}"),
                name: format!("Xã mới {next_code}"),
                level: "commune",
                parent_code: province_code(p),
                valid_from: REORGANISATION,
                valid_to: "",
                predecessor_codes: run.to_vec(),
            });
            next_code += 1;
        }
    }
    rows
}

/// The rows as the units CSV file documented in docs/catalogue-files.md.
pub fn to_csv(rows: &[UnitRow]) -> String {
    let mut out = String::from("code,name,level,parent_code,valid_from,valid_to,predecessor_codes\n");
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            r.code,
            r.name,
            r.level,
            r.parent_code,
            r.valid_from,
            r.valid_to,
            r.predecessor_codes.join(";")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_shape_has_the_real_counts() {
        let rows = country(7, VIETNAM);
        let count = |level: &str, current: bool| {
            rows.iter().filter(|r| r.level == level && r.valid_to.is_empty() == current).count()
        };
        assert_eq!(count("province", true), 34);
        assert_eq!(count("province", false), 29);
        assert_eq!(count("commune", true), 3_321);
        assert_eq!(count("commune", false), 10_035);
        let merged: usize = rows.iter().filter(|r| r.level == "commune").map(|r| r.predecessor_codes.len()).sum();
        assert_eq!(merged, 10_035, "every old commune merges into exactly one new commune");
        assert_eq!(country(7, VIETNAM), rows, "deterministic");
    }
}
