//! The facts of a scope over a period, whole and for each group of a breakdown, read from one snapshot of the
//! roll-ups and of aggregation's catalogue copy.
//!
//! Group 0 is always the whole answer. Sources, each read only when an indicator asked needs it:
//! - `center_year` for whole years, `center_month` for other whole months and `center_day` for the days at a
//!   period's edges (and their FULL online twins): flows of whole, center, child unit, level and month groups;
//! - `center_year_stock_change`, `center_month_stock_change` and `center_stock_change`: those groups' carried
//!   pending stocks;
//! - `cell` joined with the procedure versions in force on each cell's day: sector, procedure and agency groups,
//!   and `cell_pair` with each pair's latest cell for their stocks (and for stocks of FULL online procedures);
//! - `procedure_version` as of each group's last day, read once per catalogue cursor ([`CatalogueAt`]):
//!   catalogue counts, for the group's level;
//! - `center_year_online` and `center_month_online` (and `cell` at the edges): the procedures with at least one
//!   case received online;
//! - `case_record`: late cases and apology notices, by original due date;
//! - `center_month_report` and the calendar: reporting completeness.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use onestop_domain::calendar::{DayKind, MissingYear, WorkingCalendar};
use onestop_domain::facts::{CaseCounts, CatalogueCounts, ReportingCounts};
use onestop_domain::measures::{add, DayPosition};
use onestop_domain::{Facts, Measure, Measures, Needs};
use onestop_server::{ServiceError, ServiceResult};
use sqlx::PgConnection;

use crate::feeds::month_sets;
use crate::measure_sql;
use crate::scope::{implementing_level, Scope};

/// A group of an answer: its key and name, its days, and what its catalogue counts are taken over.
#[derive(Debug, Clone)]
pub struct Group {
    pub key: String,
    pub name: String,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// The unit level whose procedures the catalogue counts cover.
    pub level: i16,
    pub sector: Option<String>,
    pub procedure: Option<String>,
    /// Only this implementing agency's procedures (and cases it resolves).
    pub agency: Option<String>,
    /// A single center: its catalogue counts follow the list of procedures it receives.
    pub center: Option<String>,
    /// A province of the nation's breakdown: its catalogue counts take its own procedures beside the nation's
    /// (otherwise those of the scope's province are taken).
    pub province: Option<String>,
}

impl Group {
    /// Group 0 of an answer: all of the period, at the scope's level.
    pub fn whole(first_day: NaiveDate, last_day: NaiveDate, level: i16) -> Group {
        Group {
            key: String::new(),
            name: String::new(),
            first_day,
            last_day,
            level,
            sector: None,
            procedure: None,
            agency: None,
            center: None,
            province: None,
        }
    }
}

/// How rows are assigned to groups beyond group 0 (the whole).
#[derive(Debug, Clone, Default)]
pub enum Split {
    #[default]
    Whole,
    /// By center code (center, child unit and level breakdowns).
    Center(HashMap<String, usize>),
    /// By day: groups 1.. tile the period in order.
    Month,
    Sector(HashMap<String, usize>),
    Procedure(HashMap<String, usize>),
    /// By the agency implementing the procedure (cells, catalogue) or resolving the case (case records).
    Agency(HashMap<String, usize>),
    /// By the level of the center's unit and the sector (the rows of form 06).
    LevelSector {
        level_of: HashMap<String, i16>,
        index: HashMap<(i16, String), usize>,
    },
}

impl Split {
    fn by_procedure(&self) -> bool {
        matches!(self, Split::Sector(_) | Split::Procedure(_) | Split::Agency(_) | Split::LevelSector { .. })
    }
}

/// What a row is about; `None` where the source does not know.
#[derive(Debug, Clone, Copy)]
struct Row<'a> {
    center: &'a str,
    day: Option<NaiveDate>,
    sector: Option<&'a str>,
    procedure: Option<&'a str>,
    agency: Option<&'a str>,
}

/// A row about nothing in particular, to fill in the fields a source does not know.
const NO_ROW: Row = Row { center: "", day: None, sector: None, procedure: None, agency: None };

/// The groups (besides 0) a row counts in.
fn group_of(split: &Split, groups: &[Group], row: Row) -> Option<usize> {
    match split {
        Split::Whole => None,
        Split::Center(index) => index.get(row.center).copied(),
        Split::Month => {
            let day = row.day?;
            (1..groups.len()).find(|&g| (groups[g].first_day..=groups[g].last_day).contains(&day))
        }
        Split::Sector(index) => index.get(row.sector?).copied(),
        Split::Procedure(index) => index.get(row.procedure?).copied(),
        Split::Agency(index) => index.get(row.agency?).copied(),
        Split::LevelSector { level_of, index } => {
            index.get(&(*level_of.get(row.center)?, row.sector?.to_owned())).copied()
        }
    }
}

/// A common table `present (center_code, procedure_code, day)` of what has something to say about the days
/// `[$2 - 1, $3]` of the centers `$1`: every cell with a non-zero measure, and every center and procedure whose
/// pending stock carried to the day before or to the last day is not zero (with that day). The groups of a
/// breakdown are made from it, so a center that pushes every day (zeros included) and one that pushes only days
/// with activity get the same groups.
pub static PRESENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "present AS (
             SELECT center_code, procedure_code, day FROM cell
             WHERE center_code = ANY($1) AND day BETWEEN $2::date - 1 AND $3 AND ({total}) > 0
             UNION ALL
             SELECT cn.code, pn.code, d.day
             FROM center_number cn
             JOIN cell_pair p ON p.center_number = cn.number
             JOIN procedure_number pn ON pn.number = p.procedure_number
             CROSS JOIN (VALUES ($2::date - 1), ($3::date)) AS d(day)
             CROSS JOIN LATERAL (
                 SELECT c.pending_in_time, c.pending_overdue FROM procedure_cell c
                 WHERE c.center_number = p.center_number AND c.procedure_number = p.procedure_number
                   AND c.day <= d.day
                 ORDER BY c.day DESC LIMIT 1) AS s
             WHERE cn.code = ANY($1) AND (s.pending_in_time <> 0 OR s.pending_overdue <> 0))",
        total = *measure_sql::TOTAL
    )
});

/// The procedures `center` receives on `day` by its published list, or `None` when it has no list then.
async fn center_list(db: &mut PgConnection, center: &str, day: NaiveDate) -> ServiceResult<Option<HashSet<String>>> {
    let list: Option<Vec<String>> = sqlx::query_scalar(
        "SELECT procedure_codes FROM center_procedure_list
         WHERE center_code = $1 AND valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2)",
    )
    .bind(center)
    .bind(day)
    .fetch_optional(&mut *db)
    .await?;
    Ok(list.map(|codes| codes.into_iter().collect()))
}

/// The pending stock of one center and procedure on a day: that of its latest cell on or before the day, with the
/// procedure's sector and whether it was FULL online on that day.
#[derive(sqlx::FromRow)]
pub struct Stock {
    pub center_code: String,
    pub procedure_code: String,
    pub day: NaiveDate,
    pub sector_code: String,
    pub agency_code: String,
    pub full_online: bool,
    pub pending_in_time: i64,
    pub pending_overdue: i64,
}

/// The non-zero pending stocks of every center and procedure of `centers` (of `procedures` only, when given) on
/// each of `days`: each pair's latest cell on or before the day, so a pair pushed only on days with activity holds
/// its stock over the days between. A pair whose latest cell of all is on or before the day holds that cell's
/// stock (`cell_pair` keeps it); only the others are looked up in `procedure_cell`, by its key.
pub async fn stocks_on(
    db: &mut PgConnection,
    centers: &[String],
    procedures: Option<&[&str]>,
    days: &[NaiveDate],
) -> ServiceResult<Vec<Stock>> {
    Ok(sqlx::query_as(
        "SELECT cn.code AS center_code, pn.code AS procedure_code, d.day, coalesce(v.sector_code, '') AS sector_code,
                coalesce(v.implementing_agency_code, '') AS agency_code,
                coalesce(v.online_level = 3, false) AS full_online,
                s.pending_in_time::bigint AS pending_in_time, s.pending_overdue::bigint AS pending_overdue
         FROM center_number cn
         JOIN cell_pair p ON p.center_number = cn.number
         JOIN procedure_number pn ON pn.number = p.procedure_number
         CROSS JOIN UNNEST($2::date[]) AS d(day)
         CROSS JOIN LATERAL (
             SELECT p.last_in_time AS pending_in_time, p.last_overdue AS pending_overdue WHERE p.last_day <= d.day
             UNION ALL
             (SELECT c.pending_in_time, c.pending_overdue FROM procedure_cell c
              WHERE (p.last_day IS NULL OR p.last_day > d.day)
                AND c.center_number = p.center_number AND c.procedure_number = p.procedure_number
                AND c.day <= d.day
              ORDER BY c.day DESC LIMIT 1)) AS s
         LEFT JOIN procedure_version v ON v.code = pn.code AND v.valid_from <= d.day
                                      AND (v.valid_to IS NULL OR d.day < v.valid_to)
         WHERE cn.code = ANY($1) AND ($3::text[] IS NULL OR pn.code = ANY($3))
           AND (s.pending_in_time <> 0 OR s.pending_overdue <> 0)",
    )
    .bind(centers)
    .bind(days)
    .bind(procedures)
    .fetch_all(&mut *db)
    .await?)
}

/// The pending stocks of every center of `centers` on each of `days`, as [`stocks_on`] summed per center and day,
/// with no procedure: the center's stock changes over the years before the day's, over the months of its year
/// before its month and over the days of its month up to it (a month's last day takes its whole month, a year's
/// its whole year). Reads a center's years, at most eleven months and at most one month of its days, however
/// many procedures it has. The conditions on the day alone skip a table with nothing to read for it, instead of
/// probing it for every center.
pub async fn center_stocks_on(
    db: &mut PgConnection,
    centers: &[String],
    days: &[NaiveDate],
) -> ServiceResult<Vec<Stock>> {
    // The stock on a day is the changes of the years before the next day's year, of that year's months before
    // the next day's month, and of that month's days. Months and days are read only when some day needs them: a
    // year's or a month's last day needs no day, and a year's none of its months (see `cells_by_center_day` on
    // what planning a part costs).
    let next_days = days.iter().filter_map(|d| d.succ_opt());
    let months_needed = next_days.clone().any(|next| next.month() != 1);
    let days_needed = next_days.clone().any(|next| next.day() != 1);
    let mut parts = vec![
        "SELECT center_code, in_time, overdue FROM center_year_stock_change
         WHERE center_code = ANY($1) AND year < date_trunc('year', d.day + 1)::date",
    ];
    if months_needed {
        parts.push(
            "SELECT center_code, in_time, overdue FROM center_month_stock_change
             WHERE center_code = ANY($1)
               AND month BETWEEN date_trunc('year', d.day + 1)::date AND date_trunc('month', d.day + 1)::date - 1
               AND date_trunc('year', d.day + 1) < date_trunc('month', d.day + 1)",
        );
    }
    if days_needed {
        parts.push(
            "SELECT center_code, in_time, overdue FROM center_stock_change
             WHERE center_code = ANY($1) AND day BETWEEN date_trunc('month', d.day + 1)::date AND d.day
               AND date_trunc('month', d.day + 1)::date <= d.day",
        );
    }
    let query = format!(
        "SELECT s.center_code, '' AS procedure_code, d.day, '' AS sector_code, '' AS agency_code, false AS full_online,
                sum(s.in_time)::bigint AS pending_in_time, sum(s.overdue)::bigint AS pending_overdue
         FROM UNNEST($2::date[]) AS d(day)
         CROSS JOIN LATERAL ({parts}) AS s
         GROUP BY s.center_code, d.day
         HAVING sum(s.in_time) <> 0 OR sum(s.overdue) <> 0",
        parts = parts.join(" UNION ALL ")
    );
    Ok(sqlx::query_as(&query).bind(centers).bind(days).fetch_all(&mut *db).await?)
}

/// A procedure in force on a day.
#[derive(Debug, sqlx::FromRow)]
pub struct InForce {
    code: String,
    /// Empty for the nation's procedures, else the province whose own they are.
    issuing_unit_code: String,
    sector_code: String,
    online_level: i16,
    implementing_levels: Vec<i16>,
    implementing_agency_code: String,
}

impl InForce {
    /// Whether the procedure counts for `province` (the nation's procedures count for every province, and alone
    /// for none).
    fn issued_for(&self, province: Option<&str>) -> bool {
        self.issuing_unit_code.is_empty() || province == Some(self.issuing_unit_code.as_str())
    }
}

/// The copy of the catalogue at the cursor a [`Scope`] was resolved at, with the lists of procedures in force
/// read from it: the copy changes only as its cursor moves, so a list read once at a cursor is the list at that
/// cursor, and answers after the first read none (the nation's day lists every procedure of 35 catalogues).
#[derive(Debug, Clone, Default)]
pub struct CatalogueAt {
    pub cursor: u64,
    /// Shared by every scope of one service, whatever its cursor.
    pub lists: InForceLists,
}

/// Lists of procedures in force by (catalogue cursor, day, provinces whose own procedures count).
pub type InForceLists = Arc<Mutex<HashMap<(u64, NaiveDate, Vec<String>), Arc<Vec<InForce>>>>>;

/// Lists kept at once; past it they are read again (a list is a few thousand procedures).
const MAX_IN_FORCE_LISTS: usize = 64;

impl CatalogueAt {
    /// The procedures in force on `day` of the nation's catalogue and of `provinces`' own (sorted).
    async fn in_force(
        &self,
        db: &mut PgConnection,
        day: NaiveDate,
        provinces: Vec<String>,
    ) -> ServiceResult<Arc<Vec<InForce>>> {
        let key = (self.cursor, day, provinces);
        let lists = || self.lists.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(rows) = lists().get(&key).cloned() {
            return Ok(rows);
        }
        let rows: Vec<InForce> = sqlx::query_as(
            "SELECT code, issuing_unit_code, sector_code, online_level, implementing_levels, implementing_agency_code
             FROM procedure_version WHERE valid_from <= $1 AND (valid_to IS NULL OR $1 < valid_to)
               AND (issuing_unit_code = '' OR issuing_unit_code = ANY($2))",
        )
        .bind(day)
        .bind(&key.2)
        .fetch_all(&mut *db)
        .await?;
        let rows = Arc::new(rows);
        let mut lists = lists();
        if lists.len() >= MAX_IN_FORCE_LISTS {
            lists.clear();
        }
        lists.insert(key, rows.clone());
        Ok(rows)
    }
}

/// What a group's catalogue counts are taken over: the day, and whose procedures (see `catalogue_counts`).
#[derive(PartialEq, Eq, Hash)]
struct OfferKey {
    last_day: NaiveDate,
    /// Whose provincial procedures count beside the nation's.
    province: Option<String>,
    level: i16,
    agency: Option<String>,
    /// A center's published list, sorted.
    list: Option<Vec<String>>,
    sector: Option<String>,
    procedure: Option<String>,
}

/// The procedures offered under an [`OfferKey`]: their counts, and those offered online that have ever had an
/// online case, as a bitmap of their numbers.
struct Offered {
    counts: CatalogueCounts,
    online: Vec<u8>,
}

/// The numbers procedures are given when their first online case arrives (see `month_sets`), both ways.
struct ProcedureNumbers {
    number_of: HashMap<String, i32>,
    code_of: HashMap<i32, String>,
}

impl ProcedureNumbers {
    async fn read(db: &mut PgConnection) -> ServiceResult<ProcedureNumbers> {
        let rows: Vec<(i32, String)> =
            sqlx::query_as("SELECT number, code FROM procedure_number").fetch_all(db).await?;
        let number_of = rows.iter().map(|(n, code)| (code.clone(), *n)).collect();
        Ok(ProcedureNumbers { number_of, code_of: rows.into_iter().collect() })
    }
}

impl Offered {
    /// `numbers` is `None` when no procedure of the answer has an online case.
    fn of(in_force: &[InForce], key: &OfferKey, numbers: Option<&ProcedureNumbers>) -> Offered {
        let mut offered = Offered { counts: CatalogueCounts::default(), online: Vec::new() };
        let on_list = |code: &String| key.list.as_ref().is_none_or(|list| list.binary_search(code).is_ok());
        for p in in_force.iter().filter(|p| p.issued_for(key.province.as_deref())) {
            let by_whom = match (&key.agency, &key.list) {
                (Some(agency), _) => p.implementing_agency_code == *agency,
                (None, Some(_)) => true,
                (None, None) => p.implementing_levels.contains(&key.level),
            };
            let matches = by_whom
                && on_list(&p.code)
                && key.sector.as_ref().is_none_or(|s| *s == p.sector_code)
                && key.procedure.as_ref().is_none_or(|code| *code == p.code);
            if !matches {
                continue;
            }
            offered.counts.procedures += 1;
            if p.online_level >= 2 {
                offered.counts.online += 1;
                if let Some(&n) = numbers.and_then(|numbers| numbers.number_of.get(&p.code)) {
                    month_sets::set_procedure(&mut offered.online, n, true);
                }
            }
            offered.counts.full_online += u64::from(p.online_level == 3);
        }
        offered
    }
}

/// Case records of one center and, when the breakdown needs them, one procedure, sector or due date.
#[derive(sqlx::FromRow)]
struct CaseGroupRow {
    center_code: String,
    procedure_code: Option<String>,
    sector_code: Option<String>,
    resolving_agency_code: Option<String>,
    due_date: Option<NaiveDate>,
    late: i64,
    late_with_notice: i64,
    noticed: i64,
    noticed_in_time: i64,
}

pub struct Computation<'a> {
    pub scope: &'a Scope,
    /// Only this agency's procedures and the cases it resolves count, in every group (an agency's answer).
    pub only_agency: Option<String>,
    /// Group 0 is the whole; the others are the breakdown's.
    pub groups: Vec<Group>,
    pub split: Split,
    pub needs: Needs,
    pub today: NaiveDate,
}

fn measures(values: Vec<i64>) -> Measures {
    let mut m = Measures::default();
    for (measure, value) in Measure::ALL.into_iter().zip(values) {
        m.set(measure, value.max(0) as u64);
    }
    m
}

impl Computation<'_> {
    fn whole(&self) -> &Group {
        &self.groups[0]
    }

    /// The facts of every group, in group order, and why reporting counts could not be computed if so.
    pub async fn run(&self, db: &mut PgConnection) -> ServiceResult<(Vec<Facts>, Option<String>)> {
        let mut facts = vec![Facts::default(); self.groups.len()];
        let centers = self.scope.center_codes();
        // Reads of roll-ups by center name the scope's centers, unless it has them all (the nation): one pass over
        // a table is then cheaper than thousands of index probes.
        let filter = (!self.scope.has_every_center()).then_some(centers.as_slice());
        if self.split.by_procedure() || self.only_agency.is_some() {
            self.cells_by_procedure(db, &centers, &mut facts).await?;
        } else {
            self.cells_by_center_day(db, filter, &mut facts).await?;
        }
        self.carried_stocks(db, &centers, &mut facts).await?;
        if self.needs.catalogue {
            self.catalogue_counts(db, &centers, filter, &mut facts).await?;
        }
        if self.needs.cases {
            self.case_counts(db, filter, &mut facts).await?;
        }
        let mut reporting_unavailable = None;
        if self.needs.reporting {
            if let Err(missing) = self.reporting_counts(db, &centers, filter, &mut facts).await? {
                reporting_unavailable = Some(format!("no working-day calendar for {}", missing.0));
            }
        }
        Ok((facts, reporting_unavailable))
    }

    /// Flows from the day, month and year roll-ups (`center_day`, `center_month` and `center_year`, and their
    /// FULL online twins when asked for), in one statement: each period a group covers reads its whole calendar
    /// years by year, its other whole months by month and the days at its edges by day, so a year is one row per
    /// center. Stocks are left to [`Self::carried_stocks`], which replaces them.
    async fn cells_by_center_day(
        &self,
        db: &mut PgConnection,
        centers: Option<&[String]>,
        facts: &mut [Facts],
    ) -> ServiceResult<()> {
        // The periods read: each month of a month breakdown (which tile the whole), otherwise the whole.
        let periods: Vec<&Group> = match self.split {
            Split::Month => self.groups[1..].iter().collect(),
            _ => vec![self.whole()],
        };
        // A month breakdown sums each month apart, so it reads no year.
        let by_day = matches!(self.split, Split::Month);
        let (mut years, mut months, mut edges) = (Vec::new(), Vec::new(), Vec::new());
        for group in periods {
            let (whole, partial) = whole_months(group.first_day, group.last_day);
            if by_day {
                months.extend(whole);
            } else {
                let (whole_years, other_months) = whole_years(&whole);
                years.extend(whole_years);
                months.extend(other_months);
            }
            edges.extend(partial);
        }
        // Consecutive years and months are read as one range of the index each (one probe per center and range,
        // not per center and month).
        let (year_runs, month_runs) = (runs(years, 12), runs(months, 1));
        // Summed in the database per group (a nation's year is 35 rows, not 80,000): per group of centers for a
        // breakdown by center, child unit or level, per month for a month breakdown.
        let (group_centers, group_numbers): (Vec<&str>, Vec<i32>) = match &self.split {
            Split::Center(index) => index.iter().map(|(center, g)| (center.as_str(), *g as i32)).unzip(),
            _ => (Vec::new(), Vec::new()),
        };
        let read = |full_online: bool, (day_table, month_table, year_table): (&str, &str, &str)| {
            let part = |table: &str, first_day: &str, (firsts, lasts): (u8, u8)| {
                format!(
                    "SELECT {full_online} AS full_online, c.center_code, {first_day} AS day, {columns}
                     FROM {table} c, UNNEST(${firsts}::date[], ${lasts}::date[]) AS r(f, l)
                     WHERE ($1::text[] IS NULL OR c.center_code = ANY($1)) AND c.day BETWEEN r.f AND r.l",
                    columns = *measure_sql::COLUMNS,
                )
            };
            // Only the roll-ups the periods read: planning a part costs about as much as running it (each part
            // names the scope's centers, which the planner estimates one by one), and a year reads no month or day.
            let parts = [
                (!year_runs.is_empty()).then(|| part(year_table, "c.day", (9, 10))),
                (!month_runs.is_empty()).then(|| part(month_table, "c.day", (2, 3))),
                (!edges.is_empty()).then(|| part(day_table, "r.f", (4, 5))),
            ];
            parts.into_iter().flatten().collect::<Vec<_>>().join(" UNION ALL ")
        };
        let mut rows = read(false, ("center_day", "center_month", "center_year"));
        if self.needs.full_online_cells {
            let full_online =
                read(true, ("center_day_full_online", "center_month_full_online", "center_year_full_online"));
            rows = format!("{rows} UNION ALL {full_online}");
        }
        let query = format!(
            "SELECT r.full_online, g.number, CASE WHEN $8 THEN r.day END, {sums}
             FROM ({rows}) AS r LEFT JOIN UNNEST($6::text[], $7::int[]) AS g(center_code, number) USING (center_code)
             GROUP BY 1, 2, 3",
            sums = *measure_sql::SUMS_ARRAY
        );
        #[allow(clippy::type_complexity)]
        let rows: Vec<(bool, Option<i32>, Option<NaiveDate>, Vec<i64>)> = sqlx::query_as(&query)
            .bind(centers)
            .bind(month_runs.iter().map(|r| r.0).collect::<Vec<_>>())
            .bind(month_runs.iter().map(|r| r.1).collect::<Vec<_>>())
            .bind(edges.iter().map(|e| e.0).collect::<Vec<_>>())
            .bind(edges.iter().map(|e| e.1).collect::<Vec<_>>())
            .bind(&group_centers)
            .bind(&group_numbers)
            .bind(by_day)
            .bind(year_runs.iter().map(|r| r.0).collect::<Vec<_>>())
            .bind(year_runs.iter().map(|r| r.1).collect::<Vec<_>>())
            .fetch_all(&mut *db)
            .await?;
        for (full_online, group, day, values) in rows {
            let m = measures(values);
            // `day` is the first day of what the row sums, which lies within one month of a month breakdown.
            let of_day = day.and_then(|day| group_of(&self.split, &self.groups, Row { day: Some(day), ..NO_ROW }));
            let groups = group.map(|g| g as usize).or(of_day);
            for g in std::iter::once(0).chain(groups) {
                let totals = if full_online { &mut facts[g].full_online_cells } else { &mut facts[g].cells };
                totals.add_cell(DayPosition::InPeriod { is_last_day: false }, &m)?;
            }
        }
        Ok(())
    }

    /// Cells summed per (center, procedure, sector and implementing agency on the cell's day, FULL online on the
    /// cell's day, position).
    async fn cells_by_procedure(
        &self,
        db: &mut PgConnection,
        centers: &[String],
        facts: &mut [Facts],
    ) -> ServiceResult<()> {
        let whole = self.whole();
        #[allow(clippy::type_complexity)]
        let rows: Vec<(String, String, String, String, bool, i32, Vec<i64>)> = sqlx::query_as(&format!(
            "SELECT c.center_code, c.procedure_code, coalesce(v.sector_code, ''),
                    coalesce(v.implementing_agency_code, ''), coalesce(v.online_level = 3, false),
                    CASE WHEN c.day < $2 THEN 0 WHEN c.day < $3 THEN 1 ELSE 2 END AS position, {sums}
             FROM cell c
             LEFT JOIN procedure_version v ON v.code = c.procedure_code AND v.valid_from <= c.day
                                          AND (v.valid_to IS NULL OR c.day < v.valid_to)
             WHERE c.center_code = ANY($1) AND c.day BETWEEN $2::date - 1 AND $3
             GROUP BY 1, 2, 3, 4, 5, 6",
            sums = *measure_sql::SUMS_ARRAY
        ))
        .bind(centers)
        .bind(whole.first_day)
        .bind(whole.last_day)
        .fetch_all(&mut *db)
        .await?;
        for (center, procedure, sector, agency, full_online, position, values) in rows {
            if self.only_agency.as_ref().is_some_and(|only| *only != agency) {
                continue;
            }
            let m = measures(values);
            let position = match position {
                0 => DayPosition::BeforePeriod,
                1 => DayPosition::InPeriod { is_last_day: false },
                _ => DayPosition::InPeriod { is_last_day: true },
            };
            let row = Row {
                center: &center,
                day: None,
                sector: Some(&sector),
                procedure: Some(&procedure),
                agency: Some(&agency),
            };
            for g in std::iter::once(0).chain(group_of(&self.split, &self.groups, row)) {
                facts[g].cells.add_cell(position, &m)?;
                if full_online {
                    facts[g].full_online_cells.add_cell(position, &m)?;
                }
            }
        }
        Ok(())
    }

    /// Pending stocks, which carry forward: a center and procedure with no cell on a day hold the stock of their
    /// latest earlier cell (nothing flowed, so nothing changed). Each group's stock at its last day, and the stock
    /// carried over into it (at the day before its first), replace what the cells of those very days said.
    async fn carried_stocks(
        &self,
        db: &mut PgConnection,
        centers: &[String],
        facts: &mut [Facts],
    ) -> ServiceResult<()> {
        let days: BTreeSet<NaiveDate> =
            self.groups.iter().flat_map(|g| [Some(g.last_day), g.first_day.pred_opt()]).flatten().collect();
        let days: Vec<NaiveDate> = days.into_iter().collect();
        for f in facts.iter_mut() {
            for totals in [&mut f.cells, &mut f.full_online_cells] {
                totals.measures.set(Measure::PendingInTime, 0);
                totals.measures.set(Measure::PendingOverdue, 0);
                totals.carried_over = 0;
            }
        }
        // Groups made of whole centers need only each center's stock, read from its stock changes; stocks of FULL
        // online procedures alone, or of some procedures or an agency's, need each pair's.
        let by_center = matches!(self.split, Split::Whole | Split::Center(_) | Split::Month);
        let stocks = if by_center && self.only_agency.is_none() && !self.needs.full_online_stocks {
            // By the centers' names even for the nation: the day changes are found by center.
            center_stocks_on(db, centers, &days).await?
        } else {
            stocks_on(db, centers, None, &days).await?
        };
        for s in &stocks {
            if self.only_agency.as_ref().is_some_and(|only| *only != s.agency_code) {
                continue;
            }
            let row = Row {
                center: &s.center_code,
                day: None,
                sector: Some(&s.sector_code),
                procedure: Some(&s.procedure_code),
                agency: Some(&s.agency_code),
            };
            let groups: Vec<usize> = match &self.split {
                // Every month has its own last day and day before: the day of the stock picks the month.
                Split::Month => (0..self.groups.len()).collect(),
                split => std::iter::once(0).chain(group_of(split, &self.groups, row)).collect(),
            };
            for g in groups {
                let group = &self.groups[g];
                let f = &mut facts[g];
                let mut targets = vec![&mut f.cells];
                if s.full_online {
                    targets.push(&mut f.full_online_cells);
                }
                for totals in targets {
                    if s.day == group.last_day {
                        for (measure, value) in
                            [(Measure::PendingInTime, s.pending_in_time), (Measure::PendingOverdue, s.pending_overdue)]
                        {
                            totals.measures.set(measure, add(totals.measures.get(measure), value.max(0) as u64)?);
                        }
                    }
                    if group.first_day.pred_opt() == Some(s.day) {
                        let pending = add(s.pending_in_time.max(0) as u64, s.pending_overdue.max(0) as u64)?;
                        totals.carried_over = add(totals.carried_over, pending)?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn catalogue_counts(
        &self,
        db: &mut PgConnection,
        centers: &[String],
        filter: Option<&[String]>,
        facts: &mut [Facts],
    ) -> ServiceResult<()> {
        // Procedures in force on each distinct last day: (code, sector, online level, implementing levels), of
        // the nation's catalogue and the group's province's, never another province's.
        let scope_province = self.scope.province(db).await?;
        let province_of = |group: &Group| group.province.clone().or_else(|| scope_province.clone());
        // One read per distinct last day, for every province of the groups with that day (35 for the nation's
        // answer by province).
        let mut provinces_on: BTreeMap<NaiveDate, BTreeSet<String>> = BTreeMap::new();
        for group in &self.groups {
            provinces_on.entry(group.last_day).or_default().extend(province_of(group));
        }
        let mut in_force: HashMap<NaiveDate, Arc<Vec<InForce>>> = HashMap::new();
        for (day, provinces) in provinces_on {
            let rows = self.scope.catalogue.in_force(db, day, provinces.into_iter().collect()).await?;
            in_force.insert(day, rows);
        }
        // Procedures with a case received online, per group: a bitmap of procedure numbers, as the monthly sets
        // keep them, so a group of whole centers unites its centers' bitmaps without naming a procedure.
        let mut with_online_cases: Vec<Vec<u8>> = vec![Vec::new(); self.groups.len()];
        let mut numbers: Option<ProcedureNumbers> = None;
        if self.needs.online_cases {
            let mut ranges: Vec<(NaiveDate, NaiveDate)> =
                self.groups.iter().map(|g| (g.first_day, g.last_day)).collect();
            ranges.sort();
            ranges.dedup();
            for (first, last) in ranges {
                // Whole calendar years from each center's yearly set, its other whole months from the monthly one,
                // the days at either edge from the cells.
                let (months, edges) = whole_months(first, last);
                let (years, months) = whole_years(&months);
                let (year_runs, month_runs) = (runs(years, 12), runs(months, 1));
                // Only the sets the period reads (see `cells_by_center_day` on what planning a part costs).
                let parts = [
                    (!year_runs.is_empty()).then_some(
                        "SELECT o.center_code, o.procedures
                         FROM center_year_online o, UNNEST($4::date[], $5::date[]) AS r(f, l)
                         WHERE ($1::text[] IS NULL OR o.center_code = ANY($1)) AND o.year BETWEEN r.f AND r.l",
                    ),
                    (!month_runs.is_empty()).then_some(
                        "SELECT o.center_code, o.procedures
                         FROM center_month_online o, UNNEST($2::date[], $3::date[]) AS r(f, l)
                         WHERE ($1::text[] IS NULL OR o.center_code = ANY($1)) AND o.month BETWEEN r.f AND r.l",
                    ),
                ];
                let parts: Vec<&str> = parts.into_iter().flatten().collect();
                let sets: Vec<(String, Vec<u8>)> = if parts.is_empty() {
                    Vec::new()
                } else {
                    sqlx::query_as(&parts.join(" UNION ALL "))
                        .bind(filter)
                        .bind(month_runs.iter().map(|r| r.0).collect::<Vec<_>>())
                        .bind(month_runs.iter().map(|r| r.1).collect::<Vec<_>>())
                        .bind(year_runs.iter().map(|r| r.0).collect::<Vec<_>>())
                        .bind(year_runs.iter().map(|r| r.1).collect::<Vec<_>>())
                        .fetch_all(&mut *db)
                        .await?
                };
                let edge_cells: Vec<(String, String)> = if edges.is_empty() {
                    Vec::new()
                } else {
                    sqlx::query_as(
                        "SELECT DISTINCT c.center_code, c.procedure_code
                     FROM cell c, UNNEST($2::date[], $3::date[]) AS e(f, l)
                     WHERE c.center_code = ANY($1) AND c.day BETWEEN e.f AND e.l AND c.received_online > 0",
                    )
                    .bind(centers)
                    .bind(edges.iter().map(|e| e.0).collect::<Vec<_>>())
                    .bind(edges.iter().map(|e| e.1).collect::<Vec<_>>())
                    .fetch_all(&mut *db)
                    .await?
                };
                if sets.is_empty() && edge_cells.is_empty() {
                    continue;
                }
                // Read once per answer, however many periods it covers.
                if numbers.is_none() {
                    numbers = Some(ProcedureNumbers::read(db).await?);
                }
                let numbers = numbers.as_ref().expect("read above");
                let mut by_center: HashMap<String, Vec<u8>> = HashMap::new();
                for (center, bits) in sets {
                    month_sets::union_into(by_center.entry(center).or_default(), &bits);
                }
                for (center, procedure) in edge_cells {
                    // A procedure with an online case was numbered when its cell was applied.
                    if let Some(&n) = numbers.number_of.get(&procedure) {
                        month_sets::set_procedure(by_center.entry(center).or_default(), n, true);
                    }
                }
                let in_range = |g: usize| (self.groups[g].first_day, self.groups[g].last_day) == (first, last);
                let of_procedure: HashMap<&str, &InForce> = in_force
                    .get(&last)
                    .into_iter()
                    .flat_map(|rows| rows.iter())
                    .filter(|p| p.issued_for(scope_province.as_deref()))
                    .map(|p| (p.code.as_str(), p))
                    .collect();
                for (center, bits) in &by_center {
                    if !self.split.by_procedure() {
                        let row = Row { center, day: Some(first), sector: None, procedure: None, agency: None };
                        for g in std::iter::once(0).chain(group_of(&self.split, &self.groups, row)) {
                            if in_range(g) {
                                month_sets::union_into(&mut with_online_cases[g], bits);
                            }
                        }
                        continue;
                    }
                    // Groups of procedures: each procedure of the set finds its group.
                    for n in month_sets::procedures_in(bits) {
                        let Some(procedure) = numbers.code_of.get(&n) else { continue };
                        let version = of_procedure.get(procedure.as_str());
                        let row = Row {
                            center,
                            day: Some(first),
                            sector: version.map(|v| v.sector_code.as_str()),
                            procedure: Some(procedure),
                            agency: version.map(|v| v.implementing_agency_code.as_str()),
                        };
                        for g in std::iter::once(0).chain(group_of(&self.split, &self.groups, row)) {
                            if in_range(g) {
                                month_sets::set_procedure(&mut with_online_cases[g], n, true);
                            }
                        }
                    }
                }
            }
        }
        // Groups asking the same question (every commune of a province: commune procedures on the same day) share
        // one pass over the catalogue; each then counts only its own procedures with online cases.
        let mut offered_by_key: HashMap<OfferKey, Offered> = HashMap::new();
        for (g, group) in self.groups.iter().enumerate() {
            // Whose procedures count: an agency's are those it implements; a center's, those on its list (when
            // it has one); otherwise those implemented at the group's level.
            let agency = group.agency.as_ref().or(self.only_agency.as_ref());
            let list = match &group.center {
                Some(center) => center_list(db, center, group.last_day).await?,
                None => None,
            };
            let key = OfferKey {
                last_day: group.last_day,
                province: province_of(group),
                level: implementing_level(group.level),
                agency: agency.cloned(),
                list: list.as_ref().map(|list| {
                    let mut codes: Vec<String> = list.iter().cloned().collect();
                    codes.sort();
                    codes
                }),
                sector: group.sector.clone(),
                procedure: group.procedure.clone(),
            };
            let offered = offered_by_key
                .entry(key)
                .or_insert_with_key(|key| Offered::of(&in_force[&key.last_day], key, numbers.as_ref()));
            let mut counts = offered.counts;
            counts.online_with_online_cases = month_sets::in_both(&with_online_cases[g], &offered.online);
            facts[g].catalogue = counts;
        }
        Ok(())
    }

    /// Case records due in the period. A case is late when resolved late, or still open past its due date today.
    async fn case_counts(
        &self,
        db: &mut PgConnection,
        centers: Option<&[String]>,
        facts: &mut [Facts],
    ) -> ServiceResult<()> {
        let whole = self.whole();
        // Grouped only as finely as the breakdown needs: per center, a province-year is a few hundred rows
        // instead of one per case.
        let by_day = matches!(self.split, Split::Month);
        let by_sector = matches!(self.split, Split::Sector(_) | Split::LevelSector { .. });
        let by_procedure = matches!(self.split, Split::Procedure(_));
        // A case counts for the agency that resolves it.
        let by_agency = matches!(self.split, Split::Agency(_)) || self.only_agency.is_some();
        let rows: Vec<CaseGroupRow> = sqlx::query_as(
            "SELECT r.center_code,
                    CASE WHEN $7 THEN r.procedure_code END AS procedure_code,
                    CASE WHEN $6 THEN coalesce(v.sector_code, '') END AS sector_code,
                    CASE WHEN $8 THEN r.resolving_agency_code END AS resolving_agency_code,
                    CASE WHEN $5 THEN r.due_date END AS due_date,
                    count(*) FILTER (WHERE r.late OR (r.open AND r.due_date < $4)) AS late,
                    count(*) FILTER (WHERE (r.late OR (r.open AND r.due_date < $4)) AND r.notices > 0)
                        AS late_with_notice,
                    count(*) FILTER (WHERE r.notices > 0) AS noticed,
                    count(*) FILTER (WHERE r.notices > 0 AND r.notice_assessed AND NOT r.notice_after_deadline)
                        AS noticed_in_time
             FROM case_record r
             LEFT JOIN procedure_version v ON $6 AND v.code = r.procedure_code AND v.valid_from <= r.due_date
                                          AND (v.valid_to IS NULL OR r.due_date < v.valid_to)
             WHERE ($1::text[] IS NULL OR r.center_code = ANY($1)) AND r.due_date BETWEEN $2 AND $3
             GROUP BY 1, 2, 3, 4, 5",
        )
        .bind(centers)
        .bind(whole.first_day)
        .bind(whole.last_day)
        .bind(self.today)
        .bind(by_day)
        .bind(by_sector)
        .bind(by_procedure)
        .bind(by_agency)
        .fetch_all(&mut *db)
        .await?;
        for r in rows {
            if self.only_agency.is_some() && self.only_agency != r.resolving_agency_code {
                continue;
            }
            let row = Row {
                center: &r.center_code,
                day: r.due_date,
                sector: r.sector_code.as_deref(),
                procedure: r.procedure_code.as_deref(),
                agency: r.resolving_agency_code.as_deref(),
            };
            for g in std::iter::once(0).chain(group_of(&self.split, &self.groups, row)) {
                let c: &mut CaseCounts = &mut facts[g].cases;
                c.late += r.late as u64;
                c.late_with_notice += r.late_with_notice as u64;
                c.noticed += r.noticed as u64;
                c.noticed_in_time += r.noticed_in_time as u64;
            }
        }
        Ok(())
    }

    /// Every working day of every center is expected; it is on time when first pushed by the end of the next
    /// day in Vietnam (policy). Sector and procedure groups have no reporting counts: pushes are per center.
    /// Without the calendar of a year the period touches, which days were expected is unknown: nothing is counted.
    async fn reporting_counts(
        &self,
        db: &mut PgConnection,
        centers: &[String],
        filter: Option<&[String]>,
        facts: &mut [Facts],
    ) -> ServiceResult<Result<(), MissingYear>> {
        let whole = self.whole();
        let calendar = load_calendar(db, whole.first_day, whole.last_day).await?;
        // Each center's days first reported on time, a bitmap per month.
        let reported: Vec<(String, NaiveDate, i32)> = sqlx::query_as(
            "SELECT center_code, month, on_time_days FROM center_month_report
             WHERE ($1::text[] IS NULL OR center_code = ANY($1))
               AND month BETWEEN date_trunc('month', $2::date)::date AND $3",
        )
        .bind(filter)
        .bind(whole.first_day)
        .bind(whole.last_day)
        .fetch_all(&mut *db)
        .await?;
        let on_time: HashMap<(&str, NaiveDate), i32> =
            reported.iter().map(|(center, month, days)| ((center.as_str(), *month), *days)).collect();
        // The period's working days, cut where the calendar month or a month breakdown's group changes: within a
        // segment, a center's days first reported on time are its month's bitmap under the segment's mask.
        struct Segment {
            month: NaiveDate,
            mask: i32,
            working_days: u64,
            group: Option<usize>,
        }
        let mut segments: Vec<Segment> = Vec::new();
        let mut day = whole.first_day;
        while day <= whole.last_day {
            let working = match calendar.is_working_day(day) {
                Ok(working) => working,
                Err(missing) => {
                    facts.iter_mut().for_each(|f| f.reporting = ReportingCounts::default());
                    return Ok(Err(missing));
                }
            };
            if working {
                let month = day.with_day(1).expect("day 1 exists");
                let group = match self.split {
                    Split::Month => group_of(&self.split, &self.groups, Row { center: "", day: Some(day), ..NO_ROW }),
                    _ => None,
                };
                match segments.last_mut() {
                    Some(last) if last.month == month && last.group == group => {
                        last.mask |= month_sets::day_bit(day);
                        last.working_days += 1;
                    }
                    _ => segments.push(Segment { month, mask: month_sets::day_bit(day), working_days: 1, group }),
                }
            }
            day = day + Days::new(1);
        }
        // Groups of centers; sector and procedure groups have none.
        let by_center = matches!(self.split, Split::Center(_));
        for center in centers {
            let center_group =
                if by_center { group_of(&self.split, &self.groups, Row { center, ..NO_ROW }) } else { None };
            for segment in &segments {
                let days = on_time.get(&(center.as_str(), segment.month)).copied().unwrap_or(0);
                let in_time = u64::from((days & segment.mask).count_ones());
                for g in std::iter::once(0).chain(segment.group).chain(center_group) {
                    let r: &mut ReportingCounts = &mut facts[g].reporting;
                    r.expected += segment.working_days;
                    r.on_time += in_time;
                }
            }
        }
        Ok(Ok(()))
    }
}

/// Splits `[first, last]` into the calendar months it covers whole (by their first day) and the day ranges left
/// at its edges.
pub fn whole_months(first: NaiveDate, last: NaiveDate) -> (Vec<NaiveDate>, Vec<(NaiveDate, NaiveDate)>) {
    let (mut months, mut edges) = (Vec::new(), Vec::new());
    let mut day = first;
    while day <= last {
        let month = day.with_day(1).expect("day 1 exists");
        let month_last = (month + chrono::Months::new(1)).pred_opt().expect("a day before");
        if day == month && month_last <= last {
            months.push(month);
        } else {
            edges.push((day, month_last.min(last)));
        }
        day = month_last + Days::new(1);
    }
    (months, edges)
}

/// Splits whole calendar months (by their first day, ascending) into the years they cover whole (by their first
/// day) and the months left.
pub fn whole_years(months: &[NaiveDate]) -> (Vec<NaiveDate>, Vec<NaiveDate>) {
    let mut in_year: BTreeMap<i32, Vec<NaiveDate>> = BTreeMap::new();
    for month in months {
        in_year.entry(month.year()).or_default().push(*month);
    }
    let (mut years, mut others) = (Vec::new(), Vec::new());
    for (year, mut months) in in_year {
        months.sort_unstable();
        months.dedup();
        if months.len() == 12 {
            years.push(NaiveDate::from_ymd_opt(year, 1, 1).expect("1 January exists"));
        } else {
            others.extend(months);
        }
    }
    (years, others)
}

/// `starts` (first days of months or years, `step` months long) as ranges of consecutive ones: (first start,
/// last start).
fn runs(mut starts: Vec<NaiveDate>, step: u32) -> Vec<(NaiveDate, NaiveDate)> {
    starts.sort_unstable();
    starts.dedup();
    let mut runs: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for start in starts {
        match runs.last_mut() {
            Some(run) if run.1 + chrono::Months::new(step) == start => run.1 = start,
            _ => runs.push((start, start)),
        }
    }
    runs
}

/// The end of the day after `day` in Vietnam (UTC+7), as an instant.
pub fn deadline(day: NaiveDate) -> chrono::DateTime<Utc> {
    let next_midnight = (day + Days::new(2)).and_time(NaiveTime::MIN) - chrono::Duration::hours(7);
    Utc.from_utc_datetime(&next_midnight)
}

pub fn missing_year(missing: MissingYear) -> ServiceError {
    ServiceError::precondition("period", format!("no working-day calendar for {}", missing.0))
}

/// The working-day calendar of the years `[first, last]` touches, from the copy.
pub async fn load_calendar(db: &mut PgConnection, first: NaiveDate, last: NaiveDate) -> ServiceResult<WorkingCalendar> {
    let (from_year, to_year) = (first.year() - 1, last.year() + 1);
    let years: Vec<i32> = sqlx::query_scalar("SELECT year FROM calendar_year WHERE year BETWEEN $1 AND $2")
        .bind(from_year)
        .bind(to_year)
        .fetch_all(&mut *db)
        .await?;
    let exceptions: Vec<(NaiveDate, i16)> =
        sqlx::query_as("SELECT day, kind FROM calendar_exception WHERE extract(year FROM day) BETWEEN $1 AND $2")
            .bind(from_year as f64)
            .bind(to_year as f64)
            .fetch_all(&mut *db)
            .await?;
    let exceptions = exceptions.into_iter().filter_map(|(day, kind)| match kind {
        1 => Some((day, DayKind::Holiday)),
        2 => Some((day, DayKind::MakeupWorkingDay)),
        _ => None,
    });
    Ok(WorkingCalendar::new(years, exceptions))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_period_splits_into_whole_months_and_edges() {
        let (months, edges) = whole_months(d("2025-12-15"), d("2026-03-14"));
        assert_eq!(months, [d("2026-01-01"), d("2026-02-01")]);
        assert_eq!(edges, [(d("2025-12-15"), d("2025-12-31")), (d("2026-03-01"), d("2026-03-14"))]);
        let (months, edges) = whole_months(d("2026-01-01"), d("2026-12-31"));
        assert_eq!(months.len(), 12);
        assert!(edges.is_empty());
        assert_eq!(whole_months(d("2026-02-03"), d("2026-02-05")), (vec![], vec![(d("2026-02-03"), d("2026-02-05"))]));
    }

    #[test]
    fn whole_months_split_into_whole_years_and_runs() {
        let (months, _) = whole_months(d("2025-07-01"), d("2027-03-31"));
        let (years, others) = whole_years(&months);
        assert_eq!(years, [d("2026-01-01")]);
        assert_eq!(others.len(), 6 + 3);
        assert_eq!(runs(others, 1), [(d("2025-07-01"), d("2025-12-01")), (d("2027-01-01"), d("2027-03-01"))]);
        assert_eq!(
            runs(vec![d("2024-01-01"), d("2026-01-01"), d("2025-01-01")], 12),
            [(d("2024-01-01"), d("2026-01-01"))]
        );
        let (months, _) = whole_months(d("2026-01-02"), d("2026-12-31"));
        assert_eq!(whole_years(&months), (vec![], months.clone()), "a year less a day is not whole");
        assert!(runs(Vec::new(), 1).is_empty());
    }

    #[test]
    fn reporting_deadline_is_the_end_of_the_next_day_in_vietnam() {
        // 2026-03-02 is due by 2026-03-03 24:00 at UTC+7, that is 2026-03-03 17:00 UTC.
        assert_eq!(deadline(d("2026-03-02")).to_rfc3339(), "2026-03-03T17:00:00+00:00");
    }
}
