//! Indicators of a unit or center: a table by label, CSV and JSON by id, and a wide workbook with one row per
//! unit or group and one column per indicator, as an office lays them out.

use onestop_proto::aggregation::v1::{Breakdown, DisplayUnit, GetIndicatorsRequest, IndicatorResult};

use super::{Service, Services};
use crate::args::{BreakdownArg, Format, Output, Scope};
use crate::output::{Cell, Sheet};

/// The key of the answer for the whole scope, beside its groups' keys.
const ALL: &str = "(all)";

/// One row of the answer: the whole scope or one group, with its name.
struct Group {
    key: String,
    name: String,
    results: Vec<IndicatorResult>,
}

pub async fn run(
    services: &Services<'_>,
    scope: &Scope,
    breakdown: Option<BreakdownArg>,
    indicators: &[String],
    output: &Output,
) -> anyhow::Result<()> {
    let target = scope.target()?;
    let days = scope.period.days()?;
    let request = GetIndicatorsRequest {
        unit_code: target.unit_code,
        center_code: target.center_code,
        period: days.range,
        reporting_period: days.reporting,
        indicator_ids: indicators.to_vec(),
        breakdown: breakdown.map_or(Breakdown::Unspecified, breakdown_of) as i32,
        min_intake_cursor: services.after_cursor(),
        ..Default::default()
    };
    let answer = services
        .aggregation()?
        .get_indicators(request)
        .await
        .map_err(services.failed(Service::Aggregation))?
        .into_inner();
    let mut groups = vec![Group { key: ALL.into(), name: String::new(), results: answer.indicators }];
    groups.extend(answer.groups.into_iter().map(|g| Group { key: g.key, name: g.name, results: g.indicators }));
    let sheet = match output.format {
        Format::Csv => csv_sheet(&groups),
        _ => table_sheet(&groups),
    };
    output.write_with(&sheet, || json(&groups), |_| wide_sheet(&groups, indicators).xlsx("Chỉ tiêu"))
}

fn breakdown_of(b: BreakdownArg) -> Breakdown {
    match b {
        BreakdownArg::ChildUnit => Breakdown::ChildUnit,
        BreakdownArg::Center => Breakdown::Center,
        BreakdownArg::Month => Breakdown::Month,
        BreakdownArg::Sector => Breakdown::Sector,
        BreakdownArg::Procedure => Breakdown::Procedure,
        BreakdownArg::Level => Breakdown::Level,
        BreakdownArg::Agency => Breakdown::Agency,
    }
}

/// What a reader calls the indicator: its Vietnamese label, or its id when it has none.
pub fn label(r: &IndicatorResult) -> &str {
    if r.label_vi.is_empty() {
        &r.indicator_id
    } else {
        &r.label_vi
    }
}

/// The value as the definition says to show it: a share as a percentage, a count as the numerator. Unspecified
/// is a share, as the definitions say.
pub fn value(r: &IndicatorResult) -> Cell {
    match r.display_unit() {
        DisplayUnit::Count => Cell::Count(r.numerator),
        DisplayUnit::Percent | DisplayUnit::Unspecified => Cell::Percent(r.value),
    }
}

fn display_unit(r: &IndicatorResult) -> &'static str {
    match r.display_unit() {
        DisplayUnit::Count => "count",
        DisplayUnit::Percent | DisplayUnit::Unspecified => "percent",
    }
}

/// An indicator that could not be computed says why in place of its value.
fn value_or_why(r: &IndicatorResult) -> Cell {
    if r.unavailable.is_empty() {
        value(r)
    } else {
        Cell::text(format!("unavailable: {}", r.unavailable))
    }
}

fn table_sheet(groups: &[Group]) -> Sheet {
    let mut sheet = Sheet::new(&["group", "name", "indicator", "value", "numerator", "denominator", "target", "score"]);
    for group in groups {
        for r in &group.results {
            sheet.push(vec![
                Cell::text(&group.key),
                Cell::text(&group.name),
                Cell::text(label(r)),
                value_or_why(r),
                Cell::Count(r.numerator),
                Cell::Count(r.denominator),
                Cell::Percent(r.target),
                Cell::Number(r.score, 2),
            ]);
        }
    }
    sheet
}

/// The columns of the first CSV come first, unchanged, for the scripts that read them.
fn csv_sheet(groups: &[Group]) -> Sheet {
    let mut sheet = Sheet::new(&[
        "group",
        "indicator",
        "version",
        "numerator",
        "denominator",
        "value",
        "score",
        "group_name",
        "label_vi",
        "target",
        "display_unit",
        "unavailable",
    ]);
    for group in groups {
        for r in &group.results {
            sheet.push(vec![
                Cell::text(&group.key),
                Cell::text(&r.indicator_id),
                Cell::Count(r.definition_version.into()),
                Cell::Count(r.numerator),
                Cell::Count(r.denominator),
                Cell::Percent(r.value),
                Cell::Number(r.score, 2),
                Cell::text(&group.name),
                Cell::text(&r.label_vi),
                Cell::Percent(r.target),
                Cell::text(display_unit(r)),
                Cell::text(&r.unavailable),
            ]);
        }
    }
    sheet
}

/// One row per group, one column per indicator headed by its label: in the order they were asked for, else in
/// the answer's.
fn wide_sheet(groups: &[Group], asked: &[String]) -> Sheet {
    let mut columns: Vec<(&str, &str)> = Vec::new();
    for r in groups.iter().flat_map(|g| &g.results) {
        if !columns.iter().any(|(id, _)| *id == r.indicator_id) {
            columns.push((&r.indicator_id, label(r)));
        }
    }
    columns.sort_by_key(|(id, _)| asked.iter().position(|a| a == id));
    let mut headers = vec!["key", "name"];
    headers.extend(columns.iter().map(|(_, label)| *label));
    let mut sheet = Sheet::new(&headers);
    for group in groups.iter().filter(|g| !g.results.is_empty()) {
        let mut cells = vec![Cell::text(&group.key), Cell::text(&group.name)];
        for (id, _) in &columns {
            let result = group.results.iter().find(|r| r.indicator_id == *id);
            cells.push(result.map_or(Cell::Percent(None), value));
        }
        sheet.push(cells);
    }
    sheet
}

fn json(groups: &[Group]) -> serde_json::Value {
    let result = |r: &IndicatorResult| {
        serde_json::json!({
            "indicator": r.indicator_id, "version": r.definition_version, "label_vi": r.label_vi,
            "label_en": r.label_en, "display_unit": display_unit(r), "lower_is_better": r.lower_is_better,
            "numerator": r.numerator, "denominator": r.denominator, "value": r.value, "target": r.target,
            "score": r.score, "unavailable": r.unavailable,
        })
    };
    let items: Vec<serde_json::Value> = groups
        .iter()
        .flat_map(|g| {
            g.results.iter().map(move |r| {
                let mut item = result(r);
                item["group"] = g.key.clone().into();
                item["group_name"] = g.name.clone().into();
                item
            })
        })
        .collect();
    serde_json::Value::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, label: &str, unit: DisplayUnit, numerator: u64, denominator: u64) -> IndicatorResult {
        IndicatorResult {
            indicator_id: id.into(),
            label_vi: label.into(),
            display_unit: unit as i32,
            numerator,
            denominator,
            value: (denominator > 0).then(|| numerator as f64 / denominator as f64),
            ..Default::default()
        }
    }

    #[test]
    fn a_share_shows_as_a_percentage_and_a_count_as_its_numerator() {
        let groups = vec![Group {
            key: ALL.into(),
            name: String::new(),
            results: vec![
                result("online_case_share", "Tỷ lệ hồ sơ trực tuyến", DisplayUnit::Percent, 7, 8),
                result("procedures_online", "", DisplayUnit::Count, 12, 40),
            ],
        }];
        let table = table_sheet(&groups).table();
        assert!(table.contains("Tỷ lệ hồ sơ trực tuyến  87.5%"), "{table}");
        // Without a label, the id; a count is its numerator.
        assert!(table.contains("procedures_online          12"), "{table}");
    }

    #[test]
    fn the_wide_sheet_has_a_column_per_indicator_and_a_row_per_group() {
        let groups = vec![
            Group {
                key: ALL.into(),
                name: String::new(),
                results: vec![result("a", "Chỉ tiêu A", DisplayUnit::Percent, 1, 2)],
            },
            Group {
                key: "20001".into(),
                name: "Xã 2".into(),
                results: vec![
                    result("b", "Chỉ tiêu B", DisplayUnit::Count, 3, 4),
                    result("a", "Chỉ tiêu A", DisplayUnit::Percent, 1, 4),
                ],
            },
        ];
        let sheet = wide_sheet(&groups, &[]);
        assert_eq!(sheet.headers, ["key", "name", "Chỉ tiêu A", "Chỉ tiêu B"]);
        assert_eq!(sheet.rows[0].cells[2..], [Cell::Percent(Some(0.5)), Cell::Percent(None)]);
        assert_eq!(sheet.rows[1].cells[2..], [Cell::Percent(Some(0.25)), Cell::Count(3)]);
    }
}
