//! The broker settles deliveries: acks and nacks arrive, ack deadlines
//! pass, copies are redelivered, delayed, dead-lettered, expired or lost,
//! and a message's outcome is counted once no copy of it is left.

use super::*;

impl<'m, F: Features> Sim<'m, F> {
    /// An ack event reaches the broker. The event held the copy and its
    /// message; the hold ends here.
    pub(super) fn on_ack(&mut self, c: u32, delivery: u32, kind: AckKind, inst: u32, epoch: u32) {
        let qi = self.copies[c].queue as usize;
        let mut slot_freed = self.ack_frees_slot(inst, epoch, qi);
        self.ack_arrives(c, delivery, kind, inst, epoch);
        if F::LEASES && matches!(kind, AckKind::Delay(_)) && self.m.queues[qi].delay_keeps_slot {
            slot_freed = self.keep_slot_while_delayed(c, delivery, inst, epoch, slot_freed);
        }
        self.unhold(c);
        if slot_freed {
            self.dispatch(qi);
        }
    }

    /// `delay_keeps_slot`: a delayed-retry nack that the broker applied
    /// (the copy waits for its retry, from this very delivery) does not free
    /// its prefetch slot: the credit `ack_frees_slot` just put at the back
    /// of the list is taken back, and the slot is counted as held until
    /// [`Sim::on_retry_due`]. Returns whether a slot is still freed.
    fn keep_slot_while_delayed(
        &mut self,
        c: u32,
        delivery: u32,
        inst: u32,
        epoch: u32,
        slot_freed: bool,
    ) -> bool {
        if self.insts[inst as usize].epoch != epoch || !self.keeps_delay_slot(c, delivery, inst) {
            return slot_freed;
        }
        let qi = self.copies[c].queue as usize;
        if slot_freed {
            let credit = self.queues[qi].credits.pop_back();
            debug_assert_eq!(
                credit,
                Some((inst, self.insts[inst as usize].credit_epoch)),
                "the credit taken back is the one the nack freed"
            );
        }
        self.insts[inst as usize].delays_held += 1;
        false
    }

    /// An ack (or nack) on the wire reached the broker: its delivery's
    /// prefetch slot frees, and a credit goes back to the queue when the
    /// instance can take a delivery. Returns whether one did. Nothing frees
    /// when the instance crashed since it sent the ack: the crash released
    /// every slot it had (and the ack died with the connection).
    pub(super) fn ack_frees_slot(&mut self, i: u32, epoch: u32, qi: usize) -> bool {
        let inst = &mut self.insts[i as usize];
        if inst.epoch != epoch {
            return false;
        }
        debug_assert!(
            inst.acks_on_wire > 0,
            "an ack on the wire that was not counted"
        );
        inst.acks_on_wire -= 1;
        debug_assert!(
            !inst.push_all,
            "a push-all (auto-ack) instance sends no acks"
        );
        if F::FAULTS && (!inst.up || inst.partitioned || inst.draining) {
            return false;
        }
        let credit = (i, inst.credit_epoch);
        self.queues[qi].credits.push_back(credit);
        true
    }

    /// The broker receives an ack or nack of delivery `delivery` of copy `c`
    /// from instance `inst` (its `epoch` when it sent it).
    #[inline(always)]
    pub(super) fn ack_arrives(
        &mut self,
        c: u32,
        delivery: u32,
        kind: AckKind,
        inst: u32,
        epoch: u32,
    ) {
        if F::FAULTS && self.insts[inst as usize].epoch != epoch {
            // The consumer crashed while its ack was on the wire: the ack
            // died with the connection. The broker requeues the delivery as
            // for any other unacked delivery of a crashed consumer.
            let qi = self.copies[c].queue as usize;
            if self.copies[c].state == CState::InFlight && self.copies[c].delivery == delivery {
                self.copies[c].dup_cause = Cause::ConsumerCrash;
                if self.m.queues[qi].crash_requeue_immediate && self.broker_up {
                    self.cancelled();
                    self.redeliver(c, Cause::ConsumerCrash);
                } else if F::LEASES {
                    self.crash_return_later(c, delivery);
                }
            }
            return;
        }
        let cp = &self.copies[c];
        let broker_up = !F::FAULTS || self.broker_up;
        let valid = broker_up && cp.state == CState::InFlight && cp.delivery == delivery;
        if !valid {
            let qi = cp.queue as usize;
            if !broker_up && cp.state == CState::InFlight && cp.delivery == delivery {
                // Lost with the broker's process; the delivery stayed
                // pending (`crash_keeps_pending`) and comes back after its
                // ack timeout, because of the crash.
                self.copies[c].dup_cause = Cause::BrokerCrash;
            }
            if broker_up && kind == AckKind::Ack && self.m.queues[qi].late_ack_settles {
                self.late_ack(c);
            } else if self.msgs[self.copies[c].msg].in_window {
                self.stats.add_stale_acks(1);
            }
            return;
        }
        if self.tracing() {
            let what = match kind {
                AckKind::Ack => "acked",
                AckKind::Requeue => "nacked (requeue)",
                AckKind::RejectRequeue => "rejected (requeue)",
                AckKind::Delay(_) => "nacked (delayed retry)",
                AckKind::Reject(_) => "rejected",
            };
            self.trace(c, what, "", None);
        }
        match kind {
            AckKind::Ack => {
                self.copy_gone(c, st::IN_FLIGHT, st::ACKED);
                self.cancelled();
            }
            AckKind::Requeue => {
                self.cancelled();
                self.count_return(c);
                self.redeliver(c, Cause::None);
            }
            AckKind::RejectRequeue => {
                self.cancelled();
                self.redeliver(c, Cause::None);
            }
            AckKind::Delay(d) => {
                self.cancelled();
                self.count_return(c);
                self.delay(c, d);
            }
            AckKind::Reject(reason) => {
                self.cancelled();
                self.dead_letter(c, reason, st::IN_FLIGHT);
            }
        }
    }

    /// Puts copy `c` back for another delivery, or dead-letters it at the
    /// delivery limit.
    pub(super) fn redeliver(&mut self, c: u32, cause: Cause) {
        self.trace(c, "requeued for redelivery", cause.name(), None);
        self.mark_affected(c);
        let qi = self.copies[c].queue as usize;
        if cause != Cause::None && self.copies[c].dup_cause == Cause::None {
            self.copies[c].dup_cause = cause;
        }
        if self.at_limit(c) {
            return;
        }
        self.stats_transition(c, st::IN_FLIGHT, st::QUEUED);
        // A RabbitMQ quorum queue without a delivery limit returns a
        // nacked message to the back (near the head with a limit).
        let to_back = F::LEASES && cause == Cause::None && self.m.queues[qi].nack_to_back;
        self.enqueue_ready(c, !to_back);
        self.dispatch(qi);
    }

    /// True (and the copy dead-lettered) when it reached the delivery limit.
    pub(super) fn at_limit(&mut self, c: u32) -> bool {
        let qm = &self.m.queues[self.copies[c].queue as usize];
        let cp = &self.copies[c];
        let counted = if F::LEASES {
            cp.deliveries - cp.uncounted
        } else {
            cp.deliveries
        };
        if qm.max_deliveries.is_some_and(|m| counted >= m) {
            let reason = if qm.at_limit_stays {
                Cause::MaxDeliveriesParked
            } else {
                Cause::MaxDeliveries
            };
            self.dead_letter(c, reason, st::IN_FLIGHT);
            return true;
        }
        false
    }

    pub(super) fn delay(&mut self, c: u32, d: Nanos) {
        if self.at_limit(c) {
            return;
        }
        let qi = self.copies[c].queue as usize;
        self.stats_transition(c, st::IN_FLIGHT, st::WAITING_RETRY);
        let g = self.new_gen(c);
        self.copies[c].state = CState::Delayed;
        self.queues[qi].delayed += 1;
        self.q.schedule_in(d, Ev::RetryDue { copy: c, gen: g });
    }

    pub(super) fn on_retry_due(&mut self, c: u32, gen: u32) {
        if self.copies.slot(c).gen != gen {
            return;
        }
        let qi = self.copies[c].queue as usize;
        self.queues[qi].delayed -= 1;
        if F::LEASES && self.m.queues[qi].delay_keeps_slot {
            self.release_delay_slot(c, qi);
        }
        self.stats_transition(c, st::WAITING_RETRY, st::QUEUED);
        let first = F::LEASES && self.m.queues[qi].retry_due_first;
        self.enqueue_ready(c, first);
        self.dispatch(qi);
    }

    /// Whether the delayed-retry nack of `delivery` of copy `c` from
    /// instance `inst`, just applied, keeps its slot: the queue's broker
    /// keeps slots (`delay_keeps_slot`), the copy now waits for its retry
    /// from that very delivery, and the consumer acks manually. Marks the
    /// copy when it does.
    pub(super) fn keeps_delay_slot(&mut self, c: u32, delivery: u32, inst: u32) -> bool {
        let qi = self.copies[c].queue as usize;
        let cp = &self.copies[c];
        let kept = self.m.queues[qi].delay_keeps_slot
            && cp.state == CState::Delayed
            && cp.delivery == delivery
            && cp.inst == inst
            && !self.insts[inst as usize].push_all;
        if kept {
            debug_assert!(!cp.delay_slot_kept, "a delayed retry keeps one slot");
            self.copies[c].delay_slot_kept = true;
        }
        kept
    }

    /// The slot a delayed retry kept (`keep_slot_while_delayed`) frees
    /// when the retry is due; a credit goes back when its instance can
    /// take a delivery. A delay nacked by a crashed instance's earlier
    /// connection, or one never kept (its nack arrived after the crash),
    /// frees nothing.
    fn release_delay_slot(&mut self, c: u32, qi: usize) {
        if !self.copies[c].delay_slot_kept {
            return;
        }
        self.copies[c].delay_slot_kept = false;
        let i = self.copies[c].inst as usize;
        debug_assert!(
            self.insts[i].delays_held > 0,
            "a kept delay slot was counted where it was kept"
        );
        self.insts[i].delays_held -= 1;
        let inst = &self.insts[i];
        if inst.up && !inst.partitioned && !inst.draining && !inst.push_all {
            self.queues[qi]
                .credits
                .push_back((i as u32, inst.credit_epoch));
        }
    }

    pub(super) fn on_ack_deadline(&mut self, c: u32, gen: u32) {
        if self.copies.slot(c).gen != gen || self.copies[c].state != CState::InFlight {
            return;
        }
        if F::LEASES && self.lease_deadline(c, gen) {
            return;
        }
        self.trace(c, "ack timeout: visible again", "", None);
        self.redeliver(c, Cause::AckTimeout);
    }

    /// SQS StartMessageMoveTask: moves the oldest dead-lettered message back
    /// to the tail of its source queue, as a new message (receive count 0),
    /// at the task's rate.
    pub(super) fn on_redrive(&mut self, qi: usize) {
        let Some((_, rate)) = self.m.queues[qi].redrive else {
            return;
        };
        while let Some((c, g)) = self.queues[qi].dlq.pop_front() {
            let x = self.copies.slot(c);
            if x.gen != g || x.vacant() || x.state != CState::DeadLetter {
                continue;
            }
            let mi = self.copies[c].msg;
            self.msgs[mi].parked -= 1;
            if self.msgs[mi].redrives >= MAX_REDRIVES {
                // Redriven often enough: it stays dead-lettered for good.
                self.retire_parked(c);
                continue;
            }
            self.msgs[mi].redrives += 1;
            self.copies[c].deliveries = 0;
            self.copies[c].uncounted = 0;
            self.copies[c].attempts = 0;
            self.copies[c].dup_cause = Cause::Redrive;
            self.enqueue_ready(c, false);
            self.dispatch(qi);
            break;
        }
        if self.queues[qi].dlq.is_empty() {
            self.queues[qi].redrive_ticking = false;
        } else {
            self.q.schedule_in(
                crate::time::secs_to_ns(1.0 / rate).max(1),
                Ev::Redrive { queue: qi as u32 },
            );
        }
    }

    /// Ends a copy parked in a dead-letter queue that will not be redriven
    /// again: its transition to dead-lettered was counted when it was parked.
    pub(super) fn retire_parked(&mut self, c: u32) {
        let mi = self.copies[c].msg;
        let cp = &mut self.copies[c];
        cp.gen = cp.gen.wrapping_add(1);
        cp.state = CState::Gone;
        if cp.holders == 0 {
            self.copies.remove(c);
        }
        self.msg_unref(mi);
    }

    /// An ack from an earlier delivery reaches a broker that settles by
    /// message, not by delivery (NATS JetStream: the ack names the stream
    /// sequence). A copy still pending, in flight again or waiting for its
    /// redelivery, is acked; a later delivery's holder still processes it
    /// (a duplicate) and its own ack finds the copy gone.
    #[cold]
    #[inline(never)]
    pub(super) fn late_ack(&mut self, c: u32) {
        let qi = self.copies[c].queue as usize;
        match self.copies[c].state {
            CState::InFlight => {
                self.trace(c, "acked (late ack of an earlier delivery)", "", None);
                self.copy_gone(c, st::IN_FLIGHT, st::ACKED);
                self.cancelled();
            }
            CState::Ready => {
                self.trace(c, "acked (late ack of an earlier delivery)", "", None);
                let now = self.q.now();
                self.stats.advance(qi, now);
                self.queues[qi].ready_len -= 1;
                self.stats.queues[qi].sub_ready(1);
                self.end_visit(qi, c);
                self.copy_gone(c, st::QUEUED, st::ACKED);
            }
            _ => {
                if self.msgs[self.copies[c].msg].in_window {
                    self.stats.add_stale_acks(1);
                }
            }
        }
    }

    pub(super) fn on_ttl_expire(&mut self, c: u32, gen: u32) {
        if self.copies.slot(c).gen != gen || self.copies[c].state != CState::Ready {
            return;
        }
        let qi = self.copies[c].queue as usize;
        let now = self.q.now();
        self.stats.advance(qi, now);
        self.queues[qi].ready_len -= 1;
        self.stats.queues[qi].sub_ready(1);
        self.end_visit(qi, c);
        self.expire(c);
    }

    /// Copy `c` (out of the ready list) is past its TTL: deleted, or
    /// dead-lettered where the queue's broker does that (RabbitMQ with a
    /// dead-letter exchange).
    pub(super) fn expire(&mut self, c: u32) {
        let qi = self.copies[c].queue as usize;
        if self.m.queues[qi].expired_dead_lettered {
            self.dead_letter(c, Cause::Expired, st::QUEUED);
            return;
        }
        self.trace(c, "expired", "", None);
        let mi = self.copies[c].msg;
        self.msgs[mi].flags |= F_EXPIRED;
        self.copy_gone(c, st::QUEUED, st::EXPIRED);
    }

    pub(super) fn dead_letter(&mut self, c: u32, reason: Cause, from: usize) {
        self.trace(c, "dead-lettered", reason.name(), None);
        if F::TRANSACTIONS && !self.saga_roles.is_empty() {
            // Before the copy goes: the compensations keep the message alive.
            self.saga_on_dead_letter(c, reason);
        }
        let qi = self.copies[c].queue as usize;
        let mi = self.copies[c].msg;
        if self.m.queues[qi].dead_letter || self.m.queues[qi].at_limit_stays {
            self.msgs[mi].flags |= F_DLQ;
            if self.msgs[mi].dlq_reason == Cause::None {
                self.msgs[mi].dlq_reason = reason;
            }
            self.queues[qi].dead_lettered_total += 1;
            if self.msgs[mi].in_window {
                self.stats.queues[qi].add_dead_lettered(1);
            }
            if let Some((start, _)) = self.m.queues[qi]
                .redrive
                .filter(|_| self.m.queues[qi].dead_letter)
            {
                // Kept in the dead-letter queue for the redrive task.
                self.stats_transition(c, from, st::DEAD_LETTERED);
                self.lane_leave(c);
                let g = self.new_gen(c);
                self.copies[c].state = CState::DeadLetter;
                self.msgs[mi].parked += 1;
                self.queues[qi].dlq.push_back((c, g));
                if !self.queues[qi].redrive_ticking {
                    self.queues[qi].redrive_ticking = true;
                    self.q
                        .schedule(start.max(self.q.now()), Ev::Redrive { queue: qi as u32 });
                }
            } else {
                self.copy_gone(c, from, st::DEAD_LETTERED);
            }
        } else {
            self.copy_lost(c, Cause::DroppedAtLimit, from);
        }
    }

    pub(super) fn copy_lost(&mut self, c: u32, cause: Cause, from: usize) {
        self.trace(c, "lost", cause.name(), None);
        let mi = self.copies[c].msg;
        self.msgs[mi].flags |= F_LOST;
        if self.msgs[mi].lost_cause == Cause::None
            || self.msgs[mi].flags & (F_ACKED | F_DLQ | F_EXPIRED) == 0
        {
            self.msgs[mi].lost_cause = cause;
        }
        self.lost_total += 1;
        self.copy_gone(c, from, st::LOST);
    }

    /// Copy `c` leaves the broker for good.
    #[inline(always)]
    pub(super) fn copy_gone(&mut self, c: u32, from: usize, to: usize) {
        let cp = &self.copies[c];
        let (mi, qi) = (cp.msg, cp.queue as usize);
        if self.msgs[mi].in_window {
            self.stats.transition(from, to);
        }
        if F::KEYS && !self.queues[qi].lanes.is_empty() {
            self.lane_leave_keyed(qi, c);
        }
        let cp = &mut self.copies[c];
        cp.gen = cp.gen.wrapping_add(1);
        debug_assert!(cp.state != CState::Gone, "a copy ended twice");
        cp.state = CState::Gone;
        let free = cp.holders == 0;
        if free {
            self.copies.remove(c);
        }
        self.msg_unref(mi);
    }

    /// Ends message `mi` when nothing refers to it any more.
    #[inline(always)]
    pub(super) fn check_finish(&mut self, mi: u32) {
        // A message may already have ended inside the call that led here.
        if self.msgs.get(mi).is_none_or(|m| m.live > 0) {
            return;
        }
        self.finish_msg(mi);
    }

    /// Ends message `mi`: counts its outcome and frees its record.
    #[inline(always)]
    pub(super) fn finish_msg(&mut self, mi: u32) {
        if F::TRANSACTIONS {
            self.side_effects_end(mi);
            self.saga_end(mi);
        }
        let m = &self.msgs[mi];
        if m.in_window {
            Self::classify(&mut self.stats, m, false);
        }
        self.msgs.remove(mi);
    }

    /// Counts a message's outcome. Each message lands in exactly one class:
    /// acked > in flight > dead-lettered > expired > lost > rejected. The
    /// common outcome, acked, is counted inline; the others out of line.
    #[inline(always)]
    pub(super) fn classify(s: &mut Collector, m: &Msg, at_end: bool) {
        if m.flags & F_ACKED != 0 {
            s.acked += 1;
            if m.flags & F_DLQ != 0 {
                // Processed, but its acks came too late: the broker
                // dead-lettered it as well. It counts as acked.
                s.processed_then_dead_lettered += 1;
            }
        } else {
            Self::classify_unacked(s, m, at_end);
        }
        s.max_attempts = s.max_attempts.max(m.attempts as u64);
    }

    #[inline(never)]
    pub(super) fn classify_unacked(s: &mut Collector, m: &Msg, at_end: bool) {
        if at_end && m.live > m.parked {
            s.in_flight += 1;
        } else if m.flags & F_DLQ != 0 {
            s.dead_letter(
                if m.dlq_reason == Cause::None {
                    "unknown"
                } else {
                    m.dlq_reason.name()
                },
                outcomes::dead_letter_origin(m),
            );
        } else if m.flags & F_EXPIRED != 0 {
            s.expired += 1;
        } else if m.flags & F_REJECTED != 0 {
            s.rejected += 1;
        } else {
            s.lost(if m.lost_cause == Cause::None {
                "unknown"
            } else {
                m.lost_cause.name()
            });
            if m.flags & F_GAVE_UP != 0 {
                s.lost_detected += 1;
            }
        }
    }
}
