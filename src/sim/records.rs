//! The two records the simulator keeps per message: a [`Msg`] is a logical
//! message as the user counts it, a [`Copy`] one broker-level instance of it
//! in one queue. Both live in slabs; their sizes are asserted, since every
//! message in the system holds one of each.
//!
//! Also the message flags and the [`Cause`] of a loss, dead-letter or
//! redelivery.

use super::*;

pub(super) const NONE: u32 = u32::MAX;
/// `Msg::awaiting` while a producer retry of the message is scheduled.
pub(super) const RETRY_PENDING: u32 = u32::MAX - 1;

/// How long a producer takes to learn that the broker refused its
/// connection (client reconnect interval; RabbitMQ's Java client waits 5 s,
/// most clients about 1 s).
pub const RECONNECT_INTERVAL_NS: Nanos = 1_000_000_000;
/// The least time a producer's retry of a rejected publish takes (one
/// round trip), so that retries without backoff against a full queue still
/// let simulated time pass.
pub const MIN_PUBLISH_RETRY_NS: Nanos = 1_000_000;

/// Message flags: what happened to its copies.
pub(super) const F_ACKED: u8 = 1;
pub(super) const F_DLQ: u8 = 2;
pub(super) const F_EXPIRED: u8 = 4;
pub(super) const F_LOST: u8 = 8;
pub(super) const F_REJECTED: u8 = 16;
/// The producer gave up on it (no confirm, no reply, retries spent): a
/// loss it knows of, counted apart from silent ones.
pub(super) const F_GAVE_UP: u8 = 32;
/// Its client timed out and still waits: counted in the retry orbit.
pub(super) const F_ORBIT: u8 = 64;

/// Why a message was lost or dead-lettered, or why a copy may be processed
/// again: one byte in the per-message records, where a `&'static str` took
/// 16. The string is only needed where the cause is counted or traced.
#[repr(u8)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Cause {
    /// No cause recorded (yet).
    #[default]
    None,
    AbortedTransaction,
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
    Expired,
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
    SessionTimeout,
    Skipped,
}

impl Cause {
    /// The name reports and JSON count it under (`""` for `None`).
    pub(super) fn name(self) -> &'static str {
        match self {
            Cause::None => "",
            Cause::AbortedTransaction => "aborted-transaction",
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
            Cause::Expired => "expired",
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
            Cause::SessionTimeout => "session-timeout",
            Cause::Skipped => "skipped",
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct Msg {
    /// Serial number: unique for the whole run (slots are reused, ids not).
    pub(super) id: u64,
    /// Names the message's random streams: (producer, n), so that its fate
    /// does not depend on anything else in the scenario.
    pub(super) key: u64,
    pub(super) publish_ns: Nanos,
    pub(super) producer: u32,
    pub(super) in_window: bool,
    /// Copies alive, publishes on the wire, and producer obligations.
    pub(super) live: u32,
    /// Bit q: processed successfully at queue q at least once.
    pub(super) done_mask: u64,
    pub(super) flags: u8,
    pub(super) lost_cause: Cause,
    pub(super) dlq_reason: Cause,
    pub(super) attempts: u32,
    /// Producer side: publishes made, the one awaited, and its state.
    pub(super) publishes: u32,
    pub(super) awaiting: u32,
    pub(super) producer_holds: bool,
    pub(super) confirmed: bool,
    /// Client timeouts that fired while it waited (publishes 0.. whose
    /// attempt the client gave up on).
    pub(super) timeouts: u16,
    pub(super) first_pub_ns: Nanos,
    pub(super) prev_delay_ns: Nanos,
    /// Copies of it waiting in a dead-letter queue for a redrive.
    pub(super) parked: u32,
    /// The producer's epoch when it last published this message: a publish
    /// still on the wire when the producer crashes dies with it.
    pub(super) pub_epoch: u32,
    /// Message key (`NONE`: no key) and its place among its key's messages.
    pub(super) okey: u32,
    pub(super) kseq: u64,
    /// Consumer groups on a topic that processed it (topic messages).
    pub(super) log_done: u32,
    /// Why it has an extra copy somewhere (the latest): the cause of a
    /// duplicate that the first copy makes when the extra was processed
    /// first.
    pub(super) extra_origin: Cause,
    /// Times a dead-letter redrive moved it back (at most [`MAX_REDRIVES`]).
    pub(super) redrives: u16,
    /// `outcomes::MARK_*`: found poison, touched by a fault.
    pub(super) marks: u8,
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
pub(super) const VACANT: u32 = u32::MAX;

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
pub(super) enum CState {
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
pub(super) struct Copy {
    pub(super) msg: u32,
    pub(super) queue: u32,
    /// Generation of the slot, never reset (kept by the vacant record and
    /// carried over to the slot's next copy): events carry the generation
    /// they expect, so a stale event is recognised even after the slot is
    /// reused.
    pub(super) gen: u32,
    pub(super) state: CState,
    pub(super) deliveries: u32,
    pub(super) delivery: u32,
    pub(super) inst: u32,
    /// Instances holding a delivery of this copy (they may still process it).
    pub(super) holders: u32,
    pub(super) visit_start_ns: Nanos,
    pub(super) accepted_ns: Nanos,
    pub(super) expire_ns: Nanos,
    pub(super) persistent: bool,
    pub(super) attempts: u32,
    pub(super) first_attempt_ns: Nanos,
    pub(super) prev_delay_ns: Nanos,
    /// Index of the copy within its message, for its network streams.
    pub(super) serial: u32,
    /// Hops made so far: names the next hop's network stream. It wraps
    /// after 65,535 hops (a copy redelivered that often reuses streams).
    pub(super) hops: u16,
    /// Why this copy may be processed again (its latest redelivery's root
    /// cause): for duplicates by cause. Cleared when it is processed.
    pub(super) dup_cause: Cause,
    /// Why this copy exists beside another of its message at its queue (a
    /// wire duplicate, a producer's retry), or `None` for the first.
    pub(super) origin: Cause,
    /// Processed successfully at its queue at least once.
    pub(super) processed: bool,
    /// `combine(msg.key, queue)`: names the copy's fate and backoff streams.
    pub(super) fate_key: u64,
    /// `rng::prefix` of its attempt streams (`AttemptFate`, `fate_key`),
    /// computed when the copy is made, long before an attempt waits for it.
    pub(super) attempt_prefix: u64,
    /// Returns that do not count toward the delivery limit (RabbitMQ 4.3:
    /// nacks and consumer timeouts): the limit counts `deliveries - uncounted`.
    pub(super) uncounted: u32,
    /// Its delayed retry keeps the prefetch slot of instance `inst` until
    /// it is due (`delay_keeps_slot`): set where the nack is applied,
    /// cleared where the retry falls due or the broker crashes.
    pub(super) delay_slot_kept: bool,
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
