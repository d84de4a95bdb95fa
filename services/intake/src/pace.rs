//! Bulk streams yield to the change stream's live followers. While a follower that has once caught up with the
//! stream (aggregation, keeping its figures current) is more than [`LAG_ALLOWED`] behind it, a bulk stream waits
//! before storing its next message, at most [`MAX_WAIT`] a message. A province's bulk load then runs at the pace
//! its followers apply it, and the changes of ordinary pushes, which never wait, reach them within about a second
//! instead of queueing behind minutes of bulk changes.
//!
//! A follower starting from far behind (a new replica replaying the history) is not live until it first reaches
//! the head, so it never holds bulk loads back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How far behind the stream's head a live follower may fall before bulk streams wait for it.
pub const LAG_ALLOWED: Duration = Duration::from_millis(100);
/// The longest a bulk stream's message waits, so that a follower that stopped reading without going away slows
/// bulk loads down but never stops them.
pub const MAX_WAIT: Duration = Duration::from_secs(5);
const STEP: Duration = Duration::from_millis(10);

/// The stream's followers, as bulk streams see them.
#[derive(Debug, Clone, Default)]
pub struct FollowerPace {
    followers: Arc<Mutex<Followers>>,
}

#[derive(Debug, Default)]
struct Followers {
    next_id: u64,
    /// Live followers: when each was last at the head of the stream.
    last_at_head: HashMap<u64, Instant>,
}

/// One follower of the stream, registered while its stream lasts.
#[derive(Debug)]
pub struct Follower {
    pace: FollowerPace,
    id: u64,
}

impl FollowerPace {
    fn followers(&self) -> std::sync::MutexGuard<'_, Followers> {
        // The map stays consistent whatever panicked while holding it: every change to it is one statement.
        self.followers.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a new follower, not live until it first reaches the head.
    pub fn follower(&self) -> Follower {
        let mut followers = self.followers();
        followers.next_id += 1;
        Follower { pace: self.clone(), id: followers.next_id }
    }

    /// Whether a live follower has been away from the head for longer than [`LAG_ALLOWED`].
    pub fn behind(&self) -> bool {
        let now = Instant::now();
        self.followers().last_at_head.values().any(|at| now.duration_since(*at) > LAG_ALLOWED)
    }

    /// Waits while a live follower is behind, at most [`MAX_WAIT`]; returns how long it waited.
    pub async fn yield_to_followers(&self) -> Duration {
        let started = Instant::now();
        while self.behind() && started.elapsed() < MAX_WAIT {
            tokio::time::sleep(STEP).await;
        }
        started.elapsed()
    }
}

impl Follower {
    /// The follower has read every final change: it is live from now on, and not behind.
    pub fn at_head(&self) {
        self.pace.followers().last_at_head.insert(self.id, Instant::now());
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.pace.followers().last_at_head.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_follower_holds_bulk_back_only_once_live_and_only_while_behind() {
        let pace = FollowerPace::default();
        let replaying = pace.follower();
        assert!(!pace.behind(), "a follower that never reached the head is not live");
        replaying.at_head();
        assert!(!pace.behind(), "just at the head");
        tokio::time::sleep(LAG_ALLOWED + Duration::from_millis(50)).await;
        assert!(pace.behind(), "away from the head for longer than allowed");

        // The wait ends once the follower is back at the head, well before the longest wait.
        let catching_up = {
            let pace = pace.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                replaying.at_head();
                assert!(!pace.behind());
                replaying
            })
        };
        let waited = pace.yield_to_followers().await;
        assert!(waited >= Duration::from_millis(90) && waited < MAX_WAIT, "waited {waited:?}");
        let follower = catching_up.await.unwrap();

        // A follower that went away holds nothing back.
        tokio::time::sleep(LAG_ALLOWED + Duration::from_millis(50)).await;
        assert!(pace.behind());
        drop(follower);
        assert!(!pace.behind());
        assert!(pace.yield_to_followers().await < Duration::from_millis(50));
    }
}
