//! Administrative units: province, legacy district, commune, each valid over a date range, with the merges
//! that link predecessors to successors.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::NaiveDate;
use onestop_domain::Violations;
use onestop_proto::catalogue::v1::watch_changes_response::Change;
use onestop_proto::catalogue::v1::*;
use onestop_server::{paging, ServiceError, ServiceResult};
use sqlx::PgPool;

use crate::changes;
use crate::files::{cell_field, Table};
use crate::locate::Locator;

/// Most units one request may upsert: the whole country is about 3,400.
const MAX_ITEMS_PER_REQUEST: usize = 20_000;
/// Most units one unit may succeed: the mergers of 2025 joined at most a dozen communes into one.
const MAX_PREDECESSORS: usize = 1_000;
const DEFAULT_PAGE_SIZE: u32 = 1000;
const MAX_PAGE_SIZE: u32 = 10_000;

/// A unit checked field by field.
struct ValidUnit {
    unit: AdministrativeUnit,
    level: i16,
    parent_code: Option<String>,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
}

fn validate(units: &[AdministrativeUnit], at: &Locator) -> ServiceResult<Vec<ValidUnit>> {
    let mut v = Violations::new();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(units.len());
    if units.is_empty() {
        v.add("units", "at least one unit is required");
    }
    if !v.at_most("units", units.len(), MAX_ITEMS_PER_REQUEST) {
        return Err(v.into_result().unwrap_err().into());
    }
    for (i, u) in units.iter().enumerate() {
        let field = |name: &str| at.field(i, name);
        if v.code(&field("code"), &u.code) && !seen.insert(u.code.as_str()) {
            v.add(field("code"), format!("{} appears more than once", u.code));
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
                v.add(field("parent_code"), "is required for a district or commune");
                None
            }
            (_, false) => v.code(&field("parent_code"), &u.parent_code).then(|| u.parent_code.clone()),
        };
        let mut predecessors = HashSet::new();
        if v.at_most(&field("predecessor_codes"), u.predecessor_codes.len(), MAX_PREDECESSORS) {
            for (j, p) in u.predecessor_codes.iter().enumerate() {
                let name = format!("predecessor_codes[{j}]");
                if v.code(&field(&name), p) && (p == &u.code || !predecessors.insert(p)) {
                    v.add(field(&name), format!("{p} is the unit itself or listed twice"));
                }
            }
        }
        let valid_from = v.date(&field("valid_from"), &u.valid_from);
        let valid_to = v.optional_date(&field("valid_to"), &u.valid_to);
        if let (Some(from), Some(to)) = (valid_from, valid_to) {
            if to <= from {
                v.add(field("valid_to"), "must be after valid_from");
            }
        }
        if let Some(valid_from) = valid_from {
            out.push(ValidUnit { unit: u.clone(), level: level as i16, parent_code, valid_from, valid_to });
        }
    }
    v.into_result()?;
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct Span {
    code: String,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
}

/// Creates or updates units and their predecessor links in one transaction; returns how many changed.
pub async fn upsert(pool: &PgPool, units: &[AdministrativeUnit], at: &Locator<'_>) -> ServiceResult<u32> {
    let units = validate(units, at)?;
    let mut tx = changes::begin_write(pool).await?;

    // Parents and predecessors must be in the request or already stored.
    let mut spans: HashMap<String, (NaiveDate, Option<NaiveDate>)> =
        units.iter().map(|u| (u.unit.code.clone(), (u.valid_from, u.valid_to))).collect();
    let referenced: BTreeSet<&str> = units
        .iter()
        .flat_map(|u| u.parent_code.iter().chain(&u.unit.predecessor_codes))
        .map(String::as_str)
        .filter(|code| !spans.contains_key(*code))
        .collect();
    let stored: Vec<Span> = sqlx::query_as("SELECT code, valid_from, valid_to FROM unit WHERE code = ANY($1)")
        .bind(referenced.into_iter().collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
    spans.extend(stored.into_iter().map(|s| (s.code, (s.valid_from, s.valid_to))));
    let mut v = Violations::new();
    for (i, u) in units.iter().enumerate() {
        if let Some(parent) = &u.parent_code {
            if !spans.contains_key(parent) {
                v.add(at.field(i, "parent_code"), format!("unit {parent} not found"));
            }
        }
        for (j, p) in u.unit.predecessor_codes.iter().enumerate() {
            let field = at.field(i, &format!("predecessor_codes[{j}]"));
            match spans.get(p) {
                None => v.add(field, format!("unit {p} not found")),
                Some((_, None)) => {
                    v.add(field, format!("unit {p} has not ended (no valid_to), so it has no successor"))
                }
                Some((_, Some(ended))) => {
                    let exists = u.valid_from <= *ended && u.valid_to.is_none_or(|to| *ended < to);
                    if !exists {
                        v.add(field, format!("unit {p} ended on {ended}, when {} did not exist", u.unit.code));
                    }
                }
            }
        }
    }
    v.into_result()?;

    let mut changed: BTreeSet<String> = sqlx::query_scalar(
        "INSERT INTO unit (code, name, level, parent_code, valid_from, valid_to)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::int2[], $4::text[], $5::date[], $6::date[])
         ON CONFLICT (code) DO UPDATE SET
             name = EXCLUDED.name, level = EXCLUDED.level, parent_code = EXCLUDED.parent_code,
             valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to
         WHERE (unit.name, unit.level, unit.parent_code, unit.valid_from, unit.valid_to)
               IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.level, EXCLUDED.parent_code,
                                 EXCLUDED.valid_from, EXCLUDED.valid_to)
         RETURNING code",
    )
    .bind(units.iter().map(|u| u.unit.code.as_str()).collect::<Vec<_>>())
    .bind(units.iter().map(|u| u.unit.name.as_str()).collect::<Vec<_>>())
    .bind(units.iter().map(|u| u.level).collect::<Vec<_>>())
    .bind(units.iter().map(|u| u.parent_code.as_deref()).collect::<Vec<_>>())
    .bind(units.iter().map(|u| u.valid_from).collect::<Vec<_>>())
    .bind(units.iter().map(|u| u.valid_to).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();

    // Predecessor links: replace the set of each unit whose set differs from the stored one.
    let codes: Vec<&str> = units.iter().map(|u| u.unit.code.as_str()).collect();
    let stored_links: Vec<(String, String)> =
        sqlx::query_as("SELECT successor_code, predecessor_code FROM unit_succession WHERE successor_code = ANY($1)")
            .bind(&codes)
            .fetch_all(&mut *tx)
            .await?;
    let mut stored_sets: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for (successor, predecessor) in &stored_links {
        stored_sets.entry(successor.as_str()).or_default().insert(predecessor.as_str());
    }
    let relinked: Vec<&ValidUnit> = units
        .iter()
        .filter(|u| {
            let wanted: BTreeSet<&str> = u.unit.predecessor_codes.iter().map(String::as_str).collect();
            stored_sets.get(u.unit.code.as_str()).cloned().unwrap_or_default() != wanted
        })
        .collect();
    if !relinked.is_empty() {
        let successors: Vec<&str> = relinked.iter().map(|u| u.unit.code.as_str()).collect();
        sqlx::query("DELETE FROM unit_succession WHERE successor_code = ANY($1)")
            .bind(&successors)
            .execute(&mut *tx)
            .await?;
        let pairs: Vec<(&str, &str)> = relinked
            .iter()
            .flat_map(|u| u.unit.predecessor_codes.iter().map(|p| (p.as_str(), u.unit.code.as_str())))
            .collect();
        sqlx::query(
            "INSERT INTO unit_succession (predecessor_code, successor_code) SELECT * FROM UNNEST($1::text[], $2::text[])",
        )
        .bind(pairs.iter().map(|p| p.0).collect::<Vec<_>>())
        .bind(pairs.iter().map(|p| p.1).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        changed.extend(successors.into_iter().map(str::to_owned));
    }

    for u in units.iter().filter(|u| changed.contains(&u.unit.code)) {
        changes::append(&mut tx, Change::Unit(u.unit.clone())).await?;
    }
    tx.commit().await?;
    Ok(changed.len() as u32)
}

/// The columns of a units file, in the order documented in docs/catalogue-files.md.
pub const CSV_COLUMNS: [&str; 7] =
    ["code", "name", "level", "parent_code", "valid_from", "valid_to", "predecessor_codes"];

/// The units of a CSV file and the row each came from.
pub async fn read_csv(content: Vec<u8>) -> ServiceResult<(Vec<AdministrativeUnit>, Vec<usize>)> {
    let table = crate::files::off_the_runtime(move || Table::read(FileFormat::Csv, &content)).await?;
    table.require(&["code", "name", "level", "valid_from"])?;
    let mut v = Violations::new();
    let mut units = Vec::with_capacity(table.rows.len());
    let mut rows = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let level = match table.get(row, "level").to_lowercase().as_str() {
            "province" | "tinh" | "tỉnh" | "1" => UnitLevel::Province,
            "district" | "huyen" | "huyện" | "2" => UnitLevel::District,
            "commune" | "xa" | "xã" | "3" => UnitLevel::Commune,
            other => {
                v.add(cell_field(row.number, "level"), format!("{other:?} is not province, district or commune"));
                UnitLevel::Unspecified
            }
        };
        units.push(AdministrativeUnit {
            code: table.get(row, "code").to_owned(),
            name: table.get(row, "name").to_owned(),
            level: level as i32,
            parent_code: table.get(row, "parent_code").to_owned(),
            valid_from: table.get(row, "valid_from").to_owned(),
            valid_to: table.get(row, "valid_to").to_owned(),
            predecessor_codes: split_list(table.get(row, "predecessor_codes")),
        });
        rows.push(row.number);
    }
    v.into_result()?;
    if units.is_empty() {
        return Err(ServiceError::invalid("content", "the file has no unit rows"));
    }
    Ok((units, rows))
}

/// Splits a `;`-separated list cell.
pub fn split_list(cell: &str) -> Vec<String> {
    cell.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

#[derive(sqlx::FromRow)]
struct UnitRow {
    code: String,
    name: String,
    level: i16,
    parent_code: Option<String>,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
    predecessor_codes: Vec<String>,
}

impl From<UnitRow> for AdministrativeUnit {
    fn from(row: UnitRow) -> Self {
        AdministrativeUnit {
            code: row.code,
            name: row.name,
            level: i32::from(row.level),
            parent_code: row.parent_code.unwrap_or_default(),
            valid_from: row.valid_from.to_string(),
            valid_to: row.valid_to.map(|d| d.to_string()).unwrap_or_default(),
            predecessor_codes: row.predecessor_codes,
        }
    }
}

const UNIT_COLUMNS: &str = "u.code, u.name, u.level, u.parent_code, u.valid_from, u.valid_to,
    ARRAY(SELECT s.predecessor_code FROM unit_succession s WHERE s.successor_code = u.code ORDER BY 1)
        AS predecessor_codes";

const EXISTS_ON: &str = "u.valid_from <= $1 AND (u.valid_to IS NULL OR u.valid_to > $1)";

pub async fn list(pool: &PgPool, request: &ListUnitsRequest) -> ServiceResult<ListUnitsResponse> {
    let mut v = Violations::new();
    let as_of = v.date("as_of", &request.as_of);
    if !request.parent_code.is_empty() {
        v.code("parent_code", &request.parent_code);
    }
    let level = v.known("level", request.level).unwrap_or(UnitLevel::Unspecified);
    let (page_size, after) =
        paging::code_page(&mut v, request.page_size, &request.page_token, (DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE));
    v.into_result()?;
    let rows: Vec<UnitRow> = sqlx::query_as(&format!(
        "SELECT {UNIT_COLUMNS} FROM unit u
         WHERE {EXISTS_ON} AND ($2 = 0 OR u.level = $2) AND ($3 = '' OR u.parent_code = $3) AND u.code > $4
         ORDER BY u.code LIMIT $5"
    ))
    .bind(as_of.expect("validated"))
    .bind(level as i16)
    .bind(&request.parent_code)
    .bind(&after)
    .bind(i64::from(page_size))
    .fetch_all(pool)
    .await?;
    let next_page_token =
        if rows.len() == page_size as usize { rows.last().map(|r| paging::encode(&[&r.code])) } else { None };
    Ok(ListUnitsResponse {
        units: rows.into_iter().map(AdministrativeUnit::from).collect(),
        next_page_token: next_page_token.unwrap_or_default(),
    })
}

/// The unit and the units above it on `as_of`, nearest first.
pub async fn ancestors(pool: &PgPool, request: &GetUnitAncestorsRequest) -> ServiceResult<GetUnitAncestorsResponse> {
    let mut v = Violations::new();
    v.code("code", &request.code);
    let as_of = v.date("as_of", &request.as_of);
    v.into_result()?;
    let rows: Vec<UnitRow> = sqlx::query_as(&format!(
        "WITH RECURSIVE chain (code, depth) AS (
             SELECT u.code, 0 FROM unit u WHERE u.code = $2 AND {EXISTS_ON}
             UNION ALL
             SELECT u.parent_code, c.depth + 1 FROM unit u JOIN chain c ON u.code = c.code
             WHERE u.parent_code IS NOT NULL AND c.depth < 10
         )
         SELECT {UNIT_COLUMNS} FROM chain c JOIN unit u ON u.code = c.code ORDER BY c.depth"
    ))
    .bind(as_of.expect("validated"))
    .bind(&request.code)
    .fetch_all(pool)
    .await?;
    if rows.is_empty() {
        return Err(ServiceError::not_found("code", format!("unit {} on {}", request.code, request.as_of)));
    }
    Ok(GetUnitAncestorsResponse { units: rows.into_iter().map(AdministrativeUnit::from).collect() })
}

#[derive(sqlx::FromRow)]
struct SuccessionRow {
    predecessor_code: String,
    effective_from: NaiveDate,
    #[sqlx(flatten)]
    successor: UnitRow,
}

/// NOT_FOUND naming `field` unless unit `code` exists (on any date).
pub async fn ensure_unit(pool: &PgPool, field: &str, code: &str) -> ServiceResult<()> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM unit WHERE code = $1)").bind(code).fetch_one(pool).await?;
    if exists {
        Ok(())
    } else {
        Err(ServiceError::not_found(field, format!("unit {code}")))
    }
}

/// The units that took over `code`, directly or through later merges, in the order they took over.
pub async fn successors(pool: &PgPool, request: &GetUnitSuccessorsRequest) -> ServiceResult<GetUnitSuccessorsResponse> {
    let mut v = Violations::new();
    v.code("code", &request.code);
    v.into_result()?;
    ensure_unit(pool, "code", &request.code).await?;
    let rows: Vec<SuccessionRow> = sqlx::query_as(&format!(
        "WITH RECURSIVE line (predecessor_code, successor_code, effective_from, depth) AS (
             SELECT s.predecessor_code, s.successor_code, p.valid_to, 1
             FROM unit_succession s JOIN unit p ON p.code = s.predecessor_code
             WHERE s.predecessor_code = $1
             UNION
             SELECT s.predecessor_code, s.successor_code, p.valid_to, l.depth + 1
             FROM unit_succession s JOIN unit p ON p.code = s.predecessor_code
             JOIN line l ON s.predecessor_code = l.successor_code
             WHERE l.depth < 20
         )
         SELECT l.predecessor_code, l.effective_from, {UNIT_COLUMNS}
         FROM line l JOIN unit u ON u.code = l.successor_code
         ORDER BY l.effective_from, l.depth, u.code"
    ))
    .bind(&request.code)
    .fetch_all(pool)
    .await?;
    Ok(GetUnitSuccessorsResponse {
        successions: rows
            .into_iter()
            .map(|r| Succession {
                predecessor_code: r.predecessor_code,
                effective_from: r.effective_from.to_string(),
                successor: Some(r.successor.into()),
            })
            .collect(),
    })
}
