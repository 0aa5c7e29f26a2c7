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
/// Memory of one waiting message (its record, copy and queue slot).
const BYTES_PER_MESSAGE: f64 = 200.0;
/// Memory of one time-series sample of one queue.
const SAMPLE_BYTES: f64 = 80.0;

pub struct Estimate {
    pub messages: f64,
    pub events: f64,
    pub backlog_bytes: f64,
}

pub fn estimate(m: &Model, plan: &Plan) -> Estimate {
    let secs = m.duration_ns as f64 / 1e9;
    let messages: f64 = m.producers.iter().map(|p| rate(m, p) * secs).sum();
    let reps = plan.replications.max(1) as f64;
    // Backlog of each queue whose offered rate exceeds its capacity.
    let mut backlog = 0.0;
    for (qi, q) in m.queues.iter().enumerate() {
        let lambda: f64 = m
            .producers
            .iter()
            .filter(|p| p.queue == qi)
            .map(|p| rate(m, p))
            .sum();
        let cap: f64 = m
            .groups
            .iter()
            .filter(|g| g.queue == qi)
            .map(|g| (g.count * g.concurrency) as f64 / g.service.mean().max(1e-12))
            .sum();
        if lambda > cap {
            let mut grow = (lambda - cap) * secs;
            if let Some(c) = q.capacity {
                grow = grow.min(c as f64);
            }
            backlog += grow;
        }
    }
    let samples = (m.duration_ns.saturating_add(m.drain_ns) / m.sample_interval_ns.max(1)) as f64
        * m.queues.len() as f64;
    Estimate {
        messages: messages * reps,
        events: messages * reps * EVENTS_PER_MESSAGE + samples * reps,
        backlog_bytes: backlog * BYTES_PER_MESSAGE + samples * SAMPLE_BYTES,
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
            "this run would need about {:.1} GiB: a queue receives more than its consumers can process (rho > 1) with no capacity limit, or `sample_interval` is tiny for the duration; set `capacity` on the queue, add consumers, shorten `duration`, raise `sample_interval`, or pass --force",
            e.backlog_bytes / (1024.0 * 1024.0 * 1024.0)
        ));
    }
    Ok(())
}
