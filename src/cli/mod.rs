//! The command line: parse, load, run, report. Exit codes: 0 success, 1 a
//! `check` expectation failed or was inconclusive, 2 bad input (nothing is
//! written then), 3 results that could not be written, 130 interrupted by
//! Ctrl-C (partial results written), 141 standard output's reader left.

pub mod check;
#[cfg(feature = "live")]
pub mod check_live;
pub mod compare;
pub mod fit;
pub mod import;
pub mod lint;
pub mod manual;
pub mod optimize;
pub mod otel;
pub mod scheduler;
pub mod shard;
pub mod study;
pub mod sweep;

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
    /// Let the scenario read data files (`file = ...`) outside its own folder.
    #[arg(long, global = true)]
    pub allow_outside: bool,
}

/// `--allow-outside`: data files a scenario names may lie outside its
/// folder. Off unless the user says so, so that running a scenario from
/// someone else's repository cannot read the user's files.
pub static ALLOW_OUTSIDE: AtomicBool = AtomicBool::new(false);

/// Reads a scenario file, with the command line's consent to read data
/// files outside its folder.
pub fn read_scenario(file: &Path) -> Result<RawScenario, crate::scenario::ScenarioError> {
    let mut raw = RawScenario::read(file)?;
    raw.access.allow_outside = ALLOW_OUTSIDE.load(Ordering::Relaxed);
    Ok(raw)
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
    /// Choose settings: search keys' values for the best metric under constraints held with 95% confidence.
    Optimize(optimize::OptimizeArgs),
    /// Advice from a scenario's configuration alone, before running: exit 1 with findings.
    Lint(lint::LintArgs),
    /// Write a scenario from a broker's configuration (SQS attributes, RabbitMQ definitions, Kafka consumer properties).
    Import(import::ImportArgs),
    /// Fit a law to measured durations or arrival timestamps (ranked by AIC), ready to paste or written into a scenario.
    Fit(fit::FitArgs),
    /// Combine the partial results of `--shard i/n` runs.
    Merge(MergeArgs),
    /// Write a commented starter scenario that runs as it is.
    Init { path: PathBuf },
    /// Print a JSON Schema of the scenario format.
    Schema,
    /// Run a scenario against a real broker (NATS JetStream or RabbitMQ) and, with --compare, beside the simulation.
    #[cfg(feature = "live")]
    Live(crate::live::LiveArgs),
    /// One consumer process of `mqsim live` (started by it for crash faults).
    #[cfg(feature = "live")]
    #[command(hide = true)]
    LiveWorker(crate::live::process::WorkerArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions {
        #[arg(value_enum)]
        shell: manual::Shell,
    },
    /// Print the manual page (roff; docs/mqsim.1 is this page).
    Man,
    /// Print the scenario with every default and preset filled in.
    Explain {
        file: PathBuf,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
}

pub use crate::report::Format;

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
    /// Run only replication K of the study (from 0): exactly its row of metrics.csv (`--seed` and this reproduce any row).
    #[arg(long, value_name = "K", conflicts_with_all = ["replications", "precision", "shard"])]
    pub replication: Option<u32>,
    /// Add replications until every headline metric's relative 95% half-width is below this.
    #[arg(long)]
    pub precision: Option<f64>,
    /// The most replications --precision (or check --until-decided) may run.
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
    /// Write report.html into the output folder: one self-contained page with the charts, tables, warnings, fault timeline, scenario and command line.
    #[arg(long)]
    pub html: bool,
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
    /// Run only shard i of n of the jobs (i from 1), writing a partial result for `mqsim merge`;
    /// auto/n or auto take the shard from the scheduler (Slurm array, Kubernetes Indexed Job, MQSIM_SHARD_INDEX).
    #[arg(long, value_name = "i/n|auto/n|auto")]
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
    /// Write the life of chosen messages (replication 0, or K with --replication K) to FILE as JSON
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
    /// A key to sweep, e.g. producer.arrival.rate (repeatable: the full grid
    /// of every parameter's values is run). Each --param takes the next
    /// --values or --range, in the order given.
    #[arg(long, required = true)]
    pub param: Vec<String>,
    /// Values of a parameter, comma-separated (repeatable).
    #[arg(long)]
    pub values: Vec<String>,
    /// start:end:steps, inclusive, evenly spaced, with units where the key
    /// has them (30s:300s:10); start:end:steps:log for geometric steps (repeatable).
    #[arg(long)]
    pub range: Vec<String>,
    /// Geometric steps for every --range.
    #[arg(long)]
    pub log: bool,
    /// A metric to report, as a JSON path of the summary (repeatable), e.g.
    /// recovery.fraction_recovered or messages.goodput; default: latency
    /// mean and p99, lost, dead-lettered, recovered.
    #[arg(long)]
    pub metric: Vec<String>,
    /// Run only this [[variant]] of the scenario (repeatable; default all).
    #[arg(long, value_name = "VARIANT")]
    pub only: Vec<String>,
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
    /// Add replications (replication k always on stream k) until every
    /// expectation is decided at its confidence (0.95 where [expect] gives
    /// none), or --max-replications.
    #[arg(long)]
    pub until_decided: bool,
    /// Run each scenario with a [live] table against a private broker of its kind and pass when every metric agrees with the simulation.
    #[cfg(feature = "live")]
    #[arg(long)]
    pub live: bool,
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
    /// Write report.html of the merged result into --out.
    #[arg(long)]
    pub html: bool,
}

/// An error for the user, with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    /// Bad input: a scenario, a flag, a file read, or a destination
    /// refused before any work (exit 2).
    pub fn input(message: impl Into<String>) -> Failure {
        Failure {
            code: BAD_INPUT,
            message: message.into(),
        }
    }

    /// The work was done but its results could not be written (a disk
    /// full, a folder removed or made read-only during the run): exit 3,
    /// so that a script can tell "fix your input" from "retry the write".
    pub fn output(message: impl Into<String>) -> Failure {
        Failure {
            code: WRITE_FAILED,
            message: message.into(),
        }
    }
}

pub use crate::report::files::{BAD_INPUT, WRITE_FAILED};

impl From<crate::report::error::ReportError> for Failure {
    /// A destination refused before any work is bad input (exit 2); a file
    /// not written or not rendered after the work is exit 3.
    fn from(e: crate::report::error::ReportError) -> Failure {
        Failure {
            code: e.exit_code(),
            message: e.to_string(),
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
    ALLOW_OUTSIDE.store(cli.allow_outside, Ordering::Relaxed);
    let _ = ctrlc::set_handler(|| {
        // A second Ctrl-C while the first is being honoured ends at once.
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(INTERRUPTED);
        }
    });
    let outcome = match standard_output_guarded(|| dispatch(cli.command)) {
        Ok(outcome) => outcome,
        Err(code) => return code,
    };
    match outcome {
        Ok(_) if STOP.load(Ordering::SeqCst) => {
            eprintln!("interrupted: the results written are partial");
            INTERRUPTED
        }
        Ok(code) => code,
        Err(f) => {
            if !f.message.is_empty() {
                // Standard error on a full disk must not turn bad input
                // into a panic.
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "error: {}",
                    report::files::printable(&f.message)
                );
            }
            if STOP.load(Ordering::SeqCst) {
                INTERRUPTED
            } else {
                f.code
            }
        }
    }
}

/// Runs `work`, turning a failed write to standard output or error (a
/// full disk behind `> file`, a reader that went away behind `| head`)
/// into an exit code instead of a panic: `print!` panics on such a
/// failure, with a backtrace, in the middle of a command. A broken pipe
/// ends quietly with 141 (128 + SIGPIPE, what a shell reports for a writer
/// its reader left); any other failure says so on standard error if it
/// can, with exit 3 (the results could not be written).
fn standard_output_guarded<T>(work: impl FnOnce() -> T) -> Result<T, i32> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if stream_failure(info.payload()).is_none() {
            previous(info);
        }
    }));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
    let _ = std::panic::take_hook();
    outcome.map_err(|payload| match stream_failure(payload.as_ref()) {
        Some(message) if message.contains("Broken pipe") => BROKEN_PIPE,
        Some(message) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "error: cannot {message}");
            WRITE_FAILED
        }
        None => std::panic::resume_unwind(payload),
    })
}

/// The text of a panic raised by `print!` or `eprint!` failing to write,
/// as "write to standard output: <the error>".
fn stream_failure(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())?;
    for (label, stream) in [("stdout", "standard output"), ("stderr", "standard error")] {
        if let Some(error) = text.strip_prefix(&format!("failed printing to {label}: ")) {
            return Some(format!("write to {stream}: {error}"));
        }
    }
    None
}

/// Exit code when standard output's reader went away (128 + SIGPIPE).
pub const BROKEN_PIPE: i32 = 141;

/// Exit code of a command stopped by Ctrl-C (128 + SIGINT, as shells use).
pub const INTERRUPTED: i32 = 130;

pub fn dispatch(cmd: Command) -> Result<i32, Failure> {
    use std::io::IsTerminal;
    let quiet = match &cmd {
        Command::Run(a) => a.common.quiet,
        Command::Compare(a) => a.common.quiet,
        Command::Sweep(a) => a.common.quiet,
        Command::Check(a) => a.common.quiet,
        Command::Optimize(a) => a.common.quiet,
        #[cfg(feature = "live")]
        Command::Live(a) => a.quiet,
        _ => true,
    };
    crate::experiment::PROGRESS.store(!quiet && std::io::stderr().is_terminal(), Ordering::Relaxed);
    match cmd {
        Command::Run(a) => run(&a),
        Command::Compare(a) => compare::command(&a),
        Command::Sweep(a) => sweep::command(&a),
        Command::Check(a) => check::command(&a),
        Command::Optimize(a) => optimize::command(&a),
        Command::Import(a) => import::command(&a),
        Command::Lint(a) => lint::command(&a),
        Command::Fit(a) => fit::command(&a),
        Command::Merge(a) => shard::merge_command(&a),
        #[cfg(feature = "live")]
        Command::Live(a) => live(&a),
        #[cfg(feature = "live")]
        Command::LiveWorker(a) => live_worker(&a),
        Command::Init { path } => init(&path),
        Command::Schema => {
            println!("{}", crate::scenario::schema::schema_json());
            Ok(0)
        }
        Command::Explain { file, set } => explain(&file, &set),
        Command::Completions { shell } => manual::completions_command(shell),
        Command::Man => manual::man_command(),
    }
}

/// Loads a scenario file with the command line's overrides.
pub fn load(
    file: &Path,
    sets: &[String],
) -> Result<(RawScenario, Vec<Override>, Scenario), Failure> {
    Ok(load_raw(read_scenario(file)?, sets)?)
}

/// Builds a read scenario with the command line's overrides, keeping the
/// error's location (file, line, column, key) for the library's callers.
pub fn load_raw(
    raw: RawScenario,
    sets: &[String],
) -> Result<(RawScenario, Vec<Override>, Scenario), crate::scenario::ScenarioError> {
    let overrides = parse_overrides(&raw, sets)?;
    let scenario = raw.build(&overrides)?;
    raw.check_variants(&scenario, &overrides)?;
    Ok((raw, overrides, scenario))
}

pub fn compile(s: &Scenario) -> Result<Model, Failure> {
    model::compile(s)
        .map_err(|e| Failure::input(format!("the scenario could not be compiled: {e}")))
}

/// The run plan from the scenario and the command line. Refuses flags that
/// would otherwise be ignored or mean nothing.
pub fn plan(s: &Scenario, c: &Common) -> Result<Plan, Failure> {
    check_flags(c)?;
    let deadline = match &c.max_wall {
        Some(t) => {
            let d = crate::time::Duration::parse(t)
                .map_err(|e| Failure::input(format!("--max-wall: {e}")))?;
            if d.ns() == 0 {
                return Err(Failure::input(
                    "--max-wall 0s would stop before the first event: give a time longer than zero, e.g. --max-wall 30s",
                ));
            }
            Some(std::time::Instant::now() + std::time::Duration::from_nanos(d.ns()))
        }
        None => None,
    };
    let replications = match c.replication {
        Some(_) => 1,
        None => c.replications.or(s.simulation.replications).unwrap_or(1),
    };
    if replications == 0 {
        return Err(Failure::input("--replications must be at least 1"));
    }
    Ok(Plan {
        replications,
        jobs: jobs_capped(c),
        precision: c.precision,
        max_replications: c.max_replications,
        limits: Limits {
            max_events: c.max_events,
            stop: Some(&STOP),
            deadline,
        },
        seed: c.seed.or(s.simulation.seed).unwrap_or(1),
        first_replication: c.replication.unwrap_or(0),
        build: c.build.build(),
    })
}

/// The flags that need no scenario to be judged.
fn check_flags(c: &Common) -> Result<(), Failure> {
    if let Some(p) = c.precision {
        if !(p > 0.0 && p < 1.0) {
            return Err(Failure::input(
                "--precision is a relative half-width between 0 and 1, e.g. 0.02",
            ));
        }
    }
    if c.max_replications == 0 {
        return Err(Failure::input(
            "--max-replications must be at least 1 (it bounds the replications --precision or --until-decided may run)",
        ));
    }
    if c.max_events == Some(0) {
        return Err(Failure::input(
            "--max-events 0 would stop before the first event: give at least 1",
        ));
    }
    if c.no_files && c.out.is_some() {
        return Err(Failure::input(
            "--no-files and --out contradict each other: drop one",
        ));
    }
    if c.no_files && c.html {
        return Err(Failure::input(
            "--no-files and --html contradict each other: the report is a file; drop one",
        ));
    }
    if c.no_files && c.charts {
        return Err(Failure::input(
            "--no-files and --charts contradict each other: charts are files; drop one",
        ));
    }
    Ok(())
}

/// `-j`, capped at the cores available: more threads than cores cannot
/// make a run faster, and tens of thousands of threads exhaust the system.
/// Says so once (results do not depend on the thread count).
fn jobs_capped(c: &Common) -> usize {
    static SAID: AtomicBool = AtomicBool::new(false);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if c.jobs <= cores {
        return c.jobs;
    }
    if !c.quiet && !SAID.swap(true, Ordering::Relaxed) {
        eprintln!(
            "note: -j {} capped at {cores}, the cores available (results do not depend on it)",
            c.jobs
        );
    }
    cores
}

/// Checks every destination of a command before any simulation (output
/// folders, and files such as `--trace` or `--junit` with the flag that
/// names them), and locks the output folders for the length of the command.
/// Two scenarios may not write one folder.
pub fn claim_outputs(
    folders: &[PathBuf],
    files: &[(&Path, &str)],
    inputs: &[&Path],
) -> Result<Vec<report::files::FolderLock>, Failure> {
    let shown = |p: &Path| report::files::printable(&p.display().to_string());
    for (file, flag) in files {
        report::files::check_file_destination(file, flag, inputs).map_err(Failure::from)?;
    }
    let mut seen: Vec<PathBuf> = Vec::new();
    for dir in folders {
        report::files::check_folder(dir, "--out").map_err(Failure::from)?;
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        if seen.contains(&canonical) {
            return Err(Failure::input(format!(
                "two scenarios would write one output folder, {}: give them different `simulation.name`s, run them one by one with --out, or pass --no-files",
                shown(dir)
            )));
        }
        seen.push(canonical);
    }
    for (file, _) in files {
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
            if seen.contains(&canonical)
                && name
                    .as_deref()
                    .is_some_and(|n| report::exporters().iter().any(|e| e.file_name() == n))
            {
                return Err(Failure::input(format!(
                    "{} would overwrite a result file of the output folder; give another file name",
                    shown(file)
                )));
            }
        }
    }
    folders
        .iter()
        .map(|d| report::files::lock_folder(d).map_err(Failure::from))
        .collect()
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

/// Writes `report.html` into `dir` through the one atomic writer;
/// returns its path.
pub fn write_html(page: &report::html::Page, dir: &Path) -> Result<String, Failure> {
    let path = dir.join(report::html::FILE_NAME);
    report::export(&report::html::HtmlReport, page, &path).map_err(Failure::from)?;
    Ok(path.display().to_string())
}

/// The HTML page of a run or comparison: its charts, tables, warnings
/// and fault timeline.
pub fn report_page(
    report: &Report,
    provenance: report::html::Provenance,
) -> Result<report::html::Page, Failure> {
    let title = format!("mqsim {}: {}", provenance.command, report.scenario);
    let mut page = report::html::Page::new(&title, provenance);
    page.charts(report::inline_charts(report).map_err(Failure::from)?);
    if let Some(comparison) = &report.comparison {
        page.comparison(comparison);
    }
    page.variants(report);
    Ok(page)
}

/// Prints and writes a report (`provenance` names what produced it, for
/// `--html`).
pub fn emit(
    report: &Report,
    c: &Common,
    provenance: report::html::Provenance,
) -> Result<(), Failure> {
    match c.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report.json()).unwrap_or_default()
        ),
        Format::Text => print!(
            "{}",
            report::files::printable_lines(&report::terminal::render(report))
        ),
    }
    if let Some(dir) = out_dir(c, &report.scenario) {
        let written = report::write_all(report, &dir).map_err(Failure::from)?;
        let mut charts = Vec::new();
        if c.charts {
            charts = report::chart_files(report, &dir).map_err(Failure::from)?;
        }
        if c.html {
            charts.push(write_html(&report_page(report, provenance)?, &dir)?);
        }
        if !c.quiet && c.format == Format::Text {
            eprintln!(
                "wrote {}",
                report::files::printable(
                    &written
                        .iter()
                        .chain(charts.iter())
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            );
        }
    }
    Ok(())
}

fn run(a: &RunArgs) -> Result<i32, Failure> {
    let c = &a.common;
    let (raw, _, s) = load(&a.file, &c.set)?;
    let plan = plan(&s, c)?;
    let name = s
        .simulation
        .name
        .clone()
        .unwrap_or_else(|| "scenario".into());
    if c.shard.is_some() {
        if a.trace.is_some() {
            return Err(Failure::input(
                "--trace follows replication 0 of a whole run; it cannot be combined with --shard",
            ));
        }
        if c.precision.is_some() {
            return Err(Failure::input("--precision and --shard cannot be combined: a shard cannot know when the others are precise enough"));
        }
        let spec = compare::spec("run", &raw, c, vec![("base".into(), vec![])], &plan)?;
        return compare::run_study(spec, c, &plan, name);
    }
    let m = compile(&s)?;
    crate::experiment::guard::check(&m, &plan, c.force).map_err(Failure::input)?;
    let folders: Vec<PathBuf> = out_dir(c, &name).into_iter().collect();
    let chrome = a.trace.as_deref().map(chrome_path);
    let trace_files: Vec<(&Path, &str)> = a
        .trace
        .iter()
        .map(|t| (t.as_path(), "--trace"))
        .chain(chrome.iter().map(|t| (t.as_path(), "--trace")))
        .collect();
    let _locks = claim_outputs(&folders, &trace_files, &[a.file.as_path()])?;
    let outcome = experiment::run(&m, &plan);
    let summary = outcome.summary(&m);
    let v = VariantResult {
        name: "base".into(),
        outcome,
        summary,
    };
    let report = Report {
        scenario: name,
        variants: vec![v],
        comparison: None,
    };
    let provenance = report::html::Provenance::of_process("run", &[a.file.as_path()]);
    emit(&report, c, provenance)?;
    if let Some(t) = &a.trace {
        if !STOP.load(Ordering::SeqCst) {
            trace(&m, &plan, c, t, &a.trace_messages, a.trace_first)?;
        }
    }
    Ok(0)
}

/// `mqsim live`: loads the scenario and hands it to the live layer.
#[cfg(feature = "live")]
fn live(a: &crate::live::LiveArgs) -> Result<i32, Failure> {
    let (_, _, s) = load(&a.file, &a.set)?;
    let allow_outside = ALLOW_OUTSIDE.load(Ordering::Relaxed);
    crate::live::command(a, &s, &STOP, allow_outside).map_err(|f| Failure {
        code: f.code,
        message: f.message,
    })
}

/// `mqsim live-worker`: one consumer process of a live run with crash
/// faults (started by `mqsim live`, not by hand).
#[cfg(feature = "live")]
fn live_worker(a: &crate::live::process::WorkerArgs) -> Result<i32, Failure> {
    let (_, _, s) = load(&a.file, &a.set)?;
    crate::live::process::worker_main(a, &s).map_err(|f| Failure {
        code: f.code,
        message: f.message,
    })
}

fn explain(file: &Path, sets: &[String]) -> Result<i32, Failure> {
    let (_, _, s) = load(file, sets)?;
    print!("{}", explain_text(&file.display().to_string(), &s)?);
    Ok(0)
}

/// What `mqsim explain` prints: the scenario resolved (every default and
/// preset filled in), headed by the build of the simulator that runs it.
pub fn explain_text(file: &str, s: &Scenario) -> Result<String, Failure> {
    let resolved = model::resolve(s);
    let text = toml::to_string_pretty(&resolved)
        .map_err(|e| Failure::input(format!("cannot show the scenario: {e}")))?;
    let mut out = format!("# {file} with every default and preset filled in (mqsim explain)\n");
    let uses = Uses::of(&compile(s)?, false);
    if Build::Auto.takes_core(&uses) {
        out.push_str("# simulator build: core (none of the optional parts is used)\n\n");
    } else {
        out.push_str(&format!(
            "# simulator build: full (uses {})\n\n",
            uses.names().join("; ")
        ));
    }
    out.push_str(&text);
    Ok(out)
}

/// Most messages `--trace-first` follows: the trace of each is kept in
/// memory until the run ends.
pub const TRACE_FIRST_MAX: u64 = 100_000;

/// Writes the starter scenario, named after the file it is written to.
fn init(path: &Path) -> Result<i32, Failure> {
    let shown = report::files::printable(&path.display().to_string());
    if path.exists() || path.is_symlink() {
        return Err(Failure::input(format!(
            "{shown} exists already; choose another path"
        )));
    }
    report::files::check_file_destination(path, "init", &[]).map_err(Failure::from)?;
    let text = starter_for(path);
    report::files::write_atomic(path, text.as_bytes()).map_err(Failure::from)?;
    eprintln!("wrote {shown}; run it with: mqsim run {shown}");
    Ok(0)
}

/// The starter scenario for `path`: its name is the file's stem (made
/// printable and short enough for the loader), and its comment says how to
/// run this file.
pub fn starter_for(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ok = crate::scenario::validate::check_variant_name(&stem).is_ok();
    let name = if ok {
        stem
    } else {
        report::files::safe_name(&stem)
    };
    let file_name = path
        .file_name()
        .map(|s| report::files::printable(&s.to_string_lossy()))
        .unwrap_or_default();
    let shown = report::files::printable(&path.display().to_string());
    crate::scenario::STARTER
        .replacen(
            "# quickstart.toml - start here.",
            &format!("# {file_name} - start here."),
            1,
        )
        .replacen(
            "mqsim run scenarios/quickstart.toml",
            &format!("mqsim run {shown}"),
            1,
        )
        .replacen(
            "name = \"quickstart\"",
            &format!("name = {}", toml::Value::String(name)),
            1,
        )
}

/// Runs replication `plan.first_replication` (0 unless `--replication`) again, recording the life of the chosen messages, and
/// streams it to `path` as JSON lines and beside it as a Chrome trace.
fn trace(
    m: &Model,
    plan: &Plan,
    c: &Common,
    path: &Path,
    ids: &[u64],
    first: u64,
) -> Result<(), Failure> {
    if ids.is_empty() && first > TRACE_FIRST_MAX && !c.quiet {
        eprintln!(
            "note: --trace-first {first} capped at {TRACE_FIRST_MAX} messages (each traced message is held in memory)"
        );
    }
    let ids: Vec<u64> = if ids.is_empty() {
        (0..first.min(TRACE_FIRST_MAX)).collect()
    } else {
        ids.to_vec()
    };
    let (warmup_ns, _) = experiment::choose_warmup(m, plan.seed, plan.limits, plan.build);
    let out = crate::sim::run_traced(
        m,
        crate::rng::replication_seed(plan.seed, plan.first_replication as u64),
        warmup_ns,
        plan.limits,
        &ids,
    );
    let cpath = chrome_path(path);
    let write_error = |e: std::io::Error| Failure::output(format!("cannot write the trace: {e}"));
    let mut lines = report::files::AtomicFile::create(path).map_err(Failure::from)?;
    let mut chrome = report::files::AtomicFile::create(&cpath).map_err(Failure::from)?;
    use std::io::Write;
    write!(chrome, "{{\"traceEvents\":[").map_err(write_error)?;
    let mut comma = "";
    for e in &out.trace {
        serde_json::to_writer(&mut lines, e).map_err(|e| Failure::input(e.to_string()))?;
        lines.write_all(b"\n").map_err(write_error)?;
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
        write!(chrome, "{comma}{ev}").map_err(write_error)?;
        comma = ",";
    }
    for id in &ids {
        let ev = serde_json::json!({ "name": "thread_name", "ph": "M", "pid": 1, "tid": id, "args": { "name": format!("message {id}") } });
        write!(chrome, "{comma}{ev}").map_err(write_error)?;
        comma = ",";
    }
    write!(chrome, "],\"displayTimeUnit\":\"ms\"}}").map_err(write_error)?;
    lines.commit().map_err(Failure::from)?;
    chrome.commit().map_err(Failure::from)?;
    let unseen: Vec<String> = ids
        .iter()
        .filter(|id| **id >= out.messages_created)
        .take(5)
        .map(|id| id.to_string())
        .collect();
    if !unseen.is_empty() {
        eprintln!(
            "warning: --trace-messages: {} {} {} never published in replication {} (it published ids 0 to {}); {} empty",
            if unseen.len() == 1 { "message" } else { "messages" },
            unseen.join(", "),
            if unseen.len() == 1 { "was" } else { "were" },
            plan.first_replication,
            out.messages_created.saturating_sub(1),
            if unseen.len() == 1 { "its trace is" } else { "their traces are" }
        );
    }
    if !c.quiet {
        eprintln!(
            "traced {} messages ({} steps) to {} and {}",
            ids.len(),
            out.trace.len(),
            report::files::printable(&path.display().to_string()),
            report::files::printable(&cpath.display().to_string())
        );
    }
    Ok(())
}

/// `FILE.chrome.json` beside a `--trace FILE`.
pub fn chrome_path(path: &Path) -> PathBuf {
    let mut cpath = path.as_os_str().to_owned();
    cpath.push(".chrome.json");
    PathBuf::from(cpath)
}
