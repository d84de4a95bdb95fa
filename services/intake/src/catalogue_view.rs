//! Intake's copy of what it needs from the catalogue: which centers and agencies exist, which procedures are in
//! force on which days, which procedures each center receives, and the working-day calendar.
//!
//! The copy follows the catalogue's change stream. A push is judged against the catalogue as it stood when the
//! push arrived, never older: the push asks the catalogue for its newest change (one small call), waits for the
//! copy to have applied it (usually already so), and then judges every reference from the copy, which now knows
//! both what exists and what does not, so references it does not know cost nothing more. Only if the copy cannot
//! catch up in time (its stream is down) are the push's references asked of the catalogue, in one batched call.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use chrono::{Datelike, NaiveDate};
use onestop_domain::calendar::{DayKind, WorkingCalendar};
use onestop_proto::catalogue::v1::watch_changes_response::Change;
use onestop_proto::catalogue::v1::*;
use onestop_server::client::CatalogueClient;
use onestop_server::metrics::StreamLag;
use onestop_server::serve::StopSignal;
use onestop_server::{ServiceError, ServiceResult};
use tokio_stream::StreamExt;

/// A version's span: in force on `[from, to)`.
type Span = (NaiveDate, Option<NaiveDate>);

fn covers(span: &Span, day: NaiveDate) -> bool {
    span.0 <= day && span.1.is_none_or(|to| day < to)
}

/// A procedure version as the copy keeps it: its span, and the decision that ended it, if one did.
#[derive(Debug, Clone)]
struct Version {
    span: Span,
    ended_by: Option<String>,
}

/// How long a push waits for the copy to apply the catalogue's newest change before asking the catalogue itself.
const CATCH_UP_WAIT: Duration = Duration::from_secs(2);

/// How often the catalogue is asked for its newest change, so the copy's lag shows even while its stream is down
/// and no push asks.
const HEAD_POLL_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
struct State {
    centers: HashSet<String>,
    agencies: HashSet<String>,
    /// Procedure codes interned, so the centers' lists are compact.
    ids: HashMap<String, u32>,
    procedures: HashMap<u32, Vec<Version>>,
    center_lists: HashMap<String, Vec<(Span, Vec<u32>)>>,
    calendar_years: BTreeSet<i32>,
    exceptions: HashMap<NaiveDate, DayKind>,
}

impl State {
    fn id(&mut self, code: &str) -> u32 {
        let next = self.ids.len() as u32;
        *self.ids.entry(code.to_owned()).or_insert(next)
    }

    fn close(&mut self, code: &str, day: NaiveDate, decision: &str) {
        let id = self.id(code);
        if let Some(open) = self.procedures.entry(id).or_default().iter_mut().find(|v| v.span.1.is_none()) {
            open.span.1 = Some(day);
            open.ended_by = Some(decision.to_owned());
        }
    }

    fn open(&mut self, code: &str, day: NaiveDate) {
        let id = self.id(code);
        self.procedures.entry(id).or_default().push(Version { span: (day, None), ended_by: None });
    }

    /// Applies one change, as the catalogue applied it.
    fn apply(&mut self, change: Change) {
        match change {
            Change::Center(center) => {
                self.centers.insert(center.code);
            }
            Change::Agency(agency) => {
                self.agencies.insert(agency.code);
            }
            Change::Decision(decision) => {
                let Ok(day) = decision.effective_from.parse::<NaiveDate>() else { return };
                for item in decision.items {
                    let code = item.procedure.map(|p| p.code).unwrap_or_default();
                    match DecisionAction::try_from(item.action) {
                        Ok(DecisionAction::New) => self.open(&code, day),
                        Ok(DecisionAction::Amended) => {
                            self.close(&code, day, &decision.number);
                            self.open(&code, day);
                        }
                        Ok(DecisionAction::Replaced) => {
                            self.close(&item.replaces_code, day, &decision.number);
                            self.open(&code, day);
                        }
                        Ok(DecisionAction::Abolished) => self.close(&code, day, &decision.number),
                        _ => {}
                    }
                }
            }
            Change::CenterProcedures(list) => {
                let Ok(day) = list.effective_from.parse::<NaiveDate>() else { return };
                let mut ids: Vec<u32> = list.procedure_codes.iter().map(|c| self.id(c)).collect();
                ids.sort_unstable();
                let versions = self.center_lists.entry(list.center_code).or_default();
                versions.retain(|(span, _)| span.0 != day);
                if let Some((open, _)) = versions.iter_mut().find(|(span, _)| span.1.is_none()) {
                    open.1 = Some(day);
                }
                versions.push(((day, None), ids));
            }
            Change::CalendarYear(year) => {
                self.exceptions.retain(|day, _| day.year() != year.year);
                for e in year.exceptions {
                    if let (Ok(day), Some(kind)) = (e.day.parse(), day_kind(e.kind)) {
                        self.exceptions.insert(day, kind);
                    }
                }
                self.calendar_years.insert(year.year);
            }
            Change::Unit(_) | Change::Sector(_) => {}
        }
    }

    fn procedure_in_force(&self, code: &str, day: NaiveDate) -> bool {
        self.ids
            .get(code)
            .and_then(|id| self.procedures.get(id))
            .is_some_and(|versions| versions.iter().any(|v| covers(&v.span, day)))
    }

    /// For a procedure not in force on `day` that was before it: the day it ended and the decision that ended it.
    fn ended_before(&self, code: &str, day: NaiveDate) -> Option<(NaiveDate, String)> {
        let versions = self.procedures.get(self.ids.get(code)?)?;
        versions
            .iter()
            .filter_map(|v| Some((v.span.1?, v.ended_by.clone()?)))
            .filter(|(to, _)| *to <= day)
            .max_by_key(|(to, _)| *to)
    }

    fn receives(&self, center: &str, code: &str, day: NaiveDate) -> bool {
        let Some(id) = self.ids.get(code) else { return false };
        self.center_lists
            .get(center)
            .and_then(|versions| versions.iter().find(|(span, _)| covers(span, day)))
            .is_some_and(|(_, ids)| ids.binary_search(id).is_ok())
    }
}

fn day_kind(kind: i32) -> Option<DayKind> {
    match CalendarDayKind::try_from(kind) {
        Ok(CalendarDayKind::Holiday) => Some(DayKind::Holiday),
        Ok(CalendarDayKind::MakeupWorkingDay) => Some(DayKind::MakeupWorkingDay),
        _ => None,
    }
}

/// What a push refers to, to be checked together.
#[derive(Debug, Default)]
pub struct Wanted {
    pub centers: BTreeSet<String>,
    pub agencies: BTreeSet<String>,
    /// (procedure, day): in force on that day.
    pub procedures: BTreeSet<(String, NaiveDate)>,
    /// (center, procedure, day): the center receives the procedure on that day.
    pub received: BTreeSet<(String, String, NaiveDate)>,
}

/// The answers for one push.
#[derive(Debug, Default)]
pub struct Known {
    centers: HashSet<String>,
    agencies: HashSet<String>,
    procedures: HashSet<(String, NaiveDate)>,
    received: HashSet<(String, String, NaiveDate)>,
    /// For procedures asked about on a day they were no longer in force: when and by which decision they ended.
    ended: HashMap<(String, NaiveDate), (NaiveDate, String)>,
}

impl Known {
    pub fn center(&self, code: &str) -> bool {
        self.centers.contains(code)
    }

    pub fn agency(&self, code: &str) -> bool {
        self.agencies.contains(code)
    }

    pub fn procedure(&self, code: &str, day: NaiveDate) -> bool {
        self.procedures.contains(&(code.to_owned(), day))
    }

    pub fn received(&self, center: &str, code: &str, day: NaiveDate) -> bool {
        self.received.contains(&(center.to_owned(), code.to_owned(), day))
    }

    /// For a procedure not in force on `day` that was in force before it: the day it ended and the decision.
    pub fn ended(&self, code: &str, day: NaiveDate) -> Option<&(NaiveDate, String)> {
        self.ended.get(&(code.to_owned(), day))
    }
}

#[derive(Debug, Clone)]
pub struct CatalogueView {
    state: Arc<RwLock<State>>,
    /// The cursor of the last change applied, for pushes and reads waiting for the copy to catch up.
    applied: tokio::sync::watch::Sender<u64>,
    catalogue: CatalogueClient,
    /// How far behind the catalogue the copy is, for metrics.
    lag: StreamLag,
}

impl CatalogueView {
    /// Starts following the catalogue's changes in the background, until `stop`.
    /// `catalogue` answers lookups (with a request timeout); `changes` follows the change stream (without one);
    /// `lag` is told how far behind the copy is.
    pub fn start(
        catalogue: CatalogueClient,
        changes: CatalogueClient,
        lag: StreamLag,
        mut stop: StopSignal,
    ) -> CatalogueView {
        let (applied, _) = tokio::sync::watch::channel(0);
        let view = CatalogueView { state: Arc::default(), applied, catalogue, lag };
        let (follower, head_watcher) = (view.clone(), view.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = follower.follow(changes) => {}
                _ = head_watcher.watch_head() => {}
                _ = stop.stopped() => {}
            }
        });
        view
    }

    /// Keeps the catalogue's newest change known to the lag metrics.
    async fn watch_head(&self) {
        loop {
            if let Ok(answer) = self.ask(CheckReferencesRequest::default()).await {
                self.lag.source_head(answer.cursor);
            }
            tokio::time::sleep(HEAD_POLL_INTERVAL).await;
        }
    }

    async fn follow(self, mut changes: CatalogueClient) {
        loop {
            let after_cursor = self.cursor();
            let stream = changes.watch_changes(WatchChangesRequest { after_cursor }).await;
            match stream {
                Ok(stream) => {
                    self.lag.connected(true);
                    let mut stream = stream.into_inner();
                    while let Some(next) = stream.next().await {
                        match next {
                            Ok(change) => {
                                let committed_at = change.committed_at.and_then(|t| SystemTime::try_from(t).ok());
                                self.lag.received(1, committed_at);
                                if let Some(applied) = change.change {
                                    self.state.write().expect("catalogue view").apply(applied);
                                }
                                self.applied.send_replace(change.cursor);
                                self.lag.applied(Some(change.cursor));
                            }
                            Err(status) => {
                                tracing::warn!(%status, "catalogue change stream ended; reconnecting");
                                break;
                            }
                        }
                    }
                    self.lag.connected(false);
                }
                Err(status) => tracing::warn!(%status, "catalogue change stream unavailable; retrying"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The cursor of the last catalogue change applied.
    pub fn cursor(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Waits until the copy has applied the catalogue's change `cursor`, or `deadline`; whether it has.
    pub async fn wait_for(&self, cursor: u64, deadline: tokio::time::Instant) -> bool {
        let mut applied = self.applied.subscribe();
        let caught_up = tokio::time::timeout_at(deadline, applied.wait_for(|applied| *applied >= cursor)).await;
        matches!(caught_up, Ok(Ok(_)))
    }

    /// Answers everything `wanted` asks, and the calendars of `years`, as the catalogue stood when the push
    /// arrived: one call learns the catalogue's newest change, then the copy answers once it has applied it.
    pub async fn check(&self, wanted: Wanted, years: BTreeSet<i32>) -> ServiceResult<(Known, WorkingCalendar)> {
        let head = self.ask(CheckReferencesRequest::default()).await?.cursor;
        self.lag.source_head(head);
        if self.wait_for(head, tokio::time::Instant::now() + CATCH_UP_WAIT).await {
            return Ok(self.answer_from_copy(wanted, years));
        }
        tracing::warn!(head, applied = self.cursor(), "the copy of the catalogue is behind; asking the catalogue");
        self.answer_from_catalogue(wanted, years).await
    }

    /// The answers of the copy, which has applied every change the catalogue had when the push arrived.
    fn answer_from_copy(&self, wanted: Wanted, years: BTreeSet<i32>) -> (Known, WorkingCalendar) {
        let state = self.state.read().expect("catalogue view");
        let mut known = Known {
            centers: wanted.centers.into_iter().filter(|c| state.centers.contains(c)).collect(),
            agencies: wanted.agencies.into_iter().filter(|a| state.agencies.contains(a)).collect(),
            received: wanted.received.into_iter().filter(|(c, p, d)| state.receives(c, p, *d)).collect(),
            ..Default::default()
        };
        for (code, day) in wanted.procedures {
            if state.procedure_in_force(&code, day) {
                known.procedures.insert((code, day));
            } else if let Some(ended) = state.ended_before(&code, day) {
                known.ended.insert((code, day), ended);
            }
        }
        let have: BTreeSet<i32> = years.intersection(&state.calendar_years).copied().collect();
        let exceptions: Vec<(NaiveDate, DayKind)> =
            state.exceptions.iter().filter(|(day, _)| have.contains(&day.year())).map(|(d, k)| (*d, *k)).collect();
        (known, WorkingCalendar::new(have, exceptions))
    }

    /// Every reference asked of the catalogue in one call, for when the copy cannot catch up.
    async fn answer_from_catalogue(
        &self,
        wanted: Wanted,
        years: BTreeSet<i32>,
    ) -> ServiceResult<(Known, WorkingCalendar)> {
        let request = CheckReferencesRequest {
            center_codes: wanted.centers.iter().cloned().collect(),
            agency_codes: wanted.agencies.iter().cloned().collect(),
            procedures: wanted
                .procedures
                .iter()
                .map(|(code, day)| ProcedureOnDay { procedure_code: code.clone(), day: day.to_string() })
                .collect(),
            received: wanted
                .received
                .iter()
                .map(|(center, code, day)| CenterProcedureOnDay {
                    center_code: center.clone(),
                    procedure_code: code.clone(),
                    day: day.to_string(),
                })
                .collect(),
            calendar_years: years.iter().copied().collect(),
        };
        let answer = self.ask(request).await?;
        let answered = |asked: usize, got: usize| {
            if asked == got {
                Ok(())
            } else {
                Err(ServiceError::Internal(anyhow::anyhow!("the catalogue answered {got} of {asked} references")))
            }
        };
        answered(wanted.centers.len(), answer.centers_exist.len())?;
        answered(wanted.agencies.len(), answer.agencies_exist.len())?;
        answered(wanted.procedures.len(), answer.procedures_in_force.len())?;
        answered(wanted.received.len(), answer.received.len())?;
        /// The references the catalogue said exist.
        fn existing<T>(asked: impl IntoIterator<Item = T>, exist: &[bool]) -> HashSet<T>
        where
            T: std::hash::Hash + Eq,
        {
            asked.into_iter().zip(exist).filter(|(_, exists)| **exists).map(|(r, _)| r).collect()
        }
        let known = Known {
            centers: existing(wanted.centers, &answer.centers_exist),
            agencies: existing(wanted.agencies, &answer.agencies_exist),
            procedures: existing(wanted.procedures, &answer.procedures_in_force),
            received: existing(wanted.received, &answer.received),
            ended: HashMap::new(),
        };
        let mut have = BTreeSet::new();
        let mut exceptions = Vec::new();
        for year in answer.calendars {
            have.insert(year.year);
            exceptions
                .extend(year.exceptions.into_iter().filter_map(|e| Some((e.day.parse().ok()?, day_kind(e.kind)?))));
        }
        Ok((known, WorkingCalendar::new(have, exceptions)))
    }

    async fn ask(&self, request: CheckReferencesRequest) -> ServiceResult<CheckReferencesResponse> {
        let answer = self.catalogue.clone().check_references(request).await;
        Ok(answer.map_err(|s| ServiceError::from_upstream("catalogue", s))?.into_inner())
    }
}
