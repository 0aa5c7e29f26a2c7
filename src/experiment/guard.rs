//! Resource guard: before running, estimate the events and the memory a
//! scenario implies, and refuse what would take hours or exhaust memory
//! (unless `--force`).

use super::Plan;
use crate::model::Model;

/// Events per message, roughly: arrival, service end, plus timers and hops.
const EVENTS_PER_MESSAGE: f64 = 4.0;
/// Refuse above this many events in all (about an hour on one core).
pub const MAX_EVENTS: f64 = 2e10;
/// Refuse above this much memory for the backlog of an unstable queue.
pub const MAX_BYTES: f64 = 8.0 * 1024.0 * 1024.0 * 1024.0;
/// Memory of one waiting message: its record, its copy and its queue slot,
/// with the slack of buffers that double as they grow (measured: 325 bytes
/// resident per message in the backlog of an overloaded queue, 230 in a
/// topic's log).
const BYTES_PER_MESSAGE: f64 = 400.0;
/// Memory of one time-series sample of one queue.
const SAMPLE_BYTES: f64 = 80.0;
/// Memory of one free prefetch slot (a credit), with its buffer's slack.
const CREDIT_BYTES: f64 = 16.0;
/// Memory of one message id remembered by an idempotency or dedup window.
const WINDOW_ID_BYTES: f64 = 48.0;
/// Memory of one replication's results held until the report (besides its
/// time series): metrics, latency CDF, transition counts, fault timeline.
pub const REPLICATION_BYTES: f64 = 56.0 * 1024.0;

pub struct Estimate {
    pub messages: f64,
    pub events: f64,
    pub backlog_bytes: f64,
    /// What dominates `backlog_bytes`, for the message.
    pub reason: &'static str,
}

/// Offered rate of the producers that publish to queue `qi` (or topic).
fn offered(m: &Model, to: impl Fn(&crate::model::ProducerModel) -> bool) -> f64 {
    m.producers
        .iter()
        .filter(|p| to(p))
        .map(|p| rate(m, p))
        .sum()
}

/// Mean copies of each message that a producer retrying forever on a client
/// timeout keeps publishing once its queue falls behind: one per timeout
/// over half the run.
fn orbit_copies(m: &Model, secs: f64, qi: usize) -> f64 {
    m.producers
        .iter()
        .filter(|p| p.queue == qi && p.topic.is_none())
        .filter_map(|p| {
            let timeout = p.timeout_ns? as f64 / 1e9;
            let retry = p.retry.as_ref()?;
            retry.max_attempts.is_none().then_some(timeout)
        })
        .map(|timeout| (secs / (2.0 * timeout.max(1e-9))).max(1.0))
        .fold(1.0, f64::max)
}

/// Messages that pile up behind consumers slower than their producers,
/// in queues and in topics' logs, and the seconds the slowest queue takes
/// to clear its backlog once the producers stop.
fn backlog_messages(m: &Model, secs: f64) -> (f64, f64) {
    let mut backlog = 0.0;
    let mut clear_secs: f64 = 0.0;
    for (qi, q) in m.queues.iter().enumerate() {
        let lambda = offered(m, |p| p.queue == qi && p.topic.is_none());
        let cap: f64 = m
            .groups
            .iter()
            .filter(|g| g.queue == qi && g.log.is_none())
            .map(|g| (g.most_instances() * g.concurrency) as f64 / g.service.mean().max(1e-12))
            .sum();
        if lambda > cap {
            let mut grow = (lambda - cap) * secs * orbit_copies(m, secs, qi);
            if let Some(c) = q.capacity {
                grow = grow.min(c as f64);
            }
            backlog += grow;
            clear_secs = clear_secs.max(grow / cap.max(1e-12));
        }
    }
    for (ti, t) in m.topics.iter().enumerate() {
        let lambda = offered(m, |p| p.topic == Some(ti));
        // A partition is read by one member at a time: the slowest group
        // keeps records in the log until it has read them.
        let behind = m
            .groups
            .iter()
            .filter(|g| g.log.as_ref().is_some_and(|l| l.topic == ti))
            .map(|g| {
                let readers = (g.count * g.concurrency).min(t.partitions.max(1)) as f64;
                (lambda - readers / g.service.mean().max(1e-12)).max(0.0)
            })
            .fold(0.0, f64::max);
        let kept = secs.min(t.retention_ns as f64 / 1e9);
        backlog += behind * kept;
        if behind > 0.0 {
            clear_secs = clear_secs.max(behind * kept / (lambda - behind).max(1e-12));
        }
    }
    (backlog, clear_secs)
}

/// Random faults: two events per occurrence, on each unit they hit.
fn fault_events(m: &Model, secs: f64) -> f64 {
    m.faults
        .iter()
        .map(|f| match f.timing {
            crate::model::FaultTiming::Random { mtbf_ns, .. } => {
                let units = match (f.kind, f.target) {
                    (crate::model::FaultKind::ConsumerCrash, Some(g)) => {
                        m.groups.get(g).map_or(1, |g| g.count) as f64
                    }
                    (crate::model::FaultKind::ConsumerCrash, None) => {
                        m.groups.iter().map(|g| g.count as f64).sum()
                    }
                    _ => 1.0,
                };
                2.0 * units * secs / (mtbf_ns.max(1) as f64 / 1e9)
            }
            crate::model::FaultTiming::Periodic { every_ns, .. } => {
                let units = m
                    .groups
                    .iter()
                    .map(|g| g.count as f64)
                    .sum::<f64>()
                    .max(1.0);
                2.0 * units * secs / (every_ns.max(1) as f64 / 1e9)
            }
            _ => 2.0,
        })
        .sum()
}

pub fn estimate(m: &Model, plan: &Plan) -> Estimate {
    let secs = m.duration_ns as f64 / 1e9;
    let messages: f64 = m.producers.iter().map(|p| rate(m, p) * secs).sum();
    let reps = plan.replications.max(1) as f64;
    let held = if plan.precision.is_some() {
        reps.max(plan.max_replications as f64)
    } else {
        reps
    };
    let (backlog, backlog_clear_secs) = backlog_messages(m, secs);
    // Credits: every free prefetch slot of every instance is a queue entry.
    let credits: f64 = m
        .groups
        .iter()
        .filter(|g| g.log.is_none())
        .map(|g| g.count as f64 * g.prefetch as f64)
        .sum();
    // Ids remembered by idempotency stores and broker dedup windows.
    let window_ids: f64 = m
        .groups
        .iter()
        .filter_map(|g| {
            let w = g.idempotency_ns? as f64 / 1e9;
            Some(offered(m, |p| p.queue == g.queue) * w.min(secs))
        })
        .chain(m.queues.iter().enumerate().filter_map(|(qi, q)| {
            let w = q.dedup_window_ns? as f64 / 1e9;
            Some(offered(m, |p| p.queue == qi) * w.min(secs))
        }))
        .sum();
    // Sampling stops when the last message is gone: the drain is sampled
    // only as long as the backlog takes to clear (a minute, or the
    // duration, at least).
    let clear_secs = (m.drain_ns as f64 / 1e9).min(backlog_clear_secs.max(secs.max(60.0)));
    let samples = ((secs + clear_secs) / (m.sample_interval_ns.max(1) as f64 / 1e9))
        * m.queues.len().max(1) as f64;
    let parts = [
        (backlog * BYTES_PER_MESSAGE, "a queue or topic receives more than its consumers can process (rho > 1) with no capacity limit"),
        (credits * CREDIT_BYTES, "`count` x `prefetch` prefetch slots"),
        (window_ids * WINDOW_ID_BYTES, "an idempotency or dedup window remembers every message id it covers"),
        (samples * SAMPLE_BYTES, "`sample_interval` is tiny for the duration"),
        (held * (REPLICATION_BYTES + samples * SAMPLE_BYTES), "the results of every replication are held until the report"),
    ];
    let total: f64 = parts.iter().map(|p| p.0).sum();
    let reason = parts
        .iter()
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map_or("", |p| p.1);
    Estimate {
        messages: messages * reps,
        events: messages * reps * EVENTS_PER_MESSAGE + (samples + fault_events(m, secs)) * reps,
        backlog_bytes: total,
        reason,
    }
}

/// A producer's rate for the estimate. A heavy tail can make the mean
/// interarrival time long while most gaps are tiny: take the larger of the
/// mean rate and the typical (median) rate.
fn rate(m: &Model, p: &crate::model::ProducerModel) -> f64 {
    let typical = match &p.arrival {
        crate::model::Arrival::Interarrival(d) => 1.0 / d.median().max(1e-12),
        _ => 0.0,
    };
    p.arrival.mean_rate(m.duration_ns).max(typical)
}

/// Refuses a run over the limits, saying what it would cost and how to force it.
pub fn check(m: &Model, plan: &Plan, force: bool) -> Result<(), String> {
    if force {
        return Ok(());
    }
    let e = estimate(m, plan);
    if e.events > MAX_EVENTS {
        return Err(format!(
            "this run implies about {:.2e} messages and {:.2e} events (over the limit of {:.0e}): shorten `duration`, lower the rates or the replications, or pass --force to run it anyway",
            e.messages, e.events, MAX_EVENTS
        ));
    }
    if e.backlog_bytes > MAX_BYTES {
        return Err(format!(
            "this run would need about {:.1} GiB of memory (the limit is {:.0} GiB), mostly because {}; set `capacity` on the queue, add consumers, shorten `duration`, raise `sample_interval`, lower the replications, or pass --force (a run that reaches the memory ceiling stops with partial results)",
            e.backlog_bytes / (1024.0 * 1024.0 * 1024.0),
            MAX_BYTES / (1024.0 * 1024.0 * 1024.0),
            e.reason
        ));
    }
    Ok(())
}

// The stop conditions a run checks as it goes live with the simulator
// (a lower layer); re-exported here, where the guards are.
pub use crate::sim::limits::{
    memory_ceiling_bytes, memory_in_use_bytes, must_stop, note_stop, over_memory_ceiling,
    stop_reason, StopReason,
};
