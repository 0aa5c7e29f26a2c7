//! Intervals for rates (lost, duplicated, dead-lettered per published
//! message) over replications.
//!
//! Why: a rate near 1e-3 with about one event a replication is 0 in a
//! third of the replications, and a Student-t interval on the
//! replications' own rates then says 0 ± 0 and covers 66% (issue 30). The
//! counts are pooled over the replications (the ratio of totals), with
//! two intervals united: the exact binomial one on the pooled counts
//! (Clopper & Pearson, Biometrika 26, 1934), right for rare independent
//! events, and the ratio estimator's t interval over replications (Law,
//! *Simulation Modeling and Analysis*, 5th ed., section 9.5.2; Cochran,
//! *Sampling Techniques*, 6.4), right when events cluster (a crash loses
//! many at once) and the binomial one is too narrow. Their union covers
//! at least as often as either.

use super::ci::t_quantile_975;
use statrs::function::beta::beta_reg;

/// A rate with its 95% interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateInterval {
    pub rate: f64,
    pub lower: f64,
    pub upper: f64,
}

impl RateInterval {
    /// The larger distance from the rate to a bound: a symmetric
    /// half-width that the interval fits in.
    pub fn half_width(&self) -> f64 {
        (self.upper - self.rate).max(self.rate - self.lower)
    }
}

/// The `p` quantile of Beta(a, b), by bisection on the regularised
/// incomplete beta function (monotone; 80 halvings reach f64 resolution).
fn beta_quantile(p: f64, a: f64, b: f64) -> f64 {
    let (mut low, mut high) = (0.0_f64, 1.0_f64);
    for _ in 0..80 {
        let mid = 0.5 * (low + high);
        if beta_reg(a, b, mid) < p {
            low = mid;
        } else {
            high = mid;
        }
    }
    0.5 * (low + high)
}

/// Clopper-Pearson 95% interval for `events` successes in `trials`.
pub fn clopper_pearson(events: u64, trials: u64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    let (x, n) = (events.min(trials) as f64, trials as f64);
    let lower = if x == 0.0 {
        0.0
    } else {
        beta_quantile(0.025, x, n - x + 1.0)
    };
    let upper = if x == n {
        1.0
    } else {
        beta_quantile(0.975, x + 1.0, n - x)
    };
    (lower, upper)
}

/// The pooled rate of (events, trials) pairs, one per replication, with
/// the union of the Clopper-Pearson and ratio-estimator intervals. None
/// with fewer than two replications (one run cannot show whether its
/// events cluster) or no trials.
pub fn pooled(pairs: &[(f64, f64)]) -> Option<RateInterval> {
    let n = pairs.len();
    let events: f64 = pairs.iter().map(|p| p.0).sum();
    let trials: f64 = pairs.iter().map(|p| p.1).sum();
    if n < 2 || trials <= 0.0 || !events.is_finite() {
        return None;
    }
    let rate = events / trials;
    let mean_trials = trials / n as f64;
    let squares: f64 = pairs
        .iter()
        .map(|(e, t)| (e - rate * t) * (e - rate * t))
        .sum();
    let half = t_quantile_975(n as u64 - 1) * (squares / (n as f64 * (n as f64 - 1.0))).sqrt()
        / mean_trials;
    let (mut lower, mut upper) = (rate - half, rate + half);
    if events <= trials {
        let (l, u) = clopper_pearson(events.round() as u64, trials.round() as u64);
        lower = lower.min(l);
        upper = upper.max(u);
    }
    Some(RateInterval {
        rate,
        lower: lower.max(0.0),
        upper,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clopper_pearson_matches_tables() {
        // R: binom.test(0, 10)$conf.int = 0, 0.3084971
        let (l, u) = clopper_pearson(0, 10);
        assert_eq!(l, 0.0);
        assert!((u - 0.308_497_1).abs() < 1e-6, "{u}");
        // binom.test(3, 100): 0.006229972 0.085176053
        let (l, u) = clopper_pearson(3, 100);
        assert!((l - 0.006_229_972).abs() < 1e-8, "{l}");
        assert!((u - 0.085_176_053).abs() < 1e-8, "{u}");
        assert_eq!(clopper_pearson(5, 5).1, 1.0);
    }

    #[test]
    fn pooled_rate_is_the_ratio_of_totals_and_never_zero_width() {
        let r = pooled(&[(0.0, 1000.0), (0.0, 1000.0), (2.0, 1000.0)]).unwrap();
        assert!((r.rate - 2.0 / 3000.0).abs() < 1e-15);
        assert!(r.upper > r.rate && r.lower < r.rate && r.lower >= 0.0);
        let z = pooled(&[(0.0, 1000.0), (0.0, 1000.0)]).unwrap();
        assert_eq!(z.rate, 0.0);
        assert!(z.upper > 1e-3, "{z:?}");
        assert!(pooled(&[(1.0, 10.0)]).is_none());
        // Clustered events: the replications' spread widens it beyond the binomial.
        let c = pooled(&[(0.0, 1000.0), (0.0, 1000.0), (0.0, 1000.0), (300.0, 1000.0)]).unwrap();
        let (_, u) = clopper_pearson(300, 4000);
        assert!(c.upper > u + 0.05, "{c:?}");
    }
}
