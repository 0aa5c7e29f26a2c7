//! Latency quantiles over replications: the point estimate from the
//! replications' histograms merged, and a sectioning interval around it.
//!
//! Why: the mean of the replications' own p99s estimates the expected
//! quantile of a short run, not the quantile; it is biased low (p999 by
//! 30% with 2,000 messages a replication) and adding replications only
//! narrows an interval around the wrong value (issue 30). Merging the
//! histograms uses every latency at once. The interval is sectioning
//! (Asmussen & Glynn, *Stochastic Simulation*, 2007, III.5a; Nakayama,
//! "Confidence intervals for quantiles using sectioning when applying
//! variance-reduction techniques", ACM TOMACS 24(4), 2014): the spread of
//! the replications' own quantiles around the merged one, with Student's t
//! on R - 1 degrees of freedom. Its validity rests on each replication's
//! quantile being near normal, which fails when few latencies lie above
//! it: [`tail_warning`] says so.
//!
//! Latencies above a tail quantile come in clusters (one long busy
//! period makes dozens): at M/M/1 rho 0.8 the replications' counts above
//! p999 are 50-70 times more dispersed than binomial, so 50 latencies
//! above it in a replication are about one independent cluster, and the
//! interval covered 90.5% (200 experiments of 10 replications). With 100
//! it covered 94.5%, with 200 95.5%: [`MIN_TAIL_COUNT`] is calibrated on
//! those runs (`tests/coverage.rs`, long part). A quasi-binomial
//! order-statistic interval on the merged histogram (dispersion estimated
//! from the replications) was measured too: its dispersion estimate from
//! ten replications is too noisy to help (93.5% at 50 above, and it
//! cannot tell from the data alone when to warn).

use super::ci::t_quantile_975;
use crate::sim::collect::latency_bucket_mid;

/// Fewest latencies a replication should have above a quantile for its
/// interval to be trusted (N x (1 - q) below this: a warning). Calibrated
/// by coverage at M/M/1 rho 0.8 (see the module's notes); a more loaded
/// system clusters its tail more and may need more.
pub const MIN_TAIL_COUNT: f64 = 100.0;

/// The quantiles reported, with their keys.
pub const QUANTILES: [(&str, f64); 4] =
    [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)];

/// The `q` quantile (ns) of a histogram given as ascending (bucket's lowest
/// value, count) pairs: the midpoint of the bucket holding the
/// ceil(q N)-th smallest latency (at least the first). None when empty.
pub fn quantile_ns(buckets: &[(u64, u64)], q: f64) -> Option<u64> {
    let total: u64 = buckets.iter().map(|b| b.1).sum();
    quantile_in(buckets.iter().copied(), total, q)
}

/// [`quantile_ns`] over ascending (lowest value, count) pairs holding
/// `total` latencies in all.
pub fn quantile_in(buckets: impl Iterator<Item = (u64, u64)>, total: u64, q: f64) -> Option<u64> {
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0u64;
    let mut last = None;
    for (low, count) in buckets {
        seen += count;
        last = Some(low);
        if seen >= rank {
            break;
        }
    }
    last.map(latency_bucket_mid)
}

/// The histograms merged: counts added bucket by bucket, ascending.
pub fn merge(histograms: &[&[(u64, u64)]]) -> Vec<(u64, u64)> {
    let mut all: Vec<(u64, u64)> = histograms.iter().flat_map(|h| h.iter().copied()).collect();
    all.sort_unstable_by_key(|b| b.0);
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(all.len());
    for (low, count) in all {
        match out.last_mut() {
            Some(last) if last.0 == low => last.1 += count,
            _ => out.push((low, count)),
        }
    }
    out
}

/// A quantile over replications, in seconds: the merged estimate (never
/// above `max_s`, the largest latency seen), and its sectioning 95%
/// interval (None with fewer than two replications that have latencies).
/// `merged` is [`merge`] of `histograms`, made once for every quantile.
pub fn over_replications(
    histograms: &[&[(u64, u64)]],
    merged: &[(u64, u64)],
    q: f64,
    max_s: f64,
) -> (Option<f64>, Option<(f64, f64)>) {
    let secs = |ns: u64| (ns as f64 / 1e9).min(max_s);
    let Some(point) = quantile_ns(merged, q).map(secs) else {
        return (None, None);
    };
    if histograms.len() < 2 {
        return (Some(point), None);
    }
    let sections: Vec<f64> = histograms
        .iter()
        .filter_map(|h| quantile_ns(h, q))
        .map(secs)
        .collect();
    (Some(point), sectioning_interval(point, &sections))
}

/// The sectioning 95% interval, on the log scale where every value is
/// positive: log point ± t_{n-1} sqrt(sum (log section - log point)^2 /
/// (n (n - 1))), then exponentiated. A tail quantile's replications are
/// skewed to the right (a few long busy periods make it), and the
/// symmetric interval covered p999 at 88-90%; the log scale takes most
/// of the skew out. None below two sections.
pub fn sectioning_interval(point: f64, sections: &[f64]) -> Option<(f64, f64)> {
    let n = sections.len();
    if n < 2 {
        return None;
    }
    let t = t_quantile_975(n as u64 - 1);
    let spread = |p: f64, xs: &mut dyn Iterator<Item = f64>| {
        let squares: f64 = xs.map(|x| (x - p) * (x - p)).sum();
        t * (squares / (n as f64 * (n as f64 - 1.0))).sqrt()
    };
    let interval = if point > 0.0 && sections.iter().all(|x| *x > 0.0) {
        let half = spread(point.ln(), &mut sections.iter().map(|x| x.ln()));
        (point * (-half).exp(), point * half.exp())
    } else {
        let half = spread(point, &mut sections.iter().copied());
        (point - half, point + half)
    };
    (interval.0.is_finite() && interval.1.is_finite()).then_some(interval)
}

/// The warning for quantile `key` (`q`) when a replication has on average
/// fewer than [`MIN_TAIL_COUNT`] latencies above it: its interval (and the
/// replications' own estimates) cannot be trusted.
pub fn tail_warning(key: &str, q: f64, latencies_per_replication: f64) -> Option<String> {
    let above = latencies_per_replication * (1.0 - q);
    if latencies_per_replication <= 0.0 || above >= MIN_TAIL_COUNT {
        return None;
    }
    let needed = (MIN_TAIL_COUNT / (1.0 - q)).ceil();
    Some(format!(
        "latency.{key}: a replication has about {above:.1} latencies above it (N x (1 - q) < {MIN_TAIL_COUNT}); its interval is not reliable: run replications of at least {needed} messages each"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_of_a_small_histogram() {
        let h = [(10, 50), (20, 40), (30, 9), (40, 1)];
        assert_eq!(quantile_ns(&h, 0.5), Some(10));
        assert_eq!(quantile_ns(&h, 0.51), Some(20));
        assert_eq!(quantile_ns(&h, 0.99), Some(30));
        assert_eq!(quantile_ns(&h, 0.999), Some(40));
        assert_eq!(quantile_ns(&h, 0.0), Some(10));
        assert_eq!(quantile_ns(&[], 0.5), None);
    }

    #[test]
    fn merging_adds_counts() {
        let a = [(1, 2), (5, 1)];
        let b = [(1, 1), (3, 4)];
        assert_eq!(merge(&[&a, &b]), vec![(1, 3), (3, 4), (5, 1)]);
    }

    #[test]
    fn sectioning_interval_by_hand() {
        // Two replications of one latency each: merged median is the first
        // (rank 1 of 2); sections 10 and 30 ns around 10, on the log
        // scale: t_1 sqrt((ln 3)^2 / 2).
        let a = [(10, 1)];
        let b = [(30, 1)];
        let (p, h) = over_replications(&[&a, &b], &merge(&[&a, &b]), 0.5, 1.0);
        assert_eq!(p, Some(10e-9));
        let half = 12.706_204_736 * 3f64.ln() / 2f64.sqrt();
        let (low, high) = h.unwrap();
        assert!((high / 10e-9 / half.exp() - 1.0).abs() < 1e-6, "{h:?}");
        assert!((low / 10e-9 / (-half).exp() - 1.0).abs() < 1e-6, "{h:?}");
        let (p, h) = over_replications(&[&a], &a, 0.5, 1.0);
        assert_eq!((p, h), (Some(10e-9), None));
    }

    #[test]
    fn tail_warning_fires_below_a_hundred() {
        assert!(tail_warning("p999", 0.999, 50_000.0).is_some());
        assert!(tail_warning("p999", 0.999, 100_000.0).is_none());
        assert!(tail_warning("p99", 0.99, 20_000.0).is_none());
        assert!(tail_warning("p99", 0.99, 5_000.0)
            .unwrap()
            .contains("10000 messages"));
    }
}
