//! Wakes the streams of a service when a change it logs commits: writers `NOTIFY` a channel in their
//! transaction, and one database listener per service turns that into a counter every stream can wait on.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;

/// Sends the wake-up for `channel` when the current transaction commits.
pub async fn notify_on_commit(tx: &mut sqlx::PgConnection, channel: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')").bind(channel).execute(tx).await?;
    Ok(())
}

/// The commits seen on one channel, for streams to wait on.
#[derive(Debug, Clone)]
pub struct Notifier {
    commits: watch::Receiver<u64>,
}

impl Notifier {
    /// Starts listening; the listener reconnects by itself if its connection drops, and stops once no stream
    /// can wait on it any more (the service has stopped), before the database may go away with it.
    pub async fn start(pool: &PgPool, channel: &'static str) -> anyhow::Result<Notifier> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(channel).await?;
        let (sender, commits) = watch::channel(0u64);
        tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    () = sender.closed() => return,
                    received = listener.recv() => received,
                };
                match received {
                    Ok(_) => sender.send_modify(|n| *n += 1),
                    // The service closed its pool on the way out.
                    Err(sqlx::Error::PoolClosed) => return,
                    Err(error) => {
                        tracing::warn!(%error, channel, "change listener lost its connection; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Notifier { commits })
    }

    /// A handle for one stream: [`Waiter::mark_seen`] before reading, [`Waiter::wait`] after.
    pub fn waiter(&self) -> Waiter {
        Waiter { commits: self.commits.clone() }
    }
}

pub struct Waiter {
    commits: watch::Receiver<u64>,
}

impl Waiter {
    /// Marks every commit so far as seen, so one that lands during the next read wakes the next wait.
    pub fn mark_seen(&mut self) {
        self.commits.borrow_and_update();
    }

    /// Waits for a commit not yet seen, or `at_most`, whichever comes first.
    pub async fn wait(&mut self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.commits.changed()).await;
    }
}
