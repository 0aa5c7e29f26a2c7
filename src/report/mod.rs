//! Reports: the terminal summary, and the files (JSON, CSV, charts) that
//! pandas, spreadsheets and CI read as they are. Each file format is one
//! [`Exporter`]; the files are rewritten whole, atomically.

pub mod charts;
pub mod csv;
pub mod error;
pub mod files;
pub mod html;
pub mod json;
pub mod terminal;

use crate::experiment::Outcome;
pub use error::ReportError;
use serde_json::{Map, Value};
use std::path::Path;

/// The results of one variant (a plain run is one variant, "base").
pub struct VariantResult {
    pub name: String,
    pub outcome: Outcome,
    pub summary: Map<String, Value>,
}

impl VariantResult {
    /// The queues' names in the summary's order, which is the order of
    /// the queue indices in the replications' samples.
    pub fn queue_names(&self) -> Vec<String> {
        self.summary
            .get("queues")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
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
    /// `{ scenario, variants: { name: summary }, comparison, warnings }`.
    pub fn json(&self) -> Value {
        if self.variants.len() == 1 && self.comparison.is_none() {
            return Value::Object(self.variants[0].summary.clone());
        }
        let mut o = Map::new();
        o.insert("scenario".into(), Value::String(self.scenario.clone()));
        if let Some(v) = self.variants.first() {
            for k in ["seed", "replications", "replication"] {
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
        // Every variant's warnings in one list, each tagged with its
        // variant, so that a reader need not walk the variants to learn
        // whether anything was said (each summary keeps its own).
        let warnings: Vec<Value> = self
            .variants
            .iter()
            .flat_map(|v| {
                let list = v.summary.get("warnings").and_then(Value::as_array);
                list.into_iter().flatten().map(move |w| {
                    let mut tagged = Map::new();
                    tagged.insert("variant".into(), Value::String(v.name.clone()));
                    if let Value::Object(fields) = w {
                        tagged.extend(fields.clone());
                    }
                    Value::Object(tagged)
                })
            })
            .collect();
        o.insert("warnings".into(), Value::Array(warnings));
        Value::Object(o)
    }
}

/// One output file format of a document `D`: a run's or comparison's
/// [`Report`] (the default), `check`'s verdicts, a sweep's or an
/// optimisation's table. Every file mqsim writes from a result is rendered
/// by one of these and written by [`export`] (traces stream line by line
/// through the same atomic file instead, see `cli::write_trace`).
pub trait Exporter<D: ?Sized = Report> {
    /// The file's name in an output folder (a flag such as `--junit` may
    /// give it another path).
    fn file_name(&self) -> &'static str;
    /// Whether the file has anything to say for this document.
    fn applies(&self, _document: &D) -> bool {
        true
    }
    fn render(&self, document: &D) -> Result<Vec<u8>, ReportError>;
}

/// The one export path: renders `document` with `exporter` and writes it
/// to `path` atomically (a reader sees the old file or the new one, never
/// half of it).
pub fn export<D: ?Sized>(
    exporter: &dyn Exporter<D>,
    document: &D,
    path: &Path,
) -> Result<(), ReportError> {
    files::write_atomic(path, &exporter.render(document)?)
}

pub fn exporters() -> Vec<Box<dyn Exporter>> {
    vec![
        Box::new(json::SummaryJson),
        Box::new(csv::MetricsCsv),
        Box::new(csv::TimeseriesCsv),
        Box::new(csv::LagCsv),
    ]
}

/// Writes each of `exporters`' files that applies into `dir`; returns
/// their paths.
pub fn write_files<D: ?Sized>(
    document: &D,
    exporters: &[Box<dyn Exporter<D>>],
    dir: &Path,
) -> Result<Vec<String>, ReportError> {
    let mut written = Vec::new();
    for e in exporters {
        if !e.applies(document) {
            continue;
        }
        let path = dir.join(e.file_name());
        export(e.as_ref(), document, &path)?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

/// Writes every file of a run or comparison into `dir`.
pub fn write_all(report: &Report, dir: &Path) -> Result<Vec<String>, ReportError> {
    write_files(report, &exporters(), dir)
}

/// `summary.json` of any document that serialises: pretty, with a final
/// newline (sweep, optimize).
pub struct DocumentJson;

impl Exporter<serde_json::Value> for DocumentJson {
    fn file_name(&self) -> &'static str {
        "summary.json"
    }
    fn render(&self, document: &serde_json::Value) -> Result<Vec<u8>, ReportError> {
        let mut text = serde_json::to_string_pretty(document).map_err(ReportError::render)?;
        text.push('\n');
        Ok(text.into_bytes())
    }
}

/// The comparison table of `mqsim compare`, under the variants: each
/// metric's mean and 95% interval per variant, its ratio to the best (as
/// hyperfine shows relative speed), and the paired difference to the first
/// variant with its p-value.
pub fn terminal_compare(out: &mut String, c: &Value) {
    use std::fmt::Write;
    let base = c.get("baseline").and_then(Value::as_str).unwrap_or("");
    let _ = writeln!(out, "\nComparison on common random numbers (difference paired by replication, against `{base}`)");
    let metrics = c.get("metrics").and_then(Value::as_object);
    // Columns as wide as their longest entry (at least 20 and 22), so that
    // a long label (`cost per million messages (USD)`) keeps its row aligned.
    let metric_width = metrics
        .into_iter()
        .flat_map(|ms| ms.keys())
        .map(|k| k.chars().count())
        .fold(20, usize::max);
    let variant_width = metrics
        .into_iter()
        .flat_map(|ms| ms.values())
        .filter_map(Value::as_object)
        .flat_map(|row| row.keys())
        .map(|k| k.chars().count())
        .fold(22, usize::max);
    let _ = writeln!(
        out,
        "{:<metric_width$} {:<variant_width$} {:>26} {:>9} {:>34}",
        "metric", "variant", "mean ± 95%", "x best", "difference ± 95% (p)"
    );
    let f = |v: Option<&Value>| v.and_then(Value::as_f64).unwrap_or(f64::NAN);
    if let Some(ms) = metrics {
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
                let mean = f(e.get("mean"));
                let cell = if mean.is_finite() {
                    let half = f(e.get("ci95"));
                    if half.is_finite() {
                        format!("{mean:.4} ± {half:.4}")
                    } else {
                        format!("{mean:.4} ± n/a")
                    }
                } else {
                    "—".into()
                };
                let _ = writeln!(
                    out,
                    "{label:<metric_width$} {variant:<variant_width$} {cell:>26} {ratio:>9} {diff:>34}"
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "* significant at the 5% level (paired t-test, Holm-adjusted over all {} tests; p shown unadjusted)",
        c.get("multiple_comparisons")
            .and_then(|m| m.get("tests"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    );
}

/// Draws the charts of a report into `dir`, each as PNG and SVG: the
/// latency CDF per variant, a time series per variant with fault windows
/// shaded, the outcome breakdown, and the retry-orbit occupancy where a
/// producer retries.
pub fn chart_files(report: &Report, dir: &Path) -> Result<Vec<String>, ReportError> {
    Ok(draw_charts(report, Canvas::Folder(dir))?.written)
}

/// The charts of [`chart_files`] as SVG text, for the HTML report.
pub fn inline_charts(report: &Report) -> Result<Vec<html::InlineChart>, ReportError> {
    Ok(draw_charts(report, Canvas::Inline)?.inline)
}

/// Where a report's charts go: PNG and SVG files in a folder, or SVG
/// text kept for the HTML report.
pub enum Canvas<'a> {
    Folder(&'a Path),
    Inline,
}

/// The charts drawn: the files written, or the SVG texts.
#[derive(Default)]
pub struct Drawn {
    pub written: Vec<String>,
    pub inline: Vec<html::InlineChart>,
}

impl Drawn {
    fn put(
        &mut self,
        canvas: &Canvas,
        stem: &str,
        draw: &dyn Fn(charts::Target<'_>) -> Result<(), ReportError>,
    ) -> Result<(), ReportError> {
        match canvas {
            Canvas::Folder(dir) => {
                for ext in ["png", "svg"] {
                    let p = dir.join(format!("{stem}.{ext}"));
                    draw(charts::Target::File(&p))?;
                    self.written.push(p.display().to_string());
                }
            }
            Canvas::Inline => {
                let svg = std::cell::RefCell::new(String::new());
                draw(charts::Target::Svg(&svg))?;
                self.inline.push(html::InlineChart {
                    stem: stem.to_string(),
                    svg: svg.into_inner(),
                });
            }
        }
        Ok(())
    }
}

fn draw_charts(report: &Report, canvas: Canvas) -> Result<Drawn, ReportError> {
    use charts::Series;
    let mut drawn = Drawn::default();
    let mut both = |stem: &str, draw: &dyn Fn(charts::Target<'_>) -> Result<(), ReportError>| {
        drawn.put(&canvas, stem, draw)
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
        variant_charts(v, title, &mut both)?;
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
    Ok(drawn)
}

/// Draws one chart on the canvas under its file stem.
type DrawBoth<'a> = dyn FnMut(&str, &dyn Fn(charts::Target<'_>) -> Result<(), ReportError>) -> Result<(), ReportError>
    + 'a;

/// Draws the charts one variant has: its queues' lengths over time (with
/// fault windows and, where a topic's groups lag, their lag), its
/// consumer instances where a group is autoscaled, and its retry
/// orbit's occupancy.
fn variant_charts(
    v: &VariantResult,
    title: &str,
    both: &mut DrawBoth<'_>,
) -> Result<(), ReportError> {
    use charts::{Series, Window};
    let Some(r) = v.outcome.reps.first() else {
        return Ok(());
    };
    let queue_names = v.queue_names();
    let mut series = Vec::new();
    for (qi, qn) in queue_names.iter().enumerate() {
        let pts = |f: &dyn Fn(&crate::sim::collect::Sample) -> f64| -> Vec<(f64, f64)> {
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
    // Consumer instances over time, in a chart of their own (an axis of
    // a few instances is lost beside thousands of messages), whenever a
    // group is autoscaled (`consumers.<group>.instances` in the summary),
    // even if the autoscaler kept the count: one series per queue with
    // consumers.
    let autoscaled = v
        .summary
        .get("consumers")
        .and_then(Value::as_object)
        .is_some_and(|g| g.values().any(|g| g.get("instances").is_some()));
    let instances: Vec<Series> = (0..queue_names.len())
        .filter(|_| autoscaled)
        .filter_map(|qi| {
            let points: Vec<(f64, f64)> = r
                .samples
                .iter()
                .filter(|s| s.queue == qi)
                .map(|s| (s.time_s, f64::from(s.instances)))
                .collect();
            points.iter().any(|p| p.1 > 0.0).then(|| Series {
                name: format!("{}: consumer instances", queue_names[qi]),
                points,
            })
        })
        .collect();
    if !instances.is_empty() {
        let stem = format!("instances-{}", files::safe_name(&v.name));
        both(&stem, &|p| {
            charts::time_series(
                p,
                &format!("{title} [{}]: consumer instances over time", v.name),
                "instances",
                &instances,
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
    orbit_charts(v, r, &queue_names, title, both)
}

/// The retry orbit's occupancy of each queue with an orbit chain, as a
/// heat map of P(queue, orbit), cut after the last row with mass.
fn orbit_charts(
    v: &VariantResult,
    r: &crate::experiment::Replication,
    queue_names: &[String],
    title: &str,
    both: &mut DrawBoth<'_>,
) -> Result<(), ReportError> {
    for (qi, grid) in r.orbit_occupancy.iter().enumerate() {
        if grid.is_empty() {
            continue;
        }
        let cols = r.orbit_columns.get(qi).copied().unwrap_or(0).max(1);
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
    Ok(())
}

/// A swept value as a number for an axis: the number itself, or a
/// duration in seconds.
fn axis_value(text: &str) -> f64 {
    let t = text.trim().trim_matches('"');
    t.parse()
        .ok()
        .or_else(|| crate::time::Duration::parse(t).ok().map(|d| d.secs()))
        .unwrap_or(f64::NAN)
}

/// Draws the sweep's charts into `dir`, for each reported metric that is
/// not zero (or missing) in every cell: with one parameter, the mean
/// against the value with its 95% band, one line per variant
/// (`sweep-<metric>`); with two, per variant, a heat map over both
/// parameters (`sweep-<metric>[-<variant>]-map`) and the mean against the
/// first parameter, one line per value of the second
/// (`sweep-<metric>[-<variant>]`). With more parameters no chart is drawn
/// (`sweep.csv` has every cell).
pub fn sweep_charts(
    rows: &[Row],
    keys: &[String],
    metrics: &[String],
    canvas: Canvas,
) -> Result<Drawn, ReportError> {
    use crate::json::at_path;
    let mut drawn = Drawn::default();
    if keys.is_empty() || keys.len() > 2 {
        return Ok(drawn);
    }
    let mut variants: Vec<String> = Vec::new();
    for (_, v) in rows {
        if !variants.contains(&v.name) {
            variants.push(v.name.clone());
        }
    }
    let several = variants.len() > 1;
    let mut both = |stem: &str, draw: &dyn Fn(charts::Target<'_>) -> Result<(), ReportError>| {
        drawn.put(&canvas, stem, draw)
    };
    for metric in metrics {
        let mean = |v: &VariantResult| at_path(&v.summary, metric);
        let half = |v: &VariantResult| {
            v.summary
                .get("ci95")
                .and_then(Value::as_object)
                .and_then(|c| at_path(c, metric))
                .filter(|h| h.is_finite())
                .unwrap_or(0.0)
        };
        if rows.iter().all(|(_, v)| mean(v).unwrap_or(0.0) == 0.0) {
            continue;
        }
        let slug = metric.replace('.', "_");
        // Curves: x = the first parameter, one band per line.
        let band = |name: String, cells: Vec<&Row>| {
            let mut b = charts::Band {
                name,
                ..Default::default()
            };
            for (values, v) in cells {
                let m = mean(v).unwrap_or(f64::NAN);
                let h = half(v);
                b.x.push(axis_value(&values[0]));
                b.mean.push(m);
                b.lo.push(m - h);
                b.hi.push(m + h);
            }
            b
        };
        if keys.len() == 1 {
            let bands: Vec<charts::Band> = variants
                .iter()
                .map(|name| {
                    band(
                        name.clone(),
                        rows.iter().filter(|(_, v)| &v.name == name).collect(),
                    )
                })
                .collect();
            both(&format!("sweep-{slug}"), &|p| {
                charts::sweep_curves(
                    p,
                    &format!("{metric} against {}", keys[0]),
                    &keys[0],
                    metric,
                    &bands,
                )
            })?;
            continue;
        }
        for name in &variants {
            let mine: Vec<&Row> = rows.iter().filter(|(_, v)| &v.name == name).collect();
            let mut xs: Vec<String> = Vec::new();
            let mut ys: Vec<String> = Vec::new();
            for (values, _) in &mine {
                if !xs.contains(&values[0]) {
                    xs.push(values[0].clone());
                }
                if !ys.contains(&values[1]) {
                    ys.push(values[1].clone());
                }
            }
            let mut grid = vec![vec![f64::NAN; xs.len()]; ys.len()];
            for (values, v) in &mine {
                let (Some(c), Some(r)) = (
                    xs.iter().position(|x| *x == values[0]),
                    ys.iter().position(|y| *y == values[1]),
                ) else {
                    continue;
                };
                grid[r][c] = mean(v).unwrap_or(f64::NAN);
            }
            let stem = if several {
                format!("sweep-{slug}-{}", files::safe_name(name))
            } else {
                format!("sweep-{slug}")
            };
            let title = if several {
                format!("{metric} [{name}]")
            } else {
                metric.clone()
            };
            let axes = charts::GridAxes {
                x_label: keys[0].clone(),
                y_label: keys[1].clone(),
                x_ticks: xs.clone(),
                y_ticks: ys.clone(),
            };
            both(&format!("{stem}-map"), &|p| {
                charts::grid_heatmap(p, &title, &axes, &grid, metric)
            })?;
            let bands: Vec<charts::Band> = ys
                .iter()
                .map(|y| {
                    band(
                        format!("{} = {y}", keys[1]),
                        mine.iter()
                            .copied()
                            .filter(|(values, _)| &values[1] == y)
                            .collect(),
                    )
                })
                .collect();
            both(&stem, &|p| {
                charts::sweep_curves(
                    p,
                    &format!("{title} against {}", keys[0]),
                    &keys[0],
                    metric,
                    &bands,
                )
            })?;
        }
    }
    Ok(drawn)
}

/// One row of a sweep: every parameter's value, and the variant's result.
pub type Row = (Vec<String>, VariantResult);

/// What a command prints on standard output: readable text or one JSON
/// object (`--format`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A label longer than the metric column keeps the rows aligned.
    #[test]
    fn the_comparison_table_fits_its_longest_label() {
        let row = serde_json::json!({
            "a": { "mean": 1.0, "ci95": 0.1, "relative_to_best": 1.0 },
            "a-variant-with-a-long-name": { "mean": 2.0, "ci95": 0.1, "relative_to_best": 2.0 },
        });
        let c = serde_json::json!({
            "baseline": "a",
            "metrics": { "cost per million messages (USD)": row, "lost": row },
        });
        let mut out = String::new();
        terminal_compare(&mut out, &c);
        let rows: Vec<&str> = out.lines().filter(|l| l.contains(" 1.0000 ± ")).collect();
        assert_eq!(rows.len(), 2, "{out}");
        let column = |l: &str| l.find(" 1.0000 ± ").unwrap();
        assert_eq!(column(rows[0]), column(rows[1]), "{out}");
        let header = out.lines().find(|l| l.starts_with("metric")).unwrap();
        assert!(
            header.find("variant").unwrap() > "cost per million messages (USD)".len(),
            "{out}"
        );
    }
}
