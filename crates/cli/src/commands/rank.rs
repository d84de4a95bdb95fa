//! The child units of a unit ranked by one indicator.

use onestop_proto::aggregation::v1::{RankUnitsRequest, RankedUnit};

use super::indicators::{label, value};
use super::{Service, Services};
use crate::args::{Output, Period};
use crate::output::{Cell, Sheet};

pub async fn run(
    services: &Services<'_>,
    unit: &str,
    period: &Period,
    indicator: &str,
    output: &Output,
) -> anyhow::Result<()> {
    let days = period.days()?;
    let request = RankUnitsRequest {
        unit_code: unit.to_owned(),
        period: days.range,
        reporting_period: days.reporting,
        indicator_id: indicator.to_owned(),
        min_intake_cursor: services.after_cursor(),
        ..Default::default()
    };
    let answer =
        services.aggregation()?.rank_units(request).await.map_err(services.failed(Service::Aggregation))?.into_inner();
    let mut sheet = sheet(&answer.units);
    if let Some(first) = answer.units.iter().find_map(|u| u.result.as_ref()) {
        // The table says what it ranks by in the office's words; the other formats carry the id in every row.
        let days = answer.days.clone().unwrap_or_default();
        sheet.title = Some(format!("{} ({}), {} to {}", label(first), first.indicator_id, days.from_day, days.to_day));
    }
    output.write(&sheet, || json(&answer.units), "Xếp hạng")
}

fn sheet(units: &[RankedUnit]) -> Sheet {
    let mut sheet =
        Sheet::new(&["rank", "unit", "name", "indicator", "value", "numerator", "denominator", "target", "score"]);
    for unit in units {
        let result = unit.result.clone().unwrap_or_default();
        sheet.push(vec![
            Cell::Count(unit.rank.into()),
            Cell::text(&unit.unit_code),
            Cell::text(&unit.unit_name),
            Cell::text(&result.indicator_id),
            value(&result),
            Cell::Count(result.numerator),
            Cell::Count(result.denominator),
            Cell::Percent(result.target),
            Cell::Number(result.score, 2),
        ]);
    }
    sheet
}

fn json(units: &[RankedUnit]) -> serde_json::Value {
    let items = units.iter().map(|unit| {
        let r = unit.result.clone().unwrap_or_default();
        serde_json::json!({
            "rank": unit.rank, "unit": unit.unit_code, "name": unit.unit_name, "indicator": r.indicator_id,
            "label_vi": r.label_vi, "version": r.definition_version, "numerator": r.numerator,
            "denominator": r.denominator, "value": r.value, "target": r.target, "score": r.score,
            "unavailable": r.unavailable,
        })
    });
    serde_json::Value::Array(items.collect())
}
