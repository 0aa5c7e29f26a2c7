//! `--html`: `report.html`, one self-contained page to share a result: the
//! charts inline as SVG (drawn by [`super::charts`], the same code as the
//! chart files), the tables, the warnings, the fault timeline, the scenario
//! text, and the command line and version that produced it. It fetches
//! nothing (a Content-Security-Policy forbids every fetch and every
//! script), reads on a phone (viewport, tables that scroll sideways, charts
//! that shrink to the screen) and prints (print CSS: no backgrounds, no
//! breaks inside a chart or a table row). Every text from the scenario
//! (names are user input) is HTML-escaped; the SVG charts escape theirs.

use super::terminal::warning_line;
use super::{Report, ReportError};
use serde_json::{Map, Value};
use std::fmt::Write;

/// File name of the page in the output folder.
pub const FILE_NAME: &str = "report.html";

/// `report.html`: one page, with its charts and tables inline.
pub struct HtmlReport;

impl super::Exporter<Page> for HtmlReport {
    fn file_name(&self) -> &'static str {
        FILE_NAME
    }
    fn render(&self, page: &Page) -> Result<Vec<u8>, ReportError> {
        Ok(page.render().into_bytes())
    }
}

/// What produced the page: the command line, and the scenario files read.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// The command, e.g. `run`.
    pub command: String,
    /// The command line as typed (its words).
    pub arguments: Vec<String>,
    /// (file name, text) of each scenario.
    pub scenarios: Vec<(String, String)>,
}

impl Provenance {
    /// The provenance of this process: its command line, and the text of
    /// the scenario files named (read now; a file that cannot be read is
    /// shown as such).
    pub fn of_process(command: &str, files: &[&std::path::Path]) -> Provenance {
        Provenance {
            command: command.to_string(),
            arguments: std::env::args().collect(),
            scenarios: files
                .iter()
                .map(|f| {
                    let text = std::fs::read_to_string(f)
                        .unwrap_or_else(|e| format!("(could not be read: {e})"));
                    (f.display().to_string(), text)
                })
                .collect(),
        }
    }
}

/// An SVG chart drawn in memory for the page.
#[derive(Debug, Clone)]
pub struct InlineChart {
    pub stem: String,
    pub svg: String,
}

/// A table: a caption, a header row, body rows (cells already as text).
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub id: String,
    pub caption: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// The page being built: sections in order.
pub struct Page {
    title: String,
    provenance: Provenance,
    warnings: Vec<String>,
    charts: Vec<InlineChart>,
    tables: Vec<Table>,
    faults: Option<Table>,
    notes: Vec<(String, String)>,
}

/// HTML-escapes text for element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A number as the tables show it: whole numbers whole, others to 6
/// significant digits.
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "—".into()
        } else {
            format!("{x}")
        };
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let digits = (5 - x.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let text = format!("{x:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::Number(n) => number(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Object(_) | Value::Array(_))
}

impl Page {
    pub fn new(title: &str, provenance: Provenance) -> Page {
        Page {
            title: title.to_string(),
            provenance,
            warnings: Vec::new(),
            charts: Vec::new(),
            tables: Vec::new(),
            faults: None,
            notes: Vec::new(),
        }
    }

    pub fn warnings(&mut self, warnings: impl IntoIterator<Item = String>) {
        for w in warnings {
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
    }

    pub fn charts(&mut self, charts: Vec<InlineChart>) {
        self.charts.extend(charts);
    }

    pub fn table(&mut self, table: Table) {
        if !table.rows.is_empty() {
            self.tables.push(table);
        }
    }

    /// A block of preformatted text (e.g. a `[[variant]]` to paste).
    pub fn note(&mut self, heading: &str, text: &str) {
        self.notes.push((heading.to_string(), text.to_string()));
    }

    /// A CSV file's contents as a table.
    pub fn csv_table(&mut self, id: &str, caption: &str, bytes: &[u8]) {
        let mut reader = ::csv::ReaderBuilder::new().from_reader(bytes);
        let header = reader
            .headers()
            .map(|h| h.iter().map(str::to_string).collect())
            .unwrap_or_default();
        let rows = reader
            .records()
            .filter_map(Result::ok)
            .map(|r| r.iter().map(str::to_string).collect())
            .collect();
        self.table(Table {
            id: id.into(),
            caption: caption.into(),
            header,
            rows,
        });
    }

    /// The tables, warnings and fault timeline of a report's variants,
    /// side by side: one column per variant.
    pub fn variants(&mut self, report: &Report) {
        let summaries: Vec<&Map<String, Value>> =
            report.variants.iter().map(|v| &v.summary).collect();
        let names: Vec<String> = report.variants.iter().map(|v| v.name.clone()).collect();
        let labelled: Vec<(String, &Map<String, Value>)> = names
            .iter()
            .cloned()
            .zip(summaries.iter().copied())
            .collect();
        self.summary_notes(&labelled);
        for section in section_names(&summaries) {
            self.section_tables(&section, &names, &summaries);
        }
    }

    /// The warnings and the fault timeline of labelled summaries (the
    /// variants of a report, the cells of a sweep, the best candidate of a
    /// search). A warning is prefixed with its label when there are
    /// several; the label column of the timeline is left out when every
    /// summary had the same faults (common random numbers make that the
    /// rule where the faults are not what varies).
    pub fn summary_notes(&mut self, labelled: &[(String, &Map<String, Value>)]) {
        let several = labelled.len() > 1;
        for (label, summary) in labelled {
            if let Some(Value::Array(list)) = summary.get("warnings") {
                self.warnings(list.iter().map(|w| match several {
                    true => format!("{label}: {}", warning_line(w)),
                    false => warning_line(w),
                }));
            }
        }
        self.faults = fault_timeline(labelled);
    }

    /// The tables of one summary section (`messages`, `latency`, `queues`):
    /// its numbers and words by variant (mean ± 95% where the summary
    /// has the interval), and one table per entry of a section of entries.
    fn section_tables(
        &mut self,
        section: &str,
        names: &[String],
        summaries: &[&Map<String, Value>],
    ) {
        let mut header = vec![String::new()];
        header.extend(names.iter().cloned());
        let mut scalar_rows: Vec<Vec<String>> = Vec::new();
        let mut entries: Vec<String> = Vec::new();
        for summary in summaries {
            if let Some(Value::Object(fields)) = summary.get(section) {
                for (key, value) in fields {
                    if is_scalar(value) {
                        if !scalar_rows.iter().any(|r| r[0] == *key) {
                            scalar_rows.push(vec![key.clone()]);
                        }
                    } else if value.as_object().is_some_and(|o| o.values().any(is_scalar))
                        && !entries.contains(key)
                    {
                        entries.push(key.clone());
                    }
                }
            }
        }
        let at = |summary: &Map<String, Value>, path: &[&str]| -> String {
            fn walk<'v>(start: Option<&'v Value>, path: &[&str]) -> Option<&'v Value> {
                path.iter().try_fold(start?, |v, k| v.get(k))
            }
            let value = walk(summary.get(section), path);
            let half = walk(summary.get("ci95").and_then(|c| c.get(section)), path)
                .and_then(Value::as_f64)
                .filter(|h| h.is_finite() && *h > 0.0);
            match (value, half) {
                (Some(v), Some(h)) => format!("{} ± {}", cell(v), number(h)),
                (Some(v), None) => cell(v),
                (None, _) => String::new(),
            }
        };
        for row in &mut scalar_rows {
            let key = row[0].clone();
            row.extend(summaries.iter().map(|s| at(s, &[&key])));
        }
        self.table(Table {
            id: section.to_string(),
            caption: section.replace('_', " "),
            header: header.clone(),
            rows: scalar_rows,
        });
        for entry in entries {
            let mut rows: Vec<Vec<String>> = Vec::new();
            for summary in summaries {
                let Some(Value::Object(fields)) = summary.get(section).and_then(|s| s.get(&entry))
                else {
                    continue;
                };
                for (key, value) in fields {
                    if is_scalar(value) && !rows.iter().any(|r| r[0] == *key) {
                        rows.push(vec![key.clone()]);
                    }
                }
            }
            for row in &mut rows {
                let key = row[0].clone();
                row.extend(summaries.iter().map(|s| at(s, &[&entry, &key])));
            }
            self.table(Table {
                id: format!("{section}-{entry}"),
                caption: format!("{} {entry}", section.replace('_', " ")),
                header: header.clone(),
                rows,
            });
        }
    }

    /// The paired comparison of `compare`, as the terminal shows it.
    pub fn comparison(&mut self, comparison: &Value) {
        let base = comparison
            .get("baseline")
            .and_then(Value::as_str)
            .unwrap_or("");
        let mut rows = Vec::new();
        if let Some(Value::Object(metrics)) = comparison.get("metrics") {
            for (metric, row) in metrics {
                let Some(row) = row.as_object() else { continue };
                for (variant, e) in row {
                    let get = |k: &str| e.get(k).map(cell).unwrap_or_default();
                    let diff = match e.get("diff_vs_first") {
                        Some(_) => format!(
                            "{} ± {} (p = {}){}",
                            get("diff_vs_first"),
                            get("diff_ci95"),
                            get("p_value"),
                            if e.get("significant") == Some(&Value::Bool(true)) {
                                " *"
                            } else {
                                ""
                            }
                        ),
                        None => String::new(),
                    };
                    rows.push(vec![
                        metric.clone(),
                        variant.clone(),
                        format!("{} ± {}", get("mean"), get("ci95")),
                        get("relative_to_best"),
                        diff,
                    ]);
                }
            }
        }
        self.table(Table {
            id: "comparison".into(),
            caption: format!("comparison on common random numbers (paired against {base}; * significant at 5%, Holm-adjusted)"),
            header: ["metric", "variant", "mean ± 95%", "x best", "difference ± 95% (p)"]
                .map(String::from)
                .to_vec(),
            rows,
        });
    }

    /// The whole page.
    pub fn render(&self) -> String {
        let mut page = String::new();
        let title = escape(&self.title);
        let _ = write!(
            page,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"generator\" content=\"mqsim {version}\">\n<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
             <header><h1>{title}</h1>\n<p class=\"meta\">mqsim {version} · <code class=\"command-line\">{command}</code></p></header>\n<main>\n",
            version = env!("CARGO_PKG_VERSION"),
            command = escape(&shell_words(&self.provenance.arguments)),
        );
        self.render_warnings(&mut page);
        self.render_charts(&mut page);
        for table in &self.tables {
            render_table(&mut page, table);
        }
        for (heading, text) in &self.notes {
            let _ = write!(
                page,
                "<section class=\"note\"><h2>{}</h2>\n<pre>{}</pre></section>\n",
                escape(heading),
                escape(text)
            );
        }
        if let Some(faults) = &self.faults {
            page.push_str("<section id=\"faults\"><h2>Fault timeline</h2>\n");
            render_table(&mut page, faults);
            page.push_str("</section>\n");
        }
        for (file, text) in &self.provenance.scenarios {
            let _ = write!(
                page,
                "<section class=\"scenario\"><h2>Scenario <code>{}</code></h2>\n<pre>{}</pre></section>\n",
                escape(file),
                escape(text)
            );
        }
        let _ = write!(
            page,
            "</main>\n<footer>Written by <code>mqsim {}</code> ({}).</footer>\n</body>\n</html>\n",
            env!("CARGO_PKG_VERSION"),
            escape(&self.provenance.command)
        );
        page
    }

    fn render_warnings(&self, page: &mut String) {
        if self.warnings.is_empty() {
            return;
        }
        page.push_str("<section id=\"warnings\" class=\"warnings\"><h2>Warnings</h2>\n<ul>\n");
        for w in &self.warnings {
            let _ = writeln!(page, "<li>{}</li>", escape(w));
        }
        page.push_str("</ul></section>\n");
    }

    fn render_charts(&self, page: &mut String) {
        if self.charts.is_empty() {
            return;
        }
        page.push_str("<section id=\"charts\"><h2>Charts</h2>\n<div class=\"charts\">\n");
        for chart in &self.charts {
            let svg = chart
                .svg
                .find("<svg")
                .map_or(chart.svg.as_str(), |at| &chart.svg[at..]);
            let _ = writeln!(
                page,
                "<figure class=\"chart\" data-chart=\"{}\">{svg}</figure>",
                escape(&chart.stem)
            );
        }
        page.push_str("</div></section>\n");
    }
}

/// The names of the summary's sections that make tables, in the
/// summary's order (the intervals go beside the means, faults and
/// warnings to their own sections).
fn section_names(summaries: &[&Map<String, Value>]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for summary in summaries {
        for (key, value) in summary.iter() {
            let skip =
                ["ci95", "faults", "warnings", "markov", "precision"].contains(&key.as_str());
            if !skip && value.is_object() && !names.contains(key) {
                names.push(key.clone());
            }
        }
    }
    names
}

/// The faults of replication 0 of each labelled summary, in time order;
/// one timeline without the label column when they are all the same.
fn fault_timeline(labelled: &[(String, &Map<String, Value>)]) -> Option<Table> {
    let faults_of = |summary: &Map<String, Value>| match summary.get("faults") {
        Some(Value::Array(faults)) => faults.clone(),
        _ => Vec::new(),
    };
    let first = labelled
        .first()
        .map(|(_, s)| faults_of(s))
        .unwrap_or_default();
    let several = labelled.iter().any(|(_, s)| faults_of(s) != first);
    let shown = if several {
        labelled
    } else {
        &labelled[..labelled.len().min(1)]
    };
    let mut rows = Vec::new();
    for (label, summary) in shown {
        for f in faults_of(summary) {
            let get = |k: &str| f.get(k).map(cell).unwrap_or_default();
            let mut row = Vec::new();
            if several {
                row.push(label.clone());
            }
            row.extend([get("start"), get("end"), get("kind"), get("target")]);
            rows.push(row);
        }
    }
    if rows.is_empty() {
        return None;
    }
    let mut header: Vec<String> = Vec::new();
    if several {
        header.push("of".into());
    }
    header.extend(["start (s)", "end (s)", "fault", "target"].map(String::from));
    Some(Table {
        id: "faults".into(),
        caption: "faults in replication 0 (simulated seconds)".into(),
        header,
        rows,
    })
}

fn render_table(page: &mut String, table: &Table) {
    let _ = write!(
        page,
        "<div class=\"table\"><table data-table=\"{}\">\n<caption>{}</caption>\n<thead><tr>",
        escape(&table.id),
        escape(&table.caption)
    );
    for h in &table.header {
        let _ = write!(page, "<th scope=\"col\">{}</th>", escape(h));
    }
    page.push_str("</tr></thead>\n<tbody>\n");
    for row in &table.rows {
        page.push_str("<tr>");
        for (k, c) in row.iter().enumerate() {
            let tag = if k == 0 { "th scope=\"row\"" } else { "td" };
            let close = if k == 0 { "th" } else { "td" };
            let _ = write!(page, "<{tag}>{}</{close}>", escape(c));
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody></table></div>\n");
}

/// A command line as a shell would take it back: words quoted where they
/// need it.
fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .enumerate()
        .map(|(k, w)| {
            let w = if k == 0 {
                std::path::Path::new(w)
                    .file_name()
                    .map_or(w.clone(), |n| n.to_string_lossy().into_owned())
            } else {
                w.clone()
            };
            let plain = !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
            if plain {
                w
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

const STYLE: &str = r#"
:root { color-scheme: light; --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --band: #f6f8fa; --warn: #fff8c5; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); }
header, main, footer { max-width: 1100px; margin: 0 auto; padding: 0 16px; }
h1 { font-size: 1.5rem; margin: 16px 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 1.15rem; margin: 24px 0 8px; border-bottom: 1px solid var(--line); }
.meta, footer { color: var(--muted); font-size: 0.85rem; overflow-wrap: anywhere; }
footer { margin: 32px auto 16px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.85em; }
.warnings { background: var(--warn); padding: 4px 12px; border-radius: 6px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 480px), 1fr)); gap: 12px; }
figure.chart { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 4px; }
figure.chart svg { display: block; width: 100%; height: auto; }
.table { overflow-x: auto; margin: 12px 0; }
table { border-collapse: collapse; min-width: 50%; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: right; white-space: nowrap; }
th[scope=row], thead th:first-child { text-align: left; }
thead th { background: var(--band); }
pre { background: var(--band); padding: 12px; overflow-x: auto; font-size: 0.8rem; white-space: pre; }
@media (max-width: 600px) { body { font-size: 14px; } th, td { padding: 3px 6px; } }
@media print {
  body { font-size: 10pt; }
  header, main, footer { max-width: none; padding: 0; }
  .charts { display: block; }
  figure.chart, tr, pre { break-inside: avoid; }
  figure.chart { border: none; margin-bottom: 8pt; }
  .table { overflow: visible; }
  pre { white-space: pre-wrap; overflow-wrap: anywhere; }
  thead th, pre, .warnings { background: none; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_scenario_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        let provenance = Provenance {
            command: "run".into(),
            arguments: vec!["/bin/mqsim".into(), "run".into(), "a b.toml".into()],
            scenarios: vec![(
                "a b.toml".into(),
                "name = \"</pre><script>x()</script>\"".into(),
            )],
        };
        let page = Page::new("<b>bold</b>", provenance).render();
        assert!(
            !page.contains("<script>") && !page.contains("<b>bold"),
            "{page}"
        );
        assert!(page.contains("mqsim run &#39;a b.toml&#39;"), "{page}");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(number(70034.0), "70034");
        assert_eq!(number(0.137753123), "0.137753");
        assert_eq!(number(1234.56789), "1234.57");
        assert_eq!(number(f64::NAN), "—");
    }
}
