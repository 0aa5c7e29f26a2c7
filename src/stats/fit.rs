//! Fitting a law to measured data: maximum likelihood for each candidate
//! family (closed forms where they exist, Newton's method on the one
//! shape equation otherwise), ranked by AIC, with the Kolmogorov-Smirnov
//! and Anderson-Darling statistics of each fit.
//!
//! Ranking: by AIC (Akaike 1974), except that a family with fewer
//! parameters within 2 AIC units of the best is preferred (Burnham and
//! Anderson, *Model Selection and Multimodel Inference*, 2002, §2.6: a
//! difference below 2 is no evidence for the larger model). Gamma and
//! Weibull contain the exponential (shape 1), so on exponential data they
//! gain a little likelihood by chance; without the rule the larger family
//! would win about a fifth of the time.

use statrs::distribution::{ContinuousCDF, Gamma, Normal};
use statrs::function::gamma::{digamma, ln_gamma};

/// The families tried, in order of their parameter counts. A shifted
/// family is the law moved right by a least value (`shift`) fitted with
/// it: service times with a fixed part (a round trip, a disk write).
pub const FAMILIES: [&str; 9] = [
    "constant",
    "exponential",
    "lognormal",
    "gamma",
    "weibull",
    "shifted exponential",
    "shifted lognormal",
    "shifted gamma",
    "shifted weibull",
];

/// One family fitted to the data.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Fit {
    pub family: &'static str,
    /// The law as a scenario's `dist` table writes it (seconds): `mean`,
    /// and `sd` or `shape` where the family has them.
    pub mean_s: f64,
    pub sd_s: Option<f64>,
    pub shape: Option<f64>,
    /// Shifted families: the least value; `mean_s` is the whole law's mean
    /// (shift included), as a scenario's `dist` table takes it.
    pub shift_s: Option<f64>,
    pub parameters: usize,
    pub log_likelihood: f64,
    pub aic: f64,
    /// Kolmogorov-Smirnov distance between the data and the law.
    pub ks: f64,
    /// Anderson-Darling statistic (weights the tails).
    pub anderson_darling: f64,
}

impl Fit {
    /// The `dist` table to paste into a scenario (`service = ...`).
    pub fn dist_toml(&self) -> String {
        let seconds = |x: f64| format!("\"{}\"", duration_text(x));
        let law = self.base_dist_toml();
        match self.shift_s {
            Some(shift) => law.replacen(" }", &format!(", shift = {} }}", seconds(shift)), 1),
            None => law,
        }
    }

    /// The family without its shift: "gamma" for "shifted gamma".
    pub fn base(&self) -> &'static str {
        self.family.strip_prefix("shifted ").unwrap_or(self.family)
    }

    fn base_dist_toml(&self) -> String {
        let seconds = |x: f64| format!("\"{}\"", duration_text(x));
        match self.base() {
            "lognormal" => format!(
                "{{ dist = \"lognormal\", mean = {}, sd = {} }}",
                seconds(self.mean_s),
                seconds(self.sd_s.unwrap_or(0.0))
            ),
            "gamma" | "weibull" => format!(
                "{{ dist = \"{}\", mean = {}, shape = {} }}",
                self.base(),
                seconds(self.mean_s),
                significant(self.shape.unwrap_or(1.0))
            ),
            family => format!("{{ dist = \"{family}\", mean = {} }}", seconds(self.mean_s)),
        }
    }

    /// The law's cumulative distribution function at `x` seconds.
    pub fn cdf(&self, x: f64) -> f64 {
        let shift = self.shift_s.unwrap_or(0.0);
        let (x, mean) = (x - shift, self.mean_s - shift);
        if x <= 0.0 {
            return 0.0;
        }
        match self.base() {
            "constant" => f64::from(u8::from(x >= mean)),
            "exponential" => 1.0 - (-x / mean).exp(),
            "lognormal" => {
                let (mu, sigma) = lognormal_log_parameters(mean, self.sd_s.unwrap_or(0.0));
                Normal::new(mu, sigma).map_or(0.0, |n| n.cdf(x.ln()))
            }
            "gamma" => {
                let k = self.shape.unwrap_or(1.0);
                Gamma::new(k, k / mean).map_or(0.0, |g| g.cdf(x))
            }
            "weibull" => {
                let k = self.shape.unwrap_or(1.0);
                let scale = mean / ln_gamma(1.0 + 1.0 / k).exp();
                1.0 - (-(x / scale).powf(k)).exp()
            }
            _ => f64::NAN,
        }
    }
}

impl Fit {
    /// The law's quantile at probability `p` (0 < p < 1), in seconds: the
    /// smallest x with `cdf(x) >= p`, found by bisection (every family's
    /// CDF is increasing; the constant's quantile is its value).
    pub fn quantile(&self, p: f64) -> f64 {
        if self.family == "constant" || !(p > 0.0 && p < 1.0) {
            return self.mean_s;
        }
        let shift = self.shift_s.unwrap_or(0.0);
        let mut high = (self.mean_s - shift).max(1e-12);
        for _ in 0..200 {
            if self.cdf(shift + high) >= p {
                break;
            }
            high *= 2.0;
        }
        let mut low = 0.0;
        high += shift;
        low += shift;
        for _ in 0..100 {
            let middle = (low + high) / 2.0;
            if self.cdf(middle) >= p {
                high = middle;
            } else {
                low = middle;
            }
        }
        high
    }
}

/// Up to 6 significant digits, without trailing zeros.
pub fn significant(x: f64) -> String {
    let v: f64 = format!("{x:.5e}").parse().unwrap_or(x);
    format!("{v}")
}

/// "1 value", "3 values": a count with its noun.
pub fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A duration of `x` seconds as a scenario writes it, to 6 significant
/// digits: in seconds from 1 ms up, below that in microseconds (or
/// nanoseconds), so that a small shift reads "35us", not "0.000035s".
pub fn duration_text(x: f64) -> String {
    if x >= 1e-3 || x == 0.0 {
        format!("{}s", significant(x))
    } else if x >= 1e-6 {
        format!("{}us", significant(x * 1e6))
    } else {
        format!("{}ns", significant(x * 1e9))
    }
}

/// Whether the scenario loader takes the law as `dist_toml` prints it:
/// rounding to 6 digits can bring a shift up to the mean, and a gamma's
/// shape can pass the loader's 1e6; such a fit is left out rather than
/// printed for the user to paste and see refused.
fn loadable(fit: &Fit) -> bool {
    #[derive(serde::Deserialize)]
    struct Law {
        law: crate::scenario::DistCfg,
    }
    toml::from_str::<Law>(&format!("law = {}", fit.dist_toml()))
        .is_ok_and(|law| crate::scenario::dist::Dist::compile(&law.law).is_ok())
}

/// `mu` and `sigma` of the log, from the mean and sd of the variable.
fn lognormal_log_parameters(mean: f64, sd: f64) -> (f64, f64) {
    let sigma2 = (1.0 + (sd / mean).powi(2)).ln();
    (mean.ln() - sigma2 / 2.0, sigma2.sqrt())
}

/// Every family that can be fitted (positive, finite data; at least 2
/// values), ranked best first.
pub fn fit_all(data: &[f64]) -> Result<Vec<Fit>, String> {
    if data.len() < 2 {
        return Err(format!(
            "{}: at least 2 are needed to fit a law",
            counted(data.len(), "value")
        ));
    }
    if let Some(bad) = data.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
        return Err(format!(
            "{bad} is not a positive duration: every value must be above 0"
        ));
    }
    let mut sorted = data.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted[sorted.len() - 1] - sorted[0] <= sorted[0] * 1e-9 {
        // One value (to rounding, as gaps between timestamps read in
        // floating point are): the constant law.
        let mut only = describe("constant", sorted[0], None, None, 1, f64::INFINITY);
        only.aic = f64::NEG_INFINITY;
        return Ok(vec![only]);
    }
    // A family whose equation has no solution on these data (gamma and
    // Weibull shapes beyond their brackets) is left out, not fatal.
    let mut fits = vec![exponential(&sorted), lognormal(&sorted)];
    fits.extend(gamma(&sorted).ok());
    fits.extend(weibull(&sorted).ok());
    // A shift below 1% of the mean is left out: one tick of a coarse clock
    // (timestamps to 0.1 ms leave no gap below 0.1 ms) would otherwise win
    // on AIC, the exponential's shift being estimated to O(1/n), while
    // changing no figure a model reports.
    let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
    for family in &FAMILIES[5..] {
        let fit = shifted(&sorted, family).ok().flatten();
        fits.extend(fit.filter(|f| f.shift_s.unwrap_or(0.0) >= SHIFT_MEAN_FRACTION_MIN * mean));
    }
    fits.retain(loadable);
    if fits.is_empty() {
        return Err("no law the scenario loader takes fits these values (they are too nearly constant for a spread, and too spread for a constant)".into());
    }
    for f in &mut fits {
        f.ks = kolmogorov_smirnov(&sorted, f);
        f.anderson_darling = anderson_darling(&sorted, f);
    }
    Ok(rank(fits))
}

fn describe(
    family: &'static str,
    mean_s: f64,
    sd_s: Option<f64>,
    shape: Option<f64>,
    parameters: usize,
    log_likelihood: f64,
) -> Fit {
    Fit {
        family,
        mean_s,
        sd_s,
        shape,
        shift_s: None,
        parameters,
        log_likelihood,
        aic: 2.0 * parameters as f64 - 2.0 * log_likelihood,
        ks: 0.0,
        anderson_darling: 0.0,
    }
}

/// By AIC, a simpler family within 2 units of the best first (module
/// documentation).
fn rank(mut fits: Vec<Fit>) -> Vec<Fit> {
    fits.sort_by(|a, b| a.aic.total_cmp(&b.aic));
    let best = fits[0].aic;
    if let Some(simplest) = (0..fits.len())
        .filter(|&i| fits[i].aic - best < 2.0)
        .min_by_key(|&i| (fits[i].parameters, i))
    {
        let chosen = fits.remove(simplest);
        fits.insert(0, chosen);
    }
    fits
}

fn exponential(x: &[f64]) -> Fit {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    describe("exponential", mean, None, None, 1, -n * mean.ln() - n)
}

fn lognormal(x: &[f64]) -> Fit {
    let n = x.len() as f64;
    let logs: Vec<f64> = x.iter().map(|v| v.ln()).collect();
    let mu = logs.iter().sum::<f64>() / n;
    let sigma2 = logs.iter().map(|l| (l - mu).powi(2)).sum::<f64>() / n;
    let sigma = sigma2.sqrt();
    let ll = -logs.iter().sum::<f64>()
        - n * sigma.ln()
        - n / 2.0 * (2.0 * std::f64::consts::PI).ln()
        - n / 2.0;
    let mean = (mu + sigma2 / 2.0).exp();
    let sd = mean * (sigma2.exp() - 1.0).sqrt();
    describe("lognormal", mean, Some(sd), None, 2, ll)
}

/// Gamma: the shape solves ln k - digamma(k) = ln(mean) - mean(ln x)
/// (Minka's starting point, then Newton).
fn gamma(x: &[f64]) -> Result<Fit, String> {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let mean_log = x.iter().map(|v| v.ln()).sum::<f64>() / n;
    let s = mean.ln() - mean_log;
    if !(s > 1e-12 && s.is_finite()) {
        // Jensen's gap vanishes only for (nearly) constant data.
        return Err("the gamma fit did not converge".into());
    }
    let mut k = (3.0 - s + ((s - 3.0).powi(2) + 24.0 * s).sqrt()) / (12.0 * s);
    for _ in 0..100 {
        let f = k.ln() - digamma(k) - s;
        let trigamma = trigamma(k);
        let step = f / (1.0 / k - trigamma);
        let next = (k - step).max(k / 10.0);
        if (next - k).abs() < 1e-12 * k {
            k = next;
            break;
        }
        k = next;
    }
    if !(k.is_finite() && k > 0.0) {
        return Err("the gamma fit did not converge".into());
    }
    let theta = mean / k;
    let ll = (k - 1.0) * n * mean_log - n * mean / theta - n * k * theta.ln() - n * ln_gamma(k);
    Ok(describe("gamma", mean, None, Some(k), 2, ll))
}

/// The least shift, as a fraction of the data's mean, that a shifted
/// family is offered with.
pub const SHIFT_MEAN_FRACTION_MIN: f64 = 0.01;

/// The most values the shift is searched on (order statistics, evenly
/// spaced); the shift's own error is O(1/n), far below the law's
/// parameters' O(1/sqrt(n)) at this size.
const SHIFT_SEARCH_VALUES: usize = 100_000;

/// Profile-likelihood search points over the shift, before refining.
const SHIFT_GRID: usize = 32;

/// A shifted family: the least value `c` maximises the profile likelihood
/// (the family's own fit to x - c; the shift does not change densities'
/// scale, so the likelihoods compare). `c` stays at least one gap below
/// the smallest value: as `c` nears it, the lognormal's, and the gamma's
/// and Weibull's with shape below 1, likelihood grows without bound (the
/// known degeneracy of three-parameter fits), which the gap keeps out of
/// reach. A grid of `SHIFT_GRID` points, then golden-section search
/// around the best. `None` when the data leave no room for a shift.
fn shifted(sorted: &[f64], family: &'static str) -> Result<Option<Fit>, String> {
    let n = sorted.len();
    // The gap to the next distinct value: a repeated minimum (a coarse
    // clock) must not let the shift reach it, where the likelihood is
    // unbounded.
    // Values equal up to rounding are one value: gaps worked out from
    // timestamps on one clock tick differ in their last bits.
    let tie = sorted[n - 1] * 1e-9;
    let next = sorted
        .iter()
        .copied()
        .find(|x| *x > sorted[0] + tie)
        .unwrap_or(sorted[0]);
    let gap = (next - sorted[0]).max((sorted[n - 1] - sorted[0]) * 1e-9);
    let c_max = sorted[0] - gap;
    if c_max <= 0.0 {
        return Ok(None);
    }
    let base = family.strip_prefix("shifted ").unwrap_or(family);
    let fit_at = |data: &[f64], c: f64| -> Result<Fit, String> {
        let moved: Vec<f64> = data.iter().map(|x| x - c).collect();
        match base {
            "exponential" => Ok(exponential(&moved)),
            "lognormal" => Ok(lognormal(&moved)),
            "gamma" => gamma(&moved),
            _ => weibull(&moved),
        }
    };
    // The search runs on evenly spaced order statistics (the least value
    // among them), the final fit on every value: ten million values would
    // otherwise cost a hundred full fits per family.
    let search: Vec<f64> = if n > SHIFT_SEARCH_VALUES {
        let last = SHIFT_SEARCH_VALUES - 1;
        (0..SHIFT_SEARCH_VALUES)
            .map(|i| sorted[i * (n - 1) / last])
            .collect()
    } else {
        sorted.to_vec()
    };
    let likelihood = |c: f64| fit_at(&search, c).map_or(f64::NEG_INFINITY, |f| f.log_likelihood);
    let grid: Vec<f64> = (0..=SHIFT_GRID)
        .map(|j| likelihood(c_max * j as f64 / SHIFT_GRID as f64))
        .collect();
    let best = (0..=SHIFT_GRID)
        .max_by(|&a, &b| grid[a].total_cmp(&grid[b]))
        .unwrap_or(0);
    let step = c_max / SHIFT_GRID as f64;
    let (mut low, mut high) = (
        step * best.saturating_sub(1) as f64,
        (step * (best + 1) as f64).min(c_max),
    );
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..40 {
        let (a, b) = (high - ratio * (high - low), low + ratio * (high - low));
        if likelihood(a) >= likelihood(b) {
            high = b;
        } else {
            low = a;
        }
    }
    let c = (low + high) / 2.0;
    let at = fit_at(sorted, c)?;
    let mut f = describe(
        family,
        at.mean_s + c,
        at.sd_s,
        at.shape,
        at.parameters + 1,
        at.log_likelihood,
    );
    f.shift_s = Some(c);
    Ok(Some(f))
}

/// The trigamma function, by its asymptotic series after recurrence.
fn trigamma(mut x: f64) -> f64 {
    if !(x > 0.0 && x.is_finite()) {
        return f64::NAN;
    }
    let mut sum = 0.0;
    while x < 10.0 {
        sum += 1.0 / (x * x);
        x += 1.0;
    }
    let inverse = 1.0 / x;
    let inverse2 = inverse * inverse;
    sum + inverse
        + inverse2 / 2.0
        + inverse * inverse2 * (1.0 / 6.0 - inverse2 * (1.0 / 30.0 - inverse2 / 42.0))
}

/// Weibull: the shape solves 1/k + mean(ln x) - sum(x^k ln x) / sum(x^k)
/// = 0 (monotone in k: bisection on a bracket, then it is exact to 1e-10).
fn weibull(x: &[f64]) -> Result<Fit, String> {
    let n = x.len() as f64;
    // Logs once; the data scaled by the largest so that powers stay finite.
    let logs: Vec<f64> = x.iter().map(|v| v.ln()).collect();
    let mean_log = logs.iter().sum::<f64>() / n;
    let log_top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let equation = |k: f64| {
        let (mut a, mut b) = (0.0, 0.0);
        for l in &logs {
            let p = (k * (l - log_top)).exp();
            a += p * l;
            b += p;
        }
        1.0 / k + mean_log - a / b
    };
    let (mut low, mut high) = (1e-3, 1.0);
    while equation(high) > 0.0 {
        high *= 2.0;
        if high > 1e4 {
            return Err("the Weibull fit did not converge".into());
        }
    }
    for _ in 0..200 {
        let mid = (low + high) / 2.0;
        if equation(mid) > 0.0 {
            low = mid;
        } else {
            high = mid;
        }
        if high - low < 1e-12 * high {
            break;
        }
    }
    let k = (low + high) / 2.0;
    let power_mean = logs.iter().map(|l| (k * (l - log_top)).exp()).sum::<f64>() / n;
    let log_scale = log_top + power_mean.ln() / k;
    let scale = log_scale.exp();
    // sum((x / scale)^k) = n by the scale's own equation.
    let ll = n * k.ln() - n * k * log_scale + (k - 1.0) * n * mean_log - n;
    let mean = scale * ln_gamma(1.0 + 1.0 / k).exp();
    Ok(describe("weibull", mean, None, Some(k), 2, ll))
}

/// Largest distance between the empirical and the fitted CDF.
fn kolmogorov_smirnov(sorted: &[f64], f: &Fit) -> f64 {
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let c = f.cdf(*x);
            ((i + 1) as f64 / n - c).max(c - i as f64 / n)
        })
        .fold(0.0, f64::max)
}

/// A^2 = -n - (1/n) sum (2i - 1) [ln F(x_i) + ln(1 - F(x_{n+1-i}))].
fn anderson_darling(sorted: &[f64], f: &Fit) -> f64 {
    let n = sorted.len();
    let clamp = |p: f64| p.clamp(1e-300, 1.0 - 1e-16);
    let sum: f64 = (0..n)
        .map(|i| {
            let low = clamp(f.cdf(sorted[i])).ln();
            let high = (1.0 - clamp(f.cdf(sorted[n - 1 - i]))).ln();
            (2 * i + 1) as f64 * (low + high)
        })
        .sum();
    -(n as f64) - sum / n as f64
}

/// Interarrival times from timestamps (sorted first), in the same unit,
/// and how many gaps were 0 (repeated timestamps: a clock coarser than
/// the gaps), which no law on (0, inf) can take and are left out.
pub fn interarrivals(timestamps: &[f64]) -> (Vec<f64>, usize) {
    let mut t = timestamps.to_vec();
    t.sort_by(f64::total_cmp);
    let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    let zero = gaps.iter().filter(|d| **d <= 0.0).count();
    (gaps.into_iter().filter(|d| *d > 0.0).collect(), zero)
}

/// The most windows a rate profile has (a scenario's profile file takes
/// as many rows).
pub const PROFILE_WINDOWS_MAX: usize = 100_000;

/// The arrival rate per window of `window_s` seconds (from the first
/// timestamp): a piecewise-constant profile, as (start_s, rate per second).
/// The last window is cut short by the last timestamp: it is merged into
/// the one before (their arrivals over their joint length), so that no
/// rate is divided by a length the data did not cover; alone, its length
/// is the data's span.
pub fn rate_profile(timestamps: &[f64], window_s: f64) -> Result<Vec<(f64, f64)>, String> {
    let mut t = timestamps.to_vec();
    t.sort_by(f64::total_cmp);
    let Some(&first) = t.first() else {
        return Ok(Vec::new());
    };
    let span = t[t.len() - 1] - first;
    let windows = (span / window_s).floor() + 1.0;
    if windows > PROFILE_WINDOWS_MAX as f64 {
        return Err(format!(
            "{windows} windows of {} s over the data's {} s: at most {PROFILE_WINDOWS_MAX}; give a longer --window",
            significant(window_s),
            significant(span)
        ));
    }
    let windows = windows as usize;
    let mut counts = vec![0u64; windows];
    for x in &t {
        let i = (((x - first) / window_s) as usize).min(windows - 1);
        counts[i] += 1;
    }
    let mut lengths = vec![window_s; windows];
    let covered = span - (windows - 1) as f64 * window_s;
    if windows > 1 {
        let (count, last) = (counts.pop().unwrap_or(0), windows - 2);
        lengths.pop();
        counts[last] += count;
        lengths[last] += covered;
    } else if span > 0.0 {
        lengths[0] = span;
    }
    Ok(counts
        .iter()
        .zip(&lengths)
        .enumerate()
        .map(|(i, (c, length))| (i as f64 * window_s, *c as f64 / length))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_inverts_the_cdf() {
        let data: Vec<f64> = (1..=500)
            .map(|i| 0.002 * i as f64 + 0.001 * (i % 7) as f64)
            .collect();
        for f in fit_all(&data).unwrap() {
            for p in [0.001, 0.1, 0.5, 0.9, 0.999] {
                let x = f.quantile(p);
                assert!(
                    (f.cdf(x) - p).abs() < 1e-9,
                    "{}: cdf(quantile({p})) = {}",
                    f.family,
                    f.cdf(x)
                );
            }
        }
    }

    #[test]
    fn trigamma_matches_known_values() {
        // trigamma(1) = pi^2 / 6, trigamma(1/2) = pi^2 / 2.
        let pi2 = std::f64::consts::PI.powi(2);
        assert!((trigamma(1.0) - pi2 / 6.0).abs() < 1e-9);
        assert!((trigamma(0.5) - pi2 / 2.0).abs() < 1e-9);
    }

    #[test]
    fn one_value_is_a_constant() {
        let fits = fit_all(&[0.25, 0.25, 0.25]).unwrap();
        assert_eq!(fits[0].family, "constant");
        assert_eq!(
            fits[0].dist_toml(),
            "{ dist = \"constant\", mean = \"0.25s\" }"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(fit_all(&[1.0]).is_err());
        assert!(fit_all(&[1.0, 0.0, 2.0]).unwrap_err().contains("positive"));
    }

    #[test]
    fn a_rate_profile_counts_per_window() {
        // The last window (10 to 10.1 s) is merged into the one before.
        let p = rate_profile(&[0.0, 0.5, 1.0, 9.9, 10.0, 10.1], 5.0).unwrap();
        assert_eq!(p, vec![(0.0, 0.6), (5.0, 3.0 / 5.1)]);
        // Alone, a window's length is the data's span.
        let p = rate_profile(&[0.0, 1.0, 2.0], 5.0).unwrap();
        assert_eq!(p, vec![(0.0, 1.5)]);
        assert!(rate_profile(&[0.0, 1e6], 1.0)
            .unwrap_err()
            .contains("at most 100000"));
    }

    #[test]
    fn a_clock_tick_is_no_shift() {
        // Exponential quantiles (mean 0.25 s) read by a 0.1 ms clock: no gap
        // below one tick, which is no fixed part of the law.
        let n = 5000;
        let data: Vec<f64> = (0..n)
            .map(|i| -(1.0 - (i as f64 + 0.5) / n as f64).ln() * 0.25)
            .map(|x| (x / 1e-4).round() * 1e-4)
            .filter(|x| *x > 0.0)
            .collect();
        let fits = fit_all(&data).unwrap();
        assert_eq!(fits[0].family, "exponential", "{fits:?}");
        assert!(fits.iter().all(|f| f.shift_s.is_none()), "{fits:?}");
    }

    #[test]
    fn a_repeated_minimum_does_not_pin_the_shift() {
        let data = [
            0.12, 0.12, 0.135, 0.15, 0.18, 0.21, 0.16, 0.14, 0.2, 0.175, 0.13, 0.145,
        ];
        let fits = fit_all(&data).unwrap();
        for f in fits.iter().filter(|f| f.shift_s.is_some()) {
            assert!(f.shift_s.unwrap() <= 0.12 - 0.01 + 1e-12, "{f:?}");
        }
        assert!(fits[0].ks < 0.3, "{:?}", fits[0]);
    }

    #[test]
    fn nearly_constant_data_end() {
        // Jensen's gap below rounding: the gamma's shape equation has no
        // root (it once looped for ever in trigamma), and is left out.
        let fits = fit_all(&[1.0, 1.0 + 1e-8, 1.0, 1.0 + 2e-8]).unwrap();
        assert!(fits.iter().all(|f| f.base() != "gamma"), "{fits:?}");
        assert!(trigamma(-1e18).is_nan());
    }

    #[test]
    fn repeated_timestamps_are_counted() {
        let (gaps, zero) = interarrivals(&[3.0, 1.0, 1.0, 2.0, 3.0]);
        assert_eq!(gaps, vec![1.0, 1.0]);
        assert_eq!(zero, 2);
    }
}

#[cfg(test)]
mod loadable_tests {
    use super::*;

    /// Exponential quantiles at `n` points, scaled and moved.
    fn exponential_quantiles(n: usize, scale: f64, start: f64) -> Vec<f64> {
        (1..=n)
            .map(|i| start - scale * (1.0 - i as f64 / (n as f64 + 1.0)).ln())
            .collect()
    }

    /// Every law fit prints is one the scenario loader takes: a spread of
    /// 1e-7 on a 1 s value rounds the shifted laws' shift up to their mean
    /// at 6 digits, and the gamma's shape passes 1e6.
    #[test]
    fn every_printed_law_loads() {
        for data in [
            exponential_quantiles(400, 1e-7, 1.0),
            exponential_quantiles(400, 1e-4, 1.0),
        ] {
            let fits = fit_all(&data).unwrap();
            for f in &fits {
                assert!(loadable(f), "{} prints {}", f.family, f.dist_toml());
            }
        }
    }

    #[test]
    fn small_durations_keep_a_readable_unit() {
        assert_eq!(duration_text(0.25), "0.25s");
        assert_eq!(duration_text(0.001), "0.001s");
        assert_eq!(duration_text(0.000035), "35us");
        assert_eq!(duration_text(2.5e-8), "25ns");
        assert_eq!(counted(1, "gap"), "1 gap");
        assert_eq!(counted(0, "gap"), "0 gaps");
    }

    /// Ten million values fit in seconds, not minutes: the shift is
    /// searched on order statistics. The search's shift agrees with the
    /// full data's within the values' own resolution.
    #[test]
    fn the_shift_search_on_order_statistics_finds_the_shift() {
        let data = exponential_quantiles(300_000, 0.1, 0.02);
        let fits = fit_all(&data).unwrap();
        let shifted = fits
            .iter()
            .find(|f| f.family == "shifted exponential")
            .unwrap();
        let shift = shifted.shift_s.unwrap();
        assert!((shift - 0.02).abs() < 1e-5, "shift {shift}");
    }

    /// Gaps of timestamps on a 50 ms clock: the two smallest are one
    /// tick, equal but for their last bits. The shift once took the
    /// rounding for the gap to the next value and sat on the minimum,
    /// where the likelihood is unbounded (a shifted gamma of shape 0.14).
    #[test]
    fn gaps_equal_up_to_rounding_are_one_value() {
        let (gaps, _) = interarrivals(&[0.0, 0.1, 0.25, 0.3, 0.7, 0.75, 1.1, 1.2]);
        let fits = fit_all(&gaps).unwrap();
        for f in &fits {
            if let (Some(shift), Some(shape)) = (f.shift_s, f.shape) {
                assert!(shape > 0.5, "{} shape {shape} shift {shift}", f.family);
            }
        }
        assert!(!fits[0].family.starts_with("shifted"), "{}", fits[0].family);
    }
}
