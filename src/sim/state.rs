//! What the simulator holds for each component while it runs: consumer
//! instances, queues, producers, key lanes and resequencing buffers, consumer
//! groups. Their configuration is in [`crate::model::Model`].

use super::*;

pub(super) struct Inst {
    pub(super) group: u32,
    pub(super) up: bool,
    pub(super) epoch: u32,
    pub(super) partitioned: bool,
    /// Deliveries on the wire to this instance.
    pub(super) incoming: Vec<(u32, u32, Nanos)>,
    /// Deliveries received, waiting for a worker: (copy, delivery, visit start).
    pub(super) buffer: VecDeque<(u32, u32, Nanos)>,
    /// Deliveries being processed.
    pub(super) working: Vec<(u32, u32, Nanos)>,
    pub(super) credit_epoch: u32,
    /// Its group's `push_all`: it has one credit, which goes back to the
    /// end of the list at each delivery (round-robin without a bound), and
    /// a freed slot returns none.
    pub(super) push_all: bool,
    /// Deliveries it holds (in its buffer or being processed).
    pub(super) held: u32,
    /// Acks and nacks it sent that have not reached the broker yet: their
    /// deliveries still count against the prefetch (AMQP `basic.qos`,
    /// JetStream `MaxAckPending`: the broker frees a slot when the ack
    /// arrives, not when processing ends).
    pub(super) acks_on_wire: u32,
    /// Delayed retries it nacked whose slots the broker keeps until they
    /// are due (`delay_keeps_slot`, JetStream NakWithDelay). Kept across a
    /// consumer crash: the broker, not the connection, holds them.
    pub(super) delays_held: u32,
    /// Workers processing now (not those sleeping in an in-handler retry).
    pub(super) busy: u32,
    pub(super) up_since_ns: Nanos,
    pub(super) breaker: Option<CircuitBreaker>,
    /// A graceful stop (rolling restart): it takes no more deliveries and
    /// finishes what it holds.
    pub(super) draining: bool,
    /// A stop-the-world pause (gc-pause) lasts until then.
    pub(super) paused_until_ns: Nanos,
    /// Attempts that a pause froze: (copy, delivery, delay); their end
    /// comes this much later. A topic member's attempt is (NONE, NONE).
    pub(super) frozen: Vec<(u32, u32, Nanos)>,
}

pub(super) struct QueueState {
    pub(super) ready: VecDeque<(u32, u32)>,
    pub(super) ready_len: u64,
    /// Free prefetch credits: (instance, epoch).
    pub(super) credits: VecDeque<(u32, u32)>,
    pub(super) delayed: u64,
    pub(super) dead_lettered_total: u64,
    /// Broker-side publish deduplication window.
    pub(super) dedup: Option<WindowedIds>,
    pub(super) fsync_phase_ns: Nanos,
    /// Dead-lettered copies kept for the redrive task, oldest first.
    pub(super) dlq: VecDeque<(u32, u32)>,
    pub(super) redrive_ticking: bool,
    /// FIFO by key: one lane per key (empty otherwise).
    pub(super) lanes: Vec<Lane>,
    /// Per key: 1 + the highest sequence number processed here (0: none).
    pub(super) order_max: Vec<u64>,
}

/// What one producer is doing now; its configuration is `Model::producers`.
pub(super) struct ProducerState {
    pub(super) up: bool,
    pub(super) partitioned: bool,
    /// Bumped at each crash: a publish still on the wire dies with it.
    pub(super) epoch: u32,
    /// Messages created so far: the next one's number.
    pub(super) seq: u64,
    /// `combine(0x6d73_6773, p)`: the first half of its messages' keys.
    pub(super) key: u64,
    /// Its arrival stream.
    pub(super) rng: Stream,
    /// Poisson arrivals: the gap before the arrival after the next one,
    /// drawn one arrival ahead (the same draws in the same order) so that
    /// scheduling an arrival does not wait for a logarithm.
    pub(super) gap_ns: Nanos,
    pub(super) budget: Option<RetryBudget>,
    /// Round-robin partitioner: records sent so far.
    pub(super) rr: u64,
    /// Load spikes: its arrival process runs this many times as fast.
    pub(super) rate_factor: f64,
    /// Topic producers: records waiting for their partition (cut off, or
    /// the partition down), in send order, with their sequence numbers.
    pub(super) log_buffer: VecDeque<log::Buffered>,
    pub(super) log_buffer_seq: u64,
    /// A graceful stop (rolling restart): no new messages, while what was
    /// sent still gets its confirms and retries.
    pub(super) stopping: bool,
}

/// FIFO by key: the one message of a key that is out (ready at the front
/// of the queue, delivered, or waiting for a retry), and the key's others.
#[derive(Clone, Debug, Default)]
pub(super) struct Lane {
    pub(super) active: u32,
    pub(super) waiting: VecDeque<(u32, u32)>,
    /// Live entries of `waiting` (stale ones are skipped when popped).
    pub(super) n_waiting: u32,
    pub(super) blocked_since_ns: Nanos,
}

/// The order check of one key: `top` is 1 + the highest sequence number
/// processed so far. Returns how far behind message `kseq` comes when a
/// later message of its key was processed first.
pub(super) fn key_order(top: &mut u64, kseq: u64) -> Option<u64> {
    if kseq + 1 < *top {
        Some(*top - 1 - kseq)
    } else {
        *top = kseq + 1;
        None
    }
}

/// A held delivery: (instance, epoch, copy, delivery, visit start, held since).
pub(super) type Held = (u32, u32, u32, u32, Nanos, Nanos);
/// Names a hold: (key, sequence, hold number).
pub(super) type HoldId = (u32, u64, u64);

/// A consumer group's resequencing buffer.
pub(super) struct Reseq {
    pub(super) max_held: u32,
    pub(super) max_wait_ns: Nanos,
    /// Per key: the sequence number the group processes next.
    pub(super) next: Vec<u64>,
    /// (key, sequence, hold number) -> (instance, epoch, copy, delivery,
    /// visit start, held since). A message can be held twice: a delivery
    /// held past the ack timeout is delivered again, and that one waits too.
    pub(super) held: std::collections::BTreeMap<HoldId, Held>,
    /// Hold order, for letting the oldest go at `max_held` (stale entries skipped).
    pub(super) order: VecDeque<(u32, u64, u64)>,
    pub(super) holds: u64,
}

pub(super) struct GroupState {
    pub(super) resequence: Option<Reseq>,
    pub(super) outage_failure: f64,
    pub(super) slowdown: f64,
    pub(super) budget: Option<RetryBudget>,
    /// Consumer-side idempotency store.
    pub(super) idempotency: Option<WindowedIds>,
}
