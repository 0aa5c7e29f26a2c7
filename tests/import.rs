//! `mqsim import`: scenarios from vendors' documented configuration
//! formats carry the expected keys, load and run, and say why they refuse
//! a file.

mod common;
use common::*;

/// Imports and parses the scenario written to standard output.
fn import(kind: &str, file: &str, extra: &[&str]) -> toml::Table {
    let mut args = vec!["import", kind, file];
    args.extend(extra);
    let (code, out, err) = mqsim(&args);
    assert_eq!(code, 0, "{args:?}: {err}");
    assert!(
        out.lines()
            .all(|l| l.is_empty() || l.starts_with('#') || l.starts_with('[') || l.contains(" # ")),
        "every setting names its source:\n{out}"
    );
    toml::from_str(&out).expect("TOML")
}

fn first<'a>(t: &'a toml::Table, table: &str) -> &'a toml::Table {
    t[table].as_array().unwrap()[0].as_table().unwrap()
}

/// The scenario runs as written (a short run, to keep the test quick).
fn runs(kind: &str, file: &str, extra: &[&str]) {
    let dir = TempDir::new("import-runs");
    let out = dir.path("s.toml");
    let mut args = vec!["import", kind, file, "--out", out.to_str().unwrap()];
    args.extend(extra);
    let (code, _, err) = mqsim(&args);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = mqsim(&[
        "run",
        out.to_str().unwrap(),
        "-q",
        "--no-files",
        "--set",
        "simulation.duration=2m",
    ]);
    assert_eq!(code, 0, "{kind}: {err}");
}

#[test]
fn sqs_attributes_become_a_queue() {
    let s = import("sqs", "tests/import/sqs-fifo.json", &[]);
    let q = first(&s, "queue");
    assert_eq!(q["name"].as_str(), Some("orders"));
    assert_eq!(q["preset"].as_str(), Some("sqs"));
    assert_eq!(q["ack_timeout"].as_str(), Some("45s"));
    assert_eq!(q["max_deliveries"].as_integer(), Some(5));
    assert_eq!(q["dead_letter"].as_bool(), Some(true));
    assert_eq!(q["ttl"].as_str(), Some("345600s"));
    assert_eq!(q["fifo_by_key"].as_bool(), Some(true));
    assert_eq!(q["dedup_window"].as_str(), Some("5m"));
    assert!(first(&s, "producer").contains_key("key"));
    let standard = import("sqs", "tests/import/sqs-standard.json", &[]);
    assert_eq!(
        first(&standard, "queue")["max_deliveries"].as_str(),
        Some("unlimited")
    );
    runs("sqs", "tests/import/sqs-fifo.json", &[]);
    runs("sqs", "tests/import/sqs-standard.json", &[]);
}

#[test]
fn rabbitmq_definitions_apply_arguments_and_policies() {
    let s = import("rabbitmq", "tests/import/rabbitmq-definitions.json", &[]);
    let queues = s["queue"].as_array().unwrap();
    assert_eq!(
        queues.len(),
        2,
        "the dead-letter queue is not a queue of its own: {queues:?}"
    );
    let orders = queues[0].as_table().unwrap();
    assert_eq!(orders["preset"].as_str(), Some("rabbitmq-quorum"));
    // delivery-limit: the policy's 5 is below the argument's 10, and a
    // message goes when its count exceeds it: 6 deliveries in all.
    assert_eq!(orders["max_deliveries"].as_integer(), Some(6));
    assert_eq!(orders["dead_letter"].as_bool(), Some(true));
    assert_eq!(orders["ttl"].as_str(), Some("60000ms"));
    assert_eq!(orders["capacity"].as_integer(), Some(5000));
    let emails = queues[1].as_table().unwrap();
    assert_eq!(emails["preset"].as_str(), Some("rabbitmq-classic"));
    assert_eq!(
        emails["capacity"].as_integer(),
        Some(100),
        "the lower of argument and policy"
    );
    assert_eq!(emails["overflow"].as_str(), Some("drop-head"));
    assert_eq!(emails["dead_letter"].as_bool(), Some(false));
    runs("rabbitmq", "tests/import/rabbitmq-definitions.json", &[]);
}

#[test]
fn kafka_properties_become_a_consumer_group() {
    let s = import(
        "kafka",
        "tests/import/consumer.properties",
        &["--partitions", "6"],
    );
    assert_eq!(first(&s, "topic")["partitions"].as_integer(), Some(6));
    let c = first(&s, "consumer");
    assert_eq!(c["group"].as_str(), Some("billing"));
    assert_eq!(
        c["commit"].as_str(),
        Some("auto-in-poll"),
        "the Java client"
    );
    assert_eq!(c["auto_commit_interval"].as_str(), Some("1000ms"));
    assert_eq!(c["max_poll_records"].as_integer(), Some(200));
    assert_eq!(c["max_poll_interval"].as_str(), Some("60000ms"));
    assert_eq!(c["session_timeout"].as_str(), Some("10000ms"));
    runs(
        "kafka",
        "tests/import/consumer.properties",
        &["--partitions", "6"],
    );
}

#[test]
fn foreign_and_malformed_files_are_refused_with_the_field() {
    let dir = TempDir::new("import-bad");
    let broken = dir.write(
        "broken.json",
        "{\"Attributes\": {\"VisibilityTimeout\": \"soon\"}}",
    );
    let props = dir.write("bad.properties", "max.poll.records=many\n");
    for (args, says) in [
        (
            vec!["import", "sqs", "tests/import/rabbitmq-definitions.json"],
            "Attributes.VisibilityTimeout",
        ),
        (
            vec!["import", "sqs", broken.to_str().unwrap()],
            "\"soon\" is not a whole number",
        ),
        (
            vec!["import", "rabbitmq", "tests/import/sqs-fifo.json"],
            "queues: missing",
        ),
        (
            vec!["import", "kafka", props.to_str().unwrap()],
            "line 1: max.poll.records",
        ),
        (
            vec!["import", "sqs", dir.path("absent.json").to_str().unwrap()],
            "absent.json",
        ),
    ] {
        let (code, _, err) = mqsim(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let out = dir.write("exists.toml", "# mine\n");
    let (code, _, err) = mqsim(&[
        "import",
        "sqs",
        "tests/import/sqs-fifo.json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "# mine\n");
    let (code, _, err) = mqsim(&[
        "import",
        "sqs",
        "tests/import/sqs-fifo.json",
        "--out",
        out.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("preset = \"sqs\""));
}

/// The README's walk-through: import, fit the workload into the scenario,
/// and gate it with `check`.
#[test]
fn import_and_fit_make_a_scenario_that_passes_a_check() {
    let dir = TempDir::new("import-walk");
    let scenario = dir.path("emails.toml");
    let s = scenario.to_str().unwrap();
    for args in [
        vec![
            "import",
            "sqs",
            "examples/your-system/queue-attributes.json",
            "--out",
            s,
        ],
        vec![
            "fit",
            "examples/your-system/service-times.csv",
            "--column",
            "duration_ms",
            "--unit",
            "ms",
            "--into",
            s,
            "--key",
            "consumer.service",
        ],
        vec![
            "fit",
            "examples/your-system/arrivals.csv",
            "--kind",
            "timestamps",
            "--into",
            s,
            "--key",
            "producer.arrival",
        ],
    ] {
        let (code, _, err) = mqsim(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let mut text = std::fs::read_to_string(&scenario).unwrap();
    assert!(
        text.contains("dist = \"lognormal\"") && text.contains("process = \"poisson\""),
        "{text}"
    );
    text.push_str("\n[expect]\nlost = 0\np99_latency_max = \"10s\"\n");
    std::fs::write(&scenario, text).unwrap();
    let (code, out, err) = mqsim(&["check", s, "--no-files", "-q"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 passed"), "{out}");
}
