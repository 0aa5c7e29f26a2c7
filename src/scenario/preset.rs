//! Presets named after real brokers. Each sets the semantics and defaults of
//! that system (see `../shared/reference/broker-semantics.md` and the README
//! table); every key stays overridable one by one.

use crate::strategy::backoff::{BackoffKind, Jitter, RetryPolicy};
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

/// What a preset sets. `None` leaves mqsim's own default.
#[derive(Clone, Debug, Default)]
pub struct Preset {
    pub name: &'static str,
    /// The documented behaviour it follows.
    pub follows: &'static str,
    pub ack_timeout: Option<Duration>,
    /// `Some(None)`: explicitly unlimited.
    pub max_deliveries: Option<Option<u32>>,
    pub dead_letter: Option<bool>,
    /// "dead-letter" or "stay" (NATS: messages at the limit stay in the stream).
    pub at_limit: Option<&'static str>,
    pub crash_requeue: Option<&'static str>,
    pub ack: Option<&'static str>,
    pub retry_mode: Option<&'static str>,
    pub retry: Option<RetryPolicy>,
    pub ttl_mode: Option<&'static str>,
    pub durable: Option<bool>,
}

fn secs(s: u64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

/// The preset called `name`, if there is one.
pub fn preset(name: &str) -> Option<Preset> {
    let p = match name {
        "sqs" => Preset {
            name: "sqs",
            follows: "AWS SQS standard queue: VisibilityTimeout 30 s, redrive maxReceiveCount 10 then DLQ; a failed message is not deleted and comes back when its visibility timeout passes",
            ack_timeout: secs(30),
            max_deliveries: Some(Some(10)),
            dead_letter: Some(true),
            crash_requeue: Some("ack-timeout"),
            ack: Some("after-processing"),
            retry_mode: Some("ack-timeout"),
            ttl_mode: Some("anywhere"),
            ..Default::default()
        },
        "rabbitmq-quorum" => Preset {
            name: "rabbitmq-quorum",
            follows: "RabbitMQ 4.x quorum queue: nack requeue=true puts the message back at the head at once, delivery-limit 20 then the dead-letter exchange; unacked deliveries requeued when the connection drops; consumer_timeout 30 min; always durable",
            ack_timeout: Some(Duration::from_secs(30 * 60)),
            max_deliveries: Some(Some(20)),
            dead_letter: Some(true),
            crash_requeue: Some("immediate"),
            ack: Some("after-processing"),
            retry_mode: Some("requeue"),
            ttl_mode: Some("head"),
            durable: Some(true),
            ..Default::default()
        },
        "rabbitmq-classic" => Preset {
            name: "rabbitmq-classic",
            follows: "RabbitMQ 4.x classic queue: nack requeue=true with no delivery limit, so a poison message loops forever; unacked deliveries requeued when the connection drops; consumer_timeout 30 min",
            ack_timeout: Some(Duration::from_secs(30 * 60)),
            max_deliveries: Some(None),
            dead_letter: Some(true),
            crash_requeue: Some("immediate"),
            ack: Some("after-processing"),
            retry_mode: Some("requeue"),
            ttl_mode: Some("head"),
            ..Default::default()
        },
        "kafka-retry-topics" => Preset {
            name: "kafka-retry-topics",
            follows: "Spring Kafka @RetryableTopic: 3 attempts, fixed 1 s backoff through retry topics, then the -dlt topic; partition order is lost",
            max_deliveries: Some(None),
            dead_letter: Some(true),
            crash_requeue: Some("immediate"),
            ack: Some("after-processing"),
            retry_mode: Some("retry-queues"),
            retry: Some(RetryPolicy {
                backoff: BackoffKind::Fixed,
                delay: secs(1),
                max_attempts: Some(3),
                ..Default::default()
            }),
            ..Default::default()
        },
        "nats-jetstream" => Preset {
            name: "nats-jetstream",
            follows: "NATS JetStream consumer: AckWait 30 s, MaxDeliver unlimited, Nak redelivers at once; no dead-letter queue: a message at MaxDeliver stays in the stream",
            ack_timeout: secs(30),
            max_deliveries: Some(None),
            dead_letter: Some(false),
            at_limit: Some("stay"),
            crash_requeue: Some("ack-timeout"),
            ack: Some("after-processing"),
            retry_mode: Some("requeue"),
            ..Default::default()
        },
        "pubsub" => Preset {
            name: "pubsub",
            follows: "Google Cloud Pub/Sub subscription: ack deadline 10 s, retry policy exponential 10 s to 600 s, maxDeliveryAttempts 5 then the dead-letter topic",
            ack_timeout: secs(10),
            max_deliveries: Some(Some(5)),
            dead_letter: Some(true),
            crash_requeue: Some("ack-timeout"),
            ack: Some("after-processing"),
            retry_mode: Some("delay"),
            retry: Some(RetryPolicy {
                backoff: BackoffKind::Exponential,
                base: secs(10),
                multiplier: Some(2.0),
                cap: secs(600),
                ..Default::default()
            }),
            ..Default::default()
        },
        "celery" => Preset {
            name: "celery",
            follows: "Celery 5.x: the message is acked just before the task runs (set ack = \"after-processing\" for acks_late); autoretry with retry_backoff (1 s * 2^n, max 600 s) and retry_jitter, max_retries 3; Redis visibility_timeout 1 h",
            ack_timeout: secs(3600),
            max_deliveries: Some(None),
            // A task out of retries ends in the FAILURE state: kept, not lost.
            dead_letter: Some(true),
            crash_requeue: Some("ack-timeout"),
            ack: Some("on-receive"),
            retry_mode: Some("delay"),
            retry: Some(RetryPolicy {
                backoff: BackoffKind::Exponential,
                base: secs(1),
                multiplier: Some(2.0),
                cap: secs(600),
                jitter: Jitter::Full,
                max_attempts: Some(4),
                ..Default::default()
            }),
            ..Default::default()
        },
        "sidekiq" => Preset {
            name: "sidekiq",
            follows: "Sidekiq (open-source fetch): the job leaves Redis when fetched, so a crash loses it; 25 retries with delay n^4 + 15 + rand(10(n+1)) s, then the dead set",
            max_deliveries: Some(None),
            dead_letter: Some(true),
            crash_requeue: Some("ack-timeout"),
            ack: Some("on-receive"),
            retry_mode: Some("delay"),
            retry: Some(RetryPolicy {
                backoff: BackoffKind::Sidekiq,
                max_attempts: Some(26),
                ..Default::default()
            }),
            ..Default::default()
        },
        _ => return None,
    };
    Some(p)
}
