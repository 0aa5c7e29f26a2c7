//! Presets named after real brokers. Each sets the semantics and defaults of
//! that system at one version (see `../shared/reference/broker-semantics.md`
//! and the README table, which gives the source of every default); every key
//! stays overridable one by one, and the tables a preset fills (`retry`,
//! `extend_lease`) merge key by key with the user's.
//!
//! `preset = "NAME"` follows the latest behaviour the vendor documents;
//! `preset = "NAME@VERSION"` an earlier one where the behaviour changed.

use super::{AckMode, ExtendLease, LeaseCfg, RetryCfg, RetryMode, TtlMode};
use crate::strategy::backoff::{BackoffKind, RetryPolicy};
use crate::time::Duration;

pub const PRESET_NAMES: [&str; 8] = [
    "sqs",
    "rabbitmq-quorum",
    "rabbitmq-classic",
    "kafka-retry-topics",
    "nats-jetstream",
    "pubsub",
    "celery",
    "sidekiq",
];

/// The versions a preset knows, the one it follows by default first. A
/// version asked for matches a known one equal to it or starting with it
/// and a dot: `rabbitmq-quorum@4.2.1` follows 4.2, `sidekiq@7.3` follows 7.
pub fn versions(name: &str) -> &'static [&'static str] {
    match name {
        // The SQS and Pub/Sub APIs carry one version each.
        "sqs" => &["2012-11-05"],
        "pubsub" => &["v1"],
        "rabbitmq-quorum" | "rabbitmq-classic" => &["4.3", "4.2", "4.1", "4.0"],
        // The Kafka client's: session.timeout.ms is 45 s from 3.0, 10 s before.
        "kafka-retry-topics" => &["4", "3", "2"],
        "nats-jetstream" => &["2.12", "2.11", "2.10"],
        "celery" => &["5"],
        "sidekiq" => &["8", "7", "6", "5"],
        _ => &[],
    }
}

/// Splits `NAME@VERSION` (the version may be absent).
pub fn split(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (spec, None),
    }
}

/// The known version that `version` asks for.
fn match_version(name: &str, version: &str) -> Option<&'static str> {
    versions(name).iter().copied().find(|k| {
        version == *k
            || version
                .strip_prefix(k)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// Checks a `preset` value: the name, then the version. The message names
/// what is allowed.
pub fn check(spec: &str) -> Result<(), String> {
    let (name, version) = split(spec);
    if !PRESET_NAMES.contains(&name) {
        let hint = super::load::did_you_mean(name, &PRESET_NAMES);
        return Err(format!(
            "`{name}` is not a preset{hint} (presets: {}; add @VERSION for an earlier version)",
            PRESET_NAMES.join(", ")
        ));
    }
    match version {
        Some(v) if match_version(name, v).is_none() => Err(format!(
            "`{name}` has no version `{v}`: the known versions are {} (the first is the default)",
            versions(name).join(", ")
        )),
        _ => Ok(()),
    }
}

/// What a preset sets. `None` leaves mqsim's own default.
#[derive(Clone, Debug, Default)]
pub struct Preset {
    pub name: &'static str,
    /// The version it follows.
    pub version: &'static str,
    /// The documented behaviour it follows.
    pub follows: &'static str,
    pub ack_timeout: Option<Duration>,
    /// Deliveries in all (`Some(None)`: explicitly unlimited). A RabbitMQ
    /// `delivery-limit` of 20 is 21 deliveries: the message is
    /// dead-lettered when its count *exceeds* the limit.
    pub max_deliveries: Option<Option<u32>>,
    pub dead_letter: Option<bool>,
    /// "dead-letter" or "stay" (NATS: messages at the limit stay in the stream).
    pub at_limit: Option<&'static str>,
    /// "immediate", "ack-timeout", or a duration after the crash.
    pub crash_requeue: Option<&'static str>,
    pub ack: Option<AckMode>,
    pub retry_mode: Option<RetryMode>,
    pub retry: Option<RetryPolicy>,
    pub ttl_mode: Option<TtlMode>,
    pub durable: Option<bool>,
    /// The broker's fsync interval (NATS `sync_interval`).
    pub fsync_interval: Option<Duration>,
    /// Lease extension the client does by itself (Pub/Sub client libraries).
    pub extend_lease: Option<LeaseCfg>,
    /// The longest lease the broker grants from the first receipt (SQS 12 h):
    /// the default `max` of a lease extension the user turns on.
    pub lease_max: Option<Duration>,
    /// Why the broker has no per-message lease, when it has none.
    pub no_lease: Option<&'static str>,
    /// RabbitMQ: with a dead-letter exchange, what the queue itself removes
    /// goes there too: messages past their TTL (reason `expired`) and the
    /// heads a full `drop-head` queue drops (reason `maxlen`).
    pub removals_dead_lettered: bool,
    /// Why an expired message is deleted, not dead-lettered, where the
    /// broker does so (`dead_letter_expired = true` is then refused).
    pub expiry_deletes: Option<&'static str>,
    /// RabbitMQ 4.3: nacks and consumer-timeout returns do not count toward
    /// the delivery limit (rejects and lost connections do).
    pub nacks_uncounted: bool,
    /// RabbitMQ 4.x quorum queues: without a delivery limit a nacked message
    /// goes to the back of the queue (near the head with one).
    pub nack_to_back_unlimited: bool,
    /// Pub/Sub: an expired ack deadline goes through the retry policy's
    /// backoff, as a nack does.
    pub expiry_backoff: bool,
    /// NATS JetStream: an ack names the stream sequence, not the delivery,
    /// so a late ack from an earlier delivery settles a message still
    /// pending (redelivered, or waiting to be), as measured live.
    pub late_ack_settles: bool,
    /// NATS JetStream: a NakWithDelay keeps the message in the consumer's
    /// pending set until the delay passes, so its MaxAckPending slot stays
    /// taken (measured live: prefetch 1 x 2 instances with 1-4 s delays
    /// cut throughput by a quarter and multiplied latency by sixty).
    pub delay_keeps_slot: bool,
    /// NATS JetStream: a delayed retry that falls due goes to the
    /// consumer's redelivery queue, served before new messages (measured
    /// live: with one slot and a backlog, each failed message's retry
    /// comes before the next message's first delivery).
    pub retry_due_first: bool,
    /// NATS JetStream: the consumer's pending set is stored with the
    /// stream, so after a process crash of the broker a message that was
    /// out for delivery stays pending: an ack after the restart settles
    /// it, and it is redelivered only when its AckWait has passed
    /// (measured live: not at the restart, as a requeue would have it).
    pub crash_keeps_pending: bool,
    /// RabbitMQ: `basic.qos` does not apply to an automatic-acknowledgement
    /// consumer, so the broker pushes it every ready message (measured
    /// live: a crash loses the whole pushed backlog, not one prefetch).
    pub auto_ack_ignores_prefetch: bool,
    /// RabbitMQ quorum queues (`rabbit_fifo`) refuse a publish under
    /// `reject-publish` only once over `x-max-length` (`messages_ready >
    /// max_length`): a queue at the limit takes one more (measured live).
    pub reject_publish_over_limit: bool,
    /// The list price of broker requests, USD per million: what `[cost]`
    /// charges when it sets none (README preset table: source and date).
    pub per_million_requests: Option<f64>,
    /// Each started chunk of this many bytes of a message is billed as one
    /// request (SQS: 64 KiB).
    pub request_chunk_bytes: Option<u64>,
    /// The list price of throughput, USD per GiB published or delivered.
    pub per_gb_transferred: Option<f64>,
    /// The fewest bytes a message is billed for (Pub/Sub: 1000 per
    /// request): also the size assumed when `[cost]` gives none.
    pub billed_minimum_bytes: Option<u64>,
    /// The broker is polled and bills every receive call, empty ones too
    /// (SQS `ReceiveMessage`): the wait of one empty receive a consumer
    /// makes when it gives no `receive_wait` (SQS: 20 s, long polling's
    /// longest `WaitTimeSeconds`). None: the broker pushes deliveries.
    pub receive_wait: Option<Duration>,
}

fn secs(s: u64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

/// The preset `spec` names (`NAME` or `NAME@VERSION`), if there is one.
pub fn preset(spec: &str) -> Option<Preset> {
    let (name, version) = split(spec);
    let version = match version {
        Some(v) => match_version(name, v)?,
        None => *versions(name).first()?,
    };
    let p = match name {
        "sqs" => sqs(),
        "rabbitmq-quorum" => rabbitmq_quorum(version),
        "rabbitmq-classic" => rabbitmq_classic(),
        "kafka-retry-topics" => kafka_retry_topics(version),
        "nats-jetstream" => nats_jetstream(),
        "pubsub" => pubsub(),
        "celery" => celery(),
        "sidekiq" => sidekiq(version),
        _ => return None,
    };
    Some(Preset {
        name: PRESET_NAMES.iter().find(|n| **n == name)?,
        version,
        ..p
    })
}

const RABBITMQ_NO_LEASE: &str = "RabbitMQ has no per-message lease to extend: a delivery is held until it is acked or its channel closes, and `consumer_timeout` (30 min, the preset's ack_timeout) closes a channel that holds one too long; raise `ack_timeout` instead";

fn sqs() -> Preset {
    Preset {
        follows: "AWS SQS standard queue: VisibilityTimeout 30 s, redrive maxReceiveCount 10 then DLQ; a failed message is not deleted and comes back when its visibility timeout passes; ChangeMessageVisibility heartbeats (extend_lease) up to 12 h from the receipt",
        ack_timeout: secs(30),
        max_deliveries: Some(Some(10)),
        dead_letter: Some(true),
        crash_requeue: Some("ack-timeout"),
        ack: Some(AckMode::AfterProcessing),
        retry_mode: Some(RetryMode::AckTimeout),
        ttl_mode: Some(TtlMode::Anywhere),
        lease_max: secs(12 * 3600),
        // aws.amazon.com/sqs/pricing, us-east-1, standard queue, first
        // 100 billion requests a month (as of 2026-06); each 64 KiB chunk
        // of a payload is one request.
        per_million_requests: Some(0.40),
        request_chunk_bytes: Some(64 * 1024),
        expiry_deletes: Some("SQS deletes a message when its MessageRetentionPeriod (`ttl`) passes; the redrive policy moves only messages over maxReceiveCount to the dead-letter queue"),
        // Every ReceiveMessage is billed, empty or not (aws.amazon.com/sqs/
        // pricing); an idle long-polling consumer makes one per
        // WaitTimeSeconds, at most 20 s (SQS Developer Guide, "Amazon SQS
        // short and long polling").
        receive_wait: secs(20),
        ..Default::default()
    }
}

fn rabbitmq_quorum(version: &str) -> Preset {
    let v43 = version == "4.3";
    Preset {
        follows: if v43 {
            "RabbitMQ 4.3 quorum queue: delivery-limit 20 (reached on the 21st return), counting only basic.reject and lost connections: a nack-requeue loop never reaches it (retry_mode = \"reject-requeue\" does); at the limit the message is dropped, as no dead-letter exchange is configured by default (dead_letter = true for one); nack requeue=true returns the message near the head (to the back with no limit); unacked deliveries requeued when the connection drops; consumer_timeout 30 min; always durable"
        } else {
            "RabbitMQ 4.0-4.2 quorum queue: delivery-limit 20, every return counted, so a message goes after 21 deliveries: dropped, as no dead-letter exchange is configured by default (dead_letter = true for one); nack requeue=true returns it near the head (to the back with no limit); unacked deliveries requeued when the connection drops; consumer_timeout 30 min; always durable"
        },
        ack_timeout: Some(Duration::from_secs(30 * 60)),
        max_deliveries: Some(Some(21)),
        // No dead-letter exchange by default: at the limit the message is
        // dropped (counted lost, `dropped-at-limit`).
        dead_letter: Some(false),
        crash_requeue: Some("immediate"),
        ack: Some(AckMode::AfterProcessing),
        retry_mode: Some(RetryMode::Requeue),
        ttl_mode: Some(TtlMode::Head),
        durable: Some(true),
        no_lease: Some(RABBITMQ_NO_LEASE),
        removals_dead_lettered: true,
        auto_ack_ignores_prefetch: true,
        reject_publish_over_limit: true,
        nacks_uncounted: v43,
        nack_to_back_unlimited: true,
        ..Default::default()
    }
}

fn rabbitmq_classic() -> Preset {
    Preset {
        follows: "RabbitMQ 4.x classic queue: nack requeue=true with no delivery limit, so a poison message loops forever; unacked deliveries requeued when the connection drops; consumer_timeout 30 min",
        ack_timeout: Some(Duration::from_secs(30 * 60)),
        max_deliveries: Some(None),
        dead_letter: Some(true),
        crash_requeue: Some("immediate"),
        ack: Some(AckMode::AfterProcessing),
        retry_mode: Some(RetryMode::Requeue),
        ttl_mode: Some(TtlMode::Head),
        no_lease: Some(RABBITMQ_NO_LEASE),
        removals_dead_lettered: true,
        auto_ack_ignores_prefetch: true,
        ..Default::default()
    }
}

fn kafka_retry_topics(version: &str) -> Preset {
    let old = version == "2";
    Preset {
        follows: if old {
            "Spring Kafka @RetryableTopic on a Kafka 2.x client: 3 attempts, fixed 1 s backoff through retry topics, then the -dlt topic; partition order is lost; a crashed consumer's records go to another member after session.timeout.ms (10 s) and the rebalance (3 s)"
        } else {
            "Spring Kafka @RetryableTopic on a Kafka 3.0+ client: 3 attempts, fixed 1 s backoff through retry topics, then the -dlt topic; partition order is lost; a crashed consumer's records go to another member after session.timeout.ms (45 s) and the rebalance (3 s)"
        },
        max_deliveries: Some(None),
        dead_letter: Some(true),
        crash_requeue: Some(if old { "13s" } else { "48s" }),
        ack: Some(AckMode::AfterProcessing),
        retry_mode: Some(RetryMode::RetryQueues),
        retry: Some(RetryPolicy {
            backoff: BackoffKind::Fixed,
            delay: secs(1),
            max_attempts: Some(3),
            ..Default::default()
        }),
        no_lease: Some("a Kafka consumer holds no per-message lease: its partitions stay its own while it polls within max.poll.interval.ms and heartbeats within session.timeout.ms"),
        ..Default::default()
    }
}

fn nats_jetstream() -> Preset {
    Preset {
        follows: "NATS JetStream consumer: AckWait 30 s, MaxDeliver unlimited, Nak redelivers at once; no dead-letter queue: a message at MaxDeliver stays in the stream; in-progress acks (+WPI, extend_lease) reset AckWait; the server fsyncs every sync_interval (2 min) but acks publishes at once, so a machine crash of a single replica loses what was acked since",
        ack_timeout: secs(30),
        max_deliveries: Some(None),
        dead_letter: Some(false),
        at_limit: Some("stay"),
        crash_requeue: Some("ack-timeout"),
        ack: Some(AckMode::AfterProcessing),
        retry_mode: Some(RetryMode::Requeue),
        fsync_interval: secs(120),
        late_ack_settles: true,
        delay_keeps_slot: true,
        retry_due_first: true,
        crash_keeps_pending: true,
        expiry_deletes: Some("JetStream deletes a message past the stream's MaxAge (`ttl`); it has no dead-letter queue (an advisory is published only for MaxDeliver and terminated messages)"),
        ..Default::default()
    }
}

fn pubsub() -> Preset {
    Preset {
        follows: "Google Cloud Pub/Sub subscription with a high-level client library: ack deadline 10 s, extended by the client (modifyAckDeadline) while the message is held, up to 60 min; retry policy exponential 10 s to 600 s, for nacks and expired deadlines alike; maxDeliveryAttempts 5 then the dead-letter topic",
        ack_timeout: secs(10),
        max_deliveries: Some(Some(5)),
        dead_letter: Some(true),
        crash_requeue: Some("ack-timeout"),
        ack: Some(AckMode::AfterProcessing),
        retry_mode: Some(RetryMode::Delay),
        retry: Some(RetryPolicy {
            backoff: BackoffKind::Exponential,
            base: secs(10),
            multiplier: Some(2.0),
            cap: secs(600),
            ..Default::default()
        }),
        // The Java client extends 5 s before the deadline (its
        // ackExpirationPadding) to the 10 s minimum; 60 min is every
        // client's default maximum extension.
        extend_lease: Some(LeaseCfg {
            every: secs(5),
            by: secs(10),
            max: secs(3600),
        }),
        expiry_backoff: true,
        // cloud.google.com/pubsub/pricing (as of 2026-09): message
        // delivery throughput, USD 40 per TiB, publish and subscribe
        // alike, at least 1000 bytes per request.
        per_gb_transferred: Some(40.0 / 1024.0),
        billed_minimum_bytes: Some(1000),
        expiry_deletes: Some("Pub/Sub deletes a message past the subscription's message retention duration (`ttl`); only maxDeliveryAttempts sends one to the dead-letter topic"),
        ..Default::default()
    }
}

fn celery() -> Preset {
    Preset {
        follows: "Celery 5.x: the message is acked just before the task runs (set ack = \"after-processing\" for acks_late); Task.retry() waits default_retry_delay (180 s), max_retries 3; Redis visibility_timeout 1 h",
        ack_timeout: secs(3600),
        max_deliveries: Some(None),
        // A task out of retries ends in the FAILURE state: kept, not lost.
        dead_letter: Some(true),
        crash_requeue: Some("ack-timeout"),
        ack: Some(AckMode::OnReceive),
        retry_mode: Some(RetryMode::Delay),
        retry: Some(RetryPolicy {
            backoff: BackoffKind::Fixed,
            delay: secs(180),
            max_attempts: Some(4),
            ..Default::default()
        }),
        no_lease: Some("Celery does not extend a message's visibility timeout; raise `ack_timeout` (the transport's visibility_timeout) instead"),
        ..Default::default()
    }
}

fn sidekiq(version: &str) -> Preset {
    let (backoff, follows) = match version {
        "8" => (BackoffKind::Sidekiq, "Sidekiq 8 (open-source fetch): the job leaves Redis when fetched, so a crash loses it; 25 retries with delay n^4 + 15 + rand(10(n+1)) s, then the dead set"),
        "5" => (BackoffKind::Sidekiq5, "Sidekiq 5 (open-source fetch): the job leaves Redis when fetched, so a crash loses it; 25 retries with delay n^4 + 15 + rand(30)(n+1) s, then the dead set"),
        _ => (BackoffKind::Sidekiq7, "Sidekiq 6.0-7.3 (open-source fetch): the job leaves Redis when fetched, so a crash loses it; 25 retries with delay n^4 + 15 + rand(10)(n+1) s, then the dead set"),
    };
    Preset {
        follows,
        max_deliveries: Some(None),
        dead_letter: Some(true),
        crash_requeue: Some("ack-timeout"),
        ack: Some(AckMode::OnReceive),
        retry_mode: Some(RetryMode::Delay),
        retry: Some(RetryPolicy {
            backoff,
            max_attempts: Some(26),
            ..Default::default()
        }),
        no_lease: Some("Sidekiq's open-source fetch removes the job from Redis when it is fetched: there is no lease to extend"),
        ..Default::default()
    }
}

/// A consumer's retry table over its preset's policy, key by key (see
/// [`RetryCfg::over`]): what the user wrote wins, the rest of the preset's
/// stays.
pub fn merge_retry(user: Option<&RetryCfg>, preset: Option<&RetryPolicy>) -> Option<RetryCfg> {
    match (user, preset) {
        (Some(u), Some(p)) => Some(u.over(&RetryCfg::of(p))),
        (Some(u), None) => Some(u.clone()),
        (None, p) => p.map(RetryCfg::of),
    }
}

/// A consumer's `extend_lease` over its preset's: the preset's own
/// extension (Pub/Sub's client) when the user says nothing, key by key when
/// the user gives some keys, none after `extend_lease = false`. Unset, `by`
/// is the queue's ack timeout (each extension restarts the whole timeout,
/// as JetStream's in-progress ack does) and `max` the broker's longest
/// lease (SQS: 12 h).
pub fn merge_lease(
    user: Option<&ExtendLease>,
    p: &Preset,
    ack_timeout: Option<Duration>,
) -> Option<ExtendLease> {
    let base = || {
        p.extend_lease.clone().unwrap_or(LeaseCfg {
            every: None,
            by: ack_timeout,
            max: p.lease_max,
        })
    };
    match user {
        Some(ExtendLease::Off) => Some(ExtendLease::Off),
        Some(ExtendLease::On(l)) => Some(ExtendLease::On(l.over(&base()))),
        // A preset's own extension needs a deadline to extend (a consumer
        // preset over a queue without an ack timeout has none).
        None => p
            .extend_lease
            .clone()
            .filter(|_| ack_timeout.is_some())
            .map(ExtendLease::On),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_and_version_resolves() {
        for name in PRESET_NAMES {
            let known = versions(name);
            assert!(!known.is_empty(), "{name} has versions");
            assert_eq!(preset(name).map(|p| p.version), Some(known[0]));
            for v in known {
                let p = preset(&format!("{name}@{v}")).expect("a known version resolves");
                assert_eq!((p.name, p.version), (name, *v));
                assert!(check(&format!("{name}@{v}")).is_ok());
            }
        }
        // A patch level matches its minor version; a bare major of a preset
        // versioned by minor does not.
        assert_eq!(
            preset("rabbitmq-quorum@4.2.1").map(|p| p.version),
            Some("4.2")
        );
        assert_eq!(preset("sidekiq@7.3").map(|p| p.version), Some("7"));
        assert!(preset("rabbitmq-quorum@4").is_none());
        assert!(preset("rabbitmq-quorum@4.22").is_none());
        let e = check("rabbitmq-quorum@3.13").unwrap_err();
        assert!(e.contains("4.3, 4.2, 4.1, 4.0"), "{e}");
        let e = check("rabbitmq-quorom").unwrap_err();
        assert!(e.contains("did you mean `rabbitmq-quorum`"), "{e}");
    }
}
