//! Partitioned logs and consumer groups: commit modes, rebalances, lag.

mod common;
use common::*;

/// Keyed records into 6 partitions, a group of 3 members polling up to 100
/// records; members crash about every 10 minutes for about a minute.
fn group(consumer_extra: &str, faults: &str) -> String {
    format!(
        r#"
[simulation]
seed = 9
duration = "1h"

[[producer]]
topic = "orders"
arrival = {{ process = "poisson", rate = 30.0 }}
key = {{ dist = "uniform-keys", count = 100 }}

[[topic]]
name = "orders"
partitions = 6

[[consumer]]
name = "billing"
topic = "orders"
count = 3
max_poll_records = 100
service = {{ dist = "exponential", mean = "50ms" }}
{consumer_extra}

{faults}
"#
    )
}

const CRASHES: &str = r#"
[[fault]]
kind = "consumer-crash"
target = "consumer:billing"
mtbf = "10m"
mttr = { dist = "exponential", mean = "1m" }
"#;

/// One replication of `group(consumer_extra, faults)`, whose messages must
/// be conserved.
fn run(consumer_extra: &str, faults: &str) -> serde_json::Map<String, serde_json::Value> {
    let s = summary(&scenario(&group(consumer_extra, faults)), 1, 1);
    assert_conserved(&s);
    s
}

fn g(s: &serde_json::Map<String, serde_json::Value>, k: &str) -> f64 {
    get(s, &format!("topics.orders.groups.billing.{k}"))
}

#[test]
fn commit_after_processing_loses_nothing_and_rereads_exactly_the_uncommitted() {
    let s = run("commit = \"after-processing\"", CRASHES);
    assert_eq!(get(&s, "messages.lost"), 0.0);
    assert!(g(&s, "rebalances") >= 4.0);
    let reread = g(&s, "reread");
    assert!(
        reread > 0.0,
        "crashes mid-poll leave processed records uncommitted"
    );
    assert_eq!(reread, g(&s, "uncommitted_at_loss"));
    assert_eq!(get(&s, "messages.duplicates"), reread);
    assert_eq!(
        get(&s, "messages.duplicates_by_cause.consumer-crash"),
        reread
    );
    assert_eq!(g(&s, "lost_to_early_commit"), 0.0);
    // Keys stay in their partition, read in order: nothing out of order
    // (re-reads are duplicates, not reorderings).
    assert_eq!(get(&s, "ordering.out_of_order"), 0.0);
}

#[test]
fn commit_before_processing_loses_and_never_duplicates() {
    let s = run("commit = \"before-processing\"", CRASHES);
    assert_eq!(get(&s, "messages.duplicates"), 0.0);
    let lost = get(&s, "messages.lost");
    assert!(lost > 0.0);
    assert_eq!(lost, g(&s, "lost_to_early_commit"));
    assert_eq!(get(&s, "messages.lost_by_cause.early-commit"), lost);
}

#[test]
fn auto_commit_loses_or_duplicates_depending_on_the_timing() {
    // A commit every 10 ms follows the fetched position closely: at a crash
    // it is ahead of processing (the rest of the poll is lost) and never
    // behind. A commit every 30 minutes is behind: a crash re-reads what
    // was processed since, and a loss needs a crash within one poll of a
    // commit.
    let often = run(
        "commit = \"auto\"\nauto_commit_interval = \"10ms\"",
        CRASHES,
    );
    let seldom = run("commit = \"auto\"\nauto_commit_interval = \"30m\"", CRASHES);
    assert!(get(&often, "messages.lost") > 0.0);
    assert!(
        get(&often, "messages.duplicates") < 0.1 * get(&often, "messages.lost"),
        "ahead of processing: loss, few duplicates"
    );
    assert!(
        get(&seldom, "messages.duplicates") > 10.0 * get(&often, "messages.duplicates").max(1.0)
    );
    assert!(
        get(&seldom, "messages.lost") < 0.1 * get(&often, "messages.lost"),
        "behind processing: duplicates, little loss"
    );
    // The same crashes (common random numbers) in both.
    assert_eq!(g(&often, "rebalances"), g(&seldom, "rebalances"));
}

#[test]
fn slow_processing_past_max_poll_interval_rebalances_and_duplicates() {
    // No crash: a dependency slows processing 5x for 10 minutes. A poll of
    // 100 records at 250 ms each takes 25 s > max_poll_interval 10 s.
    let outage = r#"
[[fault]]
kind = "dependency-outage"
target = "consumer:billing"
start = "20m"
duration = "10m"
failure = 0.0
slowdown = 5.0
"#;
    let s = run("max_poll_interval = \"10s\"", outage);
    assert_eq!(get(&s, "messages.lost"), 0.0);
    assert!(g(&s, "poll_timeouts") > 0.0);
    assert!(
        g(&s, "commits_failed") > 0.0,
        "the evicted member's commit is refused"
    );
    let dups = get(&s, "messages.duplicates");
    assert!(dups > 0.0);
    assert_eq!(get(&s, "messages.duplicates_by_cause.poll-timeout"), dups);
    // Without the slowdown nothing of the kind happens.
    let calm = run("max_poll_interval = \"10s\"", "");
    assert_eq!(g(&calm, "poll_timeouts"), 0.0);
    assert_eq!(get(&calm, "messages.duplicates"), 0.0);
    assert_eq!(g(&calm, "rebalances"), 0.0);
    assert!(g(&s, "lag_mean") > 10.0 * g(&calm, "lag_mean"));
}

#[test]
fn lag_follows_littles_law_without_faults() {
    // With commits after each poll, lag = records appended and not yet
    // committed; by Little's law its mean is lambda times the mean time
    // from append to commit, which is at least the processing latency.
    let s = run("", "");
    let lambda = get(&s, "messages.published") / 3600.0;
    let w = get(&s, "latency.mean");
    let lag = g(&s, "lag_mean");
    assert!(
        lag >= 0.9 * lambda * w,
        "lag {lag} vs lambda W {}",
        lambda * w
    );
    // ... and at most that plus one poll's worth of records per member.
    assert!(lag <= lambda * w + 3.0 * 100.0, "lag {lag}");
    let parts: Vec<f64> = (0..6)
        .map(|p| {
            s["topics"]["orders"]["groups"]["billing"]["lag_by_partition"][p]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert!((parts.iter().sum::<f64>() - lag).abs() < 1e-6 * lag.max(1.0));
}

#[test]
fn retry_topics_lose_order_and_blocking_retries_keep_it() {
    let failing = "failure = 0.05";
    let retry = "retry = { backoff = \"fixed\", delay = \"1s\", max_attempts = 4 }";
    let blocking = run(
        &format!("{failing}\nretry_mode = \"in-handler\"\n{retry}"),
        "",
    );
    let topics = run(
        &format!("{failing}\nretry_mode = \"retry-queues\"\n{retry}"),
        "",
    );
    for s in [&blocking, &topics] {
        assert_eq!(get(s, "messages.lost"), 0.0);
    }
    assert_eq!(get(&blocking, "ordering.out_of_order"), 0.0);
    assert!(get(&topics, "ordering.out_of_order") > 0.0);
    // The blocking retry stalls the partition: everything behind waits.
    assert!(get(&blocking, "latency.p90") > get(&topics, "latency.p90"));
    // Both dead-letter the same records: p^4 of them (p = 0.05), within
    // 4 standard errors.
    let n = get(&blocking, "messages.published");
    let p4 = 0.05f64.powi(4);
    for s in [&blocking, &topics] {
        let dl = get(s, "messages.dead_lettered");
        let sd = (n * p4 * (1.0 - p4)).sqrt();
        assert!(
            (dl - n * p4).abs() <= 4.0 * sd + 1.0,
            "dead-lettered {dl} vs {}",
            n * p4
        );
    }
}

#[test]
fn topic_runs_are_deterministic_on_any_thread_count() {
    let s = scenario(&group("commit = \"auto\"", CRASHES));
    let a = serde_json::to_string(&summary(&s, 3, 1)).unwrap();
    let b = serde_json::to_string(&summary(&s, 3, 2)).unwrap();
    assert_eq!(a, b);
}

mod random {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, rng_seed: proptest::test_runner::RngSeed::Fixed(7), failure_persistence: None, ..ProptestConfig::default() })]
        /// Random topic scenarios: conservation (asserted inside every run),
        /// no panic, and offsets that add up.
        #[test]
        fn random_topic_scenarios_keep_the_invariants(
            parts in 1u32..8,
            count in 1u32..5,
            commit in 0usize..3,
            mode in 0usize..3,
            failure in prop::sample::select(vec![0.0, 0.05, 0.3]),
            poll in 1u32..60,
            mtbf_s in 60u64..900,
            dead_letter in any::<bool>(),
            interval_ms in 10u64..10_000,
            keys in 0u64..30,
            max_poll_s in 1u64..60,
            retention_s in 20u64..3600,
            rate in 1.0f64..40.0,
        ) {
            let commit = ["after-processing", "auto", "before-processing"][commit];
            let mode = ["in-handler", "retry-queues", "none"][mode];
            let key = if keys == 0 { String::new() } else { format!("key = {{ dist = \"zipf-keys\", count = {keys} }}") };
            let auto = if commit == "auto" { format!("auto_commit_interval = \"{interval_ms}ms\"") } else { String::new() };
            let text = format!(r#"
[simulation]
seed = 3
duration = "20m"
drain = "5m"

[[producer]]
topic = "t"
arrival = {{ process = "poisson", rate = {rate} }}
{key}

[[topic]]
name = "t"
partitions = {parts}
retention = "{retention_s}s"
dead_letter = {dead_letter}

[[consumer]]
topic = "t"
count = {count}
commit = "{commit}"
{auto}
max_poll_records = {poll}
max_poll_interval = "{max_poll_s}s"
session_timeout = "10s"
failure = {failure}
retry_mode = "{mode}"
retry = {{ backoff = "exponential", base = "100ms", cap = "5s", max_attempts = 4 }}
service = {{ dist = "exponential", mean = "30ms" }}

[[fault]]
kind = "consumer-crash"
mtbf = "{mtbf_s}s"
mttr = {{ dist = "exponential", mean = "30s" }}
"#);
            let s = summary(&scenario(&text), 1, 1);
            assert_conserved(&s);
            let gs = &s["topics"]["t"]["groups"]["consumer"];
            let n = |k: &str| gs[k].as_f64().unwrap();
            prop_assert!(n("lag_mean") >= 0.0 && n("lag_max") >= 0.0);
            if commit == "after-processing" && n("poll_timeouts") == 0.0 && n("lost_to_retention") == 0.0 {
                prop_assert_eq!(n("lost_to_early_commit"), 0.0);
            }
            if commit == "before-processing" {
                prop_assert_eq!(n("reread"), 0.0);
            }
        }

        /// Random keyed queue scenarios with FIFO by key and resequencing.
        #[test]
        fn random_keyed_queues_keep_the_invariants(
            fifo in any::<bool>(),
            reseq in any::<bool>(),
            keys in 1u64..40,
            count in 1u32..4,
            prefetch in 1u32..20,
            failure in prop::sample::select(vec![0.0, 0.1, 0.5]),
            mode in 0usize..4,
            crash in any::<bool>(),
            max_held in 1u32..50,
        ) {
            let mode = ["requeue", "delay", "ack-timeout", "none"][mode];
            let reseq = if reseq { format!("resequence = {{ max_held = {max_held}, max_wait = \"20s\" }}") } else { String::new() };
            let crash = if crash { "[[fault]]\nkind = \"consumer-crash\"\nmtbf = \"3m\"\nmttr = { dist = \"exponential\", mean = \"20s\" }" } else { "" };
            let text = format!(r#"
[simulation]
seed = 4
duration = "15m"
drain = "5m"

[[producer]]
arrival = {{ process = "poisson", rate = 15.0 }}
key = {{ dist = "uniform-keys", count = {keys} }}

[[queue]]
fifo_by_key = {fifo}
ack_timeout = "10s"
max_deliveries = 4

[[consumer]]
count = {count}
prefetch = {prefetch}
failure = {failure}
retry_mode = "{mode}"
retry = {{ backoff = "fixed", delay = "1s" }}
service = {{ dist = "exponential", mean = "20ms" }}
{reseq}

{crash}
"#);
            let s = summary(&scenario(&text), 1, 1);
            assert_conserved(&s);
            if fifo && crash.is_empty() {
                prop_assert_eq!(get(&s, "ordering.out_of_order"), 0.0);
            }
            if !fifo {
                prop_assert_eq!(get(&s, "ordering.key_blocked_seconds"), 0.0);
            }
        }
    }
}

/// One producer at 10 records/s into one partition of `topic_extra`; one
/// member reading it with `consumer_extra`, crashed with `crash`.
fn behind(
    topic_extra: &str,
    consumer_extra: &str,
    crash: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let text = format!(
        r#"
[simulation]
seed = 5
duration = "30m"

[[producer]]
topic = "events"
arrival = {{ process = "constant", rate = 10.0 }}

[[topic]]
name = "events"
{topic_extra}

[[consumer]]
name = "reader"
topic = "events"
service = {{ dist = "constant", mean = "10ms" }}
{consumer_extra}

[[fault]]
kind = "consumer-crash"
target = "consumer:reader"
{crash}
"#
    );
    let s = summary(&scenario(&text), 1, 1);
    assert_conserved(&s);
    s
}

fn reader(s: &serde_json::Map<String, serde_json::Value>, k: &str) -> f64 {
    get(s, &format!("topics.events.groups.reader.{k}"))
}

/// The member is down from 2 min to 22 min; retention 5 min in 1-minute
/// segments, checked every 5 min. At the check of 20 min every segment
/// whose newest record is older than 15 min is gone: the log starts near
/// 15 min, and at the restart (22 min + the rebalance) about 7 minutes of
/// records (4200) are retained behind the log end.
const DOWN_20_MINUTES: &str = r#"at = "2m"
downtime = "20m""#;
const MINUTE_SEGMENTS: &str = r#"retention = "5m"
segment_time = "1m""#;

#[test]
fn a_group_behind_retention_skips_the_backlog_with_latest_and_rereads_it_with_earliest() {
    let latest = behind(
        MINUTE_SEGMENTS,
        "auto_offset_reset = \"latest\"",
        DOWN_20_MINUTES,
    );
    let earliest = behind(
        MINUTE_SEGMENTS,
        "auto_offset_reset = \"earliest\"",
        DOWN_20_MINUTES,
    );
    for s in [&latest, &earliest] {
        assert_eq!(reader(s, "offset_resets"), 1.0);
        // Deleted while down: from about 2 min to about 15 min.
        let deleted = reader(s, "lost_to_retention");
        assert!((7200.0..=8400.0).contains(&deleted), "{deleted}");
        assert_eq!(get(s, "messages.lost_by_cause.retention"), deleted);
    }
    let skipped = reader(&latest, "skipped_by_reset");
    assert!(
        (4200.0 - 700.0..=4200.0 + 700.0).contains(&skipped),
        "latest skips the retained backlog (about 7 min x 10/s, within a segment and the rebalance): {skipped}"
    );
    assert_eq!(get(&latest, "messages.lost_by_cause.offset-reset"), skipped);
    assert_eq!(
        get(&latest, "messages.lost"),
        skipped + reader(&latest, "lost_to_retention")
    );
    // Earliest re-reads the retained backlog: nothing but the deleted
    // segments is lost.
    assert_eq!(reader(&earliest, "skipped_by_reset"), 0.0);
    assert_eq!(
        get(&earliest, "messages.lost"),
        reader(&earliest, "lost_to_retention")
    );
}

#[test]
fn retention_deletes_whole_closed_segments_and_never_the_active_one() {
    // Down for the whole run: nothing is processed. Segments of 70 records
    // (7 s); retention 2 min checked every minute.
    let gone = behind(
        "retention = \"2m\"\nrecord_bytes = 1000\nsegment_bytes = 70000\nretention_check_interval = \"1m\"",
        "",
        "at = \"50ms\"\ndowntime = \"1h\"",
    );
    let deleted = reader(&gone, "lost_to_retention");
    assert!(deleted > 0.0);
    assert_eq!(deleted % 70.0, 0.0, "whole segments only: {deleted}");
    // The arrivals stop at 30 min and the drain that follows outlasts the
    // retention: every closed segment is deleted, the active one (the last
    // `published mod 70` records) stays. Record by record, all would go.
    let published = get(&gone, "messages.published");
    assert!(published > 17_000.0);
    assert_eq!(deleted, published - published % 70.0);
    assert!(published % 70.0 > 0.0);
    // One segment (the active one, never closed): nothing is deleted.
    let active = behind(
        "retention = \"2m\"\nsegment_bytes = 1073741824\nsegment_time = \"7d\"",
        "",
        "at = \"50ms\"\ndowntime = \"1h\"",
    );
    assert_eq!(reader(&active, "lost_to_retention"), 0.0);
}

#[test]
fn java_auto_commit_in_poll_loses_nothing_where_librdkafka_auto_commit_loses() {
    // The same crashes, the same 1 s interval. librdkafka's timer commits
    // the fetched position, ahead of processing; the Java client commits,
    // in poll(), what the previous poll returned: all processed by then.
    let java = run(
        "commit = \"auto-in-poll\"\nauto_commit_interval = \"1s\"",
        CRASHES,
    );
    let librdkafka = run("commit = \"auto\"\nauto_commit_interval = \"1s\"", CRASHES);
    assert!(g(&java, "rebalances") >= 4.0);
    assert!(get(&librdkafka, "messages.lost") > 0.0);
    assert_eq!(get(&java, "messages.lost"), 0.0);
    assert_eq!(g(&java, "lost_to_early_commit"), 0.0);
    assert!(g(&java, "commits") > 0.0);
    // Duplicates grow with the interval: what was processed since the last
    // commit is read again.
    let java_seldom = run(
        "commit = \"auto-in-poll\"\nauto_commit_interval = \"2m\"",
        CRASHES,
    );
    assert_eq!(get(&java_seldom, "messages.lost"), 0.0);
    assert!(
        get(&java_seldom, "messages.duplicates") > 2.0 * get(&java, "messages.duplicates").max(1.0),
        "{} vs {}",
        get(&java_seldom, "messages.duplicates"),
        get(&java, "messages.duplicates")
    );
    assert_eq!(g(&java, "reread"), g(&java, "uncommitted_at_loss"));
}

/// Two members, four partitions (range: member 0 owns 0 and 1), ten
/// records per second per partition, processed in a millisecond; member 1
/// crashes at 5 min for `downtime`.
fn pair(consumer_extra: &str, downtime: &str) -> serde_json::Map<String, serde_json::Value> {
    let text = format!(
        r#"
[simulation]
seed = 12
duration = "20m"

[[producer]]
topic = "orders"
arrival = {{ process = "constant", rate = 40.0 }}

[[topic]]
name = "orders"
partitions = 4

[[consumer]]
name = "billing"
topic = "orders"
count = 2
service = {{ dist = "constant", mean = "1ms" }}
{consumer_extra}

[[fault]]
kind = "consumer-crash"
target = "consumer:billing"
instance = 1
at = "5m"
downtime = "{downtime}"
"#
    );
    let s = summary(&scenario(&text), 1, 1);
    assert_conserved(&s);
    s
}

/// Time-averaged lag of partition `p`.
fn partition_lag(s: &serde_json::Map<String, serde_json::Value>, p: usize) -> f64 {
    s["topics"]["orders"]["groups"]["billing"]["lag_by_partition"][p]
        .as_f64()
        .unwrap()
}

#[test]
fn cooperative_rebalances_do_not_pause_the_healthy_members_partitions() {
    // A 30 s pause per rebalance (explicit), two rebalances (the crash
    // noticed at the session timeout, the restart at 15 min). Eager: the
    // healthy member's partitions stop 30 s each time: their mean lag
    // grows by about 2 x (10/s x 30 s x 15 s) / 1200 s = 7.5 records.
    let pause = "rebalance_time = \"30s\"";
    let eager = pair(pause, "10m");
    let cooperative = pair(
        &format!("{pause}\nassignor = \"cooperative-sticky\""),
        "10m",
    );
    let consumer = pair(
        "group_protocol = \"consumer\"\nrebalance_time = \"30s\"",
        "10m",
    );
    // A static member down for a millisecond: no rebalance, no pause.
    let quiet = pair("group_instance_id = true", "1ms");
    for s in [&eager, &cooperative, &consumer] {
        assert_eq!(g(s, "rebalances"), 2.0);
    }
    let baseline = partition_lag(&quiet, 0);
    let eager_lag = partition_lag(&eager, 0);
    assert!(
        (eager_lag - baseline - 7.5).abs() < 1.5,
        "eager: {eager_lag} (baseline {baseline})"
    );
    for (name, s) in [
        ("cooperative-sticky", &cooperative),
        ("consumer protocol", &consumer),
    ] {
        for p in [0, 1] {
            let lag = partition_lag(s, p);
            assert!(
                lag < baseline + 0.5,
                "{name}: the healthy member's partition {p} paused: {lag} (baseline {baseline})"
            );
        }
        // The crashed member's partitions moved, and paused.
        assert!(partition_lag(s, 2) > baseline + 5.0, "{name}");
    }
    assert_eq!(get(&cooperative, "messages.lost"), 0.0);
}

#[test]
fn a_static_member_restarting_within_its_session_causes_no_rebalance() {
    // Down 20 s, within the 45 s session timeout.
    let dynamic = pair("", "20s");
    let fixed = pair("group_instance_id = true", "20s");
    assert_eq!(g(&fixed, "rebalances"), 0.0);
    assert_eq!(get(&fixed, "messages.lost"), 0.0);
    // Its own partitions waited for it (20 s: mean lag up by about
    // 10/s x 20 s x 10 s / 1200 s = 1.7); the healthy member's did not.
    let baseline = partition_lag(&pair("group_instance_id = true", "1ms"), 0);
    assert!(partition_lag(&fixed, 0) < baseline + 0.3);
    assert!((partition_lag(&fixed, 2) - baseline - 1.7).abs() < 0.5);
    // A dynamic member comes back as a new member: one rebalance, which
    // waits for the old member's session to expire (45 s after the crash,
    // 25 s after the restart), the whole group stopped meanwhile (eager):
    // the healthy member's partitions lag 10/s x 25 s x 12.5 s / 1200 s = 2.6.
    assert_eq!(g(&dynamic, "rebalances"), 1.0);
    let healthy = partition_lag(&dynamic, 0);
    assert!(
        (healthy - baseline - 2.6).abs() < 0.6,
        "{healthy} (baseline {baseline})"
    );
}

/// Ten records per second from producer `app` into one partition, read by
/// a fast member; `extra` adds a network or faults.
fn produced(producer_extra: &str, extra: &str) -> serde_json::Map<String, serde_json::Value> {
    let text = format!(
        r#"
[simulation]
seed = 8
duration = "20m"

[[producer]]
name = "app"
topic = "events"
arrival = {{ process = "constant", rate = 10.0 }}
{producer_extra}

[[topic]]
name = "events"

[[consumer]]
name = "reader"
topic = "events"
service = {{ dist = "constant", mean = "1ms" }}

{extra}
"#
    );
    let s = summary(&scenario(&text), 1, 1);
    assert_conserved(&s);
    s
}

fn cut_off(minutes: u32) -> String {
    format!(
        r#"[[fault]]
kind = "partition"
between = ["producer:app", "broker"]
start = "5m"
duration = "{minutes}m""#
    )
}

#[test]
fn a_producer_cut_off_longer_than_the_delivery_timeout_loses_records() {
    // 3 minutes cut off, delivery.timeout.ms 120 s: what was sent in the
    // first minute fails (600 records); what was sent in the last two
    // waits in the buffer and is written when the partition heals.
    let three = produced("", &cut_off(3));
    let lost = get(&three, "messages.lost_by_cause.delivery-timeout");
    assert!((lost - 600.0).abs() <= 2.0, "{lost}");
    assert_eq!(get(&three, "messages.lost"), lost);
    // The same with lost acknowledgements: records retried during the cut
    // join the buffer behind younger ones, and still time out on time.
    let retried = produced(
        "idempotent = false",
        &format!("{}\n\n[network]\nconfirm_loss = 0.1", cut_off(3)),
    );
    let lost_retried = get(&retried, "messages.lost_by_cause.delivery-timeout");
    assert!((lost_retried - 600.0).abs() <= 5.0, "{lost_retried}");
    // A 90-second cut loses nothing; a 5-minute timeout covers 3 minutes.
    let short = produced("", &cut_off(1));
    assert_eq!(get(&short, "messages.lost"), 0.0);
    let patient = produced("delivery_timeout = \"5m\"", &cut_off(3));
    assert_eq!(get(&patient, "messages.lost"), 0.0);
    // The buffered records reach the log late: the latency tail shows it.
    assert!(get(&patient, "latency.max") >= 170.0);
}

#[test]
fn a_non_idempotent_producer_duplicates_records_when_acknowledgements_are_lost() {
    // 10% of acknowledgements lost: the producer sends the record again
    // after request.timeout.ms (30 s), up to three times within the 120 s
    // delivery timeout. Extra writes per record: q + q^2 + q^3 = 0.111.
    let network = "[network]\nconfirm_loss = 0.1";
    let plain = produced("idempotent = false", network);
    let idempotent = produced("", network);
    let n = get(&plain, "messages.published");
    let expected = n * (0.1 + 0.01 + 0.001);
    let sd = (n * 0.111 * (1.0 - 0.111)).sqrt();
    let duplicates = get(&plain, "messages.duplicates");
    assert!(
        (duplicates - expected).abs() < 5.0 * sd,
        "{duplicates} vs {expected} (sd {sd})"
    );
    assert_eq!(
        get(&plain, "messages.duplicates_by_cause.producer-retry"),
        duplicates
    );
    assert_eq!(get(&idempotent, "messages.duplicates"), 0.0);
    for s in [&plain, &idempotent] {
        assert_eq!(get(s, "messages.lost"), 0.0);
    }
}

#[test]
fn an_unreplicated_topic_is_down_with_its_broker_and_a_replicated_one_is_not() {
    let crash = "[[fault]]\nkind = \"broker-crash\"\nat = \"5m\"\ndowntime = \"3m\"";
    let single = |rf: u32| {
        let text = format!(
            r#"
[simulation]
seed = 8
duration = "20m"

[[producer]]
topic = "events"
arrival = {{ process = "constant", rate = 10.0 }}

[[topic]]
name = "events"
replication_factor = {rf}

[[consumer]]
name = "reader"
topic = "events"
service = {{ dist = "constant", mean = "1ms" }}

{crash}
"#
        );
        let s = summary(&scenario(&text), 1, 1);
        assert_conserved(&s);
        s
    };
    // One copy: 3 minutes down; the first minute's sends time out (120 s),
    // the rest wait in the producer's buffer.
    let one = single(1);
    let lost = get(&one, "messages.lost_by_cause.delivery-timeout");
    assert!((lost - 600.0).abs() <= 2.0, "{lost}");
    assert!(get(&one, "latency.max") >= 119.0);
    // Replicated (the default 3): a follower takes over, nothing changes.
    let three = single(3);
    assert_eq!(get(&three, "messages.lost"), 0.0);
    assert!(get(&three, "latency.max") < 1.0);
}

#[test]
fn every_record_lost_behind_retention_has_a_cause() {
    // A group that falls behind a 10-minute retention while its members
    // crash: retention used to move the group's processed mark past records
    // a member had fetched and not yet processed, which then never counted
    // as processed nor lost (166 `unknown` losses here).
    let s = summary(
        &scenario_file(
            "scenarios/kafka-commit-modes.toml",
            &[
                "consumer.commit=auto-in-poll",
                "topic.retention=10m",
                "topic.segment_time=1m",
                "fault.1.slowdown=4.0",
            ],
        ),
        1,
        1,
    );
    assert_conserved(&s);
    let causes = s["messages"]["lost_by_cause"].as_object().unwrap();
    assert!(!causes.contains_key("unknown"), "{causes:?}");
    let total: f64 = causes.values().map(|v| v.as_f64().unwrap()).sum();
    assert_eq!(total, get(&s, "messages.lost"));
    assert!(get(&s, "topics.orders.groups.billing.skipped_by_reset") > 0.0);
}

/// A group of 2 whose member 0 stops the world for `pause` at minute 2.
/// `busy`: each record takes 5 s and the producer outpaces the group, so
/// the member is always in a poll's record (one per poll); else records
/// take 10 ms and it is nearly always idle in `poll()`.
fn paused_member(
    busy: bool,
    timeouts: &str,
    pause: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let (rate, service) = if busy { (1.0, "5s") } else { (0.2, "10ms") };
    let text = format!(
        r#"
[simulation]
seed = 3
duration = "10m"

[[producer]]
topic = "orders"
arrival = {{ process = "poisson", rate = {rate} }}

[[topic]]
name = "orders"
partitions = 4

[[consumer]]
name = "billing"
topic = "orders"
count = 2
max_poll_records = 1
commit = "after-processing"
service = {{ dist = "constant", mean = "{service}" }}
{timeouts}

[[fault]]
kind = "gc-pause"
target = "consumer:billing"
instance = 0
at = "2m"
duration = "{pause}"
"#
    );
    let s = summary(&scenario(&text), 1, 1);
    assert_conserved(&s);
    assert_eq!(get(&s, "messages.lost"), 0.0);
    s
}

/// A stop-the-world pause stops a Kafka client's heartbeat thread as well
/// as its poll loop: past `session_timeout` the coordinator expires the
/// member, idle or busy, and the group rebalances; an idle member (whose
/// last poll was when the pause began) also leaves past a shorter
/// `max_poll_interval`. A pause shorter than both changes nothing.
#[test]
fn a_gc_pause_past_the_session_timeout_rebalances_the_group() {
    let session = "session_timeout = \"10s\"\nmax_poll_interval = \"5m\"";
    for busy in [false, true] {
        let long = paused_member(busy, session, "30s");
        assert!(g(&long, "rebalances") >= 1.0, "busy {busy}: {long:?}");
        assert_eq!(g(&long, "poll_timeouts"), 0.0, "busy {busy}");
        let short = paused_member(busy, session, "5s");
        assert_eq!(g(&short, "rebalances"), 0.0, "busy {busy}");
    }
    // The busy member's uncommitted record is processed again, for the
    // session's expiry.
    let long = paused_member(true, session, "30s");
    let again = get(&long, "messages.duplicates_by_cause.session-timeout");
    assert!(again >= 1.0, "{long:?}");
    // Idle, with max_poll_interval the shorter: it leaves at 20 s.
    let poll = "session_timeout = \"60s\"\nmax_poll_interval = \"20s\"";
    assert!(g(&paused_member(false, poll, "30s"), "rebalances") >= 1.0);
    assert_eq!(g(&paused_member(false, poll, "15s"), "rebalances"), 0.0);
}
