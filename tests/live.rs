//! `mqsim live` against a real NATS JetStream: the conformance scenarios of
//! scenarios/live/ agree with the simulation metric by metric, and a live
//! run leaves no broker process and no temporary folder behind, whether it
//! ends well, is refused, cannot reach its broker or is interrupted.
//!
//! Without `nats-server` on PATH the tests print a note and pass, unless
//! MQSIM_LIVE=required (CI), where they fail.
#![cfg(feature = "live")]

mod common;
use common::mqsim;
use serde_json::Value;

/// The broker tests take turns: live figures are timings.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Whether the broker tests can run; panics when they must and cannot.
fn broker_available() -> bool {
    let found = std::process::Command::new("nats-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("MQSIM_LIVE").as_deref() == Ok("required") {
            panic!("MQSIM_LIVE=required but nats-server is not on PATH");
        }
        eprintln!("note: nats-server is not on PATH: the live tests are skipped (MQSIM_LIVE=required makes this a failure)");
    }
    found
}

/// Runs one conformance case and returns its `agreement` tree.
fn agreement(file: &str, speed: &str, sets: &[&str]) -> serde_json::Map<String, Value> {
    let mut args = vec![
        "live",
        file,
        "--spawn",
        "nats",
        "--speed",
        speed,
        "--compare",
        "--format",
        "json",
        "--no-files",
        "-q",
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    let (code, out, err) = mqsim(&args);
    assert!(
        code == 0 || code == 1,
        "{file} {sets:?}: exit {code}: {err}"
    );
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{file}: {e}: {out}"));
    assert_eq!(v["live"]["partial"], false, "{file}");
    assert!(
        v["live"].get("drain_timed_out").is_none(),
        "{file}: the drain timed out"
    );
    v["agreement"].as_object().cloned().expect("agreement")
}

fn verdicts_except(rows: &serde_json::Map<String, Value>, known: &[&str]) -> Vec<String> {
    rows.iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .filter(|(_, r)| r["verdict"] != "agrees")
        .map(|(k, r)| format!("{k}: {r}"))
        .collect()
}

/// The cases run one after another: the live figures are timings, and
/// two live runs sharing the two cores would disturb each other.
#[test]
fn conformance_scenarios_agree_with_the_simulation() {
    if !broker_available() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut failures = Vec::new();
    let cases: [(&str, &str, &[&str]); 5] = [
        ("scenarios/live/nak-limit.toml", "10", &[]),
        ("scenarios/live/prefetch-backlog.toml", "2", &[]),
        (
            "scenarios/live/prefetch-backlog.toml",
            "2",
            &["consumer.prefetch=10"],
        ),
        ("scenarios/live/capacity-discard.toml", "5", &[]),
        (
            "scenarios/live/capacity-discard.toml",
            "5",
            &["queue.overflow=drop-head"],
        ),
    ];
    for (file, speed, sets) in cases {
        let rows = agreement(file, speed, sets);
        assert!(rows.len() >= 10, "{file}: {rows:?}");
        for d in verdicts_except(&rows, &[]) {
            failures.push(format!("{file} {sets:?}: {d}"));
        }
    }
    // AckWait: JetStream honours the late ack of the first delivery (the
    // ack names the stream sequence): a slow message is processed exactly
    // twice, live and in the simulation (the nats-jetstream preset's
    // late-ack rule). Before the rule the simulation ignored the late ack
    // and counted about twice the live duplicates.
    let rows = agreement("scenarios/live/ack-wait.toml", "10", &[]);
    for d in verdicts_except(&rows, &[]) {
        failures.push(format!("ack-wait: {d}"));
    }
    assert!(
        failures.is_empty(),
        "live and simulated differ:\n{}",
        failures.join("\n")
    );
}

/// nats-server processes whose data folder names process `pid`, and such
/// folders.
fn leftovers(pid: u32) -> Vec<String> {
    let tag = format!("mqsim-live-nats-{pid}-");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with(&tag) {
            found.push(entry.path().display().to_string());
        }
    }
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains("nats-server") && cmd.contains(&tag) {
                found.push(cmd);
            }
        }
    }
    found
}

fn live_process(args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_mqsim"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs")
}

#[test]
fn a_live_run_leaves_no_broker_and_no_folder_behind() {
    if !broker_available() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let short = [
        "live",
        "scenarios/live/nak-limit.toml",
        "--spawn",
        "nats",
        "--speed",
        "100",
        "--no-files",
        "-q",
        "--set",
        "simulation.duration=50s",
    ];
    // A run that ends well.
    let child = live_process(&short);
    let pid = child.id();
    let out = child.wait_with_output().expect("waits");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(leftovers(pid), Vec::<String>::new());
    // A run interrupted by Ctrl-C once the broker runs.
    let mut long = short.to_vec();
    long[9] = "simulation.duration=2000s";
    let child = live_process(&long);
    let pid = child.id();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(!leftovers(pid).is_empty(), "the broker should be running");
    let _ = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let out = child.wait_with_output().expect("waits");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(leftovers(pid), Vec::<String>::new());
}

#[test]
fn an_unreachable_broker_is_a_clear_error() {
    // Port 9 (discard) on loopback: nothing listens there.
    let (code, _, err) = mqsim(&[
        "live",
        "scenarios/live/nak-limit.toml",
        "--broker",
        "nats://127.0.0.1:9",
        "--no-files",
        "-q",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot reach the NATS broker at nats://127.0.0.1:9"),
        "{err}"
    );
}

#[test]
fn unmapped_keys_are_refused_before_anything_starts() {
    for (set, key) in [
        ("consumer.retry.max_attempts=3", "consumer.retry"),
        ("producer.ttl=10s", "producer.ttl"),
        (
            "queue.overflow=dead-letter",
            "queue.overflow = \"dead-letter\"",
        ),
    ] {
        let (code, _, err) = mqsim(&[
            "live",
            "scenarios/live/nak-limit.toml",
            "--broker",
            "nats://127.0.0.1:9",
            "--no-files",
            "-q",
            "--set",
            set,
        ]);
        assert_eq!(code, 2, "{set}: {err}");
        assert!(
            err.contains(&format!("`{key}` is not supported by `mqsim live` on nats")),
            "{set}: {err}"
        );
    }
    // A fault, from a scenario that has one.
    let (code, _, err) = mqsim(&[
        "live",
        "scenarios/broker-crash.toml",
        "--broker",
        "nats://127.0.0.1:9",
        "--no-files",
        "-q",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("not supported by `mqsim live` on nats"),
        "{err}"
    );
}
