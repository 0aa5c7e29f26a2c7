//! The ledger of a live run: what the producers published (id, wall time,
//! the broker's sequence), what the consumers were delivered and processed,
//! and what the broker reported dead-lettered; and from it the same metric
//! tree as `run` for the keys a live run can measure. Each message lands in
//! one class as in the simulation: acked > in flight > dead-lettered >
//! expired > lost > rejected.

use crate::stats::summary::num;
use crate::time::Nanos;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// What the broker answered to one publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Stored, at this broker sequence of its queue.
    Accepted(u64),
    /// Refused: the queue was full and discards new messages.
    Rejected,
    /// Not taken: the broker was down (crashed) when it was published.
    Refused,
    /// No confirm within the producer's `confirm_timeout`: the producer
    /// counts it as failed (a copy may still have been stored).
    TimedOut,
}

/// One message's life as seen by the producers and consumers.
#[derive(Clone, Debug, Default)]
pub struct MessageRecord {
    pub queue: usize,
    pub sent_wall_ns: Nanos,
    pub sequence: Option<u64>,
    pub rejected: bool,
    /// Its last publish failed (the broker down, or no confirm within the
    /// confirm timeout): lost unless a copy of it was stored all the same
    /// (a publish that reached the broker as it died, a late confirm).
    pub publish_failed: bool,
    pub deliveries: u32,
    pub redeliveries: u32,
    /// Successful processings (more than one: duplicates).
    pub processed: u32,
    pub first_processed_wall_ns: Option<Nanos>,
    pub dead_lettered: bool,
    /// Removed by the broker's TTL (RabbitMQ reports it).
    pub expired: bool,
    /// Removed unprocessed by the broker and not dead-lettered: a full
    /// drop-head queue's head, or a message at its delivery limit on a
    /// queue without a dead-letter queue (RabbitMQ reports both).
    pub dropped: bool,
    /// Still stored by the broker at the end (after the drain).
    pub still_stored: bool,
    /// Its key and its number among the key's messages, in publish order.
    pub key: Option<(u32, u64)>,
}

/// How the broker reported a message removed unprocessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    DeadLettered,
    Expired,
    Dropped,
}

/// Every message of a live run, by id (ids count from 0 in publish order).
#[derive(Debug, Default)]
pub struct Ledger {
    pub messages: Vec<MessageRecord>,
    by_sequence: HashMap<(usize, u64), u64>,
    /// Messages published so far per key.
    per_key: HashMap<u32, u64>,
}

impl Ledger {
    /// Reserves the next id for a publish to `queue` at `sent_wall_ns`,
    /// numbering it among its key's messages (keys are shared by the
    /// producers, as in the simulation).
    pub fn new_message(&mut self, queue: usize, sent_wall_ns: Nanos, key: Option<u32>) -> u64 {
        let key = key.map(|k| {
            let count = self.per_key.entry(k).or_insert(0);
            *count += 1;
            (k, *count - 1)
        });
        self.messages.push(MessageRecord {
            queue,
            sent_wall_ns,
            key,
            ..Default::default()
        });
        self.messages.len() as u64 - 1
    }

    pub fn published(&mut self, id: u64, outcome: PublishOutcome) {
        let Some(m) = self.messages.get_mut(id as usize) else {
            return;
        };
        match outcome {
            PublishOutcome::Accepted(sequence) => {
                // A retry's acceptance settles the refusals before it.
                m.publish_failed = false;
                m.rejected = false;
                m.sequence = Some(sequence);
                self.by_sequence.insert((m.queue, sequence), id);
            }
            PublishOutcome::Rejected => m.rejected = true,
            // Lost unless a copy was stored all the same (then processed).
            PublishOutcome::Refused | PublishOutcome::TimedOut => m.publish_failed = true,
        }
    }

    /// A delivery; `delivery_count` is the broker's (1 for the first).
    pub fn delivered(&mut self, id: u64, delivery_count: u64) {
        if let Some(m) = self.messages.get_mut(id as usize) {
            m.deliveries += 1;
            if delivery_count > 1 {
                m.redeliveries += 1;
            }
        }
    }

    pub fn processed(&mut self, id: u64, at_wall_ns: Nanos) {
        if let Some(m) = self.messages.get_mut(id as usize) {
            m.processed += 1;
            m.first_processed_wall_ns.get_or_insert(at_wall_ns);
        }
    }

    /// The broker's dead-letter record of the message at `sequence`.
    pub fn dead_lettered(&mut self, queue: usize, sequence: u64) {
        if let Some(&id) = self.by_sequence.get(&(queue, sequence)) {
            self.messages[id as usize].dead_lettered = true;
        }
    }

    /// The broker's report that message `id` left the queue unprocessed
    /// (RabbitMQ's dead-letter queue carries the id and the reason; the
    /// report may arrive before the publish confirm).
    pub fn removed(&mut self, id: u64, removal: Removal) {
        if let Some(m) = self.messages.get_mut(id as usize) {
            match removal {
                Removal::DeadLettered => m.dead_lettered = true,
                Removal::Expired => m.expired = true,
                Removal::Dropped => m.dropped = true,
            }
        }
    }

    /// Accepted messages neither processed nor removed yet: the drain
    /// waits for these. Processed ones too where their first processing
    /// ended inside one of `lost_ack_windows` (wall ns: while the broker
    /// was down, its ack lost): the broker may still hold one and deliver
    /// it again after its ack timeout.
    pub fn unsettled(&self, lost_ack_windows: &[(Nanos, Nanos)]) -> Vec<(usize, u64)> {
        let ack_lost = |m: &MessageRecord| {
            m.first_processed_wall_ns
                .is_some_and(|t| lost_ack_windows.iter().any(|&(a, b)| a <= t && t <= b))
        };
        self.messages
            .iter()
            .filter(|m| m.processed == 0 || ack_lost(m))
            .filter(|m| !m.dead_lettered && !m.expired && !m.dropped)
            .filter_map(|m| m.sequence.map(|s| (m.queue, s)))
            .collect()
    }

    pub fn mark_stored(&mut self, queue: usize, sequence: u64) {
        if let Some(&id) = self.by_sequence.get(&(queue, sequence)) {
            self.messages[id as usize].still_stored = true;
        }
    }
}

/// How a message that vanished unprocessed is classed, per queue: expired
/// where the queue has a TTL, lost otherwise (dropped by a full
/// drop-oldest queue, or lost by the broker).
pub struct Classes {
    pub ttl: Vec<bool>,
}

/// The scenario-time window and scale for the metrics.
pub struct Window {
    pub speed: f64,
    pub warmup_wall_ns: Nanos,
    pub duration_wall_ns: Nanos,
}

#[derive(Default)]
struct Counts {
    published: u64,
    rejected: u64,
    delivered: u64,
    acked: u64,
    duplicates: u64,
    lost: u64,
    dead_lettered: u64,
    expired: u64,
    in_flight: u64,
    redelivered: u64,
}

/// The `messages` and `latency` trees (and per queue counts) of the run.
pub fn metrics(
    ledger: &Ledger,
    classes: &Classes,
    window: &Window,
    queue_names: &[String],
) -> Map<String, Value> {
    let mut c = Counts::default();
    let mut per_queue: Vec<Counts> = queue_names.iter().map(|_| Counts::default()).collect();
    let mut latencies_s: Vec<f64> = Vec::new();
    for m in ledger
        .messages
        .iter()
        .filter(|m| m.sent_wall_ns >= window.warmup_wall_ns)
    {
        let q = &mut per_queue[m.queue];
        for counts in [&mut c, q] {
            count_one(counts, m, classes.ttl[m.queue]);
        }
        if let Some(done) = m.first_processed_wall_ns {
            latencies_s.push(done.saturating_sub(m.sent_wall_ns) as f64 / 1e9 * window.speed);
        }
    }
    let window_s = (window
        .duration_wall_ns
        .saturating_sub(window.warmup_wall_ns) as f64
        / 1e9
        * window.speed)
        .max(1e-9);
    let mut out = Map::new();
    out.insert(
        "messages".into(),
        Value::Object(messages_tree(&c, window_s)),
    );
    out.insert("latency".into(), latency_tree(&mut latencies_s));
    if ledger.messages.iter().any(|m| m.key.is_some()) {
        out.insert("ordering".into(), ordering_tree(ledger, window));
    }
    let mut queues = Map::new();
    for (name, q) in queue_names.iter().zip(&per_queue) {
        queues.insert(
            name.clone(),
            json!({ "dead_lettered": q.dead_lettered, "duplicates": q.duplicates }),
        );
    }
    out.insert("queues".into(), Value::Object(queues));
    out
}

fn count_one(c: &mut Counts, m: &MessageRecord, ttl: bool) {
    c.published += 1;
    c.delivered += m.deliveries as u64;
    c.redelivered += m.redeliveries as u64;
    c.duplicates += m.processed.saturating_sub(1) as u64;
    if m.processed > 0 {
        c.acked += 1;
    } else if m.rejected {
        c.rejected += 1;
    } else if m.dead_lettered {
        c.dead_lettered += 1;
    } else if m.expired {
        c.expired += 1;
    } else if m.dropped || m.publish_failed {
        c.lost += 1;
    } else if m.still_stored || m.sequence.is_none() {
        // Still held by the broker, or its publish never answered.
        c.in_flight += 1;
    } else if ttl {
        c.expired += 1;
    } else {
        c.lost += 1;
    }
}

fn messages_tree(c: &Counts, window_s: f64) -> Map<String, Value> {
    let published = c.published as f64;
    let ratio = |x: u64| {
        if published > 0.0 {
            x as f64 / published
        } else {
            0.0
        }
    };
    let mut o = Map::new();
    for (k, v) in [
        ("published", c.published),
        ("rejected", c.rejected),
        ("delivered", c.delivered),
        ("acked", c.acked),
        ("duplicates", c.duplicates),
        ("lost", c.lost),
        ("dead_lettered", c.dead_lettered),
        ("expired", c.expired),
        ("in_flight", c.in_flight),
        ("redelivered", c.redelivered),
    ] {
        o.insert(k.into(), json!(v));
    }
    o.insert("loss_rate".into(), num(ratio(c.lost)));
    o.insert("duplicate_rate".into(), num(ratio(c.duplicates)));
    o.insert("dead_letter_rate".into(), num(ratio(c.dead_lettered)));
    o.insert("throughput".into(), num(c.acked as f64 / window_s));
    o
}

/// `ordering.out_of_order` and `max_displacement` as the simulation counts
/// them: in the order of first processings, a keyed message is out of
/// order when a later message of its key (at its queue) was processed
/// first; its displacement is how many of the key's messages came ahead.
/// Every processing moves the key's mark; only messages published in the
/// window are counted.
fn ordering_tree(ledger: &Ledger, window: &Window) -> Value {
    let mut firsts: Vec<(Nanos, usize)> = ledger
        .messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.key.is_some())
        .filter_map(|(i, m)| m.first_processed_wall_ns.map(|at| (at, i)))
        .collect();
    firsts.sort_unstable();
    let mut top: HashMap<(usize, u32), u64> = HashMap::new();
    let (mut out_of_order, mut max_displacement) = (0u64, 0u64);
    for (_, i) in firsts {
        let m = &ledger.messages[i];
        let Some((key, sequence)) = m.key else {
            continue;
        };
        let mark = top.entry((m.queue, key)).or_insert(0);
        if sequence + 1 < *mark {
            if m.sent_wall_ns >= window.warmup_wall_ns {
                out_of_order += 1;
                max_displacement = max_displacement.max(*mark - 1 - sequence);
            }
        } else {
            *mark = sequence + 1;
        }
    }
    json!({ "out_of_order": out_of_order, "max_displacement": max_displacement })
}

/// Latency from publish to the first successful processing, in scenario
/// seconds; percentiles by the nearest rank.
fn latency_tree(latencies_s: &mut [f64]) -> Value {
    latencies_s.sort_by(f64::total_cmp);
    let n = latencies_s.len();
    let at = |q: f64| -> f64 {
        if n == 0 {
            return 0.0;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        latencies_s[rank - 1]
    };
    let mean = if n == 0 {
        0.0
    } else {
        latencies_s.iter().sum::<f64>() / n as f64
    };
    json!({
        "mean": num(mean), "p50": num(at(0.5)), "p90": num(at(0.9)), "p99": num(at(0.99)),
        "p999": num(at(0.999)), "max": num(at(1.0)), "count": n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> Window {
        Window {
            speed: 2.0,
            warmup_wall_ns: 0,
            duration_wall_ns: 10_000_000_000,
        }
    }

    #[test]
    fn every_message_lands_in_one_class() {
        let mut l = Ledger::default();
        for i in 0..6 {
            let id = l.new_message(0, i * 1_000_000_000, None);
            l.published(
                id,
                if i == 5 {
                    PublishOutcome::Rejected
                } else {
                    PublishOutcome::Accepted(i + 1)
                },
            );
        }
        l.delivered(0, 1);
        l.processed(0, 1_500_000_000);
        l.delivered(0, 2);
        l.processed(0, 2_000_000_000);
        l.dead_lettered(0, 2);
        l.mark_stored(0, 3);
        let out = metrics(&l, &Classes { ttl: vec![false] }, &window(), &["q".into()]);
        let m = &out["messages"];
        assert_eq!(m["published"], 6);
        assert_eq!(m["acked"], 1);
        assert_eq!(m["duplicates"], 1);
        assert_eq!(m["redelivered"], 1);
        assert_eq!(m["dead_lettered"], 1);
        assert_eq!(m["in_flight"], 1);
        assert_eq!(m["lost"], 2);
        assert_eq!(m["rejected"], 1);
        // 1.5 wall seconds at speed 2 are 3 scenario seconds.
        assert_eq!(out["latency"]["mean"], 3.0);
        assert_eq!(m["throughput"], 1.0 / 20.0);
        assert!(out.get("ordering").is_none(), "no keys, no ordering tree");
    }

    /// Key 7's messages a, b, c (in publish order) processed as b, c, a:
    /// a is out of order, two of its key's later messages ahead of it;
    /// key 8's two messages are processed in order, one published before
    /// the warm-up not counted.
    #[test]
    fn ordering_counts_messages_overtaken_by_their_keys_later_ones() {
        let mut l = Ledger::default();
        let keys = [Some(7), Some(8), Some(7), Some(7), Some(8), None];
        for (i, key) in keys.into_iter().enumerate() {
            l.new_message(0, (i as u64 + 1) * 1_000_000_000, key);
        }
        for (id, at_s) in [(2, 10), (3, 11), (0, 12), (1, 13), (4, 14), (5, 9)] {
            l.processed(id, at_s * 1_000_000_000);
        }
        assert_eq!(l.messages[3].key, Some((7, 2)));
        assert_eq!(l.messages[4].key, Some((8, 1)));
        let mut w = window();
        w.duration_wall_ns = 20_000_000_000;
        let out = metrics(&l, &Classes { ttl: vec![false] }, &w, &["q".into()]);
        assert_eq!(out["ordering"]["out_of_order"], 1);
        assert_eq!(out["ordering"]["max_displacement"], 2);
        // Message 0 published before the warm-up: processed out of order
        // still, but not counted.
        w.warmup_wall_ns = 1_500_000_000;
        let out = metrics(&l, &Classes { ttl: vec![false] }, &w, &["q".into()]);
        assert_eq!(out["ordering"]["out_of_order"], 0);
    }
}
