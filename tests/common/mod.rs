//! Helpers shared by the integration tests.
#![allow(dead_code)]

use mqsim::experiment::{self, Plan};
use mqsim::model;
use mqsim::scenario::{load_str, LoadOptions, Scenario};
use mqsim::sim::Limits;
use serde_json::{Map, Value};
use std::path::Path;

pub fn scenario(text: &str) -> Scenario {
    load_str(text, "test.toml", &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

pub fn scenario_file(path: &str, sets: &[&str]) -> Scenario {
    let opts = LoadOptions {
        overrides: sets.iter().map(|s| s.to_string()).collect(),
    };
    mqsim::scenario::load_file(Path::new(path), &opts).unwrap_or_else(|e| panic!("{e}"))
}

pub fn plan(reps: u32, jobs: usize, seed: u64) -> Plan {
    Plan {
        replications: reps,
        jobs,
        precision: None,
        max_replications: reps,
        limits: Limits::default(),
        seed,
        build: Default::default(),
    }
}

/// Runs a scenario and returns its summary JSON.
pub fn summary(s: &Scenario, reps: u32, jobs: usize) -> Map<String, Value> {
    let m = model::compile(s).expect("compiles");
    let out = experiment::run(&m, &plan(reps, jobs, s.simulation.seed.unwrap_or(1)));
    out.summary(&m)
}

pub fn get(v: &Map<String, Value>, path: &str) -> f64 {
    let mut cur: Option<&Value> = None;
    for (i, k) in path.split('.').enumerate() {
        cur = if i == 0 {
            v.get(k)
        } else {
            cur.and_then(|c| c.get(k))
        };
    }
    cur.and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {path}"))
}

/// published = rejected + acked + dead_lettered + lost + expired + in_flight
pub fn assert_conserved(s: &Map<String, Value>) {
    let p = get(s, "messages.published");
    let sum: f64 = [
        "rejected",
        "acked",
        "dead_lettered",
        "lost",
        "expired",
        "in_flight",
    ]
    .iter()
    .map(|k| get(s, &format!("messages.{k}")))
    .sum();
    assert!(
        (p - sum).abs() < 1e-6,
        "conservation: published {p} != {sum}"
    );
}
