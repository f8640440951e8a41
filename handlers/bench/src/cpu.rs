//! CPU time from `/proc` (Linux): this process's and its threads' by name (the load generator,
//! the holder's PCM reporting, the PCM simulator), and the PostgreSQL server's processes. The
//! machine-wide figures of `/proc/stat` are left alone: on this project's virtual machines they
//! lag the processes' own. A closed-loop throughput figure moves with everything else
//! the machine does; the CPU time the server's own processes spend per request is far
//! steadier.

use std::collections::HashMap;
use std::path::Path;

use aberta_ecosystem::pcm_sim::OWN_THREADS as SIMULATOR_THREADS;
use aberta_holder::operations::REPORTING_THREADS;

/// The name of the load generator's threads (the bench drives the capture windows from a
/// runtime of its own, so its CPU time can be told from the server's).
pub const LOAD_THREADS: &str = "bench-load";

/// `USER_HZ`, the unit of `/proc` times on every Linux platform.
const TICKS_PER_S: f64 = 100.0;

/// Cumulative CPU ticks at one moment.
#[derive(Debug, Clone, Default)]
pub struct Ticks {
    /// This process, every thread.
    process: u64,
    /// Every process named `postgres` (the database server, when it runs on this machine), by
    /// pid: a backend that ends between two samples takes its time with it, so only the
    /// processes alive at the second sample are compared.
    postgres: HashMap<u32, u64>,
    load: u64,
    reporting: u64,
    simulator: u64,
}

/// CPU seconds spent between two samples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuUse {
    /// This process: the holder, the load generator and the simulator.
    pub process: f64,
    /// The PostgreSQL server's processes.
    pub postgres: f64,
    /// The load generator's threads.
    pub load: f64,
    /// The holder's capture writer and PCM reporter (their thread).
    pub reporting: f64,
    /// The PCM simulator's threads.
    pub simulator: f64,
}

impl CpuUse {
    /// What serving took: this process without the load generator, and the database server.
    pub fn server(&self) -> f64 {
        (self.process - self.load).max(0.0) + self.postgres
    }

    pub fn add(&mut self, other: &CpuUse) {
        self.process += other.process;
        self.postgres += other.postgres;
        self.load += other.load;
        self.reporting += other.reporting;
        self.simulator += other.simulator;
    }
}

impl Ticks {
    /// Now; `None` where `/proc` cannot be read (the report then has no CPU figures).
    pub fn now() -> Option<Ticks> {
        let mut ticks = Ticks {
            process: thread(Path::new("/proc/self/stat"))?.1,
            ..Ticks::default()
        };
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some((name, t)) = thread(&entry.path().join("stat"))
                && name == "postgres"
            {
                ticks.postgres.insert(pid, t);
            }
        }
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let Some((name, t)) = thread(&task.path().join("stat")) else {
                continue;
            };
            if name.starts_with(LOAD_THREADS) {
                ticks.load += t;
            } else if name.starts_with(REPORTING_THREADS) {
                ticks.reporting += t;
            } else if name.starts_with(SIMULATOR_THREADS) {
                ticks.simulator += t;
            }
        }
        Some(ticks)
    }

    /// What was spent from `before` to `self`.
    pub fn since(&self, before: &Ticks) -> CpuUse {
        let s = |a: u64, b: u64| a.saturating_sub(b) as f64 / TICKS_PER_S;
        CpuUse {
            process: s(self.process, before.process),
            postgres: self
                .postgres
                .iter()
                .map(|(pid, t)| s(*t, before.postgres.get(pid).copied().unwrap_or(0)))
                .sum(),
            load: s(self.load, before.load),
            reporting: s(self.reporting, before.reporting),
            simulator: s(self.simulator, before.simulator),
        }
    }
}

/// `(name, utime + stime)` from a process's or a thread's `stat` file.
fn thread(path: &Path) -> Option<(String, u64)> {
    parse_thread(&std::fs::read_to_string(path).ok()?)
}

fn parse_thread(stat: &str) -> Option<(String, u64)> {
    // The name sits between the first '(' and the last ')' and may hold spaces or brackets.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the file; this list starts at field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_name_may_hold_spaces_and_brackets() {
        let stat = "4242 (pcm-sim (1)) S 1 1 1 0 -1 4194368 10 0 0 0 250 30 0 0 20 0 1 0 5";
        assert_eq!(parse_thread(stat), Some(("pcm-sim (1)".to_string(), 280)));
        assert_eq!(parse_thread("4242 (short) S 1"), None);
    }

    #[test]
    fn this_process_is_sampled_as_it_works() {
        let before = Ticks::now().expect("/proc is readable on Linux");
        // Work until the process's own counter moves (a tick is 10 ms of CPU); a sampler that
        // never sees it fails at the wall-clock cap.
        let started = std::time::Instant::now();
        let mut x = 1u64;
        let used = loop {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            let used = Ticks::now().expect("/proc is readable").since(&before);
            if used.process > 0.0 || started.elapsed() > std::time::Duration::from_secs(20) {
                break used;
            }
        };
        assert!(used.process > 0.0, "no CPU time seen in 20 s of work");
        assert!(used.server() > 0.0 && used.load == 0.0, "{used:?}");
    }
}
