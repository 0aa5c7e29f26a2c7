//! Warnings from the results (`warnings[]` of a summary, each with a code)
//! and `mqsim lint` findings from the configuration alone: every one is
//! triggered by a scenario built for it and stays quiet on its neighbour
//! that differs in the one setting at fault.

mod common;
use common::*;
use mqsim::model::lint::lint;
use serde_json::{Map, Value};

fn codes(s: &Map<String, Value>) -> Vec<String> {
    s.get("warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|w| {
            assert!(w["message"].as_str().is_some_and(|m| !m.is_empty()), "{w}");
            w["code"].as_str().unwrap().to_string()
        })
        .collect()
}

fn warned(text: &str, reps: u32) -> Vec<String> {
    codes(&summary(&scenario(text), reps, 1))
}

fn figure(s: &Map<String, Value>, code: &str) -> f64 {
    s["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == code)
        .and_then(|w| w["figure"].as_f64())
        .unwrap_or_else(|| panic!("no {code} with a figure"))
}

/// One queue, `count` consumers of exponential service of mean `mean`,
/// Poisson arrivals at `rate`, and `extra` lines for the queue and the
/// consumer.
fn queue(rate: f64, duration: &str, queue_extra: &str, consumer_extra: &str) -> String {
    format!(
        r#"
[simulation]
duration = "{duration}"
seed = 5
[[producer]]
arrival = {{ process = "poisson", rate = {rate} }}
[[queue]]
name = "q"
{queue_extra}
[[consumer]]
service = {{ dist = "exponential", mean = "1s" }}
{consumer_extra}
"#
    )
}

#[test]
fn a_backlog_that_grows_to_the_end_is_pointed_out() {
    // rho = 1.3: the backlog grows by about 0.3 messages a second.
    let s = summary(&scenario(&queue(1.3, "1h", "", "")), 2, 1);
    assert!(codes(&s).contains(&"not-drained".into()), "{:?}", codes(&s));
    assert!(figure(&s, "not-drained") > 300.0);
    // rho = 0.5: stable.
    let quiet = warned(&queue(0.5, "1h", "", ""), 2);
    assert!(!quiet.contains(&"not-drained".into()), "{quiet:?}");
}

#[test]
fn an_ack_timeout_below_the_p99_of_processing_is_pointed_out() {
    // Exponential of mean 1 s: p99 = ln 100 = 4.6 s.
    let s = summary(
        &scenario(&queue(0.3, "1h", "ack_timeout = \"3s\"", "")),
        1,
        1,
    );
    assert!(codes(&s).contains(&"ack-timeout-below-p99".into()));
    let p99 = figure(&s, "ack-timeout-below-p99");
    assert!((p99 - 100f64.ln()).abs() < 0.15, "{p99}");
    let quiet = warned(&queue(0.3, "1h", "ack_timeout = \"10s\"", ""), 1);
    assert!(
        !quiet.contains(&"ack-timeout-below-p99".into()),
        "{quiet:?}"
    );
}

#[test]
fn transient_failures_dead_lettered_by_the_delivery_limit_are_pointed_out() {
    // Each delivery fails with probability 0.3: 0.3^3 = 2.7% reach the
    // limit of 3 deliveries; 0.3^10 = 6e-6 reach a limit of 10.
    let s = summary(
        &scenario(&queue(0.3, "1h", "max_deliveries = 3", "failure = 0.3")),
        2,
        1,
    );
    assert!(
        codes(&s).contains(&"transient-dead-lettered".into()),
        "{:?}",
        codes(&s)
    );
    let share = figure(&s, "transient-dead-lettered");
    assert!((share - 0.027).abs() < 0.012, "{share}");
    let quiet = warned(&queue(0.3, "1h", "max_deliveries = 10", "failure = 0.3"), 2);
    assert!(
        !quiet.contains(&"transient-dead-lettered".into()),
        "{quiet:?}"
    );
}

#[test]
fn key_ordering_that_starves_the_consumers_is_pointed_out() {
    // Four consumers, 2 messages a second of mean 1 s: stable with four
    // (rho 0.5), but with one key held in order only one works at a time.
    let text = |fifo: bool| {
        format!(
            r#"
[simulation]
duration = "1h"
seed = 5
[[producer]]
arrival = {{ process = "poisson", rate = 2.0 }}
key = {{ dist = "uniform-keys", count = 1 }}
[[queue]]
name = "q"
fifo_by_key = {fifo}
[[consumer]]
count = 4
service = {{ dist = "exponential", mean = "1s" }}
"#
        )
    };
    let s = summary(&scenario(&text(true)), 1, 1);
    assert!(
        codes(&s).contains(&"ordering-starves".into()),
        "{:?}",
        codes(&s)
    );
    assert!(figure(&s, "ordering-starves") < 0.3);
    let quiet = warned(&text(false), 1);
    assert!(!quiet.contains(&"ordering-starves".into()), "{quiet:?}");
    // A queue that is merely overloaded (no ordering) is not starved.
    let plain = warned(&queue(1.3, "1h", "", ""), 1);
    assert!(!plain.contains(&"ordering-starves".into()), "{plain:?}");
}

#[test]
fn a_retry_budget_that_sheds_traffic_is_pointed_out() {
    let budget = summary(
        &scenario_file(
            "scenarios/retry-storm.toml",
            &[
                r#"producer.retry_budget={ kind = "token-bucket", max_tokens = 10, token_ratio = 0.1 }"#,
            ],
        ),
        1,
        1,
    );
    let shed = figure(&budget, "protection-shed");
    assert!(shed > 0.01, "{shed}");
    let c = codes(&budget);
    assert!(
        !c.contains(&"not-recovered".into()) && !c.contains(&"not-drained".into()),
        "{c:?}"
    );
    // The storm without a budget: nothing shed, and it never drains.
    let storm = summary(&scenario_file("scenarios/retry-storm.toml", &[]), 1, 1);
    let c = codes(&storm);
    assert!(!c.contains(&"protection-shed".into()), "{c:?}");
    assert!(
        c.contains(&"not-drained".into()) && c.contains(&"not-recovered".into()),
        "{c:?}"
    );
}

#[test]
fn a_window_too_short_for_the_queue_to_forget_its_start_is_pointed_out() {
    // rho = 0.9: relaxation time 1 / (1 - sqrt 0.9)^2 = 380 s; 100 of them
    // are 10.6 hours, far above 20 minutes.
    let short = warned(&queue(0.9, "20m", "", ""), 1);
    assert!(short.contains(&"short-window".into()), "{short:?}");
    let long = warned(&queue(0.5, "2h", "", ""), 1);
    assert!(!long.contains(&"short-window".into()), "{long:?}");
}

#[test]
fn run_text_has_a_warnings_block() {
    let dir = TempDir::new("warnings-text");
    let file = dir.write("s.toml", &queue(0.3, "30m", "ack_timeout = \"3s\"", ""));
    let (code, out, err) = mqsim(&["run", file.to_str().unwrap(), "--no-files", "-q"]);
    assert_eq!(code, 0, "{err}");
    let block = out.split("\nWarnings:\n").nth(1).expect("a Warnings block");
    assert!(
        block.contains("  [ack-timeout-below-p99] queue `q`"),
        "{out}"
    );
}

/// The rules a scenario's configuration triggers.
fn rules(text: &str) -> Vec<&'static str> {
    let m = mqsim::model::compile(&scenario(text)).unwrap();
    lint(&m).into_iter().map(|f| f.rule).collect()
}

#[test]
fn lint_rules_on_queues_fire_on_their_cause_only() {
    let retry = |jitter: &str| {
        queue(
            0.3,
            "1h",
            "max_deliveries = 5",
            &format!("count = 4\nfailure = 0.1\nretry = {{ backoff = \"exponential\", base = \"1s\"{jitter} }}"),
        )
    };
    assert!(rules(&retry("")).contains(&"retry-without-jitter"));
    assert!(!rules(&retry(", jitter = \"full\"")).contains(&"retry-without-jitter"));
    assert!(rules(&queue(0.3, "1h", "", "failure = 0.1")).contains(&"unlimited-deliveries"));
    assert!(
        !rules(&queue(0.3, "1h", "max_deliveries = 5", "failure = 0.1"))
            .contains(&"unlimited-deliveries")
    );
    assert!(
        rules(&queue(0.3, "1h", "ack_timeout = \"3s\"", "")).contains(&"ack-timeout-below-service")
    );
    assert!(rules(&queue(0.3, "1h", "ack_timeout = \"10s\"", "")).is_empty());
    // A preset's retry_mode = "requeue" comes before the "delay" a retry
    // policy implies: the backoff is never waited (and its jitter moot).
    let preset = |mode: &str| {
        queue(
            0.3,
            "1h",
            "preset = \"nats-jetstream\"\nmax_deliveries = 5",
            &format!("preset = \"nats-jetstream\"\nfailure = 0.1\nretry = {{ backoff = \"fixed\", delay = \"1s\" }}{mode}"),
        )
    };
    assert_eq!(rules(&preset("")), vec!["retry-backoff-unused"]);
    assert!(rules(&preset("\nretry_mode = \"delay\"")).is_empty());
    // A heartbeat whose interval is not shorter than its extension: the
    // lease lapses between two of them. Shorter: nothing to say.
    let lease = |every: &str| {
        queue(
            0.3,
            "1h",
            "preset = \"sqs\"\nack_timeout = \"30s\"",
            &format!("extend_lease = {{ every = \"{every}\", by = \"10s\" }}"),
        )
    };
    assert_eq!(
        rules(&lease("10s")),
        vec!["lease-lapses-between-extensions"]
    );
    assert_eq!(
        rules(&lease("15s")),
        vec!["lease-lapses-between-extensions"]
    );
    assert!(rules(&lease("4s")).is_empty(), "{:?}", rules(&lease("4s")));
    // Without a preset a retry policy means "delay": nothing to say.
    assert!(!rules(&retry(", jitter = \"full\"")).contains(&"retry-backoff-unused"));
}

#[test]
fn lint_rules_on_producers_and_topics_fire_on_their_cause_only() {
    let producer = |lines: &str| {
        format!(
            r#"
[[producer]]
arrival = {{ process = "poisson", rate = 1.0 }}
timeout = "5s"
{lines}
[[queue]]
name = "q"
[[consumer]]
service = {{ dist = "exponential", mean = "100ms" }}
"#
        )
    };
    assert!(rules(&producer("retry = { backoff = \"none\" }"))
        .contains(&"client-timeout-retries-unbounded"));
    assert!(rules(&producer(
        "retry = { backoff = \"none\", max_attempts = 3 }"
    ))
    .is_empty());
    let budget = |percent: f64| {
        producer(&format!(
            "retry = {{ backoff = \"none\", max_attempts = 3 }}\nretry_budget = {{ kind = \"percent\", percent = {percent} }}"
        ))
    };
    assert!(rules(&budget(5.0)).contains(&"budget-percent-above-one"));
    assert!(rules(&budget(0.2)).is_empty());
    let topic = |records: u32| {
        format!(
            r#"
[[producer]]
topic = "t"
arrival = {{ process = "poisson", rate = 1.0 }}
[[topic]]
name = "t"
[[consumer]]
topic = "t"
group = "g"
max_poll_records = {records}
max_poll_interval = "5m"
service = {{ dist = "exponential", mean = "1s" }}
"#
        )
    };
    // 500 records of 1 s each: 500 s per poll, above the 300 s interval.
    assert!(rules(&topic(500)).contains(&"poll-interval-below-batch"));
    assert!(rules(&topic(100)).is_empty());
}

#[test]
fn lint_exits_1_with_findings_and_0_without() {
    let dir = TempDir::new("lint-exit");
    let bad = dir.write("bad.toml", &queue(0.3, "1h", "ack_timeout = \"3s\"", ""));
    let (code, out, _) = mqsim(&["lint", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("[ack-timeout-below-service]") && out.contains("README: [[queue]]"),
        "{out}"
    );
    let (code, out, _) = mqsim(&[
        "lint",
        bad.to_str().unwrap(),
        "--set",
        "queue.ack_timeout=\"10s\"",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}");
    let o: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(o["findings"].as_array().unwrap().len(), 0);
    let (code, _, _) = mqsim(&["lint", dir.path("missing.toml").to_str().unwrap()]);
    assert_eq!(code, 2);
}

#[test]
fn sweep_and_optimize_carry_the_warnings_of_their_cells() {
    let dir = TempDir::new("warnings-sweep");
    let file = dir.write("s.toml", &queue(0.3, "30m", "ack_timeout = \"3s\"", ""));
    let f = file.to_str().unwrap();
    let (code, out, err) = mqsim(&[
        "sweep",
        f,
        "--param",
        "queue.ack_timeout",
        "--values",
        "3s,10s",
        "--format",
        "json",
        "--no-files",
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let o: Value = serde_json::from_str(&out).unwrap();
    let cells: Vec<&Value> = o["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "ack-timeout-below-p99")
        .collect();
    assert_eq!(cells.len(), 1, "{cells:?}");
    assert_eq!(cells[0]["values"]["queue.ack_timeout"], "3s");
    let (code, out, err) = mqsim(&[
        "optimize",
        f,
        "--param",
        "queue.ack_timeout=2s:3s",
        "--minimize",
        "latency.mean",
        "--budget",
        "16",
        "--format",
        "json",
        "--no-files",
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let o: Value = serde_json::from_str(&out).unwrap();
    let codes: Vec<&Value> = o["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["code"])
        .collect();
    assert!(
        codes.contains(&&Value::from("ack-timeout-below-p99")),
        "{codes:?}"
    );
}

/// A one-off incident is a terminating study: its backlog's
/// autocorrelation is the incident's transient, so the estimated
/// short-window warning (which would ask for a far longer run, diluting
/// the incident) is not given; the same outage recurring at random is a
/// steady state with failures in it, and is warned about.
#[test]
fn a_one_off_incident_is_not_called_a_short_window() {
    let base = |fault: &str| {
        format!(
            r#"
[simulation]
seed = 3
duration = "2h"
[[producer]]
arrival = {{ process = "poisson", rate = 20.0 }}
[[queue]]
[[consumer]]
count = 2
service = {{ dist = "exponential", mean = "60ms" }}
[[fault]]
kind = "partition"
between = ["consumer:consumer", "broker"]
{fault}
"#
        )
    };
    let once = warned(&base("start = \"30m\"\nduration = \"10m\""), 2);
    assert!(!once.contains(&"short-window".into()), "{once:?}");
    let recurring = warned(
        &base("mtbf = \"40m\"\nmttr = { dist = \"constant\", mean = \"10m\" }"),
        2,
    );
    assert!(recurring.contains(&"short-window".into()), "{recurring:?}");
}
