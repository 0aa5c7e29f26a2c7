//! Leases and the broker-specific rules of returns (the `LEASES` part of
//! the full build, see `features.rs`).
//!
//! - **Lease extension** (`consumer.extend_lease`): an instance that holds a
//!   delivery (received, waiting for a worker or being processed) asks the
//!   broker every `every` to set the delivery's deadline `by` from when the
//!   request arrives (SQS `ChangeMessageVisibility`, Pub/Sub
//!   `modifyAckDeadline`, JetStream `+WPI`), until it acks or nacks, or
//!   until `max` after it received it. A request travels like an ack: it
//!   can be lost (`network.ack_loss`) or late, and a partitioned instance's
//!   requests never arrive. A crashed instance stops asking, so its
//!   deliveries come back one lease after its last extension, not after a
//!   long ack timeout.
//! - **Delayed crash returns** (`crash_requeue` as a duration): a crashed
//!   consumer's deliveries go back to the queue that long after the crash
//!   (Kafka hands a dead member's partitions over after
//!   `session.timeout.ms` and the rebalance).
//! - **Expired deadlines through the retry backoff** (Pub/Sub): an expired
//!   ack deadline waits the consumer's retry policy before the redelivery,
//!   as a nack does.
//! - **Uncounted returns** (RabbitMQ 4.3 quorum queues): nacks and
//!   consumer-timeout returns do not count toward `max_deliveries`; rejects
//!   (`retry_mode = "reject-requeue"`) and crashes do.
//!
//! The deadline of a delivery is still one `AckDeadline` event per timer:
//! each extension that arrives records the new deadline for the delivery
//! and schedules an event at it; an event finding a later deadline recorded
//! does nothing (the later event will come).

use super::*;

impl<'m, F: Features> Sim<'m, F> {
    /// Instance `i` of group `g` received a delivery: its lease timer starts.
    #[inline]
    pub(super) fn start_lease(&mut self, i: u32, g: usize, entry: (u32, u32, Nanos)) {
        let Some(lease) = self.m.groups[g].extend_lease else {
            return;
        };
        let epoch = self.insts[i as usize].epoch;
        self.q.schedule_in(
            lease.every_ns,
            Ev::LeaseTick {
                inst: i,
                epoch,
                copy: entry.0,
                delivery: entry.1,
                received_ns: self.q.now(),
            },
        );
    }

    /// Whether instance `i` still holds delivery `d` of copy `c` (buffered,
    /// being processed, or held back by its group's resequencer).
    fn holds_delivery(&self, i: u32, c: u32, d: u32) -> bool {
        let inst = &self.insts[i as usize];
        let mine = |x: &(u32, u32, Nanos)| x.0 == c && x.1 == d;
        if inst.working.iter().any(mine) || inst.buffer.iter().any(mine) {
            return true;
        }
        let g = inst.group as usize;
        self.groups[g].resequence.as_ref().is_some_and(|r| {
            r.held
                .values()
                .any(|h| h.0 == i && h.1 == inst.epoch && h.2 == c && h.3 == d)
        })
    }

    /// The lease timer of a held delivery: ask for an extension, and set
    /// the next timer, while the instance is up, still holds the delivery,
    /// and the lease has not reached its `max`.
    #[inline(never)]
    pub(super) fn on_lease_tick(&mut self, i: u32, epoch: u32, c: u32, d: u32, received_ns: Nanos) {
        let inst = &self.insts[i as usize];
        if inst.epoch != epoch || !inst.up || !self.holds_delivery(i, c, d) {
            return; // crashed (it stops extending), or done with it
        }
        if F::FAULTS && inst.paused_until_ns > self.q.now() {
            // Paused (stop-the-world): the heartbeat waits for the pause's end.
            let until = inst.paused_until_ns;
            let event = Ev::LeaseTick {
                inst: i,
                epoch,
                copy: c,
                delivery: d,
                received_ns,
            };
            self.q.schedule(until, event);
            return;
        }
        let g = inst.group as usize;
        let Some(lease) = self.m.groups[g].extend_lease else {
            return;
        };
        let now = self.q.now();
        let by_ns = match lease.max_ns {
            Some(max) => received_ns
                .saturating_add(max)
                .saturating_sub(now)
                .min(lease.by_ns),
            None => lease.by_ns,
        };
        if by_ns == 0 {
            return; // the longest lease is reached: the client stops extending
        }
        self.send_extension(i, epoch, c, d, by_ns);
        self.q.schedule_in(
            lease.every_ns,
            Ev::LeaseTick {
                inst: i,
                epoch,
                copy: c,
                delivery: d,
                received_ns,
            },
        );
    }

    /// Sends an extension request for delivery `d` of copy `c` on the
    /// consumer-to-broker link, as an ack travels.
    fn send_extension(&mut self, i: u32, epoch: u32, c: u32, d: u32, by_ns: Nanos) {
        if F::FAULTS && self.insts[i as usize].partitioned {
            return; // cut off: the request never arrives
        }
        let cp = &mut self.copies[c];
        cp.hops = cp.hops.wrapping_add(1);
        let (mi, serial, hop_no) = (cp.msg, cp.serial, cp.hops as u32);
        let hop = self.hop(mi, serial, hop_no, Link::Ack);
        if self.msgs[mi].in_window && !matches!(hop, Hop::Lost) {
            // A request of `[cost]`: `ChangeMessageVisibility` is billed.
            let qi = self.copies[c].queue as usize;
            self.stats.queues[qi].add_lease_extensions(1);
        }
        match hop {
            Hop::Lost => {
                // The draw counted a lost ack; this was an extension.
                if self.msgs[mi].in_window {
                    self.stats.sub_acks_lost(1);
                }
            }
            Hop::After(0, _) => self.on_lease_extend(c, d, i, epoch, by_ns),
            Hop::After(lat, _) => self.deliver_ev(
                lat,
                Ev::LeaseExtend {
                    copy: c,
                    delivery: d,
                    inst: i,
                    epoch,
                    by_ns,
                },
            ),
        }
    }

    /// An extension reaches the broker: if the delivery is still out (and
    /// its consumer's connection alive), its deadline becomes `by_ns` from now.
    #[inline(never)]
    pub(super) fn on_lease_extend(&mut self, c: u32, d: u32, i: u32, epoch: u32, by_ns: Nanos) {
        if F::FAULTS && (self.insts[i as usize].epoch != epoch || !self.broker_up) {
            return; // it died with the connection, or the broker is down
        }
        let x = self.copies.slot(c);
        if x.vacant() || x.gen != d || x.state != CState::InFlight {
            return; // the delivery already ended: a stale extension
        }
        let deadline = self.q.now().saturating_add(by_ns);
        if self.leases.len() <= c as usize {
            self.leases.resize(c as usize + 1, (0, 0));
        }
        self.leases[c as usize] = (d, deadline);
        self.q
            .schedule(deadline, Ev::AckDeadline { copy: c, gen: d });
        self.trace(c, "lease extended", "", Some(by_ns));
    }

    /// The lease rules at an ack deadline of delivery `gen` of copy `c`:
    /// true when they dealt with it (a later extension holds the delivery;
    /// or the expiry goes through the retry backoff), false when the
    /// delivery is redelivered as usual.
    #[inline(never)]
    pub(super) fn lease_deadline(&mut self, c: u32, gen: u32) -> bool {
        let now = self.q.now();
        let extended = self
            .leases
            .get(c as usize)
            .is_some_and(|&(d, deadline)| d == gen && deadline > now);
        if extended {
            return true;
        }
        self.count_return(c);
        let qi = self.copies[c].queue as usize;
        if !self.m.queues[qi].expiry_backoff {
            return false;
        }
        let Some(delay_ns) = self.expiry_backoff_ns(c) else {
            return false;
        };
        self.trace(
            c,
            "ack deadline expired: redelivered after the backoff",
            "",
            Some(delay_ns),
        );
        if self.copies[c].dup_cause == Cause::None {
            self.copies[c].dup_cause = Cause::AckTimeout;
        }
        self.delay(c, delay_ns);
        true
    }

    /// The retry policy's delay after the expired deadline of copy `c`, from
    /// the group of the instance that held it (Pub/Sub applies its retry
    /// policy to expiries as to nacks). `None` without a policy.
    fn expiry_backoff_ns(&mut self, c: u32) -> Option<Nanos> {
        let i = self.copies[c].inst;
        if i == NONE {
            return None;
        }
        let g = self.insts[i as usize].group as usize;
        let policy = self.m.groups[g].retry.as_ref()?;
        let cp = &self.copies[c];
        let retry = cp.deliveries;
        // A stream of its own (the high bit), apart from the failures' backoffs.
        let mut r = self.stream(Domain::Backoff, cp.fate_key, (1 << 32) | u64::from(retry));
        let d = policy.delay_ns(retry, cp.prev_delay_ns, &mut r);
        self.copies[c].prev_delay_ns = d;
        Some(d)
    }

    /// A return that RabbitMQ 4.3 does not count toward the delivery limit
    /// (a nack, or a consumer timeout).
    #[inline]
    pub(super) fn count_return(&mut self, c: u32) {
        if F::LEASES && self.m.queues[self.copies[c].queue as usize].nacks_uncounted {
            let cp = &mut self.copies[c];
            cp.uncounted += 1;
            // One return per delivery: its nack, or its deadline, not both.
            debug_assert!(
                cp.uncounted <= cp.deliveries,
                "more uncounted returns than deliveries"
            );
        }
    }

    /// A crashed consumer held delivery `d` of copy `c`: where the queue
    /// returns such deliveries after a delay, the return is scheduled.
    #[inline(never)]
    pub(super) fn crash_return_later(&mut self, c: u32, d: u32) {
        let qi = self.copies[c].queue as usize;
        if let Some(after) = self.m.queues[qi].crash_requeue_after_ns {
            self.q
                .schedule_in(after, Ev::CrashReturn { copy: c, gen: d });
        }
    }

    #[inline(never)]
    pub(super) fn on_crash_return(&mut self, c: u32, gen: u32) {
        let x = self.copies.slot(c);
        if x.vacant() || x.gen != gen || x.state != CState::InFlight {
            return;
        }
        if F::FAULTS && !self.broker_up {
            return; // the restart requeues it
        }
        self.trace(
            c,
            "returned after the crashed consumer's session timeout",
            "",
            None,
        );
        self.redeliver(c, Cause::ConsumerCrash);
    }
}
