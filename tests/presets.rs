//! Presets, audited against the vendors' documentation (issue 27): every
//! key of a preset is overridable on its own, versions are selectable, and
//! the behaviours that differed from the brokers' now follow them. Each
//! test names the documented consequence it checks.
//!
//! Run: cargo test --release --test presets

// A scenario error carries its location; the tests return it whole.
#![allow(clippy::result_large_err)]

mod common;
use common::*;
use mqsim::model::{self, Model};
use mqsim::scenario::preset::{preset, versions, PRESET_NAMES};
use mqsim::scenario::{load_str, LoadOptions, Scenario, ScenarioError};
use mqsim::sim::{run_traced, Limits, TraceEvent};
use mqsim::strategy::backoff::RetryPolicy;
use mqsim::time::{Duration, NS_PER_S};

const S: u64 = NS_PER_S;

fn load(text: &str, sets: &[&str]) -> Result<Scenario, ScenarioError> {
    let opts = LoadOptions {
        overrides: sets.iter().map(|s| s.to_string()).collect(),
    };
    load_str(text, "test.toml", &opts)
}

fn model_of(text: &str, sets: &[&str]) -> Model {
    let s = load(text, sets).unwrap_or_else(|e| panic!("{sets:?}: {e}"));
    model::compile(&s).unwrap_or_else(|e| panic!("{sets:?}: {e}"))
}

/// One queue with `preset`, one consumer.
fn with_preset(preset: &str) -> String {
    format!(
        r#"
[simulation]
duration = "60s"
[[producer]]
arrival = {{ process = "poisson", rate = 5.0 }}
[[queue]]
preset = "{preset}"
[[consumer]]
service = {{ dist = "exponential", mean = "50ms" }}
"#
    )
}

/// Every preset at every version it knows (the list comes from the public
/// `PRESET_NAMES` and `versions`, so a new preset is covered without
/// editing this test).
fn every_preset_version() -> Vec<String> {
    let mut out = Vec::new();
    for name in PRESET_NAMES {
        for v in versions(name) {
            out.push(format!("{name}@{v}"));
        }
    }
    out
}

fn d(text: &str) -> Duration {
    Duration::parse(text).expect("duration")
}

type RetryPatch = (String, Box<dyn Fn(&mut RetryPolicy)>);

/// Overrides of one retry key each, and what each must change in the
/// preset's policy (nothing else may change).
fn retry_patches(p: &RetryPolicy) -> Vec<RetryPatch> {
    let mut v: Vec<RetryPatch> = vec![
        (
            "consumer.retry.max_attempts=7".into(),
            Box::new(|r| r.max_attempts = Some(7)),
        ),
        (
            "consumer.retry.max_attempts=\"unlimited\"".into(),
            Box::new(|r| r.max_attempts = None),
        ),
        (
            "consumer.retry.max_elapsed=\"1h\"".into(),
            Box::new(|r| r.max_elapsed = Some(d("1h"))),
        ),
    ];
    if p.delay.is_some() {
        v.push((
            "consumer.retry.delay=\"7s\"".into(),
            Box::new(|r| r.delay = Some(d("7s"))),
        ));
    }
    if p.base.is_some() {
        v.push((
            "consumer.retry.base=\"3s\"".into(),
            Box::new(|r| r.base = Some(d("3s"))),
        ));
    }
    if p.cap.is_some() {
        v.push((
            "consumer.retry.cap=\"20m\"".into(),
            Box::new(|r| r.cap = Some(d("20m"))),
        ));
    }
    if p.multiplier.is_some() {
        v.push((
            "consumer.retry.multiplier=3.0".into(),
            Box::new(|r| r.multiplier = Some(3.0)),
        ));
    }
    if p.backoff != Default::default() {
        v.push((
            "consumer.retry.jitter=\"equal\"".into(),
            Box::new(|r| r.jitter = mqsim::strategy::backoff::Jitter::Equal),
        ));
    }
    v
}

/// Issue 27 §1: overriding one key of a preset's retry policy keeps the
/// rest of it, for every preset and version; a new backoff keeps the
/// preset's limits and drops only the preset's curve keys it does not read.
#[test]
fn a_partial_retry_override_keeps_the_rest_of_every_preset() {
    for spec in every_preset_version() {
        let text = with_preset(&spec);
        let plain = model_of(&text, &[]);
        let preset_policy = plain.groups()[0].retry.clone().unwrap_or_default();
        let patches = retry_patches(&preset_policy);
        for (set, patch) in &patches {
            let m = model_of(&text, &[set]);
            let mut want = preset_policy.clone();
            patch(&mut want);
            assert_eq!(
                m.groups()[0].retry.as_ref(),
                Some(&want),
                "{spec} with {set}: the rest of the preset's policy must stay"
            );
            // Nothing else about the consumer changes.
            assert_eq!(
                m.groups()[0].retry_mode,
                plain.groups()[0].retry_mode,
                "{spec} {set}"
            );
            assert_eq!(
                m.groups()[0].ack_on_receive,
                plain.groups()[0].ack_on_receive,
                "{spec} {set}"
            );
        }
        // A different curve: the preset's limits stay, its curve's keys go.
        let m = model_of(
            &text,
            &["consumer.retry={ backoff = \"linear\", base = \"2s\" }"],
        );
        let got = m.groups()[0].retry.clone().expect("a policy");
        assert_eq!(got.base, Some(d("2s")), "{spec}");
        assert_eq!(got.max_attempts, preset_policy.max_attempts, "{spec}");
        assert_eq!(got.max_elapsed, preset_policy.max_elapsed, "{spec}");
        assert_eq!(
            got.delay, None,
            "{spec}: a fixed curve's delay is not linear's"
        );
        assert_eq!(got.multiplier, None, "{spec}");
    }
}

/// Issue 27 §1, the three cases the audit found.
#[test]
fn the_audits_three_partial_overrides() {
    // celery + retry.backoff: the 3-retry limit stays.
    let m = model_of(
        &with_preset("celery"),
        &[
            "consumer.retry.backoff=\"exponential\"",
            "consumer.retry.base=\"1s\"",
        ],
    );
    let r = m.groups()[0].retry.clone().expect("policy");
    assert_eq!(r.max_attempts, Some(4));
    assert_eq!(r.base, Some(d("1s")));
    // celery + retry.max_attempts: the backoff stays Celery's.
    let m = model_of(&with_preset("celery"), &["consumer.retry.max_attempts=6"]);
    let r = m.groups()[0].retry.clone().expect("policy");
    assert_eq!(r.max_attempts, Some(6));
    assert_eq!(r.delay, Some(d("180s")));
    // kafka-retry-topics + retry.delay: no longer an error.
    let m = model_of(
        &with_preset("kafka-retry-topics"),
        &["consumer.retry.delay=\"5s\""],
    );
    let r = m.groups()[0].retry.clone().expect("policy");
    assert_eq!((r.delay, r.max_attempts), (Some(d("5s")), Some(3)));
    // A new jitter that replaces the curve's growth: the preset's
    // multiplier goes, its base and cap stay (found by the property tests).
    let m = model_of(
        &with_preset("pubsub"),
        &["consumer.retry={ jitter = \"decorrelated\" }"],
    );
    let r = m.groups()[0].retry.clone().expect("policy");
    assert_eq!(
        (r.multiplier, r.base, r.cap),
        (None, Some(d("10s")), Some(d("600s")))
    );
    // A new curve missing its own key is reported at the user's key.
    let e = load(
        &with_preset("celery"),
        &["consumer.retry.backoff=\"linear\""],
    )
    .unwrap_err();
    assert!(e.to_string().contains("needs `base`"), "{e}");
}

/// Issue 27 §1: overriding one queue key of a preset keeps the others, and
/// `max_deliveries = "unlimited"` removes a preset's limit (RabbitMQ's
/// `delivery-limit = -1`).
#[test]
fn queue_keys_override_one_by_one_and_limits_can_be_removed() {
    for spec in every_preset_version() {
        let text = with_preset(&spec);
        let plain = model_of(&text, &[]);
        let q0 = &plain.queues()[0];
        // The ack timeout alone (where the preset sets one).
        if q0.ack_timeout_ns.is_some() {
            let m = model_of(&text, &["queue.ack_timeout=\"77s\""]);
            let mut want = q0.clone();
            want.ack_timeout_ns = Some(77 * S);
            assert_eq!(
                format!("{:?}", m.queues()[0]),
                format!("{want:?}"),
                "{spec}"
            );
        }
        // The limit alone.
        let m = model_of(&text, &["queue.max_deliveries=3"]);
        let mut want = q0.clone();
        want.max_deliveries = Some(3);
        want.nack_to_back = false;
        assert_eq!(
            format!("{:?}", m.queues()[0]),
            format!("{want:?}"),
            "{spec}"
        );
        // No limit.
        let m = model_of(&text, &["queue.max_deliveries=\"unlimited\""]);
        assert_eq!(m.queues()[0].max_deliveries, None, "{spec}");
        assert_eq!(m.queues()[0].ack_timeout_ns, q0.ack_timeout_ns, "{spec}");
        assert_eq!(m.queues()[0].dead_letter, q0.dead_letter, "{spec}");
        assert_eq!(
            m.queues()[0].crash_requeue_immediate,
            q0.crash_requeue_immediate,
            "{spec}"
        );
        // The fsync interval alone.
        let m = model_of(&text, &["queue.fsync_interval=\"always\""]);
        let mut want = q0.clone();
        want.fsync_ns = 0;
        assert_eq!(
            format!("{:?}", m.queues()[0]),
            format!("{want:?}"),
            "{spec}"
        );
    }
    assert!(load(&with_preset("sqs"), &["queue.max_deliveries=\"never\""]).is_err());
}

/// Issue 23: NATS calls the fsync interval `sync_interval` (`always`
/// included); the scenario takes that name for `fsync_interval`, and the
/// two load the same model. Both at once is refused.
#[test]
fn sync_interval_is_the_nats_name_of_fsync_interval() {
    let text = with_preset("nats-jetstream");
    for value in ["\"always\"", "\"1s\"", "\"2m\"", "0"] {
        let nats = model_of(&text, &[&format!("queue.sync_interval={value}")]);
        let ours = model_of(&text, &[&format!("queue.fsync_interval={value}")]);
        assert_eq!(format!("{nats:?}"), format!("{ours:?}"), "{value}");
    }
    let always = model_of(&text, &["queue.sync_interval=\"always\""]);
    assert_eq!(always.queues()[0].fsync_ns, 0);
    let default = model_of(&text, &[]);
    assert_eq!(default.queues()[0].fsync_ns, 120_000_000_000);
    let both = ["queue.sync_interval=\"1s\"", "queue.fsync_interval=\"1s\""];
    let err = load(&text, &both).expect_err("both refused");
    assert!(err.to_string().contains("give one"), "{err}");
    assert!(load(&with_preset("sqs"), &["queue.max_deliveries=0"]).is_err());
}

/// Issue 23 §1 / 27: `extend_lease` merges key by key over what the preset
/// gives (Pub/Sub's client extension; SQS's 12 h ceiling; `by` = the ack
/// timeout), and presets whose broker has no lease refuse it with a reason.
#[test]
fn lease_extension_merges_or_is_refused_with_a_reason() {
    for spec in every_preset_version() {
        let text = with_preset(&spec);
        let p = preset(&spec).expect("preset");
        let set = "consumer.extend_lease={ every = \"3s\" }";
        match p.no_lease {
            Some(reason) => {
                let e = load(&text, &[set]).expect_err("refused");
                let msg = e.to_string();
                assert!(
                    msg.contains("does not support lease extension") && msg.contains(reason),
                    "{spec}: {msg}"
                );
                assert!(msg.contains("consumer[0].extend_lease"), "{spec}: {msg}");
            }
            None => {
                let m = model_of(&text, &[set]);
                let l = m.groups()[0].extend_lease.expect("a lease");
                let base = p.extend_lease.clone().unwrap_or_default();
                assert_eq!(l.every_ns, 3 * S, "{spec}");
                let by = base.by.map(|b| b.ns()).or(m.queues()[0].ack_timeout_ns);
                assert_eq!(Some(l.by_ns), by, "{spec}");
                assert_eq!(l.max_ns, base.max.or(p.lease_max).map(|x| x.ns()), "{spec}");
            }
        }
    }
    // Pub/Sub's own extension: one key changed, the others stay.
    let m = model_of(
        &with_preset("pubsub"),
        &["consumer.extend_lease.max=\"2h\""],
    );
    let l = m.groups()[0].extend_lease.expect("lease");
    assert_eq!(
        (l.every_ns, l.by_ns, l.max_ns),
        (5 * S, 10 * S, Some(7200 * S))
    );
    // And it can be turned off.
    let m = model_of(&with_preset("pubsub"), &["consumer.extend_lease=false"]);
    assert!(m.groups()[0].extend_lease.is_none());
    // No preset: `every` is needed, and an ack timeout to extend.
    let plain = with_preset("sqs").replace("preset = \"sqs\"", "");
    let e = load(&plain, &["consumer.extend_lease={ every = \"3s\" }"]).unwrap_err();
    assert!(e.to_string().contains("ack_timeout"), "{e}");
    let e = load(
        &plain,
        &[
            "queue.ack_timeout=\"30s\"",
            "consumer.extend_lease={ by = \"3s\" }",
        ],
    )
    .unwrap_err();
    assert!(e.to_string().contains("every"), "{e}");
}

/// Issue 27 §2: `NAME@VERSION`; an unknown version is an error listing the
/// known ones, located at the key.
#[test]
fn versions_are_selected_and_unknown_ones_listed() {
    let e = load(&with_preset("rabbitmq-quorum@3.13"), &[]).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("queue[0].preset"), "{msg}");
    for v in versions("rabbitmq-quorum") {
        assert!(msg.contains(v), "{msg} lists {v}");
    }
    assert!(load(&with_preset("sidekiq@7.2.1"), &[]).is_ok());
    let e = load(&with_preset("sidekick"), &[]).unwrap_err();
    assert!(e.to_string().contains("did you mean `sidekiq`"), "{e}");
}

/// A poison-only workload: every attempt fails.
fn poison_queue(preset: &str, extra_consumer: &str) -> String {
    format!(
        r#"
[simulation]
seed = 8
duration = "2m"
drain = "10m"
[[producer]]
arrival = {{ process = "poisson", rate = 0.5 }}
[[queue]]
preset = "{preset}"
[[consumer]]
count = 2
service = {{ dist = "constant", mean = "10ms" }}
poison = 1.0
{extra_consumer}
"#
    )
}

/// Issue 27 §2: RabbitMQ 4.0-4.2 counts every return and acts when the
/// count exceeds the limit (20): an always-failing message is delivered 21
/// times, then dropped (no dead-letter exchange by default), or
/// dead-lettered where the queue has one.
#[test]
fn rabbitmq_quorum_4_2_delivers_a_failing_message_21_times() {
    let s = summary(&scenario(&poison_queue("rabbitmq-quorum@4.2", "")), 1, 1);
    assert_conserved(&s);
    let n = get(&s, "messages.published");
    assert!(n > 20.0);
    assert_eq!(get(&s, "messages.max_attempts"), 21.0);
    assert_eq!(
        get(&s, "messages.attempts"),
        21.0,
        "every message, 21 deliveries"
    );
    assert_eq!(
        s["messages"]["lost_by_cause"]["dropped-at-limit"].as_f64(),
        Some(n),
        "dropped at the limit without a dead-letter exchange"
    );
    let text = poison_queue("rabbitmq-quorum@4.2", "").replace(
        "preset = \"rabbitmq-quorum@4.2\"",
        "preset = \"rabbitmq-quorum@4.2\"\ndead_letter = true",
    );
    let s = summary(&scenario(&text), 1, 1);
    assert_eq!(get(&s, "messages.attempts"), 21.0);
    assert_eq!(
        s["messages"]["dead_lettered_by_reason"]["max-deliveries"].as_f64(),
        Some(n)
    );
}

/// Issue 27 §2: RabbitMQ 4.3 does not count nacks: a nack-requeue loop
/// never reaches the limit (the poison message loops as on a classic
/// queue); a reject-requeue loop does, after 21 deliveries.
#[test]
fn rabbitmq_quorum_4_3_counts_rejects_but_not_nacks() {
    let s = summary(&scenario(&poison_queue("rabbitmq-quorum", "")), 1, 1);
    assert_conserved(&s);
    let n = get(&s, "messages.published");
    assert_eq!(get(&s, "messages.dead_lettered"), 0.0);
    assert_eq!(get(&s, "messages.in_flight"), n, "still looping at the end");
    assert!(get(&s, "messages.max_attempts") > 1000.0);
    let s = summary(
        &scenario(&poison_queue(
            "rabbitmq-quorum",
            "retry_mode = \"reject-requeue\"",
        )),
        1,
        1,
    );
    assert_conserved(&s);
    assert_eq!(
        s["messages"]["lost_by_cause"]["dropped-at-limit"].as_f64(),
        Some(n)
    );
    assert_eq!(get(&s, "messages.max_attempts"), 21.0);
    // The report's theory knows the limit does not apply to nacks.
    let s = summary(
        &scenario(&poison_queue("rabbitmq-quorum", "").replace("poison = 1.0", "failure = 0.5")),
        1,
        1,
    );
    assert!(
        s["markov"]["lifecycle"]["theory"]["k"].is_null(),
        "no limit on nacks"
    );
}

/// Issue 27 §2: with `delivery-limit = -1` a quorum queue returns a nacked
/// message to the back, so one consumer keeps serving the healthy messages
/// behind a poison one; a classic queue returns it to the head, where it
/// blocks them.
#[test]
fn an_unlimited_quorum_queue_requeues_to_the_back() {
    let text = |preset: &str| {
        format!(
            r#"
[simulation]
seed = 21
duration = "10m"
drain = "1m"
[[producer]]
arrival = {{ process = "poisson", rate = 2.0 }}
[[queue]]
preset = "{preset}"
max_deliveries = "unlimited"
[[consumer]]
service = {{ dist = "constant", mean = "10ms" }}
poison = 0.02
"#
        )
    };
    let back = summary(&scenario(&text("rabbitmq-quorum")), 1, 1);
    let head = summary(&scenario(&text("rabbitmq-classic")), 1, 1);
    let n = get(&back, "messages.published");
    // Back: only the poison messages (about 2%) are left looping.
    let looping = get(&back, "messages.in_flight");
    let se = (0.02 * 0.98 * n).sqrt();
    assert!(
        (looping - 0.02 * n).abs() < 5.0 * se + 1.0,
        "{looping} of {n}"
    );
    assert_eq!(get(&back, "messages.acked") + looping, n);
    // Head: after the first poison message nothing else is processed.
    assert!(get(&head, "messages.acked") < 0.5 * n, "{head:?}");
}

/// Issue 27 §2: each Sidekiq version's preset retries on its own formula:
/// the delays fall in that version's range and on its lattice.
#[test]
fn sidekiq_delays_fall_in_each_versions_range() {
    use mqsim::rng::{stream, Domain};
    for v in versions("sidekiq") {
        let m = model_of(&with_preset(&format!("sidekiq@{v}")), &[]);
        let policy = m.groups()[0].retry.clone().expect("policy");
        assert_eq!(policy.max_attempts, Some(26), "25 retries");
        for retry in [1u32, 2, 5] {
            let n = u64::from(retry - 1);
            let lo = (n.pow(4) + 15) * S;
            // Values and their spacing: 8 rand(10(n+1)); 6-7.3 rand(10)(n+1); 5 rand(30)(n+1).
            let (count, step) = match *v {
                "8" => (10 * (n + 1), S),
                "5" => (30, (n + 1) * S),
                _ => (10, (n + 1) * S),
            };
            let mut r = stream(5, Domain::Backoff, u64::from(retry), 0);
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..50 * count {
                let x = policy.delay_ns(retry, 0, &mut r);
                assert!(x >= lo && x <= lo + (count - 1) * step, "sidekiq@{v}: {x}");
                assert_eq!((x - lo) % step, 0, "sidekiq@{v}: {x} off the lattice");
                seen.insert(x);
            }
            assert_eq!(seen.len() as u64, count, "sidekiq@{v} retry {retry}");
        }
    }
}

/// Issue 27 §3: Celery's `retry()` waits `default_retry_delay` (180 s), not
/// the opt-in exponential backoff. With 20% failures and at most 3
/// retries, a message that failed once waits 180 s, so p90 of the latency
/// is 180 s plus two attempts (P(no failure) = 0.8 < 0.9 <= P(at most
/// one) = 0.96), and the slowest acked message waited 3 x 180 s.
#[test]
fn celerys_default_retry_delay_is_180_seconds() {
    let text = r#"
[simulation]
seed = 30
duration = "1h"
drain = "30m"
[[producer]]
arrival = { process = "poisson", rate = 2.0 }
[[queue]]
preset = "celery"
[[consumer]]
count = 8
service = { dist = "constant", mean = "100ms" }
failure = 0.2
"#;
    let s = summary(&scenario(text), 1, 1);
    assert_conserved(&s);
    let p90 = get(&s, "latency.p90");
    assert!((180.0..181.0).contains(&p90), "p90 {p90}");
    let max = get(&s, "latency.max");
    assert!((540.0..541.0).contains(&max), "max {max}");
    // The opt-in (retry_backoff = True) is the documented override.
    let s = summary(
        &load(
            text,
            &["consumer.retry={ backoff = \"exponential\", base = \"1s\", cap = \"600s\", jitter = \"full\" }"],
        )
        .expect("loads"),
        1,
        1,
    );
    assert!(get(&s, "latency.p90") < 2.0);
}

/// The trace of the first `n` messages.
fn trace(m: &Model, n: u64) -> Vec<TraceEvent> {
    let ids: Vec<u64> = (0..n).collect();
    run_traced(m, m.seed, 0, Limits::default(), &ids).trace
}

/// Issue 27 §3: a 15 s handler on `pubsub` produces no duplicates: the
/// client extends the 10 s deadline while it works. Without the extension
/// every message is delivered again (the contrast shows the test can fail).
#[test]
fn a_15_second_handler_on_pubsub_makes_no_duplicates() {
    let text = r#"
[simulation]
seed = 3
duration = "30m"
drain = "30m"
[[producer]]
arrival = { process = "poisson", rate = 0.5 }
[[queue]]
preset = "pubsub"
[[consumer]]
count = 20
service = { dist = "constant", mean = "15s" }
"#;
    let s = summary(&scenario(text), 1, 1);
    assert_conserved(&s);
    assert!(get(&s, "messages.published") > 500.0);
    assert_eq!(get(&s, "messages.duplicates"), 0.0);
    assert_eq!(get(&s, "messages.redelivered"), 0.0);
    let off = summary(
        &load(text, &["consumer.extend_lease=false"]).expect("loads"),
        1,
        1,
    );
    assert!(get(&off, "messages.duplicates") > 0.0);
    // An extension travels like an ack: when the wire loses some, a
    // deadline can pass before the next one arrives.
    let lossy = summary(
        &load(text, &["network={ ack_loss = 0.6 }"]).expect("loads"),
        1,
        1,
    );
    assert!(
        lossy["messages"]["duplicates_by_cause"]["ack-timeout"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0,
        "{:?}",
        lossy["messages"]["duplicates_by_cause"]
    );
    // Past the client's longest extension the deadline expires again.
    let short = summary(
        &load(text, &["consumer.extend_lease.max=\"12s\""]).expect("loads"),
        1,
        1,
    );
    assert!(get(&short, "messages.duplicates") > 0.0);
}

/// Issue 27 §3: Pub/Sub applies its retry policy to expired deadlines: the
/// redelivery after an expiry waits the exponential backoff (10 s first).
#[test]
fn pubsub_expiries_go_through_the_retry_backoff() {
    let text = r#"
[simulation]
seed = 4
duration = "2m"
drain = "30m"
[[producer]]
arrival = { process = "constant", rate = 0.1 }
[[queue]]
preset = "pubsub"
[[consumer]]
count = 4
service = { dist = "constant", mean = "15s" }
extend_lease = false
"#;
    let m = model_of(text, &[]);
    let t = trace(&m, 3);
    let mut checked = 0;
    for id in 0..3 {
        let mine: Vec<&TraceEvent> = t.iter().filter(|e| e.message == id).collect();
        for (k, e) in mine.iter().enumerate() {
            if e.event.starts_with("ack deadline expired") {
                // The last expiry reaches the delivery limit: no redelivery.
                let Some(next) = mine[k + 1..].iter().find(|x| x.event == "delivered") else {
                    continue;
                };
                assert!(
                    next.time_s - e.time_s >= 10.0 - 1e-9,
                    "message {id}: redelivered {} s after the expiry",
                    next.time_s - e.time_s
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 3, "{t:?}");
}

/// Issue 27 §3: `kafka-retry-topics` hands a crashed consumer's records to
/// another member only after `session.timeout.ms` (45 s from Kafka 3.0,
/// 10 s before) and the rebalance, not at once.
#[test]
fn kafka_retry_topics_waits_the_session_timeout_after_a_crash() {
    for (version, session_s) in [("", 45.0), ("@2", 10.0)] {
        let text = format!(
            r#"
[simulation]
seed = 6
duration = "3m"
drain = "10m"
[[producer]]
arrival = {{ process = "constant", rate = 2.0 }}
[[queue]]
preset = "kafka-retry-topics{version}"
[[consumer]]
count = 2
prefetch = 5
service = {{ dist = "constant", mean = "1500ms" }}
[[fault]]
kind = "consumer-crash"
instance = 0
at = "60s"
downtime = "5m"
"#
        );
        let m = model_of(&text, &[]);
        let t = trace(&m, 200);
        let crash_s = 60.0;
        let mut returned = 0;
        for id in 0..200 {
            let mine: Vec<&TraceEvent> = t.iter().filter(|e| e.message == id).collect();
            // A message the crashed instance held: delivered to #0 before the crash.
            let held = mine
                .iter()
                .any(|e| e.event == "delivered" && e.detail.contains("#0") && e.time_s < crash_s);
            let done_before = mine
                .iter()
                .any(|e| e.event == "acked" && e.time_s <= crash_s);
            if !held || done_before {
                continue;
            }
            let again = mine
                .iter()
                .find(|e| e.event == "delivered" && e.time_s >= crash_s)
                .expect("delivered again");
            assert!(
                again.time_s - crash_s >= session_s,
                "kafka-retry-topics{version}: message {id} redelivered {} s after the crash",
                again.time_s - crash_s
            );
            returned += 1;
        }
        assert!(
            returned >= 2,
            "the crashed member held records ({returned})"
        );
    }
}

/// A single-replica JetStream stream, nobody consuming, a broker crash at
/// 30 min.
fn nats_crash(extra_queue: &str, extra_fault: &str) -> String {
    format!(
        r#"
[simulation]
seed = 40
duration = "40m"
drain = "1m"
[[producer]]
arrival = {{ process = "poisson", rate = 10.0 }}
[[queue]]
preset = "nats-jetstream"
{extra_queue}
[[consumer]]
service = {{ dist = "constant", mean = "1s" }}
[[fault]]
kind = "consumer-crash"
at = "1s"
downtime = "2h"
[[fault]]
kind = "broker-crash"
at = "30m"
downtime = "10s"
{extra_fault}
"#
    )
}

/// Issue 27 §3 / 23 §5 (Jepsen, NATS 2.12.1): JetStream fsyncs every
/// `sync_interval` (2 min) and acks publishes at once, so a machine crash
/// loses what was accepted since the last sync: rate x U(0, 120 s), 600
/// messages on average over the sync phase, drawn afresh per replication.
/// A process crash (SIGKILL) keeps them in the page cache, and
/// `sync_interval = "always"` loses nothing.
#[test]
fn nats_jetstream_loses_the_last_sync_interval_in_a_machine_crash() {
    let reps = 40;
    let s = summary(&scenario(&nats_crash("", "")), reps, 2);
    assert_conserved(&s);
    let lost = s["messages"]["lost_by_cause"]["broker-crash"]
        .as_f64()
        .expect("lost in the crash");
    // Per replication: 10/s x U(0, 120 s) (sd 10 x 120 / sqrt(12)) plus
    // Poisson noise (sd sqrt(600)); the mean of `reps`.
    let se = ((1200.0f64.powi(2) / 12.0 + 600.0) / reps as f64).sqrt();
    assert!(
        (lost - 600.0).abs() < 4.0 * se,
        "lost {lost} vs 600 (se {se})"
    );
    let process = summary(&scenario(&nats_crash("", "scope = \"process\"")), reps, 2);
    assert_eq!(
        process["messages"]["lost_by_cause"]["broker-crash"].as_f64(),
        None
    );
    let always = summary(
        &scenario(&nats_crash("fsync_interval = \"always\"", "")),
        reps,
        2,
    );
    assert_eq!(
        always["messages"]["lost_by_cause"]["broker-crash"].as_f64(),
        None
    );
}

/// Issue 23 §1: a consumer that extends a short lease and crashes has its
/// messages back within one lease (`by`) of its last extension, not after
/// the queue's long timeout; a partitioned one too.
#[test]
fn a_crashed_heartbeat_consumer_returns_its_messages_within_one_lease() {
    for fault in [
        "kind = \"consumer-crash\"\ntarget = \"consumer:worker\"\nat = \"100s\"\ndowntime = \"1h\"",
        "kind = \"partition\"\nbetween = [\"consumer:worker\", \"broker\"]\nstart = \"100s\"\nduration = \"1h\"",
    ] {
        let text = format!(
            r#"
[simulation]
seed = 9
duration = "5m"
drain = "2h"
[[producer]]
arrival = {{ process = "constant", rate = 0.2 }}
[[queue]]
preset = "sqs"
ack_timeout = "10m"
[[consumer]]
name = "worker"
count = 2
service = {{ dist = "constant", mean = "60s" }}
extend_lease = {{ every = "10s", by = "30s" }}
[[consumer]]
name = "spare"
count = 2
service = {{ dist = "constant", mean = "60s" }}
[[fault]]
{fault}
"#
        );
        let m = model_of(&text, &[]);
        let t = trace(&m, 60);
        let timeouts: Vec<&TraceEvent> = t
            .iter()
            .filter(|e| e.event.starts_with("ack timeout") && e.time_s > 100.0)
            .collect();
        assert!(!timeouts.is_empty(), "{fault}: the held messages came back");
        for e in &timeouts {
            // The last extension arrived before 100 s, at most 30 s later it expires.
            assert!(e.time_s <= 130.0 + 1e-9, "{fault}: back at {} s", e.time_s);
        }
    }
}

/// Issue 21's live finding: JetStream settles a message by its stream
/// sequence, so the late ack of a delivery that outlasted AckWait settles
/// the message even though it was delivered again: each slow message is
/// processed exactly twice (measured live: 76 duplicates where the
/// simulation, ignoring the late ack, counted 155.6). A queue that ignores
/// a late ack (no preset) redelivers every 1.5 s message again and again.
#[test]
fn a_late_ack_settles_a_jetstream_message_after_one_redelivery() {
    let text = r#"
[simulation]
seed = 5
duration = "100s"
drain = "60s"
[[producer]]
arrival = { process = "constant", rate = 0.1 }
[[queue]]
preset = "nats-jetstream"
ack_timeout = "1s"
[[consumer]]
count = 2
prefetch = 1
service = { dist = "constant", mean = "1500ms" }
"#;
    let s = summary(&scenario(text), 1, 1);
    assert_conserved(&s);
    let published = get(&s, "messages.published");
    assert!(published >= 9.0, "{published}");
    assert_eq!(get(&s, "messages.duplicates"), published);
    assert_eq!(get(&s, "messages.redelivered"), published);
    assert_eq!(get(&s, "messages.acked"), published);
    let plain = text.replace("preset = \"nats-jetstream\"\n", "");
    let ignored = summary(&scenario(&plain), 1, 1);
    assert!(
        get(&ignored, "messages.duplicates") > 2.0 * published,
        "{:?}",
        ignored["messages"]
    );
}

/// Issue 21's live finding: RabbitMQ does not apply `basic.qos` to an
/// automatic-acknowledgement consumer and pushes it every ready message, so
/// a crash loses the whole pushed backlog (measured live on RabbitMQ 3.10.8:
/// 8 lost, where a prefetch of 1 would lose 1). Presets of brokers that do
/// bound an auto-ack consumer (JetStream's MaxAckPending, Celery's prefetch
/// multiplier) keep the prefetch.
#[test]
fn a_rabbitmq_auto_ack_consumer_loses_everything_pushed_to_it() {
    let text = |preset: &str| {
        format!(
            r#"
[simulation]
seed = 29
duration = "40s"
warmup = "0s"
drain = "25s"
[[producer]]
arrival = {{ process = "constant", rate = 1.0 }}
[[queue]]
preset = "{preset}"
[[consumer]]
count = 1
prefetch = 1
ack = "on-receive"
service = {{ dist = "constant", mean = "1500ms" }}
[[fault]]
kind = "consumer-crash"
at = "20250ms"
downtime = "5s"
"#
        )
    };
    // At 20.25 s the consumer works on the 13th message and 7 more have
    // arrived: RabbitMQ had pushed all 8 to it.
    for (preset, lost) in [
        ("rabbitmq-classic", 8.0),
        ("rabbitmq-quorum", 8.0),
        ("celery", 1.0),
    ] {
        let s = scenario(&text(preset));
        let v = summary(&s, 1, 1);
        assert_eq!(get(&v, "messages.lost"), lost, "{preset}");
        assert_conserved(&v);
    }
}

/// Issue 21's live finding: a RabbitMQ quorum queue under `reject-publish`
/// refuses only once over `x-max-length`, so it holds one ready message
/// more than a classic queue (3.10.8, live: 12 of 19 refused and 6 ready
/// where a classic queue refused 13 and held 5). `drop-head` holds the
/// limit on both.
#[test]
fn a_quorum_queue_refuses_publishes_only_once_over_its_limit() {
    let text = |preset: &str, overflow: &str| {
        format!(
            r#"
[simulation]
seed = 19
duration = "20s"
drain = "2s"
[[producer]]
arrival = {{ process = "constant", rate = 1.0 }}
[[queue]]
preset = "{preset}"
capacity = 5
overflow = "{overflow}"
[[consumer]]
count = 1
prefetch = 1
service = {{ dist = "constant", mean = "10000s" }}
"#
        )
    };
    // (preset, overflow, rejected, lost, dead-lettered, in flight) of 19
    // publishes: one held by the consumer, the rest ready up to the limit.
    // The classic preset has a dead-letter exchange (`dead_letter = true`),
    // where RabbitMQ sends the heads it drops (reason `maxlen`); the
    // quorum preset has none, and they are lost.
    for (preset, overflow, rejected, lost, dead_lettered, in_flight) in [
        ("rabbitmq-classic", "reject-publish", 13.0, 0.0, 0.0, 6.0),
        ("rabbitmq-classic", "drop-head", 0.0, 0.0, 13.0, 6.0),
        ("rabbitmq-quorum@4.2", "reject-publish", 12.0, 0.0, 0.0, 7.0),
        ("rabbitmq-quorum@4.2", "drop-head", 0.0, 13.0, 0.0, 6.0),
    ] {
        let v = summary(&scenario(&text(preset, overflow)), 1, 1);
        let got = (
            get(&v, "messages.published"),
            get(&v, "messages.rejected"),
            get(&v, "messages.lost"),
            get(&v, "messages.dead_lettered"),
            get(&v, "messages.in_flight"),
        );
        assert_eq!(
            got,
            (19.0, rejected, lost, dead_lettered, in_flight),
            "{preset} {overflow}"
        );
    }
}

/// One JetStream consumer instance (`prefetch` slots) whose every attempt
/// fails, a delayed retry of 10 s, two attempts in all; a message a second
/// for 100 s, and the run ends there (no drain).
fn nats_delayed_retry(preset: &str, prefetch: u32) -> String {
    format!(
        r#"
[simulation]
duration = "100s"
drain = "0s"
[[producer]]
arrival = {{ process = "constant", rate = 1.0 }}
[[queue]]
preset = "{preset}"
[[consumer]]
preset = "{preset}"
prefetch = {prefetch}
service = {{ dist = "constant", mean = "10ms" }}
failure = 1.0
retry_mode = "delay"
retry = {{ backoff = "fixed", delay = "10s", max_attempts = 2 }}
"#
    )
}

/// Issue 21 (measured live on nats-server 2.9): a NakWithDelay keeps the
/// message in the consumer's pending set, so its MaxAckPending slot stays
/// taken for the whole delay, and a retry that falls due is served before
/// the messages waiting behind it. With one slot, each message holds it
/// for 10.02 s (two 10 ms attempts and the delay), its retry coming before
/// the next message: 9 messages are given up (MaxDeliver) within 100 s,
/// as the live run counts (9 dead-lettered, 9 redelivered); two slots
/// give 18. Where the slot frees at the nack (SQS's visibility change),
/// every message is given up 10.02 s after its publish: the 89 published
/// at 1 s to 89 s.
#[test]
fn a_jetstream_delayed_retry_keeps_its_slot_and_comes_back_first() {
    for (preset, prefetch, given_up) in [
        ("nats-jetstream", 1, 9.0),
        ("nats-jetstream", 2, 18.0),
        ("sqs", 1, 89.0),
    ] {
        let s = summary(&scenario(&nats_delayed_retry(preset, prefetch)), 1, 1);
        assert_conserved(&s);
        assert_eq!(get(&s, "messages.published"), 99.0);
        assert_eq!(
            get(&s, "messages.dead_lettered"),
            given_up,
            "{preset}, prefetch {prefetch}"
        );
        assert_eq!(
            get(&s, "messages.redelivered"),
            given_up,
            "{preset}, prefetch {prefetch}: each given-up message came back once"
        );
    }
}

/// Issue 21 (a broker crash held beside a real NATS server): JetStream
/// keeps a consumer's pending deliveries in its file store, so after a
/// process crash (SIGKILL) and restart the message in work when the
/// server died is not delivered again at the restart, but when AckWait
/// (25 s) has passed since its delivery. Its ack, sent while the server
/// was down, is lost, so the redelivery is a duplicate by cause
/// broker-crash. The messages published while the server is down find
/// no server (no confirms: lost, cause broker-down). The scenario is the
/// one `tests/live.rs` runs against a spawned nats-server.
#[test]
fn a_nats_process_crash_keeps_the_pending_delivery_until_ack_wait() {
    let s = scenario_file("scenarios/live/broker-crash.toml", &[]);
    let m = model::compile(&s).expect("compiles");
    // Message 19 (published at 10 s) is in work at the crash (10.25 s).
    let deliveries: Vec<f64> = trace(&m, 20)
        .iter()
        .filter(|e| e.message == 19 && e.event == "delivered")
        .map(|e| e.time_s)
        .collect();
    assert_eq!(deliveries, vec![10.0, 35.0], "AckWait after delivery 1");
    let sum = summary(&s, 1, 1);
    assert_conserved(&sum);
    assert_eq!(
        sum["messages"]["duplicates_by_cause"]["broker-crash"].as_f64(),
        Some(1.0)
    );
    assert_eq!(
        sum["messages"]["lost_by_cause"]["broker-down"].as_f64(),
        Some(10.0)
    );
    assert_eq!(get(&sum, "latency.max"), 0.3);
    // With confirms and a retry the producer waits the downtime out.
    let retried = scenario_file(
        "scenarios/live/broker-crash.toml",
        &[
            "producer.confirm_timeout=2s",
            "producer.retry={max_attempts=20, backoff=\"fixed\", delay=\"500ms\"}",
        ],
    );
    let sum = summary(&retried, 1, 1);
    assert_eq!(get(&sum, "messages.lost"), 0.0);
    assert_eq!(get(&sum, "messages.acked"), 59.0);
}
