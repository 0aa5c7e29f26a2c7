//! What a run cost (issue 23 §4): `[cost]`'s prices times the broker
//! requests, instance-hours and bytes the simulator counted.
//!
//! Requests are counted where they reach the broker, from counters the
//! simulator keeps anyway (so that the core build pays nothing for
//! them): publishes are the messages a queue was offered, receives its
//! deliveries, acks and nacks one per processing attempt that sent one,
//! lease extensions, and where the broker bills empty receive polls (SQS)
//! the empty receives of idle instances: their idle time over the receive
//! wait (mqsim's brokers push deliveries, so the polls themselves are not
//! simulated). Only the messages of the statistics window count, as
//! for every other figure; compute is charged over the same window, so
//! `per_million_messages` is the cost of a message in steady state.

use crate::model::Model;
use crate::sim::collect::Collector;
use crate::stats::summary::num;
use serde_json::{json, Map, Value};

/// Bytes in the GB of `per_gb_transferred` (a GiB, as AWS and Google
/// bill data).
pub const BYTES_PER_GB: f64 = (1u64 << 30) as f64;

/// Broker requests at one queue, by kind, as counted (before SQS's
/// 64 KiB chunks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Requests {
    pub publish: u64,
    pub receive: u64,
    /// Acks and nacks (none for a queue read only by `on-receive`
    /// consumers: the broker settles at delivery).
    pub settle: u64,
    pub extend: u64,
    /// Receive polls that returned nothing (billed by SQS).
    pub empty_receive: u64,
}

/// The requests counted at queue `qi`.
pub fn requests(m: &Model, c: &Collector, qi: usize) -> Requests {
    let qc = &c.queues[qi];
    let sends_acks = m
        .groups
        .iter()
        .any(|g| g.queue == qi && g.log.is_none() && !g.ack_on_receive);
    let settle = if sends_acks {
        (qc.services + qc.settles_uncounted).saturating_sub(qc.attempts_unsettled)
    } else {
        0
    };
    Requests {
        publish: qc.offered,
        receive: qc.deliveries,
        settle,
        extend: qc.lease_extensions,
        empty_receive: 0,
    }
}

/// Empty receives at queue `qi` where its broker bills them (`waits`:
/// per group, the wait of one empty receive in seconds; None for a group
/// that does not poll a billing broker). An instance that is up and idle
/// has a receive outstanding, which returns empty after the wait (long
/// polling returns early only when a message comes, and then it is a
/// receive already counted), so the empty receives of group `g` are
/// floor(idle_g / wait_g), with idle_g its instance-seconds up (its
/// instance-time less its instances' downtime) times the fraction of the
/// queue's worker capacity that was free: 1 - busy worker-seconds /
/// sum over the queue's groups of up instance-seconds x concurrency.
/// With one group of concurrency 1: up instance-seconds - busy seconds.
pub fn empty_receives(m: &Model, c: &Collector, waits: &[Option<f64>], qi: usize) -> u64 {
    let on_queue = |g: &usize| m.groups[*g].queue == qi && m.groups[*g].log.is_none();
    let groups: Vec<(usize, f64)> = (0..m.groups.len())
        .filter(on_queue)
        .filter_map(|g| waits.get(g).copied().flatten().map(|w| (g, w)))
        .filter(|&(_, w)| w > 0.0)
        .collect();
    if groups.is_empty() {
        return 0;
    }
    let up = |g: usize| {
        let (down, had) = c.group_up_ns[g];
        had.saturating_sub(down) as f64 / 1e9
    };
    let capacity: f64 = (0..m.groups.len())
        .filter(on_queue)
        .map(|g| up(g) * f64::from(m.groups[g].concurrency.max(1)))
        .sum();
    if capacity <= 0.0 {
        return 0;
    }
    let busy = c.queues[qi].area_busy / 1e9;
    let free = (1.0 - busy / capacity).clamp(0.0, 1.0);
    groups
        .iter()
        .map(|&(g, wait)| (up(g) * free / wait + 1e-9).floor() as u64)
        .sum()
}

/// Instance-seconds consumer group `g` ran for in the statistics window:
/// its `count` times the window, or for an autoscaled group the
/// instance-time it had (both kept by the simulator in `group_up_ns`).
pub fn instance_seconds(c: &Collector, g: usize) -> f64 {
    c.group_up_ns[g].1 as f64 / 1e9
}

/// `cost`, added to a run's metrics when the model has `[cost]`.
pub fn insert(m: &Model, c: &Collector, o: &mut Map<String, Value>) {
    let Some(prices) = &m.cost else {
        return;
    };
    let mut billed = Requests::default();
    let (mut request_count, mut requests_usd) = (0u64, 0.0);
    let (mut gb_transferred, mut transfer_usd) = (0.0, 0.0);
    for qi in 0..m.queues.len() {
        let r = requests(m, c, qi);
        let chunks = prices.requests_per_message[qi];
        let queue = Requests {
            publish: r.publish * chunks,
            receive: r.receive * chunks,
            // An empty receive carries no payload: one request.
            empty_receive: empty_receives(m, c, &prices.receive_wait_s, qi),
            ..r
        };
        billed.publish += queue.publish;
        billed.receive += queue.receive;
        billed.settle += queue.settle;
        billed.extend += queue.extend;
        billed.empty_receive += queue.empty_receive;
        let n = queue.publish + queue.receive + queue.settle + queue.extend + queue.empty_receive;
        request_count += n;
        requests_usd += n as f64 / 1e6 * prices.per_million_requests_usd[qi];
        let gb = (r.publish + r.receive) as f64 * prices.billed_bytes[qi] as f64 / BYTES_PER_GB;
        gb_transferred += gb;
        transfer_usd += gb * prices.per_gib_transferred_usd[qi];
    }
    let instance_hours: f64 = (0..m.groups.len())
        .map(|g| instance_seconds(c, g) / 3600.0)
        .sum();
    let compute_usd = instance_hours * prices.per_instance_hour_usd;
    let total_usd = requests_usd + compute_usd + transfer_usd;
    let per_million_messages = if c.published > 0 {
        num(total_usd / c.published as f64 * 1e6)
    } else {
        Value::Null
    };
    o.insert(
        "cost".into(),
        json!({
            "requests": num(requests_usd),
            "compute": num(compute_usd),
            "transfer": num(transfer_usd),
            "total": num(total_usd),
            "per_million_messages": per_million_messages,
            "request_count": request_count,
            "requests_by_kind": {
                "publish": billed.publish,
                "receive": billed.receive,
                "settle": billed.settle,
                "extend": billed.extend,
                "empty_receive": billed.empty_receive,
            },
            "instance_hours": num(instance_hours),
            "gb_transferred": num(gb_transferred),
        }),
    );
}
