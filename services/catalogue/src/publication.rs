//! Publishing a decision: every item applied in one transaction, or none.
//!
//! A decision in force from day D closes the open version of each procedure it amends, replaces or abolishes
//! on D, and opens the versions it states from D. Decisions are applied in effective order per procedure: one
//! that would reach back before a procedure's latest version is refused, since it would rewrite history.

use std::collections::HashSet;

use chrono::NaiveDate;
use onestop_domain::Violations;
use onestop_proto::catalogue::v1::{
    DecisionAction, ImplementingLevel, OnlineLevel, Procedure, PublicationDecision, TimeUnit,
};
use onestop_server::{ServiceError, ServiceResult};
use prost::Message;
use sqlx::{PgPool, Postgres, Transaction};

/// What publishing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// The same decision had already been published; nothing changed.
    AlreadyPublished,
}

/// A decision checked field by field.
struct ValidDecision<'a> {
    decision: &'a PublicationDecision,
    signed_on: NaiveDate,
    effective_from: NaiveDate,
    items: Vec<Item<'a>>,
}

enum Item<'a> {
    New(&'a Procedure),
    Amended(&'a Procedure),
    Replaced {
        procedure: &'a Procedure,
        replaces: &'a str,
    },
    Abolished(&'a str),
}

fn validate(decision: Option<&PublicationDecision>) -> ServiceResult<ValidDecision<'_>> {
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

    let mut codes = HashSet::new();
    let mut items = Vec::with_capacity(decision.items.len());
    for (i, item) in decision.items.iter().enumerate() {
        let field = |name: &str| format!("decision.items[{i}].{name}");
        let Some(procedure) = &item.procedure else {
            v.add(field("procedure"), "is required");
            continue;
        };
        if v.code(&field("procedure.code"), &procedure.code)
            && !codes.insert(procedure.code.as_str())
        {
            v.add(
                field("procedure.code"),
                format!("{} appears in more than one item", procedure.code),
            );
        }
        let action = DecisionAction::try_from(item.action).unwrap_or(DecisionAction::Unspecified);
        if matches!(
            action,
            DecisionAction::New | DecisionAction::Amended | DecisionAction::Replaced
        ) {
            validate_procedure(&mut v, &field("procedure"), procedure);
        }
        match action {
            DecisionAction::Unspecified => v.add(
                field("action"),
                "must be NEW, AMENDED, REPLACED or ABOLISHED",
            ),
            DecisionAction::New => items.push(Item::New(procedure)),
            DecisionAction::Amended => items.push(Item::Amended(procedure)),
            DecisionAction::Abolished => items.push(Item::Abolished(&procedure.code)),
            DecisionAction::Replaced => {
                if !v.code(&field("replaces_code"), &item.replaces_code) {
                    continue;
                }
                if item.replaces_code == procedure.code {
                    v.add(
                        field("replaces_code"),
                        "names the procedure itself; use AMENDED to change a procedure",
                    );
                } else if !codes.insert(item.replaces_code.as_str()) {
                    v.add(
                        field("replaces_code"),
                        format!("{} appears in more than one item", item.replaces_code),
                    );
                }
                items.push(Item::Replaced {
                    procedure,
                    replaces: &item.replaces_code,
                });
            }
        }
        if action != DecisionAction::Replaced && !item.replaces_code.is_empty() {
            v.add(field("replaces_code"), "is only for REPLACED items");
        }
    }
    v.into_result()?;
    Ok(ValidDecision {
        decision,
        signed_on: signed_on.expect("validated"),
        effective_from: effective_from.expect("validated"),
        items,
    })
}

fn validate_procedure(v: &mut Violations, field: &str, p: &Procedure) {
    v.text(&format!("{field}.name"), &p.name, 1000);
    v.code(&format!("{field}.sector_code"), &p.sector_code);
    v.text(
        &format!("{field}.implementing_agency"),
        &p.implementing_agency,
        300,
    );
    if p.implementing_levels.is_empty() {
        v.add(
            format!("{field}.implementing_levels"),
            "at least one level is required",
        );
    }
    for (j, level) in p.implementing_levels.iter().enumerate() {
        if matches!(
            ImplementingLevel::try_from(*level),
            Err(_) | Ok(ImplementingLevel::Unspecified)
        ) {
            v.add(
                format!("{field}.implementing_levels[{j}]"),
                "must be MINISTRY, PROVINCE, DISTRICT or COMMUNE",
            );
        }
    }
    match &p.processing_time {
        None => v.add(format!("{field}.processing_time"), "is required"),
        Some(time) => {
            if matches!(
                TimeUnit::try_from(time.unit),
                Err(_) | Ok(TimeUnit::Unspecified)
            ) {
                v.add(
                    format!("{field}.processing_time.unit"),
                    "must be WORKING_DAYS, DAYS or HOURS",
                );
            }
            if i32::try_from(time.value).is_err() {
                v.add(format!("{field}.processing_time.value"), "is too large");
            }
        }
    }
    if matches!(
        OnlineLevel::try_from(p.online_level),
        Err(_) | Ok(OnlineLevel::Unspecified)
    ) {
        v.add(
            format!("{field}.online_level"),
            "must be NONE, PARTIAL or FULL",
        );
    }
    if p.legacy_online_level > 4 {
        v.add(
            format!("{field}.legacy_online_level"),
            "must be 1 to 4, or 0 when the source gives none",
        );
    }
}

/// Publishes `decision`: all its items, or nothing.
pub async fn publish(
    pool: &PgPool,
    decision: Option<&PublicationDecision>,
) -> ServiceResult<Outcome> {
    let valid = validate(decision)?;
    let content = valid.decision.encode_to_vec();
    let mut tx = pool.begin().await?;
    // Publications are rare and touch shared versions; one at a time keeps every check simple and exact.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('catalogue.publish'))")
        .execute(&mut *tx)
        .await?;

    let stored: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT content FROM decision WHERE number = $1")
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
    sqlx::query(
        "INSERT INTO decision (number, signed_on, issuer, effective_from, content) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&valid.decision.number)
    .bind(valid.signed_on)
    .bind(&valid.decision.issuer)
    .bind(valid.effective_from)
    .bind(&content)
    .execute(&mut *tx)
    .await?;

    for (i, item) in valid.items.iter().enumerate() {
        apply_item(&mut tx, &valid, i, item).await?;
    }
    tx.commit().await?;
    Ok(Outcome::Applied)
}

async fn apply_item(
    tx: &mut Transaction<'_, Postgres>,
    decision: &ValidDecision<'_>,
    index: usize,
    item: &Item<'_>,
) -> ServiceResult<()> {
    let field = |name: &str| format!("decision.items[{index}].{name}");
    let day = decision.effective_from;
    match item {
        Item::New(procedure) => {
            ensure_free(tx, &procedure.code, day, &field("procedure.code")).await?;
            insert_version(tx, decision, procedure, None).await
        }
        Item::Amended(procedure) => {
            close_open_version(tx, &procedure.code, day, &field("procedure.code")).await?;
            insert_version(tx, decision, procedure, None).await
        }
        Item::Replaced {
            procedure,
            replaces,
        } => {
            close_open_version(tx, replaces, day, &field("replaces_code")).await?;
            ensure_free(tx, &procedure.code, day, &field("procedure.code")).await?;
            insert_version(tx, decision, procedure, Some(replaces)).await
        }
        Item::Abolished(code) => close_open_version(tx, code, day, &field("procedure.code")).await,
    }
}

/// A NEW or replacing procedure must not be in force on or after the effective day.
async fn ensure_free(
    tx: &mut Transaction<'_, Postgres>,
    code: &str,
    day: NaiveDate,
    field: &str,
) -> ServiceResult<()> {
    let taken: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM procedure_version WHERE code = $1 AND (valid_to IS NULL OR valid_to > $2))",
    )
    .bind(code)
    .bind(day)
    .fetch_one(&mut **tx)
    .await?;
    if taken {
        return Err(ServiceError::precondition(
            field,
            format!("procedure {code} is already in the catalogue on {day}"),
        ));
    }
    Ok(())
}

/// Ends the open version of `code` the day before `day`: it was in force until `day`.
async fn close_open_version(
    tx: &mut Transaction<'_, Postgres>,
    code: &str,
    day: NaiveDate,
    field: &str,
) -> ServiceResult<()> {
    let open: Option<NaiveDate> = sqlx::query_scalar(
        "SELECT valid_from FROM procedure_version WHERE code = $1 AND valid_to IS NULL FOR UPDATE",
    )
    .bind(code)
    .fetch_optional(&mut **tx)
    .await?;
    match open {
        None => Err(ServiceError::precondition(field, format!("procedure {code} is not in the catalogue"))),
        Some(valid_from) if valid_from >= day => Err(ServiceError::precondition(
            field,
            format!("procedure {code} has a version from {valid_from}; a decision effective {day} cannot change it"),
        )),
        Some(_) => {
            sqlx::query("UPDATE procedure_version SET valid_to = $2 WHERE code = $1 AND valid_to IS NULL")
                .bind(code)
                .bind(day)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }
    }
}

async fn insert_version(
    tx: &mut Transaction<'_, Postgres>,
    decision: &ValidDecision<'_>,
    p: &Procedure,
    replaces: Option<&str>,
) -> ServiceResult<()> {
    let time = p.processing_time.unwrap_or_default();
    let levels: Vec<i16> = p.implementing_levels.iter().map(|l| *l as i16).collect();
    sqlx::query(
        "INSERT INTO procedure_version (code, valid_from, decision_number, name, sector_code, implementing_levels,
             implementing_agency, processing_time_value, processing_time_unit, has_fees, online_level,
             legacy_online_level, postal_filing, postal_return, replaces_code)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&p.code)
    .bind(decision.effective_from)
    .bind(&decision.decision.number)
    .bind(&p.name)
    .bind(&p.sector_code)
    .bind(&levels)
    .bind(&p.implementing_agency)
    .bind(time.value as i32)
    .bind(time.unit as i16)
    .bind(p.has_fees)
    .bind(p.online_level as i16)
    .bind(p.legacy_online_level as i16)
    .bind(p.postal_filing)
    .bind(p.postal_return)
    .bind(replaces)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
