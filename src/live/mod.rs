//! `mqsim live`: runs a scenario against a real broker (NATS JetStream in
//! this slice) and, with `--compare`, holds the measured figures beside the
//! simulation's. A layer above the experiments (it runs the simulation for
//! `--compare`) and below the command line, which only dispatches here.
//!
//! The broker sits behind [`Broker`], so that AMQP can be added beside
//! NATS: the producers, consumers, drain and measurement are the same.

pub mod agreement;
pub mod measure;
pub mod nats;
pub mod plan;
pub mod process;
pub mod rabbitmq;
pub mod rabbitmq_server;
mod runner;
mod worker;

use crate::experiment::{self, Plan};
use crate::report::files;
use crate::scenario::Scenario;
use crate::sim::Limits;
use clap::Args;
use measure::{Ledger, PublishOutcome};
use serde_json::{json, Map, Value};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpawnArg {
    /// `nats-server -js` from PATH, on a free loopback port.
    Nats,
    /// The Debian package's rabbitmq-server, with its files in a temporary folder, on free loopback ports.
    Rabbitmq,
}

#[derive(Args, Debug)]
pub struct LiveArgs {
    pub file: PathBuf,
    /// Start a private broker (nats-server -js, or rabbitmq-server) on free local ports, and stop it after.
    #[arg(
        long,
        value_enum,
        conflicts_with = "broker",
        required_unless_present = "broker"
    )]
    pub spawn: Option<SpawnArg>,
    /// A running broker: nats://HOST:PORT or amqp://USER:PASSWORD@HOST:PORT/VHOST (the run's streams or queues are created and deleted there).
    #[arg(long, value_name = "URL")]
    pub broker: Option<String>,
    /// Simulated seconds per wall second: arrival rates, service times, AckWait and MaxAge are scaled (default: the scenario's [live] speed, else 1).
    #[arg(long)]
    pub speed: Option<f64>,
    /// Also simulate the scenario and print each live figure beside the simulated mean and 99% prediction interval.
    #[arg(long)]
    pub compare: bool,
    /// Replications simulated for --compare.
    #[arg(long, short = 'r', default_value_t = 20)]
    pub replications: u32,
    /// Override a scenario key: --set consumer.prefetch=10
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Output on stdout: readable text or one JSON object.
    #[arg(long, value_enum, default_value_t = crate::report::Format::Text)]
    pub format: crate::report::Format,
    /// Folder for summary.json (default output/<scenario>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write no files.
    #[arg(long)]
    pub no_files: bool,
    /// No progress messages.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// A broker as `mqsim live` drives it: declare the queues and consumer
/// groups of the plan, publish with acknowledgement, deliver to instances,
/// and report what it dead-lettered.
pub trait Broker: Send + Sync + 'static {
    type Delivery: Delivery;
    type Receiver: Receiver<Delivery = Self::Delivery>;
    fn name(&self) -> &'static str;
    fn version(&self) -> String;
    /// Creates the plan's queues (empty) and consumer groups.
    fn declare(&self) -> impl Future<Output = Result<(), String>> + Send;
    /// Publishes message `id` to queue `queue` and waits for the broker's answer.
    fn publish(
        &self,
        queue: usize,
        id: u64,
        sent_wall_ns: u64,
    ) -> impl Future<Output = Result<PublishOutcome, String>> + Send;
    /// A new instance's stream of deliveries of consumer group `group`.
    fn receiver(&self, group: usize)
        -> impl Future<Output = Result<Self::Receiver, String>> + Send;
    /// Records the broker's dead-letter reports into the ledger from now on.
    fn watch_dead_letters(
        &self,
        ledger: Arc<Mutex<Ledger>>,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// Whether the broker still stores the message at `sequence`.
    fn stored(
        &self,
        queue: usize,
        sequence: u64,
    ) -> impl Future<Output = Result<bool, String>> + Send;
    /// Deletes what [`Broker::declare`] created.
    fn remove(&self) -> impl Future<Output = Result<(), String>> + Send;
    /// Called once the consumers have stopped, before the last
    /// [`Broker::stored`] questions: a broker that cannot be asked about
    /// one message (RabbitMQ) takes its inventory here.
    fn consumers_stopped(&self) -> impl Future<Output = Result<(), String>> + Send {
        async { Ok(()) }
    }
    /// The (queue, message id) of the deliveries this connection's
    /// consumers hold unacked: a consumer process reports them to the
    /// parent at the end (RabbitMQ; brokers asked by sequence need not).
    fn held(&self) -> Vec<(usize, u64)> {
        Vec::new()
    }
    /// Counts deliveries a consumer process held unacked at the end as
    /// this connection's own, for [`Broker::consumers_stopped`].
    fn adopt_held(&self, _held: Vec<(usize, u64)>) {}
}

pub trait Receiver: Send + Sized + 'static {
    type Delivery: Delivery;
    fn next(&mut self) -> impl Future<Output = Option<Result<Self::Delivery, String>>> + Send;
}

pub trait Delivery: Send + Sync + 'static {
    /// The id the producer wrote into the message.
    fn id(&self) -> Option<u64>;
    /// The broker's delivery count (1 for the first delivery).
    fn delivery_count(&self) -> u64;
    fn ack(&self) -> impl Future<Output = Result<(), String>> + Send;
    /// Negative acknowledgement: deliver again at once (RabbitMQ:
    /// `basic.nack` or, with `retry_mode = "reject-requeue"`,
    /// `basic.reject`, both with requeue).
    fn nack(&self) -> impl Future<Output = Result<(), String>> + Send;
    /// A failed attempt of a consumer with a delayed-retry policy
    /// (`retry_mode = "delay"`): deliver again after the backoff, or give
    /// the message up (its last attempt).
    fn retry(&self, next: Next) -> impl Future<Output = Result<(), String>> + Send;
}

/// What a failed delivery of a delayed-retry consumer asks of the broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Deliver it again after this wall time (JetStream `NakWithDelay`;
    /// RabbitMQ: a copy through the delay queue of that TTL).
    After(std::time::Duration),
    /// The attempts are used up: the broker removes it as at its delivery
    /// limit (JetStream: a NAK that MaxDeliver turns away; RabbitMQ:
    /// `basic.reject` without requeue, into the dead-letter queue).
    GiveUp,
}

/// The fastest `--speed` (as `[live] speed`).
pub const MAX_SPEED: f64 = 1000.0;

/// An error of a live run, with its exit code (2: bad input or an
/// unreachable or failing broker).
pub struct LiveFailure {
    pub code: i32,
    pub message: String,
}

const NO_BROKER: &str =
    "give --spawn nats|rabbitmq, or --broker nats://HOST:PORT or amqp://HOST:PORT/VHOST";

impl From<crate::report::ReportError> for LiveFailure {
    fn from(e: crate::report::ReportError) -> LiveFailure {
        LiveFailure {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

fn input(message: impl Into<String>) -> LiveFailure {
    LiveFailure {
        code: files::BAD_INPUT,
        message: message.into(),
    }
}

/// What a live run gave: the document `--format json` prints, the
/// agreement table, the metrics that differ, and whether Ctrl-C cut it.
pub struct Measured {
    pub document: Value,
    pub table: String,
    pub differing: Vec<String>,
    pub partial: bool,
}

/// The broker the flags name: `nats` or `rabbitmq`.
fn broker_kind(a: &LiveArgs) -> Result<&'static str, LiveFailure> {
    match (&a.spawn, &a.broker) {
        (Some(SpawnArg::Nats), _) => Ok("nats"),
        (Some(SpawnArg::Rabbitmq), _) => Ok("rabbitmq"),
        (None, Some(url)) if url.starts_with("nats://") => Ok("nats"),
        (None, Some(url)) if url.starts_with("amqp://") => Ok("rabbitmq"),
        (None, Some(url)) => Err(input(format!(
            "--broker {url}: give nats://HOST:PORT or amqp://HOST:PORT/VHOST (amqps:// is not supported)"
        ))),
        (None, None) => Err(input(NO_BROKER)),
    }
}

/// The scenario's name as the output shows it.
fn scenario_name(scenario: &Scenario) -> String {
    scenario
        .simulation
        .name
        .clone()
        .unwrap_or_else(|| "scenario".into())
}

/// `--speed`, else the scenario's `[live] speed`, else 1.
pub fn speed_of(a: &LiveArgs, scenario: &Scenario) -> f64 {
    a.speed
        .or_else(|| scenario.live.as_ref().and_then(|l| l.speed))
        .unwrap_or(1.0)
}

/// `mqsim live`: refuses what has no mapping, runs, measures, prints and
/// writes; with `--compare`, exit 1 when a metric differs.
pub fn command(
    a: &LiveArgs,
    scenario: &Scenario,
    stop: &'static AtomicBool,
    allow_outside: bool,
) -> Result<i32, LiveFailure> {
    let name = scenario_name(scenario);
    let out_dir = (!a.no_files).then(|| {
        a.out
            .clone()
            .unwrap_or_else(|| PathBuf::from("output").join(files::safe_name(&name)))
    });
    if a.no_files && a.out.is_some() {
        return Err(input(
            "--no-files and --out contradict each other: drop one",
        ));
    }
    // Refused before the folder is made and locked, as before anything starts.
    prepare(a, scenario)?;
    let _lock = match &out_dir {
        Some(dir) => {
            files::check_folder(dir, "--out")?;
            Some(files::lock_folder(dir)?)
        }
        None => None,
    };
    let measured = measure(a, scenario, stop, allow_outside)?;
    emit(a, &measured.document, &measured.table, out_dir.as_deref())?;
    Ok(if measured.differing.is_empty() { 0 } else { 1 })
}

/// The broker, the model and the live plan, or why the scenario cannot
/// run live with these flags (exit 2).
fn prepare(
    a: &LiveArgs,
    scenario: &Scenario,
) -> Result<(&'static str, crate::model::Model, plan::LivePlan), LiveFailure> {
    let broker_kind = broker_kind(a)?;
    let speed = speed_of(a, scenario);
    if !(speed.is_finite() && speed > 0.0 && speed <= MAX_SPEED) {
        return Err(input(format!(
            "--speed is simulated seconds per wall second: a number above 0 and at most {MAX_SPEED}, e.g. 10 (faster, a broker's round trips outgrow the services)"
        )));
    }
    if a.compare && a.replications < 2 {
        return Err(input(
            "--compare needs at least 2 replications for a prediction interval",
        ));
    }
    plan::check_supported(scenario, broker_kind, a.spawn.is_some()).map_err(input)?;
    let model = crate::model::compile(scenario)
        .map_err(|e| input(format!("the scenario could not be compiled: {e}")))?;
    let live_plan = plan::build(&model, speed, broker_kind).map_err(input)?;
    Ok((broker_kind, model, live_plan))
}

/// Runs the scenario on the broker and, with `--compare`, simulates it and
/// holds the two side by side.
pub fn measure(
    a: &LiveArgs,
    scenario: &Scenario,
    stop: &'static AtomicBool,
    allow_outside: bool,
) -> Result<Measured, LiveFailure> {
    let (broker_kind, model, live_plan) = prepare(a, scenario)?;
    let name = scenario_name(scenario);
    let live = runner::run(a, &live_plan, &model, stop, broker_kind, allow_outside)?;
    let mut live_tree = live.tree;
    live_tree.insert("scenario".into(), json!(name));
    let mut measured = Measured {
        document: Value::Object(live_tree.clone()),
        table: String::new(),
        differing: Vec::new(),
        partial: live.partial,
    };
    if a.compare && !live.partial {
        let sim = simulate(&model, a.replications, stop);
        let tolerance = scenario
            .live
            .as_ref()
            .and_then(|l| l.latency_tolerance)
            .unwrap_or(0.0);
        let rows = agreement::compare(&live_tree, &sim, tolerance);
        measured.differing = rows
            .iter()
            .filter(|r| !r.agrees)
            .map(|r| r.metric.to_string())
            .collect();
        measured.table = agreement::render(&rows);
        measured.document = json!({
            "live": live_tree,
            "simulated": sim.summary(&model),
            "agreement": agreement::json(&rows),
        });
    }
    Ok(measured)
}

/// The simulation of the same scenario, `replications` times.
fn simulate(
    model: &crate::model::Model,
    replications: u32,
    stop: &'static AtomicBool,
) -> experiment::Outcome {
    let plan = Plan {
        replications,
        jobs: 0,
        precision: None,
        max_replications: replications,
        limits: Limits {
            max_events: None,
            stop: Some(stop),
            deadline: None,
        },
        seed: model.seed,
        first_replication: 0,
        build: crate::sim::features::Build::Auto,
    };
    experiment::run(model, &plan)
}

fn emit(
    a: &LiveArgs,
    document: &Value,
    table: &str,
    out_dir: Option<&std::path::Path>,
) -> Result<(), LiveFailure> {
    let text = serde_json::to_string_pretty(document).unwrap_or_default();
    match a.format {
        crate::report::Format::Json => println!("{text}"),
        crate::report::Format::Text => {
            let live = document.get("live").unwrap_or(document);
            print!("{}", render_live(live));
            print!("{table}");
        }
    }
    if let Some(dir) = out_dir {
        let json = crate::report::DocumentJson;
        let path = dir.join(crate::report::Exporter::file_name(&json));
        crate::report::export(&json, document, &path)?;
        if !a.quiet && a.format == crate::report::Format::Text {
            eprintln!("wrote {}", files::printable(&path.display().to_string()));
        }
    }
    Ok(())
}

/// The live figures as text.
fn render_live(live: &Value) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let run = &live["live_run"];
    let _ = writeln!(
        out,
        "{} live on {} {} at speed {} ({:.1} s wall){}",
        live["scenario"].as_str().unwrap_or(""),
        run["broker"].as_str().unwrap_or(""),
        run["broker_version"].as_str().unwrap_or(""),
        run["speed"],
        run["wall_seconds"].as_f64().unwrap_or(0.0),
        if live["partial"] == Value::Bool(true) {
            " — partial"
        } else {
            ""
        }
    );
    let empty = Map::new();
    let messages = live["messages"].as_object().unwrap_or(&empty);
    for (k, v) in messages {
        let _ = writeln!(out, "  messages.{k:<18} {v}");
    }
    let latency = live["latency"].as_object().unwrap_or(&empty);
    for (k, v) in latency {
        let _ = writeln!(out, "  latency.{k:<19} {v}");
    }
    let ordering = live["ordering"].as_object().unwrap_or(&empty);
    for (k, v) in ordering {
        let _ = writeln!(out, "  ordering.{k:<18} {v}");
    }
    if live["drain_timed_out"] == Value::Bool(true) {
        let _ = writeln!(
            out,
            "  warning: the drain time ran out with messages unsettled (counted in_flight): lengthen simulation.drain, or lower --speed"
        );
    }
    out
}
