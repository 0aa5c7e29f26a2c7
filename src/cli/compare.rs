//! `mqsim compare`: every variant on common random numbers (the same
//! replication seeds, so the same arrivals and the same fate for message #n),
//! each metric shown relative to the best, and a paired t-test of each
//! variant against the first.

use super::study::{self, Part, StudySpec};
use crate::cli::{self, Common, CompareArgs, Failure};
use crate::json::at_path;
use crate::report::{self, Report, VariantResult};
use crate::stats::ci::{mean_ci95, paired_t_test};
use crate::stats::summary::{self, Better};
use serde_json::{json, Map, Value};

/// The comparison document: per metric, per variant, mean and interval,
/// ratio to the best, and the paired difference to the first variant.
pub fn comparison(vs: &[VariantResult]) -> Value {
    let mut metrics = Map::new();
    for compared in summary::compared() {
        let (label, path) = (compared.label, compared.path);
        let per = per_replication(vs, path);
        if per.iter().all(|xs| xs.iter().all(Option::is_none)) {
            continue;
        }
        let optional = path.starts_with("ordering.") || path == "messages.processed_after_timeout";
        if optional && per.iter().flatten().all(|x| x.unwrap_or(0.0) == 0.0) {
            continue;
        }
        if path == "messages.goodput" && vs.iter().all(no_client_timeouts) {
            continue;
        }
        let lower_better = compared.better == Better::Lower;
        metrics.insert(label.to_string(), row(vs, path, lower_better, &per));
    }
    for (label, path, lower_better) in autoscaled_rows(vs) {
        let per = per_replication(vs, &path);
        metrics.insert(label, row(vs, &path, lower_better, &per));
    }
    let tests = holm(&mut metrics);
    json!({
        "baseline": vs.first().map(|v| v.name.clone()),
        "common_random_numbers": true,
        "multiple_comparisons": {
            "method": "holm",
            "tests": tests,
            "note": "significant: Holm's step-down adjusted p-value (p_adjusted) below 0.05 over every metric x variant tested, so the chance of any false mark is at most 5%; p_value is the unadjusted paired-t p-value",
        },
        "metrics": metrics,
    })
}

/// Each variant's value of `path` in each replication (none where the
/// replication has no such figure).
fn per_replication(vs: &[VariantResult], path: &str) -> Vec<Vec<Option<f64>>> {
    vs.iter()
        .map(|v| {
            v.outcome
                .reps
                .iter()
                .map(|r| at_path(&r.metrics, path))
                .collect()
        })
        .collect()
}

/// The rows of autoscaled consumer groups (`consumers.<name>`), in the
/// order the variants name them: the instances an autoscaler ran and the
/// instance-seconds they cost, which is what its speed is traded for. A
/// variant whose group has a fixed count has no figure (its cost is
/// `count` times the span).
fn autoscaled_rows(vs: &[VariantResult]) -> Vec<(String, String, bool)> {
    let mut names: Vec<&String> = Vec::new();
    for v in vs {
        if let Some(Value::Object(groups)) = v.summary.get("consumers") {
            for name in groups.keys() {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    let mut rows = Vec::new();
    for name in names {
        rows.push((
            format!("{name} instances mean"),
            format!("consumers.{name}.instances.mean"),
            true,
        ));
        rows.push((
            format!("{name} instances max"),
            format!("consumers.{name}.instances.max"),
            true,
        ));
        rows.push((
            format!("{name} instance-seconds"),
            format!("consumers.{name}.instance_seconds"),
            true,
        ));
    }
    rows
}

/// One metric's row: per variant its mean and interval, its ratio to the
/// best, and the paired test against the first variant.
fn row(vs: &[VariantResult], path: &str, lower_better: bool, per: &[Vec<Option<f64>>]) -> Value {
    // No value at all (e.g. no replication recovered): no mean, not 0.
    // One value: no interval (null, text "n/a"), never ± 0. Quantiles
    // are the summary's (merged histograms, sectioning interval), so
    // `run` and `compare` report the same figure.
    let means: Vec<(f64, f64)> = per
        .iter()
        .zip(vs)
        .map(|(xs, v)| {
            let xs: Vec<f64> = xs.iter().flatten().copied().collect();
            if path.starts_with("latency.") && path != "latency.mean" {
                let interval = format!("ci95.{path}");
                let at = |p: &str| at_path(&v.summary, p).unwrap_or(f64::NAN);
                (at(path), at(&interval))
            } else if xs.is_empty() {
                (f64::NAN, f64::NAN)
            } else if xs.len() == 1 {
                (xs[0], f64::NAN)
            } else {
                mean_ci95(&xs)
            }
        })
        .collect();
    let best = means.iter().map(|m| m.0).filter(|x| x.is_finite()).fold(
        if lower_better {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        },
        |a, b| if lower_better { a.min(b) } else { a.max(b) },
    );
    let mut row = Map::new();
    for (k, v) in vs.iter().enumerate() {
        let (mean, hw) = means[k];
        let ratio = if best != 0.0 && best.is_finite() {
            if lower_better {
                mean / best
            } else if mean > 0.0 {
                best / mean
            } else {
                f64::NAN
            }
        } else {
            f64::NAN
        };
        let mut e = Map::new();
        e.insert("mean".into(), crate::stats::summary::num(mean));
        e.insert("ci95".into(), crate::stats::summary::num(hw));
        e.insert("relative_to_best".into(), crate::stats::summary::num(ratio));
        e.insert("best".into(), json!(mean == best));
        if k > 0 {
            paired(&per[k], &per[0], &mut e);
        }
        row.insert(v.name.clone(), Value::Object(e));
    }
    Value::Object(row)
}

/// The paired t-test of one variant's replications against the first's
/// (replication r with replication r, common random numbers).
fn paired(mine: &[Option<f64>], first: &[Option<f64>], e: &mut Map<String, Value>) {
    let pairs: Vec<(f64, f64)> = mine
        .iter()
        .zip(first)
        .filter_map(|(a, b)| Some(((*a)?, (*b)?)))
        .collect();
    let (a, b): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
    if let Some(t) = paired_t_test(&a, &b) {
        e.insert(
            "diff_vs_first".into(),
            crate::stats::summary::num(t.mean_diff),
        );
        e.insert("diff_ci95".into(), crate::stats::summary::num(t.half_width));
        e.insert("p_value".into(), crate::stats::summary::num(t.p_value));
        e.insert("significant".into(), json!(t.significant));
    }
}

/// Holm's step-down correction (Holm, "A simple sequentially rejective
/// multiple test procedure", Scand. J. Statist. 6, 1979) over every paired
/// test of the comparison: the k-th smallest of m p-values is multiplied
/// by m - k + 1, made monotone, capped at 1. Sets `p_adjusted` and
/// `significant` (adjusted p below 0.05); returns m.
fn holm(metrics: &mut Map<String, Value>) -> usize {
    let mut tests: Vec<(String, String, f64)> = Vec::new();
    for (metric, row) in metrics.iter() {
        for (variant, e) in row.as_object().into_iter().flatten() {
            if let Some(p) = e.get("p_value").and_then(Value::as_f64) {
                tests.push((metric.clone(), variant.clone(), p));
            }
        }
    }
    let mut order: Vec<usize> = (0..tests.len()).collect();
    order.sort_by(|&a, &b| tests[a].2.total_cmp(&tests[b].2));
    let m = tests.len();
    let mut running = 0.0_f64;
    for (k, &i) in order.iter().enumerate() {
        running = running.max(((m - k) as f64 * tests[i].2).min(1.0));
        let (metric, variant, _) = &tests[i];
        if let Some(e) = metrics
            .get_mut(metric)
            .and_then(|r| r.get_mut(variant))
            .and_then(Value::as_object_mut)
        {
            e.insert("p_adjusted".into(), crate::stats::summary::num(running));
            e.insert("significant".into(), json!(running < 0.05));
        }
    }
    m
}

/// Whether no producer of a variant has a client timeout (its goodput is
/// then its throughput, not worth a row).
fn no_client_timeouts(v: &VariantResult) -> bool {
    v.outcome.reps.iter().all(|r| {
        r.metrics
            .get("messages")
            .and_then(|m| m.get("processed_after_timeout"))
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
            == 0.0
    }) && v
        .summary
        .get("markov")
        .and_then(|m| m.get("orbit"))
        .and_then(Value::as_object)
        .is_none_or(|o| o.is_empty())
}

/// The scenario's `[[variant]]`s, each as its name and its overrides in
/// `--set` form.
pub fn scenario_variants(s: &crate::scenario::Scenario) -> Vec<(String, Vec<String>)> {
    s.variants
        .iter()
        .map(|v| {
            let sets = v
                .set
                .iter()
                .map(|(k, val)| format!("{k}={}", toml_inline(val)));
            (v.name.clone(), sets.collect())
        })
        .collect()
}

/// Variants from the scenario and from `--variant NAME:k=v,...`.
pub fn variants(
    s: &crate::scenario::Scenario,
    extra: &[String],
) -> Result<Vec<(String, Vec<String>)>, Failure> {
    let mut out = scenario_variants(s);
    for e in extra {
        let (name, sets) = e.split_once(':').ok_or_else(|| {
            Failure::input(format!("--variant {e}: write NAME:key=value,key=value"))
        })?;
        let sets: Vec<String> = if sets.trim().is_empty() {
            vec![]
        } else {
            sets.split(',').map(|x| x.trim().to_string()).collect()
        };
        crate::scenario::validate::check_variant_name(name).map_err(|m| {
            Failure::input(format!(
                "--variant {}: {m}",
                crate::report::files::printable(e)
            ))
        })?;
        if let Some((other, _)) = out.iter().find(|(n, _)| {
            n != name && crate::report::files::safe_name(n) == crate::report::files::safe_name(name)
        }) {
            return Err(Failure::input(format!(
                "--variant {name}: the variants `{other}` and `{name}` would write the same files; give names that differ in letters, digits, `-`, `_` or `.`"
            )));
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(Failure::input(format!(
                "--variant {e}: a variant named `{name}` exists already"
            )));
        }
        out.push((name.to_string(), sets));
    }
    if out.is_empty() {
        return Err(Failure::input(
            "the scenario has no [[variant]] and no --variant was given: add e.g. --variant fast:consumer.count=8 (and another to compare with)",
        ));
    }
    Ok(out)
}

/// A TOML value written inline, as `--set` reads it back.
pub fn toml_inline(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// The study of a scenario already loaded (its text is reused, not read again).
pub fn spec(
    kind: &str,
    raw: &crate::scenario::load::RawScenario,
    c: &Common,
    variants: Vec<(String, Vec<String>)>,
    plan: &super::Plan,
) -> Result<StudySpec, Failure> {
    let text = raw.text.clone();
    Ok(StudySpec {
        kind: kind.into(),
        file: raw.file.clone(),
        scenario_text: text,
        sets: c.set.clone(),
        variants,
        param: None,
        values: vec![],
        grid: vec![],
        metrics: vec![],
        replications: plan.replications,
        seed: plan.seed,
        allow_outside: raw.access.allow_outside,
    })
}

pub fn command(a: &CompareArgs) -> Result<i32, Failure> {
    let (raw, _, s) = cli::load(&a.file, &a.common.set)?;
    let plan = cli::plan(&s, &a.common)?;
    if a.common.precision.is_some() {
        return Err(Failure::input("--precision is not supported by compare (a sequential rule per variant would break the pairing of replications): give -r R, e.g. the replications `mqsim run --precision` chose for the noisiest variant"));
    }
    let spec = spec(
        "compare",
        &raw,
        &a.common,
        variants(&s, &a.variants)?,
        &plan,
    )?;
    run_study(
        spec,
        &a.common,
        &plan,
        s.simulation.name.clone().unwrap_or_default(),
    )
}

/// Runs a study (or one shard of it) and reports it.
pub fn run_study(
    spec: StudySpec,
    c: &Common,
    plan: &super::Plan,
    name: String,
) -> Result<i32, Failure> {
    let cells = spec.cells()?;
    for cell in &cells {
        crate::experiment::guard::check(&cell.model, plan, c.force).map_err(Failure::input)?;
    }
    let held = spec.job_count(cells.len()) as f64 * crate::experiment::guard::REPLICATION_BYTES;
    if held > crate::experiment::guard::MAX_BYTES && !c.force {
        return Err(Failure::input(format!(
            "this study holds {} replications' results (about {:.1} GiB) until its report: use fewer values, variants or replications, shard it with --shard, or pass --force",
            spec.job_count(cells.len()),
            held / (1024.0 * 1024.0 * 1024.0)
        )));
    }
    if let Some(text) = &c.shard {
        let shard = super::scheduler::resolve_from_environment(text)?;
        return run_shard(spec, &cells, c, plan, &name, shard);
    }
    let folders: Vec<std::path::PathBuf> = cli::out_dir(c, &name).into_iter().collect();
    let _locks = cli::claim_outputs(&folders, &[], &[])?;
    let results = study::run_jobs(&spec, &cells, plan, None);
    finish(&spec, &cells, results, c, &name)
}

/// Runs one shard of a study and writes its part file. The output folder
/// is not locked: the tasks of a job array write their parts into one
/// shared folder at once, each its own `part-i-of-n.json` (written
/// atomically), and `mqsim merge` takes the lock of its own folder.
fn run_shard(
    spec: StudySpec,
    cells: &[study::Cell],
    c: &Common,
    plan: &super::Plan,
    name: &str,
    shard: super::scheduler::Shard,
) -> Result<i32, Failure> {
    let (i, n) = (shard.index, shard.count);
    if c.html {
        return Err(Failure::input(
            "--shard writes a part file, not a report: pass --html to `mqsim merge`, which writes the whole study's report.html",
        ));
    }
    if c.no_files {
        return Err(Failure::input(
            "--shard writes a part file for `mqsim merge`; it cannot be combined with --no-files",
        ));
    }
    let dir = c
        .out
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("output").join(report::files::safe_name(name)));
    report::files::check_folder(&dir, "--out").map_err(Failure::from)?;
    if let (Some(source), false) = (&shard.source, c.quiet) {
        eprintln!(
            "--shard {}: shard {i}/{n} from {source}",
            c.shard.as_deref().unwrap_or("")
        );
    }
    let results = study::run_jobs(&spec, cells, plan, Some((i, n)));
    let part = Part::new(spec, i, n, results);
    let path = dir.join(format!("part-{i}-of-{n}.json"));
    report::export(&study::PartJson, &part, &path).map_err(Failure::from)?;
    if !c.quiet {
        let shown = report::files::printable(&path.display().to_string());
        eprintln!(
            "shard {i}/{n}: {} jobs written to {shown}; combine with: mqsim merge {shown} ... --out DIR",
            part.results.len(),
        );
    }
    Ok(0)
}

/// What produced a study's report: its command and scenario, as the
/// study recorded them (a merge shows the scenario its shards ran).
fn provenance(spec: &StudySpec) -> report::html::Provenance {
    report::html::Provenance {
        command: spec.kind.clone(),
        arguments: std::env::args().collect(),
        scenarios: vec![(spec.file.clone(), spec.scenario_text.clone())],
    }
}

/// Turns complete results into the study's report.
pub fn finish(
    spec: &StudySpec,
    cells: &[study::Cell],
    results: Vec<study::JobResult>,
    c: &Common,
    name: &str,
) -> Result<i32, Failure> {
    let assembled = study::assemble(spec, cells, results)?;
    if spec.kind == "sweep" {
        return super::sweep::report(spec, assembled, c, name);
    }
    let variants: Vec<VariantResult> = assembled.into_iter().map(|(_, v)| v).collect();
    if spec.kind == "run" {
        // A sharded `run`: one variant, reported as `run` reports it.
        let report = Report {
            scenario: name.to_string(),
            variants,
            comparison: None,
        };
        cli::emit(&report, c, provenance(spec))?;
        return Ok(0);
    }
    let comparison = comparison(&variants);
    let report = Report {
        scenario: name.to_string(),
        variants,
        comparison: Some(comparison),
    };
    cli::emit(&report, c, provenance(spec))?;
    Ok(0)
}
