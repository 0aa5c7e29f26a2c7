//! The events of the one event queue, and how an ack travels on it.
//! Events are copied in and out of the queue's heap: their size is asserted.

use super::*;

#[derive(Clone, Copy, Debug)]
pub(super) enum Ev {
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
    /// `commit = "transactional"`: the commit timer of an instance's open
    /// transaction.
    LogTxnCommit {
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
    /// A member's stop-the-world pause has lasted its session timeout (or,
    /// idle, its poll interval): if it still runs, the member leaves.
    LogPauseCheck {
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
    /// An autoscaler reads its metric and scales its group.
    AutoscalePoll {
        group: u32,
    },
    /// An instance an autoscaler started is through its start-up.
    InstanceReady {
        inst: u32,
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
    /// An `after-ack` handler makes its write, the broker having taken its
    /// ack (unless the instance crashed since: then the write is lost).
    SideEffectWrite {
        msg: u32,
        queue: u32,
        inst: u32,
        epoch: u32,
    },
}

// Events are copied in and out of the event queue's heap: keep them small.
const _: () = assert!(std::mem::size_of::<Ev>() == 32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AckKind {
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
pub(super) enum AckCode {
    Ack,
    Requeue,
    RejectRequeue,
    Delay,
    Reject(Cause),
}

impl AckKind {
    pub(super) fn encode(self) -> (AckCode, Nanos) {
        match self {
            AckKind::Ack => (AckCode::Ack, 0),
            AckKind::Requeue => (AckCode::Requeue, 0),
            AckKind::RejectRequeue => (AckCode::RejectRequeue, 0),
            AckKind::Delay(d) => (AckCode::Delay, d),
            AckKind::Reject(r) => (AckCode::Reject(r), 0),
        }
    }

    pub(super) fn decode(code: AckCode, delay_ns: Nanos) -> AckKind {
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
pub(super) enum Settle {
    /// The worker keeps the delivery (an in-handler retry).
    Kept,
    /// Settled at once (an ack on an instant wire, an auto-acked copy), or
    /// never by this consumer (an ack lost on the wire or cut off by a
    /// partition, a failure left to the ack timeout): the slot frees now.
    Now,
    /// The ack is on the wire: the slot frees when it reaches the broker.
    OnArrival,
    /// A delayed retry the broker applied at once and whose slot it keeps
    /// until the retry is due (`delay_keeps_slot`: JetStream NakWithDelay).
    SlotKept,
}
