//! Reference data a province keeps in spreadsheets: sectors, agencies, centers and the procedures each center
//! receives. Units and calendars are read by the catalogue itself (docs/catalogue-files.md).

use std::collections::BTreeMap;
use std::path::Path;

use onestop_proto::catalogue::v1::{Agency, AgencyKind, Center, CenterKind, Sector, SetCenterProceduresRequest};

use super::{enum_value, records, Located};

pub const SECTOR_COLUMNS: [&str; 2] = ["code", "name"];
pub const AGENCY_COLUMNS: [&str; 4] = ["code", "name", "unit_code", "kind"];
pub const CENTER_COLUMNS: [&str; 5] = ["code", "name", "unit_code", "kind", "parent_center_code"];
pub const CENTER_PROCEDURE_COLUMNS: [&str; 4] = ["center_code", "effective_from", "procedure_code", "source"];

pub const AGENCY_KINDS: [(&str, AgencyKind); 3] = [
    ("PROVINCIAL_DEPARTMENT", AgencyKind::ProvincialDepartment),
    ("PEOPLES_COMMITTEE", AgencyKind::PeoplesCommittee),
    ("CENTRAL_BRANCH", AgencyKind::CentralBranch),
];
pub const CENTER_KINDS: [(&str, CenterKind); 3] =
    [("PROVINCIAL", CenterKind::Provincial), ("LOCAL", CenterKind::Local), ("BRANCH", CenterKind::Branch)];

pub fn sectors(path: &Path) -> Result<Vec<Sector>, Located> {
    let rows =
        records(path, &SECTOR_COLUMNS, |row| Ok(Sector { code: row.required("code")?, name: row.required("name")? }))?;
    Ok(rows.into_iter().map(|(_, s)| s).collect())
}

pub fn agencies(path: &Path) -> Result<Vec<Agency>, Located> {
    let rows = records(path, &AGENCY_COLUMNS, |row| {
        Ok(Agency {
            code: row.required("code")?,
            name: row.required("name")?,
            unit_code: row.required("unit_code")?,
            kind: enum_value(row, "kind", &AGENCY_KINDS)?.ok_or_else(|| row.fail("kind", "is required"))? as i32,
        })
    })?;
    Ok(rows.into_iter().map(|(_, a)| a).collect())
}

pub fn centers(path: &Path) -> Result<Vec<Center>, Located> {
    let rows = records(path, &CENTER_COLUMNS, |row| {
        Ok(Center {
            code: row.required("code")?,
            name: row.required("name")?,
            unit_code: row.required("unit_code")?,
            kind: enum_value(row, "kind", &CENTER_KINDS)?.ok_or_else(|| row.fail("kind", "is required"))? as i32,
            parent_center_code: row.get("parent_center_code").to_owned(),
        })
    })?;
    Ok(rows.into_iter().map(|(_, c)| c).collect())
}

/// One list per center and day it comes into force, from one row per procedure (rows of the same list name
/// the same source, or leave it blank after the first).
pub fn center_procedures(path: &Path) -> Result<Vec<SetCenterProceduresRequest>, Located> {
    let rows = records(path, &CENTER_PROCEDURE_COLUMNS, |row| {
        Ok((
            (row.required("center_code")?, row.required("effective_from")?),
            row.required("procedure_code")?,
            row.get("source").to_owned(),
        ))
    })?;
    let mut lists: BTreeMap<(String, String), SetCenterProceduresRequest> = BTreeMap::new();
    for (_, ((center_code, effective_from), procedure, source)) in rows {
        let list = lists.entry((center_code.clone(), effective_from.clone())).or_insert_with(|| {
            SetCenterProceduresRequest { center_code, effective_from, procedure_codes: vec![], source: String::new() }
        });
        list.procedure_codes.push(procedure);
        if list.source.is_empty() {
            list.source = source;
        }
    }
    Ok(lists.into_values().collect())
}
