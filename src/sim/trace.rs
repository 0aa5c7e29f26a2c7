//! `--trace`: the steps of the traced messages, recorded as they happen.

use super::*;

impl<'m, F: Features> Sim<'m, F> {
    /// Records a step of a traced message (nothing when no message is traced).
    #[inline(always)]
    pub(super) fn trace(
        &mut self,
        c: u32,
        event: &'static str,
        detail: &str,
        duration_ns: Option<Nanos>,
    ) {
        if self.tracing() {
            self.trace_record(c, event, detail, duration_ns);
        }
    }

    #[inline(never)]
    pub(super) fn trace_record(
        &mut self,
        c: u32,
        event: &'static str,
        detail: &str,
        duration_ns: Option<Nanos>,
    ) {
        let Some(cp) = self.copies.get(c) else { return };
        let Some(m) = self.msgs.get(cp.msg) else {
            return;
        };
        if self.trace_ids.binary_search(&m.id).is_err() {
            return;
        }
        let (id, serial, queue) = (m.id, cp.serial, cp.queue as usize);
        let copy = self.trace_copy_number(id, serial);
        self.trace.push(TraceEvent {
            time_s: crate::time::ns_to_secs(self.q.now()),
            message: id,
            event,
            queue: self.m.queues[queue].name.clone(),
            copy,
            duration_s: duration_ns.map(crate::time::ns_to_secs),
            detail: detail.to_string(),
        });
    }

    /// The number a traced message's copy goes by: its copies counted from
    /// 0 in the order they first appear in the trace, so that a wire
    /// duplicate (which shares its publish's network serial) and every
    /// pipeline stage's copy has its own.
    pub(super) fn trace_copy_number(&mut self, id: u64, serial: u32) -> u32 {
        let next = self.trace_copies.range((id, 0)..=(id, u32::MAX)).count() as u32;
        *self.trace_copies.entry((id, serial)).or_insert(next)
    }

    /// Records a step of a traced message at its producer (publishes,
    /// confirms, timeouts, republishes).
    #[inline(never)]
    pub(super) fn trace_producer(
        &mut self,
        mi: u32,
        event: &'static str,
        publish: u32,
        detail: String,
    ) {
        let p = self.msgs[mi].producer as usize;
        let place = format!("producer:{}", self.m.producers[p].name);
        let before = self.trace.len();
        self.trace_msg(mi, event, || place, || detail, None);
        // The copy a publish makes at the broker carries its number.
        if before < self.trace.len() {
            let id = self.msgs[mi].id;
            let copy = self.trace_copy_number(id, publish);
            self.trace[before].copy = copy;
        }
    }

    /// Records a step of a traced topic record (no broker copy: the place
    /// is `topic[partition]` or the group).
    pub(super) fn trace_msg(
        &mut self,
        mi: u32,
        event: &'static str,
        place: impl FnOnce() -> String,
        detail: impl FnOnce() -> String,
        duration_ns: Option<Nanos>,
    ) {
        if !self.tracing() {
            return;
        }
        let Some(m) = self.msgs.get(mi) else { return };
        if self.trace_ids.binary_search(&m.id).is_err() {
            return;
        }
        self.trace.push(TraceEvent {
            time_s: crate::time::ns_to_secs(self.q.now()),
            message: m.id,
            event,
            queue: place(),
            copy: 0,
            duration_s: duration_ns.map(crate::time::ns_to_secs),
            detail: detail(),
        });
    }
}
