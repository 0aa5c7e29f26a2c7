//! Consumers' side effects and the ack (`side_effect`): when the handler's
//! external write happens relative to its ack, and what a crash between
//! the two does. Written before the ack, a write is repeated when a crash
//! kills the ack and the message is processed again (a duplicated side
//! effect); written after the broker has taken the ack, it is lost when
//! the consumer crashes first (the message will not come back). An
//! idempotent write is checked against the consumer's idempotency store
//! (the id recorded with the write), so it is made once however often the
//! message is processed.

use super::*;

/// The queues (a bit each) read by a consumer group that writes after the ack.
pub(super) fn after_ack_queues(m: &Model) -> u64 {
    m.groups
        .iter()
        .filter(|g| g.side_effect == SideEffect::AfterAck && g.log.is_none())
        .fold(0, |mask, g| mask | 1u64 << g.queue)
}

impl<'m, F: Features> Sim<'m, F> {
    /// A successful processing of message `mi` by group `g` at queue `qi`:
    /// a write before the ack is made now.
    pub(super) fn side_effect_at_success(
        &mut self,
        g: usize,
        mi: u32,
        qi: usize,
        side_effect: SideEffect,
    ) {
        match side_effect {
            SideEffect::BeforeAck => self.side_effect_write(mi, qi),
            SideEffect::Idempotent => {
                let now = self.q.now();
                let id = self.msgs[mi].id.wrapping_mul(64).wrapping_add(qi as u64);
                let known = self.groups[g]
                    .idempotency
                    .as_mut()
                    .is_some_and(|store| store.contains(now, id));
                if !known {
                    self.side_effect_write(mi, qi);
                }
            }
            SideEffect::AfterAck | SideEffect::None => {}
        }
    }

    /// An `after-ack` handler has sent its ack (`last_ack_hop_ns`: its
    /// latency, `None` when it was lost or cut off: the handler, hearing
    /// nothing, does not write, and the message comes back). It writes once
    /// the broker has taken the ack and said so: a hop there and back.
    pub(super) fn write_after_ack(&mut self, i: u32, mi: u32, qi: usize) {
        let Some(hop_ns) = self.last_ack_hop_ns else {
            return;
        };
        if hop_ns == 0 {
            self.side_effect_write(mi, qi);
            return;
        }
        self.msgs[mi].live += 1;
        let epoch = self.insts[i as usize].epoch;
        self.q.schedule_in(
            hop_ns.saturating_mul(2),
            Ev::SideEffectWrite {
                msg: mi,
                queue: qi as u32,
                inst: i,
                epoch,
            },
        );
    }

    /// The write of an `after-ack` handler is due: made if its instance is
    /// still the one that acked (a crash since loses it).
    pub(super) fn on_side_effect_write(&mut self, mi: u32, qi: usize, i: u32, epoch: u32) {
        if self.insts[i as usize].epoch == epoch {
            self.side_effect_write(mi, qi);
        }
        self.msg_unref(mi);
    }

    /// Message `mi`'s side effect at queue `qi` is written: a second write
    /// is a duplicated side effect.
    fn side_effect_write(&mut self, mi: u32, qi: usize) {
        let slot = mi as usize;
        if self.side_written.len() <= slot {
            self.side_written.resize(slot + 1, 0);
        }
        let bit = 1u64 << qi;
        if self.side_written[slot] & bit != 0 {
            if self.msgs[mi].in_window {
                self.stats.add_side_effects_duplicated(1);
            }
        } else {
            self.side_written[slot] |= bit;
        }
    }

    /// Message `mi` ends: each queue where it was processed by an
    /// `after-ack` handler and never written is a lost side effect. Its
    /// slot's record is cleared for the next message.
    pub(super) fn side_effects_end(&mut self, mi: u32) {
        let written = match self.side_written.get_mut(mi as usize) {
            Some(w) => std::mem::take(w),
            None => 0,
        };
        let m = &self.msgs[mi];
        let lost = m.done_mask & self.after_ack_queues & !written;
        if lost != 0 && m.in_window {
            self.stats.add_side_effects_lost(lost.count_ones() as u64);
        }
    }
}
