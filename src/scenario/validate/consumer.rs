//! `[[consumer]]` of a queue: modes, retries over the preset, lease extension, pipelines without cycles.

use super::*;
use crate::scenario::preset::{self, preset};

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
pub(super) fn check_consumer_retry(s: &Scenario, p: &P, c: &ConsumerCfg) -> Result<(), Invalid> {
    if c.retry.is_none() || c.topic.is_some() {
        return check_retry(&p.key("retry"), &c.retry);
    }
    let pr = consumer_preset(s, c).unwrap_or_default();
    let merged = preset::merge_retry(c.retry.as_ref(), pr.retry.as_ref());
    check_retry(&p.key("retry"), &merged)
}

/// `receive_wait`: longer than zero, and on a queue whose broker is
/// polled and bills empty receives (the preset says so: SQS).
fn check_receive_wait(s: &Scenario, p: &P, c: &ConsumerCfg) -> Result<(), Invalid> {
    let Some(wait) = c.receive_wait else {
        return Ok(());
    };
    let pw = p.key("receive_wait");
    positive(&pw, Some(wait), "the receive wait")?;
    if c.topic.is_some() {
        return Ok(()); // refused with the other queue-consumer keys
    }
    let Ok(qi) = resolve_queue(s, &c.queue) else {
        return Ok(());
    };
    let q = &s.queues[qi];
    let queue_preset = q.preset.as_deref().and_then(preset);
    if queue_preset
        .as_ref()
        .and_then(|pr| pr.receive_wait)
        .is_none()
    {
        let broker = queue_preset.map_or("a queue without a preset".to_string(), |pr| {
            format!("the `{}` preset", pr.name)
        });
        return pw.err(format!(
            "queue `{}` is {broker}, whose broker pushes deliveries: no empty receive polls to bill (`receive_wait` applies to `preset = \"sqs\"` queues)",
            queue_name(s, qi)
        ));
    }
    Ok(())
}

/// `extend_lease`: the broker must have a per-message lease (the preset
/// says why not when it has none), and the queue an ack timeout for it to
/// extend.
pub(super) fn check_lease(s: &Scenario, p: &P, c: &ConsumerCfg) -> Result<(), Invalid> {
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
    if c.ack == Some(AckMode::OnReceive) {
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
    let merged = match preset::merge_lease(c.extend_lease.as_ref(), &pr, ack_timeout) {
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

pub(super) fn check_cycles(s: &Scenario) -> Result<(), Invalid> {
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

pub(super) fn check_consumer(
    s: &Scenario,
    p: &P,
    i: usize,
    c: &ConsumerCfg,
) -> Result<(), Invalid> {
    if let Some(t) = &c.topic {
        super::topic::check_topic_consumer(s, p, i, c, t)?;
    } else {
        check_queue_consumer(s, p, c)?;
    }
    if let Some(r) = &c.resequence {
        check_resequence(p, c, r)?;
    }
    if let (Some(t), None) = (&c.publish_to, &c.topic) {
        resolve_queue(s, &Some(t.clone())).or_else(|m| p.key("publish_to").err(m))?;
    }
    for (k, v) in [
        ("count", c.count),
        ("prefetch", c.prefetch),
        ("concurrency", c.concurrency),
    ] {
        match v {
            Some(0) => return p.key(k).err(format!("`{k}` must be at least 1")),
            Some(n) if n > 100_000 => return p.key(k).err(format!("`{k}` must be at most 100000")),
            _ => {}
        }
    }
    check_handler(p, c)?;
    check_consumer_retry(s, p, c)?;
    check_lease(s, p, c)?;
    check_receive_wait(s, p, c)?;
    super::autoscale::check_autoscale(s, p, i, c)?;
    super::saga::check_side_effect(p, c)?;
    check_protections(p, c)
}

/// The keys of a consumer group do not apply to a queue consumer.
fn check_queue_consumer(s: &Scenario, p: &P, c: &ConsumerCfg) -> Result<(), Invalid> {
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
        ("transaction_interval", c.transaction_interval.is_some()),
        ("isolation", c.isolation.is_some()),
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
    Ok(())
}

fn check_resequence(p: &P, c: &ConsumerCfg, r: &ResequenceCfg) -> Result<(), Invalid> {
    if r.max_held == 0 || r.max_held > 10_000_000 {
        return p
            .key("resequence")
            .key("max_held")
            .err("max_held must be from 1 to 10000000");
    }
    positive(&p.key("resequence").key("max_wait"), r.max_wait, "max_wait")?;
    if c.topic.is_some() {
        return p
            .key("resequence")
            .err("a partition is already in order: resequencing applies to queue consumers");
    }
    Ok(())
}

/// Ack and retry modes, preset, and the handler's failure model.
fn check_handler(p: &P, c: &ConsumerCfg) -> Result<(), Invalid> {
    if let Some(pr) = &c.preset {
        preset::check(pr).or_else(|m| p.key("preset").err(m))?;
    }
    probability(&p.key("failure"), c.failure)?;
    probability(&p.key("poison"), c.poison)?;
    probability(&p.key("non_retryable"), c.non_retryable)?;
    if let Some(d) = &c.service {
        check_dist(&p.key("service"), d)?;
    }
    Ok(())
}

/// Idempotency window, retry budget, circuit breaker.
fn check_protections(p: &P, c: &ConsumerCfg) -> Result<(), Invalid> {
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
    Ok(())
}
