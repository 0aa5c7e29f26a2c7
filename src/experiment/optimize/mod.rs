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

mod front;
mod space;
use front::*;
use space::*;

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

#[cfg(test)]
mod tests {
    use super::*;

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
