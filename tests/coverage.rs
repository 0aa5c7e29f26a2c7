//! Coverage of the 95% intervals against known truths (issue 30), over
//! independent experiments (each a different scenario seed).
//!
//! The fast part runs in `cargo test --release`; the long part (at least
//! 200 experiments a case) is `#[ignore]`d and run by
//! `cargo test --release --test coverage -- --ignored --test-threads 1`,
//! which `.ci/run` also calls. Every case where the run is long enough
//! must cover 93-97%; where it is too short, the warning must fire. The
//! measured figures are in the README (How the numbers are validated).

mod common;
use common::*;
use serde_json::{Map, Value};

/// M/M/1 with service of mean 1 s: lambda = rho, `seconds` long, no warm-up.
fn mm1(rho: f64, seconds: f64, seed: u64) -> String {
    format!(
        r#"
[simulation]
seed = {seed}
duration = "{seconds}s"
drain = "1h"
[[producer]]
arrival = {{ process = "poisson", rate = {rho} }}
[[queue]]
[[consumer]]
service = {{ dist = "exponential", mean = "1s" }}
"#
    )
}

/// Independent failures of probability 0.1 with 3 deliveries: a
/// dead-letter rate of exactly 1e-3, about 1 a replication.
fn rare_dead_letters(seed: u64) -> String {
    format!(
        r#"
[simulation]
seed = {seed}
duration = "1000s"
drain = "1h"
[[producer]]
arrival = {{ process = "poisson", rate = 1.0 }}
[[queue]]
max_deliveries = 3
[[consumer]]
count = 4
service = {{ dist = "exponential", mean = "100ms" }}
failure = 0.1
"#
    )
}

fn run(text: &str, reps: u32, precision: Option<f64>) -> Map<String, Value> {
    let s = scenario(text);
    let m = mqsim::model::compile(&s).expect("compiles");
    let mut p = plan(reps, 0, s.simulation.seed.unwrap_or(1));
    if let Some(gamma) = precision {
        p.precision = Some(gamma);
        p.max_replications = 200;
    }
    mqsim::experiment::run(&m, &p).summary(&m)
}

fn warnings(s: &Map<String, Value>) -> Vec<String> {
    s.get("warnings")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|w| w["message"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn has_warning(s: &Map<String, Value>, part: &str) -> bool {
    warnings(s).iter().any(|w| w.contains(part))
}

/// Whether `truth` lies within the summary's 95% interval at `path`.
fn covers(s: &Map<String, Value>, path: &str, truth: f64) -> bool {
    if let Some(rate) = path
        .strip_prefix("messages.")
        .filter(|k| k.ends_with("_rate"))
    {
        let bounds = &s["rate_intervals"][rate];
        let (lower, upper) = (bounds[0].as_f64().unwrap(), bounds[1].as_f64().unwrap());
        return lower <= truth && truth <= upper;
    }
    if let Some(key) = path.strip_prefix("latency.").filter(|k| k.starts_with('p')) {
        let bounds = &s["latency_intervals"][key];
        let (lower, upper) = (bounds[0].as_f64().unwrap(), bounds[1].as_f64().unwrap());
        return lower <= truth && truth <= upper;
    }
    let mean = get(s, path);
    let half = get(s, &format!("ci95.{path}"));
    (mean - truth).abs() <= half
}

/// The result of one case over `n` experiments.
struct Case {
    covered: usize,
    n: usize,
    warned: usize,
}

impl Case {
    fn coverage(&self) -> f64 {
        self.covered as f64 / self.n as f64
    }
}

/// Runs `n` experiments of `text(seed)` and counts coverage of each
/// (path, truth), and the experiments where a warning containing `warning`
/// fired.
fn measure(
    n: u64,
    text: impl Fn(u64) -> String,
    reps: u32,
    precision: Option<f64>,
    checks: &[(&str, f64)],
    warning: &str,
) -> Vec<Case> {
    let mut cases: Vec<Case> = checks
        .iter()
        .map(|_| Case {
            covered: 0,
            n: 0,
            warned: 0,
        })
        .collect();
    for seed in 1..=n {
        let s = run(&text(1000 + seed), reps, precision);
        for (case, (path, truth)) in cases.iter_mut().zip(checks) {
            case.n += 1;
            case.covered += usize::from(covers(&s, path, *truth));
            case.warned += usize::from(has_warning(&s, warning));
        }
    }
    for (case, (path, truth)) in cases.iter().zip(checks) {
        eprintln!(
            "coverage of {path} = {truth}: {}/{} = {:.3}, warned {}",
            case.covered,
            case.n,
            case.coverage(),
            case.warned
        );
    }
    cases
}

/// True M/M/1 sojourn-time quantile: exponential of rate mu - lambda.
fn mm1_quantile(rho: f64, q: f64) -> f64 {
    -(1.0 - q).ln() / (1.0 - rho)
}

fn assert_covers(case: &Case, what: &str) {
    let c = case.coverage();
    assert!(
        (0.93..=0.97).contains(&c),
        "{what}: coverage {c:.3} over {} experiments",
        case.n
    );
}

// ---- fast part -------------------------------------------------------

/// A short M/M/1 run at rho 0.9 (about 2,000 messages a replication) is
/// warned about, with the length it should have; a long one is not.
#[test]
fn short_runs_are_warned_about() {
    let s = run(&mm1(0.9, 2222.0, 5), 10, None);
    assert!(has_warning(&s, "relaxation times"), "{:?}", warnings(&s));
    assert!(has_warning(&s, "latency.p999"), "{:?}", warnings(&s));
    let s = run(&mm1(0.9, 40_000.0, 5), 2, None);
    assert!(!has_warning(&s, "relaxation times"), "{:?}", warnings(&s));
    assert!(!has_warning(&s, "latency.p99:"), "{:?}", warnings(&s));
}

/// The tail warning's threshold, calibrated on the long coverage runs:
/// p999 with 50 latencies above it per replication (62,500 s at rho 0.8)
/// covers 90.5%, so it is warned about; with 100 (125,000 s) it covers
/// 94.5%; with 120 (150,000 s) it is not warned about.
#[test]
fn p999_is_warned_about_below_a_hundred_latencies_above_it() {
    let s = run(&mm1(0.8, 62_500.0, 5), 2, None);
    assert!(has_warning(&s, "latency.p999"), "{:?}", warnings(&s));
    assert!(!has_warning(&s, "latency.p99:"), "{:?}", warnings(&s));
    let s = run(&mm1(0.8, 150_000.0, 5), 2, None);
    assert!(!has_warning(&s, "latency.p999"), "{:?}", warnings(&s));
}

/// Retries with backoff at a load near 0.9 (no queueing model applies):
/// 4 consumers of mean 1 s, 10% of attempts fail and are redelivered
/// after a jittered exponential backoff, up to 5 deliveries.
fn retry_heavy(seconds: f64, seed: u64) -> String {
    format!(
        r#"
[simulation]
seed = {seed}
duration = "{seconds}s"
drain = "1h"
[[producer]]
arrival = {{ process = "poisson", rate = 3.2 }}
[[queue]]
max_deliveries = 5
dead_letter = true
[[consumer]]
count = 4
service = {{ dist = "exponential", mean = "1s" }}
failure = 0.1
retry_mode = "delay"
retry = {{ backoff = "exponential", base = "100ms", multiplier = 2.0, cap = "30s", jitter = "full" }}
"#
    )
}

/// Where no model applies, the short-run warning comes from the
/// autocorrelation time estimated from the backlog series: a short
/// retry-heavy run is warned about, with the length it should have; a
/// long one is not.
#[test]
fn short_runs_without_a_model_are_warned_about() {
    let s = run(&retry_heavy(2000.0, 3), 10, None);
    assert!(!has_warning(&s, "relaxation times"), "{:?}", warnings(&s));
    let found: Vec<String> = warnings(&s)
        .into_iter()
        .filter(|w| w.contains("autocorrelation time"))
        .collect();
    assert_eq!(found.len(), 1, "{:?}", warnings(&s));
    assert!(
        found[0].contains("make each replication at least"),
        "{found:?}"
    );
    let s = run(&retry_heavy(100_000.0, 3), 10, None);
    assert!(
        !has_warning(&s, "autocorrelation time"),
        "{:?}",
        warnings(&s)
    );
}

/// The estimator agrees with theory where there is one: the integrated
/// autocorrelation time of M/M/1's queue length is 2 (1 + rho) / (mu (1 -
/// rho)^2), 90 s at rho 0.8; 10 replications of 50,000 s sampled every
/// 10 s estimate it within 20% (the estimate's spread is about 8%).
#[test]
fn autocorrelation_time_of_mm1_matches_theory() {
    let text =
        mm1(0.8, 50_000.0, 11).replace("[simulation]", "[simulation]\nsample_interval = \"10s\"");
    let s = scenario(&text);
    let m = mqsim::model::compile(&s).unwrap();
    let outcome = mqsim::experiment::run(&m, &plan(10, 0, 11));
    let series: Vec<Vec<f64>> = outcome
        .reps
        .iter()
        .map(|r| {
            r.samples
                .iter()
                .map(|s| (s.ready + s.in_flight + s.waiting_retry) as f64)
                .collect()
        })
        .collect();
    let samples = mqsim::stats::autocorrelation::integrated_time_samples(&series).unwrap();
    let seconds = samples * 10.0;
    let theory = 2.0 * 1.8 / (0.2f64 * 0.2);
    eprintln!("M/M/1 rho 0.8: autocorrelation time {seconds:.1} s, theory {theory:.1} s");
    assert!(
        (seconds / theory - 1.0).abs() < 0.2,
        "{seconds} vs {theory}"
    );
}

/// `--precision` stops at the same replication whatever the thread count,
/// with at least 10, and gives the same summary.
#[test]
fn precision_is_the_same_for_any_thread_count() {
    let s = scenario(&mm1(0.8, 5000.0, 3));
    let m = mqsim::model::compile(&s).unwrap();
    let mut outs = Vec::new();
    for jobs in [1, 2, 3] {
        let mut p = plan(1, jobs, 3);
        p.precision = Some(0.1);
        p.max_replications = 200;
        outs.push(serde_json::to_string(&mqsim::experiment::run(&m, &p).summary(&m)).unwrap());
    }
    assert_eq!(outs[0], outs[1]);
    assert_eq!(outs[0], outs[2]);
    let v: Value = serde_json::from_str(&outs[0]).unwrap();
    let n = v["replications"].as_u64().unwrap();
    assert!((10..200).contains(&n), "{n}");
    assert_eq!(v["precision"]["reached"], true);
}

/// With one replication there is no interval: null, never 0.
#[test]
fn one_replication_has_no_half_widths() {
    let s = run(&mm1(0.5, 2000.0, 1), 1, None);
    let ci = Value::Object(s.clone())["ci95"].clone();
    assert!(ci["latency"]["mean"].is_null(), "{ci}");
    assert!(ci["messages"]["acked"].is_null(), "{ci}");
}

/// A rate with no event in any replication still gets an interval above
/// 0 (the exact binomial one), not 0 ± 0.
#[test]
fn a_rate_of_zero_events_has_an_upper_bound() {
    let s = run(&rare_dead_letters(7), 3, None);
    let v = Value::Object(s);
    let upper = v["rate_intervals"]["dead_letter_rate"][1].as_f64().unwrap();
    assert!(upper > 0.0 && upper < 0.01, "{upper}");
}

// ---- long part (cargo test --release --test coverage -- --ignored) ----

/// Mean latency at rho 0.9: about 2,000 messages a replication (5
/// relaxation times) is warned about in every experiment; 40,000 s (105
/// relaxation times) covers 93-97% without the warning.
#[test]
#[ignore]
fn coverage_of_mean_latency_short_and_long() {
    let short = measure(
        200,
        |s| mm1(0.9, 2222.0, s),
        10,
        None,
        &[("latency.mean", 10.0)],
        "relaxation times",
    );
    assert_eq!(short[0].warned, 200);
    let long = measure(
        200,
        |s| mm1(0.9, 40_000.0, s),
        10,
        None,
        &[("latency.mean", 10.0)],
        "relaxation times",
    );
    assert_eq!(long[0].warned, 0);
    assert_covers(&long[0], "mean latency, long runs");
}

/// p99 and p999 at rho 0.8 (true 23.03 s and 34.54 s). 62,500 s a
/// replication (50,000 messages): p99 (500 above it) covers 93-97%; p999
/// (50 above it) covers about 90% and is warned about in every
/// experiment. 150,000 s (120 above p999, above the warning's 100): p999
/// covers 93-97% without the warning. 2,500 s: warned about.
#[test]
#[ignore]
fn coverage_of_percentiles_at_two_lengths() {
    let truths = [
        ("latency.p99", mm1_quantile(0.8, 0.99)),
        ("latency.p999", mm1_quantile(0.8, 0.999)),
    ];
    let p99_only = [truths[0]];
    let long = measure(
        200,
        |s| mm1(0.8, 62_500.0, s),
        10,
        None,
        &truths,
        "latency.p999",
    );
    assert_eq!(long[1].warned, 200);
    assert_covers(&long[0], "p99, 62,500 s");
    let warned_p99 = measure(
        200,
        |s| mm1(0.8, 62_500.0, s),
        10,
        None,
        &p99_only,
        "latency.p99:",
    );
    assert_eq!(warned_p99[0].warned, 0);
    let longer = measure(
        200,
        |s| mm1(0.8, 150_000.0, s),
        10,
        None,
        &truths,
        "latency.p999",
    );
    assert_eq!(longer[1].warned, 0);
    assert_covers(&longer[1], "p999, 150,000 s");
    let short = measure(
        200,
        |s| mm1(0.8, 2500.0, s),
        10,
        None,
        &truths,
        "latency.p999",
    );
    assert_eq!(short[1].warned, 200);
}

/// A dead-letter rate of 1e-3 with about one event a replication: the
/// pooled exact interval covers 93-97%.
#[test]
#[ignore]
fn coverage_of_a_rare_dead_letter_rate() {
    let c = measure(
        400,
        rare_dead_letters,
        10,
        None,
        &[("messages.dead_letter_rate", 1e-3)],
        "-",
    );
    assert_covers(&c[0], "dead-letter rate");
}

/// `--precision 0.05` on M/M/1 at rho 0.8 with 25,000 s replications
/// (280 relaxation times): the mean latency (5 s) and p99 are covered
/// 93-97%.
#[test]
#[ignore]
fn coverage_under_precision() {
    let truths = [
        ("latency.mean", 5.0),
        ("latency.p99", mm1_quantile(0.8, 0.99)),
    ];
    let c = measure(
        200,
        |s| mm1(0.8, 25_000.0, s),
        1,
        Some(0.05),
        &truths,
        "not reached",
    );
    assert_eq!(c[0].warned, 0);
    assert_covers(&c[0], "mean latency under --precision");
    assert_covers(&c[1], "p99 under --precision");
}

/// Comparisons of a variant that changes nothing (it sets the default
/// consumer count) against the base, with automatic warm-up: the share of
/// `n` experiments in which no metric is marked significant.
fn unmarked_comparisons(n: u64) -> f64 {
    let dir = TempDir::new("coverage-compare");
    let mut clean = 0;
    for seed in 1..=n {
        let text = mm1(0.8, 3000.0, 2000 + seed)
            .replace("[simulation]", "[simulation]\nwarmup = \"auto\"");
        let file = dir.write("mm1.toml", &text);
        let file = file.to_string_lossy();
        let (code, out, err) = mqsim(&[
            "compare",
            &file,
            "--variant",
            "base:",
            "--variant",
            "same:consumer.count=1",
            "-r",
            "10",
            "--format",
            "json",
            "--no-files",
            "-q",
        ]);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).expect("json");
        let marked = v["comparison"]["metrics"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .flat_map(|row| row.as_object().into_iter().flat_map(|r| r.values()))
            .any(|e| e["significant"] == Value::Bool(true));
        clean += usize::from(!marked);
    }
    let share = clean as f64 / n as f64;
    eprintln!("comparisons with no mark: {clean}/{n} = {share:.3}");
    share
}

/// Fast part: a few comparisons of a variant that changes nothing.
#[test]
fn a_variant_that_changes_nothing_is_not_marked() {
    assert_eq!(unmarked_comparisons(3), 1.0);
}

/// Long part: at least 95% of 100 comparisons mark nothing.
#[test]
#[ignore]
fn comparisons_of_identical_variants_mark_nothing() {
    assert!(unmarked_comparisons(100) >= 0.95);
}
