//! Group membership: who owns which partition, rebalances, commits, and
//! what member crashes and restarts do to the group.
//!
//! - Classic protocol, `range` (eager): a membership change stops the whole
//!   group. Healthy members finish their poll's records, commit and give up
//!   every partition; the rebalance completes when every member the
//!   coordinator counts has rejoined (a dynamic member's old session, after
//!   a restart, until it expires) and after the JoinGroup and SyncGroup
//!   round trips.
//! - Classic protocol, `cooperative-sticky`, and the consumer protocol
//!   (KIP-848): members keep what the new (sticky) assignment leaves them;
//!   only the partitions that move pause, until their old owner gives them
//!   up at its next poll, plus a second rebalance round (cooperative) or a
//!   heartbeat (consumer protocol).
//! - Static membership (KIP-345): a member restarting within its session
//!   keeps its partitions, without a rebalance.

use super::*;
use crate::model::{Assignor, GroupProtocol};

impl<'m, F: Features> Sim<'m, F> {
    // -------------------------------------------------------------- the group

    /// The members the coordinator assigns partitions to: those in the
    /// group and up, and static members that are down but still within
    /// their session (their partitions wait for them).
    pub(in crate::sim) fn assignable(&self, g: usize) -> Vec<u32> {
        let static_members = self.m.groups[g]
            .log
            .as_ref()
            .expect("log group")
            .static_membership;
        self.group_insts[g]
            .iter()
            .copied()
            .filter(|&i| {
                self.members[i as usize].in_group && (self.insts[i as usize].up || static_members)
            })
            .collect()
    }

    /// Whether a membership change moves only some partitions (the
    /// cooperative-sticky assignor, or the consumer protocol).
    pub(in crate::sim) fn incremental(&self, g: usize) -> bool {
        let lm = self.m.groups[g].log.as_ref().expect("log group");
        lm.assignor == Assignor::CooperativeSticky || lm.protocol == GroupProtocol::Consumer
    }

    /// The pause a rebalance costs beyond the waits for members: an
    /// explicit `rebalance_time`, or the protocol's round trips (eager:
    /// JoinGroup and SyncGroup; cooperative: two such rounds; consumer
    /// protocol: a heartbeat, on average, and a round trip).
    pub(in crate::sim) fn rebalance_pause_ns(&self, g: usize) -> Nanos {
        let lm = self.m.groups[g].log.as_ref().expect("log group");
        lm.rebalance_ns.unwrap_or(match (lm.protocol, lm.assignor) {
            (GroupProtocol::Consumer, _) => lm.heartbeat_ns + lm.round_trip_ns,
            (GroupProtocol::Classic, Assignor::Range) => 2 * lm.round_trip_ns,
            (GroupProtocol::Classic, Assignor::CooperativeSticky) => 4 * lm.round_trip_ns,
        })
    }

    /// Range assignment: the first (P mod n) members take one more.
    pub(in crate::sim) fn range_targets(&self, g: usize, members: &[u32]) -> Vec<u32> {
        let n_parts = self.group_logs[g].as_ref().expect("log group").parts.len();
        (0..n_parts)
            .map(|p| {
                if members.is_empty() {
                    return NONE;
                }
                let per = n_parts / members.len();
                let extra = n_parts % members.len();
                let k = if p < extra * (per + 1) {
                    p / (per + 1)
                } else {
                    extra + (p - extra * (per + 1)) / per.max(1)
                };
                members[k.min(members.len() - 1)]
            })
            .collect()
    }

    /// Sticky assignment: each member keeps what it owns up to a balanced
    /// share; the rest go to the members below their share.
    pub(in crate::sim) fn sticky_targets(&self, g: usize, members: &[u32]) -> Vec<u32> {
        let gl = self.group_logs[g].as_ref().expect("log group");
        let n_parts = gl.parts.len();
        let mut target = vec![NONE; n_parts];
        if members.is_empty() {
            return target;
        }
        let per = n_parts / members.len();
        let mut extra = n_parts % members.len();
        let mut count = vec![0usize; members.len()];
        for (k, &i) in members.iter().enumerate() {
            for &p in &self.members[i as usize].owned {
                if count[k] < per && gl.parts[p as usize].owner == i {
                    target[p as usize] = i;
                    count[k] += 1;
                }
            }
        }
        for (k, &i) in members.iter().enumerate() {
            let more = self.members[i as usize]
                .owned
                .iter()
                .find(|&&p| target[p as usize] == NONE && gl.parts[p as usize].owner == i);
            if let (Some(&p), true) = (more, extra > 0) {
                target[p as usize] = i;
                count[k] += 1;
                extra -= 1;
            }
        }
        for slot in target.iter_mut().filter(|t| **t == NONE) {
            let k = match count.iter().position(|&c| c < per) {
                Some(k) => k,
                None => {
                    extra = extra.saturating_sub(1);
                    count.iter().position(|&c| c == per).unwrap_or(0)
                }
            };
            *slot = members[k];
            count[k] += 1;
        }
        target
    }

    /// Eager assignment (range): every partition starts over at the
    /// committed offset with its new owner.
    pub(in crate::sim) fn assign(&mut self, g: usize) {
        let members = self.assignable(g);
        let targets = self.range_targets(g, &members);
        for i in self.group_insts[g].clone() {
            // An evicted member keeps what it was working on (its commit
            // will fail); the others start from the assignment.
            if self.insts[i as usize].up && !self.members[i as usize].in_group {
                continue;
            }
            self.members[i as usize].owned.clear();
            self.drop_batch(i);
        }
        let gl = self.group_logs[g].as_mut().expect("log group");
        for gp in gl.parts.iter_mut() {
            gp.owner = NONE;
        }
        self.hand_over(g, &members, &targets);
    }

    /// Gives each partition without an owner to its target, which starts at
    /// the committed offset, and ends the rebalance.
    pub(in crate::sim) fn hand_over(&mut self, g: usize, members: &[u32], targets: &[u32]) {
        let gl = self.group_logs[g].as_mut().expect("log group");
        gl.generation += 1;
        gl.rebalancing = false;
        let generation = gl.generation;
        let topic = gl.topic;
        let mut lost_msgs = Vec::new();
        for (p, gp) in gl.parts.iter_mut().enumerate() {
            if gp.owner != NONE || targets[p] == NONE {
                continue;
            }
            // Ownership starts over from the committed offset: what was
            // processed beyond it is read again; what was committed beyond
            // the processed position is never read.
            if gp.committed > gp.processed_hw {
                for o in gp.processed_hw..gp.committed {
                    if let Some(r) = self.topics[topic].parts[p].get(o) {
                        lost_msgs.push(r.msg);
                    }
                }
                gp.processed_hw = gp.committed;
            }
            gp.owner = targets[p];
            let committed = gp.committed;
            let mb = &mut self.members[targets[p] as usize];
            mb.owned.push(p as u32);
            mb.pos[p] = committed;
            mb.done[p] = committed;
        }
        for mi in lost_msgs {
            if self.msgs[mi].in_window {
                self.stats.logs[g].add_lost_to_early_commit(1);
            }
            let group = &self.m.groups[g].name;
            self.trace_msg(
                mi,
                "committed but never processed (lost)",
                || group.clone(),
                || "the new owner starts at the committed offset".into(),
                None,
            );
            self.mark_lost(mi, Cause::EarlyCommit);
        }
        for &i in members {
            self.members[i as usize].generation = generation;
        }
        for p in 0..targets.len() {
            self.trim(topic, p);
        }
        for &i in members {
            if !self.insts[i as usize].up {
                continue;
            }
            self.members[i as usize].idle = false;
            if !self.members[i as usize].busy {
                self.log_step(i);
            }
        }
    }

    /// Something changed the membership. Eager: the group stops, healthy
    /// members commit and give up their partitions. Incremental: the new
    /// sticky assignment is computed, and only the partitions that move
    /// are given up. Members learn of it at their next poll: each finishes
    /// the records of its last poll first (the rebalance waits for them).
    pub(in crate::sim) fn rebalance(&mut self, g: usize) {
        let now = self.q.now();
        let wait = self.rebalance_pause_ns(g);
        if self.incremental(g) {
            let members = self.assignable(g);
            let targets = self.sticky_targets(g, &members);
            let gl = self.group_logs[g].as_mut().expect("log group");
            for (p, gp) in gl.parts.iter_mut().enumerate() {
                gp.target = targets[p];
                // An owner that left (or restarted as a new member) no
                // longer holds its partitions.
                let held = gp.owner != NONE
                    && members.contains(&gp.owner)
                    && self.members[gp.owner as usize].owned.contains(&(p as u32));
                if !held {
                    gp.owner = NONE;
                }
            }
        }
        let gl = self.group_logs[g].as_mut().expect("log group");
        gl.rebalancing = true;
        gl.rebalance_start_ns = now;
        let generation = gl.generation;
        self.stats.logs[g].add_rebalances(1);
        for i in self.group_insts[g].clone() {
            let mb = &self.members[i as usize];
            let between_polls = !mb.busy
                && mb.current.is_none()
                && mb.batch.is_empty()
                && mb.retry_batch.is_empty();
            if mb.in_group && self.insts[i as usize].up && between_polls {
                self.revoke(i);
            }
        }
        self.q.schedule_in(
            wait,
            Ev::LogRebalanceDone {
                group: g as u32,
                generation,
            },
        );
    }

    /// A healthy member gives up its partitions (eager) or those that move
    /// (incremental), committing what it processed.
    pub(in crate::sim) fn revoke(&mut self, i: u32) {
        let g = self.insts[i as usize].group as usize;
        if !self.incremental(g) {
            self.commit(i, false);
            self.members[i as usize].owned.clear();
            return;
        }
        let gl = self.group_logs[g].as_ref().expect("log group");
        if self.members[i as usize]
            .owned
            .iter()
            .all(|&p| gl.parts[p as usize].target == i)
        {
            return;
        }
        self.commit(i, false);
        let gl = self.group_logs[g].as_mut().expect("log group");
        let mb = &mut self.members[i as usize];
        mb.owned.retain(|&p| {
            let gp = &mut gl.parts[p as usize];
            if gp.target != i {
                gp.owner = NONE;
            }
            gp.target == i
        });
    }

    /// Members still giving up partitions, or old sessions the coordinator
    /// still counts, hold the rebalance up; the last of them completes it.
    pub(in crate::sim) fn on_rebalance_done(&mut self, g: usize, generation: u32) {
        let now = self.q.now();
        let wait = self.rebalance_pause_ns(g);
        let gl = self.group_logs[g].as_ref().expect("log group");
        if !gl.rebalancing || gl.generation != generation || now < gl.rebalance_start_ns + wait {
            return; // restarted meanwhile, or done
        }
        let incremental = self.incremental(g);
        let waiting = self.group_insts[g].iter().any(|&i| {
            let mb = &self.members[i as usize];
            let holding = if incremental {
                mb.owned.iter().any(|&p| gl.parts[p as usize].target != i)
            } else {
                !mb.owned.is_empty()
            };
            (mb.in_group && holding && self.insts[i as usize].up) || mb.old_session_until_ns > now
        });
        if waiting {
            return;
        }
        if incremental {
            let members = self.assignable(g);
            let targets: Vec<u32> = gl.parts.iter().map(|gp| gp.target).collect();
            self.hand_over(g, &members, &targets);
        } else {
            self.assign(g);
        }
    }

    /// Commits the member's fetched (`fetched`) or processed positions;
    /// a transactional member commits its transaction with them.
    pub(in crate::sim) fn commit(&mut self, i: u32, fetched: bool) {
        if F::TRANSACTIONS && self.is_transactional(self.insts[i as usize].group as usize) {
            self.commit_transaction(i);
        } else {
            self.commit_offsets(i, fetched);
        }
    }

    /// Commits the member's fetched (`fetched`) or processed positions.
    /// A member that is no longer in the group is refused.
    pub(in crate::sim) fn commit_offsets(&mut self, i: u32, fetched: bool) {
        let g = self.insts[i as usize].group as usize;
        let gl = self.group_logs[g].as_ref().expect("log group");
        let topic = gl.topic;
        let mb = &self.members[i as usize];
        if mb.owned.is_empty() {
            return;
        }
        if !mb.in_group || mb.generation != gl.generation {
            self.stats.logs[g].add_commits_failed(1);
            return;
        }
        let owned = mb.owned.clone();
        let mut moved = false;
        for p in owned {
            let p = p as usize;
            let to = if fetched {
                self.members[i as usize].pos[p]
            } else {
                self.members[i as usize].done[p]
            };
            let gp = &mut self.group_logs[g].as_mut().expect("log group").parts[p];
            if to > gp.committed {
                gp.committed = to;
                moved = true;
                self.update_lag(g, p);
                self.trim(topic, p);
            }
        }
        if moved {
            self.stats.logs[g].add_commits(1);
        }
    }

    pub(in crate::sim) fn schedule_auto_commit(&mut self, i: u32) {
        let g = self.insts[i as usize].group as usize;
        let lm = self.m.groups[g].log.as_ref().expect("log group");
        if lm.commit == CommitMode::AutoInPoll {
            let due = self.q.now().saturating_add(lm.auto_commit_ns);
            self.members[i as usize].auto_commit_due_ns = due;
            return;
        }
        if lm.commit == CommitMode::Auto && !self.members[i as usize].timer {
            self.members[i as usize].timer = true;
            let epoch = self.insts[i as usize].epoch;
            self.q
                .schedule_in(lm.auto_commit_ns, Ev::LogAutoCommit { inst: i, epoch });
        }
    }

    pub(in crate::sim) fn on_auto_commit(&mut self, i: u32, epoch: u32) {
        if self.insts[i as usize].epoch != epoch {
            return;
        }
        self.members[i as usize].timer = false;
        if self.q.now() > self.end_arrivals_ns && self.msgs.len() == 0 {
            return;
        }
        self.commit(i, true);
        self.schedule_auto_commit(i);
    }

    pub(in crate::sim) fn on_poll_timeout(&mut self, i: u32, epoch: u32, poll: u64) {
        let mb = &self.members[i as usize];
        if self.insts[i as usize].epoch != epoch || mb.polls != poll || !mb.in_group || !mb.busy {
            return;
        }
        // Still in the same poll's records: the member leaves the group.
        self.expel(i, Cause::PollTimeout);
    }

    /// Member `i` is out of its group for `cause` (a poll interval passed,
    /// or its session expired): its partitions go back uncommitted and the
    /// group rebalances. A poll timeout is counted as one.
    fn expel(&mut self, i: u32, cause: Cause) {
        let g = self.insts[i as usize].group as usize;
        if cause == Cause::PollTimeout {
            self.stats.logs[g].add_poll_timeouts(1);
        }
        self.members[i as usize].in_group = false;
        self.leave(g, i, cause);
        self.rebalance(g);
    }

    /// A stop-the-world pause of member `i` begins. It stops the client's
    /// heartbeat thread as well as its poll loop (KIP-62 moved heartbeats
    /// off the poll loop, not out of the process), so the coordinator
    /// expires the member `session_timeout` after the pause began, busy
    /// or idle. An idle member sat in `poll()` until the pause, so its
    /// `max_poll_interval` also runs from the pause's start; a busy
    /// member's runs from its last poll (`Ev::LogPollTimeout`).
    pub(in crate::sim) fn log_pause_begins(&mut self, i: u32) {
        let g = self.insts[i as usize].group as usize;
        let lm = self.m.groups[g].log.as_ref().expect("log group");
        let mb = &self.members[i as usize];
        if !mb.in_group {
            return;
        }
        let (wait_ns, cause) = if mb.idle && lm.max_poll_interval_ns < lm.session_timeout_ns {
            (lm.max_poll_interval_ns, Cause::PollTimeout)
        } else {
            (lm.session_timeout_ns, Cause::SessionTimeout)
        };
        let deadline_ns = self.q.now().saturating_add(wait_ns);
        self.members[i as usize].pause_deadline_ns = deadline_ns;
        self.members[i as usize].pause_cause = cause;
        let epoch = self.insts[i as usize].epoch;
        self.q
            .schedule(deadline_ns, Ev::LogPauseCheck { inst: i, epoch });
    }

    /// The deadline of member `i`'s pause: if the same pause still runs,
    /// the member is out of the group (its session expired, or it passed
    /// its poll interval in `poll()`), and the group rebalances as for a
    /// poll timeout. When the pause ends, the member finishes what it
    /// holds, its commit is refused, and it joins again.
    pub(in crate::sim) fn on_pause_check(&mut self, i: u32, epoch: u32) {
        let now = self.q.now();
        let mb = &self.members[i as usize];
        let inst = &self.insts[i as usize];
        let same_pause = mb.pause_deadline_ns == now && self.paused(i);
        if inst.epoch != epoch || !inst.up || !mb.in_group || !same_pause {
            return;
        }
        self.expel(i, mb.pause_cause);
    }

    /// Marks the partitions a member loses without committing: what it
    /// processed beyond the commit is read again, for this cause.
    pub(in crate::sim) fn leave(&mut self, g: usize, i: u32, cause: Cause) {
        let gl = self.group_logs[g].as_mut().expect("log group");
        for &p in &self.members[i as usize].owned {
            gl.parts[p as usize].reread_cause = cause;
        }
    }

    /// Records the member processed beyond the group's commit, now that it
    /// loses them without a commit: the next owner reads them again.
    pub(in crate::sim) fn count_uncommitted(&mut self, g: usize, i: u32) {
        let gl = self.group_logs[g].as_ref().expect("log group");
        let mb = &self.members[i as usize];
        let n: u64 = mb
            .owned
            .iter()
            .map(|&p| mb.done[p as usize].saturating_sub(gl.parts[p as usize].committed))
            .sum();
        self.stats.logs[g].add_uncommitted_at_loss(n);
    }

    // ----------------------------------------------------------------- faults

    pub(in crate::sim) fn log_crash(&mut self, i: u32) {
        let now = self.q.now();
        let g = self.insts[i as usize].group as usize;
        let lm = self.m.groups[g].log.as_ref().expect("log group");
        let session = lm.session_timeout_ns;
        // An attempt was running (not a backoff between in-handler retries).
        let attempting = self.insts[i as usize].busy != 0;
        if let (true, Some(c)) = (attempting, self.members[i as usize].current) {
            if self.tracing() {
                let who = self.member_name(i);
                self.trace_msg(
                    c.msg,
                    "attempt cut short (consumer crash)",
                    || who,
                    String::new,
                    None,
                );
            }
        }
        let mb = &mut self.members[i as usize];
        mb.busy = false;
        mb.idle = false;
        mb.timer = false;
        let retries: Vec<RetryRec> = mb.retry_batch.drain(..).collect();
        let cur = mb.current.take();
        self.insts[i as usize].busy = 0;
        self.drop_batch(i);
        // Retry-topic records in hand are read again from their topic.
        for r in retries {
            self.retry_put(g, now, r);
        }
        match cur {
            Some(c) if c.part == NONE => {
                self.retry_put(g, now, (c.msg, c.attempts, c.prev_delay_ns))
            }
            Some(c) => self.drop_current(i, c),
            None => {}
        }
        self.leave(g, i, Cause::ConsumerCrash);
        self.count_uncommitted(g, i);
        if F::TRANSACTIONS && self.is_transactional(g) {
            self.abort_transaction(i);
        }
        let epoch = self.insts[i as usize].epoch;
        if self.members[i as usize].in_group {
            self.members[i as usize].session_expiry_ns = now.saturating_add(session);
            self.q
                .schedule_in(session, Ev::LogSessionTimeout { inst: i, epoch });
        }
    }

    /// The coordinator misses the crashed member's heartbeats.
    pub(in crate::sim) fn on_session_timeout(&mut self, i: u32, epoch: u32) {
        let inst = &self.insts[i as usize];
        let g = inst.group as usize;
        if inst.epoch != epoch {
            return; // crashed again since
        }
        if inst.up {
            // Restarted as a new member: the old member id expires now,
            // which a rebalance may have waited for.
            let mb = &mut self.members[i as usize];
            if mb.old_session_until_ns != 0 {
                mb.old_session_until_ns = 0;
                let generation = self.group_logs[g].as_ref().expect("log group").generation;
                self.on_rebalance_done(g, generation);
            }
            return;
        }
        if !self.members[i as usize].in_group {
            return;
        }
        self.members[i as usize].in_group = false;
        self.members[i as usize].owned.clear();
        self.rebalance(g);
    }

    pub(in crate::sim) fn log_restart(&mut self, i: u32) {
        let g = self.insts[i as usize].group as usize;
        let lm = self.m.groups[g].log.as_ref().expect("log group");
        let counted = self.members[i as usize].in_group;
        if counted && lm.static_membership {
            // Static member back within its session: same partitions, no
            // rebalance; it starts at the committed offsets.
            let gl = self.group_logs[g].as_ref().expect("log group");
            let mb = &mut self.members[i as usize];
            for &p in &mb.owned {
                let committed = gl.parts[p as usize].committed;
                mb.pos[p as usize] = committed;
                mb.done[p as usize] = committed;
            }
            mb.generation = gl.generation;
            mb.idle = false;
            self.schedule_auto_commit(i);
            self.log_step(i);
            return;
        }
        if counted {
            // A new member id: the coordinator still counts the old one
            // until its session expires, and the rebalance waits for it.
            let mb = &mut self.members[i as usize];
            mb.old_session_until_ns = mb.session_expiry_ns;
        }
        self.members[i as usize].in_group = true;
        self.members[i as usize].owned.clear();
        self.schedule_auto_commit(i);
        self.rebalance(g);
    }
}
