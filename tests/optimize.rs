//! `mqsim optimize`: it finds optima known in closed form, recovers a known
//! Pareto front, is deterministic for any thread count, and refuses what
//! it cannot do.

mod common;
use common::*;
use serde_json::Value;

/// Exponential service of mean 1 s, one consumer, prefetch 1, light load:
/// a delivery times out when its processing outlasts `ack_timeout` t, and
/// so may each redelivery, so a message is processed 1 / (1 - e^-t) times
/// on average and the duplicate rate is e^-t / (1 - e^-t).
const SCENARIO: &str = r#"
[simulation]
name = "ack-timeout"
duration = "6h"
seed = 3
[[producer]]
arrival = { process = "poisson", rate = 0.5 }
[[queue]]
name = "q"
ack_timeout = "30s"
[[consumer]]
prefetch = 1
service = { dist = "exponential", mean = "1s" }
"#;

fn duplicate_rate(t: f64) -> f64 {
    (-t).exp() / (1.0 - (-t).exp())
}

fn optimize(dir: &TempDir, extra: &[&str]) -> Value {
    let file = dir.write("s.toml", SCENARIO);
    let mut args = vec![
        "optimize",
        file.to_str().unwrap(),
        "--format",
        "json",
        "--no-files",
        "-q",
    ];
    args.extend(extra);
    let (code, out, err) = mqsim(&args);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).expect("JSON")
}

fn seconds(v: &Value) -> f64 {
    v.as_str().unwrap().trim_end_matches('s').parse().unwrap()
}

#[test]
fn the_smallest_ack_timeout_under_a_duplicate_rate_is_found() {
    let dir = TempDir::new("optimize-one");
    let o = optimize(
        &dir,
        &[
            "--param",
            "queue.ack_timeout=2s:12s",
            "--minimize",
            "queue.ack_timeout",
            "--subject-to",
            "messages.duplicate_rate <= 0.001",
        ],
    );
    // e^-t / (1 - e^-t) = 0.001 at t = ln 1001 = 6.909 s. The chosen value
    // must meet the bound at 95% confidence, so it lies a little above;
    // the grid's last stage is about 0.1 s wide.
    let truth = 1001f64.ln();
    assert!((duplicate_rate(truth) - 0.001).abs() < 1e-9);
    let best = &o["best"];
    assert_eq!(best["confirmed"], true, "{best}");
    let t = seconds(&best["settings"]["queue.ack_timeout"]);
    assert!(
        (truth - 0.1..truth + 0.5).contains(&t),
        "chose {t} s, truth {truth:.3} s"
    );
    let rate = best["metrics"]["messages"]["duplicate_rate"]
        .as_f64()
        .unwrap();
    let half = best["metrics"]["ci95"]["messages"]["duplicate_rate"]
        .as_f64()
        .unwrap();
    assert!(rate + half <= 0.0011, "{rate} ± {half}");
    assert!(o["runs"].as_u64().unwrap() <= o["budget"].as_u64().unwrap());
    // Every candidate below the truth by more than sampling allows was
    // found infeasible or never confirmed.
    for c in o["candidates"].as_array().unwrap() {
        let t = seconds(&c["settings"]["queue.ack_timeout"]);
        if t < truth - 0.5 {
            assert_ne!(c["status"], "feasible", "{c}");
        }
    }
}

#[test]
fn two_objectives_recover_the_known_front() {
    let dir = TempDir::new("optimize-front");
    let o = optimize(
        &dir,
        &[
            "--param",
            "queue.ack_timeout=2s:9s",
            "--minimize",
            "queue.ack_timeout",
            "--minimize",
            "messages.duplicate_rate",
            "--budget",
            "160",
        ],
    );
    let front = o["front"].as_array().unwrap();
    assert!(front.len() >= 4, "{front:?}");
    let mut last = f64::INFINITY;
    for c in front {
        let t = seconds(&c["settings"]["queue.ack_timeout"]);
        let rate = c["objectives"]["messages.duplicate_rate"].as_f64().unwrap();
        let n = c["replications"].as_f64().unwrap();
        // About 10,800 messages per replication: the rate's standard error
        // is sqrt(rate / messages); 5 of them, and 2% for the light
        // queueing the model ignores.
        let want = duplicate_rate(t);
        let tolerance = 5.0 * (want / (10_800.0 * n)).sqrt() + 0.02 * want;
        assert!(
            (rate - want).abs() <= tolerance,
            "t {t}: {rate} vs {want:.5} ± {tolerance:.5}"
        );
        assert!(rate < last, "the front trades one for the other: {front:?}");
        last = rate;
    }
}

/// Two objectives with the budget the first stage leaves: later stages lay
/// new candidates in the gaps of the front (midpoints in the key between
/// neighbouring members), so the front gains members between the first
/// stage's points and its largest gap in the key narrows, within the
/// budget and for any thread count.
#[test]
fn two_objectives_fill_the_gaps_of_the_front_with_the_budget_left() {
    let dir = TempDir::new("optimize-front-gaps");
    let args = |j: &'static str| {
        vec![
            "--param",
            "queue.ack_timeout=2s:9s",
            "--minimize",
            "queue.ack_timeout",
            "--minimize",
            "messages.duplicate_rate",
            "--budget",
            "160",
            "-j",
            j,
        ]
    };
    let o = optimize(&dir, &args("1"));
    assert_eq!(o, optimize(&dir, &args("2")), "-j1 and -j2 differ");
    assert!(o["runs"].as_u64().unwrap() <= 160, "{}", o["runs"]);
    let timeouts = |cs: &[&Value]| {
        let mut t: Vec<f64> = cs
            .iter()
            .map(|c| seconds(&c["settings"]["queue.ack_timeout"]))
            .collect();
        t.sort_by(f64::total_cmp);
        t
    };
    let largest_gap = |t: &[f64]| t.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    let candidates = o["candidates"].as_array().unwrap();
    let first: Vec<&Value> = candidates.iter().filter(|c| c["stage"] == 0).collect();
    let first_step = largest_gap(&timeouts(&first));
    let front: Vec<&Value> = o["front"].as_array().unwrap().iter().collect();
    let front_gap = largest_gap(&timeouts(&front));
    assert!(
        front.len() > first.len(),
        "the front has {} members, the first stage laid out {}: {:?}",
        front.len(),
        first.len(),
        timeouts(&front)
    );
    assert!(
        front.iter().any(|c| c["stage"].as_u64().unwrap() > 0),
        "no later stage added to the front"
    );
    assert!(
        front_gap < first_step,
        "the front's largest gap {front_gap} s is not below the first stage's step {first_step} s: {:?}",
        timeouts(&front)
    );
}

/// Two objectives race on the front: a candidate confidently dominated by
/// another (here a prefetch of 4 at a timeout a prefetch of 1 also has:
/// the same timeout, and the messages waiting in the prefetch buffer time
/// out too, so more duplicates) is dropped and gets fewer replications
/// than the settings on the front, which go on doubling theirs.
#[test]
fn two_objectives_spend_fewer_replications_on_dominated_candidates() {
    let dir = TempDir::new("optimize-front-race");
    let o = optimize(
        &dir,
        &[
            "--param",
            "queue.ack_timeout=2s:9s",
            "--param",
            "consumer.prefetch=1,4",
            "--minimize",
            "queue.ack_timeout",
            "--minimize",
            "messages.duplicate_rate",
            "--budget",
            "160",
        ],
    );
    let replications = |c: &Value| c["replications"].as_u64().unwrap();
    let front = o["front"].as_array().unwrap();
    assert!(!front.is_empty(), "{o}");
    let least_on_front = front.iter().map(replications).min().unwrap();
    let candidates = o["candidates"].as_array().unwrap();
    let dominated: Vec<&Value> = candidates
        .iter()
        .filter(|c| c["status"] == "dominated")
        .collect();
    assert!(!dominated.is_empty(), "no candidate was dropped: {o}");
    for c in &dominated {
        assert!(
            replications(c) <= least_on_front,
            "a dominated candidate ran more than a front member: {c}"
        );
    }
    assert!(
        dominated.iter().any(|c| replications(c) < least_on_front),
        "replications spent uniformly: {least_on_front} on the front, {:?} on the dominated",
        dominated
            .iter()
            .map(|c| replications(c))
            .collect::<Vec<_>>()
    );
    assert!(o["runs"].as_u64().unwrap() <= 160);
}

#[test]
fn the_result_does_not_depend_on_the_thread_count() {
    let dir = TempDir::new("optimize-threads");
    let args = |j: &'static str| {
        vec![
            "--param",
            "queue.ack_timeout=2s:12s",
            "--minimize",
            "queue.ack_timeout",
            "--subject-to",
            "messages.duplicate_rate <= 0.01",
            "--budget",
            "80",
            "-j",
            j,
        ]
    };
    assert_eq!(optimize(&dir, &args("1")), optimize(&dir, &args("2")));
}

#[test]
fn what_it_cannot_do_is_refused() {
    let dir = TempDir::new("optimize-refused");
    let file = dir.write("s.toml", SCENARIO);
    let file = file.to_str().unwrap();
    let base = [
        "optimize",
        file,
        "--no-files",
        "-q",
        "--minimize",
        "latency.p99",
    ];
    for (extra, says) in [
        (vec!["--param", "queue.ack_timeout"], "no `=`"),
        (
            vec!["--param", "queue.ack_timeout=9s:2s"],
            "below the high end",
        ),
        (
            vec!["--param", "consumer.count=1..4", "-r", "5"],
            "--budget",
        ),
        (
            vec![
                "--param",
                "consumer.count=1..4",
                "--subject-to",
                "latency.p99 < 2",
            ],
            "no <=, >= or ==",
        ),
        (
            vec![
                "--param",
                "consumer.count=1..4",
                "--subject-to",
                "latency.p98 <= 2",
            ],
            "neither a --param key",
        ),
        (
            vec![
                "--param",
                "consumer.count=1..4",
                "--maximize",
                "messages.acked",
                "--maximize",
                "x.y",
            ],
            "one objective",
        ),
    ] {
        let mut args = base.to_vec();
        args.extend(extra.iter());
        let (code, _, err) = mqsim(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn files_hold_the_candidates_and_the_summary() {
    let dir = TempDir::new("optimize-files");
    let file = dir.write("s.toml", SCENARIO);
    let out = dir.path("out");
    let (code, text, err) = mqsim(&[
        "optimize",
        file.to_str().unwrap(),
        "--param",
        "consumer.prefetch=1..3",
        "--minimize",
        "latency.mean",
        "--budget",
        "60",
        "-q",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("[[variant]]") && text.contains("consumer.prefetch"),
        "{text}"
    );
    let csv = std::fs::read_to_string(out.join("optimize.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert_eq!(
        header,
        "consumer.prefetch,stage,replications,status,latency.mean,on_front"
    );
    assert_eq!(csv.lines().count(), 4, "{csv}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    // A whole-number key's value is a JSON number.
    assert!(summary["best"]["settings"]["consumer.prefetch"].is_i64());
}

/// The scenario with a comment, a named consumer and a retry table, to see
/// that `--write` keeps what it does not change.
const COMMENTED: &str = r#"# A queue whose timeout is to be chosen.
[simulation]
name = "ack-timeout"
duration = "1h"
seed = 3
[[producer]]
arrival = { process = "poisson", rate = 0.5 }
[[queue]]
name = "q"
ack_timeout = "30s" # too long, surely
[[consumer]]
name = "worker"
prefetch = 1 # one at a time
service = { dist = "exponential", mean = "1s" }
"#;

fn write_args<'a>(file: &'a str, write: &'a str) -> Vec<&'a str> {
    vec![
        "optimize",
        file,
        "--param",
        "queue.ack_timeout=2s:12s",
        "--param",
        "consumer.worker.prefetch=1..2",
        "--minimize",
        "queue.ack_timeout",
        "--subject-to",
        "messages.duplicate_rate <= 0.01",
        "--budget",
        "60",
        "--no-files",
        "-q",
        "--format",
        "json",
        "--write",
        write,
    ]
}

#[test]
fn write_puts_the_chosen_values_into_a_copy_of_the_scenario_keeping_its_comments() {
    let dir = TempDir::new("optimize-write");
    let file = dir.write("s.toml", COMMENTED);
    let tuned = dir.path("tuned.toml");
    let (code, out, err) = mqsim(&write_args(file.to_str().unwrap(), tuned.to_str().unwrap()));
    assert_eq!(code, 0, "{err}");
    let o: Value = serde_json::from_str(&out).unwrap();
    let chosen = &o["best"]["settings"];
    let text = std::fs::read_to_string(&tuned).unwrap();
    // Comments and untouched lines are kept; the input is unchanged.
    assert!(
        text.starts_with("# A queue whose timeout is to be chosen."),
        "{text}"
    );
    assert!(
        text.contains("service = { dist = \"exponential\", mean = \"1s\" }"),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), COMMENTED);
    // The written file loads to the chosen values.
    let s = mqsim::scenario::load_file(&tuned, &Default::default()).unwrap();
    let timeout = seconds(&chosen["queue.ack_timeout"]);
    let written = s.queues[0].ack_timeout.unwrap().secs();
    assert!((written - timeout).abs() < 1e-9, "{written} vs {timeout}");
    // A whole-number key's value is a JSON number.
    let prefetch = chosen["consumer.worker.prefetch"].as_u64().unwrap();
    assert_eq!(s.consumers[0].prefetch, Some(prefetch as u32));
    assert!(text.contains("# chosen by mqsim optimize"), "{text}");
}

#[test]
fn write_refuses_another_existing_file_and_two_objectives_but_takes_the_input_itself() {
    let dir = TempDir::new("optimize-write-refused");
    let file = dir.write("s.toml", COMMENTED);
    let other = dir.write("other.toml", "# mine\n");
    let f = file.to_str().unwrap();
    let (code, _, err) = mqsim(&write_args(f, other.to_str().unwrap()));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("exists already"), "{err}");
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "# mine\n");
    let mut two = write_args(f, other.to_str().unwrap());
    two.extend(["--minimize", "latency.p99"]);
    let (code, _, err) = mqsim(&two);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("two objectives"), "{err}");
    // The scenario itself, named explicitly, is rewritten in place.
    let (code, _, err) = mqsim(&write_args(f, f));
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert_ne!(text, COMMENTED);
    assert!(text.contains("# one at a time") || text.contains("# chosen by mqsim optimize"));
    assert!(
        text.starts_with("# A queue whose timeout is to be chosen."),
        "{text}"
    );
}

#[test]
fn two_objectives_write_the_front_as_csv_and_as_a_chart() {
    let dir = TempDir::new("optimize-front-files");
    let file = dir.write("s.toml", SCENARIO);
    let out = dir.path("out");
    let (code, _, err) = mqsim(&[
        "optimize",
        file.to_str().unwrap(),
        "--param",
        "queue.ack_timeout=2s:9s",
        "--minimize",
        "queue.ack_timeout",
        "--minimize",
        "messages.duplicate_rate",
        "--budget",
        "40",
        "--set",
        "simulation.duration=1h",
        "-q",
        "--charts",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let front = summary["front"].as_array().unwrap();
    assert!(!front.is_empty());
    let csv = std::fs::read_to_string(out.join("front.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "queue.ack_timeout,minimize:queue.ack_timeout,minimize:messages.duplicate_rate,replications"
    );
    assert_eq!(lines.count(), front.len(), "{csv}");
    let svg = std::fs::read_to_string(out.join("front.svg")).unwrap();
    assert!(svg.contains("messages.duplicate_rate"), "the axis is named");
    let png = std::fs::read(out.join("front.png")).unwrap();
    assert_eq!(&png[..4], b"\x89PNG");
    // One objective draws no chart: --charts is refused there.
    let (code, _, err) = mqsim(&[
        "optimize",
        file.to_str().unwrap(),
        "--param",
        "queue.ack_timeout=2s:9s",
        "--minimize",
        "latency.p99",
        "--charts",
        "--out",
        dir.path("out-one").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("two objectives"), "{err}");
}

/// Poisson arrivals at 20/s, exponential services of mean 100 ms: with c
/// consumers the queue is M/M/c. c = 2 is unstable (rho = 1: the mean
/// latency grows with the run), c = 3 has a mean latency of 0.144 s
/// (Erlang C = 4/9, W = C / (c mu - lambda) = 0.044 s, plus the service),
/// so the fewest consumers with a mean latency under 0.5 s is 3. The first
/// stage's grid over 1..9 is 1, 5, 9: the search must go on to the
/// numbers between (it used to stop with the first stage's best when the
/// narrowed range rounded back to the whole one).
const COUNT_SCENARIO: &str = r#"
[simulation]
name = "count"
duration = "30m"
seed = 5
[[producer]]
arrival = { process = "poisson", rate = 20 }
[[queue]]
name = "q"
[[consumer]]
service = { dist = "exponential", mean = "100ms" }
"#;

#[test]
fn the_fewest_consumers_under_a_latency_bound_is_found_among_whole_numbers() {
    let dir = TempDir::new("optimize-count");
    let file = dir.write("count.toml", COUNT_SCENARIO);
    for range in ["1..9", "1..6"] {
        let param = format!("consumer.count={range}");
        let out_dir = dir.path(range);
        let (code, out, err) = mqsim(&[
            "optimize",
            file.to_str().unwrap(),
            "--param",
            &param,
            "--minimize",
            "consumer.count",
            "--subject-to",
            "latency.mean <= 0.5s",
            "--budget",
            "60",
            "--format",
            "json",
            "-q",
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        // The objective is a key: its column is not written twice.
        let csv = std::fs::read_to_string(out_dir.join("optimize.csv")).unwrap();
        assert_eq!(
            csv.lines().next().unwrap(),
            "consumer.count,stage,replications,status,latency.mean,on_front"
        );
        let o: Value = serde_json::from_str(&out).expect("JSON");
        let best = &o["best"];
        assert_eq!(best["settings"]["consumer.count"], 3, "{range}: {best}");
        assert_eq!(best["confirmed"], true, "{range}: {best}");
        assert!(o["runs"].as_u64().unwrap() <= 60);
    }
}

/// The snippet pins the result: its `expect` is judged at 95% confidence,
/// holds the constraint with an `[expect]` key and the objective at the
/// chosen setting's upper limit, names in a comment the constraint no key
/// holds, and passes `mqsim check` once pasted into the scenario.
#[test]
fn the_pasted_snippet_passes_check() {
    let dir = TempDir::new("optimize-snippet");
    let file = dir.write("s.toml", SCENARIO);
    let (code, out, err) = mqsim(&[
        "optimize",
        file.to_str().unwrap(),
        "--param",
        "consumer.prefetch=1..3",
        "--minimize",
        "latency.p99",
        "--subject-to",
        "messages.duplicate_rate <= 0.01",
        "--subject-to",
        "messages.attempts <= 2",
        "--budget",
        "40",
        "--no-files",
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let snippet = out
        .split("paste into the scenario:\n\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        snippet.contains(
            "expect = { confidence = 0.95, duplicate_rate_max = 0.01, p99_latency_max = \""
        ),
        "{snippet}"
    );
    assert!(
        snippet.contains("# not pinned: no [expect] key holds messages.attempts <= 2"),
        "{snippet}"
    );
    let pasted = dir.write("pasted.toml", &format!("{SCENARIO}\n{snippet}"));
    let (code, out, err) = mqsim(&[
        "check",
        pasted.to_str().unwrap(),
        "--until-decided",
        "--no-files",
        "-q",
    ]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        out.contains("PASS") && out.contains("p99_latency_max"),
        "{out}"
    );
}

/// `sweep --metric` refuses a path that is not in the summary, as
/// `optimize` does, before the grid runs: exit 2, the flag named, and the
/// nearest path suggested.
#[test]
fn sweep_refuses_an_unknown_metric_with_a_suggestion() {
    let dir = TempDir::new("sweep-metric");
    let file = dir.write("s.toml", SCENARIO);
    let sweep = |metric: &str| {
        mqsim(&[
            "sweep",
            file.to_str().unwrap(),
            "--param",
            "consumer.prefetch",
            "--values",
            "1,2",
            "--metric",
            metric,
            "-r",
            "2",
            "--format",
            "json",
            "--no-files",
            "-q",
        ])
    };
    let (code, out, err) = sweep("latency.maen");
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("--metric latency.maen") && err.contains("did you mean `latency.mean`?"),
        "{err}"
    );
    let (code, out, err) = sweep("latency.p99");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("latency.p99"), "{out}");
}

/// `sweep.csv` names its columns as the command line wrote them: each
/// `--param` key (the first one too) and each `--metric` path, with
/// `_ci95` for its 95% half-width, so that a CSV reader looks them up as
/// they were asked for.
#[test]
fn sweep_csv_columns_are_the_keys_and_metric_paths_as_written() {
    let dir = TempDir::new("sweep-csv-names");
    let file = dir.write("s.toml", SCENARIO);
    let out = dir.path("out");
    let (code, _, err) = mqsim(&[
        "sweep",
        file.to_str().unwrap(),
        "--param",
        "queue.ack_timeout",
        "--values",
        "2s,4s",
        "--param",
        "consumer.prefetch",
        "--values",
        "1,2",
        "--metric",
        "latency.p99",
        "--metric",
        "messages.duplicate_rate",
        "-r",
        "2",
        "--set",
        "simulation.duration=1h",
        "-q",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "queue.ack_timeout,consumer.prefetch,variant,latency.p99,latency.p99_ci95,messages.duplicate_rate,messages.duplicate_rate_ci95"
    );
    let first: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&first[..3], ["2s", "1", "base"]);
    assert_eq!(lines.count(), 3, "{csv}");
}
