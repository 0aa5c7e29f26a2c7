//! Helpers shared by the integration tests.
#![allow(dead_code)]

use mqsim::experiment::{self, Plan};
use mqsim::model;
use mqsim::scenario::{load_str, LoadOptions, Scenario};
use mqsim::sim::Limits;
use serde_json::{Map, Value};
use std::path::Path;

pub fn scenario(text: &str) -> Scenario {
    load_str(text, "test.toml", &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

pub fn scenario_file(path: &str, sets: &[&str]) -> Scenario {
    let opts = LoadOptions {
        overrides: sets.iter().map(|s| s.to_string()).collect(),
    };
    mqsim::scenario::load_file(Path::new(path), &opts).unwrap_or_else(|e| panic!("{e}"))
}

pub fn plan(reps: u32, jobs: usize, seed: u64) -> Plan {
    Plan {
        replications: reps,
        jobs,
        precision: None,
        max_replications: reps,
        limits: Limits::default(),
        seed,
        first_replication: 0,
        build: Default::default(),
    }
}

/// Runs a scenario and returns its summary JSON.
pub fn summary(s: &Scenario, reps: u32, jobs: usize) -> Map<String, Value> {
    let m = model::compile(s).expect("compiles");
    let out = experiment::run(&m, &plan(reps, jobs, s.simulation.seed.unwrap_or(1)));
    out.summary(&m)
}

pub fn get(v: &Map<String, Value>, path: &str) -> f64 {
    let mut cur: Option<&Value> = None;
    for (i, k) in path.split('.').enumerate() {
        cur = if i == 0 {
            v.get(k)
        } else {
            cur.and_then(|c| c.get(k))
        };
    }
    cur.and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {path}"))
}

/// published = rejected + acked + dead_lettered + lost + expired + in_flight
pub fn assert_conserved(s: &Map<String, Value>) {
    let p = get(s, "messages.published");
    let sum: f64 = [
        "rejected",
        "acked",
        "dead_lettered",
        "lost",
        "expired",
        "in_flight",
    ]
    .iter()
    .map(|k| get(s, &format!("messages.{k}")))
    .sum();
    assert!(
        (p - sum).abs() < 1e-6,
        "conservation: published {p} != {sum}"
    );
}

/// A folder of its own under the system's temporary folder, removed (with
/// everything in it) when dropped, so that tests leave nothing behind even
/// when an assertion fails.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// A new, empty folder named after the test's `tag`.
    pub fn new(tag: &str) -> TempDir {
        let d = TempDir::absent(tag);
        std::fs::create_dir_all(&d.0).expect("a temporary folder");
        d
    }

    /// A fresh path that does not exist yet (for "nothing was written").
    pub fn absent(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "mqsim-test-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&d);
        TempDir(d)
    }

    pub fn path(&self, rel: &str) -> std::path::PathBuf {
        self.0.join(rel)
    }

    /// Writes `text` to `rel` inside the folder; returns its path.
    pub fn write(&self, rel: &str, text: &str) -> std::path::PathBuf {
        let f = self.path(rel);
        std::fs::write(&f, text).expect("write");
        f
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

/// Runs the mqsim binary: (exit code, stdout, stderr).
pub fn mqsim(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mqsim"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Runs the mqsim binary like [`mqsim`], but a run that is still going
/// after `limit` is killed and the test fails, naming the command and
/// (where gdb is installed) where every thread of it stood: a live run
/// waiting on a broker that stopped answering must cost the test a
/// failure, not CI its whole time limit.
pub fn mqsim_within(args: &[&str], limit: std::time::Duration) -> (i32, String, String) {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_mqsim"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    // Pipes are read as the run writes, so a full pipe never stalls it.
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = reader(Box::new(child.stdout.take().expect("piped")));
    let stderr = reader(Box::new(child.stderr.take().expect("piped")));
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let threads = Command::new("gdb")
                .args([
                    "-p",
                    &child.id().to_string(),
                    "-batch",
                    "-ex",
                    "thread apply all bt",
                ])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_else(|e| format!("(no gdb: {e})"));
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap_or_default();
            panic!(
                "mqsim {args:?} was still running after {} s and was killed; its stderr: {err}\nits threads:\n{threads}",
                limit.as_secs()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    (
        status.code().unwrap_or(-1),
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default(),
    )
}
