//! The closed sets of words a scenario takes (`kind = "partition"`,
//! `overflow = "drop-head"`): each declared once, as an enum with its
//! words, and that one declaration gives the type the model matches on
//! (so the compiler checks every match, and no `_ =>` arm can turn an
//! unknown word into some variant), the word list the validator, the
//! schema and the property generators read, parsing with a suggestion for
//! a misspelt word, and serde (the same strings on the wire: a scenario
//! written out reads back the same).

use crate::words::keywords;

keywords! {
    /// What a `[[fault]]` does.
    pub enum FaultKind {
        ConsumerCrash = "consumer-crash",
        BrokerCrash = "broker-crash",
        ProducerCrash = "producer-crash",
        DependencyOutage = "dependency-outage",
        Partition = "partition",
        LoadSpike = "load-spike",
        /// The instances of a group (or a producer) restart one after another.
        RollingRestart = "rolling-restart",
        /// An instance stops processing (stop-the-world) without crashing.
        GcPause = "gc-pause",
    }
}

keywords! {
    /// The broker `mqsim check --live` starts for a scenario (`[live]`).
    pub enum LiveBroker {
        Nats = "nats",
        Rabbitmq = "rabbitmq",
    }
}

keywords! {
    /// What a full queue does with one more message.
    pub enum Overflow {
        RejectPublish = "reject-publish",
        DropHead = "drop-head",
        DeadLetter = "dead-letter",
    }
}

keywords! {
    /// When a producer's publish counts as taken.
    pub enum Confirm {
        None = "none",
        OnAccept = "on-accept",
        AfterFsync = "after-fsync",
    }
}

keywords! {
    /// What a queue consumer does with a failed delivery.
    pub enum RetryMode {
        Requeue = "requeue",
        /// `basic.reject(requeue=true)`: as `Requeue`, but counted toward a
        /// RabbitMQ 4.3 quorum queue's delivery limit.
        RejectRequeue = "reject-requeue",
        Delay = "delay",
        RetryQueues = "retry-queues",
        InHandler = "in-handler",
        AckTimeout = "ack-timeout",
        None = "none",
    }
}

keywords! {
    /// Offset commit modes of a consumer group.
    pub enum CommitMode {
        /// Commit the processed position after each poll's records.
        AfterProcessing = "after-processing",
        /// A timer commits the fetched position every interval (librdkafka's
        /// auto-commit with the offset stored at delivery).
        Auto = "auto",
        /// The Java client's auto-commit: each poll, once
        /// `auto_commit_interval` has passed, commits the offsets the
        /// previous poll returned (all processed by then, with processing
        /// inside the poll loop).
        AutoInPoll = "auto-in-poll",
        /// Commit the fetched position right after the poll (at most once).
        BeforeProcessing = "before-processing",
        /// Kafka's transactional read-process-write: the processed offsets
        /// and the records produced to `publish_to` commit atomically every
        /// `transaction_ns`; a crash aborts the open transaction.
        Transactional = "transactional",
    }
}

keywords! {
    /// How a group hands out partitions when its membership changes.
    pub enum Assignor {
        /// Eager range assignment: every member gives up every partition.
        Range = "range",
        /// Cooperative sticky: members keep what they can; only the
        /// partitions that move pause (two rebalance rounds).
        CooperativeSticky = "cooperative-sticky",
    }
}

keywords! {
    /// The group membership protocol.
    pub enum GroupProtocol {
        /// JoinGroup/SyncGroup with a group-wide barrier.
        Classic = "classic",
        /// KIP-848: the coordinator assigns incrementally through heartbeats.
        Consumer = "consumer",
    }
}

keywords! {
    /// What an autoscaler reads of its group's queue at each poll.
    pub enum ScaleMetric {
        /// Ready messages (SQS `ApproximateNumberOfMessages`, RabbitMQ
        /// `messages_ready`).
        Backlog = "backlog",
        /// Ready plus delivered and not yet settled: everything the group
        /// has still to finish (KEDA's SQS scaler with `scaleOnInFlight`).
        Lag = "lag",
        /// Busy workers over the serving instances' workers, in percent.
        Utilisation = "utilisation",
        /// Delivered and not yet settled.
        InFlight = "in-flight",
    }
}

keywords! {
    /// Which messages a queue's TTL removes.
    pub enum TtlMode {
        /// Only an expired message at the head (RabbitMQ classic queues).
        Head = "head",
        /// Any expired message, wherever it is (SQS retention).
        Anywhere = "anywhere",
    }
}

keywords! {
    /// What a broker crash takes down.
    pub enum CrashScope {
        /// Power or kernel: what was not yet fsynced is lost.
        Machine = "machine",
        /// SIGKILL: the page cache keeps what was written.
        Process = "process",
    }
}

keywords! {
    /// Which records of transactional producers a topic consumer reads
    /// (Kafka's `isolation.level`).
    pub enum Isolation {
        ReadUncommitted = "read_uncommitted",
        ReadCommitted = "read_committed",
    }
}

keywords! {
    /// Where a member starts when its offset is gone (`auto.offset.reset`).
    pub enum OffsetReset {
        Latest = "latest",
        Earliest = "earliest",
    }
}

keywords! {
    /// What starts a saga's compensation.
    pub enum SagaTrigger {
        DeadLetter = "dead-letter",
        NonRetryable = "non-retryable",
        Both = "both",
    }
}

keywords! {
    /// The order a saga's compensations are published in.
    pub enum SagaOrder {
        Reverse = "reverse",
        Parallel = "parallel",
    }
}

keywords! {
    /// When a consumer acks a delivery.
    pub enum AckMode {
        /// After the handler succeeds (at least once).
        AfterProcessing = "after-processing",
        /// As it arrives, before the handler runs (auto-ack, at most once).
        OnReceive = "on-receive",
    }
}

keywords! {
    /// When a queue consumer's handler makes its external write relative
    /// to its ack (`side_effect`).
    pub enum SideEffectMode {
        /// Write, then ack: a crash before the ack lands duplicates it.
        BeforeAck = "before-ack",
        /// Ack, then write: a crash after the ack lands loses it.
        AfterAck = "after-ack",
        /// Before the ack, deduplicated by the idempotency store.
        Idempotent = "idempotent",
    }
}

keywords! {
    /// How a topic producer picks a record's partition.
    pub enum Partitioner {
        /// A hash of the message key: one key, one partition, in order.
        Key = "key",
        /// Partitions in turn.
        RoundRobin = "round-robin",
    }
}

keywords! {
    /// How a producer draws its messages' keys.
    pub enum KeyDist {
        /// Every key as likely as every other.
        Uniform = "uniform-keys",
        /// Zipf: a few hot keys (`exponent`).
        Zipf = "zipf-keys",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_read_back_as_their_variants() {
        for kind in FaultKind::ALL {
            assert_eq!(FaultKind::parse(kind.word()), Some(*kind));
        }
        assert_eq!(FaultKind::WORDS.len(), FaultKind::ALL.len());
        assert_eq!(FaultKind::parse("parition"), None);
    }

    #[test]
    fn a_misspelt_word_is_refused_with_the_nearest() {
        #[derive(serde::Deserialize, Debug)]
        struct One {
            #[allow(dead_code)]
            kind: FaultKind,
        }
        let e = toml::from_str::<One>("kind = \"parition\"").unwrap_err();
        assert!(e.to_string().contains("did you mean `partition`?"), "{e}");
        // Not a string: the words it could have been.
        let e = toml::from_str::<One>("kind = 3").unwrap_err();
        assert!(
            e.to_string()
                .contains("\"consumer-crash\", \"broker-crash\""),
            "{e}"
        );
        let ok: One = toml::from_str("kind = \"gc-pause\"").unwrap();
        assert_eq!(ok.kind, FaultKind::GcPause);
    }
}
