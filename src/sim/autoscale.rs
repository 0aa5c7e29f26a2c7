//! Autoscaling consumers (`consumer.autoscale`), as KEDA drives a
//! Kubernetes HPA: every `poll` the autoscaler reads a metric of its
//! group's queue, wants ceil(metric / target) instances within min..max,
//! adds or removes at most `step`, removes only `cooldown` after its last
//! change, and a started instance serves after `startup`.
//!
//! The group has `max` instances from the start; those above the current
//! count are parked (never started, or removed). The active ones are
//! always the first of the group's list: scaling out starts the lowest
//! parked ones, scaling in removes the highest active ones, so a fault's
//! `instance = k` names the same instance throughout. A removed instance
//! drains (as a graceful rolling restart: it takes no more deliveries and
//! finishes what it holds) or crashes (`drain = false`); both paths are
//! the fault machinery's, so an autoscaled model runs on the build with
//! faults ([`Features::FAULTS`]).

use super::*;
use crate::model::{AutoscaleModel, ScaleMetric};

/// What the autoscaler knows of one instance of its group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Slot {
    /// Not part of the group: never started, or removed (a draining one
    /// may still be finishing what it held).
    Parked,
    /// Started at a scale-out; it takes deliveries from this time.
    Starting { ready_ns: Nanos },
    /// Part of the group and past its start-up (it may be down by a fault).
    Serving,
}

/// One group's autoscaler.
pub(super) struct Scaler {
    pub(super) group: usize,
    /// Per instance of the group, in the group's order.
    pub(super) slots: Vec<Slot>,
    /// Instances started and not removed: `slots[..active]`.
    pub(super) active: u32,
    /// The last scale-out or scale-in (the start counts as one: no
    /// scale-in before a first `cooldown` has passed).
    pub(super) last_change_ns: Nanos,
}

/// The autoscalers of model `m`, one per autoscaled group (none without).
pub(super) fn scalers(m: &Model) -> Vec<Scaler> {
    m.groups
        .iter()
        .enumerate()
        .filter(|(_, g)| g.autoscale.is_some())
        .map(|(g, gm)| Scaler {
            group: g,
            slots: (0..gm.most_instances())
                .map(|k| {
                    if k < gm.count {
                        Slot::Serving
                    } else {
                        Slot::Parked
                    }
                })
                .collect(),
            active: gm.count,
            last_change_ns: 0,
        })
        .collect()
}

impl<'m, F: Features> Sim<'m, F> {
    /// Schedules every autoscaler's first poll, one `poll` in.
    pub(super) fn autoscale_start(&mut self) {
        for s in 0..self.scalers.len() {
            let g = self.scalers[s].group;
            let a = self.scale_model(g);
            let at = a.poll_ns.min(self.end_ns);
            self.q.schedule(at, Ev::AutoscalePoll { group: g as u32 });
        }
    }

    fn scale_model(&self, g: usize) -> AutoscaleModel {
        self.m.groups[g]
            .autoscale
            .expect("only an autoscaled group has a scaler")
    }

    fn scaler_of(&self, g: usize) -> Option<usize> {
        self.scalers.iter().position(|s| s.group == g)
    }

    /// The autoscaler's slot of instance `i`, if its group autoscales.
    pub(super) fn slot_of(&self, i: u32) -> Option<Slot> {
        let g = self.insts[i as usize].group as usize;
        let s = self.scaler_of(g)?;
        let k = (i - self.group_insts[g][0]) as usize;
        Some(self.scalers[s].slots[k])
    }

    /// Whether a fault may bring instance `i` back up: not one the
    /// autoscaler removed or is still starting.
    pub(super) fn may_restart(&self, i: u32) -> bool {
        !F::FAULTS || self.slot_of(i).is_none_or(|s| s == Slot::Serving)
    }

    /// A poll: reads the metric, and scales out at once or in after the
    /// cooldown, by at most `step` instances.
    pub(super) fn on_autoscale_poll(&mut self, g: usize) {
        let now = self.q.now();
        let a = self.scale_model(g);
        let next = now.saturating_add(a.poll_ns);
        if next <= self.end_ns {
            self.q.schedule(next, Ev::AutoscalePoll { group: g as u32 });
        }
        let s = self.scaler_of(g).expect("a poll comes from a scaler");
        let Some((value, serving)) = self.scale_metric(g, s, a.metric) else {
            return; // nothing serves: no utilisation to read
        };
        let desired = a.desired(value, serving);
        let sc = &self.scalers[s];
        let active = sc.active;
        if desired > active {
            let to = active + (desired - active).min(a.step);
            self.scale_to(s, to, a);
        } else if desired < active && now >= sc.last_change_ns.saturating_add(a.cooldown_ns) {
            let to = active - (active - desired).min(a.step);
            self.scale_to(s, to, a);
        }
    }

    /// The metric's value now for group `g`, and the instances serving.
    fn scale_metric(&self, g: usize, s: usize, metric: ScaleMetric) -> Option<(f64, u32)> {
        let qi = self.m.groups[g].queue;
        let ready = self.queues[qi].ready_len as f64;
        let held = self.stats.queues[qi].held as f64;
        let sc = &self.scalers[s];
        let serving: Vec<u32> = (0..sc.active as usize)
            .filter(|&k| sc.slots[k] == Slot::Serving)
            .map(|k| self.group_insts[g][k])
            .filter(|&i| self.insts[i as usize].up)
            .collect();
        let value = match metric {
            ScaleMetric::Backlog => ready,
            ScaleMetric::Lag => ready + held,
            ScaleMetric::InFlight => held,
            ScaleMetric::Utilisation => {
                if serving.is_empty() {
                    return None;
                }
                let busy: u32 = serving.iter().map(|&i| self.insts[i as usize].busy).sum();
                let workers = serving.len() as f64 * self.m.groups[g].concurrency as f64;
                100.0 * busy as f64 / workers
            }
        };
        Some((value, serving.len() as u32))
    }

    /// Starts or removes instances until `to` are active, and records the
    /// change in the fault timeline.
    fn scale_to(&mut self, s: usize, to: u32, a: AutoscaleModel) {
        let now = self.q.now();
        let g = self.scalers[s].group;
        let from = self.scalers[s].active;
        debug_assert!((a.min..=a.max).contains(&to), "{to} outside min..max");
        for k in from..to {
            self.start_instance(s, k as usize, a.startup_ns);
        }
        for k in (to..from).rev() {
            self.remove_instance(s, k as usize, a.drain);
        }
        self.scalers[s].active = to;
        self.scalers[s].last_change_ns = now;
        self.stats.set_instances(g, to, now);
        let (kind, end) = if to > from {
            ("scale-out", now.saturating_add(a.startup_ns))
        } else {
            ("scale-in", now)
        };
        self.faults_total += 1;
        if self.faults.len() < FAULT_RECORDS_KEPT {
            self.faults.push(FaultRecord {
                kind: kind.into(),
                start: crate::time::ns_to_secs(now),
                end: crate::time::ns_to_secs(end),
                target: format!(
                    "consumer:{} ({from} -> {to} instances)",
                    self.m.groups[g].name
                ),
            });
        }
    }

    /// Scale-out of the group's instance `k`: it serves after `startup_ns`.
    fn start_instance(&mut self, s: usize, k: usize, startup_ns: Nanos) {
        debug_assert_eq!(self.scalers[s].slots[k], Slot::Parked);
        let i = self.group_insts[self.scalers[s].group][k];
        let ready_ns = self.q.now().saturating_add(startup_ns);
        self.scalers[s].slots[k] = Slot::Starting { ready_ns };
        if startup_ns == 0 {
            self.on_instance_ready(i);
        } else {
            self.q.schedule(ready_ns, Ev::InstanceReady { inst: i });
        }
    }

    /// A started instance's start-up is over (unless it was removed, or
    /// removed and started again, meanwhile): it takes deliveries.
    pub(super) fn on_instance_ready(&mut self, i: u32) {
        let now = self.q.now();
        let g = self.insts[i as usize].group as usize;
        let Some(s) = self.scaler_of(g) else { return };
        let k = (i - self.group_insts[g][0]) as usize;
        if self.scalers[s].slots[k] != (Slot::Starting { ready_ns: now }) {
            return;
        }
        self.scalers[s].slots[k] = Slot::Serving;
        let inst = &mut self.insts[i as usize];
        // Either never started (or crashed when removed), or drained when
        // removed and perhaps still finishing what it held.
        if !inst.up {
            inst.up = true;
            inst.up_since_ns = now;
        }
        inst.draining = false;
        let qi = self.m.groups[g].queue;
        self.refill_credits(i);
        self.dispatch(qi);
    }

    /// Scale-in of the group's instance `k`: it drains (takes no more
    /// deliveries, finishes and acks what it holds) or crashes. One that a
    /// fault has down leaves the group down: its downtime ends here.
    fn remove_instance(&mut self, s: usize, k: usize, drain: bool) {
        let now = self.q.now();
        let g = self.scalers[s].group;
        let i = self.group_insts[g][k];
        let was = self.scalers[s].slots[k];
        debug_assert_ne!(was, Slot::Parked, "only an active instance is removed");
        self.scalers[s].slots[k] = Slot::Parked;
        if was != Slot::Serving {
            return; // still starting: it never took a delivery since
        }
        if !self.insts[i as usize].up {
            let since = self.group_down_since[g][k].max(self.stats.window_start);
            let to = now.min(self.stats.window_end);
            if to > since {
                self.stats.group_up_ns[g].0 += (to - since) as u128;
            }
        } else if drain {
            let inst = &mut self.insts[i as usize];
            inst.draining = true;
            inst.credit_epoch = inst.credit_epoch.wrapping_add(1);
        } else {
            self.crash_consumer(i);
        }
    }
}
