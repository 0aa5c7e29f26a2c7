//! `[[producer]]`: arrivals, confirms, retries, and what a producer learns of a failed send.

use super::*;

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
                ..Default::default()
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
    one_of(&p.key("dist"), &k.dist, &KEY_DISTS)?;
    if k.count == 0 || k.count > MAX_KEYS {
        return p
            .key("count")
            .err(format!("the key count must be from 1 to {MAX_KEYS}"));
    }
    match k.exponent {
        Some(e) if !(e > 0.0 && e <= 10.0) => p
            .key("exponent")
            .err("the Zipf exponent must be above 0 and at most 10 (1 is classic Zipf)"),
        Some(_) if k.dist != "zipf-keys" => {
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
    check_producer_learns(p, pr)?;
    if let Some(b) = &pr.retry_budget {
        b.validate().map_err(|(k, m)| Invalid {
            path: p.key("retry_budget").key(&k).0,
            message: m,
        })?;
    }
    Ok(())
}
