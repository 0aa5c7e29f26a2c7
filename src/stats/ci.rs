//! Output analysis for replicated simulation runs: Student-t confidence
//! intervals, paired comparisons (common random numbers) and MSER-5 warm-up
//! truncation.
//!
//! Why: a single simulation run is one sample of a random process, so every
//! reported metric needs an error bar.  Independent replications give i.i.d.
//! samples of a run-level statistic, for which the classical t-interval is
//! appropriate (Law, *Simulation Modeling and Analysis*, 5th ed. 2015,
//! §9.4.1, eq. 9.1: `X̄ ± t_{n-1,1-α/2} sqrt(S²/n)`).  When two configurations
//! are run with the same seeds the runs are positively correlated and the
//! paired-t approach (Law §10.2.1) is far more sensitive than comparing two
//! independent intervals.  Initial-transient bias is removed with MSER-5
//! (White 1997, "An effective truncation heuristic for bias reduction in
//! simulation output", *Simulation* 69(6); White, Cobb & Spratt 2000),
//! which Hoad, Robinson & Davies (2010) found to be the most robust
//! automatic warm-up rule.
//!
//! No function panics; non-finite input never produces NaN output.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// Standard normal 97.5% quantile.
const Z975: f64 = 1.959_963_984_540_054;

/// Two-sided 95% Student-t critical value `t_{df, 0.975}`.
///
/// `df <= 1000`: statrs `StudentsT::inverse_cdf` (incomplete-beta
/// inversion, matches tables to ~1e-12).  `df > 1000`: the Cornish–Fisher
/// expansion in `1/df` (Abramowitz & Stegun 26.7.5, three correction terms),
/// accurate to ~1e-12 there, whereas statrs' inversion loses accuracy above
/// ~1e4 degrees of freedom (errors of 1e-4 at df = 1e6, non-monotone).
/// `df = 0` gives `+inf` (no information).
pub fn t_quantile_975(df: u64) -> f64 {
    if df == 0 {
        return f64::INFINITY;
    }
    let v = df as f64;
    let z = Z975;
    let g1 = (z.powi(3) + z) / 4.0;
    let g2 = (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / 96.0;
    let g3 = (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z) / 384.0;
    let asymptotic = z + g1 / v + g2 / (v * v) + g3 / (v * v * v);
    if df > 1000 {
        return asymptotic;
    }
    match StudentsT::new(0.0, 1.0, v) {
        Ok(t) => {
            let q = t.inverse_cdf(0.975);
            if q.is_finite() && q > 0.0 {
                q
            } else {
                asymptotic
            }
        }
        Err(_) => asymptotic,
    }
}

/// Mean and sample standard deviation (two-pass, `n - 1` denominator) of the
/// finite values in `x`, with their count.
fn mean_sd(x: &[f64]) -> (f64, f64, usize) {
    let vals = x.iter().copied().filter(|v| v.is_finite());
    let n = vals.clone().count();
    if n == 0 {
        return (0.0, 0.0, 0);
    }
    let mean = vals.clone().sum::<f64>() / n as f64;
    if n < 2 || !mean.is_finite() {
        return (if mean.is_finite() { mean } else { 0.0 }, 0.0, n);
    }
    let ss: f64 = vals.map(|v| (v - mean) * (v - mean)).sum();
    let sd = (ss / (n as f64 - 1.0)).sqrt();
    (mean, if sd.is_finite() { sd } else { 0.0 }, n)
}

/// 95% confidence interval for the mean of i.i.d. samples (Law eq. 9.1):
/// returns `(mean, half_width)` with `half_width = t_{n-1,0.975} s / sqrt(n)`.
/// Non-finite samples are ignored (and a sum that overflows yields
/// `(0, 0)`); `(0, 0)` for no samples and half-width 0
/// for a single sample (an interval cannot be estimated, callers should look
/// at `n`).
pub fn mean_ci95(samples: &[f64]) -> (f64, f64) {
    let (mean, sd, n) = mean_sd(samples);
    if n < 2 {
        return (mean, 0.0);
    }
    let half = t_quantile_975(n as u64 - 1) * sd / (n as f64).sqrt();
    (mean, if half.is_finite() { half } else { 0.0 })
}

/// Result of a paired-t comparison of `a - b`.
#[derive(Clone, Debug, PartialEq)]
pub struct PairedT {
    /// Mean of the differences `a_i - b_i`.
    pub mean_diff: f64,
    /// 95% half-width of the mean difference.
    pub half_width: f64,
    /// t statistic `mean_diff / (s_d / sqrt(n))` (±inf when `s_d = 0`).
    pub t: f64,
    /// Two-sided p-value `2 P(T_{n-1} > |t|)`.
    pub p_value: f64,
    /// `p_value < 0.05`.
    pub significant: bool,
}

/// Paired-t test on `d_i = a_i - b_i` (Law §10.2.1): appropriate when run
/// `i` of both configurations shares a seed (common random numbers).
/// `None` when the lengths differ, `n < 2`, or any difference is
/// non-finite.  When all differences are identical (`s_d = 0`) the test is
/// degenerate: `p_value = 0` if the mean difference is non-zero, else 1.
pub fn paired_t_test(a: &[f64], b: &[f64]) -> Option<PairedT> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    if d.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let (mean, sd, n) = mean_sd(&d);
    let df = n as u64 - 1;
    let se = sd / (n as f64).sqrt();
    // Treat a standard error at rounding level as exactly zero.
    let scale = d.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    if se.is_nan() || se <= 1e-14 * scale {
        let p_value = if mean != 0.0 { 0.0 } else { 1.0 };
        let t = if mean > 0.0 {
            f64::INFINITY
        } else if mean < 0.0 {
            f64::NEG_INFINITY
        } else {
            0.0
        };
        return Some(PairedT {
            mean_diff: mean,
            half_width: 0.0,
            t,
            p_value,
            significant: p_value < 0.05,
        });
    }
    let t = mean / se;
    let p_value = match StudentsT::new(0.0, 1.0, df as f64) {
        Ok(dist) => (2.0 * dist.sf(t.abs())).clamp(0.0, 1.0),
        Err(_) => return None,
    };
    let p_value = if p_value.is_finite() { p_value } else { 1.0 };
    Some(PairedT {
        mean_diff: mean,
        half_width: t_quantile_975(df) * se,
        t,
        p_value,
        significant: p_value < 0.05,
    })
}

/// MSER-5 truncation point (White 1997; White, Cobb & Spratt 2000).
///
/// The series is cut into `b = floor(n/5)` batch means `Z_1..Z_b` (an
/// incomplete last batch is discarded).  For each candidate `d` in
/// `0..=b/2` (White's rule: never delete more than half the data) compute
/// `MSER(d) = sum_{j>d} (Z_j - Z̄_d)^2 / (b - d)^2`, i.e. the squared standard
/// error of the truncated mean, and pick the smallest minimiser.  Returns the
/// truncation index in the ORIGINAL series, `5 d`.  The suffix statistics are
/// accumulated backwards with Welford's update so the whole scan is O(n) and
/// numerically stable.  Series shorter than two batches, or containing
/// non-finite values, return 0 (no truncation).
pub fn mser5(series: &[f64]) -> usize {
    const BATCH: usize = 5;
    let b = series.len() / BATCH;
    if b < 2 || series.iter().any(|v| !v.is_finite()) {
        return 0;
    }
    let z: Vec<f64> = series
        .chunks_exact(BATCH)
        .map(|c| c.iter().sum::<f64>() / BATCH as f64)
        .collect();
    let d_max = b / 2;
    // Backward Welford: after adding Z_j..Z_{b-1}, (count, mean, m2).
    let mut mean = 0.0_f64;
    let mut m2 = 0.0_f64;
    let mut best_d = 0usize;
    let mut best = f64::INFINITY;
    let mut stats = vec![0.0_f64; d_max + 1];
    for (cnt, j) in (0..b).rev().enumerate() {
        let count = (cnt + 1) as f64;
        let delta = z[j] - mean;
        mean += delta / count;
        m2 += delta * (z[j] - mean);
        if j <= d_max {
            stats[j] = m2.max(0.0) / (count * count);
        }
    }
    for (d, s) in stats.iter().enumerate() {
        if *s < best {
            best = *s;
            best_d = d;
        }
    }
    best_d * BATCH
}

/// Relative precision `half / |mean|` of a confidence interval: 0 when both
/// are 0, `+inf` when the mean is 0 but the half-width is not (and when either
/// input is NaN, so the value never passes a "precise enough" check).
pub fn relative_half_width(mean: f64, half: f64) -> f64 {
    if mean.is_nan() || half.is_nan() {
        return f64::INFINITY;
    }
    let h = half.abs();
    if mean == 0.0 {
        return if h == 0.0 { 0.0 } else { f64::INFINITY };
    }
    h / mean.abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_tables() {
        // Standard t table, two-sided 95%.
        for &(df, want) in &[
            (1u64, 12.706_204_736),
            (2, 4.302_652_730),
            (4, 2.776_445_105),
            (9, 2.262_157_163),
            (10, 2.228_138_852),
            (30, 2.042_272_456),
            (120, 1.979_930_405),
            (1000, 1.962_339_081),
            (1001, 1.962_336_951),
        ] {
            let got = t_quantile_975(df);
            assert!((got - want).abs() < 1e-6, "df {df}: {got} vs {want}");
        }
        // Monotone decreasing towards z across the statrs / asymptotic switch.
        let mut prev = f64::INFINITY;
        let mut df = 1u64;
        while df <= 100_000_000 {
            let q = t_quantile_975(df);
            assert!(q.is_finite() && q > Z975 && q < prev, "df {df}: {q}");
            prev = q;
            df = df * 3 / 2 + 1;
        }
        assert!((t_quantile_975(10_000_000) - Z975).abs() < 1e-6);
        assert!(t_quantile_975(u64::MAX).is_finite());
        assert_eq!(t_quantile_975(0), f64::INFINITY);
    }

    #[test]
    fn ci_by_hand() {
        // mean 5, s^2 = 2.5, s/sqrt(5) = 0.70711, t_{4} = 2.776445
        let (m, h) = mean_ci95(&[3.0, 4.0, 5.0, 6.0, 7.0]);
        assert!((m - 5.0).abs() < 1e-12);
        assert!((h - 2.776_445_105 * (0.5_f64).sqrt()).abs() < 1e-8, "{h}");
        assert!((h - 1.963_243_7).abs() < 1e-6);
        assert_eq!(mean_ci95(&[]), (0.0, 0.0));
        assert_eq!(mean_ci95(&[2.0]), (2.0, 0.0));
        let (m, h) = mean_ci95(&[1.0, f64::NAN, 3.0]);
        assert_eq!(m, 2.0);
        assert!(h.is_finite() && h > 0.0);
    }

    #[test]
    fn paired_detects_shift() {
        let a = [10.2, 11.7, 9.1, 12.5, 10.9, 11.1, 9.8, 10.4];
        let b: Vec<f64> = a.iter().map(|x| x - 0.5).collect();
        let r = paired_t_test(&a, &b).expect("valid");
        assert!((r.mean_diff - 0.5).abs() < 1e-12);
        assert_eq!(r.p_value, 0.0);
        assert!(r.significant);
        // Noisy shift: differences 0.4..0.6; t = 0.5/(sd/sqrt n) large.
        let d = [0.4, 0.6, 0.5, 0.45, 0.55, 0.5, 0.52, 0.48];
        let b2: Vec<f64> = a.iter().zip(d).map(|(x, y)| x - y).collect();
        let r = paired_t_test(&a, &b2).expect("valid");
        assert!(r.significant && r.p_value < 1e-6 && r.t > 10.0);
        assert!((r.mean_diff - 0.5).abs() < 1e-12);
        // Textbook: d = [1, -1, 2, 0] -> mean .5, sd 1.2910, t = .7746, p = .4950
        let r = paired_t_test(&[1.0, -1.0, 2.0, 0.0], &[0.0; 4]).expect("valid");
        assert!((r.t - 0.774_596_669).abs() < 1e-6);
        assert!((r.p_value - 0.495_025).abs() < 1e-4, "{}", r.p_value);
        assert!(!r.significant);
        // Degenerate and invalid inputs.
        let same = paired_t_test(&a, &a).expect("valid");
        assert_eq!((same.p_value, same.significant), (1.0, false));
        assert!(paired_t_test(&a, &a[1..]).is_none());
        assert!(paired_t_test(&[1.0], &[2.0]).is_none());
        assert!(paired_t_test(&[1.0, f64::NAN], &[2.0, 1.0]).is_none());
    }

    #[test]
    fn mser5_finds_transient() {
        // Deterministic pseudo-noise in [-1, 1].
        let mut state: u64 = 12345;
        let mut noise = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        };
        let series: Vec<f64> = (0..2000)
            .map(|i| {
                let trend = if i < 200 {
                    100.0 * (1.0 - i as f64 / 200.0)
                } else {
                    0.0
                };
                trend + noise()
            })
            .collect();
        let d = mser5(&series);
        assert!((180..=260).contains(&d), "d = {d}");
        assert_eq!(d % 5, 0);
        // Stationary noise: little or no truncation.
        let flat: Vec<f64> = (0..2000).map(|_| noise()).collect();
        assert!(mser5(&flat) < 1000);
        assert_eq!(mser5(&[1.0; 7]), 0);
        assert_eq!(mser5(&[f64::NAN; 50]), 0);
        // Exponential decay 100 e^{-i/30}: below noise well before 200.
        let decay: Vec<f64> = (0..2000)
            .map(|i| 100.0 * (-(i as f64) / 30.0).exp() + noise())
            .collect();
        let d = mser5(&decay);
        assert!((60..=250).contains(&d), "d = {d}");
    }

    #[test]
    fn relative_half_width_cases() {
        assert_eq!(relative_half_width(10.0, 1.0), 0.1);
        assert_eq!(relative_half_width(-10.0, 1.0), 0.1);
        assert_eq!(relative_half_width(0.0, 0.0), 0.0);
        assert_eq!(relative_half_width(0.0, 1.0), f64::INFINITY);
        assert_eq!(relative_half_width(f64::NAN, 1.0), f64::INFINITY);
    }
}
