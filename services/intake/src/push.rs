//! One push of cells, from request to answer, in one transaction: request checks, the idempotency key, each
//! cell's fields and references, pending-stock warnings, storage, and the answer per cell.

use std::collections::HashMap;

use onestop_domain::{today_in_vietnam, FieldViolation, Violations};
use onestop_proto::intake::v1::{CellOutcome, CellResult, FieldProblem, PushCellsRequest, PushCellsResponse};
use onestop_server::{ServiceError, ServiceResult};
use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, Transaction};

use crate::catalogue_view::CatalogueView;
use crate::cells::{self, Stored, ValidCell, MAX_CELLS_PER_PUSH};
use crate::changes;

/// How the reason of a cell repeating an earlier one of its push begins.
pub const DUPLICATE: &str = "the same center, procedure and day as";

fn problems(violations: Vec<FieldViolation>) -> Vec<FieldProblem> {
    violations.into_iter().map(|v| FieldProblem { field: v.field, reason: v.reason }).collect()
}

fn check_request(request: &PushCellsRequest) -> ServiceResult<()> {
    let mut v = Violations::new();
    v.text("sender", &request.sender, 200);
    if request.cells.is_empty() {
        v.add("cells", "at least one cell is required");
    }
    if request.cells.len() > MAX_CELLS_PER_PUSH {
        v.add("cells", format!("at most {MAX_CELLS_PER_PUSH} cells per push"));
    }
    v.optional_text("idempotency_key", &request.idempotency_key, 200);
    Ok(v.into_result()?)
}

/// Pushes one batch. With an idempotency key, the same key and content get the first answer again.
pub async fn push(pool: &PgPool, view: &CatalogueView, request: &PushCellsRequest) -> ServiceResult<PushCellsResponse> {
    match prepare(pool, view, request).await? {
        Prepared::Answered(earlier) => Ok(earlier),
        Prepared::ToStore(checked) => store(pool, request, checked).await,
    }
}

/// A push once everything it reads has been read.
pub enum Prepared {
    /// Its idempotency key was used by a push that committed: that push's answer.
    Answered(PushCellsResponse),
    /// Checked, to be stored by [`store`].
    ToStore(CheckedPush),
}

/// A push's cells, checked against the catalogue and the days before, with the request's digest.
pub struct CheckedPush {
    digest: Vec<u8>,
    checked: Checked,
}

/// Everything a push reads before it stores: the key's earlier answer, the catalogue, the days before for the
/// pending-stock warnings, each on one pooled connection at a time. A bulk stream prepares its next message
/// while it waits for the change stream's followers (see `pace`).
pub async fn prepare(pool: &PgPool, view: &CatalogueView, request: &PushCellsRequest) -> ServiceResult<Prepared> {
    check_request(request)?;
    let digest = Sha256::digest(request.encode_to_vec()).to_vec();
    if !request.idempotency_key.is_empty() {
        if let Some(earlier) = earlier_answer(pool, request, &digest).await? {
            return Ok(Prepared::Answered(earlier));
        }
    }
    let checked = check_cells(pool, view, request).await?;
    Ok(Prepared::ToStore(CheckedPush { digest, checked }))
}

/// Stores a prepared push in one transaction, which only claims the key and stores: a push never holds a
/// connection while it waits for another, or for the catalogue. The key is claimed again here, since a push with
/// the same key may have committed since [`prepare`] looked.
pub async fn store(pool: &PgPool, request: &PushCellsRequest, push: CheckedPush) -> ServiceResult<PushCellsResponse> {
    let CheckedPush { digest, checked } = push;
    let keyed = !request.idempotency_key.is_empty();
    let mut tx = pool.begin().await?;
    if keyed {
        if let Some(earlier) = claim_key(&mut tx, request, &digest).await? {
            return Ok(earlier);
        }
    }
    let days: Vec<(usize, chrono::NaiveDate)> = checked.candidates.iter().map(|(i, c)| (*i, c.day)).collect();
    let mut response = match store_checked(&mut tx, request, checked).await {
        Err(error) if cells::is_missing_partition(&error) => {
            drop(tx);
            return Err(cells::archived_days(pool, &days).await);
        }
        stored => stored?,
    };
    response.cursor = changes::head(&mut tx).await?.to_string();
    if keyed {
        sqlx::query("UPDATE push_batch SET response = $3 WHERE sender = $1 AND idempotency_key = $2")
            .bind(&request.sender)
            .bind(&request.idempotency_key)
            .bind(response.encode_to_vec())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(response)
}

/// The answer already given for the request's idempotency key, if a push with it has committed.
async fn earlier_answer(
    pool: &PgPool,
    request: &PushCellsRequest,
    digest: &[u8],
) -> ServiceResult<Option<PushCellsResponse>> {
    let stored: Option<(Vec<u8>, Vec<u8>)> =
        sqlx::query_as("SELECT request_digest, response FROM push_batch WHERE sender = $1 AND idempotency_key = $2")
            .bind(&request.sender)
            .bind(&request.idempotency_key)
            .fetch_optional(pool)
            .await?;
    match stored {
        None => Ok(None),
        Some((stored_digest, response)) => replay(request, digest, &stored_digest, &response).map(Some),
    }
}

/// The first answer to a key, given again, if the content is the same.
fn replay(
    request: &PushCellsRequest,
    digest: &[u8],
    stored_digest: &[u8],
    response: &[u8],
) -> ServiceResult<PushCellsResponse> {
    if stored_digest != digest {
        return Err(ServiceError::AlreadyExists(format!(
            "idempotency_key: {:?} was used for a push with other content",
            request.idempotency_key
        )));
    }
    let mut earlier = PushCellsResponse::decode(response)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("stored answer is not decodable: {e}")))?;
    earlier.replayed = true;
    Ok(earlier)
}

/// Claims the request's idempotency key, or returns the answer already given for it. A push with the same key
/// still in flight is waited for.
async fn claim_key(
    tx: &mut Transaction<'_, Postgres>,
    request: &PushCellsRequest,
    digest: &[u8],
) -> ServiceResult<Option<PushCellsResponse>> {
    let claimed = sqlx::query(
        "INSERT INTO push_batch (sender, idempotency_key, request_digest, response) VALUES ($1, $2, $3, '')
         ON CONFLICT (sender, idempotency_key) DO NOTHING",
    )
    .bind(&request.sender)
    .bind(&request.idempotency_key)
    .bind(digest)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if claimed {
        return Ok(None);
    }
    let (stored_digest, response): (Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT request_digest, response FROM push_batch WHERE sender = $1 AND idempotency_key = $2 FOR UPDATE",
    )
    .bind(&request.sender)
    .bind(&request.idempotency_key)
    .fetch_one(&mut **tx)
    .await?;
    replay(request, digest, &stored_digest, &response).map(Some)
}

/// A push's cells once checked: the ones to store, and what to answer for each of the others.
struct Checked {
    rejected: HashMap<usize, Vec<FieldViolation>>,
    candidates: Vec<(usize, ValidCell)>,
    warnings: HashMap<usize, FieldViolation>,
    /// What was stored of the cells and their days before, when checked.
    stored: cells::StoredAround,
}

/// Checks every cell's fields and references, and the pending stocks against the days before.
async fn check_cells(pool: &PgPool, view: &CatalogueView, request: &PushCellsRequest) -> ServiceResult<Checked> {
    let today = today_in_vietnam(chrono::Utc::now());
    let mut rejected: HashMap<usize, Vec<FieldViolation>> = HashMap::new();
    let mut candidates: Vec<(usize, ValidCell)> = Vec::with_capacity(request.cells.len());
    let mut first_of_key = HashMap::new();
    let mut references = Vec::with_capacity(request.cells.len());
    for (i, cell) in request.cells.iter().enumerate() {
        references.push(cells::References::of(cell));
        match cells::check_fields(i, cell, today) {
            Err(violations) => {
                rejected.insert(i, violations);
            }
            Ok(valid) => match first_of_key.get(&valid.key()) {
                Some(first) => {
                    let reason = format!("{DUPLICATE} cells[{first}]");
                    rejected.insert(i, vec![FieldViolation::new(format!("cells[{i}].day"), reason)]);
                }
                None => {
                    first_of_key.insert(valid.key(), i);
                    candidates.push((i, valid));
                }
            },
        }
    }
    // Every cell's references are checked, even a cell with other problems, so a refusal lists them all.
    let (known, _) = view.check(cells::wanted(&references), Default::default()).await?;
    for (i, named) in references.iter().enumerate() {
        let wrong = cells::check_references(i, named, &known);
        if !wrong.is_empty() {
            rejected.entry(i).or_default().extend(wrong);
        }
    }
    candidates.retain(|(i, _)| !rejected.contains_key(i));
    if request.all_or_nothing && !rejected.is_empty() {
        let mut all: Vec<(usize, Vec<FieldViolation>)> = rejected.into_iter().collect();
        all.sort_by_key(|(i, _)| *i);
        return Err(ServiceError::InvalidArgument(all.into_iter().flat_map(|(_, v)| v).collect()));
    }

    let stored = cells::StoredAround::read(pool, &candidates).await?;
    let warnings = stored.pending_warnings(&candidates);
    Ok(Checked { rejected, candidates, warnings, stored })
}

/// Stores the checked cells in the transaction and answers for every cell of the request.
async fn store_checked(
    tx: &mut Transaction<'_, Postgres>,
    request: &PushCellsRequest,
    checked: Checked,
) -> ServiceResult<PushCellsResponse> {
    let Checked { rejected, candidates, warnings, stored } = checked;
    let valid: Vec<ValidCell> = candidates.iter().map(|(_, c)| c.clone()).collect();
    let stored = cells::store(tx, &request.sender, &valid, &stored).await?;

    let mut results: Vec<CellResult> =
        (0..request.cells.len()).map(|i| CellResult { index: i as u32, ..Default::default() }).collect();
    for (i, violations) in rejected {
        results[i].outcome = CellOutcome::Rejected as i32;
        results[i].problems = problems(violations);
    }
    for ((i, _), outcome) in candidates.iter().zip(stored) {
        results[*i].outcome = match outcome {
            Stored::Accepted => CellOutcome::Accepted,
            Stored::Unchanged => CellOutcome::Unchanged,
            Stored::Stale => CellOutcome::Stale,
        } as i32;
        if let Some(warning) = warnings.get(i) {
            results[*i].warnings = problems(vec![warning.clone()]);
        }
    }
    let count = |o: CellOutcome| results.iter().filter(|r| r.outcome == o as i32).count() as u32;
    Ok(PushCellsResponse {
        accepted: count(CellOutcome::Accepted),
        unchanged: count(CellOutcome::Unchanged),
        stale: count(CellOutcome::Stale),
        rejected: count(CellOutcome::Rejected),
        results,
        replayed: false,
        // Set once stored, from the stream's head.
        cursor: String::new(),
    })
}
