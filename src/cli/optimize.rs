//! `mqsim optimize`: the flags, their parsing into the experiment layer's
//! plain search, and the report (text, JSON, `optimize.csv`, a `[[variant]]`
//! snippet to paste into the scenario).

use super::{Common, Failure, Format};
use crate::experiment::optimize::{
    self, Candidate, Constraint, Found, Objective, Param, Relation, Search, Space, Target,
};
use crate::report::files::printable;
use crate::report::ReportError;
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
    /// Write the scenario with the chosen values (comments kept) to FILE:
    /// a new file, or the scenario itself named explicitly (rewritten in
    /// place). Only a confirmed best is written; one objective only.
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
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
    ];
    match refused.iter().find(|(given, _)| *given) {
        Some((_, why)) => Err(Failure::input(format!("optimize does not take {why}"))),
        None => Ok(()),
    }
}

fn search_of(a: &OptimizeArgs) -> Result<Search, Failure> {
    refuse_flags(&a.common)?;
    let objective_count = a.minimize.len() + a.maximize.len();
    if a.common.charts && objective_count != 2 {
        return Err(Failure::input(
            "optimize does not take --charts with one objective: it draws the Pareto front of two objectives; sweep the chosen keys for a heat map",
        ));
    }
    if a.write.is_some() && objective_count == 2 {
        return Err(Failure::input(
            "--write takes one objective: two objectives give a front of settings, not one; choose from front.csv and paste its [[variant]]",
        ));
    }
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
    let in_place = check_write_destination(a)?;
    let destinations: Vec<(&std::path::Path, &str)> = match &a.write {
        Some(w) if !in_place => vec![(w.as_path(), "--write")],
        _ => Vec::new(),
    };
    let _locks = super::claim_outputs(&folders, &destinations, &[a.file.as_path()])?;
    check_metrics(&search, &model, &plan)?;
    if a.write.is_some() {
        // The keys can be written: tried with a value of each space before
        // the search spends its budget.
        let first: Vec<String> = search.params.iter().map(first_setting).collect();
        edited_scenario(a, &search, &first)?;
    }
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
        write_files(dir, &search, &found, &document, a.common.charts)?;
        if a.common.html {
            let csv = candidates_csv(&search, &found).map_err(Failure::input)?;
            let mut page = html_page(
                a,
                &name,
                &csv,
                &text_report(&search, &found, best_summary.as_ref(), &name),
            );
            if let Some(summary) = &best_summary {
                page.summary_notes(&[("best".to_string(), summary)]);
            }
            super::write_html(&page, dir)?;
        }
    }
    let written = match (&a.write, found.best) {
        (Some(path), Some(b)) if found.confirmed => {
            let text = edited_scenario(a, &search, &found.candidates[b].settings)?;
            crate::report::files::write_atomic(path, text.as_bytes()).map_err(Failure::from)?;
            true
        }
        _ => false,
    };
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
    match &a.write {
        Some(path) if !written => {
            eprintln!(
                "error: --write {}: nothing written: no setting was confirmed to meet every constraint at 95% confidence within the budget (raise --budget)",
                printable(&path.display().to_string())
            );
            Ok(1)
        }
        Some(path) => {
            if !a.common.quiet {
                eprintln!(
                    "wrote the scenario with the chosen values to {}",
                    printable(&path.display().to_string())
                );
            }
            Ok(0)
        }
        None => Ok(0),
    }
}

/// `optimize.csv`, `summary.json` and, for two objectives, `front.csv`
/// (with `--charts`, `front.png` and `front.svg`).
fn write_files(
    dir: &std::path::Path,
    search: &Search,
    found: &Found,
    document: &Value,
    charts: bool,
) -> Result<(), Failure> {
    use crate::report::{export, DocumentJson, Exporter};
    let searched = Searched { search, found };
    let tables: [&dyn Exporter<Searched>; 2] = [&CandidatesCsv, &FrontCsv];
    for e in tables.into_iter().filter(|e| e.applies(&searched)) {
        export(e, &searched, &dir.join(e.file_name())).map_err(Failure::from)?;
    }
    export(&DocumentJson, document, &dir.join(DocumentJson.file_name())).map_err(Failure::from)?;
    if search.objectives.len() != 2 {
        return Ok(());
    }
    if charts {
        let chart = front_chart(search, found);
        for extension in ["png", "svg"] {
            crate::report::charts::front::pareto_front(
                &dir.join(format!("front.{extension}")),
                &chart,
            )
            .map_err(Failure::from)?;
        }
    }
    Ok(())
}

/// Whether `--write` names the scenario itself (rewritten in place); any
/// other file must not exist yet, so that nothing of the user's is lost.
fn check_write_destination(a: &OptimizeArgs) -> Result<bool, Failure> {
    let Some(path) = &a.write else {
        return Ok(false);
    };
    let same = |p: &std::path::Path| p.canonicalize().ok();
    if same(path).is_some() && same(path) == same(&a.file) {
        return Ok(true);
    }
    if path.exists() || path.is_symlink() {
        return Err(Failure::input(format!(
            "--write {}: exists already; give a new file name, or the scenario's own path to rewrite it in place",
            printable(&path.display().to_string())
        )));
    }
    Ok(false)
}

/// A value of each space, as the search writes it: its low end or first
/// choice.
fn first_setting(p: &Param) -> String {
    match &p.space {
        Space::Continuous { low, unit, .. } => format!("{low}{unit}"),
        Space::Integer { low, .. } => low.to_string(),
        Space::Choice(values) => values[0].clone(),
    }
}

/// The scenario file's text with `settings` written at the searched keys,
/// its comments kept. It must load to exactly the scenario the search ran
/// (the file under `--set` with the chosen values), else nothing is
/// written: the edit and `--set` must mean one thing.
fn edited_scenario(
    a: &OptimizeArgs,
    search: &Search,
    settings: &[String],
) -> Result<String, Failure> {
    use crate::scenario::load::{parse_overrides, RawScenario};
    let shown = printable(&a.write.as_deref().unwrap_or(&a.file).display().to_string());
    let raw = super::read_scenario(&a.file)?;
    let mut doc: toml_edit::DocumentMut = raw
        .text
        .parse()
        .map_err(|e| Failure::input(format!("--write {shown}: the scenario is not TOML: {e}")))?;
    let mut sets = a.common.set.clone();
    for (p, v) in search.params.iter().zip(settings) {
        let value = crate::cli::compare::toml_inline(&crate::scenario::load::parse_value(v));
        crate::scenario::edit::set_key(&mut doc, &p.key, &value, "chosen by mqsim optimize")
            .map_err(|e| Failure::input(format!("--write {shown}: {}: {e}", printable(&p.key))))?;
        sets.push(format!("{}={v}", p.key));
    }
    let text = doc.to_string();
    let resolved = |s: &crate::scenario::Scenario| toml::to_string(&crate::model::resolve(s)).ok();
    let edited = RawScenario::parse(&text, &raw.file, &raw.stem)
        .map(|r| RawScenario {
            access: raw.access.clone(),
            ..r
        })
        .and_then(|r| r.build(&parse_overrides(&r, &a.common.set)?))
        .map_err(|e| {
            Failure::input(format!(
                "--write {shown}: the edited scenario would not load: {e}"
            ))
        })?;
    let (_, _, wanted) = super::load(&a.file, &sets)?;
    if resolved(&edited).is_none() || resolved(&edited) != resolved(&wanted) {
        return Err(Failure::input(format!(
            "--write {shown}: the edited file would not be the scenario the search ran (a key set through a preset or a list?); paste the [[variant]] instead"
        )));
    }
    Ok(text)
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

/// The settings of a candidate, key by key: a whole-number key's value
/// as a JSON number (so that a reader can compare it as one), the others
/// as set (`"6.9s"`, `"quorum"`).
fn settings_of(search: &Search, c: &Candidate) -> Map<String, Value> {
    search
        .params
        .iter()
        .zip(&c.settings)
        .map(|(p, v)| {
            let value = match (&p.space, v.parse::<i64>()) {
                (Space::Integer { .. }, Ok(n)) => Value::from(n),
                _ => Value::String(v.clone()),
            };
            (p.key.clone(), value)
        })
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
    let warnings = best
        .and_then(|b| b.get("warnings").cloned())
        .unwrap_or_else(|| json!([]));
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
    o["warnings"] = warnings;
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
/// A finished search, as its files show it.
struct Searched<'a> {
    search: &'a Search,
    found: &'a Found,
}

/// `optimize.csv`: every candidate tried.
struct CandidatesCsv;

impl crate::report::Exporter<Searched<'_>> for CandidatesCsv {
    fn file_name(&self) -> &'static str {
        "optimize.csv"
    }
    fn render(&self, s: &Searched) -> Result<Vec<u8>, ReportError> {
        candidates_csv(s.search, s.found).map_err(ReportError::Render)
    }
}

/// `front.csv`: the Pareto front, for two objectives.
struct FrontCsv;

impl crate::report::Exporter<Searched<'_>> for FrontCsv {
    fn file_name(&self) -> &'static str {
        "front.csv"
    }
    fn applies(&self, s: &Searched) -> bool {
        s.search.objectives.len() == 2
    }
    fn render(&self, s: &Searched) -> Result<Vec<u8>, ReportError> {
        front_csv(s.search, s.found).map_err(ReportError::Render)
    }
}

/// `optimize.csv`: one row per candidate: the keys as set, its stage,
/// replications and status, the mean of each objective and constrained
/// metric (each name once: an objective that is a `--param` key is in the
/// keys' columns already, and a metric both minimised and constrained has
/// one column), and whether it is on the front.
fn candidates_csv(search: &Search, found: &Found) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = search.params.iter().map(|p| p.key.clone()).collect();
    header.extend(["stage", "replications", "status"].map(String::from));
    let mut measured: Vec<(String, Option<&Objective>)> = Vec::new();
    let names = search
        .objectives
        .iter()
        .map(|o| (o.name.clone(), Some(o)))
        .chain(search.constraints.iter().map(|k| (k.metric.clone(), None)));
    for (name, objective) in names {
        if !header.contains(&name) {
            header.push(name.clone());
            measured.push((name, objective));
        }
    }
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
        row.extend(measured.iter().map(|(name, objective)| match objective {
            Some(o) => cell(c.objective(o)),
            None => cell(c.mean(name)),
        }));
        row.push(found.front.contains(&i).to_string());
        w.write_record(&row).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// `front.csv`: one row per setting on the Pareto front, in the order of
/// the first objective: the keys as set, then each objective's value
/// (`minimize:NAME` or `maximize:NAME`), then the replications run.
fn front_csv(search: &Search, found: &Found) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = search.params.iter().map(|p| p.key.clone()).collect();
    header.extend(search.objectives.iter().map(|o| {
        let sense = if o.maximize { "maximize" } else { "minimize" };
        format!("{sense}:{}", o.name)
    }));
    header.push("replications".into());
    w.write_record(&header).map_err(|e| e.to_string())?;
    for &i in &found.front {
        let c = &found.candidates[i];
        let mut row = c.settings.clone();
        row.extend(search.objectives.iter().map(|o| cell(c.objective(o))));
        row.push(c.replications.len().to_string());
        w.write_record(&row).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// The Pareto chart's data: every candidate tried that is not infeasible,
/// and the front.
fn front_chart(search: &Search, found: &Found) -> crate::report::charts::front::FrontChart {
    let point = |c: &Candidate| {
        (
            c.objective(&search.objectives[0]),
            c.objective(&search.objectives[1]),
        )
    };
    let label = |o: &Objective| {
        let sense = if o.maximize { "maximize" } else { "minimize" };
        format!("{} ({sense})", o.name)
    };
    crate::report::charts::front::FrontChart {
        title: "Pareto front: the settings no other beats on both objectives".into(),
        x_label: label(&search.objectives[0]),
        y_label: label(&search.objectives[1]),
        tried: found
            .candidates
            .iter()
            .filter(|c| c.status != optimize::Status::Infeasible)
            .map(point)
            .collect(),
        front: found
            .front
            .iter()
            .map(|&i| point(&found.candidates[i]))
            .collect(),
    }
}

fn cell(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

/// The `[expect]` key that pins a constraint, where there is one (the
/// count keys take whole numbers only).
fn expect_key(c: &Constraint) -> Option<(&'static str, String)> {
    let seconds = |x: f64| format!("{:?}", format!("{x}s"));
    let whole = |x: f64| (x.fract() == 0.0 && x >= 0.0).then(|| format!("{x}"));
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
        ("messages.lost", Relation::AtMost) => ("lost", whole(c.bound)?),
        ("latency.p99", Relation::AtMost) => ("p99_latency_max", seconds(c.bound)),
        ("latency.p50", Relation::AtMost) => ("p50_latency_max", seconds(c.bound)),
        ("latency.mean", Relation::AtMost) => ("mean_latency_max", seconds(c.bound)),
        ("saga_totals.stuck", Relation::AtMost) => ("stuck_max", whole(c.bound)?),
        ("cost.total", Relation::AtMost) => ("cost_total_max", format!("{}", c.bound)),
        ("cost.per_million_messages", Relation::AtMost) => {
            ("cost_per_million_messages_max", format!("{}", c.bound))
        }
        ("saga_totals.inconsistency_p99", Relation::AtMost) => {
            ("inconsistency_p99_max", seconds(c.bound))
        }
        _ => return None,
    };
    Some(key)
}

/// `x` rounded outward (up, or down) to two significant digits: a pinned
/// bound a little looser than the limit measured, so that the check of
/// the pasted variant passes on the same replications and is not undone
/// by the last digits of another run.
fn round_outward(x: f64, up: bool) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let digits = 1 - x.abs().log10().floor() as i32;
    let step = |v: f64| if up { v.ceil() } else { v.floor() };
    if digits >= 0 {
        let scale = 10f64.powi(digits);
        step(x * scale) / scale
    } else {
        let scale = 10f64.powi(-digits);
        step(x / scale) * scale
    }
}

/// The objective as a constraint at the chosen candidate's one-sided 95%
/// limit (rounded outward; whole numbers for the count keys), for a
/// metric objective; a key's objective is pinned by its `set` already.
fn pinned_objective(o: &Objective, c: &Candidate) -> Option<Constraint> {
    let Target::Metric(metric) = &o.target else {
        return None;
    };
    let limit = c.confidence_limit(metric, !o.maximize);
    let mut bound = round_outward(limit, !o.maximize);
    if matches!(metric.as_str(), "messages.lost" | "saga_totals.stuck") {
        bound = if o.maximize {
            bound.floor()
        } else {
            bound.ceil()
        };
    }
    bound.is_finite().then(|| Constraint {
        metric: metric.clone(),
        relation: if o.maximize {
            Relation::AtLeast
        } else {
            Relation::AtMost
        },
        bound: bound.max(0.0),
    })
}

/// A `[[variant]]` with the chosen values and an `[expect]` judged at 95%
/// confidence (as the search judged the constraints) that pins the
/// constraints and the objective (at the candidate's confidence limit); a
/// constraint or objective that no `[expect]` key holds is named in a
/// comment, so that what the snippet leaves unchecked is said.
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
    // Each bound once: an objective also constrained keeps the tighter.
    let mut pins: Vec<Constraint> = Vec::new();
    let mut unpinned: Vec<String> = Vec::new();
    let objectives = search
        .objectives
        .iter()
        .filter_map(|o| pinned_objective(o, c));
    for k in search.constraints.iter().cloned().chain(objectives) {
        if expect_key(&k).is_none() {
            unpinned.push(format!(
                "# not pinned: no [expect] key holds {} {} {}",
                printable(&k.metric),
                relation_word(k.relation),
                k.bound
            ));
            continue;
        }
        match pins
            .iter_mut()
            .find(|p| p.metric == k.metric && p.relation == k.relation)
        {
            Some(p) if k.relation == Relation::AtMost => p.bound = p.bound.min(k.bound),
            Some(p) => p.bound = p.bound.max(k.bound),
            None => pins.push(k),
        }
    }
    let expects: Vec<String> = pins
        .iter()
        .filter_map(expect_key)
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    if !expects.is_empty() {
        out += &format!("expect = {{ confidence = 0.95, {} }}\n", expects.join(", "));
    }
    for line in unpinned {
        out += &line;
        out.push('\n');
    }
    out
}

fn relation_word(r: Relation) -> &'static str {
    match r {
        Relation::AtMost => "<=",
        Relation::AtLeast => ">=",
        Relation::Equal => "==",
    }
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
        best_metrics(&mut out, search, c, summary);
    }
    if let Some(summary) = best {
        let mut block = String::new();
        crate::report::terminal::warnings_block(&mut block, summary.get("warnings"));
        if !block.is_empty() {
            let _ = write!(out, "\n{block}");
        }
    }
    let _ = writeln!(
        out,
        "\nto keep it, paste into the scenario:\n\n{}",
        snippet(search, c)
    );
    out
}

/// The best setting's metrics: the objectives and constraints, then
/// latency, the rates of loss, duplicates and dead letters, and, where the
/// scenario has `[cost]`, the money (so that a setting chosen on latency
/// shows what it costs, and the other way round).
fn best_metrics(out: &mut String, search: &Search, c: &Candidate, summary: &Map<String, Value>) {
    use std::fmt::Write;
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
        "cost.total",
        "cost.per_million_messages",
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
