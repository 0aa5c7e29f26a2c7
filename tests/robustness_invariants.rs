//! Simulation invariants on random valid scenarios.
//!
//! Scenarios are generated as TOML text (so the loader is exercised too):
//! 1-3 queues chained by `publish_to` (never in a cycle), 1-3 producers,
//! 1-3 consumer groups, every arrival process, service distribution, retry
//! policy and mode, preset, ack mode, capacity/overflow, TTL, idempotency,
//! network trouble and fault. Durations are short (simulated minutes at low
//! rates) so a run takes milliseconds. On every run:
//! - no panic (the simulator asserts conservation itself), and within time;
//! - conservation recomputed from the summary:
//!   published = rejected + acked + dead_lettered + lost + expired + in_flight;
//! - no negative (or wrapped-around) counts;
//! - the same seed gives the same summary JSON, byte for byte;
//! - 3 replications give the same JSON on 1 thread and on 2;
//! - latency percentiles are ordered: p50 <= p90 <= p99 <= p999 <= max;
//! - without faults, network, retries or failures, Little's law holds
//!   (`littles_law_error` < 0.05) on queues that saw thousands of messages;
//! - a scenario without the optional parts gives the same replications on
//!   the core build as on the full build (`src/sim/features.rs`).
//!
//! Simulator bugs once found are kept as tests/corpus/bug_*.toml, each
//! run by a test below that failed before its fix.
//!
//! Run: cargo test --release --test robustness_invariants

use mqsim::experiment::{self, Plan};
use mqsim::model::{self, Model};
use mqsim::scenario::{load_str, LoadOptions};
use mqsim::sim::features::{Build, Uses};
use mqsim::sim::Limits;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, RngSeed};
use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

fn config(cases: u32, seed: u64) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 1000,
        ..ProptestConfig::default()
    }
}

// ------------------------------------------------------------------ model

const PRESETS: &[&str] = &mqsim::scenario::preset::PRESET_NAMES;
// The generators read the public word lists: a word added to a set is
// generated without a copy here to update.
const RETRY_MODES: &[&str] = mqsim::scenario::RetryMode::WORDS;
const OVERFLOWS: &[&str] = mqsim::scenario::Overflow::WORDS;
const CONFIRMS: &[&str] = mqsim::scenario::Confirm::WORDS;
const ACKS: &[&str] = mqsim::scenario::AckMode::WORDS;
const TTL_MODES: &[&str] = mqsim::scenario::TtlMode::WORDS;
const CRASH_REQUEUES: [&str; 2] = ["immediate", "ack-timeout"];

#[derive(Clone, Debug)]
enum Dist {
    Exp(u32),
    Const(u32),
    Uniform(u32, u32),
    Normal(u32, u32),
    LogNormal(u32, u32),
    Erlang(u32, u32),
    Gamma(u32, f64),
    Weibull(u32, f64),
    Pareto(u32, f64),
    /// Measured values (tenths of a ms), interpolated or not.
    Empirical(Vec<u32>, bool),
}

impl Dist {
    /// Durations in tenths of a millisecond.
    fn toml(&self) -> String {
        let d = |x: u32| format!("\"{}us\"", x as u64 * 100);
        match self {
            Dist::Exp(m) => format!("{{ dist = \"exponential\", mean = {} }}", d(*m)),
            Dist::Const(m) => format!("{{ dist = \"constant\", mean = {} }}", d(*m)),
            Dist::Uniform(a, b) => format!(
                "{{ dist = \"uniform\", min = {}, max = {} }}",
                d(*a),
                d(a + b)
            ),
            Dist::Normal(m, s) => {
                format!("{{ dist = \"normal\", mean = {}, sd = {} }}", d(*m), d(*s))
            }
            Dist::LogNormal(m, s) => {
                format!(
                    "{{ dist = \"lognormal\", mean = {}, sd = {} }}",
                    d(*m),
                    d(*s)
                )
            }
            Dist::Erlang(m, k) => format!("{{ dist = \"erlang\", mean = {}, shape = {k} }}", d(*m)),
            Dist::Gamma(m, k) => format!("{{ dist = \"gamma\", mean = {}, shape = {k:?} }}", d(*m)),
            Dist::Weibull(m, k) => {
                format!("{{ dist = \"weibull\", mean = {}, shape = {k:?} }}", d(*m))
            }
            Dist::Pareto(m, k) => {
                format!("{{ dist = \"pareto\", mean = {}, shape = {k:?} }}", d(*m))
            }
            Dist::Empirical(values, interpolate) => format!(
                "{{ dist = \"empirical\", values = [{}], interpolate = {interpolate} }}",
                values.iter().map(|v| d(*v)).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// A distribution with its mean between `lo` and `hi` tenths of a ms.
fn dist(lo: u32, hi: u32) -> impl Strategy<Value = Dist> {
    prop_oneof![
        (lo..hi).prop_map(Dist::Exp),
        (lo..hi).prop_map(Dist::Const),
        (0..lo.max(1), lo..hi).prop_map(|(a, b)| Dist::Uniform(a, b)),
        (lo..hi, 0..hi).prop_map(|(m, s)| Dist::Normal(m, s)),
        (lo..hi, 1..2 * hi).prop_map(|(m, s)| Dist::LogNormal(m, s)),
        (lo..hi, 1u32..5).prop_map(|(m, k)| Dist::Erlang(m, k)),
        (lo..hi, prop::sample::select(vec![0.3, 1.0, 2.5])).prop_map(|(m, k)| Dist::Gamma(m, k)),
        (lo..hi, prop::sample::select(vec![0.5, 1.0, 3.0])).prop_map(|(m, k)| Dist::Weibull(m, k)),
        (lo..hi, prop::sample::select(vec![1.5, 2.5, 4.0])).prop_map(|(m, k)| Dist::Pareto(m, k)),
        (prop::collection::vec(0..hi, 1..6), any::<bool>()).prop_map(move |(mut v, i)| {
            // Not all zero: the loader refuses a zero mean.
            v[0] = v[0].max(lo);
            Dist::Empirical(v, i)
        }),
    ]
}

#[derive(Clone, Debug)]
enum Arrival {
    Poisson(f64),
    Constant(f64),
    /// Lognormal interarrival: mean and sd in ms.
    LogNormal(u32, u32),
    /// Pieces (start in s, rate).
    Schedule(Vec<(u32, f64)>),
}

fn arrival(max_rate: f64) -> impl Strategy<Value = Arrival> {
    let rate = prop::sample::select(vec![0.2, 1.0, 3.0, 7.5, max_rate]);
    prop_oneof![
        rate.clone().prop_map(Arrival::Poisson),
        rate.clone().prop_map(Arrival::Constant),
        ((1000.0 / max_rate) as u32..3000, 1u32..3000).prop_map(|(m, s)| Arrival::LogNormal(m, s)),
        prop::collection::vec(
            (
                0u32..120,
                prop::sample::select(vec![0.0, 0.5, 2.0, max_rate])
            ),
            1..4
        )
        .prop_map(|mut v| {
            v.sort_by_key(|p| p.0);
            v.dedup_by_key(|p| p.0);
            v[0].0 = 0;
            Arrival::Schedule(v)
        }),
    ]
}

#[derive(Clone, Debug)]
enum Backoff {
    None,
    Fixed(u32),
    Linear {
        base: u32,
        step: u32,
        cap: u32,
    },
    Exponential {
        base: u32,
        mult: f64,
        cap: u32,
        decorrelated: bool,
    },
    List(Vec<u32>),
    Sidekiq,
}

#[derive(Clone, Debug)]
struct Retry {
    backoff: Backoff,
    /// 0 none, 1 full, 2 equal, 3 backoff-specific (random / decorrelated).
    jitter: u8,
    max_attempts: Option<u32>,
    max_elapsed_s: Option<u32>,
}

impl Retry {
    fn toml(&self) -> String {
        let ms = |x: u32| format!("\"{x}ms\"");
        let mut jitter = match self.jitter % 3 {
            1 => "full",
            2 => "equal",
            _ => "none",
        };
        let body = match &self.backoff {
            Backoff::None => {
                jitter = "none";
                "backoff = \"none\"".to_string()
            }
            Backoff::Fixed(d) => format!("backoff = \"fixed\", delay = {}", ms(*d)),
            Backoff::Linear { base, step, cap } => {
                if self.jitter == 3 {
                    jitter = "random";
                }
                format!(
                    "backoff = \"linear\", base = {}, step = {}, cap = {}",
                    ms(*base),
                    ms(*step),
                    ms(base + cap)
                )
            }
            Backoff::Exponential {
                base,
                mult,
                cap,
                decorrelated,
            } => {
                if *decorrelated {
                    jitter = "decorrelated";
                    format!(
                        "backoff = \"exponential\", base = {}, cap = {}",
                        ms(*base),
                        ms(base + cap)
                    )
                } else {
                    format!(
                        "backoff = \"exponential\", base = {}, multiplier = {mult:?}, cap = {}",
                        ms(*base),
                        ms(base + cap)
                    )
                }
            }
            Backoff::List(v) => format!(
                "backoff = \"list\", delays = [{}]",
                v.iter().map(|x| ms(*x)).collect::<Vec<_>>().join(", ")
            ),
            Backoff::Sidekiq => "backoff = \"sidekiq\"".to_string(),
        };
        let mut s = format!("{{ {body}, jitter = \"{jitter}\"");
        if let Some(n) = self.max_attempts {
            let _ = write!(s, ", max_attempts = {n}");
        }
        if let Some(e) = self.max_elapsed_s {
            let _ = write!(s, ", max_elapsed = \"{e}s\"");
        }
        s + " }"
    }
}

fn retry() -> impl Strategy<Value = Retry> {
    let backoff = prop_oneof![
        Just(Backoff::None),
        (1u32..2000).prop_map(Backoff::Fixed),
        (1u32..500, 0u32..500, 0u32..5000).prop_map(|(base, step, cap)| Backoff::Linear {
            base,
            step,
            cap
        }),
        (
            1u32..500,
            prop::sample::select(vec![1.0, 1.5, 2.0, 10.0]),
            0u32..10_000,
            any::<bool>()
        )
            .prop_map(|(base, mult, cap, decorrelated)| Backoff::Exponential {
                base,
                mult,
                cap,
                decorrelated
            }),
        prop::collection::vec(0u32..3000, 1..4).prop_map(Backoff::List),
        Just(Backoff::Sidekiq),
    ];
    (
        backoff,
        0u8..4,
        prop::option::of(1u32..6),
        prop::option::weighted(0.2, 1u32..60),
    )
        .prop_map(|(backoff, jitter, max_attempts, max_elapsed_s)| Retry {
            backoff,
            jitter,
            max_attempts,
            max_elapsed_s,
        })
}

#[derive(Clone, Debug)]
struct Queue {
    preset: Option<usize>,
    capacity: Option<(u64, usize)>,
    ack_timeout_ms: Option<u32>,
    max_deliveries: Option<u32>,
    dead_letter: Option<bool>,
    ttl_s: Option<u32>,
    ttl_mode: Option<usize>,
    crash_requeue: Option<usize>,
    durable: Option<bool>,
    fsync_ms: Option<u32>,
    dedup_s: Option<u32>,
}

fn queue() -> impl Strategy<Value = Queue> {
    let overflows = OVERFLOWS.len();
    (
        prop::option::weighted(0.4, 0..PRESETS.len()),
        prop::option::weighted(0.3, (0u64..50, 0..overflows)),
        prop::option::weighted(0.4, 50u32..20_000),
        prop::option::weighted(0.4, 1u32..6),
        prop::option::weighted(0.3, any::<bool>()),
        prop::option::weighted(0.2, 1u32..60),
        prop::option::weighted(0.3, 0..TTL_MODES.len()),
        prop::option::weighted(0.3, 0..CRASH_REQUEUES.len()),
        prop::option::weighted(0.2, any::<bool>()),
        prop::option::weighted(0.3, 0u32..500),
        prop::option::weighted(0.2, 1u32..120),
    )
        .prop_map(
            |(
                preset,
                capacity,
                ack_timeout_ms,
                max_deliveries,
                dead_letter,
                ttl_s,
                ttl_mode,
                crash_requeue,
                durable,
                fsync_ms,
                dedup_s,
            )| Queue {
                preset,
                capacity,
                ack_timeout_ms,
                max_deliveries,
                dead_letter,
                ttl_s,
                ttl_mode,
                crash_requeue,
                durable,
                fsync_ms,
                dedup_s,
            },
        )
}

#[derive(Clone, Debug)]
struct Producer {
    queue: usize,
    arrival: Arrival,
    confirm: Option<usize>,
    confirm_timeout_ms: Option<u32>,
    retry: Option<Retry>,
    persistent: Option<bool>,
    ttl_s: Option<u32>,
    outbox: Option<bool>,
    timeout_s: Option<u32>,
}

fn producer(max_rate: f64) -> impl Strategy<Value = Producer> {
    (
        0usize..3,
        arrival(max_rate),
        prop::option::weighted(0.4, 0..CONFIRMS.len()),
        prop::option::weighted(0.4, 10u32..5000),
        prop::option::weighted(0.4, retry()),
        prop::option::weighted(0.2, any::<bool>()),
        prop::option::weighted(0.2, 1u32..60),
        prop::option::weighted(0.2, any::<bool>()),
        prop::option::weighted(0.2, 1u32..30),
    )
        .prop_map(
            |(
                queue,
                arrival,
                confirm,
                confirm_timeout_ms,
                retry,
                persistent,
                ttl_s,
                outbox,
                timeout_s,
            )| Producer {
                queue,
                arrival,
                confirm,
                confirm_timeout_ms,
                retry,
                persistent,
                ttl_s,
                outbox,
                timeout_s,
            },
        )
}

#[derive(Clone, Debug)]
struct Consumer {
    queue: usize,
    count: u32,
    prefetch: u32,
    concurrency: u32,
    ack: Option<usize>,
    service: Dist,
    failure: f64,
    poison: f64,
    non_retryable: f64,
    publish_to: Option<usize>,
    retry: Option<Retry>,
    retry_mode: Option<usize>,
    idempotency_s: Option<u32>,
    preset: Option<usize>,
}

fn probability(values: Vec<f64>) -> impl Strategy<Value = f64> {
    prop::sample::select(values)
}

fn consumer(failures: bool) -> impl Strategy<Value = Consumer> {
    let (fail, poison, nonret) = if failures {
        (
            vec![0.0, 0.0, 0.001, 0.05, 0.3, 1.0],
            vec![0.0, 0.0, 0.0, 0.01, 0.2, 1.0],
            vec![0.0, 0.0, 0.5, 1.0],
        )
    } else {
        (vec![0.0], vec![0.0], vec![0.0])
    };
    (
        (
            0usize..3,
            1u32..=4,
            1u32..=4,
            1u32..=2,
            prop::option::weighted(0.3, 0..ACKS.len()),
        ),
        dist(5, 500),
        (probability(fail), probability(poison), probability(nonret)),
        prop::option::weighted(0.5, 0usize..3),
        prop::option::weighted(0.5, retry()),
        prop::option::weighted(0.6, 0..RETRY_MODES.len()),
        prop::option::weighted(0.2, 1u32..600),
        prop::option::weighted(0.2, 0..PRESETS.len()),
    )
        .prop_map(
            |(
                (queue, count, prefetch, concurrency, ack),
                service,
                (failure, poison, non_retryable),
                publish_to,
                retry,
                retry_mode,
                idempotency_s,
                preset,
            )| Consumer {
                queue,
                count,
                prefetch,
                concurrency,
                ack,
                service,
                failure,
                poison,
                non_retryable,
                publish_to,
                retry,
                retry_mode,
                idempotency_s,
                preset,
            },
        )
}

#[derive(Clone, Debug)]
struct Network {
    latency: Option<Dist>,
    loss: f64,
    duplicate: f64,
}

fn network() -> impl Strategy<Value = Network> {
    (
        prop::option::of(dist(1, 50)),
        probability(vec![0.0, 0.001, 0.05, 0.3]),
        probability(vec![0.0, 0.001, 0.05, 0.3]),
    )
        .prop_map(|(latency, loss, duplicate)| Network {
            latency,
            loss,
            duplicate,
        })
}

#[derive(Clone, Debug)]
enum Timing {
    /// Scheduled: at (s), downtime (s).
    At(u32, u32),
    /// Random: mtbf (s), mttr (dist).
    Random(u32, Dist),
    /// Periodic: every (s), downtime (s), the first at (s), jitter (s);
    /// every is longer than downtime and jitter together (the loader
    /// refuses overlapping occurrences).
    Every {
        period: u32,
        length: u32,
        first: Option<u32>,
        jitter: Option<u32>,
    },
}

impl Timing {
    fn toml(&self) -> String {
        match self {
            Timing::At(a, d) => format!("at = \"{a}s\"\ndowntime = \"{d}s\"\n"),
            Timing::Random(m, r) => format!("mtbf = \"{m}s\"\nmttr = {}\n", r.toml()),
            Timing::Every {
                period,
                length,
                first,
                jitter,
            } => {
                let mut t = format!("every = \"{period}s\"\ndowntime = \"{length}s\"\n");
                if let Some(a) = first {
                    t += &format!("at = \"{a}s\"\n");
                }
                if let Some(j) = jitter {
                    t += &format!("jitter = \"{j}s\"\n");
                }
                t
            }
        }
    }

    /// The same timing as a window (`start`, `duration`) where the kind
    /// takes one (load spikes, gc pauses).
    fn window_toml(&self) -> String {
        self.toml()
            .replace("at = ", "start = ")
            .replace("downtime = ", "duration = ")
    }
}

fn every() -> impl Strategy<Value = Timing> {
    (
        1u32..40,
        prop::option::weighted(0.3, 0u32..100),
        prop::option::weighted(0.3, 1u32..20),
        0u32..60,
    )
        .prop_map(|(length, first, jitter, slack)| Timing::Every {
            period: length + jitter.unwrap_or(0) + 1 + slack,
            length,
            first,
            jitter,
        })
}

fn timing() -> impl Strategy<Value = Timing> {
    prop_oneof![
        (0u32..200, 1u32..60).prop_map(|(a, d)| Timing::At(a, d)),
        (5u32..200, dist(100, 100_000)).prop_map(|(m, r)| Timing::Random(m, r)),
        every(),
    ]
}

#[derive(Clone, Debug)]
enum Fault {
    ConsumerCrash {
        target: Option<usize>,
        instance: Option<u32>,
        timing: Timing,
    },
    BrokerCrash {
        timing: Timing,
        /// `scope = "process"` (else the default, machine).
        process: bool,
    },
    ProducerCrash {
        target: Option<usize>,
        timing: Timing,
    },
    Outage {
        target: Option<usize>,
        start: u32,
        length: u32,
        failure: Option<f64>,
        slowdown: Option<f64>,
    },
    Partition {
        consumer: bool,
        target: usize,
        start: u32,
        length: u32,
    },
    LoadSpike {
        target: Option<usize>,
        factor: f64,
        timing: Timing,
    },
    /// A consumer group's instances (or a producer) one after another.
    RollingRestart {
        consumer: bool,
        target: usize,
        interval: u32,
        downtime: u32,
        graceful: bool,
        /// The first at this time; with `every`, repeated (its period is
        /// made long enough for every instance at render time).
        at: u32,
        every: Option<(u32, Option<u32>)>,
    },
    GcPause {
        target: Option<usize>,
        instance: Option<u32>,
        timing: Timing,
    },
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        (
            prop::option::of(0usize..3),
            prop::option::weighted(0.3, 0u32..5),
            timing()
        )
            .prop_map(|(target, instance, timing)| Fault::ConsumerCrash {
                target,
                instance,
                timing
            }),
        (timing(), prop::bool::weighted(0.3))
            .prop_map(|(timing, process)| Fault::BrokerCrash { timing, process }),
        (prop::option::of(0usize..3), timing())
            .prop_map(|(target, timing)| Fault::ProducerCrash { target, timing }),
        (
            prop::option::of(0usize..3),
            0u32..200,
            1u32..60,
            prop::option::of(probability(vec![0.0, 0.5, 1.0])),
            prop::option::of(prop::sample::select(vec![1.0, 3.0, 50.0])),
        )
            .prop_map(|(target, start, length, failure, slowdown)| Fault::Outage {
                target,
                start,
                length,
                failure,
                slowdown
            }),
        (any::<bool>(), 0usize..3, 0u32..200, 1u32..60).prop_map(
            |(consumer, target, start, length)| Fault::Partition {
                consumer,
                target,
                start,
                length
            }
        ),
        (
            prop::option::of(0usize..3),
            prop::sample::select(vec![0.5, 2.0, 10.0]),
            timing()
        )
            .prop_map(|(target, factor, timing)| Fault::LoadSpike {
                target,
                factor,
                timing
            }),
        (
            (any::<bool>(), 0usize..3, 1u32..30, 1u32..30, any::<bool>()),
            (
                0u32..200,
                prop::option::weighted(0.4, (0u32..100, prop::option::of(1u32..10)))
            ),
        )
            .prop_map(
                |((consumer, target, interval, downtime, graceful), (at, every))| {
                    Fault::RollingRestart {
                        consumer,
                        target,
                        interval,
                        downtime,
                        graceful,
                        at,
                        every,
                    }
                }
            ),
        (
            prop::option::of(0usize..3),
            prop::option::weighted(0.3, 0u32..5),
            timing()
        )
            .prop_map(|(target, instance, timing)| Fault::GcPause {
                target,
                instance,
                timing
            }),
    ]
}

/// What the scenario is made of: every fault kind is generated against
/// each (a fault that reaches a part its model lacks is how the crash of
/// tests/corpus/bug_broker_crash_topic_only.toml went unseen).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Queues,
    Topics,
    Both,
}

#[derive(Clone, Debug)]
struct Topic {
    partitions: u32,
    retention_s: Option<u32>,
    dead_letter: Option<bool>,
}

fn topic() -> impl Strategy<Value = Topic> {
    (
        1u32..=6,
        prop::option::weighted(0.2, 5u32..120),
        prop::option::weighted(0.3, any::<bool>()),
    )
        .prop_map(|(partitions, retention_s, dead_letter)| Topic {
            partitions,
            retention_s,
            dead_letter,
        })
}

/// The producer's side of keys and topics: keys (count, zipf), the
/// partitioner, and whether it writes to a topic (in a `Both` scenario).
#[derive(Clone, Debug)]
struct Writer {
    key: Option<(u32, bool)>,
    round_robin: bool,
    to_topic: bool,
    topic: usize,
}

fn writer() -> impl Strategy<Value = Writer> {
    (
        prop::option::weighted(0.5, (1u32..200, any::<bool>())),
        any::<bool>(),
        any::<bool>(),
        0usize..3,
    )
        .prop_map(|(key, round_robin, to_topic, topic)| Writer {
            key,
            round_robin,
            to_topic,
            topic,
        })
}

const TOPIC_RETRY_MODES: [&str; 3] = ["in-handler", "retry-queues", "none"];
const COMMITS: [&str; 3] = ["after-processing", "auto", "before-processing"];

/// The consumer's side of keys and topics: whether it reads a topic (in a
/// `Both` scenario) and its group settings, or, reading a queue, ordering.
#[derive(Clone, Debug)]
struct Reader {
    on_topic: bool,
    commit: Option<usize>,
    auto_commit_ms: Option<u32>,
    max_poll_records: Option<u32>,
    session_timeout_s: Option<u32>,
    max_poll_interval_s: Option<u32>,
    rebalance_ms: Option<u32>,
    retry_mode: Option<usize>,
    fifo_by_key: bool,
    resequence: Option<(u32, u32)>,
}

fn reader() -> impl Strategy<Value = Reader> {
    (
        (
            any::<bool>(),
            prop::option::weighted(0.7, 0..COMMITS.len()),
            prop::option::weighted(0.3, 100u32..10_000),
            prop::option::weighted(0.5, 1u32..200),
            prop::option::weighted(0.3, 1u32..60),
            prop::option::weighted(0.3, 1u32..120),
        ),
        (
            prop::option::weighted(0.3, 0u32..5000),
            prop::option::weighted(0.6, 0..TOPIC_RETRY_MODES.len()),
            prop::bool::weighted(0.2),
            prop::option::weighted(0.2, (1u32..50, 1u32..30)),
        ),
    )
        .prop_map(
            |(
                (
                    on_topic,
                    commit,
                    auto_commit_ms,
                    max_poll_records,
                    session_timeout_s,
                    max_poll_interval_s,
                ),
                (rebalance_ms, retry_mode, fifo_by_key, resequence),
            )| Reader {
                on_topic,
                commit,
                auto_commit_ms,
                max_poll_records,
                session_timeout_s,
                max_poll_interval_s,
                rebalance_ms,
                retry_mode,
                fifo_by_key,
                resequence,
            },
        )
}

const SIDE_EFFECTS: &[&str] = mqsim::scenario::SideEffectMode::WORDS;
const AUTOSCALE_METRICS: &[&str] = mqsim::scenario::ScaleMetric::WORDS;
const SAGA_TRIGGERS: &[&str] = mqsim::scenario::SagaTrigger::WORDS;

/// The parts of issues 23 and 26 (operations, transactions): per queue
/// consumer (indexed as the consumers), a saga and an exactly-once
/// pipeline in blocks of their own that the scenario's faults and network
/// reach like the rest.
#[derive(Clone, Debug, Default)]
struct Operations {
    consumers: Vec<ConsumerOps>,
    saga: Option<Saga>,
    exactly_once: Option<ExactlyOnce>,
}

#[derive(Clone, Debug)]
struct ConsumerOps {
    side_effect: Option<usize>,
    /// every, by (ms), max (s).
    extend_lease: Option<(u32, u32, Option<u32>)>,
    autoscale: Option<Autoscale>,
}

#[derive(Clone, Debug)]
struct Autoscale {
    min: u32,
    extra: u32,
    metric: usize,
    target: u32,
    poll_s: u32,
    cooldown_s: u32,
    startup_s: u32,
    step: Option<u32>,
    drain: bool,
}

#[derive(Clone, Debug)]
struct Saga {
    steps: usize,
    /// Which of the steps before the last have an undo queue.
    undo: Vec<bool>,
    rate: f64,
    failure: f64,
    non_retryable: f64,
    max_attempts: u32,
    trigger: usize,
    parallel: bool,
}

#[derive(Clone, Debug)]
struct ExactlyOnce {
    partitions: u32,
    count: u32,
    rate: f64,
    interval_ms: u32,
    failure: f64,
    read_committed: Option<bool>,
}

fn consumer_ops() -> impl Strategy<Value = ConsumerOps> {
    let autoscale = (
        (1u32..4, 0u32..6, 0..AUTOSCALE_METRICS.len(), 1u32..100),
        (1u32..20, 0u32..60, 0u32..10),
        (prop::option::of(1u32..4), any::<bool>()),
    )
        .prop_map(
            |((min, extra, metric, target), (poll_s, cooldown_s, startup_s), (step, drain))| {
                Autoscale {
                    min,
                    extra,
                    metric,
                    target,
                    poll_s,
                    cooldown_s,
                    startup_s,
                    step,
                    drain,
                }
            },
        );
    (
        prop::option::weighted(0.3, 0..SIDE_EFFECTS.len()),
        prop::option::weighted(
            0.3,
            (
                1u32..2000,
                1u32..5000,
                prop::option::weighted(0.3, 1u32..30),
            ),
        ),
        prop::option::weighted(0.3, autoscale),
    )
        .prop_map(|(side_effect, extend_lease, autoscale)| ConsumerOps {
            side_effect,
            extend_lease,
            autoscale,
        })
}

fn saga() -> impl Strategy<Value = Saga> {
    (
        (2usize..=3, prop::collection::vec(any::<bool>(), 2)),
        probability(vec![0.5, 2.0, 8.0]),
        (
            probability(vec![0.0, 0.1, 0.5, 1.0]),
            probability(vec![0.0, 0.5, 1.0]),
        ),
        (1u32..4, 0..SAGA_TRIGGERS.len(), any::<bool>()),
    )
        .prop_map(
            |((steps, undo), rate, (failure, non_retryable), (max_attempts, trigger, parallel))| {
                Saga {
                    steps,
                    undo,
                    rate,
                    failure,
                    non_retryable,
                    max_attempts,
                    trigger,
                    parallel,
                }
            },
        )
}

fn exactly_once() -> impl Strategy<Value = ExactlyOnce> {
    (
        (1u32..4, 1u32..3),
        probability(vec![0.5, 3.0, 10.0]),
        1u32..1000,
        probability(vec![0.0, 0.1, 0.5]),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |((partitions, count), rate, interval_ms, failure, read_committed)| ExactlyOnce {
                partitions,
                count,
                rate,
                interval_ms,
                failure,
                read_committed,
            },
        )
}

fn operations() -> impl Strategy<Value = Operations> {
    (
        prop::collection::vec(consumer_ops(), 3),
        prop::option::weighted(0.3, saga()),
        prop::option::weighted(0.3, exactly_once()),
    )
        .prop_map(|(consumers, saga, exactly_once)| Operations {
            consumers,
            saga,
            exactly_once,
        })
}

#[derive(Clone, Debug)]
struct Scenario {
    seed: u64,
    duration_s: u32,
    drain_s: u32,
    warmup: Option<u32>,
    sample_s: Option<u32>,
    queues: Vec<Queue>,
    producers: Vec<Producer>,
    consumers: Vec<Consumer>,
    network: Option<Network>,
    faults: Vec<Fault>,
    /// false: steer clear of known simulator bugs (see `queue`, `render`).
    known_bugs: bool,
    shape: Shape,
    topics: Vec<Topic>,
    /// One per producer (may be empty: no keys, no topics).
    writers: Vec<Writer>,
    /// One per consumer (may be empty: no topic readers, no ordering).
    readers: Vec<Reader>,
    ops: Operations,
}

/// Any valid scenario, at most a few thousand messages.
fn scenario(known_bugs: bool) -> impl Strategy<Value = Scenario> {
    (
        (
            0u64..1000,
            10u32..240,
            0u32..60,
            prop::option::weighted(0.3, 0u32..100),
            prop::option::weighted(0.2, 1u32..30),
        ),
        prop::collection::vec(queue(), 1..=3),
        prop::collection::vec(producer(15.0), 1..=3),
        prop::collection::vec(consumer(true), 1..=3),
        prop::option::weighted(0.3, network()),
        prop::collection::vec(fault(), 0..=2),
        (
            prop::sample::select(vec![
                Shape::Queues,
                Shape::Queues,
                Shape::Topics,
                Shape::Both,
            ]),
            prop::collection::vec(topic(), 1..=2),
            prop::collection::vec(writer(), 3),
            prop::collection::vec(reader(), 3),
        ),
        operations(),
    )
        .prop_map(
            move |(
                (seed, duration_s, drain_s, warmup, sample_s),
                queues,
                producers,
                consumers,
                network,
                faults,
                (shape, topics, writers, readers),
                ops,
            )| Scenario {
                seed,
                duration_s,
                drain_s,
                warmup,
                sample_s,
                queues,
                producers,
                consumers,
                network,
                faults,
                known_bugs,
                shape,
                topics,
                writers,
                readers,
                ops,
            },
        )
}

/// No faults, no network, no retries, no failures, no expiry or overflow,
/// and enough messages (thousands) for Little's law to be tight.
fn clean_scenario() -> impl Strategy<Value = Scenario> {
    (
        (0u64..1000, 600u32..1500),
        prop::collection::vec(
            (
                prop::option::weighted(0.3, 0..PRESETS.len()),
                prop::option::weighted(0.3, 0u32..500),
            )
                .prop_map(|(preset, fsync_ms)| Queue {
                    preset,
                    capacity: None,
                    ack_timeout_ms: None,
                    max_deliveries: None,
                    dead_letter: None,
                    ttl_s: None,
                    ttl_mode: None,
                    crash_requeue: None,
                    durable: None,
                    fsync_ms,
                    dedup_s: None,
                }),
            1..=3,
        ),
        prop::collection::vec(
            (
                0usize..3,
                prop_oneof![
                    prop::sample::select(vec![4.0, 8.0]).prop_map(Arrival::Poisson),
                    prop::sample::select(vec![4.0, 8.0]).prop_map(Arrival::Constant),
                    (100u32..250, 1u32..300).prop_map(|(m, s)| Arrival::LogNormal(m, s)),
                ],
            )
                .prop_map(|(queue, arrival)| Producer {
                    queue,
                    arrival,
                    confirm: None,
                    confirm_timeout_ms: None,
                    retry: None,
                    persistent: None,
                    ttl_s: None,
                    outbox: None,
                    timeout_s: None,
                }),
            1..=3,
        ),
        prop::collection::vec(consumer(false), 1..=3),
    )
        .prop_map(|((seed, duration_s), queues, producers, mut consumers)| {
            for c in &mut consumers {
                c.retry = None;
                c.retry_mode = None;
                // Keep rho well below 1: mean service at most 25 ms.
                c.service = match c.service.clone() {
                    Dist::Exp(m) => Dist::Exp(m.min(250)),
                    Dist::Const(m) => Dist::Const(m.min(250)),
                    Dist::Uniform(a, b) => Dist::Uniform(a.min(100), b.min(250)),
                    Dist::Normal(m, s) => Dist::Normal(m.min(250), s.min(250)),
                    Dist::LogNormal(m, s) => Dist::LogNormal(m.min(250), s.min(250)),
                    Dist::Erlang(m, k) => Dist::Erlang(m.min(250), k),
                    Dist::Gamma(m, k) => Dist::Gamma(m.min(250), k),
                    Dist::Weibull(m, k) => Dist::Weibull(m.min(250), k),
                    Dist::Pareto(m, k) => Dist::Pareto(m.min(250), k),
                    Dist::Empirical(v, i) => {
                        Dist::Empirical(v.into_iter().map(|x| x.clamp(1, 250)).collect(), i)
                    }
                };
            }
            Scenario {
                seed,
                duration_s,
                drain_s: 60,
                warmup: None,
                sample_s: None,
                queues,
                producers,
                consumers,
                network: None,
                faults: vec![],
                known_bugs: false,
                shape: Shape::Queues,
                topics: vec![],
                writers: vec![],
                readers: vec![],
                ops: Operations::default(),
            }
        })
}

/// [`scenario`] without the parts that the core build leaves out
/// (`src/sim/features.rs`): no network, faults, publisher confirms or
/// timeouts, producer retries, outbox, TTLs, dedup, poison, non-retryable
/// failures or idempotency. Every other part stays, presets among them.
fn core_scenario() -> impl Strategy<Value = Scenario> {
    scenario(false).prop_map(|mut sc| {
        sc.network = None;
        sc.faults.clear();
        // Topics and keys are optional parts too.
        sc.shape = Shape::Queues;
        sc.writers.clear();
        sc.readers.clear();
        // Operations and transactions are optional parts too.
        sc.ops = Operations::default();
        for p in &mut sc.producers {
            p.confirm = None;
            p.confirm_timeout_ms = None;
            p.retry = None;
            p.ttl_s = None;
            p.outbox = None;
            p.timeout_s = None;
        }
        for q in &mut sc.queues {
            q.ttl_s = None;
            q.dedup_s = None;
        }
        for c in &mut sc.consumers {
            c.poison = 0.0;
            c.non_retryable = 0.0;
            c.idempotency_s = None;
        }
        // Presets whose rules are the `leases` part (Pub/Sub's lease
        // extension and expiry backoff, Kafka's delayed crash returns,
        // RabbitMQ 4.3's uncounted nacks) take the full build.
        let core_preset = |p: Option<usize>| {
            p.filter(|&i| {
                !["rabbitmq-quorum", "kafka-retry-topics", "pubsub"].contains(&PRESETS[i])
            })
        };
        for q in &mut sc.queues {
            q.preset = core_preset(q.preset);
        }
        for c in &mut sc.consumers {
            c.preset = core_preset(c.preset);
        }
        // A JetStream delayed retry keeps its slot and comes back first
        // (the `leases` part): consumers of such a queue requeue instead.
        let requeue = RETRY_MODES.iter().position(|m| *m == "requeue");
        let jetstream: Vec<bool> = sc
            .queues
            .iter()
            .map(|q| q.preset.is_some_and(|i| PRESETS[i] == "nats-jetstream"))
            .collect();
        for c in &mut sc.consumers {
            if jetstream
                .get(c.queue % jetstream.len().max(1))
                .copied()
                .unwrap_or(false)
            {
                c.retry_mode = requeue;
            }
        }
        sc
    })
}

impl Scenario {
    /// Which consumers read a topic.
    fn topic_readers(&self) -> Vec<bool> {
        (0..self.consumers.len())
            .map(|i| match self.shape {
                Shape::Queues => false,
                Shape::Topics => true,
                Shape::Both => self.readers.get(i).is_some_and(|r| r.on_topic),
            })
            .collect()
    }

    /// The scenario as a TOML file; indices are folded into range and
    /// `publish_to` only points forward, so the result is always valid.
    /// Topics are as many as there are topic readers (at most), and reader
    /// j reads topic j mod their number, so every topic is read.
    fn render(&self) -> String {
        let readers = self.topic_readers();
        let n_topic_readers = readers.iter().filter(|&&r| r).count();
        let nt = self.topics.len().min(n_topic_readers);
        let nq = if self.shape == Shape::Topics {
            0
        } else {
            self.queues.len()
        };
        let np = self.producers.len();
        let nc = self.consumers.len();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "[simulation]\nname = \"generated\"\nseed = {}",
            self.seed
        );
        let _ = writeln!(
            s,
            "duration = \"{}s\"\ndrain = \"{}s\"",
            self.duration_s, self.drain_s
        );
        if let Some(w) = self.warmup {
            if w == 0 {
                let _ = writeln!(s, "warmup = \"auto\"");
            } else {
                let _ = writeln!(s, "warmup = \"{}s\"", w % self.duration_s);
            }
        }
        if let Some(i) = self.sample_s {
            let _ = writeln!(s, "sample_interval = \"{i}s\"");
        }
        for (i, p) in self.producers.iter().enumerate() {
            let w = self.writers.get(i);
            let to_topic = nt > 0 && (nq == 0 || w.is_some_and(|w| w.to_topic));
            self.render_producer(
                &mut s,
                i,
                p,
                w,
                to_topic.then(|| w.map_or(0, |w| w.topic) % nt),
                nq,
            );
        }
        for (i, q) in self.queues.iter().enumerate().take(nq) {
            self.render_queue(&mut s, i, q);
        }
        for (i, t) in self.topics.iter().enumerate().take(nt) {
            let _ = writeln!(
                s,
                "\n[[topic]]\nname = \"t{i}\"\npartitions = {}",
                t.partitions
            );
            if let Some(r) = t.retention_s {
                let _ = writeln!(s, "retention = \"{r}s\"");
            }
            if let Some(x) = t.dead_letter {
                let _ = writeln!(s, "dead_letter = {x}");
            }
        }
        let mut topic_reader_index = 0;
        for (i, c) in self.consumers.iter().enumerate() {
            if readers[i] {
                self.render_topic_consumer(&mut s, i, c, topic_reader_index % nt);
                topic_reader_index += 1;
            } else if nq > 0 {
                self.render_queue_consumer(&mut s, i, c, nq);
            }
        }
        if let Some(n) = &self.network {
            let _ = writeln!(
                s,
                "\n[network]\nloss = {:?}\nduplicate = {:?}",
                n.loss, n.duplicate
            );
            if let Some(l) = &n.latency {
                let _ = writeln!(s, "latency = {}", l.toml());
            }
        }
        for f in &self.faults {
            self.render_fault(&mut s, f, &readers, np, nc);
        }
        if let (Some(saga), true) = (&self.ops.saga, self.shape != Shape::Topics) {
            render_saga(&mut s, saga);
        }
        if let (Some(x), true) = (&self.ops.exactly_once, self.shape != Shape::Queues) {
            render_exactly_once(&mut s, x);
        }
        s
    }

    fn render_producer(
        &self,
        s: &mut String,
        i: usize,
        p: &Producer,
        w: Option<&Writer>,
        topic: Option<usize>,
        nq: usize,
    ) {
        match topic {
            Some(t) => {
                let _ = writeln!(s, "\n[[producer]]\nname = \"p{i}\"\ntopic = \"t{t}\"");
            }
            None => {
                let _ = writeln!(
                    s,
                    "\n[[producer]]\nname = \"p{i}\"\nqueue = \"q{}\"",
                    p.queue % nq
                );
            }
        }
        let a = match &p.arrival {
            Arrival::Poisson(r) => format!("{{ process = \"poisson\", rate = {r:?} }}"),
            Arrival::Constant(r) => format!("{{ process = \"constant\", rate = {r:?} }}"),
            Arrival::LogNormal(m, sd) => {
                format!("{{ process = \"lognormal\", mean = \"{m}ms\", sd = \"{sd}ms\" }}")
            }
            Arrival::Schedule(v) => format!(
                "{{ process = \"schedule\", schedule = [{}] }}",
                v.iter()
                    .map(|(at, r)| format!("{{ at = \"{at}s\", rate = {r:?} }}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let _ = writeln!(s, "arrival = {a}");
        if let Some(w) = w {
            if let Some((count, zipf)) = w.key {
                if zipf {
                    let _ = writeln!(
                        s,
                        "key = {{ dist = \"zipf-keys\", count = {count}, exponent = 1.1 }}"
                    );
                } else {
                    let _ = writeln!(s, "key = {{ dist = \"uniform-keys\", count = {count} }}");
                }
            }
            if topic.is_some() {
                if w.round_robin {
                    let _ = writeln!(s, "partitioner = \"round-robin\"");
                } else if w.key.is_some() {
                    let _ = writeln!(s, "partitioner = \"key\"");
                }
            }
        }
        if topic.is_some() {
            return; // Kafka's producer: none of the queue producer's keys
        }
        if let Some(c) = p.confirm {
            let _ = writeln!(s, "confirm = \"{}\"", CONFIRMS[c]);
        }
        let mut confirm_timeout = p.confirm_timeout_ms;
        if p.retry.is_some() && confirm_timeout.is_none() && p.timeout_s.is_none() {
            confirm_timeout = Some(1000);
        }
        if let Some(t) = confirm_timeout {
            let _ = writeln!(s, "confirm_timeout = \"{t}ms\"");
        }
        if let Some(r) = &p.retry {
            let mut r = r.clone();
            // Known bug: an immediate, unlimited producer retry spins
            // forever while the broker is down (bug_producer_retry_livelock).
            if !self.known_bugs && matches!(r.backoff, Backoff::None) && r.max_attempts.is_none() {
                r.max_attempts = Some(5);
            }
            let _ = writeln!(s, "retry = {}", r.toml());
        } else if p.confirm.is_some_and(|c| CONFIRMS[c] != "none")
            || confirm_timeout.is_some()
            || p.timeout_s.is_some()
        {
            // Confirms and timeouts need a policy: here, never republish.
            let _ = writeln!(s, "retry = {{ backoff = \"none\", max_attempts = 1 }}");
        }
        if let Some(x) = p.persistent {
            let _ = writeln!(s, "persistent = {x}");
        }
        if let Some(t) = p.ttl_s {
            let _ = writeln!(s, "ttl = \"{t}s\"");
        }
        if let Some(x) = p.outbox {
            let _ = writeln!(s, "outbox = {x}");
        }
        if let Some(t) = p.timeout_s {
            let _ = writeln!(s, "timeout = \"{t}s\"");
        }
    }

    fn render_queue(&self, s: &mut String, i: usize, q: &Queue) {
        let _ = writeln!(s, "\n[[queue]]\nname = \"q{i}\"");
        if let Some(p) = q.preset {
            let _ = writeln!(s, "preset = \"{}\"", PRESETS[p]);
        }
        if let Some((c, o)) = q.capacity {
            let _ = writeln!(s, "capacity = {c}\noverflow = \"{}\"", OVERFLOWS[o]);
        }
        if let Some(t) = q.ack_timeout_ms {
            let _ = writeln!(s, "ack_timeout = \"{t}ms\"");
        }
        if let Some(m) = q.max_deliveries {
            let _ = writeln!(s, "max_deliveries = {m}");
        }
        if let Some(x) = q.dead_letter {
            let _ = writeln!(s, "dead_letter = {x}");
        }
        if let Some(t) = q.ttl_s {
            let _ = writeln!(s, "ttl = \"{t}s\"");
        }
        if let Some(m) = q.ttl_mode {
            let _ = writeln!(s, "ttl_mode = \"{}\"", TTL_MODES[m]);
        }
        if let Some(m) = q.crash_requeue {
            let _ = writeln!(s, "crash_requeue = \"{}\"", CRASH_REQUEUES[m]);
        }
        if let Some(x) = q.durable {
            let _ = writeln!(s, "durable = {x}");
        }
        if let Some(f) = q.fsync_ms {
            let _ = writeln!(s, "fsync_interval = \"{f}ms\"");
        }
        if let Some(d) = q.dedup_s {
            let _ = writeln!(s, "dedup_window = \"{d}s\"");
        }
        if self.readers.get(i).is_some_and(|r| r.fifo_by_key) {
            let _ = writeln!(s, "fifo_by_key = true");
        }
    }

    fn render_queue_consumer(&self, s: &mut String, i: usize, c: &Consumer, nq: usize) {
        let q = c.queue % nq;
        let _ = writeln!(
            s,
            "\n[[consumer]]\nname = \"c{i}\"\nqueue = \"q{q}\"\ncount = {}\nprefetch = {}\nconcurrency = {}",
            c.count, c.prefetch, c.concurrency
        );
        if let Some(a) = c.ack {
            let _ = writeln!(s, "ack = \"{}\"", ACKS[a]);
        }
        let _ = writeln!(s, "service = {}", c.service.toml());
        for (k, v) in [
            ("failure", c.failure),
            ("poison", c.poison),
            ("non_retryable", c.non_retryable),
        ] {
            if v > 0.0 {
                let _ = writeln!(s, "{k} = {v:?}");
            }
        }
        if let Some(t) = c.publish_to {
            if q + 1 < nq {
                let _ = writeln!(s, "publish_to = \"q{}\"", q + 1 + t % (nq - q - 1));
            }
        }
        if let Some(r) = &c.retry {
            let _ = writeln!(s, "retry = {}", r.toml());
        }
        if let Some(m) = c.retry_mode {
            let mut mode = RETRY_MODES[m];
            // Known bug: a consumer crash during an in-handler retry
            // wraps the busy count (bug_in_handler_crash_utilisation_wraps).
            let crashes = self.faults.iter().any(|f| {
                matches!(
                    f,
                    Fault::ConsumerCrash { .. } | Fault::RollingRestart { .. }
                )
            });
            if !self.known_bugs && crashes && mode == "in-handler" {
                mode = "delay";
            }
            let _ = writeln!(s, "retry_mode = \"{mode}\"");
        }
        if let Some(w) = c.idempotency_s {
            let _ = writeln!(s, "idempotency = {{ window = \"{w}s\" }}");
        }
        if let Some(p) = c.preset {
            let _ = writeln!(s, "preset = \"{}\"", PRESETS[p]);
        }
        if let Some((held, wait)) = self.readers.get(i).and_then(|r| r.resequence) {
            let _ = writeln!(
                s,
                "resequence = {{ max_held = {held}, max_wait = \"{wait}s\" }}"
            );
        }
        if let Some(ops) = self.ops.consumers.get(i) {
            self.render_consumer_ops(s, c, q, ops);
        }
    }

    /// The instance counts of the saga's and the exactly-once block's
    /// consumers, where they are rendered.
    fn extra_counts(&self) -> Vec<u32> {
        let mut counts = Vec::new();
        if self.ops.saga.is_some() && self.shape != Shape::Topics {
            counts.push(1);
        }
        if let (Some(x), true) = (&self.ops.exactly_once, self.shape != Shape::Queues) {
            counts.extend([x.count, 1]);
        }
        counts
    }

    /// Side effects, lease extension and autoscaling, where the consumer
    /// and its queue take them (the loader refuses them elsewhere).
    fn render_consumer_ops(&self, s: &mut String, c: &Consumer, q: usize, ops: &ConsumerOps) {
        let acks_after = c.ack.is_none_or(|a| ACKS[a] == "after-processing");
        if let (Some(m), true) = (ops.side_effect, acks_after) {
            let mut effect = SIDE_EFFECTS[m];
            if effect == "idempotent" && c.idempotency_s.is_none() {
                effect = "before-ack";
            }
            let _ = writeln!(s, "side_effect = \"{effect}\"");
        }
        let queue = &self.queues[q];
        // Presets speak for brokers with or without per-message leases.
        let leased = acks_after
            && queue.ack_timeout_ms.is_some()
            && queue.preset.is_none()
            && c.preset.is_none();
        if let (Some((every, by, max)), true) = (ops.extend_lease, leased) {
            let _ = write!(
                s,
                "extend_lease = {{ every = \"{every}ms\", by = \"{by}ms\""
            );
            if let Some(m) = max {
                let _ = write!(s, ", max = \"{m}s\"");
            }
            let _ = writeln!(s, " }}");
        }
        let rolling = self
            .faults
            .iter()
            .any(|f| matches!(f, Fault::RollingRestart { .. }));
        if let (Some(a), false) = (&ops.autoscale, rolling) {
            let min = a.min.min(c.count);
            let max = (min + a.extra).max(c.count);
            let target = if AUTOSCALE_METRICS[a.metric] == "utilisation" {
                a.target
            } else {
                a.target * 3
            };
            let _ = write!(
                s,
                "autoscale = {{ min = {min}, max = {max}, metric = \"{}\", target = {target}, poll = \"{}s\", cooldown = \"{}s\", startup = \"{}s\", drain = {}",
                AUTOSCALE_METRICS[a.metric], a.poll_s, a.cooldown_s, a.startup_s, a.drain
            );
            if let Some(step) = a.step {
                let _ = write!(s, ", step = {step}");
            }
            let _ = writeln!(s, " }}");
        }
    }

    fn render_topic_consumer(&self, s: &mut String, i: usize, c: &Consumer, topic: usize) {
        let _ = writeln!(
            s,
            "\n[[consumer]]\nname = \"c{i}\"\ntopic = \"t{topic}\"\ncount = {}",
            c.count
        );
        let _ = writeln!(s, "service = {}", c.service.toml());
        if c.failure > 0.0 {
            let _ = writeln!(s, "failure = {:?}", c.failure);
        }
        if let Some(r) = &c.retry {
            let _ = writeln!(s, "retry = {}", r.toml());
        }
        let Some(r) = self.readers.get(i) else { return };
        if let Some(m) = r.commit {
            let _ = writeln!(s, "commit = \"{}\"", COMMITS[m]);
            if COMMITS[m] == "auto" {
                if let Some(ms) = r.auto_commit_ms {
                    let _ = writeln!(s, "auto_commit_interval = \"{ms}ms\"");
                }
            }
        }
        if let Some(n) = r.max_poll_records {
            let _ = writeln!(s, "max_poll_records = {n}");
        }
        if let Some(t) = r.session_timeout_s {
            let _ = writeln!(s, "session_timeout = \"{t}s\"");
        }
        if let Some(t) = r.max_poll_interval_s {
            let _ = writeln!(s, "max_poll_interval = \"{t}s\"");
        }
        if let Some(t) = r.rebalance_ms {
            let _ = writeln!(s, "rebalance_time = \"{t}ms\"");
        }
        if let Some(m) = r.retry_mode {
            let _ = writeln!(s, "retry_mode = \"{}\"", TOPIC_RETRY_MODES[m]);
        }
    }

    fn render_fault(&self, s: &mut String, f: &Fault, readers: &[bool], np: usize, nc: usize) {
        let _ = writeln!(s, "\n[[fault]]");
        match f {
            Fault::ConsumerCrash {
                target,
                instance,
                timing,
            } => {
                let _ = writeln!(s, "kind = \"consumer-crash\"");
                if let Some(t) = target {
                    let _ = writeln!(s, "target = \"consumer:c{}\"", t % nc);
                }
                if let Some(i) = instance {
                    // An instance the targeted groups have (the loader
                    // refuses another): numbered from 0 to count - 1.
                    let count = match target {
                        Some(t) => self.consumers[t % nc].count,
                        None => self
                            .consumers
                            .iter()
                            .map(|c| c.count)
                            .chain(self.extra_counts())
                            .min()
                            .unwrap_or(1),
                    };
                    let _ = writeln!(s, "instance = {}", i % count.max(1));
                }
                *s += &timing.toml();
            }
            Fault::BrokerCrash { timing, process } => {
                let _ = writeln!(s, "kind = \"broker-crash\"");
                if *process {
                    let _ = writeln!(s, "scope = \"process\"");
                }
                *s += &timing.toml();
            }
            Fault::ProducerCrash { target, timing } => {
                let _ = writeln!(s, "kind = \"producer-crash\"");
                if let Some(t) = target {
                    let _ = writeln!(s, "target = \"producer:p{}\"", t % np);
                }
                *s += &timing.toml();
            }
            Fault::Outage {
                target,
                start,
                length,
                failure,
                slowdown,
            } => {
                let _ = writeln!(
                    s,
                    "kind = \"dependency-outage\"\nstart = \"{start}s\"\nduration = \"{length}s\""
                );
                if let Some(t) = target {
                    let _ = writeln!(s, "target = \"consumer:c{}\"", t % nc);
                }
                if let Some(x) = failure {
                    let _ = writeln!(s, "failure = {x:?}");
                }
                if let Some(x) = slowdown {
                    let _ = writeln!(s, "slowdown = {x:?}");
                }
            }
            Fault::Partition {
                consumer,
                target,
                start,
                length,
            } => {
                // A consumer group on a topic cannot be partitioned (the
                // loader refuses it): its producer is, instead.
                let who = if *consumer && !readers[target % nc] {
                    format!("consumer:c{}", target % nc)
                } else {
                    format!("producer:p{}", target % np)
                };
                let _ = writeln!(
                    s,
                    "kind = \"partition\"\nbetween = [\"{who}\", \"broker\"]\nstart = \"{start}s\"\nduration = \"{length}s\""
                );
            }
            Fault::LoadSpike {
                target,
                factor,
                timing,
            } => {
                let _ = writeln!(s, "kind = \"load-spike\"\nfactor = {factor:?}");
                if let Some(t) = target {
                    let _ = writeln!(s, "target = \"producer:p{}\"", t % np);
                }
                *s += &timing.window_toml();
            }
            Fault::RollingRestart { .. } => self.render_rolling_restart(s, f, readers, np, nc),
            Fault::GcPause {
                target,
                instance,
                timing,
            } => {
                let _ = writeln!(s, "kind = \"gc-pause\"");
                if let Some(t) = target {
                    let _ = writeln!(s, "target = \"consumer:c{}\"", t % nc);
                }
                if let Some(i) = instance {
                    let count = match target {
                        Some(t) => self.consumers[t % nc].count,
                        None => self
                            .consumers
                            .iter()
                            .map(|c| c.count)
                            .chain(self.extra_counts())
                            .min()
                            .unwrap_or(1),
                    };
                    let _ = writeln!(s, "instance = {}", i % count.max(1));
                }
                *s += &timing.window_toml();
            }
        }
    }

    fn render_rolling_restart(
        &self,
        s: &mut String,
        f: &Fault,
        readers: &[bool],
        np: usize,
        nc: usize,
    ) {
        let Fault::RollingRestart {
            consumer,
            target,
            interval,
            downtime,
            graceful,
            at,
            every,
        } = f
        else {
            unreachable!("a rolling restart")
        };
        let (who, units) = if *consumer {
            let c = target % nc;
            (format!("consumer:c{c}"), self.consumers[c].count.max(1))
        } else {
            (format!("producer:p{}", target % np), 1)
        };
        // A topic group's members restart as crashes (the loader refuses
        // a graceful one).
        let graceful = *graceful && !(*consumer && readers[target % nc]);
        let _ = writeln!(
            s,
            "kind = \"rolling-restart\"\ntarget = \"{who}\"\ninterval = \"{interval}s\"\ndowntime = \"{downtime}s\"\ngraceful = {graceful}\nat = \"{at}s\""
        );
        if let Some((slack, jitter)) = every {
            let span = (units - 1) * interval + downtime + jitter.unwrap_or(0);
            let _ = writeln!(s, "every = \"{}s\"", span + 1 + slack);
            if let Some(j) = jitter {
                let _ = writeln!(s, "jitter = \"{j}s\"");
            }
        }
    }
}

/// A saga over a pipeline of queues of its own (`s0` -> `s1` [-> `s2`]),
/// failing at its last step, with undo queues for some earlier steps.
fn render_saga(s: &mut String, g: &Saga) {
    let _ = writeln!(
        s,
        "\n[[producer]]\nname = \"saga-producer\"\nqueue = \"s0\"\narrival = {{ process = \"poisson\", rate = {:?} }}",
        g.rate
    );
    let mut compensations = Vec::new();
    for k in 0..g.steps {
        let _ = writeln!(s, "\n[[queue]]\nname = \"s{k}\"");
        let _ = writeln!(
            s,
            "\n[[consumer]]\nname = \"s{k}\"\nqueue = \"s{k}\"\nservice = {{ dist = \"exponential\", mean = \"5ms\" }}"
        );
        if k + 1 < g.steps {
            let _ = writeln!(s, "publish_to = \"s{}\"", k + 1);
        } else {
            let _ = writeln!(
                s,
                "failure = {:?}\nnon_retryable = {:?}\nretry_mode = \"delay\"\nretry = {{ backoff = \"fixed\", delay = \"100ms\", max_attempts = {} }}",
                g.failure, g.non_retryable, g.max_attempts
            );
        }
        let undo = k + 1 < g.steps && g.undo.get(k).copied().unwrap_or(false);
        if undo {
            let _ = writeln!(
                s,
                "\n[[queue]]\nname = \"s{k}-undo\"\n\n[[consumer]]\nname = \"s{k}-undo\"\nqueue = \"s{k}-undo\"\nservice = {{ dist = \"exponential\", mean = \"5ms\" }}"
            );
            compensations.push(format!("\"s{k}-undo\""));
        } else {
            compensations.push("\"\"".to_string());
        }
    }
    let steps: Vec<String> = (0..g.steps).map(|k| format!("\"s{k}\"")).collect();
    let _ = writeln!(
        s,
        "\n[[saga]]\nname = \"generated\"\nsteps = [{}]\ncompensations = [{}]\ntrigger = \"{}\"\norder = \"{}\"",
        steps.join(", "),
        compensations.join(", "),
        SAGA_TRIGGERS[g.trigger],
        if g.parallel { "parallel" } else { "reverse" }
    );
}

/// Kafka's read-process-write under exactly-once: topic `x0` read by a
/// transactional group that produces to `x1`, read by a group with or
/// without `read_committed`.
fn render_exactly_once(s: &mut String, x: &ExactlyOnce) {
    let _ = writeln!(
        s,
        "\n[[producer]]\nname = \"eos-producer\"\ntopic = \"x0\"\narrival = {{ process = \"poisson\", rate = {:?} }}",
        x.rate
    );
    for t in ["x0", "x1"] {
        let _ = writeln!(
            s,
            "\n[[topic]]\nname = \"{t}\"\npartitions = {}",
            x.partitions
        );
    }
    let _ = writeln!(
        s,
        "\n[[consumer]]\nname = \"x0\"\ntopic = \"x0\"\ncount = {}\nservice = {{ dist = \"exponential\", mean = \"5ms\" }}\npublish_to = \"x1\"\ncommit = \"transactional\"\ntransaction_interval = \"{}ms\"",
        x.count, x.interval_ms
    );
    if x.failure > 0.0 {
        let _ = writeln!(s, "failure = {:?}", x.failure);
    }
    let _ = writeln!(
        s,
        "\n[[consumer]]\nname = \"x1\"\ntopic = \"x1\"\nservice = {{ dist = \"exponential\", mean = \"5ms\" }}"
    );
    if let Some(committed) = x.read_committed {
        let level = if committed {
            "read_committed"
        } else {
            "read_uncommitted"
        };
        let _ = writeln!(s, "isolation = \"{level}\"");
    }
}

// ------------------------------------------------------------------ running

fn panic_text(e: Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(non-string panic)".into())
}

/// Runs `f` on its own thread; a panic or a run over `secs` is an error.
fn guarded<T: Send + 'static>(
    secs: u64,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawn");
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => {
            let _ = h.join();
            Ok(v)
        }
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("HANG: no result within {secs} s")),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(format!(
            "PANIC: {}",
            panic_text(h.join().expect_err("the worker panicked"))
        )),
    }
}

/// Generated runs need far fewer events; a run that reaches this many is
/// checked for a stall (simulated time no longer advancing).
const MAX_EVENTS: u64 = 2_000_000;
/// Less simulated time than this in the second half of `MAX_EVENTS` events
/// is a livelock, not load (the simulator's shortest modelled step, a
/// retried publish's round trip, is 1 ms).
const MIN_PROGRESS_NS: u64 = 1_000_000;

fn load(text: &str) -> Result<Model, String> {
    let s = load_str(text, "generated.toml", &LoadOptions::default())
        .map_err(|e| format!("the generated scenario does not load: {e}"))?;
    model::compile(&s).map_err(|e| format!("the generated scenario does not compile: {e}"))
}

/// Runs the model and returns the summary and its JSON text.
fn summary(
    m: &Model,
    replications: u32,
    jobs: usize,
) -> Result<(Map<String, Value>, String), String> {
    let m = m.clone();
    guarded(120, move || {
        let plan = Plan {
            replications,
            jobs,
            precision: None,
            max_replications: replications,
            limits: Limits {
                max_events: Some(MAX_EVENTS),
                stop: None,
                deadline: None,
            },
            seed: m.seed,
            first_replication: 0,
            build: Default::default(),
        };
        let o = experiment::run(&m, &plan);
        let s = o.summary(&m);
        let text = serde_json::to_string(&Value::Object(s.clone())).expect("json");
        (s, text)
    })
}

fn num(v: &Value, path: &[&str]) -> Option<f64> {
    let mut v = v;
    for p in path {
        v = v.get(p)?;
    }
    v.as_f64()
}

const CONSERVED: [&str; 6] = [
    "rejected",
    "acked",
    "dead_lettered",
    "lost",
    "expired",
    "in_flight",
];
const COUNTS: [&str; 13] = [
    "published",
    "rejected",
    "delivered",
    "acked",
    "duplicates",
    "lost",
    "dead_lettered",
    "expired",
    "in_flight",
    "redelivered",
    "duplicates_prevented",
    "duplicates_slipped",
    "stale_acks",
];

/// Every invariant of one summary (`reps` replications averaged).
fn check_summary(s: &Map<String, Value>, strict_max: bool) -> Result<(), String> {
    let v = Value::Object(s.clone());
    let msgs = v.get("messages").ok_or("no messages")?;
    let published = num(msgs, &["published"]).ok_or("no published")?;
    let accounted: f64 = CONSERVED
        .iter()
        .map(|k| num(msgs, &[k]).unwrap_or(f64::NAN))
        .sum();
    if (published - accounted).abs() > 1e-6 * published.max(1.0) {
        let parts: Vec<String> = CONSERVED
            .iter()
            .map(|k| format!("{k} {}", num(msgs, &[k]).unwrap_or(f64::NAN)))
            .collect();
        return Err(format!(
            "conservation: published {published} != {}",
            parts.join(" + ")
        ));
    }
    // No negative and no wrapped-around counts.
    let mut bad = Vec::new();
    for k in COUNTS
        .iter()
        .chain(["attempts_total", "max_attempts", "failed_attempts"].iter())
    {
        match num(msgs, &[k]) {
            Some(x) if (0.0..9.0e15).contains(&x) => {}
            other => bad.push(format!("messages.{k} = {other:?}")),
        }
    }
    for k in [
        "attempts",
        "work_seconds",
        "failed_work_seconds",
        "loss_rate",
        "duplicate_rate",
        "dead_letter_rate",
        "throughput",
    ] {
        if let Some(x) = num(msgs, &[k]) {
            if x < 0.0 {
                bad.push(format!("messages.{k} = {x}"));
            }
        }
    }
    for group in [
        "lost_by_cause",
        "duplicates_by_cause",
        "dead_lettered_by_reason",
    ] {
        if let Some(Value::Object(m)) = msgs.get(group) {
            for (k, x) in m {
                if !x.as_f64().is_some_and(|x| (0.0..9.0e15).contains(&x)) {
                    bad.push(format!("messages.{group}.{k} = {x}"));
                }
            }
        }
    }
    if let Some(Value::Object(r)) = v.get("retries") {
        for (k, x) in r {
            if !x.as_f64().is_some_and(|x| (0.0..9.0e15).contains(&x)) {
                bad.push(format!("retries.{k} = {x}"));
            }
        }
    }
    if let Some(Value::Object(qs)) = v.get("queues") {
        for (name, q) in qs {
            for k in [
                "mean_length",
                "utilisation",
                "max_length",
                "dead_lettered",
                "duplicates",
            ] {
                if let Some(x) = num(q, &[k]) {
                    if !(0.0..9.0e15).contains(&x) {
                        bad.push(format!("queues.{name}.{k} = {x}"));
                    }
                }
            }
            if let Some(Value::Object(qq)) = q.get("queueing") {
                for k in [
                    "lambda",
                    "lambda_eff",
                    "mu",
                    "servers",
                    "rho",
                    "L",
                    "Lq",
                    "W",
                    "Wq",
                    "p_wait",
                    "p_block",
                    "littles_law_error",
                ] {
                    if let Some(x) = qq.get(k).and_then(Value::as_f64) {
                        if x < 0.0 {
                            bad.push(format!("queues.{name}.queueing.{k} = {x}"));
                        }
                    }
                }
            }
            if let Some(Value::Array(a)) = q.get("length_distribution") {
                if a.iter().any(|x| x.as_f64().is_some_and(|x| x < 0.0)) {
                    bad.push(format!(
                        "queues.{name}.length_distribution has a negative entry"
                    ));
                }
            }
        }
    }
    if let Some(Value::Object(a)) = v.get("availability") {
        for (k, x) in a {
            if !x.as_f64().is_some_and(|x| (0.0..=1.0 + 1e-12).contains(&x)) {
                bad.push(format!("availability.{k} = {x}"));
            }
        }
    }
    if !bad.is_empty() {
        return Err(format!("negative or wrapped values: {}", bad.join(", ")));
    }
    // Latency percentiles in order.
    let lat = v.get("latency").ok_or("no latency")?;
    let ps: Vec<(&str, f64)> = ["p50", "p90", "p99", "p999"]
        .iter()
        .filter_map(|k| num(lat, &[k]).map(|x| (*k, x)))
        .collect();
    for w in ps.windows(2) {
        if w[0].1 > w[1].1 {
            return Err(format!(
                "latency {} {} > {} {}",
                w[0].0, w[0].1, w[1].0, w[1].1
            ));
        }
    }
    if let Some(x) = ps.first() {
        if x.1 < 0.0 {
            return Err(format!("negative latency {}", x.1));
        }
    }
    if let Some(max) = num(lat, &["max"]) {
        // The histogram keeps 2 significant digits: a percentile may be
        // reported up to 1% above the true value. `strict_max` does not
        // allow even that.
        let slack = if strict_max { 0.0 } else { 0.01 * max + 1e-9 };
        for (k, x) in &ps {
            if *x > max + slack {
                return Err(format!("latency {k} {x} > max {max}"));
            }
        }
        if let Some(mean) = num(lat, &["mean"]) {
            if mean > max * (1.0 + 1e-9) + 1e-9 || mean < 0.0 {
                return Err(format!("latency mean {mean} outside [0, max {max}]"));
            }
        }
    }
    Ok(())
}

/// Loads, runs twice, checks the invariants and determinism.
fn check_all(text: &str, strict_max: bool) -> Result<(), String> {
    let m = load(text)?;
    let (s1, j1) = summary(&m, 1, 1)?;
    check_summary(&s1, strict_max)?;
    if s1.get("partial") == Some(&Value::Bool(true)) {
        check_progress(&m)?;
    }
    let (_, j2) = summary(&m, 1, 1)?;
    if j1 != j2 {
        return Err(format!(
            "same seed, different summaries:\n{}",
            first_difference(&j1, &j2)
        ));
    }
    Ok(())
}

/// For a run stopped by the event limit: did simulated time still move?
/// A livelock repeats events at one instant (or a few nanoseconds apart),
/// so the second half of the events moves the clock by (almost) nothing;
/// heavy but legitimate load, such as many messages each retrying a
/// refused publish every round trip, moves it on by seconds.
fn check_progress(m: &Model) -> Result<(), String> {
    let run_to = |max_events: u64| {
        let m = m.clone();
        guarded(120, move || {
            let seed = mqsim::rng::replication_seed(m.seed, 0);
            let limits = Limits {
                max_events: Some(max_events),
                stop: None,
                deadline: None,
            };
            let out = mqsim::sim::run(&m, seed, m.warmup_ns(), limits);
            (out.stopped_early, out.clock_ns)
        })
    };
    let (stopped_half, half_ns) = run_to(MAX_EVENTS / 2)?;
    let (stopped, end_ns) = run_to(MAX_EVENTS)?;
    let advanced_ns = end_ns.saturating_sub(half_ns);
    if stopped_half && stopped && advanced_ns < MIN_PROGRESS_NS {
        return Err(format!(
            "STALL: events {} to {MAX_EVENTS} moved simulated time by {advanced_ns} ns (from {half_ns} ns): a zero-delay loop",
            MAX_EVENTS / 2
        ));
    }
    Ok(())
}

fn check_threads(text: &str) -> Result<(), String> {
    let m = load(text)?;
    let (s1, j1) = summary(&m, 3, 1)?;
    let (_, j2) = summary(&m, 3, 2)?;
    if j1 != j2 {
        return Err(format!(
            "jobs 1 and jobs 2 differ:\n{}",
            first_difference(&j1, &j2)
        ));
    }
    check_summary(&s1, false)
}

/// The core and full builds give the same replications, byte for byte
/// (the generated scenario must take the core build).
fn check_builds(text: &str) -> Result<(), String> {
    let m = load(text)?;
    if !Build::Auto.takes_core(&Uses::of(&m, false)) {
        return Err(format!(
            "the generated scenario does not take the core build: {:?}",
            Uses::of(&m, false)
        ));
    }
    let limits = Limits {
        max_events: Some(MAX_EVENTS),
        stop: None,
        deadline: None,
    };
    for r in 0..2 {
        let m = m.clone();
        let (core, full) = guarded(120, move || {
            let run = |b| {
                let (w, _) = experiment::choose_warmup(&m, m.seed, limits, b);
                let rep = experiment::replicate(&m, m.seed, r, w, limits, b);
                serde_json::to_string(&rep).expect("json")
            };
            (run(Build::Auto), run(Build::Full))
        })?;
        if core != full {
            return Err(format!(
                "replication {r}: the core and full builds differ:\n{}",
                first_difference(&core, &full)
            ));
        }
    }
    Ok(())
}

fn first_difference(a: &str, b: &str) -> String {
    let i = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let from = a.floor_char_boundary(i.saturating_sub(150));
    format!(
        "...{} | {}",
        &a[from..a.ceil_char_boundary((i + 80).min(a.len()))],
        &b[b.floor_char_boundary(i)..b.ceil_char_boundary((i + 80).min(b.len()))]
    )
}

fn littles_law(text: &str) -> Result<(), String> {
    let m = load(text)?;
    let (s, _) = summary(&m, 1, 1)?;
    check_summary(&s, false)?;
    let Some(Value::Object(qs)) = s.get("queues") else {
        return Err("no queues".into());
    };
    let window = m.duration_ns as f64 / 1e9;
    for (name, q) in qs {
        let lambda = num(q, &["queueing", "lambda_eff"]).unwrap_or(0.0);
        if lambda * window < 3000.0 || num(q, &["queueing", "servers"]).unwrap_or(0.0) == 0.0 {
            continue; // too few messages for a tight estimate, or no consumer
        }
        let err = num(q, &["queueing", "littles_law_error"]).ok_or("no littles_law_error")?;
        if err >= 0.05 {
            return Err(format!(
                "queue {name}: Little's law error {err:.4} (L {:?}, lambda_eff {lambda}, W {:?})",
                num(q, &["queueing", "L"]),
                num(q, &["queueing", "W"])
            ));
        }
    }
    Ok(())
}

fn report(text: &str, r: Result<(), String>) -> Result<(), TestCaseError> {
    r.map_err(|e| TestCaseError::fail(format!("{e}\n--- scenario ---\n{text}")))
}

// -------------------------------------------------------------- properties

proptest! {
    #![proptest_config(config(1500, 0x1a7a_0001))]

    /// No panic, conservation, no negative counts, ordered percentiles
    /// (within the histogram's 1% precision), and determinism.
    #[test]
    fn random_scenarios_keep_the_invariants(sc in scenario(false)) {
        let text = sc.render();
        report(&text, check_all(&text, false))?;
    }
}

proptest! {
    #![proptest_config(config(150, 0x1a7a_0002))]

    /// Three replications give the same summary on one thread and on two.
    #[test]
    fn replications_do_not_depend_on_the_thread_count(sc in scenario(false)) {
        let text = sc.render();
        report(&text, check_threads(&text))?;
    }
}

proptest! {
    #![proptest_config(config(100, 0x1a7a_0003))]

    /// Without faults, network, retries or failures, L = lambda W.
    #[test]
    fn littles_law_holds_on_clean_runs(sc in clean_scenario()) {
        let text = sc.render();
        report(&text, littles_law(&text))?;
    }
}

proptest! {
    #![proptest_config(config(1000, 0x1a7a_0005))]

    /// A model that uses none of the optional parts gives the same results
    /// on the core build (those parts compiled out) as on the full build.
    #[test]
    fn core_and_full_builds_agree(sc in core_scenario()) {
        let text = sc.render();
        report(&text, check_builds(&text))?;
    }
}

proptest! {
    #![proptest_config(config(1500, 0x1a7a_0001))]

    /// As `random_scenarios_keep_the_invariants`, with p999 <= max exactly.
    #[test]
    fn latency_percentiles_never_exceed_the_max(sc in scenario(false)) {
        let text = sc.render();
        report(&text, check_all(&text, true))?;
    }
}

proptest! {
    #![proptest_config(config(1500, 0x1a7a_0004))]

    /// Without the generator's detours around the known bugs
    /// (bug_producer_retry_livelock, bug_in_handler_crash_utilisation_wraps).
    #[test]
    fn random_scenarios_without_workarounds_keep_the_invariants(sc in scenario(true)) {
        let text = sc.render();
        report(&text, check_all(&text, false))?;
    }
}

// ----------------------------------------------------- corpus regressions

fn corpus(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn run_corpus(name: &str, strict_max: bool) {
    let text = corpus(name);
    if let Err(e) = check_all(&text, strict_max) {
        panic!("{name}: {e}");
    }
}

/// The generator itself: a fixed scenario of every feature loads and keeps
/// the invariants (a quick smoke test of the harness).
#[test]
fn kitchen_sink_keeps_the_invariants() {
    run_corpus("kitchen_sink.toml", false);
    let text = corpus("kitchen_sink.toml");
    report(&text, check_threads(&text)).unwrap();
}

/// Regression (fixed in 6142077): overflow = "dead-letter" on a full
/// queue panicked in Sim::send_confirm.
#[test]
fn overflow_dead_letter_on_a_full_queue_runs() {
    run_corpus("overflow_dead_letter_full_queue.toml", false);
}

#[test]
fn bug_in_handler_crash_utilisation_wraps() {
    run_corpus("bug_in_handler_crash_utilisation_wraps.toml", false);
}

#[test]
fn bug_producer_retry_livelock() {
    run_corpus("bug_producer_retry_livelock.toml", false);
}

/// A copy that a full fifo_by_key queue dead-lettered on arrival was
/// counted out of its key's lane though it never waited there, so the
/// lane's count wrapped when a real waiting copy left (an overflow
/// panic under --profile checked, a wrong blocked-key time in release).
#[test]
fn bug_keyed_lane_waiting_underflow() {
    run_corpus("bug_keyed_lane_waiting_underflow.toml", false);
}

#[test]
fn retry_storm_is_not_a_livelock() {
    run_corpus("retry_storm_is_not_a_livelock.toml", false);
}

#[test]
fn bug_p999_above_max() {
    run_corpus("bug_p999_above_max.toml", true);
}

/// The resource guard must refuse what would exhaust memory or run for
/// hours; these are accepted today (checked without running them).
fn guard_refuses(name: &str) {
    let text = corpus(name);
    let m = load(&text).unwrap();
    let plan = Plan {
        replications: 1,
        jobs: 1,
        precision: None,
        max_replications: 1,
        limits: Limits::default(),
        seed: m.seed,
        first_replication: 0,
        build: Default::default(),
    };
    assert!(
        experiment::guard::check(&m, &plan, false).is_err(),
        "{name}: the guard lets a run through that never finishes"
    );
}

#[test]
fn bug_guard_sample_interval() {
    guard_refuses("bug_guard_sample_interval.toml");
}

#[test]
fn bug_guard_heavy_tailed_interarrival() {
    guard_refuses("bug_guard_heavy_tailed_interarrival.toml");
}

/// Regression: a broker crash in a topic-only model wrote prefetch credits
/// for a topic group's members at queue index usize::MAX (a segmentation
/// fault in release builds, a table assertion in checked builds).
#[test]
fn bug_broker_crash_topic_only() {
    run_corpus("bug_broker_crash_topic_only.toml", false);
}
