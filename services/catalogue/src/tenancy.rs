//! Provinces as tenants of the catalogue: a province's token changes only its own province (its units, centers,
//! agencies, center lists and decisions); the national reference data (sectors, the calendar) and national
//! decisions need a national token.

use std::collections::HashMap;

use onestop_server::auth::{Principal, Role};
use onestop_server::{ServiceError, ServiceResult};
use sqlx::PgConnection;

/// On whose behalf a write is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Writer {
    /// A national operator (or a service): the whole catalogue.
    Nation,
    /// A provincial office: its province (the province's unit code) only.
    Province(String),
}

impl Writer {
    /// The writer a principal is; one that is neither national nor a province's writes nothing.
    pub fn of(principal: &Principal) -> ServiceResult<Writer> {
        match (principal.role, principal.province.as_deref()) {
            (Role::National | Role::Service, _) => Ok(Writer::Nation),
            (Role::Province, Some(province)) => Ok(Writer::Province(province.to_owned())),
            _ => Err(ServiceError::PermissionDenied(format!(
                "{} writes for no province: the catalogue is written by a province's or a national token",
                principal.subject
            ))),
        }
    }

    /// Refuses a province's token for what only the nation keeps.
    pub fn national_only(&self, what: &str) -> ServiceResult<()> {
        match self {
            Writer::Nation => Ok(()),
            Writer::Province(province) => Err(ServiceError::PermissionDenied(format!(
                "{what} are national reference data: a national token changes them, not province {province}'s"
            ))),
        }
    }

    /// Refuses a province's token for something of another province (or of the nation: `owner` empty).
    pub fn may_change(&self, field: &str, what: &str, owner: &str) -> ServiceResult<()> {
        match self {
            Writer::Province(province) if province != owner => {
                let whose = if owner.is_empty() { "the nation".to_owned() } else { format!("province {owner}") };
                Err(ServiceError::PermissionDenied(format!(
                    "{field}: {what} belongs to {whose}; province {province}'s token changes only its own"
                )))
            }
            _ => Ok(()),
        }
    }
}

/// The province (unit code of level 1) of each stored unit among `codes`; units with none are left out.
pub async fn provinces_of(db: &mut PgConnection, codes: &[String]) -> ServiceResult<HashMap<String, String>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "WITH RECURSIVE up (start, code, parent_code, level, depth) AS (
             SELECT u.code, u.code, u.parent_code, u.level, 0 FROM unit u WHERE u.code = ANY($1)
             UNION ALL
             SELECT up.start, p.code, p.parent_code, p.level, up.depth + 1
             FROM up JOIN unit p ON p.code = up.parent_code
             WHERE up.level <> 1 AND up.depth < 10
         )
         SELECT start, code FROM up WHERE level = 1",
    )
    .bind(codes)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Refuses a province's token unless every unit named by `units` (field, unit code) lies in its province.
pub async fn units_in_province(
    db: &mut PgConnection,
    writer: &Writer,
    what: &str,
    units: &[(String, String)],
) -> ServiceResult<()> {
    let Writer::Province(_) = writer else { return Ok(()) };
    let codes: Vec<String> = units.iter().map(|(_, unit)| unit.clone()).collect();
    let provinces = provinces_of(db, &codes).await?;
    for (field, unit) in units {
        let owner = provinces.get(unit).map(String::as_str).unwrap_or_default();
        writer.may_change(field, &format!("{what} of unit {unit}"), owner)?;
    }
    Ok(())
}

/// Refuses a province's token unless every unit of a request lies in its province: a province unit is its own,
/// any other lies in the province above its parent, named in the same request or stored.
pub async fn request_units_in_province(
    db: &mut PgConnection,
    writer: &Writer,
    units: &[onestop_proto::catalogue::v1::AdministrativeUnit],
    field: impl Fn(usize) -> String,
) -> ServiceResult<()> {
    let Writer::Province(_) = writer else { return Ok(()) };
    let in_request: HashMap<&str, &onestop_proto::catalogue::v1::AdministrativeUnit> =
        units.iter().map(|u| (u.code.as_str(), u)).collect();
    let province_level = onestop_proto::catalogue::v1::UnitLevel::Province as i32;
    // Walk each unit up through the request; where the walk leaves the request, the stored unit answers.
    let mut reached: Vec<Result<String, String>> = Vec::with_capacity(units.len());
    for unit in units {
        let mut current = unit;
        let mut outcome = Err(current.parent_code.clone());
        for _ in 0..10 {
            if current.level == province_level {
                outcome = Ok(current.code.clone());
                break;
            }
            match in_request.get(current.parent_code.as_str()) {
                Some(parent) => current = parent,
                None => {
                    outcome = Err(current.parent_code.clone());
                    break;
                }
            }
        }
        reached.push(outcome);
    }
    let stored: Vec<String> = reached.iter().filter_map(|r| r.as_ref().err().cloned()).collect();
    let stored = provinces_of(db, &stored).await?;
    for (i, (unit, outcome)) in units.iter().zip(reached).enumerate() {
        let owner = match outcome {
            Ok(province) => province,
            Err(parent) => stored.get(&parent).cloned().unwrap_or_default(),
        };
        writer.may_change(&field(i), &format!("unit {}", unit.code), &owner)?;
    }
    Ok(())
}
