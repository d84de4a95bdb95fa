//! Apology notices of case records applied before aggregation kept notices: such a record counts its notices
//! but has none stored. They are asked of intake (ListCases, by center and reception days) once the intake feed
//! connects, and stored for the cases that still have none, so no notice an office should read stays missing
//! after an upgrade.

use std::collections::HashSet;

use chrono::NaiveDate;
use onestop_proto::intake::v1::ListCasesRequest;
use onestop_server::client::IntakeClient;
use sqlx::PgPool;

use crate::apology_notices;

/// Cases per page asked of intake.
const PAGE: u32 = 500;

/// Stores the notices of every case record that counts notices but has none stored; returns how many cases got
/// theirs.
pub async fn fill_missing(pool: &PgPool, intake: &mut IntakeClient) -> anyhow::Result<usize> {
    let missing: Vec<(String, NaiveDate, NaiveDate)> = sqlx::query_as(
        "SELECT center_code, min(received_on), max(received_on) FROM case_record r
         WHERE notices > 0 AND NOT EXISTS (SELECT 1 FROM apology_notice n WHERE n.case_code = r.case_code)
         GROUP BY center_code ORDER BY center_code",
    )
    .fetch_all(pool)
    .await?;
    let mut filled = 0;
    for (center, first, last) in missing {
        let mut page_token = String::new();
        loop {
            let page = intake
                .list_cases(ListCasesRequest {
                    center_codes: vec![center.clone()],
                    received_from: first.to_string(),
                    received_to: last.to_string(),
                    page_size: PAGE,
                    page_token: page_token.clone(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            let notices: Vec<_> = page.cases.iter().flat_map(apology_notices::of).collect();
            filled += store_where_missing(pool, &notices).await?;
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
    }
    Ok(filled)
}

/// Stores `notices` for the cases that have none yet, under the lock the feed applies changes under, so a newer
/// record's notices applied meanwhile are never mixed with these.
async fn store_where_missing(pool: &PgPool, notices: &[apology_notices::NoticeRow]) -> anyhow::Result<usize> {
    if notices.is_empty() {
        return Ok(0);
    }
    let mut tx = pool.begin().await?;
    super::lock_rollups(&mut tx).await?;
    let mut codes: Vec<String> = notices.iter().map(|n| n.case_code.clone()).collect();
    codes.dedup();
    let without: Vec<String> = sqlx::query_scalar(
        "SELECT case_code FROM case_record r WHERE case_code = ANY($1) AND notices > 0
           AND NOT EXISTS (SELECT 1 FROM apology_notice n WHERE n.case_code = r.case_code)",
    )
    .bind(&codes)
    .fetch_all(&mut *tx)
    .await?;
    let still_missing: HashSet<&String> = without.iter().collect();
    let wanted: Vec<_> = notices.iter().filter(|n| still_missing.contains(&n.case_code)).cloned().collect();
    apology_notices::replace(&mut tx, &without, &wanted).await?;
    tx.commit().await?;
    Ok(without.len())
}
