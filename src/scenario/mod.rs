//! Scenario files: what the user writes.
//!
//! These types mirror the TOML one to one (the key names are a public
//! interface: users' scripts and CI jobs depend on them). Every optional key
//! is an `Option` so that presets can tell "the user set it" from "the
//! default applies"; the defaults are filled in by [`crate::model`] when the
//! scenario is compiled, and shown by `mqsim explain`.

pub mod data;
pub mod dist;
pub mod edit;
pub mod import;
pub mod keyword;
pub mod load;
pub mod preset;
pub mod schema;
pub mod validate;
mod values;

use crate::strategy::backoff::{BackoffKind, Jitter, RetryPolicy};
use crate::strategy::breaker::BreakerConfig;
use crate::strategy::budget::RetryBudgetConfig;
use crate::time::Duration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use keyword::{
    AckMode, Assignor, CommitMode, Confirm, CrashScope, FaultKind, GroupProtocol, Isolation,
    KeyDist, LiveBroker, OffsetReset, Overflow, Partitioner, RetryMode, SagaOrder, SagaTrigger,
    ScaleMetric, SideEffectMode, TtlMode,
};
pub use load::{load_file, load_str, LoadOptions, ScenarioError};
pub use values::{ExtendLease, LeaseCfg, Limit, SyncInterval};

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub simulation: Simulation,
    #[serde(rename = "producer", default)]
    pub producers: Vec<ProducerCfg>,
    #[serde(rename = "queue", default)]
    pub queues: Vec<QueueCfg>,
    #[serde(rename = "consumer", default)]
    pub consumers: Vec<ConsumerCfg>,
    /// Partitioned logs (Kafka topics), read by consumer groups that commit offsets.
    #[serde(rename = "topic", default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<TopicCfg>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkCfg>,
    #[serde(rename = "fault", default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultCfg>,
    #[serde(rename = "variant", default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<VariantCfg>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectCfg>,
    /// Business transactions across a pipeline, compensated when a late
    /// step fails.
    #[serde(rename = "saga", default, skip_serializing_if = "Vec::is_empty")]
    pub sagas: Vec<SagaCfg>,
    /// Unit prices: the run reports what it cost (`cost` in the report)
    /// only when this section is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostCfg>,
    /// How the scenario runs against a real broker (`mqsim check --live`,
    /// and `mqsim live`'s default speed). The simulation ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveCfg>,
}

/// `[live]`: a conformance scenario's broker, speed and what the wall
/// clock may add.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LiveCfg {
    /// The broker `mqsim check --live` starts (`--spawn`).
    pub broker: LiveBroker,
    /// Simulated seconds per wall second (`--speed`); default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    /// A latency whose simulated interval has no width (a deterministic
    /// scenario) agrees when the live value is within this fraction of
    /// it: the wall clock's jitter, which the simulation does not have.
    /// Default 0 (exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_tolerance: Option<f64>,
}

/// `[cost]`: unit prices in US dollars. A price left out is the queue
/// preset's list price where the preset has one (SQS requests, Pub/Sub
/// throughput), else 0.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostCfg {
    /// USD per million broker requests (publish, receive, ack or nack,
    /// lease extension), over every queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_million_requests: Option<f64>,
    /// USD per consumer instance and hour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_instance_hour: Option<f64>,
    /// USD per GiB (2^30 bytes) published and delivered; needs `message_bytes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_gb_transferred: Option<f64>,
    /// The size of one message in bytes: the transferred volume, and the
    /// 64 KiB chunks SQS bills as one request each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_bytes: Option<u64>,
}

/// A saga: the queues of a `publish_to` pipeline whose steps, when a later
/// one fails, are undone by compensation messages.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SagaCfg {
    pub name: String,
    /// The queues of the pipeline, in order.
    pub steps: Vec<String>,
    /// Per step, the queue whose consumers undo it ("" = nothing to undo).
    pub compensations: Vec<String>,
    /// What starts compensation: "dead-letter", "non-retryable" or "both".
    /// Default "dead-letter".
    pub trigger: Option<SagaTrigger>,
    /// "reverse" (one compensation after the other, latest step first) or
    /// "parallel" (all at once). Default "reverse".
    pub order: Option<SagaOrder>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Simulation {
    /// Shown in reports and used for the default output folder.
    pub name: Option<String>,
    /// Seed of every random stream. Default 1.
    pub seed: Option<u64>,
    /// How long producers publish (simulated time). Default 1h.
    pub duration: Option<Duration>,
    /// Messages published earlier are left out of the statistics:
    /// a duration, or "auto" for the MSER-5 rule. Default 0.
    pub warmup: Option<Warmup>,
    /// After `duration`, run at most this long more so that in-flight work can
    /// finish. Default 10m.
    pub drain: Option<Duration>,
    /// Replications run by default (overridden by `--replications`). Default 1.
    pub replications: Option<u32>,
    /// Sampling interval of the time series (queue length, in flight...).
    /// Default: duration / 200.
    pub sample_interval: Option<Duration>,
}

/// `warmup = "5m"` or `warmup = "auto"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Warmup {
    Fixed(Duration),
    Auto,
}

impl schemars::JsonSchema for Warmup {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Warmup".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "a duration, or \"auto\" for the MSER-5 truncation rule",
            "anyOf": [g.subschema_for::<Duration>(), { "const": "auto" }]
        })
    }
}

impl Serialize for Warmup {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Warmup::Fixed(d) => d.serialize(s),
            Warmup::Auto => s.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for Warmup {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Secs(f64),
        }
        match Raw::deserialize(d)? {
            Raw::Text(t) if t == "auto" => Ok(Warmup::Auto),
            Raw::Text(t) => Duration::parse(&t)
                .map(Warmup::Fixed)
                .map_err(|e| serde::de::Error::custom(format!("{e}, or \"auto\""))),
            Raw::Secs(s) => Duration::parse(&s.to_string())
                .map(Warmup::Fixed)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// A probability distribution of a duration, given by its mean where it has
/// one so that users think in latencies:
/// `{ dist = "lognormal", mean = "80ms", sd = "40ms" }`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DistCfg {
    /// exponential, constant, uniform, normal, lognormal, erlang, gamma,
    /// weibull, pareto, empirical.
    pub dist: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sd: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<Duration>,
    /// Shape: k of erlang (an integer), gamma, weibull; alpha of pareto.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<f64>,
    /// exponential, lognormal, erlang, gamma, weibull: the least duration
    /// (a fixed part such as a network round trip); draws are `shift` plus
    /// the law, and `mean` is the whole's mean, shift included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shift: Option<Duration>,
    /// empirical: the measured durations to draw from (at most 1,000,000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Duration>>,
    /// empirical: draw between neighbouring measurements (linear in the
    /// quantile) instead of one of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpolate: Option<bool>,
    /// empirical: a CSV file of measured durations, relative to the
    /// scenario's folder (instead of `values`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// With `file`: the column to read (default the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// With `file`: the unit of plain numbers: ns, us, ms, s, m, h (default s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The durations read from `file` when the scenario was loaded.
    #[serde(skip)]
    #[schemars(skip)]
    pub loaded: Option<std::sync::Arc<[Duration]>>,
}

/// How a producer's messages arrive.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArrivalCfg {
    /// poisson, constant, schedule, trace (recorded publish times from
    /// `file`), profile (a rate over time from `file`), or a distribution
    /// name for the interarrival time (then `mean`, `sd`, `min`, `max`, `shape` as in
    /// `DistCfg`).
    pub process: String,
    /// Messages per second (poisson, constant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sd: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<f64>,
    /// With a distribution name: the least gap between arrivals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shift: Option<Duration>,
    /// Piecewise-constant Poisson rate: `[{ at = "0s", rate = 10 }, { at = "20m", rate = 50 }]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Vec<RatePiece>>,
    /// empirical: the measured interarrival times.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Duration>>,
    /// empirical: draw between neighbouring measurements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpolate: Option<bool>,
    /// trace, profile, empirical: the CSV file to read, relative to the
    /// scenario's folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// trace, empirical: the column to read (default the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// trace, profile, empirical: the unit of plain numbers: ns, us, ms, s,
    /// m, h (default s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// trace: recorded seconds per simulated second (2 replays twice as fast).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    /// What was read from `file` when the scenario was loaded.
    #[serde(skip)]
    #[schemars(skip)]
    pub loaded: Option<data::Loaded>,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RatePiece {
    pub at: Duration,
    pub rate: f64,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProducerCfg {
    pub name: Option<String>,
    /// Queue to publish to; may be left out when there is one queue.
    pub queue: Option<String>,
    pub arrival: ArrivalCfg,
    /// Publisher confirms: "none" (fire and forget), "on-accept", "after-fsync".
    pub confirm: Option<Confirm>,
    /// With confirms: publish again when no confirm came within this time.
    pub confirm_timeout: Option<Duration>,
    /// The producer's retry policy for publishes that failed or were not confirmed.
    pub retry: Option<RetryCfg>,
    /// Persistent messages survive a broker restart on a durable queue. Default true.
    pub persistent: Option<bool>,
    /// Per-message time to live, from publish.
    pub ttl: Option<Duration>,
    /// Transactional outbox: unconfirmed messages survive a producer crash
    /// and are relayed after restart. Default false.
    pub outbox: Option<bool>,
    /// Client timeout (request/reply): when the message has not been
    /// processed this long after it was published, the producer publishes it
    /// again, following `retry`. The earlier copy still gets processed.
    pub timeout: Option<Duration>,
    /// Retry budget for the producer's retries.
    pub retry_budget: Option<RetryBudgetConfig>,
    /// Write to this topic (a `[[topic]]`) instead of a queue.
    pub topic: Option<String>,
    /// Message keys: `{ dist = "uniform-keys", count = 100 }` or
    /// `{ dist = "zipf-keys", count = 1000, exponent = 1.1 }` (hot keys).
    pub key: Option<KeyCfg>,
    /// Topic producers: "key" (hash of the key; the default when messages
    /// have keys) or "round-robin".
    pub partitioner: Option<Partitioner>,
    /// Topic producers: a record not written within this time of the send
    /// (broker down, producer cut off) fails and is lost (Kafka
    /// `delivery.timeout.ms`). Default 120s.
    pub delivery_timeout: Option<Duration>,
    /// Topic producers: true (Kafka's default since 3.0) writes a retried
    /// record once; false lets a retry after a lost acknowledgement write it
    /// twice. Default true.
    pub idempotent: Option<bool>,
}

/// The key space of a producer's messages. Keys are shared by producers:
/// key 7 of one producer is key 7 of another.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyCfg {
    /// "uniform-keys" or "zipf-keys".
    pub dist: KeyDist,
    /// Number of distinct keys.
    pub count: u64,
    /// Zipf exponent s: key k (from 1) has weight 1 / k^s. Default 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exponent: Option<f64>,
}

/// A partitioned log (Kafka topic).
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicCfg {
    pub name: String,
    /// Partitions. Default 1.
    pub partitions: Option<u32>,
    /// Records older than this are deleted, read or not. Default 7d.
    pub retention: Option<Duration>,
    /// A record that exhausted its retries goes to a dead-letter topic
    /// (`<topic>-dlt`); false: it is skipped (logged and dropped). Default true.
    pub dead_letter: Option<bool>,
    /// A segment is closed (a new one started) when it would exceed this
    /// size (Kafka `segment.bytes`). Default 1073741824 (1 GiB).
    pub segment_bytes: Option<u64>,
    /// A segment is closed when its first record is this old (Kafka
    /// `segment.ms`). Default 7d.
    pub segment_time: Option<Duration>,
    /// Size of one record in the log, batch overhead included: what fills a
    /// segment. Default 1024.
    pub record_bytes: Option<u64>,
    /// How often the broker deletes expired segments (Kafka
    /// `log.retention.check.interval.ms`). Default 5m.
    pub retention_check_interval: Option<Duration>,
    /// Copies of each partition (Kafka `replication.factor`). With 2 or more
    /// a single broker crash changes nothing (`acks=all`, a follower takes
    /// over); with 1 the partitions are down while the broker is. Default 3.
    pub replication_factor: Option<u32>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueCfg {
    pub name: Option<String>,
    /// Semantics and defaults of a real broker: sqs, rabbitmq-quorum,
    /// rabbitmq-classic, kafka-retry-topics, nats-jetstream, pubsub, celery,
    /// sidekiq; NAME@VERSION for an earlier version (see `preset::versions`).
    pub preset: Option<String>,
    /// Ready messages at most; absent for unbounded.
    pub capacity: Option<u64>,
    /// reject-publish, drop-head or dead-letter.
    pub overflow: Option<Overflow>,
    /// Visibility timeout / ack deadline.
    pub ack_timeout: Option<Duration>,
    /// Deliveries at most, then dead-letter; "unlimited" removes a preset's limit.
    pub max_deliveries: Option<Limit>,
    /// true: a dead-letter queue keeps what is dead-lettered; false: dropped (lost).
    pub dead_letter: Option<bool>,
    /// Expired messages go to the dead-letter queue (reason `expired`,
    /// origin `ttl`) instead of being deleted: RabbitMQ with a dead-letter
    /// exchange does this (the preset's default where `dead_letter` is
    /// true); SQS, NATS and Pub/Sub delete them, and refuse the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_expired: Option<bool>,
    /// Message time to live in this queue.
    pub ttl: Option<Duration>,
    /// "head" (RabbitMQ: removed when it reaches the head) or "anywhere".
    pub ttl_mode: Option<TtlMode>,
    /// What happens to a crashed consumer's unacked deliveries: "immediate"
    /// (connection drop, RabbitMQ), "ack-timeout" (SQS), or a duration after
    /// the crash (Kafka: the session timeout plus the rebalance).
    pub crash_requeue: Option<String>,
    /// Durable queue (survives a broker restart). Default true.
    pub durable: Option<bool>,
    /// Interval of the broker's fsync; what was accepted since the last one
    /// is lost in a machine crash. Default 100ms; 0 or "always" writes through.
    pub fsync_interval: Option<SyncInterval>,
    /// NATS JetStream's name for `fsync_interval` (its server setting
    /// `sync_interval`, "always" included), accepted so that a scenario
    /// can say what the broker's configuration says. Give one of the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_interval: Option<SyncInterval>,
    /// Broker-side publish deduplication window (SQS FIFO 5m, NATS 2m).
    pub dedup_window: Option<Duration>,
    /// Redrive the dead-letter queue back to this queue.
    pub redrive: Option<RedriveCfg>,
    /// FIFO per message key (SQS FIFO message groups): at most one message
    /// of a key is out at a time; a failing message blocks its key.
    pub fifo_by_key: Option<bool>,
    /// Largest orbit the retry-orbit chain keeps (`markov.orbit`), for
    /// comparisons with published models; default: sized automatically.
    pub orbit_bound: Option<u32>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedriveCfg {
    /// When the move task starts.
    pub start: Duration,
    /// Messages per second (SQS StartMessageMoveTask: up to 500).
    pub rate: f64,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumerCfg {
    pub name: Option<String>,
    pub queue: Option<String>,
    /// Instances in the group. Default 1.
    pub count: Option<u32>,
    /// Unacked deliveries an instance may hold. Default 1.
    pub prefetch: Option<u32>,
    /// Messages an instance processes at once. Default 1.
    pub concurrency: Option<u32>,
    /// "after-processing" (at-least-once) or "on-receive" (auto-ack, at-most-once).
    pub ack: Option<AckMode>,
    /// Processing time of one attempt. Default exponential, mean 100ms.
    pub service: Option<DistCfg>,
    /// Probability that one processing attempt fails (transient).
    pub failure: Option<f64>,
    /// Fraction of messages that always fail.
    pub poison: Option<f64>,
    /// Fraction of failures that must not be retried.
    pub non_retryable: Option<f64>,
    /// On success, publish one message to this queue (a topic consumer:
    /// append one record to this topic).
    pub publish_to: Option<String>,
    /// Retry policy for failed attempts; merged key by key over a preset's.
    pub retry: Option<RetryCfg>,
    /// How a failed attempt is retried: "requeue" (nack to the head at once),
    /// "delay" (redelivered after the backoff), "retry-queues" (Kafka retry
    /// topics), "in-handler" (sleep and retry holding the slot),
    /// "ack-timeout" (do nothing; the ack timeout redelivers, as SQS),
    /// "none" (reject: dead-letter at once).
    pub retry_mode: Option<RetryMode>,
    /// Consumer-side idempotency store.
    pub idempotency: Option<IdempotencyCfg>,
    pub retry_budget: Option<RetryBudgetConfig>,
    pub breaker: Option<BreakerConfig>,
    /// A preset's consumer semantics (otherwise the queue's preset applies).
    pub preset: Option<String>,
    /// Hold a message while an earlier message of its key is not done yet.
    pub resequence: Option<ResequenceCfg>,
    /// Extend the lease (ack deadline) of held deliveries:
    /// `{ every = "20s", by = "60s", max = "12h" }`, or false to turn off a
    /// preset's extension.
    pub extend_lease: Option<ExtendLease>,
    /// Read this topic (a `[[topic]]`) as a consumer group, instead of a queue.
    pub topic: Option<String>,
    /// Consumer group id (topic consumers). Default: the consumer's name.
    pub group: Option<String>,
    /// Offset commits: "after-processing" (after each poll's records are
    /// processed), "auto" (a timer commits the fetched position every
    /// `auto_commit_interval`), "before-processing" (right after the poll)
    /// or "transactional" (offsets and the records produced to `publish_to`
    /// commit atomically every `transaction_interval`).
    pub commit: Option<CommitMode>,
    /// Auto-commit period. Default 5s.
    pub auto_commit_interval: Option<Duration>,
    /// `commit = "transactional"`: how often the open transaction (the
    /// consumed offsets and the records produced to `publish_to`) commits,
    /// as Kafka Streams' `commit.interval.ms` under exactly-once. Default 100ms.
    pub transaction_interval: Option<Duration>,
    /// Which records of transactional producers a topic consumer reads:
    /// "read_uncommitted" (all, aborted ones too) or "read_committed"
    /// (committed ones only, up to the last stable offset). Default
    /// "read_uncommitted" (Kafka's `isolation.level`).
    pub isolation: Option<Isolation>,
    /// Records one poll returns at most. Default 500.
    pub max_poll_records: Option<u32>,
    /// A crashed member is noticed this long after its last heartbeat. Default 45s.
    pub session_timeout: Option<Duration>,
    /// A member that does not poll again within this time leaves the group. Default 5m.
    pub max_poll_interval: Option<Duration>,
    /// How long a rebalance stops the group; default: from the protocol's
    /// round trips and the members it waits for.
    pub rebalance_time: Option<Duration>,
    /// Where a member starts when the group's committed offset no longer
    /// exists: "latest" (the log end: the retained backlog is skipped) or
    /// "earliest" (the oldest retained record). Default "latest".
    pub auto_offset_reset: Option<OffsetReset>,
    /// "range" (eager: every member stops) or "cooperative-sticky" (only
    /// the partitions that move pause). Default "range".
    pub assignor: Option<Assignor>,
    /// "classic" or "consumer" (KIP-848: the broker assigns, incrementally,
    /// through heartbeats). Default "classic".
    pub group_protocol: Option<GroupProtocol>,
    /// Static membership (KIP-345): a member restarting within
    /// `session_timeout` keeps its partitions without a rebalance. Default false.
    pub group_instance_id: Option<bool>,
    /// `group_protocol = "consumer"`: the heartbeat period, which carries
    /// assignment changes (`group.consumer.heartbeat.interval.ms`). Default 5s.
    pub heartbeat_interval: Option<Duration>,
    /// When the handler's external write happens relative to the ack:
    /// "before-ack" (a crash before the ack lands duplicates it),
    /// "after-ack" (a crash after the ack lands loses it) or "idempotent"
    /// (before the ack, deduplicated by the idempotency store).
    pub side_effect: Option<SideEffectMode>,
    /// Scale the group's instance count with a metric (KEDA/HPA):
    /// `{ min, max, metric, target, poll, cooldown, startup, step, drain }`.
    /// `count` is then the starting count.
    pub autoscale: Option<AutoscaleCfg>,
    /// A polled broker that bills empty receives (SQS): how long one empty
    /// receive of an idle instance waits (long polling's `WaitTimeSeconds`,
    /// or a short-polling client's pause between calls). Default: the
    /// queue preset's (SQS 20 s). Only for `[cost]`.
    pub receive_wait: Option<Duration>,
}

/// An autoscaler of a consumer group, as KEDA drives a Kubernetes HPA:
/// every `poll` it reads `metric` and wants ceil(metric / target) instances
/// (clamped to `min`..`max`), changes at most `step` of them, scales in only
/// `cooldown` after its last change, and a new instance serves after `startup`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoscaleCfg {
    /// Fewest instances. Default 1.
    pub min: Option<u32>,
    /// Most instances.
    pub max: u32,
    /// "backlog" (ready messages), "lag" (ready + in flight), "in-flight"
    /// (delivered, not yet settled) or "utilisation" (busy workers, percent).
    pub metric: ScaleMetric,
    /// The metric's value per instance (utilisation: percent busy).
    pub target: f64,
    /// How often the metric is read. Default 30s (KEDA's pollingInterval).
    pub poll: Option<Duration>,
    /// No scale-in until this long after the last scaling. Default 5m
    /// (KEDA's cooldownPeriod, HPA's scale-down stabilisation window).
    pub cooldown: Option<Duration>,
    /// A new instance takes deliveries this long after it is started. Default 0s.
    pub startup: Option<Duration>,
    /// Most instances added or removed at one poll. Default: no limit.
    pub step: Option<u32>,
    /// A removed instance finishes what it holds (true, a graceful
    /// shutdown) or stops as a crash (false). Default true.
    pub drain: Option<bool>,
}

/// A consumer-side resequencing buffer.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResequenceCfg {
    /// Messages held at most (per consumer group); past it the oldest is let go.
    pub max_held: u32,
    /// A held message is let go after this long even if the gap remains
    /// (the earlier message may be dead-lettered or lost). Default 30s.
    pub max_wait: Option<Duration>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdempotencyCfg {
    /// How long a processed message id is remembered.
    pub window: Duration,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkCfg {
    /// Latency of each hop (producer to broker, broker to consumer, and back).
    pub latency: Option<DistCfg>,
    /// Probability that a message, ack or confirm vanishes on the wire.
    pub loss: Option<f64>,
    /// Probability that the wire delivers a copy.
    pub duplicate: Option<f64>,
    /// Loss on one kind of hop only, in place of `loss`: producer to broker.
    pub publish_loss: Option<f64>,
    /// Broker to producer (publisher confirms).
    pub confirm_loss: Option<f64>,
    /// Broker to consumer.
    pub delivery_loss: Option<f64>,
    /// Consumer to broker (acks and nacks).
    pub ack_loss: Option<f64>,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultCfg {
    /// consumer-crash, broker-crash, producer-crash, dependency-outage,
    /// partition, load-spike, rolling-restart, gc-pause.
    pub kind: FaultKind,
    /// Whom it hits: "consumer:NAME", "producer:NAME" (default: all).
    pub target: Option<String>,
    /// Crash faults: only one instance of the group (by index) instead of all.
    pub instance: Option<u32>,
    /// Scheduled crash time.
    pub at: Option<Duration>,
    /// Scheduled crash: how long it stays down.
    pub downtime: Option<Duration>,
    /// Random crashes: mean time between failures (exponential).
    pub mtbf: Option<Duration>,
    /// Random crashes: time to repair.
    pub mttr: Option<DistCfg>,
    /// Windows (outage, partition): start and length.
    pub start: Option<Duration>,
    pub duration: Option<Duration>,
    /// Outage: probability that an attempt fails while it lasts. Default 1.
    pub failure: Option<f64>,
    /// Outage: service times multiplied by this. Default 1.
    pub slowdown: Option<f64>,
    /// Partition: `["consumer:NAME", "broker"]`.
    pub between: Option<Vec<String>>,
    /// Broker crash: "machine" (power, kernel: the fsync window is lost) or
    /// "process" (SIGKILL: the page cache keeps it). Default "machine".
    pub scope: Option<CrashScope>,
    /// Load spike: the producers' arrival rates are multiplied by this
    /// while it lasts.
    pub factor: Option<f64>,
    /// Periodic faults, in place of `mtbf`: the fault repeats with this
    /// period (the first at `at`/`start` when given, else at `every`).
    pub every: Option<Duration>,
    /// Periodic faults: each occurrence starts late by a uniform draw in
    /// [0, jitter) (systemd's `RandomizedDelaySec`). Default 0.
    pub jitter: Option<Duration>,
    /// Rolling restart: time between one instance going down and the next.
    pub interval: Option<Duration>,
    /// Rolling restart: true stops taking deliveries and finishes what is
    /// held (no crash); false is a crash (kill -9). Default true.
    pub graceful: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantCfg {
    pub name: String,
    /// Overrides, as `--set` takes them: `{ "consumer.retry.backoff" = "none" }`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub set: BTreeMap<String, toml::Value>,
    /// Expectations for this variant, in place of the scenario's `[expect]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectCfg>,
}

/// Expectations that `mqsim check` enforces.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectCfg {
    /// Messages lost at most (a count).
    pub lost: Option<u64>,
    pub lost_rate_max: Option<f64>,
    pub duplicate_rate_max: Option<f64>,
    pub dead_letter_rate_max: Option<f64>,
    pub p99_latency_max: Option<Duration>,
    pub p50_latency_max: Option<Duration>,
    pub mean_latency_max: Option<Duration>,
    /// After the last fault the system recovers within this time (in the
    /// fraction `recovers_in` of the replications; default all).
    pub recovers_within: Option<Duration>,
    /// Expect recovery (true: in at least `recovers_in` of the
    /// replications) or a metastable failure (false: in at most
    /// `1 - recovers_in` of them recovered).
    pub recovers: Option<bool>,
    /// The fraction of replications `recovers` and `recovers_within` ask
    /// for (default 1: every replication).
    pub recovers_in: Option<f64>,
    pub delivered_min: Option<u64>,
    /// Messages lost at least (a variant meant to show loss).
    pub lost_min: Option<u64>,
    /// Duplicates (messages processed more than once) at least.
    pub duplicate_rate_min: Option<f64>,
    /// Messages processed out of publish order within their key, at most / at least.
    pub out_of_order_max: Option<u64>,
    pub out_of_order_min: Option<u64>,
    /// Sagas left partially applied (all sagas), at most.
    pub stuck_max: Option<u64>,
    /// The p99 of the sagas' inconsistency time (the largest over sagas), at most.
    pub inconsistency_p99_max: Option<Duration>,
    /// `cost.total` (USD) at most: needs `[cost]`.
    pub cost_total_max: Option<f64>,
    /// `cost.per_million_messages` (USD) at most: needs `[cost]`.
    pub cost_per_million_messages_max: Option<f64>,
    /// The mean of `messages.crash_redelivery_delay` (from a consumer's
    /// crash to the next delivery of what it held) at most: the figure a
    /// lease with a heartbeat shortens against a long fixed timeout.
    pub crash_redelivery_delay_mean_max: Option<Duration>,
    /// The p99 of `messages.crash_redelivery_delay` at most.
    pub crash_redelivery_delay_p99_max: Option<Duration>,
    /// Variants the expectations apply to (default: all).
    pub variants: Option<Vec<String>>,
    /// Judge every bound at this one-sided confidence limit over the
    /// replications, not at the mean (e.g. 0.95): pass, fail, or
    /// inconclusive when the interval straddles the bound.
    pub confidence: Option<f64>,
}

impl ExpectCfg {
    /// The bounds on one metric that are set, by key, in declaration
    /// order (times in seconds); `stats::summary::METRICS` says which
    /// metric each key bounds and on which side.
    pub fn bounds(&self) -> Vec<(&'static str, f64)> {
        let seconds = |d: Option<Duration>| d.map(|d| d.secs());
        let count = |c: Option<u64>| c.map(|c| c as f64);
        [
            ("lost", count(self.lost)),
            ("lost_rate_max", self.lost_rate_max),
            ("duplicate_rate_max", self.duplicate_rate_max),
            ("dead_letter_rate_max", self.dead_letter_rate_max),
            ("p99_latency_max", seconds(self.p99_latency_max)),
            ("p50_latency_max", seconds(self.p50_latency_max)),
            ("mean_latency_max", seconds(self.mean_latency_max)),
            ("out_of_order_max", count(self.out_of_order_max)),
            ("delivered_min", count(self.delivered_min)),
            ("lost_min", count(self.lost_min)),
            ("duplicate_rate_min", self.duplicate_rate_min),
            ("out_of_order_min", count(self.out_of_order_min)),
            ("stuck_max", count(self.stuck_max)),
            ("inconsistency_p99_max", seconds(self.inconsistency_p99_max)),
            ("cost_total_max", self.cost_total_max),
            (
                "cost_per_million_messages_max",
                self.cost_per_million_messages_max,
            ),
            (
                "crash_redelivery_delay_mean_max",
                seconds(self.crash_redelivery_delay_mean_max),
            ),
            (
                "crash_redelivery_delay_p99_max",
                seconds(self.crash_redelivery_delay_p99_max),
            ),
        ]
        .into_iter()
        .filter_map(|(key, bound)| Some((key, bound?)))
        .collect()
    }
}

/// A retry policy as a scenario writes it: every key optional, so that a
/// preset's policy can be overridden key by key (see [`RetryCfg::over`]).
/// The keys are those of [`RetryPolicy`]; `max_attempts` also takes
/// "unlimited", which removes a preset's limit.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryCfg {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff: Option<BackoffKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delays: Option<Vec<Duration>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Jitter>,
    /// Attempts in all, the first included, or "unlimited".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<Limit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_elapsed: Option<Duration>,
}

impl RetryCfg {
    /// The policy as given, every key set (a preset's, for merging).
    pub fn of(p: &RetryPolicy) -> RetryCfg {
        RetryCfg {
            backoff: Some(p.backoff),
            base: p.base,
            delay: p.delay,
            step: p.step,
            multiplier: p.multiplier,
            cap: p.cap,
            delays: p.delays.clone(),
            jitter: Some(p.jitter),
            max_attempts: p.max_attempts.map(Limit::Count),
            max_elapsed: p.max_elapsed,
        }
    }

    /// These keys over `base` (a preset's policy), key by key: what this
    /// table sets wins, the rest of `base` stays, except the keys of `base`
    /// that the merged curve does not read (a preset's `delay` under the
    /// user's `exponential`, its `multiplier` under the user's
    /// `decorrelated` jitter) and a jitter of `base` that does not fit the
    /// user's backoff: they belonged to the preset's curve, not the user's.
    /// Keys the user wrote are never dropped, so that their mistakes are
    /// still reported.
    pub fn over(&self, base: &RetryCfg) -> RetryCfg {
        use crate::strategy::backoff::{jitter_fits, reads};
        let backoff = self.backoff.or(base.backoff).unwrap_or_default();
        let jitter = self
            .jitter
            .or(base.jitter.filter(|&j| jitter_fits(backoff, j)));
        let curve = jitter.unwrap_or_default();
        let keep = |key: &str| reads(backoff, curve, key);
        let pick = |mine: Option<Duration>, theirs: Option<Duration>, key: &str| {
            mine.or(theirs.filter(|_| keep(key)))
        };
        RetryCfg {
            backoff: self.backoff.or(base.backoff),
            base: pick(self.base, base.base, "base"),
            delay: pick(self.delay, base.delay, "delay"),
            step: pick(self.step, base.step, "step"),
            multiplier: self
                .multiplier
                .or(base.multiplier.filter(|_| keep("multiplier"))),
            cap: pick(self.cap, base.cap, "cap"),
            delays: self
                .delays
                .clone()
                .or(base.delays.clone().filter(|_| keep("delays"))),
            jitter,
            max_attempts: self.max_attempts.or(base.max_attempts),
            max_elapsed: self.max_elapsed.or(base.max_elapsed),
        }
    }

    /// The policy the simulator reads.
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            backoff: self.backoff.unwrap_or_default(),
            base: self.base,
            delay: self.delay,
            step: self.step,
            multiplier: self.multiplier,
            cap: self.cap,
            delays: self.delays.clone(),
            jitter: self.jitter.unwrap_or_default(),
            max_attempts: self.max_attempts.and_then(Limit::count),
            max_elapsed: self.max_elapsed,
        }
    }
}

/// What `mqsim init` writes: a commented scenario that runs as it is.
pub const STARTER: &str = include_str!("../../scenarios/quickstart.toml");

pub const DEFAULT_RETENTION_S: u64 = 7 * 24 * 3600;
/// Kafka `segment.bytes`: 1 GiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 1 << 30;
/// Kafka `segment.ms`: 7 days.
pub const DEFAULT_SEGMENT_S: u64 = 7 * 24 * 3600;
/// mqsim's assumption for the size of a record in the log (no Kafka default).
pub const DEFAULT_RECORD_BYTES: u64 = 1024;
