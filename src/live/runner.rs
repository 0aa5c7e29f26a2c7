//! The live run: producers publish at their arrival process, consumer
//! instances work each delivery for a service time drawn from the
//! scenario, then the run drains until every accepted message is settled
//! (processed, dead-lettered, or gone from the broker) or the drain time
//! has passed.

use super::measure::{self, Classes, Ledger, PublishOutcome, Window};
use super::nats::{Nats, SpawnedServer};
use super::plan::{LivePlan, WallArrival};
use super::process::{self, Fleet, Spawner, Stopped};
use super::rabbitmq::Rabbit;
use super::rabbitmq_server::SpawnedRabbit;
use super::worker::{LedgerRecord, Place, Worker};
use super::{input, Broker, LiveArgs, LiveFailure, SpawnArg};
use crate::model::Model;
use crate::strategy::backoff::RetryPolicy;
use crate::time::Nanos;
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
    allow_outside: bool,
) -> Result<LiveResult, LiveFailure> {
    let context = |url: &str, server: Option<SharedServer>| Context {
        plan,
        server,
        model,
        stop,
        quiet: a.quiet,
        spawner: Spawner {
            file: a.file.clone(),
            sets: a.set.clone(),
            url: url.to_string(),
            speed: plan.speed,
            allow_outside,
            origin_ns: 0,
        },
    };
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
            finish(broker, &context(&url, None)).await
        });
        // Tasks still parked on the broker end with the runtime, before the
        // server is stopped.
        runtime.shutdown_timeout(Duration::from_secs(2));
        drop(server);
        result
    } else {
        let server = match a.spawn {
            Some(SpawnArg::Nats) => {
                Some(Arc::new(Mutex::new(SpawnedServer::start().map_err(input)?)))
            }
            _ => None,
        };
        let url = server.as_ref().map_or(given_url, |s| lock(s).url.clone());
        let shared = server.clone();
        let result = runtime.block_on(async {
            let broker = Arc::new(within_connect_limit(&url, Nats::connect(&url, plan)).await?);
            finish(broker, &context(&url, shared)).await
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

/// The broker process mqsim started, which broker-crash faults kill and
/// start again while the run holds it.
type SharedServer = Arc<Mutex<SpawnedServer>>;

/// The lock of a shared server, also after a panic while it was held.
fn lock<T: ?Sized>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a run needs besides the broker.
struct Context<'a> {
    plan: &'a LivePlan,
    /// The spawned broker (broker-crash faults).
    server: Option<SharedServer>,
    model: &'a Model,
    stop: &'static AtomicBool,
    quiet: bool,
    /// How consumer processes are started (crash faults).
    spawner: Spawner,
}

/// The run, then the broker's queues removed whatever the run's outcome;
/// a broker that stops answering ends the run with an error. Consumer
/// processes live until the queues are gone (a process that exits sooner
/// would have RabbitMQ requeue what it holds after the inventory).
async fn finish<B: Broker>(broker: Arc<B>, context: &Context<'_>) -> Result<LiveResult, String> {
    let plan = context.plan;
    let step = Step::new(0);
    let limit = Duration::from_nanos(plan.duration_wall_ns.saturating_add(plan.drain_wall_ns))
        + BROKER_SILENCE_LIMIT;
    let processes = Mutex::new(Vec::new());
    let driving = drive(broker.clone(), context, &step, &processes);
    let outcome = match tokio::time::timeout(limit, driving).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!(
            "the broker stopped answering: the run had not ended {} s after its duration and drain; it was {}",
            BROKER_SILENCE_LIMIT.as_secs(),
            STEPS[step.load(Ordering::SeqCst).min(STEPS.len() - 1)]
        )),
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), broker.remove()).await;
    let stopped: Vec<Stopped> = processes
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for mut s in stopped {
        let _ = s.process.start_kill();
        let _ = s.process.wait().await;
    }
    outcome
}

/// The run against a connected broker.
async fn drive<B: Broker>(
    broker: Arc<B>,
    context: &Context<'_>,
    step: &Step,
    processes: &Mutex<Vec<Stopped>>,
) -> Result<LiveResult, String> {
    let (plan, model, stop, quiet) = (context.plan, context.model, context.stop, context.quiet);
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
    // With crash faults every instance is a process of its own, killed
    // with SIGKILL at its crash; without, a task of this one.
    let fleet = if plan.crashes.is_empty() {
        let record = Arc::new(LedgerRecord {
            ledger: ledger.clone(),
            in_work: in_work.clone(),
        });
        for (gi, g) in plan.groups.iter().enumerate() {
            for instance in 0..g.count {
                let mut receiver = broker.receiver(gi).await?;
                let place = Place {
                    group: gi,
                    instance,
                    incarnation: 0,
                };
                let stop = consumers_stop.clone();
                let mut worker = Worker::new(record.clone(), started, stop, plan, model, place);
                workers.spawn(async move { worker.serve(&mut receiver).await });
            }
        }
        None
    } else {
        let mut spawner = context.spawner.clone();
        spawner.origin_ns = process::monotonic_ns();
        let spawner = Arc::new(spawner);
        let fleet = Fleet::start(spawner, plan, ledger.clone(), in_work.clone(), started).await?;
        Some(fleet)
    };
    if !quiet {
        eprintln!(
            "live: publishing for {:.1} s wall on {} {}",
            plan.duration_wall_ns as f64 / 1e9,
            broker.name(),
            broker.version()
        );
    }
    step.store(1, Ordering::SeqCst);
    let broker_kills = Arc::new(AtomicUsize::new(0));
    let crashing = context
        .server
        .clone()
        .filter(|_| !plan.broker_crashes.is_empty())
        .map(|server| {
            let crashes = plan.broker_crashes.clone();
            let task = tokio::spawn(crash_broker(
                server.clone(),
                crashes,
                started,
                broker_kills.clone(),
            ));
            (server, task)
        });
    let publish_error = produce(broker.clone(), plan, &ledger, started, stop).await;
    step.store(2, Ordering::SeqCst);
    let drained = drain(broker.as_ref(), plan, &ledger, &in_work, started, stop).await;
    if let Some((server, crashing)) = crashing {
        // Cut short (Ctrl-C, the drain time out) during a downtime: the
        // broker is started again, so that the run can take its inventory.
        if !crashing.is_finished() {
            crashing.abort();
        }
        let crash_error = crashing.await.unwrap_or(Ok(()));
        tokio::task::spawn_blocking(move || lock(&server).restart())
            .await
            .map_err(|e| format!("restarting the broker: {e}"))??;
        crash_error?;
    }
    let broker_kills = broker_kills.load(Ordering::SeqCst);
    step.store(3, Ordering::SeqCst);
    consumers_stop.store(true, Ordering::SeqCst);
    workers.abort_all();
    while workers.join_next().await.is_some() {}
    let mut kills = 0;
    if let Some(fleet) = fleet {
        kills = fleet.kills.load(Ordering::SeqCst);
        for stopped in fleet.stop().await? {
            broker.adopt_held(stopped.held.clone());
            if let Ok(mut kept) = processes.lock() {
                kept.push(stopped);
            }
        }
    }
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
        json!({ "broker": broker.name(), "broker_version": broker.version(), "speed": plan.speed, "wall_seconds": wall_seconds, "consumer_kills": kills, "broker_kills": broker_kills }),
    );
    Ok(LiveResult { tree, partial })
}

/// The broker crashes of the plan (in time order, none overlapping): at
/// each, the spawned broker's process is killed with SIGKILL, and started
/// again after the downtime; `kills` counts the crashes.
async fn crash_broker(
    server: SharedServer,
    crashes: Vec<super::plan::BrokerCrashPlan>,
    started: Instant,
    kills: Arc<AtomicUsize>,
) -> Result<(), String> {
    for crash in crashes {
        let at = started + Duration::from_nanos(crash.at_wall_ns);
        tokio::time::sleep_until(at.into()).await;
        let killed = server.clone();
        let _ = tokio::task::spawn_blocking(move || lock(&killed).crash()).await;
        kills.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep_until((at + Duration::from_nanos(crash.down_wall_ns)).into()).await;
        let restarted = server.clone();
        tokio::task::spawn_blocking(move || lock(&restarted).restart())
            .await
            .map_err(|e| format!("restarting the broker: {e}"))??;
    }
    Ok(())
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
        // Keys from a stream of their own: the arrival times stay as
        // they were without keys.
        let keys = p.keys.clone();
        let retry = p.retry.clone();
        let confirm_timeout_ns = p.confirm_timeout_ns;
        let speed = plan.speed;
        let retry_seed = crate::rng::combine(plan.seed ^ 0x7265_7472, pi as u64);
        let mut key_rng = crate::rng::Stream::seed_from_u64(crate::rng::combine(
            plan.seed ^ 0x6b65_7973,
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
                let key = keys.as_ref().map(|k| k.sample(&mut key_rng));
                let id = ledger
                    .lock()
                    .map_err(|_| "ledger poisoned".to_string())?
                    .new_message(queue, sent, key);
                let broker = broker.clone();
                let ledger = ledger.clone();
                let retrying = Retrying {
                    policy: retry.clone(),
                    confirm_timeout_ns,
                    speed,
                    seed: crate::rng::combine(retry_seed, id),
                };
                publishes.spawn(async move {
                    let outcome = retrying.publish(broker.as_ref(), queue, id, sent).await?;
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

/// A producer's retries of one message: after a refusal it publishes
/// again as the simulation's producer does (with a `confirm_timeout` and a
/// `producer.retry` policy): the broker down is learnt after the client's
/// reconnect interval (or the confirm timeout, when shorter), a full
/// queue's rejection at once, a missing confirm at its timeout; then the
/// policy's backoff (at least one round trip), while the policy allows.
/// A publish whose confirm timed out may still have been stored: its
/// copy is a duplicate beside the retry's, as in the simulation.
struct Retrying {
    policy: Option<RetryPolicy>,
    confirm_timeout_ns: Option<Nanos>,
    speed: f64,
    /// The message's own backoff stream (jitter).
    seed: u64,
}

impl Retrying {
    async fn publish<B: Broker>(
        &self,
        broker: &B,
        queue: usize,
        id: u64,
        sent: u64,
    ) -> Result<PublishOutcome, String> {
        let first = Instant::now();
        let mut rng = crate::rng::Stream::seed_from_u64(self.seed);
        let (mut publishes, mut prev_delay_ns) = (0u32, 0);
        loop {
            let outcome = match self.confirm_timeout_ns {
                None => broker.publish(queue, id, sent).await?,
                Some(timeout_ns) => {
                    let wall = Duration::from_nanos((timeout_ns as f64 / self.speed) as u64);
                    match tokio::time::timeout(wall, broker.publish(queue, id, sent)).await {
                        Ok(outcome) => outcome?,
                        Err(_) => PublishOutcome::TimedOut,
                    }
                }
            };
            publishes += 1;
            let Some(policy) = &self.policy else {
                return Ok(outcome);
            };
            let learnt_ns = match outcome {
                PublishOutcome::Accepted(_) => return Ok(outcome),
                PublishOutcome::Refused => crate::sim::RECONNECT_INTERVAL_NS
                    .min(self.confirm_timeout_ns.unwrap_or(Nanos::MAX)),
                PublishOutcome::Rejected | PublishOutcome::TimedOut => 0,
            };
            let delay_ns = policy.delay_ns(publishes, prev_delay_ns, &mut rng);
            let elapsed_ns = (first.elapsed().as_nanos() as f64 * self.speed) as u64 + learnt_ns;
            if !policy.allows(publishes, elapsed_ns, delay_ns) {
                return Ok(outcome);
            }
            prev_delay_ns = delay_ns;
            let wait_ns = learnt_ns + delay_ns.max(crate::sim::MIN_PUBLISH_RETRY_NS);
            tokio::time::sleep(Duration::from_nanos((wait_ns as f64 / self.speed) as u64)).await;
        }
    }
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
            Ok(l) => l.unsettled(&plan.lost_ack_windows()),
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
        .unsettled(&[]);
    for (queue, sequence) in unsettled {
        if broker.stored(queue, sequence).await? {
            if let Ok(mut l) = ledger.lock() {
                l.mark_stored(queue, sequence);
            }
        }
    }
    Ok(())
}
