//! The numbers: exact latency percentiles over every request, a latency
//! histogram for the chart, and throughput (mean, median, per-second series).
//!
//! # Percentile definition
//!
//! Percentiles use the **nearest-rank** method over every sample, sorted
//! ascending: the p-th percentile of `n` samples is the sample at 1-based
//! rank `ceil(p / 100 × n)` (rank 1 for p = 0). It is always a latency that
//! was measured, never an interpolation: for the samples 1, 2, …, 100 the
//! p50 is 50, the p90 is 90, the p99 is 99 and the max (p100) is 100.

use std::time::Duration;

use serde::{Deserialize, Serialize};

const MIB: f64 = 1_048_576.0;

/// The nearest-rank `p`-th percentile (0 ≤ p ≤ 100) of ascending `sorted`
/// samples; `None` when there are none. See the [module docs](self).
#[must_use]
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    // p·n/100 rather than p/100·n keeps whole-number ranks exact; the small
    // epsilon absorbs the representation error of fractional p (99.9).
    let rank = (p * n as f64 / 100.0 - 1e-9).ceil().max(1.0) as usize;
    Some(sorted[rank.min(n) - 1])
}

/// The conventional median of unsorted values (the mean of the two middle
/// values for an even count); 0 for none.
#[must_use]
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        f64::midpoint(v[n / 2 - 1], v[n / 2])
    }
}

fn ms(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}

/// Latency of a set of requests, in milliseconds, from every sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Samples (requests).
    pub count: u64,
    /// Fastest.
    pub min_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
    /// Nearest-rank 50th percentile.
    pub p50_ms: f64,
    /// Nearest-rank 90th percentile.
    pub p90_ms: f64,
    /// Nearest-rank 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl LatencySummary {
    /// The summary of `samples` (any order). `None` for no samples.
    #[must_use]
    pub fn of(samples: &[Duration]) -> Option<Self> {
        let sorted = sorted_nanos(samples);
        Self::of_sorted_nanos(&sorted)
    }

    /// The summary of ascending nanosecond samples.
    #[must_use]
    pub fn of_sorted_nanos(sorted: &[u64]) -> Option<Self> {
        let (&first, &last) = (sorted.first()?, sorted.last()?);
        let sum: u128 = sorted.iter().map(|&x| u128::from(x)).sum();
        let at = |p| ms(percentile(sorted, p).unwrap_or(0));
        Some(Self {
            count: sorted.len() as u64,
            min_ms: ms(first),
            mean_ms: sum as f64 / sorted.len() as f64 / 1e6,
            p50_ms: at(50.0),
            p90_ms: at(90.0),
            p99_ms: at(99.0),
            max_ms: ms(last),
        })
    }
}

/// Durations as ascending nanoseconds.
#[must_use]
pub fn sorted_nanos(samples: &[Duration]) -> Vec<u64> {
    let mut v: Vec<u64> = samples
        .iter()
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .collect();
    v.sort_unstable();
    v
}

/// Request counts per latency bin, for the histogram chart.
///
/// Bins are `bin_ms` wide from 0; the last edge is a round number at or
/// above the p99 (so a long tail does not squash the chart), and samples at
/// or past it are counted in `overflow`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyHistogram {
    /// Width of one bin.
    pub bin_ms: f64,
    /// Requests per bin; bin `i` holds `[i·bin_ms, (i+1)·bin_ms)`.
    pub counts: Vec<u64>,
    /// Requests at or past `bin_ms × counts.len()`.
    pub overflow: u64,
}

/// Bins a histogram aims for.
const BINS: usize = 40;

/// The smallest "round" number (1, 2, 2.5 or 5 × 10^k) at or above `x`.
#[must_use]
pub fn nice_ceil(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 || x.is_infinite() {
        return 1.0;
    }
    let exp = x.log10().floor();
    let base = 10f64.powf(exp);
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * base >= x * (1.0 - 1e-12) {
            return m * base;
        }
    }
    10.0 * base
}

impl LatencyHistogram {
    /// Bins ascending nanosecond samples into about 40 round-width bins
    /// spanning 0 to the p99 (the max when the tail is short).
    #[must_use]
    pub fn of_sorted_nanos(sorted: &[u64]) -> Self {
        let Some(&max) = sorted.last() else {
            return Self::default();
        };
        let p99 = percentile(sorted, 99.0).unwrap_or(max);
        // A short tail (max within 1.5 × p99) is shown whole.
        let top = if max as f64 <= p99 as f64 * 1.5 {
            max
        } else {
            p99
        };
        let bin_ms = nice_ceil(ms(top).max(0.001) / BINS as f64);
        let bins = ((ms(top) / bin_ms).floor() as usize + 1).max(1);
        let mut counts = vec![0u64; bins];
        let mut overflow = 0;
        for &s in sorted {
            let i = (ms(s) / bin_ms).floor() as usize;
            match counts.get_mut(i) {
                Some(c) => *c += 1,
                None => overflow += 1,
            }
        }
        Self {
            bin_ms,
            counts,
            overflow,
        }
    }

    /// The upper edge of the last bin.
    #[must_use]
    pub fn upper_ms(&self) -> f64 {
        self.bin_ms * self.counts.len() as f64
    }
}

/// One completion: when it finished (since the run started), the payload
/// bytes it moved, and how many whole objects it finished (0 or 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Completion {
    /// When the request finished, since the start of the run.
    pub at: Duration,
    /// Payload bytes moved.
    pub bytes: u64,
    /// Objects finished by this request (a part finishes none).
    pub objects: u64,
}

/// What finished in one second of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SecondPoint {
    /// The second, from 0: completions at `[second, second + 1)` s.
    pub second: u64,
    /// How long the bucket lasted: 1 s, except for the run's last one
    /// (from half a second to just under two).
    pub span_s: f64,
    /// Payload bytes finished in it.
    pub bytes: u64,
    /// Objects finished in it.
    pub objects: u64,
    /// `bytes / span_s`, in MiB/s.
    pub mib_per_s: f64,
    /// `objects / span_s`.
    pub objects_per_s: f64,
}

/// Throughput of a run.
///
/// The mean is the total over the run's wall time. The series buckets every
/// completion by the second it finished in (a last partial second shorter
/// than half a second is merged into the one before it); the median is the
/// median of the buckets at least a second long (of every bucket when the
/// run is shorter than a second).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Wall time of the run.
    pub elapsed_s: f64,
    /// Payload bytes moved.
    pub bytes: u64,
    /// Objects finished.
    pub objects: u64,
    /// `bytes / elapsed_s` in MiB/s (MiB = 2^20 bytes).
    pub mib_per_s_mean: f64,
    /// Median of the per-second MiB/s.
    pub mib_per_s_median: f64,
    /// `objects / elapsed_s`.
    pub objects_per_s_mean: f64,
    /// Median of the per-second objects/s.
    pub objects_per_s_median: f64,
    /// The per-second series.
    pub series: Vec<SecondPoint>,
}

impl Throughput {
    /// Throughput of `completions` over a run of `elapsed`.
    #[must_use]
    pub fn of(completions: &[Completion], elapsed: Duration) -> Self {
        let last_at = completions.iter().map(|c| c.at).max().unwrap_or_default();
        let elapsed_s = elapsed.max(last_at).as_secs_f64();
        let buckets = (elapsed_s.ceil() as usize).max(1);
        let mut series: Vec<SecondPoint> = (0..buckets)
            .map(|i| SecondPoint {
                second: i as u64,
                span_s: (elapsed_s - i as f64).clamp(0.0, 1.0),
                bytes: 0,
                objects: 0,
                mib_per_s: 0.0,
                objects_per_s: 0.0,
            })
            .collect();
        for c in completions {
            let i = (c.at.as_secs() as usize).min(buckets - 1);
            series[i].bytes += c.bytes;
            series[i].objects += c.objects;
        }
        // A last partial second under half a second (the requests in flight
        // draining after the deadline) joins the second before it, so a
        // short tail does not show as a spike.
        if series.len() > 1
            && let Some(tail) = series.pop_if(|p| p.span_s < 0.5)
            && let Some(prev) = series.last_mut()
        {
            prev.span_s += tail.span_s;
            prev.bytes += tail.bytes;
            prev.objects += tail.objects;
        }
        for p in &mut series {
            if p.span_s > 0.0 {
                p.mib_per_s = p.bytes as f64 / MIB / p.span_s;
                p.objects_per_s = p.objects as f64 / p.span_s;
            }
        }
        let bytes: u64 = completions.iter().map(|c| c.bytes).sum();
        let objects: u64 = completions.iter().map(|c| c.objects).sum();
        let whole: Vec<&SecondPoint> = series.iter().filter(|p| p.span_s >= 1.0).collect();
        let pick: Vec<&SecondPoint> = if whole.is_empty() {
            series.iter().collect()
        } else {
            whole
        };
        let per_s =
            |f: fn(&SecondPoint) -> f64| median(&pick.iter().map(|p| f(p)).collect::<Vec<_>>());
        let mean = |x: f64| if elapsed_s > 0.0 { x / elapsed_s } else { 0.0 };
        Self {
            elapsed_s,
            bytes,
            objects,
            mib_per_s_mean: mean(bytes as f64 / MIB),
            mib_per_s_median: per_s(|p| p.mib_per_s),
            objects_per_s_mean: mean(objects as f64),
            objects_per_s_median: per_s(|p| p.objects_per_s),
            series,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_on_1_to_100() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 90.0), Some(90));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&v, 99.9), Some(100));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn nearest_rank_small_and_uneven_sets() {
        // Rank ceil(p·n/100): n = 5 → p50 rank 3, p90 rank 5, p20 rank 1.
        let v = [10, 20, 30, 40, 50];
        assert_eq!(percentile(&v, 50.0), Some(30));
        assert_eq!(percentile(&v, 90.0), Some(50));
        assert_eq!(percentile(&v, 20.0), Some(10));
        assert_eq!(percentile(&v, 20.1), Some(20));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        // 1000 samples: p99.9 is the 999th.
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&v, 99.9), Some(999));
    }

    #[test]
    fn summary_of_milliseconds() {
        let samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let s = LatencySummary::of(&samples).unwrap();
        assert_eq!(s.count, 100);
        assert!((s.p50_ms - 50.0).abs() < 1e-9);
        assert!((s.p90_ms - 90.0).abs() < 1e-9);
        assert!((s.p99_ms - 99.0).abs() < 1e-9);
        assert!((s.max_ms - 100.0).abs() < 1e-9);
        assert!((s.min_ms - 1.0).abs() < 1e-9);
        assert!((s.mean_ms - 50.5).abs() < 1e-9);
        assert!(LatencySummary::of(&[]).is_none());
    }

    #[test]
    fn median_even_and_odd() {
        assert!((median(&[3.0, 1.0, 2.0]) - 2.0).abs() < 1e-12);
        assert!((median(&[4.0, 1.0, 2.0, 3.0]) - 2.5).abs() < 1e-12);
        assert!(median(&[]).abs() < 1e-12);
    }

    #[test]
    fn nice_numbers() {
        assert!((nice_ceil(0.23) - 0.25).abs() < 1e-12);
        assert!((nice_ceil(3.0) - 5.0).abs() < 1e-12);
        assert!((nice_ceil(10.0) - 10.0).abs() < 1e-12);
        assert!((nice_ceil(11.0) - 20.0).abs() < 1e-12);
        assert!((nice_ceil(0.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn histogram_counts_every_sample() {
        let v: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect(); // 1..=100 ms
        let h = LatencyHistogram::of_sorted_nanos(&v);
        assert!((h.bin_ms - 2.5).abs() < 1e-12, "{h:?}");
        assert_eq!(h.counts.iter().sum::<u64>() + h.overflow, 100);
        assert!(h.upper_ms() > 100.0);
        assert_eq!(h.overflow, 0);
        // A long tail goes to the overflow bin.
        let mut v: Vec<u64> = vec![1_000_000; 200];
        v.push(1_000_000_000);
        let h = LatencyHistogram::of_sorted_nanos(&v);
        assert_eq!(h.overflow, 1);
        assert_eq!(h.counts.iter().sum::<u64>(), 200);
        assert!(LatencyHistogram::of_sorted_nanos(&[]).counts.is_empty());
    }

    #[test]
    fn throughput_series_and_medians() {
        let mib = 1 << 20;
        // 2.5 s: 4 MiB in second 0, 2 MiB in second 1, 1 MiB in the half second 2.
        let c = |ms: u64, n: u64| Completion {
            at: Duration::from_millis(ms),
            bytes: n * mib,
            objects: n,
        };
        let t = Throughput::of(
            &[c(100, 1), c(900, 3), c(1500, 2), c(2400, 1)],
            Duration::from_millis(2500),
        );
        assert_eq!(t.series.len(), 3);
        assert_eq!(t.bytes, 7 * mib);
        assert_eq!(t.objects, 7);
        assert!((t.mib_per_s_mean - 7.0 / 2.5).abs() < 1e-9);
        assert!((t.series[2].span_s - 0.5).abs() < 1e-9);
        assert!((t.series[2].mib_per_s - 2.0).abs() < 1e-9);
        // Median over the whole seconds (4 and 2).
        assert!((t.mib_per_s_median - 3.0).abs() < 1e-9);
        assert!((t.objects_per_s_median - 3.0).abs() < 1e-9);
        // A short tail joins the second before it: 2.2 s → buckets of 1 and 1.2 s.
        let t = Throughput::of(
            &[c(100, 1), c(1100, 2), c(2100, 4)],
            Duration::from_millis(2200),
        );
        assert_eq!(t.series.len(), 2);
        assert!((t.series[1].span_s - 1.2).abs() < 1e-9);
        assert!((t.series[1].mib_per_s - 5.0).abs() < 1e-9);
        assert!((t.mib_per_s_median - 3.0).abs() < 1e-9);
        // A run shorter than a second: its one partial bucket is the median.
        let t = Throughput::of(&[c(200, 1)], Duration::from_millis(500));
        assert!((t.mib_per_s_median - 2.0).abs() < 1e-9);
        assert!((t.mib_per_s_mean - 2.0).abs() < 1e-9);
    }
}
