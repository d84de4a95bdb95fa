//! One poller per watched scope: every late-case watch of the same unit (or center) and horizon shares one
//! sweep of the case records, however many offices keep the page open. Each watch keeps only what it has
//! emitted, so it still emits each case once per state.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use onestop_proto::aggregation::v1::WatchLateCasesResponse;
use tokio::sync::watch;
use tonic::Status;

use super::AggregationApi;

/// What a watch is of: the scope's centers (its key names them) and the due-soon horizon in working days.
pub type WatchKey = (String, u32);

/// The latest sweep: every case overdue or due soon, or why the sweep failed.
pub type Sweep = Option<Arc<Result<Vec<WatchLateCasesResponse>, Status>>>;

/// The pollers running, by what they watch.
#[derive(Debug, Default, Clone)]
pub struct WatchHub {
    pollers: Arc<Mutex<HashMap<WatchKey, Arc<watch::Sender<Sweep>>>>>,
}

impl WatchHub {
    /// A subscription to the sweeps of `key`, starting its poller if none runs.
    pub fn subscribe(&self, api: &AggregationApi, key: WatchKey, centers: Vec<String>) -> watch::Receiver<Sweep> {
        let mut pollers = self.pollers.lock().expect("the hub's lock is never poisoned");
        if let Some(sender) = pollers.get(&key) {
            return sender.subscribe();
        }
        let (sender, receiver) = watch::channel(None);
        let sender = Arc::new(sender);
        pollers.insert(key.clone(), sender.clone());
        tokio::spawn(poll(api.clone(), self.clone(), key, centers, sender));
        receiver
    }

    /// How many pollers run now.
    pub fn pollers(&self) -> usize {
        self.pollers.lock().expect("the hub's lock is never poisoned").len()
    }

    /// Removes `key`'s poller if nobody watches it any more; receivers are made only under the same lock, so
    /// none can appear after this says there are none.
    fn retire_if_unwatched(&self, key: &WatchKey, sender: &watch::Sender<Sweep>) -> bool {
        let mut pollers = self.pollers.lock().expect("the hub's lock is never poisoned");
        if sender.receiver_count() == 0 {
            pollers.remove(key);
            true
        } else {
            false
        }
    }
}

/// Sweeps `centers` whenever case records were applied (or every [`super::monitoring::WATCH_POLL`], as the day
/// can change with no push) until nobody watches or the service stops.
async fn poll(
    api: AggregationApi,
    hub: WatchHub,
    key: WatchKey,
    centers: Vec<String>,
    sender: Arc<watch::Sender<Sweep>>,
) {
    let mut stop = api.stop.clone();
    let mut waiter = api.applied.waiter();
    loop {
        waiter.mark_seen();
        let swept = api.sweep_all(&centers, key.1).await.map_err(Status::from);
        sender.send_replace(Some(Arc::new(swept)));
        tokio::select! {
            _ = waiter.wait(super::monitoring::WATCH_POLL) => {}
            _ = sender.closed() => {}
            _ = stop.stopped() => {}
        }
        if stop.is_stopped() || hub.retire_if_unwatched(&key, &sender) {
            return;
        }
    }
}

/// The events of `sweep` not yet emitted in that state, remembering them in `emitted` (and forgetting cases
/// that left the lists).
pub fn news(
    sweep: &[WatchLateCasesResponse],
    emitted: &mut HashMap<String, (i32, NaiveDate)>,
) -> Vec<WatchLateCasesResponse> {
    let listed: HashSet<&str> = sweep.iter().filter_map(|e| e.case.as_ref()).map(|c| c.case_code.as_str()).collect();
    emitted.retain(|code, _| listed.contains(code.as_str()));
    let mut news = Vec::new();
    for event in sweep {
        let Some(case) = &event.case else { continue };
        let Ok(due) = case.due_date.parse::<NaiveDate>() else { continue };
        let state = (event.kind, due);
        if emitted.get(&case.case_code) != Some(&state) {
            emitted.insert(case.case_code.clone(), state);
            news.push(event.clone());
        }
    }
    news
}
