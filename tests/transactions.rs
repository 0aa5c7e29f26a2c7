//! Transactions and rollback (issue 26): side effects and the ack, sagas
//! with compensations, exactly-once on the log.

mod common;
use common::*;

/// One message a second, a constant 50 ms on every hop and a constant
/// 100 ms of work: message k is published at k s, delivered at k + 0.1 s,
/// processed by k + 0.2 s; its ack reaches the broker at k + 0.25 s, and an
/// `after-ack` write (made once the broker has the ack: one more hop) at
/// k + 0.3 s. A crash at k + `offset` s, for 100 ms, hits one message.
fn side_effect_scenario(mode: &str, offset_ms: u64, extra: &str) -> String {
    let crashes: String = [3u64, 7, 11]
        .iter()
        .map(|k| {
            format!(
                "[[fault]]\nkind = \"consumer-crash\"\nat = \"{}ms\"\ndowntime = \"100ms\"\n",
                k * 1000 + offset_ms
            )
        })
        .collect();
    format!(
        r#"
[simulation]
duration = "15s"
drain = "10s"
[[producer]]
arrival = {{ process = "constant", rate = 1.0 }}
[[queue]]
[[consumer]]
service = {{ dist = "constant", mean = "100ms" }}
side_effect = "{mode}"
{extra}
[network]
latency = {{ dist = "constant", mean = "50ms" }}
{crashes}"#
    )
}

#[test]
fn a_crash_between_write_and_ack_duplicates_a_before_ack_side_effect() {
    // The crash at k + 0.22 s kills the ack on the wire: the message comes
    // back and is processed (and written) again.
    let s = summary(
        &scenario(&side_effect_scenario("before-ack", 220, "")),
        1,
        1,
    );
    assert_conserved(&s);
    assert_eq!(get(&s, "messages.side_effects_duplicated"), 3.0);
    assert_eq!(get(&s, "messages.side_effects_lost"), 0.0);
    assert_eq!(get(&s, "messages.duplicates"), 3.0);
    // A crash after the ack reached the broker changes nothing.
    let late = summary(
        &scenario(&side_effect_scenario("before-ack", 270, "")),
        1,
        1,
    );
    assert_eq!(get(&late, "messages.side_effects_duplicated"), 0.0);
    assert_eq!(get(&late, "messages.side_effects_lost"), 0.0);
}

#[test]
fn a_crash_between_ack_and_write_loses_an_after_ack_side_effect() {
    // The broker has the ack at k + 0.25 s; the crash at k + 0.27 s comes
    // before the write: the message is done, its side effect never happens.
    let s = summary(&scenario(&side_effect_scenario("after-ack", 270, "")), 1, 1);
    assert_conserved(&s);
    assert_eq!(get(&s, "messages.side_effects_lost"), 3.0);
    assert_eq!(get(&s, "messages.side_effects_duplicated"), 0.0);
    assert_eq!(get(&s, "messages.duplicates"), 0.0);
    assert_eq!(get(&s, "messages.acked"), get(&s, "messages.published"));
    // A crash that kills the ack on the wire: the handler never wrote, the
    // message comes back and is written then (processed twice, written once).
    let early = summary(&scenario(&side_effect_scenario("after-ack", 220, "")), 1, 1);
    assert_eq!(get(&early, "messages.side_effects_lost"), 0.0);
    assert_eq!(get(&early, "messages.side_effects_duplicated"), 0.0);
    assert_eq!(get(&early, "messages.duplicates"), 3.0);
}

/// Redeliveries at a short ack timeout while the first delivery is still
/// being processed: the idempotency store cannot stop the second
/// processing (ids are recorded when processing ends), but an idempotent
/// write, checked against the store when it is made, happens once.
#[test]
fn idempotent_side_effects_are_written_once_though_processed_twice() {
    let text = |mode: &str| {
        format!(
            r#"
[simulation]
duration = "10m"
[[producer]]
arrival = {{ process = "poisson", rate = 4.0 }}
[[queue]]
ack_timeout = "150ms"
[[consumer]]
count = 4
service = {{ dist = "exponential", mean = "100ms" }}
side_effect = "{mode}"
idempotency = {{ window = "10m" }}
"#
        )
    };
    let plain = summary(&scenario(&text("before-ack")), 1, 1);
    let duplicates = get(&plain, "messages.duplicates");
    assert!(duplicates > 10.0, "{duplicates}");
    assert_eq!(get(&plain, "messages.side_effects_duplicated"), duplicates);
    let idem = summary(&scenario(&text("idempotent")), 1, 1);
    assert!(get(&idem, "messages.duplicates") > 10.0);
    assert_eq!(get(&idem, "messages.side_effects_duplicated"), 0.0);
    assert_eq!(get(&idem, "messages.side_effects_lost"), 0.0);
}

#[test]
fn side_effect_settings_are_checked() {
    let base =
        "[[producer]]\narrival = { process = \"poisson\", rate = 1.0 }\n[[queue]]\n[[consumer]]\n";
    let load = |extra: &str| {
        mqsim::scenario::load_str(&format!("{base}{extra}"), "t.toml", &Default::default())
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let e = load("side_effect = \"sometimes\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("side_effect"), "{e}");
    let e = load("side_effect = \"idempotent\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("idempotency"), "{e}");
    let e = load("side_effect = \"after-ack\"\nack = \"on-receive\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("after-processing"), "{e}");
    assert!(load("side_effect = \"after-ack\"\n").is_ok());
}

/// Three steps, `orders` -> `payments` -> `inventory`, each step but the
/// last with a compensation queue; `extra_*` adds keys to the last step's
/// consumer and to the compensation consumers.
fn saga_scenario(last_step: &str, undo: &str, saga: &str, rest: &str) -> String {
    format!(
        r#"
[simulation]
duration = "30m"
drain = "30m"
[[producer]]
queue = "orders"
arrival = {{ process = "poisson", rate = 3.0 }}
[[queue]]
name = "orders"
[[queue]]
name = "payments"
[[queue]]
name = "inventory"
{rest}
[[queue]]
name = "orders-undo"
[[queue]]
name = "payments-undo"
[[consumer]]
name = "orders"
queue = "orders"
count = 2
service = {{ dist = "exponential", mean = "50ms" }}
publish_to = "payments"
[[consumer]]
name = "payments"
queue = "payments"
count = 2
service = {{ dist = "exponential", mean = "50ms" }}
publish_to = "inventory"
[[consumer]]
name = "inventory"
queue = "inventory"
count = 2
service = {{ dist = "exponential", mean = "50ms" }}
{last_step}
[[consumer]]
name = "orders-undo"
queue = "orders-undo"
service = {{ dist = "exponential", mean = "50ms" }}
{undo}
[[consumer]]
name = "payments-undo"
queue = "payments-undo"
service = {{ dist = "exponential", mean = "50ms" }}
{undo}
[[saga]]
name = "order"
steps = ["orders", "payments", "inventory"]
compensations = ["orders-undo", "payments-undo", ""]
{saga}
"#
    )
}

/// A non-retryable failure with probability p at the last step and no
/// faults: the fraction compensated is p (binomial sampling error), every
/// transaction ends completed or compensated, none stuck.
#[test]
fn compensated_fraction_is_the_failure_probability_and_nothing_is_stuck() {
    let p = 0.2;
    for order in ["reverse", "parallel"] {
        let text = saga_scenario(
            &format!("failure = {p}\nnon_retryable = 1.0"),
            "",
            &format!("trigger = \"non-retryable\"\norder = \"{order}\""),
            "",
        );
        let s = summary(&scenario(&text), 1, 1);
        assert_conserved(&s);
        let started = get(&s, "sagas.order.started");
        let compensated = get(&s, "sagas.order.compensated");
        assert!(started > 4000.0, "{started}");
        assert_eq!(get(&s, "sagas.order.stuck"), 0.0);
        assert_eq!(get(&s, "sagas.order.running"), 0.0);
        assert_eq!(get(&s, "sagas.order.completed") + compensated, started);
        let fraction = compensated / started;
        let sd = (p * (1.0 - p) / started).sqrt();
        assert!(
            (fraction - p).abs() < 4.0 * sd,
            "{order}: {fraction} vs {p}"
        );
        assert_eq!(get(&s, "sagas.order.compensated_fraction"), fraction);
        // Two compensations of ~50 ms each: undo is a share of the work,
        // and one after the other takes longer than both at once.
        let undo = get(&s, "sagas.order.undo_share");
        assert!(undo > 0.0 && undo < 1.0, "{undo}");
        let latency = get(&s, "sagas.order.compensation_latency.mean");
        let bound = if order == "reverse" { 0.1 } else { 0.05 };
        assert!(latency > bound * 0.8, "{order}: {latency}");
        assert!(get(&s, "sagas.order.inconsistency_seconds.p99") > 0.0);
        assert_eq!(get(&s, "saga_totals.stuck"), 0.0);
    }
}

/// An auto-ack compensation consumer that crashes loses the compensations
/// it holds: each such saga is stuck, and nothing else is. The last step
/// drops its failures (no dead-letter queue), so a message whose
/// compensation was lost is counted lost by `auto-ack-crash`, the others
/// by `dropped-at-limit`.
#[test]
fn a_crashing_auto_ack_compensation_consumer_leaves_sagas_stuck() {
    let text = saga_scenario(
        "failure = 0.2\nnon_retryable = 1.0",
        "ack = \"on-receive\"",
        "trigger = \"non-retryable\"",
        "dead_letter = false",
    ) + r#"
[[fault]]
kind = "consumer-crash"
target = "consumer:payments-undo"
mtbf = "2s"
mttr = { dist = "constant", mean = "1s" }
"#;
    let s = summary(&scenario(&text), 1, 1);
    assert_conserved(&s);
    let stuck = get(&s, "sagas.order.stuck");
    // About 600 crashes, each holding a compensation about 3% of the time.
    assert!(stuck > 8.0, "{stuck}");
    let lost_compensations = s["messages"]["lost_by_cause"]["auto-ack-crash"]
        .as_f64()
        .unwrap_or(0.0);
    assert_eq!(stuck, lost_compensations);
    let dropped = s["messages"]["lost_by_cause"]["dropped-at-limit"]
        .as_f64()
        .unwrap_or(0.0);
    assert_eq!(get(&s, "sagas.order.compensated"), dropped);
    assert_eq!(
        get(&s, "sagas.order.completed") + dropped + stuck,
        get(&s, "sagas.order.started")
    );
}

/// With the dead-letter trigger and a delivery limit of k attempts, the
/// compensation starts when the k-th failure dead-letters the message,
/// not before: the trace shows k failed attempts at the last step, then
/// the dead-lettering, then the compensation.
#[test]
fn the_dead_letter_trigger_compensates_after_the_kth_failure() {
    let k = 3;
    let text = saga_scenario(
        &format!(
            "failure = 1.0\nretry = {{ backoff = \"fixed\", delay = \"1s\", max_attempts = {k} }}"
        ),
        "",
        "trigger = \"dead-letter\"",
        "",
    )
    .replace("duration = \"30m\"", "duration = \"10s\"");
    let m = mqsim::model::compile(&scenario(&text)).unwrap();
    let out = mqsim::sim::run_traced(&m, 1, 0, Default::default(), &[0]);
    let events: Vec<(&str, &str, f64)> = out
        .trace
        .iter()
        .map(|e| (e.event, e.queue.as_str(), e.time_s))
        .collect();
    let start = events
        .iter()
        .position(|e| e.0 == "saga compensation started")
        .unwrap_or_else(|| panic!("{events:?}"));
    let failed_before = events[..start]
        .iter()
        .filter(|e| e.0 == "attempt failed" && e.1 == "inventory")
        .count();
    assert_eq!(failed_before, k, "{events:?}");
    assert_eq!(events[start - 1].0, "dead-lettered");
    // The k-th failure comes (k - 1) backoffs of 1 s after the first.
    let first_failure = events
        .iter()
        .find(|e| e.0 == "attempt failed" && e.1 == "inventory")
        .map(|e| e.2)
        .unwrap();
    assert!(events[start].2 - first_failure >= (k - 1) as f64);
    // Then the two compensations, latest step first.
    let undone: Vec<&str> = events[start..]
        .iter()
        .filter(|e| e.0 == "attempt succeeded")
        .map(|e| e.1)
        .collect();
    assert_eq!(undone, ["payments-undo", "orders-undo"], "{events:?}");
    assert!(events.iter().any(|e| e.0 == "saga compensated"));
}

/// The saga's lifecycle chain (`markov.lifecycle.sagas.<name>`): with a
/// non-retryable failure of probability p at the last step, absorption
/// into `compensated` is p within sampling error and into `stuck` 0; and
/// as every transaction ended (the run drains), the chain's absorption
/// probabilities are the simulated fractions.
#[test]
fn the_saga_chain_absorbs_into_compensated_with_the_failure_probability() {
    let p = 0.2;
    let text = saga_scenario(
        &format!("failure = {p}\nnon_retryable = 1.0"),
        "",
        "trigger = \"non-retryable\"",
        "",
    );
    let s = summary(&scenario(&text), 1, 1);
    let chain = "markov.lifecycle.sagas.order";
    let started = get(&s, "sagas.order.started");
    let absorbed = get(&s, &format!("{chain}.absorption.compensated"));
    let sd = (p * (1.0 - p) / started).sqrt();
    assert!((absorbed - p).abs() < 4.0 * sd, "{absorbed} vs {p}");
    assert_eq!(get(&s, &format!("{chain}.absorption.stuck")), 0.0);
    for state in ["completed", "compensated", "stuck"] {
        let a = get(&s, &format!("{chain}.absorption.{state}"));
        let simulated = get(&s, &format!("{chain}.simulated.{state}"));
        assert!((a - simulated).abs() < 1e-9, "{state}: {a} vs {simulated}");
        let counted = get(&s, &format!("sagas.order.{state}")) / started;
        assert!((simulated - counted).abs() < 1e-9, "{state}: {simulated}");
    }
    // A compensating transaction was seen once per compensated one.
    let visits = get(&s, &format!("{chain}.expected_visits.compensating"));
    assert!((visits - absorbed).abs() < 1e-9, "{visits}");
    let states = &s["markov"]["lifecycle"]["sagas"]["order"]["states"];
    assert_eq!(
        states,
        &serde_json::json!([
            "running",
            "compensating",
            "completed",
            "compensated",
            "stuck"
        ])
    );
}

/// `trigger = "both"` compensates a non-retryable failure and a
/// dead-lettering after the last retryable attempt alike; `non-retryable`
/// leaves the second kind stuck (about (1 - 0.5)^3 of the transactions).
#[test]
fn the_both_trigger_compensates_either_kind_of_failure() {
    let last = "failure = 1.0\nnon_retryable = 0.5\nretry = { backoff = \"fixed\", delay = \"10ms\", max_attempts = 3 }";
    let run = |trigger: &str| {
        let text = saga_scenario(last, "", &format!("trigger = \"{trigger}\""), "")
            .replace("duration = \"30m\"", "duration = \"5m\"");
        summary(&scenario(&text), 1, 1)
    };
    let both = run("both");
    let started = get(&both, "sagas.order.started");
    assert!(started > 500.0, "{started}");
    assert_eq!(get(&both, "sagas.order.compensated"), started);
    assert_eq!(get(&both, "sagas.order.stuck"), 0.0);
    let only = run("non-retryable");
    let stuck = get(&only, "sagas.order.stuck") / get(&only, "sagas.order.started");
    assert!((stuck - 0.125).abs() < 0.05, "{stuck}");
}

/// The broker's delivery limit (`max_deliveries`, requeued failures)
/// dead-letters the message at the last step: the dead-letter trigger
/// compensates every transaction.
#[test]
fn the_brokers_delivery_limit_starts_compensation() {
    let text = saga_scenario(
        "failure = 1.0",
        "",
        "trigger = \"dead-letter\"",
        "max_deliveries = 3",
    )
    .replace("duration = \"30m\"", "duration = \"5m\"");
    let s = summary(&scenario(&text), 1, 1);
    assert_conserved(&s);
    let started = get(&s, "sagas.order.started");
    assert!(started > 500.0, "{started}");
    assert_eq!(get(&s, "sagas.order.compensated"), started);
    assert_eq!(get(&s, "sagas.order.stuck"), 0.0);
    assert_eq!(
        get(&s, "messages.dead_lettered"),
        get(&s, "messages.published")
    );
}

/// The trace names what a compensation undoes, and a transaction left
/// stuck: a retryable failure dead-lettered under the `non-retryable`
/// trigger starts no compensation.
#[test]
fn the_trace_shows_compensations_and_stuck_sagas() {
    let traced = |trigger: &str| {
        let text = saga_scenario(
            "failure = 1.0\nretry = { backoff = \"fixed\", delay = \"1s\", max_attempts = 2 }",
            "",
            &format!("trigger = \"{trigger}\""),
            "",
        )
        .replace("duration = \"30m\"", "duration = \"10s\"");
        let m = mqsim::model::compile(&scenario(&text)).unwrap();
        mqsim::sim::run_traced(&m, 1, 0, Default::default(), &[0]).trace
    };
    let compensated = traced("dead-letter");
    let accepted: Vec<(&str, &str)> = compensated
        .iter()
        .filter(|e| e.event == "accepted" && e.queue.ends_with("-undo"))
        .map(|e| (e.queue.as_str(), e.detail.as_str()))
        .collect();
    assert_eq!(
        accepted,
        [
            ("payments-undo", "compensation of step payments"),
            ("orders-undo", "compensation of step orders")
        ]
    );
    assert!(!compensated.iter().any(|e| e.event == "saga stuck"));
    let stuck = traced("non-retryable");
    let last = stuck.last().expect("a trace");
    assert_eq!(
        (last.event, last.detail.as_str()),
        ("saga stuck", "the failure started no compensation"),
        "{stuck:?}"
    );
}

#[test]
fn saga_settings_are_checked() {
    let text = saga_scenario("", "", "", "");
    assert!(mqsim::scenario::load_str(&text, "t.toml", &Default::default()).is_ok());
    let load = |t: String| {
        mqsim::scenario::load_str(&t, "t.toml", &Default::default())
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    // Not a pipeline: payments does not publish to inventory.
    let e = load(text.replace("publish_to = \"inventory\"", "")).unwrap_err();
    assert!(e.contains("publish_to"), "{e}");
    let e = load(text.replace(
        "compensations = [\"orders-undo\", \"payments-undo\", \"\"]",
        "compensations = [\"orders-undo\", \"refunds\", \"\"]",
    ))
    .unwrap_err();
    assert!(e.contains("refunds"), "{e}");
    let e = load(text.replace("queue = \"payments-undo\"", "queue = \"orders-undo\"")).unwrap_err();
    assert!(e.contains("payments-undo"), "{e}");
    let e = load(text.replace(
        "compensations = [\"orders-undo\", \"payments-undo\", \"\"]",
        "compensations = [\"orders-undo\"]",
    ))
    .unwrap_err();
    assert!(e.contains("one compensation queue per step"), "{e}");
    let e = load(text.clone() + "trigger = \"always\"\n").unwrap_err();
    assert!(e.contains("trigger"), "{e}");
    let no_saga = "[[producer]]\narrival = { process = \"poisson\", rate = 1.0 }\n[[queue]]\n[[consumer]]\n[expect]\nstuck_max = 0\n";
    let e = load(no_saga.to_string()).unwrap_err();
    assert!(e.contains("no [[saga]]"), "{e}");
}

// ------------------------------------------------ exactly-once on the log

/// The bundled pipeline (`orders` -> `enrich` -> `enriched` -> `billing`)
/// under its crash schedule, with `sets` on top, one replication.
fn exactly_once(sets: &[&str]) -> serde_json::Map<String, serde_json::Value> {
    let s = summary(&scenario_file("scenarios/exactly-once.toml", sets), 1, 1);
    assert_conserved(&s);
    s
}

#[test]
fn transactional_commits_leave_no_duplicate_and_no_loss_downstream() {
    // Commit after processing: the crashes give duplicates downstream.
    let alo = exactly_once(&[]);
    assert!(get(&alo, "messages.duplicates_by_cause.consumer-crash") > 0.0);
    assert_eq!(get(&alo, "messages.lost"), 0.0);
    // Transactions on the same schedule: none reach `billing`, none lost,
    // though the crashes aborted transactions and `enrich` read again.
    let eos = exactly_once(&["consumer.0.commit=transactional"]);
    let tx = "topics.orders.groups.enrich.transactions";
    assert!(get(&eos, &format!("{tx}.aborted")) > 0.0);
    assert!(get(&eos, &format!("{tx}.records_aborted")) > 0.0);
    assert!(get(&eos, "topics.orders.groups.enrich.reread") > 0.0);
    assert_eq!(get(&eos, "messages.duplicates"), 0.0);
    assert_eq!(get(&eos, "messages.lost"), 0.0);
    assert_eq!(
        get(&eos, "topics.enriched.groups.billing.aborted_skipped"),
        get(&eos, &format!("{tx}.records_aborted"))
    );
    assert_eq!(get(&eos, "messages.acked"), get(&alo, "messages.acked"));
}

#[test]
fn read_uncommitted_sees_each_aborted_record_as_a_duplicate() {
    let s = exactly_once(&[
        "consumer.0.commit=transactional",
        "consumer.1.isolation=read_uncommitted",
    ]);
    let aborted = get(
        &s,
        "topics.orders.groups.enrich.transactions.records_aborted",
    );
    assert!(aborted > 0.0);
    // Each aborted record, then its rewrite: one duplicate each.
    assert_eq!(
        get(&s, "messages.duplicates_by_cause.aborted-transaction"),
        aborted
    );
    assert_eq!(get(&s, "messages.duplicates"), aborted);
    assert_eq!(get(&s, "messages.lost"), 0.0);
}

/// A pipeline without faults; `billing` takes a constant `billing_us`
/// microseconds a record.
fn pipeline(seed: u64, commit: &str) -> String {
    format!(
        r#"
[simulation]
seed = {seed}
duration = "10m"
warmup = "1m"
[[producer]]
topic = "in"
arrival = {{ process = "poisson", rate = 100.0 }}
[[topic]]
name = "in"
partitions = 4
[[topic]]
name = "out"
partitions = 4
[[consumer]]
name = "enrich"
topic = "in"
count = 2
service = {{ dist = "exponential", mean = "2ms" }}
publish_to = "out"
{commit}
[[consumer]]
name = "billing"
topic = "out"
count = 2
isolation = "read_committed"
service = {{ dist = "constant", mean = "0.01ms" }}
"#
    )
}

#[test]
fn the_commit_interval_adds_about_half_of_itself_to_the_latency() {
    // Paired replications: the same seed with and without transactions
    // (the same arrivals and service times), differences of mean latency.
    let interval_s = 0.2;
    let n = 8;
    let diffs: Vec<f64> = (1..=n)
        .map(|seed| {
            let tx = "commit = \"transactional\"\ntransaction_interval = \"200ms\"";
            let with = summary(&scenario(&pipeline(seed, tx)), 1, 1);
            let without = summary(&scenario(&pipeline(seed, "")), 1, 1);
            assert_eq!(get(&with, "messages.duplicates"), 0.0);
            let wait = get(
                &with,
                "topics.in.groups.enrich.transactions.commit_wait_mean",
            );
            assert!((wait - interval_s / 2.0).abs() < 0.01, "{wait}");
            get(&with, "latency.mean") - get(&without, "latency.mean")
        })
        .collect();
    let mean = diffs.iter().sum::<f64>() / n as f64;
    let var = diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let se = (var / n as f64).sqrt();
    // Beyond the sampling error, a record committed with k others waits
    // behind them at `billing`: at most a transaction's records (100/s
    // over 2 members, 0.2 s: 10) x 0.01 ms = 0.1 ms.
    let burst_s = 10.0 * 0.00001;
    assert!(
        (mean - interval_s / 2.0).abs() < 4.0 * se + burst_s,
        "added {mean} s, se {se}, diffs {diffs:?}"
    );
}

#[test]
fn exactly_once_runs_are_deterministic() {
    let args = [
        "run",
        "scenarios/exactly-once.toml",
        "--format",
        "json",
        "--no-files",
        "-q",
        "--set",
        "consumer.0.commit=transactional",
        "--set",
        "simulation.duration=15m",
    ];
    let (code, a, _) = mqsim(&args);
    assert_eq!(code, 0);
    let (_, b, _) = mqsim(&args);
    assert_eq!(a, b);
    assert!(a.contains("records_aborted"));
}

/// The terminal report names a transactional group's transactions and
/// the aborted records a read_committed reader passed over, with the
/// figures of the JSON.
#[test]
fn the_terminal_report_shows_the_transactions() {
    let base = [
        "run",
        "scenarios/exactly-once.toml",
        "--no-files",
        "--set",
        "consumer.0.commit=transactional",
        "--set",
        "simulation.duration=15m",
    ];
    let (code, text, err) = mqsim(&base);
    assert_eq!(code, 0, "{err}");
    let mut json_args = base.to_vec();
    json_args.extend(["--format", "json", "-q"]);
    let (_, json, _) = mqsim(&json_args);
    let s: serde_json::Value = serde_json::from_str(&json).expect("json");
    let tx = &s["topics"]["orders"]["groups"]["enrich"]["transactions"];
    let line = format!(
        "    transactions: committed {} ({} records), aborted {} ({} records, read again)",
        tx["committed"], tx["records_committed"], tx["aborted"], tx["records_aborted"]
    );
    assert!(text.contains(&line), "{line}\n{text}");
    let skipped = &s["topics"]["enriched"]["groups"]["billing"]["aborted_skipped"];
    assert!(
        text.contains(&format!(
            "    read_committed: aborted records passed over {skipped}"
        )),
        "{text}"
    );
}

#[test]
fn transaction_settings_are_checked() {
    let base = "[[producer]]\ntopic = \"in\"\narrival = { process = \"poisson\", rate = 1.0 }\n[[topic]]\nname = \"in\"\n[[topic]]\nname = \"out\"\n[[queue]]\nname = \"q\"\n[[consumer]]\nname = \"sink\"\ntopic = \"out\"\n[[consumer]]\nname = \"qc\"\nqueue = \"q\"\n[[producer]]\nqueue = \"q\"\narrival = { process = \"poisson\", rate = 1.0 }\n[[consumer]]\ntopic = \"in\"\n";
    let load = |extra: &str| {
        mqsim::scenario::load_str(&format!("{base}{extra}"), "t.toml", &Default::default())
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert!(load("publish_to = \"out\"\ncommit = \"transactional\"\n").is_ok());
    let e = load("commit = \"transactional\"\n").unwrap_err();
    assert!(e.contains("publish_to"), "{e}");
    let e = load("publish_to = \"out\"\ntransaction_interval = \"1s\"\n").unwrap_err();
    assert!(e.contains("transaction_interval"), "{e}");
    let e = load("publish_to = \"q\"\n").unwrap_err();
    assert!(e.contains("a queue"), "{e}");
    let e = load("publish_to = \"in\"\n").unwrap_err();
    assert!(e.contains("cycle"), "{e}");
    let e = load("isolation = \"serializable\"\n").unwrap_err();
    assert!(e.contains("isolation"), "{e}");
    // On a queue consumer: refused, located.
    let (code, _, err) = {
        let dir = TempDir::new("txn-settings");
        let path = dir.write(
            "q.toml",
            "[[producer]]\narrival = { process = \"poisson\", rate = 1.0 }\n[[queue]]\n[[consumer]]\nisolation = \"read_committed\"\n",
        );
        mqsim(&["check", path.to_str().unwrap()])
    };
    assert_eq!(code, 2);
    assert!(
        err.contains("consumer") && err.contains("isolation"),
        "{err}"
    );
}

/// The text report of a run with sagas and side effects carries the
/// figures of its JSON: the "Sagas" block and the side-effect line.
#[test]
fn the_terminal_report_shows_sagas_and_side_effects() {
    let base = [
        "run",
        "scenarios/saga.toml",
        "--no-files",
        "--set",
        "simulation.duration=4m",
        "--set",
        "consumer.orders.side_effect=before-ack",
    ];
    let (code, text, err) = mqsim(&base);
    assert_eq!(code, 0, "{err}");
    let mut json_args = base.to_vec();
    json_args.extend(["--format", "json", "-q"]);
    let (_, json, _) = mqsim(&json_args);
    let s: serde_json::Value = serde_json::from_str(&json).expect("json");
    let o = &s["sagas"]["order"];
    let line = format!(
        "  order: started {}, completed {}, compensated {}, stuck {}, running at the end {}",
        o["started"], o["completed"], o["compensated"], o["stuck"], o["running"]
    );
    assert!(text.contains("Sagas (transactions started"), "{text}");
    assert!(text.contains(&line), "{line}\n{text}");
    let secs = |v: &serde_json::Value| mqsim::time::human_secs(v.as_f64().unwrap_or(f64::NAN));
    let i = &o["inconsistency_seconds"];
    let spread = format!(
        "    inconsistency mean {}, p99 {}, max {}",
        secs(&i["mean"]),
        secs(&i["p99"]),
        secs(&i["max"])
    );
    assert!(text.contains(&spread), "{spread}\n{text}");
    let m = &s["messages"];
    let side = format!(
        "  side effects lost {}, duplicated {}",
        m["side_effects_lost"], m["side_effects_duplicated"]
    );
    assert!(text.contains(&side), "{side}\n{text}");
}

/// `metrics.csv` has the saga and side-effect columns (only) where the
/// scenario has sagas and side effects, with the figures of summary.json.
#[test]
fn metrics_csv_has_the_saga_and_side_effect_columns() {
    let dir = TempDir::new("saga-columns");
    let out = dir.path("with");
    let (code, o, e) = mqsim(&[
        "run",
        "scenarios/saga.toml",
        "--set",
        "simulation.duration=4m",
        "--set",
        "consumer.orders.side_effect=before-ack",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, 0, "{o}{e}");
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let s: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for (column, path) in [
        ("saga_started", "saga_totals.started"),
        ("saga_compensated", "saga_totals.compensated"),
        ("saga_stuck", "saga_totals.stuck"),
        ("saga_inconsistency_p99_s", "saga_totals.inconsistency_p99"),
        ("side_effects_lost", "messages.side_effects_lost"),
        (
            "side_effects_duplicated",
            "messages.side_effects_duplicated",
        ),
    ] {
        let k = header
            .iter()
            .position(|h| *h == column)
            .unwrap_or_else(|| panic!("no {column} in {header:?}"));
        let cell: f64 = row[k].parse().unwrap();
        assert_eq!(cell, get(&s, path), "{column}");
    }
    let plain = dir.path("plain");
    let (code, o, e) = mqsim(&[
        "run",
        "scenarios/mm1.toml",
        "--set",
        "simulation.duration=1m",
        "--out",
        plain.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, 0, "{o}{e}");
    let csv = std::fs::read_to_string(plain.join("metrics.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        !header.contains("saga") && !header.contains("side_effects"),
        "{header}"
    );
}

/// `mqsim explain` fills a saga's trigger and order, and a transactional
/// group's transaction interval and isolation, with their defaults.
#[test]
fn explain_fills_the_saga_and_transaction_defaults() {
    let saga = saga_scenario("", "", "", "");
    let r = mqsim::model::resolve(&scenario(&saga));
    let s = &r.sagas[0];
    assert_eq!(
        (s.trigger, s.order),
        (
            Some(mqsim::scenario::SagaTrigger::DeadLetter),
            Some(mqsim::scenario::SagaOrder::Reverse)
        )
    );
    let eo = mqsim::model::resolve(&scenario_file(
        "scenarios/exactly-once.toml",
        &["consumer.0.commit=transactional"],
    ));
    let group = &eo.consumers[0];
    assert_eq!(
        group.transaction_interval,
        Some(mqsim::time::Duration::from_millis(100))
    );
    assert!(eo.consumers.iter().all(|c| c.isolation.is_some()));
}
