//! `[cost]` resolved: the prices each queue's traffic is charged at, from
//! the user's keys over the queue preset's list prices.

use crate::scenario::preset::preset;
use crate::scenario::Scenario;

/// The prices of a run. Per queue, because the broker that bills a
/// request (and its list price) is the queue's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CostModel {
    /// Per queue: USD per million requests.
    pub per_million_requests_usd: Vec<f64>,
    /// Per queue: the requests one publish or receive of a message is
    /// billed as (SQS: one per started 64 KiB chunk), at least 1.
    pub requests_per_message: Vec<u64>,
    /// Per queue: USD per GiB published or delivered.
    pub per_gib_transferred_usd: Vec<f64>,
    /// Per queue: the bytes one publish or delivery is billed for (0: the
    /// size is unknown, and nothing is charged for volume).
    pub billed_bytes: Vec<u64>,
    /// USD per consumer instance and hour.
    pub per_instance_hour_usd: f64,
    /// Per consumer group: where its queue's broker bills empty receive
    /// polls (SQS), the wait of one empty receive in seconds (the group's
    /// `receive_wait`, else the preset's); None for a pushing broker or a
    /// topic.
    pub receive_wait_s: Vec<Option<f64>>,
}

/// The prices of resolved scenario `s`, when it has a `[cost]` section.
pub fn compile_cost(s: &Scenario) -> Option<CostModel> {
    let c = s.cost.as_ref()?;
    let mut m = CostModel {
        per_instance_hour_usd: c.per_instance_hour.unwrap_or(0.0),
        ..CostModel::default()
    };
    for q in &s.queues {
        let p = q.preset.as_deref().and_then(preset).unwrap_or_default();
        m.per_million_requests_usd.push(
            c.per_million_requests
                .or(p.per_million_requests)
                .unwrap_or(0.0),
        );
        let chunks = match (c.message_bytes, p.request_chunk_bytes) {
            (Some(bytes), Some(chunk)) => bytes.div_ceil(chunk.max(1)).max(1),
            _ => 1,
        };
        m.requests_per_message.push(chunks);
        m.per_gib_transferred_usd
            .push(c.per_gb_transferred.or(p.per_gb_transferred).unwrap_or(0.0));
        let billed = match (c.message_bytes, p.billed_minimum_bytes) {
            (Some(bytes), minimum) => bytes.max(minimum.unwrap_or(0)),
            (None, minimum) => minimum.unwrap_or(0),
        };
        m.billed_bytes.push(billed);
    }
    // `resolve` fills a queue consumer's wait from its queue's preset
    // (SQS), and validation refuses one where the broker pushes.
    m.receive_wait_s = s
        .consumers
        .iter()
        .map(|c| c.receive_wait.map(|d| d.ns() as f64 / 1e9))
        .collect();
    Some(m)
}
