//! compare, sweep, check, charts, shards.

mod common;
use common::*;

fn tmpdir(name: &str) -> TempDir {
    TempDir::new(name)
}

/// Common random numbers: the difference between two variants has a
/// narrower interval when replication r of both sees the same arrivals and
/// fates than when the variants use independent seeds.
#[test]
fn common_random_numbers_narrow_the_difference() {
    let reps = 10;
    let a = scenario_file(
        "scenarios/flaky-downstream.toml",
        &[
            "simulation.duration=\"15m\"",
            "consumer.retry_mode=\"requeue\"",
        ],
    );
    let b = scenario_file(
        "scenarios/flaky-downstream.toml",
        &["simulation.duration=\"15m\""],
    );
    let run = |s: &mqsim::scenario::Scenario, seed: u64| {
        let m = mqsim::model::compile(s).unwrap();
        let out = mqsim::experiment::run(&m, &plan(reps, 0, seed));
        out.reps
            .iter()
            .map(|r| r.metrics["latency"]["mean"].as_f64().unwrap())
            .collect::<Vec<f64>>()
    };
    let xa = run(&a, 1);
    let xb_common = run(&b, 1);
    let xb_indep = run(&b, 2);
    let crn = mqsim::stats::ci::paired_t_test(&xb_common, &xa).unwrap();
    let indep = mqsim::stats::ci::paired_t_test(&xb_indep, &xa).unwrap();
    assert!(
        crn.half_width * 2.0 < indep.half_width,
        "CRN half-width {} vs independent {}",
        crn.half_width,
        indep.half_width
    );
    assert!(
        crn.significant,
        "delayed retries have a higher mean latency, and CRN shows it"
    );
}

#[test]
fn compare_reports_every_variant_relative_to_the_best() {
    let dir = tmpdir("compare");
    let (code, out, err) = mqsim(&[
        "compare",
        "scenarios/flaky-downstream.toml",
        "-r",
        "3",
        "--set",
        "simulation.duration=\"10m\"",
        "--format",
        "json",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["variants"].as_object().unwrap().len(), 5);
    let lat = &v["comparison"]["metrics"]["latency mean (s)"];
    let best = lat
        .as_object()
        .unwrap()
        .values()
        .filter(|e| e["best"] == true)
        .count();
    assert!(best >= 1);
    assert!(lat["full-jitter"]["p_value"].is_number());
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 5 * 3,
        "one row per variant and replication"
    );
}

#[test]
fn check_exit_codes_and_junit() {
    let dir = tmpdir("check");
    let junit = dir.join("junit.xml");
    let md = dir.join("summary.md");
    let (code, out, err) = mqsim(&[
        "check",
        "scenarios/mm1k.toml",
        "--no-files",
        "--junit",
        junit.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("PASS"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_junit(&xml, 2, 0);
    // Now a failing expectation.
    let bad = dir.join("bad.toml");
    let text = std::fs::read_to_string("scenarios/mm1k.toml")
        .unwrap()
        .replace("mean_latency_max = \"5s\"", "mean_latency_max = \"1s\"");
    std::fs::write(&bad, text).unwrap();
    let (code, out, _) = mqsim(&[
        "check",
        bad.to_str().unwrap(),
        "--no-files",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("FAIL") && out.contains("mean_latency_max"));
    assert_junit(&std::fs::read_to_string(&junit).unwrap(), 2, 1);
    assert!(std::fs::read_to_string(&md).unwrap().contains("| ✅ |"));
}

/// A small well-formedness check: balanced elements, one <testcase> per
/// expectation, and the failure count.
fn assert_junit(xml: &str, cases: usize, failures: usize) {
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find('<') {
        let j = rest[i..].find('>').expect("unclosed tag") + i;
        let tag = &rest[i + 1..j];
        rest = &rest[j + 1..];
        if tag.starts_with('?') {
            continue;
        }
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_alphanumeric())
            .collect();
        if tag.starts_with('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.as_str()),
                "mismatched </{name}>"
            );
        } else if !tag.ends_with('/') {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed elements {stack:?}");
    assert_eq!(xml.matches("<testcase ").count(), cases);
    assert_eq!(xml.matches("<failure ").count(), failures);
    assert!(xml.contains(&format!("failures=\"{failures}\"")));
}

fn assert_png(path: &std::path::Path) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(b.len() > 1000, "{} is tiny", path.display());
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
}

fn assert_svg(path: &std::path::Path) {
    let s = std::fs::read_to_string(path).unwrap();
    assert!(s.trim_start().starts_with("<svg") || s.starts_with("<?xml"));
    assert!(s.trim_end().ends_with("</svg>"));
}

/// Every chart type is drawn, as a valid PNG and SVG: latency CDF, time
/// series with fault windows, outcome bars, orbit heat map, sweep curves.
#[test]
fn every_chart_type_renders() {
    let dir = tmpdir("charts");
    let (code, _, err) = mqsim(&[
        "compare",
        "scenarios/retry-storm.toml",
        "-r",
        "1",
        "--charts",
        "-q",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    for stem in [
        "latency-cdf",
        "outcomes",
        "timeseries-immediate",
        "orbit-immediate-requests",
    ] {
        assert_png(&dir.join(format!("{stem}.png")));
        assert_svg(&dir.join(format!("{stem}.svg")));
    }
    let sweep = tmpdir("sweep");
    let (code, _, err) = mqsim(&[
        "sweep",
        "scenarios/mm1.toml",
        "--param",
        "producer.arrival.rate",
        "--values",
        "0.3,0.6,0.8",
        "-r",
        "3",
        "--set",
        "simulation.duration=\"2h\"",
        "--charts",
        "-q",
        "--out",
        sweep.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_png(&sweep.join("sweep-latency_mean.png"));
    assert_svg(&sweep.join("sweep-latency_mean.svg"));
    let csv = std::fs::read_to_string(sweep.join("sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4);
    // The key and the metric paths as written, as pandas reads them.
    assert!(csv.starts_with("producer.arrival.rate,variant,latency.mean,latency.mean_ci95,"));
}

/// merge(shards 1..n) equals the unsharded result byte for byte.
#[test]
fn merged_shards_equal_one_machine() {
    let whole = tmpdir("whole");
    let parts = tmpdir("parts");
    let merged = tmpdir("merged");
    let common = ["-r", "3", "--set", "simulation.duration=\"10m\"", "-q"];
    let mut args = vec![
        "sweep",
        "scenarios/flaky-downstream.toml",
        "--param",
        "producer.arrival.rate",
        "--values",
        "30,50",
        "--out",
        whole.to_str().unwrap(),
    ];
    args.extend(common);
    let (code, _, err) = mqsim(&args);
    assert_eq!(code, 0, "{err}");
    for i in 1..=3 {
        let shard = format!("{i}/3");
        let mut a = vec![
            "sweep",
            "scenarios/flaky-downstream.toml",
            "--param",
            "producer.arrival.rate",
            "--values",
            "30,50",
            "--out",
            parts.to_str().unwrap(),
            "--shard",
            &shard,
        ];
        a.extend(common);
        let (code, _, err) = mqsim(&a);
        assert_eq!(code, 0, "{err}");
    }
    let (code, _, err) = mqsim(&[
        "merge",
        parts.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    for f in ["summary.json", "sweep.csv"] {
        assert_eq!(
            std::fs::read(whole.join(f)).unwrap(),
            std::fs::read(merged.join(f)).unwrap(),
            "{f} differs"
        );
    }
    // A missing shard is an error, not a silent partial result.
    std::fs::remove_file(parts.join("part-2-of-3.json")).unwrap();
    let (code, _, err) = mqsim(&[
        "merge",
        parts.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("missing jobs"));
}

/// A run stopped by --max-events writes valid JSON marked partial.
#[test]
fn stopped_runs_are_marked_partial() {
    let (code, out, err) = mqsim(&[
        "run",
        "scenarios/mm1.toml",
        "--max-events",
        "1000",
        "--format",
        "json",
        "--no-files",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["partial"], true);
    let (code, out, _) = mqsim(&[
        "run",
        "scenarios/mm1.toml",
        "--max-wall",
        "1ms",
        "--set",
        "simulation.duration=\"3000h\"",
        "--format",
        "json",
        "--no-files",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["partial"], true);
}

/// --trace answers "why was message N processed twice": its life shows the
/// ack timeout and then the duplicate processing; the Chrome trace is valid JSON.
#[test]
fn trace_shows_why_a_message_was_processed_twice() {
    let dir = tmpdir("trace");
    let t = dir.join("trace.jsonl");
    let (code, _, err) = mqsim(&[
        "run",
        "scenarios/visibility-timeout.toml",
        "--no-files",
        "-q",
        "--trace",
        t.to_str().unwrap(),
        "--trace-first",
        "300",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&t)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let dup = lines
        .iter()
        .find(|e| e["event"] == "processed again (duplicate)")
        .expect("a duplicate among 300 messages");
    let id = dup["message"].as_u64().unwrap();
    let life: Vec<&str> = lines
        .iter()
        .filter(|e| e["message"] == id)
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    let timeout = life
        .iter()
        .position(|e| *e == "ack timeout: visible again")
        .expect("the ack timeout is in its life");
    let again = life
        .iter()
        .position(|e| *e == "processed again (duplicate)")
        .unwrap();
    assert!(timeout < again, "{life:?}");
    let chrome: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("trace.jsonl.chrome.json")).unwrap(),
    )
    .unwrap();
    assert!(chrome["traceEvents"].as_array().unwrap().len() > lines.len());
}

/// `check` shows a time's interval as times, and no interval below zero
/// (every bounded metric is a count, rate, time or price).
#[test]
fn check_intervals_are_in_the_metric_unit_and_not_negative() {
    let (code, out, err) = mqsim(&[
        "check",
        "scenarios/quickstart.toml",
        "-r",
        "2",
        "--set",
        "simulation.duration=600s",
        "--no-files",
    ]);
    assert!(code == 0 || code == 1, "{out}{err}");
    let p99 = out
        .lines()
        .find(|l| l.contains("p99_latency_max"))
        .unwrap_or_else(|| panic!("no p99 line: {out}"));
    let interval = p99.split("interval: ").nth(1).expect("an interval");
    assert!(
        interval.contains(" ms to ") || interval.contains(" s to "),
        "times as times: {p99}"
    );
    for line in out.lines().filter(|l| l.contains("interval: ")) {
        let interval = line.split("interval: ").nth(1).unwrap();
        assert!(!interval.starts_with('-'), "below zero: {line}");
    }
}

/// The crash columns of `metrics.csv` come only with deliveries that came
/// back after a consumer crash: a topic consumer's crash (Kafka) has none.
#[test]
fn crash_columns_only_where_deliveries_came_back() {
    let dir = tmpdir("crash-columns");
    let header = |scenario: &str, out: &str| {
        let (code, o, e) = mqsim(&[
            "run",
            scenario,
            "--set",
            "simulation.duration=20m",
            "--out",
            out,
            "-q",
        ]);
        assert_eq!(code, 0, "{o}{e}");
        let csv = std::fs::read_to_string(std::path::Path::new(out).join("metrics.csv")).unwrap();
        csv.lines().next().unwrap().to_string()
    };
    let topic = dir.join("topic");
    let header_topic = header("scenarios/kafka-commit-modes.toml", topic.to_str().unwrap());
    assert!(!header_topic.contains("crash_redelivery"), "{header_topic}");
    let queue = dir.join("queue");
    let header_queue = header("scenarios/ack-modes-crash.toml", queue.to_str().unwrap());
    assert!(
        header_queue.contains("crash_redelivery_count"),
        "{header_queue}"
    );
}
