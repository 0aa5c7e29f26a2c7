//! Producers: arrivals (poisson, constant, load spikes), publishing with
//! confirms and client timeouts, producer retries and the transactional
//! outbox.

use super::*;

/// An exponential gap between Poisson arrivals, rounded to the nanosecond.
#[inline(always)]
pub(super) fn poisson_gap_ns(rng: &mut Stream, rate_per_s: f64) -> Nanos {
    crate::time::secs_to_ns(-rng::unit_open0(rng).ln() / rate_per_s)
}

impl<'m, F: Features> Sim<'m, F> {
    #[inline(always)]
    pub(super) fn next_arrival(&mut self, p: usize, now: Nanos) -> Option<Nanos> {
        let ps = &mut self.prods[p];
        let rng = &mut ps.rng;
        let t = match &self.m.producers[p].arrival {
            Arrival::Poisson { rate_per_s } => {
                let gap = ps.gap_ns;
                ps.gap_ns = poisson_gap_ns(rng, *rate_per_s);
                now.saturating_add(gap)
            }
            Arrival::Constant { interval_ns } => {
                if ps.seq == 0 && now == 0 {
                    *interval_ns
                } else {
                    now.saturating_add(*interval_ns)
                }
            }
            Arrival::Interarrival(d) => now.saturating_add(d.sample(rng)),
            Arrival::Trace(times) => {
                // The recorded instants, as recorded: a load spike does not
                // move them. `seq` counts the arrivals so far.
                let t = times.get(ps.seq as usize).copied().unwrap_or(Nanos::MAX);
                return (t < self.end_arrivals_ns).then_some(t);
            }
            Arrival::Schedule(pieces) => {
                // Thinning-free: exponential with the current piece's rate,
                // restarting at piece boundaries (memorylessness makes this exact).
                let mut t = now;
                loop {
                    let idx = pieces.iter().rposition(|(from, _)| *from <= t);
                    let (rate, next_edge) = match idx {
                        Some(i) => (pieces[i].1, pieces.get(i + 1).map(|x| x.0)),
                        None => (0.0, pieces.first().map(|x| x.0)),
                    };
                    let u = rng::unit_open0(rng);
                    let cand = if rate > 0.0 {
                        t.saturating_add(crate::time::secs_to_ns(-u.ln() / rate))
                    } else {
                        Nanos::MAX
                    };
                    match next_edge {
                        Some(e) if cand >= e => t = e,
                        _ => break cand,
                    }
                    if t >= self.end_arrivals_ns {
                        break Nanos::MAX;
                    }
                }
            }
        };
        let t = if F::FAULTS { self.spiked(p, now, t) } else { t };
        (t < self.end_arrivals_ns).then_some(t)
    }

    /// During a load spike the arrival process runs `rate_factor` times as
    /// fast: the gap just drawn is shortened by that factor (the arrival
    /// already scheduled when a spike starts or ends keeps its time).
    #[inline(always)]
    pub(super) fn spiked(&self, p: usize, now: Nanos, t: Nanos) -> Nanos {
        let f = self.prods[p].rate_factor;
        if f == 1.0 || t == Nanos::MAX {
            return t;
        }
        let gap = (t - now) as f64 / f;
        now.saturating_add(gap.round().min(1e18) as Nanos)
    }

    pub(super) fn on_arrival(&mut self, p: usize) {
        let now = self.q.now();
        let n = self.prods[p].seq;
        self.prods[p].seq += 1;
        if let Some(t) = self.next_arrival(p, now) {
            self.q.schedule(t, Ev::Arrival { producer: p as u32 });
        }
        if F::FAULTS && (!self.prods[p].up || self.prods[p].stopping) {
            // The producer is down (or stopping): the business event that
            // would have published this message does not happen.
            return;
        }
        let in_window = self.stats.in_window(now);
        let key = rng::combine(self.prods[p].key, n);
        let (okey, kseq) = match (F::KEYS, &self.m.producers[p].keys) {
            (true, Some(ks)) => {
                let k = ks.sample(&mut self.stream(Domain::Key, key, 0));
                let seq = self.key_seq[k as usize];
                self.key_seq[k as usize] += 1;
                (k, seq)
            }
            _ => (NONE, 0),
        };
        let id = self.next_msg_id;
        self.next_msg_id += 1;
        let mi = self.msgs.insert(Msg {
            id,
            key,
            publish_ns: now,
            producer: p as u32,
            in_window,
            live: 0,
            done_mask: 0,
            flags: 0,
            lost_cause: Cause::None,
            dlq_reason: Cause::None,
            attempts: 0,
            publishes: 0,
            awaiting: NONE,
            producer_holds: false,
            confirmed: false,
            timeouts: 0,
            first_pub_ns: now,
            prev_delay_ns: 0,
            pub_epoch: self.prods[p].epoch,
            parked: 0,
            okey,
            kseq,
            log_done: 0,
            extra_origin: Cause::None,
            redrives: 0,
            marks: 0,
        });
        if in_window {
            self.stats.add_published(1);
        }
        if F::STRATEGIES {
            if let Some(b) = &mut self.prods[p].budget {
                b.on_request(now);
            }
        }
        let pm = &self.m.producers[p];
        if F::PUBLISHER {
            if pm.confirm_timeout_ns.is_some() || pm.timeout_ns.is_some() || pm.outbox {
                self.msgs[mi].producer_holds = true;
                self.msgs[mi].live += 1;
            }
            if let Some(t) = pm.timeout_ns {
                self.msgs[mi].live += 1;
                self.q.schedule_in(
                    t,
                    Ev::ClientTimeout {
                        msg: mi,
                        publish: 0,
                    },
                );
            }
        }
        self.producer_publish(mi);
        self.check_finish(mi);
    }

    /// The producer sends (or sends again) message `mi`.
    #[inline(always)]
    pub(super) fn producer_publish(&mut self, mi: u32) {
        let p = self.msgs[mi].producer as usize;
        if F::FAULTS && !self.prods[p].up {
            return; // an outbox relays it after the restart
        }
        if F::TOPICS && self.m.producers[p].topic.is_some() {
            self.log_publish(mi);
            return;
        }
        let pm = &self.m.producers[p];
        let (queue, persistent, confirm_timeout) =
            (pm.queue as u32, pm.persistent, pm.confirm_timeout_ns);
        let publish = self.msgs[mi].publishes;
        self.msgs[mi].publishes += 1;
        // One outstanding publish per message: a retry is scheduled only
        // once the previous publish is settled (`producer_retry`).
        debug_assert!(
            publish == 0 || self.msgs[mi].awaiting == NONE,
            "a message published again while a publish or a retry was outstanding"
        );
        self.msgs[mi].awaiting = publish;
        self.msgs[mi].pub_epoch = self.prods[p].epoch;
        if self.tracing() {
            self.trace_producer(mi, "published", publish, format!("publish {}", publish + 1));
        }
        if F::PUBLISHER {
            if let Some(t) = confirm_timeout {
                self.msgs[mi].live += 1;
                self.q
                    .schedule_in(t, Ev::ConfirmTimeout { msg: mi, publish });
            }
        }
        if F::FAULTS && self.prods[p].partitioned {
            self.publish_lost(mi, Cause::Partition);
            return;
        }
        self.publish(mi, publish, queue, persistent, true, 0);
    }

    /// Puts a publish of `mi` on the wire towards the broker.
    #[inline(always)]
    pub(super) fn publish(
        &mut self,
        mi: u32,
        serial: u32,
        queue: u32,
        persistent: bool,
        from_producer: bool,
        hop_no: u32,
    ) {
        match self.hop(mi, serial, hop_no, Link::Publish) {
            Hop::Lost => self.publish_lost(mi, Cause::Network),
            Hop::After(lat, dup) => {
                self.msgs[mi].live += 1;
                if let Some(lat2) = dup {
                    self.msgs[mi].live += 1;
                    self.q.schedule_in(
                        lat2,
                        Ev::PublishArrive {
                            msg: mi,
                            publish: serial | 0x8000_0000,
                            queue,
                            serial: serial | 0x8000_0000,
                            persistent,
                            from_producer,
                        },
                    );
                }
                if lat == 0 {
                    self.on_publish_arrive(
                        mi,
                        serial,
                        queue as usize,
                        serial,
                        persistent,
                        from_producer,
                    );
                } else {
                    self.deliver_ev(
                        lat,
                        Ev::PublishArrive {
                            msg: mi,
                            publish: serial,
                            queue,
                            serial,
                            persistent,
                            from_producer,
                        },
                    );
                }
            }
        }
    }

    /// A publish vanished. Fire and forget loses the message; a producer
    /// waiting for a confirm will notice and retry.
    pub(super) fn publish_lost(&mut self, mi: u32, cause: Cause) {
        let m = &mut self.msgs[mi];
        if m.lost_cause == Cause::None {
            m.lost_cause = cause;
        }
        if !m.producer_holds {
            m.flags |= F_LOST;
        }
        self.check_finish(mi);
    }

    pub(super) fn send_confirm(&mut self, mi: u32, publish: u32, ok: bool) {
        let p = self.msgs[mi].producer as usize;
        if !self.msgs[mi].producer_holds || self.m.producers[p].confirm == Confirm::None {
            return;
        }
        if self.prods[p].partitioned {
            return;
        }
        let serial = publish & 0x7FFF_FFFF;
        match self.hop(mi, serial, 1, Link::Confirm) {
            Hop::Lost => {}
            Hop::After(lat, _) => {
                self.msgs[mi].live += 1;
                if lat == 0 {
                    self.on_confirm(mi, publish, ok);
                } else {
                    self.deliver_ev(
                        lat,
                        Ev::Confirm {
                            msg: mi,
                            publish,
                            ok,
                        },
                    );
                }
            }
        }
    }

    pub(super) fn on_confirm(&mut self, mi: u32, publish: u32, ok: bool) {
        self.msgs[mi].live -= 1;
        let p = self.msgs[mi].producer as usize;
        if F::FAULTS && self.prods[p].epoch != self.msgs[mi].pub_epoch {
            // The producer crashed since it published: the confirm went to a
            // connection that no longer exists (its outbox relays the message).
            self.check_finish(mi);
            return;
        }
        let m = &self.msgs[mi];
        let awaited = publish & 0x7FFF_FFFF == m.awaiting;
        if m.producer_holds && !m.confirmed {
            if self.tracing() {
                let what = if ok { "confirmed" } else { "publish refused" };
                let n = publish & 0x7FFF_FFFF;
                self.trace_producer(mi, what, n, format!("publish {}", n + 1));
            }
            if ok {
                self.msgs[mi].confirmed = true;
                let p = self.msgs[mi].producer as usize;
                if self.m.producers[p].timeout_ns.is_none() {
                    self.release_producer(mi);
                }
            } else if awaited {
                self.producer_retry(mi, Cause::PublishRejected);
            }
        }
        self.check_finish(mi);
    }

    pub(super) fn on_confirm_timeout(&mut self, mi: u32, publish: u32) {
        self.msgs[mi].live -= 1;
        let m = &self.msgs[mi];
        if m.producer_holds && !m.confirmed && m.awaiting == publish {
            if self.tracing() {
                self.trace_producer(
                    mi,
                    "confirm timeout",
                    publish,
                    format!("publish {}", publish + 1),
                );
            }
            self.producer_retry(mi, Cause::ConfirmTimeout);
        }
        self.check_finish(mi);
    }

    pub(super) fn on_client_timeout(&mut self, mi: u32, publish: u32) {
        self.msgs[mi].live -= 1;
        let m = &self.msgs[mi];
        // Only the outstanding publish's timer counts: a retry already
        // scheduled (after a confirm timeout, say) has settled the older one.
        if m.producer_holds && m.flags & F_ACKED == 0 && m.awaiting == publish {
            if self.tracing() {
                self.trace_producer(
                    mi,
                    "client timeout",
                    publish,
                    format!("publish {}", publish + 1),
                );
            }
            let m = &mut self.msgs[mi];
            m.timeouts = m.timeouts.saturating_add(1);
            if m.flags & F_ORBIT == 0 {
                // Timed out and still waiting: in the retry orbit until a
                // copy is processed or the client gives up.
                m.flags |= F_ORBIT;
                let qi = self.m.producers[m.producer as usize].queue;
                self.stats.advance(qi, self.q.now());
                self.stats.queues[qi].add_orbit(1);
            }
            self.producer_retry(mi, Cause::ClientTimeout);
        }
        self.check_finish(mi);
    }

    /// The producer stops caring about message `mi` (processed, confirmed,
    /// or given up); it leaves the retry orbit.
    pub(super) fn release_producer(&mut self, mi: u32) {
        let m = &mut self.msgs[mi];
        if m.producer_holds {
            m.producer_holds = false;
            m.live -= 1;
        }
        if m.flags & F_ORBIT != 0 {
            m.flags &= !F_ORBIT;
            let qi = self.m.producers[m.producer as usize].queue;
            self.stats.advance(qi, self.q.now());
            debug_assert!(self.stats.queues[qi].orbit > 0);
            self.stats.queues[qi].sub_orbit(1);
        }
    }

    /// Message `mi` was first processed (copy `c`): counts it as processed
    /// after its timeout when its client had already given up on the
    /// attempt that completed (publish `k` timed out once `k + 1` client
    /// timeouts fired; a copy from a later stage carries its producer
    /// publish in its serial's low byte), or had given up altogether.
    #[inline(never)]
    pub(super) fn client_sees(&mut self, mi: u32, c: u32, in_window: bool) {
        let m = &self.msgs[mi];
        let publish = (self.copies[c].serial & 0xFF) as u16;
        let late = !m.producer_holds || m.timeouts > publish;
        if late && in_window {
            self.stats.add_processed_after_timeout(1);
        }
    }

    /// The producer publishes `mi` again after its backoff, or gives up.
    pub(super) fn producer_retry(&mut self, mi: u32, why: Cause) {
        let now = self.q.now();
        let p = self.msgs[mi].producer as usize;
        let pm = &self.m.producers[p];
        let done = self.msgs[mi].publishes;
        // The outstanding publish is settled: no later signal about it (a
        // refusal after a timeout, say) may schedule a second retry.
        self.msgs[mi].awaiting = RETRY_PENDING;
        let Some(policy) = pm.retry.as_ref() else {
            if self.msgs[mi].lost_cause == Cause::None {
                self.msgs[mi].lost_cause = why;
            }
            self.msgs[mi].awaiting = NONE;
            self.msgs[mi].flags |= F_GAVE_UP;
            self.release_producer(mi);
            return;
        };
        let key = self.msgs[mi].key;
        let mut r = self.stream(Domain::Backoff, key, done as u64);
        let delay = policy.delay_ns(done, self.msgs[mi].prev_delay_ns, &mut r);
        let elapsed = now - self.msgs[mi].first_pub_ns;
        let allowed = policy.allows(done, elapsed, delay);
        if let Some(b) = &mut self.prods[p].budget {
            b.on_failure(now);
        }
        let budget_ok = allowed
            && self.prods[p]
                .budget
                .as_mut()
                .is_none_or(|b| b.try_retry(now));
        if allowed && !budget_ok && self.msgs[mi].in_window {
            self.stats.add_retries_refused(1);
        }
        if allowed && budget_ok {
            if self.msgs[mi].in_window {
                self.stats.add_producer_retries(1);
            }
            self.msgs[mi].prev_delay_ns = delay;
            self.msgs[mi].live += 1;
            if self.tracing() {
                let wait_s = crate::time::ns_to_secs(delay.max(MIN_PUBLISH_RETRY_NS));
                let detail = format!(
                    "after {}: publish {} in {wait_s:.3} s",
                    why.name(),
                    done + 1
                );
                self.trace_producer(mi, "republish scheduled", done, detail);
            }
            self.q.schedule_in(
                delay.max(MIN_PUBLISH_RETRY_NS),
                Ev::ProducerRetry { msg: mi },
            );
            if let Some(t) = pm.timeout_ns {
                self.msgs[mi].live += 1;
                self.q.schedule_in(
                    delay.saturating_add(t),
                    Ev::ClientTimeout {
                        msg: mi,
                        publish: done,
                    },
                );
            }
        } else {
            if self.msgs[mi].lost_cause == Cause::None || self.msgs[mi].lost_cause == Cause::Network
            {
                self.msgs[mi].lost_cause = Cause::PublishGaveUp;
            }
            if self.tracing() {
                let detail = format!("after {} ({done} publishes)", why.name());
                self.trace_producer(mi, "producer gave up", done.saturating_sub(1), detail);
            }
            self.msgs[mi].awaiting = NONE;
            self.msgs[mi].flags |= F_GAVE_UP;
            self.release_producer(mi);
        }
    }

    pub(super) fn on_producer_retry(&mut self, mi: u32) {
        self.msgs[mi].live -= 1;
        debug_assert_eq!(
            self.msgs[mi].awaiting, RETRY_PENDING,
            "a retry that was not scheduled"
        );
        self.msgs[mi].awaiting = NONE;
        let m = &self.msgs[mi];
        if m.producer_holds && (!m.confirmed || m.flags & F_ACKED == 0) {
            self.producer_publish(mi);
        }
        self.check_finish(mi);
    }

    /// After a producer restart, its outbox relays every message whose
    /// publish was not confirmed (a publish outstanding at the crash died
    /// with it), except those whose scheduled retry will publish them.
    pub(super) fn relay_outbox(&mut self, p: usize) {
        let pending: Vec<u32> = self
            .msgs
            .iter()
            .filter(|(_, m)| {
                m.producer as usize == p
                    && m.producer_holds
                    && !m.confirmed
                    && m.awaiting != RETRY_PENDING
            })
            .map(|(i, _)| i)
            .collect();
        for mi in pending {
            self.msgs[mi].awaiting = NONE;
            if self.tracing() {
                let next = self.msgs[mi].publishes;
                self.trace_producer(
                    mi,
                    "relayed by the outbox after a restart",
                    next,
                    String::new(),
                );
            }
            self.producer_publish(mi);
        }
    }
}
