//! The figures of a run and their Markdown rendering.

use std::fmt::Write as _;
use std::time::Duration;

use crate::cpu::CpuUse;

/// PS256 (RSA-2048) rates of this machine, all cores at once.
#[derive(Debug, Clone)]
pub struct CryptoRates {
    pub threads: usize,
    pub sign_per_s: f64,
    pub verify_per_s: f64,
}

/// One scenario's timed window.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub name: &'static str,
    pub connections: usize,
    /// HTTP requests per iteration (the flow has several).
    pub http_requests: usize,
    /// Private-key PS256 signatures the server makes per iteration.
    pub server_signs: u32,
    /// PS256 verifications the server makes per iteration.
    pub server_verifies: u32,
    /// Iterations that succeeded.
    pub ok: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub failures: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// The pre-signed pool ran out before the window ended (throughput is over `elapsed`).
    pub exhausted: bool,
    pub presigned: usize,
    pub presign_time: Duration,
    /// The offered rate of an open-loop window (requests per second in all).
    pub offered: Option<f64>,
    /// CPU time the window took (the capture comparison measures it).
    pub cpu: Option<CpuUse>,
}

impl ScenarioResult {
    /// Successful iterations per second.
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The most iterations per second the server's own PS256 work allows on this machine.
    pub fn crypto_ceiling(&self, crypto: &CryptoRates) -> Option<f64> {
        let seconds = f64::from(self.server_signs) / crypto.sign_per_s
            + f64::from(self.server_verifies) / crypto.verify_per_s;
        (seconds > 0.0).then(|| 1.0 / seconds)
    }
}

/// The value at quantile `q` of sorted durations (nearest rank).
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub backend: String,
    /// The HTTP version the connections negotiated.
    pub protocol: String,
    pub crypto: CryptoRates,
    pub scenarios: Vec<ScenarioResult>,
    pub duration: Duration,
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The capture comparison's figures.
#[derive(Debug, Clone, Copy)]
pub struct CaptureCost {
    /// Requests per second over every window with capture on, pooled.
    pub with: f64,
    pub without: f64,
    pub rounds: usize,
    /// `1 - with / without`.
    pub pooled: f64,
    /// The lowest and highest cost of one round (its on window against its off window).
    pub lowest: f64,
    pub highest: f64,
    /// The same comparison in CPU time per request, when `/proc` could be read.
    pub cpu: Option<CpuCost>,
}

/// The capture comparison in CPU time per request: the server's (this process without the load
/// generator's threads, and the PostgreSQL server), pooled over every window of each kind.
/// CPU-bound throughput goes as its inverse.
#[derive(Debug, Clone, Copy)]
pub struct CpuCost {
    /// Microseconds per request with capture on and off.
    pub with_us: f64,
    pub without_us: f64,
    /// The throughput the CPU allows, lost to capture: `1 - without / with`.
    pub pooled: f64,
    pub lowest: f64,
    pub highest: f64,
    /// Of `with_us`: the capture writer's and PCM reporter's thread, and the PCM simulator.
    pub reporting_us: f64,
    pub simulator_us: f64,
    /// The throughput lost with the PCM simulator's time left out too, as if the PCM ran
    /// elsewhere, as the real one does.
    pub pooled_without_simulator: f64,
    /// Offered load of the windows (open loop), if any.
    pub offered: Option<f64>,
}

impl CpuCost {
    fn of(on: &[&ScenarioResult], off: &[&ScenarioResult]) -> Option<CpuCost> {
        let pooled = |w: &[&ScenarioResult]| -> Option<(CpuUse, usize)> {
            let mut sum = CpuUse::default();
            let mut ok = 0;
            for s in w {
                sum.add(s.cpu.as_ref()?);
                ok += s.ok;
            }
            (ok > 0).then_some((sum, ok))
        };
        let ((with, with_ok), (without, without_ok)) = (pooled(on)?, pooled(off)?);
        let per = |seconds: f64, ok: usize| seconds * 1e6 / ok as f64;
        let (with_us, without_us) = (
            per(with.server(), with_ok),
            per(without.server(), without_ok),
        );
        let rounds: Vec<f64> = on
            .iter()
            .zip(off)
            .filter_map(|(a, b)| {
                let (ca, cb) = (a.cpu?, b.cpu?);
                let (ua, ub) = (per(ca.server(), a.ok.max(1)), per(cb.server(), b.ok.max(1)));
                Some(1.0 - ub / ua.max(1e-9))
            })
            .collect();
        Some(CpuCost {
            with_us,
            without_us,
            pooled: 1.0 - without_us / with_us.max(1e-9),
            lowest: rounds.iter().copied().fold(f64::INFINITY, f64::min),
            highest: rounds.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            reporting_us: per(with.reporting, with_ok),
            simulator_us: per(with.simulator, with_ok),
            pooled_without_simulator: 1.0
                - without_us / (with_us - per(with.simulator, with_ok)).max(1e-9),
            offered: on.first().and_then(|s| s.offered),
        })
    }
}

impl Report {
    /// The capture comparison, when the run made one.
    pub fn capture_cost(&self) -> Option<CaptureCost> {
        let windows = |name: &str| -> Vec<&ScenarioResult> {
            self.scenarios.iter().filter(|s| s.name == name).collect()
        };
        let (on, off) = (windows(crate::CAPTURE_ON), windows(crate::CAPTURE_OFF));
        if on.is_empty() || on.len() != off.len() {
            return None;
        }
        let pooled = |w: &[&ScenarioResult]| {
            let ok: usize = w.iter().map(|s| s.ok).sum();
            let secs: f64 = w.iter().map(|s| s.elapsed.as_secs_f64()).sum();
            ok as f64 / secs.max(1e-9)
        };
        let (with, without) = (pooled(&on), pooled(&off));
        let rounds: Vec<f64> = on
            .iter()
            .zip(&off)
            .map(|(a, b)| 1.0 - a.per_second() / b.per_second().max(1e-9))
            .collect();
        Some(CaptureCost {
            with,
            without,
            rounds: on.len(),
            pooled: 1.0 - with / without.max(1e-9),
            lowest: rounds.iter().copied().fold(f64::INFINITY, f64::min),
            highest: rounds.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            cpu: CpuCost::of(&on, &off),
        })
    }

    pub fn failures(&self) -> usize {
        self.scenarios.iter().map(|s| s.failures).sum()
    }

    /// The first failure of the run, with its scenario.
    pub fn first_error(&self) -> Option<String> {
        self.scenarios
            .iter()
            .find_map(|s| s.first_error.as_ref().map(|e| format!("{}: {e}", s.name)))
    }

    /// The Markdown report; `command` is the command line, already in Markdown.
    pub fn markdown(&self, command: &str) -> String {
        let c = &self.crypto;
        let mut out = String::new();
        let _ = writeln!(out, "## Account holder load run\n");
        let _ = writeln!(out, "Command: {command}\n");
        let _ = writeln!(
            out,
            "Database: {}. Server and load generator share this machine's {} cores, in one \
             process; the server runs over real mutual TLS on loopback, each connection is a \
             keep-alive {} connection presenting the TPP's transport certificate.\n",
            self.backend, c.threads, self.protocol
        );
        let _ = writeln!(
            out,
            "PS256 (RSA-2048, josekit) on {} threads: **{:.0} signs/s**, **{:.0} verifies/s** \
             ({:.0} and {:.0} per core).\n",
            c.threads,
            c.sign_per_s,
            c.verify_per_s,
            c.sign_per_s / c.threads as f64,
            c.verify_per_s / c.threads as f64
        );
        let _ = writeln!(
            out,
            "| scenario | connections | requests | req/s | p50 | p99 |\n|---|---:|---:|---:|---:|---:|"
        );
        for s in &self.scenarios {
            let requests = if s.http_requests > 1 {
                format!(
                    "{} flows ({} HTTP)",
                    s.ok + s.failures,
                    (s.ok + s.failures) * s.http_requests
                )
            } else {
                (s.ok + s.failures).to_string()
            };
            let rate = if s.http_requests > 1 {
                format!(
                    "{:.0} flows/s ({:.0} HTTP/s)",
                    s.per_second(),
                    s.per_second() * s.http_requests as f64
                )
            } else {
                format!("{:.0}", s.per_second())
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                s.name,
                s.connections,
                requests,
                rate,
                ms(s.p50),
                ms(s.p99)
            );
        }
        if let Some(bare) = self.scenarios.iter().find(|s| s.name.starts_with("bare")) {
            let _ = writeln!(
                out,
                "\nData reads against the bare handler behind the same TLS:\n"
            );
            for s in self
                .scenarios
                .iter()
                .filter(|s| s.name.contains("every check"))
            {
                let _ = writeln!(
                    out,
                    "- {}: {} of the bare handler's rate",
                    s.name,
                    pct(s.per_second() / bare.per_second().max(1e-9))
                );
            }
        }
        if let Some(cost) = self.capture_cost() {
            let _ = writeln!(
                out,
                "\nCall capture and PCM reporting: {:.0} req/s with, {:.0} req/s without (all \
                 windows of each pooled, {} each): **{} of the throughput**; the windows' own \
                 cost ranged from {} to {}.",
                cost.with,
                cost.without,
                cost.rounds,
                pct(cost.pooled),
                pct(cost.lowest),
                pct(cost.highest),
            );
            if let Some(cpu) = cost.cpu {
                let load = match cpu.offered {
                    Some(rate) => format!("an open loop offering {rate:.0} req/s"),
                    None => "a closed loop".to_string(),
                };
                let _ = writeln!(
                    out,
                    "\nThe same windows in CPU time per request ({load}; the CPU \
                     time of this process without the load generator's threads, and of the \
                     PostgreSQL server, from the load's start until the holder had reported \
                     every call): {:.0} µs with, \
                     {:.0} µs without: **{} of the throughput the CPU allows**; single rounds \
                     ranged from {} to {}. With capture, the writer's and reporter's thread \
                     took {:.1} µs a request and the PCM simulator {:.1} µs; without the \
                     simulator's time (a real PCM runs elsewhere) the cost is **{}**.",
                    cpu.with_us,
                    cpu.without_us,
                    pct(cpu.pooled),
                    pct(cpu.lowest),
                    pct(cpu.highest),
                    cpu.reporting_us,
                    cpu.simulator_us,
                    pct(cpu.pooled_without_simulator),
                );
                let _ = writeln!(
                    out,
                    "\n| window | requests | server CPU | of it PostgreSQL | per request | \
                     reporting thread | simulator |\n|---|---:|---:|---:|---:|---:|---:|"
                );
                for s in self.scenarios.iter().filter(|s| s.cpu.is_some()) {
                    let Some(c) = s.cpu else { continue };
                    let per = |x: f64| x * 1e6 / s.ok.max(1) as f64;
                    let _ = writeln!(
                        out,
                        "| {} | {} | {:.2} s | {:.2} s | {:.0} µs | {:.1} µs | {:.1} µs |",
                        s.name,
                        s.ok,
                        c.server(),
                        c.postgres,
                        per(c.server()),
                        per(c.reporting),
                        per(c.simulator),
                    );
                }
            }
        }
        let _ = writeln!(out, "\nAgainst the crypto limit measured above:\n");
        let _ = writeln!(
            out,
            "| scenario | server PS256 work per iteration | ÷ sign rate | ÷ verify rate | ceiling from that work | share of ceiling |\n|---|---|---:|---:|---:|---:|"
        );
        for s in &self.scenarios {
            let rate = s.per_second();
            let ceiling = s.crypto_ceiling(c);
            let _ = writeln!(
                out,
                "| {} | {} sign, {} verify | {} | {} | {} | {} |",
                s.name,
                s.server_signs,
                s.server_verifies,
                pct(rate / c.sign_per_s),
                pct(rate / c.verify_per_s),
                ceiling.map_or("-".into(), |x| format!("{x:.0}/s")),
                ceiling.map_or("-".into(), |x| pct(rate / x)),
            );
        }
        let _ = writeln!(out, "\nNotes:\n");
        let _ = writeln!(
            out,
            "- Every request carries its own client assertion (unique `jti`), and the flow its \
             own request object and PKCE pair. They are all signed before each timed window \
             (pool sized from a warm-up run), so the load generator does no RSA signing while \
             it is measured:"
        );
        for s in &self.scenarios {
            let _ = writeln!(
                out,
                "  - {}: {} jobs pre-signed in {:.1} s{}",
                s.name,
                s.presigned,
                s.presign_time.as_secs_f64(),
                if s.exhausted {
                    format!(
                        "; the pool ran out after {:.1} s, throughput is over that time",
                        s.elapsed.as_secs_f64()
                    )
                } else {
                    String::new()
                }
            );
        }
        let _ = writeln!(
            out,
            "- The flow is PAR, `GET /authorize`, the portal's login and approval form posts \
             (the portal's approval cannot be skipped in process, so it is driven over HTTP \
             without fetching the pages) and the code exchange; its latency is the whole \
             flow's. The TPP does not decrypt or check the returned id_tokens.\n\
             - Introspection asks about one valid client_credentials token, authenticating \
             with private_key_jwt each time.\n\
             - Latencies are per iteration, from every recorded duration (sorted, nearest \
             rank); each timed window is {:.0} s after an untimed warm-up on the same \
             connections. TLS handshakes happen in the warm-up, not in the figures.",
            self.duration.as_secs_f64()
        );
        let failures = self.failures();
        if failures > 0 {
            let _ = writeln!(
                out,
                "\n**{failures} request(s) failed.** First error: {}",
                self.first_error().unwrap_or_default()
            );
        } else {
            let _ = writeln!(out, "\nNo request failed.");
        }
        out
    }
}
