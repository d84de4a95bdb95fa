//! GetIndicators and RankUnits.

use std::collections::{BTreeMap, HashMap};

use onestop_domain::{IndicatorDefinition, Needs, Violations};
use onestop_proto::aggregation::v1::*;
use onestop_server::{ServiceError, ServiceResult};

use super::{named, period, AggregationApi, AtLeast, Call, Named};
use crate::definitions;
use crate::scope::{level_name, Scope, Target};
use crate::totals::{Computation, Group, Split};

/// Most indicators one request may name: the regulations define a few dozen, and provinces' variants a few more.
const MAX_INDICATOR_IDS: usize = 1_000;

fn evaluate(
    definitions: &[IndicatorDefinition],
    presentations: &HashMap<String, definitions::Presentation>,
    facts: &onestop_domain::Facts,
    reporting_unavailable: Option<&str>,
) -> Vec<IndicatorResult> {
    definitions
        .iter()
        .map(|d| {
            let mut result: IndicatorResult = match reporting_unavailable {
                Some(reason) if Needs::of([d]).reporting => onestop_domain::IndicatorResult::unavailable(d, reason),
                _ => d.evaluate(facts),
            }
            .into();
            if let Some(presentation) = presentations.get(&d.id) {
                presentation.apply(&mut result);
            }
            result
        })
        .collect()
}

/// The (key, name) pairs `query` finds in the scope's cells of the period (and the day before it) and in its case
/// records due in the period.
async fn keys_in_data(
    db: &mut sqlx::PgConnection,
    query: &str,
    scope: &Scope,
    whole: &Group,
) -> ServiceResult<BTreeMap<String, String>> {
    let rows: Vec<(String, String)> = sqlx::query_as(query)
        .bind(scope.center_codes())
        .bind(whole.first_day)
        .bind(whole.last_day)
        .fetch_all(&mut *db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// The groups of a breakdown after group 0 (the whole), and how rows are assigned to them.
async fn breakdown_groups(
    db: &mut sqlx::PgConnection,
    breakdown: Breakdown,
    scope: &Scope,
    whole: &Group,
    cut_off: onestop_domain::period::CutOff,
) -> ServiceResult<(Vec<Group>, Split)> {
    let group = |key: &str, name: &str, level: i16| Group {
        key: key.to_owned(),
        name: name.to_owned(),
        level,
        ..whole.clone()
    };
    // Keys map to group numbers 1.. in order.
    let index = |keys: Vec<&String>| -> HashMap<String, usize> {
        keys.into_iter().enumerate().map(|(i, k)| (k.clone(), i + 1)).collect()
    };
    let levels = scope.center_levels();
    Ok(match breakdown {
        Breakdown::Unspecified => (vec![], Split::Whole),
        Breakdown::Center => {
            let groups: Vec<Group> = scope
                .centers
                .iter()
                .map(|c| Group { center: Some(c.code.clone()), ..group(&c.code, &c.name, levels[&c.code]) })
                .collect();
            let split = index(scope.centers.iter().map(|c| &c.code).collect());
            (groups, Split::Center(split))
        }
        Breakdown::ChildUnit => {
            let (children, child_of) = scope.children(whole.last_day);
            let child_level = |code: &str| scope.units.get(code).map_or(scope.unit.level, |u| u.level);
            // The nation's children are provinces, each with its own catalogue.
            let nation = scope.unit.level == crate::scope::NATION_LEVEL;
            let mut groups: Vec<Group> = children
                .iter()
                .map(|(code, name)| Group {
                    province: nation.then(|| code.clone()),
                    ..group(code, name, child_level(code))
                })
                .collect();
            groups.push(group(&scope.unit.code, &scope.unit.name, scope.unit.level)); // the unit's own centers
            let position: HashMap<&str, usize> =
                groups.iter().enumerate().map(|(i, g)| (g.key.as_str(), i + 1)).collect();
            let own = groups.len();
            let split = scope
                .centers
                .iter()
                .map(|c| (c.code.clone(), child_of.get(&c.code).map_or(own, |child| position[child.as_str()])))
                .collect();
            (groups, Split::Center(split))
        }
        Breakdown::Level => {
            let mut present: Vec<i16> = levels.values().copied().collect();
            present.sort_unstable();
            present.dedup();
            let groups: Vec<Group> = present.iter().map(|l| group(level_name(*l), "", *l)).collect();
            let split = levels
                .iter()
                .map(|(center, l)| (center.clone(), present.binary_search(l).expect("present") + 1))
                .collect();
            (groups, Split::Center(split))
        }
        Breakdown::Month => {
            let groups = period::months(whole.first_day, whole.last_day, cut_off)
                .into_iter()
                .map(|(key, first_day, last_day)| Group { key, first_day, last_day, ..whole.clone() })
                .collect();
            (groups, Split::Month)
        }
        Breakdown::Sector => {
            let sectors = keys_in_data(
                db,
                &format!(
                    "WITH {present}
                 SELECT DISTINCT v.sector_code, coalesce(s.name, '') FROM present c
                 JOIN procedure_version v ON v.code = c.procedure_code AND v.valid_from <= c.day
                                         AND (v.valid_to IS NULL OR c.day < v.valid_to)
                 LEFT JOIN sector s ON s.code = v.sector_code
                 UNION
                 SELECT v.sector_code, coalesce(s.name, '') FROM case_record r
                 JOIN procedure_version v ON v.code = r.procedure_code AND v.valid_from <= r.due_date
                                         AND (v.valid_to IS NULL OR r.due_date < v.valid_to)
                 LEFT JOIN sector s ON s.code = v.sector_code
                 WHERE r.center_code = ANY($1) AND r.due_date BETWEEN $2 AND $3",
                    present = *crate::totals::PRESENT
                ),
                scope,
                whole,
            )
            .await?;
            let groups = sectors
                .iter()
                .map(|(code, name)| Group { sector: Some(code.clone()), ..group(code, name, scope.unit.level) })
                .collect();
            (groups, Split::Sector(index(sectors.keys().collect())))
        }
        Breakdown::Procedure => {
            let procedures = keys_in_data(
                db,
                &format!(
                    "WITH {present}
                 SELECT DISTINCT ON (p.code) p.code, coalesce(v.name, '') FROM (
                     SELECT procedure_code AS code FROM present
                     UNION
                     SELECT procedure_code FROM case_record
                     WHERE center_code = ANY($1) AND due_date BETWEEN $2 AND $3) AS p
                 LEFT JOIN procedure_version v ON v.code = p.code
                 ORDER BY p.code, v.valid_from DESC",
                    present = *crate::totals::PRESENT
                ),
                scope,
                whole,
            )
            .await?;
            let groups = procedures
                .iter()
                .map(|(code, name)| Group { procedure: Some(code.clone()), ..group(code, name, scope.unit.level) })
                .collect();
            (groups, Split::Procedure(index(procedures.keys().collect())))
        }
        Breakdown::Agency => {
            // The agencies of the scope's units, those implementing what its centers have to say, and those
            // resolving its cases.
            let units: Vec<&String> = scope.units.keys().collect();
            let rows: Vec<(String, String)> = sqlx::query_as(&format!(
                "WITH {present}
                 SELECT a.code, coalesce(g.name, '') FROM (
                     SELECT code FROM agency WHERE unit_code = ANY($4)
                     UNION
                     SELECT v.implementing_agency_code FROM present c
                     JOIN procedure_version v ON v.code = c.procedure_code AND v.valid_from <= c.day
                                             AND (v.valid_to IS NULL OR c.day < v.valid_to)
                     WHERE v.implementing_agency_code <> ''
                     UNION
                     SELECT resolving_agency_code FROM case_record
                     WHERE center_code = ANY($1) AND due_date BETWEEN $2 AND $3) AS a
                 LEFT JOIN agency g ON g.code = a.code",
                present = *crate::totals::PRESENT
            ))
            .bind(scope.center_codes())
            .bind(whole.first_day)
            .bind(whole.last_day)
            .bind(&units)
            .fetch_all(&mut *db)
            .await?;
            let agencies: BTreeMap<String, String> = rows.into_iter().collect();
            let groups = agencies
                .iter()
                .map(|(code, name)| Group { agency: Some(code.clone()), ..group(code, name, scope.unit.level) })
                .collect();
            (groups, Split::Agency(index(agencies.keys().collect())))
        }
    })
}

/// What an indicators answer is asked: whose, which days, broken down how, which indicators (empty for all).
pub(super) struct Question<'a> {
    pub target: &'a Target,
    pub only_agency: Option<String>,
    pub days: (chrono::NaiveDate, chrono::NaiveDate, onestop_domain::period::CutOff),
    pub breakdown: Breakdown,
    pub indicator_ids: &'a [String],
}

impl AggregationApi {
    pub(super) async fn indicators(
        &self,
        call: &Call,
        request: GetIndicatorsRequest,
    ) -> ServiceResult<GetIndicatorsResponse> {
        let mut v = Violations::new();
        let named = named(&mut v, &request.unit_code, &request.center_code, &request.agency_code);
        let period = period::resolve(&mut v, request.period.as_ref(), request.reporting_period.as_ref());
        let breakdown = v.known("breakdown", request.breakdown).unwrap_or(Breakdown::Unspecified);
        if breakdown == Breakdown::ChildUnit && matches!(named, Some(Named::Target(Target::Center(_)))) {
            v.add("breakdown", "a center has no child units");
        }
        // Ids are checked against every scope here; the definitions that answer are those of the scope's province.
        let all = definitions::latest(&self.pool, &definitions::Scopes::All).await?.definitions;
        if v.at_most("indicator_ids", request.indicator_ids.len(), MAX_INDICATOR_IDS) {
            for (i, id) in request.indicator_ids.iter().enumerate() {
                if !all.iter().any(|d| &d.id == id) {
                    v.add(format!("indicator_ids[{i}]"), format!("no indicator {id:?}"));
                }
            }
        }
        v.into_result()?;
        let (target, only_agency) = named.expect("validated").resolve(&self.pool).await?;
        let (first_day, last_day, cut_off) = period.expect("validated");

        let (mut snapshot, freshness, scope) = self
            .scoped_snapshot_for(
                call,
                &target,
                only_agency.as_deref(),
                AtLeast { intake: &request.min_intake_cursor, catalogue: request.min_catalogue_cursor },
            )
            .await?;
        let question = Question {
            target: &target,
            only_agency,
            days: (first_day, last_day, cut_off),
            breakdown,
            indicator_ids: &request.indicator_ids,
        };
        let answer = self.indicators_in(&mut snapshot, &scope, question).await?;
        snapshot.commit().await?;
        Ok(GetIndicatorsResponse { freshness: Some(freshness), ..answer })
    }

    /// The indicators `question` asks for, read in `snapshot` (the answer's freshness is left to the caller).
    pub(super) async fn indicators_in(
        &self,
        snapshot: &mut sqlx::PgConnection,
        scope: &Scope,
        question: Question<'_>,
    ) -> ServiceResult<GetIndicatorsResponse> {
        let (first_day, last_day, cut_off) = question.days;
        let scopes = match scope.province(&mut *snapshot).await? {
            Some(province) => definitions::Scopes::Province(province),
            None => definitions::Scopes::Nation,
        };
        // In the snapshot: a request never waits for a second connection while it holds one.
        let answering = definitions::latest(&mut *snapshot, &scopes).await?;
        let ids = question.indicator_ids;
        let wanted: Vec<IndicatorDefinition> =
            answering.definitions.into_iter().filter(|d| ids.is_empty() || ids.contains(&d.id)).collect();
        for (i, id) in ids.iter().enumerate() {
            if !wanted.iter().any(|d| &d.id == id) {
                return Err(ServiceError::invalid(format!("indicator_ids[{i}]"), format!("no indicator {id:?} here")));
            }
        }
        let mut whole = Group::whole(first_day, last_day, scope.unit.level);
        if let Target::Center(code) = question.target {
            whole.center = Some(code.clone());
        }
        let (breakdown_groups, split) =
            breakdown_groups(&mut *snapshot, question.breakdown, scope, &whole, cut_off).await?;
        let mut groups = vec![whole];
        groups.extend(breakdown_groups);
        let computation = Computation {
            scope,
            only_agency: question.only_agency,
            groups,
            split,
            needs: Needs::of(&wanted),
            today: (self.clock)(),
        };
        let (facts, reporting_unavailable) = computation.run(&mut *snapshot).await?;

        let mut results = computation.groups.iter().zip(&facts).map(|(group, facts)| IndicatorGroup {
            key: group.key.clone(),
            name: group.name.clone(),
            indicators: evaluate(&wanted, &answering.presentations, facts, reporting_unavailable.as_deref()),
        });
        let whole = results.next().expect("group 0 is the whole");
        Ok(GetIndicatorsResponse {
            indicators: whole.indicators,
            center_codes: scope.center_codes(),
            freshness: None,
            days: Some(DayRange { from_day: first_day.to_string(), to_day: last_day.to_string() }),
            groups: results.collect(),
            unit_name: scope.unit.name.clone(),
        })
    }

    pub(super) async fn rank(&self, call: &Call, request: RankUnitsRequest) -> ServiceResult<RankUnitsResponse> {
        if request.indicator_id.is_empty() {
            return Err(ServiceError::invalid("indicator_id", "is required"));
        }
        let answer = self
            .indicators(
                call,
                GetIndicatorsRequest {
                    unit_code: request.unit_code.clone(),
                    period: request.period,
                    reporting_period: request.reporting_period,
                    indicator_ids: vec![request.indicator_id.clone()],
                    breakdown: Breakdown::ChildUnit as i32,
                    min_intake_cursor: request.min_intake_cursor,
                    min_catalogue_cursor: request.min_catalogue_cursor,
                    ..Default::default()
                },
            )
            .await?;
        let mut units: Vec<(String, String, IndicatorResult)> = answer
            .groups
            .into_iter()
            .filter(|g| g.key != request.unit_code)
            .filter_map(|g| g.indicators.into_iter().next().map(|r| (g.key, g.name, r)))
            .collect();
        // Best first (the highest value, or the lowest where lower is better); no value last; ties by code so the
        // order is stable.
        let better =
            |x: f64, y: f64, lower_is_better: bool| if lower_is_better { x.total_cmp(&y) } else { y.total_cmp(&x) };
        units.sort_by(|(a_code, _, a), (b_code, _, b)| match (a.value, b.value) {
            (Some(x), Some(y)) => better(x, y, a.lower_is_better).then_with(|| a_code.cmp(b_code)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a_code.cmp(b_code),
        });
        let mut ranked: Vec<RankedUnit> = Vec::with_capacity(units.len());
        for (i, (unit_code, unit_name, result)) in units.into_iter().enumerate() {
            let rank = match ranked.last() {
                Some(previous) if previous.result.as_ref().and_then(|r| r.value) == result.value => previous.rank,
                _ => i as u32 + 1,
            };
            ranked.push(RankedUnit { rank, unit_code, unit_name, result: Some(result) });
        }
        Ok(RankUnitsResponse { units: ranked, days: answer.days, freshness: answer.freshness })
    }
}
