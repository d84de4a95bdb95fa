//! The indicator definitions stored by this service: every version of each, the latest answering.
//!
//! Defining is data, not code: a province adds its own variant, or changes a target, by storing a new version.
//! Each version also says how an office reads it: its Vietnamese and English labels, whether its value is a per
//! cent or a count, and whether lower is better.

use std::collections::HashMap;

use onestop_domain::{Formula, IndicatorDefinition, Violations};
use onestop_proto::aggregation::v1 as wire;
use onestop_server::auth::{Principal, Role};
use onestop_server::{ServiceError, ServiceResult};
use sqlx::PgPool;

/// Most terms a numerator or denominator may sum: each measure or fact is worth naming once, and a hundred is
/// several times all of them.
const MAX_FORMULA_TERMS: usize = 100;
/// Longest label: a regulation's indicator names run to a line or two.
const MAX_LABEL_CHARS: usize = 300;

/// How an answer presents an indicator's result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Presentation {
    pub label_vi: String,
    pub label_en: String,
    pub display_unit: wire::DisplayUnit,
    pub lower_is_better: bool,
}

impl Presentation {
    /// Sets the labels and display of `result`.
    pub fn apply(&self, result: &mut wire::IndicatorResult) {
        result.label_vi.clone_from(&self.label_vi);
        result.label_en.clone_from(&self.label_en);
        result.display_unit = self.display_unit as i32;
        result.lower_is_better = self.lower_is_better;
    }
}

/// The definitions that answer, and how each id is presented.
pub struct Answering {
    pub definitions: Vec<IndicatorDefinition>,
    pub presentations: HashMap<String, Presentation>,
}

#[derive(sqlx::FromRow)]
struct DefinitionRow {
    scope: String,
    id: String,
    version: i32,
    numerator: String,
    denominator: String,
    description: String,
    target: Option<f64>,
    max_points: Option<f64>,
    label_vi: String,
    label_en: String,
    display_unit: i16,
    lower_is_better: bool,
}

impl DefinitionRow {
    fn to_domain(&self) -> ServiceResult<IndicatorDefinition> {
        let formula = Formula::parse(&self.numerator, &self.denominator).map_err(|reason| {
            ServiceError::Internal(anyhow::anyhow!("stored indicator {} is malformed: {reason}", self.id))
        })?;
        let mut definition = IndicatorDefinition::new(&self.id, self.version.unsigned_abs(), formula);
        definition.target = self.target;
        definition.max_points = self.max_points;
        Ok(definition)
    }

    fn to_wire(&self) -> wire::IndicatorDefinition {
        wire::IndicatorDefinition {
            id: self.id.clone(),
            version: self.version.unsigned_abs(),
            numerator: self.numerator.clone(),
            denominator: self.denominator.clone(),
            description: self.description.clone(),
            target: self.target,
            max_points: self.max_points,
            scope_unit_code: self.scope.clone(),
            label_vi: self.label_vi.clone(),
            label_en: self.label_en.clone(),
            display_unit: i32::from(self.display_unit),
            lower_is_better: self.lower_is_better,
        }
    }

    fn presentation(&self) -> Presentation {
        Presentation {
            label_vi: self.label_vi.clone(),
            label_en: self.label_en.clone(),
            display_unit: wire::DisplayUnit::try_from(i32::from(self.display_unit))
                .unwrap_or(wire::DisplayUnit::Percent),
            lower_is_better: self.lower_is_better,
        }
    }
}

const COLUMNS: &str = "scope, id, version, numerator, denominator, description, target, max_points, label_vi, label_en,
    display_unit, lower_is_better";

/// Whose definitions apply or may be seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scopes {
    /// The nation's only (an answer above any province, or a caller of no province).
    Nation,
    /// The nation's, with this province's own variants in their place.
    Province(String),
    /// Every scope (national readers' listing).
    All,
}

impl Scopes {
    /// `$1` of the queries below: the province whose variants count, `NULL` for none, `*` for all.
    fn parameter(&self) -> Option<&str> {
        match self {
            Scopes::Nation => None,
            Scopes::Province(province) => Some(province),
            Scopes::All => Some("*"),
        }
    }

    /// The scopes a caller may see.
    pub fn visible_to(principal: &Principal) -> Scopes {
        match (principal.role, &principal.province) {
            (Role::National | Role::Service, _) => Scopes::All,
            (_, Some(province)) => Scopes::Province(province.clone()),
            _ => Scopes::Nation,
        }
    }
}

/// The latest version of every indicator: a province's variant of an id in place of the nation's.
async fn latest_rows(db: impl sqlx::PgExecutor<'_>, scopes: &Scopes) -> Result<Vec<DefinitionRow>, sqlx::Error> {
    let (distinct, order) = match scopes {
        // Every scope's own latest.
        Scopes::All => ("scope, id", "scope, id, version DESC"),
        // One per id, the province's variant first.
        _ => ("id", "id, scope <> '' DESC, version DESC"),
    };
    sqlx::query_as(&format!(
        "SELECT DISTINCT ON ({distinct}) {COLUMNS} FROM indicator_definition
         WHERE scope = '' OR scope = $1 OR $1 = '*'
         ORDER BY {order}"
    ))
    .bind(scopes.parameter())
    .fetch_all(db)
    .await
}

/// The definitions that answer for `scopes`, one per id, ordered by id, with how each is presented.
pub async fn latest(db: impl sqlx::PgExecutor<'_>, scopes: &Scopes) -> ServiceResult<Answering> {
    let rows = latest_rows(db, scopes).await?;
    Ok(Answering {
        definitions: rows.iter().map(DefinitionRow::to_domain).collect::<ServiceResult<_>>()?,
        presentations: rows.iter().map(|r| (r.id.clone(), r.presentation())).collect(),
    })
}

pub async fn list(
    pool: &PgPool,
    principal: &Principal,
    request: wire::ListIndicatorDefinitionsRequest,
) -> ServiceResult<wire::ListIndicatorDefinitionsResponse> {
    let scopes = Scopes::visible_to(principal);
    let rows = if request.all_versions {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM indicator_definition WHERE scope = '' OR scope = $1 OR $1 = '*'
             ORDER BY id, scope, version"
        ))
        .bind(scopes.parameter())
        .fetch_all(pool)
        .await?
    } else {
        latest_rows(pool, &scopes).await?
    };
    Ok(wire::ListIndicatorDefinitionsResponse { definitions: rows.iter().map(DefinitionRow::to_wire).collect() })
}

/// Stores `request.definition` as the next version of its id, unless the latest version already says the same.
pub async fn define(
    pool: &PgPool,
    principal: &Principal,
    request: wire::DefineIndicatorRequest,
) -> ServiceResult<wire::DefineIndicatorResponse> {
    let d = request.definition.unwrap_or_default();
    // A province defines its own variants; the nation's definitions, and other provinces', are not its own.
    let scope = d.scope_unit_code.clone();
    match (principal.role, principal.province.as_deref()) {
        (Role::National | Role::Service, _) => {}
        (Role::Province, Some(province)) if province == scope => {}
        _ => {
            let whose =
                if scope.is_empty() { "the nation's definitions".to_owned() } else { format!("province {scope}'s") };
            return Err(ServiceError::PermissionDenied(format!(
                "definition.scope_unit_code: {} may not define {whose}; a province defines its own variants",
                principal.subject
            )));
        }
    }
    let mut v = Violations::new();
    if !scope.is_empty() {
        v.code("definition.scope_unit_code", &scope);
    }
    if v.code("definition.id", &d.id) && !d.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        v.add("definition.id", "only lowercase letters, digits and underscores");
    }
    v.multiline_text("definition.description", &d.description, 1000);
    v.optional_text("definition.label_vi", &d.label_vi, MAX_LABEL_CHARS);
    v.optional_text("definition.label_en", &d.label_en, MAX_LABEL_CHARS);
    let display_unit = match v.known::<wire::DisplayUnit>("definition.display_unit", d.display_unit) {
        Some(wire::DisplayUnit::Unspecified) | None => wire::DisplayUnit::Percent,
        Some(unit) => unit,
    };
    if d.lower_is_better && d.max_points.is_some() {
        v.add("definition.max_points", "a score rewards higher values; an indicator where lower is better sets none");
    }
    let formula = (
        d.numerator.parse::<onestop_domain::indicator::Sum>().map_err(|e| v.add("definition.numerator", e)),
        d.denominator.parse::<onestop_domain::indicator::Sum>().map_err(|e| v.add("definition.denominator", e)),
    );
    for (field, sum) in [("definition.numerator", &formula.0), ("definition.denominator", &formula.1)] {
        if let Ok(sum) = sum {
            v.at_most(field, sum.0.len(), MAX_FORMULA_TERMS);
        }
    }
    if d.target.is_some_and(|t| !(t > 0.0 && t <= 1.0)) {
        v.add("definition.target", "must be in (0, 1]");
    }
    if d.max_points.is_some_and(|p| !(p > 0.0 && p.is_finite())) {
        v.add("definition.max_points", "must be positive");
    }
    v.into_result()?;
    let (Ok(numerator), Ok(denominator)) = formula else { unreachable!("validated") };
    // Stored in canonical form, so the same formula written differently is the same version.
    let (numerator, denominator) = (numerator.to_string(), denominator.to_string());

    let mut tx = pool.begin().await?;
    // One definer per id at a time, so two concurrent definitions get consecutive versions.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('indicator_definition:' || $2 || ':' || $1))")
        .bind(&d.id)
        .bind(&scope)
        .execute(&mut *tx)
        .await?;
    let latest: Option<DefinitionRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM indicator_definition WHERE scope = $2 AND id = $1 ORDER BY version DESC LIMIT 1"
    ))
    .bind(&d.id)
    .bind(&scope)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(latest) = &latest {
        let same = latest.numerator == numerator
            && latest.denominator == denominator
            && latest.description == d.description
            && latest.target == d.target
            && latest.max_points == d.max_points
            && latest.label_vi == d.label_vi
            && latest.label_en == d.label_en
            && latest.display_unit == display_unit as i16
            && latest.lower_is_better == d.lower_is_better;
        if same {
            return Ok(wire::DefineIndicatorResponse { definition: Some(latest.to_wire()), created: false });
        }
    }
    let row: DefinitionRow = sqlx::query_as(&format!(
        "INSERT INTO indicator_definition ({COLUMNS}) VALUES ($8, $1, $2, $3, $4, $5, $6, $7, $9, $10, $11, $12)
         RETURNING {COLUMNS}"
    ))
    .bind(&d.id)
    .bind(latest.map_or(1, |l| l.version + 1))
    .bind(&numerator)
    .bind(&denominator)
    .bind(&d.description)
    .bind(d.target)
    .bind(d.max_points)
    .bind(&scope)
    .bind(&d.label_vi)
    .bind(&d.label_en)
    .bind(display_unit as i16)
    .bind(d.lower_is_better)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(wire::DefineIndicatorResponse { definition: Some(row.to_wire()), created: true })
}
