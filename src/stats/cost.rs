//! What a run cost (issue 23 §4): `[cost]`'s prices times the broker
//! requests, instance-hours and bytes the simulator counted.
//!
//! Requests are counted where they reach the broker, from counters the
//! simulator keeps anyway (so that the core build pays nothing for
//! them): publishes are the messages a queue was offered, receives its
//! deliveries (mqsim's brokers push: there is no polling, so no empty
//! receive), acks and nacks one per processing attempt that sent one, and
//! lease extensions. Only the messages of the statistics window count, as
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
    }
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
            ..r
        };
        billed.publish += queue.publish;
        billed.receive += queue.receive;
        billed.settle += queue.settle;
        billed.extend += queue.extend;
        let n = queue.publish + queue.receive + queue.settle + queue.extend;
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
            },
            "instance_hours": num(instance_hours),
            "gb_transferred": num(gb_transferred),
        }),
    );
}
