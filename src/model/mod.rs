//! The compiled model: a scenario with every default and preset resolved,
//! names turned into indices and durations into nanoseconds. The simulator
//! reads only this.

mod cost;
pub mod lint;
pub use cost::CostModel;
mod saga;
use saga::compile_sagas;
pub use saga::{SagaModel, SideEffect};

use crate::scenario::data::Loaded;
pub use crate::scenario::dist;
use crate::scenario::preset::preset;
pub use crate::scenario::preset::{merge_lease, merge_retry};
use crate::scenario::validate::{
    consumer_name, interarrival_dist, producer_name, queue_name, resolve_queue, resolve_topic,
};
use crate::scenario::*;
use crate::strategy::backoff::RetryPolicy;
use crate::strategy::breaker::BreakerConfig;
use crate::strategy::budget::RetryBudgetConfig;
use crate::table::Table;
use crate::time::{Duration, Nanos};
use dist::Dist;

mod autoscale;
mod faults;
/// The model matches on the scenario's own word sets: one declaration.
pub use crate::scenario::keyword::{
    Assignor, CommitMode, Confirm, FaultKind, GroupProtocol, KeyDist, Overflow, Partitioner,
    RetryMode, ScaleMetric,
};
pub use autoscale::AutoscaleModel;
pub use faults::{FaultModel, FaultTiming};

pub const DEFAULT_DURATION_S: u64 = 3600;
pub const DEFAULT_DRAIN_S: u64 = 600;
pub const DEFAULT_FSYNC_MS: u64 = 100;

#[derive(Clone, Debug)]
pub enum Arrival {
    Poisson {
        rate_per_s: f64,
    },
    Constant {
        interval_ns: Nanos,
    },
    Interarrival(Dist),
    /// Poisson with a piecewise-constant rate: (from, rate per s).
    Schedule(Vec<(Nanos, f64)>),
    /// Recorded publish times, sorted, the first at 0: replayed exactly.
    Trace(std::sync::Arc<[Nanos]>),
}

impl Arrival {
    /// Mean rate over the run (messages per second), for theory and guards.
    pub fn mean_rate(&self, duration_ns: Nanos) -> f64 {
        match self {
            Arrival::Poisson { rate_per_s } => *rate_per_s,
            Arrival::Constant { interval_ns } => 1e9 / (*interval_ns).max(1) as f64,
            Arrival::Interarrival(d) => 1.0 / d.mean().max(1e-12),
            Arrival::Schedule(p) => {
                let mut total = 0.0;
                for (i, (from, rate)) in p.iter().enumerate() {
                    let to = p.get(i + 1).map_or(duration_ns, |n| n.0).min(duration_ns);
                    if to > *from {
                        total += rate * (to - from) as f64 / 1e9;
                    }
                }
                total / (duration_ns as f64 / 1e9).max(1e-12)
            }
            Arrival::Trace(times) => {
                let within = times.partition_point(|t| *t < duration_ns);
                within as f64 / (duration_ns as f64 / 1e9).max(1e-12)
            }
        }
    }
    pub fn is_poisson(&self) -> bool {
        matches!(self, Arrival::Poisson { .. })
            || matches!(self, Arrival::Interarrival(d) if d.is_exponential())
    }
}

/// `queue` of a producer or group that uses a topic instead.
pub const NO_QUEUE: usize = usize::MAX;

/// How a producer draws message keys.
#[derive(Clone, Debug)]
pub struct KeySpace {
    pub count: u32,
    /// Zipf-skewed (hot keys) with this exponent; uniform otherwise.
    pub zipf: Option<rand_distr::Zipf<f64>>,
}

impl KeySpace {
    /// A key from 0 to count - 1.
    pub fn sample(&self, r: &mut crate::rng::Stream) -> u32 {
        use rand::Rng;
        match &self.zipf {
            // Zipf samples 1..=count, the most frequent first.
            Some(z) => (r.sample(z) as u64).clamp(1, self.count as u64) as u32 - 1,
            None => ((crate::rng::unit(r) * self.count as f64) as u32).min(self.count - 1),
        }
    }
}

/// A partitioned log.
#[derive(Clone, Debug)]
pub struct TopicModel {
    pub name: String,
    pub partitions: u32,
    pub retention_ns: Nanos,
    pub dead_letter: bool,
    /// Records per segment (`segment_bytes` / `record_bytes`, at least 1).
    pub segment_records: u64,
    pub segment_ns: Nanos,
    pub retention_check_ns: Nanos,
    pub replication_factor: u32,
}

/// Consumer-group settings of a group that reads a topic.
#[derive(Clone, Debug)]
pub struct LogGroupModel {
    pub topic: usize,
    pub group: String,
    pub commit: CommitMode,
    pub auto_commit_ns: Nanos,
    pub max_poll_records: u32,
    pub session_timeout_ns: Nanos,
    pub max_poll_interval_ns: Nanos,
    /// An explicit rebalance pause (`rebalance_time`), else derived.
    pub rebalance_ns: Option<Nanos>,
    /// Where a member starts when the committed offset is gone: the log
    /// end (true, `latest`) or the oldest record (`earliest`).
    pub reset_to_latest: bool,
    pub assignor: Assignor,
    pub protocol: GroupProtocol,
    pub static_membership: bool,
    pub heartbeat_ns: Nanos,
    /// One request and its response to the coordinator (twice the mean
    /// network latency).
    pub round_trip_ns: Nanos,
    /// The topic each processed record is produced to (`publish_to`).
    pub publish_to: Option<usize>,
    /// `commit = "transactional"`: the transaction's commit period.
    pub transaction_ns: Nanos,
    /// `isolation = "read_committed"`: reads only up to the last stable
    /// offset, and skips aborted records.
    pub read_committed: bool,
}

#[derive(Clone, Debug)]
pub struct ProducerModel {
    pub name: String,
    pub queue: usize,
    pub arrival: Arrival,
    pub confirm: Confirm,
    pub confirm_timeout_ns: Option<Nanos>,
    pub retry: Option<RetryPolicy>,
    pub persistent: bool,
    pub ttl_ns: Option<Nanos>,
    pub outbox: bool,
    /// Client timeout: publish again when not processed within this time.
    pub timeout_ns: Option<Nanos>,
    pub budget: Option<RetryBudgetConfig>,
    /// Writes to this topic instead of a queue (`queue` is then `NO_QUEUE`).
    pub topic: Option<usize>,
    pub keys: Option<KeySpace>,
    /// Topic producers: partition by key hash (else round-robin).
    pub partition_by_key: bool,
    /// Topic producers: a record not written this long after the send is lost.
    pub delivery_timeout_ns: Nanos,
    /// Topic producers: a retried record is written once.
    pub idempotent: bool,
}

#[derive(Clone, Debug)]
pub struct QueueModel {
    pub name: String,
    pub preset: Option<String>,
    /// Ready messages the queue holds before it overflows: the scenario's
    /// `capacity`, plus one where the broker refuses only once over its
    /// limit (a RabbitMQ quorum queue under `reject-publish`).
    pub capacity: Option<u64>,
    /// The limit as the scenario sets it on the broker (RabbitMQ's
    /// `x-max-length`, JetStream's `MaxMsgs`): what `mqsim live` declares.
    pub max_length: Option<u64>,
    pub overflow: Overflow,
    pub ack_timeout_ns: Option<Nanos>,
    pub max_deliveries: Option<u32>,
    pub dead_letter: bool,
    /// NATS: a message at the delivery limit stays in the stream.
    pub at_limit_stays: bool,
    pub ttl_ns: Option<Nanos>,
    pub ttl_anywhere: bool,
    /// An expired message is dead-lettered (reason `expired`, origin
    /// `ttl`), not deleted: RabbitMQ with a dead-letter exchange.
    pub expired_dead_lettered: bool,
    /// The head a full `drop-head` queue drops is dead-lettered (origin
    /// `overflow`), not lost: RabbitMQ with a dead-letter exchange (reason
    /// `maxlen`).
    pub dropped_head_dead_lettered: bool,
    pub crash_requeue_immediate: bool,
    pub durable: bool,
    pub fsync_ns: Nanos,
    pub dedup_window_ns: Option<Nanos>,
    pub redrive: Option<(Nanos, f64)>,
    pub fifo_by_key: bool,
    /// A crashed consumer's unacked deliveries come back this long after
    /// the crash (Kafka: session timeout plus rebalance), not at once nor
    /// at their ack timeout.
    pub crash_requeue_after_ns: Option<Nanos>,
    /// RabbitMQ 4.3: nacks and ack-timeout returns do not count toward
    /// `max_deliveries`; rejects, crashes and lost connections do.
    pub nacks_uncounted: bool,
    /// RabbitMQ 4.x quorum queue without a delivery limit: a nacked message
    /// goes to the back of the queue, not near the head.
    pub nack_to_back: bool,
    /// Pub/Sub: an expired ack deadline waits the consumer's retry backoff
    /// before the message is delivered again, as a nack does.
    pub expiry_backoff: bool,
    /// NATS JetStream: a late ack from an earlier delivery settles a
    /// message that is still pending (in flight again or waiting).
    pub late_ack_settles: bool,
    /// NATS JetStream: a delayed retry (NakWithDelay) keeps its prefetch
    /// slot until it is due.
    pub delay_keeps_slot: bool,
    /// NATS JetStream: a delayed retry that falls due goes before the
    /// ready messages (the redelivery queue), not behind them.
    pub retry_due_first: bool,
    /// NATS JetStream: a broker crash that the message survives leaves its
    /// delivery pending (AckWait runs on) instead of making it ready.
    pub crash_keeps_pending: bool,
    /// The retry-orbit chain's orbit bound, when the scenario fixes it.
    pub orbit_bound: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct GroupModel {
    pub name: String,
    pub queue: usize,
    pub count: u32,
    pub prefetch: u32,
    pub concurrency: u32,
    pub ack_on_receive: bool,
    /// The broker pushes every ready message to this group's instances,
    /// round-robin, with no prefetch bound: RabbitMQ does not apply
    /// `basic.qos` to an auto-ack consumer.
    pub push_all: bool,
    pub service: Dist,
    pub failure: f64,
    pub poison: f64,
    pub non_retryable: f64,
    pub publish_to: Option<usize>,
    pub retry: Option<RetryPolicy>,
    pub retry_mode: RetryMode,
    pub idempotency_ns: Option<Nanos>,
    pub budget: Option<RetryBudgetConfig>,
    pub breaker: Option<BreakerConfig>,
    /// Resequencing buffer: (messages held at most, longest hold).
    pub resequence: Option<(u32, Nanos)>,
    /// Reads a topic as a consumer group (`queue` is then `NO_QUEUE`).
    pub log: Option<LogGroupModel>,
    /// Lease extension of the deliveries an instance holds.
    pub extend_lease: Option<LeaseModel>,
    /// When the handler's external write happens relative to the ack.
    pub side_effect: SideEffect,
    /// Its autoscaler; `count` is then the starting count.
    pub autoscale: Option<AutoscaleModel>,
}

impl GroupModel {
    /// The most instances the group can have at once.
    pub fn most_instances(&self) -> u32 {
        self.autoscale.map_or(self.count, |a| a.max)
    }
}

/// A consumer's lease extension: every `every_ns` after it received a
/// delivery it asks the broker to set the delivery's deadline `by_ns` from
/// the request's arrival, as long as that stays within `max_ns` of the
/// receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseModel {
    pub every_ns: Nanos,
    pub by_ns: Nanos,
    pub max_ns: Option<Nanos>,
}

#[derive(Clone, Debug)]
pub struct NetworkModel {
    pub latency: Option<Dist>,
    /// Loss per kind of hop, indexed by [`Link`].
    pub loss: [f64; 4],
    pub duplicate: f64,
}

/// The kinds of hop a message or its acknowledgements make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Publish = 0,
    Confirm = 1,
    Delivery = 2,
    Ack = 3,
}

#[derive(Clone, Debug)]
pub enum WarmupSpec {
    Fixed(Nanos),
    Auto,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub name: String,
    pub seed: u64,
    pub duration_ns: Nanos,
    pub warmup: WarmupSpec,
    pub drain_ns: Nanos,
    pub sample_interval_ns: Nanos,
    /// Tables indexed without bounds checks by the ids the builder minted
    /// (crate-private: outside the crate, [`Model::producers`] and its
    /// siblings give checked slices).
    pub(crate) producers: Table<ProducerModel>,
    pub(crate) queues: Table<QueueModel>,
    pub(crate) groups: Table<GroupModel>,
    pub network: Option<NetworkModel>,
    pub faults: Vec<FaultModel>,
    pub topics: Vec<TopicModel>,
    /// Distinct keys over all producers (0: no keys).
    pub key_space: u32,
    /// Sagas over pipelines, with their compensations.
    pub sagas: Vec<SagaModel>,
    /// The prices of `[cost]`, when the scenario has the section.
    pub cost: Option<CostModel>,
}

impl Model {
    /// The producers, in scenario order.
    ///
    /// The crate's unchecked table cannot be built or reached from outside
    /// (that was undefined behaviour: `Table::from(vec![1])[5]`):
    /// ```compile_fail
    /// let t = mqsim::table::Table::from(vec![1u32]);
    /// ```
    /// ```compile_fail
    /// fn first(m: &mqsim::model::Model) -> usize { m.queues.len() }
    /// ```
    /// Outside the crate, the tables are plain slices (an index out of range
    /// is a checked panic):
    /// ```
    /// let s = mqsim::scenario::load_str(
    ///     "[[producer]]\nqueue = \"q\"\narrival = { process = \"poisson\", rate = 1.0 }\n[[queue]]\nname = \"q\"\n[[consumer]]\nqueue = \"q\"\n",
    ///     "s.toml",
    ///     &Default::default(),
    /// )
    /// .unwrap();
    /// let m = mqsim::model::compile(&s).unwrap();
    /// assert_eq!(m.producers().len(), 1);
    /// assert!(m.producers().get(5).is_none());
    /// assert!(std::panic::catch_unwind(|| m.queues()[5].name.clone()).is_err());
    /// ```
    pub fn producers(&self) -> &[ProducerModel] {
        &self.producers
    }

    /// The queues, in scenario order.
    pub fn queues(&self) -> &[QueueModel] {
        &self.queues
    }

    /// The consumer groups, in scenario order.
    pub fn groups(&self) -> &[GroupModel] {
        &self.groups
    }

    /// The consumer groups, to adjust a compiled model (tests, tools).
    pub fn groups_mut(&mut self) -> &mut [GroupModel] {
        &mut self.groups
    }

    /// The queues, to adjust a compiled model (tests, tools).
    pub fn queues_mut(&mut self) -> &mut [QueueModel] {
        &mut self.queues
    }

    pub fn warmup_ns(&self) -> Nanos {
        match self.warmup {
            WarmupSpec::Fixed(w) => w,
            WarmupSpec::Auto => 0,
        }
    }
}

/// Fills every default and preset into the scenario, so that `mqsim explain`
/// shows what will be simulated and the model reads no `None` it must guess.
pub fn resolve(s: &Scenario) -> Scenario {
    let mut r = s.clone();
    let sim = &mut r.simulation;
    let duration = sim
        .duration
        .unwrap_or(Duration::from_secs(DEFAULT_DURATION_S));
    sim.duration = Some(duration);
    sim.seed = Some(sim.seed.unwrap_or(1));
    sim.warmup = Some(sim.warmup.unwrap_or(Warmup::Fixed(Duration::ZERO)));
    sim.drain = Some(sim.drain.unwrap_or(Duration::from_secs(DEFAULT_DRAIN_S)));
    sim.replications = Some(sim.replications.unwrap_or(1));
    sim.sample_interval = Some(
        sim.sample_interval
            .unwrap_or(Duration((duration.ns() / 200).max(1))),
    );

    let queue_presets: Vec<Option<String>> = r.queues.iter().map(|q| q.preset.clone()).collect();
    resolve_queues(&mut r.queues);
    let ack_timeouts: Vec<Option<Duration>> = r.queues.iter().map(|q| q.ack_timeout).collect();
    for t in &mut r.topics {
        t.partitions = Some(t.partitions.unwrap_or(1));
        t.retention = Some(
            t.retention
                .unwrap_or(Duration::from_secs(DEFAULT_RETENTION_S)),
        );
        t.dead_letter = Some(t.dead_letter.unwrap_or(true));
        t.segment_bytes = Some(t.segment_bytes.unwrap_or(DEFAULT_SEGMENT_BYTES));
        t.segment_time = Some(
            t.segment_time
                .unwrap_or(Duration::from_secs(DEFAULT_SEGMENT_S)),
        );
        t.record_bytes = Some(t.record_bytes.unwrap_or(DEFAULT_RECORD_BYTES));
        t.retention_check_interval = Some(
            t.retention_check_interval
                .unwrap_or(Duration::from_secs(DEFAULT_RETENTION_CHECK_S)),
        );
        t.replication_factor = Some(t.replication_factor.unwrap_or(3));
    }
    let single_queue = r.queues.len() == 1;
    for pr in r.producers.iter_mut() {
        if pr.topic.is_none() && r.queues.is_empty() && r.topics.len() == 1 {
            pr.topic = Some(r.topics[0].name.clone());
        }
        if pr.topic.is_some() {
            pr.partitioner = Some(pr.partitioner.unwrap_or(if pr.key.is_some() {
                Partitioner::Key
            } else {
                Partitioner::RoundRobin
            }));
            pr.delivery_timeout = Some(
                pr.delivery_timeout
                    .unwrap_or(Duration::from_secs(DEFAULT_DELIVERY_TIMEOUT_S)),
            );
            pr.idempotent = Some(pr.idempotent.unwrap_or(true));
            continue;
        }
        if single_queue && pr.queue.is_none() {
            pr.queue = r.queues[0].name.clone().or(Some("queue".into()));
        }
        pr.confirm = Some(pr.confirm.unwrap_or(if pr.confirm_timeout.is_some() {
            Confirm::OnAccept
        } else {
            Confirm::None
        }));
        pr.persistent = Some(pr.persistent.unwrap_or(true));
        pr.outbox = Some(pr.outbox.unwrap_or(false));
    }
    let queue_names: Vec<String> = (0..s.queues.len()).map(|i| queue_name(s, i)).collect();
    let transactions = r
        .consumers
        .iter()
        .any(|c| c.commit == Some(CommitMode::Transactional));
    for (i, c) in r.consumers.iter_mut().enumerate() {
        if c.topic.is_some() {
            resolve_topic_consumer(c, consumer_name(s, i));
            resolve_transactional(c, transactions);
            continue;
        }
        let qi = resolve_queue(s, &c.queue).unwrap_or(0);
        if c.queue.is_none() {
            c.queue = Some(queue_names[qi].clone());
        }
        let pname = c.preset.clone().or_else(|| queue_presets[qi].clone());
        let p = pname.as_deref().and_then(preset).unwrap_or_default();
        c.count = Some(c.count.unwrap_or(1));
        c.prefetch = Some(c.prefetch.unwrap_or(1));
        c.concurrency = Some(c.concurrency.unwrap_or(1));
        c.ack = Some(c.ack.or(p.ack).unwrap_or(AckMode::AfterProcessing));
        resolve_work(c);
        c.retry = merge_retry(c.retry.as_ref(), p.retry.as_ref());
        c.extend_lease = merge_lease(c.extend_lease.as_ref(), &p, ack_timeouts[qi]);
        // The queue's broker decides whether receives are polled (SQS).
        c.receive_wait = c.receive_wait.or_else(|| {
            queue_presets[qi]
                .as_deref()
                .and_then(preset)
                .and_then(|q| q.receive_wait)
        });
        c.retry_mode = Some(c.retry_mode.unwrap_or(match (p.retry_mode, &c.retry) {
            (Some(m), _) => m,
            (None, Some(_)) => RetryMode::Delay,
            (None, None) => RetryMode::Requeue,
        }));
        if c.preset.is_none() {
            c.preset = pname;
        }
    }
    for saga in &mut r.sagas {
        saga.trigger = Some(saga.trigger.unwrap_or(SagaTrigger::DeadLetter));
        saga.order = Some(saga.order.unwrap_or(SagaOrder::Reverse));
    }
    if let Some(n) = &mut r.network {
        n.loss = Some(n.loss.unwrap_or(0.0));
        n.duplicate = Some(n.duplicate.unwrap_or(0.0));
    }
    for f in &mut r.faults {
        if f.kind == FaultKind::BrokerCrash {
            f.scope = Some(f.scope.unwrap_or(CrashScope::Machine));
        }
        if f.kind == FaultKind::DependencyOutage {
            f.failure = Some(f.failure.unwrap_or(1.0));
            f.slowdown = Some(f.slowdown.unwrap_or(1.0));
        }
    }
    r
}

pub use crate::scenario::DEFAULT_RECORD_BYTES;
/// Kafka `log.retention.check.interval.ms`: 5 minutes.
pub const DEFAULT_RETENTION_CHECK_S: u64 = 300;
/// Kafka `delivery.timeout.ms`: 120 s.
pub const DEFAULT_DELIVERY_TIMEOUT_S: u64 = 120;

/// The queues' defaults: the preset's, else mqsim's.
fn resolve_queues(queues: &mut [QueueCfg]) {
    for q in queues.iter_mut() {
        let p = q.preset.as_deref().and_then(preset).unwrap_or_default();
        q.ack_timeout = q.ack_timeout.or(p.ack_timeout);
        if q.max_deliveries.is_none() {
            q.max_deliveries = p.max_deliveries.flatten().map(Limit::Count);
        }
        q.dead_letter = Some(q.dead_letter.or(p.dead_letter).unwrap_or(true));
        q.dead_letter_expired = Some(
            q.dead_letter_expired
                .unwrap_or(p.removals_dead_lettered && q.dead_letter == Some(true)),
        );
        q.overflow = Some(q.overflow.unwrap_or(Overflow::RejectPublish));
        q.ttl_mode = Some(q.ttl_mode.or(p.ttl_mode).unwrap_or(TtlMode::Head));
        q.crash_requeue = Some(q.crash_requeue.clone().unwrap_or_else(|| {
            p.crash_requeue
                .unwrap_or(if q.ack_timeout.is_some() {
                    "ack-timeout"
                } else {
                    "immediate"
                })
                .into()
        }));
        q.durable = Some(q.durable.or(p.durable).unwrap_or(true));
        // `sync_interval` is the NATS name of the same setting.
        let given = q.fsync_interval.or(q.sync_interval.take());
        q.fsync_interval = Some(
            given.unwrap_or(SyncInterval::Every(
                p.fsync_interval
                    .unwrap_or(Duration::from_millis(DEFAULT_FSYNC_MS)),
            )),
        );
    }
}

/// What processing takes and how it fails: the same for queue and topic consumers.
fn resolve_work(c: &mut ConsumerCfg) {
    c.service = Some(c.service.clone().unwrap_or(DistCfg {
        dist: "exponential".into(),
        mean: Some(Duration::from_millis(100)),
        ..Default::default()
    }));
    c.failure = Some(c.failure.unwrap_or(0.0));
    c.poison = Some(c.poison.unwrap_or(0.0));
    c.non_retryable = Some(c.non_retryable.unwrap_or(0.0));
}

/// A transaction every 100 ms: Kafka Streams' `commit.interval.ms` under
/// exactly-once.
pub const DEFAULT_TRANSACTION_INTERVAL_MS: u64 = 100;

/// Where a scenario has transactions (`transactions`): a transactional
/// group's interval, and every topic group's isolation (Kafka's default,
/// `read_uncommitted`), so that `explain` shows what the readers see.
fn resolve_transactional(c: &mut ConsumerCfg, transactions: bool) {
    if c.commit == Some(CommitMode::Transactional) {
        c.transaction_interval = Some(
            c.transaction_interval
                .unwrap_or(Duration::from_millis(DEFAULT_TRANSACTION_INTERVAL_MS)),
        );
    }
    if transactions {
        c.isolation = Some(c.isolation.unwrap_or(Isolation::ReadUncommitted));
    }
}

/// Kafka's consumer defaults (3.x) and Spring's blocking error handler.
fn resolve_topic_consumer(c: &mut ConsumerCfg, name: String) {
    c.group = Some(c.group.clone().unwrap_or(name));
    c.count = Some(c.count.unwrap_or(1));
    c.commit = Some(c.commit.unwrap_or(CommitMode::AfterProcessing));
    if matches!(c.commit, Some(CommitMode::Auto | CommitMode::AutoInPoll)) {
        c.auto_commit_interval = Some(c.auto_commit_interval.unwrap_or(Duration::from_secs(5)));
    }
    c.max_poll_records = Some(c.max_poll_records.unwrap_or(500));
    c.session_timeout = Some(c.session_timeout.unwrap_or(Duration::from_secs(45)));
    c.max_poll_interval = Some(c.max_poll_interval.unwrap_or(Duration::from_secs(300)));
    c.auto_offset_reset = Some(c.auto_offset_reset.unwrap_or(OffsetReset::Latest));
    c.assignor = Some(c.assignor.unwrap_or(Assignor::Range));
    c.group_protocol = Some(c.group_protocol.unwrap_or(GroupProtocol::Classic));
    c.group_instance_id = Some(c.group_instance_id.unwrap_or(false));
    if c.group_protocol == Some(GroupProtocol::Consumer) {
        c.heartbeat_interval = Some(c.heartbeat_interval.unwrap_or(Duration::from_secs(5)));
    }
    resolve_work(c);
    c.retry_mode = Some(c.retry_mode.unwrap_or(RetryMode::InHandler));
    if c.retry.is_none() {
        // Spring Kafka's DefaultErrorHandler: FixedBackOff(0, 9), ten
        // attempts in all, back to back.
        c.retry = Some(RetryCfg {
            backoff: Some(crate::strategy::backoff::BackoffKind::None),
            max_attempts: Some(Limit::Count(10)),
            ..Default::default()
        });
    }
}

fn ns(d: Option<Duration>) -> Option<Nanos> {
    d.map(|d| d.ns())
}

/// Recorded publish times replayed `speed` times as fast. At speed 1 the
/// recorded nanoseconds are kept as they are (no rounding through a float).
fn at_speed(times: &std::sync::Arc<[Nanos]>, speed: f64) -> std::sync::Arc<[Nanos]> {
    if speed == 1.0 {
        return times.clone();
    }
    times
        .iter()
        .map(|t| crate::time::secs_to_ns(*t as f64 / 1e9 / speed))
        .collect()
}

/// Compiles a validated scenario. Errors here are bugs of validation; they
/// are reported, not panicked on.
pub fn compile(s: &Scenario) -> Result<Model, String> {
    let r = resolve(s);
    let sim = &r.simulation;
    let dist = |d: &DistCfg| Dist::compile(d).map_err(|(k, m)| format!("{k}: {m}"));
    let producers = compile_producers(&r)?;
    let queues = compile_queues(s, &r);
    // A coordinator request and its response: twice the mean latency.
    let round_trip_ns = match r.network.as_ref().and_then(|n| n.latency.as_ref()) {
        Some(d) => crate::time::secs_to_ns(2.0 * dist(d)?.mean()),
        None => 0,
    };
    let groups = compile_groups(&r, round_trip_ns)?;
    let network = match &r.network {
        Some(n) => Some(NetworkModel {
            latency: match &n.latency {
                Some(d) => Some(dist(d)?),
                None => None,
            },
            loss: {
                let l = n.loss.unwrap_or(0.0);
                [
                    n.publish_loss.unwrap_or(l),
                    n.confirm_loss.unwrap_or(l),
                    n.delivery_loss.unwrap_or(l),
                    n.ack_loss.unwrap_or(l),
                ]
            },
            duplicate: n.duplicate.unwrap_or(0.0),
        }),
        None => None,
    };
    let faults = faults::compile_faults(&r)?;
    Ok(Model {
        name: sim.name.clone().unwrap_or_else(|| "scenario".into()),
        seed: sim.seed.unwrap_or(1),
        duration_ns: sim
            .duration
            .map_or(DEFAULT_DURATION_S * 1_000_000_000, |d| d.ns()),
        warmup: match sim.warmup {
            Some(Warmup::Auto) => WarmupSpec::Auto,
            Some(Warmup::Fixed(d)) => WarmupSpec::Fixed(d.ns()),
            None => WarmupSpec::Fixed(0),
        },
        drain_ns: ns(sim.drain).unwrap_or(0),
        sample_interval_ns: ns(sim.sample_interval).unwrap_or(1).max(1),
        producers: producers.into(),
        queues: queues.into(),
        groups: groups.into(),
        network,
        faults,
        key_space: r
            .producers
            .iter()
            .filter_map(|p| p.key.as_ref().map(|k| k.count as u32))
            .max()
            .unwrap_or(0),
        topics: r
            .topics
            .iter()
            .map(|t| TopicModel {
                name: t.name.clone(),
                partitions: t.partitions.unwrap_or(1),
                retention_ns: ns(t.retention).unwrap_or(DEFAULT_RETENTION_S * 1_000_000_000),
                dead_letter: t.dead_letter.unwrap_or(true),
                segment_records: (t.segment_bytes.unwrap_or(DEFAULT_SEGMENT_BYTES)
                    / t.record_bytes.unwrap_or(DEFAULT_RECORD_BYTES))
                .max(1),
                segment_ns: ns(t.segment_time).unwrap_or(DEFAULT_SEGMENT_S * 1_000_000_000),
                retention_check_ns: ns(t.retention_check_interval)
                    .unwrap_or(DEFAULT_RETENTION_CHECK_S * 1_000_000_000),
                replication_factor: t.replication_factor.unwrap_or(3),
            })
            .collect(),
        sagas: compile_sagas(&r)?,
        cost: cost::compile_cost(&r),
    })
}

/// The producers of resolved scenario `r`.
fn compile_producers(r: &Scenario) -> Result<Vec<ProducerModel>, String> {
    let dist = |d: &DistCfg| Dist::compile(d).map_err(|(k, m)| format!("{k}: {m}"));
    let mut producers = Vec::new();
    for (i, p) in r.producers.iter().enumerate() {
        let a = &p.arrival;
        let arrival = match a.process.as_str() {
            "poisson" => Arrival::Poisson {
                rate_per_s: a.rate.unwrap_or(1.0),
            },
            "constant" => Arrival::Constant {
                interval_ns: ((1e9 / a.rate.unwrap_or(1.0)).round() as Nanos).max(1),
            },
            "schedule" => Arrival::Schedule(
                a.schedule
                    .iter()
                    .flatten()
                    .map(|p| (p.at.ns(), p.rate))
                    .collect(),
            ),
            "profile" => match &a.loaded {
                Some(Loaded::Schedule(pieces)) => {
                    Arrival::Schedule(pieces.iter().map(|p| (p.at.ns(), p.rate)).collect())
                }
                _ => return Err(format!("producer {i}: the profile file was not read")),
            },
            "trace" => match &a.loaded {
                Some(Loaded::Times(times)) => {
                    Arrival::Trace(at_speed(times, a.speed.unwrap_or(1.0)))
                }
                _ => return Err(format!("producer {i}: the trace file was not read")),
            },
            other => Arrival::Interarrival(dist(&interarrival_dist(a, other))?),
        };
        let topic = match &p.topic {
            Some(t) => Some(resolve_topic(r, t)?),
            None => None,
        };
        let keys = match &p.key {
            Some(k) => Some(KeySpace {
                count: k.count as u32,
                zipf: if k.dist == KeyDist::Zipf {
                    Some(
                        rand_distr::Zipf::new(k.count as f64, k.exponent.unwrap_or(1.0))
                            .map_err(|e| format!("producer key: {e}"))?,
                    )
                } else {
                    None
                },
            }),
            None => None,
        };
        producers.push(ProducerModel {
            name: producer_name(r, i),
            queue: if topic.is_some() {
                NO_QUEUE
            } else {
                resolve_queue(r, &p.queue)?
            },
            topic,
            keys,
            partition_by_key: p.partitioner == Some(Partitioner::Key),
            delivery_timeout_ns: ns(p.delivery_timeout)
                .unwrap_or(DEFAULT_DELIVERY_TIMEOUT_S * 1_000_000_000),
            idempotent: p.idempotent.unwrap_or(true),
            arrival,
            confirm: p.confirm.unwrap_or(Confirm::None),
            // Fire and forget waits for no confirm: a confirm timeout
            // means nothing then.
            confirm_timeout_ns: if p.confirm == Some(Confirm::None) {
                None
            } else {
                ns(p.confirm_timeout)
            },
            retry: p.retry.as_ref().map(RetryCfg::policy),
            persistent: p.persistent.unwrap_or(true),
            ttl_ns: ns(p.ttl),
            outbox: p.outbox.unwrap_or(false),
            timeout_ns: ns(p.timeout),
            budget: p.retry_budget.clone(),
        });
    }
    Ok(producers)
}

/// The queues of resolved scenario `r`; `s` is the scenario as written
/// (a preset's dead-lettering stays only where the user did not ask for
/// it).
fn compile_queues(s: &Scenario, r: &Scenario) -> Vec<QueueModel> {
    let mut queues = Vec::new();
    for (i, q) in r.queues.iter().enumerate() {
        let p = q.preset.as_deref().and_then(preset).unwrap_or_default();
        let max_deliveries = q.max_deliveries.and_then(Limit::count);
        // `crash_requeue` as a duration: the deliveries come back that long after the crash.
        let crash_after = q
            .crash_requeue
            .as_deref()
            .and_then(|v| Duration::parse(v).ok())
            .map(|d| d.ns());
        queues.push(QueueModel {
            name: queue_name(r, i),
            preset: q.preset.clone(),
            max_length: q.capacity,
            capacity: q.capacity.map(|limit| {
                let refuses_once_over = p.reject_publish_over_limit
                    && matches!(q.overflow, None | Some(Overflow::RejectPublish));
                limit + u64::from(refuses_once_over)
            }),
            overflow: q.overflow.unwrap_or(Overflow::RejectPublish),
            ack_timeout_ns: ns(q.ack_timeout),
            max_deliveries,
            dead_letter: q.dead_letter.unwrap_or(true),
            // NATS keeps a message at MaxDeliver in the stream unless the
            // user asks for a dead-letter queue explicitly.
            at_limit_stays: p.at_limit == Some("stay") && s.queues[i].dead_letter != Some(true),
            ttl_ns: ns(q.ttl),
            ttl_anywhere: q.ttl_mode == Some(TtlMode::Anywhere),
            expired_dead_lettered: q.dead_letter_expired == Some(true)
                && q.dead_letter.unwrap_or(true),
            dropped_head_dead_lettered: p.removals_dead_lettered && q.dead_letter.unwrap_or(true),
            crash_requeue_immediate: crash_after.is_none()
                && (q.crash_requeue.as_deref() != Some("ack-timeout") || q.ack_timeout.is_none()),
            crash_requeue_after_ns: crash_after,
            nacks_uncounted: p.nacks_uncounted,
            nack_to_back: p.nack_to_back_unlimited && max_deliveries.is_none(),
            expiry_backoff: p.expiry_backoff && q.ack_timeout.is_some(),
            late_ack_settles: p.late_ack_settles,
            delay_keeps_slot: p.delay_keeps_slot,
            retry_due_first: p.retry_due_first,
            crash_keeps_pending: p.crash_keeps_pending && q.ack_timeout.is_some(),
            durable: q.durable.unwrap_or(true),
            fsync_ns: q.fsync_interval.map_or(0, |f| f.interval().ns()),
            dedup_window_ns: ns(q.dedup_window),
            redrive: q.redrive.as_ref().map(|r| (r.start.ns(), r.rate)),
            fifo_by_key: q.fifo_by_key.unwrap_or(false),
            orbit_bound: q.orbit_bound,
        });
    }
    queues
}

/// The consumer groups of resolved scenario `r`; `round_trip_ns` is a
/// coordinator request and its response.
fn compile_groups(r: &Scenario, round_trip_ns: Nanos) -> Result<Vec<GroupModel>, String> {
    let dist = |d: &DistCfg| Dist::compile(d).map_err(|(k, m)| format!("{k}: {m}"));
    let mut groups = Vec::new();
    for (i, c) in r.consumers.iter().enumerate() {
        let log = match &c.topic {
            Some(t) => Some(LogGroupModel {
                topic: resolve_topic(r, t)?,
                group: c.group.clone().unwrap_or_else(|| consumer_name(r, i)),
                commit: c.commit.unwrap_or(CommitMode::AfterProcessing),
                auto_commit_ns: ns(c.auto_commit_interval).unwrap_or(5_000_000_000),
                max_poll_records: c.max_poll_records.unwrap_or(500),
                session_timeout_ns: ns(c.session_timeout).unwrap_or(45_000_000_000),
                max_poll_interval_ns: ns(c.max_poll_interval).unwrap_or(300_000_000_000),
                rebalance_ns: ns(c.rebalance_time),
                reset_to_latest: c.auto_offset_reset != Some(OffsetReset::Earliest),
                assignor: c.assignor.unwrap_or(Assignor::Range),
                protocol: c.group_protocol.unwrap_or(GroupProtocol::Classic),
                static_membership: c.group_instance_id.unwrap_or(false),
                heartbeat_ns: ns(c.heartbeat_interval).unwrap_or(5_000_000_000),
                round_trip_ns,
                publish_to: match &c.publish_to {
                    Some(out) => Some(resolve_topic(r, out)?),
                    None => None,
                },
                transaction_ns: ns(c.transaction_interval)
                    .unwrap_or(DEFAULT_TRANSACTION_INTERVAL_MS * 1_000_000),
                read_committed: c.isolation == Some(Isolation::ReadCommitted),
            }),
            None => None,
        };
        groups.push(GroupModel {
            name: consumer_name(r, i),
            queue: if log.is_some() {
                NO_QUEUE
            } else {
                resolve_queue(r, &c.queue)?
            },
            log,
            resequence: c
                .resequence
                .as_ref()
                .map(|x| (x.max_held, ns(x.max_wait).unwrap_or(30_000_000_000))),
            count: c.count.unwrap_or(1),
            prefetch: c.prefetch.unwrap_or(1),
            concurrency: c.concurrency.unwrap_or(1),
            ack_on_receive: c.ack == Some(AckMode::OnReceive),
            push_all: c.ack == Some(AckMode::OnReceive)
                && c.preset
                    .as_deref()
                    .and_then(preset)
                    .is_some_and(|p| p.auto_ack_ignores_prefetch),
            service: dist(c.service.as_ref().ok_or("no service")?)?,
            failure: c.failure.unwrap_or(0.0),
            poison: c.poison.unwrap_or(0.0),
            non_retryable: c.non_retryable.unwrap_or(0.0),
            publish_to: match (&c.publish_to, &c.topic) {
                (Some(t), None) => Some(resolve_queue(r, &Some(t.clone()))?),
                _ => None,
            },
            retry: c.retry.as_ref().map(RetryCfg::policy),
            // Only a delivery that waits for its ack has a lease.
            extend_lease: match &c.extend_lease {
                Some(ExtendLease::On(l)) if c.ack != Some(AckMode::OnReceive) => {
                    match (l.every, l.by) {
                        (Some(every), Some(by)) => Some(LeaseModel {
                            every_ns: every.ns(),
                            by_ns: by.ns(),
                            max_ns: ns(l.max),
                        }),
                        _ => None,
                    }
                }
                _ => None,
            },
            retry_mode: c.retry_mode.unwrap_or(RetryMode::Requeue),
            idempotency_ns: c.idempotency.as_ref().map(|i| i.window.ns()),
            budget: c.retry_budget.clone(),
            breaker: c.breaker.clone(),
            side_effect: SideEffect::named(c.side_effect),
            autoscale: c.autoscale.as_ref().map(autoscale::compile_autoscale),
        });
    }
    Ok(groups)
}
