//! CPU time from `/proc` (Linux), for the measurements that run the simulators beside the
//! server: this process's threads by name, and other processes (the database server's) by pid.
//! Every figure is in ticks of `USER_HZ`; `None` where `/proc` cannot be read.

use std::collections::HashMap;
use std::path::Path;

/// `USER_HZ`, the unit of `/proc/*/stat` times on every Linux platform.
pub const TICKS_PER_S: f64 = 100.0;

/// This process, every thread.
pub fn this_process() -> Option<u64> {
    Some(stat_file(Path::new("/proc/self/stat"))?.1)
}

/// This process's threads whose names start with each of `prefixes`, summed per prefix (a
/// thread counts for the first prefix it matches).
pub fn threads(prefixes: &[&str]) -> Option<Vec<u64>> {
    let mut sums = vec![0; prefixes.len()];
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Some((name, ticks)) = stat_file(&task.path().join("stat")) else {
            continue;
        };
        if let Some(i) = prefixes.iter().position(|p| name.starts_with(p)) {
            sums[i] += ticks;
        }
    }
    Some(sums)
}

/// Every process named `name`, by pid. A process that ends between two samples takes its time
/// with it, so compare samples with [`grown`].
pub fn processes(name: &str) -> Option<HashMap<u32, u64>> {
    let mut found = HashMap::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some((process, ticks)) = stat_file(&entry.path().join("stat"))
            && process == name
        {
            found.insert(pid, ticks);
        }
    }
    Some(found)
}

/// The time the processes alive in `after` spent since `before` (a new one counts whole).
pub fn grown(after: &HashMap<u32, u64>, before: &HashMap<u32, u64>) -> u64 {
    after
        .iter()
        .map(|(pid, t)| t.saturating_sub(before.get(pid).copied().unwrap_or(0)))
        .sum()
}

fn stat_file(path: &Path) -> Option<(String, u64)> {
    parse_stat(&std::fs::read_to_string(path).ok()?)
}

/// `(name, utime + stime)` from a process's or a thread's `stat` file.
fn parse_stat(stat: &str) -> Option<(String, u64)> {
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
    fn a_name_may_hold_spaces_and_brackets() {
        let stat = "4242 (pcm-sim (1)) S 1 1 1 0 -1 4194368 10 0 0 0 250 30 0 0 20 0 1 0 5";
        assert_eq!(parse_stat(stat), Some(("pcm-sim (1)".to_string(), 280)));
        assert_eq!(parse_stat("4242 (short) S 1"), None);
    }

    #[test]
    fn only_processes_alive_at_the_second_sample_count() {
        let before = HashMap::from([(1, 100), (2, 50)]);
        let after = HashMap::from([(1, 130), (3, 7)]);
        assert_eq!(grown(&after, &before), 37);
    }
}
