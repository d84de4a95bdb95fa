//! Case records: checked, upserted by case code (the same content changes nothing), stored with what intake
//! found in them, and listed.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use onestop_domain::{today_in_vietnam, FieldViolation, Violations};
use onestop_proto::convert::is_set;
use onestop_proto::intake::v1::*;
use onestop_server::{paging, ServiceError, ServiceResult};
use prost::Message;
use sqlx::PgPool;

use crate::catalogue_view::{CatalogueView, Known, Wanted};
use crate::findings::{self, CaseDates};
use onestop_proto::convert::{timestamp_from_wire as from_wire, timestamp_to_wire as to_wire};

pub const MAX_CASES_PER_PUSH: usize = 5_000;
/// Most due-date changes, and most apology notices, one case may carry: a case rescheduled more than once is
/// already flagged, so a hundred is far beyond any real record.
const MAX_RESCHEDULES_PER_CASE: usize = 100;

/// The day in Vietnam of a moment.
fn vietnam_day(t: DateTime<Utc>) -> NaiveDate {
    today_in_vietnam(t)
}

/// Checks a case's own fields; returns the dates the rules look at.
fn check_fields(i: usize, c: &CaseRecord) -> Result<(CaseDates, NaiveDate), Vec<FieldViolation>> {
    let mut v = Violations::new();
    let field = |name: &str| format!("cases[{i}].{name}");
    v.code(&field("case_code"), &c.case_code);
    v.procedure_code(&field("procedure_code"), &c.procedure_code);
    v.code(&field("receiving_center_code"), &c.receiving_center_code);
    v.code(&field("resolving_agency_code"), &c.resolving_agency_code);
    if !is_set(c.filing_channel, Channel::Unspecified) {
        v.add(field("filing_channel"), "must be DIRECT, ONLINE or POSTAL");
    }
    if c.return_channel != 0 && !is_set(c.return_channel, Channel::Unspecified) {
        v.add(field("return_channel"), "must be DIRECT, ONLINE or POSTAL when given");
    }
    let status = CaseStatus::try_from(c.status).ok().filter(|s| *s != CaseStatus::Unspecified);
    if status.is_none() {
        v.add(field("status"), "must be IN_PROGRESS, RESOLVED, RETURNED, WITHDRAWN or REJECTED");
    }
    let received_at = match c.received_at.map(from_wire) {
        Some(Some(t)) => Some(t).filter(|t| v.year(&field("received_at"), vietnam_day(*t).year())),
        _ => {
            v.add(field("received_at"), "is required (a valid time)");
            None
        }
    };
    let due_date = v.date(&field("due_date"), &c.due_date);
    if let (Some(received), Some(due)) = (received_at, due_date) {
        if due < vietnam_day(received) {
            v.add(field("due_date"), format!("{due} is before the case was received"));
        }
    }
    let resolved_at = match c.resolved_at.map(from_wire) {
        Some(None) => {
            v.add(field("resolved_at"), "is not a valid time");
            None
        }
        other => other.flatten().filter(|t| v.year(&field("resolved_at"), vietnam_day(*t).year())),
    };
    match (status, resolved_at) {
        (Some(CaseStatus::InProgress), Some(_)) => v.add(field("resolved_at"), "must be empty while IN_PROGRESS"),
        (Some(s), None) if s != CaseStatus::InProgress => {
            v.add(field("resolved_at"), "is required once the case is closed")
        }
        _ => {}
    }
    if let (Some(received), Some(resolved)) = (received_at, resolved_at) {
        if resolved < received {
            v.add(field("resolved_at"), "is before received_at");
        }
    }
    v.at_most(&field("due_date_changes"), c.due_date_changes.len(), MAX_RESCHEDULES_PER_CASE);
    v.at_most(&field("apology_notices"), c.apology_notices.len(), MAX_RESCHEDULES_PER_CASE);
    let mut changes = Vec::new();
    for (j, change) in c.due_date_changes.iter().enumerate() {
        let f = |name: &str| field(&format!("due_date_changes[{j}].{name}"));
        let previous = v.date(&f("previous_due_date"), &change.previous_due_date);
        let new = v.date(&f("new_due_date"), &change.new_due_date);
        let changed_on = v.date(&f("changed_on"), &change.changed_on);
        v.multiline_text(&f("reason"), &change.reason, 1000);
        if let (Some(p), Some(n), Some(on)) = (previous, new, changed_on) {
            changes.push((p, n, on));
        }
    }
    let mut notices = Vec::new();
    for (j, notice) in c.apology_notices.iter().enumerate() {
        let f = |name: &str| field(&format!("apology_notices[{j}].{name}"));
        v.text(&f("notice_number"), &notice.notice_number, 100);
        v.code(&f("issuing_agency_code"), &notice.issuing_agency_code);
        v.multiline_text(&f("reason"), &notice.reason, 2000);
        if !is_set(notice.reason_category, DelayReasonCategory::Unspecified) {
            v.add(f("reason_category"), "is required");
        }
        if !is_set(notice.delivery, NoticeDelivery::Unspecified) {
            v.add(f("delivery"), "must be AT_CENTER, ELECTRONIC or POSTAL");
        }
        let issued = v.date(&f("issued_on"), &notice.issued_on);
        let original = v.date(&f("original_due_date"), &notice.original_due_date);
        let new = v.date(&f("new_due_date"), &notice.new_due_date);
        if let (Some(issued), Some(original), Some(new)) = (issued, original, new) {
            notices.push((issued, original, new));
        }
    }
    v.into_result()?;
    let dates = CaseDates {
        status,
        due_date: due_date.expect("checked"),
        resolved_on: resolved_at.map(vietnam_day),
        due_date_changes: changes,
        notices,
    };
    Ok((dates, vietnam_day(received_at.expect("checked"))))
}

/// What a case names in the catalogue, as far as its fields are well formed enough to name it.
struct CaseReferences {
    center: Option<String>,
    /// The resolving agency (`None` for the field) and each notice's issuing agency, by field.
    agencies: Vec<(String, Option<String>)>,
    procedure: Option<String>,
    /// The day the case was received: the procedure must be in force then.
    received_on: Option<NaiveDate>,
}

impl CaseReferences {
    fn of(c: &CaseRecord) -> CaseReferences {
        let code = |value: &str| onestop_domain::validate::check_code(value).is_ok().then(|| value.to_owned());
        let mut agencies = vec![("resolving_agency_code".to_owned(), code(&c.resolving_agency_code))];
        for (j, n) in c.apology_notices.iter().enumerate() {
            agencies.push((format!("apology_notices[{j}].issuing_agency_code"), code(&n.issuing_agency_code)));
        }
        let received_on = c
            .received_at
            .and_then(from_wire)
            .filter(|t| onestop_domain::validate::YEARS.contains(&t.year()))
            .map(vietnam_day);
        CaseReferences {
            center: code(&c.receiving_center_code),
            agencies,
            procedure: code(&c.procedure_code),
            received_on,
        }
    }

    /// Every way the references of case `i` are wrong.
    fn check(&self, i: usize, known: &Known) -> Vec<FieldViolation> {
        let field = |name: &str| format!("cases[{i}].{name}");
        let mut wrong = Vec::new();
        if let Some(center) = self.center.as_ref().filter(|c| !known.center(c)) {
            wrong.push(FieldViolation::new(field("receiving_center_code"), format!("center {center} not found")));
        }
        for (name, agency) in &self.agencies {
            if let Some(agency) = agency.as_ref().filter(|a| !known.agency(a)) {
                wrong.push(FieldViolation::new(field(name), format!("agency {agency} not found")));
            }
        }
        if let (Some(procedure), Some(day)) = (&self.procedure, self.received_on) {
            if !known.procedure(procedure, day) {
                let reason = match known.ended(procedure, day) {
                    Some((ended, decision)) => format!(
                        "procedure {procedure} is not in force on {day}, when the case was received: decision \
                         {decision} ended it on {ended}"
                    ),
                    None => format!("procedure {procedure} is not in the catalogue on {day}"),
                };
                wrong.push(FieldViolation::new(field("procedure_code"), reason));
            }
        }
        wrong
    }
}

/// Upserts cases given as arrays, changing a stored case only when its content differs, logs a change for each
/// case created or updated, and returns (case code, created) for each of those.
const UPSERT_CASES: &str = "
    WITH given AS (
        SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], $6::date[], $7::int2[],
                             $8::int2[], $9::bool[], $10::bool[], $11::bool[], $12::bytea[], $13::bytea[], $14::bytea[])
            AS g(case_code, procedure_code, receiving_center_code, resolving_agency_code, received_on, due_date,
                 status, outcome, late_without_notice, notice_after_deadline, rescheduled_more_than_once, record,
                 findings, stored)
    ),
    written AS (
        INSERT INTO case_record AS c (case_code, procedure_code, receiving_center_code, resolving_agency_code,
            received_on, due_date, status, outcome, late_without_notice, notice_after_deadline,
            rescheduled_more_than_once, record, findings, sender)
        SELECT case_code, procedure_code, receiving_center_code, resolving_agency_code, received_on, due_date, status,
               outcome, late_without_notice, notice_after_deadline, rescheduled_more_than_once, record, findings, $15
        FROM given ORDER BY case_code
        ON CONFLICT (case_code) DO UPDATE SET
            procedure_code = EXCLUDED.procedure_code, receiving_center_code = EXCLUDED.receiving_center_code,
            resolving_agency_code = EXCLUDED.resolving_agency_code, received_on = EXCLUDED.received_on,
            due_date = EXCLUDED.due_date, status = EXCLUDED.status, outcome = EXCLUDED.outcome,
            late_without_notice = EXCLUDED.late_without_notice, notice_after_deadline = EXCLUDED.notice_after_deadline,
            rescheduled_more_than_once = EXCLUDED.rescheduled_more_than_once, record = EXCLUDED.record,
            findings = EXCLUDED.findings, sender = EXCLUDED.sender, updated_at = now()
        WHERE c.record IS DISTINCT FROM EXCLUDED.record
        RETURNING c.case_code, c.xmax = 0 AS created
    ),
    logged AS (
        INSERT INTO case_change (case_code, stored)
        SELECT g.case_code, g.stored FROM given g JOIN written w USING (case_code) ORDER BY g.case_code
    )
    SELECT case_code, created FROM written";

/// The columns of [`UPSERT_CASES`], one array each.
#[derive(Default)]
struct CaseRows {
    case_code: Vec<String>,
    procedure_code: Vec<String>,
    receiving_center_code: Vec<String>,
    resolving_agency_code: Vec<String>,
    received_on: Vec<NaiveDate>,
    due_date: Vec<NaiveDate>,
    status: Vec<i16>,
    outcome: Vec<i16>,
    late_without_notice: Vec<bool>,
    notice_after_deadline: Vec<bool>,
    rescheduled_more_than_once: Vec<bool>,
    record: Vec<Vec<u8>>,
    findings: Vec<Vec<u8>>,
    stored: Vec<Vec<u8>>,
}

impl CaseRows {
    fn push(
        &mut self,
        record: &CaseRecord,
        received_on: NaiveDate,
        due_date: NaiveDate,
        found: &CaseFindings,
        stored: Vec<u8>,
    ) {
        self.case_code.push(record.case_code.clone());
        self.procedure_code.push(record.procedure_code.clone());
        self.receiving_center_code.push(record.receiving_center_code.clone());
        self.resolving_agency_code.push(record.resolving_agency_code.clone());
        self.received_on.push(received_on);
        self.due_date.push(due_date);
        self.status.push(record.status as i16);
        self.outcome.push(found.outcome as i16);
        self.late_without_notice.push(found.late_without_notice);
        self.notice_after_deadline.push(found.notice_after_deadline);
        self.rescheduled_more_than_once.push(found.rescheduled_more_than_once);
        self.record.push(record.encode_to_vec());
        self.findings.push(found.encode_to_vec());
        self.stored.push(stored);
    }
}

/// Upserts the cases of one push in one transaction.
pub async fn push(pool: &PgPool, view: &CatalogueView, request: &PushCasesRequest) -> ServiceResult<PushCasesResponse> {
    let mut v = Violations::new();
    v.text("sender", &request.sender, 200);
    if request.cases.is_empty() || request.cases.len() > MAX_CASES_PER_PUSH {
        v.add("cases", format!("between 1 and {MAX_CASES_PER_PUSH} cases per push"));
    }
    v.into_result()?;

    let mut results: Vec<CaseResult> =
        (0..request.cases.len()).map(|i| CaseResult { index: i as u32, ..Default::default() }).collect();
    // Every problem of a case, its fields' and its references', so that a refusal lists them all at once.
    let mut problems: Vec<Vec<FieldViolation>> = vec![Vec::new(); request.cases.len()];
    let mut candidates: Vec<(usize, CaseDates, NaiveDate)> = Vec::new();
    let mut seen = HashMap::new();
    for (i, case) in request.cases.iter().enumerate() {
        match check_fields(i, case) {
            Err(wrong) => problems[i].extend(wrong),
            Ok((dates, received_on)) => {
                if let Some(first) = seen.insert(case.case_code.clone(), i) {
                    let reason = format!("case {} also appears at cases[{first}]", case.case_code);
                    problems[i].push(FieldViolation::new(format!("cases[{i}].case_code"), reason));
                } else {
                    candidates.push((i, dates, received_on));
                }
            }
        }
    }

    let named: Vec<CaseReferences> = request.cases.iter().map(CaseReferences::of).collect();
    let mut wanted = Wanted::default();
    for r in &named {
        wanted.centers.extend(r.center.clone());
        wanted.agencies.extend(r.agencies.iter().flat_map(|(_, a)| a.clone()));
        if let (Some(code), Some(day)) = (&r.procedure, r.received_on) {
            wanted.procedures.insert((code.clone(), day));
        }
    }
    // The calendars of the years the notices' deadlines fall in come with the references, in the same call.
    // (The year before 1900 has no calendar to ask for.)
    let years: BTreeSet<i32> = candidates
        .iter()
        .flat_map(|(_, d, _)| d.notices.iter().flat_map(|n| [n.1.year(), n.1.year() - 1]))
        .filter(|year| onestop_domain::validate::YEARS.contains(year))
        .collect();
    let (known, calendar) = view.check(wanted, years).await?;
    for (i, r) in named.iter().enumerate() {
        problems[i].extend(r.check(i, &known));
    }
    let mut rejected: Vec<FieldViolation> = Vec::new();
    for (i, wrong) in problems.iter().enumerate().filter(|(_, wrong)| !wrong.is_empty()) {
        results[i].outcome = CaseUpsertOutcome::Rejected as i32;
        results[i].problems =
            wrong.iter().map(|p| FieldProblem { field: p.field.clone(), reason: p.reason.clone() }).collect();
        rejected.extend(wrong.iter().cloned());
    }
    let mut accepted: Vec<(usize, CaseDates, NaiveDate)> =
        candidates.into_iter().filter(|(i, _, _)| problems[*i].is_empty()).collect();
    if request.all_or_nothing && !rejected.is_empty() {
        return Err(ServiceError::InvalidArgument(rejected));
    }

    let today = today_in_vietnam(Utc::now());

    // Every accepted case in one statement: an upsert that changes a stored case only when its content differs
    // (so a concurrent push of the same new case finds it and leaves it alone), and a change logged for each
    // case created or updated.
    let now = Utc::now();
    let mut rows = CaseRows::default();
    accepted.sort_by(|a, b| request.cases[a.0].case_code.cmp(&request.cases[b.0].case_code));
    let mut index_of = HashMap::new();
    for (i, dates, received_on) in accepted {
        let record = &request.cases[i];
        let found = findings::findings(&dates, today, &calendar);
        results[i].findings = Some(found.clone());
        results[i].outcome = CaseUpsertOutcome::Unchanged as i32;
        index_of.insert(record.case_code.clone(), i);
        let stored_case = StoredCase {
            record: Some(record.clone()),
            findings: Some(found.clone()),
            sender: request.sender.clone(),
            updated_at: Some(to_wire(now)),
        };
        rows.push(record, received_on, dates.due_date, &found, stored_case.encode_to_vec());
    }
    let mut tx = pool.begin().await?;
    let written: Vec<(String, bool)> = sqlx::query_as(UPSERT_CASES)
        .bind(&rows.case_code)
        .bind(&rows.procedure_code)
        .bind(&rows.receiving_center_code)
        .bind(&rows.resolving_agency_code)
        .bind(&rows.received_on)
        .bind(&rows.due_date)
        .bind(&rows.status)
        .bind(&rows.outcome)
        .bind(&rows.late_without_notice)
        .bind(&rows.notice_after_deadline)
        .bind(&rows.rescheduled_more_than_once)
        .bind(&rows.record)
        .bind(&rows.findings)
        .bind(&rows.stored)
        .bind(&request.sender)
        .fetch_all(&mut *tx)
        .await?;
    if !written.is_empty() {
        onestop_server::notify::notify_on_commit(&mut tx, crate::changes::CHANNEL).await?;
    }
    let cursor = crate::changes::head(&mut tx).await?.to_string();
    tx.commit().await?;
    for (case_code, created) in written {
        let outcome = if created { CaseUpsertOutcome::Created } else { CaseUpsertOutcome::Updated };
        results[index_of[&case_code]].outcome = outcome as i32;
    }

    let count = |o: CaseUpsertOutcome| results.iter().filter(|r| r.outcome == o as i32).count() as u32;
    Ok(PushCasesResponse {
        created: count(CaseUpsertOutcome::Created),
        updated: count(CaseUpsertOutcome::Updated),
        unchanged: count(CaseUpsertOutcome::Unchanged),
        rejected: count(CaseUpsertOutcome::Rejected),
        results,
        cursor,
    })
}

const DEFAULT_PAGE_SIZE: u32 = 500;
const MAX_PAGE_SIZE: u32 = 5000;

/// Stored cases of some centers received over a date range, paged by case code.
pub async fn list(pool: &PgPool, request: &ListCasesRequest) -> ServiceResult<ListCasesResponse> {
    let mut v = Violations::new();
    if request.center_codes.is_empty() {
        v.add("center_codes", "at least one center is required");
    }
    crate::api::check_codes(&mut v, "center_codes", &request.center_codes);
    crate::api::check_codes(&mut v, "procedure_codes", &request.procedure_codes);
    let from = v.date("received_from", &request.received_from);
    let to = v.date("received_to", &request.received_to);
    let (page_size, after) =
        paging::code_page(&mut v, request.page_size, &request.page_token, (DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE));
    v.into_result()?;
    #[allow(clippy::type_complexity)]
    let rows: Vec<(String, Vec<u8>, Vec<u8>, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT case_code, record, findings, sender, updated_at FROM case_record
         WHERE receiving_center_code = ANY($1) AND received_on BETWEEN $2 AND $3
           AND (cardinality($4::text[]) = 0 OR procedure_code = ANY($4)) AND case_code > $5
         ORDER BY case_code LIMIT $6",
    )
    .bind(&request.center_codes)
    .bind(from.expect("checked"))
    .bind(to.expect("checked"))
    .bind(&request.procedure_codes)
    .bind(&after)
    .bind(i64::from(page_size))
    .fetch_all(pool)
    .await?;
    let next_page_token = if rows.len() == page_size as usize {
        rows.last().map(|r| paging::encode(&[&r.0])).unwrap_or_default()
    } else {
        String::new()
    };
    let decode_error =
        |e: prost::DecodeError| ServiceError::Internal(anyhow::anyhow!("stored case not decodable: {e}"));
    let cases = rows
        .into_iter()
        .map(|(_, record, findings, sender, updated_at)| {
            Ok(StoredCase {
                record: Some(CaseRecord::decode(record.as_slice()).map_err(decode_error)?),
                findings: Some(CaseFindings::decode(findings.as_slice()).map_err(decode_error)?),
                sender,
                updated_at: Some(to_wire(updated_at)),
            })
        })
        .collect::<ServiceResult<Vec<_>>>()?;
    Ok(ListCasesResponse { cases, next_page_token })
}
