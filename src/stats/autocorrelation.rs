//! The integrated autocorrelation time of a sampled series, estimated
//! from the data: how far apart two samples must be to count as
//! independent.
//!
//! Why: a replication shorter than a few dozen of these times carries the
//! start's bias and too few independent stretches for its mean to be near
//! normal, and an interval over replications then under-covers (issue 30).
//! Where a queueing model applies, theory gives the relaxation time;
//! elsewhere (faults, retries, pipelines, topics) only the data can.
//!
//! The estimator is Geyer's initial monotone sequence ("Practical Markov
//! chain Monte Carlo", Statistical Science 7, 1992; Law, *Simulation
//! Modeling and Analysis*, 5th ed., 9.5.3): the sums of adjacent
//! autocovariances are positive and decreasing for a reversible process,
//! so they are summed until the first that is not positive, each clipped
//! to the one before. Replications are pooled around their grand mean, so
//! that a slow drift shared by every replication (the start's transient,
//! a backlog that never drains) counts as correlation and is not
//! subtracted away by each replication's own mean. Long series are first
//! averaged in consecutive blocks (at most [`MAX_POINTS`] a replication)
//! to bound the cost; the time is then scaled by the blocks' variance.

/// Most points a replication's series keeps (longer ones are averaged in
/// blocks), so that the estimate costs at most about
/// `MAX_POINTS` x lags x replications operations.
pub const MAX_POINTS: usize = 2000;
/// Fewest samples in the shortest replication for an estimate.
pub const MIN_POINTS: usize = 16;

/// The integrated autocorrelation time of `series` (one per replication,
/// equally spaced samples), in samples: 1 + 2 sum of the lag
/// autocorrelations, so that the mean of n samples has the variance of
/// n / time independent ones. At least 1 for independent samples. None
/// when the series are too short or never vary.
pub fn integrated_time_samples(series: &[Vec<f64>]) -> Option<f64> {
    let shortest = series.iter().map(Vec::len).min()?;
    if shortest < MIN_POINTS {
        return None;
    }
    let block = shortest.div_ceil(MAX_POINTS).max(1);
    let blocked: Vec<Vec<f64>> = series
        .iter()
        .map(|s| {
            s.chunks_exact(block)
                .map(|c| c.iter().sum::<f64>() / block as f64)
                .collect()
        })
        .collect();
    let point_variance = variance_around_grand_mean(series)?;
    let (gamma0, time_in_blocks) = geyer_time(&blocked)?;
    // The blocks' time in samples: their variance says how much of the
    // points' variance survives averaging over `block` samples.
    let time = time_in_blocks * gamma0 * block as f64 / point_variance;
    Some(time.max(1.0))
}

/// The pooled variance of every point around the grand mean; None when it
/// is 0.
fn variance_around_grand_mean(series: &[Vec<f64>]) -> Option<f64> {
    let count: usize = series.iter().map(Vec::len).sum();
    let mean = series.iter().flatten().sum::<f64>() / count as f64;
    let variance = series
        .iter()
        .flatten()
        .map(|x| (x - mean) * (x - mean))
        .sum::<f64>()
        / count as f64;
    (variance > 0.0 && variance.is_finite()).then_some(variance)
}

/// (lag-0 autocovariance, integrated time in points) of the pooled
/// series by the initial monotone sequence.
fn geyer_time(series: &[Vec<f64>]) -> Option<(f64, f64)> {
    let count: usize = series.iter().map(Vec::len).sum();
    let mean = series.iter().flatten().sum::<f64>() / count as f64;
    let shortest = series.iter().map(Vec::len).min()?;
    let autocovariance = |lag: usize| -> f64 {
        series
            .iter()
            .map(|s| {
                s.iter()
                    .zip(&s[lag..])
                    .map(|(a, b)| (a - mean) * (b - mean))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / count as f64
    };
    let gamma0 = autocovariance(0);
    if !(gamma0 > 0.0 && gamma0.is_finite()) {
        return None;
    }
    let mut sum = 0.0;
    let mut previous = f64::INFINITY;
    let mut lag = 0;
    while lag + 1 < shortest / 2 {
        let pair = autocovariance(lag) + autocovariance(lag + 1);
        if pair <= 0.0 {
            break;
        }
        let pair = pair.min(previous);
        sum += pair;
        previous = pair;
        lag += 2;
    }
    Some((gamma0, ((2.0 * sum - gamma0) / gamma0).max(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, unit, unit_open0, Domain};

    /// An AR(1) series x_t = phi x_{t-1} + e_t (normal e_t by Box-Muller),
    /// whose integrated time is (1 + phi) / (1 - phi).
    fn ar1(phi: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = stream(7, Domain::Replication, seed, 0);
        let mut x = 0.0;
        (0..n)
            .map(|_| {
                let e = (-2.0 * unit_open0(&mut rng).ln()).sqrt()
                    * (std::f64::consts::TAU * unit(&mut rng)).cos();
                x = phi * x + e;
                x
            })
            .collect()
    }

    #[test]
    fn independent_samples_have_a_time_near_one() {
        let series: Vec<Vec<f64>> = (0..10).map(|r| ar1(0.0, 1000, r)).collect();
        let time = integrated_time_samples(&series).unwrap();
        assert!((1.0..1.3).contains(&time), "{time}");
    }

    #[test]
    fn ar1_matches_its_closed_form() {
        // phi 0.9: (1.9 / 0.1) = 19 samples; 10 x 4000 samples estimate
        // it within about 10%.
        let series: Vec<Vec<f64>> = (0..10).map(|r| ar1(0.9, 4000, r)).collect();
        let time = integrated_time_samples(&series).unwrap();
        assert!((time / 19.0 - 1.0).abs() < 0.15, "{time}");
    }

    #[test]
    fn blocking_keeps_the_time() {
        // 10 x 9000 samples are averaged in blocks of 5; phi 0.98 has a
        // time of 99 samples.
        let series: Vec<Vec<f64>> = (0..10).map(|r| ar1(0.98, 9000, r)).collect();
        let time = integrated_time_samples(&series).unwrap();
        assert!((time / 99.0 - 1.0).abs() < 0.25, "{time}");
    }

    #[test]
    fn constant_or_short_series_have_none() {
        assert_eq!(integrated_time_samples(&[vec![3.0; 100]]), None);
        assert_eq!(integrated_time_samples(&[vec![1.0, 2.0, 3.0]]), None);
        assert_eq!(integrated_time_samples(&[]), None);
    }
}
