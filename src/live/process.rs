//! Consumer instances as child processes, for `consumer-crash` faults: a
//! crash is a SIGKILL of the instance's process, so the broker sees what it
//! sees when a real worker dies (the TCP connection closed by the kernel,
//! nothing acked or closed on the way), and the instance comes back as a
//! new process after the downtime.
//!
//! The child is `mqsim live-worker` (hidden from the help): it reads the
//! same scenario with the same `--set`s, connects to the broker, and
//! reports on its standard output, one line each:
//!
//! | line | meaning |
//! |---|---|
//! | `connected` | connected; waiting for `go` on its standard input |
//! | `ready` | consuming |
//! | `w` / `e` | a delivery's work started / ended (the drain waits for them) |
//! | `d ID COUNT` | message ID delivered, the broker's COUNTth delivery |
//! | `p ID NS` | message ID processed, NS nanoseconds after the run's start |
//! | `h QUEUE ID` | after `stop`: a delivery it holds unacked (RabbitMQ's inventory) |
//! | `stopped` | after `stop`: it takes no more deliveries and keeps its connection until killed |
//!
//! Times share the parent's clock: the parent passes the monotonic clock's
//! reading at its start (`--origin-ns`), and the child counts from it.

use super::measure::Ledger;
use super::nats::Nats;
use super::plan::{self, LivePlan};
use super::rabbitmq::Rabbit;
use super::worker::{LedgerRecord, Place, Record, Worker};
use super::{Broker, LiveFailure};
use crate::model::Model;
use crate::scenario::Scenario;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// `mqsim live-worker`: one consumer instance of a live run, started by
/// `mqsim live`. Not for direct use.
#[derive(Args, Debug)]
pub struct WorkerArgs {
    pub file: PathBuf,
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    #[arg(long)]
    pub broker: String,
    #[arg(long)]
    pub speed: f64,
    #[arg(long)]
    pub group: usize,
    #[arg(long)]
    pub instance: u32,
    /// 0 for the first process of the instance, then one more per restart.
    #[arg(long, default_value_t = 0)]
    pub incarnation: u32,
    /// The parent's start on the monotonic clock.
    #[arg(long)]
    pub origin_ns: u64,
}

/// The monotonic clock (the one `Instant` reads on Linux), in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    assert_eq!(status, 0, "the monotonic clock is always there");
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// What the child writes: one line per event, flushed at once so that the
/// parent's ledger is no later than the wire.
struct Pipe;

fn say(line: std::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(line);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

impl Record for Pipe {
    fn delivered(&self, id: u64, count: u64) {
        say(format_args!("d {id} {count}"));
    }
    fn processed(&self, id: u64, at_ns: u64) {
        say(format_args!("p {id} {at_ns}"));
    }
    fn work_started(&self) {
        say(format_args!("w"));
    }
    fn work_ended(&self) {
        say(format_args!("e"));
    }
}

/// The child's life: connect, wait for `go`, consume until `stop`, report
/// what it holds, then wait to be killed (its connection open, so that
/// RabbitMQ does not requeue what it holds before the inventory).
pub fn worker_main(a: &WorkerArgs, scenario: &Scenario) -> Result<i32, LiveFailure> {
    let fail = |message: String| LiveFailure { code: 2, message };
    let model = crate::model::compile(scenario).map_err(|e| fail(e.to_string()))?;
    let kind = if a.broker.starts_with("amqp://") {
        "rabbitmq"
    } else {
        "nats"
    };
    let live_plan = plan::build(&model, a.speed, kind).map_err(fail)?;
    if a.group >= live_plan.groups.len() {
        return Err(fail(format!("no consumer group {}", a.group)));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start the async runtime: {e}")))?;
    let served = runtime.block_on(async {
        if kind == "rabbitmq" {
            let broker = Rabbit::connect(&a.broker, &live_plan, "").await?;
            child_life(a, &live_plan, &model, broker).await
        } else {
            let broker = Nats::connect(&a.broker, &live_plan).await?;
            child_life(a, &live_plan, &model, broker).await
        }
    });
    runtime.shutdown_background();
    served.map(|()| 0).map_err(fail)
}

async fn child_life<B: Broker>(
    a: &WorkerArgs,
    plan: &LivePlan,
    model: &Model,
    broker: B,
) -> Result<(), String> {
    let since_origin = monotonic_ns().saturating_sub(a.origin_ns);
    let started = Instant::now()
        .checked_sub(Duration::from_nanos(since_origin))
        .unwrap_or_else(Instant::now);
    say(format_args!("connected"));
    let mut commands = BufReader::new(tokio::io::stdin()).lines();
    if commands.next_line().await.ok().flatten().as_deref() != Some("go") {
        // Stopped before it was let consume.
        say(format_args!("stopped"));
        while let Ok(Some(_)) = commands.next_line().await {}
        return Ok(());
    }
    let mut receiver = broker.receiver(a.group).await?;
    say(format_args!("ready"));
    let place = Place {
        group: a.group,
        instance: a.instance,
        incarnation: a.incarnation,
    };
    // Stopped by a line on the standard input (below), not by the flag.
    let stop = Arc::new(AtomicBool::new(false));
    let mut worker = Worker::new(Arc::new(Pipe), started, stop, plan, model, place);
    tokio::select! {
        served = worker.serve(&mut receiver) => served?,
        _ = commands.next_line() => {}
    }
    for (queue, id) in broker.held() {
        say(format_args!("h {queue} {id}"));
    }
    say(format_args!("stopped"));
    // Until the parent closes the pipe (or kills the process).
    while let Ok(Some(_)) = commands.next_line().await {}
    Ok(())
}

/// How the parent starts instances.
#[derive(Clone, Debug)]
pub struct Spawner {
    pub file: PathBuf,
    pub sets: Vec<String>,
    pub url: String,
    pub speed: f64,
    pub allow_outside: bool,
    /// The run's start on the monotonic clock.
    pub origin_ns: u64,
}

/// One child process, as the parent sees it.
struct Instance {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// Deliveries in work (`w` less `e`): a kill ends them.
    working: usize,
    /// The process ended by itself (its error is on stderr).
    ended: bool,
}

impl Spawner {
    /// Starts the `incarnation`th process of an instance and waits until
    /// it has connected.
    async fn spawn(
        &self,
        group: usize,
        instance: u32,
        incarnation: u32,
    ) -> Result<Instance, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find mqsim itself: {e}"))?;
        let mut command = Command::new(exe);
        if self.allow_outside {
            command.arg("--allow-outside");
        }
        command.arg("live-worker").arg(&self.file);
        for set in &self.sets {
            command.arg("--set").arg(set);
        }
        command
            .args(["--broker", &self.url])
            .args(["--speed", &self.speed.to_string()])
            .args(["--group", &group.to_string()])
            .args(["--instance", &instance.to_string()])
            .args(["--incarnation", &incarnation.to_string()])
            .args(["--origin-ns", &self.origin_ns.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // A process group of its own: a terminal's Ctrl-C reaches
            // `mqsim live` alone, which stops its consumers in order.
            .process_group(0)
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe; the child dies with its parent
        // even when the parent is killed and cannot clean up.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start a consumer process: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("a consumer process has no pipes".into());
        };
        let mut instance = Instance {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            working: 0,
            ended: false,
        };
        instance.expect("connected", None).await?;
        Ok(instance)
    }
}

impl Instance {
    /// Reads lines (applying events to `record`) until `word`.
    async fn expect(
        &mut self,
        word: &str,
        record: Option<&LedgerRecord>,
    ) -> Result<Vec<String>, String> {
        let mut others = Vec::new();
        loop {
            let line = self
                .lines
                .next_line()
                .await
                .map_err(|e| format!("a consumer process: {e}"))?
                .ok_or_else(|| format!("a consumer process ended before saying `{word}`"))?;
            if line == word {
                return Ok(others);
            }
            if let Some(record) = record {
                if !self.apply(&line, record) {
                    others.push(line);
                }
            }
        }
    }

    /// Starts consuming.
    async fn go(&mut self) -> Result<(), String> {
        self.stdin
            .write_all(b"go\n")
            .await
            .map_err(|e| format!("a consumer process: {e}"))?;
        self.expect("ready", None).await.map(drop)
    }

    /// Applies an event line; false when it is not one.
    fn apply(&mut self, line: &str, record: &LedgerRecord) -> bool {
        let mut words = line.split(' ');
        let kind = words.next().unwrap_or("");
        let mut number = || words.next().and_then(|w| w.parse::<u64>().ok());
        match kind {
            "w" => {
                self.working += 1;
                record.work_started();
            }
            "e" => {
                assert!(
                    self.working > 0,
                    "a consumer process ended work it had not started"
                );
                self.working -= 1;
                record.work_ended();
            }
            "d" => match (number(), number()) {
                (Some(id), Some(count)) => record.delivered(id, count),
                _ => return false,
            },
            "p" => match (number(), number()) {
                (Some(id), Some(at_ns)) => record.processed(id, at_ns),
                _ => return false,
            },
            _ => return false,
        }
        true
    }

    /// SIGKILL: the work in hand ends unfinished.
    async fn kill(mut self, record: &LedgerRecord) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.abandon(record);
    }

    /// The work in hand ends unfinished (the process is gone).
    fn abandon(&mut self, record: &LedgerRecord) {
        for _ in 0..self.working {
            record.work_ended();
        }
        self.working = 0;
    }

    /// Stops consuming; what it holds unacked, and the process (kept until
    /// the broker's queues are removed).
    async fn stop(mut self, record: &LedgerRecord) -> Result<Stopped, String> {
        self.stdin
            .write_all(b"stop\n")
            .await
            .map_err(|e| format!("a consumer process: {e}"))?;
        let others = self.expect("stopped", Some(record)).await?;
        let held = others
            .iter()
            .filter_map(|line| {
                let mut words = line.strip_prefix("h ")?.split(' ');
                Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
            })
            .collect();
        Ok(Stopped {
            held,
            process: self.child,
            stdin: self.stdin,
        })
    }
}

/// A stopped instance: what it held, and its process.
pub struct Stopped {
    pub held: Vec<(usize, u64)>,
    /// Killed when dropped.
    pub process: Child,
    pub stdin: ChildStdin,
}

/// The consumer instances of a live run with crash faults, each a process
/// watched by a task of its own.
pub struct Fleet {
    supervisors: tokio::task::JoinSet<Result<Option<Stopped>, String>>,
    stop: tokio::sync::watch::Sender<bool>,
    /// SIGKILLs sent.
    pub kills: Arc<AtomicUsize>,
}

impl Fleet {
    /// Starts every instance of every group (in order, each connected and
    /// consuming before the next), then watches them.
    pub async fn start(
        spawner: Arc<Spawner>,
        plan: &LivePlan,
        ledger: Arc<Mutex<Ledger>>,
        in_work: Arc<AtomicUsize>,
        started: Instant,
    ) -> Result<Fleet, String> {
        let (stop, watch) = tokio::sync::watch::channel(false);
        let kills = Arc::new(AtomicUsize::new(0));
        let mut supervisors = tokio::task::JoinSet::new();
        for (group, g) in plan.groups.iter().enumerate() {
            for instance in 0..g.count {
                let mut first = spawner.spawn(group, instance, 0).await?;
                first.go().await?;
                let mut crashes: Vec<(u64, u64)> = plan
                    .crashes
                    .iter()
                    .filter(|c| c.hits(group, instance))
                    .map(|c| (c.at_wall_ns, c.down_wall_ns))
                    .collect();
                crashes.sort_unstable();
                let life = Life {
                    spawner: spawner.clone(),
                    record: LedgerRecord {
                        ledger: ledger.clone(),
                        in_work: in_work.clone(),
                    },
                    group,
                    instance,
                    started,
                    crashes,
                    stop: watch.clone(),
                    kills: kills.clone(),
                };
                supervisors.spawn(life.watch(first));
            }
        }
        Ok(Fleet {
            supervisors,
            stop,
            kills,
        })
    }

    /// Every instance stops consuming; their holdings and processes.
    pub async fn stop(mut self) -> Result<Vec<Stopped>, String> {
        let _ = self.stop.send(true);
        let mut stopped = Vec::new();
        while let Some(joined) = self.supervisors.join_next().await {
            match joined {
                Ok(Ok(Some(s))) => stopped.push(s),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => return Err(e),
                Err(e) => return Err(format!("a consumer supervisor failed: {e}")),
            }
        }
        Ok(stopped)
    }
}

/// One instance's processes over the run.
struct Life {
    spawner: Arc<Spawner>,
    record: LedgerRecord,
    group: usize,
    instance: u32,
    started: Instant,
    /// (at, downtime) in wall nanoseconds, in order.
    crashes: Vec<(u64, u64)>,
    stop: tokio::sync::watch::Receiver<bool>,
    kills: Arc<AtomicUsize>,
}

impl Life {
    /// Follows the process until its crash, kills it, starts the next one
    /// during the downtime (so that connecting does not lengthen it) and
    /// lets it consume at the downtime's end; at the stop, stops it.
    async fn watch(mut self, mut current: Instance) -> Result<Option<Stopped>, String> {
        let crashes = std::mem::take(&mut self.crashes);
        for (incarnation, (at_ns, down_ns)) in crashes.into_iter().enumerate() {
            let crash_at = self.started + Duration::from_nanos(at_ns);
            if !self.follow(&mut current, Some(crash_at)).await {
                return self.finish(current).await;
            }
            current.kill(&self.record).await;
            self.kills.fetch_add(1, Ordering::SeqCst);
            let next = self
                .spawner
                .spawn(self.group, self.instance, incarnation as u32 + 1);
            current = next.await?;
            let back = crash_at + Duration::from_nanos(down_ns);
            let stopped = tokio::select! {
                _ = tokio::time::sleep_until(back.into()) => false,
                _ = stopped(&mut self.stop) => true,
            };
            if stopped {
                return self.finish(current).await;
            }
            current.go().await?;
        }
        self.follow(&mut current, None).await;
        self.finish(current).await
    }

    /// Applies the process's events until `until` (true) or the stop
    /// (false). A process that ends by itself (its error is on stderr) is
    /// followed no further.
    async fn follow(&mut self, current: &mut Instance, until: Option<Instant>) -> bool {
        let far = self.started + Duration::from_secs(365 * 24 * 3600);
        let until = until.unwrap_or(far);
        loop {
            let line = tokio::select! {
                line = current.lines.next_line() => line,
                _ = tokio::time::sleep_until(until.into()) => return true,
                _ = stopped(&mut self.stop) => return false,
            };
            match line {
                Ok(Some(line)) => {
                    current.apply(&line, &self.record);
                }
                _ => {
                    current.ended = true;
                    current.abandon(&self.record);
                    stopped(&mut self.stop).await;
                    return false;
                }
            }
        }
    }

    async fn finish(&self, current: Instance) -> Result<Option<Stopped>, String> {
        if current.ended {
            return Ok(None);
        }
        current.stop(&self.record).await.map(Some)
    }
}

/// Until the run tells its consumers to stop.
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}
