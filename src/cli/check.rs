//! `mqsim check`: runs scenarios (with their variants) and enforces their
//! `[expect]` blocks, for CI. Prints a line per expectation, writes JUnit XML
//! and a Markdown summary, and exits 1 when any expectation fails.

use crate::cli::{self, CheckArgs, Failure};
use crate::experiment::confidence::{self, Decision, Side};
use crate::report::files::printable;
use crate::report::{self, Exporter, ReportError};
use crate::scenario::ExpectCfg;
use crate::stats::summary;
use crate::time::human_secs;
use serde_json::{Map, Value};
use std::fmt::Write;

/// What `check` found, as its files show it.
pub struct Checked<'a> {
    pub verdicts: &'a [Verdict],
    /// Scenarios that had no `[expect]`.
    pub without_expect: &'a [String],
}

/// `--junit FILE`: one test case per expectation.
pub struct JunitXml;

impl Exporter<Checked<'_>> for JunitXml {
    fn file_name(&self) -> &'static str {
        "junit.xml"
    }
    fn render(&self, c: &Checked) -> Result<Vec<u8>, ReportError> {
        Ok(junit(c.verdicts, c.without_expect).into_bytes())
    }
}

/// `--markdown FILE`: a table for a pull request or a job summary.
pub struct MarkdownSummary;

impl Exporter<Checked<'_>> for MarkdownSummary {
    fn file_name(&self) -> &'static str {
        "check.md"
    }
    fn render(&self, c: &Checked) -> Result<Vec<u8>, ReportError> {
        Ok(markdown(c.verdicts, c.without_expect).into_bytes())
    }
}

/// One evaluated expectation.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub file: String,
    pub variant: String,
    pub name: String,
    /// The measured value as the text shows it (4 significant digits).
    pub measured: String,
    /// The measured value at full precision (JUnit, JSON), where a number.
    pub measured_value: Option<f64>,
    pub bound: String,
    pub pass: bool,
    /// Why the expectation could not be judged (a partial run, or an
    /// interval that straddles the bound): such a verdict neither passes
    /// nor fails, and `check` exits 1.
    pub inconclusive: Option<String>,
    /// The interval around the estimate: the one-sided limits at
    /// `confidence` where the verdict is judged at them, else the
    /// summary's 95% interval; None with one replication.
    pub interval: Option<(f64, f64)>,
    pub confidence: f64,
    /// Judged at the confidence limit (`[expect] confidence`,
    /// `--until-decided`), else at the estimate.
    pub confident: bool,
    pub replications: usize,
    /// Replications in all that would likely decide an inconclusive one.
    pub suggested_replications: Option<u64>,
    /// The metric is a time in seconds (shown as `1.5 s`, `120 ms`).
    pub seconds: bool,
}

impl Verdict {
    /// A value of this expectation's metric as the text shows it.
    fn show(&self, x: f64) -> String {
        shown(x, self.seconds)
    }

    fn word(&self) -> &'static str {
        if self.inconclusive.is_some() {
            "INCONCLUSIVE"
        } else if self.pass {
            "PASS"
        } else {
            "FAIL"
        }
    }
}

/// One expectation judged on a summary (at its mean).
#[derive(Clone, Debug)]
pub struct Judged {
    pub name: String,
    /// The measured value (None: the summary has none).
    pub value: Option<f64>,
    /// As the text shows it.
    pub measured: String,
    /// As the text shows it (`<= 2s`).
    pub bound: String,
    /// The metric's summary path and the bound, where the expectation is
    /// on one metric (not on the fraction of replications that recover):
    /// such an expectation can be judged at a confidence limit.
    pub limit: Option<(&'static str, Side, f64)>,
    pub pass: bool,
}

/// A value of a metric as the text shows it: a time as a time
/// (`254.795 ms`), anything else with 4 significant digits.
fn shown(x: f64, seconds: bool) -> String {
    if seconds {
        human_secs(x)
    } else {
        four_digits(x)
    }
}

/// A number with 4 significant digits, for the text (`0.0004253`, `12.35`,
/// `1.235e+06`); whole numbers are shown whole.
pub fn four_digits(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e6).contains(&a) {
        return format!("{x:.3e}");
    }
    let digits = if a == 0.0 {
        0
    } else {
        (3 - a.log10().floor() as i32).max(0) as usize
    };
    let text = format!("{x:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Evaluates every expectation of `e` on a summary (means over replications).
pub fn evaluate(e: &ExpectCfg, s: &Map<String, Value>) -> Vec<Judged> {
    let mut out = Vec::new();
    for (name, b) in e.bounds() {
        let (metric, side) = summary::bounded_by(name)
            .unwrap_or_else(|| panic!("[expect] {name} bounds no metric of the registry"));
        let (path, time) = (metric.path, metric.seconds);
        let v = crate::json::at_path(s, path);
        let show = |x: f64| shown(x, time);
        let (word, pass) = match side {
            Side::AtMost => ("<=", v.is_some_and(|v| v <= b + 1e-12)),
            Side::AtLeast => (">=", v.is_some_and(|v| v >= b - 1e-12)),
        };
        let shown_bound = if time { human_secs(b) } else { format!("{b}") };
        out.push(Judged {
            name: name.to_string(),
            value: v,
            measured: v.map_or("none".into(), show),
            bound: format!("{word} {shown_bound}"),
            limit: Some((path, side, b)),
            pass,
        });
    }
    recovery_expectations(e, s, &mut out);
    out
}

/// `recovers` and `recovers_within`, judged over the replications: the
/// fraction that recovered (within the time) against `recovers_in`.
fn recovery_expectations(e: &ExpectCfg, s: &Map<String, Value>, out: &mut Vec<Judged>) {
    let need = e.recovers_in.unwrap_or(1.0);
    let r = s.get("recovery");
    let times: Vec<Option<f64>> = r
        .and_then(|r| r.get("seconds_by_replication"))
        .and_then(Value::as_array)
        .map(|a| a.iter().map(Value::as_f64).collect())
        .unwrap_or_default();
    let judged = r
        .and_then(|r| r.get("replications"))
        .and_then(Value::as_u64)
        .unwrap_or(0) as usize;
    let verdict = r
        .and_then(|r| r.get("verdict"))
        .and_then(Value::as_str)
        .unwrap_or("no recovery report");
    let fraction = |ok: &dyn Fn(f64) -> bool| -> Option<f64> {
        (judged > 0)
            .then(|| times.iter().flatten().filter(|x| ok(**x)).count() as f64 / judged as f64)
    };
    let show = |f: Option<f64>, what: &str| match f {
        Some(f) => format!("{:.0}% of {judged} replications {what}", 100.0 * f),
        None => verdict.to_string(),
    };
    if let Some(w) = e.recovers_within {
        let f = fraction(&|x| x <= w.secs());
        out.push(Judged {
            name: "recovers_within".into(),
            value: f,
            measured: show(f, &format!("recovered within {}", human_secs(w.secs()))),
            bound: format!(">= {:.0}% within {}", 100.0 * need, human_secs(w.secs())),
            limit: None,
            pass: f.is_some_and(|f| f >= need - 1e-12),
        });
    }
    if let Some(want) = e.recovers {
        let f = fraction(&|_| true);
        let (bound, pass) = if want {
            (
                format!(">= {:.0}% recovered", 100.0 * need),
                f.is_some_and(|f| f >= need - 1e-12),
            )
        } else {
            (
                format!("<= {:.0}% recovered", 100.0 * (1.0 - need)),
                f.is_some_and(|f| f <= 1.0 - need + 1e-12),
            )
        };
        out.push(Judged {
            name: "recovers".into(),
            value: f,
            measured: show(f, "recovered"),
            bound,
            limit: None,
            pass,
        });
    }
}

/// A scenario file loaded for `check`: its variants with their expectations.
struct Loaded {
    label: String,
    name: String,
    variants: Vec<(String, crate::scenario::Scenario, Option<ExpectCfg>)>,
    plan: super::Plan,
}

/// Loads one file for `check`, with its variants and the expectation each
/// answers to.
fn load_one(file: &std::path::Path, a: &CheckArgs) -> Result<Loaded, Failure> {
    let (raw, overrides, s) = cli::load(file, &a.common.set)?;
    let plan = cli::plan(&s, &a.common)?;
    let mut variants = Vec::new();
    if s.variants.is_empty() {
        variants.push(("base".into(), s.clone(), s.expect.clone()));
    } else {
        for v in &s.variants {
            let mut ov = overrides.clone();
            for (k, val) in &v.set {
                ov.push(crate::scenario::load::Override {
                    path: k.clone(),
                    value: val.clone(),
                    origin: format!("variant `{}`: {k}", v.name),
                });
            }
            let vs = raw.build(&ov)?;
            let applies = s.expect.as_ref().is_some_and(|e| {
                e.variants
                    .as_ref()
                    .is_none_or(|list| list.contains(&v.name))
            });
            let expect = v
                .expect
                .clone()
                .or_else(|| if applies { s.expect.clone() } else { None });
            variants.push((v.name.clone(), vs, expect));
        }
    }
    for (_, vs, _) in &variants {
        let m = cli::compile(vs)?;
        crate::experiment::guard::check(&m, &plan, a.common.force).map_err(Failure::input)?;
    }
    Ok(Loaded {
        label: printable(&file.display().to_string()),
        name: s.simulation.name.clone().unwrap_or_default(),
        variants,
        plan,
    })
}

/// Why a partial run cannot judge an expectation.
const PARTIAL_REASON: &str =
    "the run stopped early (--max-events, --max-wall, the memory ceiling or Ctrl-C): its figures cover only part of the planned time";

/// The confidence `--until-decided` judges at when `[expect]` gives none.
const DEFAULT_CONFIDENCE: f64 = 0.95;

/// A summary's 95% interval around `value` at `path` (its `ci95`).
fn summary_interval(s: &Map<String, Value>, path: &str, value: Option<f64>) -> Option<(f64, f64)> {
    let half = s
        .get("ci95")
        .and_then(Value::as_object)
        .and_then(|ci| crate::json::at_path(ci, path))?;
    value.map(|v| (v - half, v + half))
}

/// Judges the expectations of one variant on its result: at the mean, or,
/// with a confidence, at its one-sided limits over the replications.
fn judge_variant(
    e: &ExpectCfg,
    r: &crate::report::VariantResult,
    file: &str,
    until_decided: bool,
) -> Vec<Verdict> {
    let partial = r.summary.get("partial") == Some(&Value::Bool(true));
    let level = e.confidence.or(until_decided.then_some(DEFAULT_CONFIDENCE));
    let reps = &r.outcome.reps;
    let mut out = Vec::new();
    for j in evaluate(e, &r.summary) {
        let mut v = Verdict {
            file: file.to_string(),
            variant: r.name.clone(),
            name: j.name.clone(),
            measured: j.measured.clone(),
            measured_value: j.value,
            bound: j.bound.clone(),
            pass: j.pass,
            inconclusive: None,
            interval: None,
            confidence: 0.95,
            confident: false,
            replications: reps.len(),
            suggested_replications: None,
            seconds: j
                .limit
                .is_some_and(|(path, _, _)| summary::metric(path).is_some_and(|m| m.seconds)),
        };
        match (j.limit, level) {
            (Some((path, side, bound)), Some(c)) => {
                let values: Vec<f64> = reps
                    .iter()
                    .map(|rep| crate::json::at_path(&rep.metrics, path).unwrap_or(f64::NAN))
                    .collect();
                let k = confidence::judge(&values, side, bound, c);
                let seconds = v.seconds;
                v.confident = true;
                v.confidence = c;
                v.measured_value = k.estimate.is_finite().then_some(k.estimate);
                v.measured = v.measured_value.map_or("none".into(), |x| v.show(x));
                v.interval = k.half_width.is_finite().then(|| k.interval());
                v.pass = k.decision == Decision::Pass;
                v.suggested_replications = k.suggested_replications;
                if k.decision == Decision::Inconclusive {
                    v.inconclusive = Some(straddle_reason(&k, c, seconds));
                }
            }
            (Some((path, _, _)), None) => {
                v.interval = summary_interval(&r.summary, path, j.value);
            }
            _ => {}
        }
        // Every bounded metric is a count, rate, time or price: none is
        // below 0, and neither is an interval's lower end. (Clamping
        // decides nothing: a bound of at least b >= 0 passes on the same
        // side of it.)
        v.interval = v.interval.map(|(low, high)| (low.max(0.0), high));
        if partial {
            v.pass = false;
            v.inconclusive = Some(PARTIAL_REASON.to_string());
        }
        out.push(v);
    }
    out
}

/// Why a confident expectation is inconclusive, and what would decide it.
fn straddle_reason(k: &confidence::Judgement, c: f64, seconds: bool) -> String {
    let (low, high) = k.interval();
    let show = |x: f64| shown(x.max(0.0), seconds);
    let limits = if k.half_width.is_finite() {
        format!(
            "its {}% one-sided limits, {} to {}, lie on both sides of the bound",
            100.0 * c,
            show(low),
            show(high)
        )
    } else {
        format!(
            "{} replication{} cannot give an interval",
            k.replications,
            if k.replications == 1 { "" } else { "s" }
        )
    };
    match k.suggested_replications {
        Some(total) => format!(
            "{limits}; the interval suggests about {} more replication{} (n (half-width / distance to the bound)^2 = {total} in all)",
            total - k.replications as u64,
            if total - k.replications as u64 == 1 { "" } else { "s" }
        ),
        None => format!("{limits}; more replications (--until-decided) would narrow it"),
    }
}

/// Runs a variant and judges it; with `--until-decided`, adds replications
/// (replication k always on stream k, so a count's verdict is that of a run
/// of that many) until every expectation is decided or `--max-replications`.
fn run_judged(
    name: &str,
    scenario: &crate::scenario::Scenario,
    expect: Option<&ExpectCfg>,
    plan: &super::Plan,
    a: &CheckArgs,
    file: &str,
) -> Result<(crate::report::VariantResult, Vec<Verdict>), Failure> {
    let model = cli::compile(scenario)?;
    let outcome = crate::experiment::run(&model, plan);
    let mut r = crate::report::VariantResult {
        name: name.into(),
        summary: outcome.summary(&model),
        outcome,
    };
    let cap = a.common.max_replications;
    loop {
        let verdicts =
            expect.map_or_else(Vec::new, |e| judge_variant(e, &r, file, a.until_decided));
        let open: Vec<Option<u64>> = verdicts
            .iter()
            .filter(|v| v.confident && v.inconclusive.is_some())
            .map(|v| v.suggested_replications)
            .collect();
        let partial = r.summary.get("partial") == Some(&Value::Bool(true));
        let n = r.outcome.reps.len() as u32;
        if !a.until_decided || open.is_empty() || partial || n >= cap {
            return Ok((r, verdicts));
        }
        let to = confidence::next_count(n, &open, cap);
        let more =
            crate::experiment::run_range(&model, plan.seed, n, to, r.outcome.warmup_ns, plan);
        r.outcome.reps.extend(more);
        r.summary = r.outcome.summary(&model);
    }
}

/// The text line of a verdict.
fn text_line(v: &Verdict) -> String {
    let interval = match v.interval {
        Some((low, high)) => format!(
            "{} {}: {} to {} over {} replications; ",
            if v.confident {
                "judged at"
            } else {
                "95% interval"
            },
            if v.confident {
                format!("{}%", 100.0 * v.confidence)
            } else {
                String::new()
            },
            v.show(low),
            v.show(high),
            v.replications
        )
        .replace(" : ", ": "),
        None => String::new(),
    };
    format!(
        "{} {} [{}] {}: {} ({interval}bound {}){}",
        v.word(),
        v.file,
        v.variant,
        v.name,
        v.measured,
        v.bound,
        v.inconclusive
            .as_ref()
            .map(|w| format!(": {w}"))
            .unwrap_or_default()
    )
}

pub fn command(a: &CheckArgs) -> Result<i32, Failure> {
    if a.files.is_empty() {
        return Err(Failure::input(
            "give one or more scenario files: mqsim check scenarios/*.toml",
        ));
    }
    #[cfg(feature = "live")]
    if a.live {
        return crate::cli::check_live::command(a);
    }
    if a.common.shard.is_some() {
        return Err(Failure::input(
            "check cannot be sharded: each verdict needs every replication; shard `mqsim run` or `compare` and check the merged summary instead",
        ));
    }
    if a.until_decided && (a.common.replication.is_some() || a.common.precision.is_some()) {
        return Err(Failure::input(
            "--until-decided chooses the replications itself: it cannot be combined with --replication or --precision",
        ));
    }
    // Every file loads, and every destination is checked, before any run.
    let loaded: Vec<Loaded> = a
        .files
        .iter()
        .map(|f| load_one(f, a))
        .collect::<Result<_, _>>()?;
    let folders: Vec<std::path::PathBuf> = loaded
        .iter()
        .filter_map(|l| cli::out_dir(&a.common, &l.name))
        .collect();
    let mut files: Vec<(&std::path::Path, &str)> = Vec::new();
    if let Some(p) = &a.junit {
        files.push((p, "--junit"));
    }
    if let Some(p) = &a.markdown {
        files.push((p, "--markdown"));
    }
    let inputs: Vec<&std::path::Path> = a.files.iter().map(|f| f.as_path()).collect();
    let _locks = cli::claim_outputs(&folders, &files, &inputs)?;
    let mut verdicts: Vec<Verdict> = Vec::new();
    let mut without_expect: Vec<String> = Vec::new();
    for (l, file) in loaded.into_iter().zip(&a.files) {
        let first_verdict = verdicts.len();
        if l.variants.iter().all(|(_, _, e)| e.is_none()) {
            // On stderr under --format json, whose stdout is one document
            // (the skipped scenario is in it: `without_expect`).
            let line = format!("SKIP {}: no [expect] block, nothing to check", l.label);
            if a.common.format == cli::Format::Text {
                println!("{line}");
            } else {
                eprintln!("{line}");
            }
            without_expect.push(l.label.clone());
        }
        let mut results = Vec::new();
        for (name, vs, expect) in l.variants {
            let (r, judged) = run_judged(&name, &vs, expect.as_ref(), &l.plan, a, &l.label)?;
            if a.common.format == cli::Format::Text {
                for v in &judged {
                    println!("{}", text_line(v));
                }
            }
            verdicts.extend(judged);
            results.push(r);
        }
        if let Some(dir) = cli::out_dir(&a.common, &l.name) {
            let report = crate::report::Report {
                scenario: l.name.clone(),
                variants: results,
                comparison: None,
            };
            crate::report::write_all(&report, &dir).map_err(Failure::from)?;
            if a.common.html {
                let provenance = crate::report::html::Provenance::of_process("check", &[file]);
                let mut page = cli::report_page(&report, provenance)?;
                page.table(verdict_table(&verdicts[first_verdict..]));
                cli::write_html(&page, &dir)?;
            }
        }
    }
    let counts = Counts::of(&verdicts, without_expect.len());
    match a.common.format {
        cli::Format::Text => println!("{}", counts.line()),
        cli::Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json_report(&verdicts, &counts, &without_expect))
                .unwrap_or_default()
        ),
    }
    let document = Checked {
        verdicts: &verdicts,
        without_expect: &without_expect,
    };
    let files: [(&Option<std::path::PathBuf>, &dyn Exporter<Checked>); 2] =
        [(&a.junit, &JunitXml), (&a.markdown, &MarkdownSummary)];
    for (path, exporter) in files {
        if let Some(p) = path {
            report::export(exporter, &document, p).map_err(Failure::from)?;
        }
    }
    Ok(if counts.failed > 0 || counts.inconclusive > 0 {
        1
    } else {
        0
    })
}

/// The verdicts of one scenario as a table of the HTML report.
fn verdict_table(verdicts: &[Verdict]) -> crate::report::html::Table {
    crate::report::html::Table {
        id: "expectations".into(),
        caption: "expectations ([expect])".into(),
        header: ["expectation", "variant", "measured", "bound", "verdict"]
            .map(String::from)
            .to_vec(),
        rows: verdicts
            .iter()
            .map(|v| {
                let mut word = v.word().to_string();
                if let Some(why) = &v.inconclusive {
                    word.push_str(&format!(": {why}"));
                }
                vec![
                    v.name.clone(),
                    v.variant.clone(),
                    v.measured.clone(),
                    v.bound.clone(),
                    word,
                ]
            })
            .collect(),
    }
}

/// The tally of a `check`.
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub inconclusive: usize,
    pub without_expect: usize,
}

impl Counts {
    fn of(vs: &[Verdict], without_expect: usize) -> Counts {
        let inconclusive = vs.iter().filter(|v| v.inconclusive.is_some()).count();
        let passed = vs.iter().filter(|v| v.pass).count();
        Counts {
            passed,
            failed: vs.len() - passed - inconclusive,
            inconclusive,
            without_expect,
        }
    }

    /// `3 passed, 1 failed, 2 inconclusive, 1 file without [expect]`.
    pub fn line(&self) -> String {
        let mut line = format!("{} passed, {} failed", self.passed, self.failed);
        if self.inconclusive > 0 {
            line.push_str(&format!(", {} inconclusive", self.inconclusive));
        }
        if self.without_expect > 0 {
            line.push_str(&format!(
                ", {} file{} without [expect]",
                self.without_expect,
                if self.without_expect == 1 { "" } else { "s" }
            ));
        }
        line
    }
}

/// `--format json`: every verdict with its measured value at full precision.
fn json_report(vs: &[Verdict], counts: &Counts, without_expect: &[String]) -> Value {
    let verdicts: Vec<Value> = vs
        .iter()
        .map(|v| {
            serde_json::json!({
                "file": v.file, "variant": v.variant, "expectation": v.name,
                "verdict": v.word().to_ascii_lowercase(),
                "measured": v.measured_value.map_or(Value::String(v.measured.clone()), crate::stats::summary::num),
                "bound": v.bound, "reason": v.inconclusive,
                "interval": v.interval.map(|(l, h)| vec![crate::stats::summary::num(l), crate::stats::summary::num(h)]),
                "confidence": v.confidence, "judged_at_confidence": v.confident,
                "replications": v.replications,
                "suggested_replications": v.suggested_replications,
            })
        })
        .collect();
    serde_json::json!({
        "passed": counts.passed, "failed": counts.failed,
        "inconclusive": counts.inconclusive,
        "files_without_expect": without_expect,
        "verdicts": verdicts,
    })
}

/// Text for XML: markup escaped, and control characters (not allowed in
/// XML 1.0) shown as `\u{..}`.
fn xml(s: &str) -> String {
    printable(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The measured value for JUnit: full precision where it is a number.
fn full(v: &Verdict) -> String {
    v.measured_value
        .map_or(v.measured.clone(), |x| format!("{x}"))
}

/// JUnit XML: one test suite per scenario file, one test case per
/// expectation; an inconclusive one is a failure whose message says why, and
/// a file without `[expect]` is one skipped test case.
pub fn junit(vs: &[Verdict], without_expect: &[String]) -> String {
    let mut files: Vec<&str> = vs
        .iter()
        .map(|v| v.file.as_str())
        .chain(without_expect.iter().map(String::as_str))
        .collect();
    files.dedup();
    let failures = vs.iter().filter(|v| !v.pass).count();
    let mut out = String::new();
    let _ = writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let _ = writeln!(
        out,
        "<testsuites name=\"mqsim check\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{}\">",
        vs.len() + without_expect.len(),
        without_expect.len()
    );
    for f in files {
        let mine: Vec<&Verdict> = vs.iter().filter(|v| v.file == f).collect();
        let skipped = without_expect.iter().any(|w| w == f);
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">",
            xml(f),
            mine.len() + usize::from(skipped),
            mine.iter().filter(|v| !v.pass).count(),
            usize::from(skipped)
        );
        for v in mine {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}: {}\"",
                xml(f),
                xml(&v.variant),
                xml(&v.name)
            );
            let _ = writeln!(out, ">\n      <properties>");
            for (key, value) in properties(v) {
                let _ = writeln!(
                    out,
                    "        <property name=\"{key}\" value=\"{}\"/>",
                    xml(&value)
                );
            }
            let _ = writeln!(out, "      </properties>");
            if v.pass {
                let _ = writeln!(out, "    </testcase>");
            } else {
                let message = match &v.inconclusive {
                    Some(why) => format!("{} = {} is inconclusive: {why}", v.name, full(v)),
                    None => format!("{} = {} violates {}", v.name, full(v), v.bound),
                };
                let _ = writeln!(
                    out,
                    "      <failure message=\"{}\">measured {}, bound {}</failure>\n    </testcase>",
                    xml(&message),
                    xml(&full(v)),
                    xml(&v.bound)
                );
            }
        }
        if skipped {
            let _ = writeln!(out, "    <testcase classname=\"{}\" name=\"expect\">\n      <skipped message=\"no [expect] block, nothing to check\"/>\n    </testcase>", xml(f));
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    let _ = writeln!(out, "</testsuites>");
    out
}

/// The interval as text: `[low, high]`, or `n/a` with one replication.
fn interval_text(v: &Verdict, digits: &dyn Fn(f64) -> String) -> String {
    match v.interval {
        Some((low, high)) => format!("[{}, {}] {}", digits(low), digits(high), v.limit_label()),
        None if v.replications < 2 => "n/a (1 replication)".into(),
        None => "n/a".into(),
    }
}

impl Verdict {
    /// What the interval is: `95% limits` (judged at them) or `95% CI`.
    fn limit_label(&self) -> String {
        if self.confident {
            format!("({}% one-sided limits)", 100.0 * self.confidence)
        } else {
            "(95% interval)".into()
        }
    }
}

/// The JUnit properties of a verdict: bound, estimate, interval, verdict.
fn properties(v: &Verdict) -> Vec<(&'static str, String)> {
    let mut p = vec![
        ("bound", v.bound.clone()),
        ("estimate", full(v)),
        ("interval", interval_text(v, &|x| format!("{x}"))),
        ("verdict", v.word().to_ascii_lowercase()),
        ("replications", v.replications.to_string()),
    ];
    if v.confident {
        p.push(("confidence", format!("{}", v.confidence)));
    }
    if let Some(n) = v.suggested_replications {
        p.push(("suggested_replications", n.to_string()));
    }
    p
}

/// A Markdown table cell: `|` escaped, HTML markup shown as text, control
/// characters escaped, so that a name cannot break the table or inject
/// markup into a CI job summary.
pub fn md_cell(s: &str) -> String {
    printable(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
}

/// A Markdown table for a CI job summary.
pub fn markdown(vs: &[Verdict], without_expect: &[String]) -> String {
    let counts = Counts::of(vs, without_expect.len());
    let mut out = format!("## mqsim check: {}\n\n", md_cell(&counts.line()));
    out.push_str(
        "| | scenario | variant | expectation | estimate | interval | bound | verdict |\n|---|---|---|---|---|---|---|---|\n",
    );
    for v in vs {
        let mark = if v.inconclusive.is_some() {
            "❔ inconclusive"
        } else if v.pass {
            "✅"
        } else {
            "❌"
        };
        let _ = writeln!(
            out,
            "| {mark} | {} | {} | {} | {} | {} | {} | {} |",
            md_cell(&v.file),
            md_cell(&v.variant),
            md_cell(&v.name),
            md_cell(&v.measured),
            md_cell(&interval_text(v, &|x| v.show(x))),
            md_cell(&v.bound),
            md_cell(&v.word().to_ascii_lowercase())
        );
    }
    for f in without_expect {
        let _ = writeln!(
            out,
            "| ➖ skipped | {} | | no [expect] block | | | | |",
            md_cell(f)
        );
    }
    for v in vs {
        if let Some(why) = &v.inconclusive {
            let _ = writeln!(
                out,
                "\nInconclusive, {} [{}] {}: {}.",
                md_cell(&v.file),
                md_cell(&v.variant),
                md_cell(&v.name),
                md_cell(why)
            );
        }
    }
    out
}
