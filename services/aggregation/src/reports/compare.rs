//! A submitted report against the current figures: which form 06 cells and which indicators moved.

use std::collections::BTreeMap;

use onestop_proto::aggregation::v1::{Form06Difference, GetForm06Response, IndicatorDifference, IndicatorResult};

/// The form's first numbered column of figures: `columns[0]` of a row is column 3.
const FIRST_COLUMN: u32 = 3;

/// Every row of a form keyed by (level, sector code): sector rows, each level's subtotal (sector ""), and the
/// total (level "" and sector ""), with their labels and columns.
fn rows(form: &GetForm06Response) -> BTreeMap<(String, String), (String, Vec<u64>)> {
    let mut rows = BTreeMap::new();
    for section in &form.sections {
        if let Some(subtotal) = &section.subtotal {
            rows.insert((section.level.clone(), String::new()), (subtotal.label.clone(), subtotal.columns.clone()));
        }
        for row in &section.rows {
            rows.insert((section.level.clone(), row.sector_code.clone()), (row.label.clone(), row.columns.clone()));
        }
    }
    if let Some(total) = &form.total {
        rows.insert((String::new(), String::new()), (total.label.clone(), total.columns.clone()));
    }
    rows
}

/// The cells of form 06 whose value differs between `submitted` and `current`, row by row (a row on one side
/// only counts as zeros on the other), in level, sector and column order.
pub fn form06(submitted: &GetForm06Response, current: &GetForm06Response) -> Vec<Form06Difference> {
    let (before, after) = (rows(submitted), rows(current));
    let mut keys: Vec<&(String, String)> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut differences = Vec::new();
    for key in keys {
        let (label, old) = before.get(key).map_or(("", &[][..]), |(l, c)| (l.as_str(), c.as_slice()));
        let (new_label, new) = after.get(key).map_or(("", &[][..]), |(l, c)| (l.as_str(), c.as_slice()));
        let width = old.len().max(new.len());
        for i in 0..width {
            let (submitted, current) = (old.get(i).copied().unwrap_or(0), new.get(i).copied().unwrap_or(0));
            if submitted != current {
                differences.push(Form06Difference {
                    level: key.0.clone(),
                    sector_code: key.1.clone(),
                    label: if label.is_empty() { new_label } else { label }.to_owned(),
                    column: FIRST_COLUMN + i as u32,
                    submitted,
                    current,
                });
            }
        }
    }
    differences
}

/// The indicators whose numerator or denominator differs, in the submitted order.
pub fn indicators(submitted: &[IndicatorResult], current: &[IndicatorResult]) -> Vec<IndicatorDifference> {
    submitted
        .iter()
        .filter_map(|old| {
            let new = current.iter().find(|r| r.indicator_id == old.indicator_id);
            let (numerator, denominator, value) = new.map_or((0, 0, None), |r| (r.numerator, r.denominator, r.value));
            (numerator != old.numerator || denominator != old.denominator).then(|| IndicatorDifference {
                indicator_id: old.indicator_id.clone(),
                submitted_numerator: old.numerator,
                submitted_denominator: old.denominator,
                current_numerator: numerator,
                current_denominator: denominator,
                submitted_value: old.value,
                current_value: value,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use onestop_proto::aggregation::v1::{Form06Row, Form06Section};

    use super::*;

    fn form(columns: Vec<u64>, sector: &str) -> GetForm06Response {
        let row = |label: &str, sector: &str| Form06Row {
            label: label.into(),
            sector_code: sector.into(),
            columns: columns.clone(),
            ..Default::default()
        };
        GetForm06Response {
            sections: vec![Form06Section {
                level: "COMMUNE".into(),
                subtotal: Some(row("Cấp xã", "")),
                rows: vec![row("Tư pháp", sector)],
            }],
            total: Some(row("Tổng cộng", "")),
            ..Default::default()
        }
    }

    #[test]
    fn a_changed_column_shows_in_its_row_its_subtotal_and_the_total() {
        let submitted = form(vec![10, 4, 6, 0, 9, 1, 8, 0, 1, 1, 0], "TP");
        let current = form(vec![12, 4, 8, 0, 9, 1, 8, 0, 3, 3, 0], "TP");
        let differences = form06(&submitted, &current);
        let cells: Vec<(&str, &str, u32, u64, u64)> = differences
            .iter()
            .map(|d| (d.level.as_str(), d.sector_code.as_str(), d.column, d.submitted, d.current))
            .collect();
        assert_eq!(
            cells,
            [
                ("", "", 3, 10, 12),
                ("", "", 5, 6, 8),
                ("", "", 11, 1, 3),
                ("", "", 12, 1, 3),
                ("COMMUNE", "", 3, 10, 12),
                ("COMMUNE", "", 5, 6, 8),
                ("COMMUNE", "", 11, 1, 3),
                ("COMMUNE", "", 12, 1, 3),
                ("COMMUNE", "TP", 3, 10, 12),
                ("COMMUNE", "TP", 5, 6, 8),
                ("COMMUNE", "TP", 11, 1, 3),
                ("COMMUNE", "TP", 12, 1, 3),
            ]
        );
        assert_eq!(differences[8].label, "Tư pháp");
        assert!(form06(&submitted, &submitted).is_empty());
    }

    #[test]
    fn a_row_on_one_side_only_differs_from_zeros() {
        let submitted = form(vec![1; 11], "TP");
        let current = form(vec![1; 11], "XD");
        let differences = form06(&submitted, &current);
        assert_eq!(differences.len(), 22);
        assert!(differences.iter().any(|d| d.sector_code == "TP" && d.submitted == 1 && d.current == 0));
        assert!(differences.iter().any(|d| d.sector_code == "XD" && d.submitted == 0 && d.current == 1));
    }

    #[test]
    fn indicators_differ_by_numerator_or_denominator() {
        let result = |id: &str, numerator, denominator| IndicatorResult {
            indicator_id: id.into(),
            numerator,
            denominator,
            ..Default::default()
        };
        let submitted = [result("a", 1, 2), result("b", 3, 4)];
        let current = [result("a", 1, 2), result("b", 3, 5)];
        let differences = indicators(&submitted, &current);
        assert_eq!(differences.len(), 1);
        assert_eq!((differences[0].submitted_denominator, differences[0].current_denominator), (4, 5));
    }
}
