//! The simulator: the broker, its producers and consumers, the network and
//! the faults, reacting to events from one [`EventQueue`].
//!
//! Two kinds of record:
//! - a [`Msg`] is a logical message, as the user counts it: what a producer
//!   published once, followed end to end through a pipeline. Its outcome
//!   (acked, dead-lettered, expired, lost, rejected, in flight) is decided
//!   when no copy of it is left.
//! - a [`Copy`] is one broker-level instance of it in one queue: producer
//!   retries, wire duplicates and pipeline stages make more than one.
//!
//! Both live in slabs whose slots are reused as soon as a message ends, so
//! memory follows the number of messages in the system, not the run length.
//!
//! Invariants are asserted where they can break (TigerStyle): a message's
//! reference count never goes negative, queue counts never go negative, and
//! conservation holds at the end of every run.

pub mod collect;
pub mod features;
mod lease;
pub mod limits;
mod log;
mod slab;

use crate::engine::EventQueue;
use crate::model::{Arrival, Confirm, FaultKind, FaultTiming, Link, Model, Overflow, RetryMode};
use crate::rng::{self, stream, unit, Domain, Stream};
use crate::sim::collect::{self as st, Collector, Sample};
use crate::strategy::breaker::CircuitBreaker;
use crate::strategy::budget::RetryBudget;
use crate::strategy::idempotency::WindowedIds;
use crate::table::Table;
use crate::time::Nanos;
use features::{Build, Core, Features, Full, Uses};
use slab::{Slab, Slot};
use std::collections::VecDeque;
use std::marker::PhantomData;

const NONE: u32 = u32::MAX;
/// `Msg::awaiting` while a producer retry of the message is scheduled.
const RETRY_PENDING: u32 = u32::MAX - 1;

/// How long a producer takes to learn that the broker refused its
/// connection (client reconnect interval; RabbitMQ's Java client waits 5 s,
/// most clients about 1 s).
const RECONNECT_INTERVAL_NS: Nanos = 1_000_000_000;
/// The least time a producer's retry of a rejected publish takes (one
/// round trip), so that retries without backoff against a full queue still
/// let simulated time pass.
const MIN_PUBLISH_RETRY_NS: Nanos = 1_000_000;

/// Message flags: what happened to its copies.
const F_ACKED: u8 = 1;
const F_DLQ: u8 = 2;
const F_EXPIRED: u8 = 4;
const F_LOST: u8 = 8;
const F_REJECTED: u8 = 16;
/// The producer gave up on it (no confirm, no reply, retries spent): a
/// loss it knows of, counted apart from silent ones.
const F_GAVE_UP: u8 = 32;
/// Its client timed out and still waits: counted in the retry orbit.
const F_ORBIT: u8 = 64;

/// Why a message was lost or dead-lettered, or why a copy may be processed
/// again: one byte in the per-message records, where a `&'static str` took
/// 16. The string is only needed where the cause is counted or traced.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    /// No cause recorded (yet).
    None,
    AckTimeout,
    AutoAckCrash,
    AutoAckFailure,
    BrokerCrash,
    BrokerDown,
    ClientTimeout,
    ConfirmTimeout,
    ConsumerCrash,
    DeliveryTimeout,
    DroppedAtLimit,
    EarlyCommit,
    Lost,
    MaxDeliveries,
    MaxDeliveriesParked,
    Network,
    NonRetryable,
    OffsetReset,
    Overflow,
    Partition,
    PollTimeout,
    ProducerCrash,
    ProducerRetry,
    PublishGaveUp,
    PublishRejected,
    Rebalance,
    Redrive,
    Rejected,
    Retention,
    RetriesExhausted,
    RetryBudget,
    Skipped,
}

impl Cause {
    /// The name reports and JSON count it under (`""` for `None`).
    fn name(self) -> &'static str {
        match self {
            Cause::None => "",
            Cause::AckTimeout => "ack-timeout",
            Cause::AutoAckCrash => "auto-ack-crash",
            Cause::AutoAckFailure => "auto-ack-failure",
            Cause::BrokerCrash => "broker-crash",
            Cause::BrokerDown => "broker-down",
            Cause::ClientTimeout => "client-timeout",
            Cause::ConfirmTimeout => "confirm-timeout",
            Cause::ConsumerCrash => "consumer-crash",
            Cause::DeliveryTimeout => "delivery-timeout",
            Cause::DroppedAtLimit => "dropped-at-limit",
            Cause::EarlyCommit => "early-commit",
            Cause::Lost => "lost",
            Cause::MaxDeliveries => "max-deliveries",
            Cause::MaxDeliveriesParked => "max-deliveries-parked",
            Cause::Network => "network",
            Cause::NonRetryable => "non-retryable",
            Cause::OffsetReset => "offset-reset",
            Cause::Overflow => "overflow",
            Cause::Partition => "partition",
            Cause::PollTimeout => "poll-timeout",
            Cause::ProducerCrash => "producer-crash",
            Cause::ProducerRetry => "producer-retry",
            Cause::PublishGaveUp => "publish-gave-up",
            Cause::PublishRejected => "publish-rejected",
            Cause::Rebalance => "rebalance",
            Cause::Redrive => "redrive",
            Cause::Rejected => "rejected",
            Cause::Retention => "retention",
            Cause::RetriesExhausted => "retries-exhausted",
            Cause::RetryBudget => "retry-budget",
            Cause::Skipped => "skipped",
        }
    }
}

#[derive(Clone, Debug)]
struct Msg {
    /// Serial number: unique for the whole run (slots are reused, ids not).
    id: u64,
    /// Names the message's random streams: (producer, n), so that its fate
    /// does not depend on anything else in the scenario.
    key: u64,
    publish_ns: Nanos,
    producer: u32,
    in_window: bool,
    /// Copies alive, publishes on the wire, and producer obligations.
    live: u32,
    /// Bit q: processed successfully at queue q at least once.
    done_mask: u64,
    flags: u8,
    lost_cause: Cause,
    dlq_reason: Cause,
    attempts: u32,
    /// Producer side: publishes made, the one awaited, and its state.
    publishes: u32,
    awaiting: u32,
    producer_holds: bool,
    confirmed: bool,
    /// Client timeouts that fired while it waited (publishes 0.. whose
    /// attempt the client gave up on).
    timeouts: u16,
    first_pub_ns: Nanos,
    prev_delay_ns: Nanos,
    /// Copies of it waiting in a dead-letter queue for a redrive.
    parked: u32,
    /// The producer's epoch when it last published this message: a publish
    /// still on the wire when the producer crashes dies with it.
    pub_epoch: u32,
    /// Message key (`NONE`: no key) and its place among its key's messages.
    okey: u32,
    kseq: u64,
    /// Consumer groups on a topic that processed it (topic messages).
    log_done: u32,
    /// Why it has an extra copy somewhere (the latest): the cause of a
    /// duplicate that the first copy makes when the extra was processed
    /// first.
    extra_origin: Cause,
    /// Times a dead-letter redrive moved it back (at most [`MAX_REDRIVES`]).
    redrives: u16,
}

/// A message is redriven from a dead-letter queue at most this often; after
/// that it stays dead-lettered. Without a bound, a message that always
/// fails cycles between the queue and its dead-letter queue at the
/// redrive's rate until the run ends (a livelock of millions of events).
pub const MAX_REDRIVES: u16 = 100;

/// Fault occurrences kept for the timeline of a run; later ones are only
/// counted (`RunOutput::faults_total`), so that a fault every microsecond
/// cannot fill memory.
pub const FAULT_RECORDS_KEPT: usize = 1000;

// One per message, written on the hot path: keep it small (a `Cause` is one
// byte; the fields' order is the compiler's, already the tightest).
const _: () = assert!(std::mem::size_of::<Msg>() <= 104);

/// `Msg::live` of a free slab slot.
const VACANT: u32 = u32::MAX;

impl Slot for Msg {
    #[inline(always)]
    fn vacate(&mut self) {
        self.live = VACANT;
    }
    #[inline(always)]
    fn vacant(&self) -> bool {
        self.live == VACANT
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CState {
    Ready,
    InFlight,
    Delayed,
    /// Auto-acked: only the consumer holds it.
    Consumer,
    /// The broker is down and the copy survived: requeued at restart.
    Parked,
    /// In a dead-letter queue that a redrive task will move back.
    DeadLetter,
    Gone,
}

#[derive(Clone, Debug)]
struct Copy {
    msg: u32,
    queue: u32,
    /// Generation of the slot, never reset (kept by the vacant record and
    /// carried over to the slot's next copy): events carry the generation
    /// they expect, so a stale event is recognised even after the slot is
    /// reused.
    gen: u32,
    state: CState,
    deliveries: u32,
    delivery: u32,
    inst: u32,
    /// Instances holding a delivery of this copy (they may still process it).
    holders: u32,
    visit_start_ns: Nanos,
    accepted_ns: Nanos,
    expire_ns: Nanos,
    persistent: bool,
    attempts: u32,
    first_attempt_ns: Nanos,
    prev_delay_ns: Nanos,
    /// Index of the copy within its message, for its network streams.
    serial: u32,
    /// Hops made so far: names the next hop's network stream. It wraps
    /// after 65,535 hops (a copy redelivered that often reuses streams).
    hops: u16,
    /// Why this copy may be processed again (its latest redelivery's root
    /// cause): for duplicates by cause. Cleared when it is processed.
    dup_cause: Cause,
    /// Why this copy exists beside another of its message at its queue (a
    /// wire duplicate, a producer's retry), or `None` for the first.
    origin: Cause,
    /// Processed successfully at its queue at least once.
    processed: bool,
    /// `combine(msg.key, queue)`: names the copy's fate and backoff streams.
    fate_key: u64,
    /// `rng::prefix` of its attempt streams (`AttemptFate`, `fate_key`),
    /// computed when the copy is made, long before an attempt waits for it.
    attempt_prefix: u64,
    /// Returns that do not count toward the delivery limit (RabbitMQ 4.3:
    /// nacks and consumer timeouts): the limit counts `deliveries - uncounted`.
    uncounted: u32,
}

// One per copy, written on the hot path: keep it small, as `Msg`.
const _: () = assert!(std::mem::size_of::<Copy>() <= 104);

impl Slot for Copy {
    #[inline(always)]
    fn vacate(&mut self) {
        self.msg = NONE;
    }
    #[inline(always)]
    fn vacant(&self) -> bool {
        self.msg == NONE
    }
    /// The generation outlives the copy: it is never reset.
    #[inline(always)]
    fn carry_over(&mut self, old: &Self) {
        self.gen = old.gen;
    }
}

struct Inst {
    group: u32,
    up: bool,
    epoch: u32,
    partitioned: bool,
    /// Deliveries on the wire to this instance.
    incoming: Vec<(u32, u32, Nanos)>,
    /// Deliveries received, waiting for a worker: (copy, delivery, visit start).
    buffer: VecDeque<(u32, u32, Nanos)>,
    /// Deliveries being processed.
    working: Vec<(u32, u32, Nanos)>,
    credit_epoch: u32,
    /// Deliveries it holds (in its buffer or being processed).
    held: u32,
    /// Acks and nacks it sent that have not reached the broker yet: their
    /// deliveries still count against the prefetch (AMQP `basic.qos`,
    /// JetStream `MaxAckPending`: the broker frees a slot when the ack
    /// arrives, not when processing ends).
    acks_on_wire: u32,
    /// Workers processing now (not those sleeping in an in-handler retry).
    busy: u32,
    up_since_ns: Nanos,
    breaker: Option<CircuitBreaker>,
}

struct QueueState {
    ready: VecDeque<(u32, u32)>,
    ready_len: u64,
    /// Free prefetch credits: (instance, epoch).
    credits: VecDeque<(u32, u32)>,
    delayed: u64,
    dead_lettered_total: u64,
    /// Broker-side publish deduplication window.
    dedup: Option<WindowedIds>,
    fsync_phase_ns: Nanos,
    /// Dead-lettered copies kept for the redrive task, oldest first.
    dlq: VecDeque<(u32, u32)>,
    redrive_ticking: bool,
    /// FIFO by key: one lane per key (empty otherwise).
    lanes: Vec<Lane>,
    /// Per key: 1 + the highest sequence number processed here (0: none).
    order_max: Vec<u64>,
}

/// What one producer is doing now; its configuration is `Model::producers`.
struct ProducerState {
    up: bool,
    partitioned: bool,
    /// Bumped at each crash: a publish still on the wire dies with it.
    epoch: u32,
    /// Messages created so far: the next one's number.
    seq: u64,
    /// `combine(0x6d73_6773, p)`: the first half of its messages' keys.
    key: u64,
    /// Its arrival stream.
    rng: Stream,
    /// Poisson arrivals: the gap before the arrival after the next one,
    /// drawn one arrival ahead (the same draws in the same order) so that
    /// scheduling an arrival does not wait for a logarithm.
    gap_ns: Nanos,
    budget: Option<RetryBudget>,
    /// Round-robin partitioner: records sent so far.
    rr: u64,
    /// Load spikes: its arrival process runs this many times as fast.
    rate_factor: f64,
    /// Topic producers: records waiting for their partition (cut off, or
    /// the partition down), in send order, with their sequence numbers.
    log_buffer: VecDeque<log::Buffered>,
    log_buffer_seq: u64,
}

/// FIFO by key: the one message of a key that is out (ready at the front
/// of the queue, delivered, or waiting for a retry), and the key's others.
#[derive(Clone, Debug, Default)]
struct Lane {
    active: u32,
    waiting: VecDeque<(u32, u32)>,
    /// Live entries of `waiting` (stale ones are skipped when popped).
    n_waiting: u32,
    blocked_since_ns: Nanos,
}

/// The order check of one key: `top` is 1 + the highest sequence number
/// processed so far. Returns how far behind message `kseq` comes when a
/// later message of its key was processed first.
fn key_order(top: &mut u64, kseq: u64) -> Option<u64> {
    if kseq + 1 < *top {
        Some(*top - 1 - kseq)
    } else {
        *top = kseq + 1;
        None
    }
}

/// A held delivery: (instance, epoch, copy, delivery, visit start, held since).
type Held = (u32, u32, u32, u32, Nanos, Nanos);
/// Names a hold: (key, sequence, hold number).
type HoldId = (u32, u64, u64);

/// A consumer group's resequencing buffer.
struct Reseq {
    max_held: u32,
    max_wait_ns: Nanos,
    /// Per key: the sequence number the group processes next.
    next: Vec<u64>,
    /// (key, sequence, hold number) -> (instance, epoch, copy, delivery,
    /// visit start, held since). A message can be held twice: a delivery
    /// held past the ack timeout is delivered again, and that one waits too.
    held: std::collections::BTreeMap<HoldId, Held>,
    /// Hold order, for letting the oldest go at `max_held` (stale entries skipped).
    order: VecDeque<(u32, u64, u64)>,
    holds: u64,
}

struct GroupState {
    resequence: Option<Reseq>,
    outage_failure: f64,
    slowdown: f64,
    budget: Option<RetryBudget>,
    /// Consumer-side idempotency store.
    idempotency: Option<WindowedIds>,
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    Arrival {
        producer: u32,
    },
    /// A publish reaches the broker.
    PublishArrive {
        msg: u32,
        publish: u32,
        queue: u32,
        serial: u32,
        persistent: bool,
        from_producer: bool,
    },
    /// A confirm (or a publish error) reaches the producer.
    Confirm {
        msg: u32,
        publish: u32,
        ok: bool,
    },
    ConfirmTimeout {
        msg: u32,
        publish: u32,
    },
    ClientTimeout {
        msg: u32,
        publish: u32,
    },
    ProducerRetry {
        msg: u32,
    },
    Deliver {
        copy: u32,
        delivery: u32,
        inst: u32,
        epoch: u32,
    },
    ServiceDone {
        inst: u32,
        epoch: u32,
        copy: u32,
        delivery: u32,
        failed: bool,
        nonretryable: bool,
        work_ns: Nanos,
        /// The attempt occupies a worker (false for skips and breaker rejections).
        counted: bool,
    },
    HandlerRetry {
        inst: u32,
        epoch: u32,
        copy: u32,
        delivery: u32,
    },
    /// An ack or nack reaches the broker (`AckKind` in two fields, so that
    /// `Ev` stays 32 bytes).
    Ack {
        copy: u32,
        delivery: u32,
        kind: AckCode,
        delay_ns: Nanos,
        inst: u32,
        epoch: u32,
    },
    AckDeadline {
        copy: u32,
        gen: u32,
    },
    RetryDue {
        copy: u32,
        gen: u32,
    },
    TtlExpire {
        copy: u32,
        gen: u32,
    },
    SendConfirm {
        msg: u32,
        publish: u32,
        broker_epoch: u32,
    },
    FaultStart {
        fault: u32,
        unit: u32,
    },
    FaultEnd {
        fault: u32,
        unit: u32,
    },
    Sample,
    /// The dead-letter redrive task moves one message back.
    Redrive {
        queue: u32,
    },
    /// A topic record reaches its partition.
    LogAppend {
        msg: u32,
        topic: u32,
        part: u32,
        duplicate: bool,
    },
    /// A topic producer sends a record (again: attempt `attempt`);
    /// `written`: an earlier attempt reached the partition.
    LogSend {
        msg: u32,
        part: u32,
        attempt: u32,
        written: bool,
    },
    /// A buffered topic record's `delivery_timeout` is up.
    LogBufferExpiry {
        producer: u32,
        seq: u64,
    },
    /// A consumer-group member finished processing a record.
    LogDone {
        inst: u32,
        epoch: u32,
        failed: bool,
        nonretryable: bool,
        work_ns: Nanos,
    },
    /// A member's blocking retry of its record is due.
    LogRetryWait {
        inst: u32,
        epoch: u32,
    },
    LogAutoCommit {
        inst: u32,
        epoch: u32,
    },
    /// `max_poll_interval` after poll number `poll`.
    LogPollTimeout {
        inst: u32,
        epoch: u32,
        poll: u64,
    },
    /// The coordinator gives up on a crashed member.
    LogSessionTimeout {
        inst: u32,
        epoch: u32,
    },
    LogRebalanceDone {
        group: u32,
        generation: u32,
    },
    /// A retry-topic record of the group is due.
    LogRetryDue {
        group: u32,
    },
    /// The broker deletes a topic's expired segments.
    LogRetentionCheck {
        topic: u32,
    },
    /// A consumer instance's lease timer for a delivery it holds: time to
    /// ask for an extension (`received_ns`: when it received the delivery).
    LeaseTick {
        inst: u32,
        epoch: u32,
        copy: u32,
        delivery: u32,
        received_ns: Nanos,
    },
    /// A lease extension reaches the broker: the delivery's deadline becomes
    /// `by_ns` from now.
    LeaseExtend {
        copy: u32,
        delivery: u32,
        inst: u32,
        epoch: u32,
        by_ns: Nanos,
    },
    /// A crashed consumer's delivery comes back after the broker's delay
    /// (`crash_requeue` as a duration: Kafka's session timeout).
    CrashReturn {
        copy: u32,
        gen: u32,
    },
    /// A resequencing buffer gives up waiting for the gap before this message.
    ReseqTimeout {
        group: u32,
        key: u32,
        seq: u64,
        hold: u64,
    },
}

// Events are copied in and out of the event queue's heap: keep them small.
const _: () = assert!(std::mem::size_of::<Ev>() == 32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AckKind {
    Ack,
    Requeue,
    /// `basic.reject(requeue=true)`: a requeue that every broker counts
    /// toward its delivery limit (RabbitMQ 4.3 does not count a nack).
    RejectRequeue,
    Delay(Nanos),
    Reject(Cause),
}

/// `AckKind` on the wire, without its delay: one byte and the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AckCode {
    Ack,
    Requeue,
    RejectRequeue,
    Delay,
    Reject(Cause),
}

impl AckKind {
    fn encode(self) -> (AckCode, Nanos) {
        match self {
            AckKind::Ack => (AckCode::Ack, 0),
            AckKind::Requeue => (AckCode::Requeue, 0),
            AckKind::RejectRequeue => (AckCode::RejectRequeue, 0),
            AckKind::Delay(d) => (AckCode::Delay, d),
            AckKind::Reject(r) => (AckCode::Reject(r), 0),
        }
    }

    fn decode(code: AckCode, delay_ns: Nanos) -> AckKind {
        match code {
            AckCode::Ack => AckKind::Ack,
            AckCode::Requeue => AckKind::Requeue,
            AckCode::RejectRequeue => AckKind::RejectRequeue,
            AckCode::Delay => AckKind::Delay(delay_ns),
            AckCode::Reject(r) => AckKind::Reject(r),
        }
    }
}

/// How an attempt's delivery is settled with the broker, which decides
/// when its prefetch slot frees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Settle {
    /// The worker keeps the delivery (an in-handler retry).
    Kept,
    /// Settled at once (an ack on an instant wire, an auto-acked copy), or
    /// never by this consumer (an ack lost on the wire or cut off by a
    /// partition, a failure left to the ack timeout): the slot frees now.
    Now,
    /// The ack is on the wire: the slot frees when it reaches the broker.
    OnArrival,
}

/// One fault occurrence, for the timeline.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FaultRecord {
    pub kind: String,
    pub start: f64,
    pub end: f64,
    pub target: String,
}

/// Everything a run leaves behind for the statistics.
pub struct RunOutput {
    /// The lives of the traced messages, in time order.
    pub trace: Vec<TraceEvent>,
    pub stats: Collector,
    /// The first [`FAULT_RECORDS_KEPT`] fault occurrences.
    pub faults: Vec<FaultRecord>,
    /// Every fault occurrence, kept or not.
    pub faults_total: u64,
    pub end_ns: Nanos,
    pub events: u64,
    pub messages_created: u64,
    pub stopped_early: bool,
}

pub use limits::Limits;

/// The simulator of one model, built with the optional parts `F` (see
/// [`features`]).
pub struct Sim<'m, F: Features> {
    m: &'m Model,
    /// `rng::domain_key(seed, d)` for every domain `d` (by its number).
    domain_keys: [u64; 10],
    /// What each producer is doing (its configuration: `m.producers`).
    prods: Table<ProducerState>,
    q: EventQueue<Ev>,
    msgs: Slab<Msg>,
    copies: Slab<Copy>,
    insts: Table<Inst>,
    queues: Table<QueueState>,
    groups: Table<GroupState>,
    group_insts: Vec<Vec<u32>>,
    broker_up: bool,
    broker_epoch: u32,
    broker_parked: Vec<u32>,
    completions_total: u64,
    lost_total: u64,
    group_down_since: Vec<Vec<Nanos>>,
    fault_rng: Vec<Stream>,
    fault_open: Vec<Vec<Nanos>>,
    pub stats: Collector,
    faults: Vec<FaultRecord>,
    faults_total: u64,
    trace_ids: Vec<u64>,
    trace: Vec<TraceEvent>,
    /// (message id, network serial) -> the copy number the trace shows.
    trace_copies: std::collections::BTreeMap<(u64, u32), u32>,
    next_msg_id: u64,
    /// Per key: messages created so far (the next one's sequence number).
    key_seq: Vec<u64>,
    /// Topics, the groups' view of them, and the members (one per instance).
    topics: Vec<log::TopicState>,
    group_logs: Vec<Option<log::GroupLog>>,
    members: Vec<log::Member>,
    /// Per group, per key: 1 + the highest sequence a topic group processed.
    log_order_max: Vec<Vec<u64>>,
    end_arrivals_ns: Nanos,
    end_ns: Nanos,
    /// Per copy slot: the delivery (its generation) whose lease was last
    /// extended, and the deadline the extension set.
    leases: Vec<(u32, Nanos)>,
    features: PhantomData<F>,
}

/// Runs one replication of the model with the given seed.
pub fn run(m: &Model, seed: u64, warmup_ns: Nanos, limits: Limits) -> RunOutput {
    run_traced(m, seed, warmup_ns, limits, &[])
}

/// As [`run`], recording the life of the messages with these ids (message
/// ids count the messages created, from 0, in time order).
pub fn run_traced(
    m: &Model,
    seed: u64,
    warmup_ns: Nanos,
    limits: Limits,
    trace_ids: &[u64],
) -> RunOutput {
    run_with(Build::Auto, m, seed, warmup_ns, limits, trace_ids)
}

/// As [`run_traced`], on the given build: the [`Core`] build when `build`
/// allows it and the model uses none of what it leaves out, else [`Full`].
/// The results are the same on either (`tests/builds.rs`).
pub fn run_with(
    build: Build,
    m: &Model,
    seed: u64,
    warmup_ns: Nanos,
    limits: Limits,
    trace_ids: &[u64],
) -> RunOutput {
    if build.takes_core(&Uses::of(m, !trace_ids.is_empty())) {
        run_on::<Core>(m, seed, warmup_ns, limits, trace_ids)
    } else {
        run_on::<Full>(m, seed, warmup_ns, limits, trace_ids)
    }
}

fn run_on<F: Features>(
    m: &Model,
    seed: u64,
    warmup_ns: Nanos,
    limits: Limits,
    trace_ids: &[u64],
) -> RunOutput {
    let mut sim = Sim::<F>::new(m, seed, warmup_ns);
    sim.trace_ids = trace_ids.to_vec();
    sim.trace_ids.sort_unstable();
    assert!(
        F::supports(&Uses::of(m, !sim.trace_ids.is_empty())),
        "the simulator was built without a part the model uses"
    );
    let stopped = sim.run(limits);
    sim.finish(stopped)
}

/// One step in the life of a traced message.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceEvent {
    pub time_s: f64,
    pub message: u64,
    pub event: &'static str,
    pub queue: String,
    /// Which copy of the message (producer retries and wire duplicates make more).
    pub copy: u32,
    /// Processing time of an attempt, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl<'m, F: Features> Sim<'m, F> {
    pub fn new(m: &'m Model, seed: u64, warmup_ns: Nanos) -> Self {
        let mut insts = Vec::new();
        let mut group_insts = Vec::new();
        for (g, gm) in m.groups.iter().enumerate() {
            let mut ids = Vec::new();
            for _ in 0..gm.count {
                ids.push(insts.len() as u32);
                insts.push(Inst {
                    group: g as u32,
                    up: true,
                    epoch: 0,
                    partitioned: false,
                    incoming: Vec::new(),
                    buffer: VecDeque::new(),
                    working: Vec::new(),
                    credit_epoch: 0,
                    busy: 0,
                    held: 0,
                    acks_on_wire: 0,
                    up_since_ns: 0,
                    breaker: gm.breaker.as_ref().map(CircuitBreaker::new),
                });
            }
            group_insts.push(ids);
        }
        let queues = m
            .queues
            .iter()
            .enumerate()
            .map(|(qi, qm)| QueueState {
                dlq: VecDeque::new(),
                redrive_ticking: false,
                fsync_phase_ns: (unit(&mut stream(seed, Domain::Component, 0xF5, qi as u64))
                    * qm.fsync_ns as f64) as Nanos,
                ready: VecDeque::new(),
                ready_len: 0,
                credits: VecDeque::new(),
                delayed: 0,
                dead_lettered_total: 0,
                dedup: qm.dedup_window_ns.map(WindowedIds::new),
                lanes: if qm.fifo_by_key {
                    vec![
                        Lane {
                            active: NONE,
                            ..Lane::default()
                        };
                        m.key_space as usize
                    ]
                } else {
                    Vec::new()
                },
                order_max: vec![0; m.key_space as usize],
            })
            .collect();
        let groups = m
            .groups
            .iter()
            .map(|g| GroupState {
                resequence: g.resequence.map(|(max_held, max_wait_ns)| Reseq {
                    max_held,
                    max_wait_ns,
                    next: vec![0; m.key_space as usize],
                    held: Default::default(),
                    order: VecDeque::new(),
                    holds: 0,
                }),
                outage_failure: 0.0,
                slowdown: 1.0,
                budget: g.budget.as_ref().map(|b| b.build()),
                idempotency: g.idempotency_ns.map(WindowedIds::new),
            })
            .collect();
        let mut stats = Collector::new(warmup_ns, m.duration_ns, m.queues.len(), m.groups.len());
        for p in &m.producers {
            if p.retry.is_some() && stats.queues[p.queue].joint.is_empty() {
                stats.queues[p.queue].joint =
                    vec![0.0; (st::ORBIT_Q_MAX + 1) * (st::ORBIT_O_MAX + 1)];
            }
        }
        let mut sim = Sim {
            m,
            domain_keys: std::array::from_fn(|d| rng::combine(rng::mix64(seed), d as u64)),
            prods: m
                .producers
                .iter()
                .enumerate()
                .map(|(p, pm)| ProducerState {
                    up: true,
                    partitioned: false,
                    epoch: 0,
                    seq: 0,
                    key: rng::combine(0x6d73_6773, p as u64),
                    rng: stream(seed, Domain::Arrival, p as u64, 0),
                    gap_ns: 0,
                    budget: pm.budget.as_ref().map(|b| b.build()),
                    rr: 0,
                    rate_factor: 1.0,
                    log_buffer: VecDeque::new(),
                    log_buffer_seq: 0,
                })
                .collect(),
            q: EventQueue::new(),
            msgs: Slab::new(),
            copies: Slab::new(),
            insts: insts.into(),
            queues,
            groups,
            group_insts,
            broker_up: true,
            broker_epoch: 0,
            broker_parked: Vec::new(),
            completions_total: 0,
            lost_total: 0,
            group_down_since: m.groups.iter().map(|g| vec![0; g.count as usize]).collect(),
            fault_rng: (0..m.faults.len())
                .map(|f| stream(seed, Domain::Fault, f as u64, 0))
                .collect(),
            fault_open: vec![Vec::new(); m.faults.len()],
            stats,
            faults: Vec::new(),
            trace_ids: Vec::new(),
            faults_total: 0,
            trace: Vec::new(),
            trace_copies: Default::default(),
            next_msg_id: 0,
            key_seq: vec![0; m.key_space as usize],
            topics: Vec::new(),
            group_logs: Vec::new(),
            members: Vec::new(),
            log_order_max: m
                .groups
                .iter()
                .map(|g| {
                    if g.log.is_some() {
                        vec![0; m.key_space as usize]
                    } else {
                        Vec::new()
                    }
                })
                .collect(),
            end_arrivals_ns: m.duration_ns,
            end_ns: m.duration_ns.saturating_add(m.drain_ns),
            leases: Vec::new(),
            features: PhantomData,
        };
        sim.log_init();
        sim
    }

    fn start(&mut self) {
        for p in 0..self.m.producers.len() {
            if let Arrival::Poisson { rate_per_s } = self.m.producers[p].arrival {
                self.prods[p].gap_ns = poisson_gap_ns(&mut self.prods[p].rng, rate_per_s);
            }
            if let Some(t) = self.next_arrival(p, 0) {
                self.q.schedule(t, Ev::Arrival { producer: p as u32 });
            }
        }
        for qi in 0..self.m.queues.len() {
            for i in self.group_insts_of_queue(qi) {
                self.refill_credits(i);
            }
        }
        self.log_start();
        for (fi, f) in self.m.faults.iter().enumerate() {
            let units = self.fault_units(fi);
            self.fault_open[fi] = vec![0; units.len()];
            for (u, _) in units.iter().enumerate() {
                match &f.timing {
                    FaultTiming::Window { start_ns, .. } => self.q.schedule(
                        *start_ns,
                        Ev::FaultStart {
                            fault: fi as u32,
                            unit: u as u32,
                        },
                    ),
                    FaultTiming::Random { mtbf_ns, .. } => {
                        let up = self.exp_draw_fault(fi, *mtbf_ns);
                        self.q.schedule(
                            up,
                            Ev::FaultStart {
                                fault: fi as u32,
                                unit: u as u32,
                            },
                        )
                    }
                }
            }
        }
        self.q
            .schedule(self.m.sample_interval_ns.min(self.end_ns), Ev::Sample);
    }

    fn group_insts_of_queue(&self, qi: usize) -> Vec<u32> {
        // Interleave the instances of every group on the queue so that
        // credits are handed out round-robin across groups.
        let mut out = Vec::new();
        let groups: Vec<&Vec<u32>> = self
            .m
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.queue == qi)
            .map(|(gi, _)| &self.group_insts[gi])
            .collect();
        let longest = groups.iter().map(|g| g.len()).max().unwrap_or(0);
        for k in 0..longest {
            for g in &groups {
                if let Some(&i) = g.get(k) {
                    out.push(i);
                }
            }
        }
        out
    }

    /// The units a fault acts on: instances of a group, producers, or the broker.
    fn fault_units(&self, fi: usize) -> Vec<u32> {
        let f = &self.m.faults[fi];
        match f.kind {
            FaultKind::ConsumerCrash => {
                let groups: Vec<usize> = match f.target {
                    Some(g) => vec![g],
                    None => (0..self.m.groups.len()).collect(),
                };
                let mut v = Vec::new();
                for g in groups {
                    for (k, &i) in self.group_insts[g].iter().enumerate() {
                        if f.instance.is_none_or(|want| want as usize == k) {
                            v.push(i);
                        }
                    }
                }
                v
            }
            FaultKind::ProducerCrash | FaultKind::LoadSpike => match f.target {
                Some(p) => vec![p as u32],
                None => (0..self.m.producers.len() as u32).collect(),
            },
            FaultKind::Partition => match f.target {
                Some(t) => vec![t as u32],
                None => vec![0],
            },
            FaultKind::BrokerCrash => vec![0],
            FaultKind::DependencyOutage => match f.target {
                Some(g) => vec![g as u32],
                None => (0..self.m.groups.len() as u32).collect(),
            },
        }
    }

    /// Whether this run records the lives of some messages.
    #[inline(always)]
    fn tracing(&self) -> bool {
        F::TRACE && !self.trace_ids.is_empty()
    }

    /// The stream for `(seed, domain, a, b)` (as `rng::stream`).
    #[inline]
    fn stream(&self, domain: Domain, a: u64, b: u64) -> Stream {
        rng::stream_in(self.domain_keys[domain as usize], a, b)
    }

    fn exp_draw_fault(&mut self, fi: usize, mean_ns: Nanos) -> Nanos {
        let u = rng::unit_open0(&mut self.fault_rng[fi]);
        self.q
            .now()
            .saturating_add((-(mean_ns as f64) * u.ln()) as Nanos)
    }

    /// Runs to the end. Returns true if a limit stopped it early.
    pub fn run(&mut self, limits: Limits) -> bool {
        self.start();
        let max_events = limits.max_events.unwrap_or(u64::MAX);
        let mut n: u64 = 0;
        while let Some(t) = self.q.peek_time() {
            if t > self.end_ns {
                break;
            }
            if t >= self.end_arrivals_ns && self.msgs.len() == 0 {
                break;
            }
            if n == max_events {
                limits::note_stop(limits::StopReason::MaxEvents);
                return true;
            }
            n += 1;
            // The wall clock, Ctrl-C and the memory ceiling are looked at
            // every 4096 events only.
            if n & 0xFFF == 0 && limits::must_stop(&limits, n) {
                return true;
            }
            let Some((_, ev)) = self.q.pop() else { break };
            self.handle(ev);
        }
        false
    }

    #[inline(always)]
    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Arrival { producer } => self.on_arrival(producer as usize),
            Ev::PublishArrive {
                msg,
                publish,
                queue,
                serial,
                persistent,
                from_producer,
            } => self.on_publish_arrive(
                msg,
                publish,
                queue as usize,
                serial,
                persistent,
                from_producer,
            ),
            Ev::Confirm { msg, publish, ok } => self.on_confirm(msg, publish, ok),
            Ev::ConfirmTimeout { msg, publish } => self.on_confirm_timeout(msg, publish),
            Ev::ClientTimeout { msg, publish } => self.on_client_timeout(msg, publish),
            Ev::ProducerRetry { msg } => self.on_producer_retry(msg),
            Ev::Deliver {
                copy,
                delivery,
                inst,
                epoch,
            } => self.on_deliver(copy, delivery, inst, epoch),
            Ev::ServiceDone {
                inst,
                epoch,
                copy,
                delivery,
                failed,
                nonretryable,
                work_ns,
                counted,
            } => self.on_service_done(
                inst,
                epoch,
                copy,
                delivery,
                failed,
                nonretryable,
                work_ns,
                counted,
            ),
            Ev::HandlerRetry {
                inst,
                epoch,
                copy,
                delivery,
            } => {
                if self.insts[inst as usize].epoch == epoch && self.insts[inst as usize].up {
                    self.begin_attempt(inst, copy, delivery);
                }
            }
            Ev::Ack {
                copy,
                delivery,
                kind,
                delay_ns,
                inst,
                epoch,
            } => self.on_ack(copy, delivery, AckKind::decode(kind, delay_ns), inst, epoch),
            Ev::AckDeadline { copy, gen } => self.on_ack_deadline(copy, gen),
            Ev::RetryDue { copy, gen } => self.on_retry_due(copy, gen),
            Ev::TtlExpire { copy, gen } => self.on_ttl_expire(copy, gen),
            Ev::SendConfirm {
                msg,
                publish,
                broker_epoch,
            } => {
                self.msgs[msg].live -= 1;
                if broker_epoch == self.broker_epoch {
                    self.send_confirm(msg, publish, true);
                }
                self.check_finish(msg);
            }
            Ev::FaultStart { fault, unit } => self.on_fault_start(fault as usize, unit as usize),
            Ev::FaultEnd { fault, unit } => self.on_fault_end(fault as usize, unit as usize),
            Ev::Sample => self.on_sample(),
            Ev::Redrive { queue } => self.on_redrive(queue as usize),
            Ev::ReseqTimeout {
                group,
                key,
                seq,
                hold,
            } => self.reseq_release(group as usize, (key, seq, hold), true),
            Ev::LogSend {
                msg,
                part,
                attempt,
                written,
            } => self.log_send(msg, part as usize, attempt, written),
            Ev::LogBufferExpiry { producer, seq } => self.on_buffer_expiry(producer as usize, seq),
            Ev::LogAppend {
                msg,
                topic,
                part,
                duplicate,
            } => self.on_log_append(msg, topic as usize, part as usize, duplicate),
            Ev::LogDone {
                inst,
                epoch,
                failed,
                nonretryable,
                work_ns,
            } => self.on_log_done(inst, epoch, failed, nonretryable, work_ns),
            Ev::LogRetryWait { inst, epoch } => self.on_log_retry_wait(inst, epoch),
            Ev::LogAutoCommit { inst, epoch } => self.on_auto_commit(inst, epoch),
            Ev::LogPollTimeout { inst, epoch, poll } => self.on_poll_timeout(inst, epoch, poll),
            Ev::LogSessionTimeout { inst, epoch } => self.on_session_timeout(inst, epoch),
            Ev::LogRetentionCheck { topic } => self.on_retention_check(topic as usize),
            Ev::LogRebalanceDone { group, generation } => {
                self.on_rebalance_done(group as usize, generation)
            }
            Ev::LogRetryDue { group } => self.on_retry_due_log(group as usize),
            // Only the full build schedules these (`F::LEASES`).
            Ev::LeaseTick {
                inst,
                epoch,
                copy,
                delivery,
                received_ns,
            } => {
                if F::LEASES {
                    self.on_lease_tick(inst, epoch, copy, delivery, received_ns)
                }
            }
            Ev::LeaseExtend {
                copy,
                delivery,
                inst,
                epoch,
                by_ns,
            } => {
                if F::LEASES {
                    self.on_lease_extend(copy, delivery, inst, epoch, by_ns)
                }
            }
            Ev::CrashReturn { copy, gen } => {
                if F::LEASES {
                    self.on_crash_return(copy, gen)
                }
            }
        }
    }

    // ---------------------------------------------------------------- producers

    #[inline(always)]
    fn next_arrival(&mut self, p: usize, now: Nanos) -> Option<Nanos> {
        let ps = &mut self.prods[p];
        let rng = &mut ps.rng;
        let t = match &self.m.producers[p].arrival {
            Arrival::Poisson { rate_per_s } => {
                let gap = ps.gap_ns;
                ps.gap_ns = poisson_gap_ns(rng, *rate_per_s);
                now.saturating_add(gap)
            }
            Arrival::Constant { interval_ns } => {
                if ps.seq == 0 && now == 0 {
                    *interval_ns
                } else {
                    now.saturating_add(*interval_ns)
                }
            }
            Arrival::Interarrival(d) => now.saturating_add(d.sample(rng)),
            Arrival::Schedule(pieces) => {
                // Thinning-free: exponential with the current piece's rate,
                // restarting at piece boundaries (memorylessness makes this exact).
                let mut t = now;
                loop {
                    let idx = pieces.iter().rposition(|(from, _)| *from <= t);
                    let (rate, next_edge) = match idx {
                        Some(i) => (pieces[i].1, pieces.get(i + 1).map(|x| x.0)),
                        None => (0.0, pieces.first().map(|x| x.0)),
                    };
                    let u = rng::unit_open0(rng);
                    let cand = if rate > 0.0 {
                        t.saturating_add(crate::time::secs_to_ns(-u.ln() / rate))
                    } else {
                        Nanos::MAX
                    };
                    match next_edge {
                        Some(e) if cand >= e => t = e,
                        _ => break cand,
                    }
                    if t >= self.end_arrivals_ns {
                        break Nanos::MAX;
                    }
                }
            }
        };
        let t = if F::FAULTS { self.spiked(p, now, t) } else { t };
        (t < self.end_arrivals_ns).then_some(t)
    }

    /// During a load spike the arrival process runs `rate_factor` times as
    /// fast: the gap just drawn is shortened by that factor (the arrival
    /// already scheduled when a spike starts or ends keeps its time).
    #[inline(always)]
    fn spiked(&self, p: usize, now: Nanos, t: Nanos) -> Nanos {
        let f = self.prods[p].rate_factor;
        if f == 1.0 || t == Nanos::MAX {
            return t;
        }
        let gap = (t - now) as f64 / f;
        now.saturating_add(gap.round().min(1e18) as Nanos)
    }

    fn on_arrival(&mut self, p: usize) {
        let now = self.q.now();
        let n = self.prods[p].seq;
        self.prods[p].seq += 1;
        if let Some(t) = self.next_arrival(p, now) {
            self.q.schedule(t, Ev::Arrival { producer: p as u32 });
        }
        if F::FAULTS && !self.prods[p].up {
            // The producer is down: the business event that would have
            // published this message does not happen.
            return;
        }
        let in_window = self.stats.in_window(now);
        let key = rng::combine(self.prods[p].key, n);
        let (okey, kseq) = match (F::KEYS, &self.m.producers[p].keys) {
            (true, Some(ks)) => {
                let k = ks.sample(&mut self.stream(Domain::Key, key, 0));
                let seq = self.key_seq[k as usize];
                self.key_seq[k as usize] += 1;
                (k, seq)
            }
            _ => (NONE, 0),
        };
        let id = self.next_msg_id;
        self.next_msg_id += 1;
        let mi = self.msgs.insert(Msg {
            id,
            key,
            publish_ns: now,
            producer: p as u32,
            in_window,
            live: 0,
            done_mask: 0,
            flags: 0,
            lost_cause: Cause::None,
            dlq_reason: Cause::None,
            attempts: 0,
            publishes: 0,
            awaiting: NONE,
            producer_holds: false,
            confirmed: false,
            timeouts: 0,
            first_pub_ns: now,
            prev_delay_ns: 0,
            pub_epoch: self.prods[p].epoch,
            parked: 0,
            okey,
            kseq,
            log_done: 0,
            extra_origin: Cause::None,
            redrives: 0,
        });
        if in_window {
            self.stats.published += 1;
        }
        if F::STRATEGIES {
            if let Some(b) = &mut self.prods[p].budget {
                b.on_request(now);
            }
        }
        let pm = &self.m.producers[p];
        if F::PUBLISHER {
            if pm.confirm_timeout_ns.is_some() || pm.timeout_ns.is_some() || pm.outbox {
                self.msgs[mi].producer_holds = true;
                self.msgs[mi].live += 1;
            }
            if let Some(t) = pm.timeout_ns {
                self.msgs[mi].live += 1;
                self.q.schedule_in(
                    t,
                    Ev::ClientTimeout {
                        msg: mi,
                        publish: 0,
                    },
                );
            }
        }
        self.producer_publish(mi);
        self.check_finish(mi);
    }
}

/// An exponential gap between Poisson arrivals, rounded to the nanosecond.
#[inline(always)]
fn poisson_gap_ns(rng: &mut Stream, rate_per_s: f64) -> Nanos {
    crate::time::secs_to_ns(-rng::unit_open0(rng).ln() / rate_per_s)
}

/// The wire's verdict on one hop.
enum Hop {
    Lost,
    /// Latency, and the latency of a duplicate if the wire made one.
    After(Nanos, Option<Nanos>),
}

impl<'m, F: Features> Sim<'m, F> {
    // ------------------------------------------------------------------ network

    /// Draws one hop for message `mi` from the message's own stream, in a
    /// fixed order (loss, duplicate, latency, duplicate's latency) so that
    /// turning one knob does not shift the others' draws. Without a
    /// `[network]` the wire is instant and perfect, at no cost.
    #[inline(always)]
    fn hop(&mut self, mi: u32, serial: u32, hop: u32, link: Link) -> Hop {
        if !F::NETWORK || self.m.network.is_none() {
            return Hop::After(0, None);
        }
        self.hop_drawn(mi, serial, hop, link)
    }

    #[inline(never)]
    fn hop_drawn(&mut self, mi: u32, serial: u32, hop: u32, link: Link) -> Hop {
        let Some(net) = &self.m.network else {
            return Hop::After(0, None);
        };
        let key = self.msgs[mi].key;
        let mut r = self.stream(Domain::Network, key, ((serial as u64) << 32) | hop as u64);
        let u_loss = unit(&mut r);
        let u_dup = unit(&mut r);
        let lat = net.latency.as_ref().map_or(0, |d| d.sample(&mut r));
        let lat2 = net.latency.as_ref().map_or(0, |d| d.sample(&mut r));
        if u_loss < net.loss[link as usize] {
            if link == Link::Ack && self.msgs[mi].in_window {
                self.stats.acks_lost += 1;
            }
            Hop::Lost
        } else if u_dup < net.duplicate {
            Hop::After(lat, Some(lat2))
        } else {
            Hop::After(lat, None)
        }
    }

    /// Schedules `ev` after `lat`. Every event that names a message holds a
    /// reference to it. With no latency, callers call the event's handler
    /// at once instead (as `handle` would).
    #[inline]
    fn deliver_ev(&mut self, lat: Nanos, ev: Ev) {
        debug_assert!(lat > 0);
        self.q.schedule_in(lat, ev);
    }

    // ---------------------------------------------------------------- producers

    /// The producer sends (or sends again) message `mi`.
    #[inline(always)]
    fn producer_publish(&mut self, mi: u32) {
        let p = self.msgs[mi].producer as usize;
        if F::FAULTS && !self.prods[p].up {
            return; // an outbox relays it after the restart
        }
        if F::TOPICS && self.m.producers[p].topic.is_some() {
            self.log_publish(mi);
            return;
        }
        let pm = &self.m.producers[p];
        let (queue, persistent, confirm_timeout) =
            (pm.queue as u32, pm.persistent, pm.confirm_timeout_ns);
        let publish = self.msgs[mi].publishes;
        self.msgs[mi].publishes += 1;
        // One outstanding publish per message: a retry is scheduled only
        // once the previous publish is settled (`producer_retry`).
        debug_assert!(
            publish == 0 || self.msgs[mi].awaiting == NONE,
            "a message published again while a publish or a retry was outstanding"
        );
        self.msgs[mi].awaiting = publish;
        self.msgs[mi].pub_epoch = self.prods[p].epoch;
        if self.tracing() {
            self.trace_producer(mi, "published", publish, format!("publish {}", publish + 1));
        }
        if F::PUBLISHER {
            if let Some(t) = confirm_timeout {
                self.msgs[mi].live += 1;
                self.q
                    .schedule_in(t, Ev::ConfirmTimeout { msg: mi, publish });
            }
        }
        if F::FAULTS && self.prods[p].partitioned {
            self.publish_lost(mi, Cause::Partition);
            return;
        }
        self.publish(mi, publish, queue, persistent, true, 0);
    }

    /// Puts a publish of `mi` on the wire towards the broker.
    #[inline(always)]
    fn publish(
        &mut self,
        mi: u32,
        serial: u32,
        queue: u32,
        persistent: bool,
        from_producer: bool,
        hop_no: u32,
    ) {
        match self.hop(mi, serial, hop_no, Link::Publish) {
            Hop::Lost => self.publish_lost(mi, Cause::Network),
            Hop::After(lat, dup) => {
                self.msgs[mi].live += 1;
                if let Some(lat2) = dup {
                    self.msgs[mi].live += 1;
                    self.q.schedule_in(
                        lat2,
                        Ev::PublishArrive {
                            msg: mi,
                            publish: serial | 0x8000_0000,
                            queue,
                            serial: serial | 0x8000_0000,
                            persistent,
                            from_producer,
                        },
                    );
                }
                if lat == 0 {
                    self.on_publish_arrive(
                        mi,
                        serial,
                        queue as usize,
                        serial,
                        persistent,
                        from_producer,
                    );
                } else {
                    self.deliver_ev(
                        lat,
                        Ev::PublishArrive {
                            msg: mi,
                            publish: serial,
                            queue,
                            serial,
                            persistent,
                            from_producer,
                        },
                    );
                }
            }
        }
    }

    /// A publish vanished. Fire and forget loses the message; a producer
    /// waiting for a confirm will notice and retry.
    fn publish_lost(&mut self, mi: u32, cause: Cause) {
        let m = &mut self.msgs[mi];
        if m.lost_cause == Cause::None {
            m.lost_cause = cause;
        }
        if !m.producer_holds {
            m.flags |= F_LOST;
        }
        self.check_finish(mi);
    }

    fn send_confirm(&mut self, mi: u32, publish: u32, ok: bool) {
        let p = self.msgs[mi].producer as usize;
        if !self.msgs[mi].producer_holds || self.m.producers[p].confirm == Confirm::None {
            return;
        }
        if self.prods[p].partitioned {
            return;
        }
        let serial = publish & 0x7FFF_FFFF;
        match self.hop(mi, serial, 1, Link::Confirm) {
            Hop::Lost => {}
            Hop::After(lat, _) => {
                self.msgs[mi].live += 1;
                if lat == 0 {
                    self.on_confirm(mi, publish, ok);
                } else {
                    self.deliver_ev(
                        lat,
                        Ev::Confirm {
                            msg: mi,
                            publish,
                            ok,
                        },
                    );
                }
            }
        }
    }

    fn on_confirm(&mut self, mi: u32, publish: u32, ok: bool) {
        self.msgs[mi].live -= 1;
        let p = self.msgs[mi].producer as usize;
        if F::FAULTS && self.prods[p].epoch != self.msgs[mi].pub_epoch {
            // The producer crashed since it published: the confirm went to a
            // connection that no longer exists (its outbox relays the message).
            self.check_finish(mi);
            return;
        }
        let m = &self.msgs[mi];
        let awaited = publish & 0x7FFF_FFFF == m.awaiting;
        if m.producer_holds && !m.confirmed {
            if self.tracing() {
                let what = if ok { "confirmed" } else { "publish refused" };
                let n = publish & 0x7FFF_FFFF;
                self.trace_producer(mi, what, n, format!("publish {}", n + 1));
            }
            if ok {
                self.msgs[mi].confirmed = true;
                let p = self.msgs[mi].producer as usize;
                if self.m.producers[p].timeout_ns.is_none() {
                    self.release_producer(mi);
                }
            } else if awaited {
                self.producer_retry(mi, Cause::PublishRejected);
            }
        }
        self.check_finish(mi);
    }

    fn on_confirm_timeout(&mut self, mi: u32, publish: u32) {
        self.msgs[mi].live -= 1;
        let m = &self.msgs[mi];
        if m.producer_holds && !m.confirmed && m.awaiting == publish {
            if self.tracing() {
                self.trace_producer(
                    mi,
                    "confirm timeout",
                    publish,
                    format!("publish {}", publish + 1),
                );
            }
            self.producer_retry(mi, Cause::ConfirmTimeout);
        }
        self.check_finish(mi);
    }

    fn on_client_timeout(&mut self, mi: u32, publish: u32) {
        self.msgs[mi].live -= 1;
        let m = &self.msgs[mi];
        // Only the outstanding publish's timer counts: a retry already
        // scheduled (after a confirm timeout, say) has settled the older one.
        if m.producer_holds && m.flags & F_ACKED == 0 && m.awaiting == publish {
            if self.tracing() {
                self.trace_producer(
                    mi,
                    "client timeout",
                    publish,
                    format!("publish {}", publish + 1),
                );
            }
            let m = &mut self.msgs[mi];
            m.timeouts = m.timeouts.saturating_add(1);
            if m.flags & F_ORBIT == 0 {
                // Timed out and still waiting: in the retry orbit until a
                // copy is processed or the client gives up.
                m.flags |= F_ORBIT;
                let qi = self.m.producers[m.producer as usize].queue;
                self.stats.advance(qi, self.q.now());
                self.stats.queues[qi].orbit += 1;
            }
            self.producer_retry(mi, Cause::ClientTimeout);
        }
        self.check_finish(mi);
    }

    /// The producer stops caring about message `mi` (processed, confirmed,
    /// or given up); it leaves the retry orbit.
    fn release_producer(&mut self, mi: u32) {
        let m = &mut self.msgs[mi];
        if m.producer_holds {
            m.producer_holds = false;
            m.live -= 1;
        }
        if m.flags & F_ORBIT != 0 {
            m.flags &= !F_ORBIT;
            let qi = self.m.producers[m.producer as usize].queue;
            self.stats.advance(qi, self.q.now());
            debug_assert!(self.stats.queues[qi].orbit > 0);
            self.stats.queues[qi].orbit -= 1;
        }
    }

    /// Message `mi` was first processed (copy `c`): counts it as processed
    /// after its timeout when its client had already given up on the
    /// attempt that completed (publish `k` timed out once `k + 1` client
    /// timeouts fired; a copy from a later stage carries its producer
    /// publish in its serial's low byte), or had given up altogether.
    #[inline(never)]
    fn client_sees(&mut self, mi: u32, c: u32, in_window: bool) {
        let m = &self.msgs[mi];
        let publish = (self.copies[c].serial & 0xFF) as u16;
        let late = !m.producer_holds || m.timeouts > publish;
        if late && in_window {
            self.stats.processed_after_timeout += 1;
        }
    }

    /// The producer publishes `mi` again after its backoff, or gives up.
    fn producer_retry(&mut self, mi: u32, why: Cause) {
        let now = self.q.now();
        let p = self.msgs[mi].producer as usize;
        let pm = &self.m.producers[p];
        let done = self.msgs[mi].publishes;
        // The outstanding publish is settled: no later signal about it (a
        // refusal after a timeout, say) may schedule a second retry.
        self.msgs[mi].awaiting = RETRY_PENDING;
        let Some(policy) = pm.retry.as_ref() else {
            if self.msgs[mi].lost_cause == Cause::None {
                self.msgs[mi].lost_cause = why;
            }
            self.msgs[mi].awaiting = NONE;
            self.msgs[mi].flags |= F_GAVE_UP;
            self.release_producer(mi);
            return;
        };
        let key = self.msgs[mi].key;
        let mut r = self.stream(Domain::Backoff, key, done as u64);
        let delay = policy.delay_ns(done, self.msgs[mi].prev_delay_ns, &mut r);
        let elapsed = now - self.msgs[mi].first_pub_ns;
        let allowed = policy.allows(done, elapsed, delay);
        if let Some(b) = &mut self.prods[p].budget {
            b.on_failure(now);
        }
        let budget_ok = allowed
            && self.prods[p]
                .budget
                .as_mut()
                .is_none_or(|b| b.try_retry(now));
        if allowed && !budget_ok && self.msgs[mi].in_window {
            self.stats.retries_refused += 1;
        }
        if allowed && budget_ok {
            if self.msgs[mi].in_window {
                self.stats.producer_retries += 1;
            }
            self.msgs[mi].prev_delay_ns = delay;
            self.msgs[mi].live += 1;
            if self.tracing() {
                let wait_s = crate::time::ns_to_secs(delay.max(MIN_PUBLISH_RETRY_NS));
                let detail = format!(
                    "after {}: publish {} in {wait_s:.3} s",
                    why.name(),
                    done + 1
                );
                self.trace_producer(mi, "republish scheduled", done, detail);
            }
            self.q.schedule_in(
                delay.max(MIN_PUBLISH_RETRY_NS),
                Ev::ProducerRetry { msg: mi },
            );
            if let Some(t) = pm.timeout_ns {
                self.msgs[mi].live += 1;
                self.q.schedule_in(
                    delay.saturating_add(t),
                    Ev::ClientTimeout {
                        msg: mi,
                        publish: done,
                    },
                );
            }
        } else {
            if self.msgs[mi].lost_cause == Cause::None || self.msgs[mi].lost_cause == Cause::Network
            {
                self.msgs[mi].lost_cause = Cause::PublishGaveUp;
            }
            if self.tracing() {
                let detail = format!("after {} ({done} publishes)", why.name());
                self.trace_producer(mi, "producer gave up", done.saturating_sub(1), detail);
            }
            self.msgs[mi].awaiting = NONE;
            self.msgs[mi].flags |= F_GAVE_UP;
            self.release_producer(mi);
        }
    }

    fn on_producer_retry(&mut self, mi: u32) {
        self.msgs[mi].live -= 1;
        debug_assert_eq!(
            self.msgs[mi].awaiting, RETRY_PENDING,
            "a retry that was not scheduled"
        );
        self.msgs[mi].awaiting = NONE;
        let m = &self.msgs[mi];
        if m.producer_holds && (!m.confirmed || m.flags & F_ACKED == 0) {
            self.producer_publish(mi);
        }
        self.check_finish(mi);
    }

    /// After a producer restart, its outbox relays every message whose
    /// publish was not confirmed (a publish outstanding at the crash died
    /// with it), except those whose scheduled retry will publish them.
    fn relay_outbox(&mut self, p: usize) {
        let pending: Vec<u32> = self
            .msgs
            .iter()
            .filter(|(_, m)| {
                m.producer as usize == p
                    && m.producer_holds
                    && !m.confirmed
                    && m.awaiting != RETRY_PENDING
            })
            .map(|(i, _)| i)
            .collect();
        for mi in pending {
            self.msgs[mi].awaiting = NONE;
            if self.tracing() {
                let next = self.msgs[mi].publishes;
                self.trace_producer(
                    mi,
                    "relayed by the outbox after a restart",
                    next,
                    String::new(),
                );
            }
            self.producer_publish(mi);
        }
    }

    // ------------------------------------------------------------------- broker

    #[inline(always)]
    fn new_gen(&mut self, c: u32) -> u32 {
        let cp = &mut self.copies[c];
        cp.gen = cp.gen.wrapping_add(1);
        cp.gen
    }

    /// A timer of copy `c` became stale: compact the event queue when they pile up.
    #[inline(always)]
    fn cancelled(&mut self) {
        if self.q.note_cancelled() {
            self.compact_queue();
        }
    }

    #[inline(never)]
    fn compact_queue(&mut self) {
        {
            let copies = &self.copies;
            self.q.retain(|e| match *e {
                Ev::AckDeadline { copy, gen }
                | Ev::RetryDue { copy, gen }
                | Ev::TtlExpire { copy, gen }
                | Ev::CrashReturn { copy, gen } => copies.slot(copy).gen == gen,
                _ => true,
            });
        }
    }

    /// A publish reaches the broker. The publish's own reference to the
    /// message is held until the broker has dealt with it, so that nothing
    /// inside (a dropped head that was this message's other copy, say) can
    /// end the message under our feet.
    fn on_publish_arrive(
        &mut self,
        mi: u32,
        publish: u32,
        qi: usize,
        serial: u32,
        persistent: bool,
        from_producer: bool,
    ) {
        self.publish_arrive_inner(mi, publish, qi, serial, persistent, from_producer);
        self.msg_unref(mi);
    }

    fn publish_arrive_inner(
        &mut self,
        mi: u32,
        publish: u32,
        qi: usize,
        serial: u32,
        persistent: bool,
        from_producer: bool,
    ) {
        let now = self.q.now();
        let producer = self.msgs[mi].producer as usize;
        if F::FAULTS && from_producer && self.prods[producer].epoch != self.msgs[mi].pub_epoch {
            // The producer crashed while this publish was on the wire.
            self.publish_lost(mi, Cause::ProducerCrash);
            return;
        }
        if F::FAULTS && !self.broker_up {
            // Connection refused: a producer with confirms sees the error.
            if from_producer
                && self.msgs[mi].producer_holds
                && self.m.producers[self.msgs[mi].producer as usize].confirm != Confirm::None
            {
                // The client learns it after its reconnect interval: a
                // refused connection is not free, and a retry loop with no
                // backoff must still let time pass.
                self.msgs[mi].live += 1;
                self.q.schedule_in(
                    RECONNECT_INTERVAL_NS,
                    Ev::Confirm {
                        msg: mi,
                        publish,
                        ok: false,
                    },
                );
                if self.msgs[mi].lost_cause == Cause::None {
                    self.msgs[mi].lost_cause = Cause::BrokerDown;
                }
            } else {
                self.msgs[mi].lost_cause = Cause::BrokerDown;
                self.msgs[mi].flags |= F_LOST;
            }
            self.check_finish(mi);
            return;
        }
        if self.msgs[mi].in_window {
            self.stats.queues[qi].offered += 1;
        }
        let qm = &self.m.queues[qi];
        // Broker-side publish deduplication (SQS FIFO, NATS Nats-Msg-Id).
        if F::PUBLISHER {
            let id = self.msgs[mi].id;
            if let Some(dedup) = &mut self.queues[qi].dedup {
                if dedup.contains(now, id) {
                    if self.msgs[mi].in_window {
                        self.stats.duplicates_prevented += 1;
                    }
                    if from_producer {
                        self.send_confirm(mi, publish, true);
                    }
                    self.check_finish(mi);
                    return;
                }
                dedup.insert(now, id);
            }
        }
        let full = qm
            .capacity
            .is_some_and(|cap| self.queues[qi].ready_len >= cap && !self.has_credit(qi));
        if full {
            match qm.overflow {
                Overflow::RejectPublish => {
                    if self.msgs[mi].in_window {
                        self.stats.queues[qi].blocked += 1;
                    }
                    let pm = &self.m.producers[self.msgs[mi].producer as usize];
                    if from_producer && self.msgs[mi].producer_holds && pm.confirm != Confirm::None
                    {
                        self.send_confirm(mi, publish, false);
                        self.msgs[mi].flags |= F_REJECTED;
                    } else if from_producer {
                        self.msgs[mi].flags |= F_REJECTED;
                    } else {
                        self.msgs[mi].lost_cause = Cause::Overflow;
                        self.msgs[mi].flags |= F_LOST;
                    }
                    self.check_finish(mi);
                    return;
                }
                Overflow::DropHead => {
                    if let Some(old) = self.pop_ready(qi) {
                        if self.msgs[mi].in_window {
                            self.stats.queues[qi].blocked += 1;
                        }
                        self.end_visit(qi, old);
                        self.copy_lost(old, Cause::Overflow, st::QUEUED);
                    }
                }
                Overflow::DeadLetter => {
                    if self.msgs[mi].in_window {
                        self.stats.queues[qi].blocked += 1;
                    }
                    // Confirm first: dead-lettering may end the message.
                    if from_producer {
                        self.send_confirm(mi, publish, true);
                    }
                    let c = self.new_copy(mi, qi, serial, persistent, now);
                    self.dead_letter(c, Cause::Overflow, st::QUEUED);
                    return;
                }
            }
        }
        let c = self.new_copy(mi, qi, serial, persistent, now);
        // A wire duplicate (the serial's top bit), or a producer's retry:
        // a copy beside another, and the cause of any duplicate the two make.
        if F::NETWORK && serial & 0x8000_0000 != 0 {
            self.copies[c].origin = Cause::Network;
            self.msgs[mi].extra_origin = Cause::Network;
        } else if F::PUBLISHER && publish > 0 && from_producer {
            self.copies[c].origin = Cause::ProducerRetry;
            self.msgs[mi].extra_origin = Cause::ProducerRetry;
        }
        self.trace(
            c,
            "accepted",
            if from_producer {
                "published by the producer"
            } else {
                "published by the previous stage"
            },
            None,
        );
        self.enqueue_ready(c, false);
        if F::PUBLISHER && from_producer {
            let pm = &self.m.producers[self.msgs[mi].producer as usize];
            let fsync = qm.fsync_ns;
            match pm.confirm {
                Confirm::None => {}
                Confirm::AfterFsync if fsync > 0 && qm.durable && persistent => {
                    let boundary = self.next_fsync(qi, now);
                    self.msgs[mi].live += 1;
                    self.q.schedule(
                        boundary,
                        Ev::SendConfirm {
                            msg: mi,
                            publish,
                            broker_epoch: self.broker_epoch,
                        },
                    );
                }
                _ => self.send_confirm(mi, publish, true),
            }
        }
        self.dispatch(qi);
    }

    /// The first fsync of queue `qi` after `now`. Fsyncs run every
    /// `fsync_interval` from a phase drawn once per run, so that a crash
    /// at a round time does not fall on an fsync by construction.
    fn next_fsync(&self, qi: usize, now: Nanos) -> Nanos {
        let f = self.m.queues[qi].fsync_ns.max(1);
        let phase = self.queues[qi].fsync_phase_ns % f;
        if now < phase {
            return phase;
        }
        ((now - phase) / f + 1)
            .saturating_mul(f)
            .saturating_add(phase)
    }

    #[inline(always)]
    fn new_copy(&mut self, mi: u32, qi: usize, serial: u32, persistent: bool, now: Nanos) -> u32 {
        let m = &self.msgs[mi];
        let p = &self.m.producers[m.producer as usize];
        let mut expire = Nanos::MAX;
        if F::EXPIRY {
            if let Some(t) = p.ttl_ns {
                expire = expire.min(m.publish_ns.saturating_add(t));
            }
            if let Some(t) = self.m.queues[qi].ttl_ns {
                expire = expire.min(now.saturating_add(t));
            }
        }
        let fate_key = rng::combine(m.key, qi as u64);
        let attempt_prefix = rng::prefix(self.domain_keys[Domain::AttemptFate as usize], fate_key);
        let c = self.copies.insert(Copy {
            msg: mi,
            queue: qi as u32,
            gen: 0,
            state: CState::Ready,
            deliveries: 0,
            delivery: 0,
            inst: NONE,
            holders: 0,
            visit_start_ns: now,
            accepted_ns: now,
            expire_ns: expire,
            persistent,
            attempts: 0,
            first_attempt_ns: now,
            prev_delay_ns: 0,
            serial,
            hops: 2,
            dup_cause: Cause::None,
            origin: Cause::None,
            processed: false,
            fate_key,
            attempt_prefix,
            uncounted: 0,
        });
        self.msgs[mi].live += 1;
        c
    }

    /// Puts copy `c` in its queue's ready list, at the head (a redelivery,
    /// back at its original place) or at the tail.
    #[inline(always)]
    fn enqueue_ready(&mut self, c: u32, head: bool) {
        let now = self.q.now();
        let qi = self.copies[c].queue as usize;
        self.stats.advance(qi, now);
        let g = self.new_gen(c);
        let cp = &mut self.copies[c];
        cp.state = CState::Ready;
        cp.visit_start_ns = now;
        let expire = cp.expire_ns;
        let in_window = self.msgs[cp.msg].in_window;
        let okey = self.msgs[cp.msg].okey;
        let qs = &mut self.queues[qi];
        let lane = if F::KEYS && okey != NONE && !qs.lanes.is_empty() {
            let lane = &mut qs.lanes[okey as usize];
            if lane.active == NONE || lane.active == c {
                lane.active = c;
                None
            } else {
                Some(lane)
            }
        } else {
            None
        };
        match (lane, head) {
            // Behind an earlier message of its key (FIFO by key).
            (Some(lane), _) => {
                if head {
                    lane.waiting.push_front((c, g));
                } else {
                    lane.waiting.push_back((c, g));
                }
                lane.n_waiting += 1;
                if lane.n_waiting == 1 {
                    lane.blocked_since_ns = now;
                }
            }
            (None, true) => qs.ready.push_front((c, g)),
            (None, false) => qs.ready.push_back((c, g)),
        }
        qs.ready_len += 1;
        let qc = self.stats.grow(qi, 1, 0);
        if in_window {
            qc.visits += 1;
        }
        if F::EXPIRY && expire != Nanos::MAX && self.m.queues[qi].ttl_anywhere {
            self.q
                .schedule(expire.max(now), Ev::TtlExpire { copy: c, gen: g });
        }
    }

    /// Takes the first live copy off the ready list.
    #[inline(always)]
    fn pop_ready(&mut self, qi: usize) -> Option<u32> {
        let now = self.q.now();
        while let Some((c, g)) = self.queues[qi].ready.pop_front() {
            let x = self.copies.slot(c);
            if x.gen == g && !x.vacant() && x.state == CState::Ready {
                self.stats.advance(qi, now);
                self.queues[qi].ready_len -= 1;
                self.stats.queues[qi].ready -= 1;
                return Some(c);
            }
        }
        None
    }

    #[inline(always)]
    fn has_credit(&mut self, qi: usize) -> bool {
        while let Some(&credit) = self.queues[qi].credits.front() {
            // Only faults take an instance down or cut it off, and only
            // they refill credits after the start (a new credit epoch):
            // without them, every credit is good (asserted).
            if !F::FAULTS {
                debug_assert!(
                    self.credit_is_good(credit),
                    "a stale credit in a run without faults"
                );
                return true;
            }
            if self.credit_is_good(credit) {
                return true;
            }
            self.queues[qi].credits.pop_front();
        }
        false
    }

    /// Whether a credit (instance, credit epoch) can take a delivery: its
    /// instance is up, connected, and has not been given fresh credits since.
    #[inline(always)]
    fn credit_is_good(&self, (i, e): (u32, u32)) -> bool {
        let inst = &self.insts[i as usize];
        inst.up && !inst.partitioned && inst.credit_epoch == e
    }

    /// Gives instance `i` fresh credits for every free prefetch slot.
    fn refill_credits(&mut self, i: u32) {
        debug_assert!(
            !self.is_log_inst(i),
            "a topic consumer group's member has no prefetch credits"
        );
        let inst = &mut self.insts[i as usize];
        inst.credit_epoch = inst.credit_epoch.wrapping_add(1);
        if !inst.up || inst.partitioned {
            return;
        }
        let g = &self.m.groups[inst.group as usize];
        let free = g.prefetch.saturating_sub(inst.held + inst.acks_on_wire);
        let e = inst.credit_epoch;
        for _ in 0..free {
            self.queues[g.queue].credits.push_back((i, e));
        }
    }

    /// Hands ready messages to consumers with free prefetch slots,
    /// round-robin.
    #[inline(always)]
    fn dispatch(&mut self, qi: usize) {
        self.dispatch_from(qi, None);
    }

    /// [`Sim::dispatch`], starting with `held`: a credit its caller took
    /// back from a slot it just freed while the credit list was empty. It
    /// is used first, as if it stood alone at the front of the list, and
    /// goes on the list if no copy takes it (or before an expired copy is
    /// dealt with, where it would have been on the list).
    #[inline(always)]
    fn dispatch_from(&mut self, qi: usize, mut held: Option<(u32, u32)>) {
        // What `has_credit` would check of it on the list.
        debug_assert!(
            held.is_none_or(|credit| self.credit_is_good(credit)),
            "a held credit is for an instance that can take a delivery"
        );
        if !F::FAULTS || self.broker_up {
            let now = self.q.now();
            while self.queues[qi].ready_len > 0 && (held.is_some() || self.has_credit(qi)) {
                let Some(c) = self.pop_ready(qi) else { break };
                if F::EXPIRY && self.copies[c].expire_ns <= now {
                    if let Some(credit) = held.take() {
                        self.queues[qi].credits.push_back(credit);
                    }
                    self.end_visit(qi, c);
                    self.expire(c);
                    continue;
                }
                let i = match held.take() {
                    Some((i, _)) => i,
                    None => match self.queues[qi].credits.pop_front() {
                        Some((i, _)) => i,
                        None => break,
                    },
                };
                self.deliver(c, i);
            }
        }
        if let Some(credit) = held {
            self.queues[qi].credits.push_back(credit);
        }
    }

    fn deliver(&mut self, c: u32, i: u32) {
        let now = self.q.now();
        let g = self.insts[i as usize].group as usize;
        let auto = self.m.groups[g].ack_on_receive;
        let (gen, mi, qi, visit_start, deliveries, serial, hop_no) = {
            let cp = &mut self.copies[c];
            cp.gen = cp.gen.wrapping_add(1);
            let gen = cp.gen;
            cp.deliveries += 1;
            cp.delivery = gen;
            cp.inst = i;
            cp.holders += 1;
            cp.state = if auto {
                CState::Consumer
            } else {
                CState::InFlight
            };
            cp.hops = cp.hops.wrapping_add(1);
            (
                gen,
                cp.msg,
                cp.queue as usize,
                cp.visit_start_ns,
                cp.deliveries,
                cp.serial,
                cp.hops as u32,
            )
        };
        let m = &mut self.msgs[mi];
        m.live += 1;
        let in_window = m.in_window;
        if self.tracing() {
            let detail = format!(
                "to {}#{} (delivery {})",
                self.m.groups[g].name,
                self.group_insts[g]
                    .iter()
                    .position(|&x| x == i)
                    .unwrap_or(0),
                deliveries
            );
            self.trace(c, "delivered", &detail, None);
        }
        if in_window {
            self.stats.delivered += 1;
            if deliveries > 1 {
                self.stats.redelivered += 1;
            }
            let visit_in_window = self.stats.in_window(visit_start);
            let qc = &mut self.stats.queues[qi];
            qc.deliveries += 1;
            if visit_in_window {
                qc.visit_wait_ns += (now - visit_start) as u128;
                if now > visit_start {
                    qc.waited += 1;
                }
            }
            self.stats.transition(st::QUEUED, st::IN_FLIGHT);
        }
        // `dispatch` took the copy off the ready list at this instant, and
        // that brought the queue's areas up to now.
        self.stats.debug_assert_current(qi, now);
        self.stats.grow(qi, 0, 1);
        let inst = &mut self.insts[i as usize];
        inst.held += 1;
        let epoch = inst.epoch;
        if !auto {
            if let Some(t) = self.m.queues[qi].ack_timeout_ns {
                self.q.schedule_in(t, Ev::AckDeadline { copy: c, gen });
            }
        }
        match self.hop(mi, serial, hop_no, Link::Delivery) {
            Hop::Lost => {
                // The delivery vanished: the consumer never sees it. Its slot
                // is free again; the broker waits for the ack timeout.
                self.copies[c].dup_cause = Cause::Network;
                self.release_delivery(i, c);
                if auto {
                    self.copy_lost(c, Cause::Network, st::IN_FLIGHT);
                } else if self.m.queues[qi].ack_timeout_ns.is_none() {
                    self.redeliver(c, Cause::Network);
                }
                self.dispatch(qi);
            }
            Hop::After(lat, _) => {
                if lat == 0 {
                    // An instant wire: the consumer has it now, and nothing
                    // can happen to it on the way.
                    self.receive(i, (c, gen, visit_start));
                } else {
                    self.insts[i as usize].incoming.push((c, gen, visit_start));
                    self.deliver_ev(
                        lat,
                        Ev::Deliver {
                            copy: c,
                            delivery: gen,
                            inst: i,
                            epoch,
                        },
                    );
                }
            }
        }
    }

    /// The consumer no longer holds delivery of copy `c`: its prefetch slot
    /// frees (a credit goes back to the queue), and the copy's record may end.
    #[inline(always)]
    fn release_delivery(&mut self, i: u32, c: u32) {
        let qi = self.copies[c].queue as usize;
        if let Some(credit) = self.free_slot(i, c) {
            self.queues[qi].credits.push_back(credit);
        }
    }

    /// [`Sim::release_delivery`] that returns the freed slot's credit to
    /// the caller instead of to the queue: `None` when the instance cannot
    /// take deliveries (down, or cut off by a partition).
    #[inline(always)]
    fn free_slot(&mut self, i: u32, c: u32) -> Option<(u32, u32)> {
        let qi = self.copies[c].queue as usize;
        // Both callers brought the queue's areas up to now (`dispatch` for
        // a lost delivery, `on_service_done` at the end of an attempt).
        self.stats.debug_assert_current(qi, self.q.now());
        self.stats.queues[qi].held -= 1;
        let inst = &mut self.insts[i as usize];
        inst.held -= 1;
        let credit =
            (!F::FAULTS || (inst.up && !inst.partitioned)).then_some((i, inst.credit_epoch));
        self.unhold(c);
        credit
    }

    /// A worker of instance `i` finished with a delivery from queue `qi`,
    /// and its slot's `credit` came back: what `release_delivery`, then
    /// `try_start(i)`, then `dispatch(qi)` do. In the common case nothing
    /// waits in the instance's buffer (`try_start` has nothing to start)
    /// and no other credit is queued, so `dispatch` would find this credit
    /// alone at the front of the list, and valid (the instance is up,
    /// connected, and its credit epoch unchanged since `free_slot`): it is
    /// handed to `dispatch_from` directly instead of through the list.
    #[inline(always)]
    fn slot_freed(&mut self, i: u32, qi: usize, credit: Option<(u32, u32)>) {
        if let Some(credit) = credit {
            if self.queues[qi].credits.is_empty() && self.insts[i as usize].buffer.is_empty() {
                self.dispatch_from(qi, Some(credit));
                return;
            }
            self.queues[qi].credits.push_back(credit);
        }
        self.try_start(i);
        self.dispatch(qi);
    }

    #[inline(always)]
    fn unhold(&mut self, c: u32) {
        let cp = &mut self.copies[c];
        debug_assert!(cp.holders > 0);
        cp.holders -= 1;
        let mi = cp.msg;
        let free = cp.holders == 0 && cp.state == CState::Gone;
        if free {
            self.copies.remove(c);
        }
        self.msg_unref(mi);
    }

    /// Drops one reference to live message `mi` (a copy, a hold): the
    /// message ends with its last one.
    #[inline(always)]
    fn msg_unref(&mut self, mi: u32) {
        let m = &mut self.msgs[mi];
        debug_assert!(m.live > 0 && m.live != VACANT);
        m.live -= 1;
        if m.live == 0 {
            self.finish_msg(mi);
        }
    }

    /// The visit of a copy that leaves the queue without an attempt ends.
    #[inline]
    fn end_visit(&mut self, qi: usize, c: u32) {
        let in_window = self.msgs[self.copies[c].msg].in_window;
        self.stats
            .end_visit(qi, self.copies[c].visit_start_ns, self.q.now(), in_window);
    }

    #[inline(always)]
    fn on_deliver(&mut self, c: u32, delivery: u32, i: u32, epoch: u32) {
        let inst = &mut self.insts[i as usize];
        if inst.epoch != epoch {
            // Crashed meanwhile; the crash already freed the slot.
            self.unhold(c);
            return;
        }
        let Some(pos) = inst
            .incoming
            .iter()
            .position(|x| x.0 == c && x.1 == delivery)
        else {
            return;
        };
        let entry = inst.incoming.swap_remove(pos);
        self.receive(i, entry);
    }

    /// Instance `i` receives a delivery: (copy, delivery, visit start).
    #[inline(always)]
    fn receive(&mut self, i: u32, entry: (u32, u32, Nanos)) {
        let g = self.insts[i as usize].group as usize;
        if F::LEASES {
            self.start_lease(i, g, entry);
        }
        let reseq = F::KEYS && self.groups[g].resequence.is_some();
        let inst = &mut self.insts[i as usize];
        let conc = self.m.groups[g].concurrency as usize;
        let up = !F::FAULTS || inst.up;
        if up && inst.buffer.is_empty() && inst.working.len() < conc && !reseq {
            // A free worker takes it at once (what try_start would do;
            // a resequencer may hold it back, so it goes through try_start).
            inst.working.push(entry);
            self.begin_attempt(i, entry.0, entry.1);
            return;
        }
        inst.buffer.push_back(entry);
        self.try_start(i);
    }

    #[inline(always)]
    fn try_start(&mut self, i: u32) {
        loop {
            let inst = &mut self.insts[i as usize];
            let conc = self.m.groups[inst.group as usize].concurrency as usize;
            if (F::FAULTS && !inst.up) || inst.working.len() >= conc {
                return;
            }
            let Some(entry) = inst.buffer.pop_front() else {
                return;
            };
            if F::KEYS && self.reseq_hold(i, entry) {
                continue;
            }
            self.insts[i as usize].working.push(entry);
            self.begin_attempt(i, entry.0, entry.1);
        }
    }

    // ------------------------------------------------ ordering: keys and lanes

    /// Adds a key's blocked interval, clipped to the statistics window.
    fn add_key_blocked(&mut self, qi: usize, since_ns: Nanos, until_ns: Nanos) {
        let from = since_ns.max(self.stats.window_start);
        let to = until_ns.min(self.stats.window_end);
        if to > from {
            self.stats.queues[qi].key_blocked_ns += (to - from) as u128;
        }
    }

    /// Copy `c` leaves its queue for good (FIFO by key): when it was its
    /// key's message out, the key's next message moves up to the queue;
    /// when it was waiting behind it, the lane forgets it.
    #[inline(always)]
    fn lane_leave(&mut self, c: u32) {
        let qi = self.copies[c].queue as usize;
        if F::KEYS && !self.queues[qi].lanes.is_empty() {
            self.lane_leave_keyed(qi, c);
        }
    }

    #[inline(never)]
    fn lane_leave_keyed(&mut self, qi: usize, c: u32) {
        let okey = self.msgs[self.copies[c].msg].okey;
        if okey == NONE {
            return;
        }
        let mut promoted = false;
        let mut unblocked = None;
        let lane = &mut self.queues[qi].lanes[okey as usize];
        if lane.active == c {
            lane.active = NONE;
            while let Some((w, g)) = lane.waiting.pop_front() {
                let x = self.copies.slot(w);
                let live = x.gen == g && !x.vacant() && x.state == CState::Ready;
                if live {
                    lane.n_waiting -= 1;
                    lane.active = w;
                    if lane.n_waiting == 0 {
                        unblocked = Some(lane.blocked_since_ns);
                    }
                    self.queues[qi].ready.push_back((w, g));
                    promoted = true;
                    break;
                }
            }
        } else if self.copies[c].state == CState::Ready && lane.n_waiting > 0 {
            lane.n_waiting -= 1;
            if lane.n_waiting == 0 {
                lane.waiting.clear();
                unblocked = Some(lane.blocked_since_ns);
            }
        }
        if let Some(since) = unblocked {
            self.add_key_blocked(qi, since, self.q.now());
        }
        if promoted {
            self.dispatch(qi);
        }
    }

    /// The broker lost its queues: every lane empties (restart re-forms them).
    fn lanes_clear(&mut self, qi: usize) {
        let mut blocked = Vec::new();
        for lane in &mut self.queues[qi].lanes {
            if lane.n_waiting > 0 {
                blocked.push(lane.blocked_since_ns);
            }
            lane.active = NONE;
            lane.waiting.clear();
            lane.n_waiting = 0;
        }
        for since in blocked {
            self.add_key_blocked(qi, since, self.q.now());
        }
    }

    /// First processing of message `mi` at queue `qi`: was a later message
    /// of its key processed before it?
    fn record_order(&mut self, qi: usize, mi: u32) {
        let m = &self.msgs[mi];
        if !F::KEYS || m.okey == NONE {
            return;
        }
        let late = key_order(&mut self.queues[qi].order_max[m.okey as usize], m.kseq);
        if let (Some(d), true) = (late, m.in_window) {
            let qc = &mut self.stats.queues[qi];
            qc.out_of_order += 1;
            qc.max_displacement = qc.max_displacement.max(d);
        }
    }

    /// Resequencing: holds delivery `entry` back while an earlier message of
    /// its key is not processed yet. Returns true when held.
    fn reseq_hold(&mut self, i: u32, entry: (u32, u32, Nanos)) -> bool {
        let now = self.q.now();
        let g = self.insts[i as usize].group as usize;
        let epoch = self.insts[i as usize].epoch;
        let (c, d, visit_start) = entry;
        let mi = self.copies[c].msg;
        let (k, seq, in_window) = (
            self.msgs[mi].okey,
            self.msgs[mi].kseq,
            self.msgs[mi].in_window,
        );
        let Some(rs) = &mut self.groups[g].resequence else {
            return false;
        };
        if k == NONE || seq <= rs.next[k as usize] {
            return false;
        }
        rs.holds += 1;
        let hold = rs.holds;
        rs.held
            .insert((k, seq, hold), (i, epoch, c, d, visit_start, now));
        rs.order.push_back((k, seq, hold));
        let over = rs.held.len() > rs.max_held as usize;
        let wait = rs.max_wait_ns;
        if in_window {
            self.stats.resequenced += 1;
        }
        self.q.schedule_in(
            wait,
            Ev::ReseqTimeout {
                group: g as u32,
                key: k,
                seq,
                hold,
            },
        );
        if over {
            // Full: the message held longest is let go.
            loop {
                let rs = self.groups[g].resequence.as_mut().expect("resequencer");
                let Some(id) = rs.order.pop_front() else {
                    break;
                };
                if rs.held.contains_key(&id) {
                    self.reseq_release(g, id, true);
                    break;
                }
            }
        }
        true
    }

    /// Lets held message (`key`, `seq`) go to its worker. `gave_up`: the gap
    /// before it is abandoned (timeout or a full buffer), and so are the
    /// held messages of the key before it.
    fn reseq_release(&mut self, g: usize, id: HoldId, gave_up: bool) {
        let now = self.q.now();
        let (key, seq, _) = id;
        let Some(rs) = &mut self.groups[g].resequence else {
            return;
        };
        if !rs.held.contains_key(&id) {
            return;
        }
        if gave_up {
            let n = &mut rs.next[key as usize];
            *n = (*n).max(seq);
        }
        // Everything of this key now at or behind its turn goes, in order.
        let upto = rs.next[key as usize];
        let go: Vec<(HoldId, Held)> = rs
            .held
            .range((key, 0, 0)..=(key, upto, u64::MAX))
            .map(|(&k, &h)| (k, h))
            .collect();
        for (hid, (i, epoch, c, d, visit_start, since)) in go {
            let s = hid.1;
            self.groups[g]
                .resequence
                .as_mut()
                .expect("resequencer")
                .held
                .remove(&hid);
            let in_window = self.msgs[self.copies[c].msg].in_window;
            if in_window {
                self.stats.resequence_wait_ns += (now - since) as u128;
                if gave_up && s == seq {
                    self.stats.resequence_gave_up += 1;
                }
            }
            if self.insts[i as usize].epoch == epoch {
                self.insts[i as usize]
                    .buffer
                    .push_front((c, d, visit_start));
                self.try_start(i);
            }
        }
    }

    /// The group processed message `mi`: its key moves on.
    fn reseq_done(&mut self, g: usize, mi: u32) {
        if !F::KEYS {
            return;
        }
        let (k, seq) = (self.msgs[mi].okey, self.msgs[mi].kseq);
        let Some(rs) = &mut self.groups[g].resequence else {
            return;
        };
        if k == NONE {
            return;
        }
        let n = &mut rs.next[k as usize];
        *n = (*n).max(seq + 1);
        let next = *n;
        if let Some((&id, _)) = rs.held.range((k, 0, 0)..=(k, next, u64::MAX)).next() {
            self.reseq_release(g, id, false);
        }
    }

    /// A crashed instance's held-back deliveries, removed from the buffer.
    fn reseq_take(&mut self, i: u32) -> Vec<(u32, u32, Nanos)> {
        let g = self.insts[i as usize].group as usize;
        let Some(rs) = &mut self.groups[g].resequence else {
            return Vec::new();
        };
        let mine: Vec<(u32, u64, u64)> = rs
            .held
            .iter()
            .filter(|(_, h)| h.0 == i)
            .map(|(&k, _)| k)
            .collect();
        mine.into_iter()
            .filter_map(|k| rs.held.remove(&k))
            .map(|h| (h.2, h.3, h.4))
            .collect()
    }

    /// A worker of instance `i` starts processing delivery `delivery` of copy `c`.
    #[inline(always)]
    fn begin_attempt(&mut self, i: u32, c: u32, delivery: u32) {
        let now = self.q.now();
        let g = self.insts[i as usize].group as usize;
        let gm = &self.m.groups[g];
        let qi = gm.queue;
        let mi = self.copies[c].msg;
        let epoch = self.insts[i as usize].epoch;
        // Idempotent consumer: a message processed within the window is
        // recognised and acked without processing.
        if F::STRATEGIES {
            let id = self.msgs[mi].id.wrapping_mul(64).wrapping_add(qi as u64);
            if let Some(store) = &mut self.groups[g].idempotency {
                if store.contains(now, id) {
                    if self.msgs[mi].in_window {
                        self.stats.duplicates_prevented += 1;
                    }
                    self.settle_without_work(i, epoch, c, delivery, false);
                    return;
                }
            }
        }
        if self.copies[c].attempts == 0 {
            self.copies[c].first_attempt_ns = now;
            if F::STRATEGIES {
                if let Some(b) = &mut self.groups[g].budget {
                    b.on_request(now);
                }
            }
        }
        // Circuit breaker around the downstream call.
        if F::STRATEGIES {
            if let Some(br) = &mut self.insts[i as usize].breaker {
                if !br.try_acquire(now) {
                    if self.msgs[mi].in_window {
                        self.stats.breaker_rejected += 1;
                    }
                    self.settle_without_work(i, epoch, c, delivery, true);
                    return;
                }
            }
        }
        let k = self.msgs[mi].attempts;
        self.msgs[mi].attempts += 1;
        let (key, ap) = (self.copies[c].fate_key, self.copies[c].attempt_prefix);
        let poison = F::POISON
            && gm.poison > 0.0
            && unit(&mut self.stream(Domain::MessageFate, key, 0)) < gm.poison;
        let gs = &self.groups[g];
        // The attempt's stream: u_fail, u_out, u_nonret, then the service
        // time. A draw that cannot matter (its `u < 0` would be false) is
        // stepped over rather than drawn (the generator's state advances,
        // nothing is computed from its output): the service time is always
        // the 4th draw. When none of the three can matter (no failure, no
        // outage, not poison), the stream starts after them.
        let outage = F::FAULTS && gs.outage_failure > 0.0;
        let (failed, nonretryable, mut r) = if poison || gm.failure > 0.0 || outage {
            let mut r = rng::stream_at(ap, k as u64);
            let u_fail = unit(&mut r);
            let out = if outage {
                unit(&mut r) < gs.outage_failure
            } else {
                rng::skip(&mut r);
                false
            };
            let failed = poison || u_fail < gm.failure || out;
            let nonretryable = if F::POISON && failed && gm.non_retryable > 0.0 {
                unit(&mut r) < gm.non_retryable
            } else {
                rng::skip(&mut r);
                false
            };
            (failed, nonretryable, r)
        } else {
            (false, false, rng::stream_at_after::<3>(ap, k as u64))
        };
        let base = gm.service.sample_secs(&mut r);
        // Only a fault slows a group down (`slowdown` is 1 otherwise).
        let scaled = if F::FAULTS { base * gs.slowdown } else { base };
        let work_ns = crate::time::secs_to_ns(scaled);
        self.stats.advance(qi, now);
        self.stats.queues[qi].busy += 1;
        self.insts[i as usize].busy += 1;
        if self.tracing() {
            // Only when tracing: the detail string costs an allocation. How
            // it ends is traced when it ends (a crash may cut it short).
            self.trace(c, "attempt", &format!("attempt {}", k + 1), Some(work_ns));
        }
        self.q.schedule_in(
            work_ns,
            Ev::ServiceDone {
                inst: i,
                epoch,
                copy: c,
                delivery,
                failed,
                nonretryable,
                work_ns,
                counted: true,
            },
        );
    }

    /// Ends an attempt that takes no worker time: a duplicate the
    /// idempotency store recognised (acked, not processed), or a call the
    /// open breaker rejected (failed at once).
    fn settle_without_work(&mut self, i: u32, epoch: u32, c: u32, delivery: u32, failed: bool) {
        self.q.schedule_in(
            0,
            Ev::ServiceDone {
                inst: i,
                epoch,
                copy: c,
                delivery,
                failed,
                nonretryable: false,
                work_ns: if failed { 0 } else { u64::MAX },
                counted: false,
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn on_service_done(
        &mut self,
        i: u32,
        epoch: u32,
        c: u32,
        delivery: u32,
        failed: bool,
        nonretryable: bool,
        work_ns: Nanos,
        counted: bool,
    ) {
        let now = self.q.now();
        let inst = &mut self.insts[i as usize];
        if F::FAULTS && inst.epoch != epoch {
            return;
        }
        let g = inst.group as usize;
        if counted {
            inst.busy -= 1;
        }
        let qi = self.m.groups[g].queue;
        let mi = self.copies[c].msg;
        let skipped = work_ns == u64::MAX;
        // Also for an attempt that was not counted: `release_delivery`
        // relies on it.
        self.stats.advance(qi, now);
        if counted {
            self.stats.queues[qi].busy -= 1;
        }
        let in_window = self.msgs[mi].in_window;
        if counted {
            if in_window {
                self.stats.attempts += 1;
                self.stats.work_ns += work_ns as u128;
                let qc = &mut self.stats.queues[qi];
                qc.services += 1;
                qc.service_time_ns += work_ns as u128;
                let s = crate::time::ns_to_secs(work_ns);
                qc.service_sq_s += s * s;
                if failed {
                    self.stats.failed_attempts += 1;
                    self.stats.failed_work_ns += work_ns as u128;
                }
            }
            if F::STRATEGIES {
                if let Some(br) = &mut self.insts[i as usize].breaker {
                    br.on_result(now, !failed);
                }
                if let Some(b) = &mut self.groups[g].budget {
                    if failed {
                        b.on_failure(now);
                    } else {
                        b.on_success(now);
                    }
                }
            }
        }
        let working = &self.insts[i as usize].working;
        let Some(pos) = working.iter().position(|x| x.0 == c && x.1 == delivery) else {
            return;
        };
        let visit_start = working[pos].2;
        if self.tracing() {
            let what = match (counted, failed) {
                (true, false) => "attempt succeeded",
                (true, true) => "attempt failed",
                (false, false) => "recognised by the idempotency store: acked without processing",
                (false, true) => "rejected by the open circuit breaker",
            };
            self.trace(c, what, "", None);
        }
        let settle = if failed {
            self.on_failure(i, c, delivery, nonretryable)
        } else {
            self.on_success(i, c, delivery, skipped)
        };
        if settle == Settle::Kept {
            return; // still held: in-handler retry
        }
        let inst = &mut self.insts[i as usize];
        // Usually still at `pos` (the handlers only append to `working`).
        let at = |x: &(u32, u32, Nanos)| x.0 == c && x.1 == delivery;
        let pos = if inst.working.get(pos).is_some_and(at) {
            Some(pos)
        } else {
            inst.working.iter().position(at)
        };
        if let Some(pos) = pos {
            inst.working.swap_remove(pos);
        }
        // The visit ends with this attempt.
        self.stats.end_visit(qi, visit_start, now, in_window);
        debug_assert_eq!(self.copies[c].queue as usize, qi, "a group reads one queue");
        if F::NETWORK && settle == Settle::OnArrival {
            // The worker is free for what waits in the buffer; the prefetch
            // slot stays taken until the ack reaches the broker (`on_ack`).
            self.stats.queues[qi].held -= 1;
            let inst = &mut self.insts[i as usize];
            inst.held -= 1;
            inst.acks_on_wire += 1;
            self.unhold(c);
            self.try_start(i);
            return;
        }
        let credit = self.free_slot(i, c);
        self.slot_freed(i, qi, credit);
    }

    fn on_success(&mut self, i: u32, c: u32, delivery: u32, skipped: bool) -> Settle {
        let now = self.q.now();
        let g = self.insts[i as usize].group as usize;
        let gm = &self.m.groups[g];
        let qi = gm.queue;
        let mi = self.copies[c].msg;
        let in_window = self.msgs[mi].in_window;
        if !skipped {
            let bit = 1u64 << qi;
            if self.msgs[mi].done_mask & bit != 0 {
                self.count_duplicate(c, qi, in_window, gm.idempotency_ns.is_some());
            } else {
                self.msgs[mi].done_mask |= bit;
                self.record_order(qi, mi);
            }
            let cp = &mut self.copies[c];
            cp.processed = true;
            cp.dup_cause = Cause::None;
            self.reseq_done(g, mi);
            if F::STRATEGIES {
                if let Some(store) = &mut self.groups[g].idempotency {
                    let id = self.msgs[mi].id.wrapping_mul(64).wrapping_add(qi as u64);
                    store.insert(now, id);
                }
            }
            match gm.publish_to {
                Some(next) => {
                    let serial = self.copies[c]
                        .serial
                        .wrapping_add(0x100 * (next as u32 + 1));
                    let hop_no = self.copies[c].hops as u32 + 1;
                    let persistent = self.copies[c].persistent;
                    self.publish(mi, serial, next as u32, persistent, false, hop_no);
                }
                None => {
                    if self.msgs[mi].flags & F_ACKED == 0 {
                        self.msgs[mi].flags |= F_ACKED;
                        self.completions_total += 1;
                        if in_window {
                            self.stats.record_latency(now - self.msgs[mi].publish_ns);
                        }
                        let p = self.msgs[mi].producer as usize;
                        if F::STRATEGIES {
                            if let Some(b) = &mut self.prods[p].budget {
                                b.on_success(now);
                            }
                        }
                        if F::PUBLISHER && self.m.producers[p].timeout_ns.is_some() {
                            self.client_sees(mi, c, in_window);
                            self.release_producer(mi);
                        }
                    }
                }
            }
        }
        self.send_ack(i, c, delivery, AckKind::Ack)
    }

    /// Counts the processing of copy `c` as a duplicate (its message was
    /// processed at queue `qi` already), under the cause of the extra
    /// processing: the copy's redelivery when it was processed itself, else
    /// the creation of the extra copy (this one, or the other).
    #[inline(never)]
    fn count_duplicate(&mut self, c: u32, qi: usize, in_window: bool, idempotent: bool) {
        let cp = &self.copies[c];
        let cause = if cp.processed {
            cp.dup_cause
        } else if cp.origin != Cause::None {
            cp.origin
        } else {
            self.msgs[cp.msg].extra_origin
        };
        let name = match cause {
            Cause::None => "redelivery",
            x => x.name(),
        };
        // A stage that processes a message twice publishes it downstream
        // twice: the downstream duplicate has the same cause.
        let mi = cp.msg;
        self.msgs[mi].extra_origin = cause;
        self.trace(c, "processed again (duplicate)", name, None);
        if in_window {
            self.stats.duplicate(name);
            self.stats.queues[qi].duplicates += 1;
            if idempotent {
                self.stats.duplicates_slipped += 1;
            }
        }
    }

    /// Sends an ack or nack for a delivery; auto-acked copies are settled here.
    #[inline(always)]
    fn send_ack(&mut self, i: u32, c: u32, delivery: u32, kind: AckKind) -> Settle {
        let g = self.insts[i as usize].group as usize;
        if self.m.groups[g].ack_on_receive {
            // The broker forgot the message at delivery: the consumer
            // settles it itself (republishes a retry, or it is gone).
            self.settle_consumer_copy(c, kind);
            return Settle::Now;
        }
        if F::FAULTS && self.insts[i as usize].partitioned {
            self.copies[c].dup_cause = Cause::Partition;
            return Settle::Now;
        }
        let cp = &mut self.copies[c];
        cp.hops = cp.hops.wrapping_add(1);
        let (mi, serial, hop_no) = (cp.msg, cp.serial, cp.hops as u32);
        match self.hop(mi, serial, hop_no, Link::Ack) {
            Hop::Lost => {
                // The broker will redeliver at the ack timeout.
                self.copies[c].dup_cause = Cause::Network;
                if self.m.queues[self.copies[c].queue as usize]
                    .ack_timeout_ns
                    .is_none()
                    && self.copies[c].state == CState::InFlight
                    && self.copies[c].delivery == delivery
                {
                    self.redeliver(c, Cause::Network);
                }
                Settle::Now
            }
            Hop::After(lat, _) => {
                let epoch = self.insts[i as usize].epoch;
                if lat == 0 {
                    // An instant wire: the ack arrives now, while the
                    // worker's delivery still holds the copy and message.
                    debug_assert!(self.copies[c].holders > 0, "an ack without a delivery hold");
                    self.ack_arrives(c, delivery, kind, i, epoch);
                    Settle::Now
                } else {
                    // The ack on the wire holds them until it arrives.
                    self.copies[c].holders += 1;
                    self.msgs[mi].live += 1;
                    let (kind, delay_ns) = kind.encode();
                    self.deliver_ev(
                        lat,
                        Ev::Ack {
                            copy: c,
                            delivery,
                            kind,
                            delay_ns,
                            inst: i,
                            epoch,
                        },
                    );
                    Settle::OnArrival
                }
            }
        }
    }

    fn settle_consumer_copy(&mut self, c: u32, kind: AckKind) {
        if self.copies[c].state != CState::Consumer {
            return;
        }
        match kind {
            AckKind::Ack => self.copy_gone(c, st::IN_FLIGHT, st::ACKED),
            AckKind::Requeue | AckKind::RejectRequeue => {
                self.stats_transition(c, st::IN_FLIGHT, st::QUEUED);
                self.enqueue_ready(c, false);
                let qi = self.copies[c].queue as usize;
                self.dispatch(qi);
            }
            AckKind::Delay(d) => self.delay(c, d),
            AckKind::Reject(Cause::Lost) => self.copy_lost(c, Cause::AutoAckFailure, st::IN_FLIGHT),
            AckKind::Reject(reason) => self.dead_letter(c, reason, st::IN_FLIGHT),
        }
    }

    #[inline(always)]
    fn stats_transition(&mut self, c: u32, from: usize, to: usize) {
        if self.msgs[self.copies[c].msg].in_window {
            self.stats.transition(from, to);
        }
    }

    /// Handles a failed attempt. Returns true when the worker keeps the
    /// message (in-handler retry).
    fn on_failure(&mut self, i: u32, c: u32, delivery: u32, nonretryable: bool) -> Settle {
        let now = self.q.now();
        let g = self.insts[i as usize].group as usize;
        let gm = &self.m.groups[g];
        let qi = gm.queue;
        let auto = gm.ack_on_receive;
        if nonretryable {
            return self.send_ack(i, c, delivery, AckKind::Reject(Cause::NonRetryable));
        }
        self.copies[c].attempts += 1;
        let attempts = self.copies[c].attempts;
        let mi = self.copies[c].msg;
        let in_window = self.msgs[mi].in_window;
        let mut mode = gm.retry_mode;
        if mode == RetryMode::AckTimeout && (auto || self.m.queues[qi].ack_timeout_ns.is_none()) {
            mode = RetryMode::Requeue;
        }
        if mode == RetryMode::None {
            let kind = AckKind::Reject(Cause::Rejected);
            return self.send_ack(
                i,
                c,
                delivery,
                if auto {
                    AckKind::Reject(Cause::Lost)
                } else {
                    kind
                },
            );
        }
        if mode == RetryMode::AckTimeout {
            // SQS: the failed message is simply not deleted; the visibility
            // timeout brings it back.
            return Settle::Now;
        }
        // Policy limits and the budget.
        let (delay, allowed) = match &gm.retry {
            Some(policy) => {
                let key = self.copies[c].fate_key;
                let mut r = self.stream(Domain::Backoff, key, attempts as u64);
                let d = policy.delay_ns(attempts, self.copies[c].prev_delay_ns, &mut r);
                let elapsed = now - self.copies[c].first_attempt_ns;
                (d, policy.allows(attempts, elapsed, d))
            }
            None => (0, true),
        };
        if !allowed {
            let kind = if auto && !self.m.queues[qi].dead_letter {
                AckKind::Reject(Cause::Lost)
            } else {
                AckKind::Reject(Cause::RetriesExhausted)
            };
            return self.send_ack(i, c, delivery, kind);
        }
        if F::STRATEGIES {
            if let Some(b) = &mut self.groups[g].budget {
                if !b.try_retry(now) {
                    if in_window {
                        self.stats.retries_refused += 1;
                    }
                    return self.send_ack(i, c, delivery, AckKind::Reject(Cause::RetryBudget));
                }
            }
        }
        if in_window {
            self.stats.retries += 1;
        }
        self.copies[c].prev_delay_ns = delay;
        match mode {
            RetryMode::InHandler => {
                let epoch = self.insts[i as usize].epoch;
                self.q.schedule_in(
                    delay,
                    Ev::HandlerRetry {
                        inst: i,
                        epoch,
                        copy: c,
                        delivery,
                    },
                );
                Settle::Kept
            }
            RetryMode::Requeue => self.send_ack(i, c, delivery, AckKind::Requeue),
            RetryMode::RejectRequeue => self.send_ack(i, c, delivery, AckKind::RejectRequeue),
            _ => self.send_ack(i, c, delivery, AckKind::Delay(delay)),
        }
    }

    /// An ack event reaches the broker. The event held the copy and its
    /// message; the hold ends here.
    fn on_ack(&mut self, c: u32, delivery: u32, kind: AckKind, inst: u32, epoch: u32) {
        let qi = self.copies[c].queue as usize;
        let slot_freed = self.ack_frees_slot(inst, epoch, qi);
        self.ack_arrives(c, delivery, kind, inst, epoch);
        self.unhold(c);
        if slot_freed {
            self.dispatch(qi);
        }
    }

    /// An ack (or nack) on the wire reached the broker: its delivery's
    /// prefetch slot frees, and a credit goes back to the queue when the
    /// instance can take a delivery. Returns whether one did. Nothing frees
    /// when the instance crashed since it sent the ack: the crash released
    /// every slot it had (and the ack died with the connection).
    fn ack_frees_slot(&mut self, i: u32, epoch: u32, qi: usize) -> bool {
        let inst = &mut self.insts[i as usize];
        if inst.epoch != epoch {
            return false;
        }
        debug_assert!(
            inst.acks_on_wire > 0,
            "an ack on the wire that was not counted"
        );
        inst.acks_on_wire -= 1;
        if F::FAULTS && (!inst.up || inst.partitioned) {
            return false;
        }
        let credit = (i, inst.credit_epoch);
        self.queues[qi].credits.push_back(credit);
        true
    }

    /// The broker receives an ack or nack of delivery `delivery` of copy `c`
    /// from instance `inst` (its `epoch` when it sent it).
    #[inline(always)]
    fn ack_arrives(&mut self, c: u32, delivery: u32, kind: AckKind, inst: u32, epoch: u32) {
        if F::FAULTS && self.insts[inst as usize].epoch != epoch {
            // The consumer crashed while its ack was on the wire: the ack
            // died with the connection. The broker requeues the delivery as
            // for any other unacked delivery of a crashed consumer.
            let qi = self.copies[c].queue as usize;
            if self.copies[c].state == CState::InFlight && self.copies[c].delivery == delivery {
                self.copies[c].dup_cause = Cause::ConsumerCrash;
                if self.m.queues[qi].crash_requeue_immediate && self.broker_up {
                    self.cancelled();
                    self.redeliver(c, Cause::ConsumerCrash);
                } else if F::LEASES {
                    self.crash_return_later(c, delivery);
                }
            }
            return;
        }
        let cp = &self.copies[c];
        let broker_up = !F::FAULTS || self.broker_up;
        let valid = broker_up && cp.state == CState::InFlight && cp.delivery == delivery;
        if !valid {
            let qi = cp.queue as usize;
            if broker_up && kind == AckKind::Ack && self.m.queues[qi].late_ack_settles {
                self.late_ack(c);
            } else if self.msgs[self.copies[c].msg].in_window {
                self.stats.stale_acks += 1;
            }
            return;
        }
        if self.tracing() {
            let what = match kind {
                AckKind::Ack => "acked",
                AckKind::Requeue => "nacked (requeue)",
                AckKind::RejectRequeue => "rejected (requeue)",
                AckKind::Delay(_) => "nacked (delayed retry)",
                AckKind::Reject(_) => "rejected",
            };
            self.trace(c, what, "", None);
        }
        match kind {
            AckKind::Ack => {
                self.copy_gone(c, st::IN_FLIGHT, st::ACKED);
                self.cancelled();
            }
            AckKind::Requeue => {
                self.cancelled();
                self.count_return(c);
                self.redeliver(c, Cause::None);
            }
            AckKind::RejectRequeue => {
                self.cancelled();
                self.redeliver(c, Cause::None);
            }
            AckKind::Delay(d) => {
                self.cancelled();
                self.count_return(c);
                self.delay(c, d);
            }
            AckKind::Reject(reason) => {
                self.cancelled();
                self.dead_letter(c, reason, st::IN_FLIGHT);
            }
        }
    }

    /// Puts copy `c` back for another delivery, or dead-letters it at the
    /// delivery limit.
    fn redeliver(&mut self, c: u32, cause: Cause) {
        self.trace(c, "requeued for redelivery", cause.name(), None);
        let qi = self.copies[c].queue as usize;
        if cause != Cause::None && self.copies[c].dup_cause == Cause::None {
            self.copies[c].dup_cause = cause;
        }
        if self.at_limit(c) {
            return;
        }
        self.stats_transition(c, st::IN_FLIGHT, st::QUEUED);
        // A RabbitMQ quorum queue without a delivery limit returns a
        // nacked message to the back (near the head with a limit).
        let to_back = F::LEASES && cause == Cause::None && self.m.queues[qi].nack_to_back;
        self.enqueue_ready(c, !to_back);
        self.dispatch(qi);
    }

    /// True (and the copy dead-lettered) when it reached the delivery limit.
    fn at_limit(&mut self, c: u32) -> bool {
        let qm = &self.m.queues[self.copies[c].queue as usize];
        let cp = &self.copies[c];
        let counted = if F::LEASES {
            cp.deliveries - cp.uncounted
        } else {
            cp.deliveries
        };
        if qm.max_deliveries.is_some_and(|m| counted >= m) {
            let reason = if qm.at_limit_stays {
                Cause::MaxDeliveriesParked
            } else {
                Cause::MaxDeliveries
            };
            self.dead_letter(c, reason, st::IN_FLIGHT);
            return true;
        }
        false
    }

    fn delay(&mut self, c: u32, d: Nanos) {
        if self.at_limit(c) {
            return;
        }
        let qi = self.copies[c].queue as usize;
        self.stats_transition(c, st::IN_FLIGHT, st::WAITING_RETRY);
        let g = self.new_gen(c);
        self.copies[c].state = CState::Delayed;
        self.queues[qi].delayed += 1;
        self.q.schedule_in(d, Ev::RetryDue { copy: c, gen: g });
    }

    fn on_retry_due(&mut self, c: u32, gen: u32) {
        if self.copies.slot(c).gen != gen {
            return;
        }
        let qi = self.copies[c].queue as usize;
        self.queues[qi].delayed -= 1;
        self.stats_transition(c, st::WAITING_RETRY, st::QUEUED);
        self.enqueue_ready(c, false);
        self.dispatch(qi);
    }

    fn on_ack_deadline(&mut self, c: u32, gen: u32) {
        if self.copies.slot(c).gen != gen || self.copies[c].state != CState::InFlight {
            return;
        }
        if F::LEASES && self.lease_deadline(c, gen) {
            return;
        }
        self.trace(c, "ack timeout: visible again", "", None);
        self.redeliver(c, Cause::AckTimeout);
    }

    /// SQS StartMessageMoveTask: moves the oldest dead-lettered message back
    /// to the tail of its source queue, as a new message (receive count 0),
    /// at the task's rate.
    fn on_redrive(&mut self, qi: usize) {
        let Some((_, rate)) = self.m.queues[qi].redrive else {
            return;
        };
        while let Some((c, g)) = self.queues[qi].dlq.pop_front() {
            let x = self.copies.slot(c);
            if x.gen != g || x.vacant() || x.state != CState::DeadLetter {
                continue;
            }
            let mi = self.copies[c].msg;
            self.msgs[mi].parked -= 1;
            if self.msgs[mi].redrives >= MAX_REDRIVES {
                // Redriven often enough: it stays dead-lettered for good.
                self.retire_parked(c);
                continue;
            }
            self.msgs[mi].redrives += 1;
            self.copies[c].deliveries = 0;
            self.copies[c].uncounted = 0;
            self.copies[c].attempts = 0;
            self.copies[c].dup_cause = Cause::Redrive;
            self.enqueue_ready(c, false);
            self.dispatch(qi);
            break;
        }
        if self.queues[qi].dlq.is_empty() {
            self.queues[qi].redrive_ticking = false;
        } else {
            self.q.schedule_in(
                crate::time::secs_to_ns(1.0 / rate).max(1),
                Ev::Redrive { queue: qi as u32 },
            );
        }
    }

    /// Ends a copy parked in a dead-letter queue that will not be redriven
    /// again: its transition to dead-lettered was counted when it was parked.
    fn retire_parked(&mut self, c: u32) {
        let mi = self.copies[c].msg;
        let cp = &mut self.copies[c];
        cp.gen = cp.gen.wrapping_add(1);
        cp.state = CState::Gone;
        if cp.holders == 0 {
            self.copies.remove(c);
        }
        self.msg_unref(mi);
    }

    /// An ack from an earlier delivery reaches a broker that settles by
    /// message, not by delivery (NATS JetStream: the ack names the stream
    /// sequence). A copy still pending, in flight again or waiting for its
    /// redelivery, is acked; a later delivery's holder still processes it
    /// (a duplicate) and its own ack finds the copy gone.
    #[cold]
    #[inline(never)]
    fn late_ack(&mut self, c: u32) {
        let qi = self.copies[c].queue as usize;
        match self.copies[c].state {
            CState::InFlight => {
                self.trace(c, "acked (late ack of an earlier delivery)", "", None);
                self.copy_gone(c, st::IN_FLIGHT, st::ACKED);
                self.cancelled();
            }
            CState::Ready => {
                self.trace(c, "acked (late ack of an earlier delivery)", "", None);
                let now = self.q.now();
                self.stats.advance(qi, now);
                self.queues[qi].ready_len -= 1;
                self.stats.queues[qi].ready -= 1;
                self.end_visit(qi, c);
                self.copy_gone(c, st::QUEUED, st::ACKED);
            }
            _ => {
                if self.msgs[self.copies[c].msg].in_window {
                    self.stats.stale_acks += 1;
                }
            }
        }
    }

    fn on_ttl_expire(&mut self, c: u32, gen: u32) {
        if self.copies.slot(c).gen != gen || self.copies[c].state != CState::Ready {
            return;
        }
        let qi = self.copies[c].queue as usize;
        let now = self.q.now();
        self.stats.advance(qi, now);
        self.queues[qi].ready_len -= 1;
        self.stats.queues[qi].ready -= 1;
        self.end_visit(qi, c);
        self.expire(c);
    }

    fn expire(&mut self, c: u32) {
        self.trace(c, "expired", "", None);
        let mi = self.copies[c].msg;
        self.msgs[mi].flags |= F_EXPIRED;
        self.copy_gone(c, st::QUEUED, st::EXPIRED);
    }

    fn dead_letter(&mut self, c: u32, reason: Cause, from: usize) {
        self.trace(c, "dead-lettered", reason.name(), None);
        let qi = self.copies[c].queue as usize;
        let mi = self.copies[c].msg;
        if self.m.queues[qi].dead_letter || self.m.queues[qi].at_limit_stays {
            self.msgs[mi].flags |= F_DLQ;
            if self.msgs[mi].dlq_reason == Cause::None {
                self.msgs[mi].dlq_reason = reason;
            }
            self.queues[qi].dead_lettered_total += 1;
            if self.msgs[mi].in_window {
                self.stats.queues[qi].dead_lettered += 1;
            }
            if let Some((start, _)) = self.m.queues[qi]
                .redrive
                .filter(|_| self.m.queues[qi].dead_letter)
            {
                // Kept in the dead-letter queue for the redrive task.
                self.stats_transition(c, from, st::DEAD_LETTERED);
                self.lane_leave(c);
                let g = self.new_gen(c);
                self.copies[c].state = CState::DeadLetter;
                self.msgs[mi].parked += 1;
                self.queues[qi].dlq.push_back((c, g));
                if !self.queues[qi].redrive_ticking {
                    self.queues[qi].redrive_ticking = true;
                    self.q
                        .schedule(start.max(self.q.now()), Ev::Redrive { queue: qi as u32 });
                }
            } else {
                self.copy_gone(c, from, st::DEAD_LETTERED);
            }
        } else {
            self.copy_lost(c, Cause::DroppedAtLimit, from);
        }
    }

    fn copy_lost(&mut self, c: u32, cause: Cause, from: usize) {
        self.trace(c, "lost", cause.name(), None);
        let mi = self.copies[c].msg;
        self.msgs[mi].flags |= F_LOST;
        if self.msgs[mi].lost_cause == Cause::None
            || self.msgs[mi].flags & (F_ACKED | F_DLQ | F_EXPIRED) == 0
        {
            self.msgs[mi].lost_cause = cause;
        }
        self.lost_total += 1;
        self.copy_gone(c, from, st::LOST);
    }

    /// Copy `c` leaves the broker for good.
    #[inline(always)]
    fn copy_gone(&mut self, c: u32, from: usize, to: usize) {
        let cp = &self.copies[c];
        let (mi, qi) = (cp.msg, cp.queue as usize);
        if self.msgs[mi].in_window {
            self.stats.transition(from, to);
        }
        if F::KEYS && !self.queues[qi].lanes.is_empty() {
            self.lane_leave_keyed(qi, c);
        }
        let cp = &mut self.copies[c];
        cp.gen = cp.gen.wrapping_add(1);
        debug_assert!(cp.state != CState::Gone, "a copy ended twice");
        cp.state = CState::Gone;
        let free = cp.holders == 0;
        if free {
            self.copies.remove(c);
        }
        self.msg_unref(mi);
    }

    /// Ends message `mi` when nothing refers to it any more.
    #[inline(always)]
    fn check_finish(&mut self, mi: u32) {
        // A message may already have ended inside the call that led here.
        if self.msgs.get(mi).is_none_or(|m| m.live > 0) {
            return;
        }
        self.finish_msg(mi);
    }

    /// Ends message `mi`: counts its outcome and frees its record.
    #[inline(always)]
    fn finish_msg(&mut self, mi: u32) {
        let m = &self.msgs[mi];
        if m.in_window {
            Self::classify(&mut self.stats, m, false);
        }
        self.msgs.remove(mi);
    }

    /// Counts a message's outcome. Each message lands in exactly one class:
    /// acked > in flight > dead-lettered > expired > lost > rejected. The
    /// common outcome, acked, is counted inline; the others out of line.
    #[inline(always)]
    fn classify(s: &mut Collector, m: &Msg, at_end: bool) {
        if m.flags & F_ACKED != 0 {
            s.acked += 1;
            if m.flags & F_DLQ != 0 {
                // Processed, but its acks came too late: the broker
                // dead-lettered it as well. It counts as acked.
                s.processed_then_dead_lettered += 1;
            }
        } else {
            Self::classify_unacked(s, m, at_end);
        }
        s.max_attempts = s.max_attempts.max(m.attempts as u64);
    }

    #[inline(never)]
    fn classify_unacked(s: &mut Collector, m: &Msg, at_end: bool) {
        if at_end && m.live > m.parked {
            s.in_flight += 1;
        } else if m.flags & F_DLQ != 0 {
            s.dead_letter(if m.dlq_reason == Cause::None {
                "unknown"
            } else {
                m.dlq_reason.name()
            });
        } else if m.flags & F_EXPIRED != 0 {
            s.expired += 1;
        } else if m.flags & F_REJECTED != 0 {
            s.rejected += 1;
        } else {
            s.lost(if m.lost_cause == Cause::None {
                "unknown"
            } else {
                m.lost_cause.name()
            });
            if m.flags & F_GAVE_UP != 0 {
                s.lost_detected += 1;
            }
        }
    }
}

impl<'m, F: Features> Sim<'m, F> {
    /// Records a step of a traced message (nothing when no message is traced).
    #[inline(always)]
    fn trace(&mut self, c: u32, event: &'static str, detail: &str, duration_ns: Option<Nanos>) {
        if self.tracing() {
            self.trace_record(c, event, detail, duration_ns);
        }
    }

    #[inline(never)]
    fn trace_record(
        &mut self,
        c: u32,
        event: &'static str,
        detail: &str,
        duration_ns: Option<Nanos>,
    ) {
        let Some(cp) = self.copies.get(c) else { return };
        let Some(m) = self.msgs.get(cp.msg) else {
            return;
        };
        if self.trace_ids.binary_search(&m.id).is_err() {
            return;
        }
        let (id, serial, queue) = (m.id, cp.serial, cp.queue as usize);
        let copy = self.trace_copy_number(id, serial);
        self.trace.push(TraceEvent {
            time_s: crate::time::ns_to_secs(self.q.now()),
            message: id,
            event,
            queue: self.m.queues[queue].name.clone(),
            copy,
            duration_s: duration_ns.map(crate::time::ns_to_secs),
            detail: detail.to_string(),
        });
    }

    /// The number a traced message's copy goes by: its copies counted from
    /// 0 in the order they first appear in the trace, so that a wire
    /// duplicate (which shares its publish's network serial) and every
    /// pipeline stage's copy has its own.
    fn trace_copy_number(&mut self, id: u64, serial: u32) -> u32 {
        let next = self.trace_copies.range((id, 0)..=(id, u32::MAX)).count() as u32;
        *self.trace_copies.entry((id, serial)).or_insert(next)
    }

    /// Records a step of a traced message at its producer (publishes,
    /// confirms, timeouts, republishes).
    #[inline(never)]
    fn trace_producer(&mut self, mi: u32, event: &'static str, publish: u32, detail: String) {
        let p = self.msgs[mi].producer as usize;
        let place = format!("producer:{}", self.m.producers[p].name);
        let before = self.trace.len();
        self.trace_msg(mi, event, || place, || detail, None);
        // The copy a publish makes at the broker carries its number.
        if before < self.trace.len() {
            let id = self.msgs[mi].id;
            let copy = self.trace_copy_number(id, publish);
            self.trace[before].copy = copy;
        }
    }

    /// Records a step of a traced topic record (no broker copy: the place
    /// is `topic[partition]` or the group).
    fn trace_msg(
        &mut self,
        mi: u32,
        event: &'static str,
        place: impl FnOnce() -> String,
        detail: impl FnOnce() -> String,
        duration_ns: Option<Nanos>,
    ) {
        if !self.tracing() {
            return;
        }
        let Some(m) = self.msgs.get(mi) else { return };
        if self.trace_ids.binary_search(&m.id).is_err() {
            return;
        }
        self.trace.push(TraceEvent {
            time_s: crate::time::ns_to_secs(self.q.now()),
            message: m.id,
            event,
            queue: place(),
            copy: 0,
            duration_s: duration_ns.map(crate::time::ns_to_secs),
            detail: detail(),
        });
    }

    // ------------------------------------------------------------------- faults

    fn on_fault_start(&mut self, fi: usize, u: usize) {
        let now = self.q.now();
        let f = &self.m.faults[fi];
        let units = self.fault_units(fi);
        let unit_id = units[u];
        let length = match &f.timing {
            FaultTiming::Window { length_ns, .. } => *length_ns,
            FaultTiming::Random { mttr, .. } => mttr.sample(&mut self.fault_rng[fi]),
        };
        self.fault_open[fi][u] = now;
        match f.kind {
            FaultKind::ConsumerCrash => self.crash_consumer(unit_id),
            FaultKind::BrokerCrash => self.crash_broker(f.process_only),
            FaultKind::ProducerCrash => self.crash_producer(unit_id as usize),
            FaultKind::DependencyOutage => {
                let gs = &mut self.groups[unit_id as usize];
                gs.outage_failure = f.failure;
                gs.slowdown = f.slowdown;
            }
            FaultKind::Partition => self.set_partition(fi, true),
            FaultKind::LoadSpike => self.prods[unit_id as usize].rate_factor *= f.factor,
        }
        self.q.schedule_in(
            length,
            Ev::FaultEnd {
                fault: fi as u32,
                unit: u as u32,
            },
        );
    }

    fn on_fault_end(&mut self, fi: usize, u: usize) {
        let now = self.q.now();
        let f = &self.m.faults[fi];
        let units = self.fault_units(fi);
        let unit_id = units[u];
        match f.kind {
            FaultKind::ConsumerCrash => self.restart_consumer(unit_id),
            FaultKind::BrokerCrash => self.restart_broker(),
            FaultKind::ProducerCrash => {
                self.prods[unit_id as usize].up = true;
                if self.m.producers[unit_id as usize].outbox {
                    self.relay_outbox(unit_id as usize);
                }
            }
            FaultKind::DependencyOutage => {
                let gs = &mut self.groups[unit_id as usize];
                gs.outage_failure = 0.0;
                gs.slowdown = 1.0;
            }
            FaultKind::Partition => self.set_partition(fi, false),
            FaultKind::LoadSpike => {
                let ps = &mut self.prods[unit_id as usize];
                ps.rate_factor /= f.factor;
                if (ps.rate_factor - 1.0).abs() < 1e-12 {
                    ps.rate_factor = 1.0; // no drift after overlapping spikes
                }
            }
        }
        let target = match f.kind {
            FaultKind::ConsumerCrash => {
                let g = self.insts[unit_id as usize].group as usize;
                let k = self.group_insts[g]
                    .iter()
                    .position(|&x| x == unit_id)
                    .unwrap_or(0);
                format!("consumer:{}#{}", self.m.groups[g].name, k)
            }
            FaultKind::ProducerCrash | FaultKind::LoadSpike => {
                format!("producer:{}", self.m.producers[unit_id as usize].name)
            }
            FaultKind::DependencyOutage => {
                format!("consumer:{}", self.m.groups[unit_id as usize].name)
            }
            _ => f.label.clone(),
        };
        self.faults_total += 1;
        if self.faults.len() < FAULT_RECORDS_KEPT {
            self.faults.push(FaultRecord {
                kind: f.kind.name().into(),
                start: crate::time::ns_to_secs(self.fault_open[fi][u]),
                end: crate::time::ns_to_secs(now),
                target,
            });
        }
        if let FaultTiming::Random { mtbf_ns, .. } = self.m.faults[fi].timing {
            let t = self.exp_draw_fault(fi, mtbf_ns);
            if t < self.end_arrivals_ns {
                self.q.schedule(
                    t,
                    Ev::FaultStart {
                        fault: fi as u32,
                        unit: u as u32,
                    },
                );
            }
        }
    }

    fn set_partition(&mut self, fi: usize, on: bool) {
        let f = &self.m.faults[fi];
        let Some(t) = f.target else { return };
        let is_consumer = f.label.starts_with("consumer:");
        if is_consumer {
            for i in self.group_insts[t].clone() {
                self.insts[i as usize].partitioned = on;
                self.refill_credits(i);
            }
            let qi = self.m.groups[t].queue;
            self.dispatch(qi);
        } else {
            self.prods[t].partitioned = on;
            if !on && self.m.producers[t].topic.is_some() {
                self.flush_log_buffer(t);
            }
        }
    }

    fn crash_consumer(&mut self, i: u32) {
        let now = self.q.now();
        let inst = &mut self.insts[i as usize];
        if !inst.up {
            return;
        }
        inst.up = false;
        inst.epoch = inst.epoch.wrapping_add(1);
        inst.credit_epoch = inst.credit_epoch.wrapping_add(1);
        let g = inst.group as usize;
        let k = self.group_insts[g]
            .iter()
            .position(|&x| x == i)
            .unwrap_or(0);
        self.group_down_since[g][k] = now;
        if self.m.groups[g].log.is_some() {
            self.log_crash(i);
            return;
        }
        let qi = self.m.groups[g].queue;
        let auto = self.m.groups[g].ack_on_receive;
        let working: Vec<(u32, u32, Nanos)> = inst.working.drain(..).collect();
        let mut buffered: Vec<(u32, u32, Nanos)> = inst.buffer.drain(..).collect();
        let incoming: Vec<(u32, u32, Nanos)> = inst.incoming.drain(..).collect();
        self.stats.advance(qi, now);
        self.stats.queues[qi].busy -= inst.busy as u64;
        inst.busy = 0;
        let held = inst.held as u64;
        inst.held = 0;
        inst.acks_on_wire = 0;
        self.stats.queues[qi].held -= held;
        buffered.extend(self.reseq_take(i));
        if self.tracing() {
            for &(c, _, _) in &working {
                self.trace(c, "attempt cut short (consumer crash)", "", None);
            }
            for &(c, _, _) in buffered.iter().chain(incoming.iter()) {
                self.trace(c, "consumer crashed holding it", "", None);
            }
        }
        for (c, d, visit_start) in working
            .iter()
            .chain(buffered.iter())
            .chain(incoming.iter())
            .copied()
        {
            let in_window = self.msgs[self.copies[c].msg].in_window;
            self.stats.end_visit(qi, visit_start, now, in_window);
            if auto {
                if self.copies[c].state == CState::Consumer {
                    self.copy_lost(c, Cause::AutoAckCrash, st::IN_FLIGHT);
                }
            } else if self.copies[c].state == CState::InFlight && self.copies[c].delivery == d {
                self.copies[c].dup_cause = Cause::ConsumerCrash;
                if self.m.queues[qi].crash_requeue_immediate {
                    self.cancelled();
                    self.redeliver(c, Cause::ConsumerCrash);
                } else if F::LEASES {
                    self.crash_return_later(c, d);
                }
            }
        }
        // Deliveries still on the wire keep their hold until they arrive
        // (and find the epoch changed); the others are released now.
        for (c, _, _) in working.iter().chain(buffered.iter()).copied() {
            self.unhold(c);
        }
        self.dispatch(qi);
    }

    fn restart_consumer(&mut self, i: u32) {
        let now = self.q.now();
        let inst = &mut self.insts[i as usize];
        if inst.up {
            return;
        }
        inst.up = true;
        inst.up_since_ns = now;
        let g = inst.group as usize;
        let k = self.group_insts[g]
            .iter()
            .position(|&x| x == i)
            .unwrap_or(0);
        let since = self.group_down_since[g][k].max(self.stats.window_start);
        let to = now.min(self.stats.window_end);
        if to > since {
            self.stats.group_up_ns[g].0 += (to - since) as u128;
        }
        if self.is_log_inst(i) {
            self.log_restart(i);
            return;
        }
        self.refill_credits(i);
        let qi = self.m.groups[g].queue;
        self.dispatch(qi);
    }

    fn crash_producer(&mut self, p: usize) {
        if !self.prods[p].up {
            return;
        }
        self.prods[p].up = false;
        self.prods[p].epoch = self.prods[p].epoch.wrapping_add(1);
        if self.m.producers[p].topic.is_some() {
            self.log_producer_crash(p);
            return;
        }
        if self.m.producers[p].outbox {
            return; // the outbox keeps every unconfirmed message (traced when relayed)
        }
        let pending: Vec<u32> = self
            .msgs
            .iter()
            .filter(|(_, m)| m.producer as usize == p && m.producer_holds && !m.confirmed)
            .map(|(i, _)| i)
            .collect();
        for mi in pending {
            if self.tracing() {
                let publish = self.msgs[mi].publishes.saturating_sub(1);
                self.trace_producer(
                    mi,
                    "producer crashed before its confirm",
                    publish,
                    String::new(),
                );
            }
            self.msgs[mi].lost_cause = Cause::ProducerCrash;
            self.msgs[mi].live += 1; // keep it while we release
            self.release_producer(mi);
            self.msgs[mi].live -= 1;
            if self.msgs[mi].live == 0 && self.msgs[mi].flags == 0 {
                self.msgs[mi].flags |= F_LOST;
            }
            self.check_finish(mi);
        }
    }

    /// The broker crashes. `process_only`: a SIGKILL of its process, after
    /// which the operating system's page cache still holds what was written
    /// but not fsynced; otherwise the machine went down (power, kernel) and
    /// took the fsync window with it.
    fn crash_broker(&mut self, process_only: bool) {
        let now = self.q.now();
        if !self.broker_up {
            return;
        }
        self.broker_up = false;
        self.broker_epoch = self.broker_epoch.wrapping_add(1);
        // Which copies the disk has: durable queue, persistent message, and
        // accepted before the last fsync.
        let at_broker: Vec<u32> = self
            .copies
            .iter()
            .filter(|(_, c)| matches!(c.state, CState::Ready | CState::InFlight | CState::Delayed))
            .map(|(i, _)| i)
            .collect();
        for qi in 0..self.queues.len() {
            self.stats.advance(qi, now);
            self.lanes_clear(qi);
            self.queues[qi].ready.clear();
            self.queues[qi].ready_len = 0;
            self.stats.queues[qi].ready = 0;
            self.queues[qi].credits.clear();
            self.queues[qi].delayed = 0;
        }
        for c in at_broker {
            let qm = &self.m.queues[self.copies[c].queue as usize];
            let fsync = qm.fsync_ns;
            let qi = self.copies[c].queue as usize;
            let last_fsync = if fsync == 0 {
                now
            } else {
                self.next_fsync(qi, now).saturating_sub(fsync)
            };
            let from = match self.copies[c].state {
                CState::Ready => st::QUEUED,
                CState::Delayed => st::WAITING_RETRY,
                _ => st::IN_FLIGHT,
            };
            let survives = qm.durable
                && self.copies[c].persistent
                && (process_only || self.copies[c].accepted_ns <= last_fsync);
            if survives {
                if from == st::IN_FLIGHT {
                    self.copies[c].dup_cause = Cause::BrokerCrash;
                }
                self.trace(c, "broker crashed: kept on disk", "", None);
                self.new_gen(c);
                self.copies[c].state = CState::Parked;
                self.broker_parked.push(c);
            } else {
                self.copy_lost(c, Cause::BrokerCrash, from);
            }
        }
    }

    fn restart_broker(&mut self) {
        self.broker_up = true;
        let mut parked = std::mem::take(&mut self.broker_parked);
        if self.queues.iter().any(|q| !q.lanes.is_empty()) {
            // A FIFO queue keeps its order across a restart: survivors go
            // back in the order the broker accepted them.
            parked.sort_by_key(|&c| self.copies.get(c).map_or(0, |x| x.accepted_ns));
        }
        for c in parked {
            if self
                .copies
                .get(c)
                .is_some_and(|x| x.state == CState::Parked)
            {
                self.trace(c, "broker restarted: ready again", "", None);
                self.enqueue_ready(c, false);
            }
        }
        // Queue consumers get fresh credits; members of a topic's consumer
        // group have none (they poll their partitions).
        for qi in 0..self.queues.len() {
            for i in self.group_insts_of_queue(qi) {
                self.refill_credits(i);
            }
        }
        for qi in 0..self.queues.len() {
            self.dispatch(qi);
        }
        if F::TOPICS {
            self.log_broker_restart();
        }
    }

    // --------------------------------------------------------------- sampling

    fn on_sample(&mut self) {
        let now = self.q.now();
        let (lat, n) = self.stats.take_interval_latency();
        for qi in 0..self.queues.len() {
            let s = Sample {
                time_s: crate::time::ns_to_secs(now),
                queue: qi,
                ready: self.queues[qi].ready_len,
                in_flight: self.stats.queues[qi].held,
                waiting_retry: self.queues[qi].delayed,
                dead_lettered: self.queues[qi].dead_lettered_total,
                acked: self.completions_total,
                lost: self.lost_total,
                latency_mean_s: lat,
                completions: n,
            };
            self.stats.samples.push(s);
        }
        self.log_sample(crate::time::ns_to_secs(now), lat);
        let next = now.saturating_add(self.m.sample_interval_ns);
        if next <= self.end_ns {
            self.q.schedule(next, Ev::Sample);
        }
    }

    /// Closes the books: messages still alive are in flight; the queue areas
    /// are brought up to the end of the window; conservation is checked.
    pub fn finish(mut self, stopped_early: bool) -> RunOutput {
        self.stats.close_latency();
        let now = self.q.now();
        let end = now.max(self.end_arrivals_ns.min(self.end_ns));
        for qi in 0..self.queues.len() {
            self.stats.advance(qi, end);
            let open: Vec<Nanos> = self.queues[qi]
                .lanes
                .iter()
                .filter(|l| l.n_waiting > 0)
                .map(|l| l.blocked_since_ns)
                .collect();
            for since in open {
                self.add_key_blocked(qi, since, end);
            }
        }
        self.log_finish(end);
        // Instances still down: their downtime counts up to the window end.
        for g in 0..self.m.groups.len() {
            for (k, &i) in self.group_insts[g].clone().iter().enumerate() {
                if !self.insts[i as usize].up {
                    let since = self.group_down_since[g][k].max(self.stats.window_start);
                    let to = end.min(self.stats.window_end);
                    if to > since {
                        self.stats.group_up_ns[g].0 += (to - since) as u128;
                    }
                }
            }
            let span = self
                .stats
                .window_end
                .min(end)
                .saturating_sub(self.stats.window_start) as u128;
            self.stats.group_up_ns[g].1 = span * self.m.groups[g].count as u128;
        }
        let alive: Vec<Msg> = self
            .msgs
            .iter()
            .filter(|(_, m)| m.in_window)
            .map(|(_, m)| m.clone())
            .collect();
        for m in &alive {
            Self::classify(&mut self.stats, m, true);
        }
        let s = &self.stats;
        let accounted = s.rejected + s.acked + s.dead_lettered + s.lost + s.expired + s.in_flight;
        assert_eq!(
            s.published, accounted,
            "conservation broken: published {} != rejected {} + acked {} + dead-lettered {} + lost {} + expired {} + in flight {}",
            s.published, s.rejected, s.acked, s.dead_lettered, s.lost, s.expired, s.in_flight
        );
        RunOutput {
            events: self.q.processed(),
            messages_created: self.next_msg_id,
            end_ns: end,
            faults: std::mem::take(&mut self.faults),
            faults_total: self.faults_total,
            trace: std::mem::take(&mut self.trace),
            stats: self.stats,
            stopped_early,
        }
    }
}
