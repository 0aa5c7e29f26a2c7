//! One consumer instance of a live run: it takes a delivery, works it for
//! a service time drawn from the scenario (scaled by `--speed`), fails it
//! with the scenario's probability, and acks or nacks. The same code runs
//! as a task of `mqsim live` (no crash faults) and in a child process
//! (`mqsim live-worker`, killed with SIGKILL for a `consumer-crash`); what
//! it saw goes to a [`Record`]: the ledger in the first case, the pipe to
//! the parent in the second.

use super::measure::Ledger;
use super::plan::LivePlan;
use super::{Delivery, Next, Receiver};
use crate::model::dist::Dist;
use crate::model::Model;
use crate::strategy::backoff::RetryPolicy;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where an instance reports what happened to each delivery.
pub trait Record: Send + Sync + 'static {
    /// A delivery of message `id` arrived, the broker's `count`th.
    fn delivered(&self, id: u64, count: u64);
    /// Message `id` was processed successfully at `at_ns` after the start.
    fn processed(&self, id: u64, at_ns: u64);
    /// A delivery is in work (from its receipt until it is settled or
    /// dropped): the drain waits while any is.
    fn work_started(&self);
    fn work_ended(&self);
}

/// The record of an instance running in the `mqsim live` process.
pub struct LedgerRecord {
    pub ledger: Arc<Mutex<Ledger>>,
    pub in_work: Arc<AtomicUsize>,
}

impl Record for LedgerRecord {
    fn delivered(&self, id: u64, count: u64) {
        if let Ok(mut l) = self.ledger.lock() {
            l.delivered(id, count);
        }
    }
    fn processed(&self, id: u64, at_ns: u64) {
        if let Ok(mut l) = self.ledger.lock() {
            l.processed(id, at_ns);
        }
    }
    fn work_started(&self) {
        self.in_work.fetch_add(1, Ordering::SeqCst);
    }
    fn work_ended(&self) {
        let before = self.in_work.fetch_sub(1, Ordering::SeqCst);
        assert!(before > 0, "a delivery ended its work without starting it");
    }
}

/// One delivery in work: ended when dropped, also when a crash (a task
/// cancelled) drops the work.
struct Working<R: Record>(Arc<R>);

impl<R: Record> Working<R> {
    fn new(record: Arc<R>) -> Working<R> {
        record.work_started();
        Working(record)
    }
}

impl<R: Record> Drop for Working<R> {
    fn drop(&mut self) {
        self.0.work_ended();
    }
}

/// One consumer instance.
pub struct Worker<R: Record> {
    record: Arc<R>,
    /// The run's start: every time reported is from it.
    started: Instant,
    stop: Arc<AtomicBool>,
    service: Dist,
    speed: f64,
    failure: f64,
    ack_on_receive: bool,
    /// Deliveries in all before the broker gives a message up.
    max_deliveries: Option<u32>,
    /// The backoff before a failed message comes back (None: at once).
    retry_delay: Option<RetryPolicy>,
    rng: crate::rng::Stream,
}

/// Which instance a worker is: its group, its number in the group, and
/// how many times its process was started again (0 in the parent).
#[derive(Clone, Copy, Debug)]
pub struct Place {
    pub group: usize,
    pub instance: u32,
    pub incarnation: u32,
}

/// The random stream of an instance's `incarnation`th process: the first
/// is the in-process instance's, each restart gets a stream of its own.
fn instance_stream(seed: u64, place: Place) -> crate::rng::Stream {
    let key = ((place.group as u64) << 32) | u64::from(place.instance);
    let base = crate::rng::combine(seed, key);
    let seed = if place.incarnation == 0 {
        base
    } else {
        crate::rng::combine(base, u64::from(place.incarnation))
    };
    crate::rng::Stream::seed_from_u64(seed)
}

impl<R: Record> Worker<R> {
    /// The worker of instance `place` of the plan, reporting to `record`.
    pub fn new(
        record: Arc<R>,
        started: Instant,
        stop: Arc<AtomicBool>,
        plan: &LivePlan,
        model: &Model,
        place: Place,
    ) -> Worker<R> {
        let g = &plan.groups[place.group];
        Worker {
            record,
            started,
            stop,
            service: model.groups()[place.group].service.clone(),
            speed: plan.speed,
            failure: g.failure,
            ack_on_receive: g.ack_on_receive,
            max_deliveries: g.max_deliveries,
            retry_delay: g.retry_delay.clone(),
            rng: instance_stream(plan.seed, place),
        }
    }

    fn now_ns(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    /// Works the deliveries one at a time until told to stop.
    pub async fn serve<Q: Receiver>(&mut self, receiver: &mut Q) -> Result<(), String> {
        while !self.stop.load(Ordering::SeqCst) {
            let Some(next) = receiver.next().await else {
                return Ok(());
            };
            // Heartbeat gaps and timeouts of idle pulls are not failures.
            let Ok(delivery) = next else { continue };
            let _working = Working::new(self.record.clone());
            self.handle(&delivery).await?;
        }
        Ok(())
    }

    async fn handle<D: Delivery>(&mut self, delivery: &D) -> Result<(), String> {
        let Some(id) = delivery.id() else {
            // Not one of ours: settle it so it does not come back.
            return delivery.ack().await;
        };
        self.record.delivered(id, delivery.delivery_count());
        if self.ack_on_receive {
            delivery.ack().await?;
        }
        let service_ns = self.service.sample(&mut self.rng);
        let failed = self.failure > 0.0 && self.rng.random::<f64>() < self.failure;
        let wall_ns = (service_ns as f64 / self.speed) as u64;
        precise_sleep(Duration::from_nanos(wall_ns)).await;
        if failed {
            return if self.ack_on_receive {
                Ok(())
            } else {
                self.fail(delivery).await
            };
        }
        self.record.processed(id, self.now_ns());
        if self.ack_on_receive {
            Ok(())
        } else {
            delivery.ack().await
        }
    }
}

impl<R: Record> Worker<R> {
    /// Returns a failed delivery: at once without a delayed-retry policy;
    /// with one, after the policy's backoff for the attempts made so far
    /// (the broker's delivery count, as the simulation counts them), or
    /// given up now when this was the last attempt (rather than after a
    /// delay nobody waits for).
    async fn fail<D: Delivery>(&mut self, delivery: &D) -> Result<(), String> {
        let Some(policy) = &self.retry_delay else {
            return delivery.nack().await;
        };
        let attempts = u32::try_from(delivery.delivery_count()).unwrap_or(u32::MAX);
        if self.max_deliveries.is_some_and(|k| attempts >= k) {
            return delivery.retry(Next::GiveUp).await;
        }
        let delay_ns = policy.delay_ns(attempts, 0, &mut self.rng);
        let wall_ns = (delay_ns as f64 / self.speed) as u64;
        delivery
            .retry(Next::After(Duration::from_nanos(wall_ns)))
            .await
    }
}

/// Sleeps `length` to a fraction of a millisecond: tokio's timer rounds
/// up to the next whole millisecond, which at `--speed 10` would add 5 ms
/// of scenario time to every service. A blocking-pool thread's sleep
/// (nanosleep) overshoots by tens of microseconds.
async fn precise_sleep(length: Duration) {
    if length.is_zero() {
        return;
    }
    let slept = tokio::task::spawn_blocking(move || std::thread::sleep(length)).await;
    if slept.is_err() {
        tokio::time::sleep(length).await;
    }
}
