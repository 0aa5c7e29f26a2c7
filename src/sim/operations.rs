//! What production fleets do between incidents: faults that repeat on a
//! period (`every`, with `jitter`), rolling restarts (deploys: the
//! instances of a group restart one after another, gracefully or not) and
//! stop-the-world pauses (`gc-pause`: an instance stops processing without
//! crashing, so its leases run out and its poll interval passes).

use super::*;

impl<'m, F: Features> Sim<'m, F> {
    /// A rolling restart's units, in the order they restart: the instances
    /// of its consumer group, or its producer.
    pub(super) fn rolling_units(&self, fi: usize) -> Vec<u32> {
        let f = &self.m.faults[fi];
        let Some(t) = f.target else {
            return Vec::new();
        };
        if f.targets_producers() {
            vec![t as u32]
        } else {
            self.group_insts[t].clone()
        }
    }

    /// Schedules unit `u`'s next occurrence of periodic fault `fi`: the
    /// first whose start has not passed (a fault that outlasted its period
    /// skips the occurrences it covered), if it starts while the producers
    /// publish. Occurrence k of unit u starts at `first + k * every`, plus
    /// `u * interval` (a rolling restart's place in the order) and a jitter
    /// drawn for occurrence k (shared by a rolling restart's units, so the
    /// order holds).
    pub(super) fn schedule_occurrence(&mut self, fi: usize, u: usize) {
        let f = &self.m.faults[fi];
        let FaultTiming::Periodic {
            first_ns,
            every_ns,
            jitter_ns,
            ..
        } = f.timing
        else {
            return;
        };
        let jitter_unit = if f.kind == FaultKind::RollingRestart {
            0
        } else {
            u as u64
        };
        let offset_ns = (u as Nanos).saturating_mul(f.interval_ns);
        let now = self.q.now();
        loop {
            let k = self.fault_occurrence[fi][u];
            let nominal_ns = first_ns.saturating_add(k.saturating_mul(every_ns));
            if nominal_ns >= self.end_arrivals_ns {
                return;
            }
            let jitter = if jitter_ns > 0 {
                let mut r = self.stream(
                    Domain::Fault,
                    (1 << 40) | fi as u64,
                    (k << 20) | jitter_unit,
                );
                (unit(&mut r) * jitter_ns as f64) as Nanos
            } else {
                0
            };
            let at = nominal_ns.saturating_add(offset_ns).saturating_add(jitter);
            if at >= now {
                self.q.schedule(
                    at,
                    Ev::FaultStart {
                        fault: fi as u32,
                        unit: u as u32,
                    },
                );
                return;
            }
            self.fault_occurrence[fi][u] += 1;
        }
    }

    /// A rolling restart takes unit `unit_id` down: a producer, or an
    /// instance of a consumer group (gracefully: it takes no more
    /// deliveries and finishes those it holds; or a crash).
    pub(super) fn rolling_down(&mut self, fi: usize, unit_id: u32) {
        let f = &self.m.faults[fi];
        let graceful = f.graceful;
        if f.targets_producers() {
            let p = unit_id as usize;
            if graceful {
                self.prods[p].stopping = true;
            } else {
                self.crash_producer(p);
            }
        } else if graceful {
            self.stop_taking_deliveries(unit_id);
        } else {
            self.crash_consumer(unit_id);
        }
    }

    /// The end of a rolling restart's downtime for one unit: it starts again.
    pub(super) fn rolling_up(&mut self, fi: usize, unit_id: u32) {
        let f = &self.m.faults[fi];
        if f.targets_producers() {
            let p = unit_id as usize;
            if f.graceful {
                self.prods[p].stopping = false;
            } else {
                self.prods[p].up = true;
                if self.m.producers[p].outbox {
                    self.relay_outbox(p);
                }
            }
        } else if f.graceful {
            let inst = &mut self.insts[unit_id as usize];
            inst.draining = false;
            let qi = self.m.groups[inst.group as usize].queue;
            self.refill_credits(unit_id);
            self.dispatch(qi);
        } else {
            self.restart_consumer(unit_id);
        }
    }

    /// A graceful stop: the broker gets no more credits from instance `i`
    /// (those it had are void), and what the instance holds it finishes
    /// and acks as usual. The downtime includes the shutdown: an instance
    /// still finishing when it ends simply carries on.
    fn stop_taking_deliveries(&mut self, i: u32) {
        let inst = &mut self.insts[i as usize];
        inst.draining = true;
        inst.credit_epoch = inst.credit_epoch.wrapping_add(1);
    }

    /// A stop-the-world pause of instance `i` for `length_ns`: what it is
    /// processing ends that much later, it starts nothing new, and it sends
    /// no acks and no lease extensions until the pause ends; the broker
    /// knows nothing of it (ack deadlines and poll intervals run on). A
    /// topic member's heartbeats stop too: see `log_pause_begins`.
    pub(super) fn pause_instance(&mut self, i: u32, length_ns: Nanos) {
        let now = self.q.now();
        let inst = &mut self.insts[i as usize];
        if !inst.up {
            return;
        }
        let until = now.saturating_add(length_ns);
        let was_paused = inst.paused_until_ns > now;
        // With pauses that overlap, the attempts freeze until the later end.
        let extra = until.saturating_sub(inst.paused_until_ns.max(now));
        if extra == 0 {
            return;
        }
        inst.paused_until_ns = until;
        if !was_paused && self.is_log_inst(i) {
            self.log_pause_begins(i);
        }
        let inst = &self.insts[i as usize];
        let mut attempts: Vec<(u32, u32)> = inst.working.iter().map(|w| (w.0, w.1)).collect();
        if self.is_log_inst(i) && self.insts[i as usize].busy > 0 {
            attempts.push((NONE, NONE));
        }
        let inst = &mut self.insts[i as usize];
        for (c, d) in attempts {
            match inst.frozen.iter_mut().find(|x| x.0 == c && x.1 == d) {
                Some(x) => x.2 += extra,
                None => inst.frozen.push((c, d, extra)),
            }
        }
    }

    /// The end of a pause: the instance starts what waits in its buffer
    /// (a topic member goes on with its poll loop).
    pub(super) fn end_pause(&mut self, i: u32) {
        if self.insts[i as usize].paused_until_ns > self.q.now() {
            return; // a longer pause overlaps this one
        }
        if self.is_log_inst(i) {
            self.log_step(i);
        } else {
            self.try_start(i);
        }
    }

    /// The delay a pause added to the attempt of copy `c` (delivery `d`)
    /// on instance `i`, if one did: its end comes that much later.
    #[inline(never)]
    pub(super) fn thaw(&mut self, i: u32, c: u32, d: u32) -> Option<Nanos> {
        let frozen = &mut self.insts[i as usize].frozen;
        let pos = frozen.iter().position(|x| x.0 == c && x.1 == d)?;
        Some(frozen.swap_remove(pos).2)
    }

    /// Whether instance `i` is in a stop-the-world pause now.
    #[inline(always)]
    pub(super) fn paused(&self, i: u32) -> bool {
        F::FAULTS && self.insts[i as usize].paused_until_ns > self.q.now()
    }
}
