//! `mqsim._native`: the Python bindings over [`mqsim::api`]. Each call runs
//! on a thread of its own with the GIL released; the calling thread waits
//! for it in steps of 100 ms and checks Python's signals between them, so
//! Ctrl-C (KeyboardInterrupt) stops the runs within moments: it sets
//! `mqsim::cli::STOP`, waits for the call to end, drops its partial results
//! and raises KeyboardInterrupt. The Python layer (`mqsim/__init__.py`)
//! turns the JSON text returned into Python objects.

// A scenario error carries its location and origin; it is made once per failed
// call, so its size does not matter (as in the mqsim library).
#![allow(clippy::result_large_err)]

use mqsim::api::{self, Error, Options, Source, SweepGrid};
use mqsim::cli::BuildArg;
use pyo3::create_exception;
use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

// Named `mqsim.ScenarioError` (where users import it from), not after
// the extension module `mqsim._native` that defines it: tracebacks say so.
create_exception!(
    mqsim,
    ScenarioError,
    PyValueError,
    "A scenario (or an override) that does not load: `file`, `line`, `column`, `key` (None when unknown), `message`, and str() the command line's text."
);

/// A scenario as Python passes it: a path, or TOML text.
enum Scenario {
    File(PathBuf),
    Text(String),
}

impl Scenario {
    fn new(kind: &str, scenario: String) -> PyResult<Scenario> {
        match kind {
            "file" => Ok(Scenario::File(PathBuf::from(scenario))),
            "text" => Ok(Scenario::Text(scenario)),
            other => Err(PyValueError::new_err(format!(
                "unknown scenario kind {other}"
            ))),
        }
    }

    fn source(&self) -> Source<'_> {
        match self {
            Scenario::File(path) => Source::File(path),
            Scenario::Text(text) => Source::Text(text),
        }
    }
}

fn options(
    set: Vec<String>,
    replications: Option<u32>,
    seed: Option<u64>,
    jobs: usize,
    build: &str,
    allow_outside: bool,
) -> PyResult<Options> {
    let build = match build {
        "auto" => BuildArg::Auto,
        "full" => BuildArg::Full,
        other => {
            return Err(PyValueError::new_err(format!(
                "build={other:?}: give \"auto\" or \"full\""
            )))
        }
    };
    Ok(Options {
        set,
        replications,
        seed,
        jobs,
        build,
        allow_outside,
    })
}

/// The Python exception for an API error.
fn to_python(py: Python<'_>, error: Error) -> PyErr {
    match error {
        Error::Scenario(e) => {
            let err = ScenarioError::new_err(e.to_string());
            let value = err.value(py);
            let _ = value.setattr("file", &e.file);
            let _ = value.setattr("line", e.line);
            let _ = value.setattr("column", e.column);
            let _ = value.setattr("key", &e.key);
            let _ = value.setattr("message", &e.message);
            let _ = value.setattr("origin", &e.origin);
            err
        }
        Error::Input(message) => PyValueError::new_err(message),
        Error::Interrupted => {
            PyKeyboardInterrupt::new_err("mqsim: interrupted; the partial results were dropped")
        }
    }
}

/// Runs `work` on a thread of its own without the GIL, checking Python's
/// signals every 100 ms; on a signal's exception, stops the runs, waits,
/// and raises it.
fn without_gil<T: Send + 'static>(
    py: Python<'_>,
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> PyResult<T> {
    let (sender, receiver) = std::sync::mpsc::channel();
    // A receiver is not Sync; behind a lock it may be lent to the threads
    // that wait without the GIL.
    let receiver = std::sync::Mutex::new(receiver);
    let receive = |timeout: Option<Duration>| {
        let receiver = receiver.lock().unwrap_or_else(|e| e.into_inner());
        match timeout {
            Some(t) => receiver.recv_timeout(t),
            None => receiver
                .recv()
                .map_err(|_| std::sync::mpsc::RecvTimeoutError::Disconnected),
        }
    };
    let worker = std::thread::spawn(move || {
        let _ = sender.send(work());
    });
    loop {
        let received = py.allow_threads(|| receive(Some(Duration::from_millis(100))));
        match received {
            Ok(result) => {
                let _ = worker.join();
                return result.map_err(|e| to_python(py, e));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let _ = worker.join();
                return Err(PyValueError::new_err("mqsim: the simulation thread failed"));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Err(signal) = py.check_signals() {
            mqsim::cli::STOP.store(true, Ordering::SeqCst);
            py.allow_threads(|| {
                let _ = receive(None);
                let _ = worker.join();
            });
            mqsim::cli::STOP.store(false, Ordering::SeqCst);
            return Err(signal);
        }
    }
}

fn json_text(value: serde_json::Value) -> String {
    serde_json::to_string(&value).unwrap_or_default()
}

#[pyfunction]
#[pyo3(signature = (kind, scenario, set, replications, seed, jobs, build, allow_outside))]
#[allow(clippy::too_many_arguments)]
fn run(
    py: Python<'_>,
    kind: &str,
    scenario: String,
    set: Vec<String>,
    replications: Option<u32>,
    seed: Option<u64>,
    jobs: usize,
    build: &str,
    allow_outside: bool,
) -> PyResult<String> {
    let scenario = Scenario::new(kind, scenario)?;
    let options = options(set, replications, seed, jobs, build, allow_outside)?;
    without_gil(py, move || {
        api::run_json(scenario.source(), &options).map(json_text)
    })
}

#[pyfunction]
#[pyo3(signature = (kind, scenario, set, replications, seed, jobs, build, allow_outside, variants))]
#[allow(clippy::too_many_arguments)]
fn compare(
    py: Python<'_>,
    kind: &str,
    scenario: String,
    set: Vec<String>,
    replications: Option<u32>,
    seed: Option<u64>,
    jobs: usize,
    build: &str,
    allow_outside: bool,
    variants: Vec<String>,
) -> PyResult<String> {
    let scenario = Scenario::new(kind, scenario)?;
    let options = options(set, replications, seed, jobs, build, allow_outside)?;
    without_gil(py, move || {
        api::compare_json(scenario.source(), &options, &variants).map(json_text)
    })
}

#[pyfunction]
#[pyo3(signature = (kind, scenario, set, replications, seed, jobs, build, allow_outside, params, metrics, only))]
#[allow(clippy::too_many_arguments)]
fn sweep(
    py: Python<'_>,
    kind: &str,
    scenario: String,
    set: Vec<String>,
    replications: Option<u32>,
    seed: Option<u64>,
    jobs: usize,
    build: &str,
    allow_outside: bool,
    params: Vec<(String, Vec<String>)>,
    metrics: Vec<String>,
    only: Vec<String>,
) -> PyResult<String> {
    let scenario = Scenario::new(kind, scenario)?;
    let options = options(set, replications, seed, jobs, build, allow_outside)?;
    let grid = SweepGrid {
        params,
        metrics,
        only,
    };
    without_gil(py, move || {
        api::sweep_json(scenario.source(), &options, &grid).map(json_text)
    })
}

#[pyfunction]
fn explain(
    py: Python<'_>,
    kind: &str,
    scenario: String,
    set: Vec<String>,
    allow_outside: bool,
) -> PyResult<String> {
    let scenario = Scenario::new(kind, scenario)?;
    let options = Options {
        set,
        allow_outside,
        ..Options::default()
    };
    api::explain_text(scenario.source(), &options).map_err(|e| to_python(py, e))
}

#[pyfunction]
fn schema() -> String {
    json_text(api::schema_json())
}

#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("ScenarioError", module.py().get_type::<ScenarioError>())?;
    module.add_function(wrap_pyfunction!(run, module)?)?;
    module.add_function(wrap_pyfunction!(compare, module)?)?;
    module.add_function(wrap_pyfunction!(sweep, module)?)?;
    module.add_function(wrap_pyfunction!(explain, module)?)?;
    module.add_function(wrap_pyfunction!(schema, module)?)?;
    module.add_function(wrap_pyfunction!(version, module)?)?;
    Ok(())
}
