//! `mqsim check`: runs scenarios (with their variants) and enforces their
//! `[expect]` blocks, for CI. Prints a line per expectation, writes JUnit XML
//! and a Markdown summary, and exits 1 when any expectation fails.

use crate::cli::{self, CheckArgs, Failure};
use crate::report::files::{printable, write_atomic};
use crate::scenario::ExpectCfg;
use crate::time::human_secs;
use serde_json::{Map, Value};
use std::fmt::Write;

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
    /// Why the expectation could not be judged (a partial run): such a
    /// verdict neither passes nor fails, and `check` exits 1.
    pub inconclusive: Option<String>,
}

impl Verdict {
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

/// One expectation judged on a summary: (name, measured value, measured
/// as text, bound, pass).
pub type Judged = (String, Option<f64>, String, String, bool);

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

fn get(m: &Map<String, Value>, path: &[&str]) -> Option<f64> {
    let mut cur = m.get(path[0])?;
    for p in &path[1..] {
        cur = cur.get(*p)?;
    }
    cur.as_f64()
}

/// Evaluates every expectation of `e` on a summary (means over replications).
pub fn evaluate(e: &ExpectCfg, s: &Map<String, Value>) -> Vec<Judged> {
    let mut out = Vec::new();
    let mut max = |name: &str, path: &[&str], bound: Option<f64>, time: bool| {
        if let Some(b) = bound {
            let v = get(s, path);
            let show = |x: f64| if time { human_secs(x) } else { four_digits(x) };
            let pass = v.is_some_and(|v| v <= b + 1e-12);
            out.push((
                name.to_string(),
                v,
                v.map_or("none".into(), show),
                format!("<= {}", if time { human_secs(b) } else { format!("{b}") }),
                pass,
            ));
        }
    };
    max(
        "lost",
        &["messages", "lost"],
        e.lost.map(|x| x as f64),
        false,
    );
    max(
        "lost_rate_max",
        &["messages", "loss_rate"],
        e.lost_rate_max,
        false,
    );
    max(
        "duplicate_rate_max",
        &["messages", "duplicate_rate"],
        e.duplicate_rate_max,
        false,
    );
    max(
        "dead_letter_rate_max",
        &["messages", "dead_letter_rate"],
        e.dead_letter_rate_max,
        false,
    );
    max(
        "p99_latency_max",
        &["latency", "p99"],
        e.p99_latency_max.map(|d| d.secs()),
        true,
    );
    max(
        "p50_latency_max",
        &["latency", "p50"],
        e.p50_latency_max.map(|d| d.secs()),
        true,
    );
    max(
        "mean_latency_max",
        &["latency", "mean"],
        e.mean_latency_max.map(|d| d.secs()),
        true,
    );
    max(
        "out_of_order_max",
        &["ordering", "out_of_order"],
        e.out_of_order_max.map(|x| x as f64),
        false,
    );
    let mut min = |name: &str, path: &[&str], bound: Option<f64>| {
        if let Some(b) = bound {
            let v = get(s, path);
            out.push((
                name.to_string(),
                v,
                v.map_or("none".into(), four_digits),
                format!(">= {b}"),
                v.is_some_and(|v| v >= b - 1e-12),
            ));
        }
    };
    min(
        "delivered_min",
        &["messages", "delivered"],
        e.delivered_min.map(|x| x as f64),
    );
    min(
        "lost_min",
        &["messages", "lost"],
        e.lost_min.map(|x| x as f64),
    );
    min(
        "duplicate_rate_min",
        &["messages", "duplicate_rate"],
        e.duplicate_rate_min,
    );
    min(
        "out_of_order_min",
        &["ordering", "out_of_order"],
        e.out_of_order_min.map(|x| x as f64),
    );
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
        out.push((
            "recovers_within".into(),
            f,
            show(f, &format!("recovered within {}", human_secs(w.secs()))),
            format!(">= {:.0}% within {}", 100.0 * need, human_secs(w.secs())),
            f.is_some_and(|f| f >= need - 1e-12),
        ));
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
        out.push(("recovers".into(), f, show(f, "recovered"), bound, pass));
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

pub fn command(a: &CheckArgs) -> Result<i32, Failure> {
    if a.files.is_empty() {
        return Err(Failure::input(
            "give one or more scenario files: mqsim check scenarios/*.toml",
        ));
    }
    if a.common.shard.is_some() {
        return Err(Failure::input(
            "check cannot be sharded: each verdict needs every replication; shard `mqsim run` or `compare` and check the merged summary instead",
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
            println!("SKIP {}: no [expect] block, nothing to check", l.label);
            without_expect.push(l.label.clone());
        }
        let mut results = Vec::new();
        for (name, vs, expect) in l.variants {
            let r = cli::run_variant(&name, &vs, &l.plan, a.common.force)?;
            let partial = r.summary.get("partial") == Some(&Value::Bool(true));
            if let Some(e) = expect {
                for (what, value, measured, bound, pass) in evaluate(&e, &r.summary) {
                    let v = Verdict {
                        file: l.label.clone(),
                        variant: name.clone(),
                        name: what,
                        measured,
                        measured_value: value,
                        bound,
                        pass: pass && !partial,
                        inconclusive: partial.then(|| PARTIAL_REASON.to_string()),
                    };
                    if a.common.format == cli::Format::Text {
                        println!(
                            "{} {} [{name}] {}: {} (bound {}){}",
                            v.word(),
                            l.label,
                            v.name,
                            v.measured,
                            v.bound,
                            v.inconclusive
                                .as_ref()
                                .map(|w| format!(": {w}"))
                                .unwrap_or_default()
                        );
                    }
                    verdicts.push(v);
                }
            }
            results.push(r);
        }
        if let Some(dir) = cli::out_dir(&a.common, &l.name) {
            let report = crate::report::Report {
                scenario: l.name.clone(),
                variants: results,
                comparison: None,
            };
            crate::report::write_all(&report, &dir).map_err(Failure::input)?;
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
    if let Some(p) = &a.junit {
        write_atomic(p, junit(&verdicts, &without_expect).as_bytes()).map_err(Failure::input)?;
    }
    if let Some(p) = &a.markdown {
        write_atomic(p, markdown(&verdicts, &without_expect).as_bytes()).map_err(Failure::input)?;
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
            line.push_str(&format!(
                ", {} inconclusive (partial run)",
                self.inconclusive
            ));
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
            if v.pass {
                let _ = writeln!(out, "/>");
            } else {
                let message = match &v.inconclusive {
                    Some(why) => format!("{} = {} is inconclusive: {why}", v.name, full(v)),
                    None => format!("{} = {} violates {}", v.name, full(v), v.bound),
                };
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\">measured {}, bound {}</failure>\n    </testcase>",
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
        "| | scenario | variant | expectation | measured | bound |\n|---|---|---|---|---|---|\n",
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
            "| {mark} | {} | {} | {} | {} | {} |",
            md_cell(&v.file),
            md_cell(&v.variant),
            md_cell(&v.name),
            md_cell(&v.measured),
            md_cell(&v.bound)
        );
    }
    for f in without_expect {
        let _ = writeln!(
            out,
            "| ➖ skipped | {} | | no [expect] block | | |",
            md_cell(f)
        );
    }
    if vs.iter().any(|v| v.inconclusive.is_some()) {
        let _ = writeln!(out, "\nInconclusive: {PARTIAL_REASON}.");
    }
    out
}
