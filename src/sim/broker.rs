//! The broker: a published copy arrives (dedup, capacity and overflow,
//! fsync), waits in its queue, and is dispatched to a consumer instance
//! with a free prefetch credit; deliveries reach the instance and wait for
//! a worker.

use super::*;

impl<'m, F: Features> Sim<'m, F> {
    #[inline(always)]
    pub(super) fn new_gen(&mut self, c: u32) -> u32 {
        let cp = &mut self.copies[c];
        cp.gen = cp.gen.wrapping_add(1);
        cp.gen
    }

    /// A timer of copy `c` became stale: compact the event queue when they pile up.
    #[inline(always)]
    pub(super) fn cancelled(&mut self) {
        if self.q.note_cancelled() {
            self.compact_queue();
        }
    }

    #[inline(never)]
    pub(super) fn compact_queue(&mut self) {
        {
            let copies = &self.copies;
            self.q.retain(|e| match *e {
                Ev::AckDeadline { copy, gen }
                | Ev::RetryDue { copy, gen }
                | Ev::TtlExpire { copy, gen }
                | Ev::CrashReturn { copy, gen } => copies.slot(copy).gen == gen,
                _ => true,
            });
        }
    }

    /// A publish reaches the broker. The publish's own reference to the
    /// message is held until the broker has dealt with it, so that nothing
    /// inside (a dropped head that was this message's other copy, say) can
    /// end the message under our feet.
    pub(super) fn on_publish_arrive(
        &mut self,
        mi: u32,
        publish: u32,
        qi: usize,
        serial: u32,
        persistent: bool,
        from_producer: bool,
    ) {
        self.publish_arrive_inner(mi, publish, qi, serial, persistent, from_producer);
        self.msg_unref(mi);
    }

    pub(super) fn publish_arrive_inner(
        &mut self,
        mi: u32,
        publish: u32,
        qi: usize,
        serial: u32,
        persistent: bool,
        from_producer: bool,
    ) {
        let now = self.q.now();
        let producer = self.msgs[mi].producer as usize;
        if F::FAULTS && from_producer && self.prods[producer].epoch != self.msgs[mi].pub_epoch {
            // The producer crashed while this publish was on the wire.
            self.publish_lost(mi, Cause::ProducerCrash);
            return;
        }
        if F::FAULTS && !self.broker_up {
            self.publish_refused(mi, publish, from_producer);
            return;
        }
        if self.msgs[mi].in_window {
            self.stats.queues[qi].add_offered(1);
        }
        let qm = &self.m.queues[qi];
        // Broker-side publish deduplication (SQS FIFO, NATS Nats-Msg-Id).
        if F::PUBLISHER {
            let id = self.msgs[mi].id;
            if let Some(dedup) = &mut self.queues[qi].dedup {
                if dedup.contains(now, id) {
                    if self.msgs[mi].in_window {
                        self.stats.add_duplicates_prevented(1);
                    }
                    if from_producer {
                        self.send_confirm(mi, publish, true);
                    }
                    self.check_finish(mi);
                    return;
                }
                dedup.insert(now, id);
            }
        }
        let full = qm
            .capacity
            .is_some_and(|cap| self.queues[qi].ready_len >= cap && !self.has_credit(qi));
        if full && !self.publish_overflow(mi, publish, qi, serial, persistent, from_producer) {
            return;
        }
        let c = self.new_copy(mi, qi, serial, persistent, now);
        // A wire duplicate (the serial's top bit), or a producer's retry:
        // a copy beside another, and the cause of any duplicate the two make.
        if F::NETWORK && serial & 0x8000_0000 != 0 {
            self.copies[c].origin = Cause::Network;
            self.msgs[mi].extra_origin = Cause::Network;
        } else if F::PUBLISHER && publish > 0 && from_producer {
            self.copies[c].origin = Cause::ProducerRetry;
            self.msgs[mi].extra_origin = Cause::ProducerRetry;
        }
        if F::TRANSACTIONS && !from_producer && self.is_compensation_queue(qi) {
            self.trace_compensation_accepted(c, qi);
        } else {
            self.trace(
                c,
                "accepted",
                if from_producer {
                    "published by the producer"
                } else {
                    "published by the previous stage"
                },
                None,
            );
        }
        self.enqueue_ready(c, false);
        if F::PUBLISHER && from_producer {
            self.confirm_accepted(mi, publish, qi, persistent, now);
        }
        self.dispatch(qi);
    }

    /// A publish to a broker that is down: a producer with confirms hears
    /// of it (after its reconnect interval), any other publish is lost.
    #[cold]
    fn publish_refused(&mut self, mi: u32, publish: u32, from_producer: bool) {
        // Connection refused: a producer with confirms sees the error.
        if from_producer
            && self.msgs[mi].producer_holds
            && self.m.producers[self.msgs[mi].producer as usize].confirm != Confirm::None
        {
            // The client learns it after its reconnect interval: a
            // refused connection is not free, and a retry loop with no
            // backoff must still let time pass.
            self.msgs[mi].live += 1;
            self.q.schedule_in(
                RECONNECT_INTERVAL_NS,
                Ev::Confirm {
                    msg: mi,
                    publish,
                    ok: false,
                },
            );
            if self.msgs[mi].lost_cause == Cause::None {
                self.msgs[mi].lost_cause = Cause::BrokerDown;
            }
        } else {
            self.msgs[mi].lost_cause = Cause::BrokerDown;
            self.msgs[mi].flags |= F_LOST;
        }
        self.check_finish(mi);
    }

    /// A publish to a full queue, by its overflow policy: whether it still
    /// goes on to the queue (drop-head made room).
    fn publish_overflow(
        &mut self,
        mi: u32,
        publish: u32,
        qi: usize,
        serial: u32,
        persistent: bool,
        from_producer: bool,
    ) -> bool {
        let now = self.q.now();
        let qm = &self.m.queues[qi];
        match qm.overflow {
            Overflow::RejectPublish => {
                if self.msgs[mi].in_window {
                    self.stats.queues[qi].add_blocked(1);
                }
                let pm = &self.m.producers[self.msgs[mi].producer as usize];
                if from_producer && self.msgs[mi].producer_holds && pm.confirm != Confirm::None {
                    self.send_confirm(mi, publish, false);
                    self.msgs[mi].flags |= F_REJECTED;
                } else if from_producer {
                    self.msgs[mi].flags |= F_REJECTED;
                } else {
                    self.msgs[mi].lost_cause = Cause::Overflow;
                    self.msgs[mi].flags |= F_LOST;
                }
                self.check_finish(mi);
                false
            }
            Overflow::DropHead => {
                if let Some(old) = self.pop_ready(qi) {
                    if self.msgs[mi].in_window {
                        self.stats.queues[qi].add_blocked(1);
                    }
                    self.end_visit(qi, old);
                    if self.m.queues[qi].dropped_head_dead_lettered {
                        self.dead_letter(old, Cause::Overflow, st::QUEUED);
                    } else {
                        self.copy_lost(old, Cause::Overflow, st::QUEUED);
                    }
                }
                true
            }
            Overflow::DeadLetter => {
                if self.msgs[mi].in_window {
                    self.stats.queues[qi].add_blocked(1);
                }
                // Confirm first: dead-lettering may end the message.
                if from_producer {
                    self.send_confirm(mi, publish, true);
                }
                let c = self.new_copy(mi, qi, serial, persistent, now);
                self.dead_letter(c, Cause::Overflow, st::QUEUED);
                false
            }
        }
    }

    /// The confirm of an accepted publish: none, at once, or at the next
    /// fsync when the queue syncs on a timer and the message is persistent.
    fn confirm_accepted(&mut self, mi: u32, publish: u32, qi: usize, persistent: bool, now: Nanos) {
        let qm = &self.m.queues[qi];
        let pm = &self.m.producers[self.msgs[mi].producer as usize];
        let fsync = qm.fsync_ns;
        match pm.confirm {
            Confirm::None => {}
            Confirm::AfterFsync if fsync > 0 && qm.durable && persistent => {
                let boundary = self.next_fsync(qi, now);
                self.msgs[mi].live += 1;
                self.q.schedule(
                    boundary,
                    Ev::SendConfirm {
                        msg: mi,
                        publish,
                        broker_epoch: self.broker_epoch,
                    },
                );
            }
            Confirm::OnAccept | Confirm::AfterFsync => self.send_confirm(mi, publish, true),
        }
    }

    /// The first fsync of queue `qi` after `now`. Fsyncs run every
    /// `fsync_interval` from a phase drawn once per run, so that a crash
    /// at a round time does not fall on an fsync by construction.
    pub(super) fn next_fsync(&self, qi: usize, now: Nanos) -> Nanos {
        let f = self.m.queues[qi].fsync_ns.max(1);
        let phase = self.queues[qi].fsync_phase_ns % f;
        if now < phase {
            return phase;
        }
        ((now - phase) / f + 1)
            .saturating_mul(f)
            .saturating_add(phase)
    }

    #[inline(always)]
    pub(super) fn new_copy(
        &mut self,
        mi: u32,
        qi: usize,
        serial: u32,
        persistent: bool,
        now: Nanos,
    ) -> u32 {
        let m = &self.msgs[mi];
        let p = &self.m.producers[m.producer as usize];
        let mut expire = Nanos::MAX;
        if F::EXPIRY {
            if let Some(t) = p.ttl_ns {
                expire = expire.min(m.publish_ns.saturating_add(t));
            }
            if let Some(t) = self.m.queues[qi].ttl_ns {
                expire = expire.min(now.saturating_add(t));
            }
        }
        let fate_key = rng::combine(m.key, qi as u64);
        let attempt_prefix = rng::prefix(self.domain_keys[Domain::AttemptFate as usize], fate_key);
        let c = self.copies.insert(Copy {
            msg: mi,
            queue: qi as u32,
            gen: 0,
            state: CState::Ready,
            deliveries: 0,
            delivery: 0,
            inst: NONE,
            holders: 0,
            visit_start_ns: now,
            accepted_ns: now,
            expire_ns: expire,
            persistent,
            attempts: 0,
            first_attempt_ns: now,
            prev_delay_ns: 0,
            serial,
            hops: 2,
            dup_cause: Cause::None,
            origin: Cause::None,
            processed: false,
            fate_key,
            attempt_prefix,
            uncounted: 0,
            delay_slot_kept: false,
        });
        self.msgs[mi].live += 1;
        c
    }

    /// Puts copy `c` in its queue's ready list, at the head (a redelivery,
    /// back at its original place) or at the tail.
    #[inline(always)]
    pub(super) fn enqueue_ready(&mut self, c: u32, head: bool) {
        let now = self.q.now();
        let qi = self.copies[c].queue as usize;
        self.stats.advance(qi, now);
        let g = self.new_gen(c);
        let cp = &mut self.copies[c];
        cp.state = CState::Ready;
        cp.visit_start_ns = now;
        let expire = cp.expire_ns;
        let in_window = self.msgs[cp.msg].in_window;
        let okey = self.msgs[cp.msg].okey;
        let qs = &mut self.queues[qi];
        let lane = if F::KEYS && okey != NONE && !qs.lanes.is_empty() {
            let lane = &mut qs.lanes[okey as usize];
            if lane.active == NONE || lane.active == c {
                lane.active = c;
                None
            } else {
                Some(lane)
            }
        } else {
            None
        };
        match (lane, head) {
            // Behind an earlier message of its key (FIFO by key).
            (Some(lane), _) => {
                if head {
                    lane.waiting.push_front((c, g));
                } else {
                    lane.waiting.push_back((c, g));
                }
                lane.n_waiting += 1;
                if lane.n_waiting == 1 {
                    lane.blocked_since_ns = now;
                }
            }
            (None, true) => qs.ready.push_front((c, g)),
            (None, false) => qs.ready.push_back((c, g)),
        }
        qs.ready_len += 1;
        let qc = self.stats.grow(qi, 1, 0);
        if in_window {
            qc.visits += 1;
        }
        if F::EXPIRY && expire != Nanos::MAX && self.m.queues[qi].ttl_anywhere {
            self.q
                .schedule(expire.max(now), Ev::TtlExpire { copy: c, gen: g });
        }
    }

    /// Takes the first live copy off the ready list.
    #[inline(always)]
    pub(super) fn pop_ready(&mut self, qi: usize) -> Option<u32> {
        let now = self.q.now();
        while let Some((c, g)) = self.queues[qi].ready.pop_front() {
            let x = self.copies.slot(c);
            if x.gen == g && !x.vacant() && x.state == CState::Ready {
                self.stats.advance(qi, now);
                self.queues[qi].ready_len -= 1;
                self.stats.queues[qi].sub_ready(1);
                return Some(c);
            }
        }
        None
    }

    #[inline(always)]
    pub(super) fn has_credit(&mut self, qi: usize) -> bool {
        while let Some(&credit) = self.queues[qi].credits.front() {
            // Only faults take an instance down or cut it off, and only
            // they refill credits after the start (a new credit epoch):
            // without them, every credit is good (asserted).
            if !F::FAULTS {
                debug_assert!(
                    self.credit_is_good(credit),
                    "a stale credit in a run without faults"
                );
                return true;
            }
            if self.credit_is_good(credit) {
                return true;
            }
            self.queues[qi].credits.pop_front();
        }
        false
    }

    /// Whether a credit (instance, credit epoch) can take a delivery: its
    /// instance is up, connected, and has not been given fresh credits since.
    #[inline(always)]
    pub(super) fn credit_is_good(&self, (i, e): (u32, u32)) -> bool {
        let inst = &self.insts[i as usize];
        inst.up && !inst.partitioned && inst.credit_epoch == e
    }

    /// Gives instance `i` fresh credits for every free prefetch slot.
    pub(super) fn refill_credits(&mut self, i: u32) {
        debug_assert!(
            !self.is_log_inst(i),
            "a topic consumer group's member has no prefetch credits"
        );
        let inst = &mut self.insts[i as usize];
        inst.credit_epoch = inst.credit_epoch.wrapping_add(1);
        if !inst.up || inst.partitioned || inst.draining {
            return;
        }
        let g = &self.m.groups[inst.group as usize];
        let free = if inst.push_all {
            1
        } else {
            g.prefetch
                .saturating_sub(inst.held + inst.acks_on_wire + inst.delays_held)
        };
        let e = inst.credit_epoch;
        for _ in 0..free {
            self.queues[g.queue].credits.push_back((i, e));
        }
    }

    /// Hands ready messages to consumers with free prefetch slots,
    /// round-robin.
    #[inline(always)]
    pub(super) fn dispatch(&mut self, qi: usize) {
        self.dispatch_from(qi, None);
    }

    /// [`Sim::dispatch`], starting with `held`: a credit its caller took
    /// back from a slot it just freed while the credit list was empty. It
    /// is used first, as if it stood alone at the front of the list, and
    /// goes on the list if no copy takes it (or before an expired copy is
    /// dealt with, where it would have been on the list).
    #[inline(always)]
    pub(super) fn dispatch_from(&mut self, qi: usize, mut held: Option<(u32, u32)>) {
        // What `has_credit` would check of it on the list.
        debug_assert!(
            held.is_none_or(|credit| self.credit_is_good(credit)),
            "a held credit is for an instance that can take a delivery"
        );
        debug_assert!(
            held.is_none_or(|(i, _)| !self.insts[i as usize].push_all),
            "a push-all instance's one credit never leaves the list through a freed slot"
        );
        if !F::FAULTS || self.broker_up {
            let now = self.q.now();
            while self.queues[qi].ready_len > 0 && (held.is_some() || self.has_credit(qi)) {
                let Some(c) = self.pop_ready(qi) else { break };
                if F::EXPIRY && self.copies[c].expire_ns <= now {
                    if let Some(credit) = held.take() {
                        self.queues[qi].credits.push_back(credit);
                    }
                    self.end_visit(qi, c);
                    self.expire(c);
                    continue;
                }
                let (i, credit_epoch) = match held.take() {
                    Some(credit) => credit,
                    None => match self.queues[qi].credits.pop_front() {
                        Some(credit) => credit,
                        None => break,
                    },
                };
                self.deliver(c, i);
                if self.insts[i as usize].push_all {
                    // Its one credit goes round again (`free_slot` returns none).
                    self.queues[qi].credits.push_back((i, credit_epoch));
                }
            }
        }
        if let Some(credit) = held {
            self.queues[qi].credits.push_back(credit);
        }
    }

    pub(super) fn deliver(&mut self, c: u32, i: u32) {
        let now = self.q.now();
        let g = self.insts[i as usize].group as usize;
        let auto = self.m.groups[g].ack_on_receive;
        let (gen, mi, qi, visit_start, deliveries, serial, hop_no) = {
            let cp = &mut self.copies[c];
            cp.gen = cp.gen.wrapping_add(1);
            let gen = cp.gen;
            cp.deliveries += 1;
            cp.delivery = gen;
            cp.inst = i;
            cp.holders += 1;
            cp.state = if auto {
                CState::Consumer
            } else {
                CState::InFlight
            };
            cp.hops = cp.hops.wrapping_add(1);
            (
                gen,
                cp.msg,
                cp.queue as usize,
                cp.visit_start_ns,
                cp.deliveries,
                cp.serial,
                cp.hops as u32,
            )
        };
        let m = &mut self.msgs[mi];
        m.live += 1;
        let in_window = m.in_window;
        if F::FAULTS {
            self.crash_redelivered(c, mi, in_window);
        }
        if self.tracing() {
            let detail = format!(
                "to {}#{} (delivery {})",
                self.m.groups[g].name,
                self.group_insts[g]
                    .iter()
                    .position(|&x| x == i)
                    .unwrap_or(0),
                deliveries
            );
            self.trace(c, "delivered", &detail, None);
        }
        if in_window {
            self.stats.add_delivered(1);
            if deliveries > 1 {
                self.stats.add_redelivered(1);
            }
            let visit_in_window = self.stats.in_window(visit_start);
            let qc = &mut self.stats.queues[qi];
            qc.deliveries += 1;
            if visit_in_window {
                qc.visit_wait_ns += (now - visit_start) as u128;
                if now > visit_start {
                    qc.waited += 1;
                }
            }
            self.stats.transition(st::QUEUED, st::IN_FLIGHT);
        }
        // `dispatch` took the copy off the ready list at this instant, and
        // that brought the queue's areas up to now.
        self.stats.debug_assert_current(qi, now);
        self.stats.grow(qi, 0, 1);
        let inst = &mut self.insts[i as usize];
        inst.held += 1;
        let epoch = inst.epoch;
        if !auto {
            if let Some(t) = self.m.queues[qi].ack_timeout_ns {
                self.q.schedule_in(t, Ev::AckDeadline { copy: c, gen });
            }
        }
        match self.hop(mi, serial, hop_no, Link::Delivery) {
            Hop::Lost => {
                // The delivery vanished: the consumer never sees it. Its slot
                // is free again; the broker waits for the ack timeout.
                self.copies[c].dup_cause = Cause::Network;
                self.release_delivery(i, c);
                if auto {
                    self.copy_lost(c, Cause::Network, st::IN_FLIGHT);
                } else if self.m.queues[qi].ack_timeout_ns.is_none() {
                    self.redeliver(c, Cause::Network);
                }
                self.dispatch(qi);
            }
            Hop::After(lat, _) => {
                if lat == 0 {
                    // An instant wire: the consumer has it now, and nothing
                    // can happen to it on the way.
                    self.receive(i, (c, gen, visit_start));
                } else {
                    self.insts[i as usize].incoming.push((c, gen, visit_start));
                    self.deliver_ev(
                        lat,
                        Ev::Deliver {
                            copy: c,
                            delivery: gen,
                            inst: i,
                            epoch,
                        },
                    );
                }
            }
        }
    }

    /// The consumer no longer holds delivery of copy `c`: its prefetch slot
    /// frees (a credit goes back to the queue), and the copy's record may end.
    #[inline(always)]
    pub(super) fn release_delivery(&mut self, i: u32, c: u32) {
        let qi = self.copies[c].queue as usize;
        if let Some(credit) = self.free_slot(i, c) {
            self.queues[qi].credits.push_back(credit);
        }
    }

    /// [`Sim::release_delivery`] that returns the freed slot's credit to
    /// the caller instead of to the queue: `None` when the instance cannot
    /// take deliveries (down, or cut off by a partition).
    #[inline(always)]
    pub(super) fn free_slot(&mut self, i: u32, c: u32) -> Option<(u32, u32)> {
        let qi = self.copies[c].queue as usize;
        // Both callers brought the queue's areas up to now (`dispatch` for
        // a lost delivery, `on_service_done` at the end of an attempt).
        self.stats.debug_assert_current(qi, self.q.now());
        self.stats.queues[qi].sub_held(1);
        let inst = &mut self.insts[i as usize];
        inst.held -= 1;
        let credit = (!inst.push_all
            && (!F::FAULTS || (inst.up && !inst.partitioned && !inst.draining)))
            .then_some((i, inst.credit_epoch));
        self.unhold(c);
        credit
    }

    /// A worker of instance `i` finished with a delivery from queue `qi`,
    /// and its slot's `credit` came back: what `release_delivery`, then
    /// `try_start(i)`, then `dispatch(qi)` do. In the common case nothing
    /// waits in the instance's buffer (`try_start` has nothing to start)
    /// and no other credit is queued, so `dispatch` would find this credit
    /// alone at the front of the list, and valid (the instance is up,
    /// connected, and its credit epoch unchanged since `free_slot`): it is
    /// handed to `dispatch_from` directly instead of through the list.
    #[inline(always)]
    pub(super) fn slot_freed(&mut self, i: u32, qi: usize, credit: Option<(u32, u32)>) {
        if let Some(credit) = credit {
            if self.queues[qi].credits.is_empty() && self.insts[i as usize].buffer.is_empty() {
                self.dispatch_from(qi, Some(credit));
                return;
            }
            self.queues[qi].credits.push_back(credit);
        }
        self.try_start(i);
        self.dispatch(qi);
    }

    #[inline(always)]
    pub(super) fn unhold(&mut self, c: u32) {
        let cp = &mut self.copies[c];
        debug_assert!(cp.holders > 0);
        cp.holders -= 1;
        let mi = cp.msg;
        let free = cp.holders == 0 && cp.state == CState::Gone;
        if free {
            self.copies.remove(c);
        }
        self.msg_unref(mi);
    }

    /// Drops one reference to live message `mi` (a copy, a hold): the
    /// message ends with its last one.
    #[inline(always)]
    pub(super) fn msg_unref(&mut self, mi: u32) {
        let m = &mut self.msgs[mi];
        debug_assert!(m.live > 0 && m.live != VACANT);
        m.live -= 1;
        if m.live == 0 {
            self.finish_msg(mi);
        }
    }

    /// The visit of a copy that leaves the queue without an attempt ends.
    #[inline]
    pub(super) fn end_visit(&mut self, qi: usize, c: u32) {
        let in_window = self.msgs[self.copies[c].msg].in_window;
        self.stats
            .end_visit(qi, self.copies[c].visit_start_ns, self.q.now(), in_window);
    }

    #[inline(always)]
    pub(super) fn on_deliver(&mut self, c: u32, delivery: u32, i: u32, epoch: u32) {
        let inst = &mut self.insts[i as usize];
        if inst.epoch != epoch {
            // Crashed meanwhile; the crash already freed the slot.
            self.unhold(c);
            return;
        }
        let Some(pos) = inst
            .incoming
            .iter()
            .position(|x| x.0 == c && x.1 == delivery)
        else {
            return;
        };
        let entry = inst.incoming.swap_remove(pos);
        self.receive(i, entry);
    }

    /// Instance `i` receives a delivery: (copy, delivery, visit start).
    #[inline(always)]
    pub(super) fn receive(&mut self, i: u32, entry: (u32, u32, Nanos)) {
        let g = self.insts[i as usize].group as usize;
        if F::LEASES {
            self.start_lease(i, g, entry);
        }
        let reseq = F::KEYS && self.groups[g].resequence.is_some();
        let inst = &mut self.insts[i as usize];
        let conc = self.m.groups[g].concurrency as usize;
        let up = !F::FAULTS || (inst.up && inst.paused_until_ns <= self.q.now());
        if up && inst.buffer.is_empty() && inst.working.len() < conc && !reseq {
            // A free worker takes it at once (what try_start would do;
            // a resequencer may hold it back, so it goes through try_start).
            inst.working.push(entry);
            self.begin_attempt(i, entry.0, entry.1);
            return;
        }
        inst.buffer.push_back(entry);
        self.try_start(i);
    }

    #[inline(always)]
    pub(super) fn try_start(&mut self, i: u32) {
        loop {
            let inst = &mut self.insts[i as usize];
            let conc = self.m.groups[inst.group as usize].concurrency as usize;
            if (F::FAULTS && (!inst.up || inst.paused_until_ns > self.q.now()))
                || inst.working.len() >= conc
            {
                return;
            }
            let Some(entry) = inst.buffer.pop_front() else {
                return;
            };
            if F::KEYS && self.reseq_hold(i, entry) {
                continue;
            }
            self.insts[i as usize].working.push(entry);
            self.begin_attempt(i, entry.0, entry.1);
        }
    }
}
