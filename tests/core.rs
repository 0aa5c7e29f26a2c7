//! The core: theory, determinism, conservation, and errors for bad input.

mod common;
use common::*;
use std::process::Command;

/// M/M/1 with lambda 0.8, mu 1: W = 1/(mu - lambda) = 5 s. Ten
/// replications of 48 h (about 1.4 million messages); the tolerance is the
/// issue's 3%, and the theory must also sit inside 4 half-widths of the
/// simulated 95% interval (the sampling error, not a tuned constant).
#[test]
fn mm1_mean_time_in_system_matches_theory() {
    let s = scenario_file("scenarios/mm1.toml", &["simulation.duration=\"48h\""]);
    let out = summary(&s, 10, 0);
    let w = get(&out, "latency.mean");
    let hw = get(&out, "ci95.latency.mean");
    assert!((w - 5.0).abs() / 5.0 < 0.03, "mean time in system {w} vs 5");
    assert!(
        (w - 5.0).abs() < 4.0 * hw.max(1e-9),
        "theory 5 outside {w} ± 4 x {hw}"
    );
    // Little's law holds on the simulated numbers.
    assert!(get(&out, "queues.queue.queueing.littles_law_error") < 0.01);
    assert_conserved(&out);
}

#[test]
fn same_seed_same_json_other_seed_other_numbers() {
    let s = scenario_file(
        "scenarios/reference.toml",
        &["simulation.duration=\"10m\"", "simulation.warmup=\"1m\""],
    );
    let a = serde_json::to_string(&summary(&s, 2, 1)).unwrap();
    let b = serde_json::to_string(&summary(&s, 2, 2)).unwrap();
    assert_eq!(a, b, "two runs with one seed differ");
    let s2 = scenario_file(
        "scenarios/reference.toml",
        &[
            "simulation.duration=\"10m\"",
            "simulation.warmup=\"1m\"",
            "simulation.seed=43",
        ],
    );
    let c = summary(&s2, 2, 1);
    let a: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&a).unwrap();
    assert_ne!(get(&a, "latency.mean"), get(&c, "latency.mean"));
    assert_ne!(get(&a, "messages.published"), get(&c, "messages.published"));
}

#[test]
fn conservation_on_every_bundled_scenario() {
    let mut n = 0;
    for entry in std::fs::read_dir("scenarios").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        // Shortened: conservation is checked at the end of every run anyway.
        let s = scenario_file(
            path.to_str().unwrap(),
            &["simulation.duration=\"20m\"", "simulation.warmup=\"0s\""],
        );
        let out = summary(&s, 1, 1);
        assert_conserved(&out);
        n += 1;
    }
    assert!(n >= 3);
}

/// Adding a consumer changes neither the arrival times nor the fate of
/// message #n: with a retry-free, failure-free M/M/c the number of
/// published messages is identical.
#[test]
fn adding_a_consumer_keeps_the_arrivals() {
    let a = scenario_file("scenarios/mm1.toml", &["simulation.duration=\"2h\""]);
    let b = scenario_file(
        "scenarios/mm1.toml",
        &["simulation.duration=\"2h\"", "consumer.count=2"],
    );
    let (sa, sb) = (summary(&a, 1, 1), summary(&b, 1, 1));
    assert_eq!(
        get(&sa, "messages.published"),
        get(&sb, "messages.published")
    );
    assert!(get(&sb, "latency.mean") < get(&sa, "latency.mean"));
}

fn mqsim(args: &[&str], dir: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mqsim"))
        .args(args)
        .arg("--out")
        .arg(dir)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn tmpdir(name: &str) -> TempDir {
    TempDir::absent(name)
}

/// Each class of bad input: exit code 2, file:line:col, the key, what is
/// allowed, and nothing written.
#[test]
fn bad_input_is_rejected_with_place_and_reason() {
    let base = std::fs::read_to_string("scenarios/reference.toml").unwrap();
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        // unknown key, with the nearest valid name
        (
            "unknown-key",
            base.replace("max_deliveries = 5", "max_delivery = 5"),
            vec![
                "reference.toml:",
                ":19:1",
                "max_delivery",
                "did you mean `max_deliveries`",
            ],
        ),
        // negative rate
        (
            "negative-rate",
            base.replace("rate = 40.0", "rate = -4.0"),
            vec![":12:", "producer[0].arrival.rate", "above 0"],
        ),
        // probability outside [0, 1]
        (
            "probability",
            base.replace("failure = 0.02", "failure = 1.5"),
            vec![":29:", "consumer[0].failure", "from 0 to 1"],
        ),
        // zero consumers
        (
            "zero-consumers",
            base.replace("count = 4", "count = 0"),
            vec![":25:", "consumer[0].count", "at least 1"],
        ),
        // a queue nobody defines
        (
            "unknown-queue",
            base.replace("publish_to = \"payments\"", "publish_to = \"paymnets\""),
            vec![":30:", "publish_to", "did you mean `payments`"],
        ),
        // a unit that does not exist
        (
            "bad-duration",
            base.replace("\"30s\"", "\"30 parsecs\""),
            vec![":18:", "ack_timeout", "unknown unit"],
        ),
        // not TOML at all
        (
            "syntax",
            base.replace("[[queue]]\nname = \"orders\"", "[[queue\nname = \"orders\""),
            vec!["reference.toml:", "not valid TOML"],
        ),
    ];
    for (name, text, expect) in cases {
        let dir = tmpdir(name);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("reference.toml");
        std::fs::write(&file, &text).unwrap();
        let out_dir = dir.join("out");
        let (code, _, err) = mqsim(&["run", file.to_str().unwrap()], &out_dir);
        assert_eq!(code, 2, "{name}: exit code {code}, stderr {err}");
        for e in expect {
            assert!(err.contains(e), "{name}: stderr lacks `{e}`: {err}");
        }
        assert!(!out_dir.exists(), "{name}: something was written");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn bad_set_is_rejected_like_a_bad_file() {
    let dir = tmpdir("bad-set");
    let (code, _, err) = mqsim(
        &[
            "run",
            "scenarios/reference.toml",
            "--set",
            "consumer.order-service.failure=2",
        ],
        &dir,
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("--set consumer.order-service.failure=2") && err.contains("from 0 to 1"),
        "{err}"
    );
    let (code, _, err) = mqsim(
        &[
            "run",
            "scenarios/reference.toml",
            "--set",
            "queue.orders.max_deliveries=\"five\"",
        ],
        &dir,
    );
    assert_eq!(code, 2);
    assert!(err.contains("max_deliveries"), "{err}");
    let (code, _, err) = mqsim(
        &[
            "run",
            "scenarios/reference.toml",
            "--set",
            "simulation.sed=3",
        ],
        &dir,
    );
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `seed`"), "{err}");
    assert!(!dir.exists());
}

#[test]
fn run_writes_json_and_csv() {
    let dir = tmpdir("writes");
    let (code, stdout, err) = mqsim(
        &[
            "run",
            "scenarios/mm1.toml",
            "--format",
            "json",
            "--set",
            "simulation.duration=\"1h\"",
        ],
        &dir,
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for k in [
        "scenario",
        "seed",
        "replications",
        "messages",
        "latency",
        "queues",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    for k in [
        "published",
        "rejected",
        "delivered",
        "acked",
        "duplicates",
        "lost",
        "dead_lettered",
        "expired",
        "in_flight",
    ] {
        assert!(v["messages"].get(k).is_some(), "missing messages.{k}");
    }
    for k in ["mean", "p50", "p90", "p99", "p999", "max"] {
        assert!(v["latency"].get(k).is_some(), "missing latency.{k}");
    }
    assert!(v["queues"]["queue"]["mean_length"].is_number());
    assert!(v["queues"]["queue"]["utilisation"].is_number());
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(written, v);
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert!(csv.starts_with("variant,replication,seed,published,"));
    assert!(std::fs::read_to_string(dir.join("timeseries.csv"))
        .unwrap()
        .starts_with("variant,replication,time_s,queue,"));
    let _ = std::fs::remove_dir_all(&dir);
}
