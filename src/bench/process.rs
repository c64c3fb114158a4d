//! What the kernel says about the server process: CPU time and memory, read
//! from `/proc/<pid>` (Linux). Only available when the server runs on this
//! machine and its pid is known.

use std::time::Duration;

/// One reading of a process's counters.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// User plus system CPU time since the process started.
    pub cpu: Duration,
    /// Resident memory now.
    pub rss_bytes: u64,
    /// The most resident memory the process has had.
    pub peak_rss_bytes: u64,
}

/// A process whose counters can be read.
#[derive(Debug, Clone, Copy)]
pub struct Watched {
    pid: u32,
}

impl Watched {
    pub fn new(pid: u32) -> Self {
        Self { pid }
    }

    /// `None` once the process is gone (or on a system without `/proc`).
    pub fn usage(&self) -> Option<Usage> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        Some(Usage {
            cpu: cpu_time(&stat)?,
            rss_bytes: status_kib(&status, "VmRSS:")? * 1024,
            peak_rss_bytes: status_kib(&status, "VmHWM:")? * 1024,
        })
    }
}

/// utime + stime from `/proc/<pid>/stat`: fields 14 and 15, counted after
/// the command name, which may itself hold spaces and parentheses.
fn cpu_time(stat: &str) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    let ticks = rustix::param::clock_ticks_per_second().max(1);
    Some(Duration::from_secs_f64(
        (user + system) as f64 / ticks as f64,
    ))
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_process() {
        let usage = Watched::new(std::process::id())
            .usage()
            .expect("/proc is readable");
        assert!(usage.rss_bytes > 0);
        assert!(usage.peak_rss_bytes >= usage.rss_bytes);
    }

    #[test]
    fn a_command_name_with_spaces_does_not_shift_the_fields() {
        let stat = "42 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0";
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        assert_eq!(cpu_time(stat), Some(Duration::from_secs_f64(300.0 / ticks)));
    }

    #[test]
    fn a_process_that_is_gone_has_no_usage() {
        assert!(Watched::new(u32::MAX).usage().is_none());
    }
}
