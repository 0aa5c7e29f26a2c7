//! Robustness of the scenario loader against hostile input.
//!
//! Property: whatever text or `--set` it is given, `load_str` returns within
//! a few seconds without panicking, and
//! - `Ok`: the scenario compiles (`model::compile` errors are "bugs of
//!   validation") and a short, event-bounded run of it does not panic;
//! - `Err`: its Display starts with the file label, and an error found in
//!   the file (not in a `--set`) carries `:line:col` pointing into the text.
//!
//! Plus one named test per edge class, CLI tests (exit 2, located message on
//! stderr, nothing written), and a test loading every file of tests/corpus/.
//!
//! Run: cargo test --release --test robustness_loader

#![allow(clippy::result_large_err)]

mod common;
use mqsim::experiment::{self, Plan};
use mqsim::model;
use mqsim::scenario::{load_str, LoadOptions, Scenario, ScenarioError};
use mqsim::sim::Limits;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, RngSeed};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

const LABEL: &str = "hostile.toml";

const REFERENCE: &str = include_str!("../scenarios/reference.toml");
const QUICKSTART: &str = include_str!("../scenarios/quickstart.toml");
const MM1: &str = include_str!("../scenarios/mm1.toml");
const KITCHEN_SINK: &str = include_str!("corpus/kitchen_sink.toml");
const BASES: [&str; 4] = [REFERENCE, QUICKSTART, MM1, KITCHEN_SINK];

fn config(cases: u32, seed: u64) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    }
}

// ------------------------------------------------------------------ helpers

fn panic_text(e: Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(non-string panic)".into())
}

/// Runs `f` on its own thread (8 MiB stack, as a main thread) and fails if
/// it panics or takes longer than `secs`.
fn guarded<T: Send + 'static>(what: &str, secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawn");
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => {
            let _ = h.join();
            v
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("HANG: {what} did not return within {secs} s")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let e = h.join().expect_err("a worker that sent nothing panicked");
            panic!("PANIC in {what}: {}", panic_text(e))
        }
    }
}

fn opts(sets: &[&str]) -> LoadOptions {
    LoadOptions {
        overrides: sets.iter().map(|s| s.to_string()).collect(),
    }
}

fn load(text: &str, sets: &[&str]) -> Result<Scenario, ScenarioError> {
    let (t, o) = (text.to_string(), opts(sets));
    guarded("load_str", 20, move || load_str(&t, LABEL, &o))
}

/// Checks the shape of an error: the label first, and a location inside
/// the text for errors that come from the file.
fn check_error(text: &str, e: &ScenarioError) -> Result<(), String> {
    let shown = e.to_string();
    if e.file != LABEL || !shown.starts_with(LABEL) {
        return Err(format!("error does not start with the file label: {shown}"));
    }
    if e.message.trim().is_empty() {
        return Err(format!("error without a message: {shown}"));
    }
    if e.origin.is_some() {
        // From a --set: names it instead of a line.
        if !shown.contains("--set") {
            return Err(format!("override error does not name the --set: {shown}"));
        }
        return Ok(());
    }
    if e.line.is_none() && e.column.is_none() && e.key.is_none() {
        if let Some(o) = opts_error_is_override(&shown) {
            return o;
        }
    }
    let (Some(line), Some(col)) = (e.line, e.column) else {
        // Something required is absent from the file altogether (no
        // [[queue]], no [[producer]]): there is no place to point at.
        if about_absent_section(text, e) {
            return Ok(());
        }
        return Err(format!("error inside the file without :line:col: {shown}"));
    };
    if !shown.starts_with(&format!("{LABEL}:{line}:{col}: ")) {
        return Err(format!(
            "Display does not show {LABEL}:{line}:{col}: {shown}"
        ));
    }
    let lines = text.split('\n').count().max(1);
    if line == 0 || line > lines || col == 0 {
        return Err(format!(
            "location {line}:{col} outside the text ({lines} lines): {shown}"
        ));
    }
    let this = text.split('\n').nth(line - 1).unwrap_or("");
    if col > this.chars().count() + 1 {
        return Err(format!("column {col} past the end of line {line}: {shown}"));
    }
    Ok(())
}

/// The error's key names a top-level section the text does not have.
fn about_absent_section(text: &str, e: &ScenarioError) -> bool {
    let Some(key) = &e.key else { return false };
    let first = key.split(['.', '[']).next().unwrap_or("");
    match toml::from_str::<toml::Table>(text) {
        Ok(t) => !t.contains_key(first),
        Err(_) => false,
    }
}

/// Malformed `--set` arguments are reported before anything is located.
fn opts_error_is_override(shown: &str) -> Option<Result<(), String>> {
    shown.contains("`--set ").then_some(Ok(()))
}

/// Accepted scenarios must compile and survive a short bounded run.
fn check_accepted(text: &str, s: Scenario) -> Result<(), String> {
    let m =
        model::compile(&s).map_err(|e| format!("accepted but does not compile: {e}\n{text}"))?;
    let t = text.to_string();
    guarded("bounded run of an accepted scenario", 30, move || {
        let plan = Plan {
            replications: 1,
            jobs: 1,
            precision: None,
            max_replications: 1,
            limits: Limits {
                max_events: Some(20_000),
                stop: None,
                deadline: None,
            },
            seed: m.seed,
            first_replication: 0,
            build: Default::default(),
        };
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let o = experiment::run(&m, &plan);
            o.summary(&m)
        }));
        out.map(|_| ())
            .map_err(|e| format!("run panicked: {}\n{t}", panic_text(e)))
    })
}

/// The whole property for one input.
fn property(text: &str, sets: &[&str]) -> Result<(), String> {
    match load(text, sets) {
        Ok(s) => check_accepted(text, s),
        Err(e) => check_error(text, &e),
    }
}

fn assert_property(text: &str, sets: &[&str]) {
    if let Err(m) = property(text, sets) {
        panic!(
            "{m}\n--- input (first 2000 chars) ---\n{}",
            &text[..text.floor_char_boundary(2000)]
        );
    }
}

fn err_of(text: &str, sets: &[&str]) -> ScenarioError {
    match load(text, sets) {
        Ok(_) => panic!("expected an error for:\n{text}\nsets {sets:?}"),
        Err(e) => {
            check_error(text, &e).unwrap_or_else(|m| panic!("{m}"));
            e
        }
    }
}

fn ok_of(text: &str) -> Scenario {
    match load(text, &[]) {
        Ok(s) => {
            check_accepted(text, s.clone()).unwrap_or_else(|m| panic!("{m}"));
            s
        }
        Err(e) => panic!("expected the scenario to load, got: {e}\n{text}"),
    }
}

/// Asserts an error with a location, mentioning `key` and `needle`.
fn assert_rejected(text: &str, key: &str, needle: &str) -> ScenarioError {
    let e = err_of(text, &[]);
    let shown = e.to_string();
    assert!(e.line.is_some(), "no line: {shown}");
    assert!(shown.contains(key), "error does not name `{key}`: {shown}");
    assert!(
        shown.to_lowercase().contains(&needle.to_lowercase()),
        "error does not say `{needle}`: {shown}"
    );
    e
}

/// A minimal valid scenario with `{X}` standing for extra lines of the
/// consumer, `{Q}` of the queue, `{A}` the arrival and `{S}` of simulation.
fn tpl(sim: &str, arrival: &str, queue: &str, consumer: &str) -> String {
    let service = if consumer.contains("service =") {
        ""
    } else {
        "service = { dist = \"exponential\", mean = \"10ms\" }"
    };
    // Lines: 4 simulation extra, 6 arrival, 8 queue extra, 10 consumer extra.
    format!(
        "[simulation]\nduration = \"1m\"\ndrain = \"10s\"\n{sim}\n\
         [[producer]]\narrival = {arrival}\n\
         [[queue]]\n{queue}\n\
         [[consumer]]\n{consumer}\n{service}\n"
    )
}

const POISSON: &str = "{ process = \"poisson\", rate = 5.0 }";

// ------------------------------------------------------- hostile values

/// Values of every type, in range and out of it.
fn hostile_values() -> Vec<toml::Value> {
    use toml::Value as V;
    let mut v: Vec<V> = vec![
        V::Float(f64::NAN),
        V::Float(f64::INFINITY),
        V::Float(f64::NEG_INFINITY),
        V::Float(-0.0),
        V::Float(1e-9),
        V::Float(1e9),
        V::Float(1e308),
        V::Float(-1e308),
        V::Float(0.5),
        V::Float(1.0),
        V::Float(-1.0),
        V::Integer(0),
        V::Integer(1),
        V::Integer(-1),
        V::Integer(100_000),
        V::Integer(100_001),
        V::Integer(u32::MAX as i64),
        V::Integer(u32::MAX as i64 + 1),
        V::Integer(i64::MAX),
        V::Integer(i64::MIN),
        V::Boolean(true),
        V::Boolean(false),
        V::String(String::new()),
        V::String(" ".into()),
        V::String("1000y".into()),
        V::String("99999999d".into()),
        V::String("36500d".into()),
        V::String("36499d".into()),
        V::String("1ns".into()),
        V::String("0.4ns".into()),
        V::String("0s".into()),
        V::String("-5s".into()),
        V::String("1e400s".into()),
        V::String("nan s".into()),
        V::String("inf".into()),
        V::String("auto".into()),
        V::String("10s".into()),
        V::String("x".repeat(100_000)),
        V::String("é".repeat(3_000)),
        V::String("\u{0}\u{7f}\u{feff}".into()),
        V::String("orders".into()),
        V::String("payments".into()),
        V::String("queue".into()),
        V::String("poisson".into()),
        V::String("schedule".into()),
        V::String("pareto".into()),
        V::String("exponential".into()),
        V::String("sqs".into()),
        V::String("nats-jetstream".into()),
        V::String("kafka-retry-topics".into()),
        V::String("none".into()),
        V::String("delay".into()),
        V::String("retry-queues".into()),
        V::String("in-handler".into()),
        V::String("ack-timeout".into()),
        V::String("on-receive".into()),
        V::String("after-fsync".into()),
        V::String("drop-head".into()),
        V::String("consumer:order-service".into()),
        V::String("producer:web".into()),
        V::String("broker".into()),
        V::Array(vec![]),
        V::Array(vec![V::Integer(1), V::String("a".into())]),
        V::Array(vec![
            V::String("consumer:order-service".into()),
            V::String("broker".into()),
        ]),
        V::Array(vec![V::String("1s".into()), V::String("99999999d".into())]),
        V::Table(toml::Table::new()),
    ];
    let tables = [
        "{ dist = \"exponential\", mean = \"1s\" }",
        "{ dist = \"constant\" }",
        "{ dist = \"pareto\", mean = \"1s\", shape = 1.0 }",
        "{ dist = \"pareto\", mean = \"1s\", shape = nan }",
        "{ dist = \"erlang\", mean = \"1s\", shape = 2.5 }",
        "{ dist = \"gamma\", mean = \"1s\", shape = 1e300 }",
        "{ dist = \"weibull\", mean = \"1ns\", shape = 0.05 }",
        "{ dist = \"lognormal\", mean = \"1ns\", sd = \"36000d\" }",
        "{ dist = \"uniform\", min = \"2s\", max = \"1s\" }",
        "{ dist = \"normal\", mean = \"1s\", sd = \"0s\" }",
        "{ process = \"poisson\", rate = 1e9 }",
        "{ process = \"constant\", rate = 1e-9 }",
        "{ process = \"schedule\", schedule = [] }",
        "{ process = \"schedule\", schedule = [{ at = \"1m\", rate = 1 }, { at = \"1m\", rate = 2 }] }",
        "{ process = \"lognormal\", mean = \"1s\", sd = \"1s\" }",
        "{ backoff = \"exponential\", base = \"1s\", multiplier = nan }",
        "{ backoff = \"exponential\", base = \"1s\", cap = \"36500d\", jitter = \"decorrelated\" }",
        "{ backoff = \"list\", delays = [] }",
        "{ backoff = \"sidekiq\", max_attempts = 0 }",
        "{ backoff = \"linear\", base = \"1s\", step = \"36499d\", jitter = \"random\" }",
        "{ kind = \"token-bucket\", max_tokens = inf, token_ratio = 0.1 }",
        "{ kind = \"percent\", percent = 1000, min_retries_per_sec = 1e300 }",
        "{ failure_rate_threshold = 0, window = 0 }",
        "{ window_kind = \"time\", window_duration = \"1500ms\" }",
        "{ window = \"0s\" }",
        "{ start = \"0s\", rate = 0 }",
        "{ start = \"1s\", rate = 1e9 }",
        "{ latency = { dist = \"constant\", mean = \"36499d\" }, loss = 1.0 }",
    ];
    for t in tables {
        v.push(parse_value(t));
    }
    // Nested arrays just under and at the parser's depth limit.
    for depth in [10usize, 70, 79, 200] {
        let mut x = V::Integer(1);
        for _ in 0..depth {
            x = V::Array(vec![x]);
        }
        v.push(x);
    }
    // Whole sections, for insertion at the top.
    v.push(parse_value(
        "[{ kind = \"consumer-crash\", mtbf = \"1ns\", mttr = { dist = \"constant\", mean = \"0s\" } }]",
    ));
    v.push(parse_value(
        "[{ kind = \"broker-crash\", at = \"0s\", downtime = \"36499d\" }, { kind = \"partition\", between = [\"broker\", \"broker\"], start = \"0s\", duration = \"1s\" }]",
    ));
    v.push(parse_value(
        "[{ kind = \"dependency-outage\", mtbf = \"10s\", mttr = { dist = \"exponential\", mean = \"1s\" }, slowdown = 1e6 }]",
    ));
    v
}

fn parse_value(text: &str) -> toml::Value {
    let mut t: toml::Table = toml::from_str(&format!("v = {text}")).expect(text);
    t.remove("v").unwrap()
}

const ROOT_KEYS: &[&str] = &[
    "simulation",
    "producer",
    "queue",
    "consumer",
    "network",
    "fault",
    "variant",
    "expect",
];
const SIM_KEYS: &[&str] = &[
    "name",
    "seed",
    "duration",
    "warmup",
    "drain",
    "replications",
    "sample_interval",
];
const PRODUCER_KEYS: &[&str] = &[
    "name",
    "queue",
    "arrival",
    "confirm",
    "confirm_timeout",
    "retry",
    "persistent",
    "ttl",
    "outbox",
    "timeout",
    "retry_budget",
];
const ARRIVAL_KEYS: &[&str] = &[
    "process", "rate", "mean", "sd", "min", "max", "shape", "schedule",
];
const QUEUE_KEYS: &[&str] = &[
    "name",
    "preset",
    "capacity",
    "overflow",
    "ack_timeout",
    "max_deliveries",
    "dead_letter",
    "ttl",
    "ttl_mode",
    "crash_requeue",
    "durable",
    "fsync_interval",
    "dedup_window",
    "redrive",
    "orbit_bound",
];
const CONSUMER_KEYS: &[&str] = &[
    "name",
    "queue",
    "count",
    "prefetch",
    "concurrency",
    "ack",
    "service",
    "failure",
    "poison",
    "non_retryable",
    "publish_to",
    "retry",
    "retry_mode",
    "idempotency",
    "retry_budget",
    "breaker",
    "preset",
];
const DIST_KEYS: &[&str] = &["dist", "mean", "sd", "min", "max", "shape"];
const RETRY_KEYS: &[&str] = &[
    "backoff",
    "base",
    "delay",
    "step",
    "multiplier",
    "cap",
    "delays",
    "jitter",
    "max_attempts",
    "max_elapsed",
];
const FAULT_KEYS: &[&str] = &[
    "kind", "target", "instance", "at", "downtime", "mtbf", "mttr", "start", "duration", "failure",
    "slowdown", "between", "factor",
];
const NETWORK_KEYS: &[&str] = &["latency", "loss", "duplicate"];
const BREAKER_KEYS: &[&str] = &[
    "failure_rate_threshold",
    "minimum_calls",
    "window",
    "open_wait",
    "half_open_calls",
    "window_kind",
    "window_duration",
];
const BUDGET_KEYS: &[&str] = &[
    "kind",
    "max_tokens",
    "token_ratio",
    "percent",
    "min_retries_per_sec",
    "ttl",
];
const EXPECT_KEYS: &[&str] = &[
    "lost",
    "lost_rate_max",
    "duplicate_rate_max",
    "dead_letter_rate_max",
    "p99_latency_max",
    "p50_latency_max",
    "mean_latency_max",
    "recovers_within",
    "recovers",
    "recovers_in",
    "delivered_min",
    "variants",
];

fn keys_for(path: &[Seg]) -> &'static [&'static str] {
    let last = path.iter().rev().find_map(|s| match s {
        Seg::K(k) => Some(k.as_str()),
        Seg::I(_) => None,
    });
    match last {
        None => ROOT_KEYS,
        Some("simulation") => SIM_KEYS,
        Some("producer") => PRODUCER_KEYS,
        Some("arrival") => ARRIVAL_KEYS,
        Some("queue") => QUEUE_KEYS,
        Some("consumer") => CONSUMER_KEYS,
        Some("service" | "latency" | "mttr") => DIST_KEYS,
        Some("retry") => RETRY_KEYS,
        Some("fault") => FAULT_KEYS,
        Some("network") => NETWORK_KEYS,
        Some("breaker") => BREAKER_KEYS,
        Some("retry_budget") => BUDGET_KEYS,
        Some("expect") => EXPECT_KEYS,
        Some("redrive") => &["start", "rate"],
        Some("idempotency") => &["window"],
        Some("variant") => &["name", "set", "expect"],
        _ => CONSUMER_KEYS,
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Seg {
    K(String),
    I(usize),
}

fn all_paths(v: &toml::Value, here: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    out.push(here.clone());
    match v {
        toml::Value::Table(t) => {
            for (k, x) in t {
                here.push(Seg::K(k.clone()));
                all_paths(x, here, out);
                here.pop();
            }
        }
        toml::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                here.push(Seg::I(i));
                all_paths(x, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn get_mut<'a>(v: &'a mut toml::Value, path: &[Seg]) -> Option<&'a mut toml::Value> {
    let mut v = v;
    for s in path {
        v = match s {
            Seg::K(k) => v.as_table_mut()?.get_mut(k)?,
            Seg::I(i) => v.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some(v)
}

/// Values of the right type for a key (and a few just out of range), so
/// that mutations get past the type checks into validation and the model.
fn typed_values(key: &str) -> Vec<toml::Value> {
    let vals: &[&str] = match key {
        "duration" | "warmup" | "drain" | "sample_interval" | "confirm_timeout" | "ttl"
        | "timeout" | "ack_timeout" | "fsync_interval" | "dedup_window" | "at" | "downtime"
        | "mtbf" | "start" | "base" | "delay" | "step" | "cap" | "max_elapsed" | "window"
        | "open_wait" | "window_duration" | "mean" | "sd" | "min" | "max" | "p99_latency_max"
        | "p50_latency_max" | "mean_latency_max" | "recovers_within" => &[
            "\"0s\"", "\"1ns\"", "\"0.4ns\"", "\"1ms\"", "\"1s\"", "\"30s\"", "\"1m\"", "\"1h\"",
            "\"36499d\"", "\"36500d\"", "\"36501d\"", "\"1000y\"", "\"99999999d\"", "\"\"",
            "\"auto\"", "0", "1e-9", "0.5", "60", "-1", "nan", "inf", "1e300",
        ],
        "rate" => &["1e-9", "0.001", "1", "50", "1e3", "1e9", "1.0000001e9", "0", "-0.0", "-1", "nan", "inf", "1e308"],
        "failure" | "poison" | "non_retryable" | "loss" | "duplicate" | "lost_rate_max"
        | "duplicate_rate_max" | "dead_letter_rate_max" | "failure_rate_threshold" => {
            &["0", "1", "0.0", "1.0", "0.5", "1e-9", "0.999999", "-0.0", "1.0000001", "nan", "inf", "-1"]
        }
        "count" | "prefetch" | "concurrency" | "max_deliveries" | "replications"
        | "max_attempts" | "minimum_calls" | "half_open_calls" | "instance" | "lost"
        | "delivered_min" => &["0", "1", "2", "3", "100", "100000", "100001", "4294967295", "-1"],
        "capacity" => &["0", "1", "2", "1000", "9223372036854775807", "-1"],
        "seed" => &["0", "1", "9223372036854775807", "-1"],
        "shape" | "multiplier" | "slowdown" | "max_tokens" | "token_ratio" | "percent"
        | "min_retries_per_sec" | "factor" | "recovers_in" | "orbit_bound" => &[
            "1e-9", "0.001", "0.05", "1", "1.0000001", "2", "2.5", "3", "1000", "1e6", "1e300",
            "0", "-1", "nan", "inf",
        ],
        "process" => &[
            "\"poisson\"", "\"constant\"", "\"schedule\"", "\"exponential\"", "\"pareto\"",
            "\"lognormal\"", "\"uniform\"", "\"weibull\"", "\"gamma\"", "\"erlang\"", "\"normal\"",
            "\"poison\"",
        ],
        "dist" => &[
            "\"exponential\"", "\"constant\"", "\"uniform\"", "\"normal\"", "\"lognormal\"",
            "\"erlang\"", "\"gamma\"", "\"weibull\"", "\"pareto\"", "\"exponentail\"",
        ],
        "preset" => &[
            "\"sqs\"", "\"rabbitmq-quorum\"", "\"rabbitmq-classic\"", "\"kafka-retry-topics\"",
            "\"nats-jetstream\"", "\"pubsub\"", "\"celery\"", "\"sidekiq\"", "\"sqs-fifo\"",
        ],
        "overflow" => &["\"reject-publish\"", "\"drop-head\"", "\"dead-letter\"", "\"drop-tail\""],
        "ttl_mode" => &["\"head\"", "\"anywhere\""],
        "crash_requeue" => &["\"immediate\"", "\"ack-timeout\""],
        "ack" => &["\"after-processing\"", "\"on-receive\""],
        "retry_mode" => &[
            "\"requeue\"", "\"delay\"", "\"retry-queues\"", "\"in-handler\"", "\"ack-timeout\"",
            "\"none\"",
        ],
        "confirm" => &["\"none\"", "\"on-accept\"", "\"after-fsync\""],
        "kind" => &[
            "\"consumer-crash\"", "\"broker-crash\"", "\"producer-crash\"", "\"dependency-outage\"",
            "\"partition\"", "\"load-spike\"", "\"token-bucket\"", "\"percent\"",
        ],
        "backoff" => &["\"none\"", "\"fixed\"", "\"linear\"", "\"exponential\"", "\"list\"", "\"sidekiq\""],
        "jitter" => &["\"none\"", "\"full\"", "\"equal\"", "\"decorrelated\"", "\"random\""],
        "window_kind" => &["\"count\"", "\"time\""],
        "persistent" | "outbox" | "dead_letter" | "durable" | "recovers" => &["true", "false"],
        "name" | "queue" | "publish_to" | "target" => &[
            "\"orders\"", "\"payments\"", "\"queue\"", "\"order-service\"", "\"checkout\"",
            "\"consumer:order-service\"", "\"consumer:payment-service\"", "\"consumer:consumer-2\"",
            "\"producer:web\"", "\"producer:checkout\"", "\"broker\"", "\"\"",
        ],
        "between" => &[
            "[\"consumer:order-service\", \"broker\"]", "[\"producer:web\", \"broker\"]",
            "[\"broker\"]", "[\"broker\", \"broker\"]", "[]",
        ],
        "schedule" => &[
            "[{ at = \"0s\", rate = 1e9 }]", "[{ at = \"0s\", rate = 0 }]",
            "[{ at = \"0s\", rate = 1 }, { at = \"30s\", rate = 1e-9 }, { at = \"36499d\", rate = 5 }]",
            "[{ at = \"1m\", rate = 1 }, { at = \"1m\", rate = 1 }]", "[]",
        ],
        "delays" => &["[\"0s\"]", "[\"1ns\", \"36499d\"]", "[]", "[\"1000y\"]"],
        "service" | "latency" | "mttr" => &[
            "{ dist = \"constant\", mean = \"0s\" }", "{ dist = \"exponential\", mean = \"1ns\" }",
            "{ dist = \"pareto\", mean = \"10ms\", shape = 1.0000001 }",
            "{ dist = \"normal\", mean = \"1ms\", sd = \"36499d\" }",
            "{ dist = \"uniform\", min = \"0s\", max = \"0s\" }",
            "{ dist = \"weibull\", mean = \"10ms\", shape = 0.05 }",
            "{ dist = \"gamma\", mean = \"10ms\", shape = 1e6 }",
            "{ dist = \"lognormal\", mean = \"10ms\", sd = \"1h\" }",
            "{ dist = \"constant\", mean = \"36499d\" }",
        ],
        "retry" => &[
            "{ backoff = \"none\" }", "{ backoff = \"exponential\", base = \"1ns\", multiplier = 1e300, cap = \"36499d\" }",
            "{ backoff = \"exponential\", base = \"1ms\", cap = \"1s\", jitter = \"decorrelated\" }",
            "{ backoff = \"sidekiq\", max_attempts = 2 }", "{ backoff = \"list\", delays = [\"0s\"] }",
            "{ backoff = \"linear\", base = \"0s\", step = \"0s\", jitter = \"random\" }",
            "{ backoff = \"fixed\", delay = \"1ns\", max_elapsed = \"1ns\" }",
        ],
        "retry_budget" => &[
            "{ kind = \"token-bucket\", max_tokens = 1000, token_ratio = 0.001 }",
            "{ kind = \"percent\", percent = 0 }", "{ kind = \"percent\", percent = 1000, min_retries_per_sec = 0, ttl = \"1s\" }",
        ],
        "breaker" => &[
            "{}", "{ failure_rate_threshold = 1, minimum_calls = 1, window = 1, open_wait = \"1ns\", half_open_calls = 1 }",
            "{ window_kind = \"time\", window_duration = \"1s\" }",
        ],
        "idempotency" => &["{ window = \"1ns\" }", "{ window = \"36499d\" }", "{ window = \"0s\" }"],
        "redrive" => &["{ start = \"0s\", rate = 1e9 }", "{ start = \"36499d\", rate = 1e-9 }", "{ start = \"1s\", rate = 0 }"],
        "network" => &["{ loss = 0.5, duplicate = 0.5, latency = { dist = \"constant\", mean = \"0s\" } }", "{}"],
        "fault" => &[
            "[{ kind = \"broker-crash\", at = \"0s\", downtime = \"36499d\" }]",
            "[{ kind = \"consumer-crash\", mtbf = \"1ns\", mttr = { dist = \"constant\", mean = \"0s\" } }]",
            "[{ kind = \"producer-crash\", mtbf = \"1s\", mttr = { dist = \"exponential\", mean = \"1s\" } }]",
            "[{ kind = \"partition\", between = [\"consumer:order-service\", \"broker\"], mtbf = \"1s\", mttr = { dist = \"constant\", mean = \"1ns\" } }]",
            "[{ kind = \"dependency-outage\", start = \"0s\", duration = \"36499d\", failure = 1, slowdown = 1e6 }]",
            "[{ kind = \"consumer-crash\", instance = 99, at = \"1s\", downtime = \"1s\" }]",
        ],
        _ => &["1", "\"x\"", "true"],
    };
    vals.iter().map(|v| parse_value(v)).collect()
}

/// The key a path ends in (`None` for an array element or the root).
fn last_key(p: &[Seg]) -> Option<&str> {
    match p.last() {
        Some(Seg::K(k)) => Some(k),
        _ => None,
    }
}

/// One mutation: (operation, three random indices).
type Op = (u8, usize, usize, usize);

fn mutate(base: &str, ops: &[Op], hostile: &[toml::Value]) -> String {
    let mut root = toml::Value::Table(toml::from_str(base).expect("bundled scenario parses"));
    for &(op, a, b, c) in ops {
        let mut paths = Vec::new();
        all_paths(&root, &mut Vec::new(), &mut paths);
        let n = paths.len();
        match op % 8 {
            // Delete a key or an element.
            0 => {
                if n > 1 {
                    let p = &paths[1 + a % (n - 1)];
                    let (last, parent) = p.split_last().unwrap();
                    if let Some(par) = get_mut(&mut root, parent) {
                        match (par, last) {
                            (toml::Value::Table(t), Seg::K(k)) => {
                                t.remove(k);
                            }
                            (toml::Value::Array(arr), Seg::I(i)) if *i < arr.len() => {
                                arr.remove(*i);
                            }
                            _ => {}
                        }
                    }
                }
            }
            // Replace a value with a hostile one, or one of its type.
            1 | 6 | 7 => {
                if n > 1 {
                    let p = paths[1 + a % (n - 1)].clone();
                    let v = match last_key(&p) {
                        Some(k) if op % 8 != 1 => {
                            let t = typed_values(k);
                            t[b % t.len()].clone()
                        }
                        _ => hostile[b % hostile.len()].clone(),
                    };
                    if let Some(x) = get_mut(&mut root, &p) {
                        *x = v;
                    }
                }
            }
            // Insert a known key (of this kind of table) with a hostile value.
            2 | 3 => {
                let tables: Vec<&Vec<Seg>> = paths
                    .iter()
                    .filter(|p| matches!(get_ref(&root, p), Some(toml::Value::Table(_))))
                    .collect();
                let p = tables[a % tables.len()].clone();
                let keys = keys_for(&p);
                let key = keys[b % keys.len()];
                let val = if c % 3 == 0 {
                    hostile[c / 3 % hostile.len()].clone()
                } else {
                    let t = typed_values(key);
                    t[c / 3 % t.len()].clone()
                };
                if let Some(toml::Value::Table(t)) = get_mut(&mut root, &p) {
                    t.insert(key.to_string(), val);
                }
            }
            // Duplicate an element of an array (duplicate names, sections).
            4 => {
                let arrays: Vec<&Vec<Seg>> = paths
                    .iter()
                    .filter(|p| matches!(get_ref(&root, p), Some(toml::Value::Array(a)) if !a.is_empty()))
                    .collect();
                if !arrays.is_empty() {
                    let p = arrays[a % arrays.len()].clone();
                    if let Some(toml::Value::Array(arr)) = get_mut(&mut root, &p) {
                        let x = arr[b % arr.len()].clone();
                        arr.push(x);
                    }
                }
            }
            // publish_to: point a consumer at some queue (own queue = cycle).
            _ => {
                let names: Vec<String> = root
                    .get("queue")
                    .and_then(|q| q.as_array())
                    .map(|qs| {
                        qs.iter()
                            .map(|q| {
                                q.get("name")
                                    .and_then(|n| n.as_str())
                                    .unwrap_or("queue")
                                    .to_string()
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(toml::Value::Array(cs)) = root.get_mut("consumer") {
                    if !cs.is_empty() && !names.is_empty() {
                        let k = a % cs.len();
                        if let Some(t) = cs[k].as_table_mut() {
                            t.insert(
                                "publish_to".into(),
                                toml::Value::String(names[b % names.len()].clone()),
                            );
                        }
                    }
                }
            }
        }
    }
    match root {
        toml::Value::Table(t) => {
            toml::to_string(&t).unwrap_or_else(|e| format!("# could not serialise: {e}\n"))
        }
        _ => unreachable!(),
    }
}

fn get_ref<'a>(v: &'a toml::Value, path: &[Seg]) -> Option<&'a toml::Value> {
    let mut v = v;
    for s in path {
        v = match s {
            Seg::K(k) => v.as_table()?.get(k)?,
            Seg::I(i) => v.as_array()?.get(*i)?,
        };
    }
    Some(v)
}

/// Raw text edits: (kind, position, argument).
fn edit_text(base: &str, edits: &[(u8, usize, usize)]) -> String {
    const JUNK: &[&str] = &[
        "[",
        "]",
        "[[",
        "]]",
        "{",
        "}",
        "=",
        "\"",
        "'",
        "\"\"\"",
        ",",
        ".",
        "\n",
        "#",
        "\\",
        "nan",
        "inf",
        "-",
        "+",
        "0x",
        "1e999",
        "é",
        "\u{0}",
        "\r",
        "\t",
        "[[queue]]\n",
        "[simulation]\n",
        "name = \"orders\"\n",
        "count = 0\n",
        "a.b.c = 1\n",
    ];
    let mut s: Vec<char> = base.chars().collect();
    for &(kind, pos, arg) in edits {
        let len = s.len();
        let at = if len == 0 { 0 } else { pos % (len + 1) };
        match kind % 4 {
            0 => {
                let j: Vec<char> = JUNK[arg % JUNK.len()].chars().collect();
                s.splice(at..at, j);
            }
            1 => {
                let end = (at + 1 + arg % 40).min(len);
                if at < end {
                    s.drain(at..end);
                }
            }
            2 => {
                // Duplicate the line at `at`.
                let text: String = s.iter().collect();
                let lines: Vec<&str> = text.split('\n').collect();
                let li = at % lines.len();
                let mut v: Vec<String> = lines.iter().map(|x| x.to_string()).collect();
                v.insert(li, lines[li].to_string());
                s = v.join("\n").chars().collect();
            }
            _ => {
                if at < len {
                    s[at] = char::from_u32((arg % 0x250) as u32).unwrap_or('?');
                }
            }
        }
    }
    s.into_iter().collect()
}

// ------------------------------------------------------------- properties

proptest! {
    #![proptest_config(config(1000, 0x10ad_0001))]

    /// Arbitrary strings (any unicode) and arbitrary bytes read lossily.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}", bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        assert_property(&text, &[]);
        let lossy = String::from_utf8_lossy(&bytes).into_owned();
        assert_property(&lossy, &[]);
    }

    /// TOML-looking text: fragments of keys, values and brackets.
    #[test]
    fn tomlish_text_never_panics(parts in proptest::collection::vec(
        prop_oneof![
            Just("[simulation]\n"), Just("[[producer]]\n"), Just("[[queue]]\n"), Just("[[consumer]]\n"),
            Just("[network]\n"), Just("[[fault]]\n"), Just("[expect]\n"), Just("[[variant]]\n"),
            Just("arrival = { process = \"poisson\", rate = 1 }\n"), Just("duration = \"1m\"\n"),
            Just("name = \"a\"\n"), Just("name = \"a\"\n"), Just("count = 0\n"), Just("rate = nan\n"),
            Just("x = ["), Just("]"), Just("{"), Just("}"), Just("\""), Just("="), Just("\n"),
            Just("a.b.c.d = 1\n"), Just("queue = \"queue\"\n"), Just("publish_to = \"queue\"\n"),
            Just("service = { dist = \"constant\", mean = \"0s\" }\n"), Just("capacity = 0\n"),
            Just("kind = \"broker-crash\"\n"), Just("at = \"1s\"\ndowntime = \"1s\"\n"),
        ], 0..40)) {
        let text: String = parts.concat();
        assert_property(&text, &[]);
    }

}

proptest! {
    #![proptest_config(config(4000, 0x10ad_0002))]

    /// Structured mutations of the bundled scenarios: deleted keys, values
    /// of the wrong type, NaN and infinities, huge and tiny numbers, long
    /// strings, nested arrays, duplicated sections and publish_to cycles.
    #[test]
    fn mutated_scenarios_load_or_fail_located(
        base in 0usize..BASES.len(),
        ops in proptest::collection::vec((0u8..8, any::<usize>(), any::<usize>(), any::<usize>()), 1..6),
    ) {
        let hostile = hostile_values();
        let text = mutate(BASES[base], &ops, &hostile);
        assert_property(&text, &[]);
    }

}

proptest! {
    #![proptest_config(config(2000, 0x10ad_0003))]

    /// Raw text edits of the bundled scenarios (syntax errors anywhere).
    #[test]
    fn edited_text_loads_or_fails_located(
        base in 0usize..BASES.len(),
        edits in proptest::collection::vec((0u8..4, any::<usize>(), any::<usize>()), 1..5),
    ) {
        let text = edit_text(BASES[base], &edits);
        assert_property(&text, &[]);
    }

    /// `--set` with any path and any value on a valid scenario.
    #[test]
    fn arbitrary_overrides_never_panic(
        base in 0usize..BASES.len(),
        path in prop_oneof![
            "[a-z_.0-9]{0,30}",
            Just("consumer.failure".to_string()), Just("consumer.count".to_string()),
            Just("queue.orders.capacity".to_string()), Just("producer.arrival.rate".to_string()),
            Just("simulation.duration".to_string()), Just("consumer.retry.backoff".to_string()),
            Just("fault.0.at".to_string()), Just("queue.9.ttl".to_string()), Just("network.loss".to_string()),
            Just("consumer.order-service.publish_to".to_string()), Just("simulation".to_string()),
            Just("consumer".to_string()), Just("consumer..count".to_string()), Just("simulation.name.x".to_string()),
        ],
        value in prop_oneof![
            "\\PC{0,20}",
            Just("nan".to_string()), Just("inf".to_string()), Just("-1".to_string()), Just("0".to_string()),
            Just("1e9".to_string()), Just("1e-9".to_string()), Just("\"1000y\"".to_string()), Just("true".to_string()),
            Just("[1, 2]".to_string()), Just("{ dist = \"constant\", mean = \"1s\" }".to_string()),
            Just("orders".to_string()), Just("99999999999999999999".to_string()),
        ],
        eq in any::<bool>(),
    ) {
        let arg = if eq { format!("{path}={value}") } else { format!("{path}{value}") };
        assert_property(BASES[base], &[arg.as_str()]);
    }
}

// ------------------------------------------------------- named edge classes

#[test]
fn rate_1e9_is_accepted_and_above_is_rejected() {
    // 1e9 per second is the documented maximum: the loader accepts it (the
    // resource guard, not the loader, then refuses long runs).
    ok_of(&tpl("", "{ process = \"poisson\", rate = 1e9 }", "", ""));
    ok_of(&tpl("", "{ process = \"constant\", rate = 1e9 }", "", ""));
    ok_of(&tpl(
        "",
        "{ process = \"schedule\", schedule = [{ at = \"0s\", rate = 1e9 }] }",
        "",
        "",
    ));
    for bad in ["1.000001e9", "1e10", "1e308"] {
        assert_rejected(
            &tpl(
                "",
                &format!("{{ process = \"poisson\", rate = {bad} }}"),
                "",
                "",
            ),
            "producer[0].arrival.rate",
            "at most 1e9",
        );
    }
}

#[test]
fn rate_1e_minus_9_is_accepted_and_publishes_nothing_in_a_minute() {
    for p in ["poisson", "constant"] {
        let s = ok_of(&tpl(
            "",
            &format!("{{ process = \"{p}\", rate = 1e-9 }}"),
            "",
            "",
        ));
        let m = model::compile(&s).unwrap();
        let out = mqsim::sim::run(&m, 1, 0, Limits::default());
        // A constant process publishes its first message at t = 0 or after
        // one interval; either way at most one in a minute.
        assert!(out.stats.published <= 1, "{p}: {}", out.stats.published);
    }
    ok_of(&tpl(
        "",
        "{ process = \"schedule\", schedule = [{ at = \"0s\", rate = 1e-9 }] }",
        "",
        "",
    ));
    for bad in ["0", "0.0", "-0.0", "-1e-9", "-1"] {
        assert_rejected(
            &tpl(
                "",
                &format!("{{ process = \"poisson\", rate = {bad} }}"),
                "",
                "",
            ),
            "producer[0].arrival.rate",
            "must be above 0",
        );
    }
}

#[test]
fn durations_up_to_100_years_are_accepted_and_longer_rejected() {
    // Exactly 100 years with no drain is the limit.
    ok_of(
        &tpl("", "{ process = \"poisson\", rate = 1e-6 }", "", "").replace(
            "duration = \"1m\"\ndrain = \"10s\"",
            "duration = \"36500d\"\ndrain = \"0s\"",
        ),
    );
    ok_of(&tpl(
        "",
        POISSON,
        "ack_timeout = \"36499d\"\nttl = \"36500d\"\ndedup_window = \"36500d\"",
        "",
    ));
    let e = err_of(
        &tpl("", POISSON, "", "").replace(
            "duration = \"1m\"\ndrain = \"10s\"",
            "duration = \"36500d\"\ndrain = \"1ns\"",
        ),
        &[],
    );
    assert!(e.to_string().contains("100 years"), "{e}");
    for (bad, says) in [
        ("\"1000y\"", "unknown unit `y`"),
        ("\"99999999d\"", "100-year limit"),
        ("\"36501d\"", "100-year limit"),
        ("\"1e400s\"", "unknown unit"),
        ("\"-1s\"", "cannot be negative"),
        ("\"\"", "not a duration"),
        ("1e300", "not a finite duration"),
        ("-5", "cannot be negative"),
        ("nan", "not a finite duration"),
        ("inf", "not a finite duration"),
        ("true", "duration"),
    ] {
        let text = tpl("", POISSON, &format!("ack_timeout = {bad}"), "");
        assert_rejected(&text, "queue[0].ack_timeout", says);
    }
    // A duration that rounds to zero where zero is not allowed.
    assert_rejected(
        &tpl("", POISSON, "ack_timeout = \"0.4ns\"", ""),
        "queue[0].ack_timeout",
        "longer than zero",
    );
    assert_rejected(
        &tpl("", POISSON, "", "").replace("\"1m\"", "\"0s\""),
        "simulation.duration",
        "longer than zero",
    );
}

#[test]
fn probabilities_exactly_0_and_1_are_accepted_outside_rejected() {
    for p in ["0", "0.0", "1", "1.0"] {
        ok_of(&tpl(
            "",
            POISSON,
            "max_deliveries = 2",
            &format!("failure = {p}\npoison = {p}\nnon_retryable = {p}"),
        ));
    }
    ok_of(&format!(
        "{}\n[network]\nloss = 0.0\nduplicate = 1.0\n",
        tpl("", POISSON, "", "")
    ));
    ok_of(&format!("{}\n[[fault]]\nkind = \"dependency-outage\"\nstart = \"1s\"\nduration = \"1s\"\nfailure = 1.0\n",
        tpl("", POISSON, "", "")));
    // loss = 1 is rejected on purpose, with advice.
    assert_rejected(
        &format!("{}\n[network]\nloss = 1.0\n", tpl("", POISSON, "", "")),
        "network.loss",
        "partition",
    );
    for bad in ["-0.000001", "1.0000001", "2", "nan", "inf", "-inf"] {
        assert_rejected(
            &tpl("", POISSON, "", &format!("failure = {bad}")),
            "consumer[0].failure",
            "not a probability",
        );
    }
}

/// Capacity 0 is accepted and means "no message may wait": a publish gets
/// through only when a consumer has a free prefetch slot; the rest overflow.
#[test]
fn capacity_zero_is_accepted_and_only_direct_deliveries_pass() {
    for overflow in ["reject-publish", "drop-head"] {
        for (svc, slow) in [("10ms", false), ("1s", true)] {
            let text = tpl(
                "",
                POISSON,
                &format!("capacity = 0\noverflow = \"{overflow}\""),
                &format!("service = {{ dist = \"exponential\", mean = \"{svc}\" }}"),
            );
            let s = ok_of(&text);
            let m = model::compile(&s).unwrap();
            let st = mqsim::sim::run(&m, 1, 0, Limits::default()).stats;
            assert!(st.published > 100);
            assert!(
                st.acked > 0,
                "{overflow} {svc}: free consumers still take messages"
            );
            let overflowed = st.rejected + st.lost;
            if slow {
                assert!(
                    overflowed > st.published / 2,
                    "{overflow} {svc}: {overflowed} of {}",
                    st.published
                );
            }
            assert_eq!(
                st.published,
                st.acked + overflowed + st.in_flight + st.dead_lettered + st.expired
            );
        }
    }
    assert_rejected(
        &tpl("", POISSON, "capacity = -1", ""),
        "queue[0].capacity",
        "",
    );
}

/// Regression (fixed in 6142077): overflow = "dead-letter" on a full queue
/// panicked (tests/corpus/overflow_dead_letter_full_queue.toml).
#[test]
fn capacity_zero_with_dead_letter_overflow_runs() {
    let s = ok_of(&tpl(
        "",
        POISSON,
        "capacity = 0\noverflow = \"dead-letter\"",
        "",
    ));
    let m = model::compile(&s).unwrap();
    let st = mqsim::sim::run(&m, 1, 0, Limits::default()).stats;
    assert!(st.dead_lettered > 0);
}

#[test]
fn zero_consumers_count_is_rejected() {
    for k in ["count", "prefetch", "concurrency"] {
        assert_rejected(
            &tpl("", POISSON, "", &format!("{k} = 0")),
            &format!("consumer[0].{k}"),
            "at least 1",
        );
        assert_rejected(
            &tpl("", POISSON, "", &format!("{k} = 100001")),
            &format!("consumer[0].{k}"),
            "at most 100000",
        );
        assert_rejected(
            &tpl("", POISSON, "", &format!("{k} = -1")),
            &format!("consumer[0].{k}"),
            "",
        );
        assert_rejected(
            &tpl("", POISSON, "", &format!("{k} = 4294967296")),
            &format!("consumer[0].{k}"),
            "",
        );
    }
    ok_of(&tpl("", POISSON, "", "count = 100000"));
}

/// NaN and both infinities in every float-valued key.
#[test]
fn nan_and_infinity_are_rejected_in_every_number_field() {
    let base = |extra_consumer: &str, extra_sections: &str| {
        format!("{}\n{extra_sections}", tpl("", POISSON, "", extra_consumer))
    };
    let cases: Vec<(String, &str)> = vec![
        (tpl("", "{ process = \"poisson\", rate = X }", "", ""), "producer[0].arrival.rate"),
        (tpl("", "{ process = \"constant\", rate = X }", "", ""), "producer[0].arrival.rate"),
        (tpl("", "{ process = \"schedule\", schedule = [{ at = \"0s\", rate = X }] }", "", ""), "producer[0].arrival.schedule[0].rate"),
        (tpl("", "{ process = \"gamma\", mean = \"1s\", shape = X }", "", ""), "producer[0].arrival.shape"),
        (tpl("", "{ process = \"exponential\", mean = X }", "", ""), "producer[0].arrival.mean"),
        (tpl("", POISSON, "", ""), "simulation.seed"),
        (tpl("", POISSON, "ack_timeout = X", ""), "queue[0].ack_timeout"),
        (tpl("", POISSON, "redrive = { start = \"1s\", rate = X }", ""), "queue[0].redrive.rate"),
        (tpl("", POISSON, "capacity = X", ""), "queue[0].capacity"),
        (base("failure = X", ""), "consumer[0].failure"),
        (base("poison = X", ""), "consumer[0].poison"),
        (base("non_retryable = X", ""), "consumer[0].non_retryable"),
        (base("service = { dist = \"weibull\", mean = \"1s\", shape = X }", ""), "consumer[0].service.shape"),
        (base("service = { dist = \"pareto\", mean = \"1s\", shape = X }", ""), "consumer[0].service.shape"),
        (base("service = { dist = \"erlang\", mean = \"1s\", shape = X }", ""), "consumer[0].service.shape"),
        (base("retry = { backoff = \"exponential\", base = \"1s\", multiplier = X }", ""), "consumer[0].retry.multiplier"),
        (base("retry_budget = { kind = \"token-bucket\", max_tokens = X, token_ratio = 0.1 }", ""), "consumer[0].retry_budget.max_tokens"),
        (base("retry_budget = { kind = \"token-bucket\", max_tokens = 1, token_ratio = X }", ""), "consumer[0].retry_budget.token_ratio"),
        (base("retry_budget = { kind = \"percent\", percent = X }", ""), "consumer[0].retry_budget.percent"),
        (base("retry_budget = { kind = \"percent\", percent = 0.1, min_retries_per_sec = X }", ""), "consumer[0].retry_budget.min_retries_per_sec"),
        (base("breaker = { failure_rate_threshold = X }", ""), "consumer[0].breaker.failure_rate_threshold"),
        (base("", "[network]\nloss = X"), "network.loss"),
        (base("", "[network]\nduplicate = X"), "network.duplicate"),
        (base("", "[[fault]]\nkind = \"dependency-outage\"\nstart = \"1s\"\nduration = \"1s\"\nfailure = X"), "fault[0].failure"),
        (base("", "[[fault]]\nkind = \"dependency-outage\"\nstart = \"1s\"\nduration = \"1s\"\nslowdown = X"), "fault[0].slowdown"),
        (base("", "[expect]\nlost_rate_max = X"), "expect.lost_rate_max"),
    ];
    for (text, key) in &cases {
        let text = if *key == "simulation.seed" {
            text.replace("[simulation]\n", "[simulation]\nseed = X\n")
        } else {
            text.clone()
        };
        for x in ["nan", "+nan", "-nan", "inf", "+inf", "-inf"] {
            let t = text.replace(" X", &format!(" {x}"));
            let e = err_of(&t, &[]);
            assert!(
                e.to_string().contains(key),
                "{x} in {key}: error names another key: {e}"
            );
        }
    }
}

#[test]
fn huge_strings_are_rejected_quickly_with_a_location() {
    let big = "x".repeat(100_000);
    let started = std::time::Instant::now();
    for (text, key) in [
        (
            tpl(&format!("name = \"{big}\""), POISSON, "", ""),
            Some("simulation.name"),
        ),
        (
            tpl("", POISSON, &format!("name = \"{big}\""), ""),
            Some("queue[0].name"),
        ),
        (
            tpl("", POISSON, &format!("preset = \"{big}\""), ""),
            Some("queue[0].preset"),
        ),
        (
            tpl("", POISSON, "", &format!("queue = \"{big}\"")),
            Some("consumer[0].queue"),
        ),
        (
            tpl("", POISSON, "", &format!("{big} = 1")),
            Some("consumer[0]"),
        ),
        (
            tpl("", &format!("{{ process = \"{big}\" }}"), "", ""),
            Some("producer[0].arrival.process"),
        ),
        (
            tpl(
                "",
                POISSON,
                "",
                &format!("service = {{ dist = \"exponential\", mean = \"{big}\" }}"),
            ),
            Some("consumer[0].service.mean"),
        ),
        (format!("{}\n# {big}\n", tpl("", POISSON, "", "")), None),
        (
            format!("{}\nx = \"\"\"{big}", tpl("", POISSON, "", "")),
            Some(""),
        ),
    ] {
        match key {
            None => {
                ok_of(&text);
            }
            Some(k) => {
                let e = err_of(&text, &[]);
                assert!(e.to_string().contains(k), "{e:.300}");
            }
        }
    }
    // Every name, the simulation's too, is limited to 128 bytes (issue 19:
    // names are printed in reports and become file names).
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let e = err_of(
        &tpl("", POISSON, &format!("name = \"{}\"", "q".repeat(129)), ""),
        &[],
    );
    assert!(e.to_string().contains("1 to 128 bytes"), "{e}");
}

#[test]
fn duplicate_names_are_rejected_at_the_second() {
    let text = "[[producer]]\nqueue = \"a\"\narrival = { process = \"poisson\", rate = 1 }\n\
                [[queue]]\nname = \"a\"\n[[queue]]\nname = \"a\"\n[[consumer]]\nqueue = \"a\"\n";
    let e = assert_rejected(text, "queue[1].name", "already used");
    assert_eq!(e.line, Some(7), "{e}");
    let text = tpl("", POISSON, "", "name = \"c\"") + "[[consumer]]\nname = \"c\"\n";
    assert_rejected(&text, "consumer[1].name", "names must be unique");
    let text = tpl("", POISSON, "", "").replace("[[producer]]\n", "[[producer]]\nname = \"p\"\n")
        + "[[producer]]\nname = \"p\"\narrival = { process = \"poisson\", rate = 1 }\n";
    assert_rejected(&text, "producer[1].name", "already used");
    // Same name in different sections is fine.
    ok_of(
        &(tpl("", POISSON, "name = \"x\"", "name = \"x\"")
            .replace("[[producer]]\n", "[[producer]]\nname = \"x\"\n")),
    );
    // Duplicate TOML keys are a syntax error, located at the second.
    let e = err_of(&tpl("", POISSON, "capacity = 1\ncapacity = 2", ""), &[]);
    assert!(e.to_string().contains("not valid TOML"), "{e}");
    assert_eq!(e.line, Some(9), "{e}");
}

#[test]
fn publish_to_cycles_are_rejected() {
    let three = |to_c: &str| {
        format!(
            "[[producer]]\nqueue = \"a\"\narrival = {POISSON}\n\
             [[queue]]\nname = \"a\"\n[[queue]]\nname = \"b\"\n[[queue]]\nname = \"c\"\n\
             [[consumer]]\nqueue = \"a\"\npublish_to = \"b\"\n\
             [[consumer]]\nqueue = \"b\"\npublish_to = \"c\"\n\
             [[consumer]]\nqueue = \"c\"\n{to_c}\n"
        )
    };
    ok_of(&three(""));
    for to in ["a", "b", "c"] {
        let e = assert_rejected(
            &three(&format!("publish_to = \"{to}\"")),
            "publish_to",
            "cycle",
        );
        assert!(e.line.is_some());
    }
    // Self-loop on a single queue.
    assert_rejected(
        &tpl("", POISSON, "", "publish_to = \"queue\""),
        "consumer[0].publish_to",
        "cycle",
    );
    // Unknown target.
    assert_rejected(
        &tpl("", POISSON, "", "publish_to = \"nowhere\""),
        "consumer[0].publish_to",
        "no queue is named",
    );
}

#[test]
fn set_with_a_bad_path_or_a_wrong_type_names_the_set() {
    let base = tpl("", POISSON, "name = \"orders\"", "");
    for (set, needle) in [
        ("consumer.failure=abc", "--set consumer.failure=abc"),
        ("consumer.failure=nan", "not a probability"),
        ("consumer.count=0", "at least 1"),
        ("consumer.count=-1", "--set consumer.count=-1"),
        ("consumer.count=1.5", "--set consumer.count=1.5"),
        ("consumer.nosuchkey=1", "unknown key"),
        (
            "queue.orders.capacity=\"big\"",
            "--set queue.orders.capacity",
        ),
        ("queue.7.capacity=1", "out of range"),
        ("simulation.duration=1000y", "unknown unit"),
        ("simulation.duration.x=1", "holds a value"),
        ("simulation=1", "--set simulation=1"),
        ("consumer=1", "names a whole section"),
        ("fault.kind=broker-crash", "no [[fault]]"),
        ("nosuchsection.x=1", "unknown key"),
        ("consumer..count=1", "empty part"),
        ("=1", "empty part"),
        ("consumer.count", "KEY=VALUE"),
        ("producer.arrival.rate=inf", "at most 1e9"),
        ("consumer.publish_to=orders", "cycle"),
    ] {
        let e = err_of(&base, &[set]);
        let shown = e.to_string();
        assert!(shown.starts_with(LABEL), "{shown}");
        assert!(
            shown.contains(needle),
            "--set {set}: expected `{needle}` in: {shown}"
        );
        assert!(
            shown.contains("--set"),
            "--set {set}: the error does not name the --set: {shown}"
        );
    }
    // A good --set still loads.
    ok_of_with(&base, &["consumer.failure=0.5", "queue.orders.capacity=10"]);
}

fn ok_of_with(text: &str, sets: &[&str]) {
    if let Err(e) = load(text, sets) {
        panic!("expected Ok with {sets:?}, got {e}");
    }
}

#[test]
fn deep_nesting_fails_cleanly_without_overflowing_the_stack() {
    // The toml crate stops at depth 80 (arrays, inline tables, dotted keys).
    for n in [79usize, 80, 1_000, 10_000, 100_000] {
        let arrays = format!("x = {}{}\n", "[".repeat(n), "]".repeat(n));
        let tables = format!("x = {}{}\n", "{a=".repeat(n), "}".repeat(n));
        let headers = format!("{}\n", "[".repeat(n));
        for t in [arrays, tables, headers] {
            let e = err_of(&t, &[]);
            assert!(e.line.is_some(), "{e:.200}");
        }
    }
}

/// Dotted keys and table headers of 81 or more parts are refused by the
/// toml crate with "recursion limit" and no span, so the message has no
/// line and column (the loader could fall back to the line of the key).
#[test]
fn deep_dotted_keys_fail_with_the_file_label() {
    for n in [81usize, 1_000, 100_000] {
        let key = vec!["a"; n].join(".");
        for t in [format!("{key} = 1\n"), format!("[{key}]\n")] {
            let e = load(&t, &[]).expect_err("refused");
            assert!(e.to_string().starts_with(LABEL), "{e:.200}");
            assert!(e.message.contains("recursion limit"), "{e:.200}");
        }
    }
}

#[test]
fn deep_dotted_keys_fail_with_a_location() {
    let t = format!("[simulation]\n{} = 1\n", vec!["a"; 81].join("."));
    let e = load(&t, &[]).expect_err("refused");
    check_error(&t, &e).unwrap();
}

// ---------------------------------------------------------------------- CLI

fn temp_dir(tag: &str) -> common::TempDir {
    common::TempDir::new(tag)
}

struct CliRun {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn mqsim(args: &[&str], cwd: &Path) -> CliRun {
    use std::io::Read;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mqsim"))
        .args(args)
        .current_dir(cwd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run mqsim");
    // Drain both pipes as the child writes (a message may exceed a pipe's buffer).
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out_t = drain(Box::new(child.stdout.take().unwrap()));
    let err_t = drain(Box::new(child.stderr.take().unwrap()));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("HANG: mqsim {args:?} in {} ran for 30 s", cwd.display());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    CliRun {
        code: status.code(),
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    }
}

fn dir_is_empty(d: &Path) -> bool {
    !d.exists()
        || std::fs::read_dir(d)
            .map(|mut r| r.next().is_none())
            .unwrap_or(true)
}

/// Writes `text` as bad.toml, runs `mqsim run bad.toml --out out/ <extra>`,
/// and checks: exit 2, `bad.toml:LINE:COL` (or the --set) on stderr,
/// nothing on stdout, nothing written.
fn cli_rejects(text: &str, extra: &[&str], expect_in_stderr: &str) {
    let work = temp_dir("cli");
    let file = work.join("bad.toml");
    std::fs::write(&file, text).unwrap();
    let out = work.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let mut args = vec!["run", "bad.toml", "--out", "out", "-q"];
    args.extend_from_slice(extra);
    let r = mqsim(&args, &work);
    assert_eq!(
        r.code,
        Some(2),
        "exit code for {extra:?}; stderr: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains(expect_in_stderr),
        "stderr lacks `{expect_in_stderr}`: {}",
        r.stderr
    );
    assert!(
        r.stdout.trim().is_empty(),
        "something on stdout: {}",
        r.stdout
    );
    assert!(dir_is_empty(&out), "files written into --out for bad input");
    assert!(
        !work.join("output").exists(),
        "an output/ folder was created"
    );
    let names: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "stray files: {names:?}");
    let _ = std::fs::remove_dir_all(&work);
}

/// `bad.toml:L:C:` with numbers.
fn located(line: usize, col: usize) -> String {
    format!("bad.toml:{line}:{col}: ")
}

#[test]
fn cli_bad_input_exits_2_located_and_writes_nothing() {
    let good = tpl("", POISSON, "", "");
    // Control: the good scenario runs and writes its files.
    let work = temp_dir("cli-good");
    std::fs::write(work.join("good.toml"), &good).unwrap();
    let r = mqsim(&["run", "good.toml", "--out", "out", "-q"], &work);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(work.join("out/summary.json").exists());
    let _ = std::fs::remove_dir_all(&work);

    // Syntax error.
    cli_rejects("[simulation\n", &[], &located(1, 12));
    cli_rejects("[[queue]]\nname = \"a\n", &[], "bad.toml:2:");
    // Wrong type, unknown key, unknown value.
    cli_rejects(
        &tpl("", POISSON, "capacity = \"big\"", ""),
        &[],
        &located(8, 1),
    );
    cli_rejects(
        &tpl("", POISSON, "capacty = 3", ""),
        &[],
        "did you mean `capacity`",
    );
    cli_rejects(
        &tpl("", POISSON, "overflow = \"drop-tail\"", ""),
        &[],
        &located(8, 1),
    );
    // NaN, infinity, out of range, zero counts.
    cli_rejects(
        &tpl("", "{ process = \"poisson\", rate = nan }", "", ""),
        &[],
        &located(6, 34),
    );
    cli_rejects(&tpl("", POISSON, "", "failure = inf"), &[], &located(10, 1));
    cli_rejects(&tpl("", POISSON, "", "count = 0"), &[], &located(10, 1));
    // Durations.
    cli_rejects(
        &tpl("", POISSON, "ack_timeout = \"1000y\"", ""),
        &[],
        &located(8, 1),
    );
    cli_rejects(
        &tpl("", POISSON, "ttl = \"99999999d\"", ""),
        &[],
        &located(8, 1),
    );
    // Duplicate names and cycles.
    cli_rejects(
        &(tpl("", POISSON, "", "name = \"c\"") + "[[consumer]]\nname = \"c\"\n"),
        &[],
        &located(13, 1),
    );
    cli_rejects(
        &tpl("", POISSON, "", "publish_to = \"queue\""),
        &[],
        &located(10, 1),
    );
    // Huge strings.
    cli_rejects(
        &tpl(
            "",
            POISSON,
            &format!("preset = \"{}\"", "x".repeat(100_000)),
            "",
        ),
        &[],
        &located(8, 1),
    );
    // Missing sections: located at the start of the file or the table.
    cli_rejects("[simulation]\nduration = \"1m\"\n", &[], "bad.toml");
    // Deep nesting.
    cli_rejects(
        &format!("x = {}{}\n", "[".repeat(10_000), "]".repeat(10_000)),
        &[],
        "bad.toml:1:",
    );
    // --set: bad path, wrong type, bad value: named instead of a line.
    cli_rejects(
        &good,
        &["--set", "consumer.nosuchkey=1"],
        "in --set consumer.nosuchkey=1",
    );
    cli_rejects(
        &good,
        &["--set", "consumer.count=abc"],
        "in --set consumer.count=abc",
    );
    cli_rejects(
        &good,
        &["--set", "consumer.failure=2"],
        "in --set consumer.failure=2",
    );
    cli_rejects(
        &good,
        &["--set", "queue.3.capacity=1"],
        "in --set queue.3.capacity=1",
    );
    cli_rejects(&good, &["--set", "consumer.count"], "KEY=VALUE");
    cli_rejects(
        &good,
        &["--set", "simulation.duration.x=1"],
        "holds a value",
    );
}

#[test]
fn cli_missing_file_exits_2() {
    let work = temp_dir("cli-missing");
    let r = mqsim(&["run", "nope.toml", "--out", "out", "-q"], &work);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("nope.toml"), "{}", r.stderr);
    assert!(dir_is_empty(&work.join("out")));
    let _ = std::fs::remove_dir_all(&work);
}

// ------------------------------------------------------------------- corpus

/// Every file of tests/corpus/ starts with `# expect: ok` or
/// `# expect: error <text>`; bug_*.toml are valid scenarios that once broke
/// a simulation invariant (tests/robustness_invariants.rs runs them).
#[test]
fn corpus_files_load_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "corpus has {} files", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: no `# expect:` line", f.display()))
            .trim()
            .to_string();
        let label = f.file_name().unwrap().to_string_lossy().into_owned();
        let (t, l) = (text.clone(), label.clone());
        let res = guarded(&label, 20, move || {
            load_str(&t, &l, &LoadOptions::default())
        });
        match (expect.as_str(), res) {
            // bug_*.toml break the simulator: robustness_invariants runs
            // them (ignored while the bug stands); here they must load.
            ("ok", Ok(_)) if label.starts_with("bug_") => {}
            ("ok", Ok(s)) => {
                check_accepted(&text, s).unwrap_or_else(|m| panic!("{label}: {m}"));
            }
            ("ok", Err(e)) => panic!("{label}: expected ok, got {e}"),
            (exp, Ok(_)) => panic!("{label}: expected `{exp}`, but it loaded"),
            (exp, Err(e)) => {
                let needle = exp.strip_prefix("error").unwrap_or(exp).trim();
                let shown = e.to_string();
                assert!(shown.starts_with(&label), "{label}: {shown}");
                assert!(
                    shown.contains(needle),
                    "{label}: expected `{needle}` in {shown}"
                );
            }
        }
    }
}

/// serde's message ends with the key path (toml appends "in `a.b`"), and
/// `improve_serde_message` takes every backticked word after the bad one as
/// an allowed name, so the path shows up among the suggestions:
/// "unknown key `dist` (allowed: window, consumer.idempotency)".
#[test]
fn unknown_key_hint_lists_only_real_names() {
    let text = tpl(
        "",
        POISSON,
        "",
        "idempotency = { window = \"1s\", dist = \"x\" }",
    );
    let e = err_of(&text, &[]);
    assert!(e.message.contains("allowed: window"), "{e}");
    assert!(!e.message.contains("consumer.idempotency"), "{e}");
}

/// Values are echoed whole in messages: a 100 KB bad value gives a 100 KB
/// error line. Not wrong, but worth a cap; this only checks it is echoed at
/// most once or twice (no quadratic blow-up).
#[test]
fn huge_bad_values_are_echoed_at_most_twice() {
    let big = "x".repeat(100_000);
    let e = err_of(&tpl("", POISSON, &format!("preset = \"{big}\""), ""), &[]);
    assert!(
        e.to_string().len() < 2 * big.len() + 1000,
        "{}",
        e.to_string().len()
    );
}

/// An unknown arrival process lists each allowed word once (`constant` is
/// both a process and a law).
#[test]
fn an_unknown_arrival_process_lists_each_word_once() {
    let text = "[[producer]]\narrival = { process = \"poison\", rate = 1 }\n[[queue]]\nname = \"q\"\n[[consumer]]\n";
    let e = load(text, &[]).expect_err("poison is no process");
    let message = e.to_string();
    assert!(message.contains("did you mean `poisson`?"), "{message}");
    let allowed = message
        .split("(allowed: ")
        .nth(1)
        .expect("the allowed words");
    let words: Vec<&str> = allowed.trim_end_matches(')').split(", ").collect();
    let mut unique = words.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), words.len(), "{message}");
}
