//! Transactions and rollback: the consumers' side effects, sagas and
//! their compensations, transactional commits on the log.

use super::*;

/// `side_effect`, on a queue consumer that acks
/// after processing (an auto-acked message is gone before the handler
/// writes: its crash loses the message itself, counted in `lost`);
/// `idempotent` needs the idempotency store that deduplicates the write.
pub(super) fn check_side_effect(p: &P, c: &ConsumerCfg) -> Result<(), Invalid> {
    let Some(mode) = c.side_effect else {
        return Ok(());
    };
    let pk = p.key("side_effect");
    if c.topic.is_some() {
        return pk.err("`side_effect` applies to queue consumers (a topic consumer's writes follow its `commit`)");
    }
    if c.ack == Some(AckMode::OnReceive) {
        return pk.err("an auto-acked message is settled before the handler writes: `side_effect` needs `ack = \"after-processing\"`");
    }
    if mode == SideEffectMode::Idempotent && c.idempotency.is_none() {
        return pk.err("an idempotent write is deduplicated by the consumer's idempotency store: set `idempotency = { window = \"10m\" }`");
    }
    Ok(())
}

/// `[[saga]]`: named once, its steps a `publish_to` pipeline of queues,
/// one compensation entry per step naming a queue that has consumers (or
/// ""), and every queue in one role of one saga. Saga expectations need a
/// saga.
pub(super) fn check_sagas(s: &Scenario) -> Result<(), Invalid> {
    let mut roles: Vec<(usize, String)> = Vec::new();
    for (i, saga) in s.sagas.iter().enumerate() {
        let p = P::at("saga", i);
        check_name(&p.key("name"), &saga.name)?;
        if s.sagas[..i].iter().any(|o| o.name == saga.name) {
            return p
                .key("name")
                .err(format!("two sagas are named `{}`", saga.name));
        }
        let steps = check_steps(s, &p, saga)?;
        check_compensations(s, &p, saga, &steps)?;
        let compensations = saga
            .compensations
            .iter()
            .filter(|c| !c.is_empty())
            .filter_map(|c| resolve_queue(s, &Some(c.clone())).ok());
        for q in steps.iter().copied().chain(compensations) {
            if let Some((_, role)) = roles.iter().find(|(x, _)| *x == q) {
                return p.err(format!(
                    "queue `{}` is already {role}: a queue plays one part in one saga",
                    queue_name(s, q)
                ));
            }
            roles.push((q, format!("a step or compensation of saga `{}`", saga.name)));
        }
    }
    check_saga_expectations(s)
}

/// The steps exist, are at least two, and each one's consumers publish to
/// the next (a `publish_to` pipeline). Returns their queues.
fn check_steps(s: &Scenario, p: &P, saga: &SagaCfg) -> Result<Vec<usize>, Invalid> {
    let ps = p.key("steps");
    if saga.steps.len() < 2 {
        return ps.err("a saga has at least two steps (with one, nothing done before a failure is left to undo)");
    }
    let mut steps = Vec::new();
    for (k, q) in saga.steps.iter().enumerate() {
        let qi = resolve_queue(s, &Some(q.clone())).or_else(|m| ps.idx(k).err(m))?;
        if steps.contains(&qi) {
            return ps.idx(k).err(format!("queue `{q}` is a step twice"));
        }
        steps.push(qi);
    }
    for (k, pair) in steps.windows(2).enumerate() {
        let readers: Vec<&ConsumerCfg> = queue_consumers(s, pair[0]).collect();
        if readers.is_empty() {
            return ps.idx(k).err(format!(
                "no [[consumer]] reads queue `{}`: the saga cannot go on to `{}`",
                saga.steps[k],
                saga.steps[k + 1]
            ));
        }
        let next = |c: &&ConsumerCfg| {
            c.publish_to
                .as_ref()
                .and_then(|t| resolve_queue(s, &Some(t.clone())).ok())
                == Some(pair[1])
        };
        if !readers.iter().all(next) {
            return ps.idx(k + 1).err(format!(
                "the steps must form a `publish_to` pipeline: the consumers of `{}` must have `publish_to = \"{}\"`",
                saga.steps[k],
                saga.steps[k + 1]
            ));
        }
    }
    Ok(steps)
}

/// One entry per step; each named queue exists, has consumers, and ends
/// there (its consumers publish nowhere).
fn check_compensations(
    s: &Scenario,
    p: &P,
    saga: &SagaCfg,
    steps: &[usize],
) -> Result<(), Invalid> {
    let pc = p.key("compensations");
    if saga.compensations.len() != steps.len() {
        return pc.err(format!(
            "give one compensation queue per step ({} steps, {} compensations; \"\" where a step has nothing to undo)",
            steps.len(),
            saga.compensations.len()
        ));
    }
    for (k, q) in saga.compensations.iter().enumerate() {
        if q.is_empty() {
            continue;
        }
        let qi = resolve_queue(s, &Some(q.clone())).or_else(|m| pc.idx(k).err(m))?;
        if queue_consumers(s, qi).next().is_none() {
            return pc.idx(k).err(format!(
                "no [[consumer]] reads compensation queue `{q}`: nothing would undo step `{}`",
                saga.steps[k]
            ));
        }
        if queue_consumers(s, qi).any(|c| c.publish_to.is_some()) {
            return pc.idx(k).err(format!(
                "the consumers of compensation queue `{q}` publish on (`publish_to`): a compensation ends where it is processed"
            ));
        }
    }
    Ok(())
}

/// The queue consumers that read queue `qi`.
fn queue_consumers(s: &Scenario, qi: usize) -> impl Iterator<Item = &ConsumerCfg> {
    s.consumers
        .iter()
        .filter(move |c| c.topic.is_none() && resolve_queue(s, &c.queue).ok() == Some(qi))
}

/// `stuck_max` and `inconsistency_p99_max` judge sagas: the scenario needs one.
fn check_saga_expectations(s: &Scenario) -> Result<(), Invalid> {
    if !s.sagas.is_empty() {
        return Ok(());
    }
    let expects = s.expect.iter().map(|e| (P::root("expect"), e)).chain(
        s.variants.iter().enumerate().filter_map(|(i, v)| {
            v.expect
                .as_ref()
                .map(|e| (P::at("variant", i).key("expect"), e))
        }),
    );
    for (p, e) in expects {
        for (k, set) in [
            ("stuck_max", e.stuck_max.is_some()),
            ("inconsistency_p99_max", e.inconsistency_p99_max.is_some()),
        ] {
            if set {
                return p.key(k).err(format!(
                    "`{k}` judges sagas, and the scenario has no [[saga]]"
                ));
            }
        }
    }
    Ok(())
}
