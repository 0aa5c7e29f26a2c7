//! Confident checks: `[expect] confidence` judges each bound at its
//! one-sided limit over the replications (pass, fail, or inconclusive when
//! the interval straddles the bound), and `check --until-decided` adds
//! replications until it is decided, with the verdict a run of that many
//! replications gives.

mod common;
use common::*;
use serde_json::Value;

/// M/M/1 at rho = 0.5 (arrivals 0.5/s, exponential service of mean 1 s):
/// the mean time in the system is 1 / (mu - lambda) = 2 s (a little less
/// measured over half an hour: the messages still in the system at the end
/// are the slow ones, and are not counted).
fn scenario(bound: &str) -> String {
    format!(
        r#"
[simulation]
name = "confident"
duration = "30m"
seed = 7
[[producer]]
arrival = {{ process = "poisson", rate = 0.5 }}
[[queue]]
name = "q"
[[consumer]]
service = {{ dist = "exponential", mean = "1s" }}
[expect]
confidence = 0.95
mean_latency_max = "{bound}"
"#
    )
}

/// `mqsim check` with `--format json`: (exit code, the one verdict).
fn check(dir: &TempDir, bound: &str, extra: &[&str]) -> (i32, Value) {
    let file = dir.write("c.toml", &scenario(bound));
    let mut args = vec![
        "check",
        file.to_str().unwrap(),
        "--no-files",
        "-q",
        "--format",
        "json",
    ];
    args.extend(extra);
    let (code, out, err) = mqsim(&args);
    let o: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, o["verdicts"][0].clone())
}

fn interval(v: &Value) -> (f64, f64) {
    (
        v["interval"][0].as_f64().unwrap(),
        v["interval"][1].as_f64().unwrap(),
    )
}

#[test]
fn a_bound_far_above_the_interval_passes_and_one_below_fails() {
    let dir = TempDir::new("confident-pass-fail");
    let (code, v) = check(&dir, "3s", &["-r", "10"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["judged_at_confidence"], true);
    let (low, high) = interval(&v);
    assert!(high <= 3.0 && low < high, "{v}");
    let estimate = v["measured"].as_f64().unwrap();
    assert!((estimate - 2.0).abs() < 0.3, "M/M/1 mean 2 s: {estimate}");
    let (code, v) = check(&dir, "1.5s", &["-r", "10"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"], "fail");
    assert!(
        interval(&v).0 > 1.5,
        "the lower limit is above the bound: {v}"
    );
}

#[test]
fn a_straddled_bound_is_inconclusive_and_says_how_many_replications_would_decide_it() {
    let dir = TempDir::new("confident-inconclusive");
    let (code, v) = check(&dir, "2.1s", &["-r", "3"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"], "inconclusive");
    let (low, high) = interval(&v);
    assert!(
        low <= 2.1 && 2.1 < high,
        "the interval straddles the bound: {v}"
    );
    // n (h / d)^2 with n = 3, h the half-width, d the distance to the bound.
    let estimate = v["measured"].as_f64().unwrap();
    let want = (3.0 * ((high - estimate) / (2.1 - estimate)).powi(2)).ceil();
    assert_eq!(v["suggested_replications"].as_f64().unwrap(), want, "{v}");
    assert!(
        v["reason"].as_str().unwrap().contains("more replication"),
        "{v}"
    );
    // The mean alone is under the bound: without `confidence` it passes.
    let file = dir.write(
        "m.toml",
        &scenario("2.1s").replace("confidence = 0.95\n", ""),
    );
    let (code, out, _) = mqsim(&[
        "check",
        file.to_str().unwrap(),
        "--no-files",
        "-q",
        "-r",
        "3",
    ]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn until_decided_decides_it_as_a_run_of_that_many_replications_would() {
    let dir = TempDir::new("confident-until");
    let (code, v) = check(&dir, "2.1s", &["-r", "3", "--until-decided", "-j", "1"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verdict"], "pass");
    let n = v["replications"].as_u64().unwrap();
    assert!(n > 3, "{v}");
    // Replication k always runs on stream k: n replications run directly
    // give the same estimate and verdict, for any thread count.
    let count = n.to_string();
    let (code, direct) = check(&dir, "2.1s", &["-r", &count, "-j", "2"]);
    assert_eq!(code, 0);
    assert_eq!(direct, v);
    // A cap below what it needs leaves it inconclusive (exit 1).
    let (code, capped) = check(
        &dir,
        "2.1s",
        &["-r", "3", "--until-decided", "--max-replications", "3"],
    );
    assert_eq!(code, 1);
    assert_eq!(capped["verdict"], "inconclusive");
}

#[test]
fn confidence_is_a_level_between_one_half_and_one() {
    let dir = TempDir::new("confident-refused");
    let file = dir.write("c.toml", &scenario("3s").replace("0.95", "1.5"));
    let (code, _, err) = mqsim(&["check", file.to_str().unwrap(), "--no-files"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("confidence"), "{err}");
    // In a variant's own expectations too.
    let variant = format!(
        "{}\n[[variant]]\nname = \"v\"\nexpect = {{ confidence = 1.0, lost = 0 }}\n",
        scenario("3s")
    );
    let file = dir.write("v.toml", &variant);
    let (code, _, err) = mqsim(&["check", file.to_str().unwrap(), "--no-files"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("confidence"), "{err}");
    let file = dir.write("d.toml", &scenario("3s"));
    let (code, _, err) = mqsim(&[
        "check",
        file.to_str().unwrap(),
        "--no-files",
        "--until-decided",
        "--replication",
        "2",
    ]);
    assert_eq!(code, 2, "{err}");
}

/// JUnit and Markdown carry what a confident verdict rests on: the bound,
/// the estimate, the one-sided limits and the verdict.
#[test]
fn junit_and_markdown_show_the_bound_the_estimate_the_interval_and_the_verdict() {
    let dir = TempDir::new("confident-files");
    let file = dir.write("c.toml", &scenario("2.1s"));
    let (junit, markdown) = (dir.path("junit.xml"), dir.path("check.md"));
    let (code, out, err) = mqsim(&[
        "check",
        file.to_str().unwrap(),
        "--no-files",
        "-q",
        "-r",
        "3",
        "--junit",
        junit.to_str().unwrap(),
        "--markdown",
        markdown.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out} {err}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let property = |name: &str| {
        let start = format!("<property name=\"{name}\" value=\"");
        let at = xml.find(&start).unwrap_or_else(|| panic!("{name}: {xml}")) + start.len();
        xml[at..].split('"').next().unwrap().to_string()
    };
    assert_eq!(property("bound"), "&lt;= 2.100 s", "{xml}");
    let estimate: f64 = property("estimate").parse().unwrap();
    assert!((estimate - 2.0).abs() < 0.3, "{xml}");
    // `[low, high] (95% one-sided limits)`, around the estimate and
    // straddling the bound.
    let interval = property("interval");
    let limits: Vec<f64> = interval
        .strip_suffix(" (95% one-sided limits)")
        .and_then(|t| t.strip_prefix('['))
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or_else(|| panic!("{interval}"))
        .split(", ")
        .map(|x| x.parse().unwrap())
        .collect();
    assert!(
        limits[0] < estimate && estimate < 2.1 && 2.1 < limits[1],
        "{interval}"
    );
    assert_eq!(property("verdict"), "inconclusive");
    assert_eq!(property("confidence"), "0.95");
    let md = std::fs::read_to_string(&markdown).unwrap();
    assert!(
        md.contains("| estimate | interval | bound | verdict |"),
        "{md}"
    );
    let row = md
        .lines()
        .find(|l| l.contains("mean_latency_max"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(
        row.contains("(95% one-sided limits)") && row.ends_with("| inconclusive |"),
        "{row}"
    );
}
