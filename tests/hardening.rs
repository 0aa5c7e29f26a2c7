//! Issue 19 (hardening): writes that cannot be redirected, guards that
//! cannot be outrun, results that cannot lie, flags that are not ignored.
//! These run the binary as a user would (set MQSIM_TEST_BIN to run them
//! against another build, e.g. to see them fail on an older one).

mod common;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn bin() -> PathBuf {
    std::env::var_os("MQSIM_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_mqsim")))
}

/// A fresh folder under the system's temporary folder, removed on drop.
type Work = common::TempDir;

struct Ran {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
}

fn wait_with_timeout(mut child: std::process::Child, what: &str, secs: u64) -> Ran {
    use std::io::Read;
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if started.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("HANG: {what} ran for {secs} s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    use std::os::unix::process::ExitStatusExt;
    Ran {
        code: status.code(),
        signal: status.signal(),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn spawn(args: &[&str], cwd: &Path) -> std::process::Child {
    std::process::Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run mqsim")
}

fn mqsim(args: &[&str], cwd: &Path) -> Ran {
    wait_with_timeout(spawn(args, cwd), &format!("mqsim {args:?}"), 120)
}

/// A small scenario: one queue, one consumer, a short run.
const SMALL: &str = r#"
[simulation]
name = "small"
duration = "60s"
seed = 3
[[producer]]
arrival = { process = "poisson", rate = 20.0 }
[[queue]]
[[consumer]]
count = 2
service = { dist = "exponential", mean = "50ms" }
failure = 0.05
"#;

fn small_with(extra_simulation: &str, tail: &str) -> String {
    SMALL.replace(
        "[simulation]\n",
        &format!("[simulation]\n{extra_simulation}\n"),
    ) + tail
}

// ------------------------------------------------------------ 1. Files

/// The names `run --charts` writes for SMALL.
const OUTPUT_NAMES: [&str; 9] = [
    "summary.json",
    "metrics.csv",
    "timeseries.csv",
    "latency-cdf.png",
    "latency-cdf.svg",
    "outcomes.png",
    "outcomes.svg",
    "timeseries-base.png",
    "timeseries-base.svg",
];

#[test]
fn links_planted_at_every_output_name_and_at_guessable_temporary_names_are_never_followed() {
    let w = Work::new("links");
    w.write("s.toml", SMALL);
    let victim = w.write("victim.txt", "precious\n");
    let out = w.path("out");
    std::fs::create_dir_all(&out).unwrap();
    for name in OUTPUT_NAMES
        .iter()
        .chain(["trace.jsonl", "trace.jsonl.chrome.json"].iter())
    {
        let at = if name.starts_with("trace") {
            w.path(name)
        } else {
            out.join(name)
        };
        std::os::unix::fs::symlink(&victim, &at).unwrap();
    }
    // Temporary names of the form .<name>.<pid>.tmp, for the pids the
    // child may get.
    let next_pid = std::process::Command::new("true").spawn().unwrap().id();
    for pid in next_pid..next_pid + 64 {
        for name in OUTPUT_NAMES {
            let _ = std::os::unix::fs::symlink(&victim, out.join(format!(".{name}.{pid}.tmp")));
        }
        for name in ["trace.jsonl", "trace.jsonl.chrome.json"] {
            let _ = std::os::unix::fs::symlink(&victim, w.path(&format!(".{name}.{pid}.tmp")));
        }
    }
    let r = mqsim(
        &[
            "run",
            "s.toml",
            "--out",
            "out",
            "--charts",
            "-q",
            "--trace",
            "trace.jsonl",
        ],
        &w.0,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "precious\n",
        "a planted link was followed"
    );
    for name in OUTPUT_NAMES {
        let meta = std::fs::symlink_metadata(out.join(name)).unwrap();
        assert!(meta.file_type().is_file(), "{name} is still a link");
        assert!(meta.len() > 0, "{name} is empty");
    }
    for name in ["trace.jsonl", "trace.jsonl.chrome.json"] {
        let meta = std::fs::symlink_metadata(w.path(name)).unwrap();
        assert!(meta.file_type().is_file(), "{name} is still a link");
    }
}

#[test]
fn a_second_command_on_a_locked_output_folder_fails_at_once_naming_the_holder() {
    let w = Work::new("lock");
    w.write("s.toml", SMALL);
    let out = w.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let lock = std::fs::File::create(out.join(".mqsim.lock")).unwrap();
    std::fs::write(out.join(".mqsim.lock"), "4242\n").unwrap();
    lock.lock().unwrap();
    let r = mqsim(&["run", "s.toml", "--out", "out", "-q"], &w.0);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("pid 4242"), "{}", r.stderr);
    assert!(
        !out.join("summary.json").exists(),
        "wrote into a locked folder"
    );
    drop(lock);
    let r = mqsim(&["run", "s.toml", "--out", "out", "-q"], &w.0);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(out.join("summary.json").exists());
}

#[test]
fn destinations_are_checked_before_simulating() {
    let w = Work::new("dest");
    let scenario_text = small_with("", "");
    w.write("s.toml", &scenario_text);
    w.write("afile", "x");
    std::fs::create_dir_all(w.path("afolder")).unwrap();
    for (args, needle) in [
        (vec!["--out", "afile"], "is a file"),
        (vec!["--out", "afile/sub"], "afile"),
        (vec!["--trace", "afolder"], "is a folder"),
        (vec!["--trace", "s.toml"], "scenario file itself"),
    ] {
        let mut all = vec!["run", "s.toml", "-q"];
        if !args.contains(&"--out") {
            all.extend(["--out", "out"]);
        }
        all.extend(args.iter().copied());
        let r = mqsim(&all, &w.0);
        assert_eq!(r.code, Some(2), "{all:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{all:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{all:?} simulated: {}", r.stdout);
        assert!(
            !w.path("out/summary.json").exists(),
            "{all:?} wrote results"
        );
    }
    assert_eq!(
        std::fs::read_to_string(w.path("s.toml")).unwrap(),
        scenario_text
    );
    assert_eq!(std::fs::read_to_string(w.path("afile")).unwrap(), "x");
}

#[test]
fn names_with_control_characters_or_over_128_bytes_are_refused_and_never_printed_raw() {
    let w = Work::new("names");
    for (name, needle) in [
        ("evil\u{1b}]0;pwned\u{7}", "control character"),
        ("two\nerror: forged", "control character"),
        ("nul\u{0}", "control character"),
        (&"n".repeat(129), "128 bytes"),
    ] {
        let text = small_with(&format!("name = {}", toml_string(name)), "").replacen(
            "name = \"small\"\n",
            "",
            1,
        );
        w.write("s.toml", &text);
        let r = mqsim(&["run", "s.toml", "--no-files", "-q"], &w.0);
        assert_eq!(r.code, Some(2), "{name:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{name:?}: {}", r.stderr);
        assert!(r.stderr.contains("s.toml:"), "not located: {}", r.stderr);
        assert!(
            !r.stderr.chars().any(|c| c.is_control() && c != '\n'),
            "a control character reached the terminal: {:?}",
            r.stderr
        );
        assert_eq!(r.stderr.lines().count(), 1, "a forged line: {:?}", r.stderr);
    }
    // 128 bytes is accepted.
    let text = small_with(&format!("name = \"{}\"", "n".repeat(128)), "").replacen(
        "name = \"small\"\n",
        "",
        1,
    );
    w.write("s.toml", &text);
    let r = mqsim(&["run", "s.toml", "--no-files", "-q"], &w.0);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    // A name from the command line is escaped in the error.
    let r = mqsim(
        &[
            "run",
            "s.toml",
            "--no-files",
            "-q",
            "--set",
            "simulation.name=\"a\\u001b[2Jb\"",
        ],
        &w.0,
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(!r.stderr.contains('\u{1b}'), "{:?}", r.stderr);
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[test]
fn variants_whose_names_map_to_one_file_name_are_refused() {
    let w = Work::new("variants");
    let text = small_with(
        "",
        "[[variant]]\nname = \"a b\"\n[[variant]]\nname = \"a_b\"\n",
    );
    w.write("s.toml", &text);
    let r = mqsim(&["compare", "s.toml", "--no-files", "-q"], &w.0);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("same files"), "{}", r.stderr);
    assert!(r.stderr.contains("s.toml:"), "not located: {}", r.stderr);
    w.write("s.toml", SMALL);
    for bad in [
        "../up:consumer.count=3",
        "a/b:consumer.count=3",
        "..:consumer.count=3",
    ] {
        let r = mqsim(
            &[
                "compare",
                "s.toml",
                "--no-files",
                "-q",
                "--variant",
                "ok:consumer.count=2",
                "--variant",
                bad,
            ],
            &w.0,
        );
        assert_eq!(r.code, Some(2), "{bad}: {}", r.stderr);
        assert!(r.stderr.contains("--variant"), "{bad}: {}", r.stderr);
    }
}

#[test]
fn two_scenarios_that_would_write_one_folder_are_refused() {
    let w = Work::new("onefolder");
    w.write("a.toml", SMALL);
    w.write("b.toml", SMALL);
    let r = mqsim(&["check", "a.toml", "b.toml", "--out", "out", "-q"], &w.0);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("one output folder"), "{}", r.stderr);
    assert!(!w.path("out/summary.json").exists());
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}

#[test]
fn markdown_and_junit_escape_names() {
    let w = Work::new("markdown");
    let text = small_with(
        "",
        "[[variant]]\nname = \"a|<b>x<i>\"\n[expect]\nlost = 0\n",
    );
    w.write("s.toml", &text);
    let r = mqsim(
        &[
            "check",
            "s.toml",
            "--no-files",
            "-q",
            "--markdown",
            "m.md",
            "--junit",
            "j.xml",
        ],
        &w.0,
    );
    assert!(r.code == Some(0) || r.code == Some(1), "{}", r.stderr);
    let md = std::fs::read_to_string(w.path("m.md")).unwrap();
    assert!(md.contains("a\\|&lt;b&gt;x&lt;i&gt;"), "{md}");
    assert!(!md.contains("<b>"), "{md}");
    let xml = std::fs::read_to_string(w.path("j.xml")).unwrap();
    assert!(xml.contains("a|&lt;b&gt;x&lt;i&gt;"), "{xml}");
}

// ------------------------------------------------------ 3. Honest results

#[test]
fn check_never_passes_a_partial_run() {
    let w = Work::new("partial");
    w.write(
        "s.toml",
        &small_with("", "[expect]\nlost = 0\ndelivered_min = 1\n"),
    );
    let r = mqsim(
        &[
            "check",
            "s.toml",
            "--no-files",
            "--max-events",
            "300",
            "--junit",
            "j.xml",
            "--markdown",
            "m.md",
        ],
        &w.0,
    );
    assert_eq!(r.code, Some(1), "a partial run passed: {}", r.stdout);
    assert!(r.stdout.contains("INCONCLUSIVE"), "{}", r.stdout);
    assert!(!r.stdout.contains("PASS"), "{}", r.stdout);
    assert!(r.stdout.contains("stopped early"), "{}", r.stdout);
    let xml = std::fs::read_to_string(w.path("j.xml")).unwrap();
    assert!(xml.contains("inconclusive"), "{xml}");
    assert!(xml.contains("<failure"), "{xml}");
    let md = std::fs::read_to_string(w.path("m.md")).unwrap();
    assert!(md.contains("inconclusive"), "{md}");
    // The same check on the whole run passes.
    let r = mqsim(&["check", "s.toml", "--no-files"], &w.0);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
}

#[test]
fn check_on_a_scenario_that_does_not_load_exits_2_and_writes_nothing() {
    let w = Work::new("checkbad");
    w.write("good.toml", &small_with("", "[expect]\nlost = 0\n"));
    w.write("bad.toml", "[simulation\n");
    let r = mqsim(
        &[
            "check",
            "good.toml",
            "bad.toml",
            "--junit",
            "j.xml",
            "--markdown",
            "m.md",
            "-q",
        ],
        &w.0,
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("bad.toml:1:"), "{}", r.stderr);
    assert!(!w.path("j.xml").exists(), "JUnit written");
    assert!(!w.path("m.md").exists(), "Markdown written");
    assert!(!w.path("output").exists(), "results written");
}

#[test]
fn check_says_which_files_have_no_expect_and_shows_4_significant_digits() {
    let w = Work::new("noexpect");
    w.write("plain.toml", SMALL);
    w.write(
        "with.toml",
        &small_with(
            "",
            "[expect]\nduplicate_rate_max = 0.5\nmean_latency_max = \"10s\"\n",
        )
        .replace("name = \"small\"", "name = \"with\""),
    );
    let r = mqsim(
        &[
            "check",
            "plain.toml",
            "with.toml",
            "--no-files",
            "--junit",
            "j.xml",
        ],
        &w.0,
    );
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("SKIP plain.toml"), "{}", r.stdout);
    let last = r.stdout.lines().last().unwrap();
    assert!(last.contains("1 file without [expect]"), "{last}");
    // Under --format json stdout is one document, the skip in it.
    let json = mqsim(
        &["check", "plain.toml", "--no-files", "--format", "json"],
        &w.0,
    );
    assert_eq!(json.code, Some(0), "{}", json.stderr);
    let o: serde_json::Value =
        serde_json::from_str(&json.stdout).unwrap_or_else(|e| panic!("{e}: {}", json.stdout));
    assert!(o.to_string().contains("plain.toml"), "{o}");
    assert!(json.stderr.contains("SKIP plain.toml"), "{}", json.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("duplicate_rate_max"))
        .unwrap();
    let measured = line.split(": ").nth(1).unwrap().split(' ').next().unwrap();
    let digits = measured
        .trim_start_matches(['0', '.'])
        .chars()
        .filter(char::is_ascii_digit)
        .count();
    assert!(digits <= 4, "{line}");
    let xml = std::fs::read_to_string(w.path("j.xml")).unwrap();
    assert!(xml.contains("skipped"), "{xml}");
}

/// Runs `args` unsharded and in `n` shards merged, in fresh folders, and
/// checks that stdout and every file are byte for byte the same.
fn assert_shards_merge_to_the_whole(w: &Work, args: &[&str], n: usize) {
    let mut whole = args.to_vec();
    whole.extend(["--out", "whole", "-q"]);
    let a = mqsim(&whole, &w.0);
    assert_eq!(a.code, Some(0), "{}", a.stderr);
    for i in 1..=n {
        let shard = format!("{i}/{n}");
        let mut part = args.to_vec();
        part.extend(["--out", "parts", "-q", "--shard", &shard]);
        let r = mqsim(&part, &w.0);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
    }
    let m = mqsim(&["merge", "parts", "--out", "merged", "-q"], &w.0);
    assert_eq!(m.code, Some(0), "{}", m.stderr);
    assert_eq!(a.stdout, m.stdout, "{args:?}: stdout differs");
    for e in std::fs::read_dir(w.path("whole")).unwrap() {
        let name = e.unwrap().file_name();
        if name.to_string_lossy().starts_with('.') {
            continue; // the folder's lock file holds the pid
        }
        let x = std::fs::read(w.path("whole").join(&name)).unwrap();
        let y = std::fs::read(w.path("merged").join(&name)).unwrap();
        assert!(x == y, "{args:?}: {name:?} differs");
    }
    for d in ["whole", "parts", "merged"] {
        let _ = std::fs::remove_dir_all(w.path(d));
    }
}

#[test]
fn shard_works_on_run_and_merge_gives_the_unsharded_result() {
    let w = Work::new("shardrun");
    w.write("s.toml", SMALL);
    assert_shards_merge_to_the_whole(&w, &["run", "s.toml", "-r", "5"], 2);
    assert_shards_merge_to_the_whole(&w, &["run", "s.toml", "-r", "3"], 3);
    w.write("v.toml", &small_with("", "[[variant]]\nname = \"one\"\n[[variant]]\nname = \"two\"\nset = { \"consumer.count\" = 3 }\n"));
    assert_shards_merge_to_the_whole(&w, &["compare", "v.toml", "-r", "3"], 2);
    // Where it cannot apply, it is refused.
    let r = mqsim(&["check", "s.toml", "--shard", "1/2", "--no-files"], &w.0);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    let r = mqsim(
        &["run", "s.toml", "--shard", "1/2", "--trace", "t.jsonl"],
        &w.0,
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
}

/// The part files of a 2-shard run of SMALL with 4 replications.
fn parts(w: &Work) -> Vec<(PathBuf, mqsim::cli::study::Part)> {
    w.write("s.toml", SMALL);
    for i in 1..=2 {
        let shard = format!("{i}/2");
        let r = mqsim(
            &[
                "run", "s.toml", "-r", "4", "--out", "parts", "-q", "--shard", &shard,
            ],
            &w.0,
        );
        assert_eq!(r.code, Some(0), "{}", r.stderr);
    }
    (1..=2)
        .map(|i| {
            let p = w.path(&format!("parts/part-{i}-of-2.json"));
            let part = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p, part)
        })
        .collect()
}

#[test]
fn merge_rejects_each_forged_part_naming_the_part_and_the_field() {
    use mqsim::cli::study::{digest_json, Part};
    let w = Work::new("forged");
    let original = parts(&w);
    let ok = mqsim(&["merge", "parts", "--out", "m", "-q"], &w.0);
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    type Forge = fn(&mut Part);
    let set_published = |p: &mut Part, v: serde_json::Value| {
        p.results[0].replication.metrics["messages"]["published"] = v;
    };
    let forgeries: Vec<(&str, Forge, bool, &str)> = vec![
        (
            "job 10^12",
            |p| p.results[0].job = 1_000_000_000_000,
            true,
            "results[0].job",
        ),
        (
            "job of another shard",
            |p| p.results[0].job += 1,
            true,
            "results[0].job",
        ),
        (
            "negative count",
            |p| p.results[0].replication.metrics["messages"]["acked"] = serde_json::json!(-5.0),
            true,
            "acked",
        ),
        (
            "1e300 count",
            |p| p.results[0].replication.metrics["messages"]["lost"] = serde_json::json!(1e300),
            true,
            "lost",
        ),
        (
            "changed seed",
            |p| p.results[0].replication.seed ^= 1,
            true,
            "results[0].replication.seed",
        ),
        (
            "changed index",
            |p| p.results[0].replication.index += 1,
            true,
            "results[0].replication.index",
        ),
        ("`of` edited", |p| p.of = 3, true, "`of`"),
        ("`shard` edited", |p| p.shard = 2, true, "`shard`"),
        (
            "spec seed edited",
            |p| p.spec.seed += 1,
            false,
            "study_digest",
        ),
        (
            "results edited, digest kept",
            |p| p.results[0].replication.events += 1,
            false,
            "results_digest",
        ),
    ];
    let _ = set_published;
    for (what, forge, redigest, field) in forgeries {
        let (path, part) = &original[0];
        let mut forged = part.clone();
        forge(&mut forged);
        if redigest {
            // A forger who recomputes the digests is caught by the checks
            // of what the digests cover.
            forged.study_digest = digest_json(&forged.spec);
            forged.results_digest = digest_json(&forged.results);
        }
        std::fs::write(path, serde_json::to_string(&forged).unwrap()).unwrap();
        let r = mqsim(&["merge", "parts", "--out", "m2", "-q"], &w.0);
        assert_eq!(r.code, Some(2), "{what} was merged: {}", r.stderr);
        assert!(
            r.stderr.contains("part-1-of-2.json"),
            "{what}: part not named: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains(field),
            "{what}: field `{field}` not named: {}",
            r.stderr
        );
        assert!(
            !w.path("m2/summary.json").exists(),
            "{what}: results written"
        );
        std::fs::write(path, serde_json::to_string(part).unwrap()).unwrap();
    }
    // The same part given twice.
    let r = mqsim(
        &[
            "merge",
            "parts/part-1-of-2.json",
            "parts/part-1-of-2.json",
            "parts/part-2-of-2.json",
            "--out",
            "m3",
            "-q",
        ],
        &w.0,
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
}

#[test]
fn ctrl_c_exits_130_with_partial_results_written() {
    let w = Work::new("ctrlc");
    w.write(
        "long.toml",
        &small_with("", "")
            .replace("duration = \"60s\"", "duration = \"100d\"")
            .replace("rate = 20.0", "rate = 200.0")
            .replace("count = 2", "count = 20"),
    );
    let child = spawn(&["run", "long.toml", "--out", "out", "-q", "--force"], &w.0);
    std::thread::sleep(Duration::from_millis(1500));
    let pid = child.id().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let r = wait_with_timeout(child, "interrupted run", 60);
    assert_eq!(r.code, Some(130), "{}", r.stderr);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("out/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["partial"], serde_json::json!(true));
    assert_eq!(summary["partial_reason"], serde_json::json!("interrupted"));
}

// ------------------------------------------- 4. Flags that were ignored

#[test]
fn flags_and_keys_that_were_silently_ignored_are_refused_or_do_what_they_say() {
    let w = Work::new("flags");
    w.write("s.toml", SMALL);
    for (args, needle) in [
        (
            vec!["--max-replications", "0", "--precision", "0.1"],
            "--max-replications",
        ),
        (vec!["--max-wall", "0s"], "--max-wall"),
        (vec!["--out", "o"], "--no-files"),
        (vec!["--charts"], "--no-files"),
        (vec!["--set", "producer.arrival.rate=1e300"], "1e300"),
    ] {
        let mut all = vec!["run", "s.toml", "--no-files", "-q"];
        all.extend(args.iter().copied());
        let r = mqsim(&all, &w.0);
        assert_eq!(r.code, Some(2), "{all:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{all:?}: {}", r.stderr);
        assert!(r.stderr.len() < 400, "{all:?}: a long echo: {}", r.stderr);
    }
    // A variant that compare refuses, run refuses too, located.
    w.write(
        "v.toml",
        &small_with(
            "",
            "[[variant]]\nname = \"bad\"\nset = { \"consumer.failure\" = 5 }\n",
        ),
    );
    for cmd in ["run", "compare"] {
        let r = mqsim(&[cmd, "v.toml", "--no-files", "-q"], &w.0);
        assert_eq!(r.code, Some(2), "{cmd}: {}", r.stderr);
        assert!(
            r.stderr.contains("v.toml:"),
            "{cmd}: not located: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("not a probability"),
            "{cmd}: {}",
            r.stderr
        );
    }
    // A fault on an instance the group does not have.
    w.write(
        "f.toml",
        &small_with(
            "",
            "[[fault]]\nkind = \"consumer-crash\"\ntarget = \"consumer:consumer\"\ninstance = 99\nat = \"10s\"\ndowntime = \"5s\"\n",
        ),
    );
    let r = mqsim(&["run", "f.toml", "--no-files", "-q"], &w.0);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("instance 99"), "{}", r.stderr);
    // The unnamed consumer is called `consumer`, as the README says.
    let r = mqsim(
        &[
            "run",
            "s.toml",
            "--no-files",
            "-q",
            "--format",
            "json",
            "--set",
            "consumer.consumer.count=3",
        ],
        &w.0,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    // The allowed keys of [simulation] do not name `simulation`.
    let r = mqsim(
        &[
            "run",
            "s.toml",
            "--no-files",
            "-q",
            "--set",
            "simulation.nosuch=1",
        ],
        &w.0,
    );
    assert_eq!(r.code, Some(2));
    let allowed = r.stderr.split("allowed:").nth(1).unwrap_or("");
    assert!(!allowed.contains("simulation"), "{}", r.stderr);
    // -j beyond any use is capped, and said.
    let r = mqsim(&["run", "s.toml", "--no-files", "-j", "100000"], &w.0);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("capped"), "{}", r.stderr);
    // Trace ids beyond the messages published are named.
    let r = mqsim(
        &[
            "run",
            "s.toml",
            "--out",
            "o",
            "-q",
            "--trace",
            "t.jsonl",
            "--trace-messages",
            "5,999999999",
        ],
        &w.0,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("message 999999999 was never published in replication 0"),
        "{}",
        r.stderr
    );
}

#[test]
fn init_names_the_scenario_after_its_path() {
    let w = Work::new("init");
    let r = mqsim(&["init", "orders-test.toml"], &w.0);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let text = std::fs::read_to_string(w.path("orders-test.toml")).unwrap();
    assert!(text.contains("name = \"orders-test\""), "{text}");
    assert!(!text.contains("quickstart"), "{text}");
    assert!(text.contains("mqsim run orders-test.toml"), "{text}");
    let r = mqsim(
        &[
            "run",
            "orders-test.toml",
            "-q",
            "--set",
            "simulation.duration=5m",
        ],
        &w.0,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(w.path("output/orders-test/summary.json").exists());
}

// ------------------------------------------------- 2. Resource guards

#[test]
fn duration_of_1ms_is_not_refused() {
    let w = Work::new("1ms");
    w.write(
        "s.toml",
        &SMALL.replace("duration = \"60s\"", "duration = \"1ms\""),
    );
    let r = mqsim(&["run", "s.toml", "--no-files", "-q"], &w.0);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

#[test]
fn the_memory_ceiling_stops_a_run_with_partial_results_and_says_why() {
    let w = Work::new("ceiling");
    w.write(
        "over.toml",
        "[simulation]\nduration = \"10h\"\n[[producer]]\narrival = { process = \"poisson\", rate = 1000.0 }\n[[queue]]\n[[consumer]]\nservice = { dist = \"constant\", mean = \"10ms\" }\n",
    );
    let r = wait_with_timeout(
        std::process::Command::new(bin())
            .args(["run", "over.toml", "--out", "out", "-q", "--force"])
            .env("MQSIM_MEMORY_CEILING", "200000000")
            .current_dir(&w.0)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
        "a run over its memory ceiling",
        120,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("memory ceiling"), "{}", r.stdout);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("out/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["partial"], serde_json::json!(true));
    assert_eq!(
        summary["partial_reason"],
        serde_json::json!("memory-ceiling")
    );
}

/// Each runaway case of issue 19, in a child process limited to 4 GB of
/// address space: refused before the run (exit 2) or stopped during it
/// (partial results), never an allocator abort.
#[test]
fn runaway_cases_under_a_4_gb_address_space_end_in_exit_2_or_partial_results() {
    let w = Work::new("runaway");
    let overload = "[simulation]\nduration = \"10h\"\n[[producer]]\narrival = { process = \"poisson\", rate = 1000.0 }\n[[queue]]\n[[consumer]]\nservice = { dist = \"constant\", mean = \"10ms\" }\n";
    let topic = "[simulation]\nduration = \"10h\"\n[[producer]]\ntopic = \"t\"\narrival = { process = \"poisson\", rate = 1000.0 }\n[[topic]]\nname = \"t\"\npartitions = 1\n[[consumer]]\ntopic = \"t\"\nservice = { dist = \"constant\", mean = \"10ms\" }\n";
    let faults = "[simulation]\nduration = \"1h\"\n[[producer]]\narrival = { process = \"poisson\", rate = 10.0 }\n[[queue]]\n[[consumer]]\ncount = 3\nservice = { dist = \"exponential\", mean = \"10ms\" }\n[[fault]]\nkind = \"consumer-crash\"\nmtbf = \"1us\"\nmttr = { dist = \"exponential\", mean = \"1us\" }\n";
    let many_faults = "[simulation]\nduration = \"1d\"\n[[producer]]\narrival = { process = \"poisson\", rate = 10.0 }\n[[queue]]\n[[consumer]]\ncount = 50\nservice = { dist = \"exponential\", mean = \"10ms\" }\n[[fault]]\nkind = \"consumer-crash\"\nmtbf = \"10s\"\nmttr = { dist = \"exponential\", mean = \"1s\" }\n";
    let storm = "[simulation]\nduration = \"1h\"\n[[producer]]\narrival = { process = \"poisson\", rate = 9.0 }\ntimeout = \"200ms\"\nretry = { backoff = \"none\" }\n[[queue]]\n[[consumer]]\nservice = { dist = \"constant\", mean = \"100ms\" }\n";
    let slots = "[simulation]\nduration = \"1m\"\n[[producer]]\narrival = { process = \"poisson\", rate = 10.0 }\n[[queue]]\n[[consumer]]\ncount = 100000\nprefetch = 100000\nservice = { dist = \"exponential\", mean = \"10ms\" }\n";
    let window = "[simulation]\nduration = \"1h\"\n[[producer]]\narrival = { process = \"poisson\", rate = 10000.0 }\n[[queue]]\n[[consumer]]\ncount = 200\nidempotency = { window = \"36500d\" }\nservice = { dist = \"exponential\", mean = \"10ms\" }\n";
    let redrive = "[simulation]\nduration = \"1s\"\n[[producer]]\narrival = { process = \"constant\", rate = 10.0 }\n[[queue]]\nmax_deliveries = 1\ndead_letter = true\nredrive = { start = \"0s\", rate = 1000000.0 }\n[[consumer]]\nfailure = 1.0\nservice = { dist = \"constant\", mean = \"1us\" }\n";
    for (name, text) in [
        ("overload", overload),
        ("topic", topic),
        ("faults", faults),
        ("many_faults", many_faults),
        ("storm", storm),
        ("slots", slots),
        ("window", window),
        ("redrive", redrive),
        ("small", SMALL),
    ] {
        w.write(&format!("{name}.toml"), text);
    }
    let cases: Vec<Vec<&str>> = vec![
        vec!["run", "overload.toml"],
        vec!["run", "topic.toml"],
        vec!["run", "faults.toml"],
        vec!["run", "many_faults.toml"],
        vec!["run", "storm.toml"],
        vec!["run", "slots.toml"],
        vec!["run", "window.toml"],
        vec!["run", "redrive.toml"],
        vec!["run", "small.toml", "-r", "1000000"],
        vec![
            "run",
            "small.toml",
            "--precision",
            "0.0001",
            "--max-replications",
            "1000000",
        ],
        vec![
            "sweep",
            "small.toml",
            "--param",
            "consumer.count",
            "--range",
            "1:8:10000",
            "-r",
            "200",
        ],
        vec![
            "run",
            "small.toml",
            "--trace",
            "t.jsonl",
            "--trace-first",
            "100000000",
        ],
        vec!["run", "small.toml", "-j", "100000"],
    ];
    for case in cases {
        let mut args = case.clone();
        args.extend(["--out", "out", "-q", "--max-wall", "15s"]);
        let line = args
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -v 4194304 && exec '{}' {line}",
                bin().display()
            ))
            .current_dir(&w.0)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let r = wait_with_timeout(child, &format!("{case:?}"), 120);
        assert_ne!(r.code, Some(134), "{case:?} aborted: {}", r.stderr);
        assert_eq!(r.signal, None, "{case:?} killed by a signal: {}", r.stderr);
        match r.code {
            Some(2) => assert!(r.stderr.contains("error:"), "{case:?}: {}", r.stderr),
            Some(0) => {
                let text = std::fs::read_to_string(w.path("out/summary.json"))
                    .unwrap_or_else(|_| panic!("{case:?}: no summary"));
                let s: serde_json::Value = serde_json::from_str(&text).unwrap();
                let partial = s["partial"] == serde_json::json!(true);
                assert!(
                    text.len() < 20_000_000,
                    "{case:?}: a summary of {} bytes",
                    text.len()
                );
                if let Some(faults) = s["faults"].as_array() {
                    assert!(
                        faults.len() <= 1000,
                        "{case:?}: {} fault records",
                        faults.len()
                    );
                }
                let _ = partial;
            }
            other => panic!("{case:?}: exit {other:?}: {}", r.stderr),
        }
        let _ = std::fs::remove_dir_all(w.path("out"));
    }
}

#[test]
fn a_redrive_cycle_is_bounded() {
    use mqsim::scenario::{load_str, LoadOptions};
    let text = "[simulation]\nduration = \"1s\"\n[[producer]]\narrival = { process = \"constant\", rate = 10.0 }\n[[queue]]\nmax_deliveries = 1\ndead_letter = true\nredrive = { start = \"0s\", rate = 100000.0 }\n[[consumer]]\nfailure = 1.0\nservice = { dist = \"constant\", mean = \"1us\" }\n";
    let s = load_str(text, "redrive.toml", &LoadOptions::default()).unwrap();
    let m = mqsim::model::compile(&s).unwrap();
    let plan = mqsim::experiment::Plan {
        replications: 1,
        jobs: 1,
        precision: None,
        max_replications: 1,
        limits: Default::default(),
        seed: 1,
        first_replication: 0,
        build: Default::default(),
    };
    let out = mqsim::experiment::run(&m, &plan);
    let summary = out.summary(&m);
    let events = summary["simulation"]["events"].as_f64().unwrap();
    let published = summary["messages"]["published"].as_f64().unwrap();
    // Each message is redriven at most MAX_REDRIVES times, a few events each.
    let bound = published * (mqsim::sim::MAX_REDRIVES as f64 + 1.0) * 10.0 + 10_000.0;
    assert!(events < bound, "{events} events for {published} messages");
    assert_eq!(
        summary["messages"]["dead_lettered"].as_f64().unwrap(),
        published,
        "every message ends dead-lettered"
    );
}

#[test]
fn the_fault_timeline_keeps_the_first_records_and_counts_them_all() {
    let w = Work::new("timeline");
    w.write(
        "f.toml",
        "[simulation]\nduration = \"1h\"\n[[producer]]\narrival = { process = \"poisson\", rate = 1.0 }\n[[queue]]\n[[consumer]]\ncount = 5\nservice = { dist = \"exponential\", mean = \"10ms\" }\n[[fault]]\nkind = \"consumer-crash\"\nmtbf = \"1s\"\nmttr = { dist = \"exponential\", mean = \"100ms\" }\n",
    );
    let r = mqsim(
        &["run", "f.toml", "--out", "out", "-q", "--format", "json"],
        &w.0,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let s: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let kept = s["faults"].as_array().unwrap().len();
    let total = s["faults_total"].as_u64().unwrap();
    assert_eq!(kept, mqsim::sim::FAULT_RECORDS_KEPT, "{total}");
    // 5 instances, one crash a second each: about 18,000 in the hour.
    assert!(total > 10_000, "{total}");
}

#[test]
fn huge_files_and_table_counts_are_refused_early() {
    let w = Work::new("huge");
    let mut text = String::from("[[queue]]\nname = \"q\"\n[[consumer]]\nqueue = \"q\"\n");
    for i in 0..100_000 {
        text.push_str(&format!("[[producer]]\nname = \"p{i}\"\nqueue = \"q\"\n"));
    }
    w.write("tables.toml", &text);
    let started = std::time::Instant::now();
    let r = mqsim(&["run", "tables.toml", "--no-files", "-q"], &w.0);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("tables"), "{}", r.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let mut big = String::from("[simulation]\n");
    while big.len() < 24 * 1024 * 1024 {
        big.push_str("# a comment line that pads the file to many megabytes\n");
    }
    w.write("big.toml", &big);
    let started = std::time::Instant::now();
    let r = mqsim(&["run", "big.toml", "--no-files", "-q"], &w.0);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("MiB"), "{}", r.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// The cases the guard can estimate are refused before the run, with the
/// cause named; what runs today in little memory is not refused.
#[test]
fn the_guard_estimates_queues_topics_slots_windows_and_held_replications() {
    use mqsim::scenario::{load_str, LoadOptions};
    let plan = |replications: u32| mqsim::experiment::Plan {
        replications,
        jobs: 1,
        precision: None,
        max_replications: replications,
        limits: Default::default(),
        seed: 1,
        first_replication: 0,
        build: Default::default(),
    };
    let guard = |text: &str, replications: u32| {
        let s = load_str(text, "g.toml", &LoadOptions::default()).unwrap();
        let m = mqsim::model::compile(&s).unwrap();
        mqsim::experiment::guard::check(&m, &plan(replications), false)
    };
    let queue = "[simulation]\nduration = \"10h\"\n[[producer]]\narrival = { process = \"poisson\", rate = 1000.0 }\n[[queue]]\n[[consumer]]\nservice = { dist = \"constant\", mean = \"10ms\" }\n";
    let topic = "[simulation]\nduration = \"10h\"\n[[producer]]\ntopic = \"t\"\narrival = { process = \"poisson\", rate = 1000.0 }\n[[topic]]\nname = \"t\"\npartitions = 1\n[[consumer]]\ntopic = \"t\"\nservice = { dist = \"constant\", mean = \"10ms\" }\n";
    let slots = "[simulation]\nduration = \"1m\"\n[[producer]]\narrival = { process = \"poisson\", rate = 10.0 }\n[[queue]]\n[[consumer]]\ncount = 100000\nprefetch = 100000\nservice = { dist = \"exponential\", mean = \"10ms\" }\n";
    for (what, text, reps, needle) in [
        ("overloaded queue", queue, 1, "rho > 1"),
        ("overloaded one-partition topic", topic, 1, "rho > 1"),
        ("count x prefetch", slots, 1, "prefetch"),
        ("a million replications", SMALL, 1_000_000, "replication"),
    ] {
        let e = guard(text, reps).expect_err(what);
        assert!(e.contains(needle), "{what}: {e}");
    }
    // Stable, short or small runs pass.
    guard(SMALL, 10).unwrap();
    guard(&queue.replace("10h", "1ms"), 1).unwrap();
    guard(&queue.replace("rate = 1000.0", "rate = 50.0"), 1).unwrap();
}

/// A command whose standard output cannot be written (a full disk behind
/// `> file`) ends with exit 3 and says why; it panicked with a backtrace
/// (exit 101). A reader that goes away (`| head`) ends it quietly with 141.
#[test]
fn standard_output_that_cannot_be_written_is_an_exit_code_not_a_crash() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = std::process::Command::new(bin())
        .args(["run", "scenarios/quickstart.toml", "--no-files"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(full)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot write to standard output: No space left on device"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let mut child = std::process::Command::new(bin())
        .args(["schema"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    drop(child.stdout.take());
    let ran = child.wait_with_output().expect("waits");
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(141), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

/// Results that cannot be written after the run (here every file write
/// fails: `ulimit -f 0`, with SIGXFSZ ignored as a shell's `trap` leaves
/// it) end with exit 3, not 2: the input was good, the write failed.
#[test]
fn results_that_cannot_be_written_exit_3() {
    let work = Work::new("write-failed");
    let out_dir = work.path("out");
    let command = format!(
        "trap '' XFSZ; ulimit -f 0; exec '{}' run scenarios/quickstart.toml --out '{}' -q",
        bin().display(),
        out_dir.display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &command])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("summary.json"), "{stderr}");
    assert!(!out_dir.join("summary.json").exists());
}
