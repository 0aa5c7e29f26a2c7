//! From what a run collected to what it means: the per-run metrics tree
//! (the JSON shape users read), and the aggregation of replications into
//! means and 95% half-widths of the same shape.
//!
//! Metrics are kept as a `serde_json` tree on purpose: replications are
//! averaged leaf by leaf, so a metric added here appears, with its interval,
//! in every report without further code.

use crate::model::{Model, SideEffect};
use crate::sim::collect::{Collector, Sample};
use crate::sim::{FaultRecord, RunOutput};
use crate::time::{ns_to_secs, Nanos};
use serde_json::{json, Map, Value};

/// Latency quantile from the histogram's buckets, in seconds: the midpoint
/// of its bucket, never above the exact maximum.
fn q(c: &Collector, buckets: &[(u64, u64)], quantile: f64) -> Value {
    match super::quantile::quantile_ns(buckets, quantile) {
        Some(ns) => num(ns_to_secs(ns.min(c.latency_max_ns))),
        None => Value::Null,
    }
}

/// A finite number, or null (JSON has no NaN).
pub fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

fn map_counts(m: &std::collections::BTreeMap<&'static str, u64>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.to_string(), json!(v))).collect())
}

/// The workers that read queue `qi`: instances times concurrency; an
/// autoscaled group's instances are its time-weighted mean.
fn workers(m: &Model, c: &Collector, qi: usize, window_s: f64) -> f64 {
    let mut sum = 0.0;
    for (g, gm) in m.groups.iter().enumerate().filter(|(_, g)| g.queue == qi) {
        sum += match c.instances.get(g).filter(|_| gm.autoscale.is_some()) {
            Some(n) => ratio(n.area_ns as f64 / 1e9, window_s) * gm.concurrency as f64,
            None => (gm.count * gm.concurrency) as u64 as f64,
        };
    }
    sum
}

/// Measured queueing statistics of queue `qi` over the statistics window.
pub fn queueing(m: &Model, c: &Collector, qi: usize, window_s: f64) -> Map<String, Value> {
    let qc = &c.queues[qi];
    let servers = workers(m, c, qi, window_s);
    let lambda = qc.offered as f64 / window_s;
    let lambda_eff = qc.visits as f64 / window_s;
    let mean_s = ratio(qc.service_time_ns as f64 / 1e9, qc.services as f64);
    let mu = if mean_s > 0.0 { 1.0 / mean_s } else { 0.0 };
    let l = qc.area_system / 1e9 / window_s;
    let lq = qc.area_ready / 1e9 / window_s;
    let w = ratio(qc.visit_time_ns as f64 / 1e9, qc.visits_done as f64);
    let wq = ratio(qc.visit_wait_ns as f64 / 1e9, qc.deliveries as f64);
    let rho = if servers > 0.0 && mu > 0.0 {
        lambda_eff / (servers * mu)
    } else {
        0.0
    };
    let little = if l > 0.0 {
        (l - lambda_eff * w).abs() / l
    } else {
        0.0
    };
    let mut o = Map::new();
    o.insert("lambda".into(), num(lambda));
    o.insert("lambda_eff".into(), num(lambda_eff));
    o.insert("mu".into(), num(mu));
    o.insert("servers".into(), json!(servers));
    o.insert("rho".into(), num(rho));
    o.insert("L".into(), num(l));
    o.insert("Lq".into(), num(lq));
    o.insert("W".into(), num(w));
    o.insert("Wq".into(), num(wq));
    o.insert(
        "p_wait".into(),
        num(ratio(qc.waited as f64, qc.deliveries as f64)),
    );
    o.insert(
        "p_block".into(),
        num(ratio(qc.blocked as f64, qc.offered as f64)),
    );
    o.insert("littles_law_error".into(), num(little));
    o.insert(
        "service_scv".into(),
        num(if mean_s > 0.0 && qc.services > 1 {
            let ex2 = qc.service_sq_s / qc.services as f64;
            (ex2 - mean_s * mean_s) / (mean_s * mean_s)
        } else {
            0.0
        }),
    );
    o
}

/// Why L = lambda_eff W cannot be expected to hold in this run, if it
/// cannot: W counts the visits that ended, L every message in the queue, so
/// a run that ends with messages still in the system (stopped early, or
/// not drained: overloaded, or stuck after a fault) leaves the two apart.
fn littles_law_note(out: &RunOutput, c: &Collector) -> Option<&'static str> {
    if out.stopped_early {
        return Some("the run stopped early: visits still open are not in W");
    }
    // More than 0.1% of the messages still in the system at the end.
    if c.in_flight * 1000 > c.published.max(1) {
        return Some(
            "messages were still in the system at the end (not drained): their visits are not in W",
        );
    }
    None
}

/// Time-weighted P(N = n) of the number in system, trimmed of its zero tail.
pub fn length_distribution(c: &Collector, qi: usize) -> Vec<f64> {
    let lt = &c.queues[qi].length_time;
    let total: f64 = lt.iter().sum();
    if total <= 0.0 {
        return vec![];
    }
    let mut v: Vec<f64> = lt.iter().map(|t| t / total).collect();
    while v.len() > 1 && v.last() == Some(&0.0) {
        v.pop();
    }
    v
}

/// Fewest samples between the warm-up and the first fault that make a
/// baseline for the recovery verdict.
pub const MIN_BASELINE_SAMPLES: usize = 6;
/// Batch means per baseline (the unit of "normal fluctuation").
const BASELINE_BATCHES: usize = 10;
/// How many robust standard deviations of the baseline's batch means a
/// batch may sit above the baseline mean and still be normal.
const BATCH_SIGMAS: f64 = 4.0;

/// Backlog (ready + in flight + waiting to retry, over all queues, and
/// consumer lag) at each sample time, in time order.
fn backlog_series(
    samples: &[Sample],
    lag: &[crate::sim::collect::LagSample],
) -> (Vec<f64>, Vec<f64>) {
    let mut times: Vec<f64> = Vec::new();
    let mut lens: Vec<f64> = Vec::new();
    for s in samples {
        if times.last() != Some(&s.time_s) {
            times.push(s.time_s);
            lens.push(0.0);
        }
        if let Some(l) = lens.last_mut() {
            *l += (s.ready + s.in_flight + s.waiting_retry) as f64;
        }
    }
    for s in lag {
        let total = s.lag.iter().sum::<u64>() as f64;
        match times.iter().rposition(|&t| t == s.time_s) {
            Some(i) => lens[i] += total,
            None => {
                times.push(s.time_s);
                lens.push(total);
            }
        }
    }
    (times, lens)
}

/// What normal looks like before the fault: the mean, a robust standard
/// deviation of batch means (from the differences of consecutive batches,
/// so a level shift inside the baseline does not hide itself), the
/// batch size, and the backlog's 95th percentile.
struct Baseline {
    mean: f64,
    batch_sd: f64,
    batch: usize,
    p95: f64,
    /// No trend or level shift: the last batches sit within the normal
    /// fluctuation of the first ones.
    stable: bool,
}

impl Baseline {
    fn of(xs: &[f64]) -> Baseline {
        let batch = (xs.len() / BASELINE_BATCHES).max(1);
        let means: Vec<f64> = xs
            .chunks(batch)
            .filter(|c| c.len() == batch)
            .map(|c| c.iter().sum::<f64>() / batch as f64)
            .collect();
        let mut diffs: Vec<f64> = means.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
        diffs.sort_by(f64::total_cmp);
        // Median absolute successive difference: sd = median / (0.6745 sqrt 2).
        let batch_sd = diffs.get(diffs.len() / 2).copied().unwrap_or(0.0) / 0.954;
        let mut sorted = xs.to_vec();
        sorted.sort_by(f64::total_cmp);
        let p95 = sorted[((sorted.len() - 1) as f64 * 0.95).round() as usize];
        let k = (means.len() / 3).max(1);
        let head = means.iter().take(k).sum::<f64>() / k as f64;
        let tail = means.iter().rev().take(k).sum::<f64>() / k as f64;
        let slack = BATCH_SIGMAS * batch_sd + 1.0;
        Baseline {
            mean: xs.iter().sum::<f64>() / xs.len() as f64,
            batch_sd,
            batch,
            p95,
            stable: tail <= head + slack,
        }
    }

    /// The highest batch mean that is still normal.
    fn batch_limit(&self) -> f64 {
        self.mean + BATCH_SIGMAS * self.batch_sd + 1.0
    }

    /// The backlog at or below which the system is back to normal.
    fn level_ok(&self) -> f64 {
        self.p95.max(self.mean) + 1.0
    }
}

/// Recovery after the last fault, for one replication.
///
/// The baseline is the backlog between the warm-up and the first fault. It
/// must itself be stable (its last third within the normal fluctuation of
/// its first third), or the verdict is "already degraded before the
/// fault". The system recovered at the first sample after the last fault
/// from which the backlog is back at its normal level (the baseline's 95th
/// percentile, + 1) and every later batch of samples (the baseline's batch
/// size) averages within the baseline mean + 4 robust standard deviations
/// of its batch means (+ 1): a single fluctuation of a stable queue does
/// not undo a recovery, a system stuck high never gets one.
pub fn recovery(
    m: &Model,
    samples: &[Sample],
    lag: &[crate::sim::collect::LagSample],
    faults: &[FaultRecord],
    warmup_s: f64,
) -> Value {
    recovery_until(ns_to_secs(m.duration_ns), samples, lag, faults, warmup_s)
}

/// [`recovery`] for producers that stop at `horizon` seconds.
pub fn recovery_until(
    horizon: f64,
    samples: &[Sample],
    lag: &[crate::sim::collect::LagSample],
    faults: &[FaultRecord],
    warmup_s: f64,
) -> Value {
    // Scaling events share the timeline, but recovery is from faults.
    let faults: Vec<FaultRecord> = faults
        .iter()
        .filter(|f| !f.kind.starts_with("scale-"))
        .cloned()
        .collect();
    let faults = faults.as_slice();
    let verdict = |v: &str, recovered: Value, extra: Value| {
        let mut o = json!({ "recovered": recovered, "seconds": Value::Null, "verdict": v });
        if let (Value::Object(o), Value::Object(e)) = (&mut o, extra) {
            o.extend(e);
        }
        o
    };
    if faults.is_empty() {
        return verdict(
            "no fault",
            Value::Null,
            json!({ "last_fault_end": Value::Null }),
        );
    }
    let first_start = faults.iter().map(|f| f.start).fold(f64::INFINITY, f64::min);
    let last_end = faults.iter().map(|f| f.end).fold(0.0, f64::max);
    let at_end = json!({ "last_fault_end": last_end });
    if last_end >= horizon {
        return verdict(
            "the last fault ends after the producers stop",
            Value::Null,
            at_end,
        );
    }
    let (times, lens) = backlog_series(samples, lag);
    let pre: Vec<f64> = (0..times.len())
        .filter(|&i| times[i] >= warmup_s && times[i] < first_start)
        .map(|i| lens[i])
        .collect();
    if pre.len() < MIN_BASELINE_SAMPLES {
        return verdict(
            "no baseline: too few samples between the warm-up and the first fault",
            Value::Null,
            at_end,
        );
    }
    let base = Baseline::of(&pre);
    let how = json!({
        "last_fault_end": last_end,
        "baseline_stable": base.stable,
        "baseline_mean": num(base.mean),
        "level_ok": num(base.level_ok()),
        "batch_limit": num(base.batch_limit()),
        "batch_samples": base.batch,
        "method": "recovered when the backlog is back at or below level_ok (the pre-fault 95th percentile + 1) and every later batch of batch_samples samples averages at most batch_limit (the pre-fault mean + 4 robust sd of batch means + 1)",
    });
    if !base.stable {
        return verdict("already degraded before the fault", Value::Null, how);
    }
    let post: Vec<usize> = (0..times.len())
        .filter(|&i| times[i] >= last_end && times[i] <= horizon)
        .collect();
    if post.is_empty() {
        return verdict(
            "no sample between the end of the last fault and the end of publishing",
            Value::Null,
            how,
        );
    }
    let stays_normal = |from: usize| {
        post[from..]
            .chunks(base.batch)
            .all(|c| c.iter().map(|&i| lens[i]).sum::<f64>() / c.len() as f64 <= base.batch_limit())
    };
    let at = (0..post.len()).find(|&k| lens[post[k]] <= base.level_ok() && stays_normal(k));
    let mut o = match at {
        Some(_) => verdict("recovered", json!(true), how),
        None => verdict("did not recover", json!(false), how),
    };
    if let Some(k) = at {
        o["seconds"] = json!((times[post[k]] - last_end).max(0.0));
    }
    o
}

/// The recovery report over replications: how many recovered, and the
/// recovery time's median, 90th percentile and maximum over those that
/// did (null where none did, or there was no fault). Replications whose
/// baseline was already degraded, or that could not be judged, are
/// counted apart. Built from the replications' own verdicts, never from
/// averages.
pub fn recovery_over(reps: &[&Value]) -> Value {
    let judged: Vec<&Value> = reps
        .iter()
        .copied()
        .filter(|r| r.get("recovered").is_some_and(Value::is_boolean))
        .collect();
    let mut secs: Vec<f64> = judged
        .iter()
        .filter(|r| r.get("recovered") == Some(&Value::Bool(true)))
        .filter_map(|r| r.get("seconds").and_then(Value::as_f64))
        .collect();
    secs.sort_by(f64::total_cmp);
    let pick = |q: f64| -> Value {
        if secs.is_empty() {
            Value::Null
        } else {
            num(secs[((secs.len() - 1) as f64 * q).round() as usize])
        }
    };
    let degraded = reps
        .iter()
        .filter(|r| {
            r.get("verdict").and_then(Value::as_str) == Some("already degraded before the fault")
        })
        .count();
    let no_fault = reps
        .iter()
        .all(|r| r.get("verdict").and_then(Value::as_str) == Some("no fault"));
    let n = judged.len();
    let k = secs.len();
    let verdict = if no_fault {
        "no fault".to_string()
    } else if n == 0 {
        reps.first()
            .and_then(|r| r.get("verdict"))
            .and_then(Value::as_str)
            .unwrap_or("not judged")
            .to_string()
    } else {
        format!("{k} of {n} replications recovered")
    };
    json!({
        "recovered": if n == 0 { Value::Null } else { json!(k == n) },
        "replications": n,
        "replications_recovered": k,
        "fraction_recovered": if n == 0 { Value::Null } else { num(k as f64 / n as f64) },
        "replications_degraded_before_fault": degraded,
        "seconds": pick(0.5),
        "p50": pick(0.5),
        "p90": pick(0.9),
        "max": secs.last().map_or(Value::Null, |x| num(*x)),
        "last_fault_end": reps.first().and_then(|r| r.get("last_fault_end")).cloned().unwrap_or(Value::Null),
        "verdict": verdict,
        "seconds_by_replication": reps.iter().map(|r| r.get("seconds").cloned().unwrap_or(Value::Null)).collect::<Vec<_>>(),
        "verdict_by_replication": reps.iter().map(|r| r.get("verdict").cloned().unwrap_or(Value::Null)).collect::<Vec<_>>(),
        "method": reps.iter().find_map(|r| r.get("method")).cloned().unwrap_or(Value::Null),
    })
}

/// The metrics of one run, as a JSON tree.
pub fn run_metrics(m: &Model, out: &RunOutput, warmup_ns: Nanos) -> Map<String, Value> {
    let c = &out.stats;
    let window_s = ns_to_secs(m.duration_ns.saturating_sub(warmup_ns)).max(1e-9);
    let published = c.published as f64;
    let mut messages = Map::new();
    for (k, v) in [
        ("published", c.published),
        ("rejected", c.rejected),
        ("delivered", c.delivered),
        ("acked", c.acked),
        (
            "processed_then_dead_lettered",
            c.processed_then_dead_lettered,
        ),
        ("duplicates", c.duplicates),
        ("lost", c.lost),
        ("lost_detected", c.lost_detected),
        ("dead_lettered", c.dead_lettered),
        ("expired", c.expired),
        ("in_flight", c.in_flight),
        ("redelivered", c.redelivered),
        ("duplicates_prevented", c.duplicates_prevented),
        ("duplicates_slipped", c.duplicates_slipped),
        ("stale_acks", c.stale_acks),
        ("acks_lost", c.acks_lost),
    ] {
        messages.insert(k.into(), json!(v));
    }
    if m.groups.iter().any(|g| g.side_effect != SideEffect::None) {
        messages.insert("side_effects_lost".into(), json!(c.side_effects_lost));
        messages.insert(
            "side_effects_duplicated".into(),
            json!(c.side_effects_duplicated),
        );
    }
    messages.insert("attempts".into(), num(ratio(c.attempts as f64, published)));
    messages.insert("attempts_total".into(), json!(c.attempts));
    messages.insert("max_attempts".into(), json!(c.max_attempts));
    messages.insert("failed_attempts".into(), json!(c.failed_attempts));
    messages.insert("work_seconds".into(), num(c.work_ns as f64 / 1e9));
    messages.insert(
        "failed_work_seconds".into(),
        num(c.failed_work_ns as f64 / 1e9),
    );
    messages.insert("lost_by_cause".into(), map_counts(&c.lost_by_cause));
    messages.insert(
        "duplicates_by_cause".into(),
        map_counts(&c.duplicates_by_cause),
    );
    messages.insert(
        "dead_lettered_by_reason".into(),
        map_counts(&c.dead_lettered_by_reason),
    );
    messages.insert("loss_rate".into(), num(ratio(c.lost as f64, published)));
    messages.insert(
        "duplicate_rate".into(),
        num(ratio(c.duplicates as f64, published)),
    );
    messages.insert(
        "dead_letter_rate".into(),
        num(ratio(c.dead_lettered as f64, published)),
    );
    messages.insert("throughput".into(), num(c.acked as f64 / window_s));
    messages.insert(
        "processed_after_timeout".into(),
        json!(c.processed_after_timeout),
    );
    messages.insert(
        "goodput".into(),
        num(c.acked.saturating_sub(c.processed_after_timeout) as f64 / window_s),
    );

    let buckets = c.latency_buckets();
    let latency = json!({
        "mean": num(ratio(c.latency_sum_s, c.latency.len() as f64)),
        "p50": q(c, buckets, 0.5),
        "p90": q(c, buckets, 0.9),
        "p99": q(c, buckets, 0.99),
        "p999": q(c, buckets, 0.999),
        "max": if c.latency.is_empty() { Value::Null } else { num(ns_to_secs(c.latency_max_ns)) },
        "count": c.latency.len(),
    });

    let mut queues = Map::new();
    for (qi, qm) in m.queues.iter().enumerate() {
        let qc = &c.queues[qi];
        let servers = workers(m, c, qi, window_s);
        let util = if servers > 0.0 {
            qc.area_busy / 1e9 / window_s / servers
        } else {
            0.0
        };
        let mut qo = Map::new();
        qo.insert("mean_length".into(), num(qc.area_ready / 1e9 / window_s));
        qo.insert("utilisation".into(), num(util));
        qo.insert("max_length".into(), json!(qc.max_system));
        qo.insert("dead_lettered".into(), json!(qc.dead_lettered));
        qo.insert("duplicates".into(), json!(qc.duplicates));
        if !qc.joint.is_empty() {
            qo.insert("mean_orbit".into(), num(qc.area_orbit / 1e9 / window_s));
        }
        let mut qq = queueing(m, c, qi, window_s);
        if let Some(note) = littles_law_note(out, c) {
            qq.insert("littles_law_note".into(), json!(note));
        }
        qo.insert("queueing".into(), Value::Object(qq));
        let ld = length_distribution(c, qi);
        qo.insert("length_distribution".into(), json!(ld));
        if m.key_space > 0 {
            qo.insert(
                "ordering".into(),
                json!({
                    "out_of_order": qc.out_of_order,
                    "max_displacement": qc.max_displacement,
                    "key_blocked_seconds": num(qc.key_blocked_ns as f64 / 1e9),
                }),
            );
        }
        queues.insert(qm.name.clone(), Value::Object(qo));
    }

    let retries = json!({
        "retries": c.retries,
        "refused": c.retries_refused,
        "producer_retries": c.producer_retries,
        "breaker_rejected": c.breaker_rejected,
    });

    let mut availability = Map::new();
    for (g, gm) in m.groups.iter().enumerate() {
        let (down, total) = c.group_up_ns[g];
        let a = if total > 0 {
            1.0 - down as f64 / total as f64
        } else {
            1.0
        };
        availability.insert(gm.name.clone(), num(a));
    }

    let qs = &c.queues;
    let ordering = json!({
        "out_of_order": qs.iter().map(|q| q.out_of_order).sum::<u64>()
            + c.logs.iter().map(|l| l.out_of_order).sum::<u64>(),
        "max_displacement": qs
            .iter()
            .map(|q| q.max_displacement)
            .chain(c.logs.iter().map(|l| l.max_displacement))
            .max()
            .unwrap_or(0),
        "key_blocked_seconds": num(qs.iter().map(|q| q.key_blocked_ns).sum::<u128>() as f64 / 1e9),
        "resequenced": c.resequenced,
        "resequence_wait_mean": num(ratio(c.resequence_wait_ns as f64 / 1e9, c.resequenced as f64)),
        "resequence_gave_up": c.resequence_gave_up,
    });

    let mut o = Map::new();
    super::outcomes::insert(m, c, &mut messages, &mut o);
    o.insert("messages".into(), Value::Object(messages));
    o.insert("latency".into(), latency);
    o.insert("ordering".into(), ordering);
    if !m.topics.is_empty() {
        o.insert("topics".into(), topics(m, c, window_s));
    }
    o.insert("queues".into(), Value::Object(queues));
    super::sagas::insert(m, c, &mut o);
    o.insert("retries".into(), retries);
    o.insert("availability".into(), Value::Object(availability));
    super::cost::insert(m, c, &mut o);
    if !c.instances.is_empty() {
        o.insert("consumers".into(), instances(m, c, window_s));
    }
    o.insert(
        "recovery".into(),
        recovery(
            m,
            &c.samples,
            &c.lag_samples,
            &out.faults,
            ns_to_secs(warmup_ns),
        ),
    );
    o
}

/// Per autoscaled consumer group: its instance count over the statistics
/// window (time-weighted mean, most) and the instance-seconds it cost.
fn instances(m: &Model, c: &Collector, window_s: f64) -> Value {
    let mut out = Map::new();
    for (g, gm) in m.groups.iter().enumerate() {
        let Some(n) = c.instances.get(g).filter(|_| gm.autoscale.is_some()) else {
            continue;
        };
        let seconds = n.area_ns as f64 / 1e9;
        out.insert(
            gm.name.clone(),
            json!({
                "instances": { "mean": num(ratio(seconds, window_s)), "max": n.max },
                "instance_seconds": num(seconds),
            }),
        );
    }
    Value::Object(out)
}

/// Per topic and consumer group: lag, rebalances, re-reads and losses.
fn topics(m: &Model, c: &Collector, window_s: f64) -> Value {
    let mut out = Map::new();
    for (ti, t) in m.topics.iter().enumerate() {
        let mut groups = Map::new();
        for (g, gm) in m.groups.iter().enumerate() {
            let Some(lg) = gm.log.as_ref().filter(|l| l.topic == ti) else {
                continue;
            };
            let Some(s) = c.logs.get(g) else { continue };
            let by_part: Vec<Value> = s.lag_area.iter().map(|a| num(a / 1e9 / window_s)).collect();
            let lag_mean: f64 = s.lag_area.iter().sum::<f64>() / 1e9 / window_s;
            let mut group = json!({
                    "consumer": gm.name,
                    "lag_mean": num(lag_mean),
                    "lag_max": s.lag_max,
                    "lag_by_partition": by_part,
                    "rebalances": s.rebalances,
                    "reread": s.reread,
                    "uncommitted_at_loss": s.uncommitted_at_loss,
                    "lost_to_early_commit": s.lost_to_early_commit,
                    "lost_to_retention": s.lost_to_retention,
                    "skipped_by_reset": s.skipped_by_reset,
                    "offset_resets": s.offset_resets,
                    "skipped": s.skipped,
                    "commits": s.commits,
                    "commits_failed": s.commits_failed,
                    "poll_timeouts": s.poll_timeouts,
                    "out_of_order": s.out_of_order,
            });
            super::transactions::insert(lg, &s.transactions, window_s, &mut group);
            groups.insert(lg.group.clone(), group);
        }
        out.insert(
            t.name.clone(),
            json!({ "partitions": t.partitions, "groups": groups }),
        );
    }
    Value::Object(out)
}

/// Leaf-by-leaf mean and 95% half-width over replications. Numbers are
/// averaged over the replications that have them: a null (no value, e.g.
/// no latency) is left out, not counted as 0 ([`values_present`] tells how
/// many there were); a key missing from a map of counts counts as 0, and
/// arrays are padded with 0. Booleans become true only if all are true;
/// other values come from the first replication. The half-width tree holds
/// only numeric leaves, null where there is no interval (one replication,
/// or one value).
pub fn aggregate(runs: &[Value]) -> (Value, Value) {
    if runs.len() == 1 {
        return (runs[0].clone(), null_like(&runs[0]).unwrap_or(Value::Null));
    }
    agg(runs)
}

/// The half-width tree of a single run: null at every numeric leaf.
fn null_like(v: &Value) -> Option<Value> {
    match v {
        Value::Number(_) => Some(Value::Null),
        Value::Object(m) => Some(Value::Object(
            m.iter()
                .filter_map(|(k, x)| Some((k.clone(), null_like(x)?)))
                .collect(),
        )),
        Value::Array(a) if a.iter().all(|x| x.is_number() || x.is_null()) => {
            Some(Value::Array(vec![Value::Null; a.len()]))
        }
        _ => None,
    }
}

/// The numeric leaves (dotted paths) that some replications leave null,
/// with the number of replications that have a value: the means of these
/// are over that many replications only.
pub fn values_present(runs: &[Value]) -> Map<String, Value> {
    let mut out = Map::new();
    present_under("", runs, &mut out);
    out
}

fn present_under(prefix: &str, vs: &[Value], out: &mut Map<String, Value>) {
    let numbers = vs.iter().filter(|v| v.is_number()).count();
    if numbers > 0 && vs.iter().all(|v| v.is_number() || v.is_null()) {
        if numbers < vs.len() {
            out.insert(prefix.to_string(), json!(numbers));
        }
        return;
    }
    let mut keys: Vec<&String> = Vec::new();
    for v in vs {
        if let Value::Object(m) = v {
            for k in m.keys() {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
    }
    for k in keys {
        let col: Vec<Value> = vs
            .iter()
            .map(|v| v.get(k).cloned().unwrap_or(json!(0)))
            .collect();
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        present_under(&path, &col, out);
    }
}

fn agg(vs: &[Value]) -> (Value, Value) {
    let first = &vs[0];
    match first {
        Value::Number(_) | Value::Null if vs.iter().any(|v| v.is_number()) => {
            let xs: Vec<f64> = vs.iter().filter_map(Value::as_f64).collect();
            let (mean, hw) = super::ci::mean_ci95(&xs);
            (num(mean), if xs.len() < 2 { Value::Null } else { num(hw) })
        }
        Value::Bool(_) => (
            json!(vs.iter().all(|v| v.as_bool() == Some(true))),
            Value::Null,
        ),
        Value::Object(_) => {
            let mut keys: Vec<String> = Vec::new();
            for v in vs {
                if let Value::Object(m) = v {
                    for k in m.keys() {
                        if !keys.contains(k) {
                            keys.push(k.clone());
                        }
                    }
                }
            }
            let mut mean = Map::new();
            let mut hw = Map::new();
            for k in keys {
                let col: Vec<Value> = vs
                    .iter()
                    .map(|v| v.get(&k).cloned().unwrap_or(json!(0)))
                    .collect();
                let (m, h) = agg(&col);
                mean.insert(k.clone(), m);
                if !h.is_null() {
                    hw.insert(k, h);
                }
            }
            (Value::Object(mean), Value::Object(hw))
        }
        Value::Array(_)
            if vs.iter().all(|v| {
                v.as_array()
                    .is_some_and(|a| a.iter().all(|x| x.is_number() || x.is_null()))
            }) =>
        {
            let n = vs
                .iter()
                .map(|v| v.as_array().map_or(0, |a| a.len()))
                .max()
                .unwrap_or(0);
            let mut mean = Vec::with_capacity(n);
            let mut hw = Vec::with_capacity(n);
            for i in 0..n {
                let col: Vec<Value> = vs
                    .iter()
                    .map(|v| v.get(i).cloned().unwrap_or(json!(0.0)))
                    .collect();
                let (m, h) = agg(&col);
                mean.push(m);
                hw.push(h);
            }
            (Value::Array(mean), Value::Array(hw))
        }
        _ => (first.clone(), Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(lens: &[(f64, u64)]) -> Vec<Sample> {
        lens.iter()
            .map(|&(t, n)| Sample {
                time_s: t,
                ready: n,
                ..Default::default()
            })
            .collect()
    }

    fn fault(start: f64, end: f64) -> Vec<FaultRecord> {
        vec![FaultRecord {
            kind: "dependency-outage".into(),
            start,
            end,
            target: "consumer:api".into(),
        }]
    }

    /// A queue that collapsed at 480 s, long before the fault at 3,600 s:
    /// its pre-fault range already held the bad state. The old verdict
    /// (1.5 x the pre-fault maximum + 1) called it recovered at once.
    #[test]
    fn collapse_before_the_fault_is_its_own_verdict() {
        let s = series(
            &(0..720)
                .map(|i| {
                    let t = i as f64 * 10.0;
                    (
                        t,
                        if t < 480.0 {
                            (i % 3) as u64
                        } else {
                            200 + i as u64
                        },
                    )
                })
                .collect::<Vec<_>>(),
        );
        let r = recovery_until(7200.0, &s, &[], &fault(3600.0, 3660.0), 0.0);
        assert_eq!(r["verdict"], "already degraded before the fault");
        assert_eq!(r["recovered"], Value::Null);
        assert_eq!(r["baseline_stable"], false);
    }

    /// A light queue (lambda 1) that drains 30 s after the fault and later
    /// fluctuates to 3 messages, more than 1.5 x its pre-fault maximum + 1:
    /// a normal fluctuation, not a relapse. The old verdict said 7,230 s.
    #[test]
    fn a_normal_fluctuation_does_not_undo_a_recovery() {
        let mut pts = Vec::new();
        for i in 0..720 {
            let t = i as f64 * 10.0;
            let n = if t < 3600.0 {
                u64::from(i % 7 == 0)
            } else if t < 3660.0 {
                40
            } else if t < 3690.0 {
                12
            } else if (i == 1000 / 10) || t == 7230.0 - 10.0 {
                3
            } else {
                u64::from(i % 5 == 0)
            };
            pts.push((t, n));
        }
        pts.push((7220.0, 3));
        let r = recovery_until(7200.0, &series(&pts), &[], &fault(3600.0, 3660.0), 0.0);
        assert_eq!(r["verdict"], "recovered", "{r}");
        let secs = r["seconds"].as_f64().unwrap();
        assert!((20.0..=40.0).contains(&secs), "{secs}");
    }

    /// Over replications: counts, and quantiles of the times of those that
    /// recovered only; null where none did; no fault is no verdict.
    #[test]
    fn recovery_over_replications() {
        let rec = |s: f64| json!({ "recovered": true, "seconds": s, "verdict": "recovered" });
        let not = json!({ "recovered": false, "seconds": null, "verdict": "did not recover" });
        let reps = [rec(10.0), not.clone(), rec(30.0), rec(20.0)];
        let r = recovery_over(&reps.iter().collect::<Vec<_>>());
        assert_eq!(r["replications"], 4);
        assert_eq!(r["replications_recovered"], 3);
        assert_eq!(r["p50"], 20.0);
        assert_eq!(r["max"], 30.0);
        assert_eq!(r["recovered"], false);
        assert_eq!(r["verdict"], "3 of 4 replications recovered");
        let none = recovery_over(&[&not, &not]);
        assert_eq!(none["p50"], Value::Null);
        assert_eq!(none["max"], Value::Null);
        let nf = json!({ "recovered": null, "seconds": null, "verdict": "no fault" });
        let r = recovery_over(&[&nf]);
        assert_eq!(r["recovered"], Value::Null);
        assert_eq!(r["verdict"], "no fault");
        assert!(!r.to_string().contains("\"note\": 0.0"));
    }
}
