//! Range and reference checks on a typed scenario. Each failure names the
//! key path, so that the loader can point at the line and column.

mod autoscale;
mod consumer;
pub mod cost;
mod expect;
mod fault;
mod periodic;
mod producer;
mod queue;
mod saga;
mod topic;

pub use producer::interarrival_dist;
pub use topic::resolve_topic;

use super::*;
use crate::time::MAX_DURATION_NS;

/// One part of a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Invalid {
    pub path: Vec<Seg>,
    pub message: String,
}

/// Builds key paths: `at("consumer", 0).key("failure")`.
#[derive(Clone)]
pub struct P(Vec<Seg>);

impl P {
    pub(crate) fn root(k: &str) -> P {
        P(vec![Seg::Key(k.into())])
    }
    pub(crate) fn at(k: &str, i: usize) -> P {
        P(vec![Seg::Key(k.into()), Seg::Index(i)])
    }
    pub(crate) fn key(&self, k: &str) -> P {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.into()));
        P(v)
    }
    pub(crate) fn idx(&self, i: usize) -> P {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        P(v)
    }
    pub(crate) fn err<T>(&self, message: impl Into<String>) -> Result<T, Invalid> {
        Err(Invalid {
            path: self.0.clone(),
            message: message.into(),
        })
    }
}

pub const CRASH_REQUEUES: [&str; 2] = ["immediate", "ack-timeout"];
/// Most copies of a partition.
pub const MAX_REPLICATION_FACTOR: u32 = 16;
/// How a topic consumer handles a failed record: "in-handler" retries in
/// place (blocking: the partition stalls), "retry-queues" forwards it to
/// retry topics (Spring's non-blocking retries), "none" gives up at once.
pub const TOPIC_RETRY_MODES: [&str; 3] = ["in-handler", "retry-queues", "none"];
/// Most distinct message keys (per-key state is kept for each).
pub const MAX_KEYS: u64 = 1_000_000;
/// Most partitions of one topic.
pub const MAX_PARTITIONS: u32 = 10_000;
pub const ARRIVAL_PROCESSES: [&str; 5] = ["poisson", "constant", "schedule", "trace", "profile"];

/// The most queues a scenario may have (a message keeps one bit per queue).
pub const MAX_QUEUES: usize = 64;
/// Largest rate accepted, messages per second.
pub const MAX_RATE: f64 = 1e9;

fn one_of(p: &P, value: &str, allowed: &[&str]) -> Result<(), Invalid> {
    if allowed.contains(&value) {
        return Ok(());
    }
    p.err(crate::words::not_allowed(value, allowed))
}

fn probability(p: &P, v: Option<f64>) -> Result<(), Invalid> {
    match v {
        Some(x) if !(0.0..=1.0).contains(&x) || x.is_nan() => p.err(format!(
            "{} is not a probability: give a number from 0 to 1",
            short_number(x)
        )),
        _ => Ok(()),
    }
}

/// A number as a person writes it: `1e300`, not 301 digits.
pub fn short_number(x: f64) -> String {
    let plain = format!("{x}");
    if plain.len() > 16 {
        format!("{x:e}")
    } else {
        plain
    }
}

fn positive(p: &P, d: Option<Duration>, what: &str) -> Result<(), Invalid> {
    match d {
        Some(d) if d.ns() == 0 => p.err(format!("{what} must be longer than zero")),
        _ => Ok(()),
    }
}

fn name_of(name: &Option<String>, section: &str, i: usize, count: usize) -> String {
    match name {
        Some(n) => n.clone(),
        None if count == 1 => section.to_string(),
        None => format!("{section}-{}", i + 1),
    }
}

/// The name of queue `i` as the reports show it.
pub fn queue_name(s: &Scenario, i: usize) -> String {
    name_of(&s.queues[i].name, "queue", i, s.queues.len())
}
pub fn producer_name(s: &Scenario, i: usize) -> String {
    name_of(&s.producers[i].name, "producer", i, s.producers.len())
}
pub fn consumer_name(s: &Scenario, i: usize) -> String {
    name_of(&s.consumers[i].name, "consumer", i, s.consumers.len())
}

/// Resolves a queue reference (a name, or nothing when there is one queue).
pub fn resolve_queue(s: &Scenario, r: &Option<String>) -> Result<usize, String> {
    let names: Vec<String> = (0..s.queues.len()).map(|i| queue_name(s, i)).collect();
    match r {
        None if s.queues.len() == 1 => Ok(0),
        None => Err(format!(
            "there are {} queues: say which one (queues: {})",
            s.queues.len(),
            names.join(", ")
        )),
        Some(n) => names.iter().position(|q| q == n).ok_or_else(|| {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let hint = super::load::did_you_mean(n, &refs);
            format!(
                "no queue is named `{n}`{hint} (queues: {})",
                names.join(", ")
            )
        }),
    }
}

fn check_dist(p: &P, d: &DistCfg) -> Result<(), Invalid> {
    dist::check(d).map_err(|(k, m)| Invalid {
        path: p.key(&k).0,
        message: m,
    })
}

fn check_retry(p: &P, r: &Option<RetryCfg>) -> Result<(), Invalid> {
    if let Some(r) = r {
        r.policy().validate().map_err(|(k, m)| Invalid {
            path: p.key(&k).0,
            message: m,
        })?;
    }
    Ok(())
}

/// Longest name, in bytes: names are printed in reports and become file
/// names.
pub const MAX_NAME_BYTES: usize = 128;

/// A name shown in reports: 1 to [`MAX_NAME_BYTES`] bytes of printable
/// characters (no escape sequences, newlines or NUL that would reach a
/// terminal, a CI log or a file name).
pub fn check_name(p: &P, n: &str) -> Result<(), Invalid> {
    if n.trim().is_empty() || n.len() > MAX_NAME_BYTES {
        return p.err(format!(
            "a name must have 1 to {MAX_NAME_BYTES} bytes (this one has {})",
            n.len()
        ));
    }
    if let Some(c) = n.chars().find(|c| c.is_control()) {
        return p.err(format!(
            "a name must be printable; this one holds the control character {}",
            c.escape_unicode()
        ));
    }
    Ok(())
}

fn unique_names(section: &str, names: &[&Option<String>]) -> Result<(), Invalid> {
    for (i, n) in names.iter().enumerate() {
        if let Some(n) = n {
            check_name(&P::at(section, i).key("name"), n)?;
            if let Some(j) = names[..i]
                .iter()
                .position(|m| m.as_deref() == Some(n.as_str()))
            {
                return P::at(section, i).key("name").err(format!(
                    "the name `{n}` is already used by [[{section}]] number {}; names must be unique",
                    j + 1
                ));
            }
        }
    }
    Ok(())
}

/// A variant name, from a file or from `--variant`: a name (see
/// [`check_name`]) that is also safe in a file name.
pub fn check_variant_name(n: &str) -> Result<(), String> {
    check_name(&P(vec![]), n).map_err(|e| e.message)?;
    if n.contains(['/', '\\']) || n.split('.').all(str::is_empty) || n.contains("..") {
        return Err(format!(
            "the variant name `{n}` holds a slash or `..`; variant names become file names"
        ));
    }
    Ok(())
}

/// Checks a whole scenario, section by section, in file order; the first
/// failure is returned with its key path.
pub fn validate(s: &Scenario) -> Result<(), Invalid> {
    check_simulation(s)?;
    queue::check_queues(s)?;
    topic::check_topics(s)?;
    for (i, producer) in s.producers.iter().enumerate() {
        producer::check_producer(s, &P::at("producer", i), producer)?;
    }
    for (i, c) in s.consumers.iter().enumerate() {
        consumer::check_consumer(s, &P::at("consumer", i), i, c)?;
    }
    consumer::check_cycles(s)?;
    saga::check_sagas(s)?;
    topic::check_topics_read(s)?;
    if let Some(n) = &s.network {
        check_network(n)?;
    }
    for (i, f) in s.faults.iter().enumerate() {
        fault::check_fault(s, &P::at("fault", i), f)?;
    }
    cost::check_cost(s)?;
    if let Some(l) = &s.live {
        check_live(l)?;
    }
    expect::check_variants(s)?;
    if let Some(e) = &s.expect {
        expect::check_expect(&P::root("expect"), e)?;
    }
    Ok(())
}

/// `[live]`: a speed a broker can keep up with, a tolerance below 1.
fn check_live(l: &LiveCfg) -> Result<(), Invalid> {
    let p = P::root("live");
    if let Some(speed) = l.speed {
        if !(speed.is_finite() && speed > 0.0 && speed <= 1000.0) {
            return p.key("speed").err(format!(
                "{} is not a speed: give simulated seconds per wall second, above 0 and at most 1000",
                short_number(speed)
            ));
        }
    }
    if let Some(t) = l.latency_tolerance {
        if !(0.0..1.0).contains(&t) {
            return p.key("latency_tolerance").err(format!(
                "{} is not a fraction: give 0 (exact) up to below 1, e.g. 0.05",
                short_number(t)
            ));
        }
    }
    Ok(())
}

/// `[simulation]`, and the sections every scenario needs.
fn check_simulation(s: &Scenario) -> Result<(), Invalid> {
    let sim = &s.simulation;
    let p = P::root("simulation");
    if let Some(n) = &sim.name {
        check_name(&p.key("name"), n)?;
    }
    let duration = sim.duration.unwrap_or(Duration::from_secs(3600));
    if duration.ns() == 0 {
        return p
            .key("duration")
            .err("the duration must be longer than zero");
    }
    if let Some(Warmup::Fixed(w)) = sim.warmup {
        if w >= duration {
            return p.key("warmup").err(format!(
                "the warm-up ({w}) must be shorter than the duration ({duration})"
            ));
        }
    }
    if duration
        .ns()
        .saturating_add(sim.drain.map_or(0, |d| d.ns()))
        > MAX_DURATION_NS
    {
        return p
            .key("drain")
            .err("duration plus drain must stay under 100 years");
    }
    if let Some(r) = sim.replications {
        if r == 0 || r > 100_000 {
            return p
                .key("replications")
                .err("replications must be from 1 to 100000");
        }
    }
    positive(
        &p.key("sample_interval"),
        sim.sample_interval,
        "the sample interval",
    )?;
    check_sections(s)
}

/// At least one queue or topic and one producer; unique names.
fn check_sections(s: &Scenario) -> Result<(), Invalid> {
    if s.queues.is_empty() && s.topics.is_empty() {
        return P::root("queue").err("a scenario needs at least one [[queue]] (or a [[topic]])");
    }
    if s.queues.len() > MAX_QUEUES {
        return P::root("queue").err(format!("at most {MAX_QUEUES} queues are supported"));
    }
    if s.producers.is_empty() {
        return P::root("producer").err("a scenario needs at least one [[producer]]");
    }
    unique_names(
        "queue",
        &s.queues.iter().map(|q| &q.name).collect::<Vec<_>>(),
    )?;
    unique_names(
        "producer",
        &s.producers.iter().map(|q| &q.name).collect::<Vec<_>>(),
    )?;
    unique_names(
        "consumer",
        &s.consumers.iter().map(|q| &q.name).collect::<Vec<_>>(),
    )
}

/// `[network]`: probabilities, and no certain loss (that is a partition).
fn check_network(n: &NetworkCfg) -> Result<(), Invalid> {
    let p = P::root("network");
    if let Some(l) = &n.latency {
        check_dist(&p.key("latency"), l)?;
    }
    probability(&p.key("loss"), n.loss)?;
    probability(&p.key("duplicate"), n.duplicate)?;
    for (k, v) in [
        ("publish_loss", n.publish_loss),
        ("confirm_loss", n.confirm_loss),
        ("delivery_loss", n.delivery_loss),
        ("ack_loss", n.ack_loss),
        ("loss", n.loss),
    ] {
        probability(&p.key(k), v)?;
        if v == Some(1.0) {
            return p.key(k).err("a loss of 1 means nothing ever arrives; use a partition fault for a window of total loss");
        }
    }
    Ok(())
}
