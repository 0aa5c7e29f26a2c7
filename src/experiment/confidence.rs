//! Confident checks: a bound judged at a one-sided confidence limit over
//! independent replications rather than at the mean (`[expect] confidence`,
//! `mqsim check --until-decided`).
//!
//! Each replication gives one value of the metric; their mean is the
//! estimate and Student's t gives the one-sided limit at confidence c,
//! mean ± t(c, n - 1) s / sqrt(n) (Law, *Simulation Modeling and
//! Analysis*, 5th ed., section 9.4.1: replication/deletion). `<= b` passes
//! when the upper limit is at most b and fails when the lower limit is
//! above it; between the two the replications cannot tell, and the check
//! is inconclusive. The half-width shrinks as 1 / sqrt(n), so a distance
//! d from the bound needs about n (h / d)^2 replications in all: the
//! suggestion `--until-decided` follows and an inconclusive check prints.

use statrs::distribution::{ContinuousCDF, StudentsT};

pub use crate::stats::summary::Side;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Pass,
    Fail,
    Inconclusive,
}

/// A bound judged over replications.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    pub estimate: f64,
    /// The one-sided half-width at the confidence (infinite with fewer
    /// than 2 values).
    pub half_width: f64,
    pub decision: Decision,
    /// Replications in all that would likely decide it (inconclusive only;
    /// None when the estimate sits on the bound).
    pub suggested_replications: Option<u64>,
    pub replications: usize,
}

impl Judgement {
    /// The lower and upper one-sided limits (together a two-sided interval
    /// at 2c - 1).
    pub fn interval(&self) -> (f64, f64) {
        (
            self.estimate - self.half_width,
            self.estimate + self.half_width,
        )
    }
}

/// The one-sided Student-t quantile at `confidence` with `df` degrees of
/// freedom.
fn t_one_sided(confidence: f64, df: usize) -> f64 {
    if df == 0 {
        return f64::INFINITY;
    }
    StudentsT::new(0.0, 1.0, df as f64)
        .map(|t| t.inverse_cdf(confidence))
        .unwrap_or(f64::INFINITY)
}

/// Judges `values` (one per replication; NaN for a replication without
/// the metric is left out) against `side bound` at `confidence`.
pub fn judge(values: &[f64], side: Side, bound: f64, confidence: f64) -> Judgement {
    let xs: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let n = xs.len();
    let estimate = if n == 0 {
        f64::NAN
    } else {
        xs.iter().sum::<f64>() / n as f64
    };
    let half_width = if n < 2 {
        f64::INFINITY
    } else {
        let variance = xs.iter().map(|x| (x - estimate).powi(2)).sum::<f64>() / (n - 1) as f64;
        t_one_sided(confidence, n - 1) * (variance / n as f64).sqrt()
    };
    // A little room for the rounding of values that sit exactly on the bound.
    let slack = 1e-12 * bound.abs().max(1.0);
    let (low, high) = (estimate - half_width, estimate + half_width);
    let decision = match side {
        _ if n == 0 => Decision::Inconclusive,
        Side::AtMost if high <= bound + slack => Decision::Pass,
        Side::AtMost if low > bound + slack => Decision::Fail,
        Side::AtLeast if low >= bound - slack => Decision::Pass,
        Side::AtLeast if high < bound - slack => Decision::Fail,
        _ => Decision::Inconclusive,
    };
    let distance = (estimate - bound).abs();
    let suggested_replications = (decision == Decision::Inconclusive
        && n >= 2
        && distance > slack
        && half_width.is_finite())
    .then(|| (n as f64 * (half_width / distance).powi(2)).ceil() as u64)
    .map(|s| s.max(n as u64 + 1));
    Judgement {
        estimate,
        half_width,
        decision,
        suggested_replications,
        replications: n,
    }
}

/// The next replication count of `--until-decided` from `n`, given the
/// suggestions of the expectations still inconclusive: the largest
/// suggestion, at least one more and at most twice as many (the spread
/// is itself estimated from few values), and at most `cap`.
pub fn next_count(n: u32, suggestions: &[Option<u64>], cap: u32) -> u32 {
    let wanted = suggestions
        .iter()
        .map(|s| s.unwrap_or(u64::MAX))
        .max()
        .unwrap_or(n as u64 + 1);
    let most = (2 * n as u64).max(n as u64 + 1);
    wanted.clamp(n as u64 + 1, most).min(cap as u64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_is_judged_at_the_limit_not_the_mean() {
        // Mean 1, s = 0.1, n = 4: t(0.95, 3) = 2.353, h = 0.1177.
        let xs = [0.9, 1.0, 1.1, 1.0];
        let s = (0.02f64 / 3.0).sqrt();
        let h = 2.3534 * s / 2.0;
        let j = judge(&xs, Side::AtMost, 1.2, 0.95);
        assert!((j.half_width - h).abs() < 1e-3, "{j:?}");
        assert_eq!(j.decision, Decision::Pass);
        assert_eq!(judge(&xs, Side::AtMost, 0.8, 0.95).decision, Decision::Fail);
        let straddled = judge(&xs, Side::AtMost, 1.05, 0.95);
        assert_eq!(straddled.decision, Decision::Inconclusive);
        // n (h / d)^2 = 4 (0.0961 / 0.05)^2 = 14.8.
        assert_eq!(straddled.suggested_replications, Some(15));
        assert_eq!(
            judge(&xs, Side::AtLeast, 0.8, 0.95).decision,
            Decision::Pass
        );
        assert_eq!(
            judge(&xs, Side::AtLeast, 1.2, 0.95).decision,
            Decision::Fail
        );
        assert_eq!(
            judge(&[1.0], Side::AtMost, 5.0, 0.95).decision,
            Decision::Inconclusive
        );
    }

    #[test]
    fn the_next_count_grows_at_most_twofold() {
        assert_eq!(next_count(4, &[Some(15)], 200), 8);
        assert_eq!(next_count(10, &[Some(12), Some(11)], 200), 12);
        assert_eq!(next_count(10, &[None], 200), 20);
        assert_eq!(next_count(150, &[None], 200), 200);
        assert_eq!(next_count(1, &[None], 200), 2);
    }
}
