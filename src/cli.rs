//! The command line: parse, load, run, report. Exit codes: 0 success, 1 a
//! `check` expectation failed, 2 bad input (nothing is written then).

use crate::experiment::{self, Plan};
use crate::model::{self, Model};
use crate::report::{self, Report, VariantResult};
use crate::scenario::load::{parse_overrides, Override, RawScenario};
use crate::scenario::Scenario;
use crate::sim::features::{Build, Uses};
use crate::sim::Limits;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by Ctrl-C: runs stop cleanly and write partial results.
pub static STOP: AtomicBool = AtomicBool::new(false);

#[derive(Parser, Debug)]
#[command(
    name = "mqsim",
    version,
    about = "Deterministic discrete-event simulator of message-queue reliability"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Simulate a scenario and report what happened to every message.
    Run(RunArgs),
    /// Run every variant of a scenario on common random numbers and compare them.
    Compare(CompareArgs),
    /// Run a grid of values of one parameter (x variants x replications).
    Sweep(SweepArgs),
    /// Run scenarios and enforce their [expect] blocks (for CI): exit 1 on failure.
    Check(CheckArgs),
    /// Combine the partial results of `--shard i/n` runs.
    Merge(MergeArgs),
    /// Write a commented starter scenario that runs as it is.
    Init { path: PathBuf },
    /// Print a JSON Schema of the scenario format.
    Schema,
    /// Print the scenario with every default and preset filled in.
    Explain {
        file: PathBuf,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// `--build`: which build of the simulator runs the scenario.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BuildArg {
    /// The leanest build that has every part the scenario uses.
    #[default]
    Auto,
    /// Every optional part compiled in: the same results, slower.
    Full,
}

impl BuildArg {
    pub fn build(self) -> Build {
        match self {
            BuildArg::Auto => Build::Auto,
            BuildArg::Full => Build::Full,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Override a scenario key: --set consumer.failure=0.1, --set queue.orders.max_deliveries=3
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Independent replications (seeds derived from the scenario seed).
    #[arg(long, short = 'r')]
    pub replications: Option<u32>,
    /// Worker threads (0: all cores). Results do not depend on it.
    #[arg(long, short = 'j', default_value_t = 0)]
    pub jobs: usize,
    /// Replace the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Add replications until every headline metric's relative 95% half-width is below this.
    #[arg(long)]
    pub precision: Option<f64>,
    /// The most replications --precision may run.
    #[arg(long, default_value_t = 200)]
    pub max_replications: u32,
    /// Output on stdout: readable text or one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Folder for summary.json, metrics.csv, timeseries.csv and charts (default output/<scenario>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write no files.
    #[arg(long)]
    pub no_files: bool,
    /// Draw charts (PNG and SVG) into the output folder.
    #[arg(long)]
    pub charts: bool,
    /// No progress bar.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Stop each run after this many events (partial results).
    #[arg(long)]
    pub max_events: Option<u64>,
    /// Stop after this much wall-clock time, e.g. 30s (partial results).
    #[arg(long)]
    pub max_wall: Option<String>,
    /// Run even when the resource estimate is over the limit.
    #[arg(long)]
    pub force: bool,
    /// Run only shard i of n of the jobs (i from 1), writing a partial result for `mqsim merge`.
    #[arg(long)]
    pub shard: Option<String>,
    /// Simulator build: auto (the leanest that has every part the scenario
    /// uses) or full (every optional part compiled in). The results are
    /// the same; for checking that, and for benchmarks.
    #[arg(long, value_enum, default_value_t = BuildArg::Auto)]
    pub build: BuildArg,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    pub file: PathBuf,
    #[command(flatten)]
    pub common: Common,
    /// Write the life of chosen messages (replication 0) to FILE as JSON
    /// lines, and beside it FILE.chrome.json in the Chrome trace event
    /// format (open it in Perfetto).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Message ids to trace (ids count messages from 0 in publish order).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub trace_messages: Vec<u64>,
    /// Without --trace-messages: trace the first N messages.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub trace_first: u64,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    pub file: PathBuf,
    /// Ad hoc variant: NAME:key=value,key=value (repeatable).
    #[arg(long = "variant", value_name = "NAME:K=V,...")]
    pub variants: Vec<String>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    pub file: PathBuf,
    /// The key to sweep, e.g. producer.arrival.rate
    #[arg(long)]
    pub param: String,
    /// Values, comma-separated.
    #[arg(long, value_delimiter = ',', conflicts_with = "range")]
    pub values: Vec<String>,
    /// start:end:steps (inclusive, evenly spaced).
    #[arg(long)]
    pub range: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    pub files: Vec<PathBuf>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Partial results written by --shard runs (their output folders or part files).
    pub parts: Vec<PathBuf>,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// An error for the user, with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn input(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
}

impl From<crate::scenario::ScenarioError> for Failure {
    fn from(e: crate::scenario::ScenarioError) -> Failure {
        Failure::input(e.to_string())
    }
}

/// Entry point: returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(f) => {
            eprintln!("error: {}", f.message);
            f.code
        }
    }
}

pub fn dispatch(cmd: Command) -> Result<i32, Failure> {
    use std::io::IsTerminal;
    let quiet = match &cmd {
        Command::Run(a) => a.common.quiet,
        Command::Compare(a) => a.common.quiet,
        Command::Sweep(a) => a.common.quiet,
        Command::Check(a) => a.common.quiet,
        _ => true,
    };
    crate::experiment::PROGRESS.store(!quiet && std::io::stderr().is_terminal(), Ordering::Relaxed);
    match cmd {
        Command::Run(a) => {
            let code = run(&a.file, &a.common)?;
            if let Some(t) = &a.trace {
                trace(&a.file, &a.common, t, &a.trace_messages, a.trace_first)?;
            }
            Ok(code)
        }
        Command::Compare(a) => crate::experiment::compare::command(&a),
        Command::Sweep(a) => crate::experiment::sweep::command(&a),
        Command::Check(a) => crate::experiment::check::command(&a),
        Command::Merge(a) => crate::experiment::shard::merge_command(&a),
        Command::Init { path } => init(&path),
        Command::Schema => {
            println!("{}", crate::scenario::schema::schema_json());
            Ok(0)
        }
        Command::Explain { file, set } => explain(&file, &set),
    }
}

/// Loads a scenario file with the command line's overrides.
pub fn load(
    file: &Path,
    sets: &[String],
) -> Result<(RawScenario, Vec<Override>, Scenario), Failure> {
    let raw = RawScenario::read(file)?;
    let overrides = parse_overrides(&raw, sets)?;
    let scenario = raw.build(&overrides)?;
    Ok((raw, overrides, scenario))
}

pub fn compile(s: &Scenario) -> Result<Model, Failure> {
    model::compile(s)
        .map_err(|e| Failure::input(format!("the scenario could not be compiled: {e}")))
}

/// The run plan from the scenario and the command line.
pub fn plan(s: &Scenario, c: &Common) -> Result<Plan, Failure> {
    let deadline = match &c.max_wall {
        Some(t) => {
            let d = crate::time::Duration::parse(t)
                .map_err(|e| Failure::input(format!("--max-wall: {e}")))?;
            Some(std::time::Instant::now() + std::time::Duration::from_nanos(d.ns()))
        }
        None => None,
    };
    if let Some(p) = c.precision {
        if !(p > 0.0 && p < 1.0) {
            return Err(Failure::input(
                "--precision is a relative half-width between 0 and 1, e.g. 0.02",
            ));
        }
    }
    let replications = c.replications.or(s.simulation.replications).unwrap_or(1);
    if replications == 0 {
        return Err(Failure::input("--replications must be at least 1"));
    }
    Ok(Plan {
        replications,
        jobs: c.jobs,
        precision: c.precision,
        max_replications: c.max_replications,
        limits: Limits {
            max_events: c.max_events,
            stop: Some(&STOP),
            deadline,
        },
        seed: c.seed.or(s.simulation.seed).unwrap_or(1),
        build: c.build.build(),
    })
}

/// Where files go: `--out`, or `output/<scenario name>/`.
pub fn out_dir(c: &Common, name: &str) -> Option<PathBuf> {
    if c.no_files {
        return None;
    }
    Some(
        c.out
            .clone()
            .unwrap_or_else(|| PathBuf::from("output").join(report::files::safe_name(name))),
    )
}

/// Runs one variant (the scenario as loaded) with the plan.
pub fn run_variant(
    name: &str,
    s: &Scenario,
    plan: &Plan,
    force: bool,
) -> Result<VariantResult, Failure> {
    let m = compile(s)?;
    crate::experiment::guard::check(&m, plan, force).map_err(Failure::input)?;
    let outcome = experiment::run(&m, plan);
    let summary = outcome.summary(&m);
    Ok(VariantResult {
        name: name.into(),
        outcome,
        summary,
    })
}

/// Prints and writes a report.
pub fn emit(report: &Report, c: &Common) -> Result<(), Failure> {
    match c.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report.json()).unwrap_or_default()
        ),
        Format::Text => print!("{}", report::terminal::render(report)),
    }
    if let Some(dir) = out_dir(c, &report.scenario) {
        let written = report::write_all(report, &dir).map_err(|e| Failure {
            code: 2,
            message: e,
        })?;
        let mut charts = Vec::new();
        if c.charts {
            charts = report::chart_files(report, &dir).map_err(|e| Failure {
                code: 2,
                message: e,
            })?;
        }
        if !c.quiet && c.format == Format::Text {
            eprintln!(
                "wrote {}",
                written
                    .iter()
                    .chain(charts.iter())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(())
}

fn run(file: &Path, c: &Common) -> Result<i32, Failure> {
    let (_, _, s) = load(file, &c.set)?;
    let plan = plan(&s, c)?;
    let name = s
        .simulation
        .name
        .clone()
        .unwrap_or_else(|| "scenario".into());
    let v = run_variant("base", &s, &plan, c.force)?;
    let report = Report {
        scenario: name,
        variants: vec![v],
        comparison: None,
    };
    emit(&report, c)?;
    Ok(0)
}

fn explain(file: &Path, sets: &[String]) -> Result<i32, Failure> {
    let (_, _, s) = load(file, sets)?;
    let resolved = model::resolve(&s);
    let text = toml::to_string_pretty(&resolved)
        .map_err(|e| Failure::input(format!("cannot show the scenario: {e}")))?;
    println!(
        "# {} with every default and preset filled in (mqsim explain)",
        file.display()
    );
    let uses = Uses::of(&compile(&s)?, false);
    if Build::Auto.takes_core(&uses) {
        println!("# simulator build: core (none of the optional parts is used)\n");
    } else {
        println!(
            "# simulator build: full (uses {})\n",
            uses.names().join("; ")
        );
    }
    print!("{text}");
    Ok(0)
}

fn init(path: &Path) -> Result<i32, Failure> {
    if path.exists() {
        return Err(Failure::input(format!(
            "{} exists already; choose another path",
            path.display()
        )));
    }
    report::files::write_atomic(path, crate::scenario::STARTER.as_bytes())
        .map_err(Failure::input)?;
    eprintln!(
        "wrote {}; run it with: mqsim run {}",
        path.display(),
        path.display()
    );
    Ok(0)
}

/// Runs replication 0 again, recording the life of the chosen messages, and
/// writes it as JSON lines and as a Chrome trace.
fn trace(file: &Path, c: &Common, path: &Path, ids: &[u64], first: u64) -> Result<(), Failure> {
    let (_, _, s) = load(file, &c.set)?;
    let plan = plan(&s, c)?;
    let m = compile(&s)?;
    let ids: Vec<u64> = if ids.is_empty() {
        (0..first.min(100_000)).collect()
    } else {
        ids.to_vec()
    };
    let (warmup_ns, _) = experiment::choose_warmup(&m, plan.seed, plan.limits, plan.build);
    let out = crate::sim::run_traced(
        &m,
        crate::rng::replication_seed(plan.seed, 0),
        warmup_ns,
        plan.limits,
        &ids,
    );
    let mut lines = String::new();
    let mut chrome = Vec::new();
    for e in &out.trace {
        lines.push_str(&serde_json::to_string(e).map_err(|e| Failure::input(e.to_string()))?);
        lines.push('\n');
        let ts = e.time_s * 1e6;
        let mut ev = serde_json::json!({
            "name": e.event, "cat": e.queue, "pid": 1, "tid": e.message, "ts": ts,
            "args": { "copy": e.copy, "detail": e.detail },
        });
        match e.duration_s {
            Some(d) => {
                ev["ph"] = "X".into();
                ev["dur"] = (d * 1e6).into();
            }
            None => {
                ev["ph"] = "i".into();
                ev["s"] = "t".into();
            }
        }
        chrome.push(ev);
    }
    for id in &ids {
        chrome.push(serde_json::json!({ "name": "thread_name", "ph": "M", "pid": 1, "tid": id, "args": { "name": format!("message {id}") } }));
    }
    report::files::write_atomic(path, lines.as_bytes()).map_err(Failure::input)?;
    let mut cpath = path.as_os_str().to_owned();
    cpath.push(".chrome.json");
    let doc = serde_json::json!({ "traceEvents": chrome, "displayTimeUnit": "ms" });
    report::files::write_atomic(Path::new(&cpath), doc.to_string().as_bytes())
        .map_err(Failure::input)?;
    if !c.quiet {
        eprintln!(
            "traced {} messages ({} steps) to {} and {}",
            ids.len(),
            out.trace.len(),
            path.display(),
            Path::new(&cpath).display()
        );
    }
    Ok(())
}
