//! Choosing settings: a search over the values of some scenario keys for
//! the one that minimises (or maximises) a metric subject to constraints
//! that must hold with 95% confidence, spending replications where they
//! decide something.
//!
//! The search is racing on common random numbers (Maron and Moore's
//! Hoeffding races, with paired t bounds in place of Hoeffding's): every
//! candidate runs the same replication indices, so two candidates are
//! compared replication by replication and most of the noise cancels.
//! A stage lays out candidates over the space (an even grid in one
//! dimension; in several, the full grid when the space's combinations are
//! few, else a Halton sequence), gives each a few replications, and then,
//! round by round, drops the candidates that are confidently infeasible or
//! confidently worse than the best feasible one and doubles the
//! replications of the rest, until one is left or the budget is spent.
//! The next stage zooms in around the winner (for continuous and integer
//! keys), so a constraint's boundary is found by successive refinement.
//! With two objectives the race is on the front: a candidate is dropped
//! when another feasible one confidently dominates it (better or equal on
//! both objectives at the one-sided bound of their paired differences,
//! strictly better on one), and the race stops when the budget is spent or
//! every pair is told apart; the front is that of the feasible candidates.
//! While budget remains, later stages fill the front's gaps: halfway (in
//! the searched space: the geometric midpoint for `:log` keys, rounded for
//! whole numbers, either end's value for a choice) between the members
//! that are neighbours in the order of the first objective, and between
//! each end of the front and the nearest candidate off the front beyond it
//! (where a constraint or both objectives turning worse cut the front),
//! the widest gaps first and as many as can each get the replications
//! that confirm one. The newcomers race against the front's members as in
//! the first stage, and the stages go on until the budget is spent, no gap
//! is wider than the one-objective stages narrow to (a whole number
//! between, a millionth of a continuous range), or `MAX_STAGES`. Here a
//! candidate's `stage` is the stage that laid it out (with one objective,
//! the last stage it raced in).
//!
//! Libraries: the Halton points come from the `halton` crate (no
//! dependencies, the same numbers as the loop it replaced, so results did
//! not move). No library does the racing on common random numbers, so it
//! is written here. The model-based and evolutionary optimisers looked at
//! do not fit what is left: `cmaes` (CMA-ES) and `argmin` (Nelder-Mead and
//! others) minimise one function of continuous variables, and would spend
//! a population of settings per step, each needing replications, where
//! the budget is a few hundred runs; here the keys are often whole numbers
//! or choices, the answer is the boundary where a constraint's confidence
//! bound crosses its limit (a step, not a smooth function), and two
//! objectives ask for a front. `egobox` (Bayesian optimisation with
//! Gaussian processes) models a smooth objective too, and brings a linear
//! algebra stack; on a handful of keys a grid that narrows shows as much.
//! `sobol` would serve as well; `halton` was taken because it gives the
//! very points of the loop it replaced.
//! The layer knows nothing of the command line: it takes plain data and a
//! function that builds the model of a setting.

use super::Plan;
use crate::model::Model;
use crate::time::Nanos;
use rayon::prelude::*;
use serde_json::{Map, Value};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Where a key's values come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Space {
    /// `LOW:HIGH` (or `LOW:HIGH:log`): any value between, in `unit` (the
    /// low end's, e.g. "s" for durations; empty for plain numbers).
    Continuous {
        low: f64,
        high: f64,
        log: bool,
        unit: String,
    },
    /// `LOW..HIGH`: whole numbers, both ends included.
    Integer { low: i64, high: i64 },
    /// `a,b,c`: one of these values, as written.
    Choice(Vec<String>),
}

/// One key to choose, with its space.
#[derive(Clone, Debug)]
pub struct Param {
    pub key: String,
    pub space: Space,
}

/// What an objective measures: a metric of the summary (a JSON path), or
/// the value of one of the searched keys (`--minimize queue.ack_timeout`:
/// the smallest timeout that meets the constraints).
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Metric(String),
    Param(usize),
}

#[derive(Clone, Debug)]
pub struct Objective {
    pub target: Target,
    pub maximize: bool,
    /// As the user wrote it (the metric's path or the key).
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Relation {
    AtMost,
    AtLeast,
    Equal,
}

/// `METRIC <= VALUE` (or `>=`, `==`): holds for a candidate only when its
/// one-sided 95% confidence bound does.
#[derive(Clone, Debug)]
pub struct Constraint {
    pub metric: String,
    pub relation: Relation,
    pub bound: f64,
}

#[derive(Clone, Debug)]
pub struct Search {
    pub params: Vec<Param>,
    pub objectives: Vec<Objective>,
    pub constraints: Vec<Constraint>,
    /// Simulation runs (replications) at most.
    pub budget: u32,
}

/// Where a candidate stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every constraint holds at its confidence bound.
    Feasible,
    /// A constraint is violated at its confidence bound.
    Infeasible,
    /// Not decided when the budget ran out or the race ended.
    Undecided,
    /// Feasible or undecided, but confidently worse than the best.
    Dominated,
}

/// A setting tried, with the metrics of each of its replications.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// One value per parameter, as it is set (`6.9s`, `3`, `"quorum"`).
    pub settings: Vec<String>,
    /// Its position in the space: the numeric value of each parameter
    /// (the index for choices).
    pub position: Vec<f64>,
    pub stage: u32,
    pub replications: Vec<Map<String, Value>>,
    pub status: Status,
}

/// What the search found.
#[derive(Debug)]
pub struct Found {
    pub candidates: Vec<Candidate>,
    /// Index of the best candidate (single objective), if any was tried.
    pub best: Option<usize>,
    /// Indices of the non-dominated feasible candidates (two objectives).
    pub front: Vec<usize>,
    pub runs: u32,
    /// Whether the best is confirmed feasible (else it is the best of the
    /// undecided ones, and the report says so).
    pub confirmed: bool,
}

/// Replications a new candidate gets before it is judged.
const FIRST_REPLICATIONS: usize = 4;
/// Replications below which a candidate is never called feasible: a
/// handful of replications that all show zero cannot vouch for a bound.
const REPLICATIONS_TO_CONFIRM: usize = 8;
/// The most replications any candidate gets.
const MAX_REPLICATIONS: usize = 64;
const MAX_STAGES: u32 = 8;
/// The most candidates a first stage of several keys lays out.
const MAX_FIRST_STAGE: usize = 48;

/// The value at a dotted JSON path; booleans count as 1 and 0.
fn at(root: &Map<String, Value>, path: &str) -> Option<f64> {
    crate::json::at_path(root, path)
}

/// One-sided 95% Student-t quantile with `df` degrees of freedom.
fn t95(df: usize) -> f64 {
    if df == 0 {
        return f64::INFINITY;
    }
    StudentsT::new(0.0, 1.0, df as f64)
        .map(|t| t.inverse_cdf(0.95))
        .unwrap_or(1.645)
}

/// Mean and one-sided 95% half-width of the values.
fn mean_bound(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::INFINITY);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, f64::INFINITY);
    }
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, t95(n - 1) * (variance / n as f64).sqrt())
}

impl Candidate {
    fn new(settings: Vec<String>, position: Vec<f64>, stage: u32) -> Candidate {
        Candidate {
            settings,
            position,
            stage,
            replications: Vec::new(),
            status: Status::Undecided,
        }
    }

    fn values(&self, metric: &str) -> Vec<f64> {
        self.replications
            .iter()
            .map(|r| at(r, metric).unwrap_or(f64::NAN))
            .collect()
    }

    /// Mean of a metric over the replications run.
    pub fn mean(&self, metric: &str) -> f64 {
        mean_bound(&self.values(metric)).0
    }

    /// The objective's value for this candidate, sign-adjusted so that
    /// lower is better, per replication (a key's value repeats).
    fn cost(&self, o: &Objective) -> Vec<f64> {
        let sign = if o.maximize { -1.0 } else { 1.0 };
        match &o.target {
            Target::Param(i) => vec![sign * self.position[*i]; self.replications.len().max(1)],
            Target::Metric(m) => self.values(m).into_iter().map(|v| sign * v).collect(),
        }
    }

    /// The one-sided 95% confidence limit of a metric over the
    /// replications run (the upper one, or the lower): where `[expect]
    /// confidence = 0.95` judges a bound, on the same replications.
    pub fn confidence_limit(&self, metric: &str, upper: bool) -> f64 {
        let (mean, half) = mean_bound(&self.values(metric));
        if upper {
            mean + half
        } else {
            mean - half
        }
    }

    /// The objective's mean in the user's sense (not sign-adjusted).
    pub fn objective(&self, o: &Objective) -> f64 {
        match &o.target {
            Target::Param(i) => self.position[*i],
            Target::Metric(m) => self.mean(m),
        }
    }

    fn judge(&self, constraints: &[Constraint]) -> Status {
        let n = self.replications.len();
        let mut decided = true;
        for c in constraints {
            let (mean, half) = mean_bound(&self.values(&c.metric));
            if mean.is_nan() {
                return Status::Infeasible;
            }
            let (holds, fails) = match c.relation {
                Relation::AtMost => (mean + half <= c.bound, mean - half > c.bound),
                Relation::AtLeast => (mean - half >= c.bound, mean + half < c.bound),
                Relation::Equal => (
                    (mean - c.bound).abs() <= 1e-9 && half <= 1e-9,
                    (mean - c.bound).abs() > half,
                ),
            };
            if fails && n >= 2 {
                return Status::Infeasible;
            }
            decided &= holds;
        }
        // The floor on replications keeps a few zeros from vouching for a
        // bound; with no constraint there is none to vouch for.
        if decided && (n >= REPLICATIONS_TO_CONFIRM || (constraints.is_empty() && n >= 1)) {
            Status::Feasible
        } else {
            Status::Undecided
        }
    }
}

/// The `i`-th point of the Halton sequence in `dims` dimensions (bases the
/// first primes; the crate's index is 1-based), in the unit cube: spread
/// evenly, deterministic.
fn halton_point(i: usize, dims: usize) -> Vec<f64> {
    const PRIMES: [u8; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    (0..dims)
        .map(|d| halton::number(PRIMES[d % PRIMES.len()], i + 1))
        .collect()
}

/// A value with up to 6 significant digits, without trailing zeros.
fn short(x: f64) -> String {
    let t = format!("{:.6e}", x);
    let v: f64 = t.parse().unwrap_or(x);
    let mut s = format!("{v}");
    if s.contains('e') {
        s = format!("{v:.9}");
        while s.contains('.') && (s.ends_with('0') || s.ends_with('.')) {
            s.pop();
        }
    }
    s
}

/// A candidate's setting as laid out: (settings, position).
type Point = (Vec<String>, Vec<f64>);

/// A region of the space: per parameter, the sub-range still searched
/// (continuous and integer keys narrow from stage to stage).
#[derive(Clone, Debug)]
struct Region {
    bounds: Vec<(f64, f64)>,
}

impl Region {
    fn whole(params: &[Param]) -> Region {
        Region {
            bounds: params
                .iter()
                .map(|p| match &p.space {
                    Space::Continuous { low, high, .. } => (*low, *high),
                    Space::Integer { low, high } => (*low as f64, *high as f64),
                    Space::Choice(c) => (0.0, (c.len() - 1) as f64),
                })
                .collect(),
        }
    }

    /// The candidate at unit-cube point `u` (snapped to whole numbers and
    /// choices), as (settings, position).
    fn point(&self, params: &[Param], u: &[f64]) -> (Vec<String>, Vec<f64>) {
        let mut settings = Vec::new();
        let mut position = Vec::new();
        for ((p, (lo, hi)), f) in params.iter().zip(&self.bounds).zip(u) {
            match &p.space {
                Space::Continuous { log, unit, .. } => {
                    let x = if *log {
                        lo * (hi / lo).powf(*f)
                    } else {
                        lo + (hi - lo) * f
                    };
                    let text = short(x);
                    position.push(text.parse().unwrap_or(x));
                    settings.push(format!("{text}{unit}"));
                }
                Space::Integer { .. } => {
                    let x = (lo + (hi - lo) * f).round();
                    position.push(x);
                    settings.push(format!("{x}"));
                }
                Space::Choice(values) => {
                    let i = (lo + (hi - lo) * f).round() as usize;
                    position.push(i as f64);
                    settings.push(values[i.min(values.len() - 1)].clone());
                }
            }
        }
        (settings, position)
    }

    /// The levels of a full grid over the region of at most `n` points, key
    /// by key: every choice, every whole number of a range no wider than
    /// the others' levels, and for the other keys the most even levels (at
    /// least 3, ends included) that keep the grid within `n`. None when no
    /// such grid fits: the stage then takes Halton points.
    fn grid_levels(&self, params: &[Param], n: usize) -> Option<Vec<usize>> {
        (3..=n.max(3)).rev().find_map(|l| {
            let levels: Vec<usize> = params
                .iter()
                .zip(&self.bounds)
                .map(|(p, (lo, hi))| match &p.space {
                    Space::Choice(c) => c.len(),
                    Space::Integer { .. } => ((hi - lo).round() as usize + 1).min(l),
                    Space::Continuous { .. } => l,
                })
                .collect();
            let size = levels.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
            size.is_some_and(|size| size <= n).then_some(levels)
        })
    }

    /// Points of a stage, with the levels per key its zoom narrows by: an
    /// even grid of `n` in one dimension (ends included); in several, the
    /// full grid when one of at most `n` points has at least 3 levels per
    /// range (every choice and short whole-number range whole), else the
    /// corners' centre and Halton points up to `n` distinct settings.
    fn layout(&self, params: &[Param], n: usize) -> (Vec<Point>, Vec<usize>) {
        let mut points = Vec::new();
        let mut levels = vec![n; params.len()];
        if params.len() == 1 {
            let n = match &params[0].space {
                Space::Choice(c) => c.len(),
                // A range little wider than a stage is tried whole: a grid
                // of n over n + 1 whole numbers would skip one and the next
                // stage, narrowing to the same range, would add none.
                Space::Integer { .. } => {
                    let count = (self.bounds[0].1 - self.bounds[0].0) as usize + 1;
                    if count <= n + 1 {
                        count
                    } else {
                        n
                    }
                }
                Space::Continuous { .. } => n,
            };
            for i in 0..n.max(1) {
                let f = if n <= 1 {
                    0.5
                } else {
                    i as f64 / (n - 1) as f64
                };
                points.push(self.point(params, &[f]));
            }
        } else if let Some(grid) = self.grid_levels(params, n) {
            let size: usize = grid.iter().product();
            for mut k in 0..size {
                // The first key outermost.
                let mut u = vec![0.0; params.len()];
                for d in (0..params.len()).rev() {
                    let (j, m) = (k % grid[d], grid[d]);
                    k /= grid[d];
                    u[d] = if m <= 1 {
                        0.5
                    } else {
                        j as f64 / (m - 1) as f64
                    };
                }
                points.push(self.point(params, &u));
            }
            levels = grid;
        } else {
            // Snapped to whole numbers and choices, Halton points repeat
            // settings: drawn on until `n` distinct ones (or 20 n draws).
            levels = vec![3; params.len()];
            points.push(self.point(params, &vec![0.5; params.len()]));
            let mut seen: std::collections::BTreeSet<Vec<String>> =
                points.iter().map(|(s, _)| s.clone()).collect();
            for i in 0..20 * n {
                if points.len() >= n {
                    break;
                }
                let p = self.point(params, &halton_point(i, params.len()));
                if seen.insert(p.0.clone()) {
                    points.push(p);
                }
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        points.retain(|(s, _)| seen.insert(s.clone()));
        (points, levels)
    }

    /// The region around `center` reaching to the neighbouring candidates
    /// of the last stage (one grid step), for the keys that can narrow. A
    /// single whole-number key narrows to the numbers strictly between the
    /// nearest values tried on either side (`tried`): rounding a grid step
    /// up could give back the same range, and the search would stop with
    /// numbers next to the best never tried.
    fn around(&self, params: &[Param], center: &[f64], steps: &[f64], tried: &[f64]) -> Region {
        let whole = Region::whole(params);
        let bounds = params
            .iter()
            .enumerate()
            .map(|(i, p)| match p.space {
                Space::Choice(_) => whole.bounds[i],
                Space::Integer { .. } if params.len() == 1 => {
                    let (lo, hi) = whole.bounds[i];
                    let below = tried.iter().copied().filter(|&x| x < center[i]);
                    let above = tried.iter().copied().filter(|&x| x > center[i]);
                    let low = below.fold(lo - 1.0, f64::max) + 1.0;
                    let high = above.fold(hi + 1.0, f64::min) - 1.0;
                    (low, high)
                }
                _ => {
                    let (lo, hi) = whole.bounds[i];
                    let step = steps[i];
                    ((center[i] - step).max(lo), (center[i] + step).min(hi))
                }
            })
            .collect();
        Region { bounds }
    }
}

/// Runs the search. `build` makes the model of a setting (one value per
/// parameter, in order); every candidate's replication `r` uses the
/// plan's seed and index `r`, so candidates share their random numbers.
pub fn optimize(
    search: &Search,
    plan: &Plan,
    build: &(dyn Fn(&[String]) -> Result<Model, String> + Sync),
) -> Result<Found, String> {
    assert!(!search.params.is_empty(), "a search needs a parameter");
    assert!(!search.objectives.is_empty(), "a search needs an objective");
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut runner = Runner {
        plan,
        pool: super::pool(plan.jobs),
        models: Vec::new(),
        warmups: Vec::new(),
        bar: super::progress_bar(search.budget as u64, "optimize", "runs of the budget"),
    };
    let mut runs: u32 = 0;
    let mut region = Region::whole(&search.params);
    let per_stage = (search.budget as usize / (FIRST_REPLICATIONS * 4)).clamp(3, 12);
    // Several keys: the first stage lays out as many candidates as can each
    // get the replications that confirm one (a full grid of the space's
    // combinations when it is small); later stages zoom with `per_stage`.
    let first_stage = if search.params.len() == 1 {
        per_stage
    } else {
        (search.budget as usize / REPLICATIONS_TO_CONFIRM).clamp(per_stage, MAX_FIRST_STAGE)
    };
    let single = search.objectives.len() == 1;
    for stage in 0..MAX_STAGES {
        let start = candidates.len();
        let (racing, levels) = if single || stage == 0 {
            // A stage whose new candidates could not each get their first
            // replications would only add untried settings.
            if stage > 0 && (search.budget - runs) < (per_stage * FIRST_REPLICATIONS) as u32 {
                break;
            }
            let n = if stage == 0 { first_stage } else { per_stage };
            let (points, levels) = region.layout(&search.params, n);
            for (settings, position) in points {
                if let Some(old) = candidates.iter().position(|c| c.settings == settings) {
                    // Already tried: it races again in this stage.
                    if candidates[old].status != Status::Infeasible {
                        candidates[old].stage = stage;
                    }
                    continue;
                }
                runner.add(build(&settings)?);
                candidates.push(Candidate::new(settings, position, stage));
            }
            let racing: Vec<usize> = (0..candidates.len())
                .filter(|&i| {
                    candidates[i].stage == stage
                        && matches!(candidates[i].status, Status::Undecided | Status::Feasible)
                })
                .collect();
            (racing, levels)
        } else {
            // Two objectives, a later stage: new candidates in the gaps of
            // the front, as many as can each get the replications that
            // confirm one, race against the front's members.
            let room = (search.budget - runs) as usize;
            let most = (room / REPLICATIONS_TO_CONFIRM).min(first_stage);
            let front = pareto_front(search, &candidates);
            let points = gap_points(&search.params, &candidates, &front, most);
            if points.is_empty() {
                break;
            }
            for (settings, position) in points {
                runner.add(build(&settings)?);
                candidates.push(Candidate::new(settings, position, stage));
            }
            let racing: Vec<usize> = front
                .into_iter()
                .filter(|&i| matches!(candidates[i].status, Status::Undecided | Status::Feasible))
                .chain(start..candidates.len())
                .collect();
            (racing, Vec::new())
        };
        if racing.is_empty() || (stage > 0 && candidates.len() == start && racing.len() <= 1) {
            break;
        }
        race(search, &runner, &mut candidates, racing, &mut runs);
        let Some(best) = best_of(search, &candidates) else {
            break;
        };
        if runs >= search.budget {
            break;
        }
        if !single {
            // The next stage fills the gaps of the front.
            continue;
        }
        let steps = stage_steps(&search.params, &region, &levels);
        if steps.iter().all(|s| *s <= 0.0) {
            break;
        }
        let tried: Vec<f64> = candidates.iter().map(|c| c.position[0]).collect();
        region = region.around(&search.params, &candidates[best].position, &steps, &tried);
    }
    runner.bar.finish_and_clear();
    let best = if single {
        best_of(search, &candidates)
    } else {
        None
    };
    let confirmed = best.is_some_and(|b| candidates[b].status == Status::Feasible);
    let front = if single {
        Vec::new()
    } else {
        pareto_front(search, &candidates)
    };
    Ok(Found {
        candidates,
        best,
        front,
        runs,
        confirmed,
    })
}

/// The spacing of the last stage's grid per parameter, from its levels
/// (0 where it cannot narrow further: choices, or integers one apart).
fn stage_steps(params: &[Param], region: &Region, levels: &[usize]) -> Vec<f64> {
    params
        .iter()
        .zip(&region.bounds)
        .zip(levels)
        .map(|((p, (lo, hi)), &n)| {
            let step = (hi - lo) / (n.max(2) - 1) as f64;
            match &p.space {
                Space::Choice(_) => 0.0,
                Space::Integer { .. } if step < 1.0 => 0.0,
                Space::Integer { .. } => step.ceil(),
                Space::Continuous { log: true, .. } => {
                    // Geometric grids: narrow by the ratio of neighbours.
                    if *lo > 0.0 && step > 1e-9 * hi.abs() {
                        step
                    } else {
                        0.0
                    }
                }
                Space::Continuous { .. } if step <= 1e-6 * hi.abs().max(lo.abs()) => 0.0,
                Space::Continuous { .. } => step,
            }
        })
        .collect()
}

/// A position in the unit cube of the whole space: each key's value as a
/// fraction of its range (of its logarithm for `:log` keys; a choice's
/// index among the choices).
fn unit_position(params: &[Param], position: &[f64]) -> Vec<f64> {
    let fraction = |x: f64, lo: f64, hi: f64| if hi > lo { (x - lo) / (hi - lo) } else { 0.0 };
    params
        .iter()
        .zip(position)
        .map(|(p, &x)| match &p.space {
            Space::Continuous {
                low,
                high,
                log: true,
                ..
            } if *low > 0.0 && x > 0.0 => fraction(x.ln(), low.ln(), high.ln()),
            Space::Continuous { low, high, .. } => fraction(x, *low, *high),
            Space::Integer { low, high } => fraction(x, *low as f64, *high as f64),
            Space::Choice(c) => fraction(x, 0.0, (c.len() - 1) as f64),
        })
        .collect()
}

/// How wide the gap between two positions is, in the unit cube, over the
/// keys a midpoint can split as the one-objective stages narrow them: a
/// continuous key whose values differ by more than a millionth of its
/// range's larger end (where `stage_steps` stops narrowing), a
/// whole-number key whose values have a number strictly between. Choices
/// do not count (no value lies between two). 0: nothing left to split.
fn gap_width(params: &[Param], a: &[f64], b: &[f64]) -> f64 {
    let (ua, ub) = (unit_position(params, a), unit_position(params, b));
    params
        .iter()
        .enumerate()
        .filter(|&(i, p)| {
            let d = (a[i] - b[i]).abs();
            match &p.space {
                Space::Continuous { low, high, .. } => d > 1e-6 * high.abs().max(low.abs()),
                Space::Integer { .. } => d >= 2.0,
                Space::Choice(_) => false,
            }
        })
        .map(|(i, _)| (ua[i] - ub[i]).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The settings halfway between two positions: each continuous key at the
/// midpoint (the geometric one for `:log` keys), each whole-number key at
/// the rounded midpoint, and the choices of one end or of the other (two
/// settings when they differ).
fn midpoints(params: &[Param], a: &[f64], b: &[f64]) -> Vec<Point> {
    [a, b]
        .iter()
        .map(|end| {
            let bounds = params
                .iter()
                .enumerate()
                .map(|(i, p)| match p.space {
                    Space::Choice(_) => (end[i], end[i]),
                    _ => (a[i].min(b[i]), a[i].max(b[i])),
                })
                .collect();
            Region { bounds }.point(params, &vec![0.5; params.len()])
        })
        .collect()
}

/// Two objectives, a later stage: at most `most` new settings in the gaps
/// of the front (`front`, in the order of the first objective): halfway
/// between neighbouring members, and halfway between each end of the front
/// and the nearest candidate off the front beyond it (the nearest of those
/// whose nearest member is that end: where the front stops, at a
/// constraint's boundary or where both objectives turn worse). The widest
/// gaps first (in the unit cube of the space; ties in the front's order,
/// then the ends); settings already tried are not laid out again. Empty
/// when no gap is wider than the one-objective stages narrow to.
fn gap_points(
    params: &[Param],
    candidates: &[Candidate],
    front: &[usize],
    most: usize,
) -> Vec<Point> {
    let unit: Vec<Vec<f64>> = candidates
        .iter()
        .map(|c| unit_position(params, &c.position))
        .collect();
    let distance = |i: usize, j: usize| {
        unit[i]
            .iter()
            .zip(&unit[j])
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let mut gaps: Vec<(usize, usize)> = front.windows(2).map(|w| (w[0], w[1])).collect();
    let outside: Vec<usize> = (0..candidates.len())
        .filter(|i| !front.contains(i) && !candidates[*i].replications.is_empty())
        .collect();
    let mut ends: Vec<usize> = front
        .first()
        .into_iter()
        .chain(front.last())
        .copied()
        .collect();
    ends.dedup();
    for e in ends {
        let nearest_member = |o: usize| {
            front
                .iter()
                .copied()
                .min_by(|&x, &y| distance(o, x).total_cmp(&distance(o, y)))
        };
        let beyond = outside
            .iter()
            .copied()
            .filter(|&o| nearest_member(o) == Some(e))
            .min_by(|&x, &y| distance(e, x).total_cmp(&distance(e, y)));
        if let Some(o) = beyond {
            gaps.push((e, o));
        }
    }
    let mut widths: Vec<(f64, usize, usize)> = gaps
        .into_iter()
        .map(|(a, b)| {
            let w = gap_width(params, &candidates[a].position, &candidates[b].position);
            (w, a, b)
        })
        .filter(|(w, _, _)| *w > 0.0)
        .collect();
    // Stable: equal widths keep their order.
    widths.sort_by(|x, y| y.0.total_cmp(&x.0));
    let mut seen: std::collections::BTreeSet<Vec<String>> =
        candidates.iter().map(|c| c.settings.clone()).collect();
    let mut points = Vec::new();
    for (_, a, b) in widths {
        for point in midpoints(params, &candidates[a].position, &candidates[b].position) {
            if points.len() < most && seen.insert(point.0.clone()) {
                points.push(point);
            }
        }
    }
    points
}

/// Races the candidates: replications doubled round by round for those
/// still in, until one is left, all are decided, or the budget is spent.
fn race(
    search: &Search,
    runner: &Runner,
    candidates: &mut [Candidate],
    mut alive: Vec<usize>,
    runs: &mut u32,
) {
    loop {
        // The fewest replications among those racing, doubled: a newcomer
        // of a later stage first gets its first replications, and is
        // compared paired (on the replications both have) with those that
        // have more, instead of being asked for twice the leader's before
        // it runs at all, which the budget may not hold.
        let target = alive
            .iter()
            .map(|&i| candidates[i].replications.len())
            .min()
            .unwrap_or(0)
            .max(FIRST_REPLICATIONS / 2)
            .saturating_mul(2)
            .min(MAX_REPLICATIONS);
        let wanted: Vec<(usize, u32)> = alive
            .iter()
            .flat_map(|&i| (candidates[i].replications.len()..target).map(move |r| (i, r as u32)))
            .collect();
        let room = search.budget.saturating_sub(*runs) as usize;
        if wanted.is_empty() || room < wanted.len() {
            break;
        }
        let done = runner.run_jobs(&wanted);
        *runs += done.len() as u32;
        for ((i, _), metrics) in wanted.iter().zip(done) {
            candidates[*i].replications.push(metrics);
        }
        for &i in &alive {
            candidates[i].status = candidates[i].judge(&search.constraints);
        }
        if search.objectives.len() == 1 {
            mark_dominated(&search.objectives[0], candidates, &alive);
        } else {
            mark_dominated_on_front(&search.objectives, candidates, &alive);
        }
        alive.retain(|&i| matches!(candidates[i].status, Status::Undecided | Status::Feasible));
        let undecided = alive
            .iter()
            .any(|&i| candidates[i].status == Status::Undecided);
        if alive.len() <= 1 && !undecided {
            break;
        }
        if search.objectives.len() > 1
            && !undecided
            && !could_be_dominated(&search.objectives, candidates, &alive)
        {
            // Every pair is told apart: more replications would drop none.
            break;
        }
        if target >= MAX_REPLICATIONS {
            break;
        }
    }
}

/// The models of the candidates and what runs them: one thread pool, each
/// model's warm-up chosen once when it is added (the automatic warm-up's
/// pilot runs cost as much as replications; a candidate races over many
/// rounds), and the progress bar over the budget.
struct Runner<'a> {
    plan: &'a Plan,
    pool: rayon::ThreadPool,
    models: Vec<Model>,
    warmups: Vec<Nanos>,
    bar: indicatif::ProgressBar,
}

impl Runner<'_> {
    fn add(&mut self, model: Model) {
        let plan = self.plan;
        let warmup = self
            .pool
            .install(|| super::choose_warmup(&model, plan.seed, plan.limits, plan.build).0);
        if self.models.is_empty() {
            self.bar.set_message(model.name.clone());
        }
        self.warmups.push(warmup);
        self.models.push(model);
    }

    /// Runs replication `r` of each candidate's model, in parallel;
    /// results in the order asked.
    fn run_jobs(&self, jobs: &[(usize, u32)]) -> Vec<Map<String, Value>> {
        let plan = self.plan;
        self.pool.install(|| {
            jobs.par_iter()
                .map(|&(i, r)| {
                    let metrics = super::replicate(
                        &self.models[i],
                        plan.seed,
                        r,
                        self.warmups[i],
                        plan.limits,
                        plan.build,
                    )
                    .metrics;
                    self.bar.inc(1);
                    metrics
                })
                .collect()
        })
    }
}

/// Marks as dominated every racing candidate confidently worse than the
/// best feasible one, by a paired one-sided 95% bound on their common
/// replications (a key's value is compared as it is).
fn mark_dominated(o: &Objective, candidates: &mut [Candidate], alive: &[usize]) {
    let Some(leader) = alive
        .iter()
        .copied()
        .filter(|&i| candidates[i].status == Status::Feasible)
        .min_by(|&a, &b| {
            mean_bound(&candidates[a].cost(o))
                .0
                .total_cmp(&mean_bound(&candidates[b].cost(o)).0)
        })
    else {
        return;
    };
    let lead = candidates[leader].cost(o);
    for &i in alive {
        if i == leader {
            continue;
        }
        let cost = candidates[i].cost(o);
        let n = cost.len().min(lead.len());
        let differences: Vec<f64> = (0..n).map(|k| cost[k] - lead[k]).collect();
        let (mean, half) = mean_bound(&differences);
        let worse = match o.target {
            Target::Param(_) => mean > 0.0,
            Target::Metric(_) => mean - half > 0.0,
        };
        if worse {
            candidates[i].status = Status::Dominated;
        }
    }
}

/// The one-sided 95% bound of the paired difference `a - b` of an
/// objective's cost (lower is better) on the replications both have: the
/// upper bound, or the lower. A key's value is compared as it is.
fn paired_bound(o: &Objective, a: &Candidate, b: &Candidate, upper: bool) -> f64 {
    let (ca, cb) = (a.cost(o), b.cost(o));
    let n = ca.len().min(cb.len());
    let differences: Vec<f64> = (0..n).map(|k| ca[k] - cb[k]).collect();
    let (mean, half) = mean_bound(&differences);
    match (&o.target, upper) {
        (Target::Param(_), _) => mean,
        (Target::Metric(_), true) => mean + half,
        (Target::Metric(_), false) => mean - half,
    }
}

/// Whether `a` confidently dominates `b`: better or equal on every
/// objective at the upper bound of their paired difference, strictly
/// better on one.
fn dominates(objectives: &[Objective], a: &Candidate, b: &Candidate) -> bool {
    let bounds: Vec<f64> = objectives
        .iter()
        .map(|o| paired_bound(o, a, b, true))
        .collect();
    bounds.iter().all(|&u| u <= 0.0) && bounds.iter().any(|&u| u < 0.0)
}

/// Two objectives: marks as dominated every racing candidate that another
/// racing feasible one confidently dominates (judged on the statuses before
/// this round's marks, so the order of the candidates does not matter).
fn mark_dominated_on_front(
    objectives: &[Objective],
    candidates: &mut [Candidate],
    alive: &[usize],
) {
    let dropped: Vec<usize> = alive
        .iter()
        .copied()
        .filter(|&i| {
            alive.iter().any(|&j| {
                j != i
                    && candidates[j].status == Status::Feasible
                    && dominates(objectives, &candidates[j], &candidates[i])
            })
        })
        .collect();
    for i in dropped {
        candidates[i].status = Status::Dominated;
    }
}

/// Whether more replications could still drop a racing candidate: some
/// other is not confidently worse than it on any objective (the lower
/// bound of their paired difference is not above 0 on each).
fn could_be_dominated(objectives: &[Objective], candidates: &[Candidate], alive: &[usize]) -> bool {
    alive.iter().any(|&i| {
        alive.iter().any(|&j| {
            j != i
                && objectives
                    .iter()
                    .all(|o| paired_bound(o, &candidates[j], &candidates[i], false) <= 0.0)
        })
    })
}

/// The best candidate: the feasible one with the best mean objective, or,
/// when none is confirmed feasible, the best undecided one.
fn best_of(search: &Search, candidates: &[Candidate]) -> Option<usize> {
    let o = &search.objectives[0];
    let pick = |status: Status| {
        (0..candidates.len())
            .filter(|&i| candidates[i].status == status && !candidates[i].replications.is_empty())
            .min_by(|&a, &b| {
                mean_bound(&candidates[a].cost(o))
                    .0
                    .total_cmp(&mean_bound(&candidates[b].cost(o)).0)
            })
    };
    pick(Status::Feasible).or_else(|| pick(Status::Undecided))
}

/// The feasible (or, failing that, undecided) candidates that no other
/// beats on both objectives' means.
fn pareto_front(search: &Search, candidates: &[Candidate]) -> Vec<usize> {
    let pool: Vec<usize> = {
        let feasible: Vec<usize> = (0..candidates.len())
            .filter(|&i| candidates[i].status == Status::Feasible)
            .collect();
        if feasible.is_empty() {
            (0..candidates.len())
                .filter(|&i| candidates[i].status == Status::Undecided)
                .collect()
        } else {
            feasible
        }
    };
    let costs: Vec<Vec<f64>> = pool
        .iter()
        .map(|&i| {
            search
                .objectives
                .iter()
                .map(|o| mean_bound(&candidates[i].cost(o)).0)
                .collect()
        })
        .collect();
    let dominates = |a: &[f64], b: &[f64]| {
        a.iter().zip(b).all(|(x, y)| x <= y) && a.iter().zip(b).any(|(x, y)| x < y)
    };
    let mut front: Vec<usize> = pool
        .iter()
        .enumerate()
        .filter(|(k, _)| !costs.iter().any(|c| dominates(c, &costs[*k])))
        .map(|(_, &i)| i)
        .collect();
    front.sort_by(|&a, &b| {
        candidates[a]
            .objective(&search.objectives[0])
            .total_cmp(&candidates[b].objective(&search.objectives[0]))
    });
    front
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halton_points_spread_over_the_cube() {
        let points: Vec<Vec<f64>> = (0..64).map(|i| halton_point(i, 2)).collect();
        for d in 0..2 {
            let below = points.iter().filter(|p| p[d] < 0.5).count();
            assert!(
                (28..=36).contains(&below),
                "dimension {d}: {below} of 64 below 0.5"
            );
        }
        assert!(points.iter().flatten().all(|x| (0.0..1.0).contains(x)));
        // The radical inverses in bases 2 and 3, from the first index on.
        assert_eq!(halton_point(0, 2), [0.5, 1.0 / 3.0]);
        assert_eq!(halton_point(1, 2), [0.25, 2.0 / 3.0]);
        assert_eq!(halton_point(2, 2), [0.75, 1.0 / 9.0]);
    }

    #[test]
    fn a_one_dimensional_stage_is_an_even_grid_with_its_ends() {
        let params = [Param {
            key: "queue.ack_timeout".into(),
            space: Space::Continuous {
                low: 1.0,
                high: 9.0,
                log: false,
                unit: "s".into(),
            },
        }];
        let (points, _) = Region::whole(&params).layout(&params, 5);
        let settings: Vec<&str> = points.iter().map(|(s, _)| s[0].as_str()).collect();
        assert_eq!(settings, ["1s", "3s", "5s", "7s", "9s"]);
    }

    #[test]
    fn a_small_space_of_several_keys_is_laid_out_as_a_full_grid() {
        let params = [
            Param {
                key: "consumer.prefetch".into(),
                space: Space::Integer { low: 1, high: 4 },
            },
            Param {
                key: "queue.kind".into(),
                space: Space::Choice(vec!["classic".into(), "quorum".into()]),
            },
        ];
        // 8 combinations: every one, not the 3 Halton points of before.
        let (points, levels) = Region::whole(&params).layout(&params, 8);
        assert_eq!(levels, [4, 2]);
        let settings: Vec<String> = points.iter().map(|(s, _)| s.join("/")).collect();
        assert_eq!(
            settings,
            [
                "1/classic",
                "1/quorum",
                "2/classic",
                "2/quorum",
                "3/classic",
                "3/quorum",
                "4/classic",
                "4/quorum"
            ]
        );
        // A continuous key takes the most levels the count allows.
        let params = [
            Param {
                key: "queue.ack_timeout".into(),
                space: Space::Continuous {
                    low: 2.0,
                    high: 9.0,
                    log: false,
                    unit: "s".into(),
                },
            },
            params[1].clone(),
        ];
        let (points, levels) = Region::whole(&params).layout(&params, 20);
        assert_eq!(levels, [10, 2]);
        assert_eq!(points.len(), 20);
        // Too many combinations for a grid: distinct Halton points.
        let (points, _) = Region::whole(&params).layout(&params, 5);
        assert_eq!(points.len(), 5);
    }

    fn tried(params: &[Param], values: &[(&[f64], Status)]) -> Vec<Candidate> {
        values
            .iter()
            .map(|(position, status)| {
                let region = Region {
                    bounds: position.iter().map(|&x| (x, x)).collect(),
                };
                let (settings, position) = region.point(params, &vec![0.5; params.len()]);
                let mut c = Candidate::new(settings, position, 0);
                c.replications.push(Map::new());
                c.status = *status;
                c
            })
            .collect()
    }

    #[test]
    fn later_stages_of_two_objectives_fill_the_gaps_of_the_front_widest_first() {
        let params = [Param {
            key: "queue.ack_timeout".into(),
            space: Space::Continuous {
                low: 2.0,
                high: 10.0,
                log: false,
                unit: "s".into(),
            },
        }];
        use Status::*;
        let candidates = tried(
            &params,
            &[
                (&[2.0], Feasible),
                (&[4.0], Feasible),
                (&[8.0], Feasible),
                (&[10.0], Infeasible),
            ],
        );
        // The front 2, 4, 8 stops before 10: halfway in its gaps, the
        // widest first, then beyond its end; `most` caps them.
        let settings = |points: Vec<Point>| -> Vec<String> {
            points.into_iter().map(|(s, _)| s[0].clone()).collect()
        };
        let all = gap_points(&params, &candidates, &[0, 1, 2], 8);
        assert_eq!(settings(all), ["6s", "3s", "9s"]);
        let two = gap_points(&params, &candidates, &[0, 1, 2], 2);
        assert_eq!(settings(two), ["6s", "3s"]);
        // Whole numbers one apart leave nothing to split; a choice is
        // taken from either end.
        let params = [
            Param {
                key: "consumer.count".into(),
                space: Space::Integer { low: 1, high: 9 },
            },
            Param {
                key: "queue.kind".into(),
                space: Space::Choice(vec!["classic".into(), "quorum".into()]),
            },
        ];
        let candidates = tried(
            &params,
            &[
                (&[1.0, 0.0], Feasible),
                (&[2.0, 1.0], Feasible),
                (&[5.0, 1.0], Feasible),
            ],
        );
        let points = gap_points(&params, &candidates, &[0, 1, 2], 8);
        let joined: Vec<String> = points.iter().map(|(s, _)| s.join("/")).collect();
        assert_eq!(joined, ["4/quorum"]);
        let candidates = tried(&params, &[(&[1.0, 0.0], Feasible), (&[5.0, 1.0], Feasible)]);
        let points = gap_points(&params, &candidates, &[0, 1], 8);
        let joined: Vec<String> = points.iter().map(|(s, _)| s.join("/")).collect();
        assert_eq!(joined, ["3/classic", "3/quorum"]);
        // A log key's midpoint is the geometric one.
        let params = [Param {
            key: "retry.base".into(),
            space: Space::Continuous {
                low: 1.0,
                high: 100.0,
                log: true,
                unit: "ms".into(),
            },
        }];
        let candidates = tried(&params, &[(&[1.0], Feasible), (&[100.0], Feasible)]);
        assert_eq!(
            settings(gap_points(&params, &candidates, &[0, 1], 8)),
            ["10ms"]
        );
        // Nothing wider than the narrowing of the one-objective stages (a
        // millionth of the range's larger end).
        let params = [Param {
            key: "queue.ack_timeout".into(),
            space: Space::Continuous {
                low: 0.0,
                high: 1000.0,
                log: false,
                unit: "s".into(),
            },
        }];
        let candidates = tried(&params, &[(&[1.0], Feasible), (&[1.0005], Feasible)]);
        assert_eq!(candidates[1].settings, ["1.0005s"]);
        assert!(gap_points(&params, &candidates, &[0, 1], 8).is_empty());
    }

    #[test]
    fn the_one_sided_bound_is_wider_with_fewer_values() {
        let (m4, h4) = mean_bound(&[1.0, 2.0, 3.0, 4.0]);
        let (m8, h8) = mean_bound(&[1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m4, 2.5);
        assert_eq!(m8, 2.5);
        assert!(h4 > h8 && h8 > 0.0);
        // t(0.95, 3) = 2.353: the bound is t s / sqrt(n).
        let s = (5.0f64 / 3.0).sqrt();
        assert!((h4 - 2.353_363 * s / 2.0).abs() < 1e-5, "{h4}");
    }
}
