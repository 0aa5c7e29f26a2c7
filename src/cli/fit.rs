//! `mqsim fit`: a law for measured durations or arrival timestamps, ready
//! to paste into a scenario or written into one (`--into`, comments kept).

use super::{Failure, Format};
use crate::report::files::printable;
use crate::stats::fit::{self, Fit};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// Processing times (or any durations): fit their law.
    Durations,
    /// Arrival times: fit the law of the times between them.
    Timestamps,
}

#[derive(Args, Debug)]
pub struct FitArgs {
    /// CSV with a header, or one number per line.
    pub data: PathBuf,
    /// The CSV column to read (default the first).
    #[arg(long)]
    pub column: Option<String>,
    /// What the numbers are.
    #[arg(long, value_enum, default_value_t = DataKind::Durations)]
    pub kind: DataKind,
    /// Unit of the numbers: ns, us, ms, s, m, h.
    #[arg(long, default_value = "s")]
    pub unit: String,
    /// timestamps: also the arrival rate per window of this length (a
    /// piecewise-constant schedule), e.g. 1m.
    #[arg(long)]
    pub window: Option<String>,
    /// With --window: write the rate per window to FILE (CSV, columns `at`
    /// and `rate`) and give `{ process = "profile", file = ... }` instead of
    /// an inline schedule.
    #[arg(long, value_name = "FILE", requires = "window")]
    pub profile: Option<PathBuf>,
    /// Write the best law into this scenario (its comments kept) at --key.
    #[arg(long, value_name = "SCENARIO", requires = "key")]
    pub into: Option<PathBuf>,
    /// Where --into writes: consumer.service, producer.arrival, or with a
    /// name, consumer.NAME.service.
    #[arg(long, requires = "into")]
    pub key: Option<String>,
    /// Draw the data's CDF beside each law's, and a Q-Q plot of each law,
    /// into this folder (fit-cdf and fit-qq, PNG and SVG).
    #[arg(long, value_name = "DIR")]
    pub charts: Option<PathBuf>,
    /// DATA is OpenTelemetry spans (OTLP JSON, the collector's file
    /// exporter) of a messaging system: per destination the arrival and
    /// processing-time laws, failures, redeliveries, and a scenario skeleton.
    #[arg(long, conflicts_with_all = ["column", "window", "into", "profile", "charts"])]
    pub otel: bool,
    /// With --otel: write the scenario skeleton to FILE (which must not exist).
    #[arg(long, value_name = "FILE", requires = "otel")]
    pub out: Option<PathBuf>,
    /// Output on stdout: readable text or one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Most values read.
const MAX_VALUES: usize = 10_000_000;

/// The numbers of the file, in seconds: one per line, or a CSV column;
/// read as a scenario's data files are (exact decimals, numbers with
/// their own unit, RFC 3339 timestamps; the same size and row limits).
/// Timestamps are taken relative to the earliest, so that seconds since
/// 1970 keep their nanoseconds in an f64.
fn read_values(a: &FitArgs) -> Result<Vec<f64>, Failure> {
    use crate::scenario::data;
    let shown = printable(&a.data.display().to_string());
    let unit_ns = data::unit_ns(&a.unit).ok_or_else(|| {
        Failure::input(format!(
            "--unit {}: write {}",
            printable(&a.unit),
            data::UNITS.join(", ")
        ))
    })?;
    let table = data::read_table(&a.data, &shown, &[a.column.as_deref()], MAX_VALUES)
        .map_err(Failure::input)?;
    let mut values_ns = Vec::with_capacity(table.rows.len());
    for (row, cells) in &table.rows {
        let cell = &cells[0];
        let ns = match a.kind {
            DataKind::Durations => {
                data::duration_ns(cell, unit_ns).and_then(|ns| longest_duration(ns, cell))
            }
            DataKind::Timestamps => data::instant_ns(cell, unit_ns),
        };
        values_ns.push(ns.map_err(|e| Failure::input(table.error_at(*row, 0, &e)))?);
    }
    let origin = match a.kind {
        DataKind::Durations => 0,
        DataKind::Timestamps => values_ns.iter().copied().min().unwrap_or(0),
    };
    Ok(values_ns
        .iter()
        .map(|ns| (ns - origin) as f64 / 1e9)
        .collect())
}

/// A duration longer than a scenario can hold (about 584 years) would fit
/// a law that no scenario could take.
fn longest_duration(ns: i128, cell: &str) -> Result<i128, String> {
    if ns <= 0 {
        // Named with its row here, not later by the fit without one.
        return Err(format!(
            "`{}` is not a positive duration: every value must be above 0",
            printable(cell)
        ));
    }
    if ns > i128::from(crate::time::MAX_DURATION_NS) {
        return Err(format!(
            "`{}` is longer than the longest duration mqsim holds ({})",
            printable(cell),
            crate::time::Duration(crate::time::MAX_DURATION_NS)
        ));
    }
    Ok(ns)
}

/// What to paste: a service law, or an arrival process.
/// `rate_per_s`: timestamps' arrivals over their span, the Poisson rate's
/// maximum-likelihood estimate whether or not timestamps repeat.
fn paste(a: &FitArgs, best: &Fit, profile: &[(f64, f64)], rate_per_s: f64) -> String {
    if a.kind == DataKind::Durations {
        return best.dist_toml();
    }
    if !profile.is_empty() {
        let pieces: Vec<String> = profile
            .iter()
            .map(|(at, rate)| {
                format!(
                    "{{ at = \"{}s\", rate = {} }}",
                    fit::significant(*at),
                    fit::significant(*rate)
                )
            })
            .collect();
        return format!(
            "{{ process = \"schedule\", schedule = [{}] }}",
            pieces.join(", ")
        );
    }
    if best.family == "exponential" || best.family == "constant" {
        let process = if best.family == "constant" {
            "constant"
        } else {
            "poisson"
        };
        return format!(
            "{{ process = \"{process}\", rate = {} }}",
            fit::significant(rate_per_s)
        );
    }
    best.dist_toml().replacen("dist =", "process =", 1)
}

/// A row's law as it pastes: a service law (`{ dist = ... }`) for
/// durations; for timestamps an arrival process with that law between
/// arrivals (`{ process = "gamma", ... }`), so that every row pastes as
/// `arrival`, not only the best.
fn row_law(kind: DataKind, f: &Fit) -> String {
    match kind {
        DataKind::Durations => f.dist_toml(),
        DataKind::Timestamps => f.dist_toml().replacen("dist =", "process =", 1),
    }
}

/// Points drawn per curve: enough for a smooth line, few enough for a
/// light SVG whatever the size of the data.
const CHART_POINTS: usize = 200;

/// The CDF and Q-Q charts of the data beside every fitted law.
fn draw(
    dir: &Path,
    shown: &str,
    kind: DataKind,
    sample: &[f64],
    fits: &[Fit],
) -> Result<(), Failure> {
    use crate::report::charts::{duration_cdf, qq_plot, QqChart, Series};
    crate::report::files::check_folder(dir, "--charts").map_err(Failure::from)?;
    let mut sorted: Vec<f64> = sample.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let probabilities: Vec<f64> = (0..CHART_POINTS)
        .map(|i| (i as f64 + 0.5) / CHART_POINTS as f64)
        .collect();
    let data_quantile = |p: f64| sorted[((p * n as f64) as usize).min(n - 1)];
    let what = match kind {
        DataKind::Durations => "durations",
        DataKind::Timestamps => "interarrival times",
    };
    let axis = match kind {
        DataKind::Durations => "Duration (s, log scale)",
        DataKind::Timestamps => "Time between arrivals (s, log scale)",
    };
    // The data last, so that each law has the same colour in both charts.
    let mut cdf = Vec::new();
    let (low, high) = (sorted[0].max(sorted[n - 1] * 1e-6), sorted[n - 1]);
    let ratio = (high / low).max(1.0 + 1e-9);
    for f in fits {
        let points = (0..=CHART_POINTS)
            .map(|i| low * ratio.powf(i as f64 / CHART_POINTS as f64))
            .map(|x| (x, f.cdf(x)))
            .collect();
        cdf.push(Series {
            name: f.family.to_string(),
            points,
        });
    }
    cdf.push(Series {
        name: format!("data ({n} {what})"),
        points: probabilities
            .iter()
            .map(|&p| (data_quantile(p), p))
            .collect(),
    });
    let qq = QqChart {
        title: format!("mqsim fit: {shown}, quantiles of the data against each law"),
        series: fits
            .iter()
            .map(|f| Series {
                name: f.family.to_string(),
                points: probabilities
                    .iter()
                    .map(|&p| (f.quantile(p), data_quantile(p)))
                    .collect(),
            })
            .collect(),
    };
    let title = format!("mqsim fit: {shown}, the data's CDF beside each law's");
    for extension in ["png", "svg"] {
        let path = dir.join(format!("fit-cdf.{extension}"));
        duration_cdf(&path, &title, axis, &cdf).map_err(Failure::from)?;
        qq_plot(&dir.join(format!("fit-qq.{extension}")), &qq).map_err(Failure::from)?;
    }
    Ok(())
}

/// Writes the rate profile to `file` and returns the arrival process that
/// reads it, its path relative to the `--into` scenario's folder when it
/// lies inside it (as a scenario reads data files), else as given.
fn write_profile(a: &FitArgs, file: &Path, profile: &[(f64, f64)]) -> Result<String, Failure> {
    let inputs: Vec<&Path> = [Some(a.data.as_path()), a.into.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    crate::report::files::check_file_destination(file, "--profile", &inputs)
        .map_err(Failure::from)?;
    let shown = printable(&file.display().to_string());
    if file.exists() {
        return Err(Failure::input(format!(
            "--profile {shown}: the file exists; remove it or give another name"
        )));
    }
    let folder = |path: &Path| {
        let absolute = crate::scenario::data::lexically(&std::path::absolute(path).ok()?);
        Some(absolute.parent()?.to_path_buf())
    };
    if let Some(scenario) = &a.into {
        let (Some(scenario_folder), Some(profile_folder)) = (folder(scenario), folder(file)) else {
            return Err(Failure::input(format!("--profile {shown}: no folder")));
        };
        if !profile_folder.starts_with(&scenario_folder) {
            return Err(Failure::input(format!(
                "--profile {shown}: write it inside the --into scenario's folder ({}), where the scenario reads its files",
                printable(&scenario_folder.display().to_string())
            )));
        }
    }
    let mut csv = String::from("at,rate\n");
    for (at, rate) in profile {
        csv.push_str(&format!(
            "{},{}\n",
            fit::significant(*at),
            fit::significant(*rate)
        ));
    }
    crate::report::files::write_atomic(file, csv.as_bytes()).map_err(Failure::from)?;
    let named = a
        .into
        .as_deref()
        .and_then(|scenario| {
            let folder = scenario.canonicalize().ok()?.parent()?.to_path_buf();
            let written = file.canonicalize().ok()?;
            Some(written.strip_prefix(folder).ok()?.to_path_buf())
        })
        .unwrap_or_else(|| file.to_path_buf());
    let named = named
        .to_string_lossy()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    Ok(format!("{{ process = \"profile\", file = \"{named}\" }}"))
}

pub fn command(a: &FitArgs) -> Result<i32, Failure> {
    if a.otel {
        return otel_command(a);
    }
    if a.window.is_some() && a.kind != DataKind::Timestamps {
        return Err(Failure::input(
            "--window needs --kind timestamps (a rate over time)",
        ));
    }
    let values = read_values(a)?;
    let shown = printable(&a.data.display().to_string());
    let (sample, repeated) = match a.kind {
        DataKind::Durations => (values.clone(), 0),
        DataKind::Timestamps => fit::interarrivals(&values),
    };
    if repeated > 0 {
        eprintln!(
            "mqsim fit: {shown}: {repeated} of {} gaps are 0 (timestamps repeat: the clock is coarser than the gaps); the laws are fitted to the others, and a Poisson or constant rate counts every arrival over the span",
            values.len() - 1
        );
    }
    if a.kind == DataKind::Timestamps && sample.len() < 2 {
        return Err(Failure::input(format!(
            "{shown}: {} give {} between distinct times: at least 2 gaps (3 distinct timestamps) are needed to fit an arrival law",
            fit::counted(values.len(), "timestamp"),
            fit::counted(sample.len(), "gap")
        )));
    }
    let fits = fit::fit_all(&sample).map_err(|e| Failure::input(format!("{shown}: {e}")))?;
    let span_s = values.iter().copied().fold(0.0, f64::max);
    let rate_per_s = (values.len() as f64 - 1.0) / span_s;
    let profile = match &a.window {
        Some(w) => {
            let d = crate::time::Duration::parse(w)
                .map_err(|e| Failure::input(format!("--window: {e}")))?;
            if d.ns() == 0 {
                return Err(Failure::input("--window must be longer than 0s"));
            }
            fit::rate_profile(&values, d.ns() as f64 / 1e9)
                .map_err(|e| Failure::input(format!("--window {}: {e}", printable(w))))?
        }
        None => Vec::new(),
    };
    if let Some(dir) = &a.charts {
        draw(dir, &shown, a.kind, &sample, &fits)?;
    }
    let law = match &a.profile {
        Some(file) => write_profile(a, file, &profile)?,
        None => paste(a, &fits[0], &profile, rate_per_s),
    };
    if let (Some(into), Some(key)) = (&a.into, &a.key) {
        let what = match (&a.profile, profile.is_empty()) {
            // The law written is the rate schedule, not the best fit.
            (Some(file), _) => format!("rate profile {}", printable(&file.display().to_string())),
            (None, false) => "rate schedule".to_string(),
            (None, true) => fits[0].family.to_string(),
        };
        let source = format!(
            "mqsim fit {} ({what})",
            a.data
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
        );
        let written = write_into(into, key, &law, &source);
        if let (Err(_), Some(file)) = (&written, &a.profile) {
            // The scenario was left as it was: so is the folder.
            let _ = std::fs::remove_file(file);
        }
        written?;
    }
    match a.format {
        Format::Json => {
            let o = serde_json::json!({
                "data": a.data.display().to_string(),
                "kind": if a.kind == DataKind::Durations { "durations" } else { "timestamps" },
                "values": values.len(),
                "fits": fits,
                "best": fits[0].family,
                "toml": law,
            });
            println!("{}", serde_json::to_string_pretty(&o).unwrap_or_default());
        }
        Format::Text => print!("{}", text(a, &sample, &fits, &law)),
    }
    Ok(0)
}

fn text(a: &FitArgs, sample: &[f64], fits: &[Fit], law: &str) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let what = match a.kind {
        DataKind::Durations => "durations",
        DataKind::Timestamps => "interarrival times",
    };
    let mean = sample.iter().sum::<f64>() / sample.len() as f64;
    let _ = writeln!(
        out,
        "mqsim fit: {}, {} {what} (mean {} s)",
        printable(&a.data.display().to_string()),
        sample.len(),
        fit::significant(mean)
    );
    let family_width = fits.iter().map(|f| f.family.len()).max().unwrap_or(0);
    let law_width = fits
        .iter()
        .map(|f| row_law(a.kind, f).len())
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "\n{:<family_width$} {:<law_width$} {:>14} {:>14} {:>8} {:>10}",
        "family", "law", "log-likelihood", "AIC", "KS", "AD"
    );
    for f in fits {
        let _ = writeln!(
            out,
            "{:<family_width$} {:<law_width$} {:>14.2} {:>14.2} {:>8.4} {:>10.3}",
            f.family,
            row_law(a.kind, f),
            f.log_likelihood,
            f.aic,
            f.ks,
            f.anderson_darling
        );
    }
    let field = if a.kind == DataKind::Durations {
        "service"
    } else {
        "arrival"
    };
    let _ = writeln!(
        out,
        "\nbest: {} (lowest AIC; a simpler family within 2 of it is preferred)\n  {field} = {law}",
        fits[0].family
    );
    if let Some(into) = &a.into {
        let _ = writeln!(
            out,
            "written into {} at {}",
            printable(&into.display().to_string()),
            printable(a.key.as_deref().unwrap_or(""))
        );
    }
    out
}

/// Sets `key` (`consumer.service`, `consumer.NAME.service`,
/// `producer.arrival`) of a scenario to `law`, keeping its comments, and
/// checks that the result still loads.
fn write_into(path: &Path, key: &str, law: &str, source: &str) -> Result<(), Failure> {
    let shown = printable(&path.display().to_string());
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::input(format!("--into {shown}: {e}")))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| Failure::input(format!("--into {shown}: not TOML: {e}")))?;
    let parts: Vec<&str> = key.split('.').collect();
    let bad = |why: String| Failure::input(format!("--key {}: {why}", printable(key)));
    let (table, name, field) = match parts.as_slice() {
        [table, field] => (*table, None, *field),
        [table, name, field] => (*table, Some(*name), *field),
        _ => {
            return Err(bad(
                "write TABLE.FIELD or TABLE.NAME.FIELD, e.g. consumer.service".into(),
            ))
        }
    };
    let array = doc
        .get_mut(table)
        .and_then(|t| t.as_array_of_tables_mut())
        .ok_or_else(|| bad(format!("the scenario has no [[{table}]]")))?;
    let count = array.len();
    let target = match name {
        Some(n) => array
            .iter_mut()
            .find(|t| t.get("name").and_then(|v| v.as_str()) == Some(n))
            .ok_or_else(|| bad(format!("no [[{table}]] named `{n}`")))?,
        None if count == 1 => array.get_mut(0).ok_or_else(|| bad("empty".into()))?,
        None => {
            return Err(bad(format!(
                "{count} [[{table}]] tables: name one, {table}.NAME.{field}"
            )))
        }
    };
    let mut value: toml_edit::Value = law.parse().map_err(|e| bad(format!("{e}")))?;
    value.decor_mut().set_prefix(" ");
    value.decor_mut().set_suffix(format!(" # {source}"));
    target[field] = toml_edit::value(value);
    let written = doc.to_string();
    crate::scenario::load_str(&written, &path.display().to_string(), &Default::default())
        .map_err(|e| Failure::input(format!("--into {shown}: the scenario would not load: {e}")))?;
    crate::report::files::write_atomic(path, written.as_bytes()).map_err(Failure::from)
}

/// `mqsim fit --otel SPANS`: the report, and the scenario skeleton checked
/// to load before it is shown or written.
fn otel_command(a: &FitArgs) -> Result<i32, Failure> {
    let shown = printable(&a.data.display().to_string());
    let spans = super::otel::read(&a.data)?;
    if spans.destinations.is_empty() {
        return Err(Failure::input(format!(
            "{shown}: none of its {} spans is a messaging span with `messaging.destination.name` and `messaging.operation.type` create, send, publish or process",
            spans.spans
        )));
    }
    let scenario = super::otel::skeleton(&shown, &spans);
    crate::scenario::load_str(&scenario, "skeleton.toml", &Default::default()).map_err(|e| {
        Failure::input(format!(
            "{shown}: the scenario written from the spans would not load: {e}"
        ))
    })?;
    if let Some(out) = &a.out {
        if out.exists() {
            return Err(Failure::input(format!(
                "--out {}: the file exists; remove it or give another name",
                printable(&out.display().to_string())
            )));
        }
        crate::report::files::check_file_destination(out, "--out", &[a.data.as_path()])
            .map_err(Failure::from)?;
        crate::report::files::write_atomic(out, scenario.as_bytes()).map_err(Failure::from)?;
    }
    match a.format {
        Format::Json => {
            let o = serde_json::json!({
                "otel": a.data.display().to_string(),
                "spans": spans.spans,
                "ignored": spans.ignored,
                "destinations": spans.destinations,
                "scenario": scenario,
            });
            println!("{}", serde_json::to_string_pretty(&o).unwrap_or_default());
        }
        Format::Text => print!("{}", super::otel::text(&shown, &spans, &scenario)),
    }
    Ok(0)
}
