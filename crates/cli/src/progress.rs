//! A progress bar for pushes.

use std::io::Write;

/// A progress bar on stderr: `[#######.......]  45% 6,750/15,000 cells, 2,250/s`. Drawn only when stderr is a
/// terminal; a log or a pipe gets one summary line at the end instead.
pub struct Progress {
    total: usize,
    what: &'static str,
    started: std::time::Instant,
    terminal: bool,
}

impl Progress {
    const WIDTH: usize = 30;

    pub fn new(total: usize, what: &'static str) -> Progress {
        use std::io::IsTerminal;
        Progress { total, what, started: std::time::Instant::now(), terminal: std::io::stderr().is_terminal() }
    }

    fn line(&self, done: usize) -> String {
        let fraction = if self.total == 0 { 1.0 } else { done as f64 / self.total as f64 };
        let filled = ((fraction * Self::WIDTH as f64).round() as usize).min(Self::WIDTH);
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        format!(
            "[{}{}] {:>3.0}% {done}/{} {}, {rate:.0}/s",
            "#".repeat(filled),
            ".".repeat(Self::WIDTH - filled),
            fraction * 100.0,
            self.total,
            self.what
        )
    }

    pub fn show(&self, done: usize) {
        if self.terminal {
            let _ = write!(std::io::stderr(), "\r{}", self.line(done));
        }
    }

    pub fn finish(&self, done: usize) {
        if self.terminal {
            eprintln!();
        } else {
            eprintln!("{}", self.line(done));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Progress;

    #[test]
    fn the_progress_bar_fills_with_the_share_done() {
        let progress = Progress { terminal: false, ..Progress::new(200, "cells") };
        let line = progress.line(50);
        assert!(line.starts_with(&format!("[{}{}]  25% 50/200 cells, ", "#".repeat(8), ".".repeat(22))), "{line}");
        assert!(progress.line(200).starts_with(&format!("[{}] 100%", "#".repeat(30))));
        assert!(Progress::new(0, "cases").line(0).contains("100% 0/0 cases"));
    }
}
