//! `mqsim sweep`: the grid of values of one or more keys (every
//! combination, on common random numbers), by variants, by replications,
//! with one row per cell and charts per metric: curves for one parameter;
//! a heat map and one line per value of the second for two.

use super::compare::run_study;
use super::study::StudySpec;
use crate::cli::{self, Common, Failure, Format, SweepArgs};
use crate::report::{self, Exporter, ReportError, VariantResult};
use serde_json::{json, Map, Value};

/// The metrics a sweep reports when no `--metric` is given.
pub const DEFAULT_METRICS: [&str; 5] = [
    "latency.mean",
    "latency.p99",
    "messages.lost",
    "messages.dead_lettered",
    "recovery.fraction_recovered",
];

pub use crate::json::at_path;
pub use crate::report::Row;

/// Splits a `--values` list at its top-level commas (commas inside
/// braces, brackets or quotes belong to a TOML value).
fn split_values(list: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quote) = (Vec::new(), String::new(), 0i32, false);
    for ch in list.chars() {
        match ch {
            '"' => quote = !quote,
            '{' | '[' if !quote => depth += 1,
            '}' | ']' if !quote => depth -= 1,
            ',' if !quote && depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// A number with its unit: `30s` is (30, "s"), `0.5` is (0.5, "").
pub(crate) fn number_and_unit(text: &str) -> Option<(f64, String)> {
    let t = text.trim();
    let split = t
        .find(|c: char| c.is_ascii_alphabetic() || c == 'µ')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    Some((num.trim().parse().ok()?, unit.trim().to_string()))
}

/// A value with up to 10 significant digits, without trailing zeros.
fn short(x: f64) -> String {
    let s = format!("{:.10e}", x);
    let v: f64 = s.parse().unwrap_or(x);
    let mut t = format!("{v}");
    if t.contains('e') {
        t = format!("{v:.10}");
        while t.contains('.') && (t.ends_with('0') || t.ends_with('.')) {
            t.pop();
        }
    }
    t
}

/// The values of `--range start:end:steps[:log]`. With units (`30s:5m:10`)
/// both ends are durations and the values are written in the start's unit.
fn range_values(r: &str, log: bool) -> Result<Vec<String>, Failure> {
    let bad = |why: &str| {
        Failure::input(format!(
            "--range {r}: {why}; write start:end:steps (2 to 10000 steps), e.g. --range 0.5:1.2:8, --range 30s:300s:10, or start:end:steps:log for geometric steps"
        ))
    };
    let parts: Vec<&str> = r.split(':').collect();
    let log = match parts.len() {
        3 => log,
        4 if parts[3].trim() == "log" => true,
        _ => return Err(bad("not start:end:steps")),
    };
    let (s, su) = number_and_unit(parts[0]).ok_or_else(|| bad("the start is not a number"))?;
    let (e, eu) = number_and_unit(parts[1]).ok_or_else(|| bad("the end is not a number"))?;
    let n: usize = parts[2]
        .trim()
        .parse()
        .map_err(|_| bad("steps is not a count"))?;
    if !(2..=10_000).contains(&n) || !s.is_finite() || !e.is_finite() {
        return Err(bad("out of range"));
    }
    // Durations: both ends in the start's unit.
    let (s, e, unit) = if su.is_empty() && eu.is_empty() {
        (s, e, String::new())
    } else {
        let ns = |t: &str| {
            crate::time::Duration::parse(t)
                .map(|d| d.ns() as f64)
                .map_err(|m| bad(&m))
        };
        let unit = if su.is_empty() { "s".to_string() } else { su };
        let per = ns(&format!("1{unit}"))?;
        (ns(parts[0])? / per, ns(parts[1])? / per, unit)
    };
    if log && !(s > 0.0 && e > 0.0) {
        return Err(bad("geometric steps need a start and an end above 0"));
    }
    Ok((0..n)
        .map(|i| {
            let f = i as f64 / (n - 1) as f64;
            let x = if log {
                s * (e / s).powf(f)
            } else {
                s + (e - s) * f
            };
            format!("{}{unit}", short(x))
        })
        .collect())
}

/// Which of `--values` and `--range` came in which order on the command
/// line (`true` for --values): the i-th --param takes the i-th of them.
fn source_order(a: &SweepArgs) -> Vec<bool> {
    let mut order: Vec<bool> = std::env::args()
        .skip(1)
        .filter_map(|t| {
            if t == "--values" || t.starts_with("--values=") {
                Some(true)
            } else if t == "--range" || t.starts_with("--range=") {
                Some(false)
            } else {
                None
            }
        })
        .collect();
    let counts = (
        order.iter().filter(|x| **x).count(),
        order.iter().filter(|x| !**x).count(),
    );
    if counts != (a.values.len(), a.range.len()) {
        // Not from this process's command line: values first, then ranges.
        order = std::iter::repeat_n(true, a.values.len())
            .chain(std::iter::repeat_n(false, a.range.len()))
            .collect();
    }
    order
}

/// Each `--param` with its values, in order.
fn params(a: &SweepArgs) -> Result<Vec<(String, Vec<String>)>, Failure> {
    let order = source_order(a);
    if order.len() != a.param.len() {
        return Err(Failure::input(format!(
            "{} --param but {} --values/--range: give each --param its own --values a,b,c or --range start:end:steps",
            a.param.len(),
            order.len()
        )));
    }
    let (mut vals, mut ranges) = (a.values.iter(), a.range.iter());
    let mut out = Vec::new();
    for (key, is_values) in a.param.iter().zip(order) {
        let values = if is_values {
            split_values(vals.next().map_or("", String::as_str))
        } else {
            range_values(ranges.next().map_or("", String::as_str), a.log)?
        };
        if values.is_empty() {
            return Err(Failure::input(format!("--param {key}: no values")));
        }
        if out.iter().any(|(k, _): &(String, Vec<String>)| k == key) {
            return Err(Failure::input(format!("--param {key} is given twice")));
        }
        out.push((key.clone(), values));
    }
    Ok(out)
}

pub fn command(a: &SweepArgs) -> Result<i32, Failure> {
    let (raw, _, s) = cli::load(&a.file, &a.common.set)?;
    let plan = cli::plan(&s, &a.common)?;
    let spec = study_spec(a, &raw, &s, &plan)?;
    check_metrics(&a.metric, &s, &plan)?;
    run_study(
        spec,
        &a.common,
        &plan,
        s.simulation.name.clone().unwrap_or_default(),
    )
}

/// Every `--metric` is a path of a run's summary: checked on one
/// replication of the scenario as written (no warm-up), as `optimize`
/// checks its metrics, before the grid spends its runs on a column that
/// would be empty. A path whose value is null there (a recovery time
/// without a fault) is taken; one that is absent is refused, with the
/// nearest path of the summary.
fn check_metrics(
    metrics: &[String],
    s: &crate::scenario::Scenario,
    plan: &crate::experiment::Plan,
) -> Result<(), Failure> {
    if metrics.is_empty() {
        return Ok(());
    }
    let model = cli::compile(s)?;
    let rep = crate::experiment::replicate(&model, plan.seed, 0, 0, plan.limits, plan.build);
    let outcome = crate::experiment::Outcome {
        model_name: model.name.clone(),
        seed: plan.seed,
        warmup_ns: 0,
        warmup_auto: false,
        reps: vec![rep],
        precision: None,
    };
    let summary = outcome.summary(&model);
    let Some(unknown) = metrics
        .iter()
        .find(|m| crate::json::value_at(&summary, m).is_none())
    else {
        return Ok(());
    };
    let mut paths = Vec::new();
    leaf_paths(&Value::Object(summary), String::new(), &mut paths);
    let names: Vec<&str> = paths.iter().map(String::as_str).collect();
    Err(Failure::input(format!(
        "--metric {}: not a path of the summary (paths as in `mqsim run --format json`: latency.p99, messages.duplicate_rate, messages.attempts){}",
        crate::report::files::printable(unknown),
        crate::words::did_you_mean(unknown, &names)
    )))
}

/// The dotted paths of every number, boolean or null under `v` (array
/// items and the `ci95` tree left out: they are not metrics to sweep).
fn leaf_paths(v: &Value, prefix: String, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                if prefix.is_empty() && k == "ci95" {
                    continue;
                }
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_paths(child, path, out);
            }
        }
        Value::Array(_) | Value::String(_) => {}
        _ => out.push(prefix),
    }
}

/// The study a sweep runs: its grid, variants and metrics (`a.file` is
/// not read: `raw` and `s` are the loaded scenario).
pub fn study_spec(
    a: &SweepArgs,
    raw: &crate::scenario::load::RawScenario,
    s: &crate::scenario::Scenario,
    plan: &crate::experiment::Plan,
) -> Result<StudySpec, Failure> {
    if a.common.precision.is_some() {
        return Err(Failure::input("--precision is not supported by sweep (a sequential rule per cell would break the pairing of replications): give -r R"));
    }
    let mut grid = params(a)?;
    let cells: usize = grid.iter().map(|(_, v)| v.len()).product();
    if cells > 100_000 {
        return Err(Failure::input(format!(
            "the grid has {cells} cells: at most 100000"
        )));
    }
    let mut variants = super::compare::scenario_variants(s);
    for name in &a.only {
        if !variants.iter().any(|(n, _)| n == name) {
            return Err(Failure::input(format!(
                "--only {name}: the scenario has no variant `{name}` (it has: {})",
                variants
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    if !a.only.is_empty() {
        variants.retain(|(n, _)| a.only.contains(n));
    }
    if variants.is_empty() {
        variants.push(("base".into(), vec![]));
    }
    let mut spec: StudySpec = super::compare::spec("sweep", raw, &a.common, variants, plan)?;
    let (first, values) = grid.remove(0);
    spec.param = Some(first);
    spec.values = values;
    spec.grid = grid;
    spec.metrics = a.metric.clone();
    Ok(spec)
}

/// The metrics to report: `--metric`, or the defaults.
fn metrics(spec: &StudySpec) -> Vec<String> {
    if spec.metrics.is_empty() {
        DEFAULT_METRICS.iter().map(|s| s.to_string()).collect()
    } else {
        spec.metrics.clone()
    }
}

/// A metric's mean and 95% half-width in one row.
fn metric_of(v: &VariantResult, path: &str) -> (Option<f64>, Option<f64>) {
    let hw = v
        .summary
        .get("ci95")
        .and_then(Value::as_object)
        .and_then(|c| at_path(c, path));
    (at_path(&v.summary, path), hw)
}

/// A sweep's results as its table shows them.
pub struct SweepTable<'a> {
    /// The swept keys, the first outermost.
    pub keys: &'a [String],
    pub metrics: &'a [String],
    pub rows: &'a [Row],
}

/// `sweep.csv`.
pub struct SweepCsv;

impl Exporter<SweepTable<'_>> for SweepCsv {
    fn file_name(&self) -> &'static str {
        "sweep.csv"
    }
    fn render(&self, t: &SweepTable) -> Result<Vec<u8>, ReportError> {
        sweep_csv(t.keys, t.metrics, t.rows).map_err(ReportError::Render)
    }
}

/// `sweep.csv`: one column per parameter, named by its key as written
/// (`queue.ack_timeout`), the variant, and each metric's mean and 95%
/// half-width, named by its path as written (`latency.p99`,
/// `latency.p99_ci95`), one row per cell: the names a reader looks up,
/// as `mqsim.sweep` in Python names its columns.
fn sweep_csv(keys: &[String], metrics: &[String], rows: &[Row]) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = keys.to_vec();
    header.push("variant".into());
    for m in metrics {
        header.push(m.clone());
        header.push(format!("{m}_ci95"));
    }
    w.write_record(&header).map_err(|e| e.to_string())?;
    let cell = |x: Option<f64>| x.map(|x| x.to_string()).unwrap_or_default();
    for (values, v) in rows {
        let mut row = values.clone();
        row.push(v.name.clone());
        for m in metrics {
            let (mean, hw) = metric_of(v, m);
            row.push(cell(mean));
            row.push(cell(hw));
        }
        w.write_record(&row).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// The sweep's table on stdout: one row per cell.
fn text_table(spec: &StudySpec, keys: &[String], metrics: &[String], rows: &[Row], name: &str) {
    let shape: Vec<String> = keys
        .iter()
        .zip(std::iter::once(spec.values.len()).chain(spec.grid.iter().map(|(_, v)| v.len())))
        .map(|(k, n)| format!("{k} over {n} values"))
        .collect();
    println!(
        "mqsim sweep: {name}, {}, {} each",
        shape.join(" x "),
        crate::stats::fit::counted(spec.replications as usize, "replication")
    );
    let mut head: Vec<String> = keys
        .iter()
        .map(|k| format!("{:>14}", k.rsplit('.').next().unwrap_or("")))
        .collect();
    head.push(format!("{:>16}", "variant"));
    head.extend(metrics.iter().map(|m| format!("{:>24}", m)));
    println!("{}", head.join(" "));
    for (values, v) in rows {
        let mut line: Vec<String> = values.iter().map(|x| format!("{x:>14}")).collect();
        line.push(format!("{:>16}", v.name));
        for m in metrics {
            let cell = match metric_of(v, m) {
                (Some(x), Some(h)) if h.is_finite() && h > 0.0 => {
                    format!("{} ± {}", fmt4(x), fmt4(h))
                }
                (Some(x), _) => fmt4(x),
                (None, _) => "—".into(),
            };
            line.push(format!("{cell:>24}"));
        }
        println!("{}", line.join(" "));
    }
}

/// Every cell's warnings, each with the cell (`values`, `variant`) and
/// its message prefixed by the cell, for the "Warnings" block.
fn cell_warnings(keys: &[String], rows: &[Row]) -> Vec<Value> {
    let mut out = Vec::new();
    for (values, v) in rows {
        let cell: Vec<String> = keys
            .iter()
            .zip(values)
            .map(|(k, x)| format!("{k}={x}"))
            .collect();
        let named: Map<String, Value> = keys
            .iter()
            .zip(values)
            .map(|(k, x)| (k.clone(), json!(x)))
            .collect();
        for w in v
            .summary
            .get("warnings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mut w = w.clone();
            let message = w
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            w["message"] = json!(format!("{} [{}]: {message}", cell.join(", "), v.name));
            w["values"] = Value::Object(named.clone());
            w["variant"] = json!(v.name);
            out.push(w);
        }
    }
    out
}

/// 4 significant digits.
fn fmt4(x: f64) -> String {
    if x == 0.0 || (1e-3..1e6).contains(&x.abs()) {
        let digits = (3 - x.abs().log10().floor() as i32).clamp(0, 6) as usize;
        format!("{x:.digits$}")
    } else {
        format!("{x:.3e}")
    }
}

/// The swept keys (the first outermost) and the metrics reported.
fn keys_and_metrics(spec: &StudySpec) -> (Vec<String>, Vec<String>) {
    let mut keys: Vec<String> = spec.param.iter().cloned().collect();
    keys.extend(spec.grid.iter().map(|(k, _)| k.clone()));
    (keys, metrics(spec))
}

/// The sweep's JSON document (`--format json`, `summary.json`).
pub fn document(spec: &StudySpec, rows: &[Row], name: &str) -> Value {
    let (keys, metrics) = keys_and_metrics(spec);
    let results: Vec<Value> = rows
        .iter()
        .map(|(values, v)| {
            let named: Map<String, Value> = keys
                .iter()
                .zip(values)
                .map(|(k, x)| (k.clone(), json!(x)))
                .collect();
            json!({ "value": values.first(), "values": named, "variant": v.name, "summary": Value::Object(v.summary.clone()) })
        })
        .collect();
    let mut params = Map::new();
    params.insert(
        keys.first().cloned().unwrap_or_default(),
        json!(spec.values),
    );
    for (k, v) in &spec.grid {
        params.insert(k.clone(), json!(v));
    }
    let warnings = cell_warnings(&keys, rows);
    json!({
        "scenario": name, "seed": spec.seed, "replications": spec.replications,
        "param": spec.param, "values": spec.values, "params": params, "metrics": metrics,
        "results": results, "warnings": warnings,
    })
}

pub fn report(spec: &StudySpec, rows: Vec<Row>, c: &Common, name: &str) -> Result<i32, Failure> {
    let (keys, metrics) = keys_and_metrics(spec);
    let doc = document(spec, &rows, name);
    let warnings = doc["warnings"].as_array().cloned().unwrap_or_default();
    match c.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default()),
        Format::Text => {
            text_table(spec, &keys, &metrics, &rows, name);
            let mut out = String::new();
            report::terminal::warnings_block(&mut out, Some(&Value::Array(warnings.clone())));
            print!("{}", report::files::printable_lines(&out));
        }
    }
    if let Some(dir) = cli::out_dir(c, name) {
        let json = report::DocumentJson;
        report::export(&json, &doc, &dir.join(json.file_name())).map_err(Failure::from)?;
        let table = SweepTable {
            keys: &keys,
            metrics: &metrics,
            rows: &rows,
        };
        report::export(&SweepCsv, &table, &dir.join(SweepCsv.file_name()))
            .map_err(Failure::from)?;
        if c.charts {
            report::sweep_charts(&rows, &keys, &metrics, report::Canvas::Folder(&dir))
                .map_err(Failure::from)?;
        }
        if c.html {
            let csv = SweepCsv.render(&table).map_err(Failure::from)?;
            html_page(spec, (&keys, &metrics), &rows, &csv, name)
                .and_then(|page| cli::write_html(&page, &dir))?;
        }
        if !c.quiet && c.format == Format::Text {
            eprintln!(
                "wrote {}/summary.json, sweep.csv{}",
                dir.display(),
                if c.charts { " and charts" } else { "" }
            );
        }
    }
    Ok(0)
}

/// The sweep's HTML page: its charts, the table of `sweep.csv`, the
/// warnings of every cell, the fault timeline, the scenario and the
/// command line.
fn html_page(
    spec: &StudySpec,
    (keys, metrics): (&[String], &[String]),
    rows: &[Row],
    csv: &[u8],
    name: &str,
) -> Result<report::html::Page, Failure> {
    let provenance = report::html::Provenance {
        command: "sweep".into(),
        arguments: std::env::args().collect(),
        scenarios: vec![(spec.file.clone(), spec.scenario_text.clone())],
    };
    let mut page = report::html::Page::new(&format!("mqsim sweep: {name}"), provenance);
    let drawn =
        report::sweep_charts(rows, keys, metrics, report::Canvas::Inline).map_err(Failure::from)?;
    page.charts(drawn.inline);
    page.csv_table(
        "sweep",
        "every cell: mean and 95% half-width (sweep.csv)",
        csv,
    );
    let labelled: Vec<(String, &serde_json::Map<String, Value>)> = rows
        .iter()
        .map(|(values, v)| (format!("{}; {}", values.join(", "), v.name), &v.summary))
        .collect();
    page.summary_notes(&labelled);
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_with_units_and_geometric_steps() {
        assert_eq!(
            range_values("30s:300s:4", false).unwrap(),
            vec!["30s", "120s", "210s", "300s"]
        );
        assert_eq!(
            range_values("30s:5m:2", false).unwrap(),
            vec!["30s", "300s"]
        );
        assert_eq!(
            range_values("1:100:3:log", false).unwrap(),
            vec!["1", "10", "100"]
        );
        assert_eq!(
            range_values("0.1:0.3:3", false).unwrap(),
            vec!["0.1", "0.2", "0.3"]
        );
        assert!(range_values("0:10:3", true).is_err());
        assert!(range_values("1:2:1", false).is_err());
        assert!(range_values("1s:2x:3", false).is_err());
    }

    #[test]
    fn values_split_at_top_level_commas() {
        assert_eq!(
            split_values("1,2, { backoff = \"none\", max_attempts = 1 },\"a,b\""),
            vec![
                "1",
                "2",
                "{ backoff = \"none\", max_attempts = 1 }",
                "\"a,b\""
            ]
        );
    }
}
