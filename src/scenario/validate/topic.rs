//! `[[topic]]` and its consumer groups (Kafka semantics).

use super::*;

/// Resolves a topic name.
pub fn resolve_topic(s: &Scenario, name: &str) -> Result<usize, String> {
    s.topics.iter().position(|t| t.name == name).ok_or_else(|| {
        let names: Vec<&str> = s.topics.iter().map(|t| t.name.as_str()).collect();
        let hint = crate::scenario::load::did_you_mean(name, &names);
        format!(
            "no topic is named `{name}`{hint} (topics: {})",
            if names.is_empty() {
                "none: add a [[topic]]".to_string()
            } else {
                names.join(", ")
            }
        )
    })
}

pub(super) fn check_topics(s: &Scenario) -> Result<(), Invalid> {
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
pub(super) fn check_topics_read(s: &Scenario) -> Result<(), Invalid> {
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

pub(super) fn check_topic_consumer(
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
    if c.auto_commit_interval.is_some()
        && !matches!(c.commit, Some(CommitMode::Auto | CommitMode::AutoInPoll))
    {
        return p
            .key("auto_commit_interval")
            .err("`auto_commit_interval` needs `commit = \"auto\"` or `\"auto-in-poll\"`");
    }
    check_transactional(s, p, c, t)?;
    check_membership(p, c)?;
    if let Some(m) = c.retry_mode {
        one_of(&p.key("retry_mode"), m.word(), &TOPIC_RETRY_MODES)?;
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
        ("retry_budget", c.retry_budget.is_some()),
        ("breaker", c.breaker.is_some()),
        ("preset", c.preset.is_some()),
        ("extend_lease", c.extend_lease.is_some()),
        ("autoscale", c.autoscale.is_some()),
        ("receive_wait", c.receive_wait.is_some()),
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
    if let Some(g) = c.group_protocol {
        if g == GroupProtocol::Consumer && c.assignor.is_some() {
            return p.key("assignor").err(
                "with `group_protocol = \"consumer\"` the broker assigns the partitions (incrementally): `assignor` is the classic protocol's `partition.assignment.strategy`",
            );
        }
    }
    if c.heartbeat_interval.is_some() && c.group_protocol != Some(GroupProtocol::Consumer) {
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

/// `publish_to` (a topic), `commit = "transactional"`, `transaction_interval`
/// and `isolation` of a topic consumer reading topic `t`.
fn check_transactional(s: &Scenario, p: &P, c: &ConsumerCfg, t: &str) -> Result<(), Invalid> {
    if let Some(out) = &c.publish_to {
        let pk = p.key("publish_to");
        if resolve_topic(s, out).is_err() && (0..s.queues.len()).any(|q| queue_name(s, q) == *out) {
            return pk.err(format!(
                "`{out}` is a queue: a topic consumer publishes to a topic (`[[topic]]`)"
            ));
        }
        resolve_topic(s, out).or_else(|m| pk.err(m))?;
        let readers = s
            .consumers
            .iter()
            .filter(|d| d.topic.as_deref() == Some(t))
            .count();
        if readers > 1 {
            return pk.err(format!(
                "a group that publishes on must be the only group reading its topic (`{t}` has {readers}): a message ends where the last topic's groups have all processed it"
            ));
        }
        check_topic_cycle(s, p, t)?;
    }
    let transactional = c.commit == Some(CommitMode::Transactional);
    if transactional && c.publish_to.is_none() {
        return p.key("commit").err(
            "`commit = \"transactional\"` needs `publish_to` (a topic): a transaction commits the consumed offsets together with the records produced",
        );
    }
    if c.transaction_interval.is_some() && !transactional {
        return p
            .key("transaction_interval")
            .err("`transaction_interval` needs `commit = \"transactional\"`");
    }
    positive(
        &p.key("transaction_interval"),
        c.transaction_interval,
        "the transaction interval",
    )?;
    Ok(())
}

/// Following `publish_to` from topic `t` must end: a record would
/// otherwise travel forever.
fn check_topic_cycle(s: &Scenario, p: &P, t: &str) -> Result<(), Invalid> {
    let mut at = t.to_string();
    for _ in 0..=s.topics.len() {
        let next = s
            .consumers
            .iter()
            .find(|d| d.topic.as_deref() == Some(at.as_str()) && d.publish_to.is_some())
            .and_then(|d| d.publish_to.clone());
        match next {
            Some(n) if n == t => {
                return p.key("publish_to").err(
                    "this `publish_to` closes a cycle of topics: a record would travel forever; a pipeline must end",
                )
            }
            Some(n) => at = n,
            None => return Ok(()),
        }
    }
    Ok(())
}
