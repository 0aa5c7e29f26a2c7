//! The simulator's builds (`src/sim/features.rs`) give the same results.
//!
//! A model that uses none of the optional parts runs on the `Core` build,
//! which is the `Full` build with those parts' branches compiled out. The
//! outcome must not depend on which build ran it: here every bundled
//! scenario that `Core` supports runs on both, and each replication's whole
//! record (metrics, time series, transitions, event count, latency CDF) is
//! compared as JSON, byte for byte. The same property on random scenarios is
//! in tests/robustness_invariants.rs (`core_and_full_builds_agree`).
//!
//! Run: cargo test --release --test builds

mod common;

use mqsim::experiment::{self, choose_warmup};
use mqsim::model::{self, Model};
use mqsim::rng::replication_seed;
use mqsim::sim::features::{Build, Core, Features, Uses};
use mqsim::sim::Limits;
use std::path::Path;

fn scenario_files() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files = Vec::new();
    for dir in [root.clone(), root.join("bench")] {
        for e in std::fs::read_dir(&dir).expect("scenarios/") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "toml") {
                files.push(p.display().to_string());
            }
        }
    }
    files.sort();
    files
}

/// Replication `r` on `build` (its warm-up, when automatic, chosen on the
/// same build), as JSON.
fn replication(m: &Model, r: u32, build: Build) -> String {
    let (warmup_ns, _) = choose_warmup(m, m.seed, Limits::default(), build);
    let rep = experiment::replicate(m, m.seed, r, warmup_ns, Limits::default(), build);
    serde_json::to_string(&rep).expect("json")
}

#[test]
fn every_bundled_scenario_core_supports_gives_the_same_results_on_both_builds() {
    let mut on_core = Vec::new();
    for path in scenario_files() {
        // 20000 simulated seconds: thousands to millions of messages, a
        // second of run time at most.
        let s = common::scenario_file(&path, &["simulation.duration=20000s"]);
        let m = model::compile(&s).expect("compiles");
        let uses = Uses::of(&m, false);
        assert_eq!(Build::Auto.takes_core(&uses), Core::supports(&uses));
        if !Core::supports(&uses) {
            continue;
        }
        for r in 0..2 {
            let core = replication(&m, r, Build::Auto);
            let full = replication(&m, r, Build::Full);
            assert!(
                core == full,
                "{path}, replication {r} (seed {}): the core and full builds differ",
                replication_seed(m.seed, r as u64)
            );
        }
        on_core.push(path);
    }
    // The bundled textbook and benchmark scenarios are core scenarios; if
    // this list shrinks, a change sent them to the full build.
    for name in [
        "mm1.toml",
        "mmc.toml",
        "mm1k.toml",
        "quickstart.toml",
        "reference.toml",
        "bench/mm1.toml",
        "bench/retry.toml",
    ] {
        assert!(
            on_core
                .iter()
                .any(|p| p.ends_with(&format!("scenarios/{name}"))),
            "scenarios/{name} no longer takes the core build (core: {on_core:?})"
        );
    }
}

/// Each optional part, used alone, sends a model to the full build (a model
/// that `Core` would run wrongly is never given to it).
#[test]
fn each_optional_part_takes_the_full_build() {
    let base = r#"
[simulation]
duration = "60s"
[[producer]]
arrival = { process = "poisson", rate = 5.0 }
[[queue]]
[[consumer]]
service = { dist = "exponential", mean = "50ms" }
"#;
    let m = model::compile(&common::scenario(base)).expect("compiles");
    assert!(Core::supports(&Uses::of(&m, false)));
    assert!(!Core::supports(&Uses::of(&m, true)), "tracing");
    let parts = [
        (
            "network",
            "\n[network]\nlatency = { dist = \"constant\", mean = \"1ms\" }\n",
        ),
        (
            "faults",
            "\n[[fault]]\nkind = \"consumer-crash\"\nat = \"10s\"\ndowntime = \"5s\"\n",
        ),
    ];
    for (what, extra) in parts {
        let m = model::compile(&common::scenario(&format!("{base}{extra}"))).expect("compiles");
        assert!(!Core::supports(&Uses::of(&m, false)), "{what}");
    }
    let sets = [
        (
            "keys",
            "producer.key={ dist = \"uniform-keys\", count = 10 }",
        ),
        (
            "publisher confirms",
            "producer.confirm=\"on-accept\"\nproducer.retry={ backoff = \"none\", max_attempts = 1 }",
        ),
        (
            "client timeout",
            "producer.timeout=\"5s\"\nproducer.retry={ backoff = \"none\", max_attempts = 1 }",
        ),
        ("outbox", "producer.outbox=true"),
        ("message ttl", "producer.ttl=\"5s\""),
        ("queue ttl", "queue.ttl=\"5s\""),
        ("dedup", "queue.dedup_window=\"5s\""),
        ("fifo by key", "queue.fifo_by_key=true"),
        ("poison", "consumer.poison=0.1"),
        ("non-retryable", "consumer.non_retryable=0.1"),
        ("idempotency", "consumer.idempotency={ window = \"1m\" }"),
        (
            "breaker",
            "consumer.breaker={ failure_rate_threshold = 0.5 }",
        ),
        (
            "consumer budget",
            "consumer.retry_budget={ kind = \"percent\", percent = 10 }",
        ),
        (
            "producer budget",
            "producer.retry_budget={ kind = \"percent\", percent = 10 }",
        ),
        (
            "lease extension (Pub/Sub's client)",
            "queue.preset=\"pubsub\"",
        ),
        ("crash returns after a delay", "queue.crash_requeue=\"45s\""),
        (
            "uncounted nacks (RabbitMQ 4.3)",
            "queue.preset=\"rabbitmq-quorum\"",
        ),
        (
            "nacks to the back (RabbitMQ 4.2, no limit)",
            "queue.preset=\"rabbitmq-quorum@4.2\"\nqueue.max_deliveries=\"unlimited\"",
        ),
    ];
    let dir = common::TempDir::new("builds");
    let file = dir.write("base.toml", base);
    for (what, set) in sets {
        // One override a line.
        let overrides: Vec<&str> = set.lines().collect();
        let s = common::scenario_file(&file.display().to_string(), &overrides);
        let m = model::compile(&s).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            !Core::supports(&Uses::of(&m, false)),
            "{what} ({set}) must take the full build"
        );
    }
}
