//! Summaries of latency samples, and the peak memory of a process.

use std::time::Duration;

/// p50, p95 and mean of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
}

impl Latency {
    /// Summarises `samples`; `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Self> {
        let mut millis: Vec<f64> = samples.iter().map(|sample| to_ms(*sample)).collect();
        millis.sort_by(f64::total_cmp);
        Some(Self {
            p50_ms: percentile(&millis, 50.0)?,
            p95_ms: percentile(&millis, 95.0)?,
            mean_ms: millis.iter().sum::<f64>() / millis.len() as f64,
        })
    }
}

/// The `p`th percentile (0..=100) of `sorted` (ascending), interpolating linearly between the
/// two nearest ranks; `None` for an empty slice or a `p` outside 0..=100.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let lower = rank.floor() as usize;
    let upper = rank.ceil() as usize;
    let fraction = rank - lower as f64;
    Some(sorted[lower] + (sorted[upper] - sorted[lower]) * fraction)
}

/// A duration in milliseconds.
pub fn to_ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Rows per second for `rows` written in `elapsed`.
pub fn rows_per_second(rows: usize, elapsed: Duration) -> f64 {
    rows as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
}

/// `VmHWM` (peak resident set size) in bytes from the text of `/proc/<pid>/status`.
pub fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let mut words = line["VmHWM:".len()..].split_whitespace();
    let kibibytes: u64 = words.next()?.parse().ok()?;
    (words.next()? == "kB").then_some(kibibytes * 1024)
}

/// This process's peak resident set size in bytes (`None` where `/proc` does not exist).
pub fn own_peak_rss() -> Option<u64> {
    parse_vm_hwm(&std::fs::read_to_string("/proc/self/status").ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: Option<f64>, expected: f64) -> bool {
        actual.is_some_and(|value| (value - expected).abs() < 1e-9)
    }

    #[test]
    fn percentile_interpolates_between_ranks() {
        let sorted = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&sorted, 0.0), Some(1.0));
        assert_eq!(percentile(&sorted, 100.0), Some(4.0));
        assert_eq!(percentile(&sorted, 50.0), Some(2.5));
        assert!(close(percentile(&sorted, 95.0), 3.85));
    }

    #[test]
    fn percentile_of_odd_count_median_is_the_middle_value() {
        let sorted: Vec<f64> = (1..=101).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(51.0));
        assert!(close(percentile(&sorted, 95.0), 96.0));
        assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
    }

    #[test]
    fn percentile_refuses_empty_input_and_bad_p() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1.0], 101.0), None);
        assert_eq!(percentile(&[1.0], f64::NAN), None);
    }

    #[test]
    fn latency_summary_sorts_its_samples() {
        let samples = [30, 10, 20].map(Duration::from_millis);
        let latency = Latency::of(&samples).unwrap();
        assert_eq!(latency.p50_ms, 20.0);
        assert_eq!(latency.mean_ms, 20.0);
        assert_eq!(Latency::of(&[]), None);
    }

    #[test]
    fn vm_hwm_is_read_in_bytes() {
        let status =
            "Name:\tembedstore\nVmPeak:\t  300000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(51_200 * 1024));
        assert_eq!(parse_vm_hwm("Name:\tzombie\nState:\tZ (zombie)\n"), None);
        assert_eq!(parse_vm_hwm("VmHWM:\t  12 MB\n"), None);
        assert_eq!(parse_vm_hwm("VmHWM:\t  x kB\n"), None);
    }

    #[test]
    fn this_process_has_a_peak_rss() {
        assert!(own_peak_rss().unwrap() > 0);
    }
}
