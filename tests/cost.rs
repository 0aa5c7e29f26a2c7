//! Issue 23 §4: `[cost]`. The figures equal totals computed by hand from
//! the scenario (constant arrivals and service: nothing counted is
//! random), prices come from the preset unless overridden, and invalid
//! prices are refused with their location.

mod common;
use common::*;

/// Constant arrivals at `rate` per second for `duration_s` seconds: the
/// first arrives one interval after the start, and an arrival at the end
/// itself is not published, so there are rate x duration - 1 messages.
fn constant_arrivals(rate: u64, duration_s: u64) -> f64 {
    (rate * duration_s - 1) as f64
}

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{what}: got {got}, want {want}"
    );
}

/// One SQS queue, two consumers that each take 100 ms: every message is
/// published, received and acked once. 100,000-byte messages are two
/// 64 KiB chunks, so a publish and a receive are two requests each.
#[test]
fn cost_figures_equal_hand_computed_totals() {
    let s = scenario(
        r#"
[simulation]
duration = "100s"
drain = "1m"
[[producer]]
arrival = { process = "constant", rate = 10.0 }
[[queue]]
preset = "sqs"
[[consumer]]
count = 2
service = { dist = "constant", mean = "100ms" }
[cost]
per_instance_hour = 0.36
per_gb_transferred = 0.09
message_bytes = 100000
"#,
    );
    let out = summary(&s, 2, 1);
    let n = constant_arrivals(10, 100);
    assert_eq!(get(&out, "messages.published"), n);
    // SQS list price: USD 0.40 per million requests.
    let chunks = 2.0; // ceil(100000 / 65536)
    close(
        get(&out, "cost.requests_by_kind.publish"),
        n * chunks,
        "publish",
    );
    close(
        get(&out, "cost.requests_by_kind.receive"),
        n * chunks,
        "receive",
    );
    close(get(&out, "cost.requests_by_kind.settle"), n, "settle");
    close(get(&out, "cost.requests_by_kind.extend"), 0.0, "extend");
    // Empty receives: the two instances poll for 200 instance-seconds and
    // work 999 x 0.1 s = 99.9 of them; the idle 100.1 s at SQS's 20 s
    // long-polling wait is 5 empty receives (one request each: no payload).
    close(
        get(&out, "cost.requests_by_kind.empty_receive"),
        5.0,
        "empty receives",
    );
    let requests = n * chunks * 2.0 + n + 5.0;
    close(get(&out, "cost.request_count"), requests, "request count");
    let requests_usd = requests / 1e6 * 0.40;
    close(get(&out, "cost.requests"), requests_usd, "requests USD");
    // Two instances for the 100 s window.
    let instance_hours = 2.0 * 100.0 / 3600.0;
    close(
        get(&out, "cost.instance_hours"),
        instance_hours,
        "instance-hours",
    );
    let compute_usd = instance_hours * 0.36;
    close(get(&out, "cost.compute"), compute_usd, "compute USD");
    // Every message crosses the wire twice (publish, delivery).
    let gb = 2.0 * n * 100_000.0 / (1u64 << 30) as f64;
    close(get(&out, "cost.gb_transferred"), gb, "GB");
    let transfer_usd = gb * 0.09;
    close(get(&out, "cost.transfer"), transfer_usd, "transfer USD");
    let total = requests_usd + compute_usd + transfer_usd;
    close(get(&out, "cost.total"), total, "total");
    close(
        get(&out, "cost.per_million_messages"),
        total / n * 1e6,
        "per million messages",
    );
    // Nothing random is counted: the replications agree exactly.
    assert_eq!(get(&out, "ci95.cost.total"), 0.0);
}

/// A heartbeat consumer whose 2.5 s of work is extended every second
/// sends two extensions per message (at 1 s and 2 s); a price given in
/// `[cost]` overrides the preset's.
#[test]
fn lease_extensions_are_billed_requests() {
    let s = scenario(
        r#"
[simulation]
duration = "100s"
drain = "1m"
[[producer]]
arrival = { process = "constant", rate = 1.0 }
[[queue]]
preset = "sqs"
ack_timeout = "2s"
[[consumer]]
count = 4
prefetch = 1
service = { dist = "constant", mean = "2500ms" }
extend_lease = { every = "1s", by = "2s" }
[cost]
per_million_requests = 1.0
"#,
    );
    let out = summary(&s, 1, 1);
    let n = constant_arrivals(1, 100);
    assert_eq!(get(&out, "messages.duplicates"), 0.0);
    close(get(&out, "cost.requests_by_kind.extend"), 2.0 * n, "extend");
    // Empty receives: 4 x 100 instance-seconds, of which the 99 messages
    // keep one busy 2.5 s each, the last cut at the window's end (99 s +
    // 1 s): 98 x 2.5 + 1 = 246 s busy, 154 s idle, 7 long polls of 20 s.
    close(
        get(&out, "cost.requests_by_kind.empty_receive"),
        7.0,
        "empty receives",
    );
    let requests = 5.0 * n + 7.0;
    close(get(&out, "cost.request_count"), requests, "requests");
    close(get(&out, "cost.requests"), requests / 1e6, "requests USD");
    // No instance price: compute is free, the total is the requests.
    close(get(&out, "cost.compute"), 0.0, "compute");
    close(get(&out, "cost.total"), requests / 1e6, "total");
}

/// A failure left to the visibility timeout (SQS) sends no nack, and a
/// queue read by an on-receive consumer gets no acks at all.
#[test]
fn only_acks_and_nacks_that_are_sent_are_requests() {
    let text = |ack: &str| {
        format!(
            r#"
[simulation]
duration = "100s"
drain = "2m"
[[producer]]
arrival = {{ process = "constant", rate = 1.0 }}
[[queue]]
ack_timeout = "5s"
[[consumer]]
count = 2
ack = "{ack}"
service = {{ dist = "constant", mean = "100ms" }}
[cost]
"#
        )
    };
    let n = constant_arrivals(1, 100);
    let manual = summary(&scenario(&text("after-processing")), 1, 1);
    close(get(&manual, "cost.requests_by_kind.settle"), n, "acks");
    close(get(&manual, "cost.request_count"), 3.0 * n, "requests");
    // No preset and no price: the requests are counted, and free.
    close(get(&manual, "cost.total"), 0.0, "total");
    let auto = summary(&scenario(&text("on-receive")), 1, 1);
    close(get(&auto, "cost.requests_by_kind.settle"), 0.0, "auto acks");
    close(get(&auto, "cost.request_count"), 2.0 * n, "auto requests");
    // A broker that pushes (no preset: not SQS) bills no empty receives.
    close(
        get(&manual, "cost.requests_by_kind.empty_receive"),
        0.0,
        "no polls",
    );
}

/// Empty receives (SQS bills every ReceiveMessage, empty or not): an idle
/// instance makes one per `receive_wait`, so they are the instances' idle
/// time over the wait. Hand-computed: two instances for 100 s, 99
/// messages of 500 ms each (the last done at 99.5 s, in the window):
/// 200 - 49.5 = 150.5 idle instance-seconds; at `receive_wait = "2s"`
/// 75 empty receives, at the preset's 20 s (long polling's longest wait)
/// 7, and a consumer that is down does not poll.
#[test]
fn empty_receives_are_idle_instance_time_over_the_wait() {
    let text = |wait: &str, fault: &str| {
        format!(
            r#"
[simulation]
duration = "100s"
drain = "1m"
[[producer]]
arrival = {{ process = "constant", rate = 1.0 }}
[[queue]]
preset = "sqs"
[[consumer]]
name = "worker"
count = 2
service = {{ dist = "constant", mean = "500ms" }}
{wait}
[cost]
per_million_requests = 2.0
{fault}
"#
        )
    };
    let n = constant_arrivals(1, 100);
    let short = summary(&scenario(&text("receive_wait = \"2s\"", "")), 1, 1);
    close(
        get(&short, "cost.requests_by_kind.empty_receive"),
        75.0,
        "empty receives at 2 s",
    );
    let requests = 3.0 * n + 75.0;
    close(get(&short, "cost.request_count"), requests, "requests");
    close(get(&short, "cost.requests"), requests * 2.0 / 1e6, "USD");
    close(get(&short, "cost.total"), requests * 2.0 / 1e6, "total USD");
    let long = summary(&scenario(&text("", "")), 1, 1);
    close(
        get(&long, "cost.requests_by_kind.empty_receive"),
        7.0,
        "empty receives at the default 20 s",
    );
    // One instance down from 10 s to 50 s: 40 instance-seconds fewer
    // polling (its share of the work moves to the other): 110.5 s idle,
    // 55 empty receives at 2 s.
    let down = summary(
        &scenario(&text(
            "receive_wait = \"2s\"",
            "[[fault]]\nkind = \"consumer-crash\"\ntarget = \"consumer:worker\"\ninstance = 1\nat = \"10s\"\ndowntime = \"40s\"",
        )),
        1,
        1,
    );
    close(
        get(&down, "cost.requests_by_kind.empty_receive"),
        55.0,
        "empty receives with one instance down 40 s",
    );
}

/// `receive_wait` is refused where nothing polls: on a queue whose broker
/// pushes (a RabbitMQ preset) and at zero.
#[test]
fn receive_wait_needs_a_polled_queue_and_a_wait() {
    let dir = TempDir::new("cost-wait");
    for (queue, wait, says) in [
        ("preset = \"rabbitmq-classic\"", "\"20s\"", "pushes"),
        ("preset = \"sqs\"", "\"0s\"", "longer than zero"),
    ] {
        let file = dir.write(
            "w.toml",
            &format!("[[producer]]\narrival = {{ process = \"constant\", rate = 1.0 }}\n[[queue]]\n{queue}\n[[consumer]]\nreceive_wait = {wait}\n"),
        );
        let (code, _, err) = mqsim(&["run", file.to_str().unwrap(), "--no-files", "-q"]);
        assert_eq!(code, 2, "{queue} {wait}: {err}");
        assert!(err.contains(says), "{queue} {wait}: {err}");
        assert!(err.contains("consumer[0].receive_wait"), "{err}");
    }
}

/// Without `[cost]` nothing is reported (and no other figure moves).
#[test]
fn no_cost_section_no_cost() {
    let out = summary(
        &scenario(
            "[simulation]\nduration = \"10s\"\n[[producer]]\narrival = { process = \"constant\", rate = 1.0 }\n[[queue]]\npreset = \"sqs\"\n[[consumer]]\n",
        ),
        1,
        1,
    );
    assert!(out.get("cost").is_none());
}

/// Negative prices, a zero size, an unknown key and a volume price with
/// no size are refused, located, with exit code 2.
#[test]
fn invalid_cost_keys_are_refused_with_their_location() {
    let dir = TempDir::new("cost");
    let base = "[[producer]]\narrival = { process = \"constant\", rate = 1.0 }\n[[queue]]\n[[consumer]]\n[cost]\n";
    for (line, says) in [
        ("per_million_requests = -0.4", "cost.per_million_requests"),
        ("per_instance_hour = -1", "cost.per_instance_hour"),
        ("message_bytes = 0", "cost.message_bytes"),
        ("per_gb_transferred = 0.09", "give `message_bytes` too"),
        ("per_request = 1", "per_request"),
    ] {
        let file = dir.write("c.toml", &format!("{base}{line}\n"));
        let (code, _, err) = mqsim(&["run", file.to_str().unwrap(), "--no-files", "-q"]);
        assert_eq!(code, 2, "{line}: {err}");
        assert!(err.contains(says), "{line}: {err}");
        assert!(err.contains(":6"), "{line}: not located at line 6: {err}");
    }
}

/// `[expect]` judges the cost: 999 messages x 3 requests, and 4 empty
/// receives (90.01 idle seconds over 20 s), at USD 0.40 per million is
/// USD 0.0012004, so a bound of 0.00121 passes and 0.0012 fails.
#[test]
fn expect_bounds_the_cost() {
    let dir = TempDir::new("cost-expect");
    let base = "[simulation]\nduration = \"100s\"\n[[producer]]\narrival = { process = \"constant\", rate = 10.0 }\n[[queue]]\npreset = \"sqs\"\n[[consumer]]\nservice = { dist = \"constant\", mean = \"10ms\" }\n[cost]\n[expect]\n";
    for (bound, code) in [("0.00121", 0), ("0.0012", 1)] {
        let file = dir.write("e.toml", &format!("{base}cost_total_max = {bound}\n"));
        let (got, out, err) = mqsim(&["check", file.to_str().unwrap(), "-q"]);
        assert_eq!(got, code, "bound {bound}: {out}{err}");
        assert!(out.contains("cost_total_max"), "{out}");
    }
}

/// With `[cost]`, optimize's text lists what the best setting costs even
/// when it optimizes something else (latency here); without `[cost]` it
/// has no cost lines.
#[test]
fn optimize_shows_the_cost_of_the_best_setting() {
    let dir = TempDir::new("cost-optimize");
    let base = "[simulation]\nduration = \"100s\"\n[[producer]]\narrival = { process = \"constant\", rate = 10.0 }\n[[queue]]\npreset = \"sqs\"\n[[consumer]]\nservice = { dist = \"constant\", mean = \"50ms\" }\n";
    for (cost, shown) in [("[cost]\nper_instance_hour = 0.36\n", true), ("", false)] {
        let file = dir.write("o.toml", &format!("{base}{cost}"));
        let (code, out, err) = mqsim(&[
            "optimize",
            file.to_str().unwrap(),
            "--param",
            "consumer.count=1..2",
            "--minimize",
            "latency.mean",
            "--budget",
            "20",
            "--no-files",
            "-q",
        ]);
        assert_eq!(code, 0, "{err}");
        let block = out.split("its metrics").nth(1).expect("a metrics block");
        for path in ["cost.total", "cost.per_million_messages"] {
            assert_eq!(block.contains(path), shown, "{path} with `{cost}`: {out}");
        }
    }
}
