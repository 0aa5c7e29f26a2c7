//! The simulator: the broker, its producers and consumers, the network and
//! the faults, reacting to events from one [`EventQueue`].
//!
//! Two kinds of record:
//! - a [`Msg`] is a logical message, as the user counts it: what a producer
//!   published once, followed end to end through a pipeline. Its outcome
//!   (acked, dead-lettered, expired, lost, rejected, in flight) is decided
//!   when no copy of it is left.
//! - a [`Copy`] is one broker-level instance of it in one queue: producer
//!   retries, wire duplicates and pipeline stages make more than one.
//!
//! Both live in slabs whose slots are reused as soon as a message ends, so
//! memory follows the number of messages in the system, not the run length.
//!
//! Invariants are asserted where they can break (TigerStyle): a message's
//! reference count never goes negative, queue counts never go negative, and
//! conservation holds at the end of every run.

mod autoscale;
mod broker;
pub mod collect;
mod consumer;
mod event;
mod faults;
pub mod features;
mod lease;
pub mod limits;
mod log;
mod network;
mod operations;
mod ordering;
pub mod outcomes;
mod producer;
mod records;
mod saga;
mod settle;
mod side_effect;
mod slab;
mod state;
mod trace;

use crate::engine::EventQueue;
use crate::model::{
    Arrival, Confirm, FaultKind, FaultTiming, Link, Model, Overflow, RetryMode, SideEffect,
};
use crate::rng::{self, stream, unit, Domain, Stream};
use crate::sim::collect::{self as st, Collector, Sample};
use crate::strategy::breaker::CircuitBreaker;
use crate::strategy::budget::RetryBudget;
use crate::strategy::idempotency::WindowedIds;
use crate::table::Table;
use crate::time::Nanos;
use event::*;
use features::{Build, Core, Features, Full, Uses};
use network::Hop;
use producer::poisson_gap_ns;
use records::*;
pub use records::{FAULT_RECORDS_KEPT, MAX_REDRIVES, MIN_PUBLISH_RETRY_NS, RECONNECT_INTERVAL_NS};
use slab::{Slab, Slot};
use state::*;
use std::collections::VecDeque;
use std::marker::PhantomData;

/// One fault occurrence, for the timeline.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FaultRecord {
    pub kind: String,
    pub start: f64,
    pub end: f64,
    pub target: String,
}

/// Everything a run leaves behind for the statistics.
pub struct RunOutput {
    /// The lives of the traced messages, in time order.
    pub trace: Vec<TraceEvent>,
    pub stats: Collector,
    /// The first [`FAULT_RECORDS_KEPT`] fault occurrences.
    pub faults: Vec<FaultRecord>,
    /// Every fault occurrence, kept or not.
    pub faults_total: u64,
    pub end_ns: Nanos,
    /// The simulated time of the last event: below `end_ns` for a run
    /// stopped early (how far it got), and how a livelock shows (the
    /// clock stands still while events run on).
    pub clock_ns: Nanos,
    pub events: u64,
    pub messages_created: u64,
    pub stopped_early: bool,
}

pub use limits::Limits;

/// The simulator of one model, built with the optional parts `F` (see
/// [`features`]).
pub struct Sim<'m, F: Features> {
    m: &'m Model,
    /// `rng::domain_key(seed, d)` for every domain `d` (by its number).
    domain_keys: [u64; 10],
    /// What each producer is doing (its configuration: `m.producers`).
    prods: Table<ProducerState>,
    q: EventQueue<Ev>,
    msgs: Slab<Msg>,
    copies: Slab<Copy>,
    insts: Table<Inst>,
    queues: Table<QueueState>,
    groups: Table<GroupState>,
    group_insts: Vec<Vec<u32>>,
    broker_up: bool,
    broker_epoch: u32,
    broker_parked: Vec<u32>,
    completions_total: u64,
    lost_total: u64,
    group_down_since: Vec<Vec<Nanos>>,
    fault_rng: Vec<Stream>,
    fault_open: Vec<Vec<Nanos>>,
    pub stats: Collector,
    faults: Vec<FaultRecord>,
    faults_total: u64,
    trace_ids: Vec<u64>,
    trace: Vec<TraceEvent>,
    /// (message id, network serial) -> the copy number the trace shows.
    trace_copies: std::collections::BTreeMap<(u64, u32), u32>,
    next_msg_id: u64,
    /// Per key: messages created so far (the next one's sequence number).
    key_seq: Vec<u64>,
    /// Topics, the groups' view of them, and the members (one per instance).
    topics: Vec<log::TopicState>,
    group_logs: Vec<Option<log::GroupLog>>,
    members: Vec<log::Member>,
    /// Per group, per key: 1 + the highest sequence a topic group processed.
    log_order_max: Vec<Vec<u64>>,
    end_arrivals_ns: Nanos,
    end_ns: Nanos,
    /// Per copy slot: the delivery (its generation) whose lease was last
    /// extended, and the deadline the extension set.
    leases: Vec<(u32, Nanos)>,
    features: PhantomData<F>,
    /// Transactions: per message slot, the queues at which its side effect
    /// was written (a bit per queue); the queues whose consumers write
    /// after the ack; the latency of the ack just sent (`None`: it was lost).
    side_written: Vec<u64>,
    after_ack_queues: u64,
    last_ack_hop_ns: Option<Nanos>,
    /// Sagas: each queue's part (empty without sagas), and per message
    /// slot its transaction.
    saga_roles: Vec<saga::SagaRole>,
    saga_runs: Vec<Option<saga::SagaRun>>,
    /// Periodic faults: per fault, per unit, the occurrence that comes next.
    fault_occurrence: Vec<Vec<u64>>,
    /// (copy slot, message id) -> when the consumer that held it crashed
    /// (`outcomes`: the delay to its redelivery).
    crash_held_since: std::collections::HashMap<(u32, u64), Nanos>,
    /// One per autoscaled group (empty without autoscaling).
    scalers: Vec<autoscale::Scaler>,
}

/// Runs one replication of the model with the given seed.
pub fn run(m: &Model, seed: u64, warmup_ns: Nanos, limits: Limits) -> RunOutput {
    run_traced(m, seed, warmup_ns, limits, &[])
}

/// As [`run`], recording the life of the messages with these ids (message
/// ids count the messages created, from 0, in time order).
pub fn run_traced(
    m: &Model,
    seed: u64,
    warmup_ns: Nanos,
    limits: Limits,
    trace_ids: &[u64],
) -> RunOutput {
    run_with(Build::Auto, m, seed, warmup_ns, limits, trace_ids)
}

/// As [`run_traced`], on the given build: the [`Core`] build when `build`
/// allows it and the model uses none of what it leaves out, else [`Full`].
/// The results are the same on either (`tests/builds.rs`).
pub fn run_with(
    build: Build,
    m: &Model,
    seed: u64,
    warmup_ns: Nanos,
    limits: Limits,
    trace_ids: &[u64],
) -> RunOutput {
    if build.takes_core(&Uses::of(m, !trace_ids.is_empty())) {
        run_on::<Core>(m, seed, warmup_ns, limits, trace_ids)
    } else {
        run_on::<Full>(m, seed, warmup_ns, limits, trace_ids)
    }
}

fn run_on<F: Features>(
    m: &Model,
    seed: u64,
    warmup_ns: Nanos,
    limits: Limits,
    trace_ids: &[u64],
) -> RunOutput {
    let mut sim = Sim::<F>::new(m, seed, warmup_ns);
    sim.trace_ids = trace_ids.to_vec();
    sim.trace_ids.sort_unstable();
    assert!(
        F::supports(&Uses::of(m, !sim.trace_ids.is_empty())),
        "the simulator was built without a part the model uses"
    );
    let stopped = sim.run(limits);
    sim.finish(stopped)
}

/// One step in the life of a traced message.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceEvent {
    pub time_s: f64,
    pub message: u64,
    pub event: &'static str,
    pub queue: String,
    /// Which copy of the message (producer retries and wire duplicates make more).
    pub copy: u32,
    /// Processing time of an attempt, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl<'m, F: Features> Sim<'m, F> {
    pub fn new(m: &'m Model, seed: u64, warmup_ns: Nanos) -> Self {
        let (insts, group_insts) = instances(m);
        let queues = queue_states(m, seed);
        let groups = group_states(m);
        let stats = collector(m, warmup_ns);
        let mut sim = Sim {
            m,
            domain_keys: std::array::from_fn(|d| rng::combine(rng::mix64(seed), d as u64)),
            prods: producer_states(m, seed),
            q: EventQueue::new(),
            msgs: Slab::new(),
            copies: Slab::new(),
            insts: insts.into(),
            queues,
            groups,
            group_insts,
            broker_up: true,
            broker_epoch: 0,
            broker_parked: Vec::new(),
            completions_total: 0,
            lost_total: 0,
            group_down_since: m
                .groups
                .iter()
                .map(|g| vec![0; g.most_instances() as usize])
                .collect(),
            fault_rng: (0..m.faults.len())
                .map(|f| stream(seed, Domain::Fault, f as u64, 0))
                .collect(),
            fault_open: vec![Vec::new(); m.faults.len()],
            stats,
            faults: Vec::new(),
            trace_ids: Vec::new(),
            faults_total: 0,
            trace: Vec::new(),
            trace_copies: Default::default(),
            next_msg_id: 0,
            key_seq: vec![0; m.key_space as usize],
            topics: Vec::new(),
            group_logs: Vec::new(),
            members: Vec::new(),
            log_order_max: m
                .groups
                .iter()
                .map(|g| {
                    if g.log.is_some() {
                        vec![0; m.key_space as usize]
                    } else {
                        Vec::new()
                    }
                })
                .collect(),
            end_arrivals_ns: m.duration_ns,
            end_ns: m.duration_ns.saturating_add(m.drain_ns),
            leases: Vec::new(),
            features: PhantomData,
            side_written: Vec::new(),
            after_ack_queues: side_effect::after_ack_queues(m),
            last_ack_hop_ns: None,
            saga_roles: saga::saga_roles(m),
            saga_runs: Vec::new(),
            fault_occurrence: vec![Vec::new(); m.faults.len()],
            crash_held_since: std::collections::HashMap::new(),
            scalers: autoscale::scalers(m),
        };
        sim.stats.sagas = m.sagas.iter().map(|_| st::SagaStats::new()).collect();
        if !sim.scalers.is_empty() {
            sim.stats.instances = m
                .groups
                .iter()
                .map(|g| st::InstanceCounter::new(g.count))
                .collect();
        }
        sim.log_init();
        sim
    }

    fn start(&mut self) {
        for p in 0..self.m.producers.len() {
            if let Arrival::Poisson { rate_per_s } = self.m.producers[p].arrival {
                self.prods[p].gap_ns = poisson_gap_ns(&mut self.prods[p].rng, rate_per_s);
            }
            if let Some(t) = self.next_arrival(p, 0) {
                self.q.schedule(t, Ev::Arrival { producer: p as u32 });
            }
        }
        for qi in 0..self.m.queues.len() {
            for i in self.group_insts_of_queue(qi) {
                self.refill_credits(i);
            }
        }
        self.log_start();
        for (fi, f) in self.m.faults.iter().enumerate() {
            let units = self.fault_units(fi);
            self.fault_open[fi] = vec![0; units.len()];
            self.fault_occurrence[fi] = vec![0; units.len()];
            for (u, _) in units.iter().enumerate() {
                match &f.timing {
                    FaultTiming::Window { start_ns, .. } => self.q.schedule(
                        start_ns.saturating_add(u as Nanos * f.interval_ns),
                        Ev::FaultStart {
                            fault: fi as u32,
                            unit: u as u32,
                        },
                    ),
                    FaultTiming::Random { mtbf_ns, .. } => {
                        let up = self.exp_draw_fault(fi, *mtbf_ns);
                        self.q.schedule(
                            up,
                            Ev::FaultStart {
                                fault: fi as u32,
                                unit: u as u32,
                            },
                        )
                    }
                    FaultTiming::Periodic { .. } => self.schedule_occurrence(fi, u),
                }
            }
        }
        if F::FAULTS {
            self.autoscale_start();
        }
        self.q
            .schedule(self.m.sample_interval_ns.min(self.end_ns), Ev::Sample);
    }

    fn group_insts_of_queue(&self, qi: usize) -> Vec<u32> {
        // Interleave the instances of every group on the queue so that
        // credits are handed out round-robin across groups.
        let mut out = Vec::new();
        let groups: Vec<&Vec<u32>> = self
            .m
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.queue == qi)
            .map(|(gi, _)| &self.group_insts[gi])
            .collect();
        let longest = groups.iter().map(|g| g.len()).max().unwrap_or(0);
        for k in 0..longest {
            for g in &groups {
                if let Some(&i) = g.get(k) {
                    out.push(i);
                }
            }
        }
        out
    }

    /// Whether this run records the lives of some messages.
    #[inline(always)]
    fn tracing(&self) -> bool {
        F::TRACE && !self.trace_ids.is_empty()
    }

    /// The stream for `(seed, domain, a, b)` (as `rng::stream`).
    #[inline]
    fn stream(&self, domain: Domain, a: u64, b: u64) -> Stream {
        rng::stream_in(self.domain_keys[domain as usize], a, b)
    }

    fn exp_draw_fault(&mut self, fi: usize, mean_ns: Nanos) -> Nanos {
        let u = rng::unit_open0(&mut self.fault_rng[fi]);
        self.q
            .now()
            .saturating_add((-(mean_ns as f64) * u.ln()) as Nanos)
    }

    /// Runs to the end. Returns true if a limit stopped it early.
    pub fn run(&mut self, limits: Limits) -> bool {
        self.start();
        let max_events = limits.max_events.unwrap_or(u64::MAX);
        let mut n: u64 = 0;
        while let Some(t) = self.q.peek_time() {
            if t > self.end_ns {
                break;
            }
            if t >= self.end_arrivals_ns && self.msgs.len() == 0 {
                break;
            }
            if n == max_events {
                limits::note_stop(limits::StopReason::MaxEvents);
                return true;
            }
            n += 1;
            // The wall clock, Ctrl-C and the memory ceiling are looked at
            // every 4096 events only.
            if n & 0xFFF == 0 && limits::must_stop(&limits, n) {
                return true;
            }
            let Some((_, ev)) = self.q.pop() else { break };
            self.handle(ev);
        }
        false
    }

    #[inline(always)]
    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Arrival { producer } => self.on_arrival(producer as usize),
            Ev::PublishArrive {
                msg,
                publish,
                queue,
                serial,
                persistent,
                from_producer,
            } => self.on_publish_arrive(
                msg,
                publish,
                queue as usize,
                serial,
                persistent,
                from_producer,
            ),
            Ev::Confirm { msg, publish, ok } => self.on_confirm(msg, publish, ok),
            Ev::ConfirmTimeout { msg, publish } => self.on_confirm_timeout(msg, publish),
            Ev::ClientTimeout { msg, publish } => self.on_client_timeout(msg, publish),
            Ev::ProducerRetry { msg } => self.on_producer_retry(msg),
            Ev::Deliver {
                copy,
                delivery,
                inst,
                epoch,
            } => self.on_deliver(copy, delivery, inst, epoch),
            Ev::ServiceDone {
                inst,
                epoch,
                copy,
                delivery,
                failed,
                nonretryable,
                work_ns,
                counted,
            } => self.on_service_done(
                inst,
                epoch,
                copy,
                delivery,
                failed,
                nonretryable,
                work_ns,
                counted,
            ),
            Ev::HandlerRetry {
                inst,
                epoch,
                copy,
                delivery,
            } => {
                if self.insts[inst as usize].epoch == epoch && self.insts[inst as usize].up {
                    if F::FAULTS && self.insts[inst as usize].paused_until_ns > self.q.now() {
                        // Asleep through a pause: it wakes when the pause ends.
                        let until = self.insts[inst as usize].paused_until_ns;
                        self.q.schedule(
                            until,
                            Ev::HandlerRetry {
                                inst,
                                epoch,
                                copy,
                                delivery,
                            },
                        );
                    } else {
                        self.begin_attempt(inst, copy, delivery);
                    }
                }
            }
            Ev::Ack {
                copy,
                delivery,
                kind,
                delay_ns,
                inst,
                epoch,
            } => self.on_ack(copy, delivery, AckKind::decode(kind, delay_ns), inst, epoch),
            Ev::AckDeadline { copy, gen } => self.on_ack_deadline(copy, gen),
            Ev::RetryDue { copy, gen } => self.on_retry_due(copy, gen),
            Ev::TtlExpire { copy, gen } => self.on_ttl_expire(copy, gen),
            Ev::SendConfirm {
                msg,
                publish,
                broker_epoch,
            } => {
                self.msgs[msg].live -= 1;
                if broker_epoch == self.broker_epoch {
                    self.send_confirm(msg, publish, true);
                }
                self.check_finish(msg);
            }
            Ev::FaultStart { fault, unit } => self.on_fault_start(fault as usize, unit as usize),
            Ev::FaultEnd { fault, unit } => self.on_fault_end(fault as usize, unit as usize),
            Ev::Sample => self.on_sample(),
            Ev::Redrive { queue } => self.on_redrive(queue as usize),
            Ev::ReseqTimeout {
                group,
                key,
                seq,
                hold,
            } => self.reseq_release(group as usize, (key, seq, hold), true),
            Ev::LogSend {
                msg,
                part,
                attempt,
                written,
            } => self.log_send(msg, part as usize, attempt, written),
            Ev::LogBufferExpiry { producer, seq } => self.on_buffer_expiry(producer as usize, seq),
            Ev::LogAppend {
                msg,
                topic,
                part,
                duplicate,
            } => self.on_log_append(msg, topic as usize, part as usize, duplicate),
            Ev::LogDone {
                inst,
                epoch,
                failed,
                nonretryable,
                work_ns,
            } => self.on_log_done(inst, epoch, failed, nonretryable, work_ns),
            Ev::LogRetryWait { inst, epoch } => self.on_log_retry_wait(inst, epoch),
            Ev::LogAutoCommit { inst, epoch } => self.on_auto_commit(inst, epoch),
            Ev::LogTxnCommit { inst, epoch } => {
                if F::TRANSACTIONS {
                    self.on_txn_commit(inst, epoch)
                }
            }
            Ev::LogPollTimeout { inst, epoch, poll } => self.on_poll_timeout(inst, epoch, poll),
            Ev::LogSessionTimeout { inst, epoch } => self.on_session_timeout(inst, epoch),
            Ev::LogPauseCheck { inst, epoch } => {
                if F::FAULTS {
                    self.on_pause_check(inst, epoch)
                }
            }
            Ev::LogRetentionCheck { topic } => self.on_retention_check(topic as usize),
            Ev::LogRebalanceDone { group, generation } => {
                self.on_rebalance_done(group as usize, generation)
            }
            Ev::LogRetryDue { group } => self.on_retry_due_log(group as usize),
            // Only the full build schedules these (`F::LEASES`).
            Ev::LeaseTick {
                inst,
                epoch,
                copy,
                delivery,
                received_ns,
            } => {
                if F::LEASES {
                    self.on_lease_tick(inst, epoch, copy, delivery, received_ns)
                }
            }
            Ev::LeaseExtend {
                copy,
                delivery,
                inst,
                epoch,
                by_ns,
            } => {
                if F::LEASES {
                    self.on_lease_extend(copy, delivery, inst, epoch, by_ns)
                }
            }
            // Only an autoscaled model schedules these, on the full build.
            Ev::AutoscalePoll { group } => {
                if F::FAULTS {
                    self.on_autoscale_poll(group as usize)
                }
            }
            Ev::InstanceReady { inst } => {
                if F::FAULTS {
                    self.on_instance_ready(inst)
                }
            }
            Ev::CrashReturn { copy, gen } => {
                if F::LEASES {
                    self.on_crash_return(copy, gen)
                }
            }
            Ev::SideEffectWrite {
                msg,
                queue,
                inst,
                epoch,
            } => {
                if F::TRANSACTIONS {
                    self.on_side_effect_write(msg, queue as usize, inst, epoch)
                }
            }
        }
    }
}

impl<'m, F: Features> Sim<'m, F> {
    // --------------------------------------------------------------- sampling

    fn on_sample(&mut self) {
        let now = self.q.now();
        let (lat, n) = self.stats.take_interval_latency();
        for qi in 0..self.queues.len() {
            let instances = self.instances_reading(qi);
            let s = Sample {
                time_s: crate::time::ns_to_secs(now),
                queue: qi,
                ready: self.queues[qi].ready_len,
                in_flight: self.stats.queues[qi].held,
                waiting_retry: self.queues[qi].delayed,
                dead_lettered: self.queues[qi].dead_lettered_total,
                acked: self.completions_total,
                lost: self.lost_total,
                latency_mean_s: lat,
                completions: n,
                instances,
            };
            self.stats.samples.push(s);
        }
        self.log_sample(crate::time::ns_to_secs(now), lat);
        let next = now.saturating_add(self.m.sample_interval_ns);
        if next <= self.end_ns {
            self.q.schedule(next, Ev::Sample);
        }
    }

    /// The consumer instances of the groups reading queue `qi` now.
    fn instances_reading(&self, qi: usize) -> u32 {
        let autoscaled = !self.scalers.is_empty();
        (0..self.m.groups.len())
            .filter(|&g| self.m.groups[g].queue == qi)
            .map(|g| match autoscaled {
                true => self.stats.instances[g].now,
                false => self.m.groups[g].count,
            })
            .sum()
    }

    /// Closes the books: messages still alive are in flight; the queue areas
    /// are brought up to the end of the window; conservation is checked.
    pub fn finish(mut self, stopped_early: bool) -> RunOutput {
        self.stats.close_latency();
        let now = self.q.now();
        let end = now.max(self.end_arrivals_ns.min(self.end_ns));
        for qi in 0..self.queues.len() {
            self.stats.advance(qi, end);
            let open: Vec<Nanos> = self.queues[qi]
                .lanes
                .iter()
                .filter(|l| l.n_waiting > 0)
                .map(|l| l.blocked_since_ns)
                .collect();
            for since in open {
                self.add_key_blocked(qi, since, end);
            }
        }
        self.log_finish(end);
        // Instances still down: their downtime counts up to the window end
        // (not those an autoscaler removed or is starting).
        for g in 0..self.m.groups.len() {
            for (k, &i) in self.group_insts[g].clone().iter().enumerate() {
                if !self.insts[i as usize].up && self.may_restart(i) {
                    let since = self.group_down_since[g][k].max(self.stats.window_start);
                    let to = end.min(self.stats.window_end);
                    if to > since {
                        self.stats.group_up_ns[g].0 += (to - since) as u128;
                    }
                }
            }
            let span = self
                .stats
                .window_end
                .min(end)
                .saturating_sub(self.stats.window_start) as u128;
            self.stats.group_up_ns[g].1 = match self.stats.instances.get_mut(g) {
                // An autoscaled group: the instance-time it had.
                Some(n) if self.m.groups[g].autoscale.is_some() => {
                    n.advance(self.stats.window_start, self.stats.window_end, end);
                    n.area_ns
                }
                _ => span * self.m.groups[g].count as u128,
            };
        }
        let alive: Vec<Msg> = self
            .msgs
            .iter()
            .filter(|(_, m)| m.in_window)
            .map(|(_, m)| m.clone())
            .collect();
        for m in &alive {
            Self::classify(&mut self.stats, m, true);
        }
        let s = &self.stats;
        let accounted = s.rejected + s.acked + s.dead_lettered + s.lost + s.expired + s.in_flight;
        assert_eq!(
            s.published, accounted,
            "conservation broken: published {} != rejected {} + acked {} + dead-lettered {} + lost {} + expired {} + in flight {}",
            s.published, s.rejected, s.acked, s.dead_lettered, s.lost, s.expired, s.in_flight
        );
        RunOutput {
            events: self.q.processed(),
            messages_created: self.next_msg_id,
            end_ns: end,
            clock_ns: now,
            faults: std::mem::take(&mut self.faults),
            faults_total: self.faults_total,
            trace: std::mem::take(&mut self.trace),
            stats: self.stats,
            stopped_early,
        }
    }
}

/// Every consumer instance, and each group's instance ids.
fn instances(m: &Model) -> (Vec<Inst>, Vec<Vec<u32>>) {
    let mut insts = Vec::new();
    let mut group_insts = Vec::new();
    for (g, gm) in m.groups.iter().enumerate() {
        let mut ids = Vec::new();
        // An autoscaled group has every instance it may start; those
        // past `count` wait, down, for a scale-out.
        for k in 0..gm.most_instances() {
            ids.push(insts.len() as u32);
            insts.push(Inst {
                group: g as u32,
                up: k < gm.count,
                epoch: 0,
                partitioned: false,
                incoming: Vec::new(),
                buffer: VecDeque::new(),
                working: Vec::new(),
                credit_epoch: 0,
                push_all: gm.push_all,
                busy: 0,
                held: 0,
                acks_on_wire: 0,
                delays_held: 0,
                up_since_ns: 0,
                breaker: gm.breaker.as_ref().map(CircuitBreaker::new),
                draining: false,
                paused_until_ns: 0,
                frozen: Vec::new(),
            });
        }
        group_insts.push(ids);
    }
    (insts, group_insts)
}

/// Each queue's state at the start: empty, with its fsync phase drawn.
fn queue_states(m: &Model, seed: u64) -> crate::table::Table<QueueState> {
    m.queues
        .iter()
        .enumerate()
        .map(|(qi, qm)| QueueState {
            dlq: VecDeque::new(),
            redrive_ticking: false,
            fsync_phase_ns: (unit(&mut stream(seed, Domain::Component, 0xF5, qi as u64))
                * qm.fsync_ns as f64) as Nanos,
            ready: VecDeque::new(),
            ready_len: 0,
            credits: VecDeque::new(),
            delayed: 0,
            dead_lettered_total: 0,
            dedup: qm.dedup_window_ns.map(WindowedIds::new),
            lanes: if qm.fifo_by_key {
                vec![
                    Lane {
                        active: NONE,
                        ..Lane::default()
                    };
                    m.key_space as usize
                ]
            } else {
                Vec::new()
            },
            order_max: vec![0; m.key_space as usize],
        })
        .collect()
}

/// Each consumer group's shared state at the start.
fn group_states(m: &Model) -> crate::table::Table<GroupState> {
    m.groups
        .iter()
        .map(|g| GroupState {
            resequence: g.resequence.map(|(max_held, max_wait_ns)| Reseq {
                max_held,
                max_wait_ns,
                next: vec![0; m.key_space as usize],
                held: Default::default(),
                order: VecDeque::new(),
                holds: 0,
            }),
            outage_failure: 0.0,
            slowdown: 1.0,
            budget: g.budget.as_ref().map(|b| b.build()),
            idempotency: g.idempotency_ns.map(WindowedIds::new),
        })
        .collect()
}

/// The counters of a run, with the retry-orbit grid of each queue whose
/// producers retry.
fn collector(m: &Model, warmup_ns: Nanos) -> Collector {
    let mut stats = Collector::new(warmup_ns, m.duration_ns, m.queues.len(), m.groups.len());
    stats.track_affected = outcomes::tracks_affected(m);
    for p in &m.producers {
        if p.retry.is_some() && stats.queues[p.queue].joint.is_empty() {
            stats.queues[p.queue].joint = vec![0.0; (st::ORBIT_Q_MAX + 1) * (st::ORBIT_O_MAX + 1)];
        }
    }
    stats
}

/// Each producer's state at the start, with its arrival stream.
fn producer_states(m: &Model, seed: u64) -> crate::table::Table<ProducerState> {
    m.producers
        .iter()
        .enumerate()
        .map(|(p, pm)| ProducerState {
            up: true,
            partitioned: false,
            epoch: 0,
            seq: 0,
            key: rng::combine(0x6d73_6773, p as u64),
            rng: stream(seed, Domain::Arrival, p as u64, 0),
            gap_ns: 0,
            budget: pm.budget.as_ref().map(|b| b.build()),
            rr: 0,
            rate_factor: 1.0,
            log_buffer: VecDeque::new(),
            log_buffer_seq: 0,
            stopping: false,
        })
        .collect()
}
