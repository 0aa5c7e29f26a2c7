//! What of a scenario `mqsim live` can run on a real broker, and the plan
//! it runs: every time scaled to wall time by `--speed`. Whatever has no
//! mapping is refused before a broker is started or reached, so that a live
//! figure never silently answers a different question than the simulation.

use crate::model::{Arrival, Confirm, FaultKind, FaultTiming, Model, Overflow};
use crate::scenario::{AckMode, Scenario};
use crate::strategy::backoff::{Jitter, RetryPolicy};
use crate::time::Nanos;

/// How one queue is declared on the broker (times in wall nanoseconds).
#[derive(Clone, Debug)]
pub struct QueuePlan {
    pub name: String,
    /// The broker-side name (a stream name: letters, digits, `_`, `-`).
    pub broker_name: String,
    pub capacity: Option<u64>,
    /// True: a full queue drops its oldest message (DiscardOld); false:
    /// it refuses the publish (DiscardNew).
    pub drop_oldest: bool,
    pub ack_wait_ns: Nanos,
    /// Deliveries in all (the first included).
    pub max_deliveries: Option<u32>,
    pub max_age_ns: Option<Nanos>,
    /// RabbitMQ: a quorum queue (the `rabbitmq-quorum` preset), else classic.
    pub quorum: bool,
    /// Whether a message at the delivery limit counts as dead-lettered
    /// (`queue.dead_letter`) or as lost (dropped at the limit).
    pub dead_letter: bool,
    /// Expired messages count as dead-lettered (the model's
    /// `expired_dead_lettered`), else as expired.
    pub expired_dead_lettered: bool,
    /// Heads dropped by a full drop-head queue count as dead-lettered,
    /// else as lost.
    pub dropped_head_dead_lettered: bool,
}

/// One consumer group: `count` instances reading one durable consumer.
#[derive(Clone, Debug)]
pub struct GroupPlan {
    pub name: String,
    pub broker_name: String,
    pub queue: usize,
    pub count: u32,
    pub prefetch: u32,
    pub ack_on_receive: bool,
    pub failure: f64,
    /// A failed attempt is returned with `basic.reject` (requeue) rather
    /// than `basic.nack` (`consumer.retry_mode = "reject-requeue"`).
    pub reject: bool,
    /// Deliveries in all before the broker gives a message up: the
    /// queue's `max_deliveries` or the retry policy's `max_attempts`,
    /// whichever is fewer (JetStream `MaxDeliver`).
    pub max_deliveries: Option<u32>,
    /// A failed attempt comes back after the policy's backoff (`retry_mode
    /// = "delay"`: JetStream `NakWithDelay`); None: at once.
    pub retry_delay: Option<RetryPolicy>,
}

/// One producer and its arrival process (wall time).
#[derive(Clone, Debug)]
pub struct ProducerPlan {
    pub name: String,
    pub queue: usize,
    pub arrival: WallArrival,
    /// The message keys it draws (`producer.key`): kept in the ledger, not
    /// sent, since ordering is measured from the first processings.
    pub keys: Option<crate::model::KeySpace>,
    /// Publishes again after a refusal (the broker down, or a full queue
    /// that rejects) or a confirm timeout, as the simulation's producer
    /// does: only one that awaits its confirms (`confirm_timeout`), since
    /// a fire-and-forget producer never learns of a refusal.
    pub retry: Option<RetryPolicy>,
    /// `producer.confirm_timeout` in scenario time: how long a publish
    /// waits for its confirm (publish ack) before it counts as failed.
    pub confirm_timeout_ns: Option<Nanos>,
}

#[derive(Clone, Copy, Debug)]
pub enum WallArrival {
    Poisson { rate_per_wall_s: f64 },
    Constant { interval_wall_ns: Nanos },
}

/// A scheduled consumer crash (wall time): the processes of the instances
/// it hits are killed with SIGKILL (their connection closes: RabbitMQ
/// requeues what they held unacked, JetStream redelivers it after AckWait,
/// and what an auto-ack consumer had received is gone), and new processes
/// take their place after the downtime.
#[derive(Clone, Debug)]
pub struct CrashPlan {
    /// The consumer group it hits (None: every group).
    pub group: Option<usize>,
    /// The instance of the group (None: every instance).
    pub instance: Option<u32>,
    pub at_wall_ns: Nanos,
    pub down_wall_ns: Nanos,
}

impl CrashPlan {
    pub fn hits(&self, group: usize, instance: u32) -> bool {
        self.group.is_none_or(|g| g == group) && self.instance.is_none_or(|i| i == instance)
    }
}

/// A crash of the spawned broker's process, in wall time.
#[derive(Clone, Copy, Debug)]
pub struct BrokerCrashPlan {
    pub at_wall_ns: Nanos,
    pub down_wall_ns: Nanos,
}

/// The whole live run, in wall time; `speed` converts back.
#[derive(Clone, Debug)]
pub struct LivePlan {
    pub speed: f64,
    /// Broker crashes (`--spawn` only): the broker's process is killed
    /// with SIGKILL at `at_wall_ns` and started again on the same port and
    /// data folder `down_wall_ns` later.
    pub broker_crashes: Vec<BrokerCrashPlan>,
    pub seed: u64,
    pub duration_wall_ns: Nanos,
    pub warmup_wall_ns: Nanos,
    pub drain_wall_ns: Nanos,
    pub queues: Vec<QueuePlan>,
    pub groups: Vec<GroupPlan>,
    pub producers: Vec<ProducerPlan>,
    pub crashes: Vec<CrashPlan>,
}

impl LivePlan {
    /// Scenario nanoseconds to wall nanoseconds.
    pub fn wall_ns(speed: f64, scenario_ns: Nanos) -> Nanos {
        (scenario_ns as f64 / speed).round() as Nanos
    }

    /// Wall times when an ack can be lost with the broker: each broker
    /// crash's downtime, from a little before the kill (an ack on its way)
    /// to 2 s after the restart (the server starting, the clients coming
    /// back).
    pub fn lost_ack_windows(&self) -> Vec<(Nanos, Nanos)> {
        const BEFORE_NS: Nanos = 100_000_000;
        const AFTER_NS: Nanos = 2_000_000_000;
        self.broker_crashes
            .iter()
            .map(|c| {
                let end = c.at_wall_ns + c.down_wall_ns + AFTER_NS;
                (c.at_wall_ns.saturating_sub(BEFORE_NS), end)
            })
            .collect()
    }
}

/// The refusal: the key and the broker, as the user reads it.
pub fn refuse(key: &str, broker: &str, why: &str) -> String {
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" ({why})")
    };
    format!("`{key}` is not supported by `mqsim live` on {broker}{why}")
}

/// Every key of the scenario that has no mapping on `broker`, first one
/// found reported. Keys are checked as written (after `--set`), so that a
/// preset's defaults, which the mapping covers, are not refused.
pub fn check_supported(s: &Scenario, broker: &str, spawned: bool) -> Result<(), String> {
    let no = |key: &str| Err(refuse(key, broker, ""));
    if !s.topics.is_empty() {
        return no("topic");
    }
    if s.network.is_some() {
        return Err(refuse(
            "network",
            broker,
            "loopback has no loss or latency to inject",
        ));
    }
    for f in &s.faults {
        let scheduled = f.mtbf.is_none() && f.mttr.is_none() && f.every.is_none();
        if f.kind == FaultKind::BrokerCrash && scheduled {
            check_broker_crash(f, broker, spawned)?;
            continue;
        }
        // A consumer crash at a fixed time: the instances' processes are
        // killed with SIGKILL and started again after the downtime.
        let scheduled_crash = f.kind == FaultKind::ConsumerCrash && scheduled;
        if !scheduled_crash {
            let why = if f.kind == FaultKind::ConsumerCrash {
                "only a crash at a fixed `at` with a `downtime` is"
            } else {
                ""
            };
            return Err(refuse(&format!("fault.kind = \"{}\"", f.kind), broker, why));
        }
    }
    if !s.variants.is_empty() {
        return Err(refuse(
            "variant",
            broker,
            "run one variant's settings with --set",
        ));
    }
    if matches!(s.simulation.warmup, Some(crate::scenario::Warmup::Auto)) {
        return Err(refuse(
            "simulation.warmup = \"auto\"",
            broker,
            "give a fixed warm-up",
        ));
    }
    check_producers(s, broker)?;
    check_queues(s, broker)?;
    check_consumers(s, broker)?;
    if broker == "rabbitmq" {
        check_rabbitmq(s)?;
    }
    Ok(())
}

/// A broker crash at a fixed time: mqsim kills the broker it started
/// (SIGKILL, a process crash) and starts it again after the downtime.
fn check_broker_crash(
    f: &crate::scenario::FaultCfg,
    broker: &str,
    spawned: bool,
) -> Result<(), String> {
    let key = "fault.kind = \"broker-crash\"";
    if broker != "nats" {
        return Err(refuse(
            key,
            broker,
            "the AMQP client does not reconnect; a broker crash is mapped on NATS JetStream",
        ));
    }
    if !spawned {
        return Err(refuse(
            &format!("{key} without --spawn"),
            broker,
            "mqsim kills and restarts only a broker it started itself",
        ));
    }
    if f.scope != Some(crate::scenario::CrashScope::Process) {
        return Err(refuse(
            &format!("{key} without fault.scope = \"process\""),
            broker,
            "a SIGKILL is a process crash, which keeps what the page cache holds, and the simulation's default scope is \"machine\": set scope = \"process\"",
        ));
    }
    Ok(())
}

fn check_producers(s: &Scenario, broker: &str) -> Result<(), String> {
    for p in &s.producers {
        let set = [
            ("producer.topic", p.topic.is_some()),
            ("producer.partitioner", p.partitioner.is_some()),
            ("producer.outbox", p.outbox == Some(true)),
            ("producer.timeout", p.timeout.is_some()),
            ("producer.retry_budget", p.retry_budget.is_some()),
            ("producer.ttl", p.ttl.is_some()),
            ("producer.persistent = false", p.persistent == Some(false)),
            (
                "producer.confirm = \"after-fsync\"",
                p.confirm == Some(Confirm::AfterFsync),
            ),
        ];
        if let Some((key, _)) = set.iter().find(|(_, on)| *on) {
            return Err(refuse(key, broker, ""));
        }
        let process = p.arrival.process.as_str();
        if process != "poisson" && process != "constant" {
            return Err(refuse(
                &format!("producer.arrival.process = \"{process}\""),
                broker,
                "poisson and constant are",
            ));
        }
    }
    Ok(())
}

fn check_queues(s: &Scenario, broker: &str) -> Result<(), String> {
    for q in &s.queues {
        if let Some(p) = q.preset.as_deref().filter(|p| !preset_fits(p, broker)) {
            return Err(refuse(&format!("queue.preset = \"{p}\""), broker, ""));
        }
        let set = [
            ("queue.ttl_mode", q.ttl_mode.is_some()),
            ("queue.crash_requeue", q.crash_requeue.is_some()),
            ("queue.durable = false", q.durable == Some(false)),
            (
                "queue.fsync_interval",
                q.fsync_interval.or(q.sync_interval).is_some(),
            ),
            ("queue.dedup_window", q.dedup_window.is_some()),
            ("queue.redrive", q.redrive.is_some()),
            ("queue.fifo_by_key", q.fifo_by_key == Some(true)),
            ("queue.orbit_bound", q.orbit_bound.is_some()),
            (
                "queue.overflow = \"dead-letter\"",
                q.overflow == Some(Overflow::DeadLetter),
            ),
        ];
        if let Some((key, _)) = set.iter().find(|(_, on)| *on) {
            return Err(refuse(key, broker, ""));
        }
        if q.ttl.is_some() && q.overflow == Some(Overflow::DropHead) {
            return Err(refuse(
                "queue.ttl with queue.overflow = \"drop-head\"",
                broker,
                "both remove messages unseen, and the live run cannot tell which removed one",
            ));
        }
    }
    Ok(())
}

fn check_consumers(s: &Scenario, broker: &str) -> Result<(), String> {
    for c in &s.consumers {
        if let Some(p) = c.preset.as_deref().filter(|p| !preset_fits(p, broker)) {
            return Err(refuse(&format!("consumer.preset = \"{p}\""), broker, ""));
        }
        let mapped_modes: &[&str] = if broker == "rabbitmq" {
            &["requeue", "reject-requeue", "delay"]
        } else {
            &["requeue", "delay"]
        };
        let retry_mode = c
            .retry_mode
            .map(|m| m.word())
            .filter(|m| !mapped_modes.contains(m));
        let set = [
            ("consumer.topic", c.topic.is_some()),
            ("consumer.group", c.group.is_some()),
            ("consumer.commit", c.commit.is_some()),
            ("consumer.concurrency", c.concurrency.is_some_and(|n| n > 1)),
            ("consumer.poison", c.poison.is_some_and(|p| p > 0.0)),
            (
                "consumer.non_retryable",
                c.non_retryable.is_some_and(|p| p > 0.0),
            ),
            ("consumer.publish_to", c.publish_to.is_some()),
            ("consumer.idempotency", c.idempotency.is_some()),
            ("consumer.retry_budget", c.retry_budget.is_some()),
            ("consumer.breaker", c.breaker.is_some()),
            ("consumer.resequence", c.resequence.is_some()),
            ("consumer.extend_lease", c.extend_lease.is_some()),
        ];
        if let Some((key, _)) = set.iter().find(|(_, on)| *on) {
            return Err(refuse(key, broker, ""));
        }
        if let Some(mode) = retry_mode {
            let mapped: Vec<String> = mapped_modes.iter().map(|m| format!("\"{m}\"")).collect();
            return Err(refuse(
                &format!("consumer.retry_mode = \"{mode}\""),
                broker,
                &format!("{} are", mapped.join(", ")),
            ));
        }
        if let Some(policy) = &c.retry {
            check_retry(policy, broker)?;
        }
        if c.failure.is_some_and(|p| p > 0.0) && c.ack == Some(AckMode::OnReceive) {
            return Err(refuse(
                "consumer.failure with consumer.ack = \"on-receive\"",
                broker,
                "a failure after the ack has nothing to tell the broker",
            ));
        }
    }
    Ok(())
}

/// A consumer's retry policy: on NATS its delays are `NakWithDelay`s and
/// its `max_attempts` the consumer's `MaxDeliver`; on RabbitMQ each delay
/// is a queue whose TTL dead-letters the copy back, declared before the
/// run, so the delays must be known then (no jitter, no Sidekiq draw).
/// Both work from the attempts counted so far; what needs more than that
/// count is refused.
fn check_retry(policy: &crate::scenario::RetryCfg, broker: &str) -> Result<(), String> {
    if broker == "rabbitmq" {
        if let Some(jitter) = policy.jitter.filter(|j| *j != Jitter::None) {
            return Err(refuse(
                &format!("consumer.retry.jitter = \"{}\"", jitter.word()),
                broker,
                "each delay is a queue with a fixed TTL, declared before the run",
            ));
        }
        if let Some(backoff) = policy.backoff.filter(|b| b.is_sidekiq()) {
            return Err(refuse(
                &format!("consumer.retry.backoff = \"{}\"", backoff.word()),
                broker,
                "its random term cannot be a delay queue's fixed TTL",
            ));
        }
    }
    if policy.max_elapsed.is_some() {
        return Err(refuse(
            "consumer.retry.max_elapsed",
            broker,
            "the broker keeps a delivery count, not the time of the first attempt",
        ));
    }
    if policy.jitter == Some(Jitter::Decorrelated) {
        return Err(refuse(
            "consumer.retry.jitter = \"decorrelated\"",
            broker,
            "it reads the previous delay, which the broker does not keep",
        ));
    }
    Ok(())
}

/// Whether preset `spec` (`NAME` or `NAME@VERSION`) describes `broker`.
fn preset_fits(spec: &str, broker: &str) -> bool {
    let name = spec.split('@').next().unwrap_or(spec);
    match broker {
        "rabbitmq" => name == "rabbitmq-quorum" || name == "rabbitmq-classic",
        _ => name == "nats-jetstream",
    }
}

/// What RabbitMQ cannot do as the scenario says: a per-queue ack timeout
/// (its `consumer_timeout` is broker-wide and checked about once a
/// minute), a TTL with auto-ack (auto-ack deliveries ignore the prefetch,
/// so every ready message leaves the queue, and its TTL, at once).
fn check_rabbitmq(s: &Scenario) -> Result<(), String> {
    let broker = "rabbitmq";
    for q in &s.queues {
        if q.ack_timeout.is_some() {
            return Err(refuse(
                "queue.ack_timeout",
                broker,
                "RabbitMQ's consumer_timeout is broker-wide and checked about once a minute",
            ));
        }
    }
    let auto_ack = s
        .consumers
        .iter()
        .any(|c| c.ack == Some(AckMode::OnReceive));
    if auto_ack && s.queues.iter().any(|q| q.ttl.is_some()) {
        return Err(refuse(
            "queue.ttl with consumer.ack = \"on-receive\"",
            broker,
            "auto-ack deliveries ignore the prefetch: every ready message leaves the queue at once",
        ));
    }
    Ok(())
}

/// A delayed retry on RabbitMQ goes through a delay queue per delay,
/// declared before the run: the attempts must be bounded, and the
/// queue's TTL would start again when a retry re-enters the queue.
fn check_rabbitmq_delays(m: &Model, g: &crate::model::GroupModel) -> Result<(), String> {
    let broker = "rabbitmq";
    let q = &m.queues()[g.queue];
    let limit = fewest(
        q.max_deliveries,
        g.retry.as_ref().and_then(|r| r.max_attempts),
    );
    if limit.is_none() {
        return Err(refuse(
            "consumer.retry with unbounded attempts",
            broker,
            "each retry's delay queue is declared before the run: set retry.max_attempts or queue.max_deliveries",
        ));
    }
    if q.ttl_ns.is_some() {
        return Err(refuse(
            "queue.ttl with consumer.retry_mode = \"delay\"",
            broker,
            "a retry re-enters the queue, where its TTL would start again",
        ));
    }
    Ok(())
}

/// The smaller of two optional limits (None: no limit).
fn fewest(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        _ => a.or(b),
    }
}

/// A broker-safe name: letters, digits, `-` and `_` kept, the rest `_`.
fn broker_name(prefix: &str, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}{clean}")
}

/// The plan from the compiled model (defaults and presets resolved), after
/// [`check_supported`] passed on the scenario it came from.
pub fn build(m: &Model, speed: f64, broker: &str) -> Result<LivePlan, String> {
    let wall = |ns: Nanos| LivePlan::wall_ns(speed, ns);
    // Without an ack timeout the simulation never redelivers: a wait
    // longer than the whole run does the same on the broker.
    let never_ns = wall(m.duration_ns + m.drain_ns)
        .saturating_mul(4)
        .max(60_000_000_000);
    let mut queues = Vec::new();
    for q in m.queues() {
        let quorum = q
            .preset
            .as_deref()
            .is_some_and(|p| p.starts_with("rabbitmq-quorum"));
        if broker == "rabbitmq" && !quorum && q.max_deliveries.is_some() {
            return Err(refuse(
                "queue.max_deliveries on a classic queue",
                broker,
                "classic queues have no delivery limit: use preset = \"rabbitmq-quorum\"",
            ));
        }
        queues.push(QueuePlan {
            name: q.name.clone(),
            broker_name: broker_name("mqsim-", &q.name),
            capacity: q.max_length,
            drop_oldest: q.overflow == Overflow::DropHead,
            ack_wait_ns: q.ack_timeout_ns.map_or(never_ns, wall).max(1_000_000),
            max_deliveries: q.max_deliveries,
            max_age_ns: q.ttl_ns.map(wall),
            quorum,
            dead_letter: q.dead_letter,
            expired_dead_lettered: q.expired_dead_lettered,
            dropped_head_dead_lettered: q.dropped_head_dead_lettered,
        });
    }
    let mut groups = Vec::new();
    for g in m.groups() {
        let delayed = g.retry_mode == crate::model::RetryMode::Delay && g.retry.is_some();
        if broker == "rabbitmq" && g.retry.is_some() && !delayed {
            return Err(refuse(
                &format!(
                    "consumer.retry with retry_mode = \"{}\"",
                    g.retry_mode.word()
                ),
                broker,
                "a requeued message's deliveries are counted only by a quorum queue's delivery limit: use queue.max_deliveries, or retry_mode = \"delay\"",
            ));
        }
        if broker == "rabbitmq" && delayed {
            check_rabbitmq_delays(m, g)?;
        }
        if m.groups().iter().filter(|o| o.queue == g.queue).count() > 1 {
            return Err(refuse(
                "two consumer groups on one queue",
                broker,
                "a work-queue stream has one consumer",
            ));
        }
        groups.push(GroupPlan {
            name: g.name.clone(),
            broker_name: broker_name("mqsim-", &g.name),
            queue: g.queue,
            count: g.count,
            prefetch: g.prefetch.max(1),
            ack_on_receive: g.ack_on_receive,
            failure: g.failure,
            reject: g.retry_mode == crate::model::RetryMode::RejectRequeue,
            max_deliveries: fewest(
                m.queues()[g.queue].max_deliveries,
                g.retry.as_ref().and_then(|r| r.max_attempts),
            ),
            retry_delay: g
                .retry
                .clone()
                .filter(|_| g.retry_mode == crate::model::RetryMode::Delay),
        });
    }
    let mut producers = Vec::new();
    for p in m.producers() {
        if p.confirm == Confirm::AfterFsync {
            return Err(refuse("producer.confirm = \"after-fsync\"", broker, ""));
        }
        let arrival = match &p.arrival {
            Arrival::Poisson { rate_per_s } => WallArrival::Poisson {
                rate_per_wall_s: rate_per_s * speed,
            },
            Arrival::Constant { interval_ns } => WallArrival::Constant {
                interval_wall_ns: wall(*interval_ns).max(1),
            },
            _ => {
                return Err(refuse(
                    "producer.arrival.process",
                    broker,
                    "poisson and constant are",
                ))
            }
        };
        producers.push(ProducerPlan {
            name: p.name.clone(),
            queue: p.queue,
            arrival,
            keys: p.keys.clone(),
            retry: p.retry.clone().filter(|_| p.confirm_timeout_ns.is_some()),
            confirm_timeout_ns: p.confirm_timeout_ns,
        });
    }
    let (crashes, broker_crashes) = fault_plans(m, speed, broker)?;
    Ok(LivePlan {
        speed,
        crashes,
        broker_crashes,
        seed: m.seed,
        duration_wall_ns: wall(m.duration_ns),
        warmup_wall_ns: wall(m.warmup_ns()),
        drain_wall_ns: wall(m.drain_ns),
        queues,
        groups,
        producers,
    })
}

/// The crashes the live run plays (wall time): consumer crashes, and
/// crashes of the spawned broker in time order, none overlapping.
fn fault_plans(
    m: &Model,
    speed: f64,
    broker: &str,
) -> Result<(Vec<CrashPlan>, Vec<BrokerCrashPlan>), String> {
    let wall = |ns: Nanos| LivePlan::wall_ns(speed, ns);
    let mut crashes = Vec::new();
    let mut broker_crashes = Vec::new();
    for f in &m.faults {
        match (f.kind, &f.timing) {
            (
                FaultKind::BrokerCrash,
                FaultTiming::Window {
                    start_ns,
                    length_ns,
                },
            ) => broker_crashes.push(BrokerCrashPlan {
                at_wall_ns: wall(*start_ns),
                down_wall_ns: wall(*length_ns),
            }),
            (
                FaultKind::ConsumerCrash,
                FaultTiming::Window {
                    start_ns,
                    length_ns,
                },
            ) => crashes.push(CrashPlan {
                group: f.target,
                instance: f.instance,
                at_wall_ns: wall(*start_ns),
                down_wall_ns: wall(*length_ns),
            }),
            _ => {
                return Err(refuse(
                    &format!("fault.kind = \"{}\"", f.kind.word()),
                    broker,
                    "",
                ))
            }
        }
    }
    broker_crashes.sort_by_key(|c| c.at_wall_ns);
    if broker_crashes
        .windows(2)
        .any(|w| w[1].at_wall_ns < w[0].at_wall_ns + w[0].down_wall_ns)
    {
        return Err(refuse(
            "two broker-crash faults that overlap",
            broker,
            "the spawned broker is one process: each crash must end before the next begins",
        ));
    }
    Ok((crashes, broker_crashes))
}
