//! Scenarios from a broker's own configuration: SQS `GetQueueAttributes`,
//! a RabbitMQ definitions export, a Kafka consumer's properties. Each
//! importer writes TOML with a comment on every line naming the field it
//! came from, lists the fields it does not model, and leaves the workload
//! (arrival rate, processing time) as marked placeholders: configuration
//! says how the broker treats a message, not how many come or how long
//! they take.

use serde_json::Value;
use std::fmt::Write;

/// A field of the imported file that could not be read, with its path.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn error(field: impl Into<String>, message: impl Into<String>) -> ImportError {
    ImportError {
        field: field.into(),
        message: message.into(),
    }
}

/// The kinds of configuration `mqsim import` reads.
pub const IMPORT_KINDS: [&str; 3] = ["sqs", "rabbitmq", "kafka"];

/// A scenario being written: TOML lines, each with the source it came from.
struct Writer {
    text: String,
    unsupported: Vec<String>,
}

impl Writer {
    fn new(title: &str) -> Writer {
        let mut text = String::new();
        let _ = writeln!(text, "# {title}");
        let _ = writeln!(
            text,
            "# Written by `mqsim import`. Every line names the field it came from; lines marked\n# PLACEHOLDER are the workload, which no configuration holds: measure it (`mqsim fit`)."
        );
        Writer {
            text,
            unsupported: Vec::new(),
        }
    }

    fn line(&mut self, toml: &str, source: &str) {
        let _ = writeln!(self.text, "{toml:<44} # {source}");
    }

    fn raw(&mut self, text: &str) {
        let _ = writeln!(self.text, "{text}");
    }

    fn unsupported(&mut self, field: &str, why: &str) {
        self.unsupported.push(format!("{field}: {why}"));
    }

    fn placeholders(&mut self, target: &str, keyed: bool) {
        self.raw("");
        self.raw("[[producer]]");
        self.line(target, "where the messages go");
        self.line(
            "arrival = { process = \"poisson\", rate = 10.0 }",
            "PLACEHOLDER: your arrival rate per second",
        );
        if keyed {
            self.line(
                "key = { dist = \"uniform-keys\", count = 100 }",
                "PLACEHOLDER: your message groups (MessageGroupId)",
            );
        }
        self.raw("");
        self.raw("[[consumer]]");
        self.line(target, "what it reads");
        self.line("count = 1", "PLACEHOLDER: consumer instances");
        self.line(
            "service = { dist = \"exponential\", mean = \"50ms\" }",
            "PLACEHOLDER: your processing time (mqsim fit)",
        );
    }

    fn finish(mut self) -> String {
        if !self.unsupported.is_empty() {
            self.raw("");
            self.raw("# Not modelled (read, and left out):");
            for u in std::mem::take(&mut self.unsupported) {
                self.raw(&format!("#   {u}"));
            }
        }
        self.text
    }
}

/// A TOML string.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A name usable in a scenario (letters, digits, `-`, `_`, `.`).
fn scenario_name(s: &str) -> String {
    let name: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if name.trim_matches('-').is_empty() {
        "imported".into()
    } else {
        name
    }
}

/// A whole number from a JSON string or number (AWS writes "30").
fn whole(v: &Value, field: &str) -> Result<u64, ImportError> {
    let parsed = match v {
        Value::String(s) => s.trim().parse::<u64>().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    };
    parsed.ok_or_else(|| error(field, format!("{v} is not a whole number")))
}

fn signed(v: &Value, field: &str) -> Result<i64, ImportError> {
    let parsed = match v {
        Value::String(s) => s.trim().parse::<i64>().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    parsed.ok_or_else(|| error(field, format!("{v} is not a whole number")))
}

fn flag(v: &Value, field: &str) -> Result<bool, ImportError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        _ => Err(error(field, format!("{v} is neither true nor false"))),
    }
}

/// SQS `aws sqs get-queue-attributes --attribute-names All` output (or its
/// `Attributes` object alone).
pub fn sqs(text: &str) -> Result<String, ImportError> {
    let root: Value =
        serde_json::from_str(text).map_err(|e| error("(file)", format!("not JSON: {e}")))?;
    let attributes = root.get("Attributes").unwrap_or(&root);
    let attributes = attributes
        .as_object()
        .ok_or_else(|| error("Attributes", "not an object of queue attributes"))?;
    if !attributes.contains_key("VisibilityTimeout") {
        return Err(error(
            "Attributes.VisibilityTimeout",
            "missing: this does not look like GetQueueAttributes output (run `aws sqs get-queue-attributes --queue-url URL --attribute-names All`)",
        ));
    }
    let field = |k: &str| format!("Attributes.{k}");
    let arn = attributes
        .get("QueueArn")
        .and_then(Value::as_str)
        .unwrap_or("queue");
    let name = scenario_name(
        arn.rsplit(':')
            .next()
            .unwrap_or("queue")
            .trim_end_matches(".fifo"),
    );
    let mut w = Writer::new(&format!("SQS queue {arn}"));
    w.raw("[simulation]");
    w.line(&format!("name = {}", quoted(&name)), "QueueArn");
    w.line("duration = \"1h\"", "PLACEHOLDER: how long to simulate");
    w.raw("");
    w.raw("[[queue]]");
    w.line(&format!("name = {}", quoted(&name)), "QueueArn");
    w.line("preset = \"sqs\"", "an SQS queue");
    let mut fifo = false;
    for (key, value) in attributes {
        let f = field(key);
        match key.as_str() {
            "VisibilityTimeout" => w.line(&format!("ack_timeout = \"{}s\"", whole(value, &f)?), &f),
            "MessageRetentionPeriod" => w.line(&format!("ttl = \"{}s\"", whole(value, &f)?), &f),
            "RedrivePolicy" => {
                let text = value.as_str().unwrap_or_default();
                let policy: Value = serde_json::from_str(text)
                    .map_err(|e| error(&f, format!("not a JSON redrive policy: {e}")))?;
                let count = policy
                    .get("maxReceiveCount")
                    .ok_or_else(|| error(format!("{f}.maxReceiveCount"), "missing"))?;
                let count = whole(count, &format!("{f}.maxReceiveCount"))?;
                w.line(
                    &format!("max_deliveries = {count}"),
                    &format!("{f}.maxReceiveCount"),
                );
                let target = policy
                    .get("deadLetterTargetArn")
                    .and_then(Value::as_str)
                    .unwrap_or("(none)");
                w.line(
                    "dead_letter = true",
                    &format!("{f}.deadLetterTargetArn = {target}"),
                );
            }
            "FifoQueue" => fifo = flag(value, &f)?,
            "DelaySeconds" if whole(value, &f)? == 0 => {}
            "DelaySeconds" => {
                w.unsupported(&f, "a delivery delay for every message is not modelled")
            }
            "ReceiveMessageWaitTimeSeconds" => w.unsupported(
                &f,
                "long polling changes API calls, not what happens to a message",
            ),
            "ContentBasedDeduplication" | "DeduplicationScope" | "FifoThroughputLimit" => {}
            "ApproximateNumberOfMessages"
            | "ApproximateNumberOfMessagesNotVisible"
            | "ApproximateNumberOfMessagesDelayed"
            | "CreatedTimestamp"
            | "LastModifiedTimestamp"
            | "QueueArn" => {}
            other => w.unsupported(&field(other), "not a reliability setting mqsim models"),
        }
    }
    if !attributes.contains_key("RedrivePolicy") {
        w.line(
            "max_deliveries = \"unlimited\"",
            "no RedrivePolicy: a failing message returns until MessageRetentionPeriod",
        );
    }
    if fifo {
        w.line(
            "fifo_by_key = true",
            "Attributes.FifoQueue: one message of a group out at a time",
        );
        w.line(
            "dedup_window = \"5m\"",
            "Attributes.FifoQueue: deduplication interval, 5 minutes",
        );
    }
    w.placeholders(&format!("queue = {}", quoted(&name)), fifo);
    Ok(w.finish())
}

/// One RabbitMQ queue's effective settings: its `x-` arguments over the
/// policy that applies to it.
#[derive(Default, Debug)]
struct RabbitQueue {
    name: String,
    kind: String,
    delivery_limit: Option<(i64, String)>,
    dead_letter_exchange: Option<(String, String)>,
    ttl_ms: Option<(u64, String)>,
    max_length: Option<(u64, String)>,
    overflow: Option<(String, String)>,
}

/// The policy with the highest priority whose pattern matches the queue
/// (RabbitMQ applies one policy to a queue).
fn policy_for<'a>(
    policies: &'a [Value],
    queue: &str,
    vhost: &str,
    kind: &str,
) -> Result<Option<(usize, &'a Value)>, ImportError> {
    let mut best: Option<(i64, usize, &Value)> = None;
    for (i, p) in policies.iter().enumerate() {
        let at = format!("policies[{i}]");
        if p.get("vhost").and_then(Value::as_str).unwrap_or("/") != vhost {
            continue;
        }
        let applies = p.get("apply-to").and_then(Value::as_str).unwrap_or("all");
        let fits = match applies {
            "all" | "queues" => true,
            "classic_queues" => kind == "classic",
            "quorum_queues" => kind == "quorum",
            _ => false,
        };
        let pattern = p
            .get("pattern")
            .and_then(Value::as_str)
            .ok_or_else(|| error(format!("{at}.pattern"), "missing"))?;
        let regex = regex::Regex::new(pattern).map_err(|e| {
            error(
                format!("{at}.pattern"),
                format!("not a regular expression: {e}"),
            )
        })?;
        if !fits || !regex.is_match(queue) {
            continue;
        }
        let priority = p.get("priority").and_then(Value::as_i64).unwrap_or(0);
        if best.is_none_or(|(b, _, _)| priority > b) {
            best = Some((priority, i, p));
        }
    }
    Ok(best.map(|(_, i, p)| (i, p)))
}

fn rabbit_queue(q: &Value, i: usize, policies: &[Value]) -> Result<RabbitQueue, ImportError> {
    let at = format!("queues[{i}]");
    let name = q
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| error(format!("{at}.name"), "missing"))?;
    let vhost = q.get("vhost").and_then(Value::as_str).unwrap_or("/");
    let empty = serde_json::Map::new();
    let args = q
        .get("arguments")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let arg = |k: &str| args.get(k).map(|v| (v, format!("{at}.arguments.{k}")));
    let kind = arg("x-queue-type")
        .and_then(|(v, _)| v.as_str().map(String::from))
        .unwrap_or_else(|| "classic".into());
    let mut out = RabbitQueue {
        name: name.to_string(),
        kind: kind.clone(),
        ..Default::default()
    };
    let policy = policy_for(policies, name, vhost, &kind)?;
    let from_policy = |k: &str| {
        policy.and_then(|(pi, p)| {
            p.get("definition")
                .and_then(|d| d.get(k))
                .map(|v| (v, format!("policies[{pi}].definition.{k}")))
        })
    };
    // Limits: RabbitMQ applies the lower of an argument and a policy.
    let lower = |a: Option<(u64, String)>, b: Option<(u64, String)>| match (a, b) {
        (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
        (a, b) => a.or(b),
    };
    let read_whole = |x: Option<(&Value, String)>| -> Result<Option<(u64, String)>, ImportError> {
        x.map(|(v, f)| whole(v, &f).map(|n| (n, f))).transpose()
    };
    out.ttl_ms = lower(
        read_whole(arg("x-message-ttl"))?,
        read_whole(from_policy("message-ttl"))?,
    );
    out.max_length = lower(
        read_whole(arg("x-max-length"))?,
        read_whole(from_policy("max-length"))?,
    );
    let limit = |x: Option<(&Value, String)>| -> Result<Option<(i64, String)>, ImportError> {
        x.map(|(v, f)| signed(v, &f).map(|n| (n, f))).transpose()
    };
    out.delivery_limit = match (
        limit(arg("x-delivery-limit"))?,
        limit(from_policy("delivery-limit"))?,
    ) {
        (Some(a), Some(b)) => Some(if b.0 >= 0 && (a.0 < 0 || b.0 < a.0) {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    };
    let text =
        |x: Option<(&Value, String)>| x.and_then(|(v, f)| v.as_str().map(|s| (s.to_string(), f)));
    out.dead_letter_exchange =
        text(arg("x-dead-letter-exchange")).or(text(from_policy("dead-letter-exchange")));
    out.overflow = text(arg("x-overflow")).or(text(from_policy("overflow")));
    Ok(out)
}

/// A RabbitMQ definitions export (`rabbitmqctl export_definitions`, or the
/// management UI's download).
pub fn rabbitmq(text: &str) -> Result<String, ImportError> {
    let root: Value =
        serde_json::from_str(text).map_err(|e| error("(file)", format!("not JSON: {e}")))?;
    let queues = root
        .get("queues")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            error(
                "queues",
                "missing: this does not look like a RabbitMQ definitions export",
            )
        })?;
    let none = Vec::new();
    let policies = root
        .get("policies")
        .and_then(Value::as_array)
        .unwrap_or(&none);
    let bindings = root
        .get("bindings")
        .and_then(Value::as_array)
        .unwrap_or(&none);
    let read: Vec<RabbitQueue> = queues
        .iter()
        .enumerate()
        .map(|(i, q)| rabbit_queue(q, i, policies))
        .collect::<Result<_, _>>()?;
    // Queues bound to some queue's dead-letter exchange hold dead letters:
    // mqsim keeps those implicitly, per queue.
    let exchanges: Vec<&str> = read
        .iter()
        .filter_map(|q| q.dead_letter_exchange.as_ref().map(|(e, _)| e.as_str()))
        .collect();
    let bound = |exchange: &str| -> Vec<String> {
        bindings
            .iter()
            .filter(|b| b.get("source").and_then(Value::as_str) == Some(exchange))
            .filter_map(|b| {
                b.get("destination")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .collect()
    };
    let dead_letter_queues: Vec<String> = exchanges.iter().flat_map(|e| bound(e)).collect();
    let modelled: Vec<&RabbitQueue> = read
        .iter()
        .filter(|q| !dead_letter_queues.contains(&q.name) && q.kind != "stream")
        .collect();
    if modelled.is_empty() {
        return Err(error(
            "queues",
            "no queue to model (only dead-letter queues and streams)",
        ));
    }
    let mut w = Writer::new("RabbitMQ definitions");
    w.raw("[simulation]");
    w.line(
        &format!("name = {}", quoted(&scenario_name(&modelled[0].name))),
        "queues[].name",
    );
    w.line("duration = \"1h\"", "PLACEHOLDER: how long to simulate");
    for q in &read {
        if dead_letter_queues.contains(&q.name) {
            w.unsupported(
                &format!("queue {}", q.name),
                "a dead-letter queue: mqsim counts dead letters per queue",
            );
        } else if q.kind == "stream" {
            w.unsupported(
                &format!("queue {}", q.name),
                "a stream queue: model it as a [[topic]]",
            );
        }
    }
    for q in &modelled {
        rabbit_queue_toml(&mut w, q, &bound);
    }
    for q in &modelled {
        w.placeholders(&format!("queue = {}", quoted(&q.name)), false);
    }
    Ok(w.finish())
}

fn rabbit_queue_toml(w: &mut Writer, q: &RabbitQueue, bound: &dyn Fn(&str) -> Vec<String>) {
    w.raw("");
    w.raw("[[queue]]");
    w.line(&format!("name = {}", quoted(&q.name)), "queues[].name");
    let preset = if q.kind == "quorum" {
        "rabbitmq-quorum"
    } else {
        "rabbitmq-classic"
    };
    w.line(
        &format!("preset = \"{preset}\""),
        &format!("x-queue-type = {}", q.kind),
    );
    match &q.delivery_limit {
        Some((n, f)) if *n < 0 => w.line("max_deliveries = \"unlimited\"", f),
        // A message goes when its delivery count exceeds the limit: it is
        // delivered the limit + 1 times in all.
        Some((n, f)) if q.kind == "quorum" => w.line(
            &format!("max_deliveries = {}", n + 1),
            &format!("{f} (+1: deliveries in all)"),
        ),
        Some((_, f)) => w.unsupported(f, "classic queues have no delivery limit"),
        None => {}
    }
    match &q.dead_letter_exchange {
        Some((exchange, f)) => {
            let targets = bound(exchange);
            if targets.is_empty() {
                w.line(
                    "dead_letter = false",
                    &format!("{f} = {exchange}, bound to no queue: dead letters are dropped"),
                );
            } else {
                w.line(
                    "dead_letter = true",
                    &format!("{f} = {exchange} -> {}", targets.join(", ")),
                );
            }
        }
        None => w.line(
            "dead_letter = false",
            "no dead-letter exchange: dead letters are dropped",
        ),
    }
    if let Some((ms, f)) = &q.ttl_ms {
        w.line(&format!("ttl = \"{ms}ms\""), f);
    }
    if let Some((n, f)) = &q.max_length {
        w.line(&format!("capacity = {n}"), f);
    }
    match q.overflow.as_ref().map(|(o, f)| (o.as_str(), f)) {
        Some(("drop-head", f)) => w.line("overflow = \"drop-head\"", f),
        Some(("reject-publish", f)) => w.line("overflow = \"reject-publish\"", f),
        Some(("reject-publish-dlx", f)) => w.line(
            "overflow = \"dead-letter\"",
            &format!("{f} = reject-publish-dlx (the publisher is also refused)"),
        ),
        Some((other, f)) => w.unsupported(f, &format!("overflow {other} is not modelled")),
        None => {}
    }
}

/// `key=value` lines of a Java properties file (`#` and `!` comments).
fn properties(text: &str) -> Result<Vec<(usize, String, String)>, ImportError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (key, value) = line.split_once(['=', ':']).ok_or_else(|| {
            error(
                format!("line {}", i + 1),
                format!("`{line}` is not key=value"),
            )
        })?;
        out.push((i + 1, key.trim().to_string(), value.trim().to_string()));
    }
    Ok(out)
}

/// A Kafka consumer's `consumer.properties` (Java client names).
pub fn kafka(text: &str, partitions: u32) -> Result<String, ImportError> {
    let props = properties(text)?;
    let get = |k: &str| props.iter().find(|(_, key, _)| key == k);
    let group = get("group.id").map_or("consumers", |(_, _, v)| v.as_str());
    let name = scenario_name(group);
    let mut w = Writer::new(&format!("Kafka consumer group {group}"));
    w.raw("[simulation]");
    w.line(&format!("name = {}", quoted(&name)), "group.id");
    w.line("duration = \"1h\"", "PLACEHOLDER: how long to simulate");
    w.raw("");
    w.raw("[[topic]]");
    w.line("name = \"topic\"", "PLACEHOLDER: the topic it reads");
    w.line(&format!("partitions = {partitions}"), "--partitions");
    w.raw("");
    w.raw("[[producer]]");
    w.line("topic = \"topic\"", "the topic");
    w.line(
        "arrival = { process = \"poisson\", rate = 10.0 }",
        "PLACEHOLDER: your arrival rate per second",
    );
    w.raw("");
    w.raw("[[consumer]]");
    w.line("topic = \"topic\"", "the topic");
    w.line(&format!("group = {}", quoted(group)), "group.id");
    w.line("count = 1", "PLACEHOLDER: members of the group");
    w.line(
        "service = { dist = \"exponential\", mean = \"10ms\" }",
        "PLACEHOLDER: your processing time per record",
    );
    let ms = |line: usize, k: &str, v: &str| -> Result<u64, ImportError> {
        v.parse::<u64>().map_err(|_| {
            error(
                format!("line {line}: {k}"),
                format!("`{v}` is not a whole number of milliseconds"),
            )
        })
    };
    let auto_commit = match get("enable.auto.commit") {
        Some((line, k, v)) => match v.as_str() {
            "true" => true,
            "false" => false,
            other => {
                return Err(error(
                    format!("line {line}: {k}"),
                    format!("`{other}` is neither true nor false"),
                ))
            }
        },
        None => true,
    };
    let source = get("enable.auto.commit").map_or(
        "enable.auto.commit (default true)".to_string(),
        |(l, k, v)| format!("line {l}: {k}={v}"),
    );
    if auto_commit {
        w.line(
            "commit = \"auto-in-poll\"",
            &format!(
                "{source}: the Java client commits inside poll() what the previous poll returned"
            ),
        );
    } else {
        w.line(
            "commit = \"after-processing\"",
            &format!("{source}: assumes a commit after each poll's records"),
        );
    }
    for (line, key, value) in &props {
        let at = format!("line {line}: {key}={value}");
        match key.as_str() {
            "auto.commit.interval.ms" if auto_commit => w.line(
                &format!("auto_commit_interval = \"{}ms\"", ms(*line, key, value)?),
                &at,
            ),
            "max.poll.records" => {
                let n: u64 = value.parse().map_err(|_| {
                    error(
                        format!("line {line}: {key}"),
                        format!("`{value}` is not a whole number"),
                    )
                })?;
                w.line(&format!("max_poll_records = {n}"), &at);
            }
            "max.poll.interval.ms" => w.line(
                &format!("max_poll_interval = \"{}ms\"", ms(*line, key, value)?),
                &at,
            ),
            "session.timeout.ms" => w.line(
                &format!("session_timeout = \"{}ms\"", ms(*line, key, value)?),
                &at,
            ),
            "group.id" | "enable.auto.commit" | "auto.commit.interval.ms" => {}
            "bootstrap.servers" | "key.deserializer" | "value.deserializer" | "client.id"
            | "security.protocol" => {}
            other => w.unsupported(
                &format!("line {line}: {other}"),
                "not a setting mqsim models",
            ),
        }
    }
    Ok(w.finish())
}
