//! `--precision`: sequential stopping on the relative half-width of the
//! headline metrics (Law, *Simulation Modeling and Analysis*, 5th ed.,
//! section 9.4.1).
//!
//! Why each rule: at least [`MIN_REPLICATIONS`] replications (stopping at 2
//! gave p99 ± 0 from two values in one bucket); the target for the
//! half-width relative to the estimate is gamma / (1 + gamma), which
//! makes the actual relative error at most gamma with the stated
//! confidence (Law's "adjusted" relative precision); a zero-width interval
//! on a quantile is not precise (it says the replications tied, not that
//! the estimate is exact), while a mean that is the same in every
//! replication is a constant (attempts = 1 without retries) and is.
//! Replications are added [`STEP`] at a time whatever the thread count,
//! and the rule is then checked after each one in order: the stopping
//! point is the first replication count that meets the target, so the
//! results do not depend on `--jobs`.

use super::Replication;
use crate::stats::ci::{mean_ci95, relative_half_width};
use crate::stats::quantile::{quantile_in, quantile_ns, sectioning_interval};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The fewest replications `--precision` stops at.
pub const MIN_REPLICATIONS: u32 = 10;
/// Replications added at a time (run in parallel, checked one by one).
pub const STEP: u32 = 10;

/// Means whose relative half-width is controlled: (group, key).
const MEANS: [(&str, &str); 3] = [
    ("latency", "mean"),
    ("messages", "acked"),
    ("messages", "attempts"),
];

/// The quantile controlled, `latency.p99`.
const QUANTILE: f64 = 0.99;

/// The state of the rule over the first n replications, updated one
/// replication at a time (the merged histogram is kept, not rebuilt).
#[derive(Default)]
pub struct Rule {
    merged: BTreeMap<u64, u64>,
    merged_total: u64,
    sections: Vec<f64>,
    max_s: f64,
    means: [Vec<f64>; 3],
}

impl Rule {
    pub fn add(&mut self, r: &Replication) {
        for (i, (group, key)) in MEANS.iter().enumerate() {
            if let Some(x) = r
                .metrics
                .get(*group)
                .and_then(|g| g.get(*key))
                .and_then(Value::as_f64)
            {
                self.means[i].push(x);
            }
        }
        for &(low, count) in &r.latency_histogram {
            *self.merged.entry(low).or_default() += count;
            self.merged_total += count;
        }
        if let Some(m) = r
            .metrics
            .get("latency")
            .and_then(|l| l.get("max"))
            .and_then(Value::as_f64)
        {
            self.max_s = self.max_s.max(m);
        }
        if let Some(ns) = quantile_ns(&r.latency_histogram, QUANTILE) {
            self.sections.push(ns as f64 / 1e9);
        }
    }

    /// Each controlled metric's relative half-width (infinite where the
    /// interval is missing, or a quantile's is zero).
    pub fn relative_half_widths(&self) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        for (i, (group, key)) in MEANS.iter().enumerate() {
            let xs = &self.means[i];
            if xs.is_empty() {
                continue;
            }
            let rel = if xs.len() < 2 {
                f64::INFINITY
            } else if xs.iter().all(|x| *x == xs[0]) {
                0.0
            } else {
                let (m, h) = mean_ci95(xs);
                relative_half_width(m, h)
            };
            out.push((format!("{group}.{key}"), rel));
        }
        let point = quantile_in(
            self.merged.iter().map(|(l, c)| (*l, *c)),
            self.merged_total,
            QUANTILE,
        );
        if let Some(ns) = point {
            let point = (ns as f64 / 1e9).min(self.max_s);
            let sections: Vec<f64> = self.sections.iter().map(|x| x.min(self.max_s)).collect();
            let rel = match sectioning_interval(point, &sections) {
                Some((low, high)) if high > low => {
                    relative_half_width(point, (high - point).max(point - low))
                }
                _ => f64::INFINITY,
            };
            out.push(("latency.p99".into(), rel));
        }
        out
    }
}

/// The relative half-width the rule asks for: gamma / (1 + gamma).
pub fn adjusted(gamma: f64) -> f64 {
    gamma / (1.0 + gamma)
}

/// Whether every controlled metric meets `gamma`.
pub fn met(widths: &[(String, f64)], gamma: f64) -> bool {
    widths.iter().all(|(_, w)| *w <= adjusted(gamma))
}

/// The `precision` object of the summary.
pub fn report(gamma: f64, cap: u32, replications: usize, widths: &[(String, f64)]) -> Value {
    let mut by_metric = Map::new();
    for (name, w) in widths {
        by_metric.insert(name.clone(), crate::stats::summary::num(*w));
    }
    json!({
        "target": gamma,
        "relative_half_width_target": adjusted(gamma),
        "reached": met(widths, gamma),
        "replications": replications,
        "max_replications": cap,
        "relative_half_widths": by_metric,
        "rule": "Law 9.4.1: at least 10 replications, added 10 at a time and checked one by one; stop at the first count where every headline metric's 95% half-width over its estimate is at most gamma / (1 + gamma); a quantile's zero-width interval is not precise",
    })
}

/// The warning when the cap was reached without the target.
pub fn missed_warning(gamma: f64, cap: u32, widths: &[(String, f64)]) -> Option<String> {
    if met(widths, gamma) {
        return None;
    }
    let worst: Vec<String> = widths
        .iter()
        .filter(|(_, w)| *w > adjusted(gamma))
        .map(|(n, w)| format!("{n} {w:.4}"))
        .collect();
    Some(format!(
        "--precision {gamma}: not reached after {cap} replications (--max-replications); relative half-widths still above {:.4}: {}",
        adjusted(gamma),
        worst.join(", ")
    ))
}
