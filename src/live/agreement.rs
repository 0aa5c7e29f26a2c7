//! Live against simulated: for each metric, the simulated replications'
//! mean and a prediction interval for one more replication (a live run is
//! one draw of the same random system, so its spread is a replication's
//! spread, not the mean's): mean ± t · sd · sqrt(1 + 1/n). The intervals
//! hold jointly at 99% over the metrics compared (Bonferroni: each at
//! 1 - 0.01/k, k the metrics compared), so that a dozen metrics do not make a spurious "differs"
//! likely. A metric with no spread in the simulation agrees only when
//! the live value equals it.

use crate::experiment::Outcome;
use serde_json::{json, Map, Value};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// The metrics compared: JSON paths of the `run` tree (`ordering` only
/// where the scenario has message keys).
pub const METRICS: [&str; 13] = [
    "messages.published",
    "messages.rejected",
    "messages.acked",
    "messages.duplicates",
    "messages.lost",
    "messages.dead_lettered",
    "messages.expired",
    "messages.redelivered",
    "messages.throughput",
    "latency.mean",
    "latency.p50",
    "latency.p99",
    "ordering.out_of_order",
];

/// Joint coverage of the intervals.
pub const JOINT_LEVEL: f64 = 0.99;

pub struct Row {
    pub metric: &'static str,
    pub live: f64,
    pub mean: f64,
    pub low: f64,
    pub high: f64,
    pub agrees: bool,
}

fn at(tree: &Value, path: &str) -> Option<f64> {
    path.split('.').try_fold(tree, |v, k| v.get(k))?.as_f64()
}

/// The prediction interval of one more draw from `values`, two-sided at
/// `level`.
pub fn prediction_interval(values: &[f64], level: f64) -> (f64, f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, mean, mean);
    }
    let variance = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let t = StudentsT::new(0.0, 1.0, n - 1.0)
        .map(|d| d.inverse_cdf(1.0 - (1.0 - level) / 2.0))
        .unwrap_or(f64::INFINITY);
    let half = t * variance.sqrt() * (1.0 + 1.0 / n).sqrt();
    (mean, mean - half, mean + half)
}

/// One row per metric both sides have. A latency also agrees within
/// `latency_tolerance` (a fraction) of the simulated mean: the wall
/// clock's jitter, which a deterministic scenario's zero-width interval
/// leaves no room for (`[live] latency_tolerance`).
pub fn compare(live: &Map<String, Value>, sim: &Outcome, latency_tolerance: f64) -> Vec<Row> {
    let live = Value::Object(live.clone());
    let mut both = Vec::new();
    for metric in METRICS {
        let Some(live_value) = at(&live, metric) else {
            continue;
        };
        let values: Vec<f64> = sim
            .reps
            .iter()
            .filter_map(|r| at(&Value::Object(r.metrics.clone()), metric))
            .collect();
        if !values.is_empty() {
            both.push((metric, live_value, values));
        }
    }
    // Joint over the metrics compared.
    let level = 1.0 - (1.0 - JOINT_LEVEL) / both.len().max(1) as f64;
    let mut rows = Vec::new();
    for (metric, live_value, values) in both {
        let (mean, low, high) = prediction_interval(&values, level);
        let tolerance = 1e-9 * mean.abs().max(1.0);
        let within_jitter = metric.starts_with("latency.")
            && (live_value - mean).abs() <= latency_tolerance * mean.abs();
        let agrees =
            within_jitter || (live_value >= low - tolerance && live_value <= high + tolerance);
        rows.push(Row {
            metric,
            live: live_value,
            mean,
            low,
            high,
            agrees,
        });
    }
    rows
}

pub fn json(rows: &[Row]) -> Value {
    let mut o = Map::new();
    for r in rows {
        o.insert(
            r.metric.into(),
            json!({ "live": r.live, "mean": r.mean, "low": r.low, "high": r.high,
                    "verdict": if r.agrees { "agrees" } else { "differs" } }),
        );
    }
    Value::Object(o)
}

pub fn render(rows: &[Row]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nLive against simulated (99% joint prediction interval over the replications)"
    );
    let _ = writeln!(
        out,
        "{:<24} {:>12} {:>12} {:>26}  verdict",
        "metric", "live", "sim mean", "interval"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<24} {:>12.4} {:>12.4} {:>26}  {}",
            r.metric,
            r.live,
            r.mean,
            format!("[{:.4}, {:.4}]", r.low, r.high),
            if r.agrees { "agrees" } else { "DIFFERS" }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prediction_interval_is_wider_than_the_spread_and_covers_the_mean() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0];
        let (mean, low, high) = prediction_interval(&values, 0.99);
        assert_eq!(mean, 3.0);
        // t(4, 0.995) = 4.604, sd = 1.5811, sqrt(1.2) = 1.0954.
        let half = 4.604_094 * 1.581_139 * 1.095_445;
        assert!((high - mean - half).abs() < 1e-3, "{high}");
        assert!((mean - low - half).abs() < 1e-3, "{low}");
        let (m, l, h) = prediction_interval(&[7.0, 7.0, 7.0], 0.99);
        assert_eq!((m, l, h), (7.0, 7.0, 7.0));
    }
}
