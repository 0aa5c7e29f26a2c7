//! Experiments: replications of one scenario (in parallel, with results
//! that do not depend on the thread count), variants compared on common
//! random numbers, and parameter sweeps.

pub mod confidence;
pub mod estimates;
pub mod guard;
pub mod optimize;
pub mod precision;
pub mod short_runs;
pub mod theory_report;
pub mod warnings;

use crate::model::{Model, WarmupSpec};
use crate::rng::replication_seed;
use crate::sim::collect::{Sample, LIFECYCLE_STATES};
use crate::sim::features::Build;
use crate::sim::{self, FaultRecord, Limits};
use crate::stats::summary::{aggregate, run_metrics};
use crate::time::{ns_to_secs, Nanos};
use rayon::prelude::*;
use serde_json::{json, Map, Value};

/// How to run an experiment.
#[derive(Clone, Debug)]
pub struct Plan {
    pub replications: u32,
    /// Threads; 0 = all cores.
    pub jobs: usize,
    /// Add replications until every headline metric's relative half-width
    /// is below this (sequential stopping), up to `max_replications`.
    pub precision: Option<f64>,
    pub max_replications: u32,
    pub limits: Limits,
    /// Replication seeds are independent streams of this seed. Variants of
    /// a comparison share it: common random numbers.
    pub seed: u64,
    /// The index of the first replication run (`--replication K` runs
    /// replication K alone: exactly its row of a whole study, since a
    /// replication depends only on the seed and its index).
    pub first_replication: u32,
    /// Which build of the simulator runs the replications (the results
    /// are the same on every build).
    pub build: Build,
}

/// One replication's results: everything the reports need, so that shards
/// can be merged into exactly what one machine would have produced.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Replication {
    pub index: u32,
    pub seed: u64,
    pub metrics: Map<String, Value>,
    pub samples: Vec<Sample>,
    pub faults: Vec<FaultRecord>,
    /// Fault occurrences in all (`faults` keeps the first ones only).
    #[serde(default)]
    pub faults_total: u64,
    pub transitions: [[u64; 7]; 7],
    /// Per `[[saga]]`: transition counts between its transactions' states
    /// (`SAGA_STATES`), for its lifecycle chain.
    #[serde(default)]
    pub saga_transitions: Vec<[[u64; 5]; 5]>,
    pub events: u64,
    pub messages_created: u64,
    pub stopped_early: bool,
    /// Latency CDF points (seconds, fraction), for charts.
    pub latency_cdf: Vec<(f64, f64)>,
    /// The latency histogram (3 significant digits) as (bucket's lowest
    /// value in ns, count) pairs: the replications' histograms are merged
    /// for the quantiles over replications.
    #[serde(default)]
    pub latency_histogram: Vec<(u64, u64)>,
    /// Per queue: time-weighted occupancy of (number in system, orbit),
    /// normalised, row-major with `orbit_columns` columns and trimmed of
    /// empty rows and columns at the end; empty where no producer retries.
    pub orbit_occupancy: Vec<Vec<f64>>,
    /// Per queue: the number of columns (orbit sizes 0..) of its
    /// `orbit_occupancy` rows.
    #[serde(default)]
    pub orbit_columns: Vec<usize>,
    /// Consumer lag per topic, group and partition over time.
    #[serde(default)]
    pub lag: Vec<LagRow>,
    /// The latencies of messages touched by a retry, redelivery or fault,
    /// as `latency_histogram` (empty where the run does not split them):
    /// merged over replications for `latency_affected`'s quantiles.
    #[serde(default)]
    pub latency_affected_histogram: Vec<(u64, u64)>,
}

/// The lag of one consumer group at one sample time, per partition.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LagRow {
    pub time_s: f64,
    pub topic: String,
    pub group: String,
    pub lag: Vec<u64>,
}

/// The outcome of running one model R times.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub model_name: String,
    pub seed: u64,
    pub warmup_ns: Nanos,
    pub warmup_auto: bool,
    pub reps: Vec<Replication>,
    /// `--precision`'s report (the `precision` object), when it was asked.
    pub precision: Option<Value>,
}

/// Pilot replications whose queue-length series are averaged for MSER-5.
pub const WARMUP_PILOTS: u64 = 10;
/// Pilots use replication numbers from here: streams independent of the
/// replications that are reported.
const PILOT_BASE: u64 = 1 << 40;

/// Chooses the warm-up: fixed, or MSER-5 (White 1997) on the queue-length
/// series (summed over queues, per sample interval) averaged over
/// [`WARMUP_PILOTS`] pilot replications. On one pilot's series MSER-5 chose
/// 0 in about 65% of cases and left the bias almost unchanged (issue 30);
/// averaging over pilots removes most of the noise it reacts to (Hoad,
/// Robinson & Davies 2010 recommend it on averaged replications). It is
/// capped at half the run: a choice of 0 or of the cap is warned about
/// ([`warmup_warning`]).
pub fn choose_warmup(model: &Model, seed: u64, limits: Limits, build: Build) -> (Nanos, bool) {
    match model.warmup {
        WarmupSpec::Fixed(w) => (w, false),
        WarmupSpec::Auto => {
            let end_s = ns_to_secs(model.duration_ns);
            let pilots: Vec<(Vec<f64>, Vec<f64>)> = (0..WARMUP_PILOTS)
                .into_par_iter()
                .map(|p| {
                    let seed = replication_seed(seed, PILOT_BASE + p);
                    let pilot = sim::run_with(build, model, seed, 0, limits, &[]);
                    backlog_by_time(&pilot.stats.samples, end_s)
                })
                .collect();
            let length = pilots.iter().map(|p| p.1.len()).min().unwrap_or(0);
            let times: Vec<f64> = pilots.first().map_or(vec![], |p| p.0[..length].to_vec());
            let series: Vec<f64> = (0..length)
                .map(|i| pilots.iter().map(|p| p.1[i]).sum::<f64>() / pilots.len() as f64)
                .collect();
            let d = crate::stats::ci::mser5(&series);
            let cap = model.duration_ns / 2;
            let w = if d == 0 || d > times.len() {
                0
            } else if d >= 5 * ((series.len() / 5) / 2) {
                cap
            } else {
                crate::time::secs_to_ns(times[d - 1])
            };
            (w.min(cap), true)
        }
    }
}

/// The queue length (ready + in flight, over all queues) at each sample
/// time up to `end_s`: (times, lengths).
fn backlog_by_time(samples: &[Sample], end_s: f64) -> (Vec<f64>, Vec<f64>) {
    let mut series: Vec<f64> = Vec::new();
    let mut times: Vec<f64> = Vec::new();
    for s in samples {
        if s.time_s > end_s {
            break;
        }
        if times.last() != Some(&s.time_s) {
            times.push(s.time_s);
            series.push(0.0);
        }
        if let Some(x) = series.last_mut() {
            *x += (s.ready + s.in_flight) as f64;
        }
    }
    (times, series)
}

/// The warning for an automatic warm-up that chose 0 (no transient found:
/// the pilots may be too short or too noisy to show one) or the cap (half
/// the run: the transient may be longer than the run).
pub fn warmup_warning(model: &Model, warmup_ns: Nanos, auto: bool) -> Option<String> {
    if !auto {
        return None;
    }
    if warmup_ns == 0 {
        return Some(format!(
            "warm-up auto: MSER-5 on the average of {WARMUP_PILOTS} pilot replications chose 0 s (no initial transient found); if the system starts far from its steady state, set simulation.warmup or run longer"
        ));
    }
    if warmup_ns >= model.duration_ns / 2 {
        return Some(format!(
            "warm-up auto: MSER-5 hit its cap (half the run, {} s): the initial transient may be longer than the run; run longer",
            ns_to_secs(warmup_ns)
        ));
    }
    None
}

/// Replication `r` of `model` on the given build of the simulator (the
/// builds give the same results; `tests/builds.rs` checks that they do).
pub fn replicate(
    model: &Model,
    seed: u64,
    r: u32,
    warmup_ns: Nanos,
    limits: Limits,
    build: Build,
) -> Replication {
    let rep_seed = replication_seed(seed, r as u64);
    let out = sim::run_with(build, model, rep_seed, warmup_ns, limits, &[]);
    let metrics = run_metrics(model, &out, warmup_ns);
    let h = &out.stats.latency;
    let mut cdf = Vec::new();
    if !h.is_empty() {
        for v in h.iter_quantiles(4) {
            cdf.push((ns_to_secs(v.value_iterated_to()), v.quantile_iterated_to()));
        }
    }
    let (orbit_occupancy, orbit_columns) = out
        .stats
        .queues
        .iter()
        .map(|q| trimmed_grid(&q.joint, crate::sim::collect::ORBIT_O_MAX + 1))
        .unzip();
    let lag = out
        .stats
        .lag_samples
        .iter()
        .filter_map(|s| {
            let l = model.groups[s.group].log.as_ref()?;
            Some(LagRow {
                time_s: s.time_s,
                topic: model.topics[l.topic].name.clone(),
                group: l.group.clone(),
                lag: s.lag.clone(),
            })
        })
        .collect();
    Replication {
        lag,
        orbit_occupancy,
        orbit_columns,
        index: r,
        seed: rep_seed,
        metrics,
        samples: out.stats.samples.clone(),
        faults: out.faults,
        faults_total: out.faults_total,
        transitions: out.stats.transitions,
        saga_transitions: out.stats.sagas.iter().map(|s| s.transitions).collect(),
        events: out.events,
        messages_created: out.messages_created,
        stopped_early: out.stopped_early,
        latency_cdf: cdf,
        latency_histogram: out.stats.latency_buckets().to_vec(),
        latency_affected_histogram: out.stats.affected_buckets(),
    }
}

/// A time-weighted grid normalised to probabilities and cut after its last
/// non-empty row and column; with the number of columns it keeps.
fn trimmed_grid(grid: &[f64], cols: usize) -> (Vec<f64>, usize) {
    let total: f64 = grid.iter().sum();
    if total <= 0.0 {
        return (vec![], 0);
    }
    let rows = grid
        .chunks(cols)
        .rposition(|r| r.iter().any(|x| *x > 0.0))
        .map_or(0, |r| r + 1);
    let keep = grid
        .chunks(cols)
        .filter_map(|r| r.iter().rposition(|x| *x > 0.0))
        .max()
        .map_or(1, |c| c + 1);
    let cells = grid
        .chunks(cols)
        .take(rows)
        .flat_map(|r| r[..keep].iter().map(|x| x / total))
        .collect();
    (cells, keep)
}

pub(crate) fn pool(jobs: usize) -> rayon::ThreadPool {
    let mut b = rayon::ThreadPoolBuilder::new();
    if jobs > 0 {
        b = b.num_threads(jobs);
    }
    b.build().unwrap_or_else(|_| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("a one-thread pool")
    })
}

/// Runs replications `from..to` in parallel; the order of the results is
/// the order of the indices, whatever the thread count.
pub fn run_range(
    model: &Model,
    seed: u64,
    from: u32,
    to: u32,
    warmup_ns: Nanos,
    plan: &Plan,
) -> Vec<Replication> {
    let bar = progress_bar((to - from) as u64, &model.name, "replications");
    let reps = pool(plan.jobs).install(|| {
        (from..to)
            .into_par_iter()
            .map(|r| {
                let rep = replicate(model, seed, r, warmup_ns, plan.limits, plan.build);
                bar.inc(1);
                rep
            })
            .collect()
    });
    bar.finish_and_clear();
    reps
}

/// Whether progress bars may be drawn (set by the command line: not with
/// `--quiet`, and only when stderr is a terminal).
pub static PROGRESS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A progress bar on stderr of `len` steps (`unit`: "replications", or
/// "runs of the budget" for a search), ticking once a second so that a
/// long single run shows its elapsed time; hidden unless [`PROGRESS`].
pub(crate) fn progress_bar(len: u64, name: &str, unit: &str) -> indicatif::ProgressBar {
    if !PROGRESS.load(std::sync::atomic::Ordering::Relaxed) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr_with_hz(4),
    );
    let style = indicatif::ProgressStyle::with_template(&format!(
        "{{spinner}} {{msg}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {unit}"
    ))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(name.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(1000));
    bar
}

/// Headline metrics whose relative half-width `--precision` controls.
pub const HEADLINE: [(&str, &str); 4] = [
    ("latency", "mean"),
    ("latency", "p99"),
    ("messages", "acked"),
    ("messages", "attempts"),
];

/// Runs a model with the plan: R replications, or more until the precision
/// target holds.
pub fn run(model: &Model, plan: &Plan) -> Outcome {
    let (warmup_ns, auto) =
        pool(plan.jobs).install(|| choose_warmup(model, plan.seed, plan.limits, plan.build));
    let first = match plan.precision {
        Some(_) => plan
            .replications
            .max(precision::MIN_REPLICATIONS)
            .min(plan.max_replications.max(1)),
        None => plan.replications.max(1),
    };
    let start = plan.first_replication;
    let mut reps = run_range(model, plan.seed, start, start + first, warmup_ns, plan);
    let mut report = None;
    if let Some(gamma) = plan.precision {
        let cap = plan.max_replications.max(1);
        let minimum = precision::MIN_REPLICATIONS.min(cap) as usize;
        let mut rule = precision::Rule::default();
        let mut checked = 0;
        let widths = loop {
            // Check the rule after each replication, in order: the first
            // count that meets it is where a one-at-a-time run stops.
            let mut stop = None;
            while checked < reps.len() {
                rule.add(&reps[checked]);
                checked += 1;
                let widths = rule.relative_half_widths();
                if checked >= minimum && precision::met(&widths, gamma) {
                    stop = Some(widths);
                    break;
                }
            }
            if let Some(widths) = stop {
                reps.truncate(checked);
                break widths;
            }
            let from = reps.len() as u32;
            if from >= cap {
                break rule.relative_half_widths();
            }
            let to = (from + precision::STEP).min(cap);
            reps.extend(run_range(model, plan.seed, from, to, warmup_ns, plan));
        };
        report = Some((gamma, cap, widths));
    }
    Outcome {
        model_name: model.name.clone(),
        seed: plan.seed,
        warmup_ns,
        warmup_auto: auto,
        precision: report.map(|(gamma, cap, widths)| {
            let mut r = precision::report(gamma, cap, reps.len(), &widths);
            if let Some(w) = precision::missed_warning(gamma, cap, &widths) {
                r["warning"] = json!(w);
            }
            r
        }),
        reps,
    }
}

/// Appends `more` to the summary's `warnings` array (creating it).
pub fn add_warnings(o: &mut Map<String, Value>, more: Vec<warnings::Warning>) {
    if more.is_empty() {
        return;
    }
    let list = o.entry("warnings").or_insert_with(|| json!([]));
    if let Value::Array(a) = list {
        a.extend(more.iter().map(warnings::Warning::json));
    }
}

/// Warnings known only as text, under one code.
fn coded(code: &'static str, texts: impl IntoIterator<Item = String>) -> Vec<warnings::Warning> {
    texts
        .into_iter()
        .map(|t| warnings::Warning::new(code, t))
        .collect()
}

impl Outcome {
    /// The summary JSON: the means in the shape of one run, and a sibling
    /// `ci95` of the same shape holding the half-widths.
    pub fn summary(&self, model: &Model) -> Map<String, Value> {
        let runs: Vec<Value> = self
            .reps
            .iter()
            .map(|r| Value::Object(r.metrics.clone()))
            .collect();
        let (mean, mut hw) = aggregate(&runs);
        let present = crate::stats::summary::values_present(&runs);
        let mut o = Map::new();
        o.insert("scenario".into(), json!(self.model_name));
        o.insert("seed".into(), json!(self.seed));
        o.insert("replications".into(), json!(self.reps.len()));
        // `--replication K`: which one, so that the report says it.
        if let [only] = self.reps.as_slice() {
            if only.index > 0 {
                o.insert("replication".into(), json!(only.index));
            }
        }
        let partial = self.reps.iter().any(|r| r.stopped_early);
        o.insert("partial".into(), json!(partial));
        if partial {
            o.insert(
                "partial_reason".into(),
                json!(guard::stop_reason().map_or("stopped early", guard::StopReason::name)),
            );
        }
        o.insert(
            "warmup".into(),
            json!({ "seconds": ns_to_secs(self.warmup_ns), "method": if self.warmup_auto { "mser-5" } else { "fixed" } }),
        );
        if let Value::Object(m) = mean {
            for (k, v) in m {
                o.insert(k, v);
            }
        }
        let estimate_warnings = estimates::replace(&self.reps, &mut o, &mut hw);
        // Recovery over replications, from each one's verdict (never an
        // average of verdicts or of missing times).
        let per: Vec<&Value> = self
            .reps
            .iter()
            .filter_map(|r| r.metrics.get("recovery"))
            .collect();
        o.insert(
            "recovery".into(),
            crate::stats::recovery::recovery_over(&per),
        );
        crate::experiment::theory_report::attach(model, &mut o);
        add_warnings(&mut o, estimate_warnings);
        let warmup_s = ns_to_secs(self.warmup_ns);
        let warm_up = warmup_warning(model, self.warmup_ns, self.warmup_auto);
        add_warnings(
            &mut o,
            warm_up
                .into_iter()
                .map(|t| warnings::Warning::new("warm-up", t).with(warmup_s))
                .collect(),
        );
        let window_s = ns_to_secs(model.duration_ns.saturating_sub(self.warmup_ns));
        add_warnings(
            &mut o,
            crate::experiment::theory_report::short_run_warnings(model, window_s),
        );
        let estimated =
            short_runs::estimated_short_run_warnings(model, &self.reps, warmup_s, window_s);
        add_warnings(&mut o, estimated);
        add_warnings(&mut o, self.fixed_warmup_warning(model, window_s));
        let found = warnings::from_results(model, &o, &self.reps);
        add_warnings(&mut o, found);
        if let Some(p) = &self.precision {
            o.insert("precision".into(), p.clone());
            let missed = p.get("warning").and_then(Value::as_str);
            add_warnings(
                &mut o,
                coded("precision-not-reached", missed.map(String::from)),
            );
        }
        // Always there, so that a reader need not tell "none" from "not
        // computed".
        o.entry("warnings").or_insert_with(|| json!([]));
        if !present.is_empty() {
            o.insert("values_present".into(), Value::Object(present));
        }
        o.insert(
            "faults".into(),
            serde_json::to_value(
                self.reps
                    .first()
                    .map(|r| r.faults.clone())
                    .unwrap_or_default(),
            )
            .unwrap_or(Value::Null),
        );
        o.insert(
            "faults_total".into(),
            json!(self.reps.first().map_or(0, |r| r.faults_total)),
        );
        o.insert(
            "markov".into(),
            crate::experiment::theory_report::markov(model, self, &o),
        );
        o.insert(
            "simulation".into(),
            json!({
                "events": self.reps.iter().map(|r| r.events).sum::<u64>(),
                "messages_created": self.reps.iter().map(|r| r.messages_created).sum::<u64>(),
                "simulated_seconds_per_replication": ns_to_secs(model.duration_ns),
            }),
        );
        if let Value::Object(h) = &mut hw {
            h.remove("recovery");
        }
        o.insert("ci95".into(), hw);
        o
    }

    /// `short-window` for a fixed warm-up of half the run or more; its
    /// figure is the statistics window over the warm-up (at most 1).
    fn fixed_warmup_warning(&self, model: &Model, window_s: f64) -> Vec<warnings::Warning> {
        if self.warmup_auto || self.warmup_ns < model.duration_ns / 2 || self.warmup_ns == 0 {
            return Vec::new();
        }
        let warmup_s = ns_to_secs(self.warmup_ns);
        vec![warnings::Warning::new(
            "short-window",
            format!(
                "the warm-up ({warmup_s} s) takes half the run or more: the statistics window is short beside it; run longer"
            ),
        )
        .with(window_s / warmup_s)]
    }

    /// Saga `saga`'s transition counts, pooled over the replications.
    pub fn saga_transitions(&self, saga: usize) -> Vec<Vec<u64>> {
        let mut t = vec![vec![0u64; 5]; 5];
        for row_set in self
            .reps
            .iter()
            .filter_map(|r| r.saga_transitions.get(saga))
        {
            for (i, row) in row_set.iter().enumerate() {
                for (j, v) in row.iter().enumerate() {
                    t[i][j] += v;
                }
            }
        }
        t
    }

    /// Pooled lifecycle transition counts.
    pub fn transitions(&self) -> Vec<Vec<u64>> {
        let mut t = vec![vec![0u64; LIFECYCLE_STATES.len()]; LIFECYCLE_STATES.len()];
        for r in &self.reps {
            for (i, row) in r.transitions.iter().enumerate() {
                for (j, v) in row.iter().enumerate() {
                    t[i][j] += v;
                }
            }
        }
        t
    }
}
