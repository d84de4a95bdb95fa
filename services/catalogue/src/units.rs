//! Administrative units: province, legacy district, commune, each valid over a date range.

use chrono::NaiveDate;
use onestop_domain::Violations;
use onestop_proto::catalogue::v1::{AdministrativeUnit, UnitLevel};
use onestop_server::ServiceResult;
use sqlx::PgPool;
use std::collections::HashSet;

/// A unit as validated from a request.
struct NewUnit {
    code: String,
    name: String,
    level: i16,
    parent_code: Option<String>,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
}

fn validate(units: &[AdministrativeUnit]) -> ServiceResult<Vec<NewUnit>> {
    let mut v = Violations::new();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(units.len());
    if units.is_empty() {
        v.add("units", "at least one unit is required");
    }
    for (i, u) in units.iter().enumerate() {
        let field = |name: &str| format!("units[{i}].{name}");
        if v.code(&field("code"), &u.code) && !seen.insert(u.code.as_str()) {
            v.add(
                field("code"),
                format!("{} appears more than once in the request", u.code),
            );
        }
        v.text(&field("name"), &u.name, 200);
        let level = UnitLevel::try_from(u.level).unwrap_or(UnitLevel::Unspecified);
        let parent_code = match (level, u.parent_code.is_empty()) {
            (UnitLevel::Unspecified, _) => {
                v.add(field("level"), "must be PROVINCE, DISTRICT or COMMUNE");
                None
            }
            (UnitLevel::Province, true) => None,
            (UnitLevel::Province, false) => {
                v.add(field("parent_code"), "a province has no parent");
                None
            }
            (_, true) => {
                v.add(
                    field("parent_code"),
                    "is required for a district or commune",
                );
                None
            }
            (_, false) => v
                .code(&field("parent_code"), &u.parent_code)
                .then(|| u.parent_code.clone()),
        };
        let valid_from = v.date(&field("valid_from"), &u.valid_from);
        let valid_to = v.optional_date(&field("valid_to"), &u.valid_to);
        if let (Some(from), Some(to)) = (valid_from, valid_to) {
            if to <= from {
                v.add(field("valid_to"), "must be after valid_from");
            }
        }
        if let Some(valid_from) = valid_from {
            out.push(NewUnit {
                code: u.code.clone(),
                name: u.name.clone(),
                level: level as i16,
                parent_code,
                valid_from,
                valid_to,
            });
        }
    }
    v.into_result()?;
    Ok(out)
}

/// Creates or updates units in one transaction; returns how many were created or changed.
pub async fn upsert(pool: &PgPool, units: &[AdministrativeUnit]) -> ServiceResult<u32> {
    let units = validate(units)?;
    let mut tx = pool.begin().await?;

    // A parent must be in the request or already stored.
    let in_request: HashSet<&str> = units.iter().map(|u| u.code.as_str()).collect();
    let outside: Vec<String> = units
        .iter()
        .filter_map(|u| u.parent_code.clone())
        .filter(|p| !in_request.contains(p.as_str()))
        .collect();
    let stored: HashSet<String> = sqlx::query_scalar("SELECT code FROM unit WHERE code = ANY($1)")
        .bind(&outside)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    let mut v = Violations::new();
    for (i, u) in units.iter().enumerate() {
        if let Some(parent) = &u.parent_code {
            if !in_request.contains(parent.as_str()) && !stored.contains(parent) {
                v.add(
                    format!("units[{i}].parent_code"),
                    format!("unit {parent} not found"),
                );
            }
        }
    }
    v.into_result()?;

    let changed = sqlx::query(
        "INSERT INTO unit (code, name, level, parent_code, valid_from, valid_to)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::int2[], $4::text[], $5::date[], $6::date[])
         ON CONFLICT (code) DO UPDATE SET
             name = EXCLUDED.name, level = EXCLUDED.level, parent_code = EXCLUDED.parent_code,
             valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to
         WHERE (unit.name, unit.level, unit.parent_code, unit.valid_from, unit.valid_to)
               IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.level, EXCLUDED.parent_code,
                                 EXCLUDED.valid_from, EXCLUDED.valid_to)",
    )
    .bind(units.iter().map(|u| u.code.clone()).collect::<Vec<_>>())
    .bind(units.iter().map(|u| u.name.clone()).collect::<Vec<_>>())
    .bind(units.iter().map(|u| u.level).collect::<Vec<_>>())
    .bind(units.iter().map(|u| u.parent_code.clone()).collect::<Vec<_>>())
    .bind(units.iter().map(|u| u.valid_from).collect::<Vec<_>>())
    .bind(units.iter().map(|u| u.valid_to).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    // Bounded by the request size, which the message size limit keeps far below u32::MAX.
    Ok(changed as u32)
}
