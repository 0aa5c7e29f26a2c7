//! `mqsim fit --otel FILE`: a scenario skeleton from OpenTelemetry spans.
//!
//! Reads OTLP JSON (what the collector's `file` exporter writes: one
//! `{"resourceSpans": [...]}` object per line, or one such object) and
//! follows the messaging semantic conventions: `messaging.operation.type`
//! (`create`/`send`/`publish` start a message's life, `process` is an
//! attempt, `receive`/`settle` are not used), `messaging.destination.name`,
//! `messaging.message.id`, `messaging.consumer.group.name`, and the span's
//! status (`STATUS_CODE_ERROR` is a failed attempt). Per destination: the
//! arrival process (the law of the gaps between publishes), the
//! processing-time law (the durations of `process` spans), the failure
//! rate, the redeliveries (a message id processed more than once), and the
//! most attempts seen at once (the consumers' concurrency, at least).

use super::Failure;
use crate::names::printable;
use crate::stats::fit::{self, Fit};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Largest span file read.
const OTEL_FILE_BYTES_MAX: u64 = 256 * 1024 * 1024;

/// What the spans say about one destination (a queue or topic).
#[derive(Debug, Default, serde::Serialize)]
pub struct Destination {
    pub name: String,
    /// Messages published (counted once per message id where spans carry one).
    pub published: usize,
    /// Attempts (`process` spans).
    pub processed: usize,
    /// Attempts whose span status is an error.
    pub failed: usize,
    /// Attempts on a message id already processed.
    pub redeliveries: usize,
    /// The most attempts in progress at one instant.
    pub concurrency_max: usize,
    pub groups: BTreeSet<String>,
    /// The best law of the gaps between publishes, and of the attempts.
    pub arrival: Option<Fit>,
    pub service: Option<Fit>,
    #[serde(skip)]
    publish_ns: Vec<u64>,
    #[serde(skip)]
    attempts_ns: Vec<(u64, u64)>,
    #[serde(skip)]
    published_ids: BTreeSet<String>,
    #[serde(skip)]
    processed_ids: BTreeSet<String>,
}

/// The destinations of every span in the file, and how many spans were
/// read and left out (no messaging operation or destination).
pub struct Spans {
    pub destinations: Vec<Destination>,
    pub spans: usize,
    pub ignored: usize,
}

pub fn read(path: &Path) -> Result<Spans, Failure> {
    let shown = printable(&path.display().to_string());
    let text = crate::scenario::data::read_text(path, OTEL_FILE_BYTES_MAX)
        .map_err(|e| Failure::input(format!("{shown}: {e}")))?;
    let documents: Vec<(usize, Value)> = match serde_json::from_str::<Value>(&text) {
        Ok(one) => vec![(1, one)],
        Err(_) => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .map(|v| (i + 1, v))
                    .map_err(|e| Failure::input(format!("{shown}: line {}: not JSON: {e}", i + 1)))
            })
            .collect::<Result<_, _>>()?,
    };
    let mut by_name: BTreeMap<String, Destination> = BTreeMap::new();
    let (mut spans, mut ignored) = (0, 0);
    for (line, document) in &documents {
        let resource_spans = document.get("resourceSpans").and_then(Value::as_array).ok_or_else(|| {
            Failure::input(format!("{shown}: line {line}: no `resourceSpans`: not OTLP JSON traces (the collector's file exporter writes them)"))
        })?;
        for span in resource_spans
            .iter()
            .flat_map(scope_spans)
            .flat_map(spans_of)
        {
            spans += 1;
            if !add_span(&mut by_name, span)
                .map_err(|m| Failure::input(format!("{shown}: line {line}: {m}")))?
            {
                ignored += 1;
            }
        }
    }
    let mut destinations: Vec<Destination> = by_name.into_values().collect();
    for d in &mut destinations {
        d.finish();
    }
    Ok(Spans {
        destinations,
        spans,
        ignored,
    })
}

fn scope_spans(resource: &Value) -> impl Iterator<Item = &Value> {
    // `instrumentationLibrarySpans` is the name before OTLP 0.15.
    ["scopeSpans", "instrumentationLibrarySpans"]
        .into_iter()
        .filter_map(|k| resource.get(k).and_then(Value::as_array))
        .flatten()
}

fn spans_of(scope: &Value) -> impl Iterator<Item = &Value> {
    scope
        .get("spans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// A span attribute as text (`stringValue`, or any other value printed).
fn attribute(span: &Value, key: &str) -> Option<String> {
    let found = span
        .get("attributes")?
        .as_array()?
        .iter()
        .find(|a| a.get("key").and_then(Value::as_str) == Some(key))?;
    let value = found.get("value")?.as_object()?.values().next()?;
    Some(match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// A `...UnixNano` time: a decimal string (as OTLP JSON writes 64-bit
/// integers) or a number.
fn nanos(span: &Value, key: &str) -> Result<u64, String> {
    match span.get(key) {
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| format!("`{key}` {} is not a count of nanoseconds", printable(s))),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| format!("`{key}` {n} is not a count of nanoseconds")),
        _ => Err(format!("a span has no `{key}`")),
    }
}

/// Adds one span to its destination; false when it is not a messaging
/// span mqsim uses.
fn add_span(by_name: &mut BTreeMap<String, Destination>, span: &Value) -> Result<bool, String> {
    let operation = attribute(span, "messaging.operation.type")
        .or_else(|| attribute(span, "messaging.operation"));
    let Some(destination) = attribute(span, "messaging.destination.name") else {
        return Ok(false);
    };
    let publishes = matches!(operation.as_deref(), Some("create" | "send" | "publish"));
    if !publishes && operation.as_deref() != Some("process") {
        return Ok(false);
    }
    let start = nanos(span, "startTimeUnixNano")?;
    let end = nanos(span, "endTimeUnixNano")?.max(start);
    let d = by_name
        .entry(destination.clone())
        .or_insert_with(|| Destination {
            name: destination,
            ..Destination::default()
        });
    let id = attribute(span, "messaging.message.id");
    if publishes {
        // A message with both a `create` and a `send` span is one publish.
        if id
            .as_ref()
            .is_none_or(|id| d.published_ids.insert(id.clone()))
        {
            d.publish_ns.push(start);
        }
        return Ok(true);
    }
    d.processed += 1;
    d.attempts_ns.push((start, end));
    if let Some(id) = id {
        if !d.processed_ids.insert(id) {
            d.redeliveries += 1;
        }
    }
    let status = span.get("status").and_then(|s| s.get("code"));
    if matches!(status, Some(Value::Number(n)) if n.as_u64() == Some(2))
        || status.and_then(Value::as_str) == Some("STATUS_CODE_ERROR")
    {
        d.failed += 1;
    }
    if let Some(group) = attribute(span, "messaging.consumer.group.name") {
        d.groups.insert(group);
    }
    Ok(true)
}

impl Destination {
    fn finish(&mut self) {
        self.publish_ns.sort_unstable();
        self.published = self.publish_ns.len();
        let gaps: Vec<f64> = self
            .publish_ns
            .windows(2)
            .map(|w| (w[1] - w[0]) as f64 / 1e9)
            .filter(|g| *g > 0.0)
            .collect();
        self.arrival = fit::fit_all(&gaps).ok().and_then(|f| f.into_iter().next());
        let durations: Vec<f64> = self
            .attempts_ns
            .iter()
            .map(|(s, e)| (e - s) as f64 / 1e9)
            .filter(|d| *d > 0.0)
            .collect();
        self.service = fit::fit_all(&durations)
            .ok()
            .and_then(|f| f.into_iter().next());
        let mut edges: Vec<(u64, i64)> = self
            .attempts_ns
            .iter()
            .flat_map(|(s, e)| [(*s, 1), (*e, -1)])
            .collect();
        // An attempt that ends when another starts does not overlap it.
        edges.sort_unstable_by_key(|(t, delta)| (*t, *delta));
        let mut now = 0i64;
        for (_, delta) in edges {
            now += delta;
            self.concurrency_max = self.concurrency_max.max(now as usize);
        }
    }

    /// Seconds from the first publish to the last.
    pub fn span_s(&self) -> f64 {
        match (self.publish_ns.first(), self.publish_ns.last()) {
            (Some(a), Some(b)) => (b - a) as f64 / 1e9,
            _ => 0.0,
        }
    }

    pub fn failure_rate(&self) -> f64 {
        self.failed as f64 / self.processed.max(1) as f64
    }
}

/// A TOML string.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A scenario with one queue, producer and consumer group per destination,
/// every line saying where its value came from.
pub fn skeleton(source: &str, spans: &Spans) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "# Written by mqsim fit --otel {}: one queue per messaging destination.\n",
        printable(source)
    );
    let longest = spans
        .destinations
        .iter()
        .map(Destination::span_s)
        .fold(0.0, f64::max);
    let _ = write!(
        out,
        "\n[simulation]\nduration = \"{}s\" # the longest span of publishes in the traces\n",
        (longest.ceil() as u64).max(1)
    );
    // A group that reads several destinations gets one consumer per
    // destination, each named after both.
    let mut readers: BTreeMap<&str, usize> = BTreeMap::new();
    for g in spans
        .destinations
        .iter()
        .flat_map(|d| d.groups.iter().take(1))
    {
        *readers.entry(g.as_str()).or_default() += 1;
    }
    for d in &spans.destinations {
        let name = quoted(&d.name);
        let _ = write!(
            out,
            "\n[[queue]]\nname = {name} # messaging.destination.name\n"
        );
        let _ = write!(out, "\n[[producer]]\nname = {name}\nqueue = {name}\n");
        match &d.arrival {
            Some(f) if f.family == "exponential" => {
                let _ = writeln!(
                    out,
                    "arrival = {{ process = \"poisson\", rate = {} }} # {} publishes over {} s",
                    fit::significant(1.0 / f.mean_s),
                    d.published,
                    fit::significant(d.span_s())
                );
            }
            Some(f) => {
                let _ = writeln!(
                    out,
                    "arrival = {} # the gaps between {} publishes ({}, best by AIC)",
                    f.dist_toml().replacen("dist =", "process =", 1),
                    d.published,
                    f.family
                );
            }
            None => {
                let _ = writeln!(out, "arrival = {{ process = \"poisson\", rate = 1 }} # PLACEHOLDER: fewer than 3 publishes in the traces");
            }
        }
        let consumer = match d.groups.iter().next() {
            Some(g) if readers.get(g.as_str()) == Some(&1) => g.clone(),
            Some(g) => format!("{g}-{}", d.name),
            None => d.name.clone(),
        };
        let _ = write!(
            out,
            "\n[[consumer]]\nname = {} # {}\nqueue = {name}\ncount = {} # the most process spans at one instant{}\n",
            quoted(&consumer),
            if d.groups.is_empty() { "the destination (no messaging.consumer.group.name)" } else { "messaging.consumer.group.name" },
            d.concurrency_max.max(1),
            if d.concurrency_max == 0 { " (none: PLACEHOLDER)" } else { "" }
        );
        match &d.service {
            Some(f) => {
                let _ = writeln!(
                    out,
                    "service = {} # {} process spans ({}, best by AIC)",
                    f.dist_toml(),
                    d.processed,
                    f.family
                );
            }
            None => {
                let _ = writeln!(out, "service = {{ dist = \"exponential\", mean = \"100ms\" }} # PLACEHOLDER: fewer than 2 process spans");
            }
        }
        if d.failed > 0 {
            let _ = writeln!(
                out,
                "failure = {} # {} of {} process spans ended with an error status",
                fit::significant(d.failure_rate()),
                d.failed,
                d.processed
            );
        }
    }
    out
}

/// The text report: per destination, what the spans say.
pub fn text(source: &str, spans: &Spans, scenario: &str) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "mqsim fit --otel: {}, {}, {} ({} without a messaging operation or destination left out)\n",
        printable(source),
        fit::counted(spans.spans, "span"),
        fit::counted(spans.destinations.len(), "destination"),
        fit::counted(spans.ignored, "span")
    );
    for d in &spans.destinations {
        let _ = writeln!(out, "\n{}", printable(&d.name));
        let rate = d.published.saturating_sub(1) as f64 / d.span_s().max(1e-9);
        let _ = writeln!(
            out,
            "  published      {} over {} s ({}/s)",
            d.published,
            fit::significant(d.span_s()),
            fit::significant(rate)
        );
        let _ = writeln!(
            out,
            "  processed      {} attempts, {} failed ({:.3}%), {} redeliveries (a message id processed again), at most {} at once",
            d.processed,
            d.failed,
            100.0 * d.failure_rate(),
            d.redeliveries,
            d.concurrency_max
        );
        for (what, law) in [("arrivals", &d.arrival), ("processing", &d.service)] {
            let shown = law
                .as_ref()
                .map_or("too few spans to fit".to_string(), |f| {
                    format!("{} ({})", f.dist_toml(), f.family)
                });
            let _ = writeln!(out, "  {what:<14} {shown}");
        }
        if !d.groups.is_empty() {
            let groups: Vec<String> = d.groups.iter().map(|g| printable(g)).collect();
            let _ = writeln!(out, "  groups         {}", groups.join(", "));
        }
    }
    let _ = write!(out, "\nscenario skeleton:\n\n{scenario}");
    out
}
