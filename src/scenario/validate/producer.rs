//! `[[producer]]`: arrivals, confirms, retries, and what a producer learns of a failed send.

use super::*;

/// The keys each arrival process takes (a distribution name takes the
/// law's own keys, which `Dist::compile` checks).
fn arrival_keys(process: &str) -> &'static [&'static str] {
    match process {
        "poisson" | "constant" => &["rate"],
        "schedule" => &["schedule"],
        "trace" => &["file", "column", "unit", "speed"],
        "profile" => &["file", "unit"],
        _ => &[
            "mean",
            "sd",
            "min",
            "max",
            "shape",
            "shift",
            "values",
            "interpolate",
            "file",
            "column",
            "unit",
        ],
    }
}

fn check_arrival_keys(p: &P, a: &ArrivalCfg) -> Result<(), Invalid> {
    let given = [
        ("rate", a.rate.is_some()),
        ("mean", a.mean.is_some()),
        ("sd", a.sd.is_some()),
        ("min", a.min.is_some()),
        ("max", a.max.is_some()),
        ("shape", a.shape.is_some()),
        ("shift", a.shift.is_some()),
        ("schedule", a.schedule.is_some()),
        ("values", a.values.is_some()),
        ("interpolate", a.interpolate.is_some()),
        ("file", a.file.is_some()),
        ("column", a.column.is_some()),
        ("unit", a.unit.is_some()),
        ("speed", a.speed.is_some()),
    ];
    let allowed = arrival_keys(&a.process);
    for (key, present) in given {
        if present && !allowed.contains(&key) {
            if key == "rate" && allowed.contains(&"mean") {
                return p.key("rate").err(
                    "an interarrival distribution is given by `mean` (and its shape), not `rate`",
                );
            }
            return p.key(key).err(format!(
                "a {} process takes {}; `{key}` does not apply",
                a.process,
                allowed.join(", ")
            ));
        }
    }
    Ok(())
}

fn check_arrival(p: &P, a: &ArrivalCfg) -> Result<(), Invalid> {
    let known = ARRIVAL_PROCESSES.contains(&a.process.as_str())
        || dist::DIST_NAMES.contains(&a.process.as_str());
    if !known {
        let mut all: Vec<&str> = ARRIVAL_PROCESSES.to_vec();
        // A law's name is a process too (the gaps' law), each word once.
        all.extend(
            dist::DIST_NAMES
                .iter()
                .filter(|d| !ARRIVAL_PROCESSES.contains(d)),
        );
        return one_of(&p.key("process"), &a.process, &all);
    }
    check_arrival_keys(p, a)?;
    match a.process.as_str() {
        "poisson" | "constant" => match a.rate {
            Some(r) if r > 0.0 && r <= MAX_RATE => Ok(()),
            Some(r) => p.key("rate").err(format!(
                "the rate {} must be above 0 and at most 1e9 messages per second",
                short_number(r)
            )),
            None => p.key("rate").err(format!(
                "a {} arrival process needs `rate` (messages per second)",
                a.process
            )),
        },
        "schedule" => check_schedule(p, a.schedule.as_deref()),
        // The file was read, and its rows checked, when it was loaded.
        "trace" => match a.speed {
            Some(s) if !(s > 0.0 && s <= 1e6) => p.key("speed").err(
                "`speed` must be above 0 and at most 1e6 (recorded seconds per simulated second)",
            ),
            _ => Ok(()),
        },
        "profile" => Ok(()),
        law => check_interarrival(p, a, law),
    }
}

fn check_schedule(p: &P, schedule: Option<&[RatePiece]>) -> Result<(), Invalid> {
    let Some(pieces) = schedule else {
        return p
            .key("schedule")
            .err("a schedule process needs `schedule = [{ at = \"0s\", rate = 10 }, ...]`");
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
    Ok(())
}

/// An interarrival law: checked as a service law is.
fn check_interarrival(p: &P, a: &ArrivalCfg, law: &str) -> Result<(), Invalid> {
    let d = interarrival_dist(a, law);
    check_dist(p, &d)?;
    if dist::Dist::compile(&d).map(|d| d.mean()).unwrap_or(0.0) <= 0.0 {
        return p
            .key("mean")
            .err("the mean interarrival time must be above zero");
    }
    Ok(())
}

/// The law of the gaps between arrivals, from an arrival process named
/// by a distribution.
pub fn interarrival_dist(a: &ArrivalCfg, law: &str) -> DistCfg {
    DistCfg {
        dist: law.into(),
        mean: a.mean,
        sd: a.sd,
        min: a.min,
        max: a.max,
        shape: a.shape,
        shift: a.shift,
        values: a.values.clone(),
        interpolate: a.interpolate,
        file: a.file.clone(),
        loaded: match &a.loaded {
            Some(data::Loaded::Durations(d)) => Some(d.clone()),
            _ => None,
        },
        ..Default::default()
    }
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
    let confirms = pr.confirm.is_some_and(|c| c != Confirm::None);
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

pub(super) fn check_producer(s: &Scenario, p: &P, pr: &ProducerCfg) -> Result<(), Invalid> {
    if let Some(k) = &pr.key {
        check_keys(&p.key("key"), k)?;
    }
    // With no queues and one topic, a producer writes to that topic.
    let only_topic = (s.queues.is_empty() && s.topics.len() == 1 && pr.queue.is_none())
        .then(|| s.topics[0].name.clone());
    if let Some(t) = pr.topic.as_ref().or(only_topic.as_ref()) {
        return check_topic_producer(s, p, pr, t);
    }
    check_queue_producer(s, p, pr)
}

fn check_keys(p: &P, k: &KeyCfg) -> Result<(), Invalid> {
    if k.count == 0 || k.count > MAX_KEYS {
        return p
            .key("count")
            .err(format!("the key count must be from 1 to {MAX_KEYS}"));
    }
    match k.exponent {
        Some(e) if !(e > 0.0 && e <= 10.0) => p
            .key("exponent")
            .err("the Zipf exponent must be above 0 and at most 10 (1 is classic Zipf)"),
        Some(_) if k.dist != KeyDist::Zipf => {
            p.key("exponent").err("`exponent` shapes `zipf-keys` only")
        }
        _ => Ok(()),
    }
}

/// A topic producer is Kafka's: the queue producer's keys do not apply.
fn check_topic_producer(s: &Scenario, p: &P, pr: &ProducerCfg, t: &str) -> Result<(), Invalid> {
    if pr.queue.is_some() {
        return p
            .key("topic")
            .err("a producer writes to a `queue` or a `topic`, not both");
    }
    resolve_topic(s, t).or_else(|m| p.key("topic").err(m))?;
    if let Some(pt) = pr.partitioner {
        if pt == Partitioner::Key && pr.key.is_none() {
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
    )
}

fn check_queue_producer(s: &Scenario, p: &P, pr: &ProducerCfg) -> Result<(), Invalid> {
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
    positive(
        &p.key("confirm_timeout"),
        pr.confirm_timeout,
        "the confirm timeout",
    )?;
    positive(&p.key("ttl"), pr.ttl, "the ttl")?;
    check_retry(&p.key("retry"), &pr.retry)?;
    positive(&p.key("timeout"), pr.timeout, "the client timeout")?;
    let confirms = pr.confirm.is_some_and(|c| c != Confirm::None);
    if pr.retry.is_some() && !confirms && pr.confirm_timeout.is_none() && pr.timeout.is_none() {
        return p.key("retry").err("a producer retries only what it knows failed: set `confirm` (publisher confirms; `confirm_timeout` for a lost confirm) or `timeout` (client timeout) too");
    }
    check_producer_learns(p, pr)?;
    if let Some(b) = &pr.retry_budget {
        b.validate().map_err(|(k, m)| Invalid {
            path: p.key("retry_budget").key(&k).0,
            message: m,
        })?;
    }
    Ok(())
}
