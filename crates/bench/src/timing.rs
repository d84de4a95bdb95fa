//! Repeated timings and their percentiles.

use std::future::Future;
use std::time::{Duration, Instant};

/// Timings of one measurement, sorted.
#[derive(Debug, Clone, Default)]
pub struct Timings(Vec<Duration>);

impl Timings {
    pub fn new(mut times: Vec<Duration>) -> Timings {
        times.sort();
        Timings(times)
    }

    /// The `p`-th quantile (0..=1), in milliseconds.
    pub fn ms(&self, p: f64) -> f64 {
        let Some(last) = self.0.len().checked_sub(1) else { return f64::NAN };
        let i = ((last as f64) * p).round() as usize;
        self.0[i.min(last)].as_secs_f64() * 1e3
    }

    pub fn runs(&self) -> usize {
        self.0.len()
    }

    /// "p50 … ms  p95 … ms  (n runs)".
    pub fn summary(&self, p_high: f64) -> String {
        format!(
            "p50 {:>9.1} ms  p{} {:>9.1} ms  ({} runs)",
            self.ms(0.5),
            (p_high * 100.0).round(),
            self.ms(p_high),
            self.runs()
        )
    }
}

/// Runs `run` twice to warm up, then `repetitions` timed times; returns the timings and the last answer.
pub async fn repeat<F, Fut, T>(repetitions: usize, mut run: F) -> anyhow::Result<(Timings, T)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let mut last = run().await?;
    run().await?;
    let mut times = Vec::with_capacity(repetitions);
    for _ in 0..repetitions {
        let started = Instant::now();
        last = run().await?;
        times.push(started.elapsed());
    }
    Ok((Timings::new(times), last))
}
