//! `mqsim check`: runs scenarios (with their variants) and enforces their
//! `[expect]` blocks, for CI. Prints a line per expectation, writes JUnit XML
//! and a Markdown summary, and exits 1 when any expectation fails.

use crate::cli::{self, CheckArgs, Failure};
use crate::report::files::write_atomic;
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
    pub measured: String,
    pub bound: String,
    pub pass: bool,
}

fn get(m: &Map<String, Value>, path: &[&str]) -> Option<f64> {
    let mut cur = m.get(path[0])?;
    for p in &path[1..] {
        cur = cur.get(*p)?;
    }
    cur.as_f64()
}

/// Evaluates every expectation of `e` on a summary (means over replications).
pub fn evaluate(e: &ExpectCfg, s: &Map<String, Value>) -> Vec<(String, String, String, bool)> {
    let mut out = Vec::new();
    let mut max = |name: &str, path: &[&str], bound: Option<f64>, time: bool| {
        if let Some(b) = bound {
            let v = get(s, path);
            let show = |x: f64| if time { human_secs(x) } else { format!("{x}") };
            let pass = v.is_some_and(|v| v <= b + 1e-12);
            out.push((
                name.to_string(),
                v.map_or("none".into(), show),
                format!("<= {}", show(b)),
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
                v.map_or("none".into(), |x| x.to_string()),
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
    let recovered = s
        .get("recovery")
        .and_then(|r| r.get("recovered"))
        .and_then(Value::as_bool);
    let secs = get(s, &["recovery", "seconds"]);
    if let Some(w) = e.recovers_within {
        let pass = recovered == Some(true) && secs.is_some_and(|x| x <= w.secs());
        let measured = match (recovered, secs) {
            (Some(true), Some(x)) => human_secs(x),
            _ => "did not recover".into(),
        };
        out.push((
            "recovers_within".into(),
            measured,
            format!("<= {}", human_secs(w.secs())),
            pass,
        ));
    }
    if let Some(want) = e.recovers {
        out.push((
            "recovers".into(),
            format!("{}", recovered.unwrap_or(false)),
            format!("== {want}"),
            recovered == Some(want),
        ));
    }
    out
}

pub fn command(a: &CheckArgs) -> Result<i32, Failure> {
    if a.files.is_empty() {
        return Err(Failure::input(
            "give one or more scenario files: mqsim check scenarios/*.toml",
        ));
    }
    let mut verdicts: Vec<Verdict> = Vec::new();
    let mut errors: Vec<(String, String)> = Vec::new();
    for file in &a.files {
        let label = file.display().to_string();
        let (raw, overrides, s) = match cli::load(file, &a.common.set) {
            Ok(x) => x,
            Err(f) => {
                eprintln!("ERROR {}", f.message);
                errors.push((label, f.message));
                continue;
            }
        };
        let plan = cli::plan(&s, &a.common)?;
        let mut variants: Vec<(String, crate::scenario::Scenario, Option<ExpectCfg>)> = Vec::new();
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
                let expect =
                    v.expect
                        .clone()
                        .or_else(|| if applies { s.expect.clone() } else { None });
                variants.push((v.name.clone(), vs, expect));
            }
        }
        let mut results = Vec::new();
        for (name, vs, expect) in variants {
            let r = cli::run_variant(&name, &vs, &plan, a.common.force)?;
            if let Some(e) = expect {
                for (what, measured, bound, pass) in evaluate(&e, &r.summary) {
                    println!(
                        "{} {label} [{name}] {what}: {measured} (bound {bound})",
                        if pass { "PASS" } else { "FAIL" }
                    );
                    verdicts.push(Verdict {
                        file: label.clone(),
                        variant: name.clone(),
                        name: what,
                        measured,
                        bound,
                        pass,
                    });
                }
            }
            results.push(r);
        }
        if !a.common.no_files {
            let report = crate::report::Report {
                scenario: s.simulation.name.clone().unwrap_or_default(),
                variants: results,
                comparison: None,
            };
            if let Some(dir) = cli::out_dir(&a.common, &report.scenario) {
                crate::report::write_all(&report, &dir).map_err(Failure::input)?;
            }
        }
    }
    let failed = verdicts.iter().filter(|v| !v.pass).count();
    println!(
        "{} passed, {} failed{}",
        verdicts.len() - failed,
        failed,
        if errors.is_empty() {
            String::new()
        } else {
            format!(", {} scenario errors", errors.len())
        }
    );
    if let Some(p) = &a.junit {
        write_atomic(p, junit(&verdicts, &errors).as_bytes()).map_err(Failure::input)?;
    }
    if let Some(p) = &a.markdown {
        write_atomic(p, markdown(&verdicts, &errors).as_bytes()).map_err(Failure::input)?;
    }
    Ok(if failed > 0 || !errors.is_empty() {
        1
    } else {
        0
    })
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// JUnit XML: one test suite per scenario file, one test case per expectation.
pub fn junit(vs: &[Verdict], errors: &[(String, String)]) -> String {
    let mut files: Vec<&str> = vs
        .iter()
        .map(|v| v.file.as_str())
        .chain(errors.iter().map(|e| e.0.as_str()))
        .collect();
    files.dedup();
    let failures = vs.iter().filter(|v| !v.pass).count();
    let mut out = String::new();
    let _ = writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let _ = writeln!(
        out,
        "<testsuites name=\"mqsim check\" tests=\"{}\" failures=\"{failures}\" errors=\"{}\">",
        vs.len() + errors.len(),
        errors.len()
    );
    for f in files {
        let mine: Vec<&Verdict> = vs.iter().filter(|v| v.file == f).collect();
        let errs: Vec<&(String, String)> = errors.iter().filter(|e| e.0 == f).collect();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
            xml(f),
            mine.len() + errs.len(),
            mine.iter().filter(|v| !v.pass).count(),
            errs.len()
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
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\">measured {}, bound {}</failure>\n    </testcase>",
                    xml(&format!("{} = {} violates {}", v.name, v.measured, v.bound)),
                    xml(&v.measured),
                    xml(&v.bound)
                );
            }
        }
        for (_, e) in errs {
            let _ = writeln!(out, "    <testcase classname=\"{}\" name=\"load\">\n      <error message=\"{}\"/>\n    </testcase>", xml(f), xml(e));
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    let _ = writeln!(out, "</testsuites>");
    out
}

/// A Markdown table for a CI job summary.
pub fn markdown(vs: &[Verdict], errors: &[(String, String)]) -> String {
    let failed = vs.iter().filter(|v| !v.pass).count();
    let mut out = format!(
        "## mqsim check: {} passed, {} failed\n\n",
        vs.len() - failed,
        failed
    );
    out.push_str(
        "| | scenario | variant | expectation | measured | bound |\n|---|---|---|---|---|---|\n",
    );
    for v in vs {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            if v.pass { "✅" } else { "❌" },
            v.file,
            v.variant,
            v.name,
            v.measured,
            v.bound.replace('<', "&lt;")
        );
    }
    for (f, e) in errors {
        let _ = writeln!(out, "| ❌ | {f} | | load | {} | |", e.replace('|', "\\|"));
    }
    out
}
