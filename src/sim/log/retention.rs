//! Retention: the broker deletes a partition's closed segments once their
//! newest record is older than the retention (read or not); a member whose
//! position was deleted restarts where `auto_offset_reset` says, and what it
//! skipped is lost to retention.

use super::*;

impl<'m, F: Features> Sim<'m, F> {
    /// The broker's periodic retention check: every closed segment whose
    /// newest record is older than the retention is deleted, read or not
    /// (the active segment never is).
    pub(in crate::sim) fn on_retention_check(&mut self, topic: usize) {
        let now = self.q.now();
        let tm = &self.m.topics[topic];
        let (keep_ns, every_ns) = (tm.retention_ns, tm.retention_check_ns);
        for part in 0..self.topics[topic].parts.len() {
            let pt = &mut self.topics[topic].parts[part];
            while pt.segments.len() > 1 && now.saturating_sub(pt.segments[0].newest_ns) > keep_ns {
                pt.segments.pop_front();
            }
            let start = pt.log_start();
            self.delete_below(topic, part, start);
        }
        self.q.schedule_in(
            every_ns,
            Ev::LogRetentionCheck {
                topic: topic as u32,
            },
        );
    }

    /// Deletes the records below offset `start`. A group that had not
    /// processed one (and whose owner had not fetched it) lost it; the
    /// group's committed offset stays where it was: `auto_offset_reset`
    /// decides where its next fetch starts.
    pub(in crate::sim) fn delete_below(&mut self, topic: usize, part: usize, start: u64) {
        while self.topics[topic].parts[part].base < start {
            let pt = &self.topics[topic].parts[part];
            let Some(front) = pt.records.front().copied() else {
                self.topics[topic].parts[part].base = start;
                return;
            };
            let offset = pt.base;
            for g in self.topics[topic].groups.clone() {
                // A member that fetched it processes it from memory.
                let fetched = self.group_insts[g].iter().any(|&i| {
                    let mb = &self.members[i as usize];
                    self.insts[i as usize].up
                        && mb.owned.contains(&(part as u32))
                        && mb.pos[part] > offset
                });
                let gp = &mut self.group_logs[g].as_mut().expect("log group").parts[part];
                // (`processed_hw` stays: records fetched before this one
                // are still to be processed, for the first time.)
                if gp.processed_hw <= offset && !fetched {
                    if self.msgs[front.msg].in_window {
                        self.stats.logs[g].add_lost_to_retention(1);
                    }
                    let group = &self.m.groups[g].name;
                    self.trace_msg(
                        front.msg,
                        "deleted by retention before processing (lost)",
                        || group.clone(),
                        String::new,
                        None,
                    );
                    self.mark_lost(front.msg, Cause::Retention);
                }
            }
            self.pop_record(topic, part);
        }
    }

    /// The member's position in partition `p` is below the log start (its
    /// records were deleted): `auto_offset_reset` moves it to the log end
    /// (`latest`: the retained backlog is skipped, lost) or to the log start
    /// (`earliest`).
    pub(in crate::sim) fn offset_reset(&mut self, i: u32, g: usize, p: usize) {
        let topic = self.group_logs[g].as_ref().expect("log group").topic;
        let pt = &self.topics[topic].parts[p];
        let (start, end, base) = (pt.log_start(), pt.end(), pt.base);
        let latest = self.m.groups[g]
            .log
            .as_ref()
            .expect("log group")
            .reset_to_latest;
        let to = if latest { end } else { start };
        let from = self.members[i as usize].pos[p].max(start).max(base);
        let processed_hw = self.group_logs[g].as_ref().expect("log group").parts[p].processed_hw;
        if latest {
            for o in from.max(processed_hw)..end {
                let mi = self.topics[topic].parts[p]
                    .get(o)
                    .expect("a retained record")
                    .msg;
                if self.msgs[mi].in_window {
                    self.stats.logs[g].add_skipped_by_reset(1);
                }
                let group = &self.m.groups[g].name;
                self.trace_msg(
                    mi,
                    "skipped by auto_offset_reset = latest (lost)",
                    || group.clone(),
                    || format!("offset {o}"),
                    None,
                );
                self.mark_lost(mi, Cause::OffsetReset);
            }
        }
        let gp = &mut self.group_logs[g].as_mut().expect("log group").parts[p];
        gp.processed_hw = gp.processed_hw.max(to);
        let mb = &mut self.members[i as usize];
        mb.pos[p] = to;
        mb.done[p] = mb.done[p].max(to);
        self.stats.logs[g].add_offset_resets(1);
    }

    pub(in crate::sim) fn mark_lost(&mut self, mi: u32, cause: Cause) {
        let m = &mut self.msgs[mi];
        m.flags |= F_LOST;
        if m.lost_cause == Cause::None {
            m.lost_cause = cause;
        }
    }

    pub(in crate::sim) fn pop_record(&mut self, topic: usize, part: usize) {
        let pt = &mut self.topics[topic].parts[part];
        let rec = pt.records.pop_front().expect("a record to pop");
        pt.base += 1;
        self.msgs[rec.msg].live -= 1;
        self.check_finish(rec.msg);
    }

    /// Drops the records every group has committed and processed, and that
    /// no member still has to process (a new owner re-reading what the last
    /// one processed without committing).
    pub(in crate::sim) fn trim(&mut self, topic: usize, part: usize) {
        let upto = self.topics[topic]
            .groups
            .iter()
            .map(|&g| {
                let gp = &self.group_logs[g].as_ref().expect("log group").parts[part];
                let in_hand = self.group_insts[g]
                    .iter()
                    .map(|&i| &self.members[i as usize])
                    .filter(|mb| mb.owned.contains(&(part as u32)))
                    .map(|mb| mb.done[part])
                    .min()
                    .unwrap_or(u64::MAX);
                gp.committed.min(gp.processed_hw).min(in_hand)
            })
            .min()
            .unwrap_or(0);
        while self.topics[topic].parts[part].base < upto
            && !self.topics[topic].parts[part].records.is_empty()
        {
            self.pop_record(topic, part);
        }
    }
}
