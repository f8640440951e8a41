//! CPU time from `/proc` (Linux, through [`cpu_time`]): this process's and its threads' by name
//! (the load generator, the holder's PCM reporting, the PCM simulator), and the PostgreSQL
//! server's processes. The
//! machine-wide figures of `/proc/stat` are left alone: on this project's virtual machines they
//! lag the processes' own. A closed-loop throughput figure moves with everything else
//! the machine does; the CPU time the server's own processes spend per request is far
//! steadier.

use std::collections::HashMap;

use aberta_ecosystem::cpu_time;
use aberta_ecosystem::pcm_sim::OWN_THREADS as SIMULATOR_THREADS;
use aberta_holder::operations::REPORTING_THREADS;

/// The name of the load generator's threads (the bench drives the capture windows from a
/// runtime of its own, so its CPU time can be told from the server's).
pub const LOAD_THREADS: &str = "bench-load";

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
        let threads = cpu_time::threads(&[LOAD_THREADS, REPORTING_THREADS, SIMULATOR_THREADS])?;
        Some(Ticks {
            process: cpu_time::this_process()?,
            postgres: cpu_time::processes("postgres")?,
            load: threads[0],
            reporting: threads[1],
            simulator: threads[2],
        })
    }

    /// What was spent from `before` to `self`.
    pub fn since(&self, before: &Ticks) -> CpuUse {
        let seconds = |ticks: u64| ticks as f64 / cpu_time::TICKS_PER_S;
        let s = |a: u64, b: u64| seconds(a.saturating_sub(b));
        CpuUse {
            process: s(self.process, before.process),
            postgres: seconds(cpu_time::grown(&self.postgres, &before.postgres)),
            load: s(self.load, before.load),
            reporting: s(self.reporting, before.reporting),
            simulator: s(self.simulator, before.simulator),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
