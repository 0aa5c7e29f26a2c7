//! Reading a scenario file: TOML syntax, `--set` overrides, the types, and
//! the checks of `validate`, with every error pointing at the file, line,
//! column and key (or at the `--set` that caused it).
//!
//! The file is parsed twice: once into a `toml::Table`, which the overrides
//! edit and serde turns into a [`Scenario`] (with `serde_path_to_error`
//! keeping the key path of any failure), and once into a spanned
//! `toml_edit::Document`, used only to turn a key path back into a line and
//! column.

use super::validate::{validate, Invalid, Seg};
use super::Scenario;
use std::fmt;
use std::path::Path;

/// Why a scenario could not be loaded. Shown to the user as
/// `file:line:col: key: message`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The key path, e.g. `consumer[0].failure`.
    pub key: Option<String>,
    /// The `--set` or variant override the bad value came from.
    pub origin: Option<String>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, ":{l}:{c}")?;
        }
        write!(f, ": ")?;
        if let Some(o) = &self.origin {
            write!(f, "in {o}: ")?;
        }
        if let Some(k) = &self.key {
            write!(f, "`{k}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// Overrides given on the command line (`--set key.path=value`).
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    pub overrides: Vec<String>,
}

/// A parsed but not yet typed scenario: the base that variants and
/// `--set` overrides edit.
#[derive(Clone, Debug)]
pub struct RawScenario {
    pub file: String,
    pub text: String,
    pub table: toml::Table,
    pub stem: String,
    /// Where the data files the scenario names are read from (its folder),
    /// and whether they may lie outside it (`--allow-outside`).
    pub access: super::data::Access,
}

/// One override: a dotted key path and a TOML value, with where it came from.
#[derive(Clone, Debug)]
pub struct Override {
    pub path: String,
    pub value: toml::Value,
    pub origin: String,
}

impl Override {
    /// Parses `key.path=value`. The value is read as TOML (`0.1`, `true`,
    /// `"5s"`, `{ dist = "constant", mean = "1s" }`); anything that is not
    /// valid TOML is taken as a string, so `backoff=none` works unquoted.
    pub fn parse(arg: &str) -> Result<Override, String> {
        let (path, value) = arg.split_once('=').ok_or_else(|| {
            format!("`--set {arg}`: write KEY=VALUE, e.g. --set consumer.failure=0.1")
        })?;
        let path = path.trim();
        if path.is_empty() || path.split('.').any(|s| s.trim().is_empty()) {
            return Err(format!(
                "`--set {arg}`: the key path `{path}` has an empty part; write e.g. queue.orders.max_deliveries=3"
            ));
        }
        Ok(Override {
            path: path.to_string(),
            value: parse_value(value.trim()),
            origin: format!("--set {arg}"),
        })
    }
}

/// Reads a TOML value written on a command line or in a variant.
pub fn parse_value(text: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {text}")) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(text.into())),
        Err(_) => toml::Value::String(text.to_string()),
    }
}

/// Loads, overrides, types and validates a scenario file.
pub fn load_file(path: &Path, opts: &LoadOptions) -> Result<Scenario, ScenarioError> {
    let raw = RawScenario::read(path)?;
    raw.build(&parse_overrides(&raw, &opts.overrides)?)
}

/// As [`load_file`], from text (`file` names it in errors).
pub fn load_str(text: &str, file: &str, opts: &LoadOptions) -> Result<Scenario, ScenarioError> {
    let raw = RawScenario::parse(text, file, "scenario")?;
    raw.build(&parse_overrides(&raw, &opts.overrides)?)
}

pub fn parse_overrides(raw: &RawScenario, args: &[String]) -> Result<Vec<Override>, ScenarioError> {
    args.iter()
        .map(|a| {
            Override::parse(a).map_err(|message| ScenarioError {
                file: raw.file.clone(),
                line: None,
                column: None,
                key: None,
                origin: None,
                message,
            })
        })
        .collect()
}

/// Largest scenario file read, in bytes: scenarios are a few kilobytes;
/// a file of megabytes is a mistake (or an attack on the loader).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Most tables (`[section]`, `[[entry]]`, inline `{ ... }`) in a scenario.
pub const MAX_TABLES: usize = 10_000;

impl RawScenario {
    pub fn read(path: &Path) -> Result<RawScenario, ScenarioError> {
        let file = path.display().to_string();
        let fail = |message: String| ScenarioError {
            file: file.clone(),
            line: None,
            column: None,
            key: None,
            origin: None,
            message,
        };
        let text = crate::scenario::data::read_text(path, MAX_FILE_BYTES)
            .map_err(|e| fail(format!("cannot read the scenario file: {e}")))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into());
        RawScenario::parse(&text, &file, &stem)
    }

    pub fn parse(text: &str, file: &str, stem: &str) -> Result<RawScenario, ScenarioError> {
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(ScenarioError {
                file: file.to_string(),
                line: None,
                column: None,
                key: None,
                origin: None,
                message: format!(
                    "the text is larger than {} MiB, the most a scenario may be",
                    MAX_FILE_BYTES / (1024 * 1024)
                ),
            });
        }
        // Counted before parsing, so that a file of a million tables is
        // refused in one pass instead of loaded.
        let mut tables = 0usize;
        for (i, line) in text.lines().enumerate() {
            let t = line.trim_start();
            tables += usize::from(t.starts_with('[')) + t.matches('{').count();
            if tables > MAX_TABLES {
                return Err(ScenarioError {
                    file: file.to_string(),
                    line: Some(i + 1),
                    column: Some(1),
                    key: None,
                    origin: None,
                    message: format!(
                        "more than {MAX_TABLES} tables: a scenario may have at most {MAX_TABLES} sections, entries and inline tables"
                    ),
                });
            }
        }
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            // The parser gives no position when it stops at its nesting
            // limit: point at the most deeply nested line instead.
            let (line, column) = e
                .span()
                .map(|s| line_col(text, s.start))
                .or_else(|| deepest_line(text))
                .map_or((None, None), |(l, c)| (Some(l), Some(c)));
            ScenarioError {
                file: file.to_string(),
                line,
                column,
                key: None,
                origin: None,
                message: format!("not valid TOML: {}", e.message().trim()),
            }
        })?;
        Ok(RawScenario {
            file: file.to_string(),
            text: text.to_string(),
            table,
            stem: stem.to_string(),
            access: super::data::Access::beside(file),
        })
    }

    /// Applies overrides, then types and validates.
    pub fn build(&self, overrides: &[Override]) -> Result<Scenario, ScenarioError> {
        let mut table = self.table.clone();
        let mut touched: Vec<(Vec<Seg>, String)> = Vec::new();
        for o in overrides {
            let segs = apply_override(&mut table, o).map_err(|message| ScenarioError {
                file: self.file.clone(),
                line: None,
                column: None,
                key: Some(o.path.clone()),
                origin: Some(o.origin.clone()),
                message,
            })?;
            for s in segs {
                touched.push((s, o.origin.clone()));
            }
        }
        let value = toml::Value::Table(table);
        let mut scenario: Scenario = serde_path_to_error::deserialize(value).map_err(|e| {
            let segs: Vec<Seg> = e
                .path()
                .iter()
                .filter_map(|s| match s {
                    serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                    serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                    _ => None,
                })
                .collect();
            self.error_at(
                &segs,
                &touched,
                improve_serde_message(&e.inner().to_string()),
            )
        })?;
        if scenario.simulation.name.is_none() {
            scenario.simulation.name = Some(self.stem.clone());
        }
        super::data::load_files(&mut scenario, &self.access)
            .map_err(|Invalid { path, message }| self.error_at(&path, &touched, message))?;
        validate(&scenario)
            .map_err(|Invalid { path, message }| self.error_at(&path, &touched, message))?;
        Ok(scenario)
    }

    /// Builds every `[[variant]]` of `scenario` (already built with `base`)
    /// once, so that a variant's bad override is refused by every command,
    /// `run` too, located at the variant's `set` key.
    pub fn check_variants(
        &self,
        scenario: &Scenario,
        base: &[Override],
    ) -> Result<(), ScenarioError> {
        for (i, v) in scenario.variants.iter().enumerate() {
            let mut overrides = base.to_vec();
            for (k, val) in &v.set {
                overrides.push(Override {
                    path: k.clone(),
                    value: val.clone(),
                    origin: format!("variant `{}`: {k}", v.name),
                });
            }
            if let Err(mut e) = self.build(&overrides) {
                let Some(key) = v
                    .set
                    .keys()
                    .find(|k| e.origin.as_deref() == Some(&format!("variant `{}`: {k}", v.name)))
                else {
                    return Err(e);
                };
                let path = [
                    Seg::Key("variant".into()),
                    Seg::Index(i),
                    Seg::Key("set".into()),
                    Seg::Key(key.clone()),
                ];
                if let Some((l, c)) = locate(&self.text, &path) {
                    e.line = Some(l);
                    e.column = Some(c);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    fn error_at(
        &self,
        path: &[Seg],
        touched: &[(Vec<Seg>, String)],
        message: String,
    ) -> ScenarioError {
        let origin = touched
            .iter()
            .find(|(t, _)| path.starts_with(t) || t.starts_with(path) && !path.is_empty())
            .map(|(_, o)| o.clone());
        let (line, column) = if origin.is_some() {
            (None, None)
        } else {
            locate(&self.text, path).map_or((None, None), |(l, c)| (Some(l), Some(c)))
        };
        ScenarioError {
            file: self.file.clone(),
            line,
            column,
            key: (!path.is_empty()).then(|| path_string(path)),
            origin,
            message,
        }
    }
}

/// `consumer[0].retry.base`
pub fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// The line with the most nesting (dots and brackets), as (line, 1).
fn deepest_line(text: &str) -> Option<(usize, usize)> {
    text.lines()
        .enumerate()
        .max_by_key(|(_, l)| l.chars().filter(|c| matches!(c, '.' | '[' | '{')).count())
        .map(|(i, _)| (i + 1, 1))
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Finds the line and column of a key path in the source: the key itself
/// where it is written, or the nearest enclosing item that is.
fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let mut node = Node::Table(doc.as_table());
    let mut best = None;
    for seg in path {
        let next = match seg {
            Seg::Key(k) => node.get(k, &mut best),
            Seg::Index(i) => node.index(*i, &mut best),
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    best.map(|off| line_col(text, off))
}

/// A place in a spanned TOML document: toml_edit hands out tables, items and
/// values as different types depending on how they were written.
#[derive(Clone, Copy)]
enum Node<'a> {
    Table(&'a toml_edit::Table),
    Item(&'a toml_edit::Item),
    Value(&'a toml_edit::Value),
}

impl<'a> Node<'a> {
    fn get(self, key: &str, best: &mut Option<usize>) -> Option<Node<'a>> {
        let found = match self {
            Node::Table(t) => t.get_key_value(key).map(|(k, v)| (k, Node::Item(v))),
            Node::Item(i) => i
                .as_table_like()
                .and_then(|t| t.get_key_value(key))
                .map(|(k, v)| (k, Node::Item(v))),
            Node::Value(toml_edit::Value::InlineTable(t)) => {
                t.get_key_value(key).map(|(k, v)| (k, Node::Item(v)))
            }
            Node::Value(_) => None,
        }?;
        if let Some(sp) = found.0.span() {
            *best = Some(sp.start);
        }
        Some(found.1)
    }

    fn index(self, i: usize, best: &mut Option<usize>) -> Option<Node<'a>> {
        let (span, node) = match self {
            Node::Item(toml_edit::Item::ArrayOfTables(a)) => {
                let t = a.get(i)?;
                (t.span(), Node::Table(t))
            }
            Node::Item(toml_edit::Item::Value(toml_edit::Value::Array(a)))
            | Node::Value(toml_edit::Value::Array(a)) => {
                let v = a.get(i)?;
                (v.span(), Node::Value(v))
            }
            _ => return None,
        };
        if let Some(sp) = span {
            *best = Some(sp.start);
        }
        Some(node)
    }
}

/// Sections written as `[[name]]`: an override of `consumer.x` applies to the
/// one named by the next part, or to all of them.
const ARRAY_SECTIONS: [&str; 5] = ["producer", "queue", "topic", "consumer", "fault"];

/// Applies one override to the table. Returns the key paths it touched.
fn apply_override(table: &mut toml::Table, o: &Override) -> Result<Vec<Vec<Seg>>, String> {
    let parts: Vec<&str> = o.path.split('.').map(str::trim).collect();
    let section = parts[0];
    if ARRAY_SECTIONS.contains(&section) {
        let entry = table
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Array(vec![]));
        let arr = entry
            .as_array_mut()
            .ok_or_else(|| format!("`{section}` is not a list of [[{section}]] tables"))?;
        if arr.is_empty() {
            return Err(format!("there is no [[{section}]] to set `{}` on", o.path));
        }
        let rest = &parts[1..];
        // Select by index, by name, or all.
        let (targets, rest): (Vec<usize>, &[&str]) = match rest.first() {
            Some(first) => {
                if let Ok(i) = first.parse::<usize>() {
                    if i >= arr.len() {
                        return Err(format!(
                            "there are {} [[{section}]] tables; index {i} is out of range",
                            arr.len()
                        ));
                    }
                    (vec![i], &rest[1..])
                } else if let Some(i) = (0..arr.len()).find(|&i| {
                    // An entry without `name` is called as the reports
                    // call it: `consumer` when alone, else `consumer-2`...
                    let default = if arr.len() == 1 {
                        section.to_string()
                    } else {
                        format!("{section}-{}", i + 1)
                    };
                    arr[i]
                        .get("name")
                        .and_then(|n| n.as_str())
                        .map_or(default.as_str() == *first, |n| n == *first)
                }) {
                    (vec![i], &rest[1..])
                } else {
                    ((0..arr.len()).collect(), rest)
                }
            }
            None => {
                return Err(format!(
                    "`{}` names a whole section; name a key inside it, e.g. {section}.name",
                    o.path
                ))
            }
        };
        if rest.is_empty() {
            return Err(format!(
                "`{}` names a whole [[{section}]]; name a key inside it",
                o.path
            ));
        }
        let mut touched = Vec::new();
        for i in targets {
            let t = arr[i]
                .as_table_mut()
                .ok_or_else(|| format!("[[{section}]] number {i} is not a table"))?;
            set_path(t, rest, o.value.clone())?;
            let mut segs = vec![Seg::Key(section.into()), Seg::Index(i)];
            segs.extend(rest.iter().map(|k| Seg::Key(k.to_string())));
            touched.push(segs);
        }
        Ok(touched)
    } else {
        set_path(table, &parts, o.value.clone())?;
        Ok(vec![parts
            .iter()
            .map(|k| Seg::Key(k.to_string()))
            .collect()])
    }
}

fn set_path(table: &mut toml::Table, parts: &[&str], value: toml::Value) -> Result<(), String> {
    let (last, inner) = parts.split_last().ok_or("empty key path")?;
    let mut t = table;
    for p in inner {
        let entry = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{p}` holds a value, not a table, so it has no `.` keys"))?;
    }
    t.insert(last.to_string(), value);
    Ok(())
}

/// Makes serde's messages kinder: suggests the nearest valid name for an
/// unknown key or value.
fn improve_serde_message(msg: &str) -> String {
    // One line: the parser's own line breaks would look like more errors.
    let msg = msg.trim().replace('\n', " ");
    // The parser ends with where it was (` in `fault.at``), which the
    // location before the message already says.
    let msg = match msg.rsplit_once(" in `") {
        Some((head, tail)) if tail.ends_with('`') && !tail[..tail.len() - 1].contains('`') => {
            head.to_string()
        }
        _ => msg,
    };
    for (what, label) in [("unknown field `", "key"), ("unknown variant `", "value")] {
        if let Some(rest) = msg.strip_prefix(what) {
            let Some((bad, tail)) = rest.split_once('`') else {
                return msg;
            };
            // The list is `a`, `b`, `c` (or `a` or `b`): stop at the first
            // piece joined otherwise, such as the name of the table the
            // parser adds after it (` for key `simulation``).
            let pieces: Vec<&str> = tail.split('`').collect();
            let mut allowed: Vec<&str> = Vec::new();
            for (i, piece) in pieces.iter().enumerate().skip(1).step_by(2) {
                let before = pieces[i - 1];
                let joined = i == 1 || matches!(before, ", " | " or " | ", or ");
                if !joined {
                    break;
                }
                if !piece.contains('.') && !piece.contains(' ') {
                    allowed.push(piece);
                }
            }
            let mut out = format!("unknown {label} `{bad}`");
            if let Some(near) = nearest(bad, &allowed) {
                out.push_str(&format!(": did you mean `{near}`?"));
            }
            if !allowed.is_empty() {
                out.push_str(&format!(" (allowed: {})", allowed.join(", ")));
            }
            return out;
        }
    }
    msg
}

pub use crate::words::{did_you_mean, nearest};
