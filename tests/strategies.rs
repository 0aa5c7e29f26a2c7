//! Retry strategies, dead-lettering, presets, confirms and idempotency.
//! (The backoff and jitter formulas are pinned by the unit tests of
//! `src/strategy/backoff.rs`.)

mod common;
use common::*;

/// Independent failures of probability p with at most k deliveries: the
/// dead-lettered fraction is p^k and the mean attempts (1 - p^k)/(1 - p),
/// within 4 standard errors (binomial for the fraction; for attempts the
/// standard deviation of a geometric, sqrt(p)/(1-p), bounds that of the
/// truncated one).
#[test]
fn dead_letter_fraction_and_attempts_match_the_absorbing_chain() {
    for &p in &[0.1f64, 0.3, 0.5] {
        for &k in &[1u32, 3, 5] {
            let text = format!(
                r#"
[simulation]
seed = {seed}
duration = "2h"
drain = "1h"
[[producer]]
arrival = {{ process = "poisson", rate = 10.0 }}
[[queue]]
max_deliveries = {k}
[[consumer]]
count = 4
service = {{ dist = "exponential", mean = "20ms" }}
failure = {p}
"#,
                seed = 100 + k as u64 + (p * 10.0) as u64
            );
            let s = summary(&scenario(&text), 1, 1);
            assert_conserved(&s);
            let n = get(&s, "messages.published");
            let dlq = get(&s, "messages.dead_lettered") / n;
            let want = p.powi(k as i32);
            let se = (want * (1.0 - want) / n).sqrt();
            assert!(
                (dlq - want).abs() <= 4.0 * se + 1e-12,
                "p={p} k={k}: dead-lettered {dlq} vs {want} (se {se})"
            );
            let attempts = get(&s, "messages.attempts");
            let want_a = (1.0 - p.powi(k as i32)) / (1.0 - p);
            let se_a = p.sqrt() / (1.0 - p) / n.sqrt();
            assert!(
                (attempts - want_a).abs() <= 4.0 * se_a,
                "p={p} k={k}: attempts {attempts} vs {want_a}"
            );
            // The report's own theory says the same.
            let th = get(&s, "markov.lifecycle.theory.absorption.dead_lettered");
            assert!((th - want).abs() < 1e-12);
            // The empirical absorbing chain agrees with the outcome fractions.
            let emp = get(&s, "markov.lifecycle.absorption.dead_lettered");
            assert!(
                (emp - dlq).abs() < 1e-9 + 4.0 * se,
                "chain {emp} vs outcome {dlq}"
            );
        }
    }
}

fn poison_scenario(preset: &str, extra: &str) -> String {
    format!(
        r#"
[simulation]
seed = 3
duration = "30m"
warmup = "1m"
drain = "{drain}"
[[producer]]
arrival = {{ process = "poisson", rate = 5.0 }}
[[queue]]
preset = "{preset}"
{extra}
[[consumer]]
count = 4
service = {{ dist = "exponential", mean = "20ms" }}
poison = 0.01
"#,
        drain = if preset == "sidekiq" { "40d" } else { "2h" }
    )
}

/// Under every preset that has a limit, poison messages reach the
/// dead-letter queue and the others are all processed; under
/// rabbitmq-classic, and rabbitmq-quorum from 4.3 (which does not count
/// nacks toward its limit), the poison messages loop (huge attempt counts,
/// never dead-lettered, still in flight at the end).
#[test]
fn poison_messages_under_every_preset() {
    for preset in [
        "sqs",
        "rabbitmq-quorum@4.2",
        "kafka-retry-topics",
        "pubsub",
        "celery",
        "sidekiq",
    ] {
        // A quorum queue drops at its limit unless a dead-letter exchange is set.
        let extra = if preset.starts_with("rabbitmq-quorum") {
            "dead_letter = true"
        } else {
            ""
        };
        let s = summary(&scenario(&poison_scenario(preset, extra)), 1, 1);
        assert_conserved(&s);
        let n = get(&s, "messages.published");
        let dlq = get(&s, "messages.dead_lettered");
        let acked = get(&s, "messages.acked");
        let se = (0.01 * 0.99 * n).sqrt();
        assert!(
            (dlq - 0.01 * n).abs() < 4.0 * se,
            "{preset}: dead-lettered {dlq} of {n}"
        );
        assert_eq!(
            acked + dlq,
            n,
            "{preset}: the healthy messages must all be processed"
        );
        assert_eq!(get(&s, "messages.lost"), 0.0, "{preset}");
    }
    let s = summary(&scenario(&poison_scenario("rabbitmq-quorum", "")), 1, 1);
    assert_eq!(
        get(&s, "messages.dead_lettered"),
        0.0,
        "4.3: nacks do not count"
    );
    assert!(get(&s, "messages.in_flight") > 0.0);
    let s = summary(&scenario(&poison_scenario("rabbitmq-classic", "")), 1, 1);
    assert_eq!(get(&s, "messages.dead_lettered"), 0.0);
    assert!(
        get(&s, "messages.in_flight") > 0.0,
        "poison messages are still looping at the end"
    );
    assert!(
        get(&s, "messages.max_attempts") > 1000.0,
        "the loop shows in the attempt count"
    );
    assert!(
        get(&s, "messages.failed_work_seconds") > 100.0,
        "and in the work it burns"
    );
    // NATS: no limit by default either; with MaxDeliver the message stays parked.
    let s = summary(
        &scenario(&poison_scenario("nats-jetstream", "max_deliveries = 3")),
        1,
        1,
    );
    let parked = s["messages"]["dead_lettered_by_reason"]["max-deliveries-parked"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(parked > 0.0);
}

/// Lost confirms make producer retries, and the retries make duplicates; an
/// idempotency window at least as long as the retry span removes them.
#[test]
fn publisher_confirms_duplicate_and_idempotency_removes_them() {
    let base = scenario_file(
        "scenarios/publisher-confirms.toml",
        &["simulation.duration=\"20m\""],
    );
    let s = summary(&base, 1, 1);
    assert_conserved(&s);
    assert!(get(&s, "retries.producer_retries") > 0.0);
    assert!(get(&s, "messages.duplicates") > 0.0);
    assert_eq!(
        s["messages"]["duplicates_by_cause"]["producer-retry"].as_f64(),
        Some(get(&s, "messages.duplicates"))
    );
    let idem = scenario_file(
        "scenarios/publisher-confirms.toml",
        &[
            "simulation.duration=\"20m\"",
            "consumer.idempotency={ window = \"10m\" }",
        ],
    );
    let t = summary(&idem, 1, 1);
    assert_eq!(get(&t, "messages.duplicates"), 0.0);
    assert!(get(&t, "messages.duplicates_prevented") > 0.0);
    // A window shorter than the retry span (5 retries 1 s apart) lets some through.
    let short = scenario_file(
        "scenarios/publisher-confirms.toml",
        &[
            "simulation.duration=\"20m\"",
            "consumer.idempotency={ window = \"1ms\" }",
        ],
    );
    let u = summary(&short, 1, 1);
    assert!(get(&u, "messages.duplicates_slipped") > 0.0);
}

/// In-handler retries hold the worker: the same failures cost throughput
/// and latency that delayed redelivery does not.
#[test]
fn in_handler_retry_costs_latency() {
    let text = |mode: &str| {
        format!(
            r#"
[simulation]
seed = 4
duration = "30m"
[[producer]]
arrival = {{ process = "poisson", rate = 30.0 }}
[[queue]]
[[consumer]]
count = 4
service = {{ dist = "exponential", mean = "100ms" }}
failure = 0.2
retry = {{ backoff = "fixed", delay = "500ms", max_attempts = 10 }}
retry_mode = "{mode}"
"#
        )
    };
    let inh = summary(&scenario(&text("in-handler")), 1, 1);
    let del = summary(&scenario(&text("delay")), 1, 1);
    // Sleeping workers make the others' messages wait in the queue.
    assert!(get(&inh, "queues.queue.queueing.Wq") > 2.0 * get(&del, "queues.queue.queueing.Wq"));
    assert!(get(&inh, "latency.mean") > get(&del, "latency.mean"));
}

/// The retry budget refuses retries when most calls fail, and the report
/// counts them; the breaker rejects calls while open.
#[test]
fn budget_and_breaker_are_counted() {
    let text = r#"
[simulation]
seed = 8
duration = "20m"
[[producer]]
arrival = { process = "poisson", rate = 20.0 }
[[queue]]
[[consumer]]
count = 4
service = { dist = "exponential", mean = "20ms" }
retry = { backoff = "fixed", delay = "100ms", max_attempts = 5 }
retry_mode = "delay"
retry_budget = { kind = "token-bucket", max_tokens = 10, token_ratio = 0.1 }
breaker = { failure_rate_threshold = 0.5, minimum_calls = 20, window = 20, open_wait = "5s", half_open_calls = 5 }
[[fault]]
kind = "dependency-outage"
start = "5m"
duration = "2m"
failure = 1.0
"#;
    let s = summary(&scenario(text), 1, 1);
    assert_conserved(&s);
    assert!(get(&s, "retries.refused") > 0.0);
    assert!(get(&s, "retries.breaker_rejected") > 0.0);
    assert!(
        s["messages"]["dead_lettered_by_reason"]["retry-budget"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0
    );
}

/// Retry topics lose ordering; the policy's attempt limit dead-letters.
#[test]
fn retry_queues_dead_letter_after_the_policy_limit() {
    let s = summary(&scenario(&poison_scenario("kafka-retry-topics", "")), 1, 1);
    assert_eq!(
        s["messages"]["dead_lettered_by_reason"]["retries-exhausted"].as_f64(),
        Some(get(&s, "messages.dead_lettered"))
    );
    // Spring's default: 3 attempts.
    assert_eq!(get(&s, "messages.max_attempts"), 3.0);
}

/// Messages dead-lettered during an outage are redriven afterwards (SQS
/// StartMessageMoveTask) and processed: none stays dead-lettered.
#[test]
fn redrive_moves_dead_letters_back() {
    let text = |redrive: &str| {
        format!(
            r#"
[simulation]
seed = 6
duration = "30m"
drain = "30m"
[[producer]]
arrival = {{ process = "poisson", rate = 10.0 }}
[[queue]]
max_deliveries = 3
{redrive}
[[consumer]]
count = 2
service = {{ dist = "exponential", mean = "20ms" }}
[[fault]]
kind = "dependency-outage"
start = "5m"
duration = "1m"
failure = 1.0
"#
        )
    };
    let without = summary(&scenario(&text("")), 1, 1);
    assert!(get(&without, "messages.dead_lettered") > 300.0);
    let with = summary(
        &scenario(&text("redrive = { start = \"20m\", rate = 50 }")),
        1,
        1,
    );
    assert_conserved(&with);
    assert_eq!(get(&with, "messages.dead_lettered"), 0.0);
    assert_eq!(
        get(&with, "messages.acked"),
        get(&with, "messages.published")
    );
    // Moved messages waited for the task: the latency tail shows it.
    assert!(get(&with, "latency.max") > 15.0 * 60.0 - 6.0 * 60.0);
}
