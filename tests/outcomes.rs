//! Outcomes split by cause (issue 22, section 5): dead-lettered by
//! origin, latency of touched and untouched messages, the delay from a
//! consumer crash to the redelivery of what it held.

mod common;
use common::*;
use serde_json::{Map, Value};

const ORIGINS: [&str; 6] = [
    "poison",
    "transient",
    "non_retryable",
    "ttl",
    "overflow",
    "refused",
];

/// Poison, transient failures up to a delivery limit, non-retryable
/// failures and a bounded queue that dead-letters on overflow.
fn mixed(seed: u64) -> String {
    format!(
        r#"
[simulation]
seed = {seed}
duration = "2000s"
drain = "1h"
[[producer]]
arrival = {{ process = "poisson", rate = 3.6 }}
[[queue]]
max_deliveries = 3
dead_letter = true
capacity = 20
overflow = "dead-letter"
[[consumer]]
count = 4
service = {{ dist = "exponential", mean = "1s" }}
failure = 0.2
poison = 0.01
non_retryable = 0.1
"#
    )
}

fn origins_sum(s: &Map<String, Value>) -> f64 {
    ORIGINS
        .iter()
        .map(|k| get(s, &format!("messages.dead_lettered_by_origin.{k}")))
        .sum()
}

/// Every origin occurs, and the origins add up to `dead_lettered`, in one
/// replication and over replications.
#[test]
fn origins_add_up_to_the_dead_lettered() {
    let s = summary(&scenario(&mixed(1)), 1, 1);
    // `ttl` has a test of its own (RabbitMQ's expiry to the dead-letter
    // exchange, below).
    for k in ORIGINS.iter().filter(|k| !["refused", "ttl"].contains(k)) {
        assert!(
            get(&s, &format!("messages.dead_lettered_by_origin.{k}")) > 0.0,
            "{k}"
        );
    }
    assert_eq!(origins_sum(&s), get(&s, "messages.dead_lettered"));
    let s = summary(&scenario(&mixed(2)), 4, 2);
    let total = get(&s, "messages.dead_lettered");
    assert!((origins_sum(&s) - total).abs() < 1e-9 * total.max(1.0));
    // Poison is about 1% of the published (every poison message reaches a
    // limit), within 5 standard errors.
    let published = get(&s, "messages.published") * 4.0;
    let poison = get(&s, "messages.dead_lettered_by_origin.poison") * 4.0;
    let sd = (published * 0.01 * 0.99).sqrt();
    assert!(
        (poison - 0.01 * published).abs() < 5.0 * sd,
        "{poison} of {published}"
    );
}

/// Affected and unaffected latencies partition the latencies; the
/// retried ones wait longer. A run without retries or faults has neither.
#[test]
fn affected_and_unaffected_partition_the_latencies() {
    let s = summary(&scenario(&mixed(3)), 1, 1);
    let count = get(&s, "latency.count");
    let affected = get(&s, "latency_affected.count");
    let unaffected = get(&s, "latency_unaffected.count");
    assert!(affected > 0.0 && unaffected > 0.0);
    assert_eq!(affected + unaffected, count);
    assert!(get(&s, "latency_affected.mean") > get(&s, "latency_unaffected.mean"));
    let plain = r#"
[simulation]
duration = "500s"
[[producer]]
arrival = { process = "poisson", rate = 0.5 }
[[queue]]
[[consumer]]
service = { dist = "exponential", mean = "1s" }
"#;
    let s = summary(&scenario(plain), 1, 1);
    assert!(s.get("latency_affected").is_none());
    assert!(s.get("latency_unaffected").is_none());
}

/// SQS-like consumers that crash every 5 minutes on average.
const SQS_CRASHES: &str = r#"
[simulation]
seed = 4
duration = "3000s"
drain = "1h"
[[producer]]
arrival = { process = "poisson", rate = 2.0 }
[[queue]]
preset = "sqs"
ack_timeout = "30s"
[[consumer]]
count = 4
service = { dist = "exponential", mean = "1s" }
[[fault]]
kind = "consumer-crash"
mtbf = "5m"
mttr = { dist = "exponential", mean = "20s" }
"#;

/// With `crash_requeue_after`-free SQS-like settings the held messages
/// come back at their visibility timeout: the delay from the crash is at
/// most `ack_timeout` (plus the dispatch), and every crash-held message
/// is touched.
#[test]
fn crash_redelivery_delay_is_bounded_by_the_visibility_timeout() {
    let text = SQS_CRASHES;
    let s = summary(&scenario(text), 1, 1);
    crash_delay_max_is_the_largest_over_replications(text);
    let count = get(&s, "messages.crash_redelivery_delay.count");
    assert!(count > 0.0, "{:?}", s["messages"]);
    let max = get(&s, "messages.crash_redelivery_delay.max");
    let mean = get(&s, "messages.crash_redelivery_delay.mean");
    assert!(mean > 0.0 && mean <= max && max <= 31.0, "{mean} {max}");
    assert!(get(&s, "latency_affected.count") >= count);
    assert_eq!(
        get(&s, "latency_affected.count") + get(&s, "latency_unaffected.count"),
        get(&s, "latency.count")
    );
}

/// Over replications the worst crash-to-redelivery delay is the largest
/// replication's, not their mean (which would hide the worst case a
/// timeout is sized for); the mean stays the mean of the replications'.
fn crash_delay_max_is_the_largest_over_replications(text: &str) {
    let s = scenario(text);
    let m = mqsim::model::compile(&s).expect("compiles");
    let out = mqsim::experiment::run(&m, &plan(4, 1, 4));
    let each: Vec<(f64, f64)> = out
        .reps
        .iter()
        .map(|r| {
            let delay = &r.metrics["messages"]["crash_redelivery_delay"];
            (
                delay["max"].as_f64().unwrap(),
                delay["mean"].as_f64().unwrap(),
            )
        })
        .collect();
    let summary = out.summary(&m);
    let largest = each.iter().map(|e| e.0).fold(f64::MIN, f64::max);
    let mean_of_maxima = each.iter().map(|e| e.0).sum::<f64>() / 4.0;
    assert!(largest > mean_of_maxima, "{each:?}: replications differ");
    assert_eq!(
        get(&summary, "messages.crash_redelivery_delay.max"),
        largest
    );
    let mean_of_means = each.iter().map(|e| e.1).sum::<f64>() / 4.0;
    let mean = get(&summary, "messages.crash_redelivery_delay.mean");
    assert!(
        (mean - mean_of_means).abs() < 1e-9 * mean_of_means,
        "{mean} {each:?}"
    );
}

/// `metrics.csv` carries the outcomes by cause, row for row what the run's
/// JSON says: the origins (adding up to `dead_lettered`), the affected
/// and unaffected latencies and, with crashes, the redelivery delay; a
/// scenario without crashes has no crash columns.
#[test]
fn metrics_csv_carries_the_outcomes_by_cause() {
    let dir = TempDir::new("outcomes-csv");
    let file = dir.0.join("mixed.toml");
    std::fs::write(&file, mixed(3)).expect("writes");
    let crashes = dir.0.join("crashes.toml");
    std::fs::write(&crashes, SQS_CRASHES).expect("writes");
    for (path, with_crashes) in [(&file, false), (&crashes, true)] {
        let out = dir.0.join(if with_crashes {
            "out-crashes"
        } else {
            "out-mixed"
        });
        let path = path.to_str().expect("utf-8");
        let out_s = out.to_str().expect("utf-8");
        let (code, _, err) = mqsim(&["run", path, "--out", out_s, "-q"]);
        assert_eq!(code, 0, "{err}");
        let csv = std::fs::read_to_string(out.join("metrics.csv")).expect("metrics.csv");
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().expect("header").split(',').collect();
        let row: Vec<&str> = lines.next().expect("a row").split(',').collect();
        let cell = |name: &str| -> f64 {
            let at = header
                .iter()
                .position(|h| *h == name)
                .unwrap_or_else(|| panic!("{name}: {header:?}"));
            row[at]
                .parse()
                .unwrap_or_else(|e| panic!("{name} = {:?}: {e}", row[at]))
        };
        let json: Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("summary.json")).expect("summary.json"),
        )
        .expect("json");
        let s = json.as_object().expect("a tree");
        let origins: f64 = ORIGINS
            .iter()
            .map(|o| cell(&format!("dead_lettered_{o}")))
            .sum();
        assert_eq!(origins, cell("dead_lettered"), "{csv}");
        assert_eq!(origins, origins_sum(s));
        for (column, path) in [
            ("latency_affected_count", "latency_affected.count"),
            ("latency_unaffected_count", "latency_unaffected.count"),
            ("latency_unaffected_mean_s", "latency_unaffected.mean"),
        ] {
            assert_eq!(cell(column), get(s, path), "{column}");
        }
        let crash_columns = header.iter().any(|h| h.starts_with("crash_redelivery"));
        assert_eq!(crash_columns, with_crashes, "{header:?}");
        if with_crashes {
            assert!(cell("crash_redelivery_count") > 0.0, "{csv}");
            assert_eq!(
                cell("crash_redelivery_delay_max_s"),
                get(s, "messages.crash_redelivery_delay.max")
            );
        }
    }
}

/// A RabbitMQ classic queue with a backlog that outgrows its limits: one
/// consumer of 2/s against 3/s of arrivals, and `queue` settings on top.
fn rabbitmq_backlog(queue: &str) -> String {
    format!(
        r#"
[simulation]
seed = 5
duration = "300s"
drain = "10m"
[[producer]]
arrival = {{ process = "poisson", rate = 3.0 }}
[[queue]]
preset = "rabbitmq-classic"
{queue}
[[consumer]]
preset = "rabbitmq-classic"
prefetch = 1
service = {{ dist = "exponential", mean = "500ms" }}
"#
    )
}

/// RabbitMQ dead-letters what its queue removes where the queue has a
/// dead-letter exchange (`broker-semantics.md`: reasons `expired` and
/// `maxlen`): an expired message is dead-lettered with origin `ttl`, a
/// head dropped by a full drop-head queue with origin `overflow`. Without
/// one (`dead_letter = false`) the same messages, one for one, are
/// expired or lost; nothing else in the run changes.
#[test]
fn rabbitmq_dead_letters_what_its_queue_removes() {
    let ttl = summary(&scenario(&rabbitmq_backlog("ttl = \"4s\"")), 1, 1);
    assert_conserved(&ttl);
    let expired = get(&ttl, "messages.dead_lettered_by_origin.ttl");
    assert!(expired > 20.0, "a backlog past the TTL: {expired}");
    assert_eq!(get(&ttl, "messages.dead_lettered"), expired);
    assert_eq!(
        get(&ttl, "messages.dead_lettered_by_reason.expired"),
        expired
    );
    assert_eq!(get(&ttl, "messages.expired"), 0.0);
    for without in ["dead_letter = false", "dead_letter_expired = false"] {
        let text = rabbitmq_backlog(&format!("ttl = \"4s\"\n{without}"));
        let deleted = summary(&scenario(&text), 1, 1);
        assert_conserved(&deleted);
        assert_eq!(get(&deleted, "messages.expired"), expired, "{without}");
        assert_eq!(get(&deleted, "messages.dead_lettered"), 0.0, "{without}");
        assert_eq!(get(&deleted, "messages.acked"), get(&ttl, "messages.acked"));
    }

    let full = "capacity = 5\noverflow = \"drop-head\"";
    let dropped = summary(&scenario(&rabbitmq_backlog(full)), 1, 1);
    assert_conserved(&dropped);
    let heads = get(&dropped, "messages.dead_lettered_by_origin.overflow");
    assert!(heads > 20.0, "a full queue drops heads: {heads}");
    assert_eq!(get(&dropped, "messages.dead_lettered"), heads);
    assert_eq!(get(&dropped, "messages.lost"), 0.0);
    let text = rabbitmq_backlog(&format!("{full}\ndead_letter = false"));
    let lost = summary(&scenario(&text), 1, 1);
    assert_eq!(get(&lost, "messages.lost"), heads);
    assert_eq!(get(&lost, "messages.lost_by_cause.overflow"), heads);
}

/// Brokers that delete expired messages keep doing so with a dead-letter
/// queue, and refuse `dead_letter_expired = true` with the reason; a
/// queue without a dead-letter queue refuses it too.
#[test]
fn dead_letter_expired_is_refused_where_the_broker_deletes() {
    let sqs = rabbitmq_backlog("ttl = \"4s\"").replace("rabbitmq-classic", "sqs");
    let s = summary(&scenario(&sqs), 1, 1);
    assert!(get(&s, "messages.expired") > 20.0);
    assert_eq!(get(&s, "messages.dead_lettered_by_origin.ttl"), 0.0);
    let dir = TempDir::new("dead-letter-expired");
    for (preset, extra, why) in [
        ("sqs", "", "MessageRetentionPeriod"),
        ("nats-jetstream", "", "MaxAge"),
        ("pubsub", "", "retention"),
        (
            "rabbitmq-classic",
            "dead_letter = false\n",
            "set `dead_letter = true`",
        ),
    ] {
        let text = rabbitmq_backlog(&format!("ttl = \"4s\"\n{extra}dead_letter_expired = true"))
            .replacen("rabbitmq-classic", preset, 1);
        let file = dir.write(&format!("{preset}.toml"), &text);
        let (code, _, err) = mqsim(&["check", file.to_str().expect("utf-8"), "--no-files"]);
        assert_eq!(code, 2, "{preset}: {err}");
        assert!(err.contains("queue[0].dead_letter_expired"), "{err}");
        assert!(err.contains(why), "{preset}: {err}");
    }
}
