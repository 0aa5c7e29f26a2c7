//! Faults: partitions, consumer, producer and broker crashes (process or
//! machine scope) and their repairs, as the fault timeline schedules them.

use super::*;

impl<'m, F: Features> Sim<'m, F> {
    /// The units a fault acts on: instances of a group, producers, or the broker.
    pub(super) fn fault_units(&self, fi: usize) -> Vec<u32> {
        let f = &self.m.faults[fi];
        match f.kind {
            FaultKind::ConsumerCrash | FaultKind::GcPause => {
                let groups: Vec<usize> = match f.target {
                    Some(g) => vec![g],
                    None => (0..self.m.groups.len()).collect(),
                };
                let mut v = Vec::new();
                for g in groups {
                    for (k, &i) in self.group_insts[g].iter().enumerate() {
                        if f.instance.is_none_or(|want| want as usize == k) {
                            v.push(i);
                        }
                    }
                }
                v
            }
            FaultKind::ProducerCrash | FaultKind::LoadSpike => match f.target {
                Some(p) => vec![p as u32],
                None => (0..self.m.producers.len() as u32).collect(),
            },
            FaultKind::Partition => match f.target {
                Some(t) => vec![t as u32],
                None => vec![0],
            },
            FaultKind::BrokerCrash => vec![0],
            FaultKind::DependencyOutage => match f.target {
                Some(g) => vec![g as u32],
                None => (0..self.m.groups.len() as u32).collect(),
            },
            FaultKind::RollingRestart => self.rolling_units(fi),
        }
    }

    pub(super) fn on_fault_start(&mut self, fi: usize, u: usize) {
        let now = self.q.now();
        let f = &self.m.faults[fi];
        let units = self.fault_units(fi);
        let unit_id = units[u];
        let length = match &f.timing {
            FaultTiming::Window { length_ns, .. } => *length_ns,
            FaultTiming::Random { mttr, .. } => mttr.sample(&mut self.fault_rng[fi]),
            FaultTiming::Periodic {
                length_ns, mttr, ..
            } => match mttr {
                Some(d) => d.sample(&mut self.fault_rng[fi]),
                None => *length_ns,
            },
        };
        self.fault_open[fi][u] = now;
        match f.kind {
            FaultKind::ConsumerCrash => self.crash_consumer(unit_id),
            FaultKind::BrokerCrash => self.crash_broker(f.process_only),
            FaultKind::ProducerCrash => self.crash_producer(unit_id as usize),
            FaultKind::DependencyOutage => {
                let gs = &mut self.groups[unit_id as usize];
                gs.outage_failure = f.failure;
                gs.slowdown = f.slowdown;
            }
            FaultKind::Partition => self.set_partition(fi, true),
            FaultKind::LoadSpike => self.prods[unit_id as usize].rate_factor *= f.factor,
            FaultKind::RollingRestart => self.rolling_down(fi, unit_id),
            FaultKind::GcPause => self.pause_instance(unit_id, length),
        }
        self.q.schedule_in(
            length,
            Ev::FaultEnd {
                fault: fi as u32,
                unit: u as u32,
            },
        );
    }

    pub(super) fn on_fault_end(&mut self, fi: usize, u: usize) {
        let now = self.q.now();
        let f = &self.m.faults[fi];
        let units = self.fault_units(fi);
        let unit_id = units[u];
        match f.kind {
            FaultKind::ConsumerCrash => self.restart_consumer(unit_id),
            FaultKind::BrokerCrash => self.restart_broker(),
            FaultKind::ProducerCrash => {
                self.prods[unit_id as usize].up = true;
                if self.m.producers[unit_id as usize].outbox {
                    self.relay_outbox(unit_id as usize);
                }
            }
            FaultKind::DependencyOutage => {
                let gs = &mut self.groups[unit_id as usize];
                gs.outage_failure = 0.0;
                gs.slowdown = 1.0;
            }
            FaultKind::Partition => self.set_partition(fi, false),
            FaultKind::LoadSpike => {
                let ps = &mut self.prods[unit_id as usize];
                ps.rate_factor /= f.factor;
                if (ps.rate_factor - 1.0).abs() < 1e-12 {
                    ps.rate_factor = 1.0; // no drift after overlapping spikes
                }
            }
            FaultKind::RollingRestart => self.rolling_up(fi, unit_id),
            FaultKind::GcPause => self.end_pause(unit_id),
        }
        let rolls_producers = f.kind == FaultKind::RollingRestart && f.targets_producers();
        let target = match f.kind {
            FaultKind::ConsumerCrash | FaultKind::GcPause | FaultKind::RollingRestart
                if !rolls_producers =>
            {
                let g = self.insts[unit_id as usize].group as usize;
                let k = self.group_insts[g]
                    .iter()
                    .position(|&x| x == unit_id)
                    .unwrap_or(0);
                format!("consumer:{}#{}", self.m.groups[g].name, k)
            }
            FaultKind::ProducerCrash | FaultKind::LoadSpike | FaultKind::RollingRestart => {
                format!("producer:{}", self.m.producers[unit_id as usize].name)
            }
            FaultKind::DependencyOutage => {
                format!("consumer:{}", self.m.groups[unit_id as usize].name)
            }
            FaultKind::ConsumerCrash
            | FaultKind::BrokerCrash
            | FaultKind::Partition
            | FaultKind::GcPause => f.label.clone(),
        };
        self.faults_total += 1;
        if self.faults.len() < FAULT_RECORDS_KEPT {
            self.faults.push(FaultRecord {
                kind: f.kind.word().into(),
                start: crate::time::ns_to_secs(self.fault_open[fi][u]),
                end: crate::time::ns_to_secs(now),
                target,
            });
        }
        if let FaultTiming::Random { mtbf_ns, .. } = self.m.faults[fi].timing {
            let t = self.exp_draw_fault(fi, mtbf_ns);
            if t < self.end_arrivals_ns {
                self.q.schedule(
                    t,
                    Ev::FaultStart {
                        fault: fi as u32,
                        unit: u as u32,
                    },
                );
            }
        }
        if let FaultTiming::Periodic { .. } = self.m.faults[fi].timing {
            self.fault_occurrence[fi][u] += 1;
            self.schedule_occurrence(fi, u);
        }
    }

    pub(super) fn set_partition(&mut self, fi: usize, on: bool) {
        let f = &self.m.faults[fi];
        let Some(t) = f.target else { return };
        let is_consumer = f.label.starts_with("consumer:");
        if is_consumer {
            for i in self.group_insts[t].clone() {
                self.insts[i as usize].partitioned = on;
                self.refill_credits(i);
            }
            let qi = self.m.groups[t].queue;
            self.dispatch(qi);
        } else {
            self.prods[t].partitioned = on;
            if !on && self.m.producers[t].topic.is_some() {
                self.flush_log_buffer(t);
            }
        }
    }

    pub(super) fn crash_consumer(&mut self, i: u32) {
        let now = self.q.now();
        let inst = &mut self.insts[i as usize];
        if !inst.up {
            return;
        }
        inst.up = false;
        inst.epoch = inst.epoch.wrapping_add(1);
        inst.credit_epoch = inst.credit_epoch.wrapping_add(1);
        inst.frozen.clear(); // the crash ends a pause
        inst.paused_until_ns = 0;
        let g = inst.group as usize;
        let k = self.group_insts[g]
            .iter()
            .position(|&x| x == i)
            .unwrap_or(0);
        self.group_down_since[g][k] = now;
        if self.m.groups[g].log.is_some() {
            self.log_crash(i);
            return;
        }
        let qi = self.m.groups[g].queue;
        let auto = self.m.groups[g].ack_on_receive;
        let working: Vec<(u32, u32, Nanos)> = inst.working.drain(..).collect();
        let mut buffered: Vec<(u32, u32, Nanos)> = inst.buffer.drain(..).collect();
        let incoming: Vec<(u32, u32, Nanos)> = inst.incoming.drain(..).collect();
        self.stats.advance(qi, now);
        self.stats.queues[qi].sub_busy(inst.busy as u64);
        inst.busy = 0;
        let held = inst.held as u64;
        inst.held = 0;
        inst.acks_on_wire = 0;
        self.stats.queues[qi].sub_held(held);
        buffered.extend(self.reseq_take(i));
        if self.tracing() {
            for &(c, _, _) in &working {
                self.trace(c, "attempt cut short (consumer crash)", "", None);
            }
            for &(c, _, _) in buffered.iter().chain(incoming.iter()) {
                self.trace(c, "consumer crashed holding it", "", None);
            }
        }
        for (c, d, visit_start) in working
            .iter()
            .chain(buffered.iter())
            .chain(incoming.iter())
            .copied()
        {
            let in_window = self.msgs[self.copies[c].msg].in_window;
            self.stats.end_visit(qi, visit_start, now, in_window);
            if auto {
                if self.copies[c].state == CState::Consumer {
                    self.copy_lost(c, Cause::AutoAckCrash, st::IN_FLIGHT);
                }
            } else if self.copies[c].state == CState::InFlight && self.copies[c].delivery == d {
                self.copies[c].dup_cause = Cause::ConsumerCrash;
                self.crash_held(c);
                if self.m.queues[qi].crash_requeue_immediate {
                    self.cancelled();
                    self.redeliver(c, Cause::ConsumerCrash);
                } else if F::LEASES {
                    self.crash_return_later(c, d);
                }
            }
        }
        // Deliveries still on the wire keep their hold until they arrive
        // (and find the epoch changed); the others are released now.
        for (c, _, _) in working.iter().chain(buffered.iter()).copied() {
            self.unhold(c);
        }
        self.dispatch(qi);
    }

    pub(super) fn restart_consumer(&mut self, i: u32) {
        if !self.may_restart(i) {
            return; // its autoscaler removed it (and ended its downtime)
        }
        let now = self.q.now();
        let inst = &mut self.insts[i as usize];
        if inst.up {
            return;
        }
        inst.up = true;
        inst.up_since_ns = now;
        let g = inst.group as usize;
        let k = self.group_insts[g]
            .iter()
            .position(|&x| x == i)
            .unwrap_or(0);
        let since = self.group_down_since[g][k].max(self.stats.window_start);
        let to = now.min(self.stats.window_end);
        if to > since {
            self.stats.group_up_ns[g].0 += (to - since) as u128;
        }
        if self.is_log_inst(i) {
            self.log_restart(i);
            return;
        }
        self.refill_credits(i);
        let qi = self.m.groups[g].queue;
        self.dispatch(qi);
    }

    pub(super) fn crash_producer(&mut self, p: usize) {
        if !self.prods[p].up {
            return;
        }
        self.prods[p].up = false;
        self.prods[p].epoch = self.prods[p].epoch.wrapping_add(1);
        if self.m.producers[p].topic.is_some() {
            self.log_producer_crash(p);
            return;
        }
        if self.m.producers[p].outbox {
            return; // the outbox keeps every unconfirmed message (traced when relayed)
        }
        let pending: Vec<u32> = self
            .msgs
            .iter()
            .filter(|(_, m)| m.producer as usize == p && m.producer_holds && !m.confirmed)
            .map(|(i, _)| i)
            .collect();
        for mi in pending {
            if self.tracing() {
                let publish = self.msgs[mi].publishes.saturating_sub(1);
                self.trace_producer(
                    mi,
                    "producer crashed before its confirm",
                    publish,
                    String::new(),
                );
            }
            self.msgs[mi].lost_cause = Cause::ProducerCrash;
            self.msgs[mi].live += 1; // keep it while we release
            self.release_producer(mi);
            self.msgs[mi].live -= 1;
            if self.msgs[mi].live == 0 && self.msgs[mi].flags == 0 {
                self.msgs[mi].flags |= F_LOST;
            }
            self.check_finish(mi);
        }
    }

    /// The broker crashes. `process_only`: a SIGKILL of its process, after
    /// which the operating system's page cache still holds what was written
    /// but not fsynced; otherwise the machine went down (power, kernel) and
    /// took the fsync window with it.
    pub(super) fn crash_broker(&mut self, process_only: bool) {
        let now = self.q.now();
        if !self.broker_up {
            return;
        }
        self.broker_up = false;
        self.broker_epoch = self.broker_epoch.wrapping_add(1);
        // Which copies the disk has: durable queue, persistent message, and
        // accepted before the last fsync.
        let at_broker: Vec<u32> = self
            .copies
            .iter()
            .filter(|(_, c)| matches!(c.state, CState::Ready | CState::InFlight | CState::Delayed))
            .map(|(i, _)| i)
            .collect();
        for qi in 0..self.queues.len() {
            self.stats.advance(qi, now);
            self.lanes_clear(qi);
            self.queues[qi].ready.clear();
            self.queues[qi].ready_len = 0;
            self.stats.queues[qi].ready = 0;
            self.queues[qi].credits.clear();
            self.queues[qi].delayed = 0;
        }
        // The pending sets go with the broker: slots kept for delayed
        // retries are free when it restarts (`restart_broker` refills).
        for inst in self.insts.iter_mut() {
            inst.delays_held = 0;
        }
        for &c in &at_broker {
            self.copies[c].delay_slot_kept = false;
        }
        for c in at_broker {
            let qm = &self.m.queues[self.copies[c].queue as usize];
            let fsync = qm.fsync_ns;
            let qi = self.copies[c].queue as usize;
            let last_fsync = if fsync == 0 {
                now
            } else {
                self.next_fsync(qi, now).saturating_sub(fsync)
            };
            let from = match self.copies[c].state {
                CState::Ready => st::QUEUED,
                CState::Delayed => st::WAITING_RETRY,
                _ => st::IN_FLIGHT,
            };
            let survives = qm.durable
                && self.copies[c].persistent
                && (process_only || self.copies[c].accepted_ns <= last_fsync);
            if survives && process_only && from == st::IN_FLIGHT && qm.crash_keeps_pending {
                // Still pending on disk: its delivery and AckWait go on
                // (an ack sent while the broker is down is lost).
                self.copies[c].dup_cause = Cause::BrokerCrash;
                self.trace(c, "broker crashed: still pending on disk", "", None);
                self.mark_affected(c);
            } else if survives {
                if from == st::IN_FLIGHT {
                    self.copies[c].dup_cause = Cause::BrokerCrash;
                }
                self.trace(c, "broker crashed: kept on disk", "", None);
                self.mark_affected(c);
                self.new_gen(c);
                self.copies[c].state = CState::Parked;
                self.broker_parked.push(c);
            } else {
                self.copy_lost(c, Cause::BrokerCrash, from);
            }
        }
    }

    pub(super) fn restart_broker(&mut self) {
        self.broker_up = true;
        let mut parked = std::mem::take(&mut self.broker_parked);
        if self.queues.iter().any(|q| !q.lanes.is_empty()) {
            // A FIFO queue keeps its order across a restart: survivors go
            // back in the order the broker accepted them.
            parked.sort_by_key(|&c| self.copies.get(c).map_or(0, |x| x.accepted_ns));
        }
        for c in parked {
            if self
                .copies
                .get(c)
                .is_some_and(|x| x.state == CState::Parked)
            {
                self.trace(c, "broker restarted: ready again", "", None);
                self.enqueue_ready(c, false);
            }
        }
        // Queue consumers get fresh credits; members of a topic's consumer
        // group have none (they poll their partitions).
        for qi in 0..self.queues.len() {
            for i in self.group_insts_of_queue(qi) {
                self.refill_credits(i);
            }
        }
        for qi in 0..self.queues.len() {
            self.dispatch(qi);
        }
        if F::TOPICS {
            self.log_broker_restart();
        }
    }
}
