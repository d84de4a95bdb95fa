//! Bulk streams yield to the change stream's live followers. While a follower that has once caught up with the
//! stream (aggregation, keeping its figures current) has had committed changes left to read for longer than
//! [`LAG_ALLOWED`], a bulk stream waits before storing its next message, at most [`MAX_WAIT`] a message. A
//! province's bulk load then runs at the pace its followers apply it, at most the message it is storing ahead of
//! them, and the changes of ordinary pushes, which never wait, reach them within about a second instead of
//! queueing behind minutes of bulk changes.
//!
//! A follower starting from far behind (a new replica replaying the history) is not live until it first reaches
//! the head, so it never holds bulk loads back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a live follower may have committed changes left to read before bulk streams wait for it: about one
/// read of the stream, so that a steady flow of ordinary pushes, each landing while the follower reads the one
/// before, does not hold bulk loads back.
pub const LAG_ALLOWED: Duration = Duration::from_millis(25);
/// The longest a bulk stream's message waits, so that a follower that stopped reading without going away slows
/// bulk loads down but never stops them.
pub const MAX_WAIT: Duration = Duration::from_secs(5);
const STEP: Duration = Duration::from_millis(5);

/// The stream's followers, as bulk streams see them.
#[derive(Debug, Clone, Default)]
pub struct FollowerPace {
    followers: Arc<Mutex<Followers>>,
}

#[derive(Debug, Default)]
struct Followers {
    next_id: u64,
    /// Pushes that logged changes, committed in this process so far.
    commits: u64,
    /// Live followers: since when each has had committed changes left to read, if it has.
    unread_since: HashMap<u64, Option<Instant>>,
}

/// One follower of the stream, registered while its stream lasts.
#[derive(Debug)]
pub struct Follower {
    pace: FollowerPace,
    id: u64,
}

/// A read of the stream by a follower: the commits it can see, and when it began.
#[derive(Debug, Clone, Copy)]
pub struct Read {
    commits: u64,
    began: Instant,
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

    /// A push that logged changes has committed: every live follower has something to read from now on.
    pub fn committed(&self) {
        let mut followers = self.followers();
        followers.commits += 1;
        let now = Instant::now();
        for since in followers.unread_since.values_mut() {
            since.get_or_insert(now);
        }
    }

    /// Whether a live follower has had changes left to read for longer than [`LAG_ALLOWED`].
    pub fn behind(&self) -> bool {
        let now = Instant::now();
        self.followers().unread_since.values().flatten().any(|since| now.duration_since(*since) > LAG_ALLOWED)
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
    /// A read of the stream begins.
    pub fn reading(&self) -> Read {
        Read { commits: self.pace.followers().commits, began: Instant::now() }
    }

    /// `read` found every final change: the follower is at the head (and live from now on), unless a push
    /// committed during the read, which is left for its next read.
    pub fn at_head(&self, read: Read) {
        let mut followers = self.pace.followers();
        let caught_up = followers.commits == read.commits;
        followers.unread_since.insert(self.id, (!caught_up).then_some(read.began));
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.pace.followers().unread_since.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_follower_holds_bulk_back_only_once_live_and_only_while_it_has_changes_to_read() {
        let pace = FollowerPace::default();
        let replaying = pace.follower();
        pace.committed();
        tokio::time::sleep(LAG_ALLOWED * 2).await;
        assert!(!pace.behind(), "a follower that never reached the head is not live");
        replaying.at_head(replaying.reading());
        tokio::time::sleep(LAG_ALLOWED * 2).await;
        assert!(!pace.behind(), "at the head, waiting for changes, however long");

        // A push commits; the follower has not read it for longer than allowed.
        pace.committed();
        assert!(!pace.behind(), "just committed");
        tokio::time::sleep(LAG_ALLOWED * 2).await;
        assert!(pace.behind(), "a change left to read for longer than allowed");

        // A push that commits during a read leaves the follower behind from the read's beginning.
        let read = replaying.reading();
        pace.committed();
        replaying.at_head(read);
        tokio::time::sleep(LAG_ALLOWED * 2).await;
        assert!(pace.behind(), "the change committed during the read is still to read");

        // The wait ends once the follower has read everything, well before the longest wait.
        let catching_up = {
            let pace = pace.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                replaying.at_head(replaying.reading());
                assert!(!pace.behind());
                replaying
            })
        };
        let waited = pace.yield_to_followers().await;
        assert!(waited >= Duration::from_millis(90) && waited < MAX_WAIT, "waited {waited:?}");
        let follower = catching_up.await.unwrap();

        // Reads that each begin after the commit before them keep up with a steady flow of pushes.
        for _ in 0..10 {
            pace.committed();
            let read = follower.reading();
            tokio::time::sleep(LAG_ALLOWED / 5).await;
            pace.committed();
            follower.at_head(read);
            assert!(!pace.behind(), "a push committed during the read is newer than allowed");
        }

        // A follower that went away holds nothing back.
        tokio::time::sleep(LAG_ALLOWED * 2).await;
        assert!(pace.behind());
        drop(follower);
        assert!(!pace.behind());
        assert!(pace.yield_to_followers().await < Duration::from_millis(50));
    }
}
