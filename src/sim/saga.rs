//! Sagas (`[[saga]]`): a business transaction that travels a `publish_to`
//! pipeline of queues, one step per queue. When a later step fails for
//! good (dead-lettered, or a non-retryable failure: the saga's `trigger`),
//! each completed earlier step is undone by a compensation message
//! published to that step's compensation queue, latest step first, one
//! after the other (or all at once with `order = "parallel"`). Each
//! compensation is an ordinary copy of the message in its queue, with
//! that queue's consumers, retries, dead-lettering and faults; it does
//! not change how the message itself is counted (its step dead-lettered
//! it). A transaction ends when its message does: completed, compensated,
//! or stuck (partially applied).

use super::*;
use crate::sim::collect::{
    SAGA_COMPENSATED, SAGA_COMPENSATING, SAGA_COMPLETED, SAGA_RUNNING, SAGA_STUCK,
};

/// The part a queue plays in a saga.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SagaRole {
    None,
    Step { saga: u16, step: u16 },
    Compensation { saga: u16, step: u16 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SagaState {
    Running,
    Compensating,
    Completed,
    Compensated,
}

/// One business transaction: its message's progress through the saga.
#[derive(Clone, Copy, Debug)]
pub(super) struct SagaRun {
    saga: u16,
    state: SagaState,
    in_window: bool,
    started_ns: Nanos,
    triggered_ns: Nanos,
    /// Bit k: step k processed.
    done_steps: u64,
    /// Bit k: step k's compensation not processed yet.
    pending: u64,
    /// The queue and network serial of the copy that last moved it on
    /// (for the trace of a transaction left stuck).
    last_queue: u32,
    last_serial: u32,
}

/// Per queue, its part in the sagas (empty without sagas).
pub(super) fn saga_roles(m: &Model) -> Vec<SagaRole> {
    if m.sagas.is_empty() {
        return Vec::new();
    }
    let mut roles = vec![SagaRole::None; m.queues.len()];
    for (s, saga) in m.sagas.iter().enumerate() {
        for (k, &q) in saga.steps.iter().enumerate() {
            roles[q] = SagaRole::Step {
                saga: s as u16,
                step: k as u16,
            };
        }
        for (k, q) in saga.compensations.iter().enumerate() {
            if let Some(q) = *q {
                roles[q] = SagaRole::Compensation {
                    saga: s as u16,
                    step: k as u16,
                };
            }
        }
    }
    roles
}

impl<'m, F: Features> Sim<'m, F> {
    /// Whether queue `qi` holds compensations (its successes end there:
    /// they do not ack the message).
    #[inline]
    pub(super) fn is_compensation_queue(&self, qi: usize) -> bool {
        matches!(self.saga_roles.get(qi), Some(SagaRole::Compensation { .. }))
    }

    /// `accepted` in the trace for a compensation (copy `c` at queue `qi`):
    /// which step it undoes, rather than "published by the previous stage".
    #[inline(never)]
    pub(super) fn trace_compensation_accepted(&mut self, c: u32, qi: usize) {
        if !self.tracing() {
            return;
        }
        let Some(SagaRole::Compensation { saga, step }) = self.saga_roles.get(qi).copied() else {
            return;
        };
        let undone = self.m.sagas[saga as usize].steps[step as usize];
        let detail = format!("compensation of step {}", self.m.queues[undone].name);
        self.trace(c, "accepted", &detail, None);
    }

    /// Copy `c` of message `mi` was processed successfully at queue `qi`.
    pub(super) fn saga_on_success(&mut self, c: u32, mi: u32, qi: usize) {
        match self.saga_roles.get(qi).copied() {
            Some(SagaRole::Step { saga, step }) => self.saga_step_done(c, mi, saga, step),
            Some(SagaRole::Compensation { saga, step }) => self.saga_undo_done(c, mi, saga, step),
            _ => {}
        }
    }

    fn saga_step_done(&mut self, c: u32, mi: u32, saga: u16, step: u16) {
        let now = self.q.now();
        let slot = mi as usize;
        if self.saga_runs.len() <= slot {
            self.saga_runs.resize(slot + 1, None);
        }
        let last = self.m.sagas[saga as usize].steps.len() - 1;
        let in_window = self.msgs[mi].in_window;
        let (last_queue, last_serial) = (self.copies[c].queue, self.copies[c].serial);
        match &mut self.saga_runs[slot] {
            None if step == 0 => {
                self.saga_runs[slot] = Some(SagaRun {
                    saga,
                    state: SagaState::Running,
                    in_window,
                    started_ns: now,
                    triggered_ns: 0,
                    done_steps: 1,
                    pending: 0,
                    last_queue,
                    last_serial,
                });
                if in_window {
                    self.stats.sagas[saga as usize].add_started(1);
                }
                self.trace(c, "saga started", "", None);
            }
            Some(run) if run.saga == saga && run.state == SagaState::Running => {
                run.done_steps |= 1 << step;
                (run.last_queue, run.last_serial) = (last_queue, last_serial);
                if step as usize == last {
                    run.state = SagaState::Completed;
                    let span = now - run.started_ns;
                    if run.in_window {
                        let st = &mut self.stats.sagas[saga as usize];
                        st.add_completed(1);
                        st.inconsistency.record(span);
                        st.transitions[SAGA_RUNNING][SAGA_COMPLETED] += 1;
                    }
                    self.trace(c, "saga completed", "", None);
                }
            }
            _ => {}
        }
    }

    /// Copy `c` is dead-lettered (or dropped at a limit) for `reason`: at a
    /// step after the first, when the saga's trigger says so, the
    /// completed steps are compensated.
    pub(super) fn saga_on_dead_letter(&mut self, c: u32, reason: Cause) {
        let qi = self.copies[c].queue as usize;
        let Some(SagaRole::Step { saga, step }) = self.saga_roles.get(qi).copied() else {
            return;
        };
        let mi = self.copies[c].msg;
        let sm = &self.m.sagas[saga as usize];
        let fires = sm.on_dead_letter || (sm.on_non_retryable && reason == Cause::NonRetryable);
        let Some(Some(run)) = self.saga_runs.get_mut(mi as usize) else {
            return;
        };
        if !fires || run.saga != saga || run.state != SagaState::Running {
            return;
        }
        run.state = SagaState::Compensating;
        run.triggered_ns = self.q.now();
        (run.last_queue, run.last_serial) = (qi as u32, self.copies[c].serial);
        let to_undo = (0..step as usize)
            .filter(|&j| run.done_steps & (1 << j) != 0 && sm.compensations[j].is_some())
            .fold(0u64, |mask, j| mask | 1 << j);
        run.pending = to_undo;
        if run.in_window {
            self.stats.sagas[saga as usize].transitions[SAGA_RUNNING][SAGA_COMPENSATING] += 1;
        }
        self.trace(c, "saga compensation started", reason.name(), None);
        if to_undo == 0 {
            self.saga_compensated(c, mi);
        } else if sm.parallel {
            for j in (0..step as usize).rev().filter(|j| to_undo & (1 << j) != 0) {
                self.publish_compensation(c, mi, saga, j);
            }
        } else {
            let latest = 63 - to_undo.leading_zeros() as usize;
            self.publish_compensation(c, mi, saga, latest);
        }
    }

    /// Publishes the compensation of step `step` of message `mi` (from its
    /// copy `c`) to the step's compensation queue.
    fn publish_compensation(&mut self, c: u32, mi: u32, saga: u16, step: usize) {
        let Some(queue) = self.m.sagas[saga as usize].compensations[step] else {
            return;
        };
        let cp = &self.copies[c];
        // Its own network streams: apart from the pipeline's copies.
        let serial = cp
            .serial
            .wrapping_add(0x100 * (queue as u32 + 1))
            .wrapping_add(0x0040_0000);
        let (hop_no, persistent) = (cp.hops as u32 + 1, cp.persistent);
        self.publish(mi, serial, queue as u32, persistent, false, hop_no);
    }

    /// The compensation of step `step` was processed: the next one goes
    /// (one after the other), or the saga is compensated (the last).
    fn saga_undo_done(&mut self, c: u32, mi: u32, saga: u16, step: u16) {
        let parallel = self.m.sagas[saga as usize].parallel;
        let Some(Some(run)) = self.saga_runs.get_mut(mi as usize) else {
            return;
        };
        let bit = 1u64 << step;
        if run.saga != saga || run.state != SagaState::Compensating || run.pending & bit == 0 {
            return; // a duplicate processing of a compensation already done
        }
        run.pending &= !bit;
        let pending = run.pending;
        if pending == 0 {
            self.saga_compensated(c, mi);
        } else if !parallel {
            let latest = 63 - pending.leading_zeros() as usize;
            self.publish_compensation(c, mi, saga, latest);
        }
    }

    fn saga_compensated(&mut self, c: u32, mi: u32) {
        let now = self.q.now();
        let Some(Some(run)) = self.saga_runs.get_mut(mi as usize) else {
            return;
        };
        run.state = SagaState::Compensated;
        if run.in_window {
            let st = &mut self.stats.sagas[run.saga as usize];
            st.add_compensated(1);
            st.inconsistency.record(now - run.started_ns);
            st.compensation.record(now - run.triggered_ns);
            st.transitions[SAGA_COMPENSATING][SAGA_COMPENSATED] += 1;
        }
        self.trace(c, "saga compensated", "", None);
    }

    /// Message `mi` ends: a transaction still running or compensating is
    /// left partially applied (stuck). Its slot's record is cleared.
    pub(super) fn saga_end(&mut self, mi: u32) {
        let Some(run) = self.saga_runs.get_mut(mi as usize).and_then(Option::take) else {
            return;
        };
        let from = match run.state {
            SagaState::Running => SAGA_RUNNING,
            SagaState::Compensating => SAGA_COMPENSATING,
            SagaState::Completed | SagaState::Compensated => return,
        };
        if run.in_window {
            let st = &mut self.stats.sagas[run.saga as usize];
            st.add_stuck(1);
            st.transitions[from][SAGA_STUCK] += 1;
        }
        if self.tracing() {
            self.trace_saga_stuck(mi, &run);
        }
    }

    /// `saga stuck` in the trace, at the queue where the transaction last
    /// moved on (its copies may be gone by now).
    #[inline(never)]
    fn trace_saga_stuck(&mut self, mi: u32, run: &SagaRun) {
        let Some(m) = self.msgs.get(mi) else { return };
        let id = m.id;
        if self.trace_ids.binary_search(&id).is_err() {
            return;
        }
        let detail = if run.state == SagaState::Compensating {
            "a compensation did not complete"
        } else {
            "the failure started no compensation"
        };
        let copy = self.trace_copy_number(id, run.last_serial);
        self.trace.push(TraceEvent {
            time_s: crate::time::ns_to_secs(self.q.now()),
            message: id,
            event: "saga stuck",
            queue: self.m.queues[run.last_queue as usize].name.clone(),
            copy,
            duration_s: None,
            detail: detail.to_string(),
        });
    }
}
