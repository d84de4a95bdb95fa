//! Applies the catalogue's changes to aggregation's copy of it.
//!
//! Decisions become procedure versions the way the catalogue applies them: NEW opens a version, AMENDED closes
//! the open one and opens another, REPLACED closes the replaced procedure and opens the new one, ABOLISHED
//! closes. When a decision touches procedures that already have cells on or after its effective day, the
//! full-online roll-up of those days is recomputed from `cell`, so the split follows the catalogue even when
//! the catalogue speaks after the cells arrived.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::NaiveDate;
use onestop_proto::catalogue::v1::watch_changes_response::Change;
use onestop_proto::catalogue::v1::{
    AdministrativeUnit, CheckReferencesRequest, DecisionAction, Procedure, PublicationDecision, SetCalendarYearRequest,
    SetCenterProceduresRequest, WatchChangesRequest, WatchChangesResponse,
};
use onestop_server::client::CatalogueClient;
use onestop_server::metrics::StreamLag;
use onestop_server::serve::StopSignal;
use sqlx::PgPool;

use super::{advance, apply_or_set_aside, cursor, keep_following, lock_rollups, next_batch, Feed, CATALOGUE};
use crate::measure_sql;

const BATCH: usize = 500;
const LINGER: Duration = Duration::from_millis(10);

/// How often the catalogue is asked for its newest change, so the copy's lag shows even while its stream is down.
const HEAD_POLL_INTERVAL: Duration = Duration::from_secs(10);

/// Follows the catalogue's changes until `stop`, reconnecting after any failure, telling `lag` how far behind
/// it is; `lookups` (a client with a request timeout) asks the catalogue for its newest change now and then.
pub async fn follow(
    pool: PgPool,
    catalogue: CatalogueClient,
    mut lookups: CatalogueClient,
    lag: StreamLag,
    stop: StopSignal,
) {
    let watch_head = {
        let (lag, mut stop) = (lag.clone(), stop.clone());
        async move {
            loop {
                if let Ok(answer) = lookups.check_references(CheckReferencesRequest::default()).await {
                    lag.source_head(answer.into_inner().cursor);
                }
                tokio::select! {
                    _ = tokio::time::sleep(HEAD_POLL_INTERVAL) => {}
                    _ = stop.stopped() => return,
                }
            }
        }
    };
    tokio::join!(watch_head, keep_following("catalogue", stop, || follow_once(&pool, catalogue.clone(), &lag)));
}

/// The catalogue cursor the copy is current to; 0 before any change.
pub async fn applied_cursor(db: impl sqlx::PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    Ok(cursor(db, CATALOGUE).await?.parse().unwrap_or(0))
}

async fn follow_once(pool: &PgPool, mut catalogue: CatalogueClient, lag: &StreamLag) -> anyhow::Result<()> {
    let after_cursor = applied_cursor(pool).await?;
    lag.applied_cursor(after_cursor);
    let mut stream = catalogue.watch_changes(WatchChangesRequest { after_cursor }).await?.into_inner();
    let _connected = lag.connection();
    while let Some(batch) = next_batch(&mut stream, BATCH, LINGER).await {
        let batch = batch?;
        lag.received(batch.len(), super::oldest(batch.iter().map(|c| c.committed_at)));
        apply_or_set_aside::<CatalogueFeed>(pool, &batch).await?;
        lag.applied(batch.last().map(|c| c.cursor));
    }
    Ok(())
}

/// The catalogue's change stream, as [`super::Feed`] applies it.
pub struct CatalogueFeed;

impl Feed for CatalogueFeed {
    type Change = WatchChangesResponse;
    const SOURCE: &'static str = CATALOGUE;

    fn cursor(change: &WatchChangesResponse) -> String {
        change.cursor.to_string()
    }

    fn summary(change: &WatchChangesResponse) -> String {
        match &change.change {
            Some(Change::Unit(u)) => format!("unit {}", u.code),
            Some(Change::Center(c)) => format!("center {}", c.code),
            Some(Change::Sector(s)) => format!("sector {}", s.code),
            Some(Change::Agency(a)) => format!("agency {}", a.code),
            Some(Change::Decision(d)) => format!("decision {}", d.number),
            Some(Change::CenterProcedures(l)) => {
                format!("procedures of center {} from {}", l.center_code, l.effective_from)
            }
            Some(Change::CalendarYear(y)) => format!("calendar of {}", y.year),
            None => "empty change".into(),
        }
    }

    fn apply<'a>(
        pool: &'a PgPool,
        batch: &'a [WatchChangesResponse],
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>> {
        Box::pin(apply(pool, batch))
    }
}

/// Applies a batch of changes in order and records its last cursor, in one transaction. Changes at or before
/// the stored cursor are skipped, so two replicas following the same stream never apply a change twice.
pub async fn apply(pool: &PgPool, batch: &[WatchChangesResponse]) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    lock_rollups(&mut tx).await?;
    let applied = applied_cursor(&mut *tx).await?;
    let fresh: Vec<&WatchChangesResponse> = batch.iter().filter(|c| c.cursor > applied).collect();
    let Some(last) = fresh.last().map(|c| c.cursor) else { return Ok(()) };
    for change in fresh {
        match &change.change {
            Some(Change::Unit(unit)) => store_unit(&mut tx, unit).await?,
            Some(Change::Center(center)) => {
                sqlx::query(
                    "INSERT INTO center (code, name, unit_code) VALUES ($1, $2, $3)
                     ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, unit_code = EXCLUDED.unit_code",
                )
                .bind(&center.code)
                .bind(&center.name)
                .bind(&center.unit_code)
                .execute(&mut *tx)
                .await?;
            }
            Some(Change::Sector(sector)) => {
                sqlx::query(
                    "INSERT INTO sector (code, name) VALUES ($1, $2)
                     ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name",
                )
                .bind(&sector.code)
                .bind(&sector.name)
                .execute(&mut *tx)
                .await?;
            }
            Some(Change::Decision(decision)) => apply_decision(&mut tx, decision).await?,
            Some(Change::CalendarYear(year)) => store_calendar_year(&mut tx, year).await?,
            Some(Change::CenterProcedures(list)) => store_center_list(&mut tx, list).await?,
            Some(Change::Agency(agency)) => {
                sqlx::query(
                    "INSERT INTO agency (code, name, unit_code) VALUES ($1, $2, $3)
                     ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, unit_code = EXCLUDED.unit_code",
                )
                .bind(&agency.code)
                .bind(&agency.name)
                .bind(&agency.unit_code)
                .execute(&mut *tx)
                .await?;
            }
            None => anyhow::bail!("change {} carries nothing aggregation can read", change.cursor),
        }
    }
    advance(&mut tx, CATALOGUE, &last.to_string()).await?;
    tx.commit().await?;
    Ok(())
}

fn optional_day(s: &str) -> anyhow::Result<Option<NaiveDate>> {
    Ok(if s.is_empty() { None } else { Some(s.parse()?) })
}

async fn store_unit(tx: &mut sqlx::PgConnection, unit: &AdministrativeUnit) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO unit (code, name, level, parent_code, valid_from, valid_to, predecessor_codes)
         VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6, $7)
         ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, level = EXCLUDED.level,
             parent_code = EXCLUDED.parent_code, valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to,
             predecessor_codes = EXCLUDED.predecessor_codes",
    )
    .bind(&unit.code)
    .bind(&unit.name)
    .bind(unit.level as i16)
    .bind(&unit.parent_code)
    .bind(unit.valid_from.parse::<NaiveDate>()?)
    .bind(optional_day(&unit.valid_to)?)
    .bind(&unit.predecessor_codes)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn store_calendar_year(tx: &mut sqlx::PgConnection, year: &SetCalendarYearRequest) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM calendar_exception WHERE extract(year FROM day) = $1")
        .bind(year.year as f64)
        .execute(&mut *tx)
        .await?;
    let days: Vec<NaiveDate> = year.exceptions.iter().map(|e| e.day.parse()).collect::<Result<_, _>>()?;
    let kinds: Vec<i16> = year.exceptions.iter().map(|e| e.kind as i16).collect();
    sqlx::query("INSERT INTO calendar_exception (day, kind) SELECT * FROM UNNEST($1::date[], $2::smallint[])")
        .bind(&days)
        .bind(&kinds)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO calendar_year (year) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(year.year)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn close_version(tx: &mut sqlx::PgConnection, code: &str, day: NaiveDate) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE procedure_version SET valid_to = $2 WHERE code = $1 AND valid_to IS NULL AND valid_from < $2")
        .bind(code)
        .bind(day)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Opens a version of `procedure` from `day`, in the catalogue of `issuer` (a province's code, or '' for the
/// nation's).
async fn open_version(
    tx: &mut sqlx::PgConnection,
    procedure: &Procedure,
    day: NaiveDate,
    issuer: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO procedure_version (code, valid_from, valid_to, name, sector_code, implementing_levels,
             online_level, implementing_agency_code, issuing_unit_code)
         VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (code, valid_from) DO UPDATE SET valid_to = NULL, name = EXCLUDED.name,
             sector_code = EXCLUDED.sector_code, implementing_levels = EXCLUDED.implementing_levels,
             online_level = EXCLUDED.online_level, implementing_agency_code = EXCLUDED.implementing_agency_code,
             issuing_unit_code = EXCLUDED.issuing_unit_code",
    )
    .bind(&procedure.code)
    .bind(day)
    .bind(&procedure.name)
    .bind(&procedure.sector_code)
    .bind(procedure.implementing_levels.iter().map(|l| *l as i16).collect::<Vec<_>>())
    .bind(procedure.online_level as i16)
    .bind(&procedure.implementing_agency_code)
    .bind(issuer)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A center's list of procedures from its first day on, replacing the list in force before (as the catalogue
/// does: a list from the same day replaces that one).
async fn store_center_list(tx: &mut sqlx::PgConnection, list: &SetCenterProceduresRequest) -> anyhow::Result<()> {
    let day: NaiveDate = list.effective_from.parse()?;
    sqlx::query("DELETE FROM center_procedure_list WHERE center_code = $1 AND valid_from = $2")
        .bind(&list.center_code)
        .bind(day)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE center_procedure_list SET valid_to = $2
         WHERE center_code = $1 AND valid_from < $2 AND (valid_to IS NULL OR valid_to > $2)",
    )
    .bind(&list.center_code)
    .bind(day)
    .execute(&mut *tx)
    .await?;
    let next: Option<NaiveDate> = sqlx::query_scalar(
        "SELECT min(valid_from) FROM center_procedure_list WHERE center_code = $1 AND valid_from > $2",
    )
    .bind(&list.center_code)
    .bind(day)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO center_procedure_list (center_code, valid_from, valid_to, procedure_codes) VALUES ($1, $2, $3, $4)",
    )
    .bind(&list.center_code)
    .bind(day)
    .bind(next)
    .bind(&list.procedure_codes)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn apply_decision(tx: &mut sqlx::PgConnection, decision: &PublicationDecision) -> anyhow::Result<()> {
    let day: NaiveDate = decision.effective_from.parse()?;
    // The latest sector of every procedure the decision names, before it: the roll-ups by sector count each
    // procedure under its latest, so those it changes move.
    let named: Vec<&str> = decision
        .items
        .iter()
        .filter_map(|item| item.procedure.as_ref().map(|p| [p.code.as_str(), item.replaces_code.as_str()]))
        .flatten()
        .filter(|code| !code.is_empty())
        .collect();
    let sectors_before = crate::sectors::latest_sectors(&mut *tx, &named).await?;
    let mut touched: Vec<String> = Vec::new();
    for item in &decision.items {
        let Some(procedure) = &item.procedure else { continue };
        match DecisionAction::try_from(item.action) {
            Ok(DecisionAction::New) => open_version(tx, procedure, day, &decision.issuing_unit_code).await?,
            Ok(DecisionAction::Amended) => {
                close_version(tx, &procedure.code, day).await?;
                open_version(tx, procedure, day, &decision.issuing_unit_code).await?;
            }
            Ok(DecisionAction::Replaced) => {
                close_version(tx, &item.replaces_code, day).await?;
                open_version(tx, procedure, day, &decision.issuing_unit_code).await?;
                touched.push(item.replaces_code.clone());
            }
            Ok(DecisionAction::Abolished) => close_version(tx, &procedure.code, day).await?,
            _ => continue,
        }
        touched.push(procedure.code.clone());
    }
    recompute_full_online(tx, &touched, day).await?;
    let sectors_after = crate::sectors::latest_sectors(&mut *tx, &named).await?;
    let mut moves: Vec<(String, String, String)> = sectors_after
        .into_iter()
        .filter_map(|(code, after)| {
            let before = sectors_before.get(&code).cloned().unwrap_or_default();
            (before != after).then_some((code, before, after))
        })
        .collect();
    moves.sort();
    crate::sectors::move_procedures(tx, &moves).await?;
    Ok(())
}

/// Recomputes the full-online day totals of every (center, day) from `from_day` on that has cells of
/// `procedures`, and the totals of their months and years. Cheap in the usual case: a decision takes effect today or later, before any of its cells.
pub async fn recompute_full_online(
    tx: &mut sqlx::PgConnection,
    procedures: &[String],
    from_day: NaiveDate,
) -> Result<(), sqlx::Error> {
    let keys: Vec<(String, NaiveDate)> = sqlx::query_as(
        "SELECT DISTINCT center_code, day FROM cell WHERE procedure_code = ANY($1) AND day >= $2
         ORDER BY center_code, day",
    )
    .bind(procedures)
    .bind(from_day)
    .fetch_all(&mut *tx)
    .await?;
    if keys.is_empty() {
        return Ok(());
    }
    let centers: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    let days: Vec<NaiveDate> = keys.iter().map(|k| k.1).collect();
    sqlx::query(
        "DELETE FROM center_day_full_online f USING UNNEST($1::text[], $2::date[]) AS k(center_code, day)
         WHERE f.center_code = k.center_code AND f.day = k.day",
    )
    .bind(&centers)
    .bind(&days)
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "INSERT INTO center_day_full_online (center_code, day, {columns})
         SELECT c.center_code, c.day, {sums}
         FROM UNNEST($1::text[], $2::date[]) AS k(center_code, day)
         JOIN cell c ON c.center_code = k.center_code AND c.day = k.day
         JOIN procedure_version v ON v.code = c.procedure_code AND v.valid_from <= c.day
                                 AND (v.valid_to IS NULL OR c.day < v.valid_to)
         WHERE v.online_level = 3
         GROUP BY c.center_code, c.day",
        columns = *measure_sql::COLUMNS,
        sums = *measure_sql::CELL_SUMS,
    ))
    .bind(&centers)
    .bind(&days)
    .execute(&mut *tx)
    .await?;
    // The months of those days, summed again from their days, then their years from their months.
    for (period, table, from_table) in [
        ("month", "center_month_full_online", "center_day_full_online"),
        ("year", "center_year_full_online", "center_month_full_online"),
    ] {
        let periods = format!(
            "SELECT DISTINCT center_code, date_trunc('{period}', day)::date AS first_day
             FROM UNNEST($1::text[], $2::date[]) AS k(center_code, day)"
        );
        sqlx::query(&format!(
            "DELETE FROM {table} f USING ({periods}) AS k
             WHERE f.center_code = k.center_code AND f.day = k.first_day"
        ))
        .bind(&centers)
        .bind(&days)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO {table} (center_code, day, {columns})
             SELECT c.center_code, k.first_day, {sums}
             FROM ({periods}) AS k
             JOIN {from_table} c ON c.center_code = k.center_code AND c.day >= k.first_day
                                AND c.day < k.first_day + interval '1 {period}'
             GROUP BY c.center_code, k.first_day",
            columns = *measure_sql::COLUMNS,
            sums = *measure_sql::CELL_SUMS,
        ))
        .bind(&centers)
        .bind(&days)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
