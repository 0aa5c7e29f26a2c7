//! Partitioned logs (Kafka topics) and the consumer groups that read them.
//!
//! A topic is a set of append-only partitions. Consumers do not ack
//! messages: each member of a group owns some partitions, polls records
//! from its position, processes them one after the other, and commits
//! offsets. What a crash or a rebalance costs follows from where the commit
//! stood: records processed but not committed are read again by the next
//! owner (duplicates); records committed but not processed are never read
//! again (loss).
//!
//! The model follows the Java client and Spring Kafka where they are the
//! common case, and says where it simplifies:
//! - a poll returns up to `max_poll_records` records from the member's
//!   partitions (round-robin from its position); processing is sequential;
//! - `commit = "after-processing"` commits the processed position after each
//!   poll's records (Spring's `AckMode.BATCH`); `"before-processing"` commits
//!   the fetched position right after the poll; `"auto"` commits the fetched
//!   position on a timer every `auto_commit_interval` (librdkafka's
//!   background auto-commit with offsets stored at delivery): ahead of
//!   processing (loss on a crash) or behind it (re-reads); `"auto-in-poll"`
//!   is the Java client's auto-commit: the first poll after each
//!   `auto_commit_interval` commits what the previous poll returned (all
//!   processed by then: never ahead of processing);
//! - group membership and rebalances (eager range, cooperative sticky,
//!   the consumer protocol, static members) are in `group`;
//! - retention deletes whole closed segments; a member whose position was
//!   deleted restarts where `auto_offset_reset` says;
//! - a crashed member is noticed `session_timeout` after the crash; a member
//!   that does not poll within `max_poll_interval` leaves the group, finishes
//!   its records anyway, and its commit fails (it then rejoins);
//! - a failed record is retried in place (`retry_mode = "in-handler"`, the
//!   partition stalls), forwarded to retry topics (`"retry-queues"`, order
//!   lost), or given up (`"none"`); then it goes to the dead-letter topic, or
//!   is skipped when the topic has `dead_letter = false`;
//! - producers (buffer, retries, `delivery_timeout`, idempotence, topics
//!   down with an unreplicated broker) are in `produce`.

mod group;
mod produce;
mod retention;
mod transactional;
pub(super) use produce::Buffered;
use transactional::{Transaction, TxnMark};

use super::*;
use crate::model::CommitMode;
use std::collections::BTreeMap;

/// One record in a partition.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rec {
    msg: u32,
    /// Written again by a non-idempotent producer's retry.
    duplicate: bool,
    /// Produced again by an upstream group (`publish_to`) that processed
    /// its message again: why (`Cause::None` for the first write).
    rewrite: Cause,
    /// Where the transaction that produced it stands (`Plain`: none).
    txn: TxnMark,
}

/// A segment of a partition's log: the records from `base` to the next
/// segment's base. Retention deletes whole closed segments.
#[derive(Clone, Copy, Debug)]
struct Segment {
    base: u64,
    /// When its first record was appended (`segment.ms` rolls on it).
    first_append_ns: Nanos,
    /// When its newest record was appended (retention judges on it).
    newest_ns: Nanos,
}

pub(super) struct Partition {
    /// Offset of `records[0]`: records below it are gone from memory,
    /// deleted by retention or no longer needed by any group.
    base: u64,
    records: VecDeque<Rec>,
    /// The log's segments, oldest first; the last one is the active one.
    segments: VecDeque<Segment>,
    /// First offset in this partition of each open transaction that wrote
    /// here: the last stable offset is the lowest (read_committed).
    open_first: Vec<u64>,
}

impl Partition {
    fn end(&self) -> u64 {
        self.base + self.records.len() as u64
    }
    /// The log start offset: the oldest offset retention has not deleted.
    fn log_start(&self) -> u64 {
        self.segments.front().map_or(self.end(), |s| s.base)
    }
    fn get(&self, offset: u64) -> Option<Rec> {
        offset
            .checked_sub(self.base)
            .and_then(|i| self.records.get(i as usize).copied())
    }
}

pub(super) struct TopicState {
    parts: Vec<Partition>,
    /// Groups reading the topic.
    groups: Vec<usize>,
}

/// A group's view of one partition.
#[derive(Clone, Debug)]
struct GroupPart {
    committed: u64,
    /// 1 + the highest offset the group has processed.
    processed_hw: u64,
    owner: u32,
    /// Incremental rebalances: the owner the new assignment gives it.
    target: u32,
    /// Why the records before `processed_hw` may be read again.
    reread_cause: Cause,
}

/// A retry-topic record waiting for its due time: (message, attempts made, last delay).
type RetryRec = (u32, u32, Nanos);

pub(super) struct GroupLog {
    topic: usize,
    parts: Vec<GroupPart>,
    generation: u32,
    rebalancing: bool,
    rebalance_start_ns: Nanos,
    /// Retry-topic records by (due time, sequence).
    retry: BTreeMap<(Nanos, u64), RetryRec>,
    retry_seq: u64,
    retry_wake_ns: Nanos,
}

/// A fetched record: (partition, offset, the record).
type Fetched = (u32, u64, Rec);

/// What a member is processing.
#[derive(Clone, Copy, Debug)]
struct Current {
    /// Partition and offset, or `NONE` for a retry-topic record.
    part: u32,
    offset: u64,
    msg: u32,
    /// Attempts made on it in this member (in-handler retries).
    attempts: u32,
    first_attempt_ns: Nanos,
    prev_delay_ns: Nanos,
    /// A second copy written by a non-idempotent producer's retry.
    duplicate: bool,
    /// Produced again upstream: why (`Rec::rewrite`).
    rewrite: Cause,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Member {
    in_group: bool,
    generation: u32,
    /// Position per partition of the topic: the next offset to fetch.
    pos: Vec<u64>,
    /// Processed position per partition: the next offset to commit.
    done: Vec<u64>,
    owned: Vec<u32>,
    rr: usize,
    /// Records fetched by the last poll, not processed yet.
    /// (partition, offset, message): a fetched record is in the member's
    /// memory, so it holds its message even if retention deletes it.
    batch: VecDeque<Fetched>,
    /// Retry-topic records fetched by the last poll.
    retry_batch: VecDeque<RetryRec>,
    current: Option<Current>,
    busy: bool,
    idle: bool,
    polls: u64,
    /// A timer commit is scheduled.
    timer: bool,
    /// `auto-in-poll`: the first poll from this time commits.
    auto_commit_due_ns: Nanos,
    /// When the coordinator will give up on the member's session, if it
    /// crashed while in the group.
    session_expiry_ns: Nanos,
    /// Restarted as a new member within its old session: the coordinator
    /// counts the old member id until then (0: none).
    old_session_until_ns: Nanos,
    /// When the stop-the-world pause that began last, if it still runs,
    /// takes the member out of the group (`Ev::LogPauseCheck`).
    pause_deadline_ns: Nanos,
    /// Why it leaves then: `SessionTimeout`, or `PollTimeout` (idle, with
    /// the shorter poll interval).
    pause_cause: Cause,
    /// `commit = "transactional"`: the open transaction.
    txn: Transaction,
}

impl<'m, F: Features> Sim<'m, F> {
    pub(super) fn log_init(&mut self) {
        let m = self.m;
        self.topics = m
            .topics
            .iter()
            .enumerate()
            .map(|(ti, t)| TopicState {
                parts: (0..t.partitions)
                    .map(|_| Partition {
                        base: 0,
                        records: VecDeque::new(),
                        segments: VecDeque::new(),
                        open_first: Vec::new(),
                    })
                    .collect(),
                groups: (0..m.groups.len())
                    .filter(|&g| m.groups[g].log.as_ref().is_some_and(|l| l.topic == ti))
                    .collect(),
            })
            .collect();
        self.group_logs = m
            .groups
            .iter()
            .map(|g| {
                g.log.as_ref().map(|l| GroupLog {
                    topic: l.topic,
                    parts: vec![
                        GroupPart {
                            committed: 0,
                            processed_hw: 0,
                            owner: NONE,
                            target: NONE,
                            reread_cause: Cause::Rebalance,
                        };
                        m.topics[l.topic].partitions as usize
                    ],
                    generation: 0,
                    rebalancing: false,
                    rebalance_start_ns: 0,
                    retry: BTreeMap::new(),
                    retry_seq: 0,
                    retry_wake_ns: Nanos::MAX,
                })
            })
            .collect();
        self.members = self
            .insts
            .iter()
            .map(|inst| match &m.groups[inst.group as usize].log {
                Some(l) => {
                    let n = m.topics[l.topic].partitions as usize;
                    Member {
                        pos: vec![0; n],
                        done: vec![0; n],
                        ..Member::default()
                    }
                }
                None => Member::default(),
            })
            .collect();
        for (g, gm) in m.groups.iter().enumerate() {
            if let Some(l) = &gm.log {
                self.stats
                    .logs
                    .resize_with(m.groups.len(), Default::default);
                self.stats.logs[g] = st::LogGroupStats::new(m.topics[l.topic].partitions as usize);
            }
        }
    }

    /// At time 0 every member joins and the first assignment is made at once.
    pub(super) fn log_start(&mut self) {
        for (t, tm) in self.m.topics.iter().enumerate() {
            self.q.schedule(
                tm.retention_check_ns,
                Ev::LogRetentionCheck { topic: t as u32 },
            );
        }
        for g in 0..self.m.groups.len() {
            if self.group_logs[g].is_none() {
                continue;
            }
            for &i in &self.group_insts[g] {
                self.members[i as usize].in_group = true;
            }
            self.assign(g);
            for i in self.group_insts[g].clone() {
                self.schedule_auto_commit(i);
            }
        }
    }

    fn window(&self) -> (Nanos, Nanos) {
        (self.stats.window_start, self.stats.window_end)
    }

    fn is_log_group(&self, g: usize) -> bool {
        self.group_logs[g].is_some()
    }

    pub(super) fn is_log_inst(&self, i: u32) -> bool {
        self.is_log_group(self.insts[i as usize].group as usize)
    }

    fn update_lag(&mut self, g: usize, p: usize) {
        let now = self.q.now();
        let window = self.window();
        let gl = self.group_logs[g].as_ref().expect("log group");
        let lag = self.topics[gl.topic].parts[p].end() - gl.parts[p].committed;
        self.stats.logs[g].set_lag(window, now, p, lag);
    }

    // --------------------------------------------------------------- producing

    /// The record is in the log (the hold of the send that wrote it passes
    /// to the record). `duplicate`: a non-idempotent producer's retry wrote
    /// it again.
    pub(super) fn on_log_append(&mut self, mi: u32, topic: usize, part: usize, duplicate: bool) {
        let rec = Rec {
            msg: mi,
            duplicate,
            rewrite: Cause::None,
            txn: TxnMark::Plain,
        };
        self.log_append(topic, part, rec);
    }

    /// Appends `rec` to partition `part` of `topic`; returns its offset.
    fn log_append(&mut self, topic: usize, part: usize, rec: Rec) -> u64 {
        let mi = rec.msg;
        let now = self.q.now();
        let tm = &self.m.topics[topic];
        let pt = &mut self.topics[topic].parts[part];
        let end = pt.end();
        let roll = pt.segments.back().is_none_or(|s| {
            end - s.base >= tm.segment_records || now - s.first_append_ns > tm.segment_ns
        });
        if roll {
            pt.segments.push_back(Segment {
                base: end,
                first_append_ns: now,
                newest_ns: now,
            });
        }
        pt.segments.back_mut().expect("an active segment").newest_ns = now;
        pt.records.push_back(rec);
        let offset = pt.end() - 1;
        let name = &self.m.topics[topic].name;
        self.trace_msg(
            mi,
            "appended",
            || format!("{name}[{part}]"),
            || format!("offset {offset}"),
            None,
        );
        for g in self.topics[topic].groups.clone() {
            self.update_lag(g, part);
        }
        self.wake_owners(topic, part);
        offset
    }

    /// The idle owners of partition `part` of `topic` poll: it has records.
    fn wake_owners(&mut self, topic: usize, part: usize) {
        for g in self.topics[topic].groups.clone() {
            let owner = self.group_logs[g].as_ref().expect("log group").parts[part].owner;
            if owner != NONE && self.members[owner as usize].idle {
                self.members[owner as usize].idle = false;
                self.log_step(owner);
            }
        }
    }

    // ------------------------------------------------------------- the member

    /// The member's poll loop: process the next fetched record, or commit
    /// and poll again.
    pub(super) fn log_step(&mut self, i: u32) {
        if !self.insts[i as usize].up || self.members[i as usize].busy || self.paused(i) {
            return;
        }
        let g = self.insts[i as usize].group as usize;
        let lm = self.m.groups[g].log.as_ref().expect("log group");
        let commit_mode = lm.commit;
        if self.members[i as usize].current.is_some() {
            self.log_attempt(i);
            return;
        }
        let rebalancing = self.group_logs[g].as_ref().expect("log group").rebalancing;
        if !self.members[i as usize].in_group {
            // Evicted (poll timeout): it finishes its batch, its commit
            // fails, and its next poll joins the group again.
            if self.next_record(i) {
                return;
            }
            if matches!(
                commit_mode,
                CommitMode::AfterProcessing | CommitMode::Transactional
            ) {
                self.commit(i, false);
            }
            self.count_uncommitted(g, i);
            self.members[i as usize].owned.clear();
            self.members[i as usize].in_group = true;
            self.rebalance(g);
            return;
        }
        if self.next_record(i) {
            return;
        }
        if rebalancing {
            if !self.members[i as usize].owned.is_empty() {
                self.revoke(i);
            }
            let gl = self.group_logs[g].as_ref().expect("log group");
            let generation = gl.generation;
            self.on_rebalance_done(g, generation);
            // Eager: the member waits for the assignment. Incremental: it
            // goes on with what it keeps, unless the rebalance just ended
            // (and the hand-over already set it going).
            let gl = self.group_logs[g].as_ref().expect("log group");
            if !self.incremental(g) || !gl.rebalancing {
                return;
            }
        }
        // The poll's records are done.
        if commit_mode == CommitMode::AfterProcessing {
            self.commit(i, false);
        }
        if commit_mode == CommitMode::AutoInPoll
            && self.q.now() >= self.members[i as usize].auto_commit_due_ns
        {
            // The Java client: poll() commits what the previous poll
            // returned, all of it processed by now.
            self.commit(i, true);
            self.schedule_auto_commit(i);
        }
        self.poll(i);
    }

    /// Starts the next fetched record; false when the batch is done.
    fn next_record(&mut self, i: u32) -> bool {
        let now = self.q.now();
        let g = self.insts[i as usize].group as usize;
        if let Some((mi, attempts, prev)) = self.members[i as usize].retry_batch.pop_front() {
            self.members[i as usize].current = Some(Current {
                part: NONE,
                offset: 0,
                msg: mi,
                attempts,
                first_attempt_ns: now,
                prev_delay_ns: prev,
                duplicate: false,
                rewrite: Cause::None,
            });
            self.log_attempt(i);
            return true;
        }
        while let Some((p, o, rec)) = self.members[i as usize].batch.pop_front() {
            let mi = rec.msg;
            if F::TRANSACTIONS && rec.txn == TxnMark::Aborted && self.reads_committed(g) {
                self.skip_aborted(i, g, p, o, mi);
                continue;
            }
            if self.msgs[mi].in_window {
                self.stats.add_delivered(1);
                if o < self.group_logs[g].as_ref().expect("log group").parts[p as usize]
                    .processed_hw
                {
                    self.stats.add_redelivered(1);
                }
            }
            self.members[i as usize].current = Some(Current {
                part: p,
                offset: o,
                msg: mi,
                attempts: 0,
                first_attempt_ns: now,
                prev_delay_ns: 0,
                duplicate: rec.duplicate,
                rewrite: rec.rewrite,
            });
            self.log_attempt(i);
            return true;
        }
        false
    }

    /// Fetches up to `max_poll_records`: due retry-topic records first, then
    /// the owned partitions round-robin from the member's position.
    fn poll(&mut self, i: u32) {
        let now = self.q.now();
        let g = self.insts[i as usize].group as usize;
        let lm = self.m.groups[g].log.as_ref().expect("log group");
        let (max, commit_mode, poll_ns) = (
            lm.max_poll_records as usize,
            lm.commit,
            lm.max_poll_interval_ns,
        );
        let topic = self.group_logs[g].as_ref().expect("log group").topic;
        let mut n = 0;
        // Retry topics.
        loop {
            let gl = self.group_logs[g].as_mut().expect("log group");
            if n >= max {
                break;
            }
            let Some((&k, _)) = gl.retry.iter().next() else {
                break;
            };
            if k.0 > now {
                break;
            }
            let r = gl.retry.remove(&k).expect("due retry record");
            self.members[i as usize].retry_batch.push_back(r);
            n += 1;
        }
        // The partitions are down with the only broker holding them.
        let owned = if self.topic_down(topic) {
            Vec::new()
        } else {
            self.members[i as usize].owned.clone()
        };
        let k = owned.len();
        let start = self.members[i as usize].rr;
        for j in 0..k {
            if n >= max {
                break;
            }
            let p = owned[(start + j) % k] as usize;
            if self.members[i as usize].pos[p] < self.topics[topic].parts[p].log_start() {
                self.offset_reset(i, g, p);
            }
            let pt = &self.topics[topic].parts[p];
            let mb = &mut self.members[i as usize];
            mb.pos[p] = mb.pos[p].max(pt.base);
            let end = if F::TRANSACTIONS && lm.read_committed {
                pt.stable_end()
            } else {
                pt.end()
            };
            while n < max && mb.pos[p] < end {
                let rec = pt.get(mb.pos[p]).expect("a record inside the log");
                mb.batch.push_back((p as u32, mb.pos[p], rec));
                self.msgs[rec.msg].live += 1;
                mb.pos[p] += 1;
                n += 1;
            }
        }
        if k > 0 {
            self.members[i as usize].rr = (start + 1) % k;
        }
        let mb = &mut self.members[i as usize];
        mb.polls += 1;
        let polls = mb.polls;
        if n == 0 {
            // Nothing to read: wait for an append or a due retry.
            mb.idle = true;
            self.wake_for_retry(g);
            return;
        }
        let epoch = self.insts[i as usize].epoch;
        self.q.schedule_in(
            poll_ns,
            Ev::LogPollTimeout {
                inst: i,
                epoch,
                poll: polls,
            },
        );
        if commit_mode == CommitMode::BeforeProcessing {
            self.commit(i, true);
        }
        self.log_step(i);
    }

    /// Schedules a wake-up of the group's idle members at the next retry
    /// due time. Records already due wait for the next poll of a busy
    /// member unless one is idle.
    fn wake_for_retry(&mut self, g: usize) {
        let now = self.q.now();
        let idle = self.group_insts[g]
            .iter()
            .any(|&i| self.members[i as usize].idle && self.insts[i as usize].up);
        let gl = self.group_logs[g].as_mut().expect("log group");
        if let Some((&(due, _), _)) = gl.retry.iter().next() {
            if due < gl.retry_wake_ns && (due > now || idle) {
                gl.retry_wake_ns = due;
                self.q
                    .schedule(due.max(self.q.now()), Ev::LogRetryDue { group: g as u32 });
            }
        }
    }

    pub(super) fn on_retry_due_log(&mut self, g: usize) {
        let now = self.q.now();
        let gl = self.group_logs[g].as_mut().expect("log group");
        if gl.retry_wake_ns > now {
            return;
        }
        gl.retry_wake_ns = Nanos::MAX;
        for i in self.group_insts[g].clone() {
            if self.members[i as usize].idle && self.insts[i as usize].up {
                self.members[i as usize].idle = false;
                self.log_step(i);
            }
        }
        self.wake_for_retry(g);
    }

    fn retry_put(&mut self, g: usize, due: Nanos, r: RetryRec) {
        let gl = self.group_logs[g].as_mut().expect("log group");
        gl.retry_seq += 1;
        let seq = gl.retry_seq;
        gl.retry.insert((due, seq), r);
        self.wake_for_retry(g);
    }

    // ------------------------------------------------------------- processing

    /// One processing attempt of the member's current record.
    fn log_attempt(&mut self, i: u32) {
        let g = self.insts[i as usize].group as usize;
        let gm = &self.m.groups[g];
        let cur = self.members[i as usize].current.expect("a record in hand");
        let mi = cur.msg;
        let k = self.msgs[mi].attempts;
        self.msgs[mi].attempts += 1;
        let key = rng::combine(self.msgs[mi].key, 1000 + g as u64);
        let poison =
            gm.poison > 0.0 && unit(&mut self.stream(Domain::MessageFate, key, 0)) < gm.poison;
        let mut r = self.stream(Domain::AttemptFate, key, k as u64);
        let u_fail = unit(&mut r);
        let u_out = unit(&mut r);
        let u_nonret = unit(&mut r);
        let gs = &self.groups[g];
        let base = gm.service.sample_secs(&mut r);
        let work_ns = crate::time::secs_to_ns(base * gs.slowdown);
        let failed = poison || u_fail < gm.failure || u_out < gs.outage_failure;
        let nonretryable = failed && u_nonret < gm.non_retryable;
        if self.tracing() {
            let who = self.member_name(i);
            let what = if cur.part == NONE {
                "attempt from a retry topic"
            } else {
                "attempt"
            };
            self.trace_msg(
                mi,
                what,
                || who,
                || format!("offset {} attempt {}", cur.offset, cur.attempts + 1),
                Some(work_ns),
            );
        }
        self.members[i as usize].busy = true;
        self.insts[i as usize].busy = 1;
        let epoch = self.insts[i as usize].epoch;
        self.q.schedule_in(
            work_ns,
            Ev::LogDone {
                inst: i,
                epoch,
                failed,
                nonretryable,
                work_ns,
            },
        );
    }

    /// `group#k`: the member's name in traces.
    fn member_name(&self, i: u32) -> String {
        let g = self.insts[i as usize].group as usize;
        let k = self.group_insts[g]
            .iter()
            .position(|&x| x == i)
            .unwrap_or(0);
        format!("{}#{k}", self.m.groups[g].name)
    }

    pub(super) fn on_log_done(
        &mut self,
        i: u32,
        epoch: u32,
        failed: bool,
        nonretryable: bool,
        work_ns: Nanos,
    ) {
        if self.insts[i as usize].epoch != epoch {
            return;
        }
        if F::FAULTS && !self.insts[i as usize].frozen.is_empty() {
            if let Some(delay_ns) = self.thaw(i, NONE, NONE) {
                // A pause froze this attempt: it ends that much later.
                let event = Ev::LogDone {
                    inst: i,
                    epoch,
                    failed,
                    nonretryable,
                    work_ns,
                };
                self.q.schedule_in(delay_ns, event);
                return;
            }
        }
        let now = self.q.now();
        let g = self.insts[i as usize].group as usize;
        let gm = &self.m.groups[g];
        self.members[i as usize].busy = false;
        self.insts[i as usize].busy = 0;
        let mut cur = self.members[i as usize]
            .current
            .take()
            .expect("a record in hand");
        let mi = cur.msg;
        if self.tracing() {
            let who = self.member_name(i);
            let what = if failed {
                "attempt failed"
            } else {
                "attempt succeeded"
            };
            self.trace_msg(mi, what, || who, String::new, None);
        }
        let in_window = self.msgs[mi].in_window;
        if in_window {
            self.stats.add_attempts(1);
            self.stats.add_work_ns(work_ns as u128);
            if failed {
                self.stats.add_failed_attempts(1);
                self.stats.add_failed_work_ns(work_ns as u128);
            }
        }
        cur.attempts += 1;
        if failed {
            let topic = self.group_logs[g].as_ref().expect("log group").topic;
            let dlt = self.m.topics[topic].dead_letter;
            let (delay, allowed) = match (&gm.retry, nonretryable) {
                (_, true) => (0, false),
                (Some(policy), false) => {
                    let key = rng::combine(self.msgs[mi].key, 1000 + g as u64);
                    let mut r = self.stream(Domain::Backoff, key, cur.attempts as u64);
                    let d = policy.delay_ns(cur.attempts, cur.prev_delay_ns, &mut r);
                    let elapsed = now - cur.first_attempt_ns;
                    (d, policy.allows(cur.attempts, elapsed, d))
                }
                (None, false) => (0, true),
            };
            let mode = if allowed {
                gm.retry_mode
            } else {
                RetryMode::None
            };
            match mode {
                RetryMode::InHandler => {
                    // Blocking retry in place: the partition waits.
                    if in_window {
                        self.stats.add_retries(1);
                    }
                    cur.prev_delay_ns = delay;
                    self.members[i as usize].current = Some(cur);
                    self.members[i as usize].busy = true;
                    self.q
                        .schedule_in(delay, Ev::LogRetryWait { inst: i, epoch });
                    return;
                }
                RetryMode::RetryQueues => {
                    if in_window {
                        self.stats.add_retries(1);
                    }
                    self.msgs[mi].live += 1;
                    self.retry_put(g, now.saturating_add(delay), (mi, cur.attempts, delay));
                    self.record_processed(i, g, &cur, false);
                }
                RetryMode::Requeue
                | RetryMode::RejectRequeue
                | RetryMode::Delay
                | RetryMode::AckTimeout
                | RetryMode::None => {
                    let reason = if nonretryable {
                        Cause::NonRetryable
                    } else {
                        Cause::RetriesExhausted
                    };
                    if dlt {
                        let m = &mut self.msgs[mi];
                        m.flags |= F_DLQ;
                        if m.dlq_reason == Cause::None {
                            m.dlq_reason = reason;
                        }
                    } else {
                        if in_window {
                            self.stats.logs[g].add_skipped(1);
                        }
                        self.mark_lost(mi, Cause::Skipped);
                    }
                    self.record_processed(i, g, &cur, false);
                }
            }
        } else {
            self.record_processed(i, g, &cur, true);
        }
        self.log_step(i);
    }

    pub(super) fn on_log_retry_wait(&mut self, i: u32, epoch: u32) {
        if self.insts[i as usize].epoch != epoch {
            return;
        }
        self.members[i as usize].busy = false;
        // A rebalance meanwhile took the partition: the record goes back.
        let cur = self.members[i as usize].current.expect("a record in hand");
        if cur.part != NONE && !self.members[i as usize].owned.contains(&cur.part) {
            self.members[i as usize].current = None;
            self.drop_current(i, cur);
            self.log_step(i);
            return;
        }
        self.log_attempt(i);
    }

    /// The member is done with a record: the processed position moves on.
    fn record_processed(&mut self, i: u32, g: usize, cur: &Current, success: bool) {
        let mi = cur.msg;
        let in_window = self.msgs[mi].in_window;
        let mut first = true;
        // Processed again: why (what a record it produces again says).
        let mut again = Cause::None;
        let transactional = F::TRANSACTIONS && self.is_transactional(g);
        if transactional {
            self.txn_consumed(i);
        }
        if cur.part != NONE {
            let p = cur.part as usize;
            let gp = &mut self.group_logs[g].as_mut().expect("log group").parts[p];
            if cur.offset < gp.processed_hw {
                first = false;
                let cause = gp.reread_cause;
                again = cause;
                if !self.trace_ids.is_empty() {
                    let group = self.m.groups[g].name.clone();
                    self.trace_msg(
                        mi,
                        "processed again (re-read)",
                        || group,
                        || cause.name().to_string(),
                        None,
                    );
                }
                if in_window {
                    self.stats.logs[g].add_reread(1);
                    // A transaction's processing whose output was aborted
                    // with its offsets left no effect: not a duplicate.
                    if success && !transactional {
                        self.stats.duplicate(cause.name());
                    }
                }
            } else {
                gp.processed_hw = cur.offset + 1;
            }
            let mb = &mut self.members[i as usize];
            mb.done[p] = mb.done[p].max(cur.offset + 1);
        } else {
            // A retry-topic record leaves the retry topics.
            self.msgs[mi].live -= 1;
        }
        let rewrite = F::TRANSACTIONS && success && first && self.is_rewrite(g, cur.rewrite);
        if success && first && cur.duplicate {
            // The producer's retry wrote it twice: processed once more.
            if in_window {
                self.stats.duplicate(Cause::ProducerRetry.name());
            }
            again = Cause::ProducerRetry;
        } else if rewrite {
            // An upstream group produced it again: processed once more.
            if in_window {
                self.stats.duplicate(cur.rewrite.name());
            }
            again = cur.rewrite;
        } else if F::TRANSACTIONS && success && first && self.publishes(g) {
            self.record_log_order(g, mi);
        } else if success && first {
            self.msgs[mi].log_done += 1;
            let topic = self.group_logs[g].as_ref().expect("log group").topic;
            if self.msgs[mi].log_done as usize == self.topics[topic].groups.len()
                && self.msgs[mi].flags & F_ACKED == 0
            {
                let now = self.q.now();
                self.msgs[mi].flags |= F_ACKED;
                self.completions_total += 1;
                if in_window {
                    self.stats.record_latency(now - self.msgs[mi].publish_ns);
                    self.record_split_latency(mi, now);
                }
            }
            self.record_log_order(g, mi);
        }
        if F::TRANSACTIONS && success && self.publishes(g) {
            let again = match again {
                Cause::None => Cause::None,
                _ if transactional && !first => Cause::AbortedTransaction,
                cause => cause,
            };
            self.produce_output(i, g, mi, again);
        }
        if cur.part != NONE {
            // The record's hold in the member's hands ends.
            self.msgs[mi].live -= 1;
        }
        self.check_finish(mi);
    }

    /// Ordering of a group's first processings within each key.
    fn record_log_order(&mut self, g: usize, mi: u32) {
        let m = &self.msgs[mi];
        if m.okey == NONE {
            return;
        }
        debug_assert!(self.group_logs[g].is_some());
        let late = key_order(&mut self.log_order_max[g][m.okey as usize], m.kseq);
        if let (Some(d), true) = (late, m.in_window) {
            let lo = &mut self.stats.logs[g];
            lo.out_of_order += 1;
            lo.max_displacement = lo.max_displacement.max(d);
        }
    }

    /// The member forgets the records it fetched and has not processed.
    fn drop_batch(&mut self, i: u32) {
        let batch: Vec<Fetched> = self.members[i as usize].batch.drain(..).collect();
        for (p, o, rec) in batch {
            self.let_go(i, p, o, rec.msg);
        }
    }

    /// The member lets go of the record in hand (a partition record's hold).
    fn drop_current(&mut self, i: u32, cur: Current) {
        if cur.part != NONE {
            self.let_go(i, cur.part, cur.offset, cur.msg);
        }
    }

    /// A member lets go of a fetched record it did not process. Retention
    /// spared it because it was fetched; if its segment has been deleted
    /// since, nobody can read it again: lost to retention.
    fn let_go(&mut self, i: u32, p: u32, offset: u64, mi: u32) {
        let g = self.insts[i as usize].group as usize;
        let gl = self.group_logs[g].as_ref().expect("log group");
        let gone = offset < self.topics[gl.topic].parts[p as usize].log_start();
        if gone && offset >= gl.parts[p as usize].processed_hw {
            if self.msgs[mi].in_window {
                self.stats.logs[g].add_lost_to_retention(1);
            }
            self.mark_lost(mi, Cause::Retention);
        }
        self.msgs[mi].live -= 1;
        self.check_finish(mi);
    }

    /// Lag, sampled for the time series.
    pub(super) fn log_sample(&mut self, time_s: f64, latency_mean_s: f64) {
        let now = self.q.now();
        let window = self.window();
        for g in 0..self.m.groups.len() {
            if !self.is_log_group(g) {
                continue;
            }
            let s = &mut self.stats.logs[g];
            s.advance(window, now);
            self.stats.lag_samples.push(st::LagSample {
                time_s,
                group: g,
                lag: self.stats.logs[g].lag_now.clone(),
                latency_mean_s,
            });
        }
    }

    pub(super) fn log_finish(&mut self, end: Nanos) {
        let window = self.window();
        for g in 0..self.m.groups.len() {
            if self.is_log_group(g) {
                self.stats.logs[g].advance(window, end);
            }
        }
    }
}
