//! Operations (issue 23): periodic faults (`every`, `jitter`), rolling
//! restarts (graceful and hard), stop-the-world pauses.

mod common;
use common::*;
use serde_json::{Map, Value};

fn fault_starts(s: &Map<String, Value>) -> Vec<(String, f64, f64)> {
    s["faults"]
        .as_array()
        .expect("a fault timeline")
        .iter()
        .map(|f| {
            (
                f["target"].as_str().unwrap_or("").to_string(),
                f["start"].as_f64().unwrap_or(f64::NAN),
                f["end"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

fn periodic(fault: &str) -> String {
    format!(
        r#"
[simulation]
seed = 3
duration = "1h"
drain = "30m"
[[producer]]
name = "orders"
arrival = {{ process = "poisson", rate = 5.0 }}
[[queue]]
[[consumer]]
name = "worker"
count = 3
service = {{ dist = "exponential", mean = "50ms" }}
[[fault]]
{fault}
"#
    )
}

/// `every` without `at`: the first at `every`, then one per period while
/// the producers publish (10, 20, ..., 50 minutes: 5), on each of the 3
/// instances; with `at = "5m"`: 5, 15, ..., 55 (6). Every kind repeats.
#[test]
fn every_produces_exactly_the_expected_number_of_faults() {
    let cases = [
        ("kind = \"consumer-crash\"\ntarget = \"consumer:worker\"\nevery = \"10m\"\ndowntime = \"1m\"", 15.0),
        ("kind = \"consumer-crash\"\nat = \"5m\"\nevery = \"10m\"\ndowntime = \"1m\"", 18.0),
        ("kind = \"consumer-crash\"\ninstance = 1\nevery = \"10m\"\nmttr = { dist = \"exponential\", mean = \"30s\" }", 5.0),
        ("kind = \"consumer-crash\"\nevery = \"10m\"\njitter = \"3m\"\ndowntime = \"1m\"", 15.0),
        ("kind = \"gc-pause\"\nevery = \"7m\"\nduration = \"20s\"", 24.0),
        ("kind = \"broker-crash\"\nevery = \"20m\"\ndowntime = \"10s\"", 2.0),
        ("kind = \"producer-crash\"\nevery = \"15m\"\ndowntime = \"10s\"", 3.0),
        ("kind = \"dependency-outage\"\nstart = \"0s\"\nevery = \"30m\"\nduration = \"1m\"", 2.0),
        ("kind = \"load-spike\"\nevery = \"25m\"\nduration = \"1m\"\nfactor = 3", 2.0),
        ("kind = \"partition\"\nbetween = [\"consumer:worker\", \"broker\"]\nevery = \"12m\"\nduration = \"1m\"", 4.0),
        ("kind = \"rolling-restart\"\ntarget = \"consumer:worker\"\nevery = \"20m\"\ninterval = \"1m\"\ndowntime = \"30s\"", 6.0),
    ];
    for (fault, expected) in cases {
        let s = summary(&scenario(&periodic(fault)), 1, 1);
        assert_eq!(get(&s, "faults_total"), expected, "{fault}");
        assert_conserved(&s);
    }
}

/// Each occurrence starts within [nominal, nominal + jitter), and the
/// draws differ between occurrences and units.
#[test]
fn jitter_delays_each_occurrence_within_its_bound() {
    let fault = "kind = \"consumer-crash\"\nat = \"5m\"\nevery = \"10m\"\njitter = \"3m\"\ndowntime = \"1m\"";
    let s = summary(&scenario(&periodic(fault)), 1, 1);
    let starts = fault_starts(&s);
    assert_eq!(starts.len(), 18);
    let mut offsets = Vec::new();
    for (_, start, end) in &starts {
        let k = ((start - 300.0) / 600.0).floor();
        let offset = start - 300.0 - 600.0 * k;
        assert!((0.0..180.0).contains(&offset), "start {start}");
        assert!((end - start - 60.0).abs() < 1e-6, "lasts its downtime");
        offsets.push((offset * 1e3).round() as i64);
    }
    offsets.sort();
    offsets.dedup();
    assert!(offsets.len() > 12, "independent draws: {offsets:?}");
}

fn deploy(graceful: bool) -> String {
    format!(
        r#"
[simulation]
seed = 21
duration = "1h"
drain = "10m"
[[producer]]
arrival = {{ process = "poisson", rate = 30.0 }}
[[queue]]
[[consumer]]
name = "worker"
count = 4
prefetch = 10
service = {{ dist = "exponential", mean = "100ms" }}
[network]
latency = {{ dist = "exponential", mean = "20ms" }}
[[fault]]
kind = "rolling-restart"
target = "consumer:worker"
at = "10m"
every = "20m"
interval = "45s"
downtime = "30s"
graceful = {graceful}
"#
    )
}

/// A deploy restarts the 4 instances one after another, `interval` apart;
/// graceful: each stops taking deliveries and finishes what it holds, so
/// under manual ack nothing is lost and nothing processed twice; hard:
/// each is a crash, and what it had processed but whose ack was still on
/// the wire is processed again (nothing lost either: manual ack).
#[test]
fn graceful_rolling_restart_loses_and_duplicates_nothing_and_hard_duplicates() {
    let graceful = summary(&scenario(&deploy(true)), 1, 1);
    assert_conserved(&graceful);
    assert_eq!(get(&graceful, "faults_total"), 12.0);
    let starts = fault_starts(&graceful);
    for (k, (target, start, end)) in starts.iter().take(4).enumerate() {
        assert_eq!(target, &format!("consumer:worker#{k}"));
        assert!(
            (start - (600.0 + 45.0 * k as f64)).abs() < 1e-6,
            "{starts:?}"
        );
        assert!((end - start - 30.0).abs() < 1e-6);
    }
    assert_eq!(get(&graceful, "messages.lost"), 0.0);
    assert_eq!(get(&graceful, "messages.duplicates"), 0.0);
    assert_eq!(get(&graceful, "messages.redelivered"), 0.0);
    let hard = summary(&scenario(&deploy(false)), 1, 1);
    assert_conserved(&hard);
    assert_eq!(get(&hard, "messages.lost"), 0.0);
    let crash_duplicates = hard["messages"]["duplicates_by_cause"]["consumer-crash"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(crash_duplicates > 0.0, "{:?}", hard["messages"]);
    assert_eq!(get(&hard, "messages.duplicates"), crash_duplicates);
    assert!(get(&hard, "messages.redelivered") >= crash_duplicates);
}

/// A rolling restart of a producer, graceful: no business event happens
/// while it is down, and what it had sent is confirmed; hard: the same
/// gap, and nothing more is lost without confirms pending.
#[test]
fn a_graceful_producer_restart_publishes_nothing_while_down() {
    let text = periodic(
        "kind = \"rolling-restart\"\ntarget = \"producer:orders\"\nat = \"10m\"\ndowntime = \"10m\"",
    );
    let down = summary(&scenario(&text), 1, 1);
    let up = summary(
        &scenario(&periodic(
            "kind = \"load-spike\"\nstart = \"0s\"\nduration = \"1s\"\nfactor = 1",
        )),
        1,
        1,
    );
    let ratio = get(&down, "messages.published") / get(&up, "messages.published");
    // 50 of 60 minutes publish: 5/6 of the messages, within sampling error.
    assert!((ratio - 5.0 / 6.0).abs() < 0.03, "ratio {ratio}");
    assert_conserved(&down);
    assert_eq!(get(&down, "messages.lost"), 0.0);
}

fn paused(pause: &str, lease: &str) -> String {
    format!(
        r#"
[simulation]
seed = 4
duration = "10m"
drain = "10m"
[[producer]]
arrival = {{ process = "constant", rate = 2.0 }}
[[queue]]
ack_timeout = "30s"
[[consumer]]
name = "worker"
count = 2
prefetch = 2
service = {{ dist = "constant", mean = "500ms" }}
{lease}
[[fault]]
kind = "gc-pause"
target = "consumer:worker"
instance = 0
at = "2m"
duration = "{pause}"
"#
    )
}

/// A pause shorter than the ack timeout only delays; one longer lets the
/// held deliveries' deadlines pass: the broker redelivers them to the
/// other instance, and the paused one, when it wakes, processes them too.
/// A heartbeat does not save them: the pause stops it as well.
#[test]
fn a_gc_pause_past_the_ack_timeout_duplicates_without_crashing() {
    let short = summary(&scenario(&paused("5s", "")), 1, 1);
    assert_conserved(&short);
    assert_eq!(get(&short, "messages.duplicates"), 0.0);
    assert_eq!(get(&short, "messages.lost"), 0.0);
    assert!(
        get(&short, "latency.max") >= 5.0,
        "the pause delays what it holds"
    );
    let long = summary(&scenario(&paused("90s", "")), 1, 1);
    assert_conserved(&long);
    assert_eq!(get(&long, "messages.lost"), 0.0);
    // Instance 0 held 2 deliveries (prefetch 2): both come back and are
    // processed twice.
    assert_eq!(get(&long, "messages.duplicates"), 2.0);
    let heartbeat = summary(
        &scenario(&paused(
            "90s",
            "extend_lease = { every = \"10s\", by = \"30s\" }",
        )),
        1,
        1,
    );
    assert_eq!(get(&heartbeat, "messages.duplicates"), 2.0);
}

/// The keys that do not fit are refused with a reason.
#[test]
fn periodic_and_rolling_keys_are_checked() {
    let refused = [
        ("kind = \"consumer-crash\"\nevery = \"10m\"\nmtbf = \"5m\"\nmttr = { dist = \"exponential\", mean = \"1m\" }", "give one of them"),
        ("kind = \"consumer-crash\"\nevery = \"10m\"", "how long each occurrence lasts"),
        ("kind = \"consumer-crash\"\nevery = \"10m\"\ndowntime = \"8m\"\njitter = \"3m\"", "must end before the next one starts"),
        ("kind = \"consumer-crash\"\nat = \"1m\"\ndowntime = \"1m\"\njitter = \"1m\"", "give `every` too"),
        ("kind = \"consumer-crash\"\nat = \"1m\"\ndowntime = \"1m\"\ngraceful = false", "rolling-restart"),
        ("kind = \"rolling-restart\"\nat = \"1m\"\ndowntime = \"1m\"", "needs a target"),
        ("kind = \"rolling-restart\"\ntarget = \"consumer:worker\"\nevery = \"5m\"\ninterval = \"2m\"\ndowntime = \"1m\"", "must end before the next one starts"),
        ("kind = \"rolling-restart\"\ntarget = \"consumer:worker\"\nmtbf = \"5m\"\nmttr = { dist = \"exponential\", mean = \"1m\" }\ndowntime = \"1m\"", "`at` a time, or `every`"),
        ("kind = \"gc-pause\"\ntarget = \"producer:orders\"\nat = \"1m\"\nduration = \"1s\"", "cannot target"),
        ("kind = \"gc-pause\"\nat = \"1m\"", "needs `at` and `duration`"),
        ("kind = \"gc-pause\"\nat = \"1m\"\nduration = \"1s\"\nfactor = 2", "does not apply"),
    ];
    for (fault, says) in refused {
        let text = periodic(fault);
        let err = mqsim::scenario::load_str(&text, "t.toml", &Default::default())
            .err()
            .unwrap_or_else(|| panic!("accepted: {fault}"));
        let message = err.to_string();
        assert!(message.contains(says), "{fault}: {message}");
    }
}
