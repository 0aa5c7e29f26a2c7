//! Whether a run recovered after its last fault, and how long it took:
//! the backlog against a baseline taken between the warm-up and the first
//! fault (see [`recovery`]), per run and over replications.

use crate::model::Model;
use crate::sim::collect::Sample;
use crate::sim::FaultRecord;
use crate::stats::summary::num;
use crate::time::ns_to_secs;
use serde_json::{json, Value};

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
