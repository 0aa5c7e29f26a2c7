//! `mqsim check --live`: each scenario with a `[live]` table runs against
//! a private broker of its kind (`mqsim live --spawn BROKER --compare`, at
//! its `[live] speed`), and passes when every metric agrees with the
//! simulation. Scenarios without the table are skipped, with a note.

use crate::cli::{self, CheckArgs, Failure};
use crate::live::{self, LiveArgs, SpawnArg};
use crate::report::Format;
use crate::scenario::{LiveBroker, Scenario};
use serde_json::{json, Value};
use std::path::Path;

/// One scenario's outcome.
struct Outcome {
    file: String,
    /// `pass`, `fail`, `error` or `skip`.
    verdict: &'static str,
    detail: String,
    agreement: Value,
}

/// The flags `check --live` cannot honour: each would be silently ignored.
fn refuse_flags(a: &CheckArgs) -> Result<(), Failure> {
    let c = &a.common;
    let given = [
        ("--junit", a.junit.is_some()),
        ("--markdown", a.markdown.is_some()),
        ("--until-decided", a.until_decided),
        ("--shard", c.shard.is_some()),
        ("--precision", c.precision.is_some()),
        ("--replication", c.replication.is_some()),
        ("--out", c.out.is_some()),
        ("--html", c.html),
        ("--charts", c.charts),
        ("--max-wall", c.max_wall.is_some()),
        ("--max-events", c.max_events.is_some()),
        ("--seed", c.seed.is_some()),
    ];
    match given.iter().find(|(_, set)| *set) {
        Some((flag, _)) => Err(Failure::input(format!(
            "{flag} does not apply to `check --live`: it prints one verdict per scenario (PASS when every metric agrees with the simulation); run `mqsim check` without --live for it"
        ))),
        None => Ok(()),
    }
}

pub fn command(a: &CheckArgs) -> Result<i32, Failure> {
    refuse_flags(a)?;
    // Every file loads before any broker starts.
    let loaded: Vec<(&Path, Scenario)> = a
        .files
        .iter()
        .map(|f| cli::load(f, &a.common.set).map(|(_, _, s)| (f.as_path(), s)))
        .collect::<Result<_, _>>()?;
    let mut outcomes = Vec::new();
    for (file, scenario) in &loaded {
        outcomes.push(check_one(a, file, scenario));
    }
    print(a, &outcomes);
    if outcomes.iter().all(|o| o.verdict == "skip") {
        return Err(Failure::input(
            "no file has a [live] table: nothing was checked (add `[live] broker = \"nats\"` or `\"rabbitmq\"` to a scenario, or check scenarios/live/*.toml)",
        ));
    }
    let code = if outcomes.iter().any(|o| o.verdict == "error") {
        2
    } else if outcomes.iter().any(|o| o.verdict == "fail") {
        1
    } else {
        0
    };
    Ok(code)
}

fn check_one(a: &CheckArgs, file: &Path, scenario: &Scenario) -> Outcome {
    let shown = crate::report::files::printable(&file.display().to_string());
    let Some(table) = &scenario.live else {
        return Outcome {
            file: shown,
            verdict: "skip",
            detail: "no [live] table".into(),
            agreement: Value::Null,
        };
    };
    let spawn = match table.broker {
        LiveBroker::Nats => SpawnArg::Nats,
        LiveBroker::Rabbitmq => SpawnArg::Rabbitmq,
    };
    let args = LiveArgs {
        file: file.to_path_buf(),
        spawn: Some(spawn),
        broker: None,
        speed: None,
        compare: true,
        replications: a.common.replications.unwrap_or(20),
        set: a.common.set.clone(),
        format: Format::Json,
        out: None,
        no_files: true,
        quiet: true,
    };
    let speed = live::speed_of(&args, scenario);
    if !a.common.quiet && a.common.format == Format::Text {
        eprintln!(
            "check --live: {shown} on {} at speed {speed}",
            table.broker.word()
        );
    }
    let allow_outside = cli::ALLOW_OUTSIDE.load(std::sync::atomic::Ordering::Relaxed);
    let measured = match live::measure(&args, scenario, &cli::STOP, allow_outside) {
        Ok(m) => m,
        Err(e) => {
            return Outcome {
                file: shown,
                verdict: "error",
                detail: e.message,
                agreement: Value::Null,
            }
        }
    };
    let agreement = measured.document["agreement"].clone();
    let where_ = format!("on {} at speed {speed}", table.broker.word());
    if measured.partial {
        return Outcome {
            file: shown,
            verdict: "error",
            detail: format!("{where_}: interrupted"),
            agreement,
        };
    }
    if measured.differing.is_empty() {
        let count = agreement.as_object().map_or(0, |o| o.len());
        return Outcome {
            file: shown,
            verdict: "pass",
            detail: format!("{where_}: {count} metrics agree"),
            agreement,
        };
    }
    let differing: Vec<String> = measured
        .differing
        .iter()
        .map(|m| {
            let r = &agreement[m.as_str()];
            format!(
                "{m} live {} outside [{}, {}]",
                short(&r["live"]),
                short(&r["low"]),
                short(&r["high"])
            )
        })
        .collect();
    Outcome {
        file: shown,
        verdict: "fail",
        detail: format!("{where_}: {}", differing.join("; ")),
        agreement,
    }
}

fn short(v: &Value) -> String {
    v.as_f64().map_or("?".into(), |x| format!("{x:.4}"))
}

fn print(a: &CheckArgs, outcomes: &[Outcome]) {
    let count = |v: &str| outcomes.iter().filter(|o| o.verdict == v).count();
    if a.common.format == Format::Json {
        let scenarios: Vec<Value> = outcomes
            .iter()
            .map(|o| json!({ "file": o.file, "verdict": o.verdict, "detail": o.detail, "agreement": o.agreement }))
            .collect();
        let document = json!({
            "live": true,
            "passed": count("pass"),
            "failed": count("fail"),
            "errors": count("error"),
            "skipped": count("skip"),
            "scenarios": scenarios,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        );
        return;
    }
    for o in outcomes {
        println!("{} {}: {}", o.verdict.to_uppercase(), o.file, o.detail);
    }
    println!(
        "{} passed, {} failed, {} errors, {} skipped",
        count("pass"),
        count("fail"),
        count("error"),
        count("skip")
    );
}
