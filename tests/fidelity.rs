//! What practitioners and an independent validation found wrong (issue
//! "Fidelity"): each test failed on the simulator before its fix.

mod common;
use common::*;

/// A backlogged queue read by one consumer with constant service `S` and a
/// constant latency `d` on every hop.
fn round_trip(prefetch: u32, service_ms: u32, hop_ms: u32, extra: &str) -> String {
    format!(
        r#"
[simulation]
duration = "10m"
drain = "0s"
[[producer]]
arrival = {{ process = "constant", rate = 50.0 }}
[[queue]]
[[consumer]]
prefetch = {prefetch}
service = {{ dist = "constant", mean = "{service_ms}ms" }}
[network]
latency = {{ dist = "constant", mean = "{hop_ms}ms" }}
{extra}
"#
    )
}

/// Under AMQP `basic.qos`, JetStream `MaxAckPending` and the like, the
/// broker sends the next message when the ack reaches it: with prefetch 1
/// a backlogged consumer processes 1/(S + 2d) messages per second.
#[test]
fn prefetch_one_pays_the_ack_round_trip() {
    for (service_ms, hop_ms) in [(100u32, 50u32), (100, 10), (40, 30)] {
        let s = summary(&scenario(&round_trip(1, service_ms, hop_ms, "")), 1, 1);
        assert_conserved(&s);
        let want = 1.0 / ((service_ms + 2 * hop_ms) as f64 / 1000.0);
        let got = get(&s, "messages.throughput");
        // Deterministic: constant times, one consumer; the last cycle may
        // be cut by the end of the window.
        assert!(
            (got - want).abs() <= want * 0.005,
            "S {service_ms} ms, d {hop_ms} ms: throughput {got}/s, want {want}/s"
        );
    }
}

/// With prefetch 2 the next message is already at the consumer while the
/// ack travels: the round trip (2d <= S) is hidden.
#[test]
fn prefetch_two_hides_the_round_trip() {
    let s = summary(&scenario(&round_trip(2, 100, 50, "")), 1, 1);
    let got = get(&s, "messages.throughput");
    assert!((got - 10.0).abs() < 0.05, "throughput {got}/s, want 10/s");
}

/// Without network latency nothing changes: the consumer is busy all the
/// time (throughput 1/S).
#[test]
fn without_latency_the_slot_frees_at_once() {
    let text = round_trip(1, 100, 50, "").replace(
        "latency = { dist = \"constant\", mean = \"50ms\" }",
        "loss = 0.0",
    );
    let s = summary(&scenario(&text), 1, 1);
    let got = get(&s, "messages.throughput");
    assert!((got - 10.0).abs() < 0.05, "throughput {got}/s, want 10/s");
}

/// A crash requeues what the consumer held, acks on the wire included, and
/// no more: with prefetch 1 at most one delivery per crash (before the fix,
/// the next message was delivered while the ack of the last was on the
/// wire, and a crash then requeued both).
#[test]
fn a_crash_requeues_at_most_the_prefetch() {
    for prefetch in [1u32, 3] {
        let faults = r#"
[[fault]]
kind = "consumer-crash"
mtbf = "7s"
mttr = { dist = "constant", mean = "1s" }
"#;
        let mut text = round_trip(prefetch, 100, 50, faults);
        text = text.replace("[[queue]]", "[[queue]]\ncrash_requeue = \"immediate\"");
        let s = summary(&scenario(&text), 1, 1);
        assert_conserved(&s);
        let crashes = s["faults"].as_array().expect("fault timeline").len() as f64;
        let redelivered = get(&s, "messages.redelivered");
        assert!(crashes >= 50.0, "{crashes} crashes");
        assert!(
            redelivered <= crashes * prefetch as f64,
            "prefetch {prefetch}: {redelivered} redeliveries after {crashes} crashes"
        );
        assert!(redelivered > 0.0);
    }
}
