//! `mqsim sweep`: a grid of values of one key, by variants, by replications,
//! with one row per (value, variant) and a chart per metric.

use super::compare::{run_study, COMPARED};
use super::study::StudySpec;
use crate::cli::{self, Common, Failure, Format, SweepArgs};
use crate::report::{self, VariantResult};
use serde_json::{json, Value};

fn values(a: &SweepArgs) -> Result<Vec<String>, Failure> {
    if let Some(r) = &a.range {
        let parts: Vec<&str> = r.split(':').collect();
        let bad = || {
            Failure::input(format!(
                "--range {r}: write start:end:steps, e.g. --range 0.5:1.2:8"
            ))
        };
        if parts.len() != 3 {
            return Err(bad());
        }
        let (s, e): (f64, f64) = (
            parts[0].parse().map_err(|_| bad())?,
            parts[1].parse().map_err(|_| bad())?,
        );
        let n: usize = parts[2].parse().map_err(|_| bad())?;
        if !(2..=10_000).contains(&n) || !s.is_finite() || !e.is_finite() {
            return Err(bad());
        }
        return Ok((0..n)
            .map(|i| format!("{}", s + (e - s) * i as f64 / (n - 1) as f64))
            .collect());
    }
    if a.values.is_empty() {
        return Err(Failure::input(
            "give --values a,b,c or --range start:end:steps",
        ));
    }
    Ok(a.values.clone())
}

pub fn command(a: &SweepArgs) -> Result<i32, Failure> {
    let (raw, _, s) = cli::load(&a.file, &a.common.set)?;
    let plan = cli::plan(&s, &a.common)?;
    let vals = values(a)?;
    let mut variants: Vec<(String, Vec<String>)> = s
        .variants
        .iter()
        .map(|v| {
            (
                v.name.clone(),
                v.set
                    .iter()
                    .map(|(k, val)| format!("{k}={}", super::compare::toml_inline(val)))
                    .collect(),
            )
        })
        .collect();
    if variants.is_empty() {
        variants.push(("base".into(), vec![]));
    }
    let mut spec: StudySpec = super::compare::spec("sweep", &raw, &a.common, variants, &plan)?;
    spec.param = Some(a.param.clone());
    spec.values = vals;
    run_study(
        spec,
        &a.common,
        &plan,
        s.simulation.name.clone().unwrap_or_default(),
    )
}

/// Columns of `sweep.csv` after `value,variant`: each metric's mean and 95% half-width.
pub fn sweep_csv(rows: &[(Option<String>, VariantResult)]) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["value".to_string(), "variant".to_string()];
    for (_, path, _) in COMPARED {
        let col = path.join("_");
        header.push(col.clone());
        header.push(format!("{col}_ci95"));
    }
    w.write_record(&header).map_err(|e| e.to_string())?;
    for (value, v) in rows {
        let mut row = vec![value.clone().unwrap_or_default(), v.name.clone()];
        for (_, path, _) in COMPARED {
            let get = |root: Option<&Value>| {
                let mut cur = root;
                for p in path {
                    cur = cur.and_then(|c| c.get(*p));
                }
                cur.and_then(Value::as_f64)
                    .map(|x| x.to_string())
                    .unwrap_or_default()
            };
            row.push(get(Some(&Value::Object(v.summary.clone()))));
            row.push(get(v.summary.get("ci95")));
        }
        w.write_record(&row).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

pub fn report(
    spec: &StudySpec,
    rows: Vec<(Option<String>, VariantResult)>,
    c: &Common,
    name: &str,
) -> Result<i32, Failure> {
    let param = spec.param.clone().unwrap_or_default();
    let results: Vec<Value> = rows
        .iter()
        .map(|(value, v)| json!({ "value": value, "variant": v.name, "summary": Value::Object(v.summary.clone()) }))
        .collect();
    let doc = json!({
        "scenario": name, "seed": spec.seed, "replications": spec.replications,
        "param": param, "values": spec.values, "results": results,
    });
    match c.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default()),
        Format::Text => {
            println!(
                "mqsim sweep: {name}, {} over {} values, {} replications each",
                report::files::printable(&param),
                spec.values.len(),
                spec.replications
            );
            println!(
                "{:>14} {:>16} {:>22} {:>22} {:>12} {:>12} {:>14}",
                param.rsplit('.').next().unwrap_or(""),
                "variant",
                "latency mean (s)",
                "latency p99 (s)",
                "lost",
                "dead-letter",
                "recovered"
            );
            for (value, v) in &rows {
                let g = |p: &[&str]| {
                    let mut cur = v.summary.get(p[0]);
                    for k in &p[1..] {
                        cur = cur.and_then(|x| x.get(*k));
                    }
                    cur.and_then(Value::as_f64).unwrap_or(f64::NAN)
                };
                let h = |p: &[&str]| {
                    let mut cur = v.summary.get("ci95");
                    for k in p {
                        cur = cur.and_then(|x| x.get(*k));
                    }
                    cur.and_then(Value::as_f64).unwrap_or(f64::NAN)
                };
                println!(
                    "{:>14} {:>16} {:>22} {:>22} {:>12.1} {:>12.1} {:>14}",
                    report::files::printable(&value.clone().unwrap_or_default()),
                    v.name,
                    format!(
                        "{:.4} ± {:.4}",
                        g(&["latency", "mean"]),
                        h(&["latency", "mean"])
                    ),
                    format!(
                        "{:.4} ± {:.4}",
                        g(&["latency", "p99"]),
                        h(&["latency", "p99"])
                    ),
                    g(&["messages", "lost"]),
                    g(&["messages", "dead_lettered"]),
                    v.summary
                        .get("recovery")
                        .and_then(|r| r.get("recovered"))
                        .map(|x| x.to_string())
                        .unwrap_or_default()
                );
            }
        }
    }
    if let Some(dir) = cli::out_dir(c, name) {
        let mut text =
            serde_json::to_string_pretty(&doc).map_err(|e| Failure::input(e.to_string()))?;
        text.push('\n');
        report::files::write_atomic(&dir.join("summary.json"), text.as_bytes())
            .map_err(Failure::input)?;
        report::files::write_atomic(
            &dir.join("sweep.csv"),
            &sweep_csv(&rows).map_err(Failure::input)?,
        )
        .map_err(Failure::input)?;
        if c.charts {
            report::sweep_charts(&rows, &param, &dir).map_err(Failure::input)?;
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
