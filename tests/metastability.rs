//! Metastability: goodput, the load-spike trigger, the retry-orbit chain
//! against the simulation, recovery over replications, sweep grids.

mod common;
use common::*;
use mqsim::stats::markov;
use serde_json::Value;

/// Metafor's configuration A (or B with `tau` 9 s, 4 attempts), a client
/// timeout with immediate retries, no trigger.
fn config(tau: &str, attempts: u32, rate: f64, capacity: u32) -> String {
    format!(
        r#"
[simulation]
name = "config"
seed = 3
duration = "2h"
warmup = "5m"
sample_interval = "10s"
[[producer]]
arrival = {{ process = "poisson", rate = {rate} }}
timeout = "{tau}"
retry = {{ backoff = "none", max_attempts = {attempts} }}
[[queue]]
capacity = {capacity}
[[consumer]]
service = {{ dist = "exponential", mean = "100ms" }}
"#
    )
}

/// Without client timeouts every completion is awaited: goodput is the
/// throughput, nothing is processed after a timeout.
#[test]
fn goodput_is_throughput_without_timeouts() {
    let s = summary(&scenario_file("scenarios/mm1.toml", &[]), 2, 0);
    assert_eq!(get(&s, "messages.processed_after_timeout"), 0.0);
    assert_eq!(get(&s, "messages.goodput"), get(&s, "messages.throughput"));
}

/// Configuration A at lambda 9.5 collapses: most requests are processed
/// after their client stopped waiting, so goodput falls to about zero while
/// `acked` stays high (the chain's goodput is about zero too).
#[test]
fn goodput_collapses_in_a_retry_storm() {
    let s = summary(&scenario(&config("3s", 5, 9.5, 99)), 2, 0);
    let published = get(&s, "messages.published");
    let acked = get(&s, "messages.acked");
    assert!(acked > 0.5 * published, "acked {acked} of {published}");
    let goodput = get(&s, "messages.goodput");
    assert!(goodput < 0.05 * 9.5, "goodput {goodput}");
    assert!(get(&s, "messages.processed_after_timeout") > 0.9 * acked);
    let chain = get(&s, "markov.orbit.queue.theory.throughput");
    assert!(chain < 0.05 * 9.5, "chain goodput {chain}");
}

/// A load spike multiplies the arrival rate while it lasts: 10x for 60 s
/// at 2/s adds about 9 x 2 x 60 = 1080 messages (Poisson: sd about 35).
#[test]
fn a_load_spike_multiplies_the_arrivals() {
    let base = config("3s", 5, 2.0, 99);
    let spiked = format!(
        "{base}\n[[fault]]\nkind = \"load-spike\"\nstart = \"30m\"\nduration = \"60s\"\nfactor = 10.0\n"
    );
    let a = summary(&scenario(&base), 1, 1);
    let b = summary(&scenario(&spiked), 1, 1);
    let extra = get(&b, "messages.published") - get(&a, "messages.published");
    assert!(
        (extra - 1080.0).abs() < 5.0 * 1080f64.sqrt() * 1.05 + 60.0,
        "extra {extra}"
    );
    assert_eq!(b["faults"][0]["kind"], "load-spike");
    assert_eq!(b["faults"][0]["start"].as_f64(), Some(1800.0));
    assert_conserved(&b);
    // A factor of 1 changes nothing (the same arrivals, common random numbers).
    let one = summary(
        &scenario(&spiked.replace("factor = 10.0", "factor = 1.0")),
        1,
        1,
    );
    assert_eq!(
        get(&one, "messages.published"),
        get(&a, "messages.published")
    );
}

/// Below the threshold the chain's stationary mean queue length and orbit
/// agree with the simulation's within sampling error, on both of
/// Metafor's configurations (A at 2 and 3/s, B at 5 and 7/s: well below
/// their thresholds, where timeouts are rare and the queue is M/M/1/K).
#[test]
fn chain_and_simulation_agree_below_the_threshold() {
    for (tau, attempts, rate) in [
        ("3s", 5, 2.0),
        ("3s", 5, 3.0),
        ("9s", 4, 5.0),
        ("9s", 4, 7.0),
    ] {
        let s = summary(&scenario(&config(tau, attempts, rate, 99)), 10, 0);
        let th = &s["markov"]["orbit"]["queue"]["theory"];
        assert!(th["mass_at_bounds"].as_f64().unwrap() < 1e-6);
        let chain_q = th["mean_queue"].as_f64().unwrap();
        let chain_o = th["mean_orbit_retried"].as_f64().unwrap();
        let sim_q = get(&s, "queues.queue.queueing.L");
        let hw_q = get(&s, "ci95.queues.queue.queueing.L");
        let sim_o = get(&s, "queues.queue.mean_orbit");
        let hw_o = get(&s, "ci95.queues.queue.mean_orbit");
        assert!(
            (sim_q - chain_q).abs() <= 2.0 * hw_q + 1e-3 * chain_q,
            "{tau} at {rate}: queue simulated {sim_q} ± {hw_q}, chain {chain_q}"
        );
        assert!(
            (sim_o - chain_o).abs() <= 2.0 * hw_o + 1e-3,
            "{tau} at {rate}: orbit simulated {sim_o} ± {hw_o}, chain {chain_o}"
        );
        let tv = s["markov"]["orbit"]["queue"]["simulated"]["queue_total_variation"]
            .as_f64()
            .unwrap();
        assert!(
            tv < 0.02,
            "{tau} at {rate}: queue-length law total variation {tv}"
        );
    }
}

/// The chain's threshold and the simulation's (the load at which half of
/// 10 replications recover after a 10x spike for 60 s) are close: the
/// simulation mostly recovers at 85% of the chain's threshold and mostly
/// does not at 115% (measured: A 3.8 against the chain's 4.27, B 8.2
/// against 7.51; see the README's validation table).
#[test]
fn chain_threshold_predicts_the_simulation() {
    for (tau, attempts, tau_s) in [("3s", 5u32, 3.0), ("9s", 4, 9.0)] {
        let p = markov::OrbitParams {
            lambda: 1.0,
            mu: 10.0,
            threads: 1,
            timeout_s: tau_s,
            max_retries: attempts - 1,
            queue_bound: 100,
            orbit_bound: 64,
            queue_is_capacity: true,
            modelling: markov::Modelling::mqsim(),
        };
        let t = markov::threshold_lambda(&p, false, 400_000).expect("a threshold");
        for (factor, most) in [(0.85, true), (1.15, false)] {
            let text = format!(
                "{}\n[[fault]]\nkind = \"load-spike\"\nstart = \"10m\"\nduration = \"60s\"\nfactor = 10.0\n",
                config(tau, attempts, t * factor, 99).replace("duration = \"2h\"", "duration = \"40m\"")
            );
            let s = summary(&scenario(&text), 10, 0);
            let f = get(&s, "recovery.fraction_recovered");
            assert_eq!(
                f >= 0.5,
                most,
                "tau {tau}: threshold {t}, at {factor} x: {f}"
            );
        }
    }
}

/// Recovery over replications: counts and quantiles, and `check`'s
/// `recovers` with a fraction.
#[test]
fn recovery_over_replications_and_check_fractions() {
    let s = summary(
        &scenario_file(
            "scenarios/retry-storm-map.toml",
            &["producer.arrival.rate=3.0"],
        ),
        10,
        0,
    );
    let r = &s["recovery"];
    assert_eq!(r["replications"], 10);
    let k = r["replications_recovered"].as_u64().unwrap();
    assert!(k >= 9, "{r}");
    assert!(r["p50"].as_f64().unwrap() <= r["p90"].as_f64().unwrap());
    assert!(r["p90"].as_f64().unwrap() <= r["max"].as_f64().unwrap());
    assert!(s.get("ci95").and_then(|c| c.get("recovery")).is_none());
    let dir = TempDir::new("meta-check");
    let f = dir.0.join("s.toml");
    let text = std::fs::read_to_string("scenarios/retry-storm-map.toml").unwrap();
    std::fs::write(
        &f,
        text.replace(
            "expect = { recovers = true, recovers_in = 0.9 }",
            "expect = { recovers = false, recovers_in = 0.5 }",
        ),
    )
    .unwrap();
    let (code, out, _) = mqsim(&["check", f.to_str().unwrap(), "--no-files", "-q"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL") && out.contains("recovers"), "{out}");
}

/// `compare` gives no recovery time (null, text "—") to a variant that
/// never recovered, rather than 0.
#[test]
fn compare_shows_no_time_for_a_variant_that_never_recovered() {
    let (code, out, err) = mqsim(&[
        "compare",
        "scenarios/retry-storm-map.toml",
        "-r",
        "2",
        "--format",
        "json",
        "--no-files",
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let m = &doc["comparison"]["metrics"];
    assert_eq!(
        m["recovery (s)"]["heavy"]["mean"],
        Value::Null,
        "{}",
        m["recovery (s)"]
    );
    assert!(m["recovery (s)"]["light"]["mean"].as_f64().unwrap() > 0.0);
    assert_eq!(m["recovered (fraction)"]["heavy"]["mean"], 0.0);
    let (_, text, _) = mqsim(&[
        "compare",
        "scenarios/retry-storm-map.toml",
        "-r",
        "2",
        "--no-files",
        "-q",
    ]);
    let line = text
        .lines()
        .skip_while(|l| !l.starts_with("recovery (s)"))
        .find(|l| l.contains("heavy"))
        .unwrap();
    assert!(line.contains('—') && !line.contains("0.0000 ±"), "{line}");
}

/// A scenario without faults has no recovery verdict (null, not true).
#[test]
fn no_fault_no_recovery_verdict() {
    let s = summary(&scenario_file("scenarios/mm1.toml", &[]), 2, 0);
    assert_eq!(s["recovery"]["recovered"], Value::Null);
    assert_eq!(s["recovery"]["p50"], Value::Null);
    assert_eq!(s["recovery"]["verdict"], "no fault");
}

/// `sweep` over two parameters runs the full grid on common random
/// numbers: one CSV row per cell, the chosen metrics, a heat map, the same
/// bytes on one thread or two.
#[test]
fn sweep_runs_the_full_grid() {
    let dir = TempDir::new("meta-grid");
    let out1 = dir.0.join("one");
    let out2 = dir.0.join("two");
    let args = |out: &std::path::Path, jobs: &str| {
        vec![
            "sweep".to_string(),
            "scenarios/retry-storm-map.toml".into(),
            "--only".into(),
            "light".into(),
            "--param".into(),
            "producer.arrival.rate".into(),
            "--values".into(),
            "2,4.5".into(),
            "--param".into(),
            "fault.duration".into(),
            "--range".into(),
            "30s:90s:2".into(),
            "--metric".into(),
            "recovery.fraction_recovered".into(),
            "--metric".into(),
            "messages.goodput".into(),
            "-r".into(),
            "3".into(),
            "-j".into(),
            jobs.into(),
            "--charts".into(),
            "-q".into(),
            "--out".into(),
            out.display().to_string(),
        ]
    };
    let a1: Vec<String> = args(&out1, "1");
    let a2: Vec<String> = args(&out2, "2");
    let (c1, t1, e1) = mqsim(&a1.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(c1, 0, "{e1}");
    let (c2, t2, _) = mqsim(&a2.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(c2, 0);
    assert_eq!(t1, t2);
    let csv1 = std::fs::read_to_string(out1.join("sweep.csv")).unwrap();
    assert_eq!(
        csv1,
        std::fs::read_to_string(out2.join("sweep.csv")).unwrap()
    );
    let lines: Vec<&str> = csv1.lines().collect();
    assert_eq!(lines.len(), 5, "{csv1}");
    assert!(lines[0]
        .starts_with("producer.arrival.rate,fault.duration,variant,recovery.fraction_recovered,"));
    assert!(lines[1].starts_with("2,30s,light,1,"), "{csv1}");
    assert!(lines[4].starts_with("4.5,90s,light,0,"), "{csv1}");
    assert!(out1
        .join("sweep-recovery_fraction_recovered-map.png")
        .exists());
    assert!(out1.join("sweep-messages_goodput.svg").exists());
}
