//! CSV files with stable, documented headers (see the README's output
//! reference): one row per variant and replication, and the time series.

use super::{Exporter, Report, ReportError};
use crate::json::value_at;
use crate::stats::summary::{Column, METRICS};
use serde_json::Value;

fn cell(v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// Which optional groups of `metrics.csv` columns a report has: those
/// whose figure some replication has.
#[derive(Clone, Copy, Debug, Default)]
pub struct OptionalColumns {
    pub crashes: bool,
    pub cost: bool,
    pub side_effects: bool,
    pub sagas: bool,
}

/// The columns of `metrics.csv` after `variant,replication,seed`, as
/// (column, summary path): the metric registry's, with the optional
/// groups that `with` names.
pub fn metric_columns(with: OptionalColumns) -> Vec<(&'static str, &'static str)> {
    METRICS
        .iter()
        .filter_map(|m| match m.column {
            Column::None => None,
            Column::Always(c) => Some((c, m.path)),
            Column::WithCrashes(c) => with.crashes.then_some((c, m.path)),
            Column::WithCost(c) => with.cost.then_some((c, m.path)),
            Column::WithSideEffects(c) => with.side_effects.then_some((c, m.path)),
            Column::WithSagas(c) => with.sagas.then_some((c, m.path)),
        })
        .collect()
}

/// `metrics.csv`: one row per variant and replication.
pub struct MetricsCsv;

impl Exporter for MetricsCsv {
    fn file_name(&self) -> &'static str {
        "metrics.csv"
    }
    fn render(&self, report: &Report) -> Result<Vec<u8>, ReportError> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let any_rep = |has: &dyn Fn(&serde_json::Map<String, Value>) -> bool| {
            report
                .variants
                .iter()
                .flat_map(|v| &v.outcome.reps)
                .any(|r| has(&r.metrics))
        };
        // Crash columns where a replication had deliveries come back after
        // a consumer crash (a crash on a topic-only scenario has none).
        let with_crashes = any_rep(&|m| {
            crate::json::at_path(m, "messages.crash_redelivery_delay.count")
                .is_some_and(|n| n > 0.0)
        });
        let columns = metric_columns(OptionalColumns {
            crashes: with_crashes,
            cost: any_rep(&|m| value_at(m, "cost").is_some()),
            side_effects: any_rep(&|m| value_at(m, "messages.side_effects_lost").is_some()),
            sagas: any_rep(&|m| value_at(m, "saga_totals").is_some()),
        });
        let mut header = vec!["variant", "replication", "seed"];
        header.extend(columns.iter().map(|c| c.0));
        w.write_record(&header).map_err(ReportError::render)?;
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
                row.extend(columns.iter().map(|(_, p)| cell(value_at(&r.metrics, p))));
                w.write_record(&row).map_err(ReportError::render)?;
            }
        }
        w.into_inner().map_err(ReportError::render)
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
    fn render(&self, report: &Report) -> Result<Vec<u8>, ReportError> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(TIMESERIES_COLUMNS)
            .map_err(ReportError::render)?;
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
                    .map_err(ReportError::render)?;
                }
            }
        }
        w.into_inner().map_err(ReportError::render)
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
    fn render(&self, report: &Report) -> Result<Vec<u8>, ReportError> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(LAG_COLUMNS).map_err(ReportError::render)?;
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
                    .map_err(ReportError::render)?;
                }
            }
        }
        w.into_inner().map_err(ReportError::render)
    }
}
