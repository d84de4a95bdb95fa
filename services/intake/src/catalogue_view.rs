//! Intake's copy of what it needs from the catalogue: which centers and agencies exist, which procedures are in
//! force on which days, which procedures each center receives, and the working-day calendar.
//!
//! The copy follows the catalogue's change stream, so checking a pushed cell costs no call. A reference the copy
//! does not know (the catalogue published it a moment ago, or the copy is still catching up after a start) is
//! asked of the catalogue once per push for all such references together, never once per cell.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
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
use tonic::Code;

/// A version's span: in force on `[from, to)`.
type Span = (NaiveDate, Option<NaiveDate>);

fn covers(span: &Span, day: NaiveDate) -> bool {
    span.0 <= day && span.1.is_none_or(|to| day < to)
}

#[derive(Debug, Default)]
struct State {
    cursor: u64,
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
}

impl CatalogueView {
    /// Starts following the catalogue's changes in the background, until `stop`.
    /// `catalogue` answers lookups (with a request timeout); `changes` follows the change stream (without one).
    pub fn start(catalogue: CatalogueClient, changes: CatalogueClient, mut stop: StopSignal) -> CatalogueView {
        let view = CatalogueView { state: Arc::default(), catalogue };
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
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The cursor of the last catalogue change applied.
    pub fn cursor(&self) -> u64 {
        self.state.read().expect("catalogue view").cursor
    }

    /// Answers everything `wanted` asks, from the copy where it knows, and from the catalogue, in one round of
    /// calls, for what it does not.
    pub async fn check(&self, wanted: Wanted) -> ServiceResult<Known> {
        let mut known = Known::default();
        let mut missing = Wanted::default();
        {
            let state = self.state.read().expect("catalogue view");
            for c in wanted.centers {
                if state.centers.contains(&c) {
                    known.centers.insert(c);
                } else {
                    missing.centers.insert(c);
                }
            }
            for a in wanted.agencies {
                if state.agencies.contains(&a) {
                    known.agencies.insert(a);
                } else {
                    missing.agencies.insert(a);
                }
            }
            for (code, day) in wanted.procedures {
                if state.procedure_in_force(&code, day) {
                    known.procedures.insert((code, day));
                } else {
                    missing.procedures.insert((code, day));
                }
            }
            for (center, code, day) in wanted.received {
                if state.receives(&center, &code, day) {
                    known.received.insert((center, code, day));
                } else {
                    missing.received.insert((center, code, day));
                }
            }
        }
        self.ask_catalogue(missing, &mut known).await?;
        Ok(known)
    }

    async fn ask_catalogue(&self, missing: Wanted, known: &mut Known) -> ServiceResult<()> {
        let mut catalogue = self.catalogue.clone();
        if !missing.centers.is_empty() {
            let request =
                ListCentersRequest { center_codes: missing.centers.into_iter().collect(), ..Default::default() };
            let found = catalogue
                .list_centers(request)
                .await
                .map_err(|s| ServiceError::from_upstream("catalogue", s))?
                .into_inner();
            known.centers.extend(found.centers.into_iter().map(|c| c.code));
        }
        if !missing.agencies.is_empty() {
            let found = catalogue
                .list_agencies(ListAgenciesRequest::default())
                .await
                .map_err(|s| ServiceError::from_upstream("catalogue", s))?;
            known.agencies.extend(
                found.into_inner().agencies.into_iter().map(|a| a.code).filter(|c| missing.agencies.contains(c)),
            );
        }
        let mut by_day: BTreeMap<NaiveDate, Vec<String>> = BTreeMap::new();
        for (code, day) in missing.procedures {
            by_day.entry(day).or_default().push(code);
        }
        for (day, codes) in by_day {
            let request = GetProceduresRequest { codes, as_of: day.to_string() };
            let found = catalogue
                .get_procedures(request)
                .await
                .map_err(|s| ServiceError::from_upstream("catalogue", s))?
                .into_inner();
            known.procedures.extend(found.procedures.into_iter().map(|p| (p.code, day)));
        }
        let mut lists: BTreeMap<(String, NaiveDate), Vec<String>> = BTreeMap::new();
        for (center, code, day) in missing.received {
            lists.entry((center, day)).or_default().push(code);
        }
        for ((center, day), codes) in lists {
            let request = ListCenterProceduresRequest { center_code: center.clone(), as_of: day.to_string() };
            let received: HashSet<String> = match catalogue.list_center_procedures(request).await {
                Ok(list) => list.into_inner().procedure_codes.into_iter().collect(),
                Err(status) if status.code() == Code::NotFound => HashSet::new(),
                Err(status) => return Err(ServiceError::from_upstream("catalogue", status)),
            };
            for code in codes.into_iter().filter(|c| received.contains(c)) {
                known.received.insert((center.clone(), code, day));
            }
        }
        Ok(())
    }

    /// The working-day calendar of the years given, from the copy, asking the catalogue for years it lacks.
    /// Years the catalogue has no calendar for are left out, and the calendar says so when asked about them.
    pub async fn calendar(&self, years: BTreeSet<i32>) -> ServiceResult<WorkingCalendar> {
        let (mut have, mut exceptions, lacking) = {
            let state = self.state.read().expect("catalogue view");
            let lacking: Vec<i32> = years.iter().filter(|y| !state.calendar_years.contains(y)).copied().collect();
            let exceptions: Vec<(NaiveDate, DayKind)> = state.exceptions.iter().map(|(d, k)| (*d, *k)).collect();
            (state.calendar_years.clone(), exceptions, lacking)
        };
        let mut catalogue = self.catalogue.clone();
        for year in lacking {
            match catalogue.get_calendar_year(GetCalendarYearRequest { year }).await {
                Ok(found) => {
                    have.insert(year);
                    exceptions.extend(
                        found
                            .into_inner()
                            .exceptions
                            .into_iter()
                            .filter_map(|e| Some((e.day.parse().ok()?, day_kind(e.kind)?))),
                    );
                }
                Err(status) if status.code() == Code::NotFound => {}
                Err(status) => return Err(ServiceError::from_upstream("catalogue", status)),
            }
        }
        Ok(WorkingCalendar::new(have, exceptions))
    }
}
