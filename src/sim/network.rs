//! The network between producers, the broker and consumers: each hop is
//! drawn from the message's own stream (loss, duplicate, latency), so that
//! turning one knob does not shift the others' draws. Without a `[network]`
//! table the wire is instant and perfect.

use super::*;

/// The wire's verdict on one hop.
pub(super) enum Hop {
    Lost,
    /// Latency, and the latency of a duplicate if the wire made one.
    After(Nanos, Option<Nanos>),
}

impl<'m, F: Features> Sim<'m, F> {
    /// Draws one hop for message `mi` from the message's own stream, in a
    /// fixed order (loss, duplicate, latency, duplicate's latency) so that
    /// turning one knob does not shift the others' draws. Without a
    /// `[network]` the wire is instant and perfect, at no cost.
    #[inline(always)]
    pub(super) fn hop(&mut self, mi: u32, serial: u32, hop: u32, link: Link) -> Hop {
        if !F::NETWORK || self.m.network.is_none() {
            return Hop::After(0, None);
        }
        self.hop_drawn(mi, serial, hop, link)
    }

    #[inline(never)]
    pub(super) fn hop_drawn(&mut self, mi: u32, serial: u32, hop: u32, link: Link) -> Hop {
        let Some(net) = &self.m.network else {
            return Hop::After(0, None);
        };
        let key = self.msgs[mi].key;
        let mut r = self.stream(Domain::Network, key, ((serial as u64) << 32) | hop as u64);
        let u_loss = unit(&mut r);
        let u_dup = unit(&mut r);
        let lat = net.latency.as_ref().map_or(0, |d| d.sample(&mut r));
        let lat2 = net.latency.as_ref().map_or(0, |d| d.sample(&mut r));
        if u_loss < net.loss[link as usize] {
            if link == Link::Ack && self.msgs[mi].in_window {
                self.stats.add_acks_lost(1);
            }
            Hop::Lost
        } else if u_dup < net.duplicate {
            Hop::After(lat, Some(lat2))
        } else {
            Hop::After(lat, None)
        }
    }

    /// Schedules `ev` after `lat`. Every event that names a message holds a
    /// reference to it. With no latency, callers call the event's handler
    /// at once instead (as `handle` would).
    #[inline]
    pub(super) fn deliver_ev(&mut self, lat: Nanos, ev: Ev) {
        debug_assert!(lat > 0);
        self.q.schedule_in(lat, ev);
    }
}
