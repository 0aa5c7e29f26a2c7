//! Ordering: FIFO by message key (one lane per key, head-of-line blocking)
//! and the consumer-side resequencer that releases messages in key order.

use super::*;

impl<'m, F: Features> Sim<'m, F> {
    /// Adds a key's blocked interval, clipped to the statistics window.
    pub(super) fn add_key_blocked(&mut self, qi: usize, since_ns: Nanos, until_ns: Nanos) {
        let from = since_ns.max(self.stats.window_start);
        let to = until_ns.min(self.stats.window_end);
        if to > from {
            self.stats.queues[qi].add_key_blocked_ns((to - from) as u128);
        }
    }

    /// Copy `c` leaves its queue for good (FIFO by key): when it was its
    /// key's message out, the key's next message moves up to the queue;
    /// when it was waiting behind it, the lane forgets it.
    #[inline(always)]
    pub(super) fn lane_leave(&mut self, c: u32) {
        let qi = self.copies[c].queue as usize;
        if F::KEYS && !self.queues[qi].lanes.is_empty() {
            self.lane_leave_keyed(qi, c);
        }
    }

    #[inline(never)]
    pub(super) fn lane_leave_keyed(&mut self, qi: usize, c: u32) {
        let okey = self.msgs[self.copies[c].msg].okey;
        if okey == NONE {
            return;
        }
        let mut promoted = false;
        let mut unblocked = None;
        let lane = &mut self.queues[qi].lanes[okey as usize];
        if lane.active == c {
            lane.active = NONE;
            while let Some((w, g)) = lane.waiting.pop_front() {
                let x = self.copies.slot(w);
                let live = x.gen == g && !x.vacant() && x.state == CState::Ready;
                if live {
                    lane.n_waiting -= 1;
                    lane.active = w;
                    if lane.n_waiting == 0 {
                        unblocked = Some(lane.blocked_since_ns);
                    }
                    self.queues[qi].ready.push_back((w, g));
                    promoted = true;
                    break;
                }
            }
        } else if self.copies[c].state == CState::Ready {
            // Ready does not mean waiting: a copy that a full queue
            // dead-letters on arrival (overflow = dead-letter) leaves
            // Ready without ever entering the lane. Only a copy the lane
            // holds under its current generation is counted out.
            let gen = self.copies[c].gen;
            if !lane.waiting.iter().any(|&(w, g)| w == c && g == gen) {
                return;
            }
            debug_assert!(lane.n_waiting > 0, "a waiting copy its lane does not count");
            lane.n_waiting -= 1;
            if lane.n_waiting == 0 {
                lane.waiting.clear();
                unblocked = Some(lane.blocked_since_ns);
            }
        }
        if let Some(since) = unblocked {
            self.add_key_blocked(qi, since, self.q.now());
        }
        if promoted {
            self.dispatch(qi);
        }
    }

    /// The broker lost its queues: every lane empties (restart re-forms them).
    pub(super) fn lanes_clear(&mut self, qi: usize) {
        let mut blocked = Vec::new();
        for lane in &mut self.queues[qi].lanes {
            if lane.n_waiting > 0 {
                blocked.push(lane.blocked_since_ns);
            }
            lane.active = NONE;
            lane.waiting.clear();
            lane.n_waiting = 0;
        }
        for since in blocked {
            self.add_key_blocked(qi, since, self.q.now());
        }
    }

    /// First processing of message `mi` at queue `qi`: was a later message
    /// of its key processed before it?
    pub(super) fn record_order(&mut self, qi: usize, mi: u32) {
        let m = &self.msgs[mi];
        if !F::KEYS || m.okey == NONE {
            return;
        }
        let late = key_order(&mut self.queues[qi].order_max[m.okey as usize], m.kseq);
        if let (Some(d), true) = (late, m.in_window) {
            let qc = &mut self.stats.queues[qi];
            qc.out_of_order += 1;
            qc.max_displacement = qc.max_displacement.max(d);
        }
    }

    /// Resequencing: holds delivery `entry` back while an earlier message of
    /// its key is not processed yet. Returns true when held.
    pub(super) fn reseq_hold(&mut self, i: u32, entry: (u32, u32, Nanos)) -> bool {
        let now = self.q.now();
        let g = self.insts[i as usize].group as usize;
        let epoch = self.insts[i as usize].epoch;
        let (c, d, visit_start) = entry;
        let mi = self.copies[c].msg;
        let (k, seq, in_window) = (
            self.msgs[mi].okey,
            self.msgs[mi].kseq,
            self.msgs[mi].in_window,
        );
        let Some(rs) = &mut self.groups[g].resequence else {
            return false;
        };
        if k == NONE || seq <= rs.next[k as usize] {
            return false;
        }
        rs.holds += 1;
        let hold = rs.holds;
        rs.held
            .insert((k, seq, hold), (i, epoch, c, d, visit_start, now));
        rs.order.push_back((k, seq, hold));
        let over = rs.held.len() > rs.max_held as usize;
        let wait = rs.max_wait_ns;
        if in_window {
            self.stats.add_resequenced(1);
        }
        self.q.schedule_in(
            wait,
            Ev::ReseqTimeout {
                group: g as u32,
                key: k,
                seq,
                hold,
            },
        );
        if over {
            // Full: the message held longest is let go.
            loop {
                let rs = self.groups[g].resequence.as_mut().expect("resequencer");
                let Some(id) = rs.order.pop_front() else {
                    break;
                };
                if rs.held.contains_key(&id) {
                    self.reseq_release(g, id, true);
                    break;
                }
            }
        }
        true
    }

    /// Lets held message (`key`, `seq`) go to its worker. `gave_up`: the gap
    /// before it is abandoned (timeout or a full buffer), and so are the
    /// held messages of the key before it.
    pub(super) fn reseq_release(&mut self, g: usize, id: HoldId, gave_up: bool) {
        let now = self.q.now();
        let (key, seq, _) = id;
        let Some(rs) = &mut self.groups[g].resequence else {
            return;
        };
        if !rs.held.contains_key(&id) {
            return;
        }
        if gave_up {
            let n = &mut rs.next[key as usize];
            *n = (*n).max(seq);
        }
        // Everything of this key now at or behind its turn goes, in order.
        let upto = rs.next[key as usize];
        let go: Vec<(HoldId, Held)> = rs
            .held
            .range((key, 0, 0)..=(key, upto, u64::MAX))
            .map(|(&k, &h)| (k, h))
            .collect();
        for (hid, (i, epoch, c, d, visit_start, since)) in go {
            let s = hid.1;
            self.groups[g]
                .resequence
                .as_mut()
                .expect("resequencer")
                .held
                .remove(&hid);
            let in_window = self.msgs[self.copies[c].msg].in_window;
            if in_window {
                self.stats.add_resequence_wait_ns((now - since) as u128);
                if gave_up && s == seq {
                    self.stats.add_resequence_gave_up(1);
                }
            }
            if self.insts[i as usize].epoch == epoch {
                self.insts[i as usize]
                    .buffer
                    .push_front((c, d, visit_start));
                self.try_start(i);
            }
        }
    }

    /// The group processed message `mi`: its key moves on.
    pub(super) fn reseq_done(&mut self, g: usize, mi: u32) {
        if !F::KEYS {
            return;
        }
        let (k, seq) = (self.msgs[mi].okey, self.msgs[mi].kseq);
        let Some(rs) = &mut self.groups[g].resequence else {
            return;
        };
        if k == NONE {
            return;
        }
        let n = &mut rs.next[k as usize];
        *n = (*n).max(seq + 1);
        let next = *n;
        if let Some((&id, _)) = rs.held.range((k, 0, 0)..=(k, next, u64::MAX)).next() {
            self.reseq_release(g, id, false);
        }
    }

    /// A crashed instance's held-back deliveries, removed from the buffer.
    pub(super) fn reseq_take(&mut self, i: u32) -> Vec<(u32, u32, Nanos)> {
        let g = self.insts[i as usize].group as usize;
        let Some(rs) = &mut self.groups[g].resequence else {
            return Vec::new();
        };
        let mine: Vec<(u32, u64, u64)> = rs
            .held
            .iter()
            .filter(|(_, h)| h.0 == i)
            .map(|(&k, _)| k)
            .collect();
        mine.into_iter()
            .filter_map(|k| rs.held.remove(&k))
            .map(|h| (h.2, h.3, h.4))
            .collect()
    }
}
