//! Queueing theory beside simulation, Markov statistics, replications.

mod common;
use common::*;

fn queue_text(
    rate: f64,
    service: &str,
    count: u32,
    capacity: Option<u64>,
    hours: u32,
    seed: u64,
) -> String {
    let cap = capacity
        .map(|c| format!("capacity = {c}\noverflow = \"reject-publish\""))
        .unwrap_or_default();
    format!(
        r#"
[simulation]
seed = {seed}
duration = "{hours}h"
warmup = "1h"
[[producer]]
arrival = {{ process = "poisson", rate = {rate} }}
[[queue]]
{cap}
[[consumer]]
count = {count}
service = {service}
"#
    )
}

/// The grid of the issue: M/M/1, M/M/3, M/M/1/K, M/M/3/K, M/D/1 and M/G/1
/// at rho 0.3, 0.7, 0.9: 18 grid points, each run with 6 seeds as 6 cases
/// of 5 independent replications.
///
/// - Coverage: the theory's mean time in system W lies inside the simulated
///   95% interval in at least 90% of the 108 cases. With a true coverage of
///   95%, 108 cases fall under 90% with probability about 1.5%; the seeds
///   are fixed and were not chosen.
/// - Accuracy: over its 30 replications, each grid point's W and L are
///   within 2% of the theory.
#[test]
fn theory_grid_inside_the_intervals() {
    let exp = r#"{ dist = "exponential", mean = "1s" }"#;
    let det = r#"{ dist = "constant", mean = "1s" }"#;
    let logn = r#"{ dist = "lognormal", mean = "1s", sd = "1.5s" }"#;
    let mut inside = 0;
    let mut total = 0;
    for (i, rho) in [0.3, 0.7, 0.9].into_iter().enumerate() {
        let hours = [10, 30, 100][i];
        // (model, arrival rate, service, consumers, capacity, hours)
        type Point<'a> = (&'a str, f64, &'a str, u32, Option<u64>, u32);
        let grid: Vec<Point> = vec![
            ("M/M/1", rho, exp, 1, None, hours),
            ("M/M/3", 3.0 * rho, exp, 3, None, hours / 3),
            ("M/M/1/K", rho, exp, 1, Some(9), hours / 2),
            ("M/M/3/K", 3.0 * rho, exp, 3, Some(9), hours / 6),
            ("M/D/1", rho, det, 1, None, hours),
            ("M/G/1", rho, logn, 1, None, hours * 2),
        ];
        for (g, (name, rate, service, c, cap, h)) in grid.into_iter().enumerate() {
            let (mut w_sum, mut l_sum, mut th_w, mut th_l) = (0.0, 0.0, 0.0, 0.0);
            let seeds = 6;
            for k in 0..seeds {
                let seed = 1000 * (i as u64 + 1) + 10 * g as u64 + k;
                let s = summary(
                    &scenario(&queue_text(rate, service, c, cap, h.max(2), seed)),
                    5,
                    0,
                );
                let w = get(&s, "queues.queue.queueing.W");
                let hw = get(&s, "ci95.queues.queue.queueing.W");
                th_w = get(&s, "queues.queue.queueing.theory.W");
                th_l = get(&s, "queues.queue.queueing.theory.L");
                w_sum += w;
                l_sum += get(&s, "queues.queue.queueing.L");
                total += 1;
                if (w - th_w).abs() <= hw {
                    inside += 1;
                }
            }
            let (w, l) = (w_sum / seeds as f64, l_sum / seeds as f64);
            assert!(
                (w - th_w).abs() / th_w < 0.02,
                "{name} rho {rho}: W {w} vs theory {th_w}"
            );
            assert!(
                (l - th_l).abs() / th_l < 0.02,
                "{name} rho {rho}: L {l} vs theory {th_l}"
            );
        }
    }
    assert!(
        inside as f64 >= 0.9 * total as f64,
        "theory inside the interval in {inside} of {total} cases"
    );
}

/// The time-weighted queue-length distribution of a long M/M/1 run is within
/// 0.01 total variation of (1 - rho) rho^n.
#[test]
fn mm1_length_distribution_is_geometric() {
    let s = summary(
        &scenario_file("scenarios/mm1.toml", &["simulation.duration=\"2000h\""]),
        1,
        1,
    );
    let tv = get(&s, "queues.queue.length_distribution.total_variation");
    assert!(tv < 0.01, "total variation {tv}");
    let p0 = s["queues"]["queue"]["length_distribution"]["simulated"][0]
        .as_f64()
        .unwrap();
    assert!((p0 - 0.2).abs() < 0.01);
}

/// Little's law on every bundled scenario without faults.
#[test]
fn littles_law_on_bundled_scenarios_without_faults() {
    let mut checked = 0;
    for entry in std::fs::read_dir("scenarios").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let s = scenario_file(path.to_str().unwrap(), &[]);
        if !s.faults.is_empty() {
            continue;
        }
        let out = summary(&s, 1, 1);
        for (name, q) in out["queues"].as_object().unwrap() {
            let e = q["queueing"]["littles_law_error"].as_f64().unwrap();
            assert!(
                e < 0.01,
                "{}: queue {name}: Little's law residual {e}",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 5);
}

#[test]
fn replications_identical_for_any_thread_count() {
    let s = scenario_file(
        "scenarios/quickstart.toml",
        &["simulation.duration=\"10m\""],
    );
    let a = serde_json::to_string(&summary(&s, 4, 1)).unwrap();
    let b = serde_json::to_string(&summary(&s, 4, 2)).unwrap();
    assert_eq!(a, b);
    let v: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert_eq!(v["replications"], 4);
    // The ci95 sibling has the shape of the means.
    assert!(v["ci95"]["latency"]["mean"].as_f64().unwrap() > 0.0);
    assert!(v["ci95"]["messages"]["acked"].is_number());
}

/// --precision adds replications until the headline metrics are precise.
#[test]
fn precision_adds_replications() {
    let s = scenario_file(
        "scenarios/quickstart.toml",
        &["simulation.duration=\"5m\"", "simulation.warmup=\"0s\""],
    );
    let m = mqsim::model::compile(&s).unwrap();
    let mut plan = plan(2, 0, 7);
    plan.precision = Some(0.02);
    plan.max_replications = 40;
    let out = mqsim::experiment::run(&m, &plan);
    let n = out.reps.len();
    assert!(n > 2 && n <= 40, "{n} replications");
    let sum = out.summary(&m);
    if n < 40 {
        let rel = get(&sum, "ci95.latency.mean") / get(&sum, "latency.mean");
        assert!(rel <= 0.02);
    }
}

/// warmup = "auto" picks a truncation point with MSER-5 and reports it.
#[test]
fn auto_warmup_is_reported() {
    let s = scenario_file(
        "scenarios/mm1.toml",
        &["simulation.warmup=\"auto\"", "simulation.duration=\"12h\""],
    );
    let out = summary(&s, 1, 1);
    assert_eq!(out["warmup"]["method"], "mser-5");
    assert!(get(&out, "warmup.seconds") < 6.0 * 3600.0);
}

/// The retry-orbit chain is solved and set beside the simulated occupancy;
/// an unbounded queue whose retries exceed the capacity once every attempt
/// times out has no stationary distribution, and is at risk.
#[test]
fn retry_orbit_chain_is_reported() {
    let out = summary(&scenario_file("scenarios/retry-storm.toml", &[]), 1, 1);
    let o = &out["markov"]["orbit"]["requests"];
    assert_eq!(o["theory"]["stationary"], false);
    assert_eq!(o["theory"]["metastable_risk"], true);
    let out = summary(
        &scenario_file("scenarios/retry-storm.toml", &["queue.capacity=200"]),
        1,
        1,
    );
    let o = &out["markov"]["orbit"]["requests"];
    assert!(o["theory"]["second_eigenvalue"].as_f64().unwrap() < 0.0);
    assert!(o["theory"]["mixing_time_s"].as_f64().unwrap() > 0.0);
    assert!(o["theory"]["mass_at_bounds"].as_f64().unwrap() < 1e-6);
    assert!(o["simulated"]["mean_queue"].as_f64().is_some());
}
