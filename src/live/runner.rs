//! The live run: producers publish at their arrival process, consumer
//! instances work each delivery for a service time drawn from the
//! scenario, then the run drains until every accepted message is settled
//! (processed, dead-lettered, or gone from the broker) or the drain time
//! has passed.

use super::measure::{self, Classes, Ledger, Window};
use super::nats::{Nats, SpawnedServer};
use super::plan::{LivePlan, WallArrival};
use super::rabbitmq::Rabbit;
use super::rabbitmq_server::SpawnedRabbit;
use super::{input, Broker, Delivery, LiveArgs, LiveFailure, Receiver, SpawnArg};
use crate::model::Model;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a live run measured.
pub struct LiveResult {
    /// The `run`-shaped tree with `live_run`.
    pub tree: Map<String, Value>,
    /// Stopped by Ctrl-C before the end.
    pub partial: bool,
}

/// Starts or reaches the broker, runs the plan and measures. A spawned
/// broker is stopped (and its folder removed) when this returns, whatever
/// happened.
pub fn run(
    a: &LiveArgs,
    plan: &LivePlan,
    model: &Model,
    stop: &'static AtomicBool,
    broker_kind: &str,
) -> Result<LiveResult, LiveFailure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| input(format!("cannot start the async runtime: {e}")))?;
    let given_url = a.broker.clone().unwrap_or_default();
    let result = if broker_kind == "rabbitmq" {
        let server = match a.spawn {
            Some(SpawnArg::Rabbitmq) => Some(SpawnedRabbit::start(stop).map_err(input)?),
            _ => None,
        };
        let url = server.as_ref().map_or(given_url, |s| s.url.clone());
        let version = server.as_ref().map_or(String::new(), |s| s.version.clone());
        let result = runtime.block_on(async {
            let connecting = Rabbit::connect(&url, plan, &version);
            let broker = Arc::new(within_connect_limit(&url, connecting).await?);
            finish(broker, plan, model, stop, a.quiet).await
        });
        // Tasks still parked on the broker end with the runtime, before the
        // server is stopped.
        runtime.shutdown_timeout(Duration::from_secs(2));
        drop(server);
        result
    } else {
        let server = match a.spawn {
            Some(SpawnArg::Nats) => Some(SpawnedServer::start().map_err(input)?),
            _ => None,
        };
        let url = server.as_ref().map_or(given_url, |s| s.url.clone());
        let result = runtime.block_on(async {
            let broker = Arc::new(within_connect_limit(&url, Nats::connect(&url, plan)).await?);
            finish(broker, plan, model, stop, a.quiet).await
        });
        runtime.shutdown_timeout(Duration::from_secs(2));
        drop(server);
        result
    };
    result.map_err(input)
}

/// How long a run may go on past its duration and drain before mqsim
/// gives up on the broker. Every step after the drain is a few round
/// trips, so a minute more means the broker stopped answering (a CI run
/// once waited on a RabbitMQ until its 90 minutes were up): the run ends
/// with an error naming the step, instead of never.
pub const BROKER_SILENCE_LIMIT: Duration = Duration::from_secs(60);

/// How long connecting (the connection, a channel, publisher confirms)
/// may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(30);

/// The steps of a run, for the error when the broker stops answering.
const STEPS: [&str; 5] = [
    "declaring the queues",
    "publishing",
    "draining",
    "stopping the consumers",
    "taking the inventory of what the broker holds",
];

/// The step a run is at: an index into [`STEPS`].
type Step = AtomicUsize;

async fn within_connect_limit<T>(
    url: &str,
    connecting: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    match tokio::time::timeout(CONNECT_LIMIT, connecting).await {
        Ok(connected) => connected,
        Err(_) => Err(format!(
            "the broker at {url} accepted the connection but did not finish setting it up within {} s",
            CONNECT_LIMIT.as_secs()
        )),
    }
}

/// The run, then the broker's queues removed whatever the run's outcome;
/// a broker that stops answering ends the run with an error.
async fn finish<B: Broker>(
    broker: Arc<B>,
    plan: &LivePlan,
    model: &Model,
    stop: &'static AtomicBool,
    quiet: bool,
) -> Result<LiveResult, String> {
    let step = Step::new(0);
    let limit = Duration::from_nanos(plan.duration_wall_ns.saturating_add(plan.drain_wall_ns))
        + BROKER_SILENCE_LIMIT;
    let driving = drive(broker.clone(), plan, model, stop, quiet, &step);
    let outcome = match tokio::time::timeout(limit, driving).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!(
            "the broker stopped answering: the run had not ended {} s after its duration and drain; it was {}",
            BROKER_SILENCE_LIMIT.as_secs(),
            STEPS[step.load(Ordering::SeqCst).min(STEPS.len() - 1)]
        )),
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), broker.remove()).await;
    outcome
}

/// The run against a connected broker.
async fn drive<B: Broker>(
    broker: Arc<B>,
    plan: &LivePlan,
    model: &Model,
    stop: &'static AtomicBool,
    quiet: bool,
    step: &Step,
) -> Result<LiveResult, String> {
    broker.declare().await?;
    if !quiet {
        for warning in version_warnings(broker.name(), &broker.version(), model) {
            eprintln!("warning: {warning}");
        }
    }
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    broker.watch_dead_letters(ledger.clone()).await?;
    let started = Instant::now();
    let consumers_stop = Arc::new(AtomicBool::new(false));
    let in_work = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for (gi, g) in plan.groups.iter().enumerate() {
        for instance in 0..g.count {
            let receiver = broker.receiver(gi).await?;
            let worker = Worker {
                ledger: ledger.clone(),
                started,
                stop: consumers_stop.clone(),
                in_work: in_work.clone(),
                service: model.groups()[gi].service.clone(),
                speed: plan.speed,
                failure: g.failure,
                ack_on_receive: g.ack_on_receive,
                rng: crate::rng::Stream::seed_from_u64(crate::rng::combine(
                    plan.seed,
                    ((gi as u64) << 32) | instance as u64,
                )),
            };
            let crashes: Vec<(u64, u64)> = plan
                .crashes
                .iter()
                .filter(|c| c.hits(gi, instance))
                .map(|c| (c.at_wall_ns, c.down_wall_ns))
                .collect();
            let life = Life {
                broker: broker.clone(),
                group: gi,
                crashes,
            };
            workers.spawn(worker.work(life, receiver));
        }
    }
    if !quiet {
        eprintln!(
            "live: publishing for {:.1} s wall on {} {}",
            plan.duration_wall_ns as f64 / 1e9,
            broker.name(),
            broker.version()
        );
    }
    step.store(1, Ordering::SeqCst);
    let publish_error = produce(broker.clone(), plan, &ledger, started, stop).await;
    step.store(2, Ordering::SeqCst);
    let drained = drain(broker.as_ref(), plan, &ledger, &in_work, started, stop).await;
    step.store(3, Ordering::SeqCst);
    consumers_stop.store(true, Ordering::SeqCst);
    workers.abort_all();
    while workers.join_next().await.is_some() {}
    step.store(4, Ordering::SeqCst);
    broker.consumers_stopped().await?;
    publish_error?;
    let wall_seconds = started.elapsed().as_secs_f64();
    mark_stored(broker.as_ref(), &ledger).await?;
    let ledger = ledger
        .lock()
        .map_err(|_| "the ledger was poisoned".to_string())?;
    let classes = Classes {
        ttl: plan.queues.iter().map(|q| q.max_age_ns.is_some()).collect(),
    };
    let window = Window {
        speed: plan.speed,
        warmup_wall_ns: plan.warmup_wall_ns,
        duration_wall_ns: plan.duration_wall_ns,
    };
    let names: Vec<String> = plan.queues.iter().map(|q| q.name.clone()).collect();
    let mut tree = measure::metrics(&ledger, &classes, &window, &names);
    let partial = stop.load(Ordering::SeqCst);
    tree.insert("seed".into(), json!(plan.seed));
    tree.insert("partial".into(), json!(partial));
    if !drained && !partial {
        tree.insert("drain_timed_out".into(), json!(true));
    }
    tree.insert(
        "live_run".into(),
        json!({ "broker": broker.name(), "broker_version": broker.version(), "speed": plan.speed, "wall_seconds": wall_seconds }),
    );
    Ok(LiveResult { tree, partial })
}

/// Where the scenario's preset follows a broker version whose rules the
/// broker at hand does not: RabbitMQ 4.3 stopped counting a nack toward a
/// quorum queue's delivery limit, which earlier versions count.
fn version_warnings(broker: &str, version: &str, model: &Model) -> Vec<String> {
    let mut numbers = version.split('.').map(|n| n.parse::<u32>().unwrap_or(0));
    let major_minor = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    if broker != "rabbitmq" || version.is_empty() || major_minor >= (4, 3) {
        return Vec::new();
    }
    model
        .queues()
        .iter()
        .filter(|q| q.nacks_uncounted && q.max_deliveries.is_some())
        .map(|q| {
            format!(
                "queue {}: its preset follows RabbitMQ 4.3, where a nack does not count toward the delivery limit; this broker is {version}, where it does, so the live run dead-letters what the simulation requeues (name the preset @4.2 to compare)",
                q.name
            )
        })
        .collect()
}

/// What an instance needs to come back after a crash.
struct Life<B: Broker> {
    broker: Arc<B>,
    group: usize,
    /// (at, downtime) in wall nanoseconds.
    crashes: Vec<(u64, u64)>,
}

/// One delivery being worked, for the drain: counted from its receipt
/// until it is settled or dropped.
struct InWork(Arc<AtomicUsize>);

impl InWork {
    fn new(count: Arc<AtomicUsize>) -> InWork {
        count.fetch_add(1, Ordering::SeqCst);
        InWork(count)
    }
}

impl Drop for InWork {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One consumer instance.
struct Worker {
    ledger: Arc<Mutex<Ledger>>,
    started: Instant,
    stop: Arc<AtomicBool>,
    in_work: Arc<AtomicUsize>,
    service: crate::model::dist::Dist,
    speed: f64,
    failure: f64,
    ack_on_receive: bool,
    rng: crate::rng::Stream,
}

impl Worker {
    fn now_ns(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    /// Works the deliveries one at a time until told to stop; at each of
    /// its crash times the instance dies where it is (nothing more is
    /// acked, its link to the broker goes) and comes back with a new
    /// receiver after the downtime.
    async fn work<B: Broker>(
        mut self,
        life: Life<B>,
        mut receiver: B::Receiver,
    ) -> Result<(), String> {
        let mut crashes = life.crashes.clone();
        crashes.sort_unstable();
        for (at_ns, down_ns) in crashes {
            let crash_at = self.started + Duration::from_nanos(at_ns);
            tokio::select! {
                served = self.serve(&mut receiver) => return served,
                _ = tokio::time::sleep_until(crash_at.into()) => {}
            }
            receiver.crash().await;
            tokio::time::sleep_until((crash_at + Duration::from_nanos(down_ns)).into()).await;
            receiver = life.broker.receiver(life.group).await?;
        }
        self.serve(&mut receiver).await
    }

    async fn serve<R: Receiver>(&mut self, receiver: &mut R) -> Result<(), String> {
        while !self.stop.load(Ordering::SeqCst) {
            let Some(next) = receiver.next().await else {
                return Ok(());
            };
            // Heartbeat gaps and timeouts of idle pulls are not failures.
            let Ok(delivery) = next else { continue };
            // Counted while worked, also when a crash drops the work.
            let _working = InWork::new(self.in_work.clone());
            self.handle(&delivery).await?;
        }
        Ok(())
    }

    async fn handle<D: Delivery>(&mut self, delivery: &D) -> Result<(), String> {
        let Some(id) = delivery.id() else {
            // Not one of ours: settle it so it does not come back.
            return delivery.ack().await;
        };
        if let Ok(mut l) = self.ledger.lock() {
            l.delivered(id, delivery.delivery_count());
        }
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
                delivery.nack().await
            };
        }
        let done = self.now_ns();
        if let Ok(mut l) = self.ledger.lock() {
            l.processed(id, done);
        }
        if self.ack_on_receive {
            Ok(())
        } else {
            delivery.ack().await
        }
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

/// Every producer publishing at its arrival process until the run's
/// duration; publishes are awaited concurrently so that a slow answer
/// does not slow the arrivals.
async fn produce<B: Broker>(
    broker: Arc<B>,
    plan: &LivePlan,
    ledger: &Arc<Mutex<Ledger>>,
    started: Instant,
    stop: &'static AtomicBool,
) -> Result<(), String> {
    let mut producers = tokio::task::JoinSet::new();
    for (pi, p) in plan.producers.iter().enumerate() {
        let broker = broker.clone();
        let ledger = ledger.clone();
        let arrival = p.arrival;
        let queue = p.queue;
        let end_ns = plan.duration_wall_ns;
        let mut rng = crate::rng::Stream::seed_from_u64(crate::rng::combine(
            plan.seed ^ 0x9e37_79b9,
            pi as u64,
        ));
        producers.spawn(async move {
            let mut publishes = tokio::task::JoinSet::new();
            let mut at_ns = 0u64;
            loop {
                at_ns += match arrival {
                    WallArrival::Poisson { rate_per_wall_s } => {
                        let u: f64 = rng.random::<f64>();
                        (-(1.0 - u).ln() / rate_per_wall_s * 1e9) as u64
                    }
                    WallArrival::Constant { interval_wall_ns } => interval_wall_ns,
                };
                if at_ns >= end_ns || stop.load(Ordering::SeqCst) {
                    break;
                }
                tokio::time::sleep_until((started + Duration::from_nanos(at_ns)).into()).await;
                let sent = started.elapsed().as_nanos() as u64;
                let id = ledger
                    .lock()
                    .map_err(|_| "ledger poisoned".to_string())?
                    .new_message(queue, sent);
                let broker = broker.clone();
                let ledger = ledger.clone();
                publishes.spawn(async move {
                    let outcome = broker.publish(queue, id, sent).await?;
                    if let Ok(mut l) = ledger.lock() {
                        l.published(id, outcome);
                    }
                    Ok::<(), String>(())
                });
            }
            while let Some(done) = publishes.join_next().await {
                done.map_err(|e| e.to_string())??;
            }
            Ok::<(), String>(())
        });
    }
    let mut first_error = Ok(());
    while let Some(done) = producers.join_next().await {
        let outcome = done.map_err(|e| e.to_string()).and_then(|r| r);
        if first_error.is_ok() {
            first_error = outcome;
        }
    }
    first_error
}

/// Waits until no consumer is working and every accepted message is
/// processed, dead-lettered or gone from the broker; false when the drain
/// time ran out first.
async fn drain<B: Broker>(
    broker: &B,
    plan: &LivePlan,
    ledger: &Arc<Mutex<Ledger>>,
    in_work: &AtomicUsize,
    started: Instant,
    stop: &'static AtomicBool,
) -> bool {
    let deadline = started + Duration::from_nanos(plan.duration_wall_ns + plan.drain_wall_ns);
    while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if in_work.load(Ordering::SeqCst) > 0 {
            continue;
        }
        let unsettled = match ledger.lock() {
            Ok(l) => l.unsettled(),
            Err(_) => return false,
        };
        let mut any_stored = false;
        for (queue, sequence) in unsettled {
            if broker.stored(queue, sequence).await.unwrap_or(true) {
                any_stored = true;
                break;
            }
        }
        if !any_stored {
            return true;
        }
    }
    false
}

/// Marks the unsettled messages the broker still holds (in flight).
async fn mark_stored<B: Broker>(broker: &B, ledger: &Arc<Mutex<Ledger>>) -> Result<(), String> {
    let unsettled = ledger
        .lock()
        .map_err(|_| "ledger poisoned".to_string())?
        .unsettled();
    for (queue, sequence) in unsettled {
        if broker.stored(queue, sequence).await? {
            if let Ok(mut l) = ledger.lock() {
                l.mark_stored(queue, sequence);
            }
        }
    }
    Ok(())
}
