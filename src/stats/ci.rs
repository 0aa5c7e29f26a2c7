//! Placeholder until the full module lands: Student t interval of a mean.
use statrs::distribution::{ContinuousCDF, StudentsT};

pub fn t_quantile_975(df: u64) -> f64 {
    StudentsT::new(0.0, 1.0, df.max(1) as f64)
        .map(|t| t.inverse_cdf(0.975))
        .unwrap_or(f64::NAN)
}

pub fn mean_ci95(samples: &[f64]) -> (f64, f64) {
    let n = samples.len();
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = samples.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, 0.0);
    }
    let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, t_quantile_975(n as u64 - 1) * (var / n as f64).sqrt())
}

pub fn relative_half_width(mean: f64, half: f64) -> f64 {
    if half == 0.0 {
        0.0
    } else if mean == 0.0 {
        f64::INFINITY
    } else {
        half / mean.abs()
    }
}

pub fn mser5(_series: &[f64]) -> usize {
    0
}
