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
    /// Whether the file has anything to say for this report.
    fn applies(&self, _report: &Report) -> bool {
        true
    }
    fn render(&self, report: &Report) -> Result<Vec<u8>, String>;
}

pub fn exporters() -> Vec<Box<dyn Exporter>> {
    vec![
        Box::new(json::SummaryJson),
        Box::new(csv::MetricsCsv),
        Box::new(csv::TimeseriesCsv),
        Box::new(csv::LagCsv),
    ]
}

/// Writes every exporter's file into `dir`.
pub fn write_all(report: &Report, dir: &Path) -> Result<Vec<String>, String> {
    let mut written = Vec::new();
    for e in exporters() {
        if !e.applies(report) {
            continue;
        }
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

/// Draws the charts of a report into `dir`, each as PNG and SVG: the
/// latency CDF per variant, a time series per variant with fault windows
/// shaded, the outcome breakdown, and the retry-orbit occupancy where a
/// producer retries.
pub fn chart_files(report: &Report, dir: &Path) -> Result<Vec<String>, String> {
    use charts::{Series, Window};
    let mut written = Vec::new();
    let mut both = |stem: &str, draw: &dyn Fn(&Path) -> Result<(), String>| -> Result<(), String> {
        for ext in ["png", "svg"] {
            let p = dir.join(format!("{stem}.{ext}"));
            draw(&p)?;
            written.push(p.display().to_string());
        }
        Ok(())
    };
    let title = &report.scenario;
    let cdf: Vec<Series> = report
        .variants
        .iter()
        .map(|v| Series {
            name: v.name.clone(),
            points: v
                .outcome
                .reps
                .first()
                .map(|r| r.latency_cdf.clone())
                .unwrap_or_default(),
        })
        .collect();
    both("latency-cdf", &|p| {
        charts::latency_cdf(p, &format!("{title}: latency CDF (replication 0)"), &cdf)
    })?;
    for v in &report.variants {
        let Some(r) = v.outcome.reps.first() else {
            continue;
        };
        let queue_names: Vec<String> = v
            .summary
            .get("queues")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let mut series = Vec::new();
        for (qi, qn) in queue_names.iter().enumerate() {
            let pts = |f: &dyn Fn(&crate::stats::collect::Sample) -> f64| -> Vec<(f64, f64)> {
                r.samples
                    .iter()
                    .filter(|s| s.queue == qi)
                    .map(|s| (s.time_s, f(s)))
                    .collect()
            };
            series.push(Series {
                name: format!("{qn}: queue length"),
                points: pts(&|s| s.ready as f64),
            });
            series.push(Series {
                name: format!("{qn}: in flight"),
                points: pts(&|s| s.in_flight as f64),
            });
            series.push(Series {
                name: format!("{qn}: waiting to retry"),
                points: pts(&|s| s.waiting_retry as f64),
            });
            series.push(Series {
                name: format!("{qn}: dead-lettered (total)"),
                points: pts(&|s| s.dead_lettered as f64),
            });
        }
        let windows: Vec<Window> = r
            .faults
            .iter()
            .take(200)
            .map(|f| Window {
                start: f.start,
                end: f.end,
                label: f.kind.clone(),
            })
            .collect();
        if !r.lag.is_empty() {
            let mut lag_series: Vec<Series> = Vec::new();
            for row in &r.lag {
                let name = format!("{} / {}", row.topic, row.group);
                let total = row.lag.iter().sum::<u64>() as f64;
                match lag_series.iter_mut().find(|s| s.name == name) {
                    Some(s) => s.points.push((row.time_s, total)),
                    None => lag_series.push(Series {
                        name,
                        points: vec![(row.time_s, total)],
                    }),
                }
            }
            let stem = format!("lag-{}", files::safe_name(&v.name));
            both(&stem, &|p| {
                charts::time_series(
                    p,
                    &format!(
                        "{title} [{}]: consumer lag (records behind the log end)",
                        v.name
                    ),
                    "records",
                    &lag_series,
                    &windows,
                )
            })?;
        }
        let stem = format!("timeseries-{}", files::safe_name(&v.name));
        both(&stem, &|p| {
            charts::time_series(
                p,
                &format!("{title} [{}]: queue state over time", v.name),
                "messages",
                &series,
                &windows,
            )
        })?;
        for (qi, grid) in r.orbit_occupancy.iter().enumerate() {
            if grid.is_empty() {
                continue;
            }
            let cols = crate::stats::collect::ORBIT_O_MAX + 1;
            let rows: Vec<Vec<f64>> = grid.chunks(cols).map(|c| c.to_vec()).collect();
            let last = rows
                .iter()
                .rposition(|r| r.iter().any(|x| *x > 0.0))
                .unwrap_or(0);
            let rows = rows[..=last].to_vec();
            let qn = queue_names.get(qi).cloned().unwrap_or_default();
            let stem = format!(
                "orbit-{}-{}",
                files::safe_name(&v.name),
                files::safe_name(&qn)
            );
            both(&stem, &|p| {
                charts::heatmap(
                    p,
                    &format!(
                        "{title} [{}]: retry-orbit occupancy P(queue, orbit)",
                        v.name
                    ),
                    "requests waiting to retry (orbit)",
                    "messages in the queue",
                    &rows,
                    true,
                )
            })?;
        }
    }
    let categories: Vec<String> = [
        "acked",
        "duplicates",
        "dead_lettered",
        "lost",
        "expired",
        "rejected",
        "in_flight",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let names: Vec<String> = report.variants.iter().map(|v| v.name.clone()).collect();
    let values: Vec<Vec<f64>> = report
        .variants
        .iter()
        .map(|v| {
            categories
                .iter()
                .map(|c| {
                    v.summary
                        .get("messages")
                        .and_then(|m| m.get(c))
                        .and_then(Value::as_f64)
                        .unwrap_or(0.0)
                })
                .collect()
        })
        .collect();
    both("outcomes", &|p| {
        charts::outcome_bars(
            p,
            &format!("{title}: what happened to the messages"),
            "messages (mean per replication)",
            &names,
            &categories,
            &values,
        )
    })?;
    Ok(written)
}

/// Draws one sweep chart per compared metric into `dir`: the mean against
/// the swept value, with the 95% interval as a band, one line per variant.
pub fn sweep_charts(
    rows: &[(Option<String>, VariantResult)],
    param: &str,
    dir: &Path,
) -> Result<Vec<String>, String> {
    let mut written = Vec::new();
    let mut variants: Vec<String> = Vec::new();
    for (_, v) in rows {
        if !variants.contains(&v.name) {
            variants.push(v.name.clone());
        }
    }
    for (label, path, _) in crate::experiment::compare::COMPARED {
        let get = |root: Option<&Value>| {
            let mut cur = root;
            for p in path {
                cur = cur.and_then(|c| c.get(*p));
            }
            cur.and_then(Value::as_f64).unwrap_or(f64::NAN)
        };
        let bands: Vec<charts::Band> = variants
            .iter()
            .map(|name| {
                let mut b = charts::Band {
                    name: name.clone(),
                    ..Default::default()
                };
                for (value, v) in rows.iter().filter(|(_, v)| &v.name == name) {
                    let x: f64 = value
                        .as_deref()
                        .and_then(|s| s.trim_matches('"').parse().ok())
                        .unwrap_or(f64::NAN);
                    let m = get(Some(&Value::Object(v.summary.clone())));
                    let h = get(v.summary.get("ci95"));
                    let h = if h.is_finite() { h } else { 0.0 };
                    b.x.push(x);
                    b.mean.push(m);
                    b.lo.push(m - h);
                    b.hi.push(m + h);
                }
                b
            })
            .collect();
        let stem = format!("sweep-{}", path.join("_"));
        for ext in ["png", "svg"] {
            let p = dir.join(format!("{stem}.{ext}"));
            charts::sweep_curves(
                &p,
                &format!("{label} against {param}"),
                param,
                label,
                &bands,
            )?;
            written.push(p.display().to_string());
        }
    }
    Ok(written)
}
