//! Publishing a decision: every item applied in one transaction, or none.
//!
//! A decision in force from day D closes (`valid_to = D`) the open version of each procedure it amends,
//! replaces or abolishes, and opens the versions it states from D. Decisions apply in effective order per
//! procedure: one that would change a procedure on or before the start of its latest version is refused rather
//! than rewriting history. Items are checked together and written with one statement per kind of change, so a
//! 2,000-item decision costs a handful of round trips.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use onestop_domain::Violations;
use onestop_proto::catalogue::v1::watch_changes_response::Change;
use onestop_proto::catalogue::v1::*;
use onestop_proto::convert::{is_set, timestamp_to_wire};
use onestop_server::{ServiceError, ServiceResult};
use prost::Message;
use sqlx::PgPool;

use crate::changes;
use crate::locate::Locator;
use crate::tenancy::Writer;

/// What publishing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// The same decision had already been published; nothing changed.
    AlreadyPublished,
}

/// Most items one decision may hold.
pub const MAX_ITEMS: usize = 20_000;
/// Most per-channel processing times one procedure may have: one for each filing channel.
const MAX_CHANNEL_TIMES: usize = 3;

/// A decision checked field by field.
struct ValidDecision<'a> {
    decision: &'a PublicationDecision,
    signed_on: NaiveDate,
    effective_from: NaiveDate,
    items: Vec<Item<'a>>,
}

struct Item<'a> {
    index: usize,
    action: DecisionAction,
    procedure: &'a Procedure,
    replaces: Option<&'a str>,
}

impl Item<'_> {
    /// The code whose open version this item closes, and the field that names it.
    fn closes(&self) -> Option<(&str, &'static str)> {
        match self.action {
            DecisionAction::Amended | DecisionAction::Abolished => Some((&self.procedure.code, "procedure.code")),
            DecisionAction::Replaced => self.replaces.map(|code| (code, "replaces_code")),
            _ => None,
        }
    }

    /// Whether this item opens a version of its procedure.
    fn opens(&self) -> bool {
        matches!(self.action, DecisionAction::New | DecisionAction::Amended | DecisionAction::Replaced)
    }
}

/// The decision as onestop keeps, streams and compares it: a procedure published with only a legacy level
/// (Decree 43/2011, levels 1–4) gets its current level by the rule of Decree 42/2022 (4 → FULL, 3 → PARTIAL,
/// 1–2 → NONE) and keeps its legacy level beside it. A procedure that gives both keeps both as given.
pub fn with_current_levels(decision: &PublicationDecision) -> PublicationDecision {
    let mut decision = decision.clone();
    for procedure in decision.items.iter_mut().filter_map(|item| item.procedure.as_mut()) {
        if procedure.online_level == OnlineLevel::Unspecified as i32 {
            if let Some(level) = current_level_of_legacy(procedure.legacy_online_level) {
                procedure.online_level = level as i32;
            }
        }
    }
    decision
}

/// Decree 42/2022's reading of a Decree 43/2011 level.
pub fn current_level_of_legacy(legacy: u32) -> Option<OnlineLevel> {
    match legacy {
        4 => Some(OnlineLevel::Full),
        3 => Some(OnlineLevel::Partial),
        1 | 2 => Some(OnlineLevel::None),
        _ => None,
    }
}

fn validate<'a>(decision: Option<&'a PublicationDecision>, at: &Locator) -> ServiceResult<ValidDecision<'a>> {
    let Some(decision) = decision else {
        return Err(ServiceError::invalid("decision", "is required"));
    };
    let mut v = Violations::new();
    v.text("decision.number", &decision.number, 100);
    v.text("decision.issuer", &decision.issuer, 300);
    let signed_on = v.date("decision.signed_on", &decision.signed_on);
    let effective_from = v.date("decision.effective_from", &decision.effective_from);
    if decision.items.is_empty() {
        v.add("decision.items", "a decision has at least one item");
    }
    if decision.items.len() > MAX_ITEMS {
        v.add("decision.items", format!("at most {MAX_ITEMS} items per decision"));
    }

    let mut codes = HashSet::new();
    let mut items = Vec::with_capacity(decision.items.len());
    for (i, item) in decision.items.iter().enumerate() {
        let field = |name: &str| at.field(i, name);
        let Some(procedure) = &item.procedure else {
            v.add(at.field(i, "procedure"), "is required");
            continue;
        };
        if v.procedure_code(&field("procedure.code"), &procedure.code) && !codes.insert(procedure.code.as_str()) {
            v.add(field("procedure.code"), format!("{} appears in more than one item", procedure.code));
        }
        let action = DecisionAction::try_from(item.action).unwrap_or(DecisionAction::Unspecified);
        if matches!(action, DecisionAction::New | DecisionAction::Amended | DecisionAction::Replaced) {
            validate_procedure(&mut v, &|name| field(name), procedure);
        }
        let replaces = match action {
            DecisionAction::Unspecified => {
                v.add(field("action"), "must be NEW, AMENDED, REPLACED or ABOLISHED");
                None
            }
            DecisionAction::Replaced => {
                if !v.procedure_code(&field("replaces_code"), &item.replaces_code) {
                    None
                } else if item.replaces_code == procedure.code {
                    v.add(field("replaces_code"), "names the procedure itself; use AMENDED to change a procedure");
                    None
                } else if !codes.insert(item.replaces_code.as_str()) {
                    v.add(field("replaces_code"), format!("{} appears in more than one item", item.replaces_code));
                    None
                } else {
                    Some(item.replaces_code.as_str())
                }
            }
            _ => {
                if !item.replaces_code.is_empty() {
                    v.add(field("replaces_code"), "is only for REPLACED items");
                }
                None
            }
        };
        items.push(Item { index: i, action, procedure, replaces });
    }
    v.into_result()?;
    Ok(ValidDecision {
        decision,
        signed_on: signed_on.expect("validated"),
        effective_from: effective_from.expect("validated"),
        items,
    })
}

fn validate_procedure(v: &mut Violations, field: &dyn Fn(&str) -> String, p: &Procedure) {
    v.text(&field("procedure.name"), &p.name, 1000);
    v.code(&field("procedure.sector_code"), &p.sector_code);
    v.text(&field("procedure.implementing_agency"), &p.implementing_agency, 300);
    if !p.implementing_agency_code.is_empty() {
        v.code(&field("procedure.implementing_agency_code"), &p.implementing_agency_code);
    }
    if p.implementing_levels.is_empty() {
        v.add(field("procedure.implementing_levels"), "at least one level is required");
    }
    let mut levels = HashSet::new();
    for level in &p.implementing_levels {
        if !is_set(*level, ImplementingLevel::Unspecified) || !levels.insert(*level) {
            v.add(field("procedure.implementing_levels"), "each must be MINISTRY, PROVINCE, DISTRICT or COMMUNE, once");
            break;
        }
    }
    check_time(
        v,
        field("procedure.processing_time"),
        &|name| field(&format!("procedure.processing_time.{name}")),
        p.processing_time.as_ref(),
    );
    let mut channels = HashSet::new();
    let times = &p.channel_processing_times;
    if v.at_most(&field("procedure.channel_processing_times"), times.len(), MAX_CHANNEL_TIMES) {
        for (j, time) in times.iter().enumerate() {
            let name = |n: &str| field(&format!("procedure.channel_processing_times[{j}].{n}"));
            if !is_set(time.channel, FilingChannel::Unspecified) || !channels.insert(time.channel) {
                v.add(name("channel"), "must be DIRECT, ONLINE or POSTAL, each at most once");
            }
            check_time(
                v,
                name("processing_time"),
                &|n| name(&format!("processing_time.{n}")),
                time.processing_time.as_ref(),
            );
        }
    }
    if !is_set(p.online_level, OnlineLevel::Unspecified) {
        v.add(field("procedure.online_level"), "must be NONE, PARTIAL or FULL (or give legacy_online_level 1 to 4)");
    }
    if p.legacy_online_level > 4 {
        v.add(field("procedure.legacy_online_level"), "must be 1 to 4, or 0 when the source gives none");
    }
}

fn check_time(v: &mut Violations, whole: String, field: &dyn Fn(&str) -> String, time: Option<&ProcessingTime>) {
    match time {
        None => v.add(whole, "is required"),
        Some(time) => {
            if !is_set(time.unit, TimeUnit::Unspecified) {
                v.add(field("unit"), "must be WORKING_DAYS, DAYS or HOURS");
            }
            if time.value == 0 || time.value > 10_000 {
                v.add(field("value"), "must be between 1 and 10000");
            }
        }
    }
}

/// Publishes `decision`: all its items, or nothing.
pub async fn publish(
    pool: &PgPool,
    writer: &Writer,
    decision: Option<&PublicationDecision>,
    at: &Locator<'_>,
) -> ServiceResult<Outcome> {
    let decision = decision.map(with_current_levels);
    let valid = validate(decision.as_ref(), at)?;
    let issuer = valid.decision.issuing_unit_code.as_str();
    writer.may_change("decision.issuing_unit_code", "the decision", issuer)?;
    let content = valid.decision.encode_to_vec();
    let mut tx = changes::begin_write(pool).await?;
    if !issuer.is_empty() {
        let level: Option<i16> =
            sqlx::query_scalar("SELECT level FROM unit WHERE code = $1").bind(issuer).fetch_optional(&mut *tx).await?;
        if level != Some(1) {
            return Err(ServiceError::precondition(
                "decision.issuing_unit_code",
                format!("{issuer} is not a province of the catalogue"),
            ));
        }
    }

    let stored: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT content FROM decision WHERE issuing_unit_code = $1 AND number = $2")
            .bind(issuer)
            .bind(&valid.decision.number)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(stored) = stored {
        return if stored == content {
            Ok(Outcome::AlreadyPublished)
        } else {
            Err(ServiceError::AlreadyExists(format!(
                "decision.number: decision {} was already published with other content",
                valid.decision.number
            )))
        };
    }

    // Sectors must exist.
    let opening: Vec<&Item> = valid.items.iter().filter(|i| i.opens()).collect();
    let sector_codes: Vec<&str> = opening.iter().map(|i| i.procedure.sector_code.as_str()).collect();
    let sectors: HashSet<String> = sqlx::query_scalar("SELECT code FROM sector WHERE code = ANY($1)")
        .bind(&sector_codes)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    let agency_codes: Vec<&str> =
        opening.iter().map(|i| i.procedure.implementing_agency_code.as_str()).filter(|code| !code.is_empty()).collect();
    let agencies: HashSet<String> = sqlx::query_scalar("SELECT code FROM agency WHERE code = ANY($1)")
        .bind(&agency_codes)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    let mut v = Violations::new();
    for item in &opening {
        let agency = &item.procedure.implementing_agency_code;
        if !agency.is_empty() && !agencies.contains(agency) {
            v.add(at.field(item.index, "procedure.implementing_agency_code"), format!("agency {agency} not found"));
        }
        if !sectors.contains(&item.procedure.sector_code) {
            v.add(
                at.field(item.index, "procedure.sector_code"),
                format!("sector {} not found", item.procedure.sector_code),
            );
        }
    }
    v.into_result()?;

    // The versions in force on or after the effective day of every procedure the decision touches.
    let day = valid.effective_from;
    let touched: Vec<&str> =
        valid.items.iter().flat_map(|i| std::iter::once(i.procedure.code.as_str()).chain(i.replaces)).collect();
    let versions: Vec<(String, NaiveDate, Option<NaiveDate>, String)> = sqlx::query_as(
        "SELECT code, valid_from, valid_to, decision_issuing_unit_code FROM procedure_version
         WHERE code = ANY($1) AND (valid_to IS NULL OR valid_to > $2) FOR UPDATE",
    )
    .bind(&touched)
    .bind(day)
    .fetch_all(&mut *tx)
    .await?;
    let mut by_code: HashMap<&str, Vec<(NaiveDate, Option<NaiveDate>)>> = HashMap::new();
    let mut owner: HashMap<&str, &str> = HashMap::new();
    for (code, from, to, issued_by) in &versions {
        by_code.entry(code.as_str()).or_default().push((*from, *to));
        owner.insert(code.as_str(), issued_by.as_str());
    }
    // A decision changes only the procedures its own issuer published: the nation's, or a province's own.
    for item in &valid.items {
        if let Some((code, field)) = item.closes() {
            if let Some(owned_by) = owner.get(code).filter(|o| **o != issuer) {
                let whose = if owned_by.is_empty() { "the nation".to_owned() } else { format!("province {owned_by}") };
                return Err(ServiceError::PermissionDenied(format!(
                    "{}: procedure {code} was published by {whose}; this decision's issuer cannot change it",
                    at.field(item.index, field)
                )));
            }
        }
    }
    let mut conflicts = Violations::new();
    for item in &valid.items {
        if let Some((code, field)) = item.closes() {
            let open = by_code.get(code).and_then(|vs| vs.iter().find(|(_, to)| to.is_none()));
            match open {
                None => conflicts.add(at.field(item.index, field), format!("procedure {code} is not in the catalogue")),
                Some((from, _)) if *from >= day => conflicts.add(
                    at.field(item.index, field),
                    format!(
                        "procedure {code} has a version from {from}; a decision in force from {day} cannot change it"
                    ),
                ),
                Some(_) => {}
            }
        }
        let opens_new_code = matches!(item.action, DecisionAction::New | DecisionAction::Replaced);
        if opens_new_code && by_code.contains_key(item.procedure.code.as_str()) {
            conflicts.add(
                at.field(item.index, "procedure.code"),
                format!("procedure {} is already in the catalogue on {day} or later", item.procedure.code),
            );
        }
    }
    if !conflicts.is_empty() {
        return Err(ServiceError::FailedPrecondition(conflicts.into_result().unwrap_err()));
    }

    sqlx::query(
        "INSERT INTO decision (issuing_unit_code, number, signed_on, issuer, effective_from, content)
         VALUES ($6, $1, $2, $3, $4, $5)",
    )
    .bind(&valid.decision.number)
    .bind(valid.signed_on)
    .bind(&valid.decision.issuer)
    .bind(day)
    .bind(&content)
    .bind(issuer)
    .execute(&mut *tx)
    .await?;
    let closing: Vec<&str> = valid.items.iter().filter_map(|i| i.closes().map(|(code, _)| code)).collect();
    sqlx::query("UPDATE procedure_version SET valid_to = $2 WHERE code = ANY($1) AND valid_to IS NULL")
        .bind(&closing)
        .bind(day)
        .execute(&mut *tx)
        .await?;
    insert_versions(&mut tx, &valid, &opening).await?;
    changes::append(&mut tx, Change::Decision(valid.decision.clone())).await?;
    tx.commit().await?;
    Ok(Outcome::Applied)
}

async fn insert_versions(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    decision: &ValidDecision<'_>,
    items: &[&Item<'_>],
) -> ServiceResult<()> {
    let column = |f: &dyn Fn(&Procedure) -> String| items.iter().map(|i| f(i.procedure)).collect::<Vec<String>>();
    let time = |p: &Procedure| p.processing_time.unwrap_or_default();
    // Array columns travel as array literals ("{2,4}"), since UNNEST cannot take an array of arrays.
    let levels = column(&|p| {
        format!("{{{}}}", p.implementing_levels.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(","))
    });
    sqlx::query(
        "INSERT INTO procedure_version (code, valid_from, decision_number, action, replaces_code, name, sector_code,
             implementing_levels, implementing_agency, processing_time_value, processing_time_unit, has_fees,
             online_level, legacy_online_level, postal_filing, postal_return, implementing_agency_code,
             decision_issuing_unit_code)
         SELECT code, $2, $3, action, NULLIF(replaces, ''), name, sector, levels::int2[], agency, time_value,
                time_unit, fees, online, legacy, postal_filing, postal_return, agency_code, $18
         FROM UNNEST($1::text[], $4::int2[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int4[],
                     $11::int2[], $12::bool[], $13::int2[], $14::int2[], $15::bool[], $16::bool[], $17::text[])
              AS t(code, action, replaces, name, sector, levels, agency, time_value, time_unit, fees, online, legacy,
                   postal_filing, postal_return, agency_code)",
    )
    .bind(column(&|p| p.code.clone()))
    .bind(decision.effective_from)
    .bind(&decision.decision.number)
    .bind(items.iter().map(|i| i.action as i16).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.replaces.unwrap_or_default()).collect::<Vec<_>>())
    .bind(column(&|p| p.name.clone()))
    .bind(column(&|p| p.sector_code.clone()))
    .bind(&levels)
    .bind(column(&|p| p.implementing_agency.clone()))
    .bind(items.iter().map(|i| time(i.procedure).value as i32).collect::<Vec<_>>())
    .bind(items.iter().map(|i| time(i.procedure).unit as i16).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.procedure.has_fees).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.procedure.online_level as i16).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.procedure.legacy_online_level as i16).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.procedure.postal_filing).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.procedure.postal_return).collect::<Vec<_>>())
    .bind(column(&|p| p.implementing_agency_code.clone()))
    .bind(&decision.decision.issuing_unit_code)
    .execute(&mut **tx)
    .await?;

    let channel_times: Vec<(&str, &ChannelProcessingTime)> = items
        .iter()
        .flat_map(|i| i.procedure.channel_processing_times.iter().map(|t| (i.procedure.code.as_str(), t)))
        .collect();
    if !channel_times.is_empty() {
        sqlx::query(
            "INSERT INTO procedure_channel_time (code, valid_from, channel, value, unit)
             SELECT code, $2, channel, value, unit FROM UNNEST($1::text[], $3::int2[], $4::int4[], $5::int2[])
                  AS t(code, channel, value, unit)",
        )
        .bind(channel_times.iter().map(|(code, _)| *code).collect::<Vec<_>>())
        .bind(decision.effective_from)
        .bind(channel_times.iter().map(|(_, t)| t.channel as i16).collect::<Vec<_>>())
        .bind(channel_times.iter().map(|(_, t)| t.processing_time.unwrap_or_default().value as i32).collect::<Vec<_>>())
        .bind(channel_times.iter().map(|(_, t)| t.processing_time.unwrap_or_default().unit as i16).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A published decision as it was published, and when.
pub async fn get(pool: &PgPool, issuing_unit_code: &str, number: &str) -> ServiceResult<GetDecisionResponse> {
    let mut v = Violations::new();
    v.text("number", number, 100);
    if !issuing_unit_code.is_empty() {
        v.code("issuing_unit_code", issuing_unit_code);
    }
    v.into_result()?;
    let row: Option<(Vec<u8>, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT content, published_at FROM decision WHERE issuing_unit_code = $1 AND number = $2")
            .bind(issuing_unit_code)
            .bind(number)
            .fetch_optional(pool)
            .await?;
    let Some((content, published_at)) = row else {
        let whose = if issuing_unit_code.is_empty() { "national".to_owned() } else { format!("{issuing_unit_code}'s") };
        return Err(ServiceError::not_found("number", format!("{whose} decision {number}")));
    };
    let decision = PublicationDecision::decode(content.as_slice())
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("stored decision {number} is not decodable: {e}")))?;
    Ok(GetDecisionResponse { decision: Some(decision), published_at: Some(timestamp_to_wire(published_at)) })
}
