//! Faults: crashes, durability, the network and outages, each with its
//! documented consequence.

mod common;
use common::*;

fn crash_scenario(ack: &str) -> String {
    format!(
        r#"
[simulation]
seed = 12
duration = "1h"
warmup = "2m"
[[producer]]
arrival = {{ process = "poisson", rate = 30.0 }}
[[queue]]
preset = "rabbitmq-quorum"
[[consumer]]
count = 4
prefetch = 10
ack = "{ack}"
service = {{ dist = "exponential", mean = "100ms" }}
[network]
latency = {{ dist = "exponential", mean = "5ms" }}
[[fault]]
kind = "consumer-crash"
mtbf = "10m"
mttr = {{ dist = "exponential", mean = "20s" }}
"#
    )
}

#[test]
fn auto_ack_loses_and_ack_after_processing_duplicates() {
    let auto = summary(&scenario(&crash_scenario("on-receive")), 1, 1);
    assert_conserved(&auto);
    assert!(get(&auto, "messages.lost") > 0.0);
    assert_eq!(
        auto["messages"]["lost_by_cause"]["auto-ack-crash"].as_f64(),
        Some(get(&auto, "messages.lost"))
    );
    let late = summary(&scenario(&crash_scenario("after-processing")), 1, 1);
    assert_conserved(&late);
    assert_eq!(get(&late, "messages.lost"), 0.0);
    assert!(get(&late, "messages.duplicates") > 0.0);
    assert!(
        late["messages"]["duplicates_by_cause"]["consumer-crash"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0
    );
}

#[test]
fn transient_queue_loses_and_durable_with_fsync_confirms_does_not() {
    let transient = scenario_file(
        "scenarios/broker-crash.toml",
        &["queue.durable=false", "producer.confirm=\"none\""],
    );
    let t = summary(&transient, 1, 1);
    assert_conserved(&t);
    assert!(
        t["messages"]["lost_by_cause"]["broker-crash"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0
    );
    let durable = scenario_file("scenarios/broker-crash.toml", &[]);
    let d = summary(&durable, 2, 0);
    assert_eq!(get(&d, "messages.lost"), 0.0);
}

#[test]
fn producer_crash_loses_without_outbox_and_not_with() {
    let plain = summary(
        &scenario_file("scenarios/producer-crash-outbox.toml", &[]),
        2,
        0,
    );
    assert_conserved(&plain);
    assert!(
        plain["messages"]["lost_by_cause"]["producer-crash"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0
    );
    let outbox = summary(
        &scenario_file(
            "scenarios/producer-crash-outbox.toml",
            &["producer.outbox=true"],
        ),
        2,
        0,
    );
    assert_eq!(get(&outbox, "messages.lost"), 0.0);
}

/// Every lost ack makes exactly one extra delivery: the ack timeout
/// redelivers the message once (and its new ack may be lost in turn, which
/// again makes exactly one more).
#[test]
fn a_lost_ack_yields_exactly_one_extra_delivery() {
    let text = r#"
[simulation]
seed = 77
duration = "2h"
drain = "1h"
[[producer]]
arrival = { process = "poisson", rate = 20.0 }
[[queue]]
ack_timeout = "30s"
[[consumer]]
count = 4
service = { dist = "exponential", mean = "50ms" }
[network]
latency = { dist = "constant", mean = "1ms" }
ack_loss = 0.01
"#;
    let s = summary(&scenario(text), 1, 1);
    assert_conserved(&s);
    let lost_acks = get(&s, "messages.acks_lost");
    assert!(lost_acks > 500.0);
    assert_eq!(get(&s, "messages.redelivered"), lost_acks);
    assert_eq!(get(&s, "messages.duplicates"), lost_acks);
    assert_eq!(get(&s, "messages.in_flight"), 0.0);
}

/// Consumer availability with exponential MTBF and MTTR is within sampling
/// error of MTBF / (MTBF + MTTR).
#[test]
fn availability_matches_mtbf_over_mtbf_plus_mttr() {
    let text = r#"
[simulation]
seed = 5
duration = "100h"
drain = "0s"
[[producer]]
arrival = { process = "poisson", rate = 0.2 }
[[queue]]
[[consumer]]
count = 10
service = { dist = "exponential", mean = "100ms" }
[[fault]]
kind = "consumer-crash"
mtbf = "10m"
mttr = { dist = "exponential", mean = "1m" }
"#;
    let s = summary(&scenario(text), 6, 0);
    let a = get(&s, "availability.consumer");
    let hw = get(&s, "ci95.availability.consumer");
    let theory = 10.0 / 11.0;
    assert!((get(&s, "markov.availability.consumer.theory") - theory).abs() < 1e-12);
    assert!(
        (a - theory).abs() < 2.0 * hw.max(1e-4),
        "availability {a} ± {hw} vs {theory}"
    );
}

/// A short brown-out at high load: immediate client retries never recover
/// (metastable); jittered backoff with a retry budget recovers.
#[test]
fn retry_storm_is_metastable_without_budget_and_recovers_with_it() {
    let immediate = summary(&scenario_file("scenarios/retry-storm.toml", &[]), 2, 0);
    assert_eq!(immediate["recovery"]["recovered"].as_bool(), Some(false));
    assert!(
        get(&immediate, "messages.attempts") > 1.3,
        "the retries amplify the load"
    );
    let jitter = summary(
        &scenario_file(
            "scenarios/retry-storm.toml",
            &[
                "producer.retry={ backoff = \"exponential\", base = \"1s\", multiplier = 2.0, cap = \"30s\", jitter = \"full\", max_attempts = 5 }",
                "producer.retry_budget={ kind = \"token-bucket\", max_tokens = 10, token_ratio = 0.1 }",
            ],
        ),
        2,
        0,
    );
    assert_eq!(jitter["recovery"]["recovered"].as_bool(), Some(true));
    assert!(get(&jitter, "recovery.seconds") < 600.0);
    assert_eq!(get(&jitter, "messages.lost"), 0.0);
}

/// A transient queue's ready messages are lost in a broker crash, and the
/// fault timeline records it.
#[test]
fn fault_timeline_is_reported() {
    let s = summary(&scenario_file("scenarios/broker-crash.toml", &[]), 1, 1);
    let faults = s["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0]["kind"], "broker-crash");
    assert_eq!(faults[0]["start"].as_f64(), Some(1800.0));
    assert_eq!(faults[0]["end"].as_f64(), Some(1820.0));
}
