//! Range and reference checks on a typed scenario. Each failure names the
//! key path, so that the loader can point at the line and column.

use super::dist;
use super::preset::{self, preset};
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
    fn root(k: &str) -> P {
        P(vec![Seg::Key(k.into())])
    }
    fn at(k: &str, i: usize) -> P {
        P(vec![Seg::Key(k.into()), Seg::Index(i)])
    }
    fn key(&self, k: &str) -> P {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.into()));
        P(v)
    }
    fn idx(&self, i: usize) -> P {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        P(v)
    }
    fn err<T>(&self, message: impl Into<String>) -> Result<T, Invalid> {
        Err(Invalid {
            path: self.0.clone(),
            message: message.into(),
        })
    }
}

pub const ACK_MODES: [&str; 2] = ["after-processing", "on-receive"];
pub const RETRY_MODES: [&str; 7] = [
    "requeue",
    "reject-requeue",
    "delay",
    "retry-queues",
    "in-handler",
    "ack-timeout",
    "none",
];
pub const OVERFLOWS: [&str; 3] = ["reject-publish", "drop-head", "dead-letter"];
pub const CONFIRMS: [&str; 3] = ["none", "on-accept", "after-fsync"];
pub const TTL_MODES: [&str; 2] = ["head", "anywhere"];
pub const CRASH_REQUEUES: [&str; 2] = ["immediate", "ack-timeout"];
/// What a broker crash takes down: the process (SIGKILL: the page cache
/// keeps what was written) or the machine (power, kernel: the fsync window
/// is lost).
pub const CRASH_SCOPES: [&str; 2] = ["machine", "process"];
pub const FAULT_KINDS: [&str; 6] = [
    "consumer-crash",
    "broker-crash",
    "producer-crash",
    "dependency-outage",
    "partition",
    "load-spike",
];
pub const KEY_DISTS: [&str; 2] = ["uniform-keys", "zipf-keys"];
pub const PARTITIONERS: [&str; 2] = ["key", "round-robin"];
pub const COMMIT_MODES: [&str; 4] = [
    "after-processing",
    "auto",
    "auto-in-poll",
    "before-processing",
];
/// `auto.offset.reset`: where a member starts when its offset is gone.
pub const OFFSET_RESETS: [&str; 2] = ["latest", "earliest"];
pub const ASSIGNORS: [&str; 2] = ["range", "cooperative-sticky"];
pub const GROUP_PROTOCOLS: [&str; 2] = ["classic", "consumer"];
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
pub const ARRIVAL_PROCESSES: [&str; 3] = ["poisson", "constant", "schedule"];

/// The most queues a scenario may have (a message keeps one bit per queue).
pub const MAX_QUEUES: usize = 64;
/// Largest rate accepted, messages per second.
pub const MAX_RATE: f64 = 1e9;

fn one_of(p: &P, value: &str, allowed: &[&str]) -> Result<(), Invalid> {
    if allowed.contains(&value) {
        return Ok(());
    }
    let hint = super::load::nearest(value, allowed)
        .map(|n| format!(" did you mean `{n}`?"))
        .unwrap_or_default();
    p.err(format!(
        "`{value}` is not allowed;{hint} (allowed: {})",
        allowed.join(", ")
    ))
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
            let hint = super::load::nearest(n, &refs)
                .map(|x| format!(" did you mean `{x}`?"))
                .unwrap_or_default();
            format!(
                "no queue is named `{n}`;{hint} (queues: {})",
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

pub fn validate(s: &Scenario) -> Result<(), Invalid> {
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
    )?;

    for (i, q) in s.queues.iter().enumerate() {
        let p = P::at("queue", i);
        if s.queues.len() > 1 && q.name.is_none() {
            return p.err("with several queues, each needs a `name`");
        }
        if let Some(pr) = &q.preset {
            preset::check(pr).or_else(|m| p.key("preset").err(m))?;
        }
        if let Some(o) = &q.overflow {
            one_of(&p.key("overflow"), o, &OVERFLOWS)?;
        }
        if let Some(m) = &q.ttl_mode {
            one_of(&p.key("ttl_mode"), m, &TTL_MODES)?;
        }
        if let Some(m) = &q.crash_requeue {
            check_crash_requeue(&p.key("crash_requeue"), m)?;
        }
        if q.max_deliveries == Some(Limit::Count(0)) {
            return p
                .key("max_deliveries")
                .err("max_deliveries must be at least 1 (\"unlimited\", or leaving it out, for no limit)");
        }
        positive(&p.key("ack_timeout"), q.ack_timeout, "the ack timeout")?;
        positive(&p.key("ttl"), q.ttl, "the ttl")?;
        positive(&p.key("dedup_window"), q.dedup_window, "the dedup window")?;
        if let Some(b) = q.orbit_bound {
            if !(1..=100_000).contains(&b) {
                return p
                    .key("orbit_bound")
                    .err("the orbit bound must be from 1 to 100000 (omit it to size the chain automatically)");
            }
        }
        if q.redrive.is_some() && q.dead_letter == Some(false) {
            return p.key("redrive").err("a redrive moves messages back from the dead-letter queue: it needs `dead_letter = true`");
        }
        if let Some(r) = &q.redrive {
            if !(r.rate > 0.0 && r.rate <= MAX_RATE) {
                return p
                    .key("redrive")
                    .key("rate")
                    .err("the redrive rate must be above 0 and at most 1e9 per second");
            }
        }
    }

    check_topics(s)?;

    for (i, pr) in s.producers.iter().enumerate() {
        let p = P::at("producer", i);
        if let Some(k) = &pr.key {
            let p = p.key("key");
            one_of(&p.key("dist"), &k.dist, &KEY_DISTS)?;
            if k.count == 0 || k.count > MAX_KEYS {
                return p
                    .key("count")
                    .err(format!("the key count must be from 1 to {MAX_KEYS}"));
            }
            match k.exponent {
                Some(e) if !(e > 0.0 && e <= 10.0) => {
                    return p.key("exponent").err(
                        "the Zipf exponent must be above 0 and at most 10 (1 is classic Zipf)",
                    )
                }
                Some(_) if k.dist != "zipf-keys" => {
                    return p.key("exponent").err("`exponent` shapes `zipf-keys` only")
                }
                _ => {}
            }
        }
        // With no queues and one topic, a producer writes to that topic.
        let only_topic = (s.queues.is_empty() && s.topics.len() == 1 && pr.queue.is_none())
            .then(|| s.topics[0].name.clone());
        if let Some(t) = pr.topic.as_ref().or(only_topic.as_ref()) {
            if pr.queue.is_some() {
                return p
                    .key("topic")
                    .err("a producer writes to a `queue` or a `topic`, not both");
            }
            resolve_topic(s, t).or_else(|m| p.key("topic").err(m))?;
            if let Some(pt) = &pr.partitioner {
                one_of(&p.key("partitioner"), pt, &PARTITIONERS)?;
                if pt == "key" && pr.key.is_none() {
                    return p.key("partitioner").err(
                        "partitioning by key needs keys: add `key = { dist = \"uniform-keys\", count = 100 }`",
                    );
                }
            }
            for (k, set) in [
                ("confirm", pr.confirm.is_some()),
                ("confirm_timeout", pr.confirm_timeout.is_some()),
                ("retry", pr.retry.is_some()),
                ("outbox", pr.outbox.is_some()),
                ("timeout", pr.timeout.is_some()),
                ("retry_budget", pr.retry_budget.is_some()),
                ("ttl", pr.ttl.is_some()),
            ] {
                if set {
                    return p.key(k).err(format!(
                        "`{k}` applies to queue producers; a topic producer is modelled as Kafka's producer (acks=all, retries within `delivery_timeout`, `idempotent`)"
                    ));
                }
            }
            positive(
                &p.key("delivery_timeout"),
                pr.delivery_timeout,
                "the delivery timeout",
            )?;
            continue;
        }
        for (k, set) in [
            ("partitioner", pr.partitioner.is_some()),
            ("delivery_timeout", pr.delivery_timeout.is_some()),
            ("idempotent", pr.idempotent.is_some()),
        ] {
            if set {
                return p.key(k).err(format!(
                    "`{k}` applies to producers that write to a `topic`"
                ));
            }
        }
        if s.queues.is_empty() {
            return p
                .key("topic")
                .err("name the `topic` this producer writes to (there are several)");
        }
        resolve_queue(s, &pr.queue).or_else(|m| p.key("queue").err(m))?;
        check_arrival(&p.key("arrival"), &pr.arrival)?;
        if let Some(c) = &pr.confirm {
            one_of(&p.key("confirm"), c, &CONFIRMS)?;
        }
        positive(
            &p.key("confirm_timeout"),
            pr.confirm_timeout,
            "the confirm timeout",
        )?;
        positive(&p.key("ttl"), pr.ttl, "the ttl")?;
        check_retry(&p.key("retry"), &pr.retry)?;
        positive(&p.key("timeout"), pr.timeout, "the client timeout")?;
        let confirms = pr.confirm.as_deref().is_some_and(|c| c != "none");
        if pr.retry.is_some() && !confirms && pr.confirm_timeout.is_none() && pr.timeout.is_none() {
            return p.key("retry").err("a producer retries only what it knows failed: set `confirm` (publisher confirms; `confirm_timeout` for a lost confirm) or `timeout` (client timeout) too");
        }
        check_producer_learns(&p, pr)?;
        if let Some(b) = &pr.retry_budget {
            b.validate().map_err(|(k, m)| Invalid {
                path: p.key("retry_budget").key(&k).0,
                message: m,
            })?;
        }
    }

    for (i, c) in s.consumers.iter().enumerate() {
        let p = P::at("consumer", i);
        if let Some(t) = &c.topic {
            check_topic_consumer(s, &p, i, c, t)?;
        } else {
            for (k, set) in [
                ("group", c.group.is_some()),
                ("commit", c.commit.is_some()),
                ("auto_commit_interval", c.auto_commit_interval.is_some()),
                ("max_poll_records", c.max_poll_records.is_some()),
                ("session_timeout", c.session_timeout.is_some()),
                ("max_poll_interval", c.max_poll_interval.is_some()),
                ("rebalance_time", c.rebalance_time.is_some()),
                ("auto_offset_reset", c.auto_offset_reset.is_some()),
                ("assignor", c.assignor.is_some()),
                ("group_protocol", c.group_protocol.is_some()),
                ("group_instance_id", c.group_instance_id.is_some()),
                ("heartbeat_interval", c.heartbeat_interval.is_some()),
            ] {
                if set {
                    return p.key(k).err(format!(
                        "`{k}` applies to consumers that read a `topic` (consumer groups)"
                    ));
                }
            }
            if s.queues.is_empty() {
                return p
                    .key("topic")
                    .err("name the `topic` this consumer group reads");
            }
            resolve_queue(s, &c.queue).or_else(|m| p.key("queue").err(m))?;
        }
        if let Some(r) = &c.resequence {
            if r.max_held == 0 || r.max_held > 10_000_000 {
                return p
                    .key("resequence")
                    .key("max_held")
                    .err("max_held must be from 1 to 10000000");
            }
            positive(&p.key("resequence").key("max_wait"), r.max_wait, "max_wait")?;
            if c.topic.is_some() {
                return p.key("resequence").err(
                    "a partition is already in order: resequencing applies to queue consumers",
                );
            }
        }
        if let Some(t) = &c.publish_to {
            resolve_queue(s, &Some(t.clone())).or_else(|m| p.key("publish_to").err(m))?;
        }
        for (k, v) in [
            ("count", c.count),
            ("prefetch", c.prefetch),
            ("concurrency", c.concurrency),
        ] {
            match v {
                Some(0) => return p.key(k).err(format!("`{k}` must be at least 1")),
                Some(n) if n > 100_000 => {
                    return p.key(k).err(format!("`{k}` must be at most 100000"))
                }
                _ => {}
            }
        }
        if let Some(a) = &c.ack {
            one_of(&p.key("ack"), a, &ACK_MODES)?;
        }
        if let Some(m) = &c.retry_mode {
            one_of(&p.key("retry_mode"), m, &RETRY_MODES)?;
        }
        if let Some(pr) = &c.preset {
            preset::check(pr).or_else(|m| p.key("preset").err(m))?;
        }
        probability(&p.key("failure"), c.failure)?;
        probability(&p.key("poison"), c.poison)?;
        probability(&p.key("non_retryable"), c.non_retryable)?;
        if let Some(d) = &c.service {
            check_dist(&p.key("service"), d)?;
        }
        check_consumer_retry(s, &p, c)?;
        check_lease(s, &p, c)?;
        if let Some(id) = &c.idempotency {
            positive(
                &p.key("idempotency").key("window"),
                Some(id.window),
                "the idempotency window",
            )?;
        }
        if let Some(b) = &c.retry_budget {
            b.validate().map_err(|(k, m)| Invalid {
                path: p.key("retry_budget").key(&k).0,
                message: m,
            })?;
        }
        if let Some(b) = &c.breaker {
            b.validate().map_err(|(k, m)| Invalid {
                path: p.key("breaker").key(&k).0,
                message: m,
            })?;
        }
    }
    check_cycles(s)?;
    check_topics_read(s)?;

    if let Some(n) = &s.network {
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
        ] {
            probability(&p.key(k), v)?;
            if v == Some(1.0) {
                return p.key(k).err("a loss of 1 means nothing ever arrives; use a partition fault for a window of total loss");
            }
        }
        if n.loss == Some(1.0) {
            return p.key("loss").err("a loss of 1 means nothing ever arrives; use a partition fault for a window of total loss");
        }
    }

    for (i, f) in s.faults.iter().enumerate() {
        check_fault(s, &P::at("fault", i), f)?;
    }

    let mut seen: Vec<&str> = Vec::new();
    for (i, v) in s.variants.iter().enumerate() {
        let p = P::at("variant", i);
        check_variant_name(&v.name).or_else(|m| p.key("name").err(m))?;
        if seen.contains(&v.name.as_str()) {
            return p
                .key("name")
                .err(format!("two variants are named `{}`", v.name));
        }
        let file = crate::names::safe_name(&v.name);
        if let Some(other) = seen.iter().find(|o| crate::names::safe_name(o) == file) {
            return p.key("name").err(format!(
                "the variants `{other}` and `{}` would write the same files (`{file}`): give names that differ in letters, digits, `-`, `_` or `.`",
                v.name
            ));
        }
        seen.push(&v.name);
        if let Some(e) = &v.expect {
            check_expect(&p.key("expect"), e)?;
        }
    }
    if let Some(e) = &s.expect {
        check_expect(&P::root("expect"), e)?;
    }
    Ok(())
}

fn check_crash_requeue(p: &P, value: &str) -> Result<(), Invalid> {
    if CRASH_REQUEUES.contains(&value) {
        return Ok(());
    }
    match Duration::parse(value) {
        Ok(d) if d.ns() > 0 => Ok(()),
        Ok(_) => p.err("a crash requeue delay must be longer than zero (or \"immediate\")"),
        Err(_) => p.err(format!(
            "`{value}` is not allowed: give \"immediate\", \"ack-timeout\" or a duration after the crash (e.g. \"48s\": Kafka's session timeout and rebalance)"
        )),
    }
}

/// The preset that applies to queue consumer `c`: its own, or its queue's.
fn consumer_preset(s: &Scenario, c: &ConsumerCfg) -> Option<preset::Preset> {
    let queue_preset = || {
        resolve_queue(s, &c.queue)
            .ok()
            .and_then(|qi| s.queues[qi].preset.clone())
    };
    c.preset
        .clone()
        .or_else(queue_preset)
        .and_then(|spec| preset(&spec))
}

/// The consumer's retry table, merged key by key over its preset's, must
/// make a valid policy (a key the user changed may need another: a preset's
/// exponential curve changed to `fixed` needs a `delay`).
fn check_consumer_retry(s: &Scenario, p: &P, c: &ConsumerCfg) -> Result<(), Invalid> {
    if c.retry.is_none() || c.topic.is_some() {
        return check_retry(&p.key("retry"), &c.retry);
    }
    let pr = consumer_preset(s, c).unwrap_or_default();
    let merged = super::preset::merge_retry(c.retry.as_ref(), pr.retry.as_ref());
    check_retry(&p.key("retry"), &merged)
}

/// `extend_lease`: the broker must have a per-message lease (the preset
/// says why not when it has none), and the queue an ack timeout for it to
/// extend.
fn check_lease(s: &Scenario, p: &P, c: &ConsumerCfg) -> Result<(), Invalid> {
    let Some(ExtendLease::On(l)) = &c.extend_lease else {
        return Ok(());
    };
    let pl = p.key("extend_lease");
    let pr = consumer_preset(s, c).unwrap_or_default();
    if let Some(reason) = pr.no_lease {
        return pl.err(format!(
            "the `{}` preset does not support lease extension: {reason}",
            pr.name
        ));
    }
    if c.ack.as_deref() == Some("on-receive") {
        return pl.err("an auto-acked delivery has no lease to extend: extend_lease needs `ack = \"after-processing\"`");
    }
    let Ok(qi) = resolve_queue(s, &c.queue) else {
        return Ok(());
    };
    let q = &s.queues[qi];
    let queue_preset = q.preset.as_deref().and_then(preset).unwrap_or_default();
    let ack_timeout = q.ack_timeout.or(queue_preset.ack_timeout);
    if ack_timeout.is_none() {
        return pl.err(format!(
            "a lease extension moves the ack deadline, and queue `{}` has none: set its `ack_timeout`",
            queue_name(s, qi)
        ));
    }
    let merged = match super::preset::merge_lease(c.extend_lease.as_ref(), &pr, ack_timeout) {
        Some(ExtendLease::On(m)) => m,
        _ => l.clone(),
    };
    if merged.every.is_none() {
        return pl
            .key("every")
            .err("say how often the consumer extends the lease: every = \"20s\"");
    }
    positive(&pl.key("every"), merged.every, "the extension interval")?;
    positive(&pl.key("by"), merged.by, "the extension")?;
    positive(&pl.key("max"), merged.max, "the longest lease")?;
    Ok(())
}

fn check_expect(p: &P, e: &ExpectCfg) -> Result<(), Invalid> {
    for (k, v) in [
        ("lost_rate_max", e.lost_rate_max),
        ("duplicate_rate_max", e.duplicate_rate_max),
        ("dead_letter_rate_max", e.dead_letter_rate_max),
        ("duplicate_rate_min", e.duplicate_rate_min),
    ] {
        probability(&p.key(k), v)?;
    }
    if let Some(c) = e.confidence {
        if !(c > 0.5 && c < 1.0) {
            return p.key("confidence").err(
                "confidence is the one-sided level each bound is judged at: above 0.5, below 1 (e.g. 0.95)",
            );
        }
    }
    if let Some(f) = e.recovers_in {
        if !(f > 0.0 && f <= 1.0) {
            return p
                .key("recovers_in")
                .err("recovers_in is the fraction of replications that must recover: above 0, at most 1 (e.g. 0.9)");
        }
        if e.recovers.is_none() && e.recovers_within.is_none() {
            return p.key("recovers_in").err(
                "recovers_in qualifies `recovers` or `recovers_within`: give one of them too",
            );
        }
    }
    Ok(())
}

fn check_arrival(p: &P, a: &ArrivalCfg) -> Result<(), Invalid> {
    let rate_ok = |r: Option<f64>, p: &P| -> Result<(), Invalid> {
        match r {
            Some(r) if r > 0.0 && r <= MAX_RATE => Ok(()),
            Some(r) => p.key("rate").err(format!(
                "the rate {} must be above 0 and at most 1e9 messages per second",
                short_number(r)
            )),
            None => p.key("rate").err(format!(
                "a {} arrival process needs `rate` (messages per second)",
                a.process
            )),
        }
    };
    match a.process.as_str() {
        "poisson" | "constant" => {
            rate_ok(a.rate, p)?;
            if a.mean.is_some() || a.sd.is_some() || a.schedule.is_some() {
                return p.err(format!("a {} process takes only `rate`", a.process));
            }
        }
        "schedule" => {
            let Some(pieces) = &a.schedule else {
                return p.key("schedule").err(
                    "a schedule process needs `schedule = [{ at = \"0s\", rate = 10 }, ...]`",
                );
            };
            if pieces.is_empty() {
                return p.key("schedule").err("the schedule is empty");
            }
            for (i, piece) in pieces.iter().enumerate() {
                let pp = p.key("schedule").idx(i);
                if !(piece.rate >= 0.0 && piece.rate <= MAX_RATE) {
                    return pp
                        .key("rate")
                        .err("a scheduled rate must be from 0 to 1e9 per second");
                }
                if i > 0 && piece.at <= pieces[i - 1].at {
                    return pp.key("at").err("schedule times must increase");
                }
            }
        }
        other => {
            if !dist::DIST_NAMES.contains(&other) {
                let mut all: Vec<&str> = ARRIVAL_PROCESSES.to_vec();
                all.extend(dist::DIST_NAMES);
                return one_of(&p.key("process"), other, &all);
            }
            if a.rate.is_some() {
                return p.key("rate").err(
                    "an interarrival distribution is given by `mean` (and its shape), not `rate`",
                );
            }
            let d = DistCfg {
                dist: other.into(),
                mean: a.mean,
                sd: a.sd,
                min: a.min,
                max: a.max,
                shape: a.shape,
            };
            check_dist(p, &d)?;
            if dist::Dist::compile(&d).map(|d| d.mean()).unwrap_or(0.0) <= 0.0 {
                return p
                    .key("mean")
                    .err("the mean interarrival time must be above zero");
            }
        }
    }
    Ok(())
}

/// Resolves a topic name.
pub fn resolve_topic(s: &Scenario, name: &str) -> Result<usize, String> {
    s.topics.iter().position(|t| t.name == name).ok_or_else(|| {
        let names: Vec<&str> = s.topics.iter().map(|t| t.name.as_str()).collect();
        let hint = super::load::nearest(name, &names)
            .map(|x| format!(" did you mean `{x}`?"))
            .unwrap_or_default();
        format!(
            "no topic is named `{name}`;{hint} (topics: {})",
            if names.is_empty() {
                "none: add a [[topic]]".to_string()
            } else {
                names.join(", ")
            }
        )
    })
}

fn check_topics(s: &Scenario) -> Result<(), Invalid> {
    for (i, t) in s.topics.iter().enumerate() {
        let p = P::at("topic", i);
        check_name(&p.key("name"), &t.name)?;
        if let Some(j) = s.topics[..i].iter().position(|u| u.name == t.name) {
            return p.key("name").err(format!(
                "the name `{}` is already used by [[topic]] number {}; names must be unique",
                t.name,
                j + 1
            ));
        }
        if (0..s.queues.len()).any(|q| queue_name(s, q) == t.name) {
            return p
                .key("name")
                .err(format!("`{}` is already the name of a queue", t.name));
        }
        if let Some(n) = t.partitions {
            if n == 0 || n > MAX_PARTITIONS {
                return p
                    .key("partitions")
                    .err(format!("partitions must be from 1 to {MAX_PARTITIONS}"));
            }
        }
        positive(&p.key("retention"), t.retention, "the retention")?;
        check_segments(&p, t)?;
    }
    Ok(())
}

/// Segments, retention checks and replication of one topic.
fn check_segments(p: &P, t: &crate::scenario::TopicCfg) -> Result<(), Invalid> {
    positive(&p.key("segment_time"), t.segment_time, "the segment time")?;
    positive(
        &p.key("retention_check_interval"),
        t.retention_check_interval,
        "the retention check interval",
    )?;
    if t.record_bytes == Some(0) {
        return p.key("record_bytes").err("record_bytes must be at least 1");
    }
    let record = t.record_bytes.unwrap_or(super::DEFAULT_RECORD_BYTES);
    if let Some(b) = t.segment_bytes {
        if b < record || b > 1 << 40 {
            return p.key("segment_bytes").err(format!(
                "segment_bytes must hold at least one record ({record} bytes, `record_bytes`) and be at most 1 TiB"
            ));
        }
    }
    if let Some(n) = t.replication_factor {
        if n == 0 || n > MAX_REPLICATION_FACTOR {
            return p.key("replication_factor").err(format!(
                "replication_factor must be from 1 to {MAX_REPLICATION_FACTOR}"
            ));
        }
    }
    Ok(())
}

/// After the consumers are checked (so that a misspelt `topic` is reported
/// where it is written): every topic needs a reader.
fn check_topics_read(s: &Scenario) -> Result<(), Invalid> {
    for (i, t) in s.topics.iter().enumerate() {
        let p = P::at("topic", i);
        if !s
            .consumers
            .iter()
            .any(|c| c.topic.as_deref() == Some(&t.name))
        {
            return p.err(format!(
                "nobody reads topic `{}`: add a [[consumer]] with `topic = \"{}\"`",
                t.name, t.name
            ));
        }
    }
    Ok(())
}

/// Confirms and client timeouts tell a producer that a publish failed;
/// what it does then is its `retry` policy. Without one the signal would
/// change nothing, so the scenario must say what it means: republish, or
/// never republish and count what is lost knowingly.
fn check_producer_learns(p: &P, pr: &ProducerCfg) -> Result<(), Invalid> {
    if pr.retry.is_some() {
        return Ok(());
    }
    let never = "`retry = { backoff = \"none\", max_attempts = 1 }` to never publish again (what the producer gives up on is counted in `messages.lost_detected`)";
    let confirms = pr.confirm.as_deref().is_some_and(|c| c != "none");
    if confirms || pr.confirm_timeout.is_some() {
        let key = if confirms {
            "confirm"
        } else {
            "confirm_timeout"
        };
        return p.key(key).err(format!(
            "publisher confirms without a `retry` policy change nothing: add `retry = {{ backoff = \"fixed\", delay = \"1s\" }}` to publish again what was not confirmed, or {never}"
        ));
    }
    if pr.timeout.is_some() {
        return p.key("timeout").err(format!(
            "a client timeout without a `retry` policy changes nothing: add `retry = {{ backoff = \"fixed\", delay = \"1s\" }}` to send a request again when its reply is late, or {never}"
        ));
    }
    Ok(())
}

fn check_topic_consumer(
    s: &Scenario,
    p: &P,
    i: usize,
    c: &ConsumerCfg,
    t: &str,
) -> Result<(), Invalid> {
    if c.queue.is_some() {
        return p
            .key("topic")
            .err("a consumer reads a `queue` or a `topic`, not both");
    }
    resolve_topic(s, t).or_else(|m| p.key("topic").err(m))?;
    if let Some(g) = &c.group {
        check_name(&p.key("group"), g)?;
    }
    let group = c.group.clone().unwrap_or_else(|| consumer_name(s, i));
    if let Some(j) = s.consumers[..i].iter().enumerate().position(|(j, d)| {
        d.topic.as_deref() == Some(t)
            && d.group.clone().unwrap_or_else(|| consumer_name(s, j)) == group
    }) {
        return p.key("group").err(format!(
            "group `{group}` already reads `{t}` (consumer number {}): give the group more instances with `count`",
            j + 1
        ));
    }
    if let Some(m) = &c.commit {
        one_of(&p.key("commit"), m, &COMMIT_MODES)?;
    }
    if c.auto_commit_interval.is_some()
        && !matches!(c.commit.as_deref(), Some("auto" | "auto-in-poll"))
    {
        return p
            .key("auto_commit_interval")
            .err("`auto_commit_interval` needs `commit = \"auto\"` or `\"auto-in-poll\"`");
    }
    check_membership(p, c)?;
    if let Some(m) = &c.retry_mode {
        one_of(&p.key("retry_mode"), m, &TOPIC_RETRY_MODES)?;
    }
    positive(
        &p.key("auto_commit_interval"),
        c.auto_commit_interval,
        "the auto-commit interval",
    )?;
    positive(
        &p.key("session_timeout"),
        c.session_timeout,
        "the session timeout",
    )?;
    positive(
        &p.key("max_poll_interval"),
        c.max_poll_interval,
        "the poll interval",
    )?;
    if let Some(n) = c.max_poll_records {
        if n == 0 || n > 1_000_000 {
            return p
                .key("max_poll_records")
                .err("max_poll_records must be from 1 to 1000000");
        }
    }
    for (k, set) in [
        ("ack", c.ack.is_some()),
        ("prefetch", c.prefetch.is_some()),
        ("concurrency", c.concurrency.is_some()),
        ("publish_to", c.publish_to.is_some()),
        ("retry_budget", c.retry_budget.is_some()),
        ("breaker", c.breaker.is_some()),
        ("preset", c.preset.is_some()),
        ("extend_lease", c.extend_lease.is_some()),
    ] {
        if set {
            return p.key(k).err(format!(
                "`{k}` applies to queue consumers; a topic consumer polls `max_poll_records` and commits offsets (`commit`)"
            ));
        }
    }
    Ok(())
}

/// Offset reset, assignor, protocol and heartbeats of a consumer group.
fn check_membership(p: &P, c: &ConsumerCfg) -> Result<(), Invalid> {
    if let Some(r) = &c.auto_offset_reset {
        one_of(&p.key("auto_offset_reset"), r, &OFFSET_RESETS)?;
    }
    if let Some(a) = &c.assignor {
        one_of(&p.key("assignor"), a, &ASSIGNORS)?;
    }
    if let Some(g) = &c.group_protocol {
        one_of(&p.key("group_protocol"), g, &GROUP_PROTOCOLS)?;
        if g == "consumer" && c.assignor.is_some() {
            return p.key("assignor").err(
                "with `group_protocol = \"consumer\"` the broker assigns the partitions (incrementally): `assignor` is the classic protocol's `partition.assignment.strategy`",
            );
        }
    }
    if c.heartbeat_interval.is_some() && c.group_protocol.as_deref() != Some("consumer") {
        return p.key("heartbeat_interval").err(
            "`heartbeat_interval` needs `group_protocol = \"consumer\"` (the classic protocol's members learn of a rebalance at their next poll here)",
        );
    }
    positive(
        &p.key("heartbeat_interval"),
        c.heartbeat_interval,
        "the heartbeat interval",
    )?;
    positive(
        &p.key("rebalance_time"),
        c.rebalance_time,
        "the rebalance time",
    )?;
    Ok(())
}

fn check_cycles(s: &Scenario) -> Result<(), Invalid> {
    // Edges queue -> queue through consumer groups with publish_to.
    let n = s.queues.len();
    let mut edges = vec![Vec::new(); n];
    for (ci, c) in s.consumers.iter().enumerate() {
        if c.topic.is_some() {
            continue;
        }
        if let (Ok(from), Some(t)) = (resolve_queue(s, &c.queue), &c.publish_to) {
            if let Ok(to) = resolve_queue(s, &Some(t.clone())) {
                edges[from].push((to, ci));
            }
        }
    }
    // Depth-first search for a back edge.
    fn dfs(u: usize, edges: &[Vec<(usize, usize)>], state: &mut [u8]) -> Option<usize> {
        state[u] = 1;
        for &(v, ci) in &edges[u] {
            if state[v] == 1 {
                return Some(ci);
            }
            if state[v] == 0 {
                if let Some(c) = dfs(v, edges, state) {
                    return Some(c);
                }
            }
        }
        state[u] = 2;
        None
    }
    let mut state = vec![0u8; n];
    for u in 0..n {
        if state[u] == 0 {
            if let Some(ci) = dfs(u, &edges, &mut state) {
                return P::at("consumer", ci).key("publish_to").err(
                    "this `publish_to` closes a cycle of queues: a message would travel forever; a pipeline must end",
                );
            }
        }
    }
    Ok(())
}

fn check_target(s: &Scenario, p: &P, t: &str) -> Result<(), Invalid> {
    let (kind, name) = t.split_once(':').unwrap_or((t, ""));
    let names: Vec<String> = match kind {
        "consumer" => (0..s.consumers.len())
            .map(|i| consumer_name(s, i))
            .collect(),
        "producer" => (0..s.producers.len())
            .map(|i| producer_name(s, i))
            .collect(),
        "broker" if name.is_empty() => return Ok(()),
        _ => {
            return p.err(format!(
                "`{t}` is not a target: write \"consumer:NAME\", \"producer:NAME\" or \"broker\""
            ))
        }
    };
    if !names.iter().any(|n| n == name) {
        return p.err(format!(
            "no {kind} is named `{name}` ({kind}s: {})",
            names.join(", ")
        ));
    }
    Ok(())
}

/// `instance = k` must name an instance of every group the fault hits
/// (instances count from 0).
fn check_instance(s: &Scenario, p: &P, f: &FaultCfg, k: u32) -> Result<(), Invalid> {
    let target = f
        .target
        .as_deref()
        .and_then(|t| t.strip_prefix("consumer:"));
    for (i, c) in s.consumers.iter().enumerate() {
        let name = consumer_name(s, i);
        if target.is_some_and(|t| t != name) {
            continue;
        }
        let count = c.count.unwrap_or(1);
        if k >= count {
            return p.key("instance").err(format!(
                "consumer `{name}` has {count} instance{}, numbered from 0 to {}: there is no instance {k}",
                if count == 1 { "" } else { "s" },
                count - 1
            ));
        }
    }
    Ok(())
}

/// A window fault's timing: `start` and `duration`, or `mtbf` and `mttr`.
fn check_window(p: &P, f: &FaultCfg) -> Result<(), Invalid> {
    if f.start.is_some() && f.duration.is_some() {
        return Ok(());
    }
    if f.mtbf.is_none() {
        return p.err(format!(
            "a {} needs `start` and `duration` (or `mtbf` and `mttr`)",
            f.kind
        ));
    }
    match &f.mttr {
        Some(d) => check_dist(&p.key("mttr"), d),
        None => p.key("mttr").err("random windows need `mttr`"),
    }
}

fn check_fault(s: &Scenario, p: &P, f: &FaultCfg) -> Result<(), Invalid> {
    one_of(&p.key("kind"), &f.kind, &FAULT_KINDS)?;
    if let Some(scope) = &f.scope {
        if f.kind != "broker-crash" {
            return p.key("scope").err(format!(
                "`scope` says what a broker crash takes down; a {} has none",
                f.kind
            ));
        }
        one_of(&p.key("scope"), scope, &CRASH_SCOPES)?;
    }
    if let Some(t) = &f.target {
        check_target(s, &p.key("target"), t)?;
        let kind_of_target = t.split(':').next().unwrap_or("");
        let fits = match f.kind.as_str() {
            "consumer-crash" | "dependency-outage" => kind_of_target == "consumer",
            "producer-crash" | "load-spike" => kind_of_target == "producer",
            _ => false,
        };
        if !fits {
            return p
                .key("target")
                .err(format!("a {} cannot target `{t}`", f.kind));
        }
    }
    if let Some(k) = f.instance {
        check_instance(s, p, f, k)?;
    }
    match f.kind.as_str() {
        "consumer-crash" | "producer-crash" | "broker-crash" => {
            let scheduled = f.at.is_some();
            let random = f.mtbf.is_some();
            if scheduled == random {
                return p.err(format!(
                    "a {} is either scheduled (`at` and `downtime`) or random (`mtbf` and `mttr`)",
                    f.kind
                ));
            }
            if scheduled && f.downtime.is_none() {
                return p.key("downtime").err("a scheduled crash needs `downtime`");
            }
            if random {
                positive(&p.key("mtbf"), f.mtbf, "the mtbf")?;
                match &f.mttr {
                    Some(d) => check_dist(&p.key("mttr"), d)?,
                    None => return p.key("mttr").err("a random crash needs `mttr`, e.g. { dist = \"exponential\", mean = \"30s\" }"),
                }
            }
            if f.failure.is_some()
                || f.slowdown.is_some()
                || f.between.is_some()
                || f.factor.is_some()
            {
                return p.err(format!(
                    "a {} takes target, instance, at, downtime, mtbf, mttr (and, for a broker crash, scope)",
                    f.kind
                ));
            }
        }
        "load-spike" => {
            check_window(p, f)?;
            match f.factor {
                Some(x) if x.is_finite() && x > 0.0 && x <= 1e6 => {}
                Some(_) => {
                    return p
                        .key("factor")
                        .err("the factor must be above 0 and at most 1e6 (10 = ten times the arrival rate)")
                }
                None => {
                    return p
                        .key("factor")
                        .err("a load spike needs `factor`, the multiple of the arrival rate while it lasts, e.g. factor = 10")
                }
            }
            if f.failure.is_some()
                || f.slowdown.is_some()
                || f.between.is_some()
                || f.instance.is_some()
            {
                return p
                    .err("a load-spike takes target, start, duration (or mtbf, mttr) and factor");
            }
        }
        "dependency-outage" | "partition" => {
            if f.factor.is_some() {
                return p.key("factor").err(format!(
                    "`factor` belongs to a load-spike, not a {}",
                    f.kind
                ));
            }
            if f.start.is_none() || f.duration.is_none() {
                if f.mtbf.is_none() {
                    return p.err(format!(
                        "a {} needs `start` and `duration` (or `mtbf` and `mttr`)",
                        f.kind
                    ));
                }
                if let Some(d) = &f.mttr {
                    check_dist(&p.key("mttr"), d)?;
                } else {
                    return p.key("mttr").err("random windows need `mttr`");
                }
            }
            probability(&p.key("failure"), f.failure)?;
            if let Some(x) = f.slowdown {
                if !(x.is_finite() && x > 0.0 && x <= 1e6) {
                    return p
                        .key("slowdown")
                        .err("the slowdown must be a factor above 0 and at most 1e6");
                }
            }
            if f.kind == "partition" {
                let Some(b) = &f.between else {
                    return p
                        .key("between")
                        .err("a partition needs `between = [\"consumer:NAME\", \"broker\"]`");
                };
                if b.len() != 2 || !b.iter().any(|x| x == "broker") {
                    return p.key("between").err("a partition is between one component and the broker: [\"consumer:NAME\", \"broker\"]");
                }
                let other = b
                    .iter()
                    .find(|x| *x != "broker")
                    .cloned()
                    .unwrap_or_default();
                check_target(s, &p.key("between"), &other)?;
                if let Some(("consumer", n)) = other.split_once(':') {
                    let topic_reader = (0..s.consumers.len())
                        .any(|i| consumer_name(s, i) == n && s.consumers[i].topic.is_some());
                    if topic_reader {
                        return p.key("between").err("partitions cut queue consumers off the broker; for a consumer group use a consumer-crash (the group rebalances)");
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}
