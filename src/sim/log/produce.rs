//! Topic producers: Kafka's producer with `acks=all`.
//!
//! A record goes to its partition after the network latency. A request
//! lost on the way (`[network] publish_loss`) or whose acknowledgement is
//! lost (`confirm_loss`) is sent again after `request.timeout.ms` (30 s)
//! and `retry.backoff.ms` (100 ms); an idempotent producer's retry of a
//! record already written is recognised by the broker (producer id and
//! sequence number), a non-idempotent one writes it again. While the
//! producer is cut off from the brokers (a `partition` fault) or the
//! partition is down (a broker crash with `replication_factor = 1`), records
//! wait in the producer's buffer. A record not written within
//! `delivery_timeout` of its send fails: lost, cause `delivery-timeout`.

use super::*;

/// Kafka `request.timeout.ms`: a request with no response is sent again.
const REQUEST_TIMEOUT_NS: Nanos = 30_000_000_000;
/// Kafka `retry.backoff.ms`.
const RETRY_BACKOFF_NS: Nanos = 100_000_000;

/// A record in a topic producer's buffer.
#[derive(Clone, Copy, Debug)]
pub(in crate::sim) struct Buffered {
    seq: u64,
    msg: u32,
    part: u32,
    attempt: u32,
    written: bool,
}

impl<'m, F: Features> Sim<'m, F> {
    /// A producer sends message `mi` to its topic. The send holds the
    /// message until it is acknowledged or given up.
    pub(in crate::sim) fn log_publish(&mut self, mi: u32) {
        let p = self.msgs[mi].producer as usize;
        let pm = &self.m.producers[p];
        let topic = pm.topic.expect("topic producer");
        let parts = self.m.topics[topic].partitions as u64;
        let part = if pm.partition_by_key && self.msgs[mi].okey != NONE {
            rng::mix64(self.msgs[mi].okey as u64) % parts
        } else {
            let n = self.prods[p].rr;
            self.prods[p].rr += 1;
            n % parts
        };
        self.msgs[mi].live += 1;
        self.log_send(mi, part as usize, 0, false);
    }

    /// Whether the topic's partitions are down: a crashed broker holds the
    /// only copy (`replication_factor = 1`).
    pub(in crate::sim) fn topic_down(&self, topic: usize) -> bool {
        F::FAULTS && !self.broker_up && self.m.topics[topic].replication_factor == 1
    }

    /// One attempt to send the record to partition `part`.
    pub(in crate::sim) fn log_send(&mut self, mi: u32, part: usize, attempt: u32, written: bool) {
        let p = self.msgs[mi].producer as usize;
        let topic = self.m.producers[p].topic.expect("topic producer");
        if self.prods[p].epoch != self.msgs[mi].pub_epoch {
            // The producer crashed since: its buffer and retries died with it.
            self.give_up_send(mi, written, Cause::ProducerCrash);
            return;
        }
        if (F::FAULTS && self.prods[p].partitioned) || self.topic_down(topic) {
            self.buffer_record(p, mi, part, attempt, written);
            return;
        }
        let key = self.msgs[mi].key;
        let (lat, request_lost, ack_lost) = match &self.m.network {
            Some(net) => {
                let mut r = self.stream(Domain::Network, rng::combine(key, 2000), attempt as u64);
                let lat = net.latency.as_ref().map_or(0, |d| {
                    d.sample(&mut self.stream(Domain::Network, key, attempt as u64))
                });
                let request_lost = unit(&mut r) < net.loss[Link::Publish as usize];
                let ack_lost = unit(&mut r) < net.loss[Link::Confirm as usize];
                (lat, request_lost, ack_lost)
            }
            None => (0, false, false),
        };
        if request_lost {
            self.retry_send(mi, part, attempt, written);
            return;
        }
        let idempotent = self.m.producers[p].idempotent;
        if !(written && idempotent) {
            // Written (again, by a non-idempotent retry): the record holds
            // the message.
            self.msgs[mi].live += 1;
            if lat == 0 {
                self.on_log_append(mi, topic, part, written);
            } else {
                self.q.schedule_in(
                    lat,
                    Ev::LogAppend {
                        msg: mi,
                        topic: topic as u32,
                        part: part as u32,
                        duplicate: written,
                    },
                );
            }
        }
        if ack_lost {
            self.retry_send(mi, part, attempt, true);
        } else {
            self.end_send(mi);
        }
    }

    /// No response within the request timeout: send again, unless that
    /// would pass the delivery timeout.
    fn retry_send(&mut self, mi: u32, part: usize, attempt: u32, written: bool) {
        let now = self.q.now();
        let p = self.msgs[mi].producer as usize;
        let deadline = self.msgs[mi]
            .publish_ns
            .saturating_add(self.m.producers[p].delivery_timeout_ns);
        let at = now + REQUEST_TIMEOUT_NS + RETRY_BACKOFF_NS;
        if at > deadline {
            // The next attempt could not complete in time: the send fails.
            self.give_up_send(mi, written, Cause::DeliveryTimeout);
            return;
        }
        self.q.schedule(
            at,
            Ev::LogSend {
                msg: mi,
                part: part as u32,
                attempt: attempt + 1,
                written,
            },
        );
    }

    fn buffer_record(&mut self, p: usize, mi: u32, part: usize, attempt: u32, written: bool) {
        let now = self.q.now();
        let ps = &mut self.prods[p];
        ps.log_buffer_seq += 1;
        let seq = ps.log_buffer_seq;
        ps.log_buffer.push_back(Buffered {
            seq,
            msg: mi,
            part: part as u32,
            attempt,
            written,
        });
        let deadline = self.msgs[mi]
            .publish_ns
            .saturating_add(self.m.producers[p].delivery_timeout_ns);
        self.q.schedule(
            deadline.max(now),
            Ev::LogBufferExpiry {
                producer: p as u32,
                seq,
            },
        );
    }

    /// The delivery timeout of buffered record `seq`: if it is still in the
    /// buffer, it fails. (The buffer is in `seq` order; a retried record
    /// joins it behind younger ones, so it is searched, not popped.)
    pub(in crate::sim) fn on_buffer_expiry(&mut self, p: usize, seq: u64) {
        let ps = &mut self.prods[p];
        let Ok(k) = ps.log_buffer.binary_search_by_key(&seq, |b| b.seq) else {
            return;
        };
        let b = ps.log_buffer.remove(k).expect("a buffered record");
        self.give_up_send(b.msg, b.written, Cause::DeliveryTimeout);
    }

    /// The producer reaches its partitions again: the buffer is sent, oldest
    /// first.
    pub(in crate::sim) fn flush_log_buffer(&mut self, p: usize) {
        let topic = self.m.producers[p].topic.expect("topic producer");
        if self.prods[p].partitioned || self.topic_down(topic) {
            return;
        }
        let buffered: Vec<Buffered> = self.prods[p].log_buffer.drain(..).collect();
        for b in buffered {
            self.log_send(b.msg, b.part as usize, b.attempt, b.written);
        }
    }

    /// A crashed producer loses its buffer.
    pub(in crate::sim) fn log_producer_crash(&mut self, p: usize) {
        let buffered: Vec<Buffered> = self.prods[p].log_buffer.drain(..).collect();
        for b in buffered {
            self.give_up_send(b.msg, b.written, Cause::ProducerCrash);
        }
    }

    /// The send ends without an acknowledgement: a record never written is
    /// lost.
    fn give_up_send(&mut self, mi: u32, written: bool, cause: Cause) {
        if !written {
            let p = self.msgs[mi].producer as usize;
            let name = &self.m.producers[p].name;
            self.trace_msg(
                mi,
                "send failed (lost)",
                || name.clone(),
                || cause.name().to_string(),
                None,
            );
            self.mark_lost(mi, cause);
        }
        self.end_send(mi);
    }

    /// The send's hold on the message ends.
    fn end_send(&mut self, mi: u32) {
        self.msgs[mi].live -= 1;
        self.check_finish(mi);
    }

    /// The broker is back: producers send their buffers, idle members poll.
    pub(in crate::sim) fn log_broker_restart(&mut self) {
        for p in 0..self.m.producers.len() {
            if self.m.producers[p].topic.is_some() {
                self.flush_log_buffer(p);
            }
        }
        for g in 0..self.m.groups.len() {
            if self.group_logs[g].is_none() {
                continue;
            }
            for i in self.group_insts[g].clone() {
                if self.members[i as usize].idle && self.insts[i as usize].up {
                    self.members[i as usize].idle = false;
                    self.log_step(i);
                }
            }
        }
    }
}
