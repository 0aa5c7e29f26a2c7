//! Autoscaling consumers (issue 23 §2): the documented formula on a step
//! load, the bounds, the cooldown, conservation and determinism.

mod common;
use common::*;
use serde_json::{Map, Value};

/// (kind, start, target) of every scaling event in the fault timeline.
fn scaling(s: &Map<String, Value>) -> Vec<(String, f64, String)> {
    s["faults"]
        .as_array()
        .expect("a timeline")
        .iter()
        .filter(|f| f["kind"].as_str().is_some_and(|k| k.starts_with("scale-")))
        .map(|f| {
            (
                f["kind"].as_str().unwrap_or("").to_string(),
                f["start"].as_f64().unwrap_or(f64::NAN),
                f["target"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// A step load: the consumers are cut off for the first minute (the
/// backlog is exactly the arrivals, 10 a second), then take everything
/// at once (1 ms each). Polls every 10.05 s (no tie with an arrival).
fn step_load(extra: &str) -> String {
    format!(
        r#"
[simulation]
seed = 5
duration = "200s"
warmup = "0s"
drain = "1m"
[[producer]]
arrival = {{ process = "constant", rate = 10.0 }}
[[queue]]
[[consumer]]
name = "worker"
count = 1
service = {{ dist = "constant", mean = "1ms" }}
autoscale = {{ min = 1, max = 6, metric = "backlog", target = 25, poll = "10050ms", cooldown = "30s", step = 2{extra} }}
[[fault]]
kind = "partition"
between = ["consumer:worker", "broker"]
start = "0s"
duration = "60s"
"#
    )
}

/// Hand-computed: the backlog at poll k (t = 10.05 k s) is about 100.5 k
/// until the partition ends at 60 s, then about 0. desired = ceil(backlog
/// / 25) within 1..6, at most 2 more or fewer per poll:
/// 10.05 s: ceil(100/25) = 4, 1 -> 3; 20.1 s: 9 -> 6, 3 -> 5;
/// 30.15 s: 5 -> 6; then 6 until the backlog is gone. Scale-in wants 1,
/// but only 30 s after the last change: 60.3 s (>= 60.15) 6 -> 4;
/// 90.45 s (>= 90.3) 4 -> 2; 120.6 s (>= 120.45) 2 -> 1.
#[test]
fn autoscaling_follows_the_documented_formula_on_a_step_load() {
    let s = summary(&scenario(&step_load("")), 1, 1);
    let want = [
        ("scale-out", 10.05, 1, 3),
        ("scale-out", 20.1, 3, 5),
        ("scale-out", 30.15, 5, 6),
        ("scale-in", 60.3, 6, 4),
        ("scale-in", 90.45, 4, 2),
        ("scale-in", 120.6, 2, 1),
    ];
    let got = scaling(&s);
    assert_eq!(got.len(), want.len(), "{got:?}");
    for ((kind, at, from, to), (gk, gat, gt)) in want.iter().zip(&got) {
        assert_eq!(kind, gk, "{got:?}");
        assert!((at - gat).abs() < 1e-9, "{at} != {gat}: {got:?}");
        assert_eq!(
            gt,
            &format!("consumer:worker ({from} -> {to} instances)"),
            "{got:?}"
        );
    }
    // The time-weighted count over the 200 s window.
    let seconds = 10.05
        + 3.0 * 10.05
        + 5.0 * 10.05
        + 6.0 * (60.3 - 30.15)
        + 4.0 * (90.45 - 60.3)
        + 2.0 * (120.6 - 90.45)
        + (200.0 - 120.6);
    let got_s = get(&s, "consumers.worker.instance_seconds");
    assert!((got_s - seconds).abs() < 1e-6, "{got_s} != {seconds}");
    let mean = get(&s, "consumers.worker.instances.mean");
    assert!((mean - seconds / 200.0).abs() < 1e-9, "{mean}");
    assert_eq!(get(&s, "consumers.worker.instances.max"), 6.0);
    assert_conserved(&s);
    assert_eq!(get(&s, "messages.lost"), 0.0);
}

/// The time series carries the count: `timeseries.csv`'s `instances`
/// column, sampled every 5 s, follows the hand-computed schedule above,
/// and the run draws the `instances-<variant>` chart.
#[test]
fn the_time_series_follows_the_instance_count() {
    let dir = TempDir::new("autoscale-series");
    let file = dir.0.join("step.toml");
    std::fs::write(&file, step_load("")).expect("writes");
    let out = dir.0.join("out");
    let (code, _, err) = mqsim(&[
        "run",
        file.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--set",
        "simulation.sample_interval=5s",
        "--charts",
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let csv = std::fs::read_to_string(out.join("timeseries.csv")).expect("timeseries.csv");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (time, instances) = (column("time_s"), column("instances"));
    let schedule = [
        (10.05, 1),
        (20.1, 3),
        (30.15, 5),
        (60.3, 6),
        (90.45, 4),
        (120.6, 2),
    ];
    let mut rows = 0;
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let t: f64 = cells[time].parse().expect("a time");
        let n: u32 = cells[instances].parse().expect("a count");
        let want = schedule
            .iter()
            .find(|(until, _)| t < *until)
            .map_or(1, |s| s.1);
        assert_eq!(n, want, "at {t} s: {line}");
        rows += 1;
    }
    // Every 5 s from 5 s to 195 s.
    assert_eq!(rows, 39, "{csv}");
    assert!(out.join("instances-base.svg").exists());
}

/// A start-up delays serving, not the count: the same schedule, and the
/// scale-out events last `startup`.
#[test]
fn startup_delays_serving_not_the_schedule() {
    let s = summary(&scenario(&step_load(", startup = \"5s\"")), 1, 1);
    let outs: Vec<(f64, f64)> = s["faults"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "scale-out")
        .map(|f| (f["start"].as_f64().unwrap(), f["end"].as_f64().unwrap()))
        .collect();
    assert_eq!(outs.len(), 3, "{outs:?}");
    for (start, end) in outs {
        assert!((end - start - 5.0).abs() < 1e-9, "{start} {end}");
    }
}

/// A random load with outages: the count stays within min..max, every
/// scale-in comes at least `cooldown` after the change before it, and no
/// change is larger than `step`; nothing is lost under manual ack with
/// graceful scale-in, and messages are conserved either way.
#[test]
fn bounds_cooldown_step_and_conservation() {
    for drain in [true, false] {
        let text = format!(
            r#"
[simulation]
seed = 11
duration = "2h"
drain = "10m"
[[producer]]
arrival = {{ process = "poisson", rate = 30.0 }}
[[queue]]
ack_timeout = "1m"
[[consumer]]
name = "worker"
count = 3
prefetch = 5
service = {{ dist = "exponential", mean = "200ms" }}
autoscale = {{ min = 2, max = 9, metric = "lag", target = 20, poll = "15s", cooldown = "2m", startup = "20s", step = 3, drain = {drain} }}
[[fault]]
kind = "dependency-outage"
target = "consumer:worker"
start = "30m"
duration = "10m"
slowdown = 8
[[fault]]
kind = "consumer-crash"
target = "consumer:worker"
instance = 7
mtbf = "10m"
mttr = {{ dist = "constant", mean = "1m" }}
"#
        );
        let s = summary(&scenario(&text), 2, 1);
        assert_conserved(&s);
        let events = scaling(&s);
        assert!(events.len() >= 2, "drain {drain}: {events:?}");
        let mut last = 0.0;
        let mut count = 3;
        for (kind, at, target) in &events {
            let nums: Vec<u32> = target
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|x| x.parse().ok())
                .collect();
            let (from, to) = (nums[0], nums[1]);
            assert_eq!(from, count, "{events:?}");
            assert!((2..=9).contains(&to), "{events:?}");
            assert!(from.abs_diff(to) <= 3 && from != to, "{events:?}");
            if kind == "scale-in" {
                assert!(to < from && at - last >= 120.0 - 1e-9, "{events:?}");
            } else {
                assert!(to > from, "{events:?}");
            }
            last = *at;
            count = to;
        }
        assert!(get(&s, "consumers.worker.instances.max") <= 9.0);
        assert!(get(&s, "consumers.worker.instances.mean") >= 2.0);
        if drain {
            assert_eq!(get(&s, "messages.lost"), 0.0);
        }
    }
}

/// The same seed gives byte-identical JSON.
#[test]
fn same_seed_same_bytes() {
    let run = || {
        mqsim(&[
            "run",
            "scenarios/autoscaling.toml",
            "--format",
            "json",
            "--no-files",
            "-q",
            "-r",
            "2",
            "--set",
            "consumer.autoscale={ max = 12, metric = \"backlog\", target = 50, drain = false }",
        ])
    };
    let (code, a, err) = run();
    assert_eq!(code, 0, "{err}");
    assert!(a.contains("\"instance_seconds\""));
    assert_eq!(a, run().1);
}

/// A starting count outside min..max, and other bad keys, are located
/// errors (exit 2).
#[test]
fn bad_autoscale_keys_are_located_errors() {
    let dir = TempDir::new("autoscale-bad");
    for (set, key) in [
        (
            "consumer.autoscale={ min = 6, max = 9, metric = \"backlog\", target = 1 }",
            "count",
        ),
        (
            "consumer.autoscale={ max = 9, metric = \"queue\", target = 1 }",
            "metric",
        ),
        (
            "consumer.autoscale={ max = 9, metric = \"utilisation\", target = 120 }",
            "target",
        ),
        (
            "consumer.autoscale={ max = 9, metric = \"lag\", target = 1, step = 0 }",
            "step",
        ),
        (
            "consumer.autoscale={ min = 4, max = 3, metric = \"lag\", target = 1 }",
            "max",
        ),
    ] {
        let base: String = step_load("")
            .lines()
            .filter(|l| !l.starts_with("autoscale"))
            .map(|l| format!("{l}\n"))
            .collect();
        let file = dir.write("s.toml", &base);
        let (code, _, err) = mqsim(&[
            "run",
            file.to_str().unwrap(),
            "-q",
            "--no-files",
            "--set",
            set,
        ]);
        assert_eq!(code, 2, "{set}: {err}");
        assert!(err.contains(key), "{set}: {err}");
    }
}

/// The instance count has its own chart, `instances-<variant>`, whenever
/// a group is autoscaled: with the series named after the queue, when the
/// autoscaler changes the count and when it keeps it (a flat line is an
/// answer too); a fixed fleet gets no such chart.
#[test]
fn the_instance_chart_is_drawn_when_autoscaled_and_only_then() {
    let dir = TempDir::new("autoscale-chart");
    let no_outage = |text: String| -> String {
        text.split("[[fault]]")
            .next()
            .expect("the part before the fault")
            .to_string()
    };
    let fixed: String = no_outage(step_load(""))
        .lines()
        .filter(|l| !l.starts_with("autoscale"))
        .map(|l| format!("{l}\n"))
        .collect();
    for (name, text, drawn) in [
        ("scaling", step_load(""), true),
        ("flat", no_outage(step_load("")), true),
        ("fixed", fixed, false),
    ] {
        let file = dir.write(&format!("{name}.toml"), &text);
        let out = dir.0.join(format!("out-{name}"));
        let (code, _, err) = mqsim(&[
            "run",
            file.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
            "--charts",
            "-q",
        ]);
        assert_eq!(code, 0, "{name}: {err}");
        let chart = out.join("instances-base.svg");
        assert_eq!(chart.exists(), drawn, "{name}: instances-base.svg");
        if drawn {
            let svg = std::fs::read_to_string(&chart).expect("svg");
            assert!(svg.contains("consumer instances"), "{name}: no series");
        }
        // The queue chart keeps to messages.
        let queue = std::fs::read_to_string(out.join("timeseries-base.svg")).expect("svg");
        assert!(!queue.contains("consumer instances"), "{name}");
    }
}
