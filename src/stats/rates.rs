//! Intervals for rates (lost, duplicated, dead-lettered per published
//! message) over replications.
//!
//! Why: a rate near 1e-3 with about one event a replication is 0 in a
//! third of the replications, and a Student-t interval on the
//! replications' own rates then says 0 ± 0 and covers 66% (issue 30). The
//! counts are pooled over the replications (the ratio of totals) with the
//! mid-p exact binomial interval (Lancaster 1961; Brown, Cai & DasGupta,
//! "Interval estimation for a binomial proportion", Statistical Science
//! 16, 2001): Clopper-Pearson's (Biometrika 26, 1934) is conservative,
//! 99.3% measured at 1e-3 with ten events. When the replications' counts
//! are more dispersed than binomial (a chi-square test of homogeneity at
//! 5%: events cluster, a crash loses many at once), the binomial interval
//! is too narrow, and it is united with the ratio estimator's t interval
//! over replications (Law, *Simulation Modeling and Analysis*, 5th ed.,
//! 9.5.2; Cochran, *Sampling Techniques*, 6.4).

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

/// P(X <= k) for X binomial(n, p); 0 for k < 0.
fn binomial_cdf(k: f64, n: f64, p: f64) -> f64 {
    if k < 0.0 {
        0.0
    } else if k >= n {
        1.0
    } else {
        1.0 - beta_reg(k + 1.0, n - k, p)
    }
}

/// The p at which 0.5 (P(X <= x - 1) + P(X <= x)), decreasing in p, is
/// `level` (bisection).
fn mid_p_bound(x: f64, n: f64, level: f64) -> f64 {
    let (mut low, mut high) = (0.0_f64, 1.0_f64);
    for _ in 0..80 {
        let mid = 0.5 * (low + high);
        let value = 0.5 * (binomial_cdf(x - 1.0, n, mid) + binomial_cdf(x, n, mid));
        if value > level {
            low = mid;
        } else {
            high = mid;
        }
    }
    0.5 * (low + high)
}

/// Mid-p exact 95% interval for `events` successes in `trials`.
pub fn mid_p(events: u64, trials: u64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    let (x, n) = (events.min(trials) as f64, trials as f64);
    let lower = if x == 0.0 {
        0.0
    } else {
        mid_p_bound(x, n, 0.975)
    };
    let upper = if x == n {
        1.0
    } else {
        mid_p_bound(x, n, 0.025)
    };
    (lower, upper)
}

/// Whether the replications' counts are more dispersed than binomial:
/// Pearson's chi-square of homogeneity above its 95th percentile on n - 1
/// degrees of freedom.
fn overdispersed(pairs: &[(f64, f64)], rate: f64) -> bool {
    use statrs::distribution::{ChiSquared, ContinuousCDF};
    if rate <= 0.0 || rate >= 1.0 {
        return false;
    }
    let statistic: f64 = pairs
        .iter()
        .filter(|(_, t)| *t > 0.0)
        .map(|(e, t)| (e - rate * t).powi(2) / (rate * (1.0 - rate) * t))
        .sum();
    match ChiSquared::new((pairs.len() - 1) as f64) {
        Ok(chi) => chi.sf(statistic) < 0.05,
        Err(_) => false,
    }
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
/// its mid-p interval, united with the ratio estimator's t interval when
/// the counts are overdispersed (or the events outnumber the trials, as
/// duplicates can). None with fewer than two replications (one run cannot
/// show whether its events cluster) or no trials.
pub fn pooled(pairs: &[(f64, f64)]) -> Option<RateInterval> {
    let n = pairs.len();
    let events: f64 = pairs.iter().map(|p| p.0).sum();
    let trials: f64 = pairs.iter().map(|p| p.1).sum();
    if n < 2 || trials <= 0.0 || !events.is_finite() {
        return None;
    }
    let rate = events / trials;
    let (mut lower, mut upper) = (f64::INFINITY, f64::NEG_INFINITY);
    let binomial = events <= trials;
    if binomial {
        (lower, upper) = mid_p(events.round() as u64, trials.round() as u64);
    }
    if !binomial || overdispersed(pairs, rate) {
        let mean_trials = trials / n as f64;
        let squares: f64 = pairs
            .iter()
            .map(|(e, t)| (e - rate * t) * (e - rate * t))
            .sum();
        let half = t_quantile_975(n as u64 - 1) * (squares / (n as f64 * (n as f64 - 1.0))).sqrt()
            / mean_trials;
        lower = lower.min(rate - half);
        upper = upper.max(rate + half);
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
        let (_, u) = mid_p(300, 4000);
        assert!(c.upper > u + 0.05, "{c:?}");
    }

    #[test]
    fn mid_p_is_inside_clopper_pearson() {
        // Mid-p for 0 of n: upper solves 0.5 (1 - p)^n = 0.025.
        let (l, u) = mid_p(0, 100);
        assert_eq!(l, 0.0);
        assert!((u - (1.0 - 0.05f64.powf(0.01))).abs() < 1e-9, "{u}");
        for (x, n) in [(1, 1000), (10, 10_000), (37, 200)] {
            let (ml, mu) = mid_p(x, n);
            let (cl, cu) = clopper_pearson(x, n);
            assert!(cl < ml && mu < cu, "{x}/{n}");
        }
    }
}
