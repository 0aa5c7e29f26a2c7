//! Read-process-write pipelines on the log, and Kafka's exactly-once
//! transactions over them (issue 26 §2).
//!
//! A topic group with `publish_to` produces one record to the output
//! topic for each record it processes successfully. Without transactions
//! the record is visible at once, and a member that processes records
//! again after a crash (it had not committed their offsets) produces them
//! again: the groups downstream process them twice (duplicates, under the
//! cause of the re-read, `consumer-crash` for one).
//!
//! With `commit = "transactional"` each member keeps one open transaction,
//! as a Kafka Streams thread with `processing.guarantee = exactly_once_v2`:
//! the records it produces and the offsets it consumes commit together,
//! at the next tick of a clock that ticks every `transaction_interval`
//! (Streams' `commit.interval.ms`), or when the member gives its
//! partitions up in a rebalance.
//! A crash, or a commit refused because the member left the group, aborts
//! the open transaction: its records stay in the log, marked aborted,
//! and its offsets are read again from the last commit, so the member
//! processes them again and produces them again. That re-processing left
//! no effect (its output was aborted with its offsets), so it is not
//! counted as a duplicate; it shows in `reread` and `records_aborted`.
//!
//! Downstream, `isolation = "read_committed"` reads a partition only up to
//! its last stable offset (the first offset of the oldest open
//! transaction that wrote there) and skips aborted records: it sees each
//! record once, when its transaction commits. `read_uncommitted` (Kafka's
//! default) reads everything at once: it processes the aborted records
//! and then their rewrites, duplicates of cause `aborted-transaction`.
//!
//! The output partition is chosen by the message (its key, or its id), so
//! a rewrite lands in the partition of the first write, behind it: each
//! downstream group meets the first write first.

use super::*;

/// Where the transaction that produced a record stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(in crate::sim) enum TxnMark {
    /// Not produced in a transaction.
    #[default]
    Plain,
    Open,
    Committed,
    Aborted,
}

/// A member's transaction: what it produced and when it commits.
#[derive(Clone, Debug, Default)]
pub(in crate::sim) struct Transaction {
    /// Records produced in it: (output partition, offset, when written).
    records: Vec<(u32, u64, Nanos)>,
    /// Per output partition it wrote to, its first offset there.
    first: Vec<(u32, u64)>,
    /// Records consumed in it (their offsets commit with it).
    consumed: u64,
    /// When the commit timer fires: 0 when no transaction is open.
    commit_due_ns: Nanos,
}

impl Partition {
    /// The last stable offset: `read_committed` reads below it only.
    pub(super) fn stable_end(&self) -> u64 {
        self.open_first.iter().copied().min().unwrap_or(self.end())
    }
}

impl<'m, F: Features> Sim<'m, F> {
    /// Whether group `g` commits transactionally.
    pub(super) fn is_transactional(&self, g: usize) -> bool {
        self.m.groups[g]
            .log
            .as_ref()
            .is_some_and(|l| l.commit == CommitMode::Transactional)
    }

    /// Whether group `g` produces what it processes to a topic.
    pub(super) fn publishes(&self, g: usize) -> bool {
        self.m.groups[g]
            .log
            .as_ref()
            .is_some_and(|l| l.publish_to.is_some())
    }

    /// Whether group `g` reads with `isolation = "read_committed"`.
    pub(super) fn reads_committed(&self, g: usize) -> bool {
        self.m.groups[g]
            .log
            .as_ref()
            .is_some_and(|l| l.read_committed)
    }

    /// Whether a first processing by group `g` of a record produced again
    /// upstream for `cause` is a duplicate: always, except the rewrite of
    /// an aborted record that a `read_committed` group never saw.
    pub(super) fn is_rewrite(&self, g: usize, cause: Cause) -> bool {
        cause != Cause::None && !(cause == Cause::AbortedTransaction && self.reads_committed(g))
    }

    /// Member `i` of group `g` processed message `mi`: one record of it
    /// goes to the output topic (`again`: why it is produced again, or
    /// `Cause::None`), in the member's open transaction if it has one.
    pub(super) fn produce_output(&mut self, i: u32, g: usize, mi: u32, again: Cause) {
        let lm = self.m.groups[g].log.as_ref().expect("log group");
        let topic = lm.publish_to.expect("a group that publishes");
        let transactional = lm.commit == CommitMode::Transactional;
        let parts = self.m.topics[topic].partitions as u64;
        let m = &self.msgs[mi];
        let by = if m.okey != NONE { m.okey as u64 } else { m.id };
        let part = (rng::mix64(by) % parts) as usize;
        let rec = Rec {
            msg: mi,
            duplicate: false,
            rewrite: again,
            txn: if transactional {
                TxnMark::Open
            } else {
                TxnMark::Plain
            },
        };
        // The record holds its message until the log lets it go.
        self.msgs[mi].live += 1;
        if transactional {
            // Registered open before the append wakes the readers, so
            // that a read_committed reader stops below it.
            let offset = self.topics[topic].parts[part].end();
            let txn = &mut self.members[i as usize].txn;
            debug_assert!(
                txn.commit_due_ns != 0,
                "records go into an open transaction"
            );
            if !txn.first.iter().any(|&(p, _)| p as usize == part) {
                txn.first.push((part as u32, offset));
                self.topics[topic].parts[part].open_first.push(offset);
            }
            txn.records.push((part as u32, offset, self.q.now()));
        }
        self.log_append(topic, part, rec);
    }

    /// Member `i` consumed a record: a transaction opens if none is, and
    /// its commit timer is set for the next tick of the member's commit
    /// clock (every `transaction_interval` from time 0, as Kafka Streams
    /// commits every `commit.interval.ms` whether or not records came):
    /// a record waits for its commit a uniform share of the interval,
    /// half of it on average, whatever the load.
    pub(super) fn txn_consumed(&mut self, i: u32) {
        let g = self.insts[i as usize].group as usize;
        let interval_ns = self.m.groups[g]
            .log
            .as_ref()
            .expect("log group")
            .transaction_ns;
        let now = self.q.now();
        let due_ns = (now / interval_ns + 1).saturating_mul(interval_ns);
        let txn = &mut self.members[i as usize].txn;
        txn.consumed += 1;
        if txn.commit_due_ns == 0 {
            debug_assert!(txn.records.is_empty() && txn.first.is_empty());
            txn.commit_due_ns = due_ns.max(1);
            let epoch = self.insts[i as usize].epoch;
            self.q.schedule(due_ns, Ev::LogTxnCommit { inst: i, epoch });
        }
    }

    /// The commit timer of member `i`'s transaction: it commits, unless
    /// the member crashed since (`epoch`) or the transaction ended early
    /// (a rebalance committed it) and this timer is stale.
    pub(in crate::sim) fn on_txn_commit(&mut self, i: u32, epoch: u32) {
        let now = self.q.now();
        let txn = &self.members[i as usize].txn;
        if self.insts[i as usize].epoch != epoch || txn.commit_due_ns != now.max(1) {
            return;
        }
        debug_assert!(
            self.insts[i as usize].up,
            "a crash aborts and bumps the epoch"
        );
        self.commit(i, false);
        debug_assert_eq!(self.members[i as usize].txn.commit_due_ns, 0);
    }

    /// Commits member `i`'s transaction: its offsets and its records, at
    /// once. A member that is no longer in the group (or in an older
    /// generation) is fenced: its transaction aborts.
    pub(super) fn commit_transaction(&mut self, i: u32) {
        let g = self.insts[i as usize].group as usize;
        let gl = self.group_logs[g].as_ref().expect("log group");
        let mb = &self.members[i as usize];
        if !mb.in_group || mb.generation != gl.generation {
            if !mb.owned.is_empty() {
                self.stats.logs[g].add_commits_failed(1);
            }
            self.abort_transaction(i);
            return;
        }
        self.commit_offsets(i, false);
        self.end_transaction(i, TxnMark::Committed);
    }

    /// A crash or a fencing aborts member `i`'s open transaction.
    pub(super) fn abort_transaction(&mut self, i: u32) {
        self.end_transaction(i, TxnMark::Aborted);
    }

    /// Marks the transaction's records `mark`, releases the last stable
    /// offsets it held, counts it, and lets read_committed readers on.
    fn end_transaction(&mut self, i: u32, mark: TxnMark) {
        let now = self.q.now();
        let g = self.insts[i as usize].group as usize;
        let txn = std::mem::take(&mut self.members[i as usize].txn);
        if txn.commit_due_ns == 0 {
            return;
        }
        let topic = self.m.groups[g]
            .log
            .as_ref()
            .and_then(|l| l.publish_to)
            .expect("a group that publishes");
        let mut wait_ns: u128 = 0;
        for &(p, offset, written_ns) in &txn.records {
            let pt = &mut self.topics[topic].parts[p as usize];
            if let Some(r) = offset
                .checked_sub(pt.base)
                .and_then(|k| pt.records.get_mut(k as usize))
            {
                debug_assert_eq!(r.txn, TxnMark::Open);
                r.txn = mark;
            }
            wait_ns += (now - written_ns) as u128;
        }
        for &(p, offset) in &txn.first {
            let open = &mut self.topics[topic].parts[p as usize].open_first;
            let k = open.iter().position(|&o| o == offset);
            debug_assert!(k.is_some(), "an open transaction holds its partitions");
            if let Some(k) = k {
                open.swap_remove(k);
            }
        }
        let (start, end) = self.window();
        if now >= start && now <= end {
            let st = &mut self.stats.logs[g].transactions;
            let n = txn.records.len() as u64;
            if mark == TxnMark::Committed {
                st.add_committed(1);
                st.add_records_committed(n);
                st.add_commit_wait_ns(wait_ns);
            } else {
                st.add_aborted(1);
                st.add_records_aborted(n);
            }
        }
        for &(p, _) in &txn.first {
            self.wake_owners(topic, p as usize);
        }
    }

    /// A read_committed member passes over an aborted record: as if
    /// processed (its position moves on), with no attempt.
    pub(super) fn skip_aborted(&mut self, i: u32, g: usize, p: u32, offset: u64, mi: u32) {
        let gp = &mut self.group_logs[g].as_mut().expect("log group").parts[p as usize];
        gp.processed_hw = gp.processed_hw.max(offset + 1);
        let mb = &mut self.members[i as usize];
        mb.done[p as usize] = mb.done[p as usize].max(offset + 1);
        if self.msgs[mi].in_window {
            self.stats.logs[g].transactions.add_aborted_skipped(1);
        }
        self.msgs[mi].live -= 1;
        self.check_finish(mi);
    }
}
