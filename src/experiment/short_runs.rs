//! Short runs where no queueing model applies: the autocorrelation time
//! of each queue's backlog (and each topic group's lag) is estimated from
//! the time series, and a replication shorter than
//! [`RELAXATION_TIMES`] of it is warned about, with the length it should
//! have.
//!
//! Why: with faults, retries, pipelines or topics there is no relaxation
//! time from theory ([`super::theory_report::short_run_warnings`] covers
//! the queues that have one), yet a short replication under-covers just
//! the same (issue 30). For M/M/1 the integrated autocorrelation time of
//! the queue length, 2 (1 + rho) / (mu (1 - rho)^2), is within a few
//! percent of the relaxation time 1 / (mu (1 - sqrt rho)^2) for rho from
//! 0.8 up, so the one threshold serves both. It runs on the sampled
//! series (about 200 points a replication by default), never per message.

use super::theory_report::{relaxation_time_s, RELAXATION_TIMES};
use super::warnings::Warning;
use super::Replication;
use crate::model::{FaultTiming, Model};
use crate::stats::autocorrelation::integrated_time_samples;

/// Warnings for each queue without a model (and each topic's consumer
/// group) whose statistics window (`window_s`, after `warmup_s`) is
/// shorter than [`RELAXATION_TIMES`] times its estimated autocorrelation
/// time.
pub fn estimated_short_run_warnings(
    m: &Model,
    reps: &[Replication],
    warmup_s: f64,
    window_s: f64,
) -> Vec<Warning> {
    // A one-off incident (a fault at a fixed window) makes the run a
    // terminating study of that incident: its backlog's autocorrelation
    // is mostly the incident's own transient, and a longer window would
    // change the question (dilute the incident) rather than the answer's
    // precision; more replications narrow its intervals.
    let incident = m
        .faults
        .iter()
        .any(|f| matches!(f.timing, FaultTiming::Window { .. }));
    if incident {
        return Vec::new();
    }
    let interval_s = m.sample_interval_ns as f64 / 1e9;
    let mut out = Vec::new();
    for (qi, q) in m.queues.iter().enumerate() {
        if relaxation_time_s(m, qi).is_some() {
            continue;
        }
        let series: Vec<Vec<f64>> = reps
            .iter()
            .map(|r| {
                r.samples
                    .iter()
                    .filter(|s| s.queue == qi && s.time_s >= warmup_s)
                    .map(|s| (s.ready + s.in_flight + s.waiting_retry) as f64)
                    .collect()
            })
            .collect();
        let what = format!("queue `{}`: its backlog", q.name);
        out.extend(warning(&what, &series, interval_s, window_s));
    }
    let mut groups: Vec<(&str, &str)> = reps
        .iter()
        .flat_map(|r| r.lag.iter().map(|l| (l.topic.as_str(), l.group.as_str())))
        .collect();
    groups.sort_unstable();
    groups.dedup();
    for (topic, group) in groups {
        let series: Vec<Vec<f64>> = reps
            .iter()
            .map(|r| {
                r.lag
                    .iter()
                    .filter(|l| l.topic == topic && l.group == group && l.time_s >= warmup_s)
                    .map(|l| l.lag.iter().sum::<u64>() as f64)
                    .collect()
            })
            .collect();
        let what = format!("topic `{topic}`, group `{group}`: its lag");
        out.extend(warning(&what, &series, interval_s, window_s));
    }
    out
}

/// The warning for one series when the window is too short beside its
/// estimated autocorrelation time.
fn warning(what: &str, series: &[Vec<f64>], interval_s: f64, window_s: f64) -> Option<Warning> {
    let samples = integrated_time_samples(series)?;
    // Below two sampling intervals the time is not resolved (independent
    // samples give 1 whatever the true time below the interval).
    if samples < 2.0 {
        return None;
    }
    let time_s = samples * interval_s;
    (window_s < RELAXATION_TIMES * time_s).then(|| {
        let text = format!(
            "{what} has an autocorrelation time of about {time_s:.1} s (estimated from the time series, no queueing model applies); a replication's statistics window ({window_s:.0} s) is {:.1} autocorrelation times, so intervals may not cover: make each replication at least {:.0} s ({RELAXATION_TIMES} autocorrelation times), e.g. with simulation.duration",
            window_s / time_s,
            RELAXATION_TIMES * time_s
        );
        Warning::new("short-window", text).with(window_s / time_s)
    })
}
