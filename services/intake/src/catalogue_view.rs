//! Intake's copy of what it needs from the catalogue: which centers and agencies exist, which procedures are in
//! force on which days, which procedures each center receives, and the working-day calendar.
//!
//! The copy follows the catalogue's change stream, so checking a pushed cell costs no call. A reference the copy
//! does not know (the catalogue published it a moment ago, or the copy is still catching up after a start) is
//! asked of the catalogue once per push for all such references together, never once per cell.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::NaiveDate;
use onestop_domain::calendar::{DayKind, WorkingCalendar};
use onestop_proto::catalogue::v1::watch_changes_response::Change;
use onestop_proto::catalogue::v1::*;
use onestop_server::client::CatalogueClient;
use onestop_server::serve::StopSignal;
use onestop_server::{ServiceError, ServiceResult};
use tokio_stream::StreamExt;

/// A version's span: in force on `[from, to)`.
type Span = (NaiveDate, Option<NaiveDate>);

fn covers(span: &Span, day: NaiveDate) -> bool {
    span.0 <= day && span.1.is_none_or(|to| day < to)
}

/// One reference a push makes to the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Reference {
    Center(String),
    Agency(String),
    /// In force on the day.
    Procedure(String, NaiveDate),
    /// The center receives the procedure on the day.
    Received(String, String, NaiveDate),
}

/// Most references remembered as absent; past it the memory starts afresh, so hostile pushes naming endless
/// unknown codes cost a lookup each, never unbounded memory.
const MAX_REMEMBERED_ABSENT: usize = 200_000;

#[derive(Debug, Default)]
struct State {
    cursor: u64,
    /// Whether the change stream is connected right now: only then does a change reach the copy promptly.
    following: bool,
    /// References the catalogue said were absent, with the cursor its answer was current at.
    absent: HashMap<Reference, u64>,
    centers: HashSet<String>,
    agencies: HashSet<String>,
    /// Procedure codes interned, so the centers' lists are compact.
    ids: HashMap<String, u32>,
    procedures: HashMap<u32, Vec<Span>>,
    center_lists: HashMap<String, Vec<(Span, Vec<u32>)>>,
    calendar_years: BTreeSet<i32>,
    exceptions: HashMap<NaiveDate, DayKind>,
}

impl State {
    fn id(&mut self, code: &str) -> u32 {
        let next = self.ids.len() as u32;
        *self.ids.entry(code.to_owned()).or_insert(next)
    }

    fn close(&mut self, code: &str, day: NaiveDate) {
        let id = self.id(code);
        if let Some(open) = self.procedures.entry(id).or_default().iter_mut().find(|s| s.1.is_none()) {
            open.1 = Some(day);
        }
    }

    fn open(&mut self, code: &str, day: NaiveDate) {
        let id = self.id(code);
        self.procedures.entry(id).or_default().push((day, None));
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
                            self.close(&code, day);
                            self.open(&code, day);
                        }
                        Ok(DecisionAction::Replaced) => {
                            self.close(&item.replaces_code, day);
                            self.open(&code, day);
                        }
                        Ok(DecisionAction::Abolished) => self.close(&code, day),
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
                self.exceptions.retain(|day, _| chrono::Datelike::year(day) != year.year);
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

    /// Whether `reference` is known to be absent: the catalogue said so at a cursor the copy has reached, and the
    /// copy is following, so a change adding it since would be here.
    fn known_absent(&self, reference: &Reference) -> bool {
        self.following && self.absent.get(reference).is_some_and(|at| self.cursor >= *at)
    }

    fn remember_absent(&mut self, references: Vec<Reference>, cursor: u64) {
        if self.absent.len() + references.len() > MAX_REMEMBERED_ABSENT {
            self.absent.clear();
        }
        self.absent.extend(references.into_iter().map(|r| (r, cursor)));
    }

    fn procedure_in_force(&self, code: &str, day: NaiveDate) -> bool {
        self.ids
            .get(code)
            .and_then(|id| self.procedures.get(id))
            .is_some_and(|spans| spans.iter().any(|s| covers(s, day)))
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

impl Wanted {
    fn is_empty(&self) -> bool {
        self.centers.is_empty() && self.agencies.is_empty() && self.procedures.is_empty() && self.received.is_empty()
    }
}

/// The answers for one push.
#[derive(Debug, Default)]
pub struct Known {
    centers: HashSet<String>,
    agencies: HashSet<String>,
    procedures: HashSet<(String, NaiveDate)>,
    received: HashSet<(String, String, NaiveDate)>,
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
}

#[derive(Debug, Clone)]
pub struct CatalogueView {
    state: Arc<RwLock<State>>,
    catalogue: CatalogueClient,
    lookups: Arc<AtomicU64>,
}

impl CatalogueView {
    /// Starts following the catalogue's changes in the background, until `stop`.
    /// `catalogue` answers lookups (with a request timeout); `changes` follows the change stream (without one).
    pub fn start(catalogue: CatalogueClient, changes: CatalogueClient, mut stop: StopSignal) -> CatalogueView {
        let view = CatalogueView { state: Arc::default(), catalogue, lookups: Arc::default() };
        let follower = view.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = follower.follow(changes) => {}
                _ = stop.stopped() => {}
            }
        });
        view
    }

    async fn follow(self, mut changes: CatalogueClient) {
        loop {
            let after_cursor = self.state.read().expect("catalogue view").cursor;
            let stream = changes.watch_changes(WatchChangesRequest { after_cursor }).await;
            match stream {
                Ok(stream) => {
                    let mut stream = stream.into_inner();
                    self.state.write().expect("catalogue view").following = true;
                    while let Some(next) = stream.next().await {
                        match next {
                            Ok(change) => {
                                let mut state = self.state.write().expect("catalogue view");
                                state.cursor = change.cursor;
                                if let Some(change) = change.change {
                                    state.apply(change);
                                }
                            }
                            Err(status) => {
                                tracing::warn!(%status, "catalogue change stream ended; reconnecting");
                                break;
                            }
                        }
                    }
                }
                Err(status) => tracing::warn!(%status, "catalogue change stream unavailable; retrying"),
            }
            self.state.write().expect("catalogue view").following = false;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The cursor of the last catalogue change applied.
    pub fn cursor(&self) -> u64 {
        self.state.read().expect("catalogue view").cursor
    }

    /// Answers everything `wanted` asks (and the calendars of `years`) from the copy where it knows, and asks
    /// the catalogue about the rest in one batched call. A reference the catalogue said was absent is not asked
    /// again while the copy follows the catalogue's changes from at least that answer's cursor on: were it added
    /// since, the copy would know it.
    pub async fn check(&self, wanted: Wanted, years: BTreeSet<i32>) -> ServiceResult<(Known, WorkingCalendar)> {
        let mut known = Known::default();
        let mut missing = Wanted::default();
        let (mut have_years, mut exceptions, lacking_years) = {
            let state = self.state.read().expect("catalogue view");
            let absent = |reference: Reference| state.known_absent(&reference);
            for c in wanted.centers {
                if state.centers.contains(&c) {
                    known.centers.insert(c);
                } else if !absent(Reference::Center(c.clone())) {
                    missing.centers.insert(c);
                }
            }
            for a in wanted.agencies {
                if state.agencies.contains(&a) {
                    known.agencies.insert(a);
                } else if !absent(Reference::Agency(a.clone())) {
                    missing.agencies.insert(a);
                }
            }
            for (code, day) in wanted.procedures {
                if state.procedure_in_force(&code, day) {
                    known.procedures.insert((code, day));
                } else if !absent(Reference::Procedure(code.clone(), day)) {
                    missing.procedures.insert((code, day));
                }
            }
            for (center, code, day) in wanted.received {
                if state.receives(&center, &code, day) {
                    known.received.insert((center, code, day));
                } else if !absent(Reference::Received(center.clone(), code.clone(), day)) {
                    missing.received.insert((center, code, day));
                }
            }
            let lacking: Vec<i32> = years.iter().filter(|y| !state.calendar_years.contains(y)).copied().collect();
            let exceptions: Vec<(NaiveDate, DayKind)> = state.exceptions.iter().map(|(d, k)| (*d, *k)).collect();
            (state.calendar_years.clone(), exceptions, lacking)
        };
        if !missing.is_empty() || !lacking_years.is_empty() {
            let calendars = self.ask_catalogue(missing, lacking_years, &mut known).await?;
            for year in calendars {
                have_years.insert(year.year);
                exceptions
                    .extend(year.exceptions.into_iter().filter_map(|e| Some((e.day.parse().ok()?, day_kind(e.kind)?))));
            }
        }
        Ok((known, WorkingCalendar::new(have_years, exceptions)))
    }

    /// One call for everything the copy does not know; what the catalogue says is absent is remembered.
    async fn ask_catalogue(
        &self,
        missing: Wanted,
        calendar_years: Vec<i32>,
        known: &mut Known,
    ) -> ServiceResult<Vec<CalendarYearExceptions>> {
        let request = CheckReferencesRequest {
            center_codes: missing.centers.iter().cloned().collect(),
            agency_codes: missing.agencies.iter().cloned().collect(),
            procedures: missing
                .procedures
                .iter()
                .map(|(code, day)| ProcedureOnDay { procedure_code: code.clone(), day: day.to_string() })
                .collect(),
            received: missing
                .received
                .iter()
                .map(|(center, code, day)| CenterProcedureOnDay {
                    center_code: center.clone(),
                    procedure_code: code.clone(),
                    day: day.to_string(),
                })
                .collect(),
            calendar_years,
        };
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let answer = self
            .catalogue
            .clone()
            .check_references(request)
            .await
            .map_err(|s| ServiceError::from_upstream("catalogue", s))?
            .into_inner();
        let mut absent = Vec::new();
        let mut sort = |exists: bool, reference: Reference| {
            if exists {
                match reference {
                    Reference::Center(c) => known.centers.insert(c),
                    Reference::Agency(a) => known.agencies.insert(a),
                    Reference::Procedure(code, day) => known.procedures.insert((code, day)),
                    Reference::Received(center, code, day) => known.received.insert((center, code, day)),
                };
            } else {
                absent.push(reference);
            }
        };
        let answered = |asked: usize, got: usize| {
            if asked == got {
                Ok(())
            } else {
                Err(ServiceError::Internal(anyhow::anyhow!("the catalogue answered {got} of {asked} references")))
            }
        };
        answered(missing.centers.len(), answer.centers_exist.len())?;
        answered(missing.agencies.len(), answer.agencies_exist.len())?;
        answered(missing.procedures.len(), answer.procedures_in_force.len())?;
        answered(missing.received.len(), answer.received.len())?;
        for (c, exists) in missing.centers.into_iter().zip(answer.centers_exist) {
            sort(exists, Reference::Center(c));
        }
        for (a, exists) in missing.agencies.into_iter().zip(answer.agencies_exist) {
            sort(exists, Reference::Agency(a));
        }
        for ((code, day), exists) in missing.procedures.into_iter().zip(answer.procedures_in_force) {
            sort(exists, Reference::Procedure(code, day));
        }
        for ((center, code, day), exists) in missing.received.into_iter().zip(answer.received) {
            sort(exists, Reference::Received(center, code, day));
        }
        self.state.write().expect("catalogue view").remember_absent(absent, answer.cursor);
        Ok(answer.calendars)
    }

    /// How many lookups the copy has made of the catalogue since it started.
    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }
}
