//! Consumers: a worker processes a delivery (service time, failures,
//! poison messages, idempotency, budgets and breakers) and settles it:
//! ack, nack, delayed retry or reject, sent back over the network.

use super::*;

impl<'m, F: Features> Sim<'m, F> {
    /// A worker of instance `i` starts processing delivery `delivery` of copy `c`.
    #[inline(always)]
    pub(super) fn begin_attempt(&mut self, i: u32, c: u32, delivery: u32) {
        let now = self.q.now();
        let g = self.insts[i as usize].group as usize;
        let gm = &self.m.groups[g];
        let qi = gm.queue;
        let mi = self.copies[c].msg;
        let epoch = self.insts[i as usize].epoch;
        // Idempotent consumer: a message processed within the window is
        // recognised and acked without processing.
        if F::STRATEGIES {
            let id = self.msgs[mi].id.wrapping_mul(64).wrapping_add(qi as u64);
            if let Some(store) = &mut self.groups[g].idempotency {
                if store.contains(now, id) {
                    if self.msgs[mi].in_window {
                        self.stats.add_duplicates_prevented(1);
                    }
                    self.settle_without_work(i, epoch, c, delivery, false);
                    return;
                }
            }
        }
        if self.copies[c].attempts == 0 {
            self.copies[c].first_attempt_ns = now;
            if F::STRATEGIES {
                if let Some(b) = &mut self.groups[g].budget {
                    b.on_request(now);
                }
            }
        }
        // Circuit breaker around the downstream call.
        if F::STRATEGIES {
            if let Some(br) = &mut self.insts[i as usize].breaker {
                if !br.try_acquire(now) {
                    if self.msgs[mi].in_window {
                        self.stats.add_breaker_rejected(1);
                    }
                    self.settle_without_work(i, epoch, c, delivery, true);
                    return;
                }
            }
        }
        let k = self.msgs[mi].attempts;
        self.msgs[mi].attempts += 1;
        let (key, ap) = (self.copies[c].fate_key, self.copies[c].attempt_prefix);
        let poison = F::POISON
            && gm.poison > 0.0
            && unit(&mut self.stream(Domain::MessageFate, key, 0)) < gm.poison;
        let gs = &self.groups[g];
        // The attempt's stream: u_fail, u_out, u_nonret, then the service
        // time. A draw that cannot matter (its `u < 0` would be false) is
        // stepped over rather than drawn (the generator's state advances,
        // nothing is computed from its output): the service time is always
        // the 4th draw. When none of the three can matter (no failure, no
        // outage, not poison), the stream starts after them.
        let outage = F::FAULTS && gs.outage_failure > 0.0;
        let (failed, nonretryable, mut r) = if poison || gm.failure > 0.0 || outage {
            let mut r = rng::stream_at(ap, k as u64);
            let u_fail = unit(&mut r);
            let out = if outage {
                unit(&mut r) < gs.outage_failure
            } else {
                rng::skip(&mut r);
                false
            };
            let failed = poison || u_fail < gm.failure || out;
            let nonretryable = if F::POISON && failed && gm.non_retryable > 0.0 {
                unit(&mut r) < gm.non_retryable
            } else {
                rng::skip(&mut r);
                false
            };
            (failed, nonretryable, r)
        } else {
            (false, false, rng::stream_at_after::<3>(ap, k as u64))
        };
        let base = gm.service.sample_secs(&mut r);
        // Only a fault slows a group down (`slowdown` is 1 otherwise).
        let scaled = if F::FAULTS { base * gs.slowdown } else { base };
        let work_ns = crate::time::secs_to_ns(scaled);
        let fault_window = F::FAULTS && (outage || gs.slowdown != 1.0);
        if poison || fault_window {
            self.mark_attempt(mi, poison, fault_window);
        }
        self.stats.advance(qi, now);
        self.stats.queues[qi].add_busy(1);
        self.insts[i as usize].busy += 1;
        if self.tracing() {
            // Only when tracing: the detail string costs an allocation. How
            // it ends is traced when it ends (a crash may cut it short).
            self.trace(c, "attempt", &format!("attempt {}", k + 1), Some(work_ns));
        }
        self.q.schedule_in(
            work_ns,
            Ev::ServiceDone {
                inst: i,
                epoch,
                copy: c,
                delivery,
                failed,
                nonretryable,
                work_ns,
                counted: true,
            },
        );
    }

    /// Ends an attempt that takes no worker time: a duplicate the
    /// idempotency store recognised (acked, not processed), or a call the
    /// open breaker rejected (failed at once).
    pub(super) fn settle_without_work(
        &mut self,
        i: u32,
        epoch: u32,
        c: u32,
        delivery: u32,
        failed: bool,
    ) {
        self.q.schedule_in(
            0,
            Ev::ServiceDone {
                inst: i,
                epoch,
                copy: c,
                delivery,
                failed,
                nonretryable: false,
                work_ns: if failed { 0 } else { u64::MAX },
                counted: false,
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_service_done(
        &mut self,
        i: u32,
        epoch: u32,
        c: u32,
        delivery: u32,
        failed: bool,
        nonretryable: bool,
        work_ns: Nanos,
        counted: bool,
    ) {
        let now = self.q.now();
        let inst = &mut self.insts[i as usize];
        if F::FAULTS && inst.epoch != epoch {
            return;
        }
        if F::FAULTS && !inst.frozen.is_empty() {
            if let Some(delay_ns) = self.thaw(i, c, delivery) {
                // A pause froze this attempt: it ends that much later.
                self.q.schedule_in(
                    delay_ns,
                    Ev::ServiceDone {
                        inst: i,
                        epoch,
                        copy: c,
                        delivery,
                        failed,
                        nonretryable,
                        work_ns,
                        counted,
                    },
                );
                return;
            }
        }
        let inst = &mut self.insts[i as usize];
        let g = inst.group as usize;
        if counted {
            inst.busy -= 1;
        }
        let qi = self.m.groups[g].queue;
        let mi = self.copies[c].msg;
        let skipped = work_ns == u64::MAX;
        // Also for an attempt that was not counted: `release_delivery`
        // relies on it.
        self.stats.advance(qi, now);
        if counted {
            self.stats.queues[qi].sub_busy(1);
        }
        let in_window = self.msgs[mi].in_window;
        if counted {
            if in_window {
                self.stats.add_attempts(1);
                self.stats.add_work_ns(work_ns as u128);
                let qc = &mut self.stats.queues[qi];
                qc.services += 1;
                qc.service_time_ns += work_ns as u128;
                let s = crate::time::ns_to_secs(work_ns);
                qc.service_sq_s += s * s;
                if failed {
                    self.stats.add_failed_attempts(1);
                    self.stats.add_failed_work_ns(work_ns as u128);
                }
            }
            if F::STRATEGIES {
                if let Some(br) = &mut self.insts[i as usize].breaker {
                    br.on_result(now, !failed);
                }
                if let Some(b) = &mut self.groups[g].budget {
                    if failed {
                        b.on_failure(now);
                    } else {
                        b.on_success(now);
                    }
                }
            }
        } else if in_window {
            // An attempt that `services` leaves out: its ack or nack is
            // still a request (`[cost]`).
            self.stats.queues[qi].add_settles_uncounted(1);
        }
        let working = &self.insts[i as usize].working;
        let Some(pos) = working.iter().position(|x| x.0 == c && x.1 == delivery) else {
            return;
        };
        let visit_start = working[pos].2;
        if self.tracing() {
            let what = match (counted, failed) {
                (true, false) => "attempt succeeded",
                (true, true) => "attempt failed",
                (false, false) => "recognised by the idempotency store: acked without processing",
                (false, true) => "rejected by the open circuit breaker",
            };
            self.trace(c, what, "", None);
        }
        let settle = if failed {
            self.on_failure(i, c, delivery, nonretryable)
        } else {
            self.on_success(i, c, delivery, skipped)
        };
        if settle == Settle::Kept {
            if in_window {
                self.stats.queues[qi].add_attempts_unsettled(1);
            }
            return; // still held: in-handler retry
        }
        let inst = &mut self.insts[i as usize];
        // Usually still at `pos` (the handlers only append to `working`).
        let at = |x: &(u32, u32, Nanos)| x.0 == c && x.1 == delivery;
        let pos = if inst.working.get(pos).is_some_and(at) {
            Some(pos)
        } else {
            inst.working.iter().position(at)
        };
        if let Some(pos) = pos {
            inst.working.swap_remove(pos);
        }
        // The visit ends with this attempt.
        self.stats.end_visit(qi, visit_start, now, in_window);
        debug_assert_eq!(self.copies[c].queue as usize, qi, "a group reads one queue");
        if (F::NETWORK && settle == Settle::OnArrival) || (F::LEASES && settle == Settle::SlotKept)
        {
            // The worker is free for what waits in the buffer; the prefetch
            // slot stays taken until the ack reaches the broker (`on_ack`),
            // or, for a delayed retry whose slot the broker keeps, until
            // the retry is due (`on_retry_due`).
            self.stats.queues[qi].sub_held(1);
            let inst = &mut self.insts[i as usize];
            inst.held -= 1;
            if settle == Settle::OnArrival {
                inst.acks_on_wire += 1;
            } else {
                inst.delays_held += 1;
            }
            self.unhold(c);
            self.try_start(i);
            return;
        }
        let credit = self.free_slot(i, c);
        self.slot_freed(i, qi, credit);
    }

    pub(super) fn on_success(&mut self, i: u32, c: u32, delivery: u32, skipped: bool) -> Settle {
        let now = self.q.now();
        let g = self.insts[i as usize].group as usize;
        let gm = &self.m.groups[g];
        let qi = gm.queue;
        let mi = self.copies[c].msg;
        let in_window = self.msgs[mi].in_window;
        if !skipped {
            let bit = 1u64 << qi;
            if self.msgs[mi].done_mask & bit != 0 {
                self.count_duplicate(c, qi, in_window, gm.idempotency_ns.is_some());
            } else {
                self.msgs[mi].done_mask |= bit;
                self.record_order(qi, mi);
            }
            let cp = &mut self.copies[c];
            cp.processed = true;
            cp.dup_cause = Cause::None;
            self.reseq_done(g, mi);
            if F::TRANSACTIONS && !self.saga_roles.is_empty() {
                self.saga_on_success(c, mi, qi);
            }
            let side_effect = gm.side_effect;
            if F::TRANSACTIONS && side_effect != SideEffect::None {
                // Before the idempotency store records the id: an
                // idempotent write is checked against it.
                self.side_effect_at_success(g, mi, qi, side_effect);
            }
            if F::STRATEGIES {
                if let Some(store) = &mut self.groups[g].idempotency {
                    let id = self.msgs[mi].id.wrapping_mul(64).wrapping_add(qi as u64);
                    store.insert(now, id);
                }
            }
            match gm.publish_to {
                Some(next) => {
                    let serial = self.copies[c]
                        .serial
                        .wrapping_add(0x100 * (next as u32 + 1));
                    let hop_no = self.copies[c].hops as u32 + 1;
                    let persistent = self.copies[c].persistent;
                    self.publish(mi, serial, next as u32, persistent, false, hop_no);
                }
                // A compensation ends where it is processed: it does not
                // complete the message.
                None if F::TRANSACTIONS && self.is_compensation_queue(qi) => {}
                None => {
                    if self.msgs[mi].flags & F_ACKED == 0 {
                        self.msgs[mi].flags |= F_ACKED;
                        self.completions_total += 1;
                        if in_window {
                            self.stats.record_latency(now - self.msgs[mi].publish_ns);
                            self.record_split_latency(mi, now);
                        }
                        let p = self.msgs[mi].producer as usize;
                        if F::STRATEGIES {
                            if let Some(b) = &mut self.prods[p].budget {
                                b.on_success(now);
                            }
                        }
                        if F::PUBLISHER && self.m.producers[p].timeout_ns.is_some() {
                            self.client_sees(mi, c, in_window);
                            self.release_producer(mi);
                        }
                    }
                }
            }
            if F::TRANSACTIONS && self.m.groups[g].side_effect == SideEffect::AfterAck {
                let settle = self.send_ack(i, c, delivery, AckKind::Ack);
                self.write_after_ack(i, mi, qi);
                return settle;
            }
        }
        self.send_ack(i, c, delivery, AckKind::Ack)
    }

    /// An ack or nack for copy `c` that never reaches the broker (lost on
    /// the wire, or its consumer is cut off): not a billed request.
    #[cold]
    #[inline(never)]
    fn count_unsent_settle(&mut self, c: u32) {
        let (mi, qi) = (self.copies[c].msg, self.copies[c].queue as usize);
        if self.msgs[mi].in_window {
            self.stats.queues[qi].add_attempts_unsettled(1);
        }
    }

    /// Counts the processing of copy `c` as a duplicate (its message was
    /// processed at queue `qi` already), under the cause of the extra
    /// processing: the copy's redelivery when it was processed itself, else
    /// the creation of the extra copy (this one, or the other).
    #[inline(never)]
    pub(super) fn count_duplicate(&mut self, c: u32, qi: usize, in_window: bool, idempotent: bool) {
        let cp = &self.copies[c];
        let cause = if cp.processed {
            cp.dup_cause
        } else if cp.origin != Cause::None {
            cp.origin
        } else {
            self.msgs[cp.msg].extra_origin
        };
        let name = match cause {
            Cause::None => "redelivery",
            x => x.name(),
        };
        // A stage that processes a message twice publishes it downstream
        // twice: the downstream duplicate has the same cause.
        let mi = cp.msg;
        self.msgs[mi].extra_origin = cause;
        self.trace(c, "processed again (duplicate)", name, None);
        if in_window {
            self.stats.duplicate(name);
            self.stats.queues[qi].add_duplicates(1);
            if idempotent {
                self.stats.add_duplicates_slipped(1);
            }
        }
    }

    /// Sends an ack or nack for a delivery; auto-acked copies are settled here.
    #[inline(always)]
    pub(super) fn send_ack(&mut self, i: u32, c: u32, delivery: u32, kind: AckKind) -> Settle {
        let g = self.insts[i as usize].group as usize;
        if self.m.groups[g].ack_on_receive {
            // The broker forgot the message at delivery: the consumer
            // settles it itself (republishes a retry, or it is gone).
            self.settle_consumer_copy(c, kind);
            return Settle::Now;
        }
        if F::TRANSACTIONS {
            self.last_ack_hop_ns = None;
        }
        if F::FAULTS && self.insts[i as usize].partitioned {
            self.copies[c].dup_cause = Cause::Partition;
            self.count_unsent_settle(c);
            return Settle::Now;
        }
        let cp = &mut self.copies[c];
        cp.hops = cp.hops.wrapping_add(1);
        let (mi, serial, hop_no) = (cp.msg, cp.serial, cp.hops as u32);
        match self.hop(mi, serial, hop_no, Link::Ack) {
            Hop::Lost => {
                // The broker will redeliver at the ack timeout.
                self.copies[c].dup_cause = Cause::Network;
                self.count_unsent_settle(c);
                if self.m.queues[self.copies[c].queue as usize]
                    .ack_timeout_ns
                    .is_none()
                    && self.copies[c].state == CState::InFlight
                    && self.copies[c].delivery == delivery
                {
                    self.redeliver(c, Cause::Network);
                }
                Settle::Now
            }
            Hop::After(lat, _) => {
                let epoch = self.insts[i as usize].epoch;
                if F::TRANSACTIONS {
                    self.last_ack_hop_ns = Some(lat);
                }
                if lat == 0 {
                    // An instant wire: the ack arrives now, while the
                    // worker's delivery still holds the copy and message.
                    debug_assert!(self.copies[c].holders > 0, "an ack without a delivery hold");
                    self.ack_arrives(c, delivery, kind, i, epoch);
                    if F::LEASES
                        && matches!(kind, AckKind::Delay(_))
                        && self.keeps_delay_slot(c, delivery, i)
                    {
                        return Settle::SlotKept;
                    }
                    Settle::Now
                } else {
                    // The ack on the wire holds them until it arrives.
                    self.copies[c].holders += 1;
                    self.msgs[mi].live += 1;
                    let (kind, delay_ns) = kind.encode();
                    self.deliver_ev(
                        lat,
                        Ev::Ack {
                            copy: c,
                            delivery,
                            kind,
                            delay_ns,
                            inst: i,
                            epoch,
                        },
                    );
                    Settle::OnArrival
                }
            }
        }
    }

    pub(super) fn settle_consumer_copy(&mut self, c: u32, kind: AckKind) {
        if self.copies[c].state != CState::Consumer {
            return;
        }
        match kind {
            AckKind::Ack => self.copy_gone(c, st::IN_FLIGHT, st::ACKED),
            AckKind::Requeue | AckKind::RejectRequeue => {
                self.stats_transition(c, st::IN_FLIGHT, st::QUEUED);
                self.enqueue_ready(c, false);
                let qi = self.copies[c].queue as usize;
                self.dispatch(qi);
            }
            AckKind::Delay(d) => self.delay(c, d),
            AckKind::Reject(Cause::Lost) => self.copy_lost(c, Cause::AutoAckFailure, st::IN_FLIGHT),
            AckKind::Reject(reason) => self.dead_letter(c, reason, st::IN_FLIGHT),
        }
    }

    #[inline(always)]
    pub(super) fn stats_transition(&mut self, c: u32, from: usize, to: usize) {
        if self.msgs[self.copies[c].msg].in_window {
            self.stats.transition(from, to);
        }
    }

    /// Handles a failed attempt. Returns true when the worker keeps the
    /// message (in-handler retry).
    pub(super) fn on_failure(
        &mut self,
        i: u32,
        c: u32,
        delivery: u32,
        nonretryable: bool,
    ) -> Settle {
        let now = self.q.now();
        let g = self.insts[i as usize].group as usize;
        let gm = &self.m.groups[g];
        let qi = gm.queue;
        let auto = gm.ack_on_receive;
        if nonretryable {
            return self.send_ack(i, c, delivery, AckKind::Reject(Cause::NonRetryable));
        }
        self.copies[c].attempts += 1;
        let attempts = self.copies[c].attempts;
        let mi = self.copies[c].msg;
        let in_window = self.msgs[mi].in_window;
        let mut mode = gm.retry_mode;
        if mode == RetryMode::AckTimeout && (auto || self.m.queues[qi].ack_timeout_ns.is_none()) {
            mode = RetryMode::Requeue;
        }
        if mode == RetryMode::None {
            let kind = AckKind::Reject(Cause::Rejected);
            return self.send_ack(
                i,
                c,
                delivery,
                if auto {
                    AckKind::Reject(Cause::Lost)
                } else {
                    kind
                },
            );
        }
        if mode == RetryMode::AckTimeout {
            // SQS: the failed message is simply not deleted; the visibility
            // timeout brings it back.
            if in_window {
                self.stats.queues[qi].add_attempts_unsettled(1);
            }
            return Settle::Now;
        }
        // Policy limits and the budget.
        let (delay, allowed) = match &gm.retry {
            Some(policy) => {
                let key = self.copies[c].fate_key;
                let mut r = self.stream(Domain::Backoff, key, attempts as u64);
                let d = policy.delay_ns(attempts, self.copies[c].prev_delay_ns, &mut r);
                let elapsed = now - self.copies[c].first_attempt_ns;
                (d, policy.allows(attempts, elapsed, d))
            }
            None => (0, true),
        };
        if !allowed {
            let kind = if auto && !self.m.queues[qi].dead_letter {
                AckKind::Reject(Cause::Lost)
            } else {
                AckKind::Reject(Cause::RetriesExhausted)
            };
            return self.send_ack(i, c, delivery, kind);
        }
        if F::STRATEGIES {
            if let Some(b) = &mut self.groups[g].budget {
                if !b.try_retry(now) {
                    if in_window {
                        self.stats.add_retries_refused(1);
                    }
                    return self.send_ack(i, c, delivery, AckKind::Reject(Cause::RetryBudget));
                }
            }
        }
        if in_window {
            self.stats.add_retries(1);
        }
        self.copies[c].prev_delay_ns = delay;
        match mode {
            RetryMode::InHandler => {
                let epoch = self.insts[i as usize].epoch;
                self.q.schedule_in(
                    delay,
                    Ev::HandlerRetry {
                        inst: i,
                        epoch,
                        copy: c,
                        delivery,
                    },
                );
                Settle::Kept
            }
            RetryMode::Requeue => self.send_ack(i, c, delivery, AckKind::Requeue),
            RetryMode::RejectRequeue => self.send_ack(i, c, delivery, AckKind::RejectRequeue),
            RetryMode::Delay | RetryMode::RetryQueues | RetryMode::AckTimeout | RetryMode::None => {
                self.send_ack(i, c, delivery, AckKind::Delay(delay))
            }
        }
    }
}
