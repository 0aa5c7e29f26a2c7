//! CSV files with stable, documented headers (see the README's output
//! reference): one row per variant and replication, and the time series.

use super::{Exporter, Report};
use serde_json::Value;

/// Columns of `metrics.csv` after `variant,replication,seed`: (column, path).
pub const METRIC_COLUMNS: [(&str, &[&str]); 30] = [
    ("published", &["messages", "published"]),
    ("rejected", &["messages", "rejected"]),
    ("delivered", &["messages", "delivered"]),
    ("acked", &["messages", "acked"]),
    ("duplicates", &["messages", "duplicates"]),
    ("lost", &["messages", "lost"]),
    ("dead_lettered", &["messages", "dead_lettered"]),
    ("expired", &["messages", "expired"]),
    ("in_flight", &["messages", "in_flight"]),
    ("redelivered", &["messages", "redelivered"]),
    ("attempts_per_message", &["messages", "attempts"]),
    (
        "duplicates_prevented",
        &["messages", "duplicates_prevented"],
    ),
    ("failed_work_seconds", &["messages", "failed_work_seconds"]),
    ("throughput_per_s", &["messages", "throughput"]),
    ("retries", &["retries", "retries"]),
    ("retries_refused", &["retries", "refused"]),
    ("producer_retries", &["retries", "producer_retries"]),
    ("breaker_rejected", &["retries", "breaker_rejected"]),
    ("latency_mean_s", &["latency", "mean"]),
    ("latency_p50_s", &["latency", "p50"]),
    ("latency_p90_s", &["latency", "p90"]),
    ("latency_p99_s", &["latency", "p99"]),
    ("latency_p999_s", &["latency", "p999"]),
    ("latency_max_s", &["latency", "max"]),
    ("recovered", &["recovery", "recovered"]),
    ("recovery_s", &["recovery", "seconds"]),
    ("loss_rate", &["messages", "loss_rate"]),
    ("out_of_order", &["ordering", "out_of_order"]),
    ("max_displacement", &["ordering", "max_displacement"]),
    ("key_blocked_seconds", &["ordering", "key_blocked_seconds"]),
];

fn cell(v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

fn get<'a>(v: &'a serde_json::Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v.get(path[0])?;
    for p in &path[1..] {
        cur = cur.get(*p)?;
    }
    Some(cur)
}

/// Columns appended to `metrics.csv` when the scenario has `[cost]`
/// (so that the columns of every other scenario stay as they were).
pub const COST_COLUMNS: [(&str, &[&str]); 7] = [
    ("cost_requests_usd", &["cost", "requests"]),
    ("cost_compute_usd", &["cost", "compute"]),
    ("cost_transfer_usd", &["cost", "transfer"]),
    ("cost_total_usd", &["cost", "total"]),
    (
        "cost_per_million_messages_usd",
        &["cost", "per_million_messages"],
    ),
    ("cost_request_count", &["cost", "request_count"]),
    ("cost_instance_hours", &["cost", "instance_hours"]),
];

/// Outcomes by cause (issue 22 §5), present in every run: appended to
/// `metrics.csv` after the columns above.
pub const CAUSE_COLUMNS: [(&str, &[&str]); 11] = [
    (
        "dead_lettered_poison",
        &["messages", "dead_lettered_by_origin", "poison"],
    ),
    (
        "dead_lettered_transient",
        &["messages", "dead_lettered_by_origin", "transient"],
    ),
    (
        "dead_lettered_non_retryable",
        &["messages", "dead_lettered_by_origin", "non_retryable"],
    ),
    (
        "dead_lettered_overflow",
        &["messages", "dead_lettered_by_origin", "overflow"],
    ),
    (
        "dead_lettered_refused",
        &["messages", "dead_lettered_by_origin", "refused"],
    ),
    ("latency_affected_count", &["latency_affected", "count"]),
    ("latency_affected_mean_s", &["latency_affected", "mean"]),
    ("latency_affected_p99_s", &["latency_affected", "p99"]),
    ("latency_unaffected_count", &["latency_unaffected", "count"]),
    ("latency_unaffected_mean_s", &["latency_unaffected", "mean"]),
    ("latency_unaffected_p99_s", &["latency_unaffected", "p99"]),
];

/// Appended when a replication has consumer crashes whose deliveries came
/// back (`messages.crash_redelivery_delay`), before any cost columns.
pub const CRASH_COLUMNS: [(&str, &[&str]); 4] = [
    (
        "crash_redelivery_count",
        &["messages", "crash_redelivery_delay", "count"],
    ),
    (
        "crash_redelivery_delay_mean_s",
        &["messages", "crash_redelivery_delay", "mean"],
    ),
    (
        "crash_redelivery_delay_p99_s",
        &["messages", "crash_redelivery_delay", "p99"],
    ),
    (
        "crash_redelivery_delay_max_s",
        &["messages", "crash_redelivery_delay", "max"],
    ),
];

/// `metrics.csv`: one row per variant and replication.
pub struct MetricsCsv;

impl Exporter for MetricsCsv {
    fn file_name(&self) -> &'static str {
        "metrics.csv"
    }
    fn render(&self, report: &Report) -> Result<Vec<u8>, String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let any_has = |path: &[&str]| {
            report
                .variants
                .iter()
                .flat_map(|v| &v.outcome.reps)
                .any(|r| get(&r.metrics, path).is_some())
        };
        let with_crashes = any_has(&["messages", "crash_redelivery_delay"]);
        let with_cost = any_has(&["cost"]);
        let columns: Vec<(&str, &[&str])> = METRIC_COLUMNS
            .iter()
            .chain(CAUSE_COLUMNS.iter())
            .chain(CRASH_COLUMNS.iter().filter(|_| with_crashes))
            .chain(COST_COLUMNS.iter().filter(|_| with_cost))
            .copied()
            .collect();
        let mut header = vec!["variant", "replication", "seed"];
        header.extend(columns.iter().map(|c| c.0));
        w.write_record(&header).map_err(|e| e.to_string())?;
        for v in &report.variants {
            for r in &v.outcome.reps {
                // The study's seed: `--seed SEED --replication K` reruns
                // this row exactly (the replication's own stream seed is
                // derived from both).
                let mut row = vec![
                    v.name.clone(),
                    r.index.to_string(),
                    v.outcome.seed.to_string(),
                ];
                row.extend(columns.iter().map(|(_, p)| cell(get(&r.metrics, p))));
                w.write_record(&row).map_err(|e| e.to_string())?;
            }
        }
        w.into_inner().map_err(|e| e.to_string())
    }
}

pub const TIMESERIES_COLUMNS: [&str; 13] = [
    "variant",
    "replication",
    "time_s",
    "queue",
    "ready",
    "in_flight",
    "waiting_retry",
    "dead_lettered_total",
    "acked_total",
    "lost_total",
    "latency_mean_s",
    "completions",
    "instances",
];

/// `timeseries.csv`: the sampled state of every queue, replication 0 of each variant.
pub struct TimeseriesCsv;

impl Exporter for TimeseriesCsv {
    fn file_name(&self) -> &'static str {
        "timeseries.csv"
    }
    fn render(&self, report: &Report) -> Result<Vec<u8>, String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(TIMESERIES_COLUMNS)
            .map_err(|e| e.to_string())?;
        for v in &report.variants {
            let queue_names = v.queue_names();
            if let Some(r) = v.outcome.reps.first() {
                for s in &r.samples {
                    let q = queue_names
                        .get(s.queue)
                        .cloned()
                        .unwrap_or_else(|| s.queue.to_string());
                    let lat = if s.latency_mean_s.is_finite() {
                        s.latency_mean_s.to_string()
                    } else {
                        String::new()
                    };
                    w.write_record([
                        v.name.clone(),
                        r.index.to_string(),
                        s.time_s.to_string(),
                        q,
                        s.ready.to_string(),
                        s.in_flight.to_string(),
                        s.waiting_retry.to_string(),
                        s.dead_lettered.to_string(),
                        s.acked.to_string(),
                        s.lost.to_string(),
                        lat,
                        s.completions.to_string(),
                        s.instances.to_string(),
                    ])
                    .map_err(|e| e.to_string())?;
                }
            }
        }
        w.into_inner().map_err(|e| e.to_string())
    }
}

/// `lag.csv`: consumer lag per topic, group and partition over time,
/// replication 0 of each variant (only for scenarios with topics).
pub struct LagCsv;

pub const LAG_COLUMNS: [&str; 7] = [
    "variant",
    "replication",
    "time_s",
    "topic",
    "group",
    "partition",
    "lag",
];

impl Exporter for LagCsv {
    fn file_name(&self) -> &'static str {
        "lag.csv"
    }
    fn applies(&self, report: &Report) -> bool {
        report
            .variants
            .iter()
            .any(|v| v.outcome.reps.first().is_some_and(|r| !r.lag.is_empty()))
    }
    fn render(&self, report: &Report) -> Result<Vec<u8>, String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(LAG_COLUMNS).map_err(|e| e.to_string())?;
        for v in &report.variants {
            let Some(r) = v.outcome.reps.first() else {
                continue;
            };
            for row in &r.lag {
                for (p, lag) in row.lag.iter().enumerate() {
                    w.write_record([
                        v.name.clone(),
                        r.index.to_string(),
                        row.time_s.to_string(),
                        row.topic.clone(),
                        row.group.clone(),
                        p.to_string(),
                        lag.to_string(),
                    ])
                    .map_err(|e| e.to_string())?;
                }
            }
        }
        w.into_inner().map_err(|e| e.to_string())
    }
}
