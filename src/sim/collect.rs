//! Statistics gathered during one run, in one place and apart from the
//! model: the simulator reports what happened, this module counts it.
//! Everything here is streaming: memory does not grow with the number of
//! messages (latencies go to an HDR histogram, queue lengths to time-weighted
//! areas and a bounded length histogram).

use crate::table::Table;
use crate::time::{ns_to_secs, Nanos};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;

/// States of a message's lifecycle, as an absorbing Markov chain.
pub const LIFECYCLE_STATES: [&str; 7] = [
    "queued",
    "in_flight",
    "waiting_retry",
    "acked",
    "dead_lettered",
    "expired",
    "lost",
];
pub const QUEUED: usize = 0;
pub const IN_FLIGHT: usize = 1;
pub const WAITING_RETRY: usize = 2;
pub const ACKED: usize = 3;
pub const DEAD_LETTERED: usize = 4;
pub const EXPIRED: usize = 5;
pub const LOST: usize = 6;
pub const TRANSIENT_STATES: usize = 3;

/// States of a saga's business transaction, as an absorbing Markov chain:
/// `running` and `compensating` transient, the others absorbing.
pub const SAGA_STATES: [&str; 5] = [
    "running",
    "compensating",
    "completed",
    "compensated",
    "stuck",
];
pub const SAGA_RUNNING: usize = 0;
pub const SAGA_COMPENSATING: usize = 1;
pub const SAGA_COMPLETED: usize = 2;
pub const SAGA_COMPENSATED: usize = 3;
pub const SAGA_STUCK: usize = 4;
pub const SAGA_TRANSIENT_STATES: usize = 2;

/// Longest queue length tracked one by one in the length distribution;
/// longer lengths share the last bin.
pub const MAX_LENGTH_BIN: usize = 2000;
/// Bounds of the joint (queue length, orbit) occupancy grid kept for the
/// retry-orbit chain; larger values share the last row or column.
pub const ORBIT_Q_MAX: usize = 400;
pub const ORBIT_O_MAX: usize = 400;

/// `add_<counter>(n)` (and `sub_<level>(n)` for a level that also falls):
/// the simulator changes the run's counters only through these, so that
/// every change of a counter is a call that can be found, and a level
/// that falls is asserted never to fall below zero where it changes
/// (`tests/architecture.rs` refuses a counter written directly).
macro_rules! counters {
    ($owner:ty { $($method:ident => $field:ident : $kind:ty),+ $(,)? }) => {
        impl $owner {
            $(
                #[inline]
                pub fn $method(&mut self, n: $kind) {
                    self.$field += n;
                }
            )+
        }
    };
}

/// The `sub_<level>` methods: a level (messages ready, held, being
/// processed, in the retry orbit) taken down by `n`, never below zero.
macro_rules! levels {
    ($owner:ty { $($method:ident => $field:ident),+ $(,)? }) => {
        impl $owner {
            $(
                #[inline]
                pub fn $method(&mut self, n: u64) {
                    debug_assert!(
                        self.$field >= n,
                        concat!(stringify!($field), " would fall below zero")
                    );
                    self.$field -= n;
                }
            )+
        }
    };
}

counters!(Collector {
    add_published => published: u64,
    add_delivered => delivered: u64,
    add_redelivered => redelivered: u64,
    add_duplicates_prevented => duplicates_prevented: u64,
    add_duplicates_slipped => duplicates_slipped: u64,
    add_attempts => attempts: u64,
    add_failed_attempts => failed_attempts: u64,
    add_failed_work_ns => failed_work_ns: u128,
    add_work_ns => work_ns: u128,
    add_retries => retries: u64,
    add_retries_refused => retries_refused: u64,
    add_producer_retries => producer_retries: u64,
    add_processed_after_timeout => processed_after_timeout: u64,
    add_breaker_rejected => breaker_rejected: u64,
    add_stale_acks => stale_acks: u64,
    add_acks_lost => acks_lost: u64,
    add_resequenced => resequenced: u64,
    add_resequence_wait_ns => resequence_wait_ns: u128,
    add_resequence_gave_up => resequence_gave_up: u64,
    add_side_effects_lost => side_effects_lost: u64,
    add_side_effects_duplicated => side_effects_duplicated: u64,
});

levels!(Collector {
    sub_acks_lost => acks_lost,
});

counters!(QueueCounters {
    add_busy => busy: u64,
    add_offered => offered: u64,
    add_blocked => blocked: u64,
    add_duplicates => duplicates: u64,
    add_dead_lettered => dead_lettered: u64,
    add_settles_uncounted => settles_uncounted: u64,
    add_attempts_unsettled => attempts_unsettled: u64,
    add_lease_extensions => lease_extensions: u64,
    add_key_blocked_ns => key_blocked_ns: u128,
    add_orbit => orbit: u64,
});

levels!(QueueCounters {
    sub_ready => ready,
    sub_held => held,
    sub_busy => busy,
    sub_orbit => orbit,
});

counters!(LogGroupStats {
    add_rebalances => rebalances: u64,
    add_reread => reread: u64,
    add_uncommitted_at_loss => uncommitted_at_loss: u64,
    add_lost_to_early_commit => lost_to_early_commit: u64,
    add_lost_to_retention => lost_to_retention: u64,
    add_skipped_by_reset => skipped_by_reset: u64,
    add_offset_resets => offset_resets: u64,
    add_commits => commits: u64,
    add_commits_failed => commits_failed: u64,
    add_poll_timeouts => poll_timeouts: u64,
    add_skipped => skipped: u64,
});

counters!(TransactionStats {
    add_committed => committed: u64,
    add_aborted => aborted: u64,
    add_records_committed => records_committed: u64,
    add_records_aborted => records_aborted: u64,
    add_commit_wait_ns => commit_wait_ns: u128,
    add_aborted_skipped => aborted_skipped: u64,
});

counters!(SagaStats {
    add_started => started: u64,
    add_completed => completed: u64,
    add_compensated => compensated: u64,
    add_stuck => stuck: u64,
});

/// Per queue: time-weighted areas and visit counts, for L, Lq, W, Wq.
#[derive(Clone, Debug, Default)]
pub struct QueueCounters {
    /// Messages ready in the queue (waiting for a consumer).
    pub ready: u64,
    /// Deliveries held by consumers (in their buffer or being processed).
    pub held: u64,
    /// Workers busy processing.
    pub busy: u64,
    last_ns: Nanos,
    pub area_ready: f64,
    pub area_system: f64,
    pub area_busy: f64,
    /// Time (ns) spent at each number in system, 0..=MAX_LENGTH_BIN.
    pub length_time: Vec<f64>,
    pub max_system: u64,
    /// New messages offered to the queue (published into it).
    pub offered: u64,
    pub blocked: u64,
    /// Visits: each time a message enters the queue (new, requeued, retried).
    pub visits: u64,
    pub visit_time_ns: u128,
    pub visit_wait_ns: u128,
    pub visits_done: u64,
    pub waited: u64,
    pub services: u64,
    pub service_time_ns: u128,
    pub service_sq_s: f64,
    pub deliveries: u64,
    pub duplicates: u64,
    pub dead_lettered: u64,
    /// First processings of a keyed message after a later message of its key.
    pub out_of_order: u64,
    /// Largest (highest sequence processed - sequence) of such a message.
    pub max_displacement: u64,
    /// Broker requests beyond publishes (`offered`) and deliveries, for
    /// `[cost]`, counted off the hot path: acks and nacks are `services`
    /// plus `settles_uncounted` minus `attempts_unsettled`.
    /// Attempts not in `services` that ended (an idempotency store's skip,
    /// a breaker's rejection).
    pub settles_uncounted: u64,
    /// Attempts that ended with no ack or nack reaching the broker: an
    /// in-handler retry, a failure left to the ack timeout (SQS), a
    /// partitioned consumer, an ack lost on the wire.
    pub attempts_unsettled: u64,
    /// Lease extensions that reached the broker.
    pub lease_extensions: u64,
    /// Key-seconds (ns) that keys had messages waiting behind one of theirs
    /// (FIFO by key).
    pub key_blocked_ns: u128,
    /// The retry orbit: messages whose client has timed out at least once
    /// and still waits (until one of its copies is processed, or it gives up).
    pub orbit: u64,
    pub area_orbit: f64,
    /// Time at (number in system, orbit), row-major with ORBIT_O_MAX + 1
    /// columns; kept only for queues whose producers retry.
    pub joint: Vec<f64>,
}

/// What happened, and when, for the time series.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    pub time_s: f64,
    pub queue: usize,
    pub ready: u64,
    pub in_flight: u64,
    pub waiting_retry: u64,
    pub dead_lettered: u64,
    pub acked: u64,
    pub lost: u64,
    /// Mean latency of messages first processed in the interval, seconds
    /// (NaN, written as null, when none was).
    #[serde(deserialize_with = "nan_from_null")]
    pub latency_mean_s: f64,
    pub completions: u64,
    /// Consumer instances of the groups that read the queue: the
    /// autoscaler's count where there is one, else the configured count
    /// (instances down after a crash still count).
    #[serde(default)]
    pub instances: u32,
}

/// A consumer group's instance count, weighed by time over the statistics
/// window: its mean, its most, and the instance-seconds it cost.
#[derive(Clone, Debug, Default)]
pub struct InstanceCounter {
    /// The count now, and since when.
    pub now: u32,
    pub since_ns: Nanos,
    /// Instance-nanoseconds within the window.
    pub area_ns: u128,
    /// The most instances at any time within the window.
    pub max: u32,
}

impl InstanceCounter {
    pub fn new(count: u32) -> InstanceCounter {
        InstanceCounter {
            now: count,
            ..InstanceCounter::default()
        }
    }

    /// Weighs the count since the last change up to `now`, within the
    /// window [`start`, `end`).
    pub fn advance(&mut self, start: Nanos, end: Nanos, now: Nanos) {
        let from = self.since_ns.max(start);
        let to = now.min(end);
        if to > from {
            self.area_ns += self.now as u128 * (to - from) as u128;
            self.max = self.max.max(self.now);
        }
        self.since_ns = self.since_ns.max(now);
    }
}

pub struct Collector {
    pub window_start: Nanos,
    pub window_end: Nanos,
    pub published: u64,
    pub rejected: u64,
    pub acked: u64,
    pub dead_lettered: u64,
    pub lost: u64,
    pub expired: u64,
    pub in_flight: u64,
    pub delivered: u64,
    pub redelivered: u64,
    pub duplicates: u64,
    pub duplicates_prevented: u64,
    pub duplicates_slipped: u64,
    pub attempts: u64,
    pub max_attempts: u64,
    pub failed_attempts: u64,
    pub failed_work_ns: u128,
    pub work_ns: u128,
    pub retries: u64,
    pub retries_refused: u64,
    pub producer_retries: u64,
    /// Messages first processed after their client had stopped waiting for
    /// the attempt that completed (its timeout had fired): work nobody
    /// waited for.
    pub processed_after_timeout: u64,
    pub breaker_rejected: u64,
    pub stale_acks: u64,
    pub acks_lost: u64,
    /// Lost messages whose producer knew it: it gave up on them (no
    /// confirm, no reply, its retries spent), as opposed to silent losses.
    pub lost_detected: u64,
    /// Acked messages (processed) that the broker also dead-lettered: their
    /// acks all came after the ack timeout, until the delivery limit.
    pub processed_then_dead_lettered: u64,
    pub lost_by_cause: BTreeMap<&'static str, u64>,
    pub duplicates_by_cause: BTreeMap<&'static str, u64>,
    pub dead_lettered_by_reason: BTreeMap<&'static str, u64>,
    /// Latencies (publish to ack) in ns. Filled from `latency_counts` by
    /// [`Collector::close_latency`] when the run ends.
    pub latency: Histogram<u64>,
    /// Completions per bucket of `latency` while the run goes on: the
    /// histogram's own `record` costs three times as much per message.
    latency_counts: Vec<u64>,
    /// The non-empty buckets of `latency` as (lowest value, count), in
    /// ascending order: kept by [`Collector::close_latency`] (cheaper than
    /// the histogram's iterator over every bucket).
    latency_sparse: Vec<(u64, u64)>,
    pub latency_sum_s: f64,
    pub latency_max_ns: Nanos,
    pub(crate) queues: Table<QueueCounters>,
    pub transitions: [[u64; 7]; 7],
    pub samples: Vec<Sample>,
    interval_latency_sum: f64,
    interval_completions: u64,
    /// Per consumer group: instance-seconds up, instance-seconds total.
    pub group_up_ns: Vec<(u128, u128)>,
    /// Resequencing buffers: messages held, hold time, let go before their turn.
    pub resequenced: u64,
    pub resequence_wait_ns: u128,
    pub resequence_gave_up: u64,
    /// Per consumer group that reads a topic (empty for queue groups).
    pub logs: Vec<LogGroupStats>,
    /// Consumer lag per partition, sampled.
    pub lag_samples: Vec<LagSample>,
    /// Dead-lettered messages by why they failed (see
    /// `outcomes::dead_letter_origin`).
    pub dead_lettered_by_origin: BTreeMap<&'static str, u64>,
    /// Whether completions are split into touched by a retry, redelivery
    /// or fault and the rest (`outcomes::tracks_affected`).
    pub track_affected: bool,
    /// Completions per bucket of `latency` of touched messages (empty
    /// until the first).
    pub(super) affected_counts: Vec<u64>,
    pub affected_sum_s: f64,
    pub affected_max_ns: Nanos,
    /// Per message a crashed consumer held: the time from the crash to its
    /// next delivery.
    pub crash_redelivery_ns: Vec<Nanos>,
    /// Consumers' side effects (`side_effect`): messages processed whose
    /// write never happened (a crash between the ack and the write), and
    /// writes made again for a message already written at that stage.
    pub side_effects_lost: u64,
    /// Per consumer group, its instance count over time (empty when no
    /// group autoscales).
    pub instances: Vec<InstanceCounter>,
    pub side_effects_duplicated: u64,
    /// Per `[[saga]]`: how its business transactions ended.
    pub sagas: Vec<SagaStats>,
}

/// One saga's transactions (those whose message is in the window).
#[derive(Clone, Debug)]
pub struct SagaStats {
    /// First step processed: an effect that may need undoing.
    pub started: u64,
    /// Processed at the last step.
    pub completed: u64,
    /// Failed at a later step, and every completed step undone.
    pub compensated: u64,
    /// Ended partially applied: a compensation dead-lettered, lost or
    /// expired, or a failure (or loss) that started no compensation.
    pub stuck: u64,
    /// From the first step's effect to the completion or the last
    /// compensation (completed and compensated transactions), ns.
    pub inconsistency: SpanStats,
    /// From the failure that started compensation to the last one, ns.
    pub compensation: SpanStats,
    /// `transitions[from][to]` between [`SAGA_STATES`]: the counts the
    /// saga's lifecycle chain is estimated from.
    pub transitions: [[u64; 5]; 5],
}

/// A distribution of durations: count, sum, maximum and an HDR histogram
/// (3 significant digits) for its quantiles.
#[derive(Clone, Debug)]
pub struct SpanStats {
    pub sum_ns: u128,
    pub max_ns: Nanos,
    pub histogram: Histogram<u64>,
}

impl SpanStats {
    pub fn new() -> SpanStats {
        SpanStats {
            sum_ns: 0,
            max_ns: 0,
            histogram: latency_histogram(),
        }
    }

    pub fn record(&mut self, ns: Nanos) {
        self.sum_ns += ns as u128;
        self.max_ns = self.max_ns.max(ns);
        // Saturates at the histogram's bound (as latencies do).
        self.histogram.saturating_record(ns.max(1));
    }
}

impl Default for SpanStats {
    fn default() -> Self {
        SpanStats::new()
    }
}

impl SagaStats {
    pub fn new() -> SagaStats {
        SagaStats {
            started: 0,
            completed: 0,
            compensated: 0,
            stuck: 0,
            inconsistency: SpanStats::new(),
            compensation: SpanStats::new(),
            transitions: [[0; 5]; 5],
        }
    }
}

impl Default for SagaStats {
    fn default() -> Self {
        SagaStats::new()
    }
}

/// Lag of one consumer group at one sample time, per partition.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct LagSample {
    pub time_s: f64,
    pub group: usize,
    pub lag: Vec<u64>,
    /// Mean latency of the messages completed in the last interval.
    pub latency_mean_s: f64,
}

/// A consumer group on a topic: offsets, rebalances and their consequences.
#[derive(Clone, Debug, Default)]
pub struct LogGroupStats {
    pub rebalances: u64,
    /// Records processed again by the group (after a crash or rebalance).
    pub reread: u64,
    /// Records processed but not committed when their member lost them
    /// (crash or eviction): what the next owner must read again.
    pub uncommitted_at_loss: u64,
    /// Records the group committed past without processing them.
    pub lost_to_early_commit: u64,
    /// Records deleted by retention before the group processed them.
    pub lost_to_retention: u64,
    /// Retained records skipped when `auto_offset_reset = "latest"` moved a
    /// member whose offset had been deleted to the log end (lost).
    pub skipped_by_reset: u64,
    /// Times a member's offset was gone and `auto_offset_reset` applied.
    pub offset_resets: u64,
    pub commits: u64,
    /// Commits refused because the member was no longer in the group.
    pub commits_failed: u64,
    /// Members that left the group for exceeding `max_poll_interval`.
    pub poll_timeouts: u64,
    /// Records skipped after failing (no dead-letter topic).
    pub skipped: u64,
    /// `commit = "transactional"` (the writing group), and aborted records
    /// passed over (a `read_committed` reader).
    pub transactions: TransactionStats,
    /// First processings of a keyed record after a later record of its key.
    pub out_of_order: u64,
    pub max_displacement: u64,
    /// Lag (log end - committed offset), summed over partitions, now.
    pub lag: u64,
    pub lag_max: u64,
    /// Time integral of the lag per partition (record-ns), from the window start.
    pub lag_area: Vec<f64>,
    pub lag_now: Vec<u64>,
    last_ns: Nanos,
}

/// A topic group's transactions (`commit = "transactional"`), counted when
/// they end inside the statistics window.
#[derive(Clone, Debug, Default)]
pub struct TransactionStats {
    pub committed: u64,
    pub aborted: u64,
    pub records_committed: u64,
    pub records_aborted: u64,
    /// Sum over committed records of the time from their write to the
    /// commit (ns): what the commit interval adds to their latency.
    pub commit_wait_ns: u128,
    /// A `read_committed` reader: aborted records it passed over.
    pub aborted_skipped: u64,
}

impl LogGroupStats {
    pub fn new(partitions: usize) -> LogGroupStats {
        LogGroupStats {
            lag_area: vec![0.0; partitions],
            lag_now: vec![0; partitions],
            ..Default::default()
        }
    }

    /// Brings the lag areas up to `now` (inside the window only).
    pub fn advance(&mut self, window: (Nanos, Nanos), now: Nanos) {
        let from = self.last_ns.max(window.0);
        let to = now.min(window.1);
        if to > from {
            let dt = (to - from) as f64;
            for (a, &l) in self.lag_area.iter_mut().zip(&self.lag_now) {
                *a += l as f64 * dt;
            }
        }
        self.last_ns = self.last_ns.max(now);
    }

    pub fn set_lag(&mut self, window: (Nanos, Nanos), now: Nanos, part: usize, lag: u64) {
        self.advance(window, now);
        self.lag = self.lag + lag - self.lag_now[part];
        self.lag_now[part] = lag;
        if now >= window.0 && now <= window.1 {
            self.lag_max = self.lag_max.max(self.lag);
        }
    }
}

impl Collector {
    /// Group `g` has `count` instances from `now` on (an autoscaler changed it).
    pub fn set_instances(&mut self, g: usize, count: u32, now: Nanos) {
        let (start, end) = (self.window_start, self.window_end);
        let n = &mut self.instances[g];
        n.advance(start, end, now);
        n.now = count;
    }

    pub fn new(window_start: Nanos, window_end: Nanos, queues: usize, groups: usize) -> Collector {
        let latency = latency_histogram();
        Collector {
            window_start,
            window_end,
            published: 0,
            rejected: 0,
            acked: 0,
            dead_lettered: 0,
            lost: 0,
            expired: 0,
            in_flight: 0,
            delivered: 0,
            redelivered: 0,
            duplicates: 0,
            duplicates_prevented: 0,
            duplicates_slipped: 0,
            attempts: 0,
            max_attempts: 0,
            failed_attempts: 0,
            failed_work_ns: 0,
            work_ns: 0,
            retries: 0,
            retries_refused: 0,
            producer_retries: 0,
            processed_after_timeout: 0,
            breaker_rejected: 0,
            stale_acks: 0,
            acks_lost: 0,
            lost_detected: 0,
            processed_then_dead_lettered: 0,
            lost_by_cause: BTreeMap::new(),
            duplicates_by_cause: BTreeMap::new(),
            dead_lettered_by_reason: BTreeMap::new(),
            latency_counts: vec![0; latency.distinct_values()],
            latency_sparse: Vec::new(),
            latency,
            latency_sum_s: 0.0,
            latency_max_ns: 0,
            queues: vec![
                QueueCounters {
                    length_time: vec![0.0; 64],
                    ..Default::default()
                };
                queues
            ]
            .into(),
            transitions: [[0; 7]; 7],
            samples: Vec::new(),
            interval_latency_sum: 0.0,
            interval_completions: 0,
            group_up_ns: vec![(0, 0); groups],
            resequenced: 0,
            resequence_wait_ns: 0,
            resequence_gave_up: 0,
            logs: Vec::new(),
            lag_samples: Vec::new(),
            side_effects_lost: 0,
            instances: Vec::new(),
            side_effects_duplicated: 0,
            sagas: Vec::new(),
            dead_lettered_by_origin: BTreeMap::new(),
            track_affected: false,
            affected_counts: Vec::new(),
            affected_sum_s: 0.0,
            affected_max_ns: 0,
            crash_redelivery_ns: Vec::new(),
        }
    }

    #[inline]
    pub fn in_window(&self, t: Nanos) -> bool {
        t >= self.window_start && t < self.window_end
    }

    /// Brings the time-weighted areas of queue `q` up to `now`. Call before
    /// every change of its counts.
    #[inline(always)]
    pub fn advance(&mut self, q: usize, now: Nanos) {
        if now == self.queues[q].last_ns {
            // Several changes at one instant (the common case): no time to
            // weigh, and no call.
            return;
        }
        self.advance_to(q, now);
    }

    /// Checks (in debug builds) that queue `q`'s areas are up to `now`: a
    /// caller that changes its counts without [`Collector::advance`] relies
    /// on an advance made earlier at the same instant.
    #[inline(always)]
    pub fn debug_assert_current(&self, q: usize, now: Nanos) {
        debug_assert_eq!(
            self.queues[q].last_ns, now,
            "queue {q}: areas not advanced to now"
        );
    }

    /// Queue `q` gains `ready` ready messages and `held` held deliveries
    /// (after [`Collector::advance`]). Increases are the only changes that
    /// can set a new `max_system`, so it is kept here: the longest the
    /// system was, even for an instant.
    #[inline(always)]
    pub fn grow(&mut self, q: usize, ready: u64, held: u64) -> &mut QueueCounters {
        let c = &mut self.queues[q];
        c.ready += ready;
        c.held += held;
        let system = c.ready + c.held;
        if system > c.max_system {
            c.max_system = system;
        }
        c
    }

    /// [`Collector::advance`] when time has passed. Inlined: a call costs
    /// its callers more in moved registers than the copies cost in code
    /// (callgrind, 200k messages: -1.7% instructions on mm1 and retry).
    #[inline(always)]
    fn advance_to(&mut self, q: usize, now: Nanos) {
        let (ws, we) = (self.window_start, self.window_end);
        let c = &mut self.queues[q];
        let from = c.last_ns.max(ws);
        let to = now.min(we);
        if to > from {
            // Counts and spans are far below 2^63, where `as i64 as f64`
            // (one instruction) gives the same double as `as f64` (several).
            let system = c.ready + c.held;
            debug_assert!(system | c.busy | c.orbit | (to - from) <= i64::MAX as u64);
            let dt = (to - from) as i64 as f64;
            c.area_ready += c.ready as i64 as f64 * dt;
            c.area_system += system as i64 as f64 * dt;
            c.area_busy += c.busy as i64 as f64 * dt;
            c.area_orbit += c.orbit as i64 as f64 * dt;
            if !c.joint.is_empty() {
                let qb = (system as usize).min(ORBIT_Q_MAX);
                let ob = (c.orbit as usize).min(ORBIT_O_MAX);
                c.joint[qb * (ORBIT_O_MAX + 1) + ob] += dt;
            }
            let bin = (system as usize).min(MAX_LENGTH_BIN);
            if bin >= c.length_time.len() {
                grow_length_time(&mut c.length_time, bin);
            }
            c.length_time[bin] += dt;
        }
        c.last_ns = now;
    }

    /// A visit of queue `q` (from entering the queue to the end of its
    /// attempt, or to leaving otherwise) that started at `start` ends now.
    /// Only visits that started in the window count, for Little's law.
    #[inline]
    pub fn end_visit(&mut self, q: usize, start: Nanos, now: Nanos, msg_in_window: bool) {
        if msg_in_window && self.in_window(start) {
            let qc = &mut self.queues[q];
            qc.visit_time_ns += (now - start) as u128;
            qc.visits_done += 1;
        }
    }

    #[inline]
    pub fn transition(&mut self, from: usize, to: usize) {
        self.transitions[from][to] += 1;
    }

    pub fn record_latency(&mut self, latency_ns: Nanos) {
        let v = latency_ns.clamp(1, LATENCY_HIGH_NS);
        self.latency_counts[latency_bucket(v)] += 1;
        let s = ns_to_secs(latency_ns);
        self.latency_sum_s += s;
        self.latency_max_ns = self.latency_max_ns.max(latency_ns);
        self.interval_latency_sum += s;
        self.interval_completions += 1;
    }

    /// Moves the latency counts into the histogram (at the end of a run;
    /// calling it again adds nothing).
    pub fn close_latency(&mut self) {
        for (bucket, n) in self.latency_counts.iter_mut().enumerate() {
            if *n > 0 {
                // The bucket's lowest value lands in the same bucket: the
                // histogram's counts, and so every quantile and its max,
                // are what recording each latency would have made them.
                // Values are within the histogram's bounds: this cannot fail.
                let low = latency_bucket_low(bucket);
                let _ = self.latency.record_n(low, *n);
                add_to_sparse(&mut self.latency_sparse, low, *n);
                *n = 0;
            }
        }
    }

    pub fn lost(&mut self, cause: &'static str) {
        self.lost += 1;
        *self.lost_by_cause.entry(cause).or_default() += 1;
    }

    pub fn duplicate(&mut self, cause: &'static str) {
        self.duplicates += 1;
        *self.duplicates_by_cause.entry(cause).or_default() += 1;
    }

    pub fn dead_letter(&mut self, reason: &'static str, origin: &'static str) {
        self.dead_lettered += 1;
        *self.dead_lettered_by_reason.entry(reason).or_default() += 1;
        *self.dead_lettered_by_origin.entry(origin).or_default() += 1;
    }

    /// Counts a completion's latency into the affected histogram when the
    /// message was touched (runs that track it only).
    #[inline]
    pub(super) fn record_affected(&mut self, latency_ns: Nanos, touched: bool) {
        if self.track_affected && touched {
            self.record_affected_slow(latency_ns);
        }
    }

    #[cold]
    #[inline(never)]
    fn record_affected_slow(&mut self, latency_ns: Nanos) {
        let v = latency_ns.clamp(1, LATENCY_HIGH_NS);
        if self.affected_counts.is_empty() {
            self.affected_counts = vec![0; self.latency_counts.len()];
        }
        self.affected_counts[latency_bucket(v)] += 1;
        self.affected_sum_s += ns_to_secs(latency_ns);
        self.affected_max_ns = self.affected_max_ns.max(latency_ns);
    }

    /// The touched messages' latencies as ascending (bucket's lowest
    /// value in ns, count) pairs, as [`Collector::latency_buckets`].
    pub fn affected_buckets(&self) -> Vec<(u64, u64)> {
        self.affected_counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(bucket, n)| (latency_bucket_low(bucket), *n))
            .collect()
    }

    /// Closes an interval of the time series.
    pub fn take_interval_latency(&mut self) -> (f64, u64) {
        let n = self.interval_completions;
        let mean = if n > 0 {
            self.interval_latency_sum / n as f64
        } else {
            f64::NAN
        };
        self.interval_latency_sum = 0.0;
        self.interval_completions = 0;
        (mean, n)
    }
}

/// The largest latency the histogram tracks (about 100 years).
const LATENCY_HIGH_NS: u64 = 3_200_000_000_000_000_000;

/// The latency histogram: 1 ns to 100 years at 3 significant digits
/// (buckets under 0.1% wide). With 2 digits a quantile sat at a bucket top
/// (+0.3-0.8%) and replications tied on the same bucket (issue 30).
fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_HIGH_NS, 3).expect("constant histogram bounds are valid")
}

/// hdrhistogram's layout for a lowest value of 1 and 3 significant
/// digits: 2048 sub-buckets per bucket (unit magnitude 0), of which the
/// upper 1024 are used above bucket 0. A test checks these against the
/// crate's `lowest_equivalent`.
const SUB_BUCKET_HALF_MAGNITUDE: u32 = 10;
const SUB_BUCKET_MASK: u64 = (1 << (SUB_BUCKET_HALF_MAGNITUDE + 1)) - 1;
const LEADING_ZERO_BASE: u32 = 64 - SUB_BUCKET_HALF_MAGNITUDE - 1;

/// The histogram's bucket (its counts index) for latency `v` >= 1 ns.
#[inline(always)]
fn latency_bucket(v: u64) -> usize {
    let bucket = LEADING_ZERO_BASE - (v | SUB_BUCKET_MASK).leading_zeros();
    let sub = (v >> bucket) as usize;
    ((bucket as usize) << SUB_BUCKET_HALF_MAGNITUDE) + sub
}

/// The lowest latency in bucket `i` (the inverse of [`latency_bucket`]).
fn latency_bucket_low(i: usize) -> u64 {
    let half = 1usize << SUB_BUCKET_HALF_MAGNITUDE;
    if i < 2 * half {
        i as u64
    } else {
        let bucket = (i >> SUB_BUCKET_HALF_MAGNITUDE) - 1;
        (((i & (half - 1)) + half) as u64) << bucket
    }
}

/// The midpoint of the histogram bucket whose lowest value is `low`: the
/// estimate of a quantile that falls in it (the bucket top overstates it
/// by up to the bucket width, 0.1%).
pub fn latency_bucket_mid(low: u64) -> u64 {
    let half = 1u64 << SUB_BUCKET_HALF_MAGNITUDE;
    if low < 2 * half {
        return low;
    }
    let width = 1u64 << (63 - low.leading_zeros() - SUB_BUCKET_HALF_MAGNITUDE);
    low + width / 2
}

impl Collector {
    /// The latency histogram as (bucket's lowest value in ns, count) pairs,
    /// ascending, empty buckets left out: what a replication keeps so that
    /// the replications' histograms can be merged for a quantile.
    pub fn latency_buckets(&self) -> &[(u64, u64)] {
        &self.latency_sparse
    }
}

/// Adds `n` latencies at bucket `low` to ascending sparse pairs (a bucket
/// closed a second time, after more latencies, is merged in place).
fn add_to_sparse(sparse: &mut Vec<(u64, u64)>, low: u64, n: u64) {
    match sparse.binary_search_by_key(&low, |b| b.0) {
        Ok(i) => sparse[i].1 += n,
        Err(i) => sparse.insert(i, (low, n)),
    }
}

#[cold]
#[inline(never)]
fn grow_length_time(v: &mut Vec<f64>, bin: usize) {
    v.resize(bin + 1, 0.0);
}

fn nan_from_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    use serde::Deserialize;
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Latencies across every magnitude the histogram tracks: all small
    /// values, both sides of every power of two, and pseudo-random ones.
    fn latencies() -> Vec<u64> {
        let mut v: Vec<u64> = (1..=5000).collect();
        for b in 1..62 {
            let p = 1u64 << b;
            v.extend([p - 1, p, p + 1, p + p / 3]);
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let magnitude = (x >> 58) as u32; // 0..63
            v.push(((x >> 3) >> (63 - magnitude.min(61))).max(1));
        }
        v.retain(|&l| l <= LATENCY_HIGH_NS);
        v
    }

    #[test]
    fn buckets_are_the_histograms_own() {
        let h = latency_histogram();
        for v in latencies() {
            let i = latency_bucket(v);
            assert!(i < h.distinct_values(), "{v}: bucket {i} out of range");
            assert_eq!(
                latency_bucket_low(i),
                h.lowest_equivalent(v),
                "latency {v} ns"
            );
            assert_eq!(latency_bucket(latency_bucket_low(i)), i, "latency {v} ns");
        }
    }

    #[test]
    fn counting_by_bucket_gives_the_same_histogram_as_recording() {
        let mut direct = latency_histogram();
        let mut c = Collector::new(0, u64::MAX, 1, 1);
        for v in latencies() {
            direct.record(v).unwrap();
            c.record_latency(v);
        }
        c.close_latency();
        let h = &c.latency;
        assert_eq!(h.len(), direct.len());
        assert_eq!(h.max(), direct.max());
        for q in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(h.value_at_quantile(q), direct.value_at_quantile(q), "q {q}");
        }
        let steps = |h: &Histogram<u64>| -> Vec<(u64, f64)> {
            h.iter_quantiles(4)
                .map(|s| (s.value_iterated_to(), s.quantile_iterated_to()))
                .collect()
        };
        assert_eq!(steps(h), steps(&direct));
        // Closing again adds nothing.
        c.close_latency();
        assert_eq!(c.latency.len(), direct.len());
        // The sparse buckets are the histogram's non-empty ones.
        let recorded: Vec<(u64, u64)> = direct
            .iter_recorded()
            .map(|v| {
                (
                    direct.lowest_equivalent(v.value_iterated_to()),
                    v.count_at_value(),
                )
            })
            .collect();
        assert_eq!(c.latency_buckets(), recorded.as_slice());
    }
}
