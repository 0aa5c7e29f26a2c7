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
    // A retry policy with a backoff alone retries forever: only one that
    // bounds the attempts stops the redeliveries.
    let policy = |limit: &str| {
        queue(
            0.3,
            "1h",
            "",
            &format!("failure = 0.1\nretry = {{ backoff = \"exponential\", base = \"1s\", jitter = \"full\"{limit} }}"),
        )
    };
    assert!(rules(&policy("")).contains(&"unlimited-deliveries"));
    assert!(rules(&policy(", max_attempts = 5")).is_empty());
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
    let jittered =
        "retry = { backoff = \"exponential\", base = \"1s\", jitter = \"full\", max_attempts = 3 }";
    assert!(rules(&producer(jittered)).is_empty());
    // One producer stands for its clients: immediate retries after a
    // client timeout fall in step, however few `[[producer]]`s there are.
    assert_eq!(
        rules(&producer(
            "retry = { backoff = \"none\", max_attempts = 3 }"
        )),
        vec!["retry-without-jitter"]
    );
    assert_eq!(
        rules(&producer(
            "retry = { backoff = \"exponential\", base = \"1s\", max_attempts = 3 }"
        )),
        vec!["retry-without-jitter"]
    );
    let budget = |percent: f64| {
        producer(&format!(
            "{jittered}\nretry_budget = {{ kind = \"percent\", percent = {percent} }}"
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

/// The retry storm's clients time out and publish again at once (`backoff
/// = "none"`): the one producer stands for all of them; its variant with
/// full jitter is quiet on that rule.
#[test]
fn lint_points_at_the_retry_storms_lockstep_clients() {
    let (code, out, _) = mqsim(&["lint", "scenarios/retry-storm.toml"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("[retry-without-jitter] producer `clients`"),
        "{out}"
    );
    let jittered = r#"producer.retry={ backoff = "exponential", base = "1s", cap = "30s", jitter = "full", max_attempts = 5 }"#;
    let (_, out, _) = mqsim(&["lint", "scenarios/retry-storm.toml", "--set", jittered]);
    assert!(!out.contains("[retry-without-jitter]"), "{out}");
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

#[test]
fn an_unbounded_queue_offered_its_capacity_or_more_is_unstable() {
    // One consumer of mean 1 s: capacity 1/s; rho is the arrival rate.
    let s = summary(&scenario(&queue(1.3, "1h", "", "")), 1, 1);
    assert!(codes(&s).contains(&"unstable".into()), "{:?}", codes(&s));
    let rho = figure(&s, "unstable");
    assert!((rho - 1.3).abs() < 1e-9, "{rho}");
    let quiet = warned(&queue(0.5, "1h", "", ""), 1);
    assert!(!quiet.contains(&"unstable".into()), "{quiet:?}");
}

/// The automatic warm-up is warned about when MSER-5 finds no transient
/// (a light queue that starts empty is already in its steady state) and
/// not when it finds one: consumers cut off for the first 20 minutes
/// leave a backlog that takes a while to drain.
#[test]
fn an_automatic_warm_up_that_finds_no_transient_is_pointed_out() {
    let light = queue(0.3, "2h", "", "").replace("seed = 5", "seed = 5\nwarmup = \"auto\"");
    let s = summary(&scenario(&light), 2, 1);
    assert!(codes(&s).contains(&"warm-up".into()), "{:?}", codes(&s));
    assert_eq!(figure(&s, "warm-up"), 0.0);
    let start = format!(
        "{}\n[[fault]]\nkind = \"partition\"\nbetween = [\"consumer:consumer\", \"broker\"]\nstart = \"0s\"\nduration = \"20m\"\n",
        queue(0.5, "4h", "", "").replace("seed = 5", "seed = 5\nwarmup = \"auto\"")
    );
    let s = summary(&scenario(&start), 2, 1);
    let seconds = get(&s, "warmup.seconds");
    assert!(seconds > 0.0 && seconds < 7200.0, "{seconds}");
    assert!(!codes(&s).contains(&"warm-up".into()), "{:?}", codes(&s));
}

#[test]
fn a_fixed_warm_up_of_half_the_run_or_more_is_a_short_window() {
    let text = |warmup: &str| {
        queue(0.5, "1h", "", "").replace("seed = 5", &format!("seed = 5\nwarmup = \"{warmup}\""))
    };
    let s = summary(&scenario(&text("40m")), 1, 1);
    let said: Vec<&Value> = s["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "short-window")
        .collect();
    assert!(
        said.iter().any(|w| w["message"]
            .as_str()
            .unwrap()
            .starts_with("the warm-up (2400 s)")
            && w["figure"].as_f64() == Some(0.5)),
        "{said:?}"
    );
    // rho 0.5: 100 relaxation times are about 20 minutes, within the
    // 50 minutes left after a 10 minute warm-up.
    let quiet = warned(&text("10m"), 1);
    assert!(!quiet.contains(&"short-window".into()), "{quiet:?}");
}

#[test]
fn a_percent_budget_of_two_or_more_is_pointed_out_after_a_run() {
    let text = |percent: f64| {
        format!(
            "{}retry = {{ backoff = \"none\", max_attempts = 3 }}\nretry_budget = {{ kind = \"percent\", percent = {percent} }}\n",
            queue(0.3, "30m", "", "failure = 0.1")
        )
    };
    let s = summary(&scenario(&text(5.0)), 1, 1);
    assert!(
        codes(&s).contains(&"budget-percent".into()),
        "{:?}",
        codes(&s)
    );
    assert_eq!(figure(&s, "budget-percent"), 5.0);
    let quiet = warned(&text(0.2), 1);
    assert!(!quiet.contains(&"budget-percent".into()), "{quiet:?}");
}

/// A breaker that opens sheds calls: with 60% of the calls failing it
/// opens (threshold 50%) and rejects what arrives while open; at 5% it
/// stays closed.
#[test]
fn a_breaker_that_sheds_traffic_is_pointed_out() {
    let text = |failure: f64| {
        queue(
            0.5,
            "1h",
            "max_deliveries = 5",
            &format!("failure = {failure}\nbreaker = {{ failure_rate_threshold = 0.5, minimum_calls = 20, window = 50, open_wait = \"10s\", half_open_calls = 5 }}"),
        )
    };
    let s = summary(&scenario(&text(0.6)), 1, 1);
    assert!(get(&s, "retries.breaker_rejected") > 0.0);
    assert!(figure(&s, "protection-shed") > 0.01);
    let quiet = warned(&text(0.05), 1);
    assert!(!quiet.contains(&"protection-shed".into()), "{quiet:?}");
}

#[test]
fn a_resequencer_that_starves_the_consumers_is_pointed_out() {
    // As the fifo_by_key case: four consumers, one key, rho 0.5 with four
    // but one at a time once the resequencer holds the key in order.
    let text = |resequence: &str| {
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
[[consumer]]
count = 4
prefetch = 50
service = {{ dist = "exponential", mean = "1s" }}
{resequence}
"#
        )
    };
    let s = summary(
        &scenario(&text(
            "resequence = { max_held = 100000, max_wait = \"10h\" }",
        )),
        1,
        1,
    );
    assert!(
        codes(&s).contains(&"ordering-starves".into()),
        "{:?}",
        codes(&s)
    );
    let quiet = warned(&text(""), 1);
    assert!(!quiet.contains(&"ordering-starves".into()), "{quiet:?}");
}

#[test]
fn every_run_summary_has_a_warnings_array_and_compare_tags_them_by_variant() {
    // Sixty consumers at rho 0.5 and 216,000 messages: nothing to say
    // (at least 100 latencies above the p999), and still an array.
    let calm = summary(&scenario(&queue(30.0, "2h", "", "count = 60")), 1, 1);
    assert_eq!(calm["warnings"], Value::Array(Vec::new()));
    let dir = TempDir::new("warnings-compare");
    let text = format!(
        "{}\n[[variant]]\nname = \"short\"\nset = {{ \"queue.ack_timeout\" = \"3s\" }}\n[[variant]]\nname = \"long\"\nset = {{ \"queue.ack_timeout\" = \"10s\" }}\n",
        queue(0.3, "30m", "", "")
    );
    let file = dir.write("c.toml", &text);
    let (code, out, err) = mqsim(&[
        "compare",
        file.to_str().unwrap(),
        "--format",
        "json",
        "--no-files",
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let o: Value = serde_json::from_str(&out).unwrap();
    let top = o["warnings"].as_array().unwrap();
    let timeouts: Vec<&Value> = top
        .iter()
        .filter(|w| w["code"] == "ack-timeout-below-p99")
        .collect();
    assert_eq!(timeouts.len(), 1, "{top:?}");
    assert_eq!(timeouts[0]["variant"], "short");
    // The variants keep their own.
    let own = o["variants"]["short"]["warnings"].as_array().unwrap();
    assert!(own.iter().any(|w| w["code"] == "ack-timeout-below-p99"));
    assert_eq!(
        top.len(),
        ["short", "long"]
            .iter()
            .map(|v| o["variants"][v]["warnings"].as_array().unwrap().len())
            .sum::<usize>()
    );
}

/// Celery holds a countdown (ETA) task unacked in the worker until it is
/// due, so Redis (visibility_timeout, the preset's 1 h ack_timeout) hands
/// a countdown longer than that to another worker too: the lint says so
/// (the model does not reproduce those runs). The preset's 180 s
/// `default_retry_delay` is well inside: nothing to say.
#[test]
fn a_celery_countdown_past_the_visibility_timeout_is_pointed_out() {
    let celery = |retry: &str| {
        queue(
            0.3,
            "1h",
            "preset = \"celery\"",
            &format!("failure = 0.1\n{retry}"),
        )
    };
    let found = |text: &str| rules(text).contains(&"celery-countdown-over-visibility-timeout");
    assert!(!found(&celery("")), "{:?}", rules(&celery("")));
    assert!(found(&celery("retry = { delay = \"2h\" }")));
    assert!(!found(&celery("retry = { delay = \"59m\" }")));
    // Not Celery: the broker waits the delay itself.
    assert!(!found(&queue(
        0.3,
        "1h",
        "preset = \"sqs\"",
        "failure = 0.1\nretry = { backoff = \"fixed\", delay = \"2h\" }\nretry_mode = \"delay\""
    )));
}
