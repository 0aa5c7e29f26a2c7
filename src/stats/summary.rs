//! From what a run collected to what it means: the per-run metrics tree
//! (the JSON shape users read), and the aggregation of replications into
//! means and 95% half-widths of the same shape.
//!
//! Metrics are kept as a `serde_json` tree on purpose: replications are
//! averaged leaf by leaf, so a metric added here appears, with its interval,
//! in every report without further code.

use crate::model::{Model, SideEffect};
use crate::sim::collect::Collector;
use crate::sim::RunOutput;
use crate::stats::recovery::recovery;
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

/// The metrics of one run, as a JSON tree.
pub fn run_metrics(m: &Model, out: &RunOutput, warmup_ns: Nanos) -> Map<String, Value> {
    let c = &out.stats;
    let window_s = ns_to_secs(m.duration_ns.saturating_sub(warmup_ns)).max(1e-9);
    let mut messages = message_counts(m, c, window_s);
    let latency = latency(c);
    let queues = queues(m, out, window_s);
    let retries = retries(c);
    let availability = availability(m, c);
    let ordering = ordering(c);

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

/// `messages`: what became of the messages, and the rates and work.
fn message_counts(m: &Model, c: &Collector, window_s: f64) -> Map<String, Value> {
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
    messages
}

/// `latency`: from the histogram, in seconds.
fn latency(c: &Collector) -> Value {
    let buckets = c.latency_buckets();
    json!({
        "mean": num(ratio(c.latency_sum_s, c.latency.len() as f64)),
        "p50": q(c, buckets, 0.5),
        "p90": q(c, buckets, 0.9),
        "p99": q(c, buckets, 0.99),
        "p999": q(c, buckets, 0.999),
        "max": if c.latency.is_empty() { Value::Null } else { num(ns_to_secs(c.latency_max_ns)) },
        "count": c.latency.len(),
    })
}

/// `queues.<name>`: lengths, utilisation, queueing theory beside them.
fn queues(m: &Model, out: &RunOutput, window_s: f64) -> Map<String, Value> {
    let c = &out.stats;
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
    queues
}

fn retries(c: &Collector) -> Value {
    json!({
        "retries": c.retries,
        "refused": c.retries_refused,
        "producer_retries": c.producer_retries,
        "breaker_rejected": c.breaker_rejected,
    })
}

/// `availability.<group>`: the fraction of the run a group was up.
fn availability(m: &Model, c: &Collector) -> Map<String, Value> {
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
    availability
}

/// `ordering`: over every queue and topic.
fn ordering(c: &Collector) -> Value {
    let qs = &c.queues;
    json!({
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
    })
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

/// Which way a metric is better: `compare`'s ratio to the best.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

/// Where an `[expect]` bound lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `value <= bound`
    AtMost,
    /// `value >= bound`
    AtLeast,
}

/// A metric's column in `metrics.csv`, and when the column is there: the
/// crash, cost, side-effect and saga columns only when some replication
/// has the figure, so that the columns of every other scenario stay as
/// they were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    None,
    Always(&'static str),
    WithCrashes(&'static str),
    WithCost(&'static str),
    WithSideEffects(&'static str),
    WithSagas(&'static str),
}

/// One metric of the summary, declared once: where it is in the tree and
/// how every surface shows it. `metrics.csv` has the columns in this
/// order, `compare` the compared ones in the order of `compared`, the
/// terminal its labels, `check` the `[expect]` keys that bound it.
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    /// Dotted path in the summary (and in each replication's tree).
    pub path: &'static str,
    pub column: Column,
    /// In the terminal and in `compare`.
    pub label: &'static str,
    pub better: Better,
    /// Its row in `compare` (ascending); None: not compared.
    pub compared: Option<u8>,
    /// The `[expect]` keys that bound it, and on which side.
    pub bounds: &'static [(&'static str, Side)],
    /// A time in seconds (shown as `1.5 s`, `120 ms`).
    pub seconds: bool,
}

impl Metric {
    const fn new(path: &'static str, column: Column, label: &'static str, better: Better) -> Self {
        Metric {
            path,
            column,
            label,
            better,
            compared: None,
            bounds: &[],
            seconds: false,
        }
    }
    const fn compared(self, row: u8) -> Self {
        Metric {
            compared: Some(row),
            ..self
        }
    }
    const fn bounded(self, bounds: &'static [(&'static str, Side)]) -> Self {
        Metric { bounds, ..self }
    }
    const fn seconds(self) -> Self {
        Metric {
            seconds: true,
            ..self
        }
    }

    /// The path's parts (`["messages", "lost"]`).
    pub fn parts(&self) -> impl Iterator<Item = &'static str> {
        self.path.split('.')
    }
}

use Better::{Higher, Lower};
use Column::{Always, WithCost, WithCrashes, WithSagas, WithSideEffects};
use Side::{AtLeast, AtMost};

/// Every metric a report names. `metrics.csv`'s columns are these, in this
/// order (after `variant,replication,seed`).
#[rustfmt::skip]
pub const METRICS: &[Metric] = &[
    Metric::new("messages.published", Always("published"), "published", Higher),
    Metric::new("messages.rejected", Always("rejected"), "rejected", Lower),
    Metric::new("messages.delivered", Always("delivered"), "delivered", Higher)
        .bounded(&[("delivered_min", AtLeast)]),
    Metric::new("messages.acked", Always("acked"), "acked", Higher).compared(2),
    Metric::new("messages.duplicates", Always("duplicates"), "duplicates", Lower).compared(4),
    Metric::new("messages.lost", Always("lost"), "lost", Lower)
        .compared(3)
        .bounded(&[("lost", AtMost), ("lost_min", AtLeast)]),
    Metric::new("messages.dead_lettered", Always("dead_lettered"), "dead-lettered", Lower).compared(5),
    Metric::new("messages.expired", Always("expired"), "expired", Lower),
    Metric::new("messages.in_flight", Always("in_flight"), "in flight at end", Lower).compared(8),
    Metric::new("messages.redelivered", Always("redelivered"), "redelivered", Lower),
    Metric::new("messages.attempts", Always("attempts_per_message"), "attempts/message", Lower).compared(6),
    Metric::new("messages.duplicates_prevented", Always("duplicates_prevented"), "duplicates prevented", Higher),
    Metric::new("messages.failed_work_seconds", Always("failed_work_seconds"), "failed work (s)", Lower).compared(7),
    Metric::new("messages.throughput", Always("throughput_per_s"), "throughput (/s)", Higher),
    Metric::new("retries.retries", Always("retries"), "retries", Lower),
    Metric::new("retries.refused", Always("retries_refused"), "retries refused", Lower),
    Metric::new("retries.producer_retries", Always("producer_retries"), "producer retries", Lower),
    Metric::new("retries.breaker_rejected", Always("breaker_rejected"), "breaker rejected", Lower),
    Metric::new("latency.mean", Always("latency_mean_s"), "latency mean (s)", Lower)
        .compared(0).seconds().bounded(&[("mean_latency_max", AtMost)]),
    Metric::new("latency.p50", Always("latency_p50_s"), "latency p50 (s)", Lower)
        .seconds().bounded(&[("p50_latency_max", AtMost)]),
    Metric::new("latency.p90", Always("latency_p90_s"), "latency p90 (s)", Lower).seconds(),
    Metric::new("latency.p99", Always("latency_p99_s"), "latency p99 (s)", Lower)
        .compared(1).seconds().bounded(&[("p99_latency_max", AtMost)]),
    Metric::new("latency.p999", Always("latency_p999_s"), "latency p99.9 (s)", Lower).seconds(),
    Metric::new("latency.max", Always("latency_max_s"), "latency max (s)", Lower).seconds(),
    Metric::new("recovery.recovered", Always("recovered"), "recovered (fraction)", Higher).compared(9),
    Metric::new("recovery.seconds", Always("recovery_s"), "recovery (s)", Lower).compared(10).seconds(),
    Metric::new("messages.loss_rate", Always("loss_rate"), "loss rate", Lower)
        .bounded(&[("lost_rate_max", AtMost)]),
    Metric::new("ordering.out_of_order", Always("out_of_order"), "out of order", Lower)
        .compared(13)
        .bounded(&[("out_of_order_max", AtMost), ("out_of_order_min", AtLeast)]),
    Metric::new("ordering.max_displacement", Always("max_displacement"), "max displacement", Lower),
    Metric::new("ordering.key_blocked_seconds", Always("key_blocked_seconds"), "keys blocked (s)", Lower)
        .compared(14).seconds(),
    // Outcomes by cause, present in every run.
    Metric::new("messages.dead_lettered_by_origin.poison", Always("dead_lettered_poison"), "dead-lettered poison", Lower),
    Metric::new("messages.dead_lettered_by_origin.transient", Always("dead_lettered_transient"), "dead-lettered transient", Lower),
    Metric::new("messages.dead_lettered_by_origin.non_retryable", Always("dead_lettered_non_retryable"), "dead-lettered non-retryable", Lower),
    Metric::new("messages.dead_lettered_by_origin.ttl", Always("dead_lettered_ttl"), "dead-lettered ttl", Lower),
    Metric::new("messages.dead_lettered_by_origin.overflow", Always("dead_lettered_overflow"), "dead-lettered overflow", Lower),
    Metric::new("messages.dead_lettered_by_origin.refused", Always("dead_lettered_refused"), "dead-lettered refused", Lower),
    Metric::new("latency_affected.count", Always("latency_affected_count"), "affected messages", Lower),
    Metric::new("latency_affected.mean", Always("latency_affected_mean_s"), "affected latency mean (s)", Lower).seconds(),
    Metric::new("latency_affected.p99", Always("latency_affected_p99_s"), "affected latency p99 (s)", Lower).seconds(),
    Metric::new("latency_unaffected.count", Always("latency_unaffected_count"), "unaffected messages", Higher),
    Metric::new("latency_unaffected.mean", Always("latency_unaffected_mean_s"), "unaffected latency mean (s)", Lower).seconds(),
    Metric::new("latency_unaffected.p99", Always("latency_unaffected_p99_s"), "unaffected latency p99 (s)", Lower).seconds(),
    // Consumer crashes whose deliveries came back.
    Metric::new("messages.crash_redelivery_delay.count", WithCrashes("crash_redelivery_count"), "crash redeliveries", Lower),
    Metric::new("messages.crash_redelivery_delay.mean", WithCrashes("crash_redelivery_delay_mean_s"), "crash redelivery delay mean (s)", Lower)
        .compared(20).seconds().bounded(&[("crash_redelivery_delay_mean_max", AtMost)]),
    Metric::new("messages.crash_redelivery_delay.p99", WithCrashes("crash_redelivery_delay_p99_s"), "crash redelivery delay p99 (s)", Lower)
        .compared(21).seconds().bounded(&[("crash_redelivery_delay_p99_max", AtMost)]),
    Metric::new("messages.crash_redelivery_delay.max", WithCrashes("crash_redelivery_delay_max_s"), "crash redelivery delay max (s)", Lower).seconds(),
    // Cost, where the scenario has `[cost]`.
    Metric::new("cost.requests", WithCost("cost_requests_usd"), "cost of requests (USD)", Lower),
    Metric::new("cost.compute", WithCost("cost_compute_usd"), "cost of compute (USD)", Lower),
    Metric::new("cost.transfer", WithCost("cost_transfer_usd"), "cost of transfer (USD)", Lower),
    Metric::new("cost.total", WithCost("cost_total_usd"), "cost total (USD)", Lower)
        .compared(18).bounded(&[("cost_total_max", AtMost)]),
    Metric::new("cost.per_million_messages", WithCost("cost_per_million_messages_usd"), "cost per million messages (USD)", Lower)
        .compared(19).bounded(&[("cost_per_million_messages_max", AtMost)]),
    Metric::new("cost.request_count", WithCost("cost_request_count"), "requests", Lower),
    Metric::new("cost.instance_hours", WithCost("cost_instance_hours"), "instance hours", Lower),
    // Not in metrics.csv.
    Metric::new("messages.duplicate_rate", Column::None, "duplicate rate", Lower)
        .bounded(&[("duplicate_rate_max", AtMost), ("duplicate_rate_min", AtLeast)]),
    Metric::new("messages.dead_letter_rate", Column::None, "dead-letter rate", Lower)
        .bounded(&[("dead_letter_rate_max", AtMost)]),
    // Client timeouts: completions whose client still waited, and work
    // done after it gave up.
    Metric::new("messages.goodput", Column::None, "goodput (/s)", Higher).compared(11),
    Metric::new("messages.processed_after_timeout", Column::None, "done after timeout", Lower).compared(12),
    // Side effects, where a consumer sets `side_effect`.
    Metric::new("messages.side_effects_lost", WithSideEffects("side_effects_lost"), "side effects lost", Lower).compared(22),
    Metric::new("messages.side_effects_duplicated", WithSideEffects("side_effects_duplicated"), "side effects duplicated", Lower).compared(23),
    // Sagas, where the scenario has them.
    Metric::new("saga_totals.started", WithSagas("saga_started"), "sagas started", Higher),
    Metric::new("saga_totals.compensated", WithSagas("saga_compensated"), "sagas compensated", Higher).compared(15),
    Metric::new("saga_totals.stuck", WithSagas("saga_stuck"), "sagas stuck", Lower)
        .compared(16).bounded(&[("stuck_max", AtMost)]),
    Metric::new("saga_totals.inconsistency_p99", WithSagas("saga_inconsistency_p99_s"), "saga inconsistency p99 (s)", Lower)
        .compared(17).seconds().bounded(&[("inconsistency_p99_max", AtMost)]),
];

/// The metric at a dotted path.
pub fn metric(path: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.path == path)
}

/// The compared metrics, in `compare`'s order.
pub fn compared() -> Vec<&'static Metric> {
    let mut out: Vec<&Metric> = METRICS.iter().filter(|m| m.compared.is_some()).collect();
    out.sort_by_key(|m| m.compared);
    out
}

/// The metric an `[expect]` key bounds, and on which side.
pub fn bounded_by(key: &str) -> Option<(&'static Metric, Side)> {
    METRICS.iter().find_map(|m| {
        let side = m.bounds.iter().find(|(k, _)| *k == key)?.1;
        Some((m, side))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_registry_declares_each_path_column_label_and_bound_once() {
        let once = |what: &str, items: Vec<&str>| {
            let mut seen = BTreeSet::new();
            for i in items {
                assert!(seen.insert(i), "{what} {i} is declared twice");
            }
        };
        once("path", METRICS.iter().map(|m| m.path).collect());
        once("label", METRICS.iter().map(|m| m.label).collect());
        let columns = METRICS.iter().filter_map(|m| match m.column {
            Column::None => None,
            Column::Always(c)
            | Column::WithCrashes(c)
            | Column::WithCost(c)
            | Column::WithSideEffects(c)
            | Column::WithSagas(c) => Some(c),
        });
        once("column", columns.collect());
        once(
            "bound",
            METRICS
                .iter()
                .flat_map(|m| m.bounds.iter().map(|b| b.0))
                .collect(),
        );
        let rows: Vec<u8> = compared().iter().filter_map(|m| m.compared).collect();
        assert_eq!(
            rows,
            (0..rows.len() as u8).collect::<Vec<_>>(),
            "compare rows 0, 1, 2, ..."
        );
    }

    #[test]
    fn every_expect_bound_names_a_registered_metric() {
        let schema = schemars::schema_for!(crate::scenario::ExpectCfg);
        let value = serde_json::to_value(&schema).unwrap();
        let keys: Vec<&String> = value["properties"].as_object().unwrap().keys().collect();
        // `[expect]` keys that are not a bound on one metric.
        let other = [
            "recovers_within",
            "recovers",
            "recovers_in",
            "variants",
            "confidence",
        ];
        for key in keys.iter().filter(|k| !other.contains(&k.as_str())) {
            assert!(
                bounded_by(key).is_some(),
                "[expect] {key} bounds no registered metric"
            );
        }
        // Every bound key, set alone, is one of `ExpectCfg::bounds`.
        for key in keys.iter().filter(|k| !other.contains(&k.as_str())) {
            let set = ["1", "\"1s\"", "0.5"]
                .iter()
                .find_map(|v| {
                    toml::from_str::<crate::scenario::ExpectCfg>(&format!("{key} = {v}")).ok()
                })
                .unwrap_or_else(|| panic!("{key} takes none of 1, \"1s\", 0.5"));
            let bounds: Vec<&str> = set.bounds().iter().map(|b| b.0).collect();
            assert_eq!(bounds, [key.as_str()], "ExpectCfg::bounds misses {key}");
        }
        for m in METRICS {
            for (key, _) in m.bounds {
                assert!(
                    keys.iter().any(|k| k == key),
                    "{key} is not an [expect] key"
                );
            }
        }
    }
}
