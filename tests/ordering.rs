//! Keys, FIFO by key and resequencing: the documented consequences.

mod common;
use common::*;

/// 10 keys at 1 message per second each; service 10 ms. Failed attempts
/// are not acked: the visibility timeout (10 s) brings them back, and the
/// fifth delivery is the last. `extra` adds keys to `[[queue]]`/`[[consumer]]`.
fn keyed(queue_extra: &str, consumer_extra: &str) -> String {
    format!(
        r#"
[simulation]
seed = 5
duration = "20m"
drain = "10m"

[[producer]]
arrival = {{ process = "poisson", rate = 10.0 }}
key = {{ dist = "uniform-keys", count = 10 }}

[[queue]]
ack_timeout = "10s"
max_deliveries = 5
{queue_extra}

[[consumer]]
count = 2
prefetch = 4
service = {{ dist = "exponential", mean = "10ms" }}
retry_mode = "ack-timeout"
{consumer_extra}
"#
    )
}

#[test]
fn a_poison_message_blocks_its_key_until_dead_lettered_while_other_keys_flow() {
    let fifo = "fifo_by_key = true";
    let clean = summary(&scenario(&keyed(fifo, "")), 1, 1);
    let poisoned = summary(&scenario(&keyed(fifo, "poison = 0.0005")), 1, 1);
    for s in [&clean, &poisoned] {
        assert_conserved(s);
        assert_eq!(
            get(s, "ordering.out_of_order"),
            0.0,
            "FIFO by key keeps order"
        );
        assert_eq!(
            get(s, "messages.in_flight"),
            0.0,
            "nothing is stuck at the end"
        );
    }
    let poison = get(&poisoned, "messages.dead_lettered");
    assert!(poison >= 1.0, "the seed gives at least one poison message");
    assert_eq!(get(&clean, "messages.dead_lettered"), 0.0);
    // Each poison message holds its key for its five deliveries, 10 s
    // apart: the key's next message arrives about 1 s after it (a key sees
    // 1 message/s), so the key is blocked for about 50 - 1 s, plus the time
    // to drain the key's backlog (under a second at 10 ms a message).
    let extra = get(&poisoned, "ordering.key_blocked_seconds")
        - get(&clean, "ordering.key_blocked_seconds");
    assert!(
        extra >= 40.0 * poison && extra <= 55.0 * poison,
        "{poison} poison messages blocked their keys {extra} s in all"
    );
    // Other keys flow: the median latency stays that of the clean run
    // (common random numbers: the same arrivals and service times).
    let (p50_clean, p50_poisoned) = (get(&clean, "latency.p50"), get(&poisoned, "latency.p50"));
    assert!(
        p50_poisoned < 1.5 * p50_clean + 0.01,
        "median latency {p50_poisoned} s vs {p50_clean} s without poison"
    );
    // The poison's key waited: the tail grows by the blocking time.
    assert!(get(&poisoned, "latency.max") > 40.0);
}

#[test]
fn without_fifo_nothing_blocks_but_retries_reorder() {
    let s = summary(&scenario(&keyed("", "failure = 0.1")), 1, 1);
    assert_conserved(&s);
    assert_eq!(get(&s, "ordering.key_blocked_seconds"), 0.0);
    assert!(
        get(&s, "ordering.out_of_order") > 100.0,
        "a message retried 10 s later is overtaken by its key's next messages"
    );
    assert!(get(&s, "ordering.max_displacement") >= 5.0);
    let f = summary(
        &scenario(&keyed("fifo_by_key = true", "failure = 0.1")),
        1,
        1,
    );
    assert_conserved(&f);
    assert_eq!(get(&f, "ordering.out_of_order"), 0.0);
    assert!(get(&f, "ordering.key_blocked_seconds") > 0.0);
    // Order costs latency: the key waits for the retry.
    assert!(get(&f, "latency.mean") > get(&s, "latency.mean"));
}

#[test]
fn a_resequencer_restores_order_and_costs_latency() {
    // Delayed retries 2 s apart (no visibility timeout: a held delivery is
    // not redelivered behind the consumer's back).
    let delayed = |consumer: &str| {
        keyed("", consumer)
            .replace("ack_timeout = \"10s\"\n", "")
            .replace(
                "retry_mode = \"ack-timeout\"",
                "retry_mode = \"delay\"\nretry = { backoff = \"fixed\", delay = \"2s\" }",
            )
            .replace("prefetch = 4", "prefetch = 200")
    };
    let plain = summary(&scenario(&delayed("failure = 0.1")), 1, 1);
    let reseq = summary(
        &scenario(&delayed(
            "failure = 0.1\nresequence = { max_held = 1000, max_wait = \"60s\" }",
        )),
        1,
        1,
    );
    assert_conserved(&plain);
    assert_conserved(&reseq);
    let ooo_plain = get(&plain, "ordering.out_of_order");
    assert!(ooo_plain > 100.0);
    // Every held message waits for its predecessor. Only a gap that never
    // fills (a dead-lettered predecessor) makes the buffer give up after
    // max_wait, and only a message let go that way can be out of order.
    let gave_up = get(&reseq, "ordering.resequence_gave_up");
    let ooo = get(&reseq, "ordering.out_of_order");
    assert!(ooo <= gave_up, "{ooo} out of order, {gave_up} given up");
    if gave_up > 0.0 {
        assert!(get(&reseq, "messages.dead_lettered") > 0.0);
    }
    assert!(ooo <= 0.01 * ooo_plain, "{ooo} vs {ooo_plain} without");
    assert!(get(&reseq, "ordering.resequenced") > 0.0);
    // A held message waits for the retry of its predecessor (2 s and up).
    assert!(get(&reseq, "ordering.resequence_wait_mean") >= 1.0);
    assert!(get(&reseq, "latency.p99") > get(&plain, "latency.p99"));
    assert!(get(&reseq, "latency.mean") > get(&plain, "latency.mean"));
}

#[test]
fn zipf_keys_concentrate_on_hot_keys() {
    // With s = 1.2 over 1000 keys the hottest key gets 1/H(1000, 1.2) of the
    // traffic, about 26%: FIFO by key then blocks far more than uniform keys.
    let q = "fifo_by_key = true";
    let uni = keyed(q, "failure = 0.05");
    let zipf = uni.replace(
        r#"{ dist = "uniform-keys", count = 10 }"#,
        r#"{ dist = "zipf-keys", count = 1000, exponent = 1.2 }"#,
    );
    let uni = uni.replace("count = 10 }", "count = 1000 }");
    let (u, z) = (
        summary(&scenario(&uni), 1, 1),
        summary(&scenario(&zipf), 1, 1),
    );
    assert_conserved(&u);
    assert_conserved(&z);
    assert!(
        get(&z, "ordering.key_blocked_seconds") > 5.0 * get(&u, "ordering.key_blocked_seconds"),
        "zipf {} s vs uniform {} s",
        get(&z, "ordering.key_blocked_seconds"),
        get(&u, "ordering.key_blocked_seconds")
    );
}
