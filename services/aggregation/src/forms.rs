//! The official forms' definitions stored by this service: every version of each, a report printed by the version
//! in force on its period's last day.
//!
//! A new circular is a new version, not new code: it may change the title, form number, headings and signature
//! blocks. What feeds each column stays fixed by the column's number, so a version relabels columns but never
//! reorders, adds or recomputes them.

use std::collections::HashMap;

use chrono::NaiveDate;
use onestop_domain::form06::{heading_layout, COLUMN_COUNT, MAX_HEADING_LEVELS};
use onestop_domain::Violations;
use onestop_proto::aggregation::v1 as wire;
use onestop_server::auth::{Principal, Role};
use onestop_server::{ServiceError, ServiceResult};
use sqlx::{PgConnection, PgPool};

/// Form 06, the only form computed.
pub const FORM_06: &str = "06";

/// Longest title, form number, circular, unit of count or signature text.
const MAX_TEXT_CHARS: usize = 500;
/// Longest heading: the longest printed one is under 60 characters.
const MAX_HEADING_CHARS: usize = 200;
/// Signature blocks fit the page three abreast: left, middle, right.
const MAX_SIGNATURES: usize = 3;

#[derive(sqlx::FromRow)]
struct DefinitionRow {
    form: String,
    version: i32,
    form_number: String,
    circular: String,
    title: String,
    unit_of_count: String,
    valid_from: NaiveDate,
    signature_titles: Vec<String>,
    signature_notes: Vec<String>,
}

const COLUMNS: &str =
    "form, version, form_number, circular, title, unit_of_count, valid_from, signature_titles, signature_notes";

impl DefinitionRow {
    fn to_wire(&self, columns: Vec<wire::FormColumn>) -> wire::FormDefinition {
        wire::FormDefinition {
            form: self.form.clone(),
            version: self.version.unsigned_abs(),
            form_number: self.form_number.clone(),
            circular: self.circular.clone(),
            title: self.title.clone(),
            unit_of_count: self.unit_of_count.clone(),
            valid_from: self.valid_from.to_string(),
            columns,
            signatures: self
                .signature_titles
                .iter()
                .zip(&self.signature_notes)
                .map(|(title, note)| wire::FormSignature { title: title.clone(), note: note.clone() })
                .collect(),
        }
    }
}

/// `rows` with their columns, in the rows' order.
async fn with_columns(
    db: &mut PgConnection,
    rows: Vec<DefinitionRow>,
) -> Result<Vec<wire::FormDefinition>, sqlx::Error> {
    let forms: Vec<String> = rows.iter().map(|r| r.form.clone()).collect();
    let versions: Vec<i32> = rows.iter().map(|r| r.version).collect();
    let columns: Vec<(String, i32, Vec<String>)> = sqlx::query_as(
        "SELECT c.form, c.version, c.headings FROM form_column c
         JOIN unnest($1::text[], $2::integer[]) AS wanted (form, version) USING (form, version)
         ORDER BY c.form, c.version, c.number",
    )
    .bind(&forms)
    .bind(&versions)
    .fetch_all(&mut *db)
    .await?;
    let mut by_version: HashMap<(String, i32), Vec<wire::FormColumn>> = HashMap::new();
    for (form, version, headings) in columns {
        by_version.entry((form, version)).or_default().push(wire::FormColumn { headings });
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let columns = by_version.remove(&(row.form.clone(), row.version)).unwrap_or_default();
            row.to_wire(columns)
        })
        .collect())
}

/// The definition a report of `form` whose period ends on `last_day` follows: `version` when it is not 0, else
/// the version in force on `last_day` (the latest valid from then or before; of one day's versions the latest),
/// else, for a period before every version, the earliest.
pub async fn for_report(
    db: &mut PgConnection,
    form: &str,
    last_day: NaiveDate,
    version: u32,
) -> ServiceResult<wire::FormDefinition> {
    let row: Option<DefinitionRow> = if version > 0 {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM form_definition WHERE form = $1 AND version = $2"))
            .bind(form)
            .bind(i32::try_from(version).unwrap_or(i32::MAX))
            .fetch_optional(&mut *db)
            .await?
    } else {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM form_definition WHERE form = $1
             ORDER BY valid_from <= $2 DESC,
                      CASE WHEN valid_from <= $2 THEN valid_from END DESC,
                      valid_from, version DESC
             LIMIT 1"
        ))
        .bind(form)
        .bind(last_day)
        .fetch_optional(&mut *db)
        .await?
    };
    let Some(row) = row else {
        return Err(if version > 0 {
            ServiceError::NotFound { field: "form_version".into(), what: format!("version {version} of form {form}") }
        } else {
            ServiceError::Internal(anyhow::anyhow!("form {form} has no definition"))
        });
    };
    let mut definitions = with_columns(db, vec![row]).await?;
    Ok(definitions.remove(0))
}

pub async fn list(
    pool: &PgPool,
    request: wire::ListFormDefinitionsRequest,
) -> ServiceResult<wire::ListFormDefinitionsResponse> {
    let mut v = Violations::new();
    if !request.form.is_empty() {
        v.code("form", &request.form);
    }
    v.into_result()?;
    let mut db = pool.acquire().await?;
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM form_definition WHERE $1 = '' OR form = $1 ORDER BY form, version"
    ))
    .bind(&request.form)
    .fetch_all(&mut *db)
    .await?;
    Ok(wire::ListFormDefinitionsResponse { definitions: with_columns(&mut db, rows).await? })
}

/// Checks a definition as a caller sent it, naming every wrong field.
fn validate(d: &wire::FormDefinition) -> Result<NaiveDate, Vec<onestop_domain::FieldViolation>> {
    let mut v = Violations::new();
    if v.code("definition.form", &d.form) && d.form != FORM_06 {
        v.add("definition.form", "only form 06 is computed");
    }
    v.text("definition.form_number", &d.form_number, MAX_TEXT_CHARS);
    v.text("definition.circular", &d.circular, MAX_TEXT_CHARS);
    v.text("definition.title", &d.title, MAX_TEXT_CHARS);
    v.text("definition.unit_of_count", &d.unit_of_count, MAX_TEXT_CHARS);
    let valid_from = v.date("definition.valid_from", &d.valid_from);
    if d.columns.len() != COLUMN_COUNT {
        v.add(
            "definition.columns",
            format!(
                "holds {} columns; form 06 has {COLUMN_COUNT}, which a version relabels but never adds, removes or \
                 reorders",
                d.columns.len()
            ),
        );
    } else {
        let mut headings_ok = true;
        for (i, column) in d.columns.iter().enumerate() {
            let field = format!("definition.columns[{i}].headings");
            if !v.at_most(&field, column.headings.len(), MAX_HEADING_LEVELS) {
                headings_ok = false;
                continue;
            }
            for (j, heading) in column.headings.iter().enumerate() {
                headings_ok &= v.text(&format!("{field}[{j}]"), heading, MAX_HEADING_CHARS);
            }
        }
        let headings: Vec<Vec<String>> = d.columns.iter().map(|c| c.headings.clone()).collect();
        if headings_ok {
            if let Err((i, reason)) = heading_layout(&headings) {
                v.add(format!("definition.columns[{i}].headings"), reason);
            }
        }
    }
    if d.signatures.is_empty() {
        v.add("definition.signatures", "at least one signature block is required");
    } else if v.at_most("definition.signatures", d.signatures.len(), MAX_SIGNATURES) {
        for (i, signature) in d.signatures.iter().enumerate() {
            v.text(&format!("definition.signatures[{i}].title"), &signature.title, MAX_TEXT_CHARS);
            v.optional_text(&format!("definition.signatures[{i}].note"), &signature.note, MAX_TEXT_CHARS);
        }
    }
    v.into_result()?;
    Ok(valid_from.expect("validated"))
}

/// Stores `request.definition` as the next version of its form, unless the latest version already says the same.
/// National principals only: the forms of the national reporting regime are the nation's.
pub async fn define(
    pool: &PgPool,
    principal: &Principal,
    request: wire::DefineFormRequest,
) -> ServiceResult<wire::DefineFormResponse> {
    if principal.role != Role::National {
        return Err(ServiceError::PermissionDenied(format!(
            "forms are national; {} is not a national principal",
            principal.subject
        )));
    }
    let d = request.definition.unwrap_or_default();
    let valid_from = validate(&d)?;
    let (titles, notes): (Vec<String>, Vec<String>) =
        d.signatures.iter().map(|s| (s.title.clone(), s.note.clone())).unzip();

    let mut tx = pool.begin().await?;
    // One definer per form at a time, so two concurrent definitions get consecutive versions.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('form_definition:' || $1))")
        .bind(&d.form)
        .execute(&mut *tx)
        .await?;
    let latest: Option<DefinitionRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM form_definition WHERE form = $1 ORDER BY version DESC LIMIT 1"))
            .bind(&d.form)
            .fetch_optional(&mut *tx)
            .await?;
    let next_version = latest.as_ref().map_or(1, |l| l.version + 1);
    if let Some(latest) = latest {
        let latest = with_columns(&mut tx, vec![latest]).await?.remove(0);
        let asked = wire::FormDefinition { version: latest.version, valid_from: valid_from.to_string(), ..d.clone() };
        if latest == asked {
            return Ok(wire::DefineFormResponse { definition: Some(latest), created: false });
        }
    }
    let row: DefinitionRow = sqlx::query_as(&format!(
        "INSERT INTO form_definition ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
    ))
    .bind(&d.form)
    .bind(next_version)
    .bind(&d.form_number)
    .bind(&d.circular)
    .bind(&d.title)
    .bind(&d.unit_of_count)
    .bind(valid_from)
    .bind(&titles)
    .bind(&notes)
    .fetch_one(&mut *tx)
    .await?;
    for (i, column) in d.columns.iter().enumerate() {
        sqlx::query("INSERT INTO form_column (form, version, number, headings) VALUES ($1, $2, $3, $4)")
            .bind(&d.form)
            .bind(next_version)
            .bind(i as i32 + 1)
            .bind(&column.headings)
            .execute(&mut *tx)
            .await?;
    }
    let definition = with_columns(&mut tx, vec![row]).await?.remove(0);
    tx.commit().await?;
    Ok(wire::DefineFormResponse { definition: Some(definition), created: true })
}
