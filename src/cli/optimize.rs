//! `mqsim optimize`: the flags, their parsing into the experiment layer's
//! plain search, and the report (text, JSON, `optimize.csv`, a `[[variant]]`
//! snippet to paste into the scenario).

use super::{Common, Failure, Format};
use crate::experiment::optimize::{
    self, Candidate, Constraint, Found, Objective, Param, Relation, Search, Space, Target,
};
use crate::report::files::printable;
use clap::Args;
use serde_json::{json, Map, Value};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct OptimizeArgs {
    pub file: PathBuf,
    /// A key to choose and its space: KEY=LOW:HIGH (with units where the key
    /// has them, e.g. queue.ack_timeout=1s:30s; KEY=LOW:HIGH:log for a
    /// geometric scale), KEY=1..10 (whole numbers), KEY=a,b,c (choices).
    /// Repeatable.
    #[arg(long, required = true, value_name = "KEY=SPACE")]
    pub param: Vec<String>,
    /// A metric to minimise: a JSON path of the summary (latency.p99,
    /// messages.attempts) or one of the --param keys (the smallest value
    /// that meets the constraints). Once, or twice with --maximize for a
    /// Pareto front.
    #[arg(long, value_name = "METRIC")]
    pub minimize: Vec<String>,
    /// A metric to maximise (as --minimize).
    #[arg(long, value_name = "METRIC")]
    pub maximize: Vec<String>,
    /// A constraint, 'METRIC <= VALUE' (or >=, ==): it holds for a setting
    /// only when its one-sided 95% confidence bound does. Repeatable.
    #[arg(long = "subject-to", value_name = "'METRIC <= VALUE'")]
    pub subject_to: Vec<String>,
    /// Simulation runs (replications) the search may spend.
    #[arg(long, default_value_t = 300)]
    pub budget: u32,
    #[command(flatten)]
    pub common: Common,
}

use super::sweep::number_and_unit;

/// `KEY=SPACE` of `--param`.
fn parse_param(text: &str) -> Result<Param, Failure> {
    let bad = |why: &str| {
        Failure::input(format!(
            "--param {text}: {why}; write KEY=LOW:HIGH (e.g. queue.ack_timeout=1s:30s, or LOW:HIGH:log), KEY=1..10, or KEY=a,b,c"
        ))
    };
    let (key, space) = text.split_once('=').ok_or_else(|| bad("no `=`"))?;
    let (key, space) = (key.trim().to_string(), space.trim());
    if key.is_empty() {
        return Err(bad("no key"));
    }
    if let Some((low, high)) = space.split_once("..") {
        let low: i64 = low
            .trim()
            .parse()
            .map_err(|_| bad("the low end is not a whole number"))?;
        let high: i64 = high
            .trim()
            .parse()
            .map_err(|_| bad("the high end is not a whole number"))?;
        if low >= high {
            return Err(bad("the low end must be below the high end"));
        }
        return Ok(Param {
            key,
            space: Space::Integer { low, high },
        });
    }
    if space.contains(',') {
        let values: Vec<String> = space.split(',').map(|v| v.trim().to_string()).collect();
        if values.iter().any(String::is_empty) {
            return Err(bad("an empty choice"));
        }
        return Ok(Param {
            key,
            space: Space::Choice(values),
        });
    }
    let parts: Vec<&str> = space.split(':').collect();
    let log = match parts.len() {
        2 => false,
        3 if parts[2].trim() == "log" => true,
        _ => return Err(bad("not a space")),
    };
    let (low, low_unit) =
        number_and_unit(parts[0]).ok_or_else(|| bad("the low end is not a number"))?;
    let (high, high_unit) =
        number_and_unit(parts[1]).ok_or_else(|| bad("the high end is not a number"))?;
    let (low, high, unit) = if low_unit.is_empty() && high_unit.is_empty() {
        (low, high, String::new())
    } else {
        let ns = |t: &str| {
            crate::time::Duration::parse(t)
                .map(|d| d.ns() as f64)
                .map_err(|m| bad(&m))
        };
        let unit = if low_unit.is_empty() {
            "s".to_string()
        } else {
            low_unit
        };
        let per = ns(&format!("1{unit}"))?;
        (ns(parts[0])? / per, ns(parts[1])? / per, unit)
    };
    if !(low.is_finite() && high.is_finite() && low < high) {
        return Err(bad("the low end must be below the high end"));
    }
    if log && low <= 0.0 {
        return Err(bad("a geometric scale needs a low end above 0"));
    }
    Ok(Param {
        key,
        space: Space::Continuous {
            low,
            high,
            log,
            unit,
        },
    })
}

/// `'METRIC <= VALUE'` of `--subject-to` (a duration counts in seconds).
fn parse_constraint(text: &str) -> Result<Constraint, Failure> {
    let bad = |why: &str| {
        Failure::input(format!(
            "--subject-to {text}: {why}; write 'METRIC <= VALUE' (or >=, ==), e.g. 'messages.duplicate_rate <= 0.001' or 'latency.p99 <= 2s'"
        ))
    };
    let (metric, relation, value) = [
        ("<=", Relation::AtMost),
        (">=", Relation::AtLeast),
        ("==", Relation::Equal),
    ]
    .iter()
    .find_map(|(op, r)| text.split_once(op).map(|(m, v)| (m, *r, v)))
    .ok_or_else(|| bad("no <=, >= or =="))?;
    let value = value.trim();
    let bound = match value.parse::<f64>() {
        Ok(x) if x.is_finite() => x,
        _ => crate::time::Duration::parse(value)
            .map(|d| d.ns() as f64 / 1e9)
            .map_err(|_| bad("the value is not a number or a duration"))?,
    };
    let metric = metric.trim().to_string();
    if metric.is_empty() {
        return Err(bad("no metric"));
    }
    Ok(Constraint {
        metric,
        relation,
        bound,
    })
}

/// Refuses the common flags that mean nothing to a search.
fn refuse_flags(c: &Common) -> Result<(), Failure> {
    let refused = [
        (
            c.replications.is_some(),
            "-r/--replications: the race chooses the replications; give --budget",
        ),
        (
            c.precision.is_some(),
            "--precision: the race stops on confidence by itself; give --budget",
        ),
        (
            c.shard.is_some(),
            "--shard: each round of the race depends on the one before; run it on one machine",
        ),
        (
            c.replication.is_some(),
            "--replication: a search needs every replication it chooses",
        ),
        (
            c.charts,
            "--charts: optimize draws no charts yet; sweep the chosen keys for a heat map",
        ),
    ];
    match refused.iter().find(|(given, _)| *given) {
        Some((_, why)) => Err(Failure::input(format!("optimize does not take {why}"))),
        None => Ok(()),
    }
}

fn search_of(a: &OptimizeArgs) -> Result<Search, Failure> {
    refuse_flags(&a.common)?;
    let params = a
        .param
        .iter()
        .map(|p| parse_param(p))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, p) in params.iter().enumerate() {
        if params[..i].iter().any(|q| q.key == p.key) {
            return Err(Failure::input(format!("--param {} is given twice", p.key)));
        }
    }
    let objective = |name: &String, maximize: bool| Objective {
        target: match params.iter().position(|p| &p.key == name) {
            Some(i) => Target::Param(i),
            None => Target::Metric(name.clone()),
        },
        maximize,
        name: name.clone(),
    };
    let objectives: Vec<Objective> = a
        .minimize
        .iter()
        .map(|m| objective(m, false))
        .chain(a.maximize.iter().map(|m| objective(m, true)))
        .collect();
    if objectives.is_empty() || objectives.len() > 2 {
        return Err(Failure::input(format!(
            "optimize takes one objective (--minimize METRIC or --maximize METRIC), or two for a Pareto front; {} given",
            objectives.len()
        )));
    }
    if a.budget < 8 {
        return Err(Failure::input("--budget must be at least 8 runs"));
    }
    let constraints = a
        .subject_to
        .iter()
        .map(|c| parse_constraint(c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Search {
        params,
        objectives,
        constraints,
        budget: a.budget,
    })
}

/// Every metric the search reads exists in a summary: checked on one
/// replication of the scenario as written, before the search spends its
/// budget.
fn check_metrics(
    search: &Search,
    model: &crate::model::Model,
    plan: &crate::experiment::Plan,
) -> Result<(), Failure> {
    let metrics =
        crate::experiment::replicate(model, plan.seed, 0, 0, plan.limits, plan.build).metrics;
    let named = search
        .objectives
        .iter()
        .filter_map(|o| match &o.target {
            Target::Metric(m) => Some(m),
            Target::Param(_) => None,
        })
        .chain(search.constraints.iter().map(|c| &c.metric));
    for m in named {
        if crate::json::at_path(&metrics, m).is_none() {
            return Err(Failure::input(format!(
                "`{}` is neither a --param key nor a number in the summary (paths as in --format json: latency.p99, messages.duplicate_rate, messages.attempts)",
                printable(m)
            )));
        }
    }
    Ok(())
}

pub fn command(a: &OptimizeArgs) -> Result<i32, Failure> {
    let search = search_of(a)?;
    let (_, _, scenario) = super::load(&a.file, &a.common.set)?;
    let plan = super::plan(&scenario, &a.common)?;
    let model = super::compile(&scenario)?;
    crate::experiment::guard::check(&model, &plan, a.common.force).map_err(Failure::input)?;
    let name = scenario
        .simulation
        .name
        .clone()
        .unwrap_or_else(|| "scenario".into());
    let folders: Vec<PathBuf> = super::out_dir(&a.common, &name).into_iter().collect();
    let _locks = super::claim_outputs(&folders, &[], &[a.file.as_path()])?;
    check_metrics(&search, &model, &plan)?;
    let keys: Vec<String> = search.params.iter().map(|p| p.key.clone()).collect();
    let build = |settings: &[String]| -> Result<crate::model::Model, String> {
        let mut sets = a.common.set.clone();
        sets.extend(keys.iter().zip(settings).map(|(k, v)| format!("{k}={v}")));
        let (_, _, s) = super::load(&a.file, &sets).map_err(|f| f.message)?;
        super::compile(&s).map_err(|f| f.message)
    };
    let found = optimize::optimize(&search, &plan, &build).map_err(Failure::input)?;
    let best_summary = match found.best {
        Some(b) => {
            let c = &found.candidates[b];
            let model = build(&c.settings).map_err(Failure::input)?;
            let mut again = plan.clone();
            again.replications = c.replications.len() as u32;
            Some(crate::experiment::run(&model, &again).summary(&model))
        }
        None => None,
    };
    let document = json_report(&search, &found, best_summary.as_ref(), &name, plan.seed);
    if let Some(dir) = folders.first() {
        let csv = candidates_csv(&search, &found).map_err(Failure::input)?;
        crate::report::files::write_atomic(&dir.join("optimize.csv"), &csv)
            .map_err(Failure::input)?;
        let text = serde_json::to_string_pretty(&document).unwrap_or_default();
        crate::report::files::write_atomic(&dir.join("summary.json"), text.as_bytes())
            .map_err(Failure::input)?;
        if a.common.html {
            let page = html_page(
                a,
                &name,
                &csv,
                &text_report(&search, &found, best_summary.as_ref(), &name),
            );
            super::write_html(&page, dir)?;
        }
    }
    match a.common.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        ),
        Format::Text => print!(
            "{}",
            text_report(&search, &found, best_summary.as_ref(), &name)
        ),
    }
    Ok(0)
}

/// The HTML page of a search: every candidate (`optimize.csv`), the
/// report as the terminal shows it (the best setting, its metrics and the
/// `[[variant]]` to paste), the scenario and the command line.
fn html_page(a: &OptimizeArgs, name: &str, csv: &[u8], text: &str) -> crate::report::html::Page {
    let provenance = crate::report::html::Provenance::of_process("optimize", &[a.file.as_path()]);
    let mut page = crate::report::html::Page::new(&format!("mqsim optimize: {name}"), provenance);
    page.note("Result", text);
    page.csv_table("candidates", "every candidate (optimize.csv)", csv);
    page
}

/// The settings of a candidate, key by key.
fn settings_of(search: &Search, c: &Candidate) -> Map<String, Value> {
    search
        .params
        .iter()
        .zip(&c.settings)
        .map(|(p, v)| (p.key.clone(), Value::String(v.clone())))
        .collect()
}

fn candidate_json(search: &Search, c: &Candidate) -> Value {
    let objectives: Map<String, Value> = search
        .objectives
        .iter()
        .map(|o| (o.name.clone(), json!(finite(c.objective(o)))))
        .collect();
    let constraints: Map<String, Value> = search
        .constraints
        .iter()
        .map(|k| (k.metric.clone(), json!(finite(c.mean(&k.metric)))))
        .collect();
    json!({
        "settings": settings_of(search, c),
        "replications": c.replications.len(),
        "stage": c.stage,
        "status": c.status,
        "objectives": objectives,
        "constraints": constraints,
    })
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn json_report(
    search: &Search,
    found: &Found,
    best: Option<&Map<String, Value>>,
    name: &str,
    seed: u64,
) -> Value {
    let best = found.best.map(|b| {
        json!({
            "settings": settings_of(search, &found.candidates[b]),
            "confirmed": found.confirmed,
            "metrics": best.cloned().map(Value::Object).unwrap_or(Value::Null),
        })
    });
    let mut o = json!({
        "scenario": name,
        "seed": seed,
        "budget": search.budget,
        "runs": found.runs,
        "best": best,
        "candidates": found.candidates.iter().map(|c| candidate_json(search, c)).collect::<Vec<_>>(),
    });
    if search.objectives.len() == 2 {
        o["front"] = found
            .front
            .iter()
            .map(|&i| candidate_json(search, &found.candidates[i]))
            .collect();
    }
    o
}

/// `optimize.csv`: one row per candidate tried.
fn candidates_csv(search: &Search, found: &Found) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = search.params.iter().map(|p| p.key.clone()).collect();
    header.extend(["stage", "replications", "status"].map(String::from));
    header.extend(search.objectives.iter().map(|o| o.name.clone()));
    header.extend(search.constraints.iter().map(|c| c.metric.clone()));
    header.push("on_front".into());
    w.write_record(&header).map_err(|e| e.to_string())?;
    for (i, c) in found.candidates.iter().enumerate() {
        let mut row = c.settings.clone();
        let status = serde_json::to_value(c.status)
            .ok()
            .and_then(|v| v.as_str().map(String::from));
        row.extend([
            c.stage.to_string(),
            c.replications.len().to_string(),
            status.unwrap_or_default(),
        ]);
        row.extend(search.objectives.iter().map(|o| cell(c.objective(o))));
        row.extend(search.constraints.iter().map(|k| cell(c.mean(&k.metric))));
        row.push(found.front.contains(&i).to_string());
        w.write_record(&row).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

fn cell(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

/// The `[expect]` key that pins a constraint, where there is one.
fn expect_key(c: &Constraint) -> Option<(&'static str, String)> {
    let seconds = |x: f64| format!("{:?}", format!("{x}s"));
    let key = match (c.metric.as_str(), c.relation) {
        ("messages.duplicate_rate", Relation::AtMost) => {
            ("duplicate_rate_max", format!("{}", c.bound))
        }
        ("messages.duplicate_rate", Relation::AtLeast) => {
            ("duplicate_rate_min", format!("{}", c.bound))
        }
        ("messages.loss_rate", Relation::AtMost) => ("lost_rate_max", format!("{}", c.bound)),
        ("messages.dead_letter_rate", Relation::AtMost) => {
            ("dead_letter_rate_max", format!("{}", c.bound))
        }
        ("messages.lost", Relation::AtMost) => ("lost", format!("{}", c.bound)),
        ("latency.p99", Relation::AtMost) => ("p99_latency_max", seconds(c.bound)),
        ("latency.p50", Relation::AtMost) => ("p50_latency_max", seconds(c.bound)),
        ("latency.mean", Relation::AtMost) => ("mean_latency_max", seconds(c.bound)),
        _ => return None,
    };
    Some(key)
}

/// A `[[variant]]` with the chosen values and an `[expect]` that pins the
/// constraints, to paste into the scenario.
pub fn snippet(search: &Search, c: &Candidate) -> String {
    let sets: Vec<String> = search
        .params
        .iter()
        .zip(&c.settings)
        .map(|(p, v)| {
            let value = crate::scenario::load::parse_value(v);
            format!("{:?} = {}", p.key, crate::cli::compare::toml_inline(&value))
        })
        .collect();
    let mut out = format!(
        "[[variant]]\nname = \"optimized\"\nset = {{ {} }}\n",
        sets.join(", ")
    );
    let expects: Vec<String> = search
        .constraints
        .iter()
        .filter_map(expect_key)
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    if !expects.is_empty() {
        out += &format!("expect = {{ {} }}\n", expects.join(", "));
    }
    out
}

fn text_report(
    search: &Search,
    found: &Found,
    best: Option<&Map<String, Value>>,
    name: &str,
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "mqsim optimize: {} ({} candidates, {} runs of a budget of {})",
        printable(name),
        found.candidates.len(),
        found.runs,
        search.budget
    );
    let count = |s: optimize::Status| found.candidates.iter().filter(|c| c.status == s).count();
    let _ = writeln!(
        out,
        "  feasible {}, infeasible {}, dominated {}, undecided {}",
        count(optimize::Status::Feasible),
        count(optimize::Status::Infeasible),
        count(optimize::Status::Dominated),
        count(optimize::Status::Undecided)
    );
    if search.objectives.len() == 2 {
        let _ = writeln!(
            out,
            "\nPareto front ({} / {}):",
            search.objectives[0].name, search.objectives[1].name
        );
        for &i in &found.front {
            let c = &found.candidates[i];
            let _ = writeln!(
                out,
                "  {}  {:.4} / {:.4}  ({} replications)",
                printable(&c.settings.join(", ")),
                c.objective(&search.objectives[0]),
                c.objective(&search.objectives[1]),
                c.replications.len()
            );
        }
        return out;
    }
    let Some(b) = found.best else {
        let _ = writeln!(out, "\nno setting was tried: raise --budget");
        return out;
    };
    let c = &found.candidates[b];
    let _ = writeln!(
        out,
        "\nbest{}:",
        if found.confirmed {
            ""
        } else {
            " (NOT confirmed: no setting met every constraint at 95% confidence within the budget; this is the best undecided one)"
        }
    );
    for (p, v) in search.params.iter().zip(&c.settings) {
        let _ = writeln!(out, "  {} = {}", printable(&p.key), printable(v));
    }
    if let Some(summary) = best {
        let ci = summary.get("ci95").and_then(Value::as_object);
        let mut shown: Vec<String> = search
            .objectives
            .iter()
            .filter_map(|o| match &o.target {
                Target::Metric(m) => Some(m.clone()),
                Target::Param(_) => None,
            })
            .chain(search.constraints.iter().map(|k| k.metric.clone()))
            .collect();
        for path in [
            "latency.mean",
            "latency.p99",
            "messages.duplicate_rate",
            "messages.loss_rate",
            "messages.dead_letter_rate",
        ] {
            if !shown.iter().any(|s| s == path) {
                shown.push(path.to_string());
            }
        }
        let _ = writeln!(
            out,
            "\nits metrics over {} replications (mean ± 95%):",
            c.replications.len()
        );
        for path in &shown {
            let mean = crate::json::at_path(summary, path);
            let half = ci.and_then(|ci| crate::json::at_path(ci, path));
            if let Some(mean) = mean {
                let half = half.map_or("n/a".to_string(), |h| format!("{h:.4}"));
                let _ = writeln!(out, "  {:<28} {:.6} ± {}", printable(path), mean, half);
            }
        }
    }
    let _ = writeln!(
        out,
        "\nto keep it, paste into the scenario:\n\n{}",
        snippet(search, c)
    );
    out
}
