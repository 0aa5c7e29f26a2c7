//! Distributions of durations, given by their mean so that users think in
//! latencies. Each knows its mean and variance, which the queueing theory
//! (M/G/1) needs.

use crate::rng::{unit, unit_open0, Stream};
use crate::scenario::DistCfg;
use crate::time::{secs_to_ns, Duration, Nanos};
use rand_distr::{Distribution, Gamma, StandardNormal};

pub const DIST_NAMES: [&str; 10] = [
    "exponential",
    "constant",
    "uniform",
    "normal",
    "lognormal",
    "erlang",
    "gamma",
    "weibull",
    "pareto",
    "empirical",
];

/// The most measurements an empirical law takes (8 bytes each, kept
/// sorted; a draw is one uniform and one index, whatever their number).
pub const EMPIRICAL_VALUES_MAX: usize = 1_000_000;

/// A compiled distribution; parameters in seconds.
#[derive(Clone, Debug)]
pub enum Dist {
    Exponential {
        mean: f64,
    },
    Constant {
        value: f64,
    },
    Uniform {
        min: f64,
        max: f64,
    },
    /// Normal truncated at zero: negative draws are drawn again.
    Normal {
        mean: f64,
        sd: f64,
    },
    /// Parameters of the log: `mu`, `sigma`.
    LogNormal {
        mu: f64,
        sigma: f64,
        mean: f64,
        sd: f64,
    },
    Gamma {
        shape: f64,
        scale: f64,
        gamma: Box<Gamma<f64>>,
    },
    Weibull {
        shape: f64,
        scale: f64,
    },
    Pareto {
        shape: f64,
        scale: f64,
    },
    /// Measured durations, sorted: a draw is one of them at random, or
    /// with `interpolate` a point between two neighbours (the empirical
    /// quantile function, linear between order statistics). Mean and
    /// variance are the data's (the linear form's where interpolated).
    /// Boxed: the other laws stay small where the hot path keeps them.
    Empirical(Box<Empirical>),
    /// A law moved right by a fixed least duration (`shift`).
    Shifted(Box<Shifted>),
}

/// The families a `shift` applies to: those on (0, inf) given by a mean.
pub const SHIFTABLE: [&str; 5] = ["exponential", "lognormal", "erlang", "gamma", "weibull"];

/// `shift` seconds plus a draw of `law`.
#[derive(Clone, Debug)]
pub struct Shifted {
    shift: f64,
    law: Dist,
}

/// An empirical law's data and moments.
#[derive(Clone, Debug)]
pub struct Empirical {
    sorted: Vec<f64>,
    interpolate: bool,
    mean: f64,
    variance: f64,
}

/// "a gamma", "an exponential": the law's name with its article.
fn a_law(name: &str) -> String {
    // "a uniform": a "u" read as "you" takes "a".
    let vowel = name.starts_with(['a', 'e', 'i', 'o', 'u']) && !name.starts_with("uni");
    format!("{} {name}", if vowel { "an" } else { "a" })
}

fn secs(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.secs())
}

/// Checks a distribution table. Errors are `(key, message)`.
pub fn check(cfg: &DistCfg) -> Result<(), (String, String)> {
    Dist::compile(cfg).map(|_| ())
}

/// A shifted law: the family compiled with the mean less the shift, then
/// moved right by it. The lognormal's `sd` and the gamma's `sd` are the
/// whole's (a shift does not change the spread).
fn shifted(cfg: &DistCfg, shift: Duration) -> Result<Dist, (String, String)> {
    if !DIST_NAMES.contains(&cfg.dist.as_str()) {
        // A misspelt name is the first thing wrong: say so, with the
        // nearest name, before anything about the shift.
        return Dist::compile(&DistCfg {
            shift: None,
            ..cfg.clone()
        });
    }
    if !SHIFTABLE.contains(&cfg.dist.as_str()) {
        return Err((
            "shift".into(),
            format!(
                "`shift` applies to {}; {} distribution takes none",
                SHIFTABLE.join(", "),
                a_law(&cfg.dist)
            ),
        ));
    }
    let mean = cfg.mean.ok_or((
        "mean".to_string(),
        format!("{} distribution needs `mean`", a_law(&cfg.dist)),
    ))?;
    if mean.0 <= shift.0 {
        return Err((
            "shift".into(),
            format!(
                "`shift` ({shift}) must be below `mean` ({mean}): the mean is the whole law's, shift included"
            ),
        ));
    }
    let law = Dist::compile(&DistCfg {
        shift: None,
        mean: Some(Duration(mean.0 - shift.0)),
        ..cfg.clone()
    })?;
    if shift.0 == 0 {
        return Ok(law);
    }
    Ok(Dist::Shifted(Box::new(Shifted {
        shift: shift.secs(),
        law,
    })))
}

/// A positive, finite value of `key`, or the error naming it.
fn need(cfg: &DistCfg, v: Option<f64>, key: &str) -> Result<f64, (String, String)> {
    match v {
        Some(x) if x > 0.0 && x.is_finite() => Ok(x),
        Some(_) => Err((
            key.into(),
            format!("`{key}` of {} must be above zero", a_law(&cfg.dist)),
        )),
        None => Err((
            key.into(),
            format!("{} distribution needs `{key}`", a_law(&cfg.dist)),
        )),
    }
}

/// Refuses a key the family does not take.
fn allow_only(cfg: &DistCfg, keys: &[&str]) -> Result<(), (String, String)> {
    let given = [
        ("mean", cfg.mean.is_some()),
        ("sd", cfg.sd.is_some()),
        ("min", cfg.min.is_some()),
        ("max", cfg.max.is_some()),
        ("shape", cfg.shape.is_some()),
        ("values", cfg.values.is_some()),
        ("interpolate", cfg.interpolate.is_some()),
        ("file", cfg.file.is_some()),
    ];
    for (k, present) in given {
        if present && !keys.contains(&k) {
            return Err((
                k.into(),
                format!(
                    "{} distribution takes {}; `{k}` does not apply",
                    a_law(&cfg.dist),
                    keys.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Erlang and gamma: `mean` with `shape` or `sd` (an erlang's shape whole).
fn gamma_family(cfg: &DistCfg) -> Result<Dist, (String, String)> {
    allow_only(cfg, &["mean", "sd", "shape"])?;
    let mean = need(cfg, secs(cfg.mean), "mean")?;
    let shape = match (cfg.shape, secs(cfg.sd)) {
        (Some(k), None) => k,
        (None, Some(sd)) if sd > 0.0 => (mean / sd).powi(2),
        (None, None) => {
            return Err((
                "shape".into(),
                format!("{} distribution needs `shape` (or `sd`)", a_law(&cfg.dist)),
            ))
        }
        _ => return Err(("shape".into(), "give `shape` or `sd`, not both".into())),
    };
    if !(shape.is_finite() && shape > 0.0) || shape > 1e6 {
        return Err((
            "shape".into(),
            "`shape` must be above zero and at most 1e6".into(),
        ));
    }
    if cfg.dist == "erlang" && shape.fract() != 0.0 {
        if cfg.shape.is_none() {
            // The shape came from `sd` (and the mean less any
            // shift): blame the key the user wrote.
            return Err((
                "sd".into(),
                format!("an erlang's `sd` must make (mean / sd)² a whole number of phases, and here it is {shape:.3} (the mean less any `shift`, over `sd`, squared); give `shape` instead, or use gamma"),
            ));
        }
        return Err((
            "shape".into(),
            "the shape of an erlang distribution is a whole number of phases; use gamma for others"
                .into(),
        ));
    }
    let scale = mean / shape;
    let gamma = Gamma::new(shape, scale)
        .map_err(|e| ("shape".to_string(), format!("bad gamma parameters: {e}")))?;
    Ok(Dist::Gamma {
        shape,
        scale,
        gamma: Box::new(gamma),
    })
}

/// The empirical law of `values` (or of the file's, read at load).
fn empirical_law(cfg: &DistCfg) -> Result<Dist, (String, String)> {
    allow_only(cfg, &["values", "interpolate", "file"])?;
    let values = cfg.values.as_deref().or(cfg.loaded.as_deref());
    if values.is_none() && cfg.file.is_some() {
        return Err((
            "file".into(),
            "the file was not read: load the scenario with `mqsim::scenario::load_file`, which reads it".into(),
        ));
    }
    // Values read from a file are the file's fault, not a key's.
    let from_file = cfg.values.is_none() && cfg.file.is_some();
    empirical(values, cfg.interpolate.unwrap_or(false)).map_err(|(key, message)| {
        match (from_file, key.as_str()) {
            (true, "values") => ("file".to_string(), message),
            _ => (key, message),
        }
    })
}

impl Dist {
    pub fn compile(cfg: &DistCfg) -> Result<Dist, (String, String)> {
        if let Some(shift) = cfg.shift {
            return shifted(cfg, shift);
        }
        let d = match cfg.dist.as_str() {
            "exponential" => {
                allow_only(cfg, &["mean"])?;
                Dist::Exponential {
                    mean: need(cfg, secs(cfg.mean), "mean")?,
                }
            }
            "constant" => {
                allow_only(cfg, &["mean"])?;
                let v = secs(cfg.mean).ok_or((
                    "mean".to_string(),
                    "a constant distribution needs `mean` (its value)".to_string(),
                ))?;
                Dist::Constant { value: v }
            }
            "uniform" => {
                allow_only(cfg, &["min", "max"])?;
                let (min, max) = (secs(cfg.min).unwrap_or(0.0), secs(cfg.max));
                let max = max.ok_or((
                    "max".to_string(),
                    "a uniform distribution needs `max` (and `min`, default 0)".to_string(),
                ))?;
                if max < min {
                    return Err(("max".into(), "`max` must be at least `min`".into()));
                }
                Dist::Uniform { min, max }
            }
            "normal" => {
                allow_only(cfg, &["mean", "sd"])?;
                let mean = need(cfg, secs(cfg.mean), "mean")?;
                let sd = secs(cfg.sd).ok_or((
                    "sd".to_string(),
                    "a normal distribution needs `sd`".to_string(),
                ))?;
                Dist::Normal { mean, sd }
            }
            "lognormal" => {
                allow_only(cfg, &["mean", "sd"])?;
                let mean = need(cfg, secs(cfg.mean), "mean")?;
                let sd = secs(cfg.sd).ok_or((
                    "sd".to_string(),
                    "a lognormal distribution needs `sd` (of the variable, not its log)"
                        .to_string(),
                ))?;
                let sigma2 = (1.0 + (sd / mean).powi(2)).ln();
                Dist::LogNormal {
                    mu: mean.ln() - sigma2 / 2.0,
                    sigma: sigma2.sqrt(),
                    mean,
                    sd,
                }
            }
            "erlang" | "gamma" => gamma_family(cfg)?,
            "weibull" => {
                allow_only(cfg, &["mean", "shape"])?;
                let mean = need(cfg, secs(cfg.mean), "mean")?;
                let k = need(cfg, cfg.shape, "shape")?;
                if !(0.05..=1e3).contains(&k) {
                    return Err((
                        "shape".into(),
                        "the weibull `shape` must be between 0.05 and 1000".into(),
                    ));
                }
                Dist::Weibull {
                    shape: k,
                    scale: mean / gamma_fn(1.0 + 1.0 / k),
                }
            }
            "pareto" => {
                allow_only(cfg, &["mean", "shape"])?;
                let mean = need(cfg, secs(cfg.mean), "mean")?;
                let a = need(cfg, cfg.shape, "shape")?;
                if a <= 1.0 {
                    return Err((
                        "shape".into(),
                        "a pareto `shape` (alpha) must be above 1 for the mean to exist".into(),
                    ));
                }
                Dist::Pareto {
                    shape: a,
                    scale: mean * (a - 1.0) / a,
                }
            }
            "empirical" => empirical_law(cfg)?,
            other => {
                let hint = crate::scenario::load::did_you_mean(other, &DIST_NAMES);
                return Err((
                    "dist".into(),
                    format!(
                        "unknown distribution `{other}`{hint} (allowed: {})",
                        DIST_NAMES.join(", ")
                    ),
                ));
            }
        };
        Ok(d)
    }

    /// Draws one duration.
    #[inline]
    pub fn sample(&self, rng: &mut Stream) -> Nanos {
        secs_to_ns(self.sample_secs(rng))
    }

    /// One draw, in seconds. The exponential (the commonest law, and the
    /// one of every benchmark) is drawn inline; the others out of line.
    #[inline(always)]
    pub fn sample_secs(&self, rng: &mut Stream) -> f64 {
        match self {
            Dist::Exponential { mean } => exponential_secs(*mean, rng),
            _ => self.sample_secs_other(rng),
        }
    }

    #[inline(never)]
    fn sample_secs_other(&self, rng: &mut Stream) -> f64 {
        match self {
            Dist::Exponential { mean } => exponential_secs(*mean, rng),
            Dist::Constant { value } => *value,
            Dist::Uniform { min, max } => min + (max - min) * unit(rng),
            Dist::Normal { mean, sd } => {
                // The mean is positive, so at least half the draws are kept.
                for _ in 0..1000 {
                    let z: f64 = StandardNormal.sample(rng);
                    let x = mean + sd * z;
                    if x >= 0.0 {
                        return x;
                    }
                }
                *mean
            }
            Dist::LogNormal { mu, sigma, .. } => {
                let z: f64 = StandardNormal.sample(rng);
                (mu + sigma * z).exp()
            }
            Dist::Gamma { gamma, .. } => gamma.sample(rng),
            Dist::Weibull { shape, scale } => scale * (-unit_open0(rng).ln()).powf(1.0 / shape),
            Dist::Pareto { shape, scale } => scale / unit_open0(rng).powf(1.0 / shape),
            Dist::Empirical(e) => empirical_draw(&e.sorted, e.interpolate, unit(rng)),
            Dist::Shifted(s) => s.shift + s.law.sample_secs(rng),
        }
    }

    /// Mean in seconds.
    pub fn mean(&self) -> f64 {
        match self {
            Dist::Exponential { mean } => *mean,
            Dist::Constant { value } => *value,
            Dist::Uniform { min, max } => (min + max) / 2.0,
            Dist::Normal { mean, sd } => {
                let (m, _) = truncated_normal_moments(*mean, *sd);
                m
            }
            Dist::LogNormal { mean, .. } => *mean,
            Dist::Gamma { shape, scale, .. } => shape * scale,
            Dist::Weibull { shape, scale } => scale * gamma_fn(1.0 + 1.0 / shape),
            Dist::Pareto { shape, scale } => shape * scale / (shape - 1.0),
            Dist::Empirical(e) => e.mean,
            Dist::Shifted(s) => s.shift + s.law.mean(),
        }
    }

    /// Variance in seconds squared (infinite for a pareto with shape <= 2).
    pub fn variance(&self) -> f64 {
        match self {
            Dist::Exponential { mean } => mean * mean,
            Dist::Constant { .. } => 0.0,
            Dist::Uniform { min, max } => (max - min).powi(2) / 12.0,
            Dist::Normal { mean, sd } => truncated_normal_moments(*mean, *sd).1,
            Dist::LogNormal { sd, .. } => sd * sd,
            Dist::Gamma { shape, scale, .. } => shape * scale * scale,
            Dist::Weibull { shape, scale } => {
                let g1 = gamma_fn(1.0 + 1.0 / shape);
                scale * scale * (gamma_fn(1.0 + 2.0 / shape) - g1 * g1)
            }
            Dist::Pareto { shape, scale } => {
                if *shape <= 2.0 {
                    f64::INFINITY
                } else {
                    scale * scale * shape / ((shape - 1.0).powi(2) * (shape - 2.0))
                }
            }
            Dist::Empirical(e) => e.variance,
            Dist::Shifted(s) => s.law.variance(),
        }
    }

    /// Median in seconds (closed form where there is one, else the mean):
    /// a typical value, for estimates that a heavy tail must not fool.
    pub fn median(&self) -> f64 {
        match self {
            Dist::Exponential { mean } => mean * std::f64::consts::LN_2,
            Dist::LogNormal { mu, .. } => mu.exp(),
            Dist::Weibull { shape, scale } => scale * std::f64::consts::LN_2.powf(1.0 / shape),
            Dist::Pareto { shape, scale } => scale * 2f64.powf(1.0 / shape),
            Dist::Empirical(e) => empirical_draw(&e.sorted, true, 0.5),
            Dist::Shifted(s) => s.shift + s.law.median(),
            other => other.mean(),
        }
    }

    pub fn is_exponential(&self) -> bool {
        matches!(self, Dist::Exponential { .. })
    }

    pub fn is_constant(&self) -> bool {
        matches!(self, Dist::Constant { .. })
    }

    /// The same distribution with every duration multiplied by `k`.
    pub fn scaled(&self, k: f64) -> Dist {
        match self {
            Dist::Exponential { mean } => Dist::Exponential { mean: mean * k },
            Dist::Constant { value } => Dist::Constant { value: value * k },
            Dist::Uniform { min, max } => Dist::Uniform {
                min: min * k,
                max: max * k,
            },
            Dist::Normal { mean, sd } => Dist::Normal {
                mean: mean * k,
                sd: sd * k,
            },
            Dist::LogNormal {
                mu,
                sigma,
                mean,
                sd,
            } => Dist::LogNormal {
                mu: mu + k.ln(),
                sigma: *sigma,
                mean: mean * k,
                sd: sd * k,
            },
            Dist::Gamma { shape, scale, .. } => {
                let g = Gamma::new(*shape, scale * k)
                    .unwrap_or_else(|_| Gamma::new(1.0, 1.0).expect("1,1 is a valid gamma"));
                Dist::Gamma {
                    shape: *shape,
                    scale: scale * k,
                    gamma: Box::new(g),
                }
            }
            Dist::Weibull { shape, scale } => Dist::Weibull {
                shape: *shape,
                scale: scale * k,
            },
            Dist::Pareto { shape, scale } => Dist::Pareto {
                shape: *shape,
                scale: scale * k,
            },
            Dist::Empirical(e) => Dist::Empirical(Box::new(Empirical {
                sorted: e.sorted.iter().map(|x| x * k).collect(),
                interpolate: e.interpolate,
                mean: e.mean * k,
                variance: e.variance * k * k,
            })),
            Dist::Shifted(s) => Dist::Shifted(Box::new(Shifted {
                shift: s.shift * k,
                law: s.law.scaled(k),
            })),
        }
    }
}

/// An empirical law from measured durations: at least one, at most
/// [`EMPIRICAL_VALUES_MAX`], not all zero.
fn empirical(values: Option<&[Duration]>, interpolate: bool) -> Result<Dist, (String, String)> {
    let values = values.ok_or((
        "values".to_string(),
        "an empirical distribution needs `values` (the measured durations, e.g. [\"12ms\", \"15ms\", \"40ms\"]) or `file` (a CSV of them)".to_string(),
    ))?;
    if values.is_empty() || values.len() > EMPIRICAL_VALUES_MAX {
        return Err((
            "values".into(),
            format!(
                "`values` holds {} durations; give from 1 to {EMPIRICAL_VALUES_MAX}",
                values.len()
            ),
        ));
    }
    let mut sorted: Vec<f64> = values.iter().map(|d| d.secs()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let (mean, variance) = if interpolate && sorted.len() > 1 {
        // Uniform between each pair of neighbours, each pair equally likely.
        let pairs = sorted.windows(2);
        let m = pairs.clone().map(|w| (w[0] + w[1]) / 2.0).sum::<f64>() / (n - 1.0);
        let second = pairs
            .map(|w| (w[0] * w[0] + w[0] * w[1] + w[1] * w[1]) / 3.0)
            .sum::<f64>()
            / (n - 1.0);
        (m, (second - m * m).max(0.0))
    } else {
        let m = sorted.iter().sum::<f64>() / n;
        let v = sorted.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n;
        (m, v)
    };
    if mean <= 0.0 {
        return Err((
            "values".into(),
            "the measured durations are all zero: the mean must be above zero".into(),
        ));
    }
    Ok(Dist::Empirical(Box::new(Empirical {
        sorted,
        interpolate,
        mean,
        variance,
    })))
}

/// The draw at uniform `u` in [0, 1): one of the `sorted` values, or
/// with `interpolate` the point at `u` along the line through them.
fn empirical_draw(sorted: &[f64], interpolate: bool, u: f64) -> f64 {
    let n = sorted.len();
    if !interpolate || n == 1 {
        let i = ((u * n as f64) as usize).min(n - 1);
        return sorted[i];
    }
    let at = u * (n - 1) as f64;
    let i = (at as usize).min(n - 2);
    let fraction = at - i as f64;
    sorted[i] + (sorted[i + 1] - sorted[i]) * fraction
}

/// An exponential draw of mean `mean_s` seconds, by inversion.
#[inline(always)]
fn exponential_secs(mean_s: f64, rng: &mut Stream) -> f64 {
    -mean_s * unit_open0(rng).ln()
}

/// Mean and variance of N(m, s^2) truncated to [0, inf).
fn truncated_normal_moments(m: f64, s: f64) -> (f64, f64) {
    if s <= 0.0 {
        return (m.max(0.0), 0.0);
    }
    let a = -m / s;
    let phi = (-0.5 * a * a).exp() / (2.0 * std::f64::consts::PI).sqrt();
    // P(X >= 0) = 1 - Phi(a), with Phi(a) = erfc(-a / sqrt 2) / 2.
    let z = 1.0 - statrs::function::erf::erfc(-a / std::f64::consts::SQRT_2) / 2.0;
    if z <= 0.0 {
        return (0.0, 0.0);
    }
    let lambda = phi / z;
    let mean = m + s * lambda;
    let var = s * s * (1.0 + a * lambda - lambda * lambda);
    (mean, var.max(0.0))
}

fn gamma_fn(x: f64) -> f64 {
    statrs::function::gamma::gamma(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{stream, Domain};

    fn cfg(dist: &str, mean: &str) -> DistCfg {
        DistCfg {
            dist: dist.into(),
            mean: Some(Duration::parse(mean).unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn a_misspelt_law_with_a_shift_gets_its_suggestion() {
        let mut c = cfg("gamam", "1s");
        c.shift = Some(Duration::parse("100ms").unwrap());
        let (key, message) = Dist::compile(&c).unwrap_err();
        assert_eq!(key, "dist");
        assert!(message.contains("did you mean `gamma`"), "{message}");
        let mut c = cfg("uniform", "1s");
        c.shift = Some(Duration::parse("100ms").unwrap());
        let (_, message) = Dist::compile(&c).unwrap_err();
        assert!(message.contains("a uniform distribution"), "{message}");
    }

    #[test]
    fn an_erlang_sd_with_a_shift_is_blamed_on_sd() {
        // (1 s - 0.1 s) / 0.3 s = 3 phases without the shift would be
        // whole; with it, (0.9 / 0.3)² = 9 is whole too, but sd 0.4 s
        // gives 5.0625.
        let mut c = cfg("erlang", "1s");
        c.sd = Some(Duration::parse("400ms").unwrap());
        c.shift = Some(Duration::parse("100ms").unwrap());
        let (key, message) = Dist::compile(&c).unwrap_err();
        assert_eq!(key, "sd");
        assert!(message.contains("5.062"), "{message}");
        c.sd = Some(Duration::parse("300ms").unwrap());
        assert!(Dist::compile(&c).is_ok());
    }

    /// Every distribution's sample mean and variance agree with its stated
    /// moments within 5 standard errors.
    #[test]
    fn an_empirical_law_reproduces_its_data() {
        // 1,000 measurements of a lognormal-looking service time; drawing
        // 400,000 from them gives their mean within 5 standard errors and
        // their p99 within the spread of neighbouring order statistics.
        let mut source = stream(9, Domain::Component, 0, 0);
        let data: Vec<f64> = (0..1000)
            .map(|_| 0.02 * (1.0 + 2.0 * unit(&mut source)).powi(3))
            .collect();
        let cfg = DistCfg {
            dist: "empirical".into(),
            values: Some(data.iter().map(|x| Duration((x * 1e9) as u64)).collect()),
            ..Default::default()
        };
        let d = Dist::compile(&cfg).unwrap();
        let mut sorted: Vec<f64> = data.iter().map(|x| (x * 1e9).trunc() / 1e9).collect();
        sorted.sort_by(f64::total_cmp);
        let data_mean = sorted.iter().sum::<f64>() / 1000.0;
        assert!((d.mean() - data_mean).abs() < 1e-12);
        let mut rng = stream(4, Domain::Component, 0, 0);
        let n = 400_000;
        let mut xs: Vec<f64> = (0..n).map(|_| d.sample_secs(&mut rng)).collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        assert!((m - data_mean).abs() < 5.0 * (d.variance() / n as f64).sqrt());
        xs.sort_by(f64::total_cmp);
        let p99 = xs[n * 99 / 100];
        assert!(sorted[985] <= p99 && p99 <= sorted[994], "{p99}");
        // Every draw is one of the measurements.
        assert!(xs
            .iter()
            .all(|x| sorted.binary_search_by(|y| y.total_cmp(x)).is_ok()));
    }

    #[test]
    fn empirical_values_are_checked() {
        let bad = |values: Option<Vec<Duration>>, extra: Option<Duration>| {
            Dist::compile(&DistCfg {
                dist: "empirical".into(),
                values,
                mean: extra,
                ..Default::default()
            })
            .unwrap_err()
            .0
        };
        assert_eq!(bad(None, None), "values");
        assert_eq!(bad(Some(vec![]), None), "values");
        assert_eq!(bad(Some(vec![Duration(0)]), None), "values");
        assert_eq!(bad(Some(vec![Duration(5)]), Some(Duration(1))), "mean");
        let many = vec![Duration(1); EMPIRICAL_VALUES_MAX + 1];
        assert_eq!(bad(Some(many), None), "values");
    }

    #[test]
    fn sample_moments_match() {
        let mut cases = vec![
            cfg("exponential", "1s"),
            cfg("constant", "1s"),
            DistCfg {
                dist: "uniform".into(),
                min: Some(Duration::parse("1s").unwrap()),
                max: Some(Duration::parse("3s").unwrap()),
                ..Default::default()
            },
            DistCfg {
                sd: Some(Duration::parse("0.5s").unwrap()),
                ..cfg("normal", "1s")
            },
            DistCfg {
                sd: Some(Duration::parse("0.5s").unwrap()),
                ..cfg("lognormal", "1s")
            },
            DistCfg {
                shape: Some(3.0),
                ..cfg("erlang", "1s")
            },
            DistCfg {
                shape: Some(0.5),
                ..cfg("gamma", "1s")
            },
            DistCfg {
                shape: Some(1.5),
                ..cfg("weibull", "1s")
            },
            DistCfg {
                shape: Some(4.5),
                ..cfg("pareto", "1s")
            },
        ];
        cases.push(DistCfg {
            sd: Some(Duration::parse("1s").unwrap()),
            ..cfg("normal", "0.5s")
        });
        let measured: Vec<Duration> = ["12ms", "15ms", "15ms", "40ms", "300ms", "2s"]
            .iter()
            .map(|d| Duration::parse(d).unwrap())
            .collect();
        for interpolate in [false, true] {
            cases.push(DistCfg {
                dist: "empirical".into(),
                values: Some(measured.clone()),
                interpolate: Some(interpolate),
                ..Default::default()
            });
        }
        let shift = Duration::parse("250ms").unwrap();
        for law in ["exponential", "lognormal", "gamma", "weibull"] {
            cases.push(DistCfg {
                shift: Some(shift),
                sd: (law == "lognormal").then(|| Duration::parse("0.5s").unwrap()),
                shape: matches!(law, "gamma" | "weibull").then_some(0.8),
                ..cfg(law, "1s")
            });
        }
        for c in cases {
            let d = Dist::compile(&c).unwrap();
            let mut rng = stream(3, Domain::Component, 0, 0);
            let n = 200_000;
            let xs: Vec<f64> = (0..n).map(|_| d.sample_secs(&mut rng)).collect();
            let m = xs.iter().sum::<f64>() / n as f64;
            let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
            let se = (d.variance() / n as f64).sqrt();
            assert!(
                (m - d.mean()).abs() <= 5.0 * se + 1e-12,
                "{}: mean {m} vs {}",
                c.dist,
                d.mean()
            );
            let least = c.shift.map_or(0.0, |s| s.secs());
            assert!(
                xs.iter().all(|x| *x >= least),
                "{} gave a duration below {least}",
                c.dist
            );
            // The variance of the sample variance needs the fourth moment;
            // allow 10% which is many standard errors at this n for these shapes.
            if d.variance() > 0.0 {
                assert!(
                    (v / d.variance() - 1.0).abs() < 0.1,
                    "{}: var {v} vs {}",
                    c.dist,
                    d.variance()
                );
            }
        }
    }

    #[test]
    fn rejects_bad_parameters() {
        assert_eq!(
            Dist::compile(&cfg("exponentail", "1s")).unwrap_err().0,
            "dist"
        );
        assert!(Dist::compile(&cfg("exponentail", "1s"))
            .unwrap_err()
            .1
            .contains("did you mean `exponential`"));
        assert_eq!(Dist::compile(&cfg("lognormal", "1s")).unwrap_err().0, "sd");
        assert_eq!(
            Dist::compile(&DistCfg {
                shape: Some(1.0),
                ..cfg("pareto", "1s")
            })
            .unwrap_err()
            .0,
            "shape"
        );
        assert_eq!(
            Dist::compile(&DistCfg {
                shape: Some(2.5),
                ..cfg("erlang", "1s")
            })
            .unwrap_err()
            .0,
            "shape"
        );
        assert_eq!(
            Dist::compile(&cfg("exponential", "0s")).unwrap_err().0,
            "mean"
        );
        let shifted = |law: &str, shift: &str| {
            Dist::compile(&DistCfg {
                shift: Some(Duration::parse(shift).unwrap()),
                max: (law == "uniform").then(|| Duration::parse("2s").unwrap()),
                ..cfg(law, "1s")
            })
        };
        let (key, message) = shifted("exponential", "1s").unwrap_err();
        assert_eq!(key, "shift");
        assert!(message.contains("below `mean`"), "{message}");
        assert_eq!(shifted("uniform", "1ms").unwrap_err().0, "shift");
        // No shift is the law itself: the exponential keeps its fast path.
        assert!(shifted("exponential", "0s").unwrap().is_exponential());
    }
}
