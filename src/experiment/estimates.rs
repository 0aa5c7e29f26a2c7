//! Estimates over replications that are not means of the replications'
//! own values: latency quantiles (merged histograms, sectioning
//! intervals), the maximum (the largest of all), and rates (pooled counts,
//! exact intervals). They replace the leaf-by-leaf means of
//! [`crate::stats::summary::aggregate`] in the summary.

use super::Replication;
use crate::stats::outcomes::subtract;
use crate::stats::quantile::{merge, over_replications, tail_warning, QUANTILES};
use crate::stats::rates::pooled;
use crate::stats::summary::num;
use serde_json::{json, Map, Value};

/// Rates whose estimate is the ratio of pooled counts: (rate key, count key).
pub const RATES: [(&str, &str); 3] = [
    ("loss_rate", "lost"),
    ("duplicate_rate", "duplicates"),
    ("dead_letter_rate", "dead_lettered"),
];

fn metric(r: &Replication, group: &str, key: &str) -> Option<f64> {
    // Two levels, read without building a dotted path (called per
    // replication and metric).
    r.metrics.get(group)?.get(key)?.as_f64()
}

/// Sets `tree.group.key` (creating `group` if needed).
fn set(tree: &mut Value, group: &str, key: &str, value: Value) {
    if !tree.is_object() {
        *tree = json!({});
    }
    if let Value::Object(t) = tree {
        let g = t.entry(group.to_string()).or_insert_with(|| json!({}));
        if let Value::Object(g) = g {
            g.insert(key.to_string(), value);
        }
    }
}

/// Replaces the latency quantiles and maximum, and the rates, in the
/// summary `o` and its half-width tree `half_widths`; returns the warnings
/// (quantiles with too few latencies above them in a replication, each
/// with that count as its figure).
pub fn replace(
    reps: &[Replication],
    o: &mut Map<String, Value>,
    half_widths: &mut Value,
) -> Vec<super::warnings::Warning> {
    let mut warnings = Vec::new();
    let max_s = reps
        .iter()
        .filter_map(|r| metric(r, "latency", "max"))
        .fold(f64::NEG_INFINITY, f64::max);
    let mut latency = o.get("latency").cloned().unwrap_or_else(|| json!({}));
    if max_s.is_finite() {
        let histograms: Vec<&[(u64, u64)]> = reps
            .iter()
            .map(|r| r.latency_histogram.as_slice())
            .filter(|h| !h.is_empty())
            .collect();
        let per_replication = histograms
            .iter()
            .flat_map(|h| h.iter())
            .map(|b| b.1)
            .sum::<u64>() as f64
            / histograms.len().max(1) as f64;
        let merged = merge(&histograms);
        let mut bounds = Map::new();
        for (key, q) in QUANTILES {
            let (point, interval) = over_replications(&histograms, &merged, q, max_s);
            latency[key] = point.map_or(Value::Null, num);
            let half = match (point, interval) {
                (Some(p), Some((low, high))) => {
                    bounds.insert(key.into(), json!([num(low), num(high)]));
                    num((high - p).max(p - low))
                }
                _ => Value::Null,
            };
            set(half_widths, "latency", key, half);
            warnings.extend(tail_warning(key, q, per_replication).map(|t| {
                super::warnings::Warning::new("few-tail-latencies", t)
                    .with(per_replication * (1.0 - q))
            }));
        }
        if !bounds.is_empty() {
            o.insert("latency_intervals".into(), Value::Object(bounds));
        }
        latency["max"] = num(max_s);
        set(half_widths, "latency", "max", Value::Null);
    }
    o.insert("latency".into(), latency);
    split_latencies(reps, o, half_widths);
    crash_delay_max(reps, o, half_widths);
    let mut intervals = Map::new();
    for (rate_key, count_key) in RATES {
        let pairs: Vec<(f64, f64)> = reps
            .iter()
            .filter_map(|r| {
                Some((
                    metric(r, "messages", count_key)?,
                    metric(r, "messages", "published")?,
                ))
            })
            .collect();
        let Some(interval) = pooled(&pairs) else {
            continue;
        };
        if let Some(Value::Object(m)) = o.get_mut("messages") {
            m.insert(rate_key.into(), num(interval.rate));
        }
        set(
            half_widths,
            "messages",
            rate_key,
            num(interval.half_width()),
        );
        intervals.insert(
            rate_key.into(),
            json!([num(interval.lower), num(interval.upper)]),
        );
    }
    if !intervals.is_empty() {
        o.insert("rate_intervals".into(), Value::Object(intervals));
    }
    warnings
}

/// `messages.crash_redelivery_delay.max` over replications: the largest
/// of all (the replications' mean of it would understate the worst case
/// a user sizes a timeout for), with no half-width. Its count, mean and
/// p99 stay the means over replications.
fn crash_delay_max(reps: &[Replication], o: &mut Map<String, Value>, half_widths: &mut Value) {
    let max_s = reps
        .iter()
        .filter_map(|r| {
            r.metrics
                .get("messages")?
                .get("crash_redelivery_delay")?
                .get("max")?
                .as_f64()
        })
        .fold(f64::NEG_INFINITY, f64::max);
    if !max_s.is_finite() {
        return;
    }
    if let Some(Value::Object(delay)) = o
        .get_mut("messages")
        .and_then(|m| m.get_mut("crash_redelivery_delay"))
    {
        delay.insert("max".into(), num(max_s));
    }
    if let Some(delay) = half_widths
        .get_mut("messages")
        .and_then(|m| m.get_mut("crash_redelivery_delay"))
        .and_then(Value::as_object_mut)
    {
        delay.insert("max".into(), Value::Null);
    }
}

/// `latency_affected` and `latency_unaffected` over replications, as
/// `latency`: quantiles of the merged histograms with sectioning
/// half-widths, `max` the largest of all (no half-width). Runs that do not
/// split latencies have neither.
fn split_latencies(reps: &[Replication], o: &mut Map<String, Value>, half_widths: &mut Value) {
    let unaffected: Vec<Vec<(u64, u64)>> = reps
        .iter()
        .map(|r| subtract(&r.latency_histogram, &r.latency_affected_histogram))
        .collect();
    let affected: Vec<&[(u64, u64)]> = reps
        .iter()
        .map(|r| r.latency_affected_histogram.as_slice())
        .collect();
    let unaffected: Vec<&[(u64, u64)]> = unaffected.iter().map(Vec::as_slice).collect();
    for (group, histograms) in [
        ("latency_affected", affected),
        ("latency_unaffected", unaffected),
    ] {
        let Some(Value::Object(mut tree)) = o.get(group).cloned() else {
            continue;
        };
        let max_s = reps
            .iter()
            .filter_map(|r| metric(r, group, "max"))
            .fold(f64::NEG_INFINITY, f64::max);
        let histograms: Vec<&[(u64, u64)]> =
            histograms.into_iter().filter(|h| !h.is_empty()).collect();
        let merged = merge(&histograms);
        for (key, q) in QUANTILES {
            let (point, interval) = over_replications(&histograms, &merged, q, max_s);
            tree.insert(key.into(), point.map_or(Value::Null, num));
            let half = match (point, interval) {
                (Some(p), Some((low, high))) => num((high - p).max(p - low)),
                _ => Value::Null,
            };
            set(half_widths, group, key, half);
        }
        tree.insert("max".into(), num(max_s));
        set(half_widths, group, "max", Value::Null);
        o.insert(group.into(), Value::Object(tree));
    }
}
