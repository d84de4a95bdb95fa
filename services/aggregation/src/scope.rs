//! Whose cells an answer sums, from aggregation's copy of the catalogue.
//!
//! A unit covers its own centers and those of every unit under it, and, since a merged unit's successor
//! carries its predecessors' history, those of every unit merged into any of them, recursively. Groups of a
//! breakdown by child unit are the unit's children as of the period's last day; a center of a unit that no
//! longer exists then is counted in the child its unit was merged into.
//!
//! The nation is the unit [`NATION`]: every center, with the provinces as its children. The catalogue has no such
//! unit; only national readers and services may read it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use onestop_server::auth::{Principal, Role};
use onestop_server::{ServiceError, ServiceResult};

use crate::totals::{CatalogueAt, InForceLists};

/// What a request names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Unit(String),
    Center(String),
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UnitRow {
    pub code: String,
    pub name: String,
    pub level: i16,
    pub parent_code: Option<String>,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub predecessor_codes: Vec<String>,
}

impl UnitRow {
    pub fn exists_on(&self, day: NaiveDate) -> bool {
        self.valid_from <= day && self.valid_to.is_none_or(|to| day < to)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CenterRow {
    pub code: String,
    pub name: String,
    pub unit_code: String,
}

/// The centers an answer covers, with the units they lie in.
#[derive(Debug, Clone)]
pub struct Scope {
    pub target: Target,
    /// The unit asked for, or the unit of the center asked for.
    pub unit: UnitRow,
    pub centers: Vec<CenterRow>,
    /// Every unit of the scope by code.
    pub units: HashMap<String, UnitRow>,
    /// The copy of the catalogue it was resolved in.
    pub catalogue: CatalogueAt,
}

/// The name of a unit level, as breakdowns and form 06 key it.
/// The unit code of the whole country (ISO 3166 for Viet Nam), above every province.
pub const NATION: &str = "VN";

/// The level of [`NATION`], above provinces (1).
pub const NATION_LEVEL: i16 = 0;

pub fn level_name(level: i16) -> &'static str {
    match level {
        NATION_LEVEL => "NATION",
        1 => "PROVINCE",
        2 => "DISTRICT",
        _ => "COMMUNE",
    }
}

/// The catalogue's implementing level of procedures resolved at a unit level.
pub fn implementing_level(unit_level: i16) -> i16 {
    unit_level + 1
}

const UNIT_COLUMNS: &str = "code, name, level, parent_code, valid_from, valid_to, predecessor_codes";

impl Scope {
    /// Resolves `target` in one read of the copy.
    pub async fn resolve(db: &mut sqlx::PgConnection, target: &Target) -> ServiceResult<Scope> {
        match target {
            Target::Center(code) => {
                let center: Option<CenterRow> =
                    sqlx::query_as("SELECT code, name, unit_code FROM center WHERE code = $1")
                        .bind(code)
                        .fetch_optional(&mut *db)
                        .await?;
                let center = center.ok_or_else(|| ServiceError::not_found("center_code", format!("center {code}")))?;
                let unit: UnitRow = sqlx::query_as(&format!("SELECT {UNIT_COLUMNS} FROM unit WHERE code = $1"))
                    .bind(&center.unit_code)
                    .fetch_optional(&mut *db)
                    .await?
                    .ok_or_else(|| {
                        ServiceError::precondition("center_code", format!("the unit of center {code} is not known yet"))
                    })?;
                let units = HashMap::from([(unit.code.clone(), unit.clone())]);
                Ok(Scope {
                    target: target.clone(),
                    unit,
                    centers: vec![center],
                    units,
                    catalogue: CatalogueAt::default(),
                })
            }
            Target::Unit(code) if code == NATION => Scope::nation(db, target).await,
            Target::Unit(code) => {
                let units: Vec<UnitRow> = sqlx::query_as(&format!(
                    "WITH RECURSIVE tree (code) AS (
                         SELECT code FROM unit WHERE code = $1
                         UNION
                         SELECT next.code FROM tree
                         CROSS JOIN LATERAL (
                             SELECT u.code FROM unit u WHERE u.parent_code = tree.code
                             UNION ALL
                             SELECT p FROM unit u, unnest(u.predecessor_codes) AS p WHERE u.code = tree.code
                         ) AS next
                     )
                     SELECT {UNIT_COLUMNS} FROM unit WHERE code IN (SELECT code FROM tree)"
                ))
                .bind(code)
                .fetch_all(&mut *db)
                .await?;
                let units: HashMap<String, UnitRow> = units.into_iter().map(|u| (u.code.clone(), u)).collect();
                let unit = units
                    .get(code)
                    .cloned()
                    .ok_or_else(|| ServiceError::not_found("unit_code", format!("unit {code}")))?;
                let codes: Vec<&String> = units.keys().collect();
                let centers: Vec<CenterRow> =
                    sqlx::query_as("SELECT code, name, unit_code FROM center WHERE unit_code = ANY($1) ORDER BY code")
                        .bind(codes)
                        .fetch_all(&mut *db)
                        .await?;
                Ok(Scope { target: target.clone(), unit, centers, units, catalogue: CatalogueAt::default() })
            }
        }
    }

    /// The province the scope lies in (its unit's, or the unit's own when it is a province); its variants of
    /// the indicator definitions answer for it.
    /// Every unit and center, the provinces (units without a parent) as the nation's children.
    async fn nation(db: &mut sqlx::PgConnection, target: &Target) -> ServiceResult<Scope> {
        let rows: Vec<UnitRow> =
            sqlx::query_as(&format!("SELECT {UNIT_COLUMNS} FROM unit")).fetch_all(&mut *db).await?;
        let nation = UnitRow {
            code: NATION.into(),
            name: "Toàn quốc".into(),
            level: NATION_LEVEL,
            parent_code: None,
            valid_from: NaiveDate::MIN,
            valid_to: None,
            predecessor_codes: Vec::new(),
        };
        let mut units: HashMap<String, UnitRow> = rows
            .into_iter()
            .map(|mut u| {
                u.parent_code.get_or_insert_with(|| NATION.into());
                (u.code.clone(), u)
            })
            .collect();
        units.insert(NATION.into(), nation.clone());
        let centers: Vec<CenterRow> =
            sqlx::query_as("SELECT code, name, unit_code FROM center ORDER BY code").fetch_all(&mut *db).await?;
        Ok(Scope { target: target.clone(), unit: nation, centers, units, catalogue: CatalogueAt::default() })
    }

    pub async fn province(&self, db: &mut sqlx::PgConnection) -> ServiceResult<Option<String>> {
        if self.unit.level == NATION_LEVEL {
            return Ok(None);
        }
        if self.unit.level == 1 {
            return Ok(Some(self.unit.code.clone()));
        }
        province_of(db, &self.unit.code).await
    }

    /// Whether the scope is every center there is (the nation's).
    pub fn has_every_center(&self) -> bool {
        self.unit.level == NATION_LEVEL && self.target == Target::Unit(NATION.into())
    }

    pub fn center_codes(&self) -> Vec<String> {
        self.centers.iter().map(|c| c.code.clone()).collect()
    }

    /// The level of each center's unit.
    pub fn center_levels(&self) -> HashMap<String, i16> {
        self.centers
            .iter()
            .map(|c| (c.code.clone(), self.units.get(&c.unit_code).map_or(self.unit.level, |u| u.level)))
            .collect()
    }

    /// The children of the unit on `as_of` (code → name, in code order), and the child each center counts in
    /// (absent for the unit's own centers).
    pub fn children(&self, as_of: NaiveDate) -> (BTreeMap<String, String>, HashMap<String, String>) {
        let unit = &self.unit.code;
        let children: BTreeMap<String, String> = self
            .units
            .values()
            .filter(|u| u.parent_code.as_ref() == Some(unit) && u.exists_on(as_of))
            .map(|u| (u.code.clone(), u.name.clone()))
            .collect();
        let mut successor: HashMap<&str, &str> = HashMap::new();
        let mut by_code: Vec<&UnitRow> = self.units.values().collect();
        by_code.sort_by(|a, b| a.code.cmp(&b.code));
        for u in by_code {
            for p in &u.predecessor_codes {
                successor.entry(p.as_str()).or_insert(u.code.as_str());
            }
        }
        let mut child_of_center = HashMap::new();
        for center in &self.centers {
            let mut current = center.unit_code.as_str();
            // Each unit is visited at most once, so a malformed cycle cannot loop.
            let mut seen = std::collections::HashSet::new();
            let child = loop {
                if children.contains_key(current) {
                    break Some(current);
                }
                if current == unit || !seen.insert(current) {
                    break None;
                }
                let Some(row) = self.units.get(current) else { break None };
                current = match (row.exists_on(as_of), successor.get(current)) {
                    (false, Some(next)) => next,
                    _ => match row.parent_code.as_deref() {
                        Some(parent) => parent,
                        None => break None,
                    },
                };
            };
            if let Some(child) = child {
                child_of_center.insert(center.code.clone(), child.to_owned());
            }
        }
        (children, child_of_center)
    }
}

/// Scopes already resolved, with the catalogue cursor of the copy they were resolved in. A scope is read from the
/// copy of the catalogue alone, which changes only as its cursor moves: one resolved at the cursor of an answer's
/// snapshot is what resolving it in that snapshot would give.
#[derive(Debug, Clone, Default)]
pub struct ScopeCache {
    resolved: Arc<Mutex<ResolvedScopes>>,
    /// What the scopes' answers read of the catalogue's copy besides the scopes themselves.
    in_force: InForceLists,
}

/// Each target's scope, with the catalogue cursor it was resolved at.
type ResolvedScopes = HashMap<Target, (u64, Arc<Scope>)>;

/// Targets remembered at once; past it the cache starts again (a province has a few hundred units and centers).
const MAX_CACHED_SCOPES: usize = 4096;

impl ScopeCache {
    fn resolved(&self) -> std::sync::MutexGuard<'_, ResolvedScopes> {
        // Every change to the map is one statement: a panic elsewhere cannot leave it half-changed.
        self.resolved.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The scope of `target` in `db`, a snapshot of the copy at `catalogue_cursor`.
    pub async fn resolve(
        &self,
        db: &mut sqlx::PgConnection,
        target: &Target,
        catalogue_cursor: u64,
    ) -> ServiceResult<Arc<Scope>> {
        let cached = self.resolved().get(target).filter(|(cursor, _)| *cursor == catalogue_cursor).cloned();
        if let Some((_, scope)) = cached {
            return Ok(scope);
        }
        let mut scope = Scope::resolve(db, target).await?;
        scope.catalogue = CatalogueAt { cursor: catalogue_cursor, lists: self.in_force.clone() };
        let scope = Arc::new(scope);
        let mut resolved = self.resolved();
        if resolved.len() >= MAX_CACHED_SCOPES {
            resolved.clear();
        }
        resolved.insert(target.clone(), (catalogue_cursor, scope.clone()));
        Ok(scope)
    }
}

/// Refuses a scope the principal may not read: a provincial office reads units in its province (and their
/// centers), a locality its unit and the units under it, software only the centers it acts for, a department or
/// agency only its own answer (`only_agency`, over the centers of its unit); national readers and services read
/// everything.
pub async fn authorize(
    db: &mut sqlx::PgConnection,
    principal: &Principal,
    scope: &Scope,
    only_agency: Option<&str>,
) -> ServiceResult<()> {
    let field = match (scope.target.clone(), only_agency) {
        (_, Some(_)) => "agency_code",
        (Target::Unit(_), None) => "unit_code",
        (Target::Center(_), None) => "center_code",
    };
    let allowed = match principal.role {
        Role::National | Role::Service => true,
        Role::Software => matches!(&scope.target, Target::Center(code) if principal.acts_for_center(code)),
        Role::Agency => only_agency.is_some() && principal.agency.as_deref() == only_agency,
        Role::Province | Role::Unit => {
            let home = if principal.role == Role::Province { &principal.province } else { &principal.unit };
            match home {
                None => false,
                Some(_) if scope.unit.code == NATION => false,
                Some(home) => ancestors(db, &scope.unit.code).await?.contains(home),
            }
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(ServiceError::PermissionDenied(format!("{field}: {} may not read it", principal.subject)))
    }
}

/// The province (level 1) a unit lies in: itself when it is one.
pub async fn province_of(db: &mut sqlx::PgConnection, unit: &str) -> ServiceResult<Option<String>> {
    Ok(sqlx::query_scalar(
        "WITH RECURSIVE up (code, parent_code, level, depth) AS (
             SELECT code, parent_code, level, 0 FROM unit WHERE code = $1
             UNION ALL
             SELECT u.code, u.parent_code, u.level, up.depth + 1 FROM up JOIN unit u ON u.code = up.parent_code
             WHERE up.level <> 1 AND up.depth < 10
         )
         SELECT code FROM up WHERE level = 1 LIMIT 1",
    )
    .bind(unit)
    .fetch_optional(db)
    .await?)
}

/// A unit and every unit above it.
pub async fn ancestors(db: &mut sqlx::PgConnection, unit: &str) -> ServiceResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "WITH RECURSIVE up (code, parent_code, depth) AS (
             SELECT code, parent_code, 0 FROM unit WHERE code = $1
             UNION ALL
             SELECT u.code, u.parent_code, up.depth + 1 FROM unit u JOIN up ON u.code = up.parent_code
             WHERE up.depth < 10
         )
         SELECT code FROM up",
    )
    .bind(unit)
    .fetch_all(&mut *db)
    .await?)
}
