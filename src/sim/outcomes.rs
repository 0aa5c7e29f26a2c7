//! Outcomes split by cause (issue 22, section 5): why dead-lettered
//! messages failed (`dead_lettered_by_origin`), the latency of messages
//! touched by a retry, a redelivery or a fault apart from the untouched
//! ones (`latency_affected` / `latency_unaffected`), and how long the
//! messages a crashed consumer held waited for their next delivery
//! (`crash_redelivery_delay`).
//!
//! Why: `dead_lettered_by_reason` says which limit ended a message, not
//! why it kept failing, so users subtracted poison from transient
//! dead-letters by hand; and one latency histogram mixes the untouched
//! majority with the few that a fault or retry delayed.
//!
//! Costs: the origin is read when a dead-lettered message's outcome is
//! counted (off the hot path); the marks are one byte that fits in the
//! message record's padding; a completion pays one test of a per-run flag
//! (`Collector::track_affected`), and only runs that can retry, redeliver
//! or fault record the affected histogram; the crash map is only touched
//! in builds with faults.

use super::*;

/// `Msg::marks`: an attempt of it found it poison.
pub(super) const MARK_POISON: u8 = 1;
/// `Msg::marks`: a fault delayed it (redelivered, returned, parked, or an
/// attempt slowed or failed by a fault window).
pub(super) const MARK_AFFECTED: u8 = 2;

/// The keys of `messages.dead_lettered_by_origin`, all reported (zeros
/// too, so that the means over replications still add up).
pub const DEAD_LETTER_ORIGINS: [&str; 6] = [
    "poison",
    "transient",
    "non_retryable",
    "ttl",
    "overflow",
    "refused",
];

/// Why a dead-lettered message failed: `overflow` (a full queue turned it
/// away or dropped it from the head), `ttl` (it expired in the queue), `poison` (every attempt of it fails), `non_retryable` (a
/// failure the consumer does not retry), `transient` (it reached the
/// delivery or attempt limit by failures that were not poison, ack
/// timeouts or crashes), `refused` (not retried: `retry_mode = "none"`
/// or a retry budget said no).
pub(super) fn dead_letter_origin(m: &Msg) -> &'static str {
    match m.dlq_reason {
        Cause::Overflow => "overflow",
        Cause::Expired => "ttl",
        _ if m.marks & MARK_POISON != 0 => "poison",
        Cause::NonRetryable => "non_retryable",
        Cause::Rejected | Cause::RetryBudget => "refused",
        _ => "transient",
    }
}

/// Whether a model can retry, redeliver or fault: only then is the
/// latency split by [`MARK_AFFECTED`] (and the attempts) recorded.
pub fn tracks_affected(m: &Model) -> bool {
    !m.faults.is_empty()
        || m.groups.iter().any(|g| g.failure > 0.0 || g.poison > 0.0)
        || m.producers.iter().any(|p| p.retry.is_some())
        || m.queues.iter().any(|q| q.ack_timeout_ns.is_some())
        || !m.topics.is_empty()
}

/// Whether a completed message was touched by a retry, a redelivery or a
/// fault.
#[inline]
pub(super) fn affected(m: &Msg) -> bool {
    m.attempts > 1 || m.publishes > 1 || m.marks & MARK_AFFECTED != 0
}

impl<'m, F: Features> Sim<'m, F> {
    /// Consumer crash: copy `c` (delivery held by the crashed instance)
    /// waits for its next delivery from now.
    #[cold]
    pub(super) fn crash_held(&mut self, c: u32) {
        let mi = self.copies[c].msg;
        self.msgs[mi].marks |= MARK_AFFECTED;
        let id = self.msgs[mi].id;
        let now = self.q.now();
        self.crash_held_since.insert((c, id), now);
    }

    /// Copy `c` of message `mi` is delivered: if a crashed consumer held
    /// it, the delay since the crash is counted.
    #[inline]
    pub(super) fn crash_redelivered(&mut self, c: u32, mi: u32, in_window: bool) {
        if self.crash_held_since.is_empty() {
            return;
        }
        let id = self.msgs[mi].id;
        if let Some(since) = self.crash_held_since.remove(&(c, id)) {
            if in_window {
                let now = self.q.now();
                self.stats.crash_redelivery_ns.push(now - since);
            }
        }
    }

    /// An attempt of message `mi` found it poison, or ran in a fault
    /// window (a slowdown or a dependency outage).
    #[cold]
    #[inline(never)]
    pub(super) fn mark_attempt(&mut self, mi: u32, poison: bool, fault_window: bool) {
        if poison {
            self.msgs[mi].marks |= MARK_POISON;
        }
        if fault_window {
            self.msgs[mi].marks |= MARK_AFFECTED;
        }
    }

    /// Message `mi` completed now: its latency also counts as touched or
    /// not, in runs that split it.
    #[inline(always)]
    pub(super) fn record_split_latency(&mut self, mi: u32, now: Nanos) {
        if self.stats.track_affected {
            let m = &self.msgs[mi];
            let touched = affected(m);
            let latency_ns = now - m.publish_ns;
            self.stats.record_affected(latency_ns, touched);
        }
    }

    /// Marks the message of copy `c` as touched by a fault or retry.
    #[inline]
    pub(super) fn mark_affected(&mut self, c: u32) {
        let mi = self.copies[c].msg;
        self.msgs[mi].marks |= MARK_AFFECTED;
    }
}
