//! The library's entry points for other programs (the Python package is
//! one): the same loading, planning and simulation as the command line,
//! returning the JSON tree `--format json` prints instead of printing and
//! writing files. A scenario is a file or TOML text; a bad one is a
//! [`crate::scenario::ScenarioError`] with its location, whose text is the
//! command line's.
//!
//! Interrupting: [`crate::cli::STOP`] stops every run in the process within
//! moments (as Ctrl-C does on the command line); a call that was stopped
//! returns [`Error::Interrupted`] and its partial results are dropped.

use crate::cli::{self, compare, study, sweep, BuildArg, Common, Failure, Format, SweepArgs};
use crate::report::Report;
use crate::scenario::load::RawScenario;
use crate::scenario::{Scenario, ScenarioError};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// Where a scenario comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    File(&'a Path),
    /// TOML text; errors name it `<string>`.
    Text(&'a str),
}

/// The options every call takes: the command line's `--set`, `-r`,
/// `--seed`, `-j` and `--build`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub set: Vec<String>,
    pub replications: Option<u32>,
    pub seed: Option<u64>,
    /// Worker threads (0: all cores); results do not depend on it.
    pub jobs: usize,
    pub build: BuildArg,
    /// The command line's `--allow-outside`: data files the scenario names
    /// may lie outside its folder (for text, the working directory).
    pub allow_outside: bool,
}

/// Why a call gave no result.
#[derive(Debug)]
pub enum Error {
    /// The scenario (or an override) is wrong: where and why.
    Scenario(ScenarioError),
    /// Other bad input (an option, a sweep's values), with the command
    /// line's message.
    Input(String),
    /// [`crate::cli::STOP`] was set during the call.
    Interrupted,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Scenario(e) => write!(f, "{e}"),
            Error::Input(message) => write!(f, "{message}"),
            Error::Interrupted => write!(f, "interrupted"),
        }
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        Error::Input(f.message)
    }
}

impl From<ScenarioError> for Error {
    fn from(e: ScenarioError) -> Error {
        Error::Scenario(e)
    }
}

/// The command line's common flags for these options: no files, quiet.
fn common(options: &Options) -> Common {
    Common {
        set: options.set.clone(),
        replications: options.replications,
        jobs: options.jobs,
        seed: options.seed,
        replication: None,
        precision: None,
        max_replications: 200,
        format: Format::Json,
        out: None,
        no_files: true,
        charts: false,
        html: false,
        quiet: true,
        max_events: None,
        max_wall: None,
        force: false,
        shard: None,
        build: options.build,
    }
}

fn load(source: Source, options: &Options) -> Result<(RawScenario, Scenario), Error> {
    let mut raw = match source {
        Source::File(path) => RawScenario::read(path)?,
        Source::Text(text) => RawScenario::parse(text, "<string>", "scenario")?,
    };
    raw.access.allow_outside = options.allow_outside;
    let (raw, _, scenario) = cli::load_raw(raw, &options.set)?;
    Ok((raw, scenario))
}

fn name_of(s: &Scenario) -> String {
    s.simulation
        .name
        .clone()
        .unwrap_or_else(|| "scenario".into())
}

/// Fails with [`Error::Interrupted`] when the runs were stopped.
fn unless_stopped(value: Value) -> Result<Value, Error> {
    if cli::STOP.load(Ordering::SeqCst) {
        return Err(Error::Interrupted);
    }
    Ok(value)
}

/// `mqsim run FILE --format json`.
pub fn run_json(source: Source, options: &Options) -> Result<Value, Error> {
    let (_, s) = load(source, options)?;
    let plan = cli::plan(&s, &common(options))?;
    let variant = cli::run_variant("base", &s, &plan, false)?;
    let report = Report {
        scenario: name_of(&s),
        variants: vec![variant],
        comparison: None,
    };
    unless_stopped(report.json())
}

/// `mqsim compare FILE [--variant NAME:k=v,...] --format json`.
pub fn compare_json(
    source: Source,
    options: &Options,
    variants: &[String],
) -> Result<Value, Error> {
    let (raw, s) = load(source, options)?;
    let c = common(options);
    let plan = cli::plan(&s, &c)?;
    let spec = compare::spec("compare", &raw, &c, compare::variants(&s, variants)?, &plan)?;
    let cells = spec.cells()?;
    for cell in &cells {
        crate::experiment::guard::check(&cell.model, &plan, false).map_err(Failure::input)?;
    }
    let results = study::run_jobs(&spec, &cells, &plan, None);
    if cli::STOP.load(Ordering::SeqCst) {
        return Err(Error::Interrupted);
    }
    let variants: Vec<_> = study::assemble(&spec, &cells, results)?
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let comparison = compare::comparison(&variants);
    let report = Report {
        scenario: name_of(&s),
        variants,
        comparison: Some(comparison),
    };
    unless_stopped(report.json())
}

/// What a sweep varies and reports, as `mqsim sweep` takes it.
#[derive(Debug, Clone, Default)]
pub struct SweepGrid {
    /// (key, values as written), the first outermost.
    pub params: Vec<(String, Vec<String>)>,
    /// Summary paths to report (empty: the defaults).
    pub metrics: Vec<String>,
    /// Variants to run (empty: all).
    pub only: Vec<String>,
}

/// `mqsim sweep FILE --param K --values ... --format json`.
pub fn sweep_json(source: Source, options: &Options, grid: &SweepGrid) -> Result<Value, Error> {
    if grid.params.is_empty() {
        return Err(Error::Input(
            "give at least one parameter to sweep, e.g. {\"producer.arrival.rate\": [10, 20]}"
                .into(),
        ));
    }
    let (raw, s) = load(source, options)?;
    let args = SweepArgs {
        file: PathBuf::new(),
        param: grid.params.iter().map(|(k, _)| k.clone()).collect(),
        values: grid.params.iter().map(|(_, v)| v.join(",")).collect(),
        range: vec![],
        log: false,
        metric: grid.metrics.clone(),
        only: grid.only.clone(),
        common: common(options),
    };
    let plan = cli::plan(&s, &args.common)?;
    let spec = sweep::study_spec(&args, &raw, &s, &plan)?;
    let cells = spec.cells()?;
    for cell in &cells {
        crate::experiment::guard::check(&cell.model, &plan, false).map_err(Failure::input)?;
    }
    let results = study::run_jobs(&spec, &cells, &plan, None);
    if cli::STOP.load(Ordering::SeqCst) {
        return Err(Error::Interrupted);
    }
    let rows = study::assemble(&spec, &cells, results)?;
    unless_stopped(sweep::document(&spec, &rows, &name_of(&s)))
}

/// `mqsim explain FILE`: the scenario with every default and preset
/// filled in.
pub fn explain_text(source: Source, options: &Options) -> Result<String, Error> {
    let (raw, s) = load(source, options)?;
    Ok(cli::explain_text(&raw.file, &s)?)
}

/// `mqsim schema`: the JSON Schema of the scenario format.
pub fn schema_json() -> Value {
    serde_json::from_str(&crate::scenario::schema::schema_json()).unwrap_or(Value::Null)
}
