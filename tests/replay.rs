//! Data files a scenario names: a recorded arrival trace is replayed at
//! every recorded instant, a rate profile runs as the inline schedule it
//! stands for, an empirical law read from a file draws as the same values
//! written inline; paths outside the scenario's folder need
//! `--allow-outside`, and bad rows are refused with file, row and column.

mod common;
use common::*;
use rand::{Rng, SeedableRng};
use serde_json::Value;

const RECORDED: usize = 800;

/// Nanoseconds since the epoch, from 2024-12-05 on, gaps exponential with
/// a mean of 0.2 s and random to the nanosecond; written in shuffled order
/// as seconds with nine decimals, beside a column that is not read.
fn recorded_trace(dir: &TempDir) -> Vec<u64> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(11);
    let mut t: u64 = 1_733_400_000_000_000_000;
    let mut instants = Vec::new();
    for _ in 0..RECORDED {
        let gap_s = -(1.0 - rng.random::<f64>()).ln() * 0.2;
        t += (gap_s * 1e9) as u64 + rng.random_range(0..1000);
        instants.push(t);
    }
    let mut rows: Vec<String> = instants
        .iter()
        .map(|t| {
            format!(
                "web-{},{}.{:09}",
                t % 7,
                t / 1_000_000_000,
                t % 1_000_000_000
            )
        })
        .collect();
    for i in (1..rows.len()).rev() {
        rows.swap(i, rng.random_range(0..=i));
    }
    dir.write("arrivals.csv", &format!("host,ts\n{}\n", rows.join("\n")));
    instants.iter().map(|t| t - instants[0]).collect()
}

fn scenario_with(dir: &TempDir, arrival: &str, duration: &str) -> String {
    dir.write(
        "replay.toml",
        &format!(
            "[simulation]\nduration = \"{duration}\"\n\n[[producer]]\narrival = {arrival}\n\n[[queue]]\nname = \"q\"\n\n[[consumer]]\ncount = 2\nservice = {{ dist = \"exponential\", mean = \"50ms\" }}\n"
        ),
    )
    .display()
    .to_string()
}

/// Publish time of every traced message, in nanoseconds, by message id.
fn publish_times_ns(trace: &std::path::Path) -> Vec<u64> {
    let text = std::fs::read_to_string(trace).expect("the trace");
    let mut times = Vec::new();
    for line in text.lines() {
        let e: Value = serde_json::from_str(line).expect("a JSON line");
        if e["event"] == "published" {
            let id = e["message"].as_u64().expect("an id") as usize;
            assert_eq!(id, times.len(), "messages are published in id order");
            times.push((e["time_s"].as_f64().expect("a time") * 1e9).round() as u64);
        }
    }
    times
}

fn published(json: &str) -> u64 {
    let v: Value = serde_json::from_str(json).expect("JSON");
    v["messages"]["published"]
        .as_u64()
        .expect("messages.published")
}

#[test]
fn a_recorded_trace_is_replayed_at_every_recorded_instant() {
    let dir = TempDir::new("replay-exact");
    let expected = recorded_trace(&dir);
    let file = scenario_with(
        &dir,
        "{ process = \"trace\", file = \"arrivals.csv\", column = \"ts\" }",
        "1h",
    );
    let trace = dir.path("trace.jsonl");
    let (code, out, err) = mqsim(&[
        "run",
        &file,
        "--no-files",
        "-q",
        "--format",
        "json",
        "--trace",
        trace.to_str().unwrap(),
        "--trace-first",
        &RECORDED.to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(published(&out), RECORDED as u64);
    assert_eq!(
        publish_times_ns(&trace),
        expected,
        "every publish at its recorded instant, relative to the first, to the nanosecond"
    );
}

#[test]
fn speed_and_duration_scale_and_cut_the_replay() {
    let dir = TempDir::new("replay-speed");
    let expected = recorded_trace(&dir);
    let file = scenario_with(
        &dir,
        "{ process = \"trace\", file = \"arrivals.csv\", column = \"ts\", speed = 4.0 }",
        "20s",
    );
    let trace = dir.path("trace.jsonl");
    let (code, out, err) = mqsim(&[
        "run",
        &file,
        "--no-files",
        "-q",
        "--format",
        "json",
        "--trace",
        trace.to_str().unwrap(),
        "--trace-first",
        &RECORDED.to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    let within: Vec<u64> = expected
        .iter()
        .map(|t| (*t as f64 / 4.0).round() as u64)
        .filter(|t| *t < 20_000_000_000)
        .collect();
    assert!(
        within.len() > 100 && within.len() < RECORDED,
        "the cut is inside the trace"
    );
    assert_eq!(
        published(&out),
        within.len() as u64,
        "publishes stop at the duration"
    );
    let got = publish_times_ns(&trace);
    assert_eq!(got.len(), within.len());
    for (g, w) in got.iter().zip(&within) {
        assert!(
            g.abs_diff(*w) <= 1,
            "four times as fast: {g} ns, recorded / 4 = {w} ns"
        );
    }
}

/// The JSON of a run with the scenario's own name and file left out, so
/// that two scenarios meaning the same thing compare equal.
fn figures(file: &str) -> Value {
    let (code, out, err) = mqsim(&[
        "run",
        file,
        "--no-files",
        "-q",
        "-r",
        "3",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let mut v: Value = serde_json::from_str(&out).expect("JSON");
    v.as_object_mut().expect("an object").remove("scenario");
    v
}

#[test]
fn a_profile_file_runs_as_the_inline_schedule_it_stands_for() {
    let dir = TempDir::new("replay-profile");
    dir.write(
        "rate.csv",
        "at,rate,note\n0,2,night\n60,8,peak\n2m,1,late\n",
    );
    let profile = scenario_with(&dir, "{ process = \"profile\", file = \"rate.csv\" }", "5m");
    let from_file = figures(&profile);
    let inline = scenario_with(
        &dir,
        "{ process = \"schedule\", schedule = [{ at = \"0s\", rate = 2 }, { at = \"60s\", rate = 8 }, { at = \"120s\", rate = 1 }] }",
        "5m",
    );
    assert_eq!(from_file, figures(&inline));
    assert!(get(from_file.as_object().unwrap(), "messages.published") > 400.0);
}

#[test]
fn an_empirical_law_from_a_file_draws_as_its_values_written_inline() {
    let dir = TempDir::new("replay-empirical");
    let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
    let ms: Vec<f64> = (0..500)
        .map(|_| (rng.random::<f64>() * 90.0 + 10.0).round() / 4.0)
        .collect();
    let rows: Vec<String> = ms.iter().map(|x| format!("{x},ok")).collect();
    dir.write("service.csv", &format!("ms,status\n{}\n", rows.join("\n")));
    let arrival = "{ process = \"poisson\", rate = 20 }";
    let file = scenario_with(&dir, arrival, "10m");
    let text = std::fs::read_to_string(&file).unwrap();
    let from_file = text.replace(
        "service = { dist = \"exponential\", mean = \"50ms\" }",
        "service = { dist = \"empirical\", file = \"service.csv\", column = \"ms\", unit = \"ms\", interpolate = true }",
    );
    let values: Vec<String> = ms.iter().map(|x| format!("\"{x}ms\"")).collect();
    let inline = text.replace(
        "service = { dist = \"exponential\", mean = \"50ms\" }",
        &format!(
            "service = {{ dist = \"empirical\", values = [{}], interpolate = true }}",
            values.join(", ")
        ),
    );
    let a = dir.write("file.toml", &from_file);
    let b = dir.write("inline.toml", &inline);
    assert_eq!(
        figures(a.to_str().unwrap()),
        figures(b.to_str().unwrap()),
        "the same measurements, the same draws"
    );
}

#[test]
fn files_outside_the_scenarios_folder_need_allow_outside() {
    let dir = TempDir::new("replay-outside");
    recorded_trace(&dir);
    std::fs::create_dir_all(dir.path("team")).unwrap();
    let scenario = |arrival: &str| {
        let file = scenario_with(&dir, arrival, "1m");
        let inside = dir.path("team/replay.toml");
        std::fs::rename(&file, &inside).unwrap();
        inside.display().to_string()
    };
    let up = scenario("{ process = \"trace\", file = \"../arrivals.csv\", column = \"ts\" }");
    let (code, _, err) = mqsim(&["run", &up, "--no-files", "-q"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("`producer[0].arrival.file`")
            && err.contains("../arrivals.csv is outside the scenario's folder")
            && err.contains("--allow-outside"),
        "{err}"
    );
    let (code, _, err) = mqsim(&["run", &up, "--no-files", "-q", "--allow-outside"]);
    assert_eq!(code, 0, "{err}");

    // A file that does not exist outside is refused as outside: whether it
    // exists is not told.
    let absolute = scenario("{ process = \"trace\", file = \"/nonexistent/ts.csv\" }");
    let (code, _, err) = mqsim(&["run", &absolute, "--no-files", "-q"]);
    assert_eq!(code, 2);
    assert!(err.contains("is outside the scenario's folder"), "{err}");

    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.path("arrivals.csv"), dir.path("team/link.csv")).unwrap();
        let linked = scenario("{ process = \"trace\", file = \"link.csv\", column = \"ts\" }");
        let (code, _, err) = mqsim(&["run", &linked, "--no-files", "-q"]);
        assert_eq!(code, 2, "a symbolic link pointing out is outside too");
        assert!(
            err.contains("link.csv is outside the scenario's folder"),
            "{err}"
        );
    }
}

#[test]
fn bad_rows_and_keys_are_refused_with_where_and_why() {
    let dir = TempDir::new("replay-bad");
    dir.write("ts.csv", "ts\n0.5\n1.25\nsoon\n");
    dir.write("rate.csv", "at,rate\n0,5\n30,-1\n");
    dir.write("back.csv", "at,rate\n0,5\n30,2\n20,1\n");
    dir.write("zeros.csv", "0\n0\n");
    dir.write("semi.csv", "at;rate\n0;5\n");
    dir.write("gap.csv", "at,rate\n0,5\n30\n");
    let cases = [
        (
            "{ process = \"empirical\", file = \"zeros.csv\" }",
            "`producer[0].arrival.file`",
        ),
        (
            "{ process = \"profile\", file = \"semi.csv\" }",
            "semi.csv: row 1 separates its cells with `;`",
        ),
        (
            "{ process = \"profile\", file = \"gap.csv\" }",
            "gap.csv: row 3, column 2: no value",
        ),
        (
            "{ process = \"trace\", file = \"ts.csv\", column = \"ts\" }",
            "ts.csv: row 4, column 1: `soon` is not a time",
        ),
        (
            "{ process = \"trace\", file = \"ts.csv\", column = \"when\" }",
            "ts.csv: no column `when` (columns: ts)",
        ),
        (
            "{ process = \"profile\", file = \"rate.csv\" }",
            "rate.csv: row 3, column 2: `-1` is not a rate",
        ),
        (
            "{ process = \"profile\", file = \"back.csv\" }",
            "back.csv: row 4, column 1: `at` must increase",
        ),
        (
            "{ process = \"trace\", file = \"rate.csv\", column = \"at\", speed = 0.0 }",
            "`producer[0].arrival.speed`: `speed` must be above 0",
        ),
        (
            "{ process = \"trace\" }",
            "`producer[0].arrival.file`: a trace process reads `file`",
        ),
        (
            "{ process = \"poisson\", rate = 5, unit = \"ms\" }",
            "`producer[0].arrival.unit`: `unit` says how to read `file`, and there is no `file`",
        ),
        (
            "{ process = \"trace\", file = \"missing.csv\" }",
            "`producer[0].arrival.file`: cannot read missing.csv",
        ),
    ];
    for (arrival, message) in cases {
        let file = scenario_with(&dir, arrival, "1m");
        let (code, _, err) = mqsim(&["run", &file, "--no-files", "-q"]);
        assert_eq!(code, 2, "{arrival}: {err}");
        assert!(
            err.contains(message),
            "{arrival}: expected `{message}` in: {err}"
        );
        assert!(err.contains("replay.toml:"), "the scenario is named: {err}");
    }
}
